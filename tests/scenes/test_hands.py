"""Hands: the MANO loader on a synthetic model file, agreement with smplx, the procedural hand, poses,
grasps, and the written ground truth of recipes/hands_objects.yaml checked against ray casting."""

import contextlib
import io
import json
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import trimesh
from conftest import ROOT, run_cli

from gtforge.assets.hand_model import HandModelError, load_mano
from gtforge.core.hands import BONES, KEYPOINT_NAMES, MANO_PARENTS
from gtforge.assets.procedural_hand import build_procedural_hand
from gtforge.scenes import hands as H
from scipy.spatial import cKDTree

HANDS_RECIPE = ROOT / "recipes" / "hands_objects.yaml"


# ---------------------------------------------------------------- a synthetic file with MANO's structure
def synthetic_mano(seed=0) -> dict:
    """Random arrays with the exact names, shapes and dtypes of the official MANO_RIGHT.pkl."""
    rng = np.random.default_rng(seed)
    n = 778
    v = rng.normal(scale=0.03, size=(n, 3))
    jreg = np.zeros((16, n))
    for j in range(16):  # each joint: a convex combination of a few vertices
        idx = rng.choice(n, 6, replace=False)
        jreg[j, idx] = rng.dirichlet(np.ones(6))
    weights = rng.dirichlet(np.ones(16) * 0.3, size=n)
    comps, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    return {
        "hands_components": comps.T.copy(), "f": rng.integers(0, n, size=(1538, 3)).astype(np.uint32),
        "J_regressor": sp.csc_matrix(jreg), "kintree_table": np.array([[4294967295, *MANO_PARENTS[1:]],
                                                                         list(range(16))], dtype=np.int64),
        "J": jreg @ v, "bs_style": "lbs", "hands_coeffs": rng.normal(size=(1554, 45)), "weights": weights,
        "posedirs": rng.normal(scale=1e-3, size=(n, 3, 135)), "hands_mean": rng.normal(scale=0.1, size=45),
        "v_template": v, "shapedirs": rng.normal(scale=2e-3, size=(n, 3, 10)), "bs_type": "lrotmin",
    }


def write_mano_pickle(path: Path, data: dict) -> None:
    """Pickle like the official file: Python-2 protocol, ``v_template``/``shapedirs`` as chumpy ``Ch``.

    A stand-in ``chumpy.ch.Ch`` class exists only while pickling; its instances carry chumpy's pickled
    state (``x`` holds the array; ``_parents``/``_cache`` are dropped by Ch.__getstate__).
    """
    pkg, mod = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
    Ch = type("Ch", (), {"__module__": "chumpy.ch"})
    mod.Ch = Ch
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = pkg, mod
    try:
        out = dict(data)
        for key in ("v_template", "shapedirs"):
            c = Ch.__new__(Ch)
            c.__dict__.update({"x": data[key], "_dirty_vars": set(), "_itr": None, "_depends_on_deps": {},
                               "_make_dense": False, "_make_sparse": False})
            out[key] = c
        path.write_bytes(pickle.dumps(out, protocol=2))
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]


@pytest.fixture(scope="module")
def mano_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("mano")
    data = synthetic_mano()
    write_mano_pickle(d / "MANO_RIGHT.pkl", data)
    np.savez(d / "MANO_RIGHT.npz", **{k: (v.toarray() if sp.issparse(v) else v) for k, v in data.items()})
    return d, data


def random_params(rng, n_betas=10):
    return rng.normal(scale=0.5, size=3), rng.normal(scale=0.4, size=45), rng.normal(size=n_betas), \
        rng.normal(scale=0.1, size=3)


def test_mano_pickle_loads_without_chumpy(mano_file):
    d, data = mano_file
    assert "chumpy" not in sys.modules
    with pytest.raises(ImportError):
        __import__("chumpy")
    m = load_mano(d / "MANO_RIGHT.pkl")
    assert np.array_equal(m.v_template, data["v_template"]) and np.array_equal(m.shapedirs, data["shapedirs"])
    assert np.allclose(m.J_regressor, data["J_regressor"].toarray())
    assert m.parents.tolist() == MANO_PARENTS.tolist() and m.tip_ids == (744, 320, 443, 554, 671)
    assert load_mano(d / "MANO_RIGHT.pkl", tip_ids="manopth").tip_ids == (745, 317, 444, 556, 673)
    assert m.faces.shape == (1538, 3) and m.num_betas == 10 and not m.flat_hand_mean


def test_zero_pose_and_betas_give_the_template(mano_file):
    d, data = mano_file
    m = load_mano(d / "MANO_RIGHT.pkl", flat_hand_mean=True)
    out = m.forward()
    assert np.allclose(out.vertices, data["v_template"], atol=1e-12)
    assert np.allclose(out.joints, data["J_regressor"] @ data["v_template"], atol=1e-12)
    # smplx's default (flat_hand_mean False): a zero finger pose is the mean pose, not the template
    assert not np.allclose(load_mano(d / "MANO_RIGHT.pkl").forward().vertices, data["v_template"], atol=1e-6)
    p = build_procedural_hand()
    assert np.allclose(p.forward().vertices, p.v_template, atol=1e-12)


@pytest.mark.reference
def test_matches_smplx_mano_layer(mano_file):
    torch = pytest.importorskip("torch")
    smplx = pytest.importorskip("smplx")
    d, _ = mano_file
    rng = np.random.default_rng(1)
    for flat in (False, True):
        ours = load_mano(d / "MANO_RIGHT.pkl", flat_hand_mean=flat)
        ref = smplx.MANO(str(d / "MANO_RIGHT.npz"), ext="npz", use_pca=False, flat_hand_mean=flat,
                         dtype=torch.float64, num_betas=10)
        for _ in range(5):
            go, hp, betas, tr = random_params(rng)
            o = ours.forward(go, hp, betas, tr)
            r = ref(global_orient=torch.tensor(go[None]), hand_pose=torch.tensor(hp[None]),
                    betas=torch.tensor(betas[None]), transl=torch.tensor(tr[None]))
            assert np.abs(o.vertices - r.vertices[0].detach().numpy()).max() < 1e-6
            assert np.abs(o.joints - r.joints[0, :16].detach().numpy()).max() < 1e-6
    ref = smplx.MANO(str(d / "MANO_RIGHT.npz"), ext="npz", use_pca=True, num_pca_comps=12, flat_hand_mean=False,
                     dtype=torch.float64, num_betas=10)
    ours = load_mano(d / "MANO_RIGHT.pkl")
    go, _, betas, tr = random_params(rng)
    pca = rng.normal(size=12)
    o = ours.forward(go, None, betas, tr, pca=pca)
    r = ref(global_orient=torch.tensor(go[None]), hand_pose=torch.tensor(pca[None]), betas=torch.tensor(betas[None]),
            transl=torch.tensor(tr[None]))
    assert np.abs(o.vertices - r.vertices[0].detach().numpy()).max() < 1e-6


def test_bad_mano_files_are_named(tmp_path, mano_file):
    with pytest.raises(HandModelError, match=r"MANO_RIGHT\.pkl: MANO model file not found"):
        load_mano(tmp_path / "MANO_RIGHT.pkl")
    data = synthetic_mano()
    del data["weights"]
    write_mano_pickle(tmp_path / "no_weights.pkl", data)
    with pytest.raises(HandModelError, match=r"no_weights\.pkl: field 'weights' missing"):
        load_mano(tmp_path / "no_weights.pkl")
    data = synthetic_mano()
    data["posedirs"] = data["posedirs"][:, :, :134]
    write_mano_pickle(tmp_path / "bad_shape.pkl", data)
    with pytest.raises(HandModelError, match=r"bad_shape\.pkl: field 'posedirs' has shape \(778, 3, 134\)"):
        load_mano(tmp_path / "bad_shape.pkl")
    (tmp_path / "garbage.pkl").write_bytes(b"not a pickle")
    with pytest.raises(HandModelError, match=r"garbage\.pkl: cannot read MANO model"):
        load_mano(tmp_path / "garbage.pkl")


def bone_lengths(kp):
    return np.array([np.linalg.norm(kp[b] - kp[a]) for a, b in BONES])


def test_procedural_shape_coefficients():
    p = build_procedural_hand()
    k0 = p.forward().keypoints
    big = p.forward(betas=[1.0, 0, 0, 0, 0]).keypoints
    assert np.allclose(big - big[0], 1.1 * (k0 - k0[0]), atol=1e-9)  # size: 10 % about the wrist
    length = lambda kp, a, b: np.linalg.norm(kp[b] - kp[a])  # noqa: E731
    th = p.forward(betas=[0, 0, 0, 1.0, 0]).keypoints
    assert np.isclose(length(th, 1, 4), 1.1 * length(k0, 1, 4)) and np.isclose(length(th, 5, 8), length(k0, 5, 8))
    r = p.forward(betas=[0, 0, 0, 0, 1.0]).keypoints
    assert (np.isclose(length(r, 5, 8), 1.05 * length(k0, 5, 8))
            and np.isclose(length(r, 13, 16), 0.95 * length(k0, 13, 16)))


def test_bone_lengths_do_not_change_with_pose(mano_file):
    rng = np.random.default_rng(2)
    p = build_procedural_hand()
    betas = np.array([0.5, -0.3, 1.0, 0.4, -0.8])
    ref = bone_lengths(p.forward(betas=betas).keypoints)
    m = load_mano(mano_file[0] / "MANO_RIGHT.pkl")
    mb = rng.normal(size=10)
    ref_m = m.forward(betas=mb).joints
    for _ in range(5):
        go, hp, _, tr = random_params(rng)
        assert np.allclose(bone_lengths(p.forward(go, hp, betas, tr).keypoints), ref, atol=1e-9)
        for left in (False, True):
            j = m.forward(go, hp, mb, tr, left=left).joints
            for k in range(1, 16):  # MANO's tips are skinned vertices: check the 15 joint-to-joint bones
                a = MANO_PARENTS[k]
                assert np.isclose(np.linalg.norm(j[k] - j[a]), np.linalg.norm(ref_m[k] - ref_m[a]), atol=1e-9)


def test_left_hand_is_the_mirror_image():
    p = build_procedural_hand()
    rng = np.random.default_rng(3)
    go, hp, _, tr = random_params(rng, 5)
    betas = rng.normal(size=5)
    flip3 = np.array([1.0, -1.0, -1.0])
    right = p.forward(go * flip3, hp * np.tile(flip3, 15), betas)
    left = p.forward(go, hp, betas, left=True)
    assert np.allclose(left.vertices, right.vertices * [-1, 1, 1], atol=1e-12)
    assert np.allclose(p.forward(go, hp, betas, tr, left=True).keypoints, left.keypoints + tr)
    # the thumb is on the other side of the middle finger's axis
    r0, l0 = p.forward().keypoints, p.forward(left=True).keypoints
    assert np.sign(r0[4, 0] - r0[12, 0]) != np.sign(l0[4, 0] - l0[12, 0]) or np.allclose(r0[4, 0], 0)


def test_procedural_hand_keypoints_and_volume():
    p = build_procedural_hand()
    assert len(KEYPOINT_NAMES) == 21
    rng = np.random.default_rng(4)
    axes = H.hand_axes(p)
    for _ in range(4):
        flex, abd = H.sample_articulation(rng)
        out = p.forward(rng.normal(size=3), H.anatomical_to_pose(axes, flex, abd), rng.uniform(-1.5, 1.5, 3))
        mesh = trimesh.Trimesh(out.vertices, out.faces, process=False)
        tips = out.keypoints[[4, 8, 12, 16, 20]]
        _, dist, _ = trimesh.proximity.closest_point(mesh, tips)
        assert dist.max() < 1e-9  # fingertip keypoints lie on the surface
        assert np.all(mesh.convex_hull.contains(out.joints))  # joints inside the hand's bounding volume
    # every closed part of the mesh faces outwards (positive volume)
    parts = trimesh.Trimesh(p.v_template, p.faces, process=False).split(only_watertight=False)
    assert len(parts) == 16 and all(part.is_watertight and part.volume > 0 for part in parts)


def test_articulation_within_limits_and_curl_presets():
    rng = np.random.default_rng(5)
    for _ in range(50):
        flex, abd = H.sample_articulation(rng)
        for j in range(1, 16):
            lo, hi, alo, ahi = H.LIMITS[H.KIND[j]]
            assert lo - 1e-12 <= flex[j] <= hi + 1e-12 and alo - 1e-12 <= abd[j] <= ahi + 1e-12
    assert np.allclose(H.curl_flexion(0.0), 0) and H.curl_flexion(1.0)[2] == H.PRESETS["fist"]["pip"]
    p = build_procedural_hand()
    axes = H.hand_axes(p)
    open_, fist = (p.forward(hand_pose=H.anatomical_to_pose(axes, H.curl_flexion(c), np.zeros(16))).keypoints
                   for c in (0.0, 1.0))
    # closing the hand brings the fingertips towards the wrist, on the palm side
    for tip in (8, 12, 16, 20):
        assert np.linalg.norm(fist[tip] - fist[0]) < 0.75 * np.linalg.norm(open_[tip] - open_[0])
        assert (fist[tip] - open_[tip]) @ axes.n > 0


@pytest.mark.slow
def test_grasps_touch_without_penetrating():
    from gtforge.assets.loaders import AssetLibrary
    from gtforge.core.description import ObjectInstance
    from gtforge.config import load_recipe
    from gtforge.core.geometry import make_pose

    recipe, _ = load_recipe(HANDS_RECIPE)
    lib = AssetLibrary(recipe.objects, HANDS_RECIPE.parent)
    p = build_procedural_hand()
    axes, fingers, targets = H.hand_axes(p), H.finger_vertex_masks(p), H.TargetMeshes(lib)
    rng = np.random.default_rng(6)
    found = 0
    for obj_id in (1, 2, 3, 4):  # teddy, bunny, two blobs
        mesh = lib.get(obj_id).mesh
        lift = -mesh.bounds[0][2] + 0.001
        o = ObjectInstance(inst_id=1, obj_id=obj_id, world_T_model=make_pose(np.eye(3), [0, 0, lift]))
        sdf = targets.sdf(o)
        for left in (False, True):
            h = H.sample_grasp(p, axes, fingers, rng, sdf, rng.uniform(-1, 1, 3), left, max_tries=24)
            if h is None:
                continue
            found += 1
            exact = H.sdf_mesh(mesh).copy()
            exact.apply_transform(o.world_T_model)
            d = H.outside_distance(exact, h.output.vertices)
            tips = H.outside_distance(exact, h.output.keypoints[[4, 8, 12, 16, 20]])
            assert d.min() >= -0.002  # penetration at most 2 mm
            assert np.sum(np.abs(tips) <= 0.005) >= 3  # at least three fingertips touch
            assert h.output.vertices[:, 2].min() >= -0.001  # above the floor
    assert found >= 4


def test_presets_and_paths_within_the_range_of_motion_table():
    """LIMITS is ROM_DEG (AAOS / Hume et al. 1990) in radians; the presets and the grasp paths stay inside it."""
    for kind, (f0, f1, a0, a1) in H.ROM_DEG.items():
        assert np.allclose(H.LIMITS[kind], np.radians([f0, f1, a0, a1]))
    assert H.ROM_DEG["pip"][1] <= 105 and H.ROM_DEG["mcp"][1] <= 100 and H.ROM_DEG["thumb_mcp"][1] <= 56
    for c in np.linspace(0, 1, 11):
        f, a = H.curl_flexion(c), H.curl_abduction(c)
        cf, ca = H.clip_to_limits(f, a)
        assert np.allclose(cf, f) and np.allclose(ca, a), c
    rng = np.random.default_rng(9)
    for _ in range(200):
        flex, abd = H.sample_articulation(rng)
        for j in range(1, 16):
            lo, hi, alo, ahi = np.radians(H.ROM_DEG[H.KIND[j]])
            assert lo - 1e-9 <= flex[j] <= hi + 1e-9 and alo - 1e-9 <= abd[j] <= ahi + 1e-9
        for path in H.THUMB_GRASP_PATHS:
            for c in (0.3, 1.0):
                f, a = H._closed(flex, abd, flex, abd, (13, 14, 15), c, path)
                for j in range(1, 16):
                    lo, hi, alo, ahi = H.LIMITS[H.KIND[j]]
                    assert lo - 1e-9 <= f[j] <= hi + 1e-9 and alo - 1e-9 <= a[j] <= ahi + 1e-9


def test_thumb_opposes_in_fists_and_grasps():
    """Fist: the thumb pad lies over the index and middle fingers' middle phalanges (on the palm side of them);
    grasp path: the thumb swings round so that its tip meets the index and middle fingertips."""
    p = build_procedural_hand()
    axes = H.hand_axes(p)
    fist = p.forward(hand_pose=H.anatomical_to_pose(axes, H.curl_flexion(1.0), H.curl_abduction(1.0)))
    J, kp = fist.joints, fist.keypoints
    middles = 0.25 * (J[2] + J[3] + J[5] + J[6])
    assert np.linalg.norm(kp[4] - middles) < 0.025
    open_ = p.forward().keypoints
    assert np.linalg.norm(kp[4] - middles) < 0.5 * np.linalg.norm(open_[4] - middles)
    flex = H.curl_flexion(0.75)
    flex[13:16] = 0.0
    f, a = H._closed(flex, np.zeros(16), flex, np.zeros(16), (13, 14, 15), 0.8, H.THUMB_GRASP_PATHS[0])
    g = p.forward(hand_pose=H.anatomical_to_pose(axes, f, a)).keypoints
    tips = 0.5 * (g[8] + g[12])
    assert np.linalg.norm(g[4] - tips) < 0.03
    # the thumb nail (away from its flexion direction) faces sideways, not the way the finger nails face
    assert abs(axes.palmar[15] @ axes.n) < 0.6


# ---------------------------------------------------------------- looks and forearms (scenes.hands.place_hands)
def resting_scene(lib, obj_ids, seed=0, scene_index=0, camera=(0.45, -0.2, 0.35)):
    """Objects resting on the floor in random yaw (no physics), one camera view: enough for place_hands."""
    from gtforge.core.description import Floor, ObjectInstance, SceneDescription, View
    from gtforge.core.geometry import look_at_opencv as look_at, make_pose

    g = np.random.default_rng(seed)
    objs = []
    for i, oid in enumerate(obj_ids):
        m = lib.get(int(oid)).mesh
        R = trimesh.transformations.rotation_matrix(g.uniform(0, 2 * np.pi), [0, 0, 1])[:3, :3]
        z = -(m.vertices @ R.T)[:, 2].min()
        objs.append(ObjectInstance(inst_id=i + 1, obj_id=int(oid),
                                   world_T_model=make_pose(R, [0.1 * (i - (len(obj_ids) - 1) / 2),
                                                               g.uniform(-0.03, 0.03), z])))
    K = np.array([[300.0, 0, 159.5], [0, 300.0, 119.5], [0, 0, 1]])
    view = View(K=K, width=320, height=240, world_T_cam=look_at(np.asarray(camera), np.array([0, 0, 0.06])))
    return SceneDescription(scene_index=scene_index, objects=tuple(objs), floor=Floor(size=3.0, color=np.full(3, 0.5)),
                            walls=(), lights=(), ambient=0.3, background_color=np.zeros(3), views=(view,))


@pytest.fixture(scope="module")
def hand_world():
    from gtforge.assets.loaders import AssetLibrary
    from gtforge.config import load_recipe

    recipe, _ = load_recipe(HANDS_RECIPE)
    lib = AssetLibrary(recipe.objects, HANDS_RECIPE.parent)
    p = build_procedural_hand()
    return recipe.hands, lib, p, H.hand_axes(p), H.TargetMeshes(lib)


def test_skin_settings_never_move_a_hand(hand_world):
    """Skin and sleeve draws come from the 'hand_appearance' stream: other skin settings give the very same hands
    (poses, shapes, grasps, forearm geometry) and other colours."""
    cfg, lib, p, axes, targets = hand_world
    scene = resting_scene(lib, [2, 3])
    base = cfg.model_copy(update={"count": cfg.count.model_copy(update={"min": 2, "max": 2}), "grasp_fraction": 0.5,
                                  "forearm": cfg.forearm.model_copy(update={"probability": 1.0})})
    variants = [base, base.model_copy(update={"skin_types": base.skin_types.model_copy(
                    update={t: (1.0 if t == "VI" else 0.0) for t in ("I", "II", "III", "IV", "V", "VI")})}),
                base.model_copy(update={"skin": "range", "skin_texture": False})]
    out = [H.place_hands(scene, v, lib, p, axes, 5, targets, look_at=(0, 0, 0.06)).hands for v in variants]
    assert len(out[0]) == 2 and any(h.forearm is not None for h in out[0])
    for hands in out[1:]:
        for a, b in zip(out[0], hands):
            assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.keypoints, b.keypoints)
            assert np.array_equal(a.hand_pose, b.hand_pose) and a.grasped_inst == b.grasped_inst
            assert (a.forearm is None) == (b.forearm is None)
            if a.forearm is not None:
                assert np.array_equal(a.forearm.vertices, b.forearm.vertices) and a.forearm.sleeve == b.forearm.sleeve
    assert not np.allclose(out[0][0].color, out[1][0].color)
    assert out[2][0].vertex_colors is None and out[0][0].vertex_colors.shape == (len(p.v_template), 4)
    # and forearms never move a hand either
    no_arm = H.place_hands(scene,
                           base.model_copy(update={"forearm": base.forearm.model_copy(update={"probability": 0.0})}),
                           lib, p, axes, 5, targets, look_at=(0, 0, 0.06)).hands
    for a, b in zip(out[0], no_arm):
        assert np.array_equal(a.vertices, b.vertices) and b.forearm is None


@pytest.mark.slow
def test_forearms_attach_stay_clear_and_are_not_keypoints(hand_world):
    """Forearm rules (docs/conventions.md, "Hands"), checked with independent geometry: its open end is the
    hand's wrist ring (within 1 mm), it is above the floor, in front of the camera, outside every object (exact
    signed distance), coloured like the hand where it joins, and the hand keeps its 21 keypoints."""
    from gtforge.assets.hand_model import boundary_loops

    cfg, lib, p, axes, targets = hand_world
    fcfg = cfg.forearm.model_copy(update={
        "probability": 1.0, "sleeve_probability": 0.5,
        "flexion_deg": cfg.forearm.flexion_deg.model_copy(update={"min": -60.0, "max": 70.0})})
    hcfg = cfg.model_copy(update={"count": cfg.count.model_copy(update={"min": 2, "max": 2}), "grasp_fraction": 0.5,
                                  "forearm": fcfg, "height": cfg.height.model_copy(update={"min": 0.03, "max": 0.08})})
    n_arms = n_grasp = 0
    for si in range(4):
        scene = resting_scene(lib, [1 + si % 5, 2 + (si + 2) % 4], seed=si, scene_index=si)
        hands = H.place_hands(scene, hcfg, lib, p, axes, 11, targets, look_at=(0, 0, 0.06)).hands
        exact = [H.sdf_mesh(lib.get(o.obj_id).mesh).copy().apply_transform(o.world_T_model) for o in scene.objects]
        for h in hands:
            assert h.keypoints.shape == (21, 3)
            if h.forearm is None:
                continue
            n_arms += 1
            n_grasp += h.grasped_inst is not None
            fa = h.forearm
            assert fa.vertex_colors.shape == (len(fa.vertices), 4) and fa.vertex_colors.dtype == np.uint8
            loops = boundary_loops(fa.faces)
            first = min(loops, key=lambda lp: np.linalg.norm(fa.vertices[lp].mean(axis=0) - h.keypoints[0]))
            d, idx = cKDTree(h.vertices).query(fa.vertices[first])
            assert d.max() < 0.001
            assert np.array_equal(fa.vertex_colors[first], h.vertex_colors[idx])
            assert fa.vertices[:, 2].min() >= 0.0
            cam_T_world = np.linalg.inv(scene.views[0].world_T_cam)
            assert (fa.vertices @ cam_T_world[2, :3] + cam_T_world[2, 3]).min() >= H.CAMERA_CLEARANCE
            for m in exact:
                assert H.outside_distance(m, fa.vertices).min() > -0.001
            # the rest of the forearm leads away from the hand: its far end is farther from the fingertips
            assert np.linalg.norm(fa.vertices[-1] - h.keypoints[12]) > np.linalg.norm(h.keypoints[0] - h.keypoints[12])
    assert n_arms >= 4 and n_grasp >= 1, (n_arms, n_grasp)


def test_forearm_rule_raises_then_shortens():
    """A hand near the floor, fingers up: its forearm would go into the floor. The rule turns it upwards within
    the wrist's range of motion, else shortens it, else drops it; whatever it returns is above the floor."""
    p = build_procedural_hand()
    axes = H.hand_axes(p)
    ring = H.wrist_ring(p)
    frame = H.facing_frame(np.array([1.0, 0, 0]), np.array([0, 0, 1.0]))  # fingers up, palm along +x
    h = H.pose_hand(p, axes, frame, np.array([0, 0, 0.11]), np.zeros(5), np.zeros(16), np.zeros(16), False)
    shape = H.ForearmShape(length=0.25, flexion=0.0, deviation=0.0, sleeve=False, cuff_at=0.03, looseness=0.005)
    straight = H.build_forearm(h.output.vertices[ring], *H.hand_frame_world(h.output.keypoints, False),
                               h.output.keypoints[0], shape)
    assert straight.vertices[:, 2].min() < 0  # drawn as is, it pierces the floor
    fitted = H.fit_forearm(h.output, False, ring, shape, 0.0, [], [], 0.06)
    assert fitted is not None
    fm, used = fitted
    assert fm.vertices[:, 2].min() >= 0.001 - 1e-9
    assert (used.flexion, used.deviation) != (0.0, 0.0) or used.length < shape.length
    assert (-np.radians(H.WRIST_ROM_DEG["extension"]) - 1e-9 <= used.flexion
            <= np.radians(H.WRIST_ROM_DEG["flexion"]) + 1e-9)
    # a hand lying on the floor pointing straight down: nothing fits, no forearm
    frame = H.facing_frame(np.array([1.0, 0, 0]), np.array([0, 0, -1.0]))
    h = H.pose_hand(p, axes, frame, np.array([0, 0, 0.12]), np.zeros(5), np.zeros(16), np.zeros(16), False)
    low = h.output.vertices[:, 2].min()
    assert H.fit_forearm(h.output, False, ring, shape, low + 0.5, [], [], 0.06) is None


@pytest.mark.gl
def test_forearm_hides_keypoints_behind_it(hand_world):
    """A camera looking along a straight forearm towards the hand: the forearm covers the wrist, so the wrist
    keypoint is not visible (occluded by its own hand's pixels), as a ray cast against hand + forearm says."""
    from gtforge.core.description import Floor, HandInstance, SceneDescription, View
    from gtforge.core.geometry import invert_pose, look_at_opencv as look_at, transform_points
    from gtforge.render.annotate import annotate_hands
    from gtforge.render.renderer import Renderer

    cfg, lib, p, axes, targets = hand_world
    frame = H.facing_frame(np.array([0, 0, -1.0]), np.array([1.0, 0, 0]))  # palm down, fingers along +x
    h = H.pose_hand(p, axes, frame, np.array([0.0, 0.0, 0.15]), np.zeros(5), H.curl_flexion(0.3), np.zeros(16), False)
    ring = H.wrist_ring(p)
    shape = H.ForearmShape(length=0.22, flexion=0.0, deviation=0.0, sleeve=True, cuff_at=0.03, looseness=0.006)
    fm = H.build_forearm(h.output.vertices[ring], *H.hand_frame_world(h.output.keypoints, False), h.output.keypoints[0],
                         shape)
    skin = H.draw_skin(np.random.default_rng(0), {"III": 1.0})
    colors = H.skin_colors(skin, H.skin_regions(p, axes))
    arm = H.forearm_instance(p, h.output, fm, shape, skin, H.draw_fabric(np.random.default_rng(1)), 0.02,
                             colors[ring], axes.n, True)
    hand = HandInstance(inst_id=1, handedness="right", vertices=h.output.vertices, faces=h.output.faces,
                        joints=h.output.joints, keypoints=h.output.keypoints, global_orient=h.global_orient,
                        hand_pose=h.hand_pose, betas=h.betas, transl=h.transl, rest_wrist=p.rest_joints()[0],
                        flat_hand_mean=True, backend="procedural", color=skin.rgb,
                        keypoint_radii=H.keypoint_radii(h.output.keypoints, h.output.vertices),
                        vertex_colors=colors, forearm=arm)
    end = fm.vertices[-1]
    eye = end + (end - h.output.keypoints[0]) / np.linalg.norm(end - h.output.keypoints[0]) * 0.25 + [0, 0, 0.02]
    K = np.array([[300.0, 0, 159.5], [0, 300.0, 119.5], [0, 0, 1]])
    view = View(K=K, width=320, height=240, world_T_cam=look_at(eye, h.output.keypoints[0]))
    scene = SceneDescription(scene_index=0, objects=(), floor=Floor(size=3.0, color=np.full(3, 0.5)), walls=(),
                             lights=(), ambient=0.5, background_color=np.zeros(3), views=(view,), hands=(hand,))
    r = Renderer(lib, 320, 240)
    try:
        r.set_scene(scene)
        bufs = r.render_view(view)
    finally:
        r.close()
    lab = annotate_hands(scene, view, bufs.ids, bufs.depth, bufs.amodal)[0]
    # oracle: first hit along the ray to each keypoint, against the hand and its forearm
    cam_T_world = invert_pose(view.world_T_cam)
    both = trimesh.util.concatenate([trimesh.Trimesh(h.output.vertices, h.output.faces, process=False),
                                     trimesh.Trimesh(fm.vertices, fm.faces, process=False)])
    both.apply_transform(cam_T_world)
    kp = transform_points(cam_T_world, h.output.keypoints)
    dirs = kp / np.linalg.norm(kp, axis=1, keepdims=True)
    locs, ray, _ = both.ray.intersects_location(np.zeros_like(dirs), dirs, multiple_hits=False)
    z_hit = dict(zip(ray, locs[:, 2]))
    assert z_hit[0] < kp[0, 2] - 0.1  # the forearm's far end is well in front of the wrist
    u, v = np.round(lab.keypoints_2d[0]).astype(int)
    assert bufs.ids[v, u] == hand.inst_id and abs(bufs.depth[v, u] - z_hit[0]) < 0.005  # drawn, as the hand's
    assert lab.visibility[0] == 1 and lab.occluder[0] == "self"
    agree = sum((2 if z_hit.get(k, np.inf) >= kp[k, 2] - hand.keypoint_radii[k] else 1) == v
                for k, v in enumerate(lab.visibility) if v != 0)
    assert agree >= 0.9 * np.count_nonzero(lab.visibility)
    assert lab.mask_visib.sum() > 0


# ---------------------------------------------------------------- the bundled hands recipe, end to end
@pytest.fixture(scope="module")
def hands_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("hands") / "ds"
    # no forearms here: the ray-cast oracle below reads the written hand meshes, which hold no forearm
    # (forearm occlusion: test_forearm_hides_keypoints_behind_it; forearms through the pipeline: test_hands_alone)
    rc = run_cli("build", HANDS_RECIPE, "--out", out, "--quiet", "--set", "camera.width=320", "--set",
                 "camera.height=240", "--set", "scenes.views_per_scene=2", "--set", "hands.count={min: 2, max: 2}",
                 "--set", "hands.forearm.probability=0", "--frames", "6")
    assert rc == 0
    return out


def hand_frames(root):
    for sd in sorted((root / "train_pbr").glob("[0-9]" * 6)):
        cams = json.loads((sd / "scene_camera.json").read_text())
        hands = json.loads((sd / "scene_hands.json").read_text())
        gt = json.loads((sd / "scene_gt.json").read_text())
        for im, hs in hands.items():
            yield sd, int(im), np.reshape(cams[im]["cam_K"], (3, 3)), cams[im], hs, gt[im]


def test_keypoints_2d_are_projections_of_3d(hands_dataset):
    n = 0
    for _sd, _im, K, _cam, hands, _gt in hand_frames(hands_dataset):
        assert len(hands) == 2
        for h in hands:
            kp = np.asarray(h["keypoints_cam_m"])
            for k, _uv in enumerate(h["keypoint_visibility"]):
                if h["keypoints_2d"][k] is None:
                    continue
                p = K @ kp[k]
                assert np.hypot(*(p[:2] / p[2] - h["keypoints_2d"][k])) < 0.01
                n += 1
    assert n > 100


def test_hand_parameters_reproduce_keypoints(hands_dataset):
    """The written camera-frame parameters, fed to the model, give the written 3D keypoints."""
    p = build_procedural_hand()
    for sd, _im, _K, _cam, hands, _gt in hand_frames(hands_dataset):
        for h in hands:
            out = p.forward(h["global_orient"], h["hand_pose"], h["betas"], h["transl_m"],
                            left=h["handedness"] == "left")
            assert np.abs(out.keypoints - np.asarray(h["keypoints_cam_m"])).max() < 1e-9
            v = np.load(sd / h["vertices"])["vertices_cam"]
            assert np.abs(out.vertices - v).max() < 1e-5  # float32 file


def test_keypoint_visibility_agrees_with_ray_casting(hands_dataset):
    """Ray from the camera through each keypoint, against the written scene (models at their poses, the hands'
    written vertices, floor); the documented rule then decides visibility, and must agree with the file."""
    from gtforge.scenes.hands import keypoint_radii
    from gtforge.inspection.raycast import load_models, static_meshes_world

    root = Path(hands_dataset)
    models = load_models(root)
    agree = total = 0
    for sd, _im, _K, cam, hands, gt in hand_frames(root):
        cam_T_world = np.eye(4)
        cam_T_world[:3, :3] = np.reshape(cam["cam_R_w2c"], (3, 3))
        cam_T_world[:3, 3] = np.asarray(cam["cam_t_w2c"]) / 1000.0
        meshes, owner = [], []
        for g, e in enumerate(gt):
            m = models[e["obj_id"]].copy()
            T = np.eye(4)
            T[:3, :3], T[:3, 3] = np.reshape(e["cam_R_m2c"], (3, 3)), np.asarray(e["cam_t_m2c"]) / 1000.0
            m.apply_transform(T)
            meshes.append(m)
            owner.append(("object", g))
        hand_meshes = []
        for h in hands:
            z = np.load(sd / h["vertices"])
            hm = trimesh.Trimesh(z["vertices_cam"].astype(np.float64), z["faces"], process=False)
            meshes.append(hm)
            hand_meshes.append(hm)
            owner.append(("hand", h["hand_id"]))
        for s in static_meshes_world(json.loads((sd / "scene_env.json").read_text())):
            meshes.append(s.apply_transform(cam_T_world))
            owner.append(("scene", None))
        scene = trimesh.util.concatenate(meshes)
        face_owner = np.concatenate([np.full(len(m.faces), i) for i, m in enumerate(meshes)])
        for h, hm in zip(hands, hand_meshes):
            kp = np.asarray(h["keypoints_cam_m"])
            radii = keypoint_radii(kp, hm.vertices)
            dirs = kp / np.linalg.norm(kp, axis=1, keepdims=True)
            locs, ray_idx, tri_idx = scene.ray.intersects_location(np.zeros_like(dirs), dirs, multiple_hits=False)
            first = {r: (locs[i, 2], owner[face_owner[tri_idx[i]]]) for i, r in enumerate(ray_idx)}
            for k, v in enumerate(h["keypoint_visibility"]):
                if v == 0:
                    continue  # outside the image: decided by the projection alone (tested above)
                zhit, who = first.get(k, (None, None))
                ours = 2 if (who == ("hand", h["hand_id"]) and zhit >= kp[k, 2] - radii[k]) else 1
                agree += ours == v
                total += 1
    assert total > 60
    assert agree / total >= 0.95, (agree, total)


def test_hands_in_coco_and_bop(hands_dataset):
    from pycocotools.coco import COCO

    root = Path(hands_dataset)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(root / "instances_train_pbr.json"))
    hand_cat = [c for c in coco.loadCats(coco.getCatIds()) if c["name"] == "hand"]
    assert len(hand_cat) == 1 and hand_cat[0]["keypoints"] == KEYPOINT_NAMES
    assert hand_cat[0]["skeleton"] == [[a + 1, b + 1] for a, b in BONES]
    anns = coco.loadAnns(coco.getAnnIds(catIds=[hand_cat[0]["id"]]))
    assert anns
    side = {(sd.name, im, h["hand_id"]): h for sd, im, K, cam, hs, gt in hand_frames(root) for h in hs}
    for a in anns:
        scene, im = divmod(a["image_id"], 1000)
        h = side[(f"{scene:06d}", im, a["hand_id"])]
        kps = np.reshape(a["keypoints"], (21, 3))
        assert kps[:, 2].tolist() == h["keypoint_visibility"]
        assert a["num_keypoints"] == int(np.count_nonzero(kps[:, 2]))
        assert np.all(kps[kps[:, 2] == 0, :2] == 0)
    for sd, im, _K, _cam, hands, gt in hand_frames(root):
        n_obj = len(json.loads((sd / "scene_gt_info.json").read_text())[str(im)])
        assert len(gt) == n_obj  # hands are never in scene_gt
        for h in hands:
            assert (sd / h["mask_visib"]).is_file() and (sd / h["mask"]).is_file()
            assert h["grasped_gt_id"] is None or 0 <= h["grasped_gt_id"] < len(gt)


def test_hands_dataset_verifies_and_previews(hands_dataset, tmp_path, capsys):
    assert run_cli("verify", hands_dataset, "--sample", "6") == 0
    assert run_cli("preview", hands_dataset, "--out", tmp_path / "p.png", "--n", "4") == 0
    img = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(tmp_path / "p.png").convert("RGB"))
    assert img.shape[0] > 240


@pytest.mark.e2e
def test_mano_backend_through_the_pipeline(mano_file, tmp_path):
    """The same recipe with backend: mano (the synthetic MANO file) builds, and its written parameters,
    fed to the MANO model, reproduce its written keypoints."""
    d, _ = mano_file
    out = tmp_path / "mano_ds"
    assert run_cli("build", HANDS_RECIPE, "--out", out, "--quiet", "--set", "camera.width=160", "--set",
                   "camera.height=120", "--set", "hands.backend=mano", "--set",
                   f"hands.mano_model={d / 'MANO_RIGHT.pkl'}",
                   "--set", "hands.grasp_fraction=0", "--set", "scenes.views_per_scene=1", "--frames", "2",
                   "--set", "hands.forearm.probability=0") == 0  # random faces: no wrist opening to attach a forearm
    m = load_mano(d / "MANO_RIGHT.pkl")
    n = 0
    for _sd, _im, _K, _cam, hands, _gt in hand_frames(out):
        for h in hands:
            assert h["backend"] == "mano" and h["flat_hand_mean"] is False
            o = m.forward(h["global_orient"], h["hand_pose"], h["betas"], h["transl_m"], left=h["handedness"] == "left")
            assert np.abs(o.keypoints - np.asarray(h["keypoints_cam_m"])).max() < 1e-9
            n += 1
    assert n >= 2


def test_mano_recipe_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GTFORGE_MANO_MODEL", raising=False)
    out = tmp_path / "o"
    assert run_cli("build", HANDS_RECIPE, "--out", out, "--quiet", "--set", "hands.backend=mano") == 2
    assert "hands: backend 'mano' needs mano_model" in capsys.readouterr().err
    assert run_cli("build", HANDS_RECIPE, "--out", out, "--quiet", "--set", "hands.backend=mano", "--set",
                   f"hands.mano_model={tmp_path / 'MANO_RIGHT.pkl'}") == 2
    err = capsys.readouterr().err
    assert "hands.mano_model: file not found" in err and "MANO_RIGHT.pkl" in err
    assert run_cli("build", HANDS_RECIPE, "--out", out, "--quiet", "--set", "hands.backend=mano", "--set",
                   f"hands.mano_model={tmp_path / 'MANO_LEFT.pkl'}") == 2
    assert "give the right-hand model" in capsys.readouterr().err
    (tmp_path / "MANO_RIGHT.pkl").write_bytes(b"garbage")
    assert run_cli("build", HANDS_RECIPE, "--out", out, "--quiet", "--set", "hands.backend=mano", "--set",
                   f"hands.mano_model={tmp_path / 'MANO_RIGHT.pkl'}") == 2
    assert "cannot read MANO model" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.e2e
def test_hands_alone(tmp_path):
    out = tmp_path / "alone"
    assert run_cli("build", HANDS_RECIPE, "--out", out, "--quiet", "--set", "objects=[]", "--set", "camera.width=160",
                   "--set", "camera.height=120", "--set", "scenes.views_per_scene=2", "--frames", "2") == 0
    doc = json.loads((out / "instances_train_pbr.json").read_text())
    assert [c["name"] for c in doc["categories"]] == ["hand"]
    assert doc["annotations"] and all(a["category_id"] == 1 for a in doc["annotations"])
    assert run_cli("verify", out) == 0
