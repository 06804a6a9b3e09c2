"""Recipe sections of view control (``scenes/views.py``): per-view constraints, occlusion-level targets and
viewpoint coverage, all under ``camera``.

Example (YAML)::

    camera:
      ...
      constraints:                 # every written frame satisfies these (gtforge verify checks them)
        min_visible_objects: 2     # labelled objects with visib_fract >= min_visib_fract (and a visible pixel)
        min_visib_fract: 0.2
        min_surface_distance: 0.15 # m: no surface within this distance of the camera centre
        look_at: object            # point (camera.look_at.center + jitter) | object (a random target's centre + jitter)
        max_tries: 50              # candidate views drawn per view before on_exhausted applies
        on_exhausted: keep_best    # keep_best | redraw_scene
      occlusion_targets:           # KITTI-style levels (output.occlusion_thresholds) over labelled objects
        levels: {0: 0.3, 1: 0.4, 2: 0.3}
      coverage:                    # camera azimuth in each visible object's frame, uniform over bins
        azimuth_bins: 12

With none of the three sections the views are exactly those of ``scenes.clutter.sample_views`` (today's
blind shell sampling), byte for byte. The algorithm, its guarantees and what the low-resolution ID pass
approximates are in ``scenes/views.py`` and docs/conventions.md ("View control").

The defaults of :class:`ViewConstraints` are repeated in ``inspection/verify.py`` (``VIEW_CONSTRAINT_DEFAULTS``;
the inspection floor reads the recipe copy without this package); ``tests/inspection/test_view_constraints.py``
keeps the two equal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import FieldValueError, _Model

#: Occlusion levels a target may name: 0 fully visible, 1 partly, 2 largely occluded, 3 unknown (not in frame).
LEVELS = (0, 1, 2, 3)
#: How far the listed shares may sum away from 1.
SHARE_SUM_TOL = 1e-6


class ViewConstraints(_Model):
    """What every view must satisfy, checked on candidate views by a low-resolution ray-cast ID pass before the
    full render (and, when the build wires it, on the full-resolution labels after it).

    ``min_visible_objects``: at least this many labelled objects (``objects`` with ``role: target``; hands and
    distractors do not count) have ``px_count_visib > 0`` and ``visib_fract >= min_visib_fract``
    (``visib_fract`` as BOP defines it: visible pixels / silhouette pixels on the 3W x 3H canvas, so truncation
    lowers it). ``min_surface_distance`` (m): no surface (objects, distractors, hands, floor, walls) lies
    within this distance of the camera centre; written frames then have every pixel's ray length
    z |K^-1 (u, v, 1)| at least this. ``look_at``: ``point`` aims at ``camera.look_at.center`` + a uniform
    jitter of ``camera.look_at.jitter`` per axis (today's rule), ``object`` at the bounding-box centre of a
    uniformly drawn target instance + the same jitter. ``max_tries``: candidate views drawn per view; when no
    candidate passes, ``on_exhausted`` decides: ``keep_best`` keeps the candidate closest to passing
    (smallest deficit; the build log counts it and ``gtforge verify`` reports the frame), ``redraw_scene``
    asks the build to draw the scene's objects again (new drop poses, physics again) up to
    ``max_scene_redraws`` times, then keeps the best. ``id_pass_width``: width (pixels) of the ID pass
    (height in proportion); ``margin``: safety margin on ``visib_fract`` at that resolution (an object counts
    as visible there only when its estimate is at least ``min_visib_fract + margin + 0.5 / sqrt(n)``, n its
    estimated silhouette pixels at the ID pass's resolution)."""

    min_visible_objects: int = Field(default=0, ge=0, le=500)
    min_visib_fract: float = Field(default=0.1, ge=0.0, le=1.0)
    min_surface_distance: float = Field(default=0.0, ge=0.0, description="metres from the camera centre")
    look_at: Literal["point", "object"] = "point"
    max_tries: int = Field(default=50, ge=1, le=10000)
    on_exhausted: Literal["keep_best", "redraw_scene"] = "keep_best"
    max_scene_redraws: int = Field(default=3, ge=0, le=100)
    id_pass_width: int = Field(default=80, ge=8, le=1024, description="pixels")
    margin: float = Field(default=0.05, ge=0.0, le=0.5)

    @model_validator(mode="after")
    def _finite(self):
        if not math.isfinite(self.min_surface_distance):
            raise FieldValueError(("min_surface_distance",), "must be finite")
        return self

    def active(self) -> bool:
        """True when a view can fail these constraints or their look-at rule changes the draws."""
        return self.min_visible_objects > 0 or self.min_surface_distance > 0 or self.look_at != "point"


class OcclusionTargets(_Model):
    """Wanted shares of KITTI-style occlusion levels (``output.occlusion_thresholds``: 0 if occlusion <= t0, 1 if
    <= t1, else 2; 3 when nothing is in frame) over the labelled objects of all frames.

    ``levels``: {level: share}, shares >= 0 summing to 1; levels not listed are wanted at share 0. When 3 is
    listed the shares are over every labelled object of every frame; otherwise over those in frame (level 0-2),
    which is what ``gtforge stats --json`` reports as ``occlusion_level_shares.in_frame``.
    ``candidates``: candidate views (passing the constraints) compared per view by the greedy choice."""

    levels: dict[Literal[0, 1, 2, 3], Annotated[float, Field(ge=0.0, le=1.0)]]
    candidates: int = Field(default=8, ge=1, le=1000)

    @model_validator(mode="after")
    def _sum(self):
        total = sum(self.levels.values())
        if not self.levels or abs(total - 1.0) > SHARE_SUM_TOL:
            raise FieldValueError(("levels",), f"shares must sum to 1 (got {total:g})")
        if 3 in self.levels and len(self.levels) == 1:
            raise FieldValueError(("levels",), "asking for level 3 only (every object out of frame) is not a target")
        return self

    def over_all(self) -> bool:
        """True: shares over all labelled objects (level 3 listed); False: over those in frame."""
        return 3 in self.levels


class ViewpointCoverage(_Model):
    """Uniform coverage of the camera's azimuth in the frame of each visible labelled object (the camera centre
    -R^T t in model coordinates, azimuth atan2(y, x) from model +x towards +y, as ``gtforge stats``), over
    ``azimuth_bins`` equal bins of [-180, 180) degrees. ``weight``: its term in the greedy choice relative to the
    occlusion-level term; ``candidates``: as :class:`OcclusionTargets`."""

    azimuth_bins: int = Field(default=12, ge=2, le=360)
    weight: float = Field(default=1.0, ge=0.0, le=1000.0)
    candidates: int = Field(default=8, ge=1, le=1000)


@dataclass(frozen=True)
class ViewControl:
    """The three sections of one recipe's ``camera``, with defaults filled in.

    Attributes
    ----------
    constraints : ViewConstraints
        ``camera.constraints`` or the defaults (which reject nothing).
    occlusion_targets : OcclusionTargets or None
    coverage : ViewpointCoverage or None
    """

    constraints: ViewConstraints
    occlusion_targets: OcclusionTargets | None = None
    coverage: ViewpointCoverage | None = None

    def active(self) -> bool:
        """False when the views must be exactly ``sample_views``' (nothing to check, nothing to aim at)."""
        return self.constraints.active() or self.occlusion_targets is not None or self.coverage is not None

    def candidates(self) -> int:
        """Candidates passing the constraints that the greedy choice compares per view (1: rejection only)."""
        n = [s.candidates for s in (self.occlusion_targets, self.coverage) if s is not None]
        return max(n) if n else 1


def view_control(camera) -> ViewControl | None:
    """The :class:`ViewControl` of a ``camera`` section (``config.camera.CameraConfig``), or None when it sets
    none of ``constraints``, ``occlusion_targets``, ``coverage`` (or when ``camera`` is None: AR scenes).

    Reads the fields with ``getattr`` so that a camera section without them (a schema that does not carry
    them) is the same as one that leaves them out."""
    if camera is None:
        return None
    c = getattr(camera, "constraints", None)
    o = getattr(camera, "occlusion_targets", None)
    v = getattr(camera, "coverage", None)
    if c is None and o is None and v is None:
        return None
    return ViewControl(constraints=c if c is not None else ViewConstraints(), occlusion_targets=o, coverage=v)


def check_view_control(camera, ar: bool, max_targets: int) -> None:
    """Cross-field checks of the view-control sections against the rest of a recipe (called by a ``Recipe`` model
    validator).

    Parameters
    ----------
    camera : CameraConfig or None
        The recipe's ``camera`` (``config/camera.py``).
    ar : bool
        True for AR scenes (the recipe has an ``ar`` section).
    max_targets : int
        The most target instances a scene can hold: the sum of ``count.max`` over the target sets.

    Raises
    ------
    FieldValueError
        With the path from the recipe root: view control on AR scenes (``camera.constraints`` etc.: AR scenes
        have one view, the photo's); ``camera.constraints.min_visible_objects`` above ``max_targets``;
        ``camera.constraints.min_surface_distance`` not below ``camera.distance.max`` (no camera position could
        keep the look-at point's surface that far).
    """
    cam = camera
    if cam is None:
        return
    vc = view_control(cam)
    if vc is None:
        return
    if ar:
        name = next(n for n in ("constraints", "occlusion_targets", "coverage") if getattr(cam, n, None) is not None)
        raise FieldValueError(("camera", name), "view control is for clutter scenes; ar scenes have one view, "
                              "the photo's")
    c = vc.constraints
    if c.min_visible_objects > max_targets:
        raise FieldValueError(("camera", "constraints", "min_visible_objects"),
                              f"{c.min_visible_objects} visible objects asked, but a scene holds at most {max_targets} "
                              "target instances (sum of objects[].count.max of the target sets)")
    if c.min_surface_distance >= cam.distance.max:
        raise FieldValueError(("camera", "constraints", "min_surface_distance"),
                              f"{c.min_surface_distance} m is not below camera.distance.max ({cam.distance.max} m)")
