"""Materials: the pyrender meshes of a scene's surfaces in their looks, and the caches that keep them cheap.

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

Colours in gtforge (recipes, materials, skin and paint tables, vertex colours of files) are sRGB, as images
are; glTF's ``baseColorFactor`` and pyrender's vertex colours (``color_0``, multiplied into the shaded linear
colour of ``mesh.frag``) are linear, so they are linearised by :func:`core.color.srgb_to_linear`, and the
shader converts the result back with gamma 2.2. Textures are linearised by the shader itself.

Every surface is drawn with the same triangles, in the same order and at the same positions whatever its
material: flat-shaded meshes are drawn as ``vertices[faces]``, texture coordinates ride along per corner.

Texture coordinates: images are uploaded with row 0 at the top, so v = 0 is the image's bottom
row (OpenGL / Wavefront convention). The floor's coordinates are ``(x, y) / tile`` of the world
point (the image appears upright seen from above with +y up), walls' are ``box_uv`` in the box
frame.

Hands: one mesh per hand holding the hand (plain ``color``, or ``vertex_colors`` with smooth shading) and its
forearm (vertex colours), so the renderer gives both one node and one ``inst_id``.

Caches (:class:`MeshBuilder`): the mesh of each model in its own look (material None) for the life of the
renderer; the 64 most recently used jittered texture images; and one pyrender texture per (image, jitter)
within a scene.
"""

from __future__ import annotations

import os
from collections import OrderedDict

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # before pyrender imports PyOpenGL

import numpy as np
import pyrender
import trimesh

from ..assets.textures import box_uv, jitter_hsv, load_texture
from ..core.color import srgb_to_linear
from ..core.description import Material
from ..core.library import ModelLibrary

_IDENTITY_HSV = np.array([0.0, 1.0, 1.0])


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


def _part_material(look) -> pyrender.MetallicRoughnessMaterial:
    """The material of a multi-part asset's part in its own look (``assets.loaders.PartLook``)."""
    return _pbr(look.base_color, look.metallic, look.roughness, emissive=look.emissive)


class MeshBuilder:
    """Makes the pyrender meshes of a scene's objects, distractors, floor, walls and hands in their materials
    (module docstring), keeping the renderer's mesh, image and texture caches.

    One per :class:`~gtforge.render.renderer.Renderer`; call :meth:`start_scene` before the meshes of each scene.
    """

    def __init__(self):
        self._mesh_cache: dict[tuple, pyrender.Mesh] = {}  # (library tag, obj_id) -> mesh in the asset's look
        self._image_cache: OrderedDict = OrderedDict()  # (key, hsv) -> jittered texture image
        self._scene_textures: dict = {}  # (key, hsv) -> pyrender.Texture shared within one scene

    def start_scene(self) -> None:
        """Forget the textures shared within the previous scene (the model meshes and images stay cached)."""
        self._scene_textures = {}

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

    def instance_mesh(self, library: ModelLibrary, tag: str, obj_id: int, material: Material | None) -> pyrender.Mesh:
        """The pyrender mesh of model ``obj_id`` of ``library`` in ``material`` (model frame, metres).

        ``tag`` names the library in the cache (the renderer's objects ``o``, distractors ``d``); the mesh in
        the asset's own look (``material`` None) is cached for the builder's life.

        Raises
        ------
        ValueError
            If the material's mode is unknown, or it is ``texture`` without a texture.
        """
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

    def floor_mesh(self, floor) -> pyrender.Mesh:
        """The floor (``core.description.Floor``): a ``size`` x ``size`` m square at z = 0 in the world frame,
        centred on the origin, two triangles; textures at ``(x, y) / tile``."""
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

    def wall_mesh(self, box) -> pyrender.Mesh:
        """A wall (``core.description.StaticBox``): a box of ``extents`` m centred in its own frame; textures
        box-projected (``box_uv``)."""
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

    def hand_mesh(self, h) -> pyrender.Mesh:
        """A hand (``core.description.HandInstance``, world-frame vertices): the hand (plain ``color`` or smooth
        ``vertex_colors``) and its forearm as one mesh (one node, one id)."""
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
