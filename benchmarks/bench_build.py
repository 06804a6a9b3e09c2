"""Benchmark: build the bundled default recipe at 640x480 and print throughput, per-stage time and peak RSS.

Usage:  .venv/bin/python benchmarks/bench_build.py [--frames 40] [--workers 1] [--set key=value ...]

Prints frames/s (wall clock, including process start-up of workers), per-stage milliseconds per frame
(summed over workers: physics and scene building are per scene, spread over its views), and peak
resident memory of this process and of its worker processes. Nothing is asserted: the figures are
for people to read and compare (same machine, same command).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE")
    ap.add_argument("--recipe", default=str(ROOT / "recipes" / "clutter_bop.yaml"))
    args = ap.parse_args()

    from gtforge.pipeline.build import build
    from gtforge.pipeline.worker import STAGES
    from gtforge.config import load_recipe

    overrides = ["camera.width=640", "camera.height=480", f"scenes.max_frames={args.frames}", *args.set]
    recipe, resolved = load_recipe(args.recipe, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        s = build(recipe, resolved, args.recipe, Path(args.recipe).resolve().parent, Path(tmp) / "ds",
                  workers=args.workers, progress=False)
        wall = time.perf_counter() - t0
        size_mb = sum(p.stat().st_size for p in (Path(tmp) / "ds").rglob("*") if p.is_file()) / 1e6

    n = s["frames"]
    print(f"gtforge benchmark: {args.recipe} at {recipe.camera.width}x{recipe.camera.height}, {n} frames in {s['scenes']} scenes, "
          f"{args.workers} worker(s), {os.cpu_count()} CPU(s), {platform.machine()}")
    print(f"  throughput     : {n / wall:.2f} frames/s  ({wall:.1f} s wall)")
    print("  per frame (ms) :")
    total = 0.0
    for k in STAGES:
        if k == "hands" and recipe.hands is None:
            continue
        ms = 1000 * s["timings"].get(k, 0.0) / max(n, 1)
        total += ms
        print(f"    {k:<18s} {ms:8.1f}")
    print(f"    {'sum of stages':<18s} {total:8.1f}")
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"  peak RSS (MiB) : main process {self_mb:.0f}" + (f", largest worker {child_mb:.0f}" if args.workers > 1 else ""))
    print(f"  output size    : {size_mb:.1f} MB ({size_mb / max(n, 1):.2f} MB/frame)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
