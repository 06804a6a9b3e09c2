"""The one interface every output format implements.

A format is one module in ``formats/`` with a writer class registered by name in
``formats/registry.py``. The build (``pipeline/worker.py``) knows nothing else about formats:

1. per scene, it creates ``writer = WRITERS[name](SceneContext(...))`` for each name in the
   recipe's ``output.formats`` (after the base writer of the frame images, ``bop.ImagesWriter``);
2. per rendered view, it calls ``writer.add_frame(FrameRecord(...))``;
3. at the end of the scene, ``writer.finish()``; then the scene folder is committed atomically
   (``formats.atomic.AtomicFolder``), so everything a writer puts into ``SceneContext.folder``
   appears with the scene or not at all;
4. after the last scene, ``type(writer).merge(DatasetContext(...))`` once per format: assemble
   dataset-level files from the committed scene folders (COCO's instances JSON, BOP's models).

Writers read frames, labels and the scene description only; they never render or simulate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..core.description import SceneDescription, View
from ..core.labels import HandLabel, InstanceLabel
from ..core.library import ModelLibrary


@dataclass(frozen=True)
class SceneContext:
    """What a scene writer is given when its scene starts.

    Attributes
    ----------
    root : Path
        The dataset folder.
    folder : Path
        The scene folder being written (temporary name until the scene is committed).
    split : str
        BOP split name (``output.split``).
    scene_id : int
        0-based scene index (BOP ``scene_id``).
    output : OutputConfig
        The recipe's ``output`` section (formats, layers, depth scale, image format, thresholds).
    recipe : Recipe
        The whole validated recipe (for format options that depend on the scene kind).
    library : ModelLibrary
        Models by ``obj_id`` (meshes, class names; ``core/library.py``).
    scene : SceneDescription
        The simulated scene (object poses, static geometry, distractors, AR setting).
    distractors : ModelLibrary or None
        Models of the scene's distractors by their ``obj_id`` (None when the recipe has none).
    """

    root: Path
    folder: Path
    split: str
    scene_id: int
    output: Any
    recipe: Any
    library: ModelLibrary
    scene: SceneDescription
    distractors: ModelLibrary | None = None


@dataclass(frozen=True)
class FrameRecord:
    """One rendered and annotated view.

    Attributes
    ----------
    im_id : int
        Image index in the scene (BOP ``im_id``), 0-based.
    view : View
        Camera: K (3, 3) pixels, ``world_T_cam`` (4, 4) OpenCV, metres; image size.
    rgb : (H, W, 3) uint8 or None
        The final image (None when the recipe turned the RGB layer off).
    depth : (H, W) float32
        z in the camera frame, metres; 0 where no surface was hit.
    labels : list of InstanceLabel
        Every object of the scene, in BOP ``gt_id`` order (visible or not).
    hands : list of HandLabel
        Every hand of the scene.
    depth_noisy : (H, W) float32 or None
        Simulated depth-sensor output (``output.depth_noisy``), metres, 0 = invalid; None when off.
    depth_sensor : dict or None
        The sensor parameters drawn for this frame (``DepthSensorParams.to_json()``); None when off.
    effects : dict or None
        The image effects applied to ``rgb`` (``EffectsParams.to_json()``); None when off.
    jpg_quality : int or None
        JPEG quality drawn by the image effects for this frame; None: ``output.jpg_quality``.
    disparity : (H, W) float32 or None
        Left views of a stereo pair (``camera.stereo``): fx * baseline / depth, pixels; 0 where no surface.
    stereo : dict or None
        Views of a stereo pair: ``baseline`` (mm), ``side`` ("left" | "right") and, on the left,
        ``disparity_scale`` (pixels per unit of the disparity PNG, ``config.stereo.disparity_scale``).
    """

    im_id: int
    view: View
    rgb: np.ndarray | None
    depth: np.ndarray
    labels: list[InstanceLabel]
    hands: list[HandLabel]
    depth_noisy: np.ndarray | None = None
    depth_sensor: dict | None = None
    effects: dict | None = None
    jpg_quality: int | None = None
    disparity: np.ndarray | None = None
    stereo: dict | None = None


@dataclass(frozen=True)
class DatasetContext:
    """What a format's dataset-level :meth:`SceneWriter.merge` is given after the last scene.

    Attributes
    ----------
    root : Path
        The dataset folder; complete scenes are ``root/split/{scene_id:06d}``.
    split : str
    recipe : Recipe
    library : ModelLibrary
    recipe_file : str
        The recipe file as given on the command line.
    distractors : ModelLibrary or None
        Distractor models (None when the recipe has none).
    """

    root: Path
    split: str
    recipe: Any
    library: ModelLibrary
    recipe_file: str
    distractors: ModelLibrary | None = None


class SceneWriter(Protocol):
    """The interface of a format's writer (see the module docstring for the call order)."""

    def __init__(self, ctx: SceneContext) -> None:
        """Start a scene; may create sub-folders of ``ctx.folder``."""

    def add_frame(self, frame: FrameRecord) -> None:
        """Write or record one view."""

    def finish(self) -> None:
        """Write the scene's remaining files into ``ctx.folder`` (before the atomic commit)."""

    @classmethod
    def merge(cls, ctx: DatasetContext) -> None:
        """Assemble dataset-level files from the committed scenes (idempotent: a resumed build calls it again)."""
