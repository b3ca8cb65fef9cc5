"""``flock`` on a file of the job: exclusive or shared, waiting or not; the kernel drops it when its holder dies."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from vidstyle.errors import file_error
from vidstyle.files.atomic import describe_os_error, os_errors

BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


def open_lock_file(path: Path) -> int:
    """A descriptor of the lock file ``path`` (created, with its folder, if missing)."""
    with os_errors(path.parent, "cannot create folder"):
        path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise file_error(path, "is a folder, not a lock file (remove it; it holds nothing of the job)")
    with os_errors(path, "cannot create the lock file"):
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def try_flock(fd: int, *, shared: bool = False, blocking: bool = False) -> bool:
    """Lock ``fd``; False when another holder has it (only without ``blocking``)."""
    op = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
    try:
        fcntl.flock(fd, op)
    except OSError as e:
        if e.errno in BUSY:
            return False
        raise OSError(e.errno, f"cannot lock ({describe_os_error(e)})") from None
    return True


@contextlib.contextmanager
def flocked(path: Path, *, shared: bool = False, blocking: bool = True) -> Iterator[bool]:
    """Hold a lock on ``path`` for the block; yields False (and holds nothing) when it is
    busy and ``blocking`` is off."""
    fd = open_lock_file(path)
    try:
        got = try_flock(fd, shared=shared, blocking=blocking)
        try:
            yield got
        finally:
            if got:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def is_locked(path: Path) -> bool:
    """Whether some process holds an exclusive lock on ``path`` (a brief shared probe)."""
    if not path.is_file():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        if try_flock(fd, shared=True):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True
    finally:
        os.close(fd)
