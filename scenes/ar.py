"""Augmented-reality scenes: objects (cars) placed consistently into real background photos.

One scene is one background photo and one view (its own camera). For ``ground``
placement the world frame is the ground plane: z up along the plane normal, the
origin under the camera, x along the camera's viewing direction projected on
the ground. Each object stands on the plane (its bounding box bottom at z = 0) at
a forward distance and a lateral offset inside the camera frustum, with a yaw
from the recipe, and its footprint (oriented rectangle, +0.3 m margin) never meets
another inserted object, a real object's 3D box from the background's labels, or
LiDAR/depth points standing 0.3–2 m above the ground. For ``free`` placement
(cut-and-paste data) objects float in front of the camera in random orientations.

Real objects with 3D boxes become invisible occluders (:class:`StaticBox` in
``SceneDescription.occluders``): they hide inserted objects behind them in the image
and in every label. Lighting follows the photo: ambient from its mean brightness,
a key light tinted by its mean colour from a random sun direction.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .backgrounds import Background, real_boxes
from .clutter import random_rotation, uniform
from .description import Floor, Light, ObjectInstance, SceneDescription, StaticBox, View
from .rng import scene_rng
from .transforms import invert_pose, make_pose

#: instance id that real surfaces (occluders, real depth) own in the ID buffer
REAL_ID = 2**24 - 2


def ground_frame(plane) -> np.ndarray:
    """``ref_T_world`` (4, 4) of the ground frame for a plane (n, d) given in the reference (camera-like) frame."""
    n, d = np.asarray(plane[0], float), float(plane[1])
    origin = -d * n  # foot of the camera centre on the plane
    fwd = np.array([0.0, 0.0, 1.0]) - n * n[2]
    x = fwd / np.linalg.norm(fwd)
    y = np.cross(n, x)
    return make_pose(np.stack([x, y, n], axis=1), origin)


def _footprint(world_T_model: np.ndarray, lo: np.ndarray, hi: np.ndarray, margin: float) -> np.ndarray:
    """(4, 2) world xy corners of a model's bounding box footprint, grown by ``margin``."""
    c = np.array([[lo[0] - margin, lo[1] - margin, 0], [hi[0] + margin, lo[1] - margin, 0],
                  [hi[0] + margin, hi[1] + margin, 0], [lo[0] - margin, hi[1] + margin, 0]])
    return (c @ world_T_model[:3, :3].T + world_T_model[:3, 3])[:, :2]


def polygons_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test for two convex polygons (k, 2)."""
    for poly in (a, b):
        for i in range(len(poly)):
            e = poly[(i + 1) % len(poly)] - poly[i]
            axis = np.array([-e[1], e[0]])
            pa, pb = a @ axis, b @ axis
            if pa.max() < pb.min() or pb.max() < pa.min():
                return False
    return True


def label_footprint(obj, world_T_ref: np.ndarray) -> np.ndarray:
    """(4, 2) world xy footprint of a KITTI label's 3D box (bottom corners)."""
    c = obj.corners()[:4]
    return (c @ world_T_ref[:3, :3].T + world_T_ref[:3, 3])[:, :2]


def label_box(obj, world_T_ref: np.ndarray) -> StaticBox:
    """A KITTI label's 3D box as a world :class:`StaticBox` (occluder)."""
    c, s = math.cos(obj.rotation_y), math.sin(obj.rotation_y)
    R_ref = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])  # box axes (length, height down, width) in ref
    centre = np.array([obj.x, obj.y - obj.h / 2, obj.z])
    ref_T_box = make_pose(R_ref, centre)
    return StaticBox(extents=np.array([obj.l, obj.h, obj.w]), world_T_box=world_T_ref @ ref_T_box, color=np.zeros(3))


def photo_lighting(photo: np.ndarray, rng: np.random.Generator, elevation_deg=(30, 70), azimuth_deg=(0, 360)):
    """(ambient, key Light) from a photo: ambient 0.25 + 0.5 x mean brightness, key light tinted by the mean colour,
    shining from a sun direction drawn in the given ranges (degrees, world frame)."""
    mean = photo.reshape(-1, 3).mean(axis=0) / 255.0
    tint = mean / max(mean.max(), 1e-6)
    az = math.radians(rng.uniform(*azimuth_deg))
    el = math.radians(rng.uniform(*elevation_deg))
    direction = -np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    return 0.25 + 0.5 * float(mean.mean()), Light(direction=direction, color=0.6 + 0.4 * tint,
                                                  intensity=float(rng.uniform(2.5, 4.0)))


def sample_look(cfg, rng: np.random.Generator) -> dict:
    """Per-scene compositing parameters drawn from the recipe's ``ar.look`` ranges."""
    d = lambda r: float(uniform(rng, r.min, r.max))  # noqa: E731
    return {"shadows": cfg.shadows, "shadow_strength": d(cfg.shadow_strength), "blend": cfg.blend,
            "color_match": d(cfg.color_match), "blur_sigma": d(cfg.blur_sigma), "noise_sigma": d(cfg.noise_sigma),
            "chromatic_aberration_px": d(cfg.chromatic_aberration_px), "motion_blur_px": d(cfg.motion_blur_px),
            "motion_angle": float(rng.uniform(0, math.pi)), "noise_seed": int(rng.integers(2**31))}


def build_ar_scene(recipe, library, backgrounds: list[Background], scene_index: int) -> SceneDescription:
    """Describe AR scene ``scene_index``: background ``scene_index % len(backgrounds)``, its camera, placed objects.

    Objects that find no valid place in ``max_tries`` draws are left out (``removed``).
    """
    ar = recipe.ar
    bg = backgrounds[scene_index % len(backgrounds)]
    rng = scene_rng(recipe.seed, scene_index, "objects")
    ground = ar.placement == "ground"
    ref_T_world = ground_frame(bg.plane) if ground else np.eye(4)
    world_T_ref = invert_pose(ref_T_world)
    world_T_cam = world_T_ref @ bg.ref_T_cam
    cam_T_world = invert_pose(world_T_cam)
    view = View(K=bg.K, width=bg.width, height=bg.height, world_T_cam=world_T_cam, znear=0.05, zfar=300.0)
    taken = []
    occluders = []
    if ground and ar.avoid_real:
        for obj in real_boxes(bg):
            taken.append(label_footprint(obj, world_T_ref))
            occluders.append(label_box(obj, world_T_ref))
    pts_w = ground_pts = None
    if ground and bg.points_ref is not None:
        pts_w = bg.points_ref @ world_T_ref[:3, :3].T + world_T_ref[:3, 3]
        ground_pts = pts_w[np.abs(pts_w[:, 2]) < 0.1][:, :2]  # the real ground, as seen by the 3D sensor
    hfov = math.atan2(bg.width / 2, bg.K[0, 0])
    objects, removed = [], []
    for s in recipe.objects:
        ids = library.set_ids[s.name]
        n = int(rng.integers(s.count.min, s.count.max + 1))
        for _ in range(n):
            obj_id = int(ids[int(rng.integers(len(ids)))])
            lo, hi = library.get(obj_id).mesh.bounds
            centre = 0.5 * (lo + hi)
            placed = None
            for _try in range(ar.max_tries):
                if ground:
                    u = uniform(rng, ar.distance.min, ar.distance.max)
                    v = uniform(rng, -1, 1) * u * math.tan(hfov) * ar.lateral_fraction
                    yaw = math.radians(uniform(rng, ar.yaw_deg.min, ar.yaw_deg.max))
                    Rz = np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]])
                    T = make_pose(Rz, [u, v, 0.0]) @ make_pose(np.eye(3), [-centre[0], -centre[1], -lo[2]])
                else:
                    dist = uniform(rng, ar.distance.min, ar.distance.max)
                    px = np.array([uniform(rng, 0.15, 0.85) * bg.width, uniform(rng, 0.15, 0.85) * bg.height, 1.0])
                    ray = np.linalg.solve(bg.K, px)
                    p_cam = ray / np.linalg.norm(ray) * dist
                    R = random_rotation(rng)
                    T = world_T_cam @ make_pose(R, p_cam - R @ centre)
                corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
                pc = corners @ (cam_T_world @ T)[:3, :3].T + (cam_T_world @ T)[:3, 3]
                if np.any(pc[:, 2] < 1.0 if ground else pc[:, 2] < 0.1):
                    continue
                uv = pc[:, :2] / pc[:, 2:3] * [bg.K[0, 0], bg.K[1, 1]] + bg.K[:2, 2]
                cu, cv = uv.mean(axis=0)
                if not (0 <= cu < bg.width and 0 <= cv < bg.height):
                    continue
                if ground and bg.free_mask is not None:  # where it touches the ground must be free space
                    contact = _footprint(T, lo, hi, 0.0)
                    contact = np.c_[np.vstack([contact, contact.mean(axis=0)]), np.zeros(5)]
                    cc = contact @ cam_T_world[:3, :3].T + cam_T_world[:3, 3]
                    px = np.round(cc[:, :2] / cc[:, 2:3] * [bg.K[0, 0], bg.K[1, 1]] + bg.K[:2, 2]).astype(int)
                    ok = (px[:, 0] >= 0) & (px[:, 0] < bg.width) & (px[:, 1] >= 0) & (px[:, 1] < bg.height)
                    if not np.all(bg.free_mask[px[ok, 1], px[ok, 0]]) or not ok[-1]:
                        continue
                if ground:
                    fp = _footprint(T, lo, hi, 0.1 * float(hi[0] - lo[0]))
                    if any(polygons_overlap(fp, t) for t in taken):
                        continue
                    if pts_w is not None and len(pts_w):
                        from matplotlib.path import Path as MplPath

                        # real ground must be there: ground points in and around the footprint
                        around = _footprint(T, lo, hi, 0.5 + 0.1 * float(hi[0] - lo[0]))
                        if MplPath(around).contains_points(ground_pts).sum() < 5:
                            continue
                    if ar.avoid_real and pts_w is not None and len(pts_w):
                        from matplotlib.path import Path as MplPath

                        standing = pts_w[(pts_w[:, 2] > max(0.03, 0.15 * float(hi[2] - lo[2]))) & (pts_w[:, 2] < 2.0)]
                        if MplPath(fp).contains_points(standing[:, :2]).sum() > 3:
                            continue
                    taken.append(_footprint(T, lo, hi, 0.0))
                placed = T
                break
            inst_id = len(objects) + len(removed) + 1
            if placed is None:
                removed.append((inst_id, "no free place"))
                continue
            objects.append(ObjectInstance(inst_id=inst_id, obj_id=obj_id, world_T_model=placed, mass=s.mass))
    look_rng = scene_rng(recipe.seed, scene_index, "appearance")
    lk = ar.look
    ambient, key = photo_lighting(bg.image(), look_rng, (lk.sun_elevation_deg.min, lk.sun_elevation_deg.max),
                                  (lk.sun_azimuth_deg.min, lk.sun_azimuth_deg.max))
    desc = SceneDescription(
        scene_index=scene_index, objects=tuple(objects), floor=Floor(size=400.0, color=np.ones(3)), walls=(),
        lights=(key,), ambient=ambient, background_color=np.zeros(3), views=(view,),
        shadows=bool(ground and ar.look.shadows), removed=tuple(removed))
    return replace(desc, background=bg, occluders=tuple(occluders), look=sample_look(ar.look, look_rng),
                   ref_T_world=ref_T_world)
