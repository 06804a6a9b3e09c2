"""The documentation: the site builds with MkDocs in strict mode (a broken link, a missing page or anchor fails), the
recipes reference documents every recipe field with its unit and its true default, and the README keeps what it
promises (the lead names every output format; CI runs the README's test command verbatim)."""

import math
import re
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, TypeAdapter
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` of ``config`` into ``site`` (the environment's mkdocs, pinned in the test extras)."""
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], capture_output=True, text=True, timeout=300)


def test_docs_site_builds_in_strict_mode(tmp_path):
    r = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert r.returncode == 0, f"mkdocs build --strict failed (exit {r.returncode}):\n{r.stdout}\n{r.stderr}"
    pages = sorted(p.relative_to(DOCS).with_suffix("") for p in DOCS.rglob("*.md"))
    assert len(pages) >= 12
    for page in pages:  # every page is built (use_directory_urls: page/index.html)
        html = tmp_path / "site" / ("index.html" if page.name == "index" else page / "index.html")
        assert html.is_file(), f"docs/{page}.md was not built"
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    listed = set(re.findall(r"[\w/-]+\.md", str(nav)))
    assert listed == {f"{p}.md" for p in pages}, "every page in the nav, every nav entry a page"


@pytest.mark.parametrize("broken", ["[a page](no-such-page.md)", "[an anchor](conventions.md#no-such-heading)"])
def test_strict_mode_fails_on_a_broken_link(tmp_path, broken):
    """The configuration really refuses what it must: a copy of the docs with one broken link fails to build."""
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(DOCS, tmp_path / "docs")
    with open(tmp_path / "docs" / "index.md", "a", encoding="utf-8") as f:
        f.write(f"\n\nSee {broken}.\n")
    r = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert r.returncode != 0, f"a broken link passed mkdocs build --strict:\n{r.stdout}\n{r.stderr}"
    assert re.search(r"no-such-(page|heading)", r.stdout + r.stderr), r.stdout + r.stderr


# ----------------------------------------------------------------------------------------- recipes reference

def _models(annotation):
    """(model class, inside a list) of every pydantic model in a field's annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, False)]
    out = []
    for arg in typing.get_args(annotation):
        out += [(m, in_list or typing.get_origin(annotation) is list) for m, in_list in _models(arg)]
    return out


def recipe_sections() -> dict:
    """{field path of a section ('' for the root, ``objects[]``, ``camera.constraints``): pydantic model} for every
    section of a recipe; value types (ranges, colours, intrinsics) are documented once, not as sections."""
    from gtforge.config.base import IntRange, Range
    from gtforge.config.schema import ColorRange, Intrinsics, Recipe

    value_types = (Range, IntRange, ColorRange, Intrinsics)
    out = {}

    def walk(model, path):
        out[path] = model
        for name, field in model.model_fields.items():
            for sub, in_list in _models(field.annotation):
                if sub not in value_types:
                    walk(sub, (f"{path}.{name}" if path else name) + ("[]" if in_list else ""))

    walk(Recipe, "")
    return out


def documented_rows() -> dict:
    """{section path: {field: (type, default, unit, meaning)}} from the tables of docs/recipes.md."""
    text = (DOCS / "recipes.md").read_text(encoding="utf-8")
    rows: dict = {}
    paths: list = []
    for line in text.splitlines():
        if line.startswith("#"):
            paths = [""] if line.strip("# ").startswith("Top level") else re.findall(r"`([\w.\[\]]+)`", line)
            continue
        m = re.match(r"^\| `(\w+)` \| (.*) \|$", line)
        if m and paths:
            cells = [c.strip() for c in m.group(2).split(" | ")]
            assert len(cells) == 4, f"docs/recipes.md: a row needs type, default, unit, meaning: {line}"
            for p in paths:
                rows.setdefault(p, {})[m.group(1)] = tuple(cells)
    return rows


def _close(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _dump(v):
    return v.model_dump() if isinstance(v, BaseModel) else v


def test_recipes_reference_documents_every_field_with_unit_and_default():
    """Every section and field of the recipe schema has a row in docs/recipes.md with a unit, and its written default
    is the schema's ('required', 'unset' for None, 'see below' for a section documented under its own heading)."""
    rows = documented_rows()
    problems = []
    for path, model in recipe_sections().items():
        doc = rows.get(path)
        if doc is None:
            problems.append(f"section `{path}` ({model.__name__}) has no table")
            continue
        extra = set(doc) - set(model.model_fields)
        if extra:
            problems.append(f"`{path}`: documented fields that do not exist: {sorted(extra)}")
        for name, field in model.model_fields.items():
            where = f"{path}.{name}" if path else name
            if name not in doc:
                problems.append(f"`{where}` is not documented")
                continue
            type_, default, unit, meaning = doc[name]
            if not unit or not meaning:
                problems.append(f"`{where}`: unit and meaning must be stated")
            want = field.default
            if want is PydanticUndefined:
                ok = default == "required"
            elif want is None:
                ok = default == "unset"
            elif default.startswith("see below"):
                ok = isinstance(want, BaseModel)
            elif default.startswith("`") and default.endswith("`"):
                value = yaml.safe_load(default[1:-1])
                if isinstance(value, (int, float)) and "range or number" in type_:
                    value = {"min": value, "max": value}  # a single number stands for a fixed range
                try:
                    got = TypeAdapter(field.annotation).validate_python(value)
                except Exception as e:  # noqa: BLE001 - reported with the field
                    problems.append(f"`{where}`: documented default {default} does not validate: {e}")
                    continue
                ok = _close(_dump(got), _dump(want))
            else:
                ok = False
            if not ok:
                problems.append(f"`{where}`: documented default {default!r}, schema default {_dump(want)!r}")
    assert not problems, "docs/recipes.md is out of step with the recipe schema:\n" + "\n".join(problems)


def _merged(base: dict, part: dict) -> dict:
    out = dict(base)
    for k, v in part.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def recipe_snippets() -> list:
    """(page, YAML text) of every ``yaml`` code block of the docs whose top-level keys are recipe fields."""
    from gtforge.config.schema import Recipe

    out = []
    for page in sorted(DOCS.rglob("*.md")):
        for block in re.findall(r"```yaml\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S):
            data = yaml.safe_load(block)
            if isinstance(data, dict) and data and set(data) <= set(Recipe.model_fields):
                out.append((page.relative_to(DOCS).as_posix(), block))
    return out


def test_recipe_snippets_in_the_docs_validate():
    """A whole recipe shown in the docs validates as it stands; a part of one (``camera: {distortion: ...}``)
    validates in the bundled recipe it belongs to (an AR one for ``ar``, else the default recipe)."""
    from gtforge.config import RecipeError, validate_recipe

    snippets = recipe_snippets()
    assert len(snippets) >= 5
    for page, block in snippets:
        data = yaml.safe_load(block)
        if "seed" not in data:
            base = "ar_cars" if "ar" in data else "clutter_bop"
            data = _merged(yaml.safe_load((ROOT / "recipes" / f"{base}.yaml").read_text(encoding="utf-8")), data)
        try:
            validate_recipe(data, f"docs/{page}", DOCS)
        except RecipeError as e:
            pytest.fail(f"a recipe snippet of docs/{page} does not validate: {e}\n{block}")


# ----------------------------------------------------------------------------------------- README promises

def test_readme_lead_names_every_output_format():
    from gtforge.formats.registry import format_names

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lead = readme.split("\n## ", 1)[0].lower()
    names = {"bop": "bop", "coco": "coco", "kitti": "kitti", "yolo": "yolo", "webdataset": "webdataset"}
    missing = [n for n in format_names() if names.get(n, n) not in lead]
    assert not missing, f"the README's lead does not name the output formats {missing}"


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n\s*(bash \.ci/setup\.sh[^\n]*)\n", readme)
    assert len(commands) >= 2, "the README's quick start has its two commands"
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].strip() in ci.splitlines(), f".ci/run must run the README's command 2: {commands[1]}"
