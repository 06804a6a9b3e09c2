"""Recipes: the schema, reading and ``--set`` overrides (``loading``), and where recipe paths point (``sources``).
Imports only ``core`` and the format registry.

The schema is one pydantic model per recipe section: ``schema`` (the root, ``Recipe``, and ``scenes``; it
re-exports every section model), ``objects``, ``camera`` (with its sub-sections ``views``: view control,
``stereo`` and ``distortion``), ``clutter``, ``lighting`` (``lights``), ``appearance``, ``hands``, ``ar``,
``effects``, ``output`` (with ``depth_sensor``: ``output.depth_noisy``), ``tune`` (the search space of
``gtforge tune``, which ``gtforge build`` ignores), and ``base``, the building blocks they
share (the strict base model, ranges, colour ranges, weights, ``RecipeError`` and ``FieldValueError``).
"""

from .loading import apply_overrides, load_recipe, validate_recipe
from .schema import Recipe, RecipeError
from .sources import resolve_source

__all__ = ["Recipe", "RecipeError", "apply_overrides", "load_recipe", "resolve_source", "validate_recipe"]
