"""What identifies an input file: its content (a hash) or, cheaply, its path, size and mtime.

A render's job and the flow cache key their work on these, so that a changed input is
noticed and an unchanged one is reused.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from vidstyle.files.patterns import is_pattern

_BLOCK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of the file's content, as hex (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def input_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Resolved path, size and modification time of an input (file, folder or frame pattern).

    For a printf pattern (``frames/%05d.png``) the folder is looked at: it changes with its
    files. Raises OSError when there is nothing at ``path``.
    """
    p = Path(path)
    st = (p.parent if is_pattern(p) else p).stat()
    return {"path": str(p.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def source_id(path: str | os.PathLike[str]) -> str:
    """A one-line :func:`input_identity` (``PATH:BYTES:MTIME_NS``) for a file; for a folder,
    a pattern or nothing at ``path``, the resolved path alone. The flow cache keys on it."""
    p = Path(path)
    if not p.is_file():
        return str(p.resolve())
    try:
        ident = input_identity(p)
    except OSError:
        return str(p.resolve())
    return f"{ident['path']}:{ident['bytes']}:{ident['mtime_ns']}"
