"""Benchmark: does ``gtforge tune`` find a look it did not see? A sim-to-sim recovery test.

Usage::

    .venv/bin/python benchmarks/tune_recovery.py [--budget-minutes 25] [--work DIR] [--seed 0] [--json out.json]
                                                 [--labelled]

The reference is rendered by gtforge itself from the default recipe with hidden values (:data:`HIDDEN`: the
camera at 1.0-1.4 m instead of 0.45-0.75 m, warm lights of 2700-3200 K instead of 3500-7500 K, object colours
at a third to a half of their saturation, strong sensor noise on every image, the objects on a plane instead of
in a bin), :data:`REFERENCE_IMAGES` images at the recipe's 640x480 copied into a plain folder (no labels reach
the tune).
``gtforge tune`` then starts from the default recipe with that folder alone (``--objective auto``: appearance
and the learned distances) within ``--budget-minutes``. The benchmark reads ``tune.json`` and prints, per hidden
parameter, the recipe's value, the tuned one, the hidden one and the share of the way moved (1 = reached; a value
beyond the hidden one counts as far as it stays within the original distance on the other side), and the
two-sample classifier's accuracy (0.5 = indistinguishable) and KID of the compare reports of the untuned and the
tuned recipe against the reference. The issue's bar: every share at least 0.5 and the tuned accuracy at most 0.65.

What is compared for each parameter (``tune.json``'s best point, the range written into the recipe):

* ``camera.distance``, ``lights.temperature_k``, ``appearance.hsv_jitter.saturation``: the range's centre;
* ``effects.noise``: the expected noise level ``probability * 1 / sqrt(photons)`` at the range's geometric
  centre (sensor shot noise at white is 1/sqrt(photons) of full scale: ``render/effects.py``), so a strong noise
  on some images and a weaker one on all count alike;
* ``clutter.support``: 1 when the tuned recipe drops on a plane, else 0.

``--labelled``: the reference also holds :data:`COUNT_FACTOR` times the objects of every target set (a count the
labels show: the images alone hardly tell 10 objects from 20 at 1.2 m), and the tune gets the reference build
itself (a gtforge dataset: its BOP labels too), so ``--objective auto`` adds the content statistics; the benchmark
then also compares ``objects.count`` (the summed centres of the target sets' count ranges) and prints the
Wasserstein-1 distances of the content statistics :data:`CONTENT` (instances per image, box size) in the compare
reports of the untuned and the tuned recipe against the reference, and how much each shrank (the issue's bar: at
least 70 %).

Exit codes: 0 done (whether or not the bar is met: the figures say), 2 a build or the tune failed.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "clutter_bop.yaml"
#: ``--set`` overrides of the hidden reference (the default recipe otherwise).
HIDDEN = [
    "camera.distance={min: 1.0, max: 1.4}",
    "lights.temperature_k={min: 2700, max: 3200}",
    "appearance.hsv_jitter.saturation={min: 0.3, max: 0.5}",
    "effects.noise={probability: 1.0, photons_at_white: {min: 30, max: 80}}",
    "clutter.support=plane",
]
#: ``--labelled``: every target set's count range is this many times the recipe's in the reference.
COUNT_FACTOR = 2
#: The reference's scenes and seed: 40 images, one view of each of 40 scenes (independent samples, as a folder of
#: photos is: a folder of 10 scenes of 4 views each let the two-sample classifier recognise a scene by its other
#: views, and the hidden recipe itself, rendered again with another seed, scored 0.64 against it), with the recipe's
#: own camera (640x480): the hidden values are the only difference (rendered at another size, the
#: resolution-dependent statistics would ask for other values: sensor noise rendered at 640x480 and measured at
#: 320x240 is half as strong).
REFERENCE_SETS = ["seed=123", "scenes.count=40", "scenes.views_per_scene=1"]
REFERENCE_IMAGES = 40
#: The issue's bar.
MIN_SHARE, MAX_C2ST = 0.5, 0.65
#: ``--labelled``: the content statistics whose distances must shrink, and by how much at least (the issue's bar).
CONTENT, MIN_SHRINK = ("instances_per_image", "box_size"), 0.7


def run(cmd: list[str]) -> None:
    print("  $ " + " ".join(cmd[2:] if cmd[:2] == [sys.executable, "-m"] else cmd), flush=True)
    rc = subprocess.run(cmd).returncode
    if rc != 0:
        raise SystemExit(f"tune_recovery: error: {' '.join(cmd)} exited with code {rc}") from None


def count_sets(recipe: dict) -> list[str]:
    """``--set`` items that multiply every target set's count range of a raw recipe by :data:`COUNT_FACTOR`."""
    out = []
    for i, o in enumerate(recipe["objects"]):
        c = o.get("count", 1)
        c = c if isinstance(c, dict) else {"min": c, "max": c}
        if o.get("role", "target") == "target":
            lo, hi = COUNT_FACTOR * int(c["min"]), COUNT_FACTOR * int(c["max"])
            out.append(f"objects[{i}].count={{min: {lo}, max: {hi}}}")
    return out


def hidden_sets(labelled: bool) -> list[str]:
    """The reference's hidden ``--set`` items: :data:`HIDDEN`, with labels also :func:`count_sets`."""
    return HIDDEN + (count_sets(yaml.safe_load(RECIPE.read_text())) if labelled else [])


def build_reference(work: Path, labelled: bool = False) -> Path:
    """The hidden reference's images in ``work/reference/`` (built once into ``work/reference_build/``)."""
    build, ref = work / "reference_build", work / "reference"
    cmd = [sys.executable, "-m", "gtforge", "build", str(RECIPE), "--out", str(build), "--quiet"]
    for s in hidden_sets(labelled) + REFERENCE_SETS:
        cmd += ["--set", s]
    run(cmd)
    files = sorted(build.glob("train_pbr/*/rgb/*"))
    if ref.exists():
        shutil.rmtree(ref)
    ref.mkdir(parents=True)
    for f in files[:REFERENCE_IMAGES]:
        shutil.copyfile(f, ref / f"{f.parent.parent.name}_{f.name}")
    return ref


def _range(values: dict, path: str, default):
    v = values.get(path, default)
    return v if isinstance(v, dict) else {"min": v, "max": v}


def _centre(r: dict, log: bool = False) -> float:
    lo, hi = float(r["min"]), float(r["max"])
    return math.sqrt(lo * hi) if log else (lo + hi) / 2


def measures(recipe: dict, labelled: bool = False) -> dict:
    """The compared value of each hidden parameter in a recipe (raw YAML; module docstring)."""
    noise = (recipe.get("effects") or {}).get("noise") or {}
    photons = _centre(noise.get("photons_at_white") or {"min": 300.0, "max": 3000.0}, log=True)
    counts = {"objects.count": sum(_centre(_range(o, "count", 1)) for o in recipe["objects"]
                                   if o.get("role", "target") == "target")} if labelled else {}
    return counts | {
        "camera.distance": _centre(recipe["camera"]["distance"]),
        "lights.temperature_k": _centre(recipe["lights"]["temperature_k"]),
        "appearance.hsv_jitter.saturation": _centre(recipe["appearance"]["hsv_jitter"]["saturation"]),
        "effects.noise": float(noise.get("probability", 0.0)) / math.sqrt(photons),
        "clutter.support": 1.0 if recipe["clutter"].get("support", "bin") == "plane" else 0.0,
    }


def share_moved(before: float, after: float, hidden: float) -> float:
    """How much of the way from ``before`` to ``hidden`` ``after`` went: 1 - |after - hidden| / |before - hidden|
    (1 = reached, 0 = not moved or as far on the other side, negative = further away)."""
    gap = abs(before - hidden)
    return 1.0 - abs(after - hidden) / gap if gap > 0 else 1.0


def content_distances(compare_json: Path) -> dict:
    """{statistic: Wasserstein-1 distance in its unit} of :data:`CONTENT` in a compare report (None where the
    report has no such distance)."""
    rows = {d["name"]: d for d in json.loads(compare_json.read_text()).get("distances", [])}
    return {k: (float(rows[k]["value"]) if k in rows else None) for k in CONTENT}


def shrink(before: float | None, after: float | None) -> float | None:
    """1 - after / before: the share of a distance that went (1 = gone, 0 = unchanged, negative = grew)."""
    if before is None or after is None or before <= 0:
        return None
    return 1.0 - after / before


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4g}"


def hidden_recipe(labelled: bool = False) -> dict:
    """The default recipe with :func:`hidden_sets` applied (as ``gtforge build --set`` applies them)."""
    from gtforge.config.loading import apply_overrides  # noqa: PLC0415 - gtforge loads after the arguments parse

    return apply_overrides(yaml.safe_load(RECIPE.read_text()), hidden_sets(labelled))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-minutes", type=float, default=25.0, help="gtforge tune --budget-minutes (default 25)")
    ap.add_argument("--work", default=None, help="folder for the reference and the tune (kept; default: temporary)")
    ap.add_argument("--seed", type=int, default=0, help="gtforge tune --seed (default 0)")
    ap.add_argument("--json", default=None, metavar="PATH", help="write the result as JSON")
    ap.add_argument("--labelled", action="store_true",
                    help="give the tune the labelled reference build (content statistics too), not its images alone")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gtforge_recovery_") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"gtforge tune recovery: hidden {'; '.join(hidden_sets(args.labelled))}")
        ref = build_reference(work, args.labelled)
        if args.labelled:
            ref = work / "reference_build"
        out = work / "TUNED.yaml"
        t0 = time.perf_counter()
        run([sys.executable, "-m", "gtforge", "tune", str(RECIPE), "--reference", str(ref), "--out", str(out),
             "--budget-minutes", str(args.budget_minutes), "--seed", str(args.seed), "--quiet"])
        seconds = time.perf_counter() - t0
        report = json.loads((work / "TUNED.tune" / "tune.json").read_text())
        before = measures(yaml.safe_load(RECIPE.read_text()), args.labelled)
        after = measures(yaml.safe_load(out.read_text()), args.labelled)
        hidden = measures(hidden_recipe(args.labelled), args.labelled)
        rows = {k: {"before": before[k], "after": after[k], "hidden": hidden[k],
                    "share": share_moved(before[k], after[k], hidden[k])} for k in hidden}
        reports = report.get("reports") or {}
        c2st = {side: (reports.get(side) or {}).get("c2st_accuracy") for side in ("untuned", "tuned")}
        kid = {side: (reports.get(side) or {}).get("kid") for side in ("untuned", "tuned")}
        print(f"  tune     : {len(report.get('trials', []))} trials in {seconds / 60:.1f} min "
              f"(budget {args.budget_minutes:g}), objective {report['objective']['name']}")
        print(f"  {'parameter':<34s} {'recipe':>9s} {'tuned':>9s} {'hidden':>9s} {'share moved':>11s}")
        for k, r in rows.items():
            print(f"  {k:<34s} {r['before']:9.4g} {r['after']:9.4g} {r['hidden']:9.4g} {r['share']:11.2f}")
        print(f"  classifier accuracy: {c2st['untuned']} untuned -> {c2st['tuned']} tuned; "
              f"KID {kid['untuned']} -> {kid['tuned']}")
        met = all(r["share"] >= MIN_SHARE for r in rows.values()) and (c2st["tuned"] or 1.0) <= MAX_C2ST
        print(f"  bar (every share >= {MIN_SHARE}, tuned accuracy <= {MAX_C2ST}): {'met' if met else 'NOT met'}")
        result = {"hidden": hidden_sets(args.labelled), "reference_sets": REFERENCE_SETS,
                  "budget_minutes": args.budget_minutes,
                  "labelled": bool(args.labelled), "seconds": seconds, "trials": len(report.get("trials", [])),
                  "parameters": rows, "c2st_accuracy": c2st, "kid": kid, "bar_met": met,
                  "changes": (report.get("best") or {}).get("changes", [])}
        if args.labelled:
            dist = {side: content_distances(work / "TUNED.tune" / "compare" / side / "compare.json")
                    for side in ("untuned", "tuned")}
            content = {k: {"untuned": dist["untuned"][k], "tuned": dist["tuned"][k],
                           "shrink": shrink(dist["untuned"][k], dist["tuned"][k])} for k in CONTENT}
            for k, c in content.items():
                print(f"  content distance {k:<20s} {_fmt(c['untuned'])} untuned -> {_fmt(c['tuned'])} tuned, "
                      f"shrank {_fmt(c['shrink'])}")
            ok = all(c["shrink"] is not None and c["shrink"] >= MIN_SHRINK for c in content.values())
            print(f"  bar with labels (every content distance shrinks >= {MIN_SHRINK}): {'met' if ok else 'NOT met'}")
            result.update(content=content, content_bar_met=ok)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
            print(f"  wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
