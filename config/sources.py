"""Where recipe files point: asset, texture and photo paths resolved to files.

A source is a path relative to the recipe file, an absolute path, or
``pkg://<python package>/<path inside it>`` (e.g. ``pkg://pybullet_data/duck_vhacd.urdf``); it may
contain glob patterns (``*``, ``?``, ``[...]``). ``procedural://cars`` names gtforge's generated
cars (``assets/cars.py``); it is recognised by the recipe schema and the asset library. Image sources
(textures, backdrop photos) may also be one of :data:`IMAGE_SCHEME_SOURCES` (checked by
:func:`check_image_source`).
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
#: Families of procedural textures (``assets/textures.py`` generates them; ``procedural://<family>``).
TEXTURE_FAMILIES = ("noise", "marble", "wood", "stripes", "checker", "dots")
#: Image sources named by scheme rather than by path (textures and backdrop photos): every procedural
#: family, one of them, or the images shipped inside an installed package (``assets/textures.py``:
#: scikit-image's sample photos and textures, pybullet_data's textures). Nothing is downloaded.
IMAGE_SCHEME_SOURCES = (("procedural://all",) + tuple(f"procedural://{f}" for f in TEXTURE_FAMILIES)
                        + ("bundled://skimage", "bundled://pybullet_data"))


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


def check_image_source(source: str, base_dir: str | os.PathLike) -> str:
    """Check a texture or photo source: a name of :data:`IMAGE_SCHEME_SOURCES`, or image files, folders of
    images or globs (relative, absolute or ``pkg://``, as :func:`resolve_source`).

    Returns
    -------
    source : str
        Unchanged.

    Raises
    ------
    ValueError
        For an unknown ``procedural://`` or ``bundled://`` name, a path where nothing exists, a file that
        is not an image (:data:`IMAGE_SUFFIXES`), or a folder with no image file in it (searched recursively).
    """
    if source.startswith(("procedural://", "bundled://")):
        if source not in IMAGE_SCHEME_SOURCES:
            raise ValueError(f"unknown image source {source!r}; known: {', '.join(IMAGE_SCHEME_SOURCES)}, "
                             "or image files, folders and globs")
        return source
    for p in resolve_source(source, base_dir):
        if p.is_dir():
            if not any(q.suffix.lower() in IMAGE_SUFFIXES for q in p.rglob("*") if q.is_file()):
                raise ValueError(f"{p}: folder holds no image file ({', '.join(IMAGE_SUFFIXES)})")
        elif p.suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(f"{p}: unsupported file type {p.suffix!r}; expected one of {', '.join(IMAGE_SUFFIXES)}")
    return source
