"""``vidstyle eval INPUT OUTPUT``: temporal consistency (warping error) of a stylised video.

The flow is computed once on INPUT (at OUTPUT's size) and applied to OUTPUT, to INPUT
itself (the floor: what real motion, lighting and flow errors alone give) and, with
``--baseline FILE`` or ``--make-baseline``, to a per-frame independent stylisation (the
flicker that the temporal terms should remove). See :mod:`vidstyle.evaluate.warping` for the exact
definition.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, cast

import numpy as np
import typer
from PIL import Image
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from vidstyle.cli.app import app
from vidstyle.cli.common import default, is_interactive, stderr_console
from vidstyle.cli.flow import FLOW_FLAGS
from vidstyle.cli.options import names_replaced, settings_as_flags
from vidstyle.cli.progress import RichReporter, Silent
from vidstyle.compute.device import resolve_device
from vidstyle.errors import VidstyleError, file_error
from vidstyle.evaluate.baseline import render_baseline
from vidstyle.evaluate.chart import line_chart
from vidstyle.evaluate.metrics import evaluate_files
from vidstyle.evaluate.report import REFERENCE, WarpingReport
from vidstyle.evaluate.warping import METRIC_NAME
from vidstyle.files.apart import (
    Source,
    Target,
    check_apart,
    names_under,
    sequence_source,
)
from vidstyle.files.atomic import atomic_path, check_writable
from vidstyle.files.identity import source_id
from vidstyle.flow.backends import backend_from_settings
from vidstyle.settings import ComputeSettings, FlowSettings
from vidstyle.video import is_sequence_input

ROW_ORDER = ("output", "baseline", REFERENCE)


def make_baseline(input_path: Path, output_path: Path, *, device: str | None = None, quiet: bool = False) -> Path:
    """Render (or find) the per-frame independent stylisation of INPUT matching OUTPUT on
    ``device``, its progress shown on stderr as ``vidstyle render`` shows it (unless ``quiet``)."""
    console = stderr_console(quiet)
    with Silent() if console.quiet else RichReporter(console) as reporter:
        return render_baseline(input_path, output_path, device=device, progress=reporter)


def default_plot_path(output: Path) -> Path:
    """``clip.mp4`` → ``clip.eval.png`` beside it; for an image sequence, beside its folder."""
    if is_sequence_input(output):
        folder = output if output.is_dir() else output.parent
        return folder.parent / f"{folder.name or 'frames'}.eval.png"
    return output.with_name(f"{output.stem}.eval.png")


def plot_image(report: WarpingReport, title: str) -> Image.Image:
    """Stability and fidelity per frame, one panel each, stacked: the warping error (dashed:
    means), and where measured the content distance to the input and tOF, so that a drift or
    a frozen stretch shows up beside the flicker it would hide."""
    series = {n: report.series[n].errors.tolist() for n in ROW_ORDER if n in report.series}
    means = {n: report.series[n].mean for n in series}
    panels = [
        line_chart(
            report.index,
            series,
            title=title,
            xlabel="input frame t (pair t -> next frame)",
            ylabel="warping error (RGB MSE, values 0-1)",
            means=means,
        )
    ]
    content = {n: report.series[n].content for n in ROW_ORDER if n in report.series}
    content_lists = {n: c.tolist() for n, c in content.items() if c is not None}
    if content_lists:
        frames_x = list(report.index) + list(report.next_index[-1:])
        panels.append(
            line_chart(
                frames_x,
                content_lists,
                title="Fidelity: content distance to the input (lower "
                "follows the video more closely; a rising curve is drift)",
                xlabel="input frame t",
                ylabel="relu4_2 content distance",
            )
        )
    tofs = {n: report.series[n].tof for n in ROW_ORDER if n in report.series}
    tof_lists = {n: t.tolist() for n, t in tofs.items() if t is not None}
    if tof_lists and report.flow_magnitude is not None:
        tof_lists["frozen video"] = report.flow_magnitude.tolist()
        panels.append(
            line_chart(
                report.index,
                tof_lists,
                title="Fidelity: tOF, |flow(video) - flow(input)| (a frozen video scores the input's own motion)",
                xlabel="input frame t (pair t -> next frame)",
                ylabel="tOF (pixels)",
            )
        )
    width = max(p.width for p in panels)
    out = Image.new("RGB", (width, sum(p.height for p in panels)), "white")
    y = 0
    for p in panels:
        out.paste(p, (0, y))
        y += p.height
    return out


def write_plot(report: WarpingReport, path: Path, title: str) -> None:
    """:func:`plot_image` as a PNG, written atomically."""
    image = plot_image(report, title)
    try:
        with atomic_path(path) as tmp:
            image.save(tmp, format="PNG")
    except OSError as e:
        raise file_error(path, f"cannot write the plot ({e.strerror or e})") from None


def _fmt(v: float) -> str:
    return f"{v:.5f}" if math.isfinite(v) else "n/a"


def _fmt3(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else "n/a"


def print_table(report: WarpingReport, console: Console) -> None:
    """The results table and one line on how they were measured."""
    table = Table(title=f"{METRIC_NAME}, lower is steadier", title_justify="left")
    for col, justify in (
        ("video", "left"),
        ("file", "left"),
        ("mean", "right"),
        ("median", "right"),
        ("max", "right"),
        ("× input", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name in ROW_ORDER:
        if name not in report.series:
            continue
        s = report.series[name]
        rel = report.relative(name)
        table.add_row(
            name,
            s.source or "",
            _fmt(s.mean),
            _fmt(s.median),
            _fmt(s.max),
            f"{rel:.2f}" if math.isfinite(rel) else "n/a",
        )
    console.print(table)
    if report.flow_magnitude is not None:
        fid = Table(
            title="fidelity: does it follow the input? (lower is closer)",
            title_justify="left",
            caption="tOF: |flow(video) - flow(input)| in px (a frozen video scores the input's own motion); "
            "content: relu4_2 content distance to the input, mean and on the first and last frame; "
            "perceptual: unweighted LPIPS on VGG-19 to the baseline",
            caption_justify="left",
        )
        for col in ("video", "tOF", "content", "first", "last", "perceptual"):
            fid.add_column(col, justify="left" if col == "video" else "right")
        for name in ROW_ORDER:
            row = report.series.get(name)
            if row is None or row.content is None:
                continue
            tof = row.tof[np.isfinite(row.tof)].mean() if row.tof is not None and row.tof.size else math.nan
            per = row.perceptual.mean() if row.perceptual is not None and row.perceptual.size else math.nan
            c = row.content
            fid.add_row(name, _fmt3(tof), _fmt3(c.mean()), _fmt3(c[0]), _fmt3(c[-1]), _fmt3(per))
        fid.add_row("frozen video", _fmt3(float(report.flow_magnitude.mean())), "", "", "", "")
        console.print(fid)
    flow = report.flow
    how = ", ".join(f"{k} {v}" for k, v in flow.items() if k != "name" and v is not None)
    console.print(
        f"{report.frames} frames ({report.pairs} pairs) at {report.size[0]}x{report.size[1]}; "
        f"flow {flow.get('name')} ({how}) on the input; non-occluded pixels "
        f"{100 * float(report.valid_fraction.mean()):.1f}% on average"
        + (f"; {report.skipped} pairs without any valid pixel left out" if report.skipped else "")
    )


@app.command("eval")
@settings_as_flags(names_replaced(FLOW_FLAGS))
def eval_command(
    input: Annotated[Path, typer.Argument(help="The source video (flow is computed on it).", show_default=False)],
    output: Annotated[Path, typer.Argument(help="The stylised video to judge.", show_default=False)],
    baseline: Annotated[
        Path | None, typer.Option(help="An already rendered per-frame independent stylisation to compare with.")
    ] = None,
    make_baseline_: Annotated[
        bool,
        typer.Option("--make-baseline", help="Render the per-frame baseline with OUTPUT's settings first (slow)."),
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout (nothing else).")] = False,
    plot: Annotated[Path | None, typer.Option(help="PNG of the per-frame errors [default: OUTPUT.eval.png].")] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Do not write the plot.")] = False,
    start: Annotated[
        str | None, typer.Option(help="First INPUT frame OUTPUT was rendered from: seconds (2.5, 1:02.5) or 120f.")
    ] = None,
    end: Annotated[str | None, typer.Option(help="End of that INPUT range (exclusive), same forms.")] = None,
    stride: Annotated[int, typer.Option(help="INPUT stride OUTPUT was rendered with.")] = 1,
    frames: Annotated[int | None, typer.Option(help="Evaluate only the first N aligned frames.")] = None,
    backend: Annotated[str, typer.Option(help="Flow backend: dis, farneback or raft.")] = default(
        FlowSettings, "backend"
    ),
    preset: Annotated[str, typer.Option(help="DIS preset: ultrafast, fast or medium.")] = default(
        FlowSettings, "preset"
    ),
    refine: Annotated[
        int | None, typer.Option(help="DIS variational-refinement iterations [default: the preset's].")
    ] = None,
    scale: Annotated[float, typer.Option(help="Estimate flow at this fraction of the frame size, 0-1.")] = default(
        FlowSettings, "scale"
    ),
    raft_weights: Annotated[Path | None, typer.Option(help="Local RAFT state_dict file for --backend raft.")] = None,
    device: Annotated[
        str, typer.Option(help="cpu, cuda or auto: RAFT and the VGG-19 of the fidelity measures.")
    ] = default(ComputeSettings, "device"),
    fidelity: Annotated[
        bool,
        typer.Option(
            help="Also measure fidelity: tOF, content distance to the input, perceptual distance to the baseline."
        ),
    ] = True,
    cache: Annotated[
        Path | None, typer.Option(help="Flow cache folder: a repeated eval of the same INPUT reuses its flow.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Measure how much OUTPUT flickers: the warping error (Lai et al. 2018) of OUTPUT, of
    INPUT itself and optionally of a per-frame baseline, with flow computed on INPUT.

    Every video is evaluated at OUTPUT's size. Frames are aligned by order, so OUTPUT must
    have as many frames as the INPUT range selected by --start/--end/--stride. Prints a
    table (or --json) and writes a PNG plot of the per-frame errors.
    """
    if baseline is not None and make_baseline_:
        raise VidstyleError("--baseline and --make-baseline: give one or the other")
    if stride < 1:
        raise VidstyleError("--stride: must be 1 or more")
    if frames is not None and frames < 2:
        raise VidstyleError("--frames: need at least 2 frames to measure temporal consistency")
    for path in (input, output, baseline):
        if path is not None and not path.exists():
            raise file_error(path, "no such file")
    if cache is not None and cache.exists() and not cache.is_dir():
        raise file_error(cache, "exists and is not a directory")
    plot_path = None if no_plot else (plot if plot is not None else default_plot_path(output))
    if plot_path is not None:
        if plot_path.suffix.lower() != ".png":
            raise file_error(plot_path, "the plot is a PNG; give a name ending in .png")
        check_writable(plot_path)

    check_apart(
        [Target("plot", plot_path) if plot_path is not None else None,
         Target("flow cache", cache, "shared", names_under(re.compile(r".+-[0-9a-f]{16}"))) if cache else None],
        [sequence_source(input), sequence_source(output, "stylised video"),
         sequence_source(baseline, "baseline") if baseline else None,
         Source("RAFT weights", raft_weights) if raft_weights else None],
    )  # fmt: skip
    # Unvalidated: the backend checks the values, with the messages this command has always given
    # (hence the casts: they are any strings the user typed, not yet the model's Literals).
    settings = FlowSettings.model_construct(
        backend=cast(Any, backend), preset=cast(Any, preset), scale=scale, raft_weights=raft_weights
    )
    flow_backend = backend_from_settings(settings, refine=refine, device=device)

    show_progress = not quiet and is_interactive()
    if make_baseline_:
        baseline = make_baseline(input, output, device=device, quiet=not show_progress)

    errors = stderr_console(not show_progress)
    progress = Progress(
        TextColumn("eval"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=errors,
        disable=errors.quiet,
    )
    with progress:
        task = progress.add_task("eval", total=None)
        report = evaluate_files(
            input,
            output,
            baseline,
            start=start,
            end=end,
            stride=stride,
            frames=frames,
            backend=flow_backend,
            cache_dir=cache,
            source=source_id(input),
            progress=lambda n, total: progress.update(task, completed=n, total=total),
            fidelity=fidelity,
            device=str(resolve_device(device)),
        )

    if plot_path is not None:
        write_plot(report, plot_path, f"Warping error per frame pair: {output.name}")
    warn = stderr_console(False)
    for note in report.notes:
        warn.print(f"note: {note}", markup=False, soft_wrap=True)
    if json_:
        data = report.to_dict()
        data["plot"] = None if plot_path is None else str(plot_path)
        typer.echo(json.dumps(data, indent=2))
        return
    console = Console(highlight=False)
    print_table(report, console)
    if plot_path is not None:
        console.print(f"plot: {plot_path}", markup=False)
