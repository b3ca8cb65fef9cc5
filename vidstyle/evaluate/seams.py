"""Do chunk seams show? Warping error at the frames around each seam of a chunked shot, against
the median of the shot's other frames (the bound of issue 13: at most 1.5 times)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from vidstyle.evaluate.metrics import EvalFrame, warping_errors
from vidstyle.job.media import final_image
from vidstyle.temporal.units import fades
from vidstyle.temporal.work import UnitWork


@dataclasses.dataclass
class SeamReport:
    """Per-pair warping errors of a job's output (pair p: frames p → p+1), which pairs lie
    around a seam (from the pair before a later chunk's lead-in to the pair into the first
    frame it owns), and which are the other pairs within shots (pairs across a cut are in neither)."""

    errors: np.ndarray
    seam_pairs: list[int]
    other_pairs: list[int]

    @property
    def median_other(self) -> float:
        return float(np.nanmedian(self.errors[self.other_pairs])) if self.other_pairs else float("nan")

    @property
    def seam_max(self) -> float:
        return float(np.nanmax(self.errors[self.seam_pairs])) if self.seam_pairs else float("nan")

    @property
    def seam_mean(self) -> float:
        return float(np.nanmean(self.errors[self.seam_pairs])) if self.seam_pairs else float("nan")

    @property
    def ratio(self) -> float:
        """The worst pair around a seam, in medians of the other pairs."""
        return self.seam_max / self.median_other

    @property
    def mean_ratio(self) -> float:
        """The mean over the pairs around the seams, in medians of the other pairs."""
        return self.seam_mean / self.median_other

    @property
    def median_ratio(self) -> float:
        """The median over the pairs around the seams, in medians of the other pairs (robust
        to bursts of fast motion that happen to fall near a seam)."""
        return (
            float(np.nanmedian(self.errors[self.seam_pairs])) / self.median_other if self.seam_pairs else float("nan")
        )


def seam_report(job: str | os.PathLike[str]) -> SeamReport:
    """Measure a finished job's output frames (as encoded: cross-fades applied, losslessly)."""
    work = UnitWork.from_job(job)
    j, frames = work.job, work.frames
    passes = {s: st.temporal.passes for s, st in work.settings.items()}
    owner = {p: u for u in work.units for p in range(u.start, u.end)}
    faded = fades(work.units)

    def output(pos: int) -> np.ndarray:
        u = owner[pos]
        key = (passes[u.shot], pos)
        fade = (work.lead_done[key], faded[pos][1]) if pos in faded else None
        return final_image(j, work.done[key], fade)

    ref = [EvalFrame(f.index, f.time, j.load_content(f)) for f in frames]
    out = [EvalFrame(f.index, f.time, output(f.pos)) for f in frames]
    errors = warping_errors(ref, {"output": out}, include_reference=False).series["output"].errors
    cuts = {u.start for u in work.units if u.part == 0}
    seam = sorted({p for u in work.units if u.part > 0 for p in range(u.first - 1, u.start)})
    other = [p for p in range(len(frames) - 1) if p + 1 not in cuts and p not in seam]
    return SeamReport(np.asarray(errors, dtype=np.float64), seam, other)
