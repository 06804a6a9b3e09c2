"""The domain-gap report of ``gtforge compare``: :func:`run_compare` measures, ranks and writes.

What it does, in order (every step reads written files only):

1. Loads both sides with :func:`~gtforge.compare.imagesets.load_image_set` (the dataset side normally a gtforge
   dataset, the reference any supported layout), each a seeded subsample of at most ``max_images`` images.
2. Measures the image statistics of both sides at one common size (:func:`analysis_size`: the smaller of the
   two sets' most common sizes, its longer side capped at :data:`MAX_SIDE` pixels), and the content statistics
   where both sides are labelled.
3. Compares every statistic present on both sides (:func:`~gtforge.compare.distances.compare_statistics`).
4. Learned distances (optional, the ``tune`` extra's torch): KID on the features of a fixed random CNN and the
   classifier two-sample test (``compare.learned``), with the images the classifier finds most "real" and most
   "synthetic" on each side.
5. Ranks the differences in plain words (:func:`summarize`: the largest overall, then per group content /
   image / learned) and writes ``compare.json``, PNG plots (``compare.plots``), JPEG thumbnails and a
   self-contained ``index.html`` (``compare.report_html``) into a temporary folder beside ``out_dir``, renamed
   to ``out_dir`` when complete (a previous report there is replaced; anything else is refused).

``compare.json`` is deterministic for a seed on one machine and torch thread count: two runs give identical
files apart from the ``timing`` entry, the only one that holds wall-clock figures.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import time
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

from .. import __version__
from ..core.rng import analysis_rng
from ..formats.atomic import AtomicFolder, write_json_atomic, write_text_atomic
from .content_stats import content_statistics
from .distances import ALIKE, compare_statistics, gap_score, plural, sliced_wasserstein, total_variation
from .image_stats import image_statistics
from .imagesets import (
    CompareInputError, ImageSet, common_size, image_array, load_image_set, read_rgb, require_extra, subsample,
)
from .stats import StatDistance, Statistic

#: Name of the report's JSON file inside the output folder.
REPORT_FILE = "compare.json"
#: Name of the report's page inside the output folder.
HTML_FILE = "index.html"
#: Schema tag of ``compare.json``.
SCHEMA = "gtforge.compare/1"
#: Longest side, in pixels, at which the image statistics are measured (larger sets are resized down).
MAX_SIDE = 640
#: Longest side of the images handed to the learned distances (each resizes further itself), of the random
#: features' input and of the two-sample classifier's input.
LEARNED_SIDE, FEATURE_SIDE, C2ST_SIDE = 256, 128, 64
#: KID's random subsets and their size (Bińkowski et al. 2018 use 100 subsets of 1000; our sets are smaller).
KID_SUBSETS, KID_SUBSET_SIZE = 100, 100
#: Thumbnails per kind (most real / most synthetic) and side, and their longest side in pixels.
THUMBS_PER_KIND, THUMB_SIDE = 4, 160
#: Sentences per group in the summary.
TOP_PER_GROUP = 3
#: Random splits of the pooled samples behind the noise floor of a sliced distance (the largest of 19 is their
#: 95th percentile: a one-sided permutation test at 5 %).
NOISE_PERMUTATIONS = 19


# ----------------------------------------------------------------------------------------------- sizes

def fit_size(size: tuple[int, int], max_side: int, min_side: int = 16) -> tuple[int, int]:
    """(w, h) scaled by one factor so that its longer side is at most ``max_side`` (never enlarged), each side
    at least ``min_side`` pixels."""
    w, h = int(size[0]), int(size[1])
    s = min(1.0, max_side / max(w, h))
    return max(min_side, int(round(w * s))), max(min_side, int(round(h * s)))


def analysis_size(ours: ImageSet, ref: ImageSet, max_side: int = MAX_SIDE) -> tuple[tuple[int, int], list[str]]:
    """The one size (w, h) both sides' image statistics are measured at, and notes that say what was resized.

    The smaller (in pixels) of the two sets' most common sizes (ties: ours), so no side is enlarged beyond its
    own most common size; its longer side capped at ``max_side``. Sharpness, noise, edge density and the spectral
    slope depend on the resolution: they compare only at one size.
    """
    so, sr = common_size(ours.records), common_size(ref.records)
    base = so if so[0] * so[1] <= sr[0] * sr[1] else sr
    size = fit_size(base, max_side)
    notes = []
    if so != sr:
        notes.append(f"the two sets' images differ in size (ours {so[0]}x{so[1]}, the reference {sr[0]}x{sr[1]}): "
                     f"the image statistics are measured with both resized to {size[0]}x{size[1]}")
        ra, rb = so[0] / so[1], sr[0] / sr[1]
        if abs(math.log(ra / rb)) > 0.01:
            notes.append(f"the aspect ratios differ ({ra:.2f} ours, {rb:.2f} the reference): resizing stretches one "
                         "side, which shifts the resolution-dependent statistics (sharpness, noise level, edge "
                         "density, spectral slope) a little")
    elif size != so:
        notes.append(f"both sets' images ({so[0]}x{so[1]}) are resized to {size[0]}x{size[1]} for the image "
                     f"statistics (longer side capped at {max_side} px)")
    return size, notes


# ----------------------------------------------------------------------------------------------- loading

def _within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def load_side(path, fmt: str, *, max_images: int, seed: int, exclude: Path | None = None) -> ImageSet:
    """:func:`load_image_set` of one side, without the images under ``exclude`` (the report's own folder, when it
    lies inside a folder of images: a second report must not measure the first one's thumbnails).

    Raises CompareInputError (as :func:`load_image_set`; also when only excluded images were found).
    """
    s = load_image_set(path, fmt, max_images=max_images, seed=seed)
    if exclude is None or not any(_within(r.path, exclude) for r in s.records):
        return s
    full = load_image_set(path, fmt, seed=seed)
    kept = [r for r in full.records if not _within(r.path, exclude)]
    if not kept:
        raise CompareInputError(f"{path}: no images found outside the report folder {exclude}")
    kept = [kept[i] for i in subsample(len(kept), max_images, seed)]
    notes = (*full.notes, f"{len(full.records) - len(kept)} images under the report folder {exclude} left out")
    return replace(full, records=tuple(kept), notes=notes)


def check_out_dir(out: Path) -> None:
    """Refuse an output folder that is a file, or a non-empty folder that is not a previous report (one with
    ``compare.json``), which the report would replace.

    Raises CompareInputError naming it."""
    if out.exists() and not out.is_dir():
        raise CompareInputError(f"{out}: exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / REPORT_FILE).is_file():
        raise CompareInputError(f"{out}: exists and is not a gtforge compare report (no {REPORT_FILE}); "
                                "choose another --out (a previous report there would be replaced)")


# ----------------------------------------------------------------------------------------------- summaries

def _num(x) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None


def _clean(obj):
    """``obj`` with numpy scalars and arrays as Python values and non-finite floats as None (valid JSON)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _num(obj)
    return obj


def stat_summary(stat: Statistic) -> dict:
    """Plain figures of one side's statistic for ``compare.json`` and the report's table.

    Scalar: n, mean, std, min, q05, q25, median, q75, q95, max (and the pooled pixel histogram where the statistic
    has one); categorical: n and the shares, largest first; points2d: n, per-axis mean, median and standard
    deviation; embedding: n, dimension and spread (the square root of the summed variances).
    """
    v = stat.values
    out: dict = {"n": stat.n}
    if stat.kind == "scalar":
        a = np.asarray(v, dtype=np.float64)
        q = np.percentile(a, [0, 5, 25, 50, 75, 95, 100])
        out |= {"mean": float(a.mean()), "std": float(a.std()), "min": q[0], "q05": q[1], "q25": q[2],
                "median": q[3], "q75": q[4], "q95": q[5], "max": q[6]}
        if stat.histogram is not None:
            out["pixel_histogram"] = {"bin_edges": stat.bin_edges, "shares": stat.histogram}
    elif stat.kind == "categorical":
        cats, counts = np.unique(np.asarray(v, dtype=str), return_counts=True)
        order = sorted(range(len(cats)), key=lambda i: (-counts[i], cats[i]))
        out["shares"] = {str(cats[i]): float(counts[i] / counts.sum()) for i in order}
    elif stat.kind == "points2d":
        a = np.asarray(v, dtype=np.float64)
        out |= {"axes": list(stat.axes) or ["x", "y"], "mean": a.mean(axis=0), "median": np.median(a, axis=0),
                "std": a.std(axis=0)}
    else:
        a = np.asarray(v, dtype=np.float64)
        out |= {"dim": int(a.shape[1]), "spread": float(np.sqrt(a.var(axis=0).sum()))}
    return _clean(out)


def noise_floor(ours: Statistic, ref: Statistic, *, seed: int = 0, permutations: int = NOISE_PERMUTATIONS) -> float:
    """The ``normalized`` distance that sampling noise alone reaches, for categorical, points2d and embedding
    statistics (scalars have the KS critical value instead).

    A permutation test (Good 2005, "Permutation, Parametric, and Bootstrap Tests of Hypotheses"): both sides'
    samples are pooled and split at random into sets of the two sizes ``permutations`` times (a
    ``core.rng.analysis_rng("permutation", seed)``); the largest of their normalized distances
    (``distances.total_variation`` or ``distances.sliced_wasserstein``) is returned, the 95th percentile for 19
    splits. Both grow as the samples shrink (the total variation of many classes, the maximum over the slicing
    directions), so a small set would read as different from any other without it.
    """
    if ours.kind == "categorical":
        a, b = np.asarray(ours.values, dtype=str), np.asarray(ref.values, dtype=str)
    else:
        a, b = np.asarray(ours.values, np.float64), np.asarray(ref.values, np.float64)
    pooled = np.concatenate([a, b])
    rng = analysis_rng("permutation", int(seed))
    floor = 0.0
    for _ in range(permutations):
        idx = rng.permutation(len(pooled))
        x, y = pooled[idx[:len(a)]], pooled[idx[len(a):]]
        floor = max(floor, total_variation(x, y)[0] if ours.kind == "categorical" else sliced_wasserstein(x, y)[1])
    return float(floor)


def is_clear(d: StatDistance) -> bool:
    """A difference worth naming: ``normalized`` at least ``distances.ALIKE`` and beyond the sampling noise of the
    two sample counts: for scalars a KS statistic above its 5 % critical value, for the others above
    ``details["noise_floor_95"]`` (:func:`noise_floor`, :func:`with_noise_floors`) where present."""
    if d.normalized < ALIKE:
        return False
    floor = d.details.get("noise_floor_95")
    if floor is not None and d.normalized <= floor:
        return False
    ks, crit = d.details.get("ks"), d.details.get("ks_critical_5pct")
    return not (ks is not None and crit is not None and ks <= crit)


def with_noise_floors(distances: list[StatDistance], ours: dict[str, Statistic], ref: dict[str, Statistic], *,
                      seed: int) -> list[StatDistance]:
    """The distances with the :func:`noise_floor` of the categorical and sliced ones (from ``distances.ALIKE`` up) in
    ``details["noise_floor_95"]``; those within it say so in their sentence (as ``compare.distances`` does for
    scalars within the KS critical value)."""
    out = []
    for d in distances:
        if d.method in ("sliced_wasserstein", "total_variation") and d.normalized >= ALIKE:
            floor = noise_floor(ours[d.name], ref[d.name], seed=seed)
            details = {**d.details, "noise_floor_95": floor}
            sentence = d.sentence
            if d.normalized <= floor:
                o = ours[d.name]
                sentence = (f"no clear difference in {o.label}: within the sampling noise of {d.n_ours} and "
                            f"{d.n_ref} {plural(o.per)} (noise floor {floor:.2f}); {d.sentence}")
            d = replace(d, details=details, sentence=sentence)
        out.append(d)
    return out


def _capital(s: str) -> str:
    return s[:1].upper() + s[1:] if s else s


def c2st_gap(accuracy: float) -> float:
    """The two-sample classifier's accuracy on the distances' 0..1 scale: ``max(0, 2 accuracy - 1)`` (0 = cannot
    tell the sets apart, 1 = always tells them apart)."""
    return max(0.0, 2.0 * float(accuracy) - 1.0)


def c2st_sentence(accuracy: float, n_balanced: int) -> str:
    """Plain words for the classifier two-sample test's held-out accuracy."""
    how = ("easily" if accuracy >= 0.9 else "mostly" if accuracy >= 0.75 else "sometimes" if accuracy >= 0.6
           else "hardly")
    verdict = {"easily": "the two sets are easy to tell apart", "mostly": "a clear gap remains",
               "sometimes": "a modest gap", "hardly": "the sets are close to indistinguishable for it"}[how]
    return (f"a small CNN trained from scratch {how} tells our images from the reference's: {accuracy:.0%} of "
            f"held-out images right, where 50% means it cannot tell them apart ({verdict}; {n_balanced} images "
            "per side)")


def kid_sentence(mean: float, std: float) -> str:
    """Plain words for KID on random features."""
    m, s = round(mean * 1000, 6), round(std * 1000, 6)
    return (f"KID on the features of a fixed random CNN is {m:.3g} x 10^-3 (spread over subsets {s:.2g} x 10^-3); 0 "
            "means no measurable difference, and the figure is comparable between runs against the same reference only")


def summarize(distances: list[StatDistance], learned: dict, *, content_compared: bool,
              content_reason: str = "", titles: dict[str, str] | None = None) -> dict:
    """The plain-words ranking: which differences are largest, overall and per group.

    ``titles`` maps a statistic's name to its words (``Statistic.label``); default: the name with spaces.

    Returns
    -------
    dict
        ``sentences``: the largest clear differences overall (:func:`is_clear`), then up to
        :data:`TOP_PER_GROUP` sentences each for content, image and learned; ``groups``: per group its sentences
        and gap score (mean ``normalized``); ``largest``: names of the largest clear differences, in order.
    """
    clear = [d for d in distances if is_clear(d)]
    largest = clear[:TOP_PER_GROUP + 2]
    if largest:
        titles = titles or {}
        names = ", ".join(f"{titles.get(d.name) or d.name.replace('_', ' ')} ({d.group}, {d.normalized:.2f})"
                          for d in largest)
        head = f"Largest differences (0 = same, 1 = disjoint): {names}."
    else:
        head = "No statistic differs clearly between the two sets (every distance is small or within sampling noise)."
    groups: dict[str, dict] = {}
    for group in ("content", "image"):
        ds = [d for d in distances if d.group == group]
        if group == "content" and not content_compared:
            sentences = [f"Content: not compared ({content_reason})."]
        elif not ds:
            sentences = [f"{_capital(group)}: no statistic to compare."]
        else:
            top = [d for d in ds if is_clear(d)][:TOP_PER_GROUP]
            none = (f"{_capital(group)}: no clear difference in any of the {len(ds)} compared statistics (each small "
                    "or within sampling noise).")
            sentences = [f"{_capital(group)}: {d.sentence}." for d in top] if top else [none]
        groups[group] = {"gap_score": gap_score(distances, group) if ds else None, "sentences": sentences}
    groups["learned"] = {"sentences": [f"Learned: {s}." for s in learned.get("sentences", [])]}
    sentences = [head] + [s for g in ("content", "image", "learned") for s in groups[g]["sentences"]]
    return {"sentences": sentences, "groups": groups, "largest": [d.name for d in largest],
            "gap_score": gap_score(distances)}


# ----------------------------------------------------------------------------------------------- learned

def _rel(path: Path, root: Path) -> str:
    """``path`` relative to the set's root (a file: its folder) where it lies inside, else as given."""
    base = root if root.is_dir() else root.parent
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def _extremes(p: np.ndarray, k: int) -> tuple[list[int], list[int]]:
    """Indices of the ``k`` highest and the ``k`` lowest values (stable order: ties by index), not overlapping."""
    k = min(k, len(p) // 2)
    hi = np.argsort(-p, kind="stable")[:k].tolist()
    lo = np.argsort(p, kind="stable")[:k].tolist()
    return hi, lo


def learned_distances(ours: ImageSet, ref: ImageSet, size: tuple[int, int], *, seed: int,
                      threads: int | None = None) -> tuple[dict, dict]:
    """KID on random CNN features and the classifier two-sample test of both sides (``compare.learned``).

    Parameters
    ----------
    ours, ref : ImageSet
        The two (already subsampled) sets; every image is used.
    size : (w, h)
        The analysis size; the images are read at it, reduced to :data:`LEARNED_SIDE` (aspect kept), and each
        method resizes them further (:data:`FEATURE_SIDE`, :data:`C2ST_SIDE`).
    seed : int
        Seed of the random CNN's weights, KID's subsets and the classifier's folds, weights and data order.
    threads : int or None
        torch CPU threads for the learned part (restored afterwards); None: torch's current setting. The
        figures repeat exactly for one machine and thread count.

    Returns
    -------
    result : dict
        For ``compare.json``: ``kid`` (mean, std, subsets, subset size, n's, feature size, or ``skipped``),
        ``c2st`` (accuracy, normalized = 2 accuracy - 1, n's, folds, epochs, and per side the most real- and
        most synthetic-looking images with their probabilities; or ``skipped``), ``sentences``, ``torch_threads``.
    extras : dict
        ``picks``: ``(side, kind) -> [(ImageRecord, probability), ...]`` for the thumbnails; ``p_ref``:
        ``side -> (n,) float64`` every image's held-out probability of being a reference image (the plots).

    Raises
    ------
    MissingExtraError
        torch is not installed.
    CompareInputError
        An image cannot be read.
    """
    require_extra("torch")
    import torch  # noqa: PLC0415 - torch is the optional tune extra

    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    t = time.perf_counter()
    read = fit_size(size, LEARNED_SIDE)
    a, b = image_array(ours, read), image_array(ref, read)
    seconds = time.perf_counter() - t
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        out, extras = _learned(ours, ref, a, b, size, read, seed, int(torch.get_num_threads()))
        out["_seconds"]["learned_images"] = seconds
        return out, extras
    finally:
        torch.set_num_threads(before)


def _learned(ours: ImageSet, ref: ImageSet, a: np.ndarray, b: np.ndarray, size, read, seed: int,
             threads: int) -> tuple[dict, dict]:
    from .learned import RandomFeatures, kid, two_sample_test  # noqa: PLC0415 - imports torch, the optional tune extra

    out: dict = {"image_size": list(read), "torch_threads": threads, "sentences": []}
    picks: dict = {}
    p_ref: dict = {}
    t0 = time.perf_counter()
    if min(len(a), len(b)) >= 2:
        fsize = fit_size(size, FEATURE_SIDE)
        net = RandomFeatures(seed=seed, size=fsize)
        mean, std = kid(net(a), net(b), subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=seed)
        out["kid"] = {"mean": mean, "std": std, "subsets": KID_SUBSETS,
                      "subset_size": min(KID_SUBSET_SIZE, len(a), len(b)), "n_ours": len(a), "n_ref": len(b),
                      "features": f"RandomFeatures(seed={seed}, size={fsize[0]}x{fsize[1]})"}
        out["sentences"].append(kid_sentence(mean, std))
    else:
        out["kid"] = {"skipped": f"KID needs 2 images per side; got {len(a)} ours and {len(b)} reference"}
    t1 = time.perf_counter()
    if min(len(a), len(b)) >= 4:
        csize = fit_size(size, C2ST_SIDE)
        res = two_sample_test(a, b, seed=seed, size=csize, groups_ours=ours.groups,
                              groups_ref=ref.groups)
        c2 = {"accuracy": res.accuracy, "normalized": c2st_gap(res.accuracy), "n_ours": res.n_ours,
              "n_ref": res.n_ref, "n_balanced": res.n_balanced,
              "folds": res.folds, "epochs": res.epochs, "folds_keep_scenes": res.grouped,
              "image_size": list(csize)}
        for side, sset, p in (("ours", ours, res.p_ref_ours), ("reference", ref, res.p_ref_ref)):
            p = np.asarray(p, dtype=np.float64)
            p_ref[side] = p
            hi, lo = _extremes(p, THUMBS_PER_KIND)
            for kind, idx in (("most_real", hi), ("most_synthetic", lo)):
                picks[(side, kind)] = [(sset.records[i], float(p[i])) for i in idx]
                c2[f"{kind}_{side}"] = [{"file": _rel(sset.records[i].path, sset.root), "p_ref": float(p[i])}
                                        for i in idx]
            c2[f"p_ref_{side}_median"] = float(np.median(p))
        out["c2st"] = c2
        out["sentences"].insert(0, c2st_sentence(res.accuracy, c2["n_balanced"]))
    else:
        out["c2st"] = {"skipped": f"the two-sample test needs 4 images per side; got {len(a)} ours and "
                                  f"{len(b)} reference"}
    out["_seconds"] = {"kid": t1 - t0, "c2st": time.perf_counter() - t1}
    return out, {"picks": picks, "p_ref": p_ref}


# ----------------------------------------------------------------------------------------------- writing

def _versions(learned: bool) -> dict:
    names = ["numpy", "scipy", "scikit-image", "opencv-python-headless", "Pillow", "matplotlib"]
    if learned:
        names.append("torch")
    out = {"gtforge": __version__, "python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def _side_info(s: ImageSet, given) -> dict:
    sizes: dict[str, int] = {}
    for r in s.records:
        key = f"{r.width}x{r.height}"
        sizes[key] = sizes.get(key, 0) + 1
    return {"path": str(Path(given).resolve()), "format": s.format, "images": len(s.records),
            "labelled": s.labelled, "sizes": dict(sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))),
            "notes": list(s.notes)}


def write_thumb(record, path: Path, side: int = THUMB_SIDE) -> None:
    """A small JPEG of the record's image (longer side ``side`` px, aspect kept), written atomically."""
    im = Image.fromarray(read_rgb(record))
    im.thumbnail((side, side), Image.Resampling.BILINEAR)
    tmp = path.with_name(path.name + ".part")
    im.save(tmp, format="JPEG", quality=85)
    os.replace(tmp, path)


def _commit(folder: AtomicFolder) -> Path:
    """Rename the finished report over ``folder.final``: a previous report there is moved aside first and
    removed after the rename."""
    final = folder.final
    old = final.parent / f".old_{final.name}"
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    done = folder.commit()
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
    return done


# ----------------------------------------------------------------------------------------------- public API

def run_compare(dataset, reference, out_dir, *, reference_format: str = "auto", seed: int = 0,
                max_images: int = 200, learned: bool = True, dataset_format: str = "auto",
                threads: int | None = 1) -> dict:
    """Measure the gap between a dataset and a reference and write the report (module docstring).

    Parameters
    ----------
    dataset : path
        Our side: normally a gtforge dataset folder (any layout :func:`load_image_set` reads is accepted).
    reference : path
        The user's data: a folder of images, or a COCO, BOP, KITTI or YOLO dataset (``reference_format``).
    out_dir : path
        The report folder: ``compare.json``, ``plots/*.png``, ``thumbs/*.jpg``, ``index.html``. Written into
        ``.tmp_<name>`` beside it and renamed when complete; a previous report there is replaced.
    reference_format, dataset_format : str
        ``"auto"`` or one of ``imagesets.FORMATS``.
    seed : int
        Seed of the subsamples, the random CNN, KID's subsets and the classifier.
    max_images : int
        At most this many images per side (a seeded subsample), >= 1.
    learned : bool
        Run the learned distances (KID, the two-sample classifier; needs the ``tune`` extra's torch). False gives
        the complete report of the statistics without torch.
    threads : int or None
        torch CPU threads of the learned part (default 1; None: torch's current setting, the number of cores). The
        learned figures repeat exactly for one thread count (``learned.torch_threads`` in the JSON says which), so
        one thread gives the same report whatever the core count (same torch build and kind of CPU); the networks
        are small enough to gain little from more (on the shared 2-core reference machine, 40 + 100 images: 32 s
        with one thread, 106 s with two).

    Returns
    -------
    dict
        The content of ``compare.json``: ``schema``, ``inputs`` (paths, formats, counts, sizes, notes of both
        sides, seed, max_images, analysis size), ``notes``, ``summary`` (plain-words sentences, per-group gap
        scores), ``distances`` (every compared statistic: name, group, method, value, normalized, n's,
        sentence, details, unit, title, description; largest first), ``statistics`` (per statistic and side:
        medians, quantiles, shares), ``learned``, ``files``, ``versions`` and ``timing`` (wall-clock seconds:
        the only entry that differs between two runs).

    Raises
    ------
    CompareInputError
        An unusable side (naming the path), an output folder that is a file or holds something else than a
        report, ``max_images`` < 1. Nothing is written.
    MissingExtraError
        ``learned`` without torch installed (naming the ``tune`` extra). Nothing is written.
    """
    t_start = time.perf_counter()
    timing: dict[str, float] = {}
    out = Path(out_dir)
    check_out_dir(out)
    if max_images is None or int(max_images) < 1:
        raise CompareInputError(f"{dataset}: max_images must be >= 1, got {max_images}")
    if learned:
        require_extra("torch")
    ours = load_side(dataset, dataset_format, max_images=int(max_images), seed=seed, exclude=out)
    ref = load_side(reference, reference_format, max_images=int(max_images), seed=seed, exclude=out)
    timing["load"] = time.perf_counter() - t_start

    t = time.perf_counter()
    size, notes = analysis_size(ours, ref)
    stats_ours = image_statistics(ours, max_images=None, seed=seed, size=size)
    stats_ref = image_statistics(ref, max_images=None, seed=seed, size=size)
    timing["image_statistics"] = time.perf_counter() - t
    t = time.perf_counter()
    content_compared = ours.labelled and ref.labelled
    reason = ""
    if content_compared:
        stats_ours |= content_statistics(ours)
        stats_ref |= content_statistics(ref)
    else:
        missing = [w for w, s in (("our dataset", ours), ("the reference", ref)) if not s.labelled]
        reason = f"{' and '.join(missing)} {'has' if len(missing) == 1 else 'have'} no labels"
        notes.append(f"content statistics need labels on both sides: {reason}")
    distances = with_noise_floors(compare_statistics(stats_ours, stats_ref), stats_ours, stats_ref, seed=seed)
    timing["content_statistics_and_distances"] = time.perf_counter() - t

    extras: dict = {"picks": {}, "p_ref": {}}
    if learned:
        learned_doc, extras = learned_distances(ours, ref, size, seed=seed, threads=threads)
        timing |= learned_doc.pop("_seconds")
        learned_doc = {"enabled": True, **learned_doc}
    else:
        learned_doc = {"enabled": False, "reason": "not run (learned=False, --no-learned)", "sentences": []}

    summary = summarize(distances, learned_doc, content_compared=content_compared, content_reason=reason,
                        titles={k: v.label for k, v in stats_ours.items()})
    statistics = {}
    for name in sorted(set(stats_ours) | set(stats_ref), key=lambda k: (
            (stats_ours.get(k) or stats_ref.get(k)).group, k)):
        st = stats_ours.get(name) or stats_ref[name]
        statistics[name] = {
            "group": st.group, "kind": st.kind, "unit": st.unit, "title": st.label, "per": st.per,
            "description": st.description, "compared": any(d.name == name for d in distances),
            "ours": stat_summary(stats_ours[name]) if name in stats_ours else None,
            "reference": stat_summary(stats_ref[name]) if name in stats_ref else None}
    dist_docs = []
    for rank, d in enumerate(distances, 1):
        st = stats_ours[d.name]
        dist_docs.append({"rank": rank, "name": d.name, "group": d.group, "title": st.label, "kind": st.kind,
                          "method": d.method, "value": d.value, "unit": st.unit if d.method == "wasserstein1" else "",
                          "normalized": d.normalized, "clear": is_clear(d), "n_ours": d.n_ours, "n_ref": d.n_ref,
                          "sentence": _capital(d.sentence) + ".", "details": d.details})

    doc = {
        "schema": SCHEMA,
        "inputs": {"dataset": _side_info(ours, dataset), "reference": _side_info(ref, reference), "seed": int(seed),
                   "max_images": int(max_images), "learned": bool(learned), "analysis_size": list(size)},
        "notes": notes,
        "summary": summary,
        "distances": dist_docs,
        "statistics": statistics,
        "learned": learned_doc,
        "files": {},
        "versions": _versions(learned),
    }

    # write: everything into .tmp_<name> beside the final folder, renamed when complete
    from . import plots  # noqa: PLC0415 - matplotlib loads only when a report is written
    from .report_html import render_html  # noqa: PLC0415 - loaded with the plots, when a report is written

    t = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = AtomicFolder(out)
    try:
        (folder.path / "plots").mkdir()
        (folder.path / "thumbs").mkdir()
        plot_files = plots.write_plots(folder.path / "plots", stats_ours, stats_ref, distances, learned_doc,
                                       extras["p_ref"], clear={d.name for d in distances if is_clear(d)})
        thumbs = {}
        for (side, kind), items in sorted(extras["picks"].items()):
            for k, (record, _p) in enumerate(items, 1):
                rel = f"thumbs/{side}_{kind}_{k}.jpg"
                write_thumb(record, folder.path / rel)
                thumbs.setdefault(f"{kind}_{side}", []).append(rel)
        c2 = learned_doc.get("c2st", {})
        for key, rels in thumbs.items():
            for entry, rel in zip(c2.get(key, []), rels):
                entry["thumb"] = rel
        doc["files"] = {"json": REPORT_FILE, "html": HTML_FILE,
                        "plots": {k: f"plots/{v}" for k, v in plot_files.items()},
                        "thumbs": [r for k in sorted(thumbs) for r in thumbs[k]]}
        timing["plots_and_thumbnails"] = time.perf_counter() - t
        timing["total"] = time.perf_counter() - t_start
        doc["timing"] = {"seconds": {k: round(v, 3) for k, v in timing.items()},
                         "note": "wall-clock seconds of this run: the only entry of compare.json that differs "
                                 "between two runs with the same inputs and seed"}
        doc = _clean(doc)
        json.dumps(doc, allow_nan=False)  # raises on anything that is not plain JSON
        write_json_atomic(folder.path / REPORT_FILE, doc)
        write_text_atomic(folder.path / HTML_FILE, render_html(doc))
        _commit(folder)
    except BaseException:
        shutil.rmtree(folder.path, ignore_errors=True)
        raise
    return doc


def load_report(out_dir) -> dict:
    """The ``compare.json`` of a report folder. Raises CompareInputError naming the file when it is missing or
    does not parse."""
    path = Path(out_dir) / REPORT_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CompareInputError(f"{path}: cannot be read ({e})") from None
