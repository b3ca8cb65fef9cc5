"""Showing a render's progress: live bars (rich) for people, JSON lines for scripts."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, is_dataclass
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn

from vidstyle.cli.common import LazyProgress
from vidstyle.job.events import Event, FrameFinished, Note, Planned, Stage
from vidstyle.style.optimize import Iterate


class RateColumn(TextColumn):
    """Frames per minute and time left, from frames actually computed (reused ones are free)."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task: Any) -> Any:
        from rich.text import Text

        computed, seconds = task.fields.get("computed", 0), task.fields.get("busy", 0.0)
        if not computed or seconds <= 0:
            return Text("–/min  ETA –", style="progress.remaining")
        per = seconds / computed
        left = (task.total or 0) - task.completed
        eta = clock(left * per)
        return Text(f"{60.0 / per:.1f}/min  ETA {eta}", style="progress.remaining")


def clock(seconds: float) -> str:
    """Seconds as m:ss or h:mm:ss."""
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class RichReporter:
    """One bar for the whole render and one per shot, plus a line for the frame in flight."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = LazyProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            RateColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
        )
        self.overall: TaskID | None = None
        self.shots: dict[int, TaskID] = {}
        self.stage: TaskID | None = None
        self.stats: dict[TaskID, tuple[int, float]] = {}  # frames computed and seconds spent per bar
        self._last_iter = 0.0

    def __enter__(self) -> RichReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: Event) -> None:
        p = self.progress
        p.show()
        if isinstance(event, Stage):
            if self.stage is None:
                self.stage = p.add_task(event.name, total=event.total, info="", computed=0, busy=0.0)
            p.update(self.stage, description=event.name, completed=event.done, total=event.total)
        elif isinstance(event, Planned):
            total = sum(n for _, n, _ in event.shots)
            done = sum(d for _, _, d in event.shots)
            self.overall = p.add_task("all shots", total=total, completed=done, info="", computed=0, busy=0.0)
            for shot, n, d in event.shots:
                self.shots[shot.index] = p.add_task(
                    f"shot {shot.index} ({shot.frames} fr)", total=n, completed=d, info="", computed=0, busy=0.0
                )
        elif isinstance(event, FrameFinished):
            if event.skipped:
                return  # already counted as done by the plan
            for task_id in (self.overall, self.shots.get(event.shot)):
                if task_id is None:
                    continue
                computed, busy = self.stats.get(task_id, (0, 0.0))
                self.stats[task_id] = (computed + 1, busy + event.seconds)
                p.update(task_id, advance=1, info="", computed=computed + 1, busy=busy + event.seconds)
        elif isinstance(event, Iterate):
            now = time.monotonic()
            if now - self._last_iter < 0.5 or self.overall is None:
                return
            self._last_iter = now
            c = event.context
            loss = float(event.loss.sum())
            info = f"frame {c.get('pos')} pass {c.get('pass')} it {event.iteration}/{event.iterations} loss {loss:.3g}"
            p.update(self.overall, info=info)
        elif isinstance(event, Note):
            self.console.print(f"note: {event.text}")


class JsonLinesReporter:
    """One JSON object per line on ``stream``: plan, stages, finished frames, notes (no iterations)."""

    def __init__(self, stream: TextIO = sys.stdout, *, iterations: bool = False) -> None:
        self.stream = stream
        self.iterations = iterations

    def __enter__(self) -> JsonLinesReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.flush()

    def emit(self, row: dict[str, Any]) -> None:
        self.stream.write(json.dumps(row, default=str, separators=(",", ":")) + "\n")
        self.stream.flush()

    def __call__(self, event: Event) -> None:
        if isinstance(event, Iterate):
            if self.iterations:
                self.emit({"event": "iteration", **event.context, "iteration": event.iteration, **event.losses()})
            return
        if isinstance(event, Planned):
            shots = [
                {"shot": s.index, "start": s.start, "end": s.end, "tasks": n, "done": d} for s, n, d in event.shots
            ]
            self.emit({"event": "plan", "job": str(event.job), "frames": event.frames, "shots": shots})
        elif isinstance(event, FrameFinished):
            row = asdict(event)
            row["pass"] = row.pop("pass_")
            self.emit({"event": "frame", **row})
        elif is_dataclass(event):
            self.emit({"event": type(event).__name__.lower(), **asdict(event)})


class Silent:
    """No progress output."""

    def __enter__(self) -> Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def __call__(self, event: Event) -> None:
        pass
