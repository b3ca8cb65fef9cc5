"""The job directory of a render: everything needed to resume it after a crash.

Layout::

    JOB/
      job.json          what the render was started with (input identity, shots, settings)
      frames.json       the decoded frames: position → source index, pts, time, duration, checksum
      content/NNNNNN.png     decoded frames at the working size
      passes/P/NNNNNN.png    stylised result of frame NNNNNN in pass P (lossless)
      flow/             cached flow and consistency weights
      manifest.jsonl    append-only record of every durable result (with its checksum)
      log.txt           what happened, for people
      lock              held (flock) by the render using the job

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
import hashlib
import io
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import VidstyleError
from .fsutil import atomic_write_bytes, fsync_dir

JOB_FORMAT = 1


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_png(image: np.ndarray) -> bytes:
    """Lossless PNG bytes of an H×W×3 uint8 image (fast compression: results are rewritten often)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.array(im.convert("RGB"))


@dataclasses.dataclass(frozen=True)
class FrameRecord:
    """One decoded frame of the job (position = order in the processed sequence)."""

    pos: int
    index: int  # source frame index
    pts: int | None
    time: float
    duration: int | None
    sha: str


@dataclasses.dataclass(frozen=True)
class ResultRecord:
    """A durable stylised result, as recorded in the manifest."""

    shot: int
    pass_: int
    pos: int
    sha: str
    seconds: float
    losses: dict[str, float]


class JobBusyError(VidstyleError):
    """Another live render holds the job's lock."""


class Job:
    """A job directory (created on first use)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._lock_fd: int | None = None

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

    def result_path(self, pass_: int, pos: int) -> Path:
        return self.root / "passes" / str(pass_) / f"{pos:06d}.png"

    def exists(self) -> bool:
        return self.config_path.is_file()

    # -- lock -----------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[Job]:
        """Hold the job's lock for the duration; a second render of the job is refused.

        The lock is an ``flock`` on JOB/lock, so the kernel releases it when its process dies:
        a crashed render never leaves the job locked.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_text(path).strip() or "another process"
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise JobBusyError(f"{self.root}: job is in use by another render ({holder})") from None
            raise
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

    # -- config and frames ----------------------------------------------------------
    def read_config(self) -> dict[str, Any] | None:
        """The stored job description, or None for a new job."""
        if not self.config_path.is_file():
            return None
        try:
            data = json.loads(self.config_path.read_text())
        except (OSError, ValueError) as e:
            raise VidstyleError(f"{self.config_path}: unreadable job description ({e})") from None
        if data.get("format") != JOB_FORMAT:
            raise VidstyleError(f"{self.config_path}: job format {data.get('format')} is not supported here")
        return data

    def write_config(self, config: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.config_path, json.dumps({"format": JOB_FORMAT, **config}, indent=1).encode())

    def read_frames(self) -> list[FrameRecord] | None:
        """The decoded frame list, or None when decoding has not finished."""
        if not self.frames_path.is_file():
            return None
        try:
            rows = json.loads(self.frames_path.read_text())
            return [FrameRecord(**r) for r in rows]
        except (OSError, ValueError, TypeError):
            return None  # damaged: decode again

    def write_frames(self, frames: list[FrameRecord]) -> None:
        atomic_write_bytes(self.frames_path, json.dumps([dataclasses.asdict(f) for f in frames]).encode())

    def store_content(self, pos: int, image: np.ndarray) -> str:
        """Store a decoded frame durably; returns its checksum."""
        data = encode_png(image)
        path = self.content_path(pos)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
        return sha256(data)

    def load_content(self, frame: FrameRecord) -> np.ndarray:
        return self._load_checked(self.content_path(frame.pos), frame.sha)

    # -- results --------------------------------------------------------------------
    def store_result(
        self, shot: int, pass_: int, pos: int, image: np.ndarray, *, seconds: float, losses: dict[str, float]
    ) -> ResultRecord:
        """Write a stylised frame durably, then record it in the manifest."""
        data = encode_png(image)
        path = self.result_path(pass_, pos)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
        rec = ResultRecord(shot, pass_, pos, sha256(data), round(seconds, 3), losses)
        self._append({"type": "result", **_result_row(rec)})
        return rec

    def load_result(self, record: ResultRecord) -> np.ndarray:
        return self._load_checked(self.result_path(record.pass_, record.pos), record.sha)

    def results(self) -> dict[tuple[int, int], ResultRecord]:
        """Recorded results by (pass, position); later records win, invalidated shots drop out."""
        out: dict[tuple[int, int], ResultRecord] = {}
        for row in self._manifest_rows():
            kind = row.get("type")
            if kind == "result":
                try:
                    rec = ResultRecord(
                        int(row["shot"]), int(row["pass"]), int(row["pos"]), str(row["sha"]),
                        float(row.get("seconds", 0.0)), dict(row.get("losses", {})),
                    )  # fmt: skip
                except (KeyError, TypeError, ValueError):
                    continue
                out[(rec.pass_, rec.pos)] = rec
            elif kind == "invalidate":
                shots = set(row.get("shots", []))
                out = {k: r for k, r in out.items() if r.shot not in shots}
        return out

    def verified_results(self) -> tuple[dict[tuple[int, int], ResultRecord], list[ResultRecord]]:
        """Recorded results whose files are intact, and the damaged ones (to be redone)."""
        good: dict[tuple[int, int], ResultRecord] = {}
        bad: list[ResultRecord] = []
        for key, rec in self.results().items():
            path = self.result_path(rec.pass_, rec.pos)
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
        """Append a timestamped line to JOB/log.txt."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(f"{_now()} {message}\n")

    # -- internals ------------------------------------------------------------------
    def _append(self, row: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        line = json.dumps(row, separators=(",", ":")) + "\n"
        new = not self.manifest_path.exists()
        with open(self.manifest_path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        if new:
            fsync_dir(self.root)

    def _manifest_rows(self) -> Iterator[dict[str, Any]]:
        try:
            text = self.manifest_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        for line in text.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash: that result was never complete
            if isinstance(row, dict):
                yield row

    def _load_checked(self, path: Path, sha: str) -> np.ndarray:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise VidstyleError(f"{path}: cannot read stored frame ({e.strerror or e})") from None
        if sha256(data) != sha:
            raise VidstyleError(f"{path}: stored frame is damaged (checksum mismatch); run again to redo it")
        return decode_png(data)


def _result_row(rec: ResultRecord) -> dict[str, Any]:
    return {"shot": rec.shot, "pass": rec.pass_, "pos": rec.pos, "sha": rec.sha, "seconds": rec.seconds, "losses": rec.losses}


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")
