"""Stereo (``camera.stereo``): the right views carry the full ground truth of a camera moved by the baseline,
the disparity layer is fx * baseline / z, and the right view sees, at u - d, the surface the left one sees at u
(checked on the right view's own depth and instance ids: an oracle independent of the disparity file)."""

import json

import numpy as np
import pytest
from conftest import DEFAULT_RECIPE, SMALL, run_cli
from PIL import Image
from scipy import ndimage

from gtforge.config import load_recipe
from gtforge.config.stereo import disparity_scale
from gtforge.formats.bop import read_depth, read_disparity, scene_path
from gtforge.pipeline.job import BuildJob
from gtforge.pipeline.output import pending_scenes

pytestmark = pytest.mark.e2e

BASELINE = 0.06
SETS = sum((["--set", s] for s in SMALL), []) + ["--set", "scenes.count=2", "--set", "scenes.views_per_scene=2",
                                                  "--set", "output.formats=[bop, coco]"]
STEREO = ["--set", f"camera.stereo={{baseline: {BASELINE}}}"]


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    d = tmp_path_factory.mktemp("stereo")
    assert run_cli("build", DEFAULT_RECIPE, "--out", d / "mono", "--quiet", *SETS) == 0
    assert run_cli("build", DEFAULT_RECIPE, "--out", d / "st", "--quiet", *SETS, *STEREO) == 0
    return d / "mono", d / "st"


def _ids(scene_dir, im):
    """Instance id per pixel (0: none) from the visible masks and scene_gt_occlusion's inst_id order."""
    occ = json.loads((scene_dir / "scene_gt_occlusion.json").read_text())[str(im)]
    ids = None
    for gid in range(len(occ)):
        m = np.asarray(Image.open(scene_dir / "mask_visib" / f"{im:06d}_{gid:06d}.png")) > 0
        ids = np.zeros(m.shape, np.int32) if ids is None else ids
        ids[m] = gid + 1
    return ids


def test_right_views_are_the_left_camera_moved_by_the_baseline_with_full_ground_truth(builds):
    _, st = builds
    assert json.loads((st / "gtforge.json").read_text())["right_split"] == "train_pbr_right"
    assert (st / "instances_train_pbr_right.json").is_file()
    for scene in ("000000", "000001"):
        left, right = st / "train_pbr" / scene, st / "train_pbr_right" / scene
        lc, rc = (json.loads((p / "scene_camera.json").read_text()) for p in (left, right))
        lg, rg = (json.loads((p / "scene_gt.json").read_text()) for p in (left, right))
        assert sorted(lc) == sorted(rc) == ["0", "1"]
        for im in lc:
            assert rc[im]["cam_R_w2c"] == lc[im]["cam_R_w2c"] and rc[im]["cam_K"] == lc[im]["cam_K"]
            np.testing.assert_allclose(rc[im]["cam_t_w2c"], np.add(lc[im]["cam_t_w2c"], [-1000 * BASELINE, 0, 0]),
                                       atol=1e-6)
            assert len(rg[im]) == len(lg[im])
            for a, b in zip(lg[im], rg[im]):  # every object's pose in the right camera
                assert a["obj_id"] == b["obj_id"]
                np.testing.assert_allclose(b["cam_R_m2c"], a["cam_R_m2c"], atol=1e-9)
                np.testing.assert_allclose(b["cam_t_m2c"], np.add(a["cam_t_m2c"], [-1000 * BASELINE, 0, 0]), atol=1e-6)
            assert (right / "depth" / f"{int(im):06d}.png").is_file() and (right / "rgb").is_dir()
            assert not (right / "disparity").exists()
    assert run_cli("verify", st, "--sample", "2") == 0


def test_disparity_is_fx_b_over_z_and_the_right_view_sees_that_surface_there(builds):
    _, st = builds
    recipe, _ = load_recipe(DEFAULT_RECIPE, [a for a in SETS + STEREO if a != "--set"])
    fx = recipe.camera.K()[0, 0]
    scale = disparity_scale(fx, BASELINE, recipe.camera.znear)
    same, total, rel = 0, 0, []
    for scene in ("000000", "000001"):
        left, right = st / "train_pbr" / scene, st / "train_pbr_right" / scene
        cams = json.loads((left / "scene_camera.json").read_text())
        for im in (0, 1):
            assert cams[str(im)]["disparity_scale"] == scale and cams[str(im)]["stereo_baseline"] == 1000 * BASELINE
            d = read_disparity(left / "disparity" / f"{im:06d}.png", scale)
            zl = read_depth(left / "depth" / f"{im:06d}.png", 0.1)
            zr = read_depth(right / "depth" / f"{im:06d}.png", 0.1)
            seen = zl > 0
            assert np.array_equal(d > 0, seen)
            # the written disparity is fx * b / z (z from the 0.1 mm depth PNG: both roundings allowed)
            tol = scale / 2 + fx * BASELINE * 0.05e-3 / zl[seen] ** 2 + 1e-9
            assert np.all(np.abs(d[seen] - fx * BASELINE / zl[seen]) <= tol)
            # the right view's own depth and ids at (v, u - d): the same surface, same instance
            il, ir = _ids(left, im), _ids(right, im)
            inner = ndimage.binary_erosion(il > 0, iterations=2) & seen
            v, u = np.nonzero(inner)
            ur = np.rint(u - d[v, u]).astype(int)
            ok = (ur >= 0) & (ur < zl.shape[1])
            v, u, ur = v[ok], u[ok], ur[ok]
            match = ir[v, ur] == il[v, u]
            same += int(match.sum())
            total += len(v)
            rel.append(np.abs(zr[v, ur][match] - zl[v, u][match]) / zl[v, u][match])
    rel = np.concatenate(rel)
    assert total > 2000
    assert same / total > 0.9, same / total  # the rest: seen by the left camera only (occluded on the right)
    assert np.median(rel) < 0.002 and np.percentile(rel, 90) < 0.01, (np.median(rel), np.percentile(rel, 90))


def test_the_left_views_are_the_mono_build(builds):
    mono, st = builds
    for p in sorted((mono / "train_pbr").rglob("*")):
        if p.is_file() and p.name != "scene_camera.json":
            assert p.read_bytes() == (st / p.relative_to(mono)).read_bytes(), p


def test_verify_catches_a_wrong_disparity(builds, tmp_path, capsys):
    import shutil

    _, st = builds
    bad = tmp_path / "bad"
    shutil.copytree(st, bad)
    p = bad / "train_pbr" / "000000" / "disparity" / "000001.png"
    a = np.asarray(Image.open(p)).copy()
    a[a > 0] += 3  # three units: more than the half unit of rounding
    Image.fromarray(a).save(p)
    capsys.readouterr()
    assert run_cli("verify", bad, "--sample", "0") == 1
    assert "disparity differs from fx * baseline / z" in capsys.readouterr().out


def test_stereo_refuses_formats_that_cannot_hold_the_right_split(tmp_path, capsys):
    out = tmp_path / "ds"
    assert run_cli("build", DEFAULT_RECIPE, "--out", out, "--quiet", *STEREO,
                   "--set", "output.formats=[bop, kitti]") == 2
    assert "camera.stereo" in capsys.readouterr().err and not out.exists()


def test_a_right_view_without_its_left_view_is_redone(tmp_path):
    recipe, _ = load_recipe(DEFAULT_RECIPE, ["scenes.count=2", f"camera.stereo={{baseline: {BASELINE}}}"])
    for split in ("train_pbr", "train_pbr_right"):
        scene_path(tmp_path, split, 0).mkdir(parents=True)
    scene_path(tmp_path, "train_pbr_right", 1).mkdir(parents=True)  # killed between the two commits
    assert pending_scenes(BuildJob(recipe, {}, str(DEFAULT_RECIPE), DEFAULT_RECIPE.parent, tmp_path)) == [1]
    assert (scene_path(tmp_path, "train_pbr_right", 0).is_dir()
            and not scene_path(tmp_path, "train_pbr_right", 1).exists())


def test_stereo_shards_merge_into_the_single_build(tmp_path):
    small = ["--set", "camera.width=160", "--set", "camera.height=120",
             "--set", "camera.intrinsics={fx: 143.1, fy: 143.4, cx: 81.3, cy: 60.5}",
             "--set", "scenes.count=3", "--set", "scenes.views_per_scene=1", "--set", "output.formats=[bop, coco]",
             *STEREO, "--quiet"]
    assert run_cli("build", DEFAULT_RECIPE, "--out", tmp_path / "one", *small) == 0
    for k in (0, 1):
        assert run_cli("build", DEFAULT_RECIPE, "--out", tmp_path / f"s{k}", "--shard", f"{k}/2", *small) == 0
    assert run_cli("merge", tmp_path / "s0", tmp_path / "s1", "--out", tmp_path / "m", "--quiet") == 0
    one = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*") if p.is_file()}
    merged = {p.relative_to(tmp_path / "m"): p.read_bytes() for p in (tmp_path / "m").rglob("*") if p.is_file()}
    assert sorted(one) == sorted(merged) and all(one[k] == merged[k] for k in one)
    assert any(str(k).startswith("train_pbr_right/000002/") for k in one)
