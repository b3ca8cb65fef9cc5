"""Temporal consistency terms of Ruder et al.: the warped start, the temporal loss, the multipass blend.

Pure tensor functions and one loss module. Images are RGB (N, 3, H, W) in the optimiser's
0–255 range; consistency weights c are (N, 1, H, W) in [0, 1]; flows are (N, 2, H, W) in
pixels, going from the current frame to the frame that is warped in (see
:mod:`vidstyle.flow.warp`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from .flow.warp import warp
from .losses import Features, LossTerm, per_sample_mean

FILLS: tuple[str, ...] = ("content", "previous")


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

