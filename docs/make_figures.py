"""Make the README figures: a stylised still, and frames of a rendered clip beside its per-frame baseline.

Usage: python docs/make_figures.py [--still] [--video] [--size 192] [--picks 0,48,84] [--device auto]
Writes docs/result.jpg, docs/video_frames.jpg and docs/video_eval.json (the eval table).

The video figure renders the clip from its first frame to the last picked frame (one shot,
fast) and shows the picked frames: by default the dog behind the log (0), on it (48) and
jumping towards the camera (84). The per-frame baseline is rendered at the picked frames
only (each alone, as the baseline does), so the eval table has no baseline column.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vidstyle.evaluate.metrics import evaluate_files
from vidstyle.image.io import save_image
from vidstyle.render import render
from vidstyle.settings import apply_overrides, preset_settings
from vidstyle.style.stylize import stylize_image
from vidstyle.video import open_video

DOCS = REPO / "docs"
CONTENT = REPO / "sample_clips" / "images" / "chelsea.jpg"
STYLE = REPO / "sample_clips" / "styles" / "starry_night.jpg"
CLIP = REPO / "sample_clips" / "vpf_dog_848x464_aac.mp4"


def row(images: list[Image.Image], height: int, gap: int = 8) -> Image.Image:
    scaled = [im.resize((round(im.width * height / im.height), height), Image.LANCZOS) for im in images]
    out = Image.new("RGB", (sum(im.width for im in scaled) + gap * (len(scaled) - 1), height), "white")
    x = 0
    for im in scaled:
        out.paste(im, (x, 0))
        x += im.width + gap
    return out


def still(size: int, device: str) -> None:
    t = time.perf_counter()
    result = stylize_image(CONTENT, [STYLE], size=size, device=device)
    out = DOCS / "result_full.png"
    save_image(result, out)
    panel = row(
        [Image.open(CONTENT).convert("RGB"), Image.open(STYLE).convert("RGB"), Image.open(out)], result.shape[-2]
    )
    panel.save(DOCS / "result.jpg", quality=88)
    out.unlink()
    print(f"still: {size} px in {time.perf_counter() - t:.0f} s -> docs/result.jpg")


def video(size: int, picks: list[int], device: str) -> None:
    settings = apply_overrides(preset_settings("fast"), {"size": size, "styles": (str(STYLE),)})
    frames = max(picks) + 1
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dog.mp4"
        t = time.perf_counter()
        render(CLIP, out, settings, end=f"{frames}f", device=device)
        took = time.perf_counter() - t
        report = evaluate_files(CLIP, out, end=f"{frames}f").to_dict()
        grab: dict[str, list[Image.Image]] = {"baseline": []}
        for k in picks:  # the per-frame baseline at the picked frames: each frame optimised alone
            base = Path(tmp) / f"baseline{k}.mp4"
            render(CLIP, base, settings.independent(), start=f"{k}f", end=f"{k + 1}f", device=device)
            with open_video(base) as r:
                grab["baseline"] += [Image.fromarray(f.image) for f in r]
        for name, path, kw in (("input", CLIP, {"size": size}), ("render", out, {})):
            with open_video(path, end=f"{frames}f", **kw) as r:
                grab[name] = [Image.fromarray(f.image) for k, f in enumerate(r) if k in picks]
        h = grab["render"][0].height
        lines = [row(grab[name], h) for name in ("input", "render", "baseline")]
        label_w = 90
        sheet = Image.new("RGB", (lines[0].width + label_w, 3 * h + 16), "white")
        draw = ImageDraw.Draw(sheet)
        for k, (name, line) in enumerate(zip(("input", "vidstyle", "per frame"), lines)):
            sheet.paste(line, (label_w, k * (h + 8)))
            draw.text((6, k * (h + 8) + h // 2 - 6), name, fill="black")
        sheet.save(DOCS / "video_frames.jpg", quality=88)
    summary = {
        name: {"mean": s["mean"], "relative_to_input": s["relative_to_input"]} for name, s in report["series"].items()
    }
    (DOCS / "video_eval.json").write_text(json.dumps({"frames": frames, "size": report["width"], "seconds": took,
                                                       "picked_frames": picks, "warping_error": summary,
                                                       "tof": report["series"]["output"]["tof"]["mean"],
                                                       "tof_frozen": report["input_flow_magnitude"]["mean"]}, indent=1))  # fmt: skip
    print(f"video: {frames} frames at {size} px in {took:.0f} s -> docs/video_frames.jpg; {summary}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--still", action="store_true")
    ap.add_argument("--video", action="store_true")
    ap.add_argument("--still-size", type=int, default=384)
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--picks", default="0,48,84", help="frames shown (the render runs from 0 to the last)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    both = not (args.still or args.video)
    if args.still or both:
        still(args.still_size, args.device)
    if args.video or both:
        video(args.size, sorted(int(k) for k in args.picks.split(",")), args.device)


if __name__ == "__main__":
    main()
