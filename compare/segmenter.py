"""A small class-agnostic foreground segmenter (U-Net, torch on the CPU): what a dataset teaches.

The network and training protocol of ``benchmarks/transfer.py`` (which imports them from here) and of the
``task`` objective of ``gtforge tune``: a model learns "is this pixel on a labelled instance?" from images and
their foreground masks and is scored by foreground IoU on other images. The protocol is fixed by the module
constants so that two training sets are compared on equal terms:

* Network: U-Net (Ronneberger et al., 2015, "U-Net: Convolutional Networks for Biomedical Image
  Segmentation") with 3 poolings, 16-32-64 channels and a 64-channel bottleneck, two 3x3 conv + BatchNorm +
  ReLU per level, bilinear upsampling; ~0.2 M parameters (:func:`make_unet`).
* Adam, lr :data:`LEARNING_RATE`, batch :data:`BATCH_SIZE`, loss = binary cross-entropy + soft Dice
  (Milletari et al., 2016, "V-Net", eq. 1, over the batch, +1 smoothing; :func:`loss_fn`), horizontal flips
  (probability 0.5) as the only augmentation, threshold :data:`THRESHOLD` on the sigmoid
  (:func:`predict_masks`). Weights from ``torch.manual_seed(seed)`` (the global torch generator is saved and
  restored around it), data order and flips from ``numpy.random.default_rng(seed)``: figures repeat on the
  same machine and thread count (:func:`train_segmenter`).
* IoU = total intersection / total union of foreground pixels over a test set (dataset-level), and the mean
  of the per-image IoUs; an empty union counts as 1 (:func:`iou_scores`).

torch is the optional ``tune`` extra: it is imported inside the functions that need it; without it they raise
``imagesets.MissingExtraError`` naming the extra. :func:`iou_scores` needs numpy only.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import numpy as np

from .imagesets import require_extra

#: U-Net channels per level (3 poolings); the bottleneck has as many channels as the last level.
CHANNELS = (16, 32, 64)
LEARNING_RATE = 1e-3
BATCH_SIZE = 16
#: Foreground where the sigmoid of the logit is >= this.
THRESHOLD = 0.5


def _torch():
    """The torch module; :class:`~.imagesets.MissingExtraError` naming the ``tune`` extra when it is not installed."""
    require_extra("torch")
    import torch  # noqa: PLC0415 - torch is the optional tune extra

    return torch


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run the block with ``torch.set_num_threads(threads)`` and restore the previous count after it.

    ``None`` leaves the count as it is. Raises ValueError if ``threads`` < 1.
    """
    torch = _torch()
    if threads is None:
        yield
        return
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------- scores
def iou_scores(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Foreground IoU of a test set: dataset-level and mean per image.

    Parameters
    ----------
    pred, truth : (n, H, W) bool
        Predicted and true foreground of n images.

    Returns
    -------
    dataset_iou : float
        sum over images of |pred & truth| / sum of |pred | truth|, in [0, 1]; 1.0 when the total union is 0.
    mean_image_iou : float
        Mean over images of |pred & truth| / |pred | truth| (1.0 for an image with an empty union); nan for n = 0.

    Raises
    ------
    ValueError
        If the shapes differ or are not (n, H, W).
    """
    pred, truth = np.asarray(pred, dtype=bool), np.asarray(truth, dtype=bool)
    if pred.shape != truth.shape or pred.ndim != 3:
        raise ValueError(f"pred and truth must both be (n, H, W); got {pred.shape} and {truth.shape}")
    inter = (pred & truth).sum(axis=(1, 2), dtype=np.int64)
    union = (pred | truth).sum(axis=(1, 2), dtype=np.int64)
    total = float(inter.sum() / union.sum()) if union.sum() else 1.0
    per_image = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return total, float(per_image.mean()) if len(per_image) else float("nan")


# ---------------------------------------------------------------------------------------------- network
def make_unet(channels=CHANNELS):
    """A small U-Net for one-channel (foreground logit) output.

    Per level two 3x3 convolutions (padding 1, no bias) + BatchNorm + ReLU; 2x2 max pooling down, bilinear
    upsampling to the skip connection's size and concatenation with it up (Ronneberger et al., 2015). The
    weights come from torch's global generator (seed it first: :func:`train_segmenter` does).

    Parameters
    ----------
    channels : sequence of int
        Channels per level, shallowest first; one pooling per level; the bottleneck has ``channels[-1]``.

    Returns
    -------
    torch.nn.Module
        Input (B, 3, H, W) float32 RGB in [0, 1], H and W >= 2 ** len(channels); output (B, 1, H, W) float32
        logits. With the default channels about 0.21 M parameters.

    Raises
    ------
    MissingExtraError
        If torch (the ``tune`` extra) is not installed.
    """
    torch = _torch()
    from torch import nn  # noqa: PLC0415 - torch is the optional tune extra
    import torch.nn.functional as F  # noqa: PLC0415 - torch is the optional tune extra

    def block(cin, cout):
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            c = list(channels)
            self.down = nn.ModuleList(block(a, b) for a, b in zip([3] + c[:-1], c))
            self.bottom = block(c[-1], c[-1])
            outs = c[-2::-1] + [c[0]]  # output channels of the up levels, deepest first
            ins = [c[-1]] + outs[:-1]  # channels arriving from below
            self.up = nn.ModuleList(block(i + s, o) for i, s, o in zip(ins, c[::-1], outs))
            self.head = nn.Conv2d(c[0], 1, 1)

        def forward(self, x):
            skips = []
            for d in self.down:
                x = d(x)
                skips.append(x)
                x = F.max_pool2d(x, 2)
            x = self.bottom(x)
            for u, s in zip(self.up, reversed(skips)):
                x = F.interpolate(x, size=s.shape[-2:], mode="bilinear", align_corners=False)
                x = u(torch.cat([x, s], dim=1))
            return self.head(x)

    return UNet()


def _batch(images: np.ndarray, masks: np.ndarray | None, idx, flips=None):
    """Tensors of the images (and masks) ``idx``: x (b, 3, H, W) float32 in [0, 1], y (b, 1, H, W) float32
    or None; rows whose ``flips`` is True mirrored left-right."""
    torch = _torch()
    x = images[idx].astype(np.float32) / 255.0
    y = None if masks is None else masks[idx].astype(np.float32)[..., None]
    if flips is not None:
        x = np.where(flips[:, None, None, None], x[:, :, ::-1], x)
        y = None if y is None else np.where(flips[:, None, None, None], y[:, :, ::-1], y)
    tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    return tx, None if y is None else torch.from_numpy(np.ascontiguousarray(y.transpose(0, 3, 1, 2)))


def loss_fn(logits, y):
    """Binary cross-entropy (mean over pixels) + soft Dice loss over the batch (+1 smoothing; Milletari 2016).

    ``logits`` and ``y`` (B, 1, H, W) float32 tensors (``y`` 0 or 1); returns a scalar tensor.
    """
    _torch()
    import torch.nn.functional as F  # noqa: PLC0415 - torch is the optional tune extra

    p = logits.sigmoid()
    dice = 1.0 - (2.0 * (p * y).sum() + 1.0) / (p.sum() + y.sum() + 1.0)
    return F.binary_cross_entropy_with_logits(logits, y) + dice


def _check_images(images: np.ndarray, what: str = "images") -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{what} must be (N, H, W, 3) uint8; got {images.shape} {images.dtype}")
    return images


def train_segmenter(images: np.ndarray, masks: np.ndarray, *, epochs: int, seed: int = 0, threads: int | None = None,
                    on_epoch: Callable[[int, float, float], None] | None = None):
    """Train the protocol's U-Net (:func:`make_unet`) to predict the foreground of ``images``.

    Parameters
    ----------
    images : (N, H, W, 3) uint8
        RGB training images, N >= 1 (H, W >= 8).
    masks : (N, H, W) bool
        Their foreground (union of the visible masks of the labelled instances).
    epochs : int
        Passes over the training images (>= 1); per epoch a new permutation and new flips.
    seed : int
        ``torch.manual_seed(seed)`` before the weights are made (the global torch generator is restored
        afterwards) and ``numpy.random.default_rng(seed)`` for the data order and flips.
    threads : int, optional
        torch CPU threads during training (restored afterwards); default: torch's current setting.
    on_epoch : callable, optional
        Called after each epoch with (epoch index from 0, mean training loss of the epoch, seconds it took).

    Returns
    -------
    torch.nn.Module
        The trained network, in eval mode.

    Raises
    ------
    ValueError
        If the shapes or dtypes are wrong, N = 0 or epochs < 1.
    MissingExtraError
        If torch (the ``tune`` extra) is not installed.
    """
    torch = _torch()
    images = _check_images(images)
    masks = np.asarray(masks, dtype=bool)
    if masks.shape != images.shape[:3]:
        raise ValueError(f"masks must be (N, H, W) = {images.shape[:3]}; got {masks.shape}")
    if len(images) == 0 or epochs < 1:
        raise ValueError(f"nothing to train: {len(images)} image(s), {epochs} epoch(s)")
    with torch_threads(threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model = make_unet()
        opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        for ep in range(epochs):
            t0 = time.perf_counter()
            model.train()
            order = rng.permutation(len(images))
            flips = rng.random(len(images)) < 0.5
            total, count = 0.0, 0
            for s in range(0, len(order), BATCH_SIZE):
                idx = order[s:s + BATCH_SIZE]
                x, y = _batch(images, masks, idx, flips[s:s + BATCH_SIZE])
                loss = loss_fn(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
                count += len(idx)
            if on_epoch is not None:
                on_epoch(ep, total / count, time.perf_counter() - t0)
    model.eval()
    return model


def predict_masks(model, images: np.ndarray, *, batch: int = 64) -> np.ndarray:
    """Foreground predicted by ``model`` in eval mode: sigmoid of the logit >= :data:`THRESHOLD`.

    Parameters
    ----------
    model : torch.nn.Module
        A network of :func:`make_unet` (e.g. from :func:`train_segmenter`); it is put in eval mode.
    images : (N, H, W, 3) uint8
        RGB images.
    batch : int
        Images per forward pass (bounds the memory; the protocol's figures use the default).

    Returns
    -------
    (N, H, W) bool

    Raises
    ------
    ValueError
        If ``images`` is not (N, H, W, 3) uint8.
    """
    torch = _torch()
    images = _check_images(images)
    model.eval()
    out = np.zeros(images.shape[:3], bool)
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x, _ = _batch(images, None, np.arange(s, min(s + batch, len(images))))
            out[s:s + len(x)] = (model(x).sigmoid() >= THRESHOLD)[:, 0].numpy()
    return out
