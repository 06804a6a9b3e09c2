"""WebDataset shards in the BOP-webdataset layout (BOP "imagewise" samples in tar files): writer and reader.

Format references: the BOP toolkit's ``bop_toolkit_lib/dataset/bop_imagewise.py`` (sample files),
``bop_webdataset.py`` (reader) and ``convert_imagewise_to_webdataset.py`` (shards of at most 1000 images,
``key_to_shard.json``), github.com/thodan/bop_toolkit, as used for the MegaPose / BOP 2023-2024 training
sets; the WebDataset library, github.com/webdataset/webdataset (a sample is the run of consecutive tar
members sharing a *key*: a member's base name up to its first dot; the rest is its extension). Layout::

    DIR/webdataset/{split}-{shard:06d}.tar     e.g. train_pbr-000000.tar; all shards of a split:
                                               "{split}-{000000..NNNNNN}.tar" (``index.json`` "pattern",
                                               expanded by WebDataset's braceexpand)
    DIR/webdataset/key_to_shard.json           {key: shard index} (the BOP toolkit's file)
    DIR/webdataset/index.json                  written last: split, shard_frames, pattern, num_shards,
                                               complete, num_frames, and per written shard its file,
                                               scene ids, num_frames, first_key, last_key

One sample per frame, key ``{scene_id:06d}_{im_id:06d}``, members (``KEY.ext``):

* ``rgb.jpg`` | ``rgb.png``: the bytes of ``rgb/{im_id:06d}.*`` (not re-encoded);
* ``depth.png``: the bytes of ``depth/{im_id:06d}.png`` (uint16, depth_mm = value * depth_scale);
* ``camera.json``: the image's ``scene_camera.json`` entry (cam_K, depth_scale, cam_R_w2c, cam_t_w2c);
* ``gt.json``, ``gt_info.json``, ``gt_occlusion.json``: the image's ``scene_gt.json``,
  ``scene_gt_info.json`` and ``scene_gt_occlusion.json`` entries (lists in ``gt_id`` order);
* ``mask.json``, ``mask_visib.json``: BOP-imagewise masks: ``{str(gt_id): RLE}`` of every instance, RLE as
  the BOP toolkit's ``pycoco_utils.binary_mask_to_rle`` writes it (uncompressed, :func:`mask_rle`);
* recipes with hands: ``hands.json`` (the image's ``scene_hands.json`` entry, ``[]`` when it has none;
  its ``mask``/``mask_visib``/``vertices`` fields name files of the scene folder), ``mask_hand.json`` and
  ``mask_visib_hand.json`` (``{str(hand_id): RLE}``, ``{}`` when none) and, with
  ``hands.write_vertices``, ``hand_vertices_{hand_id:06d}.npz`` (the bytes of ``hands/*.npz``).

A member is present when its source is (``output.layers`` may turn rgb, depth or mask layers off; the JSON
labels need ``bop`` in ``output.formats``). Scene-level files (``scene_env.json``,
``scene_appearance.json``), ``models/`` and ``camera.json`` stay in the dataset folder.

Sources and work split: everything is taken from the committed scene folders, which stay the source of
truth, except the masks' RLE: :class:`WebdatasetWriter` encodes the in-memory masks of each frame
(the arrays ``bop.BopWriter`` writes as PNG) into the scene side file ``scene_mask_rle.json``
(``{im_id: {"mask", "mask_visib", "mask_hand", "mask_visib_hand": {id: RLE}}}``), in the
workers, committed with the scene. Measured at 640x480 (2-core CPU): reading a mask PNG back costs 1.1 ms
and encoding 0.5 ms: 28 ms per frame of the default recipe (16 masks) in the single merging process, against 0.17 ms
per mask spent in the workers (RLE of the columns a mask spans). :meth:`WebdatasetWriter.merge` then only
copies bytes and splits JSON.

Shards (:func:`plan_shards`): consecutive whole scenes, a scene never split, in scene order, each shard
taking the next scene while it stays within ``SHARD_FRAMES`` = 1000 frames (a shard whose first scene
alone has more holds that scene alone): BOP's "at most 1000 images a shard", exact here since a scene
has at most 1000 views. The grouping is a function of the recipe only (``scenes.count``,
``views_per_scene``, ``max_frames``), so the shards' content does not depend on the workers, executor or
``--shard`` split that rendered the scenes.

Bytes (:func:`write_shard`): every tar header field fixed (USTAR, mtime 0, uid/gid 0, empty user and
group names, mode 0644), a sample's members sorted by extension and samples in (scene_id, im_id)
order, so a shard is byte-identical whenever its scene folders are; the bytes are those WebDataset's
``TarWriter`` writes with the same header values (standard ``tarfile``, see :func:`write_shard` for why).

Atomic and resumable: a shard is written as a temporary ``*.tmp`` file beside it and renamed; a shard is
written only when all its scenes are committed, and a shard whose final file exists is kept (its scenes
cannot change); stale ``*.tmp`` files are removed first; ``key_to_shard.json`` and then ``index.json`` are
rewritten atomically, last. A build killed at any point is completed by running it again.

Reading: :func:`read_shard` (raw samples through ``webdataset.WebDataset``) and :func:`decode_sample`
(numpy arrays and dicts), or the library directly::

    ds = webdataset.WebDataset("DIR/webdataset/train_pbr-{000000..000049}.tar", shardshuffle=False)
    ds = ds.map(decode_sample)

The members and their encodings are those the BOP toolkit's ``bop_webdataset.decode_sample`` reads (not
run in the tests: the toolkit is not a dependency; its RLE is restated in them).

WebDataset's default image decoders (``.decode("rgb")``) would turn the 16-bit ``depth.png`` into 8-bit
RGB: decode depth as :func:`decode_sample` does (PIL, uint16) or keep it raw.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from ..core.files import atomic_open
from .atomic import load_json, write_json_atomic
from .bop import HANDS_FILE, OCCLUSION_FILE, scene_path
from .protocol import DatasetContext, FrameRecord, SceneContext

log = logging.getLogger(__name__)

#: Dataset-level folder of the shards.
FOLDER = "webdataset"
#: Most frames in a shard (BOP-webdataset's maximum); a shard holds whole scenes (:func:`plan_shards`).
SHARD_FRAMES = 1000
#: Per scene folder: BOP-toolkit RLE of every mask, by image (written by :class:`WebdatasetWriter`).
SCENE_FILE = "scene_mask_rle.json"
INDEX_FILE = "index.json"
KEY_TO_SHARD_FILE = "key_to_shard.json"
#: The mask layers of a sample, each ``{str(id): RLE}``: instances by gt_id, hands by hand_id.
MASK_LAYERS = ("mask", "mask_visib", "mask_hand", "mask_visib_hand")
#: Tar header fields of every member (reproducible bytes).
TAR_MTIME, TAR_MODE, TAR_USER, TAR_GROUP = 0, 0o644, "", ""


# ---------------------------------------------------------------- names and grouping
def sample_key(scene_id: int, im_id: int) -> str:
    """Sample key of a frame: ``{scene_id:06d}_{im_id:06d}`` (no dot: WebDataset's key ends at the first dot)."""
    return f"{int(scene_id):06d}_{int(im_id):06d}"


def shard_name(split: str, shard: int) -> str:
    """File name of shard ``shard`` of a split: ``{split}-{shard:06d}.tar``."""
    return f"{split}-{int(shard):06d}.tar"


def shard_pattern(split: str, num_shards: int) -> str:
    """Brace pattern naming all ``num_shards`` shards, ``{split}-{000000..NNNNNN}.tar`` (WebDataset's
    ``braceexpand`` syntax; split names are ``[A-Za-z0-9_-]+``, so they hold no braces).

    Raises ValueError for ``num_shards`` < 1.
    """
    if num_shards < 1:
        raise ValueError(f"no shards to name (num_shards={num_shards})")
    return f"{split}-{{{0:06d}..{num_shards - 1:06d}}}.tar"


def plan_shards(frames_per_scene: Sequence[int], shard_frames: int = SHARD_FRAMES) -> list[tuple[int, ...]]:
    """Group scenes into shards: consecutive whole scenes, in order.

    A shard takes the next scene while its frame count stays <= ``shard_frames``; a scene that would take it
    past that starts the next shard (a scene with more frames than ``shard_frames`` fills a shard alone).

    Parameters
    ----------
    frames_per_scene : sequence of int
        Frames of scene 0, 1, ... (from the recipe: ``Recipe.views_in_scene``), each >= 0.
    shard_frames : int
        Most frames in a shard, >= 1.

    Returns
    -------
    list of tuple of int
        The scene indices of shard 0, 1, ...; together 0..len - 1 once each, in order.

    Raises
    ------
    ValueError
        If ``shard_frames`` < 1 or a count is negative.
    """
    if shard_frames < 1:
        raise ValueError(f"shard_frames must be >= 1, got {shard_frames}")
    shards: list[tuple[int, ...]] = []
    current: list[int] = []
    n = 0
    for scene, count in enumerate(frames_per_scene):
        if count < 0:
            raise ValueError(f"scene {scene}: negative frame count {count}")
        if current and n + count > shard_frames:
            shards.append(tuple(current))
            current, n = [], 0
        current.append(scene)
        n += count
    if current:
        shards.append(tuple(current))
    return shards


# ---------------------------------------------------------------- masks (BOP toolkit RLE)
def mask_rle(mask: np.ndarray) -> dict:
    """Uncompressed RLE of a mask as the BOP toolkit writes it (``pycoco_utils.binary_mask_to_rle``).

    Parameters
    ----------
    mask : (H, W) bool (or 0/1)

    Returns
    -------
    dict
        ``{"counts": [int, ...], "size": [H, W]}``: run lengths over the pixels in column-major (Fortran)
        order, alternating background and mask, starting with background (a leading 0 when pixel (0, 0)
        is set); ``sum(counts) == H * W``. COCO's uncompressed RLE: ``pycocotools.mask.frPyObjects`` reads it.

    Only the columns the mask spans are scanned; the background runs before and after them are added.
    """
    m = np.asarray(mask).astype(bool, copy=False)
    h, w = m.shape
    cols = np.flatnonzero(m.any(axis=0))
    if cols.size == 0:
        return {"counts": [h * w], "size": [h, w]}
    c0, c1 = int(cols[0]), int(cols[-1]) + 1
    flat = m[:, c0:c1].T.ravel()  # column-major order of the spanned columns
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], edges, [flat.size]))).tolist()
    if flat[0]:
        runs.insert(0, c0 * h)  # background before: possibly 0 (BOP's leading 0)
    else:
        runs[0] += c0 * h
    if not flat[-1]:
        runs[-1] += (w - c1) * h
    elif c1 < w:
        runs.append((w - c1) * h)
    return {"counts": runs, "size": [h, w]}


def rle_mask(rle: dict) -> np.ndarray:
    """Decode an RLE (BOP's uncompressed counts list, or COCO's compressed string) -> (H, W) bool (pycocotools)."""
    h, w = (int(v) for v in rle["size"])
    if isinstance(rle["counts"], list):
        coded = mask_utils.frPyObjects({"counts": rle["counts"], "size": [h, w]}, h, w)
    else:
        counts = rle["counts"]
        coded = {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    return mask_utils.decode(coded).astype(bool)


# ---------------------------------------------------------------- per-scene writer
class WebdatasetWriter:
    """Per scene: the BOP-toolkit RLE of every mask of every frame, into ``scene_mask_rle.json``.

    The shards themselves are assembled after the last scene by :meth:`merge` from the committed scene
    folders (rgb, depth, JSON labels) and this side file (masks), see the module docstring.
    ``output.layers.mask`` / ``.mask_visib`` turn the object mask layers off; hand masks are always kept.
    """

    def __init__(self, ctx: SceneContext):
        self.path = Path(ctx.folder) / SCENE_FILE
        self.layers = ctx.output.layers
        self.masks: dict[int, dict] = {}

    def add_frame(self, frame: FrameRecord) -> None:
        """Encode the frame's instance masks (gt_id order) and hand masks (hand_id order)."""
        entry = {}
        for layer in ("mask", "mask_visib"):
            if getattr(self.layers, layer):
                entry[layer] = {str(g): mask_rle(getattr(lab, layer)) for g, lab in enumerate(frame.labels)}
        if frame.hands:
            entry["mask_hand"] = {str(k): mask_rle(h.mask) for k, h in enumerate(frame.hands)}
            entry["mask_visib_hand"] = {str(k): mask_rle(h.mask_visib) for k, h in enumerate(frame.hands)}
        self.masks[int(frame.im_id)] = entry

    def finish(self) -> None:
        """Write ``scene_mask_rle.json`` (one image per line, as the BOP scene files)."""
        write_json_atomic(self.path, self.masks, per_key_lines=True)

    @classmethod
    def merge(cls, ctx: DatasetContext) -> None:
        """Write the shards whose scenes are all committed, then the index (:func:`merge_webdataset`)."""
        recipe = ctx.recipe
        if "bop" not in recipe.output.formats:
            log.warning("webdataset without bop in output.formats: samples hold images, camera and masks "
                        "but no gt/gt_info labels")
        merge_webdataset(ctx.root, ctx.split, [recipe.views_in_scene(i) for i in range(recipe.num_scenes())],
                         image_format=recipe.output.image_format, hands=recipe.hands is not None)


# ---------------------------------------------------------------- dataset-level merge
def _json_bytes(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def _scene_files(scene_dir: Path) -> dict:
    """A scene folder's per-image JSON sources ({im_id: entry} each; absent files give {})."""
    def opt(name):
        p = scene_dir / name
        return load_json(p) if p.is_file() else None

    return {"camera": load_json(scene_dir / "scene_camera.json"), "gt": opt("scene_gt.json"),
            "gt_info": opt("scene_gt_info.json"), "gt_occlusion": opt(OCCLUSION_FILE), "hands": opt(HANDS_FILE),
            "masks": opt(SCENE_FILE)}


def frame_sample(scene_dir: Path, scene_id: int, im_id: int, files: dict, image_format: str = "jpg",
                 hands: bool = False) -> dict:
    """The WebDataset sample of one frame: ``{"__key__": key, ext: bytes}`` (members in the module docstring).

    Parameters
    ----------
    scene_dir : Path
        The committed scene folder.
    scene_id, im_id : int
    files : dict
        ``_scene_files(scene_dir)``: the scene's JSON sources.
    image_format : {"jpg", "png"}
        ``output.image_format`` (the rgb file's extension).
    hands : bool
        The recipe has hands: every sample gets the hand members (empty when the frame has no hand).
    """
    s: dict = {"__key__": sample_key(scene_id, im_id)}
    rgb = scene_dir / "rgb" / f"{im_id:06d}.{image_format}"
    if rgb.is_file():
        s[f"rgb.{image_format}"] = rgb.read_bytes()
    depth = scene_dir / "depth" / f"{im_id:06d}.png"
    if depth.is_file():
        s["depth.png"] = depth.read_bytes()
    s["camera.json"] = _json_bytes(files["camera"][im_id])
    for name in ("gt", "gt_info", "gt_occlusion"):
        if files[name] is not None:
            s[f"{name}.json"] = _json_bytes(files[name][im_id])
    masks = (files["masks"] or {}).get(im_id, {})
    for layer in MASK_LAYERS:
        if layer in masks or (hands and layer.endswith("_hand")):
            s[f"{layer}.json"] = _json_bytes(masks.get(layer, {}))
    if hands and files["gt"] is not None:
        entries = (files["hands"] or {}).get(im_id, [])
        s["hands.json"] = _json_bytes(entries)
        for h in entries:
            if h.get("vertices"):
                s[f"hand_vertices_{int(h['hand_id']):06d}.npz"] = (scene_dir / h["vertices"]).read_bytes()
    return s


def write_shard(path, samples) -> int:
    """Write samples (dicts of ``__key__`` and bytes members) to the tar ``path`` atomically.

    Each member is ``{key}.{ext}``, a sample's members sorted by extension (as WebDataset's ``TarWriter``
    orders them), with fixed USTAR headers: mtime 0, uid/gid 0, empty user and group names, mode 0644,
    regular file. Written to a temporary ``*.tmp`` file beside it in tar stream mode, fsync'ed, then renamed
    (:func:`core.files.atomic_open`).

    The standard library's ``tarfile`` writes it, not ``webdataset.TarWriter``: importing ``webdataset``
    imports torch where torch is installed (2 s), and ``TarWriter`` is this loop over ``tarfile`` (given
    these header values it writes the same bytes: ``tests/formats/test_webdataset.py``).

    Returns the number of samples written. Raises ValueError for a member that is not bytes.
    """
    n = 0
    with atomic_open(path, "wb") as f:
        with tarfile.open(fileobj=f, mode="w|", format=tarfile.USTAR_FORMAT) as tf:
            for sample in samples:
                key = sample["__key__"]
                for ext in sorted(k for k in sample if not k.startswith("_")):
                    data = sample[ext]
                    if not isinstance(data, (bytes, bytearray)):
                        raise ValueError(f"{key}.{ext}: member is {type(data).__name__}, not bytes")
                    info = tarfile.TarInfo(f"{key}.{ext}")
                    info.size, info.mtime, info.mode = len(data), TAR_MTIME, TAR_MODE
                    info.uid = info.gid = 0
                    info.uname, info.gname = TAR_USER, TAR_GROUP
                    tf.addfile(info, io.BytesIO(data))
                n += 1
    return n


def _scene_keys(scene_dir: Path, scene_id: int) -> list[str]:
    return [sample_key(scene_id, im_id) for im_id in sorted(load_json(scene_dir / "scene_camera.json"))]


def _shard_samples(root: Path, split: str, scenes, image_format: str, hands: bool) -> Iterator[dict]:
    for scene_id in scenes:
        d = scene_path(root, split, scene_id)
        files = _scene_files(d)
        for im_id in sorted(files["camera"]):
            yield frame_sample(d, scene_id, im_id, files, image_format, hands)


def merge_webdataset(root, split: str, frames_per_scene: Sequence[int], image_format: str = "jpg",
                     hands: bool = False, shard_frames: int = SHARD_FRAMES) -> dict:
    """Write ``DIR/webdataset/``: every shard whose scenes are all committed, then ``key_to_shard.json`` and
    ``index.json``. Idempotent and resumable (module docstring).

    Parameters
    ----------
    root : path
        The dataset folder; committed scenes are ``root/split/{scene_id:06d}``.
    split : str
    frames_per_scene : sequence of int
        The recipe's frames of every scene (``Recipe.views_in_scene(i)`` for i < ``num_scenes()``): the
        grouping (:func:`plan_shards`) depends on these only.
    image_format : {"jpg", "png"}
    hands : bool
        The recipe has hands (hand members in every sample).
    shard_frames : int
        Most frames in a shard (:data:`SHARD_FRAMES`).

    Returns
    -------
    dict
        The ``index.json`` content.

    Raises
    ------
    OSError, json.JSONDecodeError
        For unreadable scene files (committed scenes are complete, so only damage causes these).
    """
    root = Path(root)
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.tmp"):  # a killed merge's unfinished file (one build writes a folder at a time)
        stale.unlink()
    plan = plan_shards(frames_per_scene, shard_frames)
    written, key_to_shard = [], {}
    for k, scenes in enumerate(plan):
        if not all(scene_path(root, split, s).is_dir() for s in scenes):
            continue
        final = folder / shard_name(split, k)
        if not final.is_file():
            n = write_shard(final, _shard_samples(root, split, scenes, image_format, hands))
            log.info("webdataset: wrote %s (%d frames)", final.name, n)
        keys = [key for s in scenes for key in _scene_keys(scene_path(root, split, s), s)]
        key_to_shard.update(dict.fromkeys(keys, k))
        written.append({"shard": k, "file": final.name, "scenes": list(scenes), "num_frames": len(keys),
                        "first_key": keys[0] if keys else None, "last_key": keys[-1] if keys else None})
    index = {"format": "bop-webdataset", "split": split, "shard_frames": int(shard_frames),
             "pattern": shard_pattern(split, len(plan)) if plan else None, "num_shards": len(plan),
             "complete": len(written) == len(plan), "num_frames": len(key_to_shard), "shards": written}
    write_json_atomic(folder / KEY_TO_SHARD_FILE, key_to_shard)
    write_json_atomic(folder / INDEX_FILE, index)
    return index


# ---------------------------------------------------------------- reader
def read_index(root) -> dict:
    """``DIR/webdataset/index.json`` (:func:`merge_webdataset`). Raises OSError / json.JSONDecodeError."""
    return json.loads((Path(root) / FOLDER / INDEX_FILE).read_text())


def shard_paths(root) -> list[Path]:
    """The written shards of a dataset, in shard order (from ``index.json``)."""
    return [Path(root) / FOLDER / s["file"] for s in read_index(root)["shards"]]


def read_shard(path) -> Iterator[dict]:
    """Raw samples of one shard in file order, read by ``webdataset.WebDataset``.

    Yields
    ------
    dict
        ``__key__`` (``{scene_id:06d}_{im_id:06d}``), ``__url__``, and each member's bytes by extension
        (``"rgb.jpg"``, ``"depth.png"``, ``"gt.json"``, ...); :func:`decode_sample` decodes one.
    """
    import webdataset  # noqa: PLC0415 - webdataset imports torch where installed (2 s); only this reader needs it

    ds = webdataset.WebDataset(str(path), shardshuffle=False, nodesplitter=None, workersplitter=None,
                               empty_check=False)
    yield from ds


def _stack_masks(rles: dict, shape) -> np.ndarray:
    if not rles:
        return np.zeros((0, *shape), dtype=bool)
    return np.stack([rle_mask(rles[k]) for k in sorted(rles, key=int)])


def decode_sample(sample: dict) -> dict:
    """Decode a raw sample (:func:`read_shard`, or ``webdataset.WebDataset`` without ``.decode``).

    Returns
    -------
    dict
        ``key``, ``scene_id``, ``im_id``; ``rgb`` (H, W, 3) uint8 or None; ``depth`` (H, W) float64 metres
        (0 = invalid; value * depth_scale / 1000) or None; ``camera`` (dict, BOP ``scene_camera`` entry);
        ``gt``, ``gt_info``, ``gt_occlusion``, ``hands`` (lists as in the scene files, or None);
        ``mask``, ``mask_visib`` (N, H, W) bool by gt_id, ``mask_hand``, ``mask_visib_hand`` (n, H, W) bool
        by hand_id (None where absent); ``hand_vertices`` {hand_id: {"vertices_cam", "faces"}}.
    """
    key = sample["__key__"]
    scene_id, im_id = (int(x) for x in Path(key).name.split("_"))
    out = {"key": key, "scene_id": scene_id, "im_id": im_id, "rgb": None, "depth": None}
    out["camera"] = json.loads(sample["camera.json"])
    rgb_ext = next((k for k in sample if k.startswith("rgb.")), None)
    if rgb_ext:
        out["rgb"] = np.asarray(Image.open(io.BytesIO(sample[rgb_ext])).convert("RGB"))
    if "depth.png" in sample:
        raw = np.asarray(Image.open(io.BytesIO(sample["depth.png"])), dtype=np.float64)
        out["depth"] = raw * float(out["camera"]["depth_scale"]) / 1000.0
    for name in ("gt", "gt_info", "gt_occlusion", "hands"):
        out[name] = json.loads(sample[f"{name}.json"]) if f"{name}.json" in sample else None
    size = next((a.shape[:2] for a in (out["rgb"], out["depth"]) if a is not None), (0, 0))
    for layer in MASK_LAYERS:
        rles = json.loads(sample[f"{layer}.json"]) if f"{layer}.json" in sample else None
        out[layer] = None if rles is None else _stack_masks(rles, size)
    out["hand_vertices"] = {}
    for k in sorted(sample):
        if k.startswith("hand_vertices_") and k.endswith(".npz"):
            with np.load(io.BytesIO(sample[k])) as z:
                out["hand_vertices"][int(k[len("hand_vertices_"):-4])] = {n: z[n] for n in z.files}
    return out
