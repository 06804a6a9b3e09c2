"""Physics settling: objects come to rest on the support, out-of-workspace objects are removed, runs repeat exactly."""

from dataclasses import replace

import numpy as np
import pytest
from conftest import DEFAULT_RECIPE

from gtforge.assets.loaders import AssetLibrary
from gtforge.scenes.clutter import build_scene
from gtforge.scenes.physics import CollisionShapes, settle
from gtforge.config import load_recipe
from gtforge.core.geometry import make_pose, transform_points


@pytest.fixture(scope="module")
def setup():
    recipe, _ = load_recipe(DEFAULT_RECIPE, ["scenes.views_per_scene=1"])
    lib = AssetLibrary(recipe.objects, DEFAULT_RECIPE.parent)
    return recipe, lib, CollisionShapes(lib)


def lowest_z(lib, o):
    return transform_points(o.world_T_model, lib.get(o.obj_id).mesh.vertices)[:, 2].min()


def test_single_object_rests_on_floor(setup):
    recipe, lib, shapes = setup
    scene = build_scene(recipe, lib, 0, DEFAULT_RECIPE.parent)
    mug = next(o for o in scene.objects if lib.get(o.obj_id).set_name == "mug")
    one = replace(scene, objects=(mug,))
    settled, report = settle(one, shapes, recipe.clutter)
    assert report.settled and report.sim_time < recipe.clutter.max_settle_time and not report.removed
    o = settled.objects[0]
    assert np.all(np.isfinite(o.world_T_model))
    # resting on the plane z = 0: its lowest vertex touches it (within the contact tolerance)
    assert abs(lowest_z(lib, o)) < 0.004
    assert o.world_T_model[2, 3] != mug.world_T_model[2, 3]


def test_clutter_settles_above_floor_and_repeats_exactly(setup):
    recipe, lib, shapes = setup
    scene = build_scene(recipe, lib, 1, DEFAULT_RECIPE.parent)
    a, ra = settle(scene, shapes, recipe.clutter)
    b, rb = settle(scene, shapes, recipe.clutter)
    assert ra == rb
    for oa, ob in zip(a.objects, b.objects):
        assert np.array_equal(oa.world_T_model, ob.world_T_model)
    for o in a.objects:
        assert lowest_z(lib, o) > -0.004


def test_objects_outside_workspace_are_removed(setup):
    recipe, lib, shapes = setup
    scene = build_scene(recipe, lib, 0, DEFAULT_RECIPE.parent)
    far = replace(scene.objects[0], world_T_model=make_pose(np.eye(3), [3.0, 0.0, 0.2]))
    s = replace(scene, objects=(far,) + scene.objects[1:])
    settled, report = settle(s, shapes, recipe.clutter)
    assert (far.inst_id, "left the workspace") in report.removed
    assert far.inst_id not in [o.inst_id for o in settled.objects]
    assert len(settled.objects) == len(scene.objects) - 1
    assert settled.removed == report.removed


def test_time_cap(setup):
    recipe, lib, shapes = setup
    cfg = recipe.clutter.model_copy(update={"max_settle_time": 0.05})
    scene = build_scene(recipe, lib, 2, DEFAULT_RECIPE.parent)
    _, report = settle(scene, shapes, cfg)
    assert not report.settled and report.steps == int(np.ceil(0.05 / cfg.time_step))


def test_bin_keeps_objects_inside(setup):
    recipe, _, _ = setup
    recipe2, _ = load_recipe(DEFAULT_RECIPE, ["scenes.views_per_scene=1", "clutter.support=bin"])
    lib = AssetLibrary(recipe2.objects, DEFAULT_RECIPE.parent)
    scene = build_scene(recipe2, lib, 0, DEFAULT_RECIPE.parent)
    assert len(scene.walls) == 4
    settled, _ = settle(scene, CollisionShapes(lib), recipe2.clutter)
    sx, sy = recipe2.clutter.bin.size
    for o in settled.objects:
        c = transform_points(o.world_T_model, lib.get(o.obj_id).mesh.vertices).mean(axis=0)
        assert abs(c[0]) < sx / 2 and abs(c[1]) < sy / 2


def test_drop_poses_do_not_interpenetrate(setup):
    from gtforge.scenes.clutter import model_center, model_radius

    recipe, lib, _ = setup
    for i in range(5):
        scene = build_scene(recipe, lib, i, DEFAULT_RECIPE.parent)
        centres = [transform_points(o.world_T_model, model_center(lib, o.obj_id)[None])[0] for o in scene.objects]
        radii = [model_radius(lib, o.obj_id) for o in scene.objects]
        for a in range(len(centres)):
            assert centres[a][2] >= radii[a]  # above the floor
            for b in range(a):
                assert np.linalg.norm(centres[a] - centres[b]) > radii[a] + radii[b]
