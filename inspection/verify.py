"""``gtforge verify``: re-check a written dataset from its files.

Checks (each failure names the file, frame, instance and the figure):

1. Every JSON file parses and matches its schema (pydantic models below).
2. Rotations (``cam_R_m2c``, ``cam_R_w2c``) are orthonormal with det +1 (tolerance 1e-6).
3. ``px_count_visib`` equals the pixel count of ``mask_visib``; ``bbox_visib`` equals its
   bounds (BOP's ``calc_2d_bbox`` convention in BOP files, COCO's ``toBbox`` in COCO files); the amodal
   ``mask`` lies inside ``bbox_obj`` (and spans it exactly when the box is inside the image);
   ``visib_fract = px_count_visib / px_count_all``; the side file's occlusion figures agree.
4. COCO: each annotation's RLE equals the BOP ``mask_visib`` of the same instance; area and box agree.
5. On a sample of frames: the written depth equals a ray cast of the written models at the
   written poses (median |dz| < 1 mm over pixels both see), and ``mask_visib`` matches the
   ray-cast visible mask (rays through the lens when ``cam_dist`` is written: inspection/raycast.py) for
   instances with >= 100 visible pixels: IoU >= 0.95, or else every pixel where the two disagree lies on the
   ray-cast silhouette's border (within one pixel, 8-neighbourhood, of a pixel the ray cast gives to another
   owner), but for at most 1 % of the silhouette (acute tips): a sub-pixel shift of a border (datasets whose lens
   layers were resampled from a pinhole canvas, before gtforge ray-cast them) costs a small object more than 5 % of
   its area. Pixels of hands (not rigid models) are left out of both comparisons.
6. Hands (``scene_hands.json``): mask pixel counts and boxes; 2D keypoints equal the projection
   of the 3D keypoints with ``cam_K`` (< 0.01 px), through the lens (``cv2.projectPoints`` /
   ``cv2.fisheye.projectPoints``) when ``scene_camera.json`` has ``cam_dist``.
7. Distractors (``scene_env.json`` ``distractors``): entries match their schema, rotations are
   rotations, every obj_id has a model in ``models_distractors/``; the ray cast of check 5 puts
   them in front of the objects as occluders that own no instance, so a ``mask_visib`` that
   covers a distractor fails the IoU check. ``scene_appearance.json``, when present, lists the
   scene's objects (obj_ids in ``gt_id`` order) and distractors as ``scene_gt.json`` and
   ``scene_env.json`` do.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..core.labels import mask_bbox
from ..core.lens import project_points_lens
from ..formats.bop import (
    APPEARANCE_FILE, DISTRACTOR_MODELS, ENV_FILE, HANDS_FILE, OCCLUSION_FILE, from_bop_bbox, mask_relpath, read_depth,
    read_disparity, read_mask,
)
from ..formats.coco import SCENE_FILE as COCO_SCENE_FILE
from ..formats.coco import bop_image, coco_path, decode_rle
from ..formats.dataset import RECIPE_COPY, Dataset
from .raycast import cast_frame, depth_to_dist, load_models

ROT_TOL = 1e-6
DEPTH_MEDIAN_TOL_M = 1e-3
IOU_MIN = 0.95
IOU_MIN_PIXELS = 100
#: Below IOU_MIN, the largest share of a silhouette that may disagree with the ray cast off its 1-pixel border
#: band (an acute tip's end moves along the tip by more than the sub-pixel shift of its sides).
BORDER_OFF_MAX = 0.01
#: Defaults of ``camera.constraints`` fields that verify checks (``config/views.py``'s ``ViewConstraints``; the
#: inspection floor reads the recipe copy without ``config``, tests/inspection/test_view_constraints.py keeps
#: the two equal).
VIEW_CONSTRAINT_DEFAULTS = {"min_visible_objects": 0, "min_visib_fract": 0.1, "min_surface_distance": 0.0}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


_F9 = Field(min_length=9, max_length=9)
_F3 = Field(min_length=3, max_length=3)
_F4 = Field(min_length=4, max_length=4)


class CamDist(_Strict):
    model: Literal["radtan", "fisheye"]
    coeffs: list[float]

    @model_validator(mode="after")
    def _count(self):
        n = {"radtan": 5, "fisheye": 4}[self.model]
        if len(self.coeffs) != n:
            raise ValueError(f"the {self.model} model takes {n} coefficients, got {len(self.coeffs)}")
        return self


class CamEntry(_Strict):
    cam_K: list[float] = _F9
    depth_scale: float = Field(gt=0)
    cam_R_w2c: list[float] = _F9
    cam_t_w2c: list[float] = _F3
    stereo_baseline: float | None = Field(default=None, gt=0)  # mm (camera.stereo)
    disparity_scale: float | None = Field(default=None, gt=0)  # px per unit of disparity/*.png (left views)
    cam_dist: CamDist | None = None  # the lens (docs/conventions.md, "Lens distortion")


class GtEntry(_Strict):
    cam_R_m2c: list[float] = _F9
    cam_t_m2c: list[float] = _F3
    obj_id: int = Field(ge=1)


class GtInfoEntry(_Strict):
    bbox_obj: list[int] = _F4
    bbox_visib: list[int] = _F4
    px_count_all: int = Field(ge=0)
    px_count_valid: int = Field(ge=0)
    px_count_visib: int = Field(ge=0)
    visib_fract: float = Field(ge=0, le=1)


class EnvDistractor(_Strict):
    obj_id: int = Field(ge=1)
    world_R_m: list[float] = _F9
    world_t_mm: list[float] = _F3


class OcclEntry(_Strict):
    inst_id: int = Field(ge=1)
    truncation: float = Field(ge=0, le=1)
    occlusion: float | None = Field(ge=0, le=1)
    occlusion_level: int = Field(ge=0, le=3)
    px_count_in_frame: int = Field(ge=0)


def _border_band(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels within one pixel (3 x 3 neighbourhood) of both ``mask`` and its complement."""
    m = np.pad(mask, 1, mode="edge")
    grow, shrink = m.copy(), m.copy()
    H, W = mask.shape
    for dv in (0, 1, 2):
        for du in (0, 1, 2):
            win = m[dv:dv + H, du:du + W]
            grow[1:-1, 1:-1] |= win
            shrink[1:-1, 1:-1] &= win
    return (grow & ~shrink)[1:-1, 1:-1]


@dataclass
class Failure:
    """One failed check: where (file, frame, instance) and what (message with the figure)."""

    file: str
    frame: str
    instance: str
    message: str

    def __str__(self) -> str:
        where = ", ".join(x for x in (self.frame, self.instance) if x)
        return f"{self.file}" + (f" [{where}]" if where else "") + f": {self.message}"


class Verifier:
    """Runs the checks over a :class:`~gtforge.formats.dataset.Dataset`; ``failures`` collects the results."""

    def __init__(self, ds: Dataset, sample: int = 5, seed: int = 0):
        self.ds, self.sample, self.seed = ds, sample, seed
        self.failures: list[Failure] = []
        self.checked = {"frames": 0, "instances": 0, "raycast_frames": 0, "coco_annotations": 0,
                        "view_constraint_frames": 0}
        self.good_frames: list[tuple[Path, int]] = []  # frames whose scene JSON files all loaded
        self._dmodel_ids: set[int] | None = None  # obj_ids in models_distractors/models_info.json

    def fail(self, file, message, frame="", instance=""):
        rel = str(Path(file).relative_to(self.ds.root)) if Path(file).is_absolute() else str(file)
        self.failures.append(Failure(rel, frame, instance, message))

    # ---------------------------------------------------------------- json
    def _load(self, path: Path, schema=None, per_image_list: bool = False):
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            self.fail(path, "missing file")
            return None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            self.fail(path, f"cannot parse JSON: {e}")
            return None
        if schema is None:
            return data
        if not isinstance(data, dict) or not all(k.isdigit() for k in data):
            self.fail(path, "expected a mapping from image ids to entries")
            return None
        out = {}
        for k, v in data.items():
            entries = v if per_image_list else [v]
            if per_image_list and not isinstance(v, list):
                self.fail(path, f"expected a list, got {type(v).__name__}", frame=f"im {k}")
                continue
            try:
                parsed = [schema.model_validate(e) for e in entries]
            except ValidationError as e:
                err = e.errors()[0]
                self.fail(path, f"schema: {'.'.join(map(str, err['loc']))}: {err['msg']}", frame=f"im {k}")
                continue
            out[int(k)] = parsed if per_image_list else parsed[0]
        return out

    def _rotation(self, R, file, frame, instance, name):
        R = np.asarray(R, dtype=np.float64).reshape(3, 3)
        err = np.abs(R @ R.T - np.eye(3)).max()
        det = np.linalg.det(R)
        if err > ROT_TOL or abs(det - 1) > ROT_TOL:
            self.fail(file, f"{name} not a rotation: max|R R^T - I| = {err:.2e}, det = {det:.6f}", frame, instance)

    # ---------------------------------------------------------------- scene
    def check_scene(self, sd: Path) -> dict:
        cams = self._load(sd / "scene_camera.json", CamEntry)
        res = {"cams": cams, "gt": None}
        if cams is None:
            return res
        for im, c in cams.items():
            self._rotation(c.cam_R_w2c, sd / "scene_camera.json", f"im {im}", "", "cam_R_w2c")
        if not self.ds.has_bop:
            return res
        gt = self._load(sd / "scene_gt.json", GtEntry, True)
        info = self._load(sd / "scene_gt_info.json", GtInfoEntry, True)
        occ = self._load(sd / OCCLUSION_FILE, OcclEntry, True)
        env = self._check_env(sd)
        if gt is None or info is None or occ is None:
            return res
        res["gt"] = gt
        self._check_appearance(sd, gt, env)
        self.good_frames.extend((sd, im) for im in sorted(cams) if im in gt)
        rgb = sorted((sd / "rgb").glob("*")) if (sd / "rgb").is_dir() else []
        if rgb:  # AR photos may differ in size from camera.json
            with Image.open(rgb[0]) as im:
                W, H = im.size
        else:
            W, H = self.ds.camera["width"], self.ds.camera["height"]
        if (sd / HANDS_FILE).is_file():
            self._check_hands(sd, cams)
        self._check_disparity(sd, cams)
        for im in cams:
            if im not in gt or im not in info or im not in occ:
                self.fail(sd / "scene_gt.json", "image missing from scene_gt/scene_gt_info/side file", f"im {im}")
                continue
            if not (len(gt[im]) == len(info[im]) == len(occ[im])):
                self.fail(sd / "scene_gt_info.json", f"{len(gt[im])} gt entries but {len(info[im])} info and "
                          f"{len(occ[im])} occlusion entries", f"im {im}")
                continue
            self.checked["frames"] += 1
            for gid, (g, i, o) in enumerate(zip(gt[im], info[im], occ[im])):
                self.checked["instances"] += 1
                fr, who = f"scene {sd.name} im {im}", f"gt {gid} (obj {g.obj_id})"
                self._rotation(g.cam_R_m2c, sd / "scene_gt.json", fr, who, "cam_R_m2c")
                self._check_masks(sd, im, gid, i, o, (H, W), fr, who)
        return res

    def _check_disparity(self, sd: Path, cams: dict) -> None:
        """Stereo left views: ``disparity/*.png`` * disparity_scale = fx * baseline / z of ``depth/*.png``, within
        the two roundings (half a disparity unit, and half a depth unit through d(fx b / z) / dz), and 0 exactly
        where the depth is 0."""
        for im, c in cams.items():
            if c.disparity_scale is None:
                continue
            path, dpath = sd / "disparity" / f"{im:06d}.png", sd / "depth" / f"{im:06d}.png"
            if not path.is_file() or not dpath.is_file():
                self.fail(path, "disparity_scale is set but the disparity or depth PNG is missing", f"im {im}")
                continue
            if c.stereo_baseline is None:
                self.fail(sd / "scene_camera.json", "disparity_scale without stereo_baseline", f"im {im}")
                continue
            d, z = read_disparity(path, c.disparity_scale), read_depth(dpath, c.depth_scale)  # px, m
            fb = c.cam_K[0] * c.stereo_baseline / 1000.0
            seen = z > 0
            if d.shape != z.shape or np.any(d[~seen] != 0):
                self.fail(path, "disparity where the depth map has no surface (or a different size)", f"im {im}")
                continue
            want = fb / z[seen]
            tol = 0.5 * c.disparity_scale + fb * (0.5e-3 * c.depth_scale) / z[seen] ** 2 + 1e-6
            err = np.abs(d[seen] - want) - tol
            if err.size and err.max() > 0:
                self.fail(path, f"disparity differs from fx * baseline / z by up to "
                                f"{float(np.abs(d[seen] - want).max()):.4f} px", f"im {im}")
            self.checked["disparity_frames"] = self.checked.get("disparity_frames", 0) + 1

    def check_stereo_pair(self, right: Dataset) -> None:
        """The right split holds the same scenes and images; each right camera is the left one moved by
        stereo_baseline along the left camera's +x axis (cam_R_w2c equal, cam_t_w2c minus (b, 0, 0))."""
        left_scenes = [sd.name for sd in self.ds.scene_dirs()]
        if [sd.name for sd in right.scene_dirs()] != left_scenes:
            self.fail(right.split_dir, "the right split's scenes differ from the left split's", "")
            return
        for name in left_scenes:
            lc = self._load(self.ds.split_dir / name / "scene_camera.json", CamEntry)
            rc = self._load(right.split_dir / name / "scene_camera.json", CamEntry)
            if lc is None or rc is None:
                continue
            if sorted(lc) != sorted(rc):
                self.fail(right.split_dir / name / "scene_camera.json", "right images differ from the left ones", "")
                continue
            for im in lc:
                a, b = lc[im], rc[im]
                base = a.stereo_baseline
                if base is None or b.stereo_baseline != base:
                    self.fail(right.split_dir / name / "scene_camera.json", "stereo_baseline missing or different",
                              f"im {im}")
                    continue
                moved = np.asarray(a.cam_t_w2c) - [base, 0.0, 0.0]
                if (not np.allclose(a.cam_R_w2c, b.cam_R_w2c, atol=1e-9) or a.cam_K != b.cam_K
                        or not np.allclose(moved, b.cam_t_w2c, atol=1e-6)):
                    self.fail(right.split_dir / name / "scene_camera.json", "the right camera is not the left one "
                              f"moved {base:g} mm along its x axis", f"im {im}")

    def _check_env(self, sd: Path) -> dict | None:
        """``scene_env.json``: parses; distractor entries match :class:`EnvDistractor`, rotations, models exist."""
        path = sd / ENV_FILE
        env = self._load(path)
        if not isinstance(env, dict):
            return None
        entries = env.get("distractors", [])
        if not isinstance(entries, list):
            self.fail(path, "'distractors' is not a list")
            return None
        have = self._distractor_model_ids()
        for k, e in enumerate(entries):
            who = f"distractor {k}"
            try:
                d = EnvDistractor.model_validate(e)
            except ValidationError as err:
                first = err.errors()[0]
                self.fail(path, f"schema: {'.'.join(map(str, first['loc']))}: {first['msg']}", instance=who)
                continue
            self._rotation(d.world_R_m, path, "", who, "world_R_m")
            if d.obj_id not in have:
                self.fail(path, f"obj_id {d.obj_id} has no model in {DISTRACTOR_MODELS}/", instance=who)
        return env

    def _distractor_model_ids(self) -> set[int]:
        """obj_ids listed in ``models_distractors/models_info.json`` (empty when absent or unreadable)."""
        if self._dmodel_ids is None:
            p = self.ds.root / DISTRACTOR_MODELS / "models_info.json"
            try:
                self._dmodel_ids = {int(k) for k in json.loads(p.read_text())}
            except (OSError, ValueError):
                self._dmodel_ids = set()
        return self._dmodel_ids

    def _check_appearance(self, sd: Path, gt: dict, env: dict | None) -> None:
        """``scene_appearance.json`` (when present): its objects and distractors are the scene's."""
        path = sd / APPEARANCE_FILE
        if not path.is_file():
            return
        app = self._load(path)
        if not isinstance(app, dict):
            return
        try:
            objs = [int(o["obj_id"]) for o in app["objects"]]
            dis = [int(d["obj_id"]) for d in app["distractors"]]
        except (KeyError, TypeError, ValueError) as e:
            self.fail(path, f"objects/distractors unreadable: {type(e).__name__}: {e}")
            return
        for im, entries in gt.items():
            if [g.obj_id for g in entries] != objs:
                self.fail(path, f"objects {objs} != scene_gt obj_ids {[g.obj_id for g in entries]}", f"im {im}")
                break
        if isinstance(env, dict) and isinstance(env.get("distractors", []), list):
            want = [e.get("obj_id") for e in env.get("distractors", []) if isinstance(e, dict)]
            if dis != want:
                self.fail(path, f"distractors {dis} != {ENV_FILE} distractors {want}")

    def _check_hands(self, sd: Path, cams: dict) -> None:
        """Hand side file: masks vs counts and boxes; 2D keypoints = projection of the 3D ones (< 0.01 px)."""
        path = sd / HANDS_FILE
        data = self._load(path)
        if data is None:
            return
        for im, hands in data.items():
            im = int(im)
            K = np.asarray(cams[im].cam_K).reshape(3, 3) if im in cams else None
            lens = None
            if im in cams and cams[im].cam_dist is not None:
                lens = (cams[im].cam_dist.model, cams[im].cam_dist.coeffs)
            for h in hands:
                fr, who = f"scene {sd.name} im {im}", f"hand {h.get('hand_id')}"
                try:
                    mv = read_mask(sd / h["mask_visib"])
                    kp3 = np.asarray(h["keypoints_cam_m"], dtype=np.float64)
                except (KeyError, FileNotFoundError, OSError) as e:
                    self.fail(path, f"hand entry unreadable: {type(e).__name__}: {e}", fr, who)
                    continue
                if int(mv.sum()) != h["px_count_visib"] or mask_bbox(mv) != from_bop_bbox(h["bbox_visib"]):
                    self.fail(sd / h["mask_visib"], f"{int(mv.sum())} px / bounds {mask_bbox(mv)} but "
                              f"px_count_visib {h['px_count_visib']} / bbox_visib {h['bbox_visib']}", fr, who)
                if K is not None:
                    for k, uv in enumerate(h["keypoints_2d"]):
                        if uv is None or kp3[k, 2] <= 0:
                            continue
                        p = project_points_lens(kp3[k:k + 1], K, lens)[0]  # through the lens, when there is one
                        err = float(np.hypot(p[0] - uv[0], p[1] - uv[1]))
                        if err > 0.01:
                            self.fail(path, f"keypoint {k}: 2D differs from the projection of 3D by {err:.3f} px", fr,
                                      who)

    def _check_masks(self, sd, im, gid, i, o, shape, fr, who):
        mv_path = sd / mask_relpath("mask_visib", im, gid)
        m_path = sd / mask_relpath("mask", im, gid)
        expect_fract = i.px_count_visib / i.px_count_all if i.px_count_all else 0.0
        if abs(expect_fract - i.visib_fract) > 1e-6:
            self.fail(sd / "scene_gt_info.json", f"visib_fract {i.visib_fract:.4f} != px_count_visib/px_count_all "
                      f"= {expect_fract:.4f}", fr, who)
        if mv_path.parent.is_dir():
            if not mv_path.is_file():
                self.fail(mv_path, "missing mask_visib file", fr, who)
            else:
                mv = read_mask(mv_path)
                if mv.shape != shape:
                    self.fail(mv_path, f"mask size {mv.shape} != image {shape}", fr, who)
                else:
                    if int(mv.sum()) != i.px_count_visib:
                        self.fail(mv_path, f"{int(mv.sum())} mask pixels but px_count_visib = {i.px_count_visib}",
                                  fr, who)
                    if mask_bbox(mv) != from_bop_bbox(i.bbox_visib):
                        self.fail(mv_path, f"mask bounds {mask_bbox(mv)} != bbox_visib {i.bbox_visib}", fr, who)
        if m_path.parent.is_dir():
            if not m_path.is_file():
                self.fail(m_path, "missing mask file", fr, who)
            else:
                m = read_mask(m_path)
                if int(m.sum()) != o.px_count_in_frame:
                    self.fail(m_path, f"{int(m.sum())} mask pixels but px_count_in_frame = {o.px_count_in_frame}",
                              fr, who)
                x, y, w, h = bbox_obj = from_bop_bbox(i.bbox_obj)
                H, W = shape
                bb = mask_bbox(m)
                inside = x >= 0 and y >= 0 and x + w <= W and y + h <= H
                if m.any() and inside and bb != bbox_obj:
                    self.fail(m_path, f"amodal mask bounds {bb} != bbox_obj {i.bbox_obj} (box inside the image)",
                              fr, who)
                elif m.any() and not (bb[0] >= x and bb[1] >= y and bb[0] + bb[2] <= x + w and bb[1] + bb[3] <= y + h):
                    self.fail(m_path, f"amodal mask bounds {bb} not inside bbox_obj {i.bbox_obj}", fr, who)
                if o.px_count_in_frame > i.px_count_all:
                    self.fail(sd / OCCLUSION_FILE, f"px_count_in_frame {o.px_count_in_frame} > px_count_all "
                              f"{i.px_count_all}", fr, who)
        if i.px_count_all:
            trunc = 1 - o.px_count_in_frame / i.px_count_all
            if abs(trunc - o.truncation) > 1e-6:
                self.fail(sd / OCCLUSION_FILE, f"truncation {o.truncation:.4f} != 1 - in_frame/all = {trunc:.4f}",
                          fr, who)
        if o.px_count_in_frame:
            occl = 1 - i.px_count_visib / o.px_count_in_frame
            if o.occlusion is None or abs(occl - o.occlusion) > 1e-6:
                self.fail(sd / OCCLUSION_FILE, f"occlusion {o.occlusion} != 1 - visib/in_frame = {occl:.4f}", fr, who)

    # ---------------------------------------------------------------- coco
    def check_coco(self) -> None:
        path = coco_path(self.ds.root, self.ds.split)
        doc = self._load(path)
        if doc is None:
            return
        for key in ("images", "annotations", "categories"):
            if not isinstance(doc.get(key), list):
                self.fail(path, f"'{key}' missing or not a list")
                return
        images = {im["id"]: im for im in doc["images"]}
        cat_ids = {c["id"] for c in doc["categories"]}
        for a in doc["annotations"]:
            self.checked["coco_annotations"] += 1
            img = images.get(a.get("image_id"))
            where = f"annotation {a.get('id')}"
            if img is None:
                self.fail(path, f"image_id {a.get('image_id')} not in images", instance=where)
                continue
            if a.get("category_id") not in cat_ids:
                self.fail(path, f"category_id {a.get('category_id')} not in categories", instance=where)
            try:
                m = decode_rle(a["segmentation"])
            except Exception as e:  # noqa: BLE001 - any broken RLE is a failure to report
                self.fail(path, f"cannot decode segmentation: {e}", instance=where)
                continue
            fr = f"image {img['id']}"
            if int(m.sum()) != a["area"]:
                self.fail(path, f"area {a['area']} != RLE pixels {int(m.sum())}", fr, where)
            if mask_bbox(m) != list(a["bbox"]):
                self.fail(path, f"bbox {a['bbox']} != RLE bounds {mask_bbox(m)}", fr, where)
            if self.ds.has_bop:
                scene, im = bop_image(img["id"])
                rel = (mask_relpath("mask_visib_hand", im, a["hand_id"]) if "hand_id" in a
                       else mask_relpath("mask_visib", im, a["gt_id"]))
                mv = self.ds.split_dir / f"{scene:06d}" / rel
                if mv.is_file() and not np.array_equal(read_mask(mv), m):
                    diff = int((read_mask(mv) != m).sum())
                    self.fail(path, f"RLE differs from {mv.relative_to(self.ds.root)} in {diff} pixels", fr, where)

    # ---------------------------------------------------------------- ray cast
    def check_raycast(self) -> None:
        try:
            models = load_models(self.ds.root)
        except Exception as e:  # noqa: BLE001 - a written model file of any damage is reported, not raised
            self.fail(self.ds.root / "models", f"cannot load models: {e}")
            return
        dmodels = None
        if self.ds.distractor_models_dir is not None:
            try:
                dmodels = load_models(self.ds.root, DISTRACTOR_MODELS)
            except Exception as e:  # noqa: BLE001 - a written model file of any damage is reported, not raised
                self.fail(self.ds.root / DISTRACTOR_MODELS, f"cannot load distractor models: {e}")
        ids = self.good_frames
        rng = np.random.default_rng(self.seed)
        pick = sorted(rng.choice(len(ids), size=min(self.sample, len(ids)), replace=False)) if ids else []
        for frame in self.ds.frames([ids[i] for i in pick]):
            W, H = frame.width, frame.height
            fr = f"scene {frame.scene_id:06d} im {frame.im_id}"
            hands = [i for i in frame.instances if i.hand_id is not None]
            frame.instances = [i for i in frame.instances if i.hand_id is None]
            if any(i.obj_id not in models for i in frame.instances):
                self.fail(frame.scene_dir / "scene_gt.json", "obj_id without a model in models/", fr)
                continue
            env = self.ds.env(frame.scene_dir)
            dist = self.ds.distractors(frame.scene_dir)
            if dist and (dmodels is None or any(d.obj_id not in dmodels for d in dist)):
                self.fail(frame.scene_dir / ENV_FILE, f"distractor without a model in {DISTRACTOR_MODELS}/", fr)
                continue
            self.checked["raycast_frames"] += 1
            depth_o, owner, _ = cast_frame(models, frame, W, H, env, dmodels)
            # hands are not in models/: their visible pixels are left out of the comparison
            hand_px = np.zeros((H, W), bool)
            for h in hands:
                hand_px |= h.mask_visib((H, W))
            d = None
            if frame.depth_path is not None:
                d = read_depth(frame.depth_path, frame.depth_scale)
            if env and env.get("ar") and d is not None:
                # AR: the photo's own surfaces are not in models/; where the written depth shows a real surface
                # nearer than the ray cast, the real surface owns the pixel (depth-aware occlusion)
                hand_px |= (d > 0) & (depth_o > 0) & (d < depth_o - np.maximum(0.05, 0.02 * depth_o))
                hand_px |= depth_o == 0
            if d is not None:
                both = (d > 0) & (depth_o > 0) & ~hand_px
                if both.any():
                    med = float(np.median(np.abs(d[both] - depth_o[both])))
                    if med >= DEPTH_MEDIAN_TOL_M:
                        self.fail(frame.depth_path,
                                  f"depth differs from the ray cast: median |dz| = {med * 1000:.2f} mm "
                                  f"(limit {DEPTH_MEDIAN_TOL_M * 1000:.0f} mm)", fr)
            for who in frame.instances:
                if who.px_count_visib < IOU_MIN_PIXELS:
                    continue
                if isinstance(who.mask_source, Path) and not who.mask_source.is_file():
                    continue  # reported as a missing file
                mv = who.mask_visib((H, W)) & ~hand_px
                if mv.sum() < IOU_MIN_PIXELS:
                    continue  # mostly behind hands
                ray = (owner == who.gt_id) & ~hand_px
                iou = (mv & ray).sum() / max((mv | ray).sum(), 1)
                off = np.count_nonzero((mv ^ ray) & ~_border_band(owner == who.gt_id))
                if iou < IOU_MIN and off > BORDER_OFF_MAX * max(mv.sum(), ray.sum()):
                    src = (who.mask_source if isinstance(who.mask_source, Path)
                           else coco_path(self.ds.root, self.ds.split))
                    self.fail(src, f"mask_visib vs ray-cast visible mask: IoU {iou:.3f} < {IOU_MIN}", fr,
                              f"gt {who.gt_id} (obj {who.obj_id})")

    # ---------------------------------------------------------------- view constraints
    def view_constraints(self) -> dict | None:
        """``camera.constraints`` of the recipe copy with defaults filled in (only the fields checked here), or
        None when the recipe has none (or no copy); an unreadable copy or field is a failure."""
        path = self.ds.root / RECIPE_COPY
        if not path.is_file():
            return None
        try:
            recipe = yaml.safe_load(path.read_text())
            cons = (recipe.get("camera") or {}).get("constraints")
            if cons is None:
                return None
            out = {k: type(v)(cons.get(k, v)) for k, v in VIEW_CONSTRAINT_DEFAULTS.items()}
        except Exception as e:  # noqa: BLE001 - any unreadable recipe copy is a failure to report
            self.fail(path, f"camera.constraints unreadable: {type(e).__name__}: {e}")
            return None
        if not all(math.isfinite(v) and v >= 0 for v in out.values()):
            self.fail(path, f"camera.constraints out of range: {out}")
            return None
        return out

    def check_view_constraints(self) -> None:
        """Check 8: every frame satisfies the recipe's view constraints (from the written files)."""
        c = self.view_constraints()
        if c is None:
            return
        n_min, f_min, d_min = c["min_visible_objects"], c["min_visib_fract"], c["min_surface_distance"]
        if n_min <= 0 and d_min <= 0:
            return
        for frame in self.ds.frames():
            self.checked["view_constraint_frames"] += 1
            fr = f"scene {frame.scene_id:06d} im {frame.im_id}"
            objects = [i for i in frame.instances if i.hand_id is None]
            n = sum(1 for i in objects if i.px_count_visib > 0 and i.visib_fract >= f_min)
            if n < n_min:
                src = (frame.scene_dir / "scene_gt_info.json" if self.ds.has_bop
                       else frame.scene_dir / COCO_SCENE_FILE)
                self.fail(src, f"view constraint: {n} objects with visib_fract >= {f_min:g} (camera.constraints."
                               f"min_visible_objects: {n_min})", fr)
            if d_min > 0 and frame.depth_path is not None:
                z = read_depth(frame.depth_path, frame.depth_scale)
                seen = z > 0
                if seen.any():
                    # the largest true z that rounds to the written value (formats.bop.depth_to_png_values)
                    far = depth_to_dist(np.where(seen, z + 0.5e-3 * frame.depth_scale, 0.0), frame.K, frame.dist)
                    d = float(np.nanmin(far[seen]))
                    if d < d_min:
                        self.fail(frame.depth_path, f"view constraint: a surface {d:.4f} m from the camera "
                                                    f"(camera.constraints.min_surface_distance: {d_min:g} m)", fr)

    def run(self) -> list[Failure]:
        for sd in self.ds.scene_dirs():
            self.check_scene(sd)
            if not self.ds.has_bop:
                self._load(sd / COCO_SCENE_FILE)
        if self.ds.has_coco:
            self.check_coco()
        if self.sample > 0 and self.ds.has_bop:
            self.check_raycast()
        self.check_view_constraints()
        return self.failures


def verify(ds: Dataset, sample: int = 5, seed: int = 0) -> tuple[list[Failure], dict]:
    """Run every check (on both splits of a stereo dataset, ``right_split`` in ``gtforge.json``, and their pairing).
    Returns (failures, counts of what was checked, summed over the splits)."""
    v = Verifier(ds, sample, seed)
    failures, checked = v.run(), dict(v.checked)
    right = ds.meta.get("right_split")
    if right:
        rds = Dataset(ds.root,
                      {k: (right if k == "split" else val) for k, val in ds.meta.items() if k != "right_split"})
        v.check_stereo_pair(rds)
        rv = Verifier(rds, sample, seed)
        failures = failures + rv.run()
        for k, n in rv.checked.items():
            checked[k] = checked.get(k, 0) + n
    return failures, checked
