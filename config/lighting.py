"""Recipe section ``lights``: the scene's lights (kinds, directions, intensities, colours) and an optional
environment image."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import ColorRange, FieldValueError, IntRange, Range, Weights, _Model
from .sources import check_image_source, resolve_source


class LightKinds(Weights):
    """Kind of each light: ``directional`` (sun-like, at ``elevation_deg``), ``point`` or ``spot`` (at
    ``distance`` from the look-at point, at ``elevation_deg``, shining towards it)."""

    directional: float = Field(default=0.0, ge=0)
    point: float = Field(default=0.0, ge=0)
    spot: float = Field(default=0.0, ge=0)


class EnvironmentConfig(_Model):
    """Lights from an equirectangular environment image (``assets.lighting.lights_from_equirect``): its
    ``lights`` brightest regions become directional lights shining from them (their colours, intensities
    ``intensity`` x their share of the image's light), the rest of its light an ambient term
    (``intensity`` x the rest's share / pi, the radiance of a uniform sky of that irradiance).
    The image's column 0 is azimuth 0 (world +x), its top row the zenith; ``rotate``: turned about world
    +z by a random azimuth per scene. Low dynamic range images (PNG, JPEG) are read."""

    image: str
    lights: int = Field(default=3, ge=1, le=16)
    intensity: float = Field(default=4.0, gt=0)
    rotate: bool = True

    @field_validator("image")
    @classmethod
    def _image(cls, v: str, info: ValidationInfo) -> str:
        if v.startswith(("procedural://", "bundled://")):
            raise ValueError("an environment image is one image file (relative, absolute or pkg://)")
        base = (info.context or {}).get("base_dir", ".")
        check_image_source(v, base)
        paths = resolve_source(v, base)
        if len(paths) != 1 or paths[0].is_dir():
            raise ValueError(f"{v}: give one image file, not a folder or a pattern")
        return v


class LightConfig(_Model):
    """Scene lights (world frame). ``count`` lights, each of a kind drawn by ``kinds``, at an azimuth
    uniform in [0, 360) deg and an elevation from ``elevation_deg``: directional lights shine from that
    direction with illuminance ``intensity``; point and spot lights stand at ``distance`` (m) from the
    look-at point (``camera.look_at.center``) in that direction and shine towards it with intensity
    ``point_intensity`` (pyrender's units: the illuminance at distance d is intensity / d^2); spot cones
    have an outer half-angle from ``spot_cone_deg``, the inner one 3/4 of it. Colours come from
    ``temperature_k`` (kelvin, ``assets.lighting.kelvin_to_rgb``) when it is set, else from ``color``.
    ``shadows``: every light casts shadows. ``environment``: more directional lights and ambient from an
    environment image."""

    count: IntRange = IntRange(min=2, max=3)
    kinds: LightKinds = LightKinds(directional=1.0)
    intensity: Range = Range(min=2.0, max=5.0)
    point_intensity: Range = Range(min=1.5, max=5.0)
    distance: Range = Range(min=0.8, max=1.5)
    spot_cone_deg: Range = Range(min=20.0, max=40.0)
    temperature_k: Range | None = None
    color: ColorRange = ColorRange(min=[0.85, 0.85, 0.85], max=[1.0, 1.0, 1.0])
    ambient: Range = Range(min=0.15, max=0.35)
    elevation_deg: Range = Range(min=30.0, max=85.0)
    shadows: bool = False
    environment: EnvironmentConfig | None = None

    @model_validator(mode="after")
    def _check(self):
        for name in ("intensity", "point_intensity", "ambient"):
            if getattr(self, name).min < 0:
                raise FieldValueError((name,), "must be >= 0")
        if self.distance.min <= 0:
            raise FieldValueError(("distance",), "must be > 0 (m from the look-at point)")
        if self.elevation_deg.min < -90 or self.elevation_deg.max > 90:
            raise FieldValueError(("elevation_deg",), "must lie within [-90, 90]")
        if self.spot_cone_deg.min <= 0 or self.spot_cone_deg.max >= 90:
            raise FieldValueError(("spot_cone_deg",), "outer half-angle must lie within (0, 90) degrees")
        t = self.temperature_k
        if t is not None and (t.min < 1667 or t.max > 25000):
            raise FieldValueError(("temperature_k",), "must lie within [1667, 25000] K (the range of Kang et al.'s "
                                  "CCT approximation)")
        return self
