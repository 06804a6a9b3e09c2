"""Recipe schema: the validated, versionable description of a dataset build (pydantic models).

A recipe is a YAML file validated by the pydantic models below before
anything renders. Every problem becomes a :class:`RecipeError` naming the
file and the field path, e.g.::

    recipes/x.yaml: objects[2].count.min: Input should be greater than or equal to 0 (got -5)

Units: metres, seconds, kilograms, degrees where a field name ends in
``_deg``. Asset paths are relative to the recipe file, absolute, or
``pkg://<python package>/<path inside it>`` (e.g. ``pkg://pybullet_data/duck_vhacd.urdf``);
they may contain glob patterns (``*``, ``?``, ``[...]``).

This module holds the root, :class:`Recipe`, and ``scenes``; each other section has its own module
(``objects``, ``camera``, ``clutter``, ``lighting``, ``appearance``, ``hands``, ``ar``, ``output``, ``tune``, and
``views``, ``stereo``, ``distortion``, ``effects``, ``depth_sensor``), and the shared building blocks are in
``base``. Their models are re-exported here, so ``from gtforge.config.schema import CameraConfig`` keeps working.
"""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from .appearance import AppearanceConfig, BackdropWeights, HsvJitter, LookWeights, SurfaceWeights, WallWeights
from .ar import ARBackgroundsConfig, ARConfig, ARLookConfig
from .base import ColorRange, FieldValueError, IntRange, Range, RecipeError, Vec2, Vec3, Weights, _fixed_range, _Model
from .camera import CameraConfig, Intrinsics, LookAt
from .clutter import BinConfig, ClutterConfig, DropConfig, RoomConfig, SettleConfig
from .effects import EffectsConfig
from .hands import ForearmConfig, HandConfig, SkinTypeWeights
from .lighting import EnvironmentConfig, LightConfig, LightKinds
from .objects import MAX_OBJECTS_PER_SCENE, ContinuousSymmetry, NormalizeConfig, ObjectSet, SymmetryChoice, SymmetrySpec
from .output import FormatName, Layers, OutputConfig
from .stereo import STEREO_FORMATS, disparity_scale
from .tune import TuneConfig, TuneParam, check_tune_paths
from .views import check_view_control

#: The root and every section model, importable from here as before the sections had modules of their own.
__all__ = [
    "MAX_OBJECTS_PER_SCENE", "ARBackgroundsConfig", "ARConfig", "ARLookConfig", "AppearanceConfig", "BackdropWeights",
    "BinConfig", "ClutterConfig", "ColorRange", "ContinuousSymmetry", "DropConfig", "EffectsConfig",
    "EnvironmentConfig", "FieldValueError", "ForearmConfig", "FormatName", "HandConfig", "HsvJitter", "IntRange",
    "Intrinsics", "Layers", "LightConfig", "LightKinds", "LookAt", "LookWeights", "NormalizeConfig", "ObjectSet",
    "OutputConfig", "Range", "Recipe", "RecipeError", "RoomConfig", "ScenesConfig", "SettleConfig", "SkinTypeWeights",
    "SurfaceWeights", "SymmetryChoice", "SymmetrySpec", "TuneConfig", "TuneParam", "Vec2", "Vec3", "WallWeights",
    "Weights", "_Model",
    "_fixed_range",
]


class ScenesConfig(_Model):
    count: int = Field(ge=1)
    views_per_scene: int = Field(ge=1, le=1000, description="BOP allows at most 1000 images per scene folder")
    max_frames: int | None = Field(
        default=None, ge=1, description="stop after this many frames in all (the last scene gets fewer views)")

    def views_in_scene(self, scene_index: int) -> int:
        """Number of views rendered for ``scene_index`` (``max_frames`` may shorten the last)."""
        v = self.views_per_scene
        if self.max_frames is None:
            return v
        return max(0, min(v, self.max_frames - scene_index * v))

    def num_scenes(self) -> int:
        """Number of scenes to build (``max_frames`` may lower ``count``)."""
        n = self.count
        if self.max_frames is not None:
            n = min(n, math.ceil(self.max_frames / self.views_per_scene))
        return n


class Recipe(_Model):
    """A whole dataset build. See recipes/clutter_bop.yaml for an annotated example."""

    seed: int = Field(ge=0)
    scenes: ScenesConfig
    camera: CameraConfig | None = None
    objects: list[ObjectSet] = []
    hands: HandConfig | None = None
    ar: ARConfig | None = None
    clutter: ClutterConfig = ClutterConfig()
    lights: LightConfig = LightConfig()
    appearance: AppearanceConfig = AppearanceConfig()
    effects: EffectsConfig = Field(default=EffectsConfig(),
                                   description="image effects on rgb/ only (render/effects.py)")
    output: OutputConfig = OutputConfig()
    tune: TuneConfig | None = Field(default=None, description="the search space of gtforge tune (config/tune.py); "
                                    "gtforge build ignores it")

    @model_validator(mode="after")
    def _tune_paths(self):
        check_tune_paths(self, type(self))
        return self

    @model_validator(mode="after")
    def _scene_kind(self):
        if self.ar is None and self.camera is None:
            raise ValueError("camera is required (except for ar scenes, which use the background's camera)")
        if self.ar is not None:
            if self.hands is not None:
                raise ValueError("ar scenes do not take hands")
            if self.scenes.views_per_scene != 1:
                raise ValueError("ar scenes have one view (the photo): set scenes.views_per_scene to 1")
            for i, o in enumerate(self.objects):
                if o.role == "distractor":
                    raise FieldValueError(("objects", i, "role"), "distractor sets are for clutter scenes (objects "
                                          "dropped by physics); ar scenes take targets only")
        return self

    @model_validator(mode="after")
    def _textures_for_set_looks(self):
        if not self.appearance.textures:
            for i, o in enumerate(self.objects):
                if o.look is not None and o.look.texture > 0:
                    raise FieldValueError(("objects", i, "look", "texture"),
                                          "weight > 0 needs a texture pool, but appearance.textures is empty")
        return self

    @model_validator(mode="after")
    def _camera_inside_room(self):
        """With ``support: room`` every camera position must lie inside the walls, or they hide the scene."""
        if self.ar is not None or self.camera is None or self.clutter.support != "room":
            return self
        cam, room = self.camera, self.clutter.room
        el = cam.elevation_deg
        nearest = 0.0 if el.min <= 0.0 <= el.max else min(abs(el.min), abs(el.max))
        reach = cam.distance.max * math.cos(math.radians(nearest))  # farthest horizontal eye offset, m
        for k in range(2):
            far = abs(cam.look_at.center[k]) + cam.look_at.jitter + reach
            inner = room.size[k] / 2 - cam.znear
            if far > inner:
                raise FieldValueError(("camera", "distance", "max"),
                                      f"{cam.distance.max} m puts the camera up to {far:.3g} m from the room's centre "
                                      f"along {'xy'[k]} (look_at.center + jitter + distance at elevation {nearest:g} "
                                      f"deg), but the room's walls stand at {room.size[k] / 2:.3g} m "
                                      f"(clutter.room.size) and the camera must stay znear ({cam.znear:g} m) inside "
                                      "them, or the walls would hide the scene; lower camera.distance.max or enlarge "
                                      "clutter.room.size")
        return self

    @model_validator(mode="after")
    def _view_control(self):
        check_view_control(self.camera, ar=self.ar is not None,
                           max_targets=sum(o.count.max for o in self.target_sets))
        return self

    @model_validator(mode="after")
    def _stereo(self):
        st = self.camera.stereo if self.camera is not None else None
        if st is None:
            return self
        if self.ar is not None:
            raise FieldValueError(("camera", "stereo"), "ar scenes have one real photo per view: no right view")
        other = [f for f in self.output.formats if f not in STEREO_FORMATS]
        if other:
            raise FieldValueError(("camera", "stereo"), f"the right views are written as split "
                                  f"'{st.right_split(self.output.split)}' by {' and '.join(STEREO_FORMATS)}; "
                                  f"output.formats {other} cannot hold them yet")
        try:
            disparity_scale(float(self.camera.K()[0, 0]), st.baseline, self.camera.znear)
        except ValueError as e:
            raise FieldValueError(("camera", "stereo", "baseline"), str(e)) from None
        return self

    @model_validator(mode="after")
    def _names_unique(self):
        names = [o.name for o in self.objects]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"object set names must be unique; repeated: {dup}")
        hands = self.hands.count.max if self.hands is not None else 0
        total = sum(o.count.max for o in self.objects)
        if sum(o.count.max for o in self.target_sets) == 0 and hands == 0:
            raise ValueError("no target objects and no hands: scenes would be empty" if total == 0 else
                             "no target objects and no hands: scenes would have nothing to label "
                             "(distractor sets are never labelled)")
        if total > MAX_OBJECTS_PER_SCENE:
            i = max(range(len(self.objects)), key=lambda k: self.objects[k].count.max)
            raise FieldValueError(("objects", i, "count", "max"),
                                  f"the object sets draw up to {total} instances per scene (sum of count.max); "
                                  f"the limit is {MAX_OBJECTS_PER_SCENE}")
        return self

    @property
    def target_sets(self) -> list[ObjectSet]:
        """Object sets with ``role: target``, in recipe order (the labelled models: BOP obj_ids 1..n)."""
        return [o for o in self.objects if o.role == "target"]

    @property
    def distractor_sets(self) -> list[ObjectSet]:
        """Object sets with ``role: distractor``, in recipe order (their own model ids 1..m)."""
        return [o for o in self.objects if o.role == "distractor"]

    @property
    def scene_kind(self) -> str:
        """'ar' (objects composited into real photos) or 'clutter' (objects dropped by physics)."""
        return "ar" if self.ar is not None else "clutter"

    def views_in_scene(self, scene_index: int) -> int:
        """Number of views rendered for ``scene_index`` (:meth:`ScenesConfig.views_in_scene`)."""
        return self.scenes.views_in_scene(scene_index)

    def num_scenes(self) -> int:
        """Number of scenes to build (:meth:`ScenesConfig.num_scenes`)."""
        return self.scenes.num_scenes()
