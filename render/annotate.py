"""Annotation: per-instance labels from rendered buffers and the scene description (pure numpy).

Definitions (BOP toolkit ``docs/bop_datasets_format.md`` and
``bop_toolkit_lib/visibility.py``, with one deliberate change):

* ``mask`` (amodal): the object's silhouette rendered alone, in-image part.
* ``mask_visib``: the pixels whose centre sees this object, taken from the
  instance-ID buffer, so each pixel has exactly one owner. (BOP derives it
  from a depth threshold, delta = 15 mm, which lets two objects own a pixel.)
  It is intersected with ``mask``, so visible pixels are always part of the
  silhouette (the renderer already guarantees this; the intersection keeps
  ``visib_fract <= 1`` even on a driver that rasterises two passes differently).
* ``px_count_all``: pixels of the silhouette on the 3W x 3H canvas (image in
  the middle), so the part outside the image counts.
* ``px_count_valid``: silhouette pixels inside the image with a valid (> 0) scene depth.
* ``px_count_visib``: pixels of ``mask_visib``; ``visib_fract = px_count_visib / px_count_all`` (0 if the latter is 0).
* ``bbox_obj``: [x, y, w, h] of the canvas silhouette in image coordinates
  (may extend past the image); ``bbox_visib``: of ``mask_visib``.
  ``w = x_max - x_min + 1``; an empty mask gives [-1, -1, -1, -1] (BOP's value).

Beyond BOP (Unity Perception's definitions):

* ``truncation = 1 - px_in_frame / px_count_all`` (share of the silhouette outside the image; 1 if nothing is drawn at all).
* ``occlusion = 1 - px_count_visib / px_in_frame`` (share of the in-frame silhouette hidden by other surfaces; None if nothing is in frame).
* ``occlusion_level``: KITTI-style 0 (fully visible) / 1 (partly) / 2 (largely)
  from ``occlusion`` and thresholds (t0, t1): 0 if occ <= t0, 1 if occ <= t1,
  else 2; 3 (KITTI's "unknown") when nothing is in frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..scenes.description import SceneDescription, View
from ..scenes.hands import keypoint_radii  # a property of the posed hand; computed once when it is placed
from ..scenes.transforms import invert_pose

EMPTY_BBOX = [-1, -1, -1, -1]


def mask_bbox(mask: np.ndarray, offset=(0, 0)) -> list[int]:
    """Tight box [x, y, w, h] (ints, pixels) of a boolean mask (H, W).

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
class InstanceLabel:
    """Ground truth of one object in one view.

    Attributes
    ----------
    inst_id, obj_id : int
    cam_R_m2c : (3, 3) float64
        Rotation model -> OpenCV camera.
    cam_t_m2c : (3,) float64
        Translation model -> camera, **metres** (the BOP writer converts to mm).
    mask, mask_visib : (H, W) bool
        Amodal (in-image part) and visible masks.
    bbox_obj, bbox_visib : list of 4 int
        [x, y, w, h] in pixels.
    px_count_all, px_count_valid, px_count_visib, px_count_in_frame : int
    visib_fract, truncation : float
    occlusion : float or None
    occlusion_level : int
    """

    inst_id: int
    obj_id: int
    cam_R_m2c: np.ndarray
    cam_t_m2c: np.ndarray
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


def visibility_stats(amodal_canvas: np.ndarray, inst: np.ndarray, depth: np.ndarray, inst_id: int,
                     thresholds=(0.1, 0.5)) -> dict:
    """Masks, counts, boxes and occlusion figures of one instance.

    Parameters
    ----------
    amodal_canvas : (3H, 3W) bool
        Silhouette of the object rendered alone; canvas pixel (v + H, u + W) is image pixel (v, u).
    inst : (H, W) int
        Instance-ID buffer.
    depth : (H, W) float
        Scene depth, metres, 0 = invalid.
    inst_id : int
    thresholds : (t0, t1)
        Occlusion level thresholds.

    Returns
    -------
    dict with the fields of :class:`InstanceLabel` except ids and pose.

    Raises
    ------
    ValueError
        If the canvas is not 3x the image size.
    """
    H, W = inst.shape
    if amodal_canvas.shape != (3 * H, 3 * W):
        raise ValueError(f"amodal canvas {amodal_canvas.shape} is not 3x the image {inst.shape}")
    mask = amodal_canvas[H:2 * H, W:2 * W]
    mask_visib = (inst == inst_id) & mask
    px_all = int(amodal_canvas.sum())
    px_in = int(mask.sum())
    px_vis = int(mask_visib.sum())
    px_valid = int(np.count_nonzero(mask & (depth > 0)))
    truncation = 1.0 - px_in / px_all if px_all > 0 else 1.0
    occlusion = (1.0 - px_vis / px_in) if px_in > 0 else None
    return dict(
        mask=mask.copy(),
        mask_visib=mask_visib,
        bbox_obj=mask_bbox(amodal_canvas, offset=(-W, -H)),
        bbox_visib=mask_bbox(mask_visib),
        px_count_all=px_all,
        px_count_valid=px_valid,
        px_count_visib=px_vis,
        px_count_in_frame=px_in,
        visib_fract=px_vis / px_all if px_all > 0 else 0.0,
        truncation=float(truncation),
        occlusion=None if occlusion is None else float(occlusion),
        occlusion_level=occlusion_level(occlusion, thresholds),
    )


def annotate_view(scene: SceneDescription, view: View, inst: np.ndarray, depth: np.ndarray, amodal: dict,
                  thresholds=(0.1, 0.5)) -> list[InstanceLabel]:
    """Labels of every object of ``scene`` in one view, in ``scene.objects`` order (BOP gt_id order).

    Parameters
    ----------
    scene : SceneDescription
        Settled scene (poses are the ground truth).
    view : View
    inst, depth : (H, W)
        Instance-ID buffer and depth (metres) of the view.
    amodal : dict[int, (3H, 3W) bool]
        Per ``inst_id`` silhouette canvases.
    thresholds : (t0, t1)

    Raises
    ------
    KeyError
        If an object has no amodal canvas.
    """
    cam_T_world = invert_pose(view.world_T_cam)
    labels = []
    for o in scene.objects:
        cam_T_model = cam_T_world @ o.world_T_model
        stats = visibility_stats(amodal[o.inst_id], inst, depth, o.inst_id, thresholds)
        labels.append(InstanceLabel(inst_id=o.inst_id, obj_id=o.obj_id, cam_R_m2c=cam_T_model[:3, :3].copy(),
                                    cam_t_m2c=cam_T_model[:3, 3].copy(), **stats))
    return labels


# ---------------------------------------------------------------- hands
#: COCO keypoint visibility values
KP_OUTSIDE, KP_OCCLUDED, KP_VISIBLE = 0, 1, 2


def keypoint_visibility(kp_cam: np.ndarray, K: np.ndarray, inst: np.ndarray, depth: np.ndarray, hand_id: int,
                        radii: np.ndarray, hand_ids=()) -> tuple[np.ndarray, np.ndarray, list]:
    """Visibility of hand keypoints from the rendered buffers (docs/conventions.md, "Hands").

    Rule: a keypoint is *outside* when it is behind the camera or its projection is not inside the
    image; otherwise, at the pixel nearest to its projection, it is *visible* when that pixel's owner
    is this hand and the surface there is at most ``radii[k]`` in front of it (z_surface >= z_k - r_k),
    and *occluded* otherwise, by ``self`` (the same hand, nearer), another ``hand``, an ``object``, or
    the ``scene`` (floor, walls, background).

    Parameters
    ----------
    kp_cam : (k, 3) keypoints in the OpenCV camera frame, metres
    K : (3, 3)
    inst, depth : (H, W) instance-ID buffer and depth (metres)
    hand_id : int
    radii : (k,) metres
    hand_ids : ids of all hands in the scene

    Returns
    -------
    uv : (k, 2) float64 pixel coordinates (NaN behind the camera)
    vis : (k,) int: 0 outside, 1 occluded, 2 visible (COCO's v)
    cause : list of str: 'visible', 'outside', 'self', 'hand', 'object' or 'scene'
    """
    H, W = inst.shape
    z = kp_cam[:, 2]
    uv = np.full((len(kp_cam), 2), np.nan)
    front = z > 1e-9
    p = kp_cam[front] @ K.T
    uv[front] = p[:, :2] / p[:, 2:3]
    vis = np.zeros(len(kp_cam), dtype=np.int64)
    cause = []
    for k in range(len(kp_cam)):
        u, v = uv[k]
        if not front[k] or not (-0.5 <= u < W - 0.5 and -0.5 <= v < H - 0.5):
            cause.append("outside")
            continue
        r, c = int(np.floor(v + 0.5)), int(np.floor(u + 0.5))
        owner, zs = int(inst[r, c]), float(depth[r, c])
        if owner == hand_id and zs >= z[k] - radii[k]:
            vis[k] = KP_VISIBLE
            cause.append("visible")
            continue
        vis[k] = KP_OCCLUDED
        if owner == hand_id:
            cause.append("self")
        elif owner in hand_ids:
            cause.append("hand")
        elif owner > 0:
            cause.append("object")
        else:
            cause.append("scene")
    return uv, vis, cause


@dataclass
class HandLabel:
    """Ground truth of one hand in one view (camera frame, OpenCV, metres).

    ``keypoints_cam`` (21, 3); ``keypoints_2d`` (21, 2) pixels; ``visibility`` (21,) COCO v;
    ``occluder`` (21,) causes; ``global_orient``/``transl`` are the model parameters in this camera
    frame (``hand_pose``, ``betas`` do not depend on the frame); ``vertices_cam`` (n, 3) and ``faces``;
    plus the masks, boxes, counts and occlusion figures of every instance (:func:`visibility_stats`).
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
    stats: dict


def annotate_hands(scene: SceneDescription, view: View, inst: np.ndarray, depth: np.ndarray, amodal: dict,
                   thresholds=(0.1, 0.5)) -> list[HandLabel]:
    """Labels of every hand of ``scene`` in one view (in ``scene.hands`` order)."""
    from ..scenes.hands import params_in_camera

    cam_T_world = invert_pose(view.world_T_cam)
    R, t = cam_T_world[:3, :3], cam_T_world[:3, 3]
    ids = [h.inst_id for h in scene.hands]
    out = []
    for h in scene.hands:
        kp = h.keypoints @ R.T + t
        radii = h.keypoint_radii if h.keypoint_radii is not None else keypoint_radii(h.keypoints, h.vertices)
        uv, vis, cause = keypoint_visibility(kp, view.K, inst, depth, h.inst_id, radii, ids)
        go, tr = params_in_camera(h, cam_T_world)
        out.append(HandLabel(
            inst_id=h.inst_id, handedness=h.handedness, keypoints_cam=kp, keypoints_2d=uv, visibility=vis,
            occluder=cause, global_orient=go, transl=tr, hand_pose=np.asarray(h.hand_pose), betas=np.asarray(h.betas),
            flat_hand_mean=h.flat_hand_mean, backend=h.backend, grasped_inst=h.grasped_inst,
            vertices_cam=h.vertices @ R.T + t, faces=h.faces,
            stats=visibility_stats(amodal[h.inst_id], inst, depth, h.inst_id, thresholds)))
    return out
