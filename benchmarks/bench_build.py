"""Benchmark: build the bundled default recipe at 640x480 and print throughput, per-stage time and peak RSS.

Usage:  .venv/bin/python benchmarks/bench_build.py [--frames 40] [--workers 1] [--set key=value ...]
        .venv/bin/python benchmarks/bench_build.py --soak 10000 [--set camera.width=320 ...]

Prints frames/s (wall clock, including process start-up of workers), per-stage milliseconds per frame
(summed over workers: physics and scene building are per scene, spread over its views), and peak
resident memory of this process and of its worker processes, and the start-up time (imports; asset
library, collision shapes and renderer of one worker). Nothing is asserted: the figures are for people to
read and compare (same machine, same command).

``--steady`` also builds three times as many frames (the same recipe with enough scenes) and prints the
steady-state rate, (3N - N) frames / (difference of the two wall times): start-up (imports, worker processes,
asset library, renderer) and the dataset merge cancel out, so it is the rate a long build settles at.

``--soak N`` renders N frames of the recipe through one in-process scene worker (as a pool process does),
deleting each scene folder once written (disk stays small), and prints the resident set size (VmRSS of
``/proc/self/status``) after every scene as a curve of about 20 points, then the growth after warm-up:
(RSS at the end - RSS after the first 10 % of frames) / RSS after the first 10 %.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
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
    ap.add_argument("--soak", type=int, default=0, metavar="N", help="RSS soak over N frames (one worker)")
    ap.add_argument("--steady", action="store_true", help="also build 3x the frames; print the steady-state rate")
    args = ap.parse_args()

    t_import = time.perf_counter()
    from gtforge.pipeline.build import build  # noqa: PLC0415 - timed: the benchmark reports the import time
    from gtforge.pipeline.worker import STAGES  # noqa: PLC0415 - timed: the benchmark reports the import time
    from gtforge.config import load_recipe  # noqa: PLC0415 - timed: the benchmark reports the import time
    t_import = time.perf_counter() - t_import
    if args.soak:
        return soak(args, t_import)

    overrides = ["camera.width=640", "camera.height=480", f"scenes.max_frames={args.frames}", *args.set]
    recipe, resolved = load_recipe(args.recipe, overrides)
    if args.steady:  # enough scenes for 3 x frames in both builds (the first build stops at --frames)
        views = recipe.scenes.views_per_scene
        overrides.insert(0, f"scenes.count={max(recipe.scenes.count, -(-3 * args.frames // views))}")
        recipe, resolved = load_recipe(args.recipe, overrides)
    s, wall, size_mb = _timed_build(build, recipe, resolved, args)

    n = s.frames
    print(f"gtforge benchmark: {args.recipe} at {recipe.camera.width}x{recipe.camera.height}, "
          f"{n} frames in {s.scenes} scenes, "
          f"{args.workers} worker(s), {os.cpu_count()} CPU(s), {platform.machine()}")
    print(f"  throughput     : {n / wall:.2f} frames/s  ({wall:.1f} s wall)")
    print("  per frame (ms) :")
    total = 0.0
    for k in STAGES:
        if k == "hands" and recipe.hands is None:
            continue
        ms = 1000 * s.timings.get(k, 0.0) / max(n, 1)
        total += ms
        print(f"    {k:<18s} {ms:8.1f}")
    print(f"    {'sum of stages':<18s} {total:8.1f}")
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"  peak RSS (MiB) : main process {self_mb:.0f}"
          + (f", largest worker {child_mb:.0f}" if args.workers > 1 else ""))
    print(f"  output size    : {size_mb:.1f} MB ({size_mb / max(n, 1):.2f} MB/frame)")
    print(f"  start-up       : imports {t_import:.2f} s (worker start-up: --soak prints it)")
    if args.steady:
        more_overrides = [f"scenes.max_frames={3 * n}" if o.startswith("scenes.max_frames=") else o for o in overrides]
        more, more_resolved = load_recipe(args.recipe, more_overrides)
        s3, wall3, _ = _timed_build(build, more, more_resolved, args)
        print(f"  steady state   : {(s3.frames - n) / (wall3 - wall):.2f} frames/s  ({s3.frames} frames in "
              f"{wall3:.1f} s against {n} in {wall:.1f} s)")
    return 0


def _timed_build(build, recipe, resolved, args):
    """Build ``recipe`` into a temporary folder; (summary, wall seconds, output MB)."""
    from gtforge.pipeline.job import BuildJob  # noqa: PLC0415 - gtforge loads after main() has timed its imports

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        job = BuildJob(recipe, resolved, args.recipe, Path(args.recipe).resolve().parent, Path(tmp) / "ds")
        s = build(job, workers=args.workers, progress=False)
        wall = time.perf_counter() - t0
        size_mb = sum(p.stat().st_size for p in (Path(tmp) / "ds").rglob("*") if p.is_file()) / 1e6
    return s, wall, size_mb


def _rss_mib() -> float:
    """Resident set size of this process now, MiB (Linux: VmRSS of /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def soak(args, t_import: float) -> int:
    """Render ``args.soak`` frames through one scene worker; print start-up times and the RSS curve."""
    from gtforge.config import load_recipe  # noqa: PLC0415 - gtforge loads after main() has timed its imports
    from gtforge.formats.bop import scene_path  # noqa: PLC0415 - gtforge loads after main() has timed its imports
    from gtforge.pipeline.job import BuildJob  # noqa: PLC0415 - gtforge loads after main() has timed its imports
    from gtforge.pipeline.worker import SceneWorker  # noqa: PLC0415 - gtforge loads after main() has timed its imports

    recipe, resolved = load_recipe(args.recipe, ["camera.width=640", "camera.height=480", *args.set])
    views = recipe.scenes.views_per_scene
    n_scenes = -(-args.soak // views)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        worker = SceneWorker(BuildJob(recipe, resolved, args.recipe, Path(args.recipe).resolve().parent, tmp))
        t_worker = time.perf_counter() - t0
        print(f"gtforge soak: {args.recipe} at {recipe.camera.width}x{recipe.camera.height}, {n_scenes * views} frames "
              f"in {n_scenes} scenes, 1 worker, {os.cpu_count()} CPU(s)")
        print(f"  start-up       : imports {t_import:.2f} s, worker (assets, collision shapes, renderer) "
              f"{t_worker:.2f} s, total {t_import + t_worker:.2f} s")
        curve, frames, t0 = [], 0, time.perf_counter()
        every = max(1, n_scenes // 20)
        try:
            for i in range(n_scenes):
                frames += worker.run_scene(i).frames
                shutil.rmtree(scene_path(tmp, recipe.output.split, i))
                curve.append((frames, _rss_mib()))
                if (i + 1) % every == 0 or i + 1 == n_scenes:
                    print(f"  frames {frames:6d}  RSS {curve[-1][1]:7.1f} MiB  "
                          f"({frames / (time.perf_counter() - t0):.2f} frames/s)", flush=True)
        finally:
            worker.close()
    warm = next(r for f, r in curve if f >= 0.1 * frames)
    print(f"  RSS after warm-up (10 % of frames) {warm:.1f} MiB, at the end {curve[-1][1]:.1f} MiB, "
          f"peak {max(r for _, r in curve):.1f} MiB: growth {100 * (curve[-1][1] - warm) / warm:+.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
