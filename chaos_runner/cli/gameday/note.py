"""``chaos gameday note "TEXT"``: an observation into the running game day's timeline."""

from pathlib import Path
from typing import Annotated

import typer

from chaos_runner._errors import ConfigurationError
from chaos_runner.cli._output import ExitCode, fail
from chaos_runner.cli.gameday._app import app
from chaos_runner.gameday.runner import add_note

__all__ = ["note"]


@app.command()
def note(
    text: Annotated[
        list[str],
        typer.Argument(
            metavar="TEXT",
            help="What you observed (quote it, or several words).",
            show_default=False,
        ),
    ],
    run_dir: Annotated[
        Path | None,
        typer.Option(
            "--run",
            metavar="RUN_DIR",
            help="A game day's run directory (default: the one running now).",
            show_default=False,
        ),
    ] = None,
    author: Annotated[
        str,
        typer.Option(metavar="NAME", help="Who noted it (default: your login name)."),
    ] = "",
) -> None:
    """Add a timestamped observation to the running game day's timeline, from any terminal.

    Notes appear in the review, under what surprised us: write what the system did
    ("support sees no tickets yet", "the 5xx alarm fired at 10:42"), not who did what.
    """
    try:
        path, experiment = add_note(" ".join(text), author, run_dir)
    except ConfigurationError as error:
        fail(str(error), ExitCode.USAGE)
    during = f" (during {experiment})" if experiment else ""
    typer.echo(f"Noted{during} in {path}.")
