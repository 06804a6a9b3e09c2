"""Plain data describing one scene: objects with poses, static geometry, lights, views.

A :class:`SceneDescription` knows nothing about pybullet or OpenGL. The
physics stage returns a new description with settled object poses; the
renderer and the annotator only read descriptions. All poses are (4, 4)
float64 in metres, world frame +z up (docs/conventions.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class ObjectInstance:
    """One rigid object in a scene.

    Attributes
    ----------
    inst_id : int
        1-based id within the scene, unique; it is the object's value in the
        instance-ID buffer.
    obj_id : int
        Model id in the :class:`~gtforge.assets.AssetLibrary` (BOP ``obj_id``).
    world_T_model : (4, 4) float64
        Pose of the model frame in the world, metres.
    color : (4,) float64 or None
        RGBA override of the asset's appearance; None keeps the asset's look.
    mass, friction, restitution : float
        Physical properties (kg, Coulomb coefficient, [0, 1]).
    """

    inst_id: int
    obj_id: int
    world_T_model: np.ndarray
    color: np.ndarray | None = None
    mass: float = 0.1
    friction: float = 0.6
    restitution: float = 0.0

    def with_pose(self, world_T_model: np.ndarray) -> "ObjectInstance":
        return replace(self, world_T_model=np.asarray(world_T_model, dtype=np.float64))


@dataclass(frozen=True)
class HandInstance:
    """One posed hand (not a rigid object: it is not simulated and not in BOP's scene_gt).

    Attributes
    ----------
    inst_id : int
        Value in the instance-ID buffer (shared id space with objects).
    handedness : 'right' or 'left'
    vertices : (n, 3) float64
        Posed vertices, world frame, metres.
    faces : (m, 3) int64
    joints : (16, 3) float64
        MANO joints, world frame.
    keypoints : (21, 3) float64
        MANO 21-keypoint order, world frame.
    global_orient, hand_pose, betas, transl : arrays
        Model parameters in the **world** frame (axis-angle radians; metres), as passed to
        ``HandModel.forward(..., left=handedness == 'left')``.
    rest_wrist : (3,) float64
        J_0 of the shaped rest model (right-hand model frame), for moving the parameters to a camera frame.
    flat_hand_mean : bool
    backend : str
    color : (3,) float64
        Skin colour, RGB in [0, 1].
    grasped_inst : int or None
        inst_id of the object it grasps.
    """

    inst_id: int
    handedness: str
    vertices: np.ndarray
    faces: np.ndarray
    joints: np.ndarray
    keypoints: np.ndarray
    global_orient: np.ndarray
    hand_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    rest_wrist: np.ndarray
    flat_hand_mean: bool
    backend: str
    color: np.ndarray
    grasped_inst: int | None = None
    keypoint_radii: np.ndarray | None = None  # (21,) m, visibility tolerances (scenes.hands.keypoint_radii)


@dataclass(frozen=True)
class StaticBox:
    """A static box (floor slab, bin wall): ``extents`` (3,) metres, centred at ``world_T_box``."""

    extents: np.ndarray
    world_T_box: np.ndarray
    color: np.ndarray  # (3,) RGB in [0, 1]


@dataclass(frozen=True)
class Floor:
    """The visible floor: a square of side ``size`` (m) in the plane z = 0, centred at the origin.

    ``texture`` is an image file tiled every ``tile`` metres, or None for a plain ``color``.
    Physics uses the top face of a slab under it (:func:`floor_slab`).
    """

    size: float
    color: np.ndarray
    texture: str | None = None
    tile: float = 0.25


@dataclass(frozen=True)
class Light:
    """A directional light shining along ``direction`` (3,) (unit, world frame), RGB ``color``, ``intensity`` (pyrender units)."""

    direction: np.ndarray
    color: np.ndarray
    intensity: float


@dataclass(frozen=True)
class View:
    """A pinhole camera.

    Attributes
    ----------
    K : (3, 3) float64
        Intrinsics in pixels, OpenCV convention (pixel centres at integer coordinates).
    width, height : int
        Image size in pixels.
    world_T_cam : (4, 4) float64
        OpenCV camera pose (x right, y down, z forward) in the world, metres.
    znear, zfar : float
        Clip distances, metres.
    """

    K: np.ndarray
    width: int
    height: int
    world_T_cam: np.ndarray
    znear: float = 0.02
    zfar: float = 20.0


@dataclass(frozen=True)
class SceneDescription:
    """Everything needed to simulate, render and annotate one scene."""

    scene_index: int
    objects: tuple[ObjectInstance, ...]
    floor: Floor
    walls: tuple[StaticBox, ...]
    lights: tuple[Light, ...]
    ambient: float
    background_color: np.ndarray
    views: tuple[View, ...]
    shadows: bool = False
    removed: tuple[tuple[int, str], ...] = field(default=())  # (inst_id, reason) dropped by physics
    hands: tuple[HandInstance, ...] = ()
    # augmented reality (scenes/ar.py): the real photo and its scene, real occluders, compositing look,
    # and the reference frame (KITTI camera 0) of the background's labels
    background: object = None
    occluders: tuple[StaticBox, ...] = ()
    look: dict | None = None
    ref_T_world: np.ndarray | None = None

    def with_objects(self, objects, removed=()) -> "SceneDescription":
        return replace(self, objects=tuple(objects), removed=tuple(self.removed) + tuple(removed))
