"""The typer application that every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="vidstyle",
    help="Paint images and videos in the style of an artwork.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
