"""The output-folder lock: one build at a time writes into a dataset folder.

A build holds ``DIR/.gtforge.lock`` from before it touches the folder until it returns (also on an
error or Ctrl-C). The file is JSON: ``host`` (``socket.gethostname()``), ``pid``, ``started`` (ISO 8601,
UTC), ``command`` (the command line) and, on Linux, ``pid_start`` (the holder's start time in clock ticks
after boot, field 22 of ``/proc/<pid>/stat``, proc(5)), so a recycled pid is not mistaken for the holder, and
``pid_ns`` (its PID namespace, ``readlink /proc/self/ns/pid``), so a container that shares the host name but
not the process table never judges another container's build dead.

Design (race-safety):

* **Creation is atomic with its content.** The record is written to a private temporary file
  (``.gtforge.lock.<pid>.<token>.tmp``) and hard-linked to ``.gtforge.lock``; ``link(2)`` fails with
  ``EEXIST`` if the lock exists, so of any number of builds, on any hosts sharing the folder, exactly one
  creates it, and nobody ever reads a half-written lock. Where the file system has no hard links the file
  is created with ``O_CREAT | O_EXCL`` and then written (a reader that finds it empty refuses).
* **A stale lock is taken over only on its own host**: the holder's host (and PID namespace) is this
  process's and its pid is no longer running (``kill(pid, 0)`` fails with ``ESRCH``, the process is a
  zombie, or the pid now belongs to a process started later). A lock of another host is never taken over:
  the message names it and says how to remove it. Takeover is logged (``log.warning``, ``gtforge`` logger).
* **Takeovers cannot both win.** The whole check-and-take sequence runs under an exclusive
  ``fcntl.flock`` of the output folder itself (a directory file descriptor; no extra file), which serialises
  the builds of one host; as only same-host builds take a lock over, that is every competitor: the second
  one re-reads the lock after the first has finished and finds a live holder. The removal itself renames
  the stale file to a private name and checks that the moved bytes are the stale record it judged (else puts
  the moved lock back with ``link``, which never replaces). Where ``flock`` is refused on the folder (some
  network file systems) it is skipped and this check alone guards a live lock; the one gap left there is a
  third build creating a lock in the microseconds between moving a live lock aside and putting it back.
  After the removal the new lock is created as above: a build of another host that got in between wins,
  and this one refuses.
* **Release** removes the file only if it still holds this build's record.

The lock file and the temporary names all start with ``.gtforge.lock``; a finished dataset never holds
one (:data:`LOCK_PREFIX`, ignored by :func:`~gtforge.pipeline.output.prepare_output` when it decides
whether a folder is empty).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shlex
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("gtforge")

#: Name of the lock file in the output folder.
LOCK_FILE = ".gtforge.lock"
#: Prefix of the lock file and of its temporary names (never part of a dataset).
LOCK_PREFIX = LOCK_FILE


class LockError(Exception):
    """The output folder is locked by another build (or its lock cannot be judged); the message names the
    holder (host, pid, start time, command) and what to do."""


def proc_start_ticks(pid: int) -> int | None:
    """Start time of process ``pid`` in clock ticks after boot (``/proc/<pid>/stat`` field 22, proc(5)); None
    where ``/proc`` is not available or the process does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) ": field 3 (state) onwards
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:][:1] == "Z"


def pid_alive(pid: int, pid_start: int | None = None) -> bool:
    """Whether process ``pid`` of this host is running (and, given ``pid_start``, is the process that started
    then, not a later one with the recycled pid). A zombie counts as dead."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: running
    if _is_zombie(pid):
        return False
    if pid_start is not None:
        now = proc_start_ticks(pid)
        if now is not None and now != pid_start:
            return False
    return True


def pid_namespace() -> str | None:
    """This process's PID namespace (``pid:[inode]``, proc(5) ``/proc/self/ns/pid``); None where unavailable."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def holder_record(command: str | None = None) -> dict:
    """This process's lock record: ``host``, ``pid``, ``started`` (now, ISO 8601 UTC), ``command`` (default:
    this process's command line), ``pid_start`` (:func:`proc_start_ticks`) and ``pid_ns``
    (:func:`pid_namespace`; both None off Linux)."""
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "command": command if command is not None else shlex.join(sys.argv),
            "pid_start": proc_start_ticks(os.getpid()), "pid_ns": pid_namespace()}


def describe(info: dict) -> str:
    """``host H, pid P, started S`` (and the command) of a lock record, for messages."""
    text = f"host {info.get('host')}, pid {info.get('pid')}, started {info.get('started')}"
    return text + (f": {info['command']}" if info.get("command") else "")


def read_lock(out_dir) -> dict | None:
    """The lock record of ``out_dir`` (None when it holds no lock; ``{}`` when the file is unreadable)."""
    path = Path(out_dir) / LOCK_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    return _parse(raw) or {}


def _parse(raw: bytes) -> dict | None:
    try:
        info = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("pid"), int) and info.get("host") else None


@contextlib.contextmanager
def _host_mutex(root: Path):
    """Exclusive ``flock`` of the folder ``root`` (serialises lock decisions of this host); a no-op where the
    file system does not support it."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass  # e.g. NFS refuses flock on a directory: the rename check below still protects live locks
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _create(path: Path, data: bytes) -> bool:
    """Create the lock file with ``data`` unless it exists. Returns False if it exists."""
    tmp = path.with_name(f"{LOCK_PREFIX}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system: exclusive create, then write
            pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return True


def _remove_stale(path: Path, raw: bytes) -> bool:
    """Remove the lock file if it still holds ``raw`` (the stale record judged). Returns True if removed."""
    aside = path.with_name(f"{LOCK_PREFIX}.stale.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False  # removed meanwhile (released, or taken over by another build)
    if aside.read_bytes() == raw:
        aside.unlink()
        return True
    with contextlib.suppress(FileExistsError):  # a live lock was moved: put it back (never replaces)
        os.link(aside, path)
    aside.unlink()
    return False


class OutputLock:
    """A held lock (returned by :func:`acquire`); a context manager that releases it.

    Attributes
    ----------
    path : Path
        The lock file.
    record : dict
        What it holds (:func:`holder_record`).
    """

    def __init__(self, path: Path, record: dict, data: bytes):
        self.path, self.record, self._data = path, record, data

    def release(self) -> None:
        """Remove the lock file if it is still this build's (idempotent)."""
        try:
            if self.path.read_bytes() != self._data:
                return
            self.path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> "OutputLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def acquire(out_dir, command: str | None = None, attempts: int = 5) -> OutputLock:
    """Lock the output folder ``out_dir`` (created with its parents if missing) for this process.

    Parameters
    ----------
    out_dir : path
    command : str or None
        Recorded in the lock (default: this process's command line).
    attempts : int
        Tries (a lock released or taken over while this call looks at it is looked at again).

    Returns
    -------
    OutputLock

    Raises
    ------
    LockError
        If another running build holds the folder (message: its host, pid, start time, command), the lock is
        from another host (never taken over automatically; the message says how to remove it), or cannot be
        read.
    OSError
        If the folder cannot be created or written.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_FILE
    record = holder_record(command)
    data = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")
    me = record["host"]
    remove_hint = (f"if you are sure that no build writes into {root} any more, remove {path} and run the command "
                   "again")
    with _host_mutex(root):
        for _ in range(attempts):
            if _create(path, data):
                return OutputLock(path, record, data)
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue  # released meanwhile
            info = _parse(raw)
            if info is None:
                raise LockError(f"{root}: locked by another build ({path} exists but holds no readable record: "
                                f"being created, or damaged); {remove_hint}")
            if info["host"] != me:
                raise LockError(f"{root}: locked by a build on another host ({describe(info)}); it cannot be "
                                f"checked from {me}: {remove_hint}")
            if info.get("pid_ns") and record["pid_ns"] and info["pid_ns"] != record["pid_ns"]:
                raise LockError(f"{root}: locked by a build in another container of this host ({describe(info)}, "
                                f"PID namespace {info['pid_ns']}); it cannot be checked from here: {remove_hint}")
            if pid_alive(info["pid"], info.get("pid_start")):
                raise LockError(f"{root}: another build is writing into this folder ({describe(info)}); wait for "
                                "it to finish or choose another --out")
            if _remove_stale(path, raw):
                log.warning("%s: taking over a stale lock (%s; that process is no longer running)", root,
                            describe(info))
    raise LockError(f"{root}: could not take the lock {path} after {attempts} attempts (other builds keep "
                    "taking it); try again")
