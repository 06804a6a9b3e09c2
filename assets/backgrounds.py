"""Real background photos with calibration and 3D information, and their ground plane.

A :class:`Background` is a photo with its pinhole intrinsics and, when known, the real
scene's 3D information in the **reference frame** (KITTI: the rectified camera-0 frame, in
which labels and LiDAR live; otherwise the photo's own camera frame): LiDAR points, a
depth map of the photo's camera, real object labels (KITTI label_2), a ground plane.
``ref_T_cam`` places the photo's camera in the reference frame (KITTI image 2 sits about
6 cm from camera 0: ``P2 = K [I | t]``).

Sources (``load_backgrounds``):

* ``kitti``: a folder with ``image_2.png``, the frame's calibration as KITTI distributes it
  (``calib.txt``: P0..P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo; read first) or ``calib.json``
  (``P2`` 4x4, ``lidar2cam`` 4x4 = LiDAR -> rectified camera 0), optional ``velodyne.bin`` (float32
  x y z reflectance) and ``label_2.txt`` (one frame).
* ``middlebury_motorcycle``: scikit-image's garage photo ``motorcycle_left.png`` with its
  ground-truth disparity; calibration from scikit-image's documentation (Middlebury 2014,
  down-sampled 4x): f = 994.978 px, c = (311.193, 254.877), doffs = 31.086 px, baseline
  193.001 mm; depth = f * B / (d + doffs).
* ``photos``: photos (files or scikit-image sample names such as ``coffee``) without 3D
  information; intrinsics from ``fov_y_deg``; ground plane, when needed, from
  ``camera_height`` and ``camera_pitch_deg``.
* ``folder``: a background set on disk (``load_folder``): ``image_2/`` (or images at the top)
  and, per image stem, optional ``calib/<stem>.txt`` (KITTI calib: P2, R0_rect, Tr_velo_to_cam, the
  LiDAR mapped to the rectified camera 0 as ``R0_rect · Tr_velo_to_cam`` as in the devkit; else the
  recipe's shared ``intrinsics`` or ``fov_y_deg``), ``velodyne/<stem>.bin``, ``depth/<stem>.png``
  (uint16 mm) or ``.npy`` (float metres), ``disparity/<stem>.npy`` (pixels; depth =
  f * baseline / (d + doffs) with the recipe's ``baseline`` and ``doffs``), ``label_2/<stem>.txt``,
  ``free_space/<stem>.png`` (road / free-space mask, non-zero = free).

A background that comes with a KITTI calibration keeps it (``Background.kitti_calib``, a
``formats.kitti.CalibFile``): KITTI output over it writes that file back unchanged and its labels in
its rectified camera 0 (``formats.kitti.label_frame``); :func:`kitti_label_frames` names the frame of
each background of a recipe from the files alone.

Ground plane: n . p + d = 0 in the reference frame, n a unit vector pointing up (towards
the camera side), d > 0 the camera height. Fitted with RANSAC
(``skimage.measure.ransac``, inlier distance 5 cm) to LiDAR or depth points below the
camera, else built from the recipe's height and pitch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.linalg import rq
from skimage import data as skimage_data
from skimage.measure import ransac

from ..config.sources import resolve_source
from ..core.geometry import backproject, intrinsics_from_fov, invert_pose, transform_points
from ..core.rng import asset_rng
from ..formats.kitti import CalibFile, KittiObject, label_frame_name, read_labels, rect_T_velo


@dataclass
class Background:
    """One real photo and what is known about its scene (see the module docstring)."""

    name: str
    image_source: str  # a file path, or "skimage:<name>"
    width: int
    height: int
    K: np.ndarray  # (3, 3) of the photo's camera
    ref_T_cam: np.ndarray = field(default_factory=lambda: np.eye(4))
    points_ref: np.ndarray | None = None  # (n, 3) metres, reference frame
    depth: np.ndarray | None = None  # (H, W) float32, z in the photo's camera, metres, 0 = unknown
    labels: list = field(default_factory=list)  # KittiObject in the reference frame
    plane: tuple | None = None  # (n (3,), d), reference frame
    ref_T_lidar: np.ndarray | None = None  # (4, 4) LiDAR -> reference frame (KITTI R0_rect · Tr_velo_to_cam)
    free_mask: np.ndarray | None = None  # (H, W) bool, True where objects may stand (road / free space)
    kitti_calib: CalibFile | None = None  # the KITTI calibration the photo came with (written back unchanged)
    _image: np.ndarray | None = field(default=None, repr=False)

    def image(self) -> np.ndarray:
        """The photo, (H, W, 3) uint8 (read once, then cached)."""
        if self._image is None:
            self._image = self._read_image()
        return self._image

    def _read_image(self) -> np.ndarray:
        if self.image_source.startswith("skimage:"):
            img = getattr(skimage_data, self.image_source.split(":", 1)[1])()
            if isinstance(img, tuple):  # stereo_motorcycle -> (left, right, disp)
                img = img[0]
        else:
            img = np.asarray(Image.open(self.image_source).convert("RGB"))
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        return np.ascontiguousarray(img[..., :3]).astype(np.uint8)

    def P2(self) -> np.ndarray:
        """(3, 4) projection of reference-frame points into the photo: K [R | t] of cam_T_ref."""
        return self.K @ invert_pose(self.ref_T_cam)[:3, :4]


class PlaneModel:
    """Plane model for ``skimage.measure.ransac``: params (n (3,), d) with n . p + d = 0, |n| = 1
    (least squares through the points: the normal is the smallest singular vector)."""

    def __init__(self):
        self.params = None

    @classmethod
    def from_estimate(cls, data: np.ndarray):
        """The fitted model, or None for degenerate (collinear) points (ransac skips falsy results)."""
        m = cls()
        return m if m.estimate(data) else None

    def estimate(self, data: np.ndarray) -> bool:
        c = data.mean(axis=0)
        _, s, vt = np.linalg.svd(data - c, full_matrices=False)
        n = vt[-1]
        self.params = (n, -float(n @ c))
        return bool(np.all(np.isfinite(n)) and s[1] > 1e-9)

    def residuals(self, data: np.ndarray) -> np.ndarray:
        n, d = self.params
        return np.abs(data @ n + d)


def fit_ground_plane(points: np.ndarray, seed: int = 0, threshold: float = 0.05):
    """RANSAC ground plane through ``points`` (n, 3) in a camera-like frame (y down); its samples are drawn from
    ``core.rng.asset_rng('ground_plane', seed)`` (``seed``: the recipe's).

    Returns (n (3,), d, inliers (n,) bool) with n pointing up (n_y < 0) and d > 0 (camera above).
    Raises ValueError when fewer than 50 points are given.
    """
    if len(points) < 50:
        raise ValueError(f"too few points for a ground plane ({len(points)})")
    model, inliers = ransac(points, PlaneModel, min_samples=3, residual_threshold=threshold, max_trials=1000,
                            rng=asset_rng("ground_plane", seed))
    n, d = model.params
    if n[1] > 0:
        n, d = -n, -d
    return n / np.linalg.norm(n), float(d), inliers


def plane_from_height_pitch(height: float, pitch_deg: float):
    """Ground plane of a camera ``height`` metres above level ground, pitched down by ``pitch_deg``."""
    t = np.radians(pitch_deg)
    n = np.array([0.0, -np.cos(t), -np.sin(t)])
    return n, float(height)


def _ground_candidates(points: np.ndarray) -> np.ndarray:
    """Points plausibly on the ground: below the camera (y > 0.3 m), ahead (2 < z < 40 m), |x| < 15 m."""
    p = points
    return p[(p[:, 1] > 0.3) & (p[:, 2] > 2.0) & (p[:, 2] < 40.0) & (np.abs(p[:, 0]) < 15.0)]


def camera_from_P(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K (3, 3), ref_T_cam (4, 4)) of a projection ``P`` = K [R | t] (3, 4) of reference-frame points.

    KITTI's P2 = K [I | t] gives R = I (camera 2 translated from camera 0); a P2 with a rotation (as gtforge
    writes for level label frames) is split by RQ decomposition (``scipy.linalg.rq``, diag(K) > 0).
    """
    K, R = rq(np.asarray(P, float)[:3, :3])
    S = np.diag(np.sign(np.diag(K)))
    K, R = K @ S, S @ R
    t = np.linalg.solve(K, np.asarray(P, float)[:3, 3])
    if np.linalg.det(R) < 0:
        raise ValueError("projection matrix with a mirrored rotation")
    cam_T_ref = np.eye(4)
    cam_T_ref[:3, :3], cam_T_ref[:3, 3] = R, t
    return K / K[2, 2], invert_pose(cam_T_ref)


def _check_same_calibration(folder: Path, P2: np.ndarray, ref_T_lidar: np.ndarray | None) -> None:
    """Raise ValueError when a frame folder's ``calib.json`` describes another camera or LiDAR than its ``calib.txt``
    (P2 to 1e-6 relative, LiDAR -> rectified camera 0 to 1e-6: ``calib.json`` may hold float32 values)."""
    j = json.loads((folder / "calib.json").read_text())
    ok = np.allclose(np.asarray(j["P2"], dtype=np.float64)[:3, :4], P2, rtol=1e-6, atol=1e-9)
    if "lidar2cam" in j and ref_T_lidar is not None:
        ok = ok and np.allclose(np.asarray(j["lidar2cam"], dtype=np.float64), ref_T_lidar, rtol=0, atol=1e-6)
    if not ok:
        raise ValueError(f"{folder}: calib.json and calib.txt describe different calibrations (P2 or "
                         "lidar2cam vs R0_rect · Tr_velo_to_cam); keep one of them")


def load_kitti_frame(folder: Path, name: str = "") -> Background:
    """One KITTI frame in the single-folder layout (``image_2.png``, ``calib.txt`` or ``calib.json``, ``velodyne.bin``,
    ``label_2.txt``). The reference frame is KITTI's rectified camera 0: LiDAR points map through
    ``R0_rect · Tr_velo_to_cam`` of ``calib.txt`` (else ``lidar2cam`` of ``calib.json``); ``kitti_calib`` keeps the
    calibration as read (``calib.txt``) or as ``calib.json`` gives it (``CalibFile.from_arrays``).

    Raises ValueError naming the file for a calibration that cannot be read, or the folder when ``calib.txt`` and
    ``calib.json`` disagree.
    """
    if (folder / "calib.txt").is_file():
        own = CalibFile.read(folder / "calib.txt")
        c = own.arrays()
        P2 = c["P2"]
        ref_T_lidar = rect_T_velo(c) if "Tr_velo_to_cam" in c else None
        if (folder / "calib.json").is_file():
            _check_same_calibration(folder, P2, ref_T_lidar)
    else:
        calib = json.loads((folder / "calib.json").read_text())
        P2 = np.asarray(calib["P2"], dtype=np.float64)[:3, :4]
        ref_T_lidar = np.asarray(calib["lidar2cam"], dtype=np.float64) if "lidar2cam" in calib else None
        own = CalibFile.from_arrays(P2, None if ref_T_lidar is None else ref_T_lidar[:3],
                                    source=str(folder / "calib.json"))
    K, ref_T_cam = camera_from_P(P2)
    w, h = Image.open(folder / "image_2.png").size
    bg = Background(name=name or folder.name, image_source=str(folder / "image_2.png"), width=w, height=h, K=K,
                    ref_T_cam=ref_T_cam, ref_T_lidar=ref_T_lidar, kitti_calib=own)
    if (folder / "velodyne.bin").is_file() and bg.ref_T_lidar is not None:
        bg.points_ref = transform_points(bg.ref_T_lidar, read_velodyne(folder / "velodyne.bin"))
    if (folder / "label_2.txt").is_file():
        bg.labels = read_labels(folder / "label_2.txt")
    return bg


MOTORCYCLE = dict(f=994.978, cx=311.193, cy=254.877, doffs=31.086, baseline=0.193001)


def load_motorcycle() -> Background:
    """scikit-image's Middlebury garage photo with depth from its ground-truth disparity."""
    left, _right, disp = skimage_data.stereo_motorcycle()
    m = MOTORCYCLE
    K = np.array([[m["f"], 0, m["cx"]], [0, m["f"], m["cy"]], [0, 0, 1.0]])
    valid = np.isfinite(disp) & (disp > 0)
    depth = np.zeros(disp.shape, np.float32)
    depth[valid] = m["f"] * m["baseline"] / (disp[valid] + m["doffs"])
    h, w = left.shape[:2]
    bg = Background(name="middlebury_motorcycle", image_source="skimage:stereo_motorcycle", width=w, height=h, K=K,
                    depth=depth)
    bg.points_ref = backproject(depth, K, step=7)
    return bg


def load_photo(source: str, fov_y_deg: float) -> Background:
    """A photo without 3D information (file path or scikit-image sample name)."""
    if Path(source).suffix:
        w, h = Image.open(source).size
        src, name = source, Path(source).stem
    else:
        img = getattr(skimage_data, source)()
        h, w = img.shape[:2]
        src, name = f"skimage:{source}", source
    return Background(name=name, image_source=src, width=w, height=h, K=intrinsics_from_fov(fov_y_deg, w, h))


def with_ground_plane(bg: Background, height: float | None, pitch_deg: float, seed: int = 0) -> Background:
    """Attach the ground plane: RANSAC on the background's 3D points, else from height and pitch.

    Raises ValueError when neither 3D points nor a camera height are available.
    """
    if bg.points_ref is not None:
        cand = _ground_candidates(bg.points_ref)
        if len(cand) >= 50:
            n, d, _ = fit_ground_plane(cand, seed=seed)
            bg.plane = (n, d)
            return bg
    if height is None:
        raise ValueError(f"background {bg.name}: no 3D points for a ground plane and no camera_height")
    bg.plane = plane_from_height_pitch(height, pitch_deg)
    return bg


def real_boxes(bg: Background) -> list[KittiObject]:
    """The background's real objects with a 3D box (DontCare and boxes without size are left out)."""
    return [o for o in bg.labels if o.type != "DontCare" and o.h > 0 and o.w > 0 and o.l > 0]


def read_velodyne(path) -> np.ndarray:
    """A KITTI LiDAR sweep (float32 rows x y z reflectance) -> points (n, 3) float64, LiDAR frame, metres."""
    return np.fromfile(path, dtype=np.float32).reshape(-1, 4)[:, :3].astype(np.float64)


def _folder_images(folder: Path) -> list[Path]:
    """The images of a background folder (``image_2/`` or the folder itself), sorted. Raises ValueError when none."""
    img_dir = folder / "image_2" if (folder / "image_2").is_dir() else folder
    images = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not images:
        raise ValueError(f"{img_dir}: no images")
    return images


def kitti_label_frames(ar) -> dict[str, str]:
    """``{background name: frame}`` of the KITTI labels a recipe's ``ar`` section writes over each background
    (``formats.kitti.label_frame_name``: ``camera0_rect``, ``level`` or ``camera``), from the files alone (no image
    is read): a ``kitti`` frame always has its calibration, a ``folder`` image when ``calib/<stem>.txt`` exists."""
    cfg = ar.backgrounds
    if cfg.kind == "kitti":
        own = {Path(cfg.path).name: True}
    elif cfg.kind == "folder":
        folder = Path(cfg.path)
        own = {p.stem: (folder / "calib" / f"{p.stem}.txt").is_file() for p in _folder_images(folder)}
    elif cfg.kind == "middlebury_motorcycle":
        own = {"middlebury_motorcycle": False}
    else:
        own = {(Path(p).stem if Path(p).suffix else p): False for p in cfg.photos}
    return {name: label_frame_name(has, ar.placement) for name, has in own.items()}


def load_folder(folder: Path, cfg) -> list[Background]:
    """A background set on disk (layout in the module docstring), one :class:`Background` per image.

    Raises ValueError naming the file for an image without any intrinsics, unreadable data or a size mismatch.
    """
    folder = Path(folder)
    out = []
    for img in _folder_images(folder):
        stem = img.stem
        w, h = Image.open(img).size
        ref_T_cam = np.eye(4)
        ref_T_lidar = own = None
        calib = folder / "calib" / f"{stem}.txt"
        if calib.is_file():
            own = CalibFile.read(calib)
            c = own.arrays()
            K, ref_T_cam = camera_from_P(c["P2"])
            if "Tr_velo_to_cam" in c:
                ref_T_lidar = rect_T_velo(c)  # R0_rect · Tr_velo_to_cam: labels live in the rectified frame
        elif cfg.intrinsics is not None:
            i = cfg.intrinsics
            K = np.array([[i.fx, 0, i.cx], [0, i.fy, i.cy], [0, 0, 1.0]])
        else:
            K = intrinsics_from_fov(cfg.fov_y_deg, w, h)
        bg = Background(name=stem, image_source=str(img), width=w, height=h, K=K, ref_T_cam=ref_T_cam,
                        ref_T_lidar=ref_T_lidar, kitti_calib=own)
        velo = folder / "velodyne" / f"{stem}.bin"
        if velo.is_file() and ref_T_lidar is not None:
            bg.points_ref = transform_points(ref_T_lidar, read_velodyne(velo))
        for ext in (".npy", ".png"):
            dp = folder / "depth" / f"{stem}{ext}"
            if dp.is_file():
                bg.depth = (np.load(dp) if ext == ".npy" else np.asarray(Image.open(dp), np.float64) / 1000.0).astype(
                    np.float32)
        disp = folder / "disparity" / f"{stem}.npy"
        if bg.depth is None and disp.is_file():
            if cfg.baseline is None:
                raise ValueError(f"{disp}: disparity maps need ar.backgrounds.baseline (metres)")
            d = np.load(disp).astype(np.float64)
            ok = np.isfinite(d) & (d + cfg.doffs > 0)
            bg.depth = np.where(ok, K[0, 0] * cfg.baseline / np.where(ok, d + cfg.doffs, 1.0), 0.0).astype(np.float32)
        if bg.depth is not None:
            if bg.depth.shape != (h, w):
                raise ValueError(f"{folder / 'depth'}: map of {stem} is {bg.depth.shape}, image is {(h, w)}")
            pts = transform_points(ref_T_cam, backproject(bg.depth, K, step=7))
            bg.points_ref = pts if bg.points_ref is None else np.vstack([bg.points_ref, pts])
        lab = folder / "label_2" / f"{stem}.txt"
        if lab.is_file():
            bg.labels = read_labels(lab)
        fm = folder / "free_space" / f"{stem}.png"
        if fm.is_file():
            bg.free_mask = np.asarray(Image.open(fm).convert("L")) > 0
        out.append(bg)
    return out


def load_backgrounds(cfg, base_dir, seed: int = 0, ground: bool = True) -> list[Background]:
    """The backgrounds of a recipe's ``ar.backgrounds`` section, with ground planes when ``ground``.

    Raises ValueError (with the background's name) when a ground plane cannot be made.
    """
    if cfg.kind == "kitti":
        bgs = [load_kitti_frame(Path(cfg.path))]
    elif cfg.kind == "folder":
        bgs = load_folder(Path(cfg.path), cfg)
    elif cfg.kind == "middlebury_motorcycle":
        bgs = [load_motorcycle()]
    else:
        bgs = []
        for p in cfg.photos:
            src = p if not (Path(p).suffix or "/" in p) else str(resolve_source(p, base_dir)[0])
            bgs.append(load_photo(src, cfg.fov_y_deg))
    if ground:
        bgs = [with_ground_plane(b, cfg.camera_height, cfg.camera_pitch_deg, seed) for b in bgs]
    return bgs
