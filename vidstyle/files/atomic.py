"""Crash-safe file writing: nothing appears under its final name until it is complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vidstyle.errors import file_error


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Fail early, naming the path, when ``path`` cannot be created."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise file_error(path, "is a directory, expected a file name")
    if not parent.is_dir():
        raise file_error(path, f"directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise file_error(path, f"directory {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise file_error(path, "exists and is not writable")
    # Permission bits do not tell root about read-only mounts or /proc: try it for real.
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".probe", dir=parent)
    except OSError as e:
        raise file_error(path, f"cannot create the file in {parent} ({describe_os_error(e)})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return path


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename inside ``directory`` durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def new_file_mode() -> int:
    """The mode an ordinary new file gets under the current umask (mkstemp's is 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def describe_os_error(e: OSError) -> str:
    """``No space left on device`` rather than ``[Errno 28] No space left on device: '/x'``."""
    return (e.strerror or str(e)).rstrip(".") if e.strerror else str(e)


@contextlib.contextmanager
def os_errors(path: str | os.PathLike[str], doing: str = "cannot write") -> Iterator[None]:
    """Turn an OS failure (disk full, read-only filesystem, permissions…) inside the block
    into one line naming ``path``, e.g. ``job/manifest.jsonl: cannot write (No space left on device)``."""
    try:
        yield
    except OSError as e:
        raise file_error(path, f"{doing} ({describe_os_error(e)})") from None


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str], *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` only if the block succeeds.

    The temporary name keeps the final suffix so that libraries choosing a format by
    extension (PIL, FFmpeg) still do so. On any exception the temporary file is removed;
    an OS failure (disk full, read-only filesystem…) becomes one line naming ``final``.
    """
    final = Path(final)
    with os_errors(final, "cannot create a file beside it"):
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{final.stem}.", suffix=f".part{final.suffix}", dir=final.parent if str(final.parent) else "."
        )
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        if tmp.is_file():
            os.chmod(tmp, new_file_mode())
        os.replace(tmp, final)
        if durable:
            fsync_dir(final.parent if str(final.parent) else ".")
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError):
            raise file_error(final, f"cannot write ({describe_os_error(e)})") from None
        raise


def new_folder_mode() -> int:
    """The mode an ordinary new folder gets under the current umask (mkdtemp's is 0700)."""
    return 0o777 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(final: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``final`` atomically and durably."""
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
