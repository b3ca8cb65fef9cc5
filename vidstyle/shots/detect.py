"""Detecting cuts with PySceneDetect in the frames a render processes (luma only, dips to black)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vidstyle.errors import VidstyleError
from vidstyle.shots.model import Cut, FrameTimes, Shot, _from_timeline, frame_times, shots_from_cuts
from vidstyle.shots.settings import WINDOW, ShotsSettings
from vidstyle.video import Position, VideoReader, open_video
from vidstyle.video.timeline import PositionLike


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


def analyse_cuts(
    path: str | os.PathLike[str],
    settings: ShotsSettings | None = None,
    *,
    start: PositionLike | None = None,
    end: PositionLike | None = None,
    stride: int = 1,
) -> CutAnalysis:
    """Detect cuts with PySceneDetect in the processed frames, decoded at ``settings.analysis_size`` px.

    The frames are those a render with this ``start``/``end``/``stride`` processes. The
    settings (:class:`ShotsSettings`, default: its defaults) choose the detector:
    ``"adaptive"`` (AdaptiveDetector: a frame's change must be ``threshold``
    times the mean change of the ``WINDOW`` (2) frames either side *and* reach ``min_score``;
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

    s = settings or ShotsSettings()
    detector, threshold, min_score = s.detector, s.threshold_value, s.min_score
    if detector == "adaptive":
        det: ContentDetector = AdaptiveDetector(
            adaptive_threshold=threshold,
            min_scene_len=0,
            window_width=WINDOW,
            min_content_val=min_score,
            luma_only=True,
        )
        ratio_key = det.get_metrics()[-1]
    else:
        det = ContentDetector(threshold=threshold, min_scene_len=0, luma_only=True)
        ratio_key = None
    stats = StatsManager()
    det.stats_manager = stats

    pairs: list[tuple[int, float]] = []
    luma: list[float] = []
    found: list[int] = []
    with open_video(path, size=s.analysis_size, start=start, end=end, stride=stride) as reader:
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
    candidates += [Cut(p, frames.indices[p], frames.times[p], None, "black") for p in black_cuts(luma, s.black_level)]
    cuts = filter_short(candidates, frames, s.min_shot_seconds)
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


def find_shots(
    path: str | os.PathLike[str],
    settings: ShotsSettings | None = None,
    *,
    start: PositionLike | None = None,
    end: PositionLike | None = None,
    stride: int = 1,
) -> list[Shot]:
    """The shots of the frames a render of ``path`` with this trim and stride processes:
    cuts detected (``cuts = "auto"``, the default), none, or given as times / frames."""
    s = settings or ShotsSettings()
    if s.cuts == "auto":
        return analyse_cuts(path, s, start=start, end=end, stride=stride).shots()
    frames = frame_times(path, start=start, end=end, stride=stride)
    return shots_from_cuts(frames, () if s.cuts == "none" else s.cuts)


def split_frames(
    path: str | os.PathLike[str],
    frames: Sequence[tuple[int, float]],
    settings: ShotsSettings | None = None,
    *,
    start: PositionLike | None = None,
    end: PositionLike | None = None,
    stride: int = 1,
) -> list[Shot]:
    """Shots over frames a renderer already decoded from ``path`` with this ``start``/``end``/
    ``stride``, given as (source index, time) pairs.

    Detected cuts are matched to ``frames`` by source frame index, so a file that ends early
    still gets consistent shots.
    """
    s = settings or ShotsSettings()
    cuts: Sequence[Position] = ()
    if s.cuts == "auto":
        found = analyse_cuts(path, s, start=start, end=end, stride=stride).cuts
        cuts = [Position(frame=c.index) for c in found]
    elif s.cuts != "none":
        cuts = s.cuts
    return shots_from_cuts(FrameTimes.from_pairs(frames, stride=stride), cuts)
