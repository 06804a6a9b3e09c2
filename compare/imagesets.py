"""Image sets for ``gtforge compare``: a gtforge dataset or a user's reference, read from its files.

:func:`load_image_set` reads one of six layouts into an :class:`ImageSet` (image files and, where the layout
has them, labels in one vocabulary, :class:`Label`):

* ``gtforge``: a dataset written by ``gtforge build`` (:func:`gtforge.formats.dataset.open_dataset`; BOP or
  COCO-only builds). Category = the class name of ``gtforge.json``; box = ``bbox_visib``; truncation,
  ``visib_fract``, occlusion level, the 6D pose (metres) and hand keypoints as written. Instances without a
  visible pixel are left out (COCO writes none for them either).
* ``folder``: every image file under a folder (recursively, hidden folders skipped); no labels.
* ``coco``: an instances JSON (cocodataset.org/#format-data; :func:`gtforge.formats.coco.read_instances`);
  images found at ``file_name`` relative to the JSON, its ``images/`` sibling or its parent's ``images/``.
  Box, category name and 21 keypoints (hands; other keypoint sets are ignored); ``iscrowd`` instances are
  skipped. gtforge's own COCO fields (``visib_fract``, ``truncation``, ``occlusion_level``, ``cam_R_m2c``,
  ``cam_t_m2c`` in mm) are read when present.
* ``bop``: a BOP split folder (``scene_gt.json``, ``scene_gt_info.json``, ``rgb/`` or ``gray/`` per scene;
  BOP toolkit ``docs/bop_datasets_format.md``), a scene folder, or a dataset root with one split. Category
  ``obj_{obj_id:06d}`` (BOP has no class names); box = ``bbox_visib``; ``visib_fract``; poses with the
  translation in metres; gtforge's ``scene_gt_occlusion.json`` side file, where present, adds truncation and
  the occlusion level.
* ``kitti``: a KITTI object folder (``image_2/``, ``label_2/``; or its ``training/``), read with
  :func:`gtforge.formats.kitti.KittiObject.from_line`: type, box (inclusive pixel corners l t r b, as
  gtforge's KITTI writer: w = r - l + 1), truncated, occluded level, and the 3D box as a pose (model frame
  x forward, y left, z up, origin at the bottom centre: the car frame of ``assets/cars.py``; in KITTI's
  rectified camera 0). ``DontCare`` is skipped. Without ``label_2/`` the set is unlabelled.
* ``yolo``: an Ultralytics dataset (``data.yaml`` with ``names`` and its split entries, or ``images/`` +
  ``labels/``; :func:`gtforge.formats.yolo.read_labels`): class names, boxes (segment lines: the polygon's
  bounds), 21 pose keypoints. An image without a label file has no instances (Ultralytics' rule).

Sizes: every record keeps its stored size; a set of several sizes says so in ``notes`` (the image statistics
resize to the most common, :func:`common_size`). Every unusable input raises :class:`CompareInputError` naming
the path (and the file, line or key inside it). Subsamples (``max_images``) are drawn without replacement by
``core.rng.analysis_rng("subsample", seed)`` and kept in the set's order, so a seed gives the same images every time.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..core.rng import analysis_rng
from ..formats import yolo as yolo_format
from ..formats.atomic import load_json
from ..formats.bop import OCCLUSION_FILE, from_bop_bbox
from ..formats.coco import read_instances
from ..formats.dataset import META_FILE, DatasetError, open_dataset
from ..formats.kitti import KittiObject

#: The layouts :func:`load_image_set` reads.
FORMATS = ("folder", "coco", "bop", "kitti", "yolo", "gtforge")
#: File suffixes taken for images (lower case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
#: Hand keypoints: MANO's 21 (``core.hands.KEYPOINT_NAMES``).
N_HAND_KEYPOINTS = 21
#: The install hint of the optional ``tune`` extra.
EXTRA_HINT = "pip install -e '.[tune]' (or bash .ci/setup.sh --tune)"


class CompareInputError(ValueError):
    """Unusable dataset or reference; the message names the path (and the file inside it). CLI: exit 2."""


class MissingExtraError(RuntimeError):
    """The `tune` extra is not installed; the message says how to install it. CLI: exit 2."""


def require_extra(*modules: str) -> None:
    """Check that the optional ``tune`` extra's modules can be imported (default: ``torch``).

    Raises
    ------
    MissingExtraError
        Naming the missing modules and :data:`EXTRA_HINT`.
    """
    missing = [m for m in (modules or ("torch",)) if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(f"{', '.join(missing)} not installed: this needs the optional 'tune' extra: "
                                f"{EXTRA_HINT}")


@dataclass(frozen=True, eq=False)
class Label:
    """One labelled instance in one image.

    Attributes
    ----------
    category : str
        Class name (``"hand"`` for hands).
    bbox : (x, y, w, h) float
        Pixels of the original image: the tight box of the visible part; column x spans [x, x + 1), so a
        one-pixel box has w = 1 (COCO's and gtforge's convention).
    truncation : float or None
        Share of the object outside the image, [0, 1].
    visib_fract : float or None
        Visible share of the object, [0, 1] (BOP's definition).
    occlusion_level : int or None
        KITTI's: 0 fully visible, 1 partly, 2 largely occluded, 3 unknown.
    cam_R_m2c : (3, 3) float64 or None
        Rotation model -> OpenCV camera (x right, y down, z forward).
    cam_t_m2c : (3,) float64 or None
        Model origin in the camera frame, metres.
    keypoints : (21, 3) float64 or None
        x, y pixels (pixel centres at integers), v (COCO: 0 not labelled, 1 occluded, 2 visible), MANO's
        21-keypoint order.
    """

    category: str
    bbox: tuple[float, float, float, float]
    truncation: float | None = None
    visib_fract: float | None = None
    occlusion_level: int | None = None
    cam_R_m2c: np.ndarray | None = None
    cam_t_m2c: np.ndarray | None = None
    keypoints: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class ImageRecord:
    """One image: ``path`` (PNG/JPEG/...), its stored ``width`` and ``height`` (pixels), its ``labels`` (a tuple,
    empty when it has no instance; None when the set has no labels), and its ``group``: the scene folder it belongs
    to in a gtforge or BOP dataset (views of one scene are not independent samples), None elsewhere."""

    path: Path
    width: int
    height: int
    labels: tuple[Label, ...] | None
    group: str | None = None


@dataclass(frozen=True, eq=False)
class ImageSet:
    """A set of images read from ``root`` in layout ``format`` (:data:`FORMATS`), with plain-words ``notes``."""

    root: Path
    format: str
    records: tuple[ImageRecord, ...]
    notes: tuple[str, ...] = ()

    @property
    def labelled(self) -> bool:
        """Every record has labels (not None) and there is at least one record."""
        return bool(self.records) and all(r.labels is not None for r in self.records)

    @property
    def groups(self) -> list[str] | None:
        """The group (scene folder) of each record, in order, or None when a record has none (a folder of images,
        COCO, KITTI, YOLO): the two-sample test's folds keep a group whole (``compare.learned.two_sample_test``)."""
        groups = [r.group for r in self.records]
        return None if any(g is None for g in groups) else groups


# ----------------------------------------------------------------------------------------------- helpers

def subsample(n: int, max_images: int | None, seed: int) -> np.ndarray:
    """Indices (k,) int64, increasing, of a seeded subsample without replacement of ``range(n)``.

    All of them when ``max_images`` is None or >= n; else ``core.rng.analysis_rng("subsample", seed).choice``.

    Raises
    ------
    ValueError
        For ``max_images`` < 1.
    """
    if max_images is None or max_images >= n:
        return np.arange(n)
    if max_images < 1:
        raise ValueError(f"max_images must be >= 1, got {max_images}")
    return np.sort(analysis_rng("subsample", int(seed)).choice(n, size=int(max_images), replace=False))


def common_size(records) -> tuple[int, int]:
    """The most common (width, height) of the records (ties: the first seen). Raises ValueError when empty."""
    sizes = Counter((r.width, r.height) for r in records)
    if not sizes:
        raise ValueError("no records")
    return sizes.most_common(1)[0][0]


def _is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()


def _images_under(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively; hidden files and folders skipped), sorted."""
    try:
        found = [p for p in folder.rglob("*") if _is_image(p)
                 and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    except OSError as e:
        raise CompareInputError(f"{folder}: cannot be read ({e.strerror or e})") from None
    return sorted(found)


#: What opening or decoding an image file can raise: PIL's own errors, and ImportError from a third party's wrapper
#: of ``PIL.Image.open`` (Ultralytics, once imported in the process, wraps it and imports pi-heif for any file PIL
#: cannot identify, raising ModuleNotFoundError where pi-heif is not installed). Each is the file's fault.
DECODE_ERRORS = (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError, ImportError)


def _header_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image's header. Raises CompareInputError for a missing or unreadable image."""
    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except FileNotFoundError:
        raise CompareInputError(f"{path}: image not found") from None
    except DECODE_ERRORS as e:
        raise CompareInputError(f"{path}: not a readable image ({e})") from None


def _pose(R, t_m) -> tuple[np.ndarray, np.ndarray]:
    R = np.asarray(R, dtype=np.float64).reshape(3, 3)
    t = np.asarray(t_m, dtype=np.float64).reshape(3)
    return R, t


def _hand_keypoints(values) -> np.ndarray | None:
    """(21, 3) float64 from a flat COCO list [x, y, v] * 21, else None (other keypoint sets)."""
    if values is None or len(values) != 3 * N_HAND_KEYPOINTS:
        return None
    return np.asarray(values, dtype=np.float64).reshape(N_HAND_KEYPOINTS, 3)


@dataclass
class _Item:
    """A record before subsampling: size unknown (None) until its header is read; ``labels`` may be a function
    of (width, height) (YOLO's normalised coordinates)."""

    path: Path
    labels: object
    width: int | None = None
    height: int | None = None
    group: str | None = None


# ----------------------------------------------------------------------------------------------- detection

_COCO_CACHE: dict = {}


def _coco_doc(path: Path) -> dict:
    """The checked COCO document of ``path`` (cached by path, size and mtime for detection + loading)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _COCO_CACHE:
        try:
            doc = read_instances(path)
        except ValueError as e:
            raise CompareInputError(str(e)) from None
        except OSError as e:
            raise CompareInputError(f"{path}: cannot be read ({e.strerror or e})") from None
        _COCO_CACHE.clear()
        _COCO_CACHE[key] = doc
    return _COCO_CACHE[key]


def _looks_coco(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError:
        return False
    return b'"images"' in head or b'"annotations"' in head


def _coco_json_in(folder: Path) -> Path | None:
    """The one COCO JSON in ``folder`` or ``folder/annotations`` (instances_* preferred), None when there is none.

    Raises CompareInputError when several could be meant."""
    found = [p for d in (folder, folder / "annotations") if d.is_dir() for p in sorted(d.glob("*.json"))
             if _looks_coco(p)]
    if len(found) > 1:
        preferred = [p for p in found if p.name.startswith("instances")]
        found = preferred or found
    if len(found) > 1:
        raise CompareInputError(f"{folder}: several COCO files ({', '.join(p.name for p in found)}): "
                                "pass the one to compare with")
    return found[0] if found else None


def _kitti_root(folder: Path) -> Path | None:
    for d in (folder, folder / "training"):
        if (d / "image_2").is_dir():
            return d
    return None


def _yolo_yaml(folder: Path) -> Path | None:
    for name in ("data.yaml", "dataset.yaml", "data.yml"):
        if (folder / name).is_file():
            return folder / name
    for p in sorted(folder.glob("*.y*ml")):
        try:
            if "names:" in p.read_text():
                return p
        except OSError:
            continue
    return None


def _bop_scene_dirs(folder: Path) -> list[Path]:
    """Scene folders (with ``scene_gt.json``): the folder itself, its children, or (a dataset root with one split)
    its grandchildren. Raises CompareInputError for a dataset root with several splits."""
    if (folder / "scene_gt.json").is_file():
        return [folder]
    children = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    scenes = [d for d in children if (d / "scene_gt.json").is_file()]
    if scenes:
        return scenes
    splits = [d for d in children if any((s / "scene_gt.json").is_file() for s in d.iterdir() if s.is_dir())]
    if len(splits) > 1:
        raise CompareInputError(f"{folder}: a BOP dataset with several splits ({', '.join(d.name for d in splits)}): "
                                "pass the split folder to compare with")
    if splits:
        return sorted(s for s in splits[0].iterdir() if (s / "scene_gt.json").is_file())
    return []


def detect_format(path) -> str:
    """The layout of ``path`` (one of :data:`FORMATS`).

    A ``.json`` file is COCO, a ``.yaml`` YOLO; a folder with ``gtforge.json`` is gtforge; with ``image_2/``
    (or ``training/image_2/``) KITTI; with a ``data.yaml`` (or ``images/`` and ``labels/``) YOLO; with
    ``scene_gt.json`` in it, its children or grandchildren BOP; with a COCO JSON (itself or in ``annotations/``)
    COCO; with any image under it a plain folder.

    Raises
    ------
    CompareInputError
        Naming the path: it does not exist, cannot be read, or nothing fits (no images).
    """
    p = Path(path)
    if not p.exists():
        raise CompareInputError(f"{p}: no such file or folder")
    if p.is_file():
        if p.suffix.lower() == ".json":
            return "coco"
        if p.suffix.lower() in (".yaml", ".yml"):
            return "yolo"
        raise CompareInputError(f"{p}: a file that is neither a COCO JSON nor a YOLO data.yaml; "
                                "pass a folder of images or a dataset")
    try:
        next(p.iterdir(), None)
    except OSError as e:
        raise CompareInputError(f"{p}: cannot be read ({e.strerror or e})") from None
    if (p / META_FILE).is_file():
        return "gtforge"
    if _kitti_root(p) is not None:
        return "kitti"
    if _yolo_yaml(p) is not None or ((p / "images").is_dir() and (p / "labels").is_dir()):
        return "yolo"
    if _bop_scene_dirs(p):
        return "bop"
    if _coco_json_in(p) is not None:
        return "coco"
    if _images_under(p):
        return "folder"
    raise CompareInputError(f"{p}: no images found (and no known dataset layout: gtforge, COCO, BOP, KITTI, YOLO)")


# ----------------------------------------------------------------------------------------------- loaders

def _load_folder(root: Path) -> tuple[list[_Item], list[str]]:
    if not root.is_dir():
        raise CompareInputError(f"{root}: not a folder")
    return [_Item(p, None) for p in _images_under(root)], []


def _load_gtforge(root: Path, max_images: int | None, seed: int) -> tuple[list[ImageRecord], list[str]]:
    try:
        ds = open_dataset(root)
        ids = ds.frame_ids()
        pick = [ids[i] for i in subsample(len(ids), max_images, seed)]
        frames = list(ds.frames(pick))
    except DatasetError as e:
        raise CompareInputError(str(e)) from None
    except (KeyError, IndexError, TypeError, ValueError, json.JSONDecodeError) as e:
        raise CompareInputError(f"{root}: a scene file does not parse ({type(e).__name__}: {e})") from None
    except OSError as e:
        raise CompareInputError(f"{root}: cannot be read ({e})") from None
    records = []
    for fr in frames:
        labels = []
        for inst in fr.instances:
            if inst.px_count_visib <= 0:
                continue
            R = t = None
            if inst.cam_T_model is not None:
                R, t = _pose(inst.cam_T_model[:3, :3], inst.cam_T_model[:3, 3])
            labels.append(Label(
                category="hand" if inst.hand_id is not None else ds.class_name(inst.obj_id),
                bbox=tuple(float(v) for v in inst.bbox_visib), truncation=_opt_float(inst.truncation),
                visib_fract=_opt_float(inst.visib_fract), occlusion_level=_opt_int(inst.occlusion_level),
                cam_R_m2c=R, cam_t_m2c=t, keypoints=_hand_keypoints(inst.keypoints)))
        records.append(ImageRecord(fr.rgb_path, fr.width, fr.height, tuple(labels), group=str(fr.scene_dir)))
    return records, []


def _opt_float(v) -> float | None:
    return None if v is None else float(v)


def _opt_int(v) -> int | None:
    return None if v is None else int(v)


def _find_image(json_path: Path, file_name: str) -> Path | None:
    """Where a COCO ``file_name`` lives: relative to the JSON's folder, its parent, or their ``images/``, as given
    or under the split's folder named by the JSON (``instances_val2017.json`` -> ``val2017/``, COCO's own layout)."""
    rel = Path(file_name)
    split = json_path.stem.removeprefix("instances_")
    base = json_path.parent
    for folder in (base, base / "images", base.parent, base.parent / "images"):
        for cand in (folder / rel, folder / split / rel, folder / rel.name, folder / split / rel.name):
            if cand.is_file():
                return cand
    return None


def _load_coco(path: Path) -> tuple[list[_Item], list[str]]:
    json_path = path if path.is_file() else _coco_json_in(path)
    if json_path is None:
        raise CompareInputError(f"{path}: no COCO instances JSON found (looked in the folder and its annotations/)")
    doc = _coco_doc(json_path)
    names = {c["id"]: str(c["name"]) for c in doc["categories"]}
    by_image: dict = {im["id"]: [] for im in doc["images"]}
    skipped_crowd = 0
    for i, a in enumerate(doc["annotations"]):
        if a.get("iscrowd", 0):
            skipped_crowd += 1
            continue
        try:
            R = t = None
            if "cam_R_m2c" in a and "cam_t_m2c" in a:
                R, t = _pose(a["cam_R_m2c"], np.asarray(a["cam_t_m2c"], dtype=np.float64) / 1000.0)
            label = Label(category=names[a["category_id"]], bbox=tuple(float(v) for v in a["bbox"]),
                          truncation=_opt_float(a.get("truncation")), visib_fract=_opt_float(a.get("visib_fract")),
                          occlusion_level=_opt_int(a.get("occlusion_level")), cam_R_m2c=R, cam_t_m2c=t,
                          keypoints=_hand_keypoints(a.get("keypoints")))
        except (TypeError, ValueError) as e:
            raise CompareInputError(f"{json_path}: annotations[{i}]: does not parse ({e})") from None
        by_image[a["image_id"]].append(label)
    items, missing = [], []
    for im in doc["images"]:
        found = _find_image(json_path, im["file_name"])
        if found is None:
            missing.append(im["file_name"])
            continue
        items.append(_Item(found, tuple(by_image[im["id"]]), im["width"], im["height"]))
    if missing:
        split = json_path.stem.removeprefix("instances_")
        raise CompareInputError(f"{json_path}: {len(missing)} of {len(doc['images'])} images not found, e.g. "
                                f"{missing[0]!r} (looked beside the JSON, in its parent, their images/ and {split}/)")
    notes = [f"{skipped_crowd} crowd annotations (iscrowd = 1) skipped"] if skipped_crowd else []
    return items, notes


def _scene_image(scene: Path, im_id: int) -> Path | None:
    for sub in ("rgb", "gray"):
        found = sorted((scene / sub).glob(f"{im_id:06d}.*"))
        if found:
            return found[0]
    return None


def _load_bop(root: Path) -> tuple[list[_Item], list[str]]:
    scenes = _bop_scene_dirs(root)
    if not scenes:
        raise CompareInputError(f"{root}: no BOP scene folder (with scene_gt.json) found")
    items = []
    for scene in scenes:
        files = {}
        for name in ("scene_gt.json", "scene_gt_info.json"):
            if not (scene / name).is_file():
                raise CompareInputError(f"{scene / name}: missing (a BOP scene needs it for the boxes)")
        for name in ("scene_gt.json", "scene_gt_info.json", OCCLUSION_FILE):
            if (scene / name).is_file():
                try:
                    files[name] = load_json(scene / name)
                except (OSError, json.JSONDecodeError) as e:
                    raise CompareInputError(f"{scene / name}: does not parse ({e})") from None
        gt, info, occ = files["scene_gt.json"], files["scene_gt_info.json"], files.get(OCCLUSION_FILE, {})
        for im_id in sorted(gt):
            key = f"{im_id}"
            try:
                labels = []
                for k, (g, inf) in enumerate(zip(gt[im_id], info[im_id], strict=True)):
                    key = f"{im_id}[{k}]"
                    bbox = from_bop_bbox(inf["bbox_visib"])
                    if bbox[2] <= 0 or float(inf.get("visib_fract", 1.0)) <= 0:
                        continue
                    o = occ.get(im_id, [{}] * len(gt[im_id]))[k]
                    R, t = _pose(g["cam_R_m2c"], np.asarray(g["cam_t_m2c"], dtype=np.float64) / 1000.0)
                    labels.append(Label(category=f"obj_{int(g['obj_id']):06d}", bbox=tuple(float(v) for v in bbox),
                                        truncation=_opt_float(o.get("truncation")),
                                        visib_fract=float(inf["visib_fract"]),
                                        occlusion_level=_opt_int(o.get("occlusion_level")), cam_R_m2c=R, cam_t_m2c=t))
            except (KeyError, IndexError, TypeError, ValueError) as e:
                raise CompareInputError(f"{scene}: scene_gt.json / scene_gt_info.json: image {key}: does not parse "
                                        f"({type(e).__name__}: {e})") from None
            image = _scene_image(scene, int(im_id))
            if image is None:
                raise CompareInputError(f"{scene}: no image {int(im_id):06d}.* in rgb/ or gray/")
            items.append(_Item(image, tuple(labels), group=str(scene)))
    return items, []


def _kitti_label(obj: KittiObject) -> Label:
    l, t, r, b = obj.bbox  # noqa: E741 - KITTI's names
    c, s = math.cos(obj.rotation_y), math.sin(obj.rotation_y)
    x_m = np.array([c, 0.0, -s])  # the heading (model x) in camera 0: rotation_y about the camera's y axis
    z_m = np.array([0.0, -1.0, 0.0])  # model z up = camera -y
    R = np.stack([x_m, np.cross(z_m, x_m), z_m], axis=1)
    return Label(category=obj.type, bbox=(l, t, r - l + 1.0, b - t + 1.0), truncation=float(obj.truncated),
                 occlusion_level=int(obj.occluded), cam_R_m2c=R, cam_t_m2c=np.array([obj.x, obj.y, obj.z]))


def _read_kitti_labels(path: Path) -> tuple[Label, ...]:
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise CompareInputError(f"{path}: cannot be read ({e.strerror or e})") from None
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = KittiObject.from_line(line)
        except ValueError as e:
            raise CompareInputError(f"{path}:{i}: does not parse ({e})") from None
        if obj.type != "DontCare":
            out.append(_kitti_label(obj))
    return tuple(out)


def _load_kitti(path: Path) -> tuple[list[_Item], list[str]]:
    root = _kitti_root(path)
    if root is None:
        raise CompareInputError(f"{path}: not a KITTI object folder (no image_2/)")
    images = sorted(p for p in (root / "image_2").iterdir() if _is_image(p))
    label_dir = root / "label_2"
    if not label_dir.is_dir():
        return [_Item(p, None) for p in images], ["no label_2/: the KITTI set is unlabelled"]
    items = []
    for p in images:
        lp = label_dir / f"{p.stem}.txt"
        if not lp.is_file():
            raise CompareInputError(f"{lp}: missing (image {p.name} has no label file)")
        items.append(_Item(p, _read_kitti_labels(lp)))
    return items, []


def _yolo_entries(doc: dict, yaml_path: Path) -> list[Path]:
    """Image files listed by a data.yaml's train/val/test entries (folders, list files or image paths)."""
    base = Path(doc["path"]) if doc.get("path") else yaml_path.parent
    if not base.is_absolute():
        base = (yaml_path.parent / base).resolve()
    found: list[Path] = []
    for key in ("train", "val", "test"):
        entries = doc.get(key)
        for entry in entries if isinstance(entries, list) else [entries] if entries else []:
            p = Path(str(entry))
            p = p if p.is_absolute() else base / p
            if p.is_dir():
                found += _images_under(p)
            elif p.is_file() and p.suffix.lower() == ".txt":
                for line in p.read_text().splitlines():
                    line = line.strip()
                    if line:
                        q = p.parent / line[2:] if line.startswith("./") else Path(line)
                        found.append(q if q.is_absolute() else base / q)
            elif _is_image(p):
                found.append(p)
    return list(dict.fromkeys(found))


def _yolo_label_path(image: Path) -> Path:
    """Ultralytics' ``img2label_paths``: the last ``images`` folder of the path becomes ``labels``, suffix .txt."""
    parts = list(image.parts)
    idx = max((i for i, part in enumerate(parts[:-1]) if part == "images"), default=None)
    if idx is None:
        return image.with_suffix(".txt")
    parts[idx] = "labels"
    return Path(*parts).with_suffix(".txt")


def _load_yolo(path: Path) -> tuple[list[_Item], list[str]]:
    yaml_path = path if path.is_file() else _yolo_yaml(path)
    root = path.parent if path.is_file() else path
    names, kpt_shape, images = {}, None, []
    if yaml_path is not None:
        try:
            doc = yolo_format.read_data_yaml(yaml_path)
        except (ValueError, OSError) as e:
            raise CompareInputError(str(e)) from None
        names, kpt_shape = doc["names"], doc.get("kpt_shape")
        images = _yolo_entries(doc, yaml_path)
    if not images:
        images = _images_under(root / "images") if (root / "images").is_dir() else _images_under(root)
    notes = [] if yaml_path is not None else ["no data.yaml: classes are named by their index"]
    items, with_labels = [], 0
    for image in images:
        lp = _yolo_label_path(image)
        lines: list = []
        if lp.is_file():
            with_labels += 1
            try:
                lines = yolo_format.read_labels(lp, kpt_shape)
            except ValueError as e:
                raise CompareInputError(str(e)) from None
            except OSError as e:
                raise CompareInputError(f"{lp}: cannot be read ({e.strerror or e})") from None
            unknown = sorted({ln.cls for ln in lines} - set(names)) if names else []
            if unknown:
                raise CompareInputError(f"{lp}: class {unknown[0]} is not in {yaml_path}'s names")
        items.append(_Item(image, _yolo_labels_fn(lines, names)))
    if images and not with_labels:
        raise CompareInputError(f"{root}: no YOLO label file for any image (looked for labels/ beside images/)")
    return items, notes


def _yolo_labels_fn(lines, names):
    """Labels of one image as a function of its (width, height): YOLO's coordinates are normalised."""

    def make(width: int, height: int) -> tuple[Label, ...]:
        out = []
        for ln in lines:
            xc, yc, w, h = ln.box
            kps = None
            if ln.keypoints is not None and ln.keypoints.shape == (N_HAND_KEYPOINTS, 3):
                kps = ln.keypoints.copy()
                kps[:, 0] = kps[:, 0] * width - 0.5  # Ultralytics' edges-at-0..1 -> pixel centres at integers
                kps[:, 1] = kps[:, 1] * height - 0.5
                kps[kps[:, 2] == 0, :2] = 0.0
            out.append(Label(category=names.get(ln.cls, str(ln.cls)),
                             bbox=((xc - w / 2) * width, (yc - h / 2) * height, w * width, h * height), keypoints=kps))
        return tuple(out)

    return make


# ----------------------------------------------------------------------------------------------- public API

def load_image_set(path, fmt: str = "auto", *, max_images: int | None = None, seed: int = 0) -> ImageSet:
    """Read an image set (see the module docstring for the layouts).

    Parameters
    ----------
    path : str or Path
        A gtforge dataset folder, a folder of images, a COCO JSON (or a folder holding one), a BOP split or
        dataset folder, a KITTI object folder, a YOLO dataset folder or its data.yaml.
    fmt : str
        ``"auto"`` (:func:`detect_format`) or one of :data:`FORMATS`.
    max_images : int or None
        Keep a seeded subsample of this many images (:func:`subsample`); None keeps all.
    seed : int
        Seed of the subsample.

    Returns
    -------
    ImageSet
        Records in the layout's order (sorted paths, or scene/image order), each with its stored size.

    Raises
    ------
    CompareInputError
        Naming the path (and file, line or key): missing, empty or unreadable folder, no images, an image that
        is missing or unreadable, labels that do not parse, an unknown ``fmt``.
    """
    p = Path(path)
    if fmt not in ("auto", *FORMATS):
        raise CompareInputError(f"{p}: unknown format {fmt!r}; choose auto or one of {', '.join(FORMATS)}")
    if not p.exists():
        raise CompareInputError(f"{p}: no such file or folder")
    if max_images is not None and max_images < 1:
        raise CompareInputError(f"{p}: max_images must be >= 1, got {max_images}")
    fmt = detect_format(p) if fmt == "auto" else fmt
    if fmt == "gtforge":
        records, notes = _load_gtforge(p, max_images, seed)
    else:
        try:
            loader = {"folder": _load_folder, "coco": _load_coco, "bop": _load_bop, "kitti": _load_kitti,
                      "yolo": _load_yolo}[fmt]
            items, notes = loader(p)
        except OSError as e:
            raise CompareInputError(f"{p}: cannot be read ({e})") from None
        items = [items[i] for i in subsample(len(items), max_images, seed)]
        records, resized = [], 0
        for it in items:
            w, h = _header_size(it.path)
            resized += it.width is not None and (w, h) != (it.width, it.height)
            labels = it.labels(w, h) if callable(it.labels) else it.labels
            records.append(ImageRecord(it.path, w, h, labels, group=it.group))
        if resized:
            notes = [*notes, f"{resized} images are not the size their labels file gives: boxes kept as written, "
                             "sizes taken from the image files"]
    if not records:
        raise CompareInputError(f"{p}: no images found")
    sizes = Counter((r.width, r.height) for r in records)
    if len(sizes) > 1:
        w, h = common_size(records)
        notes = [*notes, f"images of {len(sizes)} sizes: image statistics resize them to the most common, {w}x{h}"]
    return ImageSet(root=p, format=fmt, records=tuple(records), notes=tuple(notes))


def read_rgb(record: ImageRecord, size: tuple[int, int] | None = None) -> np.ndarray:
    """The record's image as (H, W, 3) uint8 RGB (grey, palette and alpha images converted; 16-bit grey scaled
    to 8 bits; EXIF orientation ignored: pixels as stored, as the labels refer to them).

    ``size`` (w, h): resized with PIL's bilinear filter, which widens its support when it shrinks (antialiased).

    Raises
    ------
    CompareInputError
        Naming the file: missing, not an image, or truncated.
    """
    try:
        with Image.open(record.path) as im:
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: 0..65535 -> 0..255
                arr = np.asarray(im, dtype=np.float64)
                scale = 255.0 / 65535.0 if arr.max() > 255 else 1.0
                rgb = Image.fromarray(np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8)).convert("RGB")
            else:
                rgb = im.convert("RGB")
            if size is not None and tuple(size) != rgb.size:
                rgb = rgb.resize((int(size[0]), int(size[1])), Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8).copy()
    except FileNotFoundError:
        raise CompareInputError(f"{record.path}: image not found") from None
    except DECODE_ERRORS as e:
        raise CompareInputError(f"{record.path}: not a readable image ({e})") from None


def image_array(image_set: ImageSet, size: tuple[int, int], *, max_images: int | None = None,
                seed: int = 0) -> np.ndarray:
    """(N, h, w, 3) uint8 of (a seeded subsample, :func:`subsample`, of) the set, all resized to ``size`` = (w, h).

    Raises CompareInputError for an unreadable image (naming it) or an empty set.
    """
    if not image_set.records:
        raise CompareInputError(f"{image_set.root}: no images")
    idx = subsample(len(image_set.records), max_images, seed)
    w, h = int(size[0]), int(size[1])
    out = np.empty((len(idx), h, w, 3), dtype=np.uint8)
    for k, i in enumerate(idx):
        out[k] = read_rgb(image_set.records[i], (w, h))
    return out
