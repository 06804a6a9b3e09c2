"""YOLO output read by the real client: Ultralytics' own dataset checks and loader, compared with COCO.

No training and no download: Ultralytics runs offline (``YOLO_OFFLINE``), with its settings in a
temporary folder (``YOLO_CONFIG_DIR``), and every socket connection fails while these tests run.
"""

import json
import socket
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import ROOT, run_cli
from matplotlib.path import Path as MplPath
from scipy import ndimage

from gtforge.core.hands import KEYPOINT_NAMES
from gtforge.core.labels import mask_bbox
from gtforge.formats.coco import decode_rle
from gtforge.formats.yolo import (
    box_fields, detect_lines, mask_polygon, parse_label_line, pose_lines, read_data_yaml, read_labels, segment_lines,
)

HANDS_RECIPE = ROOT / "recipes" / "hands_objects.yaml"
W, H = 320, 240


@pytest.fixture(scope="module")
def ultralytics_offline(tmp_path_factory):
    """Import Ultralytics with its settings in a temporary folder, offline, with the network cut."""
    cfg = tmp_path_factory.mktemp("ultralytics_cfg")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOLO_OFFLINE", "1")
        mp.setenv("YOLO_CONFIG_DIR", str(cfg))

        def refuse(*_args, **_kwargs):
            raise OSError("network access in a test")

        mp.setattr(socket.socket, "connect", refuse)
        from ultralytics.cfg import get_cfg
        from ultralytics.data import YOLODataset
        from ultralytics.data.utils import check_det_dataset, polygon2mask
        from ultralytics.utils import DEFAULT_CFG

        yield {"check": check_det_dataset, "Dataset": YOLODataset, "hyp": get_cfg(DEFAULT_CFG),
               "polygon2mask": polygon2mask, "cfg": cfg}


@pytest.fixture(scope="module")
def yolo_dataset(tmp_path_factory):
    """The hands recipe (objects and hands) at 320x240, 6 frames, written as BOP, COCO and YOLO."""
    out = tmp_path_factory.mktemp("yolo") / "ds"
    rc = run_cli("build", HANDS_RECIPE, "--out", out, "--quiet", "--set", f"camera.width={W}", "--set",
                 f"camera.height={H}", "--set", "scenes.views_per_scene=2", "--set", "hands.count={min: 2, max: 2}",
                 "--set", "output.formats=[bop, coco, yolo]", "--frames", "6")
    assert rc == 0
    return out


def load(ul, root, task):
    """Ultralytics' check of ``data.yaml``, then its loader over the val images: (data, dataset)."""
    data = ul["check"](Path(root) / "yolo" / task / "data.yaml")
    ds = ul["Dataset"](img_path=data["val"], data=data, task=task, augment=False, hyp=ul["hyp"], imgsz=W,
                       rect=False, batch_size=1)
    return data, ds


def coco_by_frame(root):
    """COCO annotations per YOLO frame name (``{scene_id:06d}_{im_id:06d}``), in file order; categories."""
    doc = json.loads((Path(root) / "instances_train_pbr.json").read_text())
    by_frame = {f"{img['id'] // 1000:06d}_{img['id'] % 1000:06d}": [] for img in doc["images"]}
    for a in doc["annotations"]:
        by_frame[f"{a['image_id'] // 1000:06d}_{a['image_id'] % 1000:06d}"].append(a)
    return by_frame, doc["categories"]


def xyxy_pixels(bboxes_xywhn) -> np.ndarray:
    """Ultralytics' normalised centre boxes (N, 4) -> pixel corners (N, 4)."""
    b = np.asarray(bboxes_xywhn, dtype=np.float64).reshape(-1, 4) * [W, H, W, H]
    return np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], axis=1)


def coco_xyxy(anns) -> np.ndarray:
    return np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                     for a in anns], dtype=np.float64).reshape(-1, 4)


def random_masks(n):
    """Seeded random masks: thresholded smoothed noise (many pieces, holes, image borders)."""
    rng = np.random.default_rng(12)
    for _ in range(n):
        noise = ndimage.gaussian_filter(rng.standard_normal((40, 50)), sigma=rng.uniform(1, 4))
        yield noise > rng.uniform(0.0, 0.3) * noise.std()


def test_polygon_box_is_exactly_the_mask_box():
    for mask in random_masks(60):
        if not mask.any():
            continue
        poly = mask_polygon(mask)
        x, y, w, h = mask_bbox(mask)  # column u spans [u, u + 1): the box's edges are x and x + w
        assert poly.min(axis=0).tolist() == [x, y] and poly.max(axis=0).tolist() == [x + w, y + h]


def test_polygon_of_one_piece_contains_exactly_its_pixel_centres():
    checked = 0
    for mask in random_masks(60):
        pieces, n = ndimage.label(mask)
        if n == 0:
            continue
        piece = ndimage.binary_fill_holes(pieces == 1 + np.argmax(ndimage.sum(mask, pieces, range(1, n + 1))))
        vv, uu = np.mgrid[: mask.shape[0], : mask.shape[1]]
        centres = np.stack([uu.ravel() + 0.5, vv.ravel() + 0.5], axis=1)
        inside = MplPath(mask_polygon(piece)).contains_points(centres).reshape(mask.shape)
        assert np.array_equal(inside, piece)
        checked += 1
    assert checked > 40


def test_box_fields_normalise_pixel_edges():
    assert box_fields([0, 0, W, H], W, H) == [0.5, 0.5, 1.0, 1.0]
    assert box_fields([10, 20, 1, 2], W, H) == [10.5 / W, 21 / H, 1 / W, 2 / H]
    with pytest.raises(ValueError, match="empty box"):
        box_fields([-1, -1, -1, -1], W, H)


def test_ultralytics_checks_the_written_data_yaml(ultralytics_offline, yolo_dataset):
    ul, root = ultralytics_offline, yolo_dataset
    _, categories = coco_by_frame(root)
    for task in ("detect", "segment"):
        data = ul["check"](root / "yolo" / task / "data.yaml")
        assert data["names"] == {c["id"] - 1: c["name"] for c in categories}  # obj_id - 1; hand last
        assert data["names"][data["nc"] - 1] == "hand"
    pose = ul["check"](root / "yolo" / "pose" / "data.yaml")
    assert pose["names"] == {0: "hand"} and pose["kpt_shape"] == [21, 3]
    assert pose["kpt_names"] == {0: list(KEYPOINT_NAMES)}
    assert (Path(ul["cfg"]) / "Ultralytics" / "settings.json").is_file()  # settings went to the temporary folder
    assert not (ROOT / "Ultralytics").exists() and not (ROOT / "datasets").exists()


@pytest.mark.parametrize("task", ["detect", "segment"])
def test_boxes_read_by_ultralytics_equal_coco(ultralytics_offline, yolo_dataset, task):
    by_frame, _ = coco_by_frame(yolo_dataset)
    _, ds = load(ultralytics_offline, yolo_dataset, task)
    assert sorted(Path(lb["im_file"]).stem for lb in ds.labels) == sorted(by_frame)
    n = 0
    for lb in ds.labels:
        anns = by_frame[Path(lb["im_file"]).stem]
        assert lb["shape"] == (H, W)
        assert lb["cls"].reshape(-1).tolist() == [a["category_id"] - 1 for a in anns]
        err = np.abs(xyxy_pixels(lb["bboxes"]) - coco_xyxy(anns))
        assert err.size == 0 or err.max() <= 0.5
        n += len(anns)
    assert n > 20
    item = ds[0]  # the whole loading pipeline (image, letterbox, formatting) runs on a written frame
    assert tuple(item["img"].shape) == (3, W, W) and item["bboxes"].shape[0] == len(ds.labels[0]["cls"])


def test_segments_read_by_ultralytics_rasterise_to_mask_visib(ultralytics_offline, yolo_dataset):
    """Ultralytics' own rasterisation of each polygon it read (cv2.fillPoly, full resolution) against COCO's
    ``segmentation`` (= ``mask_visib``), holes filled: it loses no pixel off the mask's one-pixel boundary band,
    and for a one-piece mask it differs from it only on that band (several pieces: fillPoly also draws the
    zero-width bridges)."""
    by_frame, _ = coco_by_frame(yolo_dataset)
    _, ds = load(ultralytics_offline, yolo_dataset, "segment")
    ious, pieces = [], 0
    for lb in ds.labels:
        anns = by_frame[Path(lb["im_file"]).stem]
        assert len(lb["segments"]) == len(anns)
        for seg, a in zip(lb["segments"], anns):
            truth = ndimage.binary_fill_holes(decode_rle(a["segmentation"]))
            drawn = ultralytics_offline["polygon2mask"]((H, W), [(seg * [W, H]).reshape(-1)], color=1,
                                                        downsample_ratio=1).astype(bool)
            band = ndimage.binary_dilation(truth) ^ ndimage.binary_erosion(truth)
            assert not (truth & ~drawn & ~band).any(), (lb["im_file"], a["id"])
            if ndimage.label(truth)[1] > 1:
                pieces += 1
                continue
            assert not ((drawn ^ truth) & ~band).any(), (lb["im_file"], a["id"])
            ious.append((drawn & truth).sum() / (drawn | truth).sum())
    assert len(ious) >= 10 and pieces >= 3 and np.median(ious) > 0.8


def test_hand_keypoints_read_by_ultralytics_equal_coco(ultralytics_offline, yolo_dataset):
    by_frame, categories = coco_by_frame(yolo_dataset)
    hand_cat = next(c["id"] for c in categories if c["name"] == "hand")
    data, ds = load(ultralytics_offline, yolo_dataset, "pose")
    n_occluded = n_visible = 0
    for lb in ds.labels:
        hands = [a for a in by_frame[Path(lb["im_file"]).stem] if a["category_id"] == hand_cat]
        assert lb["cls"].reshape(-1).tolist() == [0] * len(hands)
        err = np.abs(xyxy_pixels(lb["bboxes"]) - coco_xyxy(hands))
        assert err.size == 0 or err.max() <= 0.5
        kps = np.asarray(lb["keypoints"], dtype=np.float64).reshape(-1, 21, 3)
        for got, a in zip(kps, hands):
            want = np.asarray(a["keypoints"], dtype=np.float64).reshape(21, 3)
            assert got[:, 2].tolist() == want[:, 2].tolist()  # COCO's v: 0 outside, 1 occluded, 2 visible
            seen = want[:, 2] > 0
            assert np.abs(got[seen, :2] * [W, H] - 0.5 - want[seen, :2]).max() < 1e-3  # pixel centres at integers
            n_occluded += int((want[:, 2] == 1).sum())
            n_visible += int((want[:, 2] == 2).sum())
    assert n_occluded > 0 and n_visible > 0
    item = next(ds[i] for i, lb in enumerate(ds.labels) if len(lb["cls"]))
    assert tuple(item["keypoints"].shape[1:]) == (21, 3)


def test_yolo_without_rgb_is_a_recipe_error(tmp_path, capsys):
    rc = run_cli("build", HANDS_RECIPE, "--out", tmp_path / "ds", "--quiet", "--set", "output.formats=[bop, yolo]",
                 "--set", "output.layers.rgb=false")
    assert rc == 2 and "the yolo format refers to RGB images" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_the_reader_reads_back_what_the_writer_writes(tmp_path):
    """Round trip of the three line kinds through :func:`read_labels` (the reader beside the writer)."""
    mask = np.zeros((H, W), bool)
    mask[40:60, 100:130] = True
    inst = SimpleNamespace(bbox_visib=[100, 40, 30, 20], px_count_visib=600, mask_visib=mask)
    kps = [(10 + i, 20 + 2 * i) for i in range(21)]
    vis = [2] * 20 + [0]
    hand = SimpleNamespace(bbox_visib=[5, 15, 40, 70], px_count_visib=900, keypoints_2d=kps, visibility=vis)
    lines = (detect_lines([inst], lambda _x: 3, W, H) + segment_lines([inst], lambda _x: 3, W, H)
             + pose_lines([hand], W, H))
    (tmp_path / "a.txt").write_text("".join(ln + "\n" for ln in lines) + "\n")
    box, seg, pose = read_labels(tmp_path / "a.txt", kpt_shape=[21, 3])
    assert box.cls == 3 and np.allclose(box.box, np.array(box_fields(inst.bbox_visib, W, H)), atol=1e-6)
    assert seg.polygon is not None and np.allclose(seg.box, box.box, atol=1e-6)  # the polygon's box is the box
    assert pose.cls == 0 and pose.keypoints.shape == (21, 3)
    assert np.allclose(pose.keypoints[:20, 0] * W - 0.5, [u for u, _ in kps[:20]], atol=1e-4)
    assert pose.keypoints[20].tolist() == [0.0, 0.0, 0.0]
    assert np.allclose(pose.box, box_fields(hand.bbox_visib, W, H), atol=1e-6)


def test_the_reader_names_bad_lines(tmp_path):
    for line, msg in (("0 0.5 0.5 1.2 0.5", "normalised"), ("0.5 0.5 0.5 0.5 0.5", "integer"),
                      ("0 0.5 0.5 0.5", "3 values"), ("0 a 0.5 0.5 0.5", "not a number")):
        with pytest.raises(ValueError, match=msg):
            parse_label_line(line)
    (tmp_path / "b.txt").write_text("0 0.5 0.5 0.5 0.5\n0 0.5 0.5 0.5 1.5\n")
    with pytest.raises(ValueError, match=r"b\.txt:2: "):
        read_labels(tmp_path / "b.txt")
    (tmp_path / "data.yaml").write_text("names: [mug, duck]\nnc: 2\n")
    assert read_data_yaml(tmp_path / "data.yaml")["names"] == {0: "mug", 1: "duck"}
    (tmp_path / "bad.yaml").write_text("names: 3\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: names: must be a list or a mapping"):
        read_data_yaml(tmp_path / "bad.yaml")
