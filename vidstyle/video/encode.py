"""Encoding RGB frames to a video file (or image sequence) with the source's timing, audio and tags."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import ColorRange, VideoReformatter

from vidstyle.errors import VidstyleError, file_error
from vidstyle.files.atomic import atomic_path, check_writable
from vidstyle.files.patterns import is_sequence_output
from vidstyle.video.audio import AudioMux
from vidstyle.video.avio import describe
from vidstyle.video.codecs import (
    DEFAULT_CODEC,
    DEFAULT_CODEC_BY_SUFFIX,
    DEFAULT_SEQUENCE_FPS,
    DEFAULT_TIME_BASE,
    OUTPUT_FORMATS,
    CodecSpec,
    codec_spec,
    encoder_options,
)
from vidstyle.video.color import matrix
from vidstyle.video.info import Frame, VideoInfo
from vidstyle.video.metadata import container_tags, stream_tags
from vidstyle.video.reader import VideoReader
from vidstyle.video.sequence import SequenceWriter, check_sequence_output


def output_format(path: Path) -> str:
    """FFmpeg muxer for an output file name, from its suffix."""
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(OUTPUT_FORMATS)
        what = f"'{path.suffix}'" if path.suffix else "no suffix"
        raise file_error(path, f"unsupported output format ({what}; use {known}, or a folder or pattern for images)")
    return fmt


def check_output(path: str | os.PathLike[str], codec: str | None = None) -> CodecSpec | None:
    """Fail early, naming ``path``, if it cannot be written or cannot hold ``codec``.

    Returns the codec to use (None for image-sequence outputs). Call it before long work.
    """
    path = Path(path)
    if is_sequence_output(path):
        check_sequence_output(path)
        return None
    check_writable(path)
    fmt = output_format(path)
    spec = codec_spec(codec or DEFAULT_CODEC_BY_SUFFIX.get(path.suffix.lower(), DEFAULT_CODEC))
    if spec.encoder not in av.codecs_available:
        raise file_error(path, f"this FFmpeg build has no {spec.encoder} encoder for {spec.name}")
    probe = av.open(io.BytesIO(), mode="w", format=fmt)
    try:
        supported = spec.encoder in probe.supported_codecs
    finally:
        probe.close()
    if not supported:
        where = ", ".join(spec.containers)
        raise file_error(path, f"a {path.suffix} file cannot hold {spec.name} video (use {where}, or another --codec)")
    return spec


def _needs_even_size(pix_fmt: str) -> bool:
    """Whether ``pix_fmt`` subsamples chroma, so that width and height must be even."""
    fmt = av.VideoFormat(pix_fmt, 16, 16)
    return not fmt.is_rgb and (fmt.chroma_width() < 16 or fmt.chroma_height() < 16)


class VideoWriter:
    """Writes RGB frames to ``path`` and renames it into place only when :meth:`close` succeeds.

    Timing: ``time_base`` is that of the pts passed to :meth:`write` (use the source's to keep
    its timestamps, variable frame rate included); ``start`` (source seconds) is subtracted
    from every timestamp so a trimmed output begins at 0; ``audio_from`` names the file whose
    audio streams are copied (or transcoded when the container cannot hold them), limited to
    [start, end). Odd sizes are padded by one edge pixel where the pixel format needs even ones.
    A folder or printf-pattern ``path`` writes images instead (timing and audio ignored).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        fps: Fraction | float = DEFAULT_SEQUENCE_FPS,
        time_base: Fraction | None = None,
        codec: str | None = None,
        crf: int | None = None,
        preset: str | None = None,
        pix_fmt: str | None = None,
        audio_from: str | os.PathLike[str] | None = None,
        start: float | None = None,
        end: float | None = None,
        metadata: Mapping[str, str] | None = None,
        stream_metadata: Mapping[str, str] | None = None,
        colorspace: str | None = None,
        sample_aspect_ratio: Fraction | None = None,
    ) -> None:
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        self.fps = Fraction(fps).limit_denominator(1001000)
        self.time_base = Fraction(time_base) if time_base else DEFAULT_TIME_BASE
        self.start, self.end = start, end
        self.frames_written = 0
        self.audio_modes: dict[int, str] = {}
        self._offset = round(Fraction(start).limit_denominator(10**9) / self.time_base) if start else 0
        self._step = max(1, round(1 / (self.fps * self.time_base)))
        self._last_pts: int | None = None
        self._durations: dict[int, int | None] = {}
        self._queue: list[av.Packet] = []
        self._closed = False
        self._sequence: SequenceWriter | None = None
        self._container: av.container.OutputContainer | None = None
        self._audio: AudioMux | None = None
        self._stack = contextlib.ExitStack()
        if is_sequence_output(self.path):
            self._sequence = SequenceWriter(self.path)
            return
        spec = check_output(self.path, codec)
        assert spec is not None
        self.codec = spec
        self.pix_fmt = pix_fmt or spec.pix_fmt
        options = encoder_options(spec, crf, preset)
        if self.pix_fmt not in {f.name for f in av.codec.Codec(spec.encoder, "w").video_formats or []}:
            raise VidstyleError(f"pixel format {self.pix_fmt} is not supported by {spec.name}")
        pad = _needs_even_size(self.pix_fmt)
        self._enc_size = (self.width + (self.width % 2 if pad else 0), self.height + (self.height % 2 if pad else 0))
        self._matrix = matrix(colorspace, self._enc_size[1])
        self._reformatter = VideoReformatter()
        try:
            tmp = self._stack.enter_context(atomic_path(self.path))
        except OSError as e:
            raise file_error(self.path, f"cannot create the file: {(e.strerror or str(e)).lower()}") from None
        try:
            self._open(tmp, spec, options, metadata or {}, stream_metadata or {}, sample_aspect_ratio, audio_from)
        except BaseException as e:
            self.abort()
            if isinstance(e, (av.error.FFmpegError, ValueError, OSError)):
                raise file_error(self.path, f"cannot start writing: {describe(e)}") from None
            raise

    def _open(
        self,
        tmp: Path,
        spec: CodecSpec,
        options: dict[str, str],
        metadata: Mapping[str, str],
        stream_metadata: Mapping[str, str],
        sar: Fraction | None,
        audio_from: Any,
    ) -> None:
        oc = av.open(str(tmp), mode="w", format=output_format(self.path))
        self._container = oc
        oc.metadata.update(container_tags(metadata))
        s = oc.add_stream(spec.encoder, rate=self.fps, options=options)
        assert isinstance(s, av.VideoStream)  # spec.encoder is always a video encoder
        s.width, s.height = self._enc_size
        s.pix_fmt = self.pix_fmt
        s.time_base = self.time_base
        cc = s.codec_context
        cc.time_base = self.time_base
        if not spec.rgb:
            cc.colorspace, cc.color_primaries, cc.color_trc = (
                self._matrix.colorspace,
                self._matrix.primaries,
                self._matrix.trc,
            )
            cc.color_range = 1  # limited ("tv") range, what every player expects
        if sar:
            cc.sample_aspect_ratio = sar
        if spec.name == "h265" and oc.format.name in ("mp4", "mov"):
            s.codec_tag = "hvc1"  # what Apple players require
        s.metadata.update(stream_tags(stream_metadata))
        self._stream = s
        if audio_from is not None:
            self._audio = AudioMux(
                Path(audio_from),
                oc,
                start=self.start,
                end=self.end,
                shift=float(self.start or 0.0),
                output_path=self.path,
            )
            self.audio_modes = self._audio.modes
        oc.start_encoding()

    # -- writing ------------------------------------------------------------------------

    def write(
        self, image: np.ndarray, *, pts: int | None = None, time: float | None = None, duration: int | None = None
    ) -> None:
        """Append one H x W x 3 uint8 RGB image.

        ``pts`` (in ``time_base`` ticks, source clock) wins over ``time`` (seconds); with
        neither, frames follow each other at ``fps``. ``duration`` (ticks) is how long the
        frame shows; by default until the next frame.
        """
        if self._closed:
            raise ValueError("write() on a closed VideoWriter")
        if image.shape != (self.height, self.width, 3) or image.dtype != np.uint8:
            raise ValueError(f"expected a {self.height}x{self.width}x3 uint8 image, got {image.shape} {image.dtype}")
        if self._sequence is not None:
            self._guard(self._sequence.write, image)
            self.frames_written += 1
            return
        if pts is None:
            pts = (
                round(time / self.time_base)
                if time is not None
                else (self._last_pts + self._offset + self._step if self._last_pts is not None else self._offset)
            )
        out_pts = int(pts) - self._offset
        if self._last_pts is not None:
            out_pts = max(out_pts, self._last_pts + 1)  # muxers need strictly increasing timestamps
            if self._durations.get(self._last_pts, 0) is None:
                self._durations[self._last_pts] = out_pts - self._last_pts
        self._durations[out_pts] = duration
        self._last_pts = out_pts
        self._guard(self._encode, image, out_pts)
        self.frames_written += 1
        if self._audio is not None:
            self._guard(self._audio.pump, float((out_pts + self._offset) * self.time_base))

    def write_frame(self, frame: Frame) -> None:
        """Append a :class:`Frame`, keeping its timestamp and duration."""
        self.write(frame.image, pts=frame.pts, time=frame.time, duration=frame.duration)

    def _encode(self, image: np.ndarray | None, pts: int | None = None) -> None:
        if image is None:
            self._queue.extend(self._stream.encode(None))
            return
        w, h = self._enc_size
        if (w, h) != (self.width, self.height):
            image = np.pad(image, ((0, h - self.height), (0, w - self.width), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        if self.codec.rgb:
            frame = self._reformatter.reformat(frame, format=self.pix_fmt)
        else:
            frame = self._reformatter.reformat(
                frame, format=self.pix_fmt, dst_colorspace=self._matrix.sws, dst_color_range=ColorRange.MPEG
            )
        frame.pts = pts
        frame.time_base = self.time_base
        self._queue.extend(self._stream.encode(frame))
        self._drain()

    def _drain(self, final: bool = False) -> None:
        """Mux encoded packets in order, each once its frame's duration is known."""
        assert self._container is not None
        while self._queue:
            packet = self._queue[0]
            known = self._durations.get(packet.pts, self._step) if packet.pts is not None else self._step
            if known is None and not final:
                return
            self._queue.pop(0)
            if packet.pts is not None:
                self._durations.pop(packet.pts, None)
            packet.duration = known if known is not None else self._step
            self._container.mux(packet)

    def _guard(self, fn: Any, *args: Any) -> Any:
        """Run ``fn``; on a PyAV or OS failure drop the partial output and say why in one line."""
        try:
            return fn(*args)
        except (av.error.FFmpegError, OSError) as e:
            self.abort()
            raise file_error(self.path, f"cannot write: {describe(e)}") from None

    # -- finishing ----------------------------------------------------------------------

    def close(self) -> None:
        """Flush everything and move the file into place (nothing appears under ``path`` before)."""
        if self._closed:
            return
        if self.frames_written == 0:
            self.abort()
            raise file_error(self.path, "no frames to write")
        if self._sequence is not None:
            self._closed = True
            self._sequence.close()
            return
        if self._last_pts is not None and self._durations.get(self._last_pts, 0) is None:
            self._durations[self._last_pts] = self._last_gap()
        self._guard(self._encode, None)
        self._guard(self._drain, True)
        if self._audio is not None:
            self._guard(self._audio.finish)
            self._audio.close()
        assert self._container is not None
        self._guard(self._container.close)
        self._closed = True
        self._stack.close()  # atomic rename

    def _last_gap(self) -> int:
        pts = sorted(self._durations)
        return self._step if len(pts) < 2 else max(1, pts[-1] - pts[-2])

    def abort(self) -> None:
        """Stop and delete the partial output; nothing is left under ``path``."""
        if self._closed:
            return
        self._closed = True
        if self._sequence is not None:
            self._sequence.abort()
            return
        if self._audio is not None:
            with contextlib.suppress(Exception):
                self._audio.close()
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
        aborted = VidstyleError(f"{self.path}: aborted")
        self._stack.__exit__(VidstyleError, aborted, None)  # atomic_path deletes the temporary file

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def encode_like(
    frames: Iterable[Frame],
    output: str | os.PathLike[str],
    like: VideoReader | VideoInfo,
    *,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    pix_fmt: str | None = None,
    audio: bool = True,
) -> Path:
    """Encode ``frames`` to ``output`` with the timing, audio and tags of the source described by ``like``.

    With a :class:`VideoReader`, its trim is applied to the audio and the output starts at 0.
    Checks the output before pulling the first frame (so a bad path fails before long work).
    """
    info = like.source_info if isinstance(like, VideoReader) else like
    start, end = like.trim if isinstance(like, VideoReader) else (None, None)
    check_output(output, codec)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise file_error(output, "no frames to write")
    height, width = first.image.shape[:2]
    with VideoWriter(
        output,
        width=width,
        height=height,
        fps=info.fps,
        time_base=info.time_base,
        codec=codec,
        crf=crf,
        preset=preset,
        pix_fmt=pix_fmt,
        audio_from=info.path if audio and info.has_audio and not info.is_sequence else None,
        start=start,
        end=end,
        metadata=info.metadata,
        stream_metadata=info.stream_metadata,
        colorspace=info.colorspace,
        sample_aspect_ratio=info.sample_aspect_ratio,
    ) as writer:
        writer.write_frame(first)
        for frame in it:
            writer.write_frame(frame)
    return Path(output)
