"""Light poses and the fitting of shadow-map frusta: where each light's shadow map looks.

pyrender fits every directional light's shadow map to the whole scene's bounding box (``scene.centroid``,
``scene.scale``): with a 3 m floor, a room or the 400 m AR shadow catcher the texels over the objects are
centimetres wide and the depth range tens of metres, and since its shader's depth bias is a fraction (1e-4 to
1e-3) of that range, shadows float centimetres off their casters. gtforge fits the frusta here and hands them
to pyrender (``pyrender_patches.shadow_maps``); each map is :data:`SHADOW_MAP_SIZE` (spot and point lights) or
:data:`DIRECTIONAL_SHADOW_MAP_SIZE` (directional lights) texels square.

Where the frusta are fitted:

* In a scene without AR they are first fitted once to the casters (box corners of objects, hands, distractors
  and walls) and their shadows on the floor z = 0, which bound every shadow a view can see (a surface is
  shadowed only where a caster lies between it and the light) (:func:`scene_frusta`). When these frusta come
  out compact (:data:`SCENE_SHADOW_MAX_HALF_WIDTH`, :data:`SCENE_SHADOW_MAX_HALF_ANGLE`: a bin of objects,
  about 0.25 m across, finer than a view's fit), each map is drawn once per scene and kept for all its views
  (:data:`SHADOW_FIT`; 5 views: about 60 ms less per 640 x 480 frame on a 2-core CPU).
* Otherwise (a room, whose walls metres apart would spread the map) they are fitted per view to the surfaces
  the view sees (the world points of its depth pass, :func:`view_receivers`; every caster that can shadow
  them lies on their rays to the light).
* AR scenes, whose shadow catcher is not in the depth pass, fit the frusta to the inserted objects and their
  shadows on z = 0 for every view (their passes hide and show the objects, so no map is kept).

The frusta (:func:`fit_frusta`):

* directional: an orthographic frustum across the light just covering those points, deep enough to hold
  every object, hand, distractor and wall towards the light, and at least 10 x its half-width deep
  (:func:`directional_frustum`);
* spot (and point-as-spot, :data:`POINT_SHADOW_CONE`): a perspective frustum from the light's position just
  covering the lit points, its near plane at half the nearest one's depth and at most 1 / (10 tan(half field))
  m (:func:`spot_frustum`).

Those depth ranges keep pyrender's bias proportional to the texel size (1 to 10 texels of offset, no gap
visible at a resting object's base: ``test_appearance.py::test_shadow_falls_where_the_light_is_blocked``).
The maps clamp to a border of depth 1, so whatever lies outside a frustum fitted to the casters is lit.

Pure numpy: no pyrender, no OpenGL (``tests/render/test_shadows.py`` checks the import); the projection
matrices are those of pyrender's cameras (``tests/render/test_pyrender_patches.py`` compares them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.description import View
from ..core.geometry import make_pose

#: Cone half-angle (radians) of the spot light that stands in for a shadow-casting point light (pyrender has
#: no shadow maps for point lights): inner = outer cone, no angular falloff inside it, dark outside it.
POINT_SHADOW_CONE = math.radians(75.0)
#: Largest half-angle of a spot light's shadow frustum (radians); a perspective projection needs < 90 deg.
_MAX_SHADOW_HALF_ANGLE = math.radians(85.0)
#: Depth range of a directional light's shadow frustum per half-width of its cross-section (at least).
_SHADOW_DEPTH_PER_HALF_WIDTH = 10.0
#: Side of the shadow map of a spot light (and of a point light, drawn as a wide spot), texels. pyrender's is
#: 2048 (``constants.SHADOW_TEX_SZ``, read by its ``light`` and ``renderer`` modules). A spot's map spans its
#: cone: at 1024 texels its shadow edges move several pixels (tests/render/test_appearance.py, spot cases).
SHADOW_MAP_SIZE = 2048
#: Side of the shadow map of a directional light, texels. Its orthographic map is fitted to what the view sees
#: (:func:`directional_frustum`: about a metre across for the default recipe, a millimetre per texel), so
#: 1024 texels keep its shadow edges within the tests' tolerance and draw a quarter of the texels (about
#: 20 ms per light and 640 x 480 frame on a 2-core CPU).
DIRECTIONAL_SHADOW_MAP_SIZE = 1024
#: Where shadow frusta are fitted in scenes without AR: ``scene`` (once per scene to the casters and their
#: shadows on the floor, the maps drawn once and kept for every view, when they come out compact; else per
#: view) or ``view`` (always per view to the surfaces the view sees; a map drawn for every view).
SHADOW_FIT = "scene"
#: Largest half-width (m) of a directional light's scene-fitted frustum (:func:`scene_frusta`):
#: 0.6 m keeps its 1024 texels within about 1.2 mm, as fine as a view's fit of the default recipe.
SCENE_SHADOW_MAX_HALF_WIDTH = 0.6
#: Largest half field (radians) of a spot light's scene-fitted frustum.
SCENE_SHADOW_MAX_HALF_ANGLE = math.radians(45.0)


def light_pose(direction: np.ndarray, position=None) -> np.ndarray:
    """Pose of a light shining along ``direction``: its -z axis points along it (pyrender lights shine down
    their -z).

    Parameters
    ----------
    direction : (3,) float
        World direction of the light (need not be unit length).
    position : (3,) float or None
        World position, metres (origin when None).

    Returns
    -------
    (4, 4) float64
        World pose, right-handed; its x axis is perpendicular to world x (to world y when ``direction`` is
        within about 26 deg of the x axis, either way).
    """
    z = -np.asarray(direction, dtype=np.float64)
    z /= np.linalg.norm(z)
    a = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(a, z)
    x /= np.linalg.norm(x)
    return make_pose(np.stack([x, np.cross(z, x), z], axis=1), np.zeros(3) if position is None else position)


@dataclass(frozen=True, eq=False)
class ShadowLight:
    """A light whose shadow frustum is fitted: what :func:`fit_frusta` needs of it.

    Attributes
    ----------
    key : hashable
        Under which the fitted frustum is returned (the renderer's light node).
    kind : str
        ``directional`` or ``spot`` (a shadow-casting point light is a spot, :data:`POINT_SHADOW_CONE`).
    world_T_light : (4, 4) float64
        World pose (:func:`light_pose`); the light shines along its -z axis.
    outer_cone : float
        Spot lights: the outer cone half-angle, radians (unused for directional lights).
    """

    key: object
    kind: str
    world_T_light: np.ndarray
    outer_cone: float = 0.0


def fit_frusta(lights, receivers: np.ndarray | None, casters: np.ndarray, occluders: np.ndarray) -> dict:
    """Shadow frusta of ``lights`` fitted to the points that may receive a shadow (module docstring).

    Parameters
    ----------
    lights : iterable of ShadowLight
    receivers : (3, n) float64 or None
        World points (metres) the view sees (:func:`view_receivers`). None: the box corners ``casters`` and
        their shadows on the plane z = 0 along each light (AR scenes, whose shadow catcher is not in the depth
        pass, and the scene-level fit).
    casters : (k, 3) float64
        World box corners of what casts (used when ``receivers`` is None).
    occluders : (m, 3) float64
        World box corners of everything that may cast a shadow (objects, hands, distractors, walls).

    Returns
    -------
    dict
        ``ShadowLight.key`` -> (V, P), each (4, 4) float64: world -> light camera (OpenGL) and projection, in
        the order of ``lights``; empty when there is nothing to receive a shadow.
    """
    if receivers is not None and not receivers.shape[1] or receivers is None and not len(casters):
        return {}
    frusta = {}
    for light in lights:
        pose = light.world_T_light
        if light.kind == "directional":
            pts = receivers
            if pts is None:
                pts = np.vstack([casters, on_floor_along(casters, -pose[:3, 2])]).T
            frusta[light.key] = directional_frustum(pose, pts, occluders)
        elif light.kind == "spot":
            pts = receivers
            if pts is None:
                pts = np.vstack([casters, on_floor_from(casters, pose[:3, 3])]).T
            frusta[light.key] = spot_frustum(pose, light.outer_cone, pts, occluders)
    return frusta


def scene_frusta(lights, casters: np.ndarray, walls: np.ndarray) -> dict | None:
    """The frusta fitted once for every view of a (non-AR) scene, or None where they are fitted per view.

    A surface is in shadow only where a caster lies between it and the light, so the casters' box corners
    (objects, hands, distractors: ``casters``; and ``walls``) with their shadows on the floor z = 0 bound every
    shadow any view can see; outside the frusta fitted to them the maps clamp to depth 1 (lit). The maps can
    then be drawn once per scene and kept for its views instead of once per view.

    Parameters
    ----------
    lights : iterable of ShadowLight
    casters, walls : (k, 3), (m, 3) float64
        World box corners, metres.

    Returns
    -------
    dict or None
        As :func:`fit_frusta`, when :data:`SHADOW_FIT` is ``scene`` and every directional frustum is at most
        :data:`SCENE_SHADOW_MAX_HALF_WIDTH` across (half-width) and every spot frustum's half field at most
        :data:`SCENE_SHADOW_MAX_HALF_ANGLE`, so the texels stay as fine as a view's fit (a bin of objects);
        None otherwise (a room whose walls would spread the map over metres): fit per view.
    """
    if SHADOW_FIT != "scene":
        return None
    lights = list(lights)
    pts = np.vstack([casters, walls])
    frusta = fit_frusta(lights, None, pts, pts)
    kinds = {light.key: light.kind for light in lights}
    for key, (_V, P) in frusta.items():
        if kinds[key] == "directional":
            compact = 1.0 / min(P[0, 0], P[1, 1]) <= SCENE_SHADOW_MAX_HALF_WIDTH
        else:
            compact = math.atan(1.0 / P[1, 1]) <= SCENE_SHADOW_MAX_HALF_ANGLE
        if not compact:
            return None
    return frusta


def on_floor_along(points: np.ndarray, direction: np.ndarray, max_length: float = 10.0) -> np.ndarray:
    """Shadows on the floor z = 0 of points under a directional light.

    Parameters
    ----------
    points : (k, 3) float64
        World points, metres.
    direction : (3,) float64
        Unit direction the light shines along (world).
    max_length : float
        Longest move, metres (grazing light).

    Returns
    -------
    (k, 3) float64
        Each point moved along ``direction`` down to z = 0 (at most ``max_length`` m; points below the floor
        stay); ``points`` itself when the light does not shine downwards.
    """
    if direction[2] >= -1e-6:
        return points
    t = np.clip(points[:, 2], 0.0, None) / -direction[2]
    return points + np.minimum(t, max_length)[:, None] * direction


def on_floor_from(points: np.ndarray, source: np.ndarray, max_length: float = 10.0) -> np.ndarray:
    """Shadows on the floor z = 0 of points under a light at ``source`` (spot or point).

    Parameters
    ----------
    points : (k, 3) float64
        World points, metres.
    source : (3,) float64
        World position of the light, metres.
    max_length : float
        Longest move, metres (grazing rays).

    Returns
    -------
    (k, 3) float64
        Each point pushed away from ``source`` along its ray down to z = 0 (at most ``max_length`` m beyond
        the point); points whose ray does not go down, or that lie below the floor, stay.
    """
    d = points - source
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    down = d[:, 2] < -1e-6
    t = np.zeros(len(points))
    t[down] = np.clip(points[down, 2], 0.0, None) / -d[down, 2]
    return points + np.minimum(t, max_length)[:, None] * d


def view_receivers(depth: np.ndarray, view: View) -> np.ndarray:
    """The surfaces a view sees, as shadow receivers: the world points of its depth pass.

    Parameters
    ----------
    depth : (H, W) float32
        z in the OpenCV camera frame, metres; 0 where nothing was hit.
    view : View
        ``K`` (pixel centres at integers) and ``world_T_cam`` (OpenCV camera).

    Returns
    -------
    (3, n) float64
        World points, metres, of the pixels with depth > 0 (row-major pixel order), one per column. The
        camera-frame points are :func:`gtforge.core.geometry.backproject`'s; kept as rows (x, y, z) so that the
        frustum fits reduce contiguous rows.
    """
    idx = np.flatnonzero(depth > 0)
    v, u = np.divmod(idx, depth.shape[1])
    z = depth.ravel()[idx]
    K = view.K
    cam = np.empty((3, z.size))
    cam[0] = (u - K[0, 2]) * z / K[0, 0]
    cam[1] = (v - K[1, 2]) * z / K[1, 1]
    cam[2] = z
    T = view.world_T_cam
    return np.ascontiguousarray(T[:3, :3]) @ cam + T[:3, 3:4]


def directional_frustum(world_T_light: np.ndarray, receivers: np.ndarray, occluders: np.ndarray):
    """(V, P) of an orthographic shadow camera along a directional light, fitted to what must be shadowed.

    Parameters
    ----------
    world_T_light : (4, 4) float64
        The light's world pose; it shines along its -z axis.
    receivers : (3, n) float64
        World points (metres) that may receive a shadow: the surfaces the view sees (one per column).
    occluders : (k, 3) float64
        World box corners of everything that may cast a shadow (objects, hands, distractors, walls).

    Returns
    -------
    V, P : (4, 4) float64
        World -> light camera (OpenGL, looking down -z) and the orthographic projection.

    The cross-section is the receivers' extent across the light (plus 2 % and 5 mm): only something on a ray
    from the light to a receiver can shadow it, so every caster that matters lies in that prism. In depth the
    frustum reaches from the highest occluder or receiver (towards the light) to the farthest receiver, and
    at least 10 x the cross-section's half-width: pyrender's shader biases the compared depths by 1e-4 to 1e-3
    of the depth range, which must exceed the depth change over its 3 x 3 PCF kernel (no acne); the shadows
    then start within 1 to 10 shadow-map texels of their casters.
    """
    R = np.ascontiguousarray(world_T_light[:3, :3])  # a strided view would make numpy's matmul 10x slower
    q = R.T @ receivers  # light-frame coordinates (x, y across the light; z towards it), (3, n)
    lo, hi = q.min(axis=1), q.max(axis=1)
    z_top = max(float(hi[2]), float((occluders @ R)[:, 2].max()) if len(occluders) else -np.inf)
    depth = z_top - float(lo[2])
    margin_z = 0.02 * depth + 0.01
    half = (hi[:2] - lo[:2]) / 2 * 1.02 + 0.005
    centre = (hi[:2] + lo[:2]) / 2
    pose = make_pose(R, R @ np.array([centre[0], centre[1], z_top + margin_z]))
    zfar = max(depth + 2 * margin_z, _SHADOW_DEPTH_PER_HALF_WIDTH * float(half.max()))
    return np.linalg.inv(pose), orthographic_projection(half[0], half[1], margin_z / 2, zfar)


def spot_frustum(world_T_light: np.ndarray, outer_cone: float, receivers: np.ndarray, occluders: np.ndarray):
    """(V, P) of a perspective shadow camera at a spot light, fitted to the receivers it lights.

    Parameters
    ----------
    world_T_light : (4, 4) float64
        The light's world pose (position; it shines along its -z axis).
    outer_cone : float
        The spot's outer cone half-angle, radians: receivers outside it are not lit, so need no shadow.
    receivers, occluders : (3, n), (k, 3) float64
        As :func:`directional_frustum`.

    The camera looks at the mean direction of the lit receivers with a square field of view just covering
    them (plus 2 deg, at most 2 x 85 deg, else the spot's cone about its axis). Its near plane lies at half
    the depth of the nearest lit receiver or occluder corner inside the field, and at most 1 / (10 tan(half
    field)) m: the depth bias of pyrender's shader is about 1e-4 to 1e-3 x depth / near, which must exceed the
    depth change over its PCF kernel, 10 x tan(half field) x depth / 1024 (no acne). Far plane: twice the
    farthest lit receiver, at least 10 m.
    """
    L, a0 = world_T_light[:3, 3].copy(), -world_T_light[:3, 2]
    vec = receivers - L[:, None]  # (3, n)
    dist = np.maximum(np.sqrt(np.einsum("ij,ij->j", vec, vec)), 1e-12)
    cone = min(outer_cone + math.radians(2.0), _MAX_SHADOW_HALF_ANGLE)
    lit = a0 @ vec > dist * math.cos(cone)
    axis, half = a0, cone
    if lit.any():
        vec = np.compress(lit, vec, axis=1)  # C order (``vec[:, lit]`` is not, and its row means are slow)
        u = vec / dist[lit]
        m = u.mean(axis=1)
        if np.linalg.norm(m) > 1e-6:
            m /= np.linalg.norm(m)
            h = float(np.arccos(np.clip((m @ u).min(), -1.0, 1.0))) + math.radians(2.0)  # arccos decreases
            if h <= _MAX_SHADOW_HALF_ANGLE:
                axis, half = m, h
    occ = occluders - L
    in_field = occ @ axis > np.linalg.norm(occ, axis=1) * math.cos(half)
    depths = np.concatenate([axis @ vec if lit.any() else [], occ[in_field] @ axis, [10.0]])
    znear = float(np.clip(0.5 * depths.min(), 0.005, 1.0 / (10.0 * math.tan(half))))
    zfar = max(10.0, 2.0 * float(depths.max()))
    return np.linalg.inv(light_pose(axis, L)), perspective_projection(2 * half, znear, zfar)


def orthographic_projection(xmag: float, ymag: float, znear: float, zfar: float) -> np.ndarray:
    """OpenGL orthographic projection, as ``pyrender.OrthographicCamera(xmag, ymag, znear, zfar)
    .get_projection_matrix()`` computes it (the same float64 operations, so the same bits).

    Parameters
    ----------
    xmag, ymag : float
        Half-width and half-height of the view volume, metres.
    znear, zfar : float
        Distances of the near and far planes along -z, metres (0 < znear < zfar).

    Returns
    -------
    (4, 4) float64
        Maps the light-camera frame (OpenGL: looking down -z) to clip coordinates in [-1, 1]^3
        (glOrtho with left = -xmag, right = xmag, bottom = -ymag, top = ymag).
    """
    n, f = float(znear), float(zfar)
    P = np.zeros((4, 4))
    P[0][0] = 1.0 / float(xmag)
    P[1][1] = 1.0 / float(ymag)
    P[2][2] = 2.0 / (n - f)
    P[2][3] = (f + n) / (n - f)
    P[3][3] = 1.0
    return P


def perspective_projection(yfov: float, znear: float, zfar: float, aspect: float = 1.0) -> np.ndarray:
    """OpenGL perspective projection, as ``pyrender.PerspectiveCamera(yfov, znear, zfar, aspect)
    .get_projection_matrix()`` computes it (the same float64 operations, so the same bits).

    Parameters
    ----------
    yfov : float
        Vertical field of view, radians (< pi).
    znear, zfar : float
        Distances of the near and far planes along -z, metres (0 < znear < zfar).
    aspect : float
        Width over height of the field of view.

    Returns
    -------
    (4, 4) float64
        Maps the camera frame (OpenGL: looking down -z) to clip coordinates (gluPerspective).
    """
    t = np.tan(float(yfov) / 2.0)
    n, f = float(znear), float(zfar)
    P = np.zeros((4, 4))
    P[0][0] = 1.0 / (float(aspect) * t)
    P[1][1] = 1.0 / t
    P[3][2] = -1.0
    P[2][2] = (f + n) / (n - f)
    P[2][3] = (2 * f * n) / (n - f)
    return P
