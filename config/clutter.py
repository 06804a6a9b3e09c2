"""Recipe section ``clutter``: where objects are dropped (a plane, a bin, a room), the drop region and the
physics settling test."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import FieldValueError, Range, Vec2, _Model


class SettleConfig(_Model):
    """Settling test: every object's speed (|dposition|/dt, |drotation|/dt, absolute values) stays
    under the thresholds for ``window`` seconds of simulated time."""

    linear_speed: float = Field(default=0.005, gt=0, description="m/s")
    angular_speed: float = Field(default=0.05, gt=0, description="rad/s")
    window: float = Field(default=0.25, gt=0, description="s")


class BinConfig(_Model):
    size: Vec2 = Field(default=[0.45, 0.35], description="inner x, y size, m")
    height: float = Field(default=0.12, gt=0)
    wall_thickness: float = Field(default=0.01, gt=0)

    @field_validator("size")
    @classmethod
    def _pos(cls, v):
        if min(v) <= 0:
            raise ValueError("bin size must be > 0")
        return v


class RoomConfig(_Model):
    """A room for ``support: room`` (BlenderProc4BOP's textured room, docs/conventions.md): a floor and four
    walls standing on z = 0 around an inner rectangle ``size`` centred at the origin, ``height`` high.
    BlenderProc4BOP's room is 4 x 4 m with 4 m walls; the default here is 3 x 3 m with 1.5 m walls,
    enough that views at the default camera distances stay inside and low views see walls, not void."""

    size: Vec2 = Field(default=[3.0, 3.0], description="inner x, y size, m")
    height: float = Field(default=1.5, gt=0, description="wall height, m")
    wall_thickness: float = Field(default=0.05, gt=0, description="m")

    @field_validator("size")
    @classmethod
    def _pos(cls, v):
        if min(v) <= 0:
            raise ValueError("room size must be > 0")
        return v


class DropConfig(_Model):
    half_extent: Vec2 = Field(default=[0.12, 0.12],
                              description="x, y half-size of the drop region around the origin, m")
    height: Range = Range(min=0.1, max=0.35)

    @model_validator(mode="after")
    def _check(self):
        if min(self.half_extent) < 0:
            raise ValueError("half_extent must be >= 0")
        if self.height.min <= 0:
            raise ValueError("height.min must be > 0 (above the floor)")
        return self


class ClutterConfig(_Model):
    """Where objects are dropped: ``plane`` (a floor square of side ``plane_size``), ``bin`` (a bin on the
    floor) or ``room`` (a floor and four walls, ``room``)."""

    support: Literal["plane", "bin", "room"] = "plane"
    plane_size: float = Field(default=2.0, gt=0, description="side of the rendered floor square, m (plane, bin)")
    bin: BinConfig = BinConfig()
    room: RoomConfig = RoomConfig()
    drop: DropConfig = DropConfig()
    time_step: float = Field(default=1.0 / 240.0, gt=0, le=0.05, description="s")
    max_settle_time: float = Field(default=4.0, gt=0, description="cap on simulated time, s")
    settle: SettleConfig = SettleConfig()
    workspace_half_extent: float = Field(
        default=1.0, gt=0,
        description="objects whose |x| or |y| exceed this, or that fall below the floor, are removed, m")

    @model_validator(mode="after")
    def _drop_inside_room(self):
        if self.support == "room":
            for k, (h, size) in enumerate(zip(self.drop.half_extent, self.room.size)):
                if h >= size / 2:
                    raise FieldValueError(("drop", "half_extent"), f"drop region half-size {h} m along {'xy'[k]} "
                                          f"reaches the room's walls (clutter.room.size {size} m)")
        return self
