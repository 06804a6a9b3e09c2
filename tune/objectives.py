"""What ``gtforge tune`` minimises: how far a candidate's output is from the reference, built on ``compare``.

Objectives, cheapest first; each is a number, lower is better, 0 = no measured gap:

* ``content``: the mean normalised distance of the label statistics (``compare.content_stats``: instances per
  image, box size, aspect ratio and centre, class frequencies, truncation, visibility, occlusion level,
  viewpoints, hand articulation where both sides have them) = ``compare.distances.gap_score(..., "content")``.
  Needs a labelled reference. The candidate is built with labels only (``output.layers`` all false, BOP only:
  no RGB pass, no image files). Class frequencies count only when the reference shares a class name with the
  recipe (otherwise they could not move and are left out, with a note).
* ``appearance``: the same over the image statistics (``compare.image_stats``: brightness, contrast, saturation,
  CIELAB, sharpness, noise, spectral slope, edge density, JPEG quality), both sides resized to the rung's image
  size; the file format (an output convention, not tunable) is left out.
* ``adversarial``: ``0.5 (2 max(a, 0.5) - 1) + 0.5 sqrt(max(KID, 0) / k_ref)``: a the held-out accuracy of the
  two-sample classifier (``compare.learned.two_sample_test``, Lopez-Paz & Oquab 2017; 0.5 = indistinguishable)
  and KID the unbiased polynomial-kernel MMD^2 on the fixed random CNN's features (``compare.learned.kid``),
  made unitless by k_ref, the mean kernel value between two reference images (KID's kernel), and taken as its
  square root (an MMD, a distance, rather than its square): the loop of Veeravasarapu et al. (CVPR 2017) with a
  classifier trained from scratch. The classifier trains at rung 1 only (:data:`C2ST_RUNGS`); at rung 0 the
  objective is KID's part alone (the classifier's accuracy saturates at 1 while every candidate is told apart;
  KID still ranks them then, at a tenth of the cost). Images at the compare report's sizes
  (:func:`learned_sizes`), so rung 1 measures what the report measures.
* ``task``: 1 - foreground IoU (``compare.segmenter``: the U-Net of ``benchmarks/transfer.py``, trained on the
  candidate's images and visible masks at :data:`TASK_SIZE` for :data:`TASK_STEPS` optimiser steps, scored on a
  labelled part of the reference held out from the other objectives: :data:`TASK_SHARE` of it, at least
  :data:`TASK_MIN_IMAGES` images). Needs reference masks (a gtforge or BOP reference: ``mask_visib/``).
* ``auto``: what the reference allows (:data:`AUTO_WEIGHTS`): unlabelled: 0.5 appearance + 0.5 adversarial;
  labelled: a third each of content, appearance and adversarial (``task`` is never automatic: it trains a
  network per trial).

A :class:`Scorer` holds the reference's statistics (computed once per analysis size: ``compare.report.analysis_size``
of the candidate and the reference, as the report measures) and scores a built candidate folder; besides the
objectives it returns the residual vector of ``tune/matching.py`` (every statistic's standardised difference from
the reference and the mean random-feature vector's), which the ``match`` sampler fits. It is picklable (Ray tasks
carry it).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..compare.content_stats import content_statistics
from ..compare.distances import compare_statistics, gap_score
from ..compare.image_stats import image_statistics
from ..compare.imagesets import ImageSet, common_size, image_array, load_image_set, subsample
from .matching import MomentTarget, match_value

#: The objectives ``--objective`` names.
OBJECTIVES = ("auto", "content", "appearance", "adversarial", "task")
#: ``auto``'s weights, by whether the reference is labelled.
AUTO_WEIGHTS = {False: {"appearance": 0.5, "adversarial": 0.5},
                True: {"content": 1 / 3, "appearance": 1 / 3, "adversarial": 1 / 3}}
#: Image statistics left out of ``appearance``: output conventions the tuner may not change.
UNTUNABLE_IMAGE_STATS = ("file_format",)
#: Reference images used (a seeded subsample of larger references).
REFERENCE_MAX_IMAGES = 200
#: The task objective's held-out share of the reference, and its least number of images.
TASK_SHARE = 0.3
TASK_MIN_IMAGES = 8
#: The task objective's protocol: images and masks resized to this size (w, h) and this many optimiser steps
#: (batches of ``compare.segmenter.BATCH_SIZE``) at rung 0 and rung 1, whatever the number of images.
TASK_SIZE = (80, 60)
TASK_STEPS = (100, 200)
#: torch threads while scoring (the classifier, the random features, the segmenter): one, so that scores do not
#: depend on the machine's core count and a trial's training does not fight over cores with others (two threads
#: on a loaded 2-core machine made a segmenter step 10x slower than one).
TORCH_THREADS = 1
#: Rungs whose adversarial objective trains the two-sample classifier: rung 1 only. At rung 0 KID on the random
#: features stands in for it: the classifier costs 7-10 s a trial (of about 16 s) and its accuracy saturates at 1
#: for every candidate far from the reference, so it orders only the near ones, which rung 1 re-evaluates.
C2ST_RUNGS = (1,)


class TuneInputError(ValueError):
    """A ``gtforge tune`` option that cannot work (the message names it): an objective the reference does not allow,
    a budget too small for one trial, an output path that cannot be used. The CLI exits 2, nothing written."""


@dataclass
class Reference:
    """The reference, split for the objectives.

    Attributes
    ----------
    path : Path
    format : str
        ``compare.imagesets`` layout.
    image_set : ImageSet
        What ``content``, ``appearance`` and ``adversarial`` compare with: the whole reference (a seeded
        subsample of at most :data:`REFERENCE_MAX_IMAGES`), less the task's held-out part.
    held_out : ImageSet or None
        The task objective's labelled part (None unless the objective is ``task``).
    notes : tuple of str
    """

    path: Path
    format: str
    image_set: ImageSet
    held_out: ImageSet | None = None
    notes: tuple = ()

    @property
    def labelled(self) -> bool:
        return self.image_set.labelled


def load_reference(path, fmt: str = "auto", *, objective: str = "auto", seed: int = 0) -> Reference:
    """Read the reference (``compare.imagesets.load_image_set``) and split off the task objective's part.

    Raises
    ------
    CompareInputError
        Missing, empty or unreadable folder, no images, labels that do not parse (naming the file).
    TuneInputError
        ``objective`` ``content`` or ``task`` with an unlabelled reference; ``task`` without masks or with too
        few images to hold some out.
    """
    full = load_image_set(Path(path).resolve(), fmt, max_images=REFERENCE_MAX_IMAGES, seed=seed)
    notes = list(full.notes)
    held = None
    if objective in ("content", "task") and not full.labelled:
        raise TuneInputError(f"--objective {objective} needs a labelled reference (COCO, BOP, KITTI, YOLO or a gtforge "
                             f"dataset); {path} is read as '{full.format}' without labels")
    records = full.records
    if objective == "task":
        n = len(records)
        k = max(TASK_MIN_IMAGES, math.ceil(TASK_SHARE * n))
        if n < k + TASK_MIN_IMAGES:
            raise TuneInputError(f"--objective task holds {k} reference images out to score on and needs "
                                 f"{TASK_MIN_IMAGES} more for the other statistics; {path} has {n}")
        pick = set(subsample(n, k, seed + 1).tolist())
        held = ImageSet(full.root, full.format, tuple(r for i, r in enumerate(records) if i in pick), full.notes)
        records = tuple(r for i, r in enumerate(records) if i not in pick)
        foreground_masks(held, (8, 8))  # TuneInputError now, not in the first trial, when there are no masks
        notes.append(f"task objective: {k} of {n} reference images held out to score the segmenter on")
    part = ImageSet(full.root, full.format, records, full.notes)
    return Reference(Path(path), full.format, part, held, tuple(notes))


def objective_weights(name: str, reference: Reference) -> dict[str, float]:
    """{objective: weight} of ``name`` (``auto``: :data:`AUTO_WEIGHTS`). Raises TuneInputError for an unknown name
    or one the reference does not allow."""
    if name not in OBJECTIVES:
        raise TuneInputError(f"--objective: unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}")
    if name == "auto":
        return dict(AUTO_WEIGHTS[reference.labelled])
    if name in ("content", "task") and not reference.labelled:
        raise TuneInputError(f"--objective {name} needs a labelled reference; {reference.path} has no labels")
    if name == "task" and reference.held_out is None:
        raise TuneInputError("--objective task: the reference was loaded without a held-out part")
    return {name: 1.0}


def foreground_masks(image_set: ImageSet, size: tuple[int, int]) -> np.ndarray:
    """(N, h, w) bool: per image the union of its instances' visible masks (BOP layout, ``mask_visib/
    {im_id:06d}_{gt_id:06d}.png`` beside the image's ``rgb/`` folder), resized to ``size`` = (w, h) nearest.

    Raises
    ------
    TuneInputError
        An image without a ``mask_visib/`` folder beside it (a reference whose layout has no masks).
    """
    w, h = int(size[0]), int(size[1])
    out = np.zeros((len(image_set.records), h, w), dtype=bool)
    for k, rec in enumerate(image_set.records):
        scene = Path(rec.path).parent.parent
        if not (scene / "mask_visib").is_dir():
            raise TuneInputError(f"--objective task needs instance masks (a gtforge or BOP reference with "
                                 f"mask_visib/); {scene} has none")
        for m in sorted((scene / "mask_visib").glob(f"{int(Path(rec.path).stem):06d}_*.png")):
            with Image.open(m) as im:
                out[k] |= np.asarray(im.convert("L").resize((w, h), Image.Resampling.NEAREST)) > 0
    return out


def kernel_mean(f: np.ndarray) -> float:
    """Mean of KID's kernel (``compare.learned.polynomial_kernel``, (x.y / d + 1)^3) over the distinct pairs of
    the rows of ``f`` (n, d): the scale that makes KID unitless in the adversarial objective."""
    from ..compare.learned import polynomial_kernel  # noqa: PLC0415 - compare.learned needs torch, the optional tune extra

    k = polynomial_kernel(f, f)
    n = len(k)
    return float((k.sum() - np.trace(k)) / max(1, n * (n - 1)))


def learned_sizes(size: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(images read, random features' input, classifier's input) sizes of the learned distances for an analysis
    size: the compare report's (``compare.report``: longest sides LEARNED_SIDE, FEATURE_SIDE, C2ST_SIDE), so the
    tune's figures at rung 1 are the report's."""
    from ..compare.report import C2ST_SIDE, FEATURE_SIDE, LEARNED_SIDE, fit_size  # noqa: PLC0415 - the report module loads matplotlib's helpers lazily; imported when scoring

    return fit_size(size, LEARNED_SIDE), fit_size(size, FEATURE_SIDE), fit_size(size, C2ST_SIDE)


@dataclass
class Scorer:
    """Scores a built candidate against the reference (module docstring).

    Each statistic is measured once per candidate and serves both the scalar objectives and the residual vector
    of ``tune/matching.py`` (``result["residuals"]``: what the ``match`` sampler fits), so a trial yields every
    statistic and the mean random-feature vector.

    Attributes
    ----------
    reference : Reference
    weights : dict
        {objective: weight} (:func:`objective_weights`).
    seed : int
        Seeds the subsamples, the random features, the classifier and the segmenter.
    c2st_rungs : tuple of int
        Rungs whose adversarial objective trains the two-sample classifier (:data:`C2ST_RUNGS`); the others use
        KID alone.
    notes : list of str
        What the objectives had to leave out.
    """

    reference: Reference
    weights: dict
    seed: int = 0
    c2st_rungs: tuple = None
    notes: list = field(default_factory=list)
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.c2st_rungs is None:
            self.c2st_rungs = C2ST_RUNGS

    @property
    def needs_rgb(self) -> bool:
        return any(k != "content" for k in self.weights)

    @property
    def provides_residuals(self) -> bool:
        """True when the objectives measure statistics the ``match`` sampler can fit (any but ``task`` alone)."""
        return any(k in self.weights for k in ("content", "appearance", "adversarial"))

    def build_sets(self) -> tuple[str, ...]:
        """``--set`` items of every candidate build: BOP only; the RGB layer unless only ``content`` is scored;
        visible masks for ``task``; no depth, no simulated depth sensor, no hand vertices."""
        layers = {"rgb": self.needs_rgb, "depth": False, "mask": False, "mask_visib": "task" in self.weights}
        return ("output.formats=[bop]", "output.layers=" + _flow(layers), "output.depth_noisy=null")

    # ------------------------------------------------------------------ the reference's side, cached
    def _ref(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _ref_content(self) -> dict:
        return self._ref("content", lambda: content_statistics(self.reference.image_set))

    def _ref_image(self, size) -> dict:
        return self._ref(("image", size), lambda: image_statistics(self.reference.image_set, max_images=None,
                                                                     seed=self.seed, size=size))

    def _ref_array(self, size) -> np.ndarray:
        return self._ref(("array", size), lambda: image_array(self.reference.image_set, size, seed=self.seed))

    def _features(self, size):
        from ..compare.learned import RandomFeatures  # noqa: PLC0415 - compare.learned needs torch, the optional tune extra

        return self._ref(("features", size), lambda: RandomFeatures(seed=self.seed, size=size))

    def _ref_features(self, size) -> np.ndarray:
        read, fsize, _ = learned_sizes(size)
        return self._ref(("ref_features", size), lambda: self._features(fsize)(self._ref_array(read)))

    def _target(self, size) -> MomentTarget:
        """The residuals' reference side at an analysis size (``tune/matching.py``)."""
        def make():
            stats: dict = {}
            if "appearance" in self.weights:
                stats |= self._ref_image(size)
            if "content" in self.weights:
                stats |= self._ref_content()
            feats = None
            if "adversarial" in self.weights:
                with _torch_threads(TORCH_THREADS):
                    feats = self._ref_features(size)
            return MomentTarget.from_reference(stats, feats, skip=UNTUNABLE_IMAGE_STATS)
        return self._ref(("target", size), make)

    def analysis_size(self, ours) -> tuple[int, int]:
        """The size both sides are measured at, for our set (an ImageSet) or our images' size (w, h): as
        ``compare.report.analysis_size`` measures a report (the smaller of the two sets' most common sizes, its
        longer side capped at ``compare.report.MAX_SIDE``)."""
        from ..compare.report import MAX_SIDE, fit_size  # noqa: PLC0415 - see learned_sizes

        so = tuple(ours) if isinstance(ours, (tuple, list)) else common_size(ours.records)
        sr = self._ref("common_size", lambda: common_size(self.reference.image_set.records))
        return fit_size(so if so[0] * so[1] <= sr[0] * sr[1] else sr, MAX_SIDE)

    def residual_weights(self, size) -> np.ndarray:
        """Each residual's weight in the match (``MomentTarget.weights`` with the objective's weights)."""
        return self._target(tuple(size)).weights(self.weights)

    def prepare(self, sizes) -> None:
        """Compute the reference's side now (else on the first trial) for candidates of the given image sizes
        ((w, h) each)."""
        if "content" in self.weights:
            self._ref_content()
        for size in sizes:
            if size is None or not self.needs_rgb:
                continue
            size = self.analysis_size(tuple(size))
            if "appearance" in self.weights:
                self._ref_image(size)
            if "adversarial" in self.weights:
                with _torch_threads(TORCH_THREADS):
                    self._ref_features(size)
            if self.provides_residuals:
                self._target(size)

    # ------------------------------------------------------------------ scoring
    def __call__(self, dataset, fidelity) -> dict:
        """Score the candidate dataset ``dataset`` (a gtforge build) built at ``fidelity``.

        Returns
        -------
        dict
            ``value`` (the weighted sum, lower is better), ``components`` ({objective: value} and the figures
            behind them: ``c2st_accuracy``, ``kid``, ``match``, ``task_iou``...), ``frames``, ``residuals``
            (list of float, ``tune/matching.py``; only when :attr:`provides_residuals`) and ``analysis_size``.

        Raises
        ------
        CompareInputError
            The candidate cannot be read.
        """
        ours = load_image_set(dataset, "gtforge")
        size = self.analysis_size(ours) if self.needs_rgb else (0, 0)
        comps: dict = {}
        measured: dict = {}
        total = 0.0
        with _torch_threads(TORCH_THREADS if self.needs_torch else None):
            for name, w in self.weights.items():
                part = getattr(self, f"_{name}")(ours, tuple(size), fidelity, comps, measured)
                comps[name] = part
                total += w * part
        out = {"value": float(total), "components": comps, "frames": len(ours.records), "analysis_size": list(size)}
        if self.provides_residuals:
            target = self._target(tuple(size))
            stats = {**measured.get("image", {}), **measured.get("content", {})}
            r = target.residuals(stats, measured.get("features"))
            comps["match"] = match_value(r, target.weights(self.weights))
            out["residuals"] = [round(float(v), 5) for v in r]
        return out

    @property
    def needs_torch(self) -> bool:
        return "adversarial" in self.weights or "task" in self.weights

    def _content(self, ours, size, fidelity, comps, measured) -> float:
        ref = self._ref_content()
        mine = content_statistics(ours)
        if "class_frequency" in mine and "class_frequency" in ref:
            if not set(mine["class_frequency"].values.tolist()) & set(ref["class_frequency"].values.tolist()):
                mine.pop("class_frequency")
                note = "content: no class name of the reference is one of the recipe's: class frequencies left out"
                if note not in self.notes:
                    self.notes.append(note)
        measured["content"] = mine
        dists = compare_statistics(mine, ref)
        comps["content_stats"] = {d.name: round(d.normalized, 6) for d in dists}
        return gap_score(dists, "content")

    def _appearance(self, ours, size, fidelity, comps, measured) -> float:
        ref = self._ref_image(size)
        mine = image_statistics(ours, max_images=None, seed=self.seed, size=size)
        measured["image"] = mine
        dists = [d for d in compare_statistics(mine, ref) if d.name not in UNTUNABLE_IMAGE_STATS]
        comps["image_stats"] = {d.name: round(d.normalized, 6) for d in dists}
        return gap_score(dists, "image")

    def _adversarial(self, ours, size, fidelity, comps, measured) -> float:
        """KID on the random features (every rung) and, at :attr:`c2st_rungs`, the two-sample classifier: the mean
        of ``2 max(a, 0.5) - 1`` and ``sqrt(max(KID, 0) / k_ref)`` (module docstring); KID's part alone elsewhere."""
        from ..compare.learned import kid, two_sample_test  # noqa: PLC0415 - compare.learned needs torch, the optional tune extra

        read, fsize, csize = learned_sizes(size)
        a = image_array(ours, read)
        fr = self._ref_features(size)
        fa = self._features(fsize)(a)
        measured["features"] = fa
        n = min(len(fa), len(fr), 100)
        kid_mean, _ = kid(fa, fr, subset_size=n, seed=self.seed)
        k_ref = self._ref(("k_ref", size), lambda: kernel_mean(fr))
        comps["kid"] = float(kid_mean)
        comps["kid_relative"] = float(kid_mean / k_ref) if k_ref > 0 else 0.0
        kid_part = math.sqrt(max(0.0, comps["kid_relative"]))
        if fidelity.rung not in self.c2st_rungs:
            return kid_part
        c2st = two_sample_test(a, self._ref_array(read), seed=self.seed, size=csize, groups_ours=ours.groups,
                                groups_ref=self.reference.image_set.groups)
        comps["c2st_accuracy"] = float(c2st.accuracy)
        return 0.5 * (2.0 * max(float(c2st.accuracy), 0.5) - 1.0) + 0.5 * kid_part

    def _task(self, ours, size, fidelity, comps, measured) -> float:
        from ..compare import segmenter  # noqa: PLC0415 - compare.segmenter needs torch, the optional tune extra

        held, size = self.reference.held_out, TASK_SIZE
        images = image_array(ours, size)
        masks = foreground_masks(ours, size)
        batches = math.ceil(len(images) / getattr(segmenter, "BATCH_SIZE", 16))
        epochs = max(1, math.ceil(TASK_STEPS[min(fidelity.rung, 1)] / batches))
        model = segmenter.train_segmenter(images, masks, epochs=epochs, seed=self.seed)
        predict_masks, iou_scores = segmenter.predict_masks, segmenter.iou_scores
        test = self._ref(("held_images", size), lambda: image_array(held, size))
        truth = self._ref(("held_masks", size), lambda: foreground_masks(held, size))
        iou, mean_iou = iou_scores(predict_masks(model, test), truth)
        comps["task_iou"], comps["task_mean_image_iou"] = float(iou), float(mean_iou)
        return 1.0 - float(iou)


@contextlib.contextmanager
def _torch_threads(n: int | None):
    """``torch.set_num_threads(n)`` for the block, restored after it (nothing when ``n`` is None)."""
    if n is None:
        yield
        return
    import torch  # noqa: PLC0415 - torch is the optional tune extra

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _flow(d: dict) -> str:
    return "{" + ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in d.items()) + "}"


