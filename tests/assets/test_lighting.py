"""assets/lighting.py: black-body light colours and lights from equirectangular environment images."""

import numpy as np
import pytest

from gtforge.assets.lighting import equirect_directions, kelvin_to_rgb, kelvin_to_xy, lights_from_equirect


# --------------------------------------------------------------------------- kelvin
def test_kelvin_matches_published_chromaticities():
    # CIE illuminant A is a 2856 K black body: xy = (0.44757, 0.40745) (CIE 15:2004, table T.3);
    # the Planckian locus at 6500 K: (0.3135, 0.3236) (Wyszecki & Stiles, table 1(3.11)).
    assert np.allclose(kelvin_to_xy(2856), (0.44757, 0.40745), atol=1e-3)
    assert np.allclose(kelvin_to_xy(6500), (0.3135, 0.3236), atol=1e-3)


def test_kelvin_colours():
    white = kelvin_to_rgb(6500)
    assert white.shape == (3,) and white.dtype == np.float64 and white.max() == 1.0
    assert np.all(white > 0.9)
    warm = kelvin_to_rgb(2700)
    assert warm[0] > warm[1] > warm[2]
    cool = kelvin_to_rgb(10000)
    assert cool[2] > cool[0]
    temps = np.linspace(1667, 25000, 60)
    rgbs = np.array([kelvin_to_rgb(t) for t in temps])
    assert np.all(rgbs >= 0) and np.allclose(rgbs.max(axis=1), 1.0)
    assert np.all(np.diff(rgbs[:, 2] / rgbs[:, 0]) > 0), "blue/red grows with temperature"
    low = temps < 6000
    assert np.all(np.diff(rgbs[low, 1]) > 0) and np.all(np.diff(rgbs[low, 2]) >= 0)


@pytest.mark.parametrize("kelvin", [1000, 1666, 25001, 40000])
def test_kelvin_outside_range(kelvin):
    with pytest.raises(ValueError, match="1667"):
        kelvin_to_rgb(kelvin)


# --------------------------------------------------------------------------- equirect
def _direction(az_deg, el_deg):
    az, el = np.radians(az_deg), np.radians(el_deg)
    return np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])


def _spotted_sky(h, w, background, spots, sigma_deg=4.0):
    """Background colour plus Gaussian spots (in angle on the sphere) at (azimuth, elevation) degrees."""
    d = equirect_directions(h, w)
    img = np.broadcast_to(np.asarray(background, float), (h, w, 3)).copy()
    for az, el, colour in spots:
        ang = np.arccos(np.clip(d @ _direction(az, el), -1, 1))
        img += np.exp(-ang**2 / (2 * np.radians(sigma_deg) ** 2))[..., None] * np.asarray(colour, float)
    return img


def _angle_deg(a, b):
    return np.degrees(np.arccos(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


def test_equirect_convention():
    d = equirect_directions(4, 8)
    assert np.allclose(np.linalg.norm(d, axis=-1), 1)
    assert d[0, 0, 2] > 0.9 and d[-1, 0, 2] < -0.9  # top row: zenith
    assert np.allclose(d[2, 0], _direction(360 * 0.5 / 8, 90 - 180 * 2.5 / 4))
    assert np.allclose(d[1, 2], _direction(360 * 2.5 / 8, 90 - 180 * 1.5 / 4))


def test_lights_from_synthetic_sky():
    background = [0.2, 0.22, 0.25]
    # the second spot straddles the azimuth seam (column 0 / W - 1)
    spots = [(60.0, 40.0, [5.0, 4.5, 4.0]), (359.5, 10.0, [2.5, 1.25, 0.6])]
    img = _spotted_sky(128, 256, background, spots)
    lights, ambient = lights_from_equirect(img, 2)
    assert len(lights) == 2
    for (az, el, _), (direction, colour, _weight) in zip(spots, lights):
        assert np.isclose(np.linalg.norm(direction), 1)
        assert _angle_deg(direction, -_direction(az, el)) < 3.0  # shines from the spot towards the scene
        assert colour.max() == pytest.approx(1.0)
    assert lights[0][2] > lights[1][2] > 0
    assert lights[1][1][0] > lights[1][1][1] > lights[1][1][2]  # the orange spot's colour
    # energy shares: spot energy ~ amplitude * 2 pi sigma^2 over the sphere's 4 pi mean luminance
    lum = np.array([0.2126, 0.7152, 0.0722])
    total = 4 * np.pi * (np.dot(background, lum)) + sum(2 * np.pi * np.radians(4.0) ** 2 * np.dot(c, lum)
                                                         for *_, c in spots)
    for (*_, colour), (*_, weight) in zip(spots, lights):
        share = 2 * np.pi * np.radians(4.0) ** 2 * np.dot(colour, lum) / total
        assert share < weight < 1.5 * share  # the whole spot plus the background under its region
    assert np.allclose(ambient, background, rtol=0.05)
    assert lights[0][2] + lights[1][2] < 1


def test_lights_from_uint8_sky_and_degenerate_cases():
    img = np.clip(_spotted_sky(64, 128, [0.3, 0.3, 0.3], [(200.0, -20.0, [3.0, 3.0, 3.0])], 6.0) * 255, 0, 255)
    lights, ambient = lights_from_equirect(img.astype(np.uint8), 1)
    assert _angle_deg(lights[0][0], -_direction(200.0, -20.0)) < 3.0
    assert np.allclose(ambient, 0.3, rtol=0.05)  # uint8 in [0, 1] units
    flat = np.full((32, 64, 3), 0.5)
    lights, ambient = lights_from_equirect(flat, 2)  # nothing stands out: all ambient
    assert all(w == 0 for *_, w in lights) and np.allclose(ambient, 0.5)
    none, ambient = lights_from_equirect(flat, 0)
    assert none == [] and np.allclose(ambient, 0.5)
    with pytest.raises(ValueError):
        lights_from_equirect(np.zeros((8, 16)), 1)
    with pytest.raises(ValueError):
        lights_from_equirect(-flat, 1)
