"""Appearance in the renderer: textures land where the camera model predicts, shadows where the light's rays
through an occluder hit the floor, backdrops where nothing is hit; distractors occlude without a label; the
forearm belongs to its hand; and no appearance setting changes the ID, depth or amodal passes.

Every expected colour, shadow and label is computed here from the scene's geometry (pinhole projection,
ray-plane intersection, the documented uv conventions), never taken from another render; only the invariance
checks compare renders, of scenes that differ in appearance alone.
"""

from dataclasses import replace

import cv2
from conftest import FakeLibrary
import numpy as np
import pytest
import trimesh
from PIL import Image
from scipy import ndimage
from scipy.spatial import ConvexHull

from gtforge.assets.loaders import Asset, PartLook
from gtforge.core.description import (Backdrop, Floor, Forearm, HandInstance, Light, Material, ObjectInstance,
                                      SceneDescription, StaticBox, Texture, View)
from gtforge.core.geometry import intrinsics_matrix, invert_pose, look_at_opencv, make_pose, project_points, \
    transform_points

pytestmark = pytest.mark.gl

W, H = 160, 120
K = intrinsics_matrix(150.0, 150.0, (W - 1) / 2, (H - 1) / 2)


_Lib = FakeLibrary


def _asset(obj_id, mesh, **kw):
    return Asset(obj_id, f"m{obj_id}", "test", "<test>", mesh, **kw)


def _scene(objects=(), floor=None, lights=(), ambient=1.0, views=(), **kw):
    floor = floor if floor is not None else Floor(2.0, np.array([0.5, 0.5, 0.5]))
    return SceneDescription(0, tuple(objects), floor, kw.pop("walls", ()), tuple(lights), ambient, np.zeros(3),
                            tuple(views), **kw)


def _view(eye, target, up=(0.0, 0.0, 1.0)):
    return View(K, W, H, look_at_opencv(eye, target, up), 0.05, 20.0)


def _render(lib, scene, distractors=None):
    from gtforge.render.renderer import Renderer

    r = Renderer(lib, W, H, distractors=distractors)
    try:
        r.set_scene(scene)
        return [r.render_view(v) for v in scene.views]
    finally:
        r.close()


def _block_texture(path, colours, block):
    """PNG of a grid of flat colour blocks (rows top to bottom), ``block`` pixels each; returns its key."""
    colours = np.asarray(colours, np.uint8)
    img = np.repeat(np.repeat(colours, block, axis=0), block, axis=1)
    Image.fromarray(img).save(path)
    return str(path)


def _shade(texel, ambient=1.0):
    """What pyrender's shader writes for a texel under ambient light only: sRGB-decoded, scaled, gamma 1/2.2."""
    c = np.asarray(texel, np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return 255.0 * (lin * ambient) ** (1 / 2.2)


def _rays(view):
    """World directions (H, W, 3) of the rays through every pixel centre."""
    u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    return np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(view.K).T @ view.world_T_cam[:3, :3].T


def _polygon_mask(view, world_pts):
    """Pixels whose centre lies in the convex hull of the projection of ``world_pts`` (in front of the camera)."""
    uv = project_points(transform_points(invert_pose(view.world_T_cam), np.asarray(world_pts)), view.K)
    hull = uv[ConvexHull(uv).vertices]
    mask = np.zeros((H, W), np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull * 16).astype(np.int32), 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def test_floor_texture_lands_where_predicted(tmp_path):
    colours = [[[220, 40, 40], [40, 200, 60]], [[50, 60, 220], [230, 210, 50]]]
    key = _block_texture(tmp_path / "blocks.png", colours, 32)  # 64 x 64, 2 x 2 blocks
    tile = 0.5
    mat = Material("texture", np.ones(4), texture=Texture(key, "test"), tile=tile)
    view = _view((0.15, -0.45, 0.9), (0.05, 0.1, 0.0))
    scene = _scene(floor=Floor(3.0, np.zeros(3), material=mat), views=(view,))
    b = _render(_Lib([]), scene)[0]
    # oracle: back-project every pixel centre onto z = 0, uv = (x, y) / tile, v = 0 at the image's bottom row
    rays, eye = _rays(view), view.world_T_cam[:3, 3]
    s = -eye[2] / rays[..., 2]
    xy = eye[:2] + s[..., None] * rays[..., :2]
    f = np.mod(xy / tile, 1.0)
    near_edge = np.min(np.abs(f[..., :, None] - np.array([0.0, 0.5, 1.0])), axis=-1).min(axis=-1) < 0.06
    col = (f[..., 0] * 64).astype(int)
    row = 63 - (f[..., 1] * 64).astype(int)
    texel = np.asarray(colours, np.uint8)[row // 32, col // 32]
    sample = ~near_edge & (b.depth > 0)
    assert sample.sum() > 5000
    np.testing.assert_allclose(b.depth[sample], (s * (rays @ view.world_T_cam[:3, 2]))[sample], rtol=1e-4)
    err = np.abs(b.rgb[sample].astype(float) - _shade(texel[sample]))
    assert err.max() <= 3, err.max()


def test_box_projection_on_a_uvless_cube(tmp_path):
    rng = np.random.default_rng(5)
    colours = rng.integers(30, 226, size=(4, 4, 3))
    key = _block_texture(tmp_path / "grid.png", colours, 16)  # 64 x 64, 4 x 4 blocks
    lo, hi = np.array([0.05, 0.3, 0.55]), np.array([0.2, 0.45, 0.7])  # model frame: one block per axis, tile 1
    cube = trimesh.creation.box(bounds=np.stack([lo, hi]))
    assert cube.visual.kind is None
    mat = Material("texture", np.ones(4), texture=Texture(key, "test"), tile=1.0)
    world_T_model = make_pose(np.eye(3), -(lo + hi) / 2 + [0, 0, 0.2])  # cube centred at (0, 0, 0.2)
    view = _view((0.45, 0.35, 0.55), (0.0, 0.0, 0.2))
    scene = _scene([ObjectInstance(1, 1, world_T_model, material=mat)], views=(view,))
    b = _render(_Lib([_asset(1, cube)]), scene)[0]
    # documented projection (assets.textures.box_uv): +x -> (y, z), +y -> (-x, z), +z -> (x, y); v = 0 at the bottom
    centre = (lo + hi) / 2
    faces = {"+x": (0, (centre[1], centre[2])), "+y": (1, (-centre[0], centre[2])), "+z": (2, (centre[0], centre[1]))}
    for name, (axis, (u, v)) in faces.items():
        corners = trimesh.bounds.corners(np.stack([lo, hi]))
        corners = corners[np.isclose(corners[:, axis], hi[axis])]
        region = ndimage.binary_erosion(_polygon_mask(view, transform_points(world_T_model, corners)), iterations=2)
        assert region.sum() > 80, name
        assert np.all(b.ids[region] == 1)
        fu, fv = np.mod(u, 1.0), np.mod(v, 1.0)
        texel = colours[3 - int(fv * 4), int(fu * 4)]
        err = np.abs(b.rgb[region].astype(float) - _shade(texel))
        assert err.max() <= 3, (name, err.max())


def _shadow_case(kind, resting):
    centre = np.array([0.0, 0.0, 0.04]) if resting else np.array([0.0, 0.0, 0.3])
    box = trimesh.creation.box(extents=[0.12, 0.12, 0.08] if resting else [0.16, 0.16, 0.02])
    if kind == "directional":
        d = np.array([0.9, 0.6, -1.0] if resting else [0.6, 0.4, -1.0])
        light = Light(d / np.linalg.norm(d), np.ones(3), 2.0)
    else:
        pos = np.array([-0.4, -0.3, 0.45] if resting else [-0.4, -0.3, 1.0])
        d = (centre - pos) / np.linalg.norm(centre - pos)
        light = Light(d, np.ones(3), 1.5, kind=kind, position=pos, inner_cone=0.5, outer_cone=0.7)
    return centre, box, light


def _shadow_polygon(light, corners):
    """Corners of the box pushed along the light's rays onto the floor z = 0 (world points)."""
    if light.kind == "directional":
        d = np.asarray(light.direction)
        return corners + (-corners[:, 2] / d[2])[:, None] * d
    L = np.asarray(light.position)
    return L + (L[2] / (L[2] - corners[:, 2]))[:, None] * (corners - L)


def _render_counting(lib, scene, monkeypatch):
    """(frames, shadow-map draws, shadow scope) of rendering every view of ``scene`` with one renderer."""
    import pyrender.renderer as pr

    from gtforge.render.renderer import Renderer

    draws = []
    original = pr.Renderer._shadow_mapping_pass

    def counted(self, scene_, light_node, flags):
        draws.append(light_node)
        return original(self, scene_, light_node, flags)

    monkeypatch.setattr(pr.Renderer, "_shadow_mapping_pass", counted)
    r = Renderer(lib, W, H)
    try:
        r.set_scene(scene)
        frames = [r.render_view(v) for v in scene.views]
        return frames, len(draws), r._shadow_scope
    finally:
        r.close()


@pytest.mark.parametrize("fit", ["scene", "view"])
@pytest.mark.parametrize("resting", [False, True], ids=["floating", "resting"])
@pytest.mark.parametrize("kind", ["directional", "spot", "point"])
def test_shadow_falls_where_the_light_is_blocked(kind, resting, fit, monkeypatch):
    """A floating slab's shadow lands where its corners project along the light; a box resting on the floor
    casts a shadow that starts at its base (no gap: the shadow map's depth bias stays below a few mm); with
    the frusta fitted to the scene's casters (drawn once per scene) and to what the view sees (per view)."""
    from gtforge.render import shadows

    monkeypatch.setattr(shadows, "SHADOW_FIT", fit)
    centre, box, light = _shadow_case(kind, resting)
    view = _view((0.28, 0.2, 0.32), (0.08, 0.06, 0.0)) if resting else _view((0.1, -0.35, 1.0), (0.15, 0.1, 0.0))
    obj = ObjectInstance(1, 1, make_pose(np.eye(3), centre))
    base = _scene([obj], floor=Floor(3.0, np.array([0.7, 0.7, 0.7])), lights=(light,), ambient=0.15, views=(view,))
    lib = _Lib([_asset(1, box, base_color=np.array([0.8, 0.3, 0.2, 1.0]))])
    off = _render(lib, base)[0]
    (on,), _draws, scope = _render_counting(lib, replace(base, shadows=True), monkeypatch)
    assert scope == fit  # the compact scene-level fit is taken when asked for
    assert np.array_equal(on.ids, off.ids) and np.array_equal(on.depth, off.depth)
    corners = transform_points(obj.world_T_model, trimesh.bounds.corners(box.bounds))
    shadow = _polygon_mask(view, _shadow_polygon(light, corners))
    obj_px = ndimage.binary_dilation(on.ids == 1, iterations=3)
    inside = ndimage.binary_erosion(shadow, iterations=1) & ~obj_px
    far = ~ndimage.binary_dilation(shadow, iterations=3) & ~obj_px & (on.depth > 0)
    assert inside.sum() > 100 and far.sum() > 5000
    darker = off.rgb[inside].astype(int).mean(axis=1) - on.rgb[inside].astype(int).mean(axis=1)
    assert darker.min() > 15, darker.min()  # every pixel of the predicted shadow is shadowed
    diff = np.abs(on.rgb[far].astype(int) - off.rgb[far].astype(int))
    assert diff.max() <= 2, diff.max()  # no acne, no stray shadow elsewhere


def _bin_scene(half, height, lights):
    """Two boxes inside four walls (a bin of inner half-size ``half`` and wall ``height``, m), seen from three
    sides, lit by ``lights`` with shadows on."""
    from gtforge.scenes.clutter import bin_walls

    objs = [ObjectInstance(1, 1, make_pose(np.eye(3), [0.03, 0.02, 0.04])),
            ObjectInstance(2, 2, make_pose(np.eye(3), [-0.07, -0.04, 0.025]))]
    views = (_view((0.35, 0.25, 0.45), (0.0, 0.0, 0.0)), _view((-0.3, 0.3, 0.4), (0.0, 0.0, 0.02)),
             _view((0.05, -0.45, 0.35), (0.0, 0.0, 0.0)))
    walls = tuple(bin_walls((2 * half, 2 * half), height, 0.01, np.array([0.3, 0.5, 0.4])))
    return _scene(objs, floor=Floor(3.0, np.array([0.7, 0.7, 0.7])), lights=lights, ambient=0.2, views=views,
                  walls=walls, shadows=True)


def _bin_lights():
    d = np.array([0.5, 0.4, -1.0])
    pos = np.array([-0.3, 0.25, 0.6])
    return (Light(d / np.linalg.norm(d), np.ones(3), 2.0),
            Light(-pos / np.linalg.norm(pos), np.ones(3), 1.0, kind="point", position=pos))


def test_scene_fitted_shadow_maps_are_drawn_once_and_equal_a_fresh_draw(monkeypatch):
    """In a compact scene (a bin) each light's shadow map is drawn once and kept for every view: each view's
    image is the same, byte for byte, as a renderer drawing the map for that view alone."""
    lib = _Lib([_asset(1, trimesh.creation.box(extents=[0.08, 0.06, 0.08]), base_color=np.array([0.8, 0.3, 0.2, 1.0])),
                _asset(2, trimesh.creation.box(extents=[0.1, 0.05, 0.05]), base_color=np.array([0.2, 0.3, 0.8, 1.0]))])
    scene = _bin_scene(0.15, 0.08, _bin_lights())
    frames, draws, scope = _render_counting(lib, scene, monkeypatch)
    assert scope == "scene" and draws == 2  # two lights, three views: two maps drawn
    for i, v in enumerate(scene.views):
        (alone,), one_draws, _ = _render_counting(lib, replace(scene, views=(v,)), monkeypatch)
        assert one_draws == 2
        assert np.array_equal(frames[i].rgb, alone.rgb), i
    off = _render(lib, replace(scene, shadows=False))
    assert all(np.array_equal(a.ids, b.ids) and np.array_equal(a.depth, b.depth) for a, b in zip(frames, off))
    assert all((a.rgb.astype(int).sum(-1) < b.rgb.astype(int).sum(-1) - 30).sum() > 200 for a, b in zip(frames, off))


def test_wide_scenes_fit_shadow_maps_per_view(monkeypatch):
    """Walls metres apart (a room) would spread a scene-fitted map over metres: the frusta are fitted per view
    and a map is drawn for every view."""
    lib = _Lib([_asset(1, trimesh.creation.box(extents=[0.08, 0.06, 0.08])),
                _asset(2, trimesh.creation.box(extents=[0.1, 0.05, 0.05]))])
    frames, draws, scope = _render_counting(lib, _bin_scene(2.0, 2.0, _bin_lights()), monkeypatch)
    assert scope == "view" and draws == 2 * len(frames)


def test_backdrops_fill_only_empty_pixels(tmp_path):
    cube = trimesh.creation.box(extents=[0.1, 0.1, 0.1])
    view = _view((0.0, -1.0, 0.3), (0.0, 0.0, 0.25))
    obj = ObjectInstance(1, 1, make_pose(np.eye(3), [0.0, 0.0, 0.05]))
    light = Light(np.array([0.2, 0.3, -1.0]) / np.linalg.norm([0.2, 0.3, -1.0]), np.ones(3), 2.0)
    base = _scene([obj], floor=Floor(1.5, np.array([0.6, 0.6, 0.6])), lights=(light,), ambient=0.3, views=(view,))
    lib = _Lib([_asset(1, cube)])
    plain = _render(lib, base)[0]
    empty = plain.depth == 0
    assert empty.sum() > 3000 and (~empty).sum() > 3000
    away = empty & ~ndimage.binary_dilation(~empty, iterations=2)  # empty pixels clear of anti-aliased edges
    assert np.all(plain.rgb[away] == 0)  # background_color
    horizon, zenith = np.array([0.9, 0.85, 0.7]), np.array([0.2, 0.4, 0.9])
    photo = np.zeros((240, 320, 3), np.uint8)  # quadrants: crop (0.25..0.75) keeps a quarter of each
    quads = np.array([[[250, 0, 0], [0, 250, 0]], [[0, 0, 250], [250, 250, 0]]], np.uint8)
    photo[:120, :160], photo[:120, 160:], photo[120:, :160], photo[120:, 160:] = quads.reshape(4, 3)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    backdrops = {
        "color": Backdrop("color", np.array([0.2, 0.6, 0.4])),
        "sky": Backdrop("sky", horizon, zenith=zenith),
        "photo": Backdrop("photo", np.zeros(3), photo=Texture(str(tmp_path / "photo.png"), "test"),
                          crop=np.array([0.25, 0.25, 0.75, 0.75])),
    }
    rays = _rays(view)
    t = np.sqrt(np.clip(rays[..., 2] / np.linalg.norm(rays, axis=-1), 0, 1))[..., None]
    assert (t[..., 0][away] == 0).sum() > 300 and (t[..., 0][away] > 0.3).sum() > 300  # both sides of the horizon
    vv, uu = np.mgrid[0:H, 0:W]
    quadrant = (vv >= H / 2).astype(int) * 2 + (uu >= W / 2)
    off_centre = (np.abs(vv - (H - 1) / 2) > 3) & (np.abs(uu - (W - 1) / 2) > 3)
    expected = {"color": np.broadcast_to(np.array([0.2, 0.6, 0.4]) * 255, (H, W, 3)),
                "sky": 255 * ((1 - t) * horizon + t * zenith),
                "photo": quads.reshape(4, 3)[quadrant].astype(float)}
    for name, backdrop in backdrops.items():
        b = _render(lib, replace(base, backdrop=backdrop))[0]
        assert np.array_equal(b.ids, plain.ids) and np.array_equal(b.depth, plain.depth), name
        assert np.array_equal(b.rgb[~empty & ~ndimage.binary_dilation(empty, iterations=2)],
                              plain.rgb[~empty & ~ndimage.binary_dilation(empty, iterations=2)]), name
        check = away & off_centre if name == "photo" else away
        err = np.abs(b.rgb[check].astype(float) - expected[name][check])
        assert err.max() <= (4 if name == "photo" else 1.5), (name, err.max())


def test_distractor_occludes_without_a_label():
    cube = trimesh.creation.box(extents=[0.1, 0.1, 0.1])
    plate = trimesh.creation.box(extents=[0.06, 0.06, 0.005])
    view = _view((0.0, 0.0, 0.6), (0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0))
    obj = ObjectInstance(1, 1, make_pose(np.eye(3), [0.0, 0.0, 0.05]))
    dis = ObjectInstance(1, 1, make_pose(np.eye(3), [0.03, 0.0, 0.3]),
                         material=Material("color", np.array([0.1, 0.8, 0.1, 1.0])))
    lib, dlib = _Lib([_asset(1, cube)]), _Lib([_asset(1, plate)])
    alone = _render(lib, _scene([obj], views=(view,)), distractors=dlib)[0]
    scene = _scene([obj], views=(view,), distractors=(dis,))
    b = _render(lib, scene, distractors=dlib)[0]
    top = transform_points(dis.world_T_model, trimesh.bounds.corners(plate.bounds))
    covered = ndimage.binary_erosion(_polygon_mask(view, top), iterations=1)
    assert covered.sum() > 400
    assert np.all(b.ids[covered] == 0)
    np.testing.assert_allclose(b.depth[covered], 0.6 - 0.3 - 0.0025, atol=1e-4)
    cube_top = _polygon_mask(view, transform_points(obj.world_T_model, trimesh.bounds.corners(cube.bounds)))
    rim = cube_top & ~ndimage.binary_dilation(covered, iterations=3)
    assert rim.sum() > 200 and np.all(b.ids[ndimage.binary_erosion(rim, iterations=2)] == 1)
    assert set(b.amodal) == {1} and np.array_equal(b.amodal[1], alone.amodal[1])
    assert np.all(b.amodal[1][H:2 * H, W:2 * W][ndimage.binary_erosion(cube_top, iterations=1)])
    assert np.all(b.rgb[covered][:, 1] > b.rgb[covered][:, 0])  # drawn with its material (green)
    with pytest.raises(ValueError, match="distractor"):
        _render(lib, scene)


def _hand(inst_id, verts, faces, **kw):
    z = np.zeros
    return HandInstance(inst_id, "right", verts, faces, z((16, 3)), z((21, 3)), z(3), z(45), z(10), z(3), z(3),
                        False, "test", np.array([0.8, 0.6, 0.5]), np.full(21, 0.01), **kw)


def test_forearm_pixels_belong_to_the_hand():
    hand = trimesh.creation.box(bounds=[[-0.04, -0.05, 0.1], [0.04, 0.05, 0.12]])
    arm = trimesh.creation.box(bounds=[[-0.03, -0.25, 0.1], [0.03, -0.05, 0.115]])
    red = np.tile(np.array([255, 0, 0, 255], np.uint8), (len(hand.vertices), 1))
    blue = np.tile(np.array([0, 0, 255, 255], np.uint8), (len(arm.vertices), 1))
    h = _hand(5, hand.vertices, hand.faces, vertex_colors=red,
              forearm=Forearm(arm.vertices, arm.faces, blue, sleeve=True))
    view = _view((0.0, -0.1, 0.8), (0.0, -0.1, 0.0), up=(0.0, 1.0, 0.0))
    b = _render(_Lib([]), _scene(hands=(h,), views=(view,)))[0]
    hand_px = _polygon_mask(view, hand.vertices)
    arm_px = ndimage.binary_erosion(_polygon_mask(view, arm.vertices) & ~ndimage.binary_dilation(hand_px, iterations=2),
                                    iterations=1)
    assert arm_px.sum() > 300
    assert np.all(b.ids[arm_px] == 5) and np.all(b.amodal[5][H:2 * H, W:2 * W][arm_px])
    inner_hand = ndimage.binary_erosion(hand_px, iterations=2)
    # ambient 1, no lights: vertex colours come out as they are
    assert np.all(b.rgb[inner_hand] == [255, 0, 0]) and np.all(b.rgb[arm_px] == [0, 0, 255])


def _two_part_asset(obj_id):
    body = trimesh.creation.box(bounds=[[-0.06, -0.03, 0.0], [0.06, 0.03, 0.04]])
    glass = trimesh.creation.box(bounds=[[-0.03, -0.025, 0.04], [0.03, 0.025, 0.065]])
    mesh = trimesh.util.concatenate([body, glass])
    parts = (PartLook("body", np.array([0.7, 0.1, 0.1, 1.0]), 0.5, 0.3),
             PartLook("light_front", np.array([0.9, 0.9, 0.8, 1.0]), emissive=np.array([0.8, 0.8, 0.6])))
    face_parts = np.repeat([0, 1], [len(body.faces), len(glass.faces)])
    return _asset(obj_id, mesh, face_parts=face_parts, parts=parts)


def _textured_cube(obj_id, image):
    cube = trimesh.creation.box(extents=[0.07, 0.07, 0.07])
    uv = np.c_[cube.vertices[:, 0] + cube.vertices[:, 2], cube.vertices[:, 1] - cube.vertices[:, 2]] * 5 + 0.5
    cube.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(image))
    return _asset(obj_id, cube)


def test_geometry_passes_ignore_appearance(tmp_path):
    """ids, depth and amodal are bit-identical across materials, lights, shadows and backdrops."""
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    key = _block_texture(tmp_path / "tex.png", rng.integers(0, 256, size=(4, 4, 3)), 8)
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.04)
    sphere.visual.vertex_colors = rng.integers(0, 256, size=(len(sphere.vertices), 4), dtype=np.uint8)
    lib = _Lib([_textured_cube(1, img), _asset(2, sphere), _two_part_asset(3)])
    dlib = _Lib([_asset(1, trimesh.creation.cylinder(radius=0.02, height=0.12))])
    poses = [make_pose(trimesh.transformations.random_rotation_matrix(rng.random(3))[:3, :3], p)
             for p in ([0.0, 0.0, 0.05], [0.09, 0.05, 0.04], [-0.08, 0.06, 0.0], [0.02, -0.09, 0.06])]
    arm = trimesh.creation.cylinder(radius=0.025, height=0.2, transform=make_pose(np.eye(3), [0.1, -0.15, 0.1]))
    hand = trimesh.creation.icosphere(subdivisions=2, radius=0.03).apply_translation([0.1, -0.05, 0.1])
    hand_colors = np.tile(np.array([200, 150, 120, 255], np.uint8), (len(hand.vertices), 1))
    h = _hand(9, hand.vertices, hand.faces, vertex_colors=hand_colors,
              forearm=Forearm(arm.vertices, arm.faces, np.tile(np.array([30, 30, 120, 255], np.uint8),
                                                               (len(arm.vertices), 1)), sleeve=True))
    views = (_view((0.3, -0.35, 0.35), (0.0, 0.0, 0.04)), _view((-0.2, 0.1, 0.45), (0.05, 0.0, 0.0)))
    walls = (StaticBox(np.array([0.5, 0.02, 0.1]), make_pose(np.eye(3), [0, 0.2, 0.05]), np.array([0.4, 0.4, 0.5])),)

    def scene(mats, lights=(), shadows=False, backdrop=None, floor_mat=None, wall_mat=None, dmat=None):
        objs = [ObjectInstance(i + 1, oid, poses[i], material=mats[i]) for i, oid in enumerate((1, 2, 3))]
        d = (ObjectInstance(1, 1, poses[3], material=dmat),)
        return _scene(objs, floor=Floor(2.0, np.array([0.5, 0.5, 0.5]), material=floor_mat), lights=lights,
                      ambient=0.3, views=views, shadows=shadows, backdrop=backdrop, hands=(h,), distractors=d,
                      walls=tuple(replace(w, material=wall_mat) for w in walls))

    tex = Material("texture", np.array([1.0, 0.9, 0.8, 1.0]), 0.1, 0.6, Texture(key, "t"), 0.05, "auto",
                   np.array([0.3, 0.8, 1.1]))
    box_tex = replace(tex, projection="box")
    asset = Material("asset", np.array([0.5, 0.5, 0.5, 1.0]), 0.6, 0.2, hsv=np.array([0.5, 1.3, 0.7]))
    color = Material("color", np.array([0.1, 0.7, 0.3, 1.0]), 0.0, 0.9)
    sun = Light(np.array([0.3, -0.2, -1.0]) / np.linalg.norm([0.3, -0.2, -1.0]), np.ones(3), 3.0)
    point = Light(np.array([0.0, 0.0, -1.0]), np.array([1.0, 0.9, 0.8]), 2.0, kind="point",
                  position=np.array([0.1, 0.2, 0.8]))
    spot = Light(np.array([-0.2, 0.1, -1.0]) / np.linalg.norm([-0.2, 0.1, -1.0]), np.ones(3), 3.0, kind="spot",
                 position=np.array([0.2, -0.1, 0.9]), inner_cone=0.3, outer_cone=0.5)
    sky = Backdrop("sky", np.array([0.9, 0.9, 0.8]), zenith=np.array([0.3, 0.5, 0.9]))
    variants = [
        scene([None] * 3),
        scene([asset] * 3, lights=(sun,), dmat=tex),
        scene([tex] * 3, lights=(sun, point), shadows=True, backdrop=sky, floor_mat=tex, wall_mat=box_tex),
        scene([box_tex, color, tex], lights=(spot, point, sun), shadows=True, floor_mat=color, wall_mat=tex,
              dmat=asset, backdrop=Backdrop("color", np.array([0.3, 0.3, 0.3]))),
        scene([color] * 3, lights=(replace(point, shadows=False), spot), shadows=True, dmat=color),
    ]
    out = [_render(lib, s, distractors=dlib) for s in variants]
    ref = out[0]
    for frames in out[1:]:
        for a, b in zip(ref, frames):
            assert np.array_equal(a.ids, b.ids) and np.array_equal(a.depth, b.depth)
            assert set(a.amodal) == set(b.amodal) == {1, 2, 3, 9}
            assert all(np.array_equal(a.amodal[i], b.amodal[i]) for i in a.amodal)
            assert not np.array_equal(a.rgb, b.rgb)  # the appearance did change
    assert all(np.isin(np.unique(f.ids), [0, 1, 2, 3, 9]).all() for f in ref)
    assert {1, 2, 3, 9} <= set(np.unique(np.concatenate([f.ids.ravel() for f in ref])))
