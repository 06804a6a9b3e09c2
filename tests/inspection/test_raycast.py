"""The ray-cast oracle on analytic scenes: its pixel-centre convention and depth are pinned by hand geometry."""

import numpy as np
import trimesh

from gtforge.core.geometry import intrinsics_matrix
from gtforge.core.lens import pixel_rays
from gtforge.inspection.raycast import cast, depth_to_dist, static_meshes_world

K = intrinsics_matrix(100.0, 100.0, 9.5, 7.5)  # 20 x 16 image, principal point at its centre
W, H = 20, 16


def square(x0, x1, y0, y1, z):
    """A rectangle in the plane z (camera frame, metres), two triangles."""
    return trimesh.Trimesh([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], [[0, 1, 2], [0, 2, 3]], process=False)


def test_square_at_known_depth_covers_exactly_the_pixel_centres_inside_it():
    # u = 9.5 + 100 x / z: x in [-0.0525, 0.0475] at z = 1 spans u in [4.25, 14.25] -> columns 5..14;
    # v = 7.5 + 100 y: y in [-0.0325, 0.0225] spans v in [4.25, 9.75] -> rows 5..9
    depth, owner = cast([square(-0.0525, 0.0475, -0.0325, 0.0225, 1.0)], K, W, H)
    want = np.zeros((H, W), bool)
    want[5:10, 5:15] = True
    assert np.array_equal(owner == 0, want) and np.all(owner[~want] == -1)
    assert np.allclose(depth[want], 1.0, atol=1e-9) and np.all(depth[~want] == 0)


def test_nearest_surface_wins_and_window_offsets_shift_pixels():
    near, far = square(-1, 0, -1, 1, 0.5), square(-1, 1, -1, 1, 2.0)
    depth, owner = cast([far, near], K, W, H)
    left = np.arange(W) < 9.5  # pixel centres with x < 0
    assert np.all(owner[:, left] == 1) and np.all(owner[:, ~left] == 0)
    assert np.allclose(depth[:, left], 0.5) and np.allclose(depth[:, ~left], 2.0)
    # a window starting at column -W (BOP's 3W x 3H canvas) sees what lies left of the image
    d2, _ = cast([square(-0.3, -0.2, -0.01, 0.01, 1.0)], K, W, H, u0=-W, v0=0)
    cols = np.flatnonzero(d2.any(axis=0)) - W
    assert cols.min() == int(np.ceil(9.5 - 30)) and cols.max() == int(np.floor(9.5 - 20))


def test_tilted_plane_depth_is_z_not_distance():
    # plane z = 1 + 0.5 x: a ray (u', v', 1) * s hits it at s = 1 / (1 - 0.5 u'), z = s
    plane = trimesh.Trimesh([[-1, -1, 0.5], [1, -1, 1.5], [1, 1, 1.5], [-1, 1, 0.5]], [[0, 1, 2], [0, 2, 3]],
                            process=False)
    depth, _ = cast([plane], K, W, H)
    rays = pixel_rays(K, None, W, H)
    assert np.allclose(depth, 1.0 / (1.0 - 0.5 * rays[..., 0]), atol=1e-9)
    assert np.allclose(depth_to_dist(depth, K), depth * np.linalg.norm(rays, axis=-1))


def test_static_geometry_from_scene_env():
    env = {"floor_size_mm": 2000.0, "boxes": [{"extents_mm": [100.0, 200.0, 300.0],
                                             "world_R_box": np.eye(3).ravel().tolist(),
                                             "world_t_box_mm": [0.0, 0.0, 150.0]}]}
    floor, box = static_meshes_world(env)
    assert (np.allclose(floor.bounds, [[-1, -1, 0], [1, 1, 0]])
            and np.allclose(box.bounds, [[-0.05, -0.1, 0], [0.05, 0.1, 0.3]]))
    assert static_meshes_world(None) == []


def test_distractor_in_front_owns_its_pixels_and_no_instance():
    """A target square at z = 1 half covered by a distractor square at z = 0.5, posed through the world frame."""
    from types import SimpleNamespace

    import pytest

    from gtforge.inspection.raycast import DISTRACTOR_OWNER, cast_frame, distractor_meshes_world

    # target: model square of side 0.1 (model frame z = 0), cam_T_model puts it at z = 1 -> columns 5..14, rows 3..12
    target = square(-0.05, 0.05, -0.05, 0.05, 0.0)
    # distractor model: a square of side 0.03 covering x in [-0.03, 0] at z = 0.5 once posed (u = 9.5 + 200 x)
    dmodel = square(0.0, 0.03, -0.1, 0.1, 0.0)
    world_T_cam = np.eye(4)
    world_T_cam[:3, 3] = [0.2, -0.1, 0.3]  # camera not at the world origin: the distractor goes through it
    cam_T_world = np.linalg.inv(world_T_cam)
    world_T_d = world_T_cam @ np.array([[1, 0, 0, -0.03], [0, 1, 0, 0], [0, 0, 1, 0.5], [0, 0, 0, 1.0]])
    env = {"floor_size_mm": 0.0, "boxes": [],
           "distractors": [{"obj_id": 4, "world_R_m": world_T_d[:3, :3].ravel().tolist(),
                            "world_t_mm": (world_T_d[:3, 3] * 1000).tolist()}]}
    cam_T_model = np.eye(4)
    cam_T_model[2, 3] = 1.0
    inst = SimpleNamespace(obj_id=7, cam_T_model=cam_T_model, gt_id=0)
    frame = SimpleNamespace(instances=[inst], K=K, cam_T_world=cam_T_world)
    depth, owner, posed = cast_frame({7: target}, frame, W, H, env, {4: dmodel})
    u = np.arange(W)
    tgt_cols = (u >= 5) & (u <= 14)  # 9.5 + 100 x, x in [-0.05, 0.05]
    dis_cols = (u >= 4) & (u <= 9)  # 9.5 + 200 x, x in [-0.03, 0]
    rows_t = (np.arange(H) >= 3) & (np.arange(H) <= 12)
    want_d = np.zeros((H, W), bool)
    want_d[:, dis_cols] = True  # the distractor spans every row (y in [-0.1, 0.1] at z = 0.5)
    want_t = rows_t[:, None] & tgt_cols[None, :] & ~want_d
    assert np.array_equal(owner == DISTRACTOR_OWNER, want_d)
    assert np.array_equal(owner == 0, want_t)
    assert np.allclose(depth[want_d], 0.5) and np.allclose(depth[want_t], 1.0)
    assert len(posed) == 1
    (dw,) = distractor_meshes_world(env, {4: dmodel})
    assert np.allclose(dw.bounds, [world_T_cam[:3, 3] + [-0.03, -0.1, 0.5], world_T_cam[:3, 3] + [0.0, 0.1, 0.5]])
    # without the distractor the target owns the covered pixels; a listed distractor needs its model
    _, owner0, _ = cast_frame({7: target}, frame, W, H, {"floor_size_mm": 0.0, "boxes": []})
    assert np.array_equal(owner0 == 0, rows_t[:, None] & tgt_cols[None, :])
    with pytest.raises(ValueError, match="distractor"):
        cast_frame({7: target}, frame, W, H, env)
