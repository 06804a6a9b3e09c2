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
``R0_rect:`` (9), ``Tr_velo_to_cam:`` and ``Tr_imu_to_velo:`` (12 each).
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.geometry import transform_points
from .atomic import write_text_atomic
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


def write_calib(path, P2: np.ndarray, Tr_velo_to_cam: np.ndarray | None = None) -> None:
    """Write a KITTI calib file; P0, P1, P3 are written equal to P2 (one camera), R0_rect = I."""
    P2 = np.asarray(P2, dtype=np.float64)[:3, :4]
    Tr = np.eye(4)[:3] if Tr_velo_to_cam is None else np.asarray(Tr_velo_to_cam, dtype=np.float64)[:3, :4]
    fmt = lambda a: " ".join(f"{x:.12e}" for x in np.asarray(a).reshape(-1))  # noqa: E731
    lines = [f"P{i}: {fmt(P2)}" for i in range(4)] + [f"R0_rect: {fmt(np.eye(3))}", f"Tr_velo_to_cam: {fmt(Tr)}",
                                                      f"Tr_imu_to_velo: {fmt(np.eye(4)[:3])}"]
    write_text_atomic(Path(path), "\n".join(lines) + "\n")


def read_calib(path) -> dict[str, np.ndarray]:
    """Read a KITTI calib file: {name: array} (P*: (3, 4), R0_rect: (3, 3), Tr_*: (3, 4))."""
    out = {}
    for ln in Path(path).read_text().splitlines():
        if ":" not in ln:
            continue
        k, v = ln.split(":", 1)
        a = np.array([float(x) for x in v.split()])
        out[k.strip()] = a.reshape(3, 3) if k.strip() == "R0_rect" else a.reshape(3, 4)
    return out


def kitti_object(label, obj, mesh_bounds, ref_T_world: np.ndarray, type_: str = "Car") -> KittiObject | None:
    """KITTI label of an inserted object (None when no pixel of it is visible).

    The 3D box is the model's bounding box (``mesh_bounds`` (2, 3), model frame: x length, y width,
    z up); location its bottom centre in the reference frame (KITTI camera 0); rotation_y from its
    x axis; the 2D box from ``bbox_visib``; ``truncated`` the truncation, ``occluded`` the occlusion
    level (0/1/2, 3 unknown).
    """
    if label.px_count_visib == 0:
        return None
    lo, hi = np.asarray(mesh_bounds[0]), np.asarray(mesh_bounds[1])
    ref_T_model = ref_T_world @ obj.world_T_model
    bottom = ref_T_model[:3, :3] @ np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]]) + ref_T_model[:3, 3]
    heading = ref_T_model[:3, :3] @ np.array([1.0, 0.0, 0.0])
    ry = wrap_angle(math.atan2(-heading[2], heading[0]))
    x, y, z = (float(c) for c in bottom)
    bx, by, bw, bh = label.bbox_visib
    return KittiObject(type_, float(label.truncation), int(label.occlusion_level), wrap_angle(ry - math.atan2(x, z)),
                       (float(bx), float(by), float(bx + bw - 1), float(by + bh - 1)), float(hi[2] - lo[2]),
                       float(hi[1] - lo[1]), float(hi[0] - lo[0]), x, y, z, ry)


def kitti_object_enclosing(label, obj, mesh, ref_T_world: np.ndarray, type_: str) -> KittiObject | None:
    """KITTI label of an object in any pose: the box aligned with camera 0's axes that encloses the posed
    model (``rotation_y`` = 0), e.g. for cut-and-paste objects. None when nothing of it is visible."""
    if label.px_count_visib == 0:
        return None
    v = transform_points(ref_T_world @ obj.world_T_model, mesh.vertices)
    lo, hi = v.min(axis=0), v.max(axis=0)
    x, y, z = float((lo[0] + hi[0]) / 2), float(hi[1]), float((lo[2] + hi[2]) / 2)  # y down: bottom = max y
    bx, by, bw, bh = label.bbox_visib
    return KittiObject(type_, float(label.truncation), int(label.occlusion_level), wrap_angle(-math.atan2(x, z)),
                       (float(bx), float(by), float(bx + bw - 1), float(by + bh - 1)), float(hi[1] - lo[1]),
                       float(hi[2] - lo[2]), float(hi[0] - lo[0]), x, y, z, 0.0)


def merge_kitti(out_dir, split: str) -> Path:
    """Assemble ``DIR/kitti/{image_2,label_2,calib}`` from the complete scenes' ``kitti/`` folders (hard links)."""
    root = Path(out_dir) / "kitti"
    for sub in SUBDIRS:
        (root / sub).mkdir(parents=True, exist_ok=True)
    for scene in scene_dirs(out_dir, split):
        for f in sorted((scene / "kitti").glob("*/*")):
            dst = root / f.parent.name / f.name
            if dst.exists():
                dst.unlink()
            try:
                os.link(f, dst)
            except OSError:
                shutil.copy2(f, dst)
    return root


def frame_objects(scene, labels, library, placement: str, kitti_type: str, carry_real_labels: bool) -> list[KittiObject]:
    """The label lines of one AR frame: the inserted objects with a visible pixel, then (optionally) the real ones.

    ``placement`` 'ground': yawed boxes of objects standing on the ground plane (:func:`kitti_object`,
    typed ``kitti_type``); 'free': camera-aligned boxes enclosing objects in any pose
    (:func:`kitti_object_enclosing`, typed by class name).
    """
    by_inst = {o.inst_id: o for o in scene.objects}
    ref_T_world = scene.ar.ref_T_world
    if placement == "ground":
        objs = [kitti_object(lab, by_inst[lab.inst_id], library.get(lab.obj_id).mesh.bounds, ref_T_world, kitti_type)
                for lab in labels]
    else:
        objs = [kitti_object_enclosing(lab, by_inst[lab.inst_id], library.get(lab.obj_id).mesh, ref_T_world,
                                       library.get(lab.obj_id).class_name.replace(" ", "_")) for lab in labels]
    objs = [o for o in objs if o is not None]
    if carry_real_labels:
        objs += list(scene.ar.background.labels)
    return objs


class KittiWriter:
    """KITTI object files of one AR scene, per frame ``kitti/{image_2,label_2,calib}/{frame:06d}.png|txt``
    inside the scene folder (frame = ``scene_id * 1000 + im_id``); :meth:`merge` links them into ``DIR/kitti``."""

    def __init__(self, ctx: SceneContext):
        self.root = ctx.folder / "kitti"
        self.scene_id, self.scene, self.library = ctx.scene_id, ctx.scene, ctx.library
        self.ar = ctx.recipe.ar
        for sub in SUBDIRS:
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def add_frame(self, frame: FrameRecord) -> None:
        """Write the frame's image (PNG), label and calib files."""
        name = f"{self.scene_id * 1000 + frame.im_id:06d}"
        Image.fromarray(frame.rgb).save(self.root / "image_2" / f"{name}.png", compress_level=1)
        objs = frame_objects(self.scene, frame.labels, self.library, self.ar.placement, self.ar.kitti_type,
                             self.ar.carry_real_labels)
        write_labels(self.root / "label_2" / f"{name}.txt", objs)
        bg = self.scene.ar.background
        write_calib(self.root / "calib" / f"{name}.txt", bg.P2(), bg.ref_T_lidar)

    def finish(self) -> None:
        """Nothing left: every file is written with its frame."""

    @classmethod
    def merge(cls, ctx: DatasetContext) -> None:
        """Link every scene's files into ``DIR/kitti`` (:func:`merge_kitti`)."""
        merge_kitti(ctx.root, ctx.split)
