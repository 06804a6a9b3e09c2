"""Independent ground-truth oracle: ray casting (trimesh + Embree) from the written files only.

Nothing here uses pyrender or gtforge's renderer: meshes come from the
dataset's ``models/obj_XXXXXX.ply`` (mm), poses and K from the JSON files,
and every pixel's ray goes through the pixel centre (u, v) (OpenCV).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import trimesh


def load_models(root) -> dict[int, trimesh.Trimesh]:
    """obj_id -> mesh in metres (model frame), read from the BOP models folder."""
    info = json.loads((Path(root) / "models" / "models_info.json").read_text())
    out = {}
    for k in info:
        m = trimesh.load(Path(root) / "models" / f"obj_{int(k):06d}.ply", process=False)
        m.apply_scale(0.001)
        out[int(k)] = m
    return out


def pixel_rays(K, width, height, u0=0, v0=0):
    """Unit-z ray directions (H*W, 3) through pixel centres u in [u0, u0+W), v in [v0, v0+H)."""
    u, v = np.meshgrid(np.arange(u0, u0 + width, dtype=np.float64), np.arange(v0, v0 + height, dtype=np.float64))
    uv1 = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
    return uv1 @ np.linalg.inv(K).T  # z component is 1


def cast(meshes_cam: list[trimesh.Trimesh], K, width, height, u0=0, v0=0):
    """First hits of rays from the camera centre.

    Returns (depth (H, W) float64 z in metres, 0 = miss; owner (H, W) int, index into meshes_cam, -1 = miss).
    """
    dirs = pixel_rays(K, width, height, u0, v0)
    depth = np.zeros(width * height)
    owner = np.full(width * height, -1)
    if not meshes_cam:
        return depth.reshape(height, width), owner.reshape(height, width)
    combined = trimesh.util.concatenate(meshes_cam)
    face_owner = np.concatenate([np.full(len(m.faces), i) for i, m in enumerate(meshes_cam)])
    norms = np.linalg.norm(dirs, axis=1, keepdims=True)
    locs, ray_idx, tri_idx = combined.ray.intersects_location(np.zeros_like(dirs), dirs / norms, multiple_hits=False)
    depth[ray_idx] = locs[:, 2]
    owner[ray_idx] = face_owner[tri_idx]
    return depth.reshape(height, width), owner.reshape(height, width)


def floor_depth(K, width, height, cam_T_world, half_size):
    """Analytic depth (H, W) of the world floor square |x|,|y| <= half_size at z = 0 (0 where missed)."""
    dirs_cam = pixel_rays(K, width, height)
    R, t = cam_T_world[:3, :3], cam_T_world[:3, 3]
    c_world = -R.T @ t
    d_world = dirs_cam @ R  # R^T d for each row
    with np.errstate(divide="ignore", invalid="ignore"):
        s = -c_world[2] / d_world[:, 2]
    p = c_world + s[:, None] * d_world
    ok = (s > 0) & (np.abs(p[:, 0]) <= half_size) & (np.abs(p[:, 1]) <= half_size)
    z = np.where(ok, s, 0.0)  # direction has z_cam = 1, so the parameter is the depth
    return z.reshape(height, width)


def depth_to_dist(depth, K):
    """BOP's depth -> distance-from-centre conversion (bop_toolkit misc.depth_im_to_dist_im_fast)."""
    h, w = depth.shape
    xs = (np.arange(w) - K[0, 2]) / K[0, 0]
    ys = (np.arange(h) - K[1, 2]) / K[1, 1]
    return depth * np.sqrt(xs[None, :] ** 2 + ys[:, None] ** 2 + 1.0)
