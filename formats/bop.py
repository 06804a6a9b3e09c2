"""BOP scenewise format: writers and readers.

Format reference: BOP toolkit ``docs/bop_datasets_format.md``
(github.com/thodan/bop_toolkit). Layout written::

    DATASET/
      camera.json                         cx, cy, fx, fy, width, height, depth_scale
      models/models_info.json             per obj_id: diameter, min_x/y/z, size_x/y/z (mm), symmetries_discrete,
                                          symmetries_continuous (BOP's format, mm)
      models/obj_{obj_id:06d}.ply         model in mm (vertex normals, vertex colours)
      models_distractors/models_info.json, obj_{obj_id:06d}.ply
                                          gtforge: the distractor models placed in any scene (same layout as
                                          models/, mm, without symmetry fields; obj_ids of the distractor
                                          library, their own id space), written whatever output.formats says
      {split}/{scene_id:06d}/
        rgb/{im_id:06d}.jpg|png
        depth/{im_id:06d}.png             uint16; depth_mm = value * depth_scale
        depth_noisy/{im_id:06d}.png       with output.depth_noisy: a simulated depth sensor's output, same
                                          encoding, 0 = invalid; scene_depth_noisy.json: per im_id the drawn
                                          sensor parameters (render/depth_sensor.py)
        disparity/{im_id:06d}.png         with camera.stereo, left views only: uint16, disparity (pixels) =
                                          value * disparity_scale (scene_camera.json), 0 = no surface;
                                          d = fx * baseline / z. The right views: split {split}_right
        mask/{im_id:06d}_{gt_id:06d}.png        amodal, 0/255
        mask_visib/{im_id:06d}_{gt_id:06d}.png  visible, 0/255
        scene_camera.json                 cam_K, depth_scale, cam_R_w2c, cam_t_w2c (mm); with camera.stereo
                                          also stereo_baseline (mm) and, left, disparity_scale
        scene_gt.json                     obj_id, cam_R_m2c (row-major), cam_t_m2c (mm)
        scene_gt_info.json                bbox_obj, bbox_visib, px_count_*, visib_fract
        scene_gt_occlusion.json           gtforge side file (ignored by the BOP toolkit):
                                          inst_id, truncation, occlusion, occlusion_level, px_count_in_frame
        scene_env.json                    gtforge side file: the static geometry (floor square at z = 0,
                                          box walls) in the world frame, mm, for independent checks, and
                                          "distractors": [{obj_id, world_R_m (9, row-major), world_t_mm (3)}]
                                          the settled poses of the unlabelled distractors (world frame;
                                          camera poses cam_R_w2c/cam_t_w2c are in scene_camera.json)
        scene_appearance.json             gtforge side file: how rgb/ was drawn (materials and textures of
                                          every target by gt_id and every distractor, floor, walls,
                                          backdrop, lights, ambient, shadows); with rgb/ the only files
                                          that change when only the appearance changes
        scene_effects.json                gtforge side file, when effects are on: per im_id the image
                                          effects drawn for rgb/ (render/effects.py); rgb-only like
                                          scene_appearance.json
        scene_hands.json                  gtforge side file, per image a list of hands (not in scene_gt:
                                          hands are not rigid): model parameters in the camera frame,
                                          21 keypoints (camera frame in metres, pixels, visibility, occluder), masks,
                                          boxes and occlusion figures; masks in mask_hand/ and
                                          mask_visib_hand/{im_id:06d}_{hand_id:06d}.png; optional posed
                                          vertices in hands/{im_id:06d}_{hand_id:06d}.npz

``gt_id`` is the index in the image's ``scene_gt`` list. A scene folder is
written under a temporary name (``formats.atomic.AtomicFolder``) and renamed when
complete, so an interrupted build never leaves a half-written scene.

Two writers share the layout: :class:`ImagesWriter` (``rgb/``, ``depth/``,
``scene_camera.json``, ``scene_env.json``, ``scene_appearance.json`` and, after the last
scene, ``models_distractors/``) runs for every build, because the other formats and
gtforge's inspection tools refer to these files; :class:`BopWriter` (registered as ``bop``)
adds the masks, ``scene_gt*.json``, the side files and, after the last scene, ``models/``.
Distractors (``SceneDescription.distractors``) occlude but are never labelled: they appear in
``scene_env.json``, ``scene_appearance.json`` and ``models_distractors/`` only, never in
``scene_gt*.json``, masks or any other format's labels.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image
from scipy.spatial.distance import pdist

from ..core.files import atomic_open
from ..core.geometry import invert_pose
from ..core.labels import VisibilityStats
from ..core.library import ModelLibrary
from .atomic import load_json, write_json_atomic
from .protocol import DatasetContext, FrameRecord, SceneContext

log = logging.getLogger(__name__)

OCCLUSION_FILE = "scene_gt_occlusion.json"
ENV_FILE = "scene_env.json"
HANDS_FILE = "scene_hands.json"
APPEARANCE_FILE = "scene_appearance.json"
#: Per-frame image-effect parameters (``effects``; render/effects.py), when any effect is on.
EFFECTS_FILE = "scene_effects.json"
#: Simulated depth-sensor layer (``output.depth_noisy``): folder of uint16 PNGs and its per-frame parameters.
DEPTH_NOISY_DIR = "depth_noisy"
DEPTH_NOISY_FILE = "scene_depth_noisy.json"
#: Stereo disparity layer of the left views (``camera.stereo``).
DISPARITY_DIR = "disparity"
#: Dataset-level folder of the distractor models (BOP ``models/`` layout, mm).
DISTRACTOR_MODELS = "models_distractors"


def _fl(a) -> list[float]:
    return [float(x) for x in np.asarray(a, dtype=np.float64).reshape(-1)]


def scene_path(root, split: str, scene_id: int) -> Path:
    """Final path of a scene folder: ``root/split/{scene_id:06d}``."""
    return Path(root) / split / f"{scene_id:06d}"


def scene_dirs(root, split: str) -> list[Path]:
    """The complete scene folders of a split, in scene order."""
    return sorted(p for p in (Path(root) / split).glob("[0-9]" * 6) if p.is_dir())


def rgb_relpath(im_id: int, image_format: str) -> str:
    """Path of an RGB image inside its scene folder (``rgb/{im_id:06d}.jpg|png``)."""
    return f"rgb/{im_id:06d}.{image_format}"


def mask_relpath(layer: str, im_id: int, gt_id: int) -> str:
    """Path of a mask inside its scene folder: ``{layer}/{im_id:06d}_{gt_id:06d}.png``."""
    return f"{layer}/{im_id:06d}_{gt_id:06d}.png"


def depth_to_png_values(depth_m: np.ndarray, depth_scale: float) -> tuple[np.ndarray, int]:
    """Depth (H, W) metres -> uint16 PNG values, depth_mm = value * depth_scale.

    Returns (values (H, W) uint16, number of pixels beyond the uint16 range, written as 0 = invalid).
    """
    v = np.round(np.asarray(depth_m, dtype=np.float64) * 1000.0 / depth_scale)
    over = v > 65535
    v[over] = 0
    return v.astype(np.uint16), int(over.sum())


def disparity_to_png_values(disparity: np.ndarray, scale: float) -> np.ndarray:
    """Disparity (H, W) float, pixels (0: no surface) -> uint16 PNG values round(d / scale).

    ``scale`` comes from :func:`gtforge.config.stereo.disparity_scale`, chosen so that every disparity of the
    build fits (KITTI's stereo devkit: value / 256); a value that would not fit raises ValueError.
    """
    vals = np.rint(np.asarray(disparity, np.float64) / scale)
    if vals.size and (vals.max() > np.iinfo(np.uint16).max or vals.min() < 0):
        raise ValueError(f"disparity outside 0..{np.iinfo(np.uint16).max} x {scale} px")
    return vals.astype(np.uint16)


def read_disparity(path, scale: float) -> np.ndarray:
    """A disparity PNG -> (H, W) float64 pixels (0: no surface); inverse of :func:`disparity_to_png_values`."""
    return np.asarray(Image.open(path), dtype=np.float64) * scale


def read_depth(path, depth_scale: float) -> np.ndarray:
    """Read a BOP depth PNG -> (H, W) float64 metres (0 = invalid)."""
    return np.asarray(Image.open(path), dtype=np.float64) * depth_scale / 1000.0


def write_mask(path, mask: np.ndarray) -> None:
    """Write a boolean mask (H, W) as a 0/255 8-bit PNG."""
    Image.fromarray(mask.astype(np.uint8) * 255).save(path, compress_level=1)


def read_mask(path) -> np.ndarray:
    """Read a BOP mask PNG (0/255) -> (H, W) bool."""
    return np.asarray(Image.open(path)) > 127


def camera_json(K: np.ndarray, width: int, height: int, depth_scale: float, cam_dist: dict | None = None) -> dict:
    """The dataset-level ``camera.json`` content (K (3, 3) pixels, image size, depth scale; ``cam_dist``, the lens
    ``{"model", "coeffs"}`` (docs/conventions.md, "Lens distortion"), only when the camera has one)."""
    out = {"cx": float(K[0, 2]), "cy": float(K[1, 2]), "depth_scale": float(depth_scale), "fx": float(K[0, 0]),
           "fy": float(K[1, 1]), "height": int(height), "width": int(width)}
    if cam_dist is not None:
        out["cam_dist"] = cam_dist
    return out


def read_cam_dist(cam: dict) -> tuple[str, np.ndarray] | None:
    """The lens ``(model, coeffs)`` of a ``camera.json`` or ``scene_camera.json`` entry (its ``cam_dist``), or None
    (pinhole). ``coeffs`` float64, OpenCV order (radtan k1 k2 p1 p2 k3; fisheye k1 k2 k3 k4)."""
    d = cam.get("cam_dist")
    if d is None:
        return None
    return str(d["model"]), np.asarray(d["coeffs"], dtype=np.float64)


def to_bop_bbox(bbox) -> list[int]:
    """A box [x, y, w, h] with ``w = x_max - x_min + 1`` (gtforge's labels and COCO's ``toBbox``) -> BOP's box.

    BOP's ``bbox_obj``/``bbox_visib`` come from the toolkit's ``misc.calc_2d_bbox`` (bop_toolkit_lib/misc.py),
    which returns ``[x_min, y_min, x_max - x_min, y_max - y_min]``: one less in width and height, so a
    one-pixel mask has w = h = 0. The empty box stays [-1, -1, -1, -1] (``calc_gt_info``'s value).
    """
    x, y, w, h = (int(v) for v in bbox)
    return [-1, -1, -1, -1] if w <= 0 or h <= 0 else [x, y, w - 1, h - 1]


def from_bop_bbox(bbox) -> list[int]:
    """Inverse of :func:`to_bop_bbox`: a BOP box -> [x, y, w, h] with ``w = x_max - x_min + 1``."""
    x, y, w, h = (int(v) for v in bbox)
    return [-1, -1, -1, -1] if w < 0 or h < 0 else [x, y, w + 1, h + 1]


def visibility_entry(v: VisibilityStats) -> dict:
    """The ``scene_gt_info.json`` fields of one instance (BOP's names and meanings, core/labels.py; boxes in BOP's
    convention, :func:`to_bop_bbox`)."""
    return {"bbox_obj": to_bop_bbox(v.bbox_obj), "bbox_visib": to_bop_bbox(v.bbox_visib),
            "px_count_all": v.px_count_all, "px_count_valid": v.px_count_valid, "px_count_visib": v.px_count_visib,
            "visib_fract": float(v.visib_fract)}


def occlusion_entry(v: VisibilityStats) -> dict:
    """gtforge's occlusion figures of one instance (Unity Perception's definitions, core/labels.py)."""
    return {"truncation": v.truncation, "occlusion": v.occlusion, "occlusion_level": v.occlusion_level}


class ImagesWriter:
    """The frames of one scene in BOP's layout: ``rgb/``, ``depth/``, ``scene_camera.json``, ``scene_env.json``.

    Written for every build whatever ``output.formats`` says (COCO's ``file_name``, KITTI and the
    inspection tools refer to these files). ``output.layers.rgb`` / ``.depth`` turn the image layers off.
    """

    def __init__(self, ctx: SceneContext):
        out = ctx.output
        self.tmp, self.final = ctx.folder, scene_path(ctx.root, ctx.split, ctx.scene_id)
        self.depth_scale, self.image_format, self.jpg_quality = out.depth_scale, out.image_format, out.jpg_quality
        self.layers = out.layers
        self.env = scene_env(ctx.scene)
        self.appearance = scene_appearance(ctx.scene)
        for sub in ("rgb", "depth"):
            if getattr(self.layers, sub):
                (self.tmp / sub).mkdir(parents=True, exist_ok=True)
        self.scene_camera: dict = {}
        self.depth_overflow = 0
        self.noisy = out.depth_noisy is not None
        if self.noisy:
            (self.tmp / DEPTH_NOISY_DIR).mkdir(parents=True, exist_ok=True)
        self.scene_effects: dict = {}
        self.scene_depth_noisy: dict = {}

    def add_frame(self, frame: FrameRecord) -> None:
        """Write the RGB (JPEG quality ``frame.jpg_quality``, else ``jpg_quality``; or PNG), depth (uint16 PNG) and
        ``depth_noisy`` (same encoding) images; record the camera, the image effects and the depth-sensor draws."""
        im_id, view = frame.im_id, frame.view
        if self.layers.rgb and frame.rgb is not None:
            p = self.tmp / rgb_relpath(im_id, self.image_format)
            img = Image.fromarray(frame.rgb)
            if self.image_format == "jpg":
                img.save(p, quality=self.jpg_quality if frame.jpg_quality is None else int(frame.jpg_quality))
            else:
                img.save(p, compress_level=1)
        if self.layers.depth:
            vals, over = depth_to_png_values(frame.depth, self.depth_scale)
            self.depth_overflow += over
            Image.fromarray(vals).save(self.tmp / "depth" / f"{im_id:06d}.png", compress_level=1)
        if self.noisy and frame.depth_noisy is not None:
            vals, over = depth_to_png_values(frame.depth_noisy, self.depth_scale)
            self.depth_overflow += over
            Image.fromarray(vals).save(self.tmp / DEPTH_NOISY_DIR / f"{im_id:06d}.png", compress_level=1)
            self.scene_depth_noisy[im_id] = frame.depth_sensor
        if frame.effects is not None:
            self.scene_effects[im_id] = frame.effects
        cam_T_world = invert_pose(view.world_T_cam)
        self.scene_camera[im_id] = {"cam_K": _fl(view.K), "depth_scale": float(self.depth_scale),
                                    "cam_R_w2c": _fl(cam_T_world[:3, :3]),
                                    "cam_t_w2c": _fl(cam_T_world[:3, 3] * 1000.0)}
        if frame.stereo is not None:
            self.scene_camera[im_id]["stereo_baseline"] = float(frame.stereo["baseline"])
            if frame.disparity is not None:
                scale = float(frame.stereo["disparity_scale"])
                (self.tmp / DISPARITY_DIR).mkdir(exist_ok=True)
                Image.fromarray(disparity_to_png_values(frame.disparity, scale)).save(
                    self.tmp / DISPARITY_DIR / f"{im_id:06d}.png", compress_level=1)
                self.scene_camera[im_id]["disparity_scale"] = scale
        if view.dist_model is not None:
            self.scene_camera[im_id]["cam_dist"] = view.cam_dist()

    def finish(self) -> None:
        """Write ``scene_camera.json``, ``scene_env.json``, ``scene_appearance.json`` and, when on,
        ``scene_effects.json`` and ``scene_depth_noisy.json`` (per ``im_id``: the drawn parameters)."""
        write_json_atomic(self.tmp / "scene_camera.json", self.scene_camera, per_key_lines=True)
        write_json_atomic(self.tmp / ENV_FILE, self.env)
        write_json_atomic(self.tmp / APPEARANCE_FILE, self.appearance)
        if self.scene_effects:
            write_json_atomic(self.tmp / EFFECTS_FILE, self.scene_effects, per_key_lines=True)
        if self.noisy:
            write_json_atomic(self.tmp / DEPTH_NOISY_FILE, self.scene_depth_noisy, per_key_lines=True)
        if self.depth_overflow:
            log.warning("%s: %d depth pixels beyond the uint16 range were written as 0 (raise output.depth_scale)",
                        self.final, self.depth_overflow)

    @classmethod
    def merge(cls, ctx: DatasetContext) -> None:
        """Write ``models_distractors/`` (the distractor models placed in any scene) when the recipe has
        distractors (``ctx.distractors``); ``camera.json`` is written when the dataset folder is created."""
        if getattr(ctx, "distractors", None) is not None:
            write_models(ctx.root, ctx.distractors, used_distractor_ids(ctx.root, ctx.split), folder=DISTRACTOR_MODELS,
                         symmetries=False)


class BopWriter:
    """BOP ground truth of one scene: masks, ``scene_gt.json``, ``scene_gt_info.json`` and gtforge's side files.

    ``output.layers.mask`` / ``.mask_visib`` turn the mask layers off. Hands (not rigid, so not in
    ``scene_gt``) go to ``scene_hands.json``, ``mask_hand/``, ``mask_visib_hand/`` and, with the
    recipe's ``hands.write_vertices``, ``hands/*.npz``.
    """

    def __init__(self, ctx: SceneContext):
        self.tmp = ctx.folder
        self.layers = ctx.output.layers
        self.write_hand_vertices = bool(ctx.recipe.hands is not None and ctx.recipe.hands.write_vertices)
        for sub in ("mask", "mask_visib"):
            if getattr(self.layers, sub):
                (self.tmp / sub).mkdir(parents=True, exist_ok=True)
        if ctx.scene.hands:
            for sub in ("mask_hand", "mask_visib_hand") + (("hands",) if self.write_hand_vertices else ()):
                (self.tmp / sub).mkdir()
        self.scene_gt, self.scene_gt_info, self.scene_occl, self.scene_hands = {}, {}, {}, {}

    def add_frame(self, frame: FrameRecord) -> None:
        """Write one image's masks and record its JSON entries (instances in ``gt_id`` order)."""
        im_id, labels = frame.im_id, frame.labels
        for gt_id, lab in enumerate(labels):
            if self.layers.mask:
                write_mask(self.tmp / mask_relpath("mask", im_id, gt_id), lab.mask)
            if self.layers.mask_visib:
                write_mask(self.tmp / mask_relpath("mask_visib", im_id, gt_id), lab.mask_visib)
        self.scene_gt[im_id] = [{"cam_R_m2c": _fl(lab.cam_R_m2c), "cam_t_m2c": _fl(lab.cam_t_m2c * 1000.0),
                                 "obj_id": int(lab.obj_id)} for lab in labels]
        self.scene_gt_info[im_id] = [visibility_entry(lab) for lab in labels]
        self.scene_occl[im_id] = [{"inst_id": lab.inst_id, **occlusion_entry(lab),
                                   "px_count_in_frame": lab.px_count_in_frame} for lab in labels]
        if frame.hands:
            gt_of = {lab.inst_id: g for g, lab in enumerate(labels)}
            self.scene_hands[im_id] = [self._hand_entry(im_id, k, h, gt_of) for k, h in enumerate(frame.hands)]

    def _hand_entry(self, im_id: int, hand_id: int, h, gt_of: dict) -> dict:
        files = {}
        for layer, key in (("mask_hand", "mask"), ("mask_visib_hand", "mask_visib")):
            files[key] = mask_relpath(layer, im_id, hand_id)
            write_mask(self.tmp / files[key], getattr(h, key))
        if self.write_hand_vertices:
            files["vertices"] = f"hands/{im_id:06d}_{hand_id:06d}.npz"
            np.savez_compressed(self.tmp / files["vertices"], vertices_cam=h.vertices_cam.astype(np.float32),
                                faces=h.faces.astype(np.int32))
        uv = [None if not np.all(np.isfinite(p)) else [float(p[0]), float(p[1])] for p in h.keypoints_2d]
        return {
            "hand_id": hand_id, "inst_id": int(h.inst_id), "handedness": h.handedness, "backend": h.backend,
            "flat_hand_mean": bool(h.flat_hand_mean), "global_orient": _fl(h.global_orient),
            "hand_pose": _fl(h.hand_pose), "betas": _fl(h.betas), "transl_m": _fl(h.transl),
            "keypoints_cam_m": [_fl(p) for p in h.keypoints_cam], "keypoints_2d": uv,
            "keypoint_visibility": [int(v) for v in h.visibility], "keypoint_occluder": list(h.occluder),
            "grasped_gt_id": gt_of.get(h.grasped_inst) if h.grasped_inst is not None else None,
            **visibility_entry(h), **occlusion_entry(h), **files}

    def finish(self) -> None:
        """Write ``scene_gt.json``, ``scene_gt_info.json``, ``scene_gt_occlusion.json`` (and ``scene_hands.json``)."""
        write_json_atomic(self.tmp / "scene_gt.json", self.scene_gt, per_key_lines=True)
        write_json_atomic(self.tmp / "scene_gt_info.json", self.scene_gt_info, per_key_lines=True)
        write_json_atomic(self.tmp / OCCLUSION_FILE, self.scene_occl, per_key_lines=True)
        if self.scene_hands:
            write_json_atomic(self.tmp / HANDS_FILE, self.scene_hands, per_key_lines=True)

    @classmethod
    def merge(cls, ctx: DatasetContext) -> None:
        """Write ``models/`` for the obj_ids that appear in any written ``scene_gt.json``."""
        write_models(ctx.root, ctx.library, used_obj_ids(ctx.root, ctx.split))


def used_obj_ids(root, split: str) -> set[int]:
    """obj_ids appearing in any complete scene's ``scene_gt.json`` of the split."""
    ids: set[int] = set()
    for d in scene_dirs(root, split):
        for entries in load_json(d / "scene_gt.json").values():
            ids.update(int(e["obj_id"]) for e in entries)
    return ids


def used_distractor_ids(root, split: str) -> set[int]:
    """Distractor obj_ids appearing in any complete scene's ``scene_env.json`` of the split."""
    ids: set[int] = set()
    for d in scene_dirs(root, split):
        p = d / ENV_FILE
        if p.is_file():
            ids.update(obj_id for obj_id, _ in distractor_poses(load_json(p)))
    return ids


def scene_env(scene) -> dict:
    """``scene_env.json`` content of a scene description.

    Returns
    -------
    dict
        ``floor_size_mm`` (side of the floor square at z = 0), ``ar``, ``boxes`` (walls:
        ``extents_mm``, ``world_R_box`` 9 row-major, ``world_t_box_mm``) and ``distractors``: one entry per
        ``scene.distractors`` instance, ``{"obj_id", "world_R_m" (9, row-major), "world_t_mm" (3)}``, its
        settled ``world_T_model`` (world frame, model frame of ``models_distractors/obj_{obj_id:06d}.ply``).
        For AR scenes the ground is the photo's (``floor_size_mm`` 0) and the boxes are the real occluders.
    """
    ar = scene.ar is not None
    boxes = scene.ar.occluders if ar else scene.walls
    return {"floor_size_mm": 0.0 if ar else float(scene.floor.size * 1000.0), "ar": ar,
            "boxes": [{"extents_mm": _fl(np.asarray(w.extents) * 1000.0), "world_R_box": _fl(w.world_T_box[:3, :3]),
                       "world_t_box_mm": _fl(w.world_T_box[:3, 3] * 1000.0)} for w in boxes],
            "distractors": [{"obj_id": int(d.obj_id), "world_R_m": _fl(d.world_T_model[:3, :3]),
                             "world_t_mm": _fl(d.world_T_model[:3, 3] * 1000.0)} for d in scene.distractors]}


def distractor_poses(env: dict | None) -> list[tuple[int, np.ndarray]]:
    """The distractors of a ``scene_env.json`` (:func:`scene_env`) as (obj_id, ``world_T_model`` (4, 4) float64,
    metres); empty for None or for files written before distractors existed."""
    if not env:
        return []
    return [(int(d["obj_id"]), pose_from_mm(d["world_R_m"], d["world_t_mm"])) for d in env.get("distractors", [])]


def texture_entry(texture) -> dict | None:
    """``{"family", "key"}`` of a :class:`~gtforge.core.description.Texture` (None for None).

    ``key`` is the procedural key (``procedural://<family>/<seed>``) as it is, or the file name of an image
    file (without its folder, so the record does not depend on where the images are installed).
    """
    if texture is None:
        return None
    key = texture.key if "://" in texture.key else Path(texture.key).name
    return {"family": texture.family, "key": key}


def material_entry(material, default_mode: str = "asset", color=None) -> dict:
    """The ``scene_appearance.json`` record of a :class:`~gtforge.core.description.Material`.

    Parameters
    ----------
    material : Material or None
    default_mode : str
        Mode recorded for None: ``asset`` (objects keep their asset's look) or ``color`` (floor and walls
        drawn in their plain ``color``).
    color : (3,) float or None
        The surface's plain colour (RGB in [0, 1]) recorded as ``base_color`` when ``material`` is None.

    Returns
    -------
    dict
        ``mode``, ``base_color`` (4 floats or None), ``metallic``, ``roughness`` (None for None), ``texture``
        (:func:`texture_entry`), ``tile`` (m per repeat or None), ``projection`` and ``hsv``
        (hue shift in turns, saturation factor, value factor).
    """
    if material is None:
        base = None if color is None else _fl(np.append(np.asarray(color, dtype=np.float64)[:3], 1.0))
        return {"mode": default_mode, "base_color": base, "metallic": None, "roughness": None, "texture": None,
                "tile": None, "projection": None, "hsv": [0.0, 1.0, 1.0]}
    return {"mode": material.mode, "base_color": _fl(material.base_color), "metallic": float(material.metallic),
            "roughness": float(material.roughness), "texture": texture_entry(material.texture),
            "tile": float(material.tile), "projection": material.projection, "hsv": _fl(material.hsv)}


def _light_entry(light) -> dict:
    return {"kind": light.kind, "color": _fl(light.color), "intensity": float(light.intensity),
            "temperature_k": None if light.temperature_k is None else float(light.temperature_k),
            "direction": _fl(light.direction), "position_m": None if light.position is None else _fl(light.position),
            "inner_cone": float(light.inner_cone), "outer_cone": float(light.outer_cone),
            "shadows": bool(light.shadows)}


def _backdrop_entry(scene) -> dict:
    if scene.ar is not None:
        bg = scene.ar.background
        return {"kind": "ar_photo", "color": None, "zenith": None,
                "photo": {"family": "ar", "key": str(bg.name)}, "crop": [0.0, 0.0, 1.0, 1.0]}
    b = scene.backdrop
    if b is None:
        return {"kind": "color", "color": _fl(scene.background_color), "zenith": None, "photo": None,
                "crop": [0.0, 0.0, 1.0, 1.0]}
    return {"kind": b.kind, "color": _fl(b.color), "zenith": None if b.zenith is None else _fl(b.zenith),
            "photo": texture_entry(b.photo), "crop": _fl(b.crop)}


def scene_appearance(scene) -> dict:
    """``scene_appearance.json`` content: how a scene's RGB images were drawn.

    It describes ``rgb/`` only: ``scene_appearance.json`` and ``rgb/`` are the only files of a scene that
    change when only the appearance of a recipe changes (textures, materials, colours, lights, backdrop);
    geometry, depth, masks and labels do not depend on it (docs/conventions.md, "Appearance").

    Returns
    -------
    dict
        ``objects``: per target in ``gt_id`` order ``{"gt_id", "inst_id", "obj_id", "material"}``
        (:func:`material_entry`, mode ``asset`` where the asset keeps its look); ``distractors``: per
        distractor ``{"inst_id", "obj_id", "material"}`` in ``scene_env.json``'s order; ``floor``
        ``{"size_mm", "material"}``; ``walls`` a list of ``{"material"}`` (mode ``color`` with the plain
        colour where no material is set); ``backdrop`` ``{"kind": color | sky | photo | ar_photo, "color",
        "zenith", "photo": {family, key} | None, "crop"}``; ``lights`` a list of ``{"kind", "color"
        (linear RGB), "intensity", "temperature_k" (K or None), "direction" (world), "position_m" (world,
        metres, or None), "inner_cone", "outer_cone" (radians), "shadows"}``; ``ambient``; ``shadows``;
        ``hands``: per hand ``{"inst_id", "skin_color" (sRGB base tone), "skin_texture" (bool: per-vertex skin
        texture), "forearm": None | {"sleeve": bool}}``.
    """
    return {
        "objects": [{"gt_id": g, "inst_id": int(o.inst_id), "obj_id": int(o.obj_id),
                     "material": material_entry(o.material)} for g, o in enumerate(scene.objects)],
        "distractors": [{"inst_id": int(d.inst_id), "obj_id": int(d.obj_id), "material": material_entry(d.material)}
                        for d in scene.distractors],
        "floor": {"size_mm": float(scene.floor.size * 1000.0),
                  "material": material_entry(scene.floor.material, "color", scene.floor.color)},
        "walls": [{"material": material_entry(w.material, "color", w.color)} for w in scene.walls],
        "backdrop": _backdrop_entry(scene),
        "lights": [_light_entry(li) for li in scene.lights],
        "ambient": float(scene.ambient),
        "shadows": bool(scene.shadows),
        "hands": [{"inst_id": int(h.inst_id), "skin_color": _fl(np.asarray(h.color, dtype=np.float64)),
                   "skin_texture": h.vertex_colors is not None,
                   "forearm": None if h.forearm is None else {"sleeve": bool(h.forearm.sleeve)}} for h in scene.hands],
    }


def model_info(vertices_mm: np.ndarray) -> dict:
    """BOP ``models_info.json`` entry from model vertices (n, 3) in mm.

    ``diameter`` is the largest distance between two vertices (taken over the
    convex hull's vertices, where it is attained); min/size are of the
    axis-aligned bounding box.
    """
    v = np.asarray(vertices_mm, dtype=np.float64)
    try:
        hv = trimesh.convex.convex_hull(v).vertices
    except Exception:  # noqa: BLE001 - flat or degenerate points: qhull and trimesh raise assorted types
        hv = v
    diameter = float(pdist(hv).max()) if len(hv) > 1 else 0.0
    lo, hi = v.min(axis=0), v.max(axis=0)
    size = hi - lo
    return {"diameter": diameter, "min_x": float(lo[0]), "min_y": float(lo[1]), "min_z": float(lo[2]),
            "size_x": float(size[0]), "size_y": float(size[1]), "size_z": float(size[2])}


def write_models(root, library: ModelLibrary, obj_ids, folder: str = "models", symmetries: bool = True) -> None:
    """Write ``{folder}/obj_{id:06d}.ply`` (mm, vertex normals and colours) and ``{folder}/models_info.json``.

    ``models_info.json`` entries carry BOP's size fields (:func:`model_info`) and, with ``symmetries``, the
    symmetry fields ``library.symmetries(obj_id)`` gives (``symmetries_discrete``, ``symmetries_continuous``;
    mm). ``folder`` is ``models`` for the labelled objects, :data:`DISTRACTOR_MODELS` for the distractors
    (no symmetries: they have no pose to evaluate).

    Files already present are kept (their content is a function of the recipe).
    ``models_info.json`` is rewritten to list exactly ``obj_ids``.
    """
    mdir = Path(root) / folder
    mdir.mkdir(parents=True, exist_ok=True)
    info = {}
    for obj_id in sorted(set(int(i) for i in obj_ids)):
        asset = library.get(obj_id)
        mesh = asset.mesh
        v_mm = np.asarray(mesh.vertices, dtype=np.float64) * 1000.0
        info[obj_id] = {**model_info(v_mm), **(library.symmetries(obj_id) if symmetries else {})}
        path = mdir / f"obj_{obj_id:06d}.ply"
        if path.exists():
            continue
        try:
            colors = mesh.visual.to_color().vertex_colors if mesh.visual.kind is not None else None
        except Exception:  # noqa: BLE001 - best effort on an untrusted mesh's texture; plain colour below
            colors = None
        if colors is None or len(colors) != len(v_mm):
            rgba = asset.base_color if asset.base_color is not None else np.array([0.7, 0.7, 0.7, 1.0])
            colors = np.tile((np.asarray(rgba) * 255).astype(np.uint8), (len(v_mm), 1))
        out = trimesh.Trimesh(v_mm, mesh.faces, vertex_colors=colors, process=False)
        with atomic_open(path, "wb") as f:
            f.write(trimesh.exchange.ply.export_ply(out, encoding="binary", vertex_normal=True))
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
            "gt_info": load_json(d / "scene_gt_info.json"), "occlusion": load_json(d / OCCLUSION_FILE)}


def pose_from_mm(R, t_mm) -> np.ndarray:
    """(4, 4) float64 pose in **metres** from BOP's row-major rotation (9 values) and translation in mm."""
    T = np.eye(4)
    T[:3, :3] = np.asarray(R, dtype=np.float64).reshape(3, 3)
    T[:3, 3] = np.asarray(t_mm, dtype=np.float64) / 1000.0
    return T


def gt_pose(entry: dict) -> np.ndarray:
    """(4, 4) float64 ``cam_T_model`` in metres from a ``scene_gt`` entry (``cam_R_m2c``, ``cam_t_m2c`` in mm)."""
    return pose_from_mm(entry["cam_R_m2c"], entry["cam_t_m2c"])
