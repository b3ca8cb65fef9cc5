"""What a job is for: its settings as stored, and the render record an output carries.

A finished render writes a record into its output's metadata (the ``comment`` tag): the
frame selection, each shot's span and settings. :func:`read_record` reads it back and
:func:`recorded_settings` rebuilds a shot's settings from it (``vidstyle eval
--make-baseline`` and ``vidstyle status`` use them).
"""

from __future__ import annotations

import json
import os
from typing import Any

from vidstyle.settings import RenderSettings

RECORD_TAG = "comment"
RECORD_PREFIX = "vidstyle render "


def read_record(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The render record (per-shot settings and spans) stored in a vidstyle output's metadata."""
    from vidstyle.video import probe  # the video layer sits below; imported where used

    text = probe(path).metadata.get(RECORD_TAG, "")
    if not text.startswith(RECORD_PREFIX):
        return None
    try:
        return json.loads(text[len(RECORD_PREFIX):])
    except ValueError:
        return None


def recorded_settings(shot: dict[str, Any]) -> RenderSettings:
    """A shot's RenderSettings back from its recorded identity."""
    data = dict(shot)
    data["styles"] = [s["path"] for s in shot.get("styles", [])]
    return RenderSettings.model_validate(data)




def record_metadata(record: dict[str, Any]) -> dict[str, str]:
    """The metadata tag that carries ``record`` in a rendered output (read by :func:`read_record`)."""
    return {RECORD_TAG: RECORD_PREFIX + json.dumps(record, separators=(",", ":"))}
