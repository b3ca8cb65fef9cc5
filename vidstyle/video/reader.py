"""The reader interface shared by video files and image sequences: trimming, stride, resize, progress."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vidstyle.errors import VidstyleError
from vidstyle.video.info import Frame, VideoInfo
from vidstyle.video.timeline import Position, PositionLike, Selection, Timeline, fit_size, parse_position, select


class VideoReader:
    """Iterable of :class:`Frame` over a trimmed, strided, resized source; use as a context manager.

    Frames are decoded one at a time (never the whole video in memory). ``info`` describes
    the source as delivered (size after rotation and resize; frame count and duration are the
    whole source's), ``len(reader)`` the frames this selection delivers, ``trim`` the source
    seconds it covers (for cutting the audio to match). After iteration, ``frames_read``
    says how many frames were delivered and ``truncated``/``warning`` whether the source
    ended early or had undecodable data.
    """

    def __init__(
        self,
        info: VideoInfo,
        timeline: Timeline | None,
        *,
        size: int | None = None,
        start: PositionLike | None = None,
        end: PositionLike | None = None,
        stride: int = 1,
    ) -> None:
        if stride < 1:
            raise VidstyleError(f"stride must be 1 or more, not {stride}")
        self.source_info = info
        self.info = info.resized(*fit_size(info.width, info.height, size))
        self.timeline = timeline
        self.start = parse_position(start, "start")
        self.end = parse_position(end, "end")
        self.stride = stride
        self.selection: Selection | None = (
            select(timeline, self.start, self.end, stride, str(info.path)) if timeline is not None else None
        )
        self.frames_read = 0
        self.decode_errors = 0
        self._finished = False
        self._first_index: int | None = None  # stride origin when there is no timeline
        self._active: Iterator[Frame] | None = None

    # -- what is selected -------------------------------------------------------------

    @property
    def expected_frames(self) -> int | None:
        """How many frames iteration should deliver, when the timeline is known."""
        return len(self.selection) if self.selection is not None else None

    @property
    def trim(self) -> tuple[float | None, float | None]:
        """Source seconds where the selected range starts and ends (None: not trimmed on that side).

        The start is the time of the first selected frame, so an encoder that shifts by it puts
        that frame at 0; the end is where the last selected frame stops showing.
        """
        sel, tl = self.selection, self.timeline
        if sel is None or tl is None:
            return (self.start.seconds if self.start else None, self.end.seconds if self.end else None)
        start = tl.time(sel.first) if self.start is not None else None
        end = tl.time(sel.stop) if self.end is not None else None
        return start, end

    def wants(self, index: int, time: float) -> bool | None:
        """Whether source frame ``index`` (at ``time``) is delivered; None once past the end."""
        if self.selection is not None:
            if index >= self.selection.stop:
                return None
            return self.selection.contains(index)
        if self.end is not None and _reached(self.end, index, time):
            return None
        if self.start is not None and not _reached(self.start, index, time):
            return False
        first = self._first_index if self._first_index is not None else index
        if (index - first) % self.stride:
            return False
        self._first_index = first
        return True

    # -- iteration ----------------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        self.close()
        self.frames_read = 0
        self.decode_errors = 0
        self._finished = False
        self._first_index = None
        self._active = self._run()
        return self._active

    def _run(self) -> Iterator[Frame]:
        for frame in self._frames():
            self.frames_read += 1
            yield frame
        self._finished = True

    def _frames(self) -> Iterator[Frame]:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- health -------------------------------------------------------------------------

    @property
    def truncated(self) -> bool:
        """True when the source is damaged or ended before the selected range did."""
        if self.source_info.damage or self.decode_errors:
            return True
        expected = self.expected_frames
        return self._finished and expected is not None and self.frames_read < expected

    @property
    def warning(self) -> str | None:
        """One line naming the file, how many frames were read and what was wrong; None if all is well."""
        if not self.truncated:
            return None
        problems = [
            p
            for p in (
                self.source_info.damage,
                f"{self.decode_errors} undecodable packets" if self.decode_errors else None,
            )
            if p
        ]
        expected = self.expected_frames
        of = f" of {expected}" if expected is not None else ""
        what = "; ".join(problems) or "ended early"
        return f"{self.source_info.path}: truncated or damaged ({what}): read {self.frames_read}{of} frames"

    # -- resources ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop any iteration in progress and release the file."""
        if self._active is not None:
            close = getattr(self._active, "close", None)
            if close is not None:
                close()
            self._active = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __len__(self) -> int:
        """Frames the iteration will deliver (exact with a timeline, else an estimate)."""
        if self.expected_frames is not None:
            return self.expected_frames
        count = self.source_info.frame_count or 0
        return max(0, -(-count // self.stride))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.source_info.path} {self.info.width}x{self.info.height}>"


def _reached(pos: Position, index: int, time: float) -> bool:
    if pos.frame is not None:
        return index >= pos.frame
    assert pos.seconds is not None
    return time >= pos.seconds - 1e-9
