"""Backward warping in torch: bring frame j into frame i with ``flow_ij`` (CPU or CUDA).

``warp(image_j, flow_ij)(x) = image_j(x + flow_ij(x))``, bilinear, differentiable in both
arguments. Layouts: ``image`` is (N, C, H, W); ``flow`` is (N, 2, H, W) with channel 0 = u
(x, pixels) and channel 1 = v (y, pixels), the layout RAFT returns and the same
channels-first layout as the images. A numpy H×W×2 flow converts with
:func:`flow_to_tensor`.

Border handling is explicit: a sample position outside the frame takes the value of the
nearest border pixel (replication, ``padding_mode="border"``), and :func:`inside_mask`
(or ``warp(..., return_mask=True)``) says where that happened, so callers can zero the
temporal weight there instead of trusting replicated colours.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def flow_to_tensor(flow: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """H×W×2 (numpy, any float dtype) → (1, 2, H, W) float32 tensor on ``device``."""
    t = torch.from_numpy(np.ascontiguousarray(flow, np.float32)).permute(2, 0, 1)[None]
    return t.to(device) if device is not None else t


def _check(image: torch.Tensor, flow: torch.Tensor) -> None:
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (N, 2, H, W), got {tuple(flow.shape)}")
    if image.ndim != 4 or image.shape[0] != flow.shape[0] or image.shape[2:] != flow.shape[2:]:
        raise ValueError(f"image must be (N, C, H, W) matching flow {tuple(flow.shape)}, got {tuple(image.shape)}")


def sample_positions(flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Absolute pixel positions x + u and y + v, each (N, H, W), float32."""
    _n, _, h, w = flow.shape
    f = flow.float()
    xs = torch.arange(w, device=flow.device, dtype=torch.float32).view(1, 1, w)
    ys = torch.arange(h, device=flow.device, dtype=torch.float32).view(1, h, 1)
    return xs + f[:, 0], ys + f[:, 1]


def flow_to_grid(flow: torch.Tensor) -> torch.Tensor:
    """The (N, H, W, 2) normalised grid for ``grid_sample(..., align_corners=True)``.

    With ``align_corners=True`` pixel centre 0 maps to −1 and pixel W−1 to +1, so pixel
    coordinates convert exactly with ``2·x/(W−1) − 1`` (a one-pixel-wide side maps to 0).
    """
    h, w = flow.shape[2:]
    px, py = sample_positions(flow)
    gx = px * (2.0 / (w - 1)) - 1.0 if w > 1 else torch.zeros_like(px)
    gy = py * (2.0 / (h - 1)) - 1.0 if h > 1 else torch.zeros_like(py)
    return torch.stack((gx, gy), dim=-1)


def inside_mask(flow: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) float 0/1: where x + flow(x) lands on the frame, i.e. inside
    [−0.5, W−0.5]×[−0.5, H−0.5] (the area the pixels cover; same rule as
    :func:`vidstyle.flow.consistency.inside_mask`)."""
    h, w = flow.shape[2:]
    px, py = sample_positions(flow)
    ok = (px >= -0.5) & (px <= w - 0.5) & (py >= -0.5) & (py <= h - 0.5)
    return ok.unsqueeze(1).to(flow.dtype if flow.is_floating_point() else torch.float32)


def warp(
    image: torch.Tensor, flow: torch.Tensor, *, return_mask: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Sample ``image`` (N, C, H, W) at x + ``flow`` (N, 2, H, W): frame j seen from frame i.

    Bilinear, border replication outside the frame. The sampling runs in float32 even for
    half/bfloat16 images (coordinates in 16-bit floats would be off by pixels at HD sizes)
    and the result is returned in ``image``'s dtype. With ``return_mask`` also returns the
    (N, 1, H, W) in-frame mask of :func:`inside_mask`.
    """
    _check(image, flow)
    grid = flow_to_grid(flow.to(image.device))
    src = image if image.dtype in (torch.float32, torch.float64) else image.float()
    out = F.grid_sample(src, grid.to(src.dtype), mode="bilinear", padding_mode="border", align_corners=True)
    out = out.to(image.dtype)
    if return_mask:
        return out, inside_mask(flow.to(image.device)).to(image.dtype)
    return out
