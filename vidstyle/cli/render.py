"""``vidstyle render``: stylise a video with temporal consistency, resumably."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import VidstyleError
from ..render import render
from ..settings import DEFAULT_PRESET, PRESETS, EncodeSettings, RenderSettings, apply_overrides, preset_settings
from .app import app
from .common import build_settings, parse_floats, stderr_console
from .progress import JsonLinesReporter, RichReporter, Silent

_PRESET_HELP = (
    "fast: 1 pass, 60 iterations a frame, short-term loss; balanced: 1 pass, 150 iterations, "
    "long-term loss over 1,2,4 frames back; best: 8 passes (Ruder's multipass), about 800 iterations a frame."
)


def _ints(text: str | None, option: str) -> tuple[int, ...] | None:
    values = parse_floats(text, option)
    if values is None:
        return None
    if any(v != int(v) for v in values):
        raise VidstyleError(f"{option}: expected whole numbers, got {text!r}")
    return tuple(int(v) for v in values)


def _nested(**sections: dict[str, Any]) -> dict[str, Any]:
    """Drop options the user didn't give, so they don't override presets or config files."""
    out: dict[str, Any] = {}
    for name, values in sections.items():
        if name == "top":
            out.update({k: v for k, v in values.items() if v is not None})
            continue
        kept = {k: v for k, v in values.items() if v is not None}
        if kept:
            out[name] = kept
    return out


@app.command("render")
def render_command(
    input: Annotated[Path, typer.Argument(help="Video file, image folder or printf pattern.", show_default=False)],
    styles: Annotated[list[Path] | None, typer.Argument(help="Style images (paintings).", show_default=False)] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output video (or image folder).", show_default=False)] = None,
    preset: Annotated[str, typer.Option(help=_PRESET_HELP)] = DEFAULT_PRESET,
    size: Annotated[int | None, typer.Option(help="Longest side of the stylised frames [default: 512].")] = None,
    job: Annotated[Path | None, typer.Option(help="Job directory: keeps all work; the same command resumes it.")] = None,
    keep_job: Annotated[bool, typer.Option(help="Keep the default job directory (OUTPUT.vidstyle-job) after success.")] = False,
    redo_changed: Annotated[bool, typer.Option(help="Redo the shots whose settings differ from the job's.")] = False,
    start: Annotated[str | None, typer.Option(help="Start at this time (2.5, 1:02.5) or frame (120f).")] = None,
    end: Annotated[str | None, typer.Option(help="Stop before this time or frame.")] = None,
    stride: Annotated[int, typer.Option(help="Keep every n-th frame.")] = 1,
    iterations: Annotated[int | None, typer.Option(help="Iterations for a shot's first frame (finest scale).")] = None,
    frame_iterations: Annotated[int | None, typer.Option(help="Iterations for each later frame.")] = None,
    passes: Annotated[int | None, typer.Option(help="1: sequential; more: multipass.")] = None,
    pass_iterations: Annotated[int | None, typer.Option(help="Iterations per frame per pass (multipass).")] = None,
    temporal_from_pass: Annotated[int | None, typer.Option(help="First pass using the temporal loss (multipass).")] = None,
    long_term: Annotated[str | None, typer.Option(help="Frames back tied by the temporal loss, e.g. 1,2,4.")] = None,
    temporal_weight: Annotated[float | None, typer.Option(help="Weight of the temporal loss [default: 1000].")] = None,
    content_weight: Annotated[float | None, typer.Option(help="Weight of the content loss [default: 5].")] = None,
    style_weight: Annotated[float | None, typer.Option(help="Weight of the style loss [default: 100].")] = None,
    tv_weight: Annotated[float | None, typer.Option(help="Weight of the smoothness loss [default: 0.001].")] = None,
    style_blend: Annotated[str | None, typer.Option(help="Comma-separated weights of the style images.")] = None,
    style_scale: Annotated[float | None, typer.Option(help="Style image size relative to the frame.")] = None,
    preserve_colors: Annotated[str | None, typer.Option(help="none, luminance or match.")] = None,
    blend: Annotated[float | None, typer.Option(help="Multipass blend b of the warped neighbour.")] = None,
    fill: Annotated[str | None, typer.Option(help="Start of disoccluded pixels: content or previous.")] = None,
    warm_start: Annotated[bool | None, typer.Option(help="Start each frame from the warped previous one.")] = None,
    optimizer: Annotated[str | None, typer.Option(help="lbfgs or adam.")] = None,
    scales: Annotated[int | None, typer.Option(help="Coarse-to-fine scales for a shot's first frame.")] = None,
    flow_backend: Annotated[str | None, typer.Option(help="dis, farneback or raft.")] = None,
    flow_preset: Annotated[str | None, typer.Option(help="DIS preset: ultrafast, fast, medium.")] = None,
    flow_workers: Annotated[int | None, typer.Option(help="Flow worker processes.")] = None,
    raft_weights: Annotated[Path | None, typer.Option(help="Local RAFT weights (flow backend raft).")] = None,
    codec: Annotated[str | None, typer.Option(help="h264 (default), h265, vp9, prores, ffv1.")] = None,
    crf: Annotated[int | None, typer.Option(help="Quality (lower is better).")] = None,
    encoder_preset: Annotated[str | None, typer.Option(help="Encoder speed preset (e.g. medium).")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "auto",
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    json_progress: Annotated[bool, typer.Option("--json-progress", help="Progress as JSON lines on stdout.")] = False,
) -> None:
    """Paint INPUT in the style of STYLES, frame by frame with temporal consistency, into --output."""
    if output is None:
        raise VidstyleError("--output: missing (vidstyle render INPUT STYLE... -o OUTPUT)")
    if preset not in PRESETS:
        raise VidstyleError(f"--preset: unknown preset {preset!r} (expected {', '.join(PRESETS)})")
    overrides = _nested(
        top={"size": size, "styles": tuple(styles) if styles else None},
        style={"content_weight": content_weight, "style_weight": style_weight, "tv_weight": tv_weight,
               "style_blend": parse_floats(style_blend, "--style-blend"), "style_scale": style_scale,
               "preserve_colors": preserve_colors},
        optim={"iterations": iterations, "optimizer": optimizer, "scales": scales, "seed": seed},
        temporal={"frame_iterations": frame_iterations, "passes": passes, "pass_iterations": pass_iterations,
                  "temporal_from_pass": temporal_from_pass, "long_term": _ints(long_term, "--long-term"),
                  "temporal_weight": temporal_weight, "blend": blend, "fill": fill, "warm_start": warm_start},
        flow={"backend": flow_backend, "preset": flow_preset, "workers": flow_workers, "raft_weights": raft_weights},
    )  # fmt: skip
    settings = _validated(preset_settings(preset), overrides)
    if not settings.styles:
        raise VidstyleError("no style image given (vidstyle render INPUT STYLE... -o OUTPUT)")
    encode = build_settings(EncodeSettings, {"codec": codec, "crf": crf, "preset": encoder_preset})
    console = stderr_console(quiet or json_progress)
    reporter = JsonLinesReporter(sys.stdout) if json_progress else Silent() if quiet else RichReporter(console)
    with reporter:
        result = render(
            input, output, settings, job=job, keep_job=keep_job, start=start, end=end, stride=stride,
            encode=encode, device=device, redo_changed=redo_changed, progress=reporter,
        )  # fmt: skip
    if not json_progress:
        console.print(
            f"wrote {result.output}: {result.frames} frames, {result.shots} shot(s), "
            f"{result.computed} computed, {result.reused} reused, {result.seconds:.0f} s"
            + (f"; job kept in {result.job}" if result.job else "")
        )


def _validated(base: RenderSettings, overrides: dict[str, Any]) -> RenderSettings:
    """Apply CLI overrides; a validation error names the option."""
    from pydantic import ValidationError

    try:
        return apply_overrides(base, overrides)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
        field = loc[-1] if loc else "settings"
        option = {"preset": "--flow-preset", "backend": "--flow-backend", "workers": "--flow-workers"}.get(
            field, "--" + field.replace("_", "-")
        )
        raise VidstyleError(f"{option}: {err.get('msg', 'invalid value')}") from None
