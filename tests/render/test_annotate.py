"""Annotator (pure numpy, no GL): masks, counts, boxes, truncation, occlusion levels."""

import numpy as np
import pytest

from gtforge.core.labels import mask_bbox, occlusion_level
from gtforge.render.annotate import annotate_view, visibility_stats
from gtforge.core.ids import decode_ids, encode_ids
from gtforge.core.description import Floor, ObjectInstance, SceneDescription, View
from gtforge.core.geometry import intrinsics_matrix, make_pose


def test_mask_bbox():
    m = np.zeros((10, 12), bool)
    m[2:5, 3:9] = True
    assert mask_bbox(m) == [3, 2, 6, 3]
    assert mask_bbox(np.zeros((4, 4), bool)) == [-1, -1, -1, -1]
    assert mask_bbox(m, offset=(-4, -1)) == [-1, 1, 6, 3]


@pytest.mark.parametrize("occ, level", [(0.0, 0), (0.1, 0), (0.1001, 1), (0.5, 1), (0.75, 2), (1.0, 2), (None, 3)])
def test_occlusion_levels(occ, level):
    assert occlusion_level(occ, (0.1, 0.5)) == level


def test_ids_encode_beyond_255():
    ids = np.array([0, 1, 255, 256, 70000, 2**24 - 1])
    assert np.array_equal(decode_ids(encode_ids(ids)), ids)
    with pytest.raises(ValueError):
        encode_ids([2**24])


def test_visibility_stats_truncated_and_occluded():
    H, W = 4, 6
    canvas = np.zeros((3 * H, 3 * W), bool)
    # silhouette: image columns -2..1 (2 outside the image), rows 1..2 -> 8 px, 4 in frame
    canvas[H + 1:H + 3, W - 2:W + 2] = True
    inst = np.zeros((H, W), np.int32)
    inst[1, 0:2] = 5  # visible
    inst[2, 0] = 9  # another object in front
    depth = np.ones((H, W), np.float32)
    depth[2, 1] = 0  # invalid depth pixel
    s = visibility_stats(canvas, inst, depth, 5, (0.1, 0.5))
    assert s.px_count_all == 8 and s.px_count_in_frame == 4 and s.px_count_visib == 2
    assert s.px_count_valid == 3
    assert s.visib_fract == pytest.approx(2 / 8)
    assert s.truncation == pytest.approx(0.5) and s.occlusion == pytest.approx(0.5)
    assert s.occlusion_level == 1
    assert s.bbox_obj == [-2, 1, 4, 2] and s.bbox_visib == [0, 1, 2, 1]
    with pytest.raises(ValueError):
        visibility_stats(canvas[:-1], inst, depth, 5)


def test_fully_outside_is_unknown_level():
    H, W = 4, 6
    canvas = np.zeros((3 * H, 3 * W), bool)
    canvas[0:2, 0:2] = True
    s = visibility_stats(canvas, np.zeros((H, W), np.int32), np.zeros((H, W)), 1)
    assert s.truncation == 1.0 and s.occlusion is None and s.occlusion_level == 3 and s.visib_fract == 0


def test_annotate_view_poses_in_camera_frame():
    K = intrinsics_matrix(10, 10, 2, 2)
    world_T_cam = make_pose(np.eye(3), [0.0, 0.0, -1.0])
    o = ObjectInstance(inst_id=1, obj_id=4, world_T_model=make_pose(np.eye(3), [0.1, 0.2, 0.5]))
    scene = SceneDescription(0, (o,), Floor(1.0, np.zeros(3)), (), (), 0.3, np.zeros(3), ())
    view = View(K, 5, 5, world_T_cam)
    labels = annotate_view(scene, view, np.zeros((5, 5), np.int32), np.zeros((5, 5)), {1: np.zeros((15, 15), bool)})
    assert labels[0].obj_id == 4
    assert np.allclose(labels[0].cam_t_m2c, [0.1, 0.2, 1.5]) and np.allclose(labels[0].cam_R_m2c, np.eye(3))


def test_visible_pixels_are_always_inside_the_silhouette():
    H, W = 4, 6
    canvas = np.zeros((3 * H, 3 * W), bool)
    canvas[H + 1:H + 3, W + 1:W + 3] = True  # 4 px
    inst = np.zeros((H, W), np.int32)
    inst[1:3, 1:4] = 2  # 6 px claimed by the ID pass, 2 outside the silhouette
    s = visibility_stats(canvas, inst, np.ones((H, W)), 2)
    assert s.px_count_visib == 4 and s.visib_fract == 1.0 and s.occlusion == 0.0
