"""Colour preservation: luminance-only transfer and colour-statistics matching.

Pure functions on RGB tensors (N, 3, H, W) in any consistent range (we use 0–255).
"""

from __future__ import annotations

import torch
from torch import Tensor

# ITU-R BT.601 luma and the matching (unscaled) colour-difference axes.
_RGB_TO_YUV = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.14713, -0.28886, 0.436],
        [0.615, -0.51499, -0.10001],
    ]
)


def rgb_to_yuv(image: Tensor) -> Tensor:
    """RGB → YUV (BT.601); Y has the range of the input."""
    m = _RGB_TO_YUV.to(image)
    return torch.einsum("ij,njhw->nihw", m, image)


def yuv_to_rgb(image: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_yuv`."""
    m = torch.linalg.inv(_RGB_TO_YUV.double()).to(image)
    return torch.einsum("ij,njhw->nihw", m, image)


def luminance(image: Tensor) -> Tensor:
    """Y channel as a 3-channel grey image (the input the network sees in luminance mode)."""
    y = rgb_to_yuv(image)[:, :1]
    return y.expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: Tensor, content: Tensor) -> Tensor:
    """Grey style image whose luminance mean and spread match the content's (Gatys et al. 2016)."""
    ys, yc = rgb_to_yuv(style)[:, :1], rgb_to_yuv(content)[:, :1]
    ys = (ys - ys.mean()) / ys.std().clamp_min(1e-6) * yc.std() + yc.mean()
    return ys.expand(-1, 3, -1, -1).contiguous()


def combine_luminance(stylised: Tensor, content: Tensor) -> Tensor:
    """Luminance of ``stylised`` with the colour (U, V) of ``content``."""
    y = rgb_to_yuv(stylised)[:, :1]
    uv = rgb_to_yuv(content)[:, 1:]
    return yuv_to_rgb(torch.cat([y, uv], dim=1))


def _pixel_stats(image: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (3,) and covariance (3, 3) of an image's pixels (all images of the batch pooled)."""
    px = image.permute(1, 0, 2, 3).reshape(3, -1).double()
    mean = px.mean(dim=1)
    centred = px - mean[:, None]
    cov = centred @ centred.T / max(px.shape[1] - 1, 1)
    return mean, cov


def _sqrtm(cov: Tensor, inverse: bool = False) -> Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(1e-8)
    d = vals.rsqrt() if inverse else vals.sqrt()
    return vecs @ torch.diag(d) @ vecs.T


def match_color(source: Tensor, reference: Tensor) -> Tensor:
    """``source`` recoloured so its pixel mean and covariance equal ``reference``'s.

    The affine map x ↦ Σ_r^½ Σ_s^-½ (x − μ_s) + μ_r (symmetric square roots), as used for
    colour preservation by Gatys et al. 2016.
    """
    mu_s, cov_s = _pixel_stats(source)
    mu_r, cov_r = _pixel_stats(reference)
    a = _sqrtm(cov_r) @ _sqrtm(cov_s, inverse=True)
    px = source.permute(1, 0, 2, 3).reshape(3, -1).double()
    out = a @ (px - mu_s[:, None]) + mu_r[:, None]
    n, _, h, w = source.shape
    return out.reshape(3, n, h, w).permute(1, 0, 2, 3).to(source.dtype).contiguous()
