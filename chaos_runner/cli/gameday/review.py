"""``chaos gameday review RUN_DIR``: write the learning review of a game day.

The review (:mod:`chaos_runner.gameday.review`) is written beside the run (``review.md``,
``review.html``) or into ``--out DIR``; the command prints both paths and the review's
headline. It judges the journals again, so it can be run at any time after the game day,
also on a copy of its directory.
"""

import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from chaos_runner.cli._output import ExitCode, fail
from chaos_runner.cli.gameday._app import app
from chaos_runner.gameday.review import ReviewError, write_review

__all__ = ["review"]


@app.command()
def review(
    run_dir: Annotated[
        Path,
        typer.Argument(
            metavar="RUN_DIR",
            help="The game day's run directory (with run.json and timeline.jsonl).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="Write review.md and review.html here instead of into RUN_DIR."
        ),
    ] = None,
    open_page: Annotated[
        bool, typer.Option("--open", help="Open review.html in the default web browser.")
    ] = False,
) -> None:
    """Write the blameless learning review of a game day: what we expected, what happened
    (timeline, charts), each experiment's verdict, what surprised us, questions to follow up.

    Exit 0 when the review is written, whatever the game day's outcome; 2 when RUN_DIR is
    not a game day's run or a file cannot be written.
    """
    try:
        markdown_path, html_path = write_review(run_dir, out)
        headline = markdown_path.read_text(encoding="utf-8").partition("\n")[0]
    except ReviewError as error:
        fail(str(error), ExitCode.USAGE)
    except OSError as error:
        where = error.filename or out or run_dir
        fail(f"{where}: the review cannot be written ({error.strerror or error}).", ExitCode.USAGE)
    typer.echo(headline.removeprefix("# "))
    typer.echo(f"Markdown: {markdown_path}")
    typer.echo(f"HTML:     {html_path}")
    if open_page:
        webbrowser.open(html_path.resolve().as_uri())
