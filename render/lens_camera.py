"""A distorted camera on top of the pinhole :class:`~gtforge.render.renderer.Renderer` (``camera.distortion``).

:func:`render_view` is the pipeline's call: for a view without a lens (``View.dist_model`` None) it is
``Renderer.render_view`` itself; for a view with one it renders the **pinhole canvas** view
``View(K=K_p, width=W_p, height=H_p)`` (:func:`~gtforge.render.distortion.pinhole_canvas`: same fx, fy, the principal
point shifted by whole pixels, large enough that its pixels hold the ray of every distorted pixel), the ID + depth
pass at :data:`CANVAS_SCALE` x that resolution (same field of view; a second ``render_view`` call), RGB and the
amodal passes at 1x, with every pass of the renderer as it is, then resamples the canvas layers into the distorted image
(:func:`~gtforge.render.distortion.distort_layers`): RGB box-filtered over each output pixel's footprint, instance
ids and depth from one canvas pixel per output pixel (depth: exact 1/z interpolation on planes), AR's RGBA and shadow
ratio like RGB. The returned :class:`~gtforge.render.renderer.FrameBuffers` are those of the distorted image, so the
annotation (boxes, masks, visibility, occlusion) runs unchanged on them.

Amodal silhouettes (BOP's 3W x 3H canvas, pixel (v + H, u + W) is image pixel (v, u)) under a lens:

* **Inside the image**: the canvas silhouette sampled at the same nearest canvas pixel as the ids, so every
  pixel an object owns in ``ids`` is in its silhouette (visible within ``mask``, as without a lens).
* **Beyond the image**: the distorted plane is extended to [-W, 2W) x [-H, 2H) with the lens model evaluated
  beyond the image; each of its pixels takes the silhouette (which the renderer gives on the pinhole canvas's own
  3 W_p x 3 H_p plane) at the nearest pinhole pixel of its ray. Pixels without a ray (beyond the model's
  monotonic field, fisheye past theta_d = pi/2) or whose ray leaves the 3 W_p x 3 H_p pinhole plane count as
  False: ``px_count_all`` is the silhouette *within the lens's field and the pinhole plane* (docs/conventions.md).

Everything that depends only on the camera (canvas, maps, the beyond-image index) is computed once per process and
camera (:func:`lens_camera`, cached by K, lens and image size): about 1 to 4 s at 640x480.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import numpy as np

from ..config.distortion import MAX_CANVAS_SIDE
from ..core.description import View
from ..core.lens import lens_model as lens
from .distortion import distort_layers, distortion_maps, pinhole_canvas, supersample_maps
from .renderer import FrameBuffers


#: Canvas pixels per image pixel (each axis) of the ID + depth canvas: the nearest canvas pixel of a distorted
#: pixel's ray is then at most 1 / (2 CANVAS_SCALE) image px from it (0.5 px at scale 1), which keeps mask borders
#: within a quarter pixel of the exact ray cast. RGB (box-filtered) and the amodal passes (their 3W x 3H planes)
#: stay at scale 1.
CANVAS_SCALE = 2


def _scaled(K_p: np.ndarray, W_p: int, H_p: int, s: int) -> tuple[np.ndarray, int, int]:
    """The pinhole canvas at s x s pixels per pixel: same field, pixel centres at (u + 0.5) s - 0.5."""
    K_s = K_p.copy()
    K_s[0, 0] *= s
    K_s[1, 1] *= s
    K_s[0, 2] = (K_p[0, 2] + 0.5) * s - 0.5
    K_s[1, 2] = (K_p[1, 2] + 0.5) * s - 0.5
    return K_s, W_p * s, H_p * s


@dataclasses.dataclass
class LensCamera:
    """What a distorted camera needs per frame, computed once (:func:`lens_camera`).

    Attributes
    ----------
    K_p : (3, 3) float64
        The pinhole canvas camera of the amodal passes; ``W_p``, ``H_p`` its size.
    K_s, W_s, H_s :
        The same canvas at :data:`CANVAS_SCALE` (ID + depth pass).
    maps : (map_x, map_y)
        (H, W) float32 coordinates of each distorted pixel's ray on the K_p canvas (NaN: none).
    maps_s :
        The same on the K_s canvas.
    rgb_maps :
        Supersampling maps on the K_p canvas, for box-filtered RGB.
    big_dst, big_src : (n,) int64
        Beyond-image amodal sampling: flat indices into the distorted 3H x 3W plane (outside the image block) and
        the flat indices of their nearest pixels on the pinhole 3 H_p x 3 W_p plane, ordered by source row;
        ``big_rows`` the source rows (for slicing by an object's rows).
    """

    width: int
    height: int
    K_p: np.ndarray
    W_p: int
    H_p: int
    K_s: np.ndarray
    W_s: int
    H_s: int
    maps: tuple
    maps_s: tuple
    rgb_maps: list
    big_dst: np.ndarray
    big_src: np.ndarray
    big_rows: np.ndarray

    def amodal(self, canvas_masks: dict, ids: np.ndarray) -> dict:
        """Distorted (3H, 3W) silhouettes of the renderer's pinhole (3 H_p, 3 W_p) ones (module docstring); the
        distorted ``ids`` (from the finer canvas) are added to the in-image block, so visible stays within amodal."""
        W, H, W_p, H_p = self.width, self.height, self.W_p, self.H_p
        inside = distort_layers(self.maps, masks={i: m[H_p:2 * H_p, W_p:2 * W_p] for i, m in canvas_masks.items()})
        out = {}
        for i, m in canvas_masks.items():
            big = np.zeros((3 * H, 3 * W), dtype=bool)
            rows = np.flatnonzero(m.any(axis=1))
            if rows.size:
                a, b = np.searchsorted(self.big_rows, [rows[0], rows[-1] + 1])
                flat = big.reshape(-1)
                flat[self.big_dst[a:b]] = m.reshape(-1)[self.big_src[a:b]]
            big[H:2 * H, W:2 * W] = inside["masks"][i] | (ids == i)
            out[i] = big
        return out


@functools.lru_cache(maxsize=8)
def _lens_camera(K_key: tuple, model: str, coeffs: tuple, width: int, height: int) -> LensCamera:
    K = np.asarray(K_key, dtype=np.float64).reshape(3, 3)
    dist = (model, coeffs)
    K_p, W_p, H_p = pinhole_canvas(K, dist, width, height)
    maps = distortion_maps(K, dist, width, height, K_p)
    s = CANVAS_SCALE if max(W_p, H_p) * CANVAS_SCALE <= MAX_CANVAS_SIDE else 1
    K_s, W_s, H_s = _scaled(K_p, W_p, H_p, s)
    maps_s = distortion_maps(K, dist, width, height, K_s) if s > 1 else maps
    rgb_maps = supersample_maps(K, dist, width, height, K_p)
    # beyond the image: the distorted plane [-W, 2W) x [-H, 2H) onto the pinhole plane [-W_p, 2W_p) x [-H_p, 2H_p)
    K_big = K_p.copy()
    K_big[0, 2] += W_p
    K_big[1, 2] += H_p
    mx, my = distortion_maps(K, dist, 3 * width, 3 * height, K_big, -width, -height)
    ok = np.isfinite(mx) & np.isfinite(my)
    col = np.floor(np.where(ok, mx, 0).astype(np.float64) + 0.5).astype(np.int64)
    row = np.floor(np.where(ok, my, 0).astype(np.float64) + 0.5).astype(np.int64)
    ok &= (col >= 0) & (col < 3 * W_p) & (row >= 0) & (row < 3 * H_p)
    ok[height:2 * height, width:2 * width] = False  # the image block comes from the in-image sampling
    dst = np.flatnonzero(ok)
    rows = row.reshape(-1)[dst]
    src = rows * (3 * W_p) + col.reshape(-1)[dst]
    order = np.argsort(rows, kind="stable")
    return LensCamera(width=int(width), height=int(height), K_p=K_p, W_p=int(W_p), H_p=int(H_p), K_s=K_s,
                      W_s=int(W_s), H_s=int(H_s), maps=maps, maps_s=maps_s, rgb_maps=rgb_maps, big_dst=dst[order], big_src=src[order], big_rows=rows[order])


def lens_camera(view: View) -> LensCamera | None:
    """The (cached) :class:`LensCamera` of ``view``'s camera, or None when it has no lens (or all-zero coefficients)."""
    L = lens(view.lens)
    if L is None:
        return None
    K = np.asarray(view.K, dtype=np.float64)
    return _lens_camera(tuple(K.ravel().tolist()), L[0], tuple(L[1].tolist()), int(view.width), int(view.height))


def canvas_view(view: View, cam: LensCamera, scaled: bool = True) -> View:
    """The pinhole canvas view rendered for ``view`` (same pose and clip distances, no lens): the ID + depth canvas
    at :data:`CANVAS_SCALE` (``scaled``) or the RGB and amodal passes' 1x canvas."""
    if scaled:
        return dataclasses.replace(view, K=cam.K_s, width=cam.W_s, height=cam.H_s, dist_model=None, dist_coeffs=())
    return dataclasses.replace(view, K=cam.K_p, width=cam.W_p, height=cam.H_p, dist_model=None, dist_coeffs=())


def render_view(renderer, view: View, rgb: bool = True, amodal: bool = True) -> FrameBuffers:
    """``renderer.render_view(view, rgb, amodal)`` in ``view``'s distorted camera (module docstring).

    Without a lens this is ``renderer.render_view`` itself. With one, ``renderer.last_timings`` gains ``distort``
    (seconds spent resampling).
    """
    cam = lens_camera(view)
    if cam is None:
        return renderer.render_view(view, rgb=rgb, amodal=amodal)
    geo = renderer.render_view(canvas_view(view, cam), rgb=False, amodal=False)  # ids + depth at CANVAS_SCALE
    timings = dict(getattr(renderer, "last_timings", None) or {})
    look = None
    if rgb or amodal:  # RGB (or AR's layers) and the silhouettes on the 1x canvas
        look = renderer.render_view(canvas_view(view, cam, scaled=False), rgb=rgb, amodal=amodal)
        for k, v in (getattr(renderer, "last_timings", None) or {}).items():
            timings[k] = timings.get(k, 0.0) + v
    t0 = time.perf_counter()
    out = distort_layers(cam.maps_s, ids=geo.ids, depth=geo.depth)
    color = rgba = shadow = None
    if look is not None and look.rgb is not None:
        color = distort_layers(cam.maps, rgb=look.rgb, rgb_maps=cam.rgb_maps)["rgb"]
    if look is not None and look.rgba is not None:
        rgba = distort_layers(cam.maps, rgb=look.rgba, rgb_maps=cam.rgb_maps)["rgb"]
    if look is not None and look.shadow is not None:
        shadow = distort_layers(cam.maps, rgb=look.shadow, rgb_maps=cam.rgb_maps)["rgb"]
        shadow[~(np.isfinite(cam.maps[0]) & np.isfinite(cam.maps[1]))] = 1.0
    masks = cam.amodal(look.amodal, out["ids"]) if look is not None and look.amodal else {}
    timings["distort"] = time.perf_counter() - t0
    if hasattr(renderer, "last_timings"):
        renderer.last_timings = timings
    return FrameBuffers(rgb=color, depth=np.ascontiguousarray(out["depth"], dtype=np.float32),
                        ids=out["ids"], amodal=masks, rgba=rgba, shadow=shadow)


__all__ = ["CANVAS_SCALE", "LensCamera", "lens_camera", "canvas_view", "render_view"]
