"""The setting options of ``image`` and ``render`` come from the models: same defaults, choices, names."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main

from vidstyle.cli import app
from vidstyle.cli.image import shown_defaults as image_defaults
from vidstyle.cli.options import (
    IMAGE_SETTINGS,
    RENDER_SETTINGS,
    SECTIONS,
    choices,
    field_info,
    flag,
    flags_in,
    value_of,
)
from vidstyle.cli.render import shown_defaults as render_defaults
from vidstyle.errors import VidstyleError
from vidstyle.settings import DEFAULT_PRESET, preset_settings

COMMANDS = {"image": (IMAGE_SETTINGS, image_defaults), "render": (RENDER_SETTINGS, render_defaults)}


def _options(command: str) -> dict[str, Any]:
    cmd = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {o: p for p in cmd.params if p.param_type_name == "option" for o in p.opts}


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(_shown(v) for v in value)
    return str(value)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_each_settings_default_and_choices_from_the_models(command, cli):
    paths, defaults = COMMANDS[command]
    options = _options(command)
    code, out, _ = cli(command, "--help")
    assert code == 0
    text = " ".join(out.split())
    for path in paths:
        opt = options[flag(path)]
        assert opt.default is None, f"{flag(path)} must default to 'not given' so presets and configs apply"
        value = value_of(defaults(), path)
        if value is not None:
            assert opt.help is not None and opt.help.endswith(f"[default: {_shown(value)}]"), (path, opt.help)
        for choice in choices(field_info(path).annotation):
            assert choice in (opt.help or ""), (path, choice)
        assert flag(path) in text


def test_render_shows_the_default_presets_values():
    help_text = _options("render")["--frame-iterations"].help or ""
    assert help_text.endswith(f"[default: {preset_settings(DEFAULT_PRESET).temporal.frame_iterations}]")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_field_of_an_offered_section_is_an_option_and_flags_are_unique(command):
    paths, _ = COMMANDS[command]
    flags = [flag(p) for p in paths]
    assert len(flags) == len(set(flags)), [f for f in flags if flags.count(f) > 1]
    sections = {p.rpartition(".")[0] for p in paths if "." in p} - {"shots", "select", "compute"}
    for section in sections:
        for name in SECTIONS[section].model_fields:
            assert f"{section}.{name}" in paths, f"{section}.{name} has no option in {command}"


def test_the_image_and_render_options_of_a_setting_agree():
    image, render = _options("image"), _options("render")
    for path in set(IMAGE_SETTINGS) & set(RENDER_SETTINGS):
        # The same text; render shows the default preset's value, image the model's.
        assert image[flag(path)].help.split(" [default:")[0] == render[flag(path)].help.split(" [default:")[0], path


def test_setting_names_in_messages_become_flags():
    assert flags_in("flow.workers: at most 64") == "--flow-workers: at most 64"
    assert flags_in("the style loss became NaN; lower style.style_weight or temporal.temporal_weight") == (
        "the style loss became NaN; lower --style-weight or --temporal-weight"
    )
    assert flags_in("size: too big") == "--size: too big"
    assert flags_in("/tmp/render.mp4: style.jpg not found") == "/tmp/render.mp4: style.jpg not found"
    assert flags_in("use render.redo_changed") == "use --redo-changed"


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--frame-iterations", "0"], "--frame-iterations"),
        (["--long-term", "1,x"], "--long-term"),
        (["--flow-workers", "999"], "--flow-workers"),
        (["--stride", "0"], "--stride"),
        (["--preserve-colors", "sepia"], "--preserve-colors"),
    ],
)
def test_a_bad_setting_names_the_flag(cli, tmp_path, args, needle):
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    clip, style = (
        repo / "sample_clips" / "vpf_dog_848x464_aac.mp4",
        repo / "sample_clips" / "styles" / "starry_night.jpg",
    )
    code, _out, err = cli("render", clip, style, "-o", tmp_path / "o.mp4", *args)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert re.search(rf"error: .*{re.escape(needle)}", err), err
    assert not (tmp_path / "o.mp4").exists()


def test_library_errors_name_settings_not_flags():
    from vidstyle.compute.device import resolve_device

    with pytest.raises(VidstyleError, match=r"^compute\.device tpu: unknown device"):
        resolve_device("tpu")
