"""The lens models (core/lens.py) against OpenCV itself and against the OpenCV docs' equations written out here.

Oracles: ``cv2.projectPoints``, ``cv2.fisheye.projectPoints``, ``cv2.undistortPoints`` (default and strict
termination), finite differences (the radtan Jacobian) and brute force over a fine radius grid (the fold).
Realistic lenses at 640x480, fx = fy = 500 (issue 10).
"""

import math

import cv2
import numpy as np
import pytest

from gtforge.core.geometry import project_points
from gtforge.core.lens import (N_COEFFS, distort, field_limits, lens_model, monotonic_limit, pixel_rays,
                               project_points_lens, radial_distort, radial_undistort, radtan_jacobian,
                               radtan_jacobian_det, undistort_points)

W, H = 640, 480
K = np.array([[500.0, 0.0, 319.5], [0.0, 500.0, 239.5], [0.0, 0.0, 1.0]])
RADTAN = ("radtan", [-0.28, 0.07, 1e-3, -5e-4, 0.0])
FISHEYE = ("fisheye", [0.1, -0.05, 0.01, -0.002])
LENSES = {"radtan": RADTAN, "fisheye": FISHEYE}


def opencv_doc_projection(P, K, dist):
    """The model equations of the OpenCV docs (calib3d; fisheye module), written out independently."""
    model, k = dist
    x, y = P[:, 0] / P[:, 2], P[:, 1] / P[:, 2]
    r2 = x * x + y * y
    if model == "radtan":
        k1, k2, p1, p2, k3 = k
        radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    else:
        k1, k2, k3, k4 = k
        r = np.sqrt(r2)
        th = np.arctan(r)
        thd = th * (1 + k1 * th ** 2 + k2 * th ** 4 + k3 * th ** 6 + k4 * th ** 8)
        scale = np.divide(thd, r, out=np.ones_like(r), where=r > 0)  # theta_d / r -> 1 on the axis
        xd, yd = scale * x, scale * y
    return np.stack([K[0, 0] * xd + K[0, 2], K[1, 1] * yd + K[1, 2]], axis=1)


def opencv_projection(P, K, dist):
    model, k = dist
    fn = cv2.projectPoints if model == "radtan" else cv2.fisheye.projectPoints
    uv, _ = fn(np.asarray(P, np.float64).reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K, np.asarray(k, np.float64))
    return uv.reshape(-1, 2)


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
    uv = project_points_lens(P, K, dist)
    assert np.abs(uv - opencv_projection(P, K, dist)).max() < 1e-9
    assert np.abs(uv - opencv_doc_projection(P, K, dist)).max() < 1e-6
    # the numpy forward model (used by the re-projection check and the windows) is the same to 1e-9 px
    xd = distort(P[:, :2] / P[:, 2:], dist)
    assert np.abs(xd * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]] - uv).max() < 1e-9
    # undistortion inverts it: back to the points' rays, and the pixel rays project onto the pixel centres
    xy = undistort_points(uv, K, dist)
    assert np.abs(xy - P[:, :2] / P[:, 2:]).max() < 1e-9
    rays = pixel_rays(K, dist, 40, 30, u0=600, v0=450)  # the bottom-right corner window
    assert rays.shape == (30, 40, 3) and np.all(rays[..., 2] == 1.0)
    centres = np.stack(np.meshgrid(np.arange(600, 640.0), np.arange(450, 480.0)), -1).reshape(-1, 2)
    assert np.abs(opencv_projection(rays.reshape(-1, 3), K, dist) - centres).max() < 1e-6


@pytest.mark.parametrize("name", ["radtan", "fisheye"])
def test_undistortion_agrees_with_opencv_and_beats_its_default_termination(name):
    """``cv2.undistortPoints`` with OpenCV's default termination (radtan: 5 fixed-point iterations) is off by tenths
    of a pixel at the corners; ours re-projects within 1e-6 px everywhere in the image."""
    dist = LENSES[name]
    model, k = dist
    uv = np.stack(np.meshgrid(np.arange(0, W, 7.0), np.arange(0, H, 7.0)), -1).reshape(-1, 2)
    xy = undistort_points(uv, K, dist)
    assert np.isfinite(xy).all()
    back = opencv_projection(np.concatenate([xy, np.ones((len(xy), 1))], 1), K, dist)
    assert np.abs(back - uv).max() < 1e-6
    fn = cv2.undistortPoints if model == "radtan" else cv2.fisheye.undistortPoints
    default = fn(uv.reshape(-1, 1, 2), K, np.asarray(k)).reshape(-1, 2)
    assert np.abs(default - xy).max() * 500 < 1.0  # the same rays ...
    if model == "radtan":
        assert np.abs(opencv_projection(np.concatenate([default, np.ones((len(xy), 1))], 1), K, dist)
                      - uv).max() > 0.1  # ... which OpenCV's default stops short of
    # the pinhole: K^-1 (u, v, 1), and canvas coordinates through P
    assert np.allclose(undistort_points(uv, K, None), (uv - K[:2, 2]) / [K[0, 0], K[1, 1]], atol=1e-15)
    P = K.copy()
    P[0, 2] += 10
    assert np.allclose(undistort_points(uv, K, dist, P=P), xy * 500 + P[:2, 2], atol=1e-9)


def test_points_behind_the_camera_or_past_a_fold_have_no_projection():
    P = np.array([[0.1, 0.0, -1.0], [0.1, 0.0, 0.0], [0.1, 0.0, 1.0]])
    uv = project_points_lens(P, K, RADTAN)
    assert np.isnan(uv[:2]).all() and np.isfinite(uv[2]).all()
    # the pinhole case: NaN too (core.geometry.project_points, its pinhole sibling, raises instead)
    assert np.isnan(project_points_lens(P, K, None)[:2]).all()
    assert np.allclose(project_points_lens(P[2:], K, None), project_points(P[2:], K))
    with pytest.raises(ValueError, match="z > 0"):
        project_points(P, K)
    fold = ("radtan", [-0.5, 0.0, 0.0, 0.0, 0.0])  # r_d = r (1 - 0.5 r^2) folds at r = sqrt(2/3)
    r_fold, rd_fold = monotonic_limit(*fold)
    assert r_fold == pytest.approx(math.sqrt(2 / 3), rel=1e-12) and rd_fold == pytest.approx(math.sqrt(2 / 3) * 2 / 3)
    uv = project_points_lens(np.array([[0.8, 0.0, 1.0], [1.2, 0.0, 1.0]]), K, fold)
    assert np.isfinite(uv[0]).all() and np.isnan(uv[1]).all()
    # the image of r = 1.2 lies inside the image (the model sends it back), but no pixel's ray is that ray
    assert 0 <= opencv_doc_projection(np.array([[1.2, 0.0, 1.0]]), K, fold)[0, 0] < W
    assert np.isnan(undistort_points([[K[0, 2] + 500 * 0.6, K[1, 2]]], K, fold)).all()  # 0.6 > rd_fold
    xy = undistort_points([[K[0, 2] + 500 * 0.5, K[1, 2]]], K, fold)
    assert xy[0, 0] < r_fold and radial_distort("radtan", fold[1], xy[0, 0]) == pytest.approx(0.5, abs=1e-12)
    assert np.isnan(pixel_rays(K, fold, 1, 1, u0=int(K[0, 2] + 500 * 0.6), v0=int(K[1, 2]))).all()


def test_fisheye_rays_stop_where_opencv_clamps_theta_d():
    r_max, rd_limit = field_limits("fisheye", [0.0, 0.0, 0.0, 0.0])
    assert r_max == math.inf and rd_limit == pytest.approx(math.pi / 2)
    f = 100.0
    Kf = np.array([[f, 0.0, 0.0], [0.0, f, 0.0], [0.0, 0.0, 1.0]])
    xy = undistort_points([[f * 1.5, 0.0], [f * 1.6, 0.0]], Kf, ("fisheye", [0.0, 0.0, 0.0, 0.0]))
    assert xy[0, 0] == pytest.approx(math.tan(1.5), rel=1e-6) and np.isnan(xy[1]).all()


def test_radial_inverse_and_fold_by_brute_force():
    for model, k in (RADTAN, FISHEYE, ("radtan", [-0.1, -0.3, 0, 0, 0])):
        r = np.linspace(0, 3, 300001)
        rd = radial_distort(model, k, r)
        falls = np.nonzero(np.diff(rd) <= 0)[0]
        r_max, _ = monotonic_limit(model, k)
        if falls.size:
            assert r_max == pytest.approx(r[falls[0]], abs=2e-5)
        else:
            assert r_max > 3
        probe = rd[: (falls[0] if falls.size else len(r)) : 1000]
        back = radial_undistort(model, k, probe)
        assert np.abs(radial_distort(model, k, back) - probe).max() < 1e-12


def test_radtan_jacobian_is_the_derivative_of_the_model():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-0.8, 0.8, 200), rng.uniform(-0.6, 0.6, 200)
    a, b, d = radtan_jacobian(RADTAN[1], x, y)
    h = 1e-6
    fx = (distort(np.stack([x + h, y], 1), RADTAN) - distort(np.stack([x - h, y], 1), RADTAN)) / (2 * h)
    fy = (distort(np.stack([x, y + h], 1), RADTAN) - distort(np.stack([x, y - h], 1), RADTAN)) / (2 * h)
    assert np.abs(fx[:, 0] - a).max() < 1e-8 and np.abs(fx[:, 1] - b).max() < 1e-8
    assert np.abs(fy[:, 0] - b).max() < 1e-8 and np.abs(fy[:, 1] - d).max() < 1e-8
    assert np.allclose(radtan_jacobian_det(RADTAN[1], x, y), a * d - b * b)
    # strong tangential terms fold the mapping sideways: the determinant turns negative in the field
    det = radtan_jacobian_det([0.0, 0.0, 0.3, 0.2, 0.0], np.linspace(-1, 1, 201)[:, None], np.linspace(-1, 1, 201))
    assert det.min() < 0 < det.max()


def test_a_lens_is_given_three_ways():
    class Section:  # config.distortion.DistortionConfig's attributes
        model, coeffs = "fisheye", [0.1, -0.05, 0.01, -0.002]

    m, k = lens_model(Section())
    assert m == "fisheye" and k.dtype == np.float64 and k.tolist() == Section.coeffs
    assert lens_model(("radtan", (0.1, 0, 0, 0, 0)))[1].shape == (5,)
    assert lens_model(None) is None and lens_model(("radtan", [0.0] * 5)) is None  # all zero: the pinhole
    assert lens_model(("fisheye", [0.0] * 4))[0] == "fisheye"  # all zero: equidistant, theta_d = theta
    with pytest.raises(ValueError, match="unknown distortion model"):
        lens_model(("division", [0.1]))
    with pytest.raises(ValueError, match="takes 4 coefficients"):
        lens_model(("fisheye", [0.1] * 5))
    assert N_COEFFS == {"radtan": 5, "fisheye": 4}
