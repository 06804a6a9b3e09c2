"""Edge anti-aliasing of the lit RGB image: FXAA's directional blend at surface boundaries only.

The renderer draws the lit pass with one sample per pixel and, with ``renderer.RGB_ANTIALIAS`` = ``edges``
(the default), hands it here with the view's ID + depth pass: :func:`surface_edges` marks the pixels on
either side of an id change, a boundary with the background, a depth step or a crease between faces, and
:func:`edge_antialias` blends those pixels along the edge (T. Lottes' FXAA, console variant) and leaves every
other pixel as drawn, so textures and shading away from geometric edges keep their sharpness, as with MSAA,
which only resolves coverage. Ground-truth buffers are never anti-aliased.

Pure numpy: no pyrender, no OpenGL (``tests/render/test_antialias.py`` checks the import).
"""

from __future__ import annotations

import numpy as np

#: :func:`surface_edges`: a second difference of inverse depth above this fraction of it marks a crease or step.
EDGE_CREASE = 0.002
#: :func:`edge_antialias` leaves a pixel alone when the luma range of it and its diagonal neighbours is below
#: max(``_FXAA_RANGE_MIN``, ``_FXAA_RANGE`` x the largest luma) (FXAA's ``EDGE_THRESHOLD_MIN`` / ``EDGE_THRESHOLD``).
_FXAA_RANGE_MIN, _FXAA_RANGE = 1.0 / 32.0, 1.0 / 16.0
#: FXAA's ``SPAN_MAX`` (pixels), ``REDUCE_MUL`` and ``REDUCE_MIN``.
_FXAA_SPAN_MAX, _FXAA_REDUCE_MUL, _FXAA_REDUCE_MIN = 8.0, 1.0 / 8.0, 1.0 / 128.0
#: Luma weights of :func:`edge_antialias` (ITU-R BT.601, as FXAA).
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def surface_edges(ids: np.ndarray, depth: np.ndarray, crease: float = EDGE_CREASE) -> np.ndarray:
    """Pixels on either side of a boundary between surfaces, from a view's ID + depth pass.

    Parameters
    ----------
    ids : (H, W) int
        Instance ids (0 for floor, walls, distractors, background).
    depth : (H, W) float
        z, metres; 0 where nothing was hit.
    crease : float
        Threshold of the second difference of inverse depth, as a fraction of the inverse depth.

    Returns
    -------
    (H, W) bool
        True where a 4-neighbour has another id, where geometry meets the background (depth 0 next to
        depth > 0: both pixels), and where inverse depth kinks along x or y: over a plane 1/z is an affine
        function of the pixel coordinates, so its second difference vanishes there (up to the depth buffer's
        24-bit steps) and exceeds ``crease`` x 1/z across a depth step or a crease between faces.
    """
    hit = depth > 0
    w = np.zeros(depth.shape, np.float32)
    np.divide(1.0, depth, out=w, where=hit)
    edge = np.zeros(depth.shape, bool)
    dx = (ids[:, 1:] != ids[:, :-1]) | (hit[:, 1:] != hit[:, :-1])
    dy = (ids[1:] != ids[:-1]) | (hit[1:] != hit[:-1])
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:] |= dy
    edge[:-1] |= dy
    edge[:, 1:-1] |= np.abs(w[:, 2:] - 2 * w[:, 1:-1] + w[:, :-2]) > crease * w[:, 1:-1]
    edge[1:-1] |= np.abs(w[2:] - 2 * w[1:-1] + w[:-2]) > crease * w[1:-1]
    return edge


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(k, 3) bilinear samples of ``img`` (H, W, 3) float32 at pixel coordinates (x, y) (k,) (pixel centres at
    integers, clamped to the image)."""
    H, W = img.shape[:2]
    x = np.clip(x, 0, W - 1)
    y = np.clip(y, 0, H - 1)
    x0 = np.minimum(x.astype(np.int64), W - 2)
    y0 = np.minimum(y.astype(np.int64), H - 2)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    flat, i = img.reshape(-1, img.shape[2]), y0 * W + x0
    top = flat[i] * (1 - fx) + flat[i + 1] * fx
    bottom = flat[i + W] * (1 - fx) + flat[i + W + 1] * fx
    return top * (1 - fy) + bottom * fy


def edge_antialias(rgb: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Anti-alias an image at the pixels ``edges`` marks: FXAA's directional blend, nowhere else.

    Parameters
    ----------
    rgb : (H, W, 3) uint8
        Rendered with one sample per pixel (sRGB).
    edges : (H, W) bool
        Pixels to treat (:func:`surface_edges`); every other pixel is returned unchanged, so textures and
        shading away from geometric edges keep their sharpness (as with MSAA, which only resolves coverage).

    Returns
    -------
    (H, W, 3) uint8

    Method: the console variant of FXAA (T. Lottes, "FXAA", NVIDIA white paper, 2009; FXAA 3.11
    ``FxaaPixelShader`` for consoles): luma of the pixel and its four diagonal neighbours; pixels whose luma
    range is below max(1/32, max luma / 16) are left alone; the edge direction is the luma gradient turned by
    90 degrees, scaled so its shorter component is about one pixel and clamped to 8 pixels; the result is the
    mean of 4 bilinear taps along it at -1/2, -1/6, 1/6, 1/2 of that span, or of the inner two when the four-tap
    mean leaves the neighbourhood's luma range.
    """
    H, W = edges.shape
    idx = np.flatnonzero(edges)
    out = np.array(rgb, copy=True)
    if not idx.size or H < 2 or W < 2:
        return out
    img = rgb.astype(np.float32) * np.float32(1.0 / 255.0)
    luma = np.pad(img @ _LUMA, 1, mode="edge")
    y, x = np.divmod(idx, W)
    nw, ne, sw, se, m = luma[y, x], luma[y, x + 2], luma[y + 2, x], luma[y + 2, x + 2], luma[y + 1, x + 1]
    lo = np.minimum(np.minimum(nw, ne), np.minimum(np.minimum(sw, se), m))
    hi = np.maximum(np.maximum(nw, ne), np.maximum(np.maximum(sw, se), m))
    keep = hi - lo >= np.maximum(_FXAA_RANGE_MIN, hi * _FXAA_RANGE)
    idx, x, y, nw, ne, sw, se, lo, hi = (a[keep] for a in (idx, x, y, nw, ne, sw, se, lo, hi))
    if not idx.size:
        return out
    dx, dy = -((nw + ne) - (sw + se)), (nw + sw) - (ne + se)
    reduce = np.maximum((nw + ne + sw + se) * (0.25 * _FXAA_REDUCE_MUL), _FXAA_REDUCE_MIN)
    scale = 1.0 / (np.minimum(np.abs(dx), np.abs(dy)) + reduce)
    dx = np.clip(dx * scale, -_FXAA_SPAN_MAX, _FXAA_SPAN_MAX)
    dy = np.clip(dy * scale, -_FXAA_SPAN_MAX, _FXAA_SPAN_MAX)
    xf, yf = x.astype(np.float32), y.astype(np.float32)

    def tap(t):
        return _bilinear(img, xf + dx * np.float32(t), yf + dy * np.float32(t))

    inner = 0.5 * (tap(-1.0 / 6.0) + tap(1.0 / 6.0))
    outer = 0.5 * inner + 0.25 * (tap(-0.5) + tap(0.5))
    lum = outer @ _LUMA
    res = np.where(((lum < lo) | (lum > hi))[:, None], inner, outer)
    out.reshape(-1, 3)[idx] = np.clip(np.rint(res * 255.0), 0, 255).astype(np.uint8)
    return out
