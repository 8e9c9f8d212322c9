"""How the CLI speaks: one-line errors on stderr, exit codes from docs/architecture.md."""

from enum import IntEnum
from typing import NoReturn

import typer

__all__ = ["ExitCode", "fail"]


class ExitCode(IntEnum):
    """The exit codes of our commands (see docs/architecture.md, Contracts)."""

    OK = 0
    DEVIATED = 1
    USAGE = 2
    INCONCLUSIVE = 3
    RESTORE_INCOMPLETE = 4
    ABORTED = 5
    INTERNAL = 70  # a bug of the tool (EX_SOFTWARE); never reported as "deviated"


def fail(message: str, code: ExitCode | int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (no traceback)."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(int(code))
