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
    assert np.isclose(length(r, 5, 8), 1.05 * length(k0, 5, 8)) and np.isclose(length(r, 13, 16), 0.95 * length(k0, 13, 16))


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
            h = H.sample_grasp(p, axes, fingers, rng, sdf, rng.uniform(-1, 1, 3), left, max_tries=12)
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


# ---------------------------------------------------------------- the bundled hands recipe, end to end
@pytest.fixture(scope="module")
def hands_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("hands") / "ds"
    rc = run_cli("build", HANDS_RECIPE, "--out", out, "--quiet", "--set", "camera.width=320", "--set",
                 "camera.height=240", "--set", "scenes.views_per_scene=2", "--set", "hands.count={min: 2, max: 2}",
                 "--frames", "6")
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
    for sd, im, K, cam, hands, gt in hand_frames(hands_dataset):
        assert len(hands) == 2
        for h in hands:
            kp = np.asarray(h["keypoints_cam_m"])
            for k, uv in enumerate(h["keypoint_visibility"]):
                if h["keypoints_2d"][k] is None:
                    continue
                p = K @ kp[k]
                assert np.hypot(*(p[:2] / p[2] - h["keypoints_2d"][k])) < 0.01
                n += 1
    assert n > 100


def test_hand_parameters_reproduce_keypoints(hands_dataset):
    """The written camera-frame parameters, fed to the model, give the written 3D keypoints."""
    p = build_procedural_hand()
    for sd, im, K, cam, hands, gt in hand_frames(hands_dataset):
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
    for sd, im, K, cam, hands, gt in hand_frames(root):
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
    for sd, im, K, cam, hands, gt in hand_frames(root):
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
                   "camera.height=120", "--set", "hands.backend=mano", "--set", f"hands.mano_model={d / 'MANO_RIGHT.pkl'}",
                   "--set", "hands.grasp_fraction=0", "--set", "scenes.views_per_scene=1", "--frames", "2") == 0
    m = load_mano(d / "MANO_RIGHT.pkl")
    n = 0
    for sd, im, K, cam, hands, gt in hand_frames(out):
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
