"""Procedural cars (licence-free): a body extruded from a side profile, a cabin, windows, lights, wheels.

Car frame (metres): origin at the centre of the bottom of the bounding box (the
ground contact plane, z = 0), x forward (length), y to the left (width), z up
(height). Wheels touch z = 0. KITTI's box convention (``h w l``, location at the
bottom centre) maps onto this frame directly.

Parts carry their own colours (vertex colours): paint, dark glass, light lenses
(white at the front, red at the back), black tyres with grey rims. Variants
(sedan, hatchback, SUV, van) change the profile; every dimension and the paint
come from the generator passed in.
"""

from __future__ import annotations

import numpy as np
import trimesh

KINDS = ("sedan", "hatchback", "suv", "van")

# side profiles: (x, z) as fractions of (length, height), from the rear bottom, counter-clockwise
_PROFILES = {
    "sedan": [(0.0, 0.18), (0.0, 0.52), (0.05, 0.56), (0.25, 0.58), (0.33, 0.98), (0.66, 1.0), (0.78, 0.62),
              (0.97, 0.55), (1.0, 0.42), (1.0, 0.18)],
    "hatchback": [(0.0, 0.18), (0.0, 0.62), (0.08, 0.96), (0.62, 1.0), (0.76, 0.64), (0.97, 0.56), (1.0, 0.42),
                  (1.0, 0.18)],
    "suv": [(0.0, 0.2), (0.0, 0.7), (0.03, 0.97), (0.66, 1.0), (0.79, 0.68), (0.98, 0.62), (1.0, 0.45),
            (1.0, 0.2)],
    "van": [(0.0, 0.17), (0.0, 0.97), (0.04, 1.0), (0.8, 1.0), (0.9, 0.7), (0.99, 0.55), (1.0, 0.4), (1.0, 0.17)],
}
_SIZE = {  # length, width, height ranges (m)
    "sedan": ((4.2, 5.0), (1.72, 1.86), (1.38, 1.5)),
    "hatchback": ((3.6, 4.3), (1.65, 1.8), (1.42, 1.55)),
    "suv": ((4.4, 5.0), (1.8, 1.95), (1.62, 1.8)),
    "van": ((4.6, 5.2), (1.85, 2.0), (1.85, 2.05)),
}


def _extrude(profile_xz: np.ndarray, y0: float, y1: float) -> trimesh.Trimesh:
    """Prism from a convex-or-simple polygon in the xz plane, between y0 and y1."""
    from shapely.geometry import Polygon

    poly = Polygon(profile_xz)
    m = trimesh.creation.extrude_polygon(poly, height=y1 - y0)  # polygon in xy, extruded along z
    # (px, pz, t) -> car (x = px, y = y1 - t, z = pz): a proper rotation, faces stay outward
    v = m.vertices
    m.vertices = np.stack([v[:, 0], y1 - v[:, 2], v[:, 1]], axis=1)
    return m


def _colored(mesh: trimesh.Trimesh, rgb) -> trimesh.Trimesh:
    mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=np.tile(np.append(np.asarray(rgb) * 255, 255)
                                                                          .astype(np.uint8), (len(mesh.vertices), 1)))
    return mesh


def make_car(rng: np.random.Generator, kind: str | None = None, length: float | None = None,
             paint=None) -> tuple[trimesh.Trimesh, dict]:
    """Generate one car.

    Parameters
    ----------
    rng : numpy.random.Generator
    kind : one of ``KINDS`` (random when None)
    length : metres (random within the kind's range when None)
    paint : (3,) RGB in [0, 1] (random when None)

    Returns
    -------
    mesh : trimesh.Trimesh
        Car frame (see module docstring), vertex colours per part.
    info : dict
        ``kind``, ``length``, ``width``, ``height`` (m, the bounding box), ``paint``.
    """
    kind = kind or KINDS[int(rng.integers(len(KINDS)))]
    (l0, l1), (w0, w1), (h0, h1) = _SIZE[kind]
    L = float(length) if length is not None else float(rng.uniform(l0, l1))
    W = float(rng.uniform(w0, w1))
    Hh = float(rng.uniform(h0, h1))
    paint = np.asarray(paint, float) if paint is not None else _random_paint(rng)
    prof = np.array(_PROFILES[kind], float) * [L, Hh] - [L / 2, 0.0]
    # lower body (below the belt line) in paint, cabin (above it) narrower with glass sides
    belt = np.sort(prof[:, 1])[len(prof) // 2 - 1]
    lower = prof.copy()
    lower[:, 1] = np.minimum(lower[:, 1], belt)
    lower = _dedupe(lower)
    body = _colored(_extrude(lower, -W / 2, W / 2), paint)
    cabin_pts = prof[prof[:, 1] >= belt - 1e-9]
    parts = [body]
    if len(cabin_pts) >= 3:
        cab = np.vstack([cabin_pts, [[cabin_pts[:, 0].max(), belt], [cabin_pts[:, 0].min(), belt]]])
        cab = _dedupe(_order_ccw(cab))
        inset = 0.06 * W
        parts.append(_colored(_extrude(cab, -W / 2 + inset, W / 2 - inset), paint * 0.9))
        glass = cab.copy()
        c = glass.mean(axis=0)
        glass = c + (glass - c) * 0.9
        parts.append(_colored(_extrude(glass, -W / 2 + inset - 0.01, W / 2 - inset + 0.01), (0.08, 0.1, 0.13)))
        roof = _colored(_extrude(cab, -W / 2 + inset + 0.02, W / 2 - inset - 0.02), paint * 0.9)
        roof.apply_translation([0, 0, 0.01])
        parts.append(roof)
    # lights
    zl = 0.6 * belt
    for x, col in ((L / 2 + 0.005, (0.95, 0.95, 0.85)), (-L / 2 - 0.005, (0.8, 0.05, 0.05))):
        for y in (-W / 2 + 0.22, W / 2 - 0.22):
            b = trimesh.creation.box(extents=[0.04, 0.32, 0.1])
            b.apply_translation([x, y, zl + 0.1])
            parts.append(_colored(b, col))
    # wheels
    r = 0.31 + 0.04 * (kind in ("suv", "van"))
    for x in (-L / 2 + 0.17 * L + 0.1, L / 2 - 0.17 * L - 0.1):
        for y in (-W / 2 + 0.12, W / 2 - 0.12):
            tyre = trimesh.creation.cylinder(radius=r, height=0.22, sections=24)
            tyre.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
            tyre.apply_translation([x, y, r])
            parts.append(_colored(tyre, (0.04, 0.04, 0.04)))
            rim = trimesh.creation.cylinder(radius=0.6 * r, height=0.23, sections=16)
            rim.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
            rim.apply_translation([x, y, r])
            parts.append(_colored(rim, (0.55, 0.55, 0.58)))
    mesh = trimesh.util.concatenate(parts)
    lo, hi = mesh.bounds
    # exact bottom-centre origin (wheels touch z = 0)
    mesh.apply_translation([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    ext = mesh.extents
    return mesh, {"kind": kind, "length": float(ext[0]), "width": float(ext[1]), "height": float(ext[2]),
                  "paint": [float(c) for c in paint]}


def _random_paint(rng) -> np.ndarray:
    palette = np.array([[0.85, 0.85, 0.85], [0.1, 0.1, 0.1], [0.55, 0.57, 0.6], [0.6, 0.05, 0.05],
                        [0.05, 0.15, 0.45], [0.9, 0.9, 0.92], [0.2, 0.35, 0.2], [0.45, 0.3, 0.15]])
    base = palette[int(rng.integers(len(palette)))]
    return np.clip(base + rng.normal(0, 0.04, 3), 0, 1)


def _order_ccw(p: np.ndarray) -> np.ndarray:
    c = p.mean(axis=0)
    return p[np.argsort(np.arctan2(p[:, 1] - c[1], p[:, 0] - c[0]))]


def _dedupe(p: np.ndarray) -> np.ndarray:
    keep = [0] + [i for i in range(1, len(p)) if np.linalg.norm(p[i] - p[i - 1]) > 1e-6]
    p = p[keep]
    if np.linalg.norm(p[0] - p[-1]) < 1e-6:
        p = p[:-1]
    return p
