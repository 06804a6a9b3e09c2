"""Content statistics of a labelled image set: what the labels say about the scenes (no pixel is read).

Counts, box sizes, shapes and positions follow Unity Dataset Insights' object-detection statistics
(``datasetinsights.stats.object_detection_stats``: boxes per image, relative box size, box heat map), with the
box size taken relative to the image diagonal. 6D poses give the viewpoint (where the camera stands in the
object's frame), hand keypoints an articulation embedding and a global-orientation statistic in the manner of
the BigHand2.2M paper's comparison of ICVL, NYU and its own set (Yuan et al., "BigHand2.2M Benchmark: Hand
Pose Dataset and State of the Art Analysis", CVPR 2017). Statistics a set's labels cannot give (no truncation,
no poses, no keypoints) are left out of its dict.
"""

from __future__ import annotations

import math

import numpy as np

from .imagesets import ImageSet
from .stats import Statistic

#: MANO keypoint indices (``core.hands.KEYPOINT_NAMES``) of the canonical hand frame.
WRIST, INDEX_MCP, MIDDLE_MCP, LITTLE_MCP = 0, 5, 9, 17
#: KITTI's occlusion levels, as categories.
OCCLUSION_NAMES = {0: "0 fully visible", 1: "1 partly occluded", 2: "2 largely occluded", 3: "3 unknown"}


def box_size(bbox, width: int, height: int) -> float:
    """sqrt(w h) of a pixel box [x, y, w, h] over the image diagonal sqrt(W^2 + H^2): about 0.7 for a box that
    fills the image. (Dataset Insights' ``get_bbox_relative_size_list`` divides sqrt(area) by sqrt(W H) instead.)"""
    return math.sqrt(max(bbox[2], 0.0) * max(bbox[3], 0.0)) / math.hypot(width, height)


def viewpoint(R: np.ndarray, t: np.ndarray) -> tuple[float, float, float]:
    """Where the camera stands in the object's frame, from a pose model -> camera (``cam_R_m2c``, ``cam_t_m2c``).

    The camera centre in the model frame is ``c = -R^T t``. Returns (azimuth, elevation, distance): azimuth
    ``atan2(c_y, c_x)`` in degrees (-180, 180] about the model's z axis, from its x axis; elevation
    ``asin(c_z / |c|)`` in degrees [-90, 90] above the model's x-y plane (the model's z axis taken as up: gtforge's
    models, the car frame, BOP's usual models); distance ``|t|`` in metres (camera to model origin). A
    symmetric object's azimuth is only defined up to its symmetry.
    """
    R = np.asarray(R, dtype=np.float64).reshape(3, 3)
    t = np.asarray(t, dtype=np.float64).reshape(3)
    c = -R.T @ t
    d = float(np.linalg.norm(c))
    if d == 0.0:
        return 0.0, 0.0, 0.0
    return (math.degrees(math.atan2(c[1], c[0])), math.degrees(math.asin(max(-1.0, min(1.0, c[2] / d)))),
            float(np.linalg.norm(t)))


def hand_frame(keypoints: np.ndarray) -> tuple[np.ndarray, float, float] | None:
    """The canonical 2D hand frame of 21 keypoints, or None when it is undefined.

    Parameters
    ----------
    keypoints : (21, 3) float64
        x, y pixels (image frame: x right, y down), v (0 = not labelled), MANO order.

    Returns
    -------
    canonical : (21, 2) float64
        The keypoints with the wrist at the origin, scaled by the wrist - middle-MCP length, rotated so that the
        palm axis (wrist -> the midpoint of the index and little MCPs) is +y, and mirrored so that the index MCP
        has x >= 0: in-plane rotation, scale, side (left/right, palm/back) removed.
    angle : float
        In-plane angle of the palm axis in degrees (-180, 180]: 0 = fingers up in the image, 90 = right.
    side : float
        Signed palm opening ``(a x b) / (|a| |b|)`` of a = index MCP - wrist and b = little MCP - wrist in image
        coordinates, [-1, 1]: the sign separates a right palm or left back (negative) from a right back or left
        palm (positive) seen fingers-up; near 0 the palm is seen edge-on.

    None when the wrist, index, middle or little MCP is unlabelled (v = 0) or two of them coincide.
    """
    k = np.asarray(keypoints, dtype=np.float64)
    if k.shape != (21, 3) or np.any(k[[WRIST, INDEX_MCP, MIDDLE_MCP, LITTLE_MCP], 2] <= 0):
        return None
    p = k[:, :2] - k[WRIST, :2]
    length = float(np.linalg.norm(p[MIDDLE_MCP]))
    axis = (p[INDEX_MCP] + p[LITTLE_MCP]) / 2.0
    a, b = p[INDEX_MCP], p[LITTLE_MCP]
    na, nb, nax = np.linalg.norm(a), np.linalg.norm(b), np.linalg.norm(axis)
    if length <= 1e-9 or na <= 1e-9 or nb <= 1e-9 or nax <= 1e-9:
        return None
    u = axis / nax
    v = np.array([-u[1], u[0]])  # u rotated by +90 degrees in image coordinates
    canonical = np.stack([p @ v, p @ u], axis=1) / length
    if canonical[INDEX_MCP, 0] < 0:
        canonical[:, 0] = -canonical[:, 0]
    angle = math.degrees(math.atan2(u[0], -u[1]))
    side = float((a[0] * b[1] - a[1] * b[0]) / (na * nb))
    return canonical, angle, side


_DESC = {
    "instances_per_image": "Labelled instances per image (Unity Dataset Insights' get_bbox_per_img_dict; "
                           "instances without a visible pixel are not labelled).",
    "box_size": "Box size: sqrt(w h) of the visible box over the image diagonal sqrt(W^2 + H^2) (Dataset "
                "Insights' relative box size, get_bbox_relative_size_list, divides by sqrt(W H)).",
    "aspect_ratio": "Aspect ratio w / h of the visible box.",
    "box_center": "Centre of the visible box over the image width and height (x right, y down, [0, 1]): the "
                  "box heat map (Dataset Insights' get_bbox_heatmap draws whole boxes).",
    "class_frequency": "Class name of each instance: the classes' shares.",
    "truncation": "Share of each object outside the image, [0, 1] (KITTI's truncated; gtforge's truncation).",
    "visib_fract": "Visible share of each object, [0, 1] (BOP's visib_fract).",
    "occlusion_level": "KITTI's occlusion level of each instance: 0 fully visible, 1 partly, 2 largely occluded, "
                       "3 unknown.",
    "object_distance": "Distance from the camera to the object's origin |t|, from the 6D pose.",
    "view_elevation": "Elevation of the camera above the object's x-y plane, asin(c_z / |c|) with the camera "
                      "centre c = -R^T t in the object frame (object z up), from the 6D pose.",
    "viewpoint": "Viewpoint on the object: (azimuth / 360 + 0.5, elevation / 180 + 0.5) of the camera centre "
                 "c = -R^T t in the object frame (azimuth about the object's z axis from its x axis; a symmetric "
                 "object's azimuth is defined only up to its symmetry), from the 6D pose.",
    "hand_articulation": "Hand articulation: the 20 non-wrist keypoints of each fully labelled hand (x, y; 40 "
                         "numbers) in a canonical 2D hand frame: wrist at the origin, scaled by the wrist - "
                         "middle-MCP length, palm axis (wrist -> midpoint of the index and little MCPs) up, index "
                         "side right (as BigHand2.2M, Yuan et al. CVPR 2017, compared the articulations of ICVL, "
                         "NYU and its own set; from 2D keypoints, so an out-of-plane turn shows as articulation).",
    "hand_orientation": "Global hand orientation as seen in the image: (in-plane angle of the palm axis / 360 + "
                        "0.5, (signed palm opening + 1) / 2). The palm opening is the sine of the angle between "
                        "wrist -> index MCP and wrist -> little MCP: its sign tells palm from back (for one "
                        "handedness), near 0 the palm is seen edge-on (BigHand2.2M's viewpoint coverage, in 2D).",
}
_WORDS = {
    "instances_per_image": ("more crowded", "sparser"), "box_size": ("larger", "smaller"),
    "aspect_ratio": ("wider", "taller"), "truncation": ("more truncated", "less truncated"),
    "visib_fract": ("more visible", "more occluded"), "object_distance": ("farther away", "closer"),
    "view_elevation": ("seen from higher above", "seen from lower down"),
}
_UNITS = {"object_distance": "m", "view_elevation": "degrees"}
_PER = {"instances_per_image": "image", "box_size": "box", "aspect_ratio": "box", "box_center": "box",
        "class_frequency": "instance", "truncation": "instance", "visib_fract": "instance",
        "occlusion_level": "instance", "object_distance": "object", "view_elevation": "object",
        "viewpoint": "object", "hand_articulation": "hand", "hand_orientation": "hand"}
_TITLES = {"instances_per_image": "instances per image", "box_size": "box size", "aspect_ratio": "aspect ratio",
           "box_center": "box centre", "class_frequency": "class", "visib_fract": "visible fraction",
           "occlusion_level": "occlusion level", "object_distance": "object distance",
           "view_elevation": "view elevation", "hand_articulation": "hand articulation",
           "hand_orientation": "hand orientation"}
_AXES = {"box_center": ("x", "y"), "viewpoint": ("azimuth", "elevation"),
         "hand_orientation": ("in-plane angle", "palm opening")}


def content_statistics(image_set: ImageSet) -> dict[str, Statistic]:
    """The content statistics of a labelled set; ``{}`` when the set is unlabelled.

    Returns
    -------
    dict name -> Statistic (group ``"content"``)
        Always (labelled): ``instances_per_image`` (scalar, per image), ``box_size``, ``aspect_ratio`` (scalars,
        per box), ``box_center`` (points2d), ``class_frequency`` (categorical). Where the labels have them:
        ``truncation``, ``visib_fract`` (scalars), ``occlusion_level`` (categorical); from 6D poses
        ``object_distance`` (m), ``view_elevation`` (degrees), ``viewpoint`` (points2d: azimuth, elevation);
        from 21 hand keypoints ``hand_articulation`` (embedding (n, 40)) and ``hand_orientation`` (points2d).
        Boxes with zero width or height count as instances but give no box statistic.
    """
    if not image_set.labelled:
        return {}
    cols: dict[str, list] = {k: [] for k in _DESC}
    for rec in image_set.records:
        cols["instances_per_image"].append(float(len(rec.labels)))
        for lab in rec.labels:
            x, y, w, h = (float(v) for v in lab.bbox)
            cols["class_frequency"].append(str(lab.category))
            if w > 0 and h > 0:
                cols["box_size"].append(box_size(lab.bbox, rec.width, rec.height))
                cols["aspect_ratio"].append(w / h)
                cols["box_center"].append((min(max((x + w / 2) / rec.width, 0.0), 1.0),
                                           min(max((y + h / 2) / rec.height, 0.0), 1.0)))
            if lab.truncation is not None:
                cols["truncation"].append(float(lab.truncation))
            if lab.visib_fract is not None:
                cols["visib_fract"].append(float(lab.visib_fract))
            if lab.occlusion_level is not None:
                cols["occlusion_level"].append(OCCLUSION_NAMES.get(int(lab.occlusion_level), str(lab.occlusion_level)))
            if lab.cam_R_m2c is not None and lab.cam_t_m2c is not None:
                az, el, dist = viewpoint(lab.cam_R_m2c, lab.cam_t_m2c)
                cols["object_distance"].append(dist)
                cols["view_elevation"].append(el)
                cols["viewpoint"].append((az / 360.0 + 0.5, el / 180.0 + 0.5))
            if lab.keypoints is not None:
                frame = hand_frame(lab.keypoints)
                if frame is not None:
                    canonical, angle, side = frame
                    cols["hand_orientation"].append((angle / 360.0 + 0.5, (side + 1.0) / 2.0))
                    if np.all(np.asarray(lab.keypoints)[:, 2] > 0):
                        cols["hand_articulation"].append(canonical[1:].reshape(-1))
    out: dict[str, Statistic] = {}
    for name, values in cols.items():
        if not values:
            continue
        if name in ("class_frequency", "occlusion_level"):
            kind, arr = "categorical", np.asarray(values, dtype=str)
        elif name in ("box_center", "viewpoint", "hand_orientation"):
            kind, arr = "points2d", np.asarray(values, dtype=np.float64).reshape(-1, 2)
        elif name == "hand_articulation":
            kind, arr = "embedding", np.asarray(values, dtype=np.float64)
        else:
            kind, arr = "scalar", np.asarray(values, dtype=np.float64)
        out[name] = Statistic(name, "content", kind, arr, _UNITS.get(name, ""), _DESC[name], _PER[name],
                              *_WORDS.get(name, ("", "")), axes=_AXES.get(name, ()),
                              title=_TITLES.get(name, ""))
    return out
