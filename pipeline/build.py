"""The build: every pending scene of a :class:`~gtforge.pipeline.job.BuildJob` through a
:class:`~gtforge.pipeline.worker.SceneWorker` on an executor (:mod:`.executors`: this process, a pool of processes,
or Ray actors), then each format's dataset-level merge.

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
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from ..assets.loaders import AssetLibrary
from ..config.schema import Recipe, RecipeError
from ..formats.coco import hand_category_id
from ..formats.protocol import DatasetContext
from ..formats.registry import writer_classes
from ..render.egl_devices import describe_plan, list_egl_devices, plan_local_devices
from .executors import Executor, make_executor
from .fit import check_fit
from .job import BuildJob, BuildSummary, SceneResult
from .lock import acquire
from .output import check_output_usable, check_shard, output_splits, pending_scenes, prepare_output, shard_scenes
from .ray_executor import require_ray, session
from .worker import distractor_library, load_hand_model, load_recipe_backgrounds

log = logging.getLogger("gtforge")


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


def build(job: BuildJob, workers: int = 1, progress: bool = True, executor: str = "local",
          address: str | None = None, gpus=None) -> BuildSummary:
    """Run a whole build (resuming if ``job.out_dir`` holds an unfinished build of the same recipe).

    Parameters
    ----------
    job : BuildJob
        The recipe, the raw recipe after ``--set`` overrides (stored in the dataset, compared on resume), the recipe
        file, the folder its relative paths are relative to (resolved here to an absolute path), the dataset folder
        and the shard: with ``shard`` (K, N) only the scenes whose index i has i % N == K, 0 <= K < N, are
        rendered (``gtforge merge`` joins the shards); ``gtforge.json`` records it and resuming a folder needs the
        same value.
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

    Returns
    -------
    BuildSummary
        Scenes and frames rendered by this call, seconds, per-stage timings (s), scenes skipped (of this build,
        or of its shard, already present), the shard and the dataset folder.

    Raises
    ------
    OutputError, AssetError, HandModelError, RecipeError, ExecutorError, GpuError
        Before anything renders.
    LockError
        If another build holds ``job.out_dir`` (nothing is touched).
    ValueError
        For a ``job.shard`` outside 0 <= K < N.
    """
    check_shard(job.shard)
    job = replace(job, base_dir=Path(job.base_dir).resolve())
    recipe, out_dir = job.recipe, job.out_dir
    devices = None  # EGL device index per local worker process (None: EGL's default device)
    if executor == "ray":
        require_ray()  # ExecutorError (install line) before anything is read or written
    elif gpus is not None:
        egl = list_egl_devices()
        devices = plan_local_devices(gpus, workers, egl)  # GpuError before anything is written
        log.info("--gpus: %s", describe_plan(devices, egl))
    library, distractors, backgrounds = _check_inputs(recipe, job.recipe_file, job.base_dir)
    classes = {str(i): {"name": n, "set": sn} for i, n, sn, _p, _s in library.entries}
    if recipe.hands is not None:
        classes[str(hand_category_id(library))] = {"name": "hand", "set": "hand"}
    check_output_usable(out_dir)  # a wrong --out is refused before the lock file is created in it
    with contextlib.ExitStack() as stack:
        if executor == "ray":  # connect (ExecutorError: --address) and check --gpus (GpuError) before writing

            stack.enter_context(session(address, gpus))
        stack.enter_context(acquire(out_dir))  # LockError: another build writes here; released on return/error
        resuming = prepare_output(job, classes, backgrounds)
        todo = pending_scenes(job)
        skipped = len(shard_scenes(recipe.num_scenes(), job.shard)) - len(todo)
        if resuming:
            log.info("resuming %s: %d scene(s) present, %d to render", out_dir, skipped, len(todo))
        start = time.perf_counter()
        runner = make_executor(executor, workers, len(todo), address=address, gpus=gpus, devices=devices)
        frames, timings = _render(runner, job, todo, progress)
        for split in output_splits(recipe):
            dataset = DatasetContext(root=out_dir, split=split, recipe=recipe, library=library,
                                     recipe_file=job.recipe_file, distractors=distractors)
            for cls in writer_classes(recipe.output.formats):
                cls.merge(dataset)
        seconds = time.perf_counter() - start
    return BuildSummary(scenes=len(todo), frames=frames, seconds=seconds, timings=timings, skipped=skipped,
                        shard=job.shard, out_dir=str(out_dir))


def _render(executor: Executor, job: BuildJob, todo: list[int], progress: bool) -> tuple[int, dict]:
    """Render the scenes ``todo`` on ``executor`` with a progress bar and the build log's scene notes; returns
    (frames, per-stage timings summed over the scenes)."""
    total_frames = sum(job.recipe.views_in_scene(i) for i in todo)
    timings: dict = defaultdict(float)
    frames = done = 0
    bar = tqdm(total=total_frames, unit="frame", disable=not progress, dynamic_ncols=True,
               desc=f"scenes 0/{len(todo)}")

    def consume(res: SceneResult) -> None:
        nonlocal frames, done
        done += 1
        frames += res.frames
        for k, v in res.timings.items():
            timings[k] += v
        if res.removed:
            log.info("scene %d: removed %d object(s) after physics: %s", res.scene, len(res.removed),
                     ", ".join(f"inst {i} ({why})" for i, why in res.removed))
        if not res.settled:
            log.info("scene %d: not settled within the %.1f s cap", res.scene, res.sim_time)
        v = res.views
        if v and (v["unsatisfied"] or v["full_res_failed"] or v["replaced"] or v["redraws"]):
            log.warning("scene %d: view control: %d candidate views (%d failing camera.constraints at low "
                        "resolution), %d scene redraw(s), %d view(s) without a passing candidate, %d replaced after "
                        "the full render, %d written failing camera.constraints", res.scene, v["candidates"],
                        v["rejected"], v["redraws"], v["unsatisfied"], v["replaced"], v["full_res_failed"])
        bar.set_description(f"scenes {done}/{len(todo)}")
        bar.update(res.frames)

    try:
        executor.run(job, todo, consume)
    finally:
        bar.close()
    return frames, dict(timings)
