"""Command line.

* ``gtforge build RECIPE --out DIR [--set key.path=value ...] [--workers N] [--frames N] [--shard K/N]
  [--executor local|ray] [--address ADDR] [--gpus all|0,2,...]``: render (or resume) a dataset; one build at
  a time per folder (the folder's lock), ``--shard K/N`` renders scenes i with i % N == K. RECIPE is a recipe
  file or the name of a bundled recipe (a file of that name wins)
* ``gtforge recipes``: the bundled recipes, one line each (name, description)
* ``gtforge init NAME [--out FILE]``: copy a bundled recipe to edit (never over an existing file)
* ``gtforge merge SHARD ... --out DIR``: join the shards of one build into a dataset identical to a single build
* ``gtforge verify DATASET [--sample N]``: re-check a dataset from its files
* ``gtforge stats DATASET [--json]``: figures, a terminal table, PNG plots in DATASET/stats/
* ``gtforge preview DATASET [--out sheet.png] [--n 16] [--seed S]``: a contact sheet
* ``gtforge compare DATASET --reference REF [--out DIR] [--reference-format F] [--seed S] [--max-images N]
  [--no-learned]``: the domain gap to a reference (a folder of images, COCO, BOP, KITTI, YOLO): compare.json,
  plots and an index.html in DIR (default DATASET/compare)
* ``gtforge tune RECIPE --reference REF --out TUNED.yaml [--budget-minutes M] [--objective auto|content|appearance|
  adversarial|task] [--seed S] [--work DIR] [--executor local|ray] [--address A] [--reference-format F]
  [--trials N]``: tune the recipe's distributions towards a reference (resumes with the same command)

Exit codes: 0 done (verify: every check holds); 1 verify found failures (or an
unexpected error, or a Ray actor that died and could not be restarted); 2 bad input (recipe, asset file,
flags, output folder; a folder locked by another build; shards that cannot be merged; Ray not installed or not
reachable; an unusable GPU; a folder that is not a complete gtforge dataset; an unknown recipe name; an
existing file for ``init``; an unusable compare reference or dataset; for ``tune``: an empty, unreadable or
unparsable reference, a ``tune:`` path that names no field, a budget too small for one trial; the ``tune`` extra
missing),
reported before anything is written; 130 interrupted (Ctrl-C or SIGTERM: run the
same command again to resume).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from . import __version__


def _error(msg) -> int:
    """Print ``gtforge: error: msg`` to stderr; returns the exit code 2."""
    print(f"gtforge: error: {msg}", file=sys.stderr)
    return 2


# Subcommands import what they use when they run: `gtforge --help` imports none of the stages, and the
# inspection commands never import the renderer or the scene builders.
def _build_options(args) -> dict:
    """``--shard``, ``--executor``, ``--address``, ``--gpus`` as :func:`~gtforge.pipeline.build.build` keywords.
    Raises ValueError naming the flag."""
    from .pipeline.output import parse_shard  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)

    if args.address is not None and args.executor != "ray":
        raise ValueError("--address needs --executor ray (it names the Ray cluster to run on)")
    gpus = None
    if args.gpus is not None:
        from .render.egl_devices import parse_gpus  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)

        gpus = parse_gpus(args.gpus)
    return {"shard": parse_shard(args.shard) if args.shard is not None else None, "executor": args.executor,
            "address": args.address, "gpus": gpus}


def _build(args) -> int:
    from .assets.hand_model import HandModelError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .assets.loaders import AssetError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .config import RecipeError, load_recipe  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .config.loading import resolve_recipe  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .pipeline.build import build  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .pipeline.job import BuildJob  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .pipeline.lock import LockError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .pipeline.output import OutputError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .pipeline.ray_executor import ExecutorError, WorkerLostError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .render.egl_devices import GpuError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)

    try:
        options = _build_options(args)
    except ValueError as e:
        return _error(e)
    overrides = list(args.set or [])
    if args.frames is not None:
        overrides.append(f"scenes.max_frames={args.frames}")
    try:
        recipe_file = resolve_recipe(args.recipe)  # a file, or a bundled recipe's name
        recipe, resolved = load_recipe(recipe_file, overrides)
        job = BuildJob(recipe=recipe, resolved=resolved, recipe_file=str(recipe_file),
                       base_dir=Path(recipe_file).resolve().parent, out_dir=Path(args.out), shard=options.pop("shard"))
        summary = build(job, workers=args.workers, progress=not args.quiet, **options)
    except (RecipeError, AssetError, OutputError, HandModelError, LockError, ExecutorError, GpuError) as e:
        return _error(e)
    except WorkerLostError as e:  # a failure while rendering, not bad input
        print(f"gtforge: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gtforge: interrupted; run the same command again to resume (complete scenes are kept)", file=sys.stderr)
        return 130
    shard = f" (shard {summary.shard[0]}/{summary.shard[1]})" if summary.shard else ""
    print(f"gtforge: wrote {summary.frames} frame(s) in {summary.scenes} scene(s) to {summary.out_dir}{shard} "
          f"({summary.skipped} scene(s) already present) in {summary.seconds:.1f} s, "
          f"{summary.frames_per_second:.2f} frames/s")
    return 0


def _merge(args) -> int:
    from .assets.loaders import AssetError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .config import RecipeError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .pipeline.merge import MergeError, merge  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)

    try:
        summary = merge(args.shards, args.out, progress=not args.quiet)
    except (MergeError, RecipeError, AssetError) as e:
        return _error(e)
    except KeyboardInterrupt:
        print("gtforge: interrupted; nothing was written (run the same command again)", file=sys.stderr)
        return 130
    print(f"gtforge merge: wrote {summary['frames']} frame(s) in {summary['scenes']} scene(s) from "
          f"{summary['inputs']} folder(s) to {summary['out_dir']} in {summary['seconds']:.1f} s")
    return 0


def _recipes(args) -> int:
    from .config.loading import bundled_recipes, recipe_description  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)

    found = bundled_recipes()
    if not found:
        return _error("no bundled recipes: this gtforge was installed without its recipes/ folder")
    width = max(len(n) for n in found)
    for name, file in found.items():
        print(f"{name:<{width}}  {recipe_description(file.read_text(encoding='utf-8'))}")
    return 0


def _init(args) -> int:
    from .config import RecipeError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .config.loading import bundled_recipe_text  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)

    out = Path(args.out if args.out is not None else f"{args.name}.yaml")
    try:
        text = bundled_recipe_text(args.name)
    except RecipeError as e:
        return _error(e)
    try:
        with open(out, "x", encoding="utf-8", newline="") as f:  # "x": never over an existing file
            f.write(text)
    except FileExistsError:
        return _error(f"{out}: exists; choose another --out (gtforge init never overwrites a file)")
    except OSError as e:
        return _error(f"{out}: cannot write: {e.strerror or e}")
    print(f"gtforge init: wrote {out} (bundled recipe {args.name}); edit it, then: gtforge build {out} --out DIR")
    return 0


def _open(path):
    from .formats.dataset import DatasetError, open_dataset  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)

    try:
        return open_dataset(path)
    except DatasetError as e:
        print(f"gtforge: error: {e}", file=sys.stderr)
        return None


def _verify(args) -> int:
    from .inspection.verify import verify  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)

    ds = _open(args.dataset)
    if ds is None:
        return 2
    failures, checked = verify(ds, sample=args.sample, seed=args.seed)
    summary = (f"{checked['frames']} frames, {checked['instances']} instances, "
               f"{checked['coco_annotations']} COCO annotations, {checked['raycast_frames']} frames ray-cast")
    if failures:
        print(f"gtforge verify: {len(failures)} failure(s) in {ds.root} ({summary}):")
        for f in failures:
            print(f"  {f}")
        return 1
    print(f"gtforge verify: OK: {ds.root} ({summary})")
    return 0


def _stats(args) -> int:
    from .inspection.stats import compute_stats, print_table, reportable, write_plots  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)

    ds = _open(args.dataset)
    if ds is None:
        return 2
    stats = compute_stats(ds)
    paths = write_plots(stats, ds.root / "stats")
    if args.json:
        print(json.dumps(reportable(stats), indent=2))
    else:
        print_table(stats)
        print(f"plots: {', '.join(str(p) for p in paths)}")
    return 0


def _preview(args) -> int:
    from .inspection.preview import default_out, make_sheet  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)

    ds = _open(args.dataset)
    if ds is None:
        return 2
    out = default_out(args.dataset) if args.out is None else args.out
    make_sheet(ds, n=args.n, seed=args.seed).save(out)
    print(f"gtforge preview: wrote {out}")
    return 0


#: ``--reference-format`` choices: ``compare.imagesets.FORMATS`` (written out so that --help imports nothing;
#: tests/compare/test_report_cli.py checks that they agree).
REFERENCE_FORMATS = ("auto", "folder", "coco", "bop", "kitti", "yolo", "gtforge")


def _compare(args) -> int:
    from .compare.imagesets import CompareInputError, MissingExtraError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .compare.report import HTML_FILE, run_compare  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)

    if args.max_images < 1:
        return _error(f"--max-images must be >= 1, got {args.max_images}")
    dataset = Path(args.dataset)
    out = Path(args.out) if args.out is not None else (dataset if dataset.is_dir() else dataset.parent) / "compare"
    try:
        doc = run_compare(dataset, args.reference, out, reference_format=args.reference_format, seed=args.seed,
                          max_images=args.max_images, learned=not args.no_learned)
    except CompareInputError as e:
        return _error(e)
    except MissingExtraError as e:
        return _error(f"{e}; or run without the learned distances: --no-learned")
    for sentence in doc["summary"]["sentences"]:
        print(f"  {sentence}")
    print(f"gtforge compare: wrote {out / HTML_FILE}")
    return 0


def _tune(args) -> int:
    from .assets.hand_model import HandModelError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .assets.loaders import AssetError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .compare.imagesets import CompareInputError, MissingExtraError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .config import RecipeError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .pipeline.ray_executor import ExecutorError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .tune.objectives import TuneInputError  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .tune.run import run_tune  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)
    from .tune.study import TrialFailed  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)

    try:
        result = run_tune(args.recipe, args.reference, args.out, budget_minutes=args.budget_minutes,
                          objective=args.objective, seed=args.seed, work_dir=args.work,
                          reference_format=args.reference_format, executor=args.executor, address=args.address,
                          progress=not args.quiet, trials=args.trials)
    except (RecipeError, CompareInputError, MissingExtraError, TuneInputError, AssetError, HandModelError,
            ExecutorError) as e:
        return _error(e)
    except TrialFailed as e:  # a failure while running, not bad input
        print(f"gtforge: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gtforge: interrupted; run the same command again to resume (finished trials are kept)", file=sys.stderr)
        return 130
    best = result["best"]
    base = (result["baseline"].get(f"rung{best['rung']}") or {}).get("value")
    versus = f" (the recipe itself: {base:.4g})" if base is not None else ""
    print(f"gtforge tune: wrote {args.out}: objective {result['objective']['name']} {best['value']:.4g}{versus}, "
          f"{len(best['changes'])} value(s) changed, {len(result['trials'])} trial(s) in "
          f"{result['seconds_spent'] / 60:.1f} min; trials and scores in {Path(result['tuned_recipe']).parent}"
          f"/{Path(args.work or Path(args.out).with_name(Path(args.out).stem + '.tune')).name}/tune.json")
    return 0


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gtforge", description="Synthetic datasets with exact ground truth.",
                                epilog="exit codes: 0 done; 1 verify failures or unexpected error; 2 bad input "
                                       "(nothing written); 130 interrupted")
    p.add_argument("--version", action="version", version=f"gtforge {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="render a dataset from a recipe (resumes an interrupted build)",
                       description="Render a dataset from a recipe into --out, or resume an interrupted build of "
                                   "the same recipe there. One build at a time writes into a folder: a second one "
                                   "exits 2 naming the holder (host, pid, start time).")
    b.add_argument("recipe", help="recipe YAML file, or the name of a bundled recipe ('gtforge recipes' lists them; "
                                  "a file of that name wins)")
    b.add_argument("--out", required=True, help="output dataset folder")
    b.add_argument("--set", action="append", metavar="KEY.PATH=VALUE",
                   help="override a recipe field, value parsed as YAML (repeatable), e.g. --set camera.width=320")
    b.add_argument("--workers", type=int, default=1, help="processes, each with its own renderer (default 1)")
    b.add_argument("--frames", type=int, default=None, help="render at most N frames in all (sets scenes.max_frames)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.add_argument("--shard", metavar="K/N", default=None,
                   help="render only the scenes i with i %% N == K (0 <= K < N) into this folder; "
                        "'gtforge merge' joins the N shard folders")
    b.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: this machine, --workers processes (default); ray: Ray actors on a Ray cluster "
                        "(pip install 'gtforge[ray]'; the --out folder must be on storage every node shares)")
    b.add_argument("--address", metavar="ADDR", default=None,
                   help="with --executor ray: the cluster to join (as 'ray start --head' prints it, or 'auto'); "
                        "default: start a Ray instance on this machine")
    b.add_argument("--gpus", metavar="all|0,2,...", default=None,
                   help="CUDA devices to render on (each renderer uses the EGL device of its GPU; several "
                        "renderers per GPU allowed); default: EGL's default device")
    b.set_defaults(func=_build)
    r = sub.add_parser("recipes", help="list the bundled recipes (name and description)",
                       description="List the recipes bundled with gtforge, one line each: the name that "
                                   "'gtforge build NAME' and 'gtforge init NAME' accept, and what it builds.")
    r.set_defaults(func=_recipes)
    i = sub.add_parser("init", help="copy a bundled recipe into a file to edit",
                       description="Copy the bundled recipe NAME into a new file (never over an existing one).")
    i.add_argument("name", metavar="NAME", help="a bundled recipe ('gtforge recipes' lists them)")
    i.add_argument("--out", default=None, metavar="FILE", help="file to write (default: ./NAME.yaml)")
    i.set_defaults(func=_init)
    m = sub.add_parser("merge", help="join the shard folders of one build (--shard K/N) into one dataset")
    m.add_argument("shards", nargs="+", metavar="SHARD", help="shard folders (every K of one N, any order)")
    m.add_argument("--out", required=True, help="new (or empty) folder for the merged dataset")
    m.add_argument("--quiet", action="store_true", help="no progress messages")
    m.set_defaults(func=_merge)
    v = sub.add_parser("verify", help="re-check a dataset from its files (exit 1 on any failure)")
    v.add_argument("dataset")
    v.add_argument("--sample", type=int, default=5, help="frames to ray-cast (default 5; 0 skips)")
    v.add_argument("--seed", type=int, default=0, help="seed of the frame sample")
    v.set_defaults(func=_verify)
    s = sub.add_parser("stats", help="dataset figures: table, PNG plots in DATASET/stats/, --json")
    s.add_argument("dataset")
    s.add_argument("--json", action="store_true", help="print the figures as JSON")
    s.set_defaults(func=_stats)
    pv = sub.add_parser("preview", help="contact sheet of sampled frames with their ground truth drawn")
    pv.add_argument("dataset")
    pv.add_argument("--out", default=None, help="PNG to write (default: ./<dataset name>_preview.png)")
    pv.add_argument("--n", type=int, default=16, help="frames on the sheet (default 16)")
    pv.add_argument("--seed", type=int, default=0, help="seed of the frame sample")
    pv.set_defaults(func=_preview)
    c = sub.add_parser("compare", help="the domain gap to your real data: compare.json, plots, index.html",
                       description="Measure how a dataset differs from a reference (your real images): image "
                                   "statistics always, content statistics when both sides have labels, learned "
                                   "distances (KID on random CNN features, a two-sample classifier) unless "
                                   "--no-learned. Writes compare.json, plots/, thumbs/ and index.html (opens in a "
                                   "browser, no server) into --out; a previous report there is replaced.")
    c.add_argument("dataset", metavar="DATASET", help="our side: a gtforge dataset folder (or any layout REF may "
                                                      "have)")
    c.add_argument("--reference", required=True, metavar="REF",
                   help="the reference: a folder of images (unlabelled), or a COCO JSON or folder, BOP, KITTI or YOLO "
                        "dataset (labelled)")
    c.add_argument("--out", default=None, metavar="DIR", help="report folder (default: DATASET/compare)")
    c.add_argument("--reference-format", choices=REFERENCE_FORMATS, default="auto",
                   help="layout of REF (default auto: detected)")
    c.add_argument("--seed", type=int, default=0, help="seed of the subsamples, the random CNN and the classifier")
    c.add_argument("--max-images", type=int, default=200, metavar="N",
                   help="at most N images per side, a seeded subsample (default 200)")
    c.add_argument("--no-learned", action="store_true",
                   help="statistics only: skip KID and the two-sample classifier (they need the optional tune "
                        "extra, torch)")
    c.set_defaults(func=_compare)
    t = sub.add_parser("tune", help="tune a recipe's distributions towards a reference (writes TUNED.yaml)",
                       description="Adjust the recipe's distribution parameters (its ranges, weights and choices, or "
                                   "the space its tune: section states) so that its output approaches the reference "
                                   "images, within a time budget; writes the tuned recipe (each change commented "
                                   "before -> after), tune.json and the compare reports into the work folder. An "
                                   "interrupted tune resumes with the same command.")
    t.add_argument("recipe", help="recipe YAML file, or the name of a bundled recipe")
    t.add_argument("--reference", required=True, metavar="REF",
                   help="a folder of images, or a labelled dataset (COCO json, BOP, KITTI, YOLO, gtforge)")
    t.add_argument("--out", required=True, metavar="TUNED.yaml", help="the tuned recipe to write")
    t.add_argument("--budget-minutes", type=float, default=30.0, metavar="M",
                   help="wall-time budget of the whole tune, minutes (default 30)")
    t.add_argument("--objective", choices=("auto", "content", "appearance", "adversarial", "task"), default=None,
                   help="what to minimise (default: the recipe's tune.objective, else auto: appearance + "
                        "adversarial, and content with a labelled reference)")
    t.add_argument("--seed", type=int, default=0, help="seed of the samplers, trial builds and scoring (default 0)")
    t.add_argument("--work", default=None, metavar="DIR",
                   help="work folder: study, trials, reports, tune.json (default: <TUNED stem>.tune/ beside it)")
    t.add_argument("--reference-format", default="auto", choices=REFERENCE_FORMATS,
                   help="layout of REF (default auto: detected)")
    t.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: one trial at a time here; ray: trials in parallel on a Ray cluster (the work folder "
                        "on storage every node shares)")
    t.add_argument("--address", metavar="ADDR", default=None, help="with --executor ray: the cluster to join")
    t.add_argument("--trials", type=int, default=None, metavar="N",
                   help="rung-0 trials in all, the recipe itself included (default: as many as the budget allows)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_tune)
    return p


def _sigterm_interrupts():
    """Make SIGTERM (``kill``, a batch system's time limit) stop a build or merge as Ctrl-C does, so the folder's
    lock is released and nothing half-written looks complete. Returns the previous handler (None where signal
    handlers cannot be set: not the main thread)."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, interrupt)


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    if getattr(args, "workers", 1) < 1:
        print("gtforge: error: --workers must be >= 1", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="gtforge: %(message)s")
    logging.getLogger("gtforge").setLevel(logging.INFO)
    from tqdm.contrib.logging import logging_redirect_tqdm  # noqa: PLC0415 - loaded when the subcommand runs, so --help and light commands stay fast (tests/pipeline/test_cli_flags.py)

    previous = _sigterm_interrupts() if args.command in ("build", "merge", "tune") else None
    try:
        with logging_redirect_tqdm():
            return args.func(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
