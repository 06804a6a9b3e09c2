"""Benchmark: what does a dataset teach? Train a small foreground segmenter on it, test it on a held-out look.

Usage::

    .venv/bin/python benchmarks/transfer.py --train DATASET --test HELDOUT_DATASET [--epochs N] [--json out.json]
    .venv/bin/python benchmarks/transfer.py --recipe recipes/clutter_bop.yaml [--set key=value ...]
                                            [--heldout-set key=value ...] [--work DIR] [--epochs N]

A small class-agnostic U-Net (torch, on the CPU) learns "is this pixel on a labelled instance?" from the
training dataset's images; it is scored on 20 % of the training dataset's scenes it never saw (in-domain)
and on a second dataset drawn with a look the training side never showed (held-out). The gap between the two
IoUs says how much of what the data teaches survives a change of appearance. The protocol is fixed (module
constants, printed in the header of the output) so that two datasets are compared on equal terms:

* Foreground of an image = union of the ``mask_visib`` of every labelled instance: every object of
  ``scene_gt`` (``mask_visib/{im_id:06d}_{gt_id:06d}.png``) and every hand (``mask_visib_hand/``), read with
  gtforge's dataset reader (``formats.dataset``, so COCO-only builds work too). Distractors are not
  labelled, so they are background.
* Images are resized to 160 x 120 (RGB: PIL bilinear with antialiasing; foreground: the fraction of each
  output pixel covered, from PIL's box filter, >= 0.5). Scores are computed at that size.
* In-domain test = 20 % of the training dataset's scenes (at least one; whole scenes, chosen by a
  ``numpy.random.Generator`` seeded with the protocol seed, so the same dataset always splits the same way).
* Network: U-Net (Ronneberger et al., 2015, "U-Net: Convolutional Networks for Biomedical Image
  Segmentation") with 3 poolings, 16-32-64 channels and a 64-channel bottleneck, two 3x3 conv + BatchNorm +
  ReLU per level, bilinear upsampling; ~0.2 M parameters.
* Adam, lr 1e-3, batch 16, loss = binary cross-entropy + soft Dice (Milletari et al., 2016, "V-Net", eq. 1,
  over the batch, +1 smoothing), horizontal flips (probability 0.5) as the only augmentation, threshold 0.5 on
  the sigmoid. Weights from ``torch.manual_seed(seed)``, data order and flips from
  ``numpy.random.default_rng(seed)``: figures repeat on the same machine and thread count. Network, loss,
  training loop, prediction and IoU are ``gtforge.compare.segmenter``'s (``gtforge tune``'s task objective
  trains the same model).
* IoU = total intersection / total union of foreground pixels over a test set (dataset-level), and the mean
  of the per-image IoUs; an empty union counts as 1 (the prediction agrees with an empty truth).

Held-out guarantee: the held-out look must not share image files with the training side. Each scene folder
of a dataset built by gtforge holds ``scene_appearance.json`` (``formats.bop.scene_appearance``: the
textures and backdrop photos it used); every string found under a key named ``key`` (anywhere in it) is an
image key, and every string under ``family`` a texture family. Keys ``procedural://...`` are generated
images, not files; any other key names an image file, recorded by its file name without the folder. The run
stops with exit code 2 when one file name is used on both sides (or, for keys that are absolute paths of
readable files, one file content), so two different files that happen to share a name count as shared:
rename one. Objects drawn with their asset's own look (mode ``asset``) record no key; when both sides do so
a warning says their mesh textures may be shared. A training dataset without these files (built by an
older gtforge) is accepted with a warning; a held-out dataset without them is refused, since nothing would
then be checked.

With ``--recipe`` both datasets are built with ``gtforge build`` (subprocess): the training side with the
``--set`` overrides, the held-out side with the same overrides, the seed of the training recipe plus
:data:`HELDOUT_SEED_OFFSET` (new geometry too), as many scenes as the in-domain test and the look overrides
(``--heldout-set``, default :data:`HELDOUT_LOOK`).

**Tuned arm** (``--tune-minutes M``, with ``--recipe``): what ``gtforge tune`` adds when the user has unlabelled
images of the target look. A third build of the held-out look (seed plus :data:`REFERENCE_SEED_OFFSET`: other
scenes, other draws than the test images) gives ``--reference-images`` images (default 100), copied into a plain
folder (``reference/``, images only: no labels reach the tune); ``gtforge tune`` tunes the training recipe
(as built, ``train/recipe.yaml``) towards that folder within ``M`` minutes (``--objective auto``: appearance and
the learned distances), the tuned recipe is built with the training side's scenes (``train_tuned/``; the held-out
file check applies to it too), and the same network is trained on it and scored on the same in-domain scenes'
held-out test. ``--tune-fixed PATH`` (repeatable) keeps recipe fields or whole sections out of the tune (written
into the recipe it starts from as ``tune.fixed``): ``--tune-fixed camera --tune-fixed clutter --tune-fixed objects``
tunes the look alone, as a user does who knows that only the look of their images differs. The report prints both
arms; the JSON holds the tuned arm under ``tuned``.

Exit codes: 0 done; 2 bad input (not a complete dataset, too few scenes, shared image files, failed build).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from gtforge.compare.segmenter import (  # the protocol's network, loss, training loop and IoU
    BATCH_SIZE,
    CHANNELS,
    LEARNING_RATE,
    THRESHOLD,
    iou_scores,
    predict_masks,
    train_segmenter,
)

# ---------------------------------------------------------------------------------------------- protocol
#: (width, height) every image and mask is resized to; scores are computed at this size.
IMAGE_SIZE = (160, 120)
#: Fraction of the training dataset's scenes held back as the in-domain test (at least one scene).
INDOMAIN_FRACTION = 0.2
#: Default epoch count: ~0.04 s per training image and epoch on 2 CPU cores at 160x120, so about 2.5 minutes
#: for the ~100 training images of a 24-scene build (the training loss still falls steeply at 10 epochs).
EPOCHS = 40
SEED = 0
#: Torch CPU threads by default (the reference machine has 2 cores).
THREADS = 2

#: Image files no bundled recipe uses: matplotlib's sample photos (a dependency of gtforge) and, where the
#: test extras are installed, Ultralytics' two sample photos.
HELDOUT_PHOTOS = "[pkg://matplotlib/mpl-data/sample_data/grace_hopper.jpg, " \
                 "pkg://matplotlib/mpl-data/sample_data/Minduka_Present_Blue_Pack.png]"
#: ``--set`` overrides (gtforge build syntax) that turn a clutter recipe into its held-out look, used by
#: ``--recipe`` when no ``--heldout-set`` is given: texture families, materials, lights and backdrops
#: outside every bundled recipe's training look: every textured surface (objects half of the time, floor,
#: walls) and the backdrop take the held-out photos (no generated, scikit-image or pybullet_data texture),
#: materials are metallic and glossy, lights are spot lights only at 1900-2900 K (the bundled recipes
#: draw 3000-8000 K) with little ambient light.
HELDOUT_LOOK = [
    "appearance.objects={texture: 1, color: 1}",
    f"appearance.textures={HELDOUT_PHOTOS}",
    "appearance.floor={texture: 1}",
    f"appearance.floor_textures={HELDOUT_PHOTOS}",
    "appearance.walls={texture: 1}",
    "appearance.backdrop={photo: 1}",
    f"appearance.backdrop_photos={HELDOUT_PHOTOS}",
    "appearance.metallic={min: 0.5, max: 0.9}",
    "appearance.roughness={min: 0.1, max: 0.35}",
    "lights.kinds={spot: 1}",
    "lights.temperature_k={min: 1900, max: 2900}",
    "lights.ambient={min: 0.05, max: 0.12}",
]
#: The held-out build uses the training recipe's seed plus this, so its scenes (geometry) are new too.
HELDOUT_SEED_OFFSET = 1000

#: The reference build of the tuned arm uses the training recipe's seed plus this (other draws than the test).
REFERENCE_SEED_OFFSET = 2000
#: Images in the tuned arm's reference folder by default (what a user might collect of their target domain).
REFERENCE_IMAGES = 100

#: Per-scene file naming the textures and backdrop photos a scene used (written by the build).
APPEARANCE_FILE = "scene_appearance.json"
PROCEDURAL_PREFIX = "procedural://"


class BenchmarkError(Exception):
    """Input the benchmark cannot use (the message says why); the command line exits with code 2."""


# ---------------------------------------------------------------------------------------------- data
@dataclass
class Split:
    """Images and foreground masks of one side of the protocol, resized to :data:`IMAGE_SIZE`.

    ``images`` (n, H, W, 3) uint8 RGB; ``masks`` (n, H, W) bool foreground; ``names`` ``"{scene_id}/{im_id}"``
    per image; ``scenes`` the scene ids it was read from.
    """

    images: np.ndarray
    masks: np.ndarray
    names: list[str] = field(default_factory=list)
    scenes: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


def foreground_mask(frame) -> np.ndarray:
    """Union of the visible masks of every labelled instance of a frame (objects and hands).

    Parameters
    ----------
    frame : gtforge.formats.dataset.Frame
        A frame read by :func:`gtforge.formats.dataset.open_dataset`.

    Returns
    -------
    (H, W) bool
        At the frame's own size (``frame.height``, ``frame.width``).

    Raises
    ------
    BenchmarkError
        If a mask file is missing (a dataset built with ``output.layers.mask_visib: false`` and no COCO).
    """
    shape = (frame.height, frame.width)
    fg = np.zeros(shape, bool)
    for inst in frame.instances:
        try:
            fg |= inst.mask_visib(shape)
        except FileNotFoundError as e:
            raise BenchmarkError(f"{e.filename}: missing visible mask (build with output.layers.mask_visib: true "
                                 "or the coco format)") from None
    return fg


def resize_pair(rgb: np.ndarray, mask: np.ndarray, size=IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Resize an image and its foreground to ``size`` = (width, height).

    RGB (h, w, 3) uint8 -> (H, W, 3) uint8 with PIL's bilinear filter (antialiased when shrinking); mask
    (h, w) bool -> (H, W) bool: PIL's box filter gives the covered fraction of each output pixel, kept where
    >= 0.5.
    """
    im = Image.fromarray(np.ascontiguousarray(rgb)).resize(size, Image.Resampling.BILINEAR)
    m = Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BOX)
    return np.asarray(im), np.asarray(m) >= 128


def split_scenes(scene_ids: list[int], fraction: float = INDOMAIN_FRACTION,
                 seed: int = SEED) -> tuple[list[int], list[int]]:
    """Hold back whole scenes as the in-domain test.

    Parameters
    ----------
    scene_ids : list of int
        Scene ids of the training dataset (any order; they are sorted first).
    fraction : float
        Share of scenes held back: round(fraction * n), at least 1.
    seed : int
        Seed of the ``numpy.random.Generator`` that picks them (a permutation of the sorted ids).

    Returns
    -------
    train, test : list of int, sorted; disjoint, together all the ids.

    Raises
    ------
    BenchmarkError
        If there are fewer than 2 scenes.
    """
    ids = sorted(scene_ids)
    if len(ids) < 2:
        raise BenchmarkError(f"the training dataset needs at least 2 scenes to hold one back; it has {len(ids)}")
    n_test = min(len(ids) - 1, max(1, round(fraction * len(ids))))
    order = np.random.default_rng(seed).permutation(len(ids))
    test = sorted(ids[i] for i in order[:n_test])
    return [i for i in ids if i not in test], test


def open_checked(path):
    """:func:`gtforge.formats.dataset.open_dataset`, its error turned into :class:`BenchmarkError`."""
    from gtforge.formats.dataset import DatasetError, open_dataset  # noqa: PLC0415 - gtforge loads only where a dataset is read

    try:
        return open_dataset(path)
    except DatasetError as e:
        raise BenchmarkError(str(e)) from None


def load_split(dataset, scene_ids: list[int] | None = None, size=IMAGE_SIZE) -> Split:
    """Read the images and foreground masks of some scenes of a dataset, resized.

    Parameters
    ----------
    dataset : gtforge.formats.dataset.Dataset or path
        A complete gtforge dataset (a path is opened with ``open_dataset``).
    scene_ids : list of int, optional
        Scenes to read (default all), in scene order; every image of each.
    size : (int, int)
        (width, height) of the output.

    Returns
    -------
    Split
    """
    ds = open_checked(dataset) if isinstance(dataset, (str, os.PathLike)) else dataset
    keep = None if scene_ids is None else set(scene_ids)
    which = [(sd, im) for sd, im in ds.frame_ids() if keep is None or int(sd.name) in keep]
    w, h = size
    images = np.zeros((len(which), h, w, 3), np.uint8)
    masks = np.zeros((len(which), h, w), bool)
    names, scenes = [], []
    for k, fr in enumerate(ds.frames(which)):
        with Image.open(fr.rgb_path) as im:
            rgb = np.asarray(im.convert("RGB"))
        images[k], masks[k] = resize_pair(rgb, foreground_mask(fr), size)
        names.append(f"{fr.scene_id}/{fr.im_id}")
        if not scenes or scenes[-1] != fr.scene_id:
            scenes.append(fr.scene_id)
    return Split(images, masks, names, scenes)


# ---------------------------------------------------------------------------------------------- held-out check
@dataclass
class Appearance:
    """Image keys and texture families a dataset used, from its ``scene_appearance.json`` files.

    ``files``: non-procedural keys (image files); ``procedural``: ``procedural://`` keys; ``families``:
    family name -> number of times recorded; ``asset_looks``: surfaces recorded with mode ``asset`` (objects
    keeping their mesh's own look); ``scenes_with`` / ``scenes_without``: scene folders with and without the file.
    """

    files: set[str] = field(default_factory=set)
    procedural: set[str] = field(default_factory=set)
    families: dict[str, int] = field(default_factory=dict)
    asset_looks: int = 0
    scenes_with: int = 0
    scenes_without: int = 0


def collect_keys(obj) -> tuple[list[str], list[str], int]:
    """Walk a JSON value: strings under keys named ``key`` and ``family``, and ``mode: asset`` records.

    Returns (keys, families, number of dicts with ``"mode": "asset"``); keys and families in the order met
    (depth first).
    """
    keys, families, assets = [], [], 0
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            assets += o.get("mode") == "asset"
            for k, v in o.items():
                if isinstance(v, str) and k == "key":
                    keys.append(v)
                elif isinstance(v, str) and k == "family":
                    families.append(v)
                else:
                    stack.append(v)
        elif isinstance(o, list):
            stack.extend(reversed(o))
    return keys, families, assets


def read_appearance(scene_dirs) -> Appearance:
    """Collect the :class:`Appearance` of a dataset from the ``scene_appearance.json`` of its scene folders."""
    out = Appearance()
    for sd in scene_dirs:
        p = Path(sd) / APPEARANCE_FILE
        if not p.is_file():
            out.scenes_without += 1
            continue
        out.scenes_with += 1
        keys, families, assets = collect_keys(json.loads(p.read_text()))
        for k in keys:
            (out.procedural if k.startswith(PROCEDURAL_PREFIX) else out.files).add(k)
        for f in families:
            out.families[f] = out.families.get(f, 0) + 1
        out.asset_looks += assets
    return out


def _file_identities(key: str) -> set[str]:
    """Ways an image file key is recognised on the other side: its file name (``scene_appearance.json``
    records no folder) and, for an absolute path of a readable file, a SHA-256 of its content."""
    ids = {"name:" + os.path.basename(key.replace("\\", "/"))}
    if os.path.isabs(key):
        try:
            ids.add("sha256:" + hashlib.sha256(Path(key).read_bytes()).hexdigest())
        except OSError:
            pass
    return ids


def shared_files(train: Appearance, test: Appearance) -> list[tuple[str, str]]:
    """(training key, held-out key) pairs that name the same image file (same file name, or same bytes)."""
    by_id: dict[str, str] = {}
    for k in sorted(train.files):
        for i in _file_identities(k):
            by_id.setdefault(i, k)
    pairs = set()
    for k in sorted(test.files):
        for i in _file_identities(k):
            if i in by_id:
                pairs.add((by_id[i], k))
    return sorted(pairs)


def check_heldout(train_scene_dirs, test_scene_dirs) -> tuple[Appearance, Appearance, list[str]]:
    """Check that the held-out side uses no image file of the training side.

    Parameters
    ----------
    train_scene_dirs, test_scene_dirs : iterables of Path
        Scene folders of the training and held-out datasets.

    Returns
    -------
    train, test : Appearance
    warnings : list of str
        When training scenes have no ``scene_appearance.json`` (an older build: the check then covers the
        held-out side's files against nothing for them), and when both sides draw objects with their asset's
        own look (mesh textures are not recorded, so they may be shared).

    Raises
    ------
    BenchmarkError
        If a held-out scene has no ``scene_appearance.json``, or an image file (non-procedural key) is used on
        both sides (the message lists them).
    """
    train, test = read_appearance(train_scene_dirs), read_appearance(test_scene_dirs)
    if test.scenes_without:
        raise BenchmarkError(f"held-out dataset: {test.scenes_without} scene(s) without {APPEARANCE_FILE} "
                             "(built by an older gtforge?): cannot prove it shares no image file with the "
                             "training side")
    warnings = []
    if train.scenes_without:
        warnings.append(f"training dataset: {train.scenes_without} of {train.scenes_with + train.scenes_without} "
                        f"scene(s) have no {APPEARANCE_FILE} (older gtforge): the held-out side's "
                        f"{len(test.files)} image file(s) are checked against nothing for them")
    if train.asset_looks and test.asset_looks:
        warnings.append(f"both sides draw surfaces with their asset's own look (training {train.asset_looks}, "
                        f"held-out {test.asset_looks}): mesh textures are not recorded and may be shared")
    pairs = shared_files(train, test)
    if pairs:
        listed = "; ".join(a if a == b else f"{a} = {b}" for a, b in pairs[:10])
        raise BenchmarkError(f"the held-out look shares {len(pairs)} image file(s) with the training side: {listed}"
                             + (" ..." if len(pairs) > 10 else "") + " (a file name used on both sides counts)")
    return train, test, warnings


# ---------------------------------------------------------------------------------------------- network
def train_and_evaluate(train: Split, tests: dict[str, Split], epochs: int = EPOCHS, seed: int = SEED,
                       log=print) -> dict:
    """Train the protocol's U-Net on ``train`` and score it on each test split.

    The network, loss, training loop and prediction are :mod:`gtforge.compare.segmenter`'s
    (:func:`~gtforge.compare.segmenter.train_segmenter`, :func:`~gtforge.compare.segmenter.predict_masks`), the
    same ones ``gtforge tune``'s task objective uses.

    Parameters
    ----------
    train : Split
        Training images (at least 1).
    tests : dict of name -> Split
        Test sets (e.g. ``{"in-domain": ..., "held-out": ...}``).
    epochs : int
        Passes over the training images (>= 1).
    seed : int
        Seeds torch (weights) and the numpy Generator of the data order and flips.
    log : callable
        Called with one line per epoch.

    Returns
    -------
    dict
        ``params`` (int), ``epoch_seconds`` (list of float), ``train_seconds``, ``losses`` (mean loss per epoch),
        and per test name ``{"iou": dataset-level IoU, "mean_image_iou": ..., "frames": n}``.
    """
    if len(train) == 0 or epochs < 1:
        raise BenchmarkError(f"nothing to train: {len(train)} image(s), {epochs} epoch(s)")
    out = {"epoch_seconds": [], "losses": []}

    def on_epoch(ep: int, loss: float, seconds: float) -> None:
        out["epoch_seconds"].append(seconds)
        out["losses"].append(loss)
        log(f"  epoch {ep + 1:3d}/{epochs}  loss {loss:.4f}  {seconds:6.1f} s")

    t_all = time.perf_counter()
    model = train_segmenter(train.images, train.masks, epochs=epochs, seed=seed, on_epoch=on_epoch)
    out["train_seconds"] = time.perf_counter() - t_all
    out["params"] = sum(p.numel() for p in model.parameters())
    for name, split in tests.items():
        iou, mean_iou = (iou_scores(predict_masks(model, split.images), split.masks) if len(split)
                         else (float("nan"),) * 2)
        out[name] = {"iou": iou, "mean_image_iou": mean_iou, "frames": len(split)}
    return out


# ---------------------------------------------------------------------------------------------- builds
def build_dataset(recipe, out: Path, overrides: list[str], workers: int = 1) -> None:
    """Run ``gtforge build RECIPE --out OUT --set ...`` in a subprocess (completes an interrupted build).

    Raises
    ------
    BenchmarkError
        If the build exits with a non-zero code.
    """
    cmd = [sys.executable, "-m", "gtforge.cli", "build", str(recipe), "--out", str(out), "--quiet",
           "--workers", str(workers)]
    for s in overrides:
        cmd += ["--set", s]
    print("  $ " + " ".join(cmd[2:]), flush=True)
    rc = subprocess.run(cmd).returncode
    if rc != 0:
        raise BenchmarkError(f"gtforge build exited with code {rc}: {' '.join(cmd[2:])}")


def build_pair(args, work: Path) -> tuple[Path, Path]:
    """Build the training dataset and its held-out look from ``args.recipe`` under ``work``."""
    train_dir, test_dir = work / "train", work / "heldout"
    build_dataset(args.recipe, train_dir, args.set, args.workers)
    resolved = yaml.safe_load((train_dir / "recipe.yaml").read_text())
    n_train_scenes = len(open_checked(train_dir).scene_dirs())
    n_test = args.heldout_scenes or max(1, round(INDOMAIN_FRACTION * n_train_scenes))
    look = HELDOUT_LOOK if args.heldout_set is None else args.heldout_set
    build_dataset(args.recipe, test_dir, [*args.set, f"seed={int(resolved['seed']) + HELDOUT_SEED_OFFSET}",
                                          f"scenes.count={n_test}", *look], args.workers)
    return train_dir, test_dir


def build_reference(args, work: Path, views: int) -> Path:
    """The tuned arm's reference: ``args.reference_images`` unlabelled images of the held-out look, other draws than
    the test (module docstring), copied into ``work/reference/`` (``{scene:06d}_{im:06d}.<ext>``)."""
    import math  # noqa: PLC0415 - the tuned arm only
    import shutil  # noqa: PLC0415 - the tuned arm only

    ref_build, ref_dir = work / "reference_build", work / "reference"
    resolved = yaml.safe_load((work / "train" / "recipe.yaml").read_text())
    n = int(args.reference_images)
    look = HELDOUT_LOOK if args.heldout_set is None else args.heldout_set
    build_dataset(args.recipe, ref_build, [*args.set, f"seed={int(resolved['seed']) + REFERENCE_SEED_OFFSET}",
                                           f"scenes.count={math.ceil(n / max(1, views))}", *look], args.workers)
    files = []
    for sd in open_checked(ref_build).scene_dirs():
        files += sorted(p for p in (sd / "rgb").iterdir() if p.is_file())
    if len(files) < n:
        raise BenchmarkError(f"the reference build {ref_build} has {len(files)} images, fewer than {n}")
    if ref_dir.exists():
        shutil.rmtree(ref_dir)
    ref_dir.mkdir(parents=True)
    for f in files[:n]:
        shutil.copyfile(f, ref_dir / f"{int(f.parent.parent.name):06d}_{f.name}")
    return ref_dir


def tune_arm(args, work: Path) -> tuple[Path, dict]:
    """The tuned arm (module docstring): reference folder, ``gtforge tune``, the tuned build. Returns the tuned
    training dataset and what ``gtforge tune`` reported (``tune.json``'s baseline, best, reports and timing)."""
    train_recipe = work / "train" / "recipe.yaml"
    views = int(yaml.safe_load(train_recipe.read_text())["scenes"]["views_per_scene"])
    ref_dir = build_reference(args, work, views)
    tuned_recipe = work / "TUNED.yaml"
    if args.tune_fixed:
        # the recipe the tune starts from: the training recipe with tune.fixed (a resolved recipe names its files
        # by pkg://, bundled:// or absolute paths, so a copy beside it reads the same files)
        raw = yaml.safe_load(train_recipe.read_text())
        raw["tune"] = {**(raw.get("tune") or {}), "fixed": list(args.tune_fixed)}
        train_recipe = work / "train_recipe_tune.yaml"
        train_recipe.write_text(yaml.safe_dump(raw, sort_keys=False))
    cmd = [sys.executable, "-m", "gtforge.cli", "tune", str(train_recipe), "--reference", str(ref_dir), "--out",
           str(tuned_recipe), "--budget-minutes", str(args.tune_minutes), "--seed", str(args.seed), "--quiet"]
    print("  $ " + " ".join(cmd[2:]), flush=True)
    t0 = time.perf_counter()
    rc = subprocess.run(cmd).returncode
    tune_s = time.perf_counter() - t0
    if rc != 0:
        raise BenchmarkError(f"gtforge tune exited with code {rc}: {' '.join(cmd[2:])}")
    report = json.loads((work / "TUNED.tune" / "tune.json").read_text())
    tuned_dir = work / "train_tuned"
    build_dataset(tuned_recipe, tuned_dir, [], args.workers)
    summary = {"recipe": str(tuned_recipe), "reference": str(ref_dir), "reference_images": int(args.reference_images),
               "budget_minutes": float(args.tune_minutes), "tune_seconds": tune_s, "fixed": list(args.tune_fixed),
               "trials": len(report.get("trials", [])), "objective": report.get("objective"),
               "changes": (report.get("best") or {}).get("changes", []), "reports": report.get("reports")}
    return tuned_dir, summary


# ---------------------------------------------------------------------------------------------- command line
def _families(a: Appearance) -> str:
    if not a.scenes_with:
        return "unknown (no scene_appearance.json)"
    fam = ", ".join(f"{k} x{v}" for k, v in sorted(a.families.items())) or "none recorded"
    return f"{fam}; {len(a.files)} image file(s), {len(a.procedural)} procedural"


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_argument_group("datasets (either --train and --test, or --recipe)")
    src.add_argument("--train", help="training dataset (built by gtforge)")
    src.add_argument("--test", help="held-out-look dataset (built by gtforge)")
    src.add_argument("--recipe", help="build both from this recipe (gtforge build in a subprocess)")
    src.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                     help="override for both builds (gtforge build --set syntax; repeatable)")
    src.add_argument("--heldout-set", action="append", default=None, metavar="KEY.PATH=VALUE",
                     help="overrides that define the held-out look (repeatable; default: HELDOUT_LOOK = "
                          + " ".join(HELDOUT_LOOK) + ")")
    src.add_argument("--heldout-scenes", type=int, default=None,
                     help="scenes of the held-out build (default: as many as the in-domain test)")
    src.add_argument("--work", default=None,
                     help="folder for the builds (kept; default: a temporary folder, deleted afterwards)")
    src.add_argument("--workers", type=int, default=1, help="gtforge build --workers")
    src.add_argument("--tune-minutes", type=float, default=None, metavar="M",
                     help="with --recipe: add the tuned arm, gtforge tune towards unlabelled images of the held-out "
                          "look within M minutes (module docstring)")
    src.add_argument("--tune-fixed", action="append", default=[], metavar="PATH",
                     help="a recipe field (or section) the tune keeps as the training recipe has it (tune.fixed; "
                          "repeatable), e.g. --tune-fixed camera --tune-fixed clutter --tune-fixed objects for a "
                          "look-only tune (default: the whole default space)")
    src.add_argument("--reference-images", type=int, default=REFERENCE_IMAGES, metavar="N",
                     help=f"images in the tuned arm's reference folder (default {REFERENCE_IMAGES})")
    ap.add_argument("--epochs", type=int, default=EPOCHS, help=f"training epochs (default {EPOCHS})")
    ap.add_argument("--threads", type=int, default=THREADS, help=f"torch CPU threads (default {THREADS})")
    ap.add_argument("--seed", type=int, default=SEED,
                    help=f"seed of weights, data order, flips, scene split (default {SEED})")
    ap.add_argument("--json", default=None, metavar="PATH", help="write the result as JSON")
    args = ap.parse_args(argv)
    if (args.recipe and (args.train or args.test)) or (not args.recipe and not (args.train and args.test)):
        ap.error("give either --train and --test, or --recipe")
    if not args.recipe and (args.set or args.heldout_set or args.work or args.tune_minutes is not None):
        ap.error("--set, --heldout-set, --work and --tune-minutes go with --recipe")
    if args.tune_fixed and args.tune_minutes is None:
        ap.error("--tune-fixed goes with --tune-minutes")
    if args.tune_minutes is not None and (args.tune_minutes <= 0 or args.reference_images < 1):
        ap.error("--tune-minutes and --reference-images must be > 0")
    if args.epochs < 1 or args.threads < 1:
        ap.error("--epochs and --threads must be >= 1")
    return args


def _arm(train_ds, test_ds, args, label: str) -> dict:
    """Train on ``train_ds`` (less its in-domain scenes), score in-domain and on ``test_ds``; prints the arm."""
    a_train, a_test, warnings = check_heldout(train_ds.scene_dirs(), test_ds.scene_dirs())
    train_ids, indomain_ids = split_scenes([int(p.name) for p in train_ds.scene_dirs()], seed=args.seed)
    print(f"  {label:<9s}: {train_ds.root}  looks: {_families(a_train)}")
    for wmsg in warnings:
        print(f"  warning  : {wmsg}")
    t0 = time.perf_counter()
    train = load_split(train_ds, train_ids)
    tests = {"in-domain": load_split(train_ds, indomain_ids), "held-out": load_split(test_ds)}
    load_s = time.perf_counter() - t0
    print(f"  frames   : train {len(train)} ({len(train_ids)} scene(s)), in-domain test {len(tests['in-domain'])} "
          f"({len(indomain_ids)} scene(s)), held-out test {len(tests['held-out'])} "
          f"({len(tests['held-out'].scenes)} scene(s)); read in {load_s:.1f} s")
    r = train_and_evaluate(train, tests, epochs=args.epochs, seed=args.seed)
    print(f"  network  : {r['params']:,} parameters; trained in {r['train_seconds']:.1f} s "
          f"({r['train_seconds'] / args.epochs:.1f} s/epoch)")
    for name in tests:
        print(f"  {name + ' IoU':<15s}: {r[name]['iou']:.4f}  (mean per image {r[name]['mean_image_iou']:.4f}, "
              f"{r[name]['frames']} frames)")
    return {"train": {"dataset": str(train_ds.root), "scenes": train_ids, "frames": len(train),
                      "families": a_train.families, "image_files": sorted(a_train.files)},
            "in_domain": {"scenes": indomain_ids, **r["in-domain"]},
            "held_out": {"dataset": str(test_ds.root), "scenes": tests["held-out"].scenes, **r["held-out"],
                         "families": a_test.families, "image_files": sorted(a_test.files)},
            "warnings": warnings, "params": r["params"], "train_seconds": r["train_seconds"],
            "epoch_seconds": r["epoch_seconds"], "losses": r["losses"], "load_seconds": load_s}


def run(args) -> dict:
    """The benchmark on parsed arguments (datasets given or built): prints the report, returns the result. With
    ``args.tuned`` (a tuned training dataset) and ``args.tune_summary`` the tuned arm too (``result["tuned"]``)."""
    import torch  # noqa: PLC0415 - torch is a test extra; only the training step needs it

    torch.set_num_threads(args.threads)
    train_ds, test_ds = open_checked(args.train), open_checked(args.test)
    w, h = IMAGE_SIZE
    print(f"gtforge transfer benchmark: class-agnostic foreground segmentation, torch {torch.__version__} CPU, "
          f"{args.threads} thread(s), {os.cpu_count()} CPU(s), {platform.machine()}")
    print(f"  protocol : {w}x{h}, U-Net {'-'.join(map(str, CHANNELS))}, Adam lr {LEARNING_RATE:g}, batch {BATCH_SIZE}, "
          f"{args.epochs} epochs, BCE + soft Dice, h-flips, threshold {THRESHOLD}, seed {args.seed}, "
          f"in-domain test = {INDOMAIN_FRACTION:.0%} of the training scenes")
    print(f"  held-out : {test_ds.root}")
    result = {
        "protocol": {"image_size": [w, h], "channels": list(CHANNELS), "lr": LEARNING_RATE, "batch": BATCH_SIZE,
                     "epochs": args.epochs, "loss": "bce+soft_dice", "augmentation": "hflip",
                     "threshold": THRESHOLD, "seed": args.seed, "indomain_fraction": INDOMAIN_FRACTION},
        "machine": {"torch": torch.__version__, "threads": args.threads, "cpus": os.cpu_count(),
                    "arch": platform.machine()},
        **_arm(train_ds, test_ds, args, "train"),
    }
    tuned = getattr(args, "tuned", None)
    if tuned:
        summary = getattr(args, "tune_summary", None) or {}
        print(f"  tuned    : gtforge tune towards {summary.get('reference_images', '?')} unlabelled held-out-look "
              f"images, {summary.get('trials', '?')} trials in {summary.get('tune_seconds', 0) / 60:.1f} min, "
              f"{len(summary.get('changes', []))} value(s) changed"
              + (f", kept: {', '.join(summary['fixed'])}" if summary.get("fixed") else ""))
        arm = _arm(open_checked(tuned), test_ds, args, "tuned")
        result["tuned"] = {**summary, **arm}
        print(f"  held-out IoU: {result['held_out']['iou']:.4f} untuned -> {arm['held_out']['iou']:.4f} tuned")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"  wrote {args.json}")
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.recipe:
            with tempfile.TemporaryDirectory(prefix="gtforge_transfer_") as tmp:
                work = Path(args.work) if args.work else Path(tmp)
                args.train, args.test = map(str, build_pair(args, work))
                if args.tune_minutes is not None:
                    tuned, args.tune_summary = tune_arm(args, work)
                    args.tuned = str(tuned)
                run(args)
        else:
            run(args)
    except BenchmarkError as e:
        print(f"transfer: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
