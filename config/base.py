"""Building blocks of the recipe models: the strict base model, ranges, vectors, colour ranges, choice weights,
and the errors (:class:`RecipeError` for a whole recipe, :class:`FieldValueError` for one field of a model).

Kept apart from :mod:`.schema` so that the recipe sections, each in its own module (``objects``, ``camera``,
``clutter``, ``lighting``, ``appearance``, ``hands``, ``ar``, ``output``, ``views``, ``effects``, ...), and
``schema`` itself can share them without importing each other in a circle.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


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


class FieldValueError(ValueError):
    """A model validator's complaint about one field of its model.

    ``loc`` is that field's path relative to the model, e.g. ``("count", "max")``;
    :func:`~gtforge.config.loading.validate_recipe` appends it to the model's location, so the
    :class:`RecipeError` names the field itself (``objects[0].count.max``), not the whole model.
    """

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = tuple(loc)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Range(_Model):
    """Closed interval [min, max] of floats; a value is drawn uniformly from it."""

    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self):
        if not (math.isfinite(self.min) and math.isfinite(self.max)):
            raise ValueError("min and max must be finite")
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


class IntRange(_Model):
    """Closed interval [min, max] of non-negative integers."""

    min: int = Field(ge=0)
    max: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


def _fixed_range(v):
    """A single number ``x`` stands for the range {min: x, max: x}."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return {"min": float(v), "max": float(v)}
    return v


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
