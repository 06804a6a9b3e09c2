"""TUNED.yaml (tune/recipe_out.py): the original file with the changed values, each commented before -> after, the
user's comments and layout kept; it loads and validates."""

import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
import yaml
from conftest import DEFAULT_RECIPE, ROOT

from gtforge.config import RecipeError, load_recipe
from gtforge.tune.recipe_out import MARK, check_recipe_folder, tuned_recipe_text, write_tuned_recipe

sys.path.insert(0, str(Path(__file__).parent))
from tune_helpers import BUNDLED, random_point, space_of


@pytest.mark.parametrize("name", BUNDLED)
def test_no_change_gives_the_file_back_byte_for_byte(name):
    text = (ROOT / "recipes" / f"{name}.yaml").read_text()
    assert tuned_recipe_text(text, []) == text


@pytest.mark.parametrize("name", BUNDLED)
def test_round_trip_of_a_tuned_point(name, tmp_path):
    space, recipe, raw = space_of(name)
    text = (ROOT / "recipes" / f"{name}.yaml").read_text()
    point = random_point(space, np.random.default_rng(11))
    changes = space.changes(raw, point)
    assert len(changes) > 10
    out = tmp_path / "TUNED.yaml"
    tuned = write_tuned_recipe(out, text, changes, ["tuned by gtforge tune (test)"])
    written = out.read_text()
    assert yaml.safe_load(written) == space.apply(raw, point)  # the values of the point, nothing else
    loaded, _ = load_recipe(out)  # loads and validates from its own folder
    assert loaded == tuned
    # every change is commented on its line (or its flow mapping's line), before -> after
    assert written.count(" -> ") + written.count(": dropped [") + written.count(" dropped [") >= len(changes)
    for c in changes:
        if c.was_set and isinstance(c.before, dict) and "min" in c.before:
            line = next(ln for ln in written.splitlines() if f"{c.parts[-1]}: {{min:" in ln and MARK in ln
                        and str(c.after["min"]) in ln)
            assert "->" in line
    # the user's comments stay: every comment of the original is still there (but those of dropped sources)
    dropped = {s for c in changes if isinstance(c.after, list) for s in c.before if s not in c.after}
    original_comments = [ln.split("#", 1)[1].strip() for ln in text.splitlines()
                         if "#" in ln and ln.split("#", 1)[0].strip().lstrip("- ") not in dropped]
    missing = [c for c in original_comments if c and c not in written]
    assert not missing, missing[:3]
    assert written.splitlines()[0] == text.splitlines()[0]  # the description line stays first


def test_comment_text_and_unset_fields():
    space, recipe, raw = space_of("clutter_bop")
    text = DEFAULT_RECIPE.read_text()
    point = space.defaults() | {"camera.distance/centre": 1.2, "camera.distance/width": 0.4,
                                "effects.noise.probability": 0.5, "camera.elevation_deg/centre": 40.0,
                                "camera.look_at.jitter": 0.05}
    written = tuned_recipe_text(text, space.changes(raw, point), ["tuned", ""])
    lines = written.splitlines()
    dist = next(ln for ln in lines if ln.startswith("  distance:"))
    assert dist.startswith("  distance: {min: 1.0, max: 1.4} ")
    assert dist.endswith("# gtforge tune: {min: 0.45, max: 0.75} -> {min: 1.0, max: 1.4}")
    elev = next(ln for ln in lines if ln.startswith("  elevation_deg:"))
    assert elev.startswith("  elevation_deg: {min: 17.5, max: 62.5}")
    assert "# lower views: more mutual occlusion; gtforge tune: {min: 25, max: 70} -> {min: 17.5, max: 62.5}" in elev
    look = next(ln for ln in lines if ln.startswith("  look_at:"))
    assert look.endswith("# gtforge tune: jitter: 0.03 -> 0.05") and "jitter: 0.05}" in look
    assert "    probability: 0.5  # gtforge tune: unset (default 0.0) -> 0.5" in lines
    assert lines[lines.index("seed: 0") - 2:lines.index("seed: 0")] == ["# tuned", "#"]


def test_relative_paths_that_would_break_in_another_folder_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    raw = yaml.safe_load(DEFAULT_RECIPE.read_text())
    trimesh.creation.box(extents=(0.05, 0.05, 0.05)).export(tmp_path / "a" / "m.ply")
    raw["objects"] = [{"name": "m", "source": "m.ply", "count": {"min": 1, "max": 1}}]
    recipe = tmp_path / "a" / "r.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    check_recipe_folder(raw, recipe, tmp_path / "a" / "TUNED.yaml")  # beside the recipe: fine
    with pytest.raises(RecipeError) as e:
        check_recipe_folder(raw, recipe, tmp_path / "b" / "TUNED.yaml")
    assert "objects[0].source" in str(e.value) and "relative paths" in str(e.value)
