"""Reading datasets gtforge wrote, from their files only (for ``verify``, ``stats``, ``preview``).

:func:`open_dataset` checks that a folder is a complete gtforge dataset and
raises :class:`DatasetError` (the CLI exits 2) naming what is missing. Frames
and instances are then read uniformly from the BOP files, or from the COCO
fragments of a COCO-only build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .atomic import TEMP_PREFIX, load_json
from .bop import (
    APPEARANCE_FILE, DISTRACTOR_MODELS, ENV_FILE, HANDS_FILE, OCCLUSION_FILE, distractor_poses, from_bop_bbox,
    mask_relpath, pose_from_mm, read_cam_dist, read_mask, scene_dirs,
)
from .coco import SCENE_FILE as COCO_SCENE_FILE
from .coco import bop_image, coco_path, decode_rle


#: Dataset-level metadata written by the build: software version, recipe, formats, split, scene count, classes.
META_FILE = "gtforge.json"
#: The resolved recipe (after ``--set``) written by the build.
RECIPE_COPY = "recipe.yaml"


class DatasetError(Exception):
    """The folder is not a gtforge dataset, or is incomplete; the message says what is missing."""


@dataclass
class Instance:
    """One object in one image, as written.

    ``cam_T_model`` is (4, 4) float64 in metres (from ``cam_R_m2c``/``cam_t_m2c``; None for hands);
    boxes are [x, y, w, h] pixels; ``mask_source`` is a PNG path or a COCO RLE dict (``mask_visib()``
    decodes it); hands have ``keypoints`` ([x, y, v] * 21, COCO style) and ``hand_id``.
    """

    gt_id: int | None
    obj_id: int
    cam_T_model: np.ndarray | None
    bbox_visib: list
    bbox_obj: list
    visib_fract: float
    px_count_visib: int
    truncation: float | None
    occlusion: float | None
    occlusion_level: int | None
    mask_source: object = None
    keypoints: list | None = None  # COCO [x, y, v] * n, when the dataset has them
    hand_id: int | None = None

    def mask_visib(self, shape) -> np.ndarray:
        """Visible mask (H, W) bool (all False when the instance has no visible pixel)."""
        if self.mask_source is None:
            return np.zeros(shape, bool)
        if isinstance(self.mask_source, dict):
            return decode_rle(self.mask_source)
        return read_mask(self.mask_source)


@dataclass
class Distractor:
    """An unlabelled distractor of a scene, as written in ``scene_env.json``.

    ``obj_id`` names ``models_distractors/obj_{obj_id:06d}.ply``; ``world_T_model`` is (4, 4) float64,
    metres, world frame (``cam_T_world @ world_T_model`` places it in a frame's camera).
    """

    obj_id: int
    world_T_model: np.ndarray


@dataclass
class Frame:
    """One image: ids, files, camera (K (3, 3) pixels, ``cam_T_world`` (4, 4) metres), instances."""

    scene_id: int
    im_id: int
    scene_dir: Path
    rgb_path: Path
    depth_path: Path | None
    depth_scale: float
    K: np.ndarray
    cam_T_world: np.ndarray
    instances: list[Instance] = field(default_factory=list)
    width: int = 0  # of this image (AR photos may differ from camera.json)
    height: int = 0
    dist: tuple | None = None  # the lens (model, coeffs) of scene_camera.json's cam_dist; None: pinhole


class Dataset:
    """A gtforge dataset folder (see :func:`open_dataset`)."""

    def __init__(self, root: Path, meta: dict):
        self.root = root
        self.meta = meta
        self.split = meta["split"]
        self.formats = meta["formats"]
        self.camera = json.loads((root / "camera.json").read_text())
        self.classes = {int(k): v for k, v in meta.get("classes", {}).items()}
        self.split_dir = root / self.split
        self.hand_category = next((k for k, v in self.classes.items() if v.get("set") == "hand"), None)

    @property
    def has_bop(self) -> bool:
        return "bop" in self.formats

    @property
    def has_coco(self) -> bool:
        return "coco" in self.formats

    def class_name(self, obj_id: int) -> str:
        return self.classes.get(obj_id, {}).get("name", f"obj_{obj_id:06d}")

    def scene_dirs(self) -> list[Path]:
        """The complete scene folders, in scene order."""
        return scene_dirs(self.root, self.split)

    def frame_ids(self) -> list[tuple[Path, int]]:
        """(scene folder, im_id) of every image, in order (from ``scene_camera.json``)."""
        out = []
        for sd in self.scene_dirs():
            out.extend((sd, im_id) for im_id in sorted(load_json(sd / "scene_camera.json")))
        return out

    def env(self, scene_dir: Path) -> dict | None:
        """The scene's ``scene_env.json`` (static geometry, distractor poses), None when absent."""
        p = scene_dir / ENV_FILE
        return load_json(p) if p.is_file() else None

    def distractors(self, scene_dir: Path) -> list[Distractor]:
        """The scene's unlabelled distractors from ``scene_env.json`` (empty when none were written)."""
        return [Distractor(obj_id, T) for obj_id, T in distractor_poses(self.env(scene_dir))]

    @property
    def distractor_models_dir(self) -> Path | None:
        """``models_distractors/`` (BOP layout, mm) when the build wrote it, else None."""
        d = self.root / DISTRACTOR_MODELS
        return d if (d / "models_info.json").is_file() else None

    def appearance(self, scene_dir: Path) -> dict | None:
        """The scene's ``scene_appearance.json`` (``formats.bop.scene_appearance``); None for builds that
        did not record it."""
        p = scene_dir / APPEARANCE_FILE
        return json.loads(p.read_text()) if p.is_file() else None

    def frames(self, which: list[tuple[Path, int]] | None = None):
        """Yield :class:`Frame` objects (all, or the given (scene folder, im_id) pairs)."""
        cache: dict = {}
        for sd, im_id in which if which is not None else self.frame_ids():
            if sd not in cache:
                cache.clear()
                cache[sd] = self._scene_files(sd)
            yield self._frame(sd, im_id, cache[sd])

    def _scene_files(self, sd: Path) -> dict:
        files = {"camera": load_json(sd / "scene_camera.json")}
        if self.has_bop:
            files["gt"] = load_json(sd / "scene_gt.json")
            files["gt_info"] = load_json(sd / "scene_gt_info.json")
            files["occ"] = load_json(sd / OCCLUSION_FILE)
            files["hands"] = load_json(sd / HANDS_FILE) if (sd / HANDS_FILE).is_file() else {}
        else:
            frag = load_json(sd / COCO_SCENE_FILE)
            by_image: dict = {}
            for a in frag["annotations"]:
                by_image.setdefault(bop_image(a["image_id"])[1], []).append(a)
            files["coco"] = by_image
        return files

    def _frame(self, sd: Path, im_id: int, f: dict) -> Frame:
        cam = f["camera"][im_id]
        rgb = next(iter(sorted((sd / "rgb").glob(f"{im_id:06d}.*"))), sd / "rgb" / f"{im_id:06d}.jpg")
        depth = sd / "depth" / f"{im_id:06d}.png"
        if rgb.is_file():
            with Image.open(rgb) as im:  # reads the header only
                w, h = im.size
        else:  # a build with output.layers.rgb false (labels only): the camera's size
            w, h = int(self.camera["width"]), int(self.camera["height"])
        fr = Frame(scene_id=int(sd.name), im_id=im_id, scene_dir=sd, rgb_path=rgb,
                   depth_path=depth if depth.is_file() else None, depth_scale=float(cam["depth_scale"]),
                   K=np.asarray(cam["cam_K"], dtype=np.float64).reshape(3, 3),
                   cam_T_world=pose_from_mm(cam["cam_R_w2c"], cam["cam_t_w2c"]), width=w, height=h,
                   dist=read_cam_dist(cam))
        if "gt" in f:
            for gt_id, (g, info, occ) in enumerate(zip(f["gt"][im_id], f["gt_info"][im_id], f["occ"][im_id])):
                mpath = sd / mask_relpath("mask_visib", im_id, gt_id)
                fr.instances.append(Instance(
                    gt_id=gt_id, obj_id=int(g["obj_id"]), cam_T_model=pose_from_mm(g["cam_R_m2c"], g["cam_t_m2c"]),
                    bbox_visib=from_bop_bbox(info["bbox_visib"]), bbox_obj=from_bop_bbox(info["bbox_obj"]),
                    visib_fract=info["visib_fract"],
                    px_count_visib=info["px_count_visib"], truncation=occ["truncation"], occlusion=occ["occlusion"],
                    occlusion_level=occ["occlusion_level"], mask_source=mpath if info["px_count_visib"] else None))
            for h in f["hands"].get(im_id, []):
                kps = []
                for uv, v in zip(h["keypoints_2d"], h["keypoint_visibility"]):
                    kps.extend([0.0, 0.0, 0] if v == 0 or uv is None else [uv[0], uv[1], v])
                fr.instances.append(Instance(
                    gt_id=None, obj_id=self.hand_category or 0, cam_T_model=None,
                    bbox_visib=from_bop_bbox(h["bbox_visib"]), bbox_obj=from_bop_bbox(h["bbox_obj"]),
                    visib_fract=h["visib_fract"], px_count_visib=h["px_count_visib"],
                    truncation=h["truncation"], occlusion=h["occlusion"], occlusion_level=h["occlusion_level"],
                    mask_source=sd / h["mask_visib"] if h["px_count_visib"] else None, keypoints=kps,
                    hand_id=h["hand_id"]))
        else:
            for a in f["coco"].get(im_id, []):
                if "hand_id" in a:
                    fr.instances.append(Instance(
                        gt_id=None, obj_id=a["category_id"], cam_T_model=None, bbox_visib=a["bbox"],
                        bbox_obj=a["bbox_amodal"], visib_fract=a["visib_fract"], px_count_visib=a["area"],
                        truncation=a["truncation"], occlusion=a["occlusion"], occlusion_level=a["occlusion_level"],
                        mask_source=a["segmentation"], keypoints=a["keypoints"], hand_id=a["hand_id"]))
                    continue
                fr.instances.append(Instance(
                    gt_id=a["gt_id"], obj_id=a["obj_id"], cam_T_model=pose_from_mm(a["cam_R_m2c"], a["cam_t_m2c"]),
                    bbox_visib=a["bbox"], bbox_obj=a["bbox_amodal"], visib_fract=a["visib_fract"],
                    px_count_visib=a["area"], truncation=a["truncation"], occlusion=a["occlusion"],
                    occlusion_level=a["occlusion_level"], mask_source=a["segmentation"],
                    keypoints=a.get("keypoints")))
        return fr


def open_dataset(path) -> Dataset:
    """Open a dataset folder written by ``gtforge build``.

    Raises
    ------
    DatasetError
        If the folder does not exist, is not a gtforge dataset (no readable ``gtforge.json``), or is
        incomplete: missing ``camera.json``, split folder, ``models/`` (BOP), the COCO file, scene
        folders still being written (``.tmp_*``) or fewer scenes than the recipe asked for.
    """
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    meta_path = root / META_FILE
    if not meta_path.is_file():
        raise DatasetError(f"{root}: not a gtforge dataset (no {META_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
        meta["split"], meta["formats"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DatasetError(f"{meta_path}: unreadable ({type(e).__name__}: {e})") from None
    missing = []
    if not (root / "camera.json").is_file():
        missing.append("camera.json")
    split_dir = root / meta["split"]
    if not split_dir.is_dir():
        missing.append(f"{meta['split']}/ (no scene was completed)")
    if "bop" in meta["formats"] and not (root / "models" / "models_info.json").is_file():
        missing.append("models/models_info.json")
    if "coco" in meta["formats"] and not coco_path(root, meta["split"]).is_file():
        missing.append(coco_path(root, meta["split"]).name)
    if missing:
        raise DatasetError(f"{root}: incomplete dataset, missing: {', '.join(missing)}; "
                           "run the same build command again to complete it")
    done = scene_dirs(root, meta["split"])
    tmp = [p for p in split_dir.iterdir() if p.is_dir() and p.name.startswith(TEMP_PREFIX)]
    expected = meta.get("num_scenes")
    if tmp or (expected is not None and len(done) < expected):
        raise DatasetError(f"{root}: partial dataset: {len(done)} of {expected} scenes complete"
                           + (f", {len(tmp)} being written" if tmp else "")
                           + "; run the same build command again to complete it")
    return Dataset(root, meta)
