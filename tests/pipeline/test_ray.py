"""The Ray executor (pipeline/ray_executor.py): placement, retries of committed scenes, Ray missing, and on a local
Ray instance with 2 CPUs: byte-identical to a local build, and a killed actor still gives a complete dataset."""

import logging
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import DEFAULT_RECIPE, SMALL, run_cli

from gtforge.pipeline.ray_executor import INSTALL_LINE, ExecutorError, _check_reachable, plan_actors, run_or_recover
from gtforge.render.egl_devices import GpuError

ARGS = ["build", DEFAULT_RECIPE, "--quiet", *sum((["--set", s] for s in SMALL), []),
        "--set", "scenes.count=3", "--set", "scenes.views_per_scene=2"]
SCENES = ["000000", "000001", "000002"]


# ---------------------------------------------------------------- without Ray running
@pytest.mark.parametrize("cluster, actors, gpus, n_scenes, expected", [
    ({"CPU": 2.0}, None, None, 10, {"actors": 2, "num_cpus": 1.0, "num_gpus": 0.0}),  # one per CPU slot
    ({"CPU": 64.0}, None, None, 3, {"actors": 3, "num_cpus": 1.0, "num_gpus": 0.0}),  # never more than scenes
    ({"CPU": 2.0}, 5, None, 10, {"actors": 5, "num_cpus": 0.3333, "num_gpus": 0.0}),  # 3 per CPU so all fit
    ({"CPU": 32.0, "GPU": 8.0}, None, "all", 100, {"actors": 8, "num_cpus": 1.0, "num_gpus": 1.0}),  # per GPU
    ({"CPU": 32.0, "GPU": 8.0}, 12, "all", 100, {"actors": 12, "num_cpus": 1.0, "num_gpus": 0.5}),  # 2 per GPU
    ({"CPU": 16.0, "GPU": 1.0}, 16, "all", 100, {"actors": 16, "num_cpus": 1.0, "num_gpus": 0.0625}),
])
def test_plan_actors(cluster, actors, gpus, n_scenes, expected):
    plan = plan_actors(cluster, actors, gpus, n_scenes)
    assert plan == expected
    # whole resources are never oversubscribed: every actor fits in the cluster's totals
    assert plan["actors"] * plan["num_cpus"] <= cluster["CPU"] + 1e-9
    assert plan["actors"] * plan["num_gpus"] <= cluster.get("GPU", 0) + 1e-9


def test_plan_actors_gpu_errors_name_the_flag():
    with pytest.raises(GpuError, match="--gpus all: the Ray cluster has no GPU"):
        plan_actors({"CPU": 8.0}, None, "all", 4)
    with pytest.raises(GpuError, match="--gpus 0,2 with --executor ray"):
        plan_actors({"CPU": 8.0, "GPU": 4.0}, None, [0, 2], 4)


@pytest.mark.parametrize("address, message", [
    ("127.0.0.1:1", "--address 127.0.0.1:1: cannot connect to a Ray cluster at 127.0.0.1:1"),
    ("ray://127.0.0.1:1", "--address ray://127.0.0.1:1: cannot connect"),
    ("localhost", "--address localhost: expected HOST:PORT"),
])
def test_an_unreachable_address_fails_fast_naming_the_flag(address, message):
    t0 = time.perf_counter()
    with pytest.raises(ExecutorError, match=re.escape(message)):
        _check_reachable(address)  # ray.init itself would retry for minutes
    assert time.perf_counter() - t0 < 5


class _FakeWorker:
    """A SceneWorker stand-in that commits nothing and records calls."""

    def __init__(self, out_dir):
        from gtforge.config.loading import load_recipe

        self.recipe, _ = load_recipe(DEFAULT_RECIPE, ["scenes.count=3", "scenes.views_per_scene=2"])
        self.out_dir, self.calls = Path(out_dir), []

    def run_scene(self, i):
        self.calls.append(i)
        return {"scene": i, "frames": 2}


def test_a_retried_scene_that_was_committed_is_not_rendered_again(tmp_path):
    """Ray's at-least-once retries: the actor died after committing scene 1 but before its result got back."""
    w = _FakeWorker(tmp_path)
    (tmp_path / "train_pbr" / "000001").mkdir(parents=True)  # committed by the dead attempt
    (tmp_path / "train_pbr" / ".tmp_000002").mkdir()  # a dead attempt's temporary is not a scene
    res = run_or_recover(w, 1)
    assert w.calls == [] and res.recovered is True and res.scene == 1 and res.frames == 2
    assert res.removed == () and res.settled is True and res.timings == {} and res.obj_ids is None
    assert run_or_recover(w, 2) == {"scene": 2, "frames": 2} and w.calls == [2]


def test_without_ray_the_build_exits_2_with_the_install_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    out = tmp_path / "x"
    assert run_cli(*ARGS, "--out", out, "--executor", "ray") == 2
    err = capsys.readouterr().err
    assert err.startswith("gtforge: error: --executor ray needs Ray") and INSTALL_LINE in err, err
    assert not out.exists()


# ---------------------------------------------------------------- on a local Ray instance
def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance with 2 CPUs for this module's builds (starting one takes ~6 s); the builds find
    it initialised, use it and leave it running. It also claims one GPU, which this machine may not have: Ray
    schedules by the number alone, so ``--gpus all`` actors get GPU 0 (``CUDA_VISIBLE_DEVICES=0``)."""
    from gtforge.pipeline.ray_executor import connect, disconnect

    started = connect(None, num_cpus=2, num_gpus=1)
    yield
    disconnect(started)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same recipe built locally and serially."""
    out = tmp_path_factory.mktemp("ray") / "local"
    assert run_cli(*ARGS, "--out", out) == 0
    return tree(out)


@pytest.mark.e2e
def test_ray_build_equals_the_local_build(local_ray, reference, tmp_path, capfd, caplog):
    out = tmp_path / "ray"
    with caplog.at_level(logging.INFO, logger="gtforge"):
        assert run_cli(*ARGS, "--out", out, "--executor", "ray", "--workers", "2") == 0
    got = tree(out)
    assert sorted(got) == sorted(reference)
    assert [k for k in got if got[k] != reference[k]] == []  # every file, gtforge.json included
    std = capfd.readouterr()
    assert "wrote 6 frame(s) in 3 scene(s)" in std.out
    ours = {r.getMessage() for r in caplog.records if r.name == "gtforge"}
    noise = [ln for ln in (std.out + std.err).splitlines() if not ln.startswith("gtforge") and ln not in ours]
    assert not noise  # the terminal shows gtforge's lines only: no Ray banner, warning or actor output
    actors = [m for m in ours if m.startswith("ray actor pid")]
    assert len(actors) == 2, caplog.text  # each actor's device, logged by the driver


def _descendants(pid: int) -> dict[int, str]:
    """{pid: command line} of every process below ``pid`` (read from /proc, proc(5))."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = {}, [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            try:
                out[c] = (Path("/proc") / str(c) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            todo.append(c)
    return out


@pytest.mark.e2e
def test_killing_a_ray_actor_mid_build_still_completes_the_dataset(local_ray, reference, tmp_path):
    out = tmp_path / "ray_kill"
    killed: dict = {}

    def killer():
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            done = [s for s in SCENES if (out / "train_pbr" / s).is_dir()]
            busy = [p for p, cmd in _descendants(os.getpid()).items() if cmd.startswith("ray::SceneActor.run_scene")]
            if done and busy:  # one scene committed, another being rendered: kill the actor rendering it
                os.kill(busy[0], signal.SIGKILL)
                killed.update(pid=busy[0], done=done)
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    assert run_cli(*ARGS, "--out", out, "--executor", "ray", "--workers", "2") == 0
    thread.join(timeout=1)
    assert killed and len(killed["done"]) < len(SCENES), killed  # it really died mid-build
    assert not Path(f"/proc/{killed['pid']}").exists() or "zombie" in Path(f"/proc/{killed['pid']}/status").read_text()
    names = sorted(p.name for p in (out / "train_pbr").iterdir())
    assert names == SCENES  # every scene once, no temporary folder left
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]
    got = tree(out)
    assert sorted(got) == sorted(reference) and all(got[k] == reference[k] for k in got)
    assert run_cli("verify", out) == 0


@pytest.mark.e2e
def test_ray_gpu_actors_map_their_gpu_through_egl(local_ray, tmp_path, capsys):
    """Two actors share the (claimed) GPU 0, half each; each maps CUDA 0 to its EGL device. On a machine without
    NVIDIA's EGL, the actors find no EGL device for CUDA 0 and the build stops naming what exists (exit 2)."""
    from gtforge.render.egl_devices import list_egl_devices

    if any(d.is_cuda for d in list_egl_devices()):
        pytest.skip("this machine has a CUDA EGL device: the mapping is checked by the build itself")
    assert run_cli(*ARGS, "--out", tmp_path / "g", "--executor", "ray", "--workers", "2", "--gpus", "all") == 2
    err = capsys.readouterr().err
    assert "ray: 2 actor(s), 1 CPU and 0.5 GPU each" in err  # two renderers share the GPU
    assert "gtforge: error: --gpus all: actor pid" in err, err
    assert "Ray GPU 0: no EGL device for CUDA device(s) 0; EGL devices: EGL 0 (EGL_MESA_device_software)" in err
    assert "(CUDA_VISIBLE_DEVICES=0)" in err  # Ray restricted the actor's CUDA to its GPU
    assert not (tmp_path / "g" / "train_pbr").exists() or not any((tmp_path / "g" / "train_pbr").iterdir())


def test_an_actor_lost_for_good_is_a_rendering_failure_not_bad_input():
    from types import SimpleNamespace

    from gtforge.pipeline.ray_executor import WorkerLostError, _reraise_task_error

    class RayTaskError(Exception):
        pass

    class RayActorError(Exception):
        pass

    fake = SimpleNamespace(exceptions=SimpleNamespace(RayTaskError=RayTaskError, RayActorError=RayActorError))
    with pytest.raises(WorkerLostError, match="scene 7: a Ray actor died and could not be restarted") as e:
        _reraise_task_error(fake, RayActorError("The actor died unexpectedly"), 7)
    assert not isinstance(e.value, ExecutorError)  # ExecutorError is bad input: exit 2
