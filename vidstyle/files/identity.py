"""What a file is, for caches and jobs: a checksum of its bytes, or its path, size and time."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from vidstyle.files.patterns import is_pattern


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, as hex (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def input_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """An input as a job remembers it: resolved path, size and modification time (cheap to
    check on every resume; an image pattern is identified by its folder, which changes with
    its files)."""
    path = Path(path)
    st = (path.parent if is_pattern(path) else path).stat()
    return {"path": str(path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
