"""gtforge's on-disk cache of results that are a pure function of their inputs (V-HACD parts, collision
compounds, symmetry searches): computed once per machine, keyed by the sha256 of the inputs and of the code
version, written atomically (a reader sees a whole file or none)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Folder of gtforge's on-disk cache: ``$GTFORGE_CACHE``, else ``$XDG_CACHE_HOME/gtforge``, else ``~/.cache/gtforge``."""
    if os.environ.get("GTFORGE_CACHE"):
        return Path(os.environ["GTFORGE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gtforge"


def write_cache_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file named by the pid in the same folder, then
    ``os.replace``): concurrent writers of the same key write the same text, and the last rename wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
