"""Asset loading: every supported file type gives the same geometry in metres, in its model frame."""

import json

import numpy as np
import pytest
import trimesh

from gtforge.assets.loaders import AssetError, AssetLibrary, load_asset, load_mesh_file, load_urdf_visual
from gtforge.formats.bop import write_models
from gtforge.config.schema import ObjectSet

BOX = trimesh.creation.box(extents=[0.04, 0.06, 0.1])
BOX.apply_translation([0.01, 0.0, 0.05])


@pytest.mark.parametrize("ext", ["obj", "ply", "stl", "glb", "off"])
def test_mesh_formats(tmp_path, ext):
    p = tmp_path / f"box.{ext}"
    BOX.export(p)
    m = load_mesh_file(p)
    assert np.allclose(m.bounds, BOX.bounds, atol=1e-6)
    a = load_asset(1, "box", "box", p, scale=2.0)
    assert np.allclose(a.mesh.bounds, BOX.bounds * 2.0, atol=1e-6)


def test_obj_with_mtl_texture_keeps_texture():
    import pybullet_data

    a = load_asset(1, "duck", "duck", __import__("pathlib").Path(pybullet_data.getDataPath()) / "duck.obj", 1.0)
    assert a.has_texture and a.mesh.visual.uv.shape == (len(a.mesh.vertices), 2)


def test_urdf_origin_scale_and_primitives(tmp_path):
    BOX.export(tmp_path / "part.stl")
    (tmp_path / "thing.urdf").write_text("""<robot name="t"><link name="base">
      <visual><origin xyz="0 0 0.5" rpy="0 0 1.5707963267948966"/>
        <geometry><mesh filename="package://part.stl" scale="2 2 2"/></geometry>
        <material name="m"><color rgba="0.1 0.2 0.3 1"/></material></visual>
      <visual><origin xyz="1 0 0"/><geometry><box size="0.1 0.1 0.1"/></geometry></visual>
    </link></robot>""")
    mesh, color = load_urdf_visual(tmp_path / "thing.urdf")
    assert np.allclose(color, [0.1, 0.2, 0.3, 1])
    part = BOX.copy()
    part.apply_scale(2.0)
    part.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 0, 1]))
    part.apply_translation([0, 0, 0.5])
    lo = np.minimum(part.bounds[0], [0.95, -0.05, -0.05])
    hi = np.maximum(part.bounds[1], [1.05, 0.05, 0.05])
    assert np.allclose(mesh.bounds, [lo, hi], atol=1e-6)


def test_bad_files_name_the_path(tmp_path):
    (tmp_path / "empty.obj").write_text("# nothing\n")
    with pytest.raises(AssetError, match="empty.obj"):
        load_mesh_file(tmp_path / "empty.obj")
    (tmp_path / "bad.urdf").write_text("<robot><link name='a'><visual><geometry><mesh filename='gone.obj'/>"
                                       "</geometry></visual></link></robot>")
    with pytest.raises(AssetError, match="mesh file not found.*gone.obj"):
        load_urdf_visual(tmp_path / "bad.urdf")
    (tmp_path / "broken.urdf").write_text("<robot><link")
    with pytest.raises(AssetError, match="cannot parse URDF"):
        load_urdf_visual(tmp_path / "broken.urdf")


def test_bop_models_folder_roundtrip(tmp_path):
    """Models written by our BOP writer (mm) load back as a BOP source in metres, ids and sizes kept."""
    from types import SimpleNamespace

    from gtforge.assets.loaders import Asset

    lib = SimpleNamespace(get=lambda i: Asset(i, f"o{i}", "s", "<t>", BOX.copy()))
    write_models(tmp_path, lib, [2, 7])
    s = ObjectSet.model_validate({"name": "bop", "source": "models", "count": {"min": 1, "max": 1}},
                                 context={"base_dir": str(tmp_path)})
    lib2 = AssetLibrary([s], tmp_path)
    assert [e[1] for e in lib2.entries] == ["bop/obj_000002", "bop/obj_000007"]
    assert np.allclose(lib2.get(1).mesh.bounds, BOX.bounds, atol=1e-6)
    info = json.loads((tmp_path / "models" / "models_info.json").read_text())
    assert set(info) == {"2", "7"}


def test_library_ids_are_stable_and_globs_sorted():
    from conftest import DEFAULT_RECIPE

    from gtforge.config import load_recipe

    recipe, _ = load_recipe(DEFAULT_RECIPE)
    lib = AssetLibrary(recipe.objects, DEFAULT_RECIPE.parent)
    names = [e[1] for e in lib.entries]
    assert names[:6] == ["duck", "teddy", "mug", "lego", "jenga", "bunny"]
    assert names[6:] == [f"blob/{i:03d}" for i in range(10)]
    assert lib.set_ids["blob"] == list(range(7, 17))
