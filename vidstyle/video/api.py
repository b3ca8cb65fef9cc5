"""Entry points: open any video or image sequence for reading, or just describe it."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from vidstyle.errors import VidstyleError
from vidstyle.files.patterns import is_sequence_input
from vidstyle.video.decode import FileReader
from vidstyle.video.info import VideoInfo
from vidstyle.video.reader import VideoReader
from vidstyle.video.scan import scan_file
from vidstyle.video.sequence import SequenceReader, scan_sequence
from vidstyle.video.timeline import PositionLike, Timeline


def open_video(
    path: str | os.PathLike[str],
    *,
    size: int | None = None,
    start: PositionLike | None = None,
    end: PositionLike | None = None,
    stride: int = 1,
    fps: float | Fraction | None = None,
) -> VideoReader:
    """Open a video file or image sequence for streaming decode.

    ``size``: longest side of the delivered frames (aspect kept, both sides even); None keeps
    the source size. ``start``/``end`` (end exclusive): ``int`` = source frame index, ``float``
    = seconds on the video's clock (``Frame.time``), ``str`` as on the command line (``"2.5"``,
    ``"2.5s"``, ``"1:02.5"`` = seconds, ``"120f"`` = frame). ``stride``: keep every n-th frame
    from the start. ``fps``: frame rate of an image sequence (default 25); not allowed for
    video files, whose timing comes from the file. Raises VidstyleError for unreadable input.
    """
    p = Path(path)
    timeline: Timeline | None
    if is_sequence_input(p):
        info, timeline, files = scan_sequence(p, fps)
        return SequenceReader(info, timeline, files, size=size, start=start, end=end, stride=stride)
    _no_fps_for_files(p, fps)
    info, timeline = scan_file(p)
    return FileReader(info, timeline, size=size, start=start, end=end, stride=stride)


def probe(path: str | os.PathLike[str], *, fps: float | Fraction | None = None) -> VideoInfo:
    """Describe a video file or image sequence without decoding it (see :class:`VideoInfo`)."""
    p = Path(path)
    if is_sequence_input(p):
        return scan_sequence(p, fps)[0]
    _no_fps_for_files(p, fps)
    return scan_file(p)[0]


def _no_fps_for_files(path: Path, fps: float | Fraction | None) -> None:
    if fps is not None:
        raise VidstyleError(f"{path}: fps applies to image sequences only; a video file keeps its own timing")
