"""BOP writer and reader (scenewise format).

Format reference: BOP toolkit ``docs/bop_datasets_format.md``
(github.com/thodan/bop_toolkit). Layout written::

    DATASET/
      camera.json                         cx, cy, fx, fy, width, height, depth_scale
      models/models_info.json             per obj_id: diameter, min_x/y/z, size_x/y/z (mm)
      models/obj_{obj_id:06d}.ply         model in mm (vertex normals, vertex colours)
      {split}/{scene_id:06d}/
        rgb/{im_id:06d}.jpg|png
        depth/{im_id:06d}.png             uint16; depth_mm = value * depth_scale
        mask/{im_id:06d}_{gt_id:06d}.png        amodal, 0/255
        mask_visib/{im_id:06d}_{gt_id:06d}.png  visible, 0/255
        scene_camera.json                 cam_K, depth_scale, cam_R_w2c, cam_t_w2c (mm)
        scene_gt.json                     obj_id, cam_R_m2c (row-major), cam_t_m2c (mm)
        scene_gt_info.json                bbox_obj, bbox_visib, px_count_*, visib_fract
        scene_gt_occlusion.json           gtforge side file (ignored by the BOP toolkit):
                                          inst_id, truncation, occlusion, occlusion_level, px_count_in_frame
        scene_env.json                    gtforge side file: the static geometry (floor square at z = 0,
                                          box walls) in the world frame, mm, for independent checks
        scene_hands.json                  gtforge side file, per image a list of hands (not in scene_gt:
                                          hands are not rigid): model parameters in the camera frame,
                                          21 keypoints (camera frame in metres, pixels, visibility, occluder), masks,
                                          boxes and occlusion figures; masks in mask_hand/ and
                                          mask_visib_hand/{im_id:06d}_{hand_id:06d}.png; optional posed
                                          vertices in hands/{im_id:06d}_{hand_id:06d}.npz

``gt_id`` is the index in the image's ``scene_gt`` list. A scene folder is
written under a temporary name (``.tmp_{scene_id:06d}``, :class:`SceneFolder`)
and renamed when complete, so an interrupted build never leaves a half-written
scene. ``scene_camera.json`` and the images are written for every build (other
formats refer to them); the remaining BOP files when ``bop`` is an output format.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from ..scenes.description import View
from ..scenes.transforms import invert_pose
from .annotate import InstanceLabel

log = logging.getLogger(__name__)

SIDE_FILE = "scene_gt_occlusion.json"
ENV_FILE = "scene_env.json"
HANDS_FILE = "scene_hands.json"


def _fl(a) -> list[float]:
    return [float(x) for x in np.asarray(a, dtype=np.float64).reshape(-1)]


def write_json_atomic(path: Path, obj, per_key_lines: bool = False) -> None:
    """Write JSON to ``path`` via a temporary file and an atomic rename.

    With ``per_key_lines``, a top-level mapping is written one key per line (as the BOP toolkit does).
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        if per_key_lines and isinstance(obj, dict):
            f.write("{\n")
            items = list(obj.items())
            for i, (k, v) in enumerate(items):
                f.write(f"  {json.dumps(str(k))}: {json.dumps(v)}" + (",\n" if i < len(items) - 1 else "\n"))
            f.write("}\n")
        else:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_json(path) -> dict:
    """Read a JSON file; keys that are decimal integers are returned as int (as the BOP toolkit does)."""
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict) and data and all(isinstance(k, str) and k.lstrip("-").isdigit() for k in data):
        return {int(k): v for k, v in data.items()}
    return data


def depth_to_png_values(depth_m: np.ndarray, depth_scale: float) -> tuple[np.ndarray, int]:
    """Depth (H, W) metres -> uint16 PNG values, depth_mm = value * depth_scale.

    Returns (values (H, W) uint16, number of pixels beyond the uint16 range, written as 0 = invalid).
    """
    v = np.round(np.asarray(depth_m, dtype=np.float64) * 1000.0 / depth_scale)
    over = v > 65535
    v[over] = 0
    return v.astype(np.uint16), int(over.sum())


def read_depth(path, depth_scale: float) -> np.ndarray:
    """Read a BOP depth PNG -> (H, W) float64 metres (0 = invalid)."""
    return np.asarray(Image.open(path), dtype=np.float64) * depth_scale / 1000.0


def read_mask(path) -> np.ndarray:
    """Read a BOP mask PNG (0/255) -> (H, W) bool."""
    return np.asarray(Image.open(path)) > 127


def camera_json(K: np.ndarray, width: int, height: int, depth_scale: float) -> dict:
    """The dataset-level ``camera.json`` content."""
    return {"cx": float(K[0, 2]), "cy": float(K[1, 2]), "depth_scale": float(depth_scale), "fx": float(K[0, 0]),
            "fy": float(K[1, 1]), "height": int(height), "width": int(width)}


class SceneFolder:
    """A scene folder written under a temporary name and renamed by :meth:`commit`.

    ``path`` is where writers put files (``{split}/.tmp_{scene_id:06d}``); ``final`` is
    ``{split}/{scene_id:06d}``. A stale temporary folder is removed on creation.
    """

    def __init__(self, root, split: str, scene_id: int):
        self.final = Path(root) / split / f"{scene_id:06d}"
        self.path = Path(root) / split / f".tmp_{scene_id:06d}"
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)

    def commit(self) -> Path:
        """Rename to the final name. Raises FileExistsError if it exists (a scene is never written twice)."""
        if self.final.exists():
            raise FileExistsError(f"{self.final} exists already")
        os.replace(self.path, self.final)
        return self.final


def rgb_relpath(im_id: int, image_format: str) -> str:
    """Path of an RGB image inside its scene folder."""
    return f"rgb/{im_id:06d}.{image_format}"


class BopSceneWriter:
    """Writes one BOP scene's images, masks and JSON files into a :class:`SceneFolder`.

    Parameters
    ----------
    folder : SceneFolder
    depth_scale : float
        BOP depth scale (depth_mm = value * depth_scale).
    image_format : 'jpg' or 'png'
    jpg_quality : int
    layers : object with bool attributes rgb, depth, mask, mask_visib (None: all)
    write_gt : bool
        Write masks and ``scene_*.json`` (False when only the images are wanted, e.g. COCO-only builds).
    """

    def __init__(self, folder: SceneFolder, depth_scale: float, image_format: str = "jpg", jpg_quality: int = 95,
                 layers=None, write_gt: bool = True, env: dict | None = None):
        self.folder, self.tmp = folder, folder.path
        self.depth_scale, self.image_format, self.jpg_quality = depth_scale, image_format, jpg_quality
        self.layers, self.write_gt, self.env = layers, write_gt, env
        for sub in ("rgb", "depth", "mask", "mask_visib"):
            if self._want(sub):
                (self.tmp / sub).mkdir(parents=True, exist_ok=True)
        self.scene_camera, self.scene_gt, self.scene_gt_info, self.scene_occl = {}, {}, {}, {}
        self.scene_hands: dict = {}
        self.write_hand_vertices = False
        self.depth_overflow = 0

    def _want(self, layer: str) -> bool:
        if layer.startswith("mask") and not self.write_gt:
            return False
        return self.layers is None or bool(getattr(self.layers, layer))

    def add_frame(self, im_id: int, view: View, rgb: np.ndarray | None, depth: np.ndarray,
                  labels: list[InstanceLabel], hands=()) -> None:
        """Write one image's files and record its JSON entries.

        Parameters
        ----------
        im_id : int
        view : View
            Camera (K, OpenCV pose ``world_T_cam`` in metres).
        rgb : (H, W, 3) uint8 or None
        depth : (H, W) float32, metres
        labels : list of InstanceLabel
            In gt_id order.
        hands : list of HandLabel
            Written to ``scene_hands.json`` and the hand mask folders (with ``write_gt``).
        """
        if self._want("rgb") and rgb is not None:
            p = self.tmp / rgb_relpath(im_id, self.image_format)
            img = Image.fromarray(rgb)
            if self.image_format == "jpg":
                img.save(p, quality=self.jpg_quality)
            else:
                img.save(p, compress_level=1)
        if self._want("depth"):
            vals, over = depth_to_png_values(depth, self.depth_scale)
            self.depth_overflow += over
            Image.fromarray(vals).save(self.tmp / "depth" / f"{im_id:06d}.png", compress_level=1)
        for gt_id, lab in enumerate(labels):
            if self._want("mask"):
                Image.fromarray(lab.mask.astype(np.uint8) * 255).save(
                    self.tmp / "mask" / f"{im_id:06d}_{gt_id:06d}.png", compress_level=1)
            if self._want("mask_visib"):
                Image.fromarray(lab.mask_visib.astype(np.uint8) * 255).save(
                    self.tmp / "mask_visib" / f"{im_id:06d}_{gt_id:06d}.png", compress_level=1)
        cam_T_world = invert_pose(view.world_T_cam)
        self.scene_camera[im_id] = {"cam_K": _fl(view.K), "depth_scale": float(self.depth_scale),
                                    "cam_R_w2c": _fl(cam_T_world[:3, :3]), "cam_t_w2c": _fl(cam_T_world[:3, 3] * 1000.0)}
        self.scene_gt[im_id] = [{"cam_R_m2c": _fl(lab.cam_R_m2c), "cam_t_m2c": _fl(lab.cam_t_m2c * 1000.0),
                                 "obj_id": int(lab.obj_id)} for lab in labels]
        self.scene_gt_info[im_id] = [{"bbox_obj": lab.bbox_obj, "bbox_visib": lab.bbox_visib,
                                      "px_count_all": lab.px_count_all, "px_count_valid": lab.px_count_valid,
                                      "px_count_visib": lab.px_count_visib, "visib_fract": float(lab.visib_fract)}
                                     for lab in labels]
        self.scene_occl[im_id] = [{"inst_id": lab.inst_id, "truncation": lab.truncation, "occlusion": lab.occlusion,
                                   "occlusion_level": lab.occlusion_level, "px_count_in_frame": lab.px_count_in_frame}
                                  for lab in labels]
        if self.write_gt and hands:
            gt_of = {lab.inst_id: g for g, lab in enumerate(labels)}
            self.scene_hands[im_id] = [self._hand_entry(im_id, k, h, gt_of) for k, h in enumerate(hands)]

    def _hand_entry(self, im_id: int, k: int, h, gt_of: dict) -> dict:
        st = h.stats
        names = {}
        for layer, key in (("mask_hand", "mask"), ("mask_visib_hand", "mask_visib")):
            d = self.tmp / layer
            d.mkdir(exist_ok=True)
            Image.fromarray(st[key].astype(np.uint8) * 255).save(d / f"{im_id:06d}_{k:06d}.png", compress_level=1)
            names[key] = f"{layer}/{im_id:06d}_{k:06d}.png"
        if self.write_hand_vertices:
            (self.tmp / "hands").mkdir(exist_ok=True)
            np.savez_compressed(self.tmp / "hands" / f"{im_id:06d}_{k:06d}.npz",
                                vertices_cam=h.vertices_cam.astype(np.float32), faces=h.faces.astype(np.int32))
            names["vertices"] = f"hands/{im_id:06d}_{k:06d}.npz"
        uv = [None if not np.all(np.isfinite(p)) else [float(p[0]), float(p[1])] for p in h.keypoints_2d]
        return {
            "hand_id": k, "inst_id": int(h.inst_id), "handedness": h.handedness, "backend": h.backend,
            "flat_hand_mean": bool(h.flat_hand_mean), "global_orient": _fl(h.global_orient),
            "hand_pose": _fl(h.hand_pose), "betas": _fl(h.betas), "transl_m": _fl(h.transl),
            "keypoints_cam_m": [_fl(p) for p in h.keypoints_cam], "keypoints_2d": uv,
            "keypoint_visibility": [int(v) for v in h.visibility], "keypoint_occluder": list(h.occluder),
            "grasped_gt_id": gt_of.get(h.grasped_inst) if h.grasped_inst is not None else None,
            "bbox_obj": st["bbox_obj"], "bbox_visib": st["bbox_visib"], "px_count_all": st["px_count_all"],
            "px_count_valid": st["px_count_valid"], "px_count_visib": st["px_count_visib"],
            "visib_fract": float(st["visib_fract"]), "truncation": st["truncation"], "occlusion": st["occlusion"],
            "occlusion_level": st["occlusion_level"], **names}

    def finish(self) -> None:
        """Write the scene's JSON files into the folder (``scene_camera.json`` always; the rest with ``write_gt``)."""
        write_json_atomic(self.tmp / "scene_camera.json", self.scene_camera, per_key_lines=True)
        if self.env is not None:
            write_json_atomic(self.tmp / ENV_FILE, self.env)
        if self.write_gt:
            write_json_atomic(self.tmp / "scene_gt.json", self.scene_gt, per_key_lines=True)
            write_json_atomic(self.tmp / "scene_gt_info.json", self.scene_gt_info, per_key_lines=True)
            write_json_atomic(self.tmp / SIDE_FILE, self.scene_occl, per_key_lines=True)
            if self.scene_hands:
                write_json_atomic(self.tmp / HANDS_FILE, self.scene_hands, per_key_lines=True)
        if self.depth_overflow:
            log.warning("%s: %d depth pixels beyond the uint16 range were written as 0 (raise output.depth_scale)",
                        self.folder.final, self.depth_overflow)


def scene_env(scene) -> dict:
    """``scene_env.json`` content of a scene description: floor side (mm) and wall boxes (extents mm, pose)."""
    ar = scene.background is not None  # AR: the ground is the photo's (no floor); real objects are boxes
    boxes = scene.occluders if ar else scene.walls
    return {"floor_size_mm": 0.0 if ar else float(scene.floor.size * 1000.0), "ar": ar,
            "boxes": [{"extents_mm": _fl(np.asarray(w.extents) * 1000.0), "world_R_box": _fl(w.world_T_box[:3, :3]),
                       "world_t_box_mm": _fl(w.world_T_box[:3, 3] * 1000.0)} for w in boxes]}


def model_info(vertices_mm: np.ndarray) -> dict:
    """BOP ``models_info.json`` entry from model vertices (n, 3) in mm.

    ``diameter`` is the largest distance between two vertices (taken over the
    convex hull's vertices, where it is attained); min/size are of the
    axis-aligned bounding box.
    """
    from scipy.spatial.distance import pdist

    v = np.asarray(vertices_mm, dtype=np.float64)
    try:
        hv = trimesh.convex.convex_hull(v).vertices
    except Exception:  # flat point sets
        hv = v
    diameter = float(pdist(hv).max()) if len(hv) > 1 else 0.0
    lo, hi = v.min(axis=0), v.max(axis=0)
    size = hi - lo
    return {"diameter": diameter, "min_x": float(lo[0]), "min_y": float(lo[1]), "min_z": float(lo[2]),
            "size_x": float(size[0]), "size_y": float(size[1]), "size_z": float(size[2])}


def write_models(root, library, obj_ids) -> None:
    """Write ``models/obj_{id:06d}.ply`` (mm, vertex normals and colours) and ``models_info.json``.

    Files already present are kept (their content is a function of the recipe).
    ``models_info.json`` is rewritten to list exactly ``obj_ids``.
    """
    mdir = Path(root) / "models"
    mdir.mkdir(parents=True, exist_ok=True)
    info = {}
    for obj_id in sorted(set(int(i) for i in obj_ids)):
        asset = library.get(obj_id)
        mesh = asset.mesh
        v_mm = np.asarray(mesh.vertices, dtype=np.float64) * 1000.0
        info[obj_id] = model_info(v_mm)
        path = mdir / f"obj_{obj_id:06d}.ply"
        if path.exists():
            continue
        try:
            colors = mesh.visual.to_color().vertex_colors if mesh.visual.kind is not None else None
        except Exception:
            colors = None
        if colors is None or len(colors) != len(v_mm):
            rgba = asset.base_color if asset.base_color is not None else np.array([0.7, 0.7, 0.7, 1.0])
            colors = np.tile((np.asarray(rgba) * 255).astype(np.uint8), (len(v_mm), 1))
        out = trimesh.Trimesh(v_mm, mesh.faces, vertex_colors=colors, process=False)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(trimesh.exchange.ply.export_ply(out, encoding="binary", vertex_normal=True))
        os.replace(tmp, path)
    write_json_atomic(mdir / "models_info.json", info)


def read_scene(scene_dir) -> dict:
    """Read a scene folder's JSON files.

    Returns
    -------
    dict with keys ``camera``, ``gt``, ``gt_info``, ``occlusion`` (each {im_id: ...}).
    Raises FileNotFoundError / json.JSONDecodeError for missing or broken files.
    """
    d = Path(scene_dir)
    return {"camera": load_json(d / "scene_camera.json"), "gt": load_json(d / "scene_gt.json"),
            "gt_info": load_json(d / "scene_gt_info.json"), "occlusion": load_json(d / SIDE_FILE)}


def gt_pose(entry: dict) -> np.ndarray:
    """(4, 4) float64 ``cam_T_model`` in **metres** from a ``scene_gt`` entry (mm in the file)."""
    T = np.eye(4)
    T[:3, :3] = np.asarray(entry["cam_R_m2c"], dtype=np.float64).reshape(3, 3)
    T[:3, 3] = np.asarray(entry["cam_t_m2c"], dtype=np.float64) / 1000.0
    return T
