"""The output-folder lock (pipeline/lock.py): one build per folder; a stale lock of this host is taken over, a
live one and one of another host are refused; racing takeovers have one winner; two real builds into one
folder: one wins, the other exits 2 naming it, and the dataset verifies."""

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import DEFAULT_RECIPE, SMALL, run_cli

from gtforge.pipeline.lock import LOCK_FILE, LockError, acquire, pid_namespace, proc_start_ticks

ROOT = Path(__file__).resolve().parents[2]
GTFORGE = ROOT / ".venv" / "bin" / "gtforge"
SETS = sum((["--set", s] for s in SMALL), [])


def tree(root):
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(Path(root).rglob("*"))}


def dead_pid() -> int:
    """A pid of this host that no longer runs (a child that exited and was reaped)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture
def live_process():
    """Another live process of this host (not this one)."""
    p = subprocess.Popen(["sleep", "60"])
    yield p
    p.kill()
    p.wait()


def write_lock(folder: Path, **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    record = {"host": socket.gethostname(), "pid": 0, "started": "2024-01-02T03:04:05Z",
              "command": "gtforge build other.yaml --out x", **fields}
    path = folder / LOCK_FILE
    path.write_text(json.dumps(record))
    return path


def test_lock_records_holder_and_is_released(tmp_path):
    out = tmp_path / "new" / "ds"
    with acquire(out, command="gtforge build r.yaml --out ds") as lock:
        rec = json.loads((out / LOCK_FILE).read_text())
        assert rec["host"] == socket.gethostname() and rec["pid"] == os.getpid()
        assert rec["command"] == "gtforge build r.yaml --out ds"
        started = datetime.fromisoformat(rec["started"].replace("Z", "+00:00"))
        assert started.utcoffset().total_seconds() == 0 and abs(time.time() - started.timestamp()) < 60
        assert rec["pid_start"] == proc_start_ticks(os.getpid()) is not None
        assert rec["pid_ns"] == pid_namespace() and rec["pid_ns"].startswith("pid:[")
        assert lock.path == out / LOCK_FILE
        with pytest.raises(LockError, match=f"pid {os.getpid()}"):  # the same folder, again: refused
            acquire(out)
    assert list(out.iterdir()) == []  # released: no lock file, no temporaries


def test_stale_lock_of_this_host_is_taken_over_with_a_warning(tmp_path, caplog):
    pid = dead_pid()
    write_lock(tmp_path, pid=pid)
    with caplog.at_level(logging.WARNING, logger="gtforge"):
        lock = acquire(tmp_path)
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert any("stale lock" in r.getMessage() and f"pid {pid}" in r.getMessage() for r in caplog.records)
    lock.release()
    assert list(tmp_path.iterdir()) == []


def test_recycled_pid_is_stale(tmp_path, live_process):
    """A live pid whose start time differs from the recorded one is another process: the lock is stale."""
    write_lock(tmp_path, pid=live_process.pid, pid_start=proc_start_ticks(live_process.pid) - 1)
    acquire(tmp_path).release()


def test_live_lock_is_refused_and_kept(tmp_path, live_process):
    path = write_lock(tmp_path, pid=live_process.pid, pid_start=proc_start_ticks(live_process.pid))
    before = path.read_bytes()
    with pytest.raises(LockError) as e:
        acquire(tmp_path)
    msg = str(e.value)
    assert f"host {socket.gethostname()}" in msg and f"pid {live_process.pid}" in msg
    assert "2024-01-02T03:04:05Z" in msg and "other.yaml" in msg
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [LOCK_FILE]


@pytest.mark.parametrize("pid_of", ["dead", "self"])
def test_lock_of_another_host_is_never_taken_over(tmp_path, pid_of):
    pid = dead_pid() if pid_of == "dead" else os.getpid()
    path = write_lock(tmp_path, host="node-17.cluster", pid=pid)
    before = path.read_bytes()
    with pytest.raises(LockError) as e:
        acquire(tmp_path)
    msg = str(e.value)
    assert "host node-17.cluster" in msg and f"pid {pid}" in msg and f"remove {path}" in msg
    assert path.read_bytes() == before


def test_lock_of_another_pid_namespace_is_never_taken_over(tmp_path):
    """Same host name, other container: its dead-looking pid is not judged from here."""
    path = write_lock(tmp_path, pid=dead_pid(), pid_ns="pid:[1]")
    with pytest.raises(LockError, match=r"another container of this host .*pid:\[1\].*remove"):
        acquire(tmp_path)
    assert path.exists()
    rec = json.loads(path.read_text())
    rec["pid_ns"] = pid_namespace()  # the same namespace: stale, taken over
    path.write_text(json.dumps(rec))
    acquire(tmp_path).release()


def test_unreadable_lock_is_refused(tmp_path):
    (tmp_path / LOCK_FILE).write_text("")
    with pytest.raises(LockError, match="remove"):
        acquire(tmp_path)


RACER = textwrap.dedent("""
    import contextlib, json, sys, time
    import gtforge.pipeline.lock as L
    folders, t0, step, mutex = json.loads(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    judge = L.pid_alive
    def slow_judge(pid, pid_start=None):  # widen the window between reading a lock and acting on it
        time.sleep(step / 3)
        return judge(pid, pid_start)
    L.pid_alive = slow_judge
    if mutex == "off":  # as on a file system without flock: the rename check alone must hold
        L._host_mutex = lambda root: contextlib.nullcontext()
    won = []
    for r, d in enumerate(folders):
        while time.time() < t0 + r * step:
            pass
        try:
            L.acquire(d)  # kept (not released), so that the other racer finds a live holder
            won.append(d)
        except L.LockError:
            pass
    while time.time() < t0 + len(folders) * step + 0.3:
        time.sleep(0.01)
    print(json.dumps(won))
""")


@pytest.mark.parametrize("mutex", ["on", "off"])
def test_two_processes_taking_over_one_stale_lock_one_wins(tmp_path, mutex):
    """Both racers read the same stale lock at the same instant and take their time judging it; each round
    exactly one of them holds the folder afterwards (a naive check-then-unlink lets both win)."""
    folders = [str(tmp_path / f"d{r:02d}") for r in range(8)]
    pid = dead_pid()
    for d in folders:
        write_lock(Path(d), pid=pid)
    t0, step = time.time() + 0.8, 0.05
    procs = [subprocess.Popen([sys.executable, "-c", RACER, json.dumps(folders), str(t0), str(step), mutex],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(2)]
    won = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(won[0] + won[1]) == folders, won  # every round: exactly one winner
    for d in folders:  # and the winner's record is the lock on disk
        owner = procs[0].pid if d in won[0] else procs[1].pid
        assert json.loads((Path(d) / LOCK_FILE).read_text())["pid"] == owner
        assert sorted(p.name for p in Path(d).iterdir()) == [LOCK_FILE]  # no temporaries left


@pytest.mark.e2e
def test_build_into_a_locked_folder_exits_2_and_touches_nothing(tmp_path, live_process, capsys):
    """The folder of a build in progress (its gtforge.json, a scene being written, its lock): refused, intact."""
    from gtforge.config import load_recipe
    from gtforge.pipeline.job import BuildJob
    from gtforge.pipeline.output import prepare_output

    args = ["--set", "scenes.count=2", "--set", "scenes.views_per_scene=1", *SETS]
    recipe, resolved = load_recipe(DEFAULT_RECIPE, [a for a in args if a != "--set"])
    out = tmp_path / "ds"
    prepare_output(BuildJob(recipe, resolved, str(DEFAULT_RECIPE), DEFAULT_RECIPE.parent.resolve(), out))
    (out / "train_pbr" / ".tmp_000000" / "rgb").mkdir(parents=True)
    (out / "train_pbr" / ".tmp_000000" / "rgb" / "000000.jpg").write_bytes(b"being written")
    write_lock(out, pid=live_process.pid)
    before = tree(out)
    capsys.readouterr()
    assert run_cli("build", DEFAULT_RECIPE, "--out", out, "--quiet", *args) == 2
    err = capsys.readouterr().err
    assert f"pid {live_process.pid}" in err and f"host {socket.gethostname()}" in err and "gtforge: error:" in err
    assert tree(out) == before


@pytest.mark.e2e
def test_two_concurrent_builds_one_wins_and_the_dataset_verifies(tmp_path):
    out = tmp_path / "ds"
    cmd = [str(GTFORGE), "build", str(DEFAULT_RECIPE), "--out", str(out), "--quiet", *SETS,
           "--set", "scenes.count=1", "--set", "scenes.views_per_scene=2"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # both start together: the loser reaches the lock while held
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    rcs = [p.returncode for p in procs]
    assert sorted(rcs) == [0, 2], (rcs, outs)
    winner, loser = (0, 1) if rcs[0] == 0 else (1, 0)
    err = outs[loser][1]
    assert "another build is writing into this folder" in err
    assert f"host {socket.gethostname()}, pid {procs[winner].pid}" in err
    assert not (out / LOCK_FILE).exists()
    assert sorted(p.name for p in (out / "train_pbr").iterdir()) == ["000000"]
    assert not [p for p in out.rglob("*") if p.name.startswith((".tmp", ".gtforge"))]
    assert run_cli("verify", out, "--sample", "1") == 0


@pytest.mark.e2e
def test_sigterm_stops_a_build_and_releases_its_lock(tmp_path):
    """A batch system's SIGTERM interrupts the build like Ctrl-C: exit 130, the lock released, the scene being
    written not committed (test_build.py's resume test shows the next run completing such a folder)."""
    out = tmp_path / "ds"
    cmd = [str(GTFORGE), "build", str(DEFAULT_RECIPE), "--out", str(out), "--quiet", *SETS,
           "--set", "scenes.count=1", "--set", "scenes.views_per_scene=1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tmp_scene = out / "train_pbr" / ".tmp_000000"
    deadline = time.time() + 120
    while not tmp_scene.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert (out / LOCK_FILE).is_file()
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert not (out / LOCK_FILE).exists() and not (out / "train_pbr" / "000000").exists()


def test_prepare_output_ignores_the_lock_file(tmp_path):
    """A folder holding only a lock counts as empty; one holding anything else that is not a dataset is refused
    before the build creates its lock there."""
    from gtforge.pipeline.output import OutputError, check_output_usable, folder_entries

    write_lock(tmp_path / "a", pid=os.getpid())
    assert folder_entries(tmp_path / "a") == []
    check_output_usable(tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not a gtforge dataset"):
        check_output_usable(tmp_path / "b")
    shutil.rmtree(tmp_path / "a")
