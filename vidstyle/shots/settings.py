"""Where a video is cut into shots, and how cuts are detected: the ``[shots]`` settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, PlainValidator

from vidstyle.errors import VidstyleError
from vidstyle.video.timeline import Position, parse_position

Detector = Literal["adaptive", "content"]

# Detector defaults. Measured on the real clips of ../shared/media/videos at 256 px, stride 1,
# with luma-only scores (PySceneDetect's HSV "V" channel; see ``analyse_cuts``):
#
# * bbb 30 s (cuts at 11.79, 15.67, 22.96 s): adaptive ratio at the cuts 76.7 / 119 / 95.5 and
#   content score 79 / 76 / 108. Everywhere else in the 16 clips (fade-in from black, slow pan,
#   the cockatoo's fast close-up motion, hand-held shake, the VFR tree clip), the adaptive ratio
#   of frames scoring >= 15 is at most 3.9 (cockatoo at 6.7 s, score 30) and frames whose ratio
#   reaches 5 score at most 4.9. The plain content score elsewhere reaches 44 (cockatoo) and
#   19.4 within bbb.
# * With PySceneDetect's default HSV weights the fade-in from black (hue and saturation of
#   near-black pixels are noise: score 68 at 0.38 s) and colour flicker of the VP8 encode in the
#   pan (hue jumps to 31 at 5.79 s, ratio 4.8) cross the default thresholds; luma alone does not.
THRESHOLDS: dict[str, float] = {
    "adaptive": 6.0,  # frame score / mean score of the 2 frames either side (cuts >= 76, else <= 3.9)
    "content": 60.0,  # mean |ΔV| of a frame pair, 0-255 (cuts >= 76, else <= 44)
}
WINDOW = 2  # adaptive detector: frames either side averaged


def _position(value: object) -> Position:
    """A time or frame from TOML or the command line: numbers are seconds, ``"360f"`` a frame."""
    if isinstance(value, Position):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f'expected seconds or a frame like "360f", not {value!r}')
    try:
        pos = parse_position(float(value) if isinstance(value, int) else value, "")
    except VidstyleError as e:
        raise ValueError(str(e).removeprefix(": ")) from None
    assert pos is not None
    return pos


def _position_json(p: Position) -> float | str:
    """A position as written in configs: seconds as a number, a frame as ``"360f"``."""
    return f"{p.frame}f" if p.frame is not None else float(p.seconds or 0.0)


PositionField = Annotated[Position, PlainValidator(_position), PlainSerializer(_position_json)]


def parse_cuts(text: str) -> list[Position]:
    """Read a comma-separated list of cut positions, e.g. ``"11.8,15.7s,360f,1:02.5"``.

    Numbers are seconds (as everywhere on the command line); ``360f`` is source frame 360.
    Raises VidstyleError naming ``shots.cuts`` for an empty or unreadable entry.
    """
    items = [s.strip() for s in text.split(",")]
    if not text.strip() or any(not s for s in items):
        raise VidstyleError(f"shots.cuts: empty entry in {text!r} (expected e.g. 11.8,15.7s,360f)")
    positions = []
    for item in items:
        pos = parse_position(item, "shots.cuts")
        assert pos is not None
        positions.append(pos)
    return positions


def _cuts(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() not in ("auto", "none"):
        try:
            return tuple(parse_cuts(value))
        except VidstyleError as e:
            raise ValueError(str(e).removeprefix("shots.cuts: ")) from None
    if isinstance(value, str):
        return value.strip().lower()
    return value


Cuts = Literal["auto", "none"] | tuple[PositionField, ...]


class ShotsSettings(BaseModel):
    """Where the video is cut into shots, and how cuts are detected (the [shots] table)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    cuts: Annotated[Cuts, BeforeValidator(_cuts)] = Field(
        "auto",
        description="shots: auto (detect cuts), none (one shot), or cut times / frames like 11.8,15.7s,360f",
    )
    detector: Detector = Field("adaptive", description="cut detector: adaptive (robust to camera motion) or content")
    threshold: float | None = Field(
        None,
        gt=0,
        description=f"adaptive: a frame's change / its neighbours' (default {THRESHOLDS['adaptive']:g}); "
        f"content: the change, 0-255 (default {THRESHOLDS['content']:g})",
    )
    min_score: float = Field(
        15.0,
        ge=0,
        description="adaptive: a cut frame must also change at least this much (0-255; PySceneDetect's min_content_val)",
    )
    min_shot_seconds: float = Field(0.5, ge=0, description="drop a cut this close to the previous one (or the start)")
    black_level: float = Field(
        16.0,
        ge=0,
        le=255,
        description="mean brightness under which frames are black: a dip to black ends a shot (0: off)",
    )
    analysis_size: int = Field(256, ge=32, le=4096, description="longest side of the frames decoded for detection")

    @property
    def threshold_value(self) -> float:
        """The threshold in force: the given one, else the detector's default (:data:`THRESHOLDS`)."""
        return self.threshold if self.threshold is not None else THRESHOLDS[self.detector]
