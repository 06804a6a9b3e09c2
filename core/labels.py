"""Label types: what one object or hand looks like in one view, and the definitions of their fields.

Definitions (BOP toolkit ``docs/bop_datasets_format.md`` and ``bop_toolkit_lib/visibility.py``,
with one deliberate change; the beyond-BOP figures follow Unity Perception):

* ``mask`` (amodal): the instance's silhouette rendered alone, in-image part.
* ``mask_visib``: the pixels whose centre sees this instance, from the instance-ID buffer, so
  each pixel has exactly one owner (BOP derives it from a 15 mm depth threshold, which lets two
  objects own a pixel); always a subset of ``mask``.
* ``px_count_all``: pixels of the silhouette on the 3W x 3H canvas (image in the middle), so the
  part outside the image counts; ``px_count_valid``: in-image silhouette pixels with valid (> 0)
  scene depth; ``px_count_visib``: pixels of ``mask_visib``; ``px_count_in_frame``: of ``mask``.
* ``visib_fract = px_count_visib / px_count_all`` (0 if the latter is 0).
* ``bbox_obj``: [x, y, w, h] of the canvas silhouette in image coordinates (may extend past the
  image); ``bbox_visib``: of ``mask_visib``; ``w = x_max - x_min + 1``; an empty mask gives
  [-1, -1, -1, -1] (BOP's value).
* ``truncation = 1 - px_count_in_frame / px_count_all`` (1 if nothing is drawn at all).
* ``occlusion = 1 - px_count_visib / px_count_in_frame`` (None if nothing is in frame).
* ``occlusion_level``: KITTI-style 0 (fully visible) / 1 (partly) / 2 (largely) from ``occlusion``
  and thresholds (t0, t1): 0 if occ <= t0, 1 if occ <= t1, else 2; 3 (KITTI's "unknown") when
  nothing is in frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EMPTY_BBOX = [-1, -1, -1, -1]
#: COCO keypoint visibility values (``v`` of [x, y, v])
KP_OUTSIDE, KP_OCCLUDED, KP_VISIBLE = 0, 1, 2


def mask_bbox(mask: np.ndarray, offset=(0, 0)) -> list[int]:
    """Tight box [x, y, w, h] (ints, pixels) of a boolean mask (H, W), ``w = x_max - x_min + 1``.

    ``offset`` (dx, dy) is added to x and y (use (-W, -H) for a 3W x 3H canvas).
    Returns [-1, -1, -1, -1] for an empty mask.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return list(EMPTY_BBOX)
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1], cols[0], cols[-1]
    return [int(x0 + offset[0]), int(y0 + offset[1]), int(x1 - x0 + 1), int(y1 - y0 + 1)]


def occlusion_level(occlusion: float | None, thresholds=(0.1, 0.5)) -> int:
    """KITTI-style level: 0 if occ <= t0, 1 if occ <= t1, else 2; 3 if ``occlusion`` is None (unknown)."""
    if occlusion is None:
        return 3
    t0, t1 = thresholds
    if occlusion <= t0:
        return 0
    if occlusion <= t1:
        return 1
    return 2


@dataclass
class VisibilityStats:
    """Masks, pixel counts, boxes and occlusion figures of one instance (object or hand) in one view.

    Attributes (definitions in the module docstring)
    ----------
    mask, mask_visib : (H, W) bool
        Amodal (in-image part) and visible masks.
    bbox_obj, bbox_visib : list of 4 int
        [x, y, w, h] in pixels.
    px_count_all, px_count_valid, px_count_visib, px_count_in_frame : int
    visib_fract, truncation : float in [0, 1]
    occlusion : float in [0, 1] or None
    occlusion_level : int in {0, 1, 2, 3}
    """

    mask: np.ndarray
    mask_visib: np.ndarray
    bbox_obj: list
    bbox_visib: list
    px_count_all: int
    px_count_valid: int
    px_count_visib: int
    px_count_in_frame: int
    visib_fract: float
    truncation: float
    occlusion: float | None
    occlusion_level: int

    def visibility_fields(self) -> dict:
        """The fields of this class only, by name (to build a subclass from computed statistics)."""
        return {k: getattr(self, k) for k in VisibilityStats.__dataclass_fields__}


@dataclass(kw_only=True)
class InstanceLabel(VisibilityStats):
    """Ground truth of one rigid object in one view: its :class:`VisibilityStats` plus ids and 6D pose.

    Attributes
    ----------
    inst_id : int
        Value in the instance-ID buffer (see ``core.ids``).
    obj_id : int
        Model id (BOP ``obj_id``).
    cam_R_m2c : (3, 3) float64
        Rotation model -> OpenCV camera.
    cam_t_m2c : (3,) float64
        Translation model -> camera, **metres** (the BOP writer converts to mm).
    """

    inst_id: int
    obj_id: int
    cam_R_m2c: np.ndarray
    cam_t_m2c: np.ndarray


@dataclass(kw_only=True)
class HandLabel(VisibilityStats):
    """Ground truth of one hand in one view (camera frame, OpenCV, metres): its :class:`VisibilityStats` plus

    ``inst_id``; ``handedness`` 'right' or 'left'; ``keypoints_cam`` (21, 3) metres; ``keypoints_2d``
    (21, 2) pixels (NaN behind the camera); ``visibility`` (21,) int, COCO's v (``KP_*``);
    ``occluder`` (21,) str: 'visible', 'outside', 'self', 'hand', 'object' or 'scene';
    ``global_orient`` (3,) and ``transl`` (3,): the model parameters in this camera frame
    (``core.hands.params_in_camera``); ``hand_pose`` (45,) and ``betas`` (frame-independent);
    ``flat_hand_mean``; ``backend``; ``grasped_inst`` (inst_id of the grasped object or None);
    ``vertices_cam`` (n, 3) metres and ``faces`` (m, 3); ``forearm_vertices_cam`` (k, 3) metres, the hand's
    forearm (part of its masks and boxes, not of its keypoints or model), or None.
    """

    inst_id: int
    handedness: str
    keypoints_cam: np.ndarray
    keypoints_2d: np.ndarray
    visibility: np.ndarray
    occluder: list
    global_orient: np.ndarray
    transl: np.ndarray
    hand_pose: np.ndarray
    betas: np.ndarray
    flat_hand_mean: bool
    backend: str
    grasped_inst: int | None
    vertices_cam: np.ndarray
    faces: np.ndarray
    forearm_vertices_cam: np.ndarray | None = None
