"""Recipe section of lens distortion (``camera.distortion``, applied by ``render/distortion.py``).

Two of OpenCV's models, with OpenCV's coefficient order so a calibration's ``dist_coeffs`` can be pasted in:
``radtan`` (Brown-Conrady, ``cv2.projectPoints``, ``coeffs: [k1, k2, p1, p2, k3]``) and ``fisheye`` (Kannala-Brandt,
``cv2.fisheye.projectPoints``, ``coeffs: [k1, k2, k3, k4]``). Their equations, sources and the fold analysis are in
``core/lens.py``, the one home of the lens math; this module holds the recipe section and its checks.

Example (YAML)::

    camera:
      distortion: {model: radtan, coeffs: [-0.28, 0.07, 0.001, -0.0005, 0.0]}
    camera:
      distortion: {model: fisheye, coeffs: [0.1, -0.05, 0.01, -0.002]}

Validation in two steps: :class:`DistortionConfig` itself checks the model, the number of coefficients and that they
are finite; :meth:`DistortionConfig.check_field` (called by ``CameraConfig``'s validator, which knows K and the image
size) checks that the model is invertible over the whole image, so that every output pixel has exactly one viewing
ray and the pinhole render that ``render/distortion.py`` resamples exists:

1. **Monotonic radial mapping.** The radial part r_d(r) (normalised distorted radius as a function of the
   normalised undistorted radius r = tan(angle off the axis)) must increase from the axis up to the ray of the
   farthest image corner. Its derivative is a polynomial in r^2 (radtan: 1 + 3 k1 r^2 + 5 k2 r^4 + 7 k3 r^6;
   fisheye, in theta: 1 + 3 k1 theta^2 + 5 k2 theta^4 + 7 k3 theta^6 + 9 k4 theta^8), whose first positive root is
   the fold (``core.lens.monotonic_limit``, exact roots by ``numpy.roots``). Beyond it the mapping folds back: two rays
   meet at one pixel, and the image corner must lie at a distorted radius below the fold's.
2. **Fisheye field below 180 deg.** A pinhole canvas holds rays up to 90 deg off the axis only (its size grows as
   tan(theta)): the corner ray must stay below 90 deg. Also OpenCV's ``cv2.fisheye.undistortPoints`` clamps
   theta_d to pi/2, so the image corner must stay within theta_d < pi/2. Wider lenses (full 180 deg and beyond)
   need a cube-map render (six pinhole faces), which gtforge does not do.
3. **Tangential terms** (radtan p1, p2): the 2D mapping's Jacobian determinant must stay positive over the image's
   undistorted field (``core.lens.radtan_jacobian_det``), else the mapping folds sideways.
4. **Canvas size**: the pinhole canvas covering every ray (estimated from the radial inverse of the image border,
   plus the interpolation margin) must stay within :data:`MAX_CANVAS_SIDE` pixels a side.
"""

from __future__ import annotations

import math
import re
from typing import Literal

import numpy as np
from pydantic import field_validator, model_validator

from ..core.lens import N_COEFFS, monotonic_limit, radial_undistort, radtan_jacobian_det
from .base import FieldValueError, _Model

#: Interpolation margin of the pinhole canvas around the undistorted rays of the image, canvas pixels.
CANVAS_MARGIN = 2

#: Largest pinhole canvas side, pixels: the largest image side ``CameraConfig`` accepts (8192), so a canvas is never
#: bigger than what a recipe may ask for directly (GL's GL_MAX_VIEWPORT_DIMS is >= 16384 on llvmpipe and NVIDIA).
MAX_CANVAS_SIDE = 8192


#: A YAML 1.2 float written without a dot before its exponent (``1e-3``, ``-5E-4``): PyYAML (YAML 1.1) reads it as a
#: string, and calibration files often write coefficients that way.
_EXP_FLOAT = re.compile(r"[-+]?[0-9]+[eE][-+]?[0-9]+")


def _exponent_floats(v):
    """``coeffs`` as given, with YAML-1.1 strings such as ``"1e-3"`` turned into floats (nothing else is converted)."""
    if isinstance(v, list):
        return [float(c) if isinstance(c, str) and _EXP_FLOAT.fullmatch(c.strip()) else c for c in v]
    return v


def _deg(r: float) -> float:
    return math.degrees(math.atan(r)) if math.isfinite(r) else 90.0


class DistortionConfig(_Model):
    """``camera.distortion``: lens model and its coefficients (OpenCV order; module docstring).

    Attributes
    ----------
    model : "radtan" or "fisheye"
    coeffs : list of float
        radtan: [k1, k2, p1, p2, k3] (5); fisheye: [k1, k2, k3, k4] (4). Dimensionless (normalised coordinates).

    Raises (pydantic ValidationError, at ``coeffs``) on a wrong count or a non-finite value. Numbers written
    ``1e-3`` (no dot; PyYAML reads them as strings) are accepted as floats. The field checks that need K and the
    image size are :meth:`check_field`.
    """

    model: Literal["radtan", "fisheye"]
    coeffs: list[float]

    _exp = field_validator("coeffs", mode="before")(_exponent_floats)

    @model_validator(mode="after")
    def _check(self):
        n = N_COEFFS[self.model]
        if len(self.coeffs) != n:
            names = "[k1, k2, p1, p2, k3]" if self.model == "radtan" else "[k1, k2, k3, k4]"
            raise FieldValueError(("coeffs",), f"the {self.model} model takes {n} coefficients {names} "
                                               f"(OpenCV order), got {len(self.coeffs)}")
        if not all(math.isfinite(c) for c in self.coeffs):
            raise FieldValueError(("coeffs",), f"coefficients must be finite, got {self.coeffs}")
        return self

    def as_opencv(self) -> np.ndarray:
        """The coefficients as OpenCV's ``distCoeffs`` / fisheye ``D``: (5,) or (4,) float64."""
        return np.asarray(self.coeffs, dtype=np.float64)

    def to_json(self) -> dict:
        """``{"model": ..., "coeffs": [...]}``: the form the writers record (BOP ``cam_dist``, COCO image field)."""
        return {"model": self.model, "coeffs": [float(c) for c in self.coeffs]}

    def check_field(self, K, width: int, height: int) -> dict:
        """Check that the model is invertible over the image of ``width`` x ``height`` pixels with intrinsics ``K``.

        Parameters
        ----------
        K : (3, 3) float
            Intrinsics, pixels; pixel centres at integer coordinates (docs/conventions.md).
        width, height : int
            Image size, pixels. The checked field is the image's extent [-0.5, W - 0.5] x [-0.5, H - 0.5].

        Returns
        -------
        dict
            ``half_field_deg`` (angle of the corner ray off the axis), ``fold_deg`` (angle of the fold, 90 when
            none), ``canvas_estimate`` ((W_p, H_p) estimated from the radial inverse of the image border).

        Raises
        ------
        FieldValueError
            At ``("coeffs",)`` (``CameraConfig`` prefixes ``distortion``) when the radial mapping folds back inside
            the image, the fisheye field reaches 180 deg (or theta_d reaches pi/2 at the corner), the tangential
            terms fold the mapping, or the pinhole canvas would exceed :data:`MAX_CANVAS_SIDE`; the message gives
            the numbers (module docstring, rules 1 to 4).
        """
        K = np.asarray(K, dtype=np.float64)
        fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        k = self.as_opencv()
        # border of the image extent, sampled every pixel (the corners are the farthest points from (cx, cy))
        us = np.linspace(-0.5, width - 0.5, width + 1)
        vs = np.linspace(-0.5, height - 0.5, height + 1)
        bu = np.concatenate([us, us, np.full(vs.size, -0.5), np.full(vs.size, width - 0.5)])
        bv = np.concatenate([np.full(us.size, -0.5), np.full(us.size, height - 0.5), vs, vs])
        xd, yd = (bu - cx) / fx, (bv - cy) / fy
        rd = np.hypot(xd, yd)
        rd_corner = float(rd.max())
        corner_px = rd_corner * max(fx, fy)
        r_max, rd_max = monotonic_limit(self.model, k)
        where = (f"the image corner is {rd_corner:.4g} (normalised distorted radius, about {corner_px:.0f} px) from "
                 f"the principal point")
        if rd_corner >= rd_max:
            if self.model == "fisheye" and not math.isfinite(r_max):
                raise FieldValueError(("coeffs",), (
                    f"fisheye field of view reaches 180 deg: {where}, beyond theta_d(90 deg) = {rd_max:.4g}; a "
                    "pinhole canvas holds rays below 90 deg off the axis only (wider lenses need a cube-map render, "
                    "not supported): use a longer focal length or a smaller image"))
            raise FieldValueError(("coeffs",), (
                f"radial mapping is not monotonic over the image: r_d(r) stops increasing at r = {r_max:.4g} "
                f"({_deg(r_max):.1f} deg off the axis, distorted radius {rd_max:.4g}) but {where}; the {self.model} "
                f"model folds back inside the image (two rays per pixel, not invertible): use coefficients "
                f"calibrated for this image size and K"))
        if self.model == "fisheye" and rd_corner >= math.pi / 2:
            raise FieldValueError(("coeffs",), (
                f"fisheye theta_d reaches pi/2 inside the image ({where}): OpenCV's fisheye undistortPoints clamps "
                "theta_d to pi/2, so those pixels would get wrong rays (a near-180 deg lens): use a longer focal "
                "length or a smaller image"))
        r_border = radial_undistort(self.model, k, rd)
        r_corner = float(np.nanmax(r_border))
        if self.model == "fisheye" and math.atan(r_corner) >= math.radians(89.9):
            raise FieldValueError(("coeffs",), (
                f"fisheye field of view reaches 180 deg ({_deg(r_corner):.2f} deg off the axis at the image corner): "
                "a pinhole canvas holds rays below 90 deg only (wider lenses need a cube-map render, not supported)"))
        if self.model == "radtan" and (k[2] != 0 or k[3] != 0):
            rr = np.linspace(0.0, r_corner * 1.02, 97)[:, None]
            ang = np.linspace(0.0, 2 * np.pi, 361)[None, :]
            det = radtan_jacobian_det(k, rr * np.cos(ang), rr * np.sin(ang))
            if np.any(det <= 0):
                i = np.unravel_index(np.argmin(det), det.shape)
                raise FieldValueError(("coeffs",), (
                    f"tangential terms p1 = {k[2]:g}, p2 = {k[3]:g} fold the mapping inside the image: its Jacobian "
                    f"determinant is {det[i]:.3g} <= 0 at {_deg(float(rr[i[0], 0])):.1f} deg off the axis "
                    f"(not invertible): use coefficients calibrated for this image size and K"))
        # canvas estimate: radial inverse of the border, in pixels of K, plus the margin
        scale = np.divide(r_border, rd, out=np.ones_like(rd), where=rd > 0)
        xu, yu = xd * scale * fx + cx, yd * scale * fy + cy
        w_p = int(math.ceil(xu.max()) - math.floor(xu.min())) + 2 * CANVAS_MARGIN + 1
        h_p = int(math.ceil(yu.max()) - math.floor(yu.min())) + 2 * CANVAS_MARGIN + 1
        if max(w_p, h_p) > MAX_CANVAS_SIDE:
            raise FieldValueError(("coeffs",), (
                f"the pinhole canvas holding this lens's rays would be about {w_p}x{h_p} px (at most "
                f"{MAX_CANVAS_SIDE} a side; the corner ray is {_deg(r_corner):.1f} deg off the axis): the field is too "
                "wide for a pinhole render at this focal length; use a smaller image or a longer focal length"))
        return {"half_field_deg": _deg(r_corner), "fold_deg": _deg(r_max), "canvas_estimate": (w_p, h_p)}
