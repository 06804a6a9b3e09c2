"""Building blocks of the recipe models: the strict base model, ranges, and field-level errors.

Kept apart from :mod:`.schema` so that the recipe sections defined in their own modules (``views``,
``effects``, ``depth_sensor``) and ``schema`` itself can share them without importing each other in a circle.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
