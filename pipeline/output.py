"""The dataset folder: creating it, recognising a resumable build, and the scenes still to render.

A dataset folder holds ``recipe.yaml`` (the resolved recipe, after ``--set``), ``gtforge.json``
(software version, source recipe, base folder, formats, split, scene count, class names) and
``camera.json``. Scenes are committed atomically (``formats.atomic.AtomicFolder``), so a scene
folder under its final name is complete, and re-running the same command renders the rest.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from .. import __version__
from ..formats.atomic import AtomicFolder, load_json, write_json_atomic, write_text_atomic
from ..formats.bop import camera_json, scene_path
from ..formats.dataset import META_FILE, RECIPE_COPY

class OutputError(Exception):
    """The output folder cannot be used (holds something else); the message says why."""


def prepare_output(out_dir, recipe, resolved: dict, recipe_file: str, base_dir, classes=None, backgrounds=()) -> bool:
    """Create the dataset folder, or check that an existing one was started by the same recipe.

    Parameters
    ----------
    out_dir : path
    recipe : Recipe
    resolved : dict
        The raw recipe after overrides (compared on resume, copied into ``recipe.yaml``).
    recipe_file : str
    base_dir : path
        Folder the recipe's relative paths are relative to.
    classes : dict or None
        ``{str(obj_id): {"name", "set"}}`` for ``gtforge.json``.
    backgrounds : list of Background
        AR recipes: ``camera.json`` takes the first background's camera.

    Returns
    -------
    resuming : bool
        True if the folder already held this build.

    Raises
    ------
    OutputError
        If the folder holds other files, or a build of a different recipe.
    """
    out = Path(out_dir)
    meta_path = out / META_FILE
    if out.exists() and any(out.iterdir()):
        if not meta_path.is_file():
            raise OutputError(f"{out}: folder exists, is not empty and is not a gtforge dataset; choose another --out")
        meta = load_json(meta_path)
        if meta.get("recipe") != resolved or meta.get("base_dir") != str(base_dir):
            raise OutputError(f"{out}: holds a build of a different recipe (or different --set values); "
                              "use another --out, or the same command as before to resume")
        return True
    out.mkdir(parents=True, exist_ok=True)
    header = (f"# Resolved recipe written by gtforge {__version__} (after --set overrides).\n"
              f"# Source: {recipe_file}; relative paths are relative to {base_dir}\n")
    write_text_atomic(out / RECIPE_COPY, header + yaml.safe_dump(resolved, sort_keys=False))
    if recipe.camera is not None:
        cam = recipe.camera
        K, w, h = cam.K(), cam.width, cam.height
    else:  # ar: the first background's camera (each image's own K is in scene_camera.json)
        K, w, h = backgrounds[0].K, backgrounds[0].width, backgrounds[0].height
    write_json_atomic(out / "camera.json", camera_json(K, w, h, recipe.output.depth_scale))
    write_json_atomic(meta_path, {"gtforge_version": __version__, "recipe_file": str(recipe_file),
                                  "base_dir": str(base_dir), "recipe": resolved, "formats": list(recipe.output.formats),
                                  "split": recipe.output.split, "num_scenes": recipe.num_scenes(),
                                  "classes": classes or {}})
    return False


def pending_scenes(out_dir, recipe) -> list[int]:
    """Scene indices whose final folder does not exist yet; their stale temporary folders are removed."""
    todo = []
    for i in range(recipe.num_scenes()):
        final = scene_path(out_dir, recipe.output.split, i)
        tmp = AtomicFolder.temporary(final)
        if tmp.exists():
            shutil.rmtree(tmp)
        if not final.is_dir():
            todo.append(i)
    return todo
