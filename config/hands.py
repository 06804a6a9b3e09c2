"""Recipe section ``hands``: hands in clutter scenes (MANO parameterisation, grasps, skin, forearms)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import ColorRange, FieldValueError, IntRange, Range, Weights, _Model


class SkinTypeWeights(Weights):
    """Weights of the Fitzpatrick skin types I (lightest) .. VI (darkest) (``assets/hand_look.py``: each type
    draws its tone from one sixth of the Monk Skin Tone scale). A list of types (names or 1..6) means equal
    weights."""

    I: float = Field(default=0.0, ge=0)  # noqa: E741 (the type's name)
    II: float = Field(default=0.0, ge=0)
    III: float = Field(default=0.0, ge=0)
    IV: float = Field(default=0.0, ge=0)
    V: float = Field(default=0.0, ge=0)
    VI: float = Field(default=0.0, ge=0)


_ROMAN = ("I", "II", "III", "IV", "V", "VI")


def _skin_type_name(t):
    """A Fitzpatrick type as its roman numeral: 'IV' or 4 -> 'IV'; anything else unchanged (pydantic rejects it)."""
    if isinstance(t, int) and not isinstance(t, bool) and 1 <= t <= 6:
        return _ROMAN[t - 1]
    return t


def _skin_type_list(v):
    """``[I, III]`` or ``[1, 3]`` -> ``{I: 1, III: 1}``; weight keys may be numbers too (``{6: 2}``)."""
    if isinstance(v, list):
        names = [_skin_type_name(t) for t in v]
        if not v or any(t not in _ROMAN for t in names):
            raise ValueError(f"skin types must be among I, II, III, IV, V, VI or 1..6 (got {v!r})")
        return {t: 1.0 for t in names}
    if isinstance(v, dict):
        return {_skin_type_name(k): w for k, w in v.items()}
    return v


class ForearmConfig(_Model):
    """Forearms attached at the hands' wrists (docs/conventions.md, "Hands"): part of the hand's mask, box and
    visibility, never of its keypoints. Each hand gets one with ``probability``; ``length`` (m, wrist ring to its
    rounded end; past about 0.27 m it stands for a forearm and a straight upper arm, so that it usually runs out
    of the picture; shorter than ``min_length`` it would look cut off, and the hand gets none) and the wrist
    angles ``flexion_deg`` (+ towards the palm) and ``deviation_deg`` (+ radial) are drawn uniformly and
    clipped to the wrist's range of motion (AAOS: flexion 80, extension 70, radial 20, ulnar 30). A forearm
    that would pierce the floor, an object or another hand (or reach within 10 cm of a camera's image plane)
    is turned upwards within that range, else shortened by halves down to ``min_length``, else left out; one
    whose end would show in a view is lengthened up to 0.6 m (or ``length.max``) when it can be
    (docs/conventions.md, "Hands"). With ``sleeve_probability`` a sleeve covers it from ``cuff_offset`` (m past
    the wrist ring), ``sleeve_looseness`` (m) off the skin."""

    probability: float = Field(default=0.0, ge=0, le=1)
    sleeve_probability: float = Field(default=0.5, ge=0, le=1)
    length: Range = Range(min=0.25, max=0.45)
    min_length: float = Field(default=0.12, gt=0)
    flexion_deg: Range = Range(min=-40.0, max=40.0)
    deviation_deg: Range = Range(min=-20.0, max=10.0)
    cuff_offset: Range = Range(min=0.01, max=0.06)
    sleeve_looseness: Range = Range(min=0.003, max=0.012)

    @model_validator(mode="after")
    def _check(self):
        if self.length.min <= 0:
            raise FieldValueError(("length", "min"), "must be > 0 (metres)")
        if self.min_length > self.length.min:
            raise FieldValueError(("min_length",), f"must be <= length.min ({self.length.min})")
        if not (-70.0 <= self.flexion_deg.min and self.flexion_deg.max <= 80.0):
            raise FieldValueError(("flexion_deg",), "must lie within [-70, 80] (wrist extension 70, flexion 80)")
        if not (-30.0 <= self.deviation_deg.min and self.deviation_deg.max <= 20.0):
            raise FieldValueError(("deviation_deg",), "must lie within [-30, 20] (ulnar 30, radial 20)")
        if self.cuff_offset.min < 0 or self.sleeve_looseness.min < 0:
            raise ValueError("cuff_offset and sleeve_looseness must be >= 0 (metres)")
        return self


class HandConfig(_Model):
    """Hands in each scene (MANO parameterisation; docs/conventions.md, "Hands").

    ``backend``: ``procedural`` (bundled, licence-free) or ``mano`` (the user's own
    ``MANO_RIGHT.pkl``/``.npz``, from ``mano_model`` or the environment variable
    ``GTFORGE_MANO_MODEL``). Each hand grasps a random object of the scene with
    probability ``grasp_fraction`` (when a grasp is found), otherwise it is a free hand
    at ``height`` above the floor near the look-at target, oriented so that the first
    view's camera is at ``azimuth_deg``/``elevation_deg`` in the hand frame (x fingers,
    y palm normal; elevation 90 = palm towards the camera). Betas: each coefficient is
    drawn from ``betas`` (procedural: size, palm width, finger length, thumb length, index-to-ring
    ratio; 10 % or 5 % per unit).

    Look (drawn from the appearance stream ``hand_appearance``: it never moves a hand): ``skin``
    ``fitzpatrick`` draws a Fitzpatrick type by ``skin_types`` (weights, or a list of types; default all
    six equally) and a tone within it (``assets/hand_look.py``); ``range`` (legacy, chosen when a recipe gives
    ``skin_color`` without ``skin``) draws each channel from ``skin_color``. ``skin_texture``: palm creases,
    knuckles, nails and mottling as per-vertex colours (false: a plain colour). ``forearm``: :class:`ForearmConfig`.
    """

    count: IntRange = IntRange(min=1, max=1)
    backend: Literal["procedural", "mano"] = "procedural"
    mano_model: str | None = None
    flat_hand_mean: bool = False
    fingertip_ids: Literal["smplx", "manopth"] | Annotated[list[int], Field(min_length=5, max_length=5)] = "smplx"
    left_fraction: float = Field(default=0.5, ge=0, le=1)
    betas: Range = Range(min=-1.5, max=1.5)
    grasp_fraction: float = Field(default=0.7, ge=0, le=1)
    curl: Range = Range(min=0.0, max=1.0)
    azimuth_deg: Range = Range(min=-180.0, max=180.0)
    elevation_deg: Range = Range(min=-60.0, max=89.0)
    height: Range = Range(min=0.08, max=0.2)
    skin: Literal["fitzpatrick", "range"] = "fitzpatrick"
    skin_types: SkinTypeWeights = SkinTypeWeights(I=1.0, II=1.0, III=1.0, IV=1.0, V=1.0, VI=1.0)
    skin_color: ColorRange = ColorRange(min=[0.55, 0.35, 0.25], max=[0.95, 0.78, 0.66])
    skin_texture: bool = True
    forearm: ForearmConfig = ForearmConfig()
    max_grasp_tries: int = Field(default=12, ge=1)
    write_vertices: bool = False

    _skin_types = field_validator("skin_types", mode="before")(_skin_type_list)

    @model_validator(mode="before")
    @classmethod
    def _legacy_skin(cls, data):
        if isinstance(data, dict) and "skin_color" in data and "skin" not in data:
            return {**data, "skin": "range"}
        return data

    @model_validator(mode="after")
    def _check(self):
        if self.backend == "mano":
            path = self.mano_model or os.environ.get("GTFORGE_MANO_MODEL")
            if not path:
                raise ValueError("backend 'mano' needs mano_model (or the GTFORGE_MANO_MODEL environment variable): "
                                 "the path of your own MANO_RIGHT.pkl or .npz")
        if not (0.0 <= self.curl.min and self.curl.max <= 1.0):
            raise ValueError("curl must lie within [0, 1] (0 open, 0.5 relaxed, 1 fist)")
        if self.height.min <= 0:
            raise ValueError("height must be > 0 (above the floor)")
        return self

    @field_validator("mano_model")
    @classmethod
    def _mano_exists(cls, v, info: ValidationInfo):
        if v is None:
            return v
        if "LEFT" in Path(v).name.upper():
            raise ValueError(f"{v}: give the right-hand model (MANO_RIGHT); left hands are its mirror image")
        base = (info.context or {}).get("base_dir", ".")
        p = Path(os.path.expanduser(v))
        p = p if p.is_absolute() else Path(base) / p
        if not p.is_file():
            raise ValueError(f"file not found: {p} (MANO files need registration and cannot be shipped: "
                             "download MANO_RIGHT.pkl yourself)")
        return str(p)
