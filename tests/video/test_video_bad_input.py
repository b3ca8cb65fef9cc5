"""Bad input and unwritable outputs: one line naming the file, exit code 2, nothing left half-written."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from vidstyle.errors import VidstyleError
from vidstyle.video import VideoWriter, check_output, encode_like, open_video, probe


def _expect_cli_error(cli, path: Path, *needles: str) -> str:
    code, _out, err = cli("probe", path)
    assert code == 2, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidstyle: error:"), err
    assert str(path) in lines[0] and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _truncated(media: Path, tmp_path: Path, name: str, percent: int) -> Path:
    data = (media / "videos" / name).read_bytes()
    out = tmp_path / f"{percent}pc_{name}"
    out.write_bytes(data[: len(data) * percent // 100])
    return out


def test_missing_file(cli, tmp_path):
    _expect_cli_error(cli, tmp_path / "nope.mp4", "no such file")
    with pytest.raises(VidstyleError, match="no such file"):
        open_video(tmp_path / "nope.mp4")


def test_zero_byte_file(cli, tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    _expect_cli_error(cli, path, "empty file")


def test_text_file_named_mp4(cli, tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("These are not the frames you are looking for.\n" * 20)
    _expect_cli_error(cli, path, "text file")


def test_random_bytes_named_mp4(cli, tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    _expect_cli_error(cli, path, "not a video")


def test_image_file(cli, media, tmp_path):
    _expect_cli_error(cli, media / "content/skimage_chelsea.png", "still image")
    disguised = tmp_path / "photo.mp4"  # a PNG under a video name: FFmpeg sniffs it
    shutil.copy(media / "content/skimage_chelsea.png", disguised)
    _expect_cli_error(cli, disguised, "still image")


def test_audio_only_file(cli, media, tmp_path):
    path = tmp_path / "sound.m4a"
    with av.open(str(media / "videos/imageio_realshort_320x240_aac.mp4")) as src, av.open(str(path), "w") as dst:
        a = dst.add_stream_from_template(src.streams.audio[0])
        for packet in src.demux(src.streams.audio[0]):
            if packet.size:
                packet.stream = a
                dst.mux(packet)
    _expect_cli_error(cli, path, "no video stream", "audio only", "aac")


@pytest.mark.parametrize("percent", [30, 70])
def test_truncated_mp4_with_index_at_the_end(cli, media, tmp_path, percent):
    """moov after mdat: cutting the file loses the index, nothing can be read."""
    path = _truncated(media, tmp_path, "imageio_realshort_320x240_aac.mp4", percent)
    _expect_cli_error(cli, path, "truncated", "moov")


@pytest.mark.parametrize(("percent", "readable"), [(30, 116), (70, 266)])
def test_truncated_mp4_decodes_what_it_can(cli, media, tmp_path, percent, readable):
    """moov first: the frames before the cut decode; the reader and the CLI say how many."""
    path = _truncated(media, tmp_path, "intel_car-detection_768x432_aac.mp4", percent)
    line = _expect_cli_error(cli, path, "truncated", f"{readable} frames decodable")
    assert "of 377" in line
    with open_video(path, size=64) as reader:
        frames = list(reader)
    assert len(frames) == reader.frames_read == readable
    assert reader.truncated
    assert reader.warning.startswith(f"{path}: truncated or damaged")
    assert f"read {readable} of" in reader.warning


def test_truncated_matroska(cli, media, tmp_path):
    path = _truncated(media, tmp_path, "moviepy_bbb_1280x720_vp8_vorbis_30s.webm", 30)
    _expect_cli_error(cli, path, "truncated", "ended prematurely")
    with open_video(path, start=9.0, size=64) as reader:
        frames = list(reader)
    assert frames and reader.truncated and "ended prematurely" in reader.warning


def test_unreadable_file(cli, media, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can read anything")
    path = tmp_path / "locked.mp4"
    shutil.copy(media / "videos/imageio_realshort_320x240_aac.mp4", path)
    path.chmod(0)
    _expect_cli_error(cli, path, "permission denied")


def test_unwritable_output_path(tmp_path):
    src = Path(__file__).resolve().parents[2] / "sample_clips/vpf_dog_848x464_aac.mp4"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    (tmp_path / "a_file").write_text("x")
    cases = [
        (tmp_path / "missing_dir" / "out.mp4", "does not exist"),
        (tmp_path / "a_file" / "out.mp4", "does not exist"),
        (tmp_path / "out.xyz", "unsupported output format"),
        (tmp_path / "out.webm", "cannot hold h264"),
    ]
    if os.geteuid() != 0:
        cases.append((locked / "out.mp4", "not writable"))
    for out, needle in cases:
        codec = "h264" if out.suffix == ".webm" else None
        with pytest.raises(VidstyleError, match=needle) as e:
            check_output(out, codec)
        assert str(e.value).startswith(str(out))
        with open_video(src, size=64, end=3) as reader, pytest.raises(VidstyleError, match=needle):
            encode_like(reader, out, reader, codec=codec)
            assert reader.frames_read == 0  # failed before decoding anything
    locked.chmod(0o700)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "locked"]
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_output_on_a_filesystem_that_refuses_files():
    """Even root cannot create files in /proc: the error names the path, no traceback."""
    with pytest.raises(VidstyleError, match=r"^/proc/vidstyle_test\.mp4: cannot create the file"):
        VideoWriter("/proc/vidstyle_test.mp4", width=64, height=48)


def test_bad_encoder_options(tmp_path):
    out = tmp_path / "out.mp4"
    for kwargs, needle in [
        ({"codec": "mpeg7"}, "unknown codec"),
        ({"crf": 99}, "between 0 and 51"),
        ({"preset": "ludicrous"}, "unknown preset"),
        ({"codec": "ffv1", "crf": 10}, "no --crf"),
        ({"pix_fmt": "nv12x"}, "pixel format"),
    ]:
        with pytest.raises(VidstyleError, match=needle):
            VideoWriter(tmp_path / "out.mkv", width=64, height=48, **kwargs)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_image_sequence_problems(tmp_path):
    with pytest.raises(VidstyleError, match="no images"):
        probe(tmp_path)
    with pytest.raises(VidstyleError, match="no image matches"):
        probe(tmp_path / "%04d.png")
    import cv2

    cv2.imwrite(str(tmp_path / "0001.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "0002.png"), np.zeros((8, 10, 3), np.uint8))
    with open_video(tmp_path) as reader, pytest.raises(VidstyleError, match=r"0002\.png: is 10x8"):
        list(reader)
