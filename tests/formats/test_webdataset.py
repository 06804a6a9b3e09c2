"""WebDataset shards (BOP-webdataset layout) read back by the ``webdataset`` library itself.

Oracles: the BOP scene files the shards are made of (bytes of rgb/depth, JSON entries, mask PNGs),
pycocotools' decoder for the BOP toolkit's RLE, and ``braceexpand`` for the shard pattern. The unit
tests build fake scene folders (no rendering) and read tars with the standard library, grouping members
by WebDataset's key rule; the end-to-end tests build with the CLI and read with ``webdataset.WebDataset``
(imported there only: it imports torch, 3 s, where torch is installed).
"""

import io
import json
import shutil
import tarfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from braceexpand import braceexpand
from conftest import DEFAULT_RECIPE, ROOT, SMALL, run_cli
from PIL import Image
from pycocotools import mask as mask_utils

from gtforge.formats import webdataset as wds
from gtforge.formats.atomic import load_json, write_json_atomic
from gtforge.formats.bop import mask_relpath, read_mask, scene_dirs, scene_path, write_mask
from gtforge.formats.protocol import FrameRecord

SPLIT = "train_pbr"
W, H = 32, 24


# ---------------------------------------------------------------- grouping, names, RLE (no files)
@pytest.mark.parametrize("counts, limit, expected", [
    ([400] * 5, 1000, [(0, 1), (2, 3), (4,)]),
    ([1000] * 3, 1000, [(0,), (1,), (2,)]),
    ([600, 600, 300], 1000, [(0,), (1, 2)]),
    ([1500, 10, 990, 1], 1000, [(0,), (1, 2), (3,)]),
    ([2] * 5, 4, [(0, 1), (2, 3), (4,)]),
    ([], 1000, []),
])
def test_shards_are_consecutive_whole_scenes_within_the_frame_limit(counts, limit, expected):
    assert wds.plan_shards(counts, limit) == expected


def test_shard_plan_properties_on_random_recipes():
    rng = np.random.default_rng(0)
    for _ in range(200):
        counts = rng.integers(0, 1001, size=int(rng.integers(1, 60))).tolist()
        plan = wds.plan_shards(counts)
        assert [s for shard in plan for s in shard] == list(range(len(counts)))  # every scene once, in order
        for k, shard in enumerate(plan):
            n = sum(counts[s] for s in shard)
            assert n <= wds.SHARD_FRAMES  # scenes have <= 1000 views, so every shard fits
            if k + 1 < len(plan):  # and a shard is closed only when the next scene does not fit
                assert n + counts[plan[k + 1][0]] > wds.SHARD_FRAMES
    with pytest.raises(ValueError, match="shard_frames"):
        wds.plan_shards([1], 0)


def test_shard_pattern_expands_to_the_shard_names():
    for n in (1, 3, 12):
        assert list(braceexpand(wds.shard_pattern(SPLIT, n))) == [wds.shard_name(SPLIT, k) for k in range(n)]
    assert wds.shard_name("train_pbr", 7) == "train_pbr-000007.tar"
    assert wds.sample_key(3, 12) == "000003_000012"


def bop_toolkit_rle(mask):
    """The BOP toolkit's ``pycoco_utils.binary_mask_to_rle``, restated over the whole image (reference)."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    counts = [0] if flat[0] else []
    change = np.flatnonzero(np.concatenate(([True], flat[:-1] != flat[1:], [True])))
    return {"counts": counts + np.diff(change).tolist(), "size": list(mask.shape)}


def test_mask_rle_is_the_bop_toolkit_encoding_and_pycocotools_decodes_it():
    rng = np.random.default_rng(1)
    masks = [np.zeros((H, W), bool), np.ones((H, W), bool)]
    for corner in ((0, 0), (H - 1, W - 1), (0, W - 1), (H - 1, 0)):
        m = np.zeros((H, W), bool)
        m[corner] = True
        masks.append(m)
    blob = np.zeros((H, W), bool)
    blob[5:12, 3:20] = True
    masks += [blob, ~blob, rng.random((H, W)) < 0.5, rng.random((H, W)) < 0.02]
    for m in masks:
        rle = wds.mask_rle(m)
        assert rle == bop_toolkit_rle(m)
        assert sum(rle["counts"]) == H * W
        decoded = mask_utils.decode(mask_utils.frPyObjects(rle, H, W)).astype(bool)
        assert np.array_equal(decoded, m)
        assert np.array_equal(wds.rle_mask(json.loads(json.dumps(rle))), m)


# ---------------------------------------------------------------- fake scene folders (no rendering)
def fake_label(rng):
    mask = rng.random((H, W)) < 0.3
    return SimpleNamespace(mask=mask, mask_visib=mask & (rng.random((H, W)) < 0.7))


def fake_scene(root, scene_id, n_frames, hands=False):
    """A committed scene folder as the BOP writers and :class:`WebdatasetWriter` leave it (random content)."""
    rng = np.random.default_rng(scene_id)
    d = scene_path(root, SPLIT, scene_id)
    for sub in ("rgb", "depth", "mask", "mask_visib", "mask_hand", "mask_visib_hand"):
        (d / sub).mkdir(parents=True)
    layers = SimpleNamespace(mask=True, mask_visib=True)
    writer = wds.WebdatasetWriter(SimpleNamespace(folder=d, output=SimpleNamespace(layers=layers)))
    cam, gt, info, occ, hand_entries = {}, {}, {}, {}, {}
    for im in range(n_frames):
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(d / "rgb" / f"{im:06d}.jpg")
        Image.fromarray(rng.integers(0, 9000, (H, W)).astype(np.uint16)).save(d / "depth" / f"{im:06d}.png")
        labels = [fake_label(rng) for _ in range(int(rng.integers(0, 4)))]
        frame_hands = [fake_label(rng) for _ in range(im % 2)] if hands else []  # odd frames: one hand
        for g, lab in enumerate(labels):
            write_mask(d / mask_relpath("mask", im, g), lab.mask)
            write_mask(d / mask_relpath("mask_visib", im, g), lab.mask_visib)
        for k, hnd in enumerate(frame_hands):
            write_mask(d / mask_relpath("mask_hand", im, k), hnd.mask)
            write_mask(d / mask_relpath("mask_visib_hand", im, k), hnd.mask_visib)
        writer.add_frame(FrameRecord(im_id=im, view=None, rgb=None, depth=None, labels=labels, hands=frame_hands))
        cam[im] = {"cam_K": rng.random(9).tolist(), "depth_scale": 0.1, "cam_R_w2c": rng.random(9).tolist(),
                   "cam_t_w2c": rng.random(3).tolist()}
        gt[im] = [{"cam_R_m2c": rng.random(9).tolist(), "cam_t_m2c": rng.random(3).tolist(), "obj_id": g + 1}
                  for g in range(len(labels))]
        info[im] = [{"visib_fract": float(rng.random()), "px_count_visib": int(lab.mask_visib.sum())} for lab in labels]
        occ[im] = [{"inst_id": g, "truncation": 0.0} for g in range(len(labels))]
        if frame_hands:
            hand_entries[im] = [{"hand_id": k, "handedness": "right", "mask": mask_relpath("mask_hand", im, k)}
                                for k in range(len(frame_hands))]
    writer.finish()
    for name, content in (("scene_camera.json", cam), ("scene_gt.json", gt), ("scene_gt_info.json", info),
                          ("scene_gt_occlusion.json", occ)):
        write_json_atomic(d / name, content, per_key_lines=True)
    if hand_entries:
        write_json_atomic(d / "scene_hands.json", hand_entries, per_key_lines=True)
    return d


def fake_dataset(root, counts, hands=False):
    for s, n in enumerate(counts):
        fake_scene(root, s, n, hands)
    return Path(root)


def library_samples(paths):
    """Every sample of the shards through ``webdataset.WebDataset`` (the library's own reader)."""
    import webdataset

    return list(webdataset.WebDataset([str(p) for p in paths], shardshuffle=False, empty_check=False))


def tar_samples(paths):
    """Every sample of the shards read with ``tarfile``: consecutive members grouped by WebDataset's key rule
    (the base name up to its first dot; the rest is the member's extension)."""
    samples = []
    for p in paths:
        with tarfile.open(p) as tf:
            for m in tf.getmembers():
                key, ext = m.name.split(".", 1)
                if not samples or samples[-1]["__key__"] != key or samples[-1]["__url__"] != str(p):
                    samples.append({"__key__": key, "__url__": str(p)})
                assert ext not in samples[-1]
                samples[-1][ext] = tf.extractfile(m).read()
    return samples


def tree(folder):
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


def check_samples_equal_scene_files(root, samples, hands=False):
    """Every sample equals its scene files: bytes, JSON entries, masks (pycocotools decode vs PNG)."""
    by_key = {}
    for s in samples:
        assert s["__key__"] not in by_key
        by_key[s["__key__"]] = s
    expected = [f"{int(d.name):06d}_{im:06d}" for d in scene_dirs(root, SPLIT)
                for im in sorted(load_json(d / "scene_camera.json"))]
    assert [s["__key__"] for s in samples] == expected  # one sample per frame, in scene and image order
    for key, s in by_key.items():
        scene_id, im_id = (int(x) for x in key.split("_"))
        d = scene_path(root, SPLIT, scene_id)
        rgb = next((d / "rgb").glob(f"{im_id:06d}.*"))
        assert s[f"rgb{rgb.suffix}"] == rgb.read_bytes()
        assert s["depth.png"] == (d / "depth" / f"{im_id:06d}.png").read_bytes()
        for member, file in (("camera", "scene_camera"), ("gt", "scene_gt"), ("gt_info", "scene_gt_info"),
                             ("gt_occlusion", "scene_gt_occlusion")):
            assert json.loads(s[f"{member}.json"]) == load_json(d / f"{file}.json")[im_id], (key, member)
        n_inst = len(load_json(d / "scene_gt.json")[im_id])
        for layer in ("mask", "mask_visib"):
            rles = json.loads(s[f"{layer}.json"])
            assert sorted(rles, key=int) == [str(g) for g in range(n_inst)]
            for g, rle in rles.items():
                decoded = mask_utils.decode(mask_utils.frPyObjects(rle, *rle["size"])).astype(bool)
                assert np.array_equal(decoded, read_mask(d / mask_relpath(layer, im_id, int(g)))), (key, layer, g)
        if hands:
            hf = d / "scene_hands.json"
            entries = load_json(hf).get(im_id, []) if hf.is_file() else []
            assert json.loads(s["hands.json"]) == entries
            for layer in ("mask_hand", "mask_visib_hand"):
                rles = json.loads(s[f"{layer}.json"])
                assert sorted(rles, key=int) == [str(h["hand_id"]) for h in entries]
                for k, rle in rles.items():
                    assert np.array_equal(wds.rle_mask(rle), read_mask(d / mask_relpath(layer, im_id, int(k))))
            for h in entries:
                if "vertices" in h:
                    assert s[f"hand_vertices_{h['hand_id']:06d}.npz"] == (d / h["vertices"]).read_bytes()
        else:
            assert not any(k.startswith("hand") or k.endswith("_hand.json") for k in s)


def test_fake_scenes_round_trip_with_small_shards(tmp_path):
    root = fake_dataset(tmp_path / "ds", [2, 3, 1, 2, 2])
    index = wds.merge_webdataset(root, SPLIT, [2, 3, 1, 2, 2], shard_frames=4)
    assert [s["scenes"] for s in index["shards"]] == [[0], [1, 2], [3, 4]]
    assert [s["num_frames"] for s in index["shards"]] == [2, 4, 4]
    assert index["complete"] and index["num_frames"] == 10 and index["num_shards"] == 3
    paths = [root / "webdataset" / name for name in braceexpand(index["pattern"])]
    assert paths == wds.shard_paths(root)
    samples = tar_samples(paths)
    check_samples_equal_scene_files(root, samples)
    key_to_shard = json.loads((root / "webdataset" / "key_to_shard.json").read_text())
    assert key_to_shard == {s["__key__"]: int(Path(s["__url__"]).stem.split("-")[-1]) for s in samples}
    # the decoder beside the writer gives arrays equal to the scene files
    dec = wds.decode_sample(next(s for s in samples if s["__key__"] == "000001_000000"))
    d = scene_path(root, SPLIT, 1)
    assert (dec["scene_id"], dec["im_id"]) == (1, 0)
    assert np.array_equal(dec["rgb"], np.asarray(Image.open(d / "rgb" / "000000.jpg").convert("RGB")))
    assert np.array_equal(dec["depth"], np.asarray(Image.open(d / "depth" / "000000.png"), float) * 0.1 / 1000)
    assert dec["mask_visib"].shape == (len(dec["gt"]), H, W)
    for g in range(len(dec["gt"])):
        assert np.array_equal(dec["mask_visib"][g], read_mask(d / mask_relpath("mask_visib", 0, g)))
    assert dec["mask_hand"] is None and dec["hands"] is None


def test_hand_members_are_in_every_sample_of_a_recipe_with_hands(tmp_path):
    root = fake_dataset(tmp_path / "ds", [3], hands=True)
    wds.merge_webdataset(root, SPLIT, [3], hands=True)
    samples = tar_samples(wds.shard_paths(root))
    check_samples_equal_scene_files(root, samples, hands=True)
    assert [json.loads(s["hands.json"]) == [] for s in samples] == [True, False, True]
    assert json.loads(samples[0]["mask_hand.json"]) == {}
    assert wds.decode_sample(samples[1])["mask_hand"].shape == (1, H, W)


def headers(path):
    with tarfile.open(path) as tf:
        return tf.getmembers()


def test_tar_bytes_are_reproducible_and_headers_fixed(tmp_path):
    counts = [2, 3]
    a = fake_dataset(tmp_path / "a", counts)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    wds.merge_webdataset(a, SPLIT, counts)
    wds.merge_webdataset(b, SPLIT, counts)
    assert tree(a / "webdataset") == tree(b / "webdataset")
    members = headers(a / "webdataset" / "train_pbr-000000.tar")
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode, m.type) for m in members} == \
        {(0, 0, 0, "", "", 0o644, tarfile.REGTYPE)}
    names = [m.name for m in members]
    keys = [n.split(".", 1)[0] for n in names]
    assert keys == sorted(keys)  # samples in key order, each sample's members together
    for key in set(keys):
        exts = [n.split(".", 1)[1] for n in names if n.startswith(key + ".")]
        assert exts == sorted(exts)
    # an unchanged dataset is left alone: the shard is kept (same inode), the index rewritten identically
    inode = (a / "webdataset" / "train_pbr-000000.tar").stat().st_ino
    wds.merge_webdataset(a, SPLIT, counts)
    assert (a / "webdataset" / "train_pbr-000000.tar").stat().st_ino == inode
    assert tree(a / "webdataset") == tree(b / "webdataset")


def test_only_shards_whose_scenes_are_all_committed_are_written(tmp_path):
    counts = [2, 2, 2, 2, 2]
    ref = fake_dataset(tmp_path / "ref", counts)
    wds.merge_webdataset(ref, SPLIT, counts, shard_frames=4)
    part = tmp_path / "part"
    shutil.copytree(ref / SPLIT, part / SPLIT, ignore=lambda d, names: ["000002"] if d.endswith(SPLIT) else [])
    index = wds.merge_webdataset(part, SPLIT, counts, shard_frames=4)  # scene 2 not committed yet
    assert not index["complete"] and [s["shard"] for s in index["shards"]] == [0, 2]
    assert sorted(p.name for p in (part / "webdataset").glob("*.tar")) == ["train_pbr-000000.tar",
                                                                         "train_pbr-000002.tar"]
    assert len(json.loads((part / "webdataset" / "key_to_shard.json").read_text())) == 6
    shutil.copytree(ref / SPLIT / "000002", part / SPLIT / "000002")  # the scene is committed: resume
    index = wds.merge_webdataset(part, SPLIT, counts, shard_frames=4)
    assert index["complete"]
    assert tree(part / "webdataset") == tree(ref / "webdataset")


def test_a_killed_merge_is_completed_by_running_it_again(tmp_path, monkeypatch):
    counts = [2, 2, 2]
    ref = fake_dataset(tmp_path / "ref", counts)
    wds.merge_webdataset(ref, SPLIT, counts, shard_frames=2)
    ds = tmp_path / "ds"
    shutil.copytree(ref / SPLIT, ds / SPLIT)
    real_sample, calls = wds.frame_sample, []

    def dies_in_shard_1(*args, **kwargs):
        calls.append(args[1])
        if args[1] == 1 and len(calls) == 4:  # second frame of shard 1: mid-write
            raise KeyboardInterrupt
        return real_sample(*args, **kwargs)

    monkeypatch.setattr(wds, "frame_sample", dies_in_shard_1)
    with pytest.raises(KeyboardInterrupt):
        wds.merge_webdataset(ds, SPLIT, counts, shard_frames=2)
    folder = ds / "webdataset"
    assert (folder / "train_pbr-000000.tar").is_file()  # the finished shard is there
    assert not (folder / "train_pbr-000001.tar").exists()  # the unfinished one never under its final name,
    assert not list(folder.glob("*.tmp")) and not (folder / "index.json").exists()  # its temporary file removed
    monkeypatch.setattr(wds, "frame_sample", real_sample)
    (folder / "train_pbr-000002.tar.123.abcd.tmp").write_bytes(b"stale")  # what a kill -9 leaves
    assert wds.merge_webdataset(ds, SPLIT, counts, shard_frames=2)["complete"]
    assert tree(folder) == tree(ref / "webdataset")  # no temporary file left, bytes as a clean run


# ---------------------------------------------------------------- end to end: CLI builds
BUILD = ["build", DEFAULT_RECIPE, "--quiet", *sum((["--set", s] for s in SMALL), []), "--set", "scenes.count=2",
         "--set", "scenes.views_per_scene=2", "--set", "output.formats=[bop, coco, webdataset]"]


@pytest.fixture(scope="module")
def wds_dataset(tmp_path_factory):
    """The default recipe at 320x240, 2 scenes x 2 views, written as BOP, COCO and WebDataset."""
    out = tmp_path_factory.mktemp("wds") / "ds"
    assert run_cli(*BUILD, "--out", out) == 0
    return out


@pytest.mark.e2e
def test_built_shards_round_trip_every_label_through_the_library(wds_dataset):
    import webdataset

    index = json.loads((wds_dataset / "webdataset" / "index.json").read_text())
    assert index["complete"] and index["num_shards"] == 1 and index["num_frames"] == 4
    samples = list(webdataset.WebDataset(str(wds_dataset / "webdataset" / index["pattern"]), shardshuffle=False))
    assert len(samples) == 4 and len({s["__key__"] for s in samples}) == 4
    check_samples_equal_scene_files(wds_dataset, samples)
    for s in samples:
        dec = wds.decode_sample(s)
        d = scene_path(wds_dataset, SPLIT, dec["scene_id"])
        depth = np.asarray(Image.open(d / "depth" / f"{dec['im_id']:06d}.png"), dtype=np.float64) * 0.1 / 1000
        assert np.array_equal(dec["depth"], depth)
        assert dec["rgb"].shape == (240, 320, 3) and dec["mask"].shape == (len(dec["gt"]), 240, 320)
        assert all(m.sum() == i["px_count_visib"] for m, i in zip(dec["mask_visib"], dec["gt_info"]))
    # the reader beside the writer yields the library's samples
    def members(samples):
        return [{k: v for k, v in s.items() if not k.startswith("__")} for s in samples]

    assert members(wds.read_shard(wds.shard_paths(wds_dataset)[0])) == members(samples)
    assert [s["__key__"] for s in tar_samples(wds.shard_paths(wds_dataset))] == [s["__key__"] for s in samples]
    # the bytes are those the library's own writer gives with the same header values
    buf = io.BytesIO()
    with webdataset.TarWriter(buf, user="", group="", mode=0o644, mtime=0, encoder=False) as tw:
        for s in samples:
            tw.write(s)
    assert buf.getvalue() == wds.shard_paths(wds_dataset)[0].read_bytes()


@pytest.mark.e2e
def test_two_workers_write_the_same_shard_bytes(wds_dataset, tmp_path):
    assert run_cli(*BUILD, "--out", tmp_path / "w2", "--workers", "2") == 0
    assert tree(tmp_path / "w2" / "webdataset") == tree(wds_dataset / "webdataset")


@pytest.mark.e2e
def test_regrouped_shards_hold_the_same_samples(wds_dataset, tmp_path):
    import webdataset

    copy = tmp_path / "ds"
    shutil.copytree(wds_dataset / SPLIT, copy / SPLIT)
    index = wds.merge_webdataset(copy, SPLIT, [2, 2], shard_frames=2)
    assert [s["scenes"] for s in index["shards"]] == [[0], [1]]
    one = library_samples(wds.shard_paths(wds_dataset))
    two = list(webdataset.WebDataset(str(copy / "webdataset" / index["pattern"]), shardshuffle=False))
    def strip(samples):  # the library adds __url__ and __local_path__
        return [{k: v for k, v in s.items() if k == "__key__" or not k.startswith("__")} for s in samples]

    assert len(two) == 4 and strip(one) == strip(two)


@pytest.mark.e2e
def test_hands_round_trip(tmp_path):
    out = tmp_path / "hands"
    assert run_cli("build", ROOT / "recipes" / "hands_objects.yaml", "--out", out, "--quiet", "--set",
                   "camera.width=320", "--set", "camera.height=240", "--set", "scenes.count=1", "--set",
                   "scenes.views_per_scene=2", "--set", "hands.write_vertices=true", "--set",
                   "output.formats=[bop, webdataset]") == 0
    samples = library_samples(wds.shard_paths(out))
    check_samples_equal_scene_files(out, samples, hands=True)
    dec = wds.decode_sample(samples[0])
    assert len(dec["hands"]) >= 1 and dec["mask_hand"].shape == (len(dec["hands"]), 240, 320)
    verts = dec["hand_vertices"][0]["vertices_cam"]
    with np.load(io.BytesIO((scene_path(out, SPLIT, 0) / dec["hands"][0]["vertices"]).read_bytes())) as z:
        assert np.array_equal(verts, z["vertices_cam"])
