"""Flow and consistency weights for the frames of a shot, computed ahead by worker processes.

:class:`FlowPipeline` takes frames in the order they will be stylised and yields, for each
frame i, what the temporal losses need from every earlier frame j = i−k (k in the
configured offsets, counted in positions of that order): the warping flow i→j and the
weights on frame i (raw and combined closest-first). Every unordered pair is computed once
(flow both ways plus both weight maps), stored in the :class:`~.cache.FlowCache`, and read
back on later runs or passes. Iterating frames in reverse order (a backward multipass
pass) reuses the same entries with the other direction.

Work happens in a pool of spawned worker processes (safe with torch and OpenCV threads),
``ahead`` frames in front of the consumer, so stylisation does not wait for flow. Memory
stays bounded: the last max(offsets) frames, and at most ``ahead`` frames of results.
``workers=0`` computes in the calling process, in order, with identical results.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import ctypes
import dataclasses
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

import cv2
import numpy as np

from vidstyle.compute.threads import ThreadPlan, plan_threads, reserve_threads
from vidstyle.errors import VidstyleError
from vidstyle.flow.backends import FlowBackend, make_backend
from vidstyle.flow.cache import FlowCache, PairEntry, pair_order
from vidstyle.flow.consistency import (
    ConsistencyParams,
    consistency_weights,
    long_term_weights,
)
from vidstyle.settings import FlowSettings

DEFAULT_OFFSETS: tuple[int, ...] = (1,)


@dataclasses.dataclass
class Link:
    """How frame ``source`` (j) is brought into the current frame i.

    ``flow`` is i→j (H×W×2 float32, for ``warp(stylised_j, flow)``); ``weights`` is Ruder's
    c on frame i (H×W float32); ``long_weights`` is c after the closest-first combination
    over all offsets available for frame i (equal to ``weights`` for the closest one).
    """

    offset: int
    source: int
    flow: np.ndarray
    weights: np.ndarray
    long_weights: np.ndarray


@dataclasses.dataclass
class FrameFlows:
    """One frame in stylisation order, with its links to the frames before it."""

    position: int
    index: int
    image: np.ndarray
    links: dict[int, Link]


class _HasImage(Protocol):
    index: int
    image: np.ndarray


FrameLike = tuple[int, np.ndarray] | _HasImage


def _unpack(frame: FrameLike) -> tuple[int, np.ndarray]:
    if isinstance(frame, tuple):
        idx, img = frame
    else:
        idx, img = frame.index, frame.image
    return int(idx), img


def compute_entry(
    backend: FlowBackend, params: ConsistencyParams, lo: int, hi: int, img_lo: np.ndarray, img_hi: np.ndarray
) -> PairEntry:
    """Flow both ways and both weight maps for the pair (lo < hi), stored as float16.

    The weights are computed from the float16-rounded flows, so what a caller gets is the
    same whether it was computed just now or read back from the cache.
    """
    fwd = backend.compute(img_lo, img_hi).astype(np.float16)
    bwd = backend.compute(img_hi, img_lo).astype(np.float16)
    f32, b32 = fwd.astype(np.float32), bwd.astype(np.float32)
    return PairEntry(
        lo=lo,
        hi=hi,
        flow_fwd=fwd,
        flow_bwd=bwd,
        weights_lo=consistency_weights(f32, b32, params).astype(np.float16),
        weights_hi=consistency_weights(b32, f32, params).astype(np.float16),
    )


def cached_entry(
    backend: FlowBackend,
    params: ConsistencyParams,
    cache: FlowCache | None,
    lo: int,
    hi: int,
    img_lo: np.ndarray,
    img_hi: np.ndarray,
) -> PairEntry:
    """The entry of the pair (lo < hi): read from ``cache`` when it is there, else computed
    with :func:`compute_entry` and stored. The one "load else compute" of flow, shared by the
    stylisation's pipeline and ``vidstyle eval``, so either reuses what the other stored."""
    size = (img_lo.shape[1], img_lo.shape[0])
    if cache is not None:
        hit = cache.load(lo, hi, size)
        if hit is not None:
            return hit
    entry = compute_entry(backend, params, lo, hi, img_lo, img_hi)
    if cache is not None:
        cache.store(entry)
    return entry


class _PairWorker:
    """Per-process state: the backend (its engine built once) and the cache."""

    def __init__(self, backend: FlowBackend, params: ConsistencyParams, cache: FlowCache | None) -> None:
        self.backend, self.params, self.cache = backend, params, cache

    def towards(self, i: int, j: int, img_i: np.ndarray, img_j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = pair_order(i, j)
        img_lo, img_hi = (img_i, img_j) if i == lo else (img_j, img_i)
        return cached_entry(self.backend, self.params, self.cache, lo, hi, img_lo, img_hi).towards(i, j)


_WORKER: _PairWorker | None = None


def die_with_parent(poll: float = 0.5) -> None:
    """Make this (worker) process exit when its parent dies, however the parent died.

    On Linux the kernel sends SIGKILL at the parent's death (``PR_SET_PDEATHSIG``); on every
    system a daemon thread also watches for being re-parented and exits then (macOS has no
    death signal). Without this a SIGKILLed or OOM-killed render left its flow workers, each
    holding hundreds of MB and the caller's stdout/stderr, running for hours.
    """
    parent = multiprocessing.parent_process()
    parent_pid = parent.pid if parent is not None and parent.pid else os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="vidstyle-parent-watch", daemon=True).start()


def _init_worker(backend: FlowBackend, params: ConsistencyParams, cache: FlowCache | None, threads: int) -> None:
    global _WORKER
    die_with_parent()
    # Ctrl-C is the parent's business: it cancels the pool; workers just finish their pair.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(threads)
    try:  # only matters for RAFT on the CPU; torch may not be imported at all
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    except Exception:
        pass
    _WORKER = _PairWorker(backend, params, cache)


def _worker_towards(i: int, j: int, img_i: np.ndarray, img_j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.towards(i, j, img_i, img_j)


class _Done:
    """A finished 'future' for work done in the calling process."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def result(self) -> Any:
        return self._value

    def cancel(self) -> bool:
        return False


class FlowPipeline:
    """Computes and caches flow + weights for frame pairs; see the module docstring.

    Use as a context manager (or call :meth:`close`) so the worker pool shuts down. One
    pipeline can serve several passes over the same shot; the pool is reused.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None,
        offsets: Sequence[int] = DEFAULT_OFFSETS,
        *,
        backend: FlowBackend | str = FlowSettings.model_fields["backend"].default,
        backend_options: dict[str, Any] | None = None,
        params: ConsistencyParams = ConsistencyParams(),
        workers: int | None = None,
        ahead: int | None = None,
        source: str = "",
        threads: ThreadPlan | None = None,
    ) -> None:
        offs = sorted({int(k) for k in offsets})
        if not offs or offs[0] < 1:
            raise VidstyleError(f"flow offsets {list(offsets)}: expected positive frame distances, e.g. 1 or 1,10,20")
        self.offsets: tuple[int, ...] = tuple(offs)
        self.backend = make_backend(backend, **(backend_options or {})) if isinstance(backend, str) else backend
        self.params = params
        self.cache = None if cache_dir is None else FlowCache(cache_dir, self.backend.identity(), params, source)
        if workers is None and self.backend.name == "raft":
            workers = 1  # RAFT holds a network per process (on the GPU): one worker is enough to stay ahead.
        # The thread budget decides how many workers run beside the optimiser, with how many
        # threads each (``threads``: another split, e.g. flow alone); see vidstyle.compute.threads.
        plan = threads if threads is not None else plan_threads(flow_workers=workers)
        self.workers = plan.flow_workers
        self.worker_threads = plan.flow_threads
        # Frames whose flow is requested before the current one is handed out (none when
        # computing in this process: that would only delay the first frame).
        self.ahead = max(0, int(ahead)) if ahead is not None else (max(4, 2 * self.workers) if self.workers else 0)
        self._local = _PairWorker(self.backend, params, self.cache)
        self._pool: cf.ProcessPoolExecutor | None = None

    # -- pool -------------------------------------------------------------------------
    def _submit(self, i: int, j: int, img_i: np.ndarray, img_j: np.ndarray) -> Any:
        if self.workers == 0:
            return _Done(self._local.towards(i, j, img_i, img_j))
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.backend, self.params, self.cache, self.worker_threads),
            )
            reserve_threads(self.workers * self.worker_threads)  # the optimiser's torch threads step aside
        return self._pool.submit(_worker_towards, i, j, img_i, img_j)

    def close(self) -> None:
        """Stop the worker processes (pending work is cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            reserve_threads(-self.workers * self.worker_threads)

    def __enter__(self) -> FlowPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- API --------------------------------------------------------------------------
    def pair(self, i: int, img_i: np.ndarray, j: int, img_j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(flow_ij, weights_i) as float32, computed in this process or read from the cache."""
        f, w = self._local.towards(i, j, img_i, img_j)
        return f.astype(np.float32), w.astype(np.float32)

    def iterate(self, frames: Iterable[FrameLike]) -> Iterator[FrameFlows]:
        """Yield each frame, in the given order, with its :class:`Link` to every earlier
        frame at the configured offsets (positions in this order).

        ``frames`` yields ``(index, image)`` tuples or objects with ``.index`` and
        ``.image`` (H×W×3 uint8 RGB, all the same size; indices distinct). Flow for the
        next ``ahead`` frames is computed in the background while the caller works.
        """
        window: collections.deque[tuple[int, np.ndarray]] = collections.deque(maxlen=self.offsets[-1])
        pending: collections.deque[tuple[int, int, np.ndarray, dict[int, tuple[int, Any]]]] = collections.deque()
        seen: set[int] = set()
        shape: tuple[int, ...] | None = None
        try:
            for pos, frame in enumerate(frames):
                idx, img = _unpack(frame)
                img = np.ascontiguousarray(img)
                if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                    raise VidstyleError(f"frame {idx}: expected an H×W×3 uint8 RGB image, got {img.shape} {img.dtype}")
                if shape is None:
                    shape = img.shape
                elif img.shape != shape:
                    raise VidstyleError(
                        f"frame {idx}: size {img.shape[1]}x{img.shape[0]} differs from {shape[1]}x{shape[0]}"
                    )
                if idx in seen:
                    raise VidstyleError(f"frame {idx} appears twice in one flow sequence")
                seen.add(idx)
                jobs: dict[int, tuple[int, Any]] = {}
                for k in self.offsets:
                    if k <= len(window):
                        j, img_j = window[-k]
                        jobs[k] = (j, self._submit(idx, j, img, img_j))
                pending.append((pos, idx, img, jobs))
                window.append((idx, img))
                while len(pending) > self.ahead:
                    yield self._finish(*pending.popleft())
            while pending:
                yield self._finish(*pending.popleft())
        except cf.BrokenExecutor:
            raise VidstyleError("a flow worker process died (out of memory?); try fewer flow.workers") from None
        finally:
            for _, _, _, jobs in pending:
                for _, fut in jobs.values():
                    fut.cancel()

    def _finish(self, pos: int, idx: int, img: np.ndarray, jobs: dict[int, tuple[int, Any]]) -> FrameFlows:
        raw: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        for k, (j, fut) in jobs.items():
            f, w = fut.result()
            raw[k] = (j, f.astype(np.float32), w.astype(np.float32))
        combined = long_term_weights({k: w for k, (_, _, w) in raw.items()})
        links = {k: Link(k, j, f, w, combined[k]) for k, (j, f, w) in raw.items()}
        return FrameFlows(pos, idx, img, links)
