"""The lens models of ``camera.distortion``: OpenCV's radtan and fisheye, forward, inverse and fold checks.

The one home of the lens *math*: the recipe's checks (``config/distortion.py``), the renderer's canvas, resampling
and ray directions (``render/distortion.py``, ``render/lens_camera.py``), the annotation of keypoints
(``render/annotate.py``) and the oracle of ``gtforge verify`` (``inspection/raycast.py``) all use these functions.
numpy and OpenCV only; nothing else of gtforge.

Models (OpenCV's coefficient order, so a calibration's ``dist_coeffs`` can be pasted in)
--------------------------------------------------------------------------------------------
For a camera-frame point (X, Y, Z), Z > 0 (OpenCV frame: x right, y down, z forward), with x' = X / Z, y' = Y / Z,
r^2 = x'^2 + y'^2 and pixel coordinates u = fx x'' + cx, v = fy y'' + cy (pixel centres at integers, no skew):

* ``radtan`` = Brown-Conrady, coefficients [k1, k2, p1, p2, k3]: ``cv2.projectPoints``. OpenCV docs, calib3d
  "Camera Calibration and 3D Reconstruction", detailed description:
  x'' = x' (1 + k1 r^2 + k2 r^4 + k3 r^6) + 2 p1 x' y' + p2 (r^2 + 2 x'^2),
  y'' = y' (1 + k1 r^2 + k2 r^4 + k3 r^6) + p1 (r^2 + 2 y'^2) + 2 p2 x' y'.
* ``fisheye`` = Kannala-Brandt (equidistant), coefficients [k1, k2, k3, k4]: ``cv2.fisheye.projectPoints``. OpenCV
  docs, calib3d "Fisheye camera model": theta = atan(r),
  theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8), x'' = (theta_d / r) x',
  y'' = (theta_d / r) y'.

A lens is given as ``dist``: anything with ``model`` and ``coeffs`` attributes (``config.distortion
.DistortionConfig``), a pair ``(model, coeffs)`` (``core.description.View.lens``), or None (the ideal pinhole; a
radtan lens with all-zero coefficients is the pinhole too, a fisheye one is not: theta_d = theta is the equidistant
projection): :func:`lens_model`.

Invertibility (the fold)
------------------------
The radial part r -> r_d (:func:`radial_distort`; r = tan of the angle off the axis, r_d the normalised distorted
radius) must increase for every pixel to have one ray. Its derivative is a polynomial in r^2 (radtan:
1 + 3 k1 r^2 + 5 k2 r^4 + 7 k3 r^6) or in theta^2 (fisheye: 1 + 3 k1 theta^2 + 5 k2 theta^4 + 7 k3 theta^6 +
9 k4 theta^8), whose first positive root is the fold (:func:`monotonic_limit`, roots by ``numpy.roots``). Beyond it
the model sends rays back into the image that no pixel sees: they have no projection here (NaN), and pixels beyond
the fold's distorted radius have no ray. OpenCV's ``cv2.fisheye.undistortPoints`` clamps theta_d to pi/2, so fisheye
pixels there have none either (:func:`field_limits`). The tangential terms fold the mapping sideways where the
Jacobian determinant of (x', y') -> (x'', y'') is not positive (:func:`radtan_jacobian_det`).

Undistortion (pixels to rays)
-----------------------------
:func:`undistort_points`: ``cv2.undistortPoints`` / ``cv2.fisheye.undistortPoints`` with strict termination
(:data:`UNDISTORT_CRITERIA`; OpenCV's radtan default of 5 fixed-point iterations leaves 0.29 px of error at the
corners of a 640x480, fx 500, k1 = -0.28 camera), every result re-projected through the model (:func:`distort`, the
equations above in numpy, equal to OpenCV's projectPoints to 1e-9 px and 5 to 10x faster on whole images); radtan
points off by more than :data:`RESIDUAL_TOL` px are polished by Newton steps with the analytic Jacobian
(:func:`radtan_jacobian`), and any point still off, or off the first monotonic branch, has no ray (NaN).
``cv2.initUndistortRectifyMap`` is not this: it maps *undistorted* pixels to their *distorted* source.

Tests: ``tests/core/test_lens.py`` (against ``cv2.projectPoints``, ``cv2.fisheye.projectPoints``,
``cv2.undistortPoints`` and brute force).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: Number of coefficients per model (OpenCV order: radtan k1 k2 p1 p2 k3, fisheye k1 k2 k3 k4).
N_COEFFS = {"radtan": 5, "fisheye": 4}

#: Termination of OpenCV's iterative undistortion: at most 200 iterations or a re-projection change below 1e-10 px.
UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-10)

#: Largest accepted re-projection error of an undistorted point, pixels of K; worse points have no ray (NaN).
RESIDUAL_TOL = 1e-6


def lens_model(dist) -> tuple[str, np.ndarray] | None:
    """``(model, coeffs)`` of a lens, or None for the ideal pinhole.

    Parameters
    ----------
    dist : object with ``model`` and ``coeffs``, ``(model, coeffs)`` pair, or None

    Returns
    -------
    (model, coeffs) or None
        ``coeffs`` (4,) or (5,) float64 in OpenCV order; None for ``dist`` None and for radtan with all-zero
        coefficients (the pinhole; fisheye with all-zero coefficients is the equidistant lens, not a pinhole).

    Raises
    ------
    ValueError
        For an unknown model or a wrong number of coefficients.
    """
    if dist is None:
        return None
    if hasattr(dist, "model") and hasattr(dist, "coeffs"):
        model, coeffs = dist.model, dist.coeffs
    else:
        model, coeffs = dist
    if model not in N_COEFFS:
        raise ValueError(f"unknown distortion model {model!r} (radtan or fisheye)")
    k = np.asarray(coeffs, dtype=np.float64).reshape(-1)
    if k.size != N_COEFFS[model]:
        raise ValueError(f"the {model} model takes {N_COEFFS[model]} coefficients, got {k.size}")
    if model == "radtan" and not np.any(k):
        return None
    return model, k


# ---------------------------------------------------------------------------------------------- radial part
def _real_roots_positive(coeffs_low_to_high) -> list[float]:
    """Positive real roots, ascending, of the polynomial sum c_i x^i (coefficients from the constant term up)."""
    c = np.asarray(coeffs_low_to_high, dtype=np.float64)
    roots = np.roots(c[::-1]) if np.any(c[1:] != 0) else np.array([])
    out = [float(r.real) for r in roots if abs(r.imag) <= 1e-9 * max(1.0, abs(r)) and r.real > 0]
    return sorted(out)


def radial_distort(model: str, coeffs, r) -> np.ndarray:
    """Normalised distorted radius r_d of normalised undistorted radii ``r`` (radial part only).

    Parameters
    ----------
    model : "radtan" or "fisheye"
    coeffs : sequence of float
        OpenCV order (:data:`N_COEFFS`).
    r : array_like of float
        tan(angle off the optical axis), >= 0 (``inf`` allowed for fisheye: theta = 90 deg).

    Returns
    -------
    r_d : ndarray float64, shape of ``r``
        radtan: r (1 + k1 r^2 + k2 r^4 + k3 r^6); fisheye: theta_d(atan r) (module docstring).
    """
    r = np.asarray(r, dtype=np.float64)
    k = np.asarray(coeffs, dtype=np.float64)
    if model == "radtan":
        r2 = r * r
        return r * (1.0 + k[0] * r2 + k[1] * r2 ** 2 + k[4] * r2 ** 3)
    t = np.arctan(r)
    t2 = t * t
    return t * (1.0 + k[0] * t2 + k[1] * t2 ** 2 + k[2] * t2 ** 3 + k[3] * t2 ** 4)


def monotonic_limit(model: str, coeffs) -> tuple[float, float]:
    """Extent of the first increasing branch of the radial mapping r -> r_d.

    Returns
    -------
    r_max : float
        Normalised undistorted radius (tan of the angle off the axis) where dr_d/dr first reaches 0 (the fold);
        ``inf`` when the mapping increases over the whole field (radtan: all r; fisheye: theta < 90 deg).
    rd_max : float
        r_d at ``r_max`` (``inf`` for a radtan mapping that increases for ever; theta_d(90 deg) for a fisheye one):
        every normalised distorted radius below it has exactly one ray on this branch.

    Source: the derivatives in the module docstring; their roots by ``numpy.roots`` (companion matrix).
    """
    k = np.asarray(coeffs, dtype=np.float64)
    if model == "radtan":
        roots = _real_roots_positive([1.0, 3 * k[0], 5 * k[1], 7 * k[4]])  # in r^2
        if not roots:
            return math.inf, math.inf
        r_max = math.sqrt(roots[0])
        return r_max, float(radial_distort(model, k, r_max))
    roots = [x for x in _real_roots_positive([1.0, 3 * k[0], 5 * k[1], 7 * k[2], 9 * k[3]])  # in theta^2
             if math.sqrt(x) < math.pi / 2]
    if not roots:
        return math.inf, float(radial_distort(model, k, math.inf))
    theta = math.sqrt(roots[0])
    return math.tan(theta), float(radial_distort(model, k, math.tan(theta)))


def field_limits(model: str, coeffs) -> tuple[float, float]:
    """(r_max, rd_limit): the normalised undistorted radius of the fold (:func:`monotonic_limit`) and the normalised
    distorted radius below which a pixel has a ray (the fold's; fisheye also below pi/2, where OpenCV's
    ``cv2.fisheye.undistortPoints`` clamps theta_d)."""
    r_max, rd_max = monotonic_limit(model, coeffs)
    if model == "fisheye":
        rd_max = min(rd_max, math.pi / 2)
    return r_max, rd_max


def radial_undistort(model: str, coeffs, rd) -> np.ndarray:
    """Inverse of :func:`radial_distort` on its first increasing branch (bisection, float64, 60 halvings).

    Parameters
    ----------
    model, coeffs : as :func:`radial_distort`
    rd : array_like of float
        Normalised distorted radii, >= 0.

    Returns
    -------
    r : ndarray float64
        Normalised undistorted radii (tan of the angle off the axis); NaN where ``rd`` is not below ``rd_max``.
    """
    rd = np.asarray(rd, dtype=np.float64)
    r_max, rd_max = monotonic_limit(model, coeffs)
    # bisection on theta = atan(r) in [0, atan(r_max)] (bounded even when r_max is inf)
    lo = np.zeros_like(rd)
    hi = np.full_like(rd, math.atan(r_max) if math.isfinite(r_max) else math.pi / 2)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = radial_distort(model, coeffs, np.tan(mid)) < rd
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    r = np.tan(0.5 * (lo + hi))
    return np.where(rd < rd_max, r, np.nan)


# ---------------------------------------------------------------------------------------------- tangential part
def radtan_jacobian(coeffs, x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries (a, b, d) of the symmetric Jacobian [[a, b], [b, d]] = d(x'', y'') / d(x', y') of the radtan model.

    With L = 1 + k1 r^2 + k2 r^4 + k3 r^6 and M = dL/d(r^2) = k1 + 2 k2 r^2 + 3 k3 r^4 (differentiating the module
    docstring's equations): a = dx''/dx' = L + 2 x'^2 M + 2 p1 y' + 6 p2 x',
    b = dx''/dy' = dy''/dx' = 2 x' y' M + 2 p1 x' + 2 p2 y', d = dy''/dy' = L + 2 y'^2 M + 6 p1 y' + 2 p2 x'.

    Parameters
    ----------
    coeffs : [k1, k2, p1, p2, k3]
    x, y : array_like float
        Normalised undistorted coordinates (x', y'); broadcast together.

    Returns
    -------
    a, b, d : ndarray float64
    """
    k1, k2, p1, p2, k3 = (float(c) for c in coeffs)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    r2 = x * x + y * y
    L = 1.0 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
    M = k1 + 2 * k2 * r2 + 3 * k3 * r2 ** 2
    a = L + 2 * x * x * M + 2 * p1 * y + 6 * p2 * x
    b = 2 * x * y * M + 2 * p1 * x + 2 * p2 * y
    d = L + 2 * y * y * M + 6 * p1 * y + 2 * p2 * x
    return a, b, d


def radtan_jacobian_det(coeffs, x, y) -> np.ndarray:
    """Determinant a d - b^2 of :func:`radtan_jacobian` at (x', y'): positive where the radtan mapping is locally
    one to one. Inputs broadcast; float64."""
    a, b, d = radtan_jacobian(coeffs, x, y)
    return a * d - b * b


# ---------------------------------------------------------------------------------------------- forward
def distort(xy, dist) -> np.ndarray:
    """Normalised distorted coordinates (x'', y'') of normalised undistorted ones (x', y'): the module docstring's
    equations in numpy (equal to OpenCV's projectPoints to 1e-9 px, ``tests/core/test_lens.py``).

    Parameters
    ----------
    xy : (n, 2) float
        (x', y') = (X / Z, Y / Z) of camera-frame points.
    dist : lens (:func:`lens_model`)

    Returns
    -------
    (n, 2) float64
        (x'', y''); (x', y') itself for the pinhole. No fold check: beyond the fold this is the model's (folded)
        value.
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    L = lens_model(dist)
    if L is None:
        return xy.copy()
    model, k = L
    x, y = xy[:, 0], xy[:, 1]
    r2 = x * x + y * y
    if model == "radtan":
        k1, k2, p1, p2, k3 = k
        radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    else:
        r = np.sqrt(r2)
        t = np.arctan(r)
        t2 = t * t
        td = t * (1 + k[0] * t2 + k[1] * t2 ** 2 + k[2] * t2 ** 3 + k[3] * t2 ** 4)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(r > 1e-12, td / r, 1.0)  # theta_d / r -> 1 on the axis
        xd, yd = x * s, y * s
    return np.stack([xd, yd], axis=1)


def _to_pixels(xy: np.ndarray, K: np.ndarray) -> np.ndarray:
    return np.stack([K[0, 0] * xy[:, 0] + K[0, 2], K[1, 1] * xy[:, 1] + K[1, 2]], axis=1)


def _cv_project(xy: np.ndarray, K: np.ndarray, model: str, k: np.ndarray) -> np.ndarray:
    """Pixels (n, 2) of normalised undistorted points (n, 2) through OpenCV's projectPoints."""
    P = np.concatenate([xy, np.ones((len(xy), 1))], axis=1).reshape(-1, 1, 3)
    if model == "radtan":
        uv, _ = cv2.projectPoints(P, np.zeros(3), np.zeros(3), K, k)
    else:
        uv, _ = cv2.fisheye.projectPoints(P, np.zeros(3), np.zeros(3), K, k)
    return uv.reshape(-1, 2)


def project_points_lens(points_cam, K, dist) -> np.ndarray:
    """Project camera-frame points through a lens (OpenCV's models), NaN where a point is not seen.

    The pinhole projection that raises on points behind the camera is ``core.geometry.project_points``; this one
    never raises on geometry: a point without a projection is NaN.

    Parameters
    ----------
    points_cam : (n, 3) float
        Points in the OpenCV camera frame, metres (x right, y down, z forward).
    K : (3, 3) float
        Intrinsics of the distorted camera, pixels.
    dist : lens (:func:`lens_model`); None: the pinhole (u = fx X / Z + cx, v = fy Y / Z + cy)

    Returns
    -------
    uv : (n, 2) float64
        Pixel coordinates (pixel centres at integers): ``cv2.projectPoints`` (radtan) or
        ``cv2.fisheye.projectPoints`` (fisheye) with zero rvec and tvec. NaN for points with Z <= 0 and for points
        beyond the model's monotonic field (past its fold, where the model sends a ray back into the image although
        no pixel sees it).

    Raises
    ------
    ValueError
        For a malformed ``dist`` (:func:`lens_model`).
    """
    P = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
    K = np.asarray(K, dtype=np.float64)
    uv = np.full((len(P), 2), np.nan)
    front = P[:, 2] > 0
    L = lens_model(dist)
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = P[:, :2] / P[:, 2:3]
    if L is None:
        uv[front] = _to_pixels(xy[front], K)
        return uv
    model, k = L
    r_max, _ = field_limits(model, k)
    ok = front & (np.hypot(xy[:, 0], xy[:, 1]) < r_max)
    if np.any(ok):
        uv[ok] = _cv_project(xy[ok], K, model, k)
    return uv


# ---------------------------------------------------------------------------------------------- inverse
def _radtan_newton(xy, target, K, k, steps: int = 8) -> np.ndarray:
    """Newton polish of normalised undistorted points ``xy`` (n, 2) so that their radtan projection is ``target``
    (n, 2) pixels; Jacobian of the model analytically (:func:`radtan_jacobian`)."""
    fx, fy = K[0, 0], K[1, 1]
    goal = np.stack([(target[:, 0] - K[0, 2]) / fx, (target[:, 1] - K[1, 2]) / fy], axis=1)
    xy = xy.copy()
    for _ in range(steps):
        e = distort(xy, ("radtan", k)) - goal
        a, b, d = radtan_jacobian(k, xy[:, 0], xy[:, 1])
        det = a * d - b * b
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = xy - np.stack([d * e[:, 0] - b * e[:, 1], a * e[:, 1] - b * e[:, 0]], axis=1) / det[:, None]
    return xy


def undistort_points(uv, K, dist, P=None) -> np.ndarray:
    """Rays of distorted pixel coordinates: the inverse of :func:`project_points_lens` (module docstring).

    Parameters
    ----------
    uv : (n, 2) float
        Pixel coordinates in the distorted image (pixel centres at integers).
    K : (3, 3) float
        Intrinsics of the distorted camera, pixels.
    dist : lens (:func:`lens_model`)
    P : (3, 3) float, optional
        A pinhole camera (e.g. a render canvas) to express the result in; None: normalised coordinates.

    Returns
    -------
    xy : (n, 2) float64
        Normalised undistorted coordinates (X / Z, Y / Z of the ray), or pixel coordinates of ``P``. NaN for points
        without a ray: beyond the model's monotonic field (or fisheye theta_d >= pi/2) or whose OpenCV undistortion
        does not re-project to within :data:`RESIDUAL_TOL` px even after Newton polishing.

    Source: ``cv2.undistortPoints`` / ``cv2.fisheye.undistortPoints`` with :data:`UNDISTORT_CRITERIA`.
    """
    K = np.asarray(K, dtype=np.float64)
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    L = lens_model(dist)
    xd = (uv[:, 0] - K[0, 2]) / K[0, 0]
    yd = (uv[:, 1] - K[1, 2]) / K[1, 1]
    if L is None:
        xy = np.stack([xd, yd], axis=1)
    else:
        model, k = L
        r_max, rd_limit = field_limits(model, k)
        ok = np.hypot(xd, yd) < rd_limit
        xy = np.full(uv.shape, np.nan)
        if np.any(ok):
            src = np.ascontiguousarray(uv[ok]).reshape(-1, 1, 2)
            if model == "radtan":
                und = cv2.undistortPoints(src, K, k, None, None, None, UNDISTORT_CRITERIA)
            else:
                und = cv2.fisheye.undistortPoints(src, K, k, None, None, None, UNDISTORT_CRITERIA)
            sub = und.reshape(-1, 2).astype(np.float64)
            err = np.abs(_to_pixels(distort(sub, L), K) - uv[ok]).max(axis=1)
            bad = ~(err <= RESIDUAL_TOL)
            if model == "radtan" and np.any(bad):
                sub[bad] = _radtan_newton(sub[bad], uv[ok][bad], K, k)
                err[bad] = np.abs(_to_pixels(distort(sub[bad], L), K) - uv[ok][bad]).max(axis=1)
                bad = ~(err <= RESIDUAL_TOL)
            bad |= ~(np.hypot(sub[:, 0], sub[:, 1]) < r_max)  # the other branch of a folding model
            sub[bad] = np.nan
            xy[ok] = sub
    if P is None:
        return xy
    return _to_pixels(xy, np.asarray(P, dtype=np.float64))


def pixel_grid(width: int, height: int, u0: int = 0, v0: int = 0, offset: tuple = (0.0, 0.0)) -> np.ndarray:
    """Pixel-centre coordinates (width * height, 2) float64 (u, v) of the window u in [u0, u0 + width),
    v in [v0, v0 + height), row-major, shifted by ``offset`` (du, dv)."""
    u, v = np.meshgrid(np.arange(u0, u0 + width, dtype=np.float64) + offset[0],
                       np.arange(v0, v0 + height, dtype=np.float64) + offset[1])
    return np.stack([u.ravel(), v.ravel()], axis=1)


def pixel_rays(K, dist, width: int, height: int, u0: int = 0, v0: int = 0) -> np.ndarray:
    """Viewing rays (x, y, 1) of the pixel centres (u, v), u in [u0, u0 + width), v in [v0, v0 + height).

    Parameters
    ----------
    K : (3, 3) float
        Intrinsics of the (distorted) camera, pixels.
    dist : lens (:func:`lens_model`); None: the pinhole, (x, y, 1) = K^-1 (u, v, 1)
    width, height, u0, v0 : int
        The window; ``u0, v0`` may be negative or put it outside the image (BOP's 3W x 3H canvas).

    Returns
    -------
    rays : (height, width, 3) float64
        Directions in the OpenCV camera frame with z = 1 (a point at depth z on pixel (u, v)'s ray is z * ray);
        NaN rows for pixels without a ray (:func:`undistort_points`).
    """
    xy = undistort_points(pixel_grid(width, height, u0, v0), K, dist)
    d = np.concatenate([xy, np.ones((len(xy), 1))], axis=1)
    d[np.isnan(xy).any(axis=1)] = np.nan
    return d.reshape(height, width, 3)


__all__ = ["N_COEFFS", "UNDISTORT_CRITERIA", "RESIDUAL_TOL", "lens_model", "radial_distort", "monotonic_limit",
           "field_limits", "radial_undistort", "radtan_jacobian", "radtan_jacobian_det", "distort",
           "project_points_lens", "undistort_points", "pixel_grid", "pixel_rays"]
