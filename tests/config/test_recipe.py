"""Recipe validation: every bad input names the file and the field path; the CLI exits 2 and writes nothing."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from bad_inputs import grid_mesh_ply
from conftest import DEFAULT_RECIPE, ROOT, run_cli
from PIL import Image

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


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "recipes").glob("*.yaml")))
def test_every_bundled_recipe_is_valid(name):
    recipe, raw = load_recipe(ROOT / "recipes" / name)
    assert recipe.target_sets and recipe.num_scenes() == raw["scenes"]["count"]
    if name == "bop_pbr_like.yaml":  # BlenderProc4BOP's scenes: a textured room, distractors, point lights
        assert recipe.clutter.support == "room" and len(recipe.distractor_sets) == 3
        assert recipe.lights.kinds.point == 1.0 and recipe.lights.shadows


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
        (lambda d: d["appearance"].update(floor_textures=["missing.png"]), "appearance.floor_textures[0]",
         "file not found"),
        (lambda d: d.pop("seed"), "seed", "Field required"),
        (lambda d: d.update(seed=-1), "seed", "greater than or equal to 0"),
        (lambda d: d["scenes"].update(views_per_scene=1001), "scenes.views_per_scene", "less than or equal to 1000"),
        (lambda d: d["camera"].update(fov_y_deg=50), "camera", "exactly one of"),
        (lambda d: d["camera"].update(width=160, height=120), "camera", "lies outside the 160x120 image"),
        (lambda d: d["output"].update(occlusion_thresholds=[0.6, 0.2]), "output.occlusion_thresholds", "t0 <= t1"),
        (lambda d: d["output"].update(formats=["pascal"]), "output.formats[0]",
         "unknown format; known: bop, coco, kitti"),
        (lambda d: d["output"].update(formats=["coco"], layers={"rgb": False}), "output", "keep layers.rgb true"),
        (lambda d: d["output"].update(formats=["kitti"], layers={"rgb": False}), "output",
         "the kitti format refers to RGB"),
        (lambda d: d["clutter"].update(support="box"), "clutter.support", "'plane', 'bin' or 'room'"),
        (lambda d: d["lights"]["color"].update(max=[1.5, 1, 1]), "lights.color", "[0, 1]"),
        (lambda d: d["objects"][0].update(count={"min": 100000, "max": 100000}), "objects[0].count.max",
         "100000 instances is more than the limit of 500 per scene"),
        (lambda d: [o.update(count={"min": 0, "max": 80 + i}) for i, o in enumerate(d["objects"])],
         "objects[6].count.max", "draw up to 581 instances per scene (sum of count.max); the limit is 500"),
        # the appearance surface (issue 9)
        (lambda d: d["appearance"].update(objects={"asset": -1}), "appearance.objects.asset",
         "greater than or equal to 0"),
        (lambda d: d["appearance"].update(objects={"asset": 0, "texture": 0}), "appearance.objects",
         "weights must not all be 0"),
        (lambda d: d["appearance"].update(objects="fancy"), "appearance.objects",
         "expected 'asset', 'random' or weights"),
        (lambda d: d["appearance"].update(objects={"gold": 1}), "appearance.objects.gold", "unknown key"),
        (lambda d: d["lights"].update(kinds={"point": float("inf")}), "lights.kinds.point", "weight must be finite"),
        (lambda d: d["lights"].update(kinds={"laser": 1}), "lights.kinds.laser", "unknown key"),
        (lambda d: d["appearance"].update(backdrop={"color": 0, "sky": 0}), "appearance.backdrop",
         "weights must not all be 0"),
        (lambda d: d["appearance"].update(textures=["procedural://plaid"]), "appearance.textures[0]",
         "unknown image source 'procedural://plaid'"),
        (lambda d: d["appearance"].update(textures=["procedural://all", "bundled://flickr"]), "appearance.textures[1]",
         "unknown image source 'bundled://flickr'"),
        (lambda d: d["appearance"].update(textures=["pkg://pybullet_data/duck_vhacd.urdf"]), "appearance.textures[0]",
         "unsupported file type '.urdf'"),
        (lambda d: d["appearance"].update(backdrop_photos=["photos/*.jpg"]), "appearance.backdrop_photos[0]",
         "file not found"),
        (lambda d: d.update(appearance={"textures": [], "objects": {"texture": 1}}), "appearance.textures",
         "objects.texture > 0 needs a texture pool"),
        (lambda d: d["appearance"].update(backdrop={"photo": 1}, backdrop_photos=[]), "appearance.backdrop_photos",
         "backdrop.photo > 0 needs photos"),
        (lambda d: d.update(appearance={"textures": [], "floor": {"texture": 1}}),
         "appearance.floor_textures", "needs floor_textures or textures"),
        (lambda d: d.update(appearance={"textures": []}) or d["objects"][1].update(look={"texture": 1}),
         "objects[1].look.texture", "appearance.textures is empty"),
        (lambda d: d["appearance"].update(metallic={"min": 0, "max": 1.5}), "appearance.metallic", "within [0, 1]"),
        (lambda d: d["appearance"].update(floor_texture_tile=0), "appearance.floor_texture_tile", "must be > 0"),
        (lambda d: d["appearance"].update(hsv_jitter={"hue": {"min": -0.7, "max": 0}}), "appearance.hsv_jitter.hue",
         "[-0.5, 0.5] turns"),
        (lambda d: d["lights"].update(temperature_k={"min": 1000, "max": 6500}), "lights.temperature_k", "1667"),
        (lambda d: d["lights"].update(distance={"min": 0, "max": 1}), "lights.distance", "must be > 0"),
        (lambda d: d["lights"].update(spot_cone_deg={"min": 10, "max": 95}), "lights.spot_cone_deg", "(0, 90)"),
        (lambda d: d["lights"].update(environment={"image": "nope.png"}), "lights.environment.image", "file not found"),
        (lambda d: d["lights"].update(environment={"image": "pkg://pybullet_data/*.png"}), "lights.environment.image",
         "give one image file"),
        (lambda d: d["objects"][0].update(role="decoy"), "objects[0].role", "'target' or 'distractor'"),
        (lambda d: [o.update(role="distractor") for o in d["objects"]], "", "nothing to label"),
        (lambda d: d["clutter"].update(support="room", room={"size": [1.2, 3.0]}), "camera.distance.max",
         "walls would hide the scene"),
        (lambda d: d["clutter"].update(support="room", room={"size": [0.0, 3.0]}), "clutter.room.size", "must be > 0"),
        (lambda d: d["clutter"].update(support="room", room={"size": [3.0, 3.0]}, drop={"half_extent": [1.6, 0.1]}),
         "clutter.drop.half_extent", "reaches the room's walls"),
    ],
)
def test_bad_recipe_names_field(tmp_path, mutate, path, words):
    p = write_recipe(tmp_path, mutate)
    with pytest.raises(RecipeError) as e:
        load_recipe(p)
    assert e.value.path == path
    assert words in e.value.message
    assert str(e.value).startswith(f"{p}: {path}: " if path else f"{p}: ")


def test_image_folder_without_images_is_refused(tmp_path):
    (tmp_path / "textures").mkdir()
    (tmp_path / "textures" / "notes.txt").write_text("no images here")
    p = write_recipe(tmp_path, lambda d: d["appearance"].update(textures=["textures"]))
    with pytest.raises(RecipeError) as e:
        load_recipe(p)
    assert e.value.path == "appearance.textures[0]" and "holds no image file" in e.value.message
    Image.new("RGB", (8, 8)).save(tmp_path / "textures" / "deep.png")
    assert load_recipe(p)[0].appearance.textures == ["textures"]


def test_distractor_sets_are_for_clutter_scenes():
    with pytest.raises(RecipeError) as e:
        load_recipe(ROOT / "recipes" / "cut_paste.yaml", ["objects[1].role=distractor"])
    assert e.value.path == "objects[1].role" and "clutter scenes" in e.value.message


def test_new_appearance_surface_validates_and_old_keys_keep_their_meaning():
    recipe, _ = load_recipe(DEFAULT_RECIPE)
    assert recipe.appearance.objects.probabilities()[0] == ["asset", "texture", "color"]
    old, _ = load_recipe(DEFAULT_RECIPE, ["appearance={objects: random, "
                                          "floor_textures: [pkg://pybullet_data/checker_blue.png], "
                                          "floor_texture_tile: 0.3, background_color: [0.1, 0.1, 0.1]}"])
    a = old.appearance
    assert (a.objects.color, a.objects.asset, a.objects.texture) == (1.0, 0.0, 0.0)
    assert a.floor_weights().texture == 1.0 and a.floor_texture_tile.min == a.floor_texture_tile.max == 0.3
    assert a.floor_pool() == ["pkg://pybullet_data/checker_blue.png"] and a.backdrop.color == 1.0
    no_floor_tex, _ = load_recipe(DEFAULT_RECIPE, ["appearance={floor_textures: []}"])
    assert no_floor_tex.appearance.floor_weights().color == 1.0
    new, _ = load_recipe(DEFAULT_RECIPE, [
        "appearance.objects={asset: 1, texture: 3}", "appearance.textures=[procedural://marble, bundled://skimage]",
        "appearance.backdrop={sky: 1, photo: 1}", "lights.kinds={point: 2, spot: 1}", "clutter.support=room",
        "lights.temperature_k={min: 2700, max: 6500}", "objects[0].look={color: 1}", "objects[6].role=distractor"])
    names, p = new.appearance.objects.probabilities()
    assert names == ["asset", "texture", "color"] and np.allclose(p, [0.25, 0.75, 0.0])
    assert [s.name for s in new.distractor_sets] == ["blob"] and "blob" not in [s.name for s in new.target_sets]
    assert new.objects[0].look.color == 1.0 and new.clutter.room.size == [3.0, 3.0]


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


def _alias_bomb(levels: int = 9) -> bytes:
    """A small YAML file whose aliases of aliases expand to 9**levels values ("billion laughs")."""
    lines = ["seed: 0", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 9)}]" for k in range(1, levels)]
    return ("\n".join(lines) + "\n").encode()


#: Hostile recipe files: (bytes, words of the message). Each must give a RecipeError naming the file.
BAD_FILES = {
    "latin1": (DEFAULT_RECIPE.read_bytes().replace(b"# Default recipe", "# Défault recipe".encode("latin-1")),
               "not a UTF-8 text file: byte 0xe9 at line 1, column 4"),
    "binary_garbage": (__import__("numpy").random.default_rng(12).bytes(4096), "not a UTF-8 text file: byte 0x"),
    "png_image": ((Path(__import__("pybullet_data").getDataPath()) / "checker_blue.png").read_bytes(),
                  "not a UTF-8 text file: byte 0x89 at line 1, column 1"),
    "nul_bytes": (b"seed: 0\x00\x01\x02\nscenes: {}\n", "not valid YAML"),
    "utf16": ("seed: 0\n".encode("utf-16"), "not a UTF-8 text file: byte 0xff at line 1, column 1"),
    "deep_nesting": (b"seed: " + b"[" * 1000 + b"]" * 1000 + b"\n", "not valid YAML: nested too deeply"),
    "alias_bomb": (_alias_bomb(), "expands to more than 100000 values"),
    "recursive_alias": (b"seed: 0\nscenes: &s {count: 1, loop: *s}\n", "expands to more than 100000 values"),
    "empty": (b"", "a recipe must be a YAML mapping"),
    "a_list": (b"- seed: 0\n", "a recipe must be a YAML mapping"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_hostile_recipe_file_names_the_file(tmp_path, name):
    content, words = BAD_FILES[name]
    p = tmp_path / f"{name}.yaml"
    p.write_bytes(content)
    with pytest.raises(RecipeError) as e:
        load_recipe(p)
    assert e.value.file == str(p) and e.value.path == ""
    assert words in e.value.message
    assert str(e.value).startswith(f"{p}: ")


def test_expansion_limit_counts_aliases_per_use():
    """The alias-bomb guard counts an aliased node once per use (9**k), and lets ordinary recipes through."""
    from gtforge.config.loading import MAX_RECIPE_VALUES, _expanded_size

    shared = list(range(9))
    assert _expanded_size({"a": shared, "b": shared}, 100) == 1 + 2 * (1 + 9)
    # a0 holds 9 scalars (10 values), a_k holds 9 uses of a_(k-1): 1 + 9 * size(a_(k-1)) = (9**(k+2) - 1) / 8
    assert _expanded_size(yaml.safe_load(_alias_bomb(4)), 10**6) == 2 + sum((9 ** (k + 2) - 1) // 8 for k in range(4))
    assert _expanded_size(yaml.safe_load(_alias_bomb(4)), 10**6) == 2 + 10 + 91 + 820 + 7381
    assert _expanded_size(yaml.safe_load(DEFAULT_RECIPE.read_text()), MAX_RECIPE_VALUES) < 1000


@pytest.mark.parametrize("name", ["latin1", "binary_garbage"])
def test_cli_hostile_recipe_file_exit_2_and_writes_nothing(tmp_path, capsys, name):
    p = tmp_path / f"{name}.yaml"
    p.write_bytes(BAD_FILES[name][0])
    out = tmp_path / "out"
    rc = run_cli("build", p, "--out", out, "--quiet")
    assert rc == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert f"gtforge: error: {p}: not a UTF-8 text file" in err and "Traceback" not in err


def _add_mesh_set(tmp_path, name: str, write) -> list[str]:
    """Write a mesh file with ``write(path)`` and return the ``--set`` putting it in place of object set [6]."""
    p = tmp_path / f"{name}.ply"
    write(p)
    return ["--set", f"objects[6]={{name: {name}, source: {p}, count: {{min: 1, max: 1}}}}"]


def _zero_area(p):
    p.write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
                 "element face 2\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n0.05 0 0\n0.1 0 0\n"
                 "3 0 1 2\n3 2 1 0\n")


def _huge(p):
    grid_mesh_ply(p, 1100)


#: (--set arguments, what the error must name, words); the bundled recipe: a 0.4 x 0.3 m bin, drops up
#: to 0.3 m (26.6 L of pile at 0.74 packing), mug set [2] of 0.63 L, bunny set [5] 0.126 m across.
BAD_BUILDS = {
    "count_over_limit": (["--set", "objects[0].count={min: 100000, max: 100000}"], "objects[0].count.max",
                         "more than the limit of 500 per scene"),
    "count_cannot_fit": (["--set", "objects[2].count.max=100"], "objects[2].count.max",
                         "the largest draw cannot fit"),
    "scale_over_bin": (["--set", "objects[5].scale=0.25"], "objects[5].scale", "larger than the bin"),
    "scale_over_workspace": (["--set", "clutter.support=plane", "--set", "clutter.workspace_half_extent=0.2",
                              "--set", "objects[5].scale=0.2"], "objects[5].scale", "larger than the workspace"),
    "zero_area_mesh": (lambda t: _add_mesh_set(t, "flat", _zero_area), "flat.ply", "all 2 faces have zero area"),
    "huge_mesh": (lambda t: _add_mesh_set(t, "scan", _huge), "scan.ply", "mesh has 2,415,602 faces, more than the "
                  "limit of 1,000,000"),
}


@pytest.mark.parametrize("name", sorted(BAD_BUILDS))
def test_cli_bad_input_exit_2_before_rendering(tmp_path, capsys, name):
    argv, names, words = BAD_BUILDS[name]
    argv = argv(tmp_path) if callable(argv) else argv
    out = tmp_path / "out"
    rc = run_cli("build", DEFAULT_RECIPE, "--out", out, "--quiet", *argv)
    assert rc == 2
    assert not out.exists()
    err = capsys.readouterr().err
    where = f"{DEFAULT_RECIPE}: {names}" if "[" in names else str(tmp_path / names)  # recipe field or mesh file
    assert err.startswith(f"gtforge: error: {where}: ")
    assert names in err and words in err and "Traceback" not in err
