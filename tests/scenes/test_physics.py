"""Physics settling: objects come to rest on the support (on visual surfaces, concave ones included),
out-of-workspace objects are removed, runs repeat exactly."""

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pybullet as pb
import pytest
import trimesh
from conftest import DEFAULT_RECIPE

from gtforge.assets.collision import collision_geometry, hull_is_exact, is_convex, shipped_decomposition, vhacd_parts
from gtforge.assets.loaders import AssetLibrary, load_urdf_collision, obj_object_vertices
from gtforge.config import RecipeError, load_recipe
from gtforge.config.sources import resolve_source
from gtforge.core.geometry import invert_pose, make_pose, rotation_angle, transform_points
from gtforge.pipeline.inputs import clutter_inputs
from gtforge.scenes.clutter import build_scene
from gtforge.scenes.physics import CollisionShapes, create_world, settle


@pytest.fixture(scope="module")
def setup():
    recipe, _ = load_recipe(DEFAULT_RECIPE, ["scenes.views_per_scene=1"])
    lib = AssetLibrary(recipe.target_sets, DEFAULT_RECIPE.parent)
    return recipe, lib, CollisionShapes(lib)


def lowest_z(lib, o):
    return transform_points(o.world_T_model, lib.get(o.obj_id).mesh.vertices)[:, 2].min()


def test_single_object_rests_on_floor(setup):
    recipe, lib, shapes = setup
    scene = build_scene(clutter_inputs(recipe), lib, 0, DEFAULT_RECIPE.parent)
    mug = next(o for o in scene.objects if lib.get(o.obj_id).set_name == "mug")
    one = replace(scene, objects=(mug,))
    settled, report = settle(one, shapes, recipe.clutter)
    assert report.settled and report.sim_time < recipe.clutter.max_settle_time and not report.removed
    o = settled.objects[0]
    assert np.all(np.isfinite(o.world_T_model))
    # resting on the plane z = 0: its lowest vertex touches it (no collision margin: within 1 mm)
    assert abs(lowest_z(lib, o)) < 0.001
    assert o.world_T_model[2, 3] != mug.world_T_model[2, 3]


def test_clutter_settles_above_floor_and_repeats_exactly(setup):
    recipe, lib, shapes = setup
    scene = build_scene(clutter_inputs(recipe), lib, 1, DEFAULT_RECIPE.parent)
    a, ra = settle(scene, shapes, recipe.clutter)
    b, rb = settle(scene, shapes, recipe.clutter)
    assert ra == rb
    for oa, ob in zip(a.objects, b.objects):
        assert np.array_equal(oa.world_T_model, ob.world_T_model)
    for o in a.objects:
        assert lowest_z(lib, o) > -0.004


def test_objects_outside_workspace_are_removed(setup):
    recipe, lib, shapes = setup
    scene = build_scene(clutter_inputs(recipe), lib, 0, DEFAULT_RECIPE.parent)
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
    scene = build_scene(clutter_inputs(recipe), lib, 2, DEFAULT_RECIPE.parent)
    _, report = settle(scene, shapes, cfg)
    assert not report.settled and report.steps == int(np.ceil(0.05 / cfg.time_step))


def test_bin_keeps_objects_inside(setup):
    recipe, _, _ = setup
    recipe2, _ = load_recipe(DEFAULT_RECIPE, ["scenes.views_per_scene=1", "clutter.support=bin"])
    lib = AssetLibrary(recipe2.target_sets, DEFAULT_RECIPE.parent)
    scene = build_scene(clutter_inputs(recipe2), lib, 0, DEFAULT_RECIPE.parent)
    assert len(scene.walls) == 4
    settled, _ = settle(scene, CollisionShapes(lib), recipe2.clutter)
    sx, sy = recipe2.clutter.bin.size
    for o in settled.objects:
        c = transform_points(o.world_T_model, lib.get(o.obj_id).mesh.vertices).mean(axis=0)
        assert abs(c[0]) < sx / 2 and abs(c[1]) < sy / 2


def _with_distractors(*overrides):
    """The bundled recipe (plane support, fewer targets) with two distractor sets, and its libraries."""
    objects = ("objects=[{name: duck, source: 'pkg://pybullet_data/duck_vhacd.urdf', count: {min: 1, max: 1}},"
               " {name: jenga, source: 'pkg://pybullet_data/jenga/jenga.urdf', count: {min: 2, max: 2}},"
               " {name: shapes, source: 'pkg://pybullet_data/random_urdfs/01[0-4]/*.urdf', count: {min: 3, max: 3},"
               "  role: distractor},"
               " {name: cubes, source: 'pkg://pybullet_data/cube_small.urdf', count: {min: 1, max: 1},"
               " role: distractor}]")
    recipe, _ = load_recipe(DEFAULT_RECIPE, ["scenes.views_per_scene=1", objects, *overrides])
    lib = AssetLibrary(recipe.target_sets, DEFAULT_RECIPE.parent)
    dlib = AssetLibrary(recipe.distractor_sets, DEFAULT_RECIPE.parent)
    return recipe, lib, dlib


@pytest.mark.parametrize("support", ["bin", "room"])
def test_distractors_settle_with_the_targets_and_come_back(support):
    recipe, lib, dlib = _with_distractors(f"clutter.support={support}")
    scene = build_scene(clutter_inputs(recipe), lib, 0, DEFAULT_RECIPE.parent, distractors=dlib)
    assert len(scene.objects) == 3 and len(scene.distractors) == 4
    with pytest.raises(ValueError, match="distractor_shapes"):
        settle(scene, CollisionShapes(lib), recipe.clutter)
    settled, report = settle(scene, CollisionShapes(lib), recipe.clutter, CollisionShapes(dlib))
    assert report.settled and not report.removed and len(settled.distractors) == 4
    meshes = [posed_mesh(lib, o) for o in settled.objects] + [posed_mesh(dlib, o) for o in settled.distractors]
    for before, after, m in zip(scene.objects + scene.distractors, settled.objects + settled.distractors, meshes):
        assert (before.inst_id, before.obj_id) == (after.inst_id, after.obj_id)
        assert not np.array_equal(before.world_T_model, after.world_T_model)  # they fell
        assert m.vertices[:, 2].min() > -0.002  # on the floor or on something, not in it
        assert m.vertices[:, 2].min() < 0.25  # and down from the drop heights
    if support == "bin":  # the bin keeps every one of them inside
        sx, sy = recipe.clutter.bin.size
        assert all(abs(m.centroid[0]) < sx / 2 and abs(m.centroid[1]) < sy / 2 for m in meshes)
    # without distractors the same targets rest elsewhere: they really took part in the simulation
    alone, _ = settle(replace(scene, distractors=()), CollisionShapes(lib), recipe.clutter)
    assert any(not np.allclose(a.world_T_model, b.world_T_model, atol=1e-4)
               for a, b in zip(alone.objects, settled.objects))


def test_distractor_leaving_the_workspace_is_dropped_silently():
    recipe, lib, dlib = _with_distractors("clutter.support=plane")
    scene = build_scene(clutter_inputs(recipe), lib, 1, DEFAULT_RECIPE.parent, distractors=dlib)
    far = scene.distractors[0].with_pose(make_pose(np.eye(3), [3.0, 0.0, 0.2]))
    s = replace(scene, distractors=(far,) + scene.distractors[1:])
    settled, report = settle(s, CollisionShapes(lib), recipe.clutter, CollisionShapes(dlib))
    assert [d.inst_id for d in settled.distractors] == [d.inst_id for d in scene.distractors[1:]]
    assert not report.removed and settled.removed == () and len(settled.objects) == len(scene.objects)


def test_room_keeps_objects_inside_its_walls():
    recipe, lib, dlib = _with_distractors("clutter.support=room", "clutter.room={size: [0.3, 0.3], height: 0.2}",
                                          "clutter.drop.half_extent=[0.1, 0.1]",
                                          "camera.distance={min: 0.06, max: 0.1}",
                                          "camera.look_at.jitter=0", "camera.znear=0.02")
    scene = build_scene(clutter_inputs(recipe), lib, 0, DEFAULT_RECIPE.parent, distractors=dlib)
    assert len(scene.walls) == 4
    settled, _ = settle(scene, CollisionShapes(lib), recipe.clutter, CollisionShapes(dlib))
    for L, instances in ((lib, settled.objects), (dlib, settled.distractors)):
        for o in instances:
            v = transform_points(o.world_T_model, L.get(o.obj_id).mesh.vertices)
            assert np.abs(v[:, :2]).max() < 0.15 + 0.002  # inside the walls' inner faces


def test_drop_poses_do_not_interpenetrate(setup):
    recipe, lib, _ = setup
    for i in range(5):
        scene = build_scene(clutter_inputs(recipe), lib, i, DEFAULT_RECIPE.parent)
        centres = [transform_points(o.world_T_model, lib.get(o.obj_id).center[None])[0] for o in scene.objects]
        radii = [lib.get(o.obj_id).radius for o in scene.objects]
        for a in range(len(centres)):
            assert centres[a][2] >= radii[a]  # above the floor
            for b in range(a):
                assert np.linalg.norm(centres[a] - centres[b]) > radii[a] + radii[b]


# --- collision geometry: concave objects (issue 12) -------------------------------------------------

MUG_URDF = "pkg://pybullet_data/objects/mug.urdf"
MUG_RIM_Z = 0.1  # mug.obj: upright along +z, bottom at z = 0, rim at z = 0.100 m, outer radius 0.041 m
BALL_R = 0.015


def mug_and_ball(tmp_path, mode):
    """A scene with the bundled mug upright on the floor and a 15 mm ball 6 cm above its opening."""
    ball = tmp_path / "ball.stl"
    trimesh.creation.icosphere(subdivisions=3, radius=BALL_R).export(ball)
    objects = (f"objects=[{{name: mug, source: '{MUG_URDF}', count: {{min: 1, max: 1}}, collision: {mode}}},"
               f" {{name: ball, source: '{ball}', count: {{min: 1, max: 1}}, mass: 0.02}}]")
    recipe, _ = load_recipe(DEFAULT_RECIPE, ["scenes.views_per_scene=1", "clutter.support=plane", objects])
    lib = AssetLibrary(recipe.target_sets, DEFAULT_RECIPE.parent)
    scene = build_scene(clutter_inputs(recipe), lib, 0, DEFAULT_RECIPE.parent)
    mug = next(o for o in scene.objects if lib.get(o.obj_id).set_name == "mug")
    ball_o = next(o for o in scene.objects if lib.get(o.obj_id).set_name == "ball")
    objs = (mug.with_pose(make_pose(np.eye(3), [0, 0, 0.001])), ball_o.with_pose(make_pose(np.eye(3), [0, 0, 0.16])))
    return recipe, lib, replace(scene, objects=objs)


@pytest.mark.parametrize("mode", ["vhacd", "mesh"])
def test_ball_dropped_into_mug_rests_inside_below_rim(tmp_path, mode):
    recipe, lib, scene = mug_and_ball(tmp_path, mode)
    settled, report = settle(scene, CollisionShapes(lib), recipe.clutter)
    assert report.settled and not report.removed
    mug, ball = settled.objects
    assert abs(rotation_angle(mug.world_T_model[:3, :3], np.eye(3))) < np.radians(2)  # still upright
    c = invert_pose(mug.world_T_model) @ np.append(ball.world_T_model[:3, 3], 1.0)  # ball centre, mug frame
    assert np.hypot(c[0], c[1]) < 0.041 - BALL_R  # inside the cup's wall
    assert c[2] + BALL_R < MUG_RIM_Z  # wholly below the rim
    assert c[2] - BALL_R > -0.001  # and above the cup's outer bottom: it did not fall through
    shapes = CollisionShapes(lib)
    assert touching_pairs(settled, shapes, recipe.clutter) == [(1, 0)]
    assert visual_distance(posed_mesh(lib, ball), posed_mesh(lib, mug)) <= 0.002  # resting on the cup's inside


def test_ball_stays_on_top_of_mug_hull(tmp_path):
    """The old behaviour the issue describes: the mug's convex hull is a lid, the ball lies on it."""
    recipe, lib, scene = mug_and_ball(tmp_path, "hull")
    settled, _ = settle(scene, CollisionShapes(lib), recipe.clutter)
    mug, ball = settled.objects
    c = invert_pose(mug.world_T_model) @ np.append(ball.world_T_model[:3, 3], 1.0)
    assert c[2] - BALL_R > MUG_RIM_Z - 0.001
    # the check applied to settled clutter below catches it: touching in physics, hovering over the visual cup
    assert touching_pairs(settled, CollisionShapes(lib), recipe.clutter) == [(1, 0)]
    assert visual_distance(posed_mesh(lib, ball), posed_mesh(lib, mug)) > 0.01


def posed_mesh(lib, o):
    m = lib.get(o.obj_id).mesh.copy()
    m.apply_transform(o.world_T_model)
    return m


def visual_distance(a, b, n=1500):
    """Closest distance (m) between two posed meshes: vertices and n surface samples of each, onto the other."""
    d = []
    for x, y in ((a, b), (b, a)):
        pts = np.vstack([x.vertices, trimesh.sample.sample_surface(x, n, seed=0)[0]])
        d.append(trimesh.proximity.closest_point(y, pts)[1].min())
    return min(d)


def touching_pairs(scene, shapes, cfg, tol=0.0005):
    """Index pairs of objects whose collision shapes are within ``tol`` m at the settled poses (pybullet)."""
    client = pb.connect(pb.DIRECT)
    try:
        bodies, _ = create_world(client, scene, shapes, cfg)
        return [(i, j) for i in range(len(bodies)) for j in range(i)
                if pb.getClosestPoints(bodies[i], bodies[j], tol, physicsClientId=client)]
    finally:
        pb.disconnect(physicsClientId=client)


@pytest.mark.parametrize("scene_index",
                         [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)])
def test_settled_clutter_rests_on_visual_surfaces(setup, scene_index):
    """Every object resting on another touches its visual mesh (within 2 mm); nothing hovers above the floor."""
    recipe, lib, shapes = setup
    settled, _ = settle(build_scene(clutter_inputs(recipe), lib, scene_index, DEFAULT_RECIPE.parent), shapes,
                        recipe.clutter)
    meshes = [posed_mesh(lib, o) for o in settled.objects]
    walls = [trimesh.creation.box(extents=w.extents, transform=w.world_T_box) for w in settled.walls]
    pairs = touching_pairs(settled, shapes, recipe.clutter)
    assert pairs  # clutter piles up: some objects do rest on others
    for i, j in pairs:
        assert visual_distance(meshes[i], meshes[j]) <= 0.002, (scene_index, i, j)
    for i, m in enumerate(meshes):
        assert m.vertices[:, 2].min() > -0.002  # not sunk into the floor
        if m.vertices[:, 2].min() > 0.002:  # off the floor: something must hold it up
            others = [meshes[j] for j in range(len(meshes)) if j != i] + walls
            assert min(visual_distance(m, o) for o in others) <= 0.002, (scene_index, i)


def test_shipped_decompositions_are_used_and_checked(setup):
    _, lib, _ = setup
    by_name = {lib.get(e[0]).class_name: e[0] for e in lib.entries}
    duck = shipped_decomposition(lib, by_name["duck"])
    assert duck is not None and len(duck) == 5  # duck_vhacd.obj: 5 convex objects, scaled 0.05
    assert all(is_convex(p) for p in duck)
    assert np.allclose(np.concatenate(duck).max(axis=0), lib.get(by_name["duck"]).mesh.bounds[1], atol=0.004)
    assert shipped_decomposition(lib, by_name["lego"]) is None  # a box primitive: not a decomposition
    # mug_col.obj: a solid cylinder (convex) and five handle pieces that are not convex
    cup = load_urdf_collision(resolve_source(MUG_URDF, ".")[0])
    assert [tag for tag, _ in cup] == ["mesh"] * 6
    assert [is_convex(v) for _, v in cup] == [True] + [False] * 5
    assert shipped_decomposition(lib, by_name["mug"]) is None
    assert collision_geometry(lib, by_name["duck"]).source == "urdf"  # default recipe: duck hull, mug/bunny vhacd
    assert collision_geometry(lib, by_name["lego"]).source == "hull"
    assert collision_geometry(lib, by_name["mug"]).source == "vhacd"


def test_obj_objects_split_like_pybullet(tmp_path):
    p = tmp_path / "two.obj"
    p.write_text("o a\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"
                 "g b\nv 5 5 5\nv 6 5 5\nv 5 6 5\nv 5 5 6\nf 4 5 6\nf -1 -2 -3\n")
    a, b = obj_object_vertices(p)
    assert a.tolist() == [[0, 0, 0], [1, 0, 0], [0, 1, 0]] and len(b) == 4 and b.min() == 5


@pytest.mark.slow
def test_vhacd_decomposes_concave_mesh_once_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("GTFORGE_CACHE", str(tmp_path))
    L = _l_shape()  # concave: an L of two 4 x 1 x 1 cm bars
    assert not hull_is_exact(L)
    parts = vhacd_parts(L)
    assert len(parts) >= 2 and all(is_convex(p, 1e-2) for p in parts)
    hull_pts = np.concatenate(parts)
    assert np.all(hull_pts.min(axis=0) > L.bounds[0] - 0.001) and np.all(hull_pts.max(axis=0) < L.bounds[1] + 0.001)
    # the L's inner corner (0.02, 0.02) is empty space: no part reaches it
    corner = np.array([0.015, 0.015, 0.0])
    assert all(np.linalg.norm(p[:, :2] - corner[:2], axis=1).min() > 0.003 for p in parts)
    assert len(list((tmp_path / "vhacd").glob("*.obj"))) == 1
    import pybullet
    monkeypatch.setattr(pybullet, "vhacd", lambda *a, **k: pytest.fail("not cached"))
    again = vhacd_parts(L)
    assert all(np.array_equal(x, y) for x, y in zip(parts, again))


def _l_shape():
    """Closed L-shaped prism (m): the union of [-0.005, 0.035] x [-0.005, 0.005] and [-0.005, 0.005] x
    [-0.005, 0.035], 1 cm thick."""
    xy = np.array([[-0.005, -0.005], [0.035, -0.005], [0.035, 0.005], [0.005, 0.005], [0.005, 0.035], [-0.005, 0.035]])
    return trimesh.creation.extrude_polygon(trimesh.path.polygons.Polygon(xy), 0.01)


def test_settling_repeats_across_processes(setup):
    recipe, lib, shapes = setup
    settled, _ = settle(build_scene(clutter_inputs(recipe), lib, 3, DEFAULT_RECIPE.parent), shapes, recipe.clutter)
    code = (
        "import numpy as np, sys\n"
        "from gtforge.config import load_recipe\nfrom gtforge.assets.loaders import AssetLibrary\n"
        "from gtforge.pipeline.inputs import clutter_inputs\nfrom gtforge.scenes.clutter import build_scene\n"
        "from gtforge.scenes.physics import CollisionShapes, settle\n"
        f"R = {str(DEFAULT_RECIPE)!r}\nrecipe, _ = load_recipe(R, ['scenes.views_per_scene=1'])\n"
        "lib = AssetLibrary(recipe.target_sets, __import__('pathlib').Path(R).parent)\n"
        "s, _ = settle(build_scene(clutter_inputs(recipe), lib, 3, __import__('pathlib').Path(R).parent), "
        "CollisionShapes(lib), recipe.clutter)\n"
        "sys.stdout.write(np.stack([o.world_T_model for o in s.objects]).tobytes().hex())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == np.stack([o.world_T_model for o in settled.objects]).tobytes().hex()


def test_collision_field_is_validated():
    with pytest.raises(RecipeError, match=r"objects\[0\]\.collision"):
        load_recipe(DEFAULT_RECIPE, ["objects[0].collision=convex"])
