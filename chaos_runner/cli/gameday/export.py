"""``chaos gameday export PLAN --to cron|systemd|kubernetes|github``: the plan's schedule
for the scheduler a team already runs (:mod:`chaos_runner.gameday.export`)."""

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from chaos_runner._errors import ConfigurationError
from chaos_runner.cli._output import ExitCode, fail
from chaos_runner.cli.gameday._app import app
from chaos_runner.gameday.calendars import parse_cron
from chaos_runner.gameday.export import (
    DEFAULT_IMAGE,
    FORMATS,
    Exported,
    Format,
    Job,
    Settings,
)
from chaos_runner.gameday.export import (
    export as render,
)
from chaos_runner.gameday.plan import parse_duration

__all__ = ["export"]

#: The options only some formats read, and those formats.
_ONLY = {
    "--workdir": ("cron", "systemd"),
    "--chaos": ("cron", "systemd"),
    "--env-file": ("cron", "systemd"),
    "--image": ("kubernetes",),
    "--secret": ("kubernetes",),
    "--service-account": ("kubernetes",),
    "--volume-claim": ("kubernetes",),
    "--environment": ("github",),
}


@app.command()
def export(
    plan_path: Annotated[
        Path,
        typer.Argument(
            metavar="PLAN",
            help="The game-day plan (YAML), as the scheduled command will name it: relative "
            "to the repository's checkout (--workdir).",
            show_default=False,
        ),
    ],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="cron|systemd|kubernetes|github",
            help="The scheduler: a crontab line, a systemd service and timer, a Kubernetes "
            "CronJob, or a GitHub Actions workflow.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE|DIR",
            help="Write there instead of stdout (systemd: a directory for the two units).",
            show_default=False,
        ),
    ] = None,
    workdir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="cron, systemd: the repository's checkout the run starts in. "
            "Default: the current directory.",
            show_default=False,
        ),
    ] = None,
    chaos: Annotated[
        str | None,
        typer.Option(
            metavar="PATH",
            help="cron, systemd: the `chaos` executable. Default: the one beside this Python.",
            show_default=False,
        ),
    ] = None,
    env_file: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="cron, systemd: NAME=value lines of the target's variables (CHAOS_*, AWS_*). "
            "Default: .chaos/<plan>.env in --workdir.",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        str,
        typer.Option(
            metavar="DURATION",
            help="Stop a game day still running after this long (it restores, then ends).",
        ),
    ] = "2h",
    restore_timeout: Annotated[
        str,
        typer.Option(
            metavar="DURATION",
            help="How long a stopped game day may take to restore before it is killed.",
        ),
    ] = "30m",
    image: Annotated[
        str | None,
        typer.Option(
            metavar="IMAGE",
            help="kubernetes: an image holding the repository, `pip install .` done. "
            f"Default: the placeholder {DEFAULT_IMAGE}.",
            show_default=False,
        ),
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="kubernetes: the Secret of the target's variables. Default: the job's name.",
            show_default=False,
        ),
    ] = None,
    service_account: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="kubernetes: the pod's service account (e.g. one bound to an AWS role).",
            show_default=False,
        ),
    ] = None,
    volume_claim: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="kubernetes: a PersistentVolumeClaim to keep the run directories and the "
            "ledger in (CHAOS_STATE_DIR).",
            show_default=False,
        ),
    ] = None,
    environment: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="github: the environment holding the target's variables (plans of target "
            "environment). Default: staging, as docs/ci.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write the plan's schedule for cron, systemd, Kubernetes or GitHub Actions.

    Each runs `chaos gameday run PLAN` on the plan's schedule, in the plan's time zone,
    with the target's variables, never two at once, and stops a run that goes on too long
    with SIGTERM (it restores) before it kills it. A schedule a scheduler cannot say
    exactly is refused, not approximated. Notes (a time that daylight saving skips or
    repeats) go to stderr. Exit 0; 2 on an invalid plan, a plan without a schedule, an
    unknown --to, an option of another format, or a schedule the scheduler cannot hold.
    """
    if to not in FORMATS:
        fail(f"--to must be one of {', '.join(FORMATS)}; got {to!r}.", ExitCode.USAGE)
    fmt: Format = to
    given = {
        "--workdir": workdir,
        "--chaos": chaos,
        "--env-file": env_file,
        "--image": image,
        "--secret": secret,
        "--service-account": service_account,
        "--volume-claim": volume_claim,
        "--environment": environment,
    }
    for option, value in given.items():
        if value is not None and fmt not in _ONLY[option]:
            fail(f"{option} goes with --to {' or '.join(_ONLY[option])}.", ExitCode.USAGE)
    base = (workdir or Path.cwd()).absolute()
    try:
        job = _job(plan_path, base)
        settings = Settings(
            workdir=str(base),
            chaos=chaos or str(Path(sys.executable).parent / "chaos"),
            env_file=env_file or "",
            timeout_s=_seconds("--timeout", timeout),
            restore_s=_seconds("--restore-timeout", restore_timeout),
            image=image or DEFAULT_IMAGE,
            secret=secret or "",
            service_account=service_account or "",
            volume_claim=volume_claim or "",
            environment=environment or "staging",
        )
        exported = render(job, fmt, settings, dt.datetime.now(dt.UTC))
    except ConfigurationError as error:
        fail(str(error), ExitCode.USAGE)
    for note in exported.notes:
        typer.echo(f"note: {note}", err=True)
    _write(exported, out, fmt)


def _job(plan_path: Path, workdir: Path) -> Job:
    """What the export needs of the plan; ConfigurationError (a PlanError) when the plan
    is invalid, has no schedule, or lies outside the checkout a container or CI has."""
    from chaos_runner.gameday.plan import load_plan

    plan = load_plan(plan_path)
    if plan.schedule is None:
        raise ConfigurationError(
            f"{plan_path}: the plan has no schedule: to export one, add schedule.cron "
            "(docs/gameday.md)."
        )
    absolute = plan_path if plan_path.is_absolute() else Path.cwd() / plan_path
    try:
        written = os.path.relpath(absolute, workdir)
    except ValueError:  # another drive (Windows)
        written = str(absolute)
    if written.startswith(".."):
        written = str(absolute)
    return Job(
        plan=Path(written).as_posix(),
        name=plan.name,
        title=plan.title,
        target=plan.target,
        zone=plan.timezone,
        cron=parse_cron(plan.schedule.cron),
        starting_deadline_s=plan.schedule.starting_deadline_s,
        jitter_s=plan.schedule.jitter_s,
    )


def _seconds(option: str, text: str) -> float:
    seconds = parse_duration(text)
    if seconds is None or seconds <= 0:
        fail(
            f"{option} must be a duration such as 90m or 2h (or seconds); got {text!r}.",
            ExitCode.USAGE,
        )
    return seconds


def _write(exported: Exported, out: Path | None, fmt: Format) -> None:
    files = exported.files
    if out is None:
        if len(files) == 1:
            typer.echo(files[0][1], nl=False)
        else:
            typer.echo("\n".join(f"# ==> {name} <==\n{text}" for name, text in files), nl=False)
        return
    try:
        if len(files) > 1:
            if out.exists() and not out.is_dir():
                fail(f"--out {out}: --to {fmt} writes two files; name a directory.", 2)
            out.mkdir(parents=True, exist_ok=True)
            targets = [(out / name, text) for name, text in files]
        else:
            targets = [(out / files[0][0] if out.is_dir() else out, files[0][1])]
        for path, text in targets:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            typer.echo(f"Wrote {path}", err=True)
    except OSError as error:
        fail(f"--out {out}: {error}", ExitCode.USAGE)
