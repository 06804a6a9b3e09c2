"""YOLO (Ultralytics) writer and reader: detection boxes, segmentation polygons and hand keypoints.

Format reference: Ultralytics dataset docs, https://docs.ultralytics.com/datasets/detect/
(boxes), https://docs.ultralytics.com/datasets/segment/ (polygons) and
https://docs.ultralytics.com/datasets/pose/ (keypoints). One text file per image, one line per
instance, every coordinate normalised by the image width (x) or height (y):

* detect: ``class xc yc w h`` (box centre and size);
* segment: ``class x1 y1 x2 y2 ...`` (one polygon);
* pose: ``class xc yc w h px1 py1 v1 ... px21 py21 v21`` (``kpt_shape: [21, 3]``).

Ultralytics has one label file per image and one task per dataset, so gtforge writes one complete
dataset per task, side by side, sharing the frames by hard links (no copy)::

    DIR/yolo/{detect,segment,pose}/data.yaml
    DIR/yolo/{task}/images/{split}/{scene_id:06d}_{im_id:06d}.jpg   (links to the BOP rgb/ files)
    DIR/yolo/{task}/labels/{split}/{scene_id:06d}_{im_id:06d}.txt

``detect`` and ``segment`` hold every instance with a visible pixel: class ``i`` is the ``i``-th
model of the recipe (``obj_id = i + 1``, names in ``data.yaml``) and, in recipes with hands, the
last class is ``hand``. ``pose`` (recipes with hands only) holds the hands alone, class 0 ``hand``,
with 21 keypoints in MANO's order (``core.hands.KEYPOINT_NAMES``) and COCO's visibility
``v``: 0 outside the image (written ``0 0 0``), 1 occluded, 2 visible; ``flip_idx`` is the identity
(a mirrored right hand is a left hand with the same keypoint order).

Pixel convention: Ultralytics' normalised coordinates put the image's left edge at 0 and its right
edge at 1, so pixel column u spans [u, u + 1) before normalisation, as COCO's boxes. Boxes are
``bbox_visib`` (the tight box of ``mask_visib``, the same numbers as COCO's ``bbox``). Polygons are
the marching-squares contour of ``mask_visib`` at level 0.5 (``skimage.measure.find_contours``),
which runs along the pixel edges and cuts corners diagonally: the box of a polygon is exactly
``bbox_visib``, so Ultralytics' boxes derived from polygons equal the detection boxes. Holes are
filled; an instance split into several pieces (e.g. by an occluder) is one polygon joined by
zero-width bridges between nearest vertices (as Ultralytics' own COCO converter does). Keypoints are
in gtforge's pixel-centre convention (``core.labels``), so ``x = (u + 0.5) / W``.

``data.yaml`` holds ``train`` and ``val`` (both the written split: gtforge writes one split per
dataset), ``names``, ``nc`` and for pose ``kpt_shape`` and ``flip_idx``; it has no ``path`` key, so
Ultralytics resolves paths relative to the file and the folder can be moved. Each scene's label
files are first written to ``yolo/{task}/`` inside the scene folder (atomic with the scene, so
builds resume); :meth:`YoloWriter.merge` links them and the frames into ``DIR/yolo``.

Reading (:func:`read_data_yaml`, :func:`read_labels`): any Ultralytics dataset, for ``gtforge compare``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from scipy import ndimage
from skimage import measure

from ..core.hands import KEYPOINT_NAMES
from ..core.labels import InstanceLabel
from ..core.library import ModelLibrary
from .atomic import link_or_copy, write_text_atomic
from .bop import rgb_relpath, scene_dirs
from .protocol import DatasetContext, FrameRecord, SceneContext

#: The tasks, each a separate Ultralytics dataset under ``DIR/yolo/{task}``; pose only with hands.
TASKS = ("detect", "segment", "pose")
FOLDER = "yolo"


def frame_name(scene_id: int, im_id: int) -> str:
    """File stem of a frame in the YOLO layout: ``{scene_id:06d}_{im_id:06d}``."""
    return f"{int(scene_id):06d}_{int(im_id):06d}"


def box_fields(bbox_xywh, width: int, height: int) -> list[float]:
    """Normalised [xc, yc, w, h] of a pixel box [x, y, w, h] (ints, column x spans [x, x + 1)).

    Raises ValueError for an empty box (w or h < 1).
    """
    x, y, w, h = (float(v) for v in bbox_xywh)
    if w < 1 or h < 1:
        raise ValueError(f"empty box {list(bbox_xywh)}")
    return [(x + w / 2) / width, (y + h / 2) / height, w / width, h / height]


def _ring_area(ring: np.ndarray) -> float:
    """Signed shoelace area of a closed ring (K, 2)."""
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _drop_collinear(ring: np.ndarray) -> np.ndarray:
    """Remove vertices lying on the straight line through their neighbours (exact: coordinates are multiples of 0.5)."""
    prev, nxt = np.roll(ring, 1, axis=0), np.roll(ring, -1, axis=0)
    cross = (ring[:, 0] - prev[:, 0]) * (nxt[:, 1] - ring[:, 1]) - (ring[:, 1] - prev[:, 1]) * (nxt[:, 0] - ring[:, 0])
    return ring[cross != 0]


def _component_ring(component: np.ndarray) -> np.ndarray:
    """Outer contour (K, 2) [x, y] of one 4-connected component (bool, padded by 1 pixel), holes filled.

    Coordinates are the padded array's, pixel centres at integers (marching squares at 0.5).
    """
    filled = ndimage.binary_fill_holes(component).astype(np.float32)
    contours = measure.find_contours(filled, 0.5)
    ring = max(contours, key=lambda c: abs(_ring_area(c)))[:-1, ::-1]  # closed: last == first; (row, col) -> (x, y)
    return _drop_collinear(ring)


def _bridge(poly: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """``poly`` with ``ring`` spliced in through a zero-width bridge between their nearest vertices."""
    d = ((poly[:, None, :] - ring[None, :, :]) ** 2).sum(axis=2)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    return np.concatenate([poly[: i + 1], np.roll(ring, -j, axis=0), ring[j : j + 1], poly[i:]])


def mask_polygon(mask: np.ndarray) -> np.ndarray:
    """One polygon (K, 2) float64 [x, y] tracing a boolean mask (H, W), pixel column u spanning [u, u + 1).

    Each 4-connected piece contributes its outer marching-squares contour at level 0.5 (holes filled),
    which follows the pixel edges and cuts corners, so the polygon's bounding box is exactly the mask's
    tight box; pieces are joined by zero-width bridges, in raster order of their first pixel.

    Raises ValueError for an empty mask.
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("empty mask has no polygon")
    crop = np.pad(mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], 1)
    pieces, n = ndimage.label(crop)
    poly = None
    for k in range(1, n + 1):
        ring = _component_ring(pieces == k)
        poly = ring if poly is None else _bridge(poly, ring)
    return poly + [cols[0] - 1 + 0.5, rows[0] - 1 + 0.5]  # undo crop and pad; pixel centre u -> u + 0.5


def _line(cls: int, values) -> str:
    return " ".join([str(int(cls))] + [f"{v:.6f}" for v in values])


def detect_lines(instances, class_of, width: int, height: int) -> list[str]:
    """``class xc yc w h`` lines of the instances (labels with ``bbox_visib``) that have a visible pixel.

    ``class_of(instance) -> int`` gives the class index.
    """
    return [_line(class_of(x), box_fields(x.bbox_visib, width, height)) for x in instances if x.px_count_visib > 0]


def segment_lines(instances, class_of, width: int, height: int) -> list[str]:
    """``class x1 y1 ...`` lines (normalised :func:`mask_polygon` of ``mask_visib``) of the visible instances."""
    out = []
    for x in instances:
        if x.px_count_visib > 0:
            poly = mask_polygon(x.mask_visib) / [width, height]
            out.append(_line(class_of(x), poly.reshape(-1)))
    return out


def pose_lines(hands, width: int, height: int) -> list[str]:
    """``0 xc yc w h (px py v) * 21`` lines of the hands with a visible pixel.

    Keypoints (21, 2) are pixel centres at integers (gtforge's convention), written ``(u + 0.5) / W``,
    ``(v + 0.5) / H`` with COCO's visibility; keypoints outside the image (v = 0) are written ``0 0 0``.
    """
    out = []
    for h in hands:
        if h.px_count_visib == 0:
            continue
        kps = []
        for (u, v), vis in zip(h.keypoints_2d, h.visibility):
            kps.extend([0.0, 0.0, 0.0] if vis == 0 else [(u + 0.5) / width, (v + 0.5) / height, float(vis)])
        out.append(_line(0, box_fields(h.bbox_visib, width, height) + kps))
    return out


def class_names(library: ModelLibrary, hands: bool) -> dict[int, str]:
    """Classes of the detect and segment sets: {i: name of model obj_id = i + 1}, then ``hand`` with hands."""
    names = {int(obj_id) - 1: name for obj_id, name, _set, _path, _scale in library.entries}
    if hands:
        names[len(names)] = "hand"
    return names


def data_yaml(task: str, split: str, library: ModelLibrary, hands: bool) -> dict:
    """The ``data.yaml`` document of one task's dataset (see the module docstring)."""
    names = {0: "hand"} if task == "pose" else class_names(library, hands)
    doc = {"train": f"images/{split}", "val": f"images/{split}", "nc": len(names), "names": names}
    if task == "pose":
        doc.update({"kpt_shape": [len(KEYPOINT_NAMES), 3], "flip_idx": list(range(len(KEYPOINT_NAMES))),
                    "kpt_names": {0: list(KEYPOINT_NAMES)}})
    return doc


def tasks_for(hands: bool) -> tuple[str, ...]:
    """The tasks a build writes: detect and segment, and pose when the recipe has hands."""
    return TASKS if hands else TASKS[:2]


class YoloWriter:
    """Writes one scene's label files into ``yolo/{task}/{scene_id:06d}_{im_id:06d}.txt`` of its folder.

    Every frame gets a file in each task, empty when nothing is visible (a background image for
    Ultralytics). The frames themselves are :class:`~gtforge.formats.bop.ImagesWriter`'s, linked by
    :meth:`merge`.
    """

    def __init__(self, ctx: SceneContext):
        self.folder, self.scene_id = Path(ctx.folder) / FOLDER, ctx.scene_id
        self.tasks = tasks_for(ctx.recipe.hands is not None)
        self.hand_class = len(ctx.library)
        for task in self.tasks:
            (self.folder / task).mkdir(parents=True, exist_ok=True)

    def _class_of(self, instance) -> int:
        """Class index: ``obj_id - 1`` for an object, the last class for a hand."""
        return int(instance.obj_id) - 1 if isinstance(instance, InstanceLabel) else self.hand_class

    def add_frame(self, frame: FrameRecord) -> None:
        """Write the frame's label file of each task."""
        w, h = int(frame.view.width), int(frame.view.height)
        instances = list(frame.labels) + list(frame.hands)
        lines = {"detect": detect_lines(instances, self._class_of, w, h),
                 "segment": segment_lines(instances, self._class_of, w, h),
                 "pose": pose_lines(frame.hands, w, h)}
        name = frame_name(self.scene_id, frame.im_id)
        for task in self.tasks:
            write_text_atomic(self.folder / task / f"{name}.txt", "".join(ln + "\n" for ln in lines[task]))

    def finish(self) -> None:
        """Nothing left: every file is written with its frame."""

    @classmethod
    def merge(cls, ctx: DatasetContext) -> None:
        """Assemble ``DIR/yolo/{task}`` (:func:`merge_yolo`)."""
        merge_yolo(ctx.root, ctx.split, ctx.library, hands=ctx.recipe.hands is not None,
                   image_format=ctx.recipe.output.image_format)


def merge_yolo(out_dir, split: str, library: ModelLibrary, hands: bool, image_format: str = "jpg") -> Path:
    """Assemble ``DIR/yolo/{task}/{data.yaml, images/{split}, labels/{split}}`` from the complete scenes.

    Label files and the scenes' ``rgb/`` frames are hard-linked (copied where the file system cannot
    link); idempotent. Returns ``DIR/yolo``.
    """
    root = Path(out_dir) / FOLDER
    for task in tasks_for(hands):
        images, labels = root / task / "images" / split, root / task / "labels" / split
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        for scene in scene_dirs(out_dir, split):
            for f in sorted((scene / FOLDER / task).glob("*.txt")):
                link_or_copy(f, labels / f.name)
                im_id = int(f.stem.split("_")[1])
                link_or_copy(scene / rgb_relpath(im_id, image_format), images / f"{f.stem}.{image_format}")
        text = yaml.safe_dump(data_yaml(task, split, library, hands), sort_keys=False)
        write_text_atomic(root / task / "data.yaml", text)
    return root


# --- reading (the reader beside the writer: Ultralytics' own layout, for ``gtforge compare`` and the tests) ---

@dataclass(frozen=True, eq=False)
class YoloLabel:
    """One line of an Ultralytics label file, normalised coordinates in [0, 1] (image width for x, height for y).

    ``box`` (xc, yc, w, h): the box line's fields, or the bounds of a polygon (as Ultralytics' ``segments2boxes``);
    ``polygon`` (m, 2) float64 x, y of a segment line (else None); ``keypoints`` (k, d) float64 of a pose line
    (x, y and, for d = 3, the COCO visibility v), else None.
    """

    cls: int
    box: tuple[float, float, float, float]
    polygon: np.ndarray | None = None
    keypoints: np.ndarray | None = None


def parse_label_line(line: str, kpt_shape=None) -> YoloLabel:
    """Parse one label line (detect, segment or pose; see the module docstring).

    ``kpt_shape`` ([k, d] of ``data.yaml``): a line of 4 + k * d values after the class is a pose line. Otherwise
    4 values are a box and an even number of 6 or more a polygon. Ultralytics' rule for values: every coordinate
    in [0, 1] (``ultralytics.data.utils.verify_image_label``).

    Raises
    ------
    ValueError
        For a non-integer class, a non-number, a wrong count of values or a coordinate outside [0, 1].
    """
    fields = line.split()
    try:
        cls_f = float(fields[0])
        values = np.array([float(v) for v in fields[1:]], dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"not a number ({e})") from None
    if cls_f != int(cls_f) or cls_f < 0:
        raise ValueError(f"class must be an integer >= 0, got {fields[0]!r}")
    n = len(values)
    n_kpt = int(np.prod(kpt_shape)) if kpt_shape is not None else None
    if not np.all(np.isfinite(values)):
        raise ValueError("values must be finite")
    if n_kpt is not None and n == 4 + n_kpt:
        kps = values[4:].reshape(int(kpt_shape[0]), int(kpt_shape[1]))
        coords = np.concatenate([values[:4], kps[:, :2].reshape(-1)])
        label = YoloLabel(int(cls_f), tuple(values[:4]), keypoints=kps)
    elif n == 4:
        coords, label = values, YoloLabel(int(cls_f), tuple(values))
    elif n >= 6 and n % 2 == 0:
        poly = values.reshape(-1, 2)
        lo, hi = poly.min(axis=0), poly.max(axis=0)
        coords = values
        label = YoloLabel(int(cls_f), ((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[0] - lo[0], hi[1] - lo[1]),
                          polygon=poly)
    else:
        expected = "4 (box), an even number >= 6 (polygon)" + (f" or {4 + n_kpt} (pose)" if n_kpt else "")
        raise ValueError(f"{n} values after the class; expected {expected}")
    if coords.min() < 0 or coords.max() > 1:
        raise ValueError(f"coordinates must be normalised to [0, 1], got {coords.min():g} .. {coords.max():g}")
    return label


def read_labels(path, kpt_shape=None) -> list[YoloLabel]:
    """Read one label file (empty lines skipped; :func:`parse_label_line`).

    Raises ValueError ``"path:line: reason"`` for a line that does not parse, OSError for an unreadable file.
    """
    out = []
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            try:
                out.append(parse_label_line(line, kpt_shape))
            except ValueError as e:
                raise ValueError(f"{path}:{i}: {e}") from None
    return out


def read_data_yaml(path) -> dict:
    """Read a ``data.yaml``: the document with ``names`` as {index: name} (a list becomes its enumeration).

    Raises ValueError (naming the file) for YAML that does not parse, a document that is not a mapping or
    ``names`` that is neither a list nor a mapping of integers to names.
    """
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not YAML ({e})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a mapping")
    names = doc.get("names", {})
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict):
        raise ValueError(f"{path}: names: must be a list or a mapping, got {type(names).__name__}")
    try:
        doc["names"] = {int(k): str(v) for k, v in names.items()}
    except (TypeError, ValueError):
        raise ValueError(f"{path}: names: keys must be integers") from None
    return doc
