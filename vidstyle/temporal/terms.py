"""Temporal consistency terms of Ruder et al.: the warped start, the temporal loss, the multipass blend.

Pure tensor functions and one loss module. Images are RGB (N, 3, H, W) in the optimiser's
0–255 range; consistency weights c are (N, 1, H, W) in [0, 1]; flows are (N, 2, H, W) in
pixels, going from the current frame to the frame that is warped in (see
:mod:`vidstyle.flow.warp`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from vidstyle.flow.warp import warp
from vidstyle.style.losses import Features, LossTerm, per_sample_mean


class TemporalLoss(LossTerm):
    """Σ_j mean over C·H·W of c_j · (x − ω_j)²: stay close to the warped earlier frames
    where they are reliable (Ruder's short-term loss for one j, long-term for several)."""

    def __init__(self, targets: Sequence[Tensor], weights: Sequence[Tensor], weight: float) -> None:
        super().__init__(weight)
        if len(targets) != len(weights):
            raise ValueError("one weight map per warped target")
        self.count = len(targets)
        for k, (t, c) in enumerate(zip(targets, weights)):
            self.register_buffer(f"target{k}", t.detach(), persistent=False)
            self.register_buffer(f"c{k}", c.detach(), persistent=False)

    def forward(self, image: Tensor, features: Features) -> Tensor:
        total = image.new_zeros(image.shape[0])
        for k in range(self.count):
            t, c = getattr(self, f"target{k}"), getattr(self, f"c{k}")
            total = total + per_sample_mean(c * (image - t) ** 2)
        return self.weight * total


@dataclass
class WarpedFrame:
    """An earlier stylised frame brought into the current frame, with its reliability."""

    image: Tensor  # (N, 3, H, W), 0–255
    weights: Tensor  # (N, 1, H, W), c in [0, 1]; zero where the flow leaves the frame


def warp_previous(stylised: Tensor, flow: Tensor, weights: Tensor) -> WarpedFrame:
    """ω(x_j) for the current frame i, given x_j, flow i→j and Ruder's c on frame i."""
    warped, inside = warp(stylised, flow.to(stylised.device), return_mask=True)
    return WarpedFrame(warped, weights.to(stylised) * inside)


def warped_start(previous: WarpedFrame, fill: Tensor) -> Tensor:
    """Start image for the current frame: the warped previous result where it is reliable,
    ``fill`` (the content frame, or the previous result in place) where it is not."""
    c = previous.weights
    return c * previous.image + (1.0 - c) * fill


def multipass_start(previous_pass: Tensor, neighbour: WarpedFrame | None, blend: float = 1.0) -> Tensor:
    """Ruder's multipass start: (x_prev_pass + b·c·ω(neighbour)) / (1 + b·c)."""
    if neighbour is None:
        return previous_pass
    bc = blend * neighbour.weights
    return (previous_pass + bc * neighbour.image) / (1.0 + bc)


def resize_like(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize (antialiased when shrinking) for warped targets and weight maps."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def temporal_term(frames: Sequence[WarpedFrame], weight: float, size: tuple[int, int]) -> TemporalLoss:
    """The temporal loss at one scale of the coarse-to-fine schedule."""
    return TemporalLoss(
        [resize_like(f.image, size) for f in frames], [resize_like(f.weights, size) for f in frames], weight
    )


# -- following the input (fidelity) ---------------------------------------------------------
#
# Ruder's terms hold every reliable pixel to the warped previous painting. When the *input*
# changes along the flow (a fade, a lamp switched on, auto-exposure, a new object that the
# flow glides over), that pins the painting to what the video no longer shows: a fade-in
# from black stays the painting of black. Two corrections, computed from the input frames
# along the same flow (so they do not depend on the stylised results):
#
# * photometric check against an anchor: each painted pixel remembers the input luminance it
#   was painted for, R, carried along the flow with the painting. Where the current input
#   differs from it by more than a threshold (abs + rel·brightness), the pixel is released
#   (c = 0) and repainted from the content, and its anchor moves to the current input:
#       R_i = k·c·ω(R_{i−1}) + (1 − k·c)·Y_i      (k: kept share, c: Ruder's weights).
#   A slow fade, whose per-frame change is below any useful threshold, is caught once its
#   accumulated change is large; a flash or a new object at once.
# * follow (optional): the warped target moves with the smooth (Gaussian) part of the
#   input's own change along the flow, a temporal loss on *changes*,
#   Σ c·((x − ω(x_j)) − G_σ[I_i − ω(I_j)])², zero for a static scene. It suits styles that
#   keep the input's tones (colour preservation); a painting that compresses the tones
#   (most) would over-follow: the painting of black plus the whole fade.

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights


def luma(image: Tensor) -> Tensor:
    """Luminance (N, 1, H, W) of RGB images (N, 3, H, W), same units."""
    r, g, b = image[:, 0:1], image[:, 1:2], image[:, 2:3]
    return LUMA[0] * r + LUMA[1] * g + LUMA[2] * b


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (N, C, H, W) with ``sigma`` in pixels (reflect padding);
    σ ≤ 0 returns ``x``. The kernel is cut at 3σ and at the image size."""
    if sigma <= 0:
        return x
    h, w = x.shape[-2:]
    radius = max(1, math.ceil(3.0 * sigma))
    k = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (k / sigma) ** 2)
    c = x.shape[1]
    out = x
    for dim, n in ((3, w), (2, h)):
        r = min(radius, n - 1)
        if r <= 0:
            continue
        kk = kernel[radius - r : radius + r + 1]
        kk = kk / kk.sum()
        one = (1, 1, 1, 2 * r + 1) if dim == 3 else (1, 1, 2 * r + 1, 1)
        pad = (r, r, 0, 0) if dim == 3 else (0, 0, r, r)
        weight = kk.view(one).expand(c, *one[1:]).contiguous()
        out = F.conv2d(F.pad(out, pad, mode="reflect"), weight, groups=c)
    return out


def photometric_keep(y: Tensor, y_ref: Tensor, rel: float, abs_: float, sigma: float = 1.0) -> Tensor:
    """(N, 1, H, W) of 0/1: whether a pixel may stay held to its earlier painting, given the
    luminance ``y`` (0–255) of the current input and ``y_ref`` of the input it was painted
    for (both (N, 1, H, W), in frame i): 1 where d = |G_σ(y − y_ref)| ≤ abs_ + rel ·
    max(G_σ y, G_σ y_ref). The blur (σ px) keeps flow misalignments at edges, and the fine
    texture that an anchor warped frame after frame loses, from counting as change. The test is hard on purpose: a pixel held even at a fraction of
    a temporal weight of 1e3–1e4 barely moves, so a soft ramp would not release it."""
    d = gaussian_blur(y - y_ref, sigma).abs()
    t = abs_ + rel * torch.maximum(gaussian_blur(y, sigma), gaussian_blur(y_ref, sigma))
    return (d <= t).to(y.dtype)


def advance_anchor(warped_anchor: Tensor, y: Tensor, held: Tensor) -> Tensor:
    """The anchor of frame i: R_i = h·ω(R_{i−1}) + (1 − h)·Y_i, with ``held`` h = k·c the share
    of each pixel still held to the warped painting (all (N, 1, H, W); luminance 0–255)."""
    return held * warped_anchor + (1.0 - held) * y


def smooth_change(change: Tensor, weights: Tensor, sigma: float) -> Tensor:
    """The smooth part of the input's change along the flow: a normalised convolution
    G_σ[c·ΔI] / G_σ[c] (so unreliable pixels do not leak in), 0 where no reliable pixel is
    near. ``change`` (N, 3, H, W), ``weights`` c (N, 1, H, W) in [0, 1], σ in pixels."""
    num = gaussian_blur(change * weights, sigma)
    den = gaussian_blur(weights, sigma)
    return torch.where(den > 1e-3, num / den.clamp_min(1e-3), torch.zeros_like(num))


def follow_input(frame: WarpedFrame, keep: Tensor | None, change: Tensor | None, sigma: float) -> WarpedFrame:
    """``frame`` (an earlier painting warped into frame i) adjusted to the input: its weights
    times ``keep`` (see :func:`photometric_keep`; None: unchanged) and, given the input's
    ``change`` along the same flow (I_i − ω(I_j), (N, 3, H, W), 0–255), its image moved by
    the smooth part of that change (σ in pixels)."""
    weights = frame.weights if keep is None else frame.weights * keep
    image = frame.image
    if change is not None:
        image = (image + smooth_change(change, weights, sigma)).clamp(0.0, 255.0)
    return WarpedFrame(image, weights)


def released_fraction(frame: WarpedFrame) -> float:
    """Share of frame i not held by ``frame`` (1 − mean c): how much of the frame is new."""
    return float(1.0 - frame.weights.mean())
