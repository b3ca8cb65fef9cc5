"""Shots: cut detection on real footage, user-given cuts, and splitting frames into shots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidstyle.errors import VidstyleError
from vidstyle.shots import (
    THRESHOLDS,
    Cut,
    FrameTimes,
    ShotsSettings,
    analyse_cuts,
    black_cuts,
    cut_position,
    filter_short,
    frame_times,
    parse_cuts,
    shot_at,
    shots_from_cuts,
)
from vidstyle.video import Position, open_video

REPO = Path(__file__).resolve().parents[2]
DOG = REPO / "sample_clips" / "vpf_dog_848x464_aac.mp4"
BBB = "videos/moviepy_bbb_1280x720_vp8_vorbis_30s.webm"
# The cuts of the bbb clip: source frames 283, 376, 551 (24 fps, shown at 11.792, 15.667, 22.958 s).
BBB_CUT_FRAMES = [283, 376, 551]
BBB_CUT_TIMES = [11.79, 15.67, 22.96]
FRAME = 1 / 24
ADAPTIVE_THRESHOLD, CONTENT_THRESHOLD = THRESHOLDS["adaptive"], THRESHOLDS["content"]
MIN_SCORE = ShotsSettings().min_score


@pytest.fixture(scope="module")
def bbb_analysis(media):
    """Detection on exactly the frames a default render processes (stride 1, no trim)."""
    return analyse_cuts(media / BBB)


def test_bbb_cuts_found_frame_exact(bbb_analysis):
    cuts = bbb_analysis.cuts
    assert [c.index for c in cuts] == BBB_CUT_FRAMES
    assert [c.position for c in cuts] == BBB_CUT_FRAMES  # stride 1, no trim: position = source index
    assert [c.time for c in cuts] == pytest.approx(BBB_CUT_TIMES, abs=FRAME)
    assert all(c.reason == "adaptive" for c in cuts)


def test_bbb_detector_margins(bbb_analysis):
    """Measured at 256 px: ratio 76.7 / 119 / 95.5 at the cuts; at most 2.5 at any other frame
    that changes by at least MIN_SCORE (threshold 6). Assert with room for decoder/scaler drift."""
    a = bbb_analysis
    at_cuts = a.ratio[BBB_CUT_FRAMES]
    assert at_cuts.min() > 5 * ADAPTIVE_THRESHOLD
    assert a.content[BBB_CUT_FRAMES].min() > 4 * MIN_SCORE
    others = np.ones(len(a.ratio), bool)
    others[BBB_CUT_FRAMES] = False
    contenders = others & (a.content >= MIN_SCORE)
    assert a.ratio[contenders].max(initial=0) < 0.75 * ADAPTIVE_THRESHOLD
    # The plain content score elsewhere (19.4 at most) stays far under the content detector's threshold.
    assert a.content[others].max() < 0.5 * CONTENT_THRESHOLD


def test_bbb_no_cut_at_fade_in_or_pan(bbb_analysis):
    times = np.asarray(bbb_analysis.frames.times)
    assert all(abs(c.time - t) > 2 for c in bbb_analysis.cuts for t in (0.4, 1.3, 5.8))
    for t in (1.3, 5.8):  # the colour flicker there fooled PySceneDetect's default HSV score
        near = np.abs(times - t) < 0.3
        assert bbb_analysis.ratio[near].max() < ADAPTIVE_THRESHOLD
    assert bbb_analysis.luma[0] < 1  # the clip really starts black: the fade-in is there
    shots = bbb_analysis.shots()
    assert [(s.first_frame, s.end_frame) for s in shots] == [(0, 283), (283, 376), (376, 551), (551, 720)]
    assert shots[-1].end_time == pytest.approx(30.0, abs=FRAME)


def test_bbb_trimmed_and_strided_cuts_land_on_processed_frames(media):
    # Frames 240, 242, ... 478: source frame 283 is skipped, so its shot starts at 284.
    a = analyse_cuts(media / BBB, start="10s", end="20s", stride=2)
    assert a.frames.indices[0] == 240 and a.frames.indices[-1] == 478
    assert [(c.position, c.index) for c in a.cuts] == [(22, 284), (68, 376)]
    with open_video(media / BBB, size=64, start="10s", end="20s", stride=2) as reader:
        assert a.frames.indices == tuple(f.index for f in reader)
    assert [len(s) for s in a.shots()] == [22, 46, 52]


def test_bbb_content_detector(media):
    a = analyse_cuts(media / BBB, ShotsSettings(detector="content", analysis_size=128), stride=3)
    assert [c.time for c in a.cuts] == pytest.approx(BBB_CUT_TIMES, abs=3 * FRAME)
    assert all(c.score > CONTENT_THRESHOLD for c in a.cuts)


def test_clip_without_cuts_is_one_shot():
    a = analyse_cuts(DOG, ShotsSettings(analysis_size=128))  # a dog leaping over a log: fast motion, no cut
    assert a.cuts == []
    shots = a.shots()
    assert len(shots) == 1 and (shots[0].start, shots[0].end) == (0, 96)


def test_rotated_vfr_clip_has_no_cuts(media):
    a = analyse_cuts(media / "videos" / "moviepy_fire2_1280x720_rot180_aac.mp4", ShotsSettings(analysis_size=128))
    assert a.cuts == [] and len(a.frames) == 25


def test_frame_times_without_decoding_match_the_reader():
    ft = frame_times(DOG, start="0.5s", end="80f", stride=3)
    with open_video(DOG, size=32, start="0.5s", end="80f", stride=3) as reader:
        pairs = [(f.index, f.time) for f in reader]
    assert list(zip(ft.indices, ft.times)) == pairs
    assert ft.end_index == 80 and ft.end_time == pytest.approx(80 / 30, abs=1e-3)
    assert ft.interval == pytest.approx(1 / 30, abs=1e-3)


# -- pure functions --------------------------------------------------------------------------


def timeline(n: int = 720, fps: float = 24.0, stride: int = 1, first: int = 0) -> FrameTimes:
    idx = list(range(first, n, stride))
    return FrameTimes(tuple(idx), tuple(i / fps for i in idx), n / fps, n, 1 / fps)


def test_shots_from_cuts_edge_cases():
    ft = timeline(10)
    shots = shots_from_cuts(ft, [0, 5, 5, 3, 10, 99, -1])  # at the start, duplicate, unsorted, past the end
    assert [(s.start, s.end) for s in shots] == [(0, 3), (3, 5), (5, 10)]
    assert [s.index for s in shots] == [0, 1, 2]
    assert shots[1].first_frame == 3 and shots[1].end_frame == 5
    assert shots[2].end_time == pytest.approx(10 / 24)
    assert shots_from_cuts(ft, []) == [shots_from_cuts(ft, [0])[0]]
    assert len(shots_from_cuts(ft, [])[0]) == 10
    assert shot_at(shots, 4).index == 1
    with pytest.raises(IndexError):
        shot_at(shots, 10)


def test_cut_positions_from_times_and_frames():
    ft = timeline()
    # "11.8" means the source frame nearest 11.8 s (283 at 11.792 s), not the first frame after it.
    assert cut_position(ft, Position(seconds=11.8)) == 283
    assert cut_position(ft, Position(seconds=11.79)) == 283
    assert cut_position(ft, Position(frame=283)) == 283
    strided = timeline(stride=2)  # frames 0, 2, ...: frame 283 is skipped, its shot starts at 284
    assert strided.indices[cut_position(strided, Position(seconds=11.8))] == 284
    assert strided.indices[cut_position(strided, Position(frame=283))] == 284
    assert cut_position(ft, Position(seconds=99.0)) == len(ft)
    shots = shots_from_cuts(ft, parse_cuts("11.8, 15.67s, 551f"))
    assert [s.first_frame for s in shots] == [0, 283, 376, 551]
    assert shots[1].contains(Position(seconds=12.0)) and not shots[1].contains(Position(frame=376))


def test_shots_from_pairs_estimates_the_end():
    shots = shots_from_cuts([(0, 0.0), (1, 0.5), (2, 1.0)], [Cut(2, 2, 1.0)])
    assert [(s.start, s.end) for s in shots] == [(0, 2), (2, 3)]
    assert shots[-1].end_time == pytest.approx(1.5)
    with pytest.raises(VidstyleError):
        shots_from_cuts([], [])


@pytest.mark.parametrize("text", ["", "11.8,,12", "soon", "-1", "12,3x"])
def test_parse_cuts_errors(text):
    with pytest.raises(VidstyleError, match=r"^shots\.cuts: "):
        parse_cuts(text)


def test_parse_cuts():
    assert parse_cuts("11.8,15.7s, 360f,1:02.5") == [
        Position(seconds=11.8),
        Position(seconds=15.7),
        Position(frame=360),
        Position(seconds=62.5),
    ]


def test_black_cuts():
    # fade in from black at the start: no cut; dip to black in the middle: cut where it ends;
    # fade out to black at the end: no cut.
    luma = [0, 0, 8, 40, 90, 60, 10, 3, 2, 12, 50, 90, 30, 5, 0]
    assert black_cuts(luma, 16) == [10]
    assert black_cuts(luma, 0) == []
    assert black_cuts([50, 60], 16) == []


def test_filter_short_keeps_the_earlier_cut():
    ft = timeline(100)
    cuts = [Cut(p, p, p / 24, 1.0, "adaptive") for p in (5, 30, 36, 36, 80)]
    kept = filter_short([*cuts, Cut(36, 36, 1.5, None, "black")], ft, 0.5)
    assert [c.position for c in kept] == [30, 80]  # 5 is too close to the start, 36 to 30
    assert kept[0].reason == "adaptive"
