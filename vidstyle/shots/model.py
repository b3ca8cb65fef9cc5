"""Shots: where a render is split so that temporal terms never tie frames across a cut.

Everything here is defined over the frames the render actually processes (after the
``start``/``end`` trim and the ``stride``), because that is the sequence the renderer walks.
A frame is named three ways:

* *position* — 0-based place in that processed sequence (what the renderer counts);
* *index* — the source frame index (``Frame.index``: 0 = first frame of the file);
* *time* — seconds on the video's clock (``Frame.time``).

A *cut* is the position of the first frame of a new shot. Cuts are detected with
PySceneDetect's detectors, fed with frames decoded by our own :func:`~vidstyle.video.open_video`
(so rotation, variable frame rate, trims and stride match the renderer exactly), or given by
the user as times and frame numbers (:func:`parse_cuts`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vidstyle.errors import VidstyleError
from vidstyle.video import Position, VideoReader, open_video
from vidstyle.video.timeline import PositionLike


@dataclass(frozen=True)
class FrameTimes:
    """Source index and time of each processed frame, and where the last one stops showing.

    ``interval`` is the typical spacing of *source* frames in seconds (used to snap
    user-given times to frames).
    """

    indices: tuple[int, ...]
    times: tuple[float, ...]
    end_time: float
    end_index: int
    interval: float

    def __len__(self) -> int:
        return len(self.indices)

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[int, float]], *, stride: int = 1) -> FrameTimes:
        """From (source index, time) pairs, e.g. collected from decoded frames; the end of the
        last frame is estimated from the typical spacing."""
        if not pairs:
            raise VidstyleError("no frames to split into shots")
        indices = tuple(int(i) for i, _ in pairs)
        times = tuple(float(t) for _, t in pairs)
        step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
        return cls(indices, times, times[-1] + step, indices[-1] + stride, step / max(1, stride))


def frame_times(
    path: str | os.PathLike[str],
    *,
    start: PositionLike | None = None,
    end: PositionLike | None = None,
    stride: int = 1,
) -> FrameTimes:
    """The processed frames of a video, from its timeline (no pixels decoded) when it has one,
    else by decoding at a tiny size."""
    with open_video(path, size=32, start=start, end=end, stride=stride) as reader:
        ft = _from_timeline(reader)
        if ft is not None:
            return ft
        pairs = [(f.index, f.time) for f in reader]
    return FrameTimes.from_pairs(pairs, stride=stride)


def _from_timeline(reader: VideoReader) -> FrameTimes | None:
    """FrameTimes of a reader's selection, read from its timeline; None without one."""
    sel, tl = reader.selection, reader.timeline
    if sel is None or tl is None:
        return None
    idx = np.arange(sel.first, sel.stop, sel.stride)
    times = tl.pts[idx].astype(np.float64) * float(tl.time_base)
    steps = np.diff(tl.pts[sel.first : sel.stop])
    interval = float(np.median(steps)) * float(tl.time_base) if steps.size else 0.0
    return FrameTimes(tuple(int(i) for i in idx), tuple(float(t) for t in times), tl.time(sel.stop), sel.stop, interval)


@dataclass(frozen=True)
class Cut:
    """The first frame of a new shot: its position in the processed sequence, source index and
    time; ``score`` is the detector's value there (None for cuts the user gave)."""

    position: int
    index: int
    time: float
    score: float | None = None  # adaptive ratio or content score, by ``reason``
    reason: str = "given"  # "given", "adaptive", "content" or "black" (a dip to black ended)


@dataclass(frozen=True)
class Shot:
    """One shot: processed positions ``start`` .. ``end`` (end exclusive).

    ``first_frame``/``end_frame`` are source frame indices (end exclusive: the next shot's
    first frame, or where the selection stops); ``start_time``/``end_time`` are seconds on
    the video's clock (end: when the next shot starts, or when the last frame stops showing).
    """

    index: int
    start: int
    end: int
    first_frame: int
    end_frame: int
    start_time: float
    end_time: float

    def __len__(self) -> int:
        return self.end - self.start

    @property
    def frames(self) -> int:
        """Number of processed frames (as ``render.ShotSpan.frames``)."""
        return self.end - self.start

    @property
    def middle_time(self) -> float:
        """Seconds halfway through the shot."""
        return 0.5 * (self.start_time + self.end_time)

    def contains(self, position: Position) -> bool:
        """Whether a time or source frame falls inside this shot."""
        if position.frame is not None:
            return self.first_frame <= position.frame < self.end_frame
        assert position.seconds is not None
        return self.start_time <= position.seconds < self.end_time

    def describe(self) -> str:
        """One line for humans, e.g. ``shot 1: frames 283-375, 11.792-15.667 s (93 frames)``."""
        return (
            f"shot {self.index}: frames {self.first_frame}-{self.end_frame - 1}, "
            f"{self.start_time:.3f}-{self.end_time:.3f} s ({len(self)} frames)"
        )


# -- user-given cuts --------------------------------------------------------------------------


def cut_position(frames: FrameTimes, at: Position) -> int:
    """Processed position where a cut given as a time or source frame starts its shot.

    A frame number means that source frame; a time means the source frame nearest to it (so
    "11.8" finds the frame shown at 11.792 s). The shot starts at the first processed frame
    at or after that source frame (with a stride, the cut frame itself may be skipped).
    Returns ``len(frames)`` when that is past the last processed frame.
    """
    if at.frame is not None:
        return int(np.searchsorted(np.asarray(frames.indices), at.frame, side="left"))
    assert at.seconds is not None
    tolerance = 0.5 * frames.interval if frames.interval > 0 else 1e-6
    return int(np.searchsorted(np.asarray(frames.times), at.seconds - tolerance, side="left"))


def shots_from_cuts(
    frames: FrameTimes | Sequence[tuple[int, float]], cuts: Iterable[Cut | Position | int]
) -> list[Shot]:
    """Split the processed frames into shots at ``cuts``.

    A cut is a :class:`Cut`, a :class:`~vidstyle.video.Position` (time or source frame, see
    :func:`cut_position`) or a plain ``int`` processed position. Cuts at the first frame,
    past the last one, or landing on the same frame as another are ignored, so the result
    always covers every frame exactly once, in order.
    """
    ft = frames if isinstance(frames, FrameTimes) else FrameTimes.from_pairs(frames)
    n = len(ft)
    if n == 0:
        raise VidstyleError("no frames to split into shots")
    positions = set()
    for cut in cuts:
        if isinstance(cut, Cut):
            p = cut.position
        elif isinstance(cut, Position):
            p = cut_position(ft, cut)
        elif isinstance(cut, (int, np.integer)) and not isinstance(cut, bool):
            p = int(cut)
        else:
            raise TypeError(f"not a cut: {cut!r}")
        if 0 < p < n:
            positions.add(p)
    bounds = [0, *sorted(positions), n]
    shots = []
    for k, (a, b) in enumerate(itertools.pairwise(bounds)):
        end_frame = ft.indices[b] if b < n else ft.end_index
        end_time = ft.times[b] if b < n else ft.end_time
        shots.append(Shot(k, a, b, ft.indices[a], end_frame, ft.times[a], end_time))
    return shots


def shot_at(shots: Sequence[Shot], position: int) -> Shot:
    """The shot holding processed position ``position``."""
    for shot in shots:
        if shot.start <= position < shot.end:
            return shot
    raise IndexError(f"position {position} is in no shot")
