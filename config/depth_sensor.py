"""Recipe section of the depth-sensor simulation (``render/depth_sensor.py``): a noisy, hole-punched copy of the
exact depth map, written as the ``depth_noisy/`` layer (``depth/`` stays exact).

One of three documented sensor models; its own sub-section holds its parameters, each with a default taken from the
source the model comes from (``render/depth_sensor.py`` and docs/conventions.md, "Depth sensors", give the formulas and
the citations). Fields typed :class:`~gtforge.config.schema.Range` are drawn uniformly per frame (a single number
stands for a fixed value); the others are fixed for the build. Only the chosen model's sub-section may be given.

Example (YAML)::

    depth_noisy:
      model: active_stereo            # kinect_v1 | tof | active_stereo
      active_stereo:
        baseline: 0.050               # m (RealSense D435; D415: 0.055)
        subpixel: {min: 0.05, max: 0.1}   # px RMS of the disparity, drawn per frame

    depth_noisy:
      model: kinect_v1                # Nguyen et al. 2012 axial curve, 1/8 px disparity quantisation
      kinect_v1: {noise_scale: {min: 0.8, max: 1.2}}

    depth_noisy:
      model: tof                      # Azure Kinect-like: flying pixels, grazing-angle and low-return holes
      tof: {max_range: 3.86, max_incidence_deg: 80, flying_pixel_prob: 0.5}
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import FieldValueError, Range, _fixed_range, _Model

#: Sensor models, in the order of ``render.depth_sensor.MODELS``.
MODELS = ("kinect_v1", "tof", "active_stereo")


def _check_range(rng: Range, name: str, lo: float, hi: float | None = None, strict: bool = False) -> None:
    """Raise :class:`FieldValueError` at ``name.min`` / ``name.max`` when ``rng`` leaves [lo, hi] (or (lo, hi])."""
    if rng.min < lo or (strict and rng.min == lo):
        raise FieldValueError((name, "min"), f"must be {'>' if strict else '>='} {lo:g} (got {rng.min:g})")
    if hi is not None and rng.max > hi:
        raise FieldValueError((name, "max"), f"must be <= {hi:g} (got {rng.max:g})")


def _check_span(min_range: float, max_range: float) -> None:
    if not (math.isfinite(min_range) and math.isfinite(max_range)):
        raise FieldValueError(("max_range",), "min_range and max_range must be finite")
    if min_range >= max_range:
        raise FieldValueError(("max_range",), f"must be > min_range ({min_range:g} m), got {max_range:g} m")


class KinectV1Config(_Model):
    """Structured light, Kinect v1 (PrimeSense).

    Axial noise: Nguyen, Izadi & Lovell 2012 ("Modeling Kinect sensor noise for improved 3D reconstruction and
    tracking", 3DIMPVT), sigma_z = ``axial_a`` + ``axial_b`` (z - ``axial_z0``)^2 metres for incidence angles up to
    60 deg, plus ``axial_angle`` / sqrt(z) * theta^2 / (pi/2 - theta)^2 beyond 60 deg; multiplied per frame by
    ``noise_scale``. The noise is applied in the disparity domain of a sensor with focal length ``focal_px`` (pixels
    of the 640x480 IR camera) and projector baseline ``baseline`` (m), and the disparity is rounded to
    ``disparity_step`` pixels (1/8 px: Konolige & Mihelich, ROS ``kinect_calibration/technical``; Khoshelham &
    Oude Elberink 2012, Sensors 12(2)). ``lateral_px``: Nguyen's lateral noise, standard deviation in pixels of the
    sensor (scaled to the image's focal length), applied as a random nearest-pixel shift. ``shadows``: pixels the
    projector cannot light (it sits ``baseline`` to the ``projector_side`` of the camera) are invalid.
    ``min_range``/``max_range`` (m, on z) and ``max_incidence_deg`` (angle between the surface normal and the
    viewing ray) bound the valid measurements."""

    noise_scale: Range = Range(min=1.0, max=1.0)
    axial_a: float = Field(default=0.0012, ge=0, le=1, description="m")
    axial_b: float = Field(default=0.0019, ge=0, le=1, description="m per m^2")
    axial_z0: float = Field(default=0.4, ge=0, le=10, description="m")
    axial_angle: float = Field(default=0.0001, ge=0, le=1, description="m sqrt(m)")
    focal_px: float = Field(default=580.0, gt=0, le=10000, description="pixels of the sensor's IR camera")
    baseline: float = Field(default=0.075, gt=0, le=1, description="m, camera to projector")
    disparity_step: float = Field(default=0.125, gt=0, le=1, description="px")
    lateral_px: float = Field(default=0.8, ge=0, le=10, description="px of the sensor")
    shadows: bool = True
    projector_side: Literal["right", "left"] = "right"
    min_range: float = Field(default=0.5, ge=0, description="m")
    max_range: float = Field(default=5.0, gt=0, description="m")
    max_incidence_deg: float = Field(default=80.0, gt=0, le=90)

    _fixed = field_validator("noise_scale", mode="before")(_fixed_range)

    @model_validator(mode="after")
    def _check(self):
        _check_range(self.noise_scale, "noise_scale", 0.0, 100.0)
        _check_span(self.min_range, self.max_range)
        return self


class TofConfig(_Model):
    """Time of flight, Azure Kinect-like (amplitude-modulated continuous wave).

    Axial noise sigma = ``sigma_0`` + ``sigma_1`` z / sqrt(rho cos theta) metres (z depth in m, theta incidence
    angle, rho reflectance relative to the reference, 1 when unknown): the shot-noise-limited phase noise of an AMCW
    camera falls as 1 / sqrt(return amplitude) (Lange & Seitz 2001, IEEE J. Quantum Electron. 37(3)) and the return
    falls as rho cos theta / z^2. Defaults: millimetre level, as Tölgyessy et al. 2021 (Sensors 21(2)) measured on the
    Azure Kinect, within its specification (random error sigma <= 17 mm). Invalid: z < ``min_range``; low return,
    z^2 / (rho cos theta) > ``max_range``^2 (``max_range`` is the range of a frontal reference surface: 3.86 m is the
    Azure Kinect's NFOV unbinned operating range); theta > ``max_incidence_deg``. Flying pixels: pixels within
    ``flying_band_px`` of a depth discontinuity between two surfaces (neighbours whose depths differ by more than
    ``edge_jump`` times the nearer one) take, with probability ``flying_pixel_prob`` (per frame), a value between the
    two depths (a mixed return along their ray)."""

    sigma_0: Range = Range(min=0.0005, max=0.0005)
    sigma_1: Range = Range(min=0.0005, max=0.0005)
    min_range: float = Field(default=0.5, ge=0, description="m")
    max_range: float = Field(default=3.86, gt=0, description="m")
    max_incidence_deg: float = Field(default=80.0, gt=0, le=90)
    flying_pixel_prob: Range = Range(min=0.5, max=0.5)
    flying_band_px: int = Field(default=1, ge=0, le=16)
    edge_jump: float = Field(default=0.03, gt=0, le=10, description="relative depth jump")

    _fixed = field_validator("sigma_0", "sigma_1", "flying_pixel_prob", mode="before")(_fixed_range)

    @model_validator(mode="after")
    def _check(self):
        _check_range(self.sigma_0, "sigma_0", 0.0, 1.0)
        _check_range(self.sigma_1, "sigma_1", 0.0, 1.0)
        _check_range(self.flying_pixel_prob, "flying_pixel_prob", 0.0, 1.0)
        _check_span(self.min_range, self.max_range)
        return self


class ActiveStereoConfig(_Model):
    """Active stereo, RealSense D4xx-like (Grunnet-Jepsen, Sweetser & Woodfill, "Tuning depth cameras for best
    performance", Intel white paper).

    Depth is computed in the image's own camera (the left imager); the second imager sits ``baseline`` (m) to the
    ``second_camera`` side. Disparity d = fx b / z (fx from the view's K) gets Gaussian noise of ``subpixel`` px RMS
    (drawn per frame), so the depth RMS error is z^2 subpixel / (fx b). Invalid: pixels the second imager cannot see
    (occluded behind a nearer surface, or outside its image), disparities above ``max_disparity`` px (z < MinZ =
    fx b / ``max_disparity``; 126 px for the D4 vision processor), z > ``max_range``."""

    baseline: float = Field(default=0.050, gt=0, le=1, description="m (D435: 0.050, D415: 0.055)")
    subpixel: Range = Range(min=0.08, max=0.08)
    max_disparity: float = Field(default=126.0, gt=0, le=10000, description="px")
    max_range: float = Field(default=10.0, gt=0, description="m")
    second_camera: Literal["right", "left"] = "right"

    _fixed = field_validator("subpixel", mode="before")(_fixed_range)

    @model_validator(mode="after")
    def _check(self):
        _check_range(self.subpixel, "subpixel", 0.0, 10.0)
        if not math.isfinite(self.max_range):
            raise FieldValueError(("max_range",), "must be finite")
        return self


class DepthSensorConfig(_Model):
    """Which depth sensor to simulate and its parameters (see :mod:`gtforge.config.depth_sensor`).

    ``model``: ``kinect_v1`` (structured light), ``tof`` (time of flight) or ``active_stereo``; its sub-section
    (:class:`KinectV1Config`, :class:`TofConfig`, :class:`ActiveStereoConfig`) holds the parameters. Giving the
    sub-section of another model is an error (it would be ignored)."""

    model: Literal["kinect_v1", "tof", "active_stereo"]
    kinect_v1: KinectV1Config = KinectV1Config()
    tof: TofConfig = TofConfig()
    active_stereo: ActiveStereoConfig = ActiveStereoConfig()

    @model_validator(mode="after")
    def _only_the_models_section(self):
        for name in MODELS:
            if name != self.model and name in self.model_fields_set:
                raise FieldValueError((name,), f"is the section of model {name!r}, but model is {self.model!r}: "
                                               f"remove it or set model: {name}")
        return self

    def settings(self):
        """The chosen model's sub-section."""
        return getattr(self, self.model)
