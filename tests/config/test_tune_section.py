"""The recipe's optional ``tune:`` section (config/tune.py): validated with the recipe, every bad path named as
``tune.params[i].path`` (exit 2, nothing written), and ignored by ``gtforge build``."""

import copy
import hashlib
import json

import pytest
import yaml
from conftest import DEFAULT_RECIPE, SMALL, run_cli

from gtforge.config import RecipeError, validate_recipe
from gtforge.config.schema import Recipe
from gtforge.config.tune import LABEL_FIELDS, describe_field, label_field, parse_path

RAW = yaml.safe_load(DEFAULT_RECIPE.read_text())


def with_tune(tune: dict) -> dict:
    data = copy.deepcopy(RAW)
    data["tune"] = tune
    return data


def test_a_stated_space_validates():
    tune = {"params": [{"path": "camera.distance", "bounds": [0.3, 2.0]},
                       {"path": "clutter.support", "choices": ["plane", "bin"]},
                       {"path": "objects[6].count"}, {"path": "lights.temperature_k", "min_width": 500},
                       {"path": "effects.noise.photons_at_white", "bounds": [30, 30000], "log": True}],
            "fixed": ["appearance.backdrop"], "min_width_fraction": 0.5, "objective": "content"}
    recipe = validate_recipe(with_tune(tune), "r.yaml", DEFAULT_RECIPE.parent)
    assert [p.path for p in recipe.tune.params][:2] == ["camera.distance", "clutter.support"]
    assert recipe.tune.min_width_fraction == 0.5 and recipe.tune.objective == "content"
    assert validate_recipe(copy.deepcopy(RAW), "r.yaml", DEFAULT_RECIPE.parent).tune is None


@pytest.mark.parametrize("tune, where, words", [
    ({"params": [{"path": "camera.distanse"}]}, "tune.params[0].path", "names no recipe field"),
    ({"params": [{"path": "camera.distance"}, {"path": "lights.nope"}]}, "tune.params[1].path", "names no recipe"),
    ({"params": [{"path": "objects[20].count"}]}, "tune.params[0].path", "no objects[20]"),
    ({"params": [{"path": "camera.stereo.baseline"}]}, "tune.params[0].path", "leaves camera.stereo unset"),
    ({"params": [{"path": "camera.distance.min"}]}, "tune.params[0].path", "name camera.distance itself"),
    ({"params": [{"path": "objects[0].source"}]}, "tune.params[0].path", "not tunable"),
    ({"params": [{"path": "objects[2].scale"}]}, "tune.params[0].path", "not tunable"),
    ({"params": [{"path": "objects[0].name"}]}, "tune.params[0].path", "class name"),
    ({"params": [{"path": "output.occlusion_thresholds"}]}, "tune.params[0].path", "output conventions"),
    ({"params": [{"path": "camera.intrinsics.fx"}]}, "tune.params[0].path", "not tunable"),
    ({"params": [{"path": "seed"}]}, "tune.params[0].path", "not tunable"),
    ({"fixed": ["camera.nope"]}, "tune.fixed[0]", "names no recipe field"),
    ({"params": [{"path": "camera.distance"}], "fixed": ["camera.distance"]}, "tune.fixed[0]", "not both"),
    ({"params": [{"path": "camera.distance"}, {"path": "camera.distance"}]}, "tune.params[1].path", "twice"),
    ({"params": [{"path": "camera.distance", "bounds": [2, 1]}]}, "tune.params[0].bounds", "lo <= hi"),
    ({"params": [{"path": "camera.distance", "bounds": [0, 1], "log": True}]}, "tune.params[0].bounds", "> 0"),
    ({"params": [{"path": "camera.distance", "unknown": 1}]}, "tune.params[0].unknown", "unknown key"),
    ({"min_width_fraction": 2}, "tune.min_width_fraction", "less than or equal"),
    ({"objective": "magic"}, "tune.objective", "auto"),
])
def test_bad_tune_sections_name_the_field(tune, where, words):
    with pytest.raises(RecipeError) as e:
        validate_recipe(with_tune(tune), "r.yaml", DEFAULT_RECIPE.parent)
    assert e.value.path == where, str(e.value)
    assert words in str(e.value)


def test_build_with_a_bad_tune_path_exits_2_and_writes_nothing(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(with_tune({"params": [{"path": "camera.nope"}]})))
    out = tmp_path / "out"
    assert run_cli("build", recipe, "--out", out, "--quiet") == 2
    assert "tune.params[0].path" in capsys.readouterr().err
    assert not out.exists()


def test_describe_field_kinds():
    kinds = {p: describe_field(Recipe, p).kind for p in (
        "camera.distance", "objects[0].count", "appearance.objects", "clutter.support", "lights.shadows",
        "clutter.drop.half_extent", "appearance.textures", "effects.noise.probability", "camera")}
    assert kinds == {"camera.distance": "range", "objects[0].count": "int_range", "appearance.objects": "weights",
                     "clutter.support": "choice", "lights.shadows": "bool", "clutter.drop.half_extent": "vector",
                     "appearance.textures": "sources", "effects.noise.probability": "float", "camera": "section"}
    p = describe_field(Recipe, "effects.noise.probability")
    assert (p.lower, p.upper) == (0.0, 1.0)
    assert describe_field(Recipe, "clutter.support").choices == ("plane", "bin", "room")
    assert parse_path("objects.0.count") == parse_path("objects[0].count") == ("objects", 0, "count")


def test_every_label_field_names_a_schema_field():
    """The table of untouchable fields cannot rot: each entry is a field of the schema."""
    for entry in LABEL_FIELDS:
        path = entry.replace("[]", "[0]")
        describe_field(Recipe, path)
        assert label_field(parse_path(path))[0] == entry
    assert label_field(parse_path("objects[3].count")) is None
    assert label_field(parse_path("output.layers.rgb"))[0] == "output"


@pytest.mark.e2e
def test_build_output_is_the_same_with_and_without_a_tune_section(tmp_path):
    """``gtforge build`` ignores ``tune:``: every file is byte-identical, except that the dataset's copies of the
    recipe (recipe.yaml, gtforge.json's ``recipe``) hold the section as given."""
    plain = tmp_path / "plain.yaml"
    plain.write_text(DEFAULT_RECIPE.read_text())
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text(DEFAULT_RECIPE.read_text() + "\ntune:\n  params:\n"
                     "    - {path: camera.distance, bounds: [0.3, 2]}\n  fixed: [appearance.backdrop]\n")
    hashes = []
    for recipe in (plain, tuned):
        out = tmp_path / recipe.stem
        args = ["build", recipe, "--out", out, "--quiet", "--set", "scenes.count=1",
                "--set", "scenes.views_per_scene=2"]
        assert run_cli(*args, *sum((["--set", s] for s in SMALL), [])) == 0
        files = sorted(p for p in out.rglob("*") if p.is_file())
        hashes.append({p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes().replace(str(out).encode(), b"<OUT>")
                                                                     .replace(recipe.name.encode(), b"<R>")).hexdigest()
                       for p in files})
    a, b = hashes
    assert a.keys() == b.keys() and len(a) > 10
    differ = sorted(k for k in a if a[k] != b[k])
    assert differ == ["gtforge.json", "recipe.yaml"]
    for name in differ:
        load = json.loads if name.endswith(".json") else yaml.safe_load
        ma, mb = (load((tmp_path / s / name).read_text()) for s in ("plain", "tuned"))
        rb = mb["recipe"] if name.endswith(".json") else mb
        assert rb.pop("tune")["params"][0]["path"] == "camera.distance"
        if name.endswith(".json"):
            ma.pop("recipe_file"), mb.pop("recipe_file")
        assert ma == mb
