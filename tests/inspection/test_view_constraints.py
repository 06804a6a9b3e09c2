"""View constraints and occlusion targets seen from the written files: ``gtforge verify`` check 8 and the
``gtforge stats --json`` figures (occlusion-level shares, targets, azimuth coverage).

The fast tests write a dataset here from hand-made buffers (no renderer): two squares in a 40 x 30 image,
three frames; frame 0 satisfies the constraints, frame 1 shows one object largely occluded, frame 2 has a
surface 0.1 m from the camera. The e2e test builds with the CLI and checks the achieved shares.
"""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import trimesh
import yaml
from conftest import DEFAULT_RECIPE, run_cli

from gtforge.assets.loaders import Asset
from gtforge.config.views import OcclusionTargets, ViewConstraints, ViewpointCoverage
from gtforge.core.description import Floor, ObjectInstance, SceneDescription, View
from gtforge.core.geometry import intrinsics_matrix, make_pose
from gtforge.core.labels import InstanceLabel
from gtforge.formats.atomic import AtomicFolder
from gtforge.formats.bop import BopWriter, ImagesWriter, scene_path, write_models
from gtforge.formats.dataset import RECIPE_COPY, open_dataset
from gtforge.formats.protocol import DatasetContext, FrameRecord, SceneContext
from gtforge.inspection.stats import azimuth_coverage, compute_stats, level_shares, view_targets
from gtforge.inspection.verify import VIEW_CONSTRAINT_DEFAULTS, verify
from gtforge.render.annotate import visibility_stats

W, H = 40, 30
K = intrinsics_matrix(100.0, 100.0, 19.5, 14.5)
CONSTRAINTS = {"min_visible_objects": 2, "min_visib_fract": 0.5, "min_surface_distance": 0.3}


def square(side=0.1):
    """A thin square plate (a closed mesh: the models writer computes its volume), metres."""
    return trimesh.creation.box(extents=[side, side, 0.001])


def buffers(frame):
    """(canvases {inst_id: (3H, 3W)}, ids (H, W), depth (H, W) m) of frame 0, 1 or 2 (module docstring)."""
    canvases, ids = {}, np.zeros((H, W), np.int64)
    depth = np.full((H, W), 2.0)
    for inst, c0 in ((1, 5), (2, 20)):
        c = np.zeros((3 * H, 3 * W), bool)
        c[H + 5:H + 15, W + c0:W + c0 + 10] = True
        canvases[inst] = c
        ids[5:15, c0:c0 + 10] = inst
        depth[5:15, c0:c0 + 10] = 1.0
    if frame == 1:
        ids[5:15, 20:28] = 0  # 80 % of object 2 hidden by something unlabelled
        depth[5:15, 20:28] = 0.8
    if frame == 2:
        depth[15:17, 17:19] = 0.1  # a surface 0.1 m from the camera: ray lengths 0.1 x 1.000125 and more
    return canvases, ids, depth


def write_frames(root, recipe_camera):
    """A one-scene BOP dataset of the three frames, with ``recipe.yaml`` holding ``camera: recipe_camera``."""
    root.mkdir()
    world_T_cam = np.eye(4)
    objects = (ObjectInstance(1, 1, make_pose(np.eye(3), [-0.15, -0.1, 1.0])),
               ObjectInstance(2, 2, make_pose(np.eye(3), [0.05, -0.1, 1.0])))
    view = View(K, W, H, world_T_cam)
    desc = SceneDescription(scene_index=0, objects=objects, floor=Floor(size=0.0, color=np.ones(3)), walls=(),
                            lights=(), ambient=0.3, background_color=np.zeros(3), views=(view,) * 3)
    folder = AtomicFolder(scene_path(root, "train_pbr", 0))
    layers = SimpleNamespace(rgb=True, depth=True, mask=True, mask_visib=True)
    out = SimpleNamespace(layers=layers, depth_scale=0.1, image_format="png", jpg_quality=95, formats=["bop"],
                          depth_noisy=None)
    ctx = SceneContext(root=root, folder=folder.path, split="train_pbr", scene_id=0, output=out,
                       recipe=SimpleNamespace(hands=None, output=out), library=None, scene=desc)
    writers = [ImagesWriter(ctx), BopWriter(ctx)]
    for im in range(3):
        canvases, ids, depth = buffers(im)
        labels = []
        for o in objects:
            s = visibility_stats(canvases[o.inst_id], ids, depth, o.inst_id)
            labels.append(InstanceLabel(inst_id=o.inst_id, obj_id=o.obj_id, cam_R_m2c=np.eye(3),
                                        cam_t_m2c=o.world_T_model[:3, 3].copy(), **s.visibility_fields()))
        frame = FrameRecord(im, view, np.full((H, W, 3), 128, np.uint8), depth.astype(np.float32), labels, [])
        for w in writers:
            w.add_frame(frame)
    for w in writers:
        w.finish()
    folder.commit()
    lib = SimpleNamespace(get=lambda i: Asset(i, f"m{i}", "s", "<t>", square()), symmetries=lambda i: {})
    write_models(root, lib, [1, 2])
    ImagesWriter.merge(DatasetContext(root=root, split="train_pbr", recipe=None, library=None, recipe_file="r"))
    (root / "camera.json").write_text(json.dumps({"cx": 19.5, "cy": 14.5, "fx": 100.0, "fy": 100.0, "width": W,
                                                  "height": H, "depth_scale": 0.1}))
    (root / "gtforge.json").write_text(json.dumps({"split": "train_pbr", "formats": ["bop"], "num_scenes": 1,
                                                   "classes": {"1": {"name": "a", "set": "s"},
                                                               "2": {"name": "b", "set": "s"}}}))
    (root / RECIPE_COPY).write_text(yaml.safe_dump({"seed": 0, "camera": recipe_camera}, sort_keys=False))
    return root


def test_verify_defaults_are_the_recipe_defaults():
    d = ViewConstraints()
    assert VIEW_CONSTRAINT_DEFAULTS == {k: getattr(d, k) for k in VIEW_CONSTRAINT_DEFAULTS}


def test_verify_names_each_frame_that_breaks_a_constraint(tmp_path, capsys):
    root = write_frames(tmp_path / "ds", {"constraints": CONSTRAINTS})
    failures, checked = verify(open_dataset(root), sample=0)
    assert checked["view_constraint_frames"] == 3
    lines = [str(f) for f in failures]
    assert len(lines) == 2, lines
    assert lines[0] == ("train_pbr/000000/scene_gt_info.json [scene 000000 im 1]: view constraint: 1 objects with "
                        "visib_fract >= 0.5 (camera.constraints.min_visible_objects: 2)")
    assert lines[1].startswith("train_pbr/000000/depth/000002.png [scene 000000 im 2]: view constraint: a surface "
                               "0.10") and "min_surface_distance: 0.3 m" in lines[1]
    assert run_cli("verify", root, "--sample", "0") == 1
    assert "im 1" in capsys.readouterr().out


def test_verify_passes_when_the_frames_meet_the_constraints(tmp_path):
    loose = dict(CONSTRAINTS, min_visible_objects=1, min_surface_distance=0.05)
    failures, checked = verify(open_dataset(write_frames(tmp_path / "ds", {"constraints": loose})), sample=0)
    assert failures == [] and checked["view_constraint_frames"] == 3
    failures, checked = verify(open_dataset(write_frames(tmp_path / "no", {"width": W})), sample=0)
    assert failures == [] and checked["view_constraint_frames"] == 0  # no constraints: nothing to check


def test_verify_surface_distance_allows_the_depth_quantisation(tmp_path):
    """Depth PNGs round z to 0.1 mm: a surface at the limit may be written up to 0.05 mm nearer. The nearest pixel
    (u, v) = (18, 15) has |K^-1 (u, v, 1)| = 1.000125; written z 0.1 m stands for a true z up to 0.10005 m, so
    a ray length up to 0.1000625 m."""
    root = write_frames(tmp_path / "ds", {"constraints": {"min_surface_distance": 0.10006}})
    assert [str(f) for f in verify(open_dataset(root), sample=0)[0]] == []
    root = write_frames(tmp_path / "ds2", {"constraints": {"min_surface_distance": 0.10007}})
    assert len(verify(open_dataset(root), sample=0)[0]) == 1


def test_stats_reports_level_shares_targets_and_azimuths(tmp_path):
    camera = {"occlusion_targets": {"levels": {0: 0.5, 1: 0.3, 2: 0.2}}, "coverage": {"azimuth_bins": 4}}
    OcclusionTargets.model_validate(camera["occlusion_targets"])  # a valid recipe section
    ViewpointCoverage.model_validate(camera["coverage"])
    stats = compute_stats(open_dataset(write_frames(tmp_path / "ds", camera)))
    sh = stats["occlusion_level_shares"]
    assert sh["objects"] == sh["objects_in_frame"] == 6
    assert sh["in_frame"] == pytest.approx({"0": 5 / 6, "1": 0.0, "2": 1 / 6})
    assert sh["all"] == pytest.approx({"0": 5 / 6, "1": 0.0, "2": 1 / 6, "3": 0.0})
    vt = stats["view_targets"]
    assert vt["over"] == "in_frame" and vt["target"] == {"0": 0.5, "1": 0.3, "2": 0.2}
    assert vt["max_abs_error_pp"] == pytest.approx(100 * (5 / 6 - 0.5))
    az = stats["azimuth_coverage"]
    # camera centre in each model frame: (0.15, 0.1, -1) and (-0.05, 0.1, -1): azimuths 33.7 and 116.6 degrees
    assert az["bins"] == 4 and az["counts"] == [0, 0, 3, 3] and az["max_abs_dev_pp"] == pytest.approx(25.0)
    json.dumps(stats["occlusion_level_shares"]), json.dumps(vt), json.dumps(az)


def test_share_helpers():
    sh = level_shares([0, 0, 1, 2, 3])
    assert sh["all"]["3"] == 0.2 and sh["in_frame"] == {"0": 0.5, "1": 0.25, "2": 0.25}
    vt = view_targets({"occlusion_targets": {"levels": {0: 0.4, 1: 0.2, 2: 0.2, 3: 0.2}}}, sh)
    assert vt["over"] == "all" and vt["max_abs_error_pp"] == pytest.approx(0.0)
    assert view_targets({}, sh) is None
    assert azimuth_coverage([-180.0, 0.0, 179.9], 2)["counts"] == [1, 2]
    assert azimuth_coverage([], 3)["max_abs_dev_pp"] == 0.0


# ------------------------------------------------------------------------------------------- end to end

SMALL_160 = ["camera.width=160", "camera.height=120",
             "camera.intrinsics={fx: 143.1, fy: 143.4, cx: 80.95, cy: 60.125}",
             "lights.shadows=false", "objects[2].collision=hull", "objects[5].collision=hull"]
TARGET = {0: 0.3, 1: 0.4, 2: 0.3}


@pytest.mark.e2e
def test_build_meets_occlusion_targets_and_constraints(tmp_path, capsys):
    """200 frames at 160 x 120 (40 scenes x 5 views) with targets {0: .3, 1: .4, 2: .3} over the objects in frame
    and constraints: gtforge stats --json shows every share within 5 percentage points of its target, and
    gtforge verify finds every frame within its constraints."""
    out = tmp_path / "ds"
    sets = SMALL_160 + ["scenes.count=40", "scenes.views_per_scene=5",
                        "camera.occlusion_targets={levels: {0: 0.3, 1: 0.4, 2: 0.3}}",
                        "camera.constraints={min_visible_objects: 2, min_visib_fract: 0.2, min_surface_distance: 0.25}"]
    assert run_cli("build", DEFAULT_RECIPE, "--out", out, "--quiet", "--workers", "1",
                   *sum((["--set", s] for s in sets), [])) == 0
    capsys.readouterr()
    assert run_cli("stats", out, "--json") == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["frames"] == 200
    got = stats["occlusion_level_shares"]["in_frame"]
    assert all(abs(got[str(k)] - v) <= 0.05 for k, v in TARGET.items()), got
    assert stats["view_targets"]["max_abs_error_pp"] <= 5.0
    assert run_cli("verify", out, "--sample", "3") == 0, capsys.readouterr().out
