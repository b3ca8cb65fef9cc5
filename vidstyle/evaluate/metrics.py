"""Temporal consistency of a video: the warping error of Lai et al. (ECCV 2018).

Definition used throughout (frames scaled to [0, 1], t = 0 … T−2 over consecutive frames
in the order they are delivered)::

    e_t    = Σ_x M_t(x) · ⅓ Σ_c (V_t(x, c) − V̂_{t+1}(x, c))²  /  Σ_x M_t(x)
    V̂_{t+1} = warp(V_{t+1}, F_{t→t+1})          (frame t+1 brought into frame t, bilinear)
    E_warp = 1/(T−1) Σ_t e_t                      (mean over pairs with Σ M_t > 0)

* The squared error is **averaged over the three RGB channels** (a per-colour-value mean
  squared error, as in Lai et al.'s released evaluation script, whose mask has three
  channels). The paper's ‖·‖² summed over RGB is exactly 3× these numbers.
* ``F`` is the optical flow **of the input video** (resized to the evaluated size), never
  of the video being judged; M_t is 1 where the forward-backward check of
  :func:`vidstyle.flow.occlusion_mask` passes (pixel visible in frame t+1 and landing
  inside it) and 0 elsewhere. Motion boundaries are not removed (as in Lai et al.).
* A pair whose mask is empty has no defined error: it is NaN in the per-pair list and
  left out of the mean (Lai et al.'s script counts it as 0); ``skipped`` says how many.

Several aligned videos (the stylised output, the input itself, a per-frame baseline) are
measured in one streaming pass with the flow computed once per pair; only two frames per
video are held at a time. :func:`evaluate_files` is the file-level entry point.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vidstyle.errors import VidstyleError, file_error
from vidstyle.flow.backends import FlowBackend, make_backend
from vidstyle.flow.cache import FlowCache, PairEntry
from vidstyle.flow.consistency import ConsistencyParams, occlusion_mask, warp_image
from vidstyle.flow.pipeline import compute_entry
from vidstyle.evaluate.fidelity import FeatureMeter, as_uint8, flow_magnitude, tof

METRIC_NAME = "warping error (Lai et al. 2018)"
METRIC_DEFINITION = (
    "mean over consecutive frame pairs (t, t+1) of: sum over non-occluded pixels of frame t of the squared "
    "difference between V_t and V_{t+1} warped into t with the input's flow t->t+1, averaged over RGB, "
    "divided by the number of non-occluded pixels; frames in [0, 1]; occlusion by forward-backward check "
    "(or leaving the frame) on the input's flow"
)
REFERENCE = "input"  # the series name of the video the flow is computed on
BASELINE = "baseline"  # the per-frame stylisation that perceptual distances are measured to


# -- the math (pure) --------------------------------------------------------------------


def to_unit(image: np.ndarray) -> np.ndarray:
    """An RGB frame as float32 in [0, 1] (uint8 is divided by 255; floats are taken as is)."""
    a = np.asarray(image)
    if a.dtype == np.uint8:
        return a.astype(np.float32) * np.float32(1.0 / 255.0)
    return a.astype(np.float32, copy=False)


def valid_mask(flow_ij: np.ndarray, flow_ji: np.ndarray, params: ConsistencyParams = ConsistencyParams()) -> np.ndarray:
    """M on frame i (H×W bool): True where frame j, warped in with ``flow_ij``, is trusted.

    The complement of :func:`vidstyle.flow.occlusion_mask`: the forward-backward check
    passes and ``x + flow_ij(x)`` lies on frame j.
    """
    return ~occlusion_mask(np.asarray(flow_ij, np.float32), np.asarray(flow_ji, np.float32), params)


def warping_error(frame_i: np.ndarray, frame_j: np.ndarray, flow_ij: np.ndarray, mask: np.ndarray) -> float:
    """e = Σ M·mean_RGB (V_i − warp(V_j, flow_ij))² / Σ M for one pair; NaN if Σ M = 0.

    ``frame_i``, ``frame_j``: H×W×3 (uint8, or float in [0, 1]); ``flow_ij``: H×W×2 from i to
    j; ``mask``: H×W, bool or weights ≥ 0 (1 = counted). Masked-out pixels do not matter.
    """
    vi, vj = to_unit(frame_i), to_unit(frame_j)
    if vi.shape != vj.shape or vi.ndim != 3 or vi.shape[2] != 3:
        raise ValueError(f"expected two H×W×3 frames of equal size, got {vi.shape} and {vj.shape}")
    if flow_ij.shape != (*vi.shape[:2], 2) or np.shape(mask) != vi.shape[:2]:
        raise ValueError(f"flow {flow_ij.shape} and mask {np.shape(mask)} do not match frames {vi.shape}")
    m = np.asarray(mask, np.float64)
    total = float(m.sum())
    if total <= 0:
        return math.nan
    diff = vi - warp_image(vj, np.asarray(flow_ij, np.float32))
    per_pixel = np.mean(diff * diff, axis=2, dtype=np.float64)
    # np.where so that anything under a zero mask (even inf/NaN) cannot leak into the sum.
    return float(np.where(m > 0, per_pixel * m, 0.0).sum() / total)


def pair_warping_error(frame_i: np.ndarray, frame_j: np.ndarray, flow_ij: np.ndarray, flow_ji: np.ndarray,
                       params: ConsistencyParams = ConsistencyParams()) -> float:
    """:func:`warping_error` with the mask from the forward-backward check of the two flows."""
    return warping_error(frame_i, frame_j, flow_ij, valid_mask(flow_ij, flow_ji, params))


# -- results ----------------------------------------------------------------------------


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
        out["perceptual_to_baseline"] = {"mean": _num(_mean(s.perceptual)), "frames": [_num(v) for v in s.perceptual.tolist()]}
    return out


def _num(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


# -- streaming over aligned videos --------------------------------------------------------


@dataclasses.dataclass
class EvalFrame:
    """One frame handed to :func:`warping_errors`: source index, time and the RGB image."""

    index: int
    time: float
    image: np.ndarray


FrameSource = Iterable[EvalFrame]
Progress = Callable[[int], None]


class FrameCountMismatch(VidstyleError):
    """Aligned videos ran out at different frames: ``ended`` ran out after ``count`` frames,
    the others have more."""

    def __init__(self, message: str, count: int, ended: list[str], more: list[str]) -> None:
        super().__init__(message)
        self.count, self.ended, self.more = count, ended, more


def pair_flows(backend: FlowBackend, params: ConsistencyParams, cache: FlowCache | None,
               lo: int, hi: int, img_lo: np.ndarray, img_hi: np.ndarray) -> PairEntry:
    """Flow lo→hi and hi→lo of the reference (float16, as stored), from ``cache`` if there.

    Computed the same way as the stylisation's flow (:func:`~vidstyle.flow.pipeline.compute_entry`),
    so a cache shared with a render at the same size and backend is reused both ways.
    """
    size = (img_lo.shape[1], img_lo.shape[0])
    if cache is not None:
        hit = cache.load(lo, hi, size)
        if hit is not None:
            return hit
    entry = compute_entry(backend, params, lo, hi, img_lo, img_hi)
    if cache is not None:
        cache.store(entry)
    return entry


def warping_errors(
    reference: FrameSource,
    others: Mapping[str, FrameSource] | None = None,
    *,
    backend: FlowBackend | None = None,
    params: ConsistencyParams = ConsistencyParams(),
    cache: FlowCache | None = None,
    reference_name: str = REFERENCE,
    include_reference: bool = True,
    progress: Progress | None = None,
    fidelity: FeatureMeter | None = None,
    baseline_name: str = BASELINE,
) -> WarpingReport:
    """Warping error of each video in ``others`` (and of the reference itself), in one pass.

    Flow is computed on the ``reference`` frames (the input video) for each consecutive
    pair, once, and applied to every video; all frames must have the same size, and the
    videos are aligned by order. Reference images are H×W×3 uint8 (what flow backends
    take); the others uint8 or float in [0, 1]. Frame ``index`` values of the reference
    key the flow cache. The mask comes from the float16 flows that the cache stores, so
    results are the same with or without a cache. Raises :class:`FrameCountMismatch` if
    one video ends before another. Holds two frames per video. ``progress`` is called with
    the number of frames done so far.

    With a ``fidelity`` meter it also measures, for every video but the reference, tOF per
    pair (its own flow against the reference's, same backend) and the content distance to
    the reference per frame, and for every video but the reference and ``baseline_name``
    the perceptual distance to that baseline per frame (see :mod:`vidstyle.evaluate.fidelity`).
    """
    backend = backend if backend is not None else make_backend()
    others = dict(others or {})
    if reference_name in others:
        raise ValueError(f"series name {reference_name!r} is the reference's")
    names = ([reference_name] if include_reference else []) + list(others)
    iters: dict[str, Iterator[EvalFrame]] = {reference_name: iter(reference)}
    iters.update({n: iter(s) for n, s in others.items()})
    errors: dict[str, list[float]] = {n: [] for n in names}
    index: list[int] = []
    next_index: list[int] = []
    times: list[float] = []
    valid: list[float] = []
    others_names = [n for n in names if n != reference_name]
    tofs: dict[str, list[float]] = {n: [] for n in others_names}
    contents: dict[str, list[float]] = {n: [] for n in others_names}
    perceptual: dict[str, list[float]] = {n: [] for n in others_names if n != baseline_name and baseline_name in others}
    magnitude: list[float] = []
    prev: dict[str, EvalFrame] = {}
    shape: tuple[int, ...] | None = None
    count = 0
    while True:
        cur = {n: next(it, None) for n, it in iters.items()}
        ended = [n for n, f in cur.items() if f is None]
        if ended:
            if len(ended) != len(cur):
                more = [n for n in cur if n not in ended]
                raise FrameCountMismatch(
                    f"frame counts differ: {', '.join(ended)} ended after {count} frames, "
                    f"{', '.join(more)} {'has' if len(more) == 1 else 'have'} more", count, ended, more)
            break
        for n, f in cur.items():
            img = np.asarray(f.image)  # type: ignore[union-attr]
            if shape is None:
                shape = img.shape
                if img.ndim != 3 or img.shape[2] != 3:
                    raise VidstyleError(f"{n}: expected H×W×3 RGB frames, got {img.shape}")
            elif img.shape != shape:
                raise VidstyleError(f"{n}: frame {count} is {img.shape[1]}x{img.shape[0]}, expected {shape[1]}x{shape[0]}")
        if prev:
            a, b = prev[reference_name], cur[reference_name]
            assert b is not None
            if b.index <= a.index:
                raise VidstyleError(f"{reference_name}: frame numbers must increase, got {a.index} then {b.index}")
            entry = pair_flows(backend, params, cache, a.index, b.index, a.image, b.image)
            fwd, bwd = entry.flow_fwd.astype(np.float32), entry.flow_bwd.astype(np.float32)
            mask = valid_mask(fwd, bwd, params)
            valid.append(float(mask.mean()))
            index.append(a.index)
            next_index.append(b.index)
            times.append(a.time)
            for n in names:
                f = cur[n]
                assert f is not None
                errors[n].append(warping_error(prev[n].image, f.image, fwd, mask))
            if fidelity is not None:
                magnitude.append(flow_magnitude(fwd))
                for n in others_names:
                    f = cur[n]
                    assert f is not None
                    # Rounded as the reference's flow is (cache entries are float16), so that a
                    # copy of the input scores exactly 0.
                    own = backend.compute(as_uint8(prev[n].image), as_uint8(f.image)).astype(np.float16)
                    tofs[n].append(tof(own, fwd))
        if fidelity is not None:
            feats = {n: fidelity.features(f.image) for n, f in cur.items() if f is not None}
            for n in others_names:
                contents[n].append(fidelity.content_distance(feats[n], feats[reference_name]))
            for n in perceptual:
                perceptual[n].append(fidelity.perceptual_distance(feats[n], feats[baseline_name]))
        prev = {n: f for n, f in cur.items() if f is not None}
        count += 1
        if progress is not None:
            progress(count)
    if count < 2:
        raise VidstyleError(f"need at least 2 frames to measure temporal consistency, got {count}")
    assert shape is not None
    report = WarpingReport(
        size=(int(shape[1]), int(shape[0])),
        frames=count,
        index=index,
        next_index=next_index,
        time=times,
        valid_fraction=np.asarray(valid, np.float64),
        series={n: Series(n, np.asarray(errors[n], np.float64)) for n in names},
        flow=backend.identity(),
    )
    if fidelity is not None:
        report.flow_magnitude = np.asarray(magnitude, np.float64)
        for n in others_names:
            report.series[n].tof = np.asarray(tofs[n], np.float64)
            report.series[n].content = np.asarray(contents[n], np.float64)
        for n in perceptual:
            report.series[n].perceptual = np.asarray(perceptual[n], np.float64)
    return report


# -- files ---------------------------------------------------------------------------------


def _check_input_file(path: Path) -> None:
    if not path.exists():
        raise file_error(path, "no such file")


def resized_frames(reader: Iterable[Any], size: tuple[int, int]) -> Iterator[EvalFrame]:
    """Frames of a reader (objects with ``index``, ``time``, ``image``) at exactly ``size`` (W, H)."""
    w, h = size
    for f in reader:
        img = f.image
        if (img.shape[1], img.shape[0]) != (w, h):
            shrink = img.shape[0] * img.shape[1] > w * h
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        yield EvalFrame(int(f.index), float(f.time), img)


def _limited(frames: Iterable[EvalFrame], limit: int | None) -> Iterator[EvalFrame]:
    for n, f in enumerate(frames):
        if limit is not None and n >= limit:
            return
        yield f


def evaluate_files(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    baseline_path: str | os.PathLike[str] | None = None,
    *,
    start: str | int | float | None = None,
    end: str | int | float | None = None,
    stride: int = 1,
    frames: int | None = None,
    backend: FlowBackend | None = None,
    params: ConsistencyParams = ConsistencyParams(),
    cache_dir: str | os.PathLike[str] | None = None,
    source: str = "",
    progress: Callable[[int, int | None], None] | None = None,
    fidelity: bool = True,
    device: str = "cpu",
) -> WarpingReport:
    """Warping error of OUTPUT (and BASELINE) with flow from INPUT, plus INPUT's own; with
    ``fidelity`` also tOF, content distance and perceptual distance to BASELINE
    (:mod:`vidstyle.evaluate.fidelity`, the VGG-19 on ``device``).

    Every video is evaluated at OUTPUT's frame size (the input is resized to it). ``start``,
    ``end`` and ``stride`` select the INPUT frames that OUTPUT was rendered from (same forms
    as :func:`vidstyle.video.open_video`); OUTPUT and BASELINE are read from their first
    frame. ``frames`` evaluates only the first N aligned frames. Frame counts must agree,
    else a VidstyleError names the files and counts. ``cache_dir`` keeps the input's flow
    (identified by ``source``, e.g. the input's path, size and mtime) for later runs.
    ``progress(done, total)`` is called after each frame (total None when unknown).
    """
    from vidstyle.video import open_video  # PyAV is only needed here

    inp, out = Path(input_path), Path(output_path)
    base = Path(baseline_path) if baseline_path is not None else None
    for p in (inp, out, base):
        if p is not None:
            _check_input_file(p)
    if frames is not None and frames < 2:
        raise VidstyleError(f"frames: need at least 2 to measure temporal consistency, not {frames}")
    backend = backend if backend is not None else make_backend()
    cache = FlowCache(cache_dir, backend.identity(), params, source) if cache_dir is not None else None
    meter = FeatureMeter(device) if fidelity else None

    with open_video(out) as out_reader:
        size = (out_reader.info.width, out_reader.info.height)
        with open_video(inp, size=max(size), start=start, end=end, stride=stride) as in_reader:
            readers: dict[str, tuple[Path, Any]] = {REFERENCE: (inp, in_reader), "output": (out, out_reader)}
            if base is None:
                return _evaluate_readers(readers, size, frames, backend, params, cache, progress, meter)
            with open_video(base) as base_reader:
                readers["baseline"] = (base, base_reader)
                return _evaluate_readers(readers, size, frames, backend, params, cache, progress, meter)


def _evaluate_readers(readers: dict[str, tuple[Path, Any]], size: tuple[int, int], limit: int | None,
                      backend: FlowBackend, params: ConsistencyParams, cache: FlowCache | None,
                      progress: Callable[[int, int | None], None] | None,
                      meter: FeatureMeter | None = None) -> WarpingReport:
    def count(reader: Any) -> int | None:
        n = reader.expected_frames
        return None if n is None else (n if limit is None else min(n, limit))

    def describe(counts: Mapping[str, int]) -> str:
        def one(n: str, c: int) -> str:
            r = readers[n][1]
            trimmed = n == REFERENCE and (r.start is not None or r.end is not None or r.stride > 1)
            return f"{readers[n][0]} has {c} frames{' in the selected range' if trimmed else ''}"

        return ", ".join(one(n, c) for n, c in counts.items())

    hint = "trim the input to the range OUTPUT was rendered from with --start/--end, or evaluate fewer with --frames N"
    counts = {n: count(r) for n, (_, r) in readers.items()}
    known = {n: c for n, c in counts.items() if c is not None}
    if len(set(known.values())) > 1:
        raise VidstyleError(f"frame counts differ: {describe(known)}; {hint}")

    notes: list[str] = []
    in_info = readers[REFERENCE][1].source_info
    in_aspect = in_info.width / in_info.height
    out_aspect = size[0] / size[1]
    if abs(in_aspect / out_aspect - 1) > 0.02:
        notes.append(f"aspect ratios differ: input {in_info.width}x{in_info.height}, output {size[0]}x{size[1]}; "
                     "the input was stretched to the output's size")
    for name, (path, r) in readers.items():
        w, h = r.info.width, r.info.height
        if name != REFERENCE and (w, h) != size:
            notes.append(f"{path}: {w}x{h} resized to {size[0]}x{size[1]}")

    streams = {n: _limited(resized_frames(r, size), limit) for n, (_, r) in readers.items()}
    ref = streams.pop(REFERENCE)
    total = min(known.values()) if known else limit
    tick = None if progress is None else (lambda n: progress(n, total))
    try:
        report = warping_errors(ref, streams, backend=backend, params=params, cache=cache, progress=tick,
                                fidelity=meter)
    except FrameCountMismatch as e:
        short = " and ".join(str(readers[n][0]) for n in e.ended)
        longer = " and ".join(str(readers[n][0]) for n in e.more)
        raise VidstyleError(f"frame counts differ: {short} ended after {e.count} frames, {longer} "
                            f"{'has' if len(e.more) == 1 else 'have'} more; {hint}") from None
    for name, (path, r) in readers.items():
        report.series[name].source = str(path)
        if r.warning:
            notes.append(r.warning)
    report.notes.extend(notes)
    return report
