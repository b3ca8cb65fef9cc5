"""Encoder choices and their defaults: the one place where codec, CRF, preset and pixel format are set."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from vidstyle.errors import VidstyleError


@dataclass(frozen=True)
class CodecSpec:
    """How to drive one video encoder through PyAV."""

    name: str  # user-facing name (--codec)
    encoder: str  # FFmpeg encoder
    pix_fmt: str  # default pixel format of the encoded stream
    crf: int | None  # default constant-rate factor; None: the codec has no CRF
    crf_max: int  # highest accepted CRF
    uses_preset: bool  # accepts --preset
    containers: tuple[str, ...]  # suffixes worth suggesting when a container refuses the codec
    rgb: bool = False  # encodes RGB directly (no YUV matrix, no colour tags)


CODECS: dict[str, CodecSpec] = {
    "h264": CodecSpec("h264", "libx264", "yuv420p", 18, 51, True, (".mp4", ".mkv", ".mov")),
    "h265": CodecSpec("h265", "libx265", "yuv420p", 20, 51, True, (".mp4", ".mkv", ".mov")),
    "vp9": CodecSpec("vp9", "libvpx-vp9", "yuv420p", 31, 63, True, (".webm", ".mkv", ".mp4")),
    "prores": CodecSpec("prores", "prores_ks", "yuv422p10le", None, 0, False, (".mov", ".mkv")),
    "ffv1": CodecSpec("ffv1", "ffv1", "bgr0", None, 0, False, (".mkv", ".avi"), rgb=True),
}
CODEC_ALIASES: dict[str, str] = {"avc": "h264", "x264": "h264", "hevc": "h265", "x265": "h265", "prores_ks": "prores"}

DEFAULT_CODEC = "h264"
DEFAULT_CRF = CODECS[DEFAULT_CODEC].crf
DEFAULT_PRESET = "medium"
DEFAULT_PIX_FMT = CODECS[DEFAULT_CODEC].pix_fmt
# Containers that cannot hold H.264 get a codec they can hold when none is asked for.
DEFAULT_CODEC_BY_SUFFIX: dict[str, str] = {".webm": "vp9"}

# Output suffix -> FFmpeg muxer.
OUTPUT_FORMATS: dict[str, str] = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
}
DEFAULT_TIME_BASE = Fraction(1, 90000)  # used when the caller gives no source time base

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
# libvpx has no presets; map the x264 names onto its speed knob (cpu-used: 0 slow ... 8 fast).
VP9_CPU_USED = {
    "ultrafast": 8,
    "superfast": 7,
    "veryfast": 6,
    "faster": 5,
    "fast": 5,
    "medium": 4,
    "slow": 2,
    "slower": 1,
    "veryslow": 0,
}
PRORES_PROFILE = "3"  # 422 HQ

# Audio: streams are copied when the output container is known to carry their codec, else transcoded.
AUDIO_COPY_OK: dict[str, frozenset[str] | None] = {
    "mp4": frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}),
    "mov": frozenset({"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le", "pcm_f32le"}),
    "webm": frozenset({"vorbis", "opus"}),
    "matroska": None,  # None: anything FFmpeg can mux there
    "avi": frozenset({"mp3", "ac3", "pcm_s16le"}),
}
AUDIO_TRANSCODE_CODEC: dict[str, str] = {"webm": "libopus"}
DEFAULT_AUDIO_CODEC = "aac"
AUDIO_BITRATE_PER_CHANNEL = 64_000
OPUS_RATES = (48000, 24000, 16000, 12000, 8000)

# Colour: frames are RGB in memory; YUV conversions use this matrix when the source says nothing.
HD_MIN_HEIGHT = 720  # at or above: BT.709, below: BT.601 (what players assume for untagged video)

DEFAULT_SEQUENCE_FPS = Fraction(25)
DEFAULT_SEQUENCE_PATTERN = "%06d.png"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
JPEG_QUALITY = 95


def codec_spec(name: str) -> CodecSpec:
    """The codec called ``name`` (aliases allowed), or a one-line error listing the choices."""
    key = CODEC_ALIASES.get(name.lower(), name.lower())
    if key not in CODECS:
        raise VidstyleError(f"unknown codec {name!r} (choose from {', '.join(CODECS)})")
    return CODECS[key]


def encoder_options(spec: CodecSpec, crf: int | None, preset: str | None) -> dict[str, str]:
    """FFmpeg private options for ``spec`` at the given quality and speed."""
    if crf is not None and spec.crf is None:
        raise VidstyleError(f"codec {spec.name} has no --crf (it is {'lossless' if spec.rgb else 'fixed-quality'})")
    if preset is not None and not spec.uses_preset:
        raise VidstyleError(f"codec {spec.name} has no --preset")
    if preset is not None and preset not in X264_PRESETS:
        raise VidstyleError(f"unknown preset {preset!r} (choose from {', '.join(X264_PRESETS)})")
    crf = spec.crf if crf is None else crf
    if crf is not None and not 0 <= crf <= spec.crf_max:
        raise VidstyleError(f"encode.crf for {spec.name} must be between 0 and {spec.crf_max}, not {crf}")
    preset = preset or DEFAULT_PRESET
    if spec.name == "h264":
        return {"crf": str(crf), "preset": preset}
    if spec.name == "h265":
        return {"crf": str(crf), "preset": preset, "x265-params": "log-level=error"}
    if spec.name == "vp9":
        return {"crf": str(crf), "b": "0", "row-mt": "1", "deadline": "good", "cpu-used": str(VP9_CPU_USED[preset])}
    if spec.name == "prores":
        return {"profile": PRORES_PROFILE}
    return {}
