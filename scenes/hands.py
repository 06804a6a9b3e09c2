"""Hand poses and placement: articulation within joint limits, free hands, grasps on objects.

Pure (no GL, no pybullet); every draw comes from the generator passed in.

Anatomical pose space. For any MANO-structured model, axes come from its own
rest joints: ``u_j`` points from joint j to its child (the next joint, or the
fingertip vertex); the palm normal ``n`` = normalise((J_index_mcp - J_wrist) x
(J_little_mcp - J_wrist)) points out of the palm of a right hand; flexion of
joint j rotates about ``u_j x n`` (positive: towards the palm), abduction about
``n``. A joint's MANO axis-angle is rotvec(Rot(u_j x n, flex) Rot(n, abd)).
Joint limits (radians, ``LIMITS``) bound flexion and abduction per joint type.
Curl c in [0, 1] interpolates open (0) -> relaxed (0.5) -> fist (1).

Grasps. A surface point p (normal m, pointing upwards: z >= 0.3, as for an
object resting on a table) of a target object is drawn; the palm is placed
facing -m at p, fingers in a random direction perpendicular to m and not
pointing down; each finger then closes (bisection on its curl; the thumb also
turns towards the fingers) until it touches the surface (penetration <= 1 mm)
or the floor. A grasp is kept when the whole hand penetrates the
object by at most ``max_penetration`` (2 mm), at least ``min_tip_contacts`` (3)
fingertips are within ``contact_tol`` (5 mm) of its surface, and the hand stays
above the floor; otherwise another is drawn. Signed distances: trimesh
(``trimesh.proximity.signed_distance``) on the object's mesh, which must be
watertight (after merging duplicate vertices) or is replaced by its convex hull.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import trimesh
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from ..assets.hand_model import HandModel, HandOutput
from ..core.description import HandInstance
from ..core.geometry import box_corners, transform_points
from ..core.hands import FINGER_JOINTS, FINGERS, MIRROR
from ..core.rng import scene_rng, uniform

#: (flex_min, flex_max, abd_min, abd_max) in radians, per joint kind.
LIMITS = {
    "mcp": (-0.30, 1.60, -0.35, 0.35),
    "pip": (0.00, 1.85, 0.0, 0.0),
    "dip": (-0.10, 1.30, 0.0, 0.0),
    "thumb_cmc": (-0.40, 0.90, -0.60, 0.60),
    "thumb_mcp": (-0.20, 1.00, 0.0, 0.0),
    "thumb_ip": (-0.30, 1.30, 0.0, 0.0),
}
KIND = {1: "mcp", 2: "pip", 3: "dip", 4: "mcp", 5: "pip", 6: "dip", 7: "mcp", 8: "pip", 9: "dip",
        10: "mcp", 11: "pip", 12: "dip", 13: "thumb_cmc", 14: "thumb_mcp", 15: "thumb_ip"}
#: flexion of open, relaxed and fist poses per joint kind
PRESETS = {
    "open": {"mcp": 0.0, "pip": 0.0, "dip": 0.0, "thumb_cmc": 0.0, "thumb_mcp": 0.0, "thumb_ip": 0.0},
    "relaxed": {"mcp": 0.35, "pip": 0.55, "dip": 0.3, "thumb_cmc": 0.25, "thumb_mcp": 0.25, "thumb_ip": 0.3},
    "fist": {"mcp": 1.5, "pip": 1.75, "dip": 1.1, "thumb_cmc": 0.7, "thumb_mcp": 0.8, "thumb_ip": 1.0},
}


@dataclass(frozen=True)
class HandAxes:
    """Anatomical axes of a model (rest pose, betas 0): ``u`` (16, 3) bone directions, ``n`` (3,) palm normal,
    ``flex`` (16, 3) flexion axes; ``palm_center`` (3,) a point in the palm; ``wrist`` (3,) J_0."""

    u: np.ndarray
    n: np.ndarray
    flex: np.ndarray
    palm_center: np.ndarray
    wrist: np.ndarray
    finger_dir: np.ndarray  # middle finger direction (hand frame x)


def hand_axes(model: HandModel) -> HandAxes:
    """Compute :class:`HandAxes` from the model's rest joints and fingertip vertices."""
    J = model.rest_joints()
    tips = dict(zip(FINGERS, model.v_template[list(model.tip_ids)]))
    u = np.zeros((16, 3))
    for f, joints in FINGER_JOINTS.items():
        chain = [J[j] for j in joints] + [tips[f]]
        for i, j in enumerate(joints):
            d = chain[i + 1] - chain[i]
            u[j] = d / np.linalg.norm(d)
    n = np.cross(J[1] - J[0], J[7] - J[0])
    n /= np.linalg.norm(n)
    flex = np.cross(u, n)
    flex[1:] /= np.linalg.norm(flex[1:], axis=1, keepdims=True)
    mcp_mean = J[[1, 4, 7, 10]].mean(axis=0)
    palm_center = 0.5 * (J[0] + mcp_mean)
    fd = J[4] - J[0]
    fd -= n * (fd @ n)
    return HandAxes(u=u, n=n, flex=flex, palm_center=palm_center, wrist=J[0], finger_dir=fd / np.linalg.norm(fd))


def anatomical_to_pose(axes: HandAxes, flex: np.ndarray, abd: np.ndarray) -> np.ndarray:
    """Flexion and abduction angles (16,) (index 0 unused) -> the 45 finger axis-angles (MANO joint order)."""
    R = Rotation.from_rotvec(axes.flex[1:] * np.asarray(flex)[1:, None]) * \
        Rotation.from_rotvec(np.outer(np.asarray(abd)[1:], axes.n))
    return R.as_rotvec().reshape(-1)


def curl_flexion(curl: float) -> np.ndarray:
    """Flexion (16,) of the open (0) -> relaxed (0.5) -> fist (1) interpolation."""
    c = float(np.clip(curl, 0.0, 1.0))
    a, b, t = ("open", "relaxed", 2 * c) if c <= 0.5 else ("relaxed", "fist", 2 * c - 1)
    out = np.zeros(16)
    for j in range(1, 16):
        k = KIND[j]
        out[j] = (1 - t) * PRESETS[a][k] + t * PRESETS[b][k]
    return out


def clip_to_limits(flex: np.ndarray, abd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clip flexion and abduction (16,) to ``LIMITS``."""
    f, a = flex.copy(), abd.copy()
    for j in range(1, 16):
        lo, hi, alo, ahi = LIMITS[KIND[j]]
        f[j] = np.clip(f[j], lo, hi)
        a[j] = np.clip(a[j], alo, ahi)
    return f, a


def sample_articulation(rng: np.random.Generator, curl_range=(0.0, 1.0), finger_jitter: float = 0.12):
    """Random (flex, abd) (16,) within limits: a curl drawn from ``curl_range``, per-finger jitter, random spread."""
    c = rng.uniform(*curl_range)
    flex = np.zeros(16)
    abd = np.zeros(16)
    for f, joints in FINGER_JOINTS.items():
        cf = np.clip(c + rng.normal(0, finger_jitter), 0, 1)
        flex[list(joints)] = curl_flexion(cf)[list(joints)] + rng.normal(0, 0.05, 3)
        lo, hi, alo, ahi = LIMITS[KIND[joints[0]]]
        abd[joints[0]] = rng.uniform(alo, ahi) * (1 - 0.7 * cf)
    return clip_to_limits(flex, abd)


FLIP45 = np.tile([1.0, -1.0, -1.0], 15)


def hand_frame(axes: HandAxes, left: bool = False) -> np.ndarray:
    """Rest-pose anatomical frame (3, 3) of the model, columns: finger direction, palm normal, their cross
    product; for a left hand, of the mirrored model."""
    x, y = axes.finger_dir, axes.n
    if left:
        x, y = MIRROR @ x, MIRROR @ y
    return np.stack([x, y, np.cross(x, y)], axis=1)


def facing_frame(palm_dir_world: np.ndarray, finger_dir_world: np.ndarray) -> np.ndarray:
    """World frame (3, 3) with the palm normal along ``palm_dir_world`` and the fingers along
    ``finger_dir_world`` (made orthogonal to it): columns fingers, palm normal, fingers x palm normal."""
    y = palm_dir_world / np.linalg.norm(palm_dir_world)
    x = finger_dir_world - y * (finger_dir_world @ y)
    x /= np.linalg.norm(x)
    return np.stack([x, y, np.cross(x, y)], axis=1)


@dataclass
class HandPlacement:
    """One placed hand: MANO parameters (world frame) and the posed output."""

    global_orient: np.ndarray  # (3,) axis-angle, world
    hand_pose: np.ndarray  # (45,) finger pose parameters as passed to the model (mean removed unless flat)
    betas: np.ndarray
    transl: np.ndarray  # (3,) world, metres
    left: bool
    output: HandOutput
    grasped_inst: int | None = None
    tip_distances: np.ndarray | None = None  # (5,) signed distances of fingertips to the grasped object, m


def pose_params(model: HandModel, full_finger_pose: np.ndarray) -> np.ndarray:
    """Finger parameters that make the right model apply ``full_finger_pose`` (removes MANO's mean unless flat)."""
    return full_finger_pose if model.flat_hand_mean else full_finger_pose - model.hands_mean


def pose_hand(model, axes, frame_world, point, betas, flex, abd, left) -> HandPlacement:
    """Pose a hand so its anatomical frame is ``frame_world`` (see :func:`facing_frame`) and its palm centre
    is at ``point`` (world, metres), with articulation (flex, abd) (16,) each."""
    R = frame_world @ hand_frame(axes, left).T
    J0 = model.rest_joints(betas)[0]
    c = axes.palm_center + (J0 - axes.wrist)
    hp = pose_params(model, anatomical_to_pose(axes, flex, abd))
    if left:
        hp = hp * FLIP45
        t = np.asarray(point, float) - MIRROR @ J0 - R @ (MIRROR @ (c - J0))
    else:
        t = np.asarray(point, float) - J0 - R @ (c - J0)
    go = Rotation.from_matrix(R).as_rotvec()
    b = np.asarray(betas, float)
    return HandPlacement(go, hp, b, t, bool(left), model.forward(go, hp, b, t, left=left))


def sample_free_hand(model, axes, rng, cam_center, point, az_range, el_range, curl_range, betas, left):
    """A hand at ``point`` whose viewing direction (towards ``cam_center``) has the given azimuth/elevation
    (degrees) in the hand frame (elevation 90: the camera sees the palm; -90: the back), random roll."""
    v = np.asarray(cam_center, float) - np.asarray(point, float)
    v /= np.linalg.norm(v)
    az = np.radians(rng.uniform(*az_range))
    el = np.radians(rng.uniform(*el_range))
    v_hand = np.array([np.cos(el) * np.cos(az), np.sin(el), np.cos(el) * np.sin(az)])
    align, _ = Rotation.align_vectors([v], [v_hand])
    roll = Rotation.from_rotvec(v * rng.uniform(0, 2 * np.pi))
    frame_world = (roll * align).as_matrix()  # columns: hand-frame axes in the world
    flex, abd = sample_articulation(rng, curl_range)
    return pose_hand(model, axes, frame_world, point, betas, flex, abd, left)


def finger_vertex_masks(model: HandModel) -> dict[str, np.ndarray]:
    """Vertices moved mostly by each finger's joints (bool (n,) per finger)."""
    dominant = np.argmax(model.weights, axis=1)
    return {f: np.isin(dominant, joints) for f, joints in FINGER_JOINTS.items()}


def sdf_mesh(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A watertight mesh for signed distances: the mesh with merged vertices, else its convex hull."""
    m = trimesh.Trimesh(mesh.vertices, mesh.faces, process=True)
    m.merge_vertices()
    return m if m.is_watertight else m.convex_hull


def outside_distance(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """Signed distance (n,), metres, positive outside the mesh (trimesh's sign is positive inside)."""
    return -trimesh.proximity.signed_distance(mesh, points)


class PosedSDF:
    """Signed distances (positive outside) to a watertight model mesh placed at ``world_T_model``.

    ``approx``: distance to the nearest of dense surface samples (never less than the true distance,
    so penetration and contact tests made with it are conservative), sign from ``mesh.contains``
    (Embree ray parity). ``exact``: trimesh's closest-point signed distance.
    """

    def __init__(self, mesh: trimesh.Trimesh, tree, world_T_model: np.ndarray):
        self.mesh, self.tree = mesh, tree
        self.T = world_T_model
        self.T_inv = np.linalg.inv(world_T_model)

    def _local(self, points):
        return transform_points(self.T_inv, points)

    def approx(self, points) -> np.ndarray:
        p = self._local(points)
        d, _ = self.tree.query(p)
        inside = self.mesh.contains(p)
        return np.where(inside, -d, d)

    def exact(self, points) -> np.ndarray:
        return outside_distance(self.mesh, self._local(points))

    def world_mesh(self) -> trimesh.Trimesh:
        m = self.mesh.copy()
        m.apply_transform(self.T)
        return m


def sample_grasp(model, axes, fingers, rng, target: PosedSDF, betas, left, max_tries=12,
                 max_penetration=0.002, contact_tol=0.005, min_tip_contacts=3, floor_z=0.0, reasons=None):
    """Try to grasp ``target`` (:class:`PosedSDF`). Returns a HandPlacement or None after ``max_tries``.

    The search uses ``target.approx``; the returned grasp passed the acceptance test with ``target.exact``.
    ``reasons`` (a ``collections.Counter``), when given, counts why attempts were rejected.
    """
    note = reasons.update if reasons is not None else (lambda _k: None)
    surface = target.world_mesh()
    pts, face_idx = trimesh.sample.sample_surface(surface, 96, seed=int(rng.integers(2**31)))
    normals = surface.face_normals[face_idx]
    order = rng.permutation(len(pts))
    tries = 0

    def blocked(verts) -> bool:  # touching counts; more than 1 mm into the object or below the floor does not
        return target.approx(verts).min() < -0.001 or verts[:, 2].min() < floor_z + 0.001

    for i in order:
        p, m = pts[i], normals[i]
        if m[2] < 0.3:  # approach from above, as for an object resting on a table
            continue
        tries += 1
        if tries > max_tries:
            break
        fingers_dir = np.cross(m, rng.normal(size=3))
        if fingers_dir[2] < 0:  # fingers never point down into the table
            fingers_dir = -fingers_dir
        frame = facing_frame(-m, fingers_dir)
        base_flex, base_abd = sample_articulation(rng, (0.0, 0.15), finger_jitter=0.05)
        gap = 0.002
        for _ in range(6):  # back off until the open hand is clear of the object
            centre = p + m * (gap + 0.5 * _palm_thickness(model, axes))
            h = pose_hand(model, axes, frame, centre, betas, base_flex, base_abd, left)
            d = target.approx(h.output.vertices[::3])
            if d.min() >= -0.0005:
                break
            gap += -d.min() + 0.002
        else:
            note(["no clear start"])
            continue
        if h.output.vertices[:, 2].min() < floor_z + 0.001:
            note(["start below floor"])
            continue
        flex, abd = base_flex.copy(), base_abd.copy()
        for f, joints in FINGER_JOINTS.items():
            lo, hi = 0.0, 1.0
            sel = fingers[f]
            for _ in range(6):
                mid = 0.5 * (lo + hi)
                tf, ta = _closed(flex, abd, base_flex, base_abd, joints, mid)
                if blocked(pose_hand(model, axes, frame, centre, betas, tf, ta, left).output.vertices[sel][::2]):
                    hi = mid
                else:
                    lo = mid
            flex, abd = _closed(flex, abd, base_flex, base_abd, joints, lo)
        h = pose_hand(model, axes, frame, centre, betas, flex, abd, left)
        tips = target.approx(h.output.vertices[list(model.tip_ids)])
        if np.sum(np.abs(tips) <= contact_tol) < min_tip_contacts:
            note(["too few fingertip contacts"])
            continue
        if target.approx(h.output.vertices).min() < -max_penetration or h.output.vertices[:, 2].min() < floor_z - 0.001:
            note(["penetration (approx)"])
            continue
        tips = target.exact(h.output.vertices[list(model.tip_ids)])
        if (target.exact(h.output.vertices).min() >= -max_penetration
                and np.sum(np.abs(tips) <= contact_tol) >= min_tip_contacts):
            h.tip_distances = tips
            return h
        note(["rejected by the exact check"])
    return None


def _closed(flex, abd, base_flex, base_abd, joints, c):
    """Articulation with one finger closed to curl c (the thumb also turns towards the fingers: opposition)."""
    f, a = flex.copy(), abd.copy()
    f[list(joints)] = np.maximum(base_flex[list(joints)], curl_flexion(c)[list(joints)])
    if joints[0] == 13:  # thumb CMC: abduction towards the index grows with the curl
        a[13] = max(base_abd[13], 0.6 * c)
    return clip_to_limits(f, a)


def _palm_thickness(model: HandModel, axes: HandAxes) -> float:
    """Thickness of the palm along its normal (m), from the rest vertices near the palm centre."""
    v = model.v_template
    near = np.linalg.norm((v - axes.palm_center) - np.outer((v - axes.palm_center) @ axes.n, axes.n), axis=1) < 0.015
    if not near.any():
        return 0.03
    s = (v[near] - axes.palm_center) @ axes.n
    return float(s.max() - s.min())


def keypoint_radii(keypoints: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Per-keypoint tolerance r_k (k,), metres: 1.5 x distance to the nearest hand vertex + 3 mm.

    A joint inside a finger is about one finger radius under the surface that covers it; a fingertip
    keypoint is a vertex (r_k = 3 mm). Used by the keypoint visibility rule (render/annotate.py) and stored in ``HandInstance.keypoint_radii``.
    """
    d, _ = cKDTree(vertices).query(keypoints)
    return 1.5 * d + 0.003


class TargetMeshes:
    """Per obj_id (cached per process): a watertight mesh (model frame) and a KD-tree of 20,000 surface
    samples, for :class:`PosedSDF` queries."""

    def __init__(self, library, samples: int = 20000):
        self.library, self.samples = library, samples
        self._cache: dict[int, tuple] = {}

    def sdf(self, obj) -> PosedSDF:
        """Signed distances to the object at its world pose."""
        if obj.obj_id not in self._cache:
            m = sdf_mesh(self.library.get(obj.obj_id).mesh)
            pts, _ = trimesh.sample.sample_surface(m, self.samples, seed=obj.obj_id)
            self._cache[obj.obj_id] = (m, cKDTree(np.vstack([pts, m.vertices])))
        m, tree = self._cache[obj.obj_id]
        return PosedSDF(m, tree, obj.world_T_model)


def _shifted(h: HandPlacement, dz: float) -> HandPlacement:
    """The same hand moved up by dz metres (translation is additive in the model)."""
    if dz == 0:
        return h
    off = np.array([0.0, 0.0, dz])
    out = HandOutput(h.output.vertices + off, h.output.joints + off, h.output.keypoints + off, h.output.faces)
    return HandPlacement(h.global_orient, h.hand_pose, h.betas, h.transl + off, h.left, out, h.grasped_inst,
                         h.tip_distances)


def clear_of_scene(h: HandPlacement, objects, targets: TargetMeshes, floor_margin=0.005, max_penetration=0.002,
                   step=0.03, max_lifts=8) -> HandPlacement:
    """Lift a free hand until it is above the floor and penetrates no object by more than ``max_penetration``."""
    h = _shifted(h, max(0.0, floor_margin - h.output.vertices[:, 2].min()))
    for _ in range(max_lifts):
        v = h.output.vertices
        lo, hi = v.min(axis=0), v.max(axis=0)
        worst = 0.0
        for o in objects:
            sdf = targets.sdf(o)
            lo_m, hi_m = sdf.mesh.bounds
            c = transform_points(sdf.T, box_corners(lo_m, hi_m))
            b = (c.min(axis=0), c.max(axis=0))
            if np.any(b[0] > hi) or np.any(b[1] < lo):
                continue
            worst = max(worst, -sdf.approx(v[::2]).min())
        if worst <= max_penetration:
            return h
        h = _shifted(h, step)
    return h


def _overlaps(h: HandPlacement, boxes: list) -> bool:
    lo, hi = h.output.vertices.min(axis=0), h.output.vertices.max(axis=0)
    return any(np.all(lo <= b_hi) and np.all(hi >= b_lo) for b_lo, b_hi in boxes)


def place_hands(scene, cfg, library, model: HandModel, axes: HandAxes, seed: int, targets: TargetMeshes,
                look_at=(0.0, 0.0, 0.0)):
    """Add ``cfg.count`` hands to a settled scene (grasping objects or free), from stream 'hands'.

    Parameters
    ----------
    scene : SceneDescription
        After physics (object poses are final) and with its views.
    cfg : HandConfig
    library : AssetLibrary
    model : HandModel
        Right-hand model (left hands are mirrored).
    axes : HandAxes
        ``hand_axes(model)``.
    seed : int
        Recipe seed.
    targets : TargetMeshes
    look_at : (3,) world point free hands are placed around.

    Returns
    -------
    SceneDescription with ``hands``.
    """
    rng = scene_rng(seed, scene.scene_index, "hands")
    fingers = finger_vertex_masks(model)
    n = int(rng.integers(cfg.count.min, cfg.count.max + 1))
    next_id = max([o.inst_id for o in scene.objects] + [i for i, _ in scene.removed] + [0]) + 1
    grasped: set[int] = set()
    hands = []
    boxes: list = []  # bounding boxes of the hands placed so far: hands never overlap each other
    for k in range(n):
        left = bool(rng.random() < cfg.left_fraction)
        betas = rng.uniform(cfg.betas.min, cfg.betas.max, size=min(model.num_betas, 10))
        color = uniform(rng, cfg.skin_color.min, cfg.skin_color.max)
        h = None
        wants_grasp = rng.random() < cfg.grasp_fraction
        free = [o for o in scene.objects if o.inst_id not in grasped]
        if wants_grasp and free:
            o = free[int(rng.integers(len(free)))]
            h = sample_grasp(model, axes, fingers, rng, targets.sdf(o), betas, left, cfg.max_grasp_tries)
            if h is not None and _overlaps(h, boxes):
                h = None
            if h is not None:
                h.grasped_inst = o.inst_id
                grasped.add(o.inst_id)
        if h is None:
            cam = scene.views[0].world_T_cam[:3, 3] if scene.views else np.asarray(look_at) + [0, 0, 1.0]
            point = np.asarray(look_at, float) + np.array([rng.uniform(-0.08, 0.08), rng.uniform(-0.08, 0.08), 0.0])
            point[2] = rng.uniform(cfg.height.min, cfg.height.max)
            h = sample_free_hand(model, axes, rng, cam, point, (cfg.azimuth_deg.min, cfg.azimuth_deg.max),
                                 (cfg.elevation_deg.min, cfg.elevation_deg.max), (cfg.curl.min, cfg.curl.max),
                                 betas, left)
            h = clear_of_scene(h, scene.objects, targets)
            for _ in range(12):
                if not _overlaps(h, boxes):
                    break
                h = _shifted(h, 0.03)
        boxes.append((h.output.vertices.min(axis=0), h.output.vertices.max(axis=0)))
        hands.append(HandInstance(
            inst_id=next_id + k, handedness="left" if h.left else "right", vertices=h.output.vertices,
            faces=h.output.faces, joints=h.output.joints, keypoints=h.output.keypoints,
            global_orient=h.global_orient, hand_pose=h.hand_pose, betas=h.betas, transl=h.transl,
            rest_wrist=model.rest_joints(h.betas)[0], flat_hand_mean=model.flat_hand_mean, backend=model.backend,
            color=color, grasped_inst=h.grasped_inst,
            keypoint_radii=keypoint_radii(h.output.keypoints, h.output.vertices)))
    return replace(scene, hands=tuple(hands))
