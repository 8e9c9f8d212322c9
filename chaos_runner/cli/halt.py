"""``chaos halt``: stop every run on this machine, and keep new ones from starting.

Engaging the switch (:mod:`chaos_runner.halt`) makes each run in progress abort and restore
within a second (its safety control watches the switch) and makes every new ``chaos run``
and ``chaos gate`` refuse to start, until ``chaos halt --release``. The switch is a file,
so it works from any terminal and survives a restart.
"""

from typing import Annotated

import typer

from chaos_runner import halt as switch
from chaos_runner.cli._output import ExitCode, fail

__all__ = ["app"]

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def halt(
    reason: Annotated[
        str | None,
        typer.Option(metavar="TEXT", help="Why runs are halted (shown to every run it stops)."),
    ] = None,
    release: Annotated[
        bool, typer.Option("--release", help="Release the switch: runs may start again.")
    ] = False,
    status: Annotated[
        bool, typer.Option("--status", help="Say whether the switch is engaged; change nothing.")
    ] = False,
) -> None:
    """Abort every run on this machine (each restores what it injected) and refuse new runs
    and gates until `chaos halt --release`.

    The switch is a file (CHAOS_HALT_FILE, else HALT in CHAOS_LOCK_DIR's directory of target
    locks): it works from another terminal and survives a restart. Exit 0 (2 on a usage
    error); --status exits 0 whether the switch is engaged or not.
    """
    if release and status:
        fail("--release and --status go alone.", ExitCode.USAGE)
    if reason is not None and (release or status):
        fail("--reason goes with engaging the switch (no --release, no --status).", ExitCode.USAGE)
    try:
        if status:
            _status()
        elif release:
            _release()
        else:
            _engage(reason or "")
    except OSError as error:
        fail(f"The halt switch {switch.halt_path()} could not be changed: {error}", ExitCode.USAGE)


def _status() -> None:
    engaged = switch.state()
    runs = switch.running_runs()
    if engaged is None:
        typer.echo(f"Not halted: runs may start (the halt switch {switch.halt_path()} is off).")
    else:
        typer.echo(f"Halted: {engaged.describe()}.")
    typer.echo(f"Runs holding a target on this machine: {len(runs)}.")
    for holder in runs:
        typer.echo(f"  {holder}")


def _release() -> None:
    was = switch.release()
    if was is None:
        typer.echo(f"The halt switch was not engaged ({switch.halt_path()}); runs may start.")
    else:
        typer.echo(
            f"Released the halt switch ({was.path}), engaged by {was.who}: {was.reason}. "
            "Runs may start again."
        )


def _engage(reason: str) -> None:
    before = switch.state()
    engaged = switch.engage(reason)
    runs = switch.running_runs()
    again = f" (it was already engaged by {before.who}: {before.reason})" if before else ""
    typer.echo(f"Halted: {engaged.describe()}{again}.")
    if runs:
        typer.echo(
            f"{len(runs)} run(s) in progress on this machine abort and restore within a second:"
        )
        for holder in runs:
            typer.echo(f"  {holder}")
    else:
        typer.echo("No run is in progress on this machine.")
    typer.echo("New runs and gates refuse to start until `chaos halt --release`.")
