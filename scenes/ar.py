"""Augmented-reality scenes: objects (cars) placed consistently into real background photos.

One scene is one background photo and one view (its own camera). For ``ground``
placement the world frame is the ground plane: z up along the plane normal, the
origin under the camera, x along the camera's viewing direction projected on
the ground. Each object stands on the plane (its bounding box bottom at z = 0) at
a forward distance and a lateral offset inside the camera frustum, with a yaw
from the recipe; where the background has 3D points (LiDAR, depth) and ``ar.local_ground``
is on, it then stands on a plane fitted to the points under its footprint (pitch and roll
follow it up to ``ar.ground_max_tilt_deg``; spots with too few points, points missing in a
quarter of the footprint, a steeper or rougher ground are refused). Its footprint (oriented rectangle, grown
by 10 % of the object's length) never meets another inserted object or a real object's 3D box from the
background's labels, and holds at most 3 LiDAR/depth points standing between max(3 cm, 15 % of the
object's height) and 2 m above the ground. For ``free`` placement
(cut-and-paste data) objects float in front of the camera in random orientations.

Real objects with 3D boxes become invisible occluders (:class:`StaticBox` in
``SceneDescription.ar.occluders``): they hide inserted objects behind them in the image
and in every label. Lighting follows the photo: ambient from its mean brightness,
a key light tinted by its mean colour from a random sun direction.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.path import Path as MplPath

from ..assets.backgrounds import Background, real_boxes
from ..assets.cars import sample_paint
from ..config.ar import ARConfig
from ..core.description import (ARSetting, CompositeLook, Floor, Light, Material, ObjectInstance, SceneDescription,
                                StaticBox, View)
from ..core.geometry import box_corners, invert_pose, make_pose, project_points, transform_points
from ..core.library import ModelLibrary
from ..core.rng import random_rotation, scene_rng, uniform
from .sampling import draw_set_members


def ground_frame(plane) -> np.ndarray:
    """``ref_T_world`` (4, 4) of the ground frame for a plane (n, d) given in the reference (camera-like) frame.

    World: z along the plane normal n (up), origin at the foot of the camera centre on the plane,
    x along the reference frame's +z (viewing direction) projected on the plane.
    """
    n, d = np.asarray(plane[0], float), float(plane[1])
    origin = -d * n  # foot of the camera centre on the plane
    fwd = np.array([0.0, 0.0, 1.0]) - n * n[2]
    x = fwd / np.linalg.norm(fwd)
    y = np.cross(n, x)
    return make_pose(np.stack([x, y, n], axis=1), origin)


def footprint(world_T_model: np.ndarray, lo: np.ndarray, hi: np.ndarray, margin: float) -> np.ndarray:
    """(4, 2) world xy corners of a model's bounding-box footprint (model xy bounds ``lo``, ``hi``), grown by
    ``margin`` m."""
    c = np.array([[lo[0] - margin, lo[1] - margin, 0], [hi[0] + margin, lo[1] - margin, 0],
                  [hi[0] + margin, hi[1] + margin, 0], [lo[0] - margin, hi[1] + margin, 0]])
    return transform_points(world_T_model, c)[:, :2]


def polygons_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test for two convex polygons (k, 2): True when they overlap or touch."""
    for poly in (a, b):
        for i in range(len(poly)):
            e = poly[(i + 1) % len(poly)] - poly[i]
            axis = np.array([-e[1], e[0]])
            pa, pb = a @ axis, b @ axis
            if pa.max() < pb.min() or pb.max() < pa.min():
                return False
    return True


def label_footprint(obj, world_T_ref: np.ndarray) -> np.ndarray:
    """(4, 2) world xy footprint of a KITTI label's 3D box (its bottom corners)."""
    return transform_points(world_T_ref, obj.corners()[:4])[:, :2]


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


def sample_look(cfg, rng: np.random.Generator) -> CompositeLook:
    """Per-scene compositing parameters drawn from the recipe's ``ar.look`` ranges."""
    d = lambda r: float(uniform(rng, r.min, r.max))  # noqa: E731
    return CompositeLook(
        shadows=cfg.shadows, shadow_strength=d(cfg.shadow_strength), blend=cfg.blend, color_match=d(cfg.color_match),
        blur_sigma=d(cfg.blur_sigma), noise_sigma=d(cfg.noise_sigma),
        chromatic_aberration_px=d(cfg.chromatic_aberration_px), motion_blur_px=d(cfg.motion_blur_px),
        motion_angle=float(rng.uniform(0, math.pi)), noise_seed=int(rng.integers(2**31)))


#: Sub-stream (first extra key of the scene's ``appearance`` stream) that paints procedural cars.
PAINT_SUBSTREAM = 1


def car_paint(seed: int, scene_index: int, inst_id: int) -> Material:
    """Paint of procedural car ``inst_id`` of a scene (``assets.cars.sample_paint``: real-world colour shares).

    Drawn from its own generator, ``scene_rng(seed, scene_index, 'appearance', PAINT_SUBSTREAM, inst_id)``: an
    appearance stream, so paint never moves a car, and one per instance, so a car's paint does not depend on how
    many cars the scene holds or on the light and look draws.
    """
    return sample_paint(scene_rng(seed, scene_index, "appearance", PAINT_SUBSTREAM, inst_id))


# ---------------------------------------------------------------- pose samplers
def sample_ground_pose(rng: np.random.Generator, ar, hfov: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``world_T_model`` of a model standing on the ground plane (its box bottom at z = 0, box centre at the drawn
    spot): forward distance from ``ar.distance``, lateral offset within ``ar.lateral_fraction`` of the
    half-width of the view at that distance (``hfov``: half the horizontal field of view, radians),
    yaw from ``ar.yaw_deg``."""
    centre = 0.5 * (lo + hi)
    u = uniform(rng, ar.distance.min, ar.distance.max)
    v = uniform(rng, -1, 1) * u * math.tan(hfov) * ar.lateral_fraction
    yaw = math.radians(uniform(rng, ar.yaw_deg.min, ar.yaw_deg.max))
    Rz = np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]])
    return make_pose(Rz, [u, v, 0.0]) @ make_pose(np.eye(3), [-centre[0], -centre[1], -lo[2]])


def sample_free_pose(rng: np.random.Generator, ar, bg: Background, world_T_cam: np.ndarray, lo: np.ndarray,
                     hi: np.ndarray) -> np.ndarray:
    """``world_T_model`` of a model floating in front of the camera in a uniform random orientation, its box centre
    on the ray through a pixel drawn in the central 70 % of the photo, at a distance from ``ar.distance``."""
    centre = 0.5 * (lo + hi)
    dist = uniform(rng, ar.distance.min, ar.distance.max)
    px = np.array([uniform(rng, 0.15, 0.85) * bg.width, uniform(rng, 0.15, 0.85) * bg.height, 1.0])
    ray = np.linalg.solve(bg.K, px)
    p_cam = ray / np.linalg.norm(ray) * dist
    R = random_rotation(rng)
    return world_T_cam @ make_pose(R, p_cam - R @ centre)


# ---------------------------------------------------------------- placement predicates
def in_view(T: np.ndarray, lo, hi, cam_T_world: np.ndarray, bg: Background, min_z: float) -> bool:
    """Every box corner at least ``min_z`` m in front of the camera, and the corners' mean projection inside the
    photo."""
    pc = transform_points(cam_T_world @ T, box_corners(lo, hi))
    if np.any(pc[:, 2] < min_z):
        return False
    cu, cv = project_points(pc, bg.K).mean(axis=0)
    return bool(0 <= cu < bg.width and 0 <= cv < bg.height)


def on_free_space(T: np.ndarray, lo, hi, cam_T_world: np.ndarray, bg: Background) -> bool:
    """The footprint's corners and centre, where they are in the photo, fall on its free-space mask (the centre
    must be)."""
    contact = footprint(T, lo, hi, 0.0)
    contact = np.c_[np.vstack([contact, contact.mean(axis=0)]), np.zeros(5)]
    px = np.round(project_points(transform_points(cam_T_world, contact), bg.K)).astype(int)
    ok = (px[:, 0] >= 0) & (px[:, 0] < bg.width) & (px[:, 1] >= 0) & (px[:, 1] < bg.height)
    return bool(np.all(bg.free_mask[px[ok, 1], px[ok, 0]]) and ok[-1])


def on_measured_ground(T: np.ndarray, lo, hi, ground_pts: np.ndarray) -> bool:
    """At least 5 measured ground points (world xy) in the footprint grown by 0.5 m + 10 % of the length."""
    around = footprint(T, lo, hi, 0.5 + 0.1 * float(hi[0] - lo[0]))
    return bool(_inside(around, ground_pts).sum() >= 5)


def fit_local_ground(T: np.ndarray, lo, hi, pts_w: np.ndarray, ar) -> tuple | None:
    """Plane (n (3,) unit, up; p0 (3,)) of the measured ground under a model at ``world_T_model`` ``T`` (world frame,
    metres), or None where it is not measured, too steep or too rough.

    Points: within 0.5 m of the global plane and inside the footprint grown by 0.4 r (r = min(0.75 m, 20 % of the
    model's length)); at least ``ar.ground_min_points``, and at least 3 within r of each wheel spot (model xy at
    ±30 % of the length, ±40 % of the width from the centre), so the ground under every wheel is measured (not a
    LiDAR shadow).
    Fit: least squares (smallest singular vector), refitted twice on the points within max(3 cm, 3 x RMS);
    refused when under 80 % of the points stay, their RMS exceeds ``ar.ground_max_roughness`` m or the normal
    leans more than ``ar.ground_max_tilt_deg`` from the global plane's.
    """
    near = pts_w[np.abs(pts_w[:, 2]) < 0.5]
    reach = min(0.75, 0.2 * float(hi[0] - lo[0]))  # 0.75 m for real cars, less for small (toy) models
    near = near[_inside(footprint(T, lo, hi, 0.4 * reach), near[:, :2])]
    if len(near) < ar.ground_min_points:
        return None
    q = transform_points(invert_pose(T), near)[:, :2] - 0.5 * (lo[:2] + hi[:2])
    wheels = np.array([[sx * 0.3, sy * 0.4] for sx in (-1, 1) for sy in (-1, 1)]) * (hi[:2] - lo[:2])
    if min(int((np.linalg.norm(q - w, axis=1) < reach).sum()) for w in wheels) < 3:
        return None
    keep = np.ones(len(near), bool)
    for _ in range(3):
        c = near[keep].mean(axis=0)
        n = np.linalg.svd(near[keep] - c, full_matrices=False)[2][-1]
        n = n if n[2] > 0 else -n
        r = (near - c) @ n
        keep = np.abs(r) <= max(0.03, 3 * float(np.sqrt(np.mean(r[keep] ** 2))))
    rms = float(np.sqrt(np.mean(r[keep] ** 2)))
    if keep.mean() < 0.8 or rms > ar.ground_max_roughness or n[2] < math.cos(math.radians(ar.ground_max_tilt_deg)):
        return None
    return n, c


def tilt_to(n: np.ndarray) -> np.ndarray:
    """(3, 3) rotation taking +z to the unit vector ``n`` about their common perpendicular (Rodrigues' formula)."""
    v, c = np.cross([0.0, 0.0, 1.0], n), float(n[2])
    V = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + V + V @ V / (1.0 + c)


def stand_on(T: np.ndarray, lo, hi, plane: tuple) -> np.ndarray:
    """``world_T_model`` of the model at ``T`` (standing on z = 0) moved onto ``plane`` (n, p0): its bottom face centre
    on the plane vertically above/below where it was, its up axis along n (same heading)."""
    n, p0 = plane
    c0 = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])
    p = T[:3, :3] @ c0 + T[:3, 3]
    p[2] = p0[2] - (n[0] * (p[0] - p0[0]) + n[1] * (p[1] - p0[1])) / n[2]
    return make_pose(tilt_to(n) @ T[:3, :3], p) @ make_pose(np.eye(3), -c0)


def heights_above(pts_w: np.ndarray, plane: tuple) -> np.ndarray:
    """``pts_w`` (n, 3) with z replaced by the signed height above ``plane`` (n, p0), metres."""
    out = pts_w.copy()
    out[:, 2] = (pts_w - plane[1]) @ plane[0]
    return out


def _inside(polygon: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Which points (n, 2) lie inside a polygon (k, 2) (matplotlib's point-in-polygon)."""
    return MplPath(polygon).contains_points(points)


def clear_of_real_points(fp: np.ndarray, lo, hi, pts_w: np.ndarray) -> bool:
    """At most 3 real 3D points standing in footprint ``fp`` between max(3 cm, 15 % of the model's height) and 2 m."""
    standing = pts_w[(pts_w[:, 2] > max(0.03, 0.15 * float(hi[2] - lo[2]))) & (pts_w[:, 2] < 2.0)]
    return bool(_inside(fp, standing[:, :2]).sum() <= 3)


def on_real_ground(T: np.ndarray, fp: np.ndarray, lo, hi, ar, pts_w: np.ndarray, ground_pts: np.ndarray):
    """``world_T_model`` of a model drawn at ``T`` once it stands on the measured ground (``ar.local_ground``:
    :func:`fit_local_ground`, :func:`stand_on`; else the global plane where :func:`on_measured_ground`), or None
    where the ground is unmeasured, steep or rough, or real points stand in footprint ``fp`` (``ar.avoid_real``)."""
    if ar.local_ground:
        plane = fit_local_ground(T, lo, hi, pts_w, ar)
        if plane is None:
            return None
        T, pts_w = stand_on(T, lo, hi, plane), heights_above(pts_w, plane)
    elif not on_measured_ground(T, lo, hi, ground_pts):
        return None
    if ar.avoid_real and not clear_of_real_points(fp, lo, hi, pts_w):
        return None
    return T


def place_object(rng, ar, bg: Background, lo, hi, world_T_cam: np.ndarray, taken: list, pts_w, ground_pts):
    """Draw poses until one passes every placement predicate (at most ``ar.max_tries``).

    For ``ground`` placement the accepted footprint is appended to ``taken`` (world xy polygons that later
    objects must not meet). Returns ``world_T_model`` (4, 4) or None.
    """
    ground = ar.placement == "ground"
    cam_T_world = invert_pose(world_T_cam)
    hfov = math.atan2(bg.width / 2, bg.K[0, 0])
    for _try in range(ar.max_tries):
        if ground:
            T = sample_ground_pose(rng, ar, hfov, lo, hi)
        else:
            T = sample_free_pose(rng, ar, bg, world_T_cam, lo, hi)
        if not in_view(T, lo, hi, cam_T_world, bg, 1.0 if ground else 0.1):
            continue
        if not ground:
            return T
        if bg.free_mask is not None and not on_free_space(T, lo, hi, cam_T_world, bg):
            continue
        fp = footprint(T, lo, hi, 0.1 * float(hi[0] - lo[0]))
        if any(polygons_overlap(fp, t) for t in taken):
            continue
        if pts_w is not None and len(pts_w):
            T = on_real_ground(T, fp, lo, hi, ar, pts_w, ground_pts)
            if T is None:
                continue
        taken.append(footprint(T, lo, hi, 0.0))
        return T
    return None


def build_ar_scene(ar: ARConfig, object_sets, seed: int, library: ModelLibrary, backgrounds: list[Background],
                   scene_index: int) -> SceneDescription:
    """Describe AR scene ``scene_index``: background ``scene_index % len(backgrounds)``, its camera, placed objects.

    ``ar``: the recipe's ``ar`` section; ``object_sets``: its object sets (all targets), in recipe order, with their
    models in ``library``; ``seed``: the recipe's seed. Objects that find no valid place in ``ar.max_tries`` draws
    are left out (``removed``). Draws come from the scene's ``objects`` stream (placement) and ``appearance``
    stream (light, look; procedural cars' paint from its sub-streams, :func:`car_paint`). User models keep their
    own look (material None).
    """
    bg = backgrounds[scene_index % len(backgrounds)]
    rng = scene_rng(seed, scene_index, "objects")
    ground = ar.placement == "ground"
    ref_T_world = ground_frame(bg.plane) if ground else np.eye(4)
    world_T_ref = invert_pose(ref_T_world)
    world_T_cam = world_T_ref @ bg.ref_T_cam
    view = View(K=bg.K, width=bg.width, height=bg.height, world_T_cam=world_T_cam, znear=0.05, zfar=300.0)
    taken, occluders = [], []
    if ground and ar.avoid_real:
        for obj in real_boxes(bg):
            taken.append(label_footprint(obj, world_T_ref))
            occluders.append(label_box(obj, world_T_ref))
    pts_w = ground_pts = None
    if ground and bg.points_ref is not None:
        pts_w = transform_points(world_T_ref, bg.points_ref)
        ground_pts = pts_w[np.abs(pts_w[:, 2]) < 0.1][:, :2]  # the real ground, as seen by the 3D sensor
    objects, removed = [], []
    for s in object_sets:
        for obj_id in draw_set_members(rng, s, library):
            lo, hi = library.get(obj_id).mesh.bounds
            placed = place_object(rng, ar, bg, lo, hi, world_T_cam, taken, pts_w, ground_pts)
            inst_id = len(objects) + len(removed) + 1
            if placed is None:
                removed.append((inst_id, "no free place"))
                continue
            paint = car_paint(seed, scene_index, inst_id) if s.source == "procedural://cars" else None
            objects.append(ObjectInstance(inst_id=inst_id, obj_id=obj_id, world_T_model=placed, material=paint,
                                          mass=s.mass))
    look_rng = scene_rng(seed, scene_index, "appearance")
    lk = ar.look
    ambient, key = photo_lighting(bg.image(), look_rng, (lk.sun_elevation_deg.min, lk.sun_elevation_deg.max),
                                  (lk.sun_azimuth_deg.min, lk.sun_azimuth_deg.max))
    setting = ARSetting(background=bg, occluders=tuple(occluders), ref_T_world=ref_T_world,
                        look=sample_look(ar.look, look_rng))
    return SceneDescription(
        scene_index=scene_index, objects=tuple(objects), floor=Floor(size=400.0, color=np.ones(3)), walls=(),
        lights=(key,), ambient=ambient, background_color=np.zeros(3), views=(view,),
        shadows=bool(ground and ar.look.shadows), removed=tuple(removed), ar=setting)
