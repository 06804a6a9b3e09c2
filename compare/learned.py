"""Learned distances between two image sets without downloaded weights (torch on the CPU).

* :class:`RandomFeatures`: a fixed, seeded, randomly initialised CNN as a feature extractor. Evaluating image
  sets in the feature space of an *untrained* network is published practice: Naeem, Oh, Uh, Choi and Yoo
  (ICML 2020, "Reliable Fidelity and Diversity Metrics for Generative Models", arXiv:2002.09797) evaluate
  generative models on the embeddings of a randomly initialised CNN, free of the ImageNet bias of trained
  embeddings, and find them the more sensible choice where the data differ strongly from ImageNet; Lee, Kim
  and Lee (AAAI 2023, "Demystifying Randomly Initialized Networks for Evaluating Generative Models",
  arXiv:2208.09218) compare such random feature spaces with trained ones and find that they evaluate
  generative models about as well, and that the two kinds complement each other.
* :func:`kid`: the Kernel Inception Distance estimator of Bińkowski et al. (ICLR 2018, "Demystifying MMD
  GANs"): the unbiased estimate of the squared maximum mean discrepancy with the cubic polynomial kernel
  k(x, y) = (x . y / d + 1) ** 3, averaged over random subsets, here on :class:`RandomFeatures` instead of
  Inception features (nothing is downloaded).
* :func:`two_sample_test`: the classifier two-sample test of Lopez-Paz and Oquab (ICLR 2017, "Revisiting
  Classifier Two-Sample Tests"): a small CNN trained from scratch to tell the reference from our images; its
  held-out accuracy is the statistic (0.5: the classifier cannot tell them apart), and its per-image held-out
  probabilities say which of our images look most like the reference and which reference images look most
  like ours (:class:`C2STResult`).

torch is the optional ``tune`` extra: it is imported inside the functions that need it; without it they raise
``imagesets.MissingExtraError`` naming the extra. :func:`kid` needs numpy only. Results repeat exactly for a seed on
one machine and torch thread count; other machines or thread counts may differ in the last bits of the
floating-point sums.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .imagesets import require_extra

def _torch(what: str):
    """The torch module for ``what``; :class:`~.imagesets.MissingExtraError` naming the ``tune`` extra when it is not
    installed."""
    require_extra("torch")
    import torch  # noqa: PLC0415 - torch is the optional tune extra

    return torch


def _check_images(images: np.ndarray, what: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{what} must be (N, H, W, 3) uint8 RGB; got shape {images.shape}, dtype {images.dtype}")
    return images


def _check_size(size) -> tuple[int, int]:
    w, h = (int(v) for v in size)
    if w < 16 or h < 16:
        raise ValueError(f"size must be (width, height) with both >= 16 pixels; got {tuple(size)}")
    return w, h


def resize_images(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a stack of images to ``size`` = (width, height) with PIL's bilinear filter (antialiased when
    shrinking, as ``compare.imagesets.read_rgb`` resizes); a stack already of that size is returned as is.

    ``images`` (N, H, W, 3) uint8 -> (N, height, width, 3) uint8. Raises ValueError on another shape or dtype.
    """
    images = _check_images(images, "images")
    w, h = size
    if images.shape[1:3] == (h, w):
        return images
    out = np.empty((len(images), h, w, 3), np.uint8)
    for i, im in enumerate(images):
        out[i] = np.asarray(Image.fromarray(im).resize((w, h), Image.Resampling.BILINEAR))
    return out


def _to_tensor(torch, images: np.ndarray):
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 with the fixed map v / 127.5 - 1 (no per-image or per-set
    standardisation, so brightness, colour and contrast differences survive)."""
    x = images.astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _init_weights(module, generator) -> None:
    """He-normal weights (fan-in, ReLU gain; He et al., ICCV 2015) for every convolution and linear layer of
    ``module``, drawn from ``generator`` only (torch's global generator is not touched); biases 0."""
    torch = _torch("random initialisation")
    from torch import nn  # noqa: PLC0415 - torch is the optional tune extra

    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu", generator=generator)
                if m.bias is not None:
                    m.bias.zero_()


def _seed_of(*words: int) -> int:
    """A 63-bit seed derived from integers with numpy's SeedSequence (independent streams per tuple)."""
    return int(np.random.SeedSequence([int(w) for w in words]).generate_state(2, np.uint64)[0] >> np.uint64(1))


# ---------------------------------------------------------------------------------------------- random features
class RandomFeatures:
    """A fixed, seeded, randomly initialised CNN as a feature extractor (no downloaded weights).

    Architecture (chosen so that the features respond to colour, brightness, contrast, sensor noise and the
    layout of an image; nothing is trained):

    * Input: the image resized to ``size`` and mapped by the fixed affine v / 127.5 - 1 per RGB channel. No
      per-image or per-set standardisation, which would erase exactly the brightness, colour and contrast
      differences to be measured.
    * Four 3x3 convolutions with ReLU, 32-64-128-128 channels; the first at full resolution, a random filter
      bank over 3x3 RGB neighbourhoods, each later one after a 2x2 average pooling (coarser structure).
      He-normal weights (He et al., ICCV 2015: the activations keep their scale through the depth without
      normalisation layers), zero biases. Half of the first filters are made high-pass (their 3x3 weights
      sum to zero per input channel, rescaled to keep their variance): an unconstrained random filter
      responds mostly to the local colour, which swamps pixel-scale texture; the zero-sum ones respond to
      edges, blur and sensor noise only. There is no BatchNorm, so a feature of an image never depends on
      the other images of the batch.
    * Features per stage: the spatial mean and standard deviation of every channel (first- and second-order
      statistics of the filter responses, as in texture and style descriptors: the mean carries colour and
      brightness, the standard deviation contrast, noise and edge strength), 2 x (32 + 64 + 128 + 128) = 704
      values; and the layout: the last stage projected by a random 1x1 convolution to 16 channels and
      averaged over a 4 x 4 grid of the image, 256 values (where things are, which the global statistics
      ignore).
    * The five groups (four stages, layout) are weighted so that each contributes equally to a dot product:
      group g of d_g values is multiplied by sqrt(D / (5 d_g)), so x . y / D, the argument of KID's kernel,
      is the mean over the groups of each group's mean per-value product.

    D = 960. Convolutions pad by reflection (no dark frame at the border). Weights come from a private
    ``torch.Generator`` seeded with ``seed`` (torch's global generator is untouched); features are
    deterministic for a seed on one machine and torch thread count (1 and 2 threads differ by ~2e-7 on
    values of ~0.1). Cost on the 2-core reference machine: 200 images at 128x128 in 4.0 s with 1 thread,
    2.5 s with 2 (plus the resizing: 200 images of 640x480 in 4.7 s with 1 thread, all included).

    Parameters
    ----------
    seed : int
        Seed of the weights; features of different seeds are not comparable with each other.
    size : (int, int)
        (width, height) in pixels every image is resized to (PIL bilinear, antialiased), both >= 16.

    Raises
    ------
    MissingExtraError
        If torch (the ``tune`` extra) is not installed.
    ValueError
        If ``size`` is smaller than 16 x 16.

    Notes
    -----
    Source of the practice: Naeem et al., ICML 2020 (randomly initialised embeddings); Lee, Kim and Lee,
    AAAI 2023 (random networks for evaluating generative models). The architecture above is this project's
    own.
    """

    STAGES = (32, 64, 128, 128)
    LAYOUT_CHANNELS = 16
    LAYOUT_GRID = 4
    BATCH = 32

    def __init__(self, seed: int = 0, size: tuple[int, int] = (128, 128)):
        torch = _torch("RandomFeatures")
        from torch import nn  # noqa: PLC0415 - torch is the optional tune extra

        self.seed = int(seed)
        self.size = _check_size(size)
        convs, cin = [], 3
        with torch.random.fork_rng(devices=[]):  # torch's default initialisation draws from the global generator
            for c in self.STAGES:
                convs.append(nn.Conv2d(cin, c, 3, padding=1, padding_mode="reflect", bias=False))
                cin = c
            self._layout = nn.Conv2d(cin, self.LAYOUT_CHANNELS, 1, bias=False)
        self._convs = nn.ModuleList(convs)
        net = nn.ModuleList([self._convs, self._layout])
        _init_weights(net, torch.Generator().manual_seed(self.seed))
        with torch.no_grad():  # the second half of the first filters: zero sum per input channel (high-pass)
            w = self._convs[0].weight[self.STAGES[0] // 2:]
            w -= w.mean(dim=(2, 3), keepdim=True)
            w *= math.sqrt(9 / 8)  # the variance lost by removing the mean of 9 values
        net.eval()
        net.requires_grad_(False)
        self._net = net
        dims = [2 * c for c in self.STAGES] + [self.LAYOUT_CHANNELS * self.LAYOUT_GRID ** 2]
        self.dim = int(sum(dims))
        self._weights = [math.sqrt(self.dim / (len(dims) * d)) for d in dims]

    def _features(self, x):
        torch = _torch("RandomFeatures")
        import torch.nn.functional as F  # noqa: PLC0415 - torch is the optional tune extra

        groups = []
        for i, conv in enumerate(self._convs):
            if i:
                x = F.avg_pool2d(x, 2)
            x = F.relu(conv(x))
            flat = x.flatten(2)
            groups.append(torch.cat([flat.mean(2), flat.std(2, unbiased=False)], 1))
        layout = F.adaptive_avg_pool2d(self._layout(x), self.LAYOUT_GRID).flatten(1)
        groups.append(layout)
        return torch.cat([g * w for g, w in zip(groups, self._weights)], 1)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Features of a stack of images.

        Parameters
        ----------
        images : (N, H, W, 3) uint8
            RGB images of any one size; resized to ``self.size`` (PIL bilinear, antialiased) unless already so.

        Returns
        -------
        (N, D) float32
            D = ``self.dim`` (960); row i depends on image i only.

        Raises
        ------
        ValueError
            If ``images`` is not (N, H, W, 3) uint8.
        """
        torch = _torch("RandomFeatures")
        images = resize_images(images, self.size)
        out = np.empty((len(images), self.dim), np.float32)
        with torch.inference_mode():
            for s in range(0, len(images), self.BATCH):
                out[s:s + self.BATCH] = self._features(_to_tensor(torch, images[s:s + self.BATCH])).numpy()
        return out


# ---------------------------------------------------------------------------------------------- KID
def polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """KID's kernel k(x, y) = (x . y / d + 1) ** 3 (Bińkowski et al., ICLR 2018) between the rows of a (n, d)
    and b (m, d): (n, m) float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of two equally large samples (Gretton et al., JMLR 2012, eq. 3) with the cubic kernel."""
    m = len(x)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2.0 * kxy.sum() / (m * m))


def kid(feat_ours: np.ndarray, feat_ref: np.ndarray, *, subsets: int = 100, subset_size: int = 100,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance estimator on any features: mean and spread of the unbiased MMD^2.

    Bińkowski, Sutherland, Arbel and Gretton (ICLR 2018, "Demystifying MMD GANs"): per subset, m rows drawn
    without replacement from each side, the unbiased estimate of the squared maximum mean discrepancy
    (Gretton et al., JMLR 2012, "A Kernel Two-Sample Test", eq. 3)

        MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (m (m - 1))
                  - 2 sum_{i, j} k(x_i, y_j) / m^2

    with k(x, y) = (x . y / d + 1) ** 3; averaged over the subsets, as their reference code and
    torch-fidelity do (m = min(subset_size, n_ours, n_ref)). The estimate is unbiased, so it can be slightly
    negative when the two sets come from one distribution; 0 means no measurable difference.

    Parameters
    ----------
    feat_ours : (n, d) float
        Features of our images (e.g. :class:`RandomFeatures`).
    feat_ref : (m, d) float
        Features of the reference images, same d.
    subsets : int
        Number of random subsets (>= 1).
    subset_size : int
        Rows drawn from each side per subset (>= 2); capped at the smaller set.
    seed : int
        Seed of the ``numpy.random.Generator`` drawing the subsets.

    Returns
    -------
    mean : float
        Mean of MMD^2_u over the subsets, in (feature units)^6 / d^3 (the kernel's units; unitless for
        :class:`RandomFeatures`). Often reported x 1000.
    std : float
        Standard deviation over the subsets (ddof 0): the spread of the subset estimates, not a standard error.

    Raises
    ------
    ValueError
        If the arrays are not 2-D with the same d, a side has fewer than 2 rows, a value is not finite, or
        subsets < 1 or subset_size < 2.
    """
    x, y = np.asarray(feat_ours, np.float64), np.asarray(feat_ref, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"features must be (n, d) and (m, d) with the same d; got {x.shape} and {y.shape}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"KID needs at least 2 feature rows on each side; got {len(x)} and {len(y)}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("features contain NaN or infinite values")
    if subsets < 1 or subset_size < 2:
        raise ValueError(f"subsets must be >= 1 and subset_size >= 2; got {subsets} and {subset_size}")
    m = min(subset_size, len(x), len(y))
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for s in range(subsets):
        ix = rng.choice(len(x), m, replace=False)
        iy = rng.choice(len(y), m, replace=False)
        values[s] = _mmd2_unbiased(x[ix], y[iy])
    return float(values.mean()), float(values.std())


# ---------------------------------------------------------------------------------------------- C2ST
@dataclass(frozen=True)
class C2STResult:
    """Outcome of :func:`two_sample_test`.

    Attributes
    ----------
    accuracy : float
        Held-out accuracy, in [0, 1], of telling reference from ours on the balanced images (every one scored
        by a classifier that did not train on it; a probability of exactly 0.5 counts half); 0.5 =
        indistinguishable, 1.0 = always told apart. For one distribution it scatters about 0.5 by roughly
        0.5 / sqrt(2 n_balanced) (0.035 for 100 a side).
    n_ours, n_ref : int
        Images given on each side (all of them get a probability).
    p_ref_ours : (n_ours,) float64
        Held-out probability, in [0, 1], that each of OUR images is a reference image; "most real-looking" of
        ours = highest.
    p_ref_ref : (n_ref,) float64
        The same for each reference image; "most synthetic-looking" reference = lowest.
    n_balanced : int
        Images per side that took part in training and in ``accuracy`` (min(n_ours, n_ref)); the others of
        the larger side are scored by the mean of the fold classifiers, none of which saw them.
    folds, epochs : int
        Cross-fitting folds and training epochs used.
    grouped : bool
        The folds kept each group's images together (groups given on at least one side, and at least ``folds``
        groups there).
    """

    accuracy: float
    n_ours: int
    n_ref: int
    p_ref_ours: np.ndarray
    p_ref_ref: np.ndarray
    n_balanced: int = 0
    folds: int = 0
    epochs: int = 0
    grouped: bool = False


#: Classifier channels per stage (each stage: 3x3 conv + BatchNorm + ReLU; 2x2 max pooling between stages).
C2ST_CHANNELS = (12, 24, 48, 48)
C2ST_LEARNING_RATE = 2e-3
C2ST_WEIGHT_DECAY = 1e-4
C2ST_BATCH = 32
#: Gradient steps per fold behind the default epochs (:func:`default_epochs`): enough for a clear difference
#: to be learnt from a hundred images a side (a 6-grey-level noise difference: accuracy 0.93 on the module's
#: test scenes), 14-21 s for 100 + 100 images at 64x64 on the 2-core reference machine.
C2ST_STEPS = 200
C2ST_MIN_EPOCHS, C2ST_MAX_EPOCHS = 10, 60


def default_epochs(n_train: int, batch: int = C2ST_BATCH) -> int:
    """Epochs for a training fold of ``n_train`` images: about :data:`C2ST_STEPS` gradient steps, clipped to
    [:data:`C2ST_MIN_EPOCHS`, :data:`C2ST_MAX_EPOCHS`]: a fixed training cost for small and medium sets, linear
    in the images for large ones (``n_train`` > 640 with batch 32)."""
    steps_per_epoch = max(1, math.ceil(n_train / batch))
    return int(min(C2ST_MAX_EPOCHS, max(C2ST_MIN_EPOCHS, math.ceil(C2ST_STEPS / steps_per_epoch))))


def _make_classifier(generator):
    """The two-sample test's CNN: (B, 3, H, W) float32 -> (B,) logits of "is a reference image"."""
    torch = _torch("two_sample_test")
    from torch import nn  # noqa: PLC0415 - torch is the optional tune extra
    import torch.nn.functional as F  # noqa: PLC0415 - torch is the optional tune extra

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            cins = (3, *C2ST_CHANNELS[:-1])
            self.stages = nn.ModuleList(
                nn.Sequential(nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True))
                for a, b in zip(cins, C2ST_CHANNELS))
            self.head = nn.Linear(2 * sum(C2ST_CHANNELS), 1)

        def forward(self, x):
            pooled = []
            for i, stage in enumerate(self.stages):
                x = stage(x if i == 0 else F.max_pool2d(x, 2))
                f = x.flatten(2)
                pooled += [f.mean(2), f.amax(2)]
            return self.head(torch.cat(pooled, 1))[:, 0]

    with torch.random.fork_rng(devices=[]):  # torch's default initialisation draws from the global generator
        model = Classifier()
    _init_weights(model, generator)
    return model


def _fit_predict(train_x: np.ndarray, train_y: np.ndarray, eval_sets: list[np.ndarray], *, epochs: int,
                 seed: int) -> list[np.ndarray]:
    """Train a fresh classifier on (train_x, train_y) and return its probabilities of "reference" on each of
    ``eval_sets`` ((n, H, W, 3) uint8 each) as float64 arrays."""
    torch = _torch("two_sample_test")
    import torch.nn.functional as F  # noqa: PLC0415 - torch is the optional tune extra

    model = _make_classifier(torch.Generator().manual_seed(_seed_of(seed, 1)))
    opt = torch.optim.Adam(model.parameters(), lr=C2ST_LEARNING_RATE, weight_decay=C2ST_WEIGHT_DECAY)
    rng = np.random.default_rng(_seed_of(seed, 2))
    x_all = _to_tensor(torch, train_x)
    y_all = torch.from_numpy(train_y.astype(np.float32))
    model.train()
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(train_x)))
        for s in range(0, len(order), C2ST_BATCH):
            idx = order[s:s + C2ST_BATCH]
            if len(idx) < 2:  # BatchNorm needs two samples; the rest of the epoch is dropped
                continue
            loss = F.binary_cross_entropy_with_logits(model(x_all[idx]), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    out = []
    with torch.inference_mode():
        for images in eval_sets:
            probs = [model(_to_tensor(torch, images[s:s + 128])).sigmoid().double().numpy()
                     for s in range(0, len(images), 128)]
            out.append(np.concatenate(probs) if probs else np.zeros(0))
    return out


def _fold_numbers(groups: list, folds: int, rng: np.random.Generator) -> np.ndarray | None:
    """Grouped k-fold: the fold number (0..folds-1) of each image given its group, or None when there are fewer
    than ``folds`` groups. The groups, in a seeded random order, each go whole to the fold with the fewest images so
    far (the lowest fold number on a tie), as scikit-learn's ``GroupKFold`` balances them."""
    names = sorted(set(groups), key=str)
    if len(names) < folds:
        return None
    count = Counter(groups)
    size = np.zeros(folds, int)
    fold_of_group = {}
    for i in rng.permutation(len(names)):
        f = int(np.argmin(size))
        fold_of_group[names[i]] = f
        size[f] += count[names[i]]
    return np.array([fold_of_group[g] for g in groups], int)


def two_sample_test(ours: np.ndarray, ref: np.ndarray, *, seed: int = 0, size: tuple[int, int] = (64, 64),
                    folds: int = 2, epochs: int | None = None, threads: int | None = None,
                    groups_ours=None, groups_ref=None) -> C2STResult:
    """Classifier two-sample test: can a small CNN trained from scratch tell the reference from our images?

    Lopez-Paz and Oquab (ICLR 2017, "Revisiting Classifier Two-Sample Tests"): train a binary classifier on
    part of the pooled, labelled samples and take its accuracy on the rest as the test statistic; under the
    null hypothesis (one distribution) it is 0.5. Here with k-fold cross-fitting, so that every image gets a
    held-out probability: the balanced images (min(N, M) per side; the larger side subsampled with a seeded
    generator) are split per side into ``folds`` folds; for each fold a fresh classifier trains on the other
    folds and scores that fold and the images left out by the balancing (their probability is the mean
    over the folds).

    Images of one group (the views of one rendered scene, frames of one video) are not independent samples: a
    classifier that trained on three views of a scene recognises the fourth by its floor or its objects, whatever
    the two distributions, and the accuracy rises above 0.5 even for one distribution (measured: the recipe that
    rendered a reference of 10 scenes x 4 views, rendered again with another seed, 0.64 with folds that split
    scenes). With ``groups_ours``/``groups_ref`` the folds keep each group whole (grouped k-fold, as
    cross-validation does for clustered data: scikit-learn's ``GroupKFold``), so a held-out image's scene was never
    seen in training.

    Classifier: four stages of 3x3 convolution + BatchNorm + ReLU (12-24-48-48 channels, the first at full
    resolution, 2x2 max pooling between them); the global mean and maximum of every channel of every stage
    (so low-level evidence, colour and noise, reaches the output as directly as shapes do) feed a linear
    layer to one logit; inputs at ``size`` mapped by v / 127.5 - 1 (no per-image normalisation: brightness
    and colour are evidence).
    Adam (lr 2e-3, weight decay 1e-4), batch 32, binary cross-entropy, no augmentation (a flip or crop would
    hide real layout differences). He-normal initial weights from a private ``torch.Generator``; data order
    from ``numpy.random.default_rng``; both derived from ``seed`` and the fold.

    Cost: with the default epochs (:func:`default_epochs`: about 200 gradient steps per fold, 50 epochs for
    100 + 100 images) measured on the 2-core reference machine for 100 + 100 images at 64x64: 14-18 s with
    2 threads while other jobs kept its load average near 1.1-1.5, 21 s with 1 thread; it grows about
    linearly with the pixel count; the training cost is about constant in the image count up to
    about 320 a side with 2 folds (fixed steps), linear beyond (at least 10 epochs). On a machine shared
    with other busy processes use ``threads=1``: torch's threads then wait on each other (65-83 s with 2
    threads at a load average of 2.7-3.1, against 19-24 s with 1).

    Parameters
    ----------
    ours : (N, H, W, 3) uint8
        Our (rendered) images; resized to ``size`` unless already so.
    ref : (M, H2, W2, 3) uint8
        Reference images; resized likewise.
    seed : int
        Seed of the balancing, the folds, the weights and the data order.
    size : (int, int)
        (width, height) the classifier sees, both >= 16.
    folds : int
        Cross-fitting folds, >= 2.
    epochs : int, optional
        Training epochs per fold; default :func:`default_epochs` of the fold's training size.
    threads : int, optional
        torch CPU threads during the test (restored afterwards); default: torch's current setting.
    groups_ours, groups_ref : sequence of hashable, optional
        One group label per image of that side (length N, resp. M), e.g. the scene id; None: every image is its
        own group. A side with fewer than ``folds`` groups among its balanced images is split image by image.

    Returns
    -------
    C2STResult

    Raises
    ------
    ValueError
        If an array is not (n, H, W, 3) uint8, a side has fewer than 2 * ``folds`` images, folds < 2,
        epochs < 1, threads < 1, or a groups list is not as long as its side.
    MissingExtraError
        If torch (the ``tune`` extra) is not installed.
    """
    torch = _torch("two_sample_test")
    ours, ref = _check_images(ours, "ours"), _check_images(ref, "ref")
    size = _check_size(size)
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    n = min(len(ours), len(ref))
    if n < 2 * folds:
        raise ValueError(f"the two-sample test needs at least {2 * folds} images per side for {folds} folds; "
                         f"got {len(ours)} of ours and {len(ref)} reference")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    for name, groups, images in (("groups_ours", groups_ours, ours), ("groups_ref", groups_ref, ref)):
        if groups is not None and len(groups) != len(images):
            raise ValueError(f"{name} has {len(groups)} labels for {len(images)} images")
    ours, ref = resize_images(ours, size), resize_images(ref, size)
    rng = np.random.default_rng(_seed_of(seed, 0))
    # balanced subsets and per-side fold numbers
    sides, grouped = [], False
    for images, groups in ((ours, groups_ours), (ref, groups_ref)):
        chosen = np.sort(rng.choice(len(images), n, replace=False)) if len(images) > n else np.arange(n)
        fold_of = np.empty(n, int)
        fold_of[rng.permutation(n)] = np.arange(n) % folds
        if groups is not None:
            by_group = _fold_numbers([groups[i] for i in chosen], folds,
                                     np.random.default_rng(_seed_of(seed, 5, len(sides))))
            if by_group is not None:
                fold_of, grouped = by_group, True
        sides.append((images, chosen, fold_of, np.setdiff1d(np.arange(len(images)), chosen)))
    n_train = 2 * (n - math.ceil(n / folds))
    ep = default_epochs(n_train) if epochs is None else int(epochs)
    probs = [np.zeros(len(ours)), np.zeros(len(ref))]
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        for f in range(folds):
            train_x = np.concatenate([images[chosen[fold_of != f]] for images, chosen, fold_of, _ in sides])
            train_y = np.concatenate([np.full(int((sides[k][2] != f).sum()), float(k)) for k in (0, 1)])
            held = [chosen[fold_of == f] for _, chosen, fold_of, _ in sides]
            rest = [left for *_, left in sides]
            p = _fit_predict(train_x, train_y, [ours[held[0]], ref[held[1]], ours[rest[0]], ref[rest[1]]],
                             epochs=ep, seed=_seed_of(seed, 3, f))
            probs[0][held[0]], probs[1][held[1]] = p[0], p[1]
            probs[0][rest[0]] += p[2] / folds
            probs[1][rest[1]] += p[3] / folds
    finally:
        torch.set_num_threads(before)
    p_bal = [probs[k][sides[k][1]] for k in (0, 1)]
    correct = np.concatenate([np.where(p_bal[0] == 0.5, 0.5, p_bal[0] < 0.5),
                              np.where(p_bal[1] == 0.5, 0.5, p_bal[1] > 0.5)])
    return C2STResult(accuracy=float(correct.mean()), n_ours=len(ours), n_ref=len(ref), p_ref_ours=probs[0],
                      p_ref_ref=probs[1], n_balanced=n, folds=folds, epochs=ep, grouped=grouped)
