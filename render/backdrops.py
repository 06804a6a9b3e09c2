"""Backdrops (``SceneDescription.backdrop``): what the lit RGB image shows where no surface was drawn.

The renderer draws the lit pass over a transparent background and composites it over the backdrop at the
pixels it leaves uncovered (:func:`backdrop_pixels`); depth and ids stay 0 there. The kinds:

* ``color``: the plain ``color``;
* ``sky``: per-pixel blend of ``color`` at the horizon and ``zenith`` at the top, with
  t = sqrt(clip(sin(elevation), 0, 1)) of the pixel's viewing ray in the world; the horizon colour below the
  horizon (:func:`sky_image`);
* ``photo``: the crop window of the image, scaled to cover the frame and centre-cropped (:func:`photo_backdrop`).

Pure numpy (and PIL for the photo's resampling): no pyrender, no OpenGL (``tests/render/test_backdrops.py``
checks the import).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from ..assets.textures import load_texture
from ..core.description import Backdrop, View


def backdrop_pixels(backdrop: Backdrop, view: View, v: np.ndarray, u: np.ndarray, photos: dict) -> np.ndarray:
    """The backdrop as seen from ``view`` at image pixels (row ``v``, column ``u``).

    Parameters
    ----------
    backdrop : Backdrop
        Kind ``color``, ``sky`` or ``photo`` (module docstring).
    view : View
        The camera (``K``, ``world_T_cam``, ``width`` x ``height`` pixels).
    v, u : (k,) int
        Image rows and columns.
    photos : dict
        Cache of scaled photos, (photo key, crop, width, height) -> (height, width, 3) float32; filled here
        (the renderer keeps one per scene).

    Returns
    -------
    (k, 3) float32
        RGB in 0..255 (not rounded).

    Raises
    ------
    ValueError
        If the kind is unknown, a ``photo`` backdrop has no photo or its crop window is empty.
    """
    W, H = int(view.width), int(view.height)
    if backdrop.kind == "color":
        return np.broadcast_to(np.asarray(backdrop.color, np.float32) * 255.0, (len(v), 3))
    if backdrop.kind == "sky":
        zenith = backdrop.zenith if backdrop.zenith is not None else backdrop.color
        return sky_colors(backdrop.color, zenith, view.K, view.world_T_cam, u, v) * 255.0
    if backdrop.kind == "photo":
        if backdrop.photo is None:
            raise ValueError("photo backdrop without a photo")
        ck = (backdrop.photo.key, tuple(np.asarray(backdrop.crop, np.float64)), W, H)
        if ck not in photos:
            photos[ck] = photo_backdrop(load_texture(backdrop.photo.key, max_size=max(1024, W, H)),
                                        backdrop.crop, W, H).astype(np.float32)
        return photos[ck][v, u]
    raise ValueError(f"unknown backdrop kind {backdrop.kind!r}")


def sky_image(horizon, zenith, K: np.ndarray, world_T_cam: np.ndarray, width: int, height: int) -> np.ndarray:
    """Sky backdrop: per-pixel blend of the horizon and zenith colours by the elevation of the viewing ray.

    Parameters
    ----------
    horizon, zenith : (3,) float
        RGB in [0, 1].
    K : (3, 3) float64
        Intrinsics, pixels (OpenCV: pixel centres at integer coordinates).
    world_T_cam : (4, 4) float64
        OpenCV camera pose in the world (+z up), metres.
    width, height : int

    Returns
    -------
    (height, width, 3) float32
        RGB in [0, 1]: ``(1 - t) horizon + t zenith`` with ``t = sqrt(clip(sin(elevation), 0, 1))``, the
        elevation of the ray through each pixel centre above the world's horizontal plane (so below
        the horizon, the horizon colour). The square root keeps most of the sky near the zenith colour,
        a thin band near the horizon brighter, as in clear daylight skies.
    """
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    return sky_colors(horizon, zenith, K, world_T_cam, u.ravel(), v.ravel()).reshape(height, width, 3)


def sky_colors(horizon, zenith, K: np.ndarray, world_T_cam: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """:func:`sky_image` at some pixels only.

    Parameters
    ----------
    horizon, zenith, K, world_T_cam
        As :func:`sky_image`.
    u, v : (k,) int or float
        Pixel columns and rows.

    Returns
    -------
    (k, 3) float32
        RGB in [0, 1]. Each pixel is computed alone (elementwise), so any subset of pixels gets the values of
        the whole image, bit for bit (the renderer asks only for the pixels it leaves uncovered).
    """
    M = np.ascontiguousarray(world_T_cam[:3, :3]) @ np.linalg.inv(K)  # pixel (u, v, 1) -> world ray
    ray = [M[i, 0] * u + M[i, 1] * v + M[i, 2] for i in range(3)]
    sin_elev = ray[2] / np.sqrt(ray[0] * ray[0] + ray[1] * ray[1] + ray[2] * ray[2])
    t = np.sqrt(np.clip(sin_elev, 0.0, 1.0))[:, None]
    return ((1.0 - t) * np.asarray(horizon, np.float64) + t * np.asarray(zenith, np.float64)).astype(np.float32)


def photo_backdrop(photo: np.ndarray, crop, width: int, height: int) -> np.ndarray:
    """Photo backdrop: the ``crop`` window of ``photo``, scaled to cover the frame and centre-cropped.

    Parameters
    ----------
    photo : (h, w, 3) uint8
    crop : (4,) float
        (x0, y0, x1, y1) window in fractions of the photo's width and height.
    width, height : int
        Frame size, pixels.

    Returns
    -------
    (height, width, 3) uint8
        Scaled with Lanczos resampling (PIL ``ImageOps.fit``), keeping the aspect ratio.

    Raises
    ------
    ValueError
        If the window is empty.
    """
    h, w = photo.shape[:2]
    x0, y0, x1, y1 = (float(c) for c in crop)
    box = (int(round(x0 * w)), int(round(y0 * h)), int(round(x1 * w)), int(round(y1 * h)))
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"empty backdrop crop window {tuple(crop)}")
    img = Image.fromarray(np.ascontiguousarray(photo[..., :3])).crop(box)
    return np.asarray(ImageOps.fit(img, (int(width), int(height)), method=Image.LANCZOS))
