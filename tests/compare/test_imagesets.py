"""compare/imagesets.py: every layout read from tiny fixture sets the tests write, every bad input named.

Boxes are checked against the numbers written into each fixture (independent of the readers); the e2e test
reads one gtforge build through all five of its written layouts and requires the same boxes from each.
"""

import json
import math

import numpy as np
import pytest
import yaml
from conftest import ROOT, run_cli
from PIL import Image, UnidentifiedImageError

from gtforge.compare.imagesets import (
    CompareInputError, ImageSet, MissingExtraError, common_size, detect_format, image_array, load_image_set,
    read_rgb, require_extra, subsample,
)


def write_image(path, size=(40, 30), colour=(120, 60, 30), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, fmt)
    return path


# ----------------------------------------------------------------------------------------------- folder

def test_folder_is_read_recursively_sorted_and_unlabelled(tmp_path):
    write_image(tmp_path / "b.png")
    write_image(tmp_path / "sub" / "a.jpg")
    write_image(tmp_path / ".hidden" / "c.png")
    (tmp_path / "notes.txt").write_text("not an image")
    s = load_image_set(tmp_path)
    assert s.format == "folder" and not s.labelled
    assert [r.path.relative_to(tmp_path).as_posix() for r in s.records] == ["b.png", "sub/a.jpg"]
    assert all(r.labels is None and (r.width, r.height) == (40, 30) for r in s.records)
    assert s.notes == ()
    assert s.groups is None  # a folder's images are taken as independent samples


def test_mixed_sizes_are_said_in_the_notes(tmp_path):
    for i in range(3):
        write_image(tmp_path / f"a{i}.png", (40, 30))
    write_image(tmp_path / "b.png", (20, 10))
    s = load_image_set(tmp_path)
    assert common_size(s.records) == (40, 30)
    assert any("2 sizes" in n and "40x30" in n for n in s.notes)


def test_subsample_is_seeded_sorted_and_without_repeats(tmp_path):
    for i in range(20):
        write_image(tmp_path / f"{i:02d}.png")
    a = load_image_set(tmp_path, max_images=5, seed=3)
    b = load_image_set(tmp_path, max_images=5, seed=3)
    c = load_image_set(tmp_path, max_images=5, seed=4)
    names = [r.path.name for r in a.records]
    assert names == [r.path.name for r in b.records] and len(set(names)) == 5 and names == sorted(names)
    assert names != [r.path.name for r in c.records]
    assert len(load_image_set(tmp_path, max_images=50).records) == 20
    assert subsample(10, None, 0).tolist() == list(range(10))


def test_read_rgb_converts_modes_and_resizes(tmp_path):
    Image.new("L", (8, 6), 77).save(tmp_path / "g.png")
    Image.new("RGBA", (8, 6), (10, 20, 30, 40)).save(tmp_path / "a.png")
    Image.fromarray(np.full((6, 8), 65535, np.uint16)).save(tmp_path / "d.png")
    s = load_image_set(tmp_path)
    by = {r.path.name: r for r in s.records}
    assert read_rgb(by["g.png"]).tolist() == np.full((6, 8, 3), 77).tolist()
    assert read_rgb(by["a.png"])[0, 0].tolist() == [10, 20, 30]
    assert read_rgb(by["d.png"]).max() == 255
    assert read_rgb(by["g.png"], (4, 3)).shape == (3, 4, 3)
    arr = image_array(s, (5, 4), max_images=2, seed=1)
    assert arr.shape == (2, 4, 5, 3) and arr.dtype == np.uint8


# ----------------------------------------------------------------------------------------------- COCO

HAND_KPS = [float(v) for i in range(21) for v in (10 + i, 5 + i, 2)]


def coco_fixture(root, images_dir="images"):
    write_image(root / images_dir / "0.jpg", (64, 48))
    write_image(root / images_dir / "1.jpg", (64, 48))
    doc = {
        "images": [{"id": 7, "file_name": "0.jpg", "width": 64, "height": 48},
                   {"id": 8, "file_name": "1.jpg", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "mug"}, {"id": 3, "name": "hand"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "bbox": [1, 2, 10, 20], "iscrowd": 0, "area": 200},
            {"id": 2, "image_id": 7, "category_id": 3, "bbox": [5, 5, 30, 30], "iscrowd": 0, "keypoints": HAND_KPS},
            {"id": 3, "image_id": 7, "category_id": 1, "bbox": [0, 0, 64, 48], "iscrowd": 1},
            {"id": 4, "image_id": 8, "category_id": 1, "bbox": [3, 4, 5, 6], "iscrowd": 0, "visib_fract": 0.5,
             "truncation": 0.25, "occlusion_level": 1, "cam_R_m2c": [1, 0, 0, 0, 1, 0, 0, 0, 1],
             "cam_t_m2c": [10.0, 20.0, 500.0]},
        ],
    }
    (root / "instances.json").write_text(json.dumps(doc))
    return root / "instances.json"


def test_coco_labels_names_keypoints_and_gtforge_fields(tmp_path):
    path = coco_fixture(tmp_path)
    for arg in (path, tmp_path):
        s = load_image_set(arg)
        assert s.format == "coco" and s.labelled
        assert [r.path.name for r in s.records] == ["0.jpg", "1.jpg"]
        first, second = s.records[0].labels, s.records[1].labels
        assert [(lab.category, lab.bbox) for lab in first] == [("mug", (1.0, 2.0, 10.0, 20.0)),
                                                                ("hand", (5.0, 5.0, 30.0, 30.0))]
        assert first[1].keypoints.shape == (21, 3) and first[1].keypoints[3].tolist() == [13, 8, 2]
        assert first[0].keypoints is None and first[0].cam_R_m2c is None
        lab = second[0]
        assert (lab.visib_fract, lab.truncation, lab.occlusion_level) == (0.5, 0.25, 1)
        assert lab.cam_t_m2c.tolist() == [0.01, 0.02, 0.5] and lab.cam_R_m2c.tolist() == np.eye(3).tolist()
        assert any("1 crowd" in n for n in s.notes)


def test_coco_images_beside_the_json_are_found(tmp_path):
    coco_fixture(tmp_path, images_dir=".")
    assert len(load_image_set(tmp_path / "instances.json").records) == 2


def test_coco_own_layout_and_sizes_that_differ_from_the_json(tmp_path):
    """COCO's layout: annotations/instances_val2017.json, images in val2017/ beside annotations/."""
    path = coco_fixture(tmp_path / "coco", images_dir="val2017")
    (tmp_path / "coco" / "annotations").mkdir()
    moved = path.rename(tmp_path / "coco" / "annotations" / "instances_val2017.json")
    write_image(tmp_path / "coco" / "val2017" / "1.jpg", (32, 24))
    s = load_image_set(tmp_path / "coco")
    assert s.format == "coco" and [r.path for r in s.records] == [tmp_path / "coco" / "val2017" / "0.jpg",
                                                                  tmp_path / "coco" / "val2017" / "1.jpg"]
    assert (s.records[1].width, s.records[1].height) == (32, 24)
    assert any("1 images are not the size" in n for n in s.notes) and load_image_set(moved).records


# ----------------------------------------------------------------------------------------------- BOP

def bop_scene(scene, with_occlusion=False):
    write_image(scene / "rgb" / "000000.png", (64, 48))
    write_image(scene / "rgb" / "000001.png", (64, 48))
    R = [0, -1, 0, 1, 0, 0, 0, 0, 1]
    gt = {"0": [{"obj_id": 2, "cam_R_m2c": R, "cam_t_m2c": [0, 0, 800]},
                {"obj_id": 5, "cam_R_m2c": R, "cam_t_m2c": [0, 0, 900]}],
          "1": [{"obj_id": 5, "cam_R_m2c": R, "cam_t_m2c": [100, 0, 1000]}]}
    info = {"0": [{"bbox_visib": [3, 4, 9, 19], "visib_fract": 0.8},
                  {"bbox_visib": [-1, -1, -1, -1], "visib_fract": 0.0}],
            "1": [{"bbox_visib": [0, 0, 63, 47], "visib_fract": 1.0}]}
    (scene / "scene_gt.json").write_text(json.dumps(gt))
    (scene / "scene_gt_info.json").write_text(json.dumps(info))
    if with_occlusion:
        occ = {"0": [{"truncation": 0.1, "occlusion_level": 1}, {"truncation": 0.0, "occlusion_level": 3}],
               "1": [{"truncation": 0.0, "occlusion_level": 0}]}
        (scene / "scene_gt_occlusion.json").write_text(json.dumps(occ))


def test_bop_split_scene_and_root_folders(tmp_path):
    bop_scene(tmp_path / "ds" / "test" / "000001", with_occlusion=True)
    for arg in (tmp_path / "ds" / "test", tmp_path / "ds" / "test" / "000001", tmp_path / "ds"):
        s = load_image_set(arg)
        assert s.format == "bop" and len(s.records) == 2
        first = s.records[0].labels
        assert len(first) == 1  # the invisible instance is not a label
        lab = first[0]
        assert lab.category == "obj_000002" and lab.bbox == (3.0, 4.0, 10.0, 20.0)  # BOP w = x_max - x_min
        assert lab.visib_fract == 0.8 and lab.truncation == 0.1 and lab.occlusion_level == 1
        assert lab.cam_t_m2c.tolist() == [0.0, 0.0, 0.8]
        assert s.records[1].labels[0].bbox == (0.0, 0.0, 64.0, 48.0)
    bop_scene(tmp_path / "ds" / "test" / "000002")
    s = load_image_set(tmp_path / "ds" / "test")
    scene_dirs = [str(tmp_path / "ds" / "test" / name) for name in ("000001", "000001", "000002", "000002")]
    assert s.groups == scene_dirs  # views of one scene: one group (the two-sample test's folds keep it whole)


def test_bop_dataset_with_several_splits_asks_for_one(tmp_path):
    bop_scene(tmp_path / "ds" / "test" / "000001")
    bop_scene(tmp_path / "ds" / "val" / "000001")
    with pytest.raises(CompareInputError, match=r"ds: a BOP dataset with several splits \(test, val\)"):
        load_image_set(tmp_path / "ds")
    assert load_image_set(tmp_path / "ds" / "val").records[0].labels[0].truncation is None


# ----------------------------------------------------------------------------------------------- KITTI

def test_kitti_labels_boxes_and_poses(tmp_path):
    write_image(tmp_path / "training" / "image_2" / "000000.png", (100, 50))
    (tmp_path / "training" / "label_2").mkdir(parents=True)
    (tmp_path / "training" / "label_2" / "000000.txt").write_text(
        "Car 0.25 1 0.00 10.00 20.00 29.00 39.00 1.50 1.60 4.00 0.00 1.65 10.00 0.00\n"
        "DontCare -1 -1 -10 50.00 10.00 60.00 20.00 -1 -1 -1 -1000 -1000 -1000 -10\n")
    s = load_image_set(tmp_path)
    assert s.format == "kitti" and s.labelled
    (lab,) = s.records[0].labels
    assert lab.category == "Car" and lab.bbox == (10.0, 20.0, 20.0, 20.0)  # inclusive corners, as gtforge writes
    assert lab.truncation == 0.25 and lab.occlusion_level == 1
    # The car heads along camera x (rotation_y = 0), its bottom 1.65 m below the camera and 10 m ahead: the
    # camera sees its right side (model -y) from 1.65 m above its ground contact.
    c = -lab.cam_R_m2c.T @ lab.cam_t_m2c
    assert np.allclose(c, [0.0, -10.0, 1.65])
    assert np.allclose(lab.cam_R_m2c @ lab.cam_R_m2c.T, np.eye(3)) and np.isclose(np.linalg.det(lab.cam_R_m2c), 1)


def test_kitti_without_label_2_is_unlabelled(tmp_path):
    write_image(tmp_path / "image_2" / "000000.png")
    s = load_image_set(tmp_path)
    assert s.format == "kitti" and not s.labelled and s.notes


# ----------------------------------------------------------------------------------------------- YOLO

def test_yolo_boxes_polygons_and_pose_lines(tmp_path):
    root = tmp_path / "y"
    write_image(root / "images" / "train" / "a.png", (40, 30))
    write_image(root / "images" / "train" / "b.png", (40, 30))  # no label file: no instance
    (root / "labels" / "train").mkdir(parents=True)
    kps = " ".join(f"{(10 + i + 0.5) / 40:.6f} {(5 + 0.5) / 30:.6f} 2" for i in range(21))
    (root / "labels" / "train" / "a.txt").write_text(
        "0 0.5 0.5 0.25 0.2\n"
        "1 0.1 0.1 0.3 0.1 0.2 0.4\n"
        f"2 0.5 0.5 1 1 {kps}\n")
    (root / "data.yaml").write_text(yaml.safe_dump({"train": "images/train", "val": "images/train",
                                                    "names": ["mug", "duck", "hand"], "kpt_shape": [21, 3]}))
    s = load_image_set(root)
    assert s.format == "yolo" and s.labelled and [r.path.name for r in s.records] == ["a.png", "b.png"]
    box, poly, hand = s.records[0].labels
    assert box.category == "mug" and np.allclose(box.bbox, (15, 12, 10, 6))
    assert poly.category == "duck" and np.allclose(poly.bbox, (4, 3, 8, 9))  # the polygon's bounds
    assert hand.category == "hand" and np.allclose(hand.keypoints[4], [14, 5, 2])  # pixel centres at integers
    assert s.records[1].labels == ()


def test_yolo_without_data_yaml_names_classes_by_index(tmp_path):
    write_image(tmp_path / "images" / "a.png", (40, 30))
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("3 0.5 0.5 0.5 0.5\n")
    s = load_image_set(tmp_path)
    assert s.format == "yolo" and s.records[0].labels[0].category == "3" and s.notes


# ----------------------------------------------------------------------------------------------- bad input

def test_require_extra():
    require_extra("json")
    with pytest.raises(MissingExtraError, match=r"no_such_module_xyz.*pip install -e '\.\[tune\]'"):
        require_extra("no_such_module_xyz")


def bad_inputs(tmp_path):
    """(path, fmt, pattern the message must match) of every kind of bad input."""
    cases = []
    cases.append((tmp_path / "missing", "auto", r"missing: no such file or folder"))
    (tmp_path / "empty").mkdir()
    cases.append((tmp_path / "empty", "auto", r"empty: no images found"))
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "a.txt").write_text("x")
    cases.append((tmp_path / "text", "auto", r"text: no images found"))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"not a png at all")
    cases.append((tmp_path / "broken", "auto", r"broken/a\.png: not a readable image"))
    write_image(tmp_path / "fmt" / "a.png")
    cases.append((tmp_path / "fmt", "pascal", r"fmt: unknown format 'pascal'"))
    # COCO: syntax, a missing key, an unknown image, a missing image file
    (tmp_path / "c1").mkdir()
    (tmp_path / "c1" / "i.json").write_text('{"images": [,]}')
    cases.append((tmp_path / "c1" / "i.json", "auto", r"c1/i\.json: not JSON \(line 1, column"))
    path = coco_fixture(tmp_path / "c2")
    doc = json.loads(path.read_text())
    doc["annotations"][1]["bbox"] = [1, 2, 3]
    path.write_text(json.dumps(doc))
    cases.append((path, "auto", r"c2/instances\.json: annotations\[1\]\.bbox"))
    path = coco_fixture(tmp_path / "c3")
    doc = json.loads(path.read_text())
    doc["annotations"][0]["image_id"] = 99
    path.write_text(json.dumps(doc))
    cases.append((path, "auto", r"c3/instances\.json: annotations\[0\]\.image_id: no image with id 99"))
    path = coco_fixture(tmp_path / "c4")
    (tmp_path / "c4" / "images" / "1.jpg").unlink()
    cases.append((path, "auto", r"c4/instances\.json: 1 of 2 images not found, e\.g\. '1\.jpg'"))
    # BOP: a missing file, a broken entry
    bop_scene(tmp_path / "b1" / "000000")
    (tmp_path / "b1" / "000000" / "scene_gt_info.json").unlink()
    cases.append((tmp_path / "b1", "bop", r"b1/000000/scene_gt_info\.json: missing"))
    bop_scene(tmp_path / "b2" / "000000")
    (tmp_path / "b2" / "000000" / "scene_gt_info.json").write_text(json.dumps({"0": [{"visib_fract": 1.0}] * 2,
                                                                                "1": []}))
    cases.append((tmp_path / "b2", "bop", r"b2/000000: .*image 0\[0\]: does not parse \(KeyError"))
    # KITTI: a line that does not parse, a missing label file
    write_image(tmp_path / "k1" / "image_2" / "000000.png")
    (tmp_path / "k1" / "label_2").mkdir()
    (tmp_path / "k1" / "label_2" / "000000.txt").write_text("Car 0 0 0 1 2 3 4 1 1 1 0 0 5 0\nCar 0 0 zero\n")
    cases.append((tmp_path / "k1", "auto", r"k1/label_2/000000\.txt:2: does not parse"))
    write_image(tmp_path / "k2" / "image_2" / "000000.png")
    (tmp_path / "k2" / "label_2").mkdir()
    cases.append((tmp_path / "k2", "auto", r"k2/label_2/000000\.txt: missing"))
    # YOLO: out of range, wrong count, an unknown class, no label file at all
    for name, line, pattern in (("y1", "0 0.5 0.5 1.5 0.5", r"a\.txt:1: coordinates must be normalised"),
                                ("y2", "0 0.5 0.5 0.5", r"a\.txt:1: 3 values after the class"),
                                ("y3", "4 0.5 0.5 0.5 0.5", r"a\.txt: class 4 is not in .*data\.yaml's names")):
        write_image(tmp_path / name / "images" / "a.png")
        (tmp_path / name / "labels").mkdir()
        (tmp_path / name / "labels" / "a.txt").write_text(line + "\n")
        (tmp_path / name / "data.yaml").write_text("names: [a, b]\n")
        cases.append((tmp_path / name, "auto", rf"{name}/labels/{pattern}"))
    write_image(tmp_path / "y4" / "images" / "a.png")
    (tmp_path / "y4" / "labels").mkdir()
    cases.append((tmp_path / "y4", "auto", r"y4: no YOLO label file for any image"))
    # gtforge: an incomplete dataset
    (tmp_path / "g1").mkdir()
    (tmp_path / "g1" / "gtforge.json").write_text(json.dumps({"split": "train_pbr", "formats": ["bop"]}))
    cases.append((tmp_path / "g1", "auto", r"g1: incomplete dataset, missing: camera\.json"))
    return cases


def test_every_bad_input_raises_naming_the_path(tmp_path):
    cases = bad_inputs(tmp_path)
    for path, fmt, pattern in cases:
        with pytest.raises(CompareInputError, match=pattern):
            load_image_set(path, fmt)
    assert len(cases) == 18  # every case above ran


def test_an_image_that_breaks_while_decoding_is_named(tmp_path):
    path = tmp_path / "t.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header survives, the data does not
    s = load_image_set(tmp_path)
    with pytest.raises(CompareInputError, match=r"t\.jpg: not a readable image"):
        read_rgb(s.records[0])


def test_a_patched_image_open_still_names_the_file(tmp_path, monkeypatch):
    """Ultralytics, once imported, wraps PIL.Image.open and raises ModuleNotFoundError (pi-heif) for a file PIL cannot
    identify; the loaders and the statistics still name the file (the full suite imports Ultralytics before them)."""
    from gtforge.compare.image_stats import image_statistics

    real_open = Image.open

    def ultralytics_like_open(fp, *args, **kwargs):
        try:
            return real_open(fp, *args, **kwargs)
        except UnidentifiedImageError:
            raise ModuleNotFoundError("No module named 'pi_heif'") from None

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    monkeypatch.setattr(Image, "open", ultralytics_like_open)
    with pytest.raises(CompareInputError, match=r"bad\.png: not a readable image"):
        load_image_set(tmp_path)
    (tmp_path / "bad.png").unlink()
    s = load_image_set(tmp_path)
    (tmp_path / "good.png").write_bytes(b"not a png either")  # broken after the listing
    with pytest.raises(CompareInputError, match=r"good\.png: not a readable image"):
        read_rgb(s.records[0])
    with pytest.raises(CompareInputError, match=r"good\.png"):
        image_statistics(s)


def test_detect_format_names_an_unknown_file(tmp_path):
    (tmp_path / "a.csv").write_text("x")
    with pytest.raises(CompareInputError, match=r"a\.csv: a file that is neither"):
        detect_format(tmp_path / "a.csv")


def test_an_empty_image_set_has_no_labels():
    assert not ImageSet(ROOT, "folder", ()).labelled


# ----------------------------------------------------------------------------------------------- e2e

@pytest.mark.e2e
def test_a_gtforge_build_reads_the_same_through_every_layout(tmp_path):
    """One build (objects and hands, 160x120, 2 frames) written as BOP, COCO, YOLO and KITTI: the gtforge loader
    and the four format loaders, each reading other files, give the same boxes; hands keep 21 keypoints."""
    out = tmp_path / "ds"
    rc = run_cli("build", ROOT / "recipes" / "hands_objects.yaml", "--out", out, "--quiet",
                 "--set", "camera.width=160", "--set", "camera.height=120",
                 "--set", "scenes.views_per_scene=2", "--set", "output.formats=[bop, coco, yolo, kitti]",
                 "--frames", "2")
    assert rc == 0
    g = load_image_set(out)
    assert g.format == "gtforge" and g.labelled and len(g.records) == 2
    assert g.groups == [str(out / json.loads((out / "gtforge.json").read_text())["split"] / "000000")] * 2
    classes = {v["name"] for v in json.loads((out / "gtforge.json").read_text())["classes"].values()}
    labels = [lab for r in g.records for lab in r.labels]
    assert labels and {lab.category for lab in labels} <= classes
    assert all(lab.cam_t_m2c is not None for lab in labels if lab.category != "hand")
    assert any(lab.keypoints is not None and lab.keypoints.shape == (21, 3) for lab in labels)

    def boxes(s, hands=True):
        return sorted(tuple(round(v, 3) for v in lab.bbox) for r in s.records for lab in r.labels
                      if hands or lab.category != "hand")

    split = json.loads((out / "gtforge.json").read_text())["split"]
    for path, fmt in ((out / split, "bop"), (out / f"instances_{split}.json", "coco"),
                      (out / "yolo" / "detect", "yolo"), (out / "kitti", "kitti")):
        s = load_image_set(path)
        assert s.format == fmt and len(s.records) == 2
        # BOP's scene_gt has no hands (gtforge keeps them in its scene_hands.json side file)
        assert boxes(s) == boxes(g, hands=fmt != "bop"), fmt
    assert boxes(load_image_set(out / split), hands=False) != boxes(g)  # the build has hands
    coco = load_image_set(out / f"instances_{split}.json")
    assert {lab.category for r in coco.records for lab in r.labels} == {lab.category for lab in labels}
    assert math.isclose(sum(lab.visib_fract for lab in labels),
                        sum(lab.visib_fract for r in coco.records for lab in r.labels))
