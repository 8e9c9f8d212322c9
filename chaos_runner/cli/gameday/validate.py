"""``chaos gameday validate PLAN...``: check plans and say what each would do, and when."""

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from chaos_runner.cli._output import ExitCode
from chaos_runner.cli.gameday._app import app
from chaos_runner.controls.safeguards import parse_arguments
from chaos_runner.gameday.plan import Plan, PlanError, load_plan
from chaos_runner.gameday.schedule import duration
from chaos_runner.gameday.windows import Blackout, stamp

__all__ = ["validate"]

#: How many coming fires of a schedule the summary shows.
NEXT_RUNS = 3


@app.command()
def validate(
    plans: Annotated[
        list[Path],
        typer.Argument(metavar="PLAN...", help="Game-day plans (YAML).", show_default=False),
    ],
) -> None:
    """Check game-day plans and summarise each: experiments, schedule, windows, blackouts.

    Every key is checked (an unknown one is an error), each experiment as `chaos validate`
    does, the safeguards as the safeguards control does, the time zone, the cron expression
    and the windows. The summary gives the experiments in order with their pauses, the
    safeguards, the schedule with its next fires in the plan's time zone (and whether the
    windows let each run), the allowed windows and the blackouts.

    Nothing runs and nothing is contacted. Exit 0 when every plan is valid; 2 when one is
    not, with one line per invalid plan naming the file, the line and the key.
    """
    failed = False
    for number, path in enumerate(plans):
        try:
            plan = load_plan(path)
        except PlanError as error:
            typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
            failed = True
            continue
        if number:
            typer.echo("")
        for line in summary(plan, dt.datetime.now(dt.UTC)):
            typer.echo(line)
    if failed:
        raise typer.Exit(int(ExitCode.USAGE))


def summary(plan: Plan, now: dt.datetime) -> list[str]:
    """The plan in a few lines, for people; ``now`` is when its next runs are counted from."""
    roles = plan.roles
    lines = [
        f"{plan.path.name}: valid. {plan.title}",
        f"  target: {plan.target}; time zone: {plan.timezone.key}",
        f"  hypothesis: {plan.hypothesis}",
    ]
    people = [
        f"facilitator {roles.facilitator}" if roles.facilitator else "",
        f"observers {', '.join(roles.observers)}" if roles.observers else "",
        f"on call {roles.on_call}" if roles.on_call else "",
    ]
    lines.append(f"  roles: {'; '.join(p for p in people if p) or 'none named'}")
    lines.append(f"  runbook: {plan.runbook or 'none'}")
    lines.append(f"  experiments ({len(plan.experiments)}, in order):")
    for number, experiment in enumerate(plan.experiments, 1):
        pause = (
            f", then a pause of {duration(experiment.pause_after_s)}"
            if experiment.pause_after_s
            else ""
        )
        lines.append(f"    {number}. {experiment.name}{pause}")
    guards = parse_arguments(plan.safeguards).describe() if plan.safeguards else "none"
    lines.append(f"  safeguards: {guards}")
    lines += _schedule(plan, now)
    allowed = "; ".join(w.describe() for w in plan.allowed) or "any time"
    lines.append(f"  allowed: {allowed}")
    lines.append(f"  blackouts: {_blackouts(plan.blackouts) or 'none'}")
    return lines


def _schedule(plan: Plan, now: dt.datetime) -> list[str]:
    schedule = plan.schedule
    if schedule is None:
        return ["  schedule: none (run it with `chaos gameday run`)"]
    jitter = f", jitter up to {duration(schedule.jitter_s)}" if schedule.jitter_s else ""
    lines = [
        f'  schedule: cron "{schedule.cron}" in {plan.timezone.key}, starting deadline '
        f"{duration(schedule.starting_deadline_s)}{jitter}",
        f"    next {NEXT_RUNS} fires:",
    ]
    for fire in plan.next_runs(now, NEXT_RUNS):
        check = plan.window(fire)
        verdict = "runs" if check.ok else "skipped"
        lines.append(f"      {stamp(fire)}: {verdict}, {check.reason}")
    return lines


def _blackouts(blackouts: tuple[Blackout, ...]) -> str:
    return "; ".join(f"'{b.name}' {b.when.describe()}" for b in blackouts)
