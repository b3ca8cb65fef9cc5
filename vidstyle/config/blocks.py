"""``[[shot]]`` blocks of a config: a selector (index, a time, a range) and the settings it overrides."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from vidstyle.settings import FlowSettings, OptimSettings, StyleSettings, TemporalSettings
from vidstyle.shots import Shot
from vidstyle.shots.settings import PositionField
from vidstyle.video.timeline import Position

# The sections of the render settings a config may set, file-wide or per shot.
SECTIONS: dict[str, type[BaseModel]] = {
    "style": StyleSettings,
    "optim": OptimSettings,
    "temporal": TemporalSettings,
    "flow": FlowSettings,
}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _one_or_many(value: object) -> object:
    return value if isinstance(value, (list, tuple)) else (value,)


# ``styles = "a.jpg"`` is accepted for ``styles = ["a.jpg"]``.
StylesField = Annotated[tuple[Path, ...] | None, BeforeValidator(lambda v: v if v is None else _one_or_many(v))]


# -- [[shot]] blocks --------------------------------------------------------------------------


class ShotBlock(_Model):
    """One ``[[shot]]`` table: a selector and the settings it overrides for the shots it selects."""

    index: Annotated[
        tuple[Annotated[int, Field(ge=0)], ...] | None, BeforeValidator(lambda v: v if v is None else _one_or_many(v))
    ] = None
    at: Annotated[tuple[PositionField, ...] | None, BeforeValidator(lambda v: v if v is None else _one_or_many(v))] = (
        None
    )
    start: PositionField | None = None
    end: PositionField | None = None
    styles: StylesField = None
    style: dict[str, Any] | None = None
    optim: dict[str, Any] | None = None
    temporal: dict[str, Any] | None = None
    flow: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_size(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "size" in data:
            raise ValueError("size applies to the whole video and cannot change per shot")
        return data

    @model_validator(mode="after")
    def _one_selector(self) -> ShotBlock:
        kinds = [k for k, v in (("index", self.index), ("at", self.at)) if v is not None]
        if self.start is not None or self.end is not None:
            kinds.append("start/end")
        if not kinds:
            raise ValueError("needs a selector: index = N, at = TIME, or start = TIME / end = TIME")
        if len(kinds) > 1:
            raise ValueError(f"give one selector, not {' and '.join(kinds)}")
        if self.index == () or self.at == ():
            raise ValueError(f"{kinds[0]} is an empty list")
        s, e = self.start, self.end
        if s is not None and e is not None:
            same = (s.frame is not None and e.frame is not None and s.frame >= e.frame) or (
                s.seconds is not None and e.seconds is not None and s.seconds >= e.seconds
            )
            if same:
                raise ValueError(f"start ({s}) must be before end ({e})")
        return self

    def matches(self, shot: Shot) -> bool:
        """Whether this block applies to ``shot``: its index is listed, it contains an ``at``
        time/frame, or its middle lies in [start, end)."""
        if self.index is not None:
            return shot.index in self.index
        if self.at is not None:
            return any(shot.contains(p) for p in self.at)
        return (self.start is None or _before(self.start, shot)) and (self.end is None or not _before(self.end, shot))

    def overrides(self) -> dict[str, Any]:
        """The settings this block sets, as a nested dict for :func:`settings.apply_overrides`."""
        return {k: v for k in ("styles", *SECTIONS) if (v := getattr(self, k)) is not None}

    def describe(self) -> str:
        """The selector as written, e.g. ``index = 2`` or ``start = 11.8 s, end = 15.7 s``."""
        if self.index is not None:
            return "index = " + ", ".join(map(str, self.index))
        if self.at is not None:
            return "at = " + ", ".join(map(str, self.at))
        return ", ".join(f"{k} = {v}" for k, v in (("start", self.start), ("end", self.end)) if v is not None)


def _before(bound: Position, shot: Shot) -> bool:
    """Whether ``bound`` is at or before the middle of ``shot`` (in the bound's unit)."""
    if bound.frame is not None:
        return bound.frame <= 0.5 * (shot.first_frame + shot.end_frame)
    assert bound.seconds is not None
    return bound.seconds <= shot.middle_time
