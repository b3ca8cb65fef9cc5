"""``vidstyle probe VIDEO``: what a video (or image sequence) contains, for people or scripts."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from vidstyle.cli.app import app
from vidstyle.errors import file_error
from vidstyle.video import VideoInfo
from vidstyle.video import probe as probe_video
from vidstyle.video.decode import count_decodable
from vidstyle.video.sequence import count_sequence


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _rate(fps) -> str:
    text = f"{float(fps):.3f}".rstrip("0").rstrip(".")
    return text if fps.denominator == 1 else f"{text} ({fps.numerator}/{fps.denominator})"


def describe(info: VideoInfo, decoded: int | None = None) -> str:
    """A short human-readable report."""
    lines = [str(info.path)]
    streams = "image sequence" if info.is_sequence else f"{info.container}, {_size(info.size_bytes)}"
    lines.append(f"  container  {streams}")
    if len(info.streams) > 1:
        lines.append(f"  streams    {', '.join(info.streams)}")
    timing = f"{_rate(info.fps)} fps"
    if info.vfr and info.average_fps:
        timing += f", variable (average {float(info.average_fps):.3f})"
    lines.append(
        f"  video      {info.codec} {info.pix_fmt} {info.width}x{info.height}, {timing}, "
        f"time base {info.time_base.numerator}/{info.time_base.denominator}"
    )
    if info.sample_aspect_ratio:
        lines.append(f"  pixels     non-square, aspect {info.sample_aspect_ratio}")
    duration = f"{info.duration:.3f} s" if info.duration is not None else "unknown"
    count = f"{info.frame_count} ({info.frame_count_method})" if info.frame_count is not None else "unknown"
    lines.append(f"  duration   {duration}, frames {count}")
    if decoded is not None:
        lines.append(f"  decodable  {decoded} frames")
    rotation = f"{info.rotation} degrees (applied: frames are {info.width}x{info.height})" if info.rotation else "none"
    lines.append(f"  rotation   {rotation}")
    if info.audio:
        for a in info.audio:
            lang = f" [{a.language}]" if a.language else ""
            lines.append(f"  audio      #{a.index} {a.describe()}{lang}")
    else:
        lines.append("  audio      none")
    if info.damage:
        lines.append(f"  damage     {info.damage}")
    return "\n".join(lines)


@app.command()
def probe(
    video: Annotated[str, typer.Argument(help="Video file, folder of images, or pattern like frames/%05d.png.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    count: Annotated[bool, typer.Option("--count", help="Decode every frame to count them (slower).")] = False,
    fps: Annotated[float | None, typer.Option("--fps", help="Frame rate of an image sequence.", min=0.001)] = None,
) -> None:
    """Show streams, size, frame rate, duration, frame count, rotation and audio of VIDEO.

    Exits with code 2 if VIDEO is not readable, or is truncated or damaged (after
    saying how many frames can still be decoded).
    """
    info = probe_video(video, fps=fps)
    decoded = None
    if count and info.is_sequence:
        decoded = count_sequence(info.path, fps)  # reads every image as a render would, same size check
    elif count or info.damage:
        decoded, _errors = count_decodable(info.path, info.stream_index)
    if as_json:
        data = info.to_dict()
        if decoded is not None:
            data["frames_decodable"] = decoded
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(describe(info, decoded))
    if info.damage:
        raise file_error(info.path, f"truncated or damaged ({info.damage}): {decoded} frames decodable")
