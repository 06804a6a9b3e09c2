"""assets/textures.py: procedural textures, texture pools (bundled, user), loading, HSV jitter, box UVs."""

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from gtforge.assets import textures as tx
from gtforge.assets.textures import (TEXTURE_FAMILIES, box_uv, jitter_hsv, load_texture, procedural_texture,
                                     texture_pool)
from gtforge.core.description import Texture

SEEDS = range(6)


# --------------------------------------------------------------------------- procedural
@pytest.mark.parametrize("family", TEXTURE_FAMILIES)
def test_procedural_is_deterministic_sized_and_patterned(family):
    a = procedural_texture(family, 7)
    tx._procedural.cache_clear()  # regenerate, not a cache hit
    b = procedural_texture(family, 7)
    assert a is not b
    assert a.shape == (256, 256, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert a.std() > 8, "a texture is not a flat colour"
    small = procedural_texture(family, 7, size=64)
    assert small.shape == (64, 64, 3)
    # the same draws at a lower resolution: the small image is the big one, downsampled
    down = np.asarray(Image.fromarray(a).resize((64, 64), Image.Resampling.BOX), dtype=float)
    assert np.abs(down - small).mean() < 25


@pytest.mark.parametrize("family", TEXTURE_FAMILIES)
def test_procedural_seeds_change_pattern_and_palette(family):
    imgs = [procedural_texture(family, s).astype(float) for s in SEEDS]
    for i in range(len(imgs)):
        for j in range(i):
            assert np.abs(imgs[i] - imgs[j]).mean() > 5, f"{family}: seeds {i} and {j} look alike"
    means = np.array([im.reshape(-1, 3).mean(axis=0) for im in imgs])
    # palettes differ: the mean colours of the seeds spread out, in hue/chroma, not just brightness
    chroma = means - means.mean(axis=1, keepdims=True)
    assert np.linalg.norm(chroma - chroma.mean(axis=0), axis=1).max() > 15
    assert len({tuple(np.round(m / 8)) for m in means}) == len(SEEDS)


def test_families_are_distinct_patterns():
    imgs = {f: procedural_texture(f, 3).astype(float) for f in TEXTURE_FAMILIES}
    for f in TEXTURE_FAMILIES:
        for g in TEXTURE_FAMILIES:
            if f < g:
                assert np.abs(imgs[f] - imgs[g]).mean() > 5


@pytest.mark.parametrize("family", ["noise", "marble", "stripes", "checker", "dots"])
def test_tileable_families_wrap_without_a_seam(family):
    for seed in range(3):
        img = procedural_texture(family, seed).astype(float)
        for axis in (0, 1):
            im = np.moveaxis(img, axis, 0)
            wrap = np.abs(im[0] - im[-1]).mean()  # the step from the last row back to the first
            steps = np.abs(np.diff(im, axis=0)).mean(axis=(1, 2))  # every step inside the image
            assert wrap <= 1.1 * steps.max() + 1, (family, seed, axis)


def test_procedural_bad_arguments():
    with pytest.raises(ValueError, match="granite"):
        procedural_texture("granite", 0)
    with pytest.raises(ValueError):
        procedural_texture("noise", -1)


# --------------------------------------------------------------------------- load_texture
def test_load_procedural_key_and_errors(tmp_path):
    assert np.array_equal(load_texture("procedural://wood/12"), procedural_texture("wood", 12))
    assert load_texture("procedural://wood/12", max_size=100).shape == (100, 100, 3)
    with pytest.raises(ValueError, match="procedural://granite/1"):
        load_texture("procedural://granite/1")
    with pytest.raises(ValueError, match="procedural://wood/x"):
        load_texture("procedural://wood/x")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="broken.png"):
        load_texture(str(bad))
    with pytest.raises(ValueError, match="missing.png"):
        load_texture(str(tmp_path / "missing.png"))


def test_load_file_converts_and_downscales(tmp_path):
    rgba = np.zeros((300, 120, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    Image.fromarray(rgba).save(tmp_path / "a.png")
    Image.fromarray(np.full((40, 50), 77, np.uint8)).save(tmp_path / "g.png")
    img = load_texture(str(tmp_path / "a.png"), max_size=150)
    assert img.shape == (150, 60, 3) and img.dtype == np.uint8
    assert np.all(img[..., 0] == 200) and np.all(img[..., 1:] == 0)
    grey = load_texture(str(tmp_path / "g.png"), max_size=512)  # never upscaled; grey -> RGB
    assert grey.shape == (40, 50, 3) and np.all(grey == 77)


# --------------------------------------------------------------------------- pools
def test_bundled_skimage_pool():
    pool = texture_pool(["bundled://skimage"], ".")
    assert pool.families == ["skimage"]
    keys = pool.keys("skimage")
    stems = {k.rsplit("/", 1)[-1].split(".")[0] for k in keys}
    assert {"brick", "grass", "gravel", "astronaut", "coffee"} <= stems
    assert not stems & {"logo", "text", "page", "chessboard_GRAY", "no_time_for_that_tiny"}
    brick = load_texture(next(k for k in keys if "brick" in k), max_size=128)
    assert brick.shape == (128, 128, 3)
    assert np.array_equal(brick[..., 0], brick[..., 1]), "a grey texture becomes grey RGB"
    coffee = load_texture(next(k for k in keys if "coffee" in k), max_size=128)
    assert coffee.shape == (85, 128, 3) and np.abs(coffee[..., 0].astype(int) - coffee[..., 2]).mean() > 5


def test_bundled_pybullet_pool():
    pool = texture_pool(["bundled://pybullet_data"], ".")
    keys = pool.keys("pybullet_data")
    assert len(keys) >= 5 and list(keys) == sorted(keys)
    names = {k.rsplit("/", 1)[-1] for k in keys}
    assert "checker_blue.png" in names
    assert "Image8x4.png" not in names and "wm_height_out.png" not in names  # tiny / grey height maps
    assert len({Path(k).read_bytes() for k in keys}) == len(keys), "copies of one file are kept once"
    for k in keys:
        with Image.open(k) as im:
            assert im.mode in ("RGB", "RGBA", "P") and min(im.size) >= 32
    assert load_texture(keys[0], max_size=64).ndim == 3


def test_procedural_pool_and_draws():
    pool = texture_pool(["procedural://all", "procedural://wood"], ".")
    assert pool.families == [f"procedural/{f}" for f in TEXTURE_FAMILIES]  # wood listed once
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    draws = [pool.draw(rng_a) for _ in range(300)]
    assert draws == [pool.draw(rng_b) for _ in range(300)]
    assert {d.family for d in draws} == set(pool.families)
    for d in draws[:20]:
        assert isinstance(d, Texture)
        fam, seed = d.key[len("procedural://"):].split("/")
        assert d.family == f"procedural/{fam}" and 0 <= int(seed) < 2**31
    assert len({d.key for d in draws}) == len(draws)
    only = texture_pool(["procedural://dots"], ".")
    assert {only.draw(rng_a).family for _ in range(10)} == {"procedural/dots"}


def _image(path, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((40, 40, 3), colour, np.uint8)).save(path)


def test_user_folder_glob_and_mixed_pool(tmp_path):
    _image(tmp_path / "tex" / "b.png", 10)
    _image(tmp_path / "tex" / "a.jpg", 20)
    _image(tmp_path / "tex" / "sub" / "c.png", 30)
    (tmp_path / "tex" / "notes.txt").write_text("not an image")
    folder = texture_pool(["tex"], tmp_path)
    assert folder.families == ["files:tex"]
    assert list(folder.keys("files:tex")) == [str(tmp_path / p) for p in ("tex/a.jpg", "tex/b.png", "tex/sub/c.png")]
    glob = texture_pool(["tex/*.png"], tmp_path)
    assert list(glob.keys("files:tex/*.png")) == [str(tmp_path / "tex/b.png")]
    single = texture_pool([str(tmp_path / "tex" / "a.jpg")], "/elsewhere")  # absolute path
    assert single.draw(np.random.default_rng(0)).key == str(tmp_path / "tex" / "a.jpg")
    mixed = texture_pool(["tex", "procedural://noise", "bundled://skimage"], tmp_path)
    assert mixed.families == ["files:tex", "procedural/noise", "skimage"]
    rng = np.random.default_rng(1)
    drawn = {}
    for _ in range(200):
        t = mixed.draw(rng)
        drawn.setdefault(t.family, set()).add(t.key)
    assert set(drawn) == set(mixed.families) and drawn["files:tex"] == set(mixed.keys("files:tex"))


@pytest.mark.parametrize("source", ["missing_folder", "nope/*.png", "procedural://granite", "bundled://textures",
                                    "empty_dir", "notes.txt"])
def test_bad_sources_name_themselves(tmp_path, source):
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "notes.txt").write_text("text")
    with pytest.raises(ValueError) as e:
        texture_pool(["procedural://all", source], tmp_path)
    assert source in str(e.value)


def test_no_sources():
    with pytest.raises(ValueError):
        texture_pool([], ".")


# --------------------------------------------------------------------------- jitter_hsv
def test_jitter_identity_and_hue_turn():
    img = procedural_texture("marble", 1)
    assert jitter_hsv(img, (0.0, 1.0, 1.0)) is img
    red = np.array([[255, 0, 0]], np.uint8)
    green = jitter_hsv(red, (1 / 3, 1.0, 1.0))
    assert green.dtype == np.uint8 and green.tolist() == [[0, 255, 0]]
    assert jitter_hsv(red, (-2 / 3, 1.0, 1.0)).tolist() == [[0, 255, 0]]  # modulo one turn
    blue = jitter_hsv(np.array([1.0, 0.0, 0.0]), (2 / 3, 1.0, 1.0))
    assert blue.shape == (3,) and np.allclose(blue, [0, 0, 1])
    grey = jitter_hsv(np.array([[0.8, 0.4, 0.2]]), (0.0, 0.0, 0.5))  # no saturation, half value
    assert np.allclose(grey, [[0.4, 0.4, 0.4]])
    # hue 1/18 turn, s = 0.75 and v = 0.8 scaled and clipped to 1: (1, 1/3, 0)
    sat = jitter_hsv(np.array([[0.8, 0.4, 0.2]], np.float32), (0.0, 5.0, 2.0))
    assert sat.dtype == np.float32 and np.allclose(sat, [[1.0, 1 / 3, 0.0]], atol=1e-6)
    out = jitter_hsv(img, (0.1, 0.8, 0.9))
    assert out.shape == img.shape and out.dtype == np.uint8 and not np.array_equal(out, img)


# --------------------------------------------------------------------------- box_uv
#: Expected projection per outward normal, written out independently: (u, v) as functions of (x, y, z).
EXPECTED_UV = {
    (1, 0, 0): lambda p: (p[1], p[2]), (-1, 0, 0): lambda p: (-p[1], p[2]),
    (0, 1, 0): lambda p: (-p[0], p[2]), (0, -1, 0): lambda p: (p[0], p[2]),
    (0, 0, 1): lambda p: (p[0], p[1]), (0, 0, -1): lambda p: (p[0], -p[1]),
}


def test_box_uv_on_unit_cube():
    cube = trimesh.creation.box(extents=(1, 1, 1))
    tile = 0.4
    verts, faces, uv = box_uv(cube.vertices, cube.faces, tile)
    m = len(cube.faces)
    assert verts.shape == (3 * m, 3) and uv.shape == (3 * m, 2) and faces.shape == (m, 3)
    assert np.array_equal(faces, np.arange(3 * m).reshape(m, 3))
    assert np.allclose(verts[faces], cube.vertices[cube.faces])
    for k in range(m):
        normal = tuple(int(c) for c in np.round(cube.face_normals[k]))
        proj = EXPECTED_UV[normal]
        for i in faces[k]:
            assert np.allclose(uv[i], np.array(proj(verts[i])) / tile)
        centroid = verts[faces[k]].mean(axis=0)
        assert np.allclose(uv[faces[k]].mean(axis=0), np.array(proj(centroid)) / tile)
        # not mirrored: the 3D directions of increasing u and v turn like the outward normal
        e1, e2 = verts[faces[k][1]] - verts[faces[k][0]], verts[faces[k][2]] - verts[faces[k][0]]
        d1, d2 = uv[faces[k][1]] - uv[faces[k][0]], uv[faces[k][2]] - uv[faces[k][0]]
        grad = np.linalg.solve(np.array([d1, d2]), np.array([e1, e2]))  # rows: dP/du, dP/dv
        assert np.dot(np.cross(grad[0], grad[1]), cube.face_normals[k]) > 0


def test_box_uv_slanted_face_uses_dominant_axis():
    tri = np.array([[0.0, 0, 0], [1, 0, -0.3], [0, 1, 0.2]])  # normal ~ (0.3, -0.2, 1): the z plane
    _, _, uv = box_uv(tri, np.array([[0, 1, 2]]), 2.0)
    assert np.allclose(uv, tri[:, :2] / 2.0)
    with pytest.raises(ValueError):
        box_uv(tri, np.array([[0, 1, 2]]), 0.0)
