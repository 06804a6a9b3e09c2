"""Every run-time replacement of pyrender internals, in one file: the one to audit on a pyrender upgrade.

Pinned (pyproject.toml): ``scikit-robot-pyrender==0.1.50`` (:data:`PYRENDER_VERSION`, the maintained fork of
pyrender) with ``PyOpenGL==3.1.10`` (:data:`PYOPENGL_VERSION`);
``tests/render/test_pyrender_patches.py`` checks that the installed versions are these and that every
internal replaced here still exists as described. Nothing else in gtforge touches a private attribute of
pyrender. Each replacement is made while gtforge renders, on gtforge's own renderer instance, except the
first, which holds for the process:

1. **Shadow-map size** (``pyrender.light.SHADOW_TEX_SZ`` and ``pyrender.renderer.SHADOW_TEX_SZ``, copies of
   ``pyrender.constants.SHADOW_TEX_SZ`` taken at their import): set at this module's import to
   ``shadows.SHADOW_MAP_SIZE``. pyrender sizes the shadow textures it makes itself
   (``Light._generate_shadow_texture``) and its shadow-pass viewport by it. *Check:* both modules still read
   the module global at call time.
2. **Own shadow textures** (:func:`shadow_texture`, in place of ``Light._generate_shadow_texture``, which runs
   only for a light whose ``shadow_texture`` is None): ``shadows.SHADOW_MAP_SIZE`` or
   ``shadows.DIRECTIONAL_SHADOW_MAP_SIZE`` texels square, clamped to a border of depth 1 (pyrender's repeat),
   so whatever lies outside a fitted frustum is lit. *Check:* pyrender's ``Texture`` still sets a border
   colour of ones for depth textures, and ``_update_context`` keeps a texture it finds set.
3. **Node order** (:class:`OrderedNodes`, :func:`ordered_scene`: ``pyrender.Scene._nodes``, ``_mesh_nodes``,
   ``_point_light_nodes``, ``_spot_light_nodes``, ``_directional_light_nodes``, ``_camera_nodes``, Python
   sets): insertion-ordered sets, so lights are summed and equally distant meshes drawn in the same order in
   every process. *Check:* ``Scene`` still keeps these attributes and uses only ``add``, ``remove``,
   ``discard``, ``copy``, ``|`` and iteration on them (``Scene.clear`` makes plain sets again: gtforge never
   calls it).
4. **Both faces** (:func:`both_faces`: the module global ``pyrender.renderer.glEnable``, from
   ``from OpenGL.GL import *``): within the block ``glEnable(GL_CULL_FACE)`` does nothing. Back faces are
   drawn in every pass, but pyrender honours ``SKIP_CULL_FACES`` only in lit passes and re-enables culling in
   SEG and depth passes (``Renderer._bind_and_draw_primitive``). *Check:* that function still enables culling
   through the module's ``glEnable``.
5. **Shadow passes** (:func:`shadow_maps`: ``pyrender.Renderer._get_light_cam_matrices``,
   ``_shadow_mapping_pass`` and ``_configure_shadow_mapping_viewport``): pyrender fits every light's frustum to
   the whole scene; here the frusta come from ``shadows`` (why: that module's docstring), a map still
   current from an earlier view of the scene is kept, a light that must not cast while others of its kind
   do gets a cleared map, the viewport is the texture's own size, and acne is removed by a slope-scaled
   ``glPolygonOffset`` while the maps are drawn. *Check:* the signatures ``(scene, light_node, flags)`` and
   ``(light, flags)``; that ``render`` calls ``_shadow_mapping_pass`` through ``self`` for each light of a
   shadowed kind, and that the forward pass takes each light's ``light_matrix`` from
   ``_get_light_cam_matrices``; that its perspective and orthographic cameras' projection matrices are still
   those of ``shadows.perspective_projection`` and ``shadows.orthographic_projection``.
6. **Shadow filter** (:func:`shadow_shader_dir`: ``PCF`` in ``pyrender/shaders/mesh.frag``, through
   ``Renderer._program_cache``, replaced by a ``ShaderProgramCache`` over a patched copy of the shader
   folder): one bilinear 2 x 2 comparison instead of 3 x 3 of them. *Check:* the regular expression
   ``_PCF_3X3`` still matches (else pyrender's shaders are used unchanged, slower, and shadow edges change).
7. **Own framebuffers** (:class:`Targets`, :func:`own_targets`: ``pyrender.Renderer._configure_forward_pass_viewport``,
   ``_read_main_framebuffer`` and ``_sorted_mesh_nodes``): passes drawn into framebuffers of their own,
   single-sample or multisampled, scissored to a window, read back only as asked, in a draw order of the
   pass's own. *Check:* ``_forward_pass`` still calls these three through ``self`` and the depth conversion
   of ``_read_main_framebuffer`` (copied in ``_linear_depth``) is unchanged.
8. **Texture row alignment** (:func:`prepare_context`): ``GL_UNPACK_ALIGNMENT`` 1, since pyrender uploads
   textures with GL's default of 4 bytes. *Check:* ``Texture._add_to_context`` still sets no alignment.

:func:`drawing` enters 4, 5 and 7 together. pyrender's ``OffscreenRenderer._platform`` and ``._renderer`` are
reached only here (:func:`make_current`, :func:`prepare_context`, :class:`Targets`, :func:`drawing`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # before pyrender imports PyOpenGL

import numpy as np
import pyrender
import pyrender.light as _pyrender_light
import pyrender.renderer as _pyrender_renderer
from OpenGL.GL import (GL_CLAMP_TO_BORDER, GL_COLOR_ATTACHMENT0, GL_COLOR_BUFFER_BIT,
                       GL_COLOR_LOGIC_OP, GL_CULL_FACE, GL_DEPTH_ATTACHMENT, GL_DEPTH_COMPONENT24,
                       GL_DEPTH_BUFFER_BIT, GL_DEPTH_COMPONENT, GL_DEPTH_TEST, GL_DRAW_FRAMEBUFFER, GL_FLOAT,
                       GL_FRAMEBUFFER, GL_FRAMEBUFFER_COMPLETE, GL_LESS, GL_LINEAR, GL_NEAREST, GL_OR,
                       GL_PACK_ALIGNMENT, GL_POLYGON_OFFSET_FILL, GL_UNPACK_ALIGNMENT, GL_READ_FRAMEBUFFER,
                       GL_RENDERBUFFER, GL_RGB, GL_RGBA, GL_RGBA8, GL_SCISSOR_TEST, GL_TRUE, GL_FALSE,
                       GL_UNSIGNED_BYTE,
                       glBindFramebuffer, glBindRenderbuffer, glBlitFramebuffer, glCheckFramebufferStatus, glClear,
                       glDeleteFramebuffers, glDeleteRenderbuffers, glDepthFunc, glDepthMask, glDepthRange,
                       glDisable, glEnable, glFramebufferRenderbuffer, glGenFramebuffers, glGenRenderbuffers,
                       glLogicOp, glPixelStorei, glPolygonOffset, glReadPixels, glRenderbufferStorage,
                       glRenderbufferStorageMultisample, glScissor, glViewport)
from pyrender.shader_program import ShaderProgramCache

from ..core.files import cache_dir
from .shadows import SHADOW_MAP_SIZE

#: The pyrender release every replacement here was written against (``scikit-robot-pyrender``).
PYRENDER_VERSION = "0.1.50"
#: The PyOpenGL release pinned with it.
PYOPENGL_VERSION = "3.1.10"
#: glPolygonOffset (factor, units) while shadow maps are drawn: pushes each caster's stored depth back by
#: ``factor`` x its depth slope per texel (+ ``units`` x the depth resolution), more than the depth change over
#: the 3 x 3 PCF footprint of pyrender's shader, so lit surfaces do not shadow themselves.
_SHADOW_POLYGON_OFFSET = (2.0, 2.0)

_pyrender_light.SHADOW_TEX_SZ = _pyrender_renderer.SHADOW_TEX_SZ = SHADOW_MAP_SIZE  # replacement 1


class OrderedNodes(dict):
    """A set of pyrender nodes that iterates in insertion order (a dict with None values; replacement 3 in the
    module docstring).

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
        return OrderedNodes(self)

    def __or__(self, other):
        out = OrderedNodes(self)
        for i in other:
            out.add(i)
        return out


def ordered_scene(scene: pyrender.Scene) -> pyrender.Scene:
    """``scene`` with its node sets replaced by :class:`OrderedNodes` (deterministic draw and light order)."""
    for attr in ("_nodes", "_mesh_nodes", "_point_light_nodes", "_spot_light_nodes", "_directional_light_nodes",
                 "_camera_nodes"):
        setattr(scene, attr, OrderedNodes(getattr(scene, attr)))
    return scene


@contextlib.contextmanager
def both_faces():
    """Within the block, pyrender cannot enable back-face culling (every pass draws both faces; replacement 4
    in the module docstring)."""
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
def shadow_maps(impl, matrices: dict, casting: set, current: set):
    """Within the block, pyrender renderer ``impl`` uses our shadow frusta and skips non-casting lights
    (replacement 5 in the module docstring).

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
class Pass:
    """What the next pyrender forward pass draws into and reads back (see :class:`Targets`).

    ``samples``: 0 (one sample at each pixel centre) or the MSAA sample count; ``window`` (x0, y0, x1, y1):
    the part of the viewport that is cleared, drawn and read (image rows from the top, half-open);
    ``read``: ``rgb`` / ``rgba`` (uint8 colour), ``ids`` (RGBA as uint32 with the alpha byte cleared: the
    instance id, :func:`gtforge.core.ids.decode_ids`) or ``bits`` (RGBA as uint32); ``depth``: also read the
    depth buffer (linear metres, 0 where nothing was drawn); ``union``: every fragment whose depth is in
    front of the far plane ORs its colour into the pixel (``GL_COLOR_LOGIC_OP``) without writing depth, so
    each bit holds the coverage of the meshes drawn in that bit as if each were drawn alone; ``order``: the
    mesh nodes to draw, in that order (None: pyrender's order).
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


class Targets:
    """The renderer's own offscreen framebuffers, in place of pyrender's main framebuffer (replacement 7 in the
    module docstring).

    pyrender draws every forward pass into one 4x multisampled framebuffer of exactly the viewport's size
    (re-created whenever the viewport changes: every amodal window did), resolves it with a blit and reads
    back colour and depth, converting depth whether it is wanted or not. Here:

    * passes that need one sample per pixel (instance IDs, depth, silhouettes) draw into a single-sample
      framebuffer (colour RGBA8, depth 24 bit, as pyrender's), which only grows;
    * passes with ``samples`` > 0 (the ID + depth pass, the AR layers, a multisampled lit pass) draw into a
      multisampled one, resolved into the first;
    * the scissor box limits clears, draws, resolves and reads to ``Pass.window``;
    * only what ``Pass`` asks for is read back.

    Within :func:`own_targets`, the pyrender renderer's ``_configure_forward_pass_viewport``,
    ``_read_main_framebuffer`` and ``_sorted_mesh_nodes`` are replaced by :meth:`configure`, :meth:`read` and
    :meth:`sorted_mesh_nodes` (on that instance only; pyrender's shadow-map passes are untouched).

    Parameters
    ----------
    offscreen : pyrender.OffscreenRenderer
        Whose renderer draws into these framebuffers; its context must be current whenever they are made,
        used or deleted.
    """

    def __init__(self, offscreen):
        self.impl = offscreen._renderer
        self.pass_ = Pass()
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
def own_targets(targets: "Targets"):
    """Within the block, ``targets.impl`` (a pyrender renderer) draws its forward passes into ``targets``."""
    impl = targets.impl
    impl._configure_forward_pass_viewport = targets.configure
    impl._read_main_framebuffer = targets.read
    impl._sorted_mesh_nodes = targets.sorted_mesh_nodes
    try:
        yield
    finally:
        del impl._configure_forward_pass_viewport, impl._read_main_framebuffer, impl._sorted_mesh_nodes


#: pyrender's shadow filter in ``shaders/mesh.frag``: 3 x 3 percentage-closer filtering of bilinearly
#: interpolated 2 x 2 depth comparisons, 36 shadow-map reads per light and pixel.
_PCF_3X3 = re.compile(r"(float PCF\(sampler2D depths, vec2 size, vec2 uv, float compare\)\s*\{)"
                      r".*?(return result/9\.0;\s*\})", re.S)


def shadow_shader_dir() -> str | None:
    """A copy of pyrender's installed shader folder whose shadow filter reads 4 texels instead of 36 (replacement
    6 in the module docstring).

    The shadow maps here are fitted to what must be shadowed (``shadows``), so one bilinearly filtered 2 x 2
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


def shadow_texture(size: int) -> pyrender.Texture:
    """A depth texture of ``size`` x ``size`` texels for a light's shadow map (replacement 2 in the module
    docstring): float depth, clamped to pyrender's border colour (depth 1: lit) outside the map.

    Set it as ``light.shadow_texture`` before the light is first drawn, so pyrender does not make its own.
    """
    return pyrender.Texture(width=size, height=size, source_channels="D", data_format=GL_FLOAT,
                            sampler=pyrender.Sampler(wrapS=GL_CLAMP_TO_BORDER, wrapT=GL_CLAMP_TO_BORDER))


def make_current(offscreen) -> None:
    """Make the GL context of ``offscreen`` (a ``pyrender.OffscreenRenderer``) current in this thread."""
    offscreen._platform.make_current()


def prepare_context(offscreen) -> None:
    """Set up a new ``pyrender.OffscreenRenderer``'s context for gtforge (replacements 6 and 8 in the module
    docstring); makes it current.

    pyrender uploads textures with GL's default row alignment of 4 bytes: an RGB image whose rows are not a
    multiple of 4 bytes long (chelsea.png, 451 px; pybullet's tray.jpg, 299 px) was sheared and read past its
    buffer's end (texels differing from run to run). Rows are tightly packed in numpy, so the alignment is 1.
    The shader programs come from :func:`shadow_shader_dir` when it returns a folder.
    """
    make_current(offscreen)
    glPixelStorei(GL_UNPACK_ALIGNMENT, 1)
    shaders = shadow_shader_dir()
    if shaders is not None:
        offscreen._renderer._program_cache = ShaderProgramCache(shader_dir=shaders)


@contextlib.contextmanager
def drawing(offscreen, targets: Targets, matrices: dict, casting: set, current: set):
    """Within the block, the context of ``offscreen`` is current and its renderer draws both faces
    (:func:`both_faces`), uses the shadow frusta ``matrices`` for the lights ``casting`` (:func:`shadow_maps`,
    which also says what ``current`` is) and draws its forward passes into ``targets`` (:func:`own_targets`).
    Not re-entrant."""
    with both_faces(), shadow_maps(offscreen._renderer, matrices, casting, current), own_targets(targets):
        make_current(offscreen)
        glDisable(GL_CULL_FACE)
        yield
