"""``gtforge stats``: what a dataset contains, as numbers, a terminal table and PNG plots.

Figures (all from the written files): instances per class (all and visible), the
histograms of ``visib_fract`` and truncation (10 bins over [0, 1]), occlusion levels
(0/1/2/3), visible box sizes (sqrt of the ``bbox_visib`` area, and COCO's
small/medium/large by visible area: < 32^2, < 96^2, larger), and viewpoint coverage:
the camera's azimuth and elevation in each object's frame (camera centre
``-R^T t`` in model coordinates; azimuth from model +x towards +y, elevation
above the model's xy plane), as a 12 x 6 histogram (30 degree bins) and the
share of bins hit.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ..formats.dataset import Dataset

SIZE_EDGES = [0, 8, 16, 32, 64, 128, 256, 512, 1e9]
AZ_EDGES = np.arange(-180, 181, 30)
EL_EDGES = np.arange(-90, 91, 30)


def viewpoint(cam_T_model: np.ndarray) -> tuple[float, float]:
    """(azimuth, elevation) in degrees of the camera centre in the model frame."""
    R, t = cam_T_model[:3, :3], cam_T_model[:3, 3]
    p = -R.T @ t
    az = float(np.degrees(np.arctan2(p[1], p[0])))
    el = float(np.degrees(np.arcsin(np.clip(p[2] / max(np.linalg.norm(p), 1e-12), -1, 1))))
    return az, el


def compute_stats(ds: Dataset) -> dict:
    """All figures as plain Python types (what ``--json`` prints)."""
    per_class, visible_per_class = Counter(), Counter()
    visib, trunc, levels, sizes, areas = [], [], Counter(), [], []
    views: dict[str, list] = {}
    frames = 0
    for fr in ds.frames():
        frames += 1
        for instance in fr.instances:
            name = ds.class_name(instance.obj_id)
            per_class[name] += 1
            visib.append(instance.visib_fract)
            if instance.truncation is not None:
                trunc.append(instance.truncation)
            levels[int(instance.occlusion_level) if instance.occlusion_level is not None else 3] += 1
            if instance.px_count_visib > 0:
                visible_per_class[name] += 1
                w, h = instance.bbox_visib[2], instance.bbox_visib[3]
                sizes.append(float(np.sqrt(w * h)))
                areas.append(instance.px_count_visib)
                if instance.cam_T_model is not None:
                    views.setdefault(name, []).append(viewpoint(instance.cam_T_model))
    bins = np.linspace(0, 1, 11)
    all_views = np.array([v for vs in views.values() for v in vs]).reshape(-1, 2)
    hist2d = np.histogram2d(all_views[:, 0], all_views[:, 1], bins=[AZ_EDGES, EL_EDGES])[0] if len(all_views) else \
        np.zeros((len(AZ_EDGES) - 1, len(EL_EDGES) - 1))
    areas_a = np.asarray(areas)
    return {
        "dataset": str(ds.root),
        "scenes": len(ds.scene_dirs()),
        "frames": frames,
        "instances": int(sum(per_class.values())),
        "visible_instances": int(sum(visible_per_class.values())),
        "per_class": {k: {"instances": per_class[k], "visible": visible_per_class[k]} for k in sorted(per_class)},
        "visib_fract_hist": {"edges": bins.tolist(), "counts": np.histogram(visib, bins)[0].tolist()},
        "truncation_hist": {"edges": bins.tolist(), "counts": np.histogram(trunc, bins)[0].tolist()},
        "occlusion_levels": {str(k): levels[k] for k in range(4)},
        "box_size_hist": {"edges": SIZE_EDGES, "counts": np.histogram(sizes, SIZE_EDGES)[0].tolist()},
        "coco_size": {"small": int((areas_a < 32**2).sum()), "medium": int(((areas_a >= 32**2) & (areas_a < 96**2)).sum()),
                      "large": int((areas_a >= 96**2).sum())},
        "viewpoints": {"azimuth_edges": AZ_EDGES.tolist(), "elevation_edges": EL_EDGES.tolist(),
                       "counts": hist2d.astype(int).tolist(),
                       "coverage": float((hist2d > 0).mean()),
                       "per_class_coverage": {
                           k: float((np.histogram2d(np.array(v)[:, 0], np.array(v)[:, 1], [AZ_EDGES, EL_EDGES])[0] > 0).mean())
                           for k, v in sorted(views.items())}},
        "_views": {k: v for k, v in views.items()},
        "_visib": visib,
        "_trunc": trunc,
        "_sizes": sizes,
    }


def reportable(stats: dict) -> dict:
    """The figures without the raw per-instance lists."""
    return {k: v for k, v in stats.items() if not k.startswith("_")}


def write_plots(stats: dict, out_dir) -> list[Path]:
    """Write the PNG plots into ``out_dir``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []

    def save(fig, name):
        p = out / name
        fig.tight_layout()
        fig.savefig(p, dpi=100)
        plt.close(fig)
        paths.append(p)

    names = list(stats["per_class"])
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(names)), 4))
    x = np.arange(len(names))
    ax.bar(x - 0.2, [stats["per_class"][n]["instances"] for n in names], 0.4, label="all")
    ax.bar(x + 0.2, [stats["per_class"][n]["visible"] for n in names], 0.4, label="visible")
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax.set_title("instances per class")
    ax.legend()
    save(fig, "instances_per_class.png")

    for key, raw, title, fname in (("visib_fract_hist", "_visib", "visib_fract", "visib_fract.png"),
                                   ("truncation_hist", "_trunc", "truncation", "truncation.png")):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.hist(stats[raw], bins=stats[key]["edges"], color="tab:blue", edgecolor="white")
        ax.set_xlabel(title)
        ax.set_ylabel("instances")
        ax.set_title(f"{title} histogram")
        save(fig, fname)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    lv = stats["occlusion_levels"]
    ax.bar(["0 fully\nvisible", "1 partly", "2 largely", "3 unknown"], [lv[str(k)] for k in range(4)],
           color=["#2ecc40", "#ffa500", "#e62828", "#a0a0a0"])
    ax.set_title("occlusion levels")
    save(fig, "occlusion_levels.png")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    edges = [e for e in SIZE_EDGES[:-1]] + [1024]
    ax.hist(np.clip(stats["_sizes"], 0, 1023), bins=edges, color="tab:green", edgecolor="white")
    ax.set_xscale("symlog", linthresh=8)
    ax.set_xlabel("sqrt(visible box area), px")
    ax.set_title("visible box sizes")
    save(fig, "box_sizes.png")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, v in sorted(stats["_views"].items()):
        v = np.asarray(v)
        ax.scatter(v[:, 0], v[:, 1], s=6, label=name)
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_xlabel("azimuth in object frame, deg")
    ax.set_ylabel("elevation, deg")
    ax.set_title(f"viewpoint coverage ({100 * stats['viewpoints']['coverage']:.0f}% of 30 deg bins)")
    if len(stats["_views"]) <= 12:
        ax.legend(fontsize=6, markerscale=2, loc="lower left")
    save(fig, "viewpoints.png")
    return paths


def print_table(stats: dict) -> None:
    """Human-readable summary with rich."""
    from rich.console import Console
    from rich.table import Table

    c = Console()
    c.print(f"[bold]{stats['dataset']}[/bold]: {stats['scenes']} scenes, {stats['frames']} frames, "
            f"{stats['instances']} instances ({stats['visible_instances']} visible)")
    t = Table(title="instances per class")
    t.add_column("class")
    t.add_column("instances", justify="right")
    t.add_column("visible", justify="right")
    t.add_column("viewpoint coverage", justify="right")
    for k, v in stats["per_class"].items():
        cov = stats["viewpoints"]["per_class_coverage"].get(k, 0.0)
        t.add_row(k, str(v["instances"]), str(v["visible"]), f"{100 * cov:.0f}%")
    c.print(t)
    h = Table(title="visibility")
    h.add_column("bin")
    h.add_column("visib_fract", justify="right")
    h.add_column("truncation", justify="right")
    e = stats["visib_fract_hist"]["edges"]
    for i, (a, b) in enumerate(zip(stats["visib_fract_hist"]["counts"], stats["truncation_hist"]["counts"])):
        h.add_row(f"[{e[i]:.1f}, {e[i + 1]:.1f})", str(a), str(b))
    c.print(h)
    lv = stats["occlusion_levels"]
    c.print(f"occlusion levels: 0 fully visible {lv['0']}, 1 partly {lv['1']}, 2 largely {lv['2']}, 3 unknown {lv['3']}")
    cs = stats["coco_size"]
    c.print(f"visible size (COCO): small {cs['small']}, medium {cs['medium']}, large {cs['large']}; "
            f"viewpoint coverage {100 * stats['viewpoints']['coverage']:.0f}% of 30-degree azimuth x elevation bins")
