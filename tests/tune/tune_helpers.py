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


class HiddenTarget:
    """A test objective with no build: how far the candidate's camera distance and light temperature are from hidden
    values (the centre of each range, in units of the hidden range's width). ``marks``: a folder where each
    evaluation leaves a file (so a test can tell how far a tune got); ``sleep``: seconds per evaluation."""

    keep_datasets = True

    def __init__(self, distance=1.2, temperature=3000.0, marks=None, sleep=0.0):
        self.distance, self.temperature, self.marks, self.sleep = distance, temperature, marks, sleep

    def estimate_seconds(self, fidelity):
        return 0.5 + self.sleep

    def evaluate(self, candidate, fidelity, trial_dir):
        import time
        from pathlib import Path

        d = candidate.raw["camera"]["distance"]
        t = candidate.raw["lights"]["temperature_k"]
        gap_d = abs((d["min"] + d["max"]) / 2 - self.distance) / 0.4
        gap_t = abs((t["min"] + t["max"]) / 2 - self.temperature) / 500
        if self.sleep:
            time.sleep(self.sleep)
        if self.marks is not None:
            Path(self.marks).mkdir(parents=True, exist_ok=True)
            (Path(self.marks) / f"{fidelity.rung}-{Path(trial_dir).name}").write_text("done")
        return {"value": gap_d + gap_t + 0.01 * fidelity.rung, "components": {"distance": gap_d, "temperature": gap_t}}


def run_hidden_study(work, seed=0, n_trials=12, recipe="clutter_bop", marks=None, sleep=0.0, budget_s=1e6,
                     tune=None, progress=False, executor="local", batch=None):
    """A tune of a bundled recipe (its camera distance and light temperature, or its default space) against
    :class:`HiddenTarget`; returns the StudyResult."""
    from gtforge.tune.study import Study, fidelity_schedule

    raw = None
    if tune is not None:
        import yaml

        raw = yaml.safe_load((ROOT / "recipes" / f"{recipe}.yaml").read_text())
        raw["tune"] = tune
    space, model, raw = space_of(recipe if raw is None else raw)
    study = Study(space, raw, HiddenTarget(marks=marks, sleep=sleep), work, seed=seed,
                  fidelities=fidelity_schedule(model, seed), progress=progress, top_k=2, executor=executor,
                  batch=batch)
    return study.run(budget_s=budget_s, n_trials=n_trials)
