"""The model library as the stages see it: models by ``obj_id`` (interfaces only).

``assets.loaders.AssetLibrary`` (and its ``Asset``) is the one implementation: it reads the recipe's object sets
from files. Scene builders, the renderer and the format writers need only what these protocols state, so they
are typed against them and a test can hand them any object with the same members (a few assets in a dict).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

if TYPE_CHECKING:  # the annotation only: core imports no mesh library at run time
    import trimesh

    from .description import PartLook


class ModelEntry(NamedTuple):
    """One model of a library, before it is loaded.

    Attributes
    ----------
    obj_id : int
        1-based id, stable for a recipe (object sets in recipe order, then files sorted by path).
    class_name : str
        Human-readable class name (COCO/YOLO category name).
    set_name : str
        Name of the recipe object set it belongs to.
    path : Path
        Its file (a ``procedural://cars/<i>`` path for generated cars).
    scale : float
        Factor from the file's units to metres.
    """

    obj_id: int
    class_name: str
    set_name: str
    path: Path
    scale: float


class ModelAsset(Protocol):
    """One rigid model: a triangle mesh whose vertex coordinates define the model frame (metres)."""

    @property
    def obj_id(self) -> int: ...

    @property
    def class_name(self) -> str: ...

    @property
    def set_name(self) -> str: ...

    @property
    def source(self) -> str:
        """The file (or generator) it came from, for messages."""

    @property
    def mesh(self) -> trimesh.Trimesh:
        """Vertices (n, 3) float64 in metres, model frame; faces (m, 3) int64; its visual when the file has one."""

    @property
    def base_color(self) -> np.ndarray | None:
        """(4,) float64 RGBA in [0, 1] for a mesh without a visual (a URDF colour), or None."""

    @property
    def face_parts(self) -> np.ndarray | None:
        """(m,) int64 index into :attr:`parts` of each face (multi-part models), or None."""

    @property
    def parts(self) -> tuple[PartLook, ...]:
        """Looks of the parts named by :attr:`face_parts` (empty for one-part models)."""

    @property
    def center(self) -> np.ndarray:
        """(3,) float64 centre of the mesh's axis-aligned bounding box, model frame, metres."""

    @property
    def radius(self) -> float:
        """Metres: the sphere around :attr:`center` holding every vertex."""

    @property
    def has_texture(self) -> bool:
        """True when the mesh carries UVs and a texture image."""


class ModelLibrary(Protocol):
    """Models by 1-based ``obj_id``: what scene builders, the renderer and the format writers use of a library."""

    @property
    def entries(self) -> Sequence[ModelEntry]:
        """Every model in ``obj_id`` order (``entries[i].obj_id == i + 1``)."""

    @property
    def set_ids(self) -> Mapping[str, Sequence[int]]:
        """The ``obj_id`` s of each object set, by set name."""

    def __len__(self) -> int:
        """Number of models."""

    def get(self, obj_id: int) -> ModelAsset:
        """The model with ``obj_id`` (loaded on first use). Raises KeyError or IndexError for an unknown id; a
        library that reads files raises its own error for a file it cannot read (``assets.loaders.AssetError``)."""

    def symmetries(self, obj_id: int) -> dict:
        """BOP ``models_info.json`` symmetry fields (``symmetries_discrete``, ``symmetries_continuous``; mm) of a
        model; {} when it has none."""
