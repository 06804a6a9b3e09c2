"""``--shard K/N`` and ``gtforge merge``: the shards of a build merge into a dataset byte-identical to a single
build (every file: COCO ids, models, YOLO layout, WebDataset tars, gtforge.json); merges of the wrong inputs
are refused with exit 2 and nothing written; a shard folder only resumes as the same shard."""

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import DEFAULT_RECIPE, SMALL, run_cli

pytestmark = pytest.mark.e2e

#: 3 scenes of one view: shard 0/2 holds scenes 0 and 2, shard 1/2 scene 1; every format a clutter recipe has
#: (kitti is for AR recipes); the ten blobs as distractors, so models_distractors/ is merged too
ARGS = [DEFAULT_RECIPE, "--quiet", *sum((["--set", s] for s in SMALL), []), "--set", "scenes.count=3",
        "--set", "scenes.views_per_scene=1", "--set", "output.formats=[bop, coco, yolo, webdataset]",
        "--set", "objects[6].role=distractor"]


def tree(root):
    """Relative path -> bytes of every file (None for folders) under ``root``."""
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(Path(root).rglob("*"))}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    assert run_cli("build", *ARGS, "--out", root / "single") == 0
    assert run_cli("build", *ARGS, "--out", root / "s0", "--shard", "0/2") == 0
    assert run_cli("build", *ARGS, "--out", root / "s1", "--shard", "1/2") == 0
    return root


def scenes(folder):
    return sorted(p.name for p in (Path(folder) / "train_pbr").iterdir())


def test_shards_merge_to_the_single_build_byte_for_byte(built, tmp_path):
    assert scenes(built / "s0") == ["000000", "000002"] and scenes(built / "s1") == ["000001"]
    meta = json.loads((built / "s0" / "gtforge.json").read_text())
    assert meta["shard"] == [0, 2] and meta["num_scenes"] == 2
    out = tmp_path / "merged"
    assert run_cli("merge", built / "s1", built / "s0", "--out", out) == 0  # any order
    single, merged = tree(built / "single"), tree(out)
    assert sorted(merged) == sorted(single)  # the same files and folders: no lock, no temporaries, no extras
    assert [k for k in single if single[k] != merged[k]] == []
    # every format is there, and the COCO ids run across the shards as in one build
    assert {"gtforge.json", "recipe.yaml", "camera.json", "instances_train_pbr.json", "models/models_info.json",
            "models_distractors/models_info.json", "yolo/detect/data.yaml", "yolo/segment/data.yaml",
            "webdataset/train_pbr-000000.tar", "webdataset/index.json"} <= set(merged)
    coco = json.loads(merged["instances_train_pbr.json"])
    assert [a["id"] for a in coco["annotations"]] == list(range(1, len(coco["annotations"]) + 1))
    assert sorted({im["id"] // 1000 for im in coco["images"]}) == [0, 1, 2]
    # scene files are hard links to the shards' (no copy of the frames)
    rgb = "train_pbr/000001/rgb/000000.jpg"
    assert os.stat(out / rgb).st_ino == os.stat(built / "s1" / rgb).st_ino
    assert run_cli("verify", out, "--sample", "1") == 0


def test_a_shard_resumes_only_as_the_same_shard(built, capsys):
    before = tree(built / "s0")
    capsys.readouterr()
    assert run_cli("build", *ARGS, "--out", built / "s0", "--shard", "1/2") == 2
    assert "shard 0/2" in capsys.readouterr().err
    assert run_cli("build", *ARGS, "--out", built / "s0") == 2
    assert "--shard 0/2" in capsys.readouterr().err
    assert run_cli("build", *ARGS, "--out", built / "single", "--shard", "0/2") == 2
    assert "a full build" in capsys.readouterr().err
    assert tree(built / "s0") == before
    assert run_cli("build", *ARGS, "--out", built / "s0", "--shard", "0/2") == 0  # the same shard: nothing to do
    assert "(shard 0/2) (2 scene(s) already present)" in capsys.readouterr().out
    assert tree(built / "s0") == before


@pytest.mark.parametrize("spec", ["2/2", "0/0", "-1/2", "a/b", "1", "1/2/3"])
def test_bad_shard_flag_exits_2_naming_it(tmp_path, capsys, spec):
    assert run_cli("build", *ARGS, "--out", tmp_path / "x", f"--shard={spec}") == 2
    assert "--shard" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def refused(capsys, *argv) -> str:
    capsys.readouterr()
    assert run_cli("merge", *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("gtforge: error: ")
    return err


def test_merge_refusals_exit_2_and_write_nothing(built, tmp_path, capsys):
    out = tmp_path / "m"
    before = {d: tree(built / d) for d in ("s0", "s1", "single")}
    err = refused(capsys, built / "s0", "--out", out)  # shard 1/2 missing
    assert "missing scene(s) 1: no input is shard 1/2" in err
    dup = tmp_path / "s0_copy"
    shutil.copytree(built / "s0", dup)
    err = refused(capsys, built / "s0", dup, built / "s1", "--out", out)  # shard 0/2 twice
    assert "duplicated scene(s) 0, 2" in err and str(dup) in err and str(built / "s0") in err
    err = refused(capsys, built / "s0", built / "s0", built / "s1", "--out", out)
    assert "more than once" in err
    other = tmp_path / "s1_other_recipe"  # shard 1/2 of the same recipe with seed 7
    shutil.copytree(built / "s1", other)
    meta = json.loads((other / "gtforge.json").read_text())
    meta["recipe"]["seed"] = 7
    (other / "gtforge.json").write_text(json.dumps(meta))
    err = refused(capsys, built / "s0", other, "--out", out)
    assert "different recipe" in err and str(other) in err
    err = refused(capsys, built / "s0", built / "single", "--out", out)  # a full build is 0/1
    assert "different counts" in err
    incomplete = tmp_path / "s1_incomplete"  # shard 1/2 killed while writing its scene
    shutil.copytree(built / "s1", incomplete)
    os.rename(incomplete / "train_pbr" / "000001", incomplete / "train_pbr" / ".tmp_000001")
    err = refused(capsys, built / "s0", incomplete, "--out", out)
    assert "000001 being written or interrupted" in err and "missing scene(s) 1" in err and "incomplete" in err
    locked = tmp_path / "s1_locked"  # a build still holds it
    shutil.copytree(built / "s1", locked)
    (locked / ".gtforge.lock").write_text(json.dumps({"host": "n1", "pid": 42, "started": "2024-01-01T00:00:00Z"}))
    err = refused(capsys, built / "s0", locked, "--out", out)
    assert "a build holds this folder (host n1, pid 42" in err
    assert not out.exists()
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    err = refused(capsys, built / "s0", built / "s1", "--out", full)
    assert "not an empty folder" in err and sorted(p.name for p in full.iterdir()) == ["notes.txt"]
    err = refused(capsys, built / "s0", built / "s1", "--out", built / "s1" / "m")
    assert "overlaps" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["s0_copy", "s1_other_recipe", "s1_incomplete",
                                                                 "s1_locked", "full"])  # no temporaries
    assert {d: tree(built / d) for d in ("s0", "s1", "single")} == before
