"""A distorted camera on top of the pinhole :class:`~gtforge.render.renderer.Renderer` (``camera.distortion``).

:func:`render_view` is the pipeline's call: for a view without a lens (``View.dist_model`` None) it is
``Renderer.render_view`` itself. For a view with one:

* **Instance ids, depth and amodal silhouettes are ray-cast through the lens, exactly at each pixel centre**
  (:meth:`LensCamera.cast`). Each distorted pixel centre (u, v) is undistorted to its viewing ray
  (``core.lens.pixel_rays``: OpenCV's undistortion, checked by re-projection), once per camera; per frame every
  ray meets the scene's surfaces (:class:`~gtforge.assets.scene_rays.SceneRays`: objects, hands with forearms,
  distractors, floor, walls; Embree BVHs, hit distances in float64). Owners follow the renderer's ID pass: objects
  and hands own their ``inst_id``; distractors, floor and walls occlude and own 0. Depth is z of the first hit in
  the camera frame. As the rasteriser clips at the view's ``znear`` and ``zfar``, rays start at the near plane
  (z = znear) and hits beyond z = zfar are dropped.
* **Amodal silhouettes** (BOP's 3W x 3H plane, pixel (v + H, u + W) is image pixel (v, u)): the *distorted* image
  plane extended to [-W, 2W) x [-H, 2H), the lens model evaluated beyond the image. Each object or hand is cast
  alone (against its own BVH) over the pixels of that plane its bounding box can reach (:meth:`LensCamera.window`),
  and the same casts give the visible layer, so a pixel an object owns is in its silhouette. Pixels without a ray
  (beyond the model's monotonic field, fisheye past theta_d = pi/2) are outside every silhouette: ``px_count_all``
  is the silhouette within the lens's field on the distorted 3W x 3H plane.
* **RGB** is rendered by the renderer on a **pinhole canvas** view
  ``View(K=K_p, width=W_p, height=H_p)`` (:func:`~gtforge.render.distortion.pinhole_canvas`: same fx, fy, principal
  point shifted by whole pixels, large enough to hold the ray of every distorted pixel) and resampled into the lens,
  box-filtered over each output pixel's footprint (:func:`~gtforge.render.distortion.distort_image`). AR scenes
  have no lens (their camera is the photo's): they are refused here.

The returned :class:`~gtforge.render.renderer.FrameBuffers` are those of the distorted image, so the annotation
(boxes, masks, visibility, occlusion) runs unchanged on them. Everything that depends only on the camera (canvas,
RGB maps, the rays of the 3W x 3H plane) is computed once per process and camera (:func:`lens_camera`, cached by K,
lens and image size); the scene's BVHs once per scene (:func:`scene_rays`).

Timings (``renderer.last_timings``): ``render_ids_depth`` is the ray cast (ids, depth and amodal silhouettes
together; ``render_amodal`` 0), ``render_rgb`` the canvas render (its own ID pass, which the renderer's anti-aliasing
and shadow fitting use, included), ``distort`` the RGB resampling.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time

import numpy as np

from ..assets.scene_rays import NOTHING, STATIC, SceneRays, rotate
from ..core.description import View
from ..core.geometry import invert_pose, transform_points
from ..core.lens import distort, field_limits, lens_model, pixel_grid, undistort_points
from .distortion import distort_image, distortion_maps, pinhole_canvas, supersample_maps
from .renderer import FrameBuffers

#: Pixels added on every side of an object's window on the distorted plane (:meth:`LensCamera.window`), beyond the
#: bounding box of its box's image (sampled every half pixel or finer).
WINDOW_MARGIN = 2


def _unit(xy32: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions (n, 3) float64 of normalised rays (x, y, 1) given as (n, 2), and |(x, y, 1)| (n,): a surface
    at ray length t has camera z = t / |(x, y, 1)|."""
    xy = xy32.astype(np.float64)
    norm = np.sqrt(xy[:, 0] ** 2 + xy[:, 1] ** 2 + 1.0)
    d = np.empty((len(xy), 3))
    d[:, 0] = xy[:, 0] / norm
    d[:, 1] = xy[:, 1] / norm
    d[:, 2] = 1.0 / norm
    return d, norm


def _rect_border(x0: float, x1: float, y0: float, y1: float, n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)
    xs, ys = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
    return np.concatenate([np.stack([xs, np.full(n, y0)], 1), np.stack([np.full(n, x1), ys], 1),
                           np.stack([xs[::-1], np.full(n, y1)], 1), np.stack([np.full(n, x0), ys[::-1]], 1)])


@dataclasses.dataclass
class LensCamera:
    """What a distorted camera needs per frame, computed once (:func:`lens_camera`).

    Attributes
    ----------
    width, height : int
        Image size, pixels.
    K : (3, 3) float64
        Intrinsics of the distorted camera.
    lens : (model, coeffs)
        ``core.lens.lens_model`` form.
    K_p, W_p, H_p :
        The pinhole canvas camera of the RGB pass and its size.
    maps : (map_x, map_y)
        (H, W) float32 coordinates of each distorted pixel's ray on the canvas (NaN: none).
    rgb_maps :
        Supersampling maps on the canvas, for box-filtered RGB.
    plane_xy : (3H, 3W, 2) float32
        Normalised undistorted ray (x, y) (direction (x, y, 1), camera frame) of every pixel centre of the distorted
        3W x 3H plane; plane pixel (row, col) is image pixel (row - H, col - W). NaN: no ray.
    xy_lo, xy_hi : (2,) float64
        Bounds of the finite ``plane_xy``.
    r_max : float
        Normalised undistorted radius of the model's fold (inf: none).
    """

    width: int
    height: int
    K: np.ndarray
    lens: tuple
    K_p: np.ndarray
    W_p: int
    H_p: int
    maps: tuple
    rgb_maps: list
    plane_xy: np.ndarray
    xy_lo: np.ndarray
    xy_hi: np.ndarray
    r_max: float

    def window(self, corners_cam: np.ndarray, clip: tuple) -> tuple | None:
        """Pixels of the distorted 3W x 3H plane whose rays can meet a box, as a half-open window (c0, r0, c1, r1)
        of plane columns and rows within ``clip`` (same form); None when none.

        The pinhole projection of the box (``corners_cam`` (8, 3), camera frame) lies in the rectangle spanned by its
        corners' normalised coordinates; the lens maps that rectangle one to one (on its monotonic field) onto a
        region bounded by the image of the rectangle's border, whose bounding box (border sampled every half pixel
        or finer, plus :data:`WINDOW_MARGIN`) is the window. A corner at or behind the camera plane, or a border
        beyond the model's fold, gives ``clip`` whole.
        """
        z = corners_cam[:, 2]
        if np.all(z <= 1e-9):
            return None
        if np.any(z <= 1e-9):
            return clip
        xy = corners_cam[:, :2] / z[:, None]
        lo = np.maximum(xy.min(axis=0), self.xy_lo)
        hi = np.minimum(xy.max(axis=0), self.xy_hi)
        if np.any(lo > hi):
            return None
        f = max(self.K[0, 0], self.K[1, 1])
        n = int(math.ceil(2.0 * f * float(max(hi - lo)))) + 2
        for _ in range(4):
            border = _rect_border(lo[0], hi[0], lo[1], hi[1], n)
            if not np.all(np.hypot(border[:, 0], border[:, 1]) < self.r_max):
                return clip
            uv = distort(border, self.lens) * [self.K[0, 0], self.K[1, 1]] + [self.K[0, 2], self.K[1, 2]]
            if np.abs(np.diff(uv, axis=0)).max(initial=0.0) <= 0.5:
                break
            n *= 2
        else:
            return clip
        W, H = self.width, self.height
        c0 = max(clip[0], int(math.floor(uv[:, 0].min())) - WINDOW_MARGIN + W)
        r0 = max(clip[1], int(math.floor(uv[:, 1].min())) - WINDOW_MARGIN + H)
        c1 = min(clip[2], int(math.ceil(uv[:, 0].max())) + WINDOW_MARGIN + 1 + W)
        r1 = min(clip[3], int(math.ceil(uv[:, 1].max())) + WINDOW_MARGIN + 1 + H)
        if c0 >= c1 or r0 >= r1:
            return None
        return c0, r0, c1, r1

    def cast(self, scene: SceneRays, view: View, amodal: bool = True) -> tuple[np.ndarray, np.ndarray, dict]:
        """Instance ids, depth and amodal silhouettes of ``view`` through the lens, by ray casting (module docstring).

        Parameters
        ----------
        scene : SceneRays
            The scene's surfaces.
        view : View
            Pose (``world_T_cam``), ``znear``, ``zfar``; its K, size and lens are this camera's.
        amodal : bool
            Also the silhouettes (else ``{}``, and objects are cast over the image only).

        Returns
        -------
        ids : (H, W) int32
            ``inst_id`` of the object or hand first hit at each pixel centre; 0 for nothing, floor, walls,
            distractors and pixels without a ray.
        depth : (H, W) float32
            z of that hit in the OpenCV camera frame, metres; 0 where nothing is hit.
        amodal : dict[int, (3H, 3W) bool]
            Per object and hand ``inst_id``, its silhouette alone on the distorted 3W x 3H plane.
        """
        W, H = self.width, self.height
        pose = np.asarray(view.world_T_cam, dtype=np.float64)
        R, eye = pose[:3, :3], pose[:3, 3]
        cam_T_world = invert_pose(pose)
        znear, zfar = float(view.znear), float(view.zfar)
        img = self.plane_xy[H:2 * H, W:2 * W].reshape(-1, 2)
        ok = np.flatnonzero(np.isfinite(img[:, 0]))
        d, norm = _unit(img[ok])
        best = np.full(W * H, np.inf)
        t = scene.static_hits(eye, rotate(d, R, blas=False), znear * norm, blas=False)
        best[ok] = np.where(t <= zfar * norm, t, np.inf)
        owner = np.full(W * H, NOTHING, dtype=np.int64)
        owner[ok[np.isfinite(best[ok])]] = STATIC
        norm_img = np.ones(W * H)
        norm_img[ok] = norm
        plane, image = (0, 0, 3 * W, 3 * H), (W, H, 2 * W, 2 * H)
        masks: dict = {}
        for item in scene.items:
            silhouette = amodal and item.owner > 0
            if silhouette and item.owner not in masks:
                masks[item.owner] = np.zeros((3 * H, 3 * W), dtype=bool)
            win = self.window(transform_points(cam_T_world, item.corners), plane if silhouette else image)
            if win is None:
                continue
            c0, r0, c1, r1 = win
            sub = self.plane_xy[r0:r1, c0:c1].reshape(-1, 2)
            sel = np.flatnonzero(np.isfinite(sub[:, 0]))
            if sel.size == 0:
                continue
            ds, ns = _unit(sub[sel])
            th = scene.item_hits(item, eye, rotate(ds, R, blas=False), znear * ns, blas=False)
            hit = th <= zfar * ns
            rows, cols = np.divmod(sel, c1 - c0)
            rows += r0
            cols += c0
            if silhouette:
                masks[item.owner][rows[hit], cols[hit]] = True
            inside = hit & (rows >= H) & (rows < 2 * H) & (cols >= W) & (cols < 2 * W)
            idx = (rows[inside] - H) * W + (cols[inside] - W)
            tt = th[inside]
            closer = tt < best[idx]
            best[idx[closer]] = tt[closer]
            owner[idx[closer]] = item.owner
        seen = np.isfinite(best)
        depth = np.where(seen, best / norm_img, 0.0).astype(np.float32).reshape(H, W)
        ids = np.where(owner > 0, owner, 0).astype(np.int32).reshape(H, W)
        return ids, depth, masks


@functools.lru_cache(maxsize=8)
def _lens_camera(K_key: tuple, model: str, coeffs: tuple, width: int, height: int) -> LensCamera:
    K = np.asarray(K_key, dtype=np.float64).reshape(3, 3)
    dist = (model, np.asarray(coeffs, dtype=np.float64))
    K_p, W_p, H_p = pinhole_canvas(K, dist, width, height)
    maps = distortion_maps(K, dist, width, height, K_p)
    rgb_maps = supersample_maps(K, dist, width, height, K_p)
    xy = undistort_points(pixel_grid(3 * width, 3 * height, -width, -height), K, dist)
    finite = xy[np.isfinite(xy).all(axis=1)]
    plane = xy.astype(np.float32).reshape(3 * height, 3 * width, 2)
    plane[np.isnan(plane).any(axis=-1)] = np.nan
    return LensCamera(width=int(width), height=int(height), K=K, lens=dist, K_p=K_p, W_p=int(W_p), H_p=int(H_p),
                      maps=maps, rgb_maps=rgb_maps, plane_xy=plane, xy_lo=finite.min(axis=0),
                      xy_hi=finite.max(axis=0), r_max=field_limits(model, dist[1])[0])


def lens_camera(view: View) -> LensCamera | None:
    """The (cached) :class:`LensCamera` of ``view``'s camera, or None when it has no lens (``core.lens.lens_model``:
    also a radtan lens with all-zero coefficients)."""
    L = lens_model(view.lens)
    if L is None:
        return None
    K = np.asarray(view.K, dtype=np.float64)
    return _lens_camera(tuple(K.ravel().tolist()), L[0], tuple(L[1].tolist()), int(view.width), int(view.height))


def canvas_view(view: View, cam: LensCamera) -> View:
    """The pinhole canvas view rendered for ``view``'s colour (same pose and clip distances, no lens)."""
    return dataclasses.replace(view, K=cam.K_p, width=cam.W_p, height=cam.H_p, dist_model=None, dist_coeffs=())


#: The last scene's surfaces: (description, library, distractor library, SceneRays) (one renderer per process).
_SCENE: list = [None]


def scene_rays(renderer) -> SceneRays:
    """The :class:`~gtforge.assets.scene_rays.SceneRays` of ``renderer``'s current scene (built once per scene)."""
    desc, lib, dlib = renderer.description, renderer.library, renderer.distractor_library
    last = _SCENE[0]
    if last is None or last[0] is not desc or last[1] is not lib or last[2] is not dlib:
        _SCENE[0] = last = (desc, lib, dlib, SceneRays(desc, lib, dlib))
    return last[3]


def render_view(renderer, view: View, rgb: bool = True, amodal: bool = True) -> FrameBuffers:
    """``renderer.render_view(view, rgb, amodal)`` in ``view``'s distorted camera (module docstring).

    Without a lens this is ``renderer.render_view`` itself. With one, ``renderer.last_timings`` holds
    ``render_rgb`` (the canvas render), ``render_ids_depth`` (the ray cast), ``render_amodal`` (0) and
    ``distort`` (RGB resampling), seconds.

    Raises
    ------
    ValueError
        If no scene is set, or the scene is an AR scene (AR views take the photo's camera, which has no lens here).
    """
    cam = lens_camera(view)
    if cam is None:
        return renderer.render_view(view, rgb=rgb, amodal=amodal)
    desc = renderer.description
    if desc is None:
        raise ValueError("render_view: call set_scene first")
    if desc.ar is not None:
        raise ValueError("render_view: AR scenes have no lens (their camera is the photo's)")
    timings = {"render_rgb": 0.0, "render_ids_depth": 0.0, "render_amodal": 0.0, "distort": 0.0}
    color = None
    if rgb:
        look = renderer.render_view(canvas_view(view, cam), rgb=True, amodal=False)
        timings["render_rgb"] = sum((getattr(renderer, "last_timings", None) or {}).values())
        t0 = time.perf_counter()
        color = distort_image(cam.maps, look.rgb, cam.rgb_maps)
        timings["distort"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ids, depth, masks = cam.cast(scene_rays(renderer), view, amodal=amodal)
    timings["render_ids_depth"] = time.perf_counter() - t0
    if hasattr(renderer, "last_timings"):
        renderer.last_timings = timings
    return FrameBuffers(rgb=color, depth=depth, ids=ids, amodal=masks)


__all__ = ["WINDOW_MARGIN", "LensCamera", "lens_camera", "canvas_view", "scene_rays", "render_view"]
