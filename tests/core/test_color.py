"""core/color.py: the sRGB transfer function of IEC 61966-2-1, both directions, float and 8-bit."""

import numpy as np

from gtforge.core.color import SRGB8_TO_LINEAR, linear_to_srgb8, srgb8_to_linear, srgb_to_linear


def test_srgb_to_linear_is_the_iec_transfer_function():
    c = np.array([0.0, 0.04045, 0.5, 0.8, 1.0])
    expected = [0.0, 0.04045 / 12.92, ((0.5 + 0.055) / 1.055) ** 2.4, ((0.8 + 0.055) / 1.055) ** 2.4, 1.0]
    assert np.allclose(srgb_to_linear(c), expected, rtol=1e-12)
    assert np.isclose(srgb_to_linear(0.5), 0.214041, atol=1e-6)  # IEC 61966-2-1 table value
    assert np.isclose(srgb_to_linear(0.04045), 0.0031308, atol=1e-7)  # both branches meet at the threshold
    x = np.linspace(0.0, 1.0, 1001)
    assert (np.diff(srgb_to_linear(x)) > 0).all()


def test_every_8_bit_code_survives_the_round_trip():
    codes = np.arange(256, dtype=np.uint8)
    assert SRGB8_TO_LINEAR.dtype == np.float32 and SRGB8_TO_LINEAR[0] == 0.0 and SRGB8_TO_LINEAR[255] == 1.0
    assert np.array_equal(linear_to_srgb8(srgb8_to_linear(codes)), codes)
    assert np.array_equal(srgb8_to_linear(codes.reshape(16, 16)), SRGB8_TO_LINEAR.reshape(16, 16))


def test_linear_to_srgb8_rounds_to_the_nearest_code_and_clips():
    x = np.array([-0.5, 0.0, 0.0031308, ((0.8 + 0.055) / 1.055) ** 2.4, 1.0, 7.0])
    expected = np.array([0, 0, 10, 204, 255, 255], np.uint8)  # 0.04045 * 255 = 10.3, 0.8 * 255 = 204
    assert np.array_equal(linear_to_srgb8(x), expected)
