"""``gtforge preview``: a contact sheet of sampled frames, drawn from the written files.

Per frame: RGB with each instance's visible mask tinted in its own colour; the tight
(visible) box solid and the amodal box dashed, both coloured by occlusion level
(legend under the sheet); the 6D pose as projected model axes (x red, y green,
z blue) and the projected 3D bounding cuboid of the model (``models_info.json``);
a colourised depth thumbnail in the corner; COCO keypoints and skeletons when the
dataset has them (visible keypoints filled, occluded ones hollow). When the dataset records
its appearance (``scene_appearance.json``), a caption strip under each frame names the
backdrop, the lights (count, kinds, colour temperatures, shadows), the floor and wall looks
(texture family or material mode) and how many objects and distractors are textured.
"""

from __future__ import annotations

import colorsys
import json
import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont

from ..core.geometry import project_points, transform_points
from ..core.hands import BONES
from ..formats.coco import coco_path
from ..formats.dataset import Dataset, Frame

LEVEL_COLORS = {0: (46, 204, 64), 1: (255, 165, 0), 2: (230, 40, 40), 3: (160, 160, 160)}
LEVEL_NAMES = {0: "0 fully visible", 1: "1 partly occluded", 2: "2 largely occluded", 3: "3 unknown"}
AXIS_COLORS = [(255, 40, 40), (40, 230, 40), (60, 90, 255)]
#: hand skeleton (1-based COCO bones) for datasets without a COCO file
DEFAULT_SKELETON = [[a + 1, b + 1] for a, b in BONES]


def instance_color(gt_id: int) -> tuple[int, int, int]:
    """A distinct colour per instance (golden-angle hue steps)."""
    r, g, b = colorsys.hsv_to_rgb((gt_id * 0.618034) % 1.0, 0.75, 1.0)
    return int(255 * r), int(255 * g), int(255 * b)


def dashed_rectangle(draw: ImageDraw.ImageDraw, box, color, width=1, dash=5) -> None:
    """Dashed rectangle for [x, y, w, h] (pixel-inclusive bounds)."""
    x, y, w, h = box
    x1, y1 = x + w - 1, y + h - 1
    for (ax, ay, bx, by) in ((x, y, x1, y), (x1, y, x1, y1), (x1, y1, x, y1), (x, y1, x, y)):
        n = max(1, int(math.hypot(bx - ax, by - ay) // dash))
        for i in range(0, n, 2):
            t0, t1 = i / n, min(1.0, (i + 1) / n)
            draw.line([(ax + (bx - ax) * t0, ay + (by - ay) * t0), (ax + (bx - ax) * t1, ay + (by - ay) * t1)],
                      fill=color, width=width)


def project(K: np.ndarray, T: np.ndarray, pts: np.ndarray) -> np.ndarray | None:
    """Project model points (n, 3) with cam_T_model T and K; None if any is not in front of the camera."""
    pc = transform_points(T, pts)
    if np.any(pc[:, 2] <= 1e-6):
        return None
    return project_points(pc, K)


CUBOID_EDGES = [(0, 1), (1, 3), (3, 2), (2, 0), (4, 5), (5, 7), (7, 6), (6, 4), (0, 4), (1, 5), (2, 6), (3, 7)]


def draw_keypoints(draw: ImageDraw.ImageDraw, keypoints: list, skeleton: list | None, color) -> None:
    """COCO keypoints [x, y, v] * n: v = 2 filled dot, v = 1 hollow dot, v = 0 not drawn; skeleton 1-based pairs."""
    k = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    for a, b in skeleton or []:
        if k[a - 1, 2] > 0 and k[b - 1, 2] > 0:
            draw.line([tuple(k[a - 1, :2]), tuple(k[b - 1, :2])], fill=color, width=2)
    for x, y, v in k:
        if v == 2:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color, outline=(0, 0, 0))
        elif v == 1:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], outline=color, width=2)


def colorize_depth(depth: np.ndarray) -> np.ndarray:
    """Depth (H, W) -> RGB (H, W, 3) uint8 with matplotlib's 'turbo' map; 0 (invalid) is black."""
    valid = depth > 0
    out = np.zeros(depth.shape + (3,), np.uint8)
    if valid.any():
        lo, hi = np.percentile(depth[valid], [1, 99])
        n = np.clip((depth - lo) / max(hi - lo, 1e-9), 0, 1)
        out = (colormaps["turbo"](n)[..., :3] * 255).astype(np.uint8)
        out[~valid] = 0
    return out


def draw_frame(ds: Dataset, fr: Frame, models_info: dict, skeletons: dict) -> Image.Image:
    """The annotated picture of one frame (image size)."""
    rgb = np.asarray(Image.open(fr.rgb_path).convert("RGB"), dtype=np.float64)
    H, W = rgb.shape[:2]
    for instance in fr.instances:
        m = instance.mask_visib((H, W))
        c = instance_color(instance.gt_id if instance.gt_id is not None else 100 + instance.hand_id)
        rgb[m] = 0.55 * rgb[m] + 0.45 * np.asarray(c)
    img = Image.fromarray(rgb.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for instance in fr.instances:
        col = LEVEL_COLORS.get(instance.occlusion_level if instance.occlusion_level is not None else 3)
        info = models_info.get(str(instance.obj_id)) if instance.cam_T_model is not None else None
        if instance.keypoints:
            draw_keypoints(draw, instance.keypoints, skeletons.get(instance.obj_id, DEFAULT_SKELETON),
                           instance_color(instance.gt_id if instance.gt_id is not None else 100 + instance.hand_id))
        if instance.px_count_visib > 0:
            x, y, w, h = instance.bbox_visib
            draw.rectangle([x, y, x + w - 1, y + h - 1], outline=col, width=2)
            dashed_rectangle(draw, instance.bbox_obj, col, width=1)
            if info:
                lo = np.array([info["min_x"], info["min_y"], info["min_z"]]) / 1000.0
                hi = lo + np.array([info["size_x"], info["size_y"], info["size_z"]]) / 1000.0
                corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
                uv = project(fr.K, instance.cam_T_model, corners)
                if uv is not None:
                    for a, b in CUBOID_EDGES:
                        draw.line([tuple(uv[a]), tuple(uv[b])], fill=(235, 235, 235), width=1)
                axis_len = 0.3 * max(info["size_x"], info["size_y"], info["size_z"]) / 1000.0
            else:
                axis_len = 0.03
            uv = project(fr.K, instance.cam_T_model, np.vstack([np.zeros(3), np.eye(3) * axis_len])) \
                if instance.cam_T_model is not None else None
            if uv is not None:
                for i in range(3):
                    draw.line([tuple(uv[0]), tuple(uv[i + 1])], fill=AXIS_COLORS[i], width=2)
    if fr.depth_path is not None:
        d = np.asarray(Image.open(fr.depth_path), dtype=np.float64)
        thumb = Image.fromarray(colorize_depth(d)).resize((W // 4, H // 4), Image.NEAREST)
        img.paste(thumb, (W - W // 4 - 2, H - H // 4 - 2))
        draw.rectangle([W - W // 4 - 3, H - H // 4 - 3, W - 2, H - 2], outline=(255, 255, 255))
    draw.text((4, 3), f"scene {fr.scene_id:06d}  im {fr.im_id}", fill=(255, 255, 255), stroke_width=2,
              stroke_fill=(0, 0, 0), font=ImageFont.load_default())
    return img


CAPTION_LINE_H = 11
CAPTION_BG = (40, 40, 40)


def _look(material: dict | None) -> str:
    """Texture family of a surface's material record, else its mode."""
    m = material or {}
    return m["texture"]["family"] if m.get("texture") else m.get("mode", "asset")


def appearance_caption(app: dict | None) -> list[str]:
    """Caption segments describing one scene's appearance record (``formats.bop.scene_appearance``).

    Returns a list of short strings (joined with `` | `` and wrapped to the tile width by
    :func:`caption_strip`); ``["appearance: not recorded"]`` for None.
    """
    if app is None:
        return ["appearance: not recorded"]
    bd = app.get("backdrop") or {}
    backdrop = f"backdrop {bd.get('kind', 'color')}" + (f" ({bd['photo']['family']})" if bd.get("photo") else "")
    lights = app.get("lights", [])
    kinds: dict = {}
    for li in lights:
        kinds[li.get("kind", "directional")] = kinds.get(li.get("kind", "directional"), 0) + 1
    temps = sorted(li["temperature_k"] for li in lights if li.get("temperature_k") is not None)
    light = f"{len(lights)} light" + ("s" if len(lights) != 1 else "")
    if kinds:
        light += " (" + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ")"
    if temps:
        light += f" {temps[0]:.0f} K" if temps[0] == temps[-1] else f" {temps[0]:.0f}-{temps[-1]:.0f} K"
    light += ", shadows" if app.get("shadows") else ", no shadows"
    floor = f"floor {_look((app.get('floor') or {}).get('material'))}"
    walls = sorted({_look(w.get("material")) for w in app.get("walls", [])})
    objs = app.get("objects", [])
    n_tex = sum(1 for o in objs if (o.get("material") or {}).get("texture"))
    out = [backdrop, light, floor + (f", walls {'/'.join(walls)}" if walls else ""),
           f"{n_tex}/{len(objs)} objects textured"]
    dis = app.get("distractors", [])
    if dis:
        d_tex = sum(1 for d in dis if (d.get("material") or {}).get("texture"))
        out.append(f"{len(dis)} distractors ({d_tex} textured)")
    return out


def caption_strip(segments: list[str], width: int, n_lines: int | None = None) -> Image.Image:
    """Text strip ``width`` pixels wide: ``segments`` joined by `` | ``, wrapped at segment (then word) bounds.

    ``n_lines`` fixes the strip's height (:data:`CAPTION_LINE_H` per line + 4 px) so tiles line up; lines
    beyond it are dropped. Without it the strip is as tall as the text needs.
    """
    font = ImageFont.load_default()
    d = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines: list[str] = []
    cur = ""
    for seg in segments:
        words = [seg] if d.textlength(seg, font=font) <= width - 6 else seg.split(" ")
        for k, word in enumerate(words):
            sep = "" if not cur else " | " if k == 0 else " "
            if cur and d.textlength(cur + sep + word, font=font) > width - 6:
                lines.append(cur)
                cur = word
            else:
                cur += sep + word
    if cur:
        lines.append(cur)
    n = len(lines) if n_lines is None else n_lines
    img = Image.new("RGB", (width, n * CAPTION_LINE_H + 4), CAPTION_BG)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines[:n]):
        draw.text((3, 2 + i * CAPTION_LINE_H), line, fill=(235, 235, 235), font=font)
    return img


def _caption_lines(segments: list[str], width: int) -> int:
    return caption_strip(segments, width).height // CAPTION_LINE_H


def legend(width: int) -> Image.Image:
    """The strip under the sheet explaining colours and line styles."""
    img = Image.new("RGB", (width, 26), (25, 25, 25))
    d = ImageDraw.Draw(img)
    x = 6
    font = ImageFont.load_default()
    for lv in range(4):
        d.rectangle([x, 8, x + 12, 18], fill=LEVEL_COLORS[lv])
        d.text((x + 16, 7), LEVEL_NAMES[lv], fill=(230, 230, 230), font=font)
        x += 22 + int(d.textlength(LEVEL_NAMES[lv], font=font))
    txt = ("| solid: visible box, dashed: amodal box | axes x y z = red green blue | cuboid: model box | "
           "keypoints: dot visible, ring occluded | inset: depth")
    d.text((x, 7), txt, fill=(230, 230, 230), font=font)
    return img


def make_sheet(ds: Dataset, n: int = 16, seed: int = 0) -> Image.Image:
    """Contact sheet of ``n`` frames drawn uniformly without replacement by ``default_rng(seed)``."""
    ids = ds.frame_ids()
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(ids), size=min(n, len(ids)), replace=False))
    models_info = {}
    mi = ds.root / "models" / "models_info.json"
    if mi.is_file():
        models_info = json.loads(mi.read_text())
    skeletons = {}
    if ds.has_coco:
        for c in json.loads(coco_path(ds.root, ds.split).read_text())["categories"]:
            if c.get("skeleton"):
                skeletons[c["id"]] = c["skeleton"]
    tiles, looks, tile_scene = [], {}, []
    for fr in ds.frames([ids[i] for i in pick]):
        tiles.append(draw_frame(ds, fr, models_info, skeletons))
        tile_scene.append(fr.scene_dir)
        if fr.scene_dir not in looks:
            looks[fr.scene_dir] = ds.appearance(fr.scene_dir)
    W, H = ds.camera["width"], ds.camera["height"]
    cols = max(1, math.ceil(math.sqrt(len(tiles))))
    rows = max(1, math.ceil(len(tiles) / cols))
    scale = min(1.0, 480 / W)
    tw, th = int(W * scale), int(H * scale)
    # appearance captions only when the dataset records its appearance (older builds: the sheet as before)
    captions = [appearance_caption(looks[sd]) for sd in tile_scene] if any(
        a is not None for a in looks.values()) else []
    n_lines = max((_caption_lines(c, tw) for c in captions), default=0)
    ch = n_lines * CAPTION_LINE_H + 4 if captions else 0
    sheet = Image.new("RGB", (cols * tw, rows * (th + ch) + 26), (0, 0, 0))
    for i, t in enumerate(tiles):
        t = t if t.size == (W, H) else t.resize((W, H), Image.LANCZOS)  # AR photos differ in size
        x, y = (i % cols) * tw, (i // cols) * (th + ch)
        sheet.paste(t.resize((tw, th), Image.LANCZOS) if scale < 1 else t, (x, y))
        if captions:
            sheet.paste(caption_strip(captions[i], tw, n_lines), (x, y + th))
    sheet.paste(legend(cols * tw), (0, rows * (th + ch)))
    return sheet


def default_out(dataset) -> Path:
    """Default sheet path: ``<dataset folder name>_preview.png`` in the working directory (never inside the dataset)."""
    return Path.cwd() / f"{Path(dataset).resolve().name}_preview.png"
