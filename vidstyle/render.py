"""Rendering a video: decode into a job, stylise shot by shot, encode with the source's timing and audio.

:func:`render` is the library entry point behind ``vidstyle render``. Work goes into a job
directory (see :mod:`vidstyle.job.store`); running the same render again resumes it. Without an
explicit job, one is kept beside the output (``OUTPUT.vidstyle-job``) until the output is
complete, so even a plain ``vidstyle render`` resumes after a crash or Ctrl-C.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

from vidstyle.compute.device import resolve_device
from vidstyle.errors import VidstyleError, file_error
from vidstyle.job.spec import record_metadata
from vidstyle.job.store import FrameRecord, Job, JobDamaged, ResultRecord
from vidstyle.style.optimize import Iterate
from vidstyle.files.apart import Source, Target, check_apart, output_target, sequence_source
from vidstyle.temporal.runner import FrameFinished, ShotRunner
from vidstyle.temporal.schedule import shot_schedule
from vidstyle.settings import EncodeSettings, RenderSettings
from vidstyle.style.stylize import Stylizer
from vidstyle.compute.threads import ThreadPlan, use_budget
from vidstyle.video import VideoWriter, check_output, open_video
from vidstyle.video.sequence import is_pattern

JOB_SUFFIX = ".vidstyle-job"


@dataclasses.dataclass(frozen=True)
class ShotSpan:
    """A shot as the renderer sees it: frames [start, end) of the job (positions)."""

    index: int
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start


class ShotPlan(Protocol):
    """Per-shot settings (a TOML config implements this); a plain RenderSettings is one plan for all.

    ``settings`` holds what applies to the whole video (the frame size).
    """

    @property
    def settings(self) -> RenderSettings: ...

    def settings_for(self, shot: Any) -> RenderSettings: ...


@dataclasses.dataclass(frozen=True)
class UniformPlan:
    """The same settings for every shot."""

    settings: RenderSettings

    def settings_for(self, shot: ShotSpan) -> RenderSettings:
        return self.settings


# -- progress events -------------------------------------------------------------------------
@dataclasses.dataclass
class Planned:
    """The work ahead: tasks per shot (frames × passes) and how many are already stored."""

    job: Path
    frames: int
    shots: list[tuple[ShotSpan, int, int]]  # (shot, tasks, already done)


@dataclasses.dataclass
class Stage:
    """A coarse step (decoding, encoding…) with its progress."""

    name: str
    done: int
    total: int | None


@dataclasses.dataclass
class Note:
    """Something a person should know (a redone frame, a truncated input…)."""

    text: str


Event = Planned | Stage | Note | FrameFinished | Iterate
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


# -- job identity ----------------------------------------------------------------------------
def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _input_identity(path: Path) -> dict[str, Any]:
    st = (path.parent if is_pattern(path) else path).stat()  # a pattern's folder changes with its files
    return {"path": str(path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _shot_identity(settings: RenderSettings) -> dict[str, Any]:
    """What decides a shot's pixels: its settings and the contents of its style images."""
    data = json.loads(settings.model_dump_json())
    data["styles"] = [{"path": str(p), "sha256": _file_sha(Path(p))} for p in settings.styles]
    data["flow"].pop("workers", None)  # how fast, not what
    return data


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Human-readable differences between two JSON-like values."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new)):
            out += _diff(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    return [] if old == new else [f"{prefix}: {old!r} → {new!r}"]


# -- render --------------------------------------------------------------------------------
def default_job_dir(output: Path) -> Path:
    return output.with_name(output.name + JOB_SUFFIX)


def render(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    plan: RenderSettings | ShotPlan,
    *,
    job: str | os.PathLike[str] | None = None,
    keep_job: bool = False,
    start: Any = None,
    end: Any = None,
    stride: int = 1,
    cuts: Callable[[Path, list[FrameRecord]], list[ShotSpan]] | None = None,
    encode: EncodeSettings | None = None,
    device: str | torch.device = "auto",
    redo_changed: bool = False,
    progress: Progress | None = None,
    protect: Sequence[Source] = (),
    threads: int | None = None,
) -> RenderResult:
    """Stylise ``input`` into ``output``; see the module docstring for jobs and resuming.

    ``plan`` gives each shot's settings (the first shot's size and trim apply to all);
    ``cuts`` splits the decoded frames into shots (default: one shot). With an explicit
    ``job`` whose stored settings differ, the render refuses unless ``redo_changed``, which
    redoes the shots whose settings changed. ``protect`` names more files the render reads
    (a config file): like the input and the style images, the output and the job may not
    replace them or live inside them. ``threads`` is the compute-thread budget of this
    process and its flow workers (default: the one in force, all cores unless set; see
    :mod:`vidstyle.compute.threads`).
    """
    began = time.perf_counter()
    split = use_budget(threads)
    input, output = Path(input), Path(output)
    emit = progress or (lambda e: None)
    plan = UniformPlan(plan) if isinstance(plan, RenderSettings) else plan
    encode = encode or EncodeSettings()
    if not (input.exists() or is_pattern(input)):
        raise file_error(input, "file not found")
    implicit = job is None
    job_dir = default_job_dir(output) if implicit else Path(job)
    base = plan.settings
    targets = [output_target(output), Target("job directory", job_dir, "folder")]
    check_apart(targets, [sequence_source(input), *protect, *settings_sources(base)])
    check_output(output, encode.codec)
    dev = resolve_device(device)
    if not implicit and job_dir.exists() and not job_dir.is_dir():
        raise file_error(job_dir, "exists and is not a directory")
    j = Job(job_dir)
    check_styles(base, "")
    decode_key = {"input": _input_identity(input), "size": base.size, "start": _str(start), "end": _str(end), "stride": stride}

    created = not job_dir.exists()
    try:
        return _render_locked(
            input, output, plan, j, implicit=implicit, keep_job=keep_job, start=start, end=end, stride=stride,
            cuts=cuts, encode=encode, dev=dev, redo_changed=redo_changed, emit=emit, began=began,
            decode_key=decode_key, check=lambda st: check_apart(targets, settings_sources(st)), split=split,
        )  # fmt: skip
    except Exception:  # not Ctrl-C: the CLI then says the job is kept for resuming (its decoded frames)
        if created:
            discard_if_empty(j)
        raise


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
    except Exception:  # noqa: BLE001 - an unreadable manifest holds nothing we can use either
        pass
    shutil.rmtree(j.root, ignore_errors=True)


def _render_locked(
    input: Path, output: Path, plan: ShotPlan, j: Job, *, implicit: bool, keep_job: bool, start: Any, end: Any,
    stride: int, cuts: Callable[[Path, list[FrameRecord]], list[ShotSpan]] | None, encode: EncodeSettings,
    dev: torch.device, redo_changed: bool, emit: Progress, began: float, decode_key: dict[str, Any],
    check: Callable[[RenderSettings], None], split: ThreadPlan,
) -> RenderResult:  # fmt: skip
    job_dir = j.root
    base = plan.settings
    with j.locked():
        j.log(f"render {input} → {output} on {dev}, {split.budget} threads: {split.torch} for torch, "
              f"{split.flow_workers} flow worker(s)")  # fmt: skip
        try:
            stored = j.read_config()
        except JobDamaged as e:
            _repaired(j, emit, f"{e}; starting the job over")
            _reset(j)
            stored = None
        j.repair_manifest()
        if stored is not None and stored.get("decode") != decode_key:
            changes = _diff(stored.get("decode"), decode_key)
            if not (implicit or redo_changed):
                raise VidstyleError(f"{job_dir}: the input or frame selection changed ({'; '.join(changes)}); "
                                    "use --redo-changed to start this job over, or another --job")  # fmt: skip
            j.log(f"input or frame selection changed, starting over: {'; '.join(changes)}")
            _reset(j)
            stored = None

        frames = j.read_frames() if stored is not None else None
        for text in j.repairs:
            _repaired(j, emit, text)
        j.repairs.clear()
        if frames is None:
            frames = _decode(input, j, base.size, start, end, stride, emit)
        else:
            frames = _redecode_damaged(input, j, frames, base.size, start, end, stride, emit)
        shots = cuts(input, frames) if cuts is not None else [ShotSpan(0, 0, len(frames))]
        shot_settings = [plan.settings_for(s) for s in shots]
        for s, st in zip(shots, shot_settings):
            if st is not base:
                check_styles(st, f"shot {s.index}: ")
                check(st)
        identities = [_shot_identity(st) for st in shot_settings]
        spans = [[s.start, s.end] for s in shots]

        if stored is not None:
            changed = _changed_shots(stored, spans, identities)
            if changed:
                if not (implicit or redo_changed):
                    raise VidstyleError(f"{job_dir}: settings differ from the job's ({'; '.join(changed[1])}); "
                                        "use --redo-changed to redo the affected shots")  # fmt: skip
                j.invalidate_shots(changed[0], "; ".join(changed[1]))
                j.log(f"redoing shots {changed[0]}: {'; '.join(changed[1])}")
        j.write_config({"decode": decode_key, "shots": spans, "settings": identities,
                        "encode": json.loads(encode.model_dump_json())})  # fmt: skip

        done, damaged = j.verified_results()
        for rec in damaged:
            msg = f"stored frame {rec.pos} (pass {rec.pass_}) is missing or damaged; redoing it"
            j.log(msg)
            emit(Note(msg))
        tasks = [(s, st, [t for p in shot_schedule(s.index, s.start, s.end, st.temporal) for t in p])
                 for s, st in zip(shots, shot_settings)]  # fmt: skip
        emit(Planned(job_dir, len(frames), [(s, len(ts), sum((t.pass_, t.pos) in done for t in ts)) for s, _, ts in tasks]))
        computed = reused = 0

        def on_frame(ev: FrameFinished) -> None:
            nonlocal computed, reused
            if ev.skipped:
                reused += 1
            else:
                computed += 1
                j.log(f"shot {ev.shot} pass {ev.pass_} frame {ev.pos} done in {ev.seconds:.1f}s "
                      f"loss {ev.losses.get('total', float('nan')):.4g}")  # fmt: skip
            emit(ev)

        stylizers: dict[str, Stylizer] = {}
        try:
            for (shot, st, _), ident in zip(tasks, identities):
                key = json.dumps([ident["styles"], ident["style"]], sort_keys=True)
                if key not in stylizers:
                    stylizers.clear()  # one network at a time
                    stylizers[key] = Stylizer(list(st.styles), st.style, dev)
                runner = ShotRunner(j, frames, stylizers[key], st, flow_source=_flow_source(decode_key),
                                    on_iteration=emit, on_frame=on_frame)  # fmt: skip
                runner.run(shot.index, shot.start, shot.end, done)
        except KeyboardInterrupt:
            j.log("interrupted; finished frames are kept and the render resumes from here")
            raise
        except BaseException as e:
            j.log(f"stopped by {type(e).__name__}: {e}")
            raise

        final = {s.index: st.temporal.passes for s, st in zip(shots, shot_settings)}
        last_pass = [final[s.index] for s in shots for _ in range(s.start, s.end)]
        record = {"decode": {k: v for k, v in decode_key.items() if k != "input"}, "shots": identities, "spans": spans}
        _encode(input, output, j, frames, last_pass, done, encode, start, end, stride, record, emit)
        j.log(f"wrote {output}")
    if implicit and not keep_job:
        shutil.rmtree(job_dir, ignore_errors=True)
    return RenderResult(output, None if implicit and not keep_job else job_dir, len(frames), len(shots),
                        computed, reused, time.perf_counter() - began)  # fmt: skip


def _str(value: Any) -> Any:
    return None if value is None else str(value)


def _flow_source(decode_key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(decode_key, sort_keys=True).encode()).hexdigest()[:16]


def _reset(j: Job) -> None:
    """Forget a job's frames and results (its input or frame selection changed)."""
    for name in ("content", "passes", "flow"):
        shutil.rmtree(j.root / name, ignore_errors=True)
    for path in (j.frames_path, j.manifest_path):
        path.unlink(missing_ok=True)


def _changed_shots(stored: dict[str, Any], spans: list[list[int]], identities: list[dict[str, Any]]) -> tuple[list[int], list[str]] | None:
    """Shots whose results can't be reused, with the reasons; None when nothing changed."""
    old_spans, old_ids = stored.get("shots"), stored.get("settings")
    if old_spans != spans:
        return list(range(max(len(spans), len(old_spans or [])))), [f"shots {old_spans} → {spans}"]
    shots, reasons = [], []
    for k, (old, new) in enumerate(zip(old_ids or [], identities)):
        d = _diff(old, new)
        if d:
            shots.append(k)
            reasons += [f"shot {k}: {x}" for x in d]
    return (shots, reasons) if shots else None


def _decode(input: Path, j: Job, size: int | None, start: Any, end: Any, stride: int, emit: Progress) -> list[FrameRecord]:
    frames: list[FrameRecord] = []
    with open_video(input, size=size, start=start, end=end, stride=stride) as reader:
        total = len(reader)
        for pos, f in enumerate(reader):
            sha = j.store_content(pos, f.image)
            frames.append(FrameRecord(pos, f.index, f.pts, f.time, f.duration, sha))
            emit(Stage("decode", pos + 1, total))
        if reader.warning:
            j.log(reader.warning)
            emit(Note(reader.warning))
    if not frames:
        raise file_error(input, "no frames to stylise (check --start/--end)")
    j.write_frames(frames)
    j.log(f"decoded {len(frames)} frames")
    return frames


def _repaired(j: Job, emit: Progress, text: str) -> None:
    """Say (in the log and as a note) what was found damaged and is being redone."""
    j.log(text)
    emit(Note(text))


def _redecode_damaged(input: Path, j: Job, frames: list[FrameRecord], size: int | None, start: Any, end: Any,
                      stride: int, emit: Progress) -> list[FrameRecord]:  # fmt: skip
    """Decode again the stored content frames that are missing or damaged (decoding is
    deterministic, so they come back as they were; if not, their new checksum is recorded)."""
    bad = {f.pos for f in j.damaged_content(frames)}
    if not bad:
        return frames
    names = ", ".join(map(str, sorted(bad)[:5])) + (", …" if len(bad) > 5 else "")
    _repaired(j, emit, f"decoded frame(s) {names} in {j.root / 'content'} were missing or damaged; decoding them again")
    out = list(frames)
    with open_video(input, size=size, start=start, end=end, stride=stride) as reader:
        for pos, f in enumerate(reader):
            if pos >= len(out):
                break
            if pos in bad:
                sha = j.store_content(pos, f.image)
                out[pos] = dataclasses.replace(out[pos], sha=sha)
                bad.discard(pos)
                if not bad:
                    break
    if bad:
        raise file_error(input, f"frame(s) {sorted(bad)} can no longer be decoded; the input changed?")
    if out != frames:
        j.write_frames(out)
    return out


def _encode(
    input: Path, output: Path, j: Job, frames: list[FrameRecord], last_pass: Sequence[int],
    done: dict[tuple[int, int], ResultRecord], encode: EncodeSettings, start: Any, end: Any, stride: int,
    record: dict[str, Any], emit: Progress,
) -> None:  # fmt: skip
    """Write the final pass of every frame with the source's timing, audio and tags."""
    with open_video(input, start=start, end=end, stride=stride) as reader:
        info, (t0, t1) = reader.source_info, reader.trim
    first = j.load_result(done[(last_pass[0], 0)])
    h, w = first.shape[:2]
    metadata = {**info.metadata, **record_metadata(record)}
    with VideoWriter(
        output, width=w, height=h, fps=info.fps, time_base=info.time_base, codec=encode.codec, crf=encode.crf,
        preset=encode.preset, audio_from=info.path if info.has_audio and not info.is_sequence else None,
        start=t0, end=t1, metadata=metadata, stream_metadata=info.stream_metadata, colorspace=info.colorspace,
        sample_aspect_ratio=info.sample_aspect_ratio,
    ) as writer:  # fmt: skip
        for f, p in zip(frames, last_pass):
            image = first if f.pos == 0 else j.load_result(done[(p, f.pos)])
            writer.write(image, pts=f.pts, time=f.time, duration=f.duration)
            emit(Stage("encode", f.pos + 1, len(frames)))
