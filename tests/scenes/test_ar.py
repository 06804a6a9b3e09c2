"""AR composites: KITTI I/O, ground planes, car placement and labels on the real KITTI frame in ../shared."""

import math
from dataclasses import replace

import numpy as np
import pytest
import yaml
from conftest import ROOT, SHARED, run_cli
from matplotlib.path import Path as MplPath
from PIL import Image
from scipy.spatial import ConvexHull

from gtforge.core.description import CompositeLook
from gtforge.formats.kitti import KittiObject, read_calib, read_labels, write_calib, write_labels
from gtforge.scenes.ar import polygons_overlap
from gtforge.assets.backgrounds import fit_ground_plane, load_kitti_frame, with_ground_plane

KITTI = SHARED / "data" / "kitti_000008"
needs_kitti = pytest.mark.skipif(not KITTI.is_dir(), reason="../shared/data/kitti_000008 not present")


def test_kitti_label_roundtrip(tmp_path):
    objs = [KittiObject("Car", 0.25, 1, -1.2, (10.5, 20.25, 300.0, 200.75), 1.5, 1.7, 4.2, -2.5, 1.7, 12.3, 0.4),
            KittiObject("DontCare", -1, -1, -10, (1.0, 2.0, 3.0, 4.0), -1, -1, -1, -1000, -1000, -1000, -10)]
    write_labels(tmp_path / "000001.txt", objs)
    lines = (tmp_path / "000001.txt").read_text().splitlines()
    assert len(lines) == 2 and all(len(ln.split()) == 15 for ln in lines)
    back = read_labels(tmp_path / "000001.txt")
    for a, b in zip(objs, back):
        assert a.type == b.type and a.occluded == b.occluded and isinstance(b.occluded, int)
        assert np.allclose([a.truncated, a.alpha, *a.bbox, a.h, a.w, a.l, a.x, a.y, a.z, a.rotation_y],
                           [b.truncated, b.alpha, *b.bbox, b.h, b.w, b.l, b.x, b.y, b.z, b.rotation_y], atol=0.005)
    with pytest.raises(ValueError, match="15 fields"):
        KittiObject.from_line("Car 0 1 2")
    P2 = np.arange(12.0).reshape(3, 4)
    write_calib(tmp_path / "c.txt", P2)
    c = read_calib(tmp_path / "c.txt")
    assert set(c) == {"P0", "P1", "P2", "P3", "R0_rect", "Tr_velo_to_cam", "Tr_imu_to_velo"}
    assert np.allclose(c["P2"], P2) and np.allclose(c["R0_rect"], np.eye(3))


@needs_kitti
def test_reads_the_real_kitti_labels():
    labels = read_labels(KITTI / "label_2.txt")
    assert [o.type for o in labels].count("Car") == 6 and [o.type for o in labels].count("DontCare") == 4


def test_plane_fit_recovers_a_known_plane():
    rng = np.random.default_rng(0)
    n = np.array([0.0, -np.cos(0.05), -np.sin(0.05)])
    pts = rng.uniform([-10, 0, 3], [10, 0, 40], size=(2000, 3))
    pts[:, 1] = (-1.6 - pts[:, 2] * n[2]) / n[1]  # on n . p + 1.6 = 0
    pts += rng.normal(0, 0.01, pts.shape)
    outliers = rng.uniform([-10, -3, 3], [10, 1, 40], size=(400, 3))
    n_fit, d, _ = fit_ground_plane(np.vstack([pts, outliers]))
    assert np.allclose(n_fit, n, atol=0.01) and abs(d - 1.6) < 0.02


@needs_kitti
def test_kitti_ground_plane_from_lidar():
    bg = with_ground_plane(load_kitti_frame(KITTI), None, 0.0)
    n, d = bg.plane
    assert 1.55 <= d <= 1.75  # KITTI's camera is about 1.65 m above the road
    assert n[1] < -0.99


@pytest.fixture(scope="module")
def kitti_ar(tmp_path_factory):
    """12 frames over the shared KITTI frame (about 25 inserted cars), its real labels carried into every label file."""
    if not KITTI.is_dir():
        pytest.skip("../shared/data/kitti_000008 not present")
    d = tmp_path_factory.mktemp("ar")
    recipe = {
        "seed": 3, "scenes": {"count": 12, "views_per_scene": 1},
        "objects": [{"name": "car", "source": "procedural://cars", "variants": 8, "count": {"min": 2, "max": 3}}],
        "ar": {"backgrounds": {"kind": "kitti", "path": str(KITTI)}, "placement": "ground",
               "distance": {"min": 8, "max": 30}, "lateral_fraction": 0.6, "carry_real_labels": True,
               "look": {"blend": "gaussian"}},
        "output": {"formats": ["kitti", "coco", "bop"], "split": "train", "image_format": "png", "depth_scale": 1.0},
    }
    (d / "ar.yaml").write_text(yaml.safe_dump(recipe))
    assert run_cli("build", d / "ar.yaml", "--out", d / "ds", "--quiet") == 0
    return d / "ds"


def real_labels():
    """The shared frame's own labels (KittiObject), as KITTI distributes them."""
    return read_labels(KITTI / "label_2.txt")


def inserted(root):
    """(frame id, label, P2 (3, 4) as written, BOP scene folder, gt_id) of every inserted car (the frame's real labels,
    carried into every file, left out)."""
    import json

    real = [o.to_line() for o in real_labels()]
    out = []
    for lab_file in sorted((root / "kitti" / "label_2").glob("*.txt")):
        frame = int(lab_file.stem)
        P = read_calib(root / "kitti" / "calib" / lab_file.name)["P2"]  # devkit: label corners project with P2 alone
        sd = root / "train" / f"{frame // 1000:06d}"
        info = json.loads((sd / "scene_gt_info.json").read_text())["0"]
        labs = read_labels(lab_file)
        assert [o.to_line() for o in labs[len(labs) - len(real):]] == real  # the real labels close every file
        for lab in labs[:len(labs) - len(real)]:
            b = np.round(lab.bbox).astype(int)  # inclusive pixels; BOP's w is x_max - x_min (+ 1 before BOP's toolkit)
            gt_id = next(g for g, e in enumerate(info) if e["bbox_visib"][:2] == list(b[:2])
                         and abs(e["bbox_visib"][2] - (b[2] - b[0] + 1)) <= 1
                         and abs(e["bbox_visib"][3] - (b[3] - b[1] + 1)) <= 1)
            out.append((frame, lab, P, sd, gt_id))
    return out


def project(P2, pts):
    p = np.c_[pts, np.ones(len(pts))] @ P2.T
    return p[:, :2] / p[:, 2:3]


def bop_cars_in_camera0(root):
    """(frame, label, P2 as written, BOP scene folder, gt_id, camera0_T_model (4, 4), model box lo (3,), hi (3,) in
    metres) of every inserted car, from the BOP files alone: its pose (the photo's camera 2) moved into camera 0 with
    the translation of the shared calib.txt's own P2 (P2 = K [I | t]) and its box from ``models_info.json``."""
    import json

    P2 = read_calib(KITTI / "calib.txt")["P2"]
    t_cam2 = np.linalg.solve(P2[:, :3], P2[:, 3])  # x_cam2 = x_rect + t (KITTI: R = I)
    info = json.loads((root / "models" / "models_info.json").read_text())
    out = []
    for frame, lab, P, sd, gt_id in inserted(root):
        gt = json.loads((sd / "scene_gt.json").read_text())["0"][gt_id]
        T = np.eye(4)
        T[:3, :3] = np.reshape(gt["cam_R_m2c"], (3, 3))
        T[:3, 3] = np.asarray(gt["cam_t_m2c"]) / 1000.0 - t_cam2
        mi = info[str(gt["obj_id"])]
        lo = np.array([mi["min_x"], mi["min_y"], mi["min_z"]]) / 1000.0
        hi = lo + np.array([mi["size_x"], mi["size_y"], mi["size_z"]]) / 1000.0
        out.append((frame, lab, P, sd, gt_id, T, lo, hi))
    return out


def box_corners(lo, hi):
    """The 8 corners (8, 3) of the box [lo, hi]."""
    return np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])


def test_inserted_car_boxes_hold_their_silhouettes_up_to_the_lean(kitti_ar):
    """Labels are written in the frame's rectified camera 0, where the road leans by about 1.7 degrees and KITTI boxes
    only yaw: each label is its car's own box with the lean dropped. Projected with the written calibration as KITTI's
    devkit does (P2 · X), the box encloses its car's amodal silhouette up to what dropping the lean moves: the pixel
    distance between the label's projected corners and the projected corners of the car's own, leaning box (from the
    BOP pose and models_info.json), plus 1 px; that distance is a few pixels."""
    import shapely
    from shapely.geometry import Polygon

    cars = bop_cars_in_camera0(kitti_ar)
    assert len(cars) >= 20
    moved = []
    for frame, lab, P, sd, gt_id, T, lo, hi in cars:
        assert abs(math.remainder(lab.alpha - (lab.rotation_y - math.atan2(lab.x, lab.z)), 2 * math.pi)) < 0.011
        uv = project(P, lab.corners())
        leaning = project(P, box_corners(lo, hi) @ T[:3, :3].T + T[:3, 3])
        d = max(min(np.linalg.norm(leaning - u, axis=1)) for u in uv)  # each label corner to the nearest leaning one
        moved.append(d)
        hull = Polygon(uv[ConvexHull(uv).vertices])
        ys, xs = np.nonzero(np.asarray(Image.open(sd / "mask" / f"000000_{gt_id:06d}.png")) > 0)
        inside = shapely.contains_xy(hull.buffer(1.0 + d), xs, ys)
        assert inside.all(), (frame, gt_id, inside.mean(), d)
    print(f"lean dropped: corners move median {np.median(moved):.2f} px, max {max(moved):.2f} px")
    assert np.median(moved) <= 5.0 and max(moved) <= 10.0  # 8-30 m away, 1.7 degrees at the median


def test_inserted_cars_never_overlap_real_or_inserted_cars(kitti_ar):
    """Inserted and real labels share one frame: the real boxes, as KITTI wrote them, and the inserted ones never meet
    in the bird's-eye view."""
    foot = lambda o: o.corners()[:4][:, [0, 2]]  # noqa: E731  (bird's-eye view: x, z)
    by_frame = {}
    for frame, lab, *_ in inserted(kitti_ar):
        by_frame.setdefault(frame, []).append(lab)
    real = [o for o in real_labels() if o.type == "Car"]
    for labs in by_frame.values():
        for i, a in enumerate(labs):
            assert not any(polygons_overlap(foot(a), foot(r)) for r in real)
            assert not any(polygons_overlap(foot(a), foot(b)) for b in labs[i + 1:])


def test_kitti_output_keeps_the_frames_own_calibration(kitti_ar):
    """Every written calib file is KITTI's own calib.txt of the frame, byte for byte (so every number parses to the
    same float), the real labels are carried with their values unchanged, and gtforge.json names the frame."""
    import json

    want = (KITTI / "calib.txt").read_bytes()
    theirs = read_calib(KITTI / "calib.txt")
    files = sorted((kitti_ar / "kitti" / "calib").glob("*.txt"))
    assert len(files) == 12
    for f in files:
        assert f.read_bytes() == want
        ours = read_calib(f)
        assert set(ours) == set(theirs) and all(np.array_equal(ours[k], theirs[k]) for k in theirs)
    real = real_labels()
    for f in sorted((kitti_ar / "kitti" / "label_2").glob("*.txt")):
        carried = read_labels(f)[-len(real):]
        assert [(o.type, o.occluded, o.bbox) for o in carried] == [(o.type, o.occluded, o.bbox) for o in real]
        assert all(np.array_equal([o.truncated, o.alpha, o.h, o.w, o.l, o.x, o.y, o.z, o.rotation_y],
                                  [r.truncated, r.alpha, r.h, r.w, r.l, r.x, r.y, r.z, r.rotation_y])
                   for o, r in zip(carried, real))
    assert json.loads((kitti_ar / "gtforge.json").read_text())["kitti_label_frame"] == "camera0_rect"


def test_kitti_labels_are_the_bop_cars_own_boxes_in_the_frames_own_calibration(kitti_ar):
    """Oracle across formats: each inserted car's label is its model's own box (BOP ``models_info.json``) at its BOP
    pose moved into camera 0 (:func:`bop_cars_in_camera0`) with the lean dropped: h w l are the model's height, width
    and length, the location is the bottom centre of the model's box (its ground contact) and rotation_y the yaw of
    its x axis, each to KITTI's 2 decimals; every model vertex lies inside the box up to the lean (its distance from
    the bottom centre times sin(lean), plus the rounding of the yaw, location and sizes). BOP poses are in the
    renderer's camera, so they do not depend on the label frame."""
    import trimesh

    half_cm = 0.005 + 1e-6
    for frame, lab, _P, sd, gt_id, T, lo, hi in bop_cars_in_camera0(kitti_ar):
        size = hi - lo
        assert abs(lab.l - size[0]) <= half_cm and abs(lab.w - size[1]) <= half_cm and abs(lab.h - size[2]) <= half_cm
        bottom = T[:3, :3] @ [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]] + T[:3, 3]
        assert np.abs(np.array([lab.x, lab.y, lab.z]) - bottom).max() <= half_cm, (frame, gt_id)
        heading = T[:3, 0]
        assert abs(math.remainder(lab.rotation_y - math.atan2(-heading[2], heading[0]), 2 * math.pi)) <= 0.0051
        lean = math.acos(min(1.0, -T[1, 2]))  # the car's up (model z) against camera 0's up (-y)
        ply = kitti_ar / "models" / f"obj_{json_obj_id(sd, gt_id):06d}.ply"
        v = np.asarray(trimesh.load(ply).vertices, np.float64) / 1000.0 @ T[:3, :3].T + T[:3, 3]
        c, s = math.cos(lab.rotation_y), math.sin(lab.rotation_y)
        q = (v - [lab.x, lab.y, lab.z]) @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])  # x length, y down, z width
        out = np.maximum.reduce([np.abs(q[:, 0]) - lab.l / 2, np.abs(q[:, 2]) - lab.w / 2, q[:, 1], -q[:, 1] - lab.h,
                                 np.zeros(len(q))])
        # the lean, the yaw's rounding (0.005 rad) about the bottom centre, the location's and sizes' rounding
        allowed = np.linalg.norm(v - bottom, axis=1) * (math.sin(lean) + 0.0051) + 2 * half_cm
        assert (out <= allowed).all(), (frame, gt_id, math.degrees(lean), float((out - allowed).max()))


def json_obj_id(scene_dir, gt_id):
    """obj_id of gt ``gt_id`` of frame 0 of a BOP scene folder."""
    import json

    return json.loads((scene_dir / "scene_gt.json").read_text())["0"][gt_id]["obj_id"]


def lidar_in_camera0():
    """The shared frame's LiDAR points (n, 3) in its rectified camera 0, through its own calib.txt as the devkit maps
    them: x_rect = R0_rect · Tr_velo_to_cam · x_velo (nothing of gtforge's calibration code)."""
    c = {}
    for ln in (KITTI / "calib.txt").read_text().splitlines():
        if ":" in ln:
            k, v = ln.split(":", 1)
            c[k] = np.array([float(x) for x in v.split()])
    R0 = np.eye(4)
    R0[:3, :3] = c["R0_rect"].reshape(3, 3)
    Tr = np.vstack([c["Tr_velo_to_cam"].reshape(3, 4), [0, 0, 0, 1]])
    velo = np.fromfile(KITTI / "velodyne.bin", np.float32).reshape(-1, 4)[:, :3].astype(np.float64)
    return (np.c_[velo, np.ones(len(velo))] @ (R0 @ Tr).T)[:, :3]


def trimmed_plane(p):
    """Ground height model y = a x + b z + c (camera 0, y down) through points (n, 3): least squares refitted four
    times on the points within max(3 cm, 3 x RMS); returns (a, b, c)."""
    A = np.c_[p[:, 0], p[:, 2], np.ones(len(p))]
    keep = np.ones(len(p), bool)
    for _ in range(5):
        coef = np.linalg.lstsq(A[keep], p[keep, 1], rcond=None)[0]
        r = p[:, 1] - A @ coef
        keep = np.abs(r) <= max(0.03, 3 * float(np.sqrt(np.mean(r[keep] ** 2))))
    return coef


def lidar_ground_under(lab, ground, margin=0.5):
    """(ground at the label's bottom centre, lowest ground under its footprint's corners) in camera-0 y (down), from a
    plane fitted (:func:`trimmed_plane`) to the LiDAR ground points under the box's footprint grown by ``margin`` m
    (box coordinates from ``rotation_y``); None where fewer than 20 points are there."""
    c, s = math.cos(lab.rotation_y), math.sin(lab.rotation_y)
    d = ground[:, [0, 2]] - [lab.x, lab.z]
    u, v = d[:, 0] * c - d[:, 1] * s, d[:, 0] * s + d[:, 1] * c  # along the length (cos, -sin), the width (sin, cos)
    col = ground[(np.abs(u) <= lab.l / 2 + margin) & (np.abs(v) <= lab.w / 2 + margin)]
    if len(col) < 20:
        return None
    coef = trimmed_plane(col)
    return float(coef @ [lab.x, lab.z, 1]), max(float(coef @ [p[0], p[2], 1]) for p in lab.corners()[:4])


def test_label_bottoms_lie_on_the_lidar_ground_in_the_frames_own_calibration(kitti_ar):
    """Oracle: the LiDAR of the shared frame through its own calib.txt (:func:`lidar_in_camera0`); the road (a plane
    fitted to points 1.2-2.2 m below camera 0, 3-40 m ahead), the ground points within 25 cm of it, and the ground
    under each label from those under its footprint (:func:`lidar_ground_under`).

    Each label's bottom centre (the ground contact of its car, :func:`own_box`) lies on the ground straight under it:
    median <= 3 cm, 95th percentile <= 8 cm; so does its bottom face on the ground under the footprint (the span
    between the ground at the bottom centre and the lowest ground under the footprint). The frame's real cars, as
    KITTI labelled them, rest on the same ground model (bottom face median <= 3 cm)."""
    pts = lidar_in_camera0()
    road = trimmed_plane(pts[(pts[:, 2] > 3) & (pts[:, 2] < 40) & (np.abs(pts[:, 0]) < 15) & (pts[:, 1] > 1.2)
                             & (pts[:, 1] < 2.2)])
    ground = pts[np.abs(pts[:, 1] - np.c_[pts[:, 0], pts[:, 2], np.ones(len(pts))] @ road) < 0.25]

    def rest(labels):
        out = []
        for lab in labels:
            g = lidar_ground_under(lab, ground)
            if g is not None:
                out.append((lab.y - g[0], max(g[0] - lab.y, 0.0, lab.y - g[1])))
        return np.array(out)

    cars = [lab for _f, lab, *_ in inserted(kitti_ar)]
    ins = rest(cars)
    real = rest([o for o in real_labels() if o.type == "Car"])
    centre, on = np.abs(ins[:, 0]), ins[:, 1]
    print(f"{len(cars)} inserted cars, {len(ins)} over measured ground: bottom face to the ground under the car median "
          f"{100 * np.median(on):.2f} cm, p95 {100 * np.percentile(on, 95):.2f} cm; bottom centre to the ground at it "
          f"median {100 * np.median(centre):.2f} cm, p95 {100 * np.percentile(centre, 95):.2f} cm (signed mean "
          f"{100 * ins[:, 0].mean():+.2f} cm, + below); real cars ({len(real)}): bottom face median "
          f"{100 * np.median(real[:, 1]):.2f} cm, bottom centre signed {np.round(100 * real[:, 0], 1).tolist()} cm")
    assert len(cars) >= 20 and len(ins) >= 0.9 * len(cars)
    assert np.median(on) <= 0.03 and np.percentile(on, 95) <= 0.08
    assert np.median(centre) <= 0.03 and np.percentile(centre, 95) <= 0.08
    assert len(real) >= 4 and np.median(real[:, 1]) <= 0.03


def lidar_ground_distance(p, ground, tree):
    """Oracle: distance (m) from ``p`` (reference frame) to the LiDAR ground under it — the median height of the
    lowest 10 cm band of LiDAR ground points within 0.75 m horizontally; None where fewer than 5 points."""
    y = ground[tree.query_ball_point(p[[0, 2]], 0.75), 1]
    if len(y) < 5:
        return None
    return abs(float(np.median(y[y >= np.percentile(y, 90) - 0.1])) - float(p[1]))


@needs_kitti
@pytest.mark.slow
def test_wheels_touch_the_measured_lidar_ground():
    """Cars stand on the ground fitted under their own footprint: on the shared KITTI frame the wheels' contact
    points (the lowest vertices of each tyre) lie within 3 cm of the LiDAR ground at the median and 8 cm at the 95th
    percentile; wheels over ground the LiDAR did not see are rare."""
    from scipy.spatial import cKDTree

    from gtforge.assets.backgrounds import load_backgrounds
    from gtforge.assets.loaders import AssetLibrary
    from gtforge.config import validate_recipe
    from gtforge.core.geometry import transform_points
    from gtforge.scenes.ar import build_ar_scene

    recipe = validate_recipe({
        "seed": 3, "scenes": {"count": 40, "views_per_scene": 1},
        "objects": [{"name": "car", "source": "procedural://cars", "variants": 8, "count": {"min": 2, "max": 3}}],
        "ar": {"backgrounds": {"kind": "kitti", "path": str(KITTI)}, "distance": {"min": 8, "max": 30},
               "lateral_fraction": 0.6}, "output": {"formats": ["kitti"]}}, "t.yaml", ROOT)
    lib = AssetLibrary(recipe.objects, ROOT)
    bg = load_backgrounds(recipe.ar.backgrounds, ROOT, 0)[0]
    n, d = bg.plane
    ground = bg.points_ref[np.abs(bg.points_ref @ n + d) < 0.5]
    tree = cKDTree(ground[:, [0, 2]])
    dist, unmeasured, cars = [], 0, 0
    for i in range(40):
        desc = build_ar_scene(recipe.ar, recipe.target_sets, recipe.seed, lib, [bg], i)
        for o in desc.objects:
            v = lib.get(o.obj_id).mesh.vertices
            low = v[v[:, 2] < 1e-6]  # tyre bottoms (the procedural cars' wheels touch z = 0)
            contact = np.array([low[(np.sign(low[:, 0]) == sx) & (np.sign(low[:, 1]) == sy)].mean(axis=0)
                                for sx in (-1, 1) for sy in (-1, 1)])
            for p in transform_points(desc.ar.ref_T_world @ o.world_T_model, contact):
                e = lidar_ground_distance(p, ground, tree)
                unmeasured += e is None
                dist += [] if e is None else [e]
            cars += 1
    dist = np.array(dist)
    med, p95 = np.median(dist), np.percentile(dist, 95)
    print(f"{cars} cars, {len(dist)} wheels: median {100 * med:.1f} cm, p95 {100 * p95:.1f} cm, "
          f"max {100 * dist.max():.1f} cm; {unmeasured} wheels over unmeasured ground")
    assert cars >= 60 and med < 0.03 and p95 < 0.08 and unmeasured <= 0.05 * 4 * cars


def test_background_is_untouched_away_from_inserted_cars(kitti_ar):
    photo = np.asarray(Image.open(KITTI / "image_2.png").convert("RGB"))
    for f in sorted((kitti_ar / "kitti" / "image_2").glob("*.png")):
        img = np.asarray(Image.open(f))
        assert np.array_equal(img[:140], photo[:140])  # sky and houses: no car and no shadow reaches them
        assert not np.array_equal(img, photo)  # and something was inserted


@pytest.mark.gl
@needs_kitti
def test_car_behind_a_real_parked_car_is_occluded_by_it(tmp_path):
    from gtforge.assets.loaders import AssetLibrary
    from gtforge.render.annotate import annotate_view
    from gtforge.render.composite import composite
    from gtforge.render.renderer import Renderer
    from gtforge.scenes.ar import build_ar_scene
    from gtforge.assets.backgrounds import load_backgrounds
    from gtforge.config import validate_recipe
    from gtforge.core.geometry import invert_pose, make_pose

    recipe = validate_recipe({
        "seed": 0, "scenes": {"count": 1, "views_per_scene": 1},
        "objects": [{"name": "car", "source": "procedural://cars", "variants": 2, "count": {"min": 1, "max": 1}}],
        "ar": {"backgrounds": {"kind": "kitti", "path": str(KITTI)}, "look": {"shadows": False}},
        "output": {"formats": ["bop"], "depth_scale": 1.0}}, "t.yaml", ROOT)
    lib = AssetLibrary(recipe.objects, ROOT)
    bgs = load_backgrounds(recipe.ar.backgrounds, ROOT, 0)
    desc = build_ar_scene(recipe.ar, recipe.target_sets, recipe.seed, lib, bgs, 0)
    real = read_labels(KITTI / "label_2.txt")[1]  # the silver car parked at z = 7.9 m
    # put the inserted car 5 m behind it, same heading, on the ground
    world_T_ref = invert_pose(desc.ar.ref_T_world)
    c, s = math.cos(real.rotation_y), math.sin(real.rotation_y)
    bottom_ref = np.array([real.x, real.y, real.z + 5.0])
    heading_ref = np.array([c, 0.0, -s])
    p = world_T_ref[:3, :3] @ bottom_ref + world_T_ref[:3, 3]
    h = world_T_ref[:3, :3] @ heading_ref
    yaw = math.atan2(h[1], h[0])
    lo, hi = lib.get(1).mesh.bounds
    Rz = np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]])
    T = make_pose(Rz, [p[0], p[1], 0.0]) @ make_pose(np.eye(3), [-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    desc = replace(desc, objects=(replace(desc.objects[0] if desc.objects else None, obj_id=1, world_T_model=T),))
    r = Renderer(lib, bgs[0].width, bgs[0].height)
    try:
        r.set_scene(desc)
        b = r.render_view(desc.views[0])
    finally:
        r.close()
    rgb, inst, depth = composite(bgs[0].image(), b.rgba, b.shadow, b.ids, b.depth, None, desc.ar.look)
    lab = annotate_view(desc, desc.views[0], inst, depth, b.amodal)[0]
    assert lab.occlusion is not None and lab.occlusion > 0.2
    uv = project(bgs[0].P2(), real.corners())
    hull = MplPath(uv[ConvexHull(uv).vertices])
    ys, xs = np.nonzero(lab.mask_visib)
    assert not hull.contains_points(np.c_[xs, ys], radius=-1.0).any()  # none of the real car's pixels
    ys, xs = np.nonzero(lab.mask)
    assert hull.contains_points(np.c_[xs, ys]).any()  # while the amodal mask does reach behind it


@pytest.mark.parametrize("blend", ["none", "gaussian", "poisson", "motion"])
def test_composite_keeps_background_exactly(blend):
    from gtforge.render.composite import composite

    rng = np.random.default_rng(0)
    H, W = 60, 80
    photo = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[20:40, 30:50] = [200, 10, 10, 255]
    shadow = np.ones((H, W), np.float32)
    shadow[42:50, 30:55] = 0.5
    inst = np.zeros((H, W), np.int32)
    inst[20:40, 30:50] = 1
    look = CompositeLook(shadows=True, shadow_strength=0.6, blend=blend, color_match=0.3, blur_sigma=0.5,
                         noise_sigma=2.0, chromatic_aberration_px=0.7, motion_blur_px=2.0, motion_angle=0.3,
                         noise_seed=1)
    rgb, inst2, _ = composite(photo, rgba, shadow, inst, np.where(inst > 0, 5.0, 0.0).astype(np.float32), None, look)
    far = np.ones((H, W), bool)
    far[10:52, 20:62] = False  # the inserted square, its shadow, and a margin for blur and blending
    assert np.array_equal(rgb[far], photo[far])
    assert not np.array_equal(rgb[25:35, 35:45], photo[25:35, 35:45])
    assert np.all(rgb[44:48, 52:54].astype(int) <= photo[44:48, 52:54].astype(int))  # the shadow darkens


@pytest.mark.e2e
def test_bundled_ar_recipes_build_and_verify(tmp_path):
    for name, frames in (("ar_cars", 3), ("cut_paste", 3)):
        out = tmp_path / name
        assert run_cli("build", ROOT / "recipes" / f"{name}.yaml", "--out", out, "--quiet", "--frames", frames) == 0
        assert run_cli("verify", out, "--sample", frames) == 0
        assert (out / "instances_train.json").is_file() and (out / "models" / "models_info.json").is_file()
        assert len(list((out / "kitti" / "label_2").glob("*.txt"))) == frames
        assert len(list((out / "kitti" / "calib").glob("*.txt"))) == frames


def test_user_car_models_are_normalised(tmp_path):
    import trimesh

    from gtforge.assets.loaders import AssetLibrary
    from gtforge.config.schema import ObjectSet

    box = trimesh.creation.box(extents=[1.8, 1.5, 4.4])  # a "car" 4.4 units long along -z, y up (glTF style)
    box.apply_translation([0.3, 0.75, -1.0])
    box.export(tmp_path / "car.glb")
    s = ObjectSet.model_validate({"name": "car", "source": "car.glb", "count": {"min": 1, "max": 1},
                                  "normalize": {"forward": "-z", "up": "+y", "length": {"min": 4.0, "max": 4.0}}},
                                 context={"base_dir": str(tmp_path)})
    m = AssetLibrary([s], tmp_path).get(1).mesh
    lo, hi = m.bounds
    assert np.allclose(hi - lo, [4.0, 1.8 * 4 / 4.4, 1.5 * 4 / 4.4], atol=1e-6)  # x length, y width, z height
    assert np.allclose([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]], 0, atol=1e-9)


def test_procedural_cars_stand_on_their_wheels():
    from gtforge.assets.cars import KINDS, ROLES, make_car

    rng = np.random.default_rng(0)
    for kind in KINDS:
        car = make_car(rng, kind)
        lo, hi = car.mesh.bounds
        assert abs(lo[2]) < 1e-9 and abs(lo[0] + hi[0]) < 1e-9 and abs(lo[1] + hi[1]) < 1e-9
        assert 3.5 <= car.length <= 5.3 and 1.3 <= car.height <= 2.1
        tyres = car.mesh.vertices[np.unique(car.mesh.faces[car.face_parts == ROLES.index("tyre")])]
        low = tyres[tyres[:, 2] < 1e-6]  # what test_wheels_touch_the_measured_lidar_ground takes as contacts
        assert {(sx, sy) for sx, sy in np.sign(low[:, :2]).astype(int)} == {(-1, -1), (-1, 1), (1, -1), (1, 1)}


def test_inserted_cars_are_painted_from_the_appearance_stream(tmp_path):
    """Every procedural car gets a ``color`` paint; a user model keeps its own look (None); paint draws never move
    a car (the same poses whatever the paint)."""
    import trimesh

    import gtforge.scenes.ar as ar_mod
    from gtforge.assets.backgrounds import load_backgrounds
    from gtforge.assets.loaders import AssetLibrary
    from gtforge.config import validate_recipe
    from gtforge.core.description import Material

    (tmp_path / "bg").mkdir()
    bg = make_folder(tmp_path / "bg", wall=False)
    box = trimesh.creation.box(extents=[4.2, 1.8, 1.5])
    box.export(tmp_path / "user_car.glb")
    raw = ar_recipe(bg)
    raw["objects"].append({"name": "mine", "source": str(tmp_path / "user_car.glb"), "count": {"min": 1, "max": 1},
                           "normalize": {"forward": "+x", "up": "+z", "length": {"min": 4.2, "max": 4.2}}})
    recipe = validate_recipe(raw, "t.yaml", tmp_path)
    lib = AssetLibrary(recipe.objects, tmp_path)
    bgs = load_backgrounds(recipe.ar.backgrounds, tmp_path, 0)
    user_ids = set(lib.set_ids["mine"])
    scenes = [ar_mod.build_ar_scene(recipe.ar, recipe.target_sets, recipe.seed, lib, bgs, i) for i in range(3)]
    kinds = set()
    for desc in scenes:
        for o in desc.objects:
            if o.obj_id in user_ids:
                assert o.material is None
                kinds.add("user")
            else:
                assert isinstance(o.material, Material) and o.material.mode == "color"
                assert o.material.base_color.shape == (4,)
                kinds.add("car")
    assert kinds == {"user", "car"}
    grey = Material(mode="color", base_color=np.array([0.5, 0.5, 0.5, 1.0]))
    original = ar_mod.car_paint
    ar_mod.car_paint = lambda *a: grey
    try:
        again = [ar_mod.build_ar_scene(recipe.ar, recipe.target_sets, recipe.seed, lib, bgs, i) for i in range(3)]
    finally:
        ar_mod.car_paint = original
    for a, b in zip(scenes, again):
        assert [o.obj_id for o in a.objects] == [o.obj_id for o in b.objects]
        assert all(np.array_equal(p.world_T_model, q.world_T_model) for p, q in zip(a.objects, b.objects))
        assert np.array_equal(a.lights[0].direction, b.lights[0].direction)


@needs_kitti
def test_folder_of_kitti_frames_gives_the_same_background(tmp_path):
    import json
    import shutil

    from gtforge.assets.backgrounds import load_backgrounds
    from gtforge.config.schema import ARBackgroundsConfig

    for sub in ("image_2", "calib", "velodyne", "label_2"):
        (tmp_path / sub).mkdir()
    shutil.copy(KITTI / "image_2.png", tmp_path / "image_2" / "000008.png")
    shutil.copy(KITTI / "velodyne.bin", tmp_path / "velodyne" / "000008.bin")
    shutil.copy(KITTI / "label_2.txt", tmp_path / "label_2" / "000008.txt")
    shutil.copy(KITTI / "calib.txt", tmp_path / "calib" / "000008.txt")
    cfg = ARBackgroundsConfig.model_validate({"kind": "folder", "path": str(tmp_path)})
    a = load_backgrounds(cfg, tmp_path)[0]
    b = with_ground_plane(load_kitti_frame(KITTI), None, 0.0)
    assert np.allclose(a.K, b.K) and np.allclose(a.ref_T_cam, b.ref_T_cam, atol=1e-9)
    assert abs(a.plane[1] - b.plane[1]) < 1e-6 and len(a.labels) == len(b.labels)
    assert a.kitti_calib.to_bytes() == b.kitti_calib.to_bytes() == (KITTI / "calib.txt").read_bytes()
    # the frame's calibration as calib.json gives it (P2, lidar2cam = R0_rect · Tr_velo_to_cam in float32) agrees
    calib = json.loads((KITTI / "calib.json").read_text())
    assert np.array_equal(np.asarray(calib["P2"])[:3], b.kitti_calib.arrays()["P2"])
    assert np.allclose(calib["lidar2cam"], b.ref_T_lidar, atol=1e-7)


def make_folder(tmp_path, wall=True, free=None):
    """A synthetic background set: a grey road photo, shared intrinsics, a depth map of a level ground
    1.6 m below the camera, optionally a wall 9 m away covering the left half of the image."""
    H, W, f = 240, 320, 300.0
    (tmp_path / "image_2").mkdir()
    (tmp_path / "depth").mkdir()
    Image.fromarray(np.full((H, W, 3), 120, np.uint8)).save(tmp_path / "image_2" / "a.png")
    v = np.arange(H)[:, None].repeat(W, 1).astype(np.float64)
    with np.errstate(divide="ignore"):
        ground = np.where(v > H / 2 + 1, 1.6 * f / (v - (H - 1) / 2), 0.0)
    depth = np.where(ground > 60, 0.0, ground)
    if wall:
        depth[:, : W // 2] = np.where((ground[:, : W // 2] > 0) & (ground[:, : W // 2] < 9.0), ground[:, : W // 2], 9.0)
    np.save(tmp_path / "depth" / "a.npy", depth.astype(np.float32))
    if free is not None:
        (tmp_path / "free_space").mkdir()
        Image.fromarray((free * 255).astype(np.uint8)).save(tmp_path / "free_space" / "a.png")
    return {"kind": "folder", "path": str(tmp_path),
            "intrinsics": {"fx": f, "fy": f, "cx": (W - 1) / 2, "cy": (H - 1) / 2}}


def ar_recipe(bg, **ar):
    return {"seed": 1, "scenes": {"count": 6, "views_per_scene": 1},
            "objects": [{"name": "car", "source": "procedural://cars", "variants": 4, "count": {"min": 2, "max": 2}}],
            "ar": {"backgrounds": bg, "placement": "ground", "distance": {"min": 6, "max": 14}, "avoid_real": False,
                   "lateral_fraction": 0.9, **ar},
            "output": {"formats": ["bop"], "split": "train", "image_format": "png", "depth_scale": 1.0}}


@pytest.mark.e2e
def test_depth_map_occludes_inserted_cars(tmp_path):
    (tmp_path / "bg").mkdir()
    bg = make_folder(tmp_path / "bg")
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(ar_recipe(bg)))
    assert run_cli("build", tmp_path / "r.yaml", "--out", tmp_path / "ds", "--quiet") == 0
    hidden = 0
    for sd in sorted((tmp_path / "ds" / "train").glob("[0-9]" * 6)):
        depth = np.asarray(Image.open(sd / "depth" / "000000.png"), np.float64) / 1000.0  # depth_scale 1.0
        for m in sorted((sd / "mask").glob("*.png")):
            amodal = np.asarray(Image.open(m)) > 0
            vis = np.asarray(Image.open(sd / "mask_visib" / m.name)) > 0
            wall = np.zeros_like(vis)
            wall[:, :160] = True
            # where the wall stands, an inserted car is seen only in front of it (9 m), up to the documented
            # margin of depth-aware occlusion (a real surface must be nearer by max(5 cm, 2 %))
            d = depth[vis & wall]
            assert np.all(d <= 9.0 + np.maximum(0.05, 0.02 * d) + 0.001)
            hidden += int((amodal & wall & ~vis).sum() > 20)
    assert hidden >= 1  # some car really stood behind the wall
    assert run_cli("verify", tmp_path / "ds", "--sample", "6") == 0


@pytest.mark.e2e
def test_free_space_mask_confines_placement(tmp_path):
    (tmp_path / "bg").mkdir()
    free = np.zeros((240, 320), bool)
    free[:, 200:] = True
    bg = make_folder(tmp_path / "bg", wall=False, free=free)
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(ar_recipe(bg)))
    assert run_cli("build", tmp_path / "r.yaml", "--out", tmp_path / "ds", "--quiet") == 0
    import json

    n = 0
    for sd in sorted((tmp_path / "ds" / "train").glob("[0-9]" * 6)):
        cam = json.loads((sd / "scene_camera.json").read_text())["0"]
        K = np.reshape(cam["cam_K"], (3, 3))
        for e in json.loads((sd / "scene_gt.json").read_text())["0"]:
            t = np.asarray(e["cam_t_m2c"]) / 1000.0  # the car frame's origin: its bottom centre on the ground
            u = (K @ t)[0] / t[2]
            assert u >= 199.5
            n += 1
    assert n >= 4


def test_local_ground_stands_cars_on_slopes_and_refuses_bad_spots():
    from types import SimpleNamespace

    from gtforge.core.geometry import make_pose, transform_points
    from gtforge.scenes.ar import fit_local_ground, stand_on

    ar = SimpleNamespace(ground_min_points=12, ground_max_tilt_deg=8.0, ground_max_roughness=0.04)
    lo, hi = np.array([-2.2, -0.9, 0.0]), np.array([2.2, 0.9, 1.5])
    yaw = 0.7
    T = make_pose(np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]]),
                  [10.0, 2.0, 0.0])
    rng = np.random.default_rng(0)
    xy = rng.uniform([6, -2], [14, 6], (3000, 2))

    def ground(slope_deg, noise):
        g = math.tan(math.radians(slope_deg))  # rising along (x + y) / sqrt(2)
        z = 0.1 + g * (xy[:, 0] - 10 + xy[:, 1] - 2) / math.sqrt(2) + rng.normal(0, noise, len(xy))
        return np.c_[xy, z]

    pts = ground(4.0, 0.01)
    plane = fit_local_ground(T, lo, hi, pts, ar)
    assert plane is not None
    assert math.isclose(math.degrees(math.acos(plane[0][2])), 4.0, abs_tol=0.3)
    bottom = transform_points(stand_on(T, lo, hi, plane), np.array([[x, y, 0.0] for x in (lo[0], hi[0])
                                                                  for y in (lo[1], hi[1])]))
    g = math.tan(math.radians(4.0))
    true_z = 0.1 + g * (bottom[:, 0] - 10 + bottom[:, 1] - 2) / math.sqrt(2)
    assert np.abs(bottom[:, 2] - true_z).max() < 0.01  # every bottom corner on the sloped ground
    assert fit_local_ground(T, lo, hi, ground(12.0, 0.01), ar) is None  # too steep
    assert fit_local_ground(T, lo, hi, ground(2.0, 0.12), ar) is None  # too rough
    q = transform_points(np.linalg.inv(T), pts)
    shadow = pts[~((q[:, 0] > 0) & (q[:, 1] > 0) & (q[:, 0] < 3) & (q[:, 1] < 1.6))]  # no LiDAR under one wheel
    assert fit_local_ground(T, lo, hi, shadow, ar) is None
