"""Which tags travel from a source to an output (titles, languages, dates) and which are stale there."""

from __future__ import annotations

from collections.abc import Mapping

# Tags that describe the old file rather than the content: its muxer, encoder, length, brand.
STALE_TAGS = frozenset(
    {
        "encoder",
        "duration",
        "major_brand",
        "minor_version",
        "compatible_brands",
        "rotate",
        "number_of_frames",
        "number_of_bytes",
        "_statistics_tags",
        "_statistics_writing_app",
        "_statistics_writing_date_utc",
        "bps",
        "vendor_id",
    }
)


def _keep(key: str) -> bool:
    k = key.lower()
    return k not in STALE_TAGS and not k.startswith(("duration-", "number_of_frames-", "number_of_bytes-", "bps-"))


def container_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Container-level tags worth copying (title, date, location, comment, ...)."""
    return {k: v for k, v in tags.items() if _keep(k)}


def stream_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Stream-level tags worth copying (language, handler_name, title, creation_time, ...)."""
    return {k: v for k, v in tags.items() if _keep(k)}
