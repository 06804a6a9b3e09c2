"""Clutter scene descriptions (no GL, no physics): target ids and drop poses do not depend on distractors,
appearance is deterministic and never moves geometry, room walls enclose the drop region, lights stand
where the recipe puts them."""

import copy
import math
from dataclasses import fields, is_dataclass

import numpy as np
import pytest
import trimesh
import yaml
from conftest import DEFAULT_RECIPE

from gtforge.assets.lighting import kelvin_to_rgb
from gtforge.assets.loaders import AssetLibrary
from gtforge.config import load_recipe
from gtforge.config.loading import validate_recipe
from gtforge.core.geometry import transform_points
from gtforge.pipeline.inputs import clutter_inputs
from gtforge.scenes.clutter import build_scene

BASE = DEFAULT_RECIPE.parent
RAW = yaml.safe_load(DEFAULT_RECIPE.read_text())
#: The appearance and lights the tests start from (the bundled recipe's geometry, the old appearance keys).
RAW["appearance"] = {"objects": "asset", "floor_textures": ["pkg://pybullet_data/checker_blue.png",
                                                            "pkg://pybullet_data/table/table.png"],
                     "floor_texture_tile": 0.3, "background_color": [0.05, 0.05, 0.05]}
RAW["lights"] = {"count": {"min": 2, "max": 3}, "intensity": {"min": 2.0, "max": 4.5},
                 "ambient": {"min": 0.2, "max": 0.4}}
DISTRACTORS = [
    {"name": "shapes", "source": "pkg://pybullet_data/random_urdfs/01[0-4]/*.urdf", "count": {"min": 2, "max": 3},
     "role": "distractor"},
    {"name": "cubes", "source": "pkg://pybullet_data/cube_small.urdf", "count": {"min": 1, "max": 2},
     "role": "distractor"},
]


def recipe_from(mutate=None, distractors=True, first=False):
    """The bundled recipe (one view) with the distractor sets appended (or put first), then ``mutate(raw)``."""
    raw = copy.deepcopy(RAW)
    raw["scenes"]["views_per_scene"] = 2
    if distractors:
        raw["objects"] = (DISTRACTORS + raw["objects"]) if first else (raw["objects"] + DISTRACTORS)
    if mutate is not None:
        mutate(raw)
    return validate_recipe(raw, str(DEFAULT_RECIPE), BASE)


def libraries(recipe):
    d = AssetLibrary(recipe.distractor_sets, BASE) if recipe.distractor_sets else None
    return AssetLibrary(recipe.target_sets, BASE), d


def canon(x):
    """A comparable form of descriptions: dataclasses by field, arrays as exact lists."""
    if is_dataclass(x):
        return (type(x).__name__,) + tuple((f.name, canon(getattr(x, f.name))) for f in fields(x))
    if isinstance(x, np.ndarray):
        return ("array", x.shape, x.tolist())
    if isinstance(x, (list, tuple)):
        return tuple(canon(v) for v in x)
    return x


def geometry(scene):
    """Everything of a description that physics, the ID pass and the labels see."""
    return canon((
        [(o.inst_id, o.obj_id, o.world_T_model, o.mass, o.friction) for o in scene.objects],
        [(o.inst_id, o.obj_id, o.world_T_model) for o in scene.distractors],
        [(w.extents, w.world_T_box) for w in scene.walls],
        scene.floor.size, scene.views,
    ))


def appearance(scene):
    return canon(([o.material for o in scene.objects], [o.material for o in scene.distractors], scene.floor,
                  [w.material for w in scene.walls], scene.backdrop, scene.lights, scene.ambient))


def test_target_obj_ids_do_not_depend_on_distractor_sets():
    plain = recipe_from(distractors=False)
    for first in (False, True):
        recipe = recipe_from(first=first)
        assert [s.name for s in recipe.target_sets] == [s.name for s in plain.target_sets]
        assert [s.name for s in recipe.distractor_sets] == ["shapes", "cubes"]
        targets, distractors = libraries(recipe)
        assert targets.entries == AssetLibrary(plain.target_sets, BASE).entries
        assert [e[0] for e in distractors.entries] == list(range(1, 7))  # their own ids: 5 shapes + 1 cube
        assert distractors.set_ids == {"shapes": [1, 2, 3, 4, 5], "cubes": [6]}


def test_distractors_never_move_targets_and_avoid_them():
    plain = recipe_from(distractors=False)
    lib, _ = libraries(plain)
    recipe = recipe_from()
    lib2, dlib = libraries(recipe)
    for i in range(3):
        a = build_scene(clutter_inputs(plain), lib, i, BASE)
        b = build_scene(clutter_inputs(recipe), lib2, i, BASE, distractors=dlib)
        assert not a.distractors and 3 <= len(b.distractors) <= 5
        assert canon([(o.inst_id, o.obj_id, o.world_T_model) for o in a.objects]) == \
            canon([(o.inst_id, o.obj_id, o.world_T_model) for o in b.objects])
        assert [d.inst_id for d in b.distractors] == list(range(1, len(b.distractors) + 1))
        spheres = [(transform_points(o.world_T_model, lib2.get(o.obj_id).center[None])[0], lib2.get(o.obj_id).radius)
                   for o in b.objects]
        spheres += [(transform_points(o.world_T_model, dlib.get(o.obj_id).center[None])[0],
                     dlib.get(o.obj_id).radius) for o in b.distractors]
        for k in range(len(b.objects), len(spheres)):  # each distractor's drop sphere meets no other sphere
            for j in range(len(spheres)):
                if j != k:
                    assert np.linalg.norm(spheres[k][0] - spheres[j][0]) > spheres[k][1] + spheres[j][1]


def _restyle(raw):
    """Change every appearance setting (and nothing else)."""
    raw["appearance"] = {
        "objects": {"asset": 1, "texture": 2, "color": 1}, "distractors": {"texture": 1, "color": 3},
        "object_color": {"min": [0.2, 0.0, 0.0], "max": [1.0, 0.3, 0.3]},
        "metallic": {"min": 0.0, "max": 1.0}, "roughness": {"min": 0.1, "max": 0.9},
        "hsv_jitter": {"hue": {"min": -0.1, "max": 0.1}, "saturation": {"min": 0.5, "max": 1.5},
                       "value": {"min": 0.7, "max": 1.2}},
        "textures": ["procedural://wood", "bundled://pybullet_data"], "texture_tile": {"min": 0.02, "max": 0.3},
        "floor": {"texture": 1, "color": 1}, "floor_texture_tile": 0.5,
        "floor_color": {"min": [0.0, 0.0, 0.0], "max": [0.2, 0.2, 0.2]},
        "walls": {"texture": 1, "color": 1, "floor": 1}, "wall_color": {"min": [0.5, 0.5, 0.5], "max": [1, 1, 1]},
        "backdrop": {"sky": 1, "photo": 1}, "background_color": [0.3, 0.3, 0.3],
    }
    raw["lights"] = {"count": {"min": 1, "max": 4}, "kinds": {"directional": 1, "point": 1, "spot": 1},
                     "intensity": {"min": 1, "max": 2}, "temperature_k": {"min": 2500, "max": 9000},
                     "shadows": True, "ambient": {"min": 0.0, "max": 0.1}}


@pytest.mark.parametrize("support", ["bin", "room"])
def test_appearance_settings_never_change_geometry(support):
    def with_support(raw):
        raw["clutter"]["support"] = support

    recipe = recipe_from(with_support)
    restyled = recipe_from(lambda raw: (with_support(raw), _restyle(raw)))
    lib, dlib = libraries(recipe)
    for i in range(2):
        a = build_scene(clutter_inputs(recipe), lib, i, BASE, distractors=dlib)
        b = build_scene(clutter_inputs(restyled), lib, i, BASE, distractors=dlib)
        assert geometry(a) == geometry(b)
        assert appearance(a) != appearance(b)  # the settings did change what rgb/ shows


def test_appearance_is_deterministic_and_seeded():
    recipe = recipe_from(_restyle)
    lib, dlib = libraries(recipe)
    a = build_scene(clutter_inputs(recipe), lib, 1, BASE, distractors=dlib)
    b = build_scene(clutter_inputs(recipe), libraries(recipe)[0], 1, BASE, distractors=libraries(recipe)[1])
    assert appearance(a) == appearance(b)
    other = recipe_from(lambda raw: (_restyle(raw), raw.update(seed=7)))
    c = build_scene(clutter_inputs(other), lib, 1, BASE, distractors=dlib)
    assert canon(c.lights) != canon(a.lights) and canon(c.floor) != canon(a.floor)


def test_appearance_parts_draw_from_their_own_substreams():
    """More lights change the lights only: floor, walls, backdrop and materials keep their draws."""
    recipe = recipe_from(_restyle)
    more = recipe_from(lambda raw: (_restyle(raw), raw["lights"].update(count={"min": 6, "max": 6})))
    lib, dlib = libraries(recipe)
    a, b = (build_scene(clutter_inputs(r), lib, 0, BASE, distractors=dlib) for r in (recipe, more))
    assert len(b.lights) == 6
    assert canon((a.floor, a.walls, a.backdrop, [o.material for o in a.objects + a.distractors])) == \
        canon((b.floor, b.walls, b.backdrop, [o.material for o in b.objects + b.distractors]))


def test_material_modes_follow_the_weights():
    recipe = recipe_from(lambda raw: (
        raw["appearance"].update(objects={"color": 1}, distractors={"texture": 1}, textures=["procedural://dots"],
                                 object_color={"min": [0.1, 0.2, 0.3], "max": [0.2, 0.3, 0.4]},
                                 roughness={"min": 0.25, "max": 0.5}, texture_tile={"min": 0.1, "max": 0.2}),
        raw["objects"][0].update(look={"asset": 1})))  # the duck set keeps its own look
    lib, dlib = libraries(recipe)
    for i in range(3):
        s = build_scene(clutter_inputs(recipe), lib, i, BASE, distractors=dlib)
        for o in s.objects:
            m = o.material
            assert 0.25 <= m.roughness <= 0.5 and m.metallic == 0.0
            if lib.get(o.obj_id).set_name == "duck":
                assert m.mode == "asset"
            else:
                assert m.mode == "color" and m.texture is None
                assert np.all(m.base_color[:3] >= [0.1, 0.2, 0.3]) and np.all(m.base_color[:3] <= [0.2, 0.3, 0.4])
        for d in s.distractors:
            assert d.material.mode == "texture" and d.material.texture.family == "procedural/dots"
            assert d.material.texture.key.startswith("procedural://dots/") and 0.1 <= d.material.tile <= 0.2


def test_legacy_appearance_keeps_the_old_meaning():
    recipe = recipe_from(distractors=False)  # floor_textures given, no floor weights: textured floor
    lib, _ = libraries(recipe)
    s = build_scene(clutter_inputs(recipe), lib, 0, BASE)
    assert s.floor.material.mode == "texture" and s.floor.material.tile == 0.3
    assert s.floor.material.texture.key.endswith((".png", ".jpg"))
    assert all(o.material.mode == "asset" for o in s.objects)
    assert s.backdrop.kind == "color" and np.allclose(s.backdrop.color, RAW["appearance"]["background_color"])
    assert all(w.material.mode == "color" and np.allclose(w.color, np.clip(s.floor.color * 0.7, 0, 1)) for w in s.walls)
    random = recipe_from(lambda raw: raw["appearance"].update(objects="random"), distractors=False)
    assert all(o.material.mode == "color" for o in build_scene(clutter_inputs(random), lib, 0, BASE).objects)


def test_backdrops():
    recipe = recipe_from(lambda raw: raw["appearance"].update(backdrop={"sky": 1, "photo": 1}), distractors=False)
    lib, _ = libraries(recipe)
    kinds = set()
    for i in range(8):
        b = build_scene(clutter_inputs(recipe), lib, i, BASE).backdrop
        kinds.add(b.kind)
        if b.kind == "photo":
            x0, y0, x1, y1 = b.crop
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 and x1 - x0 >= 0.5 and np.isclose(x1 - x0, y1 - y0)
            assert b.photo.family == "skimage"
        else:
            assert np.all(b.zenith <= 0.85) and np.all(b.color >= 0.7)
    assert kinds == {"sky", "photo"}


def _room(raw):
    raw["clutter"].update(support="room", room={"size": [2.5, 2.0], "height": 1.2, "wall_thickness": 0.04})


def test_room_walls_enclose_the_drop_region():
    recipe = recipe_from(_room)
    lib, dlib = libraries(recipe)
    s = build_scene(clutter_inputs(recipe), lib, 0, BASE, distractors=dlib)
    assert len(s.walls) == 4 and s.floor.size == pytest.approx(2.5 + 2 * 0.04)
    walls = trimesh.util.concatenate([trimesh.creation.box(extents=w.extents, transform=w.world_T_box)
                                      for w in s.walls])
    assert walls.bounds[0][2] == pytest.approx(0.0) and walls.bounds[1][2] == pytest.approx(1.2)  # stand on the floor
    # rays from the middle of the room, at every azimuth and three heights, all hit a wall: the ring is closed,
    # and no nearer than the inner rectangle (1.25 x 1.0 m half-sizes)
    az = np.radians(np.arange(0.0, 360.0, 2.5))
    for z in (0.05, 0.6, 1.15):
        dirs = np.stack([np.cos(az), np.sin(az), np.zeros_like(az)], axis=1)
        origins = np.tile([0.0, 0.0, z], (len(az), 1))
        locs, index, _ = walls.ray.intersects_location(origins, dirs, multiple_hits=False)
        assert sorted(set(index.tolist())) == list(range(len(az)))
        d = np.linalg.norm(locs[:, :2], axis=1)
        inner = np.minimum(1.25 / np.maximum(np.abs(np.cos(az[index])), 1e-9),
                           1.0 / np.maximum(np.abs(np.sin(az[index])), 1e-9))
        assert np.allclose(d, inner, atol=1e-6)
    for L, instances in ((lib, s.objects), (dlib, s.distractors)):  # every drop pose inside the walls
        for o in instances:
            c = transform_points(o.world_T_model, L.get(o.obj_id).center[None])[0]
            r = L.get(o.obj_id).radius
            assert abs(c[0]) + r < 1.25 and abs(c[1]) + r < 1.0


def test_point_and_spot_lights_stand_at_the_drawn_distance_and_shine_at_the_target():
    recipe = recipe_from(lambda raw: raw.update(lights={
        "count": {"min": 12, "max": 12}, "kinds": {"point": 1, "spot": 1, "directional": 1},
        "distance": {"min": 0.9, "max": 1.4}, "elevation_deg": {"min": 35, "max": 60},
        "spot_cone_deg": {"min": 20, "max": 30}, "temperature_k": {"min": 3000, "max": 3000}}), distractors=False)
    lib, _ = libraries(recipe)
    target = np.array(RAW["camera"]["look_at"]["center"])
    s = build_scene(clutter_inputs(recipe), lib, 0, BASE)
    assert {lt.kind for lt in s.lights} == {"point", "spot", "directional"}
    for lt in s.lights:
        assert np.allclose(lt.color, kelvin_to_rgb(3000)) and lt.temperature_k == 3000
        assert np.isclose(np.linalg.norm(lt.direction), 1.0)
        el_shine = math.degrees(math.asin(-lt.direction[2]))  # shining down at the light's elevation
        assert 35 - 1e-9 <= el_shine <= 60 + 1e-9
        if lt.kind == "directional":
            assert lt.position is None
            continue
        offset = lt.position - target
        assert 0.9 - 1e-9 <= np.linalg.norm(offset) <= 1.4 + 1e-9
        assert np.allclose(lt.direction, -offset / np.linalg.norm(offset))  # towards the look-at point
        if lt.kind == "spot":
            assert math.radians(20) <= lt.outer_cone <= math.radians(30)
            assert np.isclose(lt.inner_cone, 0.75 * lt.outer_cone)


def test_environment_image_gives_a_light_from_its_bright_spot(tmp_path):
    """An equirectangular image, dark but for one bright patch at azimuth 90 deg (+y), elevation 45 deg."""
    from PIL import Image

    H, W = 64, 128
    img = np.full((H, W, 3), 20, dtype=np.uint8)
    u, v = int(W * 90 / 360), int(H * 45 / 180)  # column 32 -> +y; row 16 -> elevation 45 deg
    img[v - 2:v + 2, u - 2:u + 2] = 255
    Image.fromarray(img).save(tmp_path / "env.png")
    recipe = recipe_from(lambda raw: raw.update(lights={
        "count": {"min": 0, "max": 0}, "ambient": {"min": 0.0, "max": 0.0},
        "environment": {"image": str(tmp_path / "env.png"), "lights": 1, "intensity": 3.0, "rotate": False}}),
        distractors=False)
    lib, _ = libraries(recipe)
    s = build_scene(clutter_inputs(recipe), lib, 0, BASE)
    (lt,) = s.lights
    toward_patch = np.array([0.0, math.cos(math.radians(45)), math.sin(math.radians(45))])
    assert lt.kind == "directional" and np.degrees(np.arccos(-lt.direction @ toward_patch)) < 4.0
    assert 0 < lt.intensity < 3.0 and 0 < s.ambient < 3.0 / math.pi


def test_recipe_lights_bad_values_name_the_field():
    from gtforge.config import RecipeError

    with pytest.raises(RecipeError) as e:
        load_recipe(DEFAULT_RECIPE, ["lights.temperature_k={min: 1000, max: 4000}"])
    assert e.value.path == "lights.temperature_k" and "1667" in e.value.message
