"""Headless rendering of scene descriptions with pyrender over EGL: the :class:`Renderer` and its passes.

One :class:`Renderer` lives per process: it owns one ``pyrender.OffscreenRenderer``
(an EGL context: the GPU's on NVIDIA machines, Mesa llvmpipe on CPU machines)
and one ``pyrender.Scene`` that is re-filled for every scene description, so
no GL context is ever created per frame.

Passes per view (:meth:`Renderer.render_view`):

1. **Instance IDs + depth**: one SEG pass, each fragment shaded once at its pixel centre
   (:data:`ID_SAMPLES`), so every pixel holds the single surface at its centre: ``ids`` holds that
   surface's object (``inst_id``, 0 for floor, walls, distractors and background)
   and ``depth`` its z. Every object and the static geometry are in the pass, so
   every surface occludes (pyrender skips nodes missing from ``seg_node_map``).
2. **RGB**: lit, with the surfaces' materials (``materials``), shadow maps fitted (``shadows``), the
   backdrop, and anti-aliasing as :data:`RGB_ANTIALIAS` says (``antialias``).
3. **Amodal silhouettes**: each object (or hand) alone, on BOP's 3W x 3H canvas (the
   image in the middle; same pixel grid), for ``px_count_all``, ``bbox_obj``,
   full masks and truncation. The in-image part is drawn with the ID pass's own
   camera and viewport (scissored), so a pixel the ID pass gives an object is
   always inside that object's silhouette. Distractors never get one.

AR scenes (``SceneDescription.ar``) replace pass 2 by the AR layers (:meth:`Renderer.render_view`).

Appearance never changes geometry: materials, lights, shadows and backdrops act on
the RGB pass only, and every surface keeps its triangles whatever its material (``materials``), so the
ID, depth and amodal passes are bit-identical across appearances
(``tests/render/test_appearance.py::test_geometry_passes_ignore_appearance``).

Lights (``core.description.Light``): ``directional`` as pyrender ``DirectionalLight``; ``spot``
as ``SpotLight`` with the light's cones; ``point`` as ``PointLight``. pyrender has no shadow
maps for point lights (``NotImplementedError``), so **point lights with shadows are spot lights
with a wide cone aimed at the scene**: a ``SpotLight`` at the light's position aimed along
``Light.direction``, with inner = outer cone = ``shadows.POINT_SHADOW_CONE``. A light casts shadows when
both ``SceneDescription.shadows`` and ``Light.shadows`` are set; where its shadow map looks is
``shadows``' business, how pyrender draws it ``pyrender_patches``'.

Backdrop (``SceneDescription.backdrop``): None keeps ``background_color`` as the clear colour.
Otherwise the RGB pass is rendered with a transparent background (RGBA, premultiplied by its
coverage) and composited over the backdrop (``backdrops``) at the pixels it does not fully cover.
Depth and ids stay 0 there.

Hands: one node per hand holding the hand mesh and its forearm (``materials``), so the forearm has the
hand's ``inst_id`` in the ID pass and is inside the hand's amodal silhouette.

Distractors (``SceneDescription.distractors``, models from the distractor library): drawn with
their materials like objects, but as static geometry: colour (0, 0, 0) in the ID pass (they
occlude and own no pixel id), never in an amodal pass.

Back faces are drawn in every pass: meshes from the wild are often open or
inconsistently wound, and ground truth must match the geometry (a ray hits a
triangle from either side) (``pyrender_patches.both_faces``).

Pixel convention: pyrender puts pixel centres at half-integers, OpenCV at
integers, so the GL camera gets ``cx + 0.5, cy + 0.5`` (docs/conventions.md).

Every replacement of pyrender internals this renderer relies on is in ``pyrender_patches``.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # before pyrender imports PyOpenGL

import numpy as np
import pyrender
import trimesh

from ..core.description import Light, SceneDescription, View
from ..core.geometry import OPENCV_TO_OPENGL, box_corners, invert_pose, project_points, transform_points
from ..core.ids import MAX_INSTANCE_ID, REAL_ID, encode_ids
from ..core.library import ModelLibrary
from . import shadows
from .antialias import edge_antialias, surface_edges
from .backdrops import backdrop_pixels
from .materials import MeshBuilder
from .pyrender_patches import (Pass, Targets, drawing, make_current, ordered_scene, prepare_context,
                               shadow_texture)

#: Anti-aliasing of the lit RGB pass: ``edges`` (one sample per pixel, then :func:`edge_antialias` at the
#: surface boundaries the ID + depth pass finds) or ``msaa`` (pyrender's 4x multisampling: on llvmpipe it
#: cost about 40 % of the lit pass, 120 to 190 ms of CPU per 640 x 480 view of the default recipe).
RGB_ANTIALIAS = "edges"
#: Samples of the framebuffer of the ID + depth pass. Its fragments are shaded once at the pixel centre
#: (``GL_MULTISAMPLE`` off, as in pyrender), but llvmpipe's multisampled depth buffer resolves to depth values
#: that differ from a single-sample buffer's by up to one 24-bit step (about 1 um at 1 m); 4 keeps the depth
#: of earlier builds bit for bit.
ID_SAMPLES = 4
#: MSAA samples of the AR passes: their coverage is the inserted objects' anti-aliased alpha.
AR_SAMPLES = 4
#: Silhouettes drawn per amodal pass, one bit each in the R, G and B bytes of the colour buffer.
_BITS_PER_PASS = 24


def _bit_color(k: int) -> tuple:
    """The seg colour (0..255 per channel) that sets bit ``k`` (0..23) of a pixel read as uint32 (R lowest)."""
    c = [0, 0, 0]
    c[k // 8] = 1 << (k % 8)
    return tuple(c)


@dataclass
class FrameBuffers:
    """Buffers of one view.

    Attributes
    ----------
    rgb : (H, W, 3) uint8
    depth : (H, W) float32
        z in the OpenCV camera frame, metres; 0 where nothing was hit.
    ids : (H, W) int32
        ``inst_id`` of the object seen at each pixel centre; 0 for none/floor/walls/distractors.
    amodal : dict[int, (3H, 3W) bool]
        Per ``inst_id``, the unoccluded silhouette on the 3W x 3H canvas whose
        pixel (v + H, u + W) is image pixel (v, u).
    rgba, shadow : AR scenes only (``SceneDescription.ar`` set), see
        :meth:`Renderer.render_view`; ``rgb`` is then None (render/composite.py makes the image).
    """

    rgb: np.ndarray | None
    depth: np.ndarray
    ids: np.ndarray
    amodal: dict
    rgba: np.ndarray | None = None  # AR: (H, W, 4) uint8, inserted objects alone, anti-aliased alpha
    shadow: np.ndarray | None = None  # AR: (H, W) float32, ground brightness ratio with/without objects


def _gl_camera(K: np.ndarray, znear: float, zfar: float, du: float = 0.0, dv: float = 0.0) -> pyrender.IntrinsicsCamera:
    """The pyrender camera of OpenCV intrinsics ``K`` (pixel centres at integers), shifted by (``du``, ``dv``)
    pixels (a window of the canvas)."""
    return pyrender.IntrinsicsCamera(fx=K[0, 0], fy=K[1, 1], cx=K[0, 2] + 0.5 + du, cy=K[1, 2] + 0.5 + dv,
                                     znear=znear, zfar=zfar)


def _shadow_flag(light) -> int:
    """The pyrender render flag that makes lights of ``light``'s kind sample shadow maps (0 for point lights)."""
    if isinstance(light, pyrender.DirectionalLight):
        return pyrender.RenderFlags.SHADOWS_DIRECTIONAL
    return pyrender.RenderFlags.SHADOWS_SPOT if isinstance(light, pyrender.SpotLight) else 0


class Renderer:
    """The process's renderer. Create once, call :meth:`set_scene` per scene and :meth:`render_view` per view.

    Parameters
    ----------
    library : ModelLibrary
        Source of the meshes named by ``ObjectInstance.obj_id``.
    width, height : int
        Image size in pixels (the amodal canvas is 3x each).
    distractors : ModelLibrary or None
        Source of the meshes of ``SceneDescription.distractors``.

    Raises
    ------
    RuntimeError
        If no EGL context can be created (message says what to install).
    """

    def __init__(self, library: ModelLibrary, width: int, height: int, distractors: ModelLibrary | None = None):
        self.library = library
        self.distractor_library = distractors
        self.width, self.height = int(width), int(height)
        try:
            self._r = pyrender.OffscreenRenderer(self.width, self.height)
        except Exception as e:  # pragma: no cover - depends on the machine
            raise RuntimeError(
                f"cannot create an EGL rendering context ({type(e).__name__}: {e}). "
                "Install Mesa's EGL (Debian/Ubuntu: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri) "
                "or an NVIDIA driver with EGL, and keep PYOPENGL_PLATFORM=egl."
            ) from e
        prepare_context(self._r)
        self._scene = ordered_scene(pyrender.Scene(bg_color=[0, 0, 0, 1], ambient_light=[0.3, 0.3, 0.3]))
        self._cam_node = self._scene.add(_gl_camera(np.eye(3), 0.1, 10.0), pose=np.eye(4))
        self._canvas_node = self._scene.add(_gl_camera(np.eye(3), 0.1, 10.0), pose=np.eye(4))
        self._scene_nodes: list = []
        self._obj_nodes: dict[int, pyrender.Node] = {}  # inst_id -> node (objects and hands)
        self._corners: dict[int, np.ndarray] = {}  # inst_id -> (8, 3) world corners of its bounding box
        self._static_nodes: list = []
        self._distractor_nodes: list = []
        self._occluder_nodes: list = []
        self._distractor_corners: list = []  # (8, 3) world box corners per distractor
        self._catcher_node = None
        self._meshes = MeshBuilder()  # meshes in their materials, with the mesh, image and texture caches
        self._light_matrices: dict = {}  # light node -> (V, P) of its shadow camera, fitted per scene or view
        self._current_maps: set = set()  # light nodes whose shadow map holds _light_matrices' frustum
        self._shadow_scope: str | None = None  # "scene" or "view" (shadows.SHADOW_FIT); None until a lit view decides
        self._light_nodes: list = []
        self._caster_pts = np.zeros((0, 3))  # world box corners of objects, hands, distractors
        self._wall_pts = np.zeros((0, 3))  # world corners of the walls
        self._casting: set = set()
        self._shadow_flags = 0
        self._backdrop_cache: dict = {}  # scaled backdrop photos of the scene (backdrops.backdrop_pixels)
        self._targets = Targets(self._r)
        self._in_drawing = False
        self.description: SceneDescription | None = None
        #: seconds spent in each pass by the last :meth:`render_view` call
        self.last_timings: dict[str, float] = {}

    # ------------------------------------------------------------------ lights
    def _add_lights(self, scene: SceneDescription) -> None:
        """Add the scene's lights; note which cast shadows (``_casting``) and the shadow flags of the RGB pass.

        A light casts when the scene's and its own ``shadows`` are set and something can cast (objects, hands,
        distractors or walls). Lights of a kind whose shadow maps are sampled get maps that clamp to depth 1.
        """
        self._light_nodes, self._casting, self._shadow_flags = [], set(), 0
        has_casters = bool(self._corners or self._distractor_corners or scene.walls)
        for light in scene.lights:
            casts = bool(scene.shadows and light.shadows)
            node = self._light_node(light, casts)
            self._light_nodes.append(node)
            self._scene_nodes.append(node)
            if casts and has_casters:
                self._casting.add(node)
                self._shadow_flags |= _shadow_flag(node.light)
        for node in self._light_nodes:
            if self._shadow_flags & _shadow_flag(node.light):
                size = (shadows.DIRECTIONAL_SHADOW_MAP_SIZE if isinstance(node.light, pyrender.DirectionalLight)
                        else shadows.SHADOW_MAP_SIZE)
                node.light.shadow_texture = shadow_texture(size)

    def _light_node(self, light: Light, casts: bool) -> pyrender.Node:
        """Add one light (module doc: point lights that cast shadows become wide spot lights); returns its node."""
        kind = light.kind
        color, intensity = np.asarray(light.color, np.float64), float(light.intensity)
        if kind == "directional":
            pl, pose = pyrender.DirectionalLight(color=color, intensity=intensity), shadows.light_pose(light.direction)
        elif kind in ("point", "spot"):
            if light.position is None:
                raise ValueError(f"{kind} light without a position")
            pose = shadows.light_pose(light.direction, np.asarray(light.position, np.float64))
            if kind == "spot":
                pl = pyrender.SpotLight(color=color, intensity=intensity, innerConeAngle=float(light.inner_cone),
                                        outerConeAngle=float(light.outer_cone))
            elif casts:  # pyrender cannot shadow point lights: a wide spot aimed at the scene (module doc)
                pl = pyrender.SpotLight(color=color, intensity=intensity, innerConeAngle=shadows.POINT_SHADOW_CONE,
                                        outerConeAngle=shadows.POINT_SHADOW_CONE)
            else:
                pl = pyrender.PointLight(color=color, intensity=intensity)
        else:
            raise ValueError(f"unknown light kind {kind!r}")
        return self._scene.add(pl, pose=pose)

    def _shadow_lights(self) -> list:
        """The directional and spot lights of the scene as ``shadows.ShadowLight`` (keys: their nodes)."""
        out = []
        for node in self._light_nodes:
            if isinstance(node.light, pyrender.DirectionalLight):
                out.append(shadows.ShadowLight(node, "directional", self._scene.get_pose(node)))
            elif isinstance(node.light, pyrender.SpotLight):
                out.append(shadows.ShadowLight(node, "spot", self._scene.get_pose(node), node.light.outerConeAngle))
        return out

    def _occluders(self) -> np.ndarray:
        """(k, 3) world box corners of everything that casts: objects, hands, distractors and walls."""
        return np.vstack([self._caster_pts, self._wall_pts])

    def _use_frusta(self, frusta: dict) -> None:
        """Make ``frusta`` (light node -> (V, P)) the shadow frusta, in place (:meth:`_drawing` holds the dict);
        the maps drawn for earlier frusta are no longer current."""
        self._light_matrices.clear()
        self._current_maps.clear()
        self._light_matrices.update(frusta)

    # ------------------------------------------------------------------ scene
    def set_scene(self, scene: SceneDescription) -> None:
        """Replace the objects, hands, distractors, floor, walls, lights and backdrop with those of ``scene``.

        Raises
        ------
        ValueError
            If an ``inst_id`` cannot be encoded in the ID pass or is used twice, if the scene has
            distractors and this renderer no distractor library, a point or spot light has no
            position, or a material or light kind is unknown.
        """
        if scene.distractors and self.distractor_library is None:
            raise ValueError("the scene has distractors but the Renderer was given no distractor library")
        for n in self._scene_nodes:
            self._scene.remove_node(n)
        self._scene_nodes, self._obj_nodes, self._static_nodes, self._corners = [], {}, [], {}
        self._occluder_nodes, self._catcher_node, self._distractor_nodes = [], None, []
        self._distractor_corners = []
        self._meshes.start_scene()
        self._backdrop_cache = {}
        self._scene.bg_color = np.append(scene.background_color, 1.0)
        self._scene.ambient_light = np.full(3, scene.ambient)
        for o in scene.objects:
            if not 1 <= o.inst_id <= MAX_INSTANCE_ID or o.inst_id in self._obj_nodes:
                raise ValueError(f"inst_id {o.inst_id} outside [1, {MAX_INSTANCE_ID}] or used twice")
            mesh = self._meshes.instance_mesh(self.library, "o", o.obj_id, o.material)
            node = self._scene.add(mesh, pose=o.world_T_model)
            self._obj_nodes[o.inst_id] = node
            self._scene_nodes.append(node)
            lo, hi = self.library.get(o.obj_id).mesh.bounds
            self._corners[o.inst_id] = transform_points(o.world_T_model, box_corners(lo, hi))
        for h in scene.hands:
            if not 1 <= h.inst_id <= MAX_INSTANCE_ID or h.inst_id in self._obj_nodes:
                raise ValueError(f"hand inst_id {h.inst_id} invalid or used twice")
            node = self._scene.add(self._meshes.hand_mesh(h), pose=np.eye(4))
            self._obj_nodes[h.inst_id] = node
            self._scene_nodes.append(node)
            verts = h.vertices if h.forearm is None else np.vstack([h.vertices, h.forearm.vertices])
            self._corners[h.inst_id] = box_corners(verts.min(axis=0), verts.max(axis=0))
        for d in scene.distractors:
            mesh = self._meshes.instance_mesh(self.distractor_library, "d", d.obj_id, d.material)
            node = self._scene.add(mesh, pose=d.world_T_model)
            self._distractor_nodes.append(node)
            self._scene_nodes.append(node)
            lo, hi = self.distractor_library.get(d.obj_id).mesh.bounds
            self._distractor_corners.append(transform_points(d.world_T_model, box_corners(lo, hi)))
        fnode = self._scene.add(self._meshes.floor_mesh(scene.floor), pose=np.eye(4))
        if scene.ar is not None:
            self._catcher_node = fnode  # shadow catcher: in the RGB passes only, never in the ID pass
            self._scene_nodes.append(fnode)
            for box in scene.ar.occluders:  # real objects: in the ID pass only
                m = pyrender.Mesh.from_trimesh(trimesh.creation.box(extents=box.extents), smooth=False)
                node = self._scene.add(m, pose=box.world_T_box)
                self._occluder_nodes.append(node)
                self._scene_nodes.append(node)
        else:
            self._static_nodes.append(fnode)
        wall_corners = []
        for w in scene.walls:
            self._static_nodes.append(self._scene.add(self._meshes.wall_mesh(w), pose=w.world_T_box))
            wall_corners.append(transform_points(w.world_T_box, box_corners(-w.extents / 2, w.extents / 2)))
        self._scene_nodes.extend(self._static_nodes)
        self._static_nodes.extend(self._distractor_nodes)  # in the ID pass as background (0, 0, 0)
        self._add_lights(scene)
        self._caster_pts = np.vstack(list(self._corners.values()) + self._distractor_corners + [np.zeros((0, 3))])
        self._wall_pts = np.vstack(wall_corners + [np.zeros((0, 3))])
        self._light_matrices.clear()
        self._current_maps.clear()
        self._shadow_scope = None
        self._seg_map = {n: tuple(int(c) for c in encode_ids([i])[0]) for i, n in self._obj_nodes.items()}
        for n in self._static_nodes:
            self._seg_map[n] = (0, 0, 0)
        if self._occluder_nodes:
            real = tuple(int(c) for c in encode_ids([REAL_ID])[0])
            for n in self._occluder_nodes:
                self._seg_map[n] = real
        self.description = scene

    # ------------------------------------------------------------------ views
    def _use_camera(self, node, cam: pyrender.IntrinsicsCamera, world_T_cam: np.ndarray) -> None:
        node.camera = cam
        self._scene.set_pose(node, world_T_cam @ OPENCV_TO_OPENGL)
        self._scene.main_camera_node = node

    def render_view(self, view: View, rgb: bool = True, amodal: bool = True) -> FrameBuffers:
        """Render one view of the current scene (all passes).

        Parameters
        ----------
        view : View
            Its width and height become the renderer's viewport (AR backgrounds differ in size).
        rgb : bool
            Run the RGB pass (skipped when the output needs no RGB).
        amodal : bool
            Run the per-object amodal passes.

        Returns
        -------
        FrameBuffers
            For AR scenes ``rgba`` (H, W, 4) uint8 (the inserted objects alone, transparent elsewhere,
            anti-aliased alpha) and ``shadow`` (H, W) float32 (brightness of the shadow-catcher ground
            with the objects over its brightness without them; 1 where no shadow falls) instead of ``rgb``.

        Raises
        ------
        ValueError
            If no scene is set.
        """
        if self.description is None:
            raise ValueError("render_view: call set_scene first")
        self.width, self.height = int(view.width), int(view.height)  # AR backgrounds differ in size
        with self._drawing():
            return self._render_view(view, rgb, amodal)

    @contextlib.contextmanager
    def _drawing(self):
        """Within the block (re-entrant), the context is current and pyrender draws both faces, uses the
        fitted shadow frusta and draws into the renderer's own framebuffers (``pyrender_patches.drawing``)."""
        if self._in_drawing:
            yield
            return
        self._in_drawing = True
        try:
            with drawing(self._r, self._targets, self._light_matrices, self._casting, self._current_maps):
                yield
        finally:
            self._in_drawing = False

    def _draw(self, flags, seg_node_map=None, **pass_kw):
        """One pyrender pass of the scene into the renderer's framebuffers as ``pyrender_patches.Pass(**pass_kw)``
        says; (colour, depth)."""
        self._targets.pass_ = Pass(**pass_kw)
        return self._r.render(self._scene, flags=flags, seg_node_map=seg_node_map)

    def _render_view(self, view: View, rgb: bool, amodal: bool) -> FrameBuffers:
        W, H = self.width, self.height
        r = self._r
        r.viewport_width, r.viewport_height = W, H
        self._use_camera(self._cam_node, _gl_camera(view.K, view.znear, view.zfar), view.world_T_cam)
        color = rgba = shadow = None
        t0 = time.perf_counter()
        seg, depth = self._draw(pyrender.RenderFlags.SEG | pyrender.RenderFlags.SKIP_CULL_FACES, self._seg_map,
                                samples=ID_SAMPLES, read="ids", depth=True)
        ids = seg.astype(np.int32)
        t1 = time.perf_counter()
        if self.description.ar is not None:
            if self._shadow_flags:
                self._use_frusta(shadows.fit_frusta(self._shadow_lights(), None, self._caster_pts, self._occluders()))
            rgba, shadow = self._ar_layers()
        elif rgb:
            if self._shadow_flags:
                if self._shadow_scope is None:  # the scene's first lit view decides
                    frusta = shadows.scene_frusta(self._shadow_lights(), self._caster_pts, self._wall_pts)
                    self._use_frusta(frusta or {})
                    self._shadow_scope = "view" if frusta is None else "scene"
                if self._shadow_scope == "view":
                    receivers = shadows.view_receivers(depth, view)
                    self._use_frusta(shadows.fit_frusta(self._shadow_lights(), receivers, self._caster_pts,
                                                        self._occluders()))
            color = self._rgb_pass(view, ids, depth)
            if self._shadow_scope == "scene":
                self._current_maps.update(self._light_matrices)  # drawn by this pass, kept for the next views
        t2 = time.perf_counter()
        masks = self._amodal_masks(view) if amodal and self._obj_nodes else {}
        self.last_timings = {"render_rgb": t2 - t1, "render_ids_depth": t1 - t0,
                             "render_amodal": time.perf_counter() - t2}
        return FrameBuffers(rgb=None if color is None else np.ascontiguousarray(color),
                            depth=np.ascontiguousarray(depth, dtype=np.float32), ids=ids, amodal=masks,
                            rgba=rgba, shadow=shadow)

    def _rgb_pass(self, view: View, ids: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """The lit image (H, W, 3) uint8, over ``background_color`` or composited over the backdrop, then
        anti-aliased (:data:`RGB_ANTIALIAS`; ``ids`` and ``depth`` are the view's ID + depth pass)."""
        color = self._lit_image(view)
        if RGB_ANTIALIAS == "edges":
            color = edge_antialias(color, surface_edges(ids, depth))
        return color

    def _lit_image(self, view: View) -> np.ndarray:
        flags = pyrender.RenderFlags.SKIP_CULL_FACES | (self._shadow_flags if self._light_matrices else 0)
        backdrop = self.description.backdrop
        order = self._front_to_back(view)
        samples = 4 if RGB_ANTIALIAS == "msaa" else 0
        if backdrop is None:
            color, _ = self._draw(flags, samples=samples, read="rgb", order=order)
            return np.ascontiguousarray(color)
        bg = self._scene.bg_color
        self._scene.bg_color = np.zeros(4)
        try:
            layer, _ = self._draw(flags | pyrender.RenderFlags.RGBA, samples=samples, read="rgba", order=order)
        finally:
            self._scene.bg_color = bg
        out = np.ascontiguousarray(layer[..., :3])
        idx = np.flatnonzero(layer[..., 3] < 255)  # where the backdrop shows (fully covered pixels stay as drawn)
        if idx.size:
            v, u = np.divmod(idx, self.width)
            alpha = layer[v, u, 3:4].astype(np.float32) / 255.0
            back = backdrop_pixels(backdrop, view, v, u, self._backdrop_cache)
            mixed = layer[v, u, :3].astype(np.float32) + (1.0 - alpha) * back  # the layer is premultiplied by coverage
            out.reshape(-1, 3)[idx] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
        return out

    def _front_to_back(self, view: View) -> list:
        """Draw order of the lit pass: opaque meshes near to far (node origins), the floor after them, then the
        transparent ones far to near (as pyrender). Opaque surfaces hidden behind nearer ones then fail the
        depth test before they are shaded; only exact depth ties can be resolved differently."""
        cam = view.world_T_cam[:3, 3]
        solid, clear = [], []
        floor = self._static_nodes[0] if self.description.ar is None and self._static_nodes else None
        for n in self._scene.mesh_nodes:
            if n is not floor:
                (clear if n.mesh.is_transparent else solid).append(n)
        dist = lambda n: float(np.linalg.norm(self._scene.get_pose(n)[:3, 3] - cam))  # noqa: E731
        return sorted(solid, key=dist) + ([floor] if floor is not None else []) + sorted(clear, key=lambda n: -dist(n))

    def _ar_layers(self):
        """AR passes: the inserted objects alone (RGBA, transparent elsewhere, anti-aliased edges), and the
        shadow ratio: brightness of the shadow-catcher ground with the objects over its brightness without
        them (1 where no shadow falls or no ground is seen)."""
        if not self._obj_nodes and not self._distractor_nodes:
            # nothing inserted (pyrender's shadow pass also fails without visible meshes)
            return np.zeros((self.height, self.width, 4), np.uint8), np.ones((self.height, self.width), np.float32)
        shadows = self._shadow_flags if self._light_matrices else 0
        base = pyrender.RenderFlags.RGBA | pyrender.RenderFlags.SKIP_CULL_FACES | shadows
        objs = [self._obj_nodes[i].mesh for i in self._obj_nodes] + [n.mesh for n in self._distractor_nodes]
        occl = [n.mesh for n in self._occluder_nodes]
        catcher = self._catcher_node.mesh
        bg = self._scene.bg_color
        self._scene.bg_color = np.zeros(4)

        def visible(meshes, flag):
            for m in meshes:
                m.is_visible = flag

        try:
            visible(occl, False)
            visible([catcher], False)
            layer, _ = self._draw(base, samples=AR_SAMPLES, read="rgba")
            shadow = np.ones(layer.shape[:2], np.float32)
            if shadows:
                visible([catcher], True)
                with_objs, _ = self._draw(base, samples=AR_SAMPLES, read="rgba")
                visible(objs, False)
                ground, _ = self._draw(base, samples=AR_SAMPLES, read="rgba")
                lum = lambda im: im[..., :3].astype(np.float32).mean(axis=-1)  # noqa: E731
                seen = ground[..., 3] > 0
                shadow[seen] = np.clip((lum(with_objs)[seen] + 1.0) / (lum(ground)[seen] + 1.0), 0.0, 1.0)
                shadow[layer[..., 3] > 0] = 1.0
        finally:
            visible(objs + occl + [catcher], True)
            self._scene.bg_color = bg
        return np.ascontiguousarray(layer), shadow

    def _amodal_window(self, view: View, cam_T_world: np.ndarray, inst_id: int, crop: bool = True) -> tuple:
        """Canvas window (x0, y0, x1, y1) to rasterise for one object: the projection of its bounding box plus
        2 px (clipped to the canvas), or the whole canvas when a box corner is not in front of the near plane
        or ``crop`` is False. Canvas pixel (v + H, u + W) is image pixel (v, u)."""
        W, H = self.width, self.height
        if crop:
            pc = transform_points(cam_T_world, self._corners[inst_id])
            if np.all(pc[:, 2] > view.znear):
                uv = project_points(pc, view.K) + [W, H]  # canvas pixel coordinates
                return (int(np.clip(np.floor(uv[:, 0].min()) - 2, 0, 3 * W)),
                        int(np.clip(np.floor(uv[:, 1].min()) - 2, 0, 3 * H)),
                        int(np.clip(np.ceil(uv[:, 0].max()) + 3, 0, 3 * W)),
                        int(np.clip(np.ceil(uv[:, 1].max()) + 3, 0, 3 * H)))
        return 0, 0, 3 * W, 3 * H

    def _amodal_masks(self, view: View, crop: bool = True, only=None) -> dict:
        """Silhouettes (3H, 3W) bool of every object and hand (or of the inst_ids ``only``), each as if rendered
        alone on BOP's 3W x 3H canvas (image in the middle, same pixel grid). See :meth:`_amodal_canvas`.

        * Inside the image, the objects are drawn with exactly the camera, viewport and shader program of the ID
          pass (same vertex transforms, so by GL's invariance rules every pixel the ID pass gives an object is
          in its silhouette), up to 24 per pass: object k of a pass ORs bit k into the colour buffer
          (``GL_COLOR_LOGIC_OP``; the depth test only rejects fragments beyond the far plane and writes
          nothing), so each bit is that object's coverage alone. The scissor box spans the objects'
          windows (:meth:`_amodal_window`) and each object keeps its bit inside its own window, as a pass of its
          own would.
        * Outside the image, each object whose window leaves the image gets a pass of its own over its window,
          with the camera shifted so the window keeps the canvas pixel grid.
        """
        W, H = self.width, self.height
        r = self._r
        cam_T_world = invert_pose(view.world_T_cam)
        flags = pyrender.RenderFlags.SEG | pyrender.RenderFlags.SKIP_CULL_FACES
        canvases, inside = {}, []
        for inst_id in (self._obj_nodes if only is None else only):
            x0, y0, x1, y1 = self._amodal_window(view, cam_T_world, inst_id, crop)
            canvas = canvases[inst_id] = np.zeros((3 * H, 3 * W), dtype=bool)
            if x1 <= x0 or y1 <= y0:
                continue  # projects entirely outside the canvas
            if not (x0 >= W and y0 >= H and x1 <= 2 * W and y1 <= 2 * H):
                r.viewport_width, r.viewport_height = x1 - x0, y1 - y0
                self._use_camera(self._canvas_node, _gl_camera(view.K, view.znear, view.zfar, du=W - x0, dv=H - y0),
                                 view.world_T_cam)
                bits, _ = self._draw(flags, {self._obj_nodes[inst_id]: (1, 0, 0)}, read="bits", union=True)
                canvas[y0:y1, x0:x1] = (bits & np.uint32(1)) != 0
                canvas[H:2 * H, W:2 * W] = False
            ix0, iy0, ix1, iy1 = max(x0 - W, 0), max(y0 - H, 0), min(x1 - W, W), min(y1 - H, H)
            if ix1 > ix0 and iy1 > iy0:
                inside.append((inst_id, (ix0, iy0, ix1, iy1)))
        r.viewport_width, r.viewport_height = W, H
        self._use_camera(self._cam_node, self._cam_node.camera, view.world_T_cam)
        for g in range(0, len(inside), _BITS_PER_PASS):
            group = inside[g:g + _BITS_PER_PASS]
            win = np.array([w for _, w in group])
            x0, y0 = (int(v) for v in win[:, :2].min(axis=0))
            x1, y1 = (int(v) for v in win[:, 2:].max(axis=0))
            seg = {self._obj_nodes[i]: _bit_color(k) for k, (i, _) in enumerate(group)}
            bits, _ = self._draw(flags, seg, window=(x0, y0, x1, y1), read="bits", union=True)
            for k, (i, (ix0, iy0, ix1, iy1)) in enumerate(group):
                sub = bits[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
                canvases[i][H + iy0:H + iy1, W + ix0:W + ix1] = (sub & np.uint32(1 << k)) != 0
        return canvases

    def _amodal_canvas(self, view: View, cam_T_world: np.ndarray, inst_id: int, crop: bool = True) -> np.ndarray:
        """Silhouette (3H, 3W) bool of one object or hand (``inst_id``) rendered alone on BOP's 3W x 3H canvas.

        * Inside the image, the object is drawn with exactly the camera and viewport of the ID
          pass, with a scissor box limiting the work: same vertex transforms, so (GL invariance)
          every pixel the ID pass gives this object is in its silhouette.
        * Outside the image, only the canvas window covering the projection of the object's
          bounding box (plus 2 px) is rasterised, with the camera shifted so the window keeps the
          canvas pixel grid. When a box corner is not in front of the near plane (or ``crop`` is
          False), the whole canvas is rendered.

        ``view`` must be the view last rendered by :meth:`render_view` (its ID-pass camera is reused);
        ``cam_T_world`` is accepted for compatibility (the inverse of ``view.world_T_cam`` is used).
        """
        with self._drawing():
            return self._amodal_masks(view, crop=crop, only=[inst_id])[inst_id]

    def close(self) -> None:
        """Free the GL context (call once, at process end)."""
        if self._r is not None:
            make_current(self._r)
            self._targets.delete()
            self._r.delete()
            self._r = None
