"""COCO output checked with the ecosystem's own code (pycocotools): loading, RLE == BOP masks, COCOeval AP = 1."""

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from gtforge.formats.bop import from_bop_bbox, read_mask, read_scene
from gtforge.formats.coco import decode_rle, encode_rle, read_instances


@pytest.fixture(scope="module")
def coco(small_dataset):
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(Path(small_dataset) / "instances_train_pbr.json"))


def test_rle_roundtrip():
    m = np.zeros((7, 9), bool)
    m[2:5, 1:4] = True
    m[6, 8] = True
    rle = encode_rle(m)
    assert isinstance(rle["counts"], str) and rle["size"] == [7, 9]
    assert np.array_equal(decode_rle(rle), m)


def test_coco_matches_bop_output_exactly(small_dataset, coco):
    root = Path(small_dataset)
    assert len(coco.getImgIds()) == 9
    seen = set()
    for img in coco.loadImgs(coco.getImgIds()):
        assert (root / img["file_name"]).is_file()  # relative to the JSON
        scene_id, im_id = divmod(img["id"], 1000)
        sd = root / "train_pbr" / f"{scene_id:06d}"
        s = read_scene(sd)
        infos, occ = s["gt_info"][im_id], s["occlusion"][im_id]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img["id"], iscrowd=None))
        by_gt = {a["gt_id"]: a for a in anns}
        assert set(by_gt) == {g for g, i in enumerate(infos) if i["px_count_visib"] > 0}
        for gt_id, a in by_gt.items():
            info = infos[gt_id]
            mv = read_mask(sd / "mask_visib" / f"{im_id:06d}_{gt_id:06d}.png")
            assert np.array_equal(coco.annToMask(a).astype(bool), mv)  # exactly the BOP pixels
            assert np.array_equal(decode_rle(a["segmentation_amodal"]),
                                  read_mask(sd / "mask" / f"{im_id:06d}_{gt_id:06d}.png"))
            assert a["area"] == info["px_count_visib"] == mv.sum()
            assert a["bbox"] == from_bop_bbox(info["bbox_visib"])  # COCO: w = x_max - x_min + 1; BOP: one less
            assert list(mask_utils.toBbox(a["segmentation"])) == a["bbox"]
            assert a["bbox_amodal"] == from_bop_bbox(info["bbox_obj"]) and a["visib_fract"] == info["visib_fract"]
            assert a["iscrowd"] == 0 and a["ignore"] == int(info["visib_fract"] < 0.1)
            assert a["occlusion_level"] == occ[gt_id]["occlusion_level"]
            assert a["category_id"] == a["obj_id"] == s["gt"][im_id][gt_id]["obj_id"]
            assert a["cam_t_m2c"] == s["gt"][im_id][gt_id]["cam_t_m2c"]
            seen.add(a["id"])
    assert seen == set(coco.getAnnIds()) and len(seen) > 30


def test_categories_are_every_model_with_stable_ids(small_dataset):
    doc = json.loads((Path(small_dataset) / "instances_train_pbr.json").read_text())
    cats = doc["categories"]
    assert [c["id"] for c in cats] == list(range(1, 17))
    assert cats[0] == {"id": 1, "name": "duck", "supercategory": "duck"}
    assert cats[-1] == {"id": 16, "name": "blob/009", "supercategory": "blob"}


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_cocoeval_ground_truth_against_itself_is_perfect(coco, iou_type):
    dets = []
    for a in coco.loadAnns(coco.getAnnIds()):
        d = {"image_id": a["image_id"], "category_id": a["category_id"], "score": 1.0}
        d["bbox" if iou_type == "bbox" else "segmentation"] = a["bbox"] if iou_type == "bbox" else a["segmentation"]
        dets.append(d)
    with contextlib.redirect_stdout(io.StringIO()):
        cd = coco.loadRes(dets)
        ev = COCOeval(coco, cd, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)  # AP @ IoU 0.50:0.95
    assert ev.stats[1] == pytest.approx(1.0)  # AP @ IoU 0.50


def test_read_instances_checks_what_pycocotools_needs(tmp_path):
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 3}],
           "categories": [{"id": 2, "name": "mug"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [0, 0, 2, 1]}]}
    path = tmp_path / "i.json"
    path.write_text(json.dumps(doc))
    assert read_instances(path) == doc
    for key, bad, msg in (("images", {"id": 1, "file_name": "a.jpg", "width": 0, "height": 3}, r"images\[0\]: width"),
                          ("categories", {"id": 2}, r"categories\[0\]: needs an id and a name"),
                          ("annotations", {"image_id": 1, "category_id": 5, "bbox": [0, 0, 1, 1]},
                           r"annotations\[0\]\.category_id: no category with id 5"),
                          ("annotations", {"image_id": 1, "category_id": 2, "bbox": [0, 0, -1, 1]},
                           r"annotations\[0\]\.bbox"),
                          ("annotations", {"image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1], "keypoints": [1, 2]},
                           r"annotations\[0\]\.keypoints")):
        path.write_text(json.dumps({**doc, key: [bad]}))
        with pytest.raises(ValueError, match=r"i\.json: " + msg):
            read_instances(path)
    path.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match=r"i\.json: annotations: missing or not a list"):
        read_instances(path)
