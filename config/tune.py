"""Recipe section ``tune``: the search space of ``gtforge tune`` (``tune/``), which ``gtforge build`` ignores.

Example (YAML)::

    tune:
      params:                              # the space; left out: the default space of tune/space.py
        - {path: camera.distance, bounds: [0.3, 2.0]}
        - {path: lights.temperature_k}     # bounds of the default space
        - {path: clutter.support, choices: [plane, bin]}
        - {path: effects.noise.photons_at_white, bounds: [30, 30000], log: true}
      fixed: [appearance.backdrop]         # kept as the recipe has them (with the default space)
      min_width_fraction: 0.25             # diversity guard: a range keeps at least this share of its width
      objective: auto                      # auto | content | appearance | adversarial | task
      sampler: auto                        # auto | match | tpe | cmaes (auto: match when the objective measures
                                           # statistics; else CMA-ES when every parameter is continuous, else TPE)

A parameter path is a recipe field path as ``--set`` writes it (``objects[0].count``, ``camera.look_at.jitter``).
Validated with the recipe (:func:`check_tune_paths`, called by the root model): a path that names no field of the
schema, a list item the recipe does not have, a field inside a section the recipe leaves unset, or a field that
defines the labels' meaning (:data:`LABEL_FIELDS`: classes, models, object sources, scales, the camera's image
and intrinsics, output conventions) is a :class:`~gtforge.config.base.RecipeError` naming ``tune.params[i].path``
(or ``tune.fixed[i]``), before anything runs. What a field's kind allows (a range, a number, weights, a choice, a
texture pool) and its search bounds are the tuner's (``tune/space.py``).
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field, model_validator

from .base import ColorRange, FieldValueError, IntRange, Range, Vec2, Weights, _Model

#: Recipe fields the tuner never touches, with the reason: they define what the labels mean (classes, models,
#: their sizes, the camera the labels are expressed in, the output conventions) or are set by the tuner itself
#: per trial (seed, number of frames, image size). ``[]`` stands for any list index; a listed path covers every
#: field below it.
LABEL_FIELDS: dict[str, str] = {
    "seed": "the tuner sets the build seed of each trial",
    "scenes": "the tuner sets the number of scenes and frames of each trial (its fidelity)",
    "camera.width": "the image size: the tuner scales it per trial (its fidelity); the tuned recipe keeps yours",
    "camera.height": "the image size: the tuner scales it per trial (its fidelity); the tuned recipe keeps yours",
    "camera.intrinsics": "the camera model the labels are expressed in",
    "camera.fov_y_deg": "the camera model the labels are expressed in",
    "objects[].name": "a class name",
    "objects[].source": "the models (object sources) define the classes",
    "objects[].role": "which objects are labelled",
    "objects[].scale": "the models' size in metres (the 6D labels' scale)",
    "objects[].normalize": "the models' frame and size",
    "objects[].variants": "the generated models",
    "objects[].symmetries": "the models' symmetries (BOP models_info.json)",
    "hands.backend": "the hand model",
    "hands.mano_model": "the hand model",
    "hands.flat_hand_mean": "the hand model",
    "hands.fingertip_ids": "the keypoint definition",
    "hands.write_vertices": "an output convention",
    "ar.backgrounds": "the real photos and their calibration (the labels' camera)",
    "ar.kitti_type": "a class name",
    "ar.carry_real_labels": "which labels are written",
    "output": "the output conventions (formats, layers, encodings, thresholds)",
    "tune": "the tune section itself",
}


def parse_path(path: str) -> tuple:
    """``objects[0].count.max`` or ``objects.0.count.max`` -> ('objects', 0, 'count', 'max'), as ``--set`` reads
    paths (``config.loading.apply_overrides``). Raises ValueError for an empty part."""
    parts: list = []
    for tok in str(path).replace("[", ".").replace("]", "").split("."):
        if tok == "":
            raise ValueError(f"bad field path {path!r} (expected e.g. camera.distance or objects[0].count)")
        parts.append(int(tok) if tok.isdigit() else tok)
    return tuple(parts)


def format_path(parts: tuple) -> str:
    """('objects', 0, 'count') -> ``objects[0].count`` (the form error messages and TUNED.yaml comments use)."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else ("." if out else "") + str(p)
    return out


def label_field(parts: tuple) -> tuple[str, str] | None:
    """(the :data:`LABEL_FIELDS` entry, its reason) that covers the field ``parts``, or None."""
    generic = format_path(tuple("[]" if isinstance(p, int) else p for p in parts)).replace(".[]", "[]")
    for entry, why in LABEL_FIELDS.items():
        if generic == entry or generic.startswith(entry + ".") or generic.startswith(entry + "["):
            return entry, why
    return None


@dataclass(frozen=True)
class FieldSpec:
    """What a recipe field path names in the schema.

    Attributes
    ----------
    parts : tuple
        The path's keys and list indices.
    kind : str
        ``range`` (:class:`~gtforge.config.base.Range`), ``int_range``, ``color_range``, ``weights``
        (a :class:`~gtforge.config.base.Weights` model), ``float``, ``int``, ``bool``, ``choice`` (a ``Literal``),
        ``vector`` (a fixed-length list of numbers), ``sources`` (a list of strings: a texture or photo pool),
        ``section`` (another model) or ``other``.
    choices : tuple
        ``choice``: the literal values; ``weights``: the choice names, in field order.
    lower, upper : float or None
        The field's own ``ge``/``gt`` and ``le``/``lt`` bounds (pydantic ``Field``), None where it states none
        (model validators may add more: ``tune/space.py`` knows those of the default space).
    open_lower, open_upper : bool
        The bound is strict (``gt``/``lt``).
    """

    parts: tuple
    kind: str
    choices: tuple = ()
    lower: float | None = None
    upper: float | None = None
    open_lower: bool = False
    open_upper: bool = False

    @property
    def path(self) -> str:
        return format_path(self.parts)


def _unwrap(annotation):
    """(annotation without Optional and Annotated, [metadata of the Annotated layers])."""
    meta: list = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            args = typing.get_args(annotation)
            annotation, meta = args[0], meta + list(args[1:])
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation, meta
            annotation = args[0]
        else:
            return annotation, meta


def _bounds(metadata) -> dict:
    out: dict = {}
    for m in metadata:
        for name, key, strict in (("ge", "lower", False), ("gt", "lower", True), ("le", "upper", False),
                                  ("lt", "upper", True)):
            v = getattr(m, name, None)
            if v is not None:
                out[key] = float(v)
                out["open_" + key] = strict
    return out


def _kind(annotation) -> tuple[str, tuple]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if issubclass(annotation, Range):
            return "range", ()
        if issubclass(annotation, IntRange):
            return "int_range", ()
        if issubclass(annotation, ColorRange):
            return "color_range", ()
        if issubclass(annotation, Weights):
            return "weights", tuple(annotation.model_fields)
        return "section", ()
    if annotation is bool:
        return "bool", (False, True)
    if annotation is float:
        return "float", ()
    if annotation is int:
        return "int", ()
    if typing.get_origin(annotation) is Literal:
        return "choice", typing.get_args(annotation)
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (None,)
        item, _ = _unwrap(item)
        if item is float:
            return "vector", ()
        if item is str:
            return "sources", ()
    return "other", ()


def describe_field(root: type[BaseModel], path: str) -> FieldSpec:
    """What ``path`` names in the schema whose root model is ``root`` (the recipe's :class:`Recipe`).

    Raises
    ------
    ValueError
        The path is malformed, or names no field (the message says which part, and the fields there).
    """
    parts = parse_path(path)
    model: type[BaseModel] | None = root
    annotation, meta = root, []
    for k, part in enumerate(parts):
        where = format_path(parts[:k]) or "the recipe"
        if isinstance(part, int):
            if typing.get_origin(annotation) is not list:
                raise ValueError(f"{where} is not a list: no item [{part}]")
            annotation, meta = _unwrap(typing.get_args(annotation)[0])
            model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
            continue
        if model is None:
            raise ValueError(f"{where} has no fields: {format_path(parts[:k + 1])} names no recipe field")
        field = model.model_fields.get(part)
        if field is None:
            raise ValueError(f"{format_path(parts[:k + 1])} names no recipe field ({where} has: "
                             f"{', '.join(model.model_fields)})")
        annotation, meta = _unwrap(field.annotation)
        meta = meta + list(field.metadata)
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    kind, choices = _kind(annotation)
    return FieldSpec(parts=parts, kind=kind, choices=choices, **_bounds(meta))


def recipe_value(data, parts: tuple):
    """(found, value) of the field ``parts`` in validated or raw recipe data (models, dicts, lists)."""
    node = data
    for p in parts:
        if isinstance(p, int):
            if not isinstance(node, list) or p >= len(node):
                return False, None
            node = node[p]
        elif isinstance(node, BaseModel):
            if p not in type(node).model_fields:
                return False, None
            node = getattr(node, p)
        elif isinstance(node, dict):
            if p not in node:
                return False, None
            node = node[p]
        else:
            return False, None
    return True, node


class TuneParam(_Model):
    """One parameter of a stated search space: a recipe field and how far it may move."""

    path: str = Field(min_length=1, description="recipe field path as --set writes it")
    bounds: Vec2 | None = Field(default=None, description="[lo, hi]: a number's, or a range's ends', limits; "
                                "unset: the default space's")
    choices: list[str | bool] | None = Field(default=None, description="a choice's (or bool's) allowed values, or "
                                             "the names a weights field may give weight to; unset: all")
    min_width: float | None = Field(default=None, ge=0, description="diversity guard for this range, in the "
                                    "field's unit; unset: min_width_fraction of its width in the recipe")
    log: bool = Field(default=False, description="search on a log scale (bounds > 0)")

    @model_validator(mode="after")
    def _check(self):
        if self.bounds is not None:
            lo, hi = self.bounds
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                raise FieldValueError(("bounds",), f"need finite lo <= hi, got {list(self.bounds)}")
            if self.log and lo <= 0:
                raise FieldValueError(("bounds",), f"log: true needs bounds > 0, got {list(self.bounds)}")
        if self.bounds is not None and self.choices is not None:
            raise FieldValueError(("choices",), "give bounds (a number or range) or choices (a choice), not both")
        if self.log and self.min_width is not None:
            raise FieldValueError(("min_width",), "with log: true the guard is min_width_fraction of the range's "
                                  "width in log units; leave min_width out")
        return self


class TuneConfig(_Model):
    """The search space of ``gtforge tune`` and its defaults (``gtforge build`` ignores this section)."""

    params: list[TuneParam] = Field(default=[], description="the search space; empty: the default space")
    fixed: list[str] = Field(default=[], description="fields of the default space kept as the recipe has them")
    min_width_fraction: float = Field(default=0.25, ge=0, le=1, description="diversity guard: a tuned range keeps "
                                      "at least this share of its width in the recipe")
    objective: Literal["auto", "content", "appearance", "adversarial", "task"] = "auto"
    sampler: Literal["auto", "match", "tpe", "cmaes"] = "auto"

    @model_validator(mode="after")
    def _unique(self):
        seen: dict = {}
        for i, p in enumerate(self.params):
            try:
                key = parse_path(p.path)
            except ValueError as e:
                raise FieldValueError(("params", i, "path"), str(e)) from None
            if key in seen:
                raise FieldValueError(("params", i, "path"), f"{p.path} is listed twice (also params[{seen[key]}])")
            seen[key] = i
        for j, f in enumerate(self.fixed):
            try:
                key = parse_path(f)
            except ValueError as e:
                raise FieldValueError(("fixed", j), str(e)) from None
            if key in seen:
                raise FieldValueError(("fixed", j), f"{f} is also a parameter (params[{seen[key]}]): tune it or fix "
                                      "it, not both")
        return self


def check_tune_paths(recipe, root: type[BaseModel]) -> None:
    """Check every path of ``recipe.tune`` against the schema and the recipe (the root model's validator).

    Parameters
    ----------
    recipe : Recipe
        The validated recipe (its ``tune`` may be None: nothing to check).
    root : type
        The root model class (:class:`~gtforge.config.schema.Recipe`).

    Raises
    ------
    FieldValueError
        At ``tune.params[i].path`` or ``tune.fixed[i]``: the path names no field, a list item the recipe lacks
        or a field inside a section the recipe leaves unset, or a field of :data:`LABEL_FIELDS`.
    """
    tune = recipe.tune
    if tune is None:
        return
    entries = [(("tune", "params", i, "path"), p.path) for i, p in enumerate(tune.params)]
    entries += [(("tune", "fixed", j), f) for j, f in enumerate(tune.fixed)]
    for loc, path in entries:
        try:
            spec = describe_field(root, path)
        except ValueError as e:
            raise FieldValueError(loc, str(e)) from None
        hit = label_field(spec.parts)
        if hit is not None:
            raise FieldValueError(loc, f"{spec.path} is not tunable: {hit[1]} (gtforge tune never changes {hit[0]})")
        for k in range(1, len(spec.parts)):
            whole = describe_field(root, format_path(spec.parts[:k]))
            if whole.kind in ("range", "int_range", "color_range", "weights"):
                raise FieldValueError(loc, f"{spec.path} is part of the {whole.kind.replace('_', ' ')} {whole.path}: "
                                      f"name {whole.path} itself (it is tuned as a whole)")
        node = recipe
        for k, part in enumerate(spec.parts[:-1]):
            found, node = recipe_value(node, (part,))
            if not found:
                raise FieldValueError(loc, f"{spec.path}: the recipe has no {format_path(spec.parts[:k + 1])}")
            if node is None:
                raise FieldValueError(loc, f"{spec.path}: the recipe leaves {format_path(spec.parts[:k + 1])} unset; "
                                      "set that section first")
