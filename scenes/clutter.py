"""Scene builder for physics clutter: objects dropped over a plane or into a bin.

:func:`build_scene` turns (recipe, asset library, scene index) into a
:class:`~gtforge.core.description.SceneDescription` with *drop* poses; the
physics stage (``scenes.physics``) settles them. Pure: no pybullet, no GL.
Every draw comes from :func:`~gtforge.core.rng.scene_rng`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..assets.loaders import AssetLibrary
from ..config.schema import Recipe
from ..config.sources import resolve_source
from ..core.description import Floor, Light, ObjectInstance, SceneDescription, StaticBox, View
from ..core.geometry import look_at_opencv, make_pose, spherical_to_cartesian
from ..core.rng import random_rotation, scene_rng, uniform


def model_center(library: AssetLibrary, obj_id: int) -> np.ndarray:
    """Centre (3,) of the model's axis-aligned bounding box in the model frame, metres."""
    b = library.get(obj_id).mesh.bounds
    return 0.5 * (b[0] + b[1])


def model_radius(library: AssetLibrary, obj_id: int) -> float:
    """Radius (m) of the sphere around :func:`model_center` that contains every vertex of the model."""
    v = library.get(obj_id).mesh.vertices
    return float(np.linalg.norm(v - model_center(library, obj_id), axis=1).max())


def floor_slab(size: float, thickness: float = 0.05) -> StaticBox:
    """Static box whose top face is the floor plane z = 0 (used by physics)."""
    return StaticBox(
        extents=np.array([size, size, thickness]),
        world_T_box=make_pose(np.eye(3), [0.0, 0.0, -thickness / 2.0]),
        color=np.zeros(3),
    )


def bin_walls(size_xy, height: float, thickness: float, color) -> tuple[StaticBox, ...]:
    """Four static walls around an inner rectangle ``size_xy`` (m) centred at the origin, standing on z = 0."""
    sx, sy = size_xy
    t, h = thickness, height
    c = np.asarray(color, dtype=np.float64)
    specs = [
        ((t, sy + 2 * t, h), (+(sx + t) / 2, 0.0)),
        ((t, sy + 2 * t, h), (-(sx + t) / 2, 0.0)),
        ((sx, t, h), (0.0, +(sy + t) / 2)),
        ((sx, t, h), (0.0, -(sy + t) / 2)),
    ]
    return tuple(
        StaticBox(extents=np.array(e, dtype=np.float64), world_T_box=make_pose(np.eye(3), [x, y, h / 2]), color=c)
        for e, (x, y) in specs
    )


def sample_objects(recipe: Recipe, library: AssetLibrary, scene_index: int, max_tries: int = 50) -> list[ObjectInstance]:
    """Draw the scene's objects and their drop poses (before physics).

    Each object set contributes ``count`` ~ U{min..max} instances, each a
    uniformly chosen member of the set, with a uniform random rotation, its
    bounding-box centre at a uniform position in the drop region. Drop poses
    never interpenetrate (interpenetration makes physics eject objects): a
    position whose bounding sphere meets an earlier object's is redrawn up to
    ``max_tries`` times, after which the object is stacked above the highest
    one so far.
    """
    rng = scene_rng(recipe.seed, scene_index, "objects")
    drop = recipe.clutter.drop
    hx, hy = drop.half_extent
    if recipe.clutter.support == "bin":
        bx, by = recipe.clutter.bin.size
        hx, hy = min(hx, bx / 2 * 0.8), min(hy, by / 2 * 0.8)
    out: list[ObjectInstance] = []
    spheres: list[tuple[np.ndarray, float]] = []
    for s in recipe.objects:
        ids = library.set_ids[s.name]
        n = int(rng.integers(s.count.min, s.count.max + 1))
        for _ in range(n):
            obj_id = int(ids[int(rng.integers(len(ids)))])
            R = random_rotation(rng)
            radius = model_radius(library, obj_id)
            for _try in range(max_tries):
                pos = np.array([uniform(rng, -hx, hx), uniform(rng, -hy, hy),
                                uniform(rng, drop.height.min, drop.height.max)])
                pos[2] = max(pos[2], radius)
                if all(np.linalg.norm(pos - c) > radius + r for c, r in spheres):
                    break
            else:
                top = max(c[2] + r for c, r in spheres)
                pos[2] = top + radius + 1e-3
            spheres.append((pos, radius))
            c = model_center(library, obj_id)
            world_T_model = make_pose(R, pos - R @ c)
            out.append(
                ObjectInstance(
                    inst_id=len(out) + 1,
                    obj_id=obj_id,
                    world_T_model=world_T_model,
                    mass=s.mass,
                    friction=s.friction,
                    restitution=s.restitution,
                )
            )
    return out


def sample_views(recipe: Recipe, scene_index: int, num_views: int) -> tuple[View, ...]:
    """Camera poses on a sphere around the look-at target (one generator per view)."""
    cam = recipe.camera
    K = cam.K()
    views = []
    for v in range(num_views):
        rng = scene_rng(recipe.seed, scene_index, "views", v)
        d = float(uniform(rng, cam.distance.min, cam.distance.max))
        el = math.radians(float(uniform(rng, cam.elevation_deg.min, cam.elevation_deg.max)))
        az = math.radians(float(uniform(rng, cam.azimuth_deg.min, cam.azimuth_deg.max)))
        roll = math.radians(float(uniform(rng, cam.inplane_deg.min, cam.inplane_deg.max)))
        j = cam.look_at.jitter
        target = np.asarray(cam.look_at.center, dtype=np.float64) + uniform(rng, [-j] * 3, [j] * 3)
        eye = target + spherical_to_cartesian(d, az, el)
        views.append(
            View(K=K, width=cam.width, height=cam.height, world_T_cam=look_at_opencv(eye, target, inplane_rad=roll),
                 znear=cam.znear, zfar=cam.zfar)
        )
    return tuple(views)


def sample_appearance(recipe: Recipe, scene_index: int, objects: list[ObjectInstance], base_dir) -> dict:
    """Colours, floor, lights for one scene (stream 'appearance')."""
    rng = scene_rng(recipe.seed, scene_index, "appearance")
    app, lc = recipe.appearance, recipe.lights
    if app.objects == "random":
        objects = [
            replace(o, color=np.append(uniform(rng, app.object_color.min, app.object_color.max), 1.0)) for o in objects
        ]
    floor_color = uniform(rng, app.floor_color.min, app.floor_color.max)
    texture = None
    if app.floor_textures:
        choice = app.floor_textures[int(rng.integers(len(app.floor_textures)))]
        texture = str(resolve_source(choice, base_dir)[0])
    n_lights = int(rng.integers(lc.count.min, lc.count.max + 1))
    lights = []
    for _ in range(n_lights):
        az = rng.random() * 2 * math.pi
        el = math.radians(float(uniform(rng, lc.elevation_deg.min, lc.elevation_deg.max)))
        direction = -spherical_to_cartesian(1.0, az, el)
        lights.append(Light(direction=direction, color=uniform(rng, lc.color.min, lc.color.max),
                            intensity=float(uniform(rng, lc.intensity.min, lc.intensity.max))))
    ambient = float(uniform(rng, lc.ambient.min, lc.ambient.max))
    return dict(objects=objects, floor_color=floor_color, texture=texture, lights=tuple(lights), ambient=ambient)


def build_scene(recipe: Recipe, library: AssetLibrary, scene_index: int, base_dir=".") -> SceneDescription:
    """Describe scene ``scene_index`` of a clutter recipe, with objects at their drop poses.

    Parameters
    ----------
    recipe : Recipe
    library : AssetLibrary
        Supplies model ids per object set and model bounds.
    scene_index : int
        0-based.
    base_dir : path
        Folder the recipe's relative paths are relative to (floor textures).

    Returns
    -------
    SceneDescription
        ``views`` holds ``recipe.views_in_scene(scene_index)`` cameras.
    """
    objects = sample_objects(recipe, library, scene_index)
    app = sample_appearance(recipe, scene_index, objects, base_dir)
    cl = recipe.clutter
    floor = Floor(size=cl.plane_size, color=app["floor_color"], texture=app["texture"], tile=recipe.appearance.floor_texture_tile)
    walls: tuple[StaticBox, ...] = ()
    if cl.support == "bin":
        walls = bin_walls(cl.bin.size, cl.bin.height, cl.bin.wall_thickness, color=np.clip(app["floor_color"] * 0.7, 0, 1))
    return SceneDescription(
        scene_index=scene_index,
        objects=tuple(app["objects"]),
        floor=floor,
        walls=walls,
        lights=app["lights"],
        ambient=app["ambient"],
        background_color=np.asarray(recipe.appearance.background_color, dtype=np.float64),
        views=sample_views(recipe, scene_index, recipe.views_in_scene(scene_index)),
        shadows=recipe.lights.shadows,
    )
