"""Recipe section ``output``: the formats written, the split, layers, depth scale, image encoding and label
thresholds."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from ..formats.registry import format_names
from .base import Vec2, _Model
from .depth_sensor import DepthSensorConfig


def _registered_format(name: str) -> str:
    if name not in format_names():
        raise ValueError(f"unknown format; known: {', '.join(format_names())}")
    return name


#: An output format name registered in ``formats/registry.py``.
FormatName = Annotated[str, AfterValidator(_registered_format)]


class Layers(_Model):
    rgb: bool = True
    depth: bool = True
    mask: bool = True
    mask_visib: bool = True


class OutputConfig(_Model):
    formats: list[FormatName] = Field(
        default=["bop"], description="writers, by name (formats/registry.py: bop, coco, kitti, yolo, webdataset)")
    split: str = Field(default="train_pbr", pattern=r"^[A-Za-z0-9_\-]+$")
    layers: Layers = Layers()
    depth_scale: float = Field(default=0.1, gt=0, description="depth_mm = png_value * depth_scale (BOP)")
    image_format: Literal["jpg", "png"] = "jpg"
    jpg_quality: int = Field(default=95, ge=1, le=100)
    coco_ignore_visib_fract: float = Field(
        default=0.1, ge=0, le=1, description="COCO: instances less visible than this get ignore=1")
    occlusion_thresholds: Vec2 = Field(
        default=[0.1, 0.5],
        description="occlusion level 0 if occlusion <= t0, 1 if <= t1, else 2; 3 (unknown) when nothing is in frame",
    )
    depth_noisy: DepthSensorConfig | None = Field(
        default=None,
        description="simulate a depth sensor into depth_noisy/ (render/depth_sensor.py); depth/ stays exact")

    @field_validator("occlusion_thresholds")
    @classmethod
    def _thresholds(cls, v):
        if not (0.0 <= v[0] <= v[1] <= 1.0):
            raise ValueError(f"need 0 <= t0 <= t1 <= 1, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        _formats_need_rgb(self)
        return self

    @field_validator("formats")
    @classmethod
    def _nonempty(cls, v):
        if not v:
            raise ValueError("at least one output format")
        if len(set(v)) != len(v):
            raise ValueError(f"repeated format in {v}")
        return v


def _formats_need_rgb(out: "OutputConfig") -> None:
    """COCO's ``file_name``, YOLO's ``images/`` and KITTI's ``image_2/`` refer to the RGB frames."""
    for name in ("coco", "kitti", "yolo"):
        if name in out.formats and not out.layers.rgb:
            raise ValueError(f"the {name} format refers to RGB images: keep layers.rgb true")
    if "webdataset" in out.formats and "bop" not in out.formats:
        raise ValueError("the webdataset format packs the BOP scene files (scene_gt.json, masks): "
                         "add bop to output.formats")
