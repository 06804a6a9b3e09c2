"""Rigid transforms, boxes and pinhole cameras, as plain functions over numpy arrays.

Conventions (docs/conventions.md):

* World frame: right-handed, metres, +z up; the floor is the plane z = 0.
* Camera frame: OpenCV, x right, y down, z forward (into the scene).
* Poses are 4x4 float64 homogeneous matrices ``a_T_b`` mapping points from
  frame b to frame a: ``p_a = a_T_b @ p_b``.
* Quaternions follow pybullet's order (x, y, z, w).
* pyrender (OpenGL) cameras look down -z with +y up; ``OPENCV_TO_OPENGL``
  converts: ``world_T_glcam = world_T_cvcam @ OPENCV_TO_OPENGL``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation

#: (4, 4) float64. Right-multiplying an OpenCV camera pose gives the OpenGL
#: camera pose of the same camera (flip y and z axes), and vice versa.
OPENCV_TO_OPENGL = np.diag([1.0, -1.0, -1.0, 1.0])


def make_pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Build a (4, 4) float64 homogeneous transform from R (3, 3) and t (3,)."""
    T = np.eye(4)
    T[:3, :3] = np.asarray(R, dtype=np.float64)
    T[:3, 3] = np.asarray(t, dtype=np.float64).reshape(3)
    return T


def invert_pose(T: np.ndarray) -> np.ndarray:
    """Invert a rigid (4, 4) transform exactly (R^T, -R^T t), float64."""
    R = T[:3, :3]
    t = T[:3, 3]
    return make_pose(R.T, -R.T @ t)


def quat_xyzw_to_matrix(q) -> np.ndarray:
    """Rotation matrix (3, 3) float64 from a quaternion (x, y, z, w) (pybullet order)."""
    return Rotation.from_quat(np.asarray(q, dtype=np.float64)).as_matrix()


def matrix_to_quat_xyzw(R: np.ndarray) -> np.ndarray:
    """Quaternion (4,) float64 in (x, y, z, w) order from a rotation matrix (3, 3)."""
    return Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_quat()


def rotation_angle(R_a: np.ndarray, R_b: np.ndarray) -> float:
    """Geodesic angle in radians, in [0, pi], between two rotation matrices (3, 3)."""
    c = (np.trace(R_a.T @ R_b) - 1.0) / 2.0
    return float(np.arccos(np.clip(c, -1.0, 1.0)))


def urdf_rpy_to_matrix(rpy) -> np.ndarray:
    """Rotation (3, 3) from URDF roll-pitch-yaw (radians), fixed axes: R = Rz(y) Ry(p) Rx(r).

    Source: URDF specification, ``<origin rpy="r p y">`` (ROS wiki urdf/XML/joint).
    """
    return Rotation.from_euler("xyz", np.asarray(rpy, dtype=np.float64)).as_matrix()


def look_at_opencv(eye, target, up=(0.0, 0.0, 1.0), inplane_rad: float = 0.0) -> np.ndarray:
    """OpenCV camera pose ``world_T_cam`` (4, 4) looking from ``eye`` at ``target``.

    Parameters
    ----------
    eye, target : (3,) float
        Camera centre and look-at point in the world frame, metres.
    up : (3,) float
        World direction that appears as "up" (-y of the camera) before the
        in-plane rotation. If it is parallel to the viewing direction, world +y
        is used instead.
    inplane_rad : float
        Rotation of the camera about its own z (viewing) axis, radians,
        applied after the look-at (positive turns the image clockwise as seen
        by the viewer, since y points down).

    Returns
    -------
    world_T_cam : (4, 4) float64
        Columns of the rotation are the camera's x (right), y (down) and
        z (forward) axes in world coordinates; the translation is ``eye``.

    Raises
    ------
    ValueError
        If ``eye`` and ``target`` coincide.
    """
    eye = np.asarray(eye, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    z = target - eye
    n = np.linalg.norm(z)
    if n < 1e-12:
        raise ValueError("look_at_opencv: eye and target coincide")
    z = z / n
    up = np.asarray(up, dtype=np.float64)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:
        x = np.cross(z, np.array([0.0, 1.0, 0.0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=1)
    if inplane_rad:
        c, s = np.cos(inplane_rad), np.sin(inplane_rad)
        Rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        R = R @ Rz
    return make_pose(R, eye)


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Pinhole intrinsic matrix K (3, 3) float64, pixels, OpenCV convention.

    The centre of pixel (row v, column u) has image coordinates (u, v), so
    the image spans [-0.5, W - 0.5] x [-0.5, H - 0.5].
    """
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def project_points(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Project camera-frame points to pixel coordinates (OpenCV pinhole model).

    The only projection that refuses points behind the camera; through a lens (``camera.distortion``), with NaN for
    points that have no projection, use ``core.lens.project_points_lens``.

    Parameters
    ----------
    points_cam : (n, 3) float64
        Points in the camera frame, metres; x right, y down, z forward; z > 0.
    K : (3, 3) float64
        Intrinsic matrix in pixels.

    Returns
    -------
    uv : (n, 2) float64
        Pixel coordinates; the centre of pixel (row v, column u) is at (u, v).

    Raises
    ------
    ValueError
        If any point has z <= 0.
    """
    P = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
    if np.any(P[:, 2] <= 0):
        raise ValueError("project_points: points must have z > 0 (in front of the camera)")
    uvw = P @ np.asarray(K, dtype=np.float64).T
    return uvw[:, :2] / uvw[:, 2:3]


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (4, 4) transform to points (n, 3); returns (n, 3) float64."""
    P = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return P @ T[:3, :3].T + T[:3, 3]


def spherical_to_cartesian(distance: float, azimuth_rad: float, elevation_rad: float) -> np.ndarray:
    """Point (3,) at ``distance`` from the origin; azimuth from +x towards +y, elevation above z = 0."""
    ce = np.cos(elevation_rad)
    return distance * np.array(
        [ce * np.cos(azimuth_rad), ce * np.sin(azimuth_rad), np.sin(elevation_rad)]
    )


def box_corners(lo, hi) -> np.ndarray:
    """The 8 corners (8, 3) float64 of the axis-aligned box [lo, hi] (each (3,)), in the box's frame.

    Order: x varies slowest, z fastest (corner i has x = hi if i & 4, y = hi if i & 2, z = hi if i & 1).
    """
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    return np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])


def intrinsics_from_fov(fov_y_deg: float, width: int, height: int) -> np.ndarray:
    """K (3, 3) float64 of a pinhole camera with vertical field of view ``fov_y_deg`` (degrees).

    fx = fy = (H / 2) / tan(fov_y / 2) and (cx, cy) = ((W - 1) / 2, (H - 1) / 2): the principal
    point at the image centre in the OpenCV pixel-centre convention (docs/conventions.md).
    """
    f = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2.0)
    return intrinsics_matrix(f, f, (width - 1) / 2.0, (height - 1) / 2.0)


def backproject(depth: np.ndarray, K: np.ndarray, step: int = 1) -> np.ndarray:
    """Camera-frame points (n, 3) float64, metres, of the pixels with depth > 0.

    Parameters
    ----------
    depth : (H, W) float
        z in the OpenCV camera frame, metres; 0 = unknown.
    K : (3, 3) float64
        Intrinsics in pixels (pixel centres at integer coordinates).
    step : int
        Keep every ``step``-th point (row-major order of the valid pixels).
    """
    v, u = np.nonzero(depth > 0)
    z = depth[v, u]
    p = np.stack([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z], axis=1)
    return p[::step]
