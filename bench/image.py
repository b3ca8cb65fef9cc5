"""Benchmark: our one-image optimiser against the pastiche package's, side by side.

Both minimise the same objective on the same pre-resized images: pastiche's loss
(content 0.01·MSE at relu4_2; style Σ 10/C² · MSE of Gram/(H·W); no TV) is exactly ours
with content weight 0.01, style weight 10 and TV 0 (our Gram divides by C·H·W). The
script checks that equivalence numerically first, then records loss against time for

* pastiche: L-BFGS, 500 iterations;
* ours, one scale: same start (the content), 500 iterations — per-iteration time;
* ours, coarse-to-fine (default schedule) — time to reach pastiche's final loss;
* where our default arithmetic is bf16 (--precision auto), coarse-to-fine in fp32 as well.

Every loss here is the fp32 objective: bf16 iterates are re-scored in fp32, off the clock.

"s to pastiche loss" compares optimiser iterates (unclipped, as both optimisers see them);
"saved loss" evaluates each program's saved image (pixels clipped to 0–255).

Usage: python bench/image.py [--size 256] [--iterations 500] [--device auto] [--out bench/results/image.json]
On CUDA it also runs 512 and 1024 px unless --size is given.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vidstyle.compute.device import resolve_device
from vidstyle.image.io import load_image
from vidstyle.settings import OptimSettings, StyleSettings
from vidstyle.style.losses import Criterion
from vidstyle.style.stylize import Stylizer, optimize_image
from vidstyle.style.vgg import CAFFE_MEAN_BGR

MEDIA = REPO.parent / "shared" / "media"
DEFAULT_CONTENT = MEDIA / "content" / "skimage_chelsea.png"
DEFAULT_STYLE = MEDIA / "style" / "vangogh_starry_night.jpg"
PASTICHE_EQUIVALENT = StyleSettings(content_weight=0.01, style_weight=10.0, tv_weight=0.0)


def prepare_images(content: Path, style: Path, size: int, workdir: Path) -> tuple[Path, Path, float]:
    """Content resized to ``size`` (longest side) and style to the same pixel count (pastiche's
    rule), saved losslessly so neither program resamples them again."""
    c = Image.open(content).convert("RGB")
    scale = size / max(c.size)
    c = c.resize((round(c.width * scale), round(c.height * scale)), Image.LANCZOS)
    s = Image.open(style).convert("RGB")
    area = c.width * c.height
    k = (area / (s.width * s.height)) ** 0.5
    s = s.resize((round(s.width * k), round(s.height * k)), Image.LANCZOS)
    cp, sp = workdir / "content.png", workdir / "style.png"
    c.save(cp)
    s.save(sp)
    return cp, sp, max(s.size) / max(c.size)


def caffe_to_rgb255(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(CAFFE_MEAN_BGR, device=x.device).view(1, 3, 1, 1)
    return (x + mean).flip(1)


def run_pastiche(content: Path, style: Path, iterations: int, device: torch.device) -> dict:
    from pastiche.pastiche import PasticheArtist

    torch.manual_seed(0)
    artist = PasticheArtist(str(content), [str(style)], device=str(device), size_pixels=None, size=None, tv_weight=0.0)
    curve = []  # (seconds, loss at the iterate before each step)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iterations):
        artist.draw()
        curve.append((time.perf_counter() - start, artist.loss))
    total = time.perf_counter() - start
    final = caffe_to_rgb255(artist.pastiche.detach())
    return {"seconds": total, "per_iteration": total / iterations, "curve": curve, "final": final}


def run_ours(
    content: torch.Tensor, stylizer: Stylizer, optim: OptimSettings, device: torch.device, exact: Criterion
) -> dict:
    """Our optimiser's loss curve at the finest scale, on the fp32 objective ``exact``.

    With bf16 arithmetic the optimiser's own loss is slightly off, so each iterate is re-scored
    with ``exact``; the re-scoring time is excluded from the clock.
    """
    curve = []
    final_size = tuple(content.shape[-2:])
    mixed = stylizer.encoder.compute_dtype is not None
    paused = 0.0
    start = time.perf_counter()

    def record(it) -> None:
        nonlocal paused
        if tuple(it.context["size"]) != final_size:
            return
        t = time.perf_counter() - start - paused  # optimiser time so far
        if not mixed:
            curve.append((t, float(it.loss.sum())))
            return
        t0 = time.perf_counter()
        with torch.no_grad():
            curve.append((t, float(exact(it.image)[0].sum())))
        paused += time.perf_counter() - t0

    out = optimize_image(stylizer, content, optim, callback=record)
    if device.type == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - start - paused
    return {"seconds": total, "curve": curve, "final": out * 255.0}  # out is already clipped to [0, 1]


def time_to_reach(curve: list[tuple[float, float]], target: float) -> float | None:
    for t, loss in curve:
        if loss <= target:
            return t
    return None


def bench_size(content_path: Path, style_path: Path, size: int, iterations: int, device: torch.device) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cp, sp, style_scale = prepare_images(content_path, style_path, size, Path(tmp))
        content = load_image(cp).to(device)
        settings = PASTICHE_EQUIVALENT.model_copy(update={"style_scale": style_scale})
        stylizer = Stylizer([load_image(sp)], settings, device)  # our default arithmetic
        exact = Stylizer([load_image(sp)], settings.model_copy(update={"precision": "fp32"}), device)
        criterion = exact.criterion(content * 255)
        mixed = stylizer.encoder.compute_dtype is not None

        # 1. Same objective: our loss on the start image equals pastiche's.
        from pastiche.pastiche import PasticheArtist

        probe = PasticheArtist(str(cp), [str(sp)], device=str(device), size_pixels=None, size=None, tv_weight=0.0)
        ours_at_start = float(criterion(content * 255)[0].sum())
        theirs_at_start = probe.loss
        del probe

        pastiche = run_pastiche(cp, sp, iterations, device)
        target = float(criterion(pastiche["final"])[0].sum())  # pastiche's final image, our criterion

        one_scale = OptimSettings(iterations=iterations, scales=1, tolerance_window=0)
        default = OptimSettings(iterations=iterations, tolerance_window=0)
        runs = {
            "ours_single_scale": run_ours(content, stylizer, one_scale, device, criterion),
            "ours_coarse_to_fine": run_ours(content, stylizer, default, device, criterion),
        }
        if mixed:
            runs["ours_coarse_to_fine_fp32"] = run_ours(content, exact, default, device, criterion)
        # Final losses of what each program saves (pixels clipped to 0–255) on the same criterion.
        saved = lambda x: float(criterion(x.clamp(0, 255))[0].sum())  # noqa: E731
        pastiche_saved = saved(pastiche["final"])
        finals = {name: saved(run["final"]) for name, run in runs.items()}

    t_p = pastiche["seconds"]
    result = {
        "size": [int(content.shape[-1]), int(content.shape[-2])],
        "iterations": iterations,
        "precision": "bf16" if mixed else "fp32",
        "objective_check": {"ours": ours_at_start, "pastiche": theirs_at_start,
                            "rel_diff": abs(ours_at_start - theirs_at_start) / theirs_at_start},
        "pastiche": {"seconds": t_p, "s_per_iteration": pastiche["per_iteration"], "final_loss_unclipped": target,
                     "final_loss": pastiche_saved},
        "curves": {"pastiche": pastiche["curve"][::10]},
    }  # fmt: skip
    for name, run in runs.items():
        reach = time_to_reach(run["curve"], target)
        result[name] = {
            "seconds": run["seconds"],
            "s_per_iteration": run["seconds"] / iterations if name == "ours_single_scale" else None,
            "final_loss": finals[name],
            "seconds_to_pastiche_loss": reach,
            "fraction_of_pastiche_time": None if reach is None else reach / t_p,
        }
        result["curves"][name] = run["curve"][::10]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--content", type=Path, default=DEFAULT_CONTENT)
    ap.add_argument("--style", type=Path, default=DEFAULT_STYLE)
    ap.add_argument("--size", type=int, action="append", help="longest side; repeatable")
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "image.json")
    args = ap.parse_args()
    device = resolve_device(args.device)
    sizes = args.size or ([256, 512, 1024] if device.type == "cuda" else [256])
    torch.backends.cudnn.benchmark = True
    results = []
    for size in sizes:
        r = bench_size(args.content, args.style, size, args.iterations, device)
        results.append(r)
        p = r["pastiche"]
        fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"\n{r['size'][0]}x{r['size'][1]} on {device} ({args.iterations} L-BFGS iterations)")
        print(
            f"  objective check: ours {r['objective_check']['ours']:.6g} vs pastiche "
            f"{r['objective_check']['pastiche']:.6g} (rel diff {r['objective_check']['rel_diff']:.1e})"
        )
        print(
            f"  pastiche's loss after {args.iterations} iterations (unclipped iterate): {p['final_loss_unclipped']:.5g}"
        )
        print(
            f"  {'':28}{'s/iter':>9}{'total s':>9}{'saved loss':>13}{'s to pastiche loss':>20}{'x pastiche time':>16}"
        )
        print(
            f"  {'pastiche':28}{p['s_per_iteration']:9.3f}{p['seconds']:9.1f}{p['final_loss']:13.5g}{fmt(p['seconds']):>20}{'1.00':>16}"
        )
        labels = {
            "ours_single_scale": f"ours, one scale, {r['precision']}",
            "ours_coarse_to_fine": f"ours, coarse-to-fine, {r['precision']}",
            "ours_coarse_to_fine_fp32": "ours, coarse-to-fine, fp32",
        }
        for key, label in labels.items():
            if key in r:
                o = r[key]
                per = "" if o["s_per_iteration"] is None else f"{o['s_per_iteration']:.3f}"
                print(
                    f"  {label:28}{per:>9}{o['seconds']:9.1f}{o['final_loss']:13.5g}"
                    f"{fmt(o['seconds_to_pastiche_loss']):>20}{fmt(o['fraction_of_pastiche_time']):>16}"
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"device": str(device), "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None}  # fmt: skip
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
