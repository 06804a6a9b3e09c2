"""Collision geometry of a model for physics: convex parts, or an exact (static) triangle mesh.

Bullet (and so pybullet) collides dynamic bodies only through convex shapes or compounds of convex
shapes; a concave triangle mesh (``GEOM_MESH`` with ``GEOM_FORCE_CONCAVE_TRIMESH``) is supported for
static bodies (mass 0) only (pybullet quickstart guide, ``createCollisionShape``). An object set's
``collision`` picks (config/schema.py, ``ObjectSet.collision``):

* ``hull`` (default): a URDF's own convex decomposition when it ships one (its ``<collision>`` is
  mesh objects that are each convex, as the ``*_vhacd.urdf`` files of pybullet_data; pybullet takes one
  convex hull per OBJ object), otherwise the convex hull of the visual mesh: exact for convex models, a
  dome over a bowl or a mug.
* ``vhacd``: the visual mesh's convex hull where it is exact (a closed mesh whose volume is within
  0.5 % of its hull's); otherwise a V-HACD convex decomposition of the visual mesh (``pybullet.vhacd``,
  Mamou's V-HACD 2.2 with pybullet's default parameters), computed once per mesh and cached on disk
  (:func:`cache_dir`). A URDF's ``<collision>`` is not used: what is decomposed is what is rendered
  (``objects/mug.urdf``'s collision, for one, is a solid cylinder plus a handle, which could not hold
  anything).
* ``mesh``: the visual triangle mesh itself, as a static body (a fixture: placed at its drop pose,
  lowered until its lowest point is on the floor, z = 0, and never moved; others fall into or onto it).

All geometry is in the model frame, metres.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh
from scipy.spatial import ConvexHull

from ..core.files import atomic_path, cache_dir
from .cache import write_cache_file
from .loaders import AssetLibrary, load_urdf_collision, obj_object_vertices

#: Cache format version: bump when the decomposition parameters or the file layout change.
_VHACD_CACHE_VERSION = "vhacd-1"


@dataclass(frozen=True)
class CollisionGeometry:
    """Physics shape of one model, model frame, metres.

    Attributes
    ----------
    parts : tuple of (n_i, 3) float64
        Vertices of each convex part (``static`` False), or the single triangle mesh's vertices.
    faces : (m, 3) int64 or None
        Triangles of the exact mesh when ``static``; None for convex parts.
    com : (3,) float64
        Volume-weighted centroid of the parts' hulls (the body frame's origin); zeros when ``static``.
    static : bool
        True for ``collision: mesh`` (a concave mesh, which pybullet collides only as a static body).
    source : str
        Where the shape came from: "urdf", "hull", "box" (flat mesh), "vhacd" or "mesh".
    """

    parts: tuple
    faces: np.ndarray | None
    com: np.ndarray
    static: bool
    source: str


def hull_of(vertices: np.ndarray) -> trimesh.Trimesh | None:
    """Convex hull of points (n, 3) as a mesh, or None when degenerate (flat, too few points, zero volume)."""
    try:
        hull = trimesh.PointCloud(vertices).convex_hull
    except Exception:  # noqa: BLE001 - flat or degenerate points: qhull and trimesh raise assorted types
        return None
    return hull if hull.volume > 1e-12 and np.all(np.isfinite(hull.center_mass)) else None


def hull_is_exact(mesh: trimesh.Trimesh, tolerance: float = 0.005) -> bool:
    """True when ``mesh`` is closed and its volume is within ``tolerance`` (relative) of its convex hull's."""
    if not mesh.is_watertight:
        return False
    hull = hull_of(mesh.vertices)
    return hull is not None and abs(mesh.volume) >= (1.0 - tolerance) * hull.volume


@contextmanager
def _quiet_stdout():
    """Silence C-level stdout (pybullet.vhacd prints its progress there)."""
    fd = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(fd, 1)
        os.close(fd)


def vhacd_parts(mesh: trimesh.Trimesh) -> list[np.ndarray]:
    """V-HACD convex decomposition of a mesh: vertices (n_i, 3) of each convex part, mesh frame and units.

    Computed with ``pybullet.vhacd`` (default parameters) and cached as an OBJ under
    ``cache_dir()/vhacd/<sha256 of vertices, faces and pybullet version>.obj``, written atomically, so
    each mesh is decomposed once per machine; V-HACD is deterministic, so a fresh cache gives the same parts.
    """
    import pybullet as pb  # noqa: PLC0415 - pybullet prints its build banner when imported; only V-HACD needs it here

    V = np.ascontiguousarray(mesh.vertices, dtype=np.float64)
    F = np.ascontiguousarray(mesh.faces, dtype=np.int64)
    key = hashlib.sha256(V.tobytes() + F.tobytes()
                         + f"{_VHACD_CACHE_VERSION} {pb.getAPIVersion()}".encode()).hexdigest()
    out = cache_dir() / "vhacd" / f"{key}.obj"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp, atomic_path(out) as dst:
            src, logf = os.path.join(tmp, "in.obj"), os.path.join(tmp, "log.txt")
            trimesh.Trimesh(V, F, process=False).export(src)
            with _quiet_stdout():
                pb.vhacd(src, str(dst), logf)
    return obj_object_vertices(out)


def _hull_or_box(vertices: np.ndarray) -> tuple[list[np.ndarray], str]:
    """One convex part: the hull of the points, or their bounding box (at least 1 mm thick) when flat."""
    return ([np.asarray(_part_mesh(vertices).vertices, dtype=np.float64)],
            "hull" if hull_of(vertices) is not None else "box")


def is_convex(vertices: np.ndarray, rel_tol: float = 1e-3) -> bool:
    """True when every point (n, 3) lies on the boundary of the points' convex hull (within ``rel_tol`` x extent).

    An OBJ object that pybullet turns into a convex hull is represented exactly only when this holds.
    """
    hull = hull_of(vertices)
    if hull is None:
        return False
    eq = ConvexHull(np.asarray(hull.vertices)).equations  # rows (n, d): n . x + d <= 0 inside
    height = vertices @ eq[:, :3].T + eq[:, 3]
    return bool(np.all(height.max(axis=1) > -rel_tol * float(np.max(hull.extents))))


def shipped_decomposition(library: AssetLibrary, obj_id: int) -> list[np.ndarray] | None:
    """A URDF model's own convex decomposition, in the model frame (the set's ``scale`` applied), or None.

    That is its ``<collision>`` geometry when every part is a mesh object that is convex (the
    ``*_vhacd.urdf`` files and ``random_urdfs`` of pybullet_data). None for other sources, for sets with
    ``normalize`` (their visual mesh is re-posed after loading), for collision primitives (an author's
    approximation: the lego brick's box misses its rounded corners by 3.7 mm) and for concave objects
    (``objects/mug.urdf``'s handle pieces; its cup is a solid cylinder).
    """
    _, _, _, path, scale = library.entries[obj_id - 1]
    if Path(str(path)).suffix.lower() != ".urdf" or obj_id in library.normalize:
        return None
    parts = load_urdf_collision(path)
    if parts is None or any(tag != "mesh" or not is_convex(v) for tag, v in parts):
        return None
    return [v * scale for _, v in parts]


def convex_parts(library: AssetLibrary, obj_id: int, mode: str) -> tuple[list[np.ndarray], str]:
    """Convex parts for ``collision`` mode "hull" or "vhacd" (see module docstring), and their source."""
    mesh = library.get(obj_id).mesh
    if mode == "vhacd":
        if not hull_is_exact(mesh):
            return vhacd_parts(mesh), "vhacd"
    elif (parts := shipped_decomposition(library, obj_id)) is not None:
        return parts, "urdf"
    return _hull_or_box(np.asarray(mesh.vertices, dtype=np.float64))


def parts_com(parts: list[np.ndarray]) -> np.ndarray:
    """Volume-weighted centroid (3,) of the parts' convex hulls (overlaps counted twice); mean vertex if all are
    flat."""
    hulls = [h for h in (hull_of(p) for p in parts) if h is not None]
    if not hulls:
        return np.concatenate(parts).mean(axis=0)
    w = np.array([h.volume for h in hulls])
    return (w[:, None] * np.array([h.center_mass for h in hulls])).sum(axis=0) / w.sum()


def collision_geometry(library: AssetLibrary, obj_id: int) -> CollisionGeometry:
    """The physics shape of model ``obj_id`` for its set's ``collision`` mode. Raises AssetError (unreadable
    URDF/OBJ)."""
    mode = library.collision.get(obj_id, "hull")
    if mode == "mesh":
        mesh = library.get(obj_id).mesh
        return CollisionGeometry(parts=(np.asarray(mesh.vertices, dtype=np.float64),),
                                 faces=np.asarray(mesh.faces, dtype=np.int64), com=np.zeros(3), static=True,
                                 source="mesh")
    parts, source = convex_parts(library, obj_id, mode)
    return CollisionGeometry(parts=tuple(parts), faces=None, com=parts_com(parts), static=False, source=source)


def _part_mesh(vertices: np.ndarray) -> trimesh.Trimesh:
    """Convex hull of one part as a mesh; the bounding box (at least 1 mm thick) when flat."""
    hull = hull_of(vertices)
    if hull is not None:
        return hull
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    return trimesh.creation.box(bounds=[lo, np.maximum(hi, lo + 1e-3)])


def write_parts_obj(parts: list[np.ndarray]) -> Path:
    """Write convex parts as one OBJ (object ``part_i`` = the hull of part i) and return its path.

    pybullet's ``createCollisionShape(GEOM_MESH, fileName=...)`` reads it as a compound with one convex
    hull per object. The file lies under ``cache_dir()/shapes``, named by the sha256 of its text (full
    float precision), written atomically; the same parts give the same file in every process.
    """
    lines, base = [], 1
    for i, p in enumerate(parts):
        m = _part_mesh(np.asarray(p, dtype=np.float64))
        lines.append(f"o part_{i}")
        lines += [f"v {x!r} {y!r} {z!r}" for x, y, z in m.vertices.tolist()]
        lines += [f"f {a + base} {b + base} {c + base}" for a, b, c in m.faces.tolist()]
        base += len(m.vertices)
    text = "\n".join(lines) + "\n"
    out = cache_dir() / "shapes" / f"{hashlib.sha256(text.encode()).hexdigest()}.obj"
    if not out.exists():
        write_cache_file(out, text)
    return out
