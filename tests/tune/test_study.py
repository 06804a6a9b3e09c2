"""The Optuna study (tune/study.py) with a test objective that builds nothing (tune_helpers.HiddenTarget):
seeded and deterministic, resumable after a kill, multi-fidelity, within the budget."""

import copy
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT

from gtforge.config import load_recipe, validate_recipe
from gtforge.tune.study import SCHEDULE, fidelity_overrides, fidelity_schedule, tune_seed

sys.path.insert(0, str(Path(__file__).parent))
from tune_helpers import run_hidden_study

pytest.importorskip("optuna")

SMALL_SPACE = {"params": [{"path": "camera.distance"}, {"path": "lights.temperature_k"}, {"path": "lights.shadows"}]}


def history(result):
    return [(t["rung"], t["number"], t["state"], t["value"], sorted(t["point"].items())) for t in result.trials]


@pytest.mark.slow  # 4-7 s: a dozen trials through SQLite
def test_same_seed_same_trials_other_seed_other_trials(tmp_path):
    a = run_hidden_study(tmp_path / "a", seed=3, n_trials=14, tune=SMALL_SPACE)
    b = run_hidden_study(tmp_path / "b", seed=3, n_trials=14, tune=SMALL_SPACE)
    c = run_hidden_study(tmp_path / "c", seed=4, n_trials=14, tune=SMALL_SPACE)
    assert history(a) == history(b)
    assert history(a) != history(c)
    assert a.best == b.best and a.sampler == "tpe"
    # the first trial is the recipe itself, and rung 1 re-evaluates it with the best ones
    first = a.trials[0]
    assert first["rung"] == 0 and first["number"] == 0 and first["baseline"]
    rung1 = [t for t in a.trials if t["rung"] == 1]
    assert len(rung1) == 3 and rung1[0]["baseline"] and rung1[0]["source_trial"] == 0
    assert a.baseline["rung1"]["value"] == pytest.approx(first["value"] + 0.01)
    # the best beats the recipe: the hidden distance 1.2 m and 3000 K are far from 0.45-0.75 m and 3500-7500 K
    assert a.best["value"] < 0.6 * first["value"] and not a.best["baseline"]


def test_a_continuous_space_uses_cmaes_and_is_deterministic(tmp_path):
    tune = {"params": [{"path": "camera.distance"}, {"path": "lights.temperature_k"}]}
    a = run_hidden_study(tmp_path / "a", seed=1, n_trials=10, tune=tune)
    b = run_hidden_study(tmp_path / "b", seed=1, n_trials=10, tune=tune)
    assert a.sampler == "cmaes" and history(a) == history(b)


def test_the_default_space_runs(tmp_path):
    r = run_hidden_study(tmp_path / "a", seed=0, n_trials=6)
    assert len([t for t in r.trials if t["rung"] == 0 and t["state"] == "COMPLETE"]) == 6
    assert all("values" in t for t in r.trials)


CHILD = textwrap.dedent("""
    import sys
    sys.path[:0] = [{tests!r}, {tune_tests!r}]
    from tune_helpers import run_hidden_study
    run_hidden_study({work!r}, seed=5, n_trials=16, marks={marks!r}, sleep=0.3, tune={tune!r})
""")


@pytest.mark.slow  # 4-7 s: a dozen trials through SQLite
def test_a_killed_tune_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    """SIGKILL in the middle of rung 0 (a trial left RUNNING), the same call again: the trial history goes on from
    where it stopped and the result equals a tune that was never interrupted."""
    work, marks = tmp_path / "killed", tmp_path / "marks"
    code = CHILD.format(tests=str(ROOT / "tests"), tune_tests=str(Path(__file__).parent), work=str(work),
                        marks=str(marks), tune=SMALL_SPACE)
    child = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ))
    try:
        deadline = time.time() + 240
        while time.time() < deadline and child.poll() is None:
            if marks.is_dir() and len(list(marks.iterdir())) >= 6:
                break
            time.sleep(0.05)
        time.sleep(0.15)  # most likely inside the next trial's evaluation
        assert child.poll() is None, "the tune finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    import optuna

    storage = optuna.storages.RDBStorage(f"sqlite:///{work / 'study.sqlite3'}")
    before = optuna.load_study(study_name="rung0", storage=storage).get_trials()
    assert 6 <= len(before) < 16
    resumed = run_hidden_study(work, seed=5, n_trials=16, tune=SMALL_SPACE)
    straight = run_hidden_study(tmp_path / "straight", seed=5, n_trials=16, tune=SMALL_SPACE)
    assert history(resumed) == history(straight)
    assert [t.params for t in before if t.state.is_finished()] == \
        [t["point"] for t in resumed.trials if t["rung"] == 0][:len([t for t in before if t.state.is_finished()])]
    assert resumed.best == straight.best


@pytest.mark.slow  # 4-7 s: a dozen trials through SQLite
def test_the_budget_stops_rung_0_and_keeps_time_for_rung_1(tmp_path):
    """With no trial count, rung 0 runs while a trial fits the budget less rung 1's share (3 evaluations here)."""
    t0 = time.perf_counter()
    r = run_hidden_study(tmp_path / "a", seed=0, n_trials=None, sleep=0.2, budget_s=5.0, tune=SMALL_SPACE)
    elapsed = time.perf_counter() - t0
    assert elapsed < 5.0 + 3.0, elapsed  # the estimate is 0.7 s a trial at first: rung 0 stops in time
    rung0 = [t for t in r.trials if t["rung"] == 0]
    rung1 = [t for t in r.trials if t["rung"] == 1]
    assert len(rung0) >= 3 and len(rung1) >= 1
    assert r.seconds_spent <= 5.0 + 1.5


def test_fidelity_schedule_and_overrides():
    recipe, raw = load_recipe(ROOT / "recipes" / "clutter_bop.yaml")
    low, high = fidelity_schedule(recipe, 0)
    # both rungs at the recipe's own 640x480 (the longest side capped at 640), 24 and 64 frames
    assert (low.width, low.height, low.frames) == (640, 480, 24) and (high.width, high.height, high.frames) == (
        640, 480, 64)
    assert low.views == 1 and high.views == 2 and SCHEDULE[0][0] == 640
    assert low.seed == tune_seed("tune_build", 0, 0) != high.seed
    sets = fidelity_overrides(recipe, low)
    assert "scenes.count=24" in sets and f"seed={low.seed}" in sets and not any(s.startswith("camera.") for s in sets)
    # a larger camera is scaled down, its intrinsics with it
    raw = copy.deepcopy(raw)
    raw["camera"] |= {"width": 1280, "height": 960, "intrinsics": {"fx": 1144.8, "fy": 1147.2, "cx": 650.1,
                                                                    "cy": 483.5}}
    big = validate_recipe(raw, str(ROOT / "recipes" / "clutter_bop.yaml"), ROOT / "recipes")
    low_big, _ = fidelity_schedule(big, 0)
    assert (low_big.width, low_big.height) == (640, 480)
    sets = fidelity_overrides(big, low_big)
    assert "camera.width=640" in sets and "camera.height=480" in sets
    k = next(s for s in sets if s.startswith("camera.intrinsics="))
    assert '"fx": 572.4' in k and '"cx": 324.8' in k  # (650.1 + 0.5) / 2 - 0.5
    ar, _ = load_recipe(ROOT / "recipes" / "ar_cars.yaml")
    low_ar, _ = fidelity_schedule(ar, 0)
    assert low_ar.width is None and low_ar.views == 1 and low_ar.scenes == 24
    assert not any(s.startswith("camera.") for s in fidelity_overrides(ar, low_ar))


@pytest.mark.slow
def test_trials_on_ray_equal_local_batches_of_the_same_size(tmp_path, monkeypatch):
    """--executor ray: a batch of trials (one per CPU slot) is asked, evaluated in parallel as Ray tasks, then told;
    the result equals the same batches evaluated here one after the other (the batch size is part of what makes a
    tune repeatable)."""
    pytest.importorskip("ray")
    from gtforge.pipeline.ray_executor import connect, disconnect

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent), str(ROOT / "tests"),
                                                      os.environ.get("PYTHONPATH", "")]))
    started = connect(None, num_cpus=2)
    try:
        on_ray = run_hidden_study(tmp_path / "ray", seed=2, n_trials=8, tune=SMALL_SPACE, executor="ray")
    finally:
        disconnect(started)
    here = run_hidden_study(tmp_path / "local", seed=2, n_trials=8, tune=SMALL_SPACE, batch=2)
    assert history(on_ray) == history(here)
    assert len([t for t in on_ray.trials if t["rung"] == 0 and t["state"] == "COMPLETE"]) == 8


def test_batches_never_repeat_a_trial(tmp_path):
    """Each asked trial's sampler is seeded by that trial's own number, in batches too (the recipe's own trial,
    enqueued first, takes number 0)."""
    r = run_hidden_study(tmp_path / "b", seed=0, n_trials=8, tune=SMALL_SPACE, batch=3)
    rung0 = [t for t in r.trials if t["rung"] == 0]
    assert [t["number"] for t in rung0] == list(range(8))
    points = [json.dumps(t["point"], sort_keys=True) for t in rung0]
    assert len(set(points)) == 8
    assert len({t["sampler_seed"] for t in rung0}) == 8
