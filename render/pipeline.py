"""The build: recipe -> scenes -> physics -> render -> annotate -> write, over N processes.

Each process holds one :class:`SceneWorker` (asset library, collision shapes,
one renderer) for its whole life. Scenes are the unit of work and of
atomicity: a scene folder appears under its final name only when complete,
so re-running an interrupted build renders exactly the missing scenes.
Results do not depend on the number of workers: every random draw of scene
``i`` comes from generators seeded by (recipe seed, i).
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import shutil
import time
from collections import defaultdict
from pathlib import Path

import yaml

from .. import __version__
from ..assets.loaders import AssetLibrary
from ..scenes.clutter import build_scene
from ..scenes.physics import CollisionShapes, settle
from ..scenes.recipe import Recipe, RecipeError, validate_recipe
from .annotate import annotate_hands, annotate_view
from .bop import (BopSceneWriter, SceneFolder, camera_json, load_json, rgb_relpath, scene_env, write_json_atomic,
                  write_models)
from .coco import CocoSceneWriter, merge_coco

log = logging.getLogger("gtforge")

STAGES = ("scene", "physics", "hands", "composite", "render_rgb", "render_ids_depth", "render_amodal", "annotate", "write")


def load_recipe_backgrounds(recipe, base_dir) -> list:
    """The AR backgrounds of a recipe (empty for other scene kinds). Raises ValueError naming the background."""
    if recipe.ar is None:
        return []
    from ..scenes.backgrounds import load_backgrounds

    return load_backgrounds(recipe.ar.backgrounds, base_dir, recipe.seed, ground=recipe.ar.placement == "ground")


def load_hand_model(cfg):
    """The hand model a recipe's ``hands`` section asks for (procedural, or the user's MANO file).

    Raises HandModelError for an unusable MANO file.
    """
    import os

    from ..assets.hand_model import load_mano
    from ..assets.procedural_hand import build_procedural_hand

    if cfg.backend == "procedural":
        return build_procedural_hand()
    path = cfg.mano_model or os.environ.get("GTFORGE_MANO_MODEL")
    return load_mano(path, flat_hand_mean=cfg.flat_hand_mean, tip_ids=cfg.fingertip_ids)


class OutputError(Exception):
    """The output folder cannot be used (holds something else); message says why."""


class SceneWorker:
    """Per-process state: asset library, collision shapes, and the process's single renderer.

    Parameters
    ----------
    recipe : Recipe
    base_dir : path
        Folder the recipe's relative paths are relative to.
    out_dir : path
        Dataset folder.
    """

    def __init__(self, recipe: Recipe, base_dir, out_dir):
        from .renderer import Renderer  # GL is only touched in processes that render

        self.recipe, self.base_dir, self.out_dir = recipe, Path(base_dir), Path(out_dir)
        self.library = AssetLibrary(recipe.objects, self.base_dir)
        self.shapes = CollisionShapes(self.library)
        self.backgrounds = load_recipe_backgrounds(recipe, self.base_dir)
        w, h = (recipe.camera.width, recipe.camera.height) if recipe.camera else (self.backgrounds[0].width,
                                                                                    self.backgrounds[0].height)
        self.renderer = Renderer(self.library, w, h)
        self.hand_model = self.hand_axes = self.hand_targets = None
        if recipe.hands is not None:
            from ..scenes.hands import TargetMeshes, hand_axes

            self.hand_model = load_hand_model(recipe.hands)
            self.hand_axes = hand_axes(self.hand_model)
            self.hand_targets = TargetMeshes(self.library)

    def run_scene(self, scene_index: int) -> dict:
        """Build, simulate, render, annotate and write one scene. Returns stats (frames, per-stage seconds, ...)."""
        r, out = self.recipe, self.recipe.output
        t = defaultdict(float)
        t0 = time.perf_counter()
        if r.ar is not None:
            from ..scenes.ar import build_ar_scene
            from ..scenes.physics import SettleReport

            desc = build_ar_scene(r, self.library, self.backgrounds, scene_index)
            report = SettleReport(settled=True, sim_time=0.0, steps=0, removed=desc.removed)
            t["scene"] += time.perf_counter() - t0
        else:
            desc = build_scene(r, self.library, scene_index, self.base_dir)
            t["scene"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            desc, report = settle(desc, self.shapes, r.clutter)
            t["physics"] += time.perf_counter() - t0
        if r.hands is not None:
            from ..scenes.hands import place_hands

            t0 = time.perf_counter()
            desc = place_hands(desc, r.hands, self.library, self.hand_model, self.hand_axes, r.seed, self.hand_targets,
                               look_at=r.camera.look_at.center)
            t["hands"] += time.perf_counter() - t0
        folder = SceneFolder(self.out_dir, out.split, scene_index)
        writer = BopSceneWriter(folder, out.depth_scale, out.image_format, out.jpg_quality, out.layers,
                                write_gt="bop" in out.formats, env=scene_env(desc))
        writer.write_hand_vertices = bool(r.hands is not None and r.hands.write_vertices)
        coco = (CocoSceneWriter(folder.path, out.split, scene_index, out.coco_ignore_visib_fract)
                if "coco" in out.formats else None)
        hand_cat = len(self.library) + 1
        self.renderer.set_scene(desc)
        photo = desc.background.image() if desc.background is not None else None
        for im_id, view in enumerate(desc.views):
            bufs = self.renderer.render_view(view, rgb=out.layers.rgb, amodal=True)
            t.update({k: t[k] + v for k, v in self.renderer.last_timings.items()})
            if photo is not None:
                from .composite import composite

                t0 = time.perf_counter()
                bufs.rgb, bufs.inst, bufs.depth = composite(photo, bufs.rgba, bufs.shadow, bufs.inst, bufs.depth,
                                                            desc.background.depth, desc.look)
                t["composite"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            labels = annotate_view(desc, view, bufs.inst, bufs.depth, bufs.amodal, out.occlusion_thresholds)
            hands = annotate_hands(desc, view, bufs.inst, bufs.depth, bufs.amodal, out.occlusion_thresholds)
            t["annotate"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            writer.add_frame(im_id, view, bufs.rgb, bufs.depth, labels, hands)
            if coco is not None:
                coco.add_frame(im_id, rgb_relpath(im_id, out.image_format), view.width, view.height, labels, hands,
                               hand_cat)
            if "kitti" in out.formats:
                self._write_kitti(folder.path, scene_index, im_id, desc, labels, bufs.rgb)
            t["write"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        writer.finish()
        if coco is not None:
            coco.finish()
        folder.commit()
        t["write"] += time.perf_counter() - t0
        return {"scene": scene_index, "frames": len(desc.views), "timings": dict(t), "settled": report.settled,
                "sim_time": report.sim_time, "removed": list(report.removed),
                "objects": len(desc.objects), "obj_ids": sorted({o.obj_id for o in desc.objects})}

    def _write_kitti(self, folder: Path, scene_index: int, im_id: int, desc, labels, rgb) -> None:
        """KITTI files of one frame into the scene folder (``kitti/{image_2,label_2,calib}/{frame:06d}``)."""
        from PIL import Image

        from .kitti import kitti_object, kitti_object_enclosing, write_calib, write_labels

        frame = scene_index * 1000 + im_id
        k = folder / "kitti"
        for sub in ("image_2", "label_2", "calib"):
            (k / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(k / "image_2" / f"{frame:06d}.png", compress_level=1)
        by_inst = {o.inst_id: o for o in desc.objects}
        if self.recipe.ar.placement == "ground":
            objs = [kitti_object(lab, by_inst[lab.inst_id], self.library.get(lab.obj_id).mesh.bounds,
                                 desc.ref_T_world, self.recipe.ar.kitti_type) for lab in labels]
        else:  # objects in any pose: the enclosing camera-aligned box, typed by class name
            objs = [kitti_object_enclosing(lab, by_inst[lab.inst_id], self.library.get(lab.obj_id).mesh,
                                           desc.ref_T_world, self.library.get(lab.obj_id).class_name.replace(" ", "_"))
                    for lab in labels]
        objs = [o for o in objs if o is not None]
        if self.recipe.ar.carry_real_labels:
            objs += list(desc.background.labels)
        write_labels(k / "label_2" / f"{frame:06d}.txt", objs)
        write_calib(k / "calib" / f"{frame:06d}.txt", desc.background.P2(), desc.background.lidar2ref)

    def close(self):
        self.renderer.close()


# ---------------------------------------------------------------- process pool plumbing
_WORKER: SceneWorker | None = None


def _init_worker(raw: dict, file: str, base_dir: str, out_dir: str) -> None:
    global _WORKER
    recipe = validate_recipe(raw, file, base_dir)
    _WORKER = SceneWorker(recipe, base_dir, out_dir)


def _run_in_worker(scene_index: int) -> dict:
    assert _WORKER is not None
    return _WORKER.run_scene(scene_index)


# ---------------------------------------------------------------- output folder
META_FILE = "gtforge.json"
RECIPE_COPY = "recipe.yaml"


def prepare_output(out_dir, recipe: Recipe, resolved: dict, recipe_file: str, base_dir, classes=None,
                   backgrounds=()) -> bool:
    """Create the dataset folder, or check that an existing one was started by the same recipe.

    Writes ``recipe.yaml`` (the resolved recipe, after overrides), ``gtforge.json``
    (software version, source recipe, base folder, formats, split, scene count, class names
    per obj_id) and ``camera.json``.

    Returns
    -------
    resuming : bool
        True if the folder already held this build.

    Raises
    ------
    OutputError
        If the folder holds other files, or a build of a different recipe.
    """
    out = Path(out_dir)
    meta_path = out / META_FILE
    if out.exists() and any(out.iterdir()):
        if not meta_path.is_file():
            raise OutputError(f"{out}: folder exists, is not empty and is not a gtforge dataset; choose another --out")
        meta = load_json(meta_path)
        if meta.get("recipe") != resolved or meta.get("base_dir") != str(base_dir):
            raise OutputError(f"{out}: holds a build of a different recipe (or different --set values); "
                              "use another --out, or the same command as before to resume")
        return True
    out.mkdir(parents=True, exist_ok=True)
    header = (f"# Resolved recipe written by gtforge {__version__} (after --set overrides).\n"
              f"# Source: {recipe_file}; relative paths are relative to {base_dir}\n")
    tmp = out / (RECIPE_COPY + ".tmp")
    tmp.write_text(header + yaml.safe_dump(resolved, sort_keys=False))
    tmp.replace(out / RECIPE_COPY)
    if recipe.camera is not None:
        cam = recipe.camera
        K, w, h = cam.K(), cam.width, cam.height
    else:  # ar: the first background's camera (each image's own K is in scene_camera.json)
        K, w, h = backgrounds[0].K, backgrounds[0].width, backgrounds[0].height
    write_json_atomic(out / "camera.json", camera_json(K, w, h, recipe.output.depth_scale))
    write_json_atomic(meta_path, {"gtforge_version": __version__, "recipe_file": str(recipe_file),
                                  "base_dir": str(base_dir), "recipe": resolved, "formats": list(recipe.output.formats),
                                  "split": recipe.output.split, "num_scenes": recipe.num_scenes(),
                                  "classes": classes or {}})
    return False


def pending_scenes(out_dir, recipe: Recipe) -> list[int]:
    """Scene indices whose final folder does not exist yet; stale temporary folders are removed."""
    split = Path(out_dir) / recipe.output.split
    todo = []
    for i in range(recipe.num_scenes()):
        tmp = split / f".tmp_{i:06d}"
        if tmp.exists():
            shutil.rmtree(tmp)
        if not (split / f"{i:06d}").is_dir():
            todo.append(i)
    return todo


def used_obj_ids(out_dir, recipe: Recipe) -> set[int]:
    """obj_ids appearing in any written scene_gt.json of the split."""
    ids: set[int] = set()
    for p in sorted((Path(out_dir) / recipe.output.split).glob("[0-9]" * 6 + "/scene_gt.json")):
        for entries in load_json(p).values():
            ids.update(int(e["obj_id"]) for e in entries)
    return ids


def build(recipe: Recipe, resolved: dict, recipe_file: str, base_dir, out_dir, workers: int = 1,
          progress: bool = True) -> dict:
    """Run a whole build (resuming if ``out_dir`` holds an unfinished build of the same recipe).

    Returns
    -------
    summary : dict
        ``scenes`` and ``frames`` rendered by this call, ``seconds``, per-stage ``timings`` (s),
        ``skipped`` (scenes already present).

    Raises
    ------
    OutputError, AssetError, RecipeError
        Before anything renders.
    """
    from tqdm import tqdm

    base_dir = Path(base_dir).resolve()
    library = AssetLibrary(recipe.objects, base_dir)
    library.load_all()  # every model file is read (and checked) before the first render
    if recipe.hands is not None:
        load_hand_model(recipe.hands)  # a bad MANO file is reported before anything is written
    try:
        backgrounds = load_recipe_backgrounds(recipe, base_dir)  # unreadable backgrounds fail before writing
    except (ValueError, OSError) as e:
        raise RecipeError(recipe_file, "ar.backgrounds", str(e)) from None
    classes = {str(i): {"name": n, "set": sn} for i, n, sn, _p, _s in library.entries}
    if recipe.hands is not None:
        classes[str(len(library) + 1)] = {"name": "hand", "set": "hand"}
    resuming = prepare_output(out_dir, recipe, resolved, recipe_file, base_dir, classes, backgrounds)
    todo = pending_scenes(out_dir, recipe)
    skipped = recipe.num_scenes() - len(todo)
    if resuming:
        log.info("resuming %s: %d scene(s) present, %d to render", out_dir, skipped, len(todo))
    total_frames = sum(recipe.views_in_scene(i) for i in todo)
    timings: dict = defaultdict(float)
    frames = 0
    start = time.perf_counter()
    bar = tqdm(total=total_frames, unit="frame", disable=not progress, dynamic_ncols=True,
               desc=f"scenes 0/{len(todo)}")

    def consume(res: dict, done: int) -> None:
        nonlocal frames
        frames += res["frames"]
        for k, v in res["timings"].items():
            timings[k] += v
        if res["removed"]:
            log.info("scene %d: removed %d object(s) after physics: %s", res["scene"], len(res["removed"]),
                     ", ".join(f"inst {i} ({why})" for i, why in res["removed"]))
        if not res["settled"]:
            log.info("scene %d: not settled within the %.1f s cap", res["scene"], res["sim_time"])
        bar.set_description(f"scenes {done}/{len(todo)}")
        bar.update(res["frames"])

    try:
        if workers <= 1 or len(todo) <= 1:
            worker = SceneWorker(recipe, base_dir, out_dir)
            try:
                for n, i in enumerate(todo, 1):
                    consume(worker.run_scene(i), n)
            finally:
                worker.close()
        else:
            ctx = mp.get_context("spawn")  # no GL or pybullet state is ever forked
            with ctx.Pool(workers, initializer=_init_worker,
                          initargs=(resolved, recipe_file, str(base_dir), str(out_dir))) as pool:
                for n, res in enumerate(pool.imap_unordered(_run_in_worker, todo), 1):
                    consume(res, n)
    finally:
        bar.close()
    if "bop" in recipe.output.formats:
        write_models(out_dir, library, used_obj_ids(out_dir, recipe))
    if "coco" in recipe.output.formats:
        merge_coco(out_dir, recipe.output.split, library, recipe_file, hands=recipe.hands is not None)
    if "kitti" in recipe.output.formats:
        from .kitti import merge_kitti

        merge_kitti(out_dir, recipe.output.split)
    seconds = time.perf_counter() - start
    return {"scenes": len(todo), "frames": frames, "seconds": seconds, "timings": dict(timings), "skipped": skipped,
            "out_dir": str(out_dir)}


def load_meta(out_dir) -> dict:
    """Read ``gtforge.json`` of a dataset (raises FileNotFoundError, json.JSONDecodeError)."""
    with open(Path(out_dir) / META_FILE) as f:
        return json.load(f)


__all__ = ["build", "SceneWorker", "prepare_output", "pending_scenes", "OutputError", "RecipeError", "STAGES"]
