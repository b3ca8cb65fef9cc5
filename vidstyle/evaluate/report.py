"""What ``vidstyle eval`` measures, as data: per-video series and the report over the pairs.

:class:`WarpingReport` holds the warping errors (:mod:`vidstyle.evaluate.warping`) and, where
measured, the fidelity figures (:mod:`vidstyle.evaluate.fidelity`) of aligned videos, and
turns them into JSON (:meth:`WarpingReport.to_dict`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from vidstyle.evaluate.warping import METRIC_DEFINITION, METRIC_NAME

REFERENCE = "input"  # the series name of the video the flow is computed on
BASELINE = "baseline"  # the per-frame stylisation that perceptual distances are measured to


@dataclasses.dataclass
class Series:
    """Per-pair warping errors of one video (NaN where a pair had no valid pixel)."""

    name: str
    errors: np.ndarray  # float64, one per consecutive pair
    source: str | None = None  # the file it came from, for reports
    # Fidelity (see :mod:`vidstyle.evaluate.fidelity`), None where not measured:
    tof: np.ndarray | None = None  # per pair: mean ‖flow(this) − flow(input)‖, pixels
    content: np.ndarray | None = None  # per frame: relu4_2 content distance to the input frame
    perceptual: np.ndarray | None = None  # per frame: unweighted-LPIPS distance to the baseline

    @property
    def finite(self) -> np.ndarray:
        return self.errors[np.isfinite(self.errors)]

    @property
    def mean(self) -> float:
        """E_warp: the mean over pairs with a defined error (NaN if none)."""
        f = self.finite
        return float(f.mean()) if f.size else math.nan

    @property
    def median(self) -> float:
        f = self.finite
        return float(np.median(f)) if f.size else math.nan

    @property
    def max(self) -> float:
        f = self.finite
        return float(f.max()) if f.size else math.nan

    @property
    def worst_pair(self) -> int | None:
        """Position (0-based pair number) of the largest error, None if there is none."""
        return int(np.nanargmax(self.errors)) if self.finite.size else None


@dataclasses.dataclass
class WarpingReport:
    """Warping errors of aligned videos over the same frame pairs, flow from the reference.

    Pair ``p`` compares delivered frames ``p`` and ``p+1``; ``index``/``next_index`` are the
    reference's source frame numbers of those frames and ``time`` the first one's time
    (seconds on the reference's clock); ``valid_fraction`` is the share of pixels in M.
    """

    size: tuple[int, int]  # (width, height) every video was evaluated at
    frames: int
    index: list[int]
    next_index: list[int]
    time: list[float]
    valid_fraction: np.ndarray
    series: dict[str, Series]
    flow: dict[str, Any]  # backend identity
    notes: list[str] = dataclasses.field(default_factory=list)  # things a person should know
    flow_magnitude: np.ndarray | None = None  # per pair: mean ‖flow(input)‖ = a frozen output's tOF

    @property
    def pairs(self) -> int:
        return len(self.index)

    @property
    def skipped(self) -> int:
        """Pairs with no valid pixel (NaN errors, not in the means)."""
        return int((self.valid_fraction <= 0).sum())

    def relative(self, name: str, to: str = REFERENCE) -> float:
        """mean(name) / mean(to): how many times the reference's own error (NaN if undefined)."""
        a, b = self.series[name].mean, self.series[to].mean if to in self.series else math.nan
        return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN and inf become None)."""
        series = {}
        for name, s in self.series.items():
            series[name] = {
                "file": s.source,
                "mean": _num(s.mean),
                "median": _num(s.median),
                "max": _num(s.max),
                "worst_pair": s.worst_pair,
                "relative_to_input": _num(self.relative(name)) if REFERENCE in self.series else None,
                "errors": [_num(v) for v in s.errors.tolist()],
                **_fidelity_dict(s),
            }
        return {
            "metric": METRIC_NAME,
            "definition": METRIC_DEFINITION,
            "width": self.size[0],
            "height": self.size[1],
            "frames": self.frames,
            "pairs": self.pairs,
            "skipped_pairs": self.skipped,
            "flow": {"computed_on": REFERENCE, "backend": self.flow},
            "series": series,
            "pair_index": list(self.index),
            "pair_next_index": list(self.next_index),
            "pair_time": [_num(t) for t in self.time],
            "valid_fraction": [_num(v) for v in self.valid_fraction.tolist()],
            "notes": list(self.notes),
            **(
                {
                    "fidelity": FIDELITY_DEFINITIONS,
                    "input_flow_magnitude": {
                        "mean": _num(_mean(self.flow_magnitude)),
                        "pairs": [_num(v) for v in self.flow_magnitude.tolist()],
                    },
                }
                if self.flow_magnitude is not None
                else {}
            ),
        }


FIDELITY_DEFINITIONS = {
    "tof": "mean over pixels of |flow(V_t -> V_t+1) - flow(input_t -> input_t+1)| (Euclidean, pixels at the "
    "evaluated size, same flow backend); 0 = moves as the input does; a frozen video scores input_flow_magnitude",
    "content_distance": "mean over C*H*W of (F(V_t) - F(input_t))^2 at relu4_2 of the Caffe VGG-19 (0-255 input)",
    "perceptual_to_baseline": "unweighted LPIPS (Zhang et al. 2018 with all layer weights 1): features at relu1_1.."
    "relu5_1 unit-normalised over channels, squared difference summed over channels, mean over positions, "
    "summed over layers; between V_t and the per-frame baseline's frame t",
}


def _mean(a: np.ndarray | None) -> float:
    if a is None:
        return math.nan
    f = a[np.isfinite(a)]
    return float(f.mean()) if f.size else math.nan


def _fidelity_dict(s: Series) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if s.tof is not None:
        out["tof"] = {"mean": _num(_mean(s.tof)), "pairs": [_num(v) for v in s.tof.tolist()]}
    if s.content is not None:
        c = s.content
        out["content_distance"] = {
            "mean": _num(_mean(c)),
            "first": _num(float(c[0])) if c.size else None,
            "last": _num(float(c[-1])) if c.size else None,
            "frames": [_num(v) for v in c.tolist()],
        }
    if s.perceptual is not None:
        out["perceptual_to_baseline"] = {
            "mean": _num(_mean(s.perceptual)),
            "frames": [_num(v) for v in s.perceptual.tolist()],
        }
    return out


def _num(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None
