"""Lens distortion through the build (``camera.distortion``): every layer and label in the distorted camera.

Oracles independent of the renderer: OpenCV's own projection (``cv2.projectPoints`` / ``cv2.fisheye.projectPoints``)
of the written 3D keypoints, OpenCV's undistortion (``cv2.initUndistortRectifyMap`` + nearest ``cv2.remap``) of the
written masks against a pinhole build of the same scenes, and ``gtforge verify``'s ray cast through the written lens.
"""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import DEFAULT_RECIPE, ROOT, SMALL, run_cli
from PIL import Image

from gtforge.formats.kitti import read_calib

HANDS_RECIPE = ROOT / "recipes" / "hands_objects.yaml"
RADTAN = [-0.28, 0.07, 0.001, -0.0005, 0.0]
FISHEYE = [0.1, -0.05, 0.01, -0.002]


def _sets(*items):
    return sum((["--set", s] for s in items), [])


def _clutter(out, lens=None, formats="[bop, coco]"):
    """The default recipe at its own 640x480 (at 320x240 OpenCV's nearest undistortion of even an exact, ray-cast
    distorted mask recovers the pinhole mask with IoU 0.975 only: small objects are all border)."""
    extra = [] if lens is None else [f"camera.distortion={{model: {lens[0]}, coeffs: {lens[1]}}}"]
    rc = run_cli("build", DEFAULT_RECIPE, "--out", out, "--quiet",
                 *_sets("scenes.count=1", "scenes.views_per_scene=2", f"output.formats={formats}", *extra))
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def clutter_pair(tmp_path_factory):
    """The same scenes and camera poses built with a radtan lens and as a pinhole (640x480, 1 scene x 2 views)."""
    base = tmp_path_factory.mktemp("lens")
    return (_clutter(base / "radtan", ("radtan", RADTAN), "[bop, coco, kitti]"), _clutter(base / "pinhole"))


def _K(cam):
    return np.asarray(cam["cam_K"], dtype=np.float64).reshape(3, 3)


@pytest.mark.e2e
def test_verify_passes_on_a_distorted_dataset(clutter_pair):
    assert run_cli("verify", clutter_pair[0]) == 0


@pytest.mark.e2e
def test_lens_is_written_with_the_camera(clutter_pair):
    root = Path(clutter_pair[0])
    want = {"model": "radtan", "coeffs": RADTAN}
    assert json.loads((root / "camera.json").read_text())["cam_dist"] == want
    cams = json.loads((root / "train_pbr" / "000000" / "scene_camera.json").read_text())
    assert cams and all(c["cam_dist"] == want for c in cams.values())
    coco = json.loads((root / "instances_train_pbr.json").read_text())
    assert coco["images"] and all(im["cam_dist"] == want for im in coco["images"])
    calibs = sorted((root / "kitti" / "calib").glob("*.txt"))
    assert calibs
    for p in calibs:
        c = read_calib(p)
        assert np.allclose(c["D_02"], RADTAN) and c["P2"].shape == (3, 4)
        assert p.read_text().splitlines()[:7][-1].startswith("Tr_imu_to_velo:")  # the seven standard lines first
    # without a lens nothing is added
    pin = Path(clutter_pair[1])
    assert "cam_dist" not in json.loads((pin / "camera.json").read_text())
    assert not any("cam_dist" in c for c in
                   json.loads((pin / "train_pbr" / "000000" / "scene_camera.json").read_text()).values())


@pytest.mark.e2e
def test_undistorting_the_masks_recovers_the_pinhole_masks(clutter_pair):
    """OpenCV's undistortion (to the pinhole K) of each distorted mask_visib against the pinhole build's mask_visib,
    over the pixels whose distorted source lies inside the image: IoU >= 0.98 (all instances' pixels together) and
    >= 0.95 per instance of >= 1000 px. The lens moves the masks by up to several pixels, so comparing the distorted
    masks with the pinhole ones directly fails (checked below)."""
    lens_root, pin_root = Path(clutter_pair[0]), Path(clutter_pair[1])
    sd_l, sd_p = lens_root / "train_pbr" / "000000", pin_root / "train_pbr" / "000000"
    cams = json.loads((sd_l / "scene_camera.json").read_text())
    cams_p = json.loads((sd_p / "scene_camera.json").read_text())
    gt_l = json.loads((sd_l / "scene_gt.json").read_text())
    gt_p = json.loads((sd_p / "scene_gt.json").read_text())
    inter = union = inter_raw = union_raw = n = 0
    for im, cam in cams.items():
        assert cams_p[im]["cam_R_w2c"] == cam["cam_R_w2c"] and gt_l[im] == gt_p[im]  # same scene, same poses
        K = _K(cam)
        D = np.asarray(cam["cam_dist"]["coeffs"])
        W, H = 640, 480
        mx, my = cv2.initUndistortRectifyMap(K, D, None, K, (W, H), cv2.CV_32FC1)
        inside = (mx >= -0.5) & (mx < W - 0.5) & (my >= -0.5) & (my < H - 0.5)
        for gid in range(len(gt_l[im])):
            name = f"{int(im):06d}_{gid:06d}.png"
            md = np.asarray(Image.open(sd_l / "mask_visib" / name)) > 127
            mp = (np.asarray(Image.open(sd_p / "mask_visib" / name)) > 127) & inside
            mu = cv2.remap(md.astype(np.uint8), mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT) > 0
            i, u = (mu & mp).sum(), (mu | mp).sum()
            inter, union = inter + i, union + u
            inter_raw, union_raw = inter_raw + (md & mp).sum(), union_raw + (md | mp).sum()
            if mp.sum() >= 1000:
                assert i / u >= 0.95, f"im {im} gt {gid}: IoU {i / u:.3f}"
                n += 1
    assert n >= 6
    iou = inter / union
    print(f"undistorted masks vs pinhole masks: IoU {iou:.4f} (distorted vs pinhole directly {inter_raw / union_raw:.4f})")
    assert iou >= 0.98
    assert inter_raw / union_raw < 0.9  # the lens really moved them


@pytest.fixture(scope="module", params=[("radtan", RADTAN), ("fisheye", FISHEYE)], ids=["radtan", "fisheye"])
def hands_lens(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("hands_lens") / request.param[0]
    rc = run_cli("build", HANDS_RECIPE, "--out", out, "--quiet",
                 *_sets("camera.width=320", "camera.height=240", "scenes.count=1", "scenes.views_per_scene=2",
                        "hands.count={min: 2, max: 2}", "hands.forearm.probability=0",
                        f"camera.distortion={{model: {request.param[0]}, coeffs: {request.param[1]}}}"))
    assert rc == 0
    return out, request.param


@pytest.mark.e2e
def test_hand_keypoints_go_through_the_lens(hands_lens):
    """Written 2D keypoints = OpenCV's projection of the written 3D keypoints (< 0.01 px), not the pinhole's."""
    root, (model, coeffs) = hands_lens
    n = moved = 0
    worst = 0.0
    for sd in sorted((Path(root) / "train_pbr").glob("[0-9]" * 6)):
        cams = json.loads((sd / "scene_camera.json").read_text())
        hands = json.loads((sd / "scene_hands.json").read_text())
        for im, hs in hands.items():
            K, D = _K(cams[im]), np.asarray(coeffs, dtype=np.float64)
            assert cams[im]["cam_dist"] == {"model": model, "coeffs": coeffs}
            for h in hs:
                kp = np.asarray(h["keypoints_cam_m"], dtype=np.float64).reshape(-1, 1, 3)
                if model == "radtan":
                    uv, _ = cv2.projectPoints(kp, np.zeros(3), np.zeros(3), K, D)
                else:
                    uv, _ = cv2.fisheye.projectPoints(kp, np.zeros(3), np.zeros(3), K, D)
                uv = uv.reshape(-1, 2)
                pin = (kp.reshape(-1, 3) @ K.T)[:, :2] / kp.reshape(-1, 3)[:, 2:3]
                for k, w in enumerate(h["keypoints_2d"]):
                    if w is None:
                        continue
                    err = float(np.hypot(*(uv[k] - w)))
                    worst = max(worst, err)
                    assert err < 0.01, f"{sd.name} im {im} keypoint {k}: {err:.4f} px from OpenCV's projection"
                    moved += float(np.hypot(*(pin[k] - w))) > 0.5
                    n += 1
    print(f"{model}: {n} keypoints, largest difference from OpenCV {worst:.2e} px, {moved} more than 0.5 px "
          f"from the pinhole projection")
    assert n >= 40 and moved >= n // 4
    assert run_cli("verify", root) == 0


def test_a_folding_lens_exits_2_before_rendering(tmp_path, capsys):
    """k1 = 0.5, k2 = -2 folds back at about 32 deg off the axis, inside a 320x240 image with fx 286."""
    out = tmp_path / "out"
    rc = run_cli("build", DEFAULT_RECIPE, "--out", out, "--quiet",
                 *_sets(*SMALL, "camera.distortion={model: radtan, coeffs: [0.5, -2.0, 0.0, 0.0, 0.0]}"))
    assert rc == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "camera.distortion.coeffs" in err and "not monotonic" in err
