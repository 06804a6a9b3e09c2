"""Draws shared by the scene builders, each written once: a camera pose on the view sphere (the clutter views and
view control's candidates) and the instances of an object set (clutter drops and AR placement).

The order of the draws on the caller's generator is part of every dataset's bytes (``core/rng.py``): changing it
changes the output of every recipe, so it is fixed here and stated in each docstring.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ..config.camera import CameraConfig
from ..config.objects import ObjectSet
from ..core.description import View
from ..core.geometry import look_at_opencv, spherical_to_cartesian
from ..core.library import ModelLibrary
from ..core.rng import uniform


def draw_view(rng: np.random.Generator, camera: CameraConfig, centers: np.ndarray | None = None) -> View:
    """One camera pose on a sphere around the look-at target, drawn from ``rng``.

    Draw order: distance (m) from ``camera.distance``, elevation above the floor from ``camera.elevation_deg``,
    azimuth about world +z from ``camera.azimuth_deg``, in-plane roll about the optical axis from
    ``camera.inplane_deg``; then, only when ``centers`` holds points, the index of the one aimed at
    (``look_at: object``); then the look-at jitter, uniform in [-j, j] per axis (j = ``camera.look_at.jitter``).
    Every draw is uniform.

    Parameters
    ----------
    rng : numpy.random.Generator
        The view's stream (``scene_rng(seed, scene, 'views', v[, k])``).
    camera : CameraConfig
        Ranges, look-at point and jitter, intrinsics, image size, near/far planes, lens.
    centers : (n, 3) float64 or None
        World points to aim at (target centres, view control's ``look_at: object``); None or empty:
        ``camera.look_at.center``.

    Returns
    -------
    View
        OpenCV camera (``core.geometry.look_at_opencv``): eye at the target + ``spherical_to_cartesian(d, az, el)``,
        looking at the target, rolled by the drawn angle; K, size, znear, zfar and the lens from ``camera``.
    """
    cam = camera
    d = float(uniform(rng, cam.distance.min, cam.distance.max))
    el = math.radians(float(uniform(rng, cam.elevation_deg.min, cam.elevation_deg.max)))
    az = math.radians(float(uniform(rng, cam.azimuth_deg.min, cam.azimuth_deg.max)))
    roll = math.radians(float(uniform(rng, cam.inplane_deg.min, cam.inplane_deg.max)))
    if centers is not None and len(centers):
        base = centers[int(rng.integers(len(centers)))]
    else:
        base = np.asarray(cam.look_at.center, dtype=np.float64)
    j = cam.look_at.jitter
    target = base + uniform(rng, [-j] * 3, [j] * 3)
    eye = target + spherical_to_cartesian(d, az, el)
    return View(K=cam.K(), width=cam.width, height=cam.height,
                world_T_cam=look_at_opencv(eye, target, inplane_rad=roll), znear=cam.znear, zfar=cam.zfar,
                **cam.view_lens())


def draw_set_members(rng: np.random.Generator, object_set: ObjectSet, library: ModelLibrary) -> Iterator[int]:
    """The ``obj_id`` of each instance one scene holds of an object set, drawn from ``rng``.

    Draw order: the instance count n, uniform in {``count.min`` .. ``count.max``}, when the first instance is
    asked for; then per instance, just before it is yielded, its model, uniform among the set's members
    (``library.set_ids[object_set.name]``). The caller's own draws for an instance (its pose) come between
    these, on the same generator, as when the loop was written out in each builder.

    Parameters
    ----------
    rng : numpy.random.Generator
        The scene's geometry stream (``objects`` or ``distractors``).
    object_set : ObjectSet
    library : ModelLibrary
        The library holding the set's models.

    Yields
    ------
    obj_id : int
    """
    ids = library.set_ids[object_set.name]
    n = int(rng.integers(object_set.count.min, object_set.count.max + 1))
    for _ in range(n):
        yield int(ids[int(rng.integers(len(ids)))])
