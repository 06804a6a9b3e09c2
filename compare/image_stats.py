"""Image statistics of an image set: measured on the pixels, so every set has them (labelled or not).

One value per image (:func:`image_statistics`), each from a plain function of an (H, W, 3) uint8 RGB image
defined below with its source. Grey is the ITU-R BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B`` (what
OpenCV's ``COLOR_RGB2GRAY`` and PIL's ``"L"`` compute, and so what Unity's Dataset Insights uses, through
``cv2.cvtColor`` and ``PIL.Image.convert("L")``), in grey levels 0..255. Statistics that depend on the
resolution (sharpness, noise, edge density) are per pixel at the analysis size: every image of a set is
resized to one size first (the set's most common, or the ``size`` asked for).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image
from skimage.color import rgb2lab

from .imagesets import DECODE_ERRORS, CompareInputError, ImageSet, common_size, read_rgb, subsample
from .stats import Statistic

#: BT.601 luma weights (R, G, B).
LUMA = np.array([0.299, 0.587, 0.114])
#: Bins of the pooled pixel histograms (over [0, 1]).
HIST_BINS = 32
#: Canny hysteresis thresholds on OpenCV's Sobel gradient magnitude (L2) after a Gaussian blur of sigma 1 px.
CANNY_SIGMA, CANNY_LOW, CANNY_HIGH = 1.0, 50, 100
#: Immerkaer's noise mask: the difference of two Laplacians, zero on any plane (Immerkaer 1996, eq. 2).
IMMERKAER_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
#: The IJG (libjpeg) standard quantisation tables, natural (row-major) order (ITU-T T.81 Annex K, K.1 and K.2).
IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)
IJG_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32, dtype=np.float64)
#: JPEG's zigzag scan: ZIGZAG[k] = the natural index of the k-th coefficient in zigzag order (T.81 Figure 5).
ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14,
    21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53,
    60, 61, 54, 47, 55, 62, 63])


# ----------------------------------------------------------------------------------------------- per image

def luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float64 BT.601 luma in grey levels 0..255 of an (H, W, 3) uint8 RGB image (not rounded)."""
    return np.asarray(rgb, dtype=np.float64) @ LUMA


def grey_u8(rgb: np.ndarray) -> np.ndarray:
    """(H, W) uint8 grey as OpenCV computes it (``cv2.COLOR_RGB2GRAY``: BT.601, rounded)."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def brightness(rgb: np.ndarray) -> float:
    """Mean BT.601 luma over 255, in [0, 1]: 0 black, 1 white."""
    return float(luma(rgb).mean() / 255.0)


def contrast(rgb: np.ndarray) -> float:
    """RMS contrast: the standard deviation of the luma over 255, in [0, 0.5] (Peli 1990, "Contrast in complex
    images", JOSA A 7(10): RMS contrast of intensities normalised to [0, 1])."""
    return float(luma(rgb).std() / 255.0)


def saturation_map(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float64 HSV saturation ``(max - min) / max`` of R, G, B (0 where max = 0), in [0, 1] (Smith 1978,
    the HSV model; OpenCV's and PIL's definition)."""
    r, g, b = cv2.split(np.ascontiguousarray(rgb, dtype=np.uint8))
    mx = cv2.max(cv2.max(r, g), b).astype(np.float64)
    mn = cv2.min(cv2.min(r, g), b).astype(np.float64)
    return np.divide(mx - mn, mx, out=np.zeros_like(mx), where=mx > 0)


def saturation(rgb: np.ndarray) -> float:
    """Mean HSV saturation (:func:`saturation_map`), in [0, 1]: 0 grey, 1 pure colours."""
    return float(saturation_map(rgb).mean())


def lab_mean(rgb: np.ndarray) -> tuple[float, float, float]:
    """Mean CIELAB (L*, a*, b*) of the image: sRGB -> CIE 1976 L*a*b*, D65 white (``skimage.color.rgb2lab``).

    Averaged over every second pixel in each direction (the pixels themselves, not a resampled image, so the
    mean is an unbiased estimate; 4x faster). L* in [0, 100], a* and b* about [-100, 100].
    """
    lab = rgb2lab(np.asarray(rgb)[::2, ::2])
    m = lab.reshape(-1, 3).mean(axis=0)
    return float(m[0]), float(m[1]), float(m[2])


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image, grey levels^2 (Pech-Pacheco et al. 2000, "Diatom
    autofocusing in brightfield microscopy", ICPR; exactly Unity Dataset Insights' ``get_img_var_laplacian``:
    ``cv2.Laplacian(grey, cv2.CV_64F).var()`` on OpenCV's uint8 grey). Higher = sharper (or noisier)."""
    return float(cv2.Laplacian(grey_u8(rgb), cv2.CV_64F).var())


def noise_sigma(rgb: np.ndarray) -> float:
    """Standard deviation of additive white noise in the grey image, grey levels (Immerkaer 1996, "Fast noise
    variance estimation", CVIU 64(2): 300-302, eq. 3).

    ``sigma = sqrt(pi / 2) / (6 (W - 2)(H - 2)) * sum |Y * N|`` with N = [[1, -2, 1], [-2, 4, -2], [1, -2, 1]]
    over the interior pixels of the (unrounded) luma Y. N removes any plane, so smooth shading leaves no trace;
    strong texture and edges raise the estimate a little (the paper's limitation). Noise independent per
    channel with sigma s shows as ``s * |LUMA| = 0.67 s`` in grey.
    """
    y = luma(rgb)
    if y.shape[0] < 3 or y.shape[1] < 3:
        return float("nan")
    conv = cv2.filter2D(y, cv2.CV_64F, IMMERKAER_MASK, borderType=cv2.BORDER_REFLECT)[1:-1, 1:-1]
    return float(math.sqrt(math.pi / 2.0) * np.abs(conv).sum() / (6.0 * conv.size))


def radial_power_spectrum(grey: np.ndarray, bins: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of a grey image, in log-spaced frequency bands.

    The mean is removed and a Hann window applied (so the image border's discontinuity adds no spurious
    1/f^2 cross; van der Schaaf & van Hateren 1996), then ``P = |FFT|^2 / (H W)`` is averaged over each band of
    radial frequency ``f = sqrt(fx^2 + fy^2)`` (cycles per pixel) between ``4 / min(H, W)`` (below it the
    window's main lobe dominates) and 0.5 (Nyquist). Unity Dataset Insights' ``get_psd1d`` sums the spectrum over
    integer-radius rings instead (a sum per ring has a slope one higher).

    Returns
    -------
    f : (k,) float64
        Geometric-mean frequency of each non-empty band, cycles/pixel.
    power : (k,) float64
        Mean power in the band (grey levels^2).
    """
    g = np.asarray(grey, dtype=np.float64)
    h, w = g.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    spec = np.abs(np.fft.rfft2((g - g.mean()) * win)) ** 2 / (h * w)
    fy = np.abs(np.fft.fftfreq(h))[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.hypot(fx, fy)
    edges = np.geomspace(4.0 / min(h, w), 0.5, bins + 1)
    idx = np.digitize(f.ravel(), edges) - 1
    ok = (idx >= 0) & (idx < bins)
    counts = np.bincount(idx[ok], minlength=bins)
    psum = np.bincount(idx[ok], weights=spec.ravel()[ok], minlength=bins)
    lsum = np.bincount(idx[ok], weights=np.log(f.ravel()[ok]), minlength=bins)
    keep = counts > 0
    return np.exp(lsum[keep] / counts[keep]), psum[keep] / counts[keep]


def spectral_slope(rgb: np.ndarray) -> float:
    """Slope of the radially averaged power spectrum in log-log axes (least squares over the bands of
    :func:`radial_power_spectrum`; each band an equal share of octaves), unitless.

    Natural images have P(f) ~ 1/f^alpha with alpha about 2, i.e. a slope of about -2 (van der Schaaf & van
    Hateren 1996, "Modelling the power spectra of natural images", Vision Research 36(17); Torralba & Oliva
    2003, "Statistics of natural image categories", Network 14(3)). Steeper (more negative): smoother images,
    fewer fine details; flatter: more fine texture, noise or aliasing. NaN for a uniform image (no spectrum).
    """
    f, p = radial_power_spectrum(luma(rgb))
    good = p > 0
    if good.sum() < 3:
        return float("nan")
    slope, _ = np.polyfit(np.log10(f[good]), np.log10(p[good]), 1)
    return float(slope)


def edge_density(rgb: np.ndarray) -> float:
    """Share of pixels on an edge, in [0, 1]: Canny (1986) on OpenCV's grey after a Gaussian blur of sigma 1 px,
    hysteresis thresholds 50 / 100 on the L2 Sobel gradient magnitude (``cv2.Canny``). A sharp step of about 16
    grey levels passes the low threshold and one of about 31 the high one."""
    blurred = cv2.GaussianBlur(grey_u8(rgb), (0, 0), CANNY_SIGMA)
    edges = cv2.Canny(blurred, CANNY_LOW, CANNY_HIGH, L2gradient=True)
    return float(np.count_nonzero(edges) / edges.size)


def ijg_table(quality: int, base: np.ndarray = IJG_LUMA) -> np.ndarray:
    """The quantisation table (64,) float64, natural order, that libjpeg writes for ``quality`` 1..100
    (``jpeg_quality_scaling`` and ``jpeg_add_quant_table`` of libjpeg's jcparam.c, baseline: clamped to 1..255)."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    return np.clip(np.floor((base * scale + 50) / 100), 1, 255)


def jpeg_quality(path) -> int | None:
    """Estimated IJG quality (1..100) of a JPEG file, from its quantisation tables; None when the file is not
    a JPEG.

    The file's luminance table (and chrominance table, when present) is compared with the IJG tables of every
    quality (:func:`ijg_table`); the quality with the smallest summed absolute difference wins (exact for files
    written by libjpeg, PIL and OpenCV; the nearest IJG quality for cameras' own tables). PIL's
    ``Image.quantization`` gives the tables (natural order in current Pillow; zigzag order is tried too).

    Raises
    ------
    OSError, PIL.UnidentifiedImageError (any of ``compare.imagesets.DECODE_ERRORS``)
        The file cannot be read.
    """
    with Image.open(path) as im:
        if im.format != "JPEG":
            return None
        tables = getattr(im, "quantization", None) or {}
    if 0 not in tables:
        return None
    file_tabs = [np.asarray(tables[k], dtype=np.float64) for k in (0, 1) if k in tables and len(tables[k]) == 64]
    bases = [IJG_LUMA, IJG_CHROMA][:len(file_tabs)]
    best, best_err = None, math.inf
    for q in range(1, 101):
        refs = [ijg_table(q, b) for b in bases]
        for order in (slice(None), ZIGZAG):  # file tables in natural order, or in zigzag order
            err = sum(np.abs(t - r[order]).sum() for t, r in zip(file_tabs, refs))
            if err < best_err:
                best, best_err = q, err
    return best


# ----------------------------------------------------------------------------------------------- the set

_DESCRIPTIONS = {
    "brightness": ("", "Mean luma (ITU-R BT.601, Y = 0.299 R + 0.587 G + 0.114 B) over 255, per image: 0 black, "
                   "1 white. The histogram pools every pixel's luma."),
    "contrast": ("", "RMS contrast: the standard deviation of the luma over 255, per image (Peli 1990, JOSA A)."),
    "saturation": ("", "Mean HSV saturation (max - min) / max of R, G, B per image: 0 grey, 1 pure colour. The "
                   "histogram pools every pixel's saturation."),
    "lab_l": ("", "Mean CIELAB lightness L* per image (sRGB -> L*a*b*, D65; skimage.color.rgb2lab), 0..100."),
    "lab_a": ("", "Mean CIELAB a* per image: negative green, positive red (skimage.color.rgb2lab)."),
    "lab_b": ("", "Mean CIELAB b* per image: negative blue, positive yellow (skimage.color.rgb2lab)."),
    "sharpness": ("grey levels^2", "Variance of the Laplacian of the grey image (Pech-Pacheco et al. 2000; Unity "
                  "Dataset Insights' get_img_var_laplacian): higher is sharper, or noisier."),
    "noise_sigma": ("grey levels", "Standard deviation of additive white noise, estimated from the grey image "
                    "with Immerkaer's mask (Immerkaer 1996, 'Fast noise variance estimation', CVIU)."),
    "spectral_slope": ("", "Slope of the radially averaged power spectrum in log-log axes (Hann window; bands "
                       "from 4/min(H, W) to 0.5 cycles/pixel). Natural images: about -2 (van der Schaaf & van "
                       "Hateren 1996; Torralba & Oliva 2003); Unity Dataset Insights plots the same spectrum "
                       "(get_psd1d). Steeper: smoother; flatter: finer texture or noise."),
    "edge_density": ("", "Share of pixels on a Canny edge (Gaussian blur sigma 1 px, thresholds 50/100 on the "
                     "L2 Sobel gradient magnitude; cv2.Canny)."),
    "jpeg_quality": ("", "JPEG quality estimated from the file's quantisation tables: the libjpeg "
                     "(IJG) quality 1..100 whose tables are closest. JPEG files only."),
    "file_format": ("", "File format of each image (PIL's name: JPEG, PNG, ...); anything but JPEG is 'not "
                    "JPEG' for the quality estimate."),
}
_WORDS = {
    "brightness": ("brighter", "darker"), "contrast": ("higher in contrast", "lower in contrast"),
    "saturation": ("more saturated", "less saturated"), "lab_l": ("lighter (L*)", "darker (L*)"),
    "lab_a": ("redder (a*)", "greener (a*)"), "lab_b": ("yellower (b*)", "bluer (b*)"),
    "sharpness": ("sharper", "blurrier"), "noise_sigma": ("noisier", "cleaner"),
    "spectral_slope": ("richer in fine detail (flatter spectrum)", "smoother (steeper spectrum)"),
    "edge_density": ("busier (more edges)", "plainer (fewer edges)"),
    "jpeg_quality": ("less compressed", "more compressed"),
}
_TITLES = {"lab_l": "CIELAB L*", "lab_a": "CIELAB a*", "lab_b": "CIELAB b*", "noise_sigma": "noise level",
           "jpeg_quality": "JPEG quality", "edge_density": "edge density", "spectral_slope": "spectral slope",
           "file_format": "file format"}
_SCALARS = ("brightness", "contrast", "saturation", "lab_l", "lab_a", "lab_b", "sharpness", "noise_sigma",
            "spectral_slope", "edge_density")


def _file_format(path) -> str:
    try:
        with Image.open(path) as im:
            return str(im.format or "unknown")
    except DECODE_ERRORS:
        return "unreadable"


def image_statistics(image_set: ImageSet, *, max_images: int | None = 200, seed: int = 0,
                     size: tuple[int, int] | None = None) -> dict[str, Statistic]:
    """The image statistics of (a seeded subsample of) a set, one value per image.

    Parameters
    ----------
    image_set : ImageSet
        Any set (labels are not used).
    max_images : int or None
        Measure a seeded subsample of this many images (``imagesets.subsample``); None: all.
    seed : int
        Seed of the subsample.
    size : (w, h) or None
        Resize every image to this size first; None: the subsample's most common size (images of another size
        are resized to it; ``ImageSet.notes`` says so).

    Returns
    -------
    dict name -> Statistic (group ``"image"``)
        ``brightness``, ``contrast``, ``saturation`` (with pooled pixel histograms over [0, 1]), ``lab_l``,
        ``lab_a``, ``lab_b``, ``sharpness``, ``noise_sigma``, ``spectral_slope``, ``edge_density`` (scalars),
        ``jpeg_quality`` (scalar, only when some images are JPEG files: over those) and ``file_format``
        (categorical). See each function above for the definition and its source.

    Raises
    ------
    CompareInputError
        An image cannot be read (naming it) or the set is empty.
    """
    records = [image_set.records[i] for i in subsample(len(image_set.records), max_images, seed)]
    if not records:
        raise CompareInputError(f"{image_set.root}: no images")
    size = tuple(size) if size is not None else common_size(records)
    vals: dict[str, list] = {k: [] for k in _SCALARS}
    quality, formats = [], []
    hist_b = np.zeros(HIST_BINS)
    hist_s = np.zeros(HIST_BINS)
    for rec in records:
        rgb = read_rgb(rec, size)
        y = luma(rgb)
        sat = saturation_map(rgb)
        vals["brightness"].append(y.mean() / 255.0)
        vals["contrast"].append(y.std() / 255.0)
        vals["saturation"].append(sat.mean())
        hist_b += np.bincount(np.minimum((y / 255.0 * HIST_BINS).astype(np.int64), HIST_BINS - 1).ravel(),
                              minlength=HIST_BINS)
        hist_s += np.bincount(np.minimum((sat * HIST_BINS).astype(np.int64), HIST_BINS - 1).ravel(),
                              minlength=HIST_BINS)
        lab = lab_mean(rgb)
        vals["lab_l"].append(lab[0])
        vals["lab_a"].append(lab[1])
        vals["lab_b"].append(lab[2])
        vals["sharpness"].append(sharpness(rgb))
        vals["noise_sigma"].append(noise_sigma(rgb))
        vals["spectral_slope"].append(spectral_slope(rgb))
        vals["edge_density"].append(edge_density(rgb))
        try:
            q = jpeg_quality(rec.path)
        except DECODE_ERRORS as e:
            raise CompareInputError(f"{rec.path}: not a readable image ({e})") from None
        if q is not None:
            quality.append(float(q))
        formats.append(_file_format(rec.path))
    edges = np.linspace(0.0, 1.0, HIST_BINS + 1)
    out: dict[str, Statistic] = {}
    for name in _SCALARS:
        v = np.asarray(vals[name], dtype=np.float64)
        unit, desc = _DESCRIPTIONS[name]
        extra = {}
        if name in ("brightness", "saturation"):
            h = hist_b if name == "brightness" else hist_s
            extra = {"histogram": h / h.sum(), "bin_edges": edges}
        dropped = int(np.count_nonzero(~np.isfinite(v)))
        if dropped:
            desc += f" {dropped} uniform image(s) without a value left out."
        out[name] = Statistic(name, "image", "scalar", v[np.isfinite(v)], unit,
                              desc + f" Measured at {size[0]}x{size[1]}.", "image", *_WORDS[name], **extra,
                              title=_TITLES.get(name, ""))
    if quality:
        unit, desc = _DESCRIPTIONS["jpeg_quality"]
        out["jpeg_quality"] = Statistic("jpeg_quality", "image", "scalar", np.asarray(quality), unit,
                                        desc + f" {len(quality)} of {len(records)} images are JPEG.", "JPEG image",
                                        *_WORDS["jpeg_quality"], title=_TITLES["jpeg_quality"])
    out["file_format"] = Statistic("file_format", "image", "categorical", np.asarray(formats, dtype=str), "",
                                   _DESCRIPTIONS["file_format"][1], "image",
                                   title=_TITLES["file_format"])
    return out
