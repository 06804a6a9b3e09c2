"""``gtforge verify`` with distractors, on a dataset written here from analytic geometry (no renderer).

A target square (side 0.2 x 0.12 m) faces the camera 1 m away; a distractor square 0.5 m away covers the
left half of it. Pixel sets follow from the pinhole projection u = cx + fx x / z through pixel centres
(every edge falls on a half-pixel), so the written masks and depth are exact. The target's model and
the distractor's model share obj_id 1 in their own id spaces (models/ vs models_distractors/).
"""

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import trimesh
from conftest import run_cli

from gtforge.assets.loaders import Asset
from gtforge.core.description import Floor, ObjectInstance, SceneDescription, View
from gtforge.core.geometry import intrinsics_matrix, look_at_opencv
from gtforge.core.labels import InstanceLabel
from gtforge.formats.atomic import AtomicFolder
from gtforge.formats.bop import APPEARANCE_FILE, DISTRACTOR_MODELS, BopWriter, ImagesWriter, scene_path, write_models
from gtforge.formats.protocol import DatasetContext, FrameRecord, SceneContext
from gtforge.render.annotate import visibility_stats

W, H = 40, 30
K = intrinsics_matrix(100.0, 100.0, 19.5, 14.5)


def square(x0, x1, y0, y1):
    """A rectangle in its model's z = 0 plane, metres."""
    return trimesh.Trimesh([[x0, y0, 0], [x1, y0, 0], [x1, y1, 0], [x0, y1, 0]], [[0, 1, 2], [0, 2, 3]], process=False)


def translation(z, x=0.0):
    T = np.eye(4)
    T[:3, 3] = [x, 0.0, z]
    return T


TARGET = square(-0.1, 0.1, -0.06, 0.06)  # at z = 1: u in [9.5, 29.5] -> columns 10..29; v in [8.5, 20.5] -> rows 9..20
DISTRACTOR = square(-0.06, 0.0, -0.1, 0.1)  # at z = 0.5: u in [7.5, 19.5] -> columns 8..19, every row


def analytic_buffers():
    """(amodal canvas (3H, 3W), ids (H, W), depth (H, W) m) of the frame, from the projection by hand."""
    u, v = np.arange(W), np.arange(H)
    target = ((v >= 9) & (v <= 20))[:, None] & ((u >= 10) & (u <= 29))[None, :]
    dis = np.zeros((H, W), bool)
    dis[:, 8:20] = True
    canvas = np.zeros((3 * H, 3 * W), bool)
    canvas[H:2 * H, W:2 * W] = target
    ids = np.where(target & ~dis, 1, 0)  # distractors are background (0) in the ID pass
    depth = np.where(dis, 0.5, np.where(target, 1.0, 0.0))
    return canvas, ids, depth


@pytest.fixture
def distractor_dataset(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    world_T_cam = look_at_opencv([0.3, -0.4, 0.5], [0.0, 0.1, 0.0])  # any camera pose: poses go through the world
    cam_T_target, cam_T_dis = translation(1.0), translation(0.5)
    scene = SceneDescription(scene_index=0, objects=(ObjectInstance(1, 1, world_T_cam @ cam_T_target),),
                             floor=Floor(size=0.0, color=np.ones(3)), walls=(), lights=(), ambient=0.3,
                             background_color=np.zeros(3), views=(View(K, W, H, world_T_cam),),
                             distractors=(ObjectInstance(1, 1, world_T_cam @ cam_T_dis),))
    folder = AtomicFolder(scene_path(root, "train_pbr", 0))
    layers = SimpleNamespace(rgb=True, depth=True, mask=True, mask_visib=True)
    out = SimpleNamespace(layers=layers, depth_scale=0.1, image_format="png", jpg_quality=95, formats=["bop"],
                          depth_noisy=None)
    ctx = SceneContext(root=root, folder=folder.path, split="train_pbr", scene_id=0, output=out,
                       recipe=SimpleNamespace(hands=None, output=out), library=None, scene=scene)
    canvas, ids, depth = analytic_buffers()
    s = visibility_stats(canvas, ids, depth, 1)
    label = InstanceLabel(inst_id=1, obj_id=1, cam_R_m2c=np.eye(3), cam_t_m2c=np.array([0.0, 0.0, 1.0]),
                          **s.visibility_fields())
    assert label.px_count_visib == 120 and label.px_count_all == 240
    frame = FrameRecord(0, scene.views[0], np.full((H, W, 3), 128, np.uint8), depth.astype(np.float32), [label], [])
    writers = [ImagesWriter(ctx), BopWriter(ctx)]
    for w in writers:
        w.add_frame(frame)
    for w in writers:
        w.finish()
    folder.commit()

    def lib(mesh):
        return SimpleNamespace(get=lambda i: Asset(i, "m", "s", "<t>", mesh), symmetries=lambda i: {})

    write_models(root, lib(TARGET), [1])
    ImagesWriter.merge(DatasetContext(root=root, split="train_pbr", recipe=None, library=None, recipe_file="r",
                                      distractors=lib(DISTRACTOR)))
    (root / "camera.json").write_text(json.dumps({"cx": 19.5, "cy": 14.5, "fx": 100.0, "fy": 100.0, "width": W,
                                                  "height": H, "depth_scale": 0.1}))
    (root / "gtforge.json").write_text(json.dumps({"split": "train_pbr", "formats": ["bop"], "num_scenes": 1,
                                                   "classes": {"1": {"name": "plate", "set": "t"}}}))
    return root


def verify(capsys, root):
    rc = run_cli("verify", root, "--sample", "10")
    return rc, capsys.readouterr().out


def edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_verify_passes_with_distractors_in_front(distractor_dataset, capsys):
    assert (distractor_dataset / DISTRACTOR_MODELS / "obj_000001.ply").is_file()
    rc, out = verify(capsys, distractor_dataset)
    assert rc == 0, out
    assert "1 frames ray-cast" in out


def test_verify_fails_when_the_distractor_is_left_out(distractor_dataset, capsys):
    sd = distractor_dataset / "train_pbr" / "000000"
    edit(sd / "scene_env.json", lambda env: env.update(distractors=[]))
    edit(sd / APPEARANCE_FILE, lambda app: app.update(distractors=[]))
    rc, out = verify(capsys, distractor_dataset)
    assert rc == 1
    assert "mask_visib vs ray-cast visible mask: IoU 0.500" in out and "depth differs from the ray cast" in out


def test_verify_fails_when_a_distractor_is_labelled_visible(distractor_dataset, capsys):
    """A mask_visib that covers the distractor (the amodal mask, with consistent counts) disagrees with the ray cast."""
    sd = distractor_dataset / "train_pbr" / "000000"
    shutil.copy(sd / "mask" / "000000_000000.png", sd / "mask_visib" / "000000_000000.png")

    def info(d):
        d["0"][0].update(px_count_visib=240, visib_fract=1.0, bbox_visib=d["0"][0]["bbox_obj"])

    edit(sd / "scene_gt_info.json", info)
    edit(sd / "scene_gt_occlusion.json", lambda d: d["0"][0].update(occlusion=0.0, occlusion_level=0))
    rc, out = verify(capsys, distractor_dataset)
    assert rc == 1
    lines = [ln for ln in out.splitlines() if "000000_000000.png" in ln or "scene_gt_info" in ln]
    assert any("IoU 0.500" in ln for ln in lines), out
    assert not any("px_count_visib" in ln or "bbox_visib" in ln or "visib_fract" in ln for ln in lines), out


def test_verify_fails_without_distractor_models(distractor_dataset, capsys):
    shutil.rmtree(distractor_dataset / DISTRACTOR_MODELS)
    rc, out = verify(capsys, distractor_dataset)
    assert rc == 1 and "obj_id 1 has no model in models_distractors/" in out


def test_verify_checks_distractor_entries_and_appearance(distractor_dataset, capsys):
    sd = distractor_dataset / "train_pbr" / "000000"
    edit(sd / "scene_env.json", lambda env: env["distractors"][0].update(world_R_m=[1.0, 0, 0, 0, 2, 0, 0, 0, 1]))
    edit(sd / APPEARANCE_FILE, lambda app: app["objects"][0].update(obj_id=5))
    rc, out = verify(capsys, distractor_dataset)
    assert rc == 1
    assert "scene_env.json [distractor 0]: world_R_m not a rotation" in out
    assert "scene_appearance.json [im 0]: objects [5] != scene_gt obj_ids [1]" in out
