"""Rendering a video: decode into a job, stylise shot by shot, encode with the source's timing and audio.

:func:`render` is the library entry point behind ``vidstyle render`` (and is exported as
``vidstyle.render``). Work goes into a job directory (see :mod:`vidstyle.job`); running the
same render again resumes it. Without an explicit job, one is kept beside the output
(``OUTPUT.vidstyle-job``) until the output is complete, so even a plain render resumes
after a crash or Ctrl-C.

The data flow: the input is decoded into the job (:mod:`vidstyle.job.media`), split into
shots at its cuts (:mod:`vidstyle.shots`; detected cuts are stored in the job and reused on
resume), and the shots (or chunks of long shots, :mod:`vidstyle.temporal.units`) are the
units of work. That setup is done by one render at a time (the job's lock); then any number
of renders of the same job (``--workers N``, or the same command run again elsewhere on a
shared filesystem) take units by lease and run each through its schedule with a
:class:`~vidstyle.temporal.runner.ShotRunner` (:mod:`vidstyle.temporal.work`). Once every
unit is done, the final pass of every frame is encoded, once (under JOB/encode.lock).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from vidstyle.compute.device import resolve_device
from vidstyle.compute.threads import ThreadPlan, use_budget
from vidstyle.config.plan import CutSpec, ShotPlan, UniformPlan, cut_settings
from vidstyle.errors import VidstyleError, file_error
from vidstyle.files.apart import Source, Target, check_apart, output_target, sequence_source
from vidstyle.files.identity import input_identity
from vidstyle.files.patterns import is_pattern
from vidstyle.job.events import Event, Note, Planned
from vidstyle.job.leases import refuse_while_held
from vidstyle.job.locks import flocked
from vidstyle.job.media import Fade, decode_into, encode_from, redecode_damaged, repaired
from vidstyle.job.spec import JobSpec, shot_identity
from vidstyle.job.store import FrameRecord, Job, JobBusyError, JobDamaged
from vidstyle.settings import ComputeSettings, EncodeSettings, FrameSelection, RenderSettings
from vidstyle.shots import Shot, ShotsSettings, shots_from_cuts, split_frames
from vidstyle.shots.model import FrameTimes
from vidstyle.temporal.units import fades, job_units, unit_tasks
from vidstyle.temporal.work import UnitWork, flow_source
from vidstyle.temporal.workers import run_workers
from vidstyle.video import check_output
from vidstyle.video.timeline import PositionLike

JOB_SUFFIX = ".vidstyle-job"
Progress = Callable[[Event], None]


@dataclasses.dataclass
class RenderResult:
    """What a finished render produced."""

    output: Path
    job: Path | None
    frames: int
    shots: int
    computed: int
    reused: int
    seconds: float
    unit_overhead: list[float] = dataclasses.field(default_factory=list)  # seconds around each unit run here


def default_job_dir(output: Path) -> Path:
    """Where a render without ``job`` keeps its work: ``OUTPUT.vidstyle-job`` beside the output."""
    return output.with_name(output.name + JOB_SUFFIX)


_STRIDE: int = FrameSelection.model_fields["stride"].default
_RAY_GPUS: float = ComputeSettings.model_fields["ray_gpus"].default


def render(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    plan: RenderSettings | ShotPlan,
    *,
    cuts: CutSpec | None = None,
    job: str | os.PathLike[str] | None = None,
    keep_job: bool = False,
    start: PositionLike | None = None,
    end: PositionLike | None = None,
    stride: int = _STRIDE,
    encode: EncodeSettings | None = None,
    device: str | torch.device | None = None,
    redo_changed: bool = False,
    progress: Progress | None = None,
    protect: Sequence[Source] = (),
    threads: int | None = None,
    workers: int = 1,
    ray: str | None = None,
    ray_gpus: float = _RAY_GPUS,
) -> RenderResult:
    """Stylise ``input`` into ``output``; see the module docstring for jobs and resuming.

    ``plan`` gives each shot's settings (the first shot's size applies to all). ``cuts``
    says where shots start (:data:`CutSpec`; default: the plan's ``shots`` settings, else
    ``ShotsSettings()``, which detects cuts as ``vidstyle render`` does). ``start``/``end``
    (seconds, "1:02.5" or "120f") and ``stride`` select the frames. With an explicit
    ``job`` whose stored settings differ, the render refuses unless ``redo_changed``, which
    redoes the shots whose settings changed. ``protect`` names more files the render reads
    (a config file): like the input and the style images, the output and the job may not
    replace them or live inside them. ``device``: cpu, cuda, cuda:N or auto (default
    ``ComputeSettings.device``). ``threads`` is the compute-thread budget of this process
    and its flow workers (default: the one in force; see :mod:`vidstyle.compute.threads`);
    ``workers`` > 1 renders the units in that many processes, each with its own GPU or an
    equal share of the threads. ``ray`` ("auto", "local" or a cluster address) renders them with
    Ray actors instead, ``ray_gpus`` of a GPU each where the cluster has GPUs (see
    :mod:`vidstyle.temporal.ray_actors`). Other renders of the same job may work on it at the same time.

    Raises VidstyleError (one line, naming the file or setting) for bad input; returns
    what was written.
    """
    began, began_wall = time.perf_counter(), time.time()
    split = use_budget(threads)
    input, output = Path(input), Path(output)
    emit: Progress = progress or (lambda e: None)
    plan = UniformPlan(plan) if isinstance(plan, RenderSettings) else plan
    shots_settings = cut_settings(cuts if cuts is not None else getattr(plan, "shots", None))
    stride = FrameSelection(start=_str(start), end=_str(end), stride=stride).stride
    encode = encode or EncodeSettings()
    if not (input.exists() or is_pattern(input)):
        raise file_error(input, "file not found")
    implicit = job is None
    job_dir = default_job_dir(output) if implicit else Path(job)  # type: ignore[arg-type]
    base = plan.settings
    targets = [output_target(output), Target("job directory", job_dir, "folder")]
    check_apart(targets, [sequence_source(input), *protect, *settings_sources(base)])
    check_output(output, encode.codec)
    dev = resolve_device(device)
    if ray is not None:  # a missing Ray or an unreachable cluster fails before any work
        from vidstyle.temporal.ray_actors import connect

        connect(ray)
    if not implicit and job_dir.exists() and not job_dir.is_dir():
        raise file_error(job_dir, "exists and is not a directory")
    j = Job(job_dir)
    check_styles(base, "")
    decode_key = {
        "input": input_identity(input),
        "size": base.size,
        "start": _str(start),
        "end": _str(end),
        "stride": stride,
    }
    ctx = _Context(input, output, plan, j, shots_settings, start, end, stride, encode, dev, implicit or redo_changed,
                   emit, decode_key, lambda st: check_apart(targets, settings_sources(st)), split,
                   workers, threads, began_wall, ray, ray_gpus)  # fmt: skip

    created = not job_dir.exists()
    try:
        with flocked(j.root / "attached", shared=True):  # other renders see this one at work on the job
            with _setup_lock(j, emit):
                frames, shots, work = _setup(ctx)
            _work(ctx, work, shots)
            _encode_once(ctx, work, frames, shots)
        sole = implicit and not keep_job and _alone(j)
    except Exception:  # not Ctrl-C: the CLI then says the job is kept for resuming (its decoded frames)
        if created:
            discard_if_empty(j)
        raise
    if sole:
        shutil.rmtree(job_dir, ignore_errors=True)
    return RenderResult(output, None if sole else job_dir, len(frames), len(shots),
                        ctx.computed, ctx.reused, time.perf_counter() - began, ctx.overhead)  # fmt: skip


def settings_sources(settings: RenderSettings) -> list[Source]:
    """The files a shot's settings read: style images, a start image, weights files."""
    out = [Source("style image", Path(p)) for p in settings.styles]
    if settings.optim.init not in ("content", "noise"):
        out.append(Source("start image", Path(settings.optim.init)))
    for what, p in (("network weights", settings.style.weights), ("RAFT weights", settings.flow.raft_weights)):
        if p is not None:
            out.append(Source(what, Path(p)))
    return out


def check_styles(settings: RenderSettings, where: str) -> None:
    """Every style image of ``settings`` exists and reads as an image (before any work)."""
    from vidstyle.image.load import check_image

    if not settings.styles:
        raise VidstyleError(f"{where}no style image given")
    for p in settings.styles:
        if not Path(p).is_file():
            raise file_error(p, f"style image{' of ' + where.rstrip(': ') if where else ''} not found")
        check_image(p)


def discard_if_empty(j: Job) -> None:
    """Remove a job directory that this render created and that holds no stylised frame."""
    try:
        if j.results():
            return
    except Exception:
        pass
    shutil.rmtree(j.root, ignore_errors=True)


@dataclasses.dataclass
class _Context:
    """One render's inputs and counters, passed through its steps."""

    input: Path
    output: Path
    plan: ShotPlan
    job: Job
    cuts: ShotsSettings | tuple[int, ...]
    start: PositionLike | None
    end: PositionLike | None
    stride: int
    encode: EncodeSettings
    device: torch.device
    may_redo: bool  # a changed job may be redone (implicit job, or redo_changed)
    emit: Progress
    decode_key: dict[str, Any]
    check: Callable[[RenderSettings], None]
    split: ThreadPlan
    workers: int
    threads: int | None
    began: float  # time.time() at the start: an output encoded since by another render is not redone
    ray: str | None = None  # a Ray cluster to render the units on
    ray_gpus: float = 1.0
    computed: int = 0
    reused: int = 0
    identities: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # each shot's settings
    overhead: list[float] = dataclasses.field(default_factory=list)


def _setup_lock(j: Job, emit: Progress) -> Any:
    """The job's lock, for setting it up: waited for (with a note) while another render holds it."""
    try:
        with j.locked():
            pass
    except JobBusyError as e:
        emit(Note(f"{e}; waiting until it has set the job up, then working on it together"))
    return j.locked(wait=True)


def _alone(j: Job) -> bool:
    """Whether no other render is attached to the job (it may then be removed)."""
    with flocked(j.root / "attached", blocking=False) as alone:
        return alone


def _setup(ctx: _Context) -> tuple[list[FrameRecord], list[Shot], UnitWork]:
    """With the job locked: check the stored spec, decode, cut, write job.json, check the results."""
    j, base = ctx.job, ctx.plan.settings
    j.log(f"render {ctx.input} → {ctx.output} on {ctx.device}, {ctx.split.budget} threads: {ctx.split.torch} "
          f"for torch, {ctx.split.flow_workers} flow worker(s)")  # fmt: skip
    stored = _stored_spec(ctx)
    frames = j.read_frames() if stored is not None else None
    for text in j.repairs:
        repaired(j, ctx.emit, text)
    j.repairs.clear()
    sel = (ctx.start, ctx.end, ctx.stride)
    if frames is None:
        frames = decode_into(ctx.input, j, base.size, *sel, ctx.emit)
    else:
        frames = redecode_damaged(ctx.input, j, frames, base.size, *sel, ctx.emit)
    shots = _shots(ctx, frames, stored)
    for line in getattr(ctx.plan, "warnings_for", lambda _shots: [])(shots):
        repaired(j, ctx.emit, f"warning: {line}")
    shot_settings = [ctx.plan.settings_for(s) for s in shots]
    for s, st in zip(shots, shot_settings):
        if st is not base:
            check_styles(st, f"shot {s.index}: ")
            ctx.check(st)
    identities = ctx.identities[:] = [shot_identity(st) for st in shot_settings]
    spans = [(s.start, s.end) for s in shots]
    if stored is not None and (changed := stored.changed_shots(spans, identities)):
        if not ctx.may_redo:
            raise VidstyleError(f"{j.root}: settings differ from the job's ({'; '.join(changed[1])}); "
                                "use render.redo_changed to redo the affected shots")  # fmt: skip
        refuse_while_held(j.root, "redo the changed shots")
        j.invalidate_shots(changed[0], "; ".join(changed[1]))
        j.log(f"redoing shots {changed[0]}: {'; '.join(changed[1])}")
    cut_record = json.loads(ctx.cuts.model_dump_json()) if isinstance(ctx.cuts, ShotsSettings) else None
    j.write_spec(JobSpec(decode=ctx.decode_key, shots=spans, settings=identities, cuts=cut_record,
                         encode=json.loads(ctx.encode.model_dump_json())))  # fmt: skip

    done, damaged = j.verified_results()
    lead_done, lead_damaged = j.verified_results(lead=True)
    for rec in [*damaged, *lead_damaged]:
        repaired(j, ctx.emit, f"stored frame {rec.pos} (pass {rec.pass_}) is missing or damaged; redoing it")
    units = job_units(spans, shot_settings)
    work = UnitWork(j, frames, units, dict(enumerate(shot_settings)), flow_source(json.loads(json.dumps(ctx.decode_key))),
                    done, lead_done, [*damaged, *lead_damaged])  # fmt: skip
    return frames, shots, work


def _work(ctx: _Context, work: UnitWork, shots: list[Shot]) -> None:
    """Render the units (with other renders of the job, and in ``workers`` processes)."""
    counts: dict[int, list[int]] = {s.index: [0, 0] for s in shots}
    for u in work.units:
        tasks = unit_tasks(u, work.settings[u.shot])
        counts[u.shot][0] += len(tasks)
        counts[u.shot][1] += sum((t.pass_, t.pos) in (work.lead_done if u.is_lead(t.pos) else work.done) for t in tasks)
    ctx.emit(Planned(ctx.job.root, len(work.frames), [(s, *counts[s.index]) for s in shots]))  # type: ignore[misc]
    try:
        if ctx.ray is not None:
            from vidstyle.temporal.ray_actors import run_on_ray  # Ray is optional: imported only when asked for

            stats = run_on_ray(work, ctx.ray, ctx.device, ctx.split.budget, ctx.emit, gpus=ctx.ray_gpus,
                               workers=ctx.workers)  # fmt: skip
            stats.reused = sum(d for _, d in counts.values())  # each actor reports all it found stored
            work.refresh()
        elif ctx.workers > 1:
            stats = run_workers(ctx.job.root, ctx.workers, ctx.device, ctx.split.budget, ctx.emit)
            stats.reused = sum(d for _, d in counts.values())  # each worker reports all it found stored
            work.refresh()
        else:
            stats = work.run(ctx.device, ctx.emit)
    except KeyboardInterrupt:
        ctx.job.log("interrupted; finished frames are kept and the render resumes from here")
        raise
    except BaseException as e:
        ctx.job.log(f"stopped by {type(e).__name__}: {e}")
        raise
    ctx.computed, ctx.reused, ctx.overhead = ctx.computed + stats.computed, ctx.reused + stats.reused, stats.overhead


def _encode_once(ctx: _Context, work: UnitWork, frames: list[FrameRecord], shots: list[Shot]) -> None:
    """Encode the output unless a render working beside this one has just encoded the same frames."""
    j = ctx.job
    final = {s.index: work.settings[s.index].temporal.passes for s in shots}
    last_pass = [final[s.index] for s in shots for _ in range(s.start, s.end)]
    crossfaded: dict[int, Fade] = {
        pos: (work.lead_done[(final[u.shot], pos)], w) for pos, (u, w) in fades(work.units).items()
    }
    with flocked(j.root / "encode.lock"):
        work.refresh()
        spans = [[s.start, s.end] for s in shots]
        record = {"decode": {k: v for k, v in ctx.decode_key.items() if k != "input"}, "shots": ctx.identities,
                  "spans": spans}  # fmt: skip
        if encode_from(ctx.input, ctx.output, j, frames, last_pass, work.done, ctx.encode, ctx.start, ctx.end,
                       ctx.stride, record, ctx.emit, crossfaded, unless_since=ctx.began):  # fmt: skip
            j.log(f"wrote {ctx.output}")
        else:
            j.log(f"{ctx.output} was encoded by another render working on the job")


def _stored_spec(ctx: _Context) -> JobSpec | None:
    """The job's stored spec, or None where there is none to keep (new, damaged, or a changed
    input or frame selection: then the job starts over)."""
    j = ctx.job
    try:
        stored = j.read_spec()
    except JobDamaged as e:
        repaired(j, ctx.emit, f"{e}; starting the job over")
        j.reset()
        stored = None
    j.repair_manifest()
    if stored is not None and (changes := stored.selection_changes(ctx.decode_key)):
        if not ctx.may_redo:
            raise VidstyleError(f"{j.root}: the input or frame selection changed ({'; '.join(changes)}); "
                                "use render.redo_changed to start this job over, or another render.job")  # fmt: skip
        refuse_while_held(j.root, "start the job over")
        j.log(f"input or frame selection changed, starting over: {'; '.join(changes)}")
        j.reset()
        stored = None
    return stored


def _shots(ctx: _Context, frames: list[FrameRecord], stored: JobSpec | None) -> list[Shot]:
    """The shots over the decoded frames: the stored ones when the job found them with the
    same cut settings (no second detection on resume), else cut or detected now."""
    pairs = [(f.index, f.time) for f in frames]
    times = FrameTimes.from_pairs(pairs, stride=ctx.stride)
    if isinstance(ctx.cuts, tuple):
        return shots_from_cuts(times, ctx.cuts)
    same = stored is not None and stored.cuts == json.loads(ctx.cuts.model_dump_json()) and stored.shots
    if same and stored is not None and stored.shots[-1][1] == len(frames):
        return shots_from_cuts(times, [a for a, _ in stored.shots])
    shots = split_frames(ctx.input, pairs, ctx.cuts, start=ctx.start, end=ctx.end, stride=ctx.stride)
    if ctx.cuts.cuts == "auto":
        ctx.job.log(f"detected {len(shots) - 1} cut(s): shots start at {[s.start for s in shots]}")
    return shots


def _str(value: Any) -> Any:
    return None if value is None else str(value)
