"""``--ray ADDRESS``: a job's units rendered by long-lived Ray actors, one per GPU (or CPU share).

The render that starts this has set the job up (decoded, cut, ``job.json`` written) and will
encode the output: decoding and encoding stay on the driver. Here:

* the flow of every unit's frame pairs is computed ahead by Ray CPU tasks into the job's
  flow cache (on the shared filesystem), so the actors find it there;
* each actor loads :class:`~vidstyle.temporal.work.UnitWork` from the job directory and runs
  its cooperative loop: it takes units by lease like any other render of the job, so actors,
  plain ``vidstyle render`` processes and Slurm tasks can work on one job together, a stored
  frame is never computed twice, and the unit of an actor that dies is taken over. The
  network and style targets stay loaded for all the units an actor runs.

Where the cluster has GPUs each actor asks for ``gpus`` of one (``num_gpus``; fractions
share a GPU); else the actors are CPU actors, each with an equal share of the thread budget.
Their progress (finished frames, notes, the latest iterate) is polled by the driver and
shown as a local render's.

Ray is optional (``pip install 'vidstyle[ray]'``); without it, or when the cluster cannot be
reached, :func:`connect` raises a one-line VidstyleError naming ``compute.ray``.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

import torch

from vidstyle.errors import VidstyleError
from vidstyle.job.events import Event, Note
from vidstyle.job.records import FrameRecord
from vidstyle.job.store import Job
from vidstyle.settings import RenderSettings
from vidstyle.temporal.units import Unit
from vidstyle.temporal.work import UnitWork, WorkStats
from vidstyle.temporal.workers import Sendable

POLL_S = 0.3  # how often the driver collects the actors' progress


def connect(address: str) -> Any:
    """Import Ray and connect to ``address`` ("auto": ``RAY_ADDRESS`` if set, else a local
    cluster started here; "local": a local cluster; else a cluster address such as
    ``ray://host:10001`` or ``host:6379``). Returns the ``ray`` module."""
    try:
        import ray
    except ImportError:
        raise VidstyleError("compute.ray: Ray is not installed (pip install 'vidstyle[ray]')") from None
    if ray.is_initialized():
        return ray
    target: str | None = address
    if address == "auto":
        target = os.environ.get("RAY_ADDRESS") or None
    elif address == "local":
        target = None
    if target is not None:
        _check_reachable(target)  # Ray itself retries an unreachable address for minutes
    try:
        ray.init(address=target, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except Exception as e:  # ConnectionError, TimeoutError, ValueError… from Ray
        where = target or "a local cluster"
        raise VidstyleError(
            f"compute.ray: cannot connect to {where} ({type(e).__name__}: {str(e).splitlines()[0]})"
        ) from None
    return ray


def _check_reachable(address: str, timeout: float = 3.0) -> None:
    """A TCP connection to ``host:port`` (or ``ray://host:port``) succeeds within ``timeout``
    seconds; else a one-line VidstyleError naming ``compute.ray``."""
    rest = address.split("://", 1)[-1]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise VidstyleError(
            f"compute.ray: {address!r} is not auto, local, or an address like head:6379 or ray://head:10001"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise VidstyleError(f"compute.ray: cannot reach the Ray cluster at {address} ({e.strerror or e})") from None


@dataclasses.dataclass(frozen=True)
class ActorPlan:
    """How many actors, and what each asks of the cluster."""

    actors: int
    gpus: float  # per actor (0: a CPU actor)
    threads: int  # compute threads per actor


def plan_actors(resources: dict[str, float], budget: int, gpus: float, workers: int | None) -> ActorPlan:
    """One actor per ``gpus`` of the cluster's GPUs; without GPUs, ``workers`` CPU actors
    (default: the cluster's CPUs over this render's thread budget, at least one), each with
    an equal share of the budget."""
    n_gpus = float(resources.get("GPU", 0.0))
    if n_gpus > 0 and gpus > 0:
        actors = max(1, int(n_gpus / gpus + 1e-9))
        return ActorPlan(actors, gpus, max(1, budget // max(1, min(actors, int(resources.get("CPU", actors))))))
    cpus = int(resources.get("CPU", 1))
    actors = workers if workers and workers > 0 else max(1, cpus // max(1, budget))
    return ActorPlan(actors, 0.0, max(1, min(budget, cpus) // actors))


def run_on_ray(
    work: UnitWork,
    address: str,
    device: torch.device,
    budget: int,
    emit: Callable[[Event], None],
    *,
    gpus: float = 1.0,
    workers: int | None = None,
) -> WorkStats:
    """Render every unit of the set-up job of ``work`` (the driver's view of it) with Ray
    actors (see the module docstring)."""
    ray = connect(address)
    plan = plan_actors(ray.cluster_resources(), budget, gpus, workers)
    root = work.job.root
    precompute = _flow_tasks(ray, work)
    actor_class = ray.remote(_UnitActor).options(num_cpus=1, num_gpus=plan.gpus, max_concurrency=2)
    actor_device = "cuda" if plan.gpus > 0 and device.type == "cuda" else "cpu"  # Ray sets each actor's GPU
    actors = [actor_class.remote(str(root), plan.threads) for _ in range(plan.actors)]
    emit(Note(f"Ray: {plan.actors} actor(s) on {actor_device}, {plan.gpus:g} GPU and {plan.threads} thread(s) each"))
    runs = [a.run.remote(actor_device) for a in actors]
    total = WorkStats()
    errors: list[str] = []
    try:
        pending = list(runs)
        alive = list(actors)
        while pending:
            ready, pending = ray.wait(pending, timeout=POLL_S, num_returns=len(pending))
            for a in list(alive):
                try:
                    events = ray.get(a.events.remote())
                except Exception:  # the actor died: its run reports why, its unit goes to the others
                    alive.remove(a)
                    continue
                for ev in events:
                    emit(ev)
            for ref in ready:
                try:
                    stats = ray.get(ref)
                except Exception as e:  # an actor that died: its unit is left to the others
                    errors.append(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                    continue
                total.units += stats.units
                total.computed += stats.computed
                total.reused += stats.reused
                total.overhead += stats.overhead
        for ref in precompute:
            try:
                ray.get(ref)
            except Exception as exc:  # the actors computed what they needed themselves
                emit(Note(f"Ray: a flow task failed ({type(exc).__name__}); the actors computed that flow themselves"))
    finally:
        for a in actors:
            ray.kill(a)
    if errors and not total.units:
        raise VidstyleError("compute.ray: every actor failed: " + "; ".join(errors))
    for err in errors:
        emit(Note(f"Ray: an actor stopped ({err}); its unit was left to the others"))
    return total


def _flow_tasks(ray: Any, work: UnitWork) -> list[Any]:
    """Ray CPU tasks that fill the job's flow cache for each unit's frame pairs, ahead of the
    actors; each gets what it needs (its frames' records and settings), not the whole job."""
    task = ray.remote(num_cpus=1)(_unit_flow)
    root = str(work.job.root)
    return [
        task.remote(root, unit, work.settings[unit.shot], work.frames[unit.first : unit.end], work.flow_source)
        for unit in work.units
    ]


def _unit_flow(root: str, unit: Unit, settings: RenderSettings, frames: Sequence[FrameRecord], source: str) -> int:
    """A Ray task: the flow of one unit's frame pairs, into the job's flow cache."""
    from vidstyle.compute.threads import use_budget

    use_budget(1)
    return precompute_flow(Job(root), unit, settings, frames, source)


def precompute_flow(job: Job, unit: Unit, settings: RenderSettings, frames: Sequence[FrameRecord], source: str) -> int:
    """Compute (or find) the flow and consistency weights of every frame pair that ``unit``
    ties (its temporal offsets, within the unit) in the job's flow cache (``source``: the
    cache's name for the job's frames), exactly as the unit's shot runner would ask for them.
    ``frames`` are the records of the unit's frames, ``unit.first`` to ``unit.end``. Returns
    the number of pairs."""
    from vidstyle.flow import backend_options, consistency_params
    from vidstyle.flow.backends import make_backend
    from vidstyle.flow.cache import FlowCache
    from vidstyle.flow.pipeline import cached_entry

    t, flow = settings.temporal, settings.flow
    if not (t.passes > 1 or t.warm_start or t.temporal_weight > 0) or unit.frames < 2:
        return 0
    backend = make_backend(flow.backend, **backend_options(flow))
    params = consistency_params(flow)
    cache = FlowCache(job.flow_dir, backend.identity(), params, source)
    images: dict[int, Any] = {}

    def image(pos: int) -> Any:
        if pos not in images:
            images[pos] = job.load_content(frames[pos - unit.first])
        return images[pos]

    count = 0
    for lo in range(unit.first, unit.end):
        for k in t.long_term:
            hi = lo + k
            if hi < unit.end:
                cached_entry(backend, params, cache, lo, hi, image(lo), image(hi))
                count += 1
        images.pop(lo, None)
    return count


class _UnitActor:
    """A long-lived worker: the cooperative unit loop on one job, its progress kept for the driver."""

    def __init__(self, root: str, threads: int) -> None:
        from vidstyle.compute.threads import use_budget

        use_budget(threads)
        self.root = root
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._sendable = Sendable()

    def run(self, device: str) -> WorkStats:
        work = UnitWork.from_job(self.root)
        return work.run(torch.device(device), self._keep)

    def events(self) -> list[Event]:
        with self._lock:
            out, self._events = self._events, []
        return out

    def _keep(self, ev: Event) -> None:
        if (small := self._sendable(ev)) is not None:
            with self._lock:
                self._events.append(small)
