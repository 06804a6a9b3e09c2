"""Recipe section ``objects``: the object sets (meshes dropped into clutter scenes or placed into photos), their
physics, symmetries and size normalisation."""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from .appearance import LookWeights
from .base import FieldValueError, IntRange, Range, Vec3, _Model
from .sources import MESH_SUFFIXES, PROCEDURAL_SOURCES, resolve_source


#: Most object instances one scene may hold (sum of ``count.max`` over the object sets, targets and
#: distractors together). Each instance
#: costs an amodal render pass and two mask files per view and a rigid body in the physics, and the drop
#: placement tests every pair of instances: past a few hundred a scene takes minutes.
MAX_OBJECTS_PER_SCENE = 500


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
    scale: float = Field(
        default=1.0, gt=0,
        description="multiplies mesh coordinates into metres (URDF scales are applied first; BOP folders: mm are "
                    "converted already)")
    mass: float = Field(default=0.1, gt=0, description="kg per instance")
    friction: float = Field(default=0.6, ge=0)
    restitution: float = Field(default=0.0, ge=0, le=1)
    collision: Literal["hull", "vhacd", "mesh"] = Field(
        default="hull",
        description="physics shape (assets/collision.py): hull = a URDF's own convex decomposition when it ships "
                    "one (<collision> mesh objects that are each convex, e.g. pybullet_data's *_vhacd.urdf), else the "
                    "visual mesh's convex hull; vhacd = the visual mesh's convex hull when exact, else its V-HACD "
                    "convex decomposition (pybullet.vhacd, cached per mesh); mesh = the exact triangle mesh as a "
                    "static body (pybullet collides concave meshes only for static bodies): it is lowered onto the "
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
