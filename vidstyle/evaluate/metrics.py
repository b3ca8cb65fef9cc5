"""Temporal consistency of whole videos: the warping error of Lai et al. (ECCV 2018) and the
fidelity measures, over aligned videos, in one streaming pass.

Several aligned videos (the stylised output, the input itself, a per-frame baseline) are
measured in one pass with the flow computed once per pair, on the input; only two frames per
video are held at a time. :func:`warping_errors` measures frame streams and
:func:`evaluate_files` video files. The definition and the per-pair math are in
:mod:`vidstyle.evaluate.warping`, the results (:class:`WarpingReport`) in
:mod:`vidstyle.evaluate.report`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vidstyle.errors import VidstyleError, file_error
from vidstyle.evaluate.fidelity import FeatureMeter, as_uint8, flow_magnitude, tof
from vidstyle.evaluate.report import BASELINE, REFERENCE, Series, WarpingReport
from vidstyle.evaluate.warping import valid_mask, warping_error
from vidstyle.flow.backends import FlowBackend, make_backend
from vidstyle.flow.cache import FlowCache
from vidstyle.flow.consistency import ConsistencyParams
from vidstyle.flow.pipeline import cached_entry

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
                    f"{', '.join(more)} {'has' if len(more) == 1 else 'have'} more",
                    count,
                    ended,
                    more,
                )
            break
        for n, f in cur.items():
            img = np.asarray(f.image)  # type: ignore[union-attr]
            if shape is None:
                shape = img.shape
                if img.ndim != 3 or img.shape[2] != 3:
                    raise VidstyleError(f"{n}: expected H×W×3 RGB frames, got {img.shape}")
            elif img.shape != shape:
                raise VidstyleError(
                    f"{n}: frame {count} is {img.shape[1]}x{img.shape[0]}, expected {shape[1]}x{shape[0]}"
                )
        if prev:
            a, b = prev[reference_name], cur[reference_name]
            assert b is not None
            if b.index <= a.index:
                raise VidstyleError(f"{reference_name}: frame numbers must increase, got {a.index} then {b.index}")
            # Computed and cached as the stylisation's flow is, so a cache shared with a render
            # at the same size and backend is reused both ways.
            entry = cached_entry(backend, params, cache, a.index, b.index, a.image, b.image)
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


def _evaluate_readers(
    readers: dict[str, tuple[Path, Any]],
    size: tuple[int, int],
    limit: int | None,
    backend: FlowBackend,
    params: ConsistencyParams,
    cache: FlowCache | None,
    progress: Callable[[int, int | None], None] | None,
    meter: FeatureMeter | None = None,
) -> WarpingReport:
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
        notes.append(
            f"aspect ratios differ: input {in_info.width}x{in_info.height}, output {size[0]}x{size[1]}; "
            "the input was stretched to the output's size"
        )
    for name, (path, r) in readers.items():
        w, h = r.info.width, r.info.height
        if name != REFERENCE and (w, h) != size:
            notes.append(f"{path}: {w}x{h} resized to {size[0]}x{size[1]}")

    streams = {n: _limited(resized_frames(r, size), limit) for n, (_, r) in readers.items()}
    ref = streams.pop(REFERENCE)
    total = min(known.values()) if known else limit
    tick = None if progress is None else (lambda n: progress(n, total))
    try:
        report = warping_errors(
            ref, streams, backend=backend, params=params, cache=cache, progress=tick, fidelity=meter
        )
    except FrameCountMismatch as e:
        short = " and ".join(str(readers[n][0]) for n in e.ended)
        longer = " and ".join(str(readers[n][0]) for n in e.more)
        raise VidstyleError(
            f"frame counts differ: {short} ended after {e.count} frames, {longer} "
            f"{'has' if len(e.more) == 1 else 'have'} more; {hint}"
        ) from None
    for name, (path, r) in readers.items():
        report.series[name].source = str(path)
        if r.warning:
            notes.append(r.warning)
    report.notes.extend(notes)
    return report
