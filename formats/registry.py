"""Output formats by name: the recipe's ``output.formats`` entries and the writer classes behind them.

Adding a format is one module in ``formats/`` with a class implementing
:class:`~gtforge.formats.protocol.SceneWriter` and one entry in :data:`WRITERS`
(or a call of :func:`register`); the build and the recipe schema take their names from here.
"""

from __future__ import annotations

from .bop import BopWriter, ImagesWriter
from .coco import CocoWriter
from .kitti import KittiWriter

#: name -> writer class, in the order the names are documented
WRITERS: dict[str, type] = {"bop": BopWriter, "coco": CocoWriter, "kitti": KittiWriter}
#: The writer every build runs first, whatever ``output.formats`` says: the frames in BOP's layout
#: (``rgb/``, ``depth/``, ``scene_camera.json``), which the other formats and the inspection tools read.
BASE_WRITER: type = ImagesWriter


def format_names() -> list[str]:
    """The registered format names."""
    return list(WRITERS)


def register(name: str, writer: type) -> None:
    """Register ``writer`` (a :class:`~gtforge.formats.protocol.SceneWriter` class) as format ``name``.

    Raises
    ------
    ValueError
        If ``name`` is taken by another class.
    """
    if WRITERS.get(name, writer) is not writer:
        raise ValueError(f"format {name!r} is registered already ({WRITERS[name].__name__})")
    WRITERS[name] = writer


def writer_classes(names) -> list[type]:
    """The writer classes a build runs for the format ``names``: :data:`BASE_WRITER` first, then each one's.

    Raises
    ------
    KeyError
        For an unregistered name (recipes are validated against :func:`format_names` before this).
    """
    return [BASE_WRITER] + [WRITERS[n] for n in names]
