"""Depth-sensor simulation: a noisy, hole-punched copy of an exact depth map (numpy, SciPy; no GL).

The exact depth map (``depth/``) is never changed: :func:`simulate_depth` returns a new float32 array, the
``depth_noisy/`` layer. :func:`sample_depth_sensor` draws one frame's parameters from the recipe section
(``config/depth_sensor.py``) into a frozen :class:`DepthSensorParams` (every value used, JSON via
:meth:`DepthSensorParams.to_json`); :func:`simulate_depth` is a pure function of the depth map, the intrinsics and
those parameters (its random draws come from a generator seeded by ``params.seed``). :func:`noise_std` is each
model's axial noise curve. Depth is z in the OpenCV camera frame, metres, 0 = no surface / invalid
(docs/conventions.md).

Models (formulas and defaults; docs/conventions.md, "Depth sensors", has the curves):

``kinect_v1`` -- structured light (PrimeSense / Kinect v1). Depth comes from the disparity d = f b / z between the IR
camera and the projector (b = 7.5 cm, f = 580 px for the 640x480 IR camera, disparity in steps of 1/8 px: Konolige &
Mihelich, "Technical description of Kinect calibration", ROS wiki ``kinect_calibration/technical``; Khoshelham &
Oude Elberink 2012, "Accuracy and resolution of Kinect depth data for indoor mapping applications", Sensors 12(2):
depth from a measured disparity, so its random error grows with z^2 (sigma_z = (m / f) z^2 sigma_d) and so does the
spacing of its depth levels, about 7 cm at 5 m, which is z^2 q / (f b) for q = 1/8 px).
The axial noise curve is Nguyen, Izadi & Lovell 2012 ("Modeling Kinect sensor noise for improved 3D reconstruction
and tracking", 3DIMPVT), fitted on planes::

    sigma_z(z, theta) = 0.0012 + 0.0019 (z - 0.4)^2                                     (m; theta <= 60 deg)
                      + 0.0001 / sqrt(z) * theta^2 / (pi/2 - theta)^2                    (theta > 60 deg)

and their lateral noise, 0.8 px. As in the ICL-NUIM simulator (Handa, Whelan, McDonald & Davison 2014, "A benchmark
for RGB-D visual odometry, 3D reconstruction and SLAM", ICRA; code ``ankurhanda/simkinect``, after Barron & Malik
2013), the noise is applied in the disparity domain and the disparity is rounded to the 1/8 px step before depth is
computed back: d' = round((d + n) / q) q, z' = f b / d'. Nguyen's curve was measured on the sensor's output, which
already contains the rounding, so n ~ N(0, s^2) with s^2 = (sigma_z f b / z^2)^2 - q^2 / 12 (the rounding adds about
q^2 / 12 when s is not much below q), which makes the output's standard deviation Nguyen's curve within a few per cent
(tests/render/test_depth_sensor.py computes the exact value). Lateral noise: each pixel reads the depth of a pixel
displaced by N(0, 0.8 px of the sensor) in u and v (nearest pixel; ragged edges, no mixed depths). Invalid: projector
shadows (surfaces the projector, b to the side, cannot light), z outside [min_range, max_range] (0.5-5 m), incidence
angles beyond max_incidence_deg (80 deg; Nguyen's angle term diverges towards 90 deg).

``tof`` -- amplitude-modulated continuous-wave time of flight (Azure Kinect-like). Axial noise::

    sigma(z, theta, rho) = sigma_0 + sigma_1 z / sqrt(rho cos theta)                    (m)

(shot-noise-limited phase noise falls as 1 / sqrt(amplitude), Lange & Seitz 2001, "Solid-state time-of-flight range
camera", IEEE J. Quantum Electron. 37(3); the amplitude of a Lambertian return falls as rho cos theta / z^2); defaults
sigma_0 = sigma_1 = 0.5 mm (1 mm at 1 m, 2 mm at 3 m: the millimetre-level precision Tölgyessy, Dekan, Chovanec &
Hubinský 2021 measured, "Evaluation of the Azure Kinect and its comparison to Kinect V1 and Kinect V2", Sensors 21(2),
within the specification's random error sigma <= 17 mm). Flying pixels: a pixel whose footprint straddles a depth
edge receives light from both surfaces and reports a distance between them (pmdtechnologies, "Flying pixel" FAQ;
Tölgyessy et al. 2021 measure it on the Azure Kinect); pixels within ``flying_band_px`` of a jump between two
surfaces take, with probability ``flying_pixel_prob``, z_own + a (z_other - z_own), a ~ U(0, 1), z_other the other
surface's depth (the farthest depth within ``flying_band_px`` pixels for a near pixel, the nearest for a far one):
a depth along the pixel's own ray between the two surfaces. Invalid: z < min_range (0.5 m), low return
z^2 / (rho cos theta) > max_range^2 (max_range = 3.86 m, the Azure Kinect's NFOV unbinned operating range, is the
range of a frontal surface of reference reflectance rho = 1), incidence angle > max_incidence_deg (80 deg: the
return has fallen to cos 80 = 17 % of the frontal one; the Azure Kinect invalidates pixels whose return is too weak,
Microsoft "Azure Kinect DK depth camera", Invalidation).

``active_stereo`` -- RealSense D4xx-like active stereo (Grunnet-Jepsen, Sweetser & Woodfill, "Tuning depth cameras
for best performance", Intel white paper). The image's camera is the left imager; the disparity d = fx b / z
(fx from the view's K, b = 50 mm for the D435) gets Gaussian noise of ``subpixel`` = 0.08 px RMS, so::

    RMS depth error = z^2 subpixel / (fx b)                                             (m)

Invalid: pixels the second imager cannot see -- behind a nearer surface (the depth warped to the second imager by
the baseline, left-right consistency: a band of about fx b (1/z_near - 1/z_far) px beside each near object, on the
side away from the second imager) or outside its image (a band of fx b / z px at the image border away from it:
the left border for a second imager to the right);
z < MinZ = fx b / 126 (the D4's disparity search range); z > max_range (10 m).

Not modelled: multipath interference, IR speckle and texture holes, temporal correlation between frames, the
sensor's own lens distortion and resolution (each model works on the rendered image's pixel grid), systematic
(bias) errors, and distance (not z) dependence of the returns.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy import ndimage

from ..config.depth_sensor import DepthSensorConfig
from ..core.rng import uniform

#: Sensor models (``config.depth_sensor.MODELS``).
MODELS = ("kinect_v1", "tof", "active_stereo")

#: Nguyen et al. 2012 add their angle term beyond this incidence angle (radians).
NGUYEN_ANGLE_FROM = math.radians(60.0)

#: Relative depth jump (|z1 - z2| > EDGE_JUMP min(z1, z2)) between neighbours that counts as an occluding edge for
#: the stereo / projector visibility test (a smooth surface that steep is treated as two surfaces there).
EDGE_JUMP = 0.03


# ---------------------------------------------------------------- parameters
@dataclass(frozen=True)
class KinectV1Params:
    """One frame's Kinect v1 parameters (``config.depth_sensor.KinectV1Config``; metres, pixels, degrees)."""

    noise_scale: float
    axial_a: float
    axial_b: float
    axial_z0: float
    axial_angle: float
    focal_px: float
    baseline: float
    disparity_step: float
    lateral_px: float
    shadows: bool
    projector_side: str
    min_range: float
    max_range: float
    max_incidence_deg: float


@dataclass(frozen=True)
class TofParams:
    """One frame's time-of-flight parameters (``config.depth_sensor.TofConfig``)."""

    sigma_0: float
    sigma_1: float
    min_range: float
    max_range: float
    max_incidence_deg: float
    flying_pixel_prob: float
    flying_band_px: int
    edge_jump: float


@dataclass(frozen=True)
class ActiveStereoParams:
    """One frame's active-stereo parameters (``config.depth_sensor.ActiveStereoConfig``)."""

    baseline: float
    subpixel: float
    max_disparity: float
    max_range: float
    second_camera: str


_SETTINGS = {"kinect_v1": KinectV1Params, "tof": TofParams, "active_stereo": ActiveStereoParams}


@dataclass(frozen=True)
class DepthSensorParams:
    """Every value one frame's depth-sensor simulation uses.

    Attributes
    ----------
    model : 'kinect_v1', 'tof' or 'active_stereo'
    seed : int
        Seeds the generator of :func:`simulate_depth`'s random draws (>= 0).
    settings : KinectV1Params, TofParams or ActiveStereoParams
        The model's parameters (the recipe's values, per-frame ranges drawn).
    """

    model: str
    seed: int
    settings: KinectV1Params | TofParams | ActiveStereoParams

    def __post_init__(self):
        if self.model not in _SETTINGS:
            raise ValueError(f"unknown depth sensor model {self.model!r}; known: {', '.join(MODELS)}")
        if not isinstance(self.settings, _SETTINGS[self.model]):
            raise ValueError(f"settings of model {self.model!r} must be {_SETTINGS[self.model].__name__}")

    def to_json(self) -> dict:
        """Flat plain-JSON dict: ``model``, ``seed`` and the settings' fields (floats, ints, bools, strings);
        :meth:`from_json` reads it back."""
        return {"model": self.model, "seed": int(self.seed), **asdict(self.settings)}

    @classmethod
    def from_json(cls, d: dict) -> "DepthSensorParams":
        """Inverse of :meth:`to_json`. Raises ValueError for an unknown model, KeyError for a missing field."""
        model = d["model"]
        if model not in _SETTINGS:
            raise ValueError(f"unknown depth sensor model {model!r}; known: {', '.join(MODELS)}")
        kind = _SETTINGS[model]
        return cls(model=model, seed=int(d["seed"]), settings=kind(**{f.name: d[f.name] for f in fields(kind)}))


def _settings_from_section(model: str, section, draw) -> KinectV1Params | TofParams | ActiveStereoParams:
    """The model's settings from its recipe sub-section; ``draw(Range) -> float`` gives each ranged field's value, in
    the section's field order."""
    values = {}
    for name in type(section).model_fields:
        v = getattr(section, name)
        values[name] = draw(v) if hasattr(v, "min") and hasattr(v, "max") else v
    return _SETTINGS[model](**values)


def sample_depth_sensor(cfg, rng: np.random.Generator) -> DepthSensorParams:
    """Draw one frame's depth-sensor parameters.

    Parameters
    ----------
    cfg : config.depth_sensor.DepthSensorConfig
    rng : numpy.random.Generator
        The frame's generator (the caller derives it with ``core.rng.scene_rng``). One integer (the seed) is drawn,
        then one uniform value per ranged field of the model's section, in field order, whether or not the range is
        a single value (so widening one range never moves another's draw).

    Returns
    -------
    DepthSensorParams
    """
    seed = int(rng.integers(0, 2**63))
    section = cfg.settings()
    settings = _settings_from_section(cfg.model, section, lambda r: float(uniform(rng, r.min, r.max)))
    return DepthSensorParams(model=cfg.model, seed=seed, settings=settings)


def default_params(model: str, seed: int = 0) -> DepthSensorParams:
    """The recipe defaults of ``model`` (ranges at their midpoints) with ``seed``. Raises ValueError for an unknown
    model."""
    if model not in _SETTINGS:
        raise ValueError(f"unknown depth sensor model {model!r}; known: {', '.join(MODELS)}")
    section = DepthSensorConfig(model=model).settings()
    settings = _settings_from_section(model, section, lambda r: 0.5 * (r.min + r.max))
    return DepthSensorParams(model=model, seed=int(seed), settings=settings)


# ---------------------------------------------------------------- noise curves
def nguyen_axial_std(z, theta, a=0.0012, b=0.0019, z0=0.4, c=0.0001) -> np.ndarray:
    """Kinect v1 axial noise standard deviation (m), Nguyen, Izadi & Lovell 2012 (3DIMPVT), eq. of their Section 3.

    sigma = a + b (z - z0)^2, plus c / sqrt(z) * theta^2 / (pi/2 - theta)^2 for theta > 60 deg.

    Parameters
    ----------
    z : array_like float
        Depth, metres (> 0).
    theta : array_like float
        Incidence angle between the surface normal and the viewing ray, radians in [0, pi/2).
    """
    z = np.asarray(z, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    base = a + b * (z - z0) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        extra = c / np.sqrt(z) * theta**2 / (0.5 * np.pi - theta) ** 2
    return base + np.where(theta > NGUYEN_ANGLE_FROM, extra, 0.0)


def noise_std(model, z, theta=0.0, *, fx: float | None = None, reflectance=1.0) -> np.ndarray:
    """A model's axial noise standard deviation as a function of depth (and incidence angle).

    Parameters
    ----------
    model : str or DepthSensorParams
        A model name (its recipe defaults, :func:`default_params`) or one frame's parameters.
    z : array_like float
        Depth z, metres (> 0).
    theta : array_like float
        Incidence angle (surface normal vs viewing ray), radians; used by ``kinect_v1`` (beyond 60 deg) and ``tof``.
    fx : float
        The image's focal length in pixels; required for ``active_stereo`` (its disparity is in image pixels).
    reflectance : array_like float
        ``tof`` only: reflectance relative to the reference surface (1).

    Returns
    -------
    (broadcast shape) float64, metres. ``kinect_v1``: Nguyen et al.'s curve times ``noise_scale``, the standard
    deviation of the simulated output (the 1/8 px rounding included; see the module docstring). ``tof``:
    sigma_0 + sigma_1 z / sqrt(rho cos theta). ``active_stereo``: z^2 subpixel / (fx baseline) (first order in
    subpixel / disparity).

    Raises
    ------
    ValueError
        For an unknown model, or ``active_stereo`` without ``fx``.
    """
    p = default_params(model) if isinstance(model, str) else model
    s = p.settings
    z = np.asarray(z, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if p.model == "kinect_v1":
        return s.noise_scale * nguyen_axial_std(z, theta, s.axial_a, s.axial_b, s.axial_z0, s.axial_angle)
    if p.model == "tof":
        rho = np.asarray(reflectance, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return s.sigma_0 + s.sigma_1 * z / np.sqrt(rho * np.cos(theta))
    if fx is None:
        raise ValueError("active_stereo: noise_std needs fx (the image's focal length in pixels)")
    return z**2 * s.subpixel / (float(fx) * s.baseline)


# ---------------------------------------------------------------- geometry helpers
def _slope(w: np.ndarray, z: np.ndarray, valid: np.ndarray, axis: int) -> np.ndarray:
    """One-sided difference of ``w`` along ``axis`` (1: u, 0: v) towards the neighbour whose depth is closer
    (forward where tied); NaN where neither neighbour has a surface."""
    n = z.shape[axis]
    a = [slice(None)] * 2
    b = [slice(None)] * 2
    a[axis], b[axis] = slice(0, n - 1), slice(1, n)
    a, b = tuple(a), tuple(b)
    ok = valid[a] & valid[b]
    dz = np.where(ok, np.abs(z[b] - z[a]), np.inf)
    dw = np.where(ok, w[b] - w[a], np.nan)
    pad_shape = list(z.shape)
    pad_shape[axis] = 1
    inf, nan = np.full(pad_shape, np.inf), np.full(pad_shape, np.nan)
    dz_f, dz_b = np.concatenate([dz, inf], axis=axis), np.concatenate([inf, dz], axis=axis)
    dw_f, dw_b = np.concatenate([dw, nan], axis=axis), np.concatenate([nan, dw], axis=axis)
    return np.where(dz_f <= dz_b, dw_f, dw_b)


def incidence_angle(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Angle between the surface normal and the viewing ray at every pixel, from the depth map alone.

    With w = 1 / z (affine in the pixel coordinates on a plane) and its one-sided differences w_u, w_v (each towards
    the neighbour with the closer depth, so a pixel beside a depth edge uses its own surface), the normal of the
    back-projected surface P = z (x, y, 1), x = (u - cx) / fx, y = (v - cy) / fy, is parallel to
    n = (fx w_u, fy w_v, w - fx x w_u - fy y w_v) and cos theta = w / (|n| |(x, y, 1)|). Exact for planes.

    Parameters
    ----------
    depth : (H, W) float
        z, metres (0: no surface).
    K : (3, 3) float
        Intrinsics, pixels.

    Returns
    -------
    (H, W) float64
        Radians in [0, pi/2]; NaN where depth is 0 or a pixel has no neighbour with a surface along u or v.
    """
    z = np.asarray(depth, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    h, w_ = z.shape
    fx, fy = K[0, 0], K[1, 1]
    x = ((np.arange(w_, dtype=np.float64) - K[0, 2]) / fx)[None, :]
    y = ((np.arange(h, dtype=np.float64) - K[1, 2]) / fy)[:, None]
    valid = z > 0
    w = np.where(valid, 1.0 / np.where(valid, z, 1.0), 0.0)
    gu = fx * _slope(w, z, valid, 1)
    gv = fy * _slope(w, z, valid, 0)
    nz = w - x * gu - y * gv
    with np.errstate(invalid="ignore"):
        c = w / (np.sqrt(gu * gu + gv * gv + nz * nz) * np.sqrt(x * x + y * y + 1.0))
        theta = np.arccos(np.minimum(np.abs(c), 1.0))
    theta[~valid] = np.nan
    return theta


def occlusion_mask(depth: np.ndarray, fx: float, baseline: float, side: str = "right",
                   border: bool = True) -> np.ndarray:
    """Pixels with a surface that a second, rectified view ``baseline`` metres to ``side`` cannot see.

    The depth is warped to the second view along the rows by its disparity d = fx baseline / z (a point at column u
    appears at u - d when the second view is to the right). A pixel is hidden when a nearer surface to its
    ``side`` lands at or beyond it there (left-right consistency); a surface's edge is half a pixel outside its
    last pixel, with that pixel's disparity at a depth edge (|dz| > :data:`EDGE_JUMP` min z) and the mean disparity
    of the two pixels on a continuous surface. Behind a step from z_near to z_far the hidden band is
    round(fx baseline (1 / z_near - 1 / z_far)) pixels wide, on the near surface's side away from the second view
    (its left for a view to the right). With ``border``, pixels that land outside the second view's image are hidden
    too (column u - d < -0.5 for a view to the right: a band about fx baseline / z pixels wide at the left border).

    Parameters
    ----------
    depth : (H, W) float
        z, metres (0: no surface; such pixels hide nothing and are never returned).
    fx : float
        Focal length, pixels (the second view has the same intrinsics).
    baseline : float
        Metres, > 0.
    side : 'right' or 'left'
        Where the second view (camera, or projector) is, along the camera's x axis.
    border : bool
        Also mark pixels outside the second view's image.

    Returns
    -------
    (H, W) bool
    """
    z = np.asarray(depth, dtype=np.float64)
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    if side == "left":
        z = z[:, ::-1]
    h, w = z.shape
    valid = z > 0
    with np.errstate(divide="ignore"):
        d = np.where(valid, fx * baseline / np.where(valid, z, 1.0), 0.0)
    u = np.arange(w, dtype=np.float64)[None, :]
    x = u - d
    # disparity of the left edge of every pixel: its own at a depth edge, the mean with its left neighbour otherwise
    d_edge = d.copy()
    zl, zr = z[:, :-1], z[:, 1:]
    cont = valid[:, :-1] & valid[:, 1:] & (np.abs(zr - zl) <= EDGE_JUMP * np.minimum(zl, zr))
    d_edge[:, 1:] = np.where(cont, 0.5 * (d[:, :-1] + d[:, 1:]), d[:, 1:])
    e = np.where(valid, u - 0.5 - d_edge, np.inf)
    # m[:, u] = min over u' > u of e[:, u']
    suffix_min = np.minimum.accumulate(e[:, ::-1], axis=1)[:, ::-1]
    m = np.concatenate([suffix_min[:, 1:], np.full((h, 1), np.inf)], axis=1)
    hidden = valid & (x > m)
    if border:
        hidden |= valid & (x < -0.5)
    return hidden[:, ::-1] if side == "left" else hidden


def depth_edges(depth: np.ndarray, jump: float) -> np.ndarray:
    """Pixels next to a depth discontinuity between two surfaces.

    A pixel is marked when one of its 4-neighbours has a surface too and |z_p - z_q| > jump min(z_p, z_q).
    Neighbours without a surface (depth 0) make no edge (nothing to mix with).

    Returns
    -------
    (H, W) bool
    """
    z = np.asarray(depth, dtype=np.float64)
    valid = z > 0
    edge = np.zeros(z.shape, dtype=bool)
    for axis in (0, 1):
        a = [slice(None)] * 2
        b = [slice(None)] * 2
        a[axis], b[axis] = slice(0, -1), slice(1, None)
        a, b = tuple(a), tuple(b)
        j = valid[a] & valid[b] & (np.abs(z[a] - z[b]) > jump * np.minimum(z[a], z[b]))
        edge[a] |= j
        edge[b] |= j
    return edge


# ---------------------------------------------------------------- simulation
def _check_inputs(depth, K, reflectance):
    z = np.asarray(depth)
    if z.ndim != 2:
        raise ValueError(f"depth must be an (H, W) array, got shape {z.shape}")
    z = z.astype(np.float64)  # a copy: the caller's array is never written
    if not np.all(np.isfinite(z)) or np.any(z < 0):
        raise ValueError("depth must be finite and >= 0 (metres; 0 = no surface)")
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or not (K[0, 0] > 0 and K[1, 1] > 0):
        raise ValueError(f"K must be a (3, 3) intrinsic matrix with fx, fy > 0, got {K.tolist()}")
    if reflectance is None:
        rho = np.ones_like(z)
    else:
        rho = np.broadcast_to(np.asarray(reflectance, dtype=np.float64), z.shape)
        if not np.all(np.isfinite(rho)) or np.any(rho < 0):
            raise ValueError("reflectance must be finite and >= 0")
    return z, K, rho


def simulate_depth(depth, K, params: DepthSensorParams, *, reflectance=None) -> np.ndarray:
    """Simulate what a depth sensor reports for an exact depth map.

    Parameters
    ----------
    depth : (H, W) float
        Exact z in the OpenCV camera frame, metres; 0 where no surface was hit. Not modified.
    K : (3, 3) float
        The image's intrinsics, pixels (OpenCV; pixel centres at integers).
    params : DepthSensorParams
        One frame's parameters (:func:`sample_depth_sensor`).
    reflectance : (H, W) float or None
        ``tof`` only: reflectance relative to the reference surface (its noise and low-return test); None: 1.

    Returns
    -------
    (H, W) float32
        Simulated z, metres; 0 = invalid (no surface, out of range, shadow, occlusion, grazing angle, low return).
        Deterministic: the same inputs and ``params`` give the same array. Wherever ``depth`` is 0 the result is 0.

    Raises
    ------
    ValueError
        For a depth map that is not 2-D, not finite or negative, a K that is not (3, 3) with fx, fy > 0, or a bad
        reflectance.
    """
    z, K, rho = _check_inputs(depth, K, reflectance)
    rng = np.random.default_rng(int(params.seed))
    s = params.settings
    if params.model == "kinect_v1":
        out = _kinect_v1(z, K, s, rng)
    elif params.model == "tof":
        out = _tof(z, K, s, rng, rho)
    else:
        out = _active_stereo(z, K, s, rng)
    out = np.where((z > 0) & np.isfinite(out) & (out > 0), out, 0.0)
    return out.astype(np.float32)


def _kinect_v1(z, K, s: KinectV1Params, rng) -> np.ndarray:
    h, w = z.shape
    fx = K[0, 0]
    theta = incidence_angle(z, K)
    # lateral noise: read a randomly displaced pixel (sensor pixels scaled to the image's)
    sig_lat = s.lateral_px * fx / s.focal_px
    du, dv = rng.standard_normal((2, h, w)) * sig_lat
    ui = np.clip(np.rint(np.arange(w)[None, :] + du), 0, w - 1).astype(np.intp)
    vi = np.clip(np.rint(np.arange(h)[:, None] + dv), 0, h - 1).astype(np.intp)
    zj, th = z[vi, ui], theta[vi, ui]
    valid = (z > 0) & (zj >= s.min_range) & (zj <= s.max_range) & (zj > 0)
    valid &= ~(th > math.radians(s.max_incidence_deg))  # NaN (undefined angle) stays valid
    if s.shadows:
        valid &= ~occlusion_mask(z, fx, s.baseline, s.projector_side, border=False)
    zs = np.where(valid, zj, 1.0)
    sigma_z = s.noise_scale * nguyen_axial_std(zs, np.nan_to_num(th, nan=0.0), s.axial_a, s.axial_b, s.axial_z0,
                                               s.axial_angle)
    fb = s.focal_px * s.baseline
    q = s.disparity_step
    d = fb / zs
    sigma_d = sigma_z * fb / zs**2
    pre = np.sqrt(np.maximum(sigma_d**2 - q * q / 12.0, 0.0))
    dq = np.round((d + pre * rng.standard_normal((h, w))) / q) * q
    valid &= dq > 0
    return np.where(valid, fb / np.where(valid, dq, 1.0), 0.0)


def _tof(z, K, s: TofParams, rng, rho) -> np.ndarray:
    h, w = z.shape
    theta = incidence_angle(z, K)
    cos_t = np.cos(np.nan_to_num(theta, nan=0.0))
    has = z > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        weak = z**2 > s.max_range**2 * rho * cos_t
    valid = has & (z >= s.min_range) & ~weak & ~(theta > math.radians(s.max_incidence_deg))
    # flying pixels: a value between the two surfaces of a nearby depth edge
    u_fly, alpha, noise = rng.random((h, w)), rng.random((h, w)), rng.standard_normal((h, w))
    zf = z.copy()
    k = int(s.flying_band_px)
    if k > 0:
        band = depth_edges(z, s.edge_jump)
        if k > 1:
            band = ndimage.binary_dilation(band, structure=np.ones((3, 3), bool), iterations=k - 1)
        size = 2 * k + 1
        near = ndimage.minimum_filter(np.where(has, z, np.inf), size=size, mode="nearest")
        far = ndimage.maximum_filter(np.where(has, z, -np.inf), size=size, mode="nearest")
        other = np.where(z - near < far - z, far, near)
        fly = band & valid & (u_fly < s.flying_pixel_prob)
        zf = np.where(fly, z + alpha * (other - z), z)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = s.sigma_0 + s.sigma_1 * zf / np.sqrt(rho * cos_t)
    return np.where(valid, zf + np.where(valid, sigma, 0.0) * noise, 0.0)


def _active_stereo(z, K, s: ActiveStereoParams, rng) -> np.ndarray:
    h, w = z.shape
    fb = K[0, 0] * s.baseline
    has = z > 0
    d = np.where(has, fb / np.where(has, z, 1.0), 0.0)
    valid = has & (d <= s.max_disparity) & (z <= s.max_range)
    valid &= ~occlusion_mask(z, K[0, 0], s.baseline, s.second_camera, border=True)
    dn = d + s.subpixel * rng.standard_normal((h, w))
    valid &= dn > 0
    return np.where(valid, fb / np.where(valid, dn, 1.0), 0.0)
