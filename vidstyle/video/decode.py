"""Streaming decode of a video file into RGB frames (PyAV): seek, trim, stride, resize, rotate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from vidstyle.video.avio import open_input
from vidstyle.video.color import frame_matrix
from vidstyle.video.info import Frame
from vidstyle.video.reader import VideoReader
from vidstyle.video.timeline import rotation_quarter_turns


class _SeekFailed(Exception):
    """Seeking landed after the frame we wanted, or on a keyframe that does not decode cleanly
    (some files flag I-frames that need earlier frames); decode from the start instead."""


class FileReader(VideoReader):
    """A :class:`VideoReader` over a video file that FFmpeg can read."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        src = self.source_info
        self._turns = rotation_quarter_turns(src.rotation)
        w, h = self.info.width, self.info.height
        self._decode_size = (h, w) if self._turns % 2 else (w, h)  # size before rotation
        shrink = self._decode_size[0] * self._decode_size[1] < src.source_width * src.source_height
        self._interpolation = Interpolation.AREA if shrink else Interpolation.BICUBIC
        self._reformatter = VideoReformatter()

    def _frames(self) -> Iterator[Frame]:
        target = None
        if self.selection is not None and self.timeline is not None and self.selection.first > 0:
            target = self.timeline.pts_at(self.selection.first)
        try:
            yield from self._decode_from(target)
        except _SeekFailed:
            self.decode_errors = 0
            yield from self._decode_from(None)

    def _decode_from(self, target: int | None) -> Iterator[Frame]:
        src, tl = self.source_info, self.timeline
        with open_input(src.path) as container:
            stream = container.streams[src.stream_index]
            assert isinstance(stream, av.VideoStream)  # scan_file picked it from streams.video
            stream.thread_type = "AUTO"
            if target is not None:
                container.seek(target, stream=stream, backward=True)
            index = -1
            yielded = False
            for vf in decoded_frames(container, stream):
                seeking = target is not None and not yielded
                if vf is None:
                    if seeking:
                        raise _SeekFailed
                    self.decode_errors += 1
                    continue
                pts = vf.pts
                found = tl.index_of(pts) if tl is not None and pts is not None else None
                # seeking implies a target; a found index implies a pts (spelled out for mypy)
                past = found is None or (pts is not None and target is not None and pts > target)
                if seeking and (vf.is_corrupt or (index < 0 and past)):
                    raise _SeekFailed
                index = found if found is not None else index + 1
                time = float(pts * src.time_base) if pts is not None else src.start_time + index / float(src.fps)
                wanted = self.wants(index, time)
                if wanted is None:
                    break
                if wanted:
                    yielded = True
                    yield Frame(
                        index=index, pts=pts, time=time, image=self._to_rgb(vf), duration=self._duration(index, vf)
                    )

    def _duration(self, index: int, vf: av.VideoFrame) -> int | None:
        if self.selection is not None and self.timeline is not None:
            return self.selection.duration_ticks(self.timeline, index)
        return vf.duration * self.stride if vf.duration else None

    def _to_rgb(self, vf: av.VideoFrame) -> np.ndarray:
        m = frame_matrix(vf.colorspace, self.source_info.source_height)
        w, h = self._decode_size
        rgb = self._reformatter.reformat(
            vf, width=w, height=h, format="rgb24", src_colorspace=m.sws, interpolation=self._interpolation
        )
        image = rgb.to_ndarray()
        if self._turns:
            image = np.rot90(image, self._turns)
        return np.ascontiguousarray(image)


def decoded_frames(container: av.container.InputContainer, stream: av.VideoStream) -> Iterator[av.VideoFrame | None]:
    """Decoded frames of ``stream`` in display order; ``None`` for each packet that could not be
    read or decoded (skipped, as players do), so the caller can count them."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError:  # the file breaks off mid-packet: flush what the decoder holds
            yield None
            packet = None
        try:
            yield from stream.decode(packet)
        except av.error.FFmpegError:
            yield None
        if packet is None:
            return


def count_decodable(path: Path, stream_index: int) -> tuple[int, int]:
    """Decode every frame of a stream without converting it: (frames decoded, undecodable packets)."""
    frames = errors = 0
    with open_input(path) as container:
        stream = container.streams[stream_index]
        assert isinstance(stream, av.VideoStream)  # a video stream index from scan_file
        stream.thread_type = "AUTO"
        for vf in decoded_frames(container, stream):
            if vf is None:
                errors += 1
            else:
                frames += 1
    return frames, errors
