"""compare/learned.py: KID against a direct implementation of the unbiased estimator and on known cases; the
random-feature CNN (deterministic, per-image, sensitive to colour, contrast, noise and layout); the classifier
two-sample test (same distribution ~ 0.5, clearly different ~ 1.0, the most reference-like of ours are the
closest to the reference, deterministic for a seed).

The images are drawn here (a gradient background and coloured rectangles), so what differs between two sets
is known by construction.
"""

import importlib.util

import numpy as np
import pytest
from scipy.stats import spearmanr

from gtforge.compare.learned import C2STResult, RandomFeatures, default_epochs, kid, polynomial_kernel, \
    resize_images, two_sample_test

HAS_TORCH = importlib.util.find_spec("torch") is not None
#: Everything but KID needs torch, the optional tune extra.
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch (the optional tune extra) is not installed")
if HAS_TORCH:
    import torch


def scenes(n, seed, size=32, cast=0.0, noise=0.0, contrast=1.0, side=None, casts=None):
    """(n, size, size, 3) uint8: a vertical colour gradient and 3-6 rectangles of random colours per image.

    cast: red + cast, blue - cast (a colour cast); noise: Gaussian, std in grey levels; contrast: scale about
    128; side: "left"/"right" keeps the rectangles in that half; casts: a cast per image.
    """
    rng = np.random.default_rng(seed)
    h = w = size
    out = np.empty((n, h, w, 3), np.uint8)
    yy = np.linspace(0, 1, h)[:, None, None]
    for i in range(n):
        im = rng.uniform(60, 200, 3) * (1 - yy) + rng.uniform(60, 200, 3) * yy + np.zeros((h, w, 3))
        for _ in range(rng.integers(3, 7)):
            rh, rw = rng.integers(h // 8, h // 3), rng.integers(w // 8, w // 3)
            y0 = rng.integers(0, h - rh)
            lo, hi = {"left": (0, w // 2 - rw), "right": (w // 2, w - rw)}.get(side, (0, w - rw))
            x0 = rng.integers(lo, hi)
            im[y0:y0 + rh, x0:x0 + rw] = rng.uniform(0, 255, 3)
        c = cast if casts is None else casts[i]
        im = (im - 128) * contrast + 128 + np.array([c, 0, -c])
        if noise:
            im = im + rng.normal(0, noise, im.shape)
        out[i] = np.clip(np.round(im), 0, 255).astype(np.uint8)
    return out


# ---------------------------------------------------------------------------------------------- KID (numpy only)
def direct_mmd2_unbiased(x, y):
    """The unbiased MMD^2 (Gretton et al. 2012, eq. 3) with k(a, b) = (a.b/d + 1)^3, written as explicit sums
    over pairs (any n, m >= 2)."""
    n, m, d = len(x), len(y), x.shape[1]

    def k(a, b):
        return (sum(float(a[t]) * float(b[t]) for t in range(d)) / d + 1.0) ** 3

    sxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j)
    syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    sxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m))
    return sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2 * sxy / (n * m)


def test_polynomial_kernel_by_hand():
    a = np.array([[1.0, 2.0], [0.0, 0.0]])
    b = np.array([[3.0, -1.0]])
    # (1*3 + 2*-1) / 2 + 1 = 1.5 -> 3.375 ; (0) / 2 + 1 = 1 -> 1
    np.testing.assert_allclose(polynomial_kernel(a, b), [[3.375], [1.0]])


def test_kid_equals_direct_estimator_on_whole_sets():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, (12, 5)), rng.normal(0.3, 1.2, (12, 5))
    mean, std = kid(x, y, subsets=7, subset_size=50, seed=3)  # every subset is the whole of both sets
    assert mean == pytest.approx(direct_mmd2_unbiased(x, y), rel=1e-10, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_subset_mean_converges_to_the_whole_sample_estimator():
    """Over random equal-size subsets, the expected unbiased estimate is the whole-sample U-statistic
    (unequal sizes), so the subset mean must approach the direct computation on all rows."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 1, (16, 3)), rng.normal(0.8, 1, (11, 3))
    target = direct_mmd2_unbiased(x, y)
    mean, std = kid(x, y, subsets=4000, subset_size=6, seed=0)
    assert std > 0
    assert mean == pytest.approx(target, abs=5 * std / np.sqrt(4000))
    assert target > 0.1  # a real difference, so the tolerance above is meaningful


def test_kid_known_cases():
    rng = np.random.default_rng(2)
    base = rng.normal(0, 1, (200, 16))
    same = kid(base, rng.normal(0, 1, (200, 16)), subsets=50, seed=0)
    shifted = [kid(base, rng.normal(s, 1, (200, 16)), subsets=50, seed=0) for s in (0.25, 0.5, 1.0)]
    assert abs(same[0]) < 3 * same[1]
    values = [m for m, _ in shifted]
    assert values[0] > 3 * shifted[0][1] and values == sorted(values)
    assert values[2] > 4 * values[0]
    # seeded: the same draws for the same seed
    assert kid(base, base[::-1] + 0.1, seed=5) == kid(base, base[::-1] + 0.1, seed=5)


def test_kid_rejects_bad_input():
    x = np.zeros((5, 3))
    with pytest.raises(ValueError, match="same d"):
        kid(x, np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        kid(x, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN"):
        kid(x, np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match="subset_size"):
        kid(x, x, subset_size=1)


# ---------------------------------------------------------------------------------------------- random features


def test_resize_images():
    a = scenes(3, 0, size=20)
    assert resize_images(a, (20, 20)) is a
    r = resize_images(a, (16, 24))
    assert r.shape == (3, 24, 16, 3) and r.dtype == np.uint8
    with pytest.raises(ValueError, match="uint8"):
        resize_images(a.astype(np.float32), (16, 16))


@needs_torch
def test_random_features_shape_determinism_and_independence():
    a = scenes(10, 0, size=48)
    state = torch.random.get_rng_state()
    rf = RandomFeatures(seed=3, size=(48, 48))
    f = rf(a)
    assert torch.equal(state, torch.random.get_rng_state())  # the global generator is untouched
    assert f.shape == (10, rf.dim) and rf.dim == 960 and f.dtype == np.float32 and np.isfinite(f).all()
    assert np.array_equal(f, RandomFeatures(seed=3, size=(48, 48))(a))  # same seed, same features
    assert not np.allclose(f, RandomFeatures(seed=4, size=(48, 48))(a))  # another seed, other weights
    # a row depends on its own image only (no batch statistics)
    np.testing.assert_allclose(rf(a[3:4])[0], f[3], rtol=1e-4, atol=1e-5)
    # other sizes are resized
    g = rf(scenes(2, 1, size=64))
    assert g.shape == (2, 960)
    with pytest.raises(ValueError, match="uint8"):
        rf(a.astype(float))
    with pytest.raises(ValueError, match="16"):
        RandomFeatures(size=(8, 8))


@pytest.mark.slow
@needs_torch
@pytest.mark.parametrize("change", [{"cast": 25}, {"noise": 15}, {"contrast": 0.6}, {"side": "right"}])
def test_random_feature_kid_sees_colour_noise_contrast_and_layout(change):
    """KID on random features: ~0 for two draws of one distribution, clearly > 0 for each kind of change."""
    rf = RandomFeatures(seed=0, size=(48, 48))
    side = "left" if "side" in change else None
    base = rf(scenes(80, 1, size=48, side=side))
    same = kid(base, rf(scenes(80, 2, size=48, side=side)), subsets=50, subset_size=40)
    changed = kid(base, rf(scenes(80, 2, size=48, **change)), subsets=50, subset_size=40)
    assert abs(same[0]) < same[1]
    assert changed[0] > 3 * changed[1] and changed[0] > 4 * same[1] and changed[0] > 8 * abs(same[0])


# ---------------------------------------------------------------------------------------------- two-sample test
def test_default_epochs():
    assert default_epochs(100) == 50  # 4 batches of 32 per epoch, 200 steps
    assert default_epochs(10) == 60 and default_epochs(10_000) == 10


@pytest.mark.slow
@needs_torch
def test_c2st_same_distribution_is_near_chance():
    r = two_sample_test(scenes(60, 1), scenes(60, 2), seed=0, size=(32, 32), threads=1)
    assert isinstance(r, C2STResult) and r.n_ours == r.n_ref == r.n_balanced == 60 and r.folds == 2
    assert r.accuracy <= 0.65


@pytest.mark.slow
@needs_torch
@pytest.mark.parametrize("change", [{"noise": 25}, {"cast": 50}])
def test_c2st_clear_difference_is_near_one(change):
    r = two_sample_test(scenes(60, 1, **change), scenes(60, 2), seed=0, size=(32, 32), threads=1)
    assert r.accuracy >= 0.9
    assert r.p_ref_ours.mean() < 0.3 and r.p_ref_ref.mean() > 0.7


@pytest.mark.slow
@needs_torch
def test_c2st_most_reference_like_are_the_closest():
    """Ours carry a colour cast from 0 (like the reference) to strong: the held-out probability of
    "reference" must fall with the cast, so the most real-looking of ours are the least cast ones."""
    casts = np.linspace(0, 60, 60)
    ours = scenes(60, 3, casts=casts)
    r = two_sample_test(ours, scenes(60, 4), seed=1, size=(32, 32), threads=1)
    assert spearmanr(r.p_ref_ours, casts)[0] < -0.5
    order = np.argsort(-r.p_ref_ours)
    assert casts[order[:10]].mean() < casts[order[-10:]].mean() - 20


@needs_torch
def test_c2st_is_deterministic_and_scores_every_image():
    ours, ref = scenes(30, 5, noise=10), scenes(20, 6)
    before_threads, state = torch.get_num_threads(), torch.random.get_rng_state()
    r1 = two_sample_test(ours, ref, seed=7, size=(32, 32), epochs=3, threads=1)
    assert torch.get_num_threads() == before_threads and torch.equal(state, torch.random.get_rng_state())
    r2 = two_sample_test(ours, ref, seed=7, size=(32, 32), epochs=3, threads=1)
    assert r1.accuracy == r2.accuracy
    assert np.array_equal(r1.p_ref_ours, r2.p_ref_ours) and np.array_equal(r1.p_ref_ref, r2.p_ref_ref)
    assert r1.p_ref_ours.shape == (30,) and r1.p_ref_ref.shape == (20,) and r1.n_balanced == 20
    assert r1.p_ref_ours.dtype == np.float64 and ((r1.p_ref_ours > 0) & (r1.p_ref_ours < 1)).all()
    assert r1.epochs == 3
    r3 = two_sample_test(ours, ref, seed=8, size=(32, 32), epochs=3, threads=1)
    assert not np.array_equal(r1.p_ref_ours, r3.p_ref_ours)


def views(n_scenes, per_scene, seed):
    """(n_scenes * per_scene, 32, 32, 3) uint8: each scene of :func:`scenes` seen ``per_scene`` times with a little
    noise (views of one scene: not independent samples), and the scene number of each image."""
    rng = np.random.default_rng(seed + 100)
    base = np.repeat(scenes(n_scenes, seed).astype(np.float64), per_scene, axis=0)
    out = np.clip(np.round(base + rng.normal(0, 3, base.shape)), 0, 255).astype(np.uint8)
    return out, [f"scene {i // per_scene}" for i in range(len(out))]


@pytest.mark.slow
@needs_torch
def test_c2st_folds_that_keep_scenes_whole_stay_near_chance_for_one_distribution():
    """Two sides drawn alike, each 12 scenes of 5 views: folds that split scenes let the classifier recognise a
    held-out view by its scene's other views (accuracy far above 0.5); folds that keep scenes whole do not."""
    ours, g_ours = views(12, 5, 1)
    ref, g_ref = views(12, 5, 2)
    split = two_sample_test(ours, ref, seed=0, size=(32, 32), threads=1)
    whole = two_sample_test(ours, ref, seed=0, size=(32, 32), threads=1, groups_ours=g_ours, groups_ref=g_ref)
    assert not split.grouped and whole.grouped
    assert split.accuracy >= 0.8
    assert whole.accuracy <= 0.65


def test_fold_numbers_keep_groups_whole_and_balance_the_folds():
    from gtforge.compare.learned import _fold_numbers

    groups = ["a"] * 5 + ["b"] * 1 + ["c"] * 3 + ["d"] * 3 + ["e"] * 2
    folds = _fold_numbers(groups, 2, np.random.default_rng(0))
    for g in set(groups):
        assert len({int(folds[i]) for i, h in enumerate(groups) if h == g}) == 1
    sizes = np.bincount(folds, minlength=2)
    assert abs(int(sizes[0]) - int(sizes[1])) <= 5 and sizes.min() >= 4
    assert _fold_numbers(["a", "a", "a"], 2, np.random.default_rng(0)) is None  # one group: cannot keep it whole


@needs_torch
def test_c2st_rejects_bad_input():
    a = scenes(8, 0)
    with pytest.raises(ValueError, match="folds"):
        two_sample_test(a, a, folds=1)
    with pytest.raises(ValueError, match="at least 6"):
        two_sample_test(a[:5], a, folds=3)
    with pytest.raises(ValueError, match="uint8"):
        two_sample_test(a.astype(np.int16), a)
    with pytest.raises(ValueError, match="epochs"):
        two_sample_test(a, a, epochs=0)
    with pytest.raises(ValueError, match="groups_ref has 3 labels for 8 images"):
        two_sample_test(a, a, groups_ref=["x", "y", "z"])
