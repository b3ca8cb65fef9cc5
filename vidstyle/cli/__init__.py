"""Command-line entry point: a thin layer over the library API.

Each command lives in its own module and registers itself on :data:`app`. All user
errors end here as one line on stderr and exit code 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import sys

# typer (>= 0.29, as pinned) vendors click and raises its own copies of click's exceptions
from typer._click.exceptions import ClickException, UsageError

# Command modules register themselves on import (order = order in --help).
# (command imports below)
from vidstyle.cli import evaluate as _evaluate  # noqa: F401
from vidstyle.cli import flow as _flow  # noqa: F401
from vidstyle.cli import image as _image  # noqa: F401
from vidstyle.cli import probe as _probe  # noqa: F401
from vidstyle.cli import render as _render  # noqa: F401
from vidstyle.cli import status as _status  # noqa: F401
from vidstyle.cli.app import app
from vidstyle.errors import Interrupted, VidstyleError
from vidstyle.files.atomic import describe_os_error

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _fail(message: str) -> int:
    print(f"vidstyle: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code instead of exiting."""
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="vidstyle")
    except UsageError as e:
        where = e.ctx.command_path if e.ctx is not None else "vidstyle"
        return _fail(f"{where}: {e.format_message()}")
    except ClickException as e:
        return _fail(e.format_message())
    except Interrupted as e:
        print(f"vidstyle: {e}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except VidstyleError as e:
        return _fail(str(e))
    except KeyboardInterrupt:  # outside a command (typer turns one inside into exit code 130)
        rv = EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except OSError as e:  # a filesystem failure no command turned into its own message
        where = e.filename if e.filename is not None else "vidstyle"
        return _fail(f"{where}: {describe_os_error(e)}")
    if rv == EXIT_INTERRUPTED:
        print("vidstyle: interrupted", file=sys.stderr)
    return rv if isinstance(rv, int) else 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
