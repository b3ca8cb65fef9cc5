"""What a render is told about shots: where to cut (:data:`CutSpec`) and which settings each
shot gets (:class:`ShotPlan`; a TOML config is one, :class:`UniformPlan` the simplest)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from vidstyle.settings import RenderSettings
from vidstyle.shots import Shot, ShotsSettings
from vidstyle.video import Position

CutSpec = ShotsSettings | str | Sequence[Position | int]
"""Where a render cuts the video into shots: :class:`~vidstyle.shots.ShotsSettings`, or its
``cuts`` alone ("auto", "none", "11.8,15.7s,360f"), or positions: times/source frames
(:class:`~vidstyle.video.Position`) or processed positions (int) where shots start."""


class ShotPlan(Protocol):
    """Per-shot settings (a TOML config implements this); a plain RenderSettings is one plan for all.

    ``settings`` holds what applies to the whole video (the frame size). A plan may also
    have ``shots`` (:class:`~vidstyle.shots.ShotsSettings`: where to cut, used when
    :func:`render` gets no ``cuts``) and ``warnings_for(shots) -> list[str]`` (what a
    person should know about the shots found, e.g. a per-shot block that selects none).
    """

    @property
    def settings(self) -> RenderSettings: ...

    def settings_for(self, shot: Shot) -> RenderSettings: ...


@dataclasses.dataclass(frozen=True)
class UniformPlan:
    """The same settings for every shot."""

    settings: RenderSettings
    shots: ShotsSettings | None = None

    def settings_for(self, shot: Shot) -> RenderSettings:
        return self.settings

    def warnings_for(self, shots: Sequence[Shot]) -> list[str]:
        return []


def cut_settings(cuts: CutSpec | None) -> ShotsSettings | tuple[int, ...]:
    """The [shots] settings of a cut spec; processed positions stay as they are."""
    if cuts is None:
        return ShotsSettings()
    if isinstance(cuts, ShotsSettings):
        return cuts
    if isinstance(cuts, str):
        return ShotsSettings(cuts=cuts)  # the model reads the text
    if all(isinstance(c, int) and not isinstance(c, bool) for c in cuts):
        return tuple(int(c) for c in cuts)  # type: ignore[arg-type]  # all ints (checked above); mypy can't narrow through all()
    return ShotsSettings(cuts=tuple(cuts))
