"""The pyrender audit (render/pyrender_patches.py): the installed pyrender and PyOpenGL are the pinned ones, every
internal the module replaces still exists with the signature it assumes, the node sets keep insertion order,
the shader copy swaps only the shadow filter, and the numpy projections of render/shadows.py equal pyrender's
cameras bit for bit. Imports pyrender (no GL context is made)."""

import importlib.metadata
import inspect
import math
import re
from pathlib import Path

import numpy as np
import pytest
import trimesh
from conftest import ROOT, gl_modules_imported_by

from gtforge.render import pyrender_patches as patches
from gtforge.render import shadows

import pyrender

pytestmark = pytest.mark.gl


def test_installed_and_pinned_versions_are_the_audited_ones():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"scikit-robot-pyrender=={patches.PYRENDER_VERSION}"' in pyproject
    assert f'"PyOpenGL=={patches.PYOPENGL_VERSION}"' in pyproject
    assert importlib.metadata.version("scikit-robot-pyrender") == patches.PYRENDER_VERSION
    assert importlib.metadata.version("PyOpenGL") == patches.PYOPENGL_VERSION
    assert f"``scikit-robot-pyrender=={patches.PYRENDER_VERSION}``" in patches.__doc__


def test_every_replaced_internal_still_exists_as_assumed():
    import pyrender.light
    import pyrender.renderer

    R = pyrender.renderer.Renderer
    expected = {"_get_light_cam_matrices": ["self", "scene", "light_node", "flags"],
                "_shadow_mapping_pass": ["self", "scene", "light_node", "flags"],
                "_configure_shadow_mapping_viewport": ["self", "light", "flags"],
                "_configure_forward_pass_viewport": ["self", "flags"],
                "_read_main_framebuffer": ["self", "scene", "flags"],
                "_sorted_mesh_nodes": ["self", "scene"]}
    for name, params in expected.items():
        assert list(inspect.signature(getattr(R, name)).parameters) == params, name
    src = inspect.getsource(pyrender.renderer)
    for call in ("self._shadow_mapping_pass(", "self._get_light_cam_matrices(",
                 "self._configure_shadow_mapping_viewport(", "self._configure_forward_pass_viewport(",
                 "self._read_main_framebuffer(", "self._sorted_mesh_nodes(", "glEnable(GL_CULL_FACE)",
                 "self._program_cache = ShaderProgramCache()"):
        assert call in src, call  # called through the instance (or the module global), so the replacements act
    assert pyrender.renderer.SHADOW_TEX_SZ == pyrender.light.SHADOW_TEX_SZ == shadows.SHADOW_MAP_SIZE
    assert "size = SHADOW_TEX_SZ" in inspect.getsource(pyrender.light)
    scene = pyrender.Scene()
    for attr in ("_nodes", "_mesh_nodes", "_point_light_nodes", "_spot_light_nodes", "_directional_light_nodes",
                 "_camera_nodes"):
        assert isinstance(getattr(scene, attr), set), attr
    offscreen = inspect.getsource(pyrender.OffscreenRenderer)
    assert "self._platform.make_current()" in offscreen and "self._renderer = Renderer(" in offscreen
    frag = (Path(pyrender.__file__).parent / "shaders" / "mesh.frag").read_text()
    assert patches._PCF_3X3.search(frag)  # else the 3 x 3 filter stays (slower, other shadow edges)


def test_ordered_scene_iterates_nodes_in_insertion_order():
    scene = patches.ordered_scene(pyrender.Scene())
    box = pyrender.Mesh.from_trimesh(trimesh.creation.box(extents=(0.1, 0.1, 0.1)))
    meshes = [scene.add(box, pose=np.eye(4)) for _ in range(40)]  # id() order differs from this order
    lights = [scene.add(pyrender.SpotLight(), pose=np.eye(4)), scene.add(pyrender.DirectionalLight(), pose=np.eye(4)),
              scene.add(pyrender.PointLight(), pose=np.eye(4)), scene.add(pyrender.SpotLight(), pose=np.eye(4))]
    assert list(scene.mesh_nodes) == meshes
    by_kind = [lights[2]] + [lights[0], lights[3]] + [lights[1]]  # pyrender: point | spot | directional
    assert list(scene.light_nodes) == by_kind
    scene.remove_node(meshes[7])
    assert list(scene.mesh_nodes) == meshes[:7] + meshes[8:]


def test_shadow_shader_copy_changes_only_the_filter(tmp_path, monkeypatch):
    monkeypatch.setenv("GTFORGE_CACHE", str(tmp_path))
    monkeypatch.delenv("GTFORGE_PYRENDER_PCF", raising=False)
    out = Path(patches.shadow_shader_dir())
    src = Path(pyrender.__file__).parent / "shaders"
    assert out.parent == tmp_path and sorted(p.name for p in out.iterdir()) == sorted(p.name for p in src.iterdir())
    for p in src.iterdir():
        if p.name != "mesh.frag":
            assert (out / p.name).read_bytes() == p.read_bytes(), p.name
    frag, original = (out / "mesh.frag").read_text(), (src / "mesh.frag").read_text()
    assert "result/9.0" in original and "result/9.0" not in frag
    assert "return texture2DShadowLerp(depths, size, uv, compare);" in frag
    assert patches._PCF_3X3.sub("", original) == re.sub(r"float PCF\(.*?\n\}", "", frag, count=1, flags=re.S)
    assert patches.shadow_shader_dir() == str(out)  # made once
    monkeypatch.setenv("GTFORGE_PYRENDER_PCF", "1")
    assert patches.shadow_shader_dir() is None  # pyrender's own shaders


def test_shadow_projections_equal_pyrender_cameras():
    rng = np.random.default_rng(8)
    for _ in range(200):
        xmag, ymag, n = rng.uniform(0.01, 3.0, 3)
        f = n + rng.uniform(0.01, 50.0)
        cam = pyrender.OrthographicCamera(xmag=xmag, ymag=ymag, znear=n, zfar=f)
        assert np.array_equal(shadows.orthographic_projection(xmag, ymag, n, f), cam.get_projection_matrix())
        yfov = rng.uniform(0.01, math.radians(170.0))
        cam = pyrender.PerspectiveCamera(yfov=yfov, aspectRatio=1.0, znear=n, zfar=f)
        assert np.array_equal(shadows.perspective_projection(yfov, n, f), cam.get_projection_matrix())


def test_the_gl_import_check_sees_pyrender():
    """The control of the pure modules' import tests: the renderer does load pyrender and OpenGL."""
    loaded = gl_modules_imported_by("gtforge.render.renderer")
    assert "pyrender" in loaded and "OpenGL" in loaded
