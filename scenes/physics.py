"""Physics: settle a scene's objects with pybullet and return their resting poses.

Setup (docs/conventions.md, "Physics"): pybullet in DIRECT mode, a fresh
client per scene (so results do not depend on what a process simulated
before), gravity -9.81 m/s^2 along world z, an explicit fixed time step,
``deterministicOverlappingPairs=1``, and each model's collision geometry
(assets/collision.py, recipe ``objects[].collision``): a convex hull or a
compound of convex parts (a URDF's own ``<collision>`` or a V-HACD
decomposition) on a dynamic body, or the exact triangle mesh on a static one.
Each dynamic body's frame is placed at its parts' centre of mass, so
``world_T_model = world_T_body @ T(-com)``.

Settling: after each step, every object's speed is measured as absolute
differences, |dposition| / dt and geodesic |drotation| / dt (not signed
differences, which can cancel). The scene is settled when all speeds stay
below the thresholds for ``window`` seconds; simulation stops at
``max_settle_time`` regardless. Objects that left the workspace (|x| or |y|
beyond ``workspace_half_extent``, or below the floor) or whose pose is not
finite are removed and reported.

Distractors (``SceneDescription.distractors``, collision shapes of the distractor library) take part
in the simulation as bodies created after every target's, so a scene without distractors simulates
exactly as before; the ones that leave the workspace are dropped (logged, never reported as removed
targets).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np
import pybullet as pb

from ..assets.collision import CollisionGeometry, collision_geometry, write_parts_obj
from ..assets.loaders import AssetLibrary
from ..config.clutter import ClutterConfig
from ..core.description import SceneDescription
from ..core.geometry import make_pose, matrix_to_quat_xyzw, quat_xyzw_to_matrix, rotation_angle
from .clutter import floor_slab

log = logging.getLogger(__name__)

#: Collision margin of every object shape, metres. Bullet pads convex shapes by a margin; pybullet's default
#: for mesh shapes left 2 mm gaps between resting objects and ~1 mm above the floor. 0 keeps contacts exact
#: (tests/scenes/test_physics.py: visual meshes of touching objects within 2 mm, floor contact within 1 mm).
COLLISION_MARGIN = 0.0


@dataclass(frozen=True)
class SettleReport:
    """What the simulation did: simulated seconds, steps, whether it settled, removed objects."""

    settled: bool
    sim_time: float
    steps: int
    removed: tuple[tuple[int, str], ...]


class CollisionShapes:
    """Collision geometry per model (assets/collision.py), computed once per process.

    ``get(obj_id)`` returns the model's :class:`CollisionGeometry` (model frame, metres; body frame at ``com``).
    """

    def __init__(self, library: AssetLibrary):
        self.library = library
        self._cache: dict[int, CollisionGeometry] = {}
        self._files: dict[int, str] = {}

    def get(self, obj_id: int) -> CollisionGeometry:
        if obj_id not in self._cache:
            self._cache[obj_id] = collision_geometry(self.library, obj_id)
        return self._cache[obj_id]

    def compound_file(self, obj_id: int) -> str:
        """OBJ file of the model's convex parts relative to ``com`` (one object each), for pybullet."""
        if obj_id not in self._files:
            g = self.get(obj_id)
            self._files[obj_id] = str(write_parts_obj([p - g.com for p in g.parts]))
        return self._files[obj_id]


def _collision_shape(client: int, shapes: CollisionShapes, obj_id: int) -> int:
    """pybullet shape of a model: one convex hull (vertices), a compound of hulls (an OBJ with one object per
    part: pybullet takes each object's hull), or a static concave triangle mesh."""
    g = shapes.get(obj_id)
    if g.static:
        return pb.createCollisionShape(pb.GEOM_MESH, vertices=g.parts[0].tolist(), indices=g.faces.ravel().tolist(),
                                       flags=pb.GEOM_FORCE_CONCAVE_TRIMESH, physicsClientId=client)
    if len(g.parts) == 1:
        return pb.createCollisionShape(pb.GEOM_MESH, vertices=(g.parts[0] - g.com).tolist(), physicsClientId=client)
    return pb.createCollisionShape(pb.GEOM_MESH, fileName=shapes.compound_file(obj_id), physicsClientId=client)


def _on_floor(world_T_model: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """The pose lowered (or raised) along world z so the posed vertices' lowest point is at z = 0."""
    z = (vertices @ world_T_model[:3, :3].T)[:, 2].min() + world_T_model[2, 3]
    return make_pose(world_T_model[:3, :3], world_T_model[:3, 3] - [0.0, 0.0, z])


def _add_static_box(client: int, box) -> None:
    shape = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=(np.asarray(box.extents) / 2).tolist(),
                                    physicsClientId=client)
    R, t = box.world_T_box[:3, :3], box.world_T_box[:3, 3]
    body = pb.createMultiBody(0, shape, basePosition=t.tolist(), baseOrientation=matrix_to_quat_xyzw(R).tolist(),
                              physicsClientId=client)
    pb.changeDynamics(body, -1, lateralFriction=0.8, restitution=0.0, physicsClientId=client)


def create_world(client: int, scene: SceneDescription, shapes: CollisionShapes, cfg: ClutterConfig,
                 distractor_shapes: CollisionShapes | None = None) -> tuple[list, list]:
    """Fill a pybullet client: engine parameters, gravity, the floor slab and walls (static), one body per object:
    dynamic, or static for ``collision: mesh`` models (placed on the floor at their drop pose, see
    assets/collision.py). With ``distractor_shapes``, one body per ``scene.distractors`` instance follows the
    targets' bodies.

    Returns (body ids, per-body centre of mass (3,) in the model frame), in ``scene.objects`` order, then
    ``scene.distractors`` order when ``distractor_shapes`` is given.
    """
    pb.setPhysicsEngineParameter(fixedTimeStep=cfg.time_step, deterministicOverlappingPairs=1,
                                 numSolverIterations=50, physicsClientId=client)
    pb.setGravity(0, 0, -9.81, physicsClientId=client)
    _add_static_box(client, floor_slab(max(scene.floor.size, 2 * cfg.workspace_half_extent)))
    for w in scene.walls:
        _add_static_box(client, w)
    bodies, coms = [], []
    placed = [(o, shapes) for o in scene.objects]
    if distractor_shapes is not None:
        placed += [(o, distractor_shapes) for o in scene.distractors]
    for o, its_shapes in placed:
        g = its_shapes.get(o.obj_id)
        shape = _collision_shape(client, its_shapes, o.obj_id)
        world_T_body = (_on_floor(o.world_T_model, g.parts[0]) if g.static
                        else o.world_T_model @ make_pose(np.eye(3), g.com))
        body = pb.createMultiBody(0.0 if g.static else o.mass, shape, basePosition=world_T_body[:3, 3].tolist(),
                                  baseOrientation=matrix_to_quat_xyzw(world_T_body[:3, :3]).tolist(),
                                  physicsClientId=client)
        pb.changeDynamics(body, -1, lateralFriction=o.friction, restitution=o.restitution,
                          rollingFriction=0.001, spinningFriction=0.001, collisionMargin=COLLISION_MARGIN,
                          physicsClientId=client)
        bodies.append(body)
        coms.append(g.com)
    return bodies, coms


def _moving(prev, cur, dt: float, cfg: ClutterConfig) -> bool:
    """Whether any finite body moved faster than the settle thresholds between two steps (absolute differences)."""
    for (p0, R0), (p1, R1) in zip(prev, cur):
        if not (np.all(np.isfinite(p1)) and np.all(np.isfinite(R1))):
            continue  # judged when collecting; a NaN body must not block settling
        if (np.linalg.norm(p1 - p0) / dt > cfg.settle.linear_speed
                or rotation_angle(R0, R1) / dt > cfg.settle.angular_speed):
            return True
    return False


#: Relative band around the settle thresholds inside which :func:`_moving_fast` defers to :func:`_moving`.
_SPEED_BAND = 1e-6


def _raw_states(client: int, bodies: list) -> tuple[np.ndarray, np.ndarray]:
    """Positions (n, 3) and quaternions (n, 4) (x, y, z, w) of each body's frame, as pybullet returns them."""
    states = [pb.getBasePositionAndOrientation(b, physicsClientId=client) for b in bodies]
    return (np.array([s[0] for s in states], dtype=np.float64).reshape(-1, 3),
            np.array([s[1] for s in states], dtype=np.float64).reshape(-1, 4))


def _as_poses(positions: np.ndarray, quats: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(position (3,), rotation (3, 3)) of each body's frame in the world (metres), from raw states (positions (n, 3),
    quaternions (n, 4) x, y, z, w: pybullet's ``getBasePositionAndOrientation``), body by body."""
    return [(np.array(p), quat_xyzw_to_matrix(tuple(q))) for p, q in zip(positions, quats)]


def _half_angle_tan2(q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """tan^2(angle / 2) (n,) of the rotations between quaternions (n, 4) (x, y, z, w), any norm: |v|^2 / w^2 of
    the relative quaternion conj(q0) q1 = (v, w) (exact at small angles, unlike arccos of a trace)."""
    x0, y0, z0, w0 = q0.T
    x1, y1, z1, w1 = q1.T
    vx = w0 * x1 - w1 * x0 - (y0 * z1 - z0 * y1)
    vy = w0 * y1 - w1 * y0 - (z0 * x1 - x0 * z1)
    vz = w0 * z1 - w1 * z0 - (x0 * y1 - y0 * x1)
    w = w0 * w1 + x0 * x1 + y0 * y1 + z0 * z1
    with np.errstate(divide="ignore", invalid="ignore"):
        return (vx * vx + vy * vy + vz * vz) / (w * w)


def _moving_fast(prev: tuple, cur: tuple, dt: float, cfg: ClutterConfig) -> bool:
    """:func:`_moving` of raw states (positions, quaternions), decided without building rotation matrices.

    Speeds are compared for all bodies at once (linear: squared displacement; angular: tan^2 of half the
    relative rotation, a monotonic function of the angle). Where every speed lies clearly on one side of its
    threshold (outside a relative band of :data:`_SPEED_BAND`, far wider than the rounding differences
    between the two computations), that is :func:`_moving`'s answer; otherwise :func:`_moving` itself
    decides, on the rotation matrices of :func:`_as_poses`. The answer, and so every settled pose, is the same
    as stepping with :func:`_moving` alone.
    """
    (p0, q0), (p1, q1) = prev, cur
    ok = np.isfinite(p1).all(axis=1) & np.isfinite(q1).all(axis=1)  # a NaN body must not block settling
    if not ok.all():
        if not ok.any():
            return False
        p0, q0, p1, q1 = p0[ok], q0[ok], p1[ok], q1[ok]
    d = p1 - p0
    lin2 = np.einsum("ij,ij->i", d, d)
    rot = _half_angle_tan2(q0, q1)
    lin_max, ang_max = cfg.settle.linear_speed * dt, cfg.settle.angular_speed * dt
    if ang_max >= 3.0:  # tan(angle / 2) is monotonic only below a half-turn
        return _moving(_as_poses(*prev), _as_poses(*cur), dt, cfg)

    def limits(f):  # squared displacement and tan^2(half angle) at f x the thresholds
        return (f * lin_max) ** 2, math.tan(f * ang_max / 2.0) ** 2

    hi_lin, hi_rot = limits(1 + _SPEED_BAND)
    if np.any(lin2 > hi_lin) or np.any(~(rot <= hi_rot)):  # NaN: w = 0, a half-turn
        return True
    lo_lin, lo_rot = limits(1 - _SPEED_BAND)
    if np.all(lin2 < lo_lin) and np.all(rot < lo_rot):
        return False
    return _moving(_as_poses(*prev), _as_poses(*cur), dt, cfg)


def step_until_settled(client: int, bodies: list, cfg: ClutterConfig) -> tuple[list, bool, int]:
    """Step until every body stays below the speed thresholds for ``settle.window`` seconds, or the time cap.

    Each step is judged by :func:`_moving_fast` (the same answers as :func:`_moving` on :func:`body_poses`,
    without a rotation matrix per body and step).

    Returns (final body poses, settled, steps taken).
    """
    dt = cfg.time_step
    max_steps = int(np.ceil(cfg.max_settle_time / dt))
    window_steps = max(1, int(np.ceil(cfg.settle.window / dt)))
    calm, steps = 0, 0
    prev = _raw_states(client, bodies)
    while steps < max_steps:
        pb.stepSimulation(physicsClientId=client)
        steps += 1
        cur = _raw_states(client, bodies)
        calm = 0 if _moving_fast(prev, cur, dt, cfg) else calm + 1
        prev = cur
        if calm >= window_steps:
            return _as_poses(*prev), True, steps
    return _as_poses(*prev), False, steps


def collect(scene: SceneDescription, poses: list, coms: list, cfg: ClutterConfig) -> tuple[list, list]:
    """Objects at their settled ``world_T_model`` = ``world_T_body @ T(-com)``, and the removed ones with a reason
    (non-finite pose, left the workspace, fell below the floor)."""
    kept, removed = [], []
    lim = cfg.workspace_half_extent
    for o, (p, R), com in zip(scene.objects, poses, coms):
        world_T_model = make_pose(R, p) @ make_pose(np.eye(3), -com)
        if not np.all(np.isfinite(world_T_model)):
            removed.append((o.inst_id, "non-finite pose"))
        elif abs(p[0]) > lim or abs(p[1]) > lim:
            removed.append((o.inst_id, "left the workspace"))
        elif p[2] < -0.01:
            removed.append((o.inst_id, "fell below the floor"))
        else:
            kept.append(o.with_pose(world_T_model))
    return kept, removed


def settle(scene: SceneDescription, shapes: CollisionShapes, cfg: ClutterConfig,
           distractor_shapes: CollisionShapes | None = None) -> tuple[SceneDescription, SettleReport]:
    """Drop the scene's objects (and distractors) and simulate until they rest (or the time cap), in a fresh
    DIRECT client.

    Parameters
    ----------
    scene : SceneDescription
        Objects and distractors at their drop poses; ``walls`` and the floor are static.
    shapes : CollisionShapes
        Of the target library.
    cfg : ClutterConfig
        Time step, settle thresholds and window, time cap, workspace size.
    distractor_shapes : CollisionShapes or None
        Of the distractor library; required when ``scene.distractors`` is not empty.

    Returns
    -------
    settled_scene : SceneDescription
        Same scene with settled ``world_T_model`` poses; removed objects are
        left out (and listed in ``removed``); distractors that left the workspace (or fell through the
        floor, or whose pose is not finite) are left out of ``distractors`` (logged only).
    report : SettleReport
        Settling of all bodies; ``removed`` lists targets only.

    Raises
    ------
    ValueError
        If the scene has distractors but no ``distractor_shapes``.
    """
    if scene.distractors and distractor_shapes is None:
        raise ValueError("the scene has distractors: pass distractor_shapes "
                         "(CollisionShapes of the distractor library)")
    client = pb.connect(pb.DIRECT)
    try:
        bodies, coms = create_world(client, scene, shapes, cfg, distractor_shapes if scene.distractors else None)
        poses, settled, steps = step_until_settled(client, bodies, cfg)
    finally:
        pb.disconnect(physicsClientId=client)
    n = len(scene.objects)
    kept, removed = collect(scene, poses[:n], coms[:n], cfg)
    if scene.distractors:
        kept_d, removed_d = collect(replace(scene, objects=scene.distractors), poses[n:], coms[n:], cfg)
        if removed_d:
            log.debug("scene %d: dropped %d distractor(s) after physics: %s", scene.scene_index, len(removed_d),
                      ", ".join(f"distractor {i} ({r})" for i, r in removed_d))
        scene = replace(scene, distractors=tuple(kept_d))
    if removed:
        log.debug("scene %d: removed %d object(s) after physics: %s", scene.scene_index, len(removed),
                  ", ".join(f"inst {i} ({r})" for i, r in removed))
    if not settled:
        log.debug("scene %d: not settled after %.2f s (cap); using the poses at the cap", scene.scene_index,
                  steps * cfg.time_step)
    report = SettleReport(settled=settled, sim_time=steps * cfg.time_step, steps=steps, removed=tuple(removed))
    return scene.with_objects(kept, removed), report
