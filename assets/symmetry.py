"""Object symmetries for BOP's ``models_info.json``: found automatically, or as a recipe states them.

BOP's pose-error functions MSSD and MSPD take the minimum over an object's symmetry transformations
(Hodan et al., "BOP Challenge 2020 on 6D Object Localization", ECCV-W 2020), which
``models_info.json`` lists as (BOP toolkit ``docs/bop_datasets_format.md`` and
``bop_toolkit_lib/misc.py:get_symmetry_transformations``):

* ``symmetries_discrete``: 4x4 matrices, row-major as 16 numbers, translation in mm, each mapping model
  points x -> R x + t onto the same surface; the identity is implied and not listed;
* ``symmetries_continuous``: ``{"axis": [3], "offset": [3] (mm)}``, a rotation by any angle about the
  axis through the offset point; the toolkit combines every discrete symmetry with a discretised
  rotation about it.

:func:`find_symmetries` searches them on the geometry (texture is not looked at): candidate axes
through the area-weighted surface centroid are the principal axes of the surface's second moment
and the model's own x, y, z axes; an axis has a continuous symmetry when rotations by three
incommensurate angles (0.37, 1.3 and 2.9 rad) keep the surface, else a discrete one of the largest
order n <= 12 whose rotation by 2 pi / n keeps it. For a continuous axis, a 180-degree flip about a
perpendicular axis is tested (a cylinder has one, a cone does not). Discrete rotations are closed
under composition (a box gets its three half-turns, a cube its 23 rotations).

"Keeps the surface" means: every (subsampled) vertex, moved by the transformation, lies within
``tolerance`` x diameter of the surface. The default tolerance, 1 % of the diameter, is
(a) above tessellation and modelling noise of CAD meshes (a 32-sided cylinder deviates from a
round one by 0.5 % of its radius), and (b) five times below the smallest MSSD correctness threshold
of the BOP evaluation (5 % of the diameter), so a declared symmetry can hide at most a fifth of the
smallest error the benchmark counts.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import scipy
import trimesh
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from ..core.geometry import make_pose, transform_points
from ..core.files import cache_dir
from ..core.rng import asset_rng
from .cache import write_cache_file

#: Default tolerance: largest vertex-to-surface distance of a symmetry, as a fraction of the diameter.
SYMMETRY_TOLERANCE = 0.01
#: Highest order of a discrete rotational symmetry that is searched.
MAX_ORDER = 12
_CONTINUOUS_ANGLES = (0.37, 1.3, 2.9)
_MAX_POINTS = 1500
_SAMPLES = 20000


class _SurfaceTest:
    """Whether a rigid transform maps a mesh's vertices onto its own surface (within a distance)."""

    def __init__(self, mesh: trimesh.Trimesh, tolerance: float):
        self.mesh = mesh
        v = np.asarray(mesh.vertices, dtype=np.float64)
        self.points = v[:: max(1, len(v) // _MAX_POINTS)]
        # trimesh draws from numpy.random.default_rng(seed), which takes a Generator as it is
        samples, _ = trimesh.sample.sample_surface(mesh, _SAMPLES, seed=asset_rng("symmetry_surface", 0))
        self.tree = cKDTree(np.vstack([samples, v]))
        self.slack = 3.0 * np.sqrt(mesh.area / _SAMPLES)  # samples lie on the surface, at most this far apart
        self.tolerance = tolerance

    def keeps(self, T: np.ndarray) -> bool:
        """True when every test point moved by ``T`` (4, 4) is within the tolerance of the surface."""
        p = transform_points(T, self.points)
        approx, _ = self.tree.query(p)  # >= the exact distance; cheap rejection first
        if approx.max() > self.tolerance + self.slack:
            return False
        if approx.max() <= self.tolerance:
            return True
        _, exact, _ = trimesh.proximity.closest_point(self.mesh, p)
        return bool(exact.max() <= self.tolerance)


def _rotation_about(axis: np.ndarray, angle: float, centre: np.ndarray) -> np.ndarray:
    """(4, 4) rotation by ``angle`` (radians) about the axis through ``centre``."""
    R = Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle).as_matrix()
    return make_pose(R, centre - R @ centre)


def surface_centroid(mesh: trimesh.Trimesh) -> np.ndarray:
    """Area-weighted centroid (3,) of the surface (defined for open meshes too)."""
    w = mesh.area_faces
    return (mesh.triangles_center * w[:, None]).sum(axis=0) / w.sum()


def candidate_axes(mesh: trimesh.Trimesh, centre: np.ndarray) -> list[np.ndarray]:
    """Unit axes (3,) through ``centre`` where symmetry is sought: principal axes of the surface's area-weighted
    second moment, then the model's x, y, z (deduplicated)."""
    w = mesh.area_faces
    d = mesh.triangles_center - centre
    _, vecs = np.linalg.eigh((d * w[:, None]).T @ d)
    axes: list[np.ndarray] = []
    for a in list(vecs.T) + list(np.eye(3)):
        if all(abs(a @ b) < 0.999 for b in axes):
            axes.append(a / np.linalg.norm(a))
    return axes


def _close_group(transforms: list[np.ndarray], limit: int = 60) -> list[np.ndarray]:
    """The set closed under composition (without the identity), at most ``limit`` elements."""
    group = [np.eye(4)] + list(transforms)

    def known(T):
        return any(np.allclose(T, G, atol=1e-6) for G in group)

    grew = True
    while grew and len(group) < limit:
        grew = False
        for A, B in itertools.product(list(group), repeat=2):
            C = A @ B
            if not known(C):
                group.append(C)
                grew = True
    return group[1:]


def find_symmetries(mesh: trimesh.Trimesh, tolerance: float = SYMMETRY_TOLERANCE) -> dict:
    """Discrete and continuous symmetries of a mesh (model frame, metres), as described in the module docstring.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        The model, metres, model frame.
    tolerance : float
        Largest vertex-to-surface distance of an accepted symmetry, as a fraction of the diameter.

    Returns
    -------
    dict
        ``discrete``: list of (4, 4) float64 transforms (metres), identity excluded; ``continuous``:
        list of (axis (3,) unit, offset (3,) metres).
    """
    centre = surface_centroid(mesh)
    diameter = float(np.linalg.norm(mesh.extents))
    if diameter <= 0:
        return {"discrete": [], "continuous": []}
    test = _SurfaceTest(mesh, tolerance * diameter)
    discrete, continuous = [], []
    for axis in candidate_axes(mesh, centre):
        if any(abs(axis @ a) > 0.999 for a, _ in continuous):
            continue
        if all(test.keeps(_rotation_about(axis, t, centre)) for t in _CONTINUOUS_ANGLES):
            continuous.append((axis, centre))
            continue
        for n in range(MAX_ORDER, 1, -1):
            if test.keeps(_rotation_about(axis, 2 * np.pi / n, centre)):
                discrete += [_rotation_about(axis, 2 * np.pi * k / n, centre) for k in range(1, n)]
                break
    if continuous:
        axis = continuous[0][0]
        perp = np.cross(axis, [1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
        flip = _rotation_about(perp, np.pi, centre)
        discrete = [flip] if len(continuous) == 1 and test.keeps(flip) else []
        if len(continuous) > 1:  # a sphere: every rotation; BOP lists its axes as continuous symmetries
            discrete = []
    else:
        discrete = _close_group(discrete)
    return {"discrete": discrete, "continuous": continuous}


@functools.lru_cache(maxsize=1)
def _code_digest() -> bytes:
    """sha256 of this module's source (read once per process): part of every cache key."""
    return hashlib.sha256(Path(__file__).read_bytes()).digest()


def cached_symmetries(mesh: trimesh.Trimesh, tolerance: float = SYMMETRY_TOLERANCE) -> dict:
    """:func:`find_symmetries` of a mesh, searched once per machine and cached on disk.

    The search (0.03-0.7 s per model, about 2 s for the default recipe's models) is a pure function of the
    mesh, the tolerance and this module's code, so its result is kept as JSON under
    ``cache_dir()/symmetries/<sha256>.json``, the key hashing the vertices (float64) and faces (int64), the
    tolerance, this file's source text and the numpy, scipy and trimesh versions (any change searches anew).
    JSON keeps every float64 exactly (shortest round-trip repr), so a cached result equals a fresh search bit
    for bit. An unreadable cache file is searched and written again.

    Returns
    -------
    dict
        As :func:`find_symmetries`: ``discrete`` list of (4, 4) float64 (metres), ``continuous`` list of
        (axis (3,), offset (3,) metres).
    """
    V = np.ascontiguousarray(mesh.vertices, dtype=np.float64)
    F = np.ascontiguousarray(mesh.faces, dtype=np.int64)
    h = hashlib.sha256(V.tobytes())
    h.update(F.tobytes())
    h.update(f"{tolerance!r} {np.__version__} {scipy.__version__} {trimesh.__version__}".encode())
    h.update(_code_digest())
    path = cache_dir() / "symmetries" / f"{h.hexdigest()}.json"
    try:
        raw = json.loads(path.read_text())
        return {"discrete": [np.array(T, dtype=np.float64).reshape(4, 4) for T in raw["discrete"]],
                "continuous": [(np.array(a, dtype=np.float64), np.array(o, dtype=np.float64))
                               for a, o in raw["continuous"]]}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = find_symmetries(mesh, tolerance)
    write_cache_file(path, json.dumps({
        "discrete": [np.asarray(T, dtype=np.float64).reshape(-1).tolist() for T in found["discrete"]],
        "continuous": [[np.asarray(a, dtype=np.float64).tolist(), np.asarray(o, dtype=np.float64).tolist()]
                       for a, o in found["continuous"]]}))
    return found


def to_models_info(symmetries: dict) -> dict:
    """The ``models_info.json`` fields (mm) of :func:`find_symmetries`' result; empty lists are left out."""
    out = {}
    if symmetries["discrete"]:
        mm = []
        for T in symmetries["discrete"]:
            T = np.array(T, dtype=np.float64)
            T[:3, 3] *= 1000.0
            mm.append([float(x) for x in T.reshape(-1)])
        out["symmetries_discrete"] = mm
    if symmetries["continuous"]:
        out["symmetries_continuous"] = [{"axis": [float(x) for x in axis], "offset": [float(x) * 1000.0 for x in off]}
                                        for axis, off in symmetries["continuous"]]
    return out
