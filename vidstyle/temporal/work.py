"""Working on a job's units together: take a free unit's lease, run it, give it back, repeat.

:class:`UnitWork` is everything a process needs to render units of a job that has been set
up (decoded, cut, ``job.json`` written): it is built from the job directory alone
(:meth:`UnitWork.from_job`), so any process on any host that sees the directory can join:
``vidstyle render`` run again, a worker of ``--workers N``, a Slurm task, or another
executor. :meth:`UnitWork.run` loops until every unit is done; each unit runs under its
lease (:mod:`vidstyle.job.leases`) with a :class:`~vidstyle.temporal.runner.ShotRunner`, and
the manifest is read again under the lease first, so nothing another process stored is
computed again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from vidstyle.job.events import Event, FrameFinished, Note
from vidstyle.job.leases import HEARTBEAT_S, STALE_S, take
from vidstyle.job.records import ResultRow
from vidstyle.job.store import FrameRecord, Job, ResultRecord
from vidstyle.settings import RenderSettings
from vidstyle.style.stylize import Stylizer
from vidstyle.temporal.runner import ShotRunner
from vidstyle.temporal.units import Unit, job_units, unit_tasks

Key = tuple[int, int]  # (pass, position)
POLL_S = 0.5  # how often a process with nothing to take looks again (units held by others)


def flow_source(decode: Mapping[str, Any]) -> str:
    """The flow cache's name for a job's decoded frames (from its ``decode`` key)."""
    return hashlib.sha256(json.dumps(decode, sort_keys=True).encode()).hexdigest()[:16]


@dataclasses.dataclass
class WorkStats:
    """What one process did: the units it ran, frames computed and reused, and the seconds
    spent around each unit outside the optimiser (lease, manifest, bookkeeping)."""

    units: list[str] = dataclasses.field(default_factory=list)
    computed: int = 0
    reused: int = 0
    overhead: list[float] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class UnitWork:
    """A set-up job's units and what is stored of them (see the module docstring)."""

    job: Job
    frames: list[FrameRecord]
    units: list[Unit]
    settings: dict[int, RenderSettings]  # by shot
    flow_source: str
    done: dict[Key, ResultRecord]  # the frames' own results, verified or stored since
    lead_done: dict[Key, ResultRecord]  # the chunks' lead-in renders
    damaged: dataclasses.InitVar[Sequence[ResultRecord]] = ()  # rows whose files were damaged when verified
    seen: tuple[dict[Key, ResultRecord], dict[Key, ResultRecord]] = dataclasses.field(init=False)  # the manifest then
    stale_after: float = STALE_S
    heartbeat: float = HEARTBEAT_S
    _manifest_at: tuple[int, int] = (0, -1)  # bytes of the manifest taken in, and its inode

    @classmethod
    def from_job(cls, root: str | os.PathLike[str], **kwargs: Any) -> UnitWork:
        """Load a set-up job (its stored frames checked against their checksums)."""
        job = Job(root)
        spec, frames = job.read_spec(), job.read_frames()
        if spec is None or frames is None:
            raise FileNotFoundError(f"{job.root}: the job is not set up (no job.json or frames.json)")
        settings = spec.shot_settings()
        spans = [(int(a), int(b)) for a, b in spec.shots]
        (done, damaged), (lead_done, lead_damaged) = job.verified_results(), job.verified_results(lead=True)
        return cls(job, frames, job_units(spans, settings), dict(enumerate(settings)), flow_source(spec.decode),
                   done, lead_done, damaged=[*damaged, *lead_damaged], **kwargs)  # fmt: skip

    def __post_init__(self, damaged: Sequence[ResultRecord]) -> None:
        bad = {(r.lead, r.pass_, r.pos): r for r in damaged}
        self.seen = tuple(  # type: ignore[assignment]
            {**target, **{(p, pos): r for (lead, p, pos), r in bad.items() if lead == is_lead}}
            for is_lead, target in ((False, self.done), (True, self.lead_done))
        )

    # -- what is stored ------------------------------------------------------------------
    def refresh(self) -> None:
        """Take in the results other processes stored since (the manifest's new lines only).
        A row already there when this process checked the files is kept out if its file was
        damaged then (it is redone); a new row is another process's durable result."""
        try:
            st = self.job.manifest_path.stat()
            size, inode = st.st_size, st.st_ino
        except OSError:
            size, inode = 0, 0
        offset, known = self._manifest_at
        if inode != known or size < offset:
            offset = 0  # repaired (rewritten) since: read it all again
        if size == offset and inode == known:
            return
        rows, offset, inode = self.job.rows_from(offset)  # only the new lines: a film's manifest is long
        self._manifest_at = (offset, inode)
        targets = (self.done, self.lead_done)
        for row in rows:
            if isinstance(row, ResultRow):
                rec = ResultRecord(row.shot, row.pass_, row.pos, row.sha, row.seconds, dict(row.losses), row.lead)
                key = (rec.pass_, rec.pos)
                if key not in targets[rec.lead] and self.seen[rec.lead].get(key) != rec:
                    targets[rec.lead][key] = rec
            else:  # a shot redone with new settings (by a render of the job, before this one joined)
                for target in targets:
                    for key in [k for k, r in target.items() if r.shot in row.shots]:
                        del target[key]

    def view(self, unit: Unit) -> dict[Key, ResultRecord]:
        """What the unit's runner sees as done: lead-in results at its lead-in frames."""
        own = {k: r for k, r in self.done.items() if unit.start <= k[1] < unit.end}
        lead = {k: r for k, r in self.lead_done.items() if unit.first <= k[1] < unit.start}
        return {**own, **lead}

    def is_done(self, unit: Unit) -> bool:
        return all(
            (t.pass_, t.pos) in (self.lead_done if unit.is_lead(t.pos) else self.done)
            for t in unit_tasks(unit, self.settings[unit.shot])
        )

    def pending(self) -> list[Unit]:
        self.refresh()
        return [u for u in self.units if not self.is_done(u)]

    # -- working ---------------------------------------------------------------------------
    def run(
        self,
        device: torch.device,
        emit: Callable[[Event], None] = lambda e: None,
        *,
        poll: float = POLL_S,
    ) -> WorkStats:
        """Render units until every unit of the job is done (by this process or others);
        waits while the units left are held by live processes, and takes over those whose
        holder died."""
        stats = WorkStats()
        stylizers: dict[str, Stylizer] = {}
        for unit in self.units:  # what was stored before: reported as reused, as a resumed shot's runner does
            if self.is_done(unit):
                for t in unit_tasks(unit, self.settings[unit.shot]):
                    rec = (self.lead_done if unit.is_lead(t.pos) else self.done)[(t.pass_, t.pos)]
                    stats.reused += 1
                    emit(FrameFinished(t.shot, t.pass_, t.pos, rec.seconds, rec.losses, skipped=True))
        began = time.perf_counter()  # scheduling time of the next unit: manifest, leases, bookkeeping
        while pending := self.pending():
            ran = False
            for unit in pending:
                lease = take(self.job.root, unit.id, stale_after=self.stale_after, heartbeat=self.heartbeat)
                if lease is None:
                    continue
                with lease:
                    self.refresh()  # under the lease: what others stored is never computed again
                    if self.is_done(unit):
                        continue
                    self.job.log(f"unit {unit.id} (frames {unit.first}-{unit.end - 1}) taken by pid {lease.pid} "
                                 f"on {lease.host}")  # fmt: skip
                    loading = time.perf_counter()  # the network, once per style: not scheduling
                    runner = self._runner(unit, device, stylizers, emit, stats)
                    began += time.perf_counter() - loading
                    done = self.view(unit)
                    ready = time.perf_counter()
                    runner.run(unit.shot, unit.first, unit.end, done, lead=unit.lead)
                    finished = time.perf_counter()
                    for key, rec in done.items():
                        (self.lead_done if rec.lead else self.done)[key] = rec
                stats.units.append(unit.id)
                stats.overhead.append((ready - began) + (time.perf_counter() - finished))
                ran = True
                break
            if not ran:
                time.sleep(poll)  # waiting for others is not overhead of a unit
            began = time.perf_counter()
        return stats

    def _runner(self, unit: Unit, device: torch.device, stylizers: dict[str, Stylizer],
                emit: Callable[[Event], None], stats: WorkStats) -> ShotRunner:  # fmt: skip
        st = self.settings[unit.shot]
        key = json.dumps([[str(p) for p in st.styles], json.loads(st.style.model_dump_json())], sort_keys=True)
        if key not in stylizers:
            stylizers.clear()  # one network at a time
            stylizers[key] = Stylizer(list(st.styles), st.style, device)

        def on_frame(ev: FrameFinished) -> None:
            if ev.skipped:
                stats.reused += 1
            else:
                stats.computed += 1
                # A frame with no losses was not optimised: its warped (or held) start was kept.
                loss = f"loss {ev.losses['total']:.4g}" if "total" in ev.losses else "kept its start, not optimised"
                self.job.log(f"shot {ev.shot} pass {ev.pass_} frame {ev.pos} done in {ev.seconds:.1f}s {loss}")
            emit(ev)

        return ShotRunner(self.job, self.frames, stylizers[key], st, flow_source=self.flow_source,
                          on_iteration=emit, on_frame=on_frame)  # fmt: skip


def note_units(work: UnitWork, emit: Callable[[Event], None]) -> None:
    """Say how the job is split where a shot was chunked."""
    chunked = [u for u in work.units if u.parts > 1]
    if chunked:
        emit(Note(f"{len(work.units)} units of work: {len(chunked)} chunks of long shots"))
