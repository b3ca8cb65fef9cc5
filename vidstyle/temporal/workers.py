"""``--workers N``: N processes on this machine working on one job's units together.

Each worker is a spawned process running :meth:`vidstyle.temporal.work.UnitWork.run` on the
job directory, like any other render of the job would: it takes units by lease, so workers
never compute the same frame, and a worker that dies leaves its unit to the others. Where
CUDA is present each worker gets its own GPU (``CUDA_VISIBLE_DEVICES``, round robin over
the visible ones); on a CPU each gets an equal share of the thread budget, never more
threads in all than the budget. The workers' progress comes back to the render over a queue
(finished frames, notes, and each worker's latest iterate, a few times a second).
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import queue as queue_module
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from vidstyle.compute.threads import use_budget
from vidstyle.errors import VidstyleError
from vidstyle.job.events import Event, FrameFinished, Note
from vidstyle.style.optimize import Iterate
from vidstyle.temporal.work import UnitWork, WorkStats

ITERATE_EVERY_S = 0.5  # how often a worker forwards its latest optimiser iterate


def worker_devices(device: torch.device, n: int) -> list[tuple[str, str | None]]:
    """Each worker's device and ``CUDA_VISIBLE_DEVICES`` (None: the environment's): one GPU
    each, round robin, where ``device`` is CUDA; else all on ``device``."""
    if device.type != "cuda":
        return [(str(device), None)] * n
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = (
        [x for x in visible.split(",") if x.strip()] if visible else [str(k) for k in range(torch.cuda.device_count())]
    )
    if device.index is not None:
        ids = [ids[device.index]] if device.index < len(ids) else ids
    return [("cuda", ids[k % len(ids)]) for k in range(n)] if ids else [(str(device), None)] * n


def thread_shares(budget: int, n: int) -> list[int]:
    """The thread budget split over ``n`` workers: equal shares, at least one each, and never
    more in all than ``budget`` unless there are more workers than threads (then one each)."""
    return [max(1, budget // n)] * n


@contextlib.contextmanager
def _environment(name: str, value: str | None) -> Iterator[None]:
    before = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if value is not None:
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before


def run_workers(root: Path, n: int, device: torch.device, budget: int, emit: Callable[[Event], None]) -> WorkStats:
    """Run ``n`` worker processes on the set-up job at ``root`` until every unit is done."""
    ctx = multiprocessing.get_context("spawn")
    events: Any = ctx.Queue()
    procs = []
    for k, ((dev, visible), threads) in enumerate(zip(worker_devices(device, n), thread_shares(budget, n))):
        with _environment("CUDA_VISIBLE_DEVICES", visible):
            p = ctx.Process(target=_worker, args=(str(root), dev, threads, events, k), name=f"vidstyle-worker-{k}")
            p.start()
        procs.append(p)
    total = WorkStats()
    errors: list[str] = []
    try:
        while any(p.is_alive() for p in procs) or not events.empty():
            try:
                kind, k, payload = events.get(timeout=0.2)
            except queue_module.Empty:
                continue
            if kind == "event":
                emit(payload)
            elif kind == "stats":
                total.units += payload.units
                total.computed += payload.computed
                total.reused += payload.reused
                total.overhead += payload.overhead
            elif kind == "error":
                errors.append(f"worker {k}: {payload}")
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    failed = [f"worker {k} exited with {p.exitcode}" for k, p in enumerate(procs) if p.exitcode]
    if errors or failed:
        raise VidstyleError("; ".join(errors or failed))
    return total


class Sendable:
    """Which of a worker's events go to the render that shows progress, made small enough to
    send: finished frames and notes; iterates at most every :data:`ITERATE_EVERY_S` seconds,
    without the image and with their losses on the CPU. Also used by the Ray actors."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, ev: Event) -> Event | None:
        if isinstance(ev, Iterate):
            now = time.monotonic()
            if now - self._last < ITERATE_EVERY_S:
                return None
            self._last = now
            parts = {name: v.detach().cpu() for name, v in ev.parts.items()}  # small; not the image
            return dataclasses.replace(ev, loss=ev.loss.detach().cpu(), parts=parts, image=torch.empty(0))
        return ev if isinstance(ev, FrameFinished | Note) else None


def _worker(root: str, device: str, threads: int, events: Any, k: int) -> None:
    """A worker process: the cooperative unit loop, its progress sent back on ``events``."""
    from vidstyle.flow.pipeline import die_with_parent

    die_with_parent()
    use_budget(threads)
    sendable = Sendable()

    def forward(ev: Event) -> None:
        if (small := sendable(ev)) is not None:
            events.put(("event", k, small))

    try:
        work = UnitWork.from_job(root)
        events.put(("stats", k, work.run(torch.device(device), forward)))
    except KeyboardInterrupt:
        pass
    except VidstyleError as e:
        events.put(("error", k, str(e)))
    except Exception as e:
        events.put(("error", k, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
