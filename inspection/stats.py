"""``gtforge stats``: what a dataset contains, as numbers, a terminal table and PNG plots.

Figures (all from the written files): instances per class (all and visible), the
histograms of ``visib_fract`` and truncation (10 bins over [0, 1]), occlusion levels
(0/1/2/3), visible box sizes (sqrt of the ``bbox_visib`` area, and COCO's
small/medium/large by visible area: < 32^2, < 96^2, larger), and viewpoint coverage:
the camera's azimuth and elevation in each object's frame (camera centre
``-R^T t`` in model coordinates; azimuth from model +x towards +y, elevation
above the model's xy plane), as a 12 x 6 histogram (30 degree bins) and the
share of bins hit.

View control (``scenes/views.py``): ``occlusion_level_shares``, the shares of the occlusion levels over
the labelled objects of all frames (hands left out), ``all`` (levels 0-3 over every object) and
``in_frame`` (levels 0-2 over the objects in frame, level 3 left out); ``azimuth_coverage``, the camera
azimuth in the frame of each visible labelled object over equal bins of [-180, 180) degrees (the recipe's
``camera.coverage.azimuth_bins``, else 12), with the largest deviation of a bin's share from uniform; and,
when the dataset's ``recipe.yaml`` asks for them, ``view_targets``: the wanted level shares
(``camera.occlusion_targets.levels``), the achieved ones over the same instances (``all`` when level 3 is
listed, else ``in_frame``) and the largest absolute difference in percentage points.

Appearance coverage (``appearance``, from each scene's ``scene_appearance.json``; the string
``"not recorded"`` for datasets built before it existed): textured surfaces counted by
texture family, overall and per surface kind (objects, distractors, floor, walls; one
surface per instance, floor or wall of a scene), distinct texture keys, material modes per
surface kind, backdrop kinds and photo families, lights per scene (histogram), light kinds,
colour temperatures of the lights that have one (min / median / max and a histogram in
1000 K bins over [1000, 15000) K, values outside clipped into the end bins) and the share of
scenes with shadows on.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import yaml
from rich.console import Console
from rich.table import Table

from ..formats.dataset import RECIPE_COPY, Dataset

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


SURFACE_KINDS = ("objects", "distractors", "floor", "walls")
TEMP_EDGES = np.arange(1000, 15001, 1000)
NOT_RECORDED = "not recorded"


def _surfaces(app: dict):
    """(surface kind, material record) of every surface of one ``scene_appearance.json``."""
    for o in app.get("objects", []):
        yield "objects", o.get("material") or {}
    for d in app.get("distractors", []):
        yield "distractors", d.get("material") or {}
    if app.get("floor"):
        yield "floor", app["floor"].get("material") or {}
    for w in app.get("walls", []):
        yield "walls", w.get("material") or {}


def appearance_stats(records: list[dict]) -> dict | str:
    """Appearance coverage of a dataset from its scenes' ``scene_appearance.json`` contents.

    Parameters
    ----------
    records : list of dict
        One ``formats.bop.scene_appearance`` record per scene that has one.

    Returns
    -------
    dict or str
        :data:`NOT_RECORDED` when ``records`` is empty; otherwise ``scenes``, ``texture_families``
        ({family: textured surfaces}), ``texture_families_by_surface`` ({kind: {family: n}}),
        ``distinct_textures`` (distinct (family, key) pairs, backdrop photos included), ``material_modes``
        ({kind: {mode: n}}), ``backdrop_kinds``, ``backdrop_photo_families``, ``lights_per_scene``
        ({count as a string: scenes}), ``light_kinds``, ``temperature_k`` (``count``, ``min``, ``median``,
        ``max`` (None without any), ``edges``, ``counts``) and ``shadows_share`` (scenes with shadows on /
        scenes).
    """
    if not records:
        return NOT_RECORDED
    fam, modes = Counter(), {k: Counter() for k in SURFACE_KINDS}
    fam_by = {k: Counter() for k in SURFACE_KINDS}
    keys: set = set()
    bd_kinds, bd_fams, n_lights, l_kinds, temps, shadows = Counter(), Counter(), Counter(), Counter(), [], 0
    for app in records:
        for kind, mat in _surfaces(app):
            modes[kind][mat.get("mode", "asset")] += 1
            tex = mat.get("texture")
            if tex:
                fam[tex["family"]] += 1
                fam_by[kind][tex["family"]] += 1
                keys.add((tex["family"], tex["key"]))
        bd = app.get("backdrop") or {}
        bd_kinds[bd.get("kind", "color")] += 1
        if bd.get("photo"):
            bd_fams[bd["photo"]["family"]] += 1
            keys.add((bd["photo"]["family"], bd["photo"]["key"]))
        lights = app.get("lights", [])
        n_lights[len(lights)] += 1
        for li in lights:
            l_kinds[li.get("kind", "directional")] += 1
            if li.get("temperature_k") is not None:
                temps.append(float(li["temperature_k"]))
        shadows += bool(app.get("shadows"))
    t = np.asarray(temps)
    clipped = np.clip(t, TEMP_EDGES[0], TEMP_EDGES[-1] - 1)
    return {
        "scenes": len(records),
        "texture_families": dict(sorted(fam.items())),
        "texture_families_by_surface": {k: dict(sorted(v.items())) for k, v in fam_by.items()},
        "distinct_textures": len(keys),
        "material_modes": {k: dict(sorted(v.items())) for k, v in modes.items()},
        "backdrop_kinds": dict(sorted(bd_kinds.items())),
        "backdrop_photo_families": dict(sorted(bd_fams.items())),
        "lights_per_scene": {str(k): n_lights[k] for k in sorted(n_lights)},
        "light_kinds": dict(sorted(l_kinds.items())),
        "temperature_k": {"count": len(t), "min": float(t.min()) if len(t) else None,
                          "median": float(np.median(t)) if len(t) else None,
                          "max": float(t.max()) if len(t) else None, "edges": TEMP_EDGES.tolist(),
                          "counts": np.histogram(clipped, TEMP_EDGES)[0].tolist()},
        "shadows_share": shadows / len(records),
    }


def level_shares(levels: list[int]) -> dict:
    """Occlusion-level shares of labelled objects.

    Parameters
    ----------
    levels : list of int
        One occlusion level (0-3; 3 = nothing in frame) per labelled object and frame.

    Returns
    -------
    dict
        ``objects`` (count), ``objects_in_frame`` (count of levels 0-2), ``all`` ({"0".."3": share of all}) and
        ``in_frame`` ({"0".."2": share of those in frame}); shares are 0.0 without instances.
    """
    c = Counter(levels)
    n = sum(c.values())
    n_in = sum(c[k] for k in range(3))
    return {"objects": n, "objects_in_frame": n_in,
            "all": {str(k): c[k] / n if n else 0.0 for k in range(4)},
            "in_frame": {str(k): c[k] / n_in if n_in else 0.0 for k in range(3)}}


def azimuth_coverage(azimuths: list[float], bins: int = 12) -> dict:
    """Histogram of camera azimuths (degrees, in object frames) over ``bins`` equal bins of [-180, 180).

    Returns
    -------
    dict
        ``bins``, ``edges`` (bins + 1 degrees), ``counts``, ``shares`` and ``max_abs_dev_pp`` (largest
        |share - 1 / bins| in percentage points; 0.0 without azimuths).
    """
    edges = np.linspace(-180.0, 180.0, bins + 1)
    a = np.asarray(azimuths, dtype=np.float64)
    idx = np.clip(np.floor((a + 180.0) / 360.0 * bins).astype(np.int64), 0, bins - 1) if len(a) else np.zeros(0, int)
    counts = np.bincount(idx, minlength=bins)
    shares = counts / counts.sum() if counts.sum() else np.zeros(bins)
    dev = float(np.abs(shares - 1.0 / bins).max() * 100) if counts.sum() else 0.0
    return {"bins": bins, "edges": edges.tolist(), "counts": counts.tolist(), "shares": shares.tolist(),
            "max_abs_dev_pp": dev}


def recipe_camera(ds: Dataset) -> dict:
    """The ``camera`` section of the dataset's ``recipe.yaml`` ({} when absent or unreadable)."""
    path = ds.root / RECIPE_COPY
    try:
        cam = (yaml.safe_load(path.read_text()) or {}).get("camera")
    except Exception:  # noqa: BLE001 - a missing or unreadable copy leaves these figures out, never stats
        return {}
    return cam if isinstance(cam, dict) else {}


def view_targets(camera: dict, shares: dict) -> dict | None:
    """Wanted against achieved occlusion-level shares (None when the recipe has no ``occlusion_targets``).

    Parameters
    ----------
    camera : dict
        The recipe copy's ``camera`` section.
    shares : dict
        :func:`level_shares` of the dataset.

    Returns
    -------
    dict or None
        ``over`` ('all' when level 3 is listed, else 'in_frame'), ``target`` and ``achieved`` ({level: share}
        over those instances, levels 0-2 or 0-3) and ``max_abs_error_pp``.
    """
    ot = camera.get("occlusion_targets") if isinstance(camera, dict) else None
    if not isinstance(ot, dict) or not isinstance(ot.get("levels"), dict):
        return None
    want = {int(k): float(v) for k, v in ot["levels"].items()}
    over = "all" if 3 in want else "in_frame"
    got = shares[over]
    levels = range(4) if over == "all" else range(3)
    target = {str(k): want.get(k, 0.0) for k in levels}
    err = max(abs(target[str(k)] - got[str(k)]) for k in levels) * 100
    return {"over": over, "target": target, "achieved": {str(k): got[str(k)] for k in levels},
            "max_abs_error_pp": float(err)}


def compute_stats(ds: Dataset) -> dict:
    """All figures as plain Python types (what ``--json`` prints)."""
    per_class, visible_per_class = Counter(), Counter()
    visib, trunc, levels, sizes, areas = [], [], Counter(), [], []
    views: dict[str, list] = {}
    object_levels: list[int] = []
    azimuths: list[float] = []
    frames = 0
    for fr in ds.frames():
        frames += 1
        for instance in fr.instances:
            if instance.hand_id is None:
                object_levels.append(int(instance.occlusion_level) if instance.occlusion_level is not None else 3)
                if instance.px_count_visib > 0 and instance.cam_T_model is not None:
                    azimuths.append(viewpoint(instance.cam_T_model)[0])
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
    camera = recipe_camera(ds)
    cov = camera.get("coverage") if isinstance(camera.get("coverage"), dict) else {}
    az_bins = cov.get("azimuth_bins", 12)
    az_bins = az_bins if isinstance(az_bins, int) and az_bins >= 1 else 12
    shares = level_shares(object_levels)
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
        "occlusion_level_shares": shares,
        "azimuth_coverage": azimuth_coverage(azimuths, az_bins),
        "view_targets": view_targets(camera, shares),
        "box_size_hist": {"edges": SIZE_EDGES, "counts": np.histogram(sizes, SIZE_EDGES)[0].tolist()},
        "coco_size": {"small": int((areas_a < 32**2).sum()),
                      "medium": int(((areas_a >= 32**2) & (areas_a < 96**2)).sum()),
                      "large": int((areas_a >= 96**2).sum())},
        "viewpoints": {"azimuth_edges": AZ_EDGES.tolist(), "elevation_edges": EL_EDGES.tolist(),
                       "counts": hist2d.astype(int).tolist(),
                       "coverage": float((hist2d > 0).mean()),
                       "per_class_coverage": {
                           k: float((np.histogram2d(np.array(v)[:, 0], np.array(v)[:, 1],
                                                    [AZ_EDGES, EL_EDGES])[0] > 0).mean())
                           for k, v in sorted(views.items())}},
        "appearance": appearance_stats([a for a in map(ds.appearance, ds.scene_dirs()) if a is not None]),
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
    import matplotlib  # noqa: PLC0415 - the Agg backend is chosen before pyplot loads; only the plots need matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - the Agg backend is chosen before pyplot loads; only the plots need matplotlib

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

    app = stats.get("appearance")
    if isinstance(app, dict):
        save(appearance_figure(app, plt), "appearance.png")
    return paths


def appearance_figure(app: dict, plt):
    """The appearance coverage plot: textured surfaces by family and surface kind, material modes, lights per
    scene, light kinds, colour temperatures, backdrop kinds (a matplotlib figure)."""
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    ax = axes[0, 0]
    fams = sorted(app["texture_families"])
    bottom = np.zeros(len(fams))
    for kind in SURFACE_KINDS:
        v = np.array([app["texture_families_by_surface"][kind].get(f, 0) for f in fams], dtype=float)
        ax.bar(range(len(fams)), v, bottom=bottom, label=kind)
        bottom += v
    ax.set_xticks(range(len(fams)), fams, rotation=45, ha="right", fontsize=7)
    ax.set_title(f"textured surfaces by family ({app['distinct_textures']} distinct textures)")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    modes = sorted({m for v in app["material_modes"].values() for m in v})
    x = np.arange(len(SURFACE_KINDS))
    bottom = np.zeros(len(SURFACE_KINDS))
    for m in modes:
        v = np.array([app["material_modes"][k].get(m, 0) for k in SURFACE_KINDS], dtype=float)
        ax.bar(x, v, bottom=bottom, label=m)
        bottom += v
    ax.set_xticks(x, SURFACE_KINDS)
    ax.set_title("material modes by surface")
    ax.legend(fontsize=7)
    ax = axes[0, 2]
    ax.bar(list(app["lights_per_scene"]), list(app["lights_per_scene"].values()), color="tab:orange")
    ax.set_xlabel("lights")
    ax.set_ylabel("scenes")
    ax.set_title(f"lights per scene (shadows: {100 * app['shadows_share']:.0f}%)")
    ax = axes[1, 0]
    ax.bar(list(app["light_kinds"]), list(app["light_kinds"].values()), color="tab:olive")
    ax.set_title("light kinds")
    ax = axes[1, 1]
    tk = app["temperature_k"]
    e = np.asarray(tk["edges"])
    ax.bar(e[:-1], tk["counts"], width=np.diff(e), align="edge", color="tab:red", edgecolor="white")
    ax.set_xlabel("colour temperature, K")
    ax.set_title("light colour temperatures" + ("" if tk["count"] else " (none recorded)"))
    ax = axes[1, 2]
    labels = list(app["backdrop_kinds"]) + [f"photo: {f}" for f in app["backdrop_photo_families"]]
    vals = list(app["backdrop_kinds"].values()) + list(app["backdrop_photo_families"].values())
    ax.barh(labels, vals, color="tab:purple")
    ax.set_title("backdrops")
    return fig


def print_table(stats: dict) -> None:
    """Human-readable summary with rich."""
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
    c.print(f"occlusion levels: 0 fully visible {lv['0']}, 1 partly {lv['1']}, 2 largely {lv['2']}, "
            f"3 unknown {lv['3']}")
    sh = stats["occlusion_level_shares"]["in_frame"]
    c.print("occlusion-level shares of objects in frame: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in sh.items()))
    vt = stats.get("view_targets")
    if vt:
        c.print(f"occlusion targets ({vt['over']}): " + ", ".join(
            f"{k} {100 * vt['achieved'][k]:.1f}% (target {100 * t:.1f}%)" for k, t in vt["target"].items())
            + f"; largest error {vt['max_abs_error_pp']:.1f} pp")
    az = stats["azimuth_coverage"]
    c.print(f"camera azimuth in object frames: {az['bins']} bins, largest deviation from uniform "
            f"{az['max_abs_dev_pp']:.1f} pp")
    cs = stats["coco_size"]
    c.print(f"visible size (COCO): small {cs['small']}, medium {cs['medium']}, large {cs['large']}; "
            f"viewpoint coverage {100 * stats['viewpoints']['coverage']:.0f}% of 30-degree azimuth x elevation bins")
    for line in appearance_lines(stats.get("appearance", NOT_RECORDED)):
        c.print(line, markup=False, highlight=False)


def _counts(d: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items()) or "none"


def appearance_lines(app) -> list[str]:
    """The appearance part of the printed report (``appearance: not recorded`` for older builds)."""
    if not isinstance(app, dict):
        return [f"appearance: {NOT_RECORDED}"]
    tk = app["temperature_k"]
    temps = (f"{tk['min']:.0f} / {tk['median']:.0f} / {tk['max']:.0f} K (min / median / max, {tk['count']} lights)"
             if tk["count"] else "none recorded")
    lines = [f"appearance ({app['scenes']} scenes): {app['distinct_textures']} distinct textures",
             f"  textured surfaces by family: {_counts(app['texture_families'])}"]
    lines += [f"    {k}: {_counts(app['texture_families_by_surface'][k])}" for k in SURFACE_KINDS]
    lines += [f"  material modes, {k}: {_counts(app['material_modes'][k])}" for k in SURFACE_KINDS]
    lines += [f"  backdrops: {_counts(app['backdrop_kinds'])}; "
              f"photo families: {_counts(app['backdrop_photo_families'])}",
              f"  lights per scene: {_counts(app['lights_per_scene'])}; kinds: {_counts(app['light_kinds'])}",
              f"  colour temperature: {temps}",
              f"  shadows: {100 * app['shadows_share']:.0f}% of scenes"]
    return lines
