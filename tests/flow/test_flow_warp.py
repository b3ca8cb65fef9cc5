"""Warping in torch: exact on integer shifts, explicit borders, differentiable, and
warping by ground-truth flow reproduces the other frame where nothing is occluded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidstyle.flow.consistency import warp_image
from vidstyle.flow.evaluate import ground_truth_pairs
from vidstyle.flow.warp import flow_to_grid, flow_to_tensor, inside_mask, warp


def _img(n=1, c=3, h=9, w=13, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=g)


def test_integer_shift_is_exact_and_borders_replicate():
    img = _img()
    flow = torch.zeros(1, 2, 9, 13)
    flow[:, 0] = 2.0  # sample 2 px to the right
    flow[:, 1] = -1.0  # and 1 px up
    out, mask = warp(img, flow, return_mask=True)
    torch.testing.assert_close(out[:, :, 1:, :11], img[:, :, :-1, 2:], rtol=0, atol=1e-6)
    # Out-of-frame samples replicate the nearest border pixel …
    torch.testing.assert_close(out[:, :, 0, :11], img[:, :, 0, 2:], rtol=0, atol=1e-6)
    torch.testing.assert_close(out[:, :, 1:, 12], img[:, :, :-1, 12], rtol=0, atol=1e-6)
    # … and the mask says where.
    assert mask.shape == (1, 1, 9, 13)
    assert mask[0, 0, 1:, :11].eq(1).all() and mask[0, 0, 0].eq(0).all() and mask[0, 0, :, 11:].eq(0).all()
    assert torch.equal(mask, inside_mask(flow))


def test_zero_flow_is_identity_and_grid_matches_align_corners():
    img = _img(n=2, c=4, h=5, w=7)
    flow = torch.zeros(2, 2, 5, 7)
    torch.testing.assert_close(warp(img, flow), img, rtol=0, atol=1e-6)
    grid = flow_to_grid(flow)
    assert grid.shape == (2, 5, 7, 2)
    assert grid[0, 0, 0].tolist() == [-1.0, -1.0] and grid[0, -1, -1].tolist() == [1.0, 1.0]


def test_half_pixel_shift_averages_neighbours():
    img = _img(h=4, w=6)
    flow = torch.zeros(1, 2, 4, 6)
    flow[:, 0] = 0.5
    out = warp(img, flow)
    torch.testing.assert_close(out[..., :5], (img[..., :5] + img[..., 1:]) / 2, rtol=0, atol=1e-6)


def test_matches_numpy_helper_and_keeps_dtype():
    rng = np.random.default_rng(1)
    img = rng.random((20, 30, 3)).astype(np.float32)
    flow = rng.normal(0, 3, (20, 30, 2)).astype(np.float32)
    t = warp(torch.from_numpy(img).permute(2, 0, 1)[None], flow_to_tensor(flow))
    ref = warp_image(img, flow)  # OpenCV remap: positions rounded to 1/32 px
    assert np.abs(t[0].permute(1, 2, 0).numpy() - ref).max() < 1 / 16
    h = warp(torch.from_numpy(img).permute(2, 0, 1)[None].to(torch.bfloat16), flow_to_tensor(flow))
    assert h.dtype == torch.bfloat16
    assert (h.float() - t).abs().max() < 0.02  # sampled in float32, only the values are rounded


def test_differentiable_in_image_and_flow():
    img = _img(h=6, w=8).requires_grad_()
    flow = (torch.rand(1, 2, 6, 8) * 2 - 1).requires_grad_()
    warp(img, flow).square().sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0
    assert flow.grad is not None and flow.grad.abs().sum() > 0


def test_shape_errors():
    with pytest.raises(ValueError, match="flow must be"):
        warp(_img(), torch.zeros(1, 9, 13, 2))
    with pytest.raises(ValueError, match="image must be"):
        warp(_img(h=8), torch.zeros(1, 2, 9, 13))


def test_ground_truth_flow_reproduces_the_other_frame(media):
    """Sintel: frame_0002.flo is 2→3, so warping frame 3 by it gives frame 2 wherever the
    pixel is not occluded (Middlebury: flow10 is 10→11, no occlusion masks)."""
    lines = []
    for pair in ground_truth_pairs(media):
        a, b = pair.frames()
        gt = pair.gt_flow()
        valid = pair.valid()
        occ = pair.occluded()
        flow = np.where(valid[..., None], gt, 0.0).astype(np.float32)
        src = torch.from_numpy(b).permute(2, 0, 1)[None].float()
        out, mask = warp(src, flow_to_tensor(flow), return_mask=True)
        warped = out[0].permute(1, 2, 0).numpy()
        m = valid & (mask[0, 0].numpy() > 0)
        if occ is not None:
            m &= ~occ
        err = np.abs(warped - a).mean(axis=2)[m].mean()
        zero = np.abs(b.astype(np.float32) - a).mean(axis=2)[m].mean()
        lines.append(f"{pair.name:24s} MAE warped {err:5.2f}  no motion {zero:5.2f}")
        # Measured ratios 0.17-0.34 (market_5, 133 px motion blur, is the worst).
        assert err < 0.4 * zero, lines[-1]
        assert np.median(np.abs(warped - a).mean(axis=2)[m]) < 2.5, lines[-1]
    print("\n" + "\n".join(lines))


@pytest.mark.cuda
def test_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    img = _img(n=2, h=32, w=48)
    flow = torch.randn(2, 2, 32, 48) * 4
    cpu, mcpu = warp(img, flow, return_mask=True)
    gpu, mgpu = warp(img.cuda(), flow.cuda(), return_mask=True)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-5)
    assert torch.equal(mgpu.cpu(), mcpu)
