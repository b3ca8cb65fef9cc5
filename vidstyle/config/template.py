"""The documented default config (``configs/default.toml``), generated from the settings models."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from vidstyle.config.blocks import SECTIONS
from vidstyle.settings import DEFAULT_PRESET, PRESETS, EncodeSettings, RenderSettings, preset_settings
from vidstyle.shots import ShotsSettings

# -- the documented default config ---------------------------------------------------------------


def default_config_text() -> str:
    """The text of ``configs/default.toml``: every key, set to what a render without a config
    uses, with a comment saying what it does. Generated from the settings models."""
    base = preset_settings(DEFAULT_PRESET)
    out = [
        "# vidstyle render config: every key, set to the value a render without a config uses",
        f'# (the built-in defaults with preset "{DEFAULT_PRESET}" applied). Generated from vidstyle/settings/',
        "# by vidstyle.config.default_config_text(); a test keeps the two equal.",
        "#",
        "# Your own config needs only the keys you change: the preset gives the rest. (Here every",
        "# key is set, so changing the preset line alone changes nothing.) Keys shown commented out",
        "# have no fixed default. Relative paths resolve against the config file's folder.",
        "# Layering: defaults < preset < this file's top level < [[shot]] blocks < command-line options.",
        "",
        f"preset = {_toml(DEFAULT_PRESET)}  # starting point: {', '.join(PRESETS)}",
        f'size = {_toml(base.size)}  # longest side of the stylised frames (0 or "source": the source size)',
        f"styles = []  # {_doc(RenderSettings, 'styles')}",
    ]
    for section, model in SECTIONS.items():
        out += ["", f"[{section}]  # {_first_line(model.__doc__)}", *_fields(model, getattr(base, section))]
    out += ["", f"[encode]  # {_first_line(EncodeSettings.__doc__)}", *_fields(EncodeSettings, EncodeSettings())]
    out += ["", f"[shots]  # {_first_line(ShotsSettings.__doc__)}", *_fields(ShotsSettings, ShotsSettings())]
    out += [
        "",
        "# Per-shot overrides: any number of [[shot]] tables, applied in order to the shots they select.",
        "# Select by index (0-based, or a list), by a time or frame inside the shot (at), or by a",
        "# range (start/end: shots whose middle lies in it). See configs/film_shots.toml.",
        "# [[shot]]",
        "# index = 1",
        '# styles = ["../sample_clips/styles/great_wave.jpg"]',
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
    doc = field.description or ""
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
