"""``gtforge tune`` on the command line: every bad input exits 2 naming the path, field or option, with nothing
written; a small tune end to end (e2e)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import DEFAULT_RECIPE, run_cli
from PIL import Image

pytest.importorskip("optuna")


def images(folder: Path, n=6, size=(64, 48), seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def tune(tmp_path, *args, recipe=DEFAULT_RECIPE, reference=None):
    reference = images(tmp_path / "ref") if reference is None else reference
    out = tmp_path / "out" / "TUNED.yaml"
    out.parent.mkdir(exist_ok=True)
    rc = run_cli("tune", recipe, "--reference", reference, "--out", out, "--quiet", *args)
    return rc, out


def nothing_written(out: Path):
    return not out.exists() and not out.with_name(out.stem + ".tune").exists() and list(out.parent.iterdir()) == []


def empty_folder(p):
    (p / "empty").mkdir()
    return p / "empty"


def a_text_file(p):
    (p / "notes.txt").write_text("hello")
    return p / "notes.txt"


def a_broken_image(p):
    images(p / "bad")
    (p / "bad" / "000.png").write_bytes(b"not a png")
    return p / "bad"


@pytest.mark.parametrize("make, words", [
    (lambda p: p / "missing", "no such file or folder"),
    (empty_folder, "no images"),
    (a_text_file, "notes.txt"),
    (a_broken_image, "000.png"),
])
def test_bad_references_exit_2_naming_the_path(tmp_path, capsys, make, words):
    rc, out = tune(tmp_path, "--objective", "appearance", reference=make(tmp_path))
    err = capsys.readouterr().err
    assert rc == 2, err
    assert words in err
    assert nothing_written(out)


def test_a_labelled_reference_that_does_not_parse_exits_2(tmp_path, capsys):
    ref = images(tmp_path / "coco" / "images", n=2)
    doc = {"images": [{"id": 1, "file_name": "000.png", "width": 64, "height": 48}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, "three", 4]}],
           "categories": [{"id": 1, "name": "duck"}]}
    (ref.parent / "instances.json").write_text(json.dumps(doc))
    rc, out = tune(tmp_path, reference=ref.parent / "instances.json")
    err = capsys.readouterr().err
    assert rc == 2 and "instances.json" in err, err
    assert nothing_written(out)


def test_a_tune_path_that_names_no_field_exits_2(tmp_path, capsys):
    raw = yaml.safe_load(DEFAULT_RECIPE.read_text())
    raw["tune"] = {"params": [{"path": "camera.distanse"}]}
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    rc, out = tune(tmp_path, recipe=recipe)
    err = capsys.readouterr().err
    assert rc == 2 and "tune.params[0].path" in err and "camera.distanse" in err, err
    assert nothing_written(out)


def test_stated_bounds_that_exclude_the_recipe_exit_2(tmp_path, capsys):
    raw = yaml.safe_load(DEFAULT_RECIPE.read_text())
    raw["tune"] = {"params": [{"path": "camera.distance", "bounds": [1.0, 2.0]}]}
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    rc, out = tune(tmp_path, recipe=recipe)
    assert rc == 2 and "tune.params[0].bounds" in capsys.readouterr().err
    assert nothing_written(out)


def test_a_budget_too_small_for_one_trial_exits_2(tmp_path, capsys):
    rc, out = tune(tmp_path, "--objective", "appearance", "--budget-minutes", "0.1")
    err = capsys.readouterr().err
    assert rc == 2 and "--budget-minutes" in err and "too small for one trial" in err, err
    assert nothing_written(out)


def test_content_needs_a_labelled_reference(tmp_path, capsys):
    rc, out = tune(tmp_path, "--objective", "content")
    err = capsys.readouterr().err
    assert rc == 2 and "--objective content needs a labelled reference" in err, err
    assert nothing_written(out)


def test_the_tune_extra_missing_exits_2_naming_it(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a))
    rc, out = tune(tmp_path)
    err = capsys.readouterr().err
    assert rc == 2 and "optuna" in err and ".[tune]" in err, err
    assert nothing_written(out)


def test_an_existing_out_file_is_never_overwritten(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "TUNED.yaml").write_text("mine\n")
    rc, out = tune(tmp_path, "--objective", "appearance")
    assert rc == 2 and "--out" in capsys.readouterr().err
    assert out.read_text() == "mine\n" and not out.with_name("TUNED.tune").exists()


def test_an_unknown_recipe_name_exits_2(tmp_path, capsys):
    rc, out = tune(tmp_path, recipe="no_such_recipe")
    assert rc == 2 and "no_such_recipe" in capsys.readouterr().err
    assert nothing_written(out)


def test_tune_help_is_light():
    """``gtforge tune --help`` loads no optimiser, network or renderer (imports happen when the command runs)."""
    import subprocess

    code = ("import sys\nfrom gtforge.cli import main\ntry:\n    main(['tune', '--help'])\n"
            "except SystemExit:\n    pass\nprint('modules:', ' '.join(m for m in ('optuna', 'torch', 'pyrender', "
            "'gtforge.tune') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.splitlines()[-1].split()[1:]
    assert "usage: gtforge tune" in done.stdout and loaded == [], loaded


@pytest.mark.e2e
@pytest.mark.slow
def test_a_small_tune_end_to_end(tmp_path):
    """A gtforge reference with a hidden camera distance and colour temperature, a stated space of three
    parameters, 4 trials: TUNED.yaml loads and validates, each change commented, tune.json complete."""
    from gtforge.config import load_recipe
    from gtforge.tune import run_tune

    ref = tmp_path / "ref"
    assert run_cli("build", DEFAULT_RECIPE, "--out", ref, "--quiet", "--set", "camera.width=160", "--set",
                   "camera.height=120", "--set", "camera.intrinsics={fx: 143.1, fy: 143.4, cx: 80.95, cy: 60.125}",
                   "--set", "scenes.count=4", "--set", "scenes.views_per_scene=3", "--set", "seed=7",
                   "--set", "camera.distance={min: 1.0, max: 1.4}", "--set",
                   "lights.temperature_k={min: 2700, max: 3200}") == 0
    raw = yaml.safe_load(DEFAULT_RECIPE.read_text())
    raw["tune"] = {"params": [{"path": "camera.distance"}, {"path": "lights.temperature_k"},
                              {"path": "effects.noise.probability"}]}
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False) + "# the end\n")
    out = tmp_path / "TUNED.yaml"
    result = run_tune(recipe, ref, out, budget_minutes=20, objective="content", trials=4, top_k=1, progress=False)
    tuned, _ = load_recipe(out)
    assert tuned.objects == load_recipe(recipe)[0].objects  # labels' meaning untouched
    text = out.read_text()
    assert text.count("gtforge tune:") >= len(result["best"]["changes"]) and "# the end" in text
    assert [t["rung"] for t in result["trials"]] == [0, 0, 0, 0, 1, 1]
    assert result["trials"][0]["baseline"] and all("build_seed" in t for t in result["trials"])
    assert result["trials"][0]["fidelity"]["width"] == result["trials"][-1]["fidelity"]["width"] == 640  # SCHEDULE
    assert all(t["state"] == "COMPLETE" for t in result["trials"]), [t.get("error") for t in result["trials"]]
    saved = json.loads((tmp_path / "TUNED.tune" / "tune.json").read_text())
    assert saved["best"] == result["best"] and len(saved["space"]) == 3
    # the compare reports of the untuned and the tuned recipe, side by side in the work folder
    for side in ("untuned", "tuned"):
        report = result["reports"][side]
        assert Path(report["index"]).is_file() and report["gap_score"] is not None
        assert json.loads((Path(report["folder"]) / "compare.json").read_text())["summary"]["gap_score"] == \
            report["gap_score"]
    # the tuned recipe builds and verifies
    ds = tmp_path / "tuned_ds"
    assert run_cli("build", out, "--out", ds, "--quiet", "--frames", "2", "--set", "camera.width=160", "--set",
                   "camera.height=120", "--set", "camera.intrinsics={fx: 143.1, fy: 143.4, cx: 80.95, cy: 60.125}") == 0
    assert run_cli("verify", ds, "--sample", "1") == 0
    # the same command again: the finished study is resumed, nothing is evaluated again
    again = run_tune(recipe, ref, out, budget_minutes=20, objective="content", trials=4, top_k=1, progress=False)
    assert again["trials"] == result["trials"] and again["best"] == result["best"]
