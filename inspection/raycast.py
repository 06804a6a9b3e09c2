"""Independent ground truth by ray casting (trimesh + Embree), from a dataset's files only.

Used by ``gtforge verify`` and by the tests as the oracle for the renderer's
output. Nothing here touches OpenGL: models are the written
``models/obj_XXXXXX.ply`` (mm), poses and K come from the JSON files, static
geometry and the distractors' world poses from ``scene_env.json`` (distractor models from
``models_distractors/``), and every ray goes through a pixel centre (u, v) (OpenCV
convention, docs/conventions.md). Distractors occlude like any surface but own no instance.

With a lens (``cam_dist`` in ``scene_camera.json``), each pixel centre's ray is its undistortion through the
written model (``core.lens.pixel_rays``: OpenCV's ``cv2.undistortPoints`` / ``cv2.fisheye.undistortPoints`` with
strict termination, checked by re-projection); pixels without a ray (beyond the lens's field) cast nothing. The lens
math is the project's one model (``core/lens.py``, tested against OpenCV); the scene, its meshes, poses and the ray
casting here are independent of the renderer's (``render/lens_camera.py`` and ``assets/scene_rays.py``, which the
inspection floor may not import): meshes from the written PLY files, poses from the written JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import trimesh

from ..core.lens import pixel_rays
from ..formats.bop import distractor_poses, pose_from_mm

#: Value of a distractor's pixels in :func:`cast_frame`'s owner buffer (-1: nothing, floor or walls).
DISTRACTOR_OWNER = -2


def load_models(root, folder: str = "models") -> dict[int, trimesh.Trimesh]:
    """obj_id -> model mesh in metres (model frame), read from ``root/folder`` (BOP layout, mm).

    ``folder`` is ``models`` (labelled objects) or ``models_distractors`` (``formats.bop.DISTRACTOR_MODELS``).
    Raises FileNotFoundError when ``models_info.json`` or a listed model is missing.
    """
    mdir = Path(root) / folder
    info = json.loads((mdir / "models_info.json").read_text())
    out = {}
    for k in info:
        m = trimesh.load(mdir / f"obj_{int(k):06d}.ply", process=False)
        m.apply_scale(0.001)
        out[int(k)] = m
    return out


def cast(meshes_cam: list[trimesh.Trimesh], K: np.ndarray, width: int, height: int, u0: int = 0, v0: int = 0,
         dist=None):
    """First hits of rays from the camera centre through pixel centres.

    Parameters
    ----------
    meshes_cam : list of trimesh.Trimesh
        Meshes in the OpenCV camera frame, metres.
    K : (3, 3) float64
    width, height : int
        Size of the pixel window; ``u0, v0`` its top-left pixel (may be negative: canvas).
    dist : (model, coeffs) or None
        The lens (``core.lens.pixel_rays``); pixels without a ray hit nothing.

    Returns
    -------
    depth : (H, W) float64
        z of the first hit, metres; 0 where no mesh is hit.
    owner : (H, W) int64
        Index into ``meshes_cam`` of the first hit; -1 where none.
    """
    dirs = pixel_rays(K, dist, width, height, u0, v0).reshape(-1, 3)
    depth = np.zeros(width * height)
    owner = np.full(width * height, -1, dtype=np.int64)
    meshes_cam = [m for m in meshes_cam]
    if meshes_cam:
        combined = trimesh.util.concatenate(meshes_cam)
        face_owner = np.concatenate([np.full(len(m.faces), i) for i, m in enumerate(meshes_cam)])
        has = np.flatnonzero(np.isfinite(dirs).all(axis=1))
        unit = dirs[has] / np.linalg.norm(dirs[has], axis=1, keepdims=True)
        locs, ray_idx, tri_idx = combined.ray.intersects_location(np.zeros_like(unit), unit, multiple_hits=False)
        ray_idx = has[ray_idx]
        depth[ray_idx] = locs[:, 2]
        owner[ray_idx] = face_owner[tri_idx]
    return depth.reshape(height, width), owner.reshape(height, width)


def static_meshes_world(env: dict | None) -> list[trimesh.Trimesh]:
    """The floor square (z = 0) and wall boxes of a ``scene_env.json``, world frame, metres."""
    if not env:
        return []
    s = env["floor_size_mm"] / 2000.0
    out = []
    if s > 0:
        out.append(trimesh.Trimesh([[-s, -s, 0], [s, -s, 0], [s, s, 0], [-s, s, 0]], [[0, 1, 2], [0, 2, 3]],
                                   process=False))
    for b in env["boxes"]:
        T = pose_from_mm(b["world_R_box"], b["world_t_box_mm"])
        out.append(trimesh.creation.box(extents=np.asarray(b["extents_mm"]) / 1000.0, transform=T))
    return out


def distractor_meshes_world(env: dict | None, distractor_models: dict) -> list[trimesh.Trimesh]:
    """The distractors of a ``scene_env.json`` posed in the world frame, metres.

    Parameters
    ----------
    env : dict or None
        ``scene_env.json`` content (``formats.bop.scene_env``); its ``distractors`` list may be absent.
    distractor_models : dict
        obj_id -> model mesh in metres (``load_models(root, "models_distractors")``).

    Raises
    ------
    KeyError
        If a distractor's obj_id has no model.
    """
    out = []
    for obj_id, world_T_model in distractor_poses(env):
        m = distractor_models[obj_id].copy()
        m.apply_transform(world_T_model)
        out.append(m)
    return out


def cast_frame(models: dict, frame, width: int, height: int, env: dict | None = None,
               distractor_models: dict | None = None):
    """Ray-cast one written frame: objects at their written poses, the static geometry and the distractors.

    Parameters
    ----------
    models : dict
        obj_id -> model mesh in metres (:func:`load_models`).
    frame : formats.dataset.Frame
        ``K``, ``cam_T_world``, the lens ``dist`` (None: pinhole) and the instances (``obj_id``, ``cam_T_model``,
        ``gt_id``) to cast.
    width, height : int
        Image size, pixels.
    env : dict or None
        ``scene_env.json`` content: floor, walls and distractor poses (world frame).
    distractor_models : dict or None
        obj_id -> distractor mesh in metres (``load_models(root, "models_distractors")``); required when
        ``env`` lists distractors.

    Returns
    -------
    depth : (H, W) float64
        z of the first hit in the camera frame, metres; 0 where nothing is hit.
    owner : (H, W) int64
        ``gt_id`` of the visible instance; -1 for nothing, the floor or the walls; :data:`DISTRACTOR_OWNER`
        where a distractor is the first hit.
    posed : list of trimesh.Trimesh
        The instances' meshes in the camera frame, in ``frame.instances`` order.

    Raises
    ------
    ValueError
        If ``env`` lists distractors and ``distractor_models`` is None.
    """
    posed = []
    for inst in frame.instances:
        m = models[inst.obj_id].copy()
        m.apply_transform(inst.cam_T_model)
        posed.append(m)
    statics = []
    for m in static_meshes_world(env):
        m = m.copy()
        m.apply_transform(frame.cam_T_world)
        statics.append(m)
    if distractor_poses(env) and distractor_models is None:
        raise ValueError("scene_env.json lists distractors but no distractor models were given")
    distractors = [m.apply_transform(frame.cam_T_world)
                   for m in distractor_meshes_world(env, distractor_models or {})]
    depth, owner = cast(posed + statics + distractors, frame.K, width, height, dist=getattr(frame, "dist", None))
    gt_ids = np.array([i.gt_id for i in frame.instances] + [-1] * len(statics)
                      + [DISTRACTOR_OWNER] * len(distractors) + [-1], dtype=np.int64)
    return depth, gt_ids[owner], posed


def depth_to_dist(depth: np.ndarray, K: np.ndarray, dist=None) -> np.ndarray:
    """Depth (H, W) -> distance from the camera centre (bop_toolkit ``misc.depth_im_to_dist_im_fast``); with a lens
    ``dist``, along each pixel's undistorted ray (``core.lens.pixel_rays``; NaN where a pixel has none)."""
    h, w = depth.shape
    if dist is not None:
        return depth * np.linalg.norm(pixel_rays(K, dist, w, h), axis=-1)
    xs = (np.arange(w) - K[0, 2]) / K[0, 0]
    ys = (np.arange(h) - K[1, 2]) / K[1, 1]
    return depth * np.sqrt(xs[None, :] ** 2 + ys[:, None] ** 2 + 1.0)
