"""Pure helpers for frame timing: positions (seconds or frame numbers), spans, strides and sizes."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from vidstyle.errors import VidstyleError

_FRAME_RE = re.compile(r"^\s*(\d+)\s*f\s*$", re.IGNORECASE)
_SECONDS_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*s?\s*$", re.IGNORECASE)
_CLOCK_RE = re.compile(r"^\s*(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)\s*$")


@dataclass(frozen=True)
class Position:
    """A point in a video: a frame number or a time in seconds (exactly one is set)."""

    frame: int | None = None
    seconds: float | None = None

    def __str__(self) -> str:
        return f"frame {self.frame}" if self.frame is not None else f"{self.seconds:g} s"


PositionLike = Position | int | float | str


def parse_position(value: PositionLike | None, what: str = "position") -> Position | None:
    """Read a trim point.

    Python ``int`` = frame number (0-based source frame index); ``float`` = seconds.
    Strings (as typed on the command line): ``"120f"`` = frame 120; ``"2.5"``, ``"2.5s"``,
    ``"1:02.5"`` or ``"0:01:02.5"`` = seconds. A bare number string means seconds, as in
    FFmpeg's ``-ss``.
    """
    if value is None or isinstance(value, Position):
        return value
    if isinstance(value, bool):
        raise VidstyleError(f"{what}: expected seconds or a frame number, not {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise VidstyleError(f"{what}: frame number must be >= 0, not {value}")
        return Position(frame=value)
    if isinstance(value, float):
        if not math.isfinite(value) or value < 0:
            raise VidstyleError(f"{what}: time must be >= 0 seconds, not {value}")
        return Position(seconds=value)
    if isinstance(value, str):
        if m := _FRAME_RE.match(value):
            return Position(frame=int(m.group(1)))
        if m := _SECONDS_RE.match(value):
            return parse_position(float(m.group(1)), what)  # a float: finite and >= 0, checked above
        if m := _CLOCK_RE.match(value):
            hours, minutes, seconds = int(m.group(1) or 0), int(m.group(2)), float(m.group(3))
            return parse_position(float(hours * 3600 + minutes * 60 + seconds), what)
    raise VidstyleError(f"{what}: cannot read {value!r} (use seconds like 2.5 or 1:02.5, or a frame like 120f)")


def even(x: float) -> int:
    """``x`` rounded to the nearest even integer, at least 2 (what 4:2:0 video needs)."""
    return max(2, round(x / 2.0) * 2)


def fit_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """Frame size whose longest side is ``size``, keeping the aspect ratio, both sides even.

    ``size=None`` keeps the size as it is (even or not).
    """
    if size is None:
        return width, height
    if size < 2:
        raise VidstyleError(f"size must be at least 2 pixels, not {size}")
    scale = size / max(width, height)
    return even(width * scale), even(height * scale)


def rotation_quarter_turns(rotation: float) -> int:
    """Counter-clockwise display rotation in degrees -> number of 90 degree turns (0..3)."""
    return round(rotation / 90.0) % 4


@dataclass(frozen=True)
class Timeline:
    """Presentation timestamps of every frame of a stream, in display order.

    Built cheaply from the container's packets (no decoding). It makes frame counts exact,
    maps seconds to frame numbers and lets the reader seek to a frame.
    """

    pts: np.ndarray  # int64, sorted
    end_pts: int  # where the last frame stops
    time_base: Fraction

    def __len__(self) -> int:
        return int(self.pts.size)

    def time(self, index: int) -> float:
        """Seconds at frame ``index``; ``len(self)`` gives the end of the stream."""
        return float(self.pts_at(index) * self.time_base)

    def pts_at(self, index: int) -> int:
        """pts of frame ``index``; ``len(self)`` gives the end of the stream."""
        return int(self.pts[index]) if index < len(self) else self.end_pts

    def index_at(self, seconds: float) -> int:
        """Index of the first frame shown at or after ``seconds`` (``len(self)`` if none)."""
        ticks = seconds / float(self.time_base)
        return int(np.searchsorted(self.pts, math.ceil(ticks - 1e-6), side="left"))

    def index_of(self, pts: int) -> int | None:
        """Index of the frame with exactly this pts, or None."""
        i = int(np.searchsorted(self.pts, pts, side="left"))
        return i if i < len(self) and int(self.pts[i]) == pts else None

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the end of the last."""
        return float((self.end_pts - int(self.pts[0])) * self.time_base) if len(self) else 0.0

    def is_variable(self) -> bool:
        """Whether frame intervals vary by more than rounding (variable frame rate).

        Millisecond time bases (Matroska) make constant 24 or 29.97 fps alternate 41/42 or
        33/34 ms; a 5 % tolerance absorbs that, in any time base it is later rescaled to.
        """
        if len(self) < 3:
            return False
        steps = np.diff(self.pts)
        median = float(np.median(steps))
        return bool(np.max(np.abs(steps - median)) > max(1.0, 0.05 * median))


@dataclass(frozen=True)
class Selection:
    """Frames ``first, first + stride, ...`` below ``stop`` of a timeline."""

    first: int
    stop: int
    stride: int

    def __len__(self) -> int:
        return max(0, -(-(self.stop - self.first) // self.stride))

    def contains(self, index: int) -> bool:
        """Whether source frame ``index`` is delivered."""
        return self.first <= index < self.stop and (index - self.first) % self.stride == 0

    def duration_ticks(self, timeline: Timeline, index: int) -> int:
        """How long selected frame ``index`` stays on screen: until the next selected one or the end."""
        nxt = min(index + self.stride, self.stop)
        return timeline.pts_at(nxt) - timeline.pts_at(index)


def select(timeline: Timeline, start: Position | None, end: Position | None, stride: int, name: str) -> Selection:
    """Resolve trim points against a timeline; ``end`` is exclusive. Errors name ``name``."""
    if stride < 1:
        raise VidstyleError(f"stride must be 1 or more, not {stride}")
    n = len(timeline)
    first = _resolve(timeline, start, 0)
    stop = _resolve(timeline, end, n)
    stop = min(stop, n)
    if start is not None and first >= n:
        raise VidstyleError(
            f"{name}: start {start} is past the end of the video ({n} frames, {timeline.duration:.3f} s)"
        )
    if first >= stop:
        raise VidstyleError(f"{name}: start {start or 0} is not before end {end} (nothing selected)")
    return Selection(first, stop, stride)


def _resolve(timeline: Timeline, pos: Position | None, default: int) -> int:
    if pos is None:
        return default
    if pos.frame is not None:
        return pos.frame
    assert pos.seconds is not None
    return timeline.index_at(pos.seconds)
