"""Reading recipes: YAML file -> ``--set`` overrides -> validated :class:`~gtforge.config.schema.Recipe`.

Every problem becomes a :class:`~gtforge.config.schema.RecipeError` naming the file and the field
path, raised before anything renders (the CLI exits 2).

Also here: the recipes bundled with the package (``recipes/*.yaml`` inside the installed ``gtforge``, read with
:mod:`importlib.resources`), found by name (:func:`bundled_recipes`, :func:`resolve_recipe`), and the table of
recipe fields renamed or removed since a release (:data:`RENAMED_FIELDS`): recipes live in users' version
control and outlive releases, so a recipe that uses an old field name is told what to rename.
"""

from __future__ import annotations

import copy
import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .schema import Recipe, RecipeError

#: Most values (scalars, lists and mappings, each alias counted as often as it is used) a recipe may
#: expand to. Real recipes hold a few hundred; a YAML "billion laughs" file (aliases of aliases) is
#: small on disk but expands to billions, which validation would walk for ever.
MAX_RECIPE_VALUES = 100_000


@dataclass(frozen=True)
class RenamedField:
    """One recipe field that a release renamed or removed.

    Attributes
    ----------
    old : str
        Field path as recipes wrote it, ``[]`` standing for any list item: ``camera.fov_deg``,
        ``objects[].mesh``; a whole section is a one-part path (``lighting``).
    new : str or None
        Field path to use instead, with as many ``[]`` as ``old`` (filled with the same list indices); None when
        the field was removed.
    since : str
        The gtforge version that renamed or removed it.
    note : str
        What to do instead, for removed fields (or how a value changed meaning); may be empty.
    """

    old: str
    new: str | None
    since: str
    note: str = ""


#: Recipe fields renamed or removed since gtforge 0.1.0 (the first release), oldest first. Append an entry with
#: every rename or removal of a recipe field: a recipe that still uses the old name is then refused with a
#: :class:`~gtforge.config.schema.RecipeError` that names the file, the field and its new name (instead of
#: pydantic's "unknown key"). ``tests/config/test_recipe_compat.py`` builds the bundled recipes of 0.1.0 (kept
#: unchanged in ``tests/data/recipes_0.1/``) after every change. No field has been renamed or removed yet.
RENAMED_FIELDS: tuple[RenamedField, ...] = ()

#: A list item in a :class:`RenamedField` path.
_ANY_ITEM = object()


def _field_pattern(path: str) -> list:
    """``objects[].mesh`` -> ['objects', _ANY_ITEM, 'mesh']."""
    parts: list = []
    for tok in path.split("."):
        parts.append(tok.split("[]")[0])
        parts += [_ANY_ITEM] * tok.count("[]")
    return parts


def _pattern_hits(node: Any, pattern: list, loc: tuple = ()):
    """Locations (tuples of keys and list indices) in raw recipe data where ``pattern`` is present."""
    if not pattern:
        yield loc
        return
    head, rest = pattern[0], pattern[1:]
    if head is _ANY_ITEM:
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield from _pattern_hits(item, rest, loc + (i,))
    elif isinstance(node, dict) and head in node:
        yield from _pattern_hits(node[head], rest, loc + (head,))


def check_renamed_fields(data: Any, file: str, table: tuple[RenamedField, ...] | None = None) -> None:
    """Refuse raw recipe data that uses a field of :data:`RENAMED_FIELDS` (or ``table``).

    Parameters
    ----------
    data : Any
        Raw recipe data (YAML, before or after ``--set``).
    file : str
        Named in the error: the recipe file, or ``--set`` for an override.
    table : tuple of RenamedField, optional
        Default: :data:`RENAMED_FIELDS`, read at call time.

    Raises
    ------
    RecipeError
        At the first old field found (table order, then document order), naming the field where the recipe has
        it (``objects[2].mesh``), its new name with the same list indices (``objects[2].source``) or that it
        was removed, the version, and the table's note.
    """
    for entry in RENAMED_FIELDS if table is None else table:
        for loc in _pattern_hits(data, _field_pattern(entry.old)):
            where = _format_loc(loc)
            if entry.new is None:
                msg = f"this field was removed in gtforge {entry.since}; delete it from the recipe"
            else:
                indices = iter(i for i in loc if isinstance(i, int))
                new = _format_loc(tuple(next(indices) if p is _ANY_ITEM else p for p in _field_pattern(entry.new)))
                msg = f"this field was renamed to {new} in gtforge {entry.since}; rename {where} to {new} in the recipe"
            raise RecipeError(file, where, msg + (f" ({entry.note})" if entry.note else ""))


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
        For a field renamed or removed since a release (:func:`check_renamed_fields`), else the first problem
        pydantic reports (each names the field path; a validator's :class:`~gtforge.config.schema.FieldValueError`
        adds the sub-field it is about).
    """
    if not isinstance(data, dict):
        raise RecipeError(file, "", "a recipe must be a YAML mapping")
    check_renamed_fields(data, file)
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
        As :func:`read_recipe_file` (missing, unreadable, not UTF-8, bad YAML), bad override, a field renamed or
        removed since a release (naming the file, or ``--set`` when an override wrote it), or invalid field.
    """
    path = Path(path)
    raw = read_recipe_file(path)
    check_renamed_fields(raw, str(path))
    data = apply_overrides(raw, overrides or [])
    check_renamed_fields(data, "--set")  # the file's own fields passed above: a hit now is an override's
    recipe = validate_recipe(data, str(path), path.resolve().parent)
    return recipe, data


#: Suffix of bundled recipe files.
_RECIPE_SUFFIX = ".yaml"


def bundled_recipes() -> dict:
    """The recipes shipped inside the installed package (``recipes/*.yaml`` of ``gtforge``).

    Returns
    -------
    dict
        Name (file name without ``.yaml``) -> :class:`importlib.resources.abc.Traversable`, sorted by name
        (a :class:`~pathlib.Path` for a package installed as files, as pip installs it).
    """
    folder = importlib.resources.files("gtforge").joinpath("recipes")
    if not folder.is_dir():
        return {}
    files = [f for f in folder.iterdir() if f.name.endswith(_RECIPE_SUFFIX) and f.is_file()]
    return {f.name[: -len(_RECIPE_SUFFIX)]: f for f in sorted(files, key=lambda f: f.name)}


def recipe_description(text: str) -> str:
    """A recipe's one-line description: its first line when that is a YAML comment (``# ...``), without the
    ``#``; '' otherwise. Every bundled recipe starts with one (``tests/config/test_bundled_recipes.py``)."""
    first = text.splitlines()[0] if text else ""
    return first.lstrip("#").strip() if first.startswith("#") else ""


def _unknown_recipe(name: str) -> RecipeError:
    names = ", ".join(bundled_recipes()) or "none (the package was installed without its recipes)"
    return RecipeError(name, "", f"no such recipe file, and no bundled recipe of that name; bundled recipes: "
                                 f"{names} ('gtforge recipes' describes them)")


def resolve_recipe(arg: str | os.PathLike) -> str:
    """The recipe file that a command-line argument names: a file path, or the name of a bundled recipe.

    A file that exists wins over a bundled recipe of the same name. A bundled recipe is used where it is
    installed, so its relative paths (none in the bundled ones) would resolve against the package's
    ``recipes`` folder, and resuming finds the same file again.

    Returns
    -------
    str
        ``arg`` unchanged when it names an existing file, or when it looks like a path (a folder separator or a
        ``.yaml``/``.yml`` suffix: :func:`read_recipe_file` then reports it missing); else the bundled recipe's path.

    Raises
    ------
    RecipeError
        For a bare name that is neither a file nor a bundled recipe (listing the bundled names), or a bundled
        recipe that is not a file on disk (a zipped install: copy it out with ``gtforge init``).
    """
    text = os.fspath(arg)
    if Path(text).is_file() or os.sep in text or "/" in text or Path(text).suffix in (".yaml", ".yml"):
        return text
    found = bundled_recipes().get(text)
    if found is None:
        raise _unknown_recipe(text)
    if not isinstance(found, Path):
        raise RecipeError(text, "", "the bundled recipes are not plain files here (a zipped install): copy it "
                                    f"out with 'gtforge init {text} --out {text}.yaml' and build that file")
    return str(found)


def bundled_recipe_text(name: str) -> str:
    """The text of the bundled recipe ``name`` (UTF-8).

    Raises
    ------
    RecipeError
        For an unknown name, listing the bundled names.
    """
    found = bundled_recipes().get(name)
    if found is None:
        raise _unknown_recipe(name)
    return found.read_text(encoding="utf-8")
