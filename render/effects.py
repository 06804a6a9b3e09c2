"""The shared image-effects stage: camera and sensor effects on a rendered RGB image (numpy and OpenCV, no GL).

Used after rendering (and after AR compositing) for every scene kind. :func:`sample_effects` draws one frame's
parameters from the recipe's ``effects`` section (``config/effects.py``) into a frozen :class:`EffectsParams`
(every drawn value, JSON via :meth:`EffectsParams.to_json`); :func:`apply_effects` applies them to the image and
is a pure function of its inputs: its only random draws (the sensor noise) come from a generator seeded by
``params.seed``. Effects change the RGB image only: depth, instance ids and every label are the rendered ones, for
the rendered camera pose (for motion blur: the middle of the exposure).

The 8-bit image is read as sRGB (IEC 61966-2-1) and worked on in linear light, in the order light meets the
camera (Brooks et al. 2019, "Unprocessing images for learned raw denoising", CVPR, invert the camera pipeline
the same way):

1. Motion blur from camera motion during the exposure (:func:`camera_motion_blur`): the mean of the scene seen
   from poses at sub-instants of the exposure, each made from the rendered image and depth by 3D reprojection
   (exact for a static scene, up to what the rendered view does not show).
2. Defocus from depth with a thin lens (:func:`defocus_blur`, :func:`circle_of_confusion_px`; Potmesil &
   Chakravarty 1981): a layered blur, back to front, of depth layers with their circle of confusion.
3. Lateral chromatic aberration (:func:`channel_transform`): red and blue magnified about the principal point.
4. Vignetting, the cos^4 law (:func:`vignetting_gain`).
5. Exposure: x 2^ev, then clipping at full scale (saturation).
6. Poisson-Gaussian sensor noise (:func:`poisson_gaussian_noise`; Foi et al. 2008), clipped to [0, 1].
7. White balance gains per channel, clipped to [0, 1].
8. sRGB encoding to uint8 (rounded). The JPEG quality (``params.jpeg_quality``) is for the image writer.

Other generators put these effects elsewhere: BlenderProc (``bproc.camera.add_depth_of_field``: f-stop and a
focus object or distance; ``bproc.renderer.enable_motion_blur``) and Kubric leave defocus and motion blur to
Blender's Cycles camera (ray traced, minutes per frame); Unity's post-processing stack (Depth of Field, Motion
Blur, Vignette, Chromatic Aberration, Grain) works on screen-space buffers with artistic, not physical,
parameters; imgaug and albumentations (``AdditiveGaussianNoise``, ``AdditivePoissonNoise``, ``ISONoise``,
``Defocus`` with a disc kernel, ``MotionBlur`` with a line kernel) augment an image without depth, so one blur
for every depth and noise in the encoded domain. Here every effect has a physical parameter and uses the
rendered depth and intrinsics.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ..core.color import linear_to_srgb8, srgb8_to_linear
from ..core.ids import MAX_INSTANCE_ID, REAL_ID
from ..core.rng import uniform

#: Depth (m) given to pixels with no surface (depth 0: backdrop, sky): far enough that a camera translation does
#: not move them (they are at infinity), small enough for float64 reprojection.
Z_INF = 1e9

#: Names of the effects in the order they are drawn (each from its own sub-generator) and applied.
EFFECTS = ("motion_blur", "defocus", "chromatic_aberration", "vignetting", "exposure", "noise", "white_balance", "jpeg")



# ---------------------------------------------------------------- parameters
@dataclass(frozen=True)
class MotionBlurParams:
    """Camera motion during the exposure (constant velocities, camera frame of the rendered pose).

    Attributes
    ----------
    exposure_s : float
        Exposure time, seconds; the exposure spans [-exposure_s / 2, exposure_s / 2] around the rendered pose.
    linear_velocity : (3,) tuple of float
        m/s, OpenCV camera frame (x right, y down, z forward).
    angular_velocity : (3,) tuple of float
        rad/s, axis-angle rate in the same frame.
    max_samples : int
        Most sub-instants averaged (``effects.motion_blur.max_samples``).
    """

    exposure_s: float
    linear_velocity: tuple[float, float, float]
    angular_velocity: tuple[float, float, float]
    max_samples: int = 32


@dataclass(frozen=True)
class DefocusParams:
    """Thin-lens defocus.

    Attributes
    ----------
    focus_distance : float
        Focus distance s, metres along the optical axis (depth z of the plane in focus).
    focus_source : str
        Where s came from: ``distance`` (drawn from the range), ``look_at`` or ``object`` (a visible instance).
    f_number : float
        N; the aperture diameter is f / N.
    sensor_width : float
        Sensor width, metres; pixel pitch p = sensor_width / image width, focal length f = fx p.
    kernel : 'disc' or 'gaussian'
    max_coc_px, layer_step_px : float
        Cap on the circle of confusion and CoC width of one depth layer, pixels.
    """

    focus_distance: float
    focus_source: str
    f_number: float
    sensor_width: float
    kernel: str = "disc"
    max_coc_px: float = 24.0
    layer_step_px: float = 1.0


@dataclass(frozen=True)
class ChromaticAberrationParams:
    """Lateral chromatic aberration: red and blue magnified by 1 + scale about the principal point (green 1)."""

    red_scale: float
    blue_scale: float


@dataclass(frozen=True)
class NoiseParams:
    """Poisson-Gaussian noise: var = a y + b on the linear signal y, a = 1 / photons_at_white, b = read_noise^2."""

    photons_at_white: float
    read_noise: float

    @property
    def a(self) -> float:
        """Poisson (signal-dependent) coefficient of the variance, full-scale units."""
        return 1.0 / self.photons_at_white

    @property
    def b(self) -> float:
        """Signal-independent variance, full-scale units squared."""
        return self.read_noise ** 2


@dataclass(frozen=True)
class EffectsParams:
    """Every drawn value of one frame's effects; None: the effect is off for the frame.

    Attributes
    ----------
    seed : int
        Seeds the generator of the sensor noise (the only random draws of :func:`apply_effects`).
    motion_blur : MotionBlurParams or None
    defocus : DefocusParams or None
    chromatic_aberration : ChromaticAberrationParams or None
    vignetting : float or None
        Strength in [0, 1] (1: the cos^4 law).
    exposure_ev : float or None
        Exposure change, stops.
    noise : NoiseParams or None
    white_balance : (3,) tuple of float or None
        Linear gains (red, green, blue); green is 1.
    jpeg_quality : int or None
        JPEG quality for the writer; None: ``output.jpg_quality``.
    """

    seed: int = 0
    motion_blur: MotionBlurParams | None = None
    defocus: DefocusParams | None = None
    chromatic_aberration: ChromaticAberrationParams | None = None
    vignetting: float | None = None
    exposure_ev: float | None = None
    noise: NoiseParams | None = None
    white_balance: tuple[float, float, float] | None = None
    jpeg_quality: int | None = None

    @property
    def is_identity(self) -> bool:
        """True when no effect changes the image (the JPEG quality does not count)."""
        return all(getattr(self, k) is None for k in ("motion_blur", "defocus", "chromatic_aberration", "vignetting",
                                                      "exposure_ev", "noise", "white_balance"))

    def to_json(self) -> dict:
        """Plain JSON types (dict, list, float, int, str, None); :meth:`from_json` reads it back. The noise entry
        also carries its variance coefficients ``a`` and ``b``."""

        def part(p):
            if p is None:
                return None
            return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(p).items()}

        noise = part(self.noise)
        if noise is not None:
            noise.update(a=self.noise.a, b=self.noise.b)
        return {"seed": int(self.seed), "motion_blur": part(self.motion_blur), "defocus": part(self.defocus),
                "chromatic_aberration": part(self.chromatic_aberration), "vignetting": self.vignetting,
                "exposure_ev": self.exposure_ev, "noise": noise,
                "white_balance": None if self.white_balance is None else list(self.white_balance),
                "jpeg_quality": self.jpeg_quality}

    @classmethod
    def from_json(cls, d: dict) -> "EffectsParams":
        """Inverse of :meth:`to_json`."""
        mb, de, ca, no = (d.get(k) for k in ("motion_blur", "defocus", "chromatic_aberration", "noise"))
        wb = d.get("white_balance")
        return cls(
            seed=int(d["seed"]),
            motion_blur=None if mb is None else MotionBlurParams(
                float(mb["exposure_s"]), tuple(mb["linear_velocity"]), tuple(mb["angular_velocity"]),
                int(mb["max_samples"])),
            defocus=None if de is None else DefocusParams(**de),
            chromatic_aberration=None if ca is None else ChromaticAberrationParams(**ca),
            vignetting=d.get("vignetting"), exposure_ev=d.get("exposure_ev"),
            noise=None if no is None else NoiseParams(float(no["photons_at_white"]), float(no["read_noise"])),
            white_balance=None if wb is None else tuple(float(g) for g in wb),
            jpeg_quality=d.get("jpeg_quality"))


# ---------------------------------------------------------------- sampling
def _unit_vector(rng: np.random.Generator) -> np.ndarray:
    """Direction uniform on the unit sphere (normalised 3-D Gaussian), (3,) float64."""
    v = rng.normal(size=3)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else np.array([1.0, 0.0, 0.0])


def sample_effects(cfg, rng: np.random.Generator, *, look_at_depth: float | None = None,
                   object_depths=()) -> EffectsParams:
    """Draw one frame's effect parameters.

    Each effect draws from its own sub-generator (seeded from ``rng`` in the fixed order :data:`EFFECTS`) and
    always makes the same draws whether it is on or not, so changing one effect's settings never changes
    another's values.

    Parameters
    ----------
    cfg : config.effects.EffectsConfig
    rng : numpy.random.Generator
        The frame's generator (the caller derives it with ``core.rng.scene_rng``).
    look_at_depth : float or None
        Depth z (m, camera frame) of the view's look-at point, for ``defocus.focus: look_at``
        (:func:`point_depth`); None or <= 0: unknown.
    object_depths : sequence of float
        Depths (m) of the visible labelled instances, for ``defocus.focus: object``
        (:func:`visible_object_depths`).

    Returns
    -------
    EffectsParams
        Effects not drawn for this frame are None. When a focus mode has no target (no look-at point in front of
        the camera, no visible instance) the focus distance is drawn from ``defocus.focus_distance`` and
        ``focus_source`` says ``distance``.
    """
    seeds = rng.integers(0, 2**63, size=len(EFFECTS) + 1)
    sub = {name: np.random.default_rng(int(s)) for name, s in zip(EFFECTS, seeds[1:])}
    d = lambda r, rg: float(uniform(r, rg.min, rg.max))  # noqa: E731

    r, c = sub["motion_blur"], cfg.motion_blur
    on = r.random() < c.probability
    exposure, speed, spin = d(r, c.exposure_s), d(r, c.linear_speed), math.radians(d(r, c.angular_speed_deg))
    v, w = _unit_vector(r) * speed, _unit_vector(r) * spin
    motion = MotionBlurParams(exposure, tuple(float(x) for x in v), tuple(float(x) for x in w),
                              int(c.max_samples)) if on else None

    r, c = sub["defocus"], cfg.defocus
    on = r.random() < c.probability
    f_number, sensor, drawn, u = d(r, c.f_number), d(r, c.sensor_width_mm) * 1e-3, d(r, c.focus_distance), r.random()
    focus, source = drawn, "distance"
    if c.focus == "look_at" and look_at_depth is not None and look_at_depth > 0:
        focus, source = float(look_at_depth), "look_at"
    elif c.focus == "object":
        depths = [float(z) for z in object_depths if z > 0]
        if depths:
            focus, source = depths[min(int(u * len(depths)), len(depths) - 1)], "object"
    defocus = DefocusParams(focus, source, f_number, sensor, c.kernel, float(c.max_coc_px),
                            float(c.layer_step_px)) if on else None

    r, c = sub["chromatic_aberration"], cfg.chromatic_aberration
    on_c = r.random() < c.probability
    ca = ChromaticAberrationParams(d(r, c.red_scale), d(r, c.blue_scale))

    r, c = sub["vignetting"], cfg.vignetting
    on_v = r.random() < c.probability
    strength = d(r, c.strength)

    r, c = sub["exposure"], cfg.exposure
    on_e = r.random() < c.probability
    ev = d(r, c.ev)

    r, c = sub["noise"], cfg.noise
    on_n = r.random() < c.probability
    noise = NoiseParams(d(r, c.photons_at_white), d(r, c.read_noise))

    r, c = sub["white_balance"], cfg.white_balance
    on_w = r.random() < c.probability
    gains = (d(r, c.red_gain), 1.0, d(r, c.blue_gain))

    r, c = sub["jpeg"], cfg.jpeg
    on_j = r.random() < c.probability
    quality = int(r.integers(c.quality.min, c.quality.max + 1))

    return EffectsParams(seed=int(seeds[0]), motion_blur=motion, defocus=defocus,
                         chromatic_aberration=ca if on_c else None, vignetting=strength if on_v else None,
                         exposure_ev=ev if on_e else None, noise=noise if on_n else None,
                         white_balance=gains if on_w else None, jpeg_quality=quality if on_j else None)


def point_depth(world_T_cam: np.ndarray, point_world) -> float:
    """Depth z (m) of a world point in the camera frame of ``world_T_cam`` (4, 4) (OpenCV, metres); <= 0 behind."""
    T = np.asarray(world_T_cam, dtype=np.float64)
    p = np.asarray(point_world, dtype=np.float64) - T[:3, 3]
    return float(T[:3, 2] @ p)


def visible_object_depths(ids: np.ndarray, depth: np.ndarray, min_pixels: int = 20) -> np.ndarray:
    """Median depth of each labelled instance seen in a frame, for focusing on an object.

    Parameters
    ----------
    ids : (H, W) int
        Instance-ID buffer (``core/ids.py``: 0 none, ``REAL_ID`` real AR surfaces, which are skipped).
    depth : (H, W) float
        z, metres (0 no surface).
    min_pixels : int
        Instances with fewer visible pixels are skipped.

    Returns
    -------
    (n,) float64
        Metres, in increasing ``inst_id`` order.
    """
    ids = np.asarray(ids)
    depth = np.asarray(depth)
    sel = (ids > 0) & (ids <= MAX_INSTANCE_ID) & (ids != REAL_ID) & (depth > 0)
    out = []
    for inst in np.unique(ids[sel]):
        z = depth[sel & (ids == inst)]
        if z.size >= min_pixels:
            out.append(float(np.median(z)))
    return np.asarray(out, dtype=np.float64)


# ---------------------------------------------------------------- primitives (also used by render/composite.py)
def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of (H, W) or (H, W, C) float32 with ``sigma`` pixels (OpenCV, kernel +-4 sigma, borders
    reflected); sigma <= 0 returns a copy."""
    img = np.asarray(img, dtype=np.float32)
    if sigma <= 0:
        return img.copy()
    k = 2 * int(math.ceil(4 * sigma)) + 1
    return cv2.GaussianBlur(img, (k, k), sigmaX=float(sigma), sigmaY=float(sigma), borderType=cv2.BORDER_REFLECT_101)


def channel_transform(img: np.ndarray, centre, scales=(0.0, 0.0, 0.0), shifts=((0.0, 0.0),) * 3) -> np.ndarray:
    """Magnify and shift each channel of (H, W, C) float32 about ``centre`` (cx, cy) pixels: content at x in the
    input lands at ``centre + (1 + scales[c]) (x - centre) + shifts[c]`` in channel c (bilinear resampling,
    OpenCV ``remap``; borders replicated). Lateral chromatic aberration uses ``scales`` about the principal point;
    the AR compositor's horizontal red/blue shift uses ``shifts``. Channels with scale 0 and shift 0 are copied
    exactly."""
    img = np.asarray(img, dtype=np.float32)
    out = img.copy()
    h, w = img.shape[:2]
    cx, cy = float(centre[0]), float(centre[1])
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    for c, (s, (tx, ty)) in enumerate(zip(scales, shifts)):
        if s == 0 and tx == 0 and ty == 0:
            continue
        mx = (cx + (xs - cx - tx) / (1.0 + s)).astype(np.float32)
        my = (cy + (ys - cy - ty) / (1.0 + s)).astype(np.float32)
        out[..., c] = cv2.remap(np.ascontiguousarray(img[..., c]), mx, my, cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
    return out


def linear_motion_blur(img: np.ndarray, length_px: float, angle: float) -> np.ndarray:
    """Blur along a straight line: the mean of copies of (H, W) or (H, W, C) float32 translated by
    ``length_px * ((k + 1/2) / n - 1/2)`` along ``angle`` (radians, image x towards y), k = 0..n-1,
    n = ceil(2 length) + 1 (bilinear, borders replicated): the image of a uniform translation of the content by
    ``length_px`` during the exposure, centred on the input. length < 0.25 px returns a copy."""
    img = np.asarray(img, dtype=np.float32)
    if length_px < 0.25:
        return img.copy()
    n = int(math.ceil(2 * length_px)) + 1
    h, w = img.shape[:2]
    acc = np.zeros_like(img, dtype=np.float32)
    for k in range(n):
        t = length_px * ((k + 0.5) / n - 0.5)
        M = np.array([[1.0, 0.0, t * math.cos(angle)], [0.0, 1.0, t * math.sin(angle)]])
        acc += cv2.warpAffine(img, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return acc / n


def poisson_gaussian_noise(x: np.ndarray, a: float, b: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson-Gaussian noise (Foi et al. 2008, "Practical Poissonian-Gaussian noise modeling and fitting for
    single-image raw-data", IEEE TIP 17(10), eq. 1-3): z = a P(x / a) + N(0, b), P Poisson, so E z = x and
    var z = a x + b; a = 0 gives Gaussian noise of variance b.

    Parameters
    ----------
    x : float array, >= 0 where a > 0 (negative values count as 0 in the Poisson part)
        Signal, any units (the stage uses linear full-scale units; the AR compositor 0-1 code values).
    a, b : float >= 0
    rng : numpy.random.Generator
        Draws, in this order, one Poisson value per element (when a > 0), then one normal value per element
        (when b > 0).

    Returns
    -------
    float32 array of x's shape, not clipped.
    """
    x = np.asarray(x, dtype=np.float32)
    if a < 0 or b < 0:
        raise ValueError(f"noise coefficients must be >= 0 (got a={a}, b={b})")
    z = x.astype(np.float64)
    if a > 0:
        z = rng.poisson(np.maximum(z, 0.0) / a) * a
    if b > 0:
        z = z + rng.normal(0.0, math.sqrt(b), x.shape)
    return z.astype(np.float32)


def vignetting_gain(height: int, width: int, K: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Vignetting gain (H, W) float32: ``1 - strength (1 - cos^4 theta)`` with theta the angle between a pixel
    centre's ray and the optical axis, cos theta = 1 / sqrt(1 + x^2 + y^2), x = (u - cx) / fx, y = (v - cy) / fy
    (the cos^4 law of natural vignetting; e.g. Goldman 2010, IEEE TPAMI 32(12), eq. 1)."""
    K = np.asarray(K, dtype=np.float64)
    x = (np.arange(width) - K[0, 2]) / K[0, 0]
    y = (np.arange(height) - K[1, 2]) / K[1, 1]
    r2 = x[None, :] ** 2 + y[:, None] ** 2
    return (1.0 - strength * (1.0 - 1.0 / (1.0 + r2) ** 2)).astype(np.float32)


# ---------------------------------------------------------------- defocus
def circle_of_confusion_px(depth: np.ndarray, K: np.ndarray, width: int, focus_distance: float, f_number: float,
                           sensor_width: float) -> np.ndarray:
    """Signed circle-of-confusion diameter per pixel of a thin lens, in pixels.

    The thin lens (Potmesil & Chakravarty 1981, "A lens and aperture camera model for synthetic image
    generation", SIGGRAPH, eq. for the CoC diameter) focused at s with focal length f and aperture diameter
    f / N images a point at depth z as a disc of diameter ``c = f^2 / (N (s - f)) |z - s| / z`` on the sensor;
    in pixels c / p with pixel pitch ``p = sensor_width / width`` and ``f = fx p``. The sign is that of z - s
    (+ behind the focus plane, - in front); depth 0 (no surface) is at infinity, c = f^2 / (N (s - f)) / p.

    Parameters
    ----------
    depth : (H, W) float
        z, metres; 0 no surface.
    K : (3, 3) float
        Intrinsics, pixels.
    width : int
        Image width, pixels.
    focus_distance, f_number, sensor_width : float
        s (m, > f), N, sensor width (m).

    Returns
    -------
    (H, W) float64, pixels.

    Raises
    ------
    ValueError
        When the focus distance is not beyond the focal length (no real image).
    """
    p = sensor_width / width
    f = float(K[0, 0]) * p
    s = float(focus_distance)
    if s <= f:
        raise ValueError(f"focus distance {s:g} m must exceed the focal length f = fx * sensor_width / width = "
                         f"{f:g} m (effects.defocus)")
    scale = f * f / (f_number * (s - f)) / p
    z = np.where(np.asarray(depth) > 0, np.asarray(depth, dtype=np.float64), np.inf)
    return scale * (1.0 - s / z)


def defocus_kernel(diameter: float, kind: str = "disc") -> np.ndarray | None:
    """Point-spread function of a defocused lens, (k, k) float32 summing to 1, k odd; None (identity) for
    diameters below 1 pixel. ``disc``: the area of each pixel covered by a disc of that diameter (16 x 16
    sub-samples per pixel), i.e. a uniform disc box-filtered by the pixel; ``gaussian``: sigma = diameter / 4, the
    disc's second moment (its variance along an axis is R^2 / 4 = (diameter / 4)^2)."""
    if diameter < 1.0:
        return None
    r = diameter / 2.0
    if kind == "gaussian":
        sigma = diameter / 4.0
        h = int(math.ceil(3 * sigma))
        g = np.exp(-0.5 * (np.arange(-h, h + 1) / sigma) ** 2)
        k = np.outer(g, g)
    elif kind == "disc":
        h = int(math.ceil(r + 0.5))
        ss = 16
        sub = (np.arange(ss) + 0.5) / ss - 0.5
        t = (np.arange(-h, h + 1)[:, None] + sub[None, :]).ravel()  # sub-sample coordinates
        inside = (t[:, None] ** 2 + t[None, :] ** 2) <= r * r
        k = inside.reshape(2 * h + 1, ss, 2 * h + 1, ss).mean(axis=(1, 3))
    else:
        raise ValueError(f"unknown defocus kernel {kind!r} (disc or gaussian)")
    return (k / k.sum()).astype(np.float32)


def defocus_blur(img: np.ndarray, depth: np.ndarray, K: np.ndarray, focus_distance: float, f_number: float,
                 sensor_width: float, kernel: str = "disc", max_coc_px: float = 24.0,
                 layer_step_px: float = 1.0) -> np.ndarray:
    """Thin-lens defocus of a linear image by layered, occlusion-aware blurring.

    Pixels are grouped into depth layers by their signed circle of confusion (:func:`circle_of_confusion_px`,
    clipped to +-``max_coc_px``): layer k holds the pixels with round(c / step) = k (c increases with depth, so
    layers are depth slices; layer 0 is in focus). From the farthest layer to the nearest, the layer's
    premultiplied colour and its coverage are blurred with :func:`defocus_kernel` of the mean |c| of its pixels
    and composited *over* what is behind (Porter & Duff 1984): a near blurred layer spreads over farther ones, a
    far one never spreads over a nearer sharp one (the layered scheme of e.g. Kraus & Strengert 2007,
    "Depth-of-field rendering by pyramidal image processing", Eurographics). The result is divided by the
    accumulated coverage, which fills what the rendered view does not show behind a blurred near edge with the
    nearby background. An image at one depth is blurred by one kernel; one in focus is returned unchanged. A focus
    distance closer than 1.1 f (a real image needs s > f) is taken as 1.1 f.

    Parameters
    ----------
    img : (H, W, 3) float32
        Linear intensities.
    depth : (H, W) float
        z, metres; 0 no surface (at infinity).
    K : (3, 3) float
    focus_distance, f_number, sensor_width, kernel, max_coc_px, layer_step_px
        As :class:`DefocusParams`.

    Returns
    -------
    (H, W, 3) float32
    """
    img = np.asarray(img, dtype=np.float32)
    h, w = img.shape[:2]
    focus_distance = max(float(focus_distance), 1.1 * float(K[0, 0]) * sensor_width / w)
    coc = np.clip(circle_of_confusion_px(depth, K, w, focus_distance, f_number, sensor_width), -max_coc_px,
                  max_coc_px)
    layer = np.round(coc / layer_step_px).astype(np.int64)
    acc = np.zeros((h, w, 4), np.float32)
    for k in np.unique(layer)[::-1]:  # far to near
        m = layer == k
        psf = defocus_kernel(float(np.abs(coc[m]).mean()), kernel)
        ys, xs = np.nonzero(m)
        pad = 0 if psf is None else psf.shape[0] // 2
        y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, h)
        x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, w)
        src = np.zeros((y1 - y0, x1 - x0, 4), np.float32)
        mm = m[y0:y1, x0:x1]
        src[..., :3] = img[y0:y1, x0:x1] * mm[..., None]
        src[..., 3] = mm
        if psf is not None:
            src = cv2.filter2D(src, -1, psf, borderType=cv2.BORDER_CONSTANT)
        a = src[..., 3:4]
        acc[y0:y1, x0:x1] = src + (1.0 - a) * acc[y0:y1, x0:x1]
    alpha = acc[..., 3:4]
    return np.where(alpha > 1e-6, acc[..., :3] / np.maximum(alpha, 1e-6), img).astype(np.float32)


# ---------------------------------------------------------------- motion blur
def _rodrigues(rotvec: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) of an axis-angle vector (radians), Rodrigues' formula."""
    theta = float(np.linalg.norm(rotvec))
    if theta < 1e-15:
        return np.eye(3)
    k = rotvec / theta
    Kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(theta) * Kx + (1 - math.cos(theta)) * Kx @ Kx


def _transform(R: np.ndarray, t: np.ndarray, X: tuple, inverse: bool):
    """Components of R X + t, or of R^T (X - t) with ``inverse``, for X = (x, y, z) arrays."""
    if inverse:
        d = (X[0] - t[0], X[1] - t[1], X[2] - t[2])
        return tuple(R[0, i] * d[0] + R[1, i] * d[1] + R[2, i] * d[2] for i in range(3))
    return tuple(R[i, 0] * X[0] + R[i, 1] * X[1] + R[i, 2] * X[2] + t[i] for i in range(3))


def _project(X: tuple, K: np.ndarray):
    """(u, v, z) of camera-frame points given as components (x, y, z) arrays, metres, with intrinsics K."""
    z = X[2]
    zs = np.where(np.abs(z) > 1e-12, z, 1e-12)
    return K[0, 0] * X[0] / zs + K[0, 2], K[1, 1] * X[1] / zs + K[1, 2], z


def _fill_holes(img: np.ndarray, valid: np.ndarray, z: np.ndarray, max_iter: int = 256) -> np.ndarray:
    """Fill pixels of (H, W, C) float32 where ``valid`` is False from their valid 8-neighbours, growing inwards.

    A hole pixel takes the mean of the valid neighbours at its own depth ``z`` (H, W) or farther (within 2 %): a
    disocclusion shows what lies behind the surface that left it, never that surface. Holes with no such
    neighbour within ``max_iter`` rounds take the mean of any valid neighbours."""
    img = img.copy()
    valid = valid.copy()
    h, w = valid.shape
    hy, hx = np.nonzero(~valid)
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    for depth_aware in (True, False):
        for _ in range(max_iter):
            if hy.size == 0:
                return img
            acc = np.zeros((hy.size, img.shape[2]), np.float32)
            cnt = np.zeros(hy.size, np.float32)
            for dy, dx in offsets:
                ny, nx = hy + dy, hx + dx
                ok = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
                ny, nx = np.clip(ny, 0, h - 1), np.clip(nx, 0, w - 1)
                ok &= valid[ny, nx]
                if depth_aware:
                    ok &= z[ny, nx] >= z[hy, hx] * (1 - 0.02)
                acc += img[ny, nx] * ok[:, None]
                cnt += ok
            grow = cnt > 0
            if not grow.any():
                break
            img[hy[grow], hx[grow]] = acc[grow] / cnt[grow][:, None]
            valid[hy[grow], hx[grow]] = True
            hy, hx = hy[~grow], hx[~grow]
    return img


def _view_at(img: np.ndarray, rays: tuple, z0: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray):
    """The image of a static scene seen from camera pose ``cam0_T_cam = (R, t)``, made from the rendered view.

    Forward: every rendered pixel's 3-D point (``rays`` (x/z, y/z, 1) components times ``z0``, cam0 frame) is
    moved into the new camera and its depth splatted (z-buffer, minimum) on the 2 x 2 pixels around where it
    lands. Backward: each new pixel is back-projected at that depth into cam0 and the rendered image sampled there
    (bilinear), so content moves by sub-pixel amounts exactly. Pixels that no rendered point reaches, or whose
    sample falls on a nearer surface of the rendered view (the new view sees behind it: a disocclusion), are
    filled from their neighbours (:func:`_fill_holes`)."""
    h, w = z0.shape
    ut, vt, zt = _project(_transform(R, t, tuple(r * z0 for r in rays), inverse=True), K)
    ok = zt > 1e-6
    zbuf = np.full(h * w, np.inf)
    fx, fy, zok = np.floor(ut[ok]).astype(np.int64), np.floor(vt[ok]).astype(np.int64), zt[ok]
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = fx + dx, fy + dy
            inb = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            np.minimum.at(zbuf, yi[inb] * w + xi[inb], zok[inb])
    zbuf = zbuf.reshape(h, w)
    covered = np.isfinite(zbuf)
    if not covered.all():  # cracks and disocclusions: the farthest neighbour's depth
        zf = np.where(covered, zbuf, 0.0).astype(np.float32)
        kernel = np.ones((3, 3), np.uint8)
        for _ in range(64):
            if covered.all():
                break
            grown = cv2.dilate(zf, kernel)
            new = ~covered & (grown > 0)
            zf[new] = grown[new]
            covered |= new
        zbuf = np.where(zf > 0, zf, Z_INF).astype(np.float64)
    u0, v0, zb = _project(_transform(R, t, tuple(r * zbuf for r in rays), inverse=False), K)
    out = cv2.remap(img, u0.astype(np.float32), v0.astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    ui = np.clip(np.rint(u0), 0, w - 1).astype(np.int64)
    vi = np.clip(np.rint(v0), 0, h - 1).astype(np.int64)
    valid = (zb > 1e-6) & (z0[vi, ui] >= zb * (1 - 0.02) - 1e-3)  # the sample is not on a nearer surface
    return out if valid.all() else _fill_holes(out, valid, zbuf)


def camera_motion_blur(img: np.ndarray, depth: np.ndarray, K: np.ndarray, linear_velocity, angular_velocity,
                       exposure_s: float, max_samples: int = 32) -> np.ndarray:
    """Blur of a static scene seen by a camera moving during the exposure.

    The camera moves with constant velocities in the frame of the rendered pose (camera 0, OpenCV):
    ``cam0_T_cam(tau) = (Rodrigues(angular_velocity tau), linear_velocity tau)`` for tau in
    [-exposure_s / 2, exposure_s / 2], so the rendered pose is the middle of the exposure. The image is the mean
    of the views at n sub-instants tau_k = exposure_s ((k + 1/2) / n - 1/2) (midpoint rule), each made by
    reprojecting the rendered image with its depth (exact for a static scene where the rendered view sees what
    the moved camera sees; disoccluded pixels are filled from the neighbours behind, pixels coming from outside
    the frame replicate its border). n = min(max_samples, ceil(2 L) + 1) with L the longest image path of any
    pixel (so sub-instants are at most half a pixel apart when max_samples allows); L < 0.25 px returns the image
    unchanged. Pixels with no surface (depth 0) are at infinity: only rotation moves them. A point at depth z
    seen by a camera translating sideways at v is smeared over f v exposure_s / z pixels, centred on where it was
    rendered.

    Parameters
    ----------
    img : (H, W, 3) float32
        Linear intensities.
    depth : (H, W) float
        z, metres; 0 no surface.
    K : (3, 3) float
    linear_velocity, angular_velocity : (3,) float
        m/s and rad/s, camera frame.
    exposure_s : float
    max_samples : int

    Returns
    -------
    (H, W, 3) float32
    """
    img = np.asarray(img, dtype=np.float32)
    K = np.asarray(K, dtype=np.float64)
    v = np.asarray(linear_velocity, dtype=np.float64)
    wv = np.asarray(angular_velocity, dtype=np.float64)
    h, w = img.shape[:2]
    z0 = np.where(np.asarray(depth) > 0, np.asarray(depth, dtype=np.float64), Z_INF)
    rx = np.broadcast_to((np.arange(w) - K[0, 2]) / K[0, 0], (h, w))
    ry = np.broadcast_to(((np.arange(h) - K[1, 2]) / K[1, 1])[:, None], (h, w))
    rays = (rx, ry, np.ones((h, w)))
    X0 = tuple(r * z0 for r in rays)
    ends = [_project(_transform(_rodrigues(wv * tau), v * tau, X0, inverse=True), K)
            for tau in (-exposure_s / 2, exposure_s / 2)]
    (ua, va, za), (ub, vb, zb) = ends
    front = (za > 1e-6) & (zb > 1e-6)
    L = float(np.hypot(ub - ua, vb - va)[front].max()) if front.any() else 0.0
    if L < 0.25:
        return img.copy()
    n = int(min(max_samples, math.ceil(2 * L) + 1))
    acc = np.zeros_like(img)
    for k in range(n):
        tau = exposure_s * ((k + 0.5) / n - 0.5)
        acc += _view_at(img, rays, z0, K, _rodrigues(wv * tau), v * tau)
    return acc / n


# ---------------------------------------------------------------- the stage
def apply_effects(rgb: np.ndarray, depth: np.ndarray, K: np.ndarray, params: EffectsParams) -> np.ndarray:
    """Apply one frame's effects (order and models in the module docstring).

    Parameters
    ----------
    rgb : (H, W, 3) uint8
        sRGB image as rendered (and composited).
    depth : (H, W) float32
        z in the camera frame, metres; 0 where no surface was hit. Read only, never modified.
    K : (3, 3) float
        Intrinsics, pixels (OpenCV; pixel centres at integers).
    params : EffectsParams

    Returns
    -------
    (H, W, 3) uint8
        A new array; equal to ``rgb`` byte for byte when ``params.is_identity``. The same inputs always give the
        same bytes (the noise generator is seeded by ``params.seed``).

    Raises
    ------
    ValueError
        For images or depth maps of the wrong shape or dtype.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    depth = np.asarray(depth)
    if depth.shape != rgb.shape[:2]:
        raise ValueError(f"depth must be (H, W) = {rgb.shape[:2]}, got {depth.shape}")
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must be (3, 3), got {K.shape}")
    if params.is_identity:
        return rgb.copy()
    h, w = depth.shape
    img = srgb8_to_linear(rgb)
    if (m := params.motion_blur) is not None:
        img = camera_motion_blur(img, depth, K, m.linear_velocity, m.angular_velocity, m.exposure_s, m.max_samples)
    if (d := params.defocus) is not None:
        img = defocus_blur(img, depth, K, d.focus_distance, d.f_number, d.sensor_width, d.kernel, d.max_coc_px,
                           d.layer_step_px)
    if (ca := params.chromatic_aberration) is not None:
        img = channel_transform(img, (K[0, 2], K[1, 2]), scales=(ca.red_scale, 0.0, ca.blue_scale))
    if params.vignetting is not None:
        img = img * vignetting_gain(h, w, K, params.vignetting)[..., None]
    if params.exposure_ev is not None:
        img = img * np.float32(2.0 ** params.exposure_ev)
    img = np.clip(img, 0.0, 1.0)
    if (n := params.noise) is not None:
        img = np.clip(poisson_gaussian_noise(img, n.a, n.b, np.random.default_rng(params.seed)), 0.0, 1.0)
    if params.white_balance is not None:
        img = np.clip(img * np.asarray(params.white_balance, dtype=np.float32), 0.0, 1.0)
    return linear_to_srgb8(img)
