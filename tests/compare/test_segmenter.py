"""compare/segmenter.py: IoU by hand, the U-Net's shape and size, a segmenter that learns an easy foreground,
determinism for a seed, and bad input. (benchmarks/transfer.py's own tests run the same code through the
benchmark: tests/benchmarks/test_transfer.py.)"""

import importlib.util

import numpy as np
import pytest

from gtforge.compare.segmenter import iou_scores

HAS_TORCH = importlib.util.find_spec("torch") is not None
#: Everything but IoU needs torch, the optional tune extra.
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch (the optional tune extra) is not installed")
if HAS_TORCH:
    import torch

    from gtforge.compare.segmenter import make_unet, predict_masks, train_segmenter


def squares(n, seed, size=32):
    """(n, size, size, 3) uint8 images of one bright square on a dark noisy background, and (n, size, size)
    bool masks of the square: the foreground is known by construction."""
    rng = np.random.default_rng(seed)
    images = rng.normal(40, 12, (n, size, size, 3))
    masks = np.zeros((n, size, size), bool)
    for i in range(n):
        s = rng.integers(size // 4, size // 2)
        y, x = rng.integers(0, size - s, 2)
        masks[i, y:y + s, x:x + s] = True
        images[i, y:y + s, x:x + s] = rng.uniform(170, 250, 3)
    return np.clip(images, 0, 255).astype(np.uint8), masks


def test_iou_hand_computed():
    pred = np.zeros((2, 4, 4), bool)
    truth = np.zeros((2, 4, 4), bool)
    pred[0, :2, :2] = True      # 4 px
    truth[0, :2, :3] = True     # 6 px: inter 4, union 6
    truth[1, 3, 3] = True       # inter 0, union 1
    iou, mean_iou = iou_scores(pred, truth)
    assert iou == pytest.approx(4 / 7)
    assert mean_iou == pytest.approx((4 / 6 + 0) / 2)
    assert iou_scores(np.zeros((1, 2, 2), bool), np.zeros((1, 2, 2), bool)) == (1.0, 1.0)
    with pytest.raises(ValueError, match="n, H, W"):
        iou_scores(pred[0], truth[0])


@needs_torch
def test_unet_shape_and_size():
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    net = make_unet()
    assert sum(p.numel() for p in net.parameters()) == 211_073  # the protocol's network (benchmark header)
    with torch.no_grad():
        assert net.eval()(torch.zeros(2, 3, 24, 40)).shape == (2, 1, 24, 40)
    torch.random.set_rng_state(state)


@pytest.mark.slow
@needs_torch
def test_segmenter_learns_an_easy_foreground_and_is_deterministic():
    images, masks = squares(24, 0)
    test_images, test_masks = squares(8, 1)
    state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    losses = []
    model = train_segmenter(images, masks, epochs=15, seed=0, threads=1,
                            on_epoch=lambda ep, loss, s: losses.append((ep, loss)))
    assert torch.equal(state, torch.random.get_rng_state()) and torch.get_num_threads() == threads
    assert [ep for ep, _ in losses] == list(range(15)) and losses[-1][1] < losses[0][1]
    pred = predict_masks(model, test_images)
    assert pred.shape == test_masks.shape and pred.dtype == bool
    iou, _ = iou_scores(pred, test_masks)
    assert iou > 0.8
    # the same seed and threads: the same network
    again = train_segmenter(images, masks, epochs=15, seed=0, threads=1)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert np.array_equal(predict_masks(again, test_images), pred)
    other = train_segmenter(images, masks, epochs=2, seed=1, threads=1)
    first = train_segmenter(images, masks, epochs=2, seed=0, threads=1)
    assert not torch.equal(other.head.weight, first.head.weight)


@needs_torch
def test_segmenter_rejects_bad_input():
    images, masks = squares(2, 0, size=16)
    with pytest.raises(ValueError, match="masks"):
        train_segmenter(images, masks[:, :8], epochs=1)
    with pytest.raises(ValueError, match="nothing to train"):
        train_segmenter(images, masks, epochs=0)
    with pytest.raises(ValueError, match="uint8"):
        train_segmenter(images.astype(np.float32), masks, epochs=1)
    with pytest.raises(ValueError, match="uint8"):
        predict_masks(make_unet(), images[..., 0])
