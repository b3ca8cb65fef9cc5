"""The per-shot schedule: which frame is optimised in which pass, from what start, tied to what.

Single pass (Ruder's sequential method): the shot's first frame is optimised alone, coarse
to fine; every later frame starts from the warped previous result and is tied to the
frames ``long_term`` back by the temporal loss.

Multipass (Ruder's multi-pass method): pass 1 optimises every frame alone; later passes
alternate direction (pass 2 backwards, pass 3 forwards, …); each frame starts from its
previous-pass result blended with the warped neighbour just done in this pass, and from
``temporal_from_pass`` on is tied to the frames before it in this pass's direction.

Pure functions of the shot bounds and the temporal settings; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vidstyle.settings import TemporalSettings

Kind = Literal["alone", "sequential", "multipass"]


@dataclass(frozen=True)
class Task:
    """One frame to optimise in one pass."""

    shot: int
    pass_: int  # 1-based
    pos: int  # frame position in the job
    step: int  # +1: this pass runs forwards in time, −1: backwards
    kind: Kind  # alone: from the content; sequential: warped start; multipass: blended start
    start_from: int | None  # neighbour (same pass) whose warped result forms the start
    neighbours: tuple[int, ...]  # frames (same pass) tied by the temporal loss, closest first
    first_of_shot: bool  # the shot's first frame in a single pass (gets the full first-frame budget)

    @property
    def offsets(self) -> tuple[int, ...]:
        """Distances (in this pass's order) to the neighbours."""
        return tuple(abs(n - self.pos) for n in self.neighbours)


def is_independent(t: TemporalSettings) -> bool:
    """Whether frames are optimised alone (the per-frame baseline)."""
    return t.passes == 1 and not t.warm_start and t.temporal_weight == 0


def pass_step(pass_: int) -> int:
    """Direction of a pass: 1 and odd passes forwards, even passes backwards."""
    return 1 if pass_ % 2 == 1 else -1


def _neighbours(pos: int, step: int, start: int, end: int, offsets: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for k in sorted(offsets):
        n = pos - step * k
        if start <= n < end:
            out.append(n)
    return tuple(out)


def pass_tasks(shot: int, start: int, end: int, pass_: int, t: TemporalSettings) -> list[Task]:
    """The tasks of one pass over frames [start, end) of a shot, in the order they run."""
    if not 0 <= start < end:
        raise ValueError(f"empty or invalid shot range [{start}, {end})")
    if not 1 <= pass_ <= t.passes:
        raise ValueError(f"pass {pass_} outside 1..{t.passes}")
    step = pass_step(pass_)
    order = range(start, end) if step == 1 else range(end - 1, start - 1, -1)
    temporal = t.temporal_weight > 0
    tasks: list[Task] = []
    for k, pos in enumerate(order):
        if t.passes == 1:
            if k == 0 or is_independent(t):
                tasks.append(Task(shot, 1, pos, step, "alone", None, (), True))
                continue
            start_from = pos - step if t.warm_start else None
            near = _neighbours(pos, step, start, end, t.long_term) if temporal else ()
            tasks.append(Task(shot, 1, pos, step, "sequential", start_from, near, False))
        elif pass_ == 1:
            tasks.append(Task(shot, 1, pos, step, "alone", None, (), False))
        else:
            start_from = pos - step if k > 0 else None
            tied = temporal and pass_ >= t.temporal_from_pass
            near = _neighbours(pos, step, start, end, t.long_term) if tied else ()
            tasks.append(Task(shot, pass_, pos, step, "multipass", start_from, near, False))
    return tasks


def shot_schedule(shot: int, start: int, end: int, t: TemporalSettings) -> list[list[Task]]:
    """All passes of a shot, each a list of tasks in running order."""
    return [pass_tasks(shot, start, end, p, t) for p in range(1, t.passes + 1)]
