"""One-line messages for config problems: the file, the line, the key and what is wrong."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from vidstyle.errors import VidstyleError

# -- messages ------------------------------------------------------------------------------------


def _key_name(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def message(
    source: str, loc: Sequence[str | int], problem: str, lines: Mapping[tuple[str | int, ...], int] | None
) -> str:
    line = None
    if lines:
        for n in range(len(loc), 0, -1):  # the line of the key, or of the nearest table holding it
            if (found := lines.get(tuple(loc[:n]))) is not None:
                line = found
                break
    where = f"line {line}: " if line else ""
    key = _key_name(loc)
    return f"{source}: {where}{key + ': ' if key else ''}{problem}"


def validation_error(
    source: str,
    error: ValidationError,
    prefix: tuple[str | int, ...],
    lines: Mapping[tuple[str | int, ...], int] | None = None,
) -> VidstyleError:
    """The most specific problem pydantic found, as one line (with a count of the others).

    Where a value may take several forms (``size``: a number or "source"; ``cuts``: "auto",
    "none" or a list), pydantic reports one error per form; the deepest one, preferring a
    failed number or list over a failed keyword, says best what is wrong.
    """
    errors = [(tuple(p for p in e.get("loc", ()) if not _is_union_tag(p)), e) for e in error.errors()]
    errors.sort(key=lambda le: (-len(le[0]), le[1].get("type") == "literal_error"))
    loc, err = errors[0]
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg = "unknown key"
    elif str(err.get("type", "")).startswith("path_"):
        msg = f"expected a file name (got {_short(err.get('input'))})"
    elif not loc and "style_blend" in msg:
        loc = ("style", "style_blend")
    elif (
        "input" in err
        and not isinstance(err["input"], (dict, list, tuple))
        and err.get("type") not in ("value_error", "assertion_error")
    ):
        msg += f" (got {_short(err['input'])})"
    others = len({where for where, _ in errors if where != loc[: len(where)]})
    if others > 0:
        msg += f" (and {others} more problem{'s' if others > 1 else ''})"
    return VidstyleError(message(source, (*prefix, *loc), msg, lines))


def _is_union_tag(part: object) -> bool:
    """pydantic puts the tried member of a union into ``loc`` (``int``, ``constrained-int``,
    ``literal['auto','none']``, ``tuple[...]``, ``function-plain[...]``); keys never look like that."""
    return isinstance(part, str) and (
        part in ("int", "float", "str", "bool", "tuple", "none") or any(c in part for c in "[(-")
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\s\"']+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*)\s*=")


def key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Best-effort map from key paths (as in error locations) to the line that sets them."""
    lines: dict[tuple[str | int, ...], int] = {}
    counts: dict[str, int] = {}
    table: tuple[str | int, ...] = ()
    for n, line in enumerate(text.splitlines(), 1):
        if m := _HEADER.match(line):
            parts = [p.strip().strip("\"'") for p in m.group(2).split(".")]
            if m.group(1) == "[[":
                counts[parts[0]] = counts.get(parts[0], 0) + 1
                table = (parts[0], counts[parts[0]] - 1, *parts[1:])
            elif parts[0] in counts:  # a sub-table of the last [[array]] element
                table = (parts[0], counts[parts[0]] - 1, *parts[1:])
            else:
                table = tuple(parts)
            lines.setdefault(table, n)
        elif m := _KEY.match(line):
            key = tuple(p.strip() for p in m.group(1).split("."))
            lines.setdefault((*table, *key), n)
    return lines


def toml_error(source: str, error: tomllib.TOMLDecodeError) -> VidstyleError:
    """A TOML syntax error as one line, with the line where the parser stopped."""
    m = re.match(r"^(.*?)\s*\(at line (\d+), column \d+\)$", str(error))
    where = f"line {m.group(2)}: " if m else ""
    problem = m.group(1) if m else str(error).replace("(at end of document)", "at the end").strip()
    return VidstyleError(f"{source}: {where}invalid TOML ({problem})")
