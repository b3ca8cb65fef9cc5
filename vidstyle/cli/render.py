"""``vidstyle render``: stylise a video with temporal consistency, resumably.

The options that set a setting are generated from the settings models
(:mod:`vidstyle.cli.options`); this module declares only what is not a setting (the files,
the preset, the config, the job) and hands everything to :func:`vidstyle.render.render`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vidstyle.cli.app import app
from vidstyle.cli.common import stderr_console
from vidstyle.cli.options import RENDER_SETTINGS, flags_in, validated, with_setting_options
from vidstyle.cli.progress import JsonLinesReporter, RichReporter, Silent
from vidstyle.config import COMMAND_LINE, config_from_options, load_config
from vidstyle.errors import Interrupted, VidstyleError
from vidstyle.files.apart import Source
from vidstyle.render import default_job_dir, render
from vidstyle.settings import DEFAULT_PRESET, PRESETS, ComputeSettings, EncodeSettings, FrameSelection, preset_settings
from vidstyle.shots import ShotsSettings


def _preset_help() -> str:
    """What each preset costs, from its settings (so the help never goes stale)."""
    parts = []
    for name in PRESETS:
        t = preset_settings(name).temporal
        loss = (
            "short-term loss"
            if t.long_term == (1,)
            else f"long-term loss over {','.join(map(str, t.long_term))} frames back"
        )
        if t.passes == 1:
            parts.append(f"{name}: 1 pass, {t.frame_iterations} iterations a frame, {loss}")
        else:
            total = t.frame_iterations + (t.passes - 1) * t.pass_iterations
            parts.append(f"{name}: {t.passes} passes (Ruder's multipass), about {total} iterations a frame, {loss}")
    return "; ".join(parts) + "."


def shown_defaults() -> dict[str, Any]:
    """The values ``render`` uses when an option is not given: the default preset's settings."""
    return {"": preset_settings(DEFAULT_PRESET), "encode": EncodeSettings(), "shots": ShotsSettings(),
            "select": FrameSelection(), "compute": ComputeSettings()}  # fmt: skip


@app.command("render")
@with_setting_options(RENDER_SETTINGS, shown_defaults)
def render_command(
    input: Annotated[Path, typer.Argument(help="Video file, image folder or printf pattern.", show_default=False)],
    styles: Annotated[list[Path] | None, typer.Argument(help="Style images (paintings).", show_default=False)] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output video (or image folder).", show_default=False)
    ] = None,
    preset: Annotated[str | None, typer.Option(help=_preset_help() + f" [default: {DEFAULT_PRESET}]")] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML config: settings, cuts and per-shot overrides (see configs/).")
    ] = None,
    job: Annotated[
        Path | None, typer.Option(help="Job directory: keeps all work; the same command resumes it.")
    ] = None,
    keep_job: Annotated[
        bool, typer.Option(help="Keep the default job directory (OUTPUT.vidstyle-job) after success.")
    ] = False,
    redo_changed: Annotated[bool, typer.Option(help="Redo the shots whose settings differ from the job's.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    json_progress: Annotated[bool, typer.Option("--json-progress", help="Progress as JSON lines on stdout.")] = False,
    settings: dict[str, Any] | None = None,
) -> None:
    """Paint INPUT in the style of STYLES, frame by frame with temporal consistency, into --output."""
    given = dict(settings or {})
    if output is None:
        raise VidstyleError("--output: missing (vidstyle render INPUT STYLE... -o OUTPUT)")
    if preset is not None and preset not in PRESETS:
        raise VidstyleError(f"--preset: unknown preset {preset!r} (expected {', '.join(PRESETS)})")
    select = validated(FrameSelection, given.pop("select", {}), "select")
    compute = validated(ComputeSettings, given.pop("compute", {}), "compute")
    options = {**given, "preset": preset, "styles": [str(p) for p in styles] if styles else None}
    try:
        cfg = load_config(config).with_overrides(options) if config else config_from_options(options)
    except VidstyleError as e:
        raise VidstyleError(_command_line(str(e))) from None
    if not cfg.settings.styles:
        raise VidstyleError("no style image given (vidstyle render INPUT STYLE... -o OUTPUT, or styles in --config)")
    console = stderr_console(quiet or json_progress)
    reporter = JsonLinesReporter(sys.stdout) if json_progress else Silent() if quiet else RichReporter(console)
    try:
        with reporter:
            result = render(
                input, output, cfg, cuts=cfg.shots, job=job, keep_job=keep_job, start=select.start, end=select.end,
                stride=select.stride, encode=cfg.encode, device=compute.device, redo_changed=redo_changed,
                progress=reporter, threads=compute.threads, protect=[Source("config", config)] if config else (),
                workers=compute.workers, ray=compute.ray, ray_gpus=compute.ray_gpus,
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


def _command_line(message: str) -> str:
    """A config error about a command-line value, as the option the user typed:
    ``command line: style.style_weight: …`` → ``--style-weight: …``; a missing style image
    ``command line: styles[0]: style image not found: PATH`` → ``PATH: style image not found``."""
    prefix = f"{COMMAND_LINE}: "
    if not message.startswith(prefix):
        return message
    rest = message[len(prefix) :]
    if rest.startswith("styles") and ": " in rest:
        what, _, path = rest.partition(": ")[2].rpartition(": ")
        return f"{path}: {what}"
    return flags_in(rest)
