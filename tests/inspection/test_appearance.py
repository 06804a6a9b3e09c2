"""Appearance coverage in ``gtforge stats`` and captions in ``gtforge preview``, on small datasets written here.

The datasets are written by hand (JSON files with known content, a blank image per frame), so the
expected counts are known without rendering.
"""

import json

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from gtforge.formats.bop import APPEARANCE_FILE
from gtforge.formats.dataset import open_dataset
from gtforge.inspection.preview import CAPTION_LINE_H, appearance_caption, caption_strip, make_sheet
from gtforge.inspection.stats import NOT_RECORDED, appearance_stats, compute_stats

W, H = 160, 120


def _mat(mode, family=None, key=None):
    tex = {"family": family, "key": key} if family else None
    return {"mode": mode, "base_color": [1.0, 1.0, 1.0, 1.0], "metallic": 0.0, "roughness": 0.5, "texture": tex,
            "tile": 0.1, "projection": "auto", "hsv": [0.0, 1.0, 1.0]}


def _light(kind, temp, shadows=True):
    return {"kind": kind, "color": [1.0, 1.0, 1.0], "intensity": 3.0, "temperature_k": temp,
            "direction": [0.0, 0.0, -1.0], "position_m": None if kind == "directional" else [0.0, 0.0, 1.0],
            "inner_cone": 0.0, "outer_cone": 0.7, "shadows": shadows}


#: scene 0: 2 objects (1 wood texture, 1 asset), 1 distractor (marble), wood floor, 2 walls (1 checker,
#: 1 colour), sky, 3 lights; scene 1: 1 object (file texture), no distractor, colour floor, no walls, photo
#: backdrop (skimage), 1 light without temperature, no shadows
APPEARANCES = [
    {"objects": [{"gt_id": 0, "inst_id": 1, "obj_id": 1, "material": _mat("texture", "procedural/wood",
                                                                            "procedural://wood/1")},
                 {"gt_id": 1, "inst_id": 2, "obj_id": 1, "material": _mat("asset")}],
     "distractors": [{"inst_id": 1, "obj_id": 1, "material": _mat("texture", "procedural/marble",
                                                                 "procedural://marble/5")}],
     "floor": {"size_mm": 1000.0, "material": _mat("texture", "procedural/wood", "procedural://wood/1")},
     "walls": [{"material": _mat("texture", "procedural/checker", "procedural://checker/2")},
               {"material": _mat("color")}],
     "backdrop": {"kind": "sky", "color": [0.8, 0.8, 0.9], "zenith": [0.2, 0.3, 0.8], "photo": None,
                  "crop": [0.0, 0.0, 1.0, 1.0]},
     "lights": [_light("directional", 3000.0), _light("point", 6500.0), _light("spot", 5000.0, False)],
     "ambient": 0.3, "shadows": True},
    {"objects": [{"gt_id": 0, "inst_id": 1, "obj_id": 1, "material": _mat("texture", "files:mine", "brick.png")}],
     "distractors": [],
     "floor": {"size_mm": 1000.0, "material": _mat("color")},
     "walls": [],
     "backdrop": {"kind": "photo", "color": [0.0, 0.0, 0.0], "zenith": None,
                  "photo": {"family": "skimage", "key": "coffee.png"}, "crop": [0.0, 0.0, 1.0, 1.0]},
     "lights": [_light("directional", None)],
     "ambient": 0.2, "shadows": False},
]


def write_dataset(root, appearances):
    """A complete BOP dataset of len(appearances) scenes x 1 frame without instances; a scene's
    ``scene_appearance.json`` is written when its entry is not None."""
    root.mkdir(parents=True)
    (root / "gtforge.json").write_text(json.dumps({"split": "train_pbr", "formats": ["bop"],
                                                   "num_scenes": len(appearances), "classes": {}}))
    (root / "camera.json").write_text(json.dumps({"cx": 79.5, "cy": 59.5, "fx": 100.0, "fy": 100.0,
                                                  "width": W, "height": H, "depth_scale": 0.1}))
    (root / "models").mkdir()
    (root / "models" / "models_info.json").write_text("{}")
    for i, app in enumerate(appearances):
        sd = root / "train_pbr" / f"{i:06d}"
        (sd / "rgb").mkdir(parents=True)
        Image.new("RGB", (W, H), (90, 120, 150)).save(sd / "rgb" / "000000.png")
        cam = {"cam_K": [100.0, 0, 79.5, 0, 100.0, 59.5, 0, 0, 1], "depth_scale": 0.1,
               "cam_R_w2c": [1.0, 0, 0, 0, 1, 0, 0, 0, 1], "cam_t_w2c": [0.0, 0, 500]}
        (sd / "scene_camera.json").write_text(json.dumps({"0": cam}))
        for name in ("scene_gt.json", "scene_gt_info.json", "scene_gt_occlusion.json"):
            (sd / name).write_text(json.dumps({"0": []}))
        if app is not None:
            (sd / APPEARANCE_FILE).write_text(json.dumps(app))
    return root


def test_stats_appearance_counts(tmp_path):
    ds = open_dataset(write_dataset(tmp_path / "ds", APPEARANCES))
    a = compute_stats(ds)["appearance"]
    assert a["scenes"] == 2
    assert a["texture_families"] == {"files:mine": 1, "procedural/checker": 1, "procedural/marble": 1,
                                     "procedural/wood": 2}
    assert a["texture_families_by_surface"] == {
        "objects": {"files:mine": 1, "procedural/wood": 1}, "distractors": {"procedural/marble": 1},
        "floor": {"procedural/wood": 1}, "walls": {"procedural/checker": 1}}
    # wood/1 twice counts once; the backdrop photo counts
    assert a["distinct_textures"] == 5
    assert a["material_modes"] == {"objects": {"asset": 1, "texture": 2}, "distractors": {"texture": 1},
                                   "floor": {"color": 1, "texture": 1}, "walls": {"color": 1, "texture": 1}}
    assert a["backdrop_kinds"] == {"photo": 1, "sky": 1} and a["backdrop_photo_families"] == {"skimage": 1}
    assert a["lights_per_scene"] == {"1": 1, "3": 1}
    assert a["light_kinds"] == {"directional": 2, "point": 1, "spot": 1}
    t = a["temperature_k"]
    assert (t["count"], t["min"], t["median"], t["max"]) == (3, 3000.0, 5000.0, 6500.0)
    assert sum(t["counts"]) == 3 and t["counts"][t["edges"].index(3000)] == 1
    assert t["counts"][t["edges"].index(5000)] == 1 and t["counts"][t["edges"].index(6000)] == 1
    assert a["shadows_share"] == 0.5


def test_stats_appearance_cli_json_report_and_plot(tmp_path, capsys):
    root = write_dataset(tmp_path / "ds", APPEARANCES)
    assert run_cli("stats", root, "--json") == 0
    s = json.loads(capsys.readouterr().out)
    assert s["appearance"]["light_kinds"] == {"directional": 2, "point": 1, "spot": 1}
    assert (root / "stats" / "appearance.png").is_file()
    assert run_cli("stats", root) == 0
    out = capsys.readouterr().out
    assert "appearance (2 scenes): 5 distinct textures" in out
    assert "lights per scene: 1 1, 3 1; kinds: directional 2, point 1, spot 1" in out
    assert "colour temperature: 3000 / 5000 / 6500 K" in out and "shadows: 50% of scenes" in out


def test_stats_without_appearance_record(tmp_path, capsys):
    root = write_dataset(tmp_path / "old", [None, None])
    assert appearance_stats([]) == NOT_RECORDED
    assert run_cli("stats", root, "--json") == 0
    assert json.loads(capsys.readouterr().out)["appearance"] == "not recorded"
    assert not (root / "stats" / "appearance.png").exists()
    assert run_cli("stats", root) == 0
    assert "appearance: not recorded" in capsys.readouterr().out


def test_appearance_caption_text():
    cap = appearance_caption(APPEARANCES[0])
    assert cap == ["backdrop sky", "3 lights (1 directional, 1 point, 1 spot) 3000-6500 K, shadows",
                   "floor procedural/wood, walls color/procedural/checker", "1/2 objects textured",
                   "1 distractors (1 textured)"]
    assert appearance_caption(APPEARANCES[1]) == [
        "backdrop photo (skimage)", "1 light (1 directional), no shadows", "floor color", "1/1 objects textured"]
    assert appearance_caption(None) == ["appearance: not recorded"]
    strip = caption_strip(cap, 160)
    assert strip.width == 160 and strip.height >= 3 * CAPTION_LINE_H + 4  # wrapped onto several lines
    assert caption_strip(cap, 160, n_lines=1).height == CAPTION_LINE_H + 4


def _text_px(a):
    return int((a.min(axis=-1) > 200).sum())  # caption text is light grey on dark grey


@pytest.mark.parametrize("recorded", [True, False])
def test_preview_caption_under_each_frame(tmp_path, recorded):
    root = write_dataset(tmp_path / "ds", APPEARANCES if recorded else [None, None])
    sheet = np.asarray(make_sheet(open_dataset(root), n=2, seed=0))
    if not recorded:  # older builds: the sheet as before (tiles, legend)
        assert sheet.shape == (H + 26, 2 * W, 3)
        return
    ch = sheet.shape[0] - H - 26
    assert ch >= CAPTION_LINE_H + 4 and (ch - 4) % CAPTION_LINE_H == 0
    for col in range(2):  # one caption strip under each frame, with text in it
        strip = sheet[H:H + ch, col * W:(col + 1) * W]
        assert _text_px(strip) > 30
        assert np.all(sheet[16:H, col * W + 5] == (90, 120, 150))  # the frame itself, below its label, is untouched
