"""KITTI format: level label frames, calibration (P2, R0_rect, Tr_velo_to_cam), boxes that enclose the objects.

The oracle for the boxes is the devkit's own projection of the written files (P2 · R0_rect · X of the
label's corners, ``readme.txt`` of the KITTI object devkit) against the written amodal masks.
"""

import json
import math

import numpy as np
import pytest
import yaml
from conftest import ROOT, SHARED, run_cli
from PIL import Image
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from gtforge.formats.kitti import (CALIB_KEYS, CalibFile, KittiObject, enclosing_box, label_frame_name, level_frame,
                                   read_calib, read_labels, rect_T_velo, relabel, write_calib, write_calib_file)
from gtforge.assets.backgrounds import camera_from_P, kitti_label_frames, load_backgrounds, load_kitti_frame

KITTI = SHARED / "data" / "kitti_000008"
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
        h, w, length, x, y, z = enclosing_box(pts, ry)
        line = KittiObject("Car", 0, 0, 0, (0, 0, 1, 1), h, w, length, x, y, z, ry).to_line()
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


@needs_kitti
def test_kitti_calib_file_is_written_back_byte_for_byte(tmp_path):
    """KITTI's own calib file (the seven lines) is written back as the same bytes, so every number parses to the same
    float; a frame read through the kitti loader keeps it."""
    calib = CalibFile.read(KITTI / "calib.txt")
    assert calib.is_complete() and list(calib.lines) == list(CALIB_KEYS)
    write_calib_file(tmp_path / "000000.txt", calib)
    assert (tmp_path / "000000.txt").read_bytes() == (KITTI / "calib.txt").read_bytes()
    ours, theirs = read_calib(tmp_path / "000000.txt"), read_calib(KITTI / "calib.txt")
    assert set(ours) == set(CALIB_KEYS) and all(np.array_equal(ours[k], theirs[k]) for k in CALIB_KEYS)
    assert load_kitti_frame(KITTI).kitti_calib.to_bytes() == (KITTI / "calib.txt").read_bytes()


def test_partial_or_odd_calib_files_keep_their_own_lines(tmp_path):
    """A file with other line ends is kept byte for byte; a file with only some of the seven lines keeps those lines'
    text (so their numbers parse identically) and gets the one-camera defaults for the rest, in KITTI's order."""
    P2 = "P2: 7.2e+02 0 6.1e+02 44.85728 0 720.0000001 172.854 0.2163791 0 0 1 0.002745884"
    Tr = ("Tr_velo_to_cam:\t0.0075337 -0.99997 -0.0006166 -0.00407 0.0148 0.00072807 -0.99989 -0.0763 0.99986 "
          "0.0075 0.0148 -0.2718")
    (tmp_path / "part.txt").write_bytes(f"{Tr}  \r\n{P2}\r\n".encode())
    calib = CalibFile.read(tmp_path / "part.txt")
    assert not calib.is_complete()
    write_calib_file(tmp_path / "out.txt", calib)
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert [ln.split(":")[0] for ln in lines] == list(CALIB_KEYS)
    assert lines[2] == P2 and lines[5] == Tr  # the file's own text, trailing white space and line end aside
    ours, theirs = read_calib(tmp_path / "out.txt"), read_calib(tmp_path / "part.txt")
    assert np.array_equal(ours["P2"], theirs["P2"]) and np.array_equal(ours["Tr_velo_to_cam"], theirs["Tr_velo_to_cam"])
    assert all(np.array_equal(ours[k], theirs["P2"]) for k in ("P0", "P1", "P3"))
    assert np.array_equal(ours["R0_rect"], np.eye(3)) and np.array_equal(ours["Tr_imu_to_velo"], np.eye(4)[:3])
    full = "\r\n".join(f"{k}: " + " ".join(["1.5"] * (9 if k == "R0_rect" else 12)) for k in CALIB_KEYS) + "\r\n"
    (tmp_path / "crlf.txt").write_bytes(full.encode())
    write_calib_file(tmp_path / "crlf_out.txt", CalibFile.read(tmp_path / "crlf.txt"),
                     dist={"model": "radtan", "coeffs": [0.1, 0, 0, 0, 0]})
    out = (tmp_path / "crlf_out.txt").read_bytes()
    assert out.startswith(full.encode()) and out.endswith(b"\nD_02: 1.000000000000e-01 " + b"0.000000000000e+00 " * 3
                                                          + b"0.000000000000e+00\n")
    (tmp_path / "nop2.txt").write_text("P0: 1 2 3 4 5 6 7 8 9 10 11 12\n")
    with pytest.raises(ValueError, match="nop2.txt: no P2"):
        CalibFile.read(tmp_path / "nop2.txt")
    (tmp_path / "bin.txt").write_bytes(b"P2: \xff\xfe")
    with pytest.raises(ValueError, match="bin.txt: not a text file"):
        CalibFile.read(tmp_path / "bin.txt")
    (tmp_path / "word.txt").write_text("P2: 1 2 3 x 5 6 7 8 9 10 11 12\n")
    with pytest.raises(ValueError, match="word.txt: P2 holds something that is not a number"):
        CalibFile.read(tmp_path / "word.txt")


@needs_kitti
def test_kitti_frame_with_calib_json_only(tmp_path):
    """A KITTI frame folder with calib.json alone (P2, lidar2cam): the same camera and LiDAR as calib.txt's, and the
    calibration it gives (P2 and Tr_velo_to_cam = lidar2cam, 13 significant digits; R0_rect = I)."""
    import shutil

    for f in ("image_2.png", "calib.json", "velodyne.bin", "label_2.txt"):
        shutil.copy(KITTI / f, tmp_path / f)
    a, b = load_kitti_frame(tmp_path), load_kitti_frame(KITTI)
    assert np.allclose(a.K, b.K) and np.allclose(a.ref_T_cam, b.ref_T_cam, atol=1e-12)
    assert np.allclose(a.ref_T_lidar, b.ref_T_lidar, atol=1e-7)
    c = a.kitti_calib.arrays()
    calib = json.loads((tmp_path / "calib.json").read_text())
    assert np.array_equal(c["P2"], b.kitti_calib.arrays()["P2"])  # KITTI's own digits survive %.12e
    assert np.allclose(c["Tr_velo_to_cam"], np.asarray(calib["lidar2cam"])[:3], rtol=1e-12, atol=1e-15)
    write_calib_file(tmp_path / "out.txt", a.kitti_calib)
    assert np.array_equal(read_calib(tmp_path / "out.txt")["R0_rect"], np.eye(3))
    calib["P2"][0][3] += 0.5  # a calib.json that is not the calib.txt beside it is refused
    (tmp_path / "calib.json").write_text(json.dumps(calib))
    shutil.copy(KITTI / "calib.txt", tmp_path / "calib.txt")
    with pytest.raises(ValueError, match="calib.json and calib.txt describe different calibrations"):
        load_kitti_frame(tmp_path)


def test_label_frame_names_follow_the_background(tmp_path):
    """gtforge.json's kitti_label_frame: camera0_rect where a background has a KITTI calibration, else level (ground)
    or camera (free placement); a folder names each image."""
    from types import SimpleNamespace

    assert label_frame_name(True, "ground") == label_frame_name(True, "free") == "camera0_rect"
    assert label_frame_name(False, "ground") == label_frame_name(False, None) == "level"
    assert label_frame_name(False, "free") == "camera"
    (tmp_path / "image_2").mkdir()
    (tmp_path / "calib").mkdir()
    for stem in ("a", "b"):
        Image.new("RGB", (8, 6)).save(tmp_path / "image_2" / f"{stem}.png")
    write_calib(tmp_path / "calib" / "b.txt", np.array([[100.0, 0, 4, 0], [0, 100, 3, 0], [0, 0, 1, 0]]))
    ar = SimpleNamespace(placement="ground", backgrounds=SimpleNamespace(kind="folder", path=str(tmp_path)))
    assert kitti_label_frames(ar) == {"a": "level", "b": "camera0_rect"}
    bgs = load_backgrounds(SimpleNamespace(kind="folder", path=str(tmp_path), intrinsics=None, fov_y_deg=50.0),
                           tmp_path, ground=False)
    assert [bg.kitti_calib is not None for bg in bgs] == [False, True]


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
    velo = np.fromfile(KITTI / "velodyne.bin", np.float32).reshape(-1, 4)[:, :3].astype(np.float64)
    assert np.allclose(a.ref_T_lidar, rect_T_lidar, atol=1e-9)
    assert np.abs(a.points_ref - (velo @ rect_T_lidar[:3, :3].T + rect_T_lidar[:3, 3])).max() < 1e-6


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
