"""compare/content_stats.py: label statistics against values worked out independently.

Viewpoints are checked against cameras placed at a known azimuth, elevation and distance with a look-at
construction; the hand frame against similarity transforms (rotation, scale, shift, mirror) of one hand.
"""

import math
from pathlib import Path

import numpy as np
import pytest

from gtforge.compare.content_stats import box_size, content_statistics, hand_frame, viewpoint
from gtforge.compare.imagesets import ImageRecord, ImageSet, Label


def look_at_pose(az_deg: float, el_deg: float, dist: float) -> tuple[np.ndarray, np.ndarray]:
    """cam_R_m2c, cam_t_m2c of an OpenCV camera at (azimuth, elevation, distance) in the model frame (z up),
    looking at the model origin."""
    az, el = math.radians(az_deg), math.radians(el_deg)
    c = dist * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    z = -c / np.linalg.norm(c)  # forward
    x = np.cross(z, [0.0, 0.0, 1.0])
    x = x / np.linalg.norm(x) if np.linalg.norm(x) > 1e-9 else np.array([1.0, 0.0, 0.0])
    y = np.cross(z, x)  # down
    R_c2m = np.stack([x, y, z], axis=1)
    R = R_c2m.T
    return R, -R @ c


@pytest.mark.parametrize("az, el, d", [(0, 30, 1.0), (90, 10, 0.5), (-135, 60, 2.0), (179, -20, 1.2)])
def test_viewpoint_of_a_placed_camera(az, el, d):
    R, t = look_at_pose(az, el, d)
    got = viewpoint(R, t)
    assert np.allclose(got, (az, el, d), atol=1e-9)


def test_box_size_is_relative_to_the_diagonal():
    assert box_size((0, 0, 100, 100), 100, 100) == pytest.approx(1 / math.sqrt(2))
    assert box_size((5, 5, 30, 40), 300, 400) == pytest.approx(math.sqrt(1200) / 500)


HAND = np.array([[0, 0], [-0.4, 0.2], [-0.6, 0.45], [-0.75, 0.7], [-0.85, 0.9],  # wrist, thumb
                 [0.35, 0.95], [0.4, 1.35], [0.42, 1.6], [0.44, 1.8],  # index
                 [0.05, 1.0], [0.05, 1.45], [0.05, 1.75], [0.05, 1.95],  # middle
                 [-0.2, 0.95], [-0.25, 1.35], [-0.27, 1.6], [-0.3, 1.8],  # ring
                 [-0.35, 0.95], [-0.45, 1.25], [-0.5, 1.45], [-0.55, 1.6]])  # little


def image_hand(angle_deg: float, scale: float, shift, mirror: bool) -> np.ndarray:
    """HAND (x right, y up, index side right) drawn in the image: (21, 3) pixels with y down, v = 2."""
    p = HAND * [-1.0 if mirror else 1.0, 1.0]
    p = p * [1.0, -1.0]  # image y points down: fingers up in the image
    a = math.radians(angle_deg)  # clockwise on screen = positive in image coordinates (y down)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    p = p @ rot.T * scale + shift
    return np.concatenate([p, np.full((21, 1), 2.0)], axis=1)


def test_hand_frame_removes_rotation_scale_shift_and_side():
    reference, angle0, side0 = hand_frame(image_hand(0.0, 50.0, (100, 80), False))
    assert abs(angle0) < 1e-9
    for angle, scale, shift, mirror in ((30.0, 20.0, (10, 5), False), (-120.0, 80.0, (300, 200), True),
                                        (170.0, 5.0, (0, 0), True)):
        canonical, got_angle, side = hand_frame(image_hand(angle, scale, shift, mirror))
        assert np.allclose(canonical, reference, atol=1e-9)
        assert got_angle == pytest.approx(angle)
        assert side == pytest.approx(-side0 if mirror else side0)
    assert reference[9, 1] == pytest.approx(1.0, abs=0.01) and reference[5, 0] > 0  # middle MCP up, index right
    hidden = image_hand(0.0, 50.0, (100, 80), False)
    hidden[9, 2] = 0
    assert hand_frame(hidden) is None


def labelled_set(records) -> ImageSet:
    return ImageSet(Path("."), "coco", tuple(records))


def test_content_statistics_of_a_small_set():
    R, t = look_at_pose(45.0, 30.0, 0.8)
    a = Label("mug", (0, 0, 20, 10), truncation=0.0, visib_fract=1.0, occlusion_level=0, cam_R_m2c=R, cam_t_m2c=t)
    b = Label("duck", (60, 40, 20, 20), truncation=0.5, visib_fract=0.25, occlusion_level=2)
    hand = Label("hand", (10, 10, 30, 30), keypoints=image_hand(0.0, 20.0, (30, 30), False))
    s = labelled_set([ImageRecord(Path("a.png"), 100, 80, (a, b)), ImageRecord(Path("b.png"), 100, 80, ()),
                      ImageRecord(Path("c.png"), 100, 80, (hand,))])
    st = content_statistics(s)
    assert st["instances_per_image"].values.tolist() == [2.0, 0.0, 1.0]
    assert st["class_frequency"].values.tolist() == ["mug", "duck", "hand"]
    assert np.allclose(st["box_center"].values, [[0.1, 5 / 80], [0.7, 0.625], [0.25, 25 / 80]])
    assert np.allclose(st["aspect_ratio"].values, [2.0, 1.0, 1.0])
    assert st["truncation"].values.tolist() == [0.0, 0.5] and st["visib_fract"].values.tolist() == [1.0, 0.25]
    assert st["occlusion_level"].values.tolist() == ["0 fully visible", "2 largely occluded"]
    assert np.allclose(st["view_elevation"].values, [30.0]) and np.allclose(st["object_distance"].values, [0.8])
    assert np.allclose(st["viewpoint"].values, [[45 / 360 + 0.5, 30 / 180 + 0.5]])
    assert st["hand_articulation"].values.shape == (1, 40) and st["hand_orientation"].values.shape == (1, 2)
    assert all(v.group == "content" for v in st.values())
    assert content_statistics(ImageSet(Path("."), "folder", (ImageRecord(Path("a.png"), 10, 10, None),))) == {}


def test_statistics_the_labels_cannot_give_are_left_out():
    s = labelled_set([ImageRecord(Path("a.png"), 100, 80, (Label("car", (0, 0, 10, 10)),))])
    assert set(content_statistics(s)) == {"instances_per_image", "box_size", "aspect_ratio", "box_center",
                                          "class_frequency"}
