"""Recipe checks that need the loaded models: does each object, and does each scene's pile, fit the space?

Run by :func:`~gtforge.pipeline.build._check_inputs` once the asset library is loaded, before anything is
written or rendered; a failure is a :class:`~gtforge.config.schema.RecipeError` naming the recipe field to
change. Only clutter scenes are checked (AR scenes place objects in the photo's space, not in
``clutter``). The rules (also in docs/conventions.md, "Recipe limits"):

* **Size.** A model's size is its bounding-sphere diameter (twice
  :attr:`~gtforge.assets.loaders.Asset.radius`, the sphere the drop placement uses), in metres after
  ``scale``. It must not exceed the workspace side ``2 * clutter.workspace_half_extent`` and, with
  ``support: bin``, the diagonal of the bin's inner rectangle; otherwise ``objects[i].scale`` is refused.
* **Fit.** The expected volume of the largest draw, the sum over object sets of ``count.max`` times
  the set's mean model volume, must fit the space the pile can take: the support area (the bin's inner
  rectangle; on a plane, the square around the drop region grown by the largest model size on every
  side, at most the workspace square; in a room, that square cut to the room's inner rectangle) times the
  pile height (the highest drop, ``clutter.drop.height.max``, or the bin's height if higher: a pile above
  the highest drop would have objects released inside it) times :data:`PACKING_FRACTION`. A model's volume
  is its enclosed volume when the mesh is watertight, else its convex hull's (pybullet collides convex
  hulls). Otherwise the ``objects[i].count.max`` of the set with the largest share is refused.

Distractor sets (``role: distractor``, their own asset library) take space like targets: both rules
count them, and ``objects[i]`` names the set in the recipe's ``objects`` list whatever its role.
"""

from __future__ import annotations

import math

import numpy as np
import trimesh

from ..config.base import RecipeError
from ..config.clutter import ClutterConfig
from ..config.objects import ObjectSet
from ..config.schema import Recipe
from ..core.library import ModelLibrary

#: Densest fraction of space a random pile of convex bodies fills: about 0.64 for spheres (random close
#: packing) and up to about 0.74 for ellipsoids (Donev et al., Science 303:990, 2004). We take the upper
#: value so that only piles that cannot fit are refused.
PACKING_FRACTION = 0.74


def model_volume(mesh: trimesh.Trimesh) -> float:
    """Solid volume (m^3) a model takes: enclosed volume of a watertight mesh, else its convex hull's
    (0 for a flat model, whose hull has no volume)."""
    if mesh.is_watertight:
        return abs(float(mesh.volume))
    try:
        with np.errstate(invalid="ignore", divide="ignore"):  # a flat hull's centre of mass divides by 0
            return float(mesh.convex_hull.volume)
    except Exception:  # noqa: BLE001 - flat or collinear points: qhull and trimesh raise assorted types
        return 0.0


def _size_limit(clutter: ClutterConfig) -> tuple[float, str]:
    """Largest model size (m) the clutter space takes, and what sets it."""
    cl = clutter
    limit, what = 2.0 * cl.workspace_half_extent, "the workspace (2 x clutter.workspace_half_extent)"
    if cl.support in ("bin", "room"):
        diag = math.hypot(*getattr(cl, cl.support).size)
        if diag < limit:
            limit, what = diag, f"the {cl.support} (diagonal of clutter.{cl.support}.size)"
    return limit, what


def _sets(objects, library: ModelLibrary,
          distractors: ModelLibrary | None) -> list[tuple[int, ObjectSet, ModelLibrary]]:
    """(index in ``objects`` (the recipe's), object set, the library holding its models) of every set, targets and
    distractors (the latter only when their library is given)."""
    out = []
    for i, s in enumerate(objects):
        lib = library if s.role == "target" else distractors
        if lib is not None:
            out.append((i, s, lib))
    return out


def check_object_sizes(objects, clutter: ClutterConfig, library: ModelLibrary, recipe_file: str,
                       distractors: ModelLibrary | None = None) -> None:
    """Refuse a model larger than the workspace, the bin or the room (rule in the module docstring); ``objects``
    are the recipe's object sets (all of them, in recipe order: errors name ``objects[i]``), ``clutter`` its section.

    Raises
    ------
    RecipeError
        At ``objects[i].scale``, naming the model, its size and the limit (m).
    """
    limit, what = _size_limit(clutter)
    for i, s, lib in _sets(objects, library, distractors):
        for obj_id in lib.set_ids[s.name]:
            size = 2.0 * lib.get(obj_id).radius
            if size > limit:
                a = lib.get(obj_id)
                raise RecipeError(recipe_file, f"objects[{i}].scale",
                                  f"at scale {s.scale:g} {a.class_name} ({a.source}) is {size:.3g} m across "
                                  f"(bounding sphere), larger than {what}: {limit:.3g} m")


def _capacity(clutter: ClutterConfig, largest: float) -> tuple[float, str]:
    """Volume (m^3) the pile can take, given the largest model size (m), and how it was computed."""
    cl = clutter
    if cl.support == "bin":
        area, where, height = cl.bin.size[0] * cl.bin.size[1], "the bin", max(cl.bin.height, cl.drop.height.max)
    else:
        side = min(2.0 * cl.workspace_half_extent, 2.0 * max(cl.drop.half_extent) + 2.0 * largest)
        area, where, height = side * side, "the drop region grown by the largest model", cl.drop.height.max
        if cl.support == "room":
            area = min(side, cl.room.size[0]) * min(side, cl.room.size[1])
            where += " (within the room)"
    cap = area * height * PACKING_FRACTION
    return cap, f"{where} holds {area:.3g} m^2 x {height:.3g} m high x {PACKING_FRACTION} packing = {cap * 1e3:.3g} L"


def check_counts_fit(objects, clutter: ClutterConfig, library: ModelLibrary, recipe_file: str,
                     distractors: ModelLibrary | None = None) -> None:
    """Refuse object counts (targets and distractors) whose pile cannot fit the clutter space (rule in the
    module docstring); ``objects`` and ``clutter`` as :func:`check_object_sizes`.

    Raises
    ------
    RecipeError
        At ``objects[i].count.max`` of the set with the largest volume share, with the figures (litres).
    """
    shares, largest, index = [], 0.0, []
    for i, s, lib in _sets(objects, library, distractors):
        index.append(i)
        ids = lib.set_ids[s.name]
        vols = [model_volume(lib.get(obj_id).mesh) for obj_id in ids]
        shares.append(s.count.max * float(np.mean(vols)) if vols else 0.0)
        largest = max([largest] + [2.0 * lib.get(obj_id).radius for obj_id in ids])
    total = sum(shares)
    cap, how = _capacity(clutter, largest)
    if total > cap:
        k = int(np.argmax(shares))
        i = index[k]
        n = objects[i].count.max
        raise RecipeError(recipe_file, f"objects[{i}].count.max",
                          f"the largest draw cannot fit: {total * 1e3:.3g} L of objects in all ({n} of this set: "
                          f"{shares[k] * 1e3:.3g} L), but {how}; lower count.max or enlarge the space")


def check_fit(recipe: Recipe, library: ModelLibrary, recipe_file: str,
              distractors: ModelLibrary | None = None) -> None:
    """Both checks above, for clutter scenes (AR scenes pass), over the target sets (``library``) and the
    distractor sets (``distractors``, when given). Raises RecipeError."""
    if recipe.scene_kind != "clutter" or not recipe.objects:
        return
    check_object_sizes(recipe.objects, recipe.clutter, library, recipe_file, distractors)
    check_counts_fit(recipe.objects, recipe.clutter, library, recipe_file, distractors)
