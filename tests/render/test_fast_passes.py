"""The renderer's faster passes keep every label exact: silhouettes drawn 24 to a pass equal each object's own
ID pass when rendered alone; the vectorised settle test gives the per-body reference's answers. (Edge
anti-aliasing of the lit image: tests/render/test_antialias.py.)"""

import numpy as np
import pytest
import trimesh

from gtforge.assets.loaders import Asset
from gtforge.config import load_recipe
from gtforge.core.description import Floor, ObjectInstance, SceneDescription, View
from conftest import DEFAULT_RECIPE, FakeLibrary
from scipy.spatial.transform import Rotation

from gtforge.core.geometry import intrinsics_matrix, look_at_opencv, make_pose
from gtforge.scenes import physics

W, H = 160, 120
K = intrinsics_matrix(150.0, 150.0, (W - 1) / 2, (H - 1) / 2)


_Lib = FakeLibrary


@pytest.mark.gl
def test_silhouettes_drawn_24_to_a_pass_equal_each_object_alone():
    from gtforge.render.renderer import Renderer

    rng = np.random.default_rng(7)
    cube = trimesh.creation.box(extents=[0.05, 0.05, 0.05])
    lib = _Lib([Asset(1, "cube", "test", "<test>", cube)])
    objects = []
    for i in range(30):  # two groups of silhouettes; some overlap, some leave the image
        R = Rotation.random(random_state=int(rng.integers(1 << 30))).as_matrix()
        t = [rng.uniform(-0.45, 0.45), rng.uniform(-0.33, 0.33), rng.uniform(0.02, 0.2)]
        objects.append(ObjectInstance(i + 1, 1, make_pose(R, t)))
    view = View(K, W, H, look_at_opencv((0.0, 0.0, 1.0), (0.0, 0.0, 0.0), (0.0, 1.0, 0.0)), 0.05, 20.0)

    def scene(objs):
        return SceneDescription(0, tuple(objs), Floor(0.2, np.array([0.5, 0.5, 0.5])), (), (), 1.0, np.zeros(3),
                                (view,))

    r = Renderer(lib, W, H)
    try:
        r.set_scene(scene(objects))
        together = r.render_view(view, rgb=False, amodal=True).amodal
        leaving = 0
        for o in objects:
            r.set_scene(scene([o]))
            alone = r.render_view(view, rgb=False, amodal=True)
            inside = together[o.inst_id][H:2 * H, W:2 * W]
            assert np.array_equal(inside, alone.ids == o.inst_id), o.inst_id
            assert np.array_equal(together[o.inst_id], alone.amodal[o.inst_id]), o.inst_id
            leaving += together[o.inst_id].sum() > inside.sum()
        assert leaving >= 3
    finally:
        r.close()


def test_fast_settle_test_agrees_with_the_reference():
    recipe, _ = load_recipe(DEFAULT_RECIPE, [])
    cfg = recipe.clutter
    dt = cfg.time_step
    rng = np.random.default_rng(3)
    lin, ang = cfg.settle.linear_speed * dt, cfg.settle.angular_speed * dt
    for trial in range(400):
        n = int(rng.integers(1, 8))
        p0 = rng.normal(size=(n, 3))
        q0 = rng.normal(size=(n, 4))
        q0 /= np.linalg.norm(q0, axis=1, keepdims=True)
        scale = rng.choice([0.3, 0.999999, 1.0, 1.000001, 3.0])
        d = rng.normal(size=(n, 3))
        p1 = p0 + (d / np.linalg.norm(d, axis=1, keepdims=True) * lin * scale
                   * rng.uniform(0.0, 1.0, (n, 1)) ** (trial % 2))
        axis = rng.normal(size=(n, 3))
        axis /= np.linalg.norm(axis, axis=1, keepdims=True)
        angle = ang * rng.choice([0.2, 0.9999999, 1.0000001, 2.0], size=n)
        dq = np.c_[axis * np.sin(angle / 2)[:, None], np.cos(angle / 2)]
        x1, y1, z1, w1 = dq.T
        x0, y0, z0, w0 = q0.T
        q1 = np.c_[w0 * x1 + x0 * w1 + y0 * z1 - z0 * y1, w0 * y1 - x0 * z1 + y0 * w1 + z0 * x1,
                   w0 * z1 + x0 * y1 - y0 * x1 + z0 * w1, w0 * w1 - x0 * x1 - y0 * y1 - z0 * z1]
        if trial % 7 == 0:
            p1[0] = np.nan  # a NaN body is ignored by both
        prev, cur = (p0, q0), (p1, q1)
        ref = physics._moving(physics._as_poses(*prev), physics._as_poses(*cur), dt, cfg)
        assert physics._moving_fast(prev, cur, dt, cfg) == ref, trial
