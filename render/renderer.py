"""Headless rendering of scene descriptions with pyrender over EGL.

One :class:`Renderer` lives per process: it owns one ``pyrender.OffscreenRenderer``
(an EGL context: the GPU's on NVIDIA machines, Mesa llvmpipe on CPU machines)
and one ``pyrender.Scene`` that is re-filled for every scene description, so
no GL context is ever created per frame.

Passes per view (:meth:`Renderer.render_view`):

1. **RGB**: lit, 4x MSAA, with the assets' textures/colours.
2. **Instance IDs + depth**: one SEG pass with multisampling off, so every
   pixel is shaded from the single surface at its centre: ``ids`` holds that
   surface's object (``inst_id``, 0 for floor, walls and background) and
   ``depth`` its z. Every object and the static geometry are in the pass, so
   every surface occludes (pyrender skips nodes missing from ``seg_node_map``).
3. **Amodal silhouettes**: each object alone, on BOP's 3W x 3H canvas (the
   image in the middle; same pixel grid), for ``px_count_all``, ``bbox_obj``,
   full masks and truncation. The in-image part is drawn with the ID pass's own
   camera and viewport (scissored), so a pixel the ID pass gives an object is
   always inside that object's silhouette.

Back faces are drawn in every pass: meshes from the wild are often open or
inconsistently wound, and ground truth must match the geometry (a ray hits a
triangle from either side). pyrender honours ``SKIP_CULL_FACES`` only in lit
passes and re-enables culling in SEG and depth passes, so while gtforge
renders, :func:`_both_faces` keeps pyrender from enabling ``GL_CULL_FACE``.

Pixel convention: pyrender puts pixel centres at half-integers, OpenCV at
integers, so the GL camera gets ``cx + 0.5, cy + 0.5`` (docs/conventions.md).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import numpy as np  # noqa: E402
import pyrender  # noqa: E402
import pyrender.renderer as _pyrender_renderer  # noqa: E402
from OpenGL.GL import GL_CULL_FACE, GL_SCISSOR_TEST, glDisable, glEnable, glScissor  # noqa: E402
import trimesh  # noqa: E402
from PIL import Image  # noqa: E402

from ..assets.loaders import AssetLibrary  # noqa: E402
from ..core.description import SceneDescription, View  # noqa: E402
from ..core.geometry import OPENCV_TO_OPENGL, box_corners, make_pose, project_points, transform_points  # noqa: E402
from ..core.ids import MAX_INSTANCE_ID, REAL_ID, decode_ids, encode_ids  # noqa: E402


@contextlib.contextmanager
def _both_faces():
    """Within the block, pyrender cannot enable back-face culling (every pass draws both faces)."""
    original = _pyrender_renderer.glEnable

    def enable(cap):
        if cap != GL_CULL_FACE:
            original(cap)

    _pyrender_renderer.glEnable = enable
    try:
        yield
    finally:
        _pyrender_renderer.glEnable = original


@dataclass
class FrameBuffers:
    """Buffers of one view.

    Attributes
    ----------
    rgb : (H, W, 3) uint8
    depth : (H, W) float32
        z in the OpenCV camera frame, metres; 0 where nothing was hit.
    ids : (H, W) int32
        ``inst_id`` of the object seen at each pixel centre; 0 for none/floor/walls.
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
    return pyrender.IntrinsicsCamera(fx=K[0, 0], fy=K[1, 1], cx=K[0, 2] + 0.5 + du, cy=K[1, 2] + 0.5 + dv,
                                     znear=znear, zfar=zfar)


def _light_pose(direction: np.ndarray) -> np.ndarray:
    """Pose whose -z axis points along ``direction`` (pyrender lights shine down their -z)."""
    z = -np.asarray(direction, dtype=np.float64)
    z /= np.linalg.norm(z)
    a = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(a, z)
    x /= np.linalg.norm(x)
    return make_pose(np.stack([x, np.cross(z, x), z], axis=1), np.zeros(3))


class Renderer:
    """The process's renderer. Create once, call :meth:`set_scene` per scene and :meth:`render_view` per view.

    Parameters
    ----------
    library : AssetLibrary
        Source of the meshes named by ``ObjectInstance.obj_id``.
    width, height : int
        Image size in pixels (the amodal canvas is 3x each).

    Raises
    ------
    RuntimeError
        If no EGL context can be created (message says what to install).
    """

    def __init__(self, library: AssetLibrary, width: int, height: int):
        self.library = library
        self.width, self.height = int(width), int(height)
        try:
            self._r = pyrender.OffscreenRenderer(self.width, self.height)
        except Exception as e:  # pragma: no cover - depends on the machine
            raise RuntimeError(
                f"cannot create an EGL rendering context ({type(e).__name__}: {e}). "
                "Install Mesa's EGL (Debian/Ubuntu: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri) "
                "or an NVIDIA driver with EGL, and keep PYOPENGL_PLATFORM=egl."
            ) from e
        self._scene = pyrender.Scene(bg_color=[0, 0, 0, 1], ambient_light=[0.3, 0.3, 0.3])
        self._cam_node = self._scene.add(_gl_camera(np.eye(3), 0.1, 10.0), pose=np.eye(4))
        self._canvas_node = self._scene.add(_gl_camera(np.eye(3), 0.1, 10.0), pose=np.eye(4))
        self._scene_nodes: list = []
        self._obj_nodes: dict[int, pyrender.Node] = {}  # inst_id -> node (objects and hands)
        self._corners: dict[int, np.ndarray] = {}  # inst_id -> (8, 3) world corners of its bounding box
        self._static_nodes: list = []
        self._mesh_cache: dict[int, pyrender.Mesh] = {}
        self._texture_cache: dict[str, np.ndarray] = {}
        self.description: SceneDescription | None = None
        #: seconds spent in each pass by the last :meth:`render_view` call
        self.last_timings: dict[str, float] = {}

    # ------------------------------------------------------------------ scene
    def _object_mesh(self, obj_id: int, color) -> pyrender.Mesh:
        asset = self.library.get(obj_id)
        if color is None and obj_id in self._mesh_cache:
            return self._mesh_cache[obj_id]
        if color is None and asset.has_texture:
            mesh = pyrender.Mesh.from_trimesh(asset.mesh, smooth=False)
        else:
            rgba = color if color is not None else asset.base_color
            if rgba is None and asset.mesh.visual.kind == "vertex":
                mesh = pyrender.Mesh.from_trimesh(asset.mesh, smooth=False)
            else:
                if rgba is None:
                    mat_color = getattr(getattr(asset.mesh.visual, "material", None), "main_color", None)
                    rgba = np.asarray(mat_color, dtype=np.float64) / 255.0 if mat_color is not None else np.array([0.7, 0.7, 0.7, 1.0])
                plain = trimesh.Trimesh(asset.mesh.vertices, asset.mesh.faces, process=False)
                mat = pyrender.MetallicRoughnessMaterial(baseColorFactor=np.asarray(rgba, dtype=np.float64),
                                                        metallicFactor=0.0, roughnessFactor=0.7)
                mesh = pyrender.Mesh.from_trimesh(plain, material=mat, smooth=False)
        if color is None:
            self._mesh_cache[obj_id] = mesh
        return mesh

    def _floor_mesh(self, floor) -> pyrender.Mesh:
        s = floor.size / 2.0
        v = np.array([[-s, -s, 0.0], [s, -s, 0.0], [s, s, 0.0], [-s, s, 0.0]])
        f = np.array([[0, 1, 2], [0, 2, 3]])
        if floor.texture is not None:
            if floor.texture not in self._texture_cache:
                self._texture_cache[floor.texture] = np.asarray(Image.open(floor.texture).convert("RGB"))
            img = Image.fromarray(self._texture_cache[floor.texture])
            uv = (v[:, :2] + s) / floor.tile
            visual = trimesh.visual.TextureVisuals(uv=uv, image=img)
            tm = trimesh.Trimesh(v, f, visual=visual, process=False)
            return pyrender.Mesh.from_trimesh(tm, smooth=False)
        mat = pyrender.MetallicRoughnessMaterial(baseColorFactor=np.append(floor.color, 1.0), metallicFactor=0.0,
                                                 roughnessFactor=0.9)
        return pyrender.Mesh.from_trimesh(trimesh.Trimesh(v, f, process=False), material=mat, smooth=False)

    def set_scene(self, scene: SceneDescription) -> None:
        """Replace the objects, floor, walls and lights with those of ``scene``.

        Raises ValueError if an ``inst_id`` cannot be encoded in the ID pass.
        """
        for n in self._scene_nodes:
            self._scene.remove_node(n)
        self._scene_nodes, self._obj_nodes, self._static_nodes, self._corners = [], {}, [], {}
        self._occluder_nodes, self._catcher_node = [], None
        self._scene.bg_color = np.append(scene.background_color, 1.0)
        self._scene.ambient_light = np.full(3, scene.ambient)
        for o in scene.objects:
            if not 1 <= o.inst_id <= MAX_INSTANCE_ID:
                raise ValueError(f"inst_id {o.inst_id} outside [1, {MAX_INSTANCE_ID}]")
            node = self._scene.add(self._object_mesh(o.obj_id, o.color), pose=o.world_T_model)
            self._obj_nodes[o.inst_id] = node
            self._scene_nodes.append(node)
            lo, hi = self.library.get(o.obj_id).mesh.bounds
            self._corners[o.inst_id] = transform_points(o.world_T_model, box_corners(lo, hi))
        for h in scene.hands:
            if not 1 <= h.inst_id <= MAX_INSTANCE_ID or h.inst_id in self._obj_nodes:
                raise ValueError(f"hand inst_id {h.inst_id} invalid or used twice")
            mat = pyrender.MetallicRoughnessMaterial(baseColorFactor=np.append(h.color, 1.0), metallicFactor=0.0,
                                                     roughnessFactor=0.55)
            tm = trimesh.Trimesh(h.vertices, h.faces, process=False)
            node = self._scene.add(pyrender.Mesh.from_trimesh(tm, material=mat, smooth=True), pose=np.eye(4))
            self._obj_nodes[h.inst_id] = node
            self._scene_nodes.append(node)
            self._corners[h.inst_id] = box_corners(h.vertices.min(axis=0), h.vertices.max(axis=0))
        fnode = self._scene.add(self._floor_mesh(scene.floor), pose=np.eye(4))
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
        for w in scene.walls:
            mat = pyrender.MetallicRoughnessMaterial(baseColorFactor=np.append(w.color, 1.0), metallicFactor=0.0,
                                                     roughnessFactor=0.8)
            m = pyrender.Mesh.from_trimesh(trimesh.creation.box(extents=w.extents), material=mat, smooth=False)
            self._static_nodes.append(self._scene.add(m, pose=w.world_T_box))
        self._scene_nodes.extend(self._static_nodes)
        for light in scene.lights:
            ln = self._scene.add(pyrender.DirectionalLight(color=light.color, intensity=light.intensity),
                                 pose=_light_pose(light.direction))
            self._scene_nodes.append(ln)
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
            Must have this renderer's width and height.
        rgb : bool
            Run the RGB pass (skipped when the output needs no RGB).
        amodal : bool
            Run the per-object amodal passes.

        Raises
        ------
        ValueError
            If the view size differs from the renderer's, or no scene is set.
        """
        if self.description is None:
            raise ValueError("render_view: call set_scene first")
        self.width, self.height = int(view.width), int(view.height)  # AR backgrounds differ in size
        with _both_faces():
            self._r._platform.make_current()
            glDisable(GL_CULL_FACE)
            return self._render_view(view, rgb, amodal)

    def _render_view(self, view: View, rgb: bool, amodal: bool) -> FrameBuffers:
        W, H = self.width, self.height
        r = self._r
        r.viewport_width, r.viewport_height = W, H
        self._use_camera(self._cam_node, _gl_camera(view.K, view.znear, view.zfar), view.world_T_cam)
        color = rgba = shadow = None
        t0 = time.perf_counter()
        if self.description.ar is not None:
            rgba, shadow = self._ar_layers()
        elif rgb:
            flags = pyrender.RenderFlags.SKIP_CULL_FACES
            if self.description.shadows:
                flags |= pyrender.RenderFlags.SHADOWS_DIRECTIONAL
            color, _ = r.render(self._scene, flags=flags)
        t1 = time.perf_counter()
        seg, depth = r.render(self._scene, flags=pyrender.RenderFlags.SEG | pyrender.RenderFlags.SKIP_CULL_FACES,
                              seg_node_map=self._seg_map)
        ids = decode_ids(seg)
        t2 = time.perf_counter()
        masks = {}
        if amodal and self._obj_nodes:
            cam_T_world = np.linalg.inv(view.world_T_cam)
            for inst_id in self._obj_nodes:
                masks[inst_id] = self._amodal_canvas(view, cam_T_world, inst_id)
            r.viewport_width, r.viewport_height = W, H
        self.last_timings = {"render_rgb": t1 - t0, "render_ids_depth": t2 - t1,
                             "render_amodal": time.perf_counter() - t2}
        return FrameBuffers(rgb=None if color is None else np.ascontiguousarray(color),
                            depth=np.ascontiguousarray(depth, dtype=np.float32), ids=ids, amodal=masks,
                            rgba=rgba, shadow=shadow)

    def _ar_layers(self):
        """AR passes: the inserted objects alone (RGBA, transparent elsewhere, anti-aliased edges), and the
        shadow ratio: brightness of the shadow-catcher ground with the objects over its brightness without
        them (1 where no shadow falls or no ground is seen)."""
        r = self._r
        if not self._obj_nodes:  # nothing inserted (pyrender's shadow pass also fails without visible meshes)
            return np.zeros((self.height, self.width, 4), np.uint8), np.ones((self.height, self.width), np.float32)
        base = pyrender.RenderFlags.RGBA | pyrender.RenderFlags.SKIP_CULL_FACES
        if self.description.shadows:
            base |= pyrender.RenderFlags.SHADOWS_DIRECTIONAL
        objs = [self._obj_nodes[i].mesh for i in self._obj_nodes]
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
            layer, _ = r.render(self._scene, flags=base)
            shadow = np.ones(layer.shape[:2], np.float32)
            if self.description.shadows:
                visible([catcher], True)
                with_objs, _ = r.render(self._scene, flags=base)
                visible(objs, False)
                ground, _ = r.render(self._scene, flags=base)
                lum = lambda im: im[..., :3].astype(np.float32).mean(axis=-1)  # noqa: E731
                seen = ground[..., 3] > 0
                shadow[seen] = np.clip((lum(with_objs)[seen] + 1.0) / (lum(ground)[seen] + 1.0), 0.0, 1.0)
                shadow[layer[..., 3] > 0] = 1.0
        finally:
            visible(objs + occl + [catcher], True)
            self._scene.bg_color = bg
        return np.ascontiguousarray(layer), shadow

    def _amodal_canvas(self, view: View, cam_T_world: np.ndarray, inst_id: int, crop: bool = True) -> np.ndarray:
        """Silhouette (3H, 3W) bool of one object or hand (``inst_id``) rendered alone on BOP's 3W x 3H canvas.

        * Inside the image, the object is drawn with exactly the camera and viewport of the ID
          pass, with a scissor box limiting the work: same vertex transforms, so (GL invariance)
          every pixel the ID pass gives this object is in its silhouette.
        * Outside the image, only the canvas window covering the projection of the object's
          bounding box (plus 2 px) is rasterised, with the camera shifted so the window keeps the
          canvas pixel grid. When a box corner is not in front of the near plane (or ``crop`` is
          False), the whole canvas is rendered.
        """
        W, H = self.width, self.height
        r = self._r
        x0, y0, x1, y1 = 0, 0, 3 * W, 3 * H
        if crop:
            pc = transform_points(cam_T_world, self._corners[inst_id])
            if np.all(pc[:, 2] > view.znear):
                uv = project_points(pc, view.K) + [W, H]  # canvas pixel coordinates
                x0 = int(np.clip(np.floor(uv[:, 0].min()) - 2, 0, 3 * W))
                y0 = int(np.clip(np.floor(uv[:, 1].min()) - 2, 0, 3 * H))
                x1 = int(np.clip(np.ceil(uv[:, 0].max()) + 3, 0, 3 * W))
                y1 = int(np.clip(np.ceil(uv[:, 1].max()) + 3, 0, 3 * H))
        canvas = np.zeros((3 * H, 3 * W), dtype=bool)
        if x1 <= x0 or y1 <= y0:
            return canvas  # projects entirely outside the canvas
        flags = pyrender.RenderFlags.SEG | pyrender.RenderFlags.DEPTH_ONLY | pyrender.RenderFlags.SKIP_CULL_FACES
        seg = {self._obj_nodes[inst_id]: (255, 255, 255)}
        # window in image coordinates (the part of the window that overlaps the image)
        ix0, iy0, ix1, iy1 = max(x0 - W, 0), max(y0 - H, 0), min(x1 - W, W), min(y1 - H, H)
        inside = x0 >= W and y0 >= H and x1 <= 2 * W and y1 <= 2 * H
        if not inside:
            r.viewport_width, r.viewport_height = x1 - x0, y1 - y0
            self._use_camera(self._canvas_node, _gl_camera(view.K, view.znear, view.zfar, du=W - x0, dv=H - y0),
                             view.world_T_cam)
            canvas[y0:y1, x0:x1] = r.render(self._scene, flags=flags, seg_node_map=seg) > 0
        if ix1 > ix0 and iy1 > iy0:
            r.viewport_width, r.viewport_height = W, H
            self._use_camera(self._cam_node, self._cam_node.camera, view.world_T_cam)
            r._platform.make_current()
            glEnable(GL_SCISSOR_TEST)
            glScissor(ix0, H - iy1, ix1 - ix0, iy1 - iy0)  # GL window origin: bottom left
            try:
                d = r.render(self._scene, flags=flags, seg_node_map=seg)
            finally:
                r._platform.make_current()
                glDisable(GL_SCISSOR_TEST)
            canvas[H:2 * H, W:2 * W] = False
            canvas[H + iy0:H + iy1, W + ix0:W + ix1] = d[iy0:iy1, ix0:ix1] > 0
        return canvas

    def close(self) -> None:
        """Free the GL context (call once, at process end)."""
        if self._r is not None:
            self._r.delete()
            self._r = None
