"""Lens distortion of rendered layers: render a pinhole canvas, resample it into the distorted camera (no GL).

GL rasterises straight lines to straight lines, so a distorted camera cannot be rendered directly. Instead every
pass is rendered with a **pinhole canvas** camera (same fx, fy; principal point shifted; larger or smaller than the
image, :func:`pinhole_canvas`) whose pixels cover the viewing rays of every output pixel, and each output pixel of
the distorted image then takes the canvas value of its own ray (:func:`distortion_maps`, :func:`distort_layers`).

Models (OpenCV; equations and the projection and undistortion in ``core/lens.py``): ``radtan`` (``cv2.projectPoints``, distCoeffs
[k1, k2, p1, p2, k3]; OpenCV docs, calib3d "Camera Calibration and 3D Reconstruction") and ``fisheye``
(equidistant, ``cv2.fisheye.projectPoints``, D = [k1, k2, k3, k4]; OpenCV docs, calib3d "Fisheye camera model").
A lens is given as ``dist``: a :class:`~gtforge.config.distortion.DistortionConfig`, a pair
``(model, coeffs)``, or None (ideal pinhole: every function then reduces to the pinhole one).

Conventions (docs/conventions.md, "Pixels and intrinsics"): the centre of pixel (row v, column u) is at image
coordinates (u, v), in the distorted image as in the canvas; K holds the distorted camera's fx, fy, cx, cy (as in
every calibration file). The canvas is shifted by whole pixels from the image's own pinhole grid: canvas pixel
(u_p, v_p) is pinhole pixel (u_p + ox, v_p + oy) of K for integers ox = cx - cx_p, oy = cy - cy_p, so an
undistorted image at K is an exact integer crop of the canvas where both overlap.

What OpenCV does and what is written here
-----------------------------------------
* Projection: ``cv2.projectPoints`` / ``cv2.fisheye.projectPoints`` (:func:`project_points`).
* Undistortion of pixels to rays: ``cv2.undistortPoints`` / ``cv2.fisheye.undistortPoints`` with strict termination
  criteria (:data:`UNDISTORT_CRITERIA`): OpenCV's default for radtan is 5 fixed-point iterations, which leaves 0.29 px
  of error at the corners of a 640x480, fx 500, k1 = -0.28 camera. Every result is re-projected through the
  model; radtan points off by more than :data:`RESIDUAL_TOL` px are polished by Newton steps with
  the analytic Jacobian (``config.distortion.radtan_jacobian_det``'s terms), and any point still off, or off the
  model's first monotonic branch (``config.distortion.monotonic_limit``), has no ray (NaN).
  ``cv2.initUndistortRectifyMap`` is *not* used for rendering: it maps each *undistorted* output pixel to its
  *distorted* source, the inverse of what rendering needs (for each *distorted* pixel, its *undistorted* location);
  the tests use it as the independent way back. The re-projection check uses the model's equations in numpy
  (``_forward``, tested equal to OpenCV's projectPoints), 5 to 10x faster than ``cv2.projectPoints`` on whole images.
* Resampling: ``cv2.remap`` (bilinear) for RGB; instance ids, masks and depth are gathered in numpy from the same
  nearest canvas pixel (``floor(x + 0.5)``), so ids, masks and depth of one output pixel come from one canvas pixel
  (ints have no bilinear meaning; cv2's nearest mode rounds half to even, and int32 ids are not among its types
  everywhere).

Layers (:func:`distort_layers`)
-------------------------------
* **RGB**: bilinear (``cv2.remap``, ``INTER_LINEAR``) at each output pixel's ray; with ``rgb_maps``
  (:func:`supersample_maps`) the mean of s x s bilinear samples spread evenly over the output pixel's footprint, a box
  filter in the distorted image (OpenCV's ``INTER_AREA`` exists for resize only, not for remap). Where the lens
  compresses the image (barrel distortion's edges, a fisheye's periphery) the canvas has several pixels per output
  pixel and a single bilinear sample aliases; :func:`supersample_maps` picks s from the largest footprint.
* **Instance ids and masks**: nearest canvas pixel; one owner per output pixel, and a pixel whose canvas pixel is in
  an object's visible region is in its amodal silhouette (same canvas pixel for both): the renderer's invariant
  "visible within ``mask``" survives.
* **Depth**: z of the surface seen along each output pixel's ray. For a pixel whose 2x2 canvas neighbours all have the
  same owner, all a valid depth, and depths within a factor 1 + ``depth_jump`` of each other (no occlusion edge,
  e.g. a distractor over the floor, both owner 0), z = 1 / (bilinear interpolation of 1/z of the four neighbours) at
  the ray's canvas location; otherwise the nearest canvas pixel's z (the same pixel that gives the id).

  *Why 1/z is exact on planes.* A plane n . X = d (d != 0) seen by the pinhole camera: a point on the ray of canvas
  pixel (u, v) is X = z (x, y, 1) with x = (u - cx_p) / fx, y = (v - cy_p) / fy, so z (n_x x + n_y y + n_z) = d and
  1/z = (n_x x + n_y y + n_z) / d, an affine function of (u, v). Bilinear interpolation reproduces affine functions
  exactly (the bilinear interpolant of f = a + b u + c v on a unit cell is a + b u + c v; the u v term's coefficient
  f00 - f10 - f01 + f11 vanishes), so for four neighbours on one plane the interpolated 1/z is the plane's 1/z on the
  output pixel's ray: the ray-plane intersection, exactly (up to float rounding). On a smooth curved surface it is a
  second-order approximation; where the 2x2 cell straddles a crease within ``depth_jump`` it stays within the cell's
  depth range, like nearest sampling.

Cost (640x480, fx 500, k1 = -0.28, on a loaded 2-core CPU): canvas 822x617; :func:`distortion_maps` 0.27 s and
:func:`supersample_maps` (s = 2) 1.1 s, both once per camera (K and the lens are fixed per build); per frame
:func:`distort_layers` 0.1 s for ids + depth and 0.02 s for supersampled RGB.

Limits: lenses whose field reaches 180 deg, or whose model folds back inside the image, are refused by
``DistortionConfig.check_field`` (recipe) and have no ray here (NaN).

ADOPTION PLAN (wired: steps 1, 2, 4, 5, 6 and 8 in render/lens_camera.py and beside it; step 3 simplified there:
the renderer's 1x canvas silhouettes on its own 3W_p x 3H_p plane sampled through the lens; step 7 stereo open)
--------------------------------------------------------------------------------------------------------------------
1. Recipe: ``config/schema.py::CameraConfig`` gains ``distortion: DistortionConfig | None = None`` (import from
   ``.distortion``) and its ``_check`` calls ``self.distortion.check_field(self.K(), self.width, self.height)``,
   re-raising ``FieldValueError(("distortion",) + e.loc, str(e))`` so errors read ``camera.distortion.coeffs: ...``.
   ``core.description.View`` gains ``dist_model: str | None`` and ``dist_coeffs: tuple`` (core cannot import config).
2. Renderer (``render/renderer.py``): per worker and camera (K, dist, W, H are fixed per build) compute once and
   cache ``K_p, W_p, H_p = pinhole_canvas(...)``, ``maps = distortion_maps(..., K_p)``, ``rgb_maps =
   supersample_maps(..., K_p)``. ``render_view`` renders the ID + depth pass, the RGB pass and the in-image amodal
   passes with the canvas camera ``View(K=K_p, width=W_p, height=H_p)`` (the shadow-frusta fitting and the
   backdrop's sky rays use that canvas view as they are) and returns ``distort_layers(maps, rgb=, ids=, depth=,
   masks=, rgb_maps=)`` as the :class:`FrameBuffers` of the distorted image. AR (``rgba`` premultiplied, ``shadow``)
   is resampled like RGB and composited over the photo, which comes from the real, distorted camera as it is.
3. Amodal 3W x 3H canvas under distortion: ``px_count_all``, ``bbox_obj`` and truncation count the silhouette on the
   *distorted* plane extended around the image (pixels (u, v) in [-W, 2W) x [-H, 2H), the lens model evaluated
   beyond the image: an enlarged distorted canvas). Per object whose silhouette leaves the image:
   a. its pinhole window on the canvas camera (today's ``_amodal_window`` with K_p: the pinhole projection of the
      box's corners bounds the pinhole silhouette);
   b. the window's border, sampled every pixel, as rays ((u - cx_p) / fx, (v - cy_p) / fy, 1), through
      :func:`project_points` ``(rays, K, dist)``: the bounding box of the finite results, widened by 2 px and clipped
      to [-W, 2W) x [-H, 2H), is the distorted window (u0, v0, w, h) (NaN border points, beyond the lens's field:
      widen to the clip);
   c. ``K_w, W_w, H_w = pinhole_canvas(K, dist, w, h, u0, v0)`` and ``maps_w = distortion_maps(K, dist, w, h, K_w,
      u0, v0)``; the object alone is rasterised with K_w over W_w x H_w (today's outside-the-image window code: a
      camera shifted to a window, ``_gl_camera(K_w, ...)``) and ``distort_layers(maps_w, masks=...)`` samples it
      nearest into the distorted canvas at (v0 + H, u0 + W); the in-image block [H, 2H) x [W, 2W) is then
      overwritten by the nearest-sampled in-image amodal pass of step 2 (so visible pixels stay inside ``mask``, as
      today);
   d. pixels of the enlarged plane beyond the model's monotonic field (radtan past its fold, fisheye past
      theta_d = pi/2) have no ray (NaN maps, ``distort_layers`` gives False) and are not counted; if the window's
      pinhole canvas would exceed ``MAX_CANVAS_SIDE`` (``pinhole_canvas`` raises ValueError: rays near 90 deg), the
      window is shrunk towards the image until it fits. ``px_count_all`` is then "the silhouette within the lens's
      field on the 3W x 3H distorted canvas" (docs/conventions.md). Realistic radtan lenses have no fold at all
      (k1 = -0.28, k2 = 0.07: dr_d/dr > 0 for every r), so nothing is lost for them.
4. Annotation (``render/annotate.py``): unchanged code on the distorted buffers: ``mask_visib`` = distorted ids ==
   inst_id within the distorted ``mask``; ``bbox_visib``/``bbox_obj`` from distorted masks; ``visib_fract``,
   truncation and occlusion from distorted pixel counts. Keypoints (hands): ``keypoint_visibility(kp_cam, K, ids,
   depth, hand_id, radii, hand_ids, dist=None)`` projects with this module's :func:`project_points` ``(kp, K, dist)``
   instead of ``core.geometry.project_points`` (its NaN, behind the camera or beyond the field, already reads as
   "outside"); ``annotate_hands`` passes the view's lens; the nearest-pixel visibility test reads the distorted ids
   and depth as it is.
5. Writers: BOP ``scene_camera.json`` per image gains ``"cam_dist": {"model": "radtan", "coeffs": [k1, k2, p1, p2,
   k3]}`` (``DistortionConfig.to_json``; ``cam_K`` stays the distorted camera's K; BOP readers ignore the extra
   key); ``camera.json`` gains the same key; COCO images gain ``"cam_dist"`` with the same content (next to
   ``width``/``height``; pycocotools ignores unknown image fields); KITTI ``calib/*.txt`` keeps its seven standard
   lines (P0..P3 = [K | 0] of the distorted camera, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo) and appends
   ``D_02: k1 k2 p1 p2 k3`` (the key of KITTI raw's ``calib_cam_to_cam.txt``) for radtan, or
   ``D_02_fisheye: k1 k2 k3 k4`` for fisheye, after them (readers that take lines by index or by key are unaffected;
   KITTI's own images are rectified, so the README says P2 then holds a distorted camera's K); YOLO has no camera
   record (its labels come from the distorted masks) and WebDataset samples carry the BOP record.
6. Verify (``inspection/raycast.py``): ``pixel_rays(K, width, height, u0, v0)`` gains ``dist`` read from
   ``cam_dist`` and, when set, casts the rays of :func:`pixel_rays`'s definition. ``inspection`` may import only
   ``core`` and ``formats``, so it calls ``cv2.undistortPoints`` / ``cv2.fisheye.undistortPoints`` itself with
   :data:`UNDISTORT_CRITERIA` (an independent implementation of the same OpenCV model), or this module's
   projection functions (:func:`lens`, :func:`undistort_points`, :func:`project_points`, :func:`pixel_rays`:
   numpy + cv2 + ``config.distortion``'s radial helpers) move to ``core/lens.py`` with those helpers.
7. Stereo (``camera.stereo``): the right view gets the same lens; its disparity layer f b / z is the rectified
   pair's disparity of each pixel's surface, written from the distorted depth (a per-pixel value, not a pixel shift
   between the two distorted images): say so in docs/conventions.md.
8. Other stages on distorted images: image effects that use K as a pinhole (vignetting's cos^4 field angle, lateral
   chromatic aberration, motion-blur reprojection) and the depth sensors (shadows, lateral shift) should take the
   rays of :func:`pixel_rays` or run on the canvas before distortion; until then they treat the distorted image as
   pinhole (documented approximation).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..config.distortion import CANVAS_MARGIN, MAX_CANVAS_SIDE
from ..core.lens import lens_model as lens
from ..core.lens import pixel_grid as _grid
from ..core.lens import undistort_points

#: Relative depth spread (z_max / z_min - 1) of a 2x2 canvas cell above which depth is not interpolated.
DEPTH_JUMP = 0.05

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
    if lens(dist) is None:
        K_p = K.copy()
        K_p[0, 2] -= u0
        K_p[1, 2] -= v0
        return K_p, int(width), int(height)
    pts = undistort_points(_border(width, height, u0, v0), K, dist, P=K)
    if np.isnan(pts).any():
        pts = undistort_points(_grid(width, height, u0, v0), K, dist, P=K)
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
    pts = undistort_points(_grid(width, height, u0, v0, offset), K, dist, P=K_p)
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


# ---------------------------------------------------------------------------------------------- the layers
def _nearest(maps) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, col) indices of the nearest canvas pixel of every output pixel and the mask of pixels with a ray."""
    mx, my = maps
    ok = np.isfinite(mx) & np.isfinite(my)
    col = np.floor(np.where(ok, mx, 0).astype(np.float64) + 0.5).astype(np.int64)
    row = np.floor(np.where(ok, my, 0).astype(np.float64) + 0.5).astype(np.int64)
    return row, col, ok


def _check_canvas(shape, row, col, ok) -> None:
    H_p, W_p = shape[:2]
    if np.any(ok & ((row < 0) | (row >= H_p) | (col < 0) | (col >= W_p))):
        raise ValueError(f"distort_layers: the maps reach outside the {W_p}x{H_p} canvas; build them with the canvas "
                         "of pinhole_canvas")


def _remap_linear(img: np.ndarray, maps) -> np.ndarray:
    mx, my = maps
    bad = ~(np.isfinite(mx) & np.isfinite(my))
    if np.any(bad):
        mx, my = np.where(bad, -1e6, mx).astype(np.float32), np.where(bad, -1e6, my).astype(np.float32)
    return cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _distort_rgb(rgb: np.ndarray, maps, rgb_maps) -> np.ndarray:
    if not rgb_maps:
        return _remap_linear(rgb, maps)
    acc = None
    for m in rgb_maps:
        r = _remap_linear(rgb, m).astype(np.float32)
        acc = r if acc is None else acc + r
    acc /= len(rgb_maps)
    if np.issubdtype(rgb.dtype, np.integer):
        info = np.iinfo(rgb.dtype)
        return np.clip(np.rint(acc), info.min, info.max).astype(rgb.dtype)
    return acc.astype(rgb.dtype)


def _distort_depth(depth: np.ndarray, ids, maps, row, col, ok, depth_jump: float) -> np.ndarray:
    H_p, W_p = depth.shape
    mx = np.where(ok, maps[0], 0).astype(np.float64)
    my = np.where(ok, maps[1], 0).astype(np.float64)
    i0 = np.clip(np.floor(mx).astype(np.int64), 0, W_p - 2)
    j0 = np.clip(np.floor(my).astype(np.int64), 0, H_p - 2)
    a, b = mx - i0, my - j0
    z = np.asarray(depth, dtype=np.float64)
    z4 = np.stack([z[j0, i0], z[j0, i0 + 1], z[j0 + 1, i0], z[j0 + 1, i0 + 1]])
    smooth = ok & np.all(z4 > 0, axis=0)
    smooth &= z4.max(axis=0) <= (1.0 + depth_jump) * z4.min(axis=0)
    if ids is not None:
        o4 = np.stack([ids[j0, i0], ids[j0, i0 + 1], ids[j0 + 1, i0], ids[j0 + 1, i0 + 1]])
        smooth &= np.all(o4 == o4[0], axis=0)
    out = np.where(ok, z[row.clip(0, H_p - 1), col.clip(0, W_p - 1)], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = ((1 - a) * (1 - b) / z4[0] + a * (1 - b) / z4[1] + (1 - a) * b / z4[2] + a * b / z4[3])
        out = np.where(smooth, 1.0 / w, out)
    return out.astype(depth.dtype)


def distort_layers(maps, rgb=None, ids=None, depth=None, masks=None, *, rgb_maps=None,
                   depth_jump: float = DEPTH_JUMP) -> dict:
    """Resample pinhole-canvas layers into the distorted image (module docstring, "Layers").

    Parameters
    ----------
    maps : (map_x, map_y)
        (H, W) float32 from :func:`distortion_maps` (NaN: no ray).
    rgb : (H_p, W_p[, C]) array, optional
        Colour (uint8 or float, C <= 4; also AR's premultiplied RGBA and shadow ratio): bilinear, or the mean over
        ``rgb_maps``. 0 where there is no ray.
    ids : (H_p, W_p) int, optional
        Instance ids: nearest canvas pixel; 0 where there is no ray.
    depth : (H_p, W_p) float, optional
        z in the OpenCV camera frame, metres, 0 = no surface: inverse-depth bilinear within one owner (``ids``, when
        given) and without a depth jump (``depth_jump``), else nearest; 0 where there is no ray.
    masks : (H_p, W_p) bool array or dict of them, optional
        Silhouettes (e.g. the in-image amodal passes): nearest; False where there is no ray.
    rgb_maps : list of (map_x, map_y), optional
        :func:`supersample_maps` of the same canvas, for box-filtered RGB.
    depth_jump : float
        Relative depth spread of a 2x2 canvas cell above which it is not interpolated.

    Returns
    -------
    dict
        The given layers under the same keys (``rgb``, ``ids``, ``depth``, ``masks``), (H, W[, C]), input dtypes;
        ``masks`` keeps its form (array or dict with the same keys).

    Raises
    ------
    ValueError
        If the layers differ in canvas size, or the maps reach outside the canvas.
    """
    row, col, ok = _nearest(maps)
    shapes = {name: np.shape(x)[:2] for name, x in (("rgb", rgb), ("ids", ids), ("depth", depth)) if x is not None}
    if masks is not None:
        for key, m in (masks.items() if isinstance(masks, dict) else [("masks", masks)]):
            shapes[f"masks[{key}]"] = np.shape(m)[:2]
    if len(set(shapes.values())) > 1:
        raise ValueError(f"distort_layers: layers of different canvas sizes: {shapes}")
    if not shapes:
        return {}
    _check_canvas(next(iter(shapes.values())), row, col, ok)
    out = {}
    if rgb is not None:
        out["rgb"] = _distort_rgb(np.ascontiguousarray(rgb), maps, rgb_maps)
    if ids is not None:
        ids = np.asarray(ids)
        out["ids"] = np.where(ok, ids[row, col], 0).astype(ids.dtype)
    if depth is not None:
        out["depth"] = _distort_depth(np.asarray(depth), None if ids is None else np.asarray(ids), maps, row, col, ok,
                                      depth_jump)
    if masks is not None:
        def one(m):
            return np.where(ok, np.asarray(m, dtype=bool)[row, col], False)
        out["masks"] = {k: one(m) for k, m in masks.items()} if isinstance(masks, dict) else one(masks)
    return out


__all__ = ["pinhole_canvas", "distortion_maps", "supersample_maps", "map_footprint", "distort_layers", "DEPTH_JUMP",
           "MAX_SUPERSAMPLE"]
