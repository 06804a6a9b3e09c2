"""Light poses and shadow-frustum fitting (render/shadows.py), checked with geometry computed here: each fitted
frustum holds, in clip space, every point it must shadow and every caster between them and the light; the
scene-level fit is taken for a bin and refused for a room. Pure numpy: no GL in the fast loop (the
comparison of the projection matrices with pyrender's cameras is in test_pyrender_patches.py)."""

import math

import numpy as np
import pytest
from conftest import gl_modules_imported_by

from gtforge.core.description import View
from gtforge.core.geometry import box_corners, intrinsics_matrix, invert_pose, look_at_opencv, project_points, \
    transform_points
from gtforge.render import shadows
from gtforge.render.shadows import (ShadowLight, directional_frustum, fit_frusta, light_pose, on_floor_along,
                                    on_floor_from, orthographic_projection, perspective_projection, scene_frusta,
                                    spot_frustum, view_receivers)


def _unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v)


def _clip(V, P, pts):
    """Normalised device coordinates (n, 3) of world points (n, 3) through view V and projection P."""
    h = P @ V @ np.c_[pts, np.ones(len(pts))].T
    return (h[:3] / h[3]).T


def test_importing_shadows_loads_no_gl():
    assert gl_modules_imported_by("gtforge.render.shadows") == []


@pytest.mark.parametrize("direction", [(0.3, -0.2, -1.0), (0.0, 0.0, -1.0), (1.0, 0.1, -0.05), (-1.0, 0.0, 0.0),
                                       (0.2, 0.9, 0.4)])
def test_light_pose_shines_along_its_direction(direction):
    pose = light_pose(np.array(direction), np.array([0.1, -0.2, 0.7]))
    R = pose[:3, :3]
    assert np.allclose(R.T @ R, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(R), 1.0)
    assert np.allclose(-R[:, 2], _unit(direction), atol=1e-12)  # pyrender lights shine down their -z
    assert np.array_equal(pose[:3, 3], [0.1, -0.2, 0.7]) and np.array_equal(pose[3], [0, 0, 0, 1])
    assert np.array_equal(light_pose(np.array(direction))[:3, 3], np.zeros(3))


def test_shadows_on_the_floor_lie_on_the_light_rays():
    rng = np.random.default_rng(1)
    pts = np.c_[rng.uniform(-0.3, 0.3, (20, 2)), rng.uniform(0.0, 0.4, 20)]
    d = _unit([0.4, -0.3, -1.0])
    on = on_floor_along(pts, d)
    assert np.allclose(on[:, 2], 0.0, atol=1e-12)
    step = on - pts
    assert np.allclose(np.cross(step, d), 0.0, atol=1e-12) and (step @ d >= -1e-12).all()
    assert np.array_equal(on_floor_along(pts, _unit([0.3, 0.0, 0.2])), pts)  # light from below: no shadow
    grazing = on_floor_along(np.array([[0.0, 0.0, 1.0]]), _unit([1.0, 0.0, -0.01]), max_length=2.0)
    assert np.isclose(np.linalg.norm(grazing[0] - [0.0, 0.0, 1.0]), 2.0)  # 100 m to the floor: stops at 2 m

    source = np.array([0.2, 0.1, 1.5])
    on = on_floor_from(pts, source)
    assert np.allclose(on[:, 2], 0.0, atol=1e-12)
    ray, step = pts - source, on - pts
    assert np.allclose(np.cross(ray, step), 0.0, atol=1e-12) and (np.einsum("ij,ij->i", ray, step) >= 0).all()
    above = np.array([[0.0, 0.0, 2.0]])  # above the light: its ray goes up, no shadow on the floor
    assert np.array_equal(on_floor_from(above, source), above)


def test_view_receivers_project_back_to_their_pixels():
    W, H = 40, 30
    K = intrinsics_matrix(50.0, 52.0, 19.3, 14.6)
    view = View(K, W, H, look_at_opencv((0.4, -0.5, 0.6), (0.0, 0.0, 0.0)))
    rng = np.random.default_rng(2)
    depth = rng.uniform(0.3, 2.0, (H, W)).astype(np.float32)
    depth[rng.random((H, W)) < 0.3] = 0.0
    pts = view_receivers(depth, view)
    assert pts.shape == (3, int((depth > 0).sum())) and pts.dtype == np.float64
    cam = transform_points(invert_pose(view.world_T_cam), pts.T)
    v, u = np.nonzero(depth > 0)  # row-major order
    assert np.allclose(cam[:, 2], depth[v, u], rtol=1e-12)
    assert np.allclose(project_points(cam, K), np.c_[u, v], atol=1e-9)


def test_directional_frustum_holds_the_receivers_and_the_casters_towards_the_light():
    rng = np.random.default_rng(3)
    receivers = np.c_[rng.uniform(-0.4, 0.4, (500, 2)), np.zeros(500)]  # a floor patch
    receivers[:50, 2] = rng.uniform(0.0, 0.1, 50)  # and some object tops
    caster = box_corners(np.array([-0.05, -0.05, 0.2]), np.array([0.05, 0.05, 0.3]))
    d = _unit([0.3, 0.2, -1.0])
    pose = light_pose(d)
    V, P = directional_frustum(pose, receivers.T, caster)
    assert np.allclose(-V[2, :3], d, atol=1e-12)  # the shadow camera looks along the light
    ndc = _clip(V, P, receivers)
    assert (np.abs(ndc) < 1.0).all()
    assert np.abs(ndc[:, 0]).max() > 0.95 and np.abs(ndc[:, 1]).max() > 0.95  # the cross-section fits tightly
    assert (np.abs(_clip(V, P, caster)[:, 2]) < 1.0).all()  # the caster is between the near and far planes
    zfar = (P[2, 3] - 1.0) / P[2, 2]  # glOrtho: P[2, 2] = -2 / (f - n), P[2, 3] = -(f + n) / (f - n)
    assert zfar >= 10.0 / min(P[0, 0], P[1, 1]) - 1e-9  # at least 10 half-widths deep (against acne)


def test_spot_frustum_holds_the_lit_receivers():
    rng = np.random.default_rng(4)
    receivers = np.c_[rng.uniform(-2.0, 2.0, (2000, 2)), np.zeros(2000)]
    L = np.array([0.3, -0.2, 1.2])
    cone = math.radians(30.0)
    pose = light_pose(_unit([-0.1, 0.1, -1.0]), L)
    caster = box_corners(np.array([0.2, -0.2, 0.3]), np.array([0.3, -0.1, 0.4]))
    V, P = spot_frustum(pose, cone, receivers.T, caster)
    ray = receivers - L
    angle = np.arccos(np.clip((ray @ -pose[:3, 2]) / np.linalg.norm(ray, axis=1), -1.0, 1.0))
    lit = angle < cone
    assert lit.sum() > 100 and (angle > cone + math.radians(5.0)).sum() > 100
    ndc = _clip(V, P, receivers[lit])
    assert (np.abs(ndc) < 1.0).all()
    assert (np.abs(_clip(V, P, caster)) < 1.0).all()
    half = math.atan(1.0 / P[1, 1])  # a square field of view just covering the lit receivers (plus 2 deg)
    axis, in_cone = -V[2, :3], angle < cone + math.radians(2.0)
    off_axis = np.arccos(np.clip((ray[in_cone] @ axis) / np.linalg.norm(ray[in_cone], axis=1), -1.0, 1.0))
    assert np.isclose(off_axis.max() + math.radians(2.0), half) and P[0, 0] == P[1, 1]
    znear = P[2, 3] / (P[2, 2] - 1.0)  # gluPerspective: (f+n)/(n-f), 2fn/(n-f)
    assert 0.0 < znear <= 1.0 / (10.0 * math.tan(half)) + 1e-12

    dark = receivers[angle > cone + math.radians(5.0)]  # nothing lit: the spot's own cone about its axis
    V, P = spot_frustum(pose, cone, dark.T, caster)
    assert np.isclose(math.atan(1.0 / P[1, 1]), cone + math.radians(2.0))
    assert np.allclose(-V[2, :3], -pose[:3, 2], atol=1e-12)


def test_fit_frusta_per_light_and_nothing_without_receivers():
    caster = box_corners(np.array([-0.05, -0.05, 0.0]), np.array([0.05, 0.05, 0.1]))
    lights = [ShadowLight("sun", "directional", light_pose(_unit([0.2, 0.1, -1.0]))),
              ShadowLight("bulb", "point", light_pose(_unit([0.0, 0.0, -1.0]), [0.0, 0.0, 1.0])),
              ShadowLight("spot", "spot", light_pose(_unit([0.1, 0.0, -1.0]), [-0.1, 0.0, 0.8]), math.radians(40))]
    frusta = fit_frusta(lights, None, caster, caster)
    assert list(frusta) == ["sun", "spot"]  # in the lights' order; no frustum for a kind without shadow maps
    shadow = on_floor_along(caster, -lights[0].world_T_light[:3, 2])
    assert (np.abs(_clip(*frusta["sun"], np.vstack([caster, shadow]))) <= 1.0).all()
    shadow = on_floor_from(caster, lights[2].world_T_light[:3, 3])
    assert (np.abs(_clip(*frusta["spot"], np.vstack([caster, shadow]))) <= 1.0).all()
    seen = fit_frusta(lights, caster.T, caster, caster)["sun"]  # receivers given: fitted to them alone
    assert all(np.array_equal(a, b) for a, b in zip(seen, directional_frustum(lights[0].world_T_light, caster.T,
                                                                              caster)))
    assert fit_frusta(lights, np.zeros((3, 0)), caster, caster) == {}
    assert fit_frusta(lights, None, np.zeros((0, 3)), caster) == {}


def _walls(half):
    """Box corners of four walls 0.1 m high around a square of half-size ``half`` m."""
    return np.vstack([box_corners(np.array([x - 0.005, -half, 0.0]), np.array([x + 0.005, half, 0.1]))
                      for x in (-half, half)] +
                     [box_corners(np.array([-half, y - 0.005, 0.0]), np.array([half, y + 0.005, 0.1]))
                      for y in (-half, half)])


def test_scene_fit_is_taken_for_a_bin_and_refused_for_a_room(monkeypatch):
    casters = np.vstack([box_corners(np.array([0.0, 0.0, 0.0]), np.array([0.08, 0.06, 0.08])),
                         box_corners(np.array([-0.1, -0.05, 0.0]), np.array([0.0, 0.0, 0.05]))])
    lights = [ShadowLight(0, "directional", light_pose(_unit([0.5, 0.4, -1.0]))),
              ShadowLight(1, "spot", light_pose(_unit([0.3, -0.25, -0.6]), [-0.3, 0.25, 0.6]),
                          shadows.POINT_SHADOW_CONE)]
    frusta = scene_frusta(lights, casters, _walls(0.15))
    assert frusta is not None and list(frusta) == [0, 1]
    assert 1.0 / min(frusta[0][1][0, 0], frusta[0][1][1, 1]) <= shadows.SCENE_SHADOW_MAX_HALF_WIDTH
    assert math.atan(1.0 / frusta[1][1][1, 1]) <= shadows.SCENE_SHADOW_MAX_HALF_ANGLE
    assert scene_frusta(lights, casters, _walls(2.0)) is None  # a room: fitted per view
    monkeypatch.setattr(shadows, "SHADOW_FIT", "view")
    assert scene_frusta(lights, casters, _walls(0.15)) is None


def test_projection_matrices_map_the_view_volume_to_the_unit_cube():
    P = orthographic_projection(0.3, 0.2, 0.05, 4.0)  # glOrtho(-0.3, 0.3, -0.2, 0.2, 0.05, 4)
    corners = np.array([[0.3, 0.2, -0.05, 1.0], [-0.3, -0.2, -4.0, 1.0]])
    assert np.allclose((P @ corners.T).T[:, :3], [[1, 1, -1], [-1, -1, 1]], atol=1e-12)
    P = perspective_projection(math.radians(60.0), 0.1, 10.0, aspect=1.5)  # gluPerspective(60, 1.5, 0.1, 10)
    t = math.tan(math.radians(30.0))
    for z, expected in ((0.1, -1.0), (10.0, 1.0)):
        h = P @ np.array([1.5 * t * z, t * z, -z, 1.0])
        assert np.allclose(h[:3] / h[3], [1.0, 1.0, expected], atol=1e-12)
