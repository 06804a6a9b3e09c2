"""The bundled recipes as package data: found by name (``gtforge build NAME``), listed (``gtforge recipes``), copied
to edit (``gtforge init``), and ``python -m gtforge``. The installed wheel is tested in ``tests/test_packaging.py``."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from gtforge.config import RecipeError, load_recipe
from gtforge.config.loading import bundled_recipes, recipe_description, resolve_recipe

NAMES = sorted(p.stem for p in (ROOT / "recipes").glob("*.yaml"))


def test_bundled_recipes_are_the_recipes_folder():
    found = bundled_recipes()
    assert list(found) == NAMES and len(NAMES) >= 5
    for name, file in found.items():
        assert Path(str(file)).resolve() == (ROOT / "recipes" / f"{name}.yaml").resolve()


@pytest.mark.parametrize("name", NAMES)
def test_every_bundled_recipe_has_a_one_line_description(name):
    text = (ROOT / "recipes" / f"{name}.yaml").read_text(encoding="utf-8")
    desc = recipe_description(text)
    assert desc and len(desc) <= 110, f"recipes/{name}.yaml: its first line must be a '# description' comment"
    assert desc.endswith("."), desc


def test_recipe_description_needs_a_first_line_comment():
    assert recipe_description("# Cars in photos.\n# more\nseed: 0\n") == "Cars in photos."
    assert recipe_description("seed: 0\n# not a description\n") == ""
    assert recipe_description("") == ""


def test_gtforge_recipes_lists_every_bundled_recipe(capsys):
    assert run_cli("recipes") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == NAMES
    for line, name in zip(lines, NAMES, strict=True):
        desc = recipe_description((ROOT / "recipes" / f"{name}.yaml").read_text(encoding="utf-8"))
        assert line.endswith(desc) and line[len(name):].strip() == desc


def test_init_copies_a_bundled_recipe_and_never_overwrites(tmp_path, capsys):
    out = tmp_path / "mine.yaml"
    assert run_cli("init", "hands_objects", "--out", out) == 0
    assert out.read_bytes() == (ROOT / "recipes" / "hands_objects.yaml").read_bytes()
    assert "gtforge build" in capsys.readouterr().out
    out.write_text("# my edits\n")
    assert run_cli("init", "clutter_bop", "--out", out) == 2
    assert "exists" in capsys.readouterr().err
    assert out.read_text() == "# my edits\n"


def test_init_default_file_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli("init", "cut_paste") == 0
    assert (tmp_path / "cut_paste.yaml").read_bytes() == (ROOT / "recipes" / "cut_paste.yaml").read_bytes()


def test_init_unknown_name_exits_2_listing_the_bundled_ones(tmp_path, capsys):
    out = tmp_path / "x.yaml"
    assert run_cli("init", "no_such_recipe", "--out", out) == 2
    err = capsys.readouterr().err
    assert "no_such_recipe" in err and all(n in err for n in NAMES)
    assert not out.exists()


@pytest.mark.parametrize("name", NAMES)
def test_a_copied_recipe_loads_from_any_folder(tmp_path, name):
    """Copied away from the package, a bundled recipe resolves every source (its relative paths would resolve
    against its new folder; the bundled ones use pkg://, procedural:// and bundled:// only)."""
    out = tmp_path / "elsewhere" / "copy.yaml"
    out.parent.mkdir()
    assert run_cli("init", name, "--out", out) == 0
    recipe, _ = load_recipe(out)
    assert recipe.scenes.count >= 1


def test_resolve_recipe_file_wins_then_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Path(resolve_recipe("clutter_bop")).samefile(ROOT / "recipes" / "clutter_bop.yaml")
    (tmp_path / "clutter_bop").write_text("seed: 0\n")  # a file of that name wins
    assert resolve_recipe("clutter_bop") == "clutter_bop"
    assert resolve_recipe("sub/missing.yaml") == "sub/missing.yaml"  # a path: reported missing by the loader
    assert resolve_recipe("missing.yaml") == "missing.yaml"
    with pytest.raises(RecipeError) as e:
        resolve_recipe("no_such_recipe")
    assert all(n in str(e.value) for n in NAMES)


def test_build_unknown_name_exits_2_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli("build", "clutter_bob", "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.startswith("gtforge: error: clutter_bob: no such recipe file") and "clutter_bop" in err
    assert not (tmp_path / "out").exists()


def test_python_dash_m_gtforge():
    r = subprocess.run([sys.executable, "-m", "gtforge", "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    from gtforge import __version__

    assert r.stdout.strip() == f"gtforge {__version__}"
