"""Files that appear whole or not at all, and the folder of gtforge's on-disk cache.

Every place that writes a file under its final name goes through :func:`atomic_path` (or
:func:`atomic_open` on top of it): the bytes go to a temporary file beside the target, on the same file
system, which is renamed over the target only when complete (``os.replace``, atomic on POSIX). A reader, or
a build resumed after a kill, sees the old file, the whole new one, or none; never half of one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

#: Suffix of every temporary file :func:`atomic_path` makes (a stale one is a killed writer's leftover).
TEMP_SUFFIX = ".tmp"


def cache_dir() -> Path:
    """The folder of gtforge's on-disk cache (V-HACD parts, collision compounds, symmetry searches, the patched
    shader copy).

    ``$GTFORGE_CACHE`` when set and not empty, else ``$XDG_CACHE_HOME/gtforge`` when that is set and not empty
    (XDG Base Directory Specification), else ``~/.cache/gtforge``. The folder may not exist yet.
    """
    if os.environ.get("GTFORGE_CACHE"):
        return Path(os.environ["GTFORGE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gtforge"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed to ``path`` when the block ends without error.

    The temporary name is ``{name}.{pid}.{random}.tmp`` in the target's folder, so concurrent writers of one
    target (two processes filling the same cache entry) never share a temporary file, and the last rename wins.
    Whatever the block wrote is removed if it raises. The caller writes the file itself (any library that takes
    a path); use :func:`atomic_open` for a file object.

    Raises
    ------
    FileNotFoundError
        If the block ends without creating the temporary file.
    OSError
        From the rename (e.g. ``path`` is a non-empty folder).
    """
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", fsync: bool = True) -> Iterator[IO]:
    """``open(path, mode)`` that writes a temporary file and renames it to ``path`` when the block ends.

    Parameters
    ----------
    path : path
        The final file. Its folder must exist.
    mode : {"w", "wb"}
        Text (UTF-8) or binary.
    fsync : bool
        Flush the data to the disk before the rename (a power loss then leaves the old or the new file).

    Raises
    ------
    ValueError
        For a mode other than "w" or "wb".
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', got {mode!r}")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
