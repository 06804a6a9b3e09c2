"""What ``gtforge tune`` writes: the tuned recipe (TUNED.yaml) and ``tune.json``.

**TUNED.yaml** is the original recipe file, read and written by ruamel.yaml's round-trip mode (its comments, key
order, flow and block styles and quoting kept), with each changed field's value replaced and an end-of-line
comment on it: ``# <the user's comment>; gtforge tune: <before> -> <after>`` (``unset (default <value>)`` for a
field the recipe left unset, which is then added in block style under its section). A texture pool keeps the
sources it kept in place (their comments with them) and says which it dropped. A header comment after the recipe's
leading comment block names the tune (reference, objective, seed, trials, tune.json). The text is validated
(``config.loading.validate_recipe`` from the folder it is written to) before it is written, atomically.

**tune.json** (written atomically with :func:`write_tune_json`): every trial (number, fidelity, parameters, the
values written, objective values and their components, seeds, seconds, state), the best, the search space, the
fidelity schedule, the reference, the objective and software versions (``tune/study.py`` assembles it).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import yaml

from ..config.base import RecipeError
from ..config.loading import validate_recipe
from ..config.schema import Recipe
from ..formats.atomic import write_json_atomic, write_text_atomic
from .space import Change

#: The comment's marker, so that a tuned recipe's changes can be found again (and tuned again).
MARK = "gtforge tune:"


def flow(value) -> str:
    """A raw recipe value as one line of YAML flow text (``{min: 0.45, max: 0.75}``, ``[a, b]``, ``true``)."""
    if hasattr(value, "items"):
        value = {k: v for k, v in value.items()}
    text = yaml.safe_dump(_plain(value), default_flow_style=True, width=10**6, sort_keys=False).strip()
    return text[:-4].strip() if text.endswith("\n...") or text.endswith(" ...") else text


def _plain(v):
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return v
    return v


def change_comment(change: Change) -> str:
    """``before -> after`` of one change (sources: which were dropped)."""
    before = flow(change.before) if change.was_set else f"unset (default {flow(change.before)})"
    if isinstance(change.before, list) and isinstance(change.after, list) and change.was_set \
            and all(isinstance(s, str) for s in change.before) and set(change.after) <= set(change.before):
        dropped = [s for s in change.before if s not in change.after]
        return f"{MARK} dropped {flow(dropped)} (kept {len(change.after)} of {len(change.before)} sources)"
    return f"{MARK} {before} -> {flow(change.after)}"


def _yaml():
    from ruamel.yaml import YAML  # noqa: PLC0415 - ruamel.yaml is the optional tune extra

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 120
    return y


def _node(value, flow_style: bool = True):
    """A ruamel node for a raw value: mappings and lists in flow style (as the recipes write ranges and weights)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq  # noqa: PLC0415 - ruamel.yaml is the optional tune extra

    if isinstance(value, dict):
        node = CommentedMap((k, _node(v)) for k, v in value.items())
        if flow_style:
            node.fa.set_flow_style()
        return node
    if isinstance(value, (list, tuple)):
        node = CommentedSeq(_node(v) for v in value)
        if flow_style:
            node.fa.set_flow_style()
        return node
    return value


def _comment_on(parent, key, text: str) -> None:
    """Add ``text`` as the end-of-line comment of ``parent[key]``, after the user's own comment there (kept)."""
    existing = parent.ca.items.get(key) if hasattr(parent, "ca") else None
    old, column = "", None
    if existing:
        for token in existing:
            tok = token[0] if isinstance(token, list) and token else token
            if tok is not None and getattr(tok, "value", "").lstrip().startswith("#"):
                first = tok.value.strip().splitlines()[0]
                old = first.lstrip("#").strip()
                column = getattr(tok, "column", None)
                rest = tok.value.strip().splitlines()[1:]
                if rest:  # full-line comments that followed: keep them below
                    text = text + "\n" + "\n".join(rest)
                break
        parent.ca.items.pop(key, None)
    if not old:
        comment = text
    elif MARK in old:  # a second change commented on the same line
        comment = f"{old}; {text.split(MARK, 1)[1].strip()}"
    else:
        comment = f"{old}; {text}"
    kwargs = {"column": column} if column else {}
    parent.yaml_add_eol_comment(comment.split("\n")[0], key, **kwargs)


def _set(doc, change: Change) -> None:
    """Write one change into the round-trip document and comment it on the nearest block-style line."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq  # noqa: PLC0415 - ruamel.yaml is the optional tune extra

    def is_flow(n) -> bool:
        return isinstance(n, (CommentedMap, CommentedSeq)) and bool(n.fa.flow_style())

    node, anchor = doc, None  # anchor: (block container, key) of the line the comment goes on
    for k, part in enumerate(change.parts[:-1]):
        if not isinstance(part, int) and (part not in node or node[part] is None):
            node[part] = CommentedMap()
        if anchor is None and is_flow(node[part]):
            anchor = (node, part, change.parts[k + 1:])
        node = node[part]
    key = change.parts[-1]
    old = node.get(key) if isinstance(node, dict) else None
    new = change.after
    if isinstance(old, CommentedSeq) and isinstance(new, list) and all(v in list(old) for v in new) \
            and not is_flow(old):
        for j in reversed(range(len(old))):  # a pool keeps its kept sources in place, with their comments
            if old[j] not in new:
                del old[j]
    elif isinstance(old, CommentedMap) and not is_flow(old) and isinstance(new, dict):
        for k, v in new.items():  # keep a block mapping's layout: write its keys
            old[k] = _node(v)
        for k in [k for k in old if k not in new]:
            del old[k]
    else:
        node[key] = _node(new, flow_style=old is None or is_flow(old)
                          or not isinstance(old, (CommentedMap, CommentedSeq)))
    text = change_comment(change)
    if anchor is None:
        _comment_on(node, key, text)
    else:
        sub = ".".join(str(p) for p in anchor[2])
        _comment_on(anchor[0], anchor[1], text.replace(MARK, f"{MARK} {sub}:", 1))


def _indents(text: str) -> tuple[int, int]:
    """(mapping indent, block sequence offset) of a YAML text, so that a rewritten recipe keeps its layout."""
    from ruamel.yaml.util import load_yaml_guess_indent  # noqa: PLC0415 - ruamel.yaml is the optional tune extra

    mapping, last_key_indent = None, None
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        if last_key_indent is not None and indent > last_key_indent and not stripped.startswith("-"):
            mapping = indent - last_key_indent if mapping is None else min(mapping, indent - last_key_indent)
        last_key_indent = indent if stripped.rstrip().endswith(":") else None
    _, _, offset = load_yaml_guess_indent(text)
    return mapping or 2, offset if offset is not None else 0


def tuned_recipe_text(recipe_text: str, changes: list[Change], header: list[str] = ()) -> str:
    """The original recipe text with ``changes`` written and commented (module docstring).

    Parameters
    ----------
    recipe_text : str
        The original recipe file's text (UTF-8 YAML).
    changes : list of Change
        From :meth:`~gtforge.tune.space.SearchSpace.changes`.
    header : list of str
        Comment lines (without ``#``) inserted after the recipe's leading comment block.

    Returns
    -------
    str
        YAML text.
    """
    y = _yaml()
    mapping, offset = _indents(recipe_text)
    y.indent(mapping=mapping, sequence=mapping + offset, offset=offset)
    doc = y.load(recipe_text)
    for change in changes:
        _set(doc, change)
    buf = io.StringIO()
    y.dump(doc, buf)
    lines = buf.getvalue().splitlines()
    k = 0
    while k < len(lines) and (lines[k].startswith("#") or not lines[k].strip()):
        k += 1
    lines[k:k] = [f"# {h}" if h else "#" for h in header]
    return "\n".join(lines) + "\n"


def write_tuned_recipe(path: str | os.PathLike, recipe_text: str, changes: list[Change], header: list[str] = ()
                       ) -> Recipe:
    """Write TUNED.yaml (atomically) after checking that it loads and validates from its own folder.

    Returns
    -------
    Recipe
        The tuned recipe, validated.

    Raises
    ------
    RecipeError
        When the tuned text does not validate (naming ``path`` and the field); nothing is written then.
    """
    path = Path(path)
    text = tuned_recipe_text(recipe_text, changes, header)
    data = yaml.safe_load(text)
    recipe = validate_recipe(data, str(path), path.resolve().parent)
    write_text_atomic(path, text)
    return recipe


def check_recipe_folder(raw: dict, recipe_file: str | os.PathLike, out: str | os.PathLike) -> None:
    """Raise RecipeError when the recipe, moved to ``out``'s folder, would not validate there (relative paths that
    point elsewhere), before anything is written."""
    try:
        validate_recipe(raw, str(recipe_file), Path(out).resolve().parent)
    except RecipeError as e:
        raise RecipeError(str(out), e.path, f"the tuned recipe would not validate in {Path(out).resolve().parent} "
                          f"({e.message}): the recipe's relative paths point from its own folder; write --out "
                          "beside the recipe, or make its paths absolute (or pkg://)") from None


def write_tune_json(path: str | os.PathLike, content: dict) -> None:
    """Write ``tune.json`` atomically (indented JSON, UTF-8)."""
    write_json_atomic(path, content)
