"""How hands look (assets/hand_look.py): the Fitzpatrick / Monk Skin Tone table and its sampling, and the skin
texture's regions and colours on the procedural hand and on a model seen only through the HandModel interface."""

from dataclasses import replace

import numpy as np
import pytest
from skimage.color import rgb2lab

from gtforge.assets import hand_look as HL
from gtforge.assets.hand_model import boundary_loops, hand_axes, wrist_ring
from gtforge.assets.procedural_hand import build_procedural_hand
from gtforge.core.hands import FINGER_JOINTS


@pytest.fixture(scope="module")
def hand():
    p = build_procedural_hand()
    return p, hand_axes(p), HL.skin_regions(p)


def lightness(rgba):
    return rgb2lab(np.asarray(rgba)[..., :3].reshape(-1, 1, 3) / 255.0)[:, 0, 0]


def test_monk_table_is_the_published_one():
    # skintone.google "MST Hex color codes": the lightest and the darkest swatch, and ten of them
    assert HL.MST_HEX[0] == "#f6ede4" and HL.MST_HEX[5] == "#a07e56" and HL.MST_HEX[-1] == "#292420"
    assert len(HL.MST_HEX) == 10 and HL.MST_LAB.shape == (10, 3)
    # the six types split the scale into sixths, lightest first, without gaps
    lo = [HL.FITZPATRICK_MST[t][0] for t in HL.FITZPATRICK_TYPES]
    hi = [HL.FITZPATRICK_MST[t][1] for t in HL.FITZPATRICK_TYPES]
    assert lo[0] == 1.0 and hi[-1] == 10.0 and np.allclose(lo[1:], hi[:-1])


def test_fitzpatrick_sampling_covers_every_type_ordered_by_lightness():
    rng = np.random.default_rng(0)
    p = {t: 1 / 6 for t in HL.FITZPATRICK_TYPES}
    draws = [HL.draw_skin(rng, p) for _ in range(600)]
    types = [d.skin_type for d in draws]
    assert set(types) == set(HL.FITZPATRICK_TYPES)
    assert all(types.count(t) > 60 for t in HL.FITZPATRICK_TYPES)  # about 100 each
    mean_L = [np.mean([d.lab[0] for d in draws if d.skin_type == t]) for t in HL.FITZPATRICK_TYPES]
    # I lightest ... VI darkest (I and II differ mostly in undertone: MST 1-4 have L* 88-94)
    assert np.all(np.diff(mean_L) < -0.5) and mean_L[0] - mean_L[-1] > 35, mean_L
    # the sRGB colour agrees with its CIELAB, and every draw is a valid colour
    rgbs = np.array([d.rgb for d in draws])
    assert rgbs.min() >= 0 and rgbs.max() <= 1
    assert np.abs(rgb2lab(rgbs[:, None])[:, 0, 0] - [d.lab[0] for d in draws]).max() < 0.5
    # lightest I is lighter than darkest VI by far; MST index stays in the type's interval
    for d in draws:
        lo, hi = HL.FITZPATRICK_MST[d.skin_type]
        assert lo <= d.mst <= hi
    # weights are respected
    only = [HL.draw_skin(rng, {"V": 1.0}).skin_type for _ in range(50)]
    assert set(only) == {"V"}
    with pytest.raises(ValueError):
        HL.draw_skin(rng, {"VII": 1.0})


def test_albedo_mapping_is_monotone_in_the_scale():
    L = [HL.mst_albedo_lab(i)[0] for i in np.linspace(1, 10, 37)]
    # MST 2 -> 3 gets slightly lighter in the published swatches (L* 92.3 -> 93.1); elsewhere darker
    assert L[0] > L[-1] + 40 and HL.ALBEDO_L_SPAN[0] - 0.1 <= min(L) and max(L) <= HL.ALBEDO_L_SPAN[1] + 0.1


def test_nails_lighter_than_the_skin_around_them_creases_darker(hand):
    p, axes, reg = hand
    V = reg.rest
    assert reg.nail.max() > 0.99 and reg.crease.max() > 0.9
    for t in HL.FITZPATRICK_TYPES:
        look = HL.draw_skin(np.random.default_rng(3), {t: 1.0})
        L = lightness(HL.skin_colors(look, reg))
        for f, joints in FINGER_JOINTS.items():
            nail = np.flatnonzero((reg.nail > 0.8) & (np.argmax(p.weights, axis=1) == joints[2]))
            assert len(nail) >= 3, f
            centre = V[nail].mean(axis=0)
            ring = np.linalg.norm(V - centre, axis=1)
            dorsal_skin = (reg.nail < 0.02) & (reg.palmar < -0.3) & (ring < 0.012) & (reg.nail_fold < 0.2)
            assert dorsal_skin.sum() >= 3, f
            assert L[nail].mean() > L[dorsal_skin].mean() + 2, (t, f)
        # palm creases: darker than palm skin within 6 mm that is off every crease
        crease = np.flatnonzero((reg.crease > 0.7) & (np.argmax(p.weights, axis=1) == 0))
        assert len(crease) > 20
        palm = (reg.crease < 0.05) & (reg.palmar > 0.6)
        darker = 0
        for i in crease:
            near = palm & (np.linalg.norm(V - V[i], axis=1) < 0.006)
            if near.any():
                darker += L[i] < L[near].mean() - 2
        assert darker >= 0.9 * len(crease), (t, darker, len(crease))


def test_creases_and_nails_sit_where_anatomy_puts_them(hand):
    """Independent of the crease table: positions against the skeleton (Bugbee & Botte 1993)."""
    p, axes, reg = hand
    J = p.rest_joints()
    V = reg.rest
    dom = np.argmax(p.weights, axis=1)
    # palm creases lie on the palm side, between the wrist and the finger MCP joints
    c = (reg.crease > 0.7) & (dom == 0)
    s = (V[c] - J[0]) @ axes.finger_dir / ((J[4] - J[0]) @ axes.finger_dir)
    assert np.all((V[c] - J[0]) @ axes.n > 0) and s.min() > -0.2 and s.max() < 1.05
    # the distal transverse crease passes within 12 mm of the little and ring finger MCP joints (projected on the palm)
    for j in (7, 10):
        d = (V[c] - J[j]) - np.outer((V[c] - J[j]) @ axes.n, axes.n)
        assert np.linalg.norm(d, axis=1).min() < 0.012
    # nails: on the back of the distal phalanx, nearer the tip than the DIP joint
    tips = V[list(p.tip_ids)]
    for i, f in enumerate(("thumb", "index", "middle", "ring", "little")):
        j = FINGER_JOINTS[f][2]
        nail = (reg.nail > 0.8) & (dom == j)
        to_tip = np.linalg.norm(V[nail] - tips[i], axis=1).mean()
        to_dip = np.linalg.norm(V[nail] - J[j], axis=1).mean()
        assert to_tip < to_dip, f
        assert np.all(V[nail] @ axes.palmar[j] < (J[j] @ axes.palmar[j])), f  # dorsal side of the bone
    # the thumb nail faces away from the fingers' nails' direction by the thumb's pronation (sideways)
    thumb_dorsal = -axes.palmar[15]
    assert abs(thumb_dorsal @ -axes.n) < 0.6  # not facing the same way as the finger nails (-n)


def test_regions_come_from_the_model_interface_alone(hand):
    """A MANO-like model (no 'wrist_ring' hint, open at the wrist, vertices in another order) gets the same
    regions and wrist ring as the procedural hand: only the rest mesh, weights and joints are read."""
    p, axes, reg = hand
    n = len(p.v_template)
    ring = wrist_ring(p)
    # open the wrist: drop the faces behind the wrist ring (the collar band and the end cap)
    behind = (p.v_template[:, 0] < p.v_template[ring, 0].mean() - 1e-6)
    keep = ~np.any(behind[p.faces], axis=1)
    perm = np.random.default_rng(0).permutation(n)  # new vertex i is old vertex perm[i]
    inv = np.argsort(perm)
    opened = replace(p, v_template=p.v_template[perm], shapedirs=p.shapedirs[perm], posedirs=p.posedirs[perm],
                     J_regressor=p.J_regressor[:, perm], weights=p.weights[perm], faces=inv[p.faces[keep]],
                     tip_ids=tuple(int(inv[t]) for t in p.tip_ids), extra={}, backend="mano")
    assert len(boundary_loops(opened.faces)) >= 1
    found = wrist_ring(opened)
    assert sorted(perm[found].tolist()) == sorted(ring.tolist())
    reg2 = HL.skin_regions(opened)
    kept = np.unique(p.faces[keep])  # vertices still on the surface (normals unchanged there)
    far = np.linalg.norm(p.v_template - p.v_template[ring].mean(axis=0), axis=1) > 0.02
    sel = np.intersect1d(kept, np.flatnonzero(far))
    for name in ("crease", "nail", "knuckle", "pad"):
        a, b = getattr(reg, name)[sel], getattr(reg2, name)[inv[sel]]
        assert np.abs(a - b).max() < 1e-6, name
