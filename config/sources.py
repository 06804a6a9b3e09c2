"""Where recipe files point: asset, texture and photo paths resolved to files.

A source is a path relative to the recipe file, an absolute path, or
``pkg://<python package>/<path inside it>`` (e.g. ``pkg://pybullet_data/duck_vhacd.urdf``); it may
contain glob patterns (``*``, ``?``, ``[...]``). ``procedural://cars`` names gtforge's generated
cars (``assets/cars.py``); it is recognised by the recipe schema and the asset library.
"""

from __future__ import annotations

import glob
import importlib.util
import os
from pathlib import Path

#: File types the asset loaders read (``assets/loaders.py``).
MESH_SUFFIXES = (".obj", ".ply", ".stl", ".glb", ".gltf", ".urdf", ".off")
#: Image types accepted for textures and photos.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
#: The procedural sources gtforge generates itself.
PROCEDURAL_SOURCES = ("procedural://cars",)


def _pkg_root(name: str) -> Path:
    """Folder of an installed python package. Raises ValueError if it is not installed."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"python package {name!r} is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def resolve_source(source: str, base_dir: str | os.PathLike) -> list[Path]:
    """Resolve an asset path (relative, absolute or ``pkg://``, globs allowed) to existing paths.

    Returns
    -------
    paths : list of Path
        Sorted, absolute; at least one.

    Raises
    ------
    ValueError
        If nothing exists at the path, or the package is not installed.
    """
    if source.startswith("pkg://"):
        rest = source[len("pkg://"):]
        pkg, _, rel = rest.partition("/")
        full = _pkg_root(pkg) / rel
    else:
        full = Path(source)
        if not full.is_absolute():
            full = Path(base_dir) / full
    pattern = str(full)
    if glob.has_magic(pattern):
        hits = sorted(Path(p).resolve() for p in glob.glob(pattern))
    else:
        hits = [full.resolve()] if full.exists() else []
    if not hits:
        raise ValueError(f"file not found: {pattern}")
    return hits
