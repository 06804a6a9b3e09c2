"""gtforge's on-disk cache of results that are a pure function of their inputs (V-HACD parts, collision
compounds, symmetry searches): computed once per machine under :func:`core.files.cache_dir`, keyed by the
sha256 of the inputs and of the code version, written atomically (a reader sees a whole file or none)."""

from __future__ import annotations

from pathlib import Path

from ..core.files import atomic_open


def write_cache_file(path: Path, text: str) -> None:
    """Write ``text`` to the cache file ``path`` atomically (:func:`core.files.atomic_open`, creating its folder):
    concurrent writers of the same key write the same text, and the last rename wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w", fsync=False) as f:
        f.write(text)
