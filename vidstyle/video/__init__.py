"""Video in and out with PyAV: streaming decode to RGB frames, encoding with the source's timing and audio.

Public API (used by the later pipeline stages)::

    with open_video("clip.mp4", size=512, start=2.0, end="120f", stride=1) as reader:
        print(reader.info.width, reader.info.fps, len(reader))
        for frame in reader:            # Frame(index, pts, time, image HxWx3 uint8 RGB, duration)
            ...
    encode_like(frames, "out.mp4", like=reader)          # source timing, audio and tags
    VideoWriter("out.mkv", width=..., height=..., time_base=..., codec="ffv1")  # lower level
    probe("clip.mp4").to_dict()
"""

from vidstyle.files.patterns import is_sequence_input, is_sequence_output
from vidstyle.video.api import open_video, probe
from vidstyle.video.codecs import (
    CODECS,
    DEFAULT_CODEC,
    DEFAULT_CRF,
    DEFAULT_PIX_FMT,
    DEFAULT_PRESET,
    DEFAULT_SEQUENCE_FPS,
    X264_PRESETS,
    CodecSpec,
    codec_spec,
)
from vidstyle.video.encode import VideoWriter, check_output, encode_like
from vidstyle.video.info import AudioInfo, Frame, VideoInfo
from vidstyle.video.reader import VideoReader
from vidstyle.video.sequence import SequenceWriter
from vidstyle.video.timeline import Position, Timeline, fit_size, parse_position

__all__ = [
    "CODECS",
    "DEFAULT_CODEC",
    "DEFAULT_CRF",
    "DEFAULT_PIX_FMT",
    "DEFAULT_PRESET",
    "DEFAULT_SEQUENCE_FPS",
    "X264_PRESETS",
    "AudioInfo",
    "CodecSpec",
    "Frame",
    "Position",
    "SequenceWriter",
    "Timeline",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "check_output",
    "codec_spec",
    "encode_like",
    "fit_size",
    "is_sequence_input",
    "is_sequence_output",
    "open_video",
    "parse_position",
    "probe",
]
