"""Which YUV<->RGB matrix to use, so that decoding and encoding agree and outputs are tagged."""

from __future__ import annotations

from dataclasses import dataclass

from av.video.reformatter import Colorspace

from vidstyle.video.codecs import HD_MIN_HEIGHT

# name -> (swscale matrix, AVColorSpace, AVColorPrimaries, AVColorTransferCharacteristic)
_MATRICES: dict[str, tuple[Colorspace, int, int, int]] = {
    "bt709": (Colorspace.ITU709, 1, 1, 1),
    "smpte170m": (Colorspace.SMPTE170M, 6, 6, 6),
    "bt470bg": (Colorspace.ITU601, 5, 5, 6),
    "smpte240m": (Colorspace.SMPTE240M, 7, 7, 7),
    "fcc": (Colorspace.FCC, 4, 4, 6),
    "bt2020nc": (Colorspace.BT2020, 9, 9, 14),
    "bt2020c": (Colorspace.BT2020, 10, 9, 14),
}
_AVCOL_SPC_TO_NAME = {1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020nc", 10: "bt2020c"}


@dataclass(frozen=True)
class Matrix:
    """A YUV matrix with the tags that describe it in a stream."""

    name: str
    sws: Colorspace
    colorspace: int
    primaries: int
    trc: int


def default_matrix_name(height: int) -> str:
    """What players assume for untagged video of this height: BT.709 for HD, BT.601 below."""
    return "bt709" if height >= HD_MIN_HEIGHT else "smpte170m"


def matrix(name: str | None, height: int) -> Matrix:
    """The matrix called ``name``, or the default for ``height`` when unknown or untagged."""
    key = name if name in _MATRICES else default_matrix_name(height)
    sws, spc, pri, trc = _MATRICES[key]
    return Matrix(key, sws, spc, pri, trc)


def colorspace_name(avcol_spc: int) -> str | None:
    """ffprobe's name for an AVColorSpace tag, None when unspecified or unknown."""
    return _AVCOL_SPC_TO_NAME.get(int(avcol_spc))


def frame_matrix(avcol_spc: int, height: int) -> Matrix:
    """Matrix for a decoded frame with AVColorSpace tag ``avcol_spc``."""
    return matrix(_AVCOL_SPC_TO_NAME.get(int(avcol_spc)), height)
