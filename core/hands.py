"""MANO's hand skeleton: joint tree, the 21 keypoints, bones, fingers, mirroring; parameters in a camera frame.

Source: Romero et al. 2017, "Embodied Hands: Modeling and Capturing Hands and Bodies Together"
(MANO), and the keypoint order used by the hand-pose field (FreiHAND, DexYCB, ObMan): wrist,
then thumb, index, middle, ring, little, each from base to tip.

Joint order (MANO, 16 joints): 0 wrist, 1-3 index, 4-6 middle, 7-9 little (pinky), 10-12 ring,
13-15 thumb. The 21 keypoints are the 16 joints plus 5 fingertip vertices (thumb, index, middle,
ring, little), reordered by ``MANO_TO_21``. Left hands are the right model mirrored by
``MIRROR`` = diag(-1, 1, 1) (MANO_LEFT is the mirror of MANO_RIGHT).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

#: Parents of MANO's 16 joints (-1: root).
MANO_PARENTS = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14])
#: 16 joints + 5 tips (16 thumb, 17 index, 18 middle, 19 ring, 20 little) -> 21 keypoints in MANO's order.
MANO_TO_21 = np.array([0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20])
#: Names of the 21 keypoints, in order (also the COCO ``hand`` category's ``keypoints``).
KEYPOINT_NAMES = [
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "little_mcp", "little_pip", "little_dip", "little_tip",
]
#: Bones between the 21 keypoints (0-based pairs, parent -> child).
BONES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
         (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20)]
#: Fingertip vertex ids (thumb, index, middle, ring, little) of the MANO mesh used by two toolkits.
TIP_IDS = {"smplx": (744, 320, 443, 554, 671), "manopth": (745, 317, 444, 556, 673)}
#: Finger of each of the 15 non-root joints, in MANO joint order (1..15).
JOINT_FINGER = ["index"] * 3 + ["middle"] * 3 + ["little"] * 3 + ["ring"] * 3 + ["thumb"] * 3
#: Fingers in keypoint order.
FINGERS = ("thumb", "index", "middle", "ring", "little")
#: MANO joint ids of each finger, base to distal.
FINGER_JOINTS = {"index": (1, 2, 3), "middle": (4, 5, 6), "little": (7, 8, 9), "ring": (10, 11, 12),
                 "thumb": (13, 14, 15)}
#: (3, 3) float64: the reflection that turns a right hand into a left one (model frame).
MIRROR = np.diag([-1.0, 1.0, 1.0])


def params_in_camera(hand, cam_T_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A hand's (global_orient, transl) in a camera frame.

    The same model call (``HandModel.forward``) with these parameters and the hand's own
    ``hand_pose`` and ``betas`` gives the hand in camera coordinates. MANO rotates about the
    wrist J_0 and adds ``transl`` last, so with R_cw, t_cw of ``cam_T_world``:
    ``go' = log(R_cw Rot(go))`` and ``transl' = R_cw (J_0 + transl) + t_cw - J_0``.

    Parameters
    ----------
    hand : HandInstance
        Uses ``global_orient`` (3,) axis-angle radians and ``transl`` (3,) metres, both in the
        world frame, ``rest_wrist`` (3,) J_0 of the shaped right model, and ``handedness``
        (a left hand's J_0 is mirrored by ``MIRROR``).
    cam_T_world : (4, 4) float64
        OpenCV camera from world, metres.

    Returns
    -------
    global_orient : (3,) float64, axis-angle radians, camera frame
    transl : (3,) float64, metres, camera frame
    """
    R_cw, t_cw = cam_T_world[:3, :3], cam_T_world[:3, 3]
    R = Rotation.from_rotvec(hand.global_orient).as_matrix()
    J0 = MIRROR @ hand.rest_wrist if hand.handedness == "left" else hand.rest_wrist
    go = Rotation.from_matrix(R_cw @ R).as_rotvec()
    return go, R_cw @ (J0 + hand.transl) + t_cw - J0
