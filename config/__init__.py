"""Recipes: the schema (``schema``), reading and ``--set`` overrides (``loading``), and where recipe
paths point (``sources``). Imports only ``core`` and the format registry."""

from .loading import apply_overrides, load_recipe, validate_recipe
from .schema import Recipe, RecipeError
from .sources import resolve_source

__all__ = ["Recipe", "RecipeError", "apply_overrides", "load_recipe", "resolve_source", "validate_recipe"]
