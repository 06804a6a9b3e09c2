"""The bundled recipe's output: standard readers, BOP naming, determinism across workers, resume after a kill."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import DEFAULT_RECIPE, SMALL, run_cli

SETS = sum((["--set", s] for s in SMALL), [])


def test_output_loads_with_standard_readers(small_dataset):
    root = Path(small_dataset)
    cam = json.loads((root / "camera.json").read_text())
    assert set(cam) == {"cx", "cy", "fx", "fy", "width", "height", "depth_scale"}
    info = json.loads((root / "models" / "models_info.json").read_text())
    used = set()
    scenes = sorted((root / "train_pbr").iterdir())
    assert [p.name for p in scenes] == ["000000", "000001", "000002"]
    for sd in scenes:
        gt = json.loads((sd / "scene_gt.json").read_text())
        gi = json.loads((sd / "scene_gt_info.json").read_text())
        sc = json.loads((sd / "scene_camera.json").read_text())
        occ = json.loads((sd / "scene_gt_occlusion.json").read_text())
        assert list(gt) == list(gi) == list(sc) == list(occ) == ["0", "1", "2"]
        for im in gt:
            rgb = iio.imread(sd / "rgb" / f"{int(im):06d}.jpg")
            assert rgb.shape == (240, 320, 3) and rgb.dtype == np.uint8
            d = iio.imread(sd / "depth" / f"{int(im):06d}.png")
            assert d.shape == (240, 320) and d.dtype == np.uint16 and d.max() > 0
            assert len(gt[im]) == len(gi[im]) == len(occ[im]) > 0
            for gt_id, e in enumerate(gt[im]):
                used.add(e["obj_id"])
                R = np.reshape(e["cam_R_m2c"], (3, 3))
                assert np.allclose(R @ R.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(R), 1)
                assert 100 < e["cam_t_m2c"][2] < 2000  # mm
                for layer in ("mask", "mask_visib"):
                    m = iio.imread(sd / layer / f"{int(im):06d}_{gt_id:06d}.png")
                    assert m.dtype == np.uint8 and set(np.unique(m)) <= {0, 255}
        names = [p.name for p in (sd / "mask_visib").iterdir()]
        assert all(re.fullmatch(r"\d{6}_\d{6}\.png", n) for n in names)
    assert set(int(k) for k in info) == used
    for k in info:
        assert (root / "models" / f"obj_{int(k):06d}.ply").is_file()
        assert info[k]["diameter"] > 10  # mm: real objects are centimetres across
    assert (root / "recipe.yaml").is_file() and json.loads((root / "gtforge.json").read_text())["gtforge_version"]


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


@pytest.mark.e2e
@pytest.mark.parametrize("recipe", ["clutter_bop.yaml", "bop_pbr_like.yaml"])  # bop_pbr_like: room, distractors
def test_same_seed_same_output_with_1_and_2_workers(tmp_path, recipe):
    args = ["build", DEFAULT_RECIPE.parent / recipe, "--quiet", *SETS, "--set", "scenes.views_per_scene=2",
            "--frames", "4"]
    assert run_cli(*args, "--out", tmp_path / "w1", "--workers", "1") == 0
    assert run_cli(*args, "--out", tmp_path / "w2", "--workers", "2") == 0
    a, b = tree(tmp_path / "w1"), tree(tmp_path / "w2")
    assert sorted(a) == sorted(b)
    json_files = [k for k in a if k.endswith(".json") and k != "gtforge.json"]
    assert len(json_files) >= 9
    differ = sorted(k for k in a if k != "gtforge.json" and a[k] != b[k])
    # JSON ground truth, masks, depth, images, appearance record: byte-identical
    assert not differ, (differ, [(a[k][:2000], b[k][:2000]) for k in differ if k.endswith(".json")][:1])
    # and a different seed gives different ground truth
    assert run_cli(*args, "--out", tmp_path / "s1", "--set", "seed=1") == 0
    assert tree(tmp_path / "s1")["train_pbr/000000/scene_gt.json"] != a["train_pbr/000000/scene_gt.json"]


@pytest.mark.e2e
def test_killed_build_resumes_to_identical_dataset(tmp_path):
    args = [str(DEFAULT_RECIPE), "--quiet", *SETS, "--set", "scenes.views_per_scene=2", "--set", "scenes.count=3"]
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert run_cli("build", *args, "--out", ref) == 0
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "gtforge.cli", "build", *args, "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "train_pbr" / "000000"
    deadline = time.time() + 120
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert first.exists()
    partial = sorted(p.name for p in (out / "train_pbr").iterdir())
    assert "000002" not in partial  # it was really interrupted
    # a rerun with a different recipe must refuse the folder, and leave it intact
    assert run_cli("build", *args, "--set", "seed=5", "--out", out) == 2
    assert run_cli("build", *args, "--out", out) == 0
    a, b = tree(ref), tree(out)
    assert sorted(a) == sorted(b)  # no stale temporary folders, nothing missing or duplicated
    for k in a:
        if k != "gtforge.json":
            assert a[k] == b[k], k


TINY = ["--set", "camera.width=160", "--set", "camera.height=120", "--set",
        "camera.intrinsics={fx: 143.1, fy: 143.4, cx: 80.8, cy: 60.3}", "--set", "scenes.count=1",
        "--set", "scenes.views_per_scene=2"]
DISTRACTOR_SET = "objects[6].role=distractor"  # the ten blobs (3 to 5 per scene) become distractors
RESTYLE = ["appearance={objects: {texture: 1}, distractors: {color: 1}, textures: [procedural://stripes], "
           "floor: {color: 1}, walls: {floor: 1}, backdrop: {sky: 1}}",
           "lights={count: {min: 1, max: 1}, kinds: {spot: 1}, temperature_k: {min: 2500, max: 2500}, shadows: true}"]


@pytest.mark.e2e
def test_appearance_changes_rgb_only_and_distractors_are_never_labelled(tmp_path):
    """Two builds that differ only in appearance settings: every file but rgb/ and scene_appearance.json (and
    the recipe copies) is byte-identical; distractors take part (scene_env.json) but never in the labels."""
    base = ["build", DEFAULT_RECIPE, "--quiet", *TINY, "--set", DISTRACTOR_SET]
    assert run_cli(*base, "--out", tmp_path / "a") == 0
    assert run_cli(*base, *sum((["--set", s] for s in RESTYLE), []), "--out", tmp_path / "b") == 0
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert sorted(a) == sorted(b)
    appearance_only = {k for k in a if "/rgb/" in k or k.endswith("scene_appearance.json")}
    assert len([k for k in appearance_only if "/rgb/" in k]) == 2
    for k in a:
        if k in appearance_only:
            assert a[k] != b[k], k
        elif k not in ("recipe.yaml", "gtforge.json"):
            assert a[k] == b[k], k
    env = json.loads(a["train_pbr/000000/scene_env.json"])
    assert 3 <= len(env["distractors"]) <= 5 and all(1 <= d["obj_id"] <= 10 for d in env["distractors"])
    info = json.loads(a["models/models_info.json"])
    gt = json.loads(a["train_pbr/000000/scene_gt.json"])
    target_ids = set(range(1, 7))  # duck, teddy, mug, lego, jenga, bunny keep their obj_ids
    assert {int(k) for k in info} <= target_ids
    assert all(e["obj_id"] in target_ids for im in gt.values() for e in im)
    appearance = json.loads(b["train_pbr/000000/scene_appearance.json"])
    assert {d["material"]["mode"] for d in appearance["distractors"]} == {"color"}
    assert [lt["kind"] for lt in appearance["lights"]] == ["spot"]
