"""Recipe section ``ar``: augmented-reality scenes (background photos, placement, compositing look)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import Range, _Model
from .camera import Intrinsics
from .sources import resolve_source


class ARBackgroundsConfig(_Model):
    """Background photos (assets/backgrounds.py): ``kitti`` (``path``: a KITTI frame folder),
    ``middlebury_motorcycle`` (scikit-image's garage photo with disparity), or ``photos``
    (``photos``: files or scikit-image sample names; intrinsics from ``fov_y_deg``; a ground plane,
    when needed, from ``camera_height`` and ``camera_pitch_deg``)."""

    kind: Literal["kitti", "middlebury_motorcycle", "photos", "folder"]
    path: str | None = None
    photos: list[str] = []
    intrinsics: Intrinsics | None = None
    fov_y_deg: float = Field(default=50.0, gt=0, lt=180)
    baseline: float | None = Field(default=None, gt=0, description="disparity maps: stereo baseline, m")
    doffs: float = Field(default=0.0, description="disparity maps: principal point offset between the cameras, px")
    camera_height: float | None = Field(default=None, gt=0)
    camera_pitch_deg: float = 0.0

    @model_validator(mode="after")
    def _check(self):
        if self.kind in ("kitti", "folder") and not self.path:
            raise ValueError(f"kind {self.kind!r} needs path")
        if self.kind == "photos" and not self.photos:
            raise ValueError("kind 'photos' needs photos (files or scikit-image sample names)")
        return self

    @field_validator("path")
    @classmethod
    def _path_exists(cls, v, info: ValidationInfo):
        if v is None:
            return v
        p = resolve_source(v, (info.context or {}).get("base_dir", "."))[0]
        if not p.is_dir():
            raise ValueError(f"{p}: not a folder")
        kind = info.data.get("kind")
        if kind == "kitti" and (not (p / "image_2.png").is_file()
                                or not any((p / c).is_file() for c in ("calib.txt", "calib.json"))):
            raise ValueError(f"{p}: expected image_2.png and calib.txt (or calib.json) in the folder")
        return str(p)


class ARLookConfig(_Model):
    """Compositing: a key light from the sun direction ranges (world frame: azimuth from the camera's
    forward direction towards its left, elevation above the ground), tinted by the photo's mean colour,
    and an ambient level from its brightness; shadows on a shadow-catcher ground plane, blending of the inserted layer
    (none: hard alpha; gaussian: blurred alpha; poisson: OpenCV seamless cloning; motion: alpha
    blurred along a line), and post-processing of the inserted layer towards the photo (colour
    match to the photo's mean colour, Gaussian blur, sensor noise, chromatic aberration, motion blur).
    Pixels of the photo change only where an inserted object or its shadow falls."""

    shadows: bool = True
    shadow_strength: Range = Range(min=0.5, max=0.75)
    sun_azimuth_deg: Range = Range(min=0.0, max=360.0)
    sun_elevation_deg: Range = Range(min=30.0, max=70.0)
    blend: Literal["none", "gaussian", "poisson", "motion"] = "gaussian"
    color_match: Range = Range(min=0.1, max=0.4)
    blur_sigma: Range = Range(min=0.0, max=0.7)
    noise_sigma: Range = Range(min=0.0, max=3.0)
    chromatic_aberration_px: Range = Range(min=0.0, max=1.0)
    motion_blur_px: Range = Range(min=0.0, max=0.0)


class ARConfig(_Model):
    """Augmented-reality scenes (scenes/ar.py): one view per scene, the background photo's camera."""

    backgrounds: ARBackgroundsConfig
    placement: Literal["ground", "free"] = "ground"
    distance: Range = Range(min=6.0, max=30.0)
    lateral_fraction: float = Field(default=0.8, gt=0, le=1)
    yaw_deg: Range = Range(min=-180.0, max=180.0)
    avoid_real: bool = True
    carry_real_labels: bool = False
    max_tries: int = Field(default=60, ge=1)
    kitti_type: str = "Car"
    local_ground: bool = Field(default=True, description="stand each object on a plane fitted to the 3D points "
                               "under its footprint (backgrounds with LiDAR or depth); refuse unmeasured spots")
    ground_max_tilt_deg: float = Field(default=8.0, ge=0, lt=45, description="local ground: most pitch/roll "
                                       "against the global ground plane, degrees")
    ground_max_roughness: float = Field(default=0.04, gt=0, description="local ground: most RMS residual "
                                        "of the plane fit, metres")
    ground_min_points: int = Field(default=12, ge=3, description="local ground: fewest 3D points under a footprint")
    look: ARLookConfig = ARLookConfig()

    @model_validator(mode="after")
    def _check(self):
        if self.distance.min <= 0:
            raise ValueError("distance.min must be > 0")
        return self
