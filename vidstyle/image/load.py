"""The one image loader of vidstyle: stills, style images and image-sequence frames.

Kept free of torch so that probing and decoding stay light; :mod:`vidstyle.image.io` turns
its arrays into tensors.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vidstyle.errors import VidstyleError, file_error

# Transparent parts of an image (alpha channel, or a palette's transparent colour) are
# composited on this background, for stills, style images and image sequences alike.
BACKGROUND: tuple[int, int, int] = (255, 255, 255)
# Images with more pixels than this are read reduced by a whole factor (JPEG decodes at the
# reduced size): every use shrinks them to a working size of a few thousand pixels anyway.
REDUCE_ABOVE_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
# Beyond this the file cannot be read in reasonable memory (or is a decompression bomb).
MAX_PIXELS = 1 << 30

_PIL_LIMIT = threading.Lock()


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) of an image file as :func:`read_rgb8` returns it (EXIF rotation applied),
    from its header alone."""
    path = Path(path)
    with _opened(path) as im:
        w, h = im.size
        if im.getexif().get(0x0112) in (5, 6, 7, 8):  # rotated a quarter turn
            w, h = h, w
    return w, h


def read_rgb8(path: str | os.PathLike[str]) -> tuple[np.ndarray, tuple[int, int]]:
    """The one image loader: any file PIL reads as an H×W×3 uint8 RGB array, plus the
    (width, height) of the full image.

    - 16-bit and 32-bit greyscale (PNG, TIFF) are scaled to 8 bits (v / 257), not clipped;
      float images in [0, 1] are scaled by 255;
    - palette, greyscale, CMYK, YCbCr… are converted to RGB;
    - transparent parts are composited on :data:`BACKGROUND` (white);
    - the EXIF orientation is applied;
    - images over :data:`REDUCE_ABOVE_PIXELS` are read reduced by a whole factor (the full
      size is still returned), and those over :data:`MAX_PIXELS` refused.

    Every problem is a one-line :class:`~vidstyle.errors.VidstyleError` naming the file.
    """
    path = Path(path)
    try:
        with _opened(path) as im:
            full = im.size
            factor = _reduce_factor(path, *full)
            if factor > 1 and im.format == "JPEG":
                im.draft(im.mode, (max(1, full[0] // factor), max(1, full[1] // factor)))  # decode reduced
            im.load()
            left = max(1, round(im.width * factor / full[0]))  # what a JPEG draft did not already do
            turned = ImageOps.exif_transpose(im)
            if turned.size != im.size:
                full = (full[1], full[0])
            rgb = _to_rgb8(turned, left)
    except VidstyleError:
        raise
    except PermissionError:
        raise file_error(path, "permission denied") from None
    except MemoryError:
        raise file_error(path, "image too large to read in the memory available") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError) as e:
        raise file_error(path, f"cannot read image ({e})") from None
    return np.ascontiguousarray(rgb), full


def check_image(path: str | os.PathLike[str]) -> None:
    """Fail now, naming the file, if ``path`` is not an image :func:`read_rgb8` can read."""
    read_rgb8(path)


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[Image.Image]:
    """PIL's lazy open, with our own size limit instead of PIL's decompression-bomb error."""
    if not path.exists():
        raise file_error(path, "file not found")
    if path.is_dir():
        raise file_error(path, "is a directory, expected an image file")
    try:
        if path.stat().st_size == 0:
            raise file_error(path, "file is empty (0 bytes)")
        with _PIL_LIMIT, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, MAX_PIXELS
            try:
                im = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except UnidentifiedImageError:
        raise file_error(path, "not an image file (unrecognised format)") from None
    except Image.DecompressionBombError:
        raise file_error(path, f"image is larger than {MAX_PIXELS >> 20} megapixels; shrink it first") from None
    except PermissionError:
        raise file_error(path, "permission denied") from None
    except OSError as e:
        raise file_error(path, f"cannot read image ({e.strerror or e})") from None
    with im:
        if im.width == 0 or im.height == 0:
            raise file_error(path, "image has zero size")
        yield im


def _reduce_factor(path: Path, width: int, height: int) -> int:
    pixels = width * height
    if pixels > MAX_PIXELS:
        raise file_error(path, f"image is {width}x{height}, larger than {MAX_PIXELS >> 20} megapixels; shrink it first")
    return max(1, math.ceil(math.sqrt(pixels / REDUCE_ABOVE_PIXELS))) if pixels > REDUCE_ABOVE_PIXELS else 1


def _to_rgb8(im: Image.Image, factor: int) -> np.ndarray:
    """A loaded PIL image (any mode) as H×W×3 uint8 RGB, reduced by ``factor``."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        grey = _wide_to_uint8(np.asarray(im), im.mode)
        if factor > 1:
            grey = np.asarray(Image.fromarray(grey).reduce(factor))
        return np.repeat(grey[..., None], 3, axis=2)
    transparent = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    im = im.convert("RGBA" if transparent else "RGB")
    if factor > 1:
        im = im.reduce(factor)
    if transparent:
        background = Image.new("RGBA", im.size, (*BACKGROUND, 255))
        im = Image.alpha_composite(background, im).convert("RGB")
    return np.asarray(im)


def _wide_to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """16/32-bit integer or float greyscale → uint8, scaled (not clipped), row block by row block."""
    out = np.empty(a.shape, np.uint8)
    as_float = mode == "F"
    top = 1.0 if as_float and float(np.nanmax(a, initial=0.0)) <= 1.0 else 255.0 if as_float else 65535.0
    for r in range(0, a.shape[0], 1024):
        block = a[r : r + 1024].astype(np.float32)
        np.nan_to_num(block, copy=False, nan=0.0, posinf=top, neginf=0.0)
        out[r : r + 1024] = np.clip(np.rint(block * (255.0 / top)), 0, 255).astype(np.uint8)
    return out
