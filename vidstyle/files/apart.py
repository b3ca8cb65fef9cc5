"""Keeping outputs away from inputs: no command may replace, or write inside, what it reads.

Every command that writes something (``render``, ``image``, ``flow``, ``eval``) lists what it
reads (:class:`Source`: the video or image folder, style images, a config, a start image…)
and what it writes (:class:`Target`: the output file or folder, the job directory, a flow
cache…) and calls :func:`check_apart` before any work. Two paths count as the same when
they resolve to the same place through symbolic links, or are the same file through a hard
link; a folder holds everything below it.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from vidstyle.errors import VidstyleError
from vidstyle.files.patterns import is_pattern, is_sequence_output, pattern_regex


@dataclasses.dataclass(frozen=True)
class Source:
    """Something a command reads. ``folder``: everything inside ``path`` is read (an image
    sequence folder, or the folder of a ``%05d.png`` pattern)."""

    what: str
    path: Path
    folder: bool = False


@dataclasses.dataclass(frozen=True)
class Target:
    """Something a command writes.

    ``kind`` is ``"file"`` (replaced whole), ``"folder"`` (the command owns the folder and
    everything in it: an image-sequence output, a job directory) or ``"shared"`` (the command
    writes some names into a folder that may hold other files; ``writes`` says which, by
    path relative to the folder).
    """

    what: str
    path: Path
    kind: str = "file"
    writes: Callable[[Path], bool] | None = None


def _real(path: Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def _inside(inner: Path, outer: Path) -> bool:
    """``inner`` is ``outer`` or lies below it (both resolved)."""
    return inner == outer or outer in inner.parents


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _clash(target: Target, source: Source) -> str | None:
    """How writing ``target`` would harm ``source``, or None."""
    t, s = _real(target.path), _real(source.path)
    if target.kind == "file":
        if t == s or _same_file(target.path, source.path):
            return f"would replace the {source.what}"
        if source.folder and _inside(t, s):
            return f"would be written inside the {source.what} folder {source.path}"
        return None
    if source.folder:
        if _inside(t, s) or _inside(s, t):
            return f"is the same folder as, or overlaps, the {source.what} folder {source.path}"
        return None
    if s == t:
        return f"would replace the {source.what}"
    if _inside(s, t):
        if target.kind == "folder":
            return f"would hold the {source.what} {source.path}"
        rel = s.relative_to(t)
        if target.writes is None or target.writes(rel):
            return f"would overwrite the {source.what} {source.path}"
    return None


def check_apart(targets: Iterable[Target | None], sources: Iterable[Source | None]) -> None:
    """Refuse (one line naming the path) when a target would replace or live inside a source,
    or two targets overlap.

    Call it before any work. ``None`` entries are skipped, so optional paths can be passed
    as they are.
    """
    tlist = [t for t in targets if t is not None]
    slist = [s for s in sources if s is not None]
    for target in tlist:
        for source in slist:
            problem = _clash(target, source)
            if problem:
                raise VidstyleError(f"{target.path}: the {target.what} {problem}; choose another name")
    for k, a in enumerate(tlist):
        for b in tlist[k + 1 :]:
            if b.kind == "file" and a.kind == "file":
                clash = _real(a.path) == _real(b.path) or _same_file(a.path, b.path)
            else:
                ra, rb = _real(a.path), _real(b.path)
                clash = _inside(ra, rb) or _inside(rb, ra)
                if clash and "shared" in (a.kind, b.kind) and "folder" not in (a.kind, b.kind):
                    clash = ra == rb
            if clash:
                raise VidstyleError(f"{b.path}: the {b.what} and the {a.what} ({a.path}) overlap; choose another name")


def sequence_source(path: str | os.PathLike[str], what: str = "input") -> Source:
    """The :class:`Source` of a video input: a file, an image folder or a printf pattern's folder."""
    p = Path(path)
    if is_pattern(p):
        return Source(what, p.parent if str(p.parent) else Path("."), folder=True)
    return Source(what, p, folder=p.is_dir())


def output_target(path: str | os.PathLike[str], what: str = "output") -> Target:
    """The :class:`Target` of a video output: a file, an image folder, or the images a pattern names."""
    p = Path(path)
    if is_pattern(p):
        regex = pattern_regex(p.name)
        return Target(what, p.parent if str(p.parent) else Path("."), "shared",
                      lambda rel: len(rel.parts) == 1 and regex.match(rel.name) is not None)  # fmt: skip
    if is_sequence_output(p):
        return Target(what, p, "folder")
    return Target(what, p, "file")


def names_under(*names: str | re.Pattern[str]) -> Callable[[Path], bool]:
    """A ``writes`` predicate: paths whose first part is one of ``names`` (strings or regexes)."""

    def writes(rel: Path) -> bool:
        first = rel.parts[0] if rel.parts else ""
        return any(first == n if isinstance(n, str) else n.fullmatch(first) is not None for n in names)

    return writes
