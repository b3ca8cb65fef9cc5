"""The one exception type the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations

from os import PathLike


class VidstyleError(Exception):
    """A problem with the user's input or environment, explained in one line."""


def file_error(path: str | PathLike[str], problem: str) -> VidstyleError:
    """An error that names the file first, e.g. ``clip.mp4: not a video``."""
    return VidstyleError(f"{path}: {problem}")


class Interrupted(VidstyleError):
    """The user stopped the work (Ctrl-C); the message says what was kept and how to go on."""
