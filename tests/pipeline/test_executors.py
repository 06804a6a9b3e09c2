"""The build's typed plumbing (pipeline/job.py, pipeline/executors.py): the job and the results travel to pool
processes and Ray actors (pickled), the executor is chosen by the flags, and the build reads every scene result an
executor reports, whichever executor it is."""

import logging
import pickle
from pathlib import Path

import pytest
from conftest import DEFAULT_RECIPE

from gtforge.config import load_recipe
from gtforge.pipeline.build import _render
from gtforge.pipeline.executors import ProcessPoolExecutor, SerialExecutor, make_executor
from gtforge.pipeline.job import BuildJob, BuildSummary, SceneResult
from gtforge.pipeline.ray_executor import RayExecutor


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    recipe, resolved = load_recipe(DEFAULT_RECIPE, ["scenes.count=3", "scenes.views_per_scene=2"])
    return BuildJob(recipe=recipe, resolved=resolved, recipe_file=str(DEFAULT_RECIPE),
                    base_dir=str(DEFAULT_RECIPE.parent), out_dir=str(tmp_path_factory.mktemp("job") / "ds"),
                    shard=[1, 2])


def test_a_job_normalises_its_fields_and_survives_pickling(job):
    assert isinstance(job.base_dir, Path) and isinstance(job.out_dir, Path) and job.shard == (1, 2)
    again = pickle.loads(pickle.dumps(job))  # what a pool process and a Ray actor receive
    assert again == job and again.recipe == job.recipe
    assert job.revalidated().recipe == job.recipe  # validated again from the raw recipe, same result
    with pytest.raises(AttributeError):
        job.out_dir = Path("elsewhere")  # frozen


def test_results_survive_pickling():
    res = SceneResult(scene=4, frames=2, timings={"render_rgb": 0.5}, settled=False, sim_time=4.0,
                      removed=((3, "left the workspace"),), objects=5, obj_ids=(1, 3), distractors=0,
                      views={"views": 2})
    assert pickle.loads(pickle.dumps(res)) == res
    summary = BuildSummary(scenes=2, frames=4, seconds=2.0, timings={}, skipped=1, shard=None, out_dir="x")
    assert pickle.loads(pickle.dumps(summary)) == summary and summary.frames_per_second == 2.0
    assert BuildSummary(0, 0, 0.0, {}, 0, None, "x").frames_per_second == 0.0


@pytest.mark.parametrize("kind, workers, scenes, devices, expected, processes", [
    ("local", 1, 10, None, SerialExecutor, None),
    ("local", 4, 1, None, SerialExecutor, None),  # one scene: no pool to start
    ("local", 4, 10, None, ProcessPoolExecutor, 4),
    ("local", 1, 10, [0, 1, 1], ProcessPoolExecutor, 3),  # --gpus: one process per planned device
    ("ray", 1, 10, None, RayExecutor, None),
])
def test_the_flags_choose_the_executor(kind, workers, scenes, devices, expected, processes):
    ex = make_executor(kind, workers, scenes, devices=devices)
    assert type(ex) is expected
    if processes is not None:
        assert ex.processes == processes
    if kind == "ray":
        assert ex.actors is None  # --workers 1: one actor per CPU slot of the cluster
        assert make_executor("ray", 3, 10).actors == 3


class _Replay:
    """An executor that renders nothing and reports the given results (the protocol is all the build needs)."""

    def __init__(self, results):
        self.results, self.calls = results, []

    def run(self, job, todo, consume):
        self.calls.append((job, list(todo)))
        for r in self.results:
            consume(r)


def test_the_build_sums_what_any_executor_reports(job, caplog):
    results = [SceneResult(scene=1, frames=2, timings={"physics": 0.25, "write": 1.0},
                           removed=((2, "fell below the floor"),)),
               SceneResult(scene=0, frames=2, timings={"physics": 0.5}, settled=False, sim_time=4.0),
               SceneResult(scene=2, frames=1, recovered=True)]
    ex = _Replay(results)
    with caplog.at_level(logging.INFO, logger="gtforge"):
        frames, timings = _render(ex, job, [0, 1, 2], progress=False)
    assert ex.calls == [(job, [0, 1, 2])]
    assert frames == 5 and timings == {"physics": 0.75, "write": 1.0}
    assert "scene 1: removed 1 object(s) after physics: inst 2 (fell below the floor)" in caplog.text
    assert "scene 0: not settled within the 4.0 s cap" in caplog.text
