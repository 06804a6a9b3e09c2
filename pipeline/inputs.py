"""Where the recipe is taken apart: each stage gets the sections it reads, not the whole ``Recipe``.

The scene builders (``scenes/``) are typed against recipe sections (``config.camera.CameraConfig``,
``config.clutter.ClutterConfig``, ...) and never see a ``Recipe``; the worker (``pipeline/worker.py``) makes their
inputs here once per process.
"""

from __future__ import annotations

from ..config.schema import Recipe
from ..scenes.clutter import ClutterInputs


def clutter_inputs(recipe: Recipe) -> ClutterInputs:
    """The sections the clutter builder reads (:class:`~gtforge.scenes.clutter.ClutterInputs`).

    Raises
    ------
    ValueError
        For a recipe without a ``camera`` (AR recipes: their builder is ``scenes.ar.build_ar_scene``).
    """
    if recipe.camera is None:
        raise ValueError("clutter scenes need the recipe's camera section (AR recipes use scenes.ar)")
    return ClutterInputs(seed=recipe.seed, scenes=recipe.scenes, camera=recipe.camera, clutter=recipe.clutter,
                         lights=recipe.lights, appearance=recipe.appearance, target_sets=tuple(recipe.target_sets),
                         distractor_sets=tuple(recipe.distractor_sets))
