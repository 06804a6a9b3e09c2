"""Lens distortion of the colour layers: render a pinhole canvas, resample it into the distorted camera (no GL).

GL rasterises straight lines to straight lines, so a distorted camera's *colour* cannot be rendered directly.
Instead the RGB pass is rendered with a **pinhole canvas** camera (same fx, fy;
principal point shifted; larger or smaller than the image, :func:`pinhole_canvas`) whose pixels cover the viewing
rays of every output pixel, and each output pixel of the distorted image then takes the canvas colour around its own
ray (:func:`distortion_maps`, :func:`supersample_maps`, :func:`distort_image`). The geometric layers (instance ids,
depth, amodal silhouettes) are not resampled: they are ray-cast through the lens at each pixel centre
(``render/lens_camera.py``, ``assets/scene_rays.py``).

The lens model, its projection and its undistortion are ``core/lens.py``'s (OpenCV's radtan and fisheye). A lens is
given as ``dist``: a :class:`~gtforge.config.distortion.DistortionConfig`, a pair ``(model, coeffs)``, or None (ideal
pinhole: every function then reduces to the pinhole one).

Conventions (docs/conventions.md, "Pixels and intrinsics"): the centre of pixel (row v, column u) is at image
coordinates (u, v), in the distorted image as in the canvas; K holds the distorted camera's fx, fy, cx, cy (as in
every calibration file). The canvas is shifted by whole pixels from the image's own pinhole grid: canvas pixel
(u_p, v_p) is pinhole pixel (u_p + ox, v_p + oy) of K for integers ox = cx - cx_p, oy = cy - cy_p, so an
undistorted image at K is an exact integer crop of the canvas where both overlap.

Resampling: ``cv2.remap`` (bilinear) at each output pixel's ray (its canvas coordinates: ``core.lens
.undistort_points`` of the pixel centre with P = the canvas K; *not* ``cv2.initUndistortRectifyMap``, which maps each
*undistorted* pixel to its *distorted* source, the inverse of what rendering needs); with ``rgb_maps``
(:func:`supersample_maps`) the mean of s x s bilinear samples spread evenly over the output pixel's footprint, a box
filter in the distorted image (OpenCV's ``INTER_AREA`` exists for resize only, not for remap). Where the lens
compresses the image (barrel distortion's edges, a fisheye's periphery) the canvas has several pixels per output
pixel and a single bilinear sample aliases; :func:`supersample_maps` picks s from the largest footprint.

Cost (640x480, fx 500, k1 = -0.28, on a loaded 2-core CPU): canvas 822x617; :func:`distortion_maps` 0.27 s and
:func:`supersample_maps` (s = 2) 1.1 s, both once per camera (K and the lens are fixed per build); per frame
:func:`distort_image` 0.02 s for supersampled RGB.

Limits: lenses whose field reaches 180 deg, or whose model folds back inside the image, are refused by
``DistortionConfig.check_field`` (recipe) and have no ray here (NaN: black, 0).

Not done: image effects that use K as a pinhole (vignetting's cos^4 field angle, lateral chromatic aberration,
motion-blur reprojection) and the depth sensors (shadows, lateral shift) treat the distorted image as pinhole
(documented approximation, docs/conventions.md "Lens distortion").
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..config.distortion import CANVAS_MARGIN, MAX_CANVAS_SIDE
from ..core.lens import lens_model, pixel_grid, undistort_points

#: Largest s of the s x s RGB supersampling chosen by :func:`supersample_maps`.
MAX_SUPERSAMPLE = 4


# ---------------------------------------------------------------------------------------------- the canvas
def _border(width: int, height: int, u0: int, v0: int, step: float = 0.25) -> np.ndarray:
    """Points along the border of the pixel-centre rectangle [u0, u0 + W - 1] x [v0, v0 + H - 1], every ``step``."""
    us = np.linspace(u0, u0 + width - 1, int(round((width - 1) / step)) + 1)
    vs = np.linspace(v0, v0 + height - 1, int(round((height - 1) / step)) + 1)
    u1, v1 = u0 + width - 1, v0 + height - 1
    return np.concatenate([np.stack([us, np.full_like(us, v0)], 1), np.stack([us, np.full_like(us, v1)], 1),
                           np.stack([np.full_like(vs, u0), vs], 1), np.stack([np.full_like(vs, u1), vs], 1)])


def pinhole_canvas(K, dist, width: int, height: int, u0: int = 0, v0: int = 0,
                   margin: int = CANVAS_MARGIN) -> tuple[np.ndarray, int, int]:
    """The smallest pinhole canvas whose pixels cover the rays of every distorted pixel centre of a window.

    Parameters
    ----------
    K : (3, 3) float
        Intrinsics of the distorted camera, pixels.
    dist : DistortionConfig, (model, coeffs) or None
    width, height : int
        Size of the distorted window, pixels; ``u0, v0`` its top-left pixel (default: the image).
    margin : int
        Canvas pixels kept beyond the outermost ray on every side (bilinear interpolation and the 2x2 depth cell
        need one; :data:`~gtforge.config.distortion.CANVAS_MARGIN`).

    Returns
    -------
    K_p : (3, 3) float64
        Same fx, fy as K; principal point shifted by whole pixels: (cx - ox, cy - oy) with integers ox, oy, so canvas
        pixel (u_p, v_p) is pinhole pixel (u_p + ox, v_p + oy) of K.
    W_p, H_p : int
        Canvas size: every distorted pixel's ray meets the canvas at (x, y) with margin <= x <= W_p - 1 - margin and
        margin <= y <= H_p - 1 - margin (float64 rays; the float32 maps round by up to 1e-4 px).
        For ``dist`` None: K shifted by (u0, v0), ``width``, ``height`` (no margin: the maps are the identity).

    Raises
    ------
    ValueError
        If no pixel of the window has a ray, or the canvas exceeds
        :data:`~gtforge.config.distortion.MAX_CANVAS_SIDE` a side (a field too wide for a pinhole render).

    The undistorted image of the window's border bounds the undistorted window (the lens maps the window onto its
    image one to one on its monotonic field), so the border, sampled every 1/4 px, is undistorted; when some border
    pixel has no ray, every pixel of the window is.
    """
    K = np.asarray(K, dtype=np.float64)
    if lens_model(dist) is None:
        K_p = K.copy()
        K_p[0, 2] -= u0
        K_p[1, 2] -= v0
        return K_p, int(width), int(height)
    pts = undistort_points(_border(width, height, u0, v0), K, dist, P=K)
    if np.isnan(pts).any():
        pts = undistort_points(pixel_grid(width, height, u0, v0), K, dist, P=K)
        pts = pts[~np.isnan(pts).any(axis=1)]
        if len(pts) == 0:
            raise ValueError(f"pinhole_canvas: no pixel of the {width}x{height} window at ({u0}, {v0}) has a ray "
                             "(beyond the lens model's field)")
    ox = int(math.floor(pts[:, 0].min() - 1e-6)) - margin
    oy = int(math.floor(pts[:, 1].min() - 1e-6)) - margin
    W_p = int(math.ceil(pts[:, 0].max() + 1e-6)) + margin - ox + 1
    H_p = int(math.ceil(pts[:, 1].max() + 1e-6)) + margin - oy + 1
    if max(W_p, H_p) > MAX_CANVAS_SIDE:
        raise ValueError(f"pinhole_canvas: the canvas holding the lens's rays would be {W_p}x{H_p} px, more than "
                         f"{MAX_CANVAS_SIDE} a side: the field is too wide for a pinhole render")
    K_p = K.copy()
    K_p[0, 2] -= ox
    K_p[1, 2] -= oy
    return K_p, W_p, H_p


def distortion_maps(K, dist, width: int, height: int, K_p, u0: int = 0, v0: int = 0,
                    offset: tuple = (0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """For each distorted pixel centre, the canvas coordinates of its ray (``cv2.remap``'s map semantics).

    Parameters
    ----------
    K : (3, 3) float
        Intrinsics of the distorted camera.
    dist : DistortionConfig, (model, coeffs) or None
    width, height : int
        Size of the distorted window; ``u0, v0`` its top-left pixel (default: the image).
    K_p : (3, 3) float
        The pinhole canvas camera (:func:`pinhole_canvas`).
    offset : (du, dv)
        Sample at (u + du, v + dv) instead of the pixel centre (used by :func:`supersample_maps`).

    Returns
    -------
    map_x, map_y : (height, width) float32
        Canvas pixel coordinates (u_p, v_p) of the ray of distorted pixel (u0 + col, v0 + row): undistortPoints of
        the pixel grid with P = K_p (NOT ``cv2.initUndistortRectifyMap``, which maps undistorted pixels to distorted
        ones). NaN for pixels without a ray.
    """
    pts = undistort_points(pixel_grid(width, height, u0, v0, offset), K, dist, P=K_p)
    return (pts[:, 0].reshape(height, width).astype(np.float32), pts[:, 1].reshape(height, width).astype(np.float32))


def supersample_maps(K, dist, width: int, height: int, K_p, samples: int | None = None, u0: int = 0,
                     v0: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Maps of s x s sample points per distorted pixel, for box-filtered RGB resampling (:func:`distort_layers`).

    Parameters
    ----------
    samples : int, optional
        s; None picks s = ceil(largest footprint - 0.1) (samples at most 1.1 canvas px apart), clamped to
        [1, :data:`MAX_SUPERSAMPLE`], where the footprint of a distorted pixel is the largest singular value of the
        Jacobian of its centre map (canvas pixels per output pixel, finite differences of :func:`distortion_maps`).
    Other parameters as :func:`distortion_maps`.

    Returns
    -------
    list of (map_x, map_y)
        s * s pairs of (height, width) float32 maps at (u + (i + 0.5) / s - 0.5, v + (j + 0.5) / s - 0.5).
    """
    if samples is None:
        mx, my = distortion_maps(K, dist, width, height, K_p, u0, v0)
        samples = min(MAX_SUPERSAMPLE, max(1, int(math.ceil(np.nanmax(map_footprint(mx, my)) - 0.1))))
    s = int(samples)
    if s < 1:
        raise ValueError(f"supersample_maps: samples must be >= 1, got {samples}")
    offs = [(i + 0.5) / s - 0.5 for i in range(s)]
    return [distortion_maps(K, dist, width, height, K_p, u0, v0, (du, dv)) for dv in offs for du in offs]


def map_footprint(map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Canvas pixels per distorted pixel: the largest singular value of d(map_x, map_y)/d(u, v), (H, W) float64.

    Central differences inside, one-sided at the border; NaN where the maps are NaN. Needs H, W >= 2.
    """
    mx, my = map_x.astype(np.float64), map_y.astype(np.float64)
    a, c = np.gradient(mx, axis=1), np.gradient(my, axis=1)
    b, d = np.gradient(mx, axis=0), np.gradient(my, axis=0)
    # largest singular value of [[a, b], [c, d]]
    s1 = a * a + b * b + c * c + d * d
    s2 = np.sqrt(np.maximum((a * a + b * b - c * c - d * d) ** 2 + 4 * (a * c + b * d) ** 2, 0.0))
    return np.sqrt(0.5 * (s1 + s2))


# ---------------------------------------------------------------------------------------------- the images
def _remap_linear(img: np.ndarray, maps) -> np.ndarray:
    mx, my = maps
    bad = ~(np.isfinite(mx) & np.isfinite(my))
    if np.any(bad):
        mx, my = np.where(bad, -1e6, mx).astype(np.float32), np.where(bad, -1e6, my).astype(np.float32)
    return cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def distort_image(maps, image: np.ndarray, rgb_maps=None) -> np.ndarray:
    """Resample a pinhole-canvas image into the distorted image (module docstring, "Resampling").

    Parameters
    ----------
    maps : (map_x, map_y)
        (H, W) float32 from :func:`distortion_maps` (NaN: no ray).
    image : (H_p, W_p[, C]) array
        Colour (uint8 or float, C <= 4) on the canvas.
    rgb_maps : list of (map_x, map_y), optional
        :func:`supersample_maps` of the same canvas: the mean over them (a box filter over each output pixel)
        instead of one bilinear sample.

    Returns
    -------
    (H, W[, C]) array, ``image``'s dtype (integers rounded to nearest)
        0 where a pixel has no ray.

    Raises
    ------
    ValueError
        If the maps reach outside the canvas (build them with :func:`pinhole_canvas`'s canvas).
    """
    image = np.ascontiguousarray(image)
    mx, my = maps
    ok = np.isfinite(mx) & np.isfinite(my)
    H_p, W_p = image.shape[:2]
    if np.any(ok & ((mx < -0.5) | (mx > W_p - 0.5) | (my < -0.5) | (my > H_p - 0.5))):
        raise ValueError(f"distort_image: the maps reach outside the {W_p}x{H_p} canvas; build them with the canvas "
                         "of pinhole_canvas")
    if not rgb_maps:
        return _remap_linear(image, maps)
    acc = None
    for m in rgb_maps:
        r = _remap_linear(image, m).astype(np.float32)
        acc = r if acc is None else acc + r
    acc /= len(rgb_maps)
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        return np.clip(np.rint(acc), info.min, info.max).astype(image.dtype)
    return acc.astype(image.dtype)


__all__ = ["pinhole_canvas", "distortion_maps", "supersample_maps", "map_footprint", "distort_image",
           "MAX_SUPERSAMPLE"]
