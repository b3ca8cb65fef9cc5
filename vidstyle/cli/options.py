"""Command-line options generated from the settings models: one option-to-field table.

Every option of ``vidstyle image`` and ``vidstyle render`` that sets a setting is made here
from its pydantic field: the flag (the field's name, ``--frame-iterations``, unless
:data:`FLAGS` renames it), the help (the field's description and choices), the shown default
(the model's, with the default preset applied for ``render``) and how the typed text is
read (numbers, comma lists, on/off pairs). The same table turns a setting's name in an
error (``flow.workers: …``) into the flag the user typed (``--flow-workers: …``).

A setting is named by its path from the render's settings: ``size``, ``styles``,
``style.style_weight``, ``optim.iterations``, ``temporal.long_term``, ``flow.workers``;
and beside them ``encode.*`` (:class:`~vidstyle.settings.EncodeSettings`), ``shots.*``
(:class:`~vidstyle.shots.ShotsSettings`), ``select.*``
(:class:`~vidstyle.settings.FrameSelection`), ``compute.*``
(:class:`~vidstyle.settings.ComputeSettings`) and ``render.*`` (arguments of
:func:`vidstyle.render.render` such as ``render.redo_changed``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from vidstyle.errors import VidstyleError
from vidstyle.settings import (
    ComputeSettings,
    EncodeSettings,
    FlowSettings,
    FrameSelection,
    ImageSettings,
    OptimSettings,
    StyleSettings,
    TemporalSettings,
)
from vidstyle.shots import ShotsSettings

# The model of each section of a setting's path ("" = the top level of the settings).
SECTIONS: dict[str, type[BaseModel]] = {
    "style": StyleSettings,
    "optim": OptimSettings,
    "temporal": TemporalSettings,
    "flow": FlowSettings,
    "encode": EncodeSettings,
    "shots": ShotsSettings,
    "select": FrameSelection,
    "compute": ComputeSettings,
}

# Flags that are not simply the field's name (where two sections share a name, or the short
# name would mislead).
FLAGS: dict[str, str] = {
    "flow.backend": "--flow-backend",
    "flow.preset": "--flow-preset",
    "flow.scale": "--flow-scale",
    "flow.workers": "--flow-workers",
    "encode.preset": "--encoder-preset",
    "style.weights": "--weights",
    "render.job": "--job",
    "render.redo_changed": "--redo-changed",
    "render.keep_job": "--keep-job",
    "compute.workers": "--workers",
    "compute.ray": "--ray",
    "compute.ray_gpus": "--ray-gpus",
}

# What each command offers, by setting path (order = order in --help).
IMAGE_SETTINGS: tuple[str, ...] = (
    "size",
    *(f"optim.{f}" for f in OptimSettings.model_fields),
    *(f"style.{f}" for f in StyleSettings.model_fields),
    "compute.device",
    "compute.threads",
)
RENDER_SETTINGS: tuple[str, ...] = (
    "size",
    "shots.cuts",
    "select.start",
    "select.end",
    "select.stride",
    *(f"optim.{f}" for f in OptimSettings.model_fields),
    *(f"temporal.{f}" for f in TemporalSettings.model_fields),
    *(f"style.{f}" for f in StyleSettings.model_fields),
    *(f"flow.{f}" for f in FlowSettings.model_fields),
    *(f"encode.{f}" for f in EncodeSettings.model_fields),
    "compute.device",
    "compute.threads",
    "compute.workers",
    "compute.ray",
    "compute.ray_gpus",
)

# How the size is read on the command line: 0 means the source's (or content's) size.
_SIZE_HELP = " (0: the source's size)"


def flag(path: str) -> str:
    """The command-line flag of a setting: ``temporal.frame_iterations`` → ``--frame-iterations``."""
    return FLAGS.get(path) or "--" + path.rsplit(".", 1)[-1].replace("_", "-")


def field_info(path: str) -> FieldInfo:
    """The pydantic field of a setting path (``size``, ``optim.iterations`` …)."""
    section, _, name = path.rpartition(".")
    model = SECTIONS[section] if section else ImageSettings
    return model.model_fields[name]


def value_of(defaults: Mapping[str, BaseModel], path: str) -> Any:
    """The value of ``path`` in ``defaults`` ("" → the top-level settings, else the section's model)."""
    section, _, name = path.rpartition(".")
    top = defaults[""]
    model = getattr(top, section) if section and hasattr(top, section) else defaults.get(section, top)
    return getattr(model, name)


def choices(annotation: object) -> tuple[str, ...]:
    """The allowed values of a ``Literal`` field (also inside ``X | None``)."""
    if typing.get_origin(annotation) is Literal:
        return tuple(str(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(c for a in typing.get_args(annotation) for c in choices(a))
    return ()


def _members(annotation: object) -> tuple[object, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(annotation) if a is not type(None))
    return (annotation,)


@dataclasses.dataclass(frozen=True)
class _Kind:
    """How an option's text becomes the field's value."""

    cli_type: type
    parse: Callable[[Any], Any]


def _comma_list(item: type, path: str) -> Callable[[Any], Any]:
    def parse(text: str) -> tuple[Any, ...]:
        items = [s for s in text.replace(" ", "").split(",")]
        if not text.strip() or any(not s for s in items):
            raise VidstyleError(f"{path}: expected a comma-separated list, got {text!r}")
        try:
            values = [item(s) for s in items]
        except ValueError:
            what = "whole numbers" if item is int else "numbers" if item is float else "names"
            raise VidstyleError(f"{path}: expected comma-separated {what}, got {text!r}") from None
        return tuple(values)

    return parse


def _int_or_float(text: str) -> int:
    value = float(text)
    if value != int(value):
        raise ValueError(text)
    return int(value)


def _kind(path: str, annotation: object) -> _Kind:
    members = _members(annotation)
    first = members[0]
    if len(members) == 1 and first in (int, float, bool, str):
        return _Kind(first, lambda v: v)
    if len(members) == 1 and first is Path:
        return _Kind(Path, str)
    if len(members) == 1 and typing.get_origin(first) is Literal:
        return _Kind(str, lambda v: v)
    if len(members) == 1 and typing.get_origin(first) is tuple:
        item = typing.get_args(first)[0]
        parse_item: type = {int: _int_or_float, float: float}.get(item, str)  # type: ignore[assignment]
        return _Kind(str, _comma_list(parse_item, path))
    return _Kind(str, lambda v: v)  # unions of forms (shots.cuts): the model reads the text


def _default_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(_default_text(v) or "" for v in value)
    return str(value)


def help_text(path: str, default: object) -> str:
    """The help of a setting's option: its description, its choices and its default."""
    info = field_info(path)
    text = (info.description or "").strip()
    opts = choices(info.annotation)
    if opts and not all(c in text for c in opts):
        text = f"{text}: {', '.join(opts)}" if text else ", ".join(opts)
    if path == "size":
        text = text.split(" (None")[0] + _SIZE_HELP
    text = flags_in(text, leading=False) if text else path
    if not text.endswith((".", "…")):
        text += "."
    shown = _default_text(default)
    if shown is not None:
        text += f" [default: {shown}]"
    return text


def option_parameter(path: str, defaults: Mapping[str, BaseModel]) -> inspect.Parameter:
    """A typer parameter for ``path``: default None ("not given"), the model's default shown."""
    info = field_info(path)
    kind = _kind(path, info.annotation)
    name = flag(path)
    if kind.cli_type is bool:
        name = f"{name}/--no-{name[2:]}"
    opt = typer.Option(name, help=help_text(path, value_of(defaults, path)), show_default=False)
    return inspect.Parameter(
        _param_name(path), inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[kind.cli_type | None, opt]
    )


def _param_name(path: str) -> str:
    return "setting__" + path.replace(".", "__")


def _path_of(param: str) -> str:
    return param.removeprefix("setting__").replace("__", ".")


def values(given: Mapping[str, Any]) -> dict[str, Any]:
    """The options the user gave, as nested settings: ``{"optim": {"iterations": 50}, "size": 128}``.

    Options not given (None) are left out, so they do not override a preset or a config.
    Raises VidstyleError naming the setting when a list does not parse.
    """
    out: dict[str, Any] = {}
    for param, value in given.items():
        if value is None:
            continue
        path = _path_of(param)
        parsed = _kind(path, field_info(path).annotation).parse(value)
        section, _, name = path.rpartition(".")
        if section:
            out.setdefault(section, {})[name] = parsed
        else:
            out[name] = parsed
    return out


def with_setting_options(paths: Sequence[str], defaults: Callable[[], Mapping[str, BaseModel]]) -> Callable[..., Any]:
    """Decorate a command that takes ``settings: dict`` (see :func:`values`): its signature
    gains one option per setting path, and its VidstyleErrors name flags, not settings."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        own = inspect.signature(command, eval_str=True)
        own_params = [p for name, p in own.parameters.items() if name != "settings"]
        shown = defaults()
        params = own_params + [option_parameter(p, shown) for p in paths]

        @functools.wraps(command)
        def run(**kwargs: Any) -> None:
            given = {k: kwargs.pop(k) for k in list(kwargs) if k.startswith("setting__")}
            with settings_as_flags(flags_in):
                command(**kwargs, settings=values(given))

        run.__signature__ = own.replace(parameters=params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        del run.__wrapped__  # typer must read the new signature, not the command's
        return run

    return decorate


_PATH = re.compile(r"(?<![\w.-])((?:" + "|".join([*SECTIONS, "render"]) + r")\.[a-z_]+|size|styles)(?![\w.])")
_KNOWN: frozenset[str] = frozenset([*IMAGE_SETTINGS, *RENDER_SETTINGS, *(p for p in FLAGS if p.startswith("render."))])


@contextlib.contextmanager
def settings_as_flags(translate: Callable[[str], str]) -> Iterator[None]:
    """Re-raise a :class:`VidstyleError` with its message passed through ``translate``, which
    turns the setting names the library gives into the flags the user typed (:func:`flags_in`
    for ``image`` and ``render``; :func:`names_replaced` for commands with flags of their own).
    Usable as a decorator."""
    try:
        yield
    except VidstyleError as e:
        if e.args and isinstance(e.args[0], str):
            e.args = (translate(e.args[0]), *e.args[1:])
        raise


def names_replaced(names: Mapping[str, str]) -> Callable[[str], str]:
    """A ``translate`` for :func:`settings_as_flags` that replaces each of ``names`` literally."""

    def translate(text: str) -> str:
        for name, replacement in names.items():
            text = text.replace(name, replacement)
        return text

    return translate


def flags_in(message: str, *, leading: bool = True) -> str:
    """``style.style_weight: must be …`` → ``--style-weight: must be …``: every setting named
    in a library message becomes the flag that sets it (``size`` and ``styles`` only where
    they begin the message and ``leading`` is set)."""

    def sub(m: re.Match[str]) -> str:
        path = m.group(1)
        if path in ("size", "styles") and (m.start() != 0 or not leading):
            return path
        if path == "styles":
            return "STYLE"
        return flag(path) if path in _KNOWN else path

    return _PATH.sub(sub, message)


M = typing.TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Mapping[str, Any], section: str = "") -> M:
    """``model`` from ``data``; the first problem raised as VidstyleError naming the setting
    (``select.stride: Input should be greater than or equal to 1``)."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()) if not isinstance(p, int))
        if not loc:  # a model-wide check: its message starts with the field it is about
            first = str(err.get("msg", "")).removeprefix("Value error, ").split(" ")[0]
            loc = next((f"{s}.{first}" for s, m in SECTIONS.items() if first in m.model_fields), "")
        where = ".".join(p for p in (section, loc) if p) or model.__name__
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        raise VidstyleError(f"{where}: {msg}") from None


def setting_paths(command: str) -> Iterable[str]:
    """The settings a command offers as options: ``image`` or ``render``."""
    return {"image": IMAGE_SETTINGS, "render": RENDER_SETTINGS}[command]
