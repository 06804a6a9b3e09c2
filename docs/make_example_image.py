"""Make the README picture from a dataset gtforge wrote: RGB | visible masks over RGB | depth, per frame.

Usage: .venv/bin/python docs/make_example_image.py DATASET OUT.jpg [--frames 3]
Reads only the written files (rgb/, mask_visib/, depth/, scene_gt.json).
"""

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("out")
    ap.add_argument("--frames", type=int, default=3)
    a = ap.parse_args()
    split = Path(a.dataset) / json.loads((Path(a.dataset) / "gtforge.json").read_text())["split"]
    rows = []
    for sd in sorted(split.glob("[0-9]" * 6))[: a.frames]:
        gt = json.loads((sd / "scene_gt.json").read_text())["0"]
        rgb = np.asarray(Image.open(next((sd / "rgb").glob("000000.*"))).convert("RGB")).astype(float)
        over = rgb.copy()
        rng = np.random.default_rng(3)
        for g in range(len(gt)):
            m = np.asarray(Image.open(sd / "mask_visib" / f"000000_{g:06d}.png")) > 0
            over[m] = 0.35 * over[m] + 0.65 * rng.integers(40, 255, 3)
        d = np.asarray(Image.open(sd / "depth" / "000000.png")).astype(float)
        v = d[d > 0]
        dn = np.clip((d - v.min()) / (np.ptp(v) + 1e-9), 0, 1)
        depth = np.stack([255 * (1 - dn), 255 * (1 - dn) * 0.8 + 40 * dn, 60 + 150 * dn], -1) * (d > 0)[..., None]
        rows.append(np.concatenate([rgb, over, depth], 1))
    img = Image.fromarray(np.concatenate(rows, 0).astype(np.uint8))
    img = img.resize((img.width // 2, img.height // 2), Image.LANCZOS)
    img.save(a.out, quality=85)


if __name__ == "__main__":
    main()
