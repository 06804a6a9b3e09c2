"""Size and count checks against the clutter space (pipeline/fit.py), on a cube whose figures are known
by hand: side 0.1 m, volume 1 L, bounding-sphere diameter 0.1 * sqrt(3) m."""

import math

import pytest
import trimesh
from conftest import DEFAULT_RECIPE, ROOT

from gtforge.assets.loaders import AssetLibrary
from gtforge.config import RecipeError, load_recipe
from gtforge.pipeline.fit import PACKING_FRACTION, check_fit, model_volume


@pytest.fixture(scope="module")
def cube_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("cube") / "cube.stl"
    trimesh.creation.box(extents=[0.1, 0.1, 0.1]).export(p)
    return p


def fit(cube_file, count: int, scale: float = 1.0, *overrides):
    """check_fit on the bundled recipe (bin 0.4 x 0.3 x 0.1 m, drops up to 0.3 m) with only the cube set."""
    objs = f"objects=[{{name: cube, source: {cube_file}, scale: {scale}, count: {{min: 0, max: {count}}}}}]"
    recipe, _ = load_recipe(DEFAULT_RECIPE, [objs, *overrides])
    check_fit(recipe, AssetLibrary(recipe.target_sets, DEFAULT_RECIPE.parent), str(DEFAULT_RECIPE))


def test_model_volume_watertight_open_and_flat():
    box = trimesh.creation.box(extents=[0.1, 0.2, 0.3])
    assert model_volume(box) == pytest.approx(0.006)
    open_box = trimesh.Trimesh(box.vertices, box.faces[:-2], process=False)  # one side missing: hull volume
    assert not open_box.is_watertight and model_volume(open_box) == pytest.approx(0.006)
    flat = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], [[0, 1, 2], [1, 3, 2]], process=False)
    assert model_volume(flat) == 0.0


def test_bin_capacity_boundary(cube_file):
    cap_litres = 0.4 * 0.3 * 0.3 * PACKING_FRACTION * 1e3  # bin area x highest drop x packing = 26.64 L
    n = math.floor(cap_litres)
    assert n == 26
    fit(cube_file, n)
    with pytest.raises(RecipeError) as e:
        fit(cube_file, n + 1)
    assert e.value.path == "objects[0].count.max" and e.value.file == str(DEFAULT_RECIPE)
    assert "27 L of objects in all" in e.value.message and "= 26.6 L" in e.value.message


def test_plane_capacity_boundary(cube_file):
    side = 2 * 0.1 + 2 * 0.1 * math.sqrt(3)  # drop region (half extent 0.1) grown by the cube's diameter
    n = math.floor(side**2 * 0.3 * PACKING_FRACTION * 1e3)
    assert n == 66
    fit(cube_file, n, 1.0, "clutter.support=plane")
    with pytest.raises(RecipeError, match="cannot fit") as e:
        fit(cube_file, n + 1, 1.0, "clutter.support=plane")
    assert e.value.path == "objects[0].count.max"


@pytest.mark.parametrize("support, limit, words", [("bin", 0.5, "larger than the bin"),
                                                   ("plane", 0.4, "larger than the workspace")])
def test_scale_boundary(cube_file, support, limit, words):
    """Bin: its diagonal sqrt(0.4^2 + 0.3^2) = 0.5 m; plane: the workspace side 2 x 0.2 m."""
    s_max = limit / (0.1 * math.sqrt(3))
    ws = [f"clutter.support={support}"] + (["clutter.workspace_half_extent=0.2"] if support == "plane" else [])
    fit(cube_file, 1, round(s_max - 0.005, 3), *ws)
    with pytest.raises(RecipeError) as e:
        fit(cube_file, 1, round(s_max + 0.005, 3), *ws)
    assert e.value.path == "objects[0].scale" and words in e.value.message and "cube.stl" in e.value.message


def test_ar_scenes_are_not_checked():
    """Cars are metres long, far larger than the default clutter workspace, and AR scenes do not use it."""
    recipe, _ = load_recipe(ROOT / "recipes" / "ar_cars.yaml", ["objects[0].variants=1"])
    check_fit(recipe, AssetLibrary(recipe.target_sets, ROOT / "recipes"), "ar_cars.yaml")


def test_distractors_take_space_too(cube_file):
    """Targets alone fit the bin; with a distractor set of the same cubes the pile does not, and the error
    names the distractor set, whose share is the largest."""
    objs = (f"objects=[{{name: cube, source: {cube_file}, count: {{min: 0, max: 10}}}}, "
            f"{{name: junk, source: {cube_file}, count: {{min: 0, max: 17}}, role: distractor}}]")
    recipe, _ = load_recipe(DEFAULT_RECIPE, [objs])
    targets = AssetLibrary(recipe.target_sets, DEFAULT_RECIPE.parent)
    check_fit(recipe, targets, str(DEFAULT_RECIPE))  # 10 L: the distractors are not counted without their library
    with pytest.raises(RecipeError) as e:
        check_fit(recipe, targets, str(DEFAULT_RECIPE), AssetLibrary(recipe.distractor_sets, DEFAULT_RECIPE.parent))
    assert e.value.path == "objects[1].count.max" and "27 L of objects in all (17 of this set" in e.value.message
    recipe, _ = load_recipe(DEFAULT_RECIPE, [objs.replace("max: 17", "max: 16")])
    check_fit(recipe, targets, str(DEFAULT_RECIPE), AssetLibrary(recipe.distractor_sets, DEFAULT_RECIPE.parent))


def test_room_capacity_and_size(cube_file):
    """A room smaller than the plane's grown drop square caps the area: 0.5 x 0.5 m x 0.3 m x 0.74 = 55.5 L;
    its diagonal (0.707 m) caps a model's size."""
    room = ["clutter.support=room", "clutter.room={size: [0.5, 0.5], height: 0.3}",
            "camera.distance={min: 0.1, max: 0.15}", "camera.look_at.jitter=0"]
    fit(cube_file, 55, 1.0, *room)
    with pytest.raises(RecipeError, match="within the room") as e:
        fit(cube_file, 56, 1.0, *room)
    assert e.value.path == "objects[0].count.max"
    with pytest.raises(RecipeError, match="larger than the room") as e:
        fit(cube_file, 1, 4.2, *room)
    assert e.value.path == "objects[0].scale"
