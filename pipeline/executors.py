"""Where scenes render: one interface, :class:`Executor`, and its local implementations.

* :class:`SerialExecutor`: this process, one :class:`~gtforge.pipeline.worker.SceneWorker` (the next scene's
  physics runs on a thread while the current one renders, ``SceneWorker.run_scenes``);
* :class:`ProcessPoolExecutor`: a pool of ``spawn``-ed processes (no GL or pybullet state is ever forked), each
  with its own worker, optionally bound to an EGL device;
* ``ray_executor.RayExecutor``: long-lived Ray actors, on this machine or a cluster.

Every executor renders the scenes it is given, each exactly once, and hands each :class:`~.job.SceneResult` to
``consume`` in the calling process as it comes back (completion order). The files do not depend on the executor:
every random draw of scene ``i`` comes from generators seeded by (recipe seed, i).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
from collections.abc import Callable, Sequence
from typing import Protocol

from ..render.egl_devices import bind_egl_device
from .job import BuildJob, SceneResult
from .ray_executor import RayExecutor
from .worker import SceneWorker

#: ``consume(result)``: called in the driver once per finished scene.
Consume = Callable[[SceneResult], None]


class Executor(Protocol):
    """Renders scenes of a build and reports each one as it finishes."""

    def run(self, job: BuildJob, todo: Sequence[int], consume: Consume) -> None:
        """Render the scenes ``todo`` (indices, none committed yet) of ``job``; call ``consume`` with each scene's
        result in the calling process. Raises what a scene raised (the build stops; complete scenes are kept)."""


class SerialExecutor:
    """Every scene in this process, one after the other, with one renderer."""

    def run(self, job: BuildJob, todo: Sequence[int], consume: Consume) -> None:
        worker = SceneWorker(job)
        try:  # the next scene's physics runs on a thread while this one renders (SceneWorker.run_scenes)
            with contextlib.closing(worker.run_scenes(todo)) as results:
                for res in results:
                    consume(res)
        finally:
            worker.close()


# ---------------------------------------------------------------- process pool plumbing
_WORKER: SceneWorker | None = None


def _init_worker(job: BuildJob, devices=None) -> None:
    """Pool initializer: bind this process to its EGL device (``devices``: a queue of EGL device indices, one taken
    per process, or None for the default device), validate the recipe again here, create the worker."""
    global _WORKER
    if devices is not None:
        bind_egl_device(devices.get())
    _WORKER = SceneWorker(job.revalidated())


def _run_in_worker(scene_index: int) -> SceneResult:
    assert _WORKER is not None
    return _WORKER.run_scene(scene_index)


class ProcessPoolExecutor:
    """A pool of ``processes`` spawned processes, each holding one worker (one renderer) for its whole life.

    Parameters
    ----------
    processes : int
        Pool size (>= 1).
    devices : list of int or None
        EGL device index of each process (``render.egl_devices.plan_local_devices``; its length is the pool
        size); None: every process renders on EGL's default device.
    """

    def __init__(self, processes: int, devices: list[int] | None = None):
        self.processes = len(devices) if devices is not None else int(processes)
        self.devices = devices

    def run(self, job: BuildJob, todo: Sequence[int], consume: Consume) -> None:
        ctx = mp.get_context("spawn")  # no GL or pybullet state is ever forked
        queue = None
        if self.devices is not None:
            queue = ctx.Manager().Queue()
            for d in self.devices:
                queue.put(d)
        with ctx.Pool(self.processes, initializer=_init_worker, initargs=(job, queue)) as pool:
            for res in pool.imap_unordered(_run_in_worker, list(todo)):
                consume(res)


def make_executor(kind: str, workers: int, n_scenes: int, address: str | None = None, gpus=None,
                  devices: list[int] | None = None) -> Executor:
    """The executor a build runs on.

    Parameters
    ----------
    kind : {"local", "ray"}
        ``--executor``.
    workers : int
        ``--workers``: processes (local) or actors (Ray; 1: one per CPU slot or GPU of the cluster).
    n_scenes : int
        Scenes to render: one scene (or ``workers`` 1) renders in this process, unless ``devices`` are given.
    address : str or None
        Ray cluster address (Ray only).
    gpus : None, "all" or list of int
        Ray: ``"all"`` puts each actor on a GPU. Local: planned into ``devices`` by the caller.
    devices : list of int or None
        Local: the EGL device of each process (``render.egl_devices.plan_local_devices``).

    Returns
    -------
    Executor
        ``ray_executor.RayExecutor``, :class:`SerialExecutor` or :class:`ProcessPoolExecutor`.
    """
    if kind == "ray":
        return RayExecutor(actors=workers if workers > 1 else None, address=address, gpus=gpus)
    if devices is None and (workers <= 1 or n_scenes <= 1):
        return SerialExecutor()
    return ProcessPoolExecutor(workers, devices)
