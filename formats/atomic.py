"""Atomic output: files and folders appear under their final names only when complete.

Every writer writes through these helpers, so an interrupted build (Ctrl-C, kill, power loss)
never leaves a half-written file or scene folder under a final name, and a resumed build
only has to look at final names (BOP toolkit ``inout`` discipline: readers beside writers).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..core.files import atomic_open


def write_json_atomic(path, obj, per_key_lines: bool = False) -> None:
    """Write JSON to ``path`` via a temporary file (fsync'ed) and an atomic rename (:func:`core.files.atomic_open`).

    With ``per_key_lines``, a top-level mapping is written one key per line, as the BOP toolkit's
    ``inout.save_json`` does; otherwise indented with sorted keys.
    """
    with atomic_open(path, "w") as f:
        if per_key_lines and isinstance(obj, dict):
            f.write("{\n")
            items = list(obj.items())
            for i, (k, v) in enumerate(items):
                f.write(f"  {json.dumps(str(k))}: {json.dumps(v)}" + (",\n" if i < len(items) - 1 else "\n"))
            f.write("}\n")
        else:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` to ``path`` (UTF-8) via a temporary file and an atomic rename."""
    with atomic_open(path, "w") as f:
        f.write(text)


def link_or_copy(src, dst) -> None:
    """Make ``dst`` the file ``src``: a hard link (replacing ``dst``), a copy where the file system cannot link.

    Dataset-level layouts (KITTI, YOLO) are assembled this way from the committed scene folders.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def load_json(path) -> dict | list:
    """Read a JSON file; a mapping whose keys are all decimal integers gets int keys (as the BOP toolkit's
    ``inout.load_json(keys_to_int=True)``). Raises OSError / json.JSONDecodeError."""
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict) and data and all(isinstance(k, str) and k.lstrip("-").isdigit() for k in data):
        return {int(k): v for k, v in data.items()}
    return data


#: Name prefix of a folder being written (``AtomicFolder``): it never counts as complete.
TEMP_PREFIX = ".tmp_"


class AtomicFolder:
    """A folder written under a temporary name (``.tmp_<name>`` beside it) and renamed by :meth:`commit`.

    Parameters
    ----------
    final : path
        The folder's final path. A stale temporary folder of the same name is removed on creation.

    Attributes
    ----------
    path : Path
        Where writers put files until the commit.
    final : Path
    """

    def __init__(self, final):
        self.final = Path(final)
        self.path = self.temporary(self.final)
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)

    @staticmethod
    def temporary(final) -> Path:
        """The temporary path of the folder whose final path is ``final``."""
        final = Path(final)
        return final.parent / f"{TEMP_PREFIX}{final.name}"

    def commit(self) -> Path:
        """Rename to the final name and return it.

        Raises
        ------
        FileExistsError
            If the final folder exists (a scene is never written twice).
        """
        if self.final.exists():
            raise FileExistsError(f"{self.final} exists already")
        os.replace(self.path, self.final)
        return self.final
