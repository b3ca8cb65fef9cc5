"""Helpers shared by the commands: option parsing, settings validation, progress display."""

from __future__ import annotations

import sys
import time
from typing import Any, SupportsInt, cast

from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from vidstyle.style.optimize import Iterate


def default(model: type[BaseModel], name: str) -> Any:
    """The default of a settings field, so a command shows and uses the one definition."""
    return model.model_fields[name].default


def stderr_console(quiet: bool = False) -> Console:
    return Console(stderr=True, quiet=quiet, highlight=False)


class LazyProgress(Progress):
    """A rich progress display that appears with its first update, so an error raised before
    any progress is shown stays a single line (stopping a display prints a newline)."""

    _shown = False

    def show(self) -> None:
        if not self._shown:
            self.start()
            self._shown = True

    def stop(self) -> None:
        if self._shown:
            super().stop()
            self._shown = False


class IterationProgress:
    """A live bar for one optimisation (all scales), fed by the optimiser's callback."""

    def __init__(self, total: int, console: Console, *, refresh: float = 0.25) -> None:
        self.console = console
        self.refresh = refresh
        self._last = 0.0
        self._done_before = 0  # budget of the scales already finished
        self._budget = 0  # budget of the current scale
        self._scale: object = None
        self.progress = LazyProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
            console=console,
            transient=False,
            disable=console.quiet,
        )
        self.task = self.progress.add_task("optimising", total=total, losses="")

    def __enter__(self) -> IterationProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, it: Iterate) -> None:
        self.progress.show()
        scale = it.context.get("scale")
        if scale != self._scale:
            self._done_before += self._budget  # a scale that stopped early counts as done
            self._scale, self._budget = scale, it.iterations
        now = time.monotonic()
        completed = self._done_before + it.iteration
        if now - self._last < self.refresh and it.iteration != it.iterations:
            self.progress.update(self.task, completed=completed)
            return
        self._last = now
        losses = it.losses()
        size = cast("tuple[int, int] | None", it.context.get("size"))  # optimize_image sets it with "scale"
        desc = (
            f"scale {int(cast(SupportsInt, scale)) + 1}/{it.context.get('scales')} {size[1]}x{size[0]}"
            if size
            else "optimising"
        )
        text = " ".join(f"{k} {v:.3g}" for k, v in losses.items())
        self.progress.update(self.task, completed=completed, description=desc, losses=text)


def is_interactive() -> bool:
    return sys.stderr.isatty()
