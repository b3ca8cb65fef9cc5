"""What a video is: the metadata dataclasses returned by :func:`probe` and carried by readers and frames."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class AudioInfo:
    """One audio stream of a source file."""

    index: int  # stream index in the container
    codec: str
    sample_rate: int
    channels: int
    layout: str
    bit_rate: int | None
    duration: float | None
    language: str | None
    packets: int | None = None  # counted while probing

    def describe(self) -> str:
        """One line for humans, e.g. ``aac 48000 Hz stereo``."""
        rate = f"{self.bit_rate // 1000} kb/s" if self.bit_rate else ""
        return " ".join(x for x in (self.codec, f"{self.sample_rate} Hz", self.layout, rate) if x)


@dataclass(frozen=True)
class VideoInfo:
    """Metadata of a video file or image sequence, as :func:`open_video` will deliver it.

    ``width``/``height`` are those of the delivered frames: after rotation and after the
    reader's resize. ``source_width``/``source_height`` are the coded size before both.
    ``frame_count_method`` says how exact ``frame_count`` is: ``"packets"`` (counted in
    the file, exact), ``"files"`` (images in a sequence), ``"header"`` (as the container
    says) or ``"estimate"`` (duration x fps).
    """

    path: Path
    container: str  # FFmpeg format name, or "image sequence"
    width: int
    height: int
    source_width: int
    source_height: int
    rotation: int  # degrees counter-clockwise that the display matrix asks for (0, 90, 180, 270)
    fps: Fraction  # nominal frame rate (FFmpeg's guess)
    average_fps: Fraction | None  # frames / span, measured from the timestamps
    time_base: Fraction
    start_time: float  # presentation time of the first frame, seconds
    duration: float | None  # seconds of video, None when unknown
    frame_count: int | None
    frame_count_method: str
    vfr: bool  # timestamps are irregular (variable frame rate)
    codec: str
    pix_fmt: str
    bit_rate: int | None = None
    sample_aspect_ratio: Fraction | None = None
    colorspace: str | None = None  # matrix tag of the source (e.g. "bt709"), None when untagged
    stream_index: int = 0
    size_bytes: int | None = None
    audio: tuple[AudioInfo, ...] = ()
    streams: tuple[str, ...] = ()  # every stream of the file, e.g. "#2 data tmcd" (not all are carried over)
    metadata: dict[str, str] = field(default_factory=dict)  # container tags
    stream_metadata: dict[str, str] = field(default_factory=dict)  # video stream tags
    damage: str | None = None  # what probing found wrong (truncated, corrupt packets), None if nothing

    @property
    def has_audio(self) -> bool:
        """Whether the source has at least one audio stream."""
        return bool(self.audio)

    @property
    def is_sequence(self) -> bool:
        """Whether this is a folder or pattern of images rather than a video file."""
        return self.container == "image sequence"

    def resized(self, width: int, height: int) -> VideoInfo:
        """The same source delivered at another frame size."""
        return replace(self, width=width, height=height)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (fractions as "num/den" strings, paths as strings)."""
        d = asdict(self)
        d["has_audio"] = self.has_audio
        return _jsonable(d)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass
class Frame:
    """One decoded frame, ready for processing.

    ``index`` is the frame's position in the source stream (0 = first frame of the file or
    sequence), before trimming and stride, so it is stable across ``start``/``stride``
    choices. ``pts`` is in the source ``time_base`` (None if the source has none), ``time``
    in seconds, ``duration`` in ``time_base`` ticks: how long this frame stays on screen in
    the selected range (with a stride it covers the skipped frames). ``image`` is H x W x 3
    uint8 RGB, C-contiguous, rotation already applied.
    """

    index: int
    pts: int | None
    time: float
    image: np.ndarray
    duration: int | None = None
