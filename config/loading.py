"""Reading recipes: YAML file -> ``--set`` overrides -> validated :class:`~gtforge.config.schema.Recipe`.

Every problem becomes a :class:`~gtforge.config.schema.RecipeError` naming the file and the field
path, raised before anything renders (the CLI exits 2).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .schema import Recipe, RecipeError


def _format_loc(loc: tuple) -> str:
    """Pydantic error location -> field path, e.g. ('objects', 2, 'count') -> ``objects[2].count``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _parse_set_path(path: str) -> list:
    """``objects[0].count.max`` or ``objects.0.count.max`` -> ['objects', 0, 'count', 'max']."""
    parts: list = []
    for tok in path.replace("[", ".").replace("]", "").split("."):
        if tok == "":
            raise ValueError(f"bad key path {path!r}")
        parts.append(int(tok) if tok.isdigit() else tok)
    return parts


def apply_overrides(data: dict, overrides: list[str], file: str = "<overrides>") -> dict:
    """Apply ``key.path=value`` overrides (value parsed as YAML) to a copy of raw recipe data.

    Raises
    ------
    RecipeError
        For a malformed override or a path through a missing list index or a non-mapping.
        (Unknown keys are left to validation, which names them.)
    """
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise RecipeError("--set", item, "expected key.path=value")
        key, _, raw = item.partition("=")
        try:
            parts = _parse_set_path(key.strip())
            value = yaml.safe_load(raw)
        except (ValueError, yaml.YAMLError) as e:
            raise RecipeError("--set", key, str(e)) from None
        node: Any = data
        for i, p in enumerate(parts):
            last = i == len(parts) - 1
            where = _format_loc(tuple(parts[: i + 1]))
            if isinstance(p, int):
                if not isinstance(node, list) or p >= len(node):
                    raise RecipeError("--set", where, "no such list item in the recipe")
            elif not isinstance(node, dict):
                raise RecipeError("--set", where, "parent is not a mapping")
            if last:
                node[p] = value
            else:
                if isinstance(p, str) and p not in node:
                    node[p] = {}
                node = node[p]
    return data


def validate_recipe(data: Any, file: str, base_dir: str | os.PathLike) -> Recipe:
    """Validate raw recipe data.

    Raises
    ------
    RecipeError
        For the first problem pydantic reports (each names the field path).
    """
    if not isinstance(data, dict):
        raise RecipeError(file, "", "a recipe must be a YAML mapping")
    try:
        return Recipe.model_validate(data, context={"base_dir": str(base_dir)})
    except ValidationError as e:
        err = e.errors()[0]
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif "input" in err and err["type"] not in ("missing",) and not isinstance(err["input"], (dict, list)):
            msg += f" (got {err['input']!r})"
        raise RecipeError(file, _format_loc(err["loc"]), msg) from None


def load_recipe(path: str | os.PathLike, overrides: list[str] | None = None) -> tuple[Recipe, dict]:
    """Read, override and validate a recipe file.

    Returns
    -------
    recipe : Recipe
    resolved : dict
        The raw data after overrides (what is copied into the output folder).

    Raises
    ------
    RecipeError
        Missing/unreadable file, bad YAML, bad override or invalid field.
    """
    path = Path(path)
    if not path.is_file():
        raise RecipeError(str(path), "", "recipe file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise RecipeError(str(path), "", f"not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise RecipeError(str(path), "", "a recipe must be a YAML mapping")
    data = apply_overrides(data, overrides or [])
    recipe = validate_recipe(data, str(path), path.resolve().parent)
    return recipe, data
