"""The job directory of a render: everything needed to resume it after a crash.

Layout::

    JOB/
      job.json          what the render was started with (input identity, shots, settings)
      frames.json       the decoded frames: position → source index, pts, time, duration, checksum
      content/NNNNNN.png     decoded frames at the working size
      passes/P/NNNNNN.png    stylised result of frame NNNNNN in pass P (lossless)
      flow/             cached flow and consistency weights
      passes/P/lead/NNNNNN.png  a chunk's lead-in render of a frame the chunk before owns
      manifest.jsonl    append-only record of every durable result (with its checksum);
                        appended by several processes at once, under manifest.lock
      log.txt           what happened, for people
      lock              held (flock) by the render setting the job up (decode, cuts, job.json)
      leases/UNIT.lease held (flock, plus a heartbeat) by the process rendering a unit
      attached          shared-locked by every render working on the job
      encode.lock       held while the output is encoded; encoded.json says what was

A result counts as done only once its file is durable (temporary name, fsync, rename) and
its manifest line is written and fsynced. On resume, results are checked against their
checksums; missing, truncated or corrupt ones are redone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import errno
import fcntl
import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from vidstyle.errors import VidstyleError, file_error
from vidstyle.files.atomic import atomic_write_bytes, describe_os_error, fsync_dir, os_errors
from vidstyle.job.locks import flocked
from vidstyle.job.records import (
    FRAMES,
    FrameRecord,
    InvalidateRow,
    ResultRecord,
    ResultRow,
    decode_png,
    encode_png,
    first_problem,
    parse_row,
    result_row,
    sha256,
    short_error,
)
from vidstyle.job.spec import JOB_FORMAT, JobSpec


class JobDamaged(VidstyleError):
    """A job file is not what vidstyle writes (truncated, edited, or from a failing disk)."""


class JobBusyError(VidstyleError):
    """Another live render holds the job's lock."""


class Job:
    """A job directory (created on first use)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._lock_fd: int | None = None
        self.repairs: list[str] = []  # what was found damaged and will be redone, for people

    # -- layout ---------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "job.json"

    @property
    def frames_path(self) -> Path:
        return self.root / "frames.json"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.jsonl"

    @property
    def log_path(self) -> Path:
        return self.root / "log.txt"

    @property
    def flow_dir(self) -> Path:
        return self.root / "flow"

    def content_path(self, pos: int) -> Path:
        return self.root / "content" / f"{pos:06d}.png"

    def result_path(self, pass_: int, pos: int, lead: bool = False) -> Path:
        return self.root / "passes" / str(pass_) / ("lead" if lead else "") / f"{pos:06d}.png"

    def exists(self) -> bool:
        return self.config_path.is_file()

    # -- lock -----------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, *, wait: bool = False) -> Iterator[Job]:
        """Hold the job's lock for the duration; a second render is refused (or, with ``wait``,
        waits until the lock is free: renders set a job up one at a time, then work together).

        The lock is an ``flock`` on JOB/lock, so the kernel releases it when its process dies:
        a crashed render never leaves the job locked.
        """
        with os_errors(self.root, "cannot create the job directory"):
            self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "lock"
        if path.is_dir() or (path.exists() and not path.is_file()):
            raise file_error(path, "the job's lock is not a file (remove it; it holds nothing of the job)")
        with os_errors(path, "cannot create the job's lock"):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as e:
            holder = _read_text(path).strip() or "another process"
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise JobBusyError(f"{self.root}: job is in use by another render ({holder})") from None
            raise file_error(path, f"cannot lock the job ({describe_os_error(e)})") from None
        with contextlib.suppress(OSError):  # who holds it is for people; a full disk must not stop us here
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {_now()}\n".encode())
        self._lock_fd = fd
        try:
            yield self
        finally:
            self._lock_fd = None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def lock_holder(self) -> str | None:
        """Who holds the job's lock right now (``pid … on HOST since …``), or None when no
        render is running. Takes a shared lock for a moment, never blocking a render."""
        path = self.root / "lock"
        if not path.is_file():
            return None
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return _read_text(path).strip() or "another process"
            raise
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    # -- config and frames ----------------------------------------------------------
    def read_spec(self) -> JobSpec | None:
        """The stored job spec (``job.json``), or None for a new job.

        Raises JobDamaged for an unreadable or inconsistent file (the render starts the job
        over), VidstyleError for a job format this version does not read.
        """
        if not self.config_path.exists():
            return None
        try:
            data = json.loads(self.config_path.read_bytes())
        except PermissionError as e:
            raise file_error(self.config_path, f"cannot read ({describe_os_error(e)})") from None
        except (OSError, ValueError) as e:
            raise JobDamaged(f"{self.config_path}: damaged ({short_error(e)})") from None
        if isinstance(data, dict) and isinstance(data.get("format"), int) and data["format"] != JOB_FORMAT:
            raise VidstyleError(f"{self.config_path}: job format {data['format']} is not supported here")
        try:
            return JobSpec.model_validate(data)
        except ValidationError as e:
            raise JobDamaged(f"{self.config_path}: damaged ({first_problem(e)})") from None

    def write_spec(self, spec: JobSpec) -> None:
        """Store ``spec`` as ``job.json`` (atomically)."""
        with os_errors(self.root, "cannot create the job directory"):
            self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.config_path, spec.model_dump_json(indent=1).encode())

    def reset(self) -> None:
        """Forget the decoded frames, results and flow (the input or frame selection changed)."""
        for name in ("content", "passes", "flow"):
            shutil.rmtree(self.root / name, ignore_errors=True)
        for path in (self.frames_path, self.manifest_path):
            path.unlink(missing_ok=True)

    def read_frames(self) -> list[FrameRecord] | None:
        """The decoded frame list, or None when decoding has not finished or the list is damaged
        (then the frames are decoded again, and :attr:`repairs` says so)."""
        if not self.frames_path.exists():
            return None
        try:
            rows = FRAMES.validate_json(self.frames_path.read_bytes())
            if not rows or [r.pos for r in rows] != list(range(len(rows))):
                raise ValueError("positions are not 0, 1, 2, …")
        except (OSError, ValueError) as e:
            why = first_problem(e) if isinstance(e, ValidationError) else short_error(e)
            self.repairs.append(f"{self.frames_path} was damaged ({why}); decoding the frames again")
            return None
        return [FrameRecord(**r.model_dump()) for r in rows]

    def write_frames(self, frames: list[FrameRecord]) -> None:
        atomic_write_bytes(self.frames_path, json.dumps([dataclasses.asdict(f) for f in frames]).encode())

    def store_content(self, pos: int, image: np.ndarray) -> str:
        """Store a decoded frame durably; returns its checksum."""
        data = encode_png(image)
        path = self.content_path(pos)
        with os_errors(path.parent, "cannot create folder"):
            path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
        return sha256(data)

    def load_content(self, frame: FrameRecord) -> np.ndarray:
        return self._load_checked(self.content_path(frame.pos), frame.sha)

    def damaged_content(self, frames: list[FrameRecord]) -> list[FrameRecord]:
        """The decoded frames whose stored file is missing or does not match its checksum."""
        bad = []
        for f in frames:
            try:
                ok = sha256(self.content_path(f.pos).read_bytes()) == f.sha
            except OSError:
                ok = False
            if not ok:
                bad.append(f)
        return bad

    # -- results --------------------------------------------------------------------
    def store_result(
        self,
        shot: int,
        pass_: int,
        pos: int,
        image: np.ndarray,
        *,
        seconds: float,
        losses: dict[str, float],
        lead: bool = False,
    ) -> ResultRecord:
        """Write a stylised frame durably, then record it in the manifest (``lead``: a chunk's
        lead-in render, kept apart from the frame's own result)."""
        data = encode_png(image)
        path = self.result_path(pass_, pos, lead)
        with os_errors(path.parent, "cannot create folder"):
            path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
        rec = ResultRecord(shot, pass_, pos, sha256(data), round(seconds, 3), losses, lead)
        self._append({"type": "result", **result_row(rec)})
        return rec

    def load_result(self, record: ResultRecord) -> np.ndarray:
        return self._load_checked(self.result_path(record.pass_, record.pos, record.lead), record.sha)

    def results(self, *, lead: bool = False) -> dict[tuple[int, int], ResultRecord]:
        """Recorded results by (pass, position); later records win, invalidated shots drop out.
        ``lead``: the chunks' lead-in renders instead of the frames' own results."""
        out: dict[tuple[int, int], ResultRecord] = {}
        for row in self._manifest_rows()[0]:
            if isinstance(row, ResultRow):
                if row.lead == lead:
                    rec = ResultRecord(row.shot, row.pass_, row.pos, row.sha, row.seconds, dict(row.losses), row.lead)
                    out[(rec.pass_, rec.pos)] = rec
            else:
                shots = set(row.shots)
                out = {k: r for k, r in out.items() if r.shot not in shots}
        return out

    def repair_manifest(self) -> None:
        """Rewrite the manifest without its damaged lines (call with the lock held).

        A line cut short by a crash or a full disk, a line with a wrong-typed field, or two
        lines run together are dropped or split, so that ``status`` counts right and no
        finished frame is redone; :attr:`repairs` says what was dropped.
        """
        with self._manifest_locked():
            rows, damaged = self._manifest_rows()
            if not damaged:
                return
            text = "".join(json.dumps(r.model_dump(by_alias=True), separators=(",", ":")) + "\n" for r in rows)
            atomic_write_bytes(self.manifest_path, text.encode())
        lines = ", ".join(map(str, damaged[:5])) + (", …" if len(damaged) > 5 else "")
        self.repairs.append(f"{self.manifest_path}: dropped {len(damaged)} damaged line(s) ({lines}); "
                            "their frames are redone")  # fmt: skip

    def verified_results(self, *, lead: bool = False) -> tuple[dict[tuple[int, int], ResultRecord], list[ResultRecord]]:
        """Recorded results whose files are intact, and the damaged ones (to be redone)."""
        good: dict[tuple[int, int], ResultRecord] = {}
        bad: list[ResultRecord] = []
        for key, rec in self.results(lead=lead).items():
            path = self.result_path(rec.pass_, rec.pos, rec.lead)
            try:
                ok = sha256(path.read_bytes()) == rec.sha
            except OSError:
                ok = False
            (good.__setitem__(key, rec) if ok else bad.append(rec))
        return good, bad

    def invalidate_shots(self, shots: list[int], reason: str) -> None:
        """Forget the results of ``shots`` (their settings changed); files are overwritten later."""
        self._append({"type": "invalidate", "shots": sorted(shots), "reason": reason})

    # -- log ------------------------------------------------------------------------
    def log(self, message: str) -> None:
        """Append a timestamped line to JOB/log.txt (best effort: the log is for people, and a
        full disk must not hide the error being logged)."""
        with contextlib.suppress(OSError):
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(f"{_now()} {message}\n")

    # -- internals ------------------------------------------------------------------
    @contextlib.contextmanager
    def _manifest_locked(self) -> Iterator[None]:
        """Hold JOB/manifest.lock: every change of the manifest (an append, a repair) is made
        under it, so renders working on the job together never interleave or cut lines."""
        with os_errors(self.root, "cannot create the job directory"):
            self.root.mkdir(parents=True, exist_ok=True)
        with os_errors(self.root / "manifest.lock", "cannot lock the manifest"), flocked(self.root / "manifest.lock"):
            yield

    def _append(self, row: dict[str, Any]) -> None:
        """Append one line to the manifest, durably, under the manifest's lock; on failure
        (disk full…) the manifest is left as it was (no other writer can have appended
        meanwhile) and the error names it."""
        line = (json.dumps(row, separators=(",", ":")) + "\n").encode()
        with self._manifest_locked(), os_errors(self.manifest_path, "cannot record the result"):
            fd = os.open(self.manifest_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # the last line was cut short: never glue onto it
                try:
                    view = memoryview(line)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, size)  # no half line left behind
                    raise
            finally:
                os.close(fd)
            if size == 0:
                fsync_dir(self.root)

    def rows_from(self, offset: int) -> tuple[list[ResultRow | InvalidateRow], int, int]:
        """The manifest's complete lines from byte ``offset`` on, parsed (damaged ones skipped),
        the offset after them and the file's inode (a repair replaces the file: read it from 0)."""
        try:
            with open(self.manifest_path, "rb") as f:
                inode = os.fstat(f.fileno()).st_ino
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return [], 0, 0
        data = data[: data.rfind(b"\n") + 1]
        rows = [r for raw in data.split(b"\n") if raw.strip() and (r := parse_row(raw)) is not None]
        return rows, offset + len(data), inode

    def _manifest_rows(self) -> tuple[list[ResultRow | InvalidateRow], list[int]]:
        """The valid manifest rows, and the numbers of the damaged lines."""
        try:
            data = self.manifest_path.read_bytes()
        except FileNotFoundError:
            return [], []
        except OSError as e:
            raise file_error(self.manifest_path, f"cannot read ({describe_os_error(e)})") from None
        rows: list[ResultRow | InvalidateRow] = []
        damaged: list[int] = []
        for n, raw in enumerate(data.split(b"\n"), 1):
            if not raw.strip():
                continue
            parsed = parse_row(raw)
            if parsed is None:
                # Two lines run together (one cut short, the next appended to it): keep the whole second one.
                cut = raw.rfind(b'{"type"')
                parsed = parse_row(raw[cut:]) if cut > 0 else None
                damaged.append(n)
            if parsed is not None:
                rows.append(parsed)
        return rows, damaged

    def _load_checked(self, path: Path, sha: str) -> np.ndarray:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise VidstyleError(f"{path}: cannot read stored frame ({e.strerror or e})") from None
        if sha256(data) != sha:
            raise VidstyleError(f"{path}: stored frame is damaged (checksum mismatch); run again to redo it")
        return decode_png(data)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")
