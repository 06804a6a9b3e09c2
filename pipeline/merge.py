"""``gtforge merge``: join the folders of a sharded build (``--shard K/N``) into one dataset, byte-identical to a
single build of the same recipe.

Scene ``i`` depends only on (recipe seed, i) (``core/rng.py``), so the scene folders of the shards are the scene
folders a single build writes. The merge therefore

1. checks every input (refusing with :class:`MergeError`, nothing written): each is a gtforge dataset that no
   build holds (:mod:`.lock`), all were built by this gtforge version from the same resolved recipe, recipe
   folder and recipe file (``gtforge.json`` equal but for ``shard`` and ``num_scenes``; ``recipe.yaml`` and
   ``camera.json`` byte-equal), all are shards of the same N (a full build counts as 1/1), every scene index
   ``0 .. num_scenes - 1`` is complete in exactly one input, and the output folder is new or empty;
2. writes the dataset under a temporary name beside the output folder (``.tmp_merge_<name>.<pid>``):
   ``recipe.yaml`` and ``camera.json`` (copies), every scene folder (files hard-linked where the file system
   allows, else copied: ``formats.atomic.link_or_copy``), each format's dataset-level ``merge`` (COCO's
   instances with ids 1..n in scene order, BOP's ``models/``, YOLO's and KITTI's layouts: written from the
   scene folders exactly as a single build writes them) and, last, ``gtforge.json`` as a build without
   ``--shard`` writes it;
3. renames it to the output folder. An interrupted merge leaves only the hidden temporary folder (removed on
   an error or Ctrl-C), never a folder that looks complete.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..assets.loaders import AssetLibrary
from ..config.loading import validate_recipe
from ..formats.atomic import TEMP_PREFIX, link_or_copy, load_json, write_json_atomic
from ..formats.bop import scene_dirs, scene_path
from ..formats.dataset import META_FILE, RECIPE_COPY
from ..formats.protocol import DatasetContext
from ..formats.registry import writer_classes
from .job import BuildJob
from .lock import describe, read_lock
from .output import check_shard, dataset_meta, output_splits
from .worker import distractor_library

log = logging.getLogger("gtforge")

#: Files every input must hold with the same bytes; copied into the merged dataset.
SHARED_FILES = (RECIPE_COPY, "camera.json")
#: ``gtforge.json`` fields that differ between the shards of one build.
SHARD_FIELDS = ("shard", "num_scenes")


class MergeError(Exception):
    """The inputs cannot be merged (or the output folder is in use); the message names the folders and scenes."""


@dataclass
class _Input:
    path: Path
    meta: dict
    shard: tuple[int, int]  # (K, N); a full build is (0, 1)
    scenes: list[int]  # complete scene folders
    pending: list[str]  # scene folders being written or interrupted (.tmp_*)


def _ids(ids) -> str:
    ids = sorted(ids)
    text = ", ".join(str(i) for i in ids[:12])
    return text + (f", ... ({len(ids)} in all)" if len(ids) > 12 else "")


def _read_input(path: Path) -> _Input:
    if not path.is_dir():
        raise MergeError(f"{path}: no such folder")
    try:
        meta = load_json(path / META_FILE)
        split = meta["split"]
        meta["recipe"], meta["base_dir"], meta["recipe_file"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise MergeError(f"{path}: not a gtforge dataset (no readable {META_FILE}: {type(e).__name__})") from None
    held = read_lock(path)
    if held is not None:
        raise MergeError(f"{path}: a build holds this folder ({describe(held)}); let it finish (an interrupted "
                         "build: run it again to complete it) before merging")
    shard = tuple(meta["shard"]) if meta.get("shard") is not None else (0, 1)
    try:
        check_shard(shard)
    except ValueError:
        raise MergeError(f"{path}: {META_FILE} has an invalid shard {meta['shard']!r}") from None
    split_dir = path / split
    pending = sorted(p.name[len(TEMP_PREFIX):] for p in split_dir.iterdir()
                     if p.is_dir() and p.name.startswith(TEMP_PREFIX)) if split_dir.is_dir() else []
    return _Input(path, meta, shard, [int(d.name) for d in scene_dirs(path, split)], pending)


def _check_same(items: list[_Input]) -> None:
    """Refuse inputs of different builds: ``gtforge.json`` fields, shared files, shard counts, gtforge version."""
    first = items[0]
    if first.meta.get("gtforge_version") != __version__:
        raise MergeError(f"{first.path}: built by gtforge {first.meta.get('gtforge_version')}, this is {__version__}; "
                         "merge with the version that built the shards")
    for it in items[1:]:
        if it.meta.get("recipe") != first.meta.get("recipe"):
            raise MergeError(f"{it.path}: built from a different recipe than {first.path} (or different --set "
                             "values); only the shards of one build can be merged")
        keys = (set(it.meta) | set(first.meta)) - set(SHARD_FIELDS)
        for k in sorted(keys):
            if it.meta.get(k) != first.meta.get(k):
                raise MergeError(f"{it.path}: {META_FILE} field {k!r} differs from {first.path} "
                                 f"({it.meta.get(k)!r} vs {first.meta.get(k)!r}); only the shards of one build "
                                 "can be merged")
        for name in SHARED_FILES:
            a, b = first.path / name, it.path / name
            if not (a.is_file() and b.is_file()) or a.read_bytes() != b.read_bytes():
                raise MergeError(f"{it.path}: {name} differs from {first.path}'s (or is missing); only the shards "
                                 "of one build can be merged")
        if it.shard[1] != first.shard[1]:
            raise MergeError("the inputs are shards of different counts: "
                             + ", ".join(f"{x.path} is {x.shard[0]}/{x.shard[1]}" for x in items)
                             + " (a full build counts as 0/1)")


def _check_coverage(items: list[_Input], total: int) -> dict[int, Path]:
    """Scene index -> the input folder holding it. Raises MergeError for missing, duplicated, unexpected scenes."""
    owner: dict[int, list[Path]] = {}
    problems = []
    for it in items:
        for i in it.scenes:
            owner.setdefault(i, []).append(it.path)
        beyond = [i for i in it.scenes if i >= total or i % it.shard[1] != it.shard[0]]
        if beyond:
            problems.append(f"{it.path} holds scene(s) {_ids(beyond)} that are not in its shard "
                            f"{it.shard[0]}/{it.shard[1]} of {total} scenes")
        if it.pending:
            problems.append(f"{it.path} has scene(s) {', '.join(it.pending)} being written or interrupted (run its "
                            "build command again to complete it)")
    n = items[0].shard[1]
    by_k = {it.shard[0]: it for it in items}
    missing = [i for i in range(total) if i not in owner]
    for k in sorted({i % n for i in missing}):
        ids = [i for i in missing if i % n == k]
        if k in by_k:
            problems.append(f"missing scene(s) {_ids(ids)}: {by_k[k].path} (shard {k}/{n}) is incomplete (run its "
                            "build command again to complete it)")
        else:
            problems.append(f"missing scene(s) {_ids(ids)}: no input is shard {k}/{n}")
    dup = {i: paths for i, paths in owner.items() if len(paths) > 1}
    if dup:
        folders = sorted({str(p) for paths in dup.values() for p in paths})
        problems.append(f"duplicated scene(s) {_ids(dup)} (in {', '.join(folders)}); give each shard once")
    if problems:
        raise MergeError("cannot merge: " + "; ".join(problems))
    return {i: paths[0] for i, paths in owner.items()}


def _check_out(out: Path, inputs: list[Path]) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MergeError(f"--out {out}: exists and is not an empty folder; merge writes a new dataset")
    o = out.resolve()
    for p in inputs:
        if o == p or p in o.parents or o in p.parents:
            raise MergeError(f"--out {out}: overlaps the input {p}; choose a new folder")


def merge(inputs, out_dir, progress: bool = False) -> dict:
    """Merge shard folders (or one full build) into a new dataset folder ``out_dir``.

    Parameters
    ----------
    inputs : list of path
        Dataset folders written by ``gtforge build --shard K/N`` (all K of one N), in any order.
    out_dir : path
        New (or empty) folder for the merged dataset.
    progress : bool
        Log each stage (``gtforge`` logger).

    Returns
    -------
    summary : dict
        ``scenes``, ``frames``, ``inputs`` (count), ``shards`` (N), ``seconds``, ``out_dir``.

    Raises
    ------
    MergeError
        For inputs that are not the complete shards of one build, or an output folder in use (nothing written).
    RecipeError, AssetError
        If the recorded recipe or its models cannot be read any more (nothing written).
    """
    t0 = time.perf_counter()
    paths = [Path(p) for p in inputs]
    if not paths:
        raise MergeError("no input folders given")
    resolved = [p.resolve() for p in paths]
    twice = sorted({str(p) for p in paths if resolved.count(p.resolve()) > 1})
    if twice:
        raise MergeError(f"input folder(s) given more than once: {', '.join(twice)}")
    items = [_read_input(p) for p in paths]
    _check_same(items)
    meta = items[0].meta
    recipe = validate_recipe(meta["recipe"], meta["recipe_file"], meta["base_dir"])
    total = recipe.num_scenes()
    owner = _check_coverage(items, total)
    out = Path(out_dir)
    _check_out(out, resolved)
    base_dir = Path(meta["base_dir"])
    library = AssetLibrary(recipe.target_sets, base_dir)
    distractors = distractor_library(recipe, base_dir)
    splits = output_splits(recipe)  # with camera.stereo also the right views' split

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f"{TEMP_PREFIX}merge_{out.name}.{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        for name in SHARED_FILES:
            shutil.copyfile(items[0].path / name, tmp / name)
        for split in splits:
            (tmp / split).mkdir()
            for i in range(total):
                shutil.copytree(scene_path(owner[i], split, i), scene_path(tmp, split, i), copy_function=link_or_copy)
        if progress:
            log.info("merge: %d scene(s) linked from %d folder(s); writing the dataset-level files", total, len(items))
        for split in splits:
            ctx = DatasetContext(root=tmp, split=split, recipe=recipe, library=library,
                                 recipe_file=meta["recipe_file"], distractors=distractors)
            for cls in writer_classes(recipe.output.formats):
                cls.merge(ctx)
        # last: the folder is a dataset only now; the same function writes a build's gtforge.json
        job = BuildJob(recipe=recipe, resolved=meta["recipe"], recipe_file=meta["recipe_file"],
                       base_dir=meta["base_dir"], out_dir=out)
        write_json_atomic(tmp / META_FILE, dataset_meta(job, meta.get("classes")))
        try:
            os.rename(tmp, out)  # replaces an empty folder
        except OSError as e:
            raise MergeError(f"--out {out}: cannot be replaced by the merged dataset ({e.strerror}: it was filled "
                             "meanwhile?)") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"scenes": total, "frames": sum(recipe.views_in_scene(i) for i in range(total)), "inputs": len(items),
            "shards": items[0].shard[1], "seconds": time.perf_counter() - t0, "out_dir": str(out)}
