"""Running one shot's schedule: optimise each task's frame and store it durably in the job.

Every frame continues from the *stored* (8-bit, lossless PNG) results of the frames it
depends on, so a render resumed after a crash computes exactly what an uninterrupted one
would have.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import Tensor

from vidstyle.flow import FlowPipeline, backend_options, consistency_params
from vidstyle.flow.pipeline import FrameFlows
from vidstyle.flow.warp import flow_to_tensor, warp
from vidstyle.image.io import to_uint8, to_working
from vidstyle.job.events import FrameFinished
from vidstyle.job.store import FrameRecord, Job, ResultRecord
from vidstyle.settings import OptimSettings, RenderSettings
from vidstyle.style.optimize import Iterate
from vidstyle.style.stylize import FixedPixels, Stylizer, optimize_image
from vidstyle.temporal.hold import HoldState, advance_hold, hold_colour, previous_flow, start_hold
from vidstyle.temporal.schedule import Task, shot_schedule
from vidstyle.temporal.terms import (
    WarpedFrame,
    advance_anchor,
    follow_input,
    luma,
    multipass_start,
    photometric_keep,
    released_fraction,
    temporal_term,
    warp_previous,
    warped_start,
)

IterationCallback = Callable[[Iterate], None]
FrameCallback = Callable[[FrameFinished], None]


# Adaptive budget of a sequential frame (temporal.adaptive_iterations): a frame whose share of
# new pixels (released by the photometric check, disoccluded, or leaving the frame) is above
# ADAPT_FROM gets extra iterations, growing linearly to the first frame's whole budget (coarse
# to fine) at ADAPT_FULL, where it is as good as a new shot.
ADAPT_FROM = 0.05
ADAPT_FULL = 0.25


def task_optim(
    task: Task, settings: RenderSettings, new_fraction: float = 0.0, input_change: float | None = None
) -> OptimSettings:
    """The optimisation budget of a task; ``new_fraction`` (0–1) is the share of the frame
    that its warped start does not cover (see :data:`ADAPT_FROM`); ``input_change`` the RMS
    change of the input along the flow over the pixels the warped start covers (0–255),
    which shrinks the budget of a sequential frame below ``temporal.still_change`` (0
    iterations: keep the start)."""
    t, optim = settings.temporal, settings.optim
    if task.kind == "alone":
        if task.first_of_shot:
            return optim  # a shot's first frame, or every frame of the per-frame baseline
        return optim.model_copy(update={"iterations": t.pass_iterations, "coarse_iterations": None})
    iterations = t.frame_iterations if task.kind == "sequential" else t.pass_iterations
    if task.kind == "sequential" and t.adaptive_iterations and new_fraction > ADAPT_FROM:
        if new_fraction >= ADAPT_FULL:
            return optim
        share = (new_fraction - ADAPT_FROM) / (ADAPT_FULL - ADAPT_FROM)
        iterations += max(0, round(share * (optim.iterations - iterations)))
    elif task.kind == "sequential" and t.still_change > 0 and input_change is not None:
        iterations = round(iterations * min(1.0, input_change / t.still_change))
    return optim.model_copy(update={"iterations": iterations, "coarse_iterations": None, "scales": t.frame_scales})


def _weights_tensor(weights: np.ndarray, device: torch.device) -> Tensor:
    return torch.from_numpy(np.asarray(weights, np.float32)).to(device)[None, None]


class ShotRunner:
    """Runs the passes of a shot against a job, skipping what is already stored."""

    def __init__(
        self,
        job: Job,
        frames: list[FrameRecord],
        stylizer: Stylizer,
        settings: RenderSettings,
        *,
        flow_source: str,
        on_iteration: IterationCallback | None = None,
        on_frame: FrameCallback | None = None,
    ) -> None:
        self.job, self.frames, self.stylizer, self.settings = job, frames, stylizer, settings
        self.device = stylizer.device
        self.flow_source = flow_source
        self.on_iteration, self.on_frame = on_iteration, on_frame
        self._memo: OrderedDict[tuple[int, int], Tensor] = OrderedDict()
        self._anchor: Tensor | None = None
        self._hold: HoldState | None = None
        self._lags: dict[int, Tensor] = {}  # position → lag of its painting (see temporal/hold.py)
        self._memo_size = 2 * (max(settings.temporal.long_term) + 2)  # results and content frames
        self._own_from = 0  # frames before this one are a chunk's lead-in

    # -- stored results ---------------------------------------------------------------
    def _remember(self, key: tuple[int, int], image: Tensor) -> None:
        self._memo[key] = image
        self._memo.move_to_end(key)
        while len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)

    def _result(self, pass_: int, pos: int, done: Mapping[tuple[int, int], ResultRecord]) -> Tensor:
        """A stored result (0–255, on the device), as the later frames must see it."""
        key = (pass_, pos)
        if key not in self._memo:
            self._remember(key, to_working(self.job.load_result(done[key]), self.device))
        return self._memo[key]

    # -- running ----------------------------------------------------------------------
    def run(self, shot: int, start: int, end: int, done: dict[tuple[int, int], ResultRecord], *, lead: int = 0) -> None:
        """Compute every task of frames [start, end) of the shot not in ``done``; ``done`` is
        updated as results land. The first ``lead`` frames are a chunk's lead-in (see
        :mod:`vidstyle.temporal.units`): stored as lead results, apart from the frames' own."""
        self._own_from = start + lead
        t = self.settings.temporal
        flow = self.settings.flow
        needs_flow = t.passes > 1 or t.warm_start or t.temporal_weight > 0
        with contextlib.ExitStack() as stack:
            pipeline = None
            if needs_flow and end - start > 1:
                pipeline = stack.enter_context(
                    FlowPipeline(
                        self.job.flow_dir,
                        t.long_term,
                        backend=flow.backend,
                        backend_options=backend_options(flow),
                        params=consistency_params(flow),
                        workers=flow.workers,
                        source=self.flow_source,
                    )
                )
            for tasks in shot_schedule(shot, start, end, t):
                self._run_pass(tasks, done, pipeline)

    def _run_pass(
        self, tasks: list[Task], done: dict[tuple[int, int], ResultRecord], pipeline: FlowPipeline | None
    ) -> None:
        todo = [k for k, task in enumerate(tasks) if (task.pass_, task.pos) not in done]
        for task in tasks[: todo[0] if todo else len(tasks)]:
            self._report_skip(task, done)
        if not todo:
            return
        uses_flow = pipeline is not None and any(task.start_from is not None or task.neighbours for task in tasks)
        # Feed the flow pipeline from far enough back that the first task to do gets all its links.
        first = max(0, todo[0] - max(self.settings.temporal.long_term)) if uses_flow else todo[0]
        # The photometric anchor and the hold of a sequential pass are carried from the shot's
        # first frame (functions of the input and its flow only, so a resumed pass recomputes
        # them exactly).
        t = self.settings.temporal
        anchored = (
            uses_flow
            and (t.photometric_check or t.hold_change > 0)
            and tasks[0].kind == "alone"
            and len(tasks) > 1
            and tasks[1].kind == "sequential"
        )
        if anchored:
            first = 0
        seq = tasks[first:]
        frames = ((task.pos, self.job.load_content(self.frames[task.pos])) for task in seq)
        flows = pipeline.iterate(frames) if uses_flow and pipeline is not None else None
        self._anchor, self._hold, self._lags = None, None, {}
        for k, task in enumerate(seq, start=first):
            ff = next(flows) if flows is not None else None
            keep = self._advance_anchor(task, ff) if anchored and t.photometric_check else None
            held = self._advance_hold(task, ff) if anchored and t.hold_change > 0 else None
            key = (task.pass_, task.pos)
            if key in done:
                if k >= todo[0]:  # the ones before were reported above; they only feed the flow
                    self._report_skip(task, done)
                continue
            content = ff.image if ff is not None else self.job.load_content(self.frames[task.pos])
            began = time.perf_counter()
            image, losses = self._optimise(task, content, ff, done, keep, held)
            seconds = time.perf_counter() - began
            stored = to_uint8(image)
            done[key] = self.job.store_result(task.shot, task.pass_, task.pos, stored, seconds=seconds, losses=losses,
                                              lead=task.pos < self._own_from)  # fmt: skip
            self._remember(key, to_working(stored, self.device))
            if self.on_frame is not None:
                self.on_frame(FrameFinished(task.shot, task.pass_, task.pos, seconds, losses, skipped=False))

    def _content(self, pos: int) -> Tensor:
        """A decoded content frame (0–255, on the device), memoised like the results."""
        key = (0, pos)  # pass 0: the input itself
        if key not in self._memo:
            self._remember(key, to_working(self.job.load_content(self.frames[pos]), self.device))
        return self._memo[key]

    def _warped(
        self,
        task: Task,
        source: int,
        flow: np.ndarray,
        weights: np.ndarray,
        content: Tensor,
        done: Mapping[tuple[int, int], ResultRecord],
        keep: Tensor | None,
        lagged: bool = False,
    ) -> WarpedFrame:
        """The stored result of ``source`` (same pass) warped into the task's frame, with its
        consistency weights, adjusted to the input (see :func:`vidstyle.temporal.terms.follow_input`):
        ``keep`` from the anchored photometric check of a sequential pass, or in a multipass
        pass the check against the source's own input frame. With ``lagged`` (the hold is on)
        the painting comes in along the flow plus its lag, the input along the flow alone."""
        t = self.settings.temporal
        flow_t = flow_to_tensor(flow, self.device)
        lag = self._lags.get(source) if lagged else None
        painting_flow = flow_t if lag is None else previous_flow(lag, flow_t)
        w = warp_previous(self._result(task.pass_, source, done), painting_flow, _weights_tensor(weights, self.device))
        if not (t.follow_input or t.photometric_check):
            return w
        here = content
        needs_source = t.follow_input or (keep is None and t.photometric_check)
        if not needs_source:  # the anchored check of a sequential pass already gave ``keep``
            return follow_input(w, keep, None, 0.0)
        there = warp(self._content(source), flow_t)
        assert isinstance(there, Tensor)
        if keep is None and t.photometric_check:
            keep = photometric_keep(
                luma(here), luma(there), t.photometric_rel, t.photometric_abs, self._photometric_sigma(here)
            )
        change = here - there if t.follow_input else None
        return follow_input(w, keep, change, t.follow_sigma * max(here.shape[-2:]))

    def _input_change(self, source: int, flow: np.ndarray, content: Tensor, weights: Tensor) -> float:
        """RMS change (0–255) of the input from frame ``source`` to ``content`` along ``flow``,
        over the pixels held to the warped start (``weights``): how much the frame changed."""
        there = warp(self._content(source), flow_to_tensor(flow, self.device))
        assert isinstance(there, Tensor)
        sq = ((content - there) ** 2).mean(dim=1, keepdim=True)
        held = float(weights.sum())
        return float((weights * sq).sum()) ** 0.5 / max(held, 1e-6) ** 0.5 if held > 0 else float("inf")

    def _photometric_sigma(self, image: Tensor) -> float:
        """The blur of the photometric check in pixels (at least 1) for a frame like ``image``."""
        return max(1.0, self.settings.temporal.photometric_sigma * max(image.shape[-2:]))

    def _advance_anchor(self, task: Task, ff: FrameFlows | None) -> Tensor | None:
        """Carry the photometric anchor R (the input luminance each painted pixel was made for)
        to the task's frame; returns the kept share k for the frame (None for a shot's first)."""
        t = self.settings.temporal
        if ff is None:
            return None
        y = luma(to_working(ff.image, self.device))
        if task.start_from is None or self._anchor is None:
            self._anchor = y
            return None
        link = ff.links[1]
        flow_t = flow_to_tensor(link.flow, self.device)
        warped, inside = warp(self._anchor, flow_t, return_mask=True)
        keep = photometric_keep(y, warped, t.photometric_rel, t.photometric_abs, self._photometric_sigma(y))
        held = keep * _weights_tensor(link.weights, self.device) * inside
        self._anchor = advance_anchor(warped, y, held)
        return keep

    def _advance_hold(self, task: Task, ff: FrameFlows | None) -> Tensor | None:
        """Carry the hold (:mod:`vidstyle.temporal.hold`) to the task's frame and remember the
        lag of its painting; returns the held mask (1, 1, H, W, 0/1), None for a shot's first
        frame."""
        t = self.settings.temporal
        if ff is None:
            return None
        colour = hold_colour(to_working(ff.image, self.device))
        first = task.start_from is None or self._hold is None
        if first:
            self._hold = start_hold(colour)
        else:
            assert self._hold is not None
            link = ff.links[1]
            flow, weights = flow_to_tensor(link.flow, self.device), _weights_tensor(link.weights, self.device)
            self._hold = advance_hold(self._hold, colour, flow, weights, t.hold_change, t.hold_motion)
        self._lags[task.pos] = self._hold.lag
        for old in [p for p in self._lags if p < task.pos - max(t.long_term)]:
            del self._lags[old]
        return None if first else self._hold.held

    def _report_skip(self, task: Task, done: Mapping[tuple[int, int], ResultRecord]) -> None:
        if self.on_frame is not None:
            rec = done[(task.pass_, task.pos)]
            self.on_frame(FrameFinished(task.shot, task.pass_, task.pos, rec.seconds, rec.losses, skipped=True))

    def _optimise(
        self,
        task: Task,
        content_u8: np.ndarray,
        ff: FrameFlows | None,
        done: Mapping[tuple[int, int], ResultRecord],
        keep: Tensor | None = None,
        held: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        t = self.settings.temporal
        content = to_working(content_u8, self.device)  # 0-255 until the optimiser's boundary below
        init: Tensor | None = None
        tied: list[WarpedFrame] = []
        new_fraction = 0.0
        input_change: float | None = None
        if task.kind != "alone":
            assert ff is not None or (task.start_from is None and not task.neighbours)
            links = ff.links if ff is not None else {}
            lagged = held is not None  # earlier paintings come in along the motion since they were made
            for n in task.neighbours:
                link = links[abs(n - task.pos)]
                w = self._warped(task, n, link.flow, link.long_weights, content, done, keep, lagged)
                tied.append(WarpedFrame(self.stylizer.network_view(w.image), w.weights))
            start = None
            if task.start_from is not None:
                link = links[1]
                start = self._warped(task, task.start_from, link.flow, link.weights, content, done, keep, lagged)
                new_fraction = released_fraction(start)
                if task.kind == "sequential" and t.still_change > 0:
                    input_change = self._input_change(task.start_from, link.flow, content, start.weights)
            if task.kind == "sequential":
                if start is not None:
                    assert task.start_from is not None  # start was warped from it
                    fill = content if t.fill == "content" else self._result(task.pass_, task.start_from, done)
                    init = warped_start(start, fill)
            else:
                init = multipass_start(self._result(task.pass_ - 1, task.pos, done), start, t.blend)
        extra = None
        if tied and t.temporal_weight > 0:
            extra = lambda size: {"temporal": temporal_term(tied, t.temporal_weight, size)}  # noqa: E731
        last: list[Iterate] = []

        def report(it: Iterate) -> None:
            last[:1] = [it]
            if self.on_iteration is not None:
                self.on_iteration(it)

        fixed = None
        if held is not None and task.kind == "sequential" and task.start_from is not None and bool(held.any()):
            fixed = FixedPixels(held, self._result(task.pass_, task.start_from, done))  # kept in place
        optim = task_optim(task, self.settings, new_fraction, input_change)
        if fixed is not None and bool(fixed.mask.all()):
            optim = optim.model_copy(update={"iterations": 0})  # the whole frame is held
        if optim.iterations == 0 and init is not None:  # an unchanged frame: keep the warped start
            kept = init if fixed is None else fixed.apply(init)
            return (kept / 255.0).clamp(0.0, 1.0), {}
        image = optimize_image(  # the stylisation boundary: images in [0, 1]
            self.stylizer,
            content / 255.0,
            optim,
            init=None if init is None else init / 255.0,
            extra_terms=extra,
            callback=report,
            context={"shot": task.shot, "pass": task.pass_, "pos": task.pos, "kind": task.kind},
            fixed=fixed,
        )
        losses = {k: round(v, 4) for k, v in last[0].losses().items()} if last else {}
        return image, losses
