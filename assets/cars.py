"""Procedural cars (licence-free): a lofted body with a greenhouse, glass, wheels, lamps and trim; car paint.

Car frame (metres): origin at the centre of the bottom of the bounding box (the ground contact
plane, z = 0), x forward (length), y to the left (width), z up (height). The tyres touch z = 0
(their lowest vertices lie on it). KITTI's box convention (``h w l``, location at the bottom
centre) maps onto this frame directly: the mesh's bounding box is the car's box, its width
including the door mirrors.

Geometry (:func:`make_car`)
---------------------------
* **Body**: lofted over stations along x (spread along the side silhouette's arc length). At each
  station the cross-section (y-z) is the union (shapely) of the *lower body*, a superellipse
  ``|y/w|^n + |(z - z_mid)/h|^n = 1`` (exponent 5 below the widest line, 3 to 3.6 above it:
  rounded sills and shoulders) between the side profile's bottom and top lines, ``w(x)`` the plan
  view's half-width (rounded corners), and the *greenhouse*, an upper superellipse standing on the
  shoulders, inset from them and narrowing towards the roof (tumblehome), whose top is the
  roofline: sloped windscreen (A pillars), roof, rear window or tailgate (C/D pillars). The right
  half of each section is resampled by arc length (keeping the belt crease as a vertex) and
  mirrored. The profiles are monotone cubic (PCHIP) curves through per-kind control points,
  jittered per variant; both ends of the side profile close with superelliptic noses onto a seam,
  so the loft is a closed surface. Over each wheel the section's bottom rises to a circular arch
  (radius = tyre + 4.5 cm), closed inside by dark wheel-well liners.
* **Glass** (separate slabs 8 mm proud of the greenhouse, on the analytic surface): windscreen
  between the A pillars, side windows split by B (and C) pillars, rear window.
* **Wheels**: tyres are surfaces of revolution of a rounded-rectangle profile (flat tread, so each
  tyre touches z = 0 along a line); rims are a lip, a dark recessed dish, a hub and 5 to 6 spokes.
* **Lamps, grille, number plates, intakes**: decals, i.e. slabs laid on the body by casting rays
  from a plane outline (front view or rear view) onto the body mesh (Moller-Trumbore).
* **Mirrors**: small boxes at the A pillars, the widest points of the car.

Every part is a closed, consistently outward-wound triangle mesh, so the whole car is watertight.
A car has about 15k to 17.5k triangles and takes 0.2 to 0.5 s to build. Dimensions are drawn per
kind (``_SIZE``); the mesh is finally scaled (by less than 0.3 % along x, where the decals stand
out, and not measurably along y and z) so that its bounding box is exactly the drawn (or
requested) length x width x height.

Parts and looks: each face belongs to a part (``face_parts``) with a role (:data:`ROLES`) and a
fixed look (:func:`part_looks`); the ``body`` takes the instance's material (the paint,
:func:`sample_paint`), so paint never changes the model. The mesh's vertex colours (written to BOP
``models/*.ply``) are the parts' neutral base colours (body mid grey).

Paint (:func:`sample_paint`): colour families with the global shares of Axalta's 2022 Global
Automotive Color Popularity Report (:data:`PAINT_TABLE`), metallic or solid finishes under a clear
coat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.interpolate import PchipInterpolator
from shapely.geometry import Polygon

from ..core.description import Material, PartLook

KINDS = ("sedan", "hatchback", "suv", "van")

_SIZE = {  # length, width (with mirrors), height ranges (m)
    "sedan": ((4.2, 5.0), (1.72, 1.86), (1.38, 1.5)),
    "hatchback": ((3.6, 4.3), (1.65, 1.8), (1.42, 1.55)),
    "suv": ((4.4, 5.0), (1.8, 1.95), (1.62, 1.8)),
    "van": ((4.6, 5.2), (1.85, 2.0), (1.85, 2.05)),
}

#: Roles of a car's parts, in the order of :func:`part_looks` (``face_parts`` indexes this tuple).
ROLES = ("body", "glass", "tyre", "rim", "trim", "light_front", "light_rear", "plate")


def part_looks() -> tuple:
    """The fixed look of each car part, one :class:`~gtforge.core.description.PartLook` per role of :data:`ROLES`, in
    that order.

    ``body``: mid grey (the look used when an instance has no material; instances normally get a paint);
    ``glass``: near black, metallic 0.9, roughness 0.05 (mirror-like: it reflects the lights); ``tyre``: black
    rubber, roughness 0.9; ``rim``: metallic silver; ``trim``: black plastic (grille, intakes, mirrors, bezels,
    wheel wells, rims' dishes); ``light_front``: white lens, emissive warm white; ``light_rear``: red lens,
    emissive red; ``plate``: white number plates. Colours are sRGB in [0, 1].
    """
    rgba = lambda *c: np.array([*c, 1.0])  # noqa: E731
    return (
        PartLook("body", rgba(0.5, 0.5, 0.5), metallic=0.3, roughness=0.35),
        PartLook("glass", rgba(0.03, 0.035, 0.04), metallic=0.9, roughness=0.05),
        PartLook("tyre", rgba(0.035, 0.035, 0.035), metallic=0.0, roughness=0.9),
        PartLook("rim", rgba(0.72, 0.72, 0.74), metallic=0.85, roughness=0.3),
        PartLook("trim", rgba(0.04, 0.04, 0.045), metallic=0.0, roughness=0.6),
        PartLook("light_front", rgba(0.92, 0.92, 0.88), metallic=0.2, roughness=0.1,
                 emissive=np.array([0.9, 0.88, 0.75])),
        PartLook("light_rear", rgba(0.55, 0.02, 0.02), metallic=0.2, roughness=0.15,
                 emissive=np.array([0.6, 0.0, 0.0])),
        PartLook("plate", rgba(0.85, 0.85, 0.82), metallic=0.0, roughness=0.5),
    )


_B, _GLASS, _TYRE, _RIM, _TRIM, _LF, _LR, _PLATE = range(len(ROLES))


@dataclass(frozen=True)
class Car:
    """One generated car.

    Attributes
    ----------
    mesh : trimesh.Trimesh
        Car frame (module docstring), metres; closed. Vertex colours: the parts' neutral base colours.
    face_parts : (m,) int64
        Index into ``parts`` of each face.
    parts : tuple of PartLook
        One per role of :data:`ROLES`, in that order.
    kind : str
        One of :data:`KINDS`.
    length, width, height : float
        Extents of ``mesh``'s bounding box along x, y, z (m).
    """

    mesh: trimesh.Trimesh
    face_parts: np.ndarray
    parts: tuple
    kind: str
    length: float
    width: float
    height: float


# ---------------------------------------------------------------------------------------------- design
# Control points (u = fraction of the length from the rear, z = fraction of the height) of the lower
# body's top line (tail, boot deck, belt, cowl, bonnet, nose) and of the roofline (rear-window base, roof,
# windscreen base); nose heights; corner radii; windows. Each variant jitters them (``_design``).
_KIND_SHAPES = {
    "sedan": dict(
        top=[(0.0, 0.62), (0.05, 0.67), (0.12, 0.69), (0.22, 0.69), (0.32, 0.665), (0.66, 0.635), (0.74, 0.615),
             (0.86, 0.575), (0.95, 0.535), (1.0, 0.50)],
        roof=[(0.175, 0.64), (0.205, 0.70), (0.33, 0.965), (0.45, 1.0), (0.56, 0.99), (0.715, 0.60), (0.735, 0.56)],
        nose_f=0.36, nose_r=0.45, d_f=0.30, d_r=0.22, r_cf=0.42, r_cr=0.30, n_top=3.0, clear=0.14,
        tyre=(0.31, 0.335), oh_f=(0.19, 0.215), oh_r=(0.215, 0.235), glass_end=0.32, pillars=(0.53,),
        tail="wide", n_gh=3.4, tumble=(0.19, 0.24), inset=(0.08, 0.1)),
    "hatchback": dict(
        top=[(0.0, 0.58), (0.04, 0.62), (0.12, 0.63), (0.30, 0.62), (0.62, 0.60), (0.72, 0.575), (0.86, 0.54),
             (0.95, 0.50), (1.0, 0.47)],
        roof=[(0.005, 0.55), (0.02, 0.62), (0.10, 0.965), (0.35, 1.0), (0.54, 0.99), (0.705, 0.59), (0.725, 0.55)],
        nose_f=0.34, nose_r=0.42, d_f=0.28, d_r=0.16, r_cf=0.40, r_cr=0.26, n_top=3.0, clear=0.14,
        tyre=(0.295, 0.32), oh_f=(0.19, 0.215), oh_r=(0.15, 0.175), glass_end=0.16, pillars=(0.55,),
        tail="tall", n_gh=3.6, tumble=(0.17, 0.22), inset=(0.08, 0.1)),
    "suv": dict(
        top=[(0.0, 0.58), (0.04, 0.62), (0.12, 0.63), (0.30, 0.62), (0.66, 0.60), (0.74, 0.585), (0.86, 0.56),
             (0.95, 0.53), (1.0, 0.49)],
        roof=[(0.005, 0.55), (0.02, 0.63), (0.06, 0.975), (0.40, 1.0), (0.60, 0.995), (0.735, 0.59), (0.755, 0.55)],
        nose_f=0.35, nose_r=0.42, d_f=0.28, d_r=0.16, r_cf=0.40, r_cr=0.25, n_top=3.6, clear=0.19,
        tyre=(0.35, 0.38), oh_f=(0.18, 0.2), oh_r=(0.19, 0.21), glass_end=0.05, pillars=(0.42, 0.76),
        tail="tall", n_gh=4.2, tumble=(0.12, 0.16), inset=(0.07, 0.09)),
    "van": dict(
        top=[(0.0, 0.50), (0.04, 0.53), (0.12, 0.54), (0.70, 0.52), (0.80, 0.505), (0.88, 0.48), (0.95, 0.44),
             (1.0, 0.40)],
        roof=[(0.005, 0.47), (0.02, 0.55), (0.05, 0.98), (0.50, 1.0), (0.70, 0.99), (0.855, 0.52), (0.87, 0.48)],
        nose_f=0.29, nose_r=0.36, d_f=0.26, d_r=0.14, r_cf=0.42, r_cr=0.24, n_top=3.6, clear=0.16,
        tyre=(0.33, 0.35), oh_f=(0.18, 0.2), oh_r=(0.19, 0.21), glass_end=0.045, pillars=(0.31, 0.68),
        tail="tall", n_gh=4.6, tumble=(0.08, 0.12), inset=(0.06, 0.08)),
}

_MIRROR_REACH = 0.05  # m the door mirrors stand out of the body's side (the box's width includes them)
_GLASS_OFFSET = 0.008  # m the glass stands proud of the greenhouse
_ARCH_GAP = 0.045  # m between a tyre and its wheel arch


def _pchip(points):
    p = np.asarray(points, dtype=np.float64)
    return PchipInterpolator(p[:, 0], p[:, 1], extrapolate=True)


def _design(rng: np.random.Generator, kind: str, L: float, W: float, H: float) -> dict:
    """Every shape parameter of one car, drawn from ``rng`` (metres)."""
    s = _KIND_SHAPES[kind]
    j = lambda a: float(rng.uniform(-a, a))  # noqa: E731
    top = [(u, z + j(0.01)) for u, z in s["top"]]
    shift_ws = j(0.015)  # windscreen base moves, the roof follows
    roof = [(u + (shift_ws if u > 0.6 else 0.0), z) for u, z in s["roof"]]
    R = float(rng.uniform(*s["tyre"]))
    d = dict(kind=kind, L=L, W=W, H=H, Wb=W - 2 * _MIRROR_REACH,
             top=_pchip(top), roof=_pchip(roof), roof_u=(roof[0][0], roof[-1][0]),
             roof_pts=roof, nose_f=(s["nose_f"] + j(0.015)) * H, nose_r=(s["nose_r"] + j(0.015)) * H,
             d_f=s["d_f"] + j(0.03), d_r=s["d_r"] + j(0.02), r_cf=s["r_cf"] + j(0.05), r_cr=s["r_cr"] + j(0.04),
             n_top=s["n_top"], n_bot=5.0, n_gh=s["n_gh"], clear=s["clear"] + j(0.015),
             R=R, tyre_w=float(rng.uniform(0.19, 0.245)), rim_frac=float(rng.uniform(0.58, 0.68)),
             spokes=int(rng.integers(5, 7)), inset=float(rng.uniform(*s["inset"])),
             tumble=float(rng.uniform(*s["tumble"])),
             x_wf=L / 2 - float(rng.uniform(*s["oh_f"])) * L, x_wr=-L / 2 + float(rng.uniform(*s["oh_r"])) * L,
             glass_end=s["glass_end"], pillars=s["pillars"], tail=s["tail"],
             lamp=float(rng.uniform(0.0, 1.0)))
    d["Ra"] = R + _ARCH_GAP
    d["y_wheel"] = d["Wb"] / 2 - d["tyre_w"] / 2 - 0.015
    # the widest line: above the arches, below the bonnet
    d["z_mid0"] = 2 * R + _ARCH_GAP + 0.06
    return d


# ---------------------------------------------------------------------------------------------- profiles
def _smin(a, b, k=0.03):
    return -k * np.logaddexp(-np.asarray(a) / k, -np.asarray(b) / k)


def _smax(a, b, k=0.03):
    return k * np.logaddexp(np.asarray(a) / k, np.asarray(b) / k)


def _closing(d, x):
    """(e, z_nose): the superelliptic closing factor of the side profile (1 away from the ends, 0 at them)."""
    x = np.asarray(x, dtype=np.float64)
    L = d["L"]
    tf = np.clip((x - (L / 2 - d["d_f"])) / d["d_f"], 0, 1)
    tr = np.clip((-L / 2 + d["d_r"] - x) / d["d_r"], 0, 1)
    p = 2.6
    e = (1 - tf**p) ** (1 / p) * (1 - tr**p) ** (1 / p)
    return e, np.where(x > 0, d["nose_f"], d["nose_r"])


def _arch(d, x):
    """Height (m) of the wheel arch over x, or -inf outside every arch."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, -np.inf)
    for xw in (d["x_wf"], d["x_wr"]):
        dx = x - xw
        inside = np.abs(dx) <= d["Ra"] + 1e-12
        out = np.where(inside, d["R"] + np.sqrt(np.clip(d["Ra"] ** 2 - dx**2, 0, None)), out)
    return out


def _lower(d, x, arch):
    """Lower-body section parameters at stations x: (w, z_bot, z_mid, z_top), each (n,) metres.

    ``arch`` (n,) bool: the station's bottom follows the wheel arch."""
    x = np.asarray(x, dtype=np.float64)
    L, H = d["L"], d["H"]
    u = (x + L / 2) / L
    top = d["top"](u) * H
    # bottom: clearance between the wheels, rising towards the bumpers' lower edges
    xf, xr = d["x_wf"] + d["Ra"], d["x_wr"] - d["Ra"]
    bot = np.full(x.shape, d["clear"])
    bot = bot + np.where(x > xf, 0.09 * ((x - xf) / max(L / 2 - xf, 1e-6)) ** 2, 0.0)
    bot = bot + np.where(x < xr, 0.11 * ((xr - x) / max(xr + L / 2, 1e-6)) ** 2, 0.0)
    bot = np.where(arch, np.maximum(bot, _arch(d, x)), bot)
    mid = _smax(_smin(d["z_mid0"], top - 0.07), bot + 0.05)
    e, zn = _closing(d, x)
    z_top = zn + (top - zn) * e
    z_bot = zn - (zn - bot) * e
    z_mid = zn + (mid - zn) * e
    # plan: rounded corners
    half = d["Wb"] / 2
    w = np.full(x.shape, half)
    for r, dist in ((d["r_cf"], L / 2 - x), (d["r_cr"], x + L / 2)):
        t = np.clip(r - dist, 0, r)
        w = np.minimum(w, half - r + np.sqrt(np.clip(r**2 - t**2, 0, None)))
    return w, z_bot, z_mid, z_top


def _shoulder_height(w, z_mid, z_top, n_top, y):
    """Height (m) of the lower body's upper surface at lateral offset ``y`` (< w)."""
    return z_mid + (z_top - z_mid) * np.clip(1 - (np.abs(y) / w) ** n_top, 0, None) ** (1 / n_top)


def _greenhouse(d, x):
    """Greenhouse section parameters at stations x: (a, z_b, hg), each (n,): half-width at its base,
    base height (just under the lower body's shoulder) and height to the roofline (<= 0: none here)."""
    x = np.asarray(x, dtype=np.float64)
    w, _zb, zm, zt = _lower(d, x, np.zeros(x.shape, bool))
    a = w - d["inset"]
    z_b = _shoulder_height(w, zm, zt, d["n_top"], a) - 0.02
    u = (x + d["L"] / 2) / d["L"]
    u0, u1 = d["roof_u"]
    inside = (u > u0) & (u < u1)
    e = _closing(d, x)[0]
    zr = d["roof"](u) * d["H"]
    zr = np.where(inside, zt + (zr - zt) * e, -np.inf)  # sinks into the lower body where the side profile closes
    return a, z_b, zr - z_b


def _gh_point(d, x, theta):
    """Points (..., 3) of the greenhouse surface at stations x and section parameter theta (0: right side at its
    base, pi/2: top centre, pi: left side), broadcast together."""
    x, theta = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(theta, np.float64))
    a, z_b, hg = _greenhouse(d, x.ravel())
    a, z_b, hg = a.reshape(x.shape), z_b.reshape(x.shape), hg.reshape(x.shape)
    n = d["n_gh"]
    s, c = np.sin(theta), np.cos(theta)
    c = np.where(np.abs(c) < 1e-12, 0.0, c)  # exactly on the centre plane at theta = pi/2
    z = z_b + hg * np.abs(s) ** (2 / n)
    y = a * (1 - d["tumble"] * (z - z_b) / np.maximum(hg, 1e-9)) * np.sign(c) * np.abs(c) ** (2 / n)
    return np.stack([x, y, z], axis=-1)


def _theta_at(d, x, z):
    """Greenhouse parameter theta in [0, pi/2] where its side reaches height z at station x."""
    _a, z_b, hg = _greenhouse(d, np.atleast_1d(x))
    f = np.clip((z - z_b) / np.maximum(hg, 1e-9), 0, 1)
    return np.arcsin(f ** (d["n_gh"] / 2))


# ---------------------------------------------------------------------------------------------- body loft
def _superellipse_ring(w, z_mid, h_top, h_bot, n_top, n_bot, k=160):
    t = np.linspace(0, 2 * np.pi, k, endpoint=False) - np.pi / 2
    c, s = np.cos(t), np.sin(t)
    c = np.where(np.abs(c) < 1e-12, 0.0, c)
    up = s > 0
    y = w * np.sign(c) * np.abs(c) ** np.where(up, 2 / n_top, 2 / n_bot)
    z = z_mid + np.where(up, h_top, h_bot) * np.sign(s) * np.abs(s) ** np.where(up, 2 / n_top, 2 / n_bot)
    return np.stack([y, z], axis=1)


def _section_half(d, x, arch, mh):
    """Right half (y >= 0) of the body's cross-section at station x: (mh + 1, 2) (y, z) points from the bottom
    centre to the top centre, resampled by arc length (upper part weighted denser)."""
    w, zb, zm, zt = (float(v[0]) for v in _lower(d, np.array([x]), np.array([arch])))
    poly = Polygon(_superellipse_ring(w, zm, zt - zm, zm - zb, d["n_top"], d["n_bot"]))
    a, z_b, hg = (float(v[0]) for v in _greenhouse(d, np.array([x])))
    if hg > 0.01:
        th = np.linspace(0, np.pi, 81)
        gh = _gh_point(d, np.full(th.shape, x), th)[:, 1:]
        gh = np.vstack([gh, [[-a, z_b - 0.03], [a, z_b - 0.03]]])
        poly = poly.union(Polygon(gh))
    if poly.geom_type != "Polygon" or len(poly.interiors):
        raise RuntimeError(f"car section at x = {x:.3f} m is not one simple polygon")
    ring = np.asarray(poly.exterior.coords)[:-1]
    on_axis = np.flatnonzero(np.abs(ring[:, 0]) < 1e-9)
    i0 = on_axis[np.argmin(ring[on_axis, 1])]
    i1 = on_axis[np.argmax(ring[on_axis, 1])]
    ring = np.roll(ring, -i0, axis=0)
    i1 = (i1 - i0) % len(ring)
    half = ring[: i1 + 1] if ring[1, 0] > 0 else np.vstack([ring[:1], ring[i1:][::-1]])
    if i1 == 0 or half[:, 0].min() < -1e-9:
        raise RuntimeError(f"car section at x = {x:.3f} m: cannot find its right half")
    # weighted arc length: the sill and underbody get fewer samples where the section is tall
    e = float(_closing(d, np.array([x]))[0][0])
    seg = np.linalg.norm(np.diff(half, axis=0), axis=1)
    mid_z = 0.5 * (half[1:, 1] + half[:-1, 1])
    wt = np.where(mid_z > zm + 0.02, 1.0, 1.0 - 0.6 * e)
    s = np.concatenate([[0.0], np.cumsum(seg * wt)])
    q = np.linspace(0, s[-1], mh + 1)
    out = np.stack([np.interp(q, s, half[:, 0]), np.interp(q, s, half[:, 1])], axis=1)
    out[0, 0] = out[-1, 0] = 0.0
    # keep the belt crease (the sharpest concave corner, where the greenhouse meets the shoulder) as a vertex:
    # a chord across it would bulge over the side windows' sills
    e_in, e_out = half[1:-1] - half[:-2], half[2:] - half[1:-1]
    turn = np.arctan2(e_in[:, 0] * e_out[:, 1] - e_in[:, 1] * e_out[:, 0], np.einsum("ij,ij->i", e_in, e_out))
    k = int(np.argmin(turn))  # the walk goes counter-clockwise (y out, then up), so concave turns are negative
    if turn[k] < -np.radians(20):
        j = 1 + int(np.argmin(np.abs(q[1:-1] - s[k + 1])))
        out[j] = half[k + 1]
    return out


def _silhouette(d, x):
    """Side silhouette at stations x (n,): (top, bottom) heights (m), the roofline over the greenhouse."""
    _w, zb, _zm, zt = _lower(d, x, np.zeros(len(x), bool))
    _a, gb, hg = _greenhouse(d, x)
    return np.maximum(zt, np.where(np.isfinite(hg), gb + hg, -np.inf)), zb


def _stations(d, n_base=46, n_arch=9) -> tuple[np.ndarray, np.ndarray]:
    """Station x positions (n,) from the rear to the front and their arch flags (n,) bool.

    ``n_base`` stations are spread evenly along the arc length of the side silhouette (its steeper line, top or
    bottom, at each x), so the noses, windscreen and tailgate get as many as their height needs; each wheel arch
    gets ``n_arch`` more (cosine spaced), and its two ends appear twice (outside, then inside the arch when going
    forward, and the reverse at its front end), making the arch's vertical walls."""
    L, Ra = d["L"], d["Ra"]
    xf = np.linspace(-L / 2, L / 2, 4001)
    top, bot = _silhouette(d, xf)
    step = np.maximum(np.abs(np.diff(top)), np.abs(np.diff(bot)))
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(xf), step))])
    base = np.interp(np.linspace(0, arc[-1], n_base), arc, xf)
    wheels = (d["x_wr"], d["x_wf"])
    xs = [(x, 0) for x in base if all(abs(x - xw) > Ra + 0.03 for xw in wheels)]
    for xw in wheels:
        inner = xw + Ra * np.sin(np.linspace(-np.pi / 2, np.pi / 2, n_arch + 2))
        xs += [(xw - Ra, -1)] + [(x, 1) for x in inner] + [(xw + Ra, 2)]
    xs.sort()  # at equal x: outside before inside at an arch's rear end (-1 < 1), inside before outside at its front
    return np.array([p[0] for p in xs]), np.array([p[1] == 1 for p in xs])


def _body(d, mh=28) -> trimesh.Trimesh:
    """Closed lofted body: rings at every station, both ends closed by a seam (the nose line)."""
    x, arch = _stations(d)
    n, m = len(x), 2 * mh
    rings = np.zeros((n, m, 3))
    for i in range(1, n - 1):
        half = _section_half(d, x[i], bool(arch[i]), mh)
        rings[i, : mh + 1, 1:] = half
        rings[i, mh + 1:, 1] = -half[1:mh][::-1, 0]
        rings[i, mh + 1:, 2] = half[1:mh][::-1, 1]
        rings[i, :, 0] = x[i]
    verts = [rings[1:-1].reshape(-1, 3)]
    idx = np.arange((n - 2) * m).reshape(n - 2, m)
    faces = []
    jj = np.arange(m)
    for i in range(n - 3):
        a, b = idx[i], idx[i + 1]
        faces += [np.stack([a[jj], b[(jj + 1) % m], a[(jj + 1) % m]], 1), np.stack([a[jj], b[jj], b[(jj + 1) % m]], 1)]
    count = (n - 2) * m
    for end, nb in ((0, idx[0]), (n - 1, idx[-1])):
        # seam: the neighbouring ring flattened onto the nose line; ring index j -> signed lateral rank
        ring = rings[1 if end == 0 else n - 2]
        w_end = float(_lower(d, np.array([x[end]]), np.array([False]))[0][0])
        zn = float(_closing(d, np.array([x[end]]))[1][0])
        k = np.arange(-mh // 2, mh // 2 + 1)
        right = ring[: mh + 1, 1]
        yk = np.array([0.5 * (right[abs(q)] + right[mh - abs(q)]) for q in k]) * np.sign(k)
        scale = w_end / max(float(np.abs(yk).max()), 1e-9)
        seam = np.stack([np.full(len(k), x[end]), yk * scale, np.full(len(k), zn)], 1)
        rank = np.where(jj <= mh, np.minimum(jj, mh - jj), -np.minimum(jj - mh, m - jj))
        sid = count + rank + mh // 2
        verts.append(seam)
        count += len(k)
        a, b = (sid, nb) if end == 0 else (nb, sid)  # the tube's pattern, the seam as the ring before or after
        faces += [np.stack([a[jj], b[(jj + 1) % m], a[(jj + 1) % m]], 1), np.stack([a[jj], b[jj], b[(jj + 1) % m]], 1)]
    return _outward(trimesh.Trimesh(np.vstack(verts), np.vstack(faces), process=False))


def _signed_volume(v, f) -> float:
    t = v[f]
    return float(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6.0)


def _outward(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The closed mesh with its faces wound outward (positive signed volume)."""
    if _signed_volume(mesh.vertices, mesh.faces) < 0:
        mesh = trimesh.Trimesh(mesh.vertices, mesh.faces[:, ::-1], process=False)
    return mesh


# ---------------------------------------------------------------------------------------------- slabs
def _grid_slab(P: np.ndarray, N: np.ndarray, out: float, inn: float) -> trimesh.Trimesh:
    """Closed slab over a (nu, nv, 3) surface grid P with unit normals N: the grid moved ``out`` along N (front),
    ``inn`` against it (back), joined along the grid's boundary."""
    nu, nv = P.shape[:2]
    front = (P + N * out).reshape(-1, 3)
    back = (P - N * inn).reshape(-1, 3)
    idx = np.arange(nu * nv).reshape(nu, nv)
    a, b, c, e = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    quads = [np.stack([a, b, c], 1), np.stack([a, c, e], 1)]
    f_front = np.vstack(quads)
    f_back = f_front[:, ::-1] + nu * nv
    border = np.concatenate([idx[:, 0], idx[-1, 1:], idx[-2::-1, -1], idx[0, -2:0:-1]])
    b0, b1 = border, np.roll(border, -1)
    walls = np.vstack([np.stack([b0, b1 + nu * nv, b1], 1), np.stack([b0, b0 + nu * nv, b1 + nu * nv], 1)])
    return _outward(trimesh.Trimesh(np.vstack([front, back]), np.vstack([f_front, f_back, walls]), process=False))


def _grid_normals(P: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Unit normals (nu, nv, 3) of a surface grid, oriented away from the points ``inside`` (nu, nv, 3)."""
    du = np.gradient(P, axis=0)
    dv = np.gradient(P, axis=1)
    N = np.cross(du, dv)
    N /= np.maximum(np.linalg.norm(N, axis=-1, keepdims=True), 1e-12)
    flip = np.einsum("...i,...i->...", N, P - inside) < 0
    return np.where(flip[..., None], -N, N)


def _glass(d) -> list[trimesh.Trimesh]:
    """Windscreen, rear window and side windows (both sides) as slabs on the greenhouse surface."""
    L = d["L"]
    xs = np.linspace(-L / 2, L / 2, 801)
    a, z_b, hg = _greenhouse(d, xs)
    w, _b, zm, zt = _lower(d, xs, np.zeros(xs.shape, bool))
    z_lo = _shoulder_height(w, zm, zt, d["n_top"], a) + 0.025  # sill of the side windows
    z_hi = z_b + hg - 0.075  # header: 7.5 cm under the roofline
    open_ = z_hi - z_lo > 0.015
    out = []
    if not open_.any():
        return out
    x_front = xs[open_].max()
    x_back = max(xs[open_].min(), -L / 2 + d["glass_end"] * L)

    def side(x0, x1, nu):
        u = np.linspace(0, 1, nu)
        x = x0 + u * (x1 - x0)
        lo = np.interp(x, xs, z_lo)
        hi = np.maximum(np.interp(x, xs, z_hi), lo + 0.005)
        t = np.linspace(0, 1, 5)
        z = lo[:, None] + t[None, :] * (hi - lo)[:, None]
        X = np.repeat(x[:, None], len(t), 1)
        P = _gh_point(d, X, _theta_at(d, X.ravel(), z.ravel()).reshape(X.shape))
        inside = P * [1, 0, 1] - [0, 0, 0.3]
        return P, inside

    # pillars between the side windows
    cuts = [x_back + f * (x_front - x_back) for f in d["pillars"]]
    bounds = [x_back] + [c for c in cuts for _ in (0, 1)] + [x_front]
    half_p = 0.045
    for k in range(0, len(bounds), 2):
        x0 = bounds[k] + (half_p if k > 0 else 0.0)
        x1 = bounds[k + 1] - (half_p if k + 2 < len(bounds) else 0.0)
        if x1 - x0 < 0.1:
            continue
        P, inside = side(x0, x1, max(4, int((x1 - x0) / 0.12)))
        for sgn in (1, -1):
            Q = P * [1, sgn, 1]
            out.append(_grid_slab(Q, _grid_normals(Q, inside), _GLASS_OFFSET, 0.004))
    # windscreen and rear window: across the top between the pillars, where the greenhouse stands clear of the
    # lower body; rows spread along the roofline's arc length (a tailgate's glass is nearly vertical)
    roof_z = np.where(np.isfinite(hg), z_b + hg, -np.inf)
    flat = roof_z > 0.985 * roof_z.max() - 0.01  # the roof
    x_rf, x_rr = xs[flat].max(), xs[flat].min()
    clear_top = np.isfinite(hg) & (hg > 0.05) & ((z_b + hg) - zt > 0.04)
    ok = np.isfinite(roof_z)
    arc = np.full(xs.shape, np.nan)
    arc[ok] = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(xs[ok]), np.diff(roof_z[ok])))])
    spans = []
    if (clear_top & (xs < x_rr)).any():
        spans.append((np.interp(xs[clear_top & (xs < x_rr)].min(), xs[ok], arc[ok]) + 0.02,
                      np.interp(x_rr, xs[ok], arc[ok]) - 0.07))
    if (clear_top & (xs > x_rf)).any():
        spans.append((np.interp(x_rf, xs[ok], arc[ok]) + 0.07,
                      np.interp(xs[clear_top & (xs > x_rf)].max(), xs[ok], arc[ok]) - 0.02))
    th_a = 1.02  # section parameter of the pillars' inner edges
    for s0, s1 in spans:
        if s1 - s0 < 0.1:
            continue
        x = np.interp(np.linspace(s0, s1, max(4, int((s1 - s0) / 0.1))), arc[ok], xs[ok])
        th = np.linspace(th_a, np.pi - th_a, 11)
        X, T = np.meshgrid(x, th, indexing="ij")
        P = _gh_point(d, X, T)
        zb2 = _greenhouse(d, X.ravel())[1].reshape(X.shape)
        inside = np.stack([X, np.zeros_like(X), zb2 - 0.3], -1)
        out.append(_grid_slab(P, _grid_normals(P, inside), _GLASS_OFFSET, 0.004))
    return out


def _first_hits(tris: np.ndarray, origins: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Distance along ``direction`` from each origin (n, 3) to the first triangle of ``tris`` (k, 3, 3) it meets
    (Moller and Trumbore, 1997); inf where it meets none."""
    e1, e2 = tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]
    p = np.cross(direction, e2)
    det = np.einsum("ij,ij->i", e1, p)
    ok = np.abs(det) > 1e-14
    e1, e2, p, det, v0 = e1[ok], e2[ok], p[ok], det[ok], tris[ok, 0]
    out = np.full(len(origins), np.inf)
    for i0 in range(0, len(origins), 64):
        o = origins[i0:i0 + 64]
        s = o[:, None, :] - v0[None]
        uu = np.einsum("nkj,kj->nk", s, p) / det
        q = np.cross(s, e1[None])
        vv = (q @ direction) / det
        t = np.einsum("nkj,kj->nk", q, e2) / det
        hit = (uu >= -1e-9) & (vv >= -1e-9) & (uu + vv <= 1 + 1e-9) & (t > 0)
        out[i0:i0 + 64] = np.where(hit, t, np.inf).min(axis=1)
    return out


def _decal(body: trimesh.Trimesh, centre, half, direction, exp=4.0, skew=0.0, out=0.006, inn=0.012):
    """A slab laid on ``body`` where the rays along ``direction`` (3,) from the superellipse outline of half sizes
    ``half`` = (along y, along z) around ``centre`` (3,) meet it (the outline lies in the plane normal to x).
    ``skew`` shears the outline (its top moves by skew x its height along y). Where a ray misses the body, or
    the hits spread over more than 25 cm along the rays (a ray grazing past a shoulder), the outline shrinks (to
    85 %, 70 %, 55 %); None when even that fails."""
    for shrink in (1.0, 0.85, 0.7, 0.55):
        m = _decal_once(body, centre, (half[0] * shrink, half[1] * shrink), direction, exp, skew, out, inn)
        if m is not None:
            return m
    return None


def _decal_once(body, centre, half, direction, exp, skew, out, inn):
    direction = np.asarray(direction, dtype=np.float64)
    centre = np.asarray(centre, dtype=np.float64)
    rings, q = 3, 20
    t = np.linspace(0, 2 * np.pi, q, endpoint=False)
    cy, sz = np.cos(t), np.sin(t)
    Y = np.sign(cy) * np.abs(cy) ** (2 / exp)
    Z = np.sign(sz) * np.abs(sz) ** (2 / exp)
    r = np.linspace(0, 1, rings + 1)[1:]
    yy = (r[:, None] * Y[None]) * half[0] + (r[:, None] * Z[None]) * half[1] * skew
    zz = (r[:, None] * Z[None]) * half[1]
    pts = np.vstack([[0.0, 0.0], np.stack([yy.ravel(), zz.ravel()], 1)])
    origins = np.stack([np.full(len(pts), centre[0]), centre[1] + pts[:, 0], centre[2] + pts[:, 1]], 1)
    origins -= direction * 3.0
    tris = body.vertices[body.faces]
    lo = origins[:, 1:].min(axis=0) - 0.05
    hi = origins[:, 1:].max(axis=0) + 0.05
    near = np.all((tris[:, :, 1:].max(axis=1) >= lo) & (tris[:, :, 1:].min(axis=1) <= hi), axis=1)
    dist = _first_hits(tris[near], origins, direction)
    if not np.all(np.isfinite(dist)) or np.ptp(dist) > 0.25:  # a miss, or a ray grazing past a shoulder
        return None
    hits = origins + direction * dist[:, None]
    front = hits - direction * out
    back = hits + direction * inn
    npts = len(pts)
    idx = np.arange(1, npts).reshape(rings, q)
    faces = [np.stack([np.zeros(q, int), idx[0], np.roll(idx[0], -1)], 1)]
    for k in range(rings - 1):
        a, b = idx[k], idx[k + 1]
        faces += [np.stack([a, b, np.roll(b, -1)], 1), np.stack([a, np.roll(b, -1), np.roll(a, -1)], 1)]
    f = np.vstack(faces)
    rim = idx[-1]
    nxt = np.roll(rim, -1)
    walls = np.vstack([np.stack([nxt, rim, rim + npts], 1), np.stack([nxt, rim + npts, nxt + npts], 1)])
    return _outward(trimesh.Trimesh(np.vstack([front, back]), np.vstack([f, f[:, ::-1] + npts, walls]), process=False))


# ---------------------------------------------------------------------------------------------- wheels
def _revolve(profile: np.ndarray, sections: int = 32) -> trimesh.Trimesh:
    """Closed surface of revolution about the y axis of a closed profile (k, 2) of (radius, y) points; section 0
    points straight down (-z), so profile points of the largest radius give the lowest vertices exactly."""
    k = len(profile)
    a = 2 * np.pi * np.arange(sections) / sections
    r, y = profile[:, 0], profile[:, 1]
    v = np.stack([np.outer(np.sin(a), r), np.broadcast_to(y, (sections, k)), -np.outer(np.cos(a), r)], -1)
    idx = np.arange(sections * k).reshape(sections, k)
    i, j = np.meshgrid(np.arange(sections), np.arange(k), indexing="ij")
    p00, p10 = idx[i, j], idx[(i + 1) % sections, j]
    p01, p11 = idx[i, (j + 1) % k], idx[(i + 1) % sections, (j + 1) % k]
    p00, p10, p01, p11 = p00.ravel(), p10.ravel(), p01.ravel(), p11.ravel()
    f = np.vstack([np.stack([p00, p10, p11], 1), np.stack([p00, p11, p01], 1)])
    return _outward(trimesh.Trimesh(v.reshape(-1, 3), f, process=False))


def _wheel(d) -> list[tuple[trimesh.Trimesh, int]]:
    """One left wheel (outer face towards +y) centred on the origin: [(mesh, part)]."""
    R, tw = d["R"], d["tyre_w"]
    rr = d["rim_frac"] * R
    hw = tw / 2
    # tyre: flat tread at radius R, rounded shoulders, sidewalls bulging a little, bead at the rim
    q = np.linspace(0, np.pi / 2, 4)
    sh = 0.035
    right = np.stack([R - sh + sh * np.cos(q), hw - sh + sh * np.sin(q)], 1)  # tread edge -> sidewall top
    side = np.stack([np.linspace(R - sh, rr, 4)[1:], hw + 0.01 * np.sin(np.linspace(0, np.pi, 5)[1:-1])], 1)
    prof = np.vstack([right, side, [[rr, hw - 0.01]], [[rr, -hw + 0.01]], side[::-1] * [1, -1],
                      right[::-1] * [1, -1]])
    tyre = _revolve(prof, 28)
    parts = [(tyre, _TYRE)]
    # rim: lip ring, recessed dark dish, hub, spokes
    lip = _revolve(np.array([[rr - 0.02, hw - 0.006], [rr + 0.004, hw - 0.002], [rr + 0.004, -hw + 0.02],
                             [rr - 0.02, -hw + 0.02]]), 30)
    face = hw - 0.035
    dish = _revolve(np.array([[0.03, face], [rr - 0.015, face], [rr - 0.015, face - 0.04], [0.03, face - 0.04]]), 20)
    hub = _revolve(np.array([[1e-4, face + 0.012], [0.055, face + 0.012], [0.06, face - 0.01],
                             [1e-4, face - 0.01]]), 12)
    parts += [(lip, _RIM), (dish, _TRIM), (hub, _RIM)]
    n = d["spokes"]
    for k in range(n):
        ang = 2 * np.pi * k / n
        spoke = trimesh.creation.box(extents=[0.04, 0.022, rr - 0.05])
        spoke.apply_translation([0, face + 0.005, (rr + 0.03) / 2])
        spoke.apply_transform(trimesh.transformations.rotation_matrix(ang, [0, 1, 0]))
        parts.append((spoke, _RIM))
    return parts


def _mirror_y(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    return trimesh.Trimesh(mesh.vertices * [1, -1, 1], mesh.faces[:, ::-1], process=False)


def _liner(d, xw: float, y: float) -> trimesh.Trimesh:
    """Dark plate closing a wheel arch inside (x-z region under the arch, 2 cm thick at lateral offset y)."""
    Ra, R = d["Ra"], d["R"]
    a = np.linspace(0, np.pi, 25)
    top = np.stack([xw + Ra * np.cos(a), R + Ra * np.sin(a)], 1)
    poly = np.vstack([top, [[xw - Ra, d["clear"] + 0.01], [xw + Ra, d["clear"] + 0.01]]])
    m = trimesh.creation.extrude_polygon(Polygon(poly).buffer(0), height=0.02)
    v = m.vertices
    m = trimesh.Trimesh(np.stack([v[:, 0], y + 0.01 - v[:, 2], v[:, 1]], 1), m.faces, process=False)
    return _outward(m)


# ---------------------------------------------------------------------------------------------- car
def make_car(rng: np.random.Generator, kind: str | None = None, length: float | None = None,
             width: float | None = None, height: float | None = None) -> Car:
    """Generate one car.

    Parameters
    ----------
    rng : numpy.random.Generator
        Every shape draw comes from it (no paint: see :func:`sample_paint`).
    kind : str or None
        One of :data:`KINDS`; drawn uniformly when None.
    length, width, height : float or None
        Bounding-box size (m; the width includes the door mirrors); drawn uniformly within the kind's
        ranges (``_SIZE``) when None. Sizes far outside those ranges give odd proportions.

    Returns
    -------
    Car
        The mesh in the car frame (module docstring), exactly ``length x width x height``, with its parts.

    Raises
    ------
    ValueError
        For an unknown kind or a non-positive size.
    """
    kind = kind if kind is not None else KINDS[int(rng.integers(len(KINDS)))]
    if kind not in _SIZE:
        raise ValueError(f"unknown car kind {kind!r}; known: {KINDS}")
    (l0, l1), (w0, w1), (h0, h1) = _SIZE[kind]
    draws = rng.uniform([l0, w0, h0], [l1, w1, h1])
    L = float(length) if length is not None else float(draws[0])
    W = float(width) if width is not None else float(draws[1])
    H = float(height) if height is not None else float(draws[2])
    if min(L, W, H) <= 0:
        raise ValueError(f"car size must be positive, got {L} x {W} x {H} m")
    d = _design(rng, kind, L, W, H)
    body = _body(d)
    pieces: list[tuple[trimesh.Trimesh, int]] = [(body, _B)]
    pieces += [(g, _GLASS) for g in _glass(d)]
    # wheels, wheel-well liners
    for xw in (d["x_wf"], d["x_wr"]):
        for sgn in (1, -1):
            for m, part in _wheel(d):
                m = m.copy()
                m.apply_translation([xw, d["y_wheel"], d["R"]])
                pieces.append((m if sgn > 0 else _mirror_y(m), part))
            liner = _liner(d, xw, d["y_wheel"] - d["tyre_w"] / 2 - 0.03)
            pieces.append((liner if sgn > 0 else _mirror_y(liner), _TRIM))
    pieces += _decals(d, body)
    pieces += _mirrors(d)
    return _assemble(d, pieces)


def _decals(d, body) -> list[tuple[trimesh.Trimesh, int]]:
    """Lamps, grille, intakes and number plates laid on the body's front and rear."""
    L, Wb, H = d["L"], d["Wb"], d["H"]
    u = np.array([0.985, 0.015])
    top_f, top_r = d["top"](u) * H
    fwd, back = np.array([-1.0, 0, 0]), np.array([1.0, 0, 0])
    out = []
    # headlamps just under the bonnet's leading edge, slanting inwards
    # (each on a dark bezel, so that lamps read on white paint too)
    hl_w, hl_h = 0.17 + 0.04 * d["lamp"], 0.045 + 0.015 * d["lamp"]
    for sgn in (1, -1):
        c = [L / 2, sgn * (Wb / 2 - 0.1 - hl_w), top_f - 0.085]
        bezel = _decal(body, c, (hl_w + 0.02, hl_h + 0.015), fwd, exp=4.0, skew=-0.6 * sgn, out=0.003)
        lamp = _decal(body, c, (hl_w, hl_h), fwd, exp=4.0, skew=-0.6 * sgn)
        if bezel is not None and lamp is not None:
            out += [(bezel, _TRIM), (lamp, _LF)]
    # tail lamps: wide ones under the boot lid, or tall ones up the rear corners
    for sgn in (1, -1):
        if d["tail"] == "wide":
            c, half = [-L / 2, sgn * (Wb / 2 - 0.25), top_r - 0.1], (0.19, 0.055)
        else:
            c, half = [-L / 2, sgn * (Wb / 2 - 0.16), top_r - 0.08], (0.07, 0.12)
        m = _decal(body, c, half, back, exp=5.0)
        if m is not None:
            out.append((m, _LR))
    nf, nr = d["nose_f"], d["nose_r"]
    specs = [
        ([L / 2, 0, top_f - 0.1], (0.3 + 0.05 * d["lamp"], 0.06), fwd, _TRIM),  # grille
        ([L / 2, 0, 0.5 * (nf + d["clear"] + 0.09)], (0.45, 0.045), fwd, _TRIM),  # lower intake
        ([L / 2, 0, nf + 0.005], (0.26, 0.055), fwd, _PLATE),
        ([-L / 2, 0, 0.5 * (nr + top_r) - 0.02], (0.26, 0.055), back, _PLATE),
        ([-L / 2, 0, d["clear"] + 0.12], (0.5, 0.04), back, _TRIM),  # rear valance
    ]
    for c, half, direction, part in specs:
        m = _decal(body, c, half, direction, exp=6.0)
        if m is not None:
            out.append((m, part))
    return out


def _mirrors(d) -> list[tuple[trimesh.Trimesh, int]]:
    """Door mirrors at the A pillars' feet; their outer faces are the car's widest points (y = +-W/2)."""
    xs = np.linspace(-d["L"] / 2, d["L"] / 2, 801)
    a, z_b, hg = _greenhouse(d, xs)
    w, _b, zm, zt = _lower(d, xs, np.zeros(xs.shape, bool))
    z_lo = _shoulder_height(w, zm, zt, d["n_top"], a) + 0.025
    open_ = (z_b + hg - 0.075) - z_lo > 0.015
    xm = xs[open_].max() - 0.06 if open_.any() else d["x_wf"] - d["Ra"]
    i = int(np.argmin(np.abs(xs - xm)))
    y_in = a[i] - 0.03
    out = []
    for sgn in (1, -1):
        box = trimesh.creation.box(extents=[0.1, d["W"] / 2 - y_in, 0.11])
        box.apply_translation([xm, sgn * (y_in + d["W"] / 2) / 2, z_lo[i] + 0.07])
        out.append((box, _TRIM))
    return out


def _assemble(d, pieces) -> Car:
    verts, faces, parts, off = [], [], [], 0
    for m, part in pieces:
        verts.append(np.asarray(m.vertices, np.float64))
        faces.append(np.asarray(m.faces, np.int64) + off)
        parts.append(np.full(len(m.faces), part, np.int64))
        off += len(m.vertices)
    V, F, P = np.vstack(verts), np.vstack(faces), np.concatenate(parts)
    # exact box: centre in x and y, bottom at z = 0 (the tyres' treads), extents L x W x H
    lo, hi = V.min(axis=0), V.max(axis=0)
    target = np.array([d["L"], d["W"], d["H"]])
    V = (V - [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]]) * (target / (hi - lo))
    looks = part_looks()
    vpart = np.zeros(len(V), np.int64)
    vpart[F.ravel()] = np.repeat(P, 3)
    colors = np.array([np.round(lk.base_color * 255) for lk in looks], np.uint8)[vpart]
    mesh = trimesh.Trimesh(V, F, vertex_colors=colors, process=False)
    return Car(mesh=mesh, face_parts=P, parts=looks, kind=d["kind"], length=float(target[0]),
               width=float(target[1]), height=float(target[2]))


# ---------------------------------------------------------------------------------------------- paint
#: Global shares of car colours, Axalta "Global Automotive Color Popularity Report" 2022 (70th edition,
#: press release of 15 December 2022): white 34 % (pearl 14 %, solid 20 %), black 21 %, grey 19 %,
#: blue 8 %, red 5 %, green 1 %; white + black + grey + silver = 82 %, so silver 8 %. The remaining 4 %
#: (not broken down in the release) are split here, as our assumption, into beige/brown 2 %, yellow/gold 1 %,
#: orange 1 %.
#: Columns: name, share, sRGB base colours (one drawn uniformly, then jittered), share of metallic finishes.
PAINT_TABLE = (
    ("white_solid", 0.20, ((0.93, 0.93, 0.91), (0.95, 0.95, 0.95)), 0.0),
    ("white_pearl", 0.14, ((0.90, 0.90, 0.86), (0.92, 0.91, 0.88)), 1.0),
    ("black", 0.21, ((0.025, 0.025, 0.03), (0.04, 0.04, 0.045)), 0.6),
    ("grey", 0.19, ((0.22, 0.23, 0.25), (0.35, 0.36, 0.38), (0.48, 0.49, 0.5)), 0.8),
    ("silver", 0.08, ((0.66, 0.67, 0.69), (0.75, 0.76, 0.78)), 1.0),
    ("blue", 0.08, ((0.04, 0.09, 0.30), (0.10, 0.22, 0.50), (0.25, 0.40, 0.62)), 0.6),
    ("red", 0.05, ((0.55, 0.03, 0.04), (0.70, 0.06, 0.06), (0.42, 0.02, 0.05)), 0.4),
    ("green", 0.01, ((0.08, 0.24, 0.14), (0.25, 0.38, 0.22)), 0.5),
    ("beige_brown", 0.02, ((0.42, 0.30, 0.20), (0.70, 0.63, 0.52)), 0.6),
    ("yellow_gold", 0.01, ((0.86, 0.70, 0.12), (0.72, 0.60, 0.35)), 0.5),
    ("orange", 0.01, ((0.88, 0.38, 0.06),), 0.4),
)


_PAINT_CDF = np.cumsum([row[1] for row in PAINT_TABLE])


def draw_paint(rng: np.random.Generator):
    """Draw one car paint from the real-world colour distribution :data:`PAINT_TABLE`.

    The family is drawn by its share; its colour is one of its base colours with each sRGB channel jittered by
    up to +-0.03 (clipped to [0, 1]). Metallic finishes (the family's metallic share) get ``metallic`` uniform in
    [0.4, 0.8], solid ones [0, 0.1]; ``roughness`` is uniform in [0.2, 0.4] (a clear coat).

    Parameters
    ----------
    rng : numpy.random.Generator
        An appearance stream (the draw never changes geometry).

    Returns
    -------
    family : str
        The family's name (first column of :data:`PAINT_TABLE`).
    material : gtforge.core.description.Material
        ``mode='color'``, ``base_color`` (4,) float64 RGBA with alpha 1.
    """
    k = int(np.searchsorted(_PAINT_CDF, rng.random() * _PAINT_CDF[-1], side="right"))
    name, _share, colours, metallic_share = PAINT_TABLE[k]
    base = np.asarray(colours[int(rng.integers(len(colours)))], np.float64)
    rgb = np.clip(base + rng.uniform(-0.03, 0.03, 3), 0.0, 1.0)
    metallic = float(rng.uniform(0.4, 0.8)) if rng.random() < metallic_share else float(rng.uniform(0.0, 0.1))
    return name, Material(mode="color", base_color=np.append(rgb, 1.0), metallic=metallic,
                          roughness=float(rng.uniform(0.2, 0.4)))


def sample_paint(rng: np.random.Generator):
    """One car paint, a ``color``-mode :class:`~gtforge.core.description.Material` (:func:`draw_paint`)."""
    return draw_paint(rng)[1]
