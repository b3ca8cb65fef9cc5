"""Benchmark: temporal consistency and style fit of each preset on real clips.

For each clip and preset: render, then measure against the per-frame independent baseline
(every frame optimised alone with the --baseline-preset's first-frame budget, default
balanced's 400 iterations: one baseline per clip, at least as strong as each preset's
own), on the same network and flow:

* warping error (Lai et al. 2018, flow on the input) of the render, the baseline and the input;
* mean style loss of the render's and the baseline's frames (each frame against its own
  content frame, same criterion as the renderer's);
* seconds per frame.

Targets (issue 5): render warping error < baseline / 8 and ≤ input; style loss ≤ 1.1 × baseline.

Usage: python bench/temporal.py [--clip PATH ...] [--frames 24] [--size 128] [--preset fast ...]
       [--set temporal.temporal_weight=1e4 ...] [--device auto] [--out bench/results/temporal.json]
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vidstyle.device import resolve_device  # noqa: E402
from vidstyle.images import from_uint8  # noqa: E402
from vidstyle.metrics import evaluate_files  # noqa: E402
from vidstyle.render import render  # noqa: E402
from vidstyle.settings import PRESETS, RenderSettings, apply_overrides, preset_settings  # noqa: E402
from vidstyle.stylize import Stylizer  # noqa: E402
from vidstyle.video import open_video  # noqa: E402

MEDIA = REPO.parent / "shared" / "media"
DEFAULT_CLIPS = [MEDIA / "videos" / "vpf_dog_848x464_aac.mp4", MEDIA / "videos" / "intel_asl-walk_640x480.mkv"]
DEFAULT_STYLE = REPO / "sample_clips" / "styles" / "starry_night.jpg"


def parse_set(items: list[str]) -> dict:
    """``section.key=value`` strings → nested overrides (values parsed as JSON when possible)."""
    out: dict = {}
    for item in items:
        key, _, raw = item.partition("=")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        if isinstance(value, list):
            value = tuple(value)
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


@torch.no_grad()
def mean_style_loss(video: Path, clip: Path, settings: RenderSettings, frames: int, device: torch.device) -> float:
    """Mean over frames of the style loss of ``video``'s frames (same size as rendered)."""
    stylizer = Stylizer(list(settings.styles), settings.style, device)
    total, n = 0.0, 0
    with open_video(video) as out, open_video(clip, size=settings.size, end=f"{frames}f") as src:
        for fo, fi in zip(out, src):
            x = from_uint8(fo.image).to(device) * 255
            content = from_uint8(fi.image).to(device) * 255
            crit = stylizer.criterion(content)
            total += float(crit(x)[1]["style"].sum())
            n += 1
    return total / max(n, 1)


def run(clip: Path, preset: str, args: argparse.Namespace, workdir: Path, device: torch.device, cache: dict) -> dict:
    settings = apply_overrides(preset_settings(preset), {"size": args.size, "styles": (str(args.style),), **parse_set(args.set)})
    end = f"{args.frames}f"
    out = workdir / f"{clip.stem}.{preset}.mp4"
    t0 = time.perf_counter()
    render(clip, out, settings, end=end, device=device, progress=None)
    seconds = time.perf_counter() - t0
    base_settings = apply_overrides(
        preset_settings(args.baseline_preset), {"size": args.size, "styles": (str(args.style),), **parse_set(args.set)}
    ).independent()
    key = (str(clip), base_settings.model_dump_json())
    if key not in cache:
        base = workdir / f"{clip.stem}.baseline{len(cache)}.mp4"
        t0 = time.perf_counter()
        render(clip, base, base_settings, end=end, device=device)
        cache[key] = (base, time.perf_counter() - t0)
    base, base_seconds = cache[key]
    report = evaluate_files(clip, out, base, end=end).to_dict()
    means = {name: s["mean"] for name, s in report["series"].items()}
    style_render = mean_style_loss(out, clip, settings, args.frames, device)
    style_base = mean_style_loss(base, clip, settings, args.frames, device)
    return {
        "clip": clip.name, "preset": preset, "frames": args.frames, "size": args.size,
        "warping_error": {"render": means.get("output"), "baseline": means.get("baseline"), "input": means.get("input")},
        "style_loss": {"render": style_render, "baseline": style_base},
        "seconds_per_frame": {"render": seconds / args.frames, "baseline": base_seconds / args.frames},
        "targets": {
            "render_below_baseline_over_8": means["output"] < means["baseline"] / 8,
            "render_at_most_input": means["output"] <= means["input"],
            "style_within_1.1x_baseline": style_render <= 1.1 * style_base,
        },
        "overrides": parse_set(args.set),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, action="append")
    ap.add_argument("--style", type=Path, default=DEFAULT_STYLE)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--size", type=int, default=None, help="longest side (default 128 on CPU, 512 on CUDA)")
    ap.add_argument("--preset", action="append", choices=list(PRESETS))
    ap.add_argument("--set", action="append", default=[], help="override, e.g. temporal.temporal_weight=1e4")
    ap.add_argument("--baseline-preset", default="balanced", choices=list(PRESETS),
                    help="first-frame budget of the per-frame baseline, shared by all presets of a clip")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "temporal.json")
    args = ap.parse_args()
    device = resolve_device(args.device)
    args.size = args.size or (512 if device.type == "cuda" else 128)
    clips, presets = args.clip or DEFAULT_CLIPS, args.preset or list(PRESETS)
    rows, cache = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            for preset in presets:
                r = run(clip, preset, args, Path(tmp), device, cache)
                rows.append(r)
                we, sl, sp = r["warping_error"], r["style_loss"], r["seconds_per_frame"]
                print(f"{clip.name[:28]:28} {preset:9} warp render {we['render']:.5f} baseline {we['baseline']:.5f} "
                      f"input {we['input']:.5f} | baseline/render {we['baseline'] / we['render']:5.1f}x "
                      f"render/input {we['render'] / we['input']:4.2f} | style render/baseline "
                      f"{sl['render'] / sl['baseline']:4.2f} | s/frame {sp['render']:.1f} (baseline {sp['baseline']:.1f})",
                      flush=True)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"device": str(device), "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
            "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}  # fmt: skip
    args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
