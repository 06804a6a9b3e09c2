"""Plain data describing one scene: objects with poses, static geometry, lights, views, AR setting.

A :class:`SceneDescription` knows nothing about pybullet or OpenGL (Kubric's split of scene,
simulator and renderer). Scene builders (``scenes/``) make descriptions; the physics stage
returns a new description with settled object poses; the renderer, the compositor, the
annotator and the writers only read them. All poses are (4, 4) float64 in metres, world frame
+z up, named ``a_T_b`` (maps points from frame b to frame a; docs/conventions.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Texture:
    """An image for a surface, named so that any process can rebuild it (``assets.textures.load_texture``).

    Attributes
    ----------
    key : str
        An absolute image file path, or ``procedural://<family>/<seed>`` (``assets/textures.py``
        generates the image, (256, 256, 3) uint8, from the family and the integer seed).
    family : str
        Texture family, for coverage statistics and held-out splits: ``procedural/<family>``
        (noise, marble, wood, stripes, checker, dots), ``skimage``, ``pybullet_data``, or
        ``files:<source string of the recipe>`` for the user's images.
    """

    key: str
    family: str


@dataclass(frozen=True)
class Material:
    """Physically based (metallic-roughness, glTF 2.0) look of one surface.

    Attributes
    ----------
    mode : 'asset', 'texture' or 'color'
        ``asset``: the asset's own texture, vertex colours or URDF colour (``hsv`` applied to it);
        ``texture``: ``texture`` mapped with the asset's UVs, or box-projected where it has none
        (``projection``); ``color``: a plain ``base_color``.
    base_color : (4,) float64
        RGBA in [0, 1] (sRGB): the colour in ``color`` mode, a factor on the texture in ``texture`` mode,
        the colour of assets without any visual in ``asset`` mode.
    metallic, roughness : float in [0, 1]
        glTF ``metallicFactor`` and ``roughnessFactor``.
    texture : Texture or None
        Required in ``texture`` mode.
    tile : float
        Metres per texture repeat for projected coordinates (box projection, floors, walls).
    projection : 'auto' or 'box'
        ``auto``: the asset's UVs when it has them, else box projection; ``box``: always box projection.
    hsv : (3,) float64
        Jitter applied to the texture image or asset colours: hue shift in turns (added, mod 1),
        saturation factor, value factor (``assets.textures.jitter_hsv``). (0, 1, 1) leaves them unchanged.
    """

    mode: str
    base_color: np.ndarray
    metallic: float = 0.0
    roughness: float = 0.7
    texture: Texture | None = None
    tile: float = 0.25
    projection: str = "auto"
    hsv: np.ndarray = field(default_factory=lambda: np.array([0.0, 1.0, 1.0]))


@dataclass(frozen=True)
class PartLook:
    """Fixed look of one part of a multi-part model (e.g. a car's glass, tyres, rims, lights).

    Attributes
    ----------
    role : str
        ``body`` parts take the instance's :class:`Material` (e.g. the car paint); every other role
        (``glass``, ``tyre``, ``rim``, ``light_front``, ``light_rear``, ``trim``, ``plate``) keeps this look.
    base_color : (4,) float64
        RGBA in [0, 1] (sRGB).
    metallic, roughness : float in [0, 1]
        glTF metallic-roughness factors.
    emissive : (3,) float64 or None
        Emitted RGB in [0, 1] (lamps), or None.
    """

    role: str
    base_color: np.ndarray
    metallic: float = 0.0
    roughness: float = 0.7
    emissive: np.ndarray | None = None


@dataclass(frozen=True)
class Backdrop:
    """What the RGB image shows where no surface is hit (depth 0, no label there).

    Attributes
    ----------
    kind : 'color', 'sky' or 'photo'
    color : (3,) float64
        RGB in [0, 1]: the plain colour (``color``), the horizon colour (``sky``).
    zenith : (3,) float64 or None
        ``sky``: colour straight up; the colour of a pixel blends horizon -> zenith with the elevation of its
        viewing ray in the world frame (below the horizon: the horizon colour).
    photo : Texture or None
        ``photo``: the image, scaled to cover the frame and cropped at ``crop``.
    crop : (4,) float64
        ``photo``: (x0, y0, x1, y1) window of the photo in fractions of its width and height.
    """

    kind: str
    color: np.ndarray
    zenith: np.ndarray | None = None
    photo: Texture | None = None
    crop: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0, 1.0]))


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
    material : Material or None
        Look of the instance; None keeps the asset's look (its texture, colours and part materials).
    mass, friction, restitution : float
        Physical properties (kg, Coulomb coefficient, [0, 1]).
    """

    inst_id: int
    obj_id: int
    world_T_model: np.ndarray
    material: Material | None = None
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
        Skin base tone, RGB in [0, 1].
    keypoint_radii : (21,) float64
        Per-keypoint visibility tolerance, metres (``scenes.hands.keypoint_radii``), computed once when
        the hand is placed.
    grasped_inst : int or None
        inst_id of the object it grasps.
    vertex_colors : (n, 4) uint8 or None
        Skin texture as per-vertex RGBA (creases, knuckles, nails); None: plain ``color``.
    forearm : Forearm or None
        Forearm attached at the wrist; drawn as part of the hand (its mask, box and visibility),
        never part of the keypoints.
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
    vertex_colors: np.ndarray | None = None
    forearm: "Forearm | None" = None


@dataclass(frozen=True)
class Forearm:
    """A forearm mesh joined to a hand at its wrist.

    Attributes
    ----------
    vertices : (k, 3) float64
        World frame, metres.
    faces : (l, 3) int64
    vertex_colors : (k, 4) uint8
        Skin (bare) or fabric (sleeve) colours.
    sleeve : bool
        True when a sleeve covers it.
    """

    vertices: np.ndarray
    faces: np.ndarray
    vertex_colors: np.ndarray
    sleeve: bool = False


@dataclass(frozen=True)
class StaticBox:
    """A static box (floor slab, bin or room wall): ``extents`` (3,) metres, centred at ``world_T_box``.

    ``color`` (3,) RGB in [0, 1] is its plain colour; ``material``, when set, overrides it.
    """

    extents: np.ndarray
    world_T_box: np.ndarray
    color: np.ndarray  # (3,) RGB in [0, 1]
    material: Material | None = None


@dataclass(frozen=True)
class Floor:
    """The visible floor: a square of side ``size`` (m) in the plane z = 0, centred at the origin.

    ``material`` (texture tiled every ``material.tile`` metres, or a plain colour) overrides the plain
    ``color`` (3,) RGB in [0, 1]. Physics uses the top face of a slab under it
    (``scenes.clutter.floor_slab``).
    """

    size: float
    color: np.ndarray
    material: Material | None = None


@dataclass(frozen=True)
class Light:
    """A light (pyrender / glTF ``KHR_lights_punctual`` semantics).

    Attributes
    ----------
    direction : (3,) float64
        Unit vector the light shines along, world frame (directional and spot lights; for point lights
        the direction of their shadow frustum, towards the scene).
    color : (3,) float64
        Linear RGB in [0, 1] (from ``temperature_k`` when one is drawn).
    intensity : float
        Directional: illuminance (pyrender units, W/m^2-like); point and spot: luminous intensity
        (candela-like, falling off with 1/d^2).
    kind : 'directional', 'point' or 'spot'
    position : (3,) float64 or None
        World position, metres (point and spot).
    inner_cone, outer_cone : float
        Spot cone half-angles, radians (0 <= inner < outer <= pi/2).
    temperature_k : float or None
        Colour temperature the colour was made from, kelvin (recorded for statistics).
    shadows : bool
        Casts a shadow map (when the scene's ``shadows`` is on).
    """

    direction: np.ndarray
    color: np.ndarray
    intensity: float
    kind: str = "directional"
    position: np.ndarray | None = None
    inner_cone: float = 0.0
    outer_cone: float = math.pi / 4
    temperature_k: float | None = None
    shadows: bool = True


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
    dist_model : "radtan", "fisheye" or None
        Lens distortion model (OpenCV's; recipe ``camera.distortion``); None: the ideal pinhole.
    dist_coeffs : tuple of float
        The model's coefficients in OpenCV order (radtan k1, k2, p1, p2, k3; fisheye k1..k4); () for None.
        ``K`` is then the distorted camera's intrinsics (as in a calibration file) and every layer and label
        is in the distorted image (render/distortion.py).
    """

    K: np.ndarray
    width: int
    height: int
    world_T_cam: np.ndarray
    znear: float = 0.02
    zfar: float = 20.0
    dist_model: str | None = None
    dist_coeffs: tuple = ()

    @property
    def lens(self) -> tuple[str, tuple] | None:
        """``(dist_model, dist_coeffs)``, or None for the ideal pinhole."""
        return None if self.dist_model is None else (self.dist_model, tuple(self.dist_coeffs))

    def cam_dist(self) -> dict | None:
        """The lens as the writers record it (BOP ``cam_dist``, COCO image field): ``{"model", "coeffs"}``, or None."""
        if self.dist_model is None:
            return None
        return {"model": str(self.dist_model), "coeffs": [float(c) for c in self.dist_coeffs]}


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
    kitti_calib : formats.kitti.CalibFile or None
        The KITTI calibration the photo came with (then the reference frame is its rectified camera 0, and
        KITTI output writes this calibration back unchanged), else None.
    """

    name: str
    width: int
    height: int
    K: np.ndarray
    depth: np.ndarray | None
    labels: list
    ref_T_lidar: np.ndarray | None
    kitti_calib: object | None

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
        Half-length of the motion-blur line, pixels (the content moves that far to each side);
        ``motion_angle`` its direction, radians.
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
        Bin or room walls; static, unlabelled.
    lights : tuple of Light
    ambient : float
        Ambient light level (pyrender units, per channel).
    background_color : (3,) float64
        RGB in [0, 1] where no surface is hit (when ``backdrop`` is None).
    views : tuple of View
    shadows : bool
        Directional lights cast shadow maps.
    removed : tuple of (inst_id, reason)
        Objects dropped by physics or placement.
    hands : tuple of HandInstance
    ar : ARSetting or None
        Set for AR scenes (objects composited into a real photo).
    distractors : tuple of ObjectInstance
        Unlabelled objects (``obj_id`` in the distractor library, ``inst_id`` 1-based in their own
        space): simulated and drawn, they occlude but get no label, mask or annotation; in the ID pass
        they are background (0).
    backdrop : Backdrop or None
        What the image shows where no surface is hit; None: ``background_color``.
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
    distractors: tuple[ObjectInstance, ...] = ()
    backdrop: Backdrop | None = None

    def with_objects(self, objects, removed=()) -> "SceneDescription":
        """A copy with ``objects`` replaced and ``removed`` appended."""
        return replace(self, objects=tuple(objects), removed=tuple(self.removed) + tuple(removed))
