"""Textures for surfaces: procedural images, bundled photos, user images, and the texture pool.

A texture is named by a key (``core.description.Texture.key``) from which any process rebuilds it:

* ``procedural://<family>/<seed>``: an image generated here (:func:`procedural_texture`) from the
  family (:data:`TEXTURE_FAMILIES`) and an integer seed, (256, 256, 3) uint8;
* an absolute path of an image file (PNG, JPEG, GIF, BMP), read with Pillow (:func:`load_texture`).

Texture sources of a recipe (:func:`texture_pool`):

* ``procedural://all`` (every family) or ``procedural://<family>``;
* ``bundled://skimage``: the sample images shipped inside scikit-image's wheel (``skimage/data``, no
  download): the grey material textures ``brick``, ``grass``, ``gravel`` (turned to RGB) and the colour
  photos ``astronaut``, ``chelsea``, ``coffee``, ``hubble_deep_field``, ``ihc``, ``motorcycle_left``,
  ``retina``, ``rocket`` (:data:`SKIMAGE_TEXTURES`; those missing from the installed version are skipped);
* ``bundled://pybullet_data``: every image file shipped in ``pybullet_data`` (whole tree, sorted) that
  Pillow opens as an RGB, RGBA or palette image of at least 32 x 32 pixels (grey height maps and
  tiny images are left out; byte-identical copies are kept once);
* user sources, resolved with :func:`gtforge.config.sources.resolve_source` (relative to the
  recipe's folder, absolute, ``pkg://``, globs): image files, and folders, whose images are
  collected **recursively** (every file with an image suffix below the folder, sorted by path).
  Each user source is one family, ``files:<source string>``.

Everything is sorted, so a pool and its draws depend only on the sources and the generator's state.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pybullet_data
import skimage
from PIL import Image
from skimage.color import hsv2rgb, rgb2hsv

from ..config.sources import IMAGE_SUFFIXES, TEXTURE_FAMILIES, resolve_source
from ..core.description import Texture

#: Stems of the images of ``skimage/data`` used by ``bundled://skimage`` (module docstring).
SKIMAGE_TEXTURES = ("brick", "grass", "gravel", "astronaut", "chelsea", "coffee", "hubble_deep_field", "ihc",
                    "motorcycle_left", "retina", "rocket")
#: Bundled texture sources.
BUNDLED_SOURCES = ("bundled://skimage", "bundled://pybullet_data")
#: Smallest side of a bundled pybullet_data image, pixels.
MIN_BUNDLED_SIDE = 32
#: Side of a procedural texture named by a ``procedural://`` key, pixels.
PROCEDURAL_SIZE = 256
_PROCEDURAL = "procedural://"


# --------------------------------------------------------------------------- procedural textures
def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """(..., 3) HSV in [0, 1] -> (..., 3) RGB in [0, 1] (skimage.color.hsv2rgb)."""
    hsv = np.asarray(hsv, dtype=np.float64)
    return hsv2rgb(hsv.reshape(1, -1, 3)).reshape(hsv.shape)


def _palette(rng: np.random.Generator, k: int, hue=None, sat=(0.15, 0.85), val=(0.15, 0.95)) -> np.ndarray:
    """(k, 3) float64 RGB colours in [0, 1], ordered dark to light: a random colour scheme (analogous,
    complementary or triadic hues around a base hue), saturations in ``sat``, values spread over ``val``."""
    if hue is not None:  # a constrained hue range (wood): close hues
        h = rng.uniform(*hue) + rng.uniform(-0.02, 0.02, k)
    else:
        h0, scheme = rng.random(), int(rng.integers(3))
        if scheme == 0:  # analogous
            h = h0 + rng.uniform(-0.07, 0.07, k)
        elif scheme == 1:  # complementary
            h = h0 + 0.5 * (np.arange(k) % 2) + rng.uniform(-0.03, 0.03, k)
        else:  # triadic
            h = h0 + np.arange(k) / 3.0 + rng.uniform(-0.03, 0.03, k)
    s = rng.uniform(*sat, k)
    lo = rng.uniform(val[0], val[0] + 0.4 * (val[1] - val[0]))
    hi = rng.uniform(lo + 0.35 * (val[1] - val[0]), val[1])
    v = np.sort(np.concatenate([[lo, hi], rng.uniform(lo, hi, max(k - 2, 0))]))[:k]
    return _hsv_to_rgb(np.stack([np.mod(h, 1.0), s, v], axis=-1))


def _ramp(t: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Map t (H, W) in [0, 1] through a piecewise-linear gradient of ``colours`` (k, 3) -> (H, W, 3)."""
    stops = np.linspace(0.0, 1.0, len(colours))
    return np.stack([np.interp(t, stops, colours[:, c]) for c in range(3)], axis=-1)


def _interp_weights(size: int, period: int):
    """Lattice indices (i0, i1) and weights (size,) interpolating ``period`` wrapping lattice values at
    ``size`` pixel centres with the smoothstep weight 3f^2 - 2f^3 (value noise, Perlin 1985)."""
    c = (np.arange(size) + 0.5) * (period / size)
    i0 = np.floor(c).astype(np.int64)
    f = c - i0
    return i0 % period, (i0 + 1) % period, f * f * (3.0 - 2.0 * f)


def _value_noise(rng: np.random.Generator, size: int, period_y: int, period_x: int) -> np.ndarray:
    """(size, size) tileable value noise in [0, 1] with the given lattice periods (cells per image)."""
    lattice = rng.random((period_y, period_x))
    y0, y1, fy = _interp_weights(size, period_y)
    x0, x1, fx = _interp_weights(size, period_x)
    rows = lattice[y0] + fy[:, None] * (lattice[y1] - lattice[y0])  # (size, period_x)
    return rows[:, x0] + fx[None, :] * (rows[:, x1] - rows[:, x0])


def _fbm(rng: np.random.Generator, size: int, base: int, octaves: int, gain: float = 0.5, stretch: int = 1,
         turbulence: bool = False) -> np.ndarray:
    """(size, size) fractional Brownian motion (sum of value-noise octaves, frequency x2, amplitude x gain),
    tileable, rescaled to [0, 1]. ``stretch`` divides the lattice frequency along x (grain along x);
    ``turbulence`` sums |2n - 1| (Perlin's turbulence) instead of n."""
    out = np.zeros((size, size))
    amp = 1.0
    for o in range(octaves):
        p = base * 2**o
        n = _value_noise(rng, size, p, max(p // stretch, 1))
        out += amp * (np.abs(2.0 * n - 1.0) if turbulence else n)
        amp *= gain
    lo, hi = out.min(), out.max()
    return (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)


def _grid(size: int, ss: int = 1):
    """Pixel-centre coordinates (y, x) in [0, 1), (size*ss, size*ss) each (``ss``: supersampling)."""
    c = (np.arange(size * ss) + 0.5) / (size * ss)
    return c[:, None], c[None, :]


def _downsample(img: np.ndarray, ss: int) -> np.ndarray:
    """Mean over ss x ss blocks (box-filter anti-aliasing of a supersampled image)."""
    if ss == 1:
        return img
    return sum(img[i::ss, j::ss] for i in range(ss) for j in range(ss)) / float(ss * ss)


def _noise_texture(rng, size):
    """Stone / stucco / cloud-like fBm through a 2-4 colour gradient; sometimes ridged."""
    t = _fbm(rng, size, base=int(rng.integers(2, 7)), octaves=6, gain=rng.uniform(0.45, 0.65))
    if rng.random() < 0.3:
        t = 1.0 - np.abs(2.0 * t - 1.0)  # ridged
    t = np.clip((t - 0.5) * rng.uniform(1.0, 1.8) + 0.5, 0, 1)
    return _ramp(t, _palette(rng, int(rng.integers(2, 5))))


def _marble_texture(rng, size):
    """Marble: |sin(2 pi (a x + b y) + k turbulence)| with sharp dark veins on a light base (Perlin 1985)."""
    y, x = _grid(size)
    a, b = int(rng.integers(1, 4)), int(rng.integers(-3, 4))
    turb = _fbm(rng, size, base=int(rng.integers(2, 5)), octaves=6, turbulence=True)
    phase = 2 * np.pi * (a * x + b * y) + rng.uniform(2.0, 6.0) * turb
    t = np.abs(np.sin(phase)) ** rng.uniform(0.25, 0.6)  # 0 on the veins, near 1 elsewhere
    base = _palette(rng, 3, sat=(0.02, 0.35), val=(0.1, 0.97))
    detail = _fbm(rng, size, base=8, octaves=4)
    t = np.clip(t * (0.85 + 0.15 * detail), 0, 1)
    return _ramp(t, base)


def _wood_texture(rng, size):
    """Wood: growth rings around a far-away trunk axis, disturbed by low-frequency noise, plus fine grain."""
    y, x = _grid(size)
    ang = rng.choice([0.0, np.pi / 2]) + rng.uniform(-0.08, 0.08)  # grain along x or y (as the fine grain)
    u = (x - 0.5) * np.cos(ang) + (y - 0.5) * np.sin(ang)  # along the grain
    v = -(x - 0.5) * np.sin(ang) + (y - 0.5) * np.cos(ang)  # across the grain
    cu, cv = rng.uniform(-0.5, 0.5), rng.uniform(0.6, 2.5) * rng.choice([-1, 1])
    r = np.hypot((u - cu) * rng.uniform(0.05, 0.25), v - cv)
    warp = _fbm(rng, size, base=3, octaves=4)
    rings = r * rng.uniform(8.0, 25.0) + rng.uniform(0.3, 1.2) * warp
    ring = np.mod(rings, 1.0) ** rng.uniform(1.5, 4.0)  # slow early wood, sharp late wood
    grain_y = _fbm(rng, size, base=32, octaves=3, stretch=16)  # fine streaks along x ...
    grain = grain_y if abs(np.cos(ang)) > abs(np.sin(ang)) else grain_y.T  # ... turned to the grain
    t = np.clip(0.75 * (1.0 - ring) + 0.25 * grain, 0, 1)
    if rng.random() < 0.8:  # natural wood hues
        colours = _palette(rng, 3, hue=(0.03, 0.11), sat=(0.35, 0.8), val=(0.15, 0.9))
    else:  # stained / painted
        colours = _palette(rng, 3, sat=(0.3, 0.8), val=(0.15, 0.9))
    return _ramp(t, colours)


def _stripes_texture(rng, size, ss=2):
    """Parallel bands of 2-4 colours with random widths, count and direction (tileable)."""
    y, x = _grid(size, ss)
    a, b = [(1, 0), (0, 1), (1, 1), (1, -1), (2, 1), (1, 2)][int(rng.integers(6))]
    n = int(rng.integers(2, 12))
    s = np.mod((a * x + b * y) * n, 1.0)
    k = int(rng.integers(2, 5))
    widths = rng.uniform(0.3, 1.0, k)
    cuts = np.cumsum(widths / widths.sum())[:-1]
    band = np.searchsorted(cuts, s)
    colours = _palette(rng, k)[rng.permutation(k)]
    return _downsample(colours.astype(np.float32)[band], ss)


def _checker_texture(rng, size, ss=2):
    """Checkerboard (n x n cells, 2 colours), sometimes with grout lines (tiles); per-cell tint variation."""
    n = int(rng.choice([2, 4, 6, 8, 10, 12, 16]))
    colours = _palette(rng, 2)
    tint = 1.0 + rng.uniform(0.0, 0.12) * (rng.random((n, n)) - 0.5)
    grout_w = rng.uniform(0.03, 0.1) if rng.random() < 0.5 else 0.0
    grout_colour = _palette(rng, 1, sat=(0.0, 0.2), val=(0.3, 0.9))[0]
    c = (np.arange(size * ss) + 0.5) / (size * ss) * n
    cell = np.floor(c).astype(np.int64)
    frac = c - cell
    odd = _downsample(np.mod(cell[:, None] + cell[None, :], 2).astype(np.float32)[..., None], ss)
    img = colours[0] + odd * (colours[1] - colours[0])
    idx = np.arange(size) * n // size  # cell of each pixel
    img = img * tint[idx[:, None], idx[None, :]][..., None]
    if grout_w > 0:
        line = (np.minimum(frac, 1 - frac) < grout_w / 2).astype(np.float32)
        grout = _downsample(np.maximum(line[:, None], line[None, :])[..., None], ss)
        img = img + grout * (grout_colour - img)
    return img


def _dots_texture(rng, size, ss=2):
    """Polka dots on a square or staggered grid (n x n cells), random radius and colours (tileable)."""
    y, x = _grid(size, ss)
    n = int(rng.choice([3, 4, 6, 8, 10, 12]))
    gy = y * n
    row = np.floor(gy)
    gx = x * n + (0.5 * np.mod(row, 2) if rng.random() < 0.5 else 0.0)  # staggered rows (n even: tileable)
    dy, dx = np.mod(gy, 1.0) - 0.5, np.mod(gx, 1.0) - 0.5
    inside = _downsample((np.hypot(dx, dy) < rng.uniform(0.15, 0.42)).astype(np.float32)[..., None], ss)
    colours = _palette(rng, 2)[rng.permutation(2)]
    return colours[0] + inside * (colours[1] - colours[0])


_GENERATORS = {"noise": _noise_texture, "marble": _marble_texture, "wood": _wood_texture,
               "stripes": _stripes_texture, "checker": _checker_texture, "dots": _dots_texture}


@functools.lru_cache(maxsize=128)
def _procedural(family: str, seed: int, size: int) -> np.ndarray:
    rng = np.random.default_rng([seed, TEXTURE_FAMILIES.index(family)])
    img = _GENERATORS[family](rng, size)
    # a faint multiplicative grain so flat areas are not perfectly flat (surfaces are never spotless)
    grain = _fbm(rng, size, base=16, octaves=3)
    img = img * (1.0 + rng.uniform(0.03, 0.1) * (grain - 0.5))[..., None]
    out = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    out.setflags(write=False)
    return out


def procedural_texture(family: str, seed: int, size: int = PROCEDURAL_SIZE) -> np.ndarray:
    """A procedural material image: fBm noise, marble, wood, stripes, checker or dots, in a random palette.

    The family gives the pattern; the seed draws everything else (palette, scales, directions) from
    ``numpy.random.default_rng([seed, family index])``; no draw depends on ``size``, so a smaller size is
    the same image at a lower resolution. Patterns: value-noise fBm (Perlin, "An image synthesizer",
    SIGGRAPH 1985; Ebert et al., "Texturing and Modeling", 2003) through a colour gradient (noise);
    ``|sin(2 pi (a x + b y) + k * turbulence)|`` (marble); growth rings around a distant axis warped by
    noise, with fine grain (wood); bands, checker cells (sometimes with grout) and dots (2x supersampled
    for anti-aliasing). Every pattern but wood tiles seamlessly. Cached per (family, seed, size).

    Parameters
    ----------
    family : str
        One of :data:`TEXTURE_FAMILIES`.
    seed : int
        >= 0.
    size : int
        Side of the square image, pixels (>= 8; default 256).

    Returns
    -------
    image : (size, size, 3) uint8
        sRGB; read-only (cached), copy before changing it.

    Raises
    ------
    ValueError
        For an unknown family, a negative seed or a size below 8.
    """
    if family not in TEXTURE_FAMILIES:
        raise ValueError(f"unknown procedural texture family {family!r}; known: {', '.join(TEXTURE_FAMILIES)}")
    if int(seed) < 0:
        raise ValueError(f"procedural texture seed must be >= 0, got {seed}")
    if int(size) < 8:
        raise ValueError(f"procedural texture size must be >= 8, got {size}")
    return _procedural(family, int(seed), int(size))


# --------------------------------------------------------------------------- image files
def _parse_procedural(key: str) -> tuple[str, int]:
    """(family, seed) of a ``procedural://<family>/<seed>`` key; ValueError naming the key otherwise."""
    family, _, seed = key[len(_PROCEDURAL):].partition("/")
    if family not in TEXTURE_FAMILIES or not seed.isdigit():
        raise ValueError(f"bad procedural texture key {key!r}: expected procedural://<family>/<seed> with family "
                         f"in {', '.join(TEXTURE_FAMILIES)} and an integer seed >= 0")
    return family, int(seed)


@functools.lru_cache(maxsize=64)
def _load(key: str, max_size: int) -> np.ndarray:
    if key.startswith(_PROCEDURAL):
        family, seed = _parse_procedural(key)
        return procedural_texture(family, seed, min(PROCEDURAL_SIZE, max_size))
    try:
        with Image.open(key) as im:
            im.seek(0)
            im = im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"cannot read texture image {key!r}: {e}") from None
    w, h = im.size
    scale = max_size / max(w, h)
    if scale < 1.0:
        im = im.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    out = np.asarray(im, dtype=np.uint8).copy()
    out.setflags(write=False)
    return out


def load_texture(key: str, max_size: int = 512) -> np.ndarray:
    """The image of a texture key, as RGB, at most ``max_size`` pixels on its longer side.

    Parameters
    ----------
    key : str
        ``procedural://<family>/<seed>`` (generated at min(256, max_size) pixels, see
        :func:`procedural_texture`), or an image file path (Pillow: first frame, converted to RGB,
        alpha dropped, downscaled with a Lanczos filter so that the longer side is <= ``max_size``;
        never upscaled).
    max_size : int
        Largest side, pixels (>= 8).

    Returns
    -------
    image : (H, W, 3) uint8
        sRGB, read-only (cached per (key, max_size), 64 entries); copy before changing it.

    Raises
    ------
    ValueError
        Naming the key, for a file Pillow cannot read, or a malformed procedural key.
    """
    if int(max_size) < 8:
        raise ValueError(f"max_size must be >= 8, got {max_size}")
    return _load(str(key), int(max_size))


# --------------------------------------------------------------------------- sources and pool
def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


@functools.lru_cache(maxsize=1)
def _skimage_images() -> tuple[str, ...]:
    """Absolute paths of the :data:`SKIMAGE_TEXTURES` present in the installed scikit-image."""
    folder = Path(skimage.__file__).resolve().parent / "data"
    found = []
    for stem in SKIMAGE_TEXTURES:
        hits = sorted(p for p in folder.glob(f"{stem}.*") if _is_image_name(p))
        found += [str(hits[0])] if hits else []
    return tuple(found)


@functools.lru_cache(maxsize=1)
def _pybullet_images() -> tuple[str, ...]:
    """Absolute paths of the RGB(A)/palette images of at least 32 x 32 pixels shipped in pybullet_data, without
    byte-identical copies."""
    root = Path(pybullet_data.getDataPath()).resolve()
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not _is_image_name(path):
                continue
            try:
                with Image.open(path) as im:
                    ok = im.mode in ("RGB", "RGBA", "P") and min(im.size) >= MIN_BUNDLED_SIDE
            except (OSError, ValueError):
                ok = False
            if ok:
                found.append(str(path))
    unique = {}  # byte-identical copies (e.g. racecar/meshes/checker_blue.png) are kept once, first path
    for path in sorted(found):
        unique.setdefault(hashlib.sha256(Path(path).read_bytes()).hexdigest(), path)
    return tuple(sorted(unique.values()))


@functools.lru_cache(maxsize=256)
def _user_images(source: str, base_dir: str) -> tuple[str, ...]:
    """Image files of a user source (files, folders searched recursively, globs, pkg://), sorted."""
    found = set()
    for path in resolve_source(source, base_dir):
        if path.is_dir():
            found.update(str(p) for p in path.rglob("*") if p.is_file() and _is_image_name(p))
        elif path.is_file() and _is_image_name(path):
            found.add(str(path))
    return tuple(sorted(found))


def _source_families(source: str, base_dir) -> list[tuple[str, tuple[str, ...] | None]]:
    """[(family, member keys or None for procedural)] of one source; ValueError naming it if it has no image."""
    if source.startswith(_PROCEDURAL):
        name = source[len(_PROCEDURAL):]
        if name == "all":
            return [(f"procedural/{f}", None) for f in TEXTURE_FAMILIES]
        if name in TEXTURE_FAMILIES:
            return [(f"procedural/{name}", None)]
        raise ValueError(f"texture source {source!r}: unknown procedural family; use procedural://all or "
                         f"procedural://<family> with family in {', '.join(TEXTURE_FAMILIES)}")
    if source.startswith("bundled://"):
        lister = {"bundled://skimage": _skimage_images, "bundled://pybullet_data": _pybullet_images}.get(source)
        if lister is None:
            raise ValueError(f"texture source {source!r}: unknown bundled set; known: {', '.join(BUNDLED_SOURCES)}")
        try:
            members = lister()
        except ImportError as e:
            raise ValueError(f"texture source {source!r}: {e}") from None
        family = source[len("bundled://"):]
    else:
        try:
            members = _user_images(source, str(base_dir))
        except ValueError as e:
            raise ValueError(f"texture source {source!r}: {e}") from None
        family = f"files:{source}"
    if not members:
        raise ValueError(f"texture source {source!r} holds no image ({', '.join(IMAGE_SUFFIXES)})")
    return [(family, members)]


@dataclass(frozen=True)
class TexturePool:
    """Textures to draw from, grouped in families (built by :func:`texture_pool`; picklable).

    Attributes
    ----------
    members : tuple of (family, keys)
        Families in the order of their first source; ``keys`` is a sorted tuple of absolute image
        paths, or None for a procedural family (any seed).
    """

    members: tuple[tuple[str, tuple[str, ...] | None], ...]

    @property
    def families(self) -> list[str]:
        """Family names (``procedural/<family>``, ``skimage``, ``pybullet_data``, ``files:<source>``)."""
        return [f for f, _ in self.members]

    def keys(self, family: str) -> tuple[str, ...] | None:
        """Image keys of a file family, or None for a procedural one. KeyError for an unknown family."""
        return dict(self.members)[family]

    def draw(self, rng: np.random.Generator) -> Texture:
        """One texture: a family uniformly, then a member uniformly (procedural: a seed in [0, 2^31)).

        Parameters
        ----------
        rng : numpy.random.Generator
            The scene's appearance stream; exactly two integer draws are taken from it.

        Returns
        -------
        Texture
            ``key`` an absolute image path or ``procedural://<family>/<seed>``; ``family`` as in
            :attr:`families`.
        """
        family, keys = self.members[int(rng.integers(len(self.members)))]
        if keys is None:
            seed = int(rng.integers(2**31))
            return Texture(key=f"{_PROCEDURAL}{family[len('procedural/'):]}/{seed}", family=family)
        return Texture(key=keys[int(rng.integers(len(keys)))], family=family)


def texture_pool(sources: list[str], base_dir: str | os.PathLike) -> TexturePool:
    """The texture pool of a list of recipe sources (module docstring for the forms a source takes).

    Parameters
    ----------
    sources : list of str
        ``procedural://all``, ``procedural://<family>``, ``bundled://skimage``, ``bundled://pybullet_data``,
        or user image files, folders (searched recursively), globs, ``pkg://`` paths.
    base_dir : str or PathLike
        Folder that relative user paths are relative to (the recipe's folder).

    Returns
    -------
    TexturePool
        One family per procedural family, bundled set or user source; a family listed twice is kept once.

    Raises
    ------
    ValueError
        Naming the source, when it is unknown, missing or holds no image; or when ``sources`` is empty.
    """
    if not sources:
        raise ValueError("no texture sources given")
    members: dict[str, tuple[str, ...] | None] = {}
    for source in sources:
        for family, keys in _source_families(str(source), base_dir):
            members.setdefault(family, keys)
    return TexturePool(members=tuple(members.items()))


# --------------------------------------------------------------------------- colour and mapping
def jitter_hsv(rgb: np.ndarray, hsv) -> np.ndarray:
    """Shift the hue and scale the saturation and value of colours (HSV as OpenCV's ``cvtColor`` and
    scikit-image's ``rgb2hsv`` define it: hexcone model, Smith 1978). uint8 images go through OpenCV in
    float32 throughout (a 1024 x 1024 texture in 25 ms, about 20x faster than scikit-image, within 1 of it
    after rounding); float colours through scikit-image in float64.

    Parameters
    ----------
    rgb : (..., 3) uint8, or float in [0, 1]
        sRGB colours or an image.
    hsv : (3,) float
        (hue shift in turns, added modulo 1; saturation factor; value factor); saturation and value
        are clipped to [0, 1] after scaling. (0, 1, 1) returns ``rgb`` itself, unchanged.

    Returns
    -------
    out : same shape and dtype as ``rgb``
        uint8 input: rounded to the nearest integer.
    """
    dh, fs, fv = (float(v) for v in hsv)
    if dh % 1.0 == 0.0 and fs == 1.0 and fv == 1.0:
        return rgb
    arr = np.asarray(rgb)
    if arr.dtype == np.uint8:
        f = np.ascontiguousarray(arr.reshape(1, -1, 3)).astype(np.float32) * np.float32(1.0 / 255.0)
        hue, sat, val = cv2.split(cv2.cvtColor(f, cv2.COLOR_RGB2HSV))  # H degrees, S, V in [0, 1]
        hue += np.float32(dh * 360.0)
        np.mod(hue, np.float32(360.0), out=hue)
        sat *= np.float32(fs)
        np.clip(sat, 0.0, 1.0, out=sat)
        val *= np.float32(fv)
        np.clip(val, 0.0, 1.0, out=val)
        out = cv2.cvtColor(cv2.merge([hue, sat, val]), cv2.COLOR_HSV2RGB)  # float32 in [0, 1]
        return cv2.convertScaleAbs(out, alpha=255.0).reshape(arr.shape)  # rounded to nearest, saturated

    h = rgb2hsv(arr.astype(np.float64).reshape(1, -1, 3))
    h[..., 0] = np.mod(h[..., 0] + dh, 1.0)
    h[..., 1] = np.clip(h[..., 1] * fs, 0.0, 1.0)
    h[..., 2] = np.clip(h[..., 2] * fv, 0.0, 1.0)
    out = hsv2rgb(h).reshape(arr.shape)
    return out.astype(arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64)


#: Box projection per dominant normal axis and sign: (index, sign) of the u and v coordinates, chosen so
#: that, seen from outside the face, u points right and v up (v along +z on side faces), never mirrored.
_BOX_AXES = {
    (0, 1): ((1, 1.0), (2, 1.0)), (0, -1): ((1, -1.0), (2, 1.0)),
    (1, 1): ((0, -1.0), (2, 1.0)), (1, -1): ((0, 1.0), (2, 1.0)),
    (2, 1): ((0, 1.0), (1, 1.0)), (2, -1): ((0, 1.0), (1, -1.0)),
}


def box_uv(vertices: np.ndarray, faces: np.ndarray, tile: float):
    """Box (tri-planar, one plane per face) texture coordinates.

    Each face is projected on the coordinate plane orthogonal to the dominant axis of its normal
    (largest |component| of (v1 - v0) x (v2 - v0); ties and degenerate faces: the first axis, +).
    Projection (u, v) per axis and normal sign: +x (y, z), -x (-y, z), +y (-x, z), -y (x, z),
    +z (x, y), -z (x, -y): seen from outside the face, u points right and v up, so images are not
    mirrored. uv = projected coordinates / ``tile`` (one image repeat per ``tile`` metres). Every face
    gets its own three vertices, so a face never shares a uv with a neighbour on another plane.

    Parameters
    ----------
    vertices : (n, 3) float
        Positions, metres (any frame; the projection uses its axes).
    faces : (m, 3) int
        Vertex indices, counter-clockwise seen from outside.
    tile : float
        Metres per texture repeat, > 0.

    Returns
    -------
    vertices : (3m, 3) float64
        ``vertices[faces].reshape(-1, 3)``.
    faces : (m, 3) int64
        ``arange(3m).reshape(m, 3)``.
    uv : (3m, 2) float64
        Texture coordinates (repeat: wrap).

    Raises
    ------
    ValueError
        If ``tile`` <= 0 or the shapes are wrong.
    """
    if not tile > 0:
        raise ValueError(f"tile must be > 0 metres, got {tile}")
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"expected vertices (n, 3) and faces (m, 3), got {vertices.shape} and {faces.shape}")
    tri = vertices[faces]  # (m, 3, 3)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    axis = np.argmax(np.abs(normal), axis=1)
    sign = np.where(normal[np.arange(len(faces)), axis] < 0, -1, 1)
    uv = np.zeros((len(faces), 3, 2))
    for (ax, sg), ((iu, su), (iv, sv)) in _BOX_AXES.items():
        sel = (axis == ax) & (sign == sg)
        uv[sel, :, 0] = su * tri[sel][:, :, iu]
        uv[sel, :, 1] = sv * tri[sel][:, :, iv]
    m = len(faces)
    return tri.reshape(-1, 3), np.arange(3 * m, dtype=np.int64).reshape(m, 3), uv.reshape(-1, 2) / float(tile)
