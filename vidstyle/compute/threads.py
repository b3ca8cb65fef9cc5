"""The thread budget: how many compute threads a render and its flow workers may start together.

Every process used to start as many compute threads as the machine has cores (torch's
OpenMP pool in the stylising process, OpenCV's pool in each flow worker), so one render
oversubscribed the cores by itself, and two renders side by side spent most of their time
waiting for descheduled threads at the end of each of the thousands of small parallel
operations of an optimiser step (issue 12). Here one number, the budget (``--threads``,
default: the cores this process may run on), is split between them:

* the optimising process gets ``budget − flow_workers`` torch threads, fewer for frames too
  small to keep them busy (:func:`torch_threads_for`);
* each flow worker process gets one OpenCV thread; below :data:`MIN_CORES_FOR_FLOW_WORKERS`
  cores there are no workers and the flow is computed in the stylising process between
  frames, with the same threads (it is a few percent of the work; a worker would only take a
  core away from the optimiser);
* the cores other processes keep busy are not counted on (:class:`CoreMonitor`, re-read every
  few iterations): two renders side by side each drop to the cores left to them;
* OpenMP threads spin only briefly before they sleep (``GOMP_SPINCOUNT``, set by
  :func:`configure_openmp` before torch is imported, unless the user chose a wait policy): a
  thread that spins while its partner is descheduled burns the core that partner needs.

The figures behind these choices come from bench/throughput.py on 2 cores, and are in the
README ("Speed on a CPU, and sharing the machine"). The thresholds above 2 cores
(:data:`MIN_CORES_FOR_FLOW_WORKERS`, :data:`PIXELS_PER_THREAD` beyond two threads) are
cautious guesses that still need measuring on a bigger machine.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

MIN_CORES_FOR_FLOW_WORKERS = 4
"""Below this budget, flow runs in the stylising process (no worker takes a core away). On 2
cores the old default (a flow worker with two OpenCV threads beside two torch threads) ran
a shot's first frame at 108 ms per iteration, against 58 ms now (128 px, balanced; the
worker's start-up overlaps that frame, so this is not the steady-state cost)."""

MAX_FLOW_WORKERS = 4
PIXELS_PER_THREAD = 1024
"""Smallest frame area per torch thread. Measured on 2 cores: at 64x35 px (2240 px) two
threads are still 1.5x faster than one; above 2 cores this bound is a cautious guess."""

_budget: int | None = None


SPIN_COUNT = 10000
"""OpenMP busy-wait before sleeping (GOMP_SPINCOUNT, ~10–30 µs): long enough to catch the next
of the step's back-to-back operations, short enough that a thread whose partner was
descheduled sleeps instead of burning the core the partner needs."""


def configure_openmp() -> None:
    """Bound how long OpenMP threads spin while they wait (unless the user chose a policy).

    Measured with bench/throughput.py on 2 cores (8-frame render, 128 px): libgomp's default
    (spin ~300k rounds) is as fast alone but 4.3x slower with two renders side by side;
    ``OMP_WAIT_POLICY=PASSIVE`` shares well but is 40 % slower alone (every one of the many
    small operations wakes a sleeping thread); a bounded spin keeps the solo speed, and
    :class:`CoreMonitor` takes threads away when the machine is shared.

    Takes effect only if called before torch (libgomp) starts its threads, i.e. before
    ``import torch``: :mod:`vidstyle` calls it first thing. Spawned flow workers inherit it.
    """
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's or taskset's cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_budget(threads: int | None = None) -> int:
    """The budget in force: ``threads`` if given, else the one set by :func:`set_budget`, else all cores."""
    if threads is not None:
        if threads < 1:
            raise ValueError("the thread budget must be at least 1")
        return int(threads)
    return _budget if _budget is not None else available_cores()


def set_budget(threads: int | None) -> ThreadPlan:
    """Set this process's thread budget (None: all available cores) and apply it.

    The optimiser's torch threads and OpenCV's threads in this process follow at once; flow
    pools created afterwards split the budget as :func:`plan_threads` says.
    """
    global _budget
    _budget = None if threads is None else resolve_budget(threads)
    return use_budget()


def use_budget(threads: int | None = None) -> ThreadPlan:
    """Apply ``threads`` as the budget if given, else the budget already in force; returns the split."""
    if threads is not None:
        return set_budget(threads)
    plan = plan_threads()
    set_torch_threads(plan.torch)
    try:
        import cv2

        cv2.setNumThreads(plan.torch if plan.flow_workers == 0 else 1)
    except ImportError:  # pragma: no cover - cv2 is a dependency
        pass
    return plan


@dataclass(frozen=True)
class ThreadPlan:
    """How one budget is split. ``torch + flow_workers × flow_threads ≤ budget`` always."""

    budget: int
    torch: int  # intra-op threads of the stylising process
    flow_workers: int  # flow worker processes (0: flow computed in the stylising process)
    flow_threads: int  # OpenCV threads per flow worker (in-process flow: torch's count, run in turn)

    @property
    def concurrent_threads(self) -> int:
        """Compute threads that may be running at once (in-process flow takes turns with torch)."""
        return self.torch + self.flow_workers * self.flow_threads


def plan_threads(threads: int | None = None, flow_workers: int | None = None) -> ThreadPlan:
    """Split the budget between the optimiser and the flow workers of a render.

    ``flow_workers`` is the user's explicit count (``--flow-workers``); it is capped so the
    optimiser keeps at least one thread. By default there are no workers below
    :data:`MIN_CORES_FOR_FLOW_WORKERS` cores, else one per 8 cores (at most 4), each with one
    thread: DIS flow of a pair takes tens of ms against seconds of optimisation per frame.
    """
    n = resolve_budget(threads)
    if flow_workers is None:
        workers = 0 if n < MIN_CORES_FOR_FLOW_WORKERS else min(MAX_FLOW_WORKERS, max(1, n // 8))
    else:
        workers = max(0, min(int(flow_workers), n - 1))
    if workers == 0:
        return ThreadPlan(n, n, 0, n)
    return ThreadPlan(n, n - workers, workers, 1)


def flow_only_plan(threads: int | None = None, workers: int | None = None) -> ThreadPlan:
    """The split for flow alone (``vidstyle flow``): the workers share the whole budget."""
    n = resolve_budget(threads)
    w = max(1, min(MAX_FLOW_WORKERS, n - 1)) if workers is None else max(0, min(int(workers), n))
    if w == 0:
        return ThreadPlan(n, 0, 0, n)
    return ThreadPlan(n, 0, w, max(1, n // w))


_reserved = 0  # threads of this process's live flow worker pools


def reserve_threads(n: int) -> None:
    """Flow workers with ``n`` threads in all started (negative: they stopped); torch gets the rest."""
    global _reserved
    _reserved = max(0, _reserved + n)


def reserved_threads() -> int:
    return _reserved


def torch_threads_for(pixels: int, threads: int | None = None) -> int:
    """Torch threads for optimising an image of ``pixels`` (H·W): the budget less the live flow
    workers' threads, fewer for small images, and no more than the cores other processes leave
    free (:class:`CoreMonitor`). ``threads`` overrides the first two."""
    cap = max(1, resolve_budget() - _reserved) if threads is None else threads
    free = _monitor.free_cores() if threads is None else None
    if free is not None:
        cap = min(cap, free)
    return max(1, min(cap, pixels // PIXELS_PER_THREAD))


class CoreMonitor:
    """How many of this process's cores other processes kept busy since the last look.

    Reads the per-CPU busy time of the cores in this process's affinity (``/proc/stat``,
    including time stolen by the hypervisor) and subtracts this process's own CPU time. A
    render that shares the machine then runs with the cores left to it: two threads that
    each wait for the other at every one of the step's thousands of operations lose far more
    when one of them is descheduled than a single thread loses by working alone (issue 12:
    two renders side by side took 6.4x their solo time with two threads each, 1.3x adapted).
    On other systems, or when ``/proc`` can't be read, it reports nothing and the plan stands.
    """

    MIN_WINDOW_S = 0.2  # shorter windows are too noisy to act on

    def __init__(self) -> None:
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = self._sample()
        self._free: int | None = None

    def _sample(self) -> tuple[float, float, float] | None:
        """(monotonic s, busy CPU-seconds of our cores, this process's CPU-seconds), or None."""
        try:
            cpus = {f"cpu{c}" for c in os.sched_getaffinity(0)}
            busy = 0
            with open("/proc/stat") as f:
                for line in f:
                    name, *fields = line.split()
                    if name in cpus:
                        # user nice system idle iowait irq softirq steal ...: all but idle and iowait
                        v = [int(x) for x in fields[:8]]
                        busy += sum(v) - v[3] - v[4]
            own = os.times()
        except (OSError, AttributeError, ValueError, IndexError):
            return None
        return time.monotonic(), busy / self._tick, own.user + own.system

    def free_cores(self) -> int | None:
        """Cores not used by other processes over the window since the last call (rounded
        generously: 1.3 free cores is 1, 1.8 is 2), or None when unknown; at least 1."""
        now = self._sample()
        last = self._last
        if now is None or last is None:
            return None
        if now[0] - last[0] < self.MIN_WINDOW_S:
            return self._free  # too soon: keep the last decision
        self._last = now
        wall = now[0] - last[0]
        others = max(0.0, (now[1] - last[1]) - (now[2] - last[2])) / wall
        cores = available_cores()
        self._free = max(1, min(cores, int(cores - others + 0.25)))
        return self._free


_monitor = CoreMonitor()


def set_torch_threads(n: int) -> None:
    """Set torch's intra-op thread count (a no-op when it is already ``n``)."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous count."""
    import torch

    before = torch.get_num_threads()
    set_torch_threads(n)
    try:
        yield
    finally:
        set_torch_threads(before)
