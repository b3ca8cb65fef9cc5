"""``vidstyle render``: stylise a video with temporal consistency, resumably."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vidstyle.config import config_from_options, load_config
from vidstyle.errors import Interrupted, VidstyleError
from vidstyle.files.apart import Source
from vidstyle.render import default_job_dir, render
from vidstyle.settings import DEFAULT_PRESET, PRESETS, ComputeSettings, preset_settings
from vidstyle.cli.app import app
from vidstyle.cli.common import build_settings, default, parse_floats, stderr_console
from vidstyle.cli.progress import JsonLinesReporter, RichReporter, Silent

_DEFAULTS = preset_settings(DEFAULT_PRESET)


def _preset_help() -> str:
    """What each preset costs, from its settings (so the help never goes stale)."""
    parts = []
    for name in PRESETS:
        t = preset_settings(name).temporal
        loss = "short-term loss" if t.long_term == (1,) else f"long-term loss over {','.join(map(str, t.long_term))} frames back"
        if t.passes == 1:
            parts.append(f"{name}: 1 pass, {t.frame_iterations} iterations a frame, {loss}")
        else:
            total = t.frame_iterations + (t.passes - 1) * t.pass_iterations
            parts.append(f"{name}: {t.passes} passes (Ruder's multipass), about {total} iterations a frame, {loss}")
    return "; ".join(parts) + "."


def _ints(text: str | None, option: str) -> tuple[int, ...] | None:
    values = parse_floats(text, option)
    if values is None:
        return None
    if any(not math.isfinite(v) or v != int(v) for v in values):
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
    preset: Annotated[str | None, typer.Option(help=_preset_help() + f" [default: {DEFAULT_PRESET}]")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config: settings, cuts and per-shot overrides (see configs/).")] = None,
    cuts: Annotated[str | None, typer.Option(help="Shots: auto (detect cuts), none, or a list like 11.8,15.7s,360f [default: auto].")] = None,
    size: Annotated[int | None, typer.Option(help=f"Longest side of the stylised frames, 0 for the source's [default: {_DEFAULTS.size}].")] = None,
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
    temporal_weight: Annotated[float | None, typer.Option(help=f"Weight of the temporal loss [default: {_DEFAULTS.temporal.temporal_weight:g}].")] = None,
    content_weight: Annotated[float | None, typer.Option(help=f"Weight of the content loss [default: {_DEFAULTS.style.content_weight:g}].")] = None,
    style_weight: Annotated[float | None, typer.Option(help=f"Weight of the style loss [default: {_DEFAULTS.style.style_weight:g}].")] = None,
    tv_weight: Annotated[float | None, typer.Option(help=f"Weight of the smoothness loss [default: {_DEFAULTS.style.tv_weight:g}].")] = None,
    style_blend: Annotated[str | None, typer.Option(help="Comma-separated weights of the style images.")] = None,
    style_scale: Annotated[float | None, typer.Option(help="Style image size relative to the frame.")] = None,
    preserve_colors: Annotated[str | None, typer.Option(help="none, luminance or match.")] = None,
    blend: Annotated[float | None, typer.Option(help="Multipass blend b of the warped neighbour.")] = None,
    fill: Annotated[str | None, typer.Option(help="Start of disoccluded pixels: content or previous.")] = None,
    warm_start: Annotated[bool | None, typer.Option(help="Start each frame from the warped previous one.")] = None,
    photometric_check: Annotated[
        bool | None, typer.Option(help=f"Repaint pixels whose input changed along the flow since they were painted (fades, lighting, new objects); off: Ruder's weights [default: {'on' if _DEFAULTS.temporal.photometric_check else 'off'}].")
    ] = None,
    photometric_rel: Annotated[float | None, typer.Option(help=f"Relative part of that threshold [default: {_DEFAULTS.temporal.photometric_rel:g}].")] = None,
    photometric_abs: Annotated[float | None, typer.Option(help=f"Absolute part of that threshold, 0-255 [default: {_DEFAULTS.temporal.photometric_abs:g}].")] = None,
    follow_input: Annotated[
        bool | None, typer.Option(help=f"Temporal loss on changes: the painting also moves with the input's smooth change along the flow [default: {'on' if _DEFAULTS.temporal.follow_input else 'off'}].")
    ] = None,
    adaptive_iterations: Annotated[
        bool | None, typer.Option(help=f"More iterations for frames that are largely new [default: {'on' if _DEFAULTS.temporal.adaptive_iterations else 'off'}].")
    ] = None,
    optimizer: Annotated[str | None, typer.Option(help="lbfgs or adam.")] = None,
    scales: Annotated[int | None, typer.Option(help="Coarse-to-fine scales for a shot's first frame.")] = None,
    flow_backend: Annotated[str | None, typer.Option(help="dis, farneback or raft.")] = None,
    flow_preset: Annotated[str | None, typer.Option(help="DIS preset: ultrafast, fast, medium.")] = None,
    flow_workers: Annotated[int | None, typer.Option(help="Flow worker processes.")] = None,
    raft_weights: Annotated[Path | None, typer.Option(help="Local RAFT weights (flow backend raft).")] = None,
    motion_boundaries: Annotated[
        bool | None, typer.Option(help=f"Also free motion boundaries from the temporal loss (Ruder) [default: {'on' if _DEFAULTS.flow.motion_boundaries else 'off'}].")
    ] = None,
    codec: Annotated[str | None, typer.Option(help="h264 (default), h265, vp9, prores, ffv1.")] = None,
    crf: Annotated[int | None, typer.Option(help="Quality (lower is better).")] = None,
    encoder_preset: Annotated[str | None, typer.Option(help="Encoder speed preset (e.g. medium).")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "auto",
    precision: Annotated[
        str | None, typer.Option(help=f"Network arithmetic: auto (bf16 where the hardware runs it natively), fp32 or bf16 [default: {_DEFAULTS.style.precision}].")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    threads: Annotated[
        int | None, typer.Option(help="Compute threads for the render and its flow workers together [default: all cores].")
    ] = default(ComputeSettings, "threads"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    json_progress: Annotated[bool, typer.Option("--json-progress", help="Progress as JSON lines on stdout.")] = False,
) -> None:
    """Paint INPUT in the style of STYLES, frame by frame with temporal consistency, into --output."""
    if output is None:
        raise VidstyleError("--output: missing (vidstyle render INPUT STYLE... -o OUTPUT)")
    if preset is not None and preset not in PRESETS:
        raise VidstyleError(f"--preset: unknown preset {preset!r} (expected {', '.join(PRESETS)})")
    options = _nested(
        top={"preset": preset, "size": size, "styles": [str(p) for p in styles] if styles else None},
        style={"content_weight": content_weight, "style_weight": style_weight, "tv_weight": tv_weight,
               "style_blend": parse_floats(style_blend, "--style-blend"), "style_scale": style_scale,
               "preserve_colors": preserve_colors, "precision": precision},
        optim={"iterations": iterations, "optimizer": optimizer, "scales": scales, "seed": seed},
        temporal={"frame_iterations": frame_iterations, "passes": passes, "pass_iterations": pass_iterations,
                  "temporal_from_pass": temporal_from_pass, "long_term": _ints(long_term, "--long-term"),
                  "temporal_weight": temporal_weight, "blend": blend, "fill": fill, "warm_start": warm_start,
                  "photometric_check": photometric_check, "photometric_rel": photometric_rel,
                  "photometric_abs": photometric_abs, "follow_input": follow_input,
                  "adaptive_iterations": adaptive_iterations},
        flow={"backend": flow_backend, "preset": flow_preset, "workers": flow_workers,
              "raft_weights": str(raft_weights) if raft_weights else None, "motion_boundaries": motion_boundaries},
        encode={"codec": codec, "crf": crf, "preset": encoder_preset},
        shots={"cuts": cuts},
    )  # fmt: skip
    try:
        cfg = load_config(config).with_overrides(options) if config else config_from_options(options)
    except VidstyleError as e:
        raise VidstyleError(_option_names(str(e))) from None
    if not cfg.settings.styles:
        raise VidstyleError("no style image given (vidstyle render INPUT STYLE... -o OUTPUT, or styles in --config)")
    compute = build_settings(ComputeSettings, {"threads": threads})
    console = stderr_console(quiet or json_progress)
    reporter = JsonLinesReporter(sys.stdout) if json_progress else Silent() if quiet else RichReporter(console)

    def split(path: Path, frames: list) -> list:  # noqa: ANN001 - the renderer's frame records
        shots = cfg.shots.split(path, frames, start=start, end=end, stride=stride)
        for line in cfg.unmatched_blocks(shots):
            console.print(f"warning: {cfg.source}: {line}")
        return shots

    try:
        with reporter:
            result = render(
                input, output, cfg, job=job, keep_job=keep_job, start=start, end=end, stride=stride, cuts=split,
                encode=cfg.encode, device=device, redo_changed=redo_changed, progress=reporter, threads=compute.threads,
                protect=[Source("config", config)] if config else (),
            )  # fmt: skip
    except KeyboardInterrupt:
        kept = job or default_job_dir(output)
        raise Interrupted(f"interrupted; finished frames are kept in {kept}; run the same command to resume") from None
    if not json_progress:
        console.print(
            f"wrote {result.output}: {result.frames} frames, {result.shots} shot(s), "
            f"{result.computed} computed, {result.reused} reused, {result.seconds:.0f} s"
            + (f"; job kept in {result.job}" if result.job else "")
        )


_OPTION_OF = {("flow", "preset"): "--flow-preset", ("flow", "backend"): "--flow-backend",
              ("flow", "workers"): "--flow-workers", ("encode", "preset"): "--encoder-preset", ("shots", "cuts"): "--cuts"}


def _option_names(message: str) -> str:
    """``command line: style.style_weight: …`` → ``--style-weight: …`` (the option the user typed)."""
    prefix = "command line: "
    if not message.startswith(prefix):
        return message
    key, sep, rest = message[len(prefix):].partition(": ")
    parts = tuple(key.split("."))
    if not sep or not parts[-1]:
        return message
    if parts[-1].startswith("styles") and ": " in rest:  # "style image not found: PATH" → "PATH: …"
        what, _, path = rest.rpartition(": ")
        return f"{path}: {what}"
    option = _OPTION_OF.get(parts[-2:], "--" + parts[-1].replace("_", "-"))
    return f"{option}: {rest}"
