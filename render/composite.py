"""Compositing AR frames: inserted objects over the real photo, with depth-aware occlusion and shadows.

:func:`composite` takes the renderer's AR buffers (``FrameBuffers.rgba`` of the inserted
objects alone, ``shadow``, ``ids``, ``depth``) and the background, and returns the final
image and the ID/depth buffers the annotator uses, in this order:

1. Depth-aware occlusion: where the background's depth map (metres, 0 unknown) is nearer
   than an inserted surface by more than ``max(0.05 m, 2 %)``, the real surface owns the
   pixel (``REAL_ID``), in the image and in every label. (Real objects known from labels were
   already drawn into the ID pass as occluder boxes.)
2. The inserted layer (RGB and alpha) is brought towards the photo: colour matched to the
   photo's mean colour (fraction ``color_match``), Gaussian blur, chromatic aberration (red and
   blue shifted horizontally by +-``chromatic_aberration_px``), motion blur along a line (the
   content moves ``2 motion_blur_px`` during the exposure: ``motion_blur_px`` to each side), and
   sensor noise (Gaussian, ``noise_sigma`` in 0-255 units, on the inserted pixels only). These use
   the primitives of the shared image-effects stage (``render/effects.py``: ``gaussian_blur``,
   ``channel_transform``, ``linear_motion_blur``, ``poisson_gaussian_noise`` with a = 0), on the layer
   alone and in 0-255 code values, so that the layer matches a photo that already carries its own
   camera's effects. The recipe's ``effects`` stage, when enabled, runs on the whole composite
   afterwards (``pipeline/worker.py``), like on every other scene kind.
3. Shadows darken the photo: ``photo * (1 - strength * (1 - shadow))``.
4. Blending (``blend``): ``none`` (alpha > 0.5 hard), ``gaussian`` (alpha blurred, sigma 1 px),
   ``motion`` (alpha blurred along the motion line), ``poisson`` (OpenCV ``seamlessClone`` of
   the layer into the photo inside the object mask).

The photo is left bit-exact wherever no inserted object (alpha 0) and no shadow (ratio 1) falls.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from ..core.description import CompositeLook
from ..core.ids import REAL_ID
from .effects import channel_transform, gaussian_blur, linear_motion_blur, poisson_gaussian_noise


def real_occlusion(ids: np.ndarray, depth: np.ndarray, real_depth: np.ndarray | None):
    """Step 1: where the photo's depth is nearer than an inserted surface by more than max(5 cm, 2 %), the real
    surface owns the pixel. Returns copies of (ids (H, W) int32, depth (H, W) float32 metres)."""
    ids = ids.copy()
    depth = depth.copy()
    if real_depth is not None:
        obj = ids > 0
        nearer = obj & (real_depth > 0) & (real_depth < depth - np.maximum(0.05, 0.02 * depth))
        ids[nearer] = REAL_ID
        depth[nearer] = real_depth[nearer]
    return ids, depth


def style_layer(layer: np.ndarray, covered: np.ndarray, photo_f: np.ndarray, look: CompositeLook) -> np.ndarray:
    """Step 2: bring the inserted layer (H, W, 3) float32 0-255 towards the photo: colour match, blur,
    chromatic aberration, motion blur, sensor noise (on ``covered`` pixels only). Returns the new layer."""
    if covered.any() and look.color_match > 0:
        target = photo_f.reshape(-1, 3).mean(axis=0)
        current = layer[covered].mean(axis=0) + 1e-3
        gain = (1 - look.color_match) + look.color_match * (target / current) * (current.mean() / target.mean())
        layer = np.clip(layer * gain, 0, 255)
    layer = np.asarray(layer, dtype=np.float32)
    if look.blur_sigma > 0.05:
        layer = gaussian_blur(layer, look.blur_sigma)
    ca = look.chromatic_aberration_px
    if ca > 0.05:
        layer = channel_transform(layer, (0.0, 0.0), shifts=((ca, 0.0), (0.0, 0.0), (-ca, 0.0)))
    if look.motion_blur_px > 0.5:
        layer = linear_motion_blur(layer, 2.0 * look.motion_blur_px, look.motion_angle)
    if look.noise_sigma > 0:
        noisy = 255.0 * poisson_gaussian_noise(layer / 255.0, 0.0, (look.noise_sigma / 255.0) ** 2,
                                               np.random.default_rng(look.noise_seed))
        layer = np.clip(np.where(covered[..., None], noisy, layer), 0, 255)
    return layer


def blend_alpha(alpha: np.ndarray, covered: np.ndarray, real: np.ndarray, look: CompositeLook) -> np.ndarray:
    """Step 4a: the blending weights (H, W) float32 in [0, 1] for ``blend`` none, gaussian or motion (poisson
    uses the anti-aliased alpha, thresholded by :func:`poisson_blend`); real surfaces get 0."""
    if look.blend == "none":
        alpha = (alpha > 0.5).astype(np.float32)
    elif look.blend == "gaussian":
        alpha = np.clip(ndimage.gaussian_filter(alpha, 1.0), 0, 1) * (ndimage.binary_dilation(covered, iterations=3))
        alpha[real] = 0.0
    elif look.blend == "motion":
        alpha = np.clip(linear_motion_blur(alpha, 2.0 * max(look.motion_blur_px, 2.0), look.motion_angle), 0, 1)
        alpha[real] = 0.0
    return alpha


def poisson_blend(layer: np.ndarray, photo_f: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Step 4b: OpenCV ``seamlessClone`` (Perez et al. 2003, Poisson image editing) of the layer into the photo
    inside the mask alpha > 0.5; objects touching the border fall back to the hard mask. Returns (H, W, 3) float."""
    mask = ((alpha > 0.5) * 255).astype(np.uint8)
    if not mask.any():
        return photo_f.copy()
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    h, w = photo_f.shape[:2]
    if not (y0 > 0 and x0 > 0 and y1 < h and x1 < w):  # seamlessClone cannot place it
        return np.where(mask[..., None] > 0, layer, photo_f)
    src = np.clip(layer, 0, 255).astype(np.uint8)
    dst = np.clip(photo_f, 0, 255).astype(np.uint8)
    sub = mask[y0:y1, x0:x1].copy()  # seamlessClone writes into its mask argument
    centre = (int((x0 + x1 - 1) // 2), int((y0 + y1 - 1) // 2))
    cloned = cv2.seamlessClone(src[y0:y1, x0:x1], dst, sub, centre, cv2.NORMAL_CLONE)
    return np.where(mask[..., None] > 0, cloned.astype(np.float32), photo_f)


def composite(photo: np.ndarray, rgba: np.ndarray, shadow: np.ndarray, ids: np.ndarray, depth: np.ndarray,
              real_depth: np.ndarray | None, look: CompositeLook):
    """Final AR frame (steps in the module docstring).

    Parameters
    ----------
    photo : (H, W, 3) uint8
    rgba : (H, W, 4) uint8
        Inserted objects alone (alpha 0 elsewhere).
    shadow : (H, W) float32 in [0, 1]
        Ground brightness with the objects over without them (1: no shadow).
    ids : (H, W) int32
        ID pass (objects and real occluders).
    depth : (H, W) float32
        z of the ID pass, metres.
    real_depth : (H, W) float32 or None
        z of the photo's real surfaces, metres (0 unknown).
    look : CompositeLook

    Returns
    -------
    rgb : (H, W, 3) uint8
    ids, depth : the buffers after depth-aware occlusion (real surfaces own their pixels; depth
        there is the real depth, and the real depth wherever no inserted object is seen)
    """
    ids, depth = real_occlusion(ids, depth, real_depth)
    real = ids == REAL_ID
    alpha = rgba[..., 3].astype(np.float32) / 255.0
    alpha[real] = 0.0
    photo_f = photo.astype(np.float32)
    covered = alpha > 0
    layer = style_layer(rgba[..., :3].astype(np.float32), covered, photo_f, look)
    if look.shadows:  # step 3: shadows darken the real ground
        photo_f = photo_f * (1.0 - look.shadow_strength * (1.0 - shadow))[..., None]
    alpha = blend_alpha(alpha, covered, real, look)
    if look.blend == "poisson":
        out = poisson_blend(layer, photo_f, alpha)
    else:
        out = photo_f * (1 - alpha[..., None]) + layer * alpha[..., None]
    rgb = np.clip(np.round(out), 0, 255).astype(np.uint8)
    untouched = (alpha <= 0) & (shadow >= 1.0)
    rgb[untouched] = photo[untouched]  # bit-exact background where nothing was inserted
    if real_depth is not None:
        bgpix = ids == 0
        depth[bgpix] = real_depth[bgpix]
    return rgb, ids, depth
