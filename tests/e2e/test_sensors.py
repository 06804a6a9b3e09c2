"""Sensor features in a real build: image effects change rgb/ only, depth_noisy/ leaves depth/ byte-identical,
and with every camera/sensor feature on (effects, depth sensor, view constraints, occlusion targets, stereo, lens
distortion) the output is the same with 1 and 2 workers and `gtforge verify` passes."""

import hashlib

import numpy as np
import pytest
from conftest import DEFAULT_RECIPE, SMALL, run_cli
from PIL import Image

pytestmark = pytest.mark.e2e

SETS = sum((["--set", s] for s in SMALL), []) + ["--set", "scenes.count=2", "--set", "scenes.views_per_scene=2"]
EFFECTS = ("effects={noise: {probability: 1}, defocus: {probability: 1, f_number: {min: 1.8, max: 2.8}}, "
           "motion_blur: {probability: 1, exposure_s: {min: 0.004, max: 0.008}}, vignetting: {probability: 1}, "
           "chromatic_aberration: {probability: 1}, white_balance: {probability: 1}, exposure: {probability: 1}, "
           "jpeg: {probability: 1, quality: {min: 70, max: 90}}}")
VIEWS = ("camera.constraints={min_visible_objects: 1, min_visib_fract: 0.2, min_surface_distance: 0.15, "
         "look_at: object}")
TARGETS = "camera.occlusion_targets={levels: {0: 0.4, 1: 0.4, 2: 0.2}}"


def tree(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _rgb_only(path: str) -> bool:
    return "/rgb/" in path or path.endswith(("scene_effects.json", "recipe.yaml", "gtforge.json"))


def test_effects_and_depth_sensor_change_only_their_own_files(tmp_path):
    assert run_cli("build", DEFAULT_RECIPE, "--out", tmp_path / "plain", "--quiet", *SETS) == 0
    assert run_cli("build", DEFAULT_RECIPE, "--out", tmp_path / "fx", "--quiet", *SETS, "--set", EFFECTS,
                   "--set", "output.depth_noisy={model: kinect_v1}") == 0
    a, b = tree(tmp_path / "plain"), tree(tmp_path / "fx")
    extra = sorted(set(b) - set(a))
    assert all("/depth_noisy/" in k or k.endswith(("scene_effects.json", "scene_depth_noisy.json")) for k in extra)
    assert sum("/depth_noisy/" in k for k in extra) == 4 and sum(k.endswith("scene_effects.json") for k in extra) == 2
    assert set(a) <= set(b)
    changed = sorted(k for k in a if a[k] != b[k])
    assert changed and all(_rgb_only(k) for k in changed), changed  # depth/, masks, every label: identical
    assert sum("/rgb/" in k for k in changed) == 4  # every image carries the effects
    scene = tmp_path / "fx" / "train_pbr" / "000000"
    for im in range(2):
        exact = np.asarray(Image.open(scene / "depth" / f"{im:06d}.png"))
        noisy = np.asarray(Image.open(scene / "depth_noisy" / f"{im:06d}.png"))
        assert noisy.dtype == exact.dtype == np.uint16 and noisy.shape == exact.shape
        assert not noisy[exact == 0].any()  # no surface, no reading
        both = (exact > 0) & (noisy > 0)
        assert both.mean() > 0.5 and not np.array_equal(noisy[both], exact[both])
        # same depth_scale: the noisy reading stays within a few centimetres of the truth at bin distances
        assert np.median(np.abs(noisy[both].astype(float) - exact[both])) * 0.1 < 20.0  # mm


def test_every_sensor_feature_on_is_deterministic_across_workers_and_verifies(tmp_path):
    args = ["build", DEFAULT_RECIPE, "--quiet", *SETS, "--set", EFFECTS, "--set", "output.depth_noisy={model: tof}",
            "--set", VIEWS, "--set", TARGETS, "--set", "camera.stereo={baseline: 0.05}",
            "--set", "camera.distortion={model: radtan, coeffs: [-0.12, 0.03, 0.0005, -0.0005, 0.0]}"]
    assert run_cli(*args, "--out", tmp_path / "w1", "--workers", "1") == 0
    assert run_cli(*args, "--out", tmp_path / "w2", "--workers", "2") == 0
    a, b = tree(tmp_path / "w1"), tree(tmp_path / "w2")
    assert sorted(a) == sorted(b)
    assert not sorted(k for k in a if a[k] != b[k])
    assert run_cli("verify", tmp_path / "w1", "--sample", "2") == 0
