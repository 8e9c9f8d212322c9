"""``chaos gate PATH...``: run experiments, judge each, write the reports, exit by the contract."""

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from chaos_runner._errors import ConfigurationError
from chaos_runner.cli._output import ExitCode, fail
from chaos_runner.cli._progress import Board
from chaos_runner.cli._progress import board as progress_board
from chaos_runner.cli._results import (
    Reports,
    overall_outcome,
    summary_table,
    write_reports,
)
from chaos_runner.engine import (
    ExperimentRun,
    discover,
    judge_run,
    run_experiment,
    sandbox_environment,
    sigterm_interrupts,
    stop_all,
    validate,
)
from chaos_runner.halt import state as halt_state
from chaos_runner.report import ExperimentResult
from chaos_runner.report.html import RunDetails
from chaos_runner.report.logs import LogExcerpt, read_log_file
from chaos_runner.target import TARGET_VARIABLES, target_variables_set
from chaos_runner.verdict import Outcome, worst

if TYPE_CHECKING:
    from chaos_runner.metrics import GateMetrics

__all__ = ["app"]

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def gate(
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH", help="Experiment files, or directories of them.", show_default=False
        ),
    ],
    target: Annotated[
        str | None,
        typer.Option(
            metavar="sandbox",
            help="`sandbox`: a fresh local sandbox for each experiment. Without it, the "
            "CHAOS_* variables name the target.",
        ),
    ] = None,
    jobs: Annotated[int, typer.Option(metavar="N", help="Experiments at once (sandbox only).")] = 1,
    site_dir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="With --target sandbox: every sandbox serves this built site (Hugo's "
            "public/) in both buckets instead of the demo site. Default: "
            "$CHAOS_SANDBOX_SITE_DIR, else the demo site.",
            show_default=False,
        ),
    ] = None,
    junit_file: Annotated[
        Path | None, typer.Option("--junit", metavar="FILE", help="Write a JUnit XML report.")
    ] = None,
    markdown_file: Annotated[
        Path | None, typer.Option("--markdown", metavar="FILE", help="Write a Markdown summary.")
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", metavar="FILE", help="Write the verdicts as JSON.")
    ] = None,
    html_file: Annotated[
        Path | None,
        typer.Option("--html", metavar="FILE", help="Write a self-contained HTML report."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Keep each experiment's journal and log here."),
    ] = None,
    min_score: Annotated[
        int | None,
        typer.Option(metavar="N", help="Fail (exit 1) below this score (0-100)."),
    ] = None,
    fail_fast: Annotated[
        bool, typer.Option(help="Start no experiment after the first that does not hold.")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT",
            help="Serve the gate's metrics at http://127.0.0.1:PORT/metrics while it runs "
            "(0: a free port).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run every experiment and fail the pipeline when the site does not hold under faults.

    Exit codes: 0 held, 1 deviated, 2 invalid or bad input (nothing injected),
    3 inconclusive, 4 restore incomplete (run `chaos rollback`), 5 aborted, 70 internal
    error; across experiments the first of 4, 70, 2, 3, 5, 1, 0 wins.
    The Markdown summary is also appended to $GITHUB_STEP_SUMMARY when it is set.
    """
    environ, own_state = _target(target)
    if own_state:
        _serve_site(environ, site_dir)
    elif site_dir is not None:
        fail(
            "--site-dir needs --target sandbox: a real target serves its own site.",
            ExitCode.USAGE,
        )
    reports = Reports(junit_file, markdown_file, json_file, html_file)
    jobs = _check_options(jobs, own_state, min_score, reports)
    experiments = _valid_experiments(paths)
    _refuse_when_halted()  # after the usage errors: 2 wins over 5
    directory = out or Path(tempfile.mkdtemp(prefix="chaos-gate-"))
    logs: dict[Path, LogExcerpt | None] = {}
    if metrics_port is not None and not 0 <= metrics_port <= 65535:
        fail(f"--metrics-port must be from 0 to 65535; got {metrics_port}.", ExitCode.USAGE)
    if (metrics_port is not None or jobs > 1) and environ.pop("CHAOS_METRICS_PORT", ""):
        typer.echo("CHAOS_METRICS_PORT is not passed to the runs: they would share one port.")
    try:
        with _gate_metrics(metrics_port) as gate_metrics:
            runs, interrupted = _run_all(
                experiments, directory, environ, own_state, jobs, fail_fast, gate_metrics
            )
        if html_file is not None:  # read before a temporary directory is removed
            logs = {path: read_log_file(run.log_path) for path, run in runs.items()}
    finally:
        if out is None:
            shutil.rmtree(directory, ignore_errors=True)
    results = [_result(path, runs.get(path), own_state) for path in experiments]
    for name, verdict, _ in results:
        if verdict is not None:
            typer.echo(f"\n{name}:\n{verdict.summary()}")
    typer.echo("\n" + summary_table(results))
    outcome = overall_outcome(results, min_score)
    if interrupted:
        typer.echo("The gate was interrupted: experiments not started are reported as skipped.")
        outcome = worst([outcome, Outcome.ABORTED])
    journals = [runs[p].journal_path if p in runs else p for p in experiments]
    details = [RunDetails(runs[p].journal, logs.get(p)) if p in runs else None for p in experiments]
    write_reports(results, journals, outcome, reports, "chaos gate", details)
    if out is not None:
        typer.echo(f"Journals and logs: {out}")
    typer.echo(f"Gate: {outcome} (exit {outcome.exit_code})")
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


def _refuse_when_halted() -> None:
    """Exit 5 before anything runs while `chaos halt` holds this machine."""
    if (halted := halt_state()) is not None:
        fail(f"Nothing was run: this machine is {halted.describe()}.", ExitCode.ABORTED)


def _check_options(jobs: int, own_state: bool, min_score: int | None, reports: Reports) -> int:
    """Exit 2 on a bad option, before anything runs; the number of jobs to use."""
    if jobs < 1 or jobs > 32:
        fail(f"--jobs must be from 1 to 32; got {jobs}.", ExitCode.USAGE)
    if min_score is not None and not 0 <= min_score <= 100:
        fail(f"--min-score must be from 0 to 100; got {min_score}.", ExitCode.USAGE)
    reports.check_writable()
    if not own_state and jobs > 1:
        typer.echo("A real target takes one run at a time (its lock): --jobs 1.")
        return 1
    return jobs


def _target(target: str | None) -> tuple[dict[str, str], bool]:
    """The environment of the runs, and whether each gets a state (and sandbox) of its own."""
    if target == "sandbox":
        return sandbox_environment(os.environ), True
    if target is not None:
        fail(f"--target takes `sandbox` (or nothing, with the CHAOS_* variables); got {target!r}.",
             ExitCode.USAGE)  # fmt: skip
    if not target_variables_set():
        fail(
            "No target: pass --target sandbox to run on fresh local sandboxes, or set "
            f"{', '.join(TARGET_VARIABLES)} (and the AWS variables) to gate a real "
            "distribution. The gate never picks a target by itself.",
            ExitCode.USAGE,
        )
    missing = [name for name in TARGET_VARIABLES if name not in target_variables_set()]
    if missing:
        fail(
            f"The target is named only in part: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set. A gate on a real distribution "
            f"needs all of {', '.join(TARGET_VARIABLES)}; nothing was run.",
            ExitCode.USAGE,
        )
    return dict(os.environ), False


def _serve_site(environ: dict[str, str], site_dir: Path | None) -> None:
    """Point the runs' sandboxes at the built site (checked first: exit 2), and say which."""
    from chaos_runner.sandbox.site_dir import SITE_DIR_VARIABLE, check_site_dir

    named = environ.get(SITE_DIR_VARIABLE, "").strip()
    if site_dir is None and not named:
        typer.echo("Site: the demo site.")
        return
    try:
        if site_dir is not None:
            checked = check_site_dir(site_dir, "--site-dir")
        else:
            checked = check_site_dir(Path(named), SITE_DIR_VARIABLE)
    except ConfigurationError as error:
        fail(f"{error} Nothing was run.", ExitCode.USAGE)
    environ[SITE_DIR_VARIABLE] = str(checked)
    typer.echo(f"Site: {checked} (every sandbox serves it in both buckets).")


def _valid_experiments(paths: list[str]) -> list[Path]:
    """Every experiment, or exit 2 naming each invalid one (nothing is run)."""
    try:
        experiments = discover(paths)
    except ConfigurationError as error:
        fail(str(error), ExitCode.USAGE)
    problems = [problem for problem in map(validate, experiments) if problem]
    if problems:
        for problem in problems[1:]:
            typer.secho(f"error: {problem}", err=True, fg=typer.colors.RED)
        fail(f"{problems[0]} Nothing was run.", ExitCode.USAGE)
    return experiments


@contextlib.contextmanager
def _gate_metrics(port: int | None) -> Iterator["GateMetrics"]:
    """The gate's own metrics, served on ``port`` while it runs (exit 2 if it is taken)."""
    from chaos_runner.metrics import serving

    with contextlib.ExitStack() as stack:
        try:
            metrics = stack.enter_context(serving(port))
        except ConfigurationError as error:
            fail(f"{error} Nothing was run.", ExitCode.USAGE)
        if metrics.url:
            typer.echo(f"Metrics: {metrics.url}")
        yield metrics


def _run_all(
    experiments: list[Path],
    directory: Path,
    environ: dict[str, str],
    own_state: bool,
    jobs: int,
    fail_fast: bool,
    metrics: "GateMetrics",
) -> tuple[dict[Path, ExperimentRun], bool]:
    """Every run, by path (those not run are missing), and whether the gate was interrupted.

    On Ctrl-C or SIGTERM no new experiment starts, each run in progress is told to stop
    (it restores its faults and writes its journal), and the gate waits for them: their
    verdicts and the reports are written as for any other ending.
    """
    stopped = threading.Event()
    interrupted = False
    runs: dict[Path, ExperimentRun] = {}
    metrics.planned(len(experiments))

    def one(index: int, path: Path, board: Board) -> None:
        if stopped.is_set():
            return
        board.step(path.stem, "starting")
        metrics.started(path.stem)
        where = directory / f"{index:02d}-{path.stem}"
        run = run_experiment(path, where, environ, own_state, board.step)
        runs[path] = run
        verdict = judge_run(run, own_state)
        metrics.finished(run.name, verdict)
        board.finished(
            run.name,
            verdict.exit_code == 0,
            f"{run.name}: {verdict.outcome} (exit {verdict.exit_code}, score {verdict.score}) "
            f"in {run.seconds:.1f} s",
        )
        if fail_fast and verdict.exit_code:
            stopped.set()

    with progress_board(len(experiments)) as board, ThreadPoolExecutor(max_workers=jobs) as pool:
        futures: list[Future[None]] = [
            pool.submit(one, i, p, board) for i, p in enumerate(experiments, start=1)
        ]
        try:
            with sigterm_interrupts():
                for future in futures:
                    future.result()
        except KeyboardInterrupt:
            interrupted = True
            stopped.set()
            typer.echo("Interrupted: stopping the runs in progress; each restores its faults.")
            _wait_for_restores(futures)
    return runs, interrupted


def _wait_for_restores(futures: list[Future[None]]) -> None:
    """Wait for every run to end; a second Ctrl-C cannot skip a restore, only repeat this."""
    stop_all()
    while True:
        try:
            with sigterm_interrupts():
                wait(futures)
            return
        except KeyboardInterrupt:
            typer.echo("Still waiting for the runs to restore their faults (it cannot be skipped).")
            stop_all()


def _result(path: Path, run: ExperimentRun | None, sandbox: bool) -> ExperimentResult:
    if run is None:
        return ExperimentResult(path.stem, None, 0.0)  # not run (--fail-fast)
    return ExperimentResult(path.stem, judge_run(run, sandbox), run.seconds)
