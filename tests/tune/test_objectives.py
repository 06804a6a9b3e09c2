"""The tune objectives (tune/objectives.py) on small gtforge builds: a candidate like the reference scores near 0,
one unlike it higher; the reference split for the task objective; what each objective needs of the reference."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import DEFAULT_RECIPE, run_cli
from PIL import Image

from gtforge.compare.imagesets import ImageRecord, ImageSet, Label
from gtforge.tune.objectives import (
    AUTO_WEIGHTS,
    Reference,
    Scorer,
    TuneInputError,
    foreground_masks,
    kernel_mean,
    load_reference,
    objective_weights,
)
from gtforge.tune.study import Fidelity

SMALL_160 = ["camera.width=160", "camera.height=120", "camera.intrinsics={fx: 143.1, fy: 143.4, cx: 80.95, cy: 60.125}"]
LOW = Fidelity(rung=0, width=160, height=120, scenes=4, views=3, seed=0)
HIGH = Fidelity(rung=1, width=160, height=120, scenes=4, views=3, seed=0)  # rung 1: the classifier trains


def build(out: Path, *sets, seed=0, scenes=4):
    args = ["build", DEFAULT_RECIPE, "--out", out, "--quiet", "--set", f"seed={seed}",
            "--set", f"scenes.count={scenes}", "--set", "scenes.views_per_scene=3"]
    for s in (*SMALL_160, *sets):
        args += ["--set", s]
    assert run_cli(*args) == 0
    return out


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """A reference (18 images), a candidate of the same recipe (other seed, 12 images), one far from it (a far
    camera, plane, warm light, strong noise), and a labels-only build of the first candidate."""
    root = tmp_path_factory.mktemp("tune_objectives")
    far = ["camera.distance={min: 1.2, max: 1.6}", "clutter.support=plane",
           "lights.temperature_k={min: 2000, max: 2500}",
           "effects.noise={probability: 1.0, photons_at_white: {min: 20, max: 40}}"]
    return {"ref": build(root / "ref", seed=1, scenes=6), "near": build(root / "near", seed=2),
            "far": build(root / "far", *far, seed=2),
            "labels": build(root / "labels", "output.formats=[bop]",
                            "output.layers={rgb: false, depth: false, mask: false, mask_visib: false}", seed=2)}


@pytest.mark.e2e
def test_content_and_appearance_tell_near_from_far(builds):
    ref = load_reference(builds["ref"], objective="auto")
    scorer = Scorer(ref, {"content": 0.5, "appearance": 0.5}, seed=0)
    near, far = scorer(builds["near"], LOW), scorer(builds["far"], LOW)
    for name in ("content", "appearance"):
        assert 0 <= near["components"][name] < far["components"][name], (name, near, far)
    assert near["value"] == pytest.approx(0.5 * near["components"]["content"] + 0.5 * near["components"]["appearance"])
    assert far["components"]["content_stats"]["object_distance"] > 0.8  # 1.2-1.6 m against 0.45-0.75 m
    assert far["components"]["image_stats"]["noise_sigma"] > near["components"]["image_stats"]["noise_sigma"]
    assert "file_format" not in near["components"]["image_stats"]
    assert near["frames"] == 12
    # scoring is deterministic
    assert Scorer(ref, {"content": 0.5, "appearance": 0.5}, seed=0)(builds["near"], LOW) == near


@pytest.mark.e2e
def test_content_scores_a_labels_only_build_as_the_full_one(builds):
    """The content objective's builds have no RGB pass and no image files; their labels are the full build's."""
    assert not any(builds["labels"].rglob("*.jpg"))
    ref = load_reference(builds["ref"], objective="content")
    scorer = Scorer(ref, {"content": 1.0})
    assert "output.layers={rgb: false, depth: false, mask: false, mask_visib: false}" in scorer.build_sets()
    assert scorer(builds["labels"], LOW)["value"] == pytest.approx(scorer(builds["near"], LOW)["value"])


@pytest.mark.e2e
def test_the_task_reference_is_split_and_its_masks_are_read(builds):
    ref = load_reference(builds["ref"], objective="task", seed=0)
    held, rest = ref.held_out.records, ref.image_set.records
    assert len(held) == 8 and len(rest) == 10  # 18 images: 30 %, at least 8, held out; the rest for the statistics
    assert not {r.path for r in held} & {r.path for r in rest}
    masks = foreground_masks(ref.held_out, (80, 60))
    assert masks.shape == (8, 60, 80) and masks.any(axis=(1, 2)).all()
    # the union of the instances' visible masks, as written
    first = held[0]
    scene = first.path.parent.parent
    union = np.zeros((120, 160), bool)
    for m in (scene / "mask_visib").glob(f"{int(first.path.stem):06d}_*.png"):
        union |= np.asarray(Image.open(m)) > 0
    assert (foreground_masks(ref.held_out, (160, 120))[0] == union).all()
    assert "mask_visib" in Scorer(ref, {"task": 1.0}).build_sets()[1]


def unlabelled(n=3):
    records = tuple(ImageRecord(Path(f"{i}.png"), 8, 8, None) for i in range(n))
    return Reference(Path("ref"), "folder", ImageSet(Path("ref"), "folder", records))


def labelled(n=3):
    rec = tuple(ImageRecord(Path(f"{i}.png"), 8, 8, (Label("duck", (1, 1, 2, 2)),)) for i in range(n))
    return Reference(Path("ref"), "coco", ImageSet(Path("ref"), "coco", rec))


def test_auto_uses_what_the_reference_allows():
    assert objective_weights("auto", unlabelled()) == AUTO_WEIGHTS[False] == {"appearance": 0.5, "adversarial": 0.5}
    assert objective_weights("auto", labelled()) == AUTO_WEIGHTS[True]
    assert sum(AUTO_WEIGHTS[True].values()) == pytest.approx(1.0)
    assert objective_weights("appearance", unlabelled()) == {"appearance": 1.0}
    for name in ("content", "task"):
        with pytest.raises(TuneInputError, match=f"--objective {name} needs a labelled reference"):
            objective_weights(name, unlabelled())
    with pytest.raises(TuneInputError, match="unknown objective"):
        objective_weights("magic", labelled())


def test_task_and_content_refuse_a_folder_of_images(tmp_path):
    for i in range(20):
        Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(tmp_path / f"{i:02d}.png")
    assert load_reference(tmp_path, objective="appearance").image_set.labelled is False
    for name in ("content", "task"):
        with pytest.raises(TuneInputError, match=f"--objective {name} needs a labelled reference"):
            load_reference(tmp_path, objective=name)


def test_task_needs_masks_and_enough_images(tmp_path):
    images = tmp_path / "coco" / "images"
    images.mkdir(parents=True)
    doc = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "duck"}]}
    for i in range(20):
        Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(images / f"{i:02d}.png")
        doc["images"].append({"id": i + 1, "file_name": f"{i:02d}.png", "width": 8, "height": 8})
        doc["annotations"].append({"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [1, 1, 3, 3],
                                   "area": 9, "iscrowd": 0})
    (tmp_path / "coco" / "instances.json").write_text(json.dumps(doc))
    assert load_reference(tmp_path / "coco" / "instances.json", objective="content").labelled
    with pytest.raises(TuneInputError, match="needs instance masks"):
        load_reference(tmp_path / "coco" / "instances.json", objective="task")
    doc["images"], doc["annotations"] = doc["images"][:10], doc["annotations"][:10]
    (tmp_path / "coco" / "instances.json").write_text(json.dumps(doc))
    with pytest.raises(TuneInputError, match="holds 8 reference images out"):
        load_reference(tmp_path / "coco" / "instances.json", objective="task")


def test_kid_kernel_mean():
    pytest.importorskip("torch")
    f = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # pairs: (1,2): dot 0 -> 1; (1,3): dot 1 -> (1/2 + 1)^3; (2,3): the same
    assert kernel_mean(f) == pytest.approx((1 + 2 * 1.5**3) / 3)


def test_a_reference_of_mixed_sizes_is_resized_and_says_so(tmp_path):
    rng = np.random.default_rng(0)
    for i, size in enumerate([(64, 48), (64, 48), (32, 40), (100, 30)]):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    ref = load_reference(tmp_path, objective="appearance")
    assert any("3 sizes" in n and "resize" in n for n in ref.notes), ref.notes
    scorer = Scorer(ref, {"appearance": 1.0})
    scorer.prepare([(160, 120)])
    stats = scorer._ref_image((160, 120))
    assert stats["brightness"].n == 4


@pytest.mark.e2e
def test_adversarial_tells_near_from_far(builds):
    pytest.importorskip("torch")
    ref = load_reference(builds["ref"], objective="auto")
    scorer = Scorer(ref, {"adversarial": 1.0}, seed=0)
    assert "c2st_accuracy" not in scorer(builds["far"], LOW)["components"]  # rung 0: KID alone (C2ST_RUNGS)
    near, far = scorer(builds["near"], HIGH), scorer(builds["far"], HIGH)
    assert far["components"]["c2st_accuracy"] >= 0.9  # noise, warm light, far camera: told apart
    assert near["components"]["c2st_accuracy"] < far["components"]["c2st_accuracy"]
    assert near["value"] < far["value"]  # (KID alone, from 12 against 18 images, is too noisy to order these two)
    itself = scorer(builds["ref"], HIGH)["components"]
    assert itself["kid_relative"] < 0.5 * min(near["components"]["kid_relative"], far["components"]["kid_relative"])
    assert scorer(builds["near"], HIGH) == near  # deterministic (one torch thread)


@pytest.mark.e2e
@pytest.mark.slow
def test_task_trains_on_the_candidate_and_scores_on_the_held_out_reference(builds):
    pytest.importorskip("torch")
    ref = load_reference(builds["ref"], objective="task")
    scorer = Scorer(ref, {"task": 1.0}, seed=0)
    result = scorer(builds["near"], LOW)
    iou = result["components"]["task_iou"]
    assert 0.0 < iou < 1.0 and result["value"] == pytest.approx(1.0 - iou)
