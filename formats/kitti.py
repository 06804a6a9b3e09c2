"""KITTI object format: ``label_2`` and ``calib`` files (writers and readers).

Format reference: KITTI object development kit, ``readme.txt`` (Geiger et al., "Are we ready
for autonomous driving?", CVPR 2012). One line per object, 15 fields separated by spaces:

    type truncated occluded alpha left top right bottom h w l x y z rotation_y

``type`` e.g. Car, DontCare; ``truncated`` float in [0, 1] (the share of the object leaving the
image); ``occluded`` int 0 fully visible, 1 partly, 2 largely occluded, 3 unknown; ``alpha``
observation angle in [-pi, pi]; the 2D box in pixels (0-based); ``h w l`` metres; ``x y z``
the bottom centre of the 3D box in the rectified camera-0 frame (x right, y down, z forward),
metres; ``rotation_y`` rotation about the camera y axis in [-pi, pi]. gtforge writes
``alpha = rotation_y - atan2(x, z)`` wrapped to [-pi, pi].

Calib files (per frame): lines ``P0: .. P3:`` (3x4 projection matrices, 12 numbers),
``R0_rect:`` (9), ``Tr_velo_to_cam:`` and ``Tr_imu_to_velo:`` (12 each). The devkit (and its
common ports, e.g. ``kitti_util.py`` of Qi et al.'s Frustum PointNets) maps LiDAR points to the
rectified camera 0 as ``x_rect = R0_rect · Tr_velo_to_cam · x_velo``, and rectified points (labels)
into image 2 with ``P2`` alone: ``u ~ P2 · x_rect``.

Label frames (:func:`label_frame`, named by :func:`label_frame_name` in ``gtforge.json``):

* ``camera0_rect``: an AR background that comes with a KITTI calibration (a KITTI frame, or a folder
  image with ``calib/<stem>.txt``; :class:`CalibFile`): labels are written in *its* rectified camera-0
  frame and its calibration file is written back unchanged (:meth:`CalibFile.to_bytes`), so inserted
  cars, the frame's real labels and its LiDAR share one frame. Cars stand on the local ground, which
  may lean against camera 0, and KITTI's boxes only yaw: a car's label is its own box with the lean
  dropped (:func:`own_box`: its model's dimensions, the bottom centre on its ground contact, the yaw of
  its heading), as KITTI's annotators labelled the dimensions of real cars (docs/conventions.md).
* ``level``: every other scene with a ground (AR ``ground`` placement over photos without a KITTI
  calibration, clutter and hand scenes): a *level* frame (:func:`level_frame`: y along gravity / the
  ground normal, z the camera's viewing direction made horizontal, origin at the photo's camera or the
  view's camera) whatever the camera's pitch and roll, with ``P2`` = K [R | t] of the camera in that
  frame, ``R0_rect`` = I and ``Tr_velo_to_cam`` = LiDAR -> level frame (:func:`write_calib`).
* ``camera``: AR ``free`` placement over photos without a KITTI calibration: the photo's camera frame.

Every other box (the ``level`` and ``camera`` frames, objects in any pose, hands) encloses its object's model
after the 2-decimal rounding (:func:`enclosing_box`); in the ``level`` frame an upright car does not lean, so
that box is its own box grown by at most the rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.files import atomic_open
from ..core.geometry import invert_pose, make_pose, transform_points
from ..core.library import ModelLibrary
from .atomic import link_or_copy, write_text_atomic
from .bop import scene_dirs
from .protocol import DatasetContext, FrameRecord, SceneContext

#: Folders of the KITTI object layout (inside each scene folder, then merged at the dataset root).
SUBDIRS = ("image_2", "label_2", "calib")


def wrap_angle(a: float) -> float:
    """Angle wrapped to [-pi, pi)."""
    return (a + math.pi) % (2 * math.pi) - math.pi


@dataclass
class KittiObject:
    """One KITTI label line (see the module docstring for the fields and units)."""

    type: str
    truncated: float
    occluded: int
    alpha: float
    bbox: tuple  # left, top, right, bottom (pixels)
    h: float
    w: float
    l: float  # noqa: E741 - KITTI's field name
    x: float
    y: float
    z: float
    rotation_y: float

    def to_line(self) -> str:
        """The label line (2 decimals, as KITTI's own files)."""
        b = self.bbox
        return (f"{self.type} {self.truncated:.2f} {int(self.occluded)} {self.alpha:.2f} {b[0]:.2f} {b[1]:.2f} "
                f"{b[2]:.2f} {b[3]:.2f} {self.h:.2f} {self.w:.2f} {self.l:.2f} {self.x:.2f} {self.y:.2f} "
                f"{self.z:.2f} {self.rotation_y:.2f}")

    @classmethod
    def from_line(cls, line: str) -> "KittiObject":
        """Parse a label line. Raises ValueError for a line without 15 (or 16, with score) fields."""
        f = line.split()
        if len(f) not in (15, 16):
            raise ValueError(f"KITTI label line needs 15 fields, got {len(f)}: {line!r}")
        v = [float(x) for x in f[1:15]]
        return cls(f[0], v[0], int(v[1]), v[2], tuple(v[3:7]), v[7], v[8], v[9], v[10], v[11], v[12], v[13])

    def corners(self) -> np.ndarray:
        """The 8 corners (8, 3) of the 3D box in the camera-0 frame (metres)."""
        c, s = math.cos(self.rotation_y), math.sin(self.rotation_y)
        R = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
        x = np.array([1, 1, -1, -1, 1, 1, -1, -1]) * self.l / 2
        y = np.array([0, 0, 0, 0, -1, -1, -1, -1]) * self.h
        z = np.array([1, -1, -1, 1, 1, -1, -1, 1]) * self.w / 2
        return (R @ np.stack([x, y, z])).T + [self.x, self.y, self.z]


def read_labels(path) -> list[KittiObject]:
    """Read a ``label_2`` file (empty lines skipped)."""
    return [KittiObject.from_line(ln) for ln in Path(path).read_text().splitlines() if ln.strip()]


def write_labels(path, objects: list[KittiObject]) -> None:
    """Write a ``label_2`` file (one line per object)."""
    write_text_atomic(Path(path), "".join(o.to_line() + "\n" for o in objects))


#: The seven lines of a KITTI object calib file, in the devkit's order.
CALIB_KEYS = ("P0", "P1", "P2", "P3", "R0_rect", "Tr_velo_to_cam", "Tr_imu_to_velo")


def _fmt(a) -> str:
    """Numbers as KITTI's calib files write them: ``%.12e``, separated by single spaces."""
    return " ".join(f"{x:.12e}" for x in np.asarray(a, dtype=np.float64).reshape(-1))


def _dist_line(dist: dict) -> str:
    key = "D_02" if dist["model"] == "radtan" else f"D_02_{dist['model']}"
    return f"{key}: {_fmt(dist['coeffs'])}"


def calib_lines(P2: np.ndarray, Tr_velo_to_cam: np.ndarray | None = None,
                R0_rect: np.ndarray | None = None) -> dict[str, str]:
    """The seven lines (``{key: "key: numbers"}``, :data:`CALIB_KEYS` order) of a one-camera calibration: P0..P3 all
    ``P2`` (3, 4), ``R0_rect`` (3, 3; identity when None), ``Tr_velo_to_cam`` (3, 4; identity when None),
    ``Tr_imu_to_velo`` = I; numbers as ``%.12e``."""
    P2 = np.asarray(P2, dtype=np.float64)[:3, :4]
    Tr = np.eye(4)[:3] if Tr_velo_to_cam is None else np.asarray(Tr_velo_to_cam, dtype=np.float64)[:3, :4]
    R0 = np.eye(3) if R0_rect is None else np.asarray(R0_rect, dtype=np.float64)[:3, :3]
    values = {**{f"P{i}": P2 for i in range(4)}, "R0_rect": R0, "Tr_velo_to_cam": Tr, "Tr_imu_to_velo": np.eye(4)[:3]}
    return {k: f"{k}: {_fmt(values[k])}" for k in CALIB_KEYS}


def write_calib(path, P2: np.ndarray, Tr_velo_to_cam: np.ndarray | None = None, R0_rect: np.ndarray | None = None,
                dist: dict | None = None) -> None:
    """Write a KITTI calib file (devkit ``readme.txt``) of one camera (:func:`calib_lines`): P0..P3 all equal to
    ``P2`` (3, 4), ``R0_rect`` (3, 3; identity when None), ``Tr_velo_to_cam`` (3, 4; identity when None),
    ``Tr_imu_to_velo`` = I. With a lens ``dist`` (``{"model", "coeffs"}``, docs/conventions.md "Lens distortion") an
    eighth line follows: ``D_02: k1 k2 p1 p2 k3`` (radtan; the key of KITTI raw's ``calib_cam_to_cam.txt``) or
    ``D_02_fisheye: k1 k2 k3 k4``; P2's K is then the distorted camera's.

    Points map as in the devkit: image = P2 · R0_rect · Tr_velo_to_cam · X_velo (homogeneous, R0_rect padded to 4x4).
    A frame's own calibration is written with :func:`write_calib_file` instead.
    """
    lines = list(calib_lines(P2, Tr_velo_to_cam, R0_rect).values())
    if dist is not None:
        lines.append(_dist_line(dist))
    write_text_atomic(Path(path), "\n".join(lines) + "\n")


def _parse_calib_line(key: str, values: str, source) -> np.ndarray:
    """The numbers of one calib line as an array: P*/Tr_*: (3, 4), R0_rect: (3, 3), D_*: 1D.
    Raises ValueError naming ``source`` for text that is not numbers or does not fit the matrix."""
    try:
        a = np.array([float(x) for x in values.split()])
    except ValueError:
        raise ValueError(f"{source}: {key} holds something that is not a number: {values.strip()[:60]!r}") from None
    if key.startswith("D_"):
        return a
    shape = (3, 3) if key == "R0_rect" else (3, 4)
    if a.size != shape[0] * shape[1]:
        raise ValueError(f"{source}: {key} needs {shape[0] * shape[1]} numbers, got {a.size}")
    return a.reshape(shape)


@dataclass(frozen=True)
class CalibFile:
    """A frame's own KITTI calibration, kept as it was read so that a build writes it back unchanged.

    Attributes
    ----------
    lines : dict
        ``{key: line}``: each ``key: numbers`` line of the file as read (its characters up to the line end,
        trailing white space removed), in file order.
    data : bytes or None
        The whole file as read; None for a calibration made from matrices (:meth:`from_arrays`).
    source : str
        Where it came from (file path), for error messages.

    "Unchanged" (:meth:`to_bytes`): a file holding exactly the seven :data:`CALIB_KEYS` lines (KITTI's object
    calib files) is written back byte for byte; otherwise the seven lines are written in KITTI's order, each
    line the file has copied character for character, the others as in :func:`calib_lines` (P0, P1, P3 with
    P2's numbers, identity matrices), other lines left out. Either way every number the file has reads back as
    the same float (the same text is parsed).
    """

    lines: dict
    data: bytes | None = None
    source: str = ""

    @classmethod
    def read(cls, path) -> "CalibFile":
        """Read a calib file (UTF-8 or ASCII; ``\\n`` or ``\\r\\n`` line ends).

        Raises ValueError naming the file for a line whose numbers do not fit its matrix (:meth:`arrays` is
        checked here), or for a file without ``P2``.
        """
        data = Path(path).read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not a text file (a KITTI calib file is ASCII text)") from None
        lines = {}
        for ln in text.splitlines():
            if ":" in ln:
                lines[ln.split(":", 1)[0].strip()] = ln.rstrip()
        calib = cls(lines=lines, data=data, source=str(path))
        if "P2" not in calib.arrays():
            raise ValueError(f"{path}: no P2 line (the projection of the image's camera)")
        return calib

    @classmethod
    def from_arrays(cls, P2: np.ndarray, Tr_velo_to_cam: np.ndarray | None = None, source: str = "") -> "CalibFile":
        """A calibration known only by ``P2`` (3, 4) and, optionally, LiDAR -> rectified camera 0 (3, 4) (e.g.
        ``calib.json``: ``P2``, ``lidar2cam``): lines ``P2`` (and ``Tr_velo_to_cam``) as ``%.12e``; the rest as in
        :func:`calib_lines` (``R0_rect`` = I, since the transform already ends in the rectified frame)."""
        lines = {"P2": f"P2: {_fmt(np.asarray(P2, dtype=np.float64)[:3, :4])}"}
        if Tr_velo_to_cam is not None:
            lines["Tr_velo_to_cam"] = f"Tr_velo_to_cam: {_fmt(np.asarray(Tr_velo_to_cam, dtype=np.float64)[:3, :4])}"
        return cls(lines=lines, source=source)

    def arrays(self) -> dict[str, np.ndarray]:
        """``{key: array}`` of every line (P*: (3, 4), R0_rect: (3, 3), Tr_*: (3, 4), D_*: 1D), float64."""
        return {k: _parse_calib_line(k, ln.split(":", 1)[1], self.source) for k, ln in self.lines.items()}

    def is_complete(self) -> bool:
        """True when the file holds exactly the seven :data:`CALIB_KEYS` lines (KITTI's object calib files)."""
        return self.data is not None and set(self.lines) == set(CALIB_KEYS)

    def to_bytes(self, dist: dict | None = None) -> bytes:
        """The file to write for a frame over this calibration (the rule in the class docstring); with a lens
        ``dist`` (as :func:`write_calib`) its ``D_02`` line follows."""
        if self.is_complete():
            out = self.data
        else:
            p2 = self.lines["P2"].split(":", 1)[1].strip()
            default = {**{k: f"{k}: {p2}" for k in ("P0", "P1", "P3")},
                       **{k: v for k, v in calib_lines(np.zeros((3, 4))).items() if not k.startswith("P")}}
            out = ("\n".join(self.lines[k] if k in self.lines else default[k] for k in CALIB_KEYS) + "\n").encode()
        if dist is not None:
            out = out + (b"" if out.endswith(b"\n") else b"\n") + (_dist_line(dist) + "\n").encode()
        return out


def write_calib_file(path, calib: CalibFile, dist: dict | None = None) -> None:
    """Write a frame's own calibration back unchanged (:meth:`CalibFile.to_bytes`), atomically."""
    with atomic_open(Path(path), "wb") as f:
        f.write(calib.to_bytes(dist))


def read_calib(path) -> dict[str, np.ndarray]:
    """Read a KITTI calib file: {name: array} (P*: (3, 4), R0_rect: (3, 3), Tr_*: (3, 4); D_*: the lens
    coefficients as written by :func:`write_calib`, 1D).

    Raises ValueError naming the file for a line whose numbers do not fit its matrix.
    """
    out = {}
    for ln in Path(path).read_text().splitlines():
        if ":" not in ln:
            continue
        k, v = (s.strip() for s in ln.split(":", 1))
        out[k] = _parse_calib_line(k, v, path)
    return out


def rect_T_velo(calib: dict) -> np.ndarray:
    """(4, 4) LiDAR -> rectified camera 0 of a calib read by :func:`read_calib`: ``R0_rect · Tr_velo_to_cam``
    (KITTI devkit ``readme.txt``; R0_rect padded to 4x4, identity when absent). Raises KeyError without
    Tr_velo_to_cam."""
    R0 = np.eye(4)
    R0[:3, :3] = calib.get("R0_rect", np.eye(3))
    return R0 @ np.vstack([calib["Tr_velo_to_cam"], [0, 0, 0, 1.0]])


def level_frame(world_T_ref: np.ndarray, up_world=(0.0, 0.0, 1.0)) -> np.ndarray:
    """``world_T_level`` (4, 4): the gravity-aligned frame KITTI labels are written in.

    Origin at the origin of frame ``ref`` (KITTI camera 0, or the camera); y along ``-up_world`` (down, the
    ground normal), z along ref's viewing direction (+z) made horizontal (ref's image-up direction -y when it
    looks straight down), x = y × z (right): an OpenCV-like camera frame that has only yawed. KITTI boxes
    only yaw (devkit ``readme.txt``), so upright objects get upright boxes in it whatever the camera's tilt.
    """
    down = -np.asarray(up_world, float) / np.linalg.norm(up_world)
    R = world_T_ref[:3, :3]
    fwd = R[:, 2] - down * (R[:, 2] @ down)
    if np.linalg.norm(fwd) < 1e-6:
        fwd = -R[:, 1] - down * (-R[:, 1] @ down)
    z = fwd / np.linalg.norm(fwd)
    return make_pose(np.stack([np.cross(down, z), down, z], axis=1), world_T_ref[:3, 3])


def _ceil_cm(v: float) -> float:
    """``v`` (m) rounded up to the centimetre KITTI's 2-decimal files keep (1e-9 m of float slack)."""
    return math.ceil(v * 100.0 - 1e-7) / 100.0


def enclosing_box(points: np.ndarray, ry: float) -> tuple:
    """(h, w, l, x, y, z) of the KITTI box with yaw ``ry`` (rad) that encloses ``points`` (n, 3, label frame, m)
    after every figure is written to 2 decimals: the location is rounded, the sizes grown to cover the rounding.

    Box axes as in :meth:`KittiObject.corners`: length along (cos ry, 0, -sin ry), height up (-y), width
    along (sin ry, 0, cos ry); location = bottom face centre (largest y).
    """
    c, s = math.cos(ry), math.sin(ry)
    R = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])  # box -> label frame
    q = np.asarray(points, float) @ R  # label -> box coordinates (R^T p)
    lo, hi = q.min(axis=0), q.max(axis=0)
    centre = R @ np.array([(lo[0] + hi[0]) / 2, 0.0, (lo[2] + hi[2]) / 2])
    x, z = round(float(centre[0]), 2), round(float(centre[2]), 2)
    y = _ceil_cm(float(hi[1]))  # bottom, y down: never above the lowest point
    dx, _, dz = R.T @ np.array([x - centre[0], 0.0, z - centre[2]])
    l = _ceil_cm(float(hi[0] - lo[0]) + 2 * abs(dx))  # noqa: E741 - KITTI's name
    w = _ceil_cm(float(hi[2] - lo[2]) + 2 * abs(dz))
    return _ceil_cm(y - float(lo[1])), w, l, x, y, z


def own_box(label_T_model: np.ndarray, vertices_model: np.ndarray, ry: float) -> tuple:
    """(h, w, l, x, y, z) of an upright object's own box, its lean against the label frame dropped.

    The model frame is the car frame (``assets/cars.py``: x forward, y left, z up, metres): the box is the
    model's axis-aligned bounding box there, ``l, w, h`` its extents along x, y, z and the location the centre
    of its bottom face (the ground contact) mapped into the label frame by ``label_T_model``; every figure
    rounded to the centimetre KITTI's files keep. With the yaw ``ry`` (the heading's, :func:`kitti_object`) the
    box differs from the posed model only by the lean: a point of the model lies at most its distance from the
    bottom centre times sin(lean) outside it (``tests/scenes/test_ar.py``).

    Parameters
    ----------
    label_T_model : (4, 4) float64
        The object's pose in the label frame.
    vertices_model : (n, 3) float
        The model's vertices in its own frame, metres.
    ry : float
        ``rotation_y`` (rad); not used for the figures, which do not depend on it.
    """
    v = np.asarray(vertices_model, np.float64)
    lo, hi = v.min(axis=0), v.max(axis=0)
    bottom = transform_points(label_T_model, np.array([[(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]]]))[0]
    l, w, h = (round(float(e), 2) for e in hi - lo)  # noqa: E741 - KITTI's name
    return h, w, l, round(float(bottom[0]), 2), round(float(bottom[1]), 2), round(float(bottom[2]), 2)


def kitti_object(label, vertices_label: np.ndarray, type_: str, heading: np.ndarray | None,
                 own: tuple | None = None) -> KittiObject | None:
    """KITTI label of one instance (None when no pixel of it is visible).

    ``vertices_label`` (n, 3): the posed model's vertices in the label frame (:func:`label_frame`: KITTI's rectified
    camera 0, a level frame or the photo's camera; metres). ``heading`` (3,): the object's forward axis in that
    frame; the box yaws along its horizontal part (``rotation_y``, rounded to 2 decimals); None gives
    ``rotation_y`` = 0 (objects in any pose). ``own``: None, and the box encloses every vertex
    (:func:`enclosing_box`), so its projection with the written calibration encloses the silhouette; or
    (``label_T_model`` (4, 4), model-frame vertices (n, 3)) of an upright object, which gets its own box with
    its lean dropped (:func:`own_box`; cars in a KITTI frame's camera 0). 2D box from ``bbox_visib``
    (inclusive pixels); ``truncated`` the truncation; ``occluded`` the occlusion level (0/1/2, 3 unknown);
    alpha = rotation_y - atan2(x, z).
    """
    if label.px_count_visib == 0:
        return None
    ry = 0.0 if heading is None else round(wrap_angle(math.atan2(-heading[2], heading[0])), 2)
    h, w, l, x, y, z = enclosing_box(vertices_label, ry) if own is None else own_box(*own, ry)  # noqa: E741 - KITTI's name
    bx, by, bw, bh = label.bbox_visib
    return KittiObject(type_, float(label.truncation), int(label.occlusion_level), wrap_angle(ry - math.atan2(x, z)),
                       (float(bx), float(by), float(bx + bw - 1), float(by + bh - 1)), h, w, l, x, y, z, ry)


def relabel(obj: KittiObject, new_T_old: np.ndarray) -> KittiObject:
    """A real label moved into another frame (e.g. KITTI camera 0 -> the level frame): location and heading are
    transformed, the heading's horizontal part gives ``rotation_y``; sizes are kept (the box stays yaw-only)."""
    if obj.type == "DontCare" or min(obj.h, obj.w, obj.l) <= 0:
        return obj
    c, s = math.cos(obj.rotation_y), math.sin(obj.rotation_y)
    x, y, z = new_T_old[:3, :3] @ np.array([obj.x, obj.y, obj.z]) + new_T_old[:3, 3]
    hd = new_T_old[:3, :3] @ np.array([c, 0.0, -s])
    ry = wrap_angle(math.atan2(-hd[2], hd[0]))
    return replace(obj, x=float(x), y=float(y), z=float(z), rotation_y=ry, alpha=wrap_angle(ry - math.atan2(x, z)))


def merge_kitti(out_dir, split: str) -> Path:
    """Assemble ``DIR/kitti/{image_2,label_2,calib}`` from the complete scenes' ``kitti/`` folders (hard links)."""
    root = Path(out_dir) / "kitti"
    for sub in SUBDIRS:
        (root / sub).mkdir(parents=True, exist_ok=True)
    for scene in scene_dirs(out_dir, split):
        for f in sorted((scene / "kitti").glob("*/*")):
            link_or_copy(f, root / f.parent.name / f.name)
    return root


def own_calib(scene) -> CalibFile | None:
    """The KITTI calibration an AR scene's background came with (:class:`CalibFile`), or None (no AR, or a photo
    without one)."""
    return getattr(scene.ar.background, "kitti_calib", None) if scene.ar is not None else None


def label_frame_name(has_kitti_calib: bool, placement: str | None) -> str:
    """Name of the frame KITTI labels are written in (``gtforge.json`` ``kitti_label_frame``; module docstring):
    ``camera0_rect`` over a background with a KITTI calibration, else ``camera`` for AR ``free`` placement, else
    ``level`` (AR ``ground`` placement, and non-AR scenes: ``placement`` None)."""
    if has_kitti_calib:
        return "camera0_rect"
    return "camera" if placement == "free" else "level"


def label_frame(scene, view, placement: str) -> np.ndarray:
    """``world_T_label`` (4, 4) of the frame a view's KITTI labels are written in (:func:`label_frame_name`).

    AR scenes over a background with a KITTI calibration, and AR ``free`` placement (photos without a known
    ground): the reference frame (KITTI's rectified camera 0, else the photo's camera). Other AR scenes with
    ``ground`` placement and every non-AR scene (world z up): the level frame (:func:`level_frame`) of the
    reference frame (the photo's camera) or of the view's camera.
    """
    if scene.ar is not None:
        world_T_ref = invert_pose(scene.ar.ref_T_world)
        if placement == "free" or own_calib(scene) is not None:
            return world_T_ref
        return level_frame(world_T_ref)
    return level_frame(view.world_T_cam)


def frame_objects(scene, frame, library: ModelLibrary, world_T_label: np.ndarray, ar=None) -> list[KittiObject]:
    """The label lines of one frame: inserted/dropped objects with a visible pixel, then hands, then (AR with
    ``ar.carry_real_labels``) the photo's real labels: as read when the labels are written in the reference
    frame (:func:`label_frame`), else moved into the label frame (:func:`relabel`).

    Objects standing on the ground (AR ``ground`` placement, typed ``ar.kitti_type``) get boxes yawed along
    their x axis: in a KITTI frame's camera 0 their own boxes (:func:`own_box`), else the enclosing ones; every
    other object (typed by class name) and hands (``Hand``) get the box with ``rotation_y`` = 0 that encloses
    them (:func:`kitti_object`).
    """
    label_T_world = invert_pose(world_T_label)
    by_inst = {o.inst_id: o for o in scene.objects}
    upright = ar is not None and ar.placement == "ground"
    own = upright and own_calib(scene) is not None  # cars in a KITTI frame's camera 0: their own boxes
    out = []
    for lab in frame.labels:
        model = library.get(lab.obj_id)
        T = label_T_world @ by_inst[lab.inst_id].world_T_model
        type_ = ar.kitti_type if upright else model.class_name.replace(" ", "_")
        out.append(kitti_object(lab, transform_points(T, model.mesh.vertices), type_, T[:3, 0] if upright else None,
                                (T, model.mesh.vertices) if own else None))
    label_T_cam = label_T_world @ frame.view.world_T_cam
    for hl in frame.hands:
        if hl.vertices_cam is not None:
            fa = getattr(hl, "forearm_vertices_cam", None)  # the forearm is in the hand's masks: box it too
            v = hl.vertices_cam if fa is None else np.vstack([hl.vertices_cam, fa])
            out.append(kitti_object(hl, transform_points(label_T_cam, v), "Hand", None))
    out = [o for o in out if o is not None]
    if ar is not None and ar.carry_real_labels:
        if ar.placement == "free" or own_calib(scene) is not None:  # labels in the reference frame: as read
            out += list(scene.ar.background.labels)
        else:
            label_T_ref = label_T_world @ invert_pose(scene.ar.ref_T_world)
            out += [relabel(o, label_T_ref) for o in scene.ar.background.labels]
    return out


def frame_calib(scene, view, world_T_label: np.ndarray) -> dict[str, np.ndarray]:
    """Calibration of one frame in the ``level`` or ``camera`` frame, for :func:`write_calib`: ``P2`` = K [R | t] of
    ``cam_T_label`` (3, 4), ``R0_rect`` = I (labels are already in the rectified frame), ``Tr_velo_to_cam`` =
    ``label_T_lidar`` (3, 4) when the background has LiDAR, else None. So P2 · X projects label boxes and the
    devkit's P2 · R0_rect · Tr_velo_to_cam · X_velo LiDAR points into the written image. (Over a background with
    its own KITTI calibration the writer copies that instead: :func:`own_calib`, :func:`write_calib_file`.)"""
    cam_T_label = invert_pose(view.world_T_cam) @ world_T_label
    tr = None
    if scene.ar is not None and scene.ar.background.ref_T_lidar is not None:
        tr = (invert_pose(world_T_label) @ invert_pose(scene.ar.ref_T_world) @ scene.ar.background.ref_T_lidar)[:3]
    return {"P2": view.K @ cam_T_label[:3, :4], "R0_rect": np.eye(3), "Tr_velo_to_cam": tr}


class KittiWriter:
    """KITTI object files of one scene, per frame ``kitti/{image_2,label_2,calib}/{frame:06d}.png|txt`` inside the
    scene folder (frame = ``scene_id * 1000 + im_id``); :meth:`merge` links them into ``DIR/kitti``.
    Any scene kind: AR, clutter, hands (labels in :func:`label_frame`; calib the background's own
    (:func:`own_calib`) or :func:`frame_calib`)."""

    def __init__(self, ctx: SceneContext):
        self.root = ctx.folder / "kitti"
        self.scene_id, self.scene, self.library = ctx.scene_id, ctx.scene, ctx.library
        self.ar = ctx.recipe.ar
        for sub in SUBDIRS:
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def add_frame(self, frame: FrameRecord) -> None:
        """Write the frame's image (PNG, when the RGB layer is on), label and calib files."""
        name = f"{self.scene_id * 1000 + frame.im_id:06d}"
        if frame.rgb is not None:
            Image.fromarray(frame.rgb).save(self.root / "image_2" / f"{name}.png", compress_level=1)
        world_T_label = label_frame(self.scene, frame.view, self.ar.placement if self.ar is not None else "")
        write_labels(self.root / "label_2" / f"{name}.txt",
                     frame_objects(self.scene, frame, self.library, world_T_label, self.ar))
        calib, path = own_calib(self.scene), self.root / "calib" / f"{name}.txt"
        if calib is not None:  # the photo's own calibration, unchanged: labels are in its rectified camera 0
            write_calib_file(path, calib, dist=frame.view.cam_dist())
        else:
            write_calib(path, **frame_calib(self.scene, frame.view, world_T_label), dist=frame.view.cam_dist())

    def finish(self) -> None:
        """Nothing left: every file is written with its frame."""

    @classmethod
    def merge(cls, ctx: DatasetContext) -> None:
        """Link every scene's files into ``DIR/kitti`` (:func:`merge_kitti`)."""
        merge_kitti(ctx.root, ctx.split)
