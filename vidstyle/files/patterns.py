"""Printf file patterns (``frames/%05d.png``) and what names an image sequence rather than a file."""

from __future__ import annotations

import os
import re
from pathlib import Path

_PRINTF_RE = re.compile(r"%(0?)(\d*)d")


def is_pattern(path: str | os.PathLike[str]) -> bool:
    """Whether the file name is a printf pattern such as ``%05d.png``."""
    return _PRINTF_RE.search(Path(path).name) is not None


def is_sequence_input(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names an image sequence (an existing folder or a printf pattern)."""
    return Path(path).is_dir() or is_pattern(path)


def is_sequence_output(path: str | os.PathLike[str]) -> bool:
    """Whether writing to ``path`` means writing images: a folder (existing, or a name without a suffix) or a pattern."""
    p = Path(path)
    return p.is_dir() or is_pattern(p) or str(path).endswith(os.sep) or not p.suffix


def pattern_regex(name: str) -> re.Pattern[str]:
    m = _PRINTF_RE.search(name)
    assert m is not None
    digits = rf"\d{{{m.group(2)}}}" if m.group(1) and m.group(2) else r"\d+"
    return re.compile(re.escape(name[: m.start()]) + f"({digits})" + re.escape(name[m.end() :]) + "$")
