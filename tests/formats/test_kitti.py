"""KITTI format: level label frames, calibration (P2, R0_rect, Tr_velo_to_cam), boxes that enclose the objects.

The oracle for the boxes is the devkit's own projection of the written files (P2 · R0_rect · X of the
label's corners, ``readme.txt`` of the KITTI object devkit) against the written amodal masks.
"""

import json
import math

import numpy as np
import pytest
import yaml
from conftest import ROOT, run_cli
from PIL import Image
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from gtforge.formats.kitti import (KittiObject, enclosing_box, level_frame, read_calib, read_labels, rect_T_velo,
                                   relabel, write_calib)
from gtforge.assets.backgrounds import camera_from_P, load_backgrounds, load_kitti_frame

KITTI = ROOT.parent / "shared" / "data" / "kitti_000008"
needs_kitti = pytest.mark.skipif(not KITTI.is_dir(), reason="../shared/data/kitti_000008 not present")


def test_level_frame_is_a_yawed_opencv_frame_for_any_tilt():
    for pitch, roll in ((30, 0), (-50, 12), (89.99, 0), (90, 0), (5, -25)):
        # OpenCV camera level with the ground (x right, y down = -world z, z forward = world x), then tilted
        level_cam = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], float)
        R = level_cam @ Rotation.from_euler("XZ", [-pitch, roll], degrees=True).as_matrix()
        world_T_cam = np.eye(4)
        world_T_cam[:3, :3], world_T_cam[:3, 3] = R, [1.0, 2.0, 1.5]
        L = level_frame(world_T_cam)
        assert np.allclose(L[:3, :3].T @ L[:3, :3], np.eye(3)) and np.isclose(np.linalg.det(L[:3, :3]), 1)
        assert np.allclose(L[:3, 1], [0, 0, -1])  # y down along gravity
        assert np.allclose(L[:3, 3], world_T_cam[:3, 3])
        assert np.allclose(L[:3, 2], [1, 0, 0], atol=1e-6)  # forward made level (image-up when looking down)


def test_enclosing_box_survives_two_decimal_rounding(tmp_path):
    rng = np.random.default_rng(0)
    for k in range(200):
        pts = rng.normal(0, 1, (50, 3)) * rng.uniform(0.05, 3, 3) + rng.uniform(-20, 20, 3)
        ry = round(float(rng.uniform(-math.pi, math.pi)), 2)
        h, w, l, x, y, z = enclosing_box(pts, ry)
        line = KittiObject("Car", 0, 0, 0, (0, 0, 1, 1), h, w, l, x, y, z, ry).to_line()
        back = KittiObject.from_line(line)  # what a reader gets from the 2-decimal file
        c, s = math.cos(back.rotation_y), math.sin(back.rotation_y)
        R = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
        q = (pts - [back.x, back.y, back.z]) @ R  # box coordinates: x length, y down from the bottom, z width
        assert np.all(np.abs(q[:, 0]) <= back.l / 2 + 1e-9) and np.all(np.abs(q[:, 2]) <= back.w / 2 + 1e-9)
        assert np.all(q[:, 1] <= 1e-9) and np.all(q[:, 1] >= -back.h - 1e-9), k
        assert back.l <= np.ptp(pts @ R[:, 0]) + 0.025  # and it stays tight


def test_calib_keeps_r0_rect_and_maps_lidar_through_it(tmp_path):
    R0 = Rotation.from_euler("xyz", [0.6, -0.4, 0.3], degrees=True).as_matrix()  # as on real frames: < 1 deg
    Tr = np.c_[Rotation.from_euler("z", 90, degrees=True).as_matrix(), [0.1, -0.2, 0.3]]
    P2 = np.array([[700.0, 0, 600, 45], [0, 700, 180, 0.2], [0, 0, 1, 0.003]])
    write_calib(tmp_path / "c.txt", P2, Tr, R0)
    c = read_calib(tmp_path / "c.txt")
    assert np.allclose(c["R0_rect"], R0) and np.allclose(c["Tr_velo_to_cam"], Tr) and np.allclose(c["P2"], P2)
    X = np.array([5.0, 1.0, -1.5, 1.0])
    expected = R0 @ (Tr @ X)  # devkit readme: x_rect = R0_rect · Tr_velo_to_cam · x_velo
    assert np.allclose(rect_T_velo(c)[:3] @ X, expected)
    (tmp_path / "bad.txt").write_text("R0_rect: 1 0 0\n")
    with pytest.raises(ValueError, match="bad.txt: R0_rect needs 9"):
        read_calib(tmp_path / "bad.txt")


def test_camera_from_P_recovers_rotated_cameras():
    K = np.array([[721.5, 0, 609.6], [0, 720.0, 172.9], [0, 0, 1]])
    R = Rotation.from_euler("xyz", [30, -5, 10], degrees=True).as_matrix()
    t = np.array([0.06, -1.0, 0.5])
    K2, ref_T_cam = camera_from_P(K @ np.c_[R, t])
    assert np.allclose(K2, K) and np.allclose(ref_T_cam[:3, :3], R.T) and np.allclose(ref_T_cam[:3, 3], -R.T @ t)


@needs_kitti
def test_folder_with_non_identity_r0_rect_gives_kitti_points(tmp_path):
    """A raw calib file (Tr_velo_to_cam to the unrectified camera, R0_rect apart) yields the same LiDAR points in the
    rectified frame as calib.json's combined lidar2cam."""
    import shutil

    from gtforge.config.schema import ARBackgroundsConfig

    calib = json.loads((KITTI / "calib.json").read_text())
    rect_T_lidar = np.asarray(calib["lidar2cam"])
    R0 = Rotation.from_euler("xyz", [0.7, 0.3, -0.5], degrees=True).as_matrix()
    R0_4 = np.eye(4)
    R0_4[:3, :3] = R0
    Tr = np.linalg.inv(R0_4) @ rect_T_lidar  # raw: LiDAR -> unrectified camera 0
    for sub in ("image_2", "calib", "velodyne"):
        (tmp_path / sub).mkdir()
    shutil.copy(KITTI / "image_2.png", tmp_path / "image_2" / "000008.png")
    shutil.copy(KITTI / "velodyne.bin", tmp_path / "velodyne" / "000008.bin")
    write_calib(tmp_path / "calib" / "000008.txt", np.asarray(calib["P2"])[:3], Tr[:3], R0)
    cfg = ARBackgroundsConfig.model_validate({"kind": "folder", "path": str(tmp_path)})
    a = load_backgrounds(cfg, tmp_path, ground=False)[0]
    b = load_kitti_frame(KITTI)
    assert np.allclose(a.ref_T_lidar, rect_T_lidar, atol=1e-9)
    assert np.abs(a.points_ref - b.points_ref).max() < 1e-6


def test_relabel_moves_a_real_box_into_the_level_frame():
    obj = KittiObject("Car", 0, 0, 0.3, (1, 2, 3, 4), 1.5, 1.6, 4.0, 2.0, 1.7, 15.0, 0.8)
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("y", 0.5).as_matrix()  # a pure yaw keeps the box, adds to rotation_y
    T[:3, 3] = [0.1, 0.0, -0.2]
    new = relabel(obj, T)
    assert np.allclose(new.corners(), obj.corners() @ T[:3, :3].T + T[:3, 3], atol=1e-9)
    dc = KittiObject("DontCare", -1, -1, -10, (1, 2, 3, 4), -1, -1, -1, -1000, -1000, -1000, -10)
    assert relabel(dc, T) == dc


# ---------------------------------------------------------------- written datasets: boxes enclose the silhouettes
def instance_masks(scene_dir):
    """{(im_id, bbox_visib tuple): [amodal mask path, ...]} of objects and hands of a written scene."""
    out = {}
    for fname, layer, key in (("scene_gt_info.json", "mask", "gt_id"), ("scene_hands.json", "mask_hand", "hand_id")):
        f = scene_dir / fname
        if not f.is_file():
            continue
        for im, entries in json.loads(f.read_text()).items():
            for k, e in enumerate(entries):
                idx = e.get(key, k)
                out.setdefault((int(im), tuple(e["bbox_visib"])), []).append(
                    scene_dir / layer / f"{int(im):06d}_{idx:06d}.png")
    return out


def worst_outside_px(root):
    """Largest distance (px) of an amodal-mask pixel centre outside the convex hull of its label's 3D box projected
    with the written calib as the devkit does (P2 · R0_rect · X), over every label of ``root/kitti``; and the count."""
    import shapely
    from shapely.geometry import Polygon

    worst, n = 0.0, 0
    for lab_file in sorted((root / "kitti" / "label_2").glob("*.txt")):
        frame = int(lab_file.stem)
        c = read_calib(root / "kitti" / "calib" / lab_file.name)
        P = c["P2"] @ np.block([[c["R0_rect"], np.zeros((3, 1))], [np.zeros((1, 3)), np.ones((1, 1))]])
        scene = next((root / s / f"{frame // 1000:06d}" for s in ("train", "train_pbr") if
                      (root / s / f"{frame // 1000:06d}").is_dir()))
        masks = instance_masks(scene)
        for lab in read_labels(lab_file):
            if lab.type == "DontCare":
                continue
            b = np.round(lab.bbox).astype(int)
            # BOP's box: [x, y, w, h], w = x_max - x_min + 1 or (BOP toolkit) x_max - x_min: either matches
            found = [m for (im, box), ms in masks.items() for m in ms if im == frame % 1000 and box[:2] == tuple(b[:2])
                     and abs(box[2] - (b[2] - b[0] + 1)) <= 1 and abs(box[3] - (b[3] - b[1] + 1)) <= 1]
            p = np.c_[lab.corners(), np.ones(8)] @ P.T
            assert np.all(p[:, 2] > 0)
            uv = p[:, :2] / p[:, 2:3]
            hull = Polygon(uv[ConvexHull(uv).vertices])
            # several instances may share a visible box: the label must enclose one of them
            dists = []
            for m in found:
                ys, xs = np.nonzero(np.asarray(Image.open(m)) > 0)
                inside = shapely.contains_xy(hull, xs, ys)
                out = [hull.exterior.distance(shapely.points(x, y)) for x, y in zip(xs[~inside], ys[~inside])]
                dists.append(max(out, default=0.0))
            worst, n = max(worst, min(dists)), n + 1
    return worst, n


def build(tmp_path, recipe: dict | str, *args):
    path = recipe
    if isinstance(recipe, dict):
        path = tmp_path / "r.yaml"
        path.write_text(yaml.safe_dump(recipe))
    assert run_cli("build", path, "--out", tmp_path / "ds", "--quiet", *args) == 0
    return tmp_path / "ds"


@pytest.mark.e2e
def test_garage_recipe_boxes_enclose_the_cars(tmp_path):
    """recipes/ar_cars.yaml: the garage photo's camera looks down at the floor."""
    root = build(tmp_path, ROOT / "recipes" / "ar_cars.yaml", "--frames", "4")
    worst, n = worst_outside_px(root)
    print(f"garage: {n} boxes, worst silhouette pixel {worst:.2f} px outside")
    assert n >= 4 and worst <= 1.0


@pytest.mark.e2e
def test_pitched_camera_boxes_enclose_the_cars(tmp_path):
    """A photo taken 30 degrees pitched down, 3 m above level ground."""
    recipe = {"seed": 2, "scenes": {"count": 3, "views_per_scene": 1},
              "objects": [{"name": "car", "source": "procedural://cars", "variants": 4, "count": {"min": 2, "max": 2}}],
              "ar": {"backgrounds": {"kind": "photos", "photos": ["coffee"], "fov_y_deg": 60, "camera_height": 3.0,
                                     "camera_pitch_deg": 30},
                     "placement": "ground", "distance": {"min": 5, "max": 9}, "lateral_fraction": 0.5,
                     "look": {"shadows": False}},
              "output": {"formats": ["kitti", "bop"], "split": "train", "image_format": "png", "depth_scale": 1.0}}
    root = build(tmp_path, recipe)
    worst, n = worst_outside_px(root)
    print(f"30 deg pitch: {n} boxes, worst silhouette pixel {worst:.2f} px outside")
    assert n >= 4 and worst <= 1.0
    labels = [o for f in (root / "kitti" / "label_2").glob("*.txt") for o in read_labels(f)]
    # level frame: every car stands on the ground 3 m below camera 0 (y down), and its yaw-only box stays as
    # tight as the upright car (procedural cars are at most 2.1 m tall; labels grow by at most 2 cm of rounding)
    assert all(abs(o.y - 3.0) <= 0.011 and o.h <= 2.1 + 0.02 for o in labels)
    calib = read_calib(root / "kitti" / "calib" / "000000.txt")
    # the level frame's y axis is the ground normal: the camera's rotation in P2 is the 30 degree pitch
    _, ref_T_cam = camera_from_P(calib["P2"])
    assert math.isclose(math.degrees(math.acos(ref_T_cam[1, 1])), 30.0, abs_tol=1e-6)


@pytest.mark.e2e
def test_clutter_and_hand_scenes_write_kitti(tmp_path):
    args = ["--frames", "2", "--set", "output.formats=[bop, kitti]", "--set", "camera.width=320",
            "--set", "camera.height=240"]
    root = build(tmp_path, ROOT / "recipes" / "hands_objects.yaml", *args)
    worst, n = worst_outside_px(root)
    types = {o.type for f in (root / "kitti" / "label_2").glob("*.txt") for o in read_labels(f)}
    print(f"hands + clutter: {n} boxes ({sorted(types)}), worst silhouette pixel {worst:.2f} px outside")
    assert n >= 4 and "Hand" in types and worst <= 1.0
    assert len(list((root / "kitti" / "image_2").glob("*.png"))) == 2
