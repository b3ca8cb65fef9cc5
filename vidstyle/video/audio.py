"""Carrying a source's audio into an output: packets copied untouched where the container allows, else transcoded."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from vidstyle.errors import file_error
from vidstyle.video.avio import describe, open_input
from vidstyle.video.codecs import (
    AUDIO_BITRATE_PER_CHANNEL,
    AUDIO_COPY_OK,
    AUDIO_TRANSCODE_CODEC,
    DEFAULT_AUDIO_CODEC,
    OPUS_RATES,
)
from vidstyle.video.metadata import stream_tags

_UNLISTED = object()
END_MARGIN_S = 1.0  # keep reading this long past the end trim (streams are not perfectly interleaved)


def can_copy(output: av.container.OutputContainer, codec: str) -> bool:
    """Whether audio in ``codec`` can go into ``output`` without re-encoding.

    Known containers use an explicit list of what their players expect (FFmpeg will put
    Vorbis in MP4, but few players read it); others trust FFmpeg's own table.
    """
    allowed = AUDIO_COPY_OK.get(output.format.name, _UNLISTED)
    if allowed is _UNLISTED or allowed is None:
        return codec in output.supported_codecs
    return codec in allowed  # type: ignore[operator]


def transcode_codec(output: av.container.OutputContainer) -> str:
    """The audio encoder used when copying is not possible."""
    name = AUDIO_TRANSCODE_CODEC.get(output.format.name, DEFAULT_AUDIO_CODEC)
    return name if name in output.supported_codecs else output.default_audio_codec


class _Track:
    """One source audio stream going into one output stream, trimmed to [start, end) and shifted."""

    def __init__(
        self,
        output: av.container.OutputContainer,
        source: av.AudioStream,
        start: float | None,
        end: float | None,
        shift: float,
    ) -> None:
        self.output, self.source = output, source
        self.start, self.end, self.shift = start, end, shift

    def keeps(self, time: float | None) -> bool:
        """Whether audio starting at source ``time`` (seconds) lies in the kept range."""
        if time is None:
            return True
        eps = 0.5 * float(self.source.time_base or 0)
        return (self.start is None or time >= self.start - eps) and (self.end is None or time < self.end - eps)

    def feed(self, packet: av.Packet, time: float | None) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def finish(self) -> None:
        """Flush whatever is buffered."""


class CopyTrack(_Track):
    """Packets muxed as they are: same bytes, same durations, timestamps shifted by the trim."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.stream = self.output.add_stream_from_template(self.source)
        self.stream.metadata.update(stream_tags(self.source.metadata))
        time_base = self.source.time_base
        assert time_base is not None  # FFmpeg gives every demuxed stream a time base
        self._shift_ticks = round(Fraction(self.shift).limit_denominator(10**9) / time_base)

    def feed(self, packet: av.Packet, time: float | None) -> None:
        if not self.keeps(time):
            return
        if self._shift_ticks:
            if packet.pts is not None:
                packet.pts -= self._shift_ticks
            if packet.dts is not None:
                packet.dts -= self._shift_ticks
        packet.stream = self.stream
        self.output.mux(packet)


class TranscodeTrack(_Track):
    """Decoded, trimmed, resampled and re-encoded (AAC, or Opus for WebM)."""

    def __init__(self, *args, codec: str) -> None:
        super().__init__(*args)
        src = self.source.codec_context
        rate = src.sample_rate
        if codec in ("libopus", "opus") and rate not in OPUS_RATES:
            rate = OPUS_RATES[0]
        self.rate = rate
        stream = self.output.add_stream(codec, rate=rate, layout=src.layout.name)
        assert isinstance(stream, av.AudioStream)  # codec is an audio encoder
        self.stream = stream
        self.stream.bit_rate = AUDIO_BITRATE_PER_CHANNEL * src.channels
        if codec == "libopus" and src.channels > 2:
            self.stream.options = {"mapping_family": "1"}
        self.stream.metadata.update(stream_tags(self.source.metadata))
        self._resampler: av.AudioResampler | None = None
        self._next_pts = 0

    def feed(self, packet: av.Packet, time: float | None) -> None:
        try:
            frames = self.source.decode(packet)
        except av.error.FFmpegError:
            return  # a damaged audio packet: skip it, as players do
        for frame in frames:
            if self.keeps(frame.time):
                self._encode(frame)

    def _encode(self, frame: av.AudioFrame | None) -> None:
        if self._resampler is None:
            if frame is None:
                return
            cc = self.stream.codec_context
            self._resampler = av.AudioResampler(
                format=cc.format.name, layout=cc.layout.name, rate=self.rate, frame_size=cc.frame_size or None
            )
            if frame.time is not None:
                self._next_pts = max(0, round((frame.time - self.shift) * self.rate))
        for out in self._resampler.resample(frame):
            out.pts = self._next_pts
            out.time_base = Fraction(1, self.rate)
            self._next_pts += out.samples
            self.output.mux(self.stream.encode(out))

    def finish(self) -> None:
        try:
            tail = self.source.decode(None)
        except av.error.FFmpegError:
            tail = []
        for frame in tail:
            if self.keeps(frame.time):
                self._encode(frame)
        self._encode(None)
        self.output.mux(self.stream.encode(None))


class AudioMux:
    """Feeds the audio streams of ``source`` into ``output`` in step with the video.

    Call :meth:`pump` with the source time of each video frame written (keeps the file
    interleaved), then :meth:`finish`. Audio outside [start, end) is dropped; what is kept
    is shifted back by ``shift`` seconds so that it stays in sync with the shifted video.
    """

    def __init__(
        self,
        source: Path,
        output: av.container.OutputContainer,
        *,
        start: float | None,
        end: float | None,
        shift: float,
        output_path: Path,
    ) -> None:
        self.output_path = output_path
        self._input = open_input(source)
        self.tracks: dict[int, _Track] = {}
        try:
            for s in self._input.streams.audio:
                if can_copy(output, s.codec.canonical_name):
                    self.tracks[s.index] = CopyTrack(output, s, start, end, shift)
                else:
                    self.tracks[s.index] = TranscodeTrack(output, s, start, end, shift, codec=transcode_codec(output))
        except (av.error.FFmpegError, ValueError) as e:
            self._input.close()
            raise file_error(output_path, f"cannot add the source's audio: {describe(e)}") from None
        streams = [self._input.streams[i] for i in self.tracks]
        self._packets = self._input.demux(*streams) if streams else iter(())
        self._pending: av.Packet | None = None
        self._end = end
        self._last_time: dict[int, float] = {}

    @property
    def modes(self) -> dict[int, str]:
        """Source stream index -> "copy" or "transcode"."""
        return {i: "copy" if isinstance(t, CopyTrack) else "transcode" for i, t in self.tracks.items()}

    def _time(self, packet: av.Packet) -> float | None:
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is None or packet.time_base is None:
            return self._last_time.get(packet.stream.index)
        t = float(ts * packet.time_base)
        self._last_time[packet.stream.index] = t
        return t

    def pump(self, until: float | None) -> None:
        """Mux source audio up to source time ``until`` (None: all of it)."""
        while True:
            packet = self._pending
            self._pending = None
            if packet is None:
                try:
                    packet = next(self._packets)
                except StopIteration:
                    return
                except av.error.FFmpegError:  # damaged source: keep what we have
                    self._packets = iter(())
                    return
            if packet.size == 0:
                continue  # end-of-stream marker
            time = self._time(packet)
            if self._end is not None and time is not None and time >= self._end + END_MARGIN_S:
                self._packets = iter(())  # past the trimmed range: stop reading
                return
            if until is not None and time is not None and time > until:
                self._pending = packet
                return
            self.tracks[packet.stream.index].feed(packet, time)

    def finish(self) -> None:
        """Mux everything left and flush the encoders."""
        self.pump(None)
        for track in self.tracks.values():
            track.finish()

    def close(self) -> None:
        """Release the source file."""
        self._input.close()
