"""compare/image_stats.py: each statistic recovers a known property of a synthetic image.

Oracles: exact values of flat and two-level images; published CIELAB coordinates of sRGB primaries; Gaussian
noise of a known sigma; 1/f^alpha noise generated with a known exponent; JPEG files saved by PIL and OpenCV at
known qualities; the Laplacian of an impulse worked by hand; the perimeter of a square.
"""

import io
import math

import cv2
import numpy as np
import pytest
from PIL import Image

from gtforge.compare import image_stats as S
from gtforge.compare.imagesets import CompareInputError, load_image_set


def grey_rgb(grey: np.ndarray) -> np.ndarray:
    """(H, W) values -> (H, W, 3) uint8 with equal channels (so the luma equals the value)."""
    g = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


def power_law_noise(alpha: float, shape=(240, 320), seed=0) -> np.ndarray:
    """A periodic random image whose power spectrum is proportional to 1/f^alpha (mean 128, std 30)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    f = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    f[0, 0] = 1.0
    spec = (rng.normal(size=shape) + 1j * rng.normal(size=shape)) * f ** (-alpha / 2.0)
    spec[0, 0] = 0.0
    img = np.real(np.fft.ifft2(spec))
    return grey_rgb((img - img.mean()) / img.std() * 30.0 + 128.0)


def test_brightness_contrast_saturation_of_known_images():
    half = np.zeros((10, 20, 3), np.uint8)
    half[:, 10:] = 255
    assert S.brightness(half) == pytest.approx(0.5) and S.contrast(half) == pytest.approx(0.5)
    assert S.saturation(half) == 0.0
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    assert S.brightness(red) == pytest.approx(0.299) and S.contrast(red) == 0.0 and S.saturation(red) == 1.0
    muted = np.full((4, 4, 3), (200, 100, 100), np.uint8)
    assert S.saturation(muted) == pytest.approx(0.5)


def test_lab_means_of_srgb_primaries():
    # CIELAB (D65) of sRGB red, green and blue: Lindbloom's tables / the sRGB standard's primaries.
    expected = {(255, 0, 0): (53.24, 80.09, 67.20), (0, 255, 0): (87.73, -86.18, 83.18),
                (0, 0, 255): (32.30, 79.19, -107.86)}
    for rgb, lab in expected.items():
        got = S.lab_mean(np.full((6, 6, 3), rgb, np.uint8))
        assert np.allclose(got, lab, atol=0.05), (rgb, got)


@pytest.mark.parametrize("sigma", [2.0, 5.0, 10.0])
def test_noise_sigma_recovers_gaussian_noise(sigma):
    rng = np.random.default_rng(1)
    ramp = 128.0 + np.linspace(-50, 50, 320)[None, :] + np.linspace(-20, 20, 240)[:, None]  # a plane: no trace
    img = grey_rgb(ramp + rng.normal(0.0, sigma, (240, 320)))
    # rounding to integers adds variance 1/12
    assert S.noise_sigma(img) == pytest.approx(math.sqrt(sigma ** 2 + 1 / 12), rel=0.05)
    assert S.noise_sigma(grey_rgb(ramp)) < 0.35


@pytest.mark.parametrize("alpha", [1.0, 2.0, 3.0])
def test_spectral_slope_recovers_the_power_law(alpha):
    slopes = [S.spectral_slope(power_law_noise(alpha, seed=s)) for s in range(2)]
    assert np.allclose(slopes, -alpha, atol=0.15), slopes
    assert math.isnan(S.spectral_slope(np.full((32, 32, 3), 90, np.uint8)))


@pytest.mark.parametrize("quality", [20, 50, 75, 90, 95])
def test_jpeg_quality_of_files_saved_by_pil(tmp_path, quality):
    path = tmp_path / "a.jpg"
    Image.fromarray(power_law_noise(2.0, (64, 64))).save(path, quality=quality)
    assert S.jpeg_quality(path) == quality


def test_jpeg_quality_of_opencv_files_and_of_non_jpegs(tmp_path):
    ok, buf = cv2.imencode(".jpg", power_law_noise(2.0, (64, 64)), [cv2.IMWRITE_JPEG_QUALITY, 83])
    assert ok and S.jpeg_quality(io.BytesIO(buf.tobytes())) == 83
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    assert S.jpeg_quality(tmp_path / "a.png") is None
    assert S.ijg_table(50).tolist() == S.IJG_LUMA.tolist() and S.ijg_table(100).max() == 1


def test_sharpness_is_the_laplacian_variance_of_an_impulse():
    # 4-neighbour Laplacian of an impulse h: -4h at the pixel, h at its 4 neighbours, 0 elsewhere (sum 0).
    h, n = 100, 50 * 50
    img = np.zeros((50, 50), np.float64)
    img[20, 30] = h
    assert S.sharpness(grey_rgb(img)) == pytest.approx((16 * h * h + 4 * h * h) / n)
    smooth = power_law_noise(3.0)
    assert S.sharpness(grey_rgb(cv2.GaussianBlur(smooth[..., 0].astype(float), (0, 0), 2))) < S.sharpness(smooth)


def test_edge_density_of_a_square_is_its_perimeter():
    img = np.zeros((100, 100), np.float64)
    img[30:70, 30:70] = 200
    assert S.edge_density(grey_rgb(img)) == pytest.approx(4 * 40 / 100 ** 2, rel=0.2)
    assert S.edge_density(grey_rgb(np.full((50, 50), 128.0))) == 0.0


def test_image_statistics_of_a_folder(tmp_path):
    for i in range(3):
        Image.fromarray(power_law_noise(2.0, (48, 64), seed=i)).save(tmp_path / f"{i}.jpg", quality=80)
    Image.fromarray(power_law_noise(2.0, (48, 64), seed=9)).save(tmp_path / "p.png")
    Image.fromarray(power_law_noise(2.0, (24, 32), seed=9)).save(tmp_path / "small.png")
    s = load_image_set(tmp_path)
    st = S.image_statistics(s)
    assert set(st) == {"brightness", "contrast", "saturation", "lab_l", "lab_a", "lab_b", "sharpness", "noise_sigma",
                       "spectral_slope", "edge_density", "jpeg_quality", "file_format"}
    assert all(v.group == "image" and v.n == 5 for k, v in st.items() if k != "jpeg_quality")
    assert st["jpeg_quality"].values.tolist() == [80.0, 80.0, 80.0]
    assert sorted(st["file_format"].values.tolist()) == ["JPEG"] * 3 + ["PNG"] * 2
    assert st["brightness"].histogram.sum() == pytest.approx(1.0) and len(st["brightness"].bin_edges) == 33
    assert st["saturation"].values.max() == 0.0  # grey images
    assert "64x48" in st["sharpness"].description
    two = S.image_statistics(s, max_images=2, seed=5)["brightness"].values
    assert len(two) == 2 and set(two.tolist()) <= set(st["brightness"].values.tolist())
    assert S.image_statistics(s, size=(32, 24))["sharpness"].description.endswith("32x24.")


def test_image_statistics_name_an_image_that_cannot_be_decoded(tmp_path):
    Image.fromarray(power_law_noise(2.0, (64, 64))).save(tmp_path / "a.jpg")
    data = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "a.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(CompareInputError, match=r"a\.jpg: not a readable image"):
        S.image_statistics(load_image_set(tmp_path))
