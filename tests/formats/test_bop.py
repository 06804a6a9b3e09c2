"""BOP writer: exact file layout and field meanings, read back with the readers (round trip)."""

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import trimesh
from PIL import Image

from gtforge.assets.loaders import Asset
from gtforge.core.description import (
    Backdrop, Floor, Light, Material, ObjectInstance, SceneDescription, StaticBox, Texture, View,
)
from gtforge.core.geometry import intrinsics_matrix, look_at_opencv
from gtforge.core.labels import InstanceLabel
from gtforge.formats.atomic import AtomicFolder, load_json
from gtforge.formats.bop import (
    BopWriter, ImagesWriter, depth_to_png_values, from_bop_bbox, gt_pose, model_info, read_depth, read_mask, read_scene,
    scene_path, visibility_entry, write_models,
)
from gtforge.formats.protocol import FrameRecord, SceneContext
from gtforge.render.annotate import visibility_stats


def scene_context(root, scene_id: int, image_format="png", hands=None) -> tuple[AtomicFolder, SceneContext]:
    """A scene folder and the context its writers get, for a scene without objects (writer tests need no renderer)."""
    folder = AtomicFolder(scene_path(root, "train_pbr", scene_id))
    layers = SimpleNamespace(rgb=True, depth=True, mask=True, mask_visib=True)
    out = SimpleNamespace(layers=layers, depth_scale=0.1, image_format=image_format, jpg_quality=95, depth_noisy=None,
                          coco_ignore_visib_fract=0.1, formats=["bop"])
    scene = SceneDescription(scene_index=scene_id, objects=(), floor=Floor(size=1.0, color=np.ones(3)), walls=(),
                             lights=(), ambient=0.3, background_color=np.zeros(3), views=())
    ctx = SceneContext(root=root, folder=folder.path, split="train_pbr", scene_id=scene_id, output=out,
                       recipe=SimpleNamespace(hands=hands, output=out), library=[], scene=scene)
    return folder, ctx


def _label(H, W):
    canvas = np.zeros((3 * H, 3 * W), bool)
    canvas[H + 2:H + 6, W + 3:W + 9] = True
    inst = np.zeros((H, W), np.int32)
    inst[2:6, 3:7] = 1
    s = visibility_stats(canvas, inst, np.ones((H, W)), 1)
    R = trimesh.transformations.rotation_matrix(0.3, [0, 1, 0])[:3, :3]
    return InstanceLabel(inst_id=1, obj_id=3, cam_R_m2c=R, cam_t_m2c=np.array([0.01, -0.02, 0.5]),
                         **s.visibility_fields())


def test_scene_writer_roundtrip(tmp_path):
    H, W = 8, 10
    K = intrinsics_matrix(20, 21, 4.5, 3.5)
    view = View(K, W, H, look_at_opencv([0.3, 0.1, 0.6], [0, 0, 0]))
    folder, ctx = scene_context(tmp_path, 7)
    writers = [ImagesWriter(ctx), BopWriter(ctx)]
    depth = np.full((H, W), 0.5, np.float32)
    depth[0, 0] = 0
    lab = _label(H, W)
    for w in writers:
        w.add_frame(FrameRecord(0, view, np.zeros((H, W, 3), np.uint8), depth, [lab], []))
    for w in writers:
        w.finish()
    assert not (tmp_path / "train_pbr" / "000007").exists()  # nothing final before the commit
    final = folder.commit()
    assert final == tmp_path / "train_pbr" / "000007" and not (tmp_path / "train_pbr" / ".tmp_000007").exists()
    names = sorted(p.relative_to(final).as_posix() for p in final.rglob("*") if p.is_file())
    assert names == ["depth/000000.png", "mask/000000_000000.png", "mask_visib/000000_000000.png",
                     "rgb/000000.png", "scene_appearance.json", "scene_camera.json", "scene_env.json", "scene_gt.json",
                     "scene_gt_info.json", "scene_gt_occlusion.json"]
    s = read_scene(final)
    cam = s["camera"][0]
    assert cam["cam_K"] == K.reshape(-1).tolist() and cam["depth_scale"] == 0.1
    cam_T_world = np.linalg.inv(view.world_T_cam)
    assert np.allclose(np.reshape(cam["cam_R_w2c"], (3, 3)), cam_T_world[:3, :3])
    assert np.allclose(cam["cam_t_w2c"], cam_T_world[:3, 3] * 1000)  # mm
    gt = s["gt"][0][0]
    assert gt["obj_id"] == 3 and np.allclose(gt["cam_t_m2c"], [10, -20, 500])  # mm
    assert np.allclose(gt_pose(gt)[:3, :3], lab.cam_R_m2c) and np.allclose(gt_pose(gt)[:3, 3], lab.cam_t_m2c)
    info = s["gt_info"][0][0]
    assert info == {"bbox_obj": [3, 2, 5, 3], "bbox_visib": [3, 2, 3, 3], "px_count_all": 24, "px_count_valid": 24,
                    "px_count_visib": 16, "visib_fract": 16 / 24}
    assert s["occlusion"][0][0]["occlusion"] == pytest.approx(1 - 16 / 24)
    d = np.asarray(Image.open(final / "depth" / "000000.png"))
    assert d.dtype == np.uint16 and d[1, 1] == 5000 and d[0, 0] == 0  # 500 mm / 0.1
    assert np.allclose(read_depth(final / "depth" / "000000.png", 0.1)[1:, 1:], 0.5)
    m = np.asarray(Image.open(final / "mask_visib" / "000000_000000.png"))
    assert m.dtype == np.uint8 and set(np.unique(m)) == {0, 255}
    assert np.array_equal(read_mask(final / "mask_visib" / "000000_000000.png"), lab.mask_visib)
    # JSON keys are image ids as strings, as in BOP
    assert list(json.loads((final / "scene_gt.json").read_text())) == ["0"]
    with pytest.raises(FileExistsError):
        AtomicFolder(scene_path(tmp_path, "train_pbr", 7)).commit()


def test_depth_png_range():
    vals, over = depth_to_png_values(np.array([[0.0, 1.0, 7.0]]), 0.1)
    assert vals.tolist() == [[0, 10000, 0]] and over == 1


def test_models_in_mm_with_info(tmp_path):
    box = trimesh.creation.box(extents=[0.1, 0.2, 0.3])
    lib = SimpleNamespace(get=lambda i: Asset(i, "box", "box", "<t>", box, base_color=np.array([1, 0, 0, 1.0])),
                          symmetries=lambda i: {})
    write_models(tmp_path, lib, [5])
    info = load_json(tmp_path / "models" / "models_info.json")
    assert set(info) == {5}
    assert info[5]["diameter"] == pytest.approx(1000 * np.sqrt(0.1**2 + 0.2**2 + 0.3**2))
    assert info[5]["min_x"] == pytest.approx(-50) and info[5]["size_z"] == pytest.approx(300)
    m = trimesh.load(tmp_path / "models" / "obj_000005.ply", process=False)
    assert np.allclose(m.bounds, box.bounds * 1000)
    assert model_info(np.array([[0, 0, 0], [3.0, 4, 0]]))["diameter"] == 5.0


def calc_2d_bbox(xs, ys):
    """Re-implementation of the BOP toolkit's ``misc.calc_2d_bbox`` (bop_toolkit_lib/misc.py, without clipping):
    ``[x_min, y_min, x_max - x_min, y_max - y_min]``."""
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min()), int(ys.max() - ys.min())]


def toolkit_gt_info_boxes(canvas, mask_visib):
    """bbox_obj and bbox_visib as the toolkit's ``scripts/calc_gt_info.py`` computes them: from the 3W x 3H
    silhouette shifted by (-W, -H), and from the visible mask; [-1, -1, -1, -1] when nothing is visible."""
    H, W = mask_visib.shape
    ys, xs = canvas.nonzero()
    x, y, w, h = calc_2d_bbox(xs, ys)
    bbox_obj = [x - W, y - H, w, h]
    ys, xs = mask_visib.nonzero()
    bbox_visib = calc_2d_bbox(xs, ys) if len(xs) else [-1, -1, -1, -1]
    return bbox_obj, bbox_visib


@pytest.mark.parametrize("name", ["general", "one_pixel", "border_touching", "outside_left", "hidden"])
def test_bop_boxes_are_the_toolkits(name):
    H, W = 12, 16
    canvas = np.zeros((3 * H, 3 * W), bool)
    ids = np.zeros((H, W), np.int32)
    if name == "general":
        canvas[H + 2:H + 7, W + 3:W + 11] = True
        ids[3:6, 4:9] = 1
    elif name == "one_pixel":
        canvas[H + 5, W + 7] = True
        ids[5, 7] = 1
    elif name == "border_touching":  # touches the image's right and bottom borders, and goes past them
        canvas[H + 8:H + 14, W + 12:W + 20] = True
        ids[8:12, 12:16] = 1
    elif name == "outside_left":
        canvas[H + 1:H + 4, W - 5:W + 2] = True
        ids[1:4, 0:2] = 1
    else:  # silhouette in the image, every pixel owned by something else
        canvas[H + 1:H + 4, W + 1:W + 4] = True
        ids[1:4, 1:4] = 2
    stats = visibility_stats(canvas, ids, np.ones((H, W)), 1)
    info = visibility_entry(stats)
    assert [info["bbox_obj"], info["bbox_visib"]] == list(toolkit_gt_info_boxes(canvas, stats.mask_visib))
    # the reader gives back gtforge's (and COCO's) convention, w = x_max - x_min + 1
    assert from_bop_bbox(info["bbox_visib"]) == stats.bbox_visib and from_bop_bbox(info["bbox_obj"]) == stats.bbox_obj


# ---------------------------------------------------------------- distractors and the appearance record

def _pose(angle, axis, t):
    T = trimesh.transformations.rotation_matrix(angle, axis)
    T[:3, 3] = t
    return T


def _scene_with_distractors(scene_id=0):
    """A scene description with two targets, two distractors, materials, a backdrop and three lights."""
    tex_wood = Texture("procedural://wood/17", "procedural/wood")
    tex_file = Texture("/some/where/textures/brick_01.png", "files:textures/*.png")
    objects = (ObjectInstance(1, 2, _pose(0.3, [0, 0, 1], [0.01, 0.02, 0.03]),
                              Material("texture", np.array([1.0, 1, 1, 1]), 0.1, 0.4, tex_wood, 0.05, "box",
                                       np.array([0.1, 0.9, 1.1]))),
               ObjectInstance(2, 1, _pose(1.1, [1, 0, 0], [-0.05, 0.0, 0.04]), None))
    distractors = (ObjectInstance(1, 3, _pose(0.7, [0, 1, 1], [0.123456789, -0.0456, 0.0789]),
                                  Material("color", np.array([0.2, 0.3, 0.4, 1.0]), 0.0, 0.9)),
                   ObjectInstance(2, 1, _pose(2.9, [1, 1, 0], [1 / 3, 2 / 7, 1e-5]),
                                  Material("texture", np.array([1.0, 1, 1, 1]), texture=tex_file)))
    lights = (Light(np.array([0, 0, -1.0]), np.array([1.0, 0.8, 0.6]), 3.0, temperature_k=3200.0),
              Light(np.array([0.5, 0, -0.5]), np.array([0.9, 0.9, 1.0]), 40.0, kind="spot",
                    position=np.array([0.3, 0.0, 0.6]), inner_cone=0.2, outer_cone=0.5, temperature_k=6500.0,
                    shadows=False),
              Light(np.array([0, 0, -1.0]), np.ones(3), 10.0, kind="point", position=np.array([0.0, 0.2, 0.8])))
    walls = (StaticBox(np.array([0.4, 0.02, 0.1]), _pose(0, [0, 0, 1], [0, 0.2, 0.05]), np.array([0.5, 0.5, 0.5])),
             StaticBox(np.array([0.02, 0.4, 0.1]), _pose(0, [0, 0, 1], [0.2, 0, 0.05]), np.array([0.5, 0.5, 0.5]),
                       Material("texture", np.array([1.0, 1, 1, 1]), texture=tex_wood)))
    backdrop = Backdrop("photo", np.zeros(3), photo=Texture("/x/y/skimage/data/coffee.png", "skimage"),
                        crop=np.array([0.1, 0.2, 0.6, 0.9]))
    return SceneDescription(scene_index=scene_id, objects=objects, floor=Floor(1.0, np.array([0.3, 0.3, 0.3])),
                            walls=walls, lights=lights, ambient=0.25, background_color=np.zeros(3), views=(),
                            shadows=True, distractors=distractors, backdrop=backdrop)


def test_scene_env_distractors_round_trip(tmp_path):
    from gtforge.formats.bop import distractor_poses
    from gtforge.formats.dataset import Dataset

    scene = _scene_with_distractors()
    folder, ctx = scene_context(tmp_path, 0)
    ctx = replace(ctx, scene=scene)
    w = ImagesWriter(ctx)
    w.finish()
    final = folder.commit()
    env = json.loads((final / "scene_env.json").read_text())
    assert [d["obj_id"] for d in env["distractors"]] == [3, 1]
    for entry, d in zip(env["distractors"], scene.distractors):
        assert sorted(entry) == ["obj_id", "world_R_m", "world_t_mm"]
        # written exactly (float64 repr): rotation row-major, translation in mm
        assert entry["world_R_m"] == d.world_T_model[:3, :3].reshape(-1).tolist()
        assert entry["world_t_mm"] == (d.world_T_model[:3, 3] * 1000.0).tolist()
    poses = distractor_poses(env)
    for (obj_id, T), d in zip(poses, scene.distractors):
        assert obj_id == d.obj_id
        assert np.array_equal(T[:3, :3], d.world_T_model[:3, :3])
        assert np.allclose(T[:3, 3], d.world_T_model[:3, 3], rtol=0, atol=1e-15)  # mm -> m: one rounding
        assert np.array_equal(T[3], [0, 0, 0, 1])
    assert distractor_poses({"floor_size_mm": 1.0, "boxes": []}) == []  # files from older builds
    # Dataset reader
    (tmp_path / "camera.json").write_text("{}")
    ds = Dataset(tmp_path, {"split": "train_pbr", "formats": ["bop"]})
    read = ds.distractors(final)
    assert [r.obj_id for r in read] == [3, 1]
    assert all(np.array_equal(r.world_T_model, T) for r, (_, T) in zip(read, poses))
    assert ds.distractor_models_dir is None


def test_distractor_models_written_by_the_base_writer(tmp_path):
    from gtforge.formats.bop import DISTRACTOR_MODELS
    from gtforge.formats.protocol import DatasetContext
    from gtforge.formats.registry import BASE_WRITER, writer_classes

    folder, ctx = scene_context(tmp_path, 0)
    ImagesWriter(replace(ctx, scene=_scene_with_distractors())).finish()
    folder.commit()
    shapes = {1: trimesh.creation.box(extents=[0.02, 0.04, 0.06]), 3: trimesh.creation.icosphere(radius=0.05),
              2: trimesh.creation.box(extents=[1.0, 1.0, 1.0])}  # 2 is in the library but placed in no scene
    calls = []

    def symmetries(i):
        calls.append(i)
        return {"symmetries_discrete": [np.eye(4).reshape(-1).tolist()]}

    lib = SimpleNamespace(get=lambda i: Asset(i, f"d{i}", "dis", "<t>", shapes[i]), symmetries=symmetries)
    base = writer_classes([])[0]
    assert base is ImagesWriter and BASE_WRITER.endswith(":ImagesWriter")  # runs for every build
    dctx = DatasetContext(root=tmp_path, split="train_pbr", recipe=None, library=None, recipe_file="r.yaml",
                          distractors=lib)
    base.merge(dctx)
    mdir = tmp_path / DISTRACTOR_MODELS
    assert sorted(p.name for p in mdir.iterdir()) == ["models_info.json", "obj_000001.ply", "obj_000003.ply"]
    info = load_json(mdir / "models_info.json")
    assert set(info) == {1, 3} and not calls  # no symmetry search for distractors
    assert info[1]["size_z"] == pytest.approx(60.0) and info[3]["diameter"] == pytest.approx(100.0, rel=1e-3)
    m = trimesh.load(mdir / "obj_000001.ply", process=False)
    assert np.allclose(m.bounds, shapes[1].bounds * 1000)  # mm
    assert not (tmp_path / "models").exists()
    # a recipe without distractors (no library): nothing written
    base.merge(replace(dctx, root=tmp_path / "none", distractors=None))
    assert not (tmp_path / "none").exists()


def test_scene_appearance_record(tmp_path):
    from gtforge.formats.bop import APPEARANCE_FILE
    from gtforge.formats.dataset import Dataset

    scene = _scene_with_distractors()
    folder, ctx = scene_context(tmp_path, 0)
    ImagesWriter(replace(ctx, scene=scene)).finish()
    final = folder.commit()
    (tmp_path / "camera.json").write_text("{}")
    app = Dataset(tmp_path, {"split": "train_pbr", "formats": ["bop"]}).appearance(final)
    assert app == json.loads((final / APPEARANCE_FILE).read_text())
    assert [(o["gt_id"], o["inst_id"], o["obj_id"]) for o in app["objects"]] == [(0, 1, 2), (1, 2, 1)]
    m0 = app["objects"][0]["material"]
    assert m0 == {"mode": "texture", "base_color": [1.0, 1.0, 1.0, 1.0], "metallic": 0.1, "roughness": 0.4,
                  "texture": {"family": "procedural/wood", "key": "procedural://wood/17"}, "tile": 0.05,
                  "projection": "box", "hsv": [0.1, 0.9, 1.1]}
    assert app["objects"][1]["material"]["mode"] == "asset" and app["objects"][1]["material"]["texture"] is None
    assert [(d["inst_id"], d["obj_id"], d["material"]["mode"]) for d in app["distractors"]] == [
        (1, 3, "color"), (2, 1, "texture")]
    # image files are named by their file name (no machine-dependent folder)
    assert app["distractors"][1]["material"]["texture"] == {"family": "files:textures/*.png", "key": "brick_01.png"}
    assert app["distractors"][0]["material"]["base_color"] == [0.2, 0.3, 0.4, 1.0]
    assert app["floor"] == {"size_mm": 1000.0, "material": {
        "mode": "color", "base_color": [0.3, 0.3, 0.3, 1.0], "metallic": None, "roughness": None, "texture": None,
        "tile": None, "projection": None, "hsv": [0.0, 1.0, 1.0]}}
    assert [w["material"]["mode"] for w in app["walls"]] == ["color", "texture"]
    assert app["walls"][1]["material"]["texture"]["family"] == "procedural/wood"
    assert app["backdrop"] == {"kind": "photo", "color": [0.0, 0.0, 0.0], "zenith": None,
                               "photo": {"family": "skimage", "key": "coffee.png"}, "crop": [0.1, 0.2, 0.6, 0.9]}
    assert [li["kind"] for li in app["lights"]] == ["directional", "spot", "point"]
    assert [li["temperature_k"] for li in app["lights"]] == [3200.0, 6500.0, None]
    spot = app["lights"][1]
    assert spot["position_m"] == [0.3, 0.0, 0.6] and spot["outer_cone"] == 0.5 and spot["shadows"] is False
    assert app["lights"][0]["position_m"] is None and app["lights"][0]["intensity"] == 3.0
    assert app["ambient"] == 0.25 and app["shadows"] is True
    # without a backdrop the background colour is recorded as a colour backdrop
    _, ctx2 = scene_context(tmp_path / "b", 1)
    w = ImagesWriter(ctx2)
    assert w.appearance["backdrop"]["kind"] == "color" and w.appearance["distractors"] == []
    assert w.env["distractors"] == []
