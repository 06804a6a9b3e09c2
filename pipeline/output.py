"""The dataset folder: creating it, recognising a resumable build, and the scenes still to render.

A dataset folder holds ``recipe.yaml`` (the resolved recipe, after ``--set``), ``gtforge.json``
(software version, source recipe, base folder, formats, split, scene count, class names; for a shard
``--shard K/N`` also ``"shard": [K, N]``, with ``num_scenes`` the shard's own count) and
``camera.json``. Scenes are committed atomically (``formats.atomic.AtomicFolder``), so a scene
folder under its final name is complete, and re-running the same command renders the rest.
While a build runs, the folder also holds its lock (:mod:`.lock`), which these functions ignore.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from .. import __version__
from ..assets.backgrounds import kitti_label_frames
from ..formats.atomic import AtomicFolder, load_json, write_json_atomic, write_text_atomic
from ..formats.bop import camera_json, scene_path
from ..formats.dataset import META_FILE, RECIPE_COPY
from .job import BuildJob
from .lock import LOCK_PREFIX

class OutputError(Exception):
    """The output folder cannot be used (holds something else); the message says why."""


def parse_shard(spec: str) -> tuple[int, int]:
    """Parse ``--shard K/N``.

    Returns
    -------
    (K, N) : tuple of int
        0 <= K < N, N >= 1.

    Raises
    ------
    ValueError
        With a message naming ``--shard``, for anything else.
    """
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(spec))
    if m is None:
        raise ValueError(f"--shard: expected K/N (shard K of N, 0 <= K < N, e.g. 0/4), got {spec!r}")
    k, n = int(m.group(1)), int(m.group(2))
    check_shard((k, n))
    return k, n


def check_shard(shard) -> None:
    """Raise ValueError (naming ``--shard``) unless ``shard`` is None or (K, N) ints with 0 <= K < N."""
    if shard is None:
        return
    try:
        k, n = shard
    except (TypeError, ValueError):
        raise ValueError(f"--shard: expected (K, N), got {shard!r}") from None
    if not (isinstance(k, int) and isinstance(n, int)) or n < 1 or not 0 <= k < n:
        raise ValueError(f"--shard: K/N needs N >= 1 and 0 <= K < N, got {k}/{n}")


def shard_scenes(num_scenes: int, shard) -> list[int]:
    """The scene indices a build renders: all of ``range(num_scenes)``, or those i with i % N == K."""
    return list(range(num_scenes)) if shard is None else list(range(shard[0], num_scenes, shard[1]))


def _shard_text(shard) -> str:
    return "a full build" if shard is None else f"shard {shard[0]}/{shard[1]}"


def folder_entries(out_dir) -> list[Path]:
    """What ``out_dir`` holds, lock files (:data:`~gtforge.pipeline.lock.LOCK_PREFIX`) left out; empty when it
    does not exist."""
    out = Path(out_dir)
    if not out.is_dir():
        return []
    return [p for p in out.iterdir() if not p.name.startswith(LOCK_PREFIX)]


def check_output_usable(out_dir) -> None:
    """Raise OutputError if ``out_dir`` is a file, or a folder that is not empty and not a gtforge dataset.

    Writes nothing: the build calls it before it takes the lock, so a wrong ``--out`` is never touched.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder; choose another --out")
    if folder_entries(out) and not (out / META_FILE).is_file():
        raise OutputError(f"{out}: folder exists, is not empty and is not a gtforge dataset; choose another --out")


def dataset_meta(job: BuildJob, classes=None) -> dict:
    """The content of ``gtforge.json`` for a build (or the merge of its shards: ``job.shard`` None).

    Parameters
    ----------
    job : BuildJob
        ``recipe``, ``resolved``, ``recipe_file``, ``base_dir``, ``shard``.
    classes : dict or None
        ``{str(obj_id): {"name", "set"}}``.

    Returns
    -------
    dict
        ``gtforge_version``, ``recipe_file``, ``base_dir``, ``recipe`` (resolved), ``formats``, ``split``,
        ``num_scenes`` (scenes this folder holds when complete: the recipe's, or the shard's), ``classes``;
        with ``shard`` (K, N) also ``shard``: [K, N]; with ``camera.stereo`` also ``right_split`` (the right
        views' split folder, config/stereo.py); with KITTI output over a background that comes with a KITTI
        calibration also ``kitti_label_frame``: ``"camera0_rect"`` (labels in each background's rectified
        camera 0, its calib written back unchanged) or, when the backgrounds differ, ``{background name:
        "camera0_rect" | "level" | "camera"}`` (``assets.backgrounds.kitti_label_frames``). Without the key,
        KITTI labels are in the level frame (``camera`` for AR ``free`` placement): docs/conventions.md.
    """
    recipe, shard = job.recipe, job.shard
    meta = {"gtforge_version": __version__, "recipe_file": job.recipe_file, "base_dir": str(job.base_dir),
            "recipe": job.resolved, "formats": list(recipe.output.formats), "split": recipe.output.split,
            "num_scenes": len(shard_scenes(recipe.num_scenes(), shard)), "classes": classes or {}}
    if shard is not None:
        meta["shard"] = [int(shard[0]), int(shard[1])]
    splits = output_splits(recipe)
    if len(splits) > 1:
        meta["right_split"] = splits[1]
    if recipe.ar is not None and "kitti" in recipe.output.formats:
        frames = kitti_label_frames(recipe.ar)
        if "camera0_rect" in frames.values():  # absent otherwise: builds before this key wrote the same files
            meta["kitti_label_frame"] = frames.popitem()[1] if len(set(frames.values())) == 1 else frames
    return meta


def prepare_output(job: BuildJob, classes=None, backgrounds=()) -> bool:
    """Create the dataset folder ``job.out_dir``, or check that an existing one was started by the same recipe (and
    shard).

    Call it while holding the folder's lock (:func:`~gtforge.pipeline.lock.acquire`).

    Parameters
    ----------
    job : BuildJob
        ``resolved`` (the raw recipe after overrides) is compared on resume and copied into ``recipe.yaml``, as
        is ``base_dir``; ``shard`` is recorded in ``gtforge.json`` and resuming needs the same value.
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
        If the folder holds other files, a build of a different recipe, or another shard (or a full build where
        a shard is asked for, or the reverse).
    """
    out, recipe, resolved, base_dir, shard = job.out_dir, job.recipe, job.resolved, job.base_dir, job.shard
    meta_path = out / META_FILE
    check_output_usable(out)
    if folder_entries(out):
        meta = load_json(meta_path)
        if meta.get("recipe") != resolved or meta.get("base_dir") != str(base_dir):
            raise OutputError(f"{out}: holds a build of a different recipe (or different --set values); "
                              "use another --out, or the same command as before to resume")
        had = tuple(meta["shard"]) if meta.get("shard") is not None else None
        want = tuple(shard) if shard is not None else None
        if had != want:
            raise OutputError(f"{out}: holds {_shard_text(had)} of this recipe, not {_shard_text(want)}; resume it "
                              + (f"with --shard {had[0]}/{had[1]}" if had else "without --shard")
                              + ", or use another --out (gtforge merge joins shards)")
        return True
    out.mkdir(parents=True, exist_ok=True)
    header = (f"# Resolved recipe written by gtforge {__version__} (after --set overrides).\n"
              f"# Source: {job.recipe_file}; relative paths are relative to {base_dir}\n")
    write_text_atomic(out / RECIPE_COPY, header + yaml.safe_dump(resolved, sort_keys=False))
    cam_dist = None
    if recipe.camera is not None:
        cam = recipe.camera
        K, w, h = cam.K(), cam.width, cam.height
        cam_dist = None if cam.distortion is None else cam.distortion.to_json()
    else:  # ar: the first background's camera (each image's own K is in scene_camera.json)
        K, w, h = backgrounds[0].K, backgrounds[0].width, backgrounds[0].height
    write_json_atomic(out / "camera.json", camera_json(K, w, h, recipe.output.depth_scale, cam_dist))
    write_json_atomic(meta_path, dataset_meta(job, classes))
    return False


def pending_scenes(job: BuildJob) -> list[int]:
    """Scene indices (of ``job.shard``, if given) whose final folder in ``job.out_dir`` does not exist yet; their
    stale temporary folders are removed. Call it only while holding the folder's lock: another build's ``.tmp_*``
    folders are its work in progress."""
    out_dir, recipe, shard = job.out_dir, job.recipe, job.shard
    todo = []
    left, *others = output_splits(recipe)
    for i in shard_scenes(recipe.num_scenes(), shard):
        final = scene_path(out_dir, left, i)
        for split in (left, *others):
            tmp = AtomicFolder.temporary(scene_path(out_dir, split, i))
            if tmp.exists():
                shutil.rmtree(tmp)
        if not final.is_dir():
            todo.append(i)
            for split in others:  # a right view committed just before a kill: its left view is not; redo both
                if scene_path(out_dir, split, i).is_dir():
                    shutil.rmtree(scene_path(out_dir, split, i))
    return todo


def output_splits(recipe) -> list[str]:
    """The split folders a build writes: ``output.split``, then with ``camera.stereo`` the right views' split.
    A scene is done when its folder in the first exists (the others are committed before it)."""
    st = recipe.camera.stereo if recipe.camera is not None else None
    return [recipe.output.split] + ([st.right_split(recipe.output.split)] if st is not None else [])
