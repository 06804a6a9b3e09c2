"""The build: every pending scene of a recipe through a :class:`~gtforge.pipeline.worker.SceneWorker`,
serially or over a pool of processes, then each format's dataset-level merge.

Scenes are the unit of work and of atomicity: a scene folder appears under its final name only
when complete, so re-running an interrupted build renders exactly the missing scenes. Results do
not depend on the number of workers: every random draw of scene ``i`` comes from generators
seeded by (recipe seed, i). One build at a time writes into a folder: the build holds the folder's
lock (:mod:`.lock`) from before it touches it until it returns. With ``shard=(K, N)`` a build renders the
scenes i with i % N == K into its own folder; :mod:`.merge` joins the shards.
"""

from __future__ import annotations

import contextlib
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
from .lock import acquire
from .output import check_output_usable, check_shard, output_splits, pending_scenes, prepare_output, shard_scenes
from .worker import SceneWorker, distractor_library, load_hand_model, load_recipe_backgrounds

log = logging.getLogger("gtforge")

# ---------------------------------------------------------------- process pool plumbing
_WORKER: SceneWorker | None = None


def _init_worker(raw: dict, file: str, base_dir: str, out_dir: str, devices=None) -> None:
    """Pool initializer: validate the recipe, bind this process to its EGL device (``devices``: a queue of EGL
    device indices, one taken per process, or None for the default device), create the worker."""
    global _WORKER
    if devices is not None:
        from ..render.egl_devices import bind_egl_device

        bind_egl_device(devices.get())
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
          progress: bool = True, executor: str = "local", address: str | None = None, gpus=None,
          shard: tuple[int, int] | None = None) -> dict:
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
    executor : {"local", "ray"}
        ``local``: this process (``workers`` 1) or a pool of ``workers`` spawned processes; ``ray``: long-lived
        Ray actors (:mod:`.ray_executor`; ``workers`` actors, or one per CPU slot / GPU of the cluster when 1).
    address : str or None
        Ray cluster address (``ray start --head`` prints it); None starts a local Ray instance.
    gpus : None, "all" or list of int
        CUDA device ids to bind renderers to (``render.egl_devices``): each process renders on the EGL device
        of its CUDA device; processes are dealt to the GPUs in turn (several per GPU allowed).
    shard : (K, N) or None
        Render only the scenes whose index i has i % N == K, 0 <= K < N (``gtforge merge`` joins the shards).
        ``gtforge.json`` records it; resuming a folder needs the same value.

    Returns
    -------
    summary : dict
        ``scenes`` and ``frames`` rendered by this call, ``seconds``, per-stage ``timings`` (s),
        ``skipped`` (scenes of this build, or of its shard, already present), ``shard`` ((K, N) or None),
        ``out_dir``.

    Raises
    ------
    OutputError, AssetError, HandModelError, RecipeError, ExecutorError, GpuError
        Before anything renders.
    LockError
        If another build holds ``out_dir`` (nothing is touched).
    ValueError
        For a ``shard`` outside 0 <= K < N.
    """
    check_shard(shard)
    base_dir = Path(base_dir).resolve()
    devices = None  # EGL device index per local worker process (None: EGL's default device)
    if executor == "ray":
        from .ray_executor import require_ray

        require_ray()  # ExecutorError (install line) before anything is read or written
    elif gpus is not None:
        from ..render.egl_devices import describe_plan, list_egl_devices, plan_local_devices

        egl = list_egl_devices()
        devices = plan_local_devices(gpus, workers, egl)  # GpuError before anything is written
        log.info("--gpus: %s", describe_plan(devices, egl))
    library, distractors, backgrounds = _check_inputs(recipe, recipe_file, base_dir)
    classes = {str(i): {"name": n, "set": sn} for i, n, sn, _p, _s in library.entries}
    if recipe.hands is not None:
        classes[str(hand_category_id(library))] = {"name": "hand", "set": "hand"}
    check_output_usable(out_dir)  # a wrong --out is refused before the lock file is created in it
    with contextlib.ExitStack() as stack:
        if executor == "ray":  # connect (ExecutorError: --address) and check --gpus (GpuError) before writing
            from .ray_executor import session

            stack.enter_context(session(address, gpus))
        stack.enter_context(acquire(out_dir))  # LockError: another build writes here; released on return/error
        resuming = prepare_output(out_dir, recipe, resolved, recipe_file, base_dir, classes, backgrounds, shard)
        todo = pending_scenes(out_dir, recipe, shard)
        skipped = len(shard_scenes(recipe.num_scenes(), shard)) - len(todo)
        if resuming:
            log.info("resuming %s: %d scene(s) present, %d to render", out_dir, skipped, len(todo))
        start = time.perf_counter()
        frames, timings = _render(todo, recipe, resolved, recipe_file, base_dir, out_dir, workers, progress,
                                  executor, address, gpus, devices)
        for split in output_splits(recipe):
            dataset = DatasetContext(root=Path(out_dir), split=split, recipe=recipe, library=library,
                                     recipe_file=recipe_file, distractors=distractors)
            for cls in writer_classes(recipe.output.formats):
                cls.merge(dataset)
        seconds = time.perf_counter() - start
    return {"scenes": len(todo), "frames": frames, "seconds": seconds, "timings": timings, "skipped": skipped,
            "shard": tuple(shard) if shard is not None else None, "out_dir": str(out_dir)}


def _render(todo: list[int], recipe: Recipe, resolved: dict, recipe_file: str, base_dir: Path, out_dir, workers: int,
            progress: bool, executor: str, address, gpus, devices) -> tuple[int, dict]:
    """Render the scenes ``todo`` on the chosen executor (see :func:`build`); returns (frames, per-stage timings)."""
    total_frames = sum(recipe.views_in_scene(i) for i in todo)
    timings: dict = defaultdict(float)
    frames = 0
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
        v = res.get("views")
        if v and (v["unsatisfied"] or v["full_res_failed"] or v["replaced"] or v["redraws"]):
            log.warning("scene %d: view control: %d candidate views (%d failing camera.constraints at low "
                        "resolution), %d scene redraw(s), %d view(s) without a passing candidate, %d replaced after "
                        "the full render, %d written failing camera.constraints", res["scene"], v["candidates"],
                        v["rejected"], v["redraws"], v["unsatisfied"], v["replaced"], v["full_res_failed"])
        bar.set_description(f"scenes {done}/{len(todo)}")
        bar.update(res["frames"])

    try:
        if executor == "ray":
            from .ray_executor import run_ray

            done = 0

            def consume_ray(res: dict) -> None:
                nonlocal done
                done += 1
                consume(res, done)

            run_ray(todo, consume_ray, resolved=resolved, recipe_file=recipe_file, base_dir=str(base_dir),
                    out_dir=str(out_dir), actors=workers if workers > 1 else None, address=address, gpus=gpus)
        elif (workers <= 1 or len(todo) <= 1) and devices is None:
            worker = SceneWorker(recipe, base_dir, out_dir)
            try:  # the next scene's physics runs on a thread while this one renders (SceneWorker.run_scenes)
                with contextlib.closing(worker.run_scenes(todo)) as results:
                    for n, res in enumerate(results, 1):
                        consume(res, n)
            finally:
                worker.close()
        else:
            ctx = mp.get_context("spawn")  # no GL or pybullet state is ever forked
            queue = None
            if devices is not None:
                queue = ctx.Manager().Queue()
                for d in devices:
                    queue.put(d)
            with ctx.Pool(len(devices) if devices is not None else workers, initializer=_init_worker,
                          initargs=(resolved, recipe_file, str(base_dir), str(out_dir), queue)) as pool:
                for n, res in enumerate(pool.imap_unordered(_run_in_worker, todo), 1):
                    consume(res, n)
    finally:
        bar.close()
    return frames, dict(timings)
