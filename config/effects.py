"""Recipe section of the image-effects stage (``render/effects.py``): camera and sensor effects on the RGB image.

Every effect has a ``probability`` (0: never, the default; 1: every frame) of being applied to a frame and
ranges its parameters are drawn from, uniformly, per frame. With every probability 0 (the default) the stage
leaves the image bit-exact and the JPEG quality is ``output.jpg_quality``. Effects change the RGB image only,
never depth, masks or any label. Models, formulas and sources: ``render/effects.py`` and docs/conventions.md
("Image effects").

Example (YAML)::

    effects:
      noise: {probability: 1.0, photons_at_white: {min: 300, max: 3000}, read_noise: {min: 0.001, max: 0.004}}
      defocus: {probability: 0.5, focus: look_at, f_number: {min: 1.8, max: 5.6}}
      motion_blur: {probability: 0.3, exposure_s: {min: 0.005, max: 0.02}, linear_speed: {min: 0.0, max: 0.5}}
      vignetting: {probability: 1.0, strength: {min: 0.3, max: 1.0}}
      chromatic_aberration: {probability: 0.5}
      white_balance: {probability: 1.0}
      exposure: {probability: 1.0, ev: {min: -0.5, max: 0.5}}
      jpeg: {probability: 1.0, quality: {min: 75, max: 98}}
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import FieldValueError, IntRange, Range, _Model

def _probability():
    """Field of a probability in [0, 1] that an effect is applied to a frame (default 0: never)."""
    return Field(default=0.0, ge=0.0, le=1.0, description="chance per frame that the effect is applied")


def _at_least(rng: Range, name: str, lo: float, strict: bool = False) -> None:
    """Raise :class:`FieldValueError` at ``name.min`` when ``rng.min`` is below ``lo`` (or equal, with ``strict``)."""
    if rng.min < lo or (strict and rng.min == lo):
        raise FieldValueError((name, "min"), f"must be {'>' if strict else '>='} {lo:g} (got {rng.min:g})")


def _at_most(rng: Range, name: str, hi: float) -> None:
    """Raise :class:`FieldValueError` at ``name.max`` when ``rng.max`` is above ``hi``."""
    if rng.max > hi:
        raise FieldValueError((name, "max"), f"must be <= {hi:g} (got {rng.max:g})")


class NoiseConfig(_Model):
    """Poisson-Gaussian sensor noise (Foi et al. 2008, "Practical Poissonian-Gaussian noise modeling and fitting
    for single-image raw-data", IEEE TIP 17(10)) on the linear image y in [0, 1] (full scale = white):
    z = Poisson(chi y) / chi + N(0, read_noise^2), so var(z) = a y + b with a = 1 / chi and b = read_noise^2.

    ``photons_at_white`` (chi): photo-electrons collected at full scale, after the ISO gain (a sensor with full-well
    capacity Q at ISO gain G relative to its base ISO has chi = Q / G; lower is noisier). ``read_noise``: standard
    deviation of the signal-independent part, in units of full scale."""

    probability: float = _probability()
    photons_at_white: Range = Range(min=300.0, max=3000.0)
    read_noise: Range = Range(min=0.0005, max=0.004)

    @model_validator(mode="after")
    def _check(self):
        _at_least(self.photons_at_white, "photons_at_white", 0.0, strict=True)
        _at_least(self.read_noise, "read_noise", 0.0)
        _at_most(self.read_noise, "read_noise", 1.0)
        return self


class DefocusConfig(_Model):
    """Defocus from depth with a thin lens (Potmesil & Chakravarty 1981, "A lens and aperture camera model for
    synthetic image generation", SIGGRAPH): circle of confusion c = f^2 / (N (s - f)) * |z - s| / z on the sensor
    (f focal length, N f-number, s focus distance, z depth), in pixels c / p with p = ``sensor_width_mm`` / image
    width and f = fx p (fx from the camera's K).

    ``focus``: ``distance`` (s drawn from ``focus_distance``), ``look_at`` (s = depth of the view's look-at point;
    ``focus_distance`` when it is unknown or behind the camera) or ``object`` (s = median depth of a labelled
    instance drawn among those visible; ``focus_distance`` when none is). ``kernel``: ``disc`` (uniform disc of
    diameter c, the geometric-optics PSF) or ``gaussian`` (sigma = c / 4, the disc's second moment).
    ``max_coc_px`` caps c (larger discs are drawn at the cap); ``layer_step_px`` is the CoC width of one depth
    layer of the layered blur (smaller: more layers, slower)."""

    probability: float = _probability()
    focus: Literal["distance", "look_at", "object"] = "look_at"
    focus_distance: Range = Range(min=0.4, max=2.0)
    f_number: Range = Range(min=1.8, max=8.0)
    sensor_width_mm: Range = Range(min=6.0, max=36.0)
    kernel: Literal["disc", "gaussian"] = "disc"
    max_coc_px: float = Field(default=24.0, gt=0, le=256)
    layer_step_px: float = Field(default=1.0, ge=0.25, le=16)

    @model_validator(mode="after")
    def _check(self):
        _at_least(self.focus_distance, "focus_distance", 0.0, strict=True)
        _at_least(self.f_number, "f_number", 0.5)
        _at_least(self.sensor_width_mm, "sensor_width_mm", 0.0, strict=True)
        return self


class MotionBlurConfig(_Model):
    """Blur from camera motion during the exposure: the camera moves with a constant linear velocity (speed from
    ``linear_speed`` m/s, direction uniform on the sphere, camera frame) and angular velocity (rate from
    ``angular_speed_deg`` deg/s, axis uniform on the sphere, camera frame) for ``exposure_s`` seconds centred on
    the rendered pose; the image is the mean of the scene seen from up to ``max_samples`` poses across the
    exposure (reprojected with the depth map). Labels describe the middle of the exposure (the rendered pose)."""

    probability: float = _probability()
    exposure_s: Range = Range(min=0.002, max=0.02)
    linear_speed: Range = Range(min=0.0, max=0.5)
    angular_speed_deg: Range = Range(min=0.0, max=20.0)
    max_samples: int = Field(default=32, ge=2, le=256)

    @model_validator(mode="after")
    def _check(self):
        _at_least(self.exposure_s, "exposure_s", 0.0)
        _at_most(self.exposure_s, "exposure_s", 10.0)
        _at_least(self.linear_speed, "linear_speed", 0.0)
        _at_least(self.angular_speed_deg, "angular_speed_deg", 0.0)
        return self


class VignettingConfig(_Model):
    """Natural vignetting, the cos^4 law of illumination (e.g. Kerr, "Derivation of the cosine fourth law", 2007;
    Goldman 2010, "Vignette and exposure calibration and compensation", IEEE TPAMI 32(12)): irradiance falls as
    cos^4(theta) with the field angle theta of a pixel's ray; gain = 1 - strength (1 - cos^4 theta), so strength 1
    is the law itself and 0 no vignetting."""

    probability: float = _probability()
    strength: Range = Range(min=0.5, max=1.0)

    @model_validator(mode="after")
    def _check(self):
        _at_least(self.strength, "strength", 0.0)
        _at_most(self.strength, "strength", 1.0)
        return self


class ChromaticAberrationConfig(_Model):
    """Lateral (transverse) chromatic aberration: the red and blue images are magnified about the principal point
    by 1 + ``red_scale`` and 1 + ``blue_scale`` relative to green (a point at radius r lands at r (1 + s) in that
    channel)."""

    probability: float = _probability()
    red_scale: Range = Range(min=0.0, max=0.002)
    blue_scale: Range = Range(min=-0.002, max=0.0)

    @model_validator(mode="after")
    def _check(self):
        for name in ("red_scale", "blue_scale"):
            _at_least(getattr(self, name), name, -0.1)
            _at_most(getattr(self, name), name, 0.1)
        return self


class WhiteBalanceConfig(_Model):
    """White-balance error: linear red and blue gains relative to green (as a camera's white-balance multipliers),
    applied after the sensor noise."""

    probability: float = _probability()
    red_gain: Range = Range(min=0.9, max=1.1)
    blue_gain: Range = Range(min=0.9, max=1.1)

    @model_validator(mode="after")
    def _check(self):
        _at_least(self.red_gain, "red_gain", 0.0, strict=True)
        _at_least(self.blue_gain, "blue_gain", 0.0, strict=True)
        return self


class ExposureConfig(_Model):
    """Exposure error in stops: the linear image is multiplied by 2^ev before the sensor (so it changes the photon
    count the noise sees) and clips at full scale."""

    probability: float = _probability()
    ev: Range = Range(min=-0.5, max=0.5)

    @model_validator(mode="after")
    def _check(self):
        _at_least(self.ev, "ev", -10.0)
        _at_most(self.ev, "ev", 10.0)
        return self


class JpegConfig(_Model):
    """JPEG quality drawn per frame (integer, uniform in ``quality``); used by the image writer when
    ``output.image_format`` is ``jpg`` (otherwise ignored); frames without it use ``output.jpg_quality``."""

    probability: float = _probability()
    quality: IntRange = IntRange(min=75, max=95)

    @model_validator(mode="after")
    def _check(self):
        if self.quality.min < 1:
            raise FieldValueError(("quality", "min"), f"must be >= 1 (got {self.quality.min})")
        if self.quality.max > 100:
            raise FieldValueError(("quality", "max"), f"must be <= 100 (got {self.quality.max})")
        return self


class EffectsConfig(_Model):
    """Image effects applied after rendering (and AR compositing) to every frame of every scene kind, in the
    order light meets them: motion blur, defocus, chromatic aberration, vignetting, exposure, sensor noise, white
    balance, then sRGB encoding; the JPEG quality goes to the writer. All off by default."""

    noise: NoiseConfig = NoiseConfig()
    defocus: DefocusConfig = DefocusConfig()
    motion_blur: MotionBlurConfig = MotionBlurConfig()
    vignetting: VignettingConfig = VignettingConfig()
    chromatic_aberration: ChromaticAberrationConfig = ChromaticAberrationConfig()
    white_balance: WhiteBalanceConfig = WhiteBalanceConfig()
    exposure: ExposureConfig = ExposureConfig()
    jpeg: JpegConfig = JpegConfig()

    def enabled(self) -> bool:
        """True when any effect has a probability > 0 (the stage can change a frame)."""
        return any(getattr(self, name).probability > 0 for name in type(self).model_fields)
