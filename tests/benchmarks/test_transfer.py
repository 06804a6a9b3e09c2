"""benchmarks/transfer.py: IoU, the foreground loader, the held-out file check and one training epoch.

The datasets here are written by hand (a minimal gtforge BOP folder: two scenes, two frames each), so the
expected foreground of every frame is known without any gtforge writer or renderer.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def _load_module():
    spec = importlib.util.spec_from_file_location("gtforge_benchmarks_transfer", ROOT / "benchmarks" / "transfer.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


T = _load_module()

W, H = 32, 24  # written size of the synthetic frames


# ---------------------------------------------------------------------------------------------- IoU
def test_iou_hand_computed():
    pred = np.zeros((2, 4, 4), bool)
    truth = np.zeros((2, 4, 4), bool)
    pred[0, :2, :2] = True      # 4 px
    truth[0, :2, :3] = True     # 6 px: inter 4, union 6
    pred[1, 0, 0] = True        # 1 px
    truth[1, 3, 3] = True       # 1 px: inter 0, union 2
    iou, mean_iou = T.iou_scores(pred, truth)
    assert iou == pytest.approx(4 / 8)
    assert mean_iou == pytest.approx((4 / 6 + 0) / 2)


def test_iou_empty_and_perfect_cases():
    z = np.zeros((3, 5, 5), bool)
    assert T.iou_scores(z, z) == (1.0, 1.0)  # nothing to find, nothing found
    t = z.copy()
    t[1, 2:4, 2:4] = True
    assert T.iou_scores(t, t) == (1.0, 1.0)
    # an image with empty truth and empty prediction counts 1 per image; the dataset figure ignores it
    p = t.copy()
    p[1, 2, 2] = False          # 3 of 4 found
    iou, mean_iou = T.iou_scores(p, t)
    assert iou == pytest.approx(3 / 4)
    assert mean_iou == pytest.approx((1 + 3 / 4 + 1) / 3)
    with pytest.raises(ValueError):
        T.iou_scores(p[0], t[0])


# ---------------------------------------------------------------------------------------------- synthetic dataset
def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _mask_png(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def _rect(y0, y1, x0, x1) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def make_dataset(root: Path, n_scenes: int = 2, n_frames: int = 2, appearance=None) -> dict:
    """A minimal gtforge BOP dataset; returns {(scene_id, im_id): expected foreground (H, W) bool}.

    Each frame has two objects (one with no visible pixel, its mask file all zero) and, in scene 1,
    a hand (mask in ``mask_visib_hand/``). The image is grey with the foreground painted brighter, so a
    network can learn it. ``appearance``: per scene the ``scene_appearance.json`` content (None: no file).
    """
    eye = [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]
    _write_json(root / "gtforge.json", {"split": "train_pbr", "formats": ["bop"], "num_scenes": n_scenes,
                                        "classes": {"1": {"name": "a", "set": "a"}, "2": {"name": "b", "set": "b"},
                                                    "3": {"name": "hand", "set": "hand"}}})
    _write_json(root / "camera.json", {"fx": 30.0, "fy": 30.0, "cx": 15.5, "cy": 11.5, "width": W, "height": H,
                                       "depth_scale": 0.1})
    _write_json(root / "models" / "models_info.json", {})
    truth = {}
    for sid in range(n_scenes):
        sd = root / "train_pbr" / f"{sid:06d}"
        cam, gt, info, occ, hands = {}, {}, {}, {}, {}
        for im in range(n_frames):
            a = _rect(2 + im, 10 + im, 3 + 2 * sid, 12 + 2 * sid)
            b = _rect(12, 20, 18, 28) & ~a
            empty = np.zeros((H, W), bool)
            fg = a | b
            for gt_id, m in enumerate((a, empty, b)):
                _mask_png(sd / "mask_visib" / f"{im:06d}_{gt_id:06d}.png", m)
            cam[str(im)] = {"cam_K": [30.0, 0, 15.5, 0, 30.0, 11.5, 0, 0, 1], "depth_scale": 0.1,
                            "cam_R_w2c": eye, "cam_t_w2c": [0, 0, 500.0]}
            gt[str(im)] = [{"obj_id": k, "cam_R_m2c": eye, "cam_t_m2c": [0, 0, 500.0]} for k in (1, 2, 1)]
            info[str(im)] = [{"bbox_obj": [0, 0, 1, 1], "bbox_visib": [0, 0, 1, 1] if m.any() else [-1, -1, -1, -1],
                              "px_count_all": 1, "px_count_valid": 1, "px_count_visib": int(m.sum()),
                              "visib_fract": 1.0 if m.any() else 0.0} for m in (a, empty, b)]
            occ[str(im)] = [{"inst_id": k + 1, "truncation": 0.0, "occlusion": 0.0, "occlusion_level": 0,
                             "px_count_in_frame": 1} for k in range(3)]
            if sid == 1:
                hand = _rect(0, 4, 0, 6)
                rel = f"mask_visib_hand/{im:06d}_000000.png"
                _mask_png(sd / rel, hand)
                hands[str(im)] = [{"hand_id": 0, "keypoints_2d": [None] * 21, "keypoint_visibility": [0] * 21,
                                   "bbox_visib": [0, 0, 5, 3], "bbox_obj": [0, 0, 5, 3], "visib_fract": 1.0,
                                   "px_count_visib": int(hand.sum()), "truncation": 0.0, "occlusion": 0.0,
                                   "occlusion_level": 0, "mask_visib": rel}]
                fg = fg | hand
            rgb = np.full((H, W, 3), 60, np.uint8)
            rgb[fg] = 200
            (sd / "rgb").mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb).save(sd / "rgb" / f"{im:06d}.png")
            truth[(sid, im)] = fg
        _write_json(sd / "scene_camera.json", cam)
        _write_json(sd / "scene_gt.json", gt)
        _write_json(sd / "scene_gt_info.json", info)
        _write_json(sd / "scene_gt_occlusion.json", occ)
        if hands:
            _write_json(sd / "scene_hands.json", hands)
        if appearance is not None and appearance[sid] is not None:
            _write_json(sd / T.APPEARANCE_FILE, appearance[sid])
    return truth


def test_loader_unions_objects_and_hands(tmp_path):
    truth = make_dataset(tmp_path / "ds")
    s = T.load_split(tmp_path / "ds", size=(W, H))  # native size: no resampling
    assert s.names == ["0/0", "0/1", "1/0", "1/1"] and s.scenes == [0, 1]
    for k, name in enumerate(s.names):
        sid, im = map(int, name.split("/"))
        np.testing.assert_array_equal(s.masks[k], truth[(sid, im)])
    assert s.masks[2, 1, 1] and not s.masks[0, 1, 1]  # the hand is foreground in scene 1 only
    assert (s.images[s.masks] == 200).all() and (s.images[~s.masks] == 60).all()
    only = T.load_split(tmp_path / "ds", scene_ids=[1], size=(W, H))
    assert only.names == ["1/0", "1/1"]


def test_resize_keeps_covered_half_pixels():
    m = np.zeros((4, 4), bool)
    m[:, :2] = True            # left half
    m[0, 2] = True             # one of the four pixels of the top-right output pixel: 1/4 < 0.5
    rgb = np.zeros((4, 4, 3), np.uint8)
    _, small = T.resize_pair(rgb, m, size=(2, 2))
    np.testing.assert_array_equal(small, [[True, False], [True, False]])
    m[1, 3] = True             # now 2/4 of it: kept
    _, small = T.resize_pair(rgb, m, size=(2, 2))
    np.testing.assert_array_equal(small, [[True, True], [True, False]])


def test_scene_split_is_deterministic_and_disjoint():
    ids = list(range(10))
    tr, te = T.split_scenes(ids, seed=0)
    assert len(te) == 2 and sorted(tr + te) == ids and not set(tr) & set(te)
    assert T.split_scenes(list(reversed(ids)), seed=0) == (tr, te)
    assert T.split_scenes([3, 7], seed=0)[1] in ([3], [7])
    with pytest.raises(T.BenchmarkError):
        T.split_scenes([5])


# ---------------------------------------------------------------------------------------------- held-out check
def _scene_dirs(tmp_path, name, appearances):
    dirs = []
    for k, a in enumerate(appearances):
        d = tmp_path / name / f"{k:06d}"
        d.mkdir(parents=True)
        if a is not None:
            (d / T.APPEARANCE_FILE).write_text(json.dumps(a))
        dirs.append(d)
    return dirs


def test_collect_keys_walks_any_schema():
    doc = {"floor": {"texture": {"key": "/a.png", "family": "wood"}},
           "objects": [{"material": {"texture": {"key": "procedural://noise/7", "family": "noise"}}}, {"key": 3}],
           "backdrop": {"photo": {"key": "/b.jpg", "family": "photo"}}}
    doc["objects"].append({"material": {"mode": "asset", "texture": None}})
    keys, fams, assets = T.collect_keys(doc)
    assert sorted(keys) == ["/a.png", "/b.jpg", "procedural://noise/7"]
    assert sorted(fams) == ["noise", "photo", "wood"]
    assert assets == 1


def test_shared_file_is_refused(tmp_path):
    img = tmp_path / "wood.png"
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(img)
    train = _scene_dirs(tmp_path, "train", [{"floor": {"key": str(img), "family": "wood"}}])
    test = _scene_dirs(tmp_path, "test", [{"walls": [{"key": str(img), "family": "wood"}]}])
    with pytest.raises(T.BenchmarkError, match="shares 1 image file"):
        T.check_heldout(train, test)


def test_recorded_file_name_matches_a_path_elsewhere(tmp_path):
    # scene_appearance.json records file names without their folder (formats.bop.texture_entry)
    train = _scene_dirs(tmp_path, "train", [{"floor": {"material": {"texture": {
        "key": "table.png", "family": "files:pkg://pybullet_data/table/table.png"}}}}])
    test = _scene_dirs(tmp_path, "test", [{"backdrop": {"photo": {"key": "/elsewhere/table.png", "family": "x"}}}])
    with pytest.raises(T.BenchmarkError, match="table.png = /elsewhere/table.png"):
        T.check_heldout(train, test)
    other = _scene_dirs(tmp_path, "test2", [{"backdrop": {"photo": {"key": "chair.png", "family": "x"}}}])
    T.check_heldout(train, other)


def test_same_bytes_under_another_name_is_refused(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "copy_of_a.png"
    Image.fromarray(np.full((2, 2, 3), 9, np.uint8)).save(a)
    b.write_bytes(a.read_bytes())
    train = _scene_dirs(tmp_path, "train", [{"floor": {"key": str(a), "family": "f"}}])
    test = _scene_dirs(tmp_path, "test", [{"floor": {"key": str(b), "family": "f"}}])
    with pytest.raises(T.BenchmarkError, match="copy_of_a"):
        T.check_heldout(train, test)


def test_procedural_and_disjoint_files_are_allowed(tmp_path):
    train = _scene_dirs(tmp_path, "train", [{"floor": {"key": "procedural://marble/1", "family": "marble"},
                                             "photo": {"key": str(tmp_path / "x.jpg"), "family": "photo"}}])
    test = _scene_dirs(tmp_path, "test", [{"floor": {"key": "procedural://marble/1", "family": "marble"}},
                                          {"floor": {"key": "procedural://marble/2", "family": "marble"}}])
    a_train, a_test, warnings = T.check_heldout(train, test)
    assert warnings == []
    assert a_train.files == {str(tmp_path / "x.jpg")} and a_test.files == set()
    assert a_test.families == {"marble": 2} and a_test.procedural == {"procedural://marble/1", "procedural://marble/2"}


def test_missing_appearance_file(tmp_path):
    with_file = [{"floor": {"key": "procedural://dots/1", "family": "dots"}}]
    _, _, warnings = T.check_heldout(_scene_dirs(tmp_path, "old", [None]), _scene_dirs(tmp_path, "new", with_file))
    assert len(warnings) == 1 and "checked against nothing" in warnings[0]
    asset = [{"objects": [{"material": {"mode": "asset", "texture": None}}]}]
    _, _, warnings = T.check_heldout(_scene_dirs(tmp_path, "a1", asset), _scene_dirs(tmp_path, "a2", asset))
    assert len(warnings) == 1 and "asset's own look" in warnings[0]
    with pytest.raises(T.BenchmarkError, match="held-out dataset"):
        T.check_heldout(_scene_dirs(tmp_path, "new2", with_file), _scene_dirs(tmp_path, "old2", [None]))


# ---------------------------------------------------------------------------------------------- training
def test_one_epoch_runs_and_scores(tmp_path):
    pytest.importorskip("torch")
    make_dataset(tmp_path / "ds", n_scenes=2, n_frames=2)
    train = T.load_split(tmp_path / "ds", scene_ids=[0], size=(32, 24))
    test = T.load_split(tmp_path / "ds", scene_ids=[1], size=(32, 24))
    lines = []
    r = T.train_and_evaluate(train, {"in-domain": test, "held-out": train}, epochs=1, seed=0, log=lines.append)
    assert len(lines) == 1 and len(r["epoch_seconds"]) == 1 and np.isfinite(r["losses"][0])
    for name in ("in-domain", "held-out"):
        assert 0.0 <= r[name]["iou"] <= 1.0 and 0.0 <= r[name]["mean_image_iou"] <= 1.0
        assert r[name]["frames"] == 2
    assert 1e5 < r["params"] < 3e5


def test_command_line_end_to_end(tmp_path, capsys):
    pytest.importorskip("torch")
    img = tmp_path / "floor.png"
    Image.fromarray(np.full((2, 2, 3), 5, np.uint8)).save(img)
    make_dataset(tmp_path / "train", appearance=[{"floor": {"key": str(img), "family": "photo"}}] * 2)
    wood = {"floor": {"key": "procedural://wood/3", "family": "wood"}}
    make_dataset(tmp_path / "test", n_scenes=1, appearance=[wood])
    out = tmp_path / "r.json"
    assert T.main(["--train", str(tmp_path / "train"), "--test", str(tmp_path / "test"), "--epochs", "1",
                   "--threads", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "in-domain IoU" in text and "held-out IoU" in text and "160x120" in text
    r = json.loads(out.read_text())
    assert r["train"]["frames"] == 2 and r["in_domain"]["frames"] == 2 and r["held_out"]["frames"] == 2
    assert sorted(r["train"]["scenes"] + r["in_domain"]["scenes"]) == [0, 1]
    assert r["held_out"]["families"] == {"wood": 1} and r["train"]["image_files"] == [str(img)]
    # the same photo on the held-out side: refused before any training, exit 2
    make_dataset(tmp_path / "test2", n_scenes=1, appearance=[{"backdrop": {"photo": {"key": str(img)}}}])
    assert T.main(["--train", str(tmp_path / "train"), "--test", str(tmp_path / "test2"), "--epochs", "1"]) == 2
    assert "shares 1 image file" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- the tuned arm
def test_tuned_arm_arguments():
    args = T.parse_args(["--recipe", "recipes/clutter_bop.yaml", "--tune-minutes", "30"])
    assert args.tune_minutes == 30 and args.reference_images == T.REFERENCE_IMAGES == 100
    for bad in (["--train", "a", "--test", "b", "--tune-minutes", "5"],  # the arm builds: it needs --recipe
                ["--recipe", "r.yaml", "--tune-minutes", "0"],
                ["--recipe", "r.yaml", "--tune-minutes", "5", "--reference-images", "0"],
                ["--recipe", "r.yaml", "--tune-fixed", "camera"]):  # a space for a tune that does not run
        with pytest.raises(SystemExit) as e:
            T.parse_args(bad)
        assert e.value.code == 2


def test_the_reference_folder_holds_images_only_of_another_draw(tmp_path, monkeypatch):
    """build_reference: the held-out look with its own seed and enough scenes, copied flat, no labels."""
    calls = []

    def fake_build(recipe, out, overrides, workers=1):
        calls.append(overrides)
        for scene in range(3):
            (out / "train_pbr" / f"{scene:06d}" / "rgb").mkdir(parents=True)
            for im in range(2):
                Image.new("RGB", (8, 6)).save(out / "train_pbr" / f"{scene:06d}" / "rgb" / f"{im:06d}.jpg")

    class FakeDataset:
        def __init__(self, root):
            self.root = Path(root)

        def scene_dirs(self):
            return sorted((self.root / "train_pbr").iterdir())

    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "recipe.yaml").write_text("seed: 7\nscenes: {count: 4, views_per_scene: 2}\n")
    monkeypatch.setattr(T, "build_dataset", fake_build)
    monkeypatch.setattr(T, "open_checked", FakeDataset)
    args = T.parse_args(["--recipe", "r.yaml", "--tune-minutes", "1", "--reference-images", "5"])
    ref = T.build_reference(args, tmp_path, views=2)
    assert sorted(p.name for p in ref.iterdir()) == ["000000_000000.jpg", "000000_000001.jpg", "000001_000000.jpg",
                                                     "000001_000001.jpg", "000002_000000.jpg"]
    assert f"seed={7 + T.REFERENCE_SEED_OFFSET}" in calls[0] and "scenes.count=3" in calls[0]
    assert all(s in calls[0] for s in T.HELDOUT_LOOK)
    again = tmp_path / "again"
    (again / "train").mkdir(parents=True)
    (again / "train" / "recipe.yaml").write_text("seed: 7\n")
    args.reference_images = 9  # more than the build has (6): refused
    with pytest.raises(T.BenchmarkError, match="fewer than 9"):
        T.build_reference(args, again, views=2)


def test_tune_fixed_keeps_the_named_sections_out_of_the_tune(tmp_path, monkeypatch):
    """tune_arm with --tune-fixed: gtforge tune starts from the training recipe plus tune.fixed (the training
    recipe itself untouched); without it, from the training recipe as built."""
    (tmp_path / "train").mkdir()
    built = "seed: 7\nscenes: {count: 4, views_per_scene: 2}\ncamera: {distance: {min: 0.4, max: 0.7}}\n"
    (tmp_path / "train" / "recipe.yaml").write_text(built)
    started = []

    def fake_run(cmd, **kw):
        recipe = Path(cmd[cmd.index("tune") + 1])
        started.append(yaml.safe_load(recipe.read_text()))
        (tmp_path / "TUNED.tune").mkdir(exist_ok=True)
        (tmp_path / "TUNED.tune" / "tune.json").write_text(json.dumps({"trials": [{}, {}], "best": {"changes": []}}))
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(T, "build_reference", lambda args, work, views: work / "reference")
    monkeypatch.setattr(T, "build_dataset", lambda *a, **k: None)
    monkeypatch.setattr(T.subprocess, "run", fake_run)
    args = T.parse_args(["--recipe", "r.yaml", "--tune-minutes", "1", "--tune-fixed", "camera",
                         "--tune-fixed", "objects"])
    _, summary = T.tune_arm(args, tmp_path)
    assert started[0]["tune"] == {"fixed": ["camera", "objects"]} and summary["fixed"] == ["camera", "objects"]
    assert started[0]["camera"] == {"distance": {"min": 0.4, "max": 0.7}} and summary["trials"] == 2
    assert (tmp_path / "train" / "recipe.yaml").read_text() == built
    T.tune_arm(T.parse_args(["--recipe", "r.yaml", "--tune-minutes", "1"]), tmp_path)
    assert "tune" not in started[1]
