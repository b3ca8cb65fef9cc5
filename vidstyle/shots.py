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

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vidstyle.errors import VidstyleError
from vidstyle.video import Position, VideoReader, open_video, parse_position
from vidstyle.video.timeline import PositionLike

Detector = Literal["adaptive", "content"]

# Detector defaults. Measured on the real clips of ../shared/media/videos at 256 px, stride 1,
# with luma-only scores (PySceneDetect's HSV "V" channel; see ``detect_cuts``):
#
# * bbb 30 s (cuts at 11.79, 15.67, 22.96 s): adaptive ratio at the cuts 76.7 / 119 / 95.5 and
#   content score 79 / 76 / 108. Everywhere else in the 16 clips (fade-in from black, slow pan,
#   the cockatoo's fast close-up motion, hand-held shake, the VFR tree clip), the adaptive ratio
#   of frames scoring >= 15 is at most 3.9 (cockatoo at 6.7 s, score 30) and frames whose ratio
#   reaches 5 score at most 4.9. The plain content score elsewhere reaches 44 (cockatoo) and
#   19.4 within bbb.
# * With PySceneDetect's default HSV weights the fade-in from black (hue and saturation of
#   near-black pixels are noise: score 68 at 0.38 s) and colour flicker of the VP8 encode in the
#   pan (hue jumps to 31 at 5.79 s, ratio 4.8) cross the default thresholds; luma alone does not.
DEFAULT_DETECTOR: Detector = "adaptive"
ADAPTIVE_THRESHOLD = 6.0  # frame score / mean score of the 2 frames either side (cuts >= 76, else <= 3.9)
CONTENT_THRESHOLD = 60.0  # mean |ΔV| of a frame pair, 0-255 (cuts >= 76, else <= 44)
MIN_SCORE = 15.0  # adaptive: the frame score must also reach this (PySceneDetect's min_content_val)
MIN_SHOT_SECONDS = 0.5  # a cut closer than this to the previous one (or the start) is dropped
BLACK_LEVEL = 16.0  # mean luma (0-255) under which a frame is black, for dips to black; 0: off
ANALYSIS_SIZE = 256  # longest side of the frames decoded for detection
WINDOW = 2  # adaptive detector: frames either side averaged


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
    steps = np.diff(tl.pts[sel.first:sel.stop])
    interval = float(np.median(steps)) * float(tl.time_base) if steps.size else 0.0
    return FrameTimes(tuple(int(i) for i in idx), tuple(float(t) for t in times), tl.time(sel.stop), sel.stop,
                      interval)


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
        return (f"shot {self.index}: frames {self.first_frame}-{self.end_frame - 1}, "
                f"{self.start_time:.3f}-{self.end_time:.3f} s ({len(self)} frames)")


# -- user-given cuts --------------------------------------------------------------------------


def parse_cuts(text: str) -> list[Position]:
    """Read a comma-separated list of cut positions, e.g. ``"11.8,15.7s,360f,1:02.5"``.

    Numbers are seconds (as everywhere on the command line); ``360f`` is source frame 360.
    """
    items = [s.strip() for s in text.split(",")]
    if not text.strip() or any(not s for s in items):
        raise VidstyleError(f"cuts: empty entry in {text!r} (expected e.g. 11.8,15.7s,360f)")
    positions = []
    for item in items:
        pos = parse_position(item, "cuts")
        assert pos is not None
        positions.append(pos)
    return positions


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


def shots_from_cuts(frames: FrameTimes | Sequence[tuple[int, float]],
                    cuts: Iterable[Cut | Position | int]) -> list[Shot]:
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
    for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
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


# -- detection ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CutAnalysis:
    """Everything detection measured: the cuts, the processed frames, and per position the
    frame-pair score (mean |ΔV| to the previous frame, 0-255), the adaptive ratio (0 where the
    window does not fit) and the mean luma."""

    cuts: list[Cut]
    frames: FrameTimes
    content: np.ndarray
    ratio: np.ndarray
    luma: np.ndarray

    def shots(self) -> list[Shot]:
        """The shots these cuts make."""
        return shots_from_cuts(self.frames, self.cuts)


def default_threshold(detector: Detector) -> float:
    """The threshold ``detect_cuts`` uses for ``detector`` when none is given."""
    return ADAPTIVE_THRESHOLD if detector == "adaptive" else CONTENT_THRESHOLD


def detect_cuts(
    path: str | os.PathLike[str],
    *,
    start: PositionLike | None = None,
    end: PositionLike | None = None,
    stride: int = 1,
    detector: Detector = DEFAULT_DETECTOR,
    threshold: float | None = None,
    min_score: float = MIN_SCORE,
    min_shot_seconds: float = MIN_SHOT_SECONDS,
    black_level: float = BLACK_LEVEL,
    size: int = ANALYSIS_SIZE,
) -> list[Cut]:
    """Cuts in the frames a render with these ``start``/``end``/``stride`` processes.

    See :func:`analyse_cuts` for the parameters.
    """
    return analyse_cuts(path, start=start, end=end, stride=stride, detector=detector, threshold=threshold,
                        min_score=min_score, min_shot_seconds=min_shot_seconds, black_level=black_level,
                        size=size).cuts


def analyse_cuts(
    path: str | os.PathLike[str],
    *,
    start: PositionLike | None = None,
    end: PositionLike | None = None,
    stride: int = 1,
    detector: Detector = DEFAULT_DETECTOR,
    threshold: float | None = None,
    min_score: float = MIN_SCORE,
    min_shot_seconds: float = MIN_SHOT_SECONDS,
    black_level: float = BLACK_LEVEL,
    size: int = ANALYSIS_SIZE,
) -> CutAnalysis:
    """Detect cuts with PySceneDetect in the processed frames, decoded at ``size`` px.

    ``detector``: ``"adaptive"`` (AdaptiveDetector: a frame's change must be ``threshold``
    times the mean change of the ``WINDOW`` frames either side *and* reach ``min_score``;
    robust to pans and fast motion; cannot place a cut within 2 frames of either end) or
    ``"content"`` (ContentDetector: the change itself must reach ``threshold``). Both score
    luma only: hue and saturation of dark pixels are noise, which made the default HSV score
    cut inside fades from black. Fades are gradual, so they are not cuts; a *dip to black*
    (frames darker than ``black_level`` between brighter ones) ends a shot, the next one
    starting at the first brighter frame. Cuts closer than ``min_shot_seconds`` to the
    previous cut or the first frame are dropped (the earlier one is kept).
    """
    import cv2
    from scenedetect.common import FrameTimecode
    from scenedetect.detectors import AdaptiveDetector, ContentDetector
    from scenedetect.stats_manager import StatsManager

    if detector not in ("adaptive", "content"):
        raise VidstyleError(f"unknown cut detector {detector!r} (expected adaptive or content)")
    if threshold is None:
        threshold = default_threshold(detector)
    if detector == "adaptive":
        det: ContentDetector = AdaptiveDetector(adaptive_threshold=threshold, min_scene_len=0, window_width=WINDOW,
                                                min_content_val=min_score, luma_only=True)
        ratio_key = det.get_metrics()[-1]
    else:
        det = ContentDetector(threshold=threshold, min_scene_len=0, luma_only=True)
        ratio_key = None
    stats = StatsManager()
    det.stats_manager = stats

    pairs: list[tuple[int, float]] = []
    luma: list[float] = []
    found: list[int] = []
    with open_video(path, size=size, start=start, end=end, stride=stride) as reader:
        # Detectors count in frames at a constant rate; positions in the processed sequence at
        # its mean rate keep their arithmetic exact for us (we convert back by position).
        rate = _rate(reader, stride)
        for position, frame in enumerate(reader):
            pairs.append((frame.index, frame.time))
            bgr = np.ascontiguousarray(frame.image[:, :, ::-1])
            luma.append(float(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).mean()))
            found += [tc.frame_num for tc in det.process_frame(FrameTimecode(position, rate), bgr)]
        if pairs:
            found += [tc.frame_num for tc in det.post_process(FrameTimecode(len(pairs) - 1, rate))]
        listed = _from_timeline(reader)
    if not pairs:
        raise VidstyleError(f"{path}: no frames decoded, nothing to detect cuts in")
    # The timeline knows where the last frame ends; a damaged file may deliver fewer frames.
    matches = listed is not None and listed.indices == tuple(i for i, _ in pairs)
    frames = listed if matches and listed is not None else FrameTimes.from_pairs(pairs, stride=stride)

    n = len(pairs)
    content = np.zeros(n)
    ratio = np.zeros(n)
    for p in range(n):
        tc = FrameTimecode(p, rate)
        value = stats.get_metrics(tc, ["content_val"])[0]
        content[p] = value or 0.0
        if ratio_key is not None:
            ratio[p] = stats.get_metrics(tc, [ratio_key])[0] or 0.0
    score = ratio if detector == "adaptive" else content
    candidates = [Cut(p, frames.indices[p], frames.times[p], float(score[p]), detector) for p in found if 0 < p < n]
    candidates += [Cut(p, frames.indices[p], frames.times[p], None, "black")
                   for p in black_cuts(luma, black_level)]
    cuts = filter_short(candidates, frames, min_shot_seconds)
    return CutAnalysis(cuts, frames, content, ratio, np.asarray(luma))


def black_cuts(luma: Sequence[float], level: float) -> list[int]:
    """Positions where a dip to black ends: the first frame at or above ``level`` after a run
    of darker frames that itself follows a brighter frame. Fades in from black at the start
    and out to black at the end make no cut. ``level <= 0`` turns this off."""
    if level <= 0:
        return []
    dark = [v < level for v in luma]
    cuts = []
    seen_bright = False
    for p, d in enumerate(dark):
        if not d:
            if seen_bright and p > 0 and dark[p - 1]:
                cuts.append(p)
            seen_bright = True
    return cuts


def filter_short(cuts: Iterable[Cut], frames: FrameTimes, min_seconds: float) -> list[Cut]:
    """Cuts in order, one per position, each at least ``min_seconds`` after the previous kept
    cut (and after the first frame); of two too close, the earlier stays."""
    kept: list[Cut] = []
    last = frames.times[0] if len(frames) else 0.0
    for cut in sorted(cuts, key=lambda c: (c.position, c.reason == "black")):
        if kept and cut.position == kept[-1].position:
            continue
        if cut.time - last >= min_seconds - 1e-9:
            kept.append(cut)
            last = cut.time
    return kept


def _rate(reader: VideoReader, stride: int) -> float:
    """Mean processed frames per second (only used for PySceneDetect's frame arithmetic)."""
    fps = reader.source_info.average_fps or reader.source_info.fps
    rate = float(fps) / stride if fps else 0.0
    return rate if math.isfinite(rate) and rate > 0 else 25.0 / stride
