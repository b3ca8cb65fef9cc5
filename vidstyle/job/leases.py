"""Leases: which process renders which unit of a job, so that several can work on it at once.

Each unit has a lease file, ``JOB/leases/UNIT.lease``. A process holds a unit while it holds
an exclusive ``flock`` on that file; the file says who (host, pid), since when, and a
heartbeat that a thread of the holder rewrites every :data:`HEARTBEAT_S` seconds. A lease is
free when nobody holds its flock (the kernel drops it when the holder dies, however it died)
unless its file names a live holder on another host (some shared filesystems do not carry
flocks between hosts: there the heartbeat decides). A holder on another host whose
heartbeat is older than ``stale_after`` (:data:`STALE_S`) is dead: its lease is taken over,
even where its flock is still held (by a host that vanished without the server noticing),
and the unit resumes from its stored frames.

The file has a fixed size (:data:`SIZE` bytes, JSON padded with spaces), rewritten in place
with one ``pwrite``, so a reader never sees half of it, and its inode never changes while
held (a takeover of a dead host's lease replaces the file, and the flock goes with the new one).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from vidstyle.errors import VidstyleError
from vidstyle.files.atomic import atomic_write_bytes
from vidstyle.job.locks import is_locked, open_lock_file, try_flock

HEARTBEAT_S = 5.0
STALE_S = 60.0
SIZE = 512


@dataclasses.dataclass(frozen=True)
class LeaseInfo:
    """What a lease file says, and whether its flock is held now."""

    unit: str
    host: str
    pid: int
    started: float  # time.time() when taken
    heartbeat: float  # time.time() of the last beat
    released: bool
    locked: bool  # an flock is held on the file right now

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.heartbeat

    def state(self, stale_after: float = STALE_S, host: str | None = None) -> str:
        """``held`` (a live holder), ``stale`` (its holder died without releasing it) or ``free``."""
        here = host or socket.gethostname()
        if self.released:
            return "free"
        if self.locked:
            return "stale" if self.host != here and self.age() > stale_after else "held"
        if self.host != here and self.age() <= stale_after:
            return "held"  # another host whose flock this filesystem does not show us
        return "stale"


def lease_path(root: Path, unit: str) -> Path:
    return Path(root) / "leases" / f"{unit}.lease"


def _parse(data: bytes) -> dict[str, Any] | None:
    try:
        row = json.loads(data.decode().strip() or "null")
    except (UnicodeDecodeError, ValueError):
        return None
    return row if isinstance(row, dict) else None


def _info(unit: str, row: dict[str, Any] | None, locked: bool) -> LeaseInfo | None:
    if row is None:
        return None
    try:
        return LeaseInfo(unit, str(row["host"]), int(row["pid"]), float(row["started"]), float(row["heartbeat"]),
                         bool(row.get("released", False)), locked)  # fmt: skip
    except (KeyError, TypeError, ValueError):
        return None


def read_lease(root: Path, unit: str) -> LeaseInfo | None:
    """The lease of ``unit`` as its file says (None: never taken, or unreadable)."""
    path = lease_path(root, unit)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return _info(unit, _parse(data), is_locked(path))


def read_leases(root: Path) -> dict[str, LeaseInfo]:
    """Every unit's lease in the job, by unit name."""
    folder = Path(root) / "leases"
    out: dict[str, LeaseInfo] = {}
    for path in sorted(folder.glob("*.lease")) if folder.is_dir() else []:
        info = read_lease(root, path.stem)
        if info is not None:
            out[path.stem] = info
    return out


class Lease:
    """A unit held by this process: its flock, and a thread that beats its heartbeat."""

    def __init__(self, root: Path, unit: str, fd: int, heartbeat: float = HEARTBEAT_S) -> None:
        self.root, self.unit, self._fd = Path(root), unit, fd
        self.host, self.pid, self.started = socket.gethostname(), os.getpid(), time.time()
        self._stop = threading.Event()
        self._write(released=False)
        self._thread = threading.Thread(target=self._beat, args=(heartbeat,), name=f"lease-{unit}", daemon=True)
        self._thread.start()

    def _write(self, *, released: bool) -> None:
        row = {"unit": self.unit, "host": self.host, "pid": self.pid, "started": round(self.started, 3),
               "heartbeat": round(time.time(), 3), "released": released}  # fmt: skip
        data = json.dumps(row).encode().ljust(SIZE)
        with contextlib.suppress(OSError):  # a missed beat is not an error; a long outage makes it stale
            os.pwrite(self._fd, data, 0)

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            self._write(released=False)

    def release(self) -> None:
        """Give the unit back (done, or stopped): say so in the file, then drop the flock."""
        if self._fd < 0:
            return
        self._stop.set()
        self._thread.join()
        self._write(released=True)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def take(root: Path, unit: str, *, stale_after: float = STALE_S, heartbeat: float = HEARTBEAT_S) -> Lease | None:
    """Take ``unit``'s lease, or None when a live process holds it (see the module docstring)."""
    path = lease_path(root, unit)
    here = socket.gethostname()
    fd = open_lock_file(path)
    if try_flock(fd):
        info = _info(unit, _parse(os.pread(fd, SIZE, 0)), locked=False)
        if info is not None and info.state(stale_after, here) == "held":
            fcntl.flock(fd, fcntl.LOCK_UN)  # a live holder elsewhere, whose flock we cannot see
            os.close(fd)
            return None
        return Lease(root, unit, fd, heartbeat)
    os.close(fd)
    info = read_lease(root, unit)
    if info is None or info.host == here or info.age() <= stale_after:
        return None  # a live holder (on this host a held flock proves it)
    # A dead host's lease, its flock kept by a server that has not noticed: replace the file.
    atomic_write_bytes(path, b" " * SIZE)
    fd = open_lock_file(path)
    if not try_flock(fd):
        os.close(fd)
        return None  # another process took it over first
    return Lease(root, unit, fd, heartbeat)


def refuse_while_held(root: Path, what: str) -> None:
    """Raise (one line) when live processes hold units of the job: ``what`` (redoing shots,
    starting over) would pull the stored results from under them."""
    holders = sorted({f"pid {i.pid} on {i.host}" for i in read_leases(root).values() if i.state() == "held"})
    if holders:
        raise VidstyleError(f"{root}: cannot {what} while other renders work on the job ({', '.join(holders)}); "
                            "stop them first, or give this render another render.job")  # fmt: skip
