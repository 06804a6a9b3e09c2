"""gtforge verify / stats / preview on written datasets: fresh output passes, planted corruptions are caught."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import DEFAULT_RECIPE, SMALL, run_cli
from PIL import Image, ImageDraw

from gtforge.formats.dataset import DatasetError, open_dataset
from gtforge.inspection.preview import CAPTION_LINE_H, LEVEL_COLORS, draw_keypoints


def copy(ds, tmp_path, name="copy"):
    dst = tmp_path / name
    shutil.copytree(ds, dst)
    return dst


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def verify_output(capsys, path, *extra):
    rc = run_cli("verify", path, "--sample", "100", *extra)
    return rc, capsys.readouterr().out


def test_verify_passes_on_fresh_output(small_dataset, capsys):
    rc, out = verify_output(capsys, small_dataset)
    assert rc == 0, out
    assert "OK" in out and "9 frames ray-cast" in out


def _big_instance(root):
    """(scene folder, im_id, gt_id) of a well-visible instance."""
    for sd in sorted((root / "train_pbr").iterdir()):
        info = json.loads((sd / "scene_gt_info.json").read_text())
        for im, entries in info.items():
            for g, e in enumerate(entries):
                if e["px_count_visib"] > 400:
                    return sd, int(im), g
    raise AssertionError("no large instance")


def test_verify_catches_shifted_pose(small_dataset, tmp_path, capsys):
    root = copy(small_dataset, tmp_path)
    sd, im, g = _big_instance(root)

    def shift(gt):
        gt[str(im)][g]["cam_t_m2c"][0] += 25.0  # mm

    edit_json(sd / "scene_gt.json", shift)
    rc, out = verify_output(capsys, root)
    assert rc == 1
    assert f"scene {sd.name} im {im}, gt {g}" in out and "IoU" in out


def test_verify_catches_deleted_mask(small_dataset, tmp_path, capsys):
    root = copy(small_dataset, tmp_path)
    sd, im, g = _big_instance(root)
    (sd / "mask_visib" / f"{im:06d}_{g:06d}.png").unlink()
    rc, out = verify_output(capsys, root)
    assert rc == 1
    assert f"mask_visib/{im:06d}_{g:06d}.png" in out and "missing mask_visib file" in out


def test_verify_catches_wrong_visib_fract(small_dataset, tmp_path, capsys):
    root = copy(small_dataset, tmp_path)
    sd, im, g = _big_instance(root)
    edit_json(sd / "scene_gt_info.json", lambda info: info[str(im)][g].update(visib_fract=0.123))
    rc, out = verify_output(capsys, root)
    assert rc == 1
    assert f"{sd.name}/scene_gt_info.json" in out and "visib_fract 0.1230 !=" in out


def test_verify_catches_truncated_json(small_dataset, tmp_path, capsys):
    root = copy(small_dataset, tmp_path)
    p = root / "train_pbr" / "000001" / "scene_gt.json"
    text = p.read_text()
    p.write_text(text[: len(text) // 2])
    rc, out = verify_output(capsys, root)
    assert rc == 1
    assert "train_pbr/000001/scene_gt.json" in out and "cannot parse JSON" in out


def test_verify_catches_coco_mismatch(small_dataset, tmp_path, capsys):
    root = copy(small_dataset, tmp_path)
    p = root / "instances_train_pbr.json"
    doc = json.loads(p.read_text())
    a = max(doc["annotations"], key=lambda a: a["area"])
    a["segmentation"] = doc["annotations"][0]["segmentation"] if a is not doc["annotations"][0] else \
        doc["annotations"][1]["segmentation"]
    p.write_text(json.dumps(doc))
    rc, out = verify_output(capsys, root, "--sample", "0")
    assert rc == 1 and f"annotation {a['id']}" in out and "RLE differs" in out


@pytest.mark.parametrize("cmd", ["verify", "stats", "preview"])
def test_not_a_dataset_or_partial_exit_2(small_dataset, tmp_path, capsys, cmd):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli(cmd, empty) == 2
    assert "not a gtforge dataset" in capsys.readouterr().err
    partial = copy(small_dataset, tmp_path, "partial")
    shutil.rmtree(partial / "train_pbr" / "000002")
    before = sorted(p.relative_to(partial) for p in partial.rglob("*"))
    assert run_cli(cmd, partial, *(["--out", tmp_path / "s.png"] if cmd == "preview" else [])) == 2
    err = capsys.readouterr().err
    assert "partial dataset: 2 of 3 scenes complete" in err
    assert sorted(p.relative_to(partial) for p in partial.rglob("*")) == before  # nothing written
    assert not (tmp_path / "s.png").exists()


def test_missing_models_is_incomplete(small_dataset, tmp_path):
    root = copy(small_dataset, tmp_path)
    (root / "models" / "models_info.json").unlink()
    with pytest.raises(DatasetError, match="missing: models/models_info.json"):
        open_dataset(root)


def test_stats_figures_and_plots(small_dataset, tmp_path, capsys):
    root = copy(small_dataset, tmp_path)
    assert run_cli("stats", root, "--json") == 0
    s = json.loads(capsys.readouterr().out)
    n = sum(len(v) for sd in (root / "train_pbr").iterdir()
            for v in json.loads((sd / "scene_gt.json").read_text()).values())
    assert s["frames"] == 9 and s["instances"] == n
    assert sum(s["occlusion_levels"].values()) == n
    assert sum(s["visib_fract_hist"]["counts"]) == n == sum(s["truncation_hist"]["counts"])
    assert sum(v["instances"] for v in s["per_class"].values()) == n
    assert sum(s["coco_size"].values()) == s["visible_instances"] == sum(s["box_size_hist"]["counts"])
    assert sum(map(sum, s["viewpoints"]["counts"])) == s["visible_instances"]
    assert 0 < s["viewpoints"]["coverage"] <= 1
    assert sorted(p.name for p in (root / "stats").iterdir()) == sorted(
        ["instances_per_class.png", "visib_fract.png", "truncation.png", "occlusion_levels.png", "box_sizes.png",
         "viewpoints.png", "appearance.png"])
    # appearance: every scene records it; one floor per scene
    app = s["appearance"]
    assert app["scenes"] == 3 and sum(app["material_modes"]["floor"].values()) == 3
    assert sum(app["lights_per_scene"].values()) == 3
    assert sum(app["material_modes"]["objects"].values()) == n // 3  # objects of a scene are in each of its 3 views
    assert run_cli("stats", root) == 0
    out = capsys.readouterr().out
    assert "instances per class" in out and "appearance (3 scenes)" in out


def test_viewpoint_of_camera_above_object():
    from gtforge.inspection.stats import viewpoint
    from gtforge.core.geometry import invert_pose, look_at_opencv

    cam_T_model = invert_pose(look_at_opencv([0.0, 1.0, 1.0], [0, 0, 0]))  # model at the world origin
    az, el = viewpoint(cam_T_model)
    assert az == pytest.approx(90.0) and el == pytest.approx(45.0)


def test_preview_sheet(small_dataset, tmp_path):
    out = tmp_path / "sheet.png"
    assert run_cli("preview", small_dataset, "--out", out, "--n", "4", "--seed", "1") == 0
    img = np.asarray(Image.open(out).convert("RGB"))
    ch = (img.shape[0] - 26) // 2 - 240  # the appearance caption under each frame
    assert img.shape == (2 * (240 + ch) + 26, 2 * 320, 3) and ch >= CAPTION_LINE_H + 4
    green = np.all(img == LEVEL_COLORS[0], axis=-1).sum()
    assert green > 200  # boxes of fully visible instances are drawn
    assert not any(p.name.endswith(".png") for p in Path(small_dataset).glob("*"))  # nothing written into it


def test_draw_keypoints_marks_visibility():
    img = Image.new("RGB", (40, 20))
    draw_keypoints(ImageDraw.Draw(img), [10, 10, 2, 30, 10, 1, 20, 5, 0], [[1, 2]], (255, 0, 0))
    a = np.asarray(img)
    assert tuple(a[10, 10]) == (255, 0, 0)  # visible: filled
    assert tuple(a[10, 30]) != (0, 0, 0)  # occluded: drawn (hollow ring, crossed by the bone)
    assert tuple(a[5, 20]) == (0, 0, 0)  # v = 0: not drawn


@pytest.mark.e2e
def test_coco_only_build_is_verified_and_inspected(tmp_path, capsys):
    out = tmp_path / "coco_only"
    sets = sum((["--set", s] for s in SMALL), [])
    assert run_cli("build", DEFAULT_RECIPE, "--out", out, "--quiet", *sets, "--set", "output.formats=[coco]",
                   "--set", "scenes.views_per_scene=2", "--frames", "2") == 0
    sd = out / "train_pbr" / "000000"
    assert not (sd / "scene_gt.json").exists() and not (sd / "mask_visib").exists()
    assert (sd / "rgb" / "000001.jpg").is_file() and (out / "instances_train_pbr.json").is_file()
    assert run_cli("verify", out) == 0
    assert run_cli("stats", out, "--json") == 0
    capsys.readouterr()
    assert run_cli("preview", out, "--out", tmp_path / "p.png", "--n", "2") == 0
