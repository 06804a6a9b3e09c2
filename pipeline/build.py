"""The build: every pending scene of a recipe through a :class:`~gtforge.pipeline.worker.SceneWorker`,
serially or over a pool of processes, then each format's dataset-level merge.

Scenes are the unit of work and of atomicity: a scene folder appears under its final name only
when complete, so re-running an interrupted build renders exactly the missing scenes. Results do
not depend on the number of workers: every random draw of scene ``i`` comes from generators
seeded by (recipe seed, i).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from ..assets.loaders import AssetLibrary
from ..config.loading import validate_recipe
from ..config.schema import Recipe, RecipeError
from ..formats.coco import hand_category_id
from ..formats.protocol import DatasetContext
from ..formats.registry import writer_classes
from .fit import check_fit
from .output import pending_scenes, prepare_output
from .worker import SceneWorker, distractor_library, load_hand_model, load_recipe_backgrounds

log = logging.getLogger("gtforge")

# ---------------------------------------------------------------- process pool plumbing
_WORKER: SceneWorker | None = None


def _init_worker(raw: dict, file: str, base_dir: str, out_dir: str) -> None:
    global _WORKER
    recipe = validate_recipe(raw, file, base_dir)
    _WORKER = SceneWorker(recipe, base_dir, out_dir)


def _run_in_worker(scene_index: int) -> dict:
    assert _WORKER is not None
    return _WORKER.run_scene(scene_index)


def _check_inputs(recipe: Recipe, recipe_file: str, base_dir: Path):
    """Read every model (checking sizes and counts fit the clutter space, :mod:`.fit`), the hand model and
    the backgrounds before anything is written.

    Returns (library, distractor library or None, backgrounds). Raises AssetError, HandModelError or RecipeError.
    """
    library = AssetLibrary(recipe.target_sets, base_dir)
    library.load_all()
    distractors = distractor_library(recipe, base_dir)
    if distractors is not None:
        distractors.load_all()
    check_fit(recipe, library, recipe_file, distractors)
    if recipe.hands is not None:
        load_hand_model(recipe.hands)
    try:
        backgrounds = load_recipe_backgrounds(recipe, base_dir)
    except (ValueError, OSError) as e:
        raise RecipeError(recipe_file, "ar.backgrounds", str(e)) from None
    return library, distractors, backgrounds


def build(recipe: Recipe, resolved: dict, recipe_file: str, base_dir, out_dir, workers: int = 1,
          progress: bool = True) -> dict:
    """Run a whole build (resuming if ``out_dir`` holds an unfinished build of the same recipe).

    Parameters
    ----------
    recipe : Recipe
    resolved : dict
        The raw recipe after ``--set`` overrides (stored in the dataset, compared on resume).
    recipe_file : str
    base_dir : path
        Folder the recipe's relative paths are relative to.
    out_dir : path
        Dataset folder.
    workers : int
        Processes, each with one renderer (``spawn``: no GL or pybullet state is forked).
    progress : bool
        Show a progress bar (tqdm).

    Returns
    -------
    summary : dict
        ``scenes`` and ``frames`` rendered by this call, ``seconds``, per-stage ``timings`` (s),
        ``skipped`` (scenes already present), ``out_dir``.

    Raises
    ------
    OutputError, AssetError, HandModelError, RecipeError
        Before anything renders.
    """
    base_dir = Path(base_dir).resolve()
    library, distractors, backgrounds = _check_inputs(recipe, recipe_file, base_dir)
    classes = {str(i): {"name": n, "set": sn} for i, n, sn, _p, _s in library.entries}
    if recipe.hands is not None:
        classes[str(hand_category_id(library))] = {"name": "hand", "set": "hand"}
    resuming = prepare_output(out_dir, recipe, resolved, recipe_file, base_dir, classes, backgrounds)
    todo = pending_scenes(out_dir, recipe)
    skipped = recipe.num_scenes() - len(todo)
    if resuming:
        log.info("resuming %s: %d scene(s) present, %d to render", out_dir, skipped, len(todo))
    total_frames = sum(recipe.views_in_scene(i) for i in todo)
    timings: dict = defaultdict(float)
    frames = 0
    start = time.perf_counter()
    bar = tqdm(total=total_frames, unit="frame", disable=not progress, dynamic_ncols=True,
               desc=f"scenes 0/{len(todo)}")

    def consume(res: dict, done: int) -> None:
        nonlocal frames
        frames += res["frames"]
        for k, v in res["timings"].items():
            timings[k] += v
        if res["removed"]:
            log.info("scene %d: removed %d object(s) after physics: %s", res["scene"], len(res["removed"]),
                     ", ".join(f"inst {i} ({why})" for i, why in res["removed"]))
        if not res["settled"]:
            log.info("scene %d: not settled within the %.1f s cap", res["scene"], res["sim_time"])
        bar.set_description(f"scenes {done}/{len(todo)}")
        bar.update(res["frames"])

    try:
        if workers <= 1 or len(todo) <= 1:
            worker = SceneWorker(recipe, base_dir, out_dir)
            try:
                for n, i in enumerate(todo, 1):
                    consume(worker.run_scene(i), n)
            finally:
                worker.close()
        else:
            ctx = mp.get_context("spawn")  # no GL or pybullet state is ever forked
            with ctx.Pool(workers, initializer=_init_worker,
                          initargs=(resolved, recipe_file, str(base_dir), str(out_dir))) as pool:
                for n, res in enumerate(pool.imap_unordered(_run_in_worker, todo), 1):
                    consume(res, n)
    finally:
        bar.close()
    dataset = DatasetContext(root=Path(out_dir), split=recipe.output.split, recipe=recipe, library=library,
                             recipe_file=recipe_file, distractors=distractors)
    for cls in writer_classes(recipe.output.formats):
        cls.merge(dataset)
    seconds = time.perf_counter() - start
    return {"scenes": len(todo), "frames": frames, "seconds": seconds, "timings": dict(timings), "skipped": skipped,
            "out_dir": str(out_dir)}
