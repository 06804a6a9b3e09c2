"""Scenes as Ray work: long-lived actors, each holding one renderer, on a local Ray instance or a cluster.

``gtforge build RECIPE --out DIR --executor ray [--address ADDR] [--gpus all] [--workers N]``.

* **Actors.** Each actor validates the recipe and holds one
  :class:`~gtforge.pipeline.worker.SceneWorker` (asset library, collision shapes, one EGL context)
  for its whole life; the driver hands it one scene at a time and ``consume(result)`` sees each
  finished scene as it comes back (``ray.wait``), so the progress bar and summary work as in a local
  build. How many: ``actors`` (``--workers N`` with N > 1), else one per CPU slot of the cluster
  (``ray.cluster_resources()["CPU"]``), or with ``--gpus all`` one per GPU; never more than there
  are scenes. Ray's resource requests place them: ``num_cpus`` 1 and, with GPUs, ``num_gpus`` 1
  (or ``1/k`` when k actors share each GPU). Where more actors are asked for than slots exist, the
  requests are fractions ``1/k`` so they all fit (:func:`plan_actors`).
* **GPUs.** An actor with a GPU maps ``ray.get_gpu_ids()`` to the EGL device of that CUDA device
  (``render/egl_devices.py``: ``EGL_NV_device_cuda``, never EGL's order) and sets ``EGL_DEVICE_ID``
  before its renderer exists. Ray sets the actor's ``CUDA_VISIBLE_DEVICES`` to its GPU ids, and
  NVIDIA's EGL reports CUDA ordinals within that list, so the id is first turned into its position
  there (:func:`~gtforge.render.egl_devices.visible_cuda_ordinal`). The binding is logged by the
  driver: ``ray actor pid P on NODE: CUDA c (Ray GPU g) -> EGL device e``.
* **Faults** are Ray's own: actors are created with ``max_restarts`` and ``max_task_retries``
  (Ray docs, "Actor Fault Tolerance"), so when an actor process dies (killed, segfault, node lost)
  Ray restarts it (re-running its constructor) and re-runs the scene it held. The scene's stale
  temporary folder is removed when the retry opens it (``formats.atomic.AtomicFolder``); a scene
  folder appears only when complete. Ray's at-least-once semantics allow a retry of a scene that
  *was* committed just before its actor died (the result was lost, not the folder): the retry
  then finds the final folder and returns a ``recovered`` result without rendering
  (:func:`run_or_recover`), so no scene is written twice and ``consume`` sees each scene once.
  Python exceptions are not retried (``retry_exceptions`` stays off): they surface in the driver as
  the original exception, with the actor's traceback attached as a note.
* **Output.** Every node writes into ``out_dir``, which must be the same shared folder on every node
  (NFS, Lustre, ...). Results do not depend on which actor renders which scene.
* **Noise.** The driver's terminal shows gtforge's lines only: actors' stdout/stderr are not
  forwarded (``log_to_driver=False``), Ray's own logger prints warnings and errors, and the
  notice that a local instance enabled token authentication is filtered. Ray itself still prints a
  ``(raylet)`` line when a worker process dies.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import socket
import time
from collections import deque

from ..formats.bop import scene_path
from ..render.egl_devices import (
    GpuError,
    bind_egl_device,
    list_egl_devices,
    map_cuda_to_egl,
    visible_cuda_ordinal,
)
from .job import BuildJob, SceneResult
from .worker import SceneWorker

log = logging.getLogger("gtforge")

#: What to run when Ray is missing.
INSTALL_LINE = "pip install 'gtforge[ray]'"
#: Restarts of one actor (Ray ``max_restarts``) and retries of one scene on restarted actors
#: (``max_task_retries``) before the build stops with :class:`ExecutorError`.
MAX_RESTARTS = 3
MAX_TASK_RETRIES = 3
#: Seconds to wait for a cluster address to accept a TCP connection before giving up.
CONNECT_TIMEOUT_S = 10.0

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class WorkerLostError(RuntimeError):
    """A Ray actor died during the build and could not be restarted: a failure while rendering, not bad input
    (the command line exits 1, not 2). Complete scenes are kept; the same command resumes."""


class ExecutorError(Exception):
    """The Ray executor cannot run: Ray is not installed (message with :data:`INSTALL_LINE`), the cluster at
    ``--address`` cannot be reached, or an actor died more often than :data:`MAX_RESTARTS`. The CLI exits 2."""


def require_ray():
    """Import Ray.

    Returns
    -------
    module
        ``ray``.

    Raises
    ------
    ExecutorError
        If Ray cannot be imported; the message holds the install line ``pip install 'gtforge[ray]'``.
    """
    try:
        import ray  # noqa: PLC0415 - Ray is optional (gtforge[ray]); imported only when a build runs on it
    except ImportError as e:
        raise ExecutorError(f"--executor ray needs Ray, which is not installed ({e}); install it with: "
                            f"{INSTALL_LINE}") from None
    return ray


# ---------------------------------------------------------------- connecting
class _DropTokenNotice(logging.Filter):
    """Drops Ray's notice that a new local instance turned token authentication on (it is on: nothing to do)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Token authentication is enabled for this Ray cluster")


_TOKEN_NOTICE = _DropTokenNotice()


def _check_reachable(address: str) -> None:
    """Fail fast on a cluster address nothing listens at (``ray.init`` would retry for minutes, printing).

    ``auto`` is resolved as Ray does (``RAY_ADDRESS``, then the last ``ray start`` on this machine); a
    ``ray://`` (Ray Client) address is checked at its host and port. Raises ExecutorError naming ``--address``.
    """
    target = address
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address  # noqa: PLC0415 - Ray is optional (gtforge[ray]); imported only when a build runs on it

            target = canonicalize_bootstrap_address("auto")
        except (ConnectionError, ValueError) as e:
            raise ExecutorError(f"--address auto: no running Ray cluster found ({e}); start one with "
                                "`ray start --head` or give --address HOST:PORT") from None
        except Exception:  # noqa: BLE001 - a private Ray helper that may be missing or changed: ray.init resolves it
            return
        if target is None:
            raise ExecutorError("--address auto: no running Ray cluster found; start one with `ray start --head`")
    hostport = target.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ExecutorError(f"--address {address}: expected HOST:PORT (as `ray start --head` prints), 'auto' "
                            "or ray://HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        raise ExecutorError(f"--address {address}: cannot connect to a Ray cluster at {host}:{port} ({e}); "
                            "is `ray start --head` running there?") from None


def connect(address: str | None = None, **init_kwargs) -> bool:
    """Connect to Ray unless this process is connected already.

    Parameters
    ----------
    address : str or None
        None: start a new local Ray instance (``ray.init(address="local")``; Ray honours ``RAY_ADDRESS``
        from the environment over it). ``"auto"``: the cluster started on this machine by ``ray start``.
        ``HOST:PORT`` or ``ray://HOST:PORT``: that cluster.
    **init_kwargs
        More ``ray.init`` arguments (tests: ``num_cpus=2``).

    Returns
    -------
    started : bool
        True when this call initialised Ray (the caller shuts it down: :func:`disconnect`).

    Raises
    ------
    ExecutorError
        Ray missing (install line) or the cluster unreachable (naming ``--address``).
    """
    ray = require_ray()
    if ray.is_initialized():
        return False
    if address not in (None, "local"):
        _check_reachable(address)
    logging.getLogger("ray._private.authentication.authentication_token_setup").addFilter(_TOKEN_NOTICE)
    kwargs = dict(log_to_driver=False, logging_level=logging.WARNING, include_dashboard=False)
    kwargs.update(init_kwargs)
    try:
        ray.init(address="local" if address is None else address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        hint = ""
        if address not in (None, "local", "auto") and not os.environ.get("RAY_AUTH_MODE"):
            hint = ("; a cluster started by `ray start` uses token authentication: set RAY_AUTH_MODE=token (the token "
                    "is read from ~/.ray/auth_token or RAY_AUTH_TOKEN), or connect with --address auto "
                    "on its head node")
        raise ExecutorError(f"--address {address or 'local'}: cannot start or join Ray: {e}{hint}") from None
    return True


def disconnect(started: bool) -> None:
    """``ray.shutdown()`` when :func:`connect` started the connection (never a connection made by someone else)."""
    if started:
        import ray  # noqa: PLC0415 - Ray is optional (gtforge[ray]); imported only when a build runs on it

        ray.shutdown()


@contextlib.contextmanager
def session(address: str | None = None, gpus=None):
    """Connect to Ray (:func:`connect`) and check ``gpus`` against the cluster, for a whole build.

    Meant to be entered before the build reads or writes anything, so that a missing Ray, an unreachable
    ``--address`` or a ``--gpus`` the cluster cannot meet leave the output folder untouched; :func:`run_ray`
    inside it reuses the connection. Ray is shut down on exit only if this session started it.

    Raises
    ------
    ExecutorError
        Ray missing (install line) or the cluster unreachable (naming ``--address``).
    GpuError
        ``gpus`` a list of ids, or ``"all"`` on a cluster without GPUs (naming ``--gpus``).
    """
    started = connect(address)
    try:
        import ray  # noqa: PLC0415 - Ray is optional (gtforge[ray]); imported only when a build runs on it

        plan_actors(ray.cluster_resources(), None, gpus, 1)
        yield
    finally:
        disconnect(started)


# ---------------------------------------------------------------- placement
def _share(n_slots: float, n_actors: int) -> float:
    """Per-actor request so that ``n_actors`` fit in ``n_slots`` whole units: 1, or ``1/k`` (4 decimals, rounded
    down as Ray counts resources in 1/10000ths) with k actors per unit."""
    if n_slots <= 0 or n_actors <= n_slots:
        return 1.0
    k = math.ceil(n_actors / math.floor(n_slots)) if n_slots >= 1 else n_actors
    return math.floor(10000 / k) / 10000


def plan_actors(cluster: dict, actors: int | None, gpus, n_scenes: int) -> dict:
    """How many actors, and what each asks Ray for.

    Parameters
    ----------
    cluster : dict
        ``ray.cluster_resources()`` (``CPU``, ``GPU``: totals over the nodes).
    actors : int or None
        Requested actor count (``--workers``), None for one per CPU slot (or per GPU with ``gpus``).
    gpus : None or "all"
        ``"all"``: each actor renders on a GPU Ray assigns (several actors may share one: ``num_gpus`` 1/k).
    n_scenes : int
        Scenes to render (no more actors than scenes, at least one).

    Returns
    -------
    dict
        ``actors`` (int), ``num_cpus`` and ``num_gpus`` per actor (float; 0 GPUs without ``gpus``).

    Raises
    ------
    GpuError
        ``gpus`` is a list of ids (Ray, not the user, assigns GPUs to actors), or the cluster has no GPU.
    """
    cpus, n_gpus = float(cluster.get("CPU", 0)), float(cluster.get("GPU", 0))
    if gpus is not None and gpus != "all":
        raise GpuError(f"--gpus {','.join(str(g) for g in gpus)} with --executor ray: Ray assigns GPUs to actors; "
                       "use --gpus all (and --workers N for N renderers, shared among the GPUs)")
    if gpus == "all" and n_gpus < 1:
        raise GpuError(f"--gpus all: the Ray cluster has no GPU (resources: {int(cpus)} CPU); "
                       "start its nodes with GPUs (`ray start --num-gpus N` where Ray does not detect them)")
    n = actors if actors else (int(n_gpus) if gpus == "all" else int(cpus))
    n = max(1, min(int(n), max(1, int(n_scenes))))
    return {"actors": n, "num_cpus": _share(cpus, n), "num_gpus": _share(n_gpus, n) if gpus == "all" else 0.0}


# ---------------------------------------------------------------- the actor
def recovered_result(recipe, scene_index: int) -> SceneResult:
    """The result reported for a scene whose folder was committed by an attempt whose result was lost.

    ``recovered`` True; ``frames`` is the scene's view count, ``timings`` is empty, ``settled`` True, nothing
    ``removed``, and ``objects``, ``obj_ids``, ``distractors``, ``views`` are None (they died with the attempt).
    """
    return SceneResult(scene=scene_index, frames=recipe.views_in_scene(scene_index), timings={}, settled=True,
                       sim_time=0.0, removed=(), objects=None, obj_ids=None, distractors=None, views=None,
                       recovered=True)


def run_or_recover(worker, scene_index: int) -> SceneResult:
    """Render scene ``scene_index`` with ``worker`` unless its final folder exists.

    A Ray retry runs a scene again after its actor died; if that actor had already committed the scene,
    rendering again would end in ``AtomicFolder.commit``'s FileExistsError. The committed folder is
    complete (commit is one atomic rename), so the retry reports :func:`recovered_result` instead.

    Parameters
    ----------
    worker : SceneWorker
        Anything with ``recipe``, ``out_dir`` and ``run_scene(i) -> SceneResult``.
    scene_index : int

    Returns
    -------
    SceneResult
        ``worker.run_scene(scene_index)`` or :func:`recovered_result`.
    """
    final = scene_path(worker.out_dir, worker.recipe.output.split, scene_index)
    if final.is_dir():
        return recovered_result(worker.recipe, scene_index)
    return worker.run_scene(scene_index)


class SceneActor:
    """The body of a Ray actor: one renderer for its whole life (wrapped with ``ray.remote`` by :func:`run_ray`).

    Setup errors (recipe, EGL device, renderer) are kept and raised by :meth:`info` and :meth:`run_scene`, so
    they reach the driver as the original exception instead of killing (and restarting) the actor.

    Parameters
    ----------
    job : BuildJob
        The build; its recipe is validated again here (:meth:`BuildJob.revalidated`: the files it names must
        exist on this node too).
    use_gpu : bool
        Bind the renderer to the EGL device of the GPU Ray assigned (``ray.get_gpu_ids()[0]``).
    """

    def __init__(self, job: BuildJob, use_gpu: bool = False):
        self.error: BaseException | None = None
        self.binding: dict = {"pid": os.getpid(), "node": socket.gethostname(), "gpu": None, "cuda": None, "egl": None}
        self.worker = None
        try:
            if use_gpu:
                self._bind_gpu()
            self.worker = SceneWorker(job.revalidated())
        except Exception as e:  # noqa: BLE001 - any setup failure is kept and raised by info() / run_scene()
            self.error = e

    def _bind_gpu(self) -> None:
        import ray  # noqa: PLC0415 - Ray is optional (gtforge[ray]); imported only when a build runs on it

        ids = ray.get_gpu_ids()
        where = f"--gpus all: actor pid {os.getpid()} on {self.binding['node']}"
        if not ids:
            raise GpuError(f"{where}: Ray assigned no GPU")
        try:
            cuda = visible_cuda_ordinal(ids[0], os.environ.get("CUDA_VISIBLE_DEVICES"))
            devices = list_egl_devices()
            egl = map_cuda_to_egl([cuda], devices)[cuda]
            bind_egl_device(egl, devices)
        except GpuError as e:
            raise GpuError(f"{where}, Ray GPU {ids[0]}: {e}") from None
        self.binding.update(gpu=str(ids[0]), cuda=cuda, egl=egl)

    def info(self) -> dict:
        """``pid``, ``node`` (host name), ``gpu`` (Ray's id), ``cuda``, ``egl``; raises the setup error if any."""
        if self.error is not None:
            raise self.error
        return dict(self.binding)

    def run_scene(self, scene_index: int) -> SceneResult:
        """:func:`run_or_recover` on this actor's worker; raises the setup error if any."""
        if self.error is not None:
            raise self.error
        return run_or_recover(self.worker, scene_index)


# ---------------------------------------------------------------- the driver
def _describe(info: dict) -> str:
    where = f"ray actor pid {info['pid']} on {info['node']}"
    if info.get("egl") is None:
        return f"{where}: EGL default device"
    return f"{where}: CUDA {info['cuda']} (Ray GPU {info['gpu']}) -> EGL device {info['egl']}"


def _reraise_task_error(ray, err, scene: int | None):
    """Raise what a Ray task failed with: the original exception (actor traceback as a note), or WorkerLostError."""
    if isinstance(err, ray.exceptions.RayTaskError):
        cause = err.cause if isinstance(getattr(err, "cause", None), BaseException) else err
        where = f"scene {scene}" if scene is not None else "actor setup"
        if hasattr(cause, "add_note"):
            cause.add_note(f"raised in a Ray actor ({where}):\n{_ANSI.sub('', str(err))}")
        raise cause from None
    if isinstance(err, ray.exceptions.RayActorError):
        what = f"scene {scene}" if scene is not None else "starting an actor"
        first = _ANSI.sub("", str(err)).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WorkerLostError(f"{what}: a Ray actor died and could not be restarted ({MAX_RESTARTS} restarts): "
                            f"{first}. Complete scenes are kept; run the same command again to resume") from None
    raise err


def run_ray(job: BuildJob, todo, consume, *, actors: int | None = None, address: str | None = None,
            gpus=None) -> None:
    """Render scenes ``todo`` of ``job`` on Ray actors, reporting each finished scene to ``consume`` as it comes back.

    Parameters
    ----------
    job : BuildJob
        The build: its ``base_dir`` (the folder the recipe's relative paths are relative to) must be the same path
        on every node, its ``out_dir`` (the dataset folder) on storage every node shares.
    todo : list of int
        Scene indices to render (none of them committed yet).
    consume : callable
        ``consume(result)`` in the driver, once per scene, in completion order; ``result`` is the
        :class:`~gtforge.pipeline.job.SceneResult` of ``SceneWorker.run_scene`` (or :func:`recovered_result`).
    actors : int or None
        Number of actors (renderers); None: one per CPU slot of the cluster, or per GPU with ``gpus``.
    address : str or None
        Ray address (:func:`connect`); ignored when this process is connected to Ray already.
    gpus : None or "all"
        ``"all"``: each actor asks Ray for a GPU (or a 1/k share) and renders on it.

    Raises
    ------
    ExecutorError
        Ray missing, cluster unreachable, an actor dead beyond :data:`MAX_RESTARTS`.
    GpuError
        ``gpus`` cannot be met (list of ids, no GPU in the cluster, no EGL device for an actor's GPU).
    Exception
        Whatever a scene raised in its actor (RecipeError, AssetError, ...), with the actor's traceback as a note.
    """
    todo = list(todo)
    if not todo:
        return
    ray = require_ray()
    started = connect(address)
    handles: list = []
    try:
        plan = plan_actors(ray.cluster_resources(), actors, gpus, len(todo))
        remote = ray.remote(SceneActor).options(num_cpus=plan["num_cpus"], num_gpus=plan["num_gpus"],
                                                max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES)
        log.info("ray: %d actor(s), %g CPU%s each", plan["actors"], plan["num_cpus"],
                 f" and {plan['num_gpus']:g} GPU" if plan["num_gpus"] else "")
        handles = [remote.remote(job, gpus == "all") for _ in range(plan["actors"])]
        _dispatch(ray, handles, deque(todo), consume)
    finally:
        for h in handles:
            ray.kill(h, no_restart=True)
        disconnect(started)


def _dispatch(ray, handles: list, queue: deque, consume) -> None:
    """Feed one scene at a time to each actor that is up, until ``queue`` is empty and every result is in.

    An actor gets its first scene once its :meth:`SceneActor.info` answers (setup done, binding logged), so
    actors Ray cannot place yet never hold scenes hostage.
    """
    starting = {h.info.remote(): h for h in handles}
    running: dict = {}  # ObjectRef -> (scene, actor)
    waited = time.monotonic()
    while running or (queue and starting):
        refs = list(running) + list(starting)
        ready, _ = ray.wait(refs, num_returns=1, timeout=60.0)
        if not ready:
            if not running:
                log.warning("ray: waiting for the cluster to place actors (%.0f s; resources %s)",
                            time.monotonic() - waited, ray.available_resources())
            continue
        ref = ready[0]
        if ref in starting:
            actor = starting.pop(ref)
            try:
                log.info("%s", _describe(ray.get(ref)))
            except (ray.exceptions.RayTaskError, ray.exceptions.RayActorError) as e:
                _reraise_task_error(ray, e, None)
        else:
            scene, actor = running.pop(ref)
            try:
                res = ray.get(ref)
            except (ray.exceptions.RayTaskError, ray.exceptions.RayActorError) as e:
                _reraise_task_error(ray, e, scene)
            if res.recovered:
                log.info("scene %d: committed by an actor that died before reporting it; kept as is", scene)
            consume(res)
        if queue:
            scene = queue.popleft()
            running[actor.run_scene.remote(scene)] = (scene, actor)


class RayExecutor:
    """The executor (``pipeline.executors.Executor``) of ``--executor ray``: :func:`run_ray` with these settings.

    Parameters
    ----------
    actors : int or None
        Number of actors; None: one per CPU slot of the cluster, or per GPU with ``gpus``.
    address : str or None
        Ray address (:func:`connect`).
    gpus : None or "all"
    """

    def __init__(self, actors: int | None = None, address: str | None = None, gpus=None):
        self.actors, self.address, self.gpus = actors, address, gpus

    def run(self, job: BuildJob, todo, consume) -> None:
        """Render ``todo`` on Ray actors (:func:`run_ray`)."""
        run_ray(job, todo, consume, actors=self.actors, address=self.address, gpus=self.gpus)
