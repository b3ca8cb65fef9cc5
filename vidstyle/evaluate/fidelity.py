"""Fidelity of a stylised video: does it still follow its input?

The warping error (:mod:`vidstyle.evaluate.metrics`) measures stability only, and a frozen painting
scores perfectly on it. These measures see the other side (DESIGN.md, "Measuring"):

* **tOF** (TecoGAN, Chu et al., ACM TOG 2020, Sec. 5): for a pair of consecutive frames,
  the mean over pixels of the Euclidean norm ‖F_out(x) − F_in(x)‖ of the difference between
  the optical flow of the output and that of the input, in pixels at the evaluated size,
  both from the same flow backend. Zero when the output moves exactly as the input does; a
  frozen output scores the input's mean flow magnitude.
* **content distance**: the content loss of Gatys et al. (CVPR 2016, Sec. 2) between an
  output frame and its input frame, mean over C·H·W of (F_out − F_in)² at relu4_2 of the
  VGG-19 (Caffe weights) that vidstyle stylises with; the unweighted content term.
* **perceptual distance** (to the per-frame stylisation, as Lai et al., ECCV 2018, Sec. 4,
  use LPIPS): LPIPS's unweighted form (Zhang et al., CVPR 2018, Eq. 1 with all w_l = 1):
  features at relu1_1 … relu5_1 normalised to unit length along the channels, squared
  difference summed over channels, averaged over positions, summed over layers. LPIPS's
  learned linear weights cannot be downloaded here, so values are on this scale, not
  LPIPS's (0 for equal images, at most 4 per layer).

Frames are RGB H×W×3, uint8 or float in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from vidstyle.style.losses import at_least_fp32
from vidstyle.style.vgg import build_encoder

CONTENT_LAYER = "relu4_2"
PERCEPTUAL_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def tof(flow_output: np.ndarray, flow_input: np.ndarray) -> float:
    """tOF of one pair: mean over pixels of ‖flow_output − flow_input‖₂ (H×W×2 each, pixels)."""
    a, b = np.asarray(flow_output, np.float32), np.asarray(flow_input, np.float32)
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 2:
        raise ValueError(f"expected two H×W×2 flows of equal size, got {a.shape} and {b.shape}")
    d = a - b
    return float(np.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2).mean(dtype=np.float64))


def flow_magnitude(flow: np.ndarray) -> float:
    """Mean over pixels of ‖flow‖₂ (H×W×2): the tOF a frozen output would get."""
    f = np.asarray(flow, np.float32)
    return tof(np.zeros_like(f), f)


def as_uint8(image: np.ndarray) -> np.ndarray:
    """An RGB frame as uint8 (floats are taken as [0, 1])."""
    a = np.asarray(image)
    if a.dtype == np.uint8:
        return a
    return (np.clip(a.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def unit_normalize(features: Tensor, eps: float = 1e-10) -> Tensor:
    """Features (N, C, H, W) divided by their Euclidean norm over C at each position."""
    return features / (features.square().sum(dim=1, keepdim=True).sqrt() + eps)


class FeatureMeter:
    """The VGG-19 that vidstyle stylises with, used to measure content and perceptual distance.

    Runs in fp32 on ``device``; :meth:`features` of a frame is computed once and reused for
    every comparison it takes part in.
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.layers = (CONTENT_LAYER, *PERCEPTUAL_LAYERS)
        self.encoder = build_encoder(self.layers, device=self.device, compute_dtype=None)

    @torch.no_grad()
    def features(self, image: np.ndarray) -> dict[str, Tensor]:
        """Features of an RGB frame (H×W×3 uint8 or float in [0, 1]) at every layer used."""
        a = np.asarray(image)
        x = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float()
        if a.dtype == np.uint8:
            x = x.to(self.device)
        else:
            x = (x * 255.0).to(self.device)
        return {k: at_least_fp32(v) for k, v in self.encoder(x, self.layers).items()}

    @staticmethod
    def content_distance(a: dict[str, Tensor], b: dict[str, Tensor]) -> float:
        """Mean over C·H·W of (F_a − F_b)² at relu4_2 (the unweighted content loss)."""
        return float((a[CONTENT_LAYER] - b[CONTENT_LAYER]).square().mean())

    @staticmethod
    def perceptual_distance(a: dict[str, Tensor], b: dict[str, Tensor]) -> float:
        """Σ over relu1_1…relu5_1 of the spatial mean of ‖f̂_a − f̂_b‖², f̂ unit-normalised over
        channels (LPIPS without its learned weights)."""
        total = 0.0
        for layer in PERCEPTUAL_LAYERS:
            d = unit_normalize(a[layer]) - unit_normalize(b[layer])
            total += float(d.square().sum(dim=1).mean())
        return total
