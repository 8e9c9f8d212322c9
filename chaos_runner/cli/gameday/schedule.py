"""``chaos gameday schedule PLAN``: run a plan on its schedule, in the foreground."""

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from chaos_runner.cli._output import ExitCode, fail
from chaos_runner.cli.gameday._app import app
from chaos_runner.gameday.plan import PlanError, load_plan
from chaos_runner.gameday.schedule import Scheduler, schedule_lock

__all__ = ["schedule"]


@app.command()
def schedule(
    plan_path: Annotated[
        Path, typer.Argument(metavar="PLAN", help="The game-day plan (YAML).", show_default=False)
    ],
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Handle one fire, wait for its run, then exit with the run's exit code "
            "(0 when the fire was skipped).",
        ),
    ] = False,
    now: Annotated[
        bool,
        typer.Option(
            "--now",
            help="Make the first fire now instead of the cron's next one (still judged by "
            "the windows, blackouts and jitter). With --once: for a system scheduler that "
            "starts this command itself.",
        ),
    ] = False,
) -> None:
    """Run a plan on its schedule, in the foreground, until Ctrl-C or SIGTERM.

    The plan's `schedule:` section says when. Each fire of the cron (read in the plan's
    time zone) is decided and said in one line: it runs (after a random jitter that stays
    inside the allowed window), or it is skipped, saying why and when the next fire is:
    inside a blackout, outside every allowed window, missed by more than the starting
    deadline (the machine slept), or the previous run is still going. Skips are also
    written to stderr. A run is `chaos gameday run PLAN` in a subprocess; stopping the
    scheduler tells a run in progress to stop, and waits while it restores what it
    injected.

    One scheduler per plan on a machine: a second one exits 2 naming the first one's pid.
    Exit 0 on a clean stop (4 or 70 if a run it stopped could not restore, or failed as a
    bug); 2 for an invalid plan, a plan without a schedule, or a plan already scheduled.
    """
    try:
        plan = load_plan(plan_path)
    except PlanError as error:
        fail(str(error), ExitCode.USAGE)
    if plan.schedule is None:
        fail(
            f"{plan_path} has no schedule: add a schedule section with a cron expression "
            '(e.g. schedule: {cron: "0 10 * * 2"}; docs/gameday.md), or run it once with '
            "`chaos gameday run`.",
            ExitCode.USAGE,
        )
    lock = schedule_lock(plan)
    try:
        taken = lock.acquire()
    except OSError as error:
        fail(f"The scheduler's lock {lock.path} could not be taken: {error}.", ExitCode.USAGE)
    if not taken:
        fail(
            f"{plan_path} is already scheduled on this machine by "
            f"{lock.holder() or 'a live process'} (lock {lock.path}). Stop that scheduler "
            "first (Ctrl-C, or kill that pid).",
            ExitCode.USAGE,
        )
    try:
        with _stopped_by_signals() as stop:
            code = Scheduler(plan, _say).serve(stop, once=once, now=now)
    finally:
        lock.release()
    raise typer.Exit(code)


def _say(line: str, skipped: bool) -> None:
    typer.echo(line)
    if skipped:
        typer.echo(line, err=True)


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[threading.Event]:
    """An event set by Ctrl-C or SIGTERM (the scheduler then stops cleanly)."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
