"""A one-process build prepares the next scene (builder, physics, views, hands) on a thread while the current one
renders: the files are those of scene-by-scene runs, and the preparation really runs ahead."""

import threading
import time
from pathlib import Path

import pytest
from conftest import DEFAULT_RECIPE

from gtforge.config import load_recipe
from gtforge.pipeline.job import BuildJob
from gtforge.pipeline.worker import SceneWorker

pytestmark = pytest.mark.gl

TINY = ["camera.width=160", "camera.height=120", "camera.intrinsics={fx: 143.1, fy: 143.4, cx: 81.3, cy: 60.5}",
        "scenes.views_per_scene=2"]


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


def test_run_scenes_prepares_ahead_and_writes_what_run_scene_writes(tmp_path, monkeypatch):
    recipe, resolved = load_recipe(DEFAULT_RECIPE, TINY)
    one = SceneWorker(BuildJob(recipe, resolved, str(DEFAULT_RECIPE), DEFAULT_RECIPE.parent, tmp_path / "one"))
    try:
        singles = [one.run_scene(i) for i in range(3)]
    finally:
        one.close()

    events = []
    prepare, run = SceneWorker.prepare_scene, SceneWorker.run_scene

    def prepare_logged(self, i):
        events.append(("prepare", i, threading.current_thread().name, time.perf_counter()))
        return prepare(self, i)

    def run_logged(self, i, prepared=None):
        out = run(self, i, prepared)
        events.append(("rendered", i, threading.current_thread().name, time.perf_counter()))
        return out

    monkeypatch.setattr(SceneWorker, "prepare_scene", prepare_logged)
    monkeypatch.setattr(SceneWorker, "run_scene", run_logged)
    ahead = SceneWorker(BuildJob(recipe, resolved, str(DEFAULT_RECIPE), DEFAULT_RECIPE.parent, tmp_path / "ahead"))
    try:
        results = list(ahead.run_scenes(range(3)))
    finally:
        ahead.close()

    assert [r.scene for r in results] == [0, 1, 2]
    for a, b in zip(singles, results):
        assert {k: getattr(a, k) for k in ("frames", "settled", "sim_time", "removed", "obj_ids")} == \
               {k: getattr(b, k) for k in ("frames", "settled", "sim_time", "removed", "obj_ids")}
    a, b = _tree(tmp_path / "one"), _tree(tmp_path / "ahead")
    assert sorted(a) == sorted(b) and len(a) > 20
    assert not [k for k in a if a[k] != b[k]]  # every file, rgb included, byte for byte
    when = {(kind, i): (thread, t) for kind, i, thread, t in events}
    assert all(when[("prepare", i)][0].startswith("gtforge-prepare") for i in range(3))
    assert when[("rendered", 0)][0] == threading.current_thread().name  # rendering stays on the calling thread
    for i in (1, 2):  # scene i was being prepared while scene i - 1 rendered
        assert when[("prepare", i)][1] < when[("rendered", i - 1)][1]


def test_a_prepared_scene_of_another_index_is_refused(tmp_path):
    recipe, resolved = load_recipe(DEFAULT_RECIPE, TINY)
    w = SceneWorker(BuildJob(recipe, resolved, str(DEFAULT_RECIPE), DEFAULT_RECIPE.parent, tmp_path))
    try:
        with pytest.raises(ValueError, match="prepared scene 0 given to run scene 1"):
            w.run_scene(1, w.prepare_scene(0))
    finally:
        w.close()
