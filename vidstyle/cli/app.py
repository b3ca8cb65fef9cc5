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


def _version(value: bool) -> None:
    if value:
        from vidstyle import __version__

        typer.echo(f"vidstyle {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Paint images and videos in the style of an artwork."""
