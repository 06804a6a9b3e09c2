"""Annotation: per-instance labels from rendered buffers and the scene description (pure numpy).

The field definitions (BOP's, with visible masks from the instance-ID buffer, and Unity
Perception's truncation and occlusion) are in :mod:`gtforge.core.labels`. Inputs are the
renderer's buffers of one view: the instance-ID buffer, the depth map and the per-instance
amodal silhouettes on BOP's 3W x 3H canvas.
"""

from __future__ import annotations

import numpy as np

from ..core.description import SceneDescription, View
from ..core.geometry import invert_pose, project_points, transform_points
from ..core.hands import params_in_camera
from ..core.labels import (KP_OCCLUDED, KP_VISIBLE, HandLabel, InstanceLabel, VisibilityStats, mask_bbox,
                           occlusion_level)
from ..core.lens import lens_model, project_points_lens


def visibility_stats(amodal_canvas: np.ndarray, ids: np.ndarray, depth: np.ndarray, inst_id: int,
                     thresholds=(0.1, 0.5)) -> VisibilityStats:
    """Masks, counts, boxes and occlusion figures of one instance.

    Parameters
    ----------
    amodal_canvas : (3H, 3W) bool
        Silhouette of the object rendered alone; canvas pixel (v + H, u + W) is image pixel (v, u).
    ids : (H, W) int
        Instance-ID buffer.
    depth : (H, W) float
        Scene depth, metres, 0 = invalid.
    inst_id : int
    thresholds : (t0, t1)
        Occlusion level thresholds.

    Returns
    -------
    VisibilityStats

    Raises
    ------
    ValueError
        If the canvas is not 3x the image size.
    """
    H, W = ids.shape
    if amodal_canvas.shape != (3 * H, 3 * W):
        raise ValueError(f"amodal canvas {amodal_canvas.shape} is not 3x the image {ids.shape}")
    mask = amodal_canvas[H:2 * H, W:2 * W]
    mask_visib = (ids == inst_id) & mask
    px_all = int(np.count_nonzero(amodal_canvas))  # (bool .sum() casts every pixel: 7x slower)
    px_in = int(np.count_nonzero(mask))
    px_vis = int(np.count_nonzero(mask_visib))
    px_valid = int(np.count_nonzero(mask & (depth > 0)))
    truncation = 1.0 - px_in / px_all if px_all > 0 else 1.0
    occlusion = (1.0 - px_vis / px_in) if px_in > 0 else None
    return VisibilityStats(
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


def annotate_view(scene: SceneDescription, view: View, ids: np.ndarray, depth: np.ndarray, amodal: dict,
                  thresholds=(0.1, 0.5)) -> list[InstanceLabel]:
    """Labels of every object of ``scene`` in one view, in ``scene.objects`` order (BOP gt_id order).

    Parameters
    ----------
    scene : SceneDescription
        Settled scene (poses are the ground truth).
    view : View
    ids, depth : (H, W)
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
        stats = visibility_stats(amodal[o.inst_id], ids, depth, o.inst_id, thresholds)
        labels.append(InstanceLabel(inst_id=o.inst_id, obj_id=o.obj_id, cam_R_m2c=cam_T_model[:3, :3].copy(),
                                    cam_t_m2c=cam_T_model[:3, 3].copy(), **stats.visibility_fields()))
    return labels


# ---------------------------------------------------------------- hands
def keypoint_visibility(kp_cam: np.ndarray, K: np.ndarray, ids: np.ndarray, depth: np.ndarray, hand_id: int,
                        radii: np.ndarray, hand_ids=(), dist=None) -> tuple[np.ndarray, np.ndarray, list]:
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
    ids, depth : (H, W) instance-ID buffer and depth (metres)
    hand_id : int
    radii : (k,) metres
    hand_ids : ids of all hands in the scene
    dist : the lens (``View.lens``: (model, coeffs)) or None
        Keypoints are projected through it (``cv2.projectPoints`` / ``cv2.fisheye.projectPoints``,
        ``core.lens.project_points_lens``); beyond the lens's field they are NaN (outside).

    Returns
    -------
    uv : (k, 2) float64 pixel coordinates (NaN behind the camera or beyond the lens's field)
    vis : (k,) int: 0 outside, 1 occluded, 2 visible (COCO's v)
    cause : list of str: 'visible', 'outside', 'self', 'hand', 'object' or 'scene'
    """
    H, W = ids.shape
    z = kp_cam[:, 2]
    uv = np.full((len(kp_cam), 2), np.nan)
    front = z > 1e-9
    if lens_model(dist) is None:
        uv[front] = project_points(kp_cam[front], K)
    else:
        uv[front] = project_points_lens(kp_cam[front], K, dist)
        front &= np.isfinite(uv).all(axis=1)
    vis = np.zeros(len(kp_cam), dtype=np.int64)
    cause = []
    for k in range(len(kp_cam)):
        u, v = uv[k]
        if not front[k] or not (-0.5 <= u < W - 0.5 and -0.5 <= v < H - 0.5):
            cause.append("outside")
            continue
        r, c = int(np.floor(v + 0.5)), int(np.floor(u + 0.5))
        owner, zs = int(ids[r, c]), float(depth[r, c])
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


def annotate_hands(scene: SceneDescription, view: View, ids: np.ndarray, depth: np.ndarray, amodal: dict,
                   thresholds=(0.1, 0.5)) -> list[HandLabel]:
    """Labels of every hand of ``scene`` in one view (in ``scene.hands`` order).

    Parameters and errors as :func:`annotate_view`; keypoint visibility by :func:`keypoint_visibility`
    with each hand's ``keypoint_radii``.
    """
    cam_T_world = invert_pose(view.world_T_cam)
    hand_ids = [h.inst_id for h in scene.hands]
    out = []
    for h in scene.hands:
        kp = transform_points(cam_T_world, h.keypoints)
        uv, vis, cause = keypoint_visibility(kp, view.K, ids, depth, h.inst_id, h.keypoint_radii, hand_ids,
                                             dist=view.lens)
        go, tr = params_in_camera(h, cam_T_world)
        stats = visibility_stats(amodal[h.inst_id], ids, depth, h.inst_id, thresholds)
        out.append(HandLabel(
            inst_id=h.inst_id, handedness=h.handedness, keypoints_cam=kp, keypoints_2d=uv, visibility=vis,
            occluder=cause, global_orient=go, transl=tr, hand_pose=np.asarray(h.hand_pose), betas=np.asarray(h.betas),
            flat_hand_mean=h.flat_hand_mean, backend=h.backend, grasped_inst=h.grasped_inst,
            vertices_cam=transform_points(cam_T_world, h.vertices), faces=h.faces,
            forearm_vertices_cam=None if h.forearm is None else transform_points(cam_T_world, h.forearm.vertices),
            **stats.visibility_fields()))
    return out
