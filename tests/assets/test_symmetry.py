"""Object symmetries for BOP's models_info.json: found on the geometry, checked with the toolkit's semantics."""

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
import yaml
from conftest import DEFAULT_RECIPE, ROOT

from gtforge.assets.loaders import AssetLibrary, load_urdf_visual
from gtforge.assets.symmetry import SYMMETRY_TOLERANCE, find_symmetries, to_models_info
from gtforge.config import RecipeError, validate_recipe

PYBULLET_DATA = Path(__import__("pybullet_data").getDataPath())


def get_symmetry_transformations(model_info: dict, max_sym_disc_step: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Re-implementation of the BOP toolkit's ``misc.get_symmetry_transformations`` (bop_toolkit_lib/misc.py):
    the identity and every discrete symmetry, each combined with the continuous ones discretised into
    ceil(pi / max_sym_disc_step) rotations about ``axis`` through ``offset``. Returns (R (3, 3), t (3,) mm)."""
    disc = [(np.eye(3), np.zeros(3))]
    for m in model_info.get("symmetries_discrete", []):
        T = np.reshape(m, (4, 4))
        disc.append((T[:3, :3], T[:3, 3]))
    cont = []
    for sym in model_info.get("symmetries_continuous", []):
        axis, offset = np.asarray(sym["axis"], float), np.asarray(sym["offset"], float)
        n = int(np.ceil(np.pi / max_sym_disc_step))
        for i in range(n):
            R = trimesh.transformations.rotation_matrix(i * 2 * np.pi / n, axis)[:3, :3]
            cont.append((R, -R @ offset + offset))
    if not cont:
        return disc
    return [(Rc @ Rd, Rc @ td + tc) for Rd, td in disc for Rc, tc in cont]


def mug() -> trimesh.Trimesh:
    wall = trimesh.creation.annulus(r_min=0.036, r_max=0.04, height=0.1, sections=48)
    base = trimesh.creation.cylinder(radius=0.036, height=0.006, sections=48)
    base.apply_translation([0, 0, -0.047])
    handle = trimesh.creation.torus(major_radius=0.025, minor_radius=0.005)
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    handle.apply_translation([0.05, 0, 0])
    return trimesh.util.concatenate([wall, base, handle])


SHAPES = {  # name -> (mesh in metres, number of discrete symmetries, number of continuous axes)
    "box": (lambda: trimesh.creation.box([0.1, 0.06, 0.03]), 3, 0),
    "cylinder": (lambda: trimesh.creation.cylinder(radius=0.03, height=0.1, sections=32), 1, 1),
    "cone": (lambda: trimesh.creation.cone(radius=0.03, height=0.08, sections=32), 0, 1),
    "mug": (mug, 0, 0),
    "jenga": (lambda: load_urdf_visual(PYBULLET_DATA / "jenga" / "jenga.urdf")[0], 3, 0),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_found_symmetries_keep_the_surface_with_the_toolkits_semantics(name):
    make, n_disc, n_cont = SHAPES[name]
    mesh = make()
    mesh.apply_translation([0.011, -0.007, 0.003])  # off the origin: offsets and translations must be right
    info = to_models_info(find_symmetries(mesh))
    assert len(info.get("symmetries_discrete", [])) == n_disc
    assert len(info.get("symmetries_continuous", [])) == n_cont
    diameter = np.linalg.norm(mesh.extents)
    v_mm = mesh.vertices * 1000.0
    for R, t in get_symmetry_transformations(info, max_sym_disc_step=0.05):
        moved = (v_mm @ R.T + t) / 1000.0
        _, dist, _ = trimesh.proximity.closest_point(mesh, moved)
        assert dist.max() <= SYMMETRY_TOLERANCE * diameter + 1e-9


def test_what_is_not_a_symmetry_is_not_found():
    box = trimesh.creation.box([0.1, 0.06, 0.03])  # no quarter turn: its sides differ
    found = find_symmetries(box)["discrete"]
    quarter = trimesh.transformations.rotation_matrix(np.pi / 2, [0, 0, 1])
    assert not any(np.allclose(T, quarter, atol=1e-6) for T in found)
    cube = find_symmetries(trimesh.creation.box([0.05] * 3))["discrete"]
    assert len(cube) == 23  # the rotation group of the cube, identity left out
    cone = find_symmetries(trimesh.creation.cone(radius=0.03, height=0.08, sections=32))
    assert cone["discrete"] == []  # no upside-down flip
    mug_axis = find_symmetries(mug())
    assert mug_axis == {"discrete": [], "continuous": []}


def test_recipes_state_or_turn_off_symmetries():
    def library(symmetries):
        raw = yaml.safe_load(DEFAULT_RECIPE.read_text())
        raw["objects"] = [{"name": "jenga", "source": "pkg://pybullet_data/jenga/jenga.urdf",
                           "count": {"min": 1, "max": 1}, "symmetries": symmetries}]
        return AssetLibrary(validate_recipe(raw, "t.yaml", ROOT).objects, ROOT)

    assert len(library("auto").symmetries(1)["symmetries_discrete"]) == 3
    assert library("none").symmetries(1) == {}
    flip = [-1.0, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    stated = library({"discrete": [flip], "continuous": [{"axis": [0, 0, 1], "offset": [0, 0, 5.0]}]}).symmetries(1)
    assert stated == {"symmetries_discrete": [flip], "symmetries_continuous": [{"axis": [0.0, 0.0, 1.0],
                                                                                "offset": [0.0, 0.0, 5.0]}]}
    with pytest.raises(RecipeError, match=r"objects\[0\]\.symmetries.*rigid"):
        library({"discrete": [[2.0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]]})


@pytest.mark.e2e
def test_models_info_carries_symmetries(small_dataset):
    info = json.loads((Path(small_dataset) / "models" / "models_info.json").read_text())
    classes = json.loads((Path(small_dataset) / "gtforge.json").read_text())["classes"]
    jenga = [k for k, v in classes.items() if v["name"] == "jenga" and k in info]
    assert jenga, "the default recipe's dataset has a jenga block"
    assert all(len(info[k]["symmetries_discrete"]) == 3 for k in jenga)
    mugs = [k for k, v in classes.items() if v["name"] == "mug" and k in info]
    assert all("symmetries_discrete" not in info[k] and "symmetries_continuous" not in info[k] for k in mugs)


def test_cached_search_equals_a_fresh_one_bit_for_bit(tmp_path, monkeypatch):
    """The on-disk cache gives the search's own arrays (no float is rounded), is read instead of searching,
    is keyed by the mesh, and an unreadable file is searched and written again."""
    import gtforge.assets.symmetry as sym

    monkeypatch.setenv("GTFORGE_CACHE", str(tmp_path))
    box = trimesh.creation.box([0.04, 0.06, 0.1])
    box.apply_translation([0.013, -0.0071, 0.0023])  # offsets that JSON must keep exactly
    cyl = trimesh.creation.cylinder(radius=0.03, height=0.08, sections=32)
    fresh = {m: find_symmetries(mesh) for m, mesh in (("box", box), ("cyl", cyl))}
    first = {m: sym.cached_symmetries(mesh) for m, mesh in (("box", box), ("cyl", cyl))}
    files = sorted((tmp_path / "symmetries").glob("*.json"))
    assert len(files) == 2  # one per mesh

    def no_search(*a, **k):
        raise AssertionError("searched although cached")

    monkeypatch.setattr(sym, "find_symmetries", no_search)
    for m, mesh in (("box", box), ("cyl", cyl)):
        again = sym.cached_symmetries(mesh)
        for got in (first[m], again):
            assert (len(got["discrete"]) == len(fresh[m]["discrete"])
                    and len(got["continuous"]) == len(fresh[m]["continuous"]))
            for A, B in zip(got["discrete"], fresh[m]["discrete"]):
                assert A.dtype == np.float64 and A.shape == (4, 4) and np.array_equal(A, B)
            for (a, o), (b, p) in zip(got["continuous"], fresh[m]["continuous"]):
                assert np.array_equal(a, b) and np.array_equal(o, p)
    assert len(fresh["box"]["discrete"]) == 3 and len(fresh["cyl"]["continuous"]) == 1

    for f in files:
        f.write_text("{not json")
    monkeypatch.setattr(sym, "find_symmetries", find_symmetries)
    assert all(np.array_equal(A, B) for A, B in zip(sym.cached_symmetries(box)["discrete"], fresh["box"]["discrete"]))
    assert sum(1 for f in files if f.read_text().startswith("{\"discrete\"")) == 1  # rewritten whole
