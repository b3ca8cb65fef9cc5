"""Units of work: a shot, or a chunk of a long shot, that one process renders from start to end.

Temporal terms never cross a cut, so a shot can be rendered independently of the others. A
long shot (``temporal.chunk`` frames or more) is split into chunks of at most ``chunk``
frames, as equal in length as possible, so that chunks of one shot also render in parallel.

Seams between chunks are hidden by a cross-fade: a chunk after the first starts
``overlap`` frames early (its *lead-in*, over the last frames of the chunk before) and
renders them as its own, stored apart from the earlier chunk's results (the job's
``lead`` results). The output shows, at each lead-in frame, the earlier chunk's result
blended with the later chunk's by a linear ramp (:func:`fade_weight`), so the painting
changes over ``overlap`` frames instead of jumping at the seam. Both chunks' renders of the
overlap are aligned to the same input frame, so the blend needs no warping.

Pure functions of the shot bounds and the temporal settings; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from vidstyle.settings import RenderSettings
from vidstyle.temporal.schedule import Task, shot_schedule


class ShotSpan(Protocol):
    """What :func:`plan_units` reads of a shot (:class:`~vidstyle.shots.Shot` has it)."""

    @property
    def index(self) -> int: ...

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...


@dataclass(frozen=True)
class Unit:
    """Frames [start, end) of shot ``shot``, rendered after a lead-in of ``lead`` frames
    before ``start`` (0 for a whole shot or a shot's first chunk). ``part`` numbers the
    chunks of a shot from 0; ``parts`` is how many it has (1: the unit is the whole shot)."""

    shot: int
    part: int
    parts: int
    start: int
    end: int
    lead: int = 0

    @property
    def first(self) -> int:
        """The first frame the unit renders (its lead-in's first, else ``start``)."""
        return self.start - self.lead

    @property
    def id(self) -> str:
        """A stable name, for lease files and people: ``shot0003`` or ``shot0003-part02``."""
        return f"shot{self.shot:04d}" + (f"-part{self.part:02d}" if self.parts > 1 else "")

    @property
    def frames(self) -> int:
        """Frames the unit renders, lead-in included."""
        return self.end - self.first

    def is_lead(self, pos: int) -> bool:
        """Whether frame ``pos`` is one of the unit's lead-in frames (stored apart)."""
        return self.first <= pos < self.start


def split_lengths(frames: int, chunk: int) -> list[int]:
    """``frames`` split into the fewest parts of at most ``chunk`` frames, as equal as possible
    (longer parts first): no tiny tail chunk that would be all seam."""
    n = -(-frames // chunk)
    base, extra = divmod(frames, n)
    return [base + 1 if k < extra else base for k in range(n)]


def plan_units(shots: Iterable[ShotSpan], chunk: int | None, overlap: int) -> list[Unit]:
    """The units of work of ``shots``, in order: each shot whole, or (with ``chunk`` set and a
    shot longer than ``chunk`` frames) split into chunks of at most ``chunk`` frames; a chunk
    after a shot's first gets a lead-in of ``overlap`` frames, at most the length of the
    chunk before it (so each output frame blends at most two renders)."""
    if chunk is not None and chunk < 2:
        raise ValueError(f"chunk must be at least 2 frames, got {chunk}")
    if overlap < 0:
        raise ValueError(f"overlap must be 0 or more frames, got {overlap}")
    units: list[Unit] = []
    for shot in shots:
        length = shot.end - shot.start
        if length <= 0:
            raise ValueError(f"empty shot {shot.index} [{shot.start}, {shot.end})")
        if chunk is None or length <= chunk:
            units.append(Unit(shot.index, 0, 1, shot.start, shot.end))
            continue
        lengths = split_lengths(length, chunk)
        start = shot.start
        for k, n in enumerate(lengths):
            lead = min(overlap, lengths[k - 1]) if k else 0
            units.append(Unit(shot.index, k, len(lengths), start, start + n, lead))
            start += n
    return units


def fade_weight(unit: Unit, pos: int) -> float:
    """The share of ``unit``'s lead-in render in the output at frame ``pos`` (0 outside its
    lead-in): a linear ramp 1/(lead+1), 2/(lead+1), …, lead/(lead+1) over the lead-in, so the
    earlier chunk's last frame before it is whole and the unit's ``start`` is all its own."""
    if not unit.is_lead(pos):
        return 0.0
    return (pos - unit.first + 1) / (unit.lead + 1)


def fades(units: Iterable[Unit]) -> dict[int, tuple[Unit, float]]:
    """Every cross-faded frame: position → (the unit whose lead-in render is blended in, its weight)."""
    return {pos: (u, fade_weight(u, pos)) for u in units for pos in range(u.first, u.start)}


def seams(units: Iterable[Unit]) -> list[int]:
    """Positions where a chunk of a shot starts after another (the first frame it owns)."""
    return [u.start for u in units if u.part > 0]


@dataclass(frozen=True)
class _Span:
    index: int
    start: int
    end: int


def job_units(spans: Sequence[tuple[int, int]], settings: Sequence[RenderSettings]) -> list[Unit]:
    """The units of a job's shots (spans [start, end) in order), each shot chunked by its own
    ``temporal.chunk`` and ``temporal.chunk_overlap``."""
    units: list[Unit] = []
    for k, ((a, b), st) in enumerate(zip(spans, settings)):
        units += plan_units([_Span(k, a, b)], st.temporal.chunk, st.temporal.chunk_overlap)
    return units


def unit_tasks(unit: Unit, settings: RenderSettings) -> list[Task]:
    """Every task of a unit (lead-in included), pass by pass."""
    return [t for p in shot_schedule(unit.shot, unit.first, unit.end, settings.temporal) for t in p]
