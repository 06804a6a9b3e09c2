"""The search space (tune/space.py): the default space of every bundled recipe, the diversity guard, apply() and a
stated ``tune:`` space's bad inputs."""

import copy
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import DEFAULT_RECIPE

from gtforge.config import RecipeError, validate_recipe
from gtforge.config.schema import Recipe
from gtforge.config.tune import describe_field, format_path, label_field, recipe_value
from gtforge.tune.space import Param, search_space

sys.path.insert(0, str(Path(__file__).parent))
from tune_helpers import BUNDLED, corner_point, random_point, space_of

def dumped(model):
    return model.model_dump()


def close(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    return a == b


@pytest.mark.parametrize("name", BUNDLED)
def test_default_space_of_every_bundled_recipe(name):
    space, recipe, raw = space_of(name)
    assert len(space.params) >= 20 and not space.stated
    dims = space.dims()
    for p in space.params:
        for parts in p.writes():
            spec = describe_field(Recipe, format_path(parts))  # every path names a recipe field...
            assert label_field(parts) is None, p.path  # ... never one that defines the labels' meaning
            assert spec.kind in ("range", "int_range", "float", "weights", "choice", "bool", "sources", "vector"), spec
    defaults = space.defaults()
    assert defaults.keys() == dims.keys()
    outside = [k for k, v in defaults.items() if not dims[k].contains(v)]
    assert not outside, f"the recipe's own values lie outside the bounds: {outside}"
    # apply() of the recipe's own point writes the recipe's values, exactly
    tuned = space.apply(raw, defaults)
    assert close(dumped(space.validate(tuned)), dumped(recipe))
    assert space.changes(raw, defaults) == []


@pytest.mark.parametrize("name", BUNDLED)
def test_every_sampled_point_validates_and_keeps_the_guard(name):
    space, recipe, raw = space_of(name)
    rng = np.random.default_rng(7)
    for k in range(40):
        point = (random_point if k % 2 else corner_point)(space, rng)
        tuned = space.apply(raw, point)
        model = space.validate(tuned)  # raises RecipeError naming the field if not
        for p in space.params:
            check_param_guard(p, tuned, model, space.guard)
        assert recipe_value(tuned, ("objects",))[1][0]["name"] == raw["objects"][0]["name"]


def check_param_guard(p: Param, tuned, model, guard):
    """The diversity guard and the bounds, for one parameter of a candidate."""
    if p.kind == "counts":
        for i, orig in zip(p.members, p.original):
            c = tuned["objects"][i]["count"]
            assert c["max"] - c["min"] >= math.ceil(guard * (orig["max"] - orig["min"]) - 1e-9), (p.path, c, orig)
        return
    value = recipe_value(tuned, next(iter(p.writes())))[1]
    if p.kind in ("range", "int_range"):
        assert p.low - 1e-12 <= value["min"] <= value["max"] <= p.high + 1e-12, (p.path, value)
        t = (lambda v: math.log(v)) if p.log else float
        assert t(value["max"]) - t(value["min"]) >= p.min_width * (1 - 1e-9) - 1e-12, (p.path, value, p.min_width)
        assert p.min_width == pytest.approx(guard * (t(p.original["max"]) - t(p.original["min"])))
    elif p.kind == "weights":
        w = {k: value.get(k, 0.0) for k in p.original}
        total, orig_total = sum(w.values()), sum(p.original.values())
        for k, v in p.original.items():
            assert w[k] / total >= guard * v / orig_total - 1e-9, (p.path, w)
    elif p.kind == "sources":
        assert set(value) <= set(p.original)
        assert len(value) >= max(1, math.ceil(guard * len(p.original)))
    elif p.kind == "float":
        assert p.low <= value <= p.high


def test_the_guard_at_its_tightest():
    """Widths at their smallest give exactly the guard's width; a centre at a bound shifts the range inward rather
    than narrowing it."""
    space, recipe, raw = space_of("clutter_bop")
    point = space.defaults()
    point["camera.distance/width"] = 0.0  # below the dimension's low end: the guard still holds
    point["camera.distance/centre"] = 5.0  # far above the bound
    tuned = space.apply(raw, point)
    d = tuned["camera"]["distance"]
    assert d["max"] == pytest.approx(2.25) and d["max"] - d["min"] == pytest.approx(0.25 * 0.3)
    point["lights.temperature_k/width"] = 0.0
    point["lights.temperature_k/centre"] = 1000.0
    t = space.apply(raw, point)["lights"]["temperature_k"]
    assert t["min"] == 1667.0 and t["max"] - t["min"] >= 0.25 * 4000 - 1e-9


def test_weights_keep_a_quarter_of_each_choice_and_pools_a_quarter_of_their_sources():
    space, recipe, raw = space_of("clutter_bop")
    point = space.defaults()
    for k in ("directional", "point", "spot"):
        point[f"lights.kinds/{k}"] = 0.0
    point["lights.kinds/spot"] = 0.999999  # everything on spot lights, as far as the guard lets it
    kinds = space.apply(raw, point)["lights"]["kinds"]
    total = sum(kinds.values())
    assert kinds["directional"] / total == pytest.approx(0.25 * 2 / 3, rel=1e-3)
    assert kinds["point"] / total == pytest.approx(0.25 * 1 / 3, rel=1e-3)
    n = len(raw["appearance"]["floor_textures"])
    for j in range(n):
        point[f"appearance.floor_textures/keep[{j}]"] = False
    kept = space.apply(raw, point)["appearance"]["floor_textures"]
    assert kept == raw["appearance"]["floor_textures"][: math.ceil(0.25 * n)]


def test_changes_name_before_and_after():
    space, recipe, raw = space_of("clutter_bop")
    point = space.defaults() | {"camera.distance/centre": 1.2, "camera.distance/width": 0.4,
                                "effects.noise.probability": 0.5, "clutter.support": "room"}
    changes = {c.path: c for c in space.changes(raw, point)}
    assert set(changes) == {"camera.distance", "effects.noise.probability", "clutter.support"}
    assert changes["camera.distance"].before == {"min": 0.45, "max": 0.75}
    assert changes["camera.distance"].after == {"min": 1.0, "max": 1.4}
    assert changes["effects.noise.probability"].was_set is False and changes["effects.noise.probability"].before == 0
    # a room that a camera 1.4 m away fits into: the repair grows it and says so
    point["camera.distance/centre"], point["camera.distance/width"] = 1.9, 0.5
    changes = {c.path: c for c in space.changes(raw, point)}
    size = changes["clutter.room.size"]
    assert size.was_set is False and size.after[0] >= 2 * (2.15 * math.cos(math.radians(25)) + 0.08)
    space.validate(space.apply(raw, point))


def with_tune(tune):
    raw = yaml.safe_load(DEFAULT_RECIPE.read_text())
    raw["tune"] = tune
    return raw


def test_a_stated_space():
    space, recipe, raw = space_of(with_tune({"params": [
        {"path": "camera.distance", "bounds": [0.3, 2.0]}, {"path": "lights.temperature_k"},
        {"path": "clutter.support", "choices": ["plane", "bin"]}, {"path": "objects[6].count", "bounds": [0, 10]},
        {"path": "camera.azimuth_deg", "bounds": [0, 360], "min_width": 180},
        {"path": "lights.kinds", "choices": ["directional", "point"]}]}))
    assert space.stated and [p.path for p in space.params] == [
        "camera.distance", "lights.temperature_k", "clutter.support", "objects[6].count", "camera.azimuth_deg",
        "lights.kinds"]
    assert [p.kind for p in space.params] == ["range", "range", "choice", "int_range", "range", "weights"]
    assert space.params[1].low == 1667.0  # the default space's bounds
    assert space.params[4].min_width == 180
    assert not space.all_continuous
    rng = np.random.default_rng(3)
    for _ in range(10):
        space.validate(space.apply(raw, random_point(space, rng)))
    cont, _, _ = space_of(with_tune({"params": [{"path": "camera.distance"}, {"path": "lights.ambient"}]}))
    assert cont.all_continuous


def test_fixed_fields_leave_the_default_space():
    space, _, _ = space_of(with_tune({"fixed": ["camera", "appearance.backdrop", "objects[6].count"]}))
    paths = [p.path for p in space.params]
    assert not any(p.startswith("camera.") for p in paths) and "appearance.backdrop" not in paths
    assert "objects[0,1,2,3,4,5].count" in paths and "lights.kinds" in paths


@pytest.mark.parametrize("param, where, words", [
    ({"path": "camera.distance", "bounds": [1.0, 2.0]}, "tune.params[0].bounds", "does not hold the recipe's value"),
    ({"path": "camera.azimuth_deg"}, "tune.params[0].bounds", "not in the default search space"),
    ({"path": "appearance.object_color"}, "tune.params[0].path", "colour range is not tunable"),
    ({"path": "camera.look_at"}, "tune.params[0].path", "section"),
    ({"path": "camera.distance", "min_width": 0.5}, "tune.params[0].min_width", "wider than the recipe's range"),
    ({"path": "clutter.support", "choices": ["plane", "room"]}, "tune.params[0].choices", "recipe's value"),
    ({"path": "clutter.support", "choices": ["plane", "bin", "moon"]}, "tune.params[0].choices", "moon"),
    ({"path": "lights.kinds", "choices": ["spot", "directional"]}, "tune.params[0].choices", "every name"),
    ({"path": "lights.ambient", "bounds": [-1, 1]}, "tune.params[0].bounds", "does not validate"),
    ({"path": "effects.noise.probability", "bounds": [0, 2]}, "tune.params[0].bounds", "field's limit"),
    ({"path": "clutter.support", "bounds": [0, 1]}, "tune.params[0].bounds", "no bounds"),
    ({"path": "camera.distance", "choices": ["a"]}, "tune.params[0].choices", "give bounds"),
])
def test_bad_stated_parameters_name_the_field(param, where, words):
    raw = with_tune({"params": [param]})
    recipe = validate_recipe(raw, str(DEFAULT_RECIPE), DEFAULT_RECIPE.parent)
    with pytest.raises(RecipeError) as e:
        search_space(recipe, raw, DEFAULT_RECIPE, DEFAULT_RECIPE.parent)
    assert e.value.path == where, str(e.value)
    assert words in str(e.value)


def test_apply_does_not_touch_its_input():
    space, recipe, raw = space_of("bop_pbr_like")
    before = copy.deepcopy(raw)
    space.apply(raw, random_point(space, np.random.default_rng(0)))
    assert raw == before
