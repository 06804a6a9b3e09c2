"""A settled scene's surfaces as ray-cast geometry (trimesh + Embree, no GL): first hits of rays and their owners.

One fact, one owner: which surfaces a scene has and who owns them, for every consumer that casts rays into a
:class:`~gtforge.core.description.SceneDescription`: view control's low-resolution ID pass
(``scenes/views.py::SceneCaster``) and the distorted camera's exact ID, depth and amodal layers
(``render/lens_camera.py``). The independent oracle of ``gtforge verify`` (``inspection/raycast.py``) does *not* use
this: it rebuilds the scene from the written files.

Surfaces and owners, as in the renderer's ID pass (``render/renderer.py``, pass 1):

* every labelled object: ``library.get(obj_id).mesh`` (the triangles the renderer draws) at ``world_T_model``,
  owner its ``inst_id``;
* every hand and its forearm (two items, one owner: the hand's ``inst_id``), vertices in the world frame;
* every distractor (``distractors.get(obj_id).mesh``): owner :data:`DISTRACTOR` (occludes, owns no instance);
* the floor square (z = 0, side ``floor.size``) and the wall boxes: :data:`STATIC`, intersected analytically
  (:meth:`SceneRays.static_hits`).

Each mesh gets an Embree BVH in its own frame (shared by the instances of a model within the scene; trimesh's
``RayMeshIntersector``, float32 inside Embree); a ray is moved into the item's frame, Embree names the first
triangle it meets, and the ray length is recomputed in float64 from that triangle's plane (:meth:`SceneRays.
item_hits`). Rays may start at a per-ray distance ``t_min`` (a camera's near plane: what the rasteriser clips is
not hit). Back faces are hit like front faces (the renderer draws both).

Ray lengths are from the ray's origin (the camera centre) along unit directions, metres; z in a camera frame is
length times the direction's z.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import trimesh

from ..core.description import SceneDescription
from ..core.geometry import invert_pose, transform_points
from ..core.library import ModelLibrary

#: Owner values of the items that are not labelled objects or hands (those own their inst_id).
NOTHING, STATIC, DISTRACTOR = 0, -1, -2


@dataclass
class SceneItem:
    """One ray-cast mesh at its pose: owner value, BVH in its own frame, triangle planes, bounds."""

    owner: int
    labelled: bool
    rays: object  # trimesh ray intersector over the mesh in its own frame
    item_T_world: np.ndarray
    p0: np.ndarray  # (m, 3) first vertex of each triangle, item frame
    normal: np.ndarray  # (m, 3) unnormalised triangle normals, item frame
    corners: np.ndarray  # (8, 3) world-frame corners of the item-frame bounding box
    center: np.ndarray  # (3,) world frame
    radius: float
    mesh: trimesh.Trimesh  # item frame (closest-point queries)
    world_T_item: np.ndarray = field(default_factory=lambda: np.eye(4))


def rotate(v: np.ndarray, M: np.ndarray, blas: bool = True) -> np.ndarray:
    """``v @ M.T`` for row vectors ``v`` (n, 3) and a (3, 3) ``M``, float64.

    ``blas=True``: numpy's matrix product (OpenBLAS), the arithmetic view control's ID pass has always used (kept so
    that its choices stay bit-identical). ``blas=False``: per-column products and sums in numpy, without BLAS's
    threads (on a loaded machine they made a 300 000-row product up to 100x slower); the two differ in the last bit.
    """
    if blas:
        return v @ M.T
    v = np.asarray(v, dtype=np.float64)
    out = np.empty((len(v), 3))
    for i in range(3):
        out[:, i] = v[:, 0] * M[i, 0] + v[:, 1] * M[i, 1] + v[:, 2] * M[i, 2]
    return out


class SceneRays:
    """The ray-cast surfaces of one settled scene (see the module docstring).

    Parameters
    ----------
    desc : SceneDescription
        Settled scene: ``objects`` (labelled), ``distractors``, ``hands``, ``floor`` (square at z = 0),
        ``walls`` (boxes). World frame, metres.
    library : ModelLibrary
        Target models (``get(obj_id).mesh``): trimesh meshes in the model frame, metres.
    distractors : ModelLibrary or None
        Distractor models; required when ``desc.distractors`` is not empty.

    Attributes
    ----------
    items : list of SceneItem
        Objects (``desc.objects`` order), then distractors, then hands (hand, forearm).
    labelled : (n,) int64
        inst_ids of the labelled objects, ``desc.objects`` order.
    floor_half : float
        Half the floor square's side, metres (0: no floor).
    walls : list of (box_T_world (4, 4), half extents (3,))

    Raises
    ------
    ValueError
        If the scene has distractors but ``distractors`` is None.
    """

    def __init__(self, desc: SceneDescription, library: ModelLibrary, distractors: ModelLibrary | None = None):
        if desc.distractors and distractors is None:
            raise ValueError("the scene has distractors but no distractor library was given")
        self.desc = desc
        self.items: list[SceneItem] = []
        cache: dict = {}
        for o in desc.objects:
            self.items.append(self._model_item(cache, ("t", o.obj_id), library.get(o.obj_id).mesh, o.world_T_model,
                                               o.inst_id, True))
        for o in desc.distractors:
            self.items.append(self._model_item(cache, ("d", o.obj_id), distractors.get(o.obj_id).mesh,
                                               o.world_T_model, DISTRACTOR, False))
        for h in desc.hands:
            parts = [(h.vertices, h.faces)] + ([(h.forearm.vertices, h.forearm.faces)] if h.forearm is not None else [])
            for verts, faces in parts:
                mesh = trimesh.Trimesh(np.asarray(verts, dtype=np.float64), np.asarray(faces, dtype=np.int64),
                                       process=False)
                self.items.append(self._model_item({}, None, mesh, np.eye(4), int(h.inst_id), False))
        self.labelled = np.array([o.inst_id for o in desc.objects], dtype=np.int64)
        self.floor_half = float(desc.floor.size) / 2.0 if desc.floor is not None else 0.0
        self.walls = [(invert_pose(w.world_T_box), np.asarray(w.extents, dtype=np.float64) / 2.0) for w in desc.walls]
        #: (centre (3,), radius) of each wall box's bounding sphere, world frame (rays that miss it miss the box)
        self._wall_spheres = [(np.asarray(w.world_T_box, dtype=np.float64)[:3, 3], float(np.linalg.norm(half)))
                              for w, (_, half) in zip(desc.walls, self.walls)]

    @staticmethod
    def _model_item(cache: dict, key, mesh: trimesh.Trimesh, world_T_item, owner: int, labelled: bool) -> SceneItem:
        """A :class:`SceneItem` of ``mesh`` (its own frame) at ``world_T_item``; the BVH and triangle planes are
        shared through ``cache`` by items with the same ``key`` (None: not shared)."""
        entry = cache.get(key) if key is not None else None
        if entry is None:
            m = trimesh.Trimesh(np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64),
                                process=False)
            tri = m.vertices[m.faces]
            lo, hi = m.bounds
            corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
            c = 0.5 * (lo + hi)
            entry = (m, m.ray, tri[:, 0], np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), corners, c,
                     float(np.linalg.norm(m.vertices - c, axis=1).max()))
            if key is not None:
                cache[key] = entry
        m, rays, p0, normal, corners, c, r = entry
        world_T_item = np.asarray(world_T_item, dtype=np.float64)
        return SceneItem(owner=owner, labelled=labelled, rays=rays, item_T_world=invert_pose(world_T_item), p0=p0,
                         normal=normal, corners=transform_points(world_T_item, corners),
                         center=transform_points(world_T_item, c[None])[0], radius=r, mesh=m,
                         world_T_item=world_T_item)

    # ---------------------------------------------------------------------------------- casting
    @staticmethod
    def item_hits(item: SceneItem, eye: np.ndarray, dirs_world: np.ndarray, t_min=None,
                  blas: bool = True) -> np.ndarray:
        """Ray length (n,) to the first hit of ``item`` along unit world rays from ``eye``; inf where none.

        Parameters
        ----------
        item : SceneItem
        eye : (3,) float
            Ray origin, world frame, metres.
        dirs_world : (n, 3) float
            Unit directions, world frame.
        t_min : (n,) float or None
            Start of each ray (surfaces nearer than it are not hit; a camera's near plane); None: 0.
        blas : bool
            How directions are rotated into the item's frame (:func:`rotate`).

        Returns
        -------
        (n,) float64
            Length from ``eye`` (>= ``t_min``), metres; inf where nothing is hit. A grazing hit whose plane test is
            ill-conditioned counts as a hit at ``t_min``.
        """
        o = transform_points(item.item_T_world, eye[None])[0]
        d = rotate(dirs_world, item.item_T_world[:3, :3], blas)
        if t_min is None:
            origins, t_lo = np.broadcast_to(o, d.shape), np.zeros(len(d))
        else:
            t_lo = np.asarray(t_min, dtype=np.float64)
            origins = o + t_lo[:, None] * d
        tri = np.asarray(item.rays.intersects_first(origins, d), dtype=np.int64)
        t = np.full(len(d), np.inf)
        hit = tri >= 0
        if hit.any():
            n = item.normal[tri[hit]]
            den = np.einsum("ij,ij->i", n, d[hit])
            num = np.einsum("ij,ij->i", n, item.p0[tri[hit]] - o)
            with np.errstate(divide="ignore", invalid="ignore"):
                th = num / den
            low = t_lo[hit]
            bad = ~np.isfinite(th) | (th < low)  # grazing hit: the plane test is ill-conditioned; it is a hit
            th[bad] = low[bad]
            t[hit] = th
        return t

    def static_hits(self, eye: np.ndarray, dirs: np.ndarray, t_min=None, blas: bool = True) -> np.ndarray:
        """Ray length (n,) to the floor square (z = 0) or a wall box (either face), whichever is first at or beyond
        ``t_min`` ((n,) or None: 0); inf where none. ``eye`` (3,) and unit ``dirs`` (n, 3) in the world frame;
        ``blas`` as :meth:`item_hits`."""
        lo = 0.0 if t_min is None else np.asarray(t_min, dtype=np.float64)
        t = np.full(len(dirs), np.inf)
        dirs = np.asarray(dirs, dtype=np.float64)
        # per coordinate (column) arithmetic: numpy's reductions over a length-3 axis are slow on many rays
        if self.floor_half > 0:
            with np.errstate(divide="ignore", invalid="ignore"):
                tf = -eye[2] / dirs[:, 2]
            ok = np.isfinite(tf) & (tf > lo)
            for k in (0, 1):
                ok &= np.abs(eye[k] + tf * dirs[:, k]) <= self.floor_half
            t = np.where(ok, tf, t)
        for (box_T_world, half), (centre, radius) in zip(self.walls, self._wall_spheres):
            # only the rays that pass within the box's bounding sphere (radius padded by 1 um against rounding)
            oc = centre - eye
            along = dirs[:, 0] * oc[0] + dirs[:, 1] * oc[1] + dirs[:, 2] * oc[2]
            reach = radius + 1e-6
            cand = np.flatnonzero((oc @ oc - along * along <= reach * reach) & (along >= -reach))
            if cand.size == 0:
                continue
            o = transform_points(box_T_world, eye[None])[0]
            d = (rotate(dirs, box_T_world[:3, :3], True)[cand] if blas
                 else rotate(dirs[cand], box_T_world[:3, :3], False))
            tmin, tmax = np.full(len(d), -np.inf), np.full(len(d), np.inf)
            for k in range(3):
                with np.errstate(divide="ignore", invalid="ignore"):
                    t1 = (-half[k] - o[k]) / d[:, k]
                    t2 = (half[k] - o[k]) / d[:, k]
                t1[np.isnan(t1)] = -np.inf
                t2[np.isnan(t2)] = np.inf
                np.maximum(tmin, np.minimum(t1, t2), out=tmin)
                np.minimum(tmax, np.maximum(t1, t2), out=tmax)
            low = lo if np.ndim(lo) == 0 else lo[cand]
            ok = tmax >= np.maximum(tmin, low)
            tb = np.where(tmin > low, tmin, tmax)
            tc = t[cand]
            t[cand] = np.where(ok & (tb < tc), tb, tc)
        return t

    def clearance(self, eye, limit: float = math.inf) -> float:
        """Distance (m) from the point ``eye`` (3,) (world) to the nearest surface: every mesh, the floor square and
        the wall boxes (0 inside a box). Exact when below ``limit``; otherwise some value >= ``limit`` (meshes
        whose bounding sphere lies farther are not queried)."""
        eye = np.asarray(eye, dtype=np.float64)
        best = math.inf
        if self.floor_half > 0:
            dxy = np.maximum(np.abs(eye[:2]) - self.floor_half, 0.0)
            best = float(np.sqrt((dxy ** 2).sum() + eye[2] ** 2))
        for box_T_world, half in self.walls:
            q = transform_points(box_T_world, eye[None])[0]
            best = min(best, float(np.linalg.norm(np.maximum(np.abs(q) - half, 0.0))))
        cut = min(best, limit)
        for item in self.items:
            lower = float(np.linalg.norm(eye - item.center)) - item.radius
            if lower >= cut:
                continue
            p = transform_points(item.item_T_world, eye[None])
            _, d, _ = trimesh.proximity.closest_point(item.mesh, p)
            best = min(best, float(d[0]))
            cut = min(best, limit)
        return best


__all__ = ["NOTHING", "STATIC", "DISTRACTOR", "SceneItem", "SceneRays", "rotate"]
