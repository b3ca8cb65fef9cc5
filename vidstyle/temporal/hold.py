"""Holding still pixels exactly: where the input has neither moved nor changed since a pixel
was painted, the pixel keeps its painting bit for bit (``temporal.hold_change``, off by
default).

Ruder's temporal loss holds a reliable pixel to the warped earlier painting only softly: the
optimiser still moves it a little every frame. On a still camera an encoder (H.264 at the
default CRF) turns each of those small changes into coding noise of its own: the parking lot
of the benchmark scored about twice the warping error as H.264 that it scored losslessly,
while a frozen painting scores the same either way. The hold keeps such pixels identical, so
the encoder skips them.

Per pixel x of frame i, carried at the *same position* while held (not along the flow),

* A: the input colour (RGB blurred by σ = max(1, longest side × :data:`SIGMA`) px, 0–255)
  the pixel was painted for,
* D: the input's flow accumulated since then (pixels, towards the frame where the painting
  was made): D_i(x) = f_i(x) + L_{i−1}(x + f_i(x)), with f_i the flow i → i−1 and
  L_{i−1} = D_{i−1}·h_{i−1} the *lag* of frame i−1's painting (0 where it was painted),

and the pixel is held, h_i = 1, where

    max over RGB |A − G_σ I_i| ≤ change   and   ‖D_i‖ ≤ motion   and   c_i ≥ ½

(c_i: Ruder's consistency weight of the short-term link). A held pixel keeps x_{i−1}(x)
exactly and the optimiser does not move it; elsewhere A = G_σ I_i and D = 0. The
accumulated motion makes a slow pan release its pixels after ``motion`` pixels; the
accumulated change does the same for a slow fade. An earlier painting x_j comes into frame
i along f_{i→j} plus its lag (:func:`previous_flow`), the whole motion since it was painted,
so a released pixel does not leave the painting behind the scene. Everything depends on the
input and its flow only, so a resumed render recomputes it exactly.

Images are (N, C, H, W) tensors; flows (N, 2, H, W) in pixels, channel 0 = x (see
:mod:`vidstyle.flow.warp`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from vidstyle.flow.warp import warp
from vidstyle.temporal.terms import gaussian_blur

RELIABLE = 0.5  # a pixel is held only where Ruder's consistency weight c is at least this
SIGMA = 1 / 256  # blur of the compared input colour, as a fraction of the longest side (≥ 1 px)


def hold_colour(image: Tensor) -> Tensor:
    """G_σ I: the input frame (N, 3, H, W, 0–255) blurred as the hold compares it, which
    keeps sensor and coding noise from releasing still pixels."""
    return gaussian_blur(image, max(1.0, SIGMA * max(image.shape[-2:])))


@dataclass(frozen=True, eq=False)
class HoldState:
    """What each pixel of a frame's painting was painted for, and whether it was held."""

    anchor: Tensor  # (N, 3, H, W): blurred input colour the pixel was painted for, 0–255
    lag: Tensor  # (N, 2, H, W): input flow accumulated while held, px (0 where painted)
    held: Tensor  # (N, 1, H, W): 1 where the pixel kept its earlier painting, else 0


def start_hold(colour: Tensor) -> HoldState:
    """The state after a frame painted everywhere (a shot's first): anchor = ``colour``
    (:func:`hold_colour` of the frame), no lag, nothing held."""
    n, _, h, w = colour.shape
    return HoldState(colour, colour.new_zeros(n, 2, h, w), colour.new_zeros(n, 1, h, w))


def previous_flow(lag: Tensor, flow: Tensor) -> Tensor:
    """The flow (N, 2, H, W, px) that brings an earlier painting x_j into frame i, given the
    input's ``flow`` i → j and the ``lag`` (N, 2, H, W) of x_j: f + L_j(x + f)."""
    moved = warp(lag, flow)
    assert isinstance(moved, Tensor)
    return flow + moved


def advance_hold(
    state: HoldState, colour: Tensor, flow: Tensor, weights: Tensor, change: float, motion: float
) -> HoldState:
    """The state of frame i from that of frame i−1, the blurred input ``colour`` of frame i
    (N, 3, H, W, 0–255), the flow i → i−1 (N, 2, H, W, px) and the short-term consistency
    weights c (N, 1, H, W, [0, 1]): hold where the colour moved by at most ``change``
    (0–255) and the input by at most ``motion`` pixels since the pixel was painted."""
    displacement = previous_flow(state.lag, flow)
    # Held pixels stay in place, so their anchor is read at the same position.
    changed = (colour - state.anchor).abs().amax(dim=1, keepdim=True)
    moved = torch.linalg.vector_norm(displacement, dim=1, keepdim=True)
    h = ((changed <= change) & (moved <= motion) & (weights >= RELIABLE)).to(colour.dtype)
    return HoldState(h * state.anchor + (1.0 - h) * colour, displacement * h, h)
