"""Recipes outlive releases: the bundled recipes of gtforge 0.1.0, kept unchanged in ``tests/data/recipes_0.1/``,
still load and build after every change, or fail with a message saying what to rename (the loader's table of
renamed and removed fields, ``config.loading.RENAMED_FIELDS``)."""

import copy
from pathlib import Path

import pytest
import yaml
from conftest import run_cli

from gtforge.config import RecipeError, load_recipe, loading, validate_recipe
from gtforge.config.loading import RenamedField, check_renamed_fields

OLD = Path(__file__).resolve().parents[1] / "data" / "recipes_0.1"
OLD_NAMES = sorted(p.stem for p in OLD.glob("*.yaml"))

#: Tiny builds: 160x120 where the recipe has a camera (AR recipes take the photo's), one frame.
_K160 = "camera.intrinsics={fx: 143.1, fy: 143.4, cx: 81.3, cy: 60.5}"
TINY = {
    "clutter_bop": ["camera.width=160", "camera.height=120", _K160],
    "bop_pbr_like": ["camera.width=160", "camera.height=120", _K160],
    "hands_objects": ["camera.width=160", "camera.height=120"],
    "ar_cars": [],
    "cut_paste": [],
}


def _migrated(data: dict, table) -> dict:
    """``data`` with every table entry applied as its message says (old field moved to its new name, removed
    fields deleted): what a user does on reading the error."""
    data = copy.deepcopy(data)
    for entry in table:
        for loc in list(loading._pattern_hits(data, loading._field_pattern(entry.old))):
            parent = data
            for key in loc[:-1]:
                parent = parent[key]
            value = parent.pop(loc[-1])
            if entry.new is None:
                continue
            idx = iter(i for i in loc if isinstance(i, int))
            new = [next(idx) if p is loading._ANY_ITEM else p for p in loading._field_pattern(entry.new)]
            node = data
            for key in new[:-1]:
                node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
            node[new[-1]] = value
    return data


def test_the_0_1_recipes_are_all_kept():
    assert OLD_NAMES == ["ar_cars", "bop_pbr_like", "clutter_bop", "cut_paste", "hands_objects"]
    assert set(TINY) == set(OLD_NAMES)


@pytest.mark.parametrize("name", OLD_NAMES)
def test_a_0_1_recipe_still_loads_or_says_what_to_rename(name):
    path = OLD / f"{name}.yaml"
    try:
        load_recipe(path, TINY[name])
        return
    except RecipeError as e:
        # Only a field of the rename table may stop an old recipe, and its message must say what to do.
        assert str(path) in str(e) and ("renamed to" in e.message or "was removed in" in e.message), (
            f"a recipe of gtforge 0.1.0 no longer loads, and the error does not say what to rename: {e}\n"
            "Keep the field working, or add it to RENAMED_FIELDS in config/loading.py")
    # and following the messages makes it load again
    data = _migrated(yaml.safe_load(path.read_text(encoding="utf-8")), loading.RENAMED_FIELDS)
    validate_recipe(loading.apply_overrides(data, TINY[name]), str(path), OLD)


@pytest.mark.e2e
@pytest.mark.parametrize("name", OLD_NAMES)
def test_a_0_1_recipe_still_builds(tmp_path, name, capsys):
    """One frame (one scene, one view) of each 0.1.0 recipe, at 160x120 where it has a camera; a recipe that the
    rename table refuses is built after following its message."""
    path = OLD / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    migrated = _migrated(data, loading.RENAMED_FIELDS)
    if migrated != data:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(migrated, sort_keys=False), encoding="utf-8")
    out = tmp_path / "ds"
    rc = run_cli("build", path, "--out", out, "--quiet", "--frames", "1", *sum((["--set", s] for s in TINY[name]), []))
    captured = capsys.readouterr()
    assert rc == 0, f"gtforge build {path} failed (exit {rc}):\n{captured.out}\n{captured.err}"
    assert run_cli("verify", out, "--sample", "1") == 0, capsys.readouterr().out


# The table's mechanism, with planted entries: real loader code, not a stub.

RECIPE = """seed: 0
scenes: {count: 1, views: 2}
camera: {width: 64, height: 48, fov_y_deg: 45, distance: {min: 0.5, max: 0.8}, elevation_deg: {min: 30, max: 60}}
objects:
  - {name: duck, source: pkg://pybullet_data/duck_vhacd.urdf, count: {min: 1, max: 1}}
  - {name: cube, mesh: pkg://pybullet_data/cube_small.urdf, count: {min: 1, max: 1}}
"""

PLANTED = (
    RenamedField("scenes.views", "scenes.views_per_scene", "0.2.0"),
    RenamedField("objects[].mesh", "objects[].source", "0.2.0"),
)


def test_without_the_table_an_old_field_is_only_an_unknown_key(tmp_path):
    p = tmp_path / "old.yaml"
    p.write_text(RECIPE)
    with pytest.raises(RecipeError) as e:
        load_recipe(p)
    # pydantic's own words: a missing new field or an unknown old one, nothing about the rename
    assert e.value.path in ("scenes.views", "scenes.views_per_scene") and "renamed" not in e.value.message


def test_a_renamed_field_names_file_field_and_new_name(tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "RENAMED_FIELDS", PLANTED)
    p = tmp_path / "old.yaml"
    p.write_text(RECIPE)
    with pytest.raises(RecipeError) as e:
        load_recipe(p)
    assert e.value.file == str(p) and e.value.path == "scenes.views"
    assert "renamed to scenes.views_per_scene in gtforge 0.2.0" in e.value.message
    p.write_text(RECIPE.replace("views: 2", "views_per_scene: 2"))  # the next one, in a list item
    with pytest.raises(RecipeError) as e:
        load_recipe(p)
    assert e.value.path == "objects[1].mesh" and "rename objects[1].mesh to objects[1].source" in e.value.message
    p.write_text(RECIPE.replace("views: 2", "views_per_scene: 2").replace("mesh:", "source:"))
    assert load_recipe(p)[0].scenes.views_per_scene == 2  # renamed as told: loads


def test_a_renamed_field_from_set_names_set(tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "RENAMED_FIELDS", PLANTED)
    p = tmp_path / "new.yaml"
    p.write_text(RECIPE.replace("views: 2", "views_per_scene: 2").replace("mesh:", "source:"))
    with pytest.raises(RecipeError) as e:
        load_recipe(p, ["scenes.views=3"])
    assert e.value.file == "--set" and e.value.path == "scenes.views"


def test_a_removed_field_says_delete_it(tmp_path, monkeypatch):
    removed = RenamedField("clutter.gravity", None, "0.3.0", "gravity is 9.81 m/s^2")
    monkeypatch.setattr(loading, "RENAMED_FIELDS", (removed,))
    p = tmp_path / "old.yaml"
    p.write_text(RECIPE.replace("views: 2", "views_per_scene: 2").replace("mesh:", "source:")
                 + "clutter: {gravity: 9.0}\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(p)
    assert e.value.path == "clutter.gravity"
    assert e.value.message == ("this field was removed in gtforge 0.3.0; delete it from the recipe "
                               "(gravity is 9.81 m/s^2)")


def test_validate_recipe_checks_the_table_too(monkeypatch):
    monkeypatch.setattr(loading, "RENAMED_FIELDS", PLANTED)
    data = yaml.safe_load(RECIPE)
    with pytest.raises(RecipeError, match="scenes.views: this field was renamed"):
        validate_recipe(data, "resolved.yaml", ".")


def test_cli_exit_2_on_a_renamed_field(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(loading, "RENAMED_FIELDS", PLANTED)
    p = tmp_path / "old.yaml"
    p.write_text(RECIPE)
    assert run_cli("build", p, "--out", tmp_path / "out", "--quiet") == 2
    err = capsys.readouterr().err
    assert f"{p}: scenes.views: this field was renamed to scenes.views_per_scene" in err
    assert not (tmp_path / "out").exists()


def test_table_entries_are_well_formed():
    """Every real entry: old and new differ, and new has as many list items ([]) as old."""
    for entry in loading.RENAMED_FIELDS:
        assert entry.old != entry.new and entry.since
        if entry.new is not None:
            assert entry.new.count("[]") == entry.old.count("[]"), entry
    check_renamed_fields({"seed": 0}, "x.yaml")  # an empty or real table passes a recipe without old fields
