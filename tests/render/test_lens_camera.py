"""Exact layers of a distorted camera (render/lens_camera.py): ids, depth and amodal silhouettes ray-cast through the
lens, checked against the independent oracle of ``gtforge verify`` (inspection/raycast.py: its own meshes in the
camera frame, its own Embree cast). No GL: the layers come from :meth:`LensCamera.cast` alone.

The scene has every kind of surface the renderer's ID pass knows: objects (one truncated by the image border), a hand
with its forearm (one owner), a distractor and a wall box (occlude, own nothing), the floor.
"""

import dataclasses

import numpy as np
import pytest
import trimesh

from gtforge.assets.scene_rays import SceneRays
from gtforge.core.description import Floor, Forearm, HandInstance, ObjectInstance, SceneDescription, StaticBox, View
from gtforge.core.geometry import intrinsics_matrix, invert_pose, look_at_opencv, make_pose
from gtforge.inspection.raycast import cast
from gtforge.render.lens_camera import lens_camera

W, H = 160, 120
K = intrinsics_matrix(125.0, 125.0, 79.5, 59.5)
LENSES = {"radtan": ("radtan", (-0.28, 0.07, 1e-3, -5e-4, 0.0)), "fisheye": ("fisheye", (0.1, -0.05, 0.01, -0.002))}


class Lib:
    def __init__(self, meshes):
        self.meshes = meshes

    def get(self, obj_id):
        return type("Asset", (), {"mesh": self.meshes[obj_id]})()


def at(x, y, z, yaw=0.0):
    c, s = np.cos(yaw), np.sin(yaw)
    return make_pose(np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]), [x, y, z])


def hand(inst_id, centre):
    """A hand (an icosphere) with a forearm (a long box): two meshes, one owner."""
    ball = trimesh.creation.icosphere(subdivisions=2, radius=0.05)
    ball.apply_translation(centre)
    arm = trimesh.creation.box(extents=[0.3, 0.05, 0.05])
    arm.apply_translation(np.asarray(centre) + [0.18, 0.0, 0.0])
    z = np.zeros(3)
    return HandInstance(inst_id=inst_id, handedness="right", vertices=np.asarray(ball.vertices),
                        faces=np.asarray(ball.faces), joints=np.zeros((16, 3)), keypoints=np.zeros((21, 3)),
                        global_orient=z, hand_pose=np.zeros(45), betas=np.zeros(10), transl=z, rest_wrist=z,
                        flat_hand_mean=True, backend="procedural", color=np.ones(3), keypoint_radii=np.zeros(21),
                        forearm=Forearm(vertices=np.asarray(arm.vertices), faces=np.asarray(arm.faces),
                                        vertex_colors=np.ones((len(arm.vertices), 4))))


MESHES = {1: trimesh.creation.box(extents=[0.12, 0.08, 0.06]),
          2: trimesh.creation.icosphere(subdivisions=3, radius=0.05),
          3: trimesh.creation.cylinder(radius=0.02, height=0.5, sections=24)}
DISTRACTORS = {7: trimesh.creation.box(extents=[0.04, 0.04, 0.2])}


def scene():
    objects = (ObjectInstance(1, 1, at(0.0, 0.0, 0.03, 0.4)), ObjectInstance(2, 2, at(-0.1, 0.08, 0.05)),
               ObjectInstance(3, 3, make_pose(trimesh.transformations.rotation_matrix(1.4, [0, 1, 0])[:3, :3],
                                              [0.05, -0.12, 0.03])))  # long: beyond the image
    wall = StaticBox(extents=np.array([0.02, 0.5, 0.15]), world_T_box=at(-0.25, 0.0, 0.075), color=np.ones(3))
    return SceneDescription(scene_index=0, objects=objects, floor=Floor(size=2.0, color=np.ones(3)), walls=(wall,),
                            lights=(), ambient=0.3, background_color=np.zeros(3), views=(),
                            hands=(hand(5, [0.08, 0.1, 0.12]),),
                            distractors=(ObjectInstance(9, 7, at(0.1, 0.02, 0.1)),))


def view(lens, eye=(0.35, -0.3, 0.45), znear=0.02):
    return View(K=K, width=W, height=H, world_T_cam=look_at_opencv(np.array(eye), np.array([0.0, 0.0, 0.04])),
                znear=znear, dist_model=lens[0], dist_coeffs=lens[1])


def oracle_meshes(desc, v):
    """(meshes in the camera frame, owner of each: inst_id or 0), built here from the description alone."""
    cam_T_world = invert_pose(v.world_T_cam)
    out = []
    for o in desc.objects:
        out.append((MESHES[o.obj_id].copy().apply_transform(cam_T_world @ o.world_T_model), o.inst_id))
    for h in desc.hands:
        out.append((trimesh.Trimesh(h.vertices, h.faces, process=False).apply_transform(cam_T_world), h.inst_id))
        out.append((trimesh.Trimesh(h.forearm.vertices, h.forearm.faces, process=False).apply_transform(cam_T_world),
                    h.inst_id))
    for d in desc.distractors:
        out.append((DISTRACTORS[d.obj_id].copy().apply_transform(cam_T_world @ d.world_T_model), 0))
    for b in desc.walls:
        out.append((trimesh.creation.box(extents=b.extents, transform=cam_T_world @ b.world_T_box), 0))
    s = desc.floor.size / 2
    floor = trimesh.Trimesh([[-s, -s, 0], [s, -s, 0], [s, s, 0], [-s, s, 0]], [[0, 1, 2], [0, 2, 3]], process=False)
    out.append((floor.apply_transform(cam_T_world), 0))
    return out


def boundary(labels):
    """Pixels with a 4-neighbour of another label."""
    b = np.zeros(labels.shape, bool)
    b[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    b[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    b[1:] |= labels[1:] != labels[:-1]
    b[:-1] |= labels[1:] != labels[:-1]
    return b


@pytest.fixture(scope="module", params=list(LENSES))
def layers(request):
    lens = LENSES[request.param]
    desc, v = scene(), view(lens)
    ids, depth, amodal = lens_camera(v).cast(SceneRays(desc, Lib(MESHES), Lib(DISTRACTORS)), v)
    return {"lens": lens, "desc": desc, "view": v, "ids": ids, "depth": depth, "amodal": amodal}


def test_ids_and_depth_are_the_oracles_at_every_pixel_centre(layers):
    lens, v = layers["lens"], layers["view"]
    posed = oracle_meshes(layers["desc"], v)
    depth_o, who = cast([m for m, _ in posed], K, W, H, dist=lens)
    ids_o = np.where(who >= 0, np.array([o for _, o in posed] + [0])[who], 0)
    ids, depth = layers["ids"], layers["depth"]
    assert ids.shape == (H, W) and ids.dtype == np.int32 and depth.dtype == np.float32
    assert set(np.unique(ids)) == {0, 1, 2, 3, 5}  # every object, the hand (and its forearm), the background
    differ = ids != ids_o
    # exact at pixel centres: at most a few pixels differ (float32 ties inside Embree), each on an owner boundary
    assert differ.sum() <= 3 and not np.any(differ & ~boundary(ids_o)), (lens[0], differ.sum())
    both = (depth > 0) & (depth_o > 0) & ~differ
    assert np.array_equal(depth > 0, depth_o > 0) or (np.sum((depth > 0) != (depth_o > 0)) <= 3)
    assert np.abs(depth[both] - depth_o[both]).max() < 1e-5  # float32 storage of metres
    # distractors and walls occlude but own nothing: the oracle's view of them is id 0 here too
    dist_px = who == len(MESHES) + 2  # the distractor's index in oracle_meshes
    assert dist_px.sum() > 20 and np.all(ids[dist_px & ~differ] == 0)


def test_amodal_silhouettes_are_the_oracles_on_the_distorted_3w_x_3h_plane(layers):
    lens, v = layers["lens"], layers["view"]
    posed = oracle_meshes(layers["desc"], v)
    assert sorted(layers["amodal"]) == [1, 2, 3, 5]
    truncated = 0
    for inst in (1, 2, 3, 5):
        depth_o, _ = cast([m for m, o in posed if o == inst], K, 3 * W, 3 * H, -W, -H, dist=lens)
        want, got = depth_o > 0, layers["amodal"][inst]
        assert got.shape == (3 * H, 3 * W) and got.dtype == bool
        assert np.sum(want != got) <= 3, (lens[0], inst, np.sum(want != got))
        # visible within amodal, exactly
        assert not np.any((layers["ids"] == inst) & ~got[H:2 * H, W:2 * W])
        inside = got[H:2 * H, W:2 * W].sum()
        truncated += inside < got.sum()
    assert truncated >= 1  # the cylinder reaches beyond the image: counted on the plane, as BOP's canvas


def test_near_plane_clips_as_the_rasteriser_does():
    """A surface nearer than znear is not seen: its pixels show what lies behind it (the rasteriser clips it)."""
    lens = LENSES["radtan"]
    desc = scene()
    near = view(lens, znear=0.45)
    _, depth, _ = lens_camera(near).cast(SceneRays(desc, Lib(MESHES), Lib(DISTRACTORS)), near)
    posed = oracle_meshes(desc, near)
    depth_o, _ = cast([m for m, _ in posed], K, W, H, dist=lens)
    cut = (depth_o > 0) & (depth_o < 0.45)
    assert cut.sum() > 50  # the cylinder, the forearm, the wall and the floor come that close
    assert depth[depth > 0].min() >= 0.45 - 1e-6
    assert np.all(depth[depth_o >= 0.45 + 1e-3] > 0)
    assert np.any(cut & (depth > 0.45))  # something behind shows through
    # the far plane: nothing beyond zfar
    far = dataclasses.replace(near, znear=0.02, zfar=0.6)
    _, depth_f, _ = lens_camera(far).cast(SceneRays(desc, Lib(MESHES), Lib(DISTRACTORS)), far)
    assert depth_f.max() <= 0.6 and np.any((depth_o > 0.6) & (depth_f == 0))
