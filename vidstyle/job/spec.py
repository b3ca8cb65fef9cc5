"""What a job is for: its typed spec (``job.json``) with a diff, and the render record an output carries.

:class:`JobSpec` is what a job directory promises to make: the frame selection it decoded
(``decode``), where its shots start and end (``shots``, with the cut settings that found them
in ``cuts``, so a resume reuses them instead of detecting again), each shot's settings as an
identity (``settings``: the settings plus the checksums of the style images) and the
encoder settings. A render compares the stored spec with the one it is asked for: a changed
selection starts the job over, changed shot settings redo those shots.

A finished render writes a record into its output's metadata (the ``comment`` tag): the
frame selection, each shot's span and settings. :func:`read_record` reads it back and
:func:`recorded_settings` rebuilds a shot's settings from it (``vidstyle eval
--make-baseline`` and ``vidstyle status`` use them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vidstyle.files.identity import file_sha256
from vidstyle.settings import RenderSettings

JOB_FORMAT = 1
NonNeg = Annotated[int, Field(ge=0, strict=True)]


class JobSpec(BaseModel):
    """``job.json``: what a job makes. Spans are processed positions [start, end)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    format: int = Field(JOB_FORMAT, strict=True)
    decode: dict[str, Any]
    shots: list[tuple[NonNeg, NonNeg]]
    settings: list[dict[str, Any]]
    encode: dict[str, Any] = {}
    cuts: dict[str, Any] | None = None  # the [shots] settings that placed the cuts (None: given by the caller)

    @model_validator(mode="after")
    def _consistent(self) -> JobSpec:
        if len(self.shots) != len(self.settings):
            raise ValueError(f"{len(self.shots)} shots but {len(self.settings)} shot settings")
        for k, (a, b) in enumerate(self.shots):
            if a >= b or (k and a != self.shots[k - 1][1]):
                raise ValueError(f"shot {k} spans [{a}, {b}), which does not follow the shot before")
        return self

    def selection_changes(self, decode: dict[str, Any]) -> list[str]:
        """How the input or frame selection differs from ``decode`` (empty: the same)."""
        return diff(self.decode, decode)

    def changed_shots(
        self, spans: list[tuple[int, int]], identities: list[dict[str, Any]]
    ) -> tuple[list[int], list[str]] | None:
        """Shots whose stored results cannot be reused for these spans and settings, with the
        reasons; None when nothing changed."""
        old_spans = [tuple(s) for s in self.shots]
        if old_spans != [tuple(s) for s in spans]:
            return list(range(max(len(spans), len(old_spans)))), [
                f"shots {[list(s) for s in old_spans]} → {[list(s) for s in spans]}"
            ]
        shots, reasons = [], []
        for k, (old, new) in enumerate(zip(self.settings, identities)):
            d = diff(old, new)
            if d:
                shots.append(k)
                reasons += [f"shot {k}: {x}" for x in d]
        return (shots, reasons) if shots else None

    def shot_settings(self) -> list[RenderSettings]:
        """Each shot's settings back from its stored identity."""
        return [recorded_settings(s) for s in self.settings]


def shot_identity(settings: RenderSettings) -> dict[str, Any]:
    """What decides a shot's pixels: its settings and the contents of its style images
    (a style image edited in place changes the identity, a copy elsewhere does not)."""
    data = json.loads(settings.model_dump_json())
    data["styles"] = [{"path": str(p), "sha256": file_sha256(Path(p))} for p in settings.styles]
    data["flow"].pop("workers", None)  # how fast, not what
    if data["temporal"].get("chunk") is None:  # unchunked: the identity of jobs made before chunks existed
        data["temporal"].pop("chunk", None)
        data["temporal"].pop("chunk_overlap", None)
    return data


def diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Human-readable differences between two JSON-like values: ``key.sub: old → new``."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new)):
            out += diff(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    return [] if old == new else [f"{prefix}: {old!r} → {new!r}"]


RECORD_TAG = "comment"
RECORD_PREFIX = "vidstyle render "


def read_record(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The render record (per-shot settings and spans) stored in a vidstyle output's metadata."""
    from vidstyle.video import probe  # the video layer sits below; imported where used

    text = probe(path).metadata.get(RECORD_TAG, "")
    if not text.startswith(RECORD_PREFIX):
        return None
    try:
        return json.loads(text[len(RECORD_PREFIX) :])
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
