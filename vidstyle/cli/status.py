"""``vidstyle status JOB``: a render's progress per shot and pass, time spent, time left."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from vidstyle.cli.app import app
from vidstyle.cli.progress import clock
from vidstyle.job.status import job_status


@app.command("status")
def status_command(
    job: Annotated[
        Path, typer.Argument(help="Job directory (render --job, or OUTPUT.vidstyle-job).", show_default=False)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show how far the render in JOB has got, who renders which unit, and how long the rest should take."""
    st = job_status(job)
    if as_json:
        print(json.dumps(st.to_dict(), indent=1))
        return
    console = Console(highlight=False)
    table = Table(title=f"job {st.job}", title_justify="left")
    for col in ("shot", "frames", "pass", "done", "time spent", "s/frame"):
        table.add_column(col, justify="right" if col != "shot" else "left")
    spans = {s: (a, b) for s, a, b in st.shots}
    for p in st.passes:
        a, b = spans[p.shot]
        per = f"{p.seconds / p.done:.1f}" if p.done else "–"
        mark = "✓" if p.complete else f"{100 * p.done / max(p.frames, 1):.0f}%"
        table.add_row(str(p.shot), f"{a}–{b - 1}", str(p.pass_), f"{p.done}/{p.frames} {mark}", clock(p.seconds), per)
    console.print(table)
    if len(st.units) > len(st.shots) or any(u.state in ("running", "stale") for u in st.units):
        units = Table(title="units of work", title_justify="left")
        for col in ("unit", "frames", "done", "state", "holder"):
            units.add_column(col, justify="right" if col == "done" else "left", no_wrap=col == "unit")
        for u in st.units:
            lead = f" (from {u.first})" if u.first < u.start else ""
            beat = "" if u.heartbeat_age is None else f", beat {u.heartbeat_age:.0f}s ago"
            units.add_row(
                u.unit, f"{u.start}–{u.end - 1}{lead}", f"{u.done}/{u.tasks}", u.state + beat, u.holder or "–"
            )
        console.print(units)
    state = "finished" if st.finished else f"running ({st.running})" if st.running else "stopped"
    left = "–" if st.eta is None else clock(st.eta)
    frames = "decoding" if st.frames is None else f"{st.frames} frames"
    console.print(f"{frames}, {len(st.shots)} shot(s): {st.done}/{st.total} frame-passes done, "
                  f"{clock(st.seconds)} spent, about {left} left; {state}")  # fmt: skip
