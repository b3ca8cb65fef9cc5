"""Pictures of flow and weights that a person can look at.

Flow uses the Middlebury colour code (Baker et al. 2011): hue is the direction, saturation
the magnitude relative to ``max_flow``; white is no motion, unknown flow is black. Weights
are grey levels, white = 1 (reliable), black = 0 (occluded / motion boundary / out of frame).
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from vidstyle.files.atomic import atomic_path
from vidstyle.flow.io import UNKNOWN_FLOW

# Hue segments of the Middlebury wheel: red→yellow→green→cyan→blue→magenta→red.
_SEGMENTS = (("RY", 15), ("YG", 6), ("GC", 4), ("CB", 11), ("BM", 13), ("MR", 6))


def colour_wheel() -> np.ndarray:
    """The 55×3 float32 wheel (0–255), one colour per hue step."""
    rows = []
    for name, n in _SEGMENTS:
        ramp = np.floor(255.0 * np.arange(n) / n)
        seg = np.zeros((n, 3))
        rising, channel_from, channel_to = {
            "RY": (True, 0, 1),
            "YG": (False, 1, 0),
            "GC": (True, 1, 2),
            "CB": (False, 2, 1),
            "BM": (True, 2, 0),
            "MR": (False, 0, 2),
        }[name]
        # Each segment holds one channel at 255 and ramps another up or down.
        if rising:
            seg[:, channel_from] = 255
            seg[:, channel_to] = ramp
        else:
            seg[:, channel_from] = 255
            seg[:, channel_to] = 255 - ramp
        rows.append(seg)
    return np.concatenate(rows).astype(np.float32)


_WHEEL = colour_wheel()


def flow_to_rgb(flow: np.ndarray, max_flow: float | None = None) -> np.ndarray:
    """H×W×3 uint8 picture of an H×W×2 flow; ``max_flow`` (pixels) sets full saturation
    (default: the largest known magnitude). Magnitudes beyond it are darkened."""
    u = flow[..., 0].astype(np.float32)
    v = flow[..., 1].astype(np.float32)
    known = np.isfinite(u) & np.isfinite(v) & (np.abs(u) < UNKNOWN_FLOW) & (np.abs(v) < UNKNOWN_FLOW)
    u = np.where(known, u, 0.0)
    v = np.where(known, v, 0.0)
    mag = np.hypot(u, v)
    if max_flow is None:
        max_flow = float(mag.max()) if mag.size else 0.0
    max_flow = max(float(max_flow), 1e-6)
    rad = mag / max_flow
    n = len(_WHEEL)
    angle = np.arctan2(-v, -u) / np.pi  # in [-1, 1]
    fk = (angle + 1.0) / 2.0 * (n - 1)
    k0 = np.floor(fk).astype(np.int64) % n
    k1 = (k0 + 1) % n
    f = (fk - np.floor(fk))[..., None]
    col = ((1 - f) * _WHEEL[k0] + f * _WHEEL[k1]) / 255.0
    inside = (rad <= 1)[..., None]
    col = np.where(inside, 1 - rad[..., None] * (1 - col), col * 0.75)
    out = np.round(255 * np.clip(col, 0, 1)).astype(np.uint8)
    out[~known] = 0
    return out


def weights_to_gray(weights: np.ndarray) -> np.ndarray:
    """H×W uint8 picture of weights in [0, 1] (white = reliable)."""
    return np.round(255 * np.clip(np.nan_to_num(weights.astype(np.float32)), 0, 1)).astype(np.uint8)


def save_png(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write an H×W or H×W×3 uint8 array as a PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image)).save(tmp, format="PNG")
