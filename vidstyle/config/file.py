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
import tomllib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, ValidationError, field_validator

from vidstyle.config.blocks import SECTIONS, ShotBlock, StylesField, _Model
from vidstyle.config.messages import key_lines, message, toml_error, validation_error
from vidstyle.errors import VidstyleError
from vidstyle.settings import (
    DEFAULT_PRESET,
    PRESETS,
    EncodeSettings,
    RenderSettings,
    apply_overrides,
    preset_settings,
)
from vidstyle.shots import Shot, ShotsSettings
from vidstyle.video.timeline import Position

COMMAND_LINE = "command line"


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
    shots: ShotsSettings = ShotsSettings()
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
    defaults: dict[str, Any] = Field(default_factory=dict)  # the file's top-level render settings (paths resolved)
    encode: EncodeSettings = EncodeSettings()
    shots: ShotsSettings = ShotsSettings()
    shot_blocks: tuple[ShotBlock, ...] = ()
    lines: dict[tuple[str | int, ...], int] = Field({}, repr=False)  # key path -> line in the file
    command_line: dict[str, Any] = Field(default_factory=dict)

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
            raise VidstyleError(
                f"{self.source}: {shot.describe()}: {str(e).removeprefix(self.source + ': ')}"
            ) from None

    def blocks_for(self, shot: Shot) -> list[int]:
        """Numbers of the ``[[shot]]`` blocks that select ``shot``, in the order they apply."""
        return [k for k, b in enumerate(self.shot_blocks) if b.matches(shot)]

    def unmatched_blocks(self, shots: Sequence[Shot]) -> list[str]:
        """One line for each ``[[shot]]`` block that selects none of ``shots`` (worth a warning)."""
        return [
            f"{self._block_name(k)} ({b.describe()}) selects none of the {len(shots)} shots"
            for k, b in enumerate(self.shot_blocks)
            if not any(b.matches(s) for s in shots)
        ]

    def warnings_for(self, shots: Sequence[Shot]) -> list[str]:
        """What a person should know about ``shots`` under this config: blocks that select none."""
        return [f"{self.source}: {line}" for line in self.unmatched_blocks(shots)]

    def with_overrides(self, options: Mapping[str, Any] | None) -> RenderConfig:
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
        config = self.model_copy(update={"preset": preset, "encode": encode, "shots": shots, "command_line": merged})
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
        layers += shot_layers
        layers += cli
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
        raise validation_error(COMMAND_LINE, e, (key,)) from None


def _apply(
    settings: RenderSettings,
    layer: Mapping[str, Any],
    source: str,
    prefix: tuple[str | int, ...],
    lines: Mapping[tuple[str | int, ...], int] | None,
) -> RenderSettings:
    """``settings`` with one layer applied; errors name ``source``, the line and the key."""
    if not layer:
        return settings
    layer = dict(layer)
    if "styles" in layer and "style_blend" not in (layer.get("style") or {}):
        layer["style"] = {**(layer.get("style") or {}), "style_blend": None}
    try:
        return apply_overrides(settings, layer)
    except ValidationError as e:
        raise validation_error(source, e, prefix, lines) from None


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
        raise toml_error(name, e) from None
    lines = key_lines(text)
    _check_keys(name, raw, (), lines)
    blocks_raw = raw.get("shot")
    for k, block in enumerate(blocks_raw if isinstance(blocks_raw, list) else []):
        if isinstance(block, dict):
            _check_keys(name, block, ("shot", k), lines)
    try:
        parsed = ConfigFile.model_validate(raw)
    except ValidationError as e:
        raise validation_error(name, e, (), lines) from None
    folder = p.resolve().parent
    defaults = _check_paths(name, parsed.overrides(), folder, (), lines)
    blocks = []
    for k, block in enumerate(parsed.shot):
        resolved = _check_paths(name, block.overrides(), folder, ("shot", k), lines)
        blocks.append(block.model_copy(update=resolved))
    config = RenderConfig(
        source=name,
        preset=parsed.preset,
        defaults=defaults,
        encode=parsed.encode,
        shots=parsed.shots,
        shot_blocks=tuple(blocks),
        lines=lines,
    )
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
        return tuple(ShotsSettings.model_fields)
    return None


def _check_keys(
    source: str,
    data: Mapping[str, Any],
    prefix: tuple[str | int, ...],
    lines: Mapping[tuple[str | int, ...], int] | None,
) -> None:
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
            raise VidstyleError(message(source, (*prefix, key), f"unknown key{hint}", lines))
        if isinstance(value, Mapping) and key in (*SECTIONS, "encode", "shots"):
            _check_keys(source, value, (*prefix, key), lines)


_PATH_FIELDS = (("style", "weights"), ("flow", "raft_weights"), ("optim", "init"))


def _check_paths(
    source: str,
    layer: dict[str, Any],
    folder: Path | None,
    prefix: tuple[str | int, ...],
    lines: Mapping[tuple[str | int, ...], int] | None,
) -> dict[str, Any]:
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
            raise VidstyleError(message(source, (*prefix, *key), f"{what} not found: {p}", lines))
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
