"""GPU-only checks (``pytest -m cuda``; skipped without CUDA): bf16 against fp32, no host-device
synchronisation inside the optimiser loop, and a short CUDA render against the CPU render."""

from __future__ import annotations

import pytest
import torch

from vidstyle.image.io import load_image
from vidstyle.render import render
from vidstyle.settings import StyleSettings, apply_overrides, preset_settings
from vidstyle.style.optimize import minimize
from vidstyle.style.stylize import Stylizer
from vidstyle.video import open_video

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

CLIP = "sample_clips/vpf_dog_848x464_aac.mp4"
STYLE = "sample_clips/styles/starry_night.jpg"


@pytest.fixture(scope="module")
def content(data_dir):
    return load_image(data_dir / "chelsea_128.png").cuda() * 255.0


def test_bf16_network_matches_fp32_within_tolerance(content):
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    fp32 = Stylizer([STYLE], StyleSettings(precision="fp32"), "cuda")
    bf16 = Stylizer([STYLE], StyleSettings(precision="bf16"), "cuda")
    assert bf16.encoder.compute_dtype == torch.bfloat16 and fp32.encoder.compute_dtype is None
    x = (content + 20 * torch.randn_like(content)).clamp(0, 255).requires_grad_(True)
    results = []
    for st in (fp32, bf16):
        loss, parts = st.criterion(content)(x)
        (grad,) = torch.autograd.grad(loss.sum(), x)
        results.append((loss.detach(), {k: v.detach() for k, v in parts.items()}, grad))
    (l32, p32, g32), (l16, p16, g16) = results
    assert torch.allclose(l16, l32, rtol=0.03), (l16, l32)
    for name in p32:
        assert torch.allclose(p16[name], p32[name], rtol=0.05, atol=1e-3), name
    cos = torch.nn.functional.cosine_similarity(g16.flatten(), g32.flatten(), dim=0)
    assert cos > 0.98, float(cos)
    # A few optimiser steps go to the same place.
    a = minimize(content, fp32.criterion(content), iterations=20, tolerance_window=0)
    b = minimize(content, bf16.criterion(content), iterations=20, tolerance_window=0)
    assert (a - b).abs().mean() < 2.0, "mean difference in 0-255 units"


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_optimiser_loop_never_waits_for_the_device(content, optimizer):
    stylizer = Stylizer([STYLE], None, "cuda")
    criterion = stylizer.criterion(content)
    seen = []
    minimize(content, criterion, iterations=3, optimizer=optimizer, tolerance_window=0)  # lazy init outside the check
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        x = minimize(content, criterion, iterations=25, optimizer=optimizer, tolerance_window=0,
                     callback=lambda it: seen.append(it.loss))  # history of 25 pairs: growth included  # fmt: skip
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert len(seen) == 25 and torch.isfinite(x).all()
    assert float(seen[-1].sum()) < float(seen[0].sum())


def test_cuda_render_matches_the_cpu_render_in_frames_and_timing(tmp_path):
    settings = apply_overrides(
        preset_settings("fast"),
        {"size": 96, "styles": (STYLE,), "optim": {"iterations": 20}, "temporal": {"frame_iterations": 8}},
    )
    outs = {}
    for device in ("cpu", "cuda"):
        outs[device] = tmp_path / f"{device}.mp4"
        result = render(CLIP, outs[device], settings, end="6f", device=device)
        assert result.frames == 6 and result.computed == 6
    frames = {}
    for device, path in outs.items():
        with open_video(path) as reader:
            frames[device] = [(f.pts, f.time, f.duration, f.image) for f in reader]
    cpu, gpu = frames["cpu"], frames["cuda"]
    assert len(cpu) == len(gpu) == 6
    assert [f[:3] for f in cpu] == [f[:3] for f in gpu], "same timestamps and durations"
    for (_, _, _, a), (_, _, _, b) in zip(cpu, gpu):
        assert a.shape == b.shape and b.std() > 5, "a painted frame, not a blank one"
