"""The PNG plots of the ``gtforge compare`` report (matplotlib's object API on the Agg canvas: no pyplot, no
global state, no display).

One figure per compared statistic, ours against the reference: overlaid histograms of scalar statistics (as
densities, so sets of different sizes compare; brightness and saturation also show the pooled pixel histograms),
bars of the shares of categorical ones, side-by-side heat maps of 2D points (box centres in image coordinates,
y down; viewpoints; hand orientation), and for embeddings (hand articulation) a projection on the first two
principal components of both sides pooled. Plus a summary bar chart of every normalized distance (and the
two-sample classifier's ``2 accuracy - 1``) and, when the classifier ran, the histogram of its held-out
probabilities on each side.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from .distances import ALIKE, plural
from .stats import StatDistance, Statistic

#: Colours of the two sides and of the groups in the summary chart.
OURS, REF = "#d95f02", "#1b9e77"
GROUP_COLOURS = {"content": "#7570b3", "image": "#1f78b4", "learned": "#e7298a"}
#: Categories shown in a categorical plot (the largest shares on either side).
MAX_CATEGORIES = 15
#: Bins of the 2D heat maps per axis.
HEAT_BINS = 20
DPI = 100


def safe_name(name: str) -> str:
    """A file-name-safe version of a statistic's name (lower case letters, digits, underscores)."""
    return re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "statistic"


def _figure(w: float, h: float) -> Figure:
    fig = Figure(figsize=(w, h), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})


def _title(stat: Statistic, d: StatDistance | None) -> str:
    unit = f" ({stat.unit})" if stat.unit else ""
    dist = f"  -  distance {d.normalized:.2f}" if d is not None else ""
    return f"{stat.label}{unit}{dist}"


def _bin_edges(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Shared bins of two samples: unit-wide bins centred on the integers for small integer ranges (counts),
    else up to 40 bins of equal width between the pooled 0.5 and 99.5 percentiles."""
    both = np.concatenate([a, b])
    lo, hi = float(both.min()), float(both.max())
    if np.all(both == np.round(both)) and hi - lo <= 60:
        return np.arange(lo - 0.5, hi + 1.5)
    lo, hi = (float(v) for v in np.percentile(both, [0.5, 99.5]))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    n = int(np.clip(np.sqrt(len(both)) * 2, 10, 40))
    return np.linspace(lo, hi, n + 1)


def plot_scalar(path: Path, o: Statistic, r: Statistic, d: StatDistance | None) -> None:
    """Overlaid density histograms of a scalar statistic (values beyond the shared range clipped into its end
    bins); a second panel with the pooled pixel histograms where the statistic has them."""
    a, b = np.asarray(o.values, np.float64), np.asarray(r.values, np.float64)
    pixel = o.histogram is not None and r.histogram is not None
    fig = _figure(9.0 if pixel else 5.5, 3.4)
    axes = fig.subplots(1, 2 if pixel else 1, squeeze=False)[0]
    ax = axes[0]
    edges = _bin_edges(a, b)
    for v, colour, name in ((a, OURS, "ours"), (b, REF, "reference")):
        ax.hist(np.clip(v, edges[0], edges[-1]), bins=edges, density=True, histtype="stepfilled", alpha=0.35,
                color=colour, label=f"{name} (n={len(v)}, median {np.median(v):.3g})")
        ax.hist(np.clip(v, edges[0], edges[-1]), bins=edges, density=True, histtype="step", color=colour)
    ax.set_xlabel(f"{o.label} per {o.per}" + (f" ({o.unit})" if o.unit else ""))
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.set_title(_title(o, d), fontsize=10)
    if pixel:
        ax2 = axes[1]
        centres = 0.5 * (o.bin_edges[:-1] + o.bin_edges[1:])
        width = float(np.diff(o.bin_edges).mean())
        ax2.bar(centres, o.histogram, width=width, color=OURS, alpha=0.45, label="ours")
        ax2.bar(centres, r.histogram, width=width, color=REF, alpha=0.45, label="reference")
        ax2.set_xlabel(f"{o.label} of every pixel")
        ax2.set_ylabel("share of pixels")
        ax2.legend(fontsize=8)
        ax2.set_title("pooled pixel histogram", fontsize=10)
    _save(fig, path)


def plot_categorical(path: Path, o: Statistic, r: Statistic, d: StatDistance | None) -> None:
    """Side-by-side bars of the shares of each category (the :data:`MAX_CATEGORIES` largest on either side)."""
    def shares(values):
        cats, counts = np.unique(np.asarray(values, dtype=str), return_counts=True)
        return dict(zip(cats.tolist(), (counts / counts.sum()).tolist()))

    p, q = shares(o.values), shares(r.values)
    cats = sorted(set(p) | set(q), key=lambda c: (-max(p.get(c, 0.0), q.get(c, 0.0)), c))[:MAX_CATEGORIES]
    x = np.arange(len(cats))
    fig = _figure(max(5.5, 0.5 * len(cats) + 2.5), 3.6)
    ax = fig.subplots()
    ax.bar(x - 0.2, [p.get(c, 0.0) for c in cats], 0.4, color=OURS, label=f"ours (n={o.n})")
    ax.bar(x + 0.2, [q.get(c, 0.0) for c in cats], 0.4, color=REF, label=f"reference (n={r.n})")
    ax.set_xticks(x)
    ax.set_xticklabels(cats, rotation=30 if len(cats) > 4 else 0, ha="right" if len(cats) > 4 else "center",
                       fontsize=8)
    ax.set_ylabel(f"share of {plural(o.per)}")
    ax.legend(fontsize=8)
    ax.set_title(_title(o, d), fontsize=10)
    _save(fig, path)


def plot_points2d(path: Path, o: Statistic, r: Statistic, d: StatDistance | None) -> None:
    """Side-by-side heat maps (shares per cell of a 20 x 20 grid over [0, 1]^2, one colour scale); box centres
    drawn in image coordinates (y down)."""
    axes_names = o.axes if len(o.axes) == 2 else ("x", "y")
    grids = []
    for s in (o, r):
        v = np.clip(np.asarray(s.values, np.float64), 0.0, 1.0)
        h, _, _ = np.histogram2d(v[:, 0], v[:, 1], bins=HEAT_BINS, range=[[0, 1], [0, 1]])
        grids.append(h.T / max(len(v), 1))
    vmax = max(float(g.max()) for g in grids) or 1.0
    fig = _figure(9.0, 4.0)
    axs = fig.subplots(1, 2)
    image_coords = o.name == "box_center"
    for ax, g, s, name in zip(axs, grids, (o, r), ("ours", "reference")):
        im = ax.imshow(g, origin="upper" if image_coords else "lower", extent=(0, 1, 1, 0) if image_coords
                       else (0, 1, 0, 1), vmin=0.0, vmax=vmax, cmap="viridis", aspect="auto")
        ax.set_xlabel(axes_names[0])
        ax.set_ylabel(axes_names[1])
        ax.set_title(f"{name} (n={s.n})", fontsize=10)
    fig.colorbar(im, ax=list(axs), shrink=0.85, label=f"share of {plural(o.per)}")
    fig.suptitle(_title(o, d), fontsize=10)
    fig.savefig(path, format="png", metadata={"Software": None})


def pca_2d(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both samples projected on the first two principal components of the pooled, centred samples.

    Returns (n, 2) and (m, 2) float64 projections and the (2,) explained variance ratios. Each component's sign
    is fixed (its largest loading positive), so the picture does not flip between runs."""
    both = np.concatenate([a, b]).astype(np.float64)
    mean = both.mean(axis=0)
    _, s, vt = np.linalg.svd(both - mean, full_matrices=False)
    comps = vt[:2]
    signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    comps = comps * signs[:, None]
    var = s ** 2
    ratio = var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)
    if len(comps) < 2:  # a single sample or dimension: pad a zero component
        comps = np.vstack([comps, np.zeros((2 - len(comps), both.shape[1]))])
        ratio = np.pad(ratio, (0, 2 - len(ratio)))
    return (a - mean) @ comps.T, (b - mean) @ comps.T, ratio


def plot_embedding(path: Path, o: Statistic, r: Statistic, d: StatDistance | None) -> None:
    """Scatter of both sides on the first two principal components of the pooled samples (for hand
    articulation: poses ours covers and misses)."""
    pa, pb, ratio = pca_2d(np.asarray(o.values), np.asarray(r.values))
    fig = _figure(5.5, 4.2)
    ax = fig.subplots()
    ax.scatter(pb[:, 0], pb[:, 1], s=10, color=REF, alpha=0.6, label=f"reference (n={r.n})")
    ax.scatter(pa[:, 0], pa[:, 1], s=10, color=OURS, alpha=0.6, marker="x", label=f"ours (n={o.n})")
    ax.set_xlabel(f"principal component 1 ({ratio[0]:.0%} of the variance)")
    ax.set_ylabel(f"principal component 2 ({ratio[1]:.0%})")
    cov = d.details.get("coverage") if d is not None else None
    ax.set_title(_title(o, d) + (f"\ncoverage of the reference {cov:.0%}" if cov is not None else ""), fontsize=10)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_summary(path: Path, distances: list[StatDistance], titles: dict[str, str], learned: dict,
                 clear: set[str] | None = None) -> None:
    """Horizontal bars of every normalized distance, largest on top, coloured by group, with the classifier's
    ``2 accuracy - 1`` as a learned bar; the dashed line marks :data:`distances.ALIKE` (below it: alike). Bars of
    statistics not in ``clear`` (small, or within sampling noise) are faded; None: none faded."""
    rows = [(titles.get(d.name, d.name), d.normalized, d.group, clear is None or d.name in clear)
            for d in distances]
    c2 = learned.get("c2st") or {}
    if "normalized" in c2:
        rows.append(("two-sample classifier (2 acc - 1)", float(c2["normalized"]), "learned", True))
    rows.sort(key=lambda t: -t[1])
    fig = _figure(7.0, max(2.5, 0.28 * len(rows) + 1.2))
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    ax.barh(y, [r[1] for r in rows], color=[to_rgba(GROUP_COLOURS[r[2]], 1.0 if r[3] else 0.35) for r in rows])
    ax.set_yticks(y)
    ax.set_yticklabels([f"{n} ({g})" for n, _, g, _ in rows], fontsize=8)
    ax.axvline(ALIKE, color="grey", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("normalized distance: 0 = same distribution, about 1 = disjoint")
    ax.set_title("Gap per statistic (faded: below 0.1 or within sampling noise)", fontsize=9)
    _save(fig, path)


def plot_c2st(path: Path, p_ours: np.ndarray, p_ref: np.ndarray, accuracy: float) -> None:
    """Histograms of the classifier's held-out probability that an image is a reference image, per side."""
    fig = _figure(5.5, 3.4)
    ax = fig.subplots()
    edges = np.linspace(0, 1, 21)
    ax.hist(p_ours, bins=edges, color=OURS, alpha=0.5, label=f"our images (n={len(p_ours)})")
    ax.hist(p_ref, bins=edges, color=REF, alpha=0.5, label=f"reference images (n={len(p_ref)})")
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("held-out probability of 'reference image'")
    ax.set_ylabel("images")
    ax.set_title(f"Two-sample classifier: held-out accuracy {accuracy:.0%} (50% = indistinguishable)", fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, path)


_PLOTTERS = {"scalar": plot_scalar, "categorical": plot_categorical, "points2d": plot_points2d,
             "embedding": plot_embedding}


def write_plots(folder, ours: dict[str, Statistic], ref: dict[str, Statistic], distances: list[StatDistance],
                learned: dict, p_ref: dict[str, np.ndarray] | None = None,
                clear: set[str] | None = None) -> dict[str, str]:
    """Write every plot into ``folder`` (which must exist).

    Parameters
    ----------
    ours, ref : dict name -> Statistic
        Both sides' statistics; every statistic on both sides (with samples) gets a figure.
    distances : list of StatDistance
        Their distances (titles and the summary chart).
    learned : dict
        The report's learned section (the classifier's accuracy and normalized value, when it ran).
    p_ref : dict side -> (n,) float64, optional
        The classifier's held-out probabilities (``"ours"``, ``"reference"``) for its histogram.
    clear : set of str, optional
        Names of the clear differences (full colour in the summary chart; the others faded).

    Returns
    -------
    dict
        ``{plot key: file name}``: each statistic's name, ``"summary"``, and ``"c2st"`` when drawn.
    """
    folder = Path(folder)
    by_name = {d.name: d for d in distances}
    files: dict[str, str] = {}
    titles = {k: v.label for k, v in ours.items()}
    plot_summary(folder / "summary.png", distances, titles, learned, clear)
    files["summary"] = "summary.png"
    for name in sorted(ours):
        o, r = ours[name], ref.get(name)
        if r is None or o.kind != r.kind or not o.n or not r.n:
            continue
        fname = f"{safe_name(name)}.png"
        _PLOTTERS[o.kind](folder / fname, o, r, by_name.get(name))
        files[name] = fname
    c2 = learned.get("c2st") or {}
    if p_ref and "accuracy" in c2 and "ours" in p_ref and "reference" in p_ref:
        plot_c2st(folder / "c2st.png", p_ref["ours"], p_ref["reference"], float(c2["accuracy"]))
        files["c2st"] = "c2st.png"
    return files
