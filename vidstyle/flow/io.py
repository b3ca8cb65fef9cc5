"""Reading and writing Middlebury ``.flo`` files (the ground-truth flow format)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vidstyle.errors import file_error
from vidstyle.files.atomic import atomic_path

FLO_MAGIC = np.float32(202021.25)
UNKNOWN_FLOW = 1e9
"""Middlebury marks pixels without ground truth with components above this value."""

_MAX_SIDE = 1 << 16


def read_flo(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a ``.flo`` file into an H×W×2 float32 array (u = x, v = y, in pixels).

    Unknown values (> 1e9) are returned as they are; use :func:`known_mask` to exclude them.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise file_error(path, f"cannot read ({e.strerror or e})") from None
    if len(raw) < 12:
        raise file_error(path, "not a .flo file (too short)")
    magic = np.frombuffer(raw, "<f4", 1, 0)[0]
    if magic != FLO_MAGIC:
        raise file_error(path, "not a .flo file (bad magic number)")
    w, h = (int(x) for x in np.frombuffer(raw, "<i4", 2, 4))
    if not (0 < w < _MAX_SIDE and 0 < h < _MAX_SIDE):
        raise file_error(path, f"not a .flo file (implausible size {w}x{h})")
    n = w * h * 2
    if len(raw) < 12 + 4 * n:
        raise file_error(path, f"truncated .flo file ({len(raw)} bytes for {w}x{h})")
    return np.frombuffer(raw, "<f4", n, 12).reshape(h, w, 2).astype(np.float32)


def write_flo(path: str | os.PathLike[str], flow: np.ndarray) -> None:
    """Write an H×W×2 flow array as a ``.flo`` file, atomically."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be H×W×2, got shape {flow.shape}")
    h, w = flow.shape[:2]
    header = np.array([FLO_MAGIC], "<f4").tobytes() + np.array([w, h], "<i4").tobytes()
    with atomic_path(path) as tmp:
        tmp.write_bytes(header + np.ascontiguousarray(flow, "<f4").tobytes())


def known_mask(flow: np.ndarray) -> np.ndarray:
    """H×W bool: pixels whose flow is finite and not marked unknown."""
    return np.all(np.isfinite(flow) & (np.abs(flow) < UNKNOWN_FLOW), axis=2)
