"""The Optuna study of ``gtforge tune``: seeded, resumable, multi-fidelity, within a time budget, locally or on Ray.

* **Storage.** Optuna's RDB storage in SQLite, ``<work>/study.sqlite3``: study ``rung0`` holds every trial at the
  low fidelity, study ``rung1`` the re-evaluations of the best ones at the high fidelity. Each trial's parameters,
  state, value, objective components, seeds and seconds are in it, so an interrupted tune resumes with the same
  command: trials left RUNNING by the interruption are evaluated again with the parameters they were given (an
  evaluation is deterministic), then the study goes on. Time already spent is kept in the study too (user
  attribute ``seconds_spent``): the budget is the whole tune's, across resumptions.
* **Seeds.** Each trial's sampler is created for that trial, seeded from ``core.rng``'s analysis stream
  ``tune_sampler`` keyed by (``--seed``, rung, trial number), so
  trial n's parameters depend only on the seed, n and the trials before it: a tune resumed after an interruption
  asks exactly what the uninterrupted one asks, and two tunes with the same seed and trial count are equal (for the
  same objective values: builds are deterministic, and so is scoring for a seed on one machine and thread count).
  The first trial is always the recipe itself (its own point, enqueued): the untuned baseline.
* **Sampler.** ``match`` (``tune/matching.py``) whenever the evaluator returns residuals (every objective that
  measures statistics): its proposals are enqueued into the study (``enqueue_trial``) and the next ask takes
  them, so they are stored, resumed and counted like any trial; an ask it has nothing for samples with TPE.
  Otherwise multivariate TPE (Optuna's ``TPESampler(multivariate=True)``, 10 random start-up trials) for a
  space with categorical dimensions; CMA-ES (``CmaEsSampler`` as Optuna sets it up: its mean starts at the centre
  of the bounds, sigma0 a sixth of the smallest range) when every dimension is continuous; ``tune.sampler`` or
  the caller may force any of them.
* **Multi-fidelity** (:func:`fidelity_schedule`): rung 0 renders few frames per trial, rung 1 re-renders the
  baseline and the ``top_k`` best rung-0 trials (by rung-0 value; with the match sampler alternately by its merit
  and by value) with more frames in more scenes, with another build seed (fresh scenes, so the pick is not fitted
  to rung 0's draws); the best is the lowest rung-1 value (the baseline
  included: when nothing beats the recipe, the recipe stays). Rung 0 runs while its next trial fits the budget
  less what rung 1 (and the final report) need; rung 1 takes as many of its candidates as fit the rest.
* **Executors.** ``local``: one trial at a time (each trial's build is a fresh ``python -m gtforge build``
  process: one process keeps one renderer for life). ``ray``: batches of as many trials as the cluster has CPU
  slots, each a Ray task that runs the build process and scores it on its node (the work folder must be shared
  storage); a batch's trials are asked before any is told, so the result depends on the batch size too.
* **Progress**: a tqdm bar of trials with the best value so far and the time left in the budget.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
from tqdm import tqdm

from ..config.schema import Recipe
from ..core.rng import analysis_rng
from .space import SearchSpace

log = logging.getLogger("gtforge")

#: Study names in the storage.
RUNGS = ("rung0", "rung1")
#: Optuna's storage file in the work folder.
STORAGE_FILE = "study.sqlite3"


def tune_seed(stream: str, seed: int, *key: int) -> int:
    """A seed in [0, 2^31) for one use of the tuner, drawn from ``core.rng.analysis_rng(stream, seed, *key)``
    (streams ``tune_sampler``: keys rung and trial number; ``tune_build``: key rung), so that every sampler and
    build seed depends only on the tune's ``--seed`` and what it seeds."""
    return int(analysis_rng(stream, seed, *key).integers(2**31))


# ======================================================================== fidelity
@dataclass(frozen=True)
class Fidelity:
    """How a candidate recipe is built for scoring.

    Attributes
    ----------
    rung : int
        0 (every trial) or 1 (the best ones again).
    width, height : int or None
        Image size in pixels (the recipe's intrinsics scaled to it); None keeps the recipe's (AR scenes: the photo's).
    scenes, views : int
        Scenes and views per scene (``scenes.count``, ``scenes.views_per_scene``).
    seed : int
        The build's recipe seed.
    """

    rung: int
    width: int | None
    height: int | None
    scenes: int
    views: int
    seed: int

    @property
    def frames(self) -> int:
        return self.scenes * self.views

    def describe(self) -> dict:
        return {"rung": self.rung, "width": self.width, "height": self.height, "scenes": self.scenes,
                "views_per_scene": self.views, "frames": self.frames, "seed": self.seed}


#: The schedule (:func:`fidelity_schedule`): (longest image side at most, frames, views per scene at most) per rung.
#: Both rungs render at the recipe's own size up to 640 px: the resolution-dependent statistics (noise level,
#: sharpness, edges, spectral slope) of a smaller render do not compare with the reference's (sensor noise of
#: 30-80 photons measured at 160x120 against a 640x480 reference resized to it: normalised distance 0.2 where
#: 640x480 gives 0.99), and the size costs little: a build of 24 frames in 8 scenes took 8.7 s at 160x120 and
#: 11.4 s at 640x480 (2-core machine; the physics of each scene and the process start dominate). Rung 0 takes one
#: view per scene (24 scenes): every rung-0 trial renders the same scenes (one build seed, so that two trials
#: differ by their parameters only), and with 4 views of 6 scenes the tune fitted those 6 scenes' draws: in a
#: 30-minute recovery tune its best points matched at f 1.6-2.1 on them and at 13.8 on rung 1's 32 other scenes
#: (the recipe itself: 19.4 and 31.8), and the tuned recipe's KID on rung 1 was 2.6 times the untuned one's.
#: Rung 1 takes up to 2 views (32 scenes), so the sets that the final reports compare are close to independent
#: images: the classifier two-sample test learns scenes it saw in its training folds (its folds keep scenes whole).
SCHEDULE = ((640, 24, 1), (640, 64, 2))


def fidelity_schedule(recipe: Recipe, seed: int) -> tuple[Fidelity, Fidelity]:
    """The two rungs for a recipe (:data:`SCHEDULE`): rung 0 renders 24 frames (one view per scene: 24 scenes),
    rung 1 64 frames (up to 2 views per scene: 32 scenes), both at the recipe's size with the longest side at most
    640 px (aspect kept); AR scenes keep their photo's size (one view per scene). Build seeds
    ``tune_seed("tune_build", seed, rung)``."""
    out = []
    for rung, (side, frames, max_views) in enumerate(SCHEDULE):
        views = max(1, min(max_views, recipe.scenes.views_per_scene))
        scenes = math.ceil(frames / views)
        w = h = None
        if recipe.camera is not None and recipe.ar is None:
            scale = min(1.0, side / max(recipe.camera.width, recipe.camera.height))
            w = max(1, round(recipe.camera.width * scale))
            h = max(1, round(recipe.camera.height * scale))
        out.append(Fidelity(rung, w, h, scenes, views, tune_seed("tune_build", seed, rung)))
    return out[0], out[1]


def fidelity_overrides(recipe: Recipe, fidelity: Fidelity) -> list[str]:
    """``--set`` items that build a recipe at ``fidelity``: seed, scenes, and the image size with the intrinsics
    scaled (pixel centres at integers: c' = (c + 0.5) s - 0.5)."""
    out = [f"seed={fidelity.seed}", f"scenes.count={fidelity.scenes}", f"scenes.views_per_scene={fidelity.views}",
           "scenes.max_frames=null"]
    cam = recipe.camera
    if fidelity.width is not None and cam is not None and fidelity.width != cam.width:
        s = fidelity.width / cam.width
        out += [f"camera.width={fidelity.width}", f"camera.height={fidelity.height}"]
        if cam.intrinsics is not None:
            k = cam.intrinsics
            out.append("camera.intrinsics=" + json.dumps({"fx": k.fx * s, "fy": k.fy * fidelity.height / cam.height,
                                                          "cx": (k.cx + 0.5) * s - 0.5,
                                                          "cy": (k.cy + 0.5) * fidelity.height / cam.height - 0.5}))
        if cam.constraints is not None:
            out.append(f"camera.constraints.id_pass_width={max(8, min(cam.constraints.id_pass_width, fidelity.width))}")
    return out


# ======================================================================== candidates and evaluators
@dataclass(frozen=True)
class Candidate:
    """A point of the space written into the recipe.

    Attributes
    ----------
    point : dict
        Values of the space's dimensions.
    raw : dict
        The raw recipe with them written (``SearchSpace.apply``).
    sets : tuple of str
        The ``--set`` items that turn the recipe file into ``raw`` (one per changed field, values as JSON).
    values : dict
        {field path: value written} of the changed fields (tune.json).
    """

    point: dict
    raw: dict
    sets: tuple[str, ...]
    values: dict


class TrialFailed(RuntimeError):
    """A candidate could not be evaluated (its build failed, timed out, or does not fit): the trial is FAIL."""


class Evaluator(Protocol):
    """What the study calls to score a candidate (``tune/objectives.py``'s build evaluator, or a test's)."""

    def evaluate(self, candidate: Candidate, fidelity: Fidelity, trial_dir: Path) -> dict:
        """Returns ``{"value": float (lower is better), "components": {name: float}, ...}``; raises TrialFailed."""

    def estimate_seconds(self, fidelity: Fidelity) -> float:
        """A conservative estimate of one evaluation's wall time at ``fidelity``, seconds."""


@dataclass
class BuildEvaluator:
    """Builds a candidate with ``python -m gtforge build RECIPE --set ...`` (a fresh process per trial: one process
    keeps one renderer for life) into ``trial_dir/dataset`` and scores it with ``score(dataset, fidelity)``.

    Attributes
    ----------
    recipe_file : str
        The original recipe file (its folder resolves relative paths).
    recipe : Recipe
        The original recipe, validated (fidelity overrides).
    score : callable
        ``(dataset folder, Fidelity) -> {"value": float, "components": {...}}`` (``tune/objectives.py``).
    build_sets : tuple of str
        More ``--set`` items for every trial build (the objective's layers and formats).
    estimate : callable
        ``Fidelity -> seconds``: a conservative estimate of build and score.
    keep_datasets : bool
        Keep each trial's dataset (else removed after scoring, unless the study asks to keep it).
    timeout_factor : float
        A build taking longer than this many times its estimate (at least 120 s) is stopped: FAIL.
    """

    recipe_file: str
    recipe: Recipe
    score: Callable[[Path, Fidelity], dict]
    build_sets: tuple[str, ...] = ()
    estimate: Callable[[Fidelity], float] | None = None
    keep_datasets: bool = False
    timeout_factor: float = 10.0

    def estimate_seconds(self, fidelity: Fidelity) -> float:
        return float(self.estimate(fidelity)) if self.estimate is not None else 60.0

    @property
    def provides_residuals(self) -> bool:
        """Whether the score returns residuals (``tune/matching.py``) for the ``match`` sampler."""
        return bool(getattr(self.score, "provides_residuals", False))

    def residual_weights(self, size) -> np.ndarray:
        """Each residual's weight (the score's ``residual_weights``) at an analysis size."""
        return self.score.residual_weights(size)

    def command(self, candidate: Candidate, fidelity: Fidelity, out: Path) -> list[str]:
        """The build's command line: ``gtforge build`` through :data:`LAUNCHER` (it dies with the tune)."""
        argv = [sys.executable, "-c", LAUNCHER, str(os.getpid()), "build", str(self.recipe_file), "--out", str(out),
                "--quiet"]
        for item in (*candidate.sets, *fidelity_overrides(self.recipe, fidelity), *self.build_sets):
            argv += ["--set", item]
        return argv

    def evaluate(self, candidate: Candidate, fidelity: Fidelity, trial_dir: Path) -> dict:
        trial_dir = Path(trial_dir)
        out = trial_dir / "dataset"
        trial_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        timeout = max(120.0, self.timeout_factor * self.estimate_seconds(fidelity))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([_package_parent(), os.environ.get("PYTHONPATH", "")]))
        for attempt in range(2):
            try:
                done = subprocess.run(self.command(candidate, fidelity, out), capture_output=True, text=True,
                                      timeout=timeout, env=env)
            except subprocess.TimeoutExpired:
                raise TrialFailed(f"the build took more than {timeout:.0f} s") from None
            if done.returncode == 0:
                break
            if attempt == 0 and out.exists() and "holds a build of a different recipe" in done.stderr:
                shutil.rmtree(out)  # a trial folder left by another version of this trial: build it afresh
                continue
            tail = " ".join(done.stderr.strip().splitlines()[-3:])
            raise TrialFailed(f"gtforge build exited {done.returncode}: {tail}")
        t_build = time.perf_counter() - t0
        result = dict(self.score(out, fidelity))
        result["build_seconds"] = t_build
        result["score_seconds"] = time.perf_counter() - t0 - t_build
        return result


#: How a trial's build process starts: it asks Linux to send it SIGTERM when the tune's process ends
#: (``prctl(PR_SET_PDEATHSIG)``, kept across this exec-free start; ``gtforge build`` stops on SIGTERM as on Ctrl-C,
#: releasing its folder's lock), leaves at once when the tune is already gone, then runs ``gtforge`` with the
#: remaining arguments. Elsewhere than Linux the signal is not set up.
LAUNCHER = ("import ctypes, os, signal, sys\n"
            "try:\n"
            "    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)\n"
            "except (OSError, AttributeError):\n"
            "    pass\n"
            "if os.getppid() != int(sys.argv[1]):\n"
            "    sys.exit(130)\n"
            "from gtforge.cli import main\n"
            "sys.exit(main(sys.argv[2:]))\n")


def _package_parent() -> str:
    """The folder that holds this ``gtforge`` package, so the build process imports the same code."""
    return str(Path(__file__).resolve().parents[2])


# ======================================================================== the study
@dataclass
class StudyResult:
    """What a tune found.

    Attributes
    ----------
    best : dict
        ``rung``, ``number``, ``value``, ``point``, ``values`` (fields changed), ``baseline`` (True: the recipe
        itself won).
    baseline : dict
        The recipe's own trial per rung: ``{"rung0": {...}, "rung1": {...}}`` (value, components, dataset).
    trials : list of dict
        Every trial of both rungs (number, rung, state, point, values, value, components, seeds, seconds, error).
    sampler : str
        ``tpe`` or ``cmaes``.
    seconds_spent : float
        The whole tune's wall time so far (all sessions).
    notes : list of str
        Plain-words remarks (a rung skipped for the budget, ...).
    """

    best: dict
    baseline: dict
    trials: list
    sampler: str
    seconds_spent: float
    notes: list = field(default_factory=list)


def _dist(d):
    import optuna  # noqa: PLC0415 - optuna is the optional tune extra

    if d.type == "categorical":
        return optuna.distributions.CategoricalDistribution(list(d.choices))
    if d.type == "int":
        return optuna.distributions.IntDistribution(int(d.low), int(d.high), log=d.log)
    return optuna.distributions.FloatDistribution(float(d.low), float(d.high), log=d.log)


class Study:
    """One tune's Optuna study (module docstring).

    Parameters
    ----------
    space : SearchSpace
    raw : dict
        The raw recipe the space applies to.
    evaluator : Evaluator
    work_dir : Path
        Holds ``study.sqlite3`` and ``trials/<rung>/<number>/``.
    seed : int
    fidelities : (Fidelity, Fidelity)
        Rung 0 and rung 1 (:func:`fidelity_schedule`).
    sampler : {"auto", "tpe", "cmaes"}
    top_k : int
        Rung-1 candidates besides the baseline.
    executor : {"local", "ray"}
    address : str or None
        Ray cluster (``--address``).
    progress : bool
    feasible : callable or None
        ``Candidate -> None or str``: a reason the candidate cannot be built (checked before its build: FAIL).
    reserve_s : float
        Seconds kept for what follows the study (the final reports).
    batch : int or None
        Trials asked together before any is told (None: 1 locally, the cluster's CPU slots on Ray); the trials'
        parameters depend on it.
    """

    def __init__(self, space: SearchSpace, raw: dict, evaluator: Evaluator, work_dir, *, seed: int,
                 fidelities: tuple[Fidelity, Fidelity], sampler: str = "auto", top_k: int = 3,
                 executor: str = "local", address: str | None = None, progress: bool = True,
                 feasible: Callable[[Candidate], str | None] | None = None, reserve_s: float = 0.0,
                 batch: int | None = None):
        self.space, self.raw, self.evaluator = space, raw, evaluator
        self.work_dir = Path(work_dir).resolve()  # absolute: Ray tasks run elsewhere
        self.seed, self.fidelities, self.top_k = int(seed), fidelities, int(top_k)
        self.executor, self.address, self.progress = executor, address, progress
        self.feasible, self.reserve_s, self.batch = feasible, float(reserve_s), batch
        if sampler == "auto":
            sampler = "match" if getattr(evaluator, "provides_residuals", False) else \
                ("cmaes" if space.all_continuous else "tpe")
        self.sampler_name = sampler
        self._matcher = None
        self.dims = space.dims()
        self.distributions = {name: _dist(d) for name, d in self.dims.items()}
        self.notes: list[str] = []
        self._storage_obj = None
        self._t0 = time.perf_counter()
        self._spent_before = 0.0

    # ------------------------------------------------------------------ storage and samplers
    @property
    def storage_url(self) -> str:
        return f"sqlite:///{(self.work_dir / STORAGE_FILE).resolve()}"

    def _sampler(self, rung: int, number: int):
        import optuna  # noqa: PLC0415 - optuna is the optional tune extra

        s = tune_seed("tune_sampler", self.seed, rung, number)
        if rung == 1:
            return optuna.samplers.RandomSampler(seed=s)  # rung-1 trials are enqueued: fixed parameters
        if self.sampler_name == "cmaes" and not self.space.all_continuous:
            raise ValueError("CMA-ES needs a space without categorical dimensions")
        if self.sampler_name == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=s, n_startup_trials=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=s, multivariate=True, n_startup_trials=10)

    def _storage(self):
        """Optuna's RDB storage on the SQLite file, opened once; SQLite in write-ahead-log mode with
        ``synchronous=NORMAL`` (a commit is not flushed to the disk each time: Optuna commits every parameter, and
        a flush each costs ~10 ms here; a killed process loses nothing, a power cut at most the last trials, which a
        resumed tune evaluates again)."""
        if self._storage_obj is None:
            import optuna  # noqa: PLC0415 - optuna is the optional tune extra
            from sqlalchemy import event  # noqa: PLC0415 - sqlalchemy comes with optuna, the optional tune extra

            def pragmas(dbapi_connection, _record):
                cur = dbapi_connection.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            storage = optuna.storages.RDBStorage(self.storage_url, engine_kwargs={"connect_args": {"timeout": 60}})
            event.listen(storage.engine, "connect", pragmas)
            storage.engine.dispose()  # connections opened before the listener: closed, new ones get the pragmas
            self._storage_obj = storage
        return self._storage_obj

    def _study(self, rung: int, number: int = 0):
        import optuna  # noqa: PLC0415 - optuna is the optional tune extra

        return optuna.create_study(storage=self._storage(), study_name=RUNGS[rung], direction="minimize",
                                   load_if_exists=True, sampler=self._sampler(rung, number))

    def _spent(self) -> float:
        return self._spent_before + (time.perf_counter() - self._t0)

    def _save_spent(self) -> None:
        self._study(0).set_user_attr("seconds_spent", self._spent())

    # ------------------------------------------------------------------ evaluating
    def candidate(self, point: dict) -> Candidate:
        """The :class:`Candidate` of a point: the raw recipe with it written, and the ``--set`` items."""
        changes = self.space.changes(self.raw, point)
        sets = tuple(f"{c.path}={json.dumps(c.after)}" for c in changes)
        return Candidate(point=dict(point), raw=self.space.apply(self.raw, point), sets=sets,
                         values={c.path: c.after for c in changes})

    def _trial_dir(self, rung: int, number: int) -> Path:
        return self.work_dir / "trials" / RUNGS[rung] / f"{number:05d}"

    def _evaluate_batch(self, jobs: list[tuple[int, int, Candidate]]) -> list[dict | Exception]:
        """Evaluate (rung, number, candidate) jobs: here one by one, or as Ray tasks in parallel."""
        out: list = []
        if self.executor == "ray" and len(jobs) > 1:
            ray = _ray()
            remote = ray.remote(num_cpus=1)(_evaluate_job)
            refs = [remote.remote(self.evaluator, c, self.fidelities[r], self._trial_dir(r, n)) for r, n, c in jobs]
            for ref in refs:
                try:
                    out.append(ray.get(ref))
                except TrialFailed as e:
                    out.append(e)
                except Exception as e:  # noqa: BLE001 - a Ray task's error wraps the original (RayTaskError)
                    cause = getattr(e, "cause", None)
                    out.append(cause if isinstance(cause, TrialFailed) else TrialFailed(f"{type(e).__name__}: {e}"))
            return out
        for r, n, c in jobs:
            out.append(_evaluate_job(self.evaluator, c, self.fidelities[r], self._trial_dir(r, n)))
        return out

    def _prune_datasets(self, s0) -> None:
        """Remove rung-0 datasets but the baseline's and the best trial's (the report's fallback when rung 1 does
        not run), unless the evaluator keeps them all."""
        if getattr(self.evaluator, "keep_datasets", False):
            return
        trials = [t for t in s0.get_trials(deepcopy=False) if t.state.is_finished()]
        complete = [t for t in trials if t.value is not None]
        keep = {t.number for t in trials if t.user_attrs.get("baseline")}
        if complete:
            keep.add(min(complete, key=lambda t: (t.value, t.number)).number)
        for t in trials:
            folder = self._trial_dir(0, t.number) / "dataset"
            if t.number not in keep and folder.exists():
                shutil.rmtree(folder, ignore_errors=True)

    def _tell(self, study, trial_number: int, result, started: float, rung: int, candidate: Candidate) -> None:
        import optuna  # noqa: PLC0415 - optuna is the optional tune extra

        seconds = time.perf_counter() - started
        # user attributes of a trial by number: Optuna's storage API (optuna 5.1, pinned in the tune extra)
        trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, trial_number)
        attrs = {"seconds": seconds, "fidelity": self.fidelities[rung].describe(), "values": candidate.values,
                 "build_seed": self.fidelities[rung].seed,
                 "sampler_seed": tune_seed("tune_sampler", self.seed, rung, trial_number)}
        if isinstance(result, Exception):
            attrs["error"] = str(result)
            for k, v in attrs.items():
                study._storage.set_trial_user_attr(trial_id, k, _jsonable(v))
            study.tell(trial_number, state=optuna.trial.TrialState.FAIL)
            log.info("trial %d (rung %d) failed: %s", trial_number, rung, result)
            return
        attrs["components"] = result.get("components", {})
        for k in ("build_seconds", "score_seconds", "frames", "residuals", "analysis_size"):
            if k in result:
                attrs[k] = result[k]
        for k, v in attrs.items():
            study._storage.set_trial_user_attr(trial_id, k, _jsonable(v))
        study.tell(trial_number, float(result["value"]))

    def _run_jobs(self, study, rung: int, trials) -> None:
        """Evaluate asked (RUNNING) trials and tell their results."""
        jobs, started = [], time.perf_counter()
        for t in trials:
            cand = self.candidate(t.params)
            why = self.feasible(cand) if self.feasible is not None else None
            if why is not None:
                self._tell(study, t.number, TrialFailed(why), started, rung, cand)
                continue
            jobs.append((rung, t.number, cand))
        results = self._evaluate_batch(jobs)
        for (_rung, n, cand), res in zip(jobs, results):
            self._tell(study, n, res, started, rung, cand)
        self._save_spent()
        if rung == 0:
            self._prune_datasets(study)

    # ------------------------------------------------------------------ estimates
    def _estimate(self, study, rung: int) -> float:
        """Seconds of one evaluation at ``rung``: the mean of the finished ones, else the evaluator's estimate (rung
        1 from rung 0's measured mean times the evaluator's ratio of the two)."""
        done = [t.user_attrs["seconds"] for t in study.get_trials(deepcopy=False)
                if t.state.is_finished() and "seconds" in t.user_attrs]
        if done:
            return float(np.mean(done))
        est = self.evaluator.estimate_seconds(self.fidelities[rung])
        if rung == 1:
            s0 = self._study(0)
            done0 = [t.user_attrs["seconds"] for t in s0.get_trials(deepcopy=False)
                     if t.state.is_finished() and "seconds" in t.user_attrs]
            if done0:
                ratio = est / max(1e-9, self.evaluator.estimate_seconds(self.fidelities[0]))
                return float(np.mean(done0)) * ratio
        return est

    # ------------------------------------------------------------------ the run
    def run(self, budget_s: float, n_trials: int | None = None) -> StudyResult:
        """Run (or resume) the tune: rung 0 while it fits the budget (or up to ``n_trials`` rung-0 trials), then rung 1.

        Parameters
        ----------
        budget_s : float
            The whole tune's wall-time budget in seconds (sessions before this one count).
        n_trials : int or None
            Rung-0 trials in all, the baseline included (None: as many as the budget allows).

        Returns
        -------
        StudyResult
        """
        (self.work_dir / "trials").mkdir(parents=True, exist_ok=True)
        import optuna  # noqa: PLC0415 - optuna is the optional tune extra

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        s0 = self._study(0)
        self._spent_before = float(s0.user_attrs.get("seconds_spent", 0.0))
        self._t0 = time.perf_counter()
        if not s0.get_trials(deepcopy=False):
            s0.enqueue_trial(self.space.defaults(), user_attrs={"baseline": True})
        batch = self._batch_size()
        bar = tqdm(total=n_trials, unit="trial", disable=not self.progress, dynamic_ncols=True, desc="tune rung 0")
        try:
            self._rung0(s0, budget_s, n_trials, batch, bar)
            bar.set_description("tune rung 1")
            self._rung1(budget_s, bar)
        finally:
            bar.close()
        return self._result()

    def _batch_size(self) -> int:
        if self.batch is not None:
            return max(1, int(self.batch))
        if self.executor != "ray":
            return 1
        ray = _ray()
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def _rung1_need(self, s0, budget_s) -> float:
        """Seconds rung 1 wants: the baseline and ``top_k`` candidates."""
        return (self.top_k + 1) * self._estimate(self._study(1), 1)

    def _rung0(self, s0, budget_s: float, n_trials: int | None, batch: int, bar) -> None:
        import optuna  # noqa: PLC0415 - optuna is the optional tune extra

        stale = [t for t in s0.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.RUNNING]
        if stale:  # interrupted: evaluate them again, as asked
            log.info("resuming: %d trial(s) of rung 0 left running are evaluated again", len(stale))
            self._run_jobs(s0, 0, stale)
        while True:
            trials = s0.get_trials(deepcopy=False)
            done = sum(1 for t in trials if t.state != optuna.trial.TrialState.WAITING)  # the enqueued recipe: not yet
            self._progress(bar, s0, done, budget_s)
            if n_trials is not None and done >= n_trials:
                break
            est = self._estimate(s0, 0)
            left = budget_s - self._spent() - self.reserve_s
            if done > 0 and left - self._rung1_need(s0, budget_s) < est:
                break
            if done == 0 and budget_s - self._spent() < est:  # the recipe itself is always scored when it fits
                break
            k = batch if n_trials is None else min(batch, n_trials - done)
            asked = []
            for _ in range(k):  # the sampler of the trial an ask creates: number = trials so far (asked ones too)
                self._enqueue_match(s0)
                study = self._study(0, len(s0.get_trials(deepcopy=False)))
                asked.append(study.ask(self.distributions))
            self._run_jobs(s0, 0, asked)
        self._progress(bar, s0, len(s0.get_trials(deepcopy=False)), budget_s)

    # ------------------------------------------------------------------ the match sampler
    def matcher(self, s0=None):
        """The :class:`~gtforge.tune.matching.MatchSampler` of this study (sampler ``match``), built when the recipe's
        own trial has finished with residuals; None before, or for another sampler."""
        if self.sampler_name != "match":
            return None
        if self._matcher is None:
            from .matching import MatchSampler  # noqa: PLC0415 - loaded with the match sampler only

            s0 = s0 if s0 is not None else self._study(0)
            base = next((t for t in s0.get_trials(deepcopy=False) if t.user_attrs.get("baseline")
                         and "residuals" in t.user_attrs), None)
            if base is None:
                return None
            weights = self.evaluator.residual_weights(tuple(base.user_attrs.get("analysis_size") or (0, 0)))
            self._matcher = MatchSampler(self.space, weights)
        return self._matcher

    def _observations(self, s0) -> list:
        """Rung 0's trials as the match sampler sees them: finished ones with their residuals, asked ones pending."""
        import optuna  # noqa: PLC0415 - optuna is the optional tune extra

        from .matching import Observation  # noqa: PLC0415 - loaded with the match sampler only

        out = []
        for t in s0.get_trials(deepcopy=False):
            if t.state == optuna.trial.TrialState.WAITING:
                continue
            r = t.user_attrs.get("residuals") if t.state == optuna.trial.TrialState.COMPLETE else None
            out.append(Observation(t.number, dict(t.params), None if r is None else np.asarray(r, dtype=np.float64),
                                   {"match": t.user_attrs.get("match")} if t.user_attrs.get("match") else {},
                                   pending=t.state == optuna.trial.TrialState.RUNNING))
        return out

    def _enqueue_match(self, s0) -> None:
        """With the match sampler, enqueue its next proposal (the next ask takes it); nothing while the recipe's own
        trial is unfinished or when the sampler has nothing to propose (the ask then samples with TPE)."""
        import optuna  # noqa: PLC0415 - optuna is the optional tune extra

        if self.sampler_name != "match":
            return
        if any(t.state == optuna.trial.TrialState.WAITING for t in s0.get_trials(deepcopy=False)):
            return  # the recipe's own point (or another enqueued one) goes first
        matcher = self.matcher(s0)
        if matcher is None:
            return
        proposal = matcher.propose(self._observations(s0))
        if proposal is None:
            return
        s0.enqueue_trial(proposal.point, user_attrs=_jsonable(proposal.attrs), skip_if_exists=False)

    def _progress(self, bar, s0, done: int, budget_s: float) -> None:
        if bar.disable:
            return
        bar.n = done
        complete = [t for t in s0.get_trials(deepcopy=False) if t.value is not None]
        best = min((t.value for t in complete), default=float("nan"))
        left = max(0.0, budget_s - self._spent())
        bar.set_postfix_str(f"best {best:.4g}, {int(left // 60)}:{int(left % 60):02d} left", refresh=True)

    def _rung1(self, budget_s: float, bar) -> None:
        import optuna  # noqa: PLC0415 - optuna is the optional tune extra

        s0, s1 = self._study(0), self._study(1)
        complete = [t for t in s0.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
        base = next((t for t in complete if t.user_attrs.get("baseline")), None)
        wanted = ([base] if base is not None else []) + self._rung1_candidates(s0, complete, base)
        stale = [t for t in s1.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.RUNNING]
        if stale:
            self._run_jobs(s1, 1, stale)
        done_sources = {t.user_attrs.get("source_trial") for t in s1.get_trials(deepcopy=False)}
        todo = [t for t in wanted if t.number not in done_sources]
        if not bar.disable:
            bar.reset(total=len(wanted))
            bar.update(len(wanted) - len(todo))
        skipped = 0
        for t in todo:
            left = budget_s - self._spent() - self.reserve_s
            if left < self._estimate(s1, 1):
                skipped += 1
                continue
            s1.enqueue_trial(t.params, user_attrs={"source_trial": t.number, "baseline": t is base,
                                                   "rung0_value": t.value})
            asked = self._study(1, len(s1.get_trials(deepcopy=False))).ask(self.distributions)
            self._run_jobs(s1, 1, [asked])
            bar.update(1)
        if skipped:
            self.notes.append(f"rung 1 evaluated {len(todo) - skipped} of {len(todo)} candidates: the budget left no "
                              "time for the others")

    def _rung1_candidates(self, s0, complete: list, base) -> list:
        """Rung 0's best ``top_k`` (the baseline aside, each point once): by rung-0 value, and with the match sampler
        alternately by its merit (the match plus the L1 distance from the recipe) and by value."""
        def unique(trials):
            out, seen = [], set()
            for t in trials:
                key = json.dumps(t.params, sort_keys=True, default=str)
                if t is base or key in seen:
                    continue
                seen.add(key)
                out.append(t)
            return out

        by_value = unique(sorted(complete, key=lambda t: (t.value, t.number)))
        matcher = self.matcher(s0)
        if matcher is None:
            return by_value[: self.top_k]
        scored = [t for t in complete if "residuals" in t.user_attrs]
        by_merit = unique(sorted(scored, key=lambda t: (matcher.merit(matcher.coords.encode(t.params),
                                                                      np.asarray(t.user_attrs["residuals"])),
                                                        t.number)))
        out, seen = [], set()
        for pair in zip(by_merit + [None] * len(by_value), by_value + [None] * len(by_merit)):
            for t in pair:
                if t is not None and t.number not in seen and len(out) < self.top_k:
                    seen.add(t.number)
                    out.append(t)
        return out

    # ------------------------------------------------------------------ the result
    def _result(self) -> StudyResult:
        import optuna  # noqa: PLC0415 - optuna is the optional tune extra

        trials = []
        for rung in (0, 1):
            for t in self._study(rung).get_trials(deepcopy=False):
                trials.append({"rung": rung, "number": t.number, "state": t.state.name, "value": t.value,
                               "point": {k: _jsonable(v) for k, v in t.params.items()},
                               **{k: _jsonable(v) for k, v in t.user_attrs.items()}})
        complete = {r: [t for t in trials if t["rung"] == r and t["state"] == optuna.trial.TrialState.COMPLETE.name]
                    for r in (0, 1)}
        baseline = {RUNGS[r]: next((t for t in complete[r] if t.get("baseline")), None) for r in (0, 1)}
        pool = complete[1] if any(not t.get("baseline") for t in complete[1]) else complete[0]
        if not pool:
            raise TrialFailed("no trial of the tune completed: " + "; ".join(
                f"trial {t['number']}: {t.get('error', t['state'])}" for t in trials[:3]))
        if pool is complete[0] and complete[1] == []:
            self.notes.append("rung 1 did not run (budget): the best is rung 0's")
        best = min(pool, key=lambda t: (t["value"], t["number"]))
        result = {"rung": best["rung"], "number": best["number"], "value": best["value"], "point": best["point"],
                  "values": best.get("values", {}), "baseline": bool(best.get("baseline")),
                  "source_trial": best.get("source_trial", best["number"])}
        return StudyResult(best=result, baseline=baseline, trials=trials, sampler=self.sampler_name,
                           seconds_spent=self._spent(), notes=list(self.notes))


def _evaluate_job(evaluator, candidate: Candidate, fidelity: Fidelity, trial_dir: Path):
    """One evaluation (here or in a Ray task): the evaluator's result, or the TrialFailed it raised."""
    try:
        return evaluator.evaluate(candidate, fidelity, Path(trial_dir))
    except TrialFailed as e:
        return e


def _ray():
    from ..pipeline.ray_executor import require_ray  # noqa: PLC0415 - Ray is optional (gtforge[ray]); imported only for --executor ray

    return require_ray()


def _jsonable(v: Any):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


