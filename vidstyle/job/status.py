"""What a job has done and what is left: per shot and pass, per unit of work (who renders it,
and leases whose holder died), time spent, estimated time left."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from vidstyle.errors import VidstyleError, file_error
from vidstyle.job.leases import STALE_S, LeaseInfo, read_leases
from vidstyle.job.store import Job, JobDamaged
from vidstyle.temporal.schedule import shot_schedule
from vidstyle.temporal.units import job_units, unit_tasks


@dataclasses.dataclass
class PassStatus:
    """One pass of one shot."""

    shot: int
    pass_: int
    frames: int
    done: int
    seconds: float  # spent on the frames done

    @property
    def complete(self) -> bool:
        return self.done >= self.frames


@dataclasses.dataclass
class UnitStatus:
    """One unit of work (a shot, or a chunk of one): its progress and who holds its lease.

    ``state``: done; running (a live holder); stale (the holder died holding it: the next
    render to look takes it over and resumes it); partial (stopped part way, nobody on it);
    waiting (not started)."""

    unit: str
    shot: int
    first: int  # first frame rendered (lead-in included)
    start: int  # first frame owned
    end: int
    tasks: int
    done: int
    state: str
    holder: str | None  # "pid P on HOST" of the lease, if held or stale
    heartbeat_age: float | None  # seconds since the holder's last heartbeat

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {
            "heartbeat_age": None if self.heartbeat_age is None else round(self.heartbeat_age, 1)
        }


def _unit_state(done: int, tasks: int, lease: LeaseInfo | None) -> str:
    if done >= tasks:
        return "done"
    state = lease.state(STALE_S) if lease is not None else "free"
    if state == "held":
        return "running"
    if state == "stale":
        return "stale"
    return "partial" if done else "waiting"


@dataclasses.dataclass
class JobStatus:
    """A job's progress; ``eta`` is None until a frame has been timed."""

    job: Path
    frames: int | None  # decoded frames (None: decoding not finished)
    shots: list[tuple[int, int, int]]  # (shot, start, end)
    passes: list[PassStatus]
    running: str | None  # who holds the lock, or the live leases, if anyone
    eta: float | None
    finished: bool
    units: list[UnitStatus] = dataclasses.field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(p.done for p in self.passes)

    @property
    def total(self) -> int:
        return sum(p.frames for p in self.passes)

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.passes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": str(self.job), "frames": self.frames, "running": self.running, "finished": self.finished,
            "done": self.done, "total": self.total, "seconds": round(self.seconds, 1),
            "eta_seconds": None if self.eta is None else round(self.eta, 1),
            "shots": [{"shot": s, "start": a, "end": b} for s, a, b in self.shots],
            "passes": [{"shot": p.shot, "pass": p.pass_, "frames": p.frames, "done": p.done,
                        "seconds": round(p.seconds, 1)} for p in self.passes],
            "units": [u.to_dict() for u in self.units],
        }  # fmt: skip


def job_status(path: str | os.PathLike[str]) -> JobStatus:
    """Read a job directory (without locking it) and summarise its progress."""
    job = Job(path)
    if not job.root.is_dir():
        raise file_error(job.root, "job directory not found")
    try:
        spec = job.read_spec()
    except JobDamaged as e:
        raise VidstyleError(f"{e}; run the render again to repair the job") from None
    if spec is None:
        raise file_error(job.root, "not a vidstyle job (no job.json)")
    frames = job.read_frames()
    spans = [tuple(s) for s in spec.shots]
    try:
        settings = spec.shot_settings()
    except (ValueError, TypeError, KeyError) as e:
        raise VidstyleError(f"{job.config_path}: unreadable shot settings ({e})") from None
    results = job.results()
    passes: list[PassStatus] = []
    for k, ((start, end), st) in enumerate(zip(spans, settings)):
        for tasks in shot_schedule(k, int(start), int(end), st.temporal):
            recs = [results.get((t.pass_, t.pos)) for t in tasks]
            done = [r for r in recs if r is not None]
            passes.append(PassStatus(k, tasks[0].pass_, len(tasks), len(done), sum(r.seconds for r in done)))
    timed = [p for p in passes if p.done]
    eta = None
    if timed:
        overall = sum(p.seconds for p in timed) / sum(p.done for p in timed)
        eta = 0.0
        for p in passes:
            # The first pass of a shot includes its costly first frame; later passes are cheaper.
            per = p.seconds / p.done if p.done else overall
            eta += (p.frames - p.done) * per
    units = _units(job, [(int(a), int(b)) for a, b in spans], settings, results)
    finished = bool(passes) and all(p.complete for p in passes) and all(u.state == "done" for u in units)
    holders = sorted({u.holder for u in units if u.state == "running" and u.holder})
    running = job.lock_holder() or (", ".join(holders) if holders else None)
    return JobStatus(job.root, len(frames) if frames is not None else None, [(k, int(a), int(b)) for k, (a, b) in enumerate(spans)],
                     passes, running, eta, finished, units)  # fmt: skip


def _units(job: Job, spans: list[tuple[int, int]], settings: list[Any], results: dict[Any, Any]) -> list[UnitStatus]:
    """Each unit's progress (from the manifest) and lease."""
    leads = job.results(lead=True)
    leases = read_leases(job.root)
    out = []
    for u in job_units(spans, settings):
        tasks = unit_tasks(u, settings[u.shot])
        done = sum((t.pass_, t.pos) in (leads if u.is_lead(t.pos) else results) for t in tasks)
        lease = leases.get(u.id)
        state = _unit_state(done, len(tasks), lease)
        shown = lease is not None and state in ("running", "stale")
        out.append(UnitStatus(u.id, u.shot, u.first, u.start, u.end, len(tasks), done, state,
                              f"pid {lease.pid} on {lease.host}" if shown and lease else None,
                              lease.age() if shown and lease else None))  # fmt: skip
    return out
