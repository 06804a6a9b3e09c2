"""The search space of ``gtforge tune``: which recipe fields move, within which bounds, and how a point of the space
is written into a recipe.

A space is a tuple of :class:`Param`; each owns one or more search dimensions (:class:`Dim`, what the optimiser
samples) and writes one or more recipe fields. By kind:

* **range** (``{min, max}``): two dimensions, the centre and the width, on a linear or a log scale. Decoded as
  ``lo' = clip(c - w / 2, lo, hi - w)``, ``hi' = lo' + w``: a range near a bound is shifted, never narrowed, so the
  **diversity guard** holds for every point: the width is never below ``min_width``, by default
  ``tune.min_width_fraction`` (0.25) times the recipe's width (in log units on a log scale). An **int range**
  (counts, JPEG quality) likewise, rounded to integers with the guard's width rounded up.
* **number** (a float or int field): one dimension within bounds.
* **weights** (``{name: w}``): one dimension ``x_k`` in [0, 1] per allowed name; shares ``s = e / sum(e)`` with
  ``e_k = -log(1 - x_k)`` (uniform x is the uniform distribution on the simplex, a Dirichlet(1, ..., 1)); weights
  ``w_k = (f_k + (1 - sum(f)) s_k) * W`` with floors ``f_k = guard * p_k`` (p the recipe's probabilities, W its sum
  of weights), so no choice the recipe uses drops below a quarter of its probability (the guard for weights).
* **choice** (a literal or a bool): one categorical dimension.
* **sources** (a texture pool, a list of sources): one keep/drop dimension per source; at least
  ``ceil(guard * n)`` sources (at least one) stay, the first dropped ones in recipe order filling up. Texture
  families are drawn uniformly (``assets/textures.py``): which sources stay is the only weighting a pool has.
* **vector** (``clutter.drop.half_extent``): one log-scale factor of the whole vector.
* **counts** (default space): the object sets of one role as a group, a log-scale ``scale`` of every set's count
  centre and a ``spread`` factor of its width in [guard, 2], rounded per set with the guard's width.

The **default space** (:func:`default_params`) holds the recipe's own ranges, weights and choices of content and
appearance that exist for its scene kind: camera distance, elevation, roll and look-at jitter; the support
(plane, bin, room), drop region size and heights; target and distractor counts; light count, kinds, intensities,
colour temperature, ambient and shadows; look weights of objects, distractors, each set that states its own, floor,
walls and backdrop; the object and floor texture pools; metallic and roughness; HSV jitter; the image effects
noise, motion blur, defocus, exposure, white balance and JPEG quality with their probabilities; for AR scenes the
placement distance and lateral share and the compositing look; for hands their count, grasp share, curl and height.
Search bounds are stated per field below (generous multiples of the recipe's values, within the schema's limits);
a recipe's ``tune:`` section (``config/tune.py``) may state its own space instead.

:meth:`SearchSpace.apply` writes a point into a copy of the raw recipe (what ``--set`` changes), then repairs the
few cross-field rules a point could break (a room enlarged so that every camera position stays inside it); the
result validates (``config.loading.validate_recipe``; ``tests/tune/test_space.py`` samples every bundled recipe's
space). Fields that define the labels' meaning (``config.tune.LABEL_FIELDS``) are never written.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config.base import RecipeError
from ..config.loading import validate_recipe
from ..config.schema import Recipe
from ..config.tune import TuneParam, describe_field, format_path, label_field, parse_path, recipe_value

#: Significant digits of the numbers written into a tuned recipe (a value within 1e-9 of the recipe's is written as
#: the recipe's, so the recipe's own point writes its values exactly).
DIGITS = 4


@dataclass(frozen=True)
class Dim:
    """One search dimension, as the optimiser samples it.

    Attributes
    ----------
    name : str
        Unique in the space: the parameter's path, with ``/centre``, ``/width``, ``/<choice>``, ``/keep[j]``,
        ``/scale``, ``/spread`` for parameters of several dimensions.
    type : str
        ``float``, ``int`` or ``categorical``.
    low, high : float
        ``float``/``int``: inclusive bounds (``log``: both > 0).
    log : bool
        Sampled on a log scale.
    choices : tuple
        ``categorical``: the values (str or bool).
    """

    name: str
    type: str
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: tuple = ()

    def contains(self, value) -> bool:
        if self.type == "categorical":
            return value in self.choices
        return self.low - 1e-12 <= float(value) <= self.high + 1e-12


def _round(v: float, up: bool | None = None) -> float:
    """``v`` to :data:`DIGITS` significant digits (``up`` True/False: rounded towards +/- infinity)."""
    v = float(v)
    if v == 0 or not math.isfinite(v):
        return v
    scale = 10.0 ** (DIGITS - 1 - math.floor(math.log10(abs(v))))
    if up is None:
        return float(f"{v:.{DIGITS}g}")
    return (math.ceil if up else math.floor)(v * scale) / scale


def _snap(v: float, recipe_value: float) -> float:
    """``v`` rounded to :data:`DIGITS` significant digits, or the recipe's value when within 1e-9 of it."""
    if math.isclose(float(v), float(recipe_value), rel_tol=1e-9, abs_tol=1e-12):
        return float(recipe_value)
    return _round(v)


def _half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


@dataclass(frozen=True)
class Param:
    """One parameter: the recipe fields it writes and its search dimensions.

    Attributes
    ----------
    path : str
        The recipe field (``camera.distance``); a counts group: ``objects[i,j,...].count`` naming its sets.
    kind : str
        ``range``, ``int_range``, ``float``, ``int``, ``weights``, ``choice``, ``sources``, ``vector``, ``counts``.
    low, high : float or None
        Limits of the field's values: a number's, both ends of a range's, each component of a vector's; for
        ``counts`` the limits of the ``scale`` factor.
    log : bool
        Search on a log scale (ranges, numbers, factors).
    min_width : float
        Range kinds: the diversity guard, the smallest width a tuned range may have, in the field's unit (a log
        range: in natural-log units); ``counts``: the smallest ``spread``.
    choices : tuple
        ``choice``: allowed values; ``weights``: names that may get weight.
    original : Any
        The recipe's value (raw form: dicts, lists, numbers); ``counts``: the list of each set's ``{min, max}``.
    members : tuple of int
        ``counts``: the object sets of the group (indices into ``objects``).
    origin : str
        ``default`` or ``tune.params[i]``.
    """

    path: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    min_width: float = 0.0
    choices: tuple = ()
    original: Any = None
    members: tuple = ()
    origin: str = "default"

    # ------------------------------------------------------------------ dims and defaults
    def _t(self, v: float) -> float:
        return math.log(v) if self.log else float(v)

    def _inv(self, v: float) -> float:
        return math.exp(v) if self.log else float(v)

    def dims(self) -> tuple[Dim, ...]:
        """The search dimensions of this parameter."""
        p = self.path
        if self.kind in ("range", "int_range"):
            lo, hi = self._t(self.low), self._t(self.high)
            return (Dim(p + "/centre", "float", lo, hi), Dim(p + "/width", "float", self.min_width, hi - lo))
        if self.kind == "float":
            return (Dim(p, "float", self.low, self.high, self.log),)
        if self.kind == "int":
            return (Dim(p, "int", self.low, self.high, self.log),)
        if self.kind in ("choice",):
            return (Dim(p, "categorical", choices=tuple(self.choices)),)
        if self.kind == "weights":
            return tuple(Dim(f"{p}/{name}", "float", 0.0, 1.0) for name in self.choices)
        if self.kind == "sources":
            return tuple(Dim(f"{p}/keep[{j}]", "categorical", choices=(True, False)) for j in range(len(self.original)))
        if self.kind == "vector":
            return (Dim(p + "/scale", "float", self.low, self.high, True),)
        if self.kind == "counts":
            return (Dim(p + "/scale", "float", self.low, self.high, True),
                    Dim(p + "/spread", "float", self.min_width, max(2.0, self.min_width)))
        raise ValueError(f"unknown parameter kind {self.kind!r}")

    def default(self) -> dict:
        """The point of this parameter's dimensions that writes the recipe's own values."""
        p, o = self.path, self.original
        if self.kind in ("range", "int_range"):
            a, b = self._t(o["min"]), self._t(o["max"])
            return {p + "/centre": (a + b) / 2, p + "/width": b - a}
        if self.kind in ("float", "int", "choice"):
            return {p: o}
        if self.kind == "weights":
            probs = _probabilities(o, self.choices)
            return {f"{p}/{k}": 1.0 - math.exp(-probs[k]) for k in self.choices}
        if self.kind == "sources":
            return {f"{p}/keep[{j}]": True for j in range(len(o))}
        if self.kind in ("vector", "counts"):
            out = {p + "/scale": 1.0}
            if self.kind == "counts":
                out[p + "/spread"] = 1.0
            return out
        raise ValueError(self.kind)

    # ------------------------------------------------------------------ decoding
    def decode(self, point: dict, guard: float) -> dict[tuple, Any]:
        """{recipe field parts: raw value} this parameter writes for ``point`` (values of its dims)."""
        p, o = self.path, self.original
        parts = parse_path(p) if self.kind != "counts" else None
        if self.kind in ("range", "int_range"):
            lo, hi = self._t(self.low), self._t(self.high)
            w = min(max(float(point[p + "/width"]), self.min_width), hi - lo)
            a = min(max(float(point[p + "/centre"]) - w / 2, lo), hi - w)
            if self.kind == "int_range":
                need = 0 if self.log else math.ceil(self.min_width - 1e-9)
                mn = max(int(self.low), _half_up(self._inv(a)))
                mx = max(mn + need, _half_up(self._inv(a + w)))
                if mx > self.high:
                    mn, mx = max(int(self.low), mn - (mx - int(self.high))), int(self.high)
                return {parts: {"min": mn, "max": mx}}
            mn = max(self.low, _snap(self._inv(a), o["min"]))
            mx = min(self.high, _snap(self._inv(a + w), o["max"]))
            if self._t(mx) - self._t(mn) < self.min_width:  # rounding never narrows below the guard
                mx = _round(self._inv(self._t(mn) + self.min_width), up=True)
                if mx > self.high:
                    mx = self.high
                    mn = max(self.low, _round(self._inv(self._t(self.high) - self.min_width), up=False))
            return {parts: {"min": mn, "max": mx}}
        if self.kind == "float":
            return {parts: min(self.high, max(self.low, _snap(point[p], o)))}
        if self.kind == "int":
            return {parts: int(round(point[p]))}
        if self.kind == "choice":
            return {parts: point[p]}
        if self.kind == "weights":
            return {parts: _decode_weights(o, self.choices, [point[f"{p}/{k}"] for k in self.choices], guard)}
        if self.kind == "sources":
            keep = [bool(point[f"{p}/keep[{j}]"]) for j in range(len(o))]
            need = max(1, math.ceil(guard * len(o) - 1e-9))
            for j in range(len(o)):
                if sum(keep) >= need:
                    break
                keep[j] = True
            return {parts: [s for s, k in zip(o, keep) if k]}
        if self.kind == "vector":
            s = float(point[p + "/scale"])
            return {parts: [_snap(c * s, c) for c in o]}
        if self.kind == "counts":
            return self._decode_counts(float(point[p + "/scale"]), float(point[p + "/spread"]))
        raise ValueError(self.kind)

    def _decode_counts(self, scale: float, spread: float) -> dict:
        out = {}
        spread = max(spread, self.min_width)
        for i, c in zip(self.members, self.original):
            width = c["max"] - c["min"]
            centre, half = (c["min"] + c["max"]) / 2 * scale, width / 2 * spread
            mn = max(0, _half_up(centre - half))
            mx = max(mn + math.ceil(self.min_width * width - 1e-9), _half_up(centre + half))
            out[("objects", i, "count")] = {"min": mn, "max": mx}
        return out

    def writes(self) -> tuple[tuple, ...]:
        """The recipe fields (parts) this parameter writes."""
        if self.kind == "counts":
            return tuple(("objects", i, "count") for i in self.members)
        return (parse_path(self.path),)

    def describe(self) -> dict:
        """A JSON-able description (tune.json's ``space``): path, kind, bounds, guard, choices, recipe value."""
        out = {"path": self.path, "kind": self.kind, "origin": self.origin}
        if self.low is not None:
            out["bounds"] = [self.low, self.high]
        if self.log:
            out["log"] = True
        if self.kind in ("range", "int_range"):
            out["min_width"] = (math.exp(self.min_width) if self.log else self.min_width)
            out["min_width_unit"] = "ratio max/min" if self.log else "field unit"
        if self.kind == "counts":
            out["min_spread"] = self.min_width
            out["sets"] = list(self.members)
        if self.choices:
            out["choices"] = list(self.choices)
        out["recipe_value"] = self.original
        return out


def _probabilities(weights: dict, names) -> dict:
    total = sum(float(weights.get(k, 0.0)) for k in names)
    return {k: float(weights.get(k, 0.0)) / total for k in names}


def _decode_weights(original: dict, names, xs, guard: float) -> dict:
    """Weights of ``names`` from free values ``xs`` in [0, 1] (module docstring); other names of ``original`` 0."""
    probs = _probabilities(original, names)
    e = np.array([-math.log(max(1e-300, 1.0 - min(float(x), 1.0 - 1e-12))) for x in xs])
    shares = e / e.sum() if e.sum() > 0 else np.array([probs[k] for k in names])
    floors = np.array([guard * probs[k] for k in names])
    w = (floors + (1.0 - floors.sum()) * shares) * sum(float(v) for v in original.values())
    return {k: _snap(float(v), float(original.get(k, 0.0))) for k, v in zip(names, w) if v > 0}


# ======================================================================== the default space
def _lim(lo, hi, orig_lo, orig_hi):
    """Bounds that hold the recipe's values."""
    return min(lo, orig_lo), max(hi, orig_hi)


@dataclass
class _Builder:
    recipe: Recipe
    raw: dict
    guard: float
    params: list = field(default_factory=list)

    def value(self, parts):
        return recipe_value(self.raw, parts)

    def validated(self, parts):
        return recipe_value(self.recipe, parts)[1]

    def range(self, path, lo, hi, log=False, integer=False):
        r = self.validated(parse_path(path))
        if r is None:
            return
        omin, omax = (int(r.min), int(r.max)) if integer else (float(r.min), float(r.max))
        lo, hi = _lim(lo, hi, omin, omax)
        if log and (lo <= 0):
            log = False
        width = (math.log(omax) - math.log(omin)) if log else (omax - omin)
        if hi - lo <= 0:
            return
        self.params.append(Param(path, "int_range" if integer else "range", lo, hi, log, self.guard * width,
                                 original={"min": omin, "max": omax}))

    def number(self, path, lo, hi, log=False):
        v = self.validated(parse_path(path))
        if v is None:
            return
        lo, hi = _lim(lo, hi, float(v), float(v))
        self.params.append(Param(path, "float", lo, hi, log, original=float(v)))

    def choice(self, path, choices):
        v = self.validated(parse_path(path))
        if len(choices) > 1:
            self.params.append(Param(path, "choice", choices=tuple(choices), original=v))

    def weights(self, path, names, original=None):
        w = self.validated(parse_path(path)) if original is None else original
        if w is None:
            return
        original = w.model_dump() if hasattr(w, "model_dump") else dict(w)
        used = [k for k, v in original.items() if v > 0]
        names = [k for k in original if k in names or k in used]
        if len(names) > 1:
            self.params.append(Param(path, "weights", choices=tuple(names), original=original))

    def sources(self, path):
        v = self.validated(parse_path(path))
        if v is not None and len(v) > 1:
            self.params.append(Param(path, "sources", original=list(v)))


def default_params(recipe: Recipe, raw: dict, guard: float = 0.25) -> list[Param]:
    """The default search space of a validated recipe (module docstring; the bounds are stated here).

    Parameters
    ----------
    recipe : Recipe
        The validated recipe.
    raw : dict
        Its raw data (YAML after ``--set``).
    guard : float
        ``tune.min_width_fraction``: the diversity guard.

    Returns
    -------
    list of Param
        Every parameter whose field the recipe's scene kind uses; none of ``config.tune.LABEL_FIELDS``.
    """
    b = _Builder(recipe, raw, guard)
    r, ar = recipe, recipe.ar is not None
    if not ar and r.camera is not None:
        cam = r.camera
        near = cam.znear * 1.05
        if cam.constraints is not None:
            near = max(near, cam.constraints.min_surface_distance * 1.05)
        b.range("camera.distance", max(near, cam.distance.min / 3), min(cam.zfar * 0.95, cam.distance.max * 3))
        b.range("camera.elevation_deg", 0.0 if cam.elevation_deg.min >= 0 else -90.0, 89.0)
        b.range("camera.inplane_deg", -180.0, 180.0)
        b.number("camera.look_at.jitter", guard * cam.look_at.jitter, max(0.15, 3 * cam.look_at.jitter))
        cl = r.clutter
        b.choice("clutter.support", ["plane", "bin", "room"])
        he = [float(v) for v in cl.drop.half_extent]
        if min(he) > 0:
            cap = 0.9 * cl.workspace_half_extent
            b.params.append(Param("clutter.drop.half_extent", "vector", 1 / 3, min(3.0, cap / max(he)), True,
                                  original=he))
        b.range("clutter.drop.height", 0.01, max(1.0, 3 * cl.drop.height.max))
    for role in ("target", "distractor"):
        members = tuple(i for i, o in enumerate(r.objects) if o.role == role and o.count.max > 0)
        if members:
            b.params.append(Param(f"objects[{','.join(map(str, members))}].count", "counts", 1 / 3, 3.0, True,
                                  guard, original=[r.objects[i].count.model_dump() for i in members],
                                  members=members))
    if r.hands is not None:
        b.range("hands.count", 0 if r.target_sets else 1, max(3, 2 * r.hands.count.max), integer=True)
        b.number("hands.grasp_fraction", 0.0, 1.0)
        b.range("hands.curl", 0.0, 1.0)
        b.range("hands.height", 0.02, max(0.5, 2 * r.hands.height.max))
    if not ar:
        li = r.lights
        b.range("lights.count", min(1, li.count.min), max(6, 2 * li.count.max), integer=True)
        b.weights("lights.kinds", ("directional", "point", "spot"))
        b.range("lights.intensity", 0.0, max(10.0, 3 * li.intensity.max))
        b.range("lights.point_intensity", 0.0, max(10.0, 3 * li.point_intensity.max))
        b.range("lights.temperature_k", 1667.0, 12000.0)
        b.range("lights.ambient", 0.0, max(1.0, 2 * li.ambient.max))
        b.choice("lights.shadows", [False, True])
    ap = r.appearance
    obj_names = ("asset", "texture", "color") if ap.textures else ("asset", "color")
    b.weights("appearance.objects", obj_names)
    if r.distractor_sets:
        b.weights("appearance.distractors", obj_names)
    for i, o in enumerate(r.objects):
        if o.look is not None:
            b.weights(f"objects[{i}].look", obj_names)
    if ap.textures and any(w.texture > 0 for w in [ap.objects, ap.distractors] + [o.look for o in r.objects if o.look]):
        b.sources("appearance.textures")
    if not ar:
        pool = bool(ap.floor_pool())
        b.weights("appearance.floor", ("texture", "color") if pool else ("color",), original=ap.floor_weights())
        b.weights("appearance.walls", ("texture", "color", "floor") if pool else ("color", "floor"))
        b.weights("appearance.backdrop", ("color", "sky", "photo") if ap.backdrop_photos else ("color", "sky"))
        if ap.floor_textures:
            b.sources("appearance.floor_textures")
    b.range("appearance.metallic", 0.0, 1.0)
    b.range("appearance.roughness", 0.0, 1.0)
    b.range("appearance.hsv_jitter.hue", -0.5, 0.5)
    b.range("appearance.hsv_jitter.saturation", 0.0, 2.0)
    b.range("appearance.hsv_jitter.value", 0.2, 2.0)
    if ar:
        a = r.ar
        b.range("ar.distance", a.distance.min / 3, a.distance.max * 3)
        b.number("ar.lateral_fraction", 0.05, 1.0)
        b.range("ar.look.shadow_strength", 0.0, 1.0)
        b.range("ar.look.sun_elevation_deg", 0.0, 90.0)
        b.choice("ar.look.blend", ["none", "gaussian", "poisson", "motion"])
        b.range("ar.look.color_match", 0.0, 1.0)
        b.range("ar.look.blur_sigma", 0.0, 3.0)
        b.range("ar.look.noise_sigma", 0.0, 12.0)
        b.range("ar.look.motion_blur_px", 0.0, 8.0)
    for name, ranges in EFFECT_RANGES.items():
        if name == "jpeg" and r.output.image_format != "jpg":
            continue
        b.number(f"effects.{name}.probability", 0.0, 1.0)
        for sub, (lo, hi, log) in ranges.items():
            b.range(f"effects.{name}.{sub}", lo, hi, log=log, integer=name == "jpeg")
    return b.params


#: The image effects of the default space: ``effects.<name>.probability`` in [0, 1] and these ranges
#: (bounds, log scale), within the schema's limits (``config/effects.py``).
EFFECT_RANGES: dict[str, dict[str, tuple[float, float, bool]]] = {
    "noise": {"photons_at_white": (10.0, 100000.0, True), "read_noise": (0.0, 0.03, False)},
    "motion_blur": {"exposure_s": (0.0, 0.08, False)},
    "defocus": {"f_number": (0.7, 22.0, True)},
    "exposure": {"ev": (-3.0, 3.0, False)},
    "white_balance": {"red_gain": (0.5, 2.0, True), "blue_gain": (0.5, 2.0, True)},
    "jpeg": {"quality": (10, 100, False)},
}


# ======================================================================== a stated space (tune.params)
def _stated_param(i: int, tp: TuneParam, recipe: Recipe, raw: dict, guard: float, defaults: dict, file: str) -> Param:
    """The :class:`Param` of ``tune.params[i]``; RecipeError naming its field for what cannot be tuned so."""
    at = f"tune.params[{i}]"
    spec = describe_field(Recipe, tp.path)
    path = spec.path

    def err(sub, msg):
        return RecipeError(file, f"{at}.{sub}", f"{path}: {msg}")

    value = recipe_value(recipe, spec.parts)[1]
    default = defaults.get(path)
    kind = spec.kind
    if kind in ("color_range", "section", "other"):
        what = {"color_range": "a colour range", "section": "a section (name a field inside it)"}.get(kind, "this type")
        raise err("path", f"{what} is not tunable")
    if kind in ("range", "int_range", "float", "int", "vector") and tp.choices is not None:
        raise err("choices", "choices are for choices, bools and weights; give bounds")
    if kind in ("choice", "bool", "weights", "sources") and (tp.bounds is not None or tp.log):
        raise err("bounds", f"a {kind} takes no bounds or log")
    if kind in ("range", "int_range", "float", "int", "vector"):
        if value is None:
            raise err("path", "unset in the recipe: give it a value first (the tuner moves the recipe's value)")
        if tp.bounds is not None:
            lo, hi = tp.bounds
        elif default is not None:
            lo, hi = default.low, default.high
        else:
            raise err("bounds", "not in the default search space: give bounds [lo, hi]")
        log = tp.log or (tp.bounds is None and default is not None and default.log)
        if spec.lower is not None and (lo < spec.lower or (spec.open_lower and lo == spec.lower)):
            raise err("bounds", f"lower bound {lo} is outside the field's limit ({'>' if spec.open_lower else '>='} "
                                f"{spec.lower:g})")
        if spec.upper is not None and (hi > spec.upper or (spec.open_upper and hi == spec.upper)):
            raise err("bounds", f"upper bound {hi} is outside the field's limit ({'<' if spec.open_upper else '<='} "
                                f"{spec.upper:g})")
        if kind in ("range", "int_range"):
            omin, omax = float(value.min), float(value.max)
        elif kind == "vector":
            if min(value) <= 0:
                raise err("path", "a vector is scaled as a whole: every component must be > 0")
            omin, omax = min(value), max(value)
        else:
            omin = omax = float(value)
        if not (lo <= omin and omax <= hi):
            raise err("bounds", f"[{lo:g}, {hi:g}] does not hold the recipe's value ({_text(value)}); widen them")
        if kind == "vector":
            return Param(path, "vector", max(lo / omin, 1e-6) if lo > 0 else 1e-3, hi / omax, True,
                         original=list(value), origin=at)
        if kind in ("float", "int"):
            return Param(path, kind, lo, hi, log, original=value, origin=at)
        width = (math.log(omax) - math.log(omin)) if log else omax - omin
        if log and omin <= 0:
            raise err("log", "a log scale needs the recipe's range > 0")
        min_width = guard * width if tp.min_width is None else tp.min_width
        if min_width > width + 1e-12:
            raise err("min_width", f"{min_width:g} is wider than the recipe's range ({width:g}): the recipe's own "
                                   "value would break the guard")
        original = {"min": int(value.min), "max": int(value.max)} if kind == "int_range" else \
            {"min": omin, "max": omax}
        return Param(path, kind, lo, hi, log, min_width, original=original, origin=at)
    if kind in ("choice", "bool"):
        allowed = tuple(spec.choices) if tp.choices is None else tuple(tp.choices)
        bad = [c for c in allowed if c not in spec.choices]
        if bad:
            raise err("choices", f"{bad} not among the field's values {list(spec.choices)}")
        if value not in allowed:
            raise err("choices", f"must hold the recipe's value {value!r}")
        return Param(path, "choice", choices=allowed, original=value, origin=at)
    if kind == "weights":
        original = value.model_dump() if value is not None else (default.original if default else None)
        if original is None:
            raise err("path", "unset in the recipe: give it weights first")
        names = tuple(spec.choices) if tp.choices is None else tuple(tp.choices)
        bad = [c for c in names if c not in spec.choices]
        if bad:
            raise err("choices", f"{bad} are not names of these weights ({list(spec.choices)})")
        lost = [k for k, v in original.items() if v > 0 and k not in names]
        if lost:
            raise err("choices", f"must hold every name the recipe gives weight to ({lost})")
        return Param(path, "weights", choices=names, original=original, origin=at)
    if kind == "sources":
        if value is None or len(value) < 2:
            raise err("path", "a pool of fewer than two sources has nothing to choose from")
        return Param(path, "sources", original=list(value), origin=at)
    raise err("path", f"a {kind} is not tunable")


def _text(v) -> str:
    if hasattr(v, "model_dump"):
        v = v.model_dump()
    return str(v)


# ======================================================================== the space
@dataclass(frozen=True)
class SearchSpace:
    """A recipe's search space.

    Attributes
    ----------
    params : tuple of Param
    guard : float
        ``tune.min_width_fraction``.
    file : str
        The recipe file (messages).
    base_dir : str
        The recipe's folder (validation of relative sources).
    stated : bool
        True when the recipe's ``tune.params`` states the space.
    """

    params: tuple[Param, ...]
    guard: float
    file: str
    base_dir: str
    stated: bool = False

    def dims(self) -> dict[str, Dim]:
        """{dimension name: Dim} of every parameter, in parameter order."""
        return {d.name: d for p in self.params for d in p.dims()}

    def defaults(self) -> dict:
        """The point that writes the recipe's own values (the untuned recipe; its first trial)."""
        out: dict = {}
        for p in self.params:
            out |= p.default()
        return out

    @property
    def all_continuous(self) -> bool:
        """True when no dimension is categorical (CMA-ES applies)."""
        return all(d.type != "categorical" for d in self.dims().values())

    def values(self, point: dict) -> dict[tuple, Any]:
        """{recipe field parts: raw value} of every field the point writes (before the repairs of :meth:`apply`)."""
        missing = [n for n in self.dims() if n not in point]
        if missing:
            raise KeyError(f"point lacks dimensions {missing[:5]}")
        out: dict = {}
        for p in self.params:
            out |= p.decode(point, self.guard)
        return out

    def apply(self, raw: dict, point: dict) -> dict:
        """A copy of the raw recipe ``raw`` with the point's values written (and the repairs of the module docstring).

        Raises
        ------
        KeyError
            For a point that lacks one of the space's dimensions.
        """
        return self._apply(raw, point)[0]

    def _apply(self, raw: dict, point: dict) -> tuple[dict, list[tuple]]:
        out = copy.deepcopy(raw)
        written = []
        for parts, value in self.values(point).items():
            if label_field(parts) is not None:  # never: the space is built without them
                raise AssertionError(f"{format_path(parts)} defines the labels' meaning")
            _write(out, parts, value)
            written.append(parts)
        return out, written + [p for p in _repair(out) if p not in written]

    def changes(self, raw: dict, point: dict) -> list[Change]:
        """The fields whose value the point changes (repairs included), in parameter order.

        Parameters
        ----------
        raw : dict
            The raw recipe (as :meth:`apply` takes it).
        point : dict
            Values of every dimension.

        Returns
        -------
        list of Change
            Fields whose written value differs from the recipe's (numbers compared to 1e-9 relative; weights with
            missing names as 0).
        """
        new, written = self._apply(raw, point)
        model = None
        out = []
        for parts in written:
            was_set, before = recipe_value(raw, parts)
            if not was_set or before is None:
                model = model if model is not None else self.validate(raw)
                before = recipe_value(model, parts)[1]
                before = before.model_dump() if hasattr(before, "model_dump") else before
                was_set = False
            after = recipe_value(new, parts)[1]
            if not same_value(before, after):
                out.append(Change(parts, before, after, was_set))
        return out

    def validate(self, raw: dict) -> Recipe:
        """``config.loading.validate_recipe`` of a candidate's raw data (RecipeError naming the field)."""
        return validate_recipe(raw, self.file, self.base_dir)

    def describe(self) -> list[dict]:
        """tune.json's ``space``: one entry per parameter (:meth:`Param.describe`)."""
        return [p.describe() for p in self.params]


def _write(data: dict, parts: tuple, value) -> None:
    node = data
    for p in parts[:-1]:
        if isinstance(p, int):
            node = node[p]
        else:
            node = node.setdefault(p, {})
            if node is None:
                raise ValueError(f"{format_path(parts)}: a section on the way is unset")
    node[parts[-1]] = value


def _repair(raw: dict) -> list[tuple]:
    """Cross-field rules a point may break, repaired in place: with ``support: room`` the room grows so that every
    camera position (and the drop region) stays inside its walls (``config/schema.py``'s rule), by whole
    decimetres; nothing else. Returns the fields changed."""
    clutter = raw.get("clutter") or {}
    cam = raw.get("camera")
    if clutter.get("support") != "room" or not cam:
        return []
    room = clutter.setdefault("room", {})
    size = list(room.get("size", [3.0, 3.0]))
    el = cam["elevation_deg"]
    nearest = 0.0 if el["min"] <= 0.0 <= el["max"] else min(abs(el["min"]), abs(el["max"]))
    reach = cam["distance"]["max"] * math.cos(math.radians(nearest))
    look = cam.get("look_at") or {}
    centre, jitter = look.get("center", [0.0, 0.0, 0.0]), look.get("jitter", 0.0)
    znear = cam.get("znear", 0.02)
    drop = (clutter.get("drop") or {}).get("half_extent", [0.12, 0.12])
    grown = False
    for k in range(2):
        need = 2 * max(abs(centre[k]) + jitter + reach + znear, drop[k]) + 0.05
        if size[k] < need:
            size[k], grown = math.ceil(need * 10) / 10, True
    if grown:
        room["size"] = size
        return [("clutter", "room", "size")]
    return []


@dataclass(frozen=True)
class Change:
    """One field a tuned recipe changes.

    Attributes
    ----------
    parts : tuple
        The field path's keys and indices.
    before : Any
        The recipe's value (raw form); the schema's default when the recipe leaves it unset.
    after : Any
        The tuned value (raw form).
    was_set : bool
        False when the recipe left the field unset (``before`` is the default).
    """

    parts: tuple
    before: Any
    after: Any
    was_set: bool = True

    @property
    def path(self) -> str:
        return format_path(self.parts)


def same_value(a, b) -> bool:
    """Raw recipe values equal: numbers to 1e-9 relative, mappings with missing keys as 0 (weights), lists item by
    item."""
    if isinstance(a, dict) and isinstance(b, dict):
        return all(same_value(a.get(k, 0.0), b.get(k, 0.0)) for k in set(a) | set(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def search_space(recipe: Recipe, raw: dict, file: str | os.PathLike, base_dir: str | os.PathLike) -> SearchSpace:
    """The search space of a validated recipe: its ``tune.params`` when stated, else the default space less
    ``tune.fixed``.

    Parameters
    ----------
    recipe : Recipe
        Validated (its ``tune`` paths are checked there: ``config/tune.py``).
    raw : dict
        Its raw data.
    file : str or PathLike
        The recipe file (for messages).
    base_dir : str or PathLike
        Its folder.

    Returns
    -------
    SearchSpace

    Raises
    ------
    RecipeError
        Naming ``tune.params[i].<field>``: a kind that cannot be tuned, bounds outside the field's limits or not
        holding the recipe's value, a field outside the default space without bounds, choices the field lacks, a
        ``min_width`` above the recipe's width, or a parameter whose extreme values do not validate. Naming
        ``tune``: an empty space.
    """
    tune = recipe.tune
    guard = tune.min_width_fraction if tune is not None else 0.25
    defaults = default_params(recipe, raw, guard)
    by_path = {p.path: p for p in defaults}
    file, base = str(file), str(base_dir)
    if tune is not None and tune.params:
        params = tuple(_stated_param(i, tp, recipe, raw, guard, by_path, file) for i, tp in enumerate(tune.params))
        space = SearchSpace(params, guard, file, base, stated=True)
        _check_extremes(space, raw)
        return space
    fixed = [parse_path(f) for f in (tune.fixed if tune is not None else [])]
    kept = []
    for p in defaults:
        if p.kind == "counts":
            members = tuple(i for i in p.members
                            if not any(f == ("objects", i, "count")[:len(f)] for f in fixed))
            if members != p.members:
                if not members:
                    continue
                idx = [p.members.index(i) for i in members]
                p = Param(f"objects[{','.join(map(str, members))}].count", "counts", p.low, p.high, True, p.min_width,
                          original=[p.original[k] for k in idx], members=members)
            kept.append(p)
        elif not any(f == parse_path(p.path)[:len(f)] for f in fixed):
            kept.append(p)
    if not kept:
        raise RecipeError(file, "tune", "the search space is empty (every default parameter is fixed)")
    return SearchSpace(tuple(kept), guard, file, base)


def _check_extremes(space: SearchSpace, raw: dict) -> None:
    """Validate the recipe with each stated parameter at its low and high extremes (the others at the recipe's
    values); RecipeError naming ``tune.params[i].bounds`` (or ``.choices``) when one does not validate."""
    base = space.defaults()
    for p in space.params:
        for end in ("low", "high"):
            point = dict(base)
            for d in p.dims():
                if d.type == "categorical":
                    point[d.name] = d.choices[0 if end == "low" else -1]
                else:
                    point[d.name] = d.low if end == "low" else d.high
            try:
                space.validate(space.apply(raw, point))
            except RecipeError as e:
                sub = "choices" if p.kind in ("choice", "weights", "sources") else "bounds"
                raise RecipeError(space.file, f"{p.origin}.{sub}", f"{p.path} at its {end} end gives a recipe that "
                                  f"does not validate: {e.path}: {e.message}") from None
