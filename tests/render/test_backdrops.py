"""Backdrops (render/backdrops.py): the sky's colour follows the elevation of each pixel's ray, computed here
from the camera's geometry; a photo is cropped, scaled to cover and centre-cropped; bad input is refused. Pure
numpy: no GL in the fast loop. (That the renderer shows them only where nothing is hit:
test_appearance.py::test_backdrops_fill_only_empty_pixels.)"""

import math

import numpy as np
import pytest
from conftest import gl_modules_imported_by
from PIL import Image

from gtforge.core.description import Backdrop, Texture, View
from gtforge.core.geometry import intrinsics_matrix, look_at_opencv
from gtforge.render.backdrops import backdrop_pixels, photo_backdrop, sky_colors, sky_image

W, H = 64, 48
K = intrinsics_matrix(60.0, 62.0, 31.5, 20.0)
HORIZON, ZENITH = np.array([0.9, 0.85, 0.7]), np.array([0.2, 0.4, 0.9])


def test_importing_backdrops_loads_no_gl():
    assert gl_modules_imported_by("gtforge.render.backdrops") == []


def test_sky_blends_by_the_elevation_of_each_pixel_ray():
    level = look_at_opencv((0.0, 0.0, 1.0), (0.0, 5.0, 1.0))  # looking along +y, the horizon through row cy
    sky = sky_image(HORIZON, ZENITH, K, level, W, H)
    assert sky.shape == (H, W, 3) and sky.dtype == np.float32
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    x, y = (u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1]  # the ray (x, y, 1) in the camera; up is -y
    sin_elev = -y / np.sqrt(1.0 + x * x + y * y)
    t = np.sqrt(np.clip(sin_elev, 0.0, 1.0))[..., None]
    assert np.allclose(sky, (1 - t) * HORIZON + t * ZENITH, atol=1e-6)
    assert np.allclose(sky[int(K[1, 2]):], HORIZON, atol=1e-6)  # at and below the horizon: the horizon colour
    up = look_at_opencv((0.0, 0.0, 1.0), (0.0, 0.0, 3.0), up=(0.0, 1.0, 0.0))  # looking straight up
    centre = sky_image(HORIZON, ZENITH, intrinsics_matrix(60.0, 60.0, 2.0, 2.0), up, 5, 5)[2, 2]
    assert np.allclose(centre, ZENITH, atol=1e-6)
    tilted = look_at_opencv((0.0, 0.0, 0.0), (0.0, math.cos(0.5), math.sin(0.5)))  # 0.5 rad up, centre ray
    c = sky_image(HORIZON, ZENITH, intrinsics_matrix(60.0, 60.0, 2.0, 2.0), tilted, 5, 5)[2, 2]
    t = math.sqrt(math.sin(0.5))
    assert np.allclose(c, (1 - t) * HORIZON + t * ZENITH, atol=1e-6)


def test_sky_colors_of_any_pixels_equal_the_whole_image():
    """The renderer asks for the uncovered pixels only; each must get the whole image's value, bit for bit."""
    pose = look_at_opencv((0.3, -1.0, 0.4), (0.0, 0.0, 0.6))
    sky = sky_image(HORIZON, ZENITH, K, pose, W, H)
    idx = np.random.default_rng(5).choice(W * H, 300, replace=False)
    v, u = np.divmod(idx, W)
    assert np.array_equal(sky_colors(HORIZON, ZENITH, K, pose, u, v), sky[v, u])


def test_photo_is_cropped_scaled_to_cover_and_centre_cropped():
    photo = np.zeros((200, 400, 3), np.uint8)
    for k in range(8):  # eight vertical stripes of 50 px, colour k * 30 in red, 255 - k * 30 in green
        photo[:, 50 * k:50 * (k + 1)] = (30 * k, 255 - 30 * k, 100)
    # window: stripes 2..5 (x 100..300, 200 px) by rows 50..150 (100 px): 2:1; the frame 1:1 keeps its middle
    out = photo_backdrop(photo, (0.25, 0.25, 0.75, 0.75), 40, 40)
    assert out.shape == (40, 40, 3) and out.dtype == np.uint8
    # the 100 x 100 middle of the window (x 150..250) is scaled by 0.4: stripe 3 (x 150..200) -> columns 0..19
    assert np.abs(out[:, 2:18].astype(int) - (90, 165, 100)).max() <= 2
    assert np.abs(out[:, 22:38].astype(int) - (120, 135, 100)).max() <= 2
    assert photo_backdrop(photo, (0.0, 0.0, 1.0, 1.0), 80, 20).shape == (20, 80, 3)
    with pytest.raises(ValueError, match="empty backdrop crop window"):
        photo_backdrop(photo, (0.5, 0.2, 0.5, 0.8), 40, 40)


def test_backdrop_pixels_by_kind(tmp_path):
    view = View(K, W, H, look_at_opencv((0.0, -1.0, 0.3), (0.0, 0.0, 0.25)))
    v, u = np.array([0, 5, 47]), np.array([0, 63, 10])
    plain = backdrop_pixels(Backdrop("color", np.array([0.2, 0.6, 0.4])), view, v, u, {})
    assert plain.shape == (3, 3) and np.allclose(plain, [51.0, 153.0, 102.0], atol=1e-4)
    sky = backdrop_pixels(Backdrop("sky", HORIZON, zenith=ZENITH), view, v, u, {})
    assert np.allclose(sky, sky_image(HORIZON, ZENITH, K, view.world_T_cam, W, H)[v, u] * 255.0)
    flat = backdrop_pixels(Backdrop("sky", HORIZON), view, v, u, {})  # no zenith: the horizon colour everywhere
    assert np.allclose(flat, HORIZON * 255.0, atol=1e-3)
    photo = np.random.default_rng(6).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "p.png")
    backdrop = Backdrop("photo", np.zeros(3), photo=Texture(str(tmp_path / "p.png"), "test"),
                        crop=np.array([0.1, 0.0, 0.9, 1.0]))
    cache = {}
    got = backdrop_pixels(backdrop, view, v, u, cache)
    assert len(cache) == 1  # scaled once per (photo, crop, size)
    assert np.array_equal(got, photo_backdrop(photo, backdrop.crop, W, H)[v, u].astype(np.float32))
    (tmp_path / "p.png").unlink()
    assert np.array_equal(backdrop_pixels(backdrop, view, v, u, cache), got)  # from the cache
    with pytest.raises(ValueError, match="without a photo"):
        backdrop_pixels(Backdrop("photo", np.zeros(3)), view, v, u, {})
    with pytest.raises(ValueError, match="unknown backdrop kind"):
        backdrop_pixels(Backdrop("fog", np.zeros(3)), view, v, u, {})
