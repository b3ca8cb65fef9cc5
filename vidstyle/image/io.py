"""Reading, writing and resizing still images; tensors are RGB (1, 3, H, W) floats in [0, 1]."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vidstyle.errors import file_error
from vidstyle.files.atomic import atomic_path, check_writable
from vidstyle.image.load import BACKGROUND, check_image, image_size, read_rgb8  # noqa: F401 - one loader, re-exported

WRITABLE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def load_image(path: str | os.PathLike[str]) -> torch.Tensor:
    """An image file as an RGB tensor (1, 3, H, W) in [0, 1], read by :func:`read_rgb8`."""
    return from_uint8(read_rgb8(path)[0])


def from_uint8(array: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 RGB → (1, 3, H, W) float in [0, 1]."""
    if not (array.flags.writeable and array.flags.c_contiguous):
        array = array.copy()
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def to_working(array: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """H×W×3 uint8 RGB → the shot runner's working space: (1, 3, H, W) float 0–255 on ``device``
    (the range of the optimiser, the temporal terms and Ruder's weights)."""
    if not (array.flags.writeable and array.flags.c_contiguous):
        array = array.copy()
    return torch.from_numpy(array).to(device).permute(2, 0, 1).unsqueeze(0).float()


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float in [0, 1] → H×W×3 uint8 RGB (rounded, clipped)."""
    x = image.detach()[0].clamp(0, 1).mul(255.0).round().to(torch.uint8)
    return np.ascontiguousarray(x.permute(1, 2, 0).cpu().numpy())


def check_output_image(path: str | os.PathLike[str]) -> Path:
    """Validate an output image path before any work is done."""
    path = Path(path)
    if path.suffix.lower() not in WRITABLE_SUFFIXES:
        raise file_error(
            path, f"unknown image format {path.suffix or '(none)'!r}; use one of {', '.join(WRITABLE_SUFFIXES)}"
        )
    return check_writable(path)


def save_image(image: torch.Tensor | np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write an image atomically; the format follows the file extension."""
    path = check_output_image(path)
    array = image if isinstance(image, np.ndarray) else to_uint8(image)
    options: dict[str, Any] = {"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg", ".webp") else {}
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, **options)
    return path


def fit_longest(height: int, width: int, longest: int | None) -> tuple[int, int]:
    """Size with the longest side ``longest`` and the same aspect ratio (at least 1 px)."""
    if longest is None:
        return height, width
    s = longest / max(height, width)
    return max(1, round(height * s)), max(1, round(width * s))


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize to (H, W): antialiased bicubic when shrinking, bicubic when enlarging."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    shrinking = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    return F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=shrinking)
