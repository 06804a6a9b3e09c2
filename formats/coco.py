"""COCO writer: instances JSON (detection and segmentation) from gtforge labels.

Format reference: COCO "Data format" (cocodataset.org/#format-data), object
detection annotations; RLE encoding from ``pycocotools.mask`` (counts as an
ASCII string). Written file: ``DATASET/instances_{split}.json`` with

* ``info``: gtforge version, recipe file (no timestamps: output is reproducible);
* ``images``: ``id = scene_id * 1000 + im_id`` (BOP allows at most 1000 images a scene),
  ``file_name`` relative to the JSON (``{split}/{scene_id:06d}/rgb/{im_id:06d}.jpg``), ``width``, ``height``;
* ``categories``: one per model, ``id = obj_id`` (as BOP's COCO conversion), ``name`` = class
  name, ``supercategory`` = the recipe object set; with hands, a ``hand`` category (id = number of
  models + 1) with 21 ``keypoints`` names and a ``skeleton``;
* ``annotations``: ``id`` (1..N in image order), ``image_id``, ``category_id``,
  ``segmentation`` (RLE of ``mask_visib``), ``area`` (visible pixels), ``bbox`` (tight box of the
  visible mask, [x, y, w, h]), ``iscrowd`` 0, ``ignore`` (1 when ``visib_fract`` is below the
  recipe's ``output.coco_ignore_visib_fract``), and beyond COCO's core fields:
  ``bbox_amodal`` (full silhouette, may extend past the image), ``segmentation_amodal`` (RLE of
  the in-image amodal mask), ``visib_fract``, ``truncation``, ``occlusion``, ``occlusion_level``,
  ``cam_R_m2c`` (row-major), ``cam_t_m2c`` (mm, as BOP), ``obj_id``, ``gt_id``, ``inst_id``.

Instances with no visible pixel get no annotation. Each scene's annotations are
first written to ``scene_coco.json`` inside the scene folder (atomic with the
scene, so builds resume); :meth:`CocoWriter.merge` assembles the split's file.

Reading: :func:`read_instances` reads and checks any COCO instances JSON (``gtforge compare``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from .. import __version__
from ..core.hands import BONES, KEYPOINT_NAMES
from ..core.labels import HandLabel, InstanceLabel
from ..core.library import ModelLibrary
from .atomic import load_json, write_json_atomic
from .bop import rgb_relpath, scene_dirs
from .protocol import DatasetContext, FrameRecord, SceneContext

#: Per scene folder: that scene's images and annotations (merged into the split's file by :meth:`CocoWriter.merge`).
SCENE_FILE = "scene_coco.json"
IMAGES_PER_SCENE = 1000


def encode_rle(mask: np.ndarray) -> dict:
    """COCO RLE of a boolean mask (H, W): {'size': [H, W], 'counts': str} (pycocotools, column-major)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict) -> np.ndarray:
    """Inverse of :func:`encode_rle`: RLE -> (H, W) bool."""
    r = {"size": rle["size"],
         "counts": rle["counts"].encode("ascii") if isinstance(rle["counts"], str) else rle["counts"]}
    return mask_utils.decode(r).astype(bool)


def coco_image_id(scene_id: int, im_id: int) -> int:
    """Image id of BOP image (scene_id, im_id): scene_id * 1000 + im_id."""
    return int(scene_id) * IMAGES_PER_SCENE + int(im_id)


def bop_image(image_id: int) -> tuple[int, int]:
    """(scene_id, im_id) of a COCO image id (inverse of :func:`coco_image_id`)."""
    return divmod(int(image_id), IMAGES_PER_SCENE)


def frame_annotations(image_id: int, labels: list[InstanceLabel], ignore_visib_fract: float) -> list[dict]:
    """Annotations (without ``id``) of one image's instances, in gt_id order; invisible instances are skipped."""
    out = []
    for gt_id, lab in enumerate(labels):
        if lab.px_count_visib == 0:
            continue
        out.append({
            "image_id": image_id,
            "category_id": int(lab.obj_id),
            "segmentation": encode_rle(lab.mask_visib),
            "area": int(lab.px_count_visib),
            "bbox": [int(v) for v in lab.bbox_visib],
            "iscrowd": 0,
            "ignore": int(lab.visib_fract < ignore_visib_fract),
            "bbox_amodal": [int(v) for v in lab.bbox_obj],
            "segmentation_amodal": encode_rle(lab.mask),
            "visib_fract": float(lab.visib_fract),
            "truncation": float(lab.truncation),
            "occlusion": lab.occlusion,
            "occlusion_level": int(lab.occlusion_level),
            "cam_R_m2c": [float(x) for x in np.asarray(lab.cam_R_m2c).reshape(-1)],
            "cam_t_m2c": [float(x) for x in np.asarray(lab.cam_t_m2c).reshape(-1) * 1000.0],
            "obj_id": int(lab.obj_id),
            "gt_id": gt_id,
            "inst_id": int(lab.inst_id),
        })
    return out


def hand_annotations(image_id: int, hands: list[HandLabel], category_id: int, ignore_visib_fract: float) -> list[dict]:
    """COCO keypoint annotations of one image's hands (skipped when no pixel is visible).

    ``keypoints`` = [x, y, v] * 21 in MANO's order (``KEYPOINT_NAMES``), pixel centres at integer
    coordinates; v = 0 outside the image (x = y = 0, as COCO), 1 occluded, 2 visible; ``num_keypoints``
    counts v > 0. ``hand`` holds the model parameters in the camera frame and the 3D keypoints (camera frame, metres).
    """
    out = []
    for k, h in enumerate(hands):
        if h.px_count_visib == 0:
            continue
        kps = []
        for (u, v), vis in zip(h.keypoints_2d, h.visibility):
            kps.extend([0.0, 0.0, 0] if vis == 0 else [float(u), float(v), int(vis)])
        out.append({
            "image_id": image_id, "category_id": int(category_id), "segmentation": encode_rle(h.mask_visib),
            "area": int(h.px_count_visib), "bbox": [int(v) for v in h.bbox_visib], "iscrowd": 0,
            "ignore": int(h.visib_fract < ignore_visib_fract), "bbox_amodal": [int(v) for v in h.bbox_obj],
            "segmentation_amodal": encode_rle(h.mask), "visib_fract": float(h.visib_fract),
            "truncation": float(h.truncation), "occlusion": h.occlusion,
            "occlusion_level": int(h.occlusion_level), "keypoints": kps,
            "num_keypoints": int(np.count_nonzero(h.visibility)), "hand_id": k, "inst_id": int(h.inst_id),
            "hand": {"handedness": h.handedness, "backend": h.backend, "flat_hand_mean": bool(h.flat_hand_mean),
                     "global_orient": [float(x) for x in h.global_orient], "hand_pose": [float(x) for x in h.hand_pose],
                     "betas": [float(x) for x in h.betas], "transl_m": [float(x) for x in h.transl],
                     "keypoints_cam_m": [[float(c) for c in p] for p in h.keypoints_cam],
                     "keypoint_occluder": list(h.occluder)},
        })
    return out


def hand_category_id(library: ModelLibrary) -> int:
    """The category id of hands: one past the last model's ``obj_id`` (``len(library) + 1``)."""
    return len(library) + 1


def hand_category(category_id: int) -> dict:
    """The COCO ``hand`` category: 21 named keypoints (MANO order) and the skeleton (1-based bones)."""
    return {"id": int(category_id), "name": "hand", "supercategory": "hand", "keypoints": list(KEYPOINT_NAMES),
            "skeleton": [[a + 1, b + 1] for a, b in BONES]}


class CocoWriter:
    """Collects one scene's COCO images and annotations and writes ``scene_coco.json`` into its folder.

    Images refer to the frames of :class:`~gtforge.formats.bop.ImagesWriter`. Instances with
    ``visib_fract`` below ``output.coco_ignore_visib_fract`` are marked ``ignore: 1``; hands get the
    category id ``len(library) + 1``.
    """

    def __init__(self, ctx: SceneContext):
        self.path, self.split, self.scene_id = Path(ctx.folder), ctx.split, ctx.scene_id
        self.image_format = ctx.output.image_format
        self.ignore_visib_fract = ctx.output.coco_ignore_visib_fract
        self.hand_category = hand_category_id(ctx.library)
        self.images: list[dict] = []
        self.annotations: list[dict] = []

    def add_frame(self, frame: FrameRecord) -> None:
        """Record one image and its annotations."""
        image_id = coco_image_id(self.scene_id, frame.im_id)
        rel = rgb_relpath(frame.im_id, self.image_format)
        self.images.append({"id": image_id, "file_name": f"{self.split}/{self.scene_id:06d}/{rel}",
                            "width": int(frame.view.width), "height": int(frame.view.height)})
        if frame.view.dist_model is not None:  # the lens (docs/conventions.md, "Lens distortion")
            self.images[-1]["cam_dist"] = frame.view.cam_dist()
        self.annotations.extend(frame_annotations(image_id, frame.labels, self.ignore_visib_fract))
        if frame.hands:
            self.annotations.extend(hand_annotations(image_id, frame.hands, self.hand_category,
                                                     self.ignore_visib_fract))

    def finish(self) -> None:
        """Write ``scene_coco.json``."""
        write_json_atomic(self.path / SCENE_FILE, {"images": self.images, "annotations": self.annotations})

    @classmethod
    def merge(cls, ctx: DatasetContext) -> None:
        """Write ``instances_{split}.json`` (:func:`merge_coco`)."""
        merge_coco(ctx.root, ctx.split, ctx.library, ctx.recipe_file, hands=ctx.recipe.hands is not None)


def categories(library: ModelLibrary) -> list[dict]:
    """COCO categories of every model of the recipe (id = obj_id), stable for a recipe."""
    return [{"id": int(obj_id), "name": name, "supercategory": set_name}
            for obj_id, name, set_name, _path, _scale in library.entries]


def coco_path(out_dir, split: str) -> Path:
    """Where a split's instances JSON lives."""
    return Path(out_dir) / f"instances_{split}.json"


def merge_coco(out_dir, split: str, library: ModelLibrary, recipe_file: str = "", hands: bool = False) -> Path:
    """Assemble ``instances_{split}.json`` from every complete scene's ``scene_coco.json`` (scene order).

    Annotation ids are assigned 1..N in (scene, image, gt_id) order. Returns the written path.
    """
    images, annotations = [], []
    for scene in scene_dirs(out_dir, split):
        data = load_json(scene / SCENE_FILE)
        images.extend(data["images"])
        annotations.extend(data["annotations"])
    for i, a in enumerate(annotations, 1):
        a["id"] = i
    doc = {
        "info": {"description": f"gtforge synthetic dataset, split {split}", "version": __version__,
                 "contributor": "gtforge", "recipe": str(recipe_file)},
        "licenses": [],
        "images": images,
        "categories": categories(library) + ([hand_category(hand_category_id(library))] if hands else []),
        "annotations": annotations,
    }
    path = coco_path(out_dir, split)
    write_json_atomic(path, doc)
    return path


def _fail(path, key: str, msg: str):
    raise ValueError(f"{path}: {key}: {msg}")


def read_instances(path) -> dict:
    """Read and check a COCO instances JSON (cocodataset.org/#format-data) as ``pycocotools.coco.COCO`` needs it.

    Checked: the document has ``images``, ``annotations`` and ``categories`` lists; every image has an integer
    ``id``, a ``file_name`` and positive integer ``width``/``height``; every category an ``id`` and a ``name``;
    every annotation an ``image_id`` and ``category_id`` that exist and a ``bbox`` of 4 finite numbers
    [x, y, w, h] (pixels) with w, h >= 0; ``keypoints``, when present, a list of 3 * k numbers. Returns the
    parsed document unchanged.

    Raises
    ------
    ValueError
        ``"path: key: reason"`` naming the first offending key (e.g. ``annotations[12].bbox``), or
        ``"path: not JSON (line l, column c: ...)"``.
    OSError
        The file cannot be read.
    """
    try:
        doc = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if not isinstance(doc, dict):
        _fail(path, "(top level)", "not a JSON object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            _fail(path, key, "missing or not a list")
    image_ids, category_ids = set(), set()
    for i, im in enumerate(doc["images"]):
        key = f"images[{i}]"
        if not isinstance(im, dict) or not isinstance(im.get("id"), int) or not isinstance(im.get("file_name"), str):
            _fail(path, key, "needs an integer id and a file_name")
        if not all(isinstance(im.get(k), int) and im[k] > 0 for k in ("width", "height")):
            _fail(path, key, "width and height must be positive integers")
        image_ids.add(im["id"])
    for i, c in enumerate(doc["categories"]):
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            _fail(path, f"categories[{i}]", "needs an id and a name")
        category_ids.add(c["id"])
    for i, a in enumerate(doc["annotations"]):
        key = f"annotations[{i}]"
        if not isinstance(a, dict):
            _fail(path, key, "not an object")
        if a.get("image_id") not in image_ids:
            _fail(path, f"{key}.image_id", f"no image with id {a.get('image_id')!r}")
        if a.get("category_id") not in category_ids:
            _fail(path, f"{key}.category_id", f"no category with id {a.get('category_id')!r}")
        box = a.get("bbox")
        if (not isinstance(box, list) or len(box) != 4 or not all(isinstance(v, (int, float)) for v in box)
                or not np.all(np.isfinite(box)) or box[2] < 0 or box[3] < 0):
            _fail(path, f"{key}.bbox", f"must be [x, y, w, h] with w, h >= 0, got {box!r}")
        kps = a.get("keypoints")
        if kps is not None and (not isinstance(kps, list) or len(kps) % 3
                                or not all(isinstance(v, (int, float)) for v in kps)):
            _fail(path, f"{key}.keypoints", "must be a list of x, y, v triples")
    return doc
