"""End-to-end: targets and unlabelled distractors in one small build, checked against the ray-cast oracle.

The oracle (``gtforge.inspection.raycast``) reads only the written files: the target models
(``models/``) at their ``scene_gt`` poses, the distractor models (``models_distractors/``) at their
world poses from ``scene_env.json`` moved into each camera with ``scene_camera.json``, and the floor and
bin walls. Distractors must occlude exactly as the oracle predicts and never be labelled.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import run_cli
from scipy.ndimage import binary_erosion

from gtforge.formats.bop import (
    DISTRACTOR_MODELS, distractor_poses, gt_pose, load_json, read_depth, read_mask, read_scene,
)
from gtforge.inspection.raycast import DISTRACTOR_OWNER, cast, distractor_meshes_world, load_models, static_meshes_world

#: target sets (labelled) and distractor sets (never labelled), all shipped with pybullet
RECIPE = {
    "seed": 3,
    "scenes": {"count": 2, "views_per_scene": 2},
    "camera": {"width": 160, "height": 120, "intrinsics": {"fx": 143.1, "fy": 143.4, "cx": 81.3, "cy": 60.5},
               "znear": 0.05, "zfar": 5.0, "distance": {"min": 0.4, "max": 0.55},
               "elevation_deg": {"min": 30, "max": 55}, "azimuth_deg": {"min": 0, "max": 360},
               "look_at": {"center": [0.0, 0.0, 0.03], "jitter": 0.02}},
    "objects": [
        {"name": "duck", "source": "pkg://pybullet_data/duck_vhacd.urdf", "count": {"min": 1, "max": 2}},
        {"name": "lego", "source": "pkg://pybullet_data/lego/lego.urdf", "count": {"min": 2, "max": 2}},
        {"name": "jenga", "source": "pkg://pybullet_data/jenga/jenga.urdf", "count": {"min": 1, "max": 2}},
        {"name": "blob", "source": "pkg://pybullet_data/random_urdfs/00[0-9]/*.urdf", "count": {"min": 5, "max": 6},
         "role": "distractor"},
        {"name": "teddy", "source": "pkg://pybullet_data/teddy_vhacd.urdf", "count": {"min": 1, "max": 1},
         "role": "distractor"},
    ],
    "clutter": {"support": "bin", "bin": {"size": [0.3, 0.25], "height": 0.08, "wall_thickness": 0.01},
                "drop": {"half_extent": [0.07, 0.06], "height": {"min": 0.06, "max": 0.25}}, "max_settle_time": 3.0},
    "appearance": {"distractors": {"asset": 1, "color": 1, "texture": 1}, "textures": ["procedural://all"]},
    "output": {"formats": ["bop", "coco"], "split": "train_pbr"},
}
TARGET_NAMES = {"duck", "lego", "jenga"}
pytestmark = pytest.mark.e2e  # builds a dataset
DISTRACTOR_SETS = {"blob", "teddy"}


@pytest.fixture(scope="module")
def distractors_build(tmp_path_factory):
    """The recipe above, built once (160 x 120, 2 scenes x 2 views)."""
    base = tmp_path_factory.mktemp("distractors")
    recipe = base / "distractors.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE, sort_keys=False))
    out = base / "ds"
    assert run_cli("build", recipe, "--out", out, "--quiet") == 0
    return out


@pytest.fixture(scope="module")
def distractor_oracle(distractors_build):
    """Per frame: the ray cast of targets + floor/walls + distractors, and of targets + floor/walls alone."""
    root = Path(distractors_build)
    models = load_models(root)
    dmodels = load_models(root, DISTRACTOR_MODELS)
    cam = json.loads((root / "camera.json").read_text())
    W, H = cam["width"], cam["height"]
    out = []
    for sd in sorted((root / "train_pbr").glob("[0-9]" * 6)):
        s = read_scene(sd)
        env = load_json(sd / "scene_env.json")
        for im_id in sorted(s["gt"]):
            c = s["camera"][im_id]
            K = np.asarray(c["cam_K"]).reshape(3, 3)
            cam_T_world = np.eye(4)
            cam_T_world[:3, :3] = np.asarray(c["cam_R_w2c"]).reshape(3, 3)
            cam_T_world[:3, 3] = np.asarray(c["cam_t_w2c"]) / 1000.0
            posed = [models[e["obj_id"]].copy().apply_transform(gt_pose(e)) for e in s["gt"][im_id]]
            statics = [m.apply_transform(cam_T_world) for m in static_meshes_world(env)]
            dis = [m.apply_transform(cam_T_world) for m in distractor_meshes_world(env, dmodels)]
            n = len(posed)
            depth_d, owner_d = cast(posed + statics + dis, K, W, H)
            owner_d = np.where(owner_d >= n + len(statics), DISTRACTOR_OWNER, np.where(owner_d >= n, -1, owner_d))
            _, owner_0 = cast(posed + statics, K, W, H)
            owner_0 = np.where(owner_0 >= n, -1, owner_0)
            depth_w = read_depth(sd / "depth" / f"{im_id:06d}.png", c["depth_scale"])
            masks = [read_mask(sd / "mask_visib" / f"{im_id:06d}_{g:06d}.png") for g in range(n)]
            out.append(dict(sd=sd, im_id=im_id, s=s, env=env, owner_d=owner_d, owner_0=owner_0, depth_d=depth_d,
                            depth_w=depth_w, masks=masks))
    assert len(out) == 4
    return out


def test_distractors_are_written_for_the_oracle(distractors_build):
    root = Path(distractors_build)
    meta = json.loads((root / "gtforge.json").read_text())
    assert {c["name"] for c in meta["classes"].values()} == TARGET_NAMES
    info = load_json(root / DISTRACTOR_MODELS / "models_info.json")
    placed = set()
    for sd in sorted((root / "train_pbr").glob("[0-9]" * 6)):
        env = load_json(sd / "scene_env.json")
        poses = distractor_poses(env)
        assert len(poses) >= 6  # 5-6 blobs and a teddy, none of them labelled
        placed.update(obj_id for obj_id, _ in poses)
        app = json.loads((sd / "scene_appearance.json").read_text())
        assert [d["obj_id"] for d in app["distractors"]] == [obj_id for obj_id, _ in poses]
        gt = load_json(sd / "scene_gt.json")
        assert all([e["obj_id"] for e in v] == [o["obj_id"] for o in app["objects"]] for v in gt.values())
        for _, T in poses:  # settled: resting in the bin, above the floor
            assert -0.01 < T[2, 3] < 0.3 and abs(T[0, 3]) < 0.2 and abs(T[1, 3]) < 0.2
    assert set(info) == placed
    assert all((root / DISTRACTOR_MODELS / f"obj_{i:06d}.ply").is_file() for i in placed)


def test_depth_matches_raycast_with_distractors(distractor_oracle):
    for r in distractor_oracle:
        both = (r["depth_d"] > 0) & (r["depth_w"] > 0)
        err = np.abs(r["depth_d"][both] - r["depth_w"][both])
        assert np.median(err) < 1e-3, (r["sd"], r["im_id"], np.median(err))
        assert np.mean(err < 5e-3) > 0.98, (r["sd"], r["im_id"], np.mean(err < 5e-3))
        assert (r["owner_d"] == DISTRACTOR_OWNER).sum() > 200  # distractors are in view


def test_no_distractor_pixel_in_any_mask_visib(distractor_oracle):
    """Pixels the oracle gives to a distractor, away from its outline (1 px erosion: silhouette edges of the
    rasteriser and the ray cast differ there), belong to no mask_visib."""
    inner_total, px_total, overlap = 0, 0, 0
    for r in distractor_oracle:
        dis = r["owner_d"] == DISTRACTOR_OWNER
        inner = binary_erosion(dis, np.ones((3, 3), bool))
        inner_total, px_total = inner_total + int(inner.sum()), px_total + int(dis.sum())
        for g, mv in enumerate(r["masks"]):
            assert not (mv & inner).any(), (r["sd"], r["im_id"], g, int((mv & inner).sum()))
            overlap += int((mv & dis).sum())
    assert inner_total > 500
    assert overlap <= 0.01 * px_total, (overlap, px_total)  # outline pixels only, and few of them


def test_targets_lose_exactly_the_pixels_distractors_cover(distractor_oracle):
    """mask_visib matches the oracle's visible mask with distractors (IoU >= 0.95, as tests/e2e/test_oracle.py);
    where a distractor hides a target, the pixels it takes are the ones the target's mask lacks."""
    checked, occluded = 0, 0
    for r in distractor_oracle:
        for g, mv in enumerate(r["masks"]):
            oracle = r["owner_d"] == g
            if mv.sum() >= 100:
                iou = (mv & oracle).sum() / (mv | oracle).sum()
                assert iou >= 0.95, (r["sd"], r["im_id"], g, iou)
                checked += 1
            taken = (r["owner_0"] == g) & (r["owner_d"] == DISTRACTOR_OWNER)  # the target's pixels a distractor hides
            if taken.sum() >= 50:
                occluded += 1
                inner = binary_erosion(taken, np.ones((3, 3), bool))
                assert not (mv & inner).any(), (r["sd"], r["im_id"], g)
                assert (mv & taken).sum() <= 0.1 * taken.sum(), (r["sd"], r["im_id"], g, (mv & taken).sum())
                # without the distractors the oracle agrees less with the written mask (both empty: agreement)
                iou0 = (mv & (r["owner_0"] == g)).sum() / (mv | (r["owner_0"] == g)).sum()
                iou_d = (mv & oracle).sum() / (mv | oracle).sum() if (mv | oracle).any() else 1.0
                assert iou0 < iou_d, (r["sd"], r["im_id"], g, iou0, iou_d)
    assert checked >= 6 and occluded >= 3, (checked, occluded)


def test_verify_passes_with_distractors(distractors_build, capsys):
    rc = run_cli("verify", distractors_build, "--sample", "100")
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "4 frames ray-cast" in out


def test_distractors_get_no_label(distractors_build):
    root = Path(distractors_build)
    doc = json.loads((root / "instances_train_pbr.json").read_text())
    cats = {c["id"]: c["name"] for c in doc["categories"]}
    assert set(cats.values()) == TARGET_NAMES and not DISTRACTOR_SETS & {c.get("supercategory") for c in
                                                                         doc["categories"]}
    visible = 0
    for sd in sorted((root / "train_pbr").glob("[0-9]" * 6)):
        s = read_scene(sd)
        for im_id, entries in s["gt_info"].items():
            visible += sum(e["px_count_visib"] > 0 for e in entries)
            assert len(entries) == len(s["gt"][im_id]) == len(s["occlusion"][im_id])
        masks = sorted(p.name for p in (sd / "mask_visib").iterdir())
        assert masks == sorted(f"{im:06d}_{g:06d}.png" for im, v in s["gt"].items() for g in range(len(v)))
    # one annotation per visible target, each a target class
    assert len(doc["annotations"]) == visible
    assert all(cats[a["category_id"]] in TARGET_NAMES for a in doc["annotations"])


#: the same scenes with every appearance setting changed (materials, textures, backdrop, lights, shadows)
RELOOK = {
    "appearance": {"objects": {"texture": 1}, "distractors": {"color": 1}, "textures": ["procedural://all"],
                   "floor": {"texture": 1}, "walls": {"texture": 1}, "backdrop": {"sky": 1},
                   "hsv_jitter": {"hue": {"min": -0.1, "max": 0.1}}},
    "lights": {"count": {"min": 1, "max": 3}, "kinds": {"point": 1, "spot": 1},
               "temperature_k": {"min": 3000, "max": 6500}, "shadows": True},
}


@pytest.fixture(scope="module")
def relooked_build(distractors_build, tmp_path_factory):
    base = tmp_path_factory.mktemp("relook")
    recipe = base / "relook.yaml"
    recipe.write_text(yaml.safe_dump({**RECIPE, **RELOOK}, sort_keys=False))
    out = base / "ds"
    assert run_cli("build", recipe, "--out", out, "--quiet") == 0
    return out


def test_only_rgb_and_the_appearance_record_change_with_the_appearance(distractors_build, relooked_build):
    a, b = Path(distractors_build), Path(relooked_build)
    files = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    changed = [f for f in files if (a / f).read_bytes() != (b / f).read_bytes()]
    allowed = [f for f in changed if "/rgb/" in f or f.endswith("scene_appearance.json")
               or f in ("recipe.yaml", "gtforge.json")]  # the dataset's copies of the recipe
    if "instances_train_pbr.json" in changed:  # COCO's info names the recipe file; nothing else may differ
        ca, cb = (json.loads((d / "instances_train_pbr.json").read_text()) for d in (a, b))
        assert ca["info"].pop("recipe") != cb["info"].pop("recipe") and ca == cb
        allowed.append("instances_train_pbr.json")
        allowed.sort()
    assert changed == allowed, sorted(set(changed) - set(allowed))
    assert sum("/rgb/" in f for f in changed) == 4 and sum(f.endswith("scene_appearance.json") for f in changed) == 2


def test_stats_report_the_appearance_of_a_build(relooked_build, capsys):
    assert run_cli("stats", relooked_build, "--json") == 0
    app = json.loads(capsys.readouterr().out)["appearance"]
    assert app["scenes"] == 2 and app["backdrop_kinds"] == {"sky": 2} and app["shadows_share"] == 1.0
    assert set(app["light_kinds"]) <= {"point", "spot"}
    assert sum(int(k) * n for k, n in app["lights_per_scene"].items()) == sum(app["light_kinds"].values())
    assert set(app["lights_per_scene"]) <= {"1", "2", "3"}
    t = app["temperature_k"]
    assert t["count"] == sum(app["light_kinds"].values()) and 3000 <= t["min"] <= t["median"] <= t["max"] <= 6500
    modes = app["material_modes"]
    assert set(modes["objects"]) == {"texture"} and set(modes["distractors"]) == {"color"}
    assert app["material_modes"]["floor"] == {"texture": 2} and set(app["material_modes"]["walls"]) == {"texture"}
    by = app["texture_families_by_surface"]
    assert sum(by["objects"].values()) == sum(app["material_modes"]["objects"].values()) and by["distractors"] == {}
    assert all(f.startswith("procedural/") for f in app["texture_families"])
