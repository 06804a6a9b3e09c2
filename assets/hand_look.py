"""How hands look: skin tones across the Fitzpatrick range and a procedural skin texture as per-vertex colours.

Skin tones. The reference colours are the ten swatches of the Monk Skin Tone (MST) scale, as
published by Google with the scale (E. Monk, 2019; released by Google in 2022,
https://skintone.google: "MST Hex color codes", ``MST_HEX``). Fitzpatrick's six phototypes
(Fitzpatrick 1988, "The validity and practicality of sun-reactive skin types I through VI", Arch
Dermatol 124:869) classify the skin's response to UV, not its colour, and no published table gives
one colour per type; gtforge assigns each type one sixth of the continuous MST index 1..10
(``FITZPATRICK_MST``: I = MST 1-2.5, ..., VI = MST 8.5-10), so the six types cover the scale from
its lightest to its darkest swatch, ordered by lightness. The MST swatches are display colours for
annotating photographs (MST 1 has L* 94, MST 10 L* 15, and the light swatches have almost no
redness); used as surface albedo under a scene's lights they render white and black. gtforge
therefore maps them to albedo in CIELAB (:func:`mst_albedo_lab`): L* linearly from the scale's span
[14.6, 94.2] onto [28, 74], about the span of in-vivo skin lightness (the individual typology angle
categories of Chardon et al. 1991, Int J Cosmet Sci 13:191, ITA = atan((L* - 50) / b*), put "very
light" skin above ITA 55, i.e. L* above 70 at b* 14, and "dark" skin below ITA -30, L* below 43 at
b* 12; the mapped swatches span ITA 73 to -76 degrees), and a* + 5,
b* + 2 for the redness and yellowness of living skin (haemoglobin, carotenoids). A hand's tone is
drawn as: a type (by the recipe's weights), an MST index uniformly within the type's interval, the
albedo interpolated linearly in CIELAB between the two neighbouring swatches, plus a small CIELAB
jitter (``TONE_JITTER_LAB``).

Skin texture (per-vertex RGBA over the hand mesh, read from the model's rest pose by
:func:`skin_regions`, so it works for any MANO-structured model): palms lighter and pinker than the
back of the hand, more so for darker skin (palmoplantar skin is less pigmented: Yamaguchi et al.
2004, "Mesenchymal-epithelial interactions in the skin: increased expression of dickkopf1 by
palmoplantar fibroblasts inhibits melanocyte growth and differentiation", J Cell Biol 165:275-285;
the amounts are gtforge's, ``skin_lab``); palm creases at the standard positions
(distal and proximal transverse creases, thenar crease, distal wrist crease: Bugbee & Botte 1993,
"Surface anatomy of the hand: the relationships between palmar skin creases and osseous anatomy",
Clin Orthop Relat Res 296:122-126) and the digital flexion creases at the base of each finger, over
the PIP joints and just proximal of the DIP joints; darker, redder skin over the dorsal knuckles (MCP,
PIP, DIP); nail plates (pink nail bed, whiter free edge) on the dorsal side of the distal phalanges;
redder finger pads; low-frequency mottling (smooth value noise over the rest pose). Colours are
mixed in CIELAB (``skimage.color``) and written as sRGB uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.ndimage import map_coordinates
from skimage.color import lab2rgb, rgb2lab

from ..core.hands import FINGER_JOINTS, MANO_PARENTS
from .hand_model import HandAxes, HandModel, hand_axes

#: Monk Skin Tone scale, MST 1 (lightest) .. MST 10 (darkest), sRGB hex as published at https://skintone.google
#: (Monk 2019; Google 2022).
MST_HEX = ("#f6ede4", "#f3e7db", "#f7ead0", "#eadaba", "#d7bd96", "#a07e56", "#825c43", "#604134", "#3a312a",
           "#292420")
#: Fitzpatrick types, lightest first.
FITZPATRICK_TYPES = ("I", "II", "III", "IV", "V", "VI")
#: Interval of the continuous MST index (1..10) each Fitzpatrick type draws from: equal sixths of the scale
#: (gtforge's assignment; see the module docstring).
FITZPATRICK_MST = {t: (1.0 + 1.5 * i, 2.5 + 1.5 * i) for i, t in enumerate(FITZPATRICK_TYPES)}
#: Standard deviation of the per-hand CIELAB jitter (L*, a*, b*) added to the drawn tone.
TONE_JITTER_LAB = np.array([1.5, 1.0, 1.0])


def _hex_rgb(h: str) -> np.ndarray:
    return np.array([int(h[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.float64) / 255.0


#: (10, 3) CIELAB (D65) of the MST swatches.
MST_LAB = rgb2lab(np.stack([_hex_rgb(h) for h in MST_HEX])[None])[0]


#: Albedo mapping of the MST swatches (module docstring): MST's L* span, the albedo's L* span, (a*, b*) shift.
MST_L_SPAN = (14.6, 94.2)
ALBEDO_L_SPAN = (28.0, 74.0)
ALBEDO_AB_SHIFT = np.array([5.0, 2.0])


def mst_lab(index: float) -> np.ndarray:
    """CIELAB (3,) float64 of the continuous MST index (1..10, clipped): linear between neighbouring swatches."""
    x = float(np.clip(index, 1.0, 10.0)) - 1.0
    i = min(int(np.floor(x)), 8)
    t = x - i
    return (1 - t) * MST_LAB[i] + t * MST_LAB[i + 1]


def mst_albedo_lab(index: float) -> np.ndarray:
    """Skin albedo, CIELAB (3,) float64, of the continuous MST index: :func:`mst_lab` with L* mapped from
    ``MST_L_SPAN`` onto ``ALBEDO_L_SPAN`` and (a*, b*) shifted by ``ALBEDO_AB_SHIFT`` (module docstring)."""
    L, a, b = mst_lab(index)
    (m0, m1), (a0, a1) = MST_L_SPAN, ALBEDO_L_SPAN
    return np.array([a0 + (L - m0) * (a1 - a0) / (m1 - m0), a + ALBEDO_AB_SHIFT[0], b + ALBEDO_AB_SHIFT[1]])


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (..., 3) -> sRGB (..., 3) float64 in [0, 1] (skimage, D65, clipped to the gamut)."""
    lab = np.asarray(lab, dtype=np.float64)
    return np.clip(lab2rgb(lab.reshape(-1, 1, 3)).reshape(lab.shape), 0.0, 1.0)


@dataclass(frozen=True)
class SkinLook:
    """Appearance of one hand's skin (drawn from an appearance stream, never from a geometry one).

    Attributes
    ----------
    skin_type : str
        Fitzpatrick type 'I'..'VI', or 'range' for a legacy ``skin_color`` range draw.
    mst : float
        Continuous MST index of the tone (NaN for 'range').
    lab : (3,) float64
        CIELAB of the dorsal skin tone.
    rgb : (3,) float64
        The same tone as sRGB in [0, 1] (``HandInstance.color``).
    seed : int
        Seed of the mottling waves and small per-hand variations.
    crease : float
        Crease strength, about 1.
    redness : float
        Knuckle and finger-pad redness, about 1.
    """

    skin_type: str
    mst: float
    lab: np.ndarray
    rgb: np.ndarray
    seed: int
    crease: float = 1.0
    redness: float = 1.0


def draw_skin(rng: np.random.Generator, type_probabilities: dict[str, float]) -> SkinLook:
    """Draw a skin look: a Fitzpatrick type by ``type_probabilities`` (type -> probability, summing to 1), an MST
    index uniformly in its ``FITZPATRICK_MST`` interval, CIELAB jitter, and the texture's per-hand variations.

    Always draws the same number of values, whatever the probabilities.

    Raises
    ------
    ValueError
        Unknown type names, or probabilities that do not sum to 1.
    """
    names = list(type_probabilities)
    p = np.array([type_probabilities[t] for t in names], dtype=np.float64)
    if any(t not in FITZPATRICK_MST for t in names):
        raise ValueError(f"unknown Fitzpatrick types {names}; known: {list(FITZPATRICK_TYPES)}")
    if not np.isclose(p.sum(), 1.0) or np.any(p < 0):
        raise ValueError("type probabilities must be >= 0 and sum to 1")
    u = rng.random(6)
    t = names[int(min(np.searchsorted(np.cumsum(p), u[0] * p.sum(), side="right"), len(names) - 1))]
    lo, hi = FITZPATRICK_MST[t]
    mst = lo + (hi - lo) * u[1]
    lab = mst_albedo_lab(mst) + TONE_JITTER_LAB * rng.normal(size=3)
    return SkinLook(skin_type=t, mst=float(mst), lab=lab, rgb=lab_to_srgb(lab), seed=int(u[2] * 2**31),
                    crease=float(0.7 + 0.6 * u[3]), redness=float(0.6 + 0.8 * u[4]))


def draw_skin_range(rng: np.random.Generator, lo, hi) -> SkinLook:
    """Legacy: a skin colour uniform per channel in [lo, hi] (sRGB in [0, 1]); the texture varies as with
    :func:`draw_skin`."""
    u = rng.random(6)
    rgb = np.asarray(lo, float) + (np.asarray(hi, float) - np.asarray(lo, float)) * u[:3]
    lab = rgb2lab(rgb.reshape(1, 1, 3)).reshape(3)
    return SkinLook(skin_type="range", mst=float("nan"), lab=lab, rgb=rgb, seed=int(u[3] * 2**31),
                    crease=float(0.7 + 0.6 * u[4]), redness=float(0.6 + 0.8 * u[5]))


# ---------------------------------------------------------------- where things are on a hand model
#: Palm creases as polylines in palm coordinates (s, w): s = 0 at the wrist joint J_0, 1 at the middle finger's
#: MCP joint, along the hand's axis; w = 0 at the index MCP, 1 at the little MCP, across the palm (w < 0 is
#: the thumb side). Positions after Bugbee & Botte 1993 (see the module docstring): the distal transverse
#: crease runs from the ulnar border, over the ring and little MCP joints, to between the index and middle
#: fingers; the proximal transverse crease from the radial border at the index MCP level obliquely into the
#: hypothenar half of the palm; the thenar crease from the same radial point around the thenar eminence to the
#: middle of the wrist; the distal wrist crease across the wrist joint. Values: (polyline, half width in
#: metres, darkness weight).
PALM_CREASES = {
    "distal_transverse": ([(0.78, 1.30), (0.80, 1.00), (0.84, 0.70), (0.90, 0.45), (0.99, 0.22)], 0.0020, 1.0),
    "proximal_transverse": ([(0.80, -0.30), (0.76, 0.05), (0.70, 0.40), (0.64, 0.75), (0.60, 0.95)], 0.0020, 1.0),
    "thenar": ([(0.80, -0.30), (0.70, -0.05), (0.55, 0.08), (0.38, 0.17), (0.20, 0.23), (0.02, 0.27)], 0.0020, 1.0),
    "distal_wrist": ([(-0.08, -0.40), (-0.08, 1.40)], 0.0016, 0.6),
}
#: Digital flexion creases on the palmar side: (joint, offset along the bone from that joint as a fraction of the
#: length of the bone distal to it (negative: proximal of the joint, as a fraction of the bone proximal to it),
#: darkness). Proximal digital crease at the finger's base (a third along the proximal phalanx), middle
#: crease over the PIP joint (two lines), distal crease just proximal of the DIP joint; thumb creases over its
#: MCP and IP joints.
DIGITAL_CREASES = [(j, o, w) for f in ("index", "middle", "ring", "little")
                   for j, o, w in ((FINGER_JOINTS[f][0], 0.33, 0.8), (FINGER_JOINTS[f][1], -0.04, 1.0),
                                   (FINGER_JOINTS[f][1], 0.05, 0.8), (FINGER_JOINTS[f][2], -0.05, 0.9))] + \
    [(14, 0.0, 0.9), (15, 0.0, 0.9)]


@dataclass(frozen=True)
class SkinRegions:
    """Per-vertex fields of a hand model's rest pose (betas 0) that the skin texture reads.

    Attributes (each (n,) float64 in [0, 1] unless stated)
    ----------
    rest : (n, 3) float64
        Rest-pose vertices, metres (model frame): where the mottling is evaluated.
    palmar : (n,) float64 in [-1, 1]
        Cosine between the vertex normal and the palmar direction of its bone (palm: the palm normal).
    crease : darkness of palm and digital creases
    knuckle : dorsal skin over the MCP, PIP and DIP joints
    nail : nail plate
    nail_edge : the nail's free edge (towards the tip)
    nail_fold : the skin fold around the nail's base
    pad : palmar side of the distal phalanges (finger pads)
    """

    rest: np.ndarray
    palmar: np.ndarray
    crease: np.ndarray
    knuckle: np.ndarray
    nail: np.ndarray
    nail_edge: np.ndarray
    nail_fold: np.ndarray
    pad: np.ndarray


def _smooth(e0, e1, x):
    t = np.clip((np.asarray(x, float) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _polyline_distance(p: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance (n,) from points (n, 2) to a polyline (k, 2)."""
    best = np.full(len(p), np.inf)
    for a, b in zip(line[:-1], line[1:]):
        ab = b - a
        t = np.clip(((p - a) @ ab) / max(ab @ ab, 1e-18), 0.0, 1.0)
        best = np.minimum(best, np.linalg.norm(p - (a + t[:, None] * ab), axis=1))
    return best


def palm_coordinates(axes: HandAxes, joints: np.ndarray,
                     points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Palm coordinates (s, w) of rest-pose points (see ``PALM_CREASES``), and the metres per unit of s and w.

    Parameters
    ----------
    axes : HandAxes
    joints : (16, 3) rest joints, metres
    points : (n, 3) rest-pose points, metres

    Returns
    -------
    s, w : (n,) float64
    s_scale, w_scale : float, metres per unit
    """
    a = axes.finger_dir
    b = joints[7] - joints[1]
    b = b - a * (a @ b) - axes.n * (axes.n @ b)
    b /= np.linalg.norm(b)
    s_scale = float((joints[4] - joints[0]) @ a)
    b_idx, b_lit = float((joints[1] - joints[0]) @ b), float((joints[7] - joints[0]) @ b)
    rel = points - joints[0]
    return (rel @ a) / s_scale, ((rel @ b) - b_idx) / (b_lit - b_idx), s_scale, b_lit - b_idx


def skin_regions(model: HandModel, axes: HandAxes | None = None) -> SkinRegions:
    """Locate palm, creases, knuckles, nails and pads on a model's rest mesh (any MANO-structured model).

    Uses only the model's interface: the rest vertices and faces (normals), the skinning weights (each vertex's
    dominant joint), the rest joints and fingertip vertices (bone axes, :func:`~.hand_model.hand_axes`).
    Positions: ``PALM_CREASES`` and ``DIGITAL_CREASES``; knuckles within about 0.7 finger radii of a joint along
    its bone on the dorsal side; nails on the distal phalanx from 45 % to 96 % of the way from the DIP joint
    to the fingertip vertex, within +-55 degrees of the dorsal direction around the bone.
    """
    axes = axes if axes is not None else hand_axes(model)
    V = np.asarray(model.v_template, dtype=np.float64)
    N = trimesh.Trimesh(V, model.faces, process=False).vertex_normals
    J = model.rest_joints()
    dom = np.argmax(model.weights, axis=1)
    tips = V[list(model.tip_ids)]
    tip_of = {FINGER_JOINTS[f][2]: tips[i] for i, f in enumerate(("thumb", "index", "middle", "ring", "little"))}
    child = {}
    for js in FINGER_JOINTS.values():
        for i, j in enumerate(js):
            child[j] = J[js[i + 1]] if i < 2 else tip_of[j]
    length = {j: float(np.linalg.norm(child[j] - J[j])) for j in child}
    radius = {}
    for j in child:
        sel = dom == j
        rel = V[sel] - J[j]
        radial = rel - np.outer(rel @ axes.u[j], axes.u[j])
        radius[j] = float(np.median(np.linalg.norm(radial, axis=1))) if sel.any() else 0.008
    palmar = np.einsum("ij,ij->i", N, axes.palmar[dom])
    n = len(V)
    crease = np.zeros(n)
    # palm creases: palm-side vertices of the palm (and the thenar eminence)
    s, w, s_scale, w_scale = palm_coordinates(axes, J, V)
    palm_side = np.isin(dom, (0, 13)) & (np.einsum("ij,j->i", N, axes.n) > 0.2)
    pts = np.stack([s * s_scale, w * w_scale], axis=1)[palm_side]
    face_on = _smooth(0.2, 0.6, (N[palm_side] @ axes.n))
    for line, half, weight in PALM_CREASES.values():
        ln = np.asarray(line) * [s_scale, w_scale]
        d = _polyline_distance(pts, ln)
        crease[palm_side] = np.maximum(crease[palm_side], weight * face_on * np.exp(-(d / half) ** 2))
    # digital creases, knuckles, nails, pads: per finger bone
    knuckle, nail, edge, fold, pad = (np.zeros(n) for _ in range(5))
    for j, off, weight in DIGITAL_CREASES:
        bone = j if off >= 0 else MANO_PARENTS[j]
        L = length[bone] if off >= 0 else length[MANO_PARENTS[j]] if MANO_PARENTS[j] > 0 else length[j]
        centre = J[j] + axes.u[bone] * off * L
        rel = V - centre
        along = rel @ axes.u[bone]
        radial = np.linalg.norm(rel - np.outer(along, axes.u[bone]), axis=1)
        r = radius[j]
        side = _smooth(0.25, 0.7, np.einsum("ij,j->i", N, axes.palmar[bone]))
        near = radial < 1.8 * r
        crease = np.maximum(crease, near * weight * side * np.exp(-(along / 0.0012) ** 2))
    for j in child:
        r = radius[j]
        rel = V - J[j]
        along = rel @ axes.u[j]
        radial = np.linalg.norm(rel - np.outer(along, axes.u[j]), axis=1)
        dorsal = _smooth(0.2, 0.7, -np.einsum("ij,j->i", N, axes.palmar[j]))
        near = radial < 1.8 * r
        knuckle = np.maximum(knuckle, near * dorsal * np.exp(-(along / (0.8 * r)) ** 2))
        if j not in tip_of:
            continue
        # distal phalanx: nail and pad, in the bone's frame (t along, angle around from the palmar side)
        t = along / length[j]
        lat = np.cross(axes.u[j], axes.palmar[j])
        ang = np.arctan2(rel @ lat, rel @ axes.palmar[j])  # 0 palmar, +-pi dorsal
        from_dorsal = np.pi - np.abs(ang)
        mine = (dom == j) | ((dom == MANO_PARENTS[j]) & (t > 0.0))
        off_axis = _smooth(0.2, 0.4, radial / r)  # the angle around the bone is meaningless on its axis
        across = off_axis * (1.0 - _smooth(np.radians(45), np.radians(60), from_dorsal))
        plate = mine * across * _smooth(0.40, 0.48, t) * (1.0 - _smooth(0.95, 0.99, t))
        nail = np.maximum(nail, plate)
        edge = np.maximum(edge, plate * _smooth(0.84, 0.92, t))
        ring = mine * off_axis * (1.0 - _smooth(np.radians(60), np.radians(75), from_dorsal)) * \
            np.exp(-((t - 0.40) / 0.06) ** 2)
        fold = np.maximum(fold, ring * (1.0 - plate))
        pad = np.maximum(pad,
                         mine * _smooth(0.3, 0.8, np.einsum("ij,j->i", N, axes.palmar[j])) * _smooth(0.45, 0.75, t))
    return SkinRegions(rest=V, palmar=palmar, crease=crease, knuckle=knuckle * (1 - nail), nail=nail, nail_edge=edge,
                       nail_fold=fold, pad=pad)


# ---------------------------------------------------------------- colours
def _mottle(rest: np.ndarray, seed: int) -> np.ndarray:
    """(n, 3) smooth, blotchy noise of about unit standard deviation per channel: cubic-spline value noise on
    two lattices (12 mm and 30 mm cells, weights 0.6 and 0.8) of Gaussian values, over the rest pose."""
    g = np.random.default_rng(seed)
    lo = rest.min(axis=0) - 0.05
    out = np.zeros((len(rest), 3))
    for cell, weight in ((0.012, 0.6), (0.030, 0.8)):
        coords = ((rest - lo) / cell).T
        shape = tuple(int(np.ceil(c.max())) + 4 for c in coords)
        for c in range(3):
            lattice = g.normal(size=shape)
            out[:, c] += weight * map_coordinates(lattice, coords, order=3, mode="nearest")
    return out / np.sqrt(0.6 ** 2 + 0.8 ** 2)


def darkness(lab: np.ndarray) -> float:
    """0 for the lightest albedo (L* >= 74) to 1 for the darkest (L* <= 28) (``ALBEDO_L_SPAN``)."""
    lo, hi = ALBEDO_L_SPAN
    return float(np.clip((hi - float(lab[0])) / (hi - lo), 0.0, 1.0))


def skin_lab(look: SkinLook, regions: SkinRegions) -> np.ndarray:
    """Per-vertex CIELAB (n, 3) of the skin texture (see the module docstring). Amounts (gtforge's) scale with
    the skin's darkness d (:func:`darkness`): palms lighten by 6 % (d = 0) to 46 % (d = 1) of the way to
    L* 80 and get pinker; creases darken by 4.5 + 6 d L*; knuckles darken by 2 + 6 d and redden by up to 4 a*;
    nail plates are a pink nail bed (L* 72 - 14 d) with a whiter free edge."""
    L0 = float(look.lab[0])
    d = darkness(look.lab)
    lab = np.tile(look.lab, (len(regions.rest), 1))
    wp = _smooth(-0.15, 0.55, regions.palmar)
    lab[:, 0] += wp * (80.0 - L0) * (0.06 + 0.40 * d)
    lab[:, 1] += wp * (1.5 + 1.5 * d)
    lab[:, 2] += wp * 4.0 * d
    lab += _mottle(regions.rest, look.seed) * np.array([0.9 + 0.4 * d, 0.9, 0.7])
    k = regions.knuckle * look.redness
    lab[:, 0] -= k * (2.0 + 6.0 * d)
    lab[:, 1] += k * (3.0 * (1 - d) + 1.0)
    lab[:, 1] += regions.pad * look.redness * 2.5 * (1 - 0.5 * d)
    c = regions.crease * look.crease
    lab[:, 0] -= c * (4.5 + 6.0 * d)
    lab[:, 1] += c * 1.0
    lab[:, 0] -= regions.nail_fold * (2.0 + 3.0 * d)
    lab[:, 1] += regions.nail_fold * 1.5
    plate = np.array([72.0 - 14.0 * d, 12.0 - 2.0 * d, 8.0 + 4.0 * d])
    free = np.array([84.0 - 6.0 * d, 3.0, 10.0])
    nail = plate + (free - plate) * regions.nail_edge[:, None]
    return lab + regions.nail[:, None] * (nail - lab)


def skin_colors(look: SkinLook, regions: SkinRegions) -> np.ndarray:
    """Per-vertex RGBA (n, 4) uint8 of the skin texture, sRGB, alpha 255."""
    rgb = lab_to_srgb(skin_lab(look, regions))
    return np.concatenate([np.round(rgb * 255).astype(np.uint8), np.full((len(rgb), 1), 255, np.uint8)], axis=1)


def forearm_skin_colors(look: SkinLook, rest_points: np.ndarray, rest_normals: np.ndarray,
                        palm_normal: np.ndarray) -> np.ndarray:
    """Skin RGBA (k, 4) uint8 of forearm vertices given in the hand model's rest frame: the hand's tone and
    mottling (the same field, so it continues across the wrist), its ventral side a little lighter (a quarter
    of the palm's lightening)."""
    n = len(rest_points)
    z = np.zeros(n)
    regions = SkinRegions(rest=rest_points, palmar=z, crease=z, knuckle=z, nail=z, nail_edge=z, nail_fold=z, pad=z)
    lab = skin_lab(look, regions)
    d = darkness(look.lab)
    wv = _smooth(-0.1, 0.7, rest_normals @ palm_normal)
    lab[:, 0] += 0.25 * wv * (80.0 - look.lab[0]) * (0.06 + 0.40 * d)
    rgb = lab_to_srgb(lab)
    return np.concatenate([np.round(rgb * 255).astype(np.uint8), np.full((n, 1), 255, np.uint8)], axis=1)


# ---------------------------------------------------------------- sleeves
#: Garment colours (sRGB in [0, 1]) a sleeve is drawn from (gtforge's palette of common clothing colours:
#: black, charcoal, grey, white, cream, navy, denim, royal and light blue, red, burgundy, green, olive,
#: khaki, brown, mustard, pink).
FABRIC_COLORS = np.array([
    [0.07, 0.07, 0.08], [0.22, 0.23, 0.25], [0.52, 0.52, 0.54], [0.86, 0.86, 0.84], [0.84, 0.79, 0.68],
    [0.11, 0.15, 0.29], [0.24, 0.34, 0.49], [0.16, 0.28, 0.62], [0.58, 0.70, 0.84], [0.60, 0.12, 0.12],
    [0.38, 0.09, 0.14], [0.14, 0.30, 0.19], [0.37, 0.37, 0.21], [0.69, 0.61, 0.44], [0.34, 0.23, 0.15],
    [0.75, 0.59, 0.19], [0.85, 0.58, 0.64],
])


@dataclass(frozen=True)
class FabricLook:
    """A sleeve's look: ``rgb`` (3,) sRGB in [0, 1]; ``stripe_rgb`` (3,) the second colour of stripes;
    ``pattern`` 'plain', 'stripes' or 'knit'; ``stripe_period`` metres along the arm; ``cuff`` 'rib' or 'hem'."""

    rgb: np.ndarray
    stripe_rgb: np.ndarray
    pattern: str
    stripe_period: float
    cuff: str


def draw_fabric(rng: np.random.Generator) -> FabricLook:
    """Draw a sleeve look (a fixed number of draws): palette colour with a +-8 % brightness jitter, pattern
    plain (60 %), stripes (20 %, period 8-30 mm) or knit (20 %), cuff rib (50 %) or hem."""
    u = rng.random(7)
    base = FABRIC_COLORS[int(u[0] * len(FABRIC_COLORS)) % len(FABRIC_COLORS)] * (0.92 + 0.16 * u[1])
    other = FABRIC_COLORS[int(u[2] * len(FABRIC_COLORS)) % len(FABRIC_COLORS)]
    pattern = "plain" if u[3] < 0.6 else "stripes" if u[3] < 0.8 else "knit"
    return FabricLook(rgb=np.clip(base, 0, 1), stripe_rgb=other, pattern=pattern,
                      stripe_period=float(0.008 + 0.022 * u[4]), cuff="rib" if u[5] < 0.5 else "hem")


def fabric_colors(look: FabricLook, along: np.ndarray, around: np.ndarray, cuff: np.ndarray) -> np.ndarray:
    """RGBA (k, 4) uint8 of sleeve vertices.

    Parameters
    ----------
    along : (k,) metres along the sleeve from its cuff edge
    around : (k,) int, vertex index around the ring
    cuff : (k,) bool, vertices of the cuff band
    """
    rgb = np.tile(look.rgb, (len(along), 1))
    if look.pattern == "stripes":
        band = (np.floor(along / look.stripe_period) % 2 == 1) & ~cuff
        rgb[band] = look.stripe_rgb
    elif look.pattern == "knit":
        rgb *= (1.0 - 0.06 * (np.asarray(around) % 2))[:, None]
    if look.cuff == "rib":
        rgb[cuff] *= (1.0 - 0.18 * (np.asarray(around)[cuff] % 2))[:, None]
    else:
        rgb[cuff] *= 0.88
    rgb = np.clip(rgb, 0, 1)
    return np.concatenate([np.round(rgb * 255).astype(np.uint8), np.full((len(rgb), 1), 255, np.uint8)], axis=1)
