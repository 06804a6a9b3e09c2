"""Conventions (docs/conventions.md): OpenCV camera frame, pixel centres, pose algebra, seeding."""

import numpy as np
from scipy import ndimage
import pytest
import trimesh

from gtforge.assets.loaders import Asset
from gtforge.core.description import Floor, ObjectInstance, SceneDescription, View
from gtforge.core.rng import scene_rng
from gtforge.core.geometry import (
    OPENCV_TO_OPENGL, intrinsics_matrix, invert_pose, look_at_opencv, make_pose, matrix_to_quat_xyzw,
    project_points, quat_xyzw_to_matrix, transform_points, urdf_rpy_to_matrix,
)


def test_look_at_is_opencv_frame():
    T = look_at_opencv([1.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    R = T[:3, :3]
    assert np.allclose(R.T @ R, np.eye(3)) and np.isclose(np.linalg.det(R), 1.0)
    assert np.allclose(R[:, 2], [-1, 0, 0])  # z forward: towards the target
    assert np.allclose(R[:, 1], [0, 0, -1])  # y down: world down
    assert np.allclose(R[:, 0], [0, 1, 0])  # x right: facing -x with +z up, right is +y
    # the target projects to the principal point; a point above it projects above (smaller v)
    K = intrinsics_matrix(100, 100, 50, 40)
    cam_T_world = invert_pose(T)
    uv = project_points(transform_points(cam_T_world, [[0, 0, 0], [0, 0, 0.1]]), K)
    assert np.allclose(uv[0], [50, 40]) and uv[1, 1] < 40


def test_look_at_straight_down_and_inplane():
    T = look_at_opencv([0, 0, 2.0], [0, 0, 0])
    assert np.allclose(T[:3, 2], [0, 0, -1])
    T0 = look_at_opencv([1.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    T2 = look_at_opencv([1.0, 0.0, 0.0], [0.0, 0.0, 0.0], inplane_rad=np.pi / 2)
    assert np.allclose(T2[:3, 2], T0[:3, 2])  # roll keeps the optical axis
    assert np.allclose(T2[:3, 0], T0[:3, 1]) and np.allclose(T2[:3, 1], -T0[:3, 0])


def test_pose_algebra_roundtrip():
    rng = np.random.default_rng(0)
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    R = quat_xyzw_to_matrix(q)
    assert np.allclose(np.abs(matrix_to_quat_xyzw(R)), np.abs(q))
    T = make_pose(R, [0.1, -0.2, 0.3])
    assert np.allclose(invert_pose(T) @ T, np.eye(4))
    assert np.allclose(OPENCV_TO_OPENGL @ OPENCV_TO_OPENGL, np.eye(4))
    assert np.allclose(urdf_rpy_to_matrix([0, 0, np.pi / 2]) @ [1, 0, 0], [0, 1, 0])


def test_project_points_rejects_points_behind():
    with pytest.raises(ValueError):
        project_points([[0, 0, -1.0]], np.eye(3))


def test_seeds_depend_only_on_seed_scene_stream():
    a = scene_rng(0, 3, "views", 1).random(4)
    assert np.array_equal(a, scene_rng(0, 3, "views", 1).random(4))
    assert not np.array_equal(a, scene_rng(0, 3, "views", 2).random(4))
    assert not np.array_equal(a, scene_rng(1, 3, "views", 1).random(4))
    assert not np.array_equal(scene_rng(0, 0, "objects").random(4), scene_rng(0, 0, "appearance").random(4))
    with pytest.raises(ValueError):
        scene_rng(0, 0, "nope")


class _OneAssetLibrary:
    def __init__(self, mesh):
        self.asset = Asset(1, "square", "square", "<test>", mesh, base_color=np.array([1, 1, 1, 1.0]))

    def get(self, obj_id):
        return self.asset


@pytest.mark.gl
@pytest.mark.parametrize("facing", ["towards", "away"])
def test_renderer_pixel_centres_are_integers(facing):
    """A square whose left edge projects to u = 100.25 covers columns 101.. and not 100 (centres at integers).

    Likewise its top edge at v = 60.75 covers rows 61.. . A half-pixel error in the GL camera would move
    either edge by one column/row.
    """
    from gtforge.render.renderer import Renderer

    W, H, f, z = 320, 240, 200.0, 1.0
    K = intrinsics_matrix(f, f, 160.0, 120.0)
    u0, v0, u1, v1 = 100.25, 60.75, 220.6, 180.4
    x = lambda u: (u - 160.0) * z / f  # noqa: E731
    y = lambda v: (v - 120.0) * z / f  # noqa: E731
    verts = np.array([[x(u0), y(v0), 0], [x(u1), y(v0), 0], [x(u1), y(v1), 0], [x(u0), y(v1), 0]])
    faces = [[0, 1, 2], [0, 2, 3]] if facing == "away" else [[0, 2, 1], [0, 3, 2]]
    mesh = trimesh.Trimesh(verts, faces, process=False)  # "away": only the back face is seen: must still count
    lib = _OneAssetLibrary(mesh)
    world_T_cam = np.eye(4)  # camera at the origin looking down world +z (OpenCV)
    obj = ObjectInstance(inst_id=7, obj_id=1, world_T_model=make_pose(np.eye(3), [0, 0, z]))
    scene = SceneDescription(scene_index=0, objects=(obj,), floor=Floor(size=0.01, color=np.zeros(3)), walls=(),
                             lights=(), ambient=1.0, background_color=np.zeros(3),
                             views=(View(K, W, H, world_T_cam, 0.05, 10.0),))
    r = Renderer(lib, W, H)
    try:
        r.set_scene(scene)
        b = r.render_view(scene.views[0])
    finally:
        r.close()
    cols = np.flatnonzero((b.ids == 7).any(axis=0))
    rows = np.flatnonzero((b.ids == 7).any(axis=1))
    assert (cols[0], cols[-1]) == (101, 220)
    assert (rows[0], rows[-1]) == (61, 180)
    assert np.allclose(b.depth[b.ids == 7], z, atol=1e-5)
    # amodal canvas: same pixel grid shifted by (W, H)
    canvas = b.amodal[7]
    ccols = np.flatnonzero(canvas.any(axis=0))
    assert (ccols[0] - W, ccols[-1] - W) == (101, 220)


def test_amodal_passes_are_exact(small_dataset):
    """Windowed amodal renders equal full-canvas renders in the image (outside it, up to edge ties), and every
    ID-pass pixel of an object lies in its silhouette."""
    from conftest import DEFAULT_RECIPE, SMALL

    from gtforge.assets.loaders import AssetLibrary
    from gtforge.render.renderer import Renderer
    from gtforge.pipeline.inputs import clutter_inputs
    from gtforge.scenes.clutter import build_scene
    from gtforge.scenes.physics import CollisionShapes, settle
    from gtforge.config import load_recipe

    recipe, _ = load_recipe(DEFAULT_RECIPE,
                            SMALL + ["scenes.views_per_scene=4", "camera.distance={min: 0.2, max: 0.5}"])
    lib = AssetLibrary(recipe.objects, DEFAULT_RECIPE.parent)
    shapes = CollisionShapes(lib)
    r = Renderer(lib, 320, 240)
    try:
        for scene_index in range(3):
            scene, _ = settle(build_scene(clutter_inputs(recipe), lib, scene_index, DEFAULT_RECIPE.parent), shapes,
                              recipe.clutter)
            r.set_scene(scene)
            for view in scene.views:
                b = r.render_view(view)
                cam_T_world = invert_pose(view.world_T_cam)
                for o in scene.objects:
                    full = r._amodal_canvas(view, cam_T_world, o.inst_id, crop=False)
                    win = b.amodal[o.inst_id]
                    # in the image both use the ID pass's camera and viewport: identical pixels
                    assert np.array_equal(win[240:480, 320:640], full[240:480, 320:640])
                    # outside it the window's shifted camera may break a rasterisation tie the other way:
                    # only pixels on the silhouette's edge may differ, and very few of them
                    diff = win != full
                    edge = full ^ ndimage.binary_erosion(full) | ndimage.binary_dilation(full) & ~full
                    assert not np.any(diff & ~edge)
                    assert diff.sum() <= max(2, 0.001 * full.sum()), (diff.sum(), full.sum())
                    in_image = win[240:480, 320:640]
                    assert not np.any((b.ids == o.inst_id) & ~in_image)  # no visible pixel outside the silhouette
    finally:
        r.close()
