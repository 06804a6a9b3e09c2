"""Lens distortion (render/distortion.py) and its recipe section (config/distortion.py). No GL.

Oracles: the model's equations written out here from the OpenCV docs (projection), OpenCV's own
``initUndistortRectifyMap`` + ``remap`` (the way back, independent of the maps under test), and an analytic scene
of planar patches ray-cast in numpy, once at the pinhole canvas (the "render") and once directly through the
distorted pixels' rays (the reference). Realistic lenses at 640x480, fx = fy = 500 (issue 10).
"""

import math

import cv2
import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from gtforge.config.base import FieldValueError
from gtforge.config.distortion import CANVAS_MARGIN, DistortionConfig
from gtforge.core.lens import monotonic_limit, radial_distort, radial_undistort, undistort_points
from gtforge.core.lens import pixel_rays as _pixel_rays
from gtforge.core.lens import project_points_lens as project_points
from gtforge.render.distortion import distort_layers, distortion_maps, map_footprint, pinhole_canvas, supersample_maps


def pixel_rays(K, dist, width, height, u0=0, v0=0):
    """Unit rays of the pixel centres (core.lens.pixel_rays gives z = 1)."""
    r = _pixel_rays(K, dist, width, height, u0, v0)
    return r / np.linalg.norm(r, axis=-1, keepdims=True)

W, H = 640, 480
K = np.array([[500.0, 0.0, 319.5], [0.0, 500.0, 239.5], [0.0, 0.0, 1.0]])
RADTAN = DistortionConfig(model="radtan", coeffs=[-0.28, 0.07, 1e-3, -5e-4, 0.0])
FISHEYE = DistortionConfig(model="fisheye", coeffs=[0.1, -0.05, 0.01, -0.002])
LENSES = {"radtan": RADTAN, "fisheye": FISHEYE}


# ---------------------------------------------------------------------------------------------- oracles
def opencv_doc_projection(P, K, dist):
    """The model equations of the OpenCV docs (calib3d; fisheye module), written out independently."""
    x, y = P[:, 0] / P[:, 2], P[:, 1] / P[:, 2]
    r2 = x * x + y * y
    if dist.model == "radtan":
        k1, k2, p1, p2, k3 = dist.coeffs
        radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    else:
        k1, k2, k3, k4 = dist.coeffs
        r = np.sqrt(r2)
        th = np.arctan(r)
        thd = th * (1 + k1 * th ** 2 + k2 * th ** 4 + k3 * th ** 6 + k4 * th ** 8)
        scale = np.divide(thd, r, out=np.ones_like(r), where=r > 0)  # theta_d / r -> 1 on the axis
        xd, yd = scale * x, scale * y
    return np.stack([K[0, 0] * xd + K[0, 2], K[1, 1] * yd + K[1, 2]], axis=1)


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
    """Canvas, maps, canvas layers and the reference (rays of the distorted pixels) of one lens, computed once."""
    dist = LENSES[request.param]
    K_p, W_p, H_p = pinhole_canvas(K, dist, W, H)
    maps = distortion_maps(K, dist, W, H, K_p)
    depth_p, ids_p, _ = cast(pinhole_dirs(K_p, W_p, H_p))
    rays = pixel_rays(K, dist, W, H)
    depth_ref, ids_ref, surf_ref = cast(rays)
    return dict(dist=dist, K_p=K_p, W_p=W_p, H_p=H_p, maps=maps, ids_p=ids_p, depth_p=depth_p.astype(np.float32),
                rays=rays, depth_ref=depth_ref, ids_ref=ids_ref, surf_ref=surf_ref)


def eroded_same(labels, radius):
    """Pixels whose (2 radius + 1)^2 neighbourhood (inside the image) all carry the same label as the pixel."""
    Hh, Ww = labels.shape
    pad = np.pad(labels, radius, mode="edge")
    same = np.ones(labels.shape, dtype=bool)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            same &= pad[radius + dy:radius + dy + Hh, radius + dx:radius + dx + Ww] == labels
    return same


# ---------------------------------------------------------------------------------------------- (a) projection
def field_points(dist, n=9):
    """Camera-frame points (n*n, 3) whose projections spread over the image (corners included), various depths."""
    u, v = np.meshgrid(np.linspace(2, W - 3, n), np.linspace(2, H - 3, n))
    xy = undistort_points(np.stack([u.ravel(), v.ravel()], 1), K, dist)
    z = np.linspace(0.4, 3.0, len(xy))
    return np.concatenate([xy * z[:, None], z[:, None]], axis=1)


@pytest.mark.parametrize("name", ["radtan", "fisheye"])
def test_projection_is_opencv_and_the_documented_model(name):
    dist = LENSES[name]
    P = np.concatenate([field_points(dist), [[0.9, -0.7, 0.5], [-2.0, 1.5, 1.0]]])  # and two outside the image
    uv = project_points(P, K, dist)
    if name == "radtan":
        ref, _ = cv2.projectPoints(P, np.zeros(3), np.zeros(3), K, np.asarray(dist.coeffs))
    else:
        ref, _ = cv2.fisheye.projectPoints(P.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K, np.asarray(dist.coeffs))
    assert np.abs(uv - ref.reshape(-1, 2)).max() < 0.01
    assert np.abs(uv - opencv_doc_projection(P, K, dist)).max() < 1e-6
    # undistortion inverts it: back to the points' rays, and the pixel rays project onto the pixel centres
    xy = undistort_points(uv, K, dist)
    assert np.abs(xy - P[:, :2] / P[:, 2:]).max() < 1e-9
    rays = pixel_rays(K, dist, 40, 30, u0=600, v0=450)  # the bottom-right corner window
    centres = np.stack(np.meshgrid(np.arange(600, 640.0), np.arange(450, 480.0)), -1).reshape(-1, 2)
    assert np.abs(opencv_doc_projection(rays.reshape(-1, 3), K, dist) - centres).max() < 1e-6
    assert np.allclose(np.linalg.norm(rays, axis=-1), 1.0)


def test_points_behind_the_camera_or_past_a_fold_have_no_projection():
    P = np.array([[0.1, 0.0, -1.0], [0.1, 0.0, 0.0], [0.1, 0.0, 1.0]])
    assert np.isnan(project_points(P, K, RADTAN)[:2]).all() and np.isfinite(project_points(P, K, RADTAN)[2]).all()
    fold = ("radtan", [-0.5, 0.0, 0.0, 0.0, 0.0])  # r_d = r (1 - 0.5 r^2) folds at r = sqrt(2/3)
    r_fold, rd_fold = monotonic_limit("radtan", fold[1])
    assert r_fold == pytest.approx(math.sqrt(2 / 3), rel=1e-12) and rd_fold == pytest.approx(math.sqrt(2 / 3) * 2 / 3)
    uv = project_points(np.array([[0.8, 0.0, 1.0], [1.2, 0.0, 1.0]]), K, fold)
    assert np.isfinite(uv[0]).all() and np.isnan(uv[1]).all()
    # the image of r = 1.2 lies inside the image (the model sends it back), but no pixel's ray is that ray
    assert 0 <= opencv_doc_projection(np.array([[1.2, 0.0, 1.0]]), K, DistortionConfig(
        model="radtan", coeffs=fold[1]))[0, 0] < W
    assert np.isnan(undistort_points([[K[0, 2] + 500 * 0.6, K[1, 2]]], K, fold)).all()  # 0.6 > rd_fold
    xy = undistort_points([[K[0, 2] + 500 * 0.5, K[1, 2]]], K, fold)
    assert xy[0, 0] < r_fold and radial_distort("radtan", fold[1], xy[0, 0]) == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("name", ["radtan", "fisheye"])
def test_a_tiny_square_lands_where_the_point_projects(name):
    """Squares (3 px, area-antialiased) drawn on the pinhole canvas at the canvas projection of 3D points, then
    distorted: each blob's centroid is at ``project_points`` of its point within 0.5 px."""
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
    img = distort_layers(maps, rgb=canvas)["rgb"]
    expected = project_points(P, K, dist)
    uu, vv = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    for eu, ev in expected:
        win = (np.abs(uu - eu) <= 6) & (np.abs(vv - ev) <= 6)
        w = img * win
        assert w.sum() > 0.5
        cu, cv_ = (w * uu).sum() / w.sum(), (w * vv).sum() / w.sum()
        assert math.hypot(cu - eu, cv_ - ev) < 0.5, (name, eu, ev, cu, cv_)


# ---------------------------------------------------------------------------------------------- (b) layers
def test_distorted_layers_match_ray_casting_through_the_lens(rig):
    out = distort_layers(rig["maps"], ids=rig["ids_p"], depth=rig["depth_p"])
    ids, depth = out["ids"], out["depth"]
    assert ids.shape == (H, W) and ids.dtype == np.int32 and depth.dtype == np.float32
    ref_ids, ref_depth, surf = rig["ids_ref"], rig["depth_ref"], rig["surf_ref"]
    agree = ids == ref_ids
    assert agree.mean() >= 0.995
    # every disagreement is on an owner boundary of the reference (a neighbour within 1 px has another owner)
    assert not np.any(~agree & eroded_same(ref_ids, 1))
    # planar interiors (same surface over 5x5, valid): depth is the ray-plane intersection
    interior = eroded_same(surf, 2) & (surf >= 0)
    assert interior.mean() > 0.8
    rel = np.abs(depth.astype(np.float64) - ref_depth)[interior] / ref_depth[interior]
    assert rel.max() < 1e-5
    # every object is seen, each surface kind included (tilted planes: interpolation at work, nearest is not enough)
    assert set(np.unique(ids[interior])) == set(range(N_OBJECTS + 1))
    nearest = distort_layers(rig["maps"], ids=rig["ids_p"], depth=rig["depth_p"], depth_jump=-1.0)["depth"]
    tilted = interior & np.isin(surf, [0, 5, 6])
    assert (np.abs(nearest.astype(np.float64) - ref_depth)[tilted] / ref_depth[tilted]).max() > 1e-4
    # off the planar interiors no value is made up: each depth lies within its 2x2 canvas cell's depths, and a cell
    # spanning a depth jump (the owner-0 distractor over the wall: 2.2 m vs 3 m) gives one of its own values
    mx, my = (m.astype(np.float64) for m in rig["maps"])
    i0, j0 = np.floor(mx).astype(int), np.floor(my).astype(int)
    zp = rig["depth_p"].astype(np.float64)
    z4 = np.stack([zp[j0, i0], zp[j0, i0 + 1], zp[j0 + 1, i0], zp[j0 + 1, i0 + 1]])
    d = depth.astype(np.float64)
    assert np.all((d >= z4.min(axis=0) * (1 - 1e-6)) & (d <= z4.max(axis=0) * (1 + 1e-6)))
    jump = (z4.min(axis=0) > 0) & (z4.max(axis=0) > 1.3 * z4.min(axis=0))
    assert jump.sum() > 50 and np.all(np.any(np.abs(z4 - d) <= 1e-6 * d, axis=0)[jump])


def test_visible_pixels_stay_inside_the_distorted_silhouettes(rig):
    amodal = {i: cast(pinhole_dirs(rig["K_p"], rig["W_p"], rig["H_p"]), [s for s in SCENE if s["owner"] == i])[2] >= 0
              for i in range(1, N_OBJECTS + 1)}
    out = distort_layers(rig["maps"], ids=rig["ids_p"], masks=amodal)
    for i, m in out["masks"].items():
        assert m.shape == (H, W) and m.dtype == bool
        visible = out["ids"] == i
        assert visible.sum() > 100 and not np.any(visible & ~m)


# ---------------------------------------------------------------------------------------------- (c) OpenCV way back
def test_undistorting_distorted_masks_with_opencv_recovers_the_pinhole_masks(rig):
    dist = rig["dist"]
    out = distort_layers(rig["maps"], ids=rig["ids_p"])
    depth_k, ids_k, _ = cast(pinhole_dirs(K, W, H))  # the ideal pinhole camera K, W x H, cast independently
    # the canvas is the pinhole grid of K shifted by whole pixels: the pinhole image is an exact crop of it
    ox, oy = K[0, 2] - rig["K_p"][0, 2], K[1, 2] - rig["K_p"][1, 2]
    assert ox == int(ox) and oy == int(oy)
    assert np.array_equal(rig["ids_p"][-int(oy):-int(oy) + H, -int(ox):-int(ox) + W], ids_k)
    for i in range(1, N_OBJECTS + 1):
        back = opencv_undistort_nearest((out["ids"] == i).astype(np.uint8), dist).astype(bool)
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


def test_radial_inverse_and_fold_by_brute_force():
    for dist in (RADTAN, FISHEYE, DistortionConfig(model="radtan", coeffs=[-0.1, -0.3, 0, 0, 0])):
        r = np.linspace(0, 3, 300001)
        rd = radial_distort(dist.model, dist.coeffs, r)
        falls = np.nonzero(np.diff(rd) <= 0)[0]
        r_max, _ = monotonic_limit(dist.model, dist.coeffs)
        if falls.size:
            assert r_max == pytest.approx(r[falls[0]], abs=2e-5)
        else:
            assert r_max > 3
        probe = rd[: (falls[0] if falls.size else len(r)) : 1000]
        back = radial_undistort(dist.model, dist.coeffs, probe)
        assert np.abs(radial_distort(dist.model, dist.coeffs, back) - probe).max() < 1e-12


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
    out = distort_layers((mx, my), rgb=np.full((H_p, W_p, 3), 200, np.uint8), ids=np.ones((H_p, W_p), np.int32),
                         depth=np.ones((H_p, W_p), np.float32), masks=np.ones((H_p, W_p), bool))
    assert (out["ids"][beyond] == 0).all() and (out["depth"][beyond] == 0).all() and not out["masks"][beyond].any()
    assert (out["rgb"][beyond] == 0).all() and (out["rgb"][~beyond] == 200).all()
    assert (out["ids"][~beyond] == 1).all() and np.allclose(out["depth"][~beyond], 1.0)


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
    a = distort_layers(maps, rgb=ramp, rgb_maps=subs)["rgb"]
    assert np.abs(a - (maps[0] / (W_p - 1))).max() < 2e-4
    stripes = np.tile((np.arange(W_p) % 2).astype(np.float32), (H_p, 1))
    single = distort_layers(maps, rgb=stripes)["rgb"]
    boxed = distort_layers(maps, rgb=stripes, rgb_maps=subs)["rgb"]
    outer = fp > 1.6
    assert outer.sum() > 100
    assert np.abs(boxed[outer] - 0.5).mean() < 0.5 * np.abs(single[outer] - 0.5).mean()


def test_layers_of_different_sizes_are_refused():
    maps = (np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="different canvas sizes"):
        distort_layers(maps, ids=np.zeros((4, 4), np.int32), depth=np.zeros((5, 4), np.float32))
    with pytest.raises(ValueError, match="outside"):
        distort_layers((maps[0] + 9, maps[1]), ids=np.zeros((4, 4), np.int32))
