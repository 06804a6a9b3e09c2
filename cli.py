"""Command line.

* ``gtforge build RECIPE --out DIR [--set key.path=value ...] [--workers N] [--frames N]``
* ``gtforge verify DATASET [--sample N]``: re-check a dataset from its files
* ``gtforge stats DATASET [--json]``: figures, a terminal table, PNG plots in DATASET/stats/
* ``gtforge preview DATASET [--out sheet.png] [--n 16] [--seed S]``: a contact sheet

Exit codes: 0 done (verify: every check holds); 1 verify found failures (or an
unexpected error); 2 bad input (recipe, asset file, output folder; a folder that
is not a complete gtforge dataset), reported before anything is written;
130 interrupted (run the same command again to resume).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import __version__


# Subcommands import what they use when they run: `gtforge --help` imports none of the stages, and the
# inspection commands never import the renderer or the scene builders.
def _build(args) -> int:
    from .assets.hand_model import HandModelError
    from .assets.loaders import AssetError
    from .config import RecipeError, load_recipe
    from .pipeline.build import build
    from .pipeline.output import OutputError

    overrides = list(args.set or [])
    if args.frames is not None:
        overrides.append(f"scenes.max_frames={args.frames}")
    try:
        recipe, resolved = load_recipe(args.recipe, overrides)
        base_dir = Path(args.recipe).resolve().parent
        summary = build(recipe, resolved, str(args.recipe), base_dir, args.out, workers=args.workers,
                        progress=not args.quiet)
    except (RecipeError, AssetError, OutputError, HandModelError) as e:
        print(f"gtforge: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gtforge: interrupted; run the same command again to resume (complete scenes are kept)", file=sys.stderr)
        return 130
    fps = summary["frames"] / summary["seconds"] if summary["seconds"] > 0 else 0.0
    print(f"gtforge: wrote {summary['frames']} frame(s) in {summary['scenes']} scene(s) to {summary['out_dir']} "
          f"({summary['skipped']} scene(s) already present) in {summary['seconds']:.1f} s, {fps:.2f} frames/s")
    return 0


def _open(path):
    from .formats.dataset import DatasetError, open_dataset

    try:
        return open_dataset(path)
    except DatasetError as e:
        print(f"gtforge: error: {e}", file=sys.stderr)
        return None


def _verify(args) -> int:
    from .inspection.verify import verify

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
    from .inspection.stats import compute_stats, print_table, reportable, write_plots

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
    from .inspection.preview import default_out, make_sheet

    ds = _open(args.dataset)
    if ds is None:
        return 2
    out = default_out(args.dataset) if args.out is None else args.out
    make_sheet(ds, n=args.n, seed=args.seed).save(out)
    print(f"gtforge preview: wrote {out}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gtforge", description="Synthetic datasets with exact ground truth.")
    p.add_argument("--version", action="version", version=f"gtforge {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="render a dataset from a recipe (resumes an interrupted build)")
    b.add_argument("recipe", help="recipe YAML file")
    b.add_argument("--out", required=True, help="output dataset folder")
    b.add_argument("--set", action="append", metavar="KEY.PATH=VALUE",
                   help="override a recipe field, value parsed as YAML (repeatable), e.g. --set camera.width=320")
    b.add_argument("--workers", type=int, default=1, help="processes, each with its own renderer (default 1)")
    b.add_argument("--frames", type=int, default=None, help="render at most N frames in all (sets scenes.max_frames)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_build)
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
    return p


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    if getattr(args, "workers", 1) < 1:
        print("gtforge: error: --workers must be >= 1", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="gtforge: %(message)s")
    logging.getLogger("gtforge").setLevel(logging.INFO)
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
