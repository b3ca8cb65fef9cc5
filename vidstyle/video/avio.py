"""Opening files with PyAV and turning its failures into one-line, file-naming errors."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import av
import av.logging

from vidstyle.errors import VidstyleError, file_error
from vidstyle.video.codecs import IMAGE_SUFFIXES

# FFmpeg log lines that mean the file is damaged, and how we say it.
DAMAGE_MESSAGES = (
    ("File ended prematurely", "file ended prematurely"),
    ("partial file", "file ended prematurely"),
    ("Packet corrupt", "corrupt packets"),
    ("moov atom not found", "the MP4 index ('moov' atom) is missing"),
)
STILL_IMAGE_FORMATS = ("image2", "apng")  # plus every "*_pipe" image demuxer


@contextlib.contextmanager
def ffmpeg_log(level: int = av.logging.WARNING) -> Iterator[list[tuple[int, str, str]]]:
    """Collect FFmpeg's log lines (this thread) instead of printing them; restores the level after."""
    old, old_skip = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(level)
    av.logging.set_skip_repeated(False)  # else a message seen before (same damage, another file) is swallowed
    try:
        with av.logging.Capture() as logs:
            yield logs
    finally:
        av.logging.set_skip_repeated(old_skip)
        av.logging.set_level(old)


def damage_from_log(logs: list[tuple[int, str, str]]) -> str | None:
    """A short description of what FFmpeg complained about, or None if nothing damning."""
    found: list[str] = []
    for _level, _name, message in logs:
        for needle, meaning in DAMAGE_MESSAGES:
            if needle in message and meaning not in found:
                found.append(meaning)
    return ", ".join(found) or None


def looks_like_text(head: bytes) -> bool:
    """Whether the first bytes of a file look like text rather than media."""
    if not head or b"\0" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte character may be cut at the end of the sample
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * len(text)


def check_input_file(path: Path) -> None:
    """Fail with a one-line message when ``path`` cannot possibly be a readable video."""
    if not path.exists():
        raise file_error(path, "no such file")
    if not path.is_file():
        raise file_error(path, "not a regular file")
    if not os.access(path, os.R_OK):
        raise file_error(path, "permission denied")
    size = path.stat().st_size
    if size == 0:
        raise file_error(path, "empty file (0 bytes), not a video")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise still_image_error(path, path.suffix.lower().lstrip("."))
    with open(path, "rb") as f:
        head = f.read(4096)
    if looks_like_text(head):
        raise file_error(path, "is a text file, not a video")


def still_image_error(path: Path, kind: str) -> VidstyleError:
    """The error for a single picture given where a video is expected."""
    return file_error(
        path,
        f"is a still image ({kind}), not a video; for an image sequence give its folder "
        "or a pattern such as frames/%05d.png",
    )


def is_still_image_format(container: av.container.InputContainer) -> bool:
    """Whether FFmpeg opened the file as a single picture."""
    name = container.format.name
    return name in STILL_IMAGE_FORMATS or name.endswith("_pipe")


def open_input(path: Path) -> av.container.InputContainer:
    """``av.open`` for reading, with every failure turned into a VidstyleError naming ``path``."""
    with ffmpeg_log() as logs:
        try:
            return av.open(str(path), mode="r")
        except av.error.FileNotFoundError:
            raise file_error(path, "no such file") from None
        except av.error.PermissionError:
            raise file_error(path, "permission denied") from None
        except av.error.InvalidDataError:
            damage = damage_from_log(logs)
            if damage and "moov" in damage and not _starts_like_mp4(path):
                damage = None  # random bytes under an .mp4 name, not a cut-off MP4
            if damage:
                raise file_error(path, f"truncated or damaged: {damage}") from None
            raise file_error(path, "not a video FFmpeg can read (unknown format or damaged data)") from None
        except av.error.FFmpegError as e:
            raise file_error(path, f"cannot be read: {describe(e)}") from None


def _starts_like_mp4(path: Path) -> bool:
    """Whether the file begins with an ISO-BMFF box (what a cut-off MP4 still has)."""
    with open(path, "rb") as f:
        return f.read(8)[4:8] in (b"ftyp", b"mdat", b"moov", b"free", b"wide", b"skip")


def describe(error: BaseException) -> str:
    """PyAV's exception text without errno noise and quoted C calls."""
    if isinstance(error, av.error.FFmpegError):
        return (error.strerror or type(error).__name__).rstrip(".").lower()
    return str(error) or type(error).__name__
