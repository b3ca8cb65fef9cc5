"""Benchmark: the style engine on a GPU (issue 15), and the same code at tiny size on the CPU.

For each frame size (480p, 720p, 1080p: 854x480, 1280x720, 1920x1080):

* VGG-19 forward + backward of the criterion (content + style + TV, the network up to
  relu5_1) per iteration, and the whole optimiser step (the same plus the L-BFGS direction);
* achieved TFLOP/s of the convolutions, counted analytically (2·Cin·Cout·9·H·W per conv
  forward, the same again for the gradient with respect to its input; the weights are
  frozen), against the device's dense bf16 peak from a small table (None when unknown);
* peak memory (CUDA: ``max_memory_allocated``; CPU: the process's peak RSS);
* seconds per frame of each preset at that size, as its per-frame iteration count times the
  measured step (later frames of a shot; multipass counts every pass).

Then one short real render (fast preset, a few frames of the sample clip at the first size)
end to end, against its pure optimisation time (the sum of the frames' optimise calls),
to show what decode, flow, warping, storing and encoding add.

``--smoke`` runs all of it on the CPU at tiny sizes with a handful of iterations, so the
script is exercised by the test suite while no GPU is at hand (tests/test_bench_gpu.py).

Usage: python bench/gpu.py [--device cuda] [--sizes 854x480,1280x720,1920x1080] [--iterations 20]
       [--out bench/results/gpu.json] | python bench/gpu.py --smoke --out PATH
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch

import vidstyle  # noqa: F401  # first: it sets OpenMP's wait policy before torch starts its threads
from vidstyle.compute.device import resolve_device
from vidstyle.image.io import from_uint8, resize
from vidstyle.job.events import FrameFinished
from vidstyle.render import render
from vidstyle.settings import PRESETS, apply_overrides, preset_settings
from vidstyle.style.optimize import minimize
from vidstyle.style.stylize import Stylizer
from vidstyle.style.vgg import CONV_LAYERS, channels
from vidstyle.video import open_video

CLIP = REPO / "sample_clips" / "vpf_dog_848x464_aac.mp4"
STYLE = REPO / "sample_clips" / "styles" / "starry_night.jpg"

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from the vendors' datasheets. Matched
# against torch.cuda.get_device_name in order (the first substring that matches wins).
DENSE_BF16_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.4),  # SXM5 (e.g. "NVIDIA H100 80GB HBM3")
    ("H200", 989.4),
    ("GH200", 989.4),
    ("A100", 312.0),
    ("L40S", 362.1),
    ("L4", 121.0),
    ("A10", 125.0),
    ("RTX 4090", 165.2),
)


def bf16_peak(device: torch.device) -> float | None:
    """The device's dense bf16 peak in TFLOP/s, or None (CPU, or a GPU not in the table)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in DENSE_BF16_PEAK_TFLOPS if key in name), None)


def conv_flops(layers: tuple[str, ...], h: int, w: int) -> int:
    """Forward FLOPs (2 per multiply-add) of VGG-19's convolutions up to the deepest of
    ``layers`` on an H×W image; 3x3 convs with padding 1, 2x2 pooling between blocks."""
    deepest = max(int(name[4]) * 10 + int(name[6]) for name in layers if name[4].isdigit())
    total, c_in = 0, 3
    for conv in CONV_LAYERS:
        block, index = int(conv[4]), int(conv[6])
        if block * 10 + index > deepest:
            break
        hb, wb = h >> (block - 1), w >> (block - 1)
        c_out = channels(conv)
        total += 2 * c_in * c_out * 9 * hb * wb
        c_in = c_out
    return total


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def frame(size: tuple[int, int]) -> torch.Tensor:
    """The sample clip's first frame resized to (H, W), RGB in [0, 1], (1, 3, H, W)."""
    with open_video(CLIP, end="1f") as reader:
        image = from_uint8(next(iter(reader)).image)
    return resize(image, size).clamp(0, 1)


def bench_size(stylizer: Stylizer, size: tuple[int, int], iterations: int, warmup: int) -> dict[str, object]:
    """VGG forward+backward and whole-step timings at one (H, W)."""
    device = stylizer.device
    h, w = size
    content = frame(size).to(device) * 255.0
    reset_peak(device)
    criterion = stylizer.criterion(content)
    x = content.clone().requires_grad_(True)

    def fwd_bwd() -> None:
        loss, _ = criterion(x)
        torch.autograd.grad(loss.sum(), x)

    for _ in range(warmup):
        fwd_bwd()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iterations):
        fwd_bwd()
    sync(device)
    vgg_s = (time.perf_counter() - t0) / iterations

    minimize(content, criterion, iterations=warmup + 1, tolerance_window=0)  # warm the optimiser's kernels
    sync(device)
    t0 = time.perf_counter()
    minimize(content, criterion, iterations=iterations, tolerance_window=0)
    sync(device)
    step_s = (time.perf_counter() - t0) / iterations

    layers = tuple(stylizer.settings.content_layers) + tuple(stylizer.settings.style_layers)
    flops = 2 * conv_flops(layers, h, w)  # forward + gradient w.r.t. the input
    peak = bf16_peak(device)
    tflops = flops / vgg_s / 1e12
    return {
        "size": [w, h], "vgg_fwd_bwd_s": vgg_s, "step_s": step_s, "conv_tflop_per_iter": flops / 1e12,
        "achieved_tflops": tflops, "peak_bf16_tflops": peak,
        "fraction_of_peak": None if peak is None else tflops / peak, "peak_memory_mb": peak_memory_mb(device),
    }  # fmt: skip


def preset_costs(step_s: float) -> dict[str, float]:
    """Seconds per later frame of each preset, from the measured step time."""
    out = {}
    for name in PRESETS:
        t = preset_settings(name).temporal
        iters = t.frame_iterations + (t.passes - 1) * t.pass_iterations
        out[name] = iters * step_s
    return out


def bench_render(device: torch.device, size: int, frames: int, smoke: bool) -> dict[str, object]:
    """A short fast-preset render end to end, against the time spent optimising its frames."""
    overrides: dict[str, object] = {"size": size, "styles": (str(STYLE),)}
    if smoke:
        overrides.update(optim={"iterations": 3}, temporal={"frame_iterations": 2})
    settings = apply_overrides(preset_settings("fast"), overrides)
    tasks: list[FrameFinished] = []
    with tempfile.TemporaryDirectory() as tmp:
        sync(device)
        t0 = time.perf_counter()
        render(CLIP, Path(tmp) / "out.mp4", settings, end=f"{frames}f", device=device,
               progress=lambda e: tasks.append(e) if isinstance(e, FrameFinished) else None)  # fmt: skip
        sync(device)
        wall = time.perf_counter() - t0
    optimise = sum(t.seconds for t in tasks)
    return {"size": size, "frames": frames, "wall_s": wall, "optimise_s": optimise, "ratio": wall / optimise}


def parse_sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        w, _, h = item.partition("x")
        out.append((int(h), int(w)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--sizes", default=None, help="WxH list [default: 854x480,1280x720,1920x1080; smoke: 64x36,96x54]")
    ap.add_argument("--iterations", type=int, default=None, help="timed iterations per size [default 20; smoke 2]")
    ap.add_argument(
        "--render-frames", type=int, default=None, help="frames of the end-to-end render [default 8; smoke 3]"
    )
    ap.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU: checks the script, measures nothing")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = torch.device("cpu") if args.smoke else resolve_device(args.device)
    sizes = parse_sizes(args.sizes or ("64x36,96x54" if args.smoke else "854x480,1280x720,1920x1080"))
    iterations = args.iterations or (2 if args.smoke else 20)
    warmup = 1 if args.smoke else 3
    render_frames = args.render_frames or (3 if args.smoke else 8)
    out_path = args.out or REPO / "bench" / "results" / ("gpu-smoke.json" if args.smoke else "gpu.json")

    stylizer = Stylizer([str(STYLE)], None, device)
    rows = []
    print(f"device {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
          + f", network arithmetic {stylizer.encoder.compute_dtype or torch.float32}", flush=True)  # fmt: skip
    for size in sizes:
        row = bench_size(stylizer, size, iterations, warmup)
        row["preset_s_per_frame"] = preset_costs(row["step_s"])  # type: ignore[arg-type]
        rows.append(row)
        frac = row["fraction_of_peak"]
        print(f"{size[1]}x{size[0]}: VGG fwd+bwd {row['vgg_fwd_bwd_s'] * 1e3:.1f} ms, step {row['step_s'] * 1e3:.1f} ms, "
              f"{row['achieved_tflops']:.2f} TFLOP/s" + (f" ({frac:.0%} of dense bf16 peak)" if frac is not None else "")
              + f", peak memory {row['peak_memory_mb']:.0f} MB; s/frame "
              + ", ".join(f"{k} {v:.2f}" for k, v in row["preset_s_per_frame"].items()), flush=True)  # type: ignore[union-attr]  # fmt: skip
    e2e = bench_render(device, max(sizes[0]), render_frames, args.smoke)
    print(f"render {e2e['frames']} frames at {e2e['size']} px (fast): {e2e['wall_s']:.1f} s end to end, "
          f"{e2e['optimise_s']:.1f} s optimising ({e2e['ratio']:.2f}x)", flush=True)  # fmt: skip
    meta = {
        "device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "smoke": args.smoke, "iterations": iterations, "torch": torch.__version__,
        "compute_dtype": str(stylizer.encoder.compute_dtype or torch.float32),
    }  # fmt: skip
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({"meta": meta, "sizes": rows, "render": e2e}, indent=1))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
