"""The shared image-effects stage (render/effects.py) and its recipe section (config/effects.py).

Every expected value is computed here from the model's own formula (Poisson-Gaussian variance a x + b, the
thin-lens circle of confusion, f v t / z for a sideways translation, cos^4 of the field angle, r (1 + s) for
lateral chromatic aberration, per-channel gains), never from a second output of the stage. Images are compared
in linear light: the 8-bit output decoded with the sRGB transfer function, as any reader of the file would.
No rendering (no ``gl`` marker); 320x240.
"""

import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from gtforge.config.effects import EffectsConfig
from gtforge.core.rng import scene_rng
from gtforge.render.effects import (ChromaticAberrationParams, DefocusParams, EffectsParams, MotionBlurParams,
                                    NoiseParams, apply_effects, linear_motion_blur, point_depth, sample_effects,
                                    visible_object_depths)

W, H = 320, 240
FX = 300.0
K = np.array([[FX, 0.0, 159.0], [0.0, FX, 119.0], [0.0, 0.0, 1.0]])  # principal point on a pixel centre
ALL = ("noise", "defocus", "motion_blur", "vignetting", "chromatic_aberration", "white_balance", "exposure", "jpeg")


def to_linear(rgb):
    """Independent sRGB decoding (IEC 61966-2-1) of uint8 codes, float64."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def to_code(linear):
    """sRGB code (uint8) of a linear value, rounded."""
    x = np.asarray(linear, dtype=np.float64)
    s = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
    return np.round(s * 255).astype(np.uint8)


def everything_on():
    return EffectsConfig.model_validate({k: {"probability": 1.0} for k in ALL})


def test_identity_params_leave_the_image_bit_identical():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    depth = rng.uniform(0.3, 3.0, (H, W)).astype(np.float32)
    params = sample_effects(EffectsConfig(), scene_rng(7, 0, "views", 0))  # the default recipe: everything off
    assert params.is_identity and params.jpeg_quality is None and params == EffectsParams(seed=params.seed)
    out = apply_effects(rgb, depth, K, params)
    assert out is not rgb and np.array_equal(out, rgb)
    # effects drawn with zero strength also give the same bytes: the sRGB round trip is exact for every code
    zero = EffectsParams(seed=1, chromatic_aberration=ChromaticAberrationParams(0.0, 0.0), vignetting=0.0,
                         exposure_ev=0.0, white_balance=(1.0, 1.0, 1.0))
    assert np.array_equal(apply_effects(rgb, depth, K, zero), rgb)


def test_same_params_same_bytes_and_depth_is_never_touched():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    depth = np.full((H, W), 1.5, np.float32)
    depth[60:180, 100:220] = 0.6
    depth[:30] = 0.0  # no surface
    depth_before = depth.copy()
    depth.setflags(write=False)  # any write into it raises
    params = sample_effects(everything_on(), scene_rng(3, 2, "views", 5), look_at_depth=0.6)
    assert not params.is_identity and params.motion_blur and params.defocus and params.noise
    out1 = apply_effects(rgb, depth, K, params)
    out2 = apply_effects(rgb, depth, K, EffectsParams.from_json(json.loads(json.dumps(params.to_json()))))
    assert out1.shape == (H, W, 3) and out1.dtype == np.uint8
    assert np.array_equal(out1, out2)  # same params (through JSON) -> same bytes
    assert np.array_equal(depth, depth_before)
    assert not np.array_equal(out1, rgb)
    with pytest.raises(ValueError, match="rgb must be"):
        apply_effects(rgb[..., :2], depth, K, params)
    with pytest.raises(ValueError, match="depth must be"):
        apply_effects(rgb, depth[:10], K, params)


def test_sampling_is_deterministic_and_each_effect_draws_alone():
    cfg = everything_on()
    a = sample_effects(cfg, scene_rng(11, 4, "views", 2))
    assert a == sample_effects(cfg, scene_rng(11, 4, "views", 2))
    assert a != sample_effects(cfg, scene_rng(11, 4, "views", 3))
    # turning one effect off, or changing its ranges, leaves every other drawn value as it was
    b = sample_effects(cfg.model_copy(update={"defocus": cfg.defocus.model_copy(update={"probability": 0.0})}),
                       scene_rng(11, 4, "views", 2))
    assert b.defocus is None and b.noise == a.noise and b.motion_blur == a.motion_blur and b.seed == a.seed
    assert 75 <= a.jpeg_quality <= 95 and a.white_balance[1] == 1.0
    # probabilities: about half the frames get an effect drawn with probability 0.5
    half = EffectsConfig.model_validate({"vignetting": {"probability": 0.5}})
    share = np.mean([sample_effects(half, scene_rng(0, 0, "views", i)).vignetting is not None for i in range(400)])
    assert 0.42 < share < 0.58


def test_focus_targets():
    cfg = EffectsConfig.model_validate({"defocus": {"probability": 1.0, "focus": "look_at",
                                                    "focus_distance": {"min": 3.0, "max": 3.0}}})
    world_T_cam = np.eye(4)
    world_T_cam[:3, 3] = [0.0, 0.0, -2.0]  # camera 2 m behind the origin, looking along +z
    assert point_depth(world_T_cam, [0.1, 0.2, 0.0]) == pytest.approx(2.0)
    p = sample_effects(cfg, np.random.default_rng(0), look_at_depth=point_depth(world_T_cam, [0, 0, 0]))
    assert p.defocus.focus_distance == pytest.approx(2.0) and p.defocus.focus_source == "look_at"
    p = sample_effects(cfg, np.random.default_rng(0), look_at_depth=-1.0)  # behind the camera: the range
    assert p.defocus.focus_distance == 3.0 and p.defocus.focus_source == "distance"
    ids = np.zeros((H, W), np.int32)
    depth = np.zeros((H, W), np.float32)
    ids[10:40, 10:40], depth[10:40, 10:40] = 3, 0.8
    ids[100:120, 100:120], depth[100:120, 100:120] = 5, 1.7
    ids[200:230, 200:230], depth[200:230, 200:230] = 2**24 - 2, 4.0  # a real AR surface: never a target
    ids[0, 0], depth[0, 0] = 9, 2.5  # too few pixels
    zs = visible_object_depths(ids, depth)
    assert np.allclose(zs, [0.8, 1.7])
    obj = cfg.model_copy(update={"defocus": cfg.defocus.model_copy(update={"focus": "object"})})
    chosen = {sample_effects(obj, np.random.default_rng(i), object_depths=zs).defocus.focus_distance
              for i in range(40)}
    assert sorted(chosen) == pytest.approx([0.8, 1.7])


def test_noise_variance_follows_poisson_gaussian_model():
    """Flat grey ramp: per level, the variance of the decoded output is a x + b (Foi et al. 2008) within 10 %."""
    a, b = 1 / 500.0, 0.01 ** 2
    levels = np.linspace(0.1, 0.75, 16)
    codes = to_code(levels)
    x = to_linear(codes)  # the exact linear level of each band
    rgb = np.repeat(np.repeat(codes[None, :, None], H, axis=0), W // 16, axis=1).repeat(3, axis=2)
    params = EffectsParams(seed=123, noise=NoiseParams(photons_at_white=1 / a, read_noise=math.sqrt(b)))
    lin = to_linear(apply_effects(rgb, np.ones((H, W), np.float32), K, params))
    bands = lin.reshape(H, 16, W // 16, 3).transpose(1, 0, 2, 3).reshape(16, -1)
    mean, var = bands.mean(axis=1), bands.var(axis=1, ddof=1)
    assert np.allclose(mean, x, atol=2e-3)  # unbiased
    expected = a * x + b
    assert np.all(np.abs(var / expected - 1) < 0.10), np.round(var / expected, 3)
    slope, intercept = np.polyfit(x, var, 1)
    assert abs(slope / a - 1) < 0.10 and abs(intercept - b) < 0.3 * b
    # another seed, other noise; the same seed, the same bytes
    depth = np.ones((H, W), np.float32)
    assert not np.array_equal(apply_effects(rgb, depth, K, EffectsParams(seed=124, noise=params.noise)),
                              apply_effects(rgb, depth, K, params))


def _coc_px(z, s, N, sensor_width):
    """Thin-lens circle of confusion in pixels, written out: f = fx p, c = f^2 / (N (s - f)) |z - s| / z / p
    (|z - s| / z = |1 - s / z|, 1 at infinity)."""
    p = sensor_width / W
    f = FX * p
    return f * f / (N * (s - f)) * abs(1 - s / z) / p


def _edge_width(rgb):
    """4 x the standard deviation of the line-spread function across a vertical step edge (row 120, green):
    the diameter of a uniform disc with that spread (its marginal has variance (d / 4)^2)."""
    lin = to_linear(rgb)[120, :, 1]
    lsf = np.abs(np.diff(lin))
    lsf = lsf / lsf.sum()
    xs = np.arange(lsf.size) + 0.5
    mu = (lsf * xs).sum()
    return 4 * math.sqrt((lsf * (xs - mu) ** 2).sum())


@pytest.mark.parametrize("kernel", ["disc", "gaussian"])
def test_defocus_matches_the_thin_lens_circle_of_confusion(kernel):
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:, :160] = 230
    s, N, sw = 0.5, 2.0, 0.036
    params = EffectsParams(defocus=DefocusParams(s, "distance", N, sw, kernel, 64.0, 1.0))
    sharp = apply_effects(rgb, np.full((H, W), s, np.float32), K, params)
    assert np.array_equal(sharp, rgb)  # the edge at the focus distance stays sharp
    for z in (0.3, 1.0, 2.0, 0.0):  # nearer, farther, and no surface (infinity)
        out = apply_effects(rgb, np.full((H, W), z, np.float32), K, params)
        c = _coc_px(z if z > 0 else math.inf, s, N, sw)
        assert c > 4
        assert abs(_edge_width(out) / c - 1) < 0.15, (z, _edge_width(out), c)


def test_defocus_is_occlusion_aware():
    """A sharp (in focus) square in front of a blurred background keeps every pixel; a blurred square in front of a
    sharp background spreads over it."""
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    s, N, sw = 0.5, 2.0, 0.036
    params = EffectsParams(defocus=DefocusParams(s, "distance", N, sw, "disc", 64.0, 1.0))
    depth = np.full((H, W), 2.0, np.float32)
    depth[80:160, 120:200] = s
    out = apply_effects(rgb, depth, K, params)
    assert np.array_equal(out[80:160, 120:200], rgb[80:160, 120:200])  # the far blur never covers it
    assert not np.array_equal(out[:60], rgb[:60])
    depth = np.full((H, W), s, np.float32)
    depth[80:160, 120:200] = 0.3
    out = apply_effects(rgb, depth, K, params)
    r = _coc_px(0.3, s, N, sw) / 2
    ring = (slice(80 - int(r) + 1, 80), slice(130, 190))  # background just above the near square
    assert not np.array_equal(out[ring], rgb[ring])
    assert np.array_equal(out[:80 - int(r) - 2], rgb[:80 - int(r) - 2])  # background beyond its reach: untouched
    # a focus distance within the focal length (no real image) is taken as 1.1 f, not an error mid-build
    close = EffectsParams(defocus=DefocusParams(0.001, "object", N, sw, "disc", 64.0, 1.0))
    assert apply_effects(rgb, depth, K, close).shape == (H, W, 3)


@pytest.mark.parametrize("z,v,t", [(1.0, 0.5, 0.02), (0.5, 1.0, 0.01), (2.0, 0.4, 0.025)])
def test_sideways_camera_motion_blurs_a_point_over_f_v_t_over_z(z, v, t):
    rgb = np.zeros((H, W, 3), np.uint8)
    depth = np.zeros((H, W), np.float32)  # sky at infinity behind
    rgb[118:121, 100] = 255
    depth[118:121, 100] = z  # a point (one pixel wide) at depth z
    params = EffectsParams(motion_blur=MotionBlurParams(t, (v, 0.0, 0.0), (0.0, 0.0, 0.0), 64))
    lin = to_linear(apply_effects(rgb, depth, K, params))[119, :, 0]
    length = FX * v * t / z
    assert abs(lin.sum() / lin.max() - length) < 1.0  # streak length: energy / peak of a uniform streak
    assert abs(lin.sum() - 1.0) < 0.03  # energy kept
    centroid = (lin * np.arange(W)).sum() / lin.sum()
    assert abs(centroid - 100.0) < 0.1  # centred on the rendered pose: labels describe mid-exposure
    # a translation leaves the sky (at infinity) where it was; a pan moves it by about fx w t
    far = np.zeros((H, W, 3), np.uint8)
    far[118:121, 159] = 255
    pan = EffectsParams(motion_blur=MotionBlurParams(t, (v, 0.0, 0.0), (0.0, 1.0, 0.0), 64))
    lin = to_linear(apply_effects(far, np.zeros((H, W), np.float32), K, pan))[119, :, 0]
    assert abs(lin.sum() / lin.max() - FX * 1.0 * t) < 1.0


def test_vignetting_follows_the_cos4_law():
    rgb = np.full((H, W, 3), 200, np.uint8)
    out = to_linear(apply_effects(rgb, np.ones((H, W), np.float32), K, EffectsParams(vignetting=1.0)))
    centre = out[119, 159, 1]
    assert centre == pytest.approx(to_linear(200), abs=1e-9)
    for v, u in ((0, 0), (0, W - 1), (H - 1, 0), (H - 1, W - 1), (119, 0), (0, 159)):
        theta = math.atan(math.hypot((u - 159) / FX, (v - 119) / FX))  # field angle of the pixel's ray
        assert out[v, u, 1] / centre == pytest.approx(math.cos(theta) ** 4, abs=0.01)


def test_lateral_chromatic_aberration_scales_each_channel_radially():
    """A white spot at radius r from the principal point appears at r (1 + s_c) in channel c (within 0.5 px)."""
    yy, xx = np.mgrid[0:H, 0:W]
    cx, cy = K[0, 2], K[1, 2]
    for (px, py) in ((cx + 100.0, cy), (cx - 60.0, cy + 80.0)):
        spot = np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * 1.5 ** 2))
        rgb = np.repeat(to_code(spot)[..., None], 3, axis=2)
        sr, sb = 0.012, -0.009
        out = to_linear(apply_effects(rgb, np.ones((H, W), np.float32), K,
                                      EffectsParams(chromatic_aberration=ChromaticAberrationParams(sr, sb))))
        assert np.array_equal(out[..., 1], to_linear(rgb[..., 1]))  # green is the reference
        for c, s in ((0, sr), (1, 0.0), (2, sb)):
            m = out[..., c]
            centroid = np.array([(m * xx).sum(), (m * yy).sum()]) / m.sum()
            expected = np.array([cx, cy]) + (1 + s) * (np.array([px, py]) - [cx, cy])
            assert np.linalg.norm(centroid - expected) < 0.5, (c, centroid, expected)


def test_white_balance_and_exposure_gains_act_per_channel():
    rgb = np.full((H, W, 3), 120, np.uint8)
    ev, gains = -0.4, (1.08, 1.0, 0.93)
    out = to_linear(apply_effects(rgb, np.ones((H, W), np.float32), K,
                                  EffectsParams(exposure_ev=ev, white_balance=gains)))
    ratio = out[5, 5] / to_linear(120)
    assert np.allclose(ratio, 2 ** ev * np.array(gains), rtol=0.012)  # within one 8-bit code


def test_linear_motion_blur_of_the_ar_layer():
    """The AR compositor's line blur: an impulse spreads over ``length`` pixels along the angle, energy kept."""
    img = np.zeros((41, 41), np.float32)
    img[20, 20] = 1.0
    out = linear_motion_blur(img, 8.0, 0.0)
    assert out.sum() == pytest.approx(1.0, abs=1e-4)
    assert out[20].sum() / out[20].max() == pytest.approx(8.0, abs=1.0)
    assert (out[20] * np.arange(41)).sum() / out[20].sum() == pytest.approx(20.0, abs=0.05)
    vertical = linear_motion_blur(img, 8.0, math.pi / 2)
    assert np.allclose(vertical, out.T, atol=1e-5)


def test_recipe_section_validates_with_field_paths():
    cfg = EffectsConfig.model_validate({"noise": {"probability": 1}, "jpeg": {"probability": 0.5,
                                                                             "quality": {"min": 60, "max": 90}}})
    assert cfg.enabled() and not EffectsConfig().enabled() and cfg.jpeg.quality.max == 90
    for bad, where in (({"jpeg": {"quality": {"min": 50, "max": 101}}}, "quality.max"),
                       ({"noise": {"probability": 1.5}}, "noise.probability"),
                       ({"defocus": {"focus_distance": {"min": 0.0, "max": 1.0}}}, "focus_distance.min"),
                       ({"vignetting": {"strength": {"min": 0.5, "max": 2.0}}}, "strength.max"),
                       ({"motion_blur": {"shutter": 1}}, "motion_blur.shutter"),
                       ({"defocus": {"focus": "nowhere"}}, "defocus.focus")):
        with pytest.raises(ValidationError) as e:
            EffectsConfig.model_validate(bad)
        text = str(e.value)
        assert all(part in text for part in where.split(".")), text
