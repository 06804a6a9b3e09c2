"""Recipe section ``appearance``: how surfaces look in the RGB images (object looks, textures, floor, walls,
backdrop); never the geometry or any label."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import ColorRange, FieldValueError, Range, Vec3, Weights, _fixed_range, _Model
from .sources import check_image_source


class LookWeights(Weights):
    """How instances look: ``asset`` keeps the file's own texture/colours (hue/saturation/value jittered by
    ``appearance.hsv_jitter``), ``texture`` maps an image of the texture pool, ``color`` a plain colour
    from ``appearance.object_color``."""

    asset: float = Field(default=0.0, ge=0)
    texture: float = Field(default=0.0, ge=0)
    color: float = Field(default=0.0, ge=0)


def _legacy_look(v):
    """The old ``appearance.objects`` strings: ``asset`` -> {asset: 1}, ``random`` -> {color: 1}."""
    if isinstance(v, str):
        legacy = {"asset": {"asset": 1.0}, "random": {"color": 1.0}}
        if v not in legacy:
            raise ValueError("expected 'asset', 'random' or weights {asset, texture, color}")
        return legacy[v]
    return v


class SurfaceWeights(Weights):
    """Floor look: ``texture`` (an image of the floor's pool, tiled) or ``color`` (``appearance.floor_color``)."""

    texture: float = Field(default=0.0, ge=0)
    color: float = Field(default=0.0, ge=0)


class WallWeights(Weights):
    """Bin or room wall look: ``texture`` (an image of the floor's pool, tiled), ``color``
    (``appearance.wall_color``), or ``floor`` (the very material the floor got in this scene)."""

    texture: float = Field(default=0.0, ge=0)
    color: float = Field(default=0.0, ge=0)
    floor: float = Field(default=0.0, ge=0)


class BackdropWeights(Weights):
    """What shows where no surface is hit: ``color`` (``appearance.background_color``), ``sky`` (a
    gradient from ``sky_horizon`` to ``sky_zenith`` with the ray's elevation) or ``photo`` (an image of
    ``backdrop_photos``, randomly cropped)."""

    color: float = Field(default=0.0, ge=0)
    sky: float = Field(default=0.0, ge=0)
    photo: float = Field(default=0.0, ge=0)


def _image_sources(v: list[str], info: ValidationInfo) -> list[str]:
    base = (info.context or {}).get("base_dir", ".")
    for i, src in enumerate(v):
        try:
            check_image_source(src, base)
        except ValueError as e:
            raise FieldValueError((i,), str(e)) from None
    return v


class HsvJitter(_Model):
    """Jitter of textures and asset colours (``assets.textures.jitter_hsv``): a hue shift in turns (added,
    mod 1), saturation and value factors, each drawn uniformly per surface. Plain colours are jittered
    directly. The defaults leave them unchanged."""

    hue: Range = Range(min=0.0, max=0.0)
    saturation: Range = Range(min=1.0, max=1.0)
    value: Range = Range(min=1.0, max=1.0)

    @model_validator(mode="after")
    def _check(self):
        if self.hue.min < -0.5 or self.hue.max > 0.5:
            raise FieldValueError(("hue",), "hue shift must lie within [-0.5, 0.5] turns")
        for name in ("saturation", "value"):
            if getattr(self, name).min < 0:
                raise FieldValueError((name,), "factor must be >= 0")
        return self


class AppearanceConfig(_Model):
    """How surfaces look in the RGB images (never the geometry or any label: these draws come from the
    scene's ``appearance`` random stream only).

    Texture sources (``textures``, ``floor_textures``, ``backdrop_photos``): image files, folders, globs,
    ``pkg://`` paths, ``procedural://all`` or ``procedural://<family>`` (noise, marble, wood, stripes,
    checker, dots: generated, ``assets/textures.py``), ``bundled://skimage`` (scikit-image's sample photos
    and textures) or ``bundled://pybullet_data`` (pybullet_data's textures). A texture is drawn family
    first, then a member.
    """

    objects: LookWeights = Field(default=LookWeights(asset=1.0), description="targets' look weights; the old "
                                 "strings asset (= {asset: 1}) and random (= {color: 1}) still work")
    distractors: LookWeights = LookWeights(asset=1.0)
    object_color: ColorRange = ColorRange(min=[0.05, 0.05, 0.05], max=[1.0, 1.0, 1.0])
    metallic: Range = Range(min=0.0, max=0.0)
    roughness: Range = Range(min=0.7, max=0.7)
    hsv_jitter: HsvJitter = HsvJitter()
    textures: list[str] = Field(default=["procedural://all"], description="texture pool for objects and "
                                "distractors (and the floor and walls unless floor_textures is given)")
    texture_tile: Range = Field(default=Range(min=0.05, max=0.15), description="objects: metres per texture "
                                "repeat where the texture is box-projected (meshes without UVs)")
    floor: SurfaceWeights | None = Field(default=None, description="floor look weights; unset: texture when "
                                         "floor_textures is given, else color")
    floor_textures: list[str] = Field(default=[], description="texture pool of the floor and walls (else textures)")
    floor_texture_tile: Range = Field(default=Range(min=0.25, max=0.25), description="floor and walls: side of "
                                      "one texture tile, m (a number: fixed)")
    floor_color: ColorRange = ColorRange(min=[0.3, 0.3, 0.3], max=[0.8, 0.8, 0.8])
    walls: WallWeights = WallWeights(color=1.0)
    wall_color: ColorRange | None = Field(default=None, description="unset: the floor colour darkened to 70 %")
    backdrop: BackdropWeights = BackdropWeights(color=1.0)
    backdrop_photos: list[str] = ["bundled://skimage"]
    sky_horizon: ColorRange = ColorRange(min=[0.78, 0.82, 0.86], max=[0.9, 0.92, 0.95])
    sky_zenith: ColorRange = ColorRange(min=[0.2, 0.35, 0.6], max=[0.45, 0.6, 0.85])
    background_color: Vec3 = [0.0, 0.0, 0.0]

    _legacy_objects = field_validator("objects", mode="before")(_legacy_look)
    _fixed_tile = field_validator("floor_texture_tile", mode="before")(_fixed_range)
    _sources = field_validator("textures", "floor_textures", "backdrop_photos")(_image_sources)

    @model_validator(mode="after")
    def _check(self):
        for name in ("metallic", "roughness"):
            r = getattr(self, name)
            if r.min < 0 or r.max > 1:
                raise FieldValueError((name,), "must lie within [0, 1]")
        for name in ("texture_tile", "floor_texture_tile"):
            if getattr(self, name).min <= 0:
                raise FieldValueError((name,), "must be > 0 (metres per texture repeat)")
        if not all(0.0 <= c <= 1.0 for c in self.background_color):
            raise FieldValueError(("background_color",), "colour channels must be in [0, 1]")
        if not self.textures:
            for name in ("objects", "distractors"):
                if getattr(self, name).texture > 0:
                    raise FieldValueError(("textures",), f"is empty, but {name}.texture > 0 needs a texture pool")
            if not self.floor_textures and ((self.floor is not None and self.floor.texture > 0)
                                            or self.walls.texture > 0):
                raise FieldValueError(("floor_textures",), "floor or walls texture weight > 0 needs floor_textures "
                                      "or textures")
        if self.backdrop.photo > 0 and not self.backdrop_photos:
            raise FieldValueError(("backdrop_photos",), "is empty, but backdrop.photo > 0 needs photos")
        return self

    def floor_weights(self) -> SurfaceWeights:
        """``floor``, or when unset the old behaviour: a texture when ``floor_textures`` is given, else a colour."""
        if self.floor is not None:
            return self.floor
        return SurfaceWeights(texture=1.0) if self.floor_textures else SurfaceWeights(color=1.0)

    def floor_pool(self) -> list[str]:
        """Texture sources of the floor and walls: ``floor_textures``, else ``textures``."""
        return list(self.floor_textures or self.textures)
