"""Mesh assets: loading meshes into one model frame in metres.

An :class:`Asset` is one rigid model: a ``trimesh.Trimesh`` whose vertex
coordinates define the *model frame* (metres). That frame is the one BOP's
``cam_R_m2c``/``cam_t_m2c`` refer to, and the written ``models/obj_XXXXXX.ply``
holds the same vertices in millimetres.

Supported sources (all loaded with trimesh):

* OBJ (with MTL textures), PLY, STL, OFF, GLB/glTF files; a multi-part file
  is flattened into one mesh with its part transforms applied.
* URDF: the first link's ``<visual>`` meshes and primitives (box, cylinder,
  sphere), each with its ``<origin xyz rpy>`` and mesh ``scale`` baked in, so
  the model frame is the link frame. A ``<material><color rgba>`` is kept as
  the base colour for meshes without a texture.
* A BOP ``models/`` folder: ``models_info.json`` + ``obj_{id:06d}.ply`` in
  millimetres (converted to metres). Format: bop_toolkit docs/bop_datasets_format.md.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from ..config.objects import ObjectSet
from ..config.sources import resolve_source
from ..core.description import PartLook  # noqa: F401 (re-exported: PartLook lived here)
from ..core.geometry import make_pose, urdf_rpy_to_matrix
from ..core.library import ModelEntry
from ..core.rng import asset_rng
from .cars import make_car
from .symmetry import cached_symmetries, to_models_info


class AssetError(Exception):
    """A mesh file that cannot be read or used; the message names the file."""


@dataclass
class Asset:
    """One rigid model (the :class:`~gtforge.core.library.ModelAsset` of the stages).

    Attributes
    ----------
    obj_id : int
        1-based id, stable for a recipe (order of object sets, then sorted files).
    class_name : str
        Human-readable class name.
    set_name : str
        Name of the recipe object set it belongs to.
    source : str
        File (and, for BOP folders, the ``obj_XXXXXX.ply``) it came from.
    mesh : trimesh.Trimesh
        Vertices (n, 3) float64 in metres in the model frame, faces (m, 3)
        int64, with its visual (texture or colours) when the file has one.
    base_color : (4,) float64 or None
        RGBA in [0, 1] from a URDF material, used when the mesh has no texture.
    face_parts : (m,) int64 or None
        Multi-part assets (procedural cars): index into ``parts`` of each face; None for one-part assets.
    parts : tuple of PartLook
        Looks of the parts named by ``face_parts``.
    """

    obj_id: int
    class_name: str
    set_name: str
    source: str
    mesh: trimesh.Trimesh
    base_color: np.ndarray | None = None
    face_parts: np.ndarray | None = None
    parts: tuple = ()

    @property
    def center(self) -> np.ndarray:
        """(3,) float64 centre of the mesh's axis-aligned bounding box, model frame, metres (the point the drop
        placement and ``look_at: object`` aim at)."""
        b = self.mesh.bounds
        return 0.5 * (b[0] + b[1])

    @property
    def radius(self) -> float:
        """Radius (m) of the sphere around :attr:`center` that holds every vertex (the drop placement's bounding
        sphere; twice it is the model's size in the recipe limits, ``pipeline/fit.py``)."""
        return float(np.linalg.norm(self.mesh.vertices - self.center, axis=1).max())

    @property
    def has_texture(self) -> bool:
        """True when the mesh carries UVs and a texture image."""
        v = self.mesh.visual
        if v.kind != "texture" or getattr(v, "uv", None) is None:
            return False
        m = v.material
        return getattr(m, "image", None) is not None or getattr(m, "baseColorTexture", None) is not None


#: Most triangles one model may have. Every face is drawn in each view's colour, ID and depth passes and
#: once more per instance for its amodal mask (llvmpipe on a CPU), hulled for the physics and ray cast by
#: ``gtforge verify``; scanned models are rarely above a few 100 000 faces. Larger meshes are refused
#: (decimate them first, e.g. MeshLab "Quadric Edge Collapse Decimation" or Blender's Decimate modifier).
MAX_MESH_FACES = 1_000_000
#: A face has zero area when its area is at most this fraction of the squared size (largest bounding-box
#: extent) of its mesh: collinear or repeated vertices, up to float64 rounding.
ZERO_AREA_RTOL = 1e-12


def check_mesh(mesh: trimesh.Trimesh, path) -> trimesh.Trimesh:
    """Refuse a mesh that cannot be rendered or labelled; return it unchanged otherwise.

    Raises
    ------
    AssetError
        Naming ``path``: no faces, more than :data:`MAX_MESH_FACES` faces (with its count), face indices
        past the vertex list, non-finite vertices, or every face of zero area (an invisible object with
        empty labels; threshold :data:`ZERO_AREA_RTOL` of the squared mesh size).
    """
    n = len(mesh.faces)
    if n == 0:
        raise AssetError(f"{path}: mesh has no faces")
    if n > MAX_MESH_FACES:
        raise AssetError(f"{path}: mesh has {n:,} faces, more than the limit of {MAX_MESH_FACES:,} per model: "
                         "decimate it first (e.g. MeshLab's Quadric Edge Collapse Decimation)")
    if int(mesh.faces.min()) < 0 or int(mesh.faces.max()) >= len(mesh.vertices):
        raise AssetError(f"{path}: faces refer to vertices the file does not have ({len(mesh.vertices)} vertices)")
    if not np.all(np.isfinite(mesh.vertices)):
        raise AssetError(f"{path}: mesh has non-finite vertices")
    size = float(np.ptp(mesh.vertices[mesh.faces.ravel()], axis=0).max())
    if not np.any(mesh.area_faces > ZERO_AREA_RTOL * size**2):
        raise AssetError(f"{path}: all {n:,} faces have zero area (degenerate triangles): nothing would render")
    return mesh


def _as_single_mesh(loaded, path: Path) -> trimesh.Trimesh:
    if isinstance(loaded, trimesh.Scene):
        if not loaded.geometry:
            raise AssetError(f"{path}: file holds no geometry")
        loaded = loaded.to_mesh() if hasattr(loaded, "to_mesh") else loaded.dump(concatenate=True)
    if not isinstance(loaded, trimesh.Trimesh):
        raise AssetError(f"{path}: not a triangle mesh ({type(loaded).__name__})")
    return check_mesh(loaded, path)


def load_mesh_file(path: str | Path) -> trimesh.Trimesh:
    """Load one mesh file with trimesh, flattening scenes into a single mesh.

    Parameters
    ----------
    path : str or Path
        OBJ (+MTL), PLY, STL, OFF, GLB or glTF file. Coordinates are returned as stored.

    Returns
    -------
    mesh : trimesh.Trimesh
        Float64 vertices in the file's units; visual kept where present.

    Raises
    ------
    AssetError
        Unreadable file, or a mesh :func:`check_mesh` refuses (no faces, too many faces, bad face
        indices, non-finite vertices, all faces of zero area).
    """
    path = Path(path)
    try:
        loaded = trimesh.load(str(path), process=False, maintain_order=True)
    except Exception as e:  # noqa: BLE001 - untrusted file: trimesh raises many types for bad files
        raise AssetError(f"{path}: cannot read mesh: {e}") from None
    return _as_single_mesh(loaded, path)


def _parse_floats(text: str | None, n: int, default: float, where: str) -> np.ndarray:
    if text is None:
        return np.full(n, default, dtype=np.float64)
    try:
        vals = np.array([float(x) for x in text.split()], dtype=np.float64)
    except ValueError:
        raise AssetError(f"{where}: bad numbers {text!r}") from None
    if vals.size == 1 and n > 1:
        vals = np.full(n, vals[0])
    if vals.size != n:
        raise AssetError(f"{where}: expected {n} numbers, got {text!r}")
    return vals


def load_urdf_visual(path: str | Path) -> tuple[trimesh.Trimesh, np.ndarray | None]:
    """Visual geometry of a URDF's first link with a ``<visual>``, in the link frame (metres).

    Returns
    -------
    mesh : trimesh.Trimesh
    base_color : (4,) float64 or None
        The first ``<material><color rgba>`` found, if any.

    Raises
    ------
    AssetError
        Malformed XML, no visual, a missing mesh file or an unsupported geometry.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise AssetError(f"{path}: cannot parse URDF: {e}") from None
    visuals = []
    for link in root.findall("link"):
        visuals = link.findall("visual")
        if visuals:
            break
    if not visuals:
        raise AssetError(f"{path}: URDF has no <visual> in any link")
    parts, color = [], None
    for vis in visuals:
        origin = vis.find("origin")
        xyz = _parse_floats(origin.get("xyz") if origin is not None else None, 3, 0.0, f"{path} <origin xyz>")
        rpy = _parse_floats(origin.get("rpy") if origin is not None else None, 3, 0.0, f"{path} <origin rpy>")
        T = make_pose(urdf_rpy_to_matrix(rpy), xyz)
        geom = vis.find("geometry")
        if geom is None or len(geom) == 0:
            raise AssetError(f"{path}: <visual> without <geometry>")
        g = geom[0]
        if g.tag == "mesh":
            fn = g.get("filename", "")
            fn = re.sub(r"^(package|file)://", "", fn)
            mpath = (path.parent / fn) if not Path(fn).is_absolute() else Path(fn)
            if not mpath.exists():
                raise AssetError(f"{path}: mesh file not found: {mpath}")
            m = load_mesh_file(mpath).copy()
            scale = _parse_floats(g.get("scale"), 3, 1.0, f"{path} <mesh scale>")
            m.apply_transform(np.diag([*scale, 1.0]))
        elif g.tag == "box":
            m = trimesh.creation.box(extents=_parse_floats(g.get("size"), 3, 1.0, f"{path} <box size>"))
        elif g.tag == "cylinder":
            m = trimesh.creation.cylinder(radius=float(g.get("radius")), height=float(g.get("length")))
        elif g.tag == "sphere":
            m = trimesh.creation.icosphere(subdivisions=3, radius=float(g.get("radius")))
        else:
            raise AssetError(f"{path}: unsupported URDF geometry <{g.tag}>")
        m.apply_transform(T)
        parts.append(m)
        mat = vis.find("material")
        if color is None and mat is not None and mat.find("color") is not None:
            color = _parse_floats(mat.find("color").get("rgba"), 4, 1.0, f"{path} <color rgba>")
    mesh = parts[0] if len(parts) == 1 else trimesh.util.concatenate(parts)
    return mesh, color


def obj_object_vertices(path: str | Path) -> list[np.ndarray]:
    """Vertices (n_i, 3) float64 used by the faces of each object of a Wavefront OBJ file, as stored.

    A new object starts at each ``o`` or ``g`` line, as in tinyobjloader (which pybullet uses to read
    collision OBJs and takes one convex hull per object: that is how ``*_vhacd.obj`` files carry a
    convex decomposition). Objects without faces are skipped. Raises AssetError for an unreadable file
    or bad indices.
    """
    path = Path(path)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as e:
        raise AssetError(f"{path}: cannot read OBJ: {e}") from None
    verts, objects, current = [], [], []
    try:
        for line in lines:
            tok = line.split()
            if not tok:
                continue
            if tok[0] == "v":
                verts.append([float(x) for x in tok[1:4]])
            elif tok[0] in ("o", "g") and current:
                objects.append(current)
                current = []
            elif tok[0] == "f":
                idx = [int(t.split("/")[0]) for t in tok[1:]]
                current.extend(i - 1 if i > 0 else len(verts) + i for i in idx)
        objects.append(current)
        V = np.asarray(verts, dtype=np.float64).reshape(-1, 3)
        return [V[np.unique(ix)] for ix in objects if ix]
    except (ValueError, IndexError) as e:
        raise AssetError(f"{path}: bad OBJ: {e}") from None


def _urdf_collision_part(g: ET.Element, path: Path) -> list[np.ndarray]:
    """Convex parts (vertex arrays, geometry frame) of one URDF <collision><geometry> child."""
    if g.tag == "mesh":
        fn = re.sub(r"^(package|file)://", "", g.get("filename", ""))
        mpath = (path.parent / fn) if not Path(fn).is_absolute() else Path(fn)
        if not mpath.exists():
            raise AssetError(f"{path}: collision mesh file not found: {mpath}")
        scale = _parse_floats(g.get("scale"), 3, 1.0, f"{path} <mesh scale>")
        if mpath.suffix.lower() == ".obj":
            return [v * scale for v in obj_object_vertices(mpath)]
        return [np.asarray(load_mesh_file(mpath).vertices, dtype=np.float64) * scale]
    if g.tag == "box":
        extents = _parse_floats(g.get("size"), 3, 1.0, f"{path} <box size>")
        return [np.asarray(trimesh.creation.box(extents=extents).vertices)]
    if g.tag == "cylinder":
        return [np.asarray(trimesh.creation.cylinder(radius=float(g.get("radius")), height=float(g.get("length")),
                                                     sections=64).vertices)]
    if g.tag == "sphere":
        return [np.asarray(trimesh.creation.icosphere(subdivisions=3, radius=float(g.get("radius"))).vertices)]
    raise AssetError(f"{path}: unsupported URDF collision geometry <{g.tag}>")


def load_urdf_collision(path: str | Path) -> list[tuple[str, np.ndarray]] | None:
    """The ``<collision>`` geometry of the URDF link whose visual :func:`load_urdf_visual` reads, as convex parts.

    Returns
    -------
    parts : list of (geometry tag, (n_i, 3) float64) or None
        Tag ("mesh", "box", "cylinder", "sphere") and vertices of each part in the link frame (= model frame
        before the object set's ``scale``), with each ``<origin xyz rpy>`` and mesh ``scale`` applied; one part
        per OBJ object (see :func:`obj_object_vertices`), per other mesh file and per primitive (box, cylinder,
        sphere).
        None when that link has no ``<collision>``.

    Raises
    ------
    AssetError
        Malformed XML, a missing collision mesh file or an unsupported geometry.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise AssetError(f"{path}: cannot parse URDF: {e}") from None
    link = next((lk for lk in root.findall("link") if lk.findall("visual")), None)
    cols = link.findall("collision") if link is not None else []
    parts = []
    for col in cols:
        origin = col.find("origin")
        xyz = _parse_floats(origin.get("xyz") if origin is not None else None, 3, 0.0, f"{path} <origin xyz>")
        rpy = _parse_floats(origin.get("rpy") if origin is not None else None, 3, 0.0, f"{path} <origin rpy>")
        geom = col.find("geometry")
        if geom is None or len(geom) == 0:
            raise AssetError(f"{path}: <collision> without <geometry>")
        R = urdf_rpy_to_matrix(rpy)
        parts += [(geom[0].tag, v @ R.T + xyz) for v in _urdf_collision_part(geom[0], path)]
    return parts or None


def _bop_model_files(folder: Path) -> list[tuple[int, Path]]:
    info_path = folder / "models_info.json"
    try:
        info = json.loads(info_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise AssetError(f"{info_path}: cannot read: {e}") from None
    out = []
    for key in sorted(info, key=lambda k: int(k)):
        p = folder / f"obj_{int(key):06d}.ply"
        if not p.is_file():
            raise AssetError(f"{info_path}: lists object {key} but {p} is missing")
        out.append((int(key), p))
    return out


def set_members(obj_set: ObjectSet, base_dir: str | Path) -> list[tuple[str, Path, float]]:
    """The model files of an object set: (class name, file, scale to metres).

    BOP folders are expanded to their ``obj_XXXXXX.ply`` files (scale 0.001 x ``obj_set.scale``).
    """
    if obj_set.source == "procedural://cars":
        return [(f"{obj_set.name}/{i:03d}", Path(f"procedural://cars/{i}"), obj_set.scale)
                for i in range(obj_set.variants)]
    members = []
    for p in resolve_source(obj_set.source, base_dir):
        if p.is_dir():
            for bop_id, ply in _bop_model_files(p):
                members.append((f"obj_{bop_id:06d}", ply, 0.001 * obj_set.scale))
        else:
            members.append((p.stem, p, obj_set.scale))
    if len(members) == 1:
        members = [(obj_set.name, members[0][1], members[0][2])]
    else:
        members = [(f"{obj_set.name}/{n}", p, s) for n, p, s in members]
    return members


def load_asset(obj_id: int, class_name: str, set_name: str, path: Path, scale: float) -> Asset:
    """Load one model file (mesh or URDF) and scale it to metres.

    Raises
    ------
    AssetError
        As :func:`load_mesh_file` / :func:`load_urdf_visual` / :func:`check_mesh` (also on a URDF's
        whole visual); also for a degenerate (zero-size) mesh.
    """
    color = None
    if str(path).startswith("procedural:"):
        variant = int(str(path).rsplit("/", 1)[1])
        car = make_car(asset_rng("car_shape", variant))
        mesh = car.mesh
        if scale != 1.0:
            mesh.apply_scale(scale)
        return Asset(obj_id=obj_id, class_name=class_name, set_name=set_name, source=f"procedural car {variant}",
                     mesh=mesh, base_color=None, face_parts=car.face_parts, parts=car.parts)
    if path.suffix.lower() == ".urdf":
        mesh, color = load_urdf_visual(path)
        check_mesh(mesh, path)  # its parts passed one by one; the whole may still be too large
    else:
        mesh = load_mesh_file(path)
    mesh = mesh.copy()
    if scale != 1.0:
        mesh.apply_scale(scale)
    if float(np.max(mesh.extents)) <= 0:
        raise AssetError(f"{path}: mesh has zero size")
    return Asset(obj_id=obj_id, class_name=class_name, set_name=set_name, source=str(path), mesh=mesh, base_color=color)


_AXES = {"+x": (0, 1.0), "-x": (0, -1.0), "+y": (1, 1.0), "-y": (1, -1.0), "+z": (2, 1.0), "-z": (2, -1.0)}


def normalize_mesh(mesh: trimesh.Trimesh, forward: str, up: str, length: float) -> trimesh.Trimesh:
    """Rotate ``forward`` to +x and ``up`` to +z, scale to ``length`` along x, origin at the bottom centre."""
    def axis(name):
        i, sgn = _AXES[name]
        v = np.zeros(3)
        v[i] = sgn
        return v

    f, u = axis(forward), axis(up)
    R = np.stack([f, np.cross(u, f), u])  # rows: model axes that become x, y, z
    m = mesh.copy()
    m.apply_transform(np.vstack([np.c_[R, np.zeros(3)], [0, 0, 0, 1]]))
    m.apply_scale(length / float(m.extents[0]))
    lo, hi = m.bounds
    m.apply_translation([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    return m


class AssetLibrary:
    """All models a recipe can use, with stable 1-based ``obj_id`` s; loads lazily and caches (the
    :class:`~gtforge.core.library.ModelLibrary` of the stages).

    Ids are assigned in recipe order: object sets in order, files of a set
    sorted by path (BOP folders by id). One library lives per process.

    Parameters
    ----------
    object_sets : list of ObjectSet
    base_dir : path
        Folder the recipe's relative paths are relative to.
    """

    def __init__(self, object_sets, base_dir):
        self.entries: list[ModelEntry] = []
        self.set_ids: dict[str, list[int]] = {}
        self.normalize: dict[int, object] = {}
        self.collision: dict[int, str] = {}  # obj_id -> ObjectSet.collision (hull | vhacd | mesh)
        self._symmetry_spec: dict[int, object] = {}  # obj_id -> ObjectSet.symmetries
        for s in object_sets:
            ids = []
            for class_name, path, scale in set_members(s, base_dir):
                obj_id = len(self.entries) + 1
                self.entries.append(ModelEntry(obj_id, class_name, s.name, path, scale))
                ids.append(obj_id)
                if getattr(s, "normalize", None) is not None:
                    self.normalize[obj_id] = s.normalize
                self.collision[obj_id] = getattr(s, "collision", "hull")
                self._symmetry_spec[obj_id] = getattr(s, "symmetries", "none")
            self.set_ids[s.name] = ids
        self._cache: dict[int, Asset] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, obj_id: int) -> Asset:
        """The asset with ``obj_id`` (loaded on first use). Raises AssetError, KeyError."""
        if obj_id not in self._cache:
            oid, name, set_name, path, scale = self.entries[obj_id - 1]
            asset = load_asset(oid, name, set_name, path, scale)
            nz = self.normalize.get(obj_id)
            if nz is not None:
                length = float(asset_rng("car_length", obj_id).uniform(nz.length.min, nz.length.max))
                asset.mesh = normalize_mesh(asset.mesh, nz.forward, nz.up, length)
            self._cache[obj_id] = asset
        return self._cache[obj_id]

    def symmetries(self, obj_id: int) -> dict:
        """BOP ``models_info.json`` symmetry fields (mm) of a model, as its set's ``symmetries`` asks:
        ``auto`` searches them (assets/symmetry.py; cached on disk per mesh), ``none`` gives {}, a stated spec is
        written as given."""
        spec = self._symmetry_spec.get(obj_id, "none")
        if spec == "none":
            return {}
        if spec == "auto":
            return to_models_info(cached_symmetries(self.get(obj_id).mesh))
        out = {}
        if spec.discrete:
            out["symmetries_discrete"] = [[float(x) for x in m] for m in spec.discrete]
        if spec.continuous:
            out["symmetries_continuous"] = [{"axis": [float(x) for x in c.axis], "offset": [float(x) for x in c.offset]}
                                            for c in spec.continuous]
        return out

    def load_all(self) -> None:
        """Load every model now (to report bad files before rendering). Raises AssetError."""
        for e in self.entries:
            self.get(e[0])
