"""Distances between the same statistic of two sets, a ranking and one gap score.

Per kind of statistic (``compare.stats``):

* **scalar**: the Wasserstein-1 distance W1 (earth mover's distance of the two empirical distributions,
  ``scipy.stats.wasserstein_distance``; in the statistic's unit) is the ``value``. ``normalized`` is the mean of
  two readings on the same 0..1 scale, which agree for two normal distributions of one spread shifted by d
  standard deviations (both are then their total-variation distance, ``2 Phi(d / 2) - 1``): the
  Kolmogorov-Smirnov statistic KS (``scipy.stats.ks_2samp``; any difference of shape, e.g. a reference made of
  a few clusters, but it stops at 1 as soon as the sets no longer overlap) and ``erf(W1 / (2 sqrt(2) s))``,
  W1 read as a normal shift with ``s`` a robust scale of the reference (its interquartile range / 1.349, a
  normal distribution's standard deviation; it keeps growing while the sets move apart). So 0 = the same,
  about 1 = disjoint and far apart, as the categorical total variation, and a tuner still sees which of two
  disjoint candidates is closer. Where half the reference or more is one value (IQR 0: e.g. one object per
  image, no truncation) there is no spread to read a shift in and ``normalized`` is KS alone. ``details``
  holds KS, the scale and KS's 5 % critical value (:func:`ks_critical`): below it the sentence says the sets are
  as close as their sample counts can tell.
* **categorical**: the total-variation distance ``0.5 sum |p - q|`` of the shares (value = normalized).
* **points2d** and **embedding**: the sliced Wasserstein-1 distance (Rabin et al. 2011, "Wasserstein
  barycenter and its application to texture mixing"; Bonneel et al. 2015, "Sliced and Radon Wasserstein
  barycenters of measures", JMIV) is the ``value``: the mean W1 of the samples projected on fixed directions
  (32 evenly spaced angles in 2D; 64 seeded random unit vectors otherwise). ``normalized`` is the largest of
  the projections' normalised distances (as for scalars; the max-sliced idea of Deshpande et al. 2019, CVPR),
  so two sets that some direction separates read about 1, as in one dimension (the mean over directions would
  not: directions across the difference see none). Embeddings also report coverage (Naeem et al. 2020,
  "Reliable fidelity and diversity metrics for generative models", ICML): the share of reference samples
  whose ball to their 5th nearest reference neighbour holds one of ours, i.e. the reference's poses that
  ours reach.

:func:`compare_statistics` ranks the statistics present on both sides, largest ``normalized`` first, each with
a plain-words sentence; :func:`gap_score` averages ``normalized``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps
from scipy.spatial import cKDTree

from ..core.rng import analysis_rng
from .stats import Statistic, StatDistance

#: IQR of the standard normal distribution: IQR / IQR_NORMAL is a robust standard deviation.
IQR_NORMAL = 1.3489795003921634
#: Below this ``normalized`` two distributions are called alike in the sentences.
ALIKE = 0.1
#: Directions of the sliced distances.
N_ANGLES_2D, N_DIRECTIONS = 32, 64
#: Neighbours of the coverage's balls (Naeem et al. 2020 use k = 5).
COVERAGE_K = 5


def robust_scale(ref: np.ndarray) -> float:
    """IQR / 1.349 of ``ref`` (a normal distribution's standard deviation); 0 when half of ``ref`` or more is
    one value."""
    q1, q3 = np.percentile(np.asarray(ref, dtype=np.float64), [25, 75])
    return float(max(q3 - q1, 0.0) / IQR_NORMAL)


def normalize_w1(w1: float, scale: float) -> float:
    """``erf(w1 / (2 sqrt(2) scale))`` in [0, 1) (module docstring); 0 for w1 = 0; 1 for w1 > 0 with scale 0."""
    if w1 <= 0.0:
        return 0.0
    if scale <= 0.0:
        return 1.0
    return float(math.erf(w1 / (2.0 * math.sqrt(2.0) * scale)))


def normalized_1d(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float, float, float]:
    """(W1, normalized, KS statistic, scale) of two 1D samples (module docstring): normalized is the mean of KS and
    :func:`normalize_w1` with the reference's :func:`robust_scale`, or KS alone when that scale is 0."""
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    w1 = float(sps.wasserstein_distance(a, b))
    scale = robust_scale(b)
    ks = float(sps.ks_2samp(a, b, method="asymp").statistic)  # the statistic only: no exact p-value needed
    return w1, (0.5 * (ks + normalize_w1(w1, scale)) if scale > 0 else ks), ks, scale


def total_variation(ours, ref) -> tuple[float, dict[str, float], dict[str, float]]:
    """(total variation, our shares, the reference's shares) of two categorical samples."""
    cats = sorted(set(map(str, ours)) | set(map(str, ref)))
    p = _shares(ours, cats)
    q = _shares(ref, cats)
    return 0.5 * float(sum(abs(p[c] - q[c]) for c in cats)), p, q


def _shares(values, cats) -> dict[str, float]:
    vals, counts = np.unique(np.asarray(values, dtype=str), return_counts=True)
    n = counts.sum()
    found = dict(zip(vals.tolist(), (counts / n).tolist()))
    return {c: float(found.get(c, 0.0)) for c in cats}


def directions(dim: int) -> np.ndarray:
    """(k, dim) float64 unit vectors of the sliced distances: 32 evenly spaced angles in [0, pi) for dim = 2, else
    64 draws of ``core.rng.analysis_rng("sliced_directions", 0)`` (fixed, so a distance never depends on a seed)."""
    if dim == 2:
        ang = np.arange(N_ANGLES_2D) * math.pi / N_ANGLES_2D
        return np.stack([np.cos(ang), np.sin(ang)], axis=1)
    d = analysis_rng("sliced_directions", 0).normal(size=(N_DIRECTIONS, dim))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def sliced_wasserstein(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """(sliced W1, normalized) of two (n, d) samples (module docstring): the mean W1 over the projections, and the
    largest of the projections' :func:`normalized_1d`."""
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    w1s, norms = [], []
    for u in directions(a.shape[1]):
        w1, nd, _ks, _scale = normalized_1d(a @ u, b @ u)
        w1s.append(w1)
        norms.append(nd)
    return float(np.mean(w1s)), float(np.max(norms))


def coverage(ours: np.ndarray, ref: np.ndarray, k: int = COVERAGE_K) -> float | None:
    """Share of reference samples whose ball to their k-th nearest reference neighbour contains one of ours
    (Naeem et al. 2020); None when the reference has k or fewer samples."""
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if len(b) <= k or len(a) == 0:
        return None
    radius = cKDTree(b).query(b, k=k + 1)[0][:, -1]  # the nearest is the sample itself
    nearest_ours = cKDTree(a).query(b, k=1)[0]
    return float(np.mean(nearest_ours <= radius))


# ----------------------------------------------------------------------------------------------- sentences

def _fmt(x: float, unit: str = "") -> str:
    s = f"{x:.3g}"
    return f"{s} {unit}" if unit and len(unit) <= 12 else s


def _label(stat: Statistic) -> str:
    return stat.label


def plural(noun: str) -> str:
    """English plural of a sample's noun ("box" -> "boxes", "image" -> "images", "JPEG image" -> "JPEG images")."""
    return noun + "es" if noun.endswith(("s", "x", "ch", "sh")) else noun + "s"


def ks_critical(n: int, m: int, alpha: float = 0.05) -> float:
    """The two-sample KS statistic that sampling noise alone exceeds with probability ``alpha`` (Smirnov's
    asymptotic value ``sqrt(-ln(alpha / 2) / 2) * sqrt((n + m) / (n m))``; 1.358 * ... for 5 %)."""
    return math.sqrt(-math.log(alpha / 2.0) / 2.0) * math.sqrt((n + m) / (n * m))


def _scalar_sentence(o: Statistic, r: Statistic, norm: float, scale: float, ks: float) -> tuple[str, dict]:
    a, b = o.values.astype(np.float64), r.values.astype(np.float64)
    mo, mr = float(np.median(a)), float(np.median(b))
    iqr_o = float(np.subtract(*np.percentile(a, [75, 25])))
    iqr_r = float(np.subtract(*np.percentile(b, [75, 25])))
    crit = ks_critical(len(a), len(b))
    details = {"median_ours": mo, "median_ref": mr, "iqr_ours": iqr_o, "iqr_ref": iqr_r, "scale": scale, "ks": ks,
               "ks_critical_5pct": crit}
    label, per = _label(o), plural(o.per)
    medians = f"median {label} {_fmt(mo, o.unit)} against {_fmt(mr, o.unit)} in the reference"
    if norm < ALIKE:
        return f"our {per} are close to the reference in {label}: {medians}", details
    if ks <= crit:
        return (f"no clear difference in {label}: within the sampling noise of {len(a)} and {len(b)} {per} "
                f"(KS {ks:.2f}, 5 % critical value {crit:.2f}); {medians}"), details
    if abs(mo - mr) < 0.25 * scale:  # about the same middle: the spread or the shape differs
        if iqr_o > 1.25 * iqr_r or iqr_o < 0.8 * iqr_r:
            spread = "more spread out" if iqr_o > iqr_r else "more uniform"
            return (f"our {per} are {spread} in {label}: interquartile range {_fmt(iqr_o, o.unit)} against "
                    f"{_fmt(iqr_r, o.unit)} in the reference ({medians})"), details
        return f"our {per} differ from the reference in how {label} is distributed ({medians})", details
    centre_o, centre_r, what = (mo, mr, "median") if mo != mr else (float(a.mean()), float(b.mean()), "mean")
    word = (o.higher or f"higher in {label}") if centre_o > centre_r else (o.lower or f"lower in {label}")
    return (f"our {per} are {word}: {what} {label} {_fmt(centre_o, o.unit)} against {_fmt(centre_r, o.unit)} "
            "in the reference"), details


def _categorical_sentence(o: Statistic, p: dict, q: dict) -> str:
    label, per = _label(o), plural(o.per)
    ours_cats = {c for c, v in p.items() if v > 0}
    ref_cats = {c for c, v in q.items() if v > 0}
    if not ours_cats & ref_cats:
        return (f"the two sets share no {label} value (ours: {', '.join(sorted(ours_cats)[:5])}; the reference: "
                f"{', '.join(sorted(ref_cats)[:5])}), so they cannot match")
    c = max(p, key=lambda k: (abs(p[k] - q[k]), k))
    if abs(p[c] - q[c]) < 1e-12:
        return f"our {per} are close to the reference in {label}"
    more = "more" if p[c] > q[c] else "less"
    return f"'{c}' is {more} common in ours: {p[c]:.0%} of our {per} against {q[c]:.0%} of the reference's"


def _points_sentence(o: Statistic, r: Statistic, norm: float) -> tuple[str, dict]:
    a, b = o.values.astype(np.float64), r.values.astype(np.float64)
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    sa, sb = float(np.sqrt(a.var(axis=0).sum())), float(np.sqrt(b.var(axis=0).sum()))
    axes = o.axes if len(o.axes) == 2 else ("x", "y")
    details = {"mean_ours": ma.tolist(), "mean_ref": mb.tolist(), "spread_ours": sa, "spread_ref": sb}
    label, per = _label(o), plural(o.per)
    means = f"mean ({axes[0]}, {axes[1]}) ({ma[0]:.2f}, {ma[1]:.2f}) against ({mb[0]:.2f}, {mb[1]:.2f})"
    if norm < ALIKE:
        return f"our {per} are close to the reference in {label}: {means}", details
    d = ma - mb
    if np.abs(d).max() >= 0.25 * max(sb, 1e-9):
        i = int(np.argmax(np.abs(d)))
        if o.name == "box_center":
            where = ("further right" if d[0] > 0 else "further left") if i == 0 else ("lower" if d[1] > 0 else "higher")
            return f"our boxes sit {where} in the image: {means}", details
        return f"our {per} differ most in {axes[i]} ({'higher' if d[i] > 0 else 'lower'}): {means}", details
    spread = "more spread out" if sa > sb else "more concentrated"
    return f"our {per} are {spread} in {label}: spread {sa:.3g} against {sb:.3g} ({means})", details


def _embedding_sentence(o: Statistic, r: Statistic, value: float, norm: float) -> tuple[str, dict]:
    a, b = o.values.astype(np.float64), r.values.astype(np.float64)
    sa, sb = float(np.sqrt(a.var(axis=0).sum())), float(np.sqrt(b.var(axis=0).sum()))
    cov = coverage(a, b)
    details = {"spread_ours": sa, "spread_ref": sb, "coverage": cov}
    label, per = _label(o), plural(o.per)
    cov_txt = "" if cov is None else f"; {cov:.0%} of the reference's {per} have a close counterpart in ours"
    if norm < ALIKE:
        return f"our {per} are close to the reference in {label} (sliced W1 {value:.3g}{cov_txt})", details
    varied = "more varied" if sa > sb else "less varied"
    return (f"our {per} differ in {label}: {varied} (spread {sa:.3g} against {sb:.3g}){cov_txt}"), details


# ----------------------------------------------------------------------------------------------- public API

def stat_distance(ours: Statistic, ref: Statistic) -> StatDistance:
    """The distance between one statistic of our set and the reference's (module docstring).

    Raises
    ------
    ValueError
        The two differ in name or kind, or one side has no sample.
    """
    if ours.name != ref.name or ours.kind != ref.kind:
        raise ValueError(f"cannot compare {ours.name} ({ours.kind}) with {ref.name} ({ref.kind})")
    if ours.n == 0 or ref.n == 0:
        raise ValueError(f"{ours.name}: no samples on one side ({ours.n} ours, {ref.n} reference)")
    if ours.kind == "scalar":
        w1, norm, ks, scale = normalized_1d(ours.values, ref.values)
        sentence, details = _scalar_sentence(ours, ref, norm, scale, ks)
        method, value = "wasserstein1", w1
    elif ours.kind == "categorical":
        value, p, q = total_variation(ours.values, ref.values)
        norm, method = value, "total_variation"
        sentence, details = _categorical_sentence(ours, p, q), {"shares_ours": p, "shares_ref": q}
    else:
        if ours.values.shape[1] != ref.values.shape[1]:
            raise ValueError(f"{ours.name}: dimensions differ ({ours.values.shape[1]} and {ref.values.shape[1]})")
        value, norm = sliced_wasserstein(ours.values, ref.values)
        method = "sliced_wasserstein"
        if ours.kind == "points2d":
            sentence, details = _points_sentence(ours, ref, norm)
        else:
            sentence, details = _embedding_sentence(ours, ref, value, norm)
    return StatDistance(ours.name, ours.group, method, float(value), float(norm), ours.n, ref.n, sentence, details)


def compare_statistics(ours: dict[str, Statistic], ref: dict[str, Statistic]) -> list[StatDistance]:
    """The distance of every statistic present (with samples) on both sides, largest ``normalized`` first (ties:
    by name)."""
    out = [stat_distance(ours[k], ref[k]) for k in ours
           if k in ref and ours[k].kind == ref[k].kind and ours[k].n and ref[k].n]
    return sorted(out, key=lambda d: (-d.normalized, d.name))


def gap_score(distances: list[StatDistance], group: str | None = None) -> float:
    """Mean ``normalized`` of the distances (of one ``group``, ``"image"`` or ``"content"``); 0.0 = no measured
    gap, also when there is no distance to average."""
    vals = [d.normalized for d in distances if group is None or d.group == group]
    return float(np.mean(vals)) if vals else 0.0
