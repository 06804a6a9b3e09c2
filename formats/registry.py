"""Output formats by name: the recipe's ``output.formats`` entries and the writer classes behind them.

Adding a format is one module in ``formats/`` with a class implementing
:class:`~gtforge.formats.protocol.SceneWriter` and one entry in :data:`WRITERS`
(or a call of :func:`register`); the build and the recipe schema take their names from here.
"""

from __future__ import annotations

import importlib

#: name -> writer class, or ``"module:Class"`` of a module in ``gtforge.formats`` (imported on first use, so
#: reading a recipe does not import every format's libraries), in the order the names are documented
WRITERS: dict[str, type | str] = {"bop": "bop:BopWriter", "coco": "coco:CocoWriter", "kitti": "kitti:KittiWriter",
                                  "yolo": "yolo:YoloWriter", "webdataset": "webdataset:WebdatasetWriter"}
#: The writer every build runs first, whatever ``output.formats`` says: the frames in BOP's layout
#: (``rgb/``, ``depth/``, ``scene_camera.json``), which the other formats and the inspection tools read.
BASE_WRITER = "bop:ImagesWriter"


def _resolve(entry: type | str) -> type:
    if isinstance(entry, str):
        module, name = entry.split(":")
        return getattr(importlib.import_module(f"{__package__}.{module}"), name)
    return entry


def format_names() -> list[str]:
    """The registered format names."""
    return list(WRITERS)


def register(name: str, writer: type) -> None:
    """Register ``writer`` (a :class:`~gtforge.formats.protocol.SceneWriter` class) as format ``name``.

    The registration lives in this process. A build with ``--workers`` > 1 starts fresh processes, which
    re-read the recipe: register a format from a module those processes import (e.g. at the import of
    the package that defines it) for it to be known there too.

    Raises
    ------
    ValueError
        If ``name`` is taken by another class.
    """
    if name in WRITERS and _resolve(WRITERS[name]) is not writer:
        raise ValueError(f"format {name!r} is registered already ({_resolve(WRITERS[name]).__name__})")
    WRITERS[name] = writer


def writer_classes(names) -> list[type]:
    """The writer classes a build runs for the format ``names``: :data:`BASE_WRITER` first, then each one's.

    Raises
    ------
    KeyError
        For an unregistered name (recipes are validated against :func:`format_names` before this).
    """
    return [_resolve(BASE_WRITER)] + [_resolve(WRITERS[n]) for n in names]
