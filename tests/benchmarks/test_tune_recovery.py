"""benchmarks/tune_recovery.py: what the benchmark compares (the hidden values' measures, the share moved, the
content distances of ``--labelled``), on hand-written recipes and reports."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_module():
    spec = importlib.util.spec_from_file_location("gtforge_benchmarks_tune_recovery",
                                                  ROOT / "benchmarks" / "tune_recovery.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


R = _load_module()


def test_the_hidden_recipe_measures_as_stated():
    """The hidden reference: camera centre 1.2 m, 2950 K, saturation 0.4, noise 1/sqrt(sqrt(30*80)), a plane."""
    m = R.measures(R.hidden_recipe())
    assert m["camera.distance"] == pytest.approx(1.2) and m["lights.temperature_k"] == pytest.approx(2950)
    assert m["appearance.hsv_jitter.saturation"] == pytest.approx(0.4) and m["clutter.support"] == 1.0
    assert m["effects.noise"] == pytest.approx(1 / math.sqrt(math.sqrt(30 * 80)))
    assert "objects.count" not in m


def test_with_labels_the_hidden_recipe_holds_twice_the_objects():
    """--labelled: every target set's count range doubled (the default recipe's centres sum to 10.5 objects)."""
    default = R.measures(R.yaml.safe_load(R.RECIPE.read_text()), labelled=True)
    hidden = R.measures(R.hidden_recipe(labelled=True), labelled=True)
    assert default["objects.count"] == pytest.approx(10.5) and hidden["objects.count"] == pytest.approx(21.0)
    assert hidden["camera.distance"] == pytest.approx(1.2)
    doubled = R.hidden_recipe(labelled=True)["objects"]
    assert [o["count"] for o in doubled][:2] == [{"min": 2, "max": 4}, {"min": 0, "max": 2}]


@pytest.mark.parametrize(("after", "share"), [(0.6, 0.0), (1.2, 1.0), (0.9, 0.5), (1.5, 0.5), (1.8, 0.0),
                                              (0.3, -0.5)])
def test_share_moved(after, share):
    assert R.share_moved(0.6, after, 1.2) == pytest.approx(share)


def test_content_distances_and_their_shrink(tmp_path):
    report = tmp_path / "compare.json"
    report.write_text(json.dumps({"distances": [{"name": "box_size", "value": 0.02},
                                                {"name": "brightness", "value": 0.3}]}))
    assert R.content_distances(report) == {"instances_per_image": None, "box_size": 0.02}
    assert R.shrink(0.1, 0.02) == pytest.approx(0.8) and R.shrink(0.1, 0.2) == pytest.approx(-1.0)
    assert R.shrink(None, 0.02) is None and R.shrink(0.0, 0.0) is None
