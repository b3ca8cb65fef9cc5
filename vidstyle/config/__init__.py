"""Render configs in TOML: file-wide settings, then per-shot overrides, validated by pydantic.

A config file holds (every part optional)::

    preset = "balanced"                 # starting point: settings.PRESETS
    size = 512                          # longest side of the stylised frames (0 or "source": as is)
    styles = ["starry_night.jpg"]       # style images, relative to this file's folder
    [style] / [optim] / [temporal] / [flow]    # fields of settings.RenderSettings' sections
    [encode]                            # settings.EncodeSettings
    [shots]                             # cuts = "auto" | "none" | [11.8, "15.7s", "360f"]; detector options
    [[shot]]                            # overrides for the shots it selects, in file order:
    index = 2            # by shot number (0-based; a list selects several), or
    at = "13s"           # the shot containing that time / source frame ("360f"), or
    start = "11.8s"      # the shots whose middle lies in [start, end) (either bound optional)
    end = "15.7s"
    styles = [...]; [shot.style], [shot.optim], [shot.temporal], [shot.flow]

Numbers given for times (``cuts``, ``at``, ``start``, ``end``) are seconds, even whole ones;
``"360f"`` is source frame 360 and ``"1:02.5"`` a clock time.

Layering, each layer overriding the one before, for the settings of one shot:

1. built-in defaults (``settings.py``), 2. the preset (the file's ``preset``, or
``--preset``), 3. the file's top level, 4. the ``[[shot]]`` blocks that select the shot, in
file order, 5. command-line options.

Command-line options come last, so a value typed on the command line is the value every
shot uses ("command-line options override the file", per-shot blocks included): a quick
``--iterations 50`` preview really is cheap everywhere, and ``--style-weight 200`` really
changes every shot. Keys the command line does not set keep their per-shot values.
``with_overrides(..., shot_blocks_win=True)`` swaps layers 4 and 5 for callers that want
the command line to replace only the file's top level.

A layer that sets ``styles`` without ``style.style_blend`` resets the blend to equal weights,
so a shot (or ``--style``) that names one painting never inherits a blend for two. ``size``
applies to the whole video and cannot change per shot.

Every problem is raised as a :class:`~vidstyle.errors.VidstyleError` of one line naming the
file, the line where it can tell, the key and the problem, e.g.
``configs/film.toml: line 12: shot[1].style.style_weight: Input should be greater than or
equal to 0 (got -5)``; ``shot[1]`` is the second ``[[shot]]`` block of the file.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from vidstyle.errors import VidstyleError
from vidstyle.settings import (
    DEFAULT_PRESET,
    PRESETS,
    EncodeSettings,
    FlowSettings,
    OptimSettings,
    RenderSettings,
    StyleSettings,
    TemporalSettings,
    apply_overrides,
    preset_settings,
)
from vidstyle.shots import (
    ADAPTIVE_THRESHOLD,
    ANALYSIS_SIZE,
    BLACK_LEVEL,
    CONTENT_THRESHOLD,
    DEFAULT_DETECTOR,
    MIN_SCORE,
    MIN_SHOT_SECONDS,
    Detector,
    FrameTimes,
    Shot,
    analyse_cuts,
    frame_times,
    parse_cuts,
    shots_from_cuts,
)
from vidstyle.video import Position, parse_position
from vidstyle.video.timeline import PositionLike

SECTIONS: dict[str, type[BaseModel]] = {
    "style": StyleSettings, "optim": OptimSettings, "temporal": TemporalSettings, "flow": FlowSettings,
}
COMMAND_LINE = "command line"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


# -- positions and cuts ----------------------------------------------------------------------


def _position(value: object) -> Position:
    """A time or frame from TOML or the command line: numbers are seconds, ``"360f"`` a frame."""
    if isinstance(value, Position):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected seconds or a frame like \"360f\", not {value!r}")
    if isinstance(value, int):
        value = float(value)
    if not isinstance(value, (float, str)):
        raise ValueError(f"expected seconds or a frame like \"360f\", not {value!r}")
    try:
        pos = parse_position(value, "")
    except VidstyleError as e:
        raise ValueError(str(e).removeprefix(": ")) from None
    assert pos is not None
    return pos


PositionField = Annotated[Position, PlainValidator(_position)]


def _cuts(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() not in ("auto", "none"):
        try:
            return tuple(parse_cuts(value))
        except VidstyleError as e:
            raise ValueError(str(e).removeprefix("cuts: ")) from None
    if isinstance(value, str):
        return value.strip().lower()
    return value


def _one_or_many(value: object) -> object:
    return value if isinstance(value, (list, tuple)) else (value,)


# ``styles = "a.jpg"`` is accepted for ``styles = ["a.jpg"]``.
StylesField = Annotated[tuple[Path, ...] | None, BeforeValidator(lambda v: v if v is None else _one_or_many(v))]


class ShotsSection(_Model):
    """Where the video is cut into shots, and how cuts are detected (the [shots] table)."""

    cuts: Annotated[Literal["auto", "none"] | tuple[PositionField, ...], BeforeValidator(_cuts)] = Field(
        "auto", description='"auto" (detect), "none" (one shot), or a list of cut times / frames like [11.8, "360f"]')
    detector: Detector = Field(DEFAULT_DETECTOR, description="adaptive (robust to camera motion) or content")
    threshold: float | None = Field(
        None, gt=0, description=f"adaptive: a frame's change / its neighbours' (default {ADAPTIVE_THRESHOLD:g}); "
                                f"content: the change, 0-255 (default {CONTENT_THRESHOLD:g})")
    min_score: float = Field(MIN_SCORE, ge=0, description="adaptive: a cut frame must also change at least this much (0-255)")
    min_shot_seconds: float = Field(MIN_SHOT_SECONDS, ge=0, description="drop a cut this close to the previous one")
    black_level: float = Field(BLACK_LEVEL, ge=0, le=255,
                               description="mean brightness under which frames are black: a dip to black ends a shot (0: off)")
    analysis_size: int = Field(ANALYSIS_SIZE, ge=32, le=4096, description="longest side of the frames decoded for detection")

    def detector_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`vidstyle.shots.detect_cuts`."""
        return {"detector": self.detector, "threshold": self.threshold, "min_score": self.min_score,
                "min_shot_seconds": self.min_shot_seconds, "black_level": self.black_level, "size": self.analysis_size}

    def find_shots(self, path: str | Path, *, start: PositionLike | None = None, end: PositionLike | None = None,
                   stride: int = 1) -> list[Shot]:
        """The shots of the frames a render of ``path`` with this trim and stride processes."""
        if self.cuts == "auto":
            return analyse_cuts(path, start=start, end=end, stride=stride, **self.detector_options()).shots()
        frames = frame_times(path, start=start, end=end, stride=stride)
        return shots_from_cuts(frames, () if self.cuts == "none" else self.cuts)

    def split(self, path: str | Path, frames: Sequence[Any], *, start: PositionLike | None = None,
              end: PositionLike | None = None, stride: int = 1) -> list[Shot]:
        """Shots over frames a renderer already decoded (objects with ``index`` and ``time``,
        or (index, time) pairs), decoded from ``path`` with this ``start``/``end``/``stride``.

        Detected cuts are matched to ``frames`` by source frame index, so a file that ends
        early still gets consistent shots.
        """
        pairs = [(int(f[0]), float(f[1])) if isinstance(f, (tuple, list)) else (f.index, f.time) for f in frames]
        cuts: Sequence[Position] = ()
        if self.cuts == "auto":
            found = analyse_cuts(path, start=start, end=end, stride=stride, **self.detector_options()).cuts
            cuts = [Position(frame=c.index) for c in found]
        elif self.cuts != "none":
            cuts = self.cuts
        return shots_from_cuts(FrameTimes.from_pairs(pairs, stride=stride), cuts)


# -- [[shot]] blocks --------------------------------------------------------------------------


class ShotBlock(_Model):
    """One ``[[shot]]`` table: a selector and the settings it overrides for the shots it selects."""

    index: Annotated[tuple[Annotated[int, Field(ge=0)], ...] | None, BeforeValidator(
        lambda v: v if v is None else _one_or_many(v))] = None
    at: Annotated[tuple[PositionField, ...] | None, BeforeValidator(lambda v: v if v is None else _one_or_many(v))] = None
    start: PositionField | None = None
    end: PositionField | None = None
    styles: StylesField = None
    style: dict[str, Any] | None = None
    optim: dict[str, Any] | None = None
    temporal: dict[str, Any] | None = None
    flow: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_size(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "size" in data:
            raise ValueError("size applies to the whole video and cannot change per shot")
        return data

    @model_validator(mode="after")
    def _one_selector(self) -> ShotBlock:
        kinds = [k for k, v in (("index", self.index), ("at", self.at)) if v is not None]
        if self.start is not None or self.end is not None:
            kinds.append("start/end")
        if not kinds:
            raise ValueError("needs a selector: index = N, at = TIME, or start = TIME / end = TIME")
        if len(kinds) > 1:
            raise ValueError(f"give one selector, not {' and '.join(kinds)}")
        if self.index == () or self.at == ():
            raise ValueError(f"{kinds[0]} is an empty list")
        s, e = self.start, self.end
        if s is not None and e is not None:
            same = (s.frame is not None and e.frame is not None and s.frame >= e.frame) or (
                s.seconds is not None and e.seconds is not None and s.seconds >= e.seconds)
            if same:
                raise ValueError(f"start ({s}) must be before end ({e})")
        return self

    def matches(self, shot: Shot) -> bool:
        """Whether this block applies to ``shot``: its index is listed, it contains an ``at``
        time/frame, or its middle lies in [start, end)."""
        if self.index is not None:
            return shot.index in self.index
        if self.at is not None:
            return any(shot.contains(p) for p in self.at)
        return (self.start is None or _before(self.start, shot)) and (self.end is None or not _before(self.end, shot))

    def overrides(self) -> dict[str, Any]:
        """The settings this block sets, as a nested dict for :func:`settings.apply_overrides`."""
        return {k: v for k in ("styles", *SECTIONS) if (v := getattr(self, k)) is not None}

    def describe(self) -> str:
        """The selector as written, e.g. ``index = 2`` or ``start = 11.8 s, end = 15.7 s``."""
        if self.index is not None:
            return "index = " + ", ".join(map(str, self.index))
        if self.at is not None:
            return "at = " + ", ".join(map(str, self.at))
        return ", ".join(f"{k} = {v}" for k, v in (("start", self.start), ("end", self.end)) if v is not None)


def _before(bound: Position, shot: Shot) -> bool:
    """Whether ``bound`` is at or before the middle of ``shot`` (in the bound's unit)."""
    if bound.frame is not None:
        return bound.frame <= 0.5 * (shot.first_frame + shot.end_frame)
    assert bound.seconds is not None
    return bound.seconds <= shot.middle_time


# -- the file ------------------------------------------------------------------------------------


def _size(value: object) -> object:
    if (value == 0 and not isinstance(value, bool)) or (isinstance(value, str) and value.strip().lower() == "source"):
        return "source"
    return value


class ConfigFile(_Model):
    """The structure of a config file; the render sections are checked against the settings
    models when layered (see :class:`RenderConfig`)."""

    preset: str = DEFAULT_PRESET
    size: Annotated[Annotated[int, Field(ge=16)] | Literal["source"] | None, BeforeValidator(_size)] = None
    styles: StylesField = None
    style: dict[str, Any] | None = None
    optim: dict[str, Any] | None = None
    temporal: dict[str, Any] | None = None
    flow: dict[str, Any] | None = None
    encode: EncodeSettings = EncodeSettings()
    shots: ShotsSection = ShotsSection()
    shot: tuple[ShotBlock, ...] = ()

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, v: str) -> str:
        if v not in PRESETS:
            raise ValueError(f"unknown preset {v!r} (expected {', '.join(PRESETS)})")
        return v

    def overrides(self) -> dict[str, Any]:
        """The top-level render settings the file sets, as a nested dict."""
        out: dict[str, Any] = {k: v for k in ("styles", *SECTIONS) if (v := getattr(self, k)) is not None}
        if self.size is not None:
            out["size"] = None if self.size == "source" else self.size
        return out


class RenderConfig(_Model):
    """A loaded config (or the command line alone): how to split the video and what settings
    each shot gets. Build with :func:`load_config` or :func:`config_from_options`."""

    source: str = COMMAND_LINE  # the file as the user named it, for messages
    preset: str = DEFAULT_PRESET
    defaults: dict[str, Any] = {}  # the file's top-level render settings (paths resolved)
    encode: EncodeSettings = EncodeSettings()
    shots: ShotsSection = ShotsSection()
    shot_blocks: tuple[ShotBlock, ...] = ()
    lines: dict[tuple[str | int, ...], int] = Field({}, repr=False)  # key path -> line in the file
    command_line: dict[str, Any] = {}
    shot_blocks_win: bool = False

    @property
    def cuts(self) -> Literal["auto", "none"] | tuple[Position, ...]:
        """Where to cut: ``"auto"``, ``"none"`` or the given positions."""
        return self.shots.cuts

    @property
    def settings(self) -> RenderSettings:
        """The settings of a shot that no ``[[shot]]`` block selects."""
        return self._resolve([])

    def settings_for(self, shot: Shot) -> RenderSettings:
        """The fully resolved settings of ``shot`` (see the module docstring for the layers)."""
        blocks = self.blocks_for(shot)
        try:
            return self._resolve(blocks)
        except VidstyleError as e:
            raise VidstyleError(f"{self.source}: {shot.describe()}: {str(e).removeprefix(self.source + ': ')}") from None

    def blocks_for(self, shot: Shot) -> list[int]:
        """Numbers of the ``[[shot]]`` blocks that select ``shot``, in the order they apply."""
        return [k for k, b in enumerate(self.shot_blocks) if b.matches(shot)]

    def unmatched_blocks(self, shots: Sequence[Shot]) -> list[str]:
        """One line for each ``[[shot]]`` block that selects none of ``shots`` (worth a warning)."""
        return [f"{self._block_name(k)} ({b.describe()}) selects none of the {len(shots)} shots"
                for k, b in enumerate(self.shot_blocks) if not any(b.matches(s) for s in shots)]

    def with_overrides(self, options: Mapping[str, Any] | None, *, shot_blocks_win: bool | None = None) -> RenderConfig:
        """This config with command-line values on top; ``None`` values mean "not given".

        ``options`` has the file's shape: ``preset``, ``size``, ``styles``, sections
        ``style``/``optim``/``temporal``/``flow``/``encode``/``shots`` as dicts of fields.
        Relative paths are taken as given (relative to the working directory).
        """
        opts = _drop_none(dict(options or {}))
        _check_keys(COMMAND_LINE, opts, (), None)
        preset = opts.pop("preset", self.preset)
        if preset not in PRESETS:
            raise VidstyleError(f"{COMMAND_LINE}: preset: unknown preset {preset!r} (expected {', '.join(PRESETS)})")
        encode = _updated(self.encode, opts.pop("encode", None), "encode")
        shots = _updated(self.shots, opts.pop("shots", None), "shots")
        if "size" in opts:
            size = _size(opts["size"])
            opts["size"] = None if size == "source" else size
        _check_paths(COMMAND_LINE, opts, None, (), None)
        merged = _merge_layers(self.command_line, opts)
        config = self.model_copy(update={
            "preset": preset, "encode": encode, "shots": shots, "command_line": merged,
            "shot_blocks_win": self.shot_blocks_win if shot_blocks_win is None else shot_blocks_win,
        })
        config.validate_blocks()  # a bad option fails now, before any work
        return config

    def validate_blocks(self) -> None:
        """Resolve the file-wide settings and each ``[[shot]]`` block on its own, so that bad
        values and combinations fail at load time (combinations of several blocks selecting
        the same shot are checked by :meth:`settings_for`)."""
        self._resolve([])
        for k in range(len(self.shot_blocks)):
            self._resolve([k])

    # -- internals -------------------------------------------------------------------------

    def _block_name(self, k: int) -> str:
        line = self.lines.get(("shot", k))
        return f"shot[{k}]" + (f" (line {line})" if line else "")

    def _resolve(self, blocks: Sequence[int]) -> RenderSettings:
        settings = preset_settings(self.preset)
        layers: list[tuple[str, tuple[str | int, ...], dict[str, Any]]] = [(self.source, (), self.defaults)]
        shot_layers = [(self.source, ("shot", k), self.shot_blocks[k].overrides()) for k in blocks]
        cli = [(COMMAND_LINE, (), self.command_line)]
        layers += (cli + shot_layers) if self.shot_blocks_win else (shot_layers + cli)
        for source, prefix, layer in layers:
            settings = _apply(settings, layer, source, prefix, self.lines if source != COMMAND_LINE else None)
        return settings


M = typing.TypeVar("M", bound=BaseModel)


def _updated(model: M, values: Mapping[str, Any] | None, key: str) -> M:
    """``model`` with command-line ``values`` for some fields, validated."""
    if not values:
        return model
    try:
        return type(model).model_validate({**{k: getattr(model, k) for k in model.model_fields_set}, **values})
    except ValidationError as e:
        raise _validation_error(COMMAND_LINE, e, (key,)) from None


def _apply(settings: RenderSettings, layer: Mapping[str, Any], source: str, prefix: tuple[str | int, ...],
           lines: Mapping[tuple[str | int, ...], int] | None) -> RenderSettings:
    """``settings`` with one layer applied; errors name ``source``, the line and the key."""
    if not layer:
        return settings
    layer = dict(layer)
    if "styles" in layer and "style_blend" not in (layer.get("style") or {}):
        layer["style"] = {**(layer.get("style") or {}), "style_blend": None}
    try:
        return apply_overrides(settings, layer)
    except ValidationError as e:
        raise _validation_error(source, e, prefix, lines) from None


def _merge_layers(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(old)
    for k, v in new.items():
        out[k] = {**out[k], **v} if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            v = _drop_none(dict(v))
            if not v:
                continue
        if v is not None:
            out[k] = v
    return out


# -- loading -------------------------------------------------------------------------------------


def load_config(path: str | Path) -> RenderConfig:
    """Read and validate a TOML config; relative paths in it resolve against its folder."""
    name = str(path)
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise VidstyleError(f"{name}: cannot read config ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise VidstyleError(f"{name}: not a TOML file (not UTF-8 text)") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.match(r"^(.*?)\s*\(at line (\d+), column \d+\)$", str(e))
        where = f"line {m.group(2)}: " if m else ""
        problem = m.group(1) if m else str(e).replace("(at end of document)", "at the end").strip()
        raise VidstyleError(f"{name}: {where}invalid TOML ({problem})") from None
    lines = _key_lines(text)
    _check_keys(name, raw, (), lines)
    blocks_raw = raw.get("shot")
    for k, block in enumerate(blocks_raw if isinstance(blocks_raw, list) else []):
        if isinstance(block, dict):
            _check_keys(name, block, ("shot", k), lines)
    try:
        parsed = ConfigFile.model_validate(raw)
    except ValidationError as e:
        raise _validation_error(name, e, (), lines) from None
    folder = p.resolve().parent
    defaults = _check_paths(name, parsed.overrides(), folder, (), lines)
    blocks = []
    for k, block in enumerate(parsed.shot):
        resolved = _check_paths(name, block.overrides(), folder, ("shot", k), lines)
        blocks.append(block.model_copy(update=resolved))
    config = RenderConfig(source=name, preset=parsed.preset, defaults=defaults, encode=parsed.encode,
                          shots=parsed.shots, shot_blocks=tuple(blocks), lines=lines)
    config.validate_blocks()
    return config


def config_from_options(options: Mapping[str, Any] | None = None) -> RenderConfig:
    """A config from command-line values alone (no file); ``None`` values mean "not given"."""
    return RenderConfig().with_overrides(options)


# Keys a file or the command line may use at each level (for "unknown key" and suggestions).
_TOP_KEYS = tuple(ConfigFile.model_fields)
_SHOT_KEYS = tuple(ShotBlock.model_fields)


def _allowed(parent: tuple[str | int, ...]) -> tuple[str, ...] | None:
    names = [p for p in parent if isinstance(p, str)]
    if not names:
        return _TOP_KEYS
    if names == ["shot"]:
        return _SHOT_KEYS
    last = names[-1]
    if last in SECTIONS:
        return tuple(SECTIONS[last].model_fields)
    if last == "encode":
        return tuple(EncodeSettings.model_fields)
    if last == "shots":
        return tuple(ShotsSection.model_fields)
    return None


def _check_keys(source: str, data: Mapping[str, Any], prefix: tuple[str | int, ...],
                lines: Mapping[tuple[str | int, ...], int] | None) -> None:
    """Unknown keys, with a suggestion; recurses into the known sections."""
    allowed = _allowed(prefix)
    if allowed is None:
        return
    for key, value in data.items():
        if key not in allowed:
            if len(prefix) == 2 and prefix[0] == "shot" and key == "size":
                continue  # ShotBlock explains why size cannot be set per shot
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]}?)" if close else f" (expected one of: {', '.join(allowed)})"
            raise VidstyleError(_message(source, (*prefix, key), f"unknown key{hint}", lines))
        if isinstance(value, Mapping) and key in (*SECTIONS, "encode", "shots"):
            _check_keys(source, value, (*prefix, key), lines)


_PATH_FIELDS = (("style", "weights"), ("flow", "raft_weights"), ("optim", "init"))


def _check_paths(source: str, layer: dict[str, Any], folder: Path | None, prefix: tuple[str | int, ...],
                 lines: Mapping[tuple[str | int, ...], int] | None) -> dict[str, Any]:
    """``layer`` with relative file paths resolved against ``folder`` (None: as given), after
    checking that each file exists; errors name the key that refers to the file."""
    out = dict(layer)

    def resolve(value: object, key: tuple[str | int, ...], what: str) -> object:
        if not isinstance(value, (str, Path)):
            return value
        p = Path(value).expanduser()
        if folder is not None and not p.is_absolute():
            p = Path(os.path.normpath(folder / p))
        if not p.is_file():
            raise VidstyleError(_message(source, (*prefix, *key), f"{what} not found: {p}", lines))
        return p

    if isinstance(out.get("styles"), (list, tuple)):
        out["styles"] = tuple(resolve(v, ("styles", i), "style image") for i, v in enumerate(out["styles"]))
    for section, field in _PATH_FIELDS:
        values = out.get(section)
        if not isinstance(values, Mapping) or field not in values:
            continue
        value = values[field]
        if field == "init" and value in ("content", "noise"):
            continue
        what = "start image" if field == "init" else "weights file"
        out[section] = {**values, field: str(resolve(value, (section, field), what))}
    return out


# -- messages ------------------------------------------------------------------------------------


def _key_name(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(source: str, loc: Sequence[str | int], problem: str,
             lines: Mapping[tuple[str | int, ...], int] | None) -> str:
    line = None
    if lines:
        for n in range(len(loc), 0, -1):  # the line of the key, or of the nearest table holding it
            if (found := lines.get(tuple(loc[:n]))) is not None:
                line = found
                break
    where = f"line {line}: " if line else ""
    key = _key_name(loc)
    return f"{source}: {where}{key + ': ' if key else ''}{problem}"


def _validation_error(source: str, error: ValidationError, prefix: tuple[str | int, ...],
                      lines: Mapping[tuple[str | int, ...], int] | None = None) -> VidstyleError:
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
    elif "input" in err and not isinstance(err["input"], (dict, list, tuple)) and err.get("type") not in (
            "value_error", "assertion_error"):
        msg += f" (got {_short(err['input'])})"
    others = len({where for where, _ in errors if where != loc[:len(where)]})
    if others > 0:
        msg += f" (and {others} more problem{'s' if others > 1 else ''})"
    return VidstyleError(_message(source, (*prefix, *loc), msg, lines))


def _is_union_tag(part: object) -> bool:
    """pydantic puts the tried member of a union into ``loc`` (``int``, ``constrained-int``,
    ``literal['auto','none']``, ``tuple[...]``, ``function-plain[...]``); keys never look like that."""
    return isinstance(part, str) and (part in ("int", "float", "str", "bool", "tuple", "none")
                                      or any(c in part for c in "[(-"))


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\s\"']+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*)\s*=")


def _key_lines(text: str) -> dict[tuple[str | int, ...], int]:
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


# -- the documented default config ---------------------------------------------------------------

# What the fields without a description in settings.py do (for configs/default.toml).
_FIELD_DOCS = {
    "content_layers": "VGG-19 layers whose features the result keeps from the frame",
    "style_layers": "VGG-19 layers whose Gram matrices carry the style",
    "preserve_colors": "keep the frame's colours: none, luminance (restyle brightness only) or match (recolour the style)",
    "pooling": "pooling in the network: max (Gatys) or avg",
    "network": "caffe (original VGG-19 weights) or torchvision (needs style.weights)",
    "precision": "network arithmetic: bf16 (losses still in fp32) or fp32; auto is bf16 where the GPU or CPU runs it natively",
    "optimizer": "lbfgs (Ruder's settings: fixed step) or adam",
    "seed": "seed of the noise start; results are deterministic for a seed",
    "backend": "optical flow method: dis (OpenCV, CPU), farneback, or raft (needs flow.raft_weights)",
    "crf": "constant rate factor: lower is better quality and bigger files (default: the codec's)",
}


def default_config_text() -> str:
    """The text of ``configs/default.toml``: every key, set to what a render without a config
    uses, with a comment saying what it does. Generated from the settings models."""
    base = preset_settings(DEFAULT_PRESET)
    out = [
        "# vidstyle render config: every key, set to the value a render without a config uses",
        f"# (the built-in defaults with preset \"{DEFAULT_PRESET}\" applied). Generated from vidstyle/settings.py",
        "# by vidstyle.config.default_config_text(); a test keeps the two equal.",
        "#",
        "# Your own config needs only the keys you change: the preset gives the rest. (Here every",
        "# key is set, so changing the preset line alone changes nothing.) Keys shown commented out",
        "# have no fixed default. Relative paths resolve against the config file's folder.",
        "# Layering: defaults < preset < this file's top level < [[shot]] blocks < command-line options.",
        "",
        f"preset = {_toml(DEFAULT_PRESET)}  # starting point: {', '.join(PRESETS)}",
        f"size = {_toml(base.size)}  # longest side of the stylised frames (0 or \"source\": the source size)",
        f"styles = []  # {_doc(RenderSettings, 'styles')}",
    ]
    for section, model in SECTIONS.items():
        out += ["", f"[{section}]  # {_first_line(model.__doc__)}", *_fields(model, getattr(base, section))]
    out += ["", f"[encode]  # {_first_line(EncodeSettings.__doc__)}", *_fields(EncodeSettings, EncodeSettings())]
    out += ["", f"[shots]  # {_first_line(ShotsSection.__doc__)}", *_fields(ShotsSection, ShotsSection())]
    out += [
        "",
        "# Per-shot overrides: any number of [[shot]] tables, applied in order to the shots they select.",
        "# Select by index (0-based, or a list), by a time or frame inside the shot (at), or by a",
        "# range (start/end: shots whose middle lies in it). See configs/film_shots.toml.",
        "# [[shot]]",
        "# index = 1",
        "# styles = [\"../sample_clips/styles/great_wave.jpg\"]",
        "# style.style_weight = 200.0",
        "",
    ]
    return "\n".join(out)


def _fields(model: type[BaseModel], values: BaseModel) -> list[str]:
    lines = []
    for name in model.model_fields:
        value = getattr(values, name)
        doc = _doc(model, name)
        if value is None:
            lines.append(f"# {name} =  # {doc}" + ("" if "default" in doc else " (not set by default)"))
        else:
            lines.append(f"{name} = {_toml(value)}  # {doc}")
    return lines


def _doc(model: type[BaseModel], name: str) -> str:
    field = model.model_fields[name]
    doc = field.description or _FIELD_DOCS.get(name, "")
    choices = _choices(field.annotation)
    if choices and not any(c in doc for c in choices):
        doc = f"{doc} ({', '.join(choices)})" if doc else ", ".join(choices)
    return doc


def _choices(annotation: object) -> list[str]:
    if typing.get_origin(annotation) is Literal:
        return [str(a) for a in typing.get_args(annotation)]
    return []


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc else ""


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
