"""The warping error of Lai et al. (ECCV 2018) on one frame pair: the math, pure numpy.

Definition used throughout (frames scaled to [0, 1], t = 0 … T−2 over consecutive frames
in the order they are delivered)::

    e_t    = Σ_x M_t(x) · ⅓ Σ_c (V_t(x, c) − V̂_{t+1}(x, c))²  /  Σ_x M_t(x)
    V̂_{t+1} = warp(V_{t+1}, F_{t→t+1})          (frame t+1 brought into frame t, bilinear)
    E_warp = 1/(T−1) Σ_t e_t                      (mean over pairs with Σ M_t > 0)

* The squared error is **averaged over the three RGB channels** (a per-colour-value mean
  squared error, as in Lai et al.'s released evaluation script, whose mask has three
  channels). The paper's ‖·‖² summed over RGB is exactly 3× these numbers.
* ``F`` is the optical flow **of the input video** (resized to the evaluated size), never
  of the video being judged; M_t is 1 where the forward-backward check of
  :func:`vidstyle.flow.occlusion_mask` passes (pixel visible in frame t+1 and landing
  inside it) and 0 elsewhere. Motion boundaries are not removed (as in Lai et al.).
* A pair whose mask is empty has no defined error: it is NaN in the per-pair list and
  left out of the mean (Lai et al.'s script counts it as 0); ``skipped`` says how many.

Whole videos are measured by :mod:`vidstyle.evaluate.metrics`; :mod:`vidstyle.evaluate.report`
holds the results.
"""

from __future__ import annotations

import math

import numpy as np

from vidstyle.flow.consistency import ConsistencyParams, occlusion_mask, warp_image

METRIC_NAME = "warping error (Lai et al. 2018)"
METRIC_DEFINITION = (
    "mean over consecutive frame pairs (t, t+1) of: sum over non-occluded pixels of frame t of the squared "
    "difference between V_t and V_{t+1} warped into t with the input's flow t->t+1, averaged over RGB, "
    "divided by the number of non-occluded pixels; frames in [0, 1]; occlusion by forward-backward check "
    "(or leaving the frame) on the input's flow"
)


def to_unit(image: np.ndarray) -> np.ndarray:
    """An RGB frame as float32 in [0, 1] (uint8 is divided by 255; floats are taken as is)."""
    a = np.asarray(image)
    if a.dtype == np.uint8:
        return a.astype(np.float32) * np.float32(1.0 / 255.0)
    return a.astype(np.float32, copy=False)


def valid_mask(flow_ij: np.ndarray, flow_ji: np.ndarray, params: ConsistencyParams = ConsistencyParams()) -> np.ndarray:
    """M on frame i (H×W bool): True where frame j, warped in with ``flow_ij``, is trusted.

    The complement of :func:`vidstyle.flow.occlusion_mask`: the forward-backward check
    passes and ``x + flow_ij(x)`` lies on frame j.
    """
    return ~occlusion_mask(np.asarray(flow_ij, np.float32), np.asarray(flow_ji, np.float32), params)


def warping_error(frame_i: np.ndarray, frame_j: np.ndarray, flow_ij: np.ndarray, mask: np.ndarray) -> float:
    """e = Σ M·mean_RGB (V_i − warp(V_j, flow_ij))² / Σ M for one pair; NaN if Σ M = 0.

    ``frame_i``, ``frame_j``: H×W×3 (uint8, or float in [0, 1]); ``flow_ij``: H×W×2 from i to
    j; ``mask``: H×W, bool or weights ≥ 0 (1 = counted). Masked-out pixels do not matter.
    """
    vi, vj = to_unit(frame_i), to_unit(frame_j)
    if vi.shape != vj.shape or vi.ndim != 3 or vi.shape[2] != 3:
        raise ValueError(f"expected two H×W×3 frames of equal size, got {vi.shape} and {vj.shape}")
    if flow_ij.shape != (*vi.shape[:2], 2) or np.shape(mask) != vi.shape[:2]:
        raise ValueError(f"flow {flow_ij.shape} and mask {np.shape(mask)} do not match frames {vi.shape}")
    m = np.asarray(mask, np.float64)
    total = float(m.sum())
    if total <= 0:
        return math.nan
    diff = vi - warp_image(vj, np.asarray(flow_ij, np.float32))
    per_pixel = np.mean(diff * diff, axis=2, dtype=np.float64)
    # np.where so that anything under a zero mask (even inf/NaN) cannot leak into the sum.
    return float(np.where(m > 0, per_pixel * m, 0.0).sum() / total)


def pair_warping_error(
    frame_i: np.ndarray,
    frame_j: np.ndarray,
    flow_ij: np.ndarray,
    flow_ji: np.ndarray,
    params: ConsistencyParams = ConsistencyParams(),
) -> float:
    """:func:`warping_error` with the mask from the forward-backward check of the two flows."""
    return warping_error(frame_i, frame_j, flow_ij, valid_mask(flow_ij, flow_ji, params))
