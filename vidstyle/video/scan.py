"""Probing a video file: metadata plus the timeline of every frame, read from packets (no full decode)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidstyle.errors import file_error
from vidstyle.video.avio import (
    check_input_file,
    damage_from_log,
    ffmpeg_log,
    is_still_image_format,
    open_input,
    still_image_error,
)
from vidstyle.video.color import colorspace_name
from vidstyle.video.info import AudioInfo, VideoInfo
from vidstyle.video.timeline import Timeline, rotation_quarter_turns

MP4_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"  # the only demuxer whose frame count in the header is exact


def scan_file(path: Path) -> tuple[VideoInfo, Timeline | None]:
    """Probe ``path``: metadata, and the presentation timestamps of all frames (None if it has none).

    Reads every packet but decodes only the first frame (for rotation and pixel format).
    Raises VidstyleError naming the file for anything that is not a readable video.
    """
    check_input_file(path)
    with open_input(path) as container:
        if is_still_image_format(container):
            raise still_image_error(path, container.format.name.removesuffix("_pipe"))
        stream = _video_stream(container, path)
        if stream.codec_context is None:
            raise file_error(path, f"no decoder for its video codec ({stream.codec.name})")
        with ffmpeg_log() as logs:
            first, packets, audio_packets, read_error = _read_packets(container, stream)
        if first is None:
            raise file_error(path, "no video frame could be decoded (damaged or truncated file)")
        timeline = _timeline(packets, stream)
        damage = _damage(container, stream, timeline, damage_from_log(logs), read_error)
        return _info(path, container, stream, first, timeline, audio_packets, damage), timeline


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    """The first real video stream (cover pictures of music files don't count)."""
    for s in container.streams.video:
        if not s.disposition & av.stream.Disposition.attached_pic:
            return s
    if container.streams.audio:
        kinds = ", ".join(_audio_info(a, None).describe() for a in container.streams.audio)
        raise file_error(path, f"has no video stream (audio only: {kinds})")
    raise file_error(path, "has no video stream")


def _read_packets(container, stream):
    """Demux video and audio packets; decode until the first video frame. Returns
    (first frame, [(pts, duration, discard)], {audio index: packet count}, read error)."""
    audio = [a for a in container.streams.audio]
    counts = {a.index: 0 for a in audio}
    packets: list[tuple[int | None, int, bool]] = []
    first = None
    read_error = None
    demux = container.demux(stream, *audio)
    while True:
        try:
            packet = next(demux)
        except StopIteration:
            break
        except av.error.FFmpegError as e:  # I/O or demuxer failure mid-file: keep what we have
            read_error = e.strerror or type(e).__name__
            break
        if packet.stream.index != stream.index:
            counts[packet.stream.index] += packet.size > 0
            continue
        if packet.size > 0:
            pts = packet.pts if packet.pts is not None else packet.dts
            packets.append((pts, packet.duration or 0, packet.is_discard))
        if first is None:
            try:
                frames = stream.decode(packet)
            except av.error.FFmpegError:
                frames = []
            if frames:
                first = frames[0]
    return first, packets, counts, read_error


def _timeline(packets: list[tuple[int | None, int, bool]], stream: av.VideoStream) -> Timeline | None:
    """Sorted frame timestamps, or None when some packet has no timestamp at all."""
    kept: list[tuple[int, int]] = []
    for p, d, discard in packets:
        if discard:
            continue
        if p is None:
            return None
        kept.append((p, d))
    if not kept:
        return None
    kept.sort()
    pts = np.fromiter((p for p, _ in kept), dtype=np.int64, count=len(kept))
    steps = np.diff(pts)
    nominal = _nominal_step(stream)
    fallback = int(np.median(steps)) if steps.size else nominal
    end = max(p + (d if d > 0 else fallback or 1) for p, d in kept[-4:])
    if stream.duration and stream.start_time is not None and len(kept) > 1:
        # the stream header knows where the last frame ends; trust it when it is plausible
        header_end = stream.start_time + stream.duration
        if int(pts[-1]) < header_end <= int(pts[-1]) + 4 * max(fallback, 1):
            end = header_end
    assert stream.time_base is not None  # FFmpeg gives every demuxed stream a time base
    return Timeline(pts=pts, end_pts=int(end), time_base=stream.time_base)


def _nominal_step(stream: av.VideoStream) -> int:
    rate = stream.guessed_rate or stream.average_rate
    if not rate or not stream.time_base:
        return 1
    return max(1, round(1 / (rate * stream.time_base)))


def _damage(container, stream, timeline: Timeline | None, logged: str | None, read_error: str | None) -> str | None:
    problems = [x for x in (logged, read_error and f"read error ({read_error})") if x]
    if container.format.name == MP4_FAMILY and stream.frames and timeline is not None and len(timeline) < stream.frames:
        problems.insert(0, f"only {len(timeline)} of {stream.frames} frames present")
    return "; ".join(problems) or None


def _info(path, container, stream, first, timeline, audio_packets, damage) -> VideoInfo:
    turns = rotation_quarter_turns(first.rotation or 0)
    w, h = stream.codec_context.width or first.width, stream.codec_context.height or first.height
    dw, dh = (h, w) if turns % 2 else (w, h)
    tb = stream.time_base or Fraction(1, 1)
    fps = stream.guessed_rate or stream.average_rate or Fraction(25)
    count: int | None
    if timeline is not None and len(timeline):
        count, method = len(timeline), "packets"
        duration = timeline.duration
        start = timeline.time(0)
        average = Fraction(len(timeline)) / Fraction(duration).limit_denominator(1_000_000) if duration else None
        vfr = timeline.is_variable()
    else:
        duration = (
            float(stream.duration * tb)
            if stream.duration
            else container.duration / av.time_base
            if container.duration
            else None
        )
        count, method = (
            (stream.frames, "header")
            if stream.frames
            else ((round(duration * fps), "estimate") if duration else (None, "estimate"))
        )
        start = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        average, vfr = None, False
    sar = stream.sample_aspect_ratio
    return VideoInfo(
        path=path,
        container=container.format.name,
        width=dw,
        height=dh,
        source_width=w,
        source_height=h,
        rotation=turns * 90,
        fps=fps,
        average_fps=average,
        time_base=tb,
        start_time=start,
        duration=duration,
        frame_count=count,
        frame_count_method=method,
        vfr=vfr,
        codec=stream.codec.canonical_name,
        pix_fmt=first.format.name,
        bit_rate=stream.bit_rate or None,
        sample_aspect_ratio=sar if sar and sar != 1 else None,
        colorspace=colorspace_name(first.colorspace),
        stream_index=stream.index,
        size_bytes=path.stat().st_size,
        audio=tuple(_audio_info(a, audio_packets.get(a.index)) for a in container.streams.audio),
        streams=tuple(_stream_line(s) for s in container.streams),
        metadata=dict(container.metadata),
        stream_metadata=dict(stream.metadata),
        damage=damage,
    )


def _stream_line(stream: av.stream.Stream) -> str:
    """``#index type codec`` for the stream list of probe."""
    if stream.codec_context is not None:
        codec = stream.codec.canonical_name
    else:  # data streams (timecode, GPS...): FFmpeg has no codec for them, the handler name says what
        codec = stream.metadata.get("handler_name") or getattr(stream, "name", None) or ""
    picture = " (cover picture)" if stream.disposition & av.stream.Disposition.attached_pic else ""
    return f"#{stream.index} {stream.type} {codec}".rstrip() + picture


def _audio_info(stream: av.AudioStream, packets: int | None) -> AudioInfo:
    cc = stream.codec_context
    tb = stream.time_base
    return AudioInfo(
        index=stream.index,
        codec=stream.codec.canonical_name,
        sample_rate=cc.sample_rate,
        channels=cc.channels,
        layout=cc.layout.name,
        bit_rate=cc.bit_rate or None,
        duration=float(stream.duration * tb) if stream.duration and tb else None,
        language=stream.language if stream.language not in (None, "und") else None,
        packets=packets,
    )
