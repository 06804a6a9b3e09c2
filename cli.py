"""Command line: ``gtforge build RECIPE --out DIR [--set key.path=value ...] [--workers N] [--frames N]``.

Exit codes: 0 done; 2 bad input (recipe, asset file, output folder), reported
before anything renders; 1 an unexpected failure; 130 interrupted (run the
same command again to resume).
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import __version__


def _build(args) -> int:
    from .assets.loaders import AssetError
    from .render.pipeline import OutputError, build
    from .scenes.recipe import RecipeError, load_recipe

    overrides = list(args.set or [])
    if args.frames is not None:
        overrides.append(f"scenes.max_frames={args.frames}")
    try:
        recipe, resolved = load_recipe(args.recipe, overrides)
        from pathlib import Path

        base_dir = Path(args.recipe).resolve().parent
        summary = build(recipe, resolved, str(args.recipe), base_dir, args.out, workers=args.workers,
                        progress=not args.quiet)
    except (RecipeError, AssetError, OutputError) as e:
        print(f"gtforge: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gtforge: interrupted; run the same command again to resume (complete scenes are kept)", file=sys.stderr)
        return 130
    fps = summary["frames"] / summary["seconds"] if summary["seconds"] > 0 else 0.0
    print(f"gtforge: wrote {summary['frames']} frame(s) in {summary['scenes']} scene(s) to {summary['out_dir']} "
          f"({summary['skipped']} scene(s) already present) in {summary['seconds']:.1f} s, {fps:.2f} frames/s")
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
