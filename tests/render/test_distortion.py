"""Lens distortion of the colour layers (render/distortion.py) and the recipe section's checks (config/distortion.py).
No GL. The lens model itself (projection, undistortion, folds) is tested in tests/core/test_lens.py; the exact
ids, depth and silhouettes in tests/render/test_lens_camera.py.

Oracles: OpenCV's own ``initUndistortRectifyMap`` + ``remap`` (the way back, independent of the maps under test),
and an analytic scene of planar patches ray-cast in numpy at the pinhole canvas (the "render") and at the pinhole
camera K (the reference). Realistic lenses at 640x480, fx = fy = 500 (issue 10).
"""

import math

import cv2
import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from gtforge.config.base import FieldValueError
from gtforge.config.distortion import CANVAS_MARGIN, DistortionConfig
from gtforge.core.lens import monotonic_limit, pixel_rays, project_points_lens, undistort_points
from gtforge.render.distortion import distort_image, distortion_maps, map_footprint, pinhole_canvas, supersample_maps

W, H = 640, 480
K = np.array([[500.0, 0.0, 319.5], [0.0, 500.0, 239.5], [0.0, 0.0, 1.0]])
RADTAN = DistortionConfig(model="radtan", coeffs=[-0.28, 0.07, 1e-3, -5e-4, 0.0])
FISHEYE = DistortionConfig(model="fisheye", coeffs=[0.1, -0.05, 0.01, -0.002])
LENSES = {"radtan": RADTAN, "fisheye": FISHEYE}


# ---------------------------------------------------------------------------------------------- oracles
def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def patch(owner, centre, normal, e1, half=None, radius=None):
    """A planar surface: rectangle (half sizes along e1, e2 = normal x e1), disc (radius) or infinite (neither)."""
    n = unit(normal)
    e1 = unit(np.asarray(e1, float) - np.dot(e1, n) * n)
    return dict(owner=owner, c=np.asarray(centre, float), n=n, e1=e1, e2=np.cross(n, e1), half=half, radius=radius)


#: The analytic scene (camera frame, metres): a tilted floor and a back wall (owner 0, meeting in a crease), an
#: owner-0 "distractor" in front of the wall (a depth jump within owner 0), two fronto-parallel rectangles (one
#: occluding the other), a tilted rectangle, a tilted disc, and a rectangle across the top-left image corner.
SCENE = [
    patch(0, (0, 0.5, 2.5), (0, -1, -0.4), (1, 0, 0)),
    patch(0, (0, 0, 3.0), (0, 0, -1), (1, 0, 0)),
    patch(0, (0.6, 0.35, 2.2), (0, 0, -1), (1, 0, 0), half=(0.15, 0.1)),
    patch(1, (-0.3, -0.1, 1.6), (0, 0, -1), (1, 0, 0), half=(0.35, 0.25)),
    patch(2, (0.05, 0.05, 1.1), (0, 0, -1), (1, 0, 0), half=(0.15, 0.12)),
    patch(3, (0.45, -0.15, 1.4), (math.sin(math.radians(60)), 0, -math.cos(math.radians(60))), (0, 1, 0),
          half=(0.15, 0.2)),
    patch(4, (-0.5, 0.3, 1.3), (0, math.sin(math.radians(30)), -math.cos(math.radians(30))), (1, 0, 0), radius=0.12),
    patch(5, (-0.75, -0.55, 1.0), (0.1, 0.05, -1), (1, 0, 0), half=(0.25, 0.2)),
]
N_OBJECTS = 5


def cast(dirs, surfaces=SCENE):
    """First hits of rays ``dirs`` (..., 3) from the origin: depth z (0: none), owner (0: none or owner 0) and the
    index of the surface hit (-1: none). NaN rays hit nothing."""
    d = dirs.reshape(-1, 3)
    best = np.full(len(d), np.inf)
    surf = np.full(len(d), -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i, s in enumerate(surfaces):
            t = np.dot(s["c"], s["n"]) / (d @ s["n"])
            p = t[:, None] * d - s["c"]
            a, b = p @ s["e1"], p @ s["e2"]
            hit = (t > 0) & np.isfinite(t)
            if s["half"] is not None:
                hit &= (np.abs(a) <= s["half"][0]) & (np.abs(b) <= s["half"][1])
            elif s["radius"] is not None:
                hit &= np.hypot(a, b) <= s["radius"]
            closer = hit & (t < best)
            best[closer] = t[closer]
            surf[closer] = i
    depth = np.where(surf >= 0, best * d[:, 2], 0.0)
    owner = np.where(surf >= 0, np.array([s["owner"] for s in surfaces])[surf], 0)
    shape = dirs.shape[:-1]
    return depth.reshape(shape), owner.reshape(shape).astype(np.int32), surf.reshape(shape)


def pinhole_dirs(Kc, width, height):
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    return np.stack([(u - Kc[0, 2]) / Kc[0, 0], (v - Kc[1, 2]) / Kc[1, 1], np.ones_like(u)], axis=-1)


def opencv_undistort_nearest(img, dist):
    """Back to the pinhole camera (K, W, H) with OpenCV alone: initUndistortRectifyMap + remap (nearest)."""
    D = np.asarray(dist.coeffs)
    if dist.model == "radtan":
        m1, m2 = cv2.initUndistortRectifyMap(K, D, None, K, (W, H), cv2.CV_32FC1)
    else:
        m1, m2 = cv2.fisheye.initUndistortRectifyMap(K, D, np.eye(3), K, (W, H), cv2.CV_32FC1)
    return cv2.remap(img, m1, m2, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


@pytest.fixture(scope="module", params=["radtan", "fisheye"])
def rig(request):
    """Canvas, maps and the analytic scene's ids on the canvas of one lens, computed once."""
    dist = LENSES[request.param]
    K_p, W_p, H_p = pinhole_canvas(K, dist, W, H)
    maps = distortion_maps(K, dist, W, H, K_p)
    _, ids_p, _ = cast(pinhole_dirs(K_p, W_p, H_p))
    return {"dist": dist, "K_p": K_p, "W_p": W_p, "H_p": H_p, "maps": maps, "ids_p": ids_p,
            "rays": pixel_rays(K, dist, W, H)}


# ---------------------------------------------------------------------------------------------- (a) projection
def field_points(dist, n=9):
    """Camera-frame points (n*n, 3) whose projections spread over the image (corners included), various depths."""
    u, v = np.meshgrid(np.linspace(2, W - 3, n), np.linspace(2, H - 3, n))
    xy = undistort_points(np.stack([u.ravel(), v.ravel()], 1), K, dist)
    z = np.linspace(0.4, 3.0, len(xy))
    return np.concatenate([xy * z[:, None], z[:, None]], axis=1)


@pytest.mark.parametrize("name", ["radtan", "fisheye"])
def test_a_tiny_square_lands_where_the_point_projects(name):
    """Squares (3 px, area-antialiased) drawn on the pinhole canvas at the canvas projection of 3D points, then
    distorted: each blob's centroid is at ``project_points_lens`` of its point within 0.5 px."""
    dist = LENSES[name]
    K_p, W_p, H_p = pinhole_canvas(K, dist, W, H)
    maps = distortion_maps(K, dist, W, H, K_p)
    P = field_points(dist, n=7)
    uc = P[:, :2] / P[:, 2:] * [K_p[0, 0], K_p[1, 1]] + [K_p[0, 2], K_p[1, 2]]  # pinhole projection on the canvas
    canvas = np.zeros((H_p, W_p), dtype=np.float32)
    cols, rows = np.arange(W_p), np.arange(H_p)
    for x, y in uc:
        cover_x = np.clip(np.minimum(cols + 0.5, x + 1.5) - np.maximum(cols - 0.5, x - 1.5), 0, 1)
        cover_y = np.clip(np.minimum(rows + 0.5, y + 1.5) - np.maximum(rows - 0.5, y - 1.5), 0, 1)
        canvas += np.outer(cover_y, cover_x).astype(np.float32)
    img = distort_image(maps, canvas)
    expected = project_points_lens(P, K, dist)
    uu, vv = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    for eu, ev in expected:
        win = (np.abs(uu - eu) <= 6) & (np.abs(vv - ev) <= 6)
        w = img * win
        assert w.sum() > 0.5
        cu, cv_ = (w * uu).sum() / w.sum(), (w * vv).sum() / w.sum()
        assert math.hypot(cu - eu, cv_ - ev) < 0.5, (name, eu, ev, cu, cv_)


# ---------------------------------------------------------------------------------------------- (c) OpenCV way back
def test_undistorting_distorted_images_with_opencv_recovers_the_pinhole_images(rig):
    """Each object's canvas silhouette as a grey image, distorted (bilinear), undistorted back by OpenCV alone and
    thresholded at 1/2: the pinhole camera's silhouette (IoU >= 0.98): the colour layers land where the lens puts
    them."""
    dist = rig["dist"]
    _, ids_k, _ = cast(pinhole_dirs(K, W, H))  # the ideal pinhole camera K, W x H, cast independently
    # the canvas is the pinhole grid of K shifted by whole pixels: the pinhole image is an exact crop of it
    ox, oy = K[0, 2] - rig["K_p"][0, 2], K[1, 2] - rig["K_p"][1, 2]
    assert ox == int(ox) and oy == int(oy)
    assert np.array_equal(rig["ids_p"][-int(oy):-int(oy) + H, -int(ox):-int(ox) + W], ids_k)
    for i in range(1, N_OBJECTS + 1):
        grey = distort_image(rig["maps"], (rig["ids_p"] == i).astype(np.float32))
        back = opencv_undistort_nearest(grey, dist) >= 0.5
        truth = ids_k == i
        iou = (back & truth).sum() / (back | truth).sum()
        assert truth.sum() > 300 and iou >= 0.98, (dist.model, i, iou)


# ---------------------------------------------------------------------------------------------- (d) validation
def test_realistic_lenses_pass_the_field_check():
    for dist in LENSES.values():
        info = dist.check_field(K, W, H)
        assert 40 < info["half_field_deg"] < 50 and info["fold_deg"] == 90.0
        K_p, W_p, H_p = pinhole_canvas(K, dist, W, H)
        assert abs(info["canvas_estimate"][0] - W_p) <= 3 and abs(info["canvas_estimate"][1] - H_p) <= 3


@pytest.mark.parametrize("coeffs, words", [
    ([-0.5, 0.0, 0.0, 0.0, 0.0], "folds back inside the image"),     # r_d peaks at 0.544 < corner 0.8
    ([-0.1, -0.3, 0.0, 0.0, 0.0], "folds back inside the image"),
    ([0.0, 0.0, 0.3, 0.2, 0.0], "tangential terms"),
])
def test_folding_radtan_coefficients_are_refused(coeffs, words):
    with pytest.raises(FieldValueError) as e:
        DistortionConfig(model="radtan", coeffs=coeffs).check_field(K, W, H)
    assert e.value.loc == ("coeffs",) and words in str(e.value)


def test_a_fold_just_outside_the_image_is_accepted():
    # 1 + 3 k1 r^2 = 0 at r = 1.3, where r_d = 1.3 * 2/3 = 0.867 > the corner's 0.8: the image is one to one ...
    k1 = -1 / (3 * 1.3 ** 2)
    info = DistortionConfig(model="radtan", coeffs=[k1, 0.0, 0.0, 0.0, 0.0]).check_field(K, W, H)
    assert info["fold_deg"] == pytest.approx(math.degrees(math.atan(1.3)))
    # ... and a fold at r = 1.2 (r_d = 0.8, on the corner itself) is not
    with pytest.raises(FieldValueError, match="folds back"):
        DistortionConfig(model="radtan", coeffs=[-1 / (3 * 1.2 ** 2), 0, 0, 0, 0]).check_field(K, W, H)
    assert info["half_field_deg"] < info["fold_deg"]


@pytest.mark.parametrize("fx, words", [(150.0, "180 deg"), (260.0, "pinhole canvas")])
def test_too_wide_fisheye_fields_are_refused(fx, words):
    Kf = K.copy()
    Kf[0, 0] = Kf[1, 1] = fx
    with pytest.raises(FieldValueError) as e:
        DistortionConfig(model="fisheye", coeffs=[0.0, 0.0, 0.0, 0.0]).check_field(Kf, W, H)
    assert e.value.loc == ("coeffs",) and words in str(e.value)


def test_the_recipe_section_checks_its_coefficients():
    with pytest.raises(ValidationError, match="takes 5 coefficients"):
        DistortionConfig.model_validate({"model": "radtan", "coeffs": [0.1, 0.0, 0.0, 0.0]})
    with pytest.raises(ValidationError, match="takes 4 coefficients"):
        DistortionConfig.model_validate({"model": "fisheye", "coeffs": [0.1, 0.0, 0.0, 0.0, 0.0]})
    with pytest.raises(ValidationError, match="finite"):
        DistortionConfig.model_validate({"model": "fisheye", "coeffs": [0.1, float("nan"), 0.0, 0.0]})
    with pytest.raises(ValidationError):
        DistortionConfig.model_validate({"model": "division", "coeffs": [0.1]})
    d = DistortionConfig.model_validate({"model": "radtan", "coeffs": [-0.28, 0.07, 0, 0, 0]})
    assert d.to_json() == {"model": "radtan", "coeffs": [-0.28, 0.07, 0.0, 0.0, 0.0]}
    # calibration files write 1e-3; PyYAML (YAML 1.1) reads that as a string
    data = yaml.safe_load("{model: radtan, coeffs: [-0.28, 0.07, 1e-3, -5E-4, 0]}")
    assert DistortionConfig.model_validate(data).coeffs == [-0.28, 0.07, 1e-3, -5e-4, 0.0]
    with pytest.raises(ValidationError):
        DistortionConfig.model_validate({"model": "radtan", "coeffs": [-0.28, 0.07, "0.001", 0, 0]})


# ---------------------------------------------------------------------------------------------- (e) canvas
def test_the_canvas_covers_every_ray_and_no_more(rig):
    mx, my = rig["maps"]
    assert mx.shape == my.shape == (H, W) and mx.dtype == np.float32 and np.isfinite(mx).all()
    m = CANVAS_MARGIN
    assert mx.min() >= m - 1e-3 and mx.max() <= rig["W_p"] - 1 - m + 1e-3
    assert my.min() >= m - 1e-3 and my.max() <= rig["H_p"] - 1 - m + 1e-3
    assert mx.min() < m + 1 and mx.max() > rig["W_p"] - 2 - m and my.min() < m + 1 and my.max() > rig["H_p"] - 2 - m
    # the maps are the pixel rays on the canvas
    r = rig["rays"]
    assert np.allclose(r[..., 0] / r[..., 2] * rig["K_p"][0, 0] + rig["K_p"][0, 2], mx, atol=1e-3)
    assert np.array_equal(rig["K_p"][:2, :2], K[:2, :2])


def test_windows_beyond_the_field_have_no_rays():
    fold = ("radtan", [-0.5, 0.0, 0.0, 0.0, 0.0])  # rd_max = 0.544: 272 px from the principal point
    u0, v0, w, h = 480, 200, 160, 80  # spans the fold radius along the horizontal axis
    K_p, W_p, H_p = pinhole_canvas(K, fold, w, h, u0, v0)
    mx, my = distortion_maps(K, fold, w, h, K_p, u0, v0)
    u = np.arange(u0, u0 + w)[None, :] - K[0, 2]
    v = np.arange(v0, v0 + h)[:, None] - K[1, 2]
    beyond = np.hypot(u, v) / 500.0 >= monotonic_limit(*fold)[1]
    assert beyond.any() and (~beyond).any()
    assert np.array_equal(np.isnan(mx), beyond)
    rgb = distort_image((mx, my), np.full((H_p, W_p, 3), 200, np.uint8))
    assert (rgb[beyond] == 0).all() and (rgb[~beyond] == 200).all()


def test_pinhole_lens_is_the_identity():
    K_p, W_p, H_p = pinhole_canvas(K, None, 32, 24)
    assert np.array_equal(K_p, K) and (W_p, H_p) == (32, 24)
    mx, my = distortion_maps(K, ("radtan", [0, 0, 0, 0, 0]), 32, 24, K_p)
    assert np.array_equal(mx, np.tile(np.arange(32, dtype=np.float32), (24, 1)))
    assert np.array_equal(my, np.tile(np.arange(24, dtype=np.float32)[:, None], (1, 32)))


def test_supersampled_rgb_is_a_box_filter_over_each_pixel():
    """320x240 with the fisheye: the mean of the s x s sample maps is the centre map (a box filter centred on each
    pixel), a linear ramp is reproduced, and fine stripes (aliased by one bilinear sample where the lens compresses)
    average to their mean grey."""
    Ks = np.array([[250.0, 0.0, 159.5], [0.0, 250.0, 119.5], [0.0, 0.0, 1.0]])
    K_p, W_p, H_p = pinhole_canvas(Ks, FISHEYE, 320, 240)
    maps = distortion_maps(Ks, FISHEYE, 320, 240, K_p)
    fp = map_footprint(*maps)
    assert fp.max() > 1.5
    subs = supersample_maps(Ks, FISHEYE, 320, 240, K_p)
    assert len(subs) == 4
    assert np.abs(np.mean([m[0] for m in subs], axis=0) - maps[0]).max() < 0.02
    ramp = np.tile(np.linspace(0.0, 1.0, W_p, dtype=np.float32), (H_p, 1))
    a = distort_image(maps, ramp, subs)
    assert np.abs(a - (maps[0] / (W_p - 1))).max() < 2e-4
    stripes = np.tile((np.arange(W_p) % 2).astype(np.float32), (H_p, 1))
    single = distort_image(maps, stripes)
    boxed = distort_image(maps, stripes, subs)
    outer = fp > 1.6
    assert outer.sum() > 100
    assert np.abs(boxed[outer] - 0.5).mean() < 0.5 * np.abs(single[outer] - 0.5).mean()


def test_maps_beyond_the_canvas_are_refused():
    maps = (np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32))
    assert distort_image(maps, np.ones((4, 4), np.float32)).shape == (2, 2)
    with pytest.raises(ValueError, match="outside"):
        distort_image((maps[0] + 9, maps[1]), np.ones((4, 4), np.float32))
