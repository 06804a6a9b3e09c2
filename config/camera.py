"""Recipe section ``camera``: image size, intrinsics (explicit or from a field of view), near/far planes and the
ranges views are drawn from; its sub-sections (view control, stereo, lens distortion) live in ``views``,
``stereo`` and ``distortion``."""

from __future__ import annotations

from pydantic import Field, model_validator

from ..core.geometry import intrinsics_from_fov, intrinsics_matrix
from .base import FieldValueError, Range, Vec3, _Model
from .distortion import DistortionConfig
from .stereo import StereoConfig
from .views import OcclusionTargets, ViewConstraints, ViewpointCoverage


class Intrinsics(_Model):
    fx: float = Field(gt=0)
    fy: float = Field(gt=0)
    cx: float
    cy: float


class LookAt(_Model):
    center: Vec3 = [0.0, 0.0, 0.0]
    jitter: float = Field(default=0.0, ge=0, description="uniform offset per axis, metres")


class CameraConfig(_Model):
    """Image size, intrinsics (explicit or from a vertical field of view) and view sampling.

    Views are drawn on a sphere around the look-at target: distance (m),
    elevation above the floor (deg), azimuth about world +z (deg), then an
    in-plane roll about the optical axis (deg).
    """

    width: int = Field(gt=0, le=8192)
    height: int = Field(gt=0, le=8192)
    intrinsics: Intrinsics | None = None
    fov_y_deg: float | None = Field(default=None, gt=0, lt=180)
    znear: float = Field(default=0.02, gt=0)
    zfar: float = Field(default=20.0, gt=0)
    distance: Range
    elevation_deg: Range
    azimuth_deg: Range = Range(min=0.0, max=360.0)
    inplane_deg: Range = Range(min=0.0, max=0.0)
    look_at: LookAt = LookAt()
    constraints: ViewConstraints | None = Field(default=None, description="per-view constraints (config/views.py)")
    occlusion_targets: OcclusionTargets | None = Field(default=None, description="wanted occlusion-level shares")
    coverage: ViewpointCoverage | None = Field(default=None, description="uniform camera azimuth in object frames")
    stereo: StereoConfig | None = Field(default=None, description="a rectified right camera (config/stereo.py)")
    distortion: DistortionConfig | None = Field(default=None, description="lens distortion (config/distortion.py)")

    @model_validator(mode="after")
    def _check(self):
        if (self.intrinsics is None) == (self.fov_y_deg is None):
            raise ValueError("give exactly one of 'intrinsics' (fx, fy, cx, cy) or 'fov_y_deg'")
        if self.intrinsics is not None:
            cx, cy = self.intrinsics.cx, self.intrinsics.cy
            if not (-0.5 <= cx <= self.width - 0.5 and -0.5 <= cy <= self.height - 0.5):
                raise ValueError(f"principal point (cx, cy) = ({cx}, {cy}) lies outside the {self.width}x{self.height} "
                                 "image: set intrinsics for this image size (or use fov_y_deg)")
        if self.znear >= self.zfar:
            raise ValueError(f"znear ({self.znear}) must be < zfar ({self.zfar})")
        if self.distance.min <= 0:
            raise ValueError("distance.min must be > 0")
        if self.distance.max >= self.zfar or self.distance.min <= self.znear:
            raise ValueError("distance range must lie inside (znear, zfar)")
        if self.elevation_deg.min < -90 or self.elevation_deg.max > 90:
            raise ValueError("elevation_deg must lie within [-90, 90]")
        if self.distortion is not None:
            try:
                self.distortion.check_field(self.K(), self.width, self.height)
            except FieldValueError as e:
                raise FieldValueError(("distortion",) + e.loc, str(e)) from None
        return self

    def view_lens(self) -> dict:
        """The lens fields of :class:`~gtforge.core.description.View`: ``dist_model`` and ``dist_coeffs``."""
        d = self.distortion
        if d is None:
            return {"dist_model": None, "dist_coeffs": ()}
        return {"dist_model": d.model, "dist_coeffs": tuple(float(c) for c in d.coeffs)}

    def K(self):
        """Intrinsic matrix (3, 3) float64 in pixels (OpenCV; pixel centres at integers)."""
        if self.intrinsics is not None:
            i = self.intrinsics
            return intrinsics_matrix(i.fx, i.fy, i.cx, i.cy)
        return intrinsics_from_fov(self.fov_y_deg, self.width, self.height)
