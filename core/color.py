"""Colour encodings: the sRGB transfer function (IEC 61966-2-1), which every stage that converts between
sRGB values and linear light uses (materials for pyrender, the image-effects stage).

Source: IEC 61966-2-1:1999, "Default RGB colour space - sRGB", the piecewise transfer function with the
linear segment below 0.04045 (encoded) / 0.0031308 (linear).
"""

from __future__ import annotations

import numpy as np


def srgb_to_linear(c) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear intensities in [0, 1] (IEC 61966-2-1).

    Parameters
    ----------
    c : array_like, any shape, float
        Encoded values (e.g. a colour (..., 3) or code values / 255).

    Returns
    -------
    linear : float64 array of ``c``'s shape
    """
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb8(x) -> np.ndarray:
    """Linear intensities (clipped to [0, 1]) -> uint8 sRGB codes, rounded to the nearest (IEC 61966-2-1).

    Computed in float32. ``linear_to_srgb8(SRGB8_TO_LINEAR[c]) == c`` for every code c (tests/core/test_color.py).

    Parameters
    ----------
    x : array_like, any shape, float

    Returns
    -------
    codes : uint8 array of ``x``'s shape
    """
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    s = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, np.float32(1 / 2.4)) - 0.055)
    return np.clip(np.round(s * 255.0), 0, 255).astype(np.uint8)


#: (256,) float32: sRGB code value 0..255 -> linear intensity in [0, 1] (:func:`srgb_to_linear` of code / 255).
SRGB8_TO_LINEAR = srgb_to_linear(np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)
SRGB8_TO_LINEAR.flags.writeable = False


def srgb8_to_linear(rgb) -> np.ndarray:
    """uint8 sRGB codes (any shape) -> float32 linear intensities in [0, 1], by the table :data:`SRGB8_TO_LINEAR`."""
    return SRGB8_TO_LINEAR[np.asarray(rgb, dtype=np.uint8)]
