"""Shots: where a render is split so that temporal terms never tie frames across a cut.

:mod:`.model` names frames and shots, :mod:`.settings` holds the ``[shots]`` settings
(given cuts or detection), :mod:`.detect` finds cuts with PySceneDetect.
"""

from vidstyle.shots.detect import CutAnalysis, analyse_cuts, black_cuts, filter_short, find_shots, split_frames
from vidstyle.shots.model import Cut, FrameTimes, Shot, cut_position, frame_times, shot_at, shots_from_cuts
from vidstyle.shots.settings import THRESHOLDS, Detector, ShotsSettings, parse_cuts

__all__ = [
    "THRESHOLDS",
    "Cut",
    "CutAnalysis",
    "Detector",
    "FrameTimes",
    "Shot",
    "ShotsSettings",
    "analyse_cuts",
    "black_cuts",
    "cut_position",
    "filter_short",
    "find_shots",
    "frame_times",
    "parse_cuts",
    "shot_at",
    "shots_from_cuts",
    "split_frames",
]
