"""Helpers shared by the tune tests: bundled recipes' spaces, random and corner points of a space."""

import numpy as np
from conftest import DEFAULT_RECIPE, ROOT

from gtforge.config import load_recipe, validate_recipe
from gtforge.tune.space import search_space

BUNDLED = sorted(p.stem for p in (ROOT / "recipes").glob("*.yaml"))


def space_of(name_or_raw):
    if isinstance(name_or_raw, str):
        path = ROOT / "recipes" / f"{name_or_raw}.yaml"
        recipe, raw = load_recipe(path)
    else:
        path, raw = DEFAULT_RECIPE, name_or_raw
        recipe = validate_recipe(raw, str(path), path.parent)
    return search_space(recipe, raw, path, path.parent), recipe, raw


def random_point(space, rng):
    point = {}
    for name, d in space.dims().items():
        if d.type == "categorical":
            point[name] = d.choices[int(rng.integers(len(d.choices)))]
        elif d.log:
            point[name] = float(np.exp(rng.uniform(np.log(d.low), np.log(d.high))))
        else:
            point[name] = float(rng.uniform(d.low, d.high))
    return point


def corner_point(space, rng):
    """Every dimension at one of its ends (widths at their guard, centres at a bound)."""
    point = {}
    for name, d in space.dims().items():
        end = int(rng.integers(2))
        point[name] = d.choices[end * (len(d.choices) - 1)] if d.type == "categorical" else (d.low, d.high)[end]
    return point
