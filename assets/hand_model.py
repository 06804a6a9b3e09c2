"""Articulated hand models with MANO's parameterisation, skinned in numpy.

One interface for both backends (``mano``: the user's own MANO file;
``procedural``: gtforge's licence-free generated hand, :mod:`gtforge.assets.procedural_hand`):
:meth:`HandModel.forward` takes a global orientation (3, axis-angle), a finger
pose (45 axis-angle values, or PCA coefficients where the model has
components), shape coefficients (betas) and a translation, and returns the
posed vertices, the 16 kinematic joints and the 21 keypoints.

Formulas: linear blend skinning with pose-corrective blend shapes, Loper et al.
2015, "SMPL: A Skinned Multi-Person Linear Model", eqs. (1)-(4); the hand
variant and its 16-joint tree: Romero et al. 2017, "Embodied Hands" (MANO).
For each joint k with parent p(k) and rest joint J_k (from ``J_regressor``
applied to the shaped template):

    v_shaped = T + S @ betas                    (blend shapes, S: (n, 3, n_betas))
    v_posed  = v_shaped + P @ vec(R_1..15 - I)  (pose correctives, P: (n, 3, 135))
    G_0 = [R_0 | J_0],  G_k = G_p(k) [R_k | J_k - J_p(k)]
    A_k = G_k - [0 | G_k (J_k, 0)]              (remove the rest pose)
    v'_i = sum_k w_ik A_k (v_posed_i, 1)          (skinning weights W: (n, 16))

Joint order (MANO): 0 wrist, 1-3 index, 4-6 middle, 7-9 little (pinky), 10-12
ring, 13-15 thumb. The 21 keypoints are the 16 joints plus 5 fingertip
vertices (thumb, index, middle, ring, little), reordered by ``MANO_TO_21`` to
wrist, then thumb, index, middle, ring, little, each from base to tip.

Units: metres, in the model frame (the MANO file's frame). As in MANO, the
global orientation R_0 rotates about the wrist joint J_0 and ``transl`` is added last.

Left hands are the right model mirrored across its x = 0 plane (MANO_LEFT is
the mirror of MANO_RIGHT): with M = diag(-1, 1, 1), a left hand with global
orientation g, finger parameters p and translation t is
``M * right(g * (1, -1, -1), p * (1, -1, -1) [+ mean], t = 0) + t``; so Rot(g)
rotates the mirrored geometry about the mirrored wrist M J_0, and p follows
MANO_LEFT's convention (its PCA components and mean are the mirrored right ones).
"""

from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.spatial.transform import Rotation

from ..core.hands import FINGER_JOINTS, FINGERS, MANO_TO_21, MIRROR, TIP_IDS


class HandModelError(Exception):
    """A hand model file that cannot be used; the message names the file and the problem."""


def rodrigues(rotvecs: np.ndarray) -> np.ndarray:
    """Axis-angle vectors (k, 3) -> rotation matrices (k, 3, 3) (Rodrigues' formula)."""
    return Rotation.from_rotvec(np.asarray(rotvecs, dtype=np.float64).reshape(-1, 3)).as_matrix()


@dataclass
class HandOutput:
    """Posed hand.

    Attributes
    ----------
    vertices : (n, 3) float64, metres
    joints : (16, 3) float64, metres, MANO joint order
    keypoints : (21, 3) float64, metres, MANO 21-keypoint order (``KEYPOINT_NAMES``)
    faces : (m, 3) int64
    """

    vertices: np.ndarray
    joints: np.ndarray
    keypoints: np.ndarray
    faces: np.ndarray


@dataclass
class HandModel:
    """A MANO-structured hand model (right hand).

    Attributes
    ----------
    v_template : (n, 3) float64
        Rest vertices, metres.
    shapedirs : (n, 3, b) float64
        Shape blend shapes.
    posedirs : (n, 3, 135) float64
        Pose-corrective blend shapes (zeros for a model without them).
    J_regressor : (16, n) float64
        Rest joints = J_regressor @ shaped vertices.
    weights : (n, 16) float64
        Skinning weights (rows sum to 1).
    faces : (m, 3) int64
    parents : (16,) int64
    hands_components : (k, 45) float64 or None
        PCA basis of finger poses (MANO), rows are components.
    hands_mean : (45,) float64
        Mean finger pose, added unless ``flat_hand_mean``.
    tip_ids : (5,) int
        Fingertip vertex ids (thumb, index, middle, ring, little).
    flat_hand_mean : bool
        True: a zero finger pose is the flat hand; False: it is ``hands_mean`` (MANO's default in smplx).
    backend : str
        ``mano`` or ``procedural``.
    source : str
        File the model came from (or a description).
    """

    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    faces: np.ndarray
    parents: np.ndarray
    hands_components: np.ndarray | None
    hands_mean: np.ndarray
    tip_ids: tuple
    flat_hand_mean: bool = False
    backend: str = "mano"
    source: str = ""
    extra: dict = field(default_factory=dict)

    @cached_property
    def _has_pose_correctives(self) -> bool:
        """False when ``posedirs`` is all zeros (the procedural hand): ``forward`` then skips them."""
        return bool(np.any(self.posedirs))

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[2])

    def full_finger_pose(self, hand_pose: np.ndarray | None = None, pca: np.ndarray | None = None,
                         left: bool = False) -> np.ndarray:
        """The 45 finger axis-angles the right model applies: (pose, or PCA coefficients @ components),
        mirrored (x, -y, -z) for a left hand, plus the mean unless ``flat_hand_mean``.

        For a left hand this equals MANO_LEFT's convention, whose components and mean are the mirrored
        right ones. Raises ValueError for a wrong length or PCA coefficients on a model without components.
        """
        if pca is not None:
            if self.hands_components is None:
                raise ValueError(f"{self.source}: model has no PCA components")
            pca = np.asarray(pca, dtype=np.float64).reshape(-1)
            if pca.size > self.hands_components.shape[0]:
                raise ValueError(f"{pca.size} PCA coefficients, model has {self.hands_components.shape[0]}")
            hp = pca @ self.hands_components[: pca.size]
        else:
            hp = np.zeros(45) if hand_pose is None else np.asarray(hand_pose, dtype=np.float64).reshape(-1)
            if hp.size != 45:
                raise ValueError(f"finger pose needs 45 values, got {hp.size}")
        if left:
            hp = hp * np.tile([1.0, -1.0, -1.0], 15)
        return hp if self.flat_hand_mean else hp + self.hands_mean

    def rest_joints(self, betas: np.ndarray | None = None) -> np.ndarray:
        """Rest-pose joints (16, 3) for ``betas`` (zeros: the template)."""
        return self.J_regressor @ self._shaped(betas)

    def _shaped(self, betas) -> np.ndarray:
        b = np.zeros(self.num_betas)
        if betas is not None:
            betas = np.asarray(betas, dtype=np.float64).reshape(-1)
            if betas.size > self.num_betas:
                raise ValueError(f"{betas.size} betas, model has {self.num_betas}")
            b[: betas.size] = betas
        n = len(self.v_template)
        return self.v_template + (self.shapedirs.reshape(n * 3, -1) @ b).reshape(n, 3)

    def forward(self, global_orient=None, hand_pose=None, betas=None, transl=None, pca=None,
                left: bool = False) -> HandOutput:
        """Pose the hand.

        Parameters
        ----------
        global_orient : (3,) axis-angle, radians (rotation about the wrist joint J_0)
        hand_pose : (45,) axis-angle per finger joint 1..15 (parent-relative), radians
        betas : (<= b,) shape coefficients (missing ones are 0)
        transl : (3,) metres, added last
        pca : (<= k,) PCA coefficients instead of ``hand_pose`` (MANO only)
        left : bool
            Return the mirrored (left) hand; the parameters are then those of a left hand
            (MANO_LEFT convention), see the module docstring.

        Returns
        -------
        HandOutput

        Raises
        ------
        ValueError
            Wrong parameter sizes.
        """
        go = np.zeros(3) if global_orient is None else np.asarray(global_orient, dtype=np.float64).reshape(3)
        if left:
            go = go * np.array([1.0, -1.0, -1.0])
        fp = self.full_finger_pose(hand_pose, pca, left=left)
        pose = np.concatenate([go, fp]).reshape(16, 3)
        v_shaped = self._shaped(betas)
        J = self.J_regressor @ v_shaped
        R = rodrigues(pose)
        pose_feature = (R[1:] - np.eye(3)).reshape(-1)
        n = len(v_shaped)
        v_posed = v_shaped
        if self._has_pose_correctives:
            v_posed = v_shaped + (self.posedirs.reshape(n * 3, -1) @ pose_feature).reshape(n, 3)
        G = np.zeros((16, 4, 4))
        for k in range(16):
            local = np.eye(4)
            local[:3, :3] = R[k]
            p = self.parents[k]
            local[:3, 3] = J[k] - (J[p] if p >= 0 else 0.0)
            G[k] = local if p < 0 else G[p] @ local
        joints = G[:, :3, 3].copy()
        A = G.copy()
        A[:, :3, 3] -= np.einsum("kij,kj->ki", G[:, :3, :3], J)
        # blended (3, 4) per vertex (einsum: a BLAS matmul of this shape costs more in thread start-up than work)
        T = np.einsum("nk,kc->nc", self.weights, A[:, :3, :].reshape(16, 12)).reshape(-1, 3, 4)
        verts = np.einsum("nij,nj->ni", T[:, :, :3], v_posed) + T[:, :, 3]
        faces = self.faces
        if left:
            verts = verts @ MIRROR
            joints = joints @ MIRROR
            faces = faces[:, ::-1]
        t = np.zeros(3) if transl is None else np.asarray(transl, dtype=np.float64).reshape(3)
        verts = verts + t
        joints = joints + t
        tips = verts[list(self.tip_ids)]
        keypoints = np.concatenate([joints, tips])[MANO_TO_21]
        return HandOutput(vertices=verts, joints=joints, keypoints=keypoints, faces=np.ascontiguousarray(faces))


# ---------------------------------------------------------------- MANO files (no chumpy needed)
class _ChumpyStub:
    """Stands in for ``chumpy.ch.Ch`` while unpickling: keeps the pickled state (the array is in ``x``)."""

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {"state": state})


class _ManoUnpickler(pickle.Unpickler):
    """Reads the official (Python 2, chumpy) MANO pickle without chumpy or old scipy/numpy module paths."""

    def find_class(self, module, name):
        if module.startswith("chumpy"):
            return _ChumpyStub
        if module.startswith("scipy.sparse"):
            return getattr(sp, name)
        if module.startswith("numpy.core"):
            module = "numpy._core" + module[len("numpy.core"):]
        return super().find_class(module, name)


def _as_array(value, key: str, path) -> np.ndarray:
    if isinstance(value, _ChumpyStub):
        if "x" not in value.__dict__:
            raise HandModelError(f"{path}: field {key!r} is a chumpy expression, not a plain array")
        value = value.__dict__["x"]
    if hasattr(value, "toarray"):  # scipy.sparse
        value = value.toarray()
    return np.asarray(value)


MANO_FIELDS = {
    "v_template": (None, 3), "shapedirs": (None, 3, None), "posedirs": (None, 3, 135), "J_regressor": (16, None),
    "weights": (None, 16), "f": (None, 3), "kintree_table": (2, 16), "hands_components": (None, 45),
    "hands_mean": (45,),
}


def load_mano(path, flat_hand_mean: bool = False, tip_ids="smplx") -> HandModel:
    """Read a MANO model file (official ``MANO_RIGHT.pkl``, or ``.npz`` with the same keys).

    Parameters
    ----------
    path : path
        The user's own file (MANO files cannot be redistributed).
    flat_hand_mean : bool
        See :class:`HandModel`. smplx's default is False.
    tip_ids : 'smplx', 'manopth' or 5 ints
        Fingertip vertex ids (thumb, index, middle, ring, little); default smplx's (744, 320, 443, 554, 671).

    Raises
    ------
    HandModelError
        Missing file, unreadable file, a missing field or a field of the wrong shape (message names
        the path and the field).
    """
    path = Path(os.path.expanduser(str(path)))
    if not path.is_file():
        raise HandModelError(f"{path}: MANO model file not found (download MANO_RIGHT.pkl from the MANO "
                             "website, which needs registration, and point the recipe or GTFORGE_MANO_MODEL at it)")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=True) as z:
                data = {k: z[k] for k in z.files}
        else:
            raw = path.read_bytes()
            data = _ManoUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as e:  # noqa: BLE001 - any unreadable file is reported the same way
        raise HandModelError(f"{path}: cannot read MANO model ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise HandModelError(f"{path}: expected a dict of model arrays, got {type(data).__name__}")
    arr = {}
    for key, shape in MANO_FIELDS.items():
        if key not in data:
            raise HandModelError(f"{path}: field {key!r} missing")
        a = _as_array(data[key], key, path)
        if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
            raise HandModelError(f"{path}: field {key!r} has shape {a.shape}, expected {shape}")
        arr[key] = a
    n = arr["v_template"].shape[0]
    for key in ("shapedirs", "posedirs", "weights"):
        if arr[key].shape[0] != n:
            raise HandModelError(f"{path}: field {key!r} has {arr[key].shape[0]} vertices, v_template has {n}")
    if arr["J_regressor"].shape[1] != n:
        raise HandModelError(f"{path}: J_regressor has {arr['J_regressor'].shape[1]} columns, expected {n}")
    ids = TIP_IDS[tip_ids] if isinstance(tip_ids, str) else tuple(int(i) for i in tip_ids)
    if len(ids) != 5 or max(ids) >= n or min(ids) < 0:
        raise HandModelError(f"{path}: fingertip ids {ids} invalid for {n} vertices")
    parents = arr["kintree_table"][0].astype(np.int64)
    parents[0] = -1  # the file stores 2**32 - 1
    return HandModel(
        v_template=arr["v_template"].astype(np.float64), shapedirs=arr["shapedirs"].astype(np.float64),
        posedirs=arr["posedirs"].astype(np.float64), J_regressor=arr["J_regressor"].astype(np.float64),
        weights=arr["weights"].astype(np.float64), faces=arr["f"].astype(np.int64), parents=parents,
        hands_components=arr["hands_components"].astype(np.float64), hands_mean=arr["hands_mean"].astype(np.float64),
        tip_ids=ids, flat_hand_mean=bool(flat_hand_mean), backend="mano", source=str(path))


# ---------------------------------------------------------------- model geometry shared by poses and looks
@dataclass(frozen=True)
class HandAxes:
    """Anatomical axes of a model (rest pose, betas 0), right-hand model frame.

    Attributes
    ----------
    u : (16, 3) float64
        Unit bone directions: joint j towards its child (the next joint, or the fingertip vertex); row 0 unused.
    n : (3,) float64
        Palm normal, pointing out of the palm: normalise((J_index_mcp - J_0) x (J_little_mcp - J_0)).
    flex : (16, 3) float64
        Unit flexion axes; a positive rotation about ``flex[j]`` moves bone j towards ``palmar[j]``. Fingers:
        ``u_j x n``. Thumb: see :func:`hand_axes`. Row 0 unused.
    palm_center : (3,) float64
        Midpoint of the wrist and the mean of the four finger MCP joints, metres.
    wrist : (3,) float64
        J_0, metres.
    finger_dir : (3,) float64
        Wrist -> middle MCP, made orthogonal to ``n`` (the hand frame's x axis).
    palmar : (16, 3) float64
        Unit direction each bone flexes towards (its palmar side; the nail is on the opposite side),
        orthogonal to ``u``. Row 0: ``n``.
    """

    u: np.ndarray
    n: np.ndarray
    flex: np.ndarray
    palm_center: np.ndarray
    wrist: np.ndarray
    finger_dir: np.ndarray
    palmar: np.ndarray


#: Pronation of the thumb's flexion plane (radians) about the thumb's own axis, from the palm normal towards
#: the fingers: the thumb's MCP and IP flex towards, and its nail faces away from, this direction. The thumb
#: column sits rotated against the fingers, its nail facing sideways rather than dorsally, and its MCP and IP
#: curl it across the palm towards the fingers (Kapandji, "The Physiology of the Joints", vol. 1, the
#: thumb; Cooney et al. 1981, "The kinesiology of the thumb trapeziometacarpal joint", J Bone Joint Surg
#: 63A:1371). The angle (70 degrees) is gtforge's choice within that description. The CMC keeps the
#: fingers' convention: its flexion about ``u x n`` is palmar abduction (the thumb leaves the palm plane
#: towards the palm side).
THUMB_PRONATION = np.radians(70.0)


def hand_axes(model: HandModel) -> HandAxes:
    """Anatomical axes from the model's rest joints and fingertip vertices (:class:`HandAxes`).

    Thumb: the CMC (joint 13) flexes about ``u x n`` like the fingers (palmar abduction); the MCP and IP
    (joints 14, 15) flex about that axis turned by ``THUMB_PRONATION`` about ``u`` towards the palm's
    ulnar side, so that flexing them curls the thumb across the palm towards the fingers (opposition).
    """
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
    palmar = np.zeros((16, 3))
    palmar[0] = n
    ulnar = J[7] - J[1]  # index MCP -> little MCP
    for j in range(1, 16):
        p = n - u[j] * (u[j] @ n)
        p /= np.linalg.norm(p)
        if j in (14, 15):
            q = ulnar - u[j] * (u[j] @ ulnar) - p * (p @ ulnar)
            q /= np.linalg.norm(q)
            p = np.cos(THUMB_PRONATION) * p + np.sin(THUMB_PRONATION) * q
        palmar[j] = p
    flex = np.zeros((16, 3))
    flex[1:] = np.cross(u[1:], palmar[1:])
    flex[1:] /= np.linalg.norm(flex[1:], axis=1, keepdims=True)
    mcp_mean = J[[1, 4, 7, 10]].mean(axis=0)
    palm_center = 0.5 * (J[0] + mcp_mean)
    fd = J[4] - J[0]
    fd -= n * (fd @ n)
    return HandAxes(u=u, n=n, flex=flex, palm_center=palm_center, wrist=J[0], finger_dir=fd / np.linalg.norm(fd),
                    palmar=palmar)


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """Closed boundary loops of a triangle mesh (edges used by one face), each (k,) int64 in order.

    Raises ValueError when the boundary edges do not form simple closed loops.
    """
    f = np.asarray(faces, dtype=np.int64)
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    key = np.sort(directed, axis=1)
    _, inv, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    border = directed[counts[inv.reshape(-1)] == 1]
    nxt = {}
    for a, b in border:
        if int(a) in nxt:
            raise ValueError("mesh boundary is not a set of simple loops")
        nxt[int(a)] = int(b)
    loops, seen = [], set()
    for start in sorted(nxt):
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen:
            seen.add(v)
            loop.append(v)
            if v not in nxt:
                raise ValueError("mesh boundary is not a set of simple loops")
            v = nxt[v]
        if v != start:
            raise ValueError("mesh boundary is not a set of simple loops")
        loops.append(np.array(loop, dtype=np.int64))
    return loops


def wrist_ring(model: HandModel) -> np.ndarray:
    """Vertex ids (k,) int64, in order around, of the ring where a forearm attaches.

    ``model.extra['wrist_ring']`` when the model states it (the procedural hand: its palm's proximal
    ring); otherwise (MANO: the mesh is open at the wrist, a 16-vertex hole) the boundary loop of
    ``model.faces`` whose centroid is nearest the wrist joint J_0.

    Raises
    ------
    ValueError
        When the mesh has no boundary (or a boundary that is not simple loops) and the model states no ring.
    """
    if "wrist_ring" in model.extra:
        return np.asarray(model.extra["wrist_ring"], dtype=np.int64)
    try:
        loops = boundary_loops(model.faces)
    except ValueError as e:
        raise ValueError(f"{model.source}: {e}: no wrist ring for a forearm "
                         "(set hands.forearm.probability: 0)") from None
    if not loops:
        raise ValueError(f"{model.source}: closed mesh and no 'wrist_ring' given: no place for a forearm")
    j0 = model.rest_joints()[0]
    return min(loops, key=lambda lp: float(np.linalg.norm(model.v_template[lp].mean(axis=0) - j0)))
