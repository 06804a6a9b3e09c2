"""Materials (render/materials.py): every material draws the same
triangles in the same order (so no appearance can move a label), and the asset-look mesh is cached per model.
Imports pyrender (no GL context is made). (Where textures land in the image: test_appearance.py.)"""

import numpy as np
import pytest
import trimesh
from conftest import FakeLibrary
from PIL import Image

from gtforge.assets.loaders import Asset
from gtforge.core.description import Material, Texture
from gtforge.render.materials import MeshBuilder

pytestmark = pytest.mark.gl


def test_every_material_draws_the_same_triangles(tmp_path):
    mesh = trimesh.creation.icosphere(subdivisions=1, radius=0.05)
    rgb = (np.random.default_rng(9).random((40, 40, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "t.png")
    tex = Texture(str(tmp_path / "t.png"), "test")
    lib = FakeLibrary([Asset(1, "ball", "test", "<test>", mesh, base_color=np.array([0.8, 0.3, 0.2, 1.0]))])
    hsv = np.array([0.1, 0.8, 1.1])
    materials = [None, Material("color", np.array([0.2, 0.5, 0.9, 1.0])),
                 Material("asset", np.ones(4), hsv=hsv),
                 Material("texture", np.ones(4), texture=tex, tile=0.03, hsv=hsv)]
    expected = np.asarray(mesh.vertices, np.float64)[mesh.faces].reshape(-1, 3)
    builder = MeshBuilder()
    builder.start_scene()
    for m in materials:
        (prim,) = builder.instance_mesh(lib, "o", 1, m).primitives
        assert prim.indices is None or np.array_equal(prim.indices.ravel(), np.arange(len(expected)))
        assert np.allclose(prim.positions, expected, atol=1e-7), m  # float32 in pyrender
    assert builder.instance_mesh(lib, "o", 1, None) is builder.instance_mesh(lib, "o", 1, None)  # own look: cached
    assert builder.instance_mesh(lib, "o", 1, materials[1]) is not builder.instance_mesh(lib, "o", 1, materials[1])
    t1 = builder.instance_mesh(lib, "o", 1, materials[3]).primitives[0].material.baseColorTexture
    t2 = builder.instance_mesh(lib, "o", 1, materials[3]).primitives[0].material.baseColorTexture
    assert t1 is t2  # one texture per (image, jitter) within a scene
    builder.start_scene()
    assert builder.instance_mesh(lib, "o", 1, materials[3]).primitives[0].material.baseColorTexture is not t1
