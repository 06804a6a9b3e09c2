"""Recipe schema: the validated, versionable description of a dataset build (pydantic models).

A recipe is a YAML file validated by the pydantic models below before
anything renders. Every problem becomes a :class:`RecipeError` naming the
file and the field path, e.g.::

    recipes/x.yaml: objects[2].count.min: Input should be greater than or equal to 0 (got -5)

Units: metres, seconds, kilograms, degrees where a field name ends in
``_deg``. Asset paths are relative to the recipe file, absolute, or
``pkg://<python package>/<path inside it>`` (e.g. ``pkg://pybullet_data/duck_vhacd.urdf``);
they may contain glob patterns (``*``, ``?``, ``[...]``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import AfterValidator, Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from ..core.geometry import intrinsics_from_fov, intrinsics_matrix
from ..formats.registry import format_names
from .base import FieldValueError, IntRange, Range, _fixed_range, _Model  # noqa: F401 (re-exported)
from .depth_sensor import DepthSensorConfig
from .distortion import DistortionConfig
from .effects import EffectsConfig
from .stereo import STEREO_FORMATS, StereoConfig, disparity_scale
from .sources import MESH_SUFFIXES, PROCEDURAL_SOURCES, check_image_source, resolve_source
from .views import OcclusionTargets, ViewConstraints, ViewpointCoverage, check_view_control


Vec2 = Annotated[list[float], Field(min_length=2, max_length=2)]
Vec3 = Annotated[list[float], Field(min_length=3, max_length=3)]


class RecipeError(Exception):
    """A recipe problem, found before rendering.

    Attributes
    ----------
    file : str
        The recipe file (or ``<overrides>`` for a bad ``--set``).
    path : str
        Field path in the recipe, e.g. ``objects[2].count.min``; '' for the whole file.
    message : str
        What is wrong.
    """

    def __init__(self, file: str, path: str, message: str):
        self.file, self.path, self.message = str(file), path, message
        where = f"{self.file}: {path}: " if path else f"{self.file}: "
        super().__init__(where + message)


#: Most object instances one scene may hold (sum of ``count.max`` over the object sets, targets and
#: distractors together). Each instance
#: costs an amodal render pass and two mask files per view and a rigid body in the physics, and the drop
#: placement tests every pair of instances: past a few hundred a scene takes minutes.
MAX_OBJECTS_PER_SCENE = 500


class ColorRange(_Model):
    """Per-channel RGB range in [0, 1]; each channel drawn uniformly."""

    min: Vec3
    max: Vec3

    @model_validator(mode="after")
    def _ordered(self):
        for a, b in zip(self.min, self.max):
            if not (0.0 <= a <= 1.0 and 0.0 <= b <= 1.0):
                raise ValueError("colour channels must be in [0, 1]")
            if a > b:
                raise ValueError(f"min {self.min} must be <= max {self.max} per channel")
        return self


class Weights(_Model):
    """Relative weights of named choices: each >= 0 and finite, not all 0; a choice is drawn with
    probability weight / sum of weights. Fields left out weigh 0."""

    @model_validator(mode="after")
    def _weights(self):
        values = self.model_dump()
        for k, v in values.items():
            if not math.isfinite(v):
                raise FieldValueError((k,), f"weight must be finite (got {v})")
        if sum(values.values()) <= 0:
            raise ValueError(f"weights must not all be 0 (give at least one of {', '.join(values)} > 0)")
        return self

    def probabilities(self) -> tuple[list[str], np.ndarray]:
        """(choice names in field order, (k,) float64 probabilities summing to 1)."""
        values = self.model_dump()
        w = np.array(list(values.values()), dtype=np.float64)
        return list(values), w / w.sum()


class LookWeights(Weights):
    """How instances look: ``asset`` keeps the file's own texture/colours (hue/saturation/value jittered by
    ``appearance.hsv_jitter``), ``texture`` maps an image of the texture pool, ``color`` a plain colour
    from ``appearance.object_color``."""

    asset: float = Field(default=0.0, ge=0)
    texture: float = Field(default=0.0, ge=0)
    color: float = Field(default=0.0, ge=0)


def _legacy_look(v):
    """The old ``appearance.objects`` strings: ``asset`` -> {asset: 1}, ``random`` -> {color: 1}."""
    if isinstance(v, str):
        legacy = {"asset": {"asset": 1.0}, "random": {"color": 1.0}}
        if v not in legacy:
            raise ValueError("expected 'asset', 'random' or weights {asset, texture, color}")
        return legacy[v]
    return v


class SurfaceWeights(Weights):
    """Floor look: ``texture`` (an image of the floor's pool, tiled) or ``color`` (``appearance.floor_color``)."""

    texture: float = Field(default=0.0, ge=0)
    color: float = Field(default=0.0, ge=0)


class WallWeights(Weights):
    """Bin or room wall look: ``texture`` (an image of the floor's pool, tiled), ``color``
    (``appearance.wall_color``), or ``floor`` (the very material the floor got in this scene)."""

    texture: float = Field(default=0.0, ge=0)
    color: float = Field(default=0.0, ge=0)
    floor: float = Field(default=0.0, ge=0)


class BackdropWeights(Weights):
    """What shows where no surface is hit: ``color`` (``appearance.background_color``), ``sky`` (a
    gradient from ``sky_horizon`` to ``sky_zenith`` with the ray's elevation) or ``photo`` (an image of
    ``backdrop_photos``, randomly cropped)."""

    color: float = Field(default=0.0, ge=0)
    sky: float = Field(default=0.0, ge=0)
    photo: float = Field(default=0.0, ge=0)


class LightKinds(Weights):
    """Kind of each light: ``directional`` (sun-like, at ``elevation_deg``), ``point`` or ``spot`` (at
    ``distance`` from the look-at point, at ``elevation_deg``, shining towards it)."""

    directional: float = Field(default=0.0, ge=0)
    point: float = Field(default=0.0, ge=0)
    spot: float = Field(default=0.0, ge=0)


def _image_sources(v: list[str], info: ValidationInfo) -> list[str]:
    base = (info.context or {}).get("base_dir", ".")
    for i, src in enumerate(v):
        try:
            check_image_source(src, base)
        except ValueError as e:
            raise FieldValueError((i,), str(e)) from None
    return v


def _check_source(value: str, info: ValidationInfo, suffixes: tuple[str, ...], allow_bop_dir: bool) -> str:
    base = (info.context or {}).get("base_dir", ".")
    for p in resolve_source(value, base):
        if p.is_dir():
            if allow_bop_dir and (p / "models_info.json").is_file():
                continue
            raise ValueError(f"{p} is a folder but not a BOP models folder (no models_info.json)")
        if p.suffix.lower() not in suffixes:
            raise ValueError(f"{p}: unsupported file type {p.suffix!r}; expected one of {', '.join(suffixes)}")
    return value


class ContinuousSymmetry(_Model):
    """A continuous rotational symmetry as in BOP's ``models_info.json``: any rotation about ``axis`` through
    ``offset`` (mm, model frame) keeps the object."""

    axis: Vec3
    offset: Vec3 = [0.0, 0.0, 0.0]

    @model_validator(mode="after")
    def _unit(self):
        if abs(math.sqrt(sum(a * a for a in self.axis)) - 1.0) > 1e-6:
            raise ValueError(f"axis must be a unit vector, got {list(self.axis)}")
        return self


class SymmetrySpec(_Model):
    """Symmetries stated in a recipe, in BOP's ``models_info.json`` format (model frame after ``scale``):
    ``discrete``: 4x4 matrices as 16 row-major numbers, translation in mm, identity not listed;
    ``continuous``: axes with offsets (mm)."""

    discrete: list[Annotated[list[float], Field(min_length=16, max_length=16)]] = []
    continuous: list[ContinuousSymmetry] = []

    @field_validator("discrete")
    @classmethod
    def _rigid(cls, v):
        for k, m in enumerate(v):
            T = np.asarray(m, dtype=np.float64).reshape(4, 4)
            R = T[:3, :3]
            if not (np.allclose(R.T @ R, np.eye(3), atol=1e-4) and abs(np.linalg.det(R) - 1) < 1e-4
                    and np.allclose(T[3], [0, 0, 0, 1])):
                raise ValueError(f"discrete[{k}] is not a rigid transform [R t; 0 0 0 1] with det(R) = 1")
        return v


#: ``auto``, ``none`` or a :class:`SymmetrySpec`; strings and mappings are told apart first, so an error
#: in a stated spec names its field (``objects[0].symmetries.stated.discrete[0]``).
SymmetryChoice = Annotated[
    Annotated[Literal["auto", "none"], Tag("name")] | Annotated[SymmetrySpec, Tag("stated")],
    Discriminator(lambda v: "name" if isinstance(v, str) else "stated"),
]


class NormalizeConfig(_Model):
    """Bring a model into the car frame: ``forward`` and ``up`` name the model's axes that become +x and +z,
    then it is scaled so its length along x is drawn (per model, seeded by its obj_id) from ``length``,
    and its origin moves to the bottom centre of its box. Unset: the model is used as it is."""

    forward: Literal["+x", "-x", "+y", "-y", "+z", "-z"] = "+x"
    up: Literal["+x", "-x", "+y", "-y", "+z", "-z"] = "+z"
    length: Range = Range(min=3.5, max=5.2)

    @model_validator(mode="after")
    def _check(self):
        if self.forward[1] == self.up[1]:
            raise ValueError(f"forward ({self.forward}) and up ({self.up}) must be different axes")
        if self.length.min <= 0:
            raise ValueError("length must be > 0")
        return self


class ObjectSet(_Model):
    """A set of meshes dropped into each scene.

    ``source`` is a mesh file (OBJ+MTL, PLY, STL, GLB/glTF, OFF), a URDF (its
    visual meshes are used), a BOP ``models/`` folder (``models_info.json`` +
    ``obj_XXXXXX.ply`` in millimetres), a glob over several of these, or
    ``procedural://cars`` (``variants`` generated cars, assets/cars.py). ``normalize`` brings user car
    models into the car frame at a real size. Each
    scene draws ``count`` instances, each picking one mesh of the set
    uniformly at random.

    ``role``: ``target`` sets are labelled (BOP ``obj_id`` 1..n over the target sets only, in recipe
    order); ``distractor`` sets are simulated and drawn, occlude targets, but get no label (their own
    ids 1..m, clutter scenes only). ``look`` overrides ``appearance.objects`` (targets) or
    ``appearance.distractors`` for this set.
    """

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    source: str
    count: IntRange
    role: Literal["target", "distractor"] = "target"
    look: LookWeights | None = None
    scale: float = Field(default=1.0, gt=0, description="multiplies mesh coordinates into metres (URDF scales are applied first; BOP folders: mm are converted already)")
    mass: float = Field(default=0.1, gt=0, description="kg per instance")
    friction: float = Field(default=0.6, ge=0)
    restitution: float = Field(default=0.0, ge=0, le=1)
    collision: Literal["hull", "vhacd", "mesh"] = Field(
        default="hull",
        description="physics shape (assets/collision.py): hull = a URDF's own convex decomposition when it ships "
                    "one (<collision> mesh objects that are each convex, e.g. pybullet_data's *_vhacd.urdf), else the "
                    "visual mesh's convex hull; vhacd = the visual mesh's convex hull when exact, else its V-HACD convex "
                    "decomposition (pybullet.vhacd, cached per mesh); mesh = the exact triangle mesh as a static body "
                    "(pybullet collides concave meshes only for static bodies): it is lowered onto the "
                    "floor at its drop pose and never moves")

    variants: int = Field(default=8, ge=1, le=1000, description="procedural://cars: number of generated car models")
    normalize: NormalizeConfig | None = None
    symmetries: SymmetryChoice = Field(
        default="auto", description="BOP models_info symmetries: auto (searched on the geometry, assets/symmetry.py), "
                                    "none, or stated (discrete / continuous, BOP's format, mm)")

    @model_validator(mode="after")
    def _count_limit(self):
        if self.count.max > MAX_OBJECTS_PER_SCENE:
            raise FieldValueError(("count", "max"), f"{self.count.max} instances is more than the limit of "
                                  f"{MAX_OBJECTS_PER_SCENE} per scene (all object sets together)")
        return self

    @field_validator("source")
    @classmethod
    def _source_exists(cls, v: str, info: ValidationInfo) -> str:
        if v.startswith("procedural://"):
            if v not in PROCEDURAL_SOURCES:
                raise ValueError(f"unknown procedural source {v!r}; known: {', '.join(PROCEDURAL_SOURCES)}")
            return v
        return _check_source(v, info, MESH_SUFFIXES, allow_bop_dir=True)


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


class SettleConfig(_Model):
    """Settling test: every object's speed (|dposition|/dt, |drotation|/dt, absolute values) stays
    under the thresholds for ``window`` seconds of simulated time."""

    linear_speed: float = Field(default=0.005, gt=0, description="m/s")
    angular_speed: float = Field(default=0.05, gt=0, description="rad/s")
    window: float = Field(default=0.25, gt=0, description="s")


class BinConfig(_Model):
    size: Vec2 = Field(default=[0.45, 0.35], description="inner x, y size, m")
    height: float = Field(default=0.12, gt=0)
    wall_thickness: float = Field(default=0.01, gt=0)

    @field_validator("size")
    @classmethod
    def _pos(cls, v):
        if min(v) <= 0:
            raise ValueError("bin size must be > 0")
        return v


class RoomConfig(_Model):
    """A room for ``support: room`` (BlenderProc4BOP's textured room, docs/conventions.md): a floor and four
    walls standing on z = 0 around an inner rectangle ``size`` centred at the origin, ``height`` high.
    BlenderProc4BOP's room is 4 x 4 m with 4 m walls; the default here is 3 x 3 m with 1.5 m walls,
    enough that views at the default camera distances stay inside and low views see walls, not void."""

    size: Vec2 = Field(default=[3.0, 3.0], description="inner x, y size, m")
    height: float = Field(default=1.5, gt=0, description="wall height, m")
    wall_thickness: float = Field(default=0.05, gt=0, description="m")

    @field_validator("size")
    @classmethod
    def _pos(cls, v):
        if min(v) <= 0:
            raise ValueError("room size must be > 0")
        return v


class DropConfig(_Model):
    half_extent: Vec2 = Field(default=[0.12, 0.12], description="x, y half-size of the drop region around the origin, m")
    height: Range = Range(min=0.1, max=0.35)

    @model_validator(mode="after")
    def _check(self):
        if min(self.half_extent) < 0:
            raise ValueError("half_extent must be >= 0")
        if self.height.min <= 0:
            raise ValueError("height.min must be > 0 (above the floor)")
        return self


class ClutterConfig(_Model):
    """Where objects are dropped: ``plane`` (a floor square of side ``plane_size``), ``bin`` (a bin on the
    floor) or ``room`` (a floor and four walls, ``room``)."""

    support: Literal["plane", "bin", "room"] = "plane"
    plane_size: float = Field(default=2.0, gt=0, description="side of the rendered floor square, m (plane, bin)")
    bin: BinConfig = BinConfig()
    room: RoomConfig = RoomConfig()
    drop: DropConfig = DropConfig()
    time_step: float = Field(default=1.0 / 240.0, gt=0, le=0.05, description="s")
    max_settle_time: float = Field(default=4.0, gt=0, description="cap on simulated time, s")
    settle: SettleConfig = SettleConfig()
    workspace_half_extent: float = Field(default=1.0, gt=0, description="objects whose |x| or |y| exceed this, or that fall below the floor, are removed, m")

    @model_validator(mode="after")
    def _drop_inside_room(self):
        if self.support == "room":
            for k, (h, size) in enumerate(zip(self.drop.half_extent, self.room.size)):
                if h >= size / 2:
                    raise FieldValueError(("drop", "half_extent"), f"drop region half-size {h} m along {'xy'[k]} "
                                          f"reaches the room's walls (clutter.room.size {size} m)")
        return self


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


class HsvJitter(_Model):
    """Jitter of textures and asset colours (``assets.textures.jitter_hsv``): a hue shift in turns (added,
    mod 1), saturation and value factors, each drawn uniformly per surface. Plain colours are jittered
    directly. The defaults leave them unchanged."""

    hue: Range = Range(min=0.0, max=0.0)
    saturation: Range = Range(min=1.0, max=1.0)
    value: Range = Range(min=1.0, max=1.0)

    @model_validator(mode="after")
    def _check(self):
        if self.hue.min < -0.5 or self.hue.max > 0.5:
            raise FieldValueError(("hue",), "hue shift must lie within [-0.5, 0.5] turns")
        for name in ("saturation", "value"):
            if getattr(self, name).min < 0:
                raise FieldValueError((name,), "factor must be >= 0")
        return self


class AppearanceConfig(_Model):
    """How surfaces look in the RGB images (never the geometry or any label: these draws come from the
    scene's ``appearance`` random stream only).

    Texture sources (``textures``, ``floor_textures``, ``backdrop_photos``): image files, folders, globs,
    ``pkg://`` paths, ``procedural://all`` or ``procedural://<family>`` (noise, marble, wood, stripes,
    checker, dots: generated, ``assets/textures.py``), ``bundled://skimage`` (scikit-image's sample photos
    and textures) or ``bundled://pybullet_data`` (pybullet_data's textures). A texture is drawn family
    first, then a member.
    """

    objects: LookWeights = Field(default=LookWeights(asset=1.0), description="targets' look weights; the old "
                                 "strings asset (= {asset: 1}) and random (= {color: 1}) still work")
    distractors: LookWeights = LookWeights(asset=1.0)
    object_color: ColorRange = ColorRange(min=[0.05, 0.05, 0.05], max=[1.0, 1.0, 1.0])
    metallic: Range = Range(min=0.0, max=0.0)
    roughness: Range = Range(min=0.7, max=0.7)
    hsv_jitter: HsvJitter = HsvJitter()
    textures: list[str] = Field(default=["procedural://all"], description="texture pool for objects and "
                                "distractors (and the floor and walls unless floor_textures is given)")
    texture_tile: Range = Field(default=Range(min=0.05, max=0.15), description="objects: metres per texture "
                                "repeat where the texture is box-projected (meshes without UVs)")
    floor: SurfaceWeights | None = Field(default=None, description="floor look weights; unset: texture when "
                                         "floor_textures is given, else color")
    floor_textures: list[str] = Field(default=[], description="texture pool of the floor and walls (else textures)")
    floor_texture_tile: Range = Field(default=Range(min=0.25, max=0.25), description="floor and walls: side of "
                                      "one texture tile, m (a number: fixed)")
    floor_color: ColorRange = ColorRange(min=[0.3, 0.3, 0.3], max=[0.8, 0.8, 0.8])
    walls: WallWeights = WallWeights(color=1.0)
    wall_color: ColorRange | None = Field(default=None, description="unset: the floor colour darkened to 70 %")
    backdrop: BackdropWeights = BackdropWeights(color=1.0)
    backdrop_photos: list[str] = ["bundled://skimage"]
    sky_horizon: ColorRange = ColorRange(min=[0.78, 0.82, 0.86], max=[0.9, 0.92, 0.95])
    sky_zenith: ColorRange = ColorRange(min=[0.2, 0.35, 0.6], max=[0.45, 0.6, 0.85])
    background_color: Vec3 = [0.0, 0.0, 0.0]

    _legacy_objects = field_validator("objects", mode="before")(_legacy_look)
    _fixed_tile = field_validator("floor_texture_tile", mode="before")(_fixed_range)
    _sources = field_validator("textures", "floor_textures", "backdrop_photos")(_image_sources)

    @model_validator(mode="after")
    def _check(self):
        for name in ("metallic", "roughness"):
            r = getattr(self, name)
            if r.min < 0 or r.max > 1:
                raise FieldValueError((name,), "must lie within [0, 1]")
        for name in ("texture_tile", "floor_texture_tile"):
            if getattr(self, name).min <= 0:
                raise FieldValueError((name,), "must be > 0 (metres per texture repeat)")
        if not all(0.0 <= c <= 1.0 for c in self.background_color):
            raise FieldValueError(("background_color",), "colour channels must be in [0, 1]")
        if not self.textures:
            for name in ("objects", "distractors"):
                if getattr(self, name).texture > 0:
                    raise FieldValueError(("textures",), f"is empty, but {name}.texture > 0 needs a texture pool")
            if not self.floor_textures and ((self.floor is not None and self.floor.texture > 0)
                                            or self.walls.texture > 0):
                raise FieldValueError(("floor_textures",), "floor or walls texture weight > 0 needs floor_textures "
                                      "or textures")
        if self.backdrop.photo > 0 and not self.backdrop_photos:
            raise FieldValueError(("backdrop_photos",), "is empty, but backdrop.photo > 0 needs photos")
        return self

    def floor_weights(self) -> SurfaceWeights:
        """``floor``, or when unset the old behaviour: a texture when ``floor_textures`` is given, else a colour."""
        if self.floor is not None:
            return self.floor
        return SurfaceWeights(texture=1.0) if self.floor_textures else SurfaceWeights(color=1.0)

    def floor_pool(self) -> list[str]:
        """Texture sources of the floor and walls: ``floor_textures``, else ``textures``."""
        return list(self.floor_textures or self.textures)


class SkinTypeWeights(Weights):
    """Weights of the Fitzpatrick skin types I (lightest) .. VI (darkest) (``assets/hand_look.py``: each type
    draws its tone from one sixth of the Monk Skin Tone scale). A list of types (names or 1..6) means equal
    weights."""

    I: float = Field(default=0.0, ge=0)  # noqa: E741 (the type's name)
    II: float = Field(default=0.0, ge=0)
    III: float = Field(default=0.0, ge=0)
    IV: float = Field(default=0.0, ge=0)
    V: float = Field(default=0.0, ge=0)
    VI: float = Field(default=0.0, ge=0)


_ROMAN = ("I", "II", "III", "IV", "V", "VI")


def _skin_type_name(t):
    """A Fitzpatrick type as its roman numeral: 'IV' or 4 -> 'IV'; anything else unchanged (pydantic rejects it)."""
    if isinstance(t, int) and not isinstance(t, bool) and 1 <= t <= 6:
        return _ROMAN[t - 1]
    return t


def _skin_type_list(v):
    """``[I, III]`` or ``[1, 3]`` -> ``{I: 1, III: 1}``; weight keys may be numbers too (``{6: 2}``)."""
    if isinstance(v, list):
        names = [_skin_type_name(t) for t in v]
        if not v or any(t not in _ROMAN for t in names):
            raise ValueError(f"skin types must be among I, II, III, IV, V, VI or 1..6 (got {v!r})")
        return {t: 1.0 for t in names}
    if isinstance(v, dict):
        return {_skin_type_name(k): w for k, w in v.items()}
    return v


class ForearmConfig(_Model):
    """Forearms attached at the hands' wrists (docs/conventions.md, "Hands"): part of the hand's mask, box and
    visibility, never of its keypoints. Each hand gets one with ``probability``; ``length`` (m, wrist ring to its
    rounded end; past about 0.27 m it stands for a forearm and a straight upper arm, so that it usually runs out
    of the picture; shorter than ``min_length`` it would look cut off, and the hand gets none) and the wrist angles ``flexion_deg`` (+ towards the palm) and ``deviation_deg`` (+ radial)
    are drawn uniformly and clipped to the wrist's range of motion (AAOS: flexion 80, extension 70, radial 20,
    ulnar 30). A forearm that would pierce the floor, an object or another hand (or reach within 10 cm of a
    camera's image plane) is turned upwards within that range, else shortened by halves down to
    ``min_length``, else left out; one whose end would show in a view is lengthened up to 0.6 m (or
    ``length.max``) when it can be (docs/conventions.md, "Hands"). With ``sleeve_probability`` a sleeve
    covers it from ``cuff_offset`` (m past the wrist ring), ``sleeve_looseness`` (m) off the skin."""

    probability: float = Field(default=0.0, ge=0, le=1)
    sleeve_probability: float = Field(default=0.5, ge=0, le=1)
    length: Range = Range(min=0.25, max=0.45)
    min_length: float = Field(default=0.12, gt=0)
    flexion_deg: Range = Range(min=-40.0, max=40.0)
    deviation_deg: Range = Range(min=-20.0, max=10.0)
    cuff_offset: Range = Range(min=0.01, max=0.06)
    sleeve_looseness: Range = Range(min=0.003, max=0.012)

    @model_validator(mode="after")
    def _check(self):
        if self.length.min <= 0:
            raise FieldValueError(("length", "min"), "must be > 0 (metres)")
        if self.min_length > self.length.min:
            raise FieldValueError(("min_length",), f"must be <= length.min ({self.length.min})")
        if not (-70.0 <= self.flexion_deg.min and self.flexion_deg.max <= 80.0):
            raise FieldValueError(("flexion_deg",), "must lie within [-70, 80] (wrist extension 70, flexion 80)")
        if not (-30.0 <= self.deviation_deg.min and self.deviation_deg.max <= 20.0):
            raise FieldValueError(("deviation_deg",), "must lie within [-30, 20] (ulnar 30, radial 20)")
        if self.cuff_offset.min < 0 or self.sleeve_looseness.min < 0:
            raise ValueError("cuff_offset and sleeve_looseness must be >= 0 (metres)")
        return self


class HandConfig(_Model):
    """Hands in each scene (MANO parameterisation; docs/conventions.md, "Hands").

    ``backend``: ``procedural`` (bundled, licence-free) or ``mano`` (the user's own
    ``MANO_RIGHT.pkl``/``.npz``, from ``mano_model`` or the environment variable
    ``GTFORGE_MANO_MODEL``). Each hand grasps a random object of the scene with
    probability ``grasp_fraction`` (when a grasp is found), otherwise it is a free hand
    at ``height`` above the floor near the look-at target, oriented so that the first
    view's camera is at ``azimuth_deg``/``elevation_deg`` in the hand frame (x fingers,
    y palm normal; elevation 90 = palm towards the camera). Betas: each coefficient is
    drawn from ``betas`` (procedural: size, palm width, finger length, thumb length, index-to-ring
    ratio; 10 % or 5 % per unit).

    Look (drawn from the appearance stream ``hand_appearance``: it never moves a hand): ``skin``
    ``fitzpatrick`` draws a Fitzpatrick type by ``skin_types`` (weights, or a list of types; default all
    six equally) and a tone within it (``assets/hand_look.py``); ``range`` (legacy, chosen when a recipe gives
    ``skin_color`` without ``skin``) draws each channel from ``skin_color``. ``skin_texture``: palm creases,
    knuckles, nails and mottling as per-vertex colours (false: a plain colour). ``forearm``: :class:`ForearmConfig`.
    """

    count: IntRange = IntRange(min=1, max=1)
    backend: Literal["procedural", "mano"] = "procedural"
    mano_model: str | None = None
    flat_hand_mean: bool = False
    fingertip_ids: Literal["smplx", "manopth"] | Annotated[list[int], Field(min_length=5, max_length=5)] = "smplx"
    left_fraction: float = Field(default=0.5, ge=0, le=1)
    betas: Range = Range(min=-1.5, max=1.5)
    grasp_fraction: float = Field(default=0.7, ge=0, le=1)
    curl: Range = Range(min=0.0, max=1.0)
    azimuth_deg: Range = Range(min=-180.0, max=180.0)
    elevation_deg: Range = Range(min=-60.0, max=89.0)
    height: Range = Range(min=0.08, max=0.2)
    skin: Literal["fitzpatrick", "range"] = "fitzpatrick"
    skin_types: SkinTypeWeights = SkinTypeWeights(I=1.0, II=1.0, III=1.0, IV=1.0, V=1.0, VI=1.0)
    skin_color: ColorRange = ColorRange(min=[0.55, 0.35, 0.25], max=[0.95, 0.78, 0.66])
    skin_texture: bool = True
    forearm: ForearmConfig = ForearmConfig()
    max_grasp_tries: int = Field(default=12, ge=1)
    write_vertices: bool = False

    _skin_types = field_validator("skin_types", mode="before")(_skin_type_list)

    @model_validator(mode="before")
    @classmethod
    def _legacy_skin(cls, data):
        if isinstance(data, dict) and "skin_color" in data and "skin" not in data:
            return {**data, "skin": "range"}
        return data

    @model_validator(mode="after")
    def _check(self):
        if self.backend == "mano":
            path = self.mano_model or os.environ.get("GTFORGE_MANO_MODEL")
            if not path:
                raise ValueError("backend 'mano' needs mano_model (or the GTFORGE_MANO_MODEL environment variable): "
                                 "the path of your own MANO_RIGHT.pkl or .npz")
        if not (0.0 <= self.curl.min and self.curl.max <= 1.0):
            raise ValueError("curl must lie within [0, 1] (0 open, 0.5 relaxed, 1 fist)")
        if self.height.min <= 0:
            raise ValueError("height must be > 0 (above the floor)")
        return self

    @field_validator("mano_model")
    @classmethod
    def _mano_exists(cls, v, info: ValidationInfo):
        if v is None:
            return v
        if "LEFT" in Path(v).name.upper():
            raise ValueError(f"{v}: give the right-hand model (MANO_RIGHT); left hands are its mirror image")
        base = (info.context or {}).get("base_dir", ".")
        p = Path(os.path.expanduser(v))
        p = p if p.is_absolute() else Path(base) / p
        if not p.is_file():
            raise ValueError(f"file not found: {p} (MANO files need registration and cannot be shipped: "
                             "download MANO_RIGHT.pkl yourself)")
        return str(p)


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


def _registered_format(name: str) -> str:
    if name not in format_names():
        raise ValueError(f"unknown format; known: {', '.join(format_names())}")
    return name


#: An output format name registered in ``formats/registry.py``.
FormatName = Annotated[str, AfterValidator(_registered_format)]


class Layers(_Model):
    rgb: bool = True
    depth: bool = True
    mask: bool = True
    mask_visib: bool = True


class OutputConfig(_Model):
    formats: list[FormatName] = Field(default=["bop"], description="writers, by name (formats/registry.py: bop, coco, kitti, yolo, webdataset)")
    split: str = Field(default="train_pbr", pattern=r"^[A-Za-z0-9_\-]+$")
    layers: Layers = Layers()
    depth_scale: float = Field(default=0.1, gt=0, description="depth_mm = png_value * depth_scale (BOP)")
    image_format: Literal["jpg", "png"] = "jpg"
    jpg_quality: int = Field(default=95, ge=1, le=100)
    coco_ignore_visib_fract: float = Field(default=0.1, ge=0, le=1, description="COCO: instances less visible than this get ignore=1")
    occlusion_thresholds: Vec2 = Field(
        default=[0.1, 0.5],
        description="occlusion level 0 if occlusion <= t0, 1 if <= t1, else 2; 3 (unknown) when nothing is in frame",
    )
    depth_noisy: DepthSensorConfig | None = Field(
        default=None, description="simulate a depth sensor into depth_noisy/ (render/depth_sensor.py); depth/ stays exact")

    @field_validator("occlusion_thresholds")
    @classmethod
    def _thresholds(cls, v):
        if not (0.0 <= v[0] <= v[1] <= 1.0):
            raise ValueError(f"need 0 <= t0 <= t1 <= 1, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        _formats_need_rgb(self)
        return self

    @field_validator("formats")
    @classmethod
    def _nonempty(cls, v):
        if not v:
            raise ValueError("at least one output format")
        if len(set(v)) != len(v):
            raise ValueError(f"repeated format in {v}")
        return v


def _formats_need_rgb(out: "OutputConfig") -> None:
    """COCO's ``file_name``, YOLO's ``images/`` and KITTI's ``image_2/`` refer to the RGB frames."""
    for name in ("coco", "kitti", "yolo"):
        if name in out.formats and not out.layers.rgb:
            raise ValueError(f"the {name} format refers to RGB images: keep layers.rgb true")
    if "webdataset" in out.formats and "bop" not in out.formats:
        raise ValueError("the webdataset format packs the BOP scene files (scene_gt.json, masks): "
                         "add bop to output.formats")


class ScenesConfig(_Model):
    count: int = Field(ge=1)
    views_per_scene: int = Field(ge=1, le=1000, description="BOP allows at most 1000 images per scene folder")
    max_frames: int | None = Field(default=None, ge=1, description="stop after this many frames in all (the last scene gets fewer views)")


class Recipe(_Model):
    """A whole dataset build. See recipes/clutter_bop.yaml for an annotated example."""

    seed: int = Field(ge=0)
    scenes: ScenesConfig
    camera: CameraConfig | None = None
    objects: list[ObjectSet] = []
    hands: HandConfig | None = None
    ar: ARConfig | None = None
    clutter: ClutterConfig = ClutterConfig()
    lights: LightConfig = LightConfig()
    appearance: AppearanceConfig = AppearanceConfig()
    effects: EffectsConfig = Field(default=EffectsConfig(), description="image effects on rgb/ only (render/effects.py)")
    output: OutputConfig = OutputConfig()

    @model_validator(mode="after")
    def _scene_kind(self):
        if self.ar is None and self.camera is None:
            raise ValueError("camera is required (except for ar scenes, which use the background's camera)")
        if self.ar is not None:
            if self.hands is not None:
                raise ValueError("ar scenes do not take hands")
            if self.scenes.views_per_scene != 1:
                raise ValueError("ar scenes have one view (the photo): set scenes.views_per_scene to 1")
            for i, o in enumerate(self.objects):
                if o.role == "distractor":
                    raise FieldValueError(("objects", i, "role"), "distractor sets are for clutter scenes (objects "
                                          "dropped by physics); ar scenes take targets only")
        return self

    @model_validator(mode="after")
    def _textures_for_set_looks(self):
        if not self.appearance.textures:
            for i, o in enumerate(self.objects):
                if o.look is not None and o.look.texture > 0:
                    raise FieldValueError(("objects", i, "look", "texture"),
                                          "weight > 0 needs a texture pool, but appearance.textures is empty")
        return self

    @model_validator(mode="after")
    def _camera_inside_room(self):
        """With ``support: room`` every camera position must lie inside the walls, or they hide the scene."""
        if self.ar is not None or self.camera is None or self.clutter.support != "room":
            return self
        cam, room = self.camera, self.clutter.room
        el = cam.elevation_deg
        nearest = 0.0 if el.min <= 0.0 <= el.max else min(abs(el.min), abs(el.max))
        reach = cam.distance.max * math.cos(math.radians(nearest))  # farthest horizontal eye offset, m
        for k in range(2):
            far = abs(cam.look_at.center[k]) + cam.look_at.jitter + reach
            inner = room.size[k] / 2 - cam.znear
            if far > inner:
                raise FieldValueError(("camera", "distance", "max"),
                                      f"{cam.distance.max} m puts the camera up to {far:.3g} m from the room's centre "
                                      f"along {'xy'[k]} (look_at.center + jitter + distance at elevation {nearest:g} "
                                      f"deg), but the room's walls stand at {room.size[k] / 2:.3g} m "
                                      f"(clutter.room.size) and the camera must stay znear ({cam.znear:g} m) inside "
                                      "them, or the walls would hide the scene; lower camera.distance.max or enlarge "
                                      "clutter.room.size")
        return self

    @model_validator(mode="after")
    def _view_control(self):
        check_view_control(self)
        return self

    @model_validator(mode="after")
    def _stereo(self):
        st = self.camera.stereo if self.camera is not None else None
        if st is None:
            return self
        if self.ar is not None:
            raise FieldValueError(("camera", "stereo"), "ar scenes have one real photo per view: no right view")
        other = [f for f in self.output.formats if f not in STEREO_FORMATS]
        if other:
            raise FieldValueError(("camera", "stereo"), f"the right views are written as split "
                                  f"'{st.right_split(self.output.split)}' by {' and '.join(STEREO_FORMATS)}; "
                                  f"output.formats {other} cannot hold them yet")
        try:
            disparity_scale(float(self.camera.K()[0, 0]), st.baseline, self.camera.znear)
        except ValueError as e:
            raise FieldValueError(("camera", "stereo", "baseline"), str(e)) from None
        return self

    @model_validator(mode="after")
    def _names_unique(self):
        names = [o.name for o in self.objects]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"object set names must be unique; repeated: {dup}")
        hands = self.hands.count.max if self.hands is not None else 0
        total = sum(o.count.max for o in self.objects)
        if sum(o.count.max for o in self.target_sets) == 0 and hands == 0:
            raise ValueError("no target objects and no hands: scenes would be empty" if total == 0 else
                             "no target objects and no hands: scenes would have nothing to label "
                             "(distractor sets are never labelled)")
        if total > MAX_OBJECTS_PER_SCENE:
            i = max(range(len(self.objects)), key=lambda k: self.objects[k].count.max)
            raise FieldValueError(("objects", i, "count", "max"),
                                  f"the object sets draw up to {total} instances per scene (sum of count.max); "
                                  f"the limit is {MAX_OBJECTS_PER_SCENE}")
        return self

    @property
    def target_sets(self) -> list[ObjectSet]:
        """Object sets with ``role: target``, in recipe order (the labelled models: BOP obj_ids 1..n)."""
        return [o for o in self.objects if o.role == "target"]

    @property
    def distractor_sets(self) -> list[ObjectSet]:
        """Object sets with ``role: distractor``, in recipe order (their own model ids 1..m)."""
        return [o for o in self.objects if o.role == "distractor"]

    @property
    def scene_kind(self) -> str:
        """'ar' (objects composited into real photos) or 'clutter' (objects dropped by physics)."""
        return "ar" if self.ar is not None else "clutter"

    def views_in_scene(self, scene_index: int) -> int:
        """Number of views rendered for ``scene_index`` (``max_frames`` may shorten the last)."""
        v = self.scenes.views_per_scene
        if self.scenes.max_frames is None:
            return v
        return max(0, min(v, self.scenes.max_frames - scene_index * v))

    def num_scenes(self) -> int:
        """Number of scenes to build (``max_frames`` may lower ``scenes.count``)."""
        n = self.scenes.count
        if self.scenes.max_frames is not None:
            n = min(n, math.ceil(self.scenes.max_frames / self.scenes.views_per_scene))
        return n
