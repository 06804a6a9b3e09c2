"""Asset loading: every supported file type gives the same geometry in metres, in its model frame."""

import json

import numpy as np
import pytest
import trimesh

from bad_inputs import grid_mesh_ply

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


def test_asset_center_and_radius_are_the_bounding_box_centre_and_the_enclosing_sphere(tmp_path):
    p = tmp_path / "box.ply"
    BOX.export(p)
    a = load_asset(1, "box", "box", p, scale=2.0)
    assert np.allclose(a.center, [0.02, 0.0, 0.1])  # box centre (0.01, 0, 0.05) x 2
    # a box's vertices all lie on the sphere of its half-diagonal: 2 x |(0.02, 0.03, 0.05)|
    assert a.radius == pytest.approx(2.0 * float(np.linalg.norm([0.02, 0.03, 0.05])))


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

    lib = SimpleNamespace(get=lambda i: Asset(i, f"o{i}", "s", "<t>", BOX.copy()), symmetries=lambda i: {})
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


ZERO_AREA_OBJS = {
    "collinear": "v 0 0 0\nv 0.05 0 0\nv 0.1 0 0\nv 0 0.1 0\nf 1 2 3\nf 1 3 2\n",
    "repeated_vertex": "v 0 0 0\nv 0.1 0 0\nv 0 0.1 0\nf 1 1 2\nf 3 3 3\nf 2 3 3\n",
    "one_point": "v 0.1 0.2 0.3\nv 0.1 0.2 0.3\nv 0.1 0.2 0.3\nf 1 2 3\n",
}


@pytest.mark.parametrize("name", sorted(ZERO_AREA_OBJS))
def test_zero_area_meshes_are_refused(tmp_path, name):
    p = tmp_path / f"{name}.obj"
    p.write_text(ZERO_AREA_OBJS[name])
    with pytest.raises(AssetError, match=rf"{name}.obj: all \d+ faces have zero area"):
        load_mesh_file(p)
    with pytest.raises(AssetError, match=f"{name}.obj"):
        load_asset(1, name, name, p, 1.0)


def test_one_real_face_among_degenerate_ones_is_kept(tmp_path):
    """Only meshes with no face of positive area are refused; a 0.1 mm triangle (5e-9 m^2) counts."""
    p = tmp_path / "mostly_flat.obj"
    p.write_text("v 0 0 0\nv 0.1 0 0\nv 0.2 0 0\nv 0 0.0001 0\nf 1 2 3\nf 1 2 4\n")
    m = load_mesh_file(p)
    assert m.area == pytest.approx(0.5 * 0.1 * 0.0001)


def test_face_index_past_the_vertices_is_refused(tmp_path):
    p = tmp_path / "dangling.ply"
    p.write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
                 "element face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n")
    with pytest.raises(AssetError, match="dangling.ply: faces refer to vertices the file does not have"):
        load_mesh_file(p)


def test_multi_million_face_mesh_is_refused_with_its_size(tmp_path):
    p = tmp_path / "scan.ply"
    n_faces = grid_mesh_ply(p, 1100)
    assert n_faces == 2 * 1099**2 > 2_000_000
    with pytest.raises(AssetError) as e:
        load_mesh_file(p)
    assert str(e.value) == (f"{p}: mesh has {n_faces:,} faces, more than the limit of 1,000,000 per model: "
                            "decimate it first (e.g. MeshLab's Quadric Edge Collapse Decimation)")


def test_face_limit_is_inclusive_and_covers_a_whole_urdf(tmp_path, monkeypatch):
    """At the limit a mesh loads; a URDF whose parts each pass but whose whole exceeds it is refused."""
    from gtforge.assets import loaders

    monkeypatch.setattr(loaders, "MAX_MESH_FACES", 12)
    BOX.export(tmp_path / "box.stl")  # 12 triangles
    assert len(load_mesh_file(tmp_path / "box.stl").faces) == 12
    (tmp_path / "two.urdf").write_text("""<robot name="t"><link name="base">
      <visual><geometry><mesh filename="box.stl"/></geometry></visual>
      <visual><origin xyz="1 0 0"/><geometry><mesh filename="box.stl"/></geometry></visual>
    </link></robot>""")
    with pytest.raises(AssetError, match="two.urdf: mesh has 24 faces, more than the limit of 12"):
        load_asset(1, "two", "two", tmp_path / "two.urdf", 1.0)
