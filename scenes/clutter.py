"""Scene builder for physics clutter: targets and distractors dropped over a plane, into a bin or into a room.

:func:`build_scene` turns (:class:`ClutterInputs`: the recipe sections it reads; model libraries; scene index)
into a :class:`~gtforge.core.description.SceneDescription` with *drop* poses; the physics stage
(``scenes.physics``) settles them. Pure: no pybullet, no GL. The pipeline makes the inputs from the recipe
(``pipeline/inputs.py``); the functions below take only the sections they read.
Every draw comes from :func:`~gtforge.core.rng.scene_rng`:

* geometry: stream ``objects`` (targets: which models, their drop poses), then stream ``distractors``
  (the same for distractors, avoiding the targets' spheres), streams ``views`` (cameras). Adding
  distractor sets never moves a target, and no appearance setting changes any of these draws.
* appearance (``rgb/`` only): stream ``appearance`` and its sub-streams, one per part so that one
  setting leaves the others' draws alone: ``appearance`` (floor, walls, backdrop),
  ``appearance, 1, inst_id`` (a target's material), ``appearance, 2, inst_id`` (a distractor's),
  ``appearance, 3`` (lights and ambient).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..assets.lighting import kelvin_to_rgb, lights_from_equirect
from ..assets.textures import jitter_hsv, load_texture, texture_pool
from ..config.appearance import AppearanceConfig, HsvJitter, LookWeights
from ..config.base import Weights
from ..config.camera import CameraConfig
from ..config.clutter import ClutterConfig
from ..config.lighting import LightConfig
from ..config.objects import ObjectSet
from ..config.schema import ScenesConfig
from ..config.sources import resolve_source
from ..core.description import Backdrop, Floor, Light, Material, ObjectInstance, SceneDescription, StaticBox, View
from ..core.geometry import make_pose, spherical_to_cartesian
from ..core.library import ModelLibrary
from ..core.rng import random_rotation, scene_rng, uniform
from .sampling import draw_set_members, draw_view

#: Roughness of floors and walls (glTF roughnessFactor): matte, as the plain floors and bins always were.
FLOOR_ROUGHNESS = 0.9
WALL_ROUGHNESS = 0.8
#: Inner cone of a spot light as a fraction of its outer half-angle (the light fades between them).
SPOT_INNER_FRACTION = 0.75
#: Smallest side of the random crop of a backdrop photo, as a fraction of the photo's side.
PHOTO_CROP_MIN = 0.5
#: Sub-stream keys of the ``appearance`` stream (after the scene index and the stream id).
TARGET_LOOK, DISTRACTOR_LOOK, LIGHTS = 1, 2, 3

_IDENTITY_HSV = (0.0, 1.0, 1.0)


@dataclass(frozen=True)
class ClutterInputs:
    """What the clutter builder reads of a recipe: the seed and the sections it uses, nothing else.

    Made by the pipeline (``pipeline.inputs.clutter_inputs``), where the recipe is taken apart.

    Attributes
    ----------
    seed : int
        Recipe ``seed`` (every stream of ``core/rng.py``).
    scenes : ScenesConfig
        Views per scene (``views_in_scene``).
    camera : CameraConfig
        Intrinsics, view ranges, look-at point (also the point lights shine at).
    clutter : ClutterConfig
        Support (plane, bin, room), drop region.
    lights : LightConfig
    appearance : AppearanceConfig
    target_sets : tuple of ObjectSet
        The ``role: target`` sets in recipe order (the target library's sets).
    distractor_sets : tuple of ObjectSet
        The ``role: distractor`` sets in recipe order (the distractor library's sets).
    """

    seed: int
    scenes: ScenesConfig
    camera: CameraConfig
    clutter: ClutterConfig
    lights: LightConfig
    appearance: AppearanceConfig
    target_sets: tuple[ObjectSet, ...]
    distractor_sets: tuple[ObjectSet, ...] = ()


@dataclass(frozen=True)
class SceneAppearance:
    """Everything of one scene that changes ``rgb/`` only (:func:`sample_appearance`).

    Attributes
    ----------
    objects, distractors : tuple of ObjectInstance
        The scene's targets and distractors with ``material`` set.
    floor_color : (3,) float64
        RGB in [0, 1].
    floor_material : Material
    wall_color : (3,) float64
    wall_material : Material or None
        None on a plane (no walls).
    backdrop : Backdrop
    lights : tuple of Light
    ambient : float
    """

    objects: tuple[ObjectInstance, ...]
    distractors: tuple[ObjectInstance, ...]
    floor_color: np.ndarray
    floor_material: Material
    wall_color: np.ndarray
    wall_material: Material | None
    backdrop: Backdrop
    lights: tuple[Light, ...]
    ambient: float


def floor_slab(size: float, thickness: float = 0.05) -> StaticBox:
    """Static box whose top face is the floor plane z = 0 (used by physics)."""
    return StaticBox(
        extents=np.array([size, size, thickness]),
        world_T_box=make_pose(np.eye(3), [0.0, 0.0, -thickness / 2.0]),
        color=np.zeros(3),
    )


def bin_walls(size_xy, height: float, thickness: float, color) -> tuple[StaticBox, ...]:
    """Four static walls around an inner rectangle ``size_xy`` (m) centred at the origin, standing on z = 0.

    Used for bins and rooms alike. Order: +x, -x, +y, -y wall; the x walls span the corners.

    Parameters
    ----------
    size_xy : (2,) float
        Inner x, y size, metres.
    height, thickness : float
        Wall height and thickness, metres.
    color : (3,) float
        RGB in [0, 1] of every wall.
    """
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


def support_walls(clutter: ClutterConfig, color) -> tuple[StaticBox, ...]:
    """The static walls of the support: the bin's or the room's (``clutter.support``); none on a plane."""
    cl = clutter
    if cl.support == "bin":
        return bin_walls(cl.bin.size, cl.bin.height, cl.bin.wall_thickness, color)
    if cl.support == "room":
        return bin_walls(cl.room.size, cl.room.height, cl.room.wall_thickness, color)
    return ()


def floor_size(clutter: ClutterConfig) -> float:
    """Side (m) of the visible floor square: ``clutter.plane_size``, or the room with its walls' footprint."""
    cl = clutter
    if cl.support == "room":
        return float(max(cl.room.size) + 2.0 * cl.room.wall_thickness)
    return float(cl.plane_size)


def drop_half_extent(clutter: ClutterConfig) -> tuple[float, float]:
    """x, y half-size (m) of the drop region: ``clutter.drop.half_extent``, kept within 80 % of a bin's inner
    half-size."""
    hx, hy = clutter.drop.half_extent
    if clutter.support == "bin":
        bx, by = clutter.bin.size
        hx, hy = min(hx, bx / 2 * 0.8), min(hy, by / 2 * 0.8)
    return hx, hy


def _drop_instances(rng: np.random.Generator, clutter: ClutterConfig, object_sets, library: ModelLibrary,
                    spheres: list, max_tries: int) -> list[ObjectInstance]:
    """Draw instances of ``object_sets`` and their drop poses from ``rng``, avoiding (and extending) ``spheres``."""
    drop = clutter.drop
    hx, hy = drop_half_extent(clutter)
    out: list[ObjectInstance] = []
    for s in object_sets:
        for obj_id in draw_set_members(rng, s, library):
            R = random_rotation(rng)
            radius = library.get(obj_id).radius
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
            c = library.get(obj_id).center
            world_T_model = make_pose(R, pos - R @ c)
            out.append(ObjectInstance(inst_id=len(out) + 1, obj_id=obj_id, world_T_model=world_T_model,
                                      mass=s.mass, friction=s.friction, restitution=s.restitution))
    return out


def sample_geometry(inputs: ClutterInputs, library: ModelLibrary, scene_index: int,
                    distractors: ModelLibrary | None = None, max_tries: int = 50,
                    redraw: int = 0) -> tuple[list[ObjectInstance], list[ObjectInstance]]:
    """Draw the scene's targets and distractors and their drop poses (before physics).

    Each object set contributes ``count`` ~ U{min..max} instances, each a uniformly chosen member of
    the set, with a uniform random rotation, its bounding-box centre at a uniform position in the drop
    region (:func:`drop_half_extent`, heights ``clutter.drop.height``). Drop poses never interpenetrate
    (interpenetration makes physics eject objects): a position whose bounding sphere meets an earlier
    object's is redrawn up to ``max_tries`` times, after which the object is stacked above the highest
    one so far. Targets come first, from stream ``objects``; distractors then from stream
    ``distractors``, avoiding the targets, so the targets' draws do not depend on the distractors.

    Parameters
    ----------
    inputs : ClutterInputs
        ``seed``, ``clutter``, ``target_sets``, ``distractor_sets``.
    library : ModelLibrary
        Target models (``inputs.target_sets``).
    scene_index : int
    distractors : ModelLibrary or None
        Distractor models (``inputs.distractor_sets``); None: no distractors.
    max_tries : int
    redraw : int
        0: the streams as they always were; k > 0: their sub-stream k (view control's scene redraws).

    Returns
    -------
    targets, distractors : lists of ObjectInstance
        inst_ids 1..n and 1..k (separate id spaces), ``material`` None (see :func:`sample_appearance`).
    """
    spheres: list[tuple[np.ndarray, float]] = []
    again = (redraw,) if redraw else ()  # redraw 0: the streams as they always were
    targets = _drop_instances(scene_rng(inputs.seed, scene_index, "objects", *again), inputs.clutter,
                              inputs.target_sets, library, spheres, max_tries)
    extra: list[ObjectInstance] = []
    if distractors is not None and inputs.distractor_sets:
        extra = _drop_instances(scene_rng(inputs.seed, scene_index, "distractors", *again), inputs.clutter,
                                inputs.distractor_sets, distractors, spheres, max_tries)
    return targets, extra


def sample_views(camera: CameraConfig, seed: int, scene_index: int, num_views: int) -> tuple[View, ...]:
    """Camera poses on a sphere around the look-at target: view v is :func:`~gtforge.scenes.sampling.draw_view` on
    its own generator ``scene_rng(seed, scene_index, 'views', v)`` (``camera``'s ranges, look-at point and jitter).

    Returns
    -------
    tuple of View
        ``num_views`` views.
    """
    return tuple(draw_view(scene_rng(seed, scene_index, "views", v), camera) for v in range(num_views))


# ---------------------------------------------------------------------------------------------- appearance

@functools.lru_cache(maxsize=32)
def _pool(sources: tuple[str, ...], base_dir: str):
    """The texture pool of some sources (``assets.textures.texture_pool``), built once per process."""
    return texture_pool(list(sources), base_dir)


def _choose(rng: np.random.Generator, weights: Weights) -> str:
    """One choice name of ``weights``, drawn with probability weight / sum."""
    names, p = weights.probabilities()
    return names[int(rng.choice(len(names), p=p))]


def _hsv(rng: np.random.Generator, jitter: HsvJitter) -> np.ndarray:
    """(3,) hue shift (turns), saturation and value factors drawn from ``appearance.hsv_jitter``."""
    j = jitter
    return np.array([float(uniform(rng, r.min, r.max)) for r in (j.hue, j.saturation, j.value)])


def _asset_color(library: ModelLibrary, obj_id: int) -> np.ndarray:
    """(4,) RGBA of an asset without a visual: its URDF colour, else mid grey."""
    c = library.get(obj_id).base_color
    return np.asarray(c, dtype=np.float64) if c is not None else np.array([0.7, 0.7, 0.7, 1.0])


def sample_material(rng: np.random.Generator, appearance: AppearanceConfig, weights: LookWeights,
                    library: ModelLibrary, obj_id: int, base_dir) -> Material:
    """The material of one object instance, drawn from ``rng`` (its own appearance sub-stream).

    The mode is drawn by ``weights`` (asset / texture / color), metallic and roughness from
    ``appearance.metallic`` / ``roughness``, the hue/saturation/value jitter from ``appearance.hsv_jitter``
    (``color`` mode: applied to the drawn colour, the material's ``hsv`` then the identity); ``texture``
    mode: an image of ``appearance.textures`` and a tile (m per repeat) from ``appearance.texture_tile``.

    Returns
    -------
    Material
    """
    app = appearance
    mode = _choose(rng, weights)
    metallic = float(uniform(rng, app.metallic.min, app.metallic.max))
    roughness = float(uniform(rng, app.roughness.min, app.roughness.max))
    hsv = _hsv(rng, app.hsv_jitter)
    if mode == "color":
        rgb = jitter_hsv(uniform(rng, app.object_color.min, app.object_color.max), hsv)
        return Material(mode="color", base_color=np.append(np.clip(rgb, 0.0, 1.0), 1.0), metallic=metallic,
                        roughness=roughness, hsv=np.array(_IDENTITY_HSV))
    if mode == "texture":
        tex = _pool(tuple(app.textures), str(base_dir)).draw(rng)
        tile = float(uniform(rng, app.texture_tile.min, app.texture_tile.max))
        return Material(mode="texture", base_color=np.ones(4), metallic=metallic, roughness=roughness, texture=tex,
                        tile=tile, projection="auto", hsv=hsv)
    return Material(mode="asset", base_color=_asset_color(library, obj_id), metallic=metallic, roughness=roughness,
                    hsv=hsv)


def _surface_material(rng: np.random.Generator, appearance: AppearanceConfig, mode: str, color, roughness: float,
                      base_dir) -> Material:
    """A floor or wall material: a tiled texture of the floor's pool, or a plain ``color`` (3,)."""
    app = appearance
    hsv = _hsv(rng, app.hsv_jitter)
    if mode == "texture":
        tex = _pool(tuple(app.floor_pool()), str(base_dir)).draw(rng)
        tile = float(uniform(rng, app.floor_texture_tile.min, app.floor_texture_tile.max))
        return Material(mode="texture", base_color=np.ones(4), roughness=roughness, texture=tex, tile=tile,
                        projection="box", hsv=hsv)
    rgb = np.clip(jitter_hsv(np.asarray(color, dtype=np.float64), hsv), 0.0, 1.0)
    return Material(mode="color", base_color=np.append(rgb, 1.0), roughness=roughness, hsv=np.array(_IDENTITY_HSV))


def sample_backdrop(rng: np.random.Generator, appearance: AppearanceConfig, base_dir) -> Backdrop:
    """What the image shows where no surface is hit, by ``appearance.backdrop``: the plain
    ``background_color``, a sky (horizon and zenith colours drawn), or a photo of ``backdrop_photos`` with a
    random square-fraction crop (side in [:data:`PHOTO_CROP_MIN`, 1] of the photo's sides)."""
    app = appearance
    kind = _choose(rng, app.backdrop)
    if kind == "sky":
        horizon = uniform(rng, app.sky_horizon.min, app.sky_horizon.max)
        zenith = uniform(rng, app.sky_zenith.min, app.sky_zenith.max)
        return Backdrop(kind="sky", color=horizon, zenith=zenith)
    if kind == "photo":
        photo = _pool(tuple(app.backdrop_photos), str(base_dir)).draw(rng)
        side = float(uniform(rng, PHOTO_CROP_MIN, 1.0))
        x0, y0 = uniform(rng, [0.0, 0.0], [1.0 - side, 1.0 - side])
        return Backdrop(kind="photo", color=np.asarray(app.background_color, dtype=np.float64), photo=photo,
                        crop=np.array([x0, y0, x0 + side, y0 + side]))
    return Backdrop(kind="color", color=np.asarray(app.background_color, dtype=np.float64))


@functools.lru_cache(maxsize=8)
def _environment(path: str, n_lights: int):
    """``lights_from_equirect`` of an environment image file, computed once per process."""
    return lights_from_equirect(load_texture(path), n_lights)


def _rot_z(angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` (radians) about world +z."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def sample_lights(rng: np.random.Generator, lights: LightConfig, look_at,
                  base_dir) -> tuple[tuple[Light, ...], float]:
    """The scene's lights and ambient level (rule in :class:`~gtforge.config.lighting.LightConfig`).

    Point and spot lights stand at ``spherical_to_cartesian(distance, azimuth, elevation)`` from the look-at
    point ``look_at`` ((3,) world point, metres: ``camera.look_at.center``) and shine towards it: ``direction``
    is the unit vector from the light to that point. Environment lights (``lights.environment``) are added as
    directional lights: each region's direction (turned about +z by a random azimuth when ``rotate``), colour and
    intensity ``environment.intensity`` x its share w_i of the image's light. The rest of the image's light,
    ``environment.intensity`` x (1 - sum w_i), is added to the ambient level divided by pi: pyrender adds
    ``ambient x base colour`` while a Lambertian surface under irradiance E reflects ``base colour x E / pi``,
    so this ambient is the radiance of a uniform sky giving that irradiance.

    Returns
    -------
    lights : tuple of Light
    ambient : float
    """
    lc = lights
    target = np.asarray(look_at, dtype=np.float64)
    n = int(rng.integers(lc.count.min, lc.count.max + 1))
    lights = []
    for _ in range(n):
        kind = _choose(rng, lc.kinds)
        az = rng.random() * 2 * math.pi
        el = math.radians(float(uniform(rng, lc.elevation_deg.min, lc.elevation_deg.max)))
        toward = -spherical_to_cartesian(1.0, az, el)  # unit, from the light towards the target
        kelvin = None
        if lc.temperature_k is not None:
            kelvin = float(uniform(rng, lc.temperature_k.min, lc.temperature_k.max))
            color = np.asarray(kelvin_to_rgb(kelvin), dtype=np.float64)
        else:
            color = uniform(rng, lc.color.min, lc.color.max)
        if kind == "directional":
            lights.append(Light(direction=toward, color=color, intensity=float(uniform(rng, lc.intensity.min,
                                                                                          lc.intensity.max)),
                                kind="directional", temperature_k=kelvin, shadows=lc.shadows))
            continue
        d = float(uniform(rng, lc.distance.min, lc.distance.max))
        intensity = float(uniform(rng, lc.point_intensity.min, lc.point_intensity.max))
        outer = math.radians(float(uniform(rng, lc.spot_cone_deg.min, lc.spot_cone_deg.max)))
        lights.append(Light(direction=toward, color=color, intensity=intensity, kind=kind,
                            position=target + spherical_to_cartesian(d, az, el),
                            inner_cone=SPOT_INNER_FRACTION * outer if kind == "spot" else 0.0,
                            outer_cone=outer if kind == "spot" else math.pi / 4,
                            temperature_k=kelvin, shadows=lc.shadows))
    ambient = float(uniform(rng, lc.ambient.min, lc.ambient.max))
    env = lc.environment
    if env is not None:
        path = str(resolve_source(env.image, base_dir)[0])
        regions, _ambient_color = _environment(path, env.lights)
        R = _rot_z(rng.random() * 2 * math.pi) if env.rotate else np.eye(3)
        for direction, color, weight in regions:
            lights.append(Light(direction=R @ np.asarray(direction, dtype=np.float64),
                                color=np.asarray(color, dtype=np.float64), intensity=float(env.intensity * weight),
                                kind="directional", shadows=lc.shadows))
        ambient += float(env.intensity * max(0.0, 1.0 - sum(w for _, _, w in regions)) / math.pi)
    return tuple(lights), ambient


def sample_appearance(inputs: ClutterInputs, scene_index: int, objects, base_dir, library: ModelLibrary,
                      distractors=(), distractor_library: ModelLibrary | None = None) -> SceneAppearance:
    """Everything of one scene that changes ``rgb/`` only, from the ``appearance`` stream and its sub-streams.

    Parameters
    ----------
    inputs : ClutterInputs
        ``seed``, ``appearance``, ``lights``, ``camera.look_at``, ``clutter.support``, the object sets' ``look``.
    scene_index : int
    objects, distractors : sequences of ObjectInstance
        The scene's targets and distractors (their set decides ``objects[i].look``).
    base_dir : path
        Folder the recipe's relative paths are relative to.
    library, distractor_library : ModelLibrary
        Their models (asset colours, set names); ``distractor_library`` may be None when ``distractors``
        is empty.

    Returns
    -------
    SceneAppearance
    """
    app = inputs.appearance
    looks = {s.name: s.look for s in inputs.target_sets + inputs.distractor_sets}

    def dress(instances, lib, weights, key):
        out = []
        for o in instances:
            w = looks.get(lib.get(o.obj_id).set_name) or weights
            rng = scene_rng(inputs.seed, scene_index, "appearance", key, o.inst_id)
            out.append(replace(o, material=sample_material(rng, app, w, lib, o.obj_id, base_dir)))
        return tuple(out)

    dressed = dress(objects, library, app.objects, TARGET_LOOK)
    dressed_d = dress(distractors, distractor_library, app.distractors, DISTRACTOR_LOOK) if distractors else ()
    rng = scene_rng(inputs.seed, scene_index, "appearance")
    floor_color = uniform(rng, app.floor_color.min, app.floor_color.max)
    floor_mat = _surface_material(rng, app, _choose(rng, app.floor_weights()), floor_color, FLOOR_ROUGHNESS, base_dir)
    wall_color = (uniform(rng, app.wall_color.min, app.wall_color.max) if app.wall_color is not None
                  else np.clip(floor_color * 0.7, 0.0, 1.0))
    wall_mat = None
    if inputs.clutter.support != "plane":
        mode = _choose(rng, app.walls)
        wall_mat = floor_mat if mode == "floor" else _surface_material(rng, app, mode, wall_color, WALL_ROUGHNESS,
                                                                       base_dir)
    backdrop = sample_backdrop(rng, app, base_dir)
    lights, ambient = sample_lights(scene_rng(inputs.seed, scene_index, "appearance", LIGHTS), inputs.lights,
                                    inputs.camera.look_at.center, base_dir)
    return SceneAppearance(objects=dressed, distractors=dressed_d, floor_color=floor_color, floor_material=floor_mat,
                           wall_color=wall_color, wall_material=wall_mat, backdrop=backdrop, lights=lights,
                           ambient=ambient)


def build_scene(inputs: ClutterInputs, library: ModelLibrary, scene_index: int, base_dir=".",
                distractors: ModelLibrary | None = None, redraw: int = 0) -> SceneDescription:
    """Describe scene ``scene_index`` of a clutter recipe, with objects at their drop poses.

    Parameters
    ----------
    inputs : ClutterInputs
        The recipe sections the builder reads (``pipeline.inputs.clutter_inputs``).
    library : ModelLibrary
        Target models (``inputs.target_sets``): model ids per set and model bounds.
    scene_index : int
        0-based.
    base_dir : path
        Folder the recipe's relative paths are relative to (textures, photos, environment image).
    distractors : ModelLibrary or None
        Distractor models (``inputs.distractor_sets``); None: the scene has no distractors.
    redraw : int
        0: the drop poses as they always were; k > 0: drawn again from their streams' sub-stream k.

    Returns
    -------
    SceneDescription
        ``views`` holds ``inputs.scenes.views_in_scene(scene_index)`` cameras; ``walls`` the bin's or room's
        (``clutter.support``), each with the scene's wall material; ``distractors`` at their drop poses.
    """
    base_dir = Path(base_dir)
    targets, extra = sample_geometry(inputs, library, scene_index, distractors, redraw=redraw)
    app = sample_appearance(inputs, scene_index, targets, base_dir, library, extra, distractors)
    walls = tuple(StaticBox(extents=w.extents, world_T_box=w.world_T_box, color=w.color, material=app.wall_material)
                  for w in support_walls(inputs.clutter, app.wall_color))
    return SceneDescription(
        scene_index=scene_index,
        objects=app.objects,
        floor=Floor(size=floor_size(inputs.clutter), color=app.floor_color, material=app.floor_material),
        walls=walls,
        lights=app.lights,
        ambient=app.ambient,
        background_color=np.asarray(inputs.appearance.background_color, dtype=np.float64),
        views=sample_views(inputs.camera, inputs.seed, scene_index, inputs.scenes.views_in_scene(scene_index)),
        shadows=inputs.lights.shadows,
        distractors=app.distractors,
        backdrop=app.backdrop,
    )
