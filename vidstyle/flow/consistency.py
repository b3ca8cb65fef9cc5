"""Consistency weights for the temporal losses (Ruder, Dosovitskiy & Brox 2016).

Convention: to bring frame j into frame i we use ``flow_ij`` (the flow FROM i TO j, called
ŵ below; "backward" in Ruder's terms when j = i − 1): ``warped(x) = I_j(x + flow_ij(x))``.
The weights c(x) ∈ [0, 1] live on the pixels of frame i and say how far that warped value
can be trusted: 0 where x is disoccluded (not visible in j), on a motion boundary, or where
x + ŵ(x) leaves frame j; 1 elsewhere; then lightly blurred outwards from the zeros.

All functions are pure numpy (OpenCV only for the Gaussian blur) and work on H×W×2
float32 flow arrays with u = x and v = y in pixels.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from vidstyle.settings.models import FlowSettings

# Thresholds of the forward-backward check and the motion-boundary test (Sundaram et al.
# 2010, as used by Ruder et al.).
FB_REL = 0.01
FB_ABS = 0.5
MB_REL = 0.01
MB_ABS = 0.002
DEFAULT_SMOOTH_SIGMA = 0.8


@dataclasses.dataclass(frozen=True)
class ConsistencyParams:
    """Thresholds and smoothing of :func:`consistency_weights` (part of the cache identity)."""

    fb_rel: float = FB_REL
    fb_abs: float = FB_ABS
    mb_rel: float = MB_REL
    mb_abs: float = MB_ABS
    smooth_sigma: float = DEFAULT_SMOOTH_SIGMA


def consistency_params(flow: FlowSettings) -> ConsistencyParams:
    """Consistency thresholds for the flow settings: the motion-boundary test on or off."""
    return ConsistencyParams() if flow.motion_boundaries else ConsistencyParams(mb_abs=float("inf"))


@functools.lru_cache(maxsize=4)
def pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Float32 x and y coordinates of every pixel centre (H×W each, read-only, cached)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs.setflags(write=False)
    ys.setflags(write=False)
    return xs, ys


def sample_bilinear(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinearly sample ``field`` (H×W or H×W×C, C ≤ 4) at float positions ``x``, ``y``.

    Positions outside [0, W−1]×[0, H−1] take the border value (replication); use
    :func:`inside_mask` to know which ones were. This is OpenCV's ``remap``: sample
    positions are rounded to 1/32 pixel (an error below |∇field|/64, far under the
    consistency thresholds), exact at integer positions, and ~15× faster than numpy gathers.
    """
    f = np.ascontiguousarray(field, np.float32)
    return cv2.remap(
        f,
        np.ascontiguousarray(x, np.float32),
        np.ascontiguousarray(y, np.float32),
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def inside_mask(flow: np.ndarray) -> np.ndarray:
    """H×W bool: where ``x + flow(x)`` lands on the frame.

    The frame's pixels cover [−0.5, W−0.5]×[−0.5, H−0.5] in pixel-centre coordinates, so a
    target within half a pixel outside the outermost centres counts as inside (sampling
    there replicates the border pixel it lies on). A strict [0, W−1] test would zero the
    whole outer ring of the frame whenever the flow there points outwards by a hair.
    """
    h, w = flow.shape[:2]
    xs, ys = pixel_grid(h, w)
    tx, ty = xs + flow[..., 0], ys + flow[..., 1]
    return (tx >= -0.5) & (tx <= w - 0.5) & (ty >= -0.5) & (ty <= h - 0.5)


def warp_image(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` (frame j) sampled at ``x + flow(x)``: frame j brought into frame i, float32.

    Out-of-frame positions take the nearest border value; see :func:`inside_mask`.
    """
    h, w = flow.shape[:2]
    xs, ys = pixel_grid(h, w)
    return sample_bilinear(image, xs + flow[..., 0], ys + flow[..., 1])


def disocclusion_mask(
    flow_ij: np.ndarray, flow_ji: np.ndarray, params: ConsistencyParams = ConsistencyParams()
) -> np.ndarray:
    """H×W bool on frame i: the forward-backward check fails (x is not visible in frame j).

    With ŵ = flow_ij and w̃(x) = flow_ji(x + ŵ(x)): |w̃ + ŵ|² > fb_rel·(|w̃|² + |ŵ|²) + fb_abs.
    """
    _check_flows(flow_ij, flow_ji)
    h, w = flow_ij.shape[:2]
    xs, ys = pixel_grid(h, w)
    back = sample_bilinear(flow_ji, xs + flow_ij[..., 0], ys + flow_ij[..., 1])
    du = back[..., 0] + flow_ij[..., 0]
    dv = back[..., 1] + flow_ij[..., 1]
    lhs = du * du + dv * dv
    rhs = params.fb_rel * (_sq(back) + _sq(flow_ij)) + params.fb_abs
    return lhs > rhs


def motion_boundary_mask(flow_ij: np.ndarray, params: ConsistencyParams = ConsistencyParams()) -> np.ndarray:
    """H×W bool on frame i: |∇û|² + |∇v̂|² > mb_rel·|ŵ|² + mb_abs (central differences)."""
    u, v = flow_ij[..., 0], flow_ij[..., 1]
    grad = np.zeros(u.shape, np.float32)
    for comp in (u, v):
        if comp.shape[0] > 1:
            grad += np.gradient(comp, axis=0) ** 2
        if comp.shape[1] > 1:
            grad += np.gradient(comp, axis=1) ** 2
    return grad > params.mb_rel * _sq(flow_ij) + params.mb_abs


def unreliable_mask(
    flow_ij: np.ndarray, flow_ji: np.ndarray, params: ConsistencyParams = ConsistencyParams()
) -> np.ndarray:
    """H×W bool on frame i: disoccluded, on a motion boundary, or mapped outside frame j."""
    return disocclusion_mask(flow_ij, flow_ji, params) | motion_boundary_mask(flow_ij, params) | ~inside_mask(flow_ij)


def occlusion_mask(
    flow_ij: np.ndarray, flow_ji: np.ndarray, params: ConsistencyParams = ConsistencyParams()
) -> np.ndarray:
    """H×W bool on frame i: pixels with no valid correspondence in frame j (the occlusion
    estimate that Sintel's ground truth measures): forward-backward failure or out of frame."""
    return disocclusion_mask(flow_ij, flow_ji, params) | ~inside_mask(flow_ij)


def smooth_weights(mask_reliable: np.ndarray, sigma: float = DEFAULT_SMOOTH_SIGMA) -> np.ndarray:
    """Float32 weights in [0, 1] from a reliable-pixel mask, lightly Gaussian-blurred.

    The blur only lowers weights next to unreliable pixels; flagged pixels themselves stay
    exactly 0 (a plain blur would lift a one-pixel motion boundary to ~0.6, and Ruder's
    reference keeps them at 0 too), so c ramps from 0 up to 1 over ~2σ outside them.
    """
    c: np.ndarray = mask_reliable.astype(np.float32)
    if sigma > 0:
        c = cv2.GaussianBlur(c, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
        c = np.where(mask_reliable, c, 0.0).astype(np.float32)
    return np.clip(c, 0.0, 1.0)


def consistency_weights(
    flow_ij: np.ndarray, flow_ji: np.ndarray, params: ConsistencyParams = ConsistencyParams()
) -> np.ndarray:
    """Ruder's c(x) for the pixels of frame i when frame j is warped in with ``flow_ij``.

    H×W float32 in [0, 1]: 0 where disoccluded, on motion boundaries, or mapped outside
    the frame; 1 elsewhere, lowered next to the zeros by a Gaussian of
    ``params.smooth_sigma`` (see :func:`smooth_weights`).
    """
    return smooth_weights(~unreliable_mask(flow_ij, flow_ji, params), params.smooth_sigma)


def long_term_weights(weights_by_offset: Mapping[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Combine the weights of several offsets closest-first (Ruder's long-term loss).

    c_long(j) = max(c(j) − Σ_{k<j} c(k), 0), with k, j the offsets present (by absolute
    value), so each pixel is tied to the closest frame where it was visible.
    """
    out: dict[int, np.ndarray] = {}
    acc: np.ndarray | None = None
    for j in sorted(weights_by_offset, key=abs):
        c = np.asarray(weights_by_offset[j], np.float32)
        out[j] = c.copy() if acc is None else np.maximum(c - acc, 0.0)
        acc = c.copy() if acc is None else acc + c
    return out


def _sq(flow: np.ndarray) -> np.ndarray:
    return flow[..., 0] * flow[..., 0] + flow[..., 1] * flow[..., 1]


def _check_flows(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 2:
        raise ValueError(f"expected two H×W×2 flows of equal size, got {a.shape} and {b.shape}")
