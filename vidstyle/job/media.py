"""Frames in and out of a job: decoding the input into it, encoding its results to the output.

Frames are RGB uint8 (H, W, 3) arrays from :func:`vidstyle.video.open_video`; each decoded
frame is stored in the job with its source index, timestamp and checksum
(:class:`~vidstyle.job.store.FrameRecord`), and the output keeps those timestamps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vidstyle.errors import file_error
from vidstyle.files.atomic import atomic_write_bytes
from vidstyle.job.events import Event, Note, Stage
from vidstyle.job.records import sha256
from vidstyle.job.spec import record_metadata
from vidstyle.job.store import FrameRecord, Job, ResultRecord
from vidstyle.settings import EncodeSettings
from vidstyle.video import VideoWriter, open_video

Emit = Callable[[Event], None]
Fade = tuple[ResultRecord, float]  # a chunk's lead-in render of a frame, and its share in the output


def final_image(j: Job, record: ResultRecord, fade: Fade | None = None) -> np.ndarray:
    """A frame as the output shows it: its result, cross-faded with a later chunk's lead-in
    render of it where the two chunks overlap (see :mod:`vidstyle.temporal.units`)."""
    image = j.load_result(record)
    if fade is None:
        return image
    other, weight = fade
    mixed = (1.0 - weight) * image.astype(np.float32) + weight * j.load_result(other).astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def decode_into(
    input: Path, j: Job, size: int | None, start: Any, end: Any, stride: int, emit: Emit
) -> list[FrameRecord]:
    """Decode the selected frames of ``input`` at ``size`` into the job; their records, stored."""
    frames: list[FrameRecord] = []
    with open_video(input, size=size, start=start, end=end, stride=stride) as reader:
        total = len(reader)
        for pos, f in enumerate(reader):
            sha = j.store_content(pos, f.image)
            frames.append(FrameRecord(pos, f.index, f.pts, f.time, f.duration, sha))
            emit(Stage("decode", pos + 1, total))
        if reader.warning:
            j.log(reader.warning)
            emit(Note(reader.warning))
    if not frames:
        raise file_error(input, "no frames to stylise (check --start/--end)")
    j.write_frames(frames)
    j.log(f"decoded {len(frames)} frames")
    return frames


def repaired(j: Job, emit: Emit, text: str) -> None:
    """Say (in the log and as a note) what was found damaged and is being redone."""
    j.log(text)
    emit(Note(text))


def redecode_damaged(input: Path, j: Job, frames: list[FrameRecord], size: int | None, start: Any, end: Any,
                      stride: int, emit: Emit) -> list[FrameRecord]:  # fmt: skip
    """Decode again the stored content frames that are missing or damaged (decoding is
    deterministic, so they come back as they were; if not, their new checksum is recorded)."""
    bad = {f.pos for f in j.damaged_content(frames)}
    if not bad:
        return frames
    names = ", ".join(map(str, sorted(bad)[:5])) + (", …" if len(bad) > 5 else "")
    repaired(j, emit, f"decoded frame(s) {names} in {j.root / 'content'} were missing or damaged; decoding them again")
    out = list(frames)
    with open_video(input, size=size, start=start, end=end, stride=stride) as reader:
        for pos, f in enumerate(reader):
            if pos >= len(out):
                break
            if pos in bad:
                sha = j.store_content(pos, f.image)
                out[pos] = dataclasses.replace(out[pos], sha=sha)
                bad.discard(pos)
                if not bad:
                    break
    if bad:
        raise file_error(input, f"frame(s) {sorted(bad)} can no longer be decoded; the input changed?")
    if out != frames:
        j.write_frames(out)
    return out


def encode_from(
    input: Path, output: Path, j: Job, frames: list[FrameRecord], last_pass: Sequence[int],
    done: dict[tuple[int, int], ResultRecord], encode: EncodeSettings, start: Any, end: Any, stride: int,
    record: dict[str, Any], emit: Emit, fades: Mapping[int, Fade] | None = None, unless_since: float | None = None,
) -> bool:  # fmt: skip
    """Write the final pass of every frame with the source's timing, audio and tags
    (``fades``: the frames where two chunks of a shot overlap, by position). With
    ``unless_since`` (a time.time()), nothing is written (False returned) when JOB/encoded.json
    says this output was written since then from the same frames, by another render of the
    job finishing beside this one (call it with JOB/encode.lock held)."""
    fades = fades or {}
    finals = [done[(p, f.pos)].sha for f, p in zip(frames, last_pass)]
    mark = [finals, sorted((k, r.sha, w) for k, (r, w) in fades.items()), str(output.resolve())]
    fingerprint = sha256(json.dumps(mark).encode())
    marker = j.root / "encoded.json"
    if unless_since is not None:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            was, st = json.loads(marker.read_text()), output.stat()
            if (
                was["fingerprint"] == fingerprint
                and was["time"] >= unless_since
                and was["output"] == [st.st_size, st.st_mtime_ns]
            ):
                return False
    with open_video(input, start=start, end=end, stride=stride) as reader:
        info, (t0, t1) = reader.source_info, reader.trim
    first = final_image(j, done[(last_pass[0], 0)], fades.get(0))
    h, w = first.shape[:2]
    metadata = {**info.metadata, **record_metadata(record)}
    with VideoWriter(
        output, width=w, height=h, fps=info.fps, time_base=info.time_base, codec=encode.codec, crf=encode.crf,
        preset=encode.preset, audio_from=info.path if info.has_audio and not info.is_sequence else None,
        start=t0, end=t1, metadata=metadata, stream_metadata=info.stream_metadata, colorspace=info.colorspace,
        sample_aspect_ratio=info.sample_aspect_ratio,
    ) as writer:  # fmt: skip
        for f, p in zip(frames, last_pass):
            image = first if f.pos == 0 else final_image(j, done[(p, f.pos)], fades.get(f.pos))
            writer.write(image, pts=f.pts, time=f.time, duration=f.duration)
            emit(Stage("encode", f.pos + 1, len(frames)))
    st = output.stat()
    atomic_write_bytes(marker, json.dumps({"fingerprint": fingerprint, "time": time.time(),
                                           "output": [st.st_size, st.st_mtime_ns]}).encode())  # fmt: skip
    return True
