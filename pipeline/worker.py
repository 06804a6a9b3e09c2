"""One scene through the stages, in the process that holds the renderer.

Each process holds one :class:`SceneWorker` for its whole life: the asset library, collision
shapes, AR backgrounds, the hand model, and one renderer (one EGL context per process).
:meth:`SceneWorker.run_scene` runs scene builder -> physics -> hands -> render -> composite ->
annotate -> writers for one scene index and commits the scene folder atomically; its first part, which
needs no GL (:meth:`SceneWorker.prepare_scene`: builder, physics, views, hands), can run ahead on a thread
(:meth:`SceneWorker.run_scenes`, used by a one-process build). Which builder
runs is looked up by the recipe's scene kind in :data:`SCENE_BUILDERS`; which writers run, by
``output.formats`` in the format registry (``formats/registry.py``).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..assets.backgrounds import load_backgrounds
from ..assets.hand_model import load_mano
from ..assets.loaders import AssetLibrary
from ..assets.procedural_hand import build_procedural_hand
from ..config.schema import Recipe
from ..config.stereo import disparity_scale
from ..config.views import view_control
from ..core.description import SceneDescription
from ..core.geometry import make_pose
from ..core.rng import scene_rng
from ..formats.atomic import AtomicFolder
from ..formats.bop import scene_path
from ..formats.protocol import FrameRecord, SceneContext
from ..formats.registry import writer_classes
from ..render.annotate import annotate_hands, annotate_view
from ..render.composite import composite
from ..render.lens_camera import render_view
from ..scenes.ar import build_ar_scene
from ..scenes.clutter import build_scene
from ..scenes.hands import TargetMeshes, hand_axes, place_hands
from ..scenes.physics import CollisionShapes, SettleReport, settle
from ..scenes.views import ViewSampler
from .inputs import clutter_inputs
from .job import BuildJob, SceneResult
from ..render.depth_sensor import sample_depth_sensor, simulate_depth
from ..render.effects import apply_effects, point_depth, sample_effects, visible_object_depths

#: Keys of the per-stage timings (seconds) that :meth:`SceneWorker.run_scene` reports.
#: ``scene_upload``: the renderer's meshes, textures (HSV-jittered per instance) and lights of a scene;
#: ``distort``: lens resampling (render/lens_camera.py).
STAGES = ("scene", "physics", "views", "hands", "composite", "scene_upload", "render_rgb", "render_ids_depth",
          "render_amodal", "distort", "annotate", "effects", "depth_noisy", "write")


def load_recipe_backgrounds(recipe: Recipe, base_dir) -> list:
    """The AR backgrounds of a recipe (empty for other scene kinds). Raises ValueError naming the background."""
    if recipe.ar is None:
        return []
    return load_backgrounds(recipe.ar.backgrounds, base_dir, recipe.seed, ground=recipe.ar.placement == "ground")


def load_hand_model(cfg):
    """The hand model a recipe's ``hands`` section asks for (procedural, or the user's MANO file).

    Raises HandModelError for an unusable MANO file.
    """
    if cfg.backend == "procedural":
        return build_procedural_hand()
    path = cfg.mano_model or os.environ.get("GTFORGE_MANO_MODEL")
    return load_mano(path, flat_hand_mean=cfg.flat_hand_mean, tip_ids=cfg.fingertip_ids)


def _timed(t: dict, stage: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, adding its wall time (s) to ``t[stage]``."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    t[stage] += time.perf_counter() - t0
    return out


def _clutter_scene(worker: "SceneWorker", scene_index: int, t: dict, redraw: int = 0):
    """Clutter: targets and distractors dropped (scenes/clutter.py), then settled by physics (scenes/physics.py).
    ``redraw`` k > 0 draws the drop poses again from their streams' sub-stream k (view control's scene redraws)."""
    desc = _timed(t, "scene", build_scene, worker.clutter_inputs, worker.library, scene_index, worker.base_dir,
                  worker.distractors, redraw=redraw)
    return _timed(t, "physics", settle, desc, worker.shapes, worker.recipe.clutter, worker.distractor_shapes)


def _ar_scene(worker: "SceneWorker", scene_index: int, t: dict):
    """AR: objects placed into a real photo (scenes/ar.py); no physics."""
    r = worker.recipe
    desc = _timed(t, "scene", build_ar_scene, r.ar, r.target_sets, r.seed, worker.library, worker.backgrounds,
                  scene_index)
    return desc, SettleReport(settled=True, sim_time=0.0, steps=0, removed=desc.removed)


#: Recipe scene kind (``Recipe.scene_kind``) -> function(worker, scene_index, timings) -> (description, report).
SCENE_BUILDERS = {"clutter": _clutter_scene, "ar": _ar_scene}


def distractor_library(recipe: Recipe, base_dir) -> AssetLibrary | None:
    """The models of the recipe's distractor sets (their own obj_ids 1..m), or None when it has none."""
    return AssetLibrary(recipe.distractor_sets, base_dir) if recipe.distractor_sets else None


def _write_frames(jobs: list) -> float:
    """Hand frames to writers, ``jobs`` [(writers, frame), ...] in order (on the writer thread); returns the
    seconds it took (stage ``write``)."""
    t0 = time.perf_counter()
    for writers, frame in jobs:
        for w in writers:
            w.add_frame(frame)
    return time.perf_counter() - t0


@dataclass
class PreparedScene:
    """One scene built, settled, with its views chosen and its hands placed (:meth:`SceneWorker.prepare_scene`).

    Attributes
    ----------
    scene_index : int
    desc : SceneDescription
        Settled poses (world frame, metres), views, hands.
    report : SettleReport
    sampler : ViewSampler or None
        The view-control sampler (its full-resolution checks run while rendering), None without view control.
    timings : dict
        Seconds per stage so far (``scene``, ``physics``, ``views``, ``hands``).
    """

    scene_index: int
    desc: SceneDescription
    report: SettleReport
    sampler: ViewSampler | None
    timings: dict


class SceneWorker:
    """Per-process state: asset libraries (targets: ``recipe.target_sets``, obj_ids 1..n; distractors, their
    own ids), collision shapes, backgrounds, hand model, and the process's renderer.

    Parameters
    ----------
    job : BuildJob
        The recipe, the folder its relative paths are relative to (``base_dir``) and the dataset folder
        (``out_dir``); kept as the attributes ``job``, ``recipe``, ``base_dir``, ``out_dir``.
    """

    def __init__(self, job: BuildJob):
        from ..render.renderer import Renderer  # noqa: PLC0415 - GL is only touched in processes that render

        recipe = job.recipe
        self.job, self.recipe, self.base_dir, self.out_dir = job, recipe, Path(job.base_dir), Path(job.out_dir)
        self.library = AssetLibrary(recipe.target_sets, self.base_dir)
        self.shapes = CollisionShapes(self.library)
        self.distractors = distractor_library(recipe, self.base_dir)
        self.distractor_shapes = CollisionShapes(self.distractors) if self.distractors is not None else None
        self.backgrounds = load_recipe_backgrounds(recipe, self.base_dir)
        #: the sections the clutter builder reads (None for AR recipes)
        self.clutter_inputs = clutter_inputs(recipe) if recipe.scene_kind == "clutter" else None
        w, h = (recipe.camera.width, recipe.camera.height) if recipe.camera else (self.backgrounds[0].width,
                                                                                    self.backgrounds[0].height)
        self.renderer = Renderer(self.library, w, h, distractors=self.distractors)
        #: one background thread that encodes and writes frames while the next one renders (one at a time, in
        #: frame order: the writers see the same calls in the same order as without it)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gtforge-write")
        self.hand_model = self.hand_axes = self.hand_targets = None
        if recipe.hands is not None:
            self.hand_model = load_hand_model(recipe.hands)
            self.hand_axes = hand_axes(self.hand_model)
            self.hand_targets = TargetMeshes(self.library)

    def prepare_scene(self, scene_index: int) -> PreparedScene:
        """The part of :meth:`run_scene` that needs no GL: scene builder, physics, view choice, hands.

        Touches neither the renderer nor the writers, so it may run on another thread while the previous scene
        renders (:meth:`run_scenes`). Raises what the scene builders raise.
        """
        r = self.recipe
        t: dict = defaultdict(float)
        desc, report = SCENE_BUILDERS[r.scene_kind](self, scene_index, t)
        desc, report, sampler = self._choose_views(desc, report, scene_index, t)
        if r.hands is not None:
            desc = _timed(t, "hands", place_hands, desc, r.hands, self.library, self.hand_model, self.hand_axes, r.seed,
                          self.hand_targets, look_at=r.camera.look_at.center)
        return PreparedScene(scene_index, desc, report, sampler, t)

    def run_scenes(self, scene_indices) -> Iterator[SceneResult]:
        """:meth:`run_scene` of each index in turn, each scene's :meth:`prepare_scene` (physics above all) running
        on a background thread while the previous scene renders and writes (one process: pybullet's steps use
        the core that rendering leaves idle). Every scene's result and files are those of :meth:`run_scene`:
        each scene's random draws come from its own (seed, scene, stream) generators and its own pybullet
        client. Stopping the iteration waits for a preparation under way (about a second at most)."""
        order = list(scene_indices)
        if not order:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gtforge-prepare") as ahead:
            upcoming = ahead.submit(self.prepare_scene, order[0])
            for k, i in enumerate(order):
                prepared = upcoming.result()
                upcoming = ahead.submit(self.prepare_scene, order[k + 1]) if k + 1 < len(order) else None
                yield self.run_scene(i, prepared)

    def run_scene(self, scene_index: int, prepared: PreparedScene | None = None) -> SceneResult:
        """Build, simulate, render, annotate and write one scene, then commit its folder.

        ``prepared``: this scene's :meth:`prepare_scene`, when already done (else it is done here).

        Returns
        -------
        SceneResult
            Per-stage ``timings`` (s, keys in :data:`STAGES`), the physics report, the scene's objects, model ids
            and distractors, view control's report.

        Raises
        ------
        ValueError
            If ``prepared`` is another scene's.
        """
        r, out = self.recipe, self.recipe.output
        if prepared is None:
            prepared = self.prepare_scene(scene_index)
        if prepared.scene_index != scene_index:
            raise ValueError(f"prepared scene {prepared.scene_index} given to run scene {scene_index}")
        desc, report, sampler, t = prepared.desc, prepared.report, prepared.sampler, prepared.timings
        folder = AtomicFolder(scene_path(self.out_dir, out.split, scene_index))
        ctx = SceneContext(root=self.out_dir, folder=folder.path, split=out.split, scene_id=scene_index, output=out,
                           recipe=r, library=self.library, scene=desc, distractors=self.distractors)
        writers = [cls(ctx) for cls in writer_classes(out.formats)]
        stereo = r.camera.stereo if r.camera is not None else None
        right_folder = right_writers = None
        if stereo is not None:  # the right views: a split of their own, same scene id (config/stereo.py)
            right_split = stereo.right_split(out.split)
            right_folder = AtomicFolder(scene_path(self.out_dir, right_split, scene_index))
            rctx = replace(ctx, folder=right_folder.path, split=right_split)
            right_writers = [cls(rctx) for cls in writer_classes(out.formats)]
        _timed(t, "scene_upload", self.renderer.set_scene, desc)  # meshes, textures (jittered), lights
        photo = desc.ar.background.image() if desc.ar is not None else None
        pending = None  # the previous frame's write, running while this frame renders
        try:
            for im_id, view in enumerate(desc.views):
                frame = self._frame(desc, im_id, view, photo, t)
                if sampler is not None:
                    frame = self._recheck(sampler, desc, im_id, frame, photo, t)
                jobs = [(writers, frame)]
                if stereo is not None:
                    left, right = self._stereo_pair(desc, im_id, frame, photo, t)
                    jobs = [(writers, left), (right_writers, right)]
                if pending is not None:
                    t["write"] += pending.result()
                pending = self._writer.submit(_write_frames, jobs)
            if pending is not None:
                t["write"] += pending.result()
        finally:
            if pending is not None and not pending.done():
                pending.exception()  # never leave a write running into a folder that is being abandoned
        t0 = time.perf_counter()
        for w in writers + (right_writers or []):
            w.finish()
        if right_folder is not None:
            right_folder.commit()  # before the left folder, whose presence marks the scene as done (resume)
        folder.commit()
        t["write"] += time.perf_counter() - t0
        return SceneResult(scene=scene_index, frames=len(desc.views), timings=dict(t), settled=report.settled,
                           sim_time=report.sim_time, removed=tuple(tuple(r) for r in report.removed),
                           objects=len(desc.objects), obj_ids=tuple(sorted({o.obj_id for o in desc.objects})),
                           distractors=len(desc.distractors),
                           views=sampler.report() if sampler is not None else None)

    def _choose_views(self, desc, report, scene_index: int, t: dict):
        """View control (``camera.constraints`` / ``occlusion_targets`` / ``coverage``; scenes/views.py): the
        settled scene's views chosen by a :class:`~gtforge.scenes.views.ViewSampler`; with ``on_exhausted:
        redraw_scene`` the scene is drawn and settled again (up to ``max_scene_redraws`` times) while a view
        finds no candidate that meets the constraints. Without view control: (desc, report, None), views as built.

        Returns
        -------
        desc, report, sampler (or None)
        """
        r = self.recipe
        control = view_control(r.camera) if r.scene_kind == "clutter" else None
        if control is None or not control.active():
            return desc, report, None
        c, redraws = control.constraints, 0
        while True:
            sampler = ViewSampler(desc, r.camera, r.seed, self.library, self.distractors, scene_index, control,
                                  thresholds=r.output.occlusion_thresholds)
            views = _timed(t, "views", sampler.plan, len(desc.views))
            if sampler.satisfied or c.on_exhausted != "redraw_scene" or redraws >= c.max_scene_redraws:
                break
            redraws += 1
            desc, report = _clutter_scene(self, scene_index, t, redraw=redraws)
        sampler.redraws = redraws
        return replace(desc, views=views), report, sampler

    def _recheck(self, sampler, desc, im_id: int, frame: FrameRecord, photo, t: dict) -> FrameRecord:
        """Full-resolution check of a rendered frame against ``camera.constraints``: while it fails, the sampler's
        next candidate for this view is rendered instead; when none is left, the frame with the smallest deficit
        is kept (and counted in the sampler's report as written failing)."""
        best = frame
        deficit, _ = sampler.frame_deficit(frame.labels, frame.depth, frame.view)
        while deficit > 0:
            view = sampler.replace(im_id)
            if view is None:
                sampler.full_res_failed.add(im_id)
                break
            f = self._frame(desc, im_id, view, photo, t)
            d, _ = sampler.frame_deficit(f.labels, f.depth, view)
            if d < deficit:
                best, deficit = f, d
        return best

    def _stereo_pair(self, desc, im_id: int, left: FrameRecord, photo, t: dict) -> tuple[FrameRecord, FrameRecord]:
        """The right view of a rectified pair (``camera.stereo``, config/stereo.py) rendered and annotated like the
        left one (its random effects from sub-stream 1 of the view's streams), and the left frame with its
        disparity layer d = fx * baseline / z (pixels, 0 where z = 0). Returns (left, right)."""
        st, cam = self.recipe.camera.stereo, self.recipe.camera
        right_view = replace(left.view,
                             world_T_cam=left.view.world_T_cam @ make_pose(np.eye(3), [st.baseline, 0.0, 0.0]))
        right = self._frame(desc, im_id, right_view, photo, t, sub=1)
        z = left.depth
        disparity = np.zeros(z.shape, np.float32)
        np.divide(np.float32(left.view.K[0, 0] * st.baseline), z, out=disparity, where=z > 0)
        scale = disparity_scale(float(left.view.K[0, 0]), st.baseline, cam.znear)
        mm = st.baseline * 1000.0
        return (replace(left, disparity=disparity, stereo={"baseline": mm, "side": "left", "disparity_scale": scale}),
                replace(right, stereo={"baseline": mm, "side": "right"}))

    def _frame(self, desc, im_id: int, view, photo, t: dict, sub: int = 0) -> FrameRecord:
        """Render one view (and composite it over the photo in AR scenes), then annotate it. ``sub`` > 0: the view's
        random draws (effects, depth sensor) come from sub-stream ``sub`` of its streams (a stereo pair's right
        view)."""
        out = self.recipe.output
        bufs = render_view(self.renderer, view, rgb=out.layers.rgb, amodal=True)  # in the view's lens (if any)
        for k, v in self.renderer.last_timings.items():
            t[k] += v
        if photo is not None:
            bufs.rgb, bufs.ids, bufs.depth = _timed(t, "composite", composite, photo, bufs.rgba, bufs.shadow,
                                                     bufs.ids, bufs.depth, desc.ar.background.depth, desc.ar.look)
        t0 = time.perf_counter()
        labels = annotate_view(desc, view, bufs.ids, bufs.depth, bufs.amodal, out.occlusion_thresholds)
        hands = annotate_hands(desc, view, bufs.ids, bufs.depth, bufs.amodal, out.occlusion_thresholds)
        t["annotate"] += time.perf_counter() - t0
        effects = quality = None
        if self.recipe.effects.enabled():
            t0 = time.perf_counter()
            effects, quality = self._effects(desc, im_id, view, bufs, sub)
            t["effects"] += time.perf_counter() - t0
        noisy = sensor = None
        if out.depth_noisy is not None:
            t0 = time.perf_counter()
            p = sample_depth_sensor(out.depth_noisy,
                                    scene_rng(self.recipe.seed, desc.scene_index, "depth_sensor", im_id,
                                              *((sub,) if sub else ())))
            noisy, sensor = simulate_depth(bufs.depth, view.K, p), p.to_json()
            t["depth_noisy"] += time.perf_counter() - t0
        return FrameRecord(im_id=im_id, view=view, rgb=bufs.rgb, depth=bufs.depth, labels=labels, hands=hands,
                           depth_noisy=noisy, depth_sensor=sensor, effects=effects, jpg_quality=quality)

    def _effects(self, desc, im_id: int, view, bufs, sub: int = 0) -> tuple[dict, int | None]:
        """Draw this frame's image effects (stream ``effects``, sub-stream ``im_id``) and apply them to ``bufs.rgb``
        (render/effects.py; RGB only). Focus ``look_at`` is the depth of ``camera.look_at.center`` (AR: the drawn
        distance); ``object``: a visible labelled instance's median depth. Returns (parameters as JSON, JPEG
        quality)."""
        r = self.recipe
        cfg = r.effects
        look_at = (point_depth(view.world_T_cam, r.camera.look_at.center)
                   if r.camera is not None and desc.ar is None else None)
        objects = visible_object_depths(bufs.ids, bufs.depth) if cfg.defocus.focus == "object" else ()
        params = sample_effects(cfg, scene_rng(r.seed, desc.scene_index, "effects", im_id, *((sub,) if sub else ())),
                                look_at_depth=look_at, object_depths=objects)
        if bufs.rgb is not None:
            bufs.rgb = apply_effects(bufs.rgb, bufs.depth, view.K, params)
        return params.to_json(), params.jpeg_quality

    def close(self) -> None:
        """Free the renderer's GL context and stop the writer thread."""
        self._writer.shutdown(wait=True)
        self.renderer.close()
