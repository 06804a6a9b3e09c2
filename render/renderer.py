"""Headless rendering of scene descriptions with pyrender over EGL.

One :class:`Renderer` lives per process: it owns one ``pyrender.OffscreenRenderer``
(an EGL context: the GPU's on NVIDIA machines, Mesa llvmpipe on CPU machines)
and one ``pyrender.Scene`` that is re-filled for every scene description, so
no GL context is ever created per frame.

Passes per view (:meth:`Renderer.render_view`):

1. **Instance IDs + depth**: one SEG pass with multisampling off, so every
   pixel is shaded from the single surface at its centre: ``ids`` holds that
   surface's object (``inst_id``, 0 for floor, walls, distractors and background)
   and ``depth`` its z. Every object and the static geometry are in the pass, so
   every surface occludes (pyrender skips nodes missing from ``seg_node_map``).
2. **RGB**: lit, 4x MSAA, with the surfaces' materials (below), shadow maps fitted
   to what the depth pass sees, and the backdrop.
3. **Amodal silhouettes**: each object (or hand) alone, on BOP's 3W x 3H canvas (the
   image in the middle; same pixel grid), for ``px_count_all``, ``bbox_obj``,
   full masks and truncation. The in-image part is drawn with the ID pass's own
   camera and viewport (scissored), so a pixel the ID pass gives an object is
   always inside that object's silhouette. Distractors never get one.

Appearance never changes geometry: materials, lights, shadows and backdrops act on
the RGB pass only. Every surface is drawn with the same triangles, in the same order
and at the same positions whatever its material (flat-shaded meshes are drawn as
``vertices[faces]``; texture coordinates ride along per corner), so the ID, depth and
amodal passes are bit-identical across appearances
(``tests/render/test_appearance.py::test_geometry_passes_ignore_appearance``).

Materials (``core.description.Material``, glTF 2.0 metallic-roughness):

* ``None``: the asset's own look (texture, vertex colours, URDF or MTL colour), as loaded;
  the pyrender mesh is cached per model.
* ``asset``: that look with ``hsv`` jitter (``assets.textures.jitter_hsv``) applied to the
  texture image, the vertex colours or the plain colour, and the material's metallic and
  roughness.
* ``texture``: ``load_texture(texture.key)`` with ``hsv`` jitter, mapped with the asset's UVs
  when it has them and ``projection`` is ``auto``, else box-projected
  (``assets.textures.box_uv``, ``tile`` metres per repeat, model frame); ``base_color``
  multiplies it.
* ``color``: a plain ``base_color``.

Multi-part assets (``Asset.face_parts``, e.g. procedural cars) are one primitive per part: the
``body`` part takes the instance's material (its ``PartLook`` when the material is None),
the other parts their ``PartLook``. pyrender adds a material's emissive factor squared
(``color += emissive * emissive_factor`` with ``emissive = emissive_factor`` in its
``mesh.frag``), so a ``PartLook.emissive`` e is passed as sqrt(e).

Texture coordinates: images are uploaded with row 0 at the top, so v = 0 is the image's bottom
row (OpenGL / Wavefront convention). The floor's coordinates are ``(x, y) / tile`` of the world
point (the image appears upright seen from above with +y up), walls' are ``box_uv`` in the box
frame.

Lights (``core.description.Light``): ``directional`` as pyrender ``DirectionalLight``; ``spot``
as ``SpotLight`` with the light's cones; ``point`` as ``PointLight``. pyrender has no shadow
maps for point lights (``NotImplementedError``), so **point lights with shadows are spot lights
with a wide cone aimed at the scene**: a ``SpotLight`` at the light's position aimed along
``Light.direction``, with inner = outer cone = :data:`POINT_SHADOW_CONE` (75 deg; no angular
falloff inside the cone, dark outside it). A light casts shadows when both
``SceneDescription.shadows`` and ``Light.shadows`` are set.

Shadow maps (one per shadow-casting light; :data:`SHADOW_MAP_SIZE` or :data:`DIRECTIONAL_SHADOW_MAP_SIZE` squared): pyrender fits every directional light's map to
the whole scene's bounding box (``scene.centroid``, ``scene.scale``): with a 3 m floor, a room or the 400 m
AR shadow catcher the texels over the objects are centimetres wide and the depth range tens of metres,
and since its shader's depth bias is a fraction (1e-4 to 1e-3) of that range, shadows float centimetres
off their casters. While gtforge renders, :func:`_shadow_maps` replaces its ``_get_light_cam_matrices``
(on our renderer instance only) by fitted frusta. In a scene without AR they are first fitted once to the
casters (box corners of objects, hands, distractors and walls) and their shadows on the floor z = 0, which
bound every shadow a view can see (a surface is shadowed only where a caster lies between it and the light);
when these frusta come out compact (:data:`SCENE_SHADOW_MAX_HALF_WIDTH`, :data:`SCENE_SHADOW_MAX_HALF_ANGLE`:
a bin of objects, about 0.25 m across, finer than a view's fit), each map is drawn once per scene and kept
for all its views (:data:`SHADOW_FIT`; 5 views: about 60 ms less per 640 x 480 frame on a 2-core CPU).
Otherwise (a room, whose walls metres apart would spread the map) they are fitted per view to the surfaces
the view sees (the world points of its depth pass; every caster that can shadow them lies on their rays to
the light):

* directional: an orthographic frustum across the light just covering those points, deep enough to hold
  every object, hand, distractor and wall towards the light, and at least 10 x its half-width deep;
* spot (and point-as-spot): a perspective frustum from the light's position just covering the lit points,
  its near plane at half the nearest one's depth and at most 1 / (10 tan(half field)) m.

Those depth ranges keep pyrender's bias proportional to the texel size (1 to 10 texels of offset, no gap
visible at a resting object's base: ``test_appearance.py::test_shadow_falls_where_the_light_is_blocked``);
acne is removed by a slope-scaled ``glPolygonOffset`` while the maps are drawn. AR scenes, whose shadow
catcher is not in the depth pass, fit the frusta to the inserted objects and their shadows on z = 0 for
every view (their passes hide and show the objects, so no map is kept). Every map clamps to a border of depth
1 (pyrender's would repeat), so whatever lies outside a frustum fitted to the casters is lit.
A light that must not cast shadows while others of its kind do gets a cleared map.

Backdrop (``SceneDescription.backdrop``): None keeps ``background_color`` as the clear colour.
Otherwise the RGB pass is rendered with a transparent background (RGBA, premultiplied by the
4x MSAA coverage) and composited over the backdrop image: ``color`` (plain), ``sky`` (per-pixel
blend of ``color`` at the horizon and ``zenith`` with t = sqrt(clip(sin(elevation), 0, 1)) of
the pixel's viewing ray in the world; the horizon colour below it) or ``photo`` (the crop window
of the image, scaled to cover the frame and centre-cropped). Depth and ids stay 0 there.

Hands: one node per hand holding the hand mesh (plain ``color``, or ``vertex_colors`` with
smooth shading) and its forearm (vertex colours), so the forearm has the hand's ``inst_id`` in
the ID pass and is inside the hand's amodal silhouette.

Distractors (``SceneDescription.distractors``, models from the distractor library): drawn with
their materials like objects, but as static geometry: colour (0, 0, 0) in the ID pass (they
occlude and own no pixel id), never in an amodal pass.

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
import hashlib
import math
import os
import re
import shutil
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import numpy as np  # noqa: E402
import pyrender  # noqa: E402
import pyrender.renderer as _pyrender_renderer  # noqa: E402
from OpenGL.GL import (GL_CLAMP_TO_BORDER, GL_COLOR_ATTACHMENT0, GL_COLOR_BUFFER_BIT,  # noqa: E402
                       GL_COLOR_LOGIC_OP, GL_CULL_FACE, GL_DEPTH_ATTACHMENT, GL_DEPTH_COMPONENT24,
                       GL_DEPTH_BUFFER_BIT, GL_DEPTH_COMPONENT, GL_DEPTH_TEST, GL_DRAW_FRAMEBUFFER, GL_FLOAT,
                       GL_FRAMEBUFFER, GL_FRAMEBUFFER_COMPLETE, GL_LESS, GL_LINEAR, GL_NEAREST, GL_OR,
                       GL_PACK_ALIGNMENT, GL_POLYGON_OFFSET_FILL, GL_UNPACK_ALIGNMENT, GL_READ_FRAMEBUFFER, GL_RENDERBUFFER, GL_RGB,
                       GL_RGBA, GL_RGBA8, GL_SCISSOR_TEST, GL_TRUE, GL_FALSE, GL_UNSIGNED_BYTE,
                       glBindFramebuffer, glBindRenderbuffer, glBlitFramebuffer, glCheckFramebufferStatus, glClear,
                       glDeleteFramebuffers, glDeleteRenderbuffers, glDepthFunc, glDepthMask, glDepthRange,
                       glDisable, glEnable, glFramebufferRenderbuffer, glGenFramebuffers, glGenRenderbuffers,
                       glLogicOp, glPixelStorei, glPolygonOffset, glReadPixels, glRenderbufferStorage,
                       glRenderbufferStorageMultisample, glScissor, glViewport)
import trimesh  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402
import pyrender.light as _pyrender_light  # noqa: E402
from pyrender.shader_program import ShaderProgramCache  # noqa: E402

from ..assets.loaders import AssetLibrary  # noqa: E402
from ..assets.textures import box_uv, jitter_hsv, load_texture  # noqa: E402
from ..core.description import Backdrop, Light, Material, SceneDescription, View  # noqa: E402
from ..core.files import cache_dir  # noqa: E402
from ..core.geometry import (OPENCV_TO_OPENGL, box_corners, invert_pose, make_pose, project_points,  # noqa: E402
                             transform_points)
from ..core.ids import MAX_INSTANCE_ID, REAL_ID, encode_ids  # noqa: E402

#: Cone half-angle (radians) of the spot light that stands in for a shadow-casting point light.
POINT_SHADOW_CONE = math.radians(75.0)
#: Largest half-angle of a spot light's shadow frustum (radians); pyrender's perspective camera needs < 90 deg.
_MAX_SHADOW_HALF_ANGLE = math.radians(85.0)
#: Depth range of a directional light's shadow frustum per half-width of its cross-section (at least).
_SHADOW_DEPTH_PER_HALF_WIDTH = 10.0
#: glPolygonOffset (factor, units) while shadow maps are drawn: pushes each caster's stored depth back by
#: ``factor`` x its depth slope per texel (+ ``units`` x the depth resolution), more than the depth change over
#: the 3 x 3 PCF footprint of pyrender's shader, so lit surfaces do not shadow themselves.
_SHADOW_POLYGON_OFFSET = (2.0, 2.0)
_IDENTITY_HSV = np.array([0.0, 1.0, 1.0])


#: Side of the shadow map of a spot light (and of a point light, drawn as a wide spot), texels. pyrender's is
#: 2048 (``constants.SHADOW_TEX_SZ``, read by its ``light`` and ``renderer`` modules). A spot's map spans its
#: cone: at 1024 texels its shadow edges move several pixels (tests/render/test_appearance.py, spot cases).
SHADOW_MAP_SIZE = 2048
#: Side of the shadow map of a directional light, texels. Its orthographic map is fitted to what the view sees
#: (:func:`_directional_frustum`: about a metre across for the default recipe, a millimetre per texel), so
#: 1024 texels keep its shadow edges within the tests' tolerance and draw a quarter of the texels (about
#: 20 ms per light and 640 x 480 frame on a 2-core CPU).
DIRECTIONAL_SHADOW_MAP_SIZE = 1024
_pyrender_light.SHADOW_TEX_SZ = _pyrender_renderer.SHADOW_TEX_SZ = SHADOW_MAP_SIZE
#: Where shadow frusta are fitted in scenes without AR: ``scene`` (once per scene to the casters and their
#: shadows on the floor, the maps drawn once and kept for every view, when they come out compact; else per
#: view) or ``view`` (always per view to the surfaces the view sees; a map drawn for every view).
SHADOW_FIT = "scene"
#: Largest half-width (m) of a directional light's scene-fitted frustum (:meth:`Renderer._fit_scene_frusta`):
#: 0.6 m keeps its 1024 texels within about 1.2 mm, as fine as a view's fit of the default recipe.
SCENE_SHADOW_MAX_HALF_WIDTH = 0.6
#: Largest half field (radians) of a spot light's scene-fitted frustum.
SCENE_SHADOW_MAX_HALF_ANGLE = math.radians(45.0)


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


class _OrderedNodes(dict):
    """A set of pyrender nodes that iterates in insertion order (a dict with None values).

    pyrender keeps a scene's nodes in Python sets, which iterate in the order of the nodes' ``id()``: memory
    addresses. Lights are summed in the shader in that order and equally distant meshes drawn in it, so the
    same scene could render a few pixels 1/255 apart in two processes (seen: one JPEG in a build of
    ``bop_pbr_like.yaml`` after another build in the same process). With these, the order is the order in
    which gtforge adds nodes, in every process.
    """

    def __init__(self, items=()):
        super().__init__((i, None) for i in items)

    def add(self, item):
        self[item] = None

    def remove(self, item):
        del self[item]

    def discard(self, item):
        self.pop(item, None)

    def copy(self):
        return _OrderedNodes(self)

    def __or__(self, other):
        out = _OrderedNodes(self)
        for i in other:
            out.add(i)
        return out


def _ordered_scene(scene: pyrender.Scene) -> pyrender.Scene:
    """``scene`` with its node sets replaced by :class:`_OrderedNodes` (deterministic draw and light order)."""
    for attr in ("_nodes", "_mesh_nodes", "_point_light_nodes", "_spot_light_nodes", "_directional_light_nodes",
                 "_camera_nodes"):
        setattr(scene, attr, _OrderedNodes(getattr(scene, attr)))
    return scene


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


@contextlib.contextmanager
def _shadow_maps(impl, matrices: dict, casting: set, current: set):
    """Within the block, pyrender renderer ``impl`` uses our shadow frusta and skips non-casting lights.

    Parameters
    ----------
    impl : pyrender.Renderer
        The offscreen renderer's internal renderer (its methods are replaced on this instance only).
    matrices : dict
        Light node -> (V (4, 4), P (4, 4)) world -> light camera and projection (OpenGL).
    casting : set
        Light nodes whose shadow maps are drawn; the others' are cleared (nothing shadows them).
    current : set
        Light nodes whose shadow map already holds what ``matrices`` asks (drawn for an earlier view of the
        scene with the same frustum and casters): their map is kept, not drawn again. The caller empties it
        whenever the frusta or the casters change.
    """
    original_matrices = impl._get_light_cam_matrices
    original_pass = impl._shadow_mapping_pass

    def light_cam_matrices(scene, light_node, flags):
        if light_node in matrices:
            return matrices[light_node]
        return original_matrices(scene, light_node, flags)

    def shadow_mapping_pass(scene, light_node, flags):
        if light_node in current:  # the map drawn for an earlier view still holds
            return
        if light_node not in casting:  # binds and clears the map to depth 1: nothing is in front of any receiver
            impl._configure_shadow_mapping_viewport(light_node.light, flags)
            return
        glEnable(GL_POLYGON_OFFSET_FILL)  # slope-scaled depth bias (no acne, see the module doc)
        glPolygonOffset(*_SHADOW_POLYGON_OFFSET)
        try:
            original_pass(scene, light_node, flags)
        finally:
            glPolygonOffset(0.0, 0.0)
            glDisable(GL_POLYGON_OFFSET_FILL)

    original_viewport = impl._configure_shadow_mapping_viewport

    def shadow_viewport(light, flags):  # pyrender sets SHADOW_TEX_SZ; each map here has its own size
        original_viewport(light, flags)
        glViewport(0, 0, light.shadow_texture.width, light.shadow_texture.height)

    impl._get_light_cam_matrices = light_cam_matrices
    impl._shadow_mapping_pass = shadow_mapping_pass
    impl._configure_shadow_mapping_viewport = shadow_viewport
    try:
        yield
    finally:  # back to the class's methods
        del impl._get_light_cam_matrices, impl._shadow_mapping_pass, impl._configure_shadow_mapping_viewport


@dataclass
class _Pass:
    """What the next pyrender forward pass draws into and reads back (see :class:`_Targets`).

    ``samples``: 0 (one sample at each pixel centre) or the MSAA sample count; ``window`` (x0, y0, x1, y1):
    the part of the viewport that is cleared, drawn and read (image rows from the top, half-open);
    ``read``: ``rgb`` / ``rgba`` (uint8 colour), ``ids`` (RGBA as uint32 with the alpha byte cleared: the
    instance id, :func:`gtforge.core.ids.decode_ids`) or ``bits`` (RGBA as uint32); ``depth``: also read the
    depth buffer (linear metres, 0 where nothing was drawn); ``union``: every fragment whose depth is in
    front of the far plane ORs its colour into the pixel (``GL_COLOR_LOGIC_OP``) without writing depth, so
    each bit holds the coverage of the meshes drawn in that bit as if each were drawn alone.
    """

    samples: int = 0
    window: tuple | None = None
    read: str = "rgb"
    depth: bool = False
    union: bool = False
    order: list | None = None


def _linear_depth(d: np.ndarray, znear: float, zfar: float) -> np.ndarray:
    """Window depth (float32, 1 = far plane) -> z in metres, 0 where nothing was drawn.

    The same float32 operations, in the same order, as pyrender's ``Renderer._read_main_framebuffer``, so
    the values are bit-identical to pyrender's.
    """
    far = d == 1.0
    x = 2.0 * d - 1.0
    z = (2.0 * znear * zfar) / (zfar + znear - x * (zfar - znear))
    z[far] = 0.0
    return z


class _Targets:
    """The renderer's own offscreen framebuffers, in place of pyrender's main framebuffer.

    pyrender draws every forward pass into one 4x multisampled framebuffer of exactly the viewport's size
    (re-created whenever the viewport changes: every amodal window did), resolves it with a blit and reads
    back colour and depth, converting depth whether it is wanted or not. Here:

    * passes that need one sample per pixel (instance IDs, depth, silhouettes) draw into a single-sample
      framebuffer (colour RGBA8, depth 24 bit, as pyrender's), which only grows;
    * the lit RGB pass draws into a multisampled one when ``samples`` > 0 and is resolved into the first;
    * the scissor box limits clears, draws, resolves and reads to ``_Pass.window``;
    * only what ``_Pass`` asks for is read back.

    While a :class:`Renderer` holds its context, its pyrender renderer's ``_configure_forward_pass_viewport``
    and ``_read_main_framebuffer`` are replaced by :meth:`configure` and :meth:`read` (on that instance
    only; pyrender's shadow-map passes are untouched).
    """

    def __init__(self, impl):
        self.impl = impl
        self.pass_ = _Pass()
        self._fbs: dict[int, tuple] = {}  # samples -> (framebuffer, (colour, depth) renderbuffers, (w, h))

    def _framebuffer(self, samples: int, w: int, h: int) -> int:
        """The framebuffer with ``samples`` (0: single-sample) at least ``w`` x ``h`` (grown when needed)."""
        have = self._fbs.get(samples)
        if have is not None and have[2][0] >= w and have[2][1] >= h:
            return have[0]
        if have is not None:
            w, h = max(w, have[2][0]), max(h, have[2][1])
            self._delete(samples)
        rbs = glGenRenderbuffers(2)
        for rb, fmt in zip(rbs, (GL_RGBA8, GL_DEPTH_COMPONENT24)):
            glBindRenderbuffer(GL_RENDERBUFFER, rb)
            if samples:
                glRenderbufferStorageMultisample(GL_RENDERBUFFER, samples, fmt, w, h)
            else:
                glRenderbufferStorage(GL_RENDERBUFFER, fmt, w, h)
        fb = glGenFramebuffers(1)
        glBindFramebuffer(GL_FRAMEBUFFER, fb)
        glFramebufferRenderbuffer(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_RENDERBUFFER, rbs[0])
        glFramebufferRenderbuffer(GL_FRAMEBUFFER, GL_DEPTH_ATTACHMENT, GL_RENDERBUFFER, rbs[1])
        if glCheckFramebufferStatus(GL_FRAMEBUFFER) != GL_FRAMEBUFFER_COMPLETE:  # pragma: no cover - driver
            raise RuntimeError(f"cannot create a {w}x{h} framebuffer with {samples} samples")
        self._fbs[samples] = (fb, rbs, (w, h))
        return fb

    def _delete(self, samples: int) -> None:
        fb, rbs, _ = self._fbs.pop(samples)
        glDeleteFramebuffers(1, [fb])
        glDeleteRenderbuffers(2, list(rbs))

    def delete(self) -> None:
        """Free the framebuffers (the context must be current)."""
        for samples in list(self._fbs):
            self._delete(samples)

    def _scissor(self) -> tuple:
        """(x0, y0, x1, y1) of the pass in image rows from the top, and the same box in GL window coordinates."""
        vw, vh = self.impl.viewport_width, self.impl.viewport_height
        x0, y0, x1, y1 = self.pass_.window or (0, 0, vw, vh)
        return (x0, y0, x1, y1), (x0, vh - y1, x1 - x0, y1 - y0)

    def sorted_mesh_nodes(self, scene) -> list:
        """Replaces ``pyrender.Renderer._sorted_mesh_nodes``: the pass's ``order`` when it has one, else
        pyrender's (solid meshes far to near by node origin, then transparent ones far to near)."""
        if self.pass_.order is not None:
            return self.pass_.order
        return type(self.impl)._sorted_mesh_nodes(self.impl, scene)

    def configure(self, flags) -> None:
        """Replaces ``pyrender.Renderer._configure_forward_pass_viewport``: bind, scissor and set up depth."""
        p, impl = self.pass_, self.impl
        vw, vh = impl.viewport_width, impl.viewport_height
        glBindFramebuffer(GL_FRAMEBUFFER, self._framebuffer(p.samples, vw, vh))
        glViewport(0, 0, vw, vh)
        glEnable(GL_SCISSOR_TEST)
        glScissor(*self._scissor()[1])
        glEnable(GL_DEPTH_TEST)
        glDepthMask(GL_TRUE)
        glDepthFunc(GL_LESS)
        glDepthRange(0.0, 1.0)
        if p.union:  # depth cleared here: pyrender's clear cannot write it once the mask is off
            glClear(GL_DEPTH_BUFFER_BIT)
            glDepthMask(GL_FALSE)
            glEnable(GL_COLOR_LOGIC_OP)
            glLogicOp(GL_OR)

    def read(self, scene, flags):
        """Replaces ``pyrender.Renderer._read_main_framebuffer``: (colour, depth) of the pass window, rows from
        the top; colour (h, w, 3|4) uint8 or (h, w) uint32 (``read`` ids/bits), depth (h, w) float32 or None."""
        p = self.pass_
        try:
            (x0, y0, x1, y1), (gx, gy, w, h) = self._scissor()
            if p.samples:  # resolve (the scissor box limits the blit)
                ss = self._framebuffer(0, *self._fbs[p.samples][2])
                glBindFramebuffer(GL_READ_FRAMEBUFFER, self._fbs[p.samples][0])
                glBindFramebuffer(GL_DRAW_FRAMEBUFFER, ss)
                glBlitFramebuffer(gx, gy, gx + w, gy + h, gx, gy, gx + w, gy + h, GL_COLOR_BUFFER_BIT, GL_LINEAR)
                if p.depth:
                    glBlitFramebuffer(gx, gy, gx + w, gy + h, gx, gy, gx + w, gy + h, GL_DEPTH_BUFFER_BIT, GL_NEAREST)
            glBindFramebuffer(GL_READ_FRAMEBUFFER, self._fbs[0][0])
            glPixelStorei(GL_PACK_ALIGNMENT, 1)
            if p.read in ("ids", "bits"):
                color = np.frombuffer(glReadPixels(gx, gy, w, h, GL_RGBA, GL_UNSIGNED_BYTE), np.uint32).reshape(h, w)
                color = color[::-1] & np.uint32(0xFFFFFF) if p.read == "ids" else color[::-1]
            else:
                k = 4 if p.read == "rgba" else 3
                buf = glReadPixels(gx, gy, w, h, GL_RGBA if k == 4 else GL_RGB, GL_UNSIGNED_BYTE)
                color = np.frombuffer(buf, np.uint8).reshape(h, w, k)[::-1]
            depth = None
            if p.depth:
                d = np.frombuffer(glReadPixels(gx, gy, w, h, GL_DEPTH_COMPONENT, GL_FLOAT), np.float32)
                cam = scene.main_camera_node.camera
                depth = _linear_depth(d.reshape(h, w)[::-1].copy(), cam.znear, cam.zfar)
            return color, depth
        finally:
            glDisable(GL_SCISSOR_TEST)
            glDisable(GL_COLOR_LOGIC_OP)
            glDepthMask(GL_TRUE)


@contextlib.contextmanager
def _own_targets(targets: "_Targets"):
    """Within the block, ``targets.impl`` (a pyrender renderer) draws its forward passes into ``targets``."""
    impl = targets.impl
    impl._configure_forward_pass_viewport = targets.configure
    impl._read_main_framebuffer = targets.read
    impl._sorted_mesh_nodes = targets.sorted_mesh_nodes
    try:
        yield
    finally:
        del impl._configure_forward_pass_viewport, impl._read_main_framebuffer, impl._sorted_mesh_nodes


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
    return pyrender.IntrinsicsCamera(fx=K[0, 0], fy=K[1, 1], cx=K[0, 2] + 0.5 + du, cy=K[1, 2] + 0.5 + dv,
                                     znear=znear, zfar=zfar)


def _light_pose(direction: np.ndarray, position=None) -> np.ndarray:
    """Pose whose -z axis points along ``direction`` (pyrender lights shine down their -z), at ``position``."""
    z = -np.asarray(direction, dtype=np.float64)
    z /= np.linalg.norm(z)
    a = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(a, z)
    x /= np.linalg.norm(x)
    return make_pose(np.stack([x, np.cross(z, x), z], axis=1), np.zeros(3) if position is None else position)


# ---------------------------------------------------------------------------------------------- materials
def _is_identity_hsv(hsv) -> bool:
    return hsv is None or bool(np.array_equal(np.asarray(hsv, dtype=np.float64), _IDENTITY_HSV))


def _hsv_key(hsv) -> tuple:
    return tuple(float(x) for x in np.asarray(hsv, dtype=np.float64).round(12))


def _jitter(rgb: np.ndarray, hsv) -> np.ndarray:
    """``jitter_hsv`` of the RGB channels of ``rgb`` (..., 3 or 4), alpha kept; identity jitter returns it as is."""
    if _is_identity_hsv(hsv):
        return rgb
    out = np.array(rgb, copy=True)
    out[..., :3] = jitter_hsv(np.ascontiguousarray(rgb[..., :3]), np.asarray(hsv, dtype=np.float64))
    return out


def srgb_to_linear(c) -> np.ndarray:
    """sRGB values in [0, 1] (..., k) -> linear ones (IEC 61966-2-1 transfer function).

    Colours in gtforge (recipes, materials, skin and paint tables, vertex colours of files) are sRGB, as
    images are; glTF's ``baseColorFactor`` and pyrender's vertex colours (``color_0``, multiplied into the
    shaded linear colour of ``mesh.frag``) are linear, and the shader converts the result back with
    gamma 2.2. Textures are linearised by the shader itself.
    """
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_colors(colors) -> np.ndarray | None:
    """Vertex colours (n, 3|4), uint8 or float sRGB, as float32 linear RGB(A) for pyrender's ``color_0``."""
    if colors is None:
        return None
    c = np.asarray(colors)
    c = c / 255.0 if np.issubdtype(c.dtype, np.integer) else c.astype(np.float64)
    out = c.copy()
    out[..., :3] = srgb_to_linear(c[..., :3])
    return out.astype(np.float32)


def _pbr(base_color, metallic: float, roughness: float, texture=None, emissive=None,
         blend: bool = False) -> pyrender.MetallicRoughnessMaterial:
    """pyrender glTF material from an sRGB ``base_color`` (4,) (linearised, :func:`srgb_to_linear`);
    ``emissive`` (3,) is the emitted RGB (passed as its square root, see module doc)."""
    factor = np.array(base_color, dtype=np.float64)
    factor[:3] = srgb_to_linear(factor[:3])
    return pyrender.MetallicRoughnessMaterial(
        baseColorFactor=factor, metallicFactor=float(metallic),
        roughnessFactor=float(roughness), baseColorTexture=texture,
        emissiveFactor=None if emissive is None else np.sqrt(np.clip(np.asarray(emissive, np.float64), 0, None)),
        alphaMode="BLEND" if blend else None)


def _face_normals(tri: np.ndarray) -> np.ndarray:
    """Unit normals (m, 3) of triangles (m, 3, 3); zero for degenerate ones."""
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, norm, out=np.zeros_like(n), where=norm > 0)


def _flat_primitive(vertices: np.ndarray, faces: np.ndarray, material, texcoords=None, colors=None,
                    positions=None) -> pyrender.Primitive:
    """Flat-shaded primitive drawing ``vertices[faces]`` (as ``pyrender.Mesh.from_trimesh(smooth=False)``).

    ``texcoords`` (3m, 2) and ``colors`` (3m, 4) are per face corner; ``positions`` (3m, 3), when given,
    must equal ``vertices[faces]`` row for row (e.g. from ``box_uv``).
    """
    tri = np.asarray(vertices, dtype=np.float64)[faces]
    if positions is None:
        positions = tri.reshape(-1, 3)
    return pyrender.Primitive(positions=positions, normals=np.repeat(_face_normals(tri), 3, axis=0),
                              texcoord_0=texcoords, color_0=_linear_colors(colors), material=material,
                              mode=pyrender.GLTF.TRIANGLES)


def _smooth_primitive(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray,
                      roughness: float) -> pyrender.Primitive:
    """Smooth-shaded primitive with per-vertex colours (n, 4) uint8 (skin, forearms)."""
    tm = trimesh.Trimesh(vertices, faces, process=False)
    return pyrender.Primitive(positions=tm.vertices, normals=tm.vertex_normals, indices=tm.faces,
                              color_0=_linear_colors(colors), material=_pbr(np.ones(4), 0.0, roughness),
                              mode=pyrender.GLTF.TRIANGLES)


def _asset_uv(asset) -> np.ndarray | None:
    """The asset's per-vertex UVs (n, 2), or None."""
    v = asset.mesh.visual
    uv = getattr(v, "uv", None) if v.kind == "texture" else None
    if uv is None or len(uv) != len(asset.mesh.vertices):
        return None
    return np.asarray(uv, dtype=np.float64)


def _asset_image_and_factor(asset) -> tuple[np.ndarray, np.ndarray]:
    """Texture image (H, W, 3|4) uint8 and colour factor (4,) in [0, 1] of a textured asset (MTL or glTF)."""
    m = asset.mesh.visual.material
    img = getattr(m, "image", None)
    factor = getattr(m, "diffuse", None)
    if img is None:
        img, factor = getattr(m, "baseColorTexture", None), getattr(m, "baseColorFactor", None)
    alpha = "A" in img.mode or "transparency" in img.info
    img = np.asarray(img.convert("RGBA" if alpha else "RGB"))
    if factor is None:
        return img, np.ones(4)
    factor = np.asarray(factor)
    factor = factor / 255.0 if np.issubdtype(factor.dtype, np.integer) else factor.astype(np.float64)
    return img, np.append(factor, 1.0)[:4] if factor.size == 3 else factor


def _plain_asset_color(asset) -> np.ndarray | None:
    """(4,) RGBA in [0, 1]: the URDF colour, else the mesh material's main colour, else None."""
    if asset.base_color is not None:
        return np.asarray(asset.base_color, dtype=np.float64)
    mc = getattr(getattr(asset.mesh.visual, "material", None), "main_color", None)
    return None if mc is None else np.asarray(mc, dtype=np.float64) / 255.0


def _plain_surface_color(color, hsv) -> np.ndarray:
    """(4,) RGBA: a floor's or wall's plain ``color`` (3,) with ``hsv`` jitter (their ``asset`` mode)."""
    return np.append(_jitter(np.asarray(color, np.float64), hsv), 1.0)


def _shadow_flag(light) -> int:
    """The pyrender render flag that makes lights of ``light``'s kind sample shadow maps (0 for point lights)."""
    if isinstance(light, pyrender.DirectionalLight):
        return pyrender.RenderFlags.SHADOWS_DIRECTIONAL
    return pyrender.RenderFlags.SHADOWS_SPOT if isinstance(light, pyrender.SpotLight) else 0


def _part_material(look) -> pyrender.MetallicRoughnessMaterial:
    return _pbr(look.base_color, look.metallic, look.roughness, emissive=look.emissive)


#: pyrender's shadow filter in ``shaders/mesh.frag``: 3 x 3 percentage-closer filtering of bilinearly
#: interpolated 2 x 2 depth comparisons, 36 shadow-map reads per light and pixel.
_PCF_3X3 = re.compile(r"(float PCF\(sampler2D depths, vec2 size, vec2 uv, float compare\)\s*\{).*?(return result/9\.0;\s*\})",
                      re.S)


def _shadow_shader_dir() -> str | None:
    """A copy of pyrender's installed shader folder whose shadow filter reads 4 texels instead of 36.

    The shadow maps here are fitted to each view (:func:`_shadow_maps`), so one bilinearly filtered 2 x 2
    comparison (pyrender's own ``texture2DShadowLerp``) already gives edges one texel soft; pyrender's
    3 x 3 filter of those made shadows cost about 0.4 s per light and 640 x 480 view on llvmpipe. The
    copy is made once per pyrender version under :func:`core.files.cache_dir`;
    returns None (pyrender's shaders are used unchanged) when its ``mesh.frag`` has another filter.
    """
    src = Path(pyrender.__file__).parent / "shaders"
    frag = (src / "mesh.frag").read_text()
    if os.environ.get("GTFORGE_PYRENDER_PCF") or not _PCF_3X3.search(frag):
        return None
    patched = _PCF_3X3.sub(lambda m: "float PCF(sampler2D depths, vec2 size, vec2 uv, float compare) {\n"
                           "    return texture2DShadowLerp(depths, size, uv, compare);\n}", frag, count=1)
    digest = hashlib.sha256(patched.encode()).hexdigest()[:16]
    out = cache_dir() / f"shaders-{digest}"
    if not (out / "mesh.frag").is_file():
        tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        (tmp / "mesh.frag").write_text(patched)
        try:
            os.replace(tmp, out)
        except OSError:  # another process made it first
            shutil.rmtree(tmp, ignore_errors=True)
    return str(out)


class Renderer:
    """The process's renderer. Create once, call :meth:`set_scene` per scene and :meth:`render_view` per view.

    Parameters
    ----------
    library : AssetLibrary
        Source of the meshes named by ``ObjectInstance.obj_id``.
    width, height : int
        Image size in pixels (the amodal canvas is 3x each).
    distractors : AssetLibrary or None
        Source of the meshes of ``SceneDescription.distractors``.

    Raises
    ------
    RuntimeError
        If no EGL context can be created (message says what to install).
    """

    def __init__(self, library: AssetLibrary, width: int, height: int, distractors: AssetLibrary | None = None):
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
        self._r._platform.make_current()
        # pyrender uploads textures with GL's default row alignment of 4 bytes: an RGB image whose rows are not
        # a multiple of 4 bytes long (chelsea.png, 451 px; pybullet's tray.jpg, 299 px) was sheared and read
        # past its buffer's end (texels differing from run to run). Rows are tightly packed in numpy.
        glPixelStorei(GL_UNPACK_ALIGNMENT, 1)
        shaders = _shadow_shader_dir()
        if shaders is not None:
            self._r._renderer._program_cache = ShaderProgramCache(shader_dir=shaders)
        self._scene = _ordered_scene(pyrender.Scene(bg_color=[0, 0, 0, 1], ambient_light=[0.3, 0.3, 0.3]))
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
        self._mesh_cache: dict[tuple, pyrender.Mesh] = {}  # (library tag, obj_id) -> mesh in the asset's look
        self._image_cache: OrderedDict = OrderedDict()  # (key, hsv) -> jittered texture image
        self._scene_textures: dict = {}  # (key, hsv) -> pyrender.Texture shared within one scene
        self._light_matrices: dict = {}  # light node -> (V, P) of its shadow camera, fitted per scene or view
        self._current_maps: set = set()  # light nodes whose shadow map holds _light_matrices' frustum
        self._shadow_scope: str | None = None  # "scene" or "view" (SHADOW_FIT); None until a lit view decides
        self._light_nodes: list = []
        self._caster_pts = np.zeros((0, 3))  # world box corners of objects, hands, distractors
        self._wall_pts = np.zeros((0, 3))  # world corners of the walls
        self._casting: set = set()
        self._shadow_flags = 0
        self._backdrop_cache: dict = {}
        self._targets = _Targets(self._r._renderer)
        self._in_drawing = False
        self.description: SceneDescription | None = None
        #: seconds spent in each pass by the last :meth:`render_view` call
        self.last_timings: dict[str, float] = {}

    # ------------------------------------------------------------------ textures
    def _cached_image(self, key: tuple, make) -> np.ndarray:
        """``make()`` (an image), remembered under ``key`` in an LRU of 64 images (hsv jitter is slow)."""
        if key in self._image_cache:
            self._image_cache.move_to_end(key)
            return self._image_cache[key]
        img = self._image_cache[key] = make()
        while len(self._image_cache) > 64:
            self._image_cache.popitem(last=False)
        return img

    def _image(self, key: str, hsv) -> np.ndarray:
        """``load_texture(key)`` with ``hsv`` jitter, (H, W, 3) uint8."""
        return self._cached_image(("texture", key, _hsv_key(hsv)), lambda: _jitter(load_texture(key), hsv))

    def _texture(self, image: np.ndarray, key=None) -> pyrender.Texture:
        """A repeating, mipmapped pyrender texture of ``image``; shared within the scene when ``key`` is given."""
        if key is not None and key in self._scene_textures:
            return self._scene_textures[key]
        tex = pyrender.Texture(source=image, source_channels="RGBA" if image.shape[-1] == 4 else "RGB",
                               sampler=pyrender.Sampler(wrapS=pyrender.GLTF.REPEAT, wrapT=pyrender.GLTF.REPEAT))
        if key is not None:
            self._scene_textures[key] = tex
        return tex

    def _material_texture(self, material: Material) -> pyrender.Texture:
        if material.texture is None:
            raise ValueError("Material in 'texture' mode without a texture")
        key = (material.texture.key, _hsv_key(material.hsv))
        return self._texture(self._image(material.texture.key, material.hsv), key)

    # ------------------------------------------------------------------ meshes
    def _surface(self, asset, faces_sel: np.ndarray, material: Material, look=None) -> pyrender.Primitive:
        """One primitive: the asset's faces ``faces_sel`` (indices) in ``material``.

        ``look`` is the part's ``PartLook`` (multi-part bodies): the asset look of the part in ``asset`` mode.
        """
        V = np.asarray(asset.mesh.vertices, dtype=np.float64)
        F = np.asarray(asset.mesh.faces, dtype=np.int64)[faces_sel]
        mode = material.mode
        if mode == "color":
            return _flat_primitive(V, F, _pbr(material.base_color, material.metallic, material.roughness))
        if mode == "texture":
            tex = self._material_texture(material)
            mat = _pbr(material.base_color, material.metallic, material.roughness, texture=tex)
            uv = _asset_uv(asset) if material.projection == "auto" else None
            if uv is not None:
                return _flat_primitive(V, F, mat, texcoords=uv[F].reshape(-1, 2))
            v3, f3, uv3 = box_uv(V, F, material.tile)
            return _flat_primitive(V, F, mat, texcoords=np.asarray(uv3)[f3].reshape(-1, 2),
                                   positions=np.asarray(v3)[f3].reshape(-1, 3))
        if mode != "asset":
            raise ValueError(f"unknown material mode {mode!r}")
        hsv, met, rough = material.hsv, material.metallic, material.roughness
        if look is not None:
            return _flat_primitive(V, F, _pbr(_jitter(np.asarray(look.base_color, np.float64), hsv), met, rough,
                                              emissive=look.emissive))
        vis = asset.mesh.visual
        if asset.has_texture and _asset_uv(asset) is not None:
            img, factor = _asset_image_and_factor(asset)
            key = ("asset", asset.source, asset.class_name, _hsv_key(hsv))
            tex = self._texture(self._cached_image(key, lambda: _jitter(img, hsv)), key)
            mat = _pbr(factor, met, rough, texture=tex, blend=img.shape[-1] == 4)
            return _flat_primitive(V, F, mat, texcoords=_asset_uv(asset)[F].reshape(-1, 2))
        if vis.kind in ("vertex", "face"):
            if vis.kind == "vertex":
                colors = _jitter(np.asarray(vis.vertex_colors, dtype=np.uint8), hsv)[F].reshape(-1, 4)
            else:
                fc = _jitter(np.asarray(vis.face_colors, dtype=np.uint8), hsv)[faces_sel]
                colors = np.repeat(fc, 3, axis=0)
            return _flat_primitive(V, F, _pbr(np.ones(4), met, rough, blend=bool((colors[:, 3] < 255).any())),
                                   colors=colors)
        rgba = _plain_asset_color(asset)
        rgba = np.asarray(material.base_color, np.float64) if rgba is None else rgba
        return _flat_primitive(V, F, _pbr(_jitter(rgba, hsv), met, rough))

    def _instance_mesh(self, library, tag: str, obj_id: int, material: Material | None) -> pyrender.Mesh:
        """The pyrender mesh of model ``obj_id`` of ``library`` in ``material`` (cached when None)."""
        if material is None and (tag, obj_id) in self._mesh_cache:
            return self._mesh_cache[(tag, obj_id)]
        asset = library.get(obj_id)
        if asset.face_parts is not None:
            V, F = np.asarray(asset.mesh.vertices, np.float64), np.asarray(asset.mesh.faces, np.int64)
            prims = []
            for k, look in enumerate(asset.parts):
                sel = np.flatnonzero(np.asarray(asset.face_parts) == k)
                if sel.size == 0:
                    continue
                if look.role == "body" and material is not None:
                    prims.append(self._surface(asset, sel, material, look))
                else:
                    prims.append(_flat_primitive(V, F[sel], _part_material(look)))
            mesh = pyrender.Mesh(primitives=prims)
        elif material is not None:
            mesh = pyrender.Mesh(primitives=[self._surface(asset, np.arange(len(asset.mesh.faces)), material)])
        elif asset.has_texture:
            mesh = pyrender.Mesh.from_trimesh(asset.mesh, smooth=False)
        elif asset.mesh.visual.kind in ("vertex", "face"):  # colours linearised like every other sRGB colour
            own = Material(mode="asset", base_color=np.ones(4), metallic=0.0, roughness=0.7)
            mesh = pyrender.Mesh(primitives=[self._surface(asset, np.arange(len(asset.mesh.faces)), own)])
        else:
            rgba = _plain_asset_color(asset)
            rgba = np.array([0.7, 0.7, 0.7, 1.0]) if rgba is None else rgba
            plain = trimesh.Trimesh(asset.mesh.vertices, asset.mesh.faces, process=False)
            mesh = pyrender.Mesh.from_trimesh(plain, material=_pbr(rgba, 0.0, 0.7), smooth=False)
        if material is None:
            self._mesh_cache[(tag, obj_id)] = mesh
        return mesh

    def _floor_mesh(self, floor) -> pyrender.Mesh:
        s = floor.size / 2.0
        v = np.array([[-s, -s, 0.0], [s, -s, 0.0], [s, s, 0.0], [-s, s, 0.0]])
        f = np.array([[0, 1, 2], [0, 2, 3]])
        m = floor.material
        if m is None:
            mat = _pbr(np.append(floor.color, 1.0), 0.0, 0.9)
            return pyrender.Mesh.from_trimesh(trimesh.Trimesh(v, f, process=False), material=mat, smooth=False)
        if m.mode == "texture":
            mat = _pbr(m.base_color, m.metallic, m.roughness, texture=self._material_texture(m))
            uv = (v[:, :2] / m.tile)[f].reshape(-1, 2)  # world (x, y) / tile
            return pyrender.Mesh(primitives=[_flat_primitive(v, f, mat, texcoords=uv)])
        rgba = m.base_color if m.mode == "color" else _plain_surface_color(floor.color, m.hsv)
        return pyrender.Mesh(primitives=[_flat_primitive(v, f, _pbr(rgba, m.metallic, m.roughness))])

    def _wall_mesh(self, box) -> pyrender.Mesh:
        tm = trimesh.creation.box(extents=box.extents)
        m = box.material
        if m is None:
            mat = _pbr(np.append(box.color, 1.0), 0.0, 0.8)
            return pyrender.Mesh.from_trimesh(tm, material=mat, smooth=False)
        V, F = np.asarray(tm.vertices), np.asarray(tm.faces)
        if m.mode == "texture":
            mat = _pbr(m.base_color, m.metallic, m.roughness, texture=self._material_texture(m))
            v3, f3, uv3 = box_uv(V, F, m.tile)
            return pyrender.Mesh(primitives=[_flat_primitive(V, F, mat, texcoords=np.asarray(uv3)[f3].reshape(-1, 2),
                                                             positions=np.asarray(v3)[f3].reshape(-1, 3))])
        rgba = m.base_color if m.mode == "color" else _plain_surface_color(box.color, m.hsv)
        return pyrender.Mesh(primitives=[_flat_primitive(V, F, _pbr(rgba, m.metallic, m.roughness))])

    def _hand_mesh(self, h) -> pyrender.Mesh:
        """The hand (plain ``color`` or smooth ``vertex_colors``) and its forearm as one mesh (one node, one id)."""
        if h.vertex_colors is None:
            mat = _pbr(np.append(h.color, 1.0), 0.0, 0.55)
            tm = trimesh.Trimesh(h.vertices, h.faces, process=False)
            prims = list(pyrender.Mesh.from_trimesh(tm, material=mat, smooth=True).primitives)
        else:
            prims = [_smooth_primitive(h.vertices, h.faces, h.vertex_colors, 0.55)]
        if h.forearm is not None:
            fa = h.forearm
            prims.append(_smooth_primitive(fa.vertices, fa.faces, fa.vertex_colors, 0.8 if fa.sleeve else 0.55))
        return pyrender.Mesh(primitives=prims)

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
                size = (DIRECTIONAL_SHADOW_MAP_SIZE if isinstance(node.light, pyrender.DirectionalLight)
                        else SHADOW_MAP_SIZE)
                node.light.shadow_texture = pyrender.Texture(
                    width=size, height=size, source_channels="D", data_format=GL_FLOAT,
                    sampler=pyrender.Sampler(wrapS=GL_CLAMP_TO_BORDER, wrapT=GL_CLAMP_TO_BORDER))

    def _light_node(self, light: Light, casts: bool) -> pyrender.Node:
        """Add one light (module doc: point lights that cast shadows become wide spot lights); returns its node."""
        kind = light.kind
        color, intensity = np.asarray(light.color, np.float64), float(light.intensity)
        if kind == "directional":
            pl, pose = pyrender.DirectionalLight(color=color, intensity=intensity), _light_pose(light.direction)
        elif kind in ("point", "spot"):
            if light.position is None:
                raise ValueError(f"{kind} light without a position")
            pose = _light_pose(light.direction, np.asarray(light.position, np.float64))
            if kind == "spot":
                pl = pyrender.SpotLight(color=color, intensity=intensity, innerConeAngle=float(light.inner_cone),
                                        outerConeAngle=float(light.outer_cone))
            elif casts:  # pyrender cannot shadow point lights: a wide spot aimed at the scene (module doc)
                pl = pyrender.SpotLight(color=color, intensity=intensity, innerConeAngle=POINT_SHADOW_CONE,
                                        outerConeAngle=POINT_SHADOW_CONE)
            else:
                pl = pyrender.PointLight(color=color, intensity=intensity)
        else:
            raise ValueError(f"unknown light kind {kind!r}")
        return self._scene.add(pl, pose=pose)

    def _fit_shadow_frusta(self, receivers: np.ndarray | None, casters: np.ndarray | None = None) -> None:
        """Fit the shadow frustum of every directional and spot light to ``receivers`` (module doc), in place.

        ``receivers`` (3, n) are the world points the view sees (from its depth pass, :func:`_view_receivers`).
        None: the box corners ``casters`` (k, 3) (default: objects, hands and distractors, as AR scenes, whose
        shadow catcher is not in the depth pass, use) and their shadows on the plane z = 0. No frustum is fitted
        when there is nothing to receive a shadow. The maps drawn for earlier frusta are no longer current.
        """
        self._light_matrices.clear()
        self._current_maps.clear()
        if casters is None:
            casters = self._caster_pts
        if receivers is not None and not receivers.shape[1] or receivers is None and not len(casters):
            return
        occluders = np.vstack([self._caster_pts, self._wall_pts])
        for node in self._light_nodes:
            pose = self._scene.get_pose(node)
            if isinstance(node.light, pyrender.DirectionalLight):
                pts = receivers
                if pts is None:
                    pts = np.vstack([casters, _on_floor_along(casters, -pose[:3, 2])]).T
                self._light_matrices[node] = _directional_frustum(pose, pts, occluders)
            elif isinstance(node.light, pyrender.SpotLight):
                pts = receivers
                if pts is None:
                    pts = np.vstack([casters, _on_floor_from(casters, pose[:3, 3])]).T
                self._light_matrices[node] = _spot_frustum(pose, node.light.outerConeAngle, pts, occluders)

    def _fit_scene_frusta(self) -> bool:
        """Fit the frusta once for every view of a (non-AR) scene, if they come out compact; True if so.

        A surface is in shadow only where a caster lies between it and the light, so the casters' box corners
        (objects, hands, distractors and walls) with their shadows on the floor z = 0 bound every shadow any
        view can see; outside the frusta fitted to them the maps clamp to depth 1 (lit). The maps are then
        drawn once per scene and kept for its views (:func:`_shadow_maps`' ``current``) instead of once per
        view. Used when every directional frustum is at most :data:`SCENE_SHADOW_MAX_HALF_WIDTH` across
        (half-width) and every spot frustum's half field at most :data:`SCENE_SHADOW_MAX_HALF_ANGLE`, so the
        texels stay as fine as a view's fit: a bin of objects, not a room whose walls would spread the map
        over metres (False: frusta cleared; the caller fits them per view).
        """
        self._fit_shadow_frusta(None, np.vstack([self._caster_pts, self._wall_pts]))
        for node, (_V, P) in self._light_matrices.items():
            if isinstance(node.light, pyrender.DirectionalLight):
                compact = 1.0 / min(P[0, 0], P[1, 1]) <= SCENE_SHADOW_MAX_HALF_WIDTH
            else:
                compact = math.atan(1.0 / P[1, 1]) <= SCENE_SHADOW_MAX_HALF_ANGLE
            if not compact:
                self._light_matrices.clear()
                return False
        return True

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
        self._scene_textures, self._backdrop_cache = {}, {}
        self._scene.bg_color = np.append(scene.background_color, 1.0)
        self._scene.ambient_light = np.full(3, scene.ambient)
        for o in scene.objects:
            if not 1 <= o.inst_id <= MAX_INSTANCE_ID or o.inst_id in self._obj_nodes:
                raise ValueError(f"inst_id {o.inst_id} outside [1, {MAX_INSTANCE_ID}] or used twice")
            node = self._scene.add(self._instance_mesh(self.library, "o", o.obj_id, o.material), pose=o.world_T_model)
            self._obj_nodes[o.inst_id] = node
            self._scene_nodes.append(node)
            lo, hi = self.library.get(o.obj_id).mesh.bounds
            self._corners[o.inst_id] = transform_points(o.world_T_model, box_corners(lo, hi))
        for h in scene.hands:
            if not 1 <= h.inst_id <= MAX_INSTANCE_ID or h.inst_id in self._obj_nodes:
                raise ValueError(f"hand inst_id {h.inst_id} invalid or used twice")
            node = self._scene.add(self._hand_mesh(h), pose=np.eye(4))
            self._obj_nodes[h.inst_id] = node
            self._scene_nodes.append(node)
            verts = h.vertices if h.forearm is None else np.vstack([h.vertices, h.forearm.vertices])
            self._corners[h.inst_id] = box_corners(verts.min(axis=0), verts.max(axis=0))
        for d in scene.distractors:
            mesh = self._instance_mesh(self.distractor_library, "d", d.obj_id, d.material)
            node = self._scene.add(mesh, pose=d.world_T_model)
            self._distractor_nodes.append(node)
            self._scene_nodes.append(node)
            lo, hi = self.distractor_library.get(d.obj_id).mesh.bounds
            self._distractor_corners.append(transform_points(d.world_T_model, box_corners(lo, hi)))
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
        wall_corners = []
        for w in scene.walls:
            self._static_nodes.append(self._scene.add(self._wall_mesh(w), pose=w.world_T_box))
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
        fitted shadow frusta and draws into :class:`_Targets`."""
        if self._in_drawing:
            yield
            return
        self._in_drawing = True
        try:
            with _both_faces(), _shadow_maps(self._r._renderer, self._light_matrices, self._casting,
                                             self._current_maps), \
                    _own_targets(self._targets):
                self._r._platform.make_current()
                glDisable(GL_CULL_FACE)
                yield
        finally:
            self._in_drawing = False

    def _draw(self, flags, seg_node_map=None, **pass_kw):
        """One pyrender pass of the scene into :class:`_Targets` as ``_Pass(**pass_kw)`` says; (colour, depth)."""
        self._targets.pass_ = _Pass(**pass_kw)
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
                self._fit_shadow_frusta(None)
            rgba, shadow = self._ar_layers()
        elif rgb:
            if self._shadow_flags:
                if self._shadow_scope is None:  # the scene's first lit view decides
                    self._shadow_scope = "scene" if SHADOW_FIT == "scene" and self._fit_scene_frusta() else "view"
                if self._shadow_scope == "view":
                    self._fit_shadow_frusta(_view_receivers(depth, view))
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
            back = self._backdrop_pixels(backdrop, view, v, u)
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

    def _backdrop_pixels(self, backdrop: Backdrop, view: View, v: np.ndarray, u: np.ndarray) -> np.ndarray:
        """(k, 3) float32 in 0..255: the backdrop as seen from ``view`` at image pixels (row ``v``, column ``u``)."""
        W, H = self.width, self.height
        if backdrop.kind == "color":
            return np.broadcast_to(np.asarray(backdrop.color, np.float32) * 255.0, (len(v), 3))
        if backdrop.kind == "sky":
            zenith = backdrop.zenith if backdrop.zenith is not None else backdrop.color
            return _sky_colors(backdrop.color, zenith, view.K, view.world_T_cam, u, v) * 255.0
        if backdrop.kind == "photo":
            if backdrop.photo is None:
                raise ValueError("photo backdrop without a photo")
            ck = (backdrop.photo.key, tuple(np.asarray(backdrop.crop, np.float64)), W, H)
            if ck not in self._backdrop_cache:
                self._backdrop_cache[ck] = photo_backdrop(load_texture(backdrop.photo.key, max_size=max(1024, W, H)),
                                                          backdrop.crop, W, H).astype(np.float32)
            return self._backdrop_cache[ck][v, u]
        raise ValueError(f"unknown backdrop kind {backdrop.kind!r}")

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
            self._r._platform.make_current()
            self._targets.delete()
            self._r.delete()
            self._r = None


# ---------------------------------------------------------------------------------------------- anti-aliasing
#: :func:`surface_edges`: a second difference of inverse depth above this fraction of it marks a crease or step.
EDGE_CREASE = 0.002
#: :func:`edge_antialias` leaves a pixel alone when the luma range of it and its diagonal neighbours is below
#: max(``_FXAA_RANGE_MIN``, ``_FXAA_RANGE`` x the largest luma) (FXAA's ``EDGE_THRESHOLD_MIN`` / ``EDGE_THRESHOLD``).
_FXAA_RANGE_MIN, _FXAA_RANGE = 1.0 / 32.0, 1.0 / 16.0
#: FXAA's ``SPAN_MAX`` (pixels), ``REDUCE_MUL`` and ``REDUCE_MIN``.
_FXAA_SPAN_MAX, _FXAA_REDUCE_MUL, _FXAA_REDUCE_MIN = 8.0, 1.0 / 8.0, 1.0 / 128.0
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def surface_edges(ids: np.ndarray, depth: np.ndarray, crease: float = EDGE_CREASE) -> np.ndarray:
    """Pixels on either side of a boundary between surfaces, from a view's ID + depth pass.

    Parameters
    ----------
    ids : (H, W) int
        Instance ids (0 for floor, walls, distractors, background).
    depth : (H, W) float
        z, metres; 0 where nothing was hit.
    crease : float
        Threshold of the second difference of inverse depth, as a fraction of the inverse depth.

    Returns
    -------
    (H, W) bool
        True where a 4-neighbour has another id, where geometry meets the background (depth 0 next to
        depth > 0: both pixels), and where inverse depth kinks along x or y: over a plane 1/z is an affine
        function of the pixel coordinates, so its second difference vanishes there (up to the depth buffer's
        24-bit steps) and exceeds ``crease`` x 1/z across a depth step or a crease between faces.
    """
    hit = depth > 0
    w = np.zeros(depth.shape, np.float32)
    np.divide(1.0, depth, out=w, where=hit)
    edge = np.zeros(depth.shape, bool)
    dx = (ids[:, 1:] != ids[:, :-1]) | (hit[:, 1:] != hit[:, :-1])
    dy = (ids[1:] != ids[:-1]) | (hit[1:] != hit[:-1])
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:] |= dy
    edge[:-1] |= dy
    edge[:, 1:-1] |= np.abs(w[:, 2:] - 2 * w[:, 1:-1] + w[:, :-2]) > crease * w[:, 1:-1]
    edge[1:-1] |= np.abs(w[2:] - 2 * w[1:-1] + w[:-2]) > crease * w[1:-1]
    return edge


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(k, 3) bilinear samples of ``img`` (H, W, 3) float32 at pixel coordinates (x, y) (k,) (pixel centres at
    integers, clamped to the image)."""
    H, W = img.shape[:2]
    x = np.clip(x, 0, W - 1)
    y = np.clip(y, 0, H - 1)
    x0 = np.minimum(x.astype(np.int64), W - 2)
    y0 = np.minimum(y.astype(np.int64), H - 2)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    flat, i = img.reshape(-1, img.shape[2]), y0 * W + x0
    top = flat[i] * (1 - fx) + flat[i + 1] * fx
    bottom = flat[i + W] * (1 - fx) + flat[i + W + 1] * fx
    return top * (1 - fy) + bottom * fy


def edge_antialias(rgb: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Anti-alias an image at the pixels ``edges`` marks: FXAA's directional blend, nowhere else.

    Parameters
    ----------
    rgb : (H, W, 3) uint8
        Rendered with one sample per pixel (sRGB).
    edges : (H, W) bool
        Pixels to treat (:func:`surface_edges`); every other pixel is returned unchanged, so textures and
        shading away from geometric edges keep their sharpness (as with MSAA, which only resolves coverage).

    Returns
    -------
    (H, W, 3) uint8

    Method: the console variant of FXAA (T. Lottes, "FXAA", NVIDIA white paper, 2009; FXAA 3.11
    ``FxaaPixelShader`` for consoles): luma of the pixel and its four diagonal neighbours; pixels whose luma
    range is below max(1/32, max luma / 16) are left alone; the edge direction is the luma gradient turned by
    90 degrees, scaled so its shorter component is about one pixel and clamped to 8 pixels; the result is the
    mean of 4 bilinear taps along it at -1/2, -1/6, 1/6, 1/2 of that span, or of the inner two when the four-tap
    mean leaves the neighbourhood's luma range.
    """
    H, W = edges.shape
    idx = np.flatnonzero(edges)
    out = np.array(rgb, copy=True)
    if not idx.size or H < 2 or W < 2:
        return out
    img = rgb.astype(np.float32) * np.float32(1.0 / 255.0)
    luma = np.pad(img @ _LUMA, 1, mode="edge")
    y, x = np.divmod(idx, W)
    nw, ne, sw, se, m = luma[y, x], luma[y, x + 2], luma[y + 2, x], luma[y + 2, x + 2], luma[y + 1, x + 1]
    lo = np.minimum(np.minimum(nw, ne), np.minimum(np.minimum(sw, se), m))
    hi = np.maximum(np.maximum(nw, ne), np.maximum(np.maximum(sw, se), m))
    keep = hi - lo >= np.maximum(_FXAA_RANGE_MIN, hi * _FXAA_RANGE)
    idx, x, y, nw, ne, sw, se, lo, hi = (a[keep] for a in (idx, x, y, nw, ne, sw, se, lo, hi))
    if not idx.size:
        return out
    dx, dy = -((nw + ne) - (sw + se)), (nw + sw) - (ne + se)
    reduce = np.maximum((nw + ne + sw + se) * (0.25 * _FXAA_REDUCE_MUL), _FXAA_REDUCE_MIN)
    scale = 1.0 / (np.minimum(np.abs(dx), np.abs(dy)) + reduce)
    dx = np.clip(dx * scale, -_FXAA_SPAN_MAX, _FXAA_SPAN_MAX)
    dy = np.clip(dy * scale, -_FXAA_SPAN_MAX, _FXAA_SPAN_MAX)
    xf, yf = x.astype(np.float32), y.astype(np.float32)

    def tap(t):
        return _bilinear(img, xf + dx * np.float32(t), yf + dy * np.float32(t))

    inner = 0.5 * (tap(-1.0 / 6.0) + tap(1.0 / 6.0))
    outer = 0.5 * inner + 0.25 * (tap(-0.5) + tap(0.5))
    lum = outer @ _LUMA
    res = np.where(((lum < lo) | (lum > hi))[:, None], inner, outer)
    out.reshape(-1, 3)[idx] = np.clip(np.rint(res * 255.0), 0, 255).astype(np.uint8)
    return out


# ---------------------------------------------------------------------------------------------- shadow frusta
def _on_floor_along(points: np.ndarray, direction: np.ndarray, max_length: float = 10.0) -> np.ndarray:
    """``points`` (k, 3) moved along ``direction`` (3,) down to the floor plane z = 0 (at most ``max_length`` m)."""
    if direction[2] >= -1e-6:
        return points
    t = np.clip(points[:, 2], 0.0, None) / -direction[2]
    return points + np.minimum(t, max_length)[:, None] * direction


def _on_floor_from(points: np.ndarray, source: np.ndarray, max_length: float = 10.0) -> np.ndarray:
    """``points`` (k, 3) pushed away from ``source`` (3,) along its rays down to the plane z = 0 (at most
    ``max_length`` m beyond each point)."""
    d = points - source
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    down = d[:, 2] < -1e-6
    t = np.zeros(len(points))
    t[down] = np.clip(points[down, 2], 0.0, None) / -d[down, 2]
    return points + np.minimum(t, max_length)[:, None] * d


def _view_receivers(depth: np.ndarray, view: View) -> np.ndarray:
    """World points (3, n) float64, metres, of the pixels a view's depth pass hit (depth > 0), one per column.

    The camera-frame points are :func:`gtforge.core.geometry.backproject`'s; kept as rows (x, y, z) so that the
    frustum fits below reduce contiguous rows.
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


def _directional_frustum(light_pose: np.ndarray, receivers: np.ndarray, occluders: np.ndarray):
    """(V, P) of an orthographic shadow camera along a directional light, fitted to what must be shadowed.

    Parameters
    ----------
    light_pose : (4, 4) float64
        The light node's pose; it shines along its -z axis.
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
    R = np.ascontiguousarray(light_pose[:3, :3])  # a strided view would make numpy's matmul 10x slower
    q = R.T @ receivers  # light-frame coordinates (x, y across the light; z towards it), (3, n)
    lo, hi = q.min(axis=1), q.max(axis=1)
    z_top = max(float(hi[2]), float((occluders @ R)[:, 2].max()) if len(occluders) else -np.inf)
    depth = z_top - float(lo[2])
    margin_z = 0.02 * depth + 0.01
    half = (hi[:2] - lo[:2]) / 2 * 1.02 + 0.005
    centre = (hi[:2] + lo[:2]) / 2
    pose = make_pose(R, R @ np.array([centre[0], centre[1], z_top + margin_z]))
    zfar = max(depth + 2 * margin_z, _SHADOW_DEPTH_PER_HALF_WIDTH * float(half.max()))
    cam = pyrender.OrthographicCamera(xmag=half[0], ymag=half[1], znear=margin_z / 2, zfar=zfar)
    return np.linalg.inv(pose), cam.get_projection_matrix()


def _spot_frustum(light_pose: np.ndarray, outer_cone: float, receivers: np.ndarray, occluders: np.ndarray):
    """(V, P) of a perspective shadow camera at a spot light, fitted to the receivers it lights.

    Parameters
    ----------
    light_pose : (4, 4) float64
        The light node's pose (position; it shines along its -z axis).
    outer_cone : float
        The spot's outer cone half-angle, radians: receivers outside it are not lit, so need no shadow.
    receivers, occluders : (3, n), (k, 3) float64
        As :func:`_directional_frustum`.

    The camera looks at the mean direction of the lit receivers with a square field of view just covering
    them (plus 2 deg, at most 2 x 85 deg, else the spot's cone about its axis). Its near plane lies at half
    the depth of the nearest lit receiver or occluder corner inside the field, and at most 1 / (10 tan(half
    field)) m: the depth bias of pyrender's shader is about 1e-4 to 1e-3 x depth / near, which must exceed the
    depth change over its PCF kernel, 10 x tan(half field) x depth / 1024 (no acne). Far plane: twice the
    farthest lit receiver, at least 10 m.
    """
    L, a0 = light_pose[:3, 3].copy(), -light_pose[:3, 2]
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
    cam = pyrender.PerspectiveCamera(yfov=2 * half, aspectRatio=1.0, znear=znear, zfar=zfar)
    return np.linalg.inv(_light_pose(axis, L)), cam.get_projection_matrix()


# ---------------------------------------------------------------------------------------------- backdrops
def sky_image(horizon, zenith, K: np.ndarray, world_T_cam: np.ndarray, width: int, height: int) -> np.ndarray:
    """Sky backdrop: per-pixel blend of the horizon and zenith colours by the elevation of the viewing ray.

    Parameters
    ----------
    horizon, zenith : (3,) float
        RGB in [0, 1].
    K : (3, 3) float64
        Intrinsics, pixels (OpenCV: pixel centres at integer coordinates).
    world_T_cam : (4, 4) float64
        OpenCV camera pose in the world (+z up), metres.
    width, height : int

    Returns
    -------
    (height, width, 3) float32
        RGB in [0, 1]: ``(1 - t) horizon + t zenith`` with ``t = sqrt(clip(sin(elevation), 0, 1))``, the
        elevation of the ray through each pixel centre above the world's horizontal plane (so below
        the horizon, the horizon colour). The square root keeps most of the sky near the zenith colour,
        a thin band near the horizon brighter, as in clear daylight skies.
    """
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    return _sky_colors(horizon, zenith, K, world_T_cam, u.ravel(), v.ravel()).reshape(height, width, 3)


def _sky_colors(horizon, zenith, K: np.ndarray, world_T_cam: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """:func:`sky_image` at pixels (column ``u``, row ``v``) (k,): (k, 3) float32 RGB in [0, 1], each pixel
    computed alone (elementwise), so any subset of pixels gets the values of the whole image."""
    M = np.ascontiguousarray(world_T_cam[:3, :3]) @ np.linalg.inv(K)  # pixel (u, v, 1) -> world ray
    ray = [M[i, 0] * u + M[i, 1] * v + M[i, 2] for i in range(3)]
    sin_elev = ray[2] / np.sqrt(ray[0] * ray[0] + ray[1] * ray[1] + ray[2] * ray[2])
    t = np.sqrt(np.clip(sin_elev, 0.0, 1.0))[:, None]
    return ((1.0 - t) * np.asarray(horizon, np.float64) + t * np.asarray(zenith, np.float64)).astype(np.float32)


def photo_backdrop(photo: np.ndarray, crop, width: int, height: int) -> np.ndarray:
    """Photo backdrop: the ``crop`` window of ``photo``, scaled to cover the frame and centre-cropped.

    Parameters
    ----------
    photo : (h, w, 3) uint8
    crop : (4,) float
        (x0, y0, x1, y1) window in fractions of the photo's width and height.
    width, height : int
        Frame size, pixels.

    Returns
    -------
    (height, width, 3) uint8
        Scaled with Lanczos resampling (PIL ``ImageOps.fit``), keeping the aspect ratio.

    Raises
    ------
    ValueError
        If the window is empty.
    """
    h, w = photo.shape[:2]
    x0, y0, x1, y1 = (float(c) for c in crop)
    box = (int(round(x0 * w)), int(round(y0 * h)), int(round(x1 * w)), int(round(y1 * h)))
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"empty backdrop crop window {tuple(crop)}")
    img = Image.fromarray(np.ascontiguousarray(photo[..., :3])).crop(box)
    return np.asarray(ImageOps.fit(img, (int(width), int(height)), method=Image.LANCZOS))
