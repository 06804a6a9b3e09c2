"""Recipe validation: every bad input names the file and the field path; the CLI exits 2 and writes nothing."""

from pathlib import Path

import pytest
import yaml
from conftest import DEFAULT_RECIPE, run_cli

from gtforge.config import RecipeError, apply_overrides, load_recipe


def write_recipe(tmp_path, mutate) -> Path:
    data = yaml.safe_load(DEFAULT_RECIPE.read_text())
    # make pkg:// sources independent of the temp folder: they are absolute already
    mutate(data)
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_bundled_recipe_is_valid():
    recipe, raw = load_recipe(DEFAULT_RECIPE)
    assert recipe.seed == 0 and recipe.num_scenes() == raw["scenes"]["count"]


@pytest.mark.parametrize(
    "mutate, path, words",
    [
        (lambda d: d.update(colour="red"), "colour", "unknown key"),
        (lambda d: d["camera"].update(widht=320), "camera.widht", "unknown key"),
        (lambda d: d["camera"].update(width="640"), "camera.width", "valid integer"),
        (lambda d: d["objects"][2]["count"].update(min=-5), "objects[2].count.min", "greater than or equal to 0"),
        (lambda d: d["objects"][0]["count"].update(min=3, max=1), "objects[0].count", "min (3) must be <= max (1)"),
        (lambda d: d["camera"]["distance"].update(min=2.0, max=1.0), "camera.distance", "must be <= max"),
        (lambda d: d["objects"][1].update(source="meshes/nope.obj"), "objects[1].source", "file not found"),
        (lambda d: d["objects"][1].update(source="pkg://pybullet_data/checker_blue.png"), "objects[1].source",
         "unsupported file type"),
        (lambda d: d["appearance"].update(floor_textures=["missing.png"]), "appearance.floor_textures",
         "file not found"),
        (lambda d: d.pop("seed"), "seed", "Field required"),
        (lambda d: d.update(seed=-1), "seed", "greater than or equal to 0"),
        (lambda d: d["scenes"].update(views_per_scene=1001), "scenes.views_per_scene", "less than or equal to 1000"),
        (lambda d: d["camera"].update(fov_y_deg=50), "camera", "exactly one of"),
        (lambda d: d["camera"].update(width=160, height=120), "camera", "lies outside the 160x120 image"),
        (lambda d: d["output"].update(occlusion_thresholds=[0.6, 0.2]), "output.occlusion_thresholds", "t0 <= t1"),
        (lambda d: d["output"].update(formats=["pascal"]), "output.formats[0]", "unknown format; known: bop, coco, kitti"),
        (lambda d: d["output"].update(formats=["kitti"]), "", "the kitti format is written for ar scenes"),
        (lambda d: d["output"].update(formats=["coco"], layers={"rgb": False}), "output", "keep layers.rgb true"),
        (lambda d: d["clutter"].update(support="box"), "clutter.support", "'plane' or 'bin'"),
        (lambda d: d["lights"]["color"].update(max=[1.5, 1, 1]), "lights.color", "[0, 1]"),
    ],
)
def test_bad_recipe_names_field(tmp_path, mutate, path, words):
    p = write_recipe(tmp_path, mutate)
    with pytest.raises(RecipeError) as e:
        load_recipe(p)
    assert e.value.path == path
    assert words in e.value.message
    assert str(e.value).startswith(f"{p}: {path}: " if path else f"{p}: ")


def test_bad_yaml_and_missing_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("seed: [1, 2\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(p)
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "absent.yaml")


def test_overrides_apply_and_validate():
    recipe, raw = load_recipe(DEFAULT_RECIPE, ["camera.width=700", "objects[0].count.max=3", "objects.1.scale=2"])
    assert recipe.camera.width == 700 and recipe.objects[0].count.max == 3 and recipe.objects[1].scale == 2.0
    assert raw["camera"]["width"] == 700
    with pytest.raises(RecipeError) as e:
        load_recipe(DEFAULT_RECIPE, ["objects[99].count.max=3"])
    assert e.value.path == "objects[99]"
    with pytest.raises(RecipeError) as e:
        load_recipe(DEFAULT_RECIPE, ["camera.heigth=3"])
    assert e.value.path == "camera.heigth" and "unknown key" in e.value.message
    with pytest.raises(RecipeError, match="expected key.path=value"):
        apply_overrides({}, ["camera.width"])


def test_max_frames_shortens_last_scene():
    recipe, _ = load_recipe(DEFAULT_RECIPE, ["scenes.views_per_scene=4", "scenes.max_frames=10"])
    assert recipe.num_scenes() == 3
    assert [recipe.views_in_scene(i) for i in range(3)] == [4, 4, 2]


def test_fov_gives_centred_intrinsics():
    recipe, _ = load_recipe(DEFAULT_RECIPE, ["camera.intrinsics=null", "camera.fov_y_deg=90", "camera.width=320",
                                             "camera.height=240"])
    K = recipe.camera.K()
    assert K[1, 1] == pytest.approx(120.0) and K[0, 0] == K[1, 1]
    assert (K[0, 2], K[1, 2]) == (159.5, 119.5)


@pytest.mark.parametrize("argv_extra", [["--set", "objects[2].count.min=-5"], ["--set", "camera.width=abc"]])
def test_cli_exit_2_and_writes_nothing(tmp_path, capsys, argv_extra):
    out = tmp_path / "out"
    rc = run_cli("build", DEFAULT_RECIPE, "--out", out, "--quiet", *argv_extra)
    assert rc == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "gtforge: error:" in err and str(DEFAULT_RECIPE) in err


def test_cli_bad_mesh_file_exit_2_before_rendering(tmp_path, capsys):
    bad = tmp_path / "broken.obj"
    bad.write_text("this is not an obj file\n")
    p = write_recipe(tmp_path, lambda d: d["objects"].append({"name": "broken", "source": str(bad),
                                                               "count": {"min": 1, "max": 1}}))
    out = tmp_path / "out"
    rc = run_cli("build", p, "--out", out, "--quiet")
    assert rc == 2
    assert "broken.obj" in capsys.readouterr().err
    assert not out.exists()


def test_cli_refuses_foreign_output_folder(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    rc = run_cli("build", DEFAULT_RECIPE, "--out", out, "--quiet", "--frames", "1")
    assert rc == 2
    assert (out / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]
    assert "not a gtforge dataset" in capsys.readouterr().err
