"""Appearance never changes geometry: for every bundled recipe, a build whose look is changed (textures,
materials, colours, lights, shadows, backdrops, skin, AR compositing) writes every file byte-identical to the
recorded golden output (``golden_hashes.json``), except the images and the files that describe them.

May differ: the RGB frames (``rgb/``, KITTI ``image_2/``, YOLO ``images/``), the appearance record
``scene_appearance.json`` (it describes ``rgb/``), and the dataset's copy of the resolved recipe
(``recipe.yaml``, ``gtforge.json``: they hold the ``--set`` overrides themselves).
"""

import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("golden", Path(__file__).with_name("golden.py"))
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)

RECORDED = json.loads(golden.HASHES.read_text())

#: Folders holding images; files describing the look; the resolved-recipe copies.
IMAGE_DIRS = {"rgb", "image_2", "images"}
LOOK_FILES = {"scene_appearance.json", "recipe.yaml", "gtforge.json"}

_CLUTTER_LOOK = [
    "appearance.objects={asset: 1, texture: 2, color: 1}",
    "appearance.textures=[procedural://marble, procedural://dots, bundled://pybullet_data]",
    "appearance.metallic={min: 0.2, max: 0.9}", "appearance.roughness={min: 0.05, max: 0.5}",
    "appearance.hsv_jitter={hue: {min: -0.3, max: 0.3}, saturation: {min: 0.5, max: 1.5}, value: {min: 0.6, max: 1.2}}",
    "appearance.floor={color: 1}", "appearance.backdrop={sky: 1}",
    "lights.count={min: 1, max: 4}", "lights.kinds={point: 1, spot: 1, directional: 1}",
    "lights.temperature_k={min: 2000, max: 9000}", "lights.ambient={min: 0.05, max: 0.1}",
]
#: case -> overrides that change only the look
LOOK = {
    "clutter_bop": _CLUTTER_LOOK + ["lights.shadows=false", "appearance.walls={texture: 1}"],
    "bop_pbr_like": _CLUTTER_LOOK + ["lights.shadows=false", "appearance.distractors={color: 1}",
                                     "appearance.backdrop={photo: 1}"],
    "hands_objects": _CLUTTER_LOOK + ["lights.shadows=true", "hands.skin_types=[6]"],
    "ar_cars": ["ar.look.shadows=false", "ar.look.blend=none", "ar.look.color_match={min: 0.5, max: 0.6}",
                "ar.look.noise_sigma={min: 4, max: 5}", "ar.look.sun_elevation_deg={min: 10, max: 20}"],
    "cut_paste": ["ar.look.blend=poisson", "ar.look.blur_sigma={min: 1.0, max: 2.0}",
                  "ar.look.chromatic_aberration_px={min: 2, max: 3}"],
}


def _geometry(hashes: dict) -> dict:
    """The entries that must not depend on the look."""
    return {k: v for k, v in hashes.items()
            if not (IMAGE_DIRS & set(k.split("/")[:-1])) and k.split("/")[-1] not in LOOK_FILES}


def test_every_bundled_recipe_has_a_look_change():
    assert set(LOOK) == set(golden.CASES)


@pytest.mark.e2e
@pytest.mark.parametrize("case", sorted(LOOK))
def test_changing_only_the_look_leaves_every_ground_truth_file_byte_identical(case, tmp_path, monkeypatch):
    recipe, overrides = golden.CASES[case]
    monkeypatch.setitem(golden.CASES, case, (recipe, overrides + LOOK[case]))
    got = golden.build_case(case, tmp_path / case)
    want = RECORDED[case]
    # the look did change the images (else this test would prove nothing)
    images = [k for k in want if IMAGE_DIRS & set(k.split("/")[:-1])]
    assert images and any(got.get(k) != want[k] for k in images)
    g, w = _geometry(got), _geometry(want)
    missing, extra = sorted(set(w) - set(g)), sorted(set(g) - set(w))
    changed = sorted(k for k in set(g) & set(w) if g[k] != w[k])
    assert not (missing or extra or changed), f"missing {missing[:10]}, extra {extra[:10]}, changed {changed[:10]}"
