"""What a job has done and what is left: per shot and pass, time spent, estimated time left."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from vidstyle.errors import VidstyleError, file_error
from vidstyle.job.store import Job, JobDamaged
from vidstyle.temporal.schedule import shot_schedule


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
class JobStatus:
    """A job's progress; ``eta`` is None until a frame has been timed."""

    job: Path
    frames: int | None  # decoded frames (None: decoding not finished)
    shots: list[tuple[int, int, int]]  # (shot, start, end)
    passes: list[PassStatus]
    running: str | None  # who holds the lock, if anyone
    eta: float | None
    finished: bool

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
    finished = bool(passes) and all(p.complete for p in passes)
    return JobStatus(job.root, len(frames) if frames is not None else None, [(k, int(a), int(b)) for k, (a, b) in enumerate(spans)],
                     passes, job.lock_holder(), eta, finished)  # fmt: skip
