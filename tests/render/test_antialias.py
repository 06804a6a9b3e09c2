"""Edge anti-aliasing (render/antialias.py): the edge finder marks id changes, depth steps and creases but not
planes; the FXAA blend changes only the marked pixels and blends them. Pure numpy: no GL in the fast loop."""

import numpy as np
from conftest import gl_modules_imported_by

from gtforge.render.antialias import edge_antialias, surface_edges

W, H = 160, 120


def test_importing_antialias_loads_no_gl():
    assert gl_modules_imported_by("gtforge.render.antialias") == []


def test_surface_edges_mark_id_changes_depth_steps_and_creases_not_planes():
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    plane = 1.0 / (0.8 + 0.002 * u + 0.001 * v)  # a tilted plane: 1/z affine in (u, v)
    ids = np.zeros((H, W), np.int32)
    assert not surface_edges(ids, plane.astype(np.float32)).any()
    step = plane.copy()
    step[:, 80:] *= 0.8  # a depth step between columns 79 and 80
    e = surface_edges(ids, step.astype(np.float32))
    assert e[:, 79].all() and e[:, 80].all() and e.sum(axis=1).max() <= 4
    ids2 = ids.copy()
    ids2[40:60, 40:60] = 3
    e = surface_edges(ids2, plane.astype(np.float32))
    assert e[40:60, 39].all() and e[40:60, 40].all() and e[39, 40:60].all() and not e[45:55, 45:55].any()
    hole = plane.astype(np.float32)
    hole[:, :20] = 0  # background
    assert surface_edges(ids, hole)[:, 19:21].all()


def test_edge_antialias_changes_only_the_marked_pixels_and_blends_them():
    img = np.zeros((H, W, 3), np.uint8)
    img[:, :] = (200, 60, 30)
    yy, xx = np.mgrid[0:H, 0:W]
    dark = xx > 0.6 * yy + 40  # a slanted hard edge
    img[dark] = (10, 10, 10)
    edges = np.zeros((H, W), bool)
    edges[:, 1:] |= dark[:, 1:] != dark[:, :-1]
    edges[:, :-1] |= dark[:, 1:] != dark[:, :-1]
    out = edge_antialias(img, edges)
    assert np.array_equal(out[~edges], img[~edges])
    changed = np.any(out != img, axis=-1)
    assert changed[edges].mean() > 0.5  # most edge pixels blended
    lum = out[edges].astype(float).mean(axis=-1)
    assert ((lum > 12) & (lum < 95)).mean() > 0.4  # intermediate values along the edge
    assert np.array_equal(edge_antialias(img, np.zeros((H, W), bool)), img)
