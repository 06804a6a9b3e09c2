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

#: Most values (scalars, lists and mappings, each alias counted as often as it is used) a recipe may
#: expand to. Real recipes hold a few hundred; a YAML "billion laughs" file (aliases of aliases) is
#: small on disk but expands to billions, which validation would walk for ever.
MAX_RECIPE_VALUES = 100_000


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
        For the first problem pydantic reports (each names the field path; a validator's
        :class:`~gtforge.config.schema.FieldValueError` adds the sub-field it is about).
    """
    if not isinstance(data, dict):
        raise RecipeError(file, "", "a recipe must be a YAML mapping")
    try:
        return Recipe.model_validate(data, context={"base_dir": str(base_dir)})
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"]) + tuple(getattr((err.get("ctx") or {}).get("error"), "loc", ()))
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif "input" in err and err["type"] not in ("missing",) and not isinstance(err["input"], (dict, list)):
            msg += f" (got {err['input']!r})"
        raise RecipeError(file, _format_loc(loc), msg) from None


def _expanded_size(data: Any, limit: int) -> int:
    """Number of values in ``data`` with every shared (aliased) node counted once per use, stopping
    past ``limit``. Iterative and memoised by node identity, so a deep or alias-bomb document is cheap."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, done = stack.pop()
        if not isinstance(node, (dict, list)) or (id(node) in sizes and not done):
            continue
        if id(node) in open_ and not done:
            return limit + 1  # a node inside itself (recursive alias): expands without end
        children = list(node.values()) if isinstance(node, dict) else node
        if not done:
            open_.add(id(node))
            stack.append((node, True))
            stack += [(c, False) for c in children]
            continue
        open_.discard(id(node))
        sizes[id(node)] = n = 1 + sum(sizes.get(id(c), 1) for c in children)
        if n > limit:
            return n
    return sizes.get(id(data), 1)


def read_recipe_file(path: Path) -> dict:
    """Raw recipe data from a YAML file (UTF-8), before overrides and validation.

    Raises
    ------
    RecipeError
        Naming ``path``: missing or unreadable file, bytes that are not UTF-8 (binary files included),
        invalid or too deeply nested YAML, a document that is not a mapping, or one that expands
        (through YAML aliases) to more than :data:`MAX_RECIPE_VALUES` values.
    """
    if not path.is_file():
        raise RecipeError(str(path), "", "recipe file not found")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise RecipeError(str(path), "", f"cannot read: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise RecipeError(str(path), "", f"not a UTF-8 text file: byte 0x{raw[e.start]:02x} at line {line}, "
                                         f"column {col} (a recipe is YAML text saved as UTF-8)") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RecipeError(str(path), "", f"not valid YAML: {e}") from None
    except RecursionError:
        raise RecipeError(str(path), "", "not valid YAML: nested too deeply") from None
    if not isinstance(data, dict):
        raise RecipeError(str(path), "", "a recipe must be a YAML mapping")
    if _expanded_size(data, MAX_RECIPE_VALUES) > MAX_RECIPE_VALUES:
        raise RecipeError(str(path), "", f"the recipe expands to more than {MAX_RECIPE_VALUES} values "
                                         "(YAML aliases of aliases, or an alias inside itself?)")
    return data


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
        As :func:`read_recipe_file` (missing, unreadable, not UTF-8, bad YAML), bad override or invalid field.
    """
    path = Path(path)
    data = apply_overrides(read_recipe_file(path), overrides or [])
    recipe = validate_recipe(data, str(path), path.resolve().parent)
    return recipe, data
