"""Recipe section ``camera.stereo``: a rectified stereo pair (the right camera beside the left one).

The left camera is the recipe's camera (every view as without stereo). The right camera has the same
intrinsics and orientation and sits ``baseline`` metres along the left camera's +x axis (OpenCV frame: to
the right in the image), so the pair is rectified: a surface point at depth z (m) seen at left pixel
(u, v) is seen at right pixel (u - d, v) with the disparity d = fx * baseline / z (pixels). This is the
geometry of rectified stereo datasets (KITTI stereo 2015, Menze and Geiger, CVPR 2015; Scharstein and
Szeliski, IJCV 2002, "A taxonomy and evaluation of dense two-frame stereo correspondence algorithms").

What is written (docs/conventions.md, "Stereo"): the right views as a split of their own,
``{output.split}_right`` (same scene and image ids, full ground truth: rgb, depth, masks, poses, COCO), and
beside each left image a disparity layer ``disparity/{im_id:06d}.png``: uint16, disparity in pixels =
value * ``disparity_scale`` (0: no surface), d = fx * baseline / z of the left depth. The scale is
:func:`disparity_scale`: KITTI's 1/256 where the largest disparity of the build fits, coarser otherwise.
"""

from __future__ import annotations

from pydantic import Field

from .base import _Model

#: Output formats that can hold the right split (a second split folder and its own COCO file).
STEREO_FORMATS = ("bop", "coco")

#: Largest value of a uint16 disparity PNG.
_UINT16_MAX = 65535


class StereoConfig(_Model):
    """``camera.stereo``: ``baseline`` (m, > 0): the right camera's offset along the left camera's +x axis."""

    baseline: float = Field(gt=0.0, le=5.0)

    def right_split(self, split: str) -> str:
        """Name of the right views' split folder: ``{split}_right``."""
        return f"{split}_right"


def disparity_scale(fx: float, baseline: float, znear: float) -> float:
    """Pixels per unit of the uint16 disparity PNG: the finest of 1/256, 1/128, ..., 1 whose range holds the
    largest disparity of the build, fx * baseline / znear (a surface at the near plane).

    Parameters
    ----------
    fx : float
        Focal length, pixels.
    baseline : float
        Metres.
    znear : float
        Near clipping plane, metres (nothing nearer is rendered).

    Returns
    -------
    float
        1 / 2**k for k in 8..0 (KITTI's stereo devkit uses 1/256).

    Raises
    ------
    ValueError
        If even scale 1 cannot hold fx * baseline / znear (over 65535 pixels).
    """
    d_max = fx * baseline / znear
    for k in range(8, -1, -1):
        if d_max <= _UINT16_MAX / 2.0 ** k:
            return 1.0 / 2.0 ** k
    raise ValueError(f"the largest disparity fx * baseline / znear = {d_max:.0f} px does not fit a uint16 PNG")
