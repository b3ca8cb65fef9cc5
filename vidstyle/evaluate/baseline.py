"""The per-frame baseline of a render: every frame optimised alone, at the recorded settings.

It is what ``vidstyle eval`` compares a render with (flicker and perceptual distance), as Lai
et al. (ECCV 2018) do.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from vidstyle.errors import file_error
from vidstyle.files.apart import Target, check_apart, output_target, sequence_source
from vidstyle.job.spec import read_record, recorded_settings
from vidstyle.render import Progress, default_job_dir, render
from vidstyle.settings import RenderSettings
from vidstyle.shots import Shot, ShotsSettings


def baseline_path(output: str | os.PathLike[str]) -> Path:
    """Where the per-frame baseline of ``output`` is written: ``NAME.baseline.EXT`` beside it."""
    output = Path(output)
    return output.with_name(f"{output.stem}.baseline{output.suffix}")


def render_baseline(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    path: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    progress: Progress | None = None,
) -> Path:
    """Re-render ``input`` with every frame optimised alone, at the settings recorded in ``output``.

    This is the per-frame baseline of ``vidstyle eval --make-baseline``. Its job is kept
    beside it, so a second call only re-encodes.
    """
    rec = read_record(output)
    if rec is None:
        raise file_error(
            output, "has no vidstyle render record (was it made by vidstyle render?); pass --baseline FILE"
        )
    try:
        settings = [recorded_settings(s).independent() for s in rec["shots"]]
        spans = [(int(a), int(b)) for a, b in rec["spans"]]
        decode = rec["decode"]
    except (KeyError, TypeError, ValueError) as e:
        raise file_error(output, f"unreadable vidstyle render record ({e})") from None
    target = Path(path) if path is not None else baseline_path(output)
    check_apart([output_target(target, "baseline"), Target("baseline job", default_job_dir(target), "folder")],
                [sequence_source(input), sequence_source(output, "stylised video")])  # fmt: skip
    plan = _RecordedPlan(tuple(spans), tuple(settings))
    render(
        input, target, plan, job=default_job_dir(target), start=decode.get("start"), end=decode.get("end"),
        stride=int(decode.get("stride", 1)), cuts=[a for a, _ in spans], device=device, progress=progress,
    )  # fmt: skip
    return target


@dataclasses.dataclass(frozen=True)
class _RecordedPlan:
    spans: tuple[tuple[int, int], ...]
    per_shot: tuple[RenderSettings, ...]
    shots: ShotsSettings | None = None  # the recorded spans are passed as cuts

    @property
    def settings(self) -> RenderSettings:
        return self.per_shot[0]

    def settings_for(self, shot: Shot) -> RenderSettings:
        for (start, end), st in zip(self.spans, self.per_shot):
            if start <= shot.start < end:
                return st
        return self.per_shot[0]

    def warnings_for(self, shots: Sequence[Shot]) -> list[str]:
        return []
