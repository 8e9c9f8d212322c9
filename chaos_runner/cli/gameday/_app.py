"""The ``chaos gameday`` Typer app; each command lives in a module of its own here."""

import typer

__all__ = ["app"]

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True)


@app.callback()
def gameday() -> None:
    """Game days: a plan of experiments run by a team, with a timeline and a learning review.

    Exit codes of `chaos gameday run` are the gate's: 0 held, 1 deviated, 2 invalid plan or
    usage, 3 inconclusive, 4 restore incomplete, 5 aborted (pre-flight refused, safeguard,
    halt, Ctrl-C), 70 internal error.
    """
