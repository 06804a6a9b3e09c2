"""``gtforge tune``: :func:`run_tune`, from the recipe and the reference to TUNED.yaml, ``tune.json`` and the reports.

Order of work (every check before anything is written; a bad input is an exception the CLI turns into exit 2):

1. the ``tune`` extra (``compare.imagesets.require_extra``: optuna, ruamel.yaml, torch where an objective trains
   or extracts features); the recipe (a file or a bundled recipe's name) and its search space
   (``tune/space.py``); ``--out`` (its folder exists; the recipe still validates from there); the work folder
   (new, or this same tune's, which then resumes); the reference (``tune/objectives.py``); the objective; Ray
   for ``--executor ray``; the budget (at least one rung-0 trial as :func:`estimate_seconds` estimates it,
   conservatively); the recipe's models (loaded, checked to fit the clutter space as ``gtforge build`` does).
2. The work folder (``--work``, default ``<TUNED stem>.tune/`` beside TUNED.yaml): ``tune_key.json`` (what this
   tune is: recipe, reference, objective, seed, space), ``study.sqlite3``, ``trials/``.
3. The study (``tune/study.py``), then TUNED.yaml (``tune/recipe_out.py``), the compare reports of the untuned
   and the tuned recipe against the reference side by side (``<work>/compare/untuned/``,
   ``<work>/compare/tuned/``: ``compare.report.run_compare`` on the rung-1 datasets of the baseline and the
   best), and ``<work>/tune.json``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .. import __version__
from ..compare.imagesets import require_extra
from ..config.base import RecipeError
from ..config.loading import load_recipe, resolve_recipe
from ..formats.atomic import load_json, write_json_atomic
from .objectives import C2ST_RUNGS, Scorer, TuneInputError, load_reference, objective_weights
from .recipe_out import check_recipe_folder, write_tune_json, write_tuned_recipe
from .space import SearchSpace, search_space
from .study import (
    LAUNCHER,
    RUNGS,
    STORAGE_FILE,
    BuildEvaluator,
    Candidate,
    Fidelity,
    Study,
    TrialFailed,
    fidelity_overrides,
    fidelity_schedule,
)

log = logging.getLogger("gtforge")

#: The work folder's record of what its tune is.
KEY_FILE = "tune_key.json"
#: Conservative costs of one trial on a 2-core CPU machine (Mesa llvmpipe), seconds: a build process's start
#: (interpreter, imports, the model library from its caches), each scene (physics, set-up), each frame per
#: megapixel rendered (RGB with shadows), and scoring per objective (fixed + per frame; the adversarial
#: objective's classifier, at the rungs that train it, in ``C2ST_S``). Measured on the bundled default recipe
#: (1 scene and 1 frame at 640x480: 3.5 s; 8 scenes of 1 frame: 8.2 s; 24 frames in 8 scenes: 8.7 s at 160x120,
#: 11.4 s at 640x480; image statistics of 24 frames at 640x480: 0.7 s; the classifier on 64 + 100 images: 13 s)
#: and rounded up about 1.5x; the study replaces them by the measured mean once trials finish.
BUILD_START_S = 4.5
SCENE_S = 1.0
FRAME_MPIX_S = 0.6
LABEL_FRAME_S = 0.05
AR_FRAME_S = 0.5
SCORE_S = {"content": (1.0, 0.01), "appearance": (1.0, 0.05), "adversarial": (1.0, 0.05), "task": (40.0, 0.5)}
C2ST_S = (20.0, 0.1)
#: Seconds kept for each of the two compare reports at the end (``compare.report.run_compare``).
REPORT_S = 60.0
#: Rung-1 candidates besides the baseline.
TOP_K = 3


def estimate_seconds(fidelity: Fidelity, weights: dict, rgb: bool) -> float:
    """A conservative estimate of one trial's wall time at ``fidelity`` (constants above).

    Parameters
    ----------
    fidelity : Fidelity
    weights : dict
        The objectives scored.
    rgb : bool
        Whether the build renders RGB (``content`` alone does not).
    """
    if fidelity.width is None:  # AR: no physics; a few objects rendered and composited into the photo
        t = BUILD_START_S + AR_FRAME_S * fidelity.frames
    else:
        per_frame = FRAME_MPIX_S * fidelity.width * fidelity.height / 1e6 if rgb else LABEL_FRAME_S
        t = BUILD_START_S + SCENE_S * fidelity.scenes + per_frame * fidelity.frames
    for name in weights:
        fixed, frame = SCORE_S[name]
        t += fixed + frame * fidelity.frames
        if name == "adversarial" and fidelity.rung in C2ST_RUNGS:
            t += C2ST_S[0] + C2ST_S[1] * fidelity.frames
    return t


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _check_work(work: Path, out: Path, key: dict) -> bool:
    """True when ``work`` holds this same tune (resume); TuneInputError when it holds something else, or when
    ``out`` exists and is not this tune's."""
    if work.exists() and not work.is_dir():
        raise TuneInputError(f"--work {work}: exists and is not a folder")
    resuming = (work / KEY_FILE).is_file()
    if resuming:
        old = load_json(work / KEY_FILE)
        diff = sorted(k for k in set(old) | set(key) if old.get(k) != key.get(k))
        if diff:
            raise TuneInputError(f"--work {work}: holds a tune of other inputs ({', '.join(diff)} differ); use another "
                                 "--work or remove that folder")
    elif work.is_dir() and any(work.iterdir()):
        raise TuneInputError(f"--work {work}: folder exists, is not empty and holds no tune; choose another --work")
    if out.exists() and not resuming:
        raise TuneInputError(f"--out {out}: exists; choose another file (gtforge tune never overwrites a file it did "
                             "not write)")
    if out.exists() and out.is_dir():
        raise TuneInputError(f"--out {out}: is a folder; give a file name (TUNED.yaml)")
    return resuming


def _feasibility(recipe, recipe_file: str, base_dir: Path, space: SearchSpace):
    """Load the recipe's models (AssetError, HandModelError or RecipeError now, before anything is written) and
    return a check of each candidate's fit (``pipeline.fit.check_fit``), so one that cannot fit is not built."""
    from ..assets.loaders import AssetLibrary  # noqa: PLC0415 - loaded when a tune runs, not at import (gtforge --help stays light)
    from ..pipeline.fit import check_fit  # noqa: PLC0415 - loaded when a tune runs, not at import (gtforge --help stays light)
    from ..pipeline.worker import distractor_library, load_hand_model  # noqa: PLC0415 - loaded when a tune runs, not at import (gtforge --help stays light)

    library = AssetLibrary(recipe.target_sets, base_dir)
    library.load_all()
    distractors = distractor_library(recipe, base_dir)
    if distractors is not None:
        distractors.load_all()
    if recipe.hands is not None:
        load_hand_model(recipe.hands)
    if recipe.ar is None:
        check_fit(recipe, library, recipe_file, distractors)

    def feasible(candidate: Candidate) -> str | None:
        if recipe.ar is not None:
            return None
        try:
            check_fit(space.validate(candidate.raw), library, recipe_file, distractors)
        except RecipeError as e:
            return f"does not fit: {e.path}: {e.message}"
        return None

    return feasible


def _versions() -> dict:
    out = {"gtforge": __version__, "python": platform.python_version()}
    for name in ("optuna", "numpy", "torch", "ruamel.yaml"):
        try:
            from importlib.metadata import version  # noqa: PLC0415 - only for the record in tune.json

            out[name] = version(name.replace(".", "-") if name == "ruamel.yaml" else name)
        except Exception:  # noqa: BLE001 - a missing distribution is recorded as such
            out[name] = None
    return out


def run_tune(recipe_path, reference, out_recipe, *, budget_minutes: float = 30.0, objective: str | None = None,
             seed: int = 0, work_dir=None, reference_format: str = "auto", executor: str = "local",
             address: str | None = None, progress: bool = True, trials: int | None = None,
             keep_datasets: bool = False, report: bool = True, top_k: int = TOP_K) -> dict:
    """Tune a recipe's distributions towards a reference and write TUNED.yaml, ``tune.json`` and the reports.

    Parameters
    ----------
    recipe_path : str or PathLike
        A recipe file, or a bundled recipe's name.
    reference : str or PathLike
        The reference: a folder of images, or a labelled dataset (COCO, BOP, KITTI, YOLO, gtforge).
    out_recipe : str or PathLike
        TUNED.yaml to write (its folder must exist; an existing file only when it is this tune's, resumed).
    budget_minutes : float
        The whole tune's wall-time budget (resumed sessions included), minutes.
    objective : str or None
        ``auto``, ``content``, ``appearance``, ``adversarial`` or ``task`` (``tune/objectives.py``); None: the
        recipe's ``tune.objective`` (default ``auto``).
    seed : int
        Seeds the samplers, the trial builds and the scoring.
    work_dir : path or None
        The work folder (default ``<TUNED stem>.tune/`` beside TUNED.yaml).
    reference_format : str
        ``auto`` or a ``compare.imagesets`` layout.
    executor : {"local", "ray"}
    address : str or None
        Ray cluster address (``--executor ray``).
    progress : bool
        Show the progress bar.
    trials : int or None
        Rung-0 trials in all (the baseline included); None: as many as the budget allows.
    keep_datasets : bool
        Keep every trial's dataset in the work folder.
    report : bool
        Write the compare reports of the untuned and tuned recipes.
    top_k : int
        Rung-1 candidates besides the baseline (default :data:`TOP_K`).

    Returns
    -------
    dict
        The content of ``tune.json``.

    Raises
    ------
    MissingExtraError, RecipeError, CompareInputError, TuneInputError, AssetError, HandModelError, ExecutorError
        Before anything is written.
    TrialFailed
        When no trial of the tune completed (a failure while running, not bad input).
    """
    t_start = time.perf_counter()
    require_extra("optuna", "ruamel.yaml")
    if budget_minutes is None or not math.isfinite(float(budget_minutes)) or budget_minutes <= 0:
        raise TuneInputError(f"--budget-minutes must be a number > 0, got {budget_minutes}")
    if trials is not None and trials < 1:
        raise TuneInputError(f"--trials must be >= 1, got {trials}")
    if executor not in ("local", "ray"):
        raise TuneInputError(f"--executor must be local or ray, got {executor!r}")
    if address is not None and executor != "ray":
        raise TuneInputError("--address needs --executor ray (it names the Ray cluster to run on)")
    recipe_file = resolve_recipe(recipe_path)
    recipe, raw = load_recipe(recipe_file)
    base_dir = Path(recipe_file).resolve().parent
    space = search_space(recipe, raw, recipe_file, base_dir)
    out = Path(out_recipe)
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise TuneInputError(f"--out {out}: a recipe file name ends in .yaml or .yml")
    if not out.resolve().parent.is_dir():
        raise TuneInputError(f"--out {out}: its folder {out.resolve().parent} does not exist")
    check_recipe_folder(raw, recipe_file, out)
    work = Path(work_dir) if work_dir is not None else out.with_name(out.stem + ".tune")
    name = objective if objective is not None else (recipe.tune.objective if recipe.tune is not None else "auto")
    if name not in ("auto", "content", "appearance", "adversarial", "task"):
        raise TuneInputError(f"--objective: unknown objective {name!r}")
    ref = load_reference(reference, reference_format, objective=name, seed=seed)
    weights = objective_weights(name, ref)
    if any(k in weights for k in ("adversarial", "task")):
        require_extra("torch")
    key = {"recipe": str(Path(recipe_file).resolve()), "recipe_sha256": _sha256(Path(recipe_file)),
           "reference": str(Path(reference).resolve()), "reference_format": ref.format, "objective": name,
           "weights": weights, "seed": int(seed), "space": space.describe()}
    key = json.loads(json.dumps(key, default=str))
    resuming = _check_work(work, out, key)
    if executor == "ray":
        from ..pipeline.ray_executor import require_ray  # noqa: PLC0415 - Ray is optional (gtforge[ray]); imported only for --executor ray

        require_ray()
    fidelities = fidelity_schedule(recipe, seed)
    scorer = Scorer(ref, weights, seed=seed)
    est = [estimate_seconds(f, weights, scorer.needs_rgb) for f in fidelities]
    prep = 0.06 * len(ref.image_set.records) * len([k for k in weights if k != "content"]) + 5.0
    budget_s = 60.0 * float(budget_minutes)
    if budget_s < est[0] + prep and not resuming:
        need = est[0] + prep
        raise TuneInputError(f"--budget-minutes {budget_minutes:g}: too small for one trial (about {need:.0f} s here: "
                             f"a build of {fidelities[0].frames} frames and its scoring); give at least "
                             f"{math.ceil(need / 60 * 10) / 10:g}")
    feasible = _feasibility(recipe, str(recipe_file), base_dir, space)
    # ---------------------------------------------------------------- from here on, files are written
    work.mkdir(parents=True, exist_ok=True)
    if not resuming:
        write_json_atomic(work / KEY_FILE, key)
    scorer.prepare([(f.width, f.height) for f in fidelities if f.width is not None])
    log.info("tune: reference %s (%s, %d images%s), objective %s, %d parameters (%d dimensions), sampler %s",
             ref.path, ref.format, len(ref.image_set.records), ", labelled" if ref.labelled else "", name,
             len(space.params), len(space.dims()), "auto")
    for note in ref.notes:
        log.info("tune: reference: %s", note)
    evaluator = BuildEvaluator(str(Path(recipe_file).resolve()), recipe, scorer, build_sets=scorer.build_sets(),
                               estimate=lambda f: estimate_seconds(f, weights, scorer.needs_rgb),
                               keep_datasets=keep_datasets)
    reserve = 2 * (REPORT_S + (est[1] if not scorer.needs_rgb else 0.0)) if report else 0.0
    study = Study(space, raw, evaluator, work, seed=seed, fidelities=fidelities,
                  sampler=recipe.tune.sampler if recipe.tune is not None else "auto", top_k=top_k,
                  executor=executor, address=address, progress=progress, feasible=feasible, reserve_s=reserve)
    connected = False
    if executor == "ray":
        from ..pipeline.ray_executor import connect, disconnect  # noqa: PLC0415 - Ray is optional (gtforge[ray]); imported only for --executor ray

        connected = connect(address)
    try:
        result = study.run(budget_s - (time.perf_counter() - t_start if not resuming else 0.0), n_trials=trials)
    finally:
        if connected:
            disconnect(connected)
    best_point = result.best["point"]
    changes = space.changes(raw, best_point)
    header = [f"Tuned by gtforge tune {__version__} towards {Path(reference).resolve()} (objective {name}, seed "
              f"{seed}, {sum(1 for t in result.trials if t['rung'] == 0)} trials): each changed value says",
              f"'gtforge tune: before -> after'. The trials, the search space and the scores: {work / 'tune.json'}."]
    if result.best["baseline"]:
        header.append("No candidate beat the recipe itself: its values are unchanged.")
    write_tuned_recipe(out, Path(recipe_file).read_text(encoding="utf-8"), changes, header)
    notes = list(ref.notes) + list(result.notes) + list(scorer.notes)
    reports = None
    if report and budget_s - (time.perf_counter() - t_start) < REPORT_S and not resuming:
        notes.append("compare reports not written: the budget left no time for them (gtforge compare writes them)")
    elif report:
        reports = _reports(study, result, fidelities, recipe, scorer, reference, reference_format, seed, work, notes)
    content = {
        "gtforge_version": __version__, "versions": _versions(),
        "recipe": {"file": str(Path(recipe_file).resolve()), "sha256": key["recipe_sha256"]},
        "tuned_recipe": str(out.resolve()),
        "reference": {"path": str(Path(reference).resolve()), "format": ref.format,
                      "images": len(ref.image_set.records), "labelled": ref.labelled,
                      "held_out_images": len(ref.held_out.records) if ref.held_out is not None else 0},
        "objective": {"name": name, "weights": weights, "lower_is_better": True},
        "seed": int(seed), "sampler": result.sampler, "executor": executor,
        "budget_minutes": float(budget_minutes), "seconds_spent": result.seconds_spent,
        "fidelity": {"rung0": fidelities[0].describe(), "rung1": fidelities[1].describe(), "top_k": top_k,
                     "estimate_seconds": {"rung0": est[0], "rung1": est[1]}},
        "diversity_guard": space.guard,
        "space": space.describe(),
        "best": {**result.best, "changes": [{"path": c.path, "before": c.before, "after": c.after,
                                             "was_set": c.was_set} for c in changes]},
        "baseline": result.baseline,
        "trials": result.trials,
        "reports": reports,
        "notes": notes,
    }
    content = json.loads(json.dumps(content, default=str))
    write_tune_json(work / "tune.json", content)
    _tidy(work, result, keep_datasets)
    return content


def _trial_dataset(work: Path, rung: int, number: int) -> Path:
    return work / "trials" / RUNGS[rung] / f"{number:05d}" / "dataset"


def _reports(study: Study, result, fidelities, recipe, scorer: Scorer, reference, reference_format, seed, work: Path,
             notes: list) -> dict | None:
    """The compare reports of the untuned and the tuned recipe against the reference (``compare.report``), on the
    datasets of the best rung (rebuilt with RGB at rung 1 when the trials were label-only builds)."""
    if importlib.util.find_spec(__package__.rsplit(".", 1)[0] + ".compare.report") is None:
        notes.append("compare reports not written: this gtforge has no compare.report")
        return None
    from ..compare.report import run_compare  # noqa: PLC0415 - the report module is loaded only when a tune writes its reports

    rung = result.best["rung"]
    base = result.baseline[RUNGS[rung]]
    pairs = {"untuned": base, "tuned": next(t for t in result.trials if t["rung"] == rung
                                            and t["number"] == result.best["number"])}
    out = {}
    for label, trial in pairs.items():
        if trial is None:
            continue
        dataset = _trial_dataset(work, rung, trial["number"])
        if not scorer.needs_rgb or not dataset.is_dir():
            dataset = _rgb_build(study, trial["point"], fidelities[rung], recipe, work / "compare" / f"{label}_dataset")
        folder = work / "compare" / label
        if folder.exists():
            shutil.rmtree(folder)
        learned = importlib.util.find_spec("torch") is not None
        summary = run_compare(dataset, reference, folder, reference_format=reference_format, seed=seed,
                              learned=learned, threads=1)
        learned_doc = summary.get("learned") or {}
        out[label] = {"folder": str(folder), "index": str(folder / "index.html"), "dataset": str(dataset),
                      "gap_score": (summary.get("summary") or {}).get("gap_score"),
                      "c2st_accuracy": (learned_doc.get("c2st") or {}).get("accuracy"),
                      "kid": (learned_doc.get("kid") or {}).get("mean")}
    return out


def _rgb_build(study: Study, point: dict, fidelity: Fidelity, recipe, out: Path) -> Path:
    """Build a candidate with RGB (and BOP labels) for its report."""
    cand = study.candidate(point)
    argv = [sys.executable, "-c", LAUNCHER, str(os.getpid()), "build", str(study.evaluator.recipe_file), "--out",
            str(out), "--quiet"]
    for item in (*cand.sets, *fidelity_overrides(recipe, fidelity), "output.formats=[bop]",
                 "output.layers={rgb: true, depth: false, mask: false, mask_visib: true}", "output.depth_noisy=null"):
        argv += ["--set", item]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                      os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise TrialFailed(f"the report's build failed: {done.stderr.strip()[-400:]}")
    return out


def _tidy(work: Path, result, keep_datasets: bool) -> None:
    """Remove the trial datasets the reports do not use (unless kept)."""
    if keep_datasets:
        return
    keep = {(result.best["rung"], result.best["number"])}
    for rung in (0, 1):
        base = result.baseline.get(RUNGS[rung])
        if base is not None:
            keep.add((rung, base["number"]))
    for rung in (0, 1):
        folder = work / "trials" / RUNGS[rung]
        if not folder.is_dir():
            continue
        for d in folder.iterdir():
            if d.name.isdigit() and (rung, int(d.name)) not in keep and (d / "dataset").exists():
                shutil.rmtree(d / "dataset", ignore_errors=True)


__all__ = ["KEY_FILE", "STORAGE_FILE", "estimate_seconds", "run_tune"]
