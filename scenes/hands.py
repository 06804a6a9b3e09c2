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
pointing down; each finger then closes (bisection on its curl; the thumb along
two paths, ``THUMB_GRASP_PATHS``, keeping the one that ends nearer the surface)
until it touches the surface (penetration <= 1 mm) or the floor, and then its two
distal joints close on alone until they touch too (the finger wraps). A grasp is kept when the whole hand penetrates the
object by at most ``max_penetration`` (2 mm), at least ``min_tip_contacts`` (3)
fingertips are within ``contact_tol`` (5 mm) of its surface, and the hand stays
above the floor; otherwise another is drawn. Signed distances: trimesh
(closest points, ``trimesh.proximity.closest_point``) on the object's mesh, which must be
watertight (after merging duplicate vertices) or is replaced by its convex hull; inside tests by ray parity
along three fixed directions (:func:`contains`: deterministic, unlike trimesh's default).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import trimesh
from trimesh.ray import ray_util
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from ..assets.hand_look import (FabricLook, SkinLook, draw_fabric, draw_skin, draw_skin_range, fabric_colors,
                                forearm_skin_colors, skin_colors, skin_regions)
from ..assets.hand_model import HandAxes, HandModel, HandOutput, hand_axes, wrist_ring  # noqa: F401 (re-exported)
from ..config.hands import ForearmConfig, HandConfig
from ..core.description import Forearm, HandInstance, SceneDescription
from ..core.geometry import box_corners, invert_pose, project_points, transform_points
from ..core.hands import FINGER_JOINTS, MIRROR
from ..core.library import ModelLibrary
from ..core.rng import asset_rng, scene_rng

#: Active ranges of motion, degrees: (flexion min, flexion max, abduction min, abduction max) per joint kind,
#: with flexion as :func:`anatomical_to_pose` defines it (negative: extension) and abduction about the palm
#: normal. Sources: American Academy of Orthopaedic Surgeons, "Joint Motion: Method of Measuring and
#: Recording" (1965; normal values also in Greene & Heckman, "The Clinical Measurement of Joint Motion",
#: AAOS 1994): finger MCP flexion 90 / hyperextension 45, PIP 100 / 0, DIP 90 / 10; thumb MCP 50 / 0,
#: thumb IP 80 / 20, thumb CMC palmar abduction 70; wrist flexion 80, extension 70, radial deviation 20,
#: ulnar deviation 30. Hume et al. 1990, "Functional range of motion of the joints of the hand", J Hand Surg
#: 15A:240-243: active flexion of MCP 100, PIP 105, DIP 85, thumb MCP 56, thumb IP 73 (and far less in
#: daily tasks: MCP 61, PIP 60, DIP 39, thumb MCP 21, thumb IP 18).
#: gtforge's choices where the sources give no number or another zero: MCP hyperextension is limited to 20
#: (an unloaded hand; AAOS's 45 includes passive stretch), finger spread to +-20; the thumb CMC's
#: abduction (in the palm plane, + towards the index) is counted from the model's rest thumb, which is
#: already splayed about 45 degrees from the index, so +-35 keeps the first web between about 10 and 80;
#: its flexion (palmar abduction out of the palm plane) may go 15 the other way because the rest thumb
#: already leans 15 towards the palm.
ROM_DEG = {
    "mcp": (-20.0, 90.0, -20.0, 20.0),
    "pip": (0.0, 100.0, 0.0, 0.0),
    "dip": (-10.0, 85.0, 0.0, 0.0),
    "thumb_cmc": (-15.0, 70.0, -35.0, 35.0),
    "thumb_mcp": (0.0, 56.0, 0.0, 0.0),
    "thumb_ip": (-20.0, 80.0, 0.0, 0.0),
}
#: Wrist range of motion (AAOS), degrees: flexion (towards the palm), extension, radial and ulnar deviation.
#: A forearm's direction relative to its hand stays within it (:func:`forearm_direction`).
WRIST_ROM_DEG = {"flexion": 80.0, "extension": 70.0, "radial": 20.0, "ulnar": 30.0}
#: ``ROM_DEG`` in radians: (flex_min, flex_max, abd_min, abd_max) per joint kind.
LIMITS = {k: tuple(float(np.radians(x)) for x in v) for k, v in ROM_DEG.items()}
KIND = {1: "mcp", 2: "pip", 3: "dip", 4: "mcp", 5: "pip", 6: "dip", 7: "mcp", 8: "pip", 9: "dip",
        10: "mcp", 11: "pip", 12: "dip", 13: "thumb_cmc", 14: "thumb_mcp", 15: "thumb_ip"}
#: Flexion (radians) of the open, relaxed and fist poses per joint kind, and ``thumb_cmc_abd``: the thumb CMC's
#: abduction (towards the index). Relaxed: the resting posture of an unloaded hand, fingers increasingly
#: flexed from index to little (about 20-30 degrees at the MCP, 30-45 at the PIP, 10-20 at the DIP; thumb
#: slightly flexed beside the index). Fist: the fingers at 85-100 degrees (within ``ROM_DEG``), and the
#: thumb wrapped over the middle phalanges of the index and middle fingers: its pad placed there by solving
#: for CMC, MCP and IP on the procedural hand (palmar abduction 10, MCP 56 = its limit, IP 24 degrees).
PRESETS = {
    "open": {"mcp": 0.0, "pip": 0.0, "dip": 0.0, "thumb_cmc": 0.0, "thumb_mcp": 0.0, "thumb_ip": 0.0,
             "thumb_cmc_abd": 0.0},
    "relaxed": {"mcp": 0.4, "pip": 0.6, "dip": 0.3, "thumb_cmc": 0.2, "thumb_mcp": 0.3, "thumb_ip": 0.25,
                "thumb_cmc_abd": 0.2},
    "fist": {"mcp": 1.5, "pip": 1.7, "dip": 1.0, "thumb_cmc": 0.17, "thumb_mcp": 0.97, "thumb_ip": 0.42,
             "thumb_cmc_abd": 0.04},
}
#: Thumb paths while a grasp closes (curl c in [0, 1]), radians per unit curl of (CMC flexion = palmar abduction,
#: MCP flexion, IP flexion, CMC abduction towards the index). Opposition: palmar abduction and MCP/IP flexion
#: grow together so the pad swings round to face the fingertips (near c = 0.75 the solved tip-to-tip pose of
#: the procedural hand: CMC 26, MCP 48, IP 38 degrees). Lateral: the thumb stays near the palm plane and curls
#: towards the side of the index (objects held against the palm). The grasp search closes the thumb along
#: both and keeps the one whose tip ends nearer the object's surface.
THUMB_GRASP_PATHS = (np.array([0.9, 0.9, 0.75, 0.0]), np.array([0.2, 0.95, 0.8, 0.45]))
#: Finger spread: MCP abduction (+ towards the little finger) per unit spread, for the index, middle, ring and
#: little fingers; a hand's spread is drawn once, so the fingers fan out together instead of crossing.
SPREAD = {1: -1.0, 4: -0.2, 10: 0.6, 7: 1.0}


def anatomical_to_pose(axes: HandAxes, flex: np.ndarray, abd: np.ndarray) -> np.ndarray:
    """Flexion and abduction angles (16,) (index 0 unused) -> the 45 finger axis-angles (MANO joint order)."""
    R = Rotation.from_rotvec(axes.flex[1:] * np.asarray(flex)[1:, None]) * \
        Rotation.from_rotvec(np.outer(np.asarray(abd)[1:], axes.n))
    return R.as_rotvec().reshape(-1)


def _preset_blend(curl: float) -> tuple[str, str, float]:
    c = float(np.clip(curl, 0.0, 1.0))
    return ("open", "relaxed", 2 * c) if c <= 0.5 else ("relaxed", "fist", 2 * c - 1)


def curl_flexion(curl: float) -> np.ndarray:
    """Flexion (16,) of the open (0) -> relaxed (0.5) -> fist (1) interpolation."""
    a, b, t = _preset_blend(curl)
    out = np.zeros(16)
    for j in range(1, 16):
        k = KIND[j]
        out[j] = (1 - t) * PRESETS[a][k] + t * PRESETS[b][k]
    return out


def curl_abduction(curl: float) -> np.ndarray:
    """Abduction (16,) of the same interpolation: only the thumb CMC's (``thumb_cmc_abd``) is not 0."""
    a, b, t = _preset_blend(curl)
    out = np.zeros(16)
    out[13] = (1 - t) * PRESETS[a]["thumb_cmc_abd"] + t * PRESETS[b]["thumb_cmc_abd"]
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
    """Random (flex, abd) (16,) within ``LIMITS``: a curl drawn from ``curl_range``, per-finger jitter of the
    curl and of each joint (0.05 rad), one spread for the four fingers (``SPREAD``, from slightly adducted to
    fully spread, less as they curl), and a thumb CMC abduction around its preset."""
    c = rng.uniform(*curl_range)
    spread = rng.uniform(-0.1, 1.0)
    flex = np.zeros(16)
    abd = np.zeros(16)
    for f, joints in FINGER_JOINTS.items():
        cf = np.clip(c + rng.normal(0, finger_jitter), 0, 1)
        flex[list(joints)] = curl_flexion(cf)[list(joints)] + rng.normal(0, 0.05, 3)
        j0 = joints[0]
        if f == "thumb":
            abd[j0] = curl_abduction(cf)[j0] + rng.normal(0, 0.15) * (1 - 0.7 * cf)
        else:
            abd[j0] = (spread * SPREAD[j0] * LIMITS["mcp"][3] + rng.normal(0, 0.03)) * (1 - 0.7 * cf)
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


#: Fixed ray directions of :func:`contains` (unit vectors; the first is trimesh's default).
CONTAINS_DIRECTIONS = np.array([[0.4395064455, 0.617598629942, 0.652231566745],
                                [-0.5773502692, 0.2182178902, 0.7867957925],
                                [0.2672612419, -0.8017837257, 0.5345224838]])


def contains(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """Inside test (n,) bool for a watertight mesh, deterministic: ray parity along each of the three
    ``CONTAINS_DIRECTIONS`` (both ways), majority vote.

    trimesh's own ``contains`` re-casts the rays it finds ambiguous (grazing an edge) in a direction drawn from
    numpy's global random state, so the same points could come out differently from run to run; with a fixed
    direction it leaves such a ray outside, and the vote settles it.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    votes = sum(ray_util.contains_points(mesh.ray, pts, check_direction=d).astype(int) for d in CONTAINS_DIRECTIONS)
    return votes >= 2


def outside_distance(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """Signed distance (n,), metres, positive outside the mesh: the distance to the closest surface point
    (``trimesh.proximity.closest_point``), negative where :func:`contains` says inside."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    _, dist, _ = trimesh.proximity.closest_point(mesh, pts)
    return np.where(contains(mesh, pts), -dist, dist)


class PosedSDF:
    """Signed distances (positive outside) to a watertight model mesh placed at ``world_T_model``.

    ``approx``: distance to the nearest of dense surface samples (never less than the true distance,
    so penetration and contact tests made with it are conservative), sign from :func:`contains`
    (Embree ray parity). ``exact``: :func:`outside_distance` (closest-point distance).
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
        return np.where(contains(self.mesh, p), -d, d)

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
    k = _probe_stride(model)  # search on a subset of vertices as dense as ~3,400 over the hand

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
            d = target.approx(h.output.vertices[::3 * k])
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
            sel = fingers[f]
            best = None
            for path in (THUMB_GRASP_PATHS if f == "thumb" else (None,)):
                lo, hi = 0.0, 1.0
                for _ in range(6):
                    mid = 0.5 * (lo + hi)
                    tf, ta = _closed(flex, abd, base_flex, base_abd, joints, mid, path)
                    posed = pose_hand(model, axes, frame, centre, betas, tf, ta, left).output.vertices
                    if blocked(posed[sel][::2 * k]):
                        hi = mid
                    else:
                        lo = mid
                tf, ta = _closed(flex, abd, base_flex, base_abd, joints, lo, path)
                if path is not None:  # thumb: keep the path whose tip ends nearest the surface
                    tip = pose_hand(model, axes, frame, centre, betas, tf, ta, left).output.vertices[model.tip_ids[0]]
                    gap = abs(float(target.approx(tip[None])[0]))
                    if best is not None and gap >= best[0]:
                        continue
                    best = (gap, tf, ta)
                else:
                    best = (0.0, tf, ta)
            flex, abd = best[1], best[2]
            # then the distal joints alone keep closing until they touch too (fingers wrap round the object)
            lo, hi = 0.0, 1.0
            for _ in range(5):
                mid = 0.5 * (lo + hi)
                tf = _wrapped(flex, joints, mid)
                if blocked(pose_hand(model, axes, frame, centre, betas, tf, abd, left).output.vertices[sel][::2 * k]):
                    hi = mid
                else:
                    lo = mid
            flex = _wrapped(flex, joints, lo)
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


def _probe_stride(model: HandModel) -> int:
    """Vertex stride of the grasp search: 1 up to ~3,400 vertices (MANO: 778), more for denser meshes, so
    the search costs the same whatever the mesh resolution (the acceptance test uses every vertex)."""
    return max(1, int(round(len(model.v_template) / 3432)))


def _wrapped(flex, joints, w):
    """``flex`` with the finger's two distal joints moved the fraction ``w`` of the way to their flexion limits."""
    f = flex.copy()
    for j in joints[1:]:
        f[j] = f[j] + w * (LIMITS[KIND[j]][1] - f[j])
    return f


def _closed(flex, abd, base_flex, base_abd, joints, c, path=None):
    """Articulation with one finger closed to curl c; the thumb follows ``path`` (a row of
    ``THUMB_GRASP_PATHS``)."""
    f, a = flex.copy(), abd.copy()
    if joints[0] == 13:
        path = THUMB_GRASP_PATHS[0] if path is None else path
        f[list(joints)] = np.maximum(base_flex[list(joints)], path[:3] * c)
        a[13] = base_abd[13] + path[3] * c
    else:
        f[list(joints)] = np.maximum(base_flex[list(joints)], curl_flexion(c)[list(joints)])
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
    keypoint is a vertex (r_k = 3 mm). Used by the keypoint visibility rule (render/annotate.py) and stored in
    ``HandInstance.keypoint_radii``.
    """
    d, _ = cKDTree(vertices).query(keypoints)
    return 1.5 * d + 0.003


class TargetMeshes:
    """Per obj_id (cached per process): a watertight mesh (model frame) and a KD-tree of 20,000 surface
    samples, for :class:`PosedSDF` queries."""

    def __init__(self, library: ModelLibrary, samples: int = 20000):
        self.library, self.samples = library, samples
        self._cache: dict[int, tuple] = {}

    def sdf(self, obj) -> PosedSDF:
        """Signed distances to the object at its world pose."""
        if obj.obj_id not in self._cache:
            m = sdf_mesh(self.library.get(obj.obj_id).mesh)
            # trimesh draws from numpy.random.default_rng(seed), which takes a Generator as it is
            pts, _ = trimesh.sample.sample_surface(m, self.samples, seed=asset_rng("grasp_surface", obj.obj_id))
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
    """Lift a free hand until it is above the floor and penetrates no object by more than ``max_penetration``
    (tested on every ``2 * _probe_stride``-th vertex)."""
    k = max(1, int(round(len(h.output.vertices) / 3432)))
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
            worst = max(worst, -sdf.approx(v[::2 * k]).min())
        if worst <= max_penetration:
            return h
        h = _shifted(h, step)
    return h


def _overlaps(h: HandPlacement, boxes: list) -> bool:
    lo, hi = h.output.vertices.min(axis=0), h.output.vertices.max(axis=0)
    return any(np.all(lo <= b_hi) and np.all(hi >= b_lo) for b_lo, b_hi in boxes)


# ---------------------------------------------------------------- forearms
@dataclass(frozen=True)
class ForearmShape:
    """A forearm's geometry, drawn from a geometry stream (``scene_rng(seed, scene, 'hands', 1000 + k)``).

    Attributes
    ----------
    length : float
        Metres along its centreline from the wrist ring to the start of its rounded end.
    flexion, deviation : float
        Wrist angles, radians: flexion (+, palm towards the forearm) / extension (-); radial (+) / ulnar (-)
        deviation; within ``WRIST_ROM_DEG``.
    sleeve : bool
        A sleeve covers it from ``cuff_at`` metres past the wrist ring, ``looseness`` metres off the skin.
    """

    length: float
    flexion: float
    deviation: float
    sleeve: bool
    cuff_at: float
    looseness: float


def draw_forearm(rng: np.random.Generator, cfg: ForearmConfig) -> ForearmShape | None:
    """Draw a forearm (or None, with probability 1 - ``cfg.probability``) from ``cfg`` (``ForearmConfig``); always
    draws seven values, so the other hands' forearms do not depend on this one's presence."""
    u = rng.random(7)
    if u[0] >= cfg.probability:
        return None
    lo_f, hi_f = -WRIST_ROM_DEG["extension"], WRIST_ROM_DEG["flexion"]
    lo_d, hi_d = -WRIST_ROM_DEG["ulnar"], WRIST_ROM_DEG["radial"]
    flex = np.clip(cfg.flexion_deg.min + (cfg.flexion_deg.max - cfg.flexion_deg.min) * u[1], lo_f, hi_f)
    dev = np.clip(cfg.deviation_deg.min + (cfg.deviation_deg.max - cfg.deviation_deg.min) * u[2], lo_d, hi_d)
    return ForearmShape(
        length=float(cfg.length.min + (cfg.length.max - cfg.length.min) * u[3]), flexion=float(np.radians(flex)),
        deviation=float(np.radians(dev)), sleeve=bool(u[4] < cfg.sleeve_probability),
        cuff_at=float(cfg.cuff_offset.min + (cfg.cuff_offset.max - cfg.cuff_offset.min) * u[5]),
        looseness=float(cfg.sleeve_looseness.min + (cfg.sleeve_looseness.max - cfg.sleeve_looseness.min) * u[6]))


def hand_frame_world(keypoints: np.ndarray, left: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit (fingers, palm normal, radial) directions of a posed hand from its 21 keypoints (world frame):
    fingers = wrist -> middle MCP, palm normal out of the palm (a left hand's is mirrored, so the cross product
    flips), radial = little MCP -> index MCP, each made orthogonal to the previous ones."""
    w, idx, mid, lit = keypoints[0], keypoints[5], keypoints[9], keypoints[17]
    n = np.cross(idx - w, lit - w) * (-1.0 if left else 1.0)
    n /= np.linalg.norm(n)
    x = mid - w
    x -= n * (x @ n)
    x /= np.linalg.norm(x)
    r = idx - lit
    r -= n * (r @ n) + x * (r @ x)
    return x, n, r / np.linalg.norm(r)


def forearm_direction(x: np.ndarray, n: np.ndarray, r: np.ndarray, flexion: float, deviation: float) -> np.ndarray:
    """Unit direction from the wrist towards the elbow (3,), for wrist ``flexion`` and ``deviation`` (radians):
    straight back (-x) at 0, tilting towards the palm side (n) with flexion and towards the radial side (r) with
    radial deviation (a hand flexed towards its palm has its forearm on its palm side, in the hand's frame)."""
    d = -np.cos(flexion) * np.cos(deviation) * x + np.sin(flexion) * n + np.cos(flexion) * np.sin(deviation) * r
    return d / np.linalg.norm(d)


@dataclass
class ForearmMesh:
    """A built forearm (world frame): ``vertices`` (k, 3), ``faces`` (m, 3) int64 (outward), ``skin`` (k,) bool
    (skin or fabric), ``along`` (k,) metres from the wrist ring along the centreline, ``around`` (k,) int index
    around its ring, ``ring0`` the number of leading vertices that are the hand's wrist ring (in its order),
    ``axis`` (3,) the final direction; ``centre`` (r, 3), ``radius`` (r,) and ``radius_min`` (r,) of its rings
    (largest and smallest distance of a ring's vertices from its centre)."""

    vertices: np.ndarray
    faces: np.ndarray
    skin: np.ndarray
    along: np.ndarray
    around: np.ndarray
    ring0: int
    axis: np.ndarray
    centre: np.ndarray
    radius: np.ndarray
    radius_min: np.ndarray


def build_forearm(ring_world: np.ndarray, x: np.ndarray, n: np.ndarray, r: np.ndarray, pivot: np.ndarray,
                  shape: ForearmShape, length: float | None = None) -> ForearmMesh:
    """A tapered elliptical tube continuing a hand's wrist ring backwards (docs/conventions.md, "Hands").

    Parameters
    ----------
    ring_world : (k, 3) float64
        The hand's posed wrist-ring vertices (:func:`~gtforge.assets.hand_model.wrist_ring`), in order around;
        they are the forearm's first ring exactly.
    x, n, r : (3,) float64
        The hand's fingers, palm-normal and radial directions (:func:`hand_frame_world`).
    pivot : (3,) float64
        The wrist joint (keypoint 0), metres: the wrist bends about it.
    shape : ForearmShape
    length : float, optional
        Overrides ``shape.length`` (the fitting rule shortens it).

    Built straight along the ring's normal (away from the fingers), rings every ~8 mm; the cross-section blends
    from the wrist ring's own shape (scaled) to an ellipse between 6 mm and 5.6 cm (half width x1.12, thickness
    0.78 of the width), then swells by up to 40 % (width) and 45 % (thickness) towards 17 cm (the muscle
    bellies) and narrows a little after: on the procedural hand, a 5.4 x 4.2 cm distal forearm growing to about
    7.4 x 5.8 cm, an adult's (gtforge's figures). A ring has at least 40 vertices (the wrist ring's vertices,
    each followed by points in between when it has fewer). The end is a rounded cap. A sleeve leaves the skin
    at ``shape.cuff_at`` with a step of ``shape.looseness`` (an annulus: the cuff's edge) and follows the arm
    that far off it. Then the wrist bends: each ring turns about ``pivot`` towards :func:`forearm_direction`,
    by the full angle from 3 cm on and smoothly less before (the first ring stays where it is).
    """
    L = float(shape.length if length is None else length)
    k = len(ring_world)
    c0 = ring_world.mean(axis=0)
    _, _, vt = np.linalg.svd(ring_world - c0)
    nu = vt[2] if vt[2] @ x < 0 else -vt[2]  # ring normal, away from the fingers
    e1 = r - nu * (r @ nu)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(nu, e1)
    q = np.stack([(ring_world - c0) @ e1, (ring_world - c0) @ e2], axis=1)  # (k, 2) wrist profile
    m = max(1, int(np.ceil(40 / k)))
    frac = np.arange(m) / m
    qa = (q[:, None, :] * (1 - frac)[None, :, None]
          + np.roll(q, -1, axis=0)[:, None, :] * frac[None, :, None]).reshape(-1, 2)
    aw, bw = np.abs(q[:, 0]).max(), np.abs(q[:, 1]).max()
    theta = np.arctan2(qa[:, 1] / bw, qa[:, 0] / aw)
    direction = forearm_direction(x, n, r, shape.flexion, shape.deviation)

    def profile(t):
        h1 = _smooth01((t - 0.006) / 0.05)
        h2 = _smooth01((t - 0.03) / 0.14) - 0.2 * _smooth01((t - 0.17) / 0.11)
        a = aw * (1 + 0.12 * h1 + 0.40 * h2)
        b = (bw * (1 - h1) + 0.78 * aw * h1) * (1 + 0.45 * h2)
        return (1 - h1) * qa * [a / aw, b / bw] + h1 * np.stack([a * np.cos(theta), b * np.sin(theta)], axis=1)

    def ring_at(t, sleeve):
        prof = profile(t)
        if sleeve:
            prof = prof + shape.looseness * prof / np.linalg.norm(prof, axis=1, keepdims=True)
        return c0 + nu * t + prof[:, :1] * e1 + prof[:, 1:] * e2

    n_rings = max(4, int(np.ceil(L / 0.008)) + 1)
    rings, ts, skin, kinds = [ring_world], [0.0], [np.ones(k, bool)], ["wrist"]
    for t in np.linspace(0.0, L, n_rings)[1:]:
        if shape.sleeve and ts[-1] < shape.cuff_at <= t:
            bare = ring_at(shape.cuff_at, False)
            rings += [bare, bare.copy()]
            ts += [shape.cuff_at] * 2
            skin += [np.ones(len(bare), bool), np.zeros(len(bare), bool)]
            kinds += ["skin", "cut"]
        sleeve = shape.sleeve and t >= shape.cuff_at
        rings.append(ring_at(t, sleeve))
        ts.append(t)
        skin.append(np.full(len(qa), not sleeve))
        kinds.append("ring")
    # rounded end: three shrinking rings and a pole
    last, centre_end = rings[-1], c0 + nu * L
    cap = 0.6 * np.linalg.norm(last - centre_end, axis=1).mean()
    for phi in (0.45, 0.85, 1.2):
        rings.append(centre_end + (last - centre_end) * np.cos(phi) + nu * (np.sin(phi) * cap))
        ts.append(L + np.sin(phi) * cap)
        skin.append(skin[-1].copy())
        kinds.append("ring")
    rings.append((centre_end + nu * cap)[None])
    ts.append(L + cap)
    skin.append(skin[-1][:1].copy())
    # the wrist bends about the pivot
    angle = float(np.arccos(np.clip(nu @ direction, -1.0, 1.0)))
    axis = np.cross(nu, direction)
    if angle > 1e-9 and np.linalg.norm(axis) > 1e-12:
        axis /= np.linalg.norm(axis)
        for i in range(1, len(rings)):
            R = Rotation.from_rotvec(axis * angle * _smooth01(ts[i] / 0.03))
            rings[i] = pivot + R.apply(rings[i] - pivot)
    start = np.cumsum([0] + [len(rr) for rr in rings])
    faces = []
    K = len(rings[1])
    for i in range(k):  # wrist ring (k) -> first ring (k m)
        a0, b0 = start[0], start[1]
        for jj in range(m):
            faces.append((a0 + i, b0 + (i * m + jj + 1) % K, b0 + i * m + jj))
        faces.append((a0 + i, a0 + (i + 1) % k, b0 + ((i + 1) * m) % K))
    for ri in range(1, len(rings) - 2):
        if kinds[ri + 1] == "cut":
            continue  # the bare ring and the sleeve's first ring coincide: no faces between them
        a0, b0 = start[ri], start[ri + 1]
        for j in range(K):
            jn = (j + 1) % K
            faces += [(a0 + j, b0 + jn, b0 + j), (a0 + j, a0 + jn, b0 + jn)]
    pole, a0 = start[-2], start[-3]
    faces += [(a0 + j, a0 + (j + 1) % K, pole) for j in range(K)]
    V = np.concatenate(rings)
    F = np.array(faces, dtype=np.int64)
    # orient outwards: the first ring's faces must face away from the axis
    fc = V[F[: 3 * k]].mean(axis=1)
    fn = np.cross(V[F[: 3 * k, 1]] - V[F[: 3 * k, 0]], V[F[: 3 * k, 2]] - V[F[: 3 * k, 0]])
    if np.sum(np.einsum("ij,ij->i", fn, fc - c0)) < 0:
        F = F[:, ::-1]
    along = np.concatenate([np.full(len(rr), t) for rr, t in zip(rings, ts)])
    around = np.concatenate([np.arange(len(rr)) for rr in rings])
    body = rings[:-1]
    cen = np.array([rr.mean(axis=0) for rr in body])
    dist = [np.linalg.norm(rr - rr.mean(axis=0), axis=1) for rr in body]
    return ForearmMesh(V, F, np.concatenate(skin), along, around, k, direction, cen, np.array([d.max() for d in dist]),
                       np.array([d.min() for d in dist]))


def _smooth01(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def forearm_blocked(fm: ForearmMesh, floor_z: float, obstacles, hand_vertices: np.ndarray, others,
                    cameras=()) -> str | None:
    """Why a forearm is not allowed (None if it is).

    ``floor``: a vertex below ``floor_z`` + 1 mm. ``camera``: a vertex less than ``CAMERA_CLEARANCE`` in front
    of a camera (``cameras``: ``cam_T_world`` (4, 4) of the scene's views, OpenCV): an arm reaching past a
    viewpoint would hold the camera or leave the hand's 3D box behind it. ``object``: a vertex inside an object
    (``obstacles``: :class:`PosedSDF` s, sign by ray parity). ``hand``: a point of another hand or forearm
    (``others``: point arrays (k, 3)) inside the tube (within 0.9 of a ring's smallest radius of its centre) or
    within 2 mm of its surface. ``self``: a vertex of its own hand (``hand_vertices``) inside the tube past its
    first 2.5 cm.
    """
    v = fm.vertices
    if v[:, 2].min() < floor_z + 0.001:
        return "floor"
    for cam_T_world in cameras:
        if (v @ cam_T_world[2, :3] + cam_T_world[2, 3]).min() < CAMERA_CLEARANCE:
            return "camera"
    lo, hi = v.min(axis=0), v.max(axis=0)
    for sdf in obstacles:
        lo_m, hi_m = sdf.mesh.bounds
        c = transform_points(sdf.T, box_corners(lo_m, hi_m))
        if np.any(c.min(axis=0) > hi) or np.any(c.max(axis=0) < lo):
            continue
        if sdf.approx(v).min() < -0.0005:
            return "object"
    far = np.linalg.norm(fm.centre - fm.centre[0], axis=1) >= 0.025
    for pts, rings, why in [(o, np.ones(len(fm.centre), bool), "hand") for o in others] + \
            [(hand_vertices, far, "self")]:
        if len(pts) == 0 or np.any(pts.min(axis=0) > hi + 0.01) or np.any(pts.max(axis=0) < lo - 0.01):
            continue
        tree = cKDTree(pts)
        if any(tree.query_ball_point(c, 0.9 * r, return_length=True) > 0
               for c, r, use in zip(fm.centre, fm.radius_min, rings) if use):
            return why
        if why == "hand" and tree.query(v, distance_upper_bound=0.002)[0].min() < 0.002:
            return why
    return None


#: Metres a forearm keeps in front of every camera (depth in each view's OpenCV frame).
CAMERA_CLEARANCE = 0.1
#: Metres a forearm may be lengthened to so that its end leaves the picture: wrist to shoulder with the elbow
#: straight (forearm about 0.27 m, upper arm about 0.33 m for an adult; gtforge's round figure).
MAX_ARM_LENGTH = 0.6


def end_in_view(fm: ForearmMesh, views) -> bool:
    """Whether a forearm's rounded end (its pole, or the centre of its last full ring) projects into a view's image
    in front of its camera (``views``: :class:`~gtforge.core.description.View` s)."""
    pts = np.stack([fm.vertices[-1], fm.centre[-4]])
    for v in views:
        p = transform_points(invert_pose(v.world_T_cam), pts)
        front = p[:, 2] > 1e-6
        if not front.any():
            continue
        uv = project_points(p[front], v.K)
        if np.any((uv[:, 0] >= -0.5) & (uv[:, 0] < v.width - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < v.height - 0.5)):
            return True
    return False


def fit_forearm(out: HandOutput, left: bool, ring_ids: np.ndarray, shape: ForearmShape, floor_z: float,
                obstacles, others, min_length: float, views=(), max_length: float = 0.6, max_raises: int = 8):
    """Build a forearm that is allowed (:func:`forearm_blocked`), or None.

    Rule (docs/conventions.md, "Hands"). Candidates: the drawn wrist angles, then those of a 10-degree grid over
    ``WRIST_ROM_DEG`` whose forearm points higher (larger world z), nearest to the drawn ones first (at most
    ``max_raises``). A candidate whose rounded end shows in a view (:func:`end_in_view`) is lengthened by 10 cm
    steps up to ``max_length`` (an arm with a straight elbow) while it stays allowed. The first allowed candidate
    whose end is out of every view is taken, else the first allowed one; if none is allowed, the highest-pointing
    candidate is shortened by halves down to ``min_length``; if still blocked, no forearm.

    Parameters
    ----------
    out : HandOutput
        The posed hand, world frame.
    left : bool
    ring_ids : (k,) int
        :func:`~gtforge.assets.hand_model.wrist_ring` of the model.
    shape : ForearmShape
        As drawn.
    floor_z : float
    obstacles : list of PosedSDF
    others : list of (m, 3) arrays
        Vertices of the other hands and of the forearms fitted so far.
    min_length, max_length : float
        Metres.
    views : list of View
        The scene's views (camera clearance, visible ends).

    Returns
    -------
    (ForearmMesh, ForearmShape) or None
        The mesh and the shape it was built with (angles and length as used).
    """
    x, n, r = hand_frame_world(out.keypoints, left)
    ring = out.vertices[ring_ids]
    own = out.vertices[np.linalg.norm(out.vertices - ring.mean(axis=0), axis=1) > 0.03]
    cameras = [invert_pose(v.world_T_cam) for v in views]

    def attempt(sh, length=None):
        fm = build_forearm(ring, x, n, r, out.keypoints[0], sh, length)
        return fm if forearm_blocked(fm, floor_z, obstacles, own, others, cameras) is None else None

    z0 = forearm_direction(x, n, r, shape.flexion, shape.deviation)[2]
    grid = []
    for fdeg in np.arange(-WRIST_ROM_DEG["extension"], WRIST_ROM_DEG["flexion"] + 1e-9, 10.0):
        for ddeg in np.arange(-WRIST_ROM_DEG["ulnar"], WRIST_ROM_DEG["radial"] + 1e-9, 10.0):
            f, d = np.radians(fdeg), np.radians(ddeg)
            z = forearm_direction(x, n, r, f, d)[2]
            if z > z0 + 1e-9:
                grid.append((abs(f - shape.flexion) + abs(d - shape.deviation), -z, f, d))
    grid.sort()
    candidates = [shape] + [replace(shape, flexion=float(f), deviation=float(d)) for _, _, f, d in grid[:max_raises]]
    fallback = None
    for sh in candidates:
        fm = attempt(sh)
        if fm is None:
            continue
        length = sh.length
        while end_in_view(fm, views) and length + 1e-9 < max_length:
            longer = attempt(sh, min(length + 0.1, max_length))
            if longer is None:
                break
            fm, length = longer, min(length + 0.1, max_length)
        if not end_in_view(fm, views):
            return fm, replace(sh, length=length)
        if fallback is None:
            fallback = (fm, replace(sh, length=length))
    if fallback is not None:
        return fallback
    best = shape if not grid else replace(shape, flexion=float(min(grid, key=lambda g: g[1])[2]),
                                          deviation=float(min(grid, key=lambda g: g[1])[3]))
    length = best.length / 2
    while length >= min_length:
        fm = attempt(best, length)
        if fm is not None:
            return fm, replace(best, length=length)
        length /= 2
    return None


def rest_frame_map(model: HandModel, out: HandOutput):
    """Similarity transform (s, A (3, 3) orthogonal, possibly a reflection, b (3,)) with
    ``world = s A rest + b``, fitted (least squares, Procrustes) on the vertices skinned to the wrist joint
    alone: it maps the forearm into the hand model's rest frame, where the skin's mottling field lives
    (:func:`~gtforge.assets.hand_look.forearm_skin_colors`)."""
    ids = np.flatnonzero(model.weights[:, 0] > 0.999)
    if len(ids) < 10:
        ids = np.argsort(-model.weights[:, 0])[:50]
    P = model.v_template[ids]
    Q = out.vertices[ids]
    pc, qc = P.mean(axis=0), Q.mean(axis=0)
    U, S, Vt = np.linalg.svd((P - pc).T @ (Q - qc))
    A = (U @ Vt).T
    s = S.sum() / np.sum((P - pc) ** 2)
    return float(s), A, qc - s * A @ pc


def forearm_instance(model: HandModel, out: HandOutput, fm: ForearmMesh, shape: ForearmShape, skin: SkinLook,
                     fabric: FabricLook, cuff_len: float, hand_colors: np.ndarray | None, palm_normal_rest: np.ndarray,
                     texture: bool) -> Forearm:
    """The :class:`~gtforge.core.description.Forearm` of a built forearm: skin vertices coloured by the hand's
    skin field (its first ring copies the hand's wrist-ring colours exactly), sleeve vertices by ``fabric``
    (a cuff band of ``cuff_len`` metres)."""
    s, A, b = rest_frame_map(model, out)
    rest = ((fm.vertices - b) @ A) / s  # A orthogonal: rest = A^T (world - b) / s
    normals = trimesh.Trimesh(fm.vertices, fm.faces, process=False).vertex_normals @ A
    colors = np.zeros((len(fm.vertices), 4), np.uint8)
    if texture:
        colors[fm.skin] = forearm_skin_colors(skin, rest[fm.skin], normals[fm.skin], palm_normal_rest)
    else:
        colors[fm.skin] = np.append(np.round(skin.rgb * 255), 255).astype(np.uint8)
    if hand_colors is not None:
        colors[: fm.ring0] = hand_colors
    cloth = ~fm.skin
    if cloth.any():
        along = fm.along[cloth] - shape.cuff_at
        colors[cloth] = fabric_colors(fabric, along, fm.around[cloth], along < cuff_len)
    return Forearm(vertices=fm.vertices, faces=fm.faces, vertex_colors=colors, sleeve=bool(shape.sleeve))


def skin_probabilities(cfg) -> dict[str, float]:
    """Fitzpatrick type -> probability from ``cfg.skin_types`` (weights)."""
    names, p = cfg.skin_types.probabilities()
    return dict(zip(names, p))


def place_hands(scene: SceneDescription, cfg: HandConfig, library: ModelLibrary, model: HandModel, axes: HandAxes,
                seed: int, targets: TargetMeshes, look_at=(0.0, 0.0, 0.0)) -> SceneDescription:
    """Add ``cfg.count`` hands to a settled scene (grasping objects or free), with their forearms and looks.

    Randomness: poses, shapes and grasps from stream 'hands'; hand k's forearm geometry (presence, length,
    wrist angles, sleeve) from ``scene_rng(seed, scene, 'hands', 1000 + k)``; hand k's look (skin tone and texture,
    sleeve colour) from ``scene_rng(seed, scene, 'hand_appearance', k)``, so skin and sleeve settings never move a
    hand, and forearm settings never move a hand either (forearms are fitted after every hand is placed).

    Parameters
    ----------
    scene : SceneDescription
        After physics (object poses are final) and with its views.
    cfg : HandConfig
    library : ModelLibrary
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
    placed: list[HandPlacement] = []
    boxes: list = []  # bounding boxes of the hands placed so far: hands never overlap each other
    for _k in range(n):
        left = bool(rng.random() < cfg.left_fraction)
        betas = rng.uniform(cfg.betas.min, cfg.betas.max, size=min(model.num_betas, 10))
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
        placed.append(h)
    regions = skin_regions(model, axes) if cfg.skin_texture else None
    ring_ids = wrist_ring(model) if cfg.forearm.probability > 0 else None
    obstacles = [targets.sdf(o) for o in scene.objects]
    arms: list = []  # vertices of the forearms fitted so far
    hands = []
    for k, h in enumerate(placed):
        shape = draw_forearm(scene_rng(seed, scene.scene_index, "hands", 1000 + k), cfg.forearm)
        look_rng = scene_rng(seed, scene.scene_index, "hand_appearance", k)
        skin = draw_skin(look_rng, skin_probabilities(cfg)) if cfg.skin == "fitzpatrick" else \
            draw_skin_range(look_rng, cfg.skin_color.min, cfg.skin_color.max)
        fabric = draw_fabric(look_rng)
        cuff_len = float(look_rng.uniform(0.01, 0.03))
        colors = skin_colors(skin, regions) if regions is not None else None
        forearm = None
        if shape is not None:
            others = [o.output.vertices for i, o in enumerate(placed) if i != k] + arms
            fitted = fit_forearm(h.output, h.left, ring_ids, shape, 0.0, obstacles, others, cfg.forearm.min_length,
                                 views=scene.views, max_length=max(cfg.forearm.length.max, MAX_ARM_LENGTH))
            if fitted is not None:
                fm, used = fitted
                forearm = forearm_instance(model, h.output, fm, used, skin, fabric, cuff_len,
                                           None if colors is None else colors[ring_ids], axes.n, cfg.skin_texture)
                arms.append(fm.vertices)
        hands.append(HandInstance(
            inst_id=next_id + k, handedness="left" if h.left else "right", vertices=h.output.vertices,
            faces=h.output.faces, joints=h.output.joints, keypoints=h.output.keypoints,
            global_orient=h.global_orient, hand_pose=h.hand_pose, betas=h.betas, transl=h.transl,
            rest_wrist=model.rest_joints(h.betas)[0], flat_hand_mean=model.flat_hand_mean, backend=model.backend,
            color=skin.rgb, grasped_inst=h.grasped_inst,
            keypoint_radii=keypoint_radii(h.output.keypoints, h.output.vertices),
            vertex_colors=colors, forearm=forearm))
    return replace(scene, hands=tuple(hands))
