"""Golden output hashes: every file that each bundled recipe writes, at small sizes.

The refactor rule "same recipe, same bytes" is checked against hashes recorded from an earlier
version of the code (``golden_hashes.json`` beside this file). When a change is *meant* to alter
what a recipe writes, regenerate them and commit the new file with that change::

    .venv/bin/python tests/e2e/golden.py --record

Text files (JSON, YAML, KITTI text) are hashed after replacing the two machine-dependent
strings they may contain, the repository root and the output folder, by ``<ROOT>`` and
``<OUT>``; every other file is hashed as written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HASHES = Path(__file__).with_name("golden_hashes.json")
SMALL = ["camera.width=320", "camera.height=240", "camera.intrinsics={fx: 286.2, fy: 286.8, cx: 161.6, cy: 120.5}"]

#: name -> (recipe, overrides): every bundled recipe, small enough for CI
CASES = {
    "clutter_bop": ("recipes/clutter_bop.yaml", SMALL + ["scenes.count=2", "scenes.views_per_scene=2"]),
    "bop_pbr_like": ("recipes/bop_pbr_like.yaml", SMALL + ["scenes.count=2", "scenes.views_per_scene=2"]),
    "hands_objects": ("recipes/hands_objects.yaml", SMALL[:2] + ["scenes.count=2", "scenes.views_per_scene=2"]),
    "ar_cars": ("recipes/ar_cars.yaml", ["scenes.count=2"]),
    "cut_paste": ("recipes/cut_paste.yaml", ["scenes.count=3"]),
}
TEXT_SUFFIXES = {".json", ".yaml", ".txt"}


def tree_hashes(out: Path) -> dict[str, str]:
    """{path relative to ``out``: sha256} of every file under ``out`` (text files canonicalised)."""
    hashes = {}
    for p in sorted(out.rglob("*")):
        if not p.is_file():
            continue
        data = p.read_bytes()
        if p.suffix in TEXT_SUFFIXES:
            data = data.replace(str(out).encode(), b"<OUT>").replace(str(ROOT).encode(), b"<ROOT>")
        hashes[p.relative_to(out).as_posix()] = hashlib.sha256(data).hexdigest()
    return hashes


def build_case(name: str, out: Path) -> dict[str, str]:
    """Build one case with the CLI into ``out`` (must not exist) and hash what it wrote."""
    from gtforge.cli import main

    recipe, overrides = CASES[name]
    argv = ["build", str(ROOT / recipe), "--out", str(out), "--quiet"]
    for s in overrides:
        argv += ["--set", s]
    rc = main(argv)
    if rc != 0:
        raise RuntimeError(f"{name}: gtforge build exited {rc}")
    return tree_hashes(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", action="store_true", help=f"write {HASHES.name} (else compare with it)")
    ap.add_argument("cases", nargs="*", default=list(CASES))
    args = ap.parse_args(argv)
    recorded = json.loads(HASHES.read_text()) if HASHES.is_file() else {}
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases:
            got = build_case(name, Path(tmp) / name)
            if args.record:
                recorded[name] = got
                print(f"{name}: {len(got)} files recorded")
            else:
                want = recorded.get(name, {})
                diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
                bad += bool(diff)
                print(f"{name}: {len(got)} files, {len(diff)} differ" + "".join(f"\n  {d}" for d in diff[:20]))
    if args.record:
        HASHES.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
