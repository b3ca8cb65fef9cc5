"""The records a job directory holds, and the models that check them when read back.

Frames are stored as PNG (RGB uint8, H x W x 3) with a SHA-256 of the file; the manifest
(``manifest.jsonl``) holds one JSON row per stored result or invalidation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from typing import Annotated, Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from vidstyle.files.atomic import describe_os_error


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_png(image: np.ndarray) -> bytes:
    """Lossless PNG bytes of an H×W×3 uint8 image (fast compression: results are rewritten often)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.array(im.convert("RGB"))


@dataclasses.dataclass(frozen=True)
class FrameRecord:
    """One decoded frame of the job (position = order in the processed sequence)."""

    pos: int
    index: int  # source frame index
    pts: int | None
    time: float
    duration: int | None
    sha: str


@dataclasses.dataclass(frozen=True)
class ResultRecord:
    """A durable stylised result, as recorded in the manifest."""

    shot: int
    pass_: int
    pos: int
    sha: str
    seconds: float
    losses: dict[str, float]
    lead: bool = False  # a chunk's lead-in render of a frame another chunk owns (cross-faded in the output)


# -- what a job's files must look like ---------------------------------------------------------
# A job is data we wrote but must not trust (a crash, a full disk or a person may have damaged
# it): everything read back is validated with these models; what fails is redone.
Sha = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
NonNeg = Annotated[int, Field(ge=0, strict=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class FrameModel(_Strict):
    """One entry of frames.json."""

    pos: NonNeg
    index: NonNeg
    pts: int | None = Field(strict=True)
    time: float
    duration: int | None = Field(strict=True)
    sha: Sha


class ResultRow(_Strict):
    """A ``result`` line of manifest.jsonl."""

    type: Literal["result"]
    shot: NonNeg
    pass_: Annotated[int, Field(ge=1, strict=True, alias="pass")]
    pos: NonNeg
    sha: Sha
    seconds: Annotated[float, Field(ge=0)] = 0.0
    losses: dict[str, float] = {}
    lead: bool = False


class InvalidateRow(_Strict):
    """An ``invalidate`` line of manifest.jsonl (a shot's settings changed)."""

    type: Literal["invalidate"]
    shots: list[NonNeg]
    reason: str = ""


FRAMES = TypeAdapter(list[FrameModel])
ROW = TypeAdapter(Annotated[ResultRow | InvalidateRow, Field(discriminator="type")])


def parse_row(raw: bytes) -> ResultRow | InvalidateRow | None:
    try:
        return ROW.validate_json(raw)
    except (ValidationError, ValueError):
        return None


def first_problem(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{where + ': ' if where else ''}{err.get('msg', 'invalid')}"


def short_error(e: Exception) -> str:
    text = describe_os_error(e) if isinstance(e, OSError) else str(e)
    return text if len(text) <= 80 else text[:77] + "..."


def result_row(rec: ResultRecord) -> dict[str, Any]:
    row = {
        "shot": rec.shot,
        "pass": rec.pass_,
        "pos": rec.pos,
        "sha": rec.sha,
        "seconds": rec.seconds,
        "losses": rec.losses,
    }
    return {**row, "lead": True} if rec.lead else row  # plain rows as before chunks existed
