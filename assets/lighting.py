"""Light colours and lights from environment images.

* :func:`kelvin_to_rgb`: the colour of a black body (the Planckian locus) at a colour temperature,
  as linear sRGB with its largest channel 1. Chromaticity from the cubic spline of Kang, Moon, Hong,
  Lee, Cho and Kim, "Design of advanced color temperature control system for HDTV applications",
  Journal of the Korean Physical Society 41(6), 865-871, 2002 (valid 1667 K to 25000 K); xyY -> XYZ
  with Y = 1; XYZ -> linear sRGB with the matrix of IEC 61966-2-1:1999 (sRGB, D65 white).
* :func:`lights_from_equirect`: directional lights and an ambient colour that summarise an
  equirectangular environment image (its brightest regions, then the rest).

Equirectangular convention (world frame, +z up): pixel column u has azimuth
phi = 2 pi (u + 0.5) / W, measured from +x towards +y; row v has elevation
theta = pi / 2 - pi (v + 0.5) / H (the top row looks at the zenith). The direction towards a pixel is
(cos theta cos phi, cos theta sin phi, sin theta); a pixel covers a solid angle proportional to
cos theta.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter, label

#: Valid range of :func:`kelvin_to_rgb`, kelvin (Kang et al. 2002).
KELVIN_RANGE = (1667.0, 25000.0)
#: CIE XYZ -> linear sRGB (IEC 61966-2-1:1999, the inverse of its RGB -> XYZ matrix, 4 decimals).
XYZ_TO_LINEAR_SRGB = np.array([[3.2406, -1.5372, -0.4986],
                               [-0.9689, 1.8758, 0.0415],
                               [0.0557, -0.2040, 1.0570]])
#: Relative luminance of linear sRGB (ITU-R BT.709 primaries, the Y row of IEC 61966-2-1).
LUMINANCE = np.array([0.2126, 0.7152, 0.0722])


def kelvin_to_xy(kelvin: float) -> tuple[float, float]:
    """CIE 1931 (x, y) chromaticity of a black body at ``kelvin`` (Kang et al. 2002 cubic spline).

    Raises
    ------
    ValueError
        Outside 1667 K to 25000 K, where the approximation is not defined.
    """
    t = float(kelvin)
    if not KELVIN_RANGE[0] <= t <= KELVIN_RANGE[1]:
        raise ValueError(f"colour temperature {kelvin} K outside the valid range "
                         f"{KELVIN_RANGE[0]:.0f}..{KELVIN_RANGE[1]:.0f} K (Kang et al. 2002)")
    if t <= 4000.0:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222.0:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000.0:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    return x, y


def kelvin_to_rgb(kelvin: float) -> np.ndarray:
    """Linear sRGB colour of a black-body light at a colour temperature (module docstring for sources).

    Parameters
    ----------
    kelvin : float
        Correlated colour temperature, K, in [1667, 25000] (candle ~1900, tungsten ~2700, daylight
        ~6500, blue sky ~10000+).

    Returns
    -------
    rgb : (3,) float64
        Linear sRGB (the renderer's light colour), negatives clipped to 0, scaled so that the largest
        channel is 1.

    Raises
    ------
    ValueError
        Outside [1667, 25000] K.
    """
    x, y = kelvin_to_xy(kelvin)
    xyz = np.array([x / y, 1.0, (1.0 - x - y) / y])
    rgb = np.clip(XYZ_TO_LINEAR_SRGB @ xyz, 0.0, None)
    return rgb / rgb.max()


def equirect_directions(height: int, width: int) -> np.ndarray:
    """(H, W, 3) float64 unit directions (world frame) towards the pixel centres of an equirectangular image
    (module docstring for the convention)."""
    phi = 2.0 * np.pi * (np.arange(width) + 0.5) / width
    theta = np.pi / 2.0 - np.pi * (np.arange(height) + 0.5) / height
    ct = np.cos(theta)[:, None]
    return np.stack([ct * np.cos(phi)[None, :], ct * np.sin(phi)[None, :],
                     np.broadcast_to(np.sin(theta)[:, None], (height, width))], axis=-1)


def _label_on_sphere(mask: np.ndarray) -> np.ndarray:
    """Connected components (8-connected) of an equirectangular mask, joined across the azimuth seam
    (column 0 touches column W - 1) and around each pole (the top row is one neighbourhood, so is the
    bottom row). (H, W) int labels, 0 = background."""
    labels, count = label(mask, structure=np.ones((3, 3), dtype=int))
    if count == 0:
        return labels
    parent = np.arange(count + 1)

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a, b):
        if a and b:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)

    left, right = labels[:, 0], labels[:, -1]
    for dv in (-1, 0, 1):  # 8-connectivity across the seam
        shifted = np.roll(right, dv)
        valid = np.ones(len(left), dtype=bool)
        if dv == 1:
            valid[0] = False
        elif dv == -1:
            valid[-1] = False
        for a, b in zip(left[valid], shifted[valid]):
            union(int(a), int(b))
    for row in (labels[0], labels[-1]):
        present = np.unique(row[row > 0])
        for b in present[1:]:
            union(int(present[0]), int(b))
    roots = np.array([find(i) for i in range(count + 1)])
    return roots[labels]


def lights_from_equirect(image: np.ndarray, n_lights: int, threshold: float = 0.05, min_separation_deg: float = 15.0,
                         blur_deg: float = 1.5):
    """Directional lights and an ambient colour summarising an equirectangular environment image.

    Method (in the spirit of light-source extraction from environment maps, e.g. Debevec's "median cut",
    2005, but by non-maximum suppression): the luminance (BT.709 weights) is blurred with a Gaussian of
    ``blur_deg`` (wrapping in azimuth); the background level b is its solid-angle-weighted median. Then,
    ``n_lights`` times: the brightest pixel p not yet suppressed is found; the light's region is the
    connected bright blob around it (blurred luminance > b + ``threshold`` (p - b), connected on the
    sphere: across the azimuth seam and the poles, and not already in a region; empty when p <= b, so a
    uniform image is all ambient); the pixels of the region
    and those within ``min_separation_deg`` of p are suppressed. Images wider than 1024 pixels are first
    reduced by area averaging.

    Parameters
    ----------
    image : (H, W, 3) uint8, or float (linear, may exceed 1: HDR)
        Equirectangular environment (module docstring for the convention). uint8 is divided by 255.
    n_lights : int
        Number of lights, >= 0.
    threshold : float
        Fraction of the way from the background level to the peak that bounds a light's region, in (0, 1).
    min_separation_deg : float
        Non-maximum suppression window around each peak, degrees.
    blur_deg : float
        Standard deviation of the Gaussian blur used to find peaks and regions, degrees (of elevation).

    Returns
    -------
    lights : list of (direction (3,) float64, color (3,) float64, weight float)
        Brightest region first; ``n_lights`` entries, or fewer if every pixel got suppressed.
        ``direction``: unit vector, world frame, the direction the light SHINES (from the region
        towards the scene: minus the excess-luminance-weighted mean direction of the region).
        ``color``: the solid-angle-weighted mean colour of the region, scaled so that its largest
        channel is 1 (an empty region: the peak pixel's colour; black: (1, 1, 1)). ``weight``: the
        region's share of the image's total solid-angle-weighted luminance (0 for an empty region;
        weights and the ambient's share add up to 1).
    ambient : (3,) float64
        Solid-angle-weighted (cos elevation) mean colour of the pixels outside every light region, in the
        image's units ([0, 1] for uint8 images); zeros when every pixel is in a region.

    Raises
    ------
    ValueError
        For a wrong shape, an empty image, non-finite or negative values, or a negative ``n_lights``.
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 2 or img.shape[1] < 2:
        raise ValueError(f"expected an (H, W, 3) equirectangular image, got shape {img.shape}")
    if int(n_lights) < 0:
        raise ValueError(f"n_lights must be >= 0, got {n_lights}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    rgb = img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
    if not np.all(np.isfinite(rgb)) or rgb.min() < 0:
        raise ValueError("the environment image must hold finite, non-negative values")
    if rgb.shape[1] > 1024:  # area averaging keeps the mean radiance of every region
        h = max(2, round(rgb.shape[0] * 1024 / rgb.shape[1]))
        rgb = cv2.resize(rgb, (1024, h), interpolation=cv2.INTER_AREA)
    H, W = rgb.shape[:2]
    dirs = equirect_directions(H, W)
    solid = np.broadcast_to(np.cos(np.pi / 2.0 - np.pi * (np.arange(H) + 0.5) / H)[:, None], (H, W))
    lum = rgb @ LUMINANCE
    sigma = blur_deg / 180.0 * H
    blurred = gaussian_filter(lum, sigma=(sigma, sigma), mode=("nearest", "wrap")) if sigma > 0.05 else lum
    order = np.argsort(blurred, axis=None)
    cum = np.cumsum(solid.ravel()[order])
    background = float(blurred.ravel()[order][np.searchsorted(cum, 0.5 * cum[-1])])
    total = float((lum * solid).sum())
    cos_sep = np.cos(np.radians(min_separation_deg))

    free = np.ones((H, W), dtype=bool)  # not yet suppressed
    in_light = np.zeros((H, W), dtype=bool)
    lights = []
    for _ in range(int(n_lights)):
        if not free.any():
            break
        masked = np.where(free, blurred, -np.inf)
        pv, pu = np.unravel_index(int(np.argmax(masked)), masked.shape)
        peak = float(blurred[pv, pu])
        level = background + threshold * (peak - background)
        region = np.zeros_like(free)  # stays empty when nothing brighter than the background is left
        if peak > background:
            labels = _label_on_sphere((blurred > level) & ~in_light)
            if labels[pv, pu]:  # peak > level (threshold < 1) and the peak is in no region yet
                region = labels == labels[pv, pu]
        w = solid * region
        excess = np.clip(lum - level, 0.0, None) * w
        if excess.sum() > 0:
            toward = (dirs * excess[..., None]).sum(axis=(0, 1))
        else:
            toward = dirs[pv, pu].copy()
        norm = np.linalg.norm(toward)
        toward = toward / norm if norm > 1e-12 else dirs[pv, pu].copy()
        colour = (rgb * w[..., None]).sum(axis=(0, 1)) if region.any() else rgb[pv, pu].copy()
        colour = colour / colour.max() if colour.max() > 0 else np.ones(3)
        weight = float((lum * w).sum() / total) if total > 0 else 0.0
        lights.append((-toward, colour, weight))
        in_light |= region
        free &= ~region & ~(dirs @ dirs[pv, pu] >= cos_sep)
    rest = solid * ~in_light
    ambient = (rgb * rest[..., None]).sum(axis=(0, 1)) / rest.sum() if rest.sum() > 0 else np.zeros(3)
    return lights, ambient
