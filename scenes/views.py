"""View control: candidate views checked by a cheap ray-cast ID pass, chosen to meet per-view constraints and
to aim at occlusion-level and viewpoint-coverage targets (recipe ``camera.constraints``,
``camera.occlusion_targets``, ``camera.coverage``; ``config/views.py``).

Runs on a settled scene (after physics), in the scene layer: numpy and trimesh's Embree ray casting, no GL.

The ID pass (:class:`SceneCaster`)
-----------------------------------
One :class:`SceneCaster` per scene holds an Embree BVH per model (built once per scene, shared by the
instances of a model), the distractors, the hands and the static floor and walls. For a candidate view it
casts, at a low resolution (``constraints.id_pass_width``, e.g. 80 x 60; K scaled so that pixel centres map
onto the full image's: u' = (u + 0.5) s - 0.5), one ray from the camera centre through each pixel centre
and gives

* the per-pixel owner (a labelled object's or a hand's inst_id, :data:`DISTRACTOR`, :data:`STATIC` for the
  floor and walls, :data:`NOTHING`; hands occlude but are not counted by the constraints or targets) and the
  ray length to the first hit (m);
* per labelled object the silhouette pixel counts on BOP's 3W x 3H canvas (``px_count_all``, image in the
  middle), in the image (``px_count_in_frame``) and visible (``px_count_visib``: pixels it owns), each
  object cast alone against its own BVH in its model frame, only over the canvas window its projected
  bounding box covers;
* so, exactly as ``render/annotate.py`` defines them (``core/labels.py``), ``visib_fract = visib / all``,
  ``occlusion = 1 - visib / in_frame`` and the KITTI-style level by ``output.occlusion_thresholds``, at the
  low resolution.

The surface-distance constraint is not taken from the pixel rays: the exact distance from the camera centre
to the nearest surface (closest point on every mesh, floor square and wall box within reach) is compared
with ``min_surface_distance``. That is stricter than what ``gtforge verify`` checks (the ray length of every
written pixel), so a view that passes here passes there.

Choosing the views (:class:`ViewSampler`)
---------------------------------------------------------------
For view v, candidate k (k = 0, 1, ... < ``max_tries``) is drawn from ``scene_rng(seed, scene, "views", v)``
for k = 0 (the very stream of ``scenes.clutter.sample_views``) and ``scene_rng(seed, scene, "views", v, k)`` for
k >= 1, by the one camera draw both use (``scenes.sampling.draw_view``): distance, elevation, azimuth, roll, then
for ``look_at: object`` the target instance, then the jitter. A candidate is *accepted* when at the ID pass's
resolution at least ``min_visible_objects`` labelled objects have a visible pixel and
``visib_fract >= min_visib_fract + margin + 0.5 / sqrt(px_count_all)`` (the safety margin of the low
resolution), and the camera's clearance is at least ``min_surface_distance``.

* Constraints only: the first accepted candidate (rejection sampling). Without any section the function
  returns ``sample_views``' views, byte for byte; with constraints that the first candidate meets, its view is
  also ``sample_views``' (same stream, same draws).
* Occlusion targets and/or coverage: the first ``candidates`` accepted candidates are compared and the one
  that brings the scene's running histograms closest to the targets is kept (greedy, within the scene):
  with H the level counts of the views chosen so far, c the candidate's estimated counts, p the target
  shares, the cost is ||H + c - p sum(H + c)||^2 over the counted levels (0-2, or 0-3 when 3 is listed),
  plus ``coverage.weight`` times the same with azimuth-bin counts of the visible objects and uniform shares.
  Ties go to the lower k.
* No accepted candidate within ``max_tries``: the drawn candidate with the smallest *deficit* is kept
  (deficit = missing visible objects / min_visible_objects + missing clearance / min_surface_distance,
  0 when accepted) and the view counts as unsatisfied (:meth:`ViewSampler.report`); with
  ``on_exhausted: redraw_scene`` the build draws the scene again when :attr:`ViewSampler.satisfied` is False.

Guarantees (hard): views depend only on (recipe, settled scene, scene index), never on other scenes or the
process (no state outlives a :class:`ViewSampler`; scenes run in any order, in any worker), so the same seed
gives the same views and resume holds; without view control they are ``sample_views``'. Constraints: a
written frame meets them unless (a) no candidate within ``max_tries`` passed at the ID pass's resolution
(the view is *unsatisfied*; with ``redraw_scene`` the scene is drawn again first) or (b) the build's
full-resolution re-check (:meth:`ViewSampler.frame_deficit`) failed for every accepted candidate it tried
(:meth:`ViewSampler.replace` gives them in order). Both are counted in :meth:`ViewSampler.report`, and
``gtforge verify`` names every such frame.

Targets (no hard guarantee): the greedy choice lowers the scene's squared deviation from the wanted shares
whenever a candidate can; each scene aims at the target on its own, so the dataset's shares, a sum of per-scene
histograms, follow the target as far as the scenes' candidates offer the levels asked for. A recipe whose
scenes cannot show largely occluded objects cannot reach a large level-2 share, and more ``candidates`` widen
what one view can reach. Measured: tests/scenes/test_views.py (200 synthetic views) and the README ("View
control"). Levels and ``visib_fract`` come from the low resolution (at 80 x 60 against 640 x 480 on the
default recipe: 97.8 % of the levels equal, ``visib_fract`` within 0.035 for 95 % of the objects, 0.08 at
most); the margin covers that for the constraints. Not modelled: the renderer's near/far clipping (surfaces
nearer than ``znear`` are hit here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..assets.scene_rays import DISTRACTOR, NOTHING, STATIC, SceneItem, SceneRays  # noqa: F401 - IdPass.owner values
from ..config.camera import CameraConfig
from ..config.views import ViewControl, view_control
from ..core.description import SceneDescription, View
from ..core.geometry import invert_pose, transform_points
from ..core.library import ModelLibrary
from ..core.rng import scene_rng
from .clutter import sample_views
from .sampling import draw_view

#: Number of occlusion levels (0, 1, 2, 3 = unknown) counted by the histograms.
N_LEVELS = 4


# ------------------------------------------------------------------------------------------ camera helpers

def lowres_camera(view: View, width: int) -> tuple[np.ndarray, int, int]:
    """Intrinsics and size of the ID pass for ``view`` at ``width`` pixels.

    The low-resolution image covers the same field of view: with s_x = w / W and s_y = h / H (h = round(H w / W)),
    the centre of full-resolution pixel u lies at u' = (u + 0.5) s_x - 0.5 (likewise v), so
    K' = [[fx s_x, 0, (cx + 0.5) s_x - 0.5], [0, fy s_y, (cy + 0.5) s_y - 0.5], [0, 0, 1]].
    A ``width`` at or above the view's keeps the view's own camera.

    Parameters
    ----------
    view : View
    width : int
        Pixels, >= 1.

    Returns
    -------
    K : (3, 3) float64
    w, h : int
    """
    if width >= view.width:
        return np.asarray(view.K, dtype=np.float64), int(view.width), int(view.height)
    w = int(width)
    h = max(1, int(round(view.height * w / view.width)))
    sx, sy = w / view.width, h / view.height
    K = np.asarray(view.K, dtype=np.float64)
    Kl = np.array([[K[0, 0] * sx, K[0, 1] * sx, (K[0, 2] + 0.5) * sx - 0.5],
                   [0.0, K[1, 1] * sy, (K[1, 2] + 0.5) * sy - 0.5],
                   [0.0, 0.0, 1.0]])
    return Kl, w, h


def _unit_rays(Kinv: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unit directions (n, 3) in the camera frame through pixel centres (u, v) (n,) (OpenCV, z forward);
    ``Kinv`` (3, 3) is the inverse of the intrinsics."""
    d = np.empty((len(u), 3))
    d[:, 0] = Kinv[0, 0] * u + Kinv[0, 1] * v + Kinv[0, 2]
    d[:, 1] = Kinv[1, 1] * v + Kinv[1, 2]
    d[:, 2] = 1.0
    return d / np.sqrt(np.einsum("ij,ij->i", d, d))[:, None]


def ray_lengths(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Distance (H, W) from the camera centre along each pixel's ray: z |K^-1 (u, v, 1)| (0 where depth is 0).

    Parameters
    ----------
    depth : (H, W) float
        z of the surface seen at each pixel centre, metres; 0 = nothing.
    K : (3, 3) float64
    """
    h, w = depth.shape
    uv = np.stack(np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)), axis=-1)
    Kinv = np.linalg.inv(np.asarray(K, dtype=np.float64))
    d = uv @ Kinv[:2, :2].T + Kinv[:2, 2]
    return depth * np.sqrt((d ** 2).sum(axis=-1) + 1.0)


def camera_azimuth_deg(world_T_cam: np.ndarray, world_T_model: np.ndarray) -> float:
    """Azimuth (degrees, [-180, 180]) of the camera centre in a model's frame: atan2(y, x) of
    ``model_T_world @ eye`` (``inspection/stats.py``'s ``viewpoint``: camera centre -R^T t of ``cam_T_model``)."""
    p = transform_points(invert_pose(world_T_model), world_T_cam[:3, 3][None])[0]
    return float(np.degrees(np.arctan2(p[1], p[0])))


def azimuth_bin(azimuth_deg: float, bins: int) -> int:
    """Index of ``bins`` equal bins of [-180, 180) degrees (180 falls into the last)."""
    return int(min(bins - 1, max(0, math.floor((azimuth_deg + 180.0) / 360.0 * bins))))


# ------------------------------------------------------------------------------------------ the ID pass

@dataclass
class IdPass:
    """Result of one low-resolution ID pass (:meth:`SceneCaster.cast`).

    Attributes
    ----------
    K : (3, 3) float64
        Intrinsics of the low-resolution image.
    width, height : int
    owner : (h, w) int64
        Labelled object's or hand's inst_id at each pixel; :data:`DISTRACTOR`, :data:`STATIC` (floor, walls) or
        :data:`NOTHING`.
    distance : (h, w) float64
        Ray length from the camera centre to the first hit, metres; inf where nothing is hit.
    inst_ids : (n,) int64
        Labelled objects, in ``SceneDescription.objects`` order.
    px_all, px_in_frame, px_visib : (n,) int64
        Silhouette pixels on the 3w x 3h canvas, in the image, and visible (owned), at the low resolution.
    """

    K: np.ndarray
    width: int
    height: int
    owner: np.ndarray
    distance: np.ndarray
    inst_ids: np.ndarray
    px_all: np.ndarray
    px_in_frame: np.ndarray
    px_visib: np.ndarray

    def visib_fract(self) -> np.ndarray:
        """(n,) float64 ``px_visib / px_all`` (0 where ``px_all`` is 0), as ``core/labels.py``."""
        return np.where(self.px_all > 0, self.px_visib / np.maximum(self.px_all, 1), 0.0)

    def occlusion(self) -> np.ndarray:
        """(n,) float64 ``1 - px_visib / px_in_frame``; NaN where nothing is in frame."""
        return np.where(self.px_in_frame > 0, 1.0 - self.px_visib / np.maximum(self.px_in_frame, 1), np.nan)

    def levels(self, thresholds=(0.1, 0.5)) -> np.ndarray:
        """(n,) int64 KITTI-style levels (``core.labels.occlusion_level``): 0 if occ <= t0, 1 if <= t1, else 2;
        3 where nothing is in frame."""
        occ = self.occlusion()
        t0, t1 = thresholds
        out = np.where(occ <= t0, 0, np.where(occ <= t1, 1, 2))
        return np.where(np.isnan(occ), 3, out).astype(np.int64)


class SceneCaster(SceneRays):
    """The low-resolution ray-cast ID pass of one settled scene (see the module docstring); the surfaces, owners and
    hit tests are :class:`~gtforge.assets.scene_rays.SceneRays`'.

    Parameters
    ----------
    desc : SceneDescription
        Settled scene: ``objects`` (labelled), ``distractors``, ``hands``, ``floor`` (square at z = 0),
        ``walls`` (boxes). World frame, metres.
    library : ModelLibrary
        Target models: trimesh meshes in the model frame, metres.
    distractors : ModelLibrary or None
        Distractor models; required when ``desc.distractors`` is not empty.

    Raises
    ------
    ValueError
        If the scene has distractors but ``distractors`` is None.
    """

    # ---------------------------------------------------------------------------------- casting
    @staticmethod
    def _window(item: SceneItem, cam_T_world: np.ndarray, K: np.ndarray, w: int, h: int):
        """Pixel window (u0, u1, v0, v1), half-open, of the 3w x 3h canvas that can see ``item``; None if none."""
        pc = transform_points(cam_T_world, item.corners)
        z = pc[:, 2]
        cu0, cu1, cv0, cv1 = -w, 2 * w, -h, 2 * h
        if np.all(z <= 1e-9):
            return None
        if np.any(z <= 1e-9):
            return cu0, cu1, cv0, cv1
        uv = (pc @ K.T)[:, :2] / z[:, None]
        u0 = max(cu0, int(math.ceil(uv[:, 0].min())))
        u1 = min(cu1, int(math.floor(uv[:, 0].max())) + 1)
        v0 = max(cv0, int(math.ceil(uv[:, 1].min())))
        v1 = min(cv1, int(math.floor(uv[:, 1].max())) + 1)
        if u0 >= u1 or v0 >= v1:
            return None
        return u0, u1, v0, v1

    def cast(self, view: View, width: int = 80) -> IdPass:
        """The ID pass of ``view`` at ``width`` pixels (height in proportion; :func:`lowres_camera`).

        Returns
        -------
        IdPass
        """
        K, w, h = lowres_camera(view, width)
        Kinv = np.linalg.inv(K)
        eye = np.asarray(view.world_T_cam, dtype=np.float64)[:3, 3]
        R = np.asarray(view.world_T_cam, dtype=np.float64)[:3, :3]
        cam_T_world = invert_pose(view.world_T_cam)
        uu, vv = np.meshgrid(np.arange(w), np.arange(h))
        img_dirs = _unit_rays(Kinv, uu.ravel(), vv.ravel()) @ R.T
        dist = self.static_hits(eye, img_dirs)
        owner = np.where(np.isfinite(dist), STATIC, NOTHING).astype(np.int64)
        n = len(self.labelled)
        px_all, px_in = np.zeros(n, np.int64), np.zeros(n, np.int64)
        k = 0
        for item in self.items:
            win = self._window(item, cam_T_world, K, w, h)
            if win is None:
                k += item.labelled
                continue
            u0, u1, v0, v1 = win
            cu, cv = np.meshgrid(np.arange(u0, u1), np.arange(v0, v1))
            cu, cv = cu.ravel(), cv.ravel()
            t = self.item_hits(item, eye, _unit_rays(Kinv, cu, cv) @ R.T)
            hit = np.isfinite(t)
            inside = (cu >= 0) & (cu < w) & (cv >= 0) & (cv < h)
            if item.labelled:
                px_all[k] = int(hit.sum())
                px_in[k] = int((hit & inside).sum())
                k += 1
            sel = hit & inside
            idx = cv[sel] * w + cu[sel]
            closer = t[sel] < dist[idx]
            dist[idx[closer]] = t[sel][closer]
            owner[idx[closer]] = item.owner
        visib = np.array([int(np.count_nonzero(owner == i)) for i in self.labelled], dtype=np.int64)
        return IdPass(K=K, width=w, height=h, owner=owner.reshape(h, w), distance=dist.reshape(h, w),
                      inst_ids=self.labelled.copy(), px_all=px_all, px_in_frame=px_in, px_visib=visib)


# ------------------------------------------------------------------------------------------ candidates

@dataclass
class Candidate:
    """One candidate view of one view slot, evaluated by the ID pass.

    Attributes
    ----------
    index : int
        Try k (stream ``views, v`` for k = 0, ``views, v, k`` after).
    view : View
    accepted : bool
        Passes the constraints at the ID pass's resolution (with the safety margin).
    deficit : float
        0 when accepted; else missing visible objects / min_visible_objects + missing clearance /
        min_surface_distance.
    visible : int
        Labelled objects that count as visible (with the margin).
    clearance : float
        Metres to the nearest surface (exact below ``min_surface_distance``; inf when not needed).
    level_counts : (4,) int64
        Estimated occlusion levels 0-3 of the labelled objects.
    azimuth_counts : (B,) int64
        Azimuth bins of the visible labelled objects (empty without coverage).

    The ID pass's images are not kept (a scene may draw thousands of candidates).
    """

    index: int
    view: View
    accepted: bool
    deficit: float
    visible: int
    clearance: float
    level_counts: np.ndarray
    azimuth_counts: np.ndarray


def _cost(counts: np.ndarray, shares: np.ndarray) -> float:
    """||counts - shares sum(counts)||^2: how far a histogram is from the wanted shares, in instances."""
    return float(((counts - shares * counts.sum()) ** 2).sum())


class ViewSampler:
    """Chooses the views of one scene (module docstring: algorithm and guarantees). One per scene, discarded
    after it: no state is shared between scenes.

    Parameters
    ----------
    desc : SceneDescription
        Settled scene (after physics; with hands when they are placed).
    camera : CameraConfig
        The recipe's ``camera``: ranges, look-at point and jitter, view control.
    seed : int
        The recipe's ``seed`` (the candidates' streams).
    library, distractors : ModelLibrary, ModelLibrary or None
        As :class:`SceneCaster`.
    scene_index : int or None
        Seeds the candidate streams; None: ``desc.scene_index``.
    control : ViewControl or None
        None: read from ``camera`` (:func:`config.views.view_control`).
    thresholds : (t0, t1) floats
        The recipe's ``output.occlusion_thresholds`` (the occlusion levels the targets count).
    """

    def __init__(self, desc: SceneDescription, camera: CameraConfig, seed: int, library: ModelLibrary,
                 distractors: ModelLibrary | None = None, scene_index: int | None = None,
                 control: ViewControl | None = None, *, thresholds):
        self.desc, self.camera, self.seed = desc, camera, int(seed)
        self.scene_index = desc.scene_index if scene_index is None else int(scene_index)
        self.control = control if control is not None else view_control(camera)
        self.thresholds = tuple(thresholds)
        self._library, self._distractors = library, distractors
        self._caster: SceneCaster | None = None
        c = self.control
        self.constraints = c.constraints if c is not None else None
        self.n_choice = c.candidates() if c is not None else 1
        ot = c.occlusion_targets if c is not None else None
        self.level_shares = None
        self.level_mask = np.zeros(N_LEVELS, bool)
        if ot is not None:
            self.level_shares = np.array([ot.levels.get(k, 0.0) for k in range(N_LEVELS)], dtype=np.float64)
            self.level_mask = np.array([True, True, True, ot.over_all()])
        self.coverage = c.coverage if c is not None else None
        self.bins = self.coverage.azimuth_bins if self.coverage is not None else 0
        self._centers = None
        if self.constraints is not None and self.constraints.look_at == "object" and desc.objects:
            self._centers = np.array([transform_points(o.world_T_model, library.get(o.obj_id).center[None])[0]
                                      for o in desc.objects])
        self._cands: dict[int, list[Candidate]] = {}
        self._rejected: dict[int, set[int]] = {}
        self._state: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.chosen: dict[int, Candidate] = {}
        self.replaced = 0
        #: Views written although they failed the full-resolution check (the build adds them; see :meth:`report`).
        self.full_res_failed: set[int] = set()
        #: Scene redraws before this sampler's scene (``on_exhausted: redraw_scene``; set by the build).
        self.redraws = 0

    @property
    def caster(self) -> SceneCaster:
        """The scene's :class:`SceneCaster`, built on first use."""
        if self._caster is None:
            self._caster = SceneCaster(self.desc, self._library, self._distractors)
        return self._caster

    # ---------------------------------------------------------------------------------- candidates
    def _needs_cast(self) -> bool:
        c = self.constraints
        return c.min_visible_objects > 0 or self.level_shares is not None or self.coverage is not None

    def candidate(self, v: int, k: int) -> Candidate:
        """Candidate ``k`` of view ``v``: drawn from its own stream, evaluated by the ID pass (cached)."""
        cands = self._cands.setdefault(v, [])
        while len(cands) <= k:
            cands.append(self._evaluate(len(cands), self._draw(v, len(cands))))
        return cands[k]

    def _draw(self, v: int, k: int) -> View:
        seed, s = self.seed, self.scene_index
        rng = scene_rng(seed, s, "views", v) if k == 0 else scene_rng(seed, s, "views", v, k)
        return draw_view(rng, self.camera, self._centers)

    def _evaluate(self, k: int, view: View) -> Candidate:
        c = self.constraints
        levels = np.zeros(N_LEVELS, np.int64)
        az = np.zeros(self.bins, np.int64)
        visible = len(self.desc.objects)
        if self._needs_cast():
            idp = self.caster.cast(view, c.id_pass_width)
            vf = idp.visib_fract()
            need = c.min_visib_fract + c.margin + 0.5 / np.sqrt(np.maximum(idp.px_all, 1))
            sure = (idp.px_visib > 0) & (vf >= need)
            visible = int(sure.sum())
            levels = np.bincount(idp.levels(self.thresholds), minlength=N_LEVELS).astype(np.int64)
            if self.bins:
                for o, seen in zip(self.desc.objects, idp.px_visib > 0):
                    if seen:
                        az[azimuth_bin(camera_azimuth_deg(view.world_T_cam, o.world_T_model), self.bins)] += 1
        clear = math.inf
        deficit = 0.0
        if c.min_surface_distance > 0:
            clear = self.caster.clearance(view.world_T_cam[:3, 3], c.min_surface_distance)
            deficit += max(0.0, c.min_surface_distance - clear) / c.min_surface_distance
        if c.min_visible_objects > 0:
            deficit += max(0, c.min_visible_objects - visible) / c.min_visible_objects
        return Candidate(index=k, view=view, accepted=deficit == 0.0, deficit=float(deficit), visible=visible,
                         clearance=float(clear), level_counts=levels, azimuth_counts=az)

    def _objective(self, v: int, cand: Candidate) -> float:
        H, A = self._state[v]
        cost = 0.0
        if self.level_shares is not None:
            m = self.level_mask
            cost += _cost((H + cand.level_counts)[m], self.level_shares[m])
        if self.coverage is not None:
            cost += self.coverage.weight * _cost((A + cand.azimuth_counts).astype(np.float64),
                                                 np.full(self.bins, 1.0 / self.bins))
        return cost

    def _pick(self, v: int, accepted_only: bool = False) -> Candidate | None:
        """The choice for view ``v`` among its candidates not rejected at full resolution: the greedy choice among
        the first accepted ones; without any, the smallest deficit (None with ``accepted_only``, or when every
        drawn candidate was rejected)."""
        c = self.constraints
        rejected = self._rejected.setdefault(v, set())
        accepted: list[Candidate] = []
        k = 0
        while k < c.max_tries and len(accepted) < self.n_choice:
            cand = self.candidate(v, k)
            if cand.accepted and cand.index not in rejected:
                accepted.append(cand)
            k += 1
        if accepted:
            if len(accepted) == 1:
                return accepted[0]
            return min(accepted, key=lambda a: (self._objective(v, a), a.index))
        rest = [a for a in self._cands.get(v, []) if a.index not in rejected]
        if not rest or accepted_only:
            return None
        return min(rest, key=lambda a: (a.deficit, self._objective(v, a), a.index))

    # ---------------------------------------------------------------------------------- the plan
    def plan(self, num_views: int) -> tuple[View, ...]:
        """Choose views 0..num_views-1 in order (the greedy choice uses the histograms of the views before).

        Returns
        -------
        tuple of View
            Without any view control (or with nothing to check or aim at): ``sample_views``' views.
        """
        if self.control is None or not self.control.active():
            views = sample_views(self.camera, self.seed, self.scene_index, num_views)
            for v, view in enumerate(views):
                self.chosen[v] = Candidate(index=0, view=view, accepted=True, deficit=0.0, visible=0,
                                           clearance=math.inf, level_counts=np.zeros(N_LEVELS, np.int64),
                                           azimuth_counts=np.zeros(self.bins, np.int64))
            return views
        H = np.zeros(N_LEVELS, np.int64)
        A = np.zeros(self.bins, np.int64)
        for v in range(num_views):
            self._state[v] = (H.copy(), A.copy())
            cand = self._pick(v)
            self.chosen[v] = cand
            H += cand.level_counts
            A += cand.azimuth_counts
        return tuple(self.chosen[v].view for v in range(num_views))

    @property
    def satisfied(self) -> bool:
        """True when every planned view passed its constraints at the ID pass's resolution."""
        return all(c.accepted for c in self.chosen.values())

    def replace(self, v: int) -> View | None:
        """Reject the current choice of view ``v`` (it failed at full resolution) and return the next candidate
        that passes the constraints at the ID pass's resolution (drawing further ones up to ``max_tries``), or
        None when none is left. A view kept although no candidate passed (unsatisfied) is not replaced: every
        other candidate failed too, and each replacement costs a full render."""
        if self.control is None or not self.control.active() or v not in self._state:
            return None
        if not self.chosen[v].accepted:
            return None
        self._rejected.setdefault(v, set()).add(self.chosen[v].index)
        cand = self._pick(v, accepted_only=True)
        if cand is None:
            return None
        self.chosen[v] = cand
        self.replaced += 1
        return cand.view

    def frame_deficit(self, labels, depth: np.ndarray | None, view: View) -> tuple[float, list[str]]:
        """Full-resolution check of one rendered frame against the constraints.

        Parameters
        ----------
        labels : sequence of InstanceLabel
            The frame's object labels (``visib_fract``, ``px_count_visib``); hands are not passed.
        depth : (H, W) float or None
            Rendered depth, metres, 0 = nothing; None skips the distance check.
        view : View

        Returns
        -------
        deficit : float
            0 when every constraint holds (definition as :attr:`Candidate.deficit`).
        problems : list of str
            One line per failed constraint.
        """
        return frame_deficit(labels, depth, view, self.constraints)

    def report(self) -> dict:
        """What the sampler did, for the build log: ``views``, ``candidates`` (drawn and evaluated),
        ``rejected`` (failing the constraints at low resolution), ``unsatisfied`` (views kept although no
        candidate passed), ``replaced`` (views replaced after a full-resolution check failed),
        ``full_res_failed`` (views written although they failed at full resolution), ``redraws`` (scene redraws
        before this scene was kept)."""
        drawn = sum(len(c) for c in self._cands.values())
        rejected = sum(1 for cs in self._cands.values() for c in cs if not c.accepted)
        return {"views": len(self.chosen), "candidates": drawn, "rejected": rejected,
                "unsatisfied": sum(1 for c in self.chosen.values() if not c.accepted), "replaced": self.replaced,
                "full_res_failed": len(self.full_res_failed), "redraws": self.redraws}


def frame_deficit(labels, depth: np.ndarray | None, view: View, constraints) -> tuple[float, list[str]]:
    """Full-resolution check of one frame (see :meth:`ViewSampler.frame_deficit`); ``constraints`` a
    :class:`~gtforge.config.views.ViewConstraints` or None (nothing to check)."""
    if constraints is None:
        return 0.0, []
    c, deficit, problems = constraints, 0.0, []
    if c.min_visible_objects > 0:
        n = sum(1 for lab in labels if lab.px_count_visib > 0 and lab.visib_fract >= c.min_visib_fract)
        if n < c.min_visible_objects:
            deficit += (c.min_visible_objects - n) / c.min_visible_objects
            problems.append(f"{n} objects with visib_fract >= {c.min_visib_fract:g} (need {c.min_visible_objects})")
    if c.min_surface_distance > 0 and depth is not None and np.any(depth > 0):
        d = float(ray_lengths(np.asarray(depth, dtype=np.float64), view.K)[depth > 0].min())
        if d < c.min_surface_distance:
            deficit += (c.min_surface_distance - d) / c.min_surface_distance
            problems.append(f"a surface at {d:.4f} m (min_surface_distance {c.min_surface_distance:g} m)")
    return float(deficit), problems

