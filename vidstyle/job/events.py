"""What a render reports while it works: the plan, coarse stages, notes, and each finished frame.

A render calls its ``progress`` callback with these events (and with each optimiser
iterate, :class:`~vidstyle.style.optimize.Iterate`); ``vidstyle render`` shows them as live
bars or JSON lines (:mod:`vidstyle.cli.progress`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from vidstyle.shots import Shot
from vidstyle.style.optimize import Iterate


@dataclasses.dataclass
class FrameFinished:
    """Progress event: one task's frame is stored (or was already, ``skipped``)."""

    shot: int
    pass_: int
    pos: int
    seconds: float
    losses: dict[str, float]
    skipped: bool


@dataclasses.dataclass
class Planned:
    """The work ahead: tasks per shot (frames × passes) and how many are already stored."""

    job: Path
    frames: int
    shots: list[tuple[Shot, int, int]]  # (shot, tasks, already done)


@dataclasses.dataclass
class Stage:
    """A coarse step (decoding, encoding…) with its progress."""

    name: str
    done: int
    total: int | None


@dataclasses.dataclass
class Note:
    """Something a person should know (a redone frame, a truncated input…)."""

    text: str


Event = Planned | Stage | Note | FrameFinished | Iterate
Progress = Callable[[Event], None]
