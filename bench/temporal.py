"""Benchmark: stability AND fidelity of each preset on real clips, against Ruder's terms.

For each clip, preset and variant (``vidstyle``: the defaults; ``ruder``: the same preset
with Ruder's terms alone, i.e. no photometric check and no adaptive budget), render, then
measure against the per-frame independent baseline (every frame optimised alone with the
--baseline-preset's first-frame budget, default balanced's 400 iterations: one baseline
per clip), on the same network and flow:

* stability: warping error (Lai et al. 2018, flow on the input) of the render, the baseline
  and the input;
* fidelity: tOF of the render and the baseline against the input's flow magnitude (what a
  frozen video scores); the content distance (relu4_2) to the input per frame, as a ratio
  to the baseline's on the same frame (max over frames and on the last frame: drift); the
  perceptual distance (unweighted LPIPS on our VGG-19) to the baseline;
* style loss of the render's and the baseline's frames (same criterion as the renderer's);
* seconds per frame.

Targets (issue 10), all at once: warping error ≤ input and ≤ baseline / 8; tOF below the
baseline's and below a frozen video's; content distance ≤ 1.1 × the baseline's on every
frame; style loss ≤ 1.1 × the baseline's. Beside the input's own warping error the table
shows a frozen painting's (the render's first frame repeated, same codec): on a still
camera no painting with that texture scores much below it, however steady.

``--codec ffv1`` scores lossless output (the method alone); the default, h264 at the
default CRF, scores what a user gets, coding noise included.

``--drift CLIP:N`` renders N frames as one shot and compares the content distance of
frames spread over it (the last included) with fresh one-frame renders of them: drift.

``--fade CLIP:START:END`` adds the fade test: the frames [START, END) of a render of
[0, END) (which fades in before START) against a render started at START: mean brightness
(0–255) and content distance on every frame of the overlap.

Usage: python bench/temporal.py [--clip PATH ...] [--frames 24] [--size 128] [--preset fast ...]
       [--variant vidstyle --variant ruder] [--set temporal.temporal_weight=1e4 ...]
       [--fade PATH:52:60] [--drift PATH:240] [--device auto] [--out bench/results/temporal.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vidstyle.compute.device import resolve_device
from vidstyle.evaluate.fidelity import FeatureMeter
from vidstyle.evaluate.metrics import evaluate_files
from vidstyle.image.io import from_uint8
from vidstyle.render import render
from vidstyle.settings import PRESETS, EncodeSettings, RenderSettings, apply_overrides, preset_settings
from vidstyle.style.stylize import Stylizer
from vidstyle.video import VideoWriter, open_video

# The variants compared: overrides of the temporal section on top of the preset.
VARIANTS: dict[str, dict] = {
    "vidstyle": {},
    "hold": {"temporal": {"hold_change": 2.0}},
    "ruder": {
        "temporal": {
            "photometric_check": False,
            "adaptive_iterations": False,
            "follow_input": False,
            "still_change": 0.0,
            "hold_change": 0.0,
        }
    },
}

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


def frozen_warping_error(video: Path, clip: Path, frames: int, codec: str, workdir: Path) -> float:
    """Warping error of ``video``'s first frame repeated ``frames`` times (the same codec):
    a frozen painting, the floor of any painting with that texture on a still camera."""
    with open_video(video) as r:
        first = next(iter(r)).image
    path = workdir / f"{video.stem}.frozen{video.suffix}"
    with VideoWriter(path, width=first.shape[1], height=first.shape[0], fps=24, codec=codec) as w:
        for _ in range(frames):
            w.write(first)
    return evaluate_files(clip, path, end=f"{frames}f", fidelity=False).to_dict()["series"]["output"]["mean"]


def merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def common_overrides(args: argparse.Namespace) -> dict:
    """The overrides every render of a run shares: size, style and --set."""
    return {"size": args.size, "styles": (str(args.style),), **parse_set(args.set)}


def variant_settings(preset: str, variant: str, args: argparse.Namespace) -> RenderSettings:
    """A preset with the run's common overrides and a variant's temporal terms."""
    return apply_overrides(preset_settings(preset), merge(common_overrides(args), VARIANTS[variant]))


def run(
    clip: Path, preset: str, variant: str, args: argparse.Namespace, workdir: Path, device: torch.device, cache: dict
) -> dict:
    common = common_overrides(args)
    settings = variant_settings(preset, variant, args)
    end = f"{args.frames}f"
    ext = ".mkv" if args.codec == "ffv1" else ".mp4"
    encode = EncodeSettings(codec=args.codec)
    out = workdir / f"{clip.stem}.{preset}.{variant}{ext}"
    t0 = time.perf_counter()
    render(clip, out, settings, end=end, device=device, progress=None, encode=encode)
    seconds = time.perf_counter() - t0
    base_settings = apply_overrides(preset_settings(args.baseline_preset), common).independent()
    key = (str(clip), base_settings.model_dump_json())
    if key not in cache:
        base = workdir / f"{clip.stem}.baseline{len(cache)}{ext}"
        t0 = time.perf_counter()
        render(clip, base, base_settings, end=end, device=device, encode=encode)
        cache[key] = (base, time.perf_counter() - t0)
    base, base_seconds = cache[key]
    report = evaluate_files(clip, out, base, end=end, device=str(device)).to_dict()
    ser = report["series"]
    means = {name: s["mean"] for name, s in ser.items()}
    content_ratio = [
        r / b
        for r, b in zip(ser["output"]["content_distance"]["frames"], ser["baseline"]["content_distance"]["frames"])
    ]
    tof = {
        "render": ser["output"]["tof"]["mean"],
        "baseline": ser["baseline"]["tof"]["mean"],
        "frozen": report["input_flow_magnitude"]["mean"],
    }
    style_render = mean_style_loss(out, clip, settings, args.frames, device)
    style_base = mean_style_loss(base, clip, settings, args.frames, device)
    return {
        "clip": clip.name, "preset": preset, "variant": variant, "frames": args.frames, "size": args.size,
        "codec": args.codec,
        "warping_error": {"render": means.get("output"), "baseline": means.get("baseline"), "input": means.get("input"),
                          "frozen": frozen_warping_error(out, clip, args.frames, args.codec, workdir)},
        "tof": tof,
        "content_ratio": {"max": max(content_ratio), "last": content_ratio[-1], "first": content_ratio[0],
                          "frames": content_ratio},
        "perceptual_to_baseline": ser["output"]["perceptual_to_baseline"]["mean"],
        "style_loss": {"render": style_render, "baseline": style_base},
        "seconds_per_frame": {"render": seconds / args.frames, "baseline": base_seconds / args.frames},
        "targets": {
            "warp_below_baseline_over_8": means["output"] <= means["baseline"] / 8,
            "warp_at_most_input": means["output"] <= means["input"],
            "tof_below_baseline_and_frozen": tof["render"] < tof["baseline"] and tof["render"] < tof["frozen"],
            "content_within_1.1x_baseline_every_frame": max(content_ratio) <= 1.1,
            "style_within_1.1x_baseline": style_render <= 1.1 * style_base,
        },
        "overrides": merge(parse_set(args.set), VARIANTS[variant]),
    }  # fmt: skip


def frames_of(path: Path) -> list:
    with open_video(path) as r:
        return [f.image for f in r]


def fade_test(
    spec: str, preset: str, variant: str, args: argparse.Namespace, workdir: Path, device: torch.device
) -> dict:
    """Frames [START, END) of a render of [0, END) against a render started at START."""
    path, start, end = spec.rsplit(":", 2)
    clip = Path(path)
    settings = variant_settings(preset, variant, args)
    a, b = workdir / f"fade.{preset}.{variant}.A.mp4", workdir / f"fade.{preset}.{variant}.B.mp4"
    render(clip, a, settings, end=f"{end}f", device=device)
    render(clip, b, settings, start=f"{start}f", end=f"{end}f", device=device)
    fa, fb = frames_of(a)[int(start) :], frames_of(b)
    with open_video(clip, size=args.size, start=f"{start}f", end=f"{end}f") as r:
        inputs = [f.image for f in r]
    meter = FeatureMeter(device)
    ratio = []
    for x, y, i in zip(fa, fb, inputs):
        fi = meter.features(i)
        ratio.append(meter.content_distance(meter.features(x), fi) / meter.content_distance(meter.features(y), fi))
    diff = [abs(float(x.mean()) - float(y.mean())) for x, y in zip(fa, fb)]
    return {"clip": clip.name, "preset": preset, "variant": variant, "start": int(start), "end": int(end),
            "brightness_faded": [float(x.mean()) for x in fa], "brightness_fresh": [float(y.mean()) for y in fb],
            "max_brightness_difference": max(diff), "max_content_ratio": max(ratio),
            "pass": max(diff) <= 8 and max(ratio) <= 1.25}  # fmt: skip


def drift_test(
    spec: str,
    preset: str,
    variant: str,
    args: argparse.Namespace,
    workdir: Path,
    device: torch.device,
    samples: int = 8,
) -> dict:
    """Content distance over a long shot: a render of frames [0, N) against fresh one-frame
    renders (the per-frame baseline) of ``samples`` frames spread over it, the last included."""
    path, n = spec.rsplit(":", 1)
    clip, n = Path(path), int(n)
    settings = variant_settings(preset, variant, args)
    out = workdir / f"drift.{preset}.{variant}.mp4"
    t0 = time.perf_counter()
    render(clip, out, settings, end=f"{n}f", device=device)
    seconds = time.perf_counter() - t0
    rendered = frames_of(out)
    with open_video(clip, size=args.size, end=f"{n}f") as r:
        inputs = [f.image for f in r]
    meter = FeatureMeter(device)
    picks = sorted({round(k * (n - 1) / (samples - 1)) for k in range(samples)})
    ratios = {}
    for k in picks:
        fresh_dir = workdir / f"drift_fresh{k}.mp4"
        render(clip, fresh_dir, settings, start=f"{k}f", end=f"{k + 1}f", device=device)
        (fresh_img,) = frames_of(fresh_dir)
        fi = meter.features(inputs[k])
        ratios[k] = meter.content_distance(meter.features(rendered[k]), fi) / meter.content_distance(
            meter.features(fresh_img), fi
        )
    return {"clip": clip.name, "preset": preset, "variant": variant, "frames": n, "size": args.size,
            "seconds_per_frame": seconds / n, "content_ratio": ratios, "max": max(ratios.values()),
            "last": ratios[picks[-1]], "pass": max(ratios.values()) <= 1.1}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, action="append")
    ap.add_argument("--style", type=Path, default=DEFAULT_STYLE)
    ap.add_argument("--frames", type=int, default=24, help="frames per clip (0: only the --fade tests)")
    ap.add_argument("--size", type=int, default=None, help="longest side (default 128 on CPU, 512 on CUDA)")
    ap.add_argument("--preset", action="append", choices=list(PRESETS))
    ap.add_argument("--set", action="append", default=[], help="override, e.g. temporal.temporal_weight=1e4")
    ap.add_argument(
        "--baseline-preset",
        default="balanced",
        choices=list(PRESETS),
        help="first-frame budget of the per-frame baseline, shared by all presets of a clip",
    )
    ap.add_argument("--variant", action="append", choices=list(VARIANTS))
    ap.add_argument("--fade", action="append", default=[], help="PATH:START:END fade-in test (e.g. the BBB opening)")
    ap.add_argument("--drift", action="append", default=[], help="PATH:N content drift over a long shot of N frames")
    ap.add_argument("--codec", default="h264", choices=["h264", "ffv1"], help="output codec (ffv1: lossless)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "temporal.json")
    args = ap.parse_args()
    device = resolve_device(args.device)
    args.size = args.size or (512 if device.type == "cuda" else 128)
    clips = [] if args.frames == 0 else (args.clip if args.clip is not None else DEFAULT_CLIPS)
    presets = args.preset or list(PRESETS)
    variants = args.variant or list(VARIANTS)
    rows, fades, cache = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            for preset in presets:
                for variant in variants:
                    r = run(clip, preset, variant, args, Path(tmp), device, cache)
                    rows.append(r)
                    we, sl, sp, tf, cr = (
                        r["warping_error"],
                        r["style_loss"],
                        r["seconds_per_frame"],
                        r["tof"],
                        r["content_ratio"],
                    )
                    print(f"{clip.name[:24]:24} {preset:8} {variant:8} warp/input {we['render'] / we['input']:4.2f} "
                          f"(frozen {we['frozen'] / we['input']:4.2f}) "
                          f"baseline/render {we['baseline'] / we['render']:5.1f}x | tOF {tf['render']:.3f} "
                          f"(baseline {tf['baseline']:.3f}, frozen {tf['frozen']:.3f}) | content/baseline max "
                          f"{cr['max']:.3f} last {cr['last']:.3f} | perceptual {r['perceptual_to_baseline']:.3f} | "
                          f"style {sl['render'] / sl['baseline']:4.2f} | s/frame {sp['render']:.1f} | "
                          f"{'all targets met' if all(r['targets'].values()) else 'MISSED: ' + ', '.join(k for k, v in r['targets'].items() if not v)}",
                          flush=True)  # fmt: skip
        for spec, preset, variant in itertools.product(args.fade, presets, variants):
            f = fade_test(spec, preset, variant, args, Path(tmp), device)
            fades.append(f)
            print(f"fade {f['clip'][:24]:24} {preset:8} {variant:8} frames {f['start']}-{f['end'] - 1}: "
                  f"brightness faded {f['brightness_faded'][0]:.1f} vs fresh {f['brightness_fresh'][0]:.1f}, "
                  f"max difference {f['max_brightness_difference']:.1f}/255, content ratio max "
                  f"{f['max_content_ratio']:.3f} | {'pass' if f['pass'] else 'FAIL'}", flush=True)  # fmt: skip
        drifts = []
        for spec, preset, variant in itertools.product(args.drift, presets, variants):
            d = drift_test(spec, preset, variant, args, Path(tmp), device)
            drifts.append(d)
            print(f"drift {d['clip'][:24]:24} {preset:8} {variant:8} {d['frames']} frames: content/baseline "
                  + " ".join(f"{k}:{v:.3f}" for k, v in d["content_ratio"].items())
                  + f" | last {d['last']:.3f} | s/frame {d['seconds_per_frame']:.2f} | "
                  f"{'pass' if d['pass'] else 'FAIL'}", flush=True)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"device": str(device), "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
            "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}  # fmt: skip
    args.out.write_text(json.dumps({"meta": meta, "results": rows, "fade": fades, "drift": drifts}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
