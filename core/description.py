"""Plain data describing one scene: objects with poses, static geometry, lights, views, AR setting.

A :class:`SceneDescription` knows nothing about pybullet or OpenGL (Kubric's split of scene,
simulator and renderer). Scene builders (``scenes/``) make descriptions; the physics stage
returns a new description with settled object poses; the renderer, the compositor, the
annotator and the writers only read them. All poses are (4, 4) float64 in metres, world frame
+z up, named ``a_T_b`` (maps points from frame b to frame a; docs/conventions.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

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
        Model id in the :class:`~gtforge.assets.loaders.AssetLibrary` (BOP ``obj_id``).
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
        """A copy at pose ``world_T_model`` (4, 4) metres."""
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
    keypoint_radii : (21,) float64
        Per-keypoint visibility tolerance, metres (``scenes.hands.keypoint_radii``), computed once when
        the hand is placed.
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
    keypoint_radii: np.ndarray  # (21,) metres, visibility tolerances (scenes.hands.keypoint_radii)
    grasped_inst: int | None = None


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


class BackgroundPhoto(Protocol):
    """What the stages read from an AR background photo (``assets.backgrounds.Background`` implements it).

    Attributes
    ----------
    name : str
    width, height : int
        Photo size in pixels.
    K : (3, 3) float64
        Intrinsics of the photo's camera, pixels.
    depth : (H, W) float32 or None
        z of the real surface at each pixel in the photo's camera, metres; 0 = unknown.
    labels : list of KITTI objects
        Real objects (``formats.kitti.KittiObject``) in the reference frame.
    ref_T_lidar : (4, 4) float64 or None
        LiDAR frame -> reference frame (KITTI ``Tr_velo_to_cam``), metres.
    """

    name: str
    width: int
    height: int
    K: np.ndarray
    depth: np.ndarray | None
    labels: list
    ref_T_lidar: np.ndarray | None

    def image(self) -> np.ndarray:
        """The photo, (H, W, 3) uint8."""

    def P2(self) -> np.ndarray:
        """(3, 4) projection of reference-frame points (metres) into the photo, pixels."""


@dataclass(frozen=True)
class CompositeLook:
    """Per-scene compositing parameters of an AR frame (drawn by ``scenes.ar.sample_look``; used by
    ``render.composite``).

    Attributes
    ----------
    shadows : bool
        Darken the photo with the inserted objects' shadows.
    shadow_strength : float in [0, 1]
        Fraction of light a full shadow removes.
    blend : 'none', 'gaussian', 'poisson' or 'motion'
    color_match : float in [0, 1]
        How far the inserted layer's mean colour is pulled to the photo's.
    blur_sigma : float
        Gaussian blur of the inserted layer, pixels.
    noise_sigma : float
        Gaussian sensor noise on inserted pixels, 0-255 units.
    chromatic_aberration_px : float
        Horizontal shift of red (+) and blue (-), pixels.
    motion_blur_px : float
        Length of the motion-blur line, pixels; ``motion_angle`` its direction, radians.
    noise_seed : int
        Seed of the noise generator (drawn from the scene's appearance stream).
    """

    shadows: bool
    shadow_strength: float
    blend: str
    color_match: float
    blur_sigma: float
    noise_sigma: float
    chromatic_aberration_px: float
    motion_blur_px: float
    motion_angle: float
    noise_seed: int


@dataclass(frozen=True)
class ARSetting:
    """The real part of an augmented-reality scene.

    Attributes
    ----------
    background : BackgroundPhoto
        The photo, its camera and what is known of its 3D scene.
    occluders : tuple of StaticBox
        Real objects (from the photo's labels) as boxes in the world frame: drawn into the ID pass
        only, they own their pixels (``core.ids.REAL_ID``) and hide inserted objects behind them.
    ref_T_world : (4, 4) float64
        World (ground frame) -> reference frame of the photo's labels (KITTI camera 0), metres.
    look : CompositeLook
    """

    background: BackgroundPhoto
    occluders: tuple[StaticBox, ...]
    ref_T_world: np.ndarray
    look: CompositeLook


@dataclass(frozen=True)
class SceneDescription:
    """Everything needed to simulate, render and annotate one scene.

    Attributes
    ----------
    scene_index : int
        0-based index in the build (seeds every random stream of the scene).
    objects : tuple of ObjectInstance
        Labelled rigid objects, in BOP ``gt_id`` order.
    floor : Floor
        The visible floor (for AR scenes: the shadow catcher on the real ground).
    walls : tuple of StaticBox
        Bin walls; static, unlabelled.
    lights : tuple of Light
    ambient : float
        Ambient light level (pyrender units, per channel).
    background_color : (3,) float64
        RGB in [0, 1] where no surface is hit.
    views : tuple of View
    shadows : bool
        Directional lights cast shadow maps.
    removed : tuple of (inst_id, reason)
        Objects dropped by physics or placement.
    hands : tuple of HandInstance
    ar : ARSetting or None
        Set for AR scenes (objects composited into a real photo).
    """

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
    ar: ARSetting | None = None

    def with_objects(self, objects, removed=()) -> "SceneDescription":
        """A copy with ``objects`` replaced and ``removed`` appended."""
        return replace(self, objects=tuple(objects), removed=tuple(self.removed) + tuple(removed))
