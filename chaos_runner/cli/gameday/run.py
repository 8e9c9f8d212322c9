"""``chaos gameday run PLAN``: pre-flight, the experiments, the timeline, reports, the review."""

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from chaos_runner._errors import ChaosRunnerError, ConfigurationError
from chaos_runner.cli._output import ExitCode, fail
from chaos_runner.cli._progress import wants_live_view
from chaos_runner.cli._results import Reports, summary_table, write_reports
from chaos_runner.cli.gameday._app import app
from chaos_runner.gameday.runner import GameDay, Listener, Result, Sample
from chaos_runner.report.html import RunDetails
from chaos_runner.report.logs import read_log_file
from chaos_runner.verdict import Verdict, format_availability, format_ms

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from chaos_runner.metrics import GateMetrics

__all__ = ["run"]

#: Plain output (CI logs, pipes): a line of what readers see at most this often.
_PLAIN_SAMPLE_EVERY_S = 10.0


@app.command()
def run(
    plan_path: Annotated[
        Path, typer.Argument(metavar="PLAN", help="The game-day plan (YAML).", show_default=False)
    ],
    ignore_windows: Annotated[
        bool,
        typer.Option(help="Run even outside the plan's allowed windows or in a blackout."),
    ] = False,
    stop_on_deviation: Annotated[
        bool,
        typer.Option(help="Skip the rest after an experiment that does not hold."),
    ] = False,
    site_dir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="On a sandbox plan: serve this built site (Hugo's public/) instead of the "
            "demo. Default: $CHAOS_SANDBOX_SITE_DIR, else the demo site.",
            show_default=False,
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT",
            help="Serve the game day's metrics at http://127.0.0.1:PORT/metrics while it "
            "runs (0: a free port).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a game day: pre-flight checks, then each experiment, with a live view.

    Everything goes into a run directory (printed at the start): the timeline
    (timeline.jsonl; `chaos gameday note` adds to it), each experiment's journal and
    log, the reports (report.md, report.html, report.json, junit.xml), and the learning
    review (review.md, review.html). Exit codes are the gate's: 0 held, 1 deviated,
    2 invalid plan, 3 inconclusive, 4 restore incomplete (run `chaos rollback`),
    5 aborted (pre-flight refused, a safeguard, `chaos halt`, Ctrl-C), 70 internal error.
    """
    from chaos_runner.gameday.plan import load_plan

    if metrics_port is not None and not 0 <= metrics_port <= 65535:
        fail(f"--metrics-port must be from 0 to 65535; got {metrics_port}.", ExitCode.USAGE)
    try:
        plan = load_plan(plan_path)
    except ConfigurationError as error:
        fail(f"{error} Nothing was run.", ExitCode.USAGE)
    if site_dir is not None and plan.target != "sandbox":
        fail("--site-dir needs a plan whose target is `sandbox`.", ExitCode.USAGE)
    with _metrics(metrics_port) as metrics, _view(len(plan.experiments), plan.title) as view:
        view.metrics = metrics
        metrics.planned(len(plan.experiments))
        day = GameDay(plan, view, ignore_windows=ignore_windows,
                      stop_on_deviation=stop_on_deviation, site_dir=site_dir)  # fmt: skip
        try:
            result = day.run()
        except ConfigurationError as error:
            fail(f"{error}", ExitCode.USAGE)
        except ChaosRunnerError as error:  # e.g. the day's sandbox could not start
            fail(f"The game day could not start: {error} Nothing was injected.", ExitCode.ABORTED)
    _report(result)


def _report(result: Result) -> None:
    """The end table, the reports and the review in the run directory, the exit code."""
    typer.echo("\n" + summary_table(result.results))
    directory = result.run_dir
    reports = Reports(
        directory / "junit.xml",
        directory / "report.md",
        directory / "report.json",
        directory / "report.html",
    )
    runs = result.runs
    journals = [runs[name].journal_path if name in runs else Path(name) for name, _, _ in
                result.results]  # fmt: skip
    details = [
        RunDetails(runs[name].journal, read_log_file(runs[name].log_path)) if name in runs else None
        for name, _, _ in result.results
    ]
    write_reports(result.results, journals, result.outcome, reports, "chaos gameday run", details)
    if result.reason:
        typer.echo(result.reason)
    _review(directory)
    typer.echo(f"Run directory: {directory}")
    typer.echo(f"Game day: {result.outcome} (exit {result.outcome.exit_code})")
    if result.outcome.exit_code:
        raise typer.Exit(result.outcome.exit_code)


def _review(directory: Path) -> None:
    """Write the learning review beside the reports (a failure to write it is said)."""
    try:
        from chaos_runner.gameday.review import write_review
    except ImportError:  # pragma: no cover - the review module ships with this one
        return
    try:
        markdown, html = write_review(directory)
    except (ConfigurationError, OSError) as error:
        typer.secho(f"The review could not be written: {error}", err=True)
        return
    except Exception as error:  # a bug of the review must not change the day's outcome
        typer.secho(
            f"The review could not be written (a bug, please report it): "
            f"{type(error).__name__}: {error}. `chaos gameday review {directory}` retries it.",
            err=True,
        )
        return
    typer.echo(f"Review: {markdown} and {html}")


@contextlib.contextmanager
def _metrics(port: int | None) -> Iterator["GateMetrics"]:
    from chaos_runner.metrics import serving

    try:
        with serving(port) as metrics:
            if metrics.url:
                typer.echo(f"Metrics: {metrics.url}")
            yield metrics
    except ConfigurationError as error:
        fail(f"{error} Nothing was run.", ExitCode.USAGE)


class _View(Listener):
    """Plain lines: what a CI log or a pipe keeps."""

    def __init__(self, total: int, title: str, stream: IO[str] | None = None) -> None:
        self.total, self.title, self.stream = total, title, stream
        self.done = 0
        self.began = time.monotonic()
        self.lock = threading.Lock()
        self.metrics: GateMetrics | None = None
        self.last_sample_line = 0.0
        self.now: Sample | None = None
        self.current: tuple[str, str, float] | None = None  # experiment, what, since

    def say(self, text: str) -> None:
        self._echo(text)

    def step(self, experiment: str, what: str) -> None:
        with self.lock:
            if what == "starting" and self.metrics is not None and experiment != "pause":
                self.metrics.started(experiment)
            since = self.current[2] if self.current and self.current[0] == experiment else None
            self.current = (experiment, what, since or time.monotonic())
        elapsed = time.monotonic() - self.began
        self._echo(f"[{self.done}/{self.total} done, {elapsed:5.1f} s] {experiment}: {what}")

    def sample(self, sample: Sample) -> None:
        with self.lock:
            self.now = sample
            if self.metrics is not None:
                self.metrics.observed(sample.availability, sample.p95_ms)
            due = time.monotonic() - self.last_sample_line >= _PLAIN_SAMPLE_EVERY_S
            if due:
                self.last_sample_line = time.monotonic()
        if due:
            self._echo(f"  readers now: {_readers(sample)}")

    def finished(self, experiment: str, verdict: Verdict, seconds: float) -> None:
        with self.lock:
            self.done += 1
            self.current = None
            if self.metrics is not None:
                self.metrics.finished(experiment, verdict)
        mark = "✓" if verdict.exit_code == 0 else "✗"
        self._echo(
            f"[{self.done}/{self.total} done] {mark} {experiment}: {verdict.outcome} "
            f"(exit {verdict.exit_code}, score {verdict.score}) in {seconds:.1f} s"
        )

    def _echo(self, text: str) -> None:
        typer.echo(text, file=self.stream)


class _LiveView(_View):
    """A terminal view redrawn in place: the experiment now, its phase, what readers see."""

    def __init__(self, total: int, title: str, console: "Console") -> None:
        super().__init__(total, title)
        self.console = console

    def _echo(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def step(self, experiment: str, what: str) -> None:
        with self.lock:
            if what == "starting" and self.metrics is not None and experiment != "pause":
                self.metrics.started(experiment)
            same = self.current is not None and self.current[0] == experiment
            since = self.current[2] if same and self.current else time.monotonic()
            self.current = (experiment, what, since)

    def sample(self, sample: Sample) -> None:
        with self.lock:
            self.now = sample
            if self.metrics is not None:
                self.metrics.observed(sample.availability, sample.p95_ms)

    def render(self) -> "Table":
        from rich.table import Table
        from rich.text import Text

        with self.lock:
            current, now, done = self.current, self.now, self.done
        grid = Table.grid(padding=(0, 2))
        elapsed = time.monotonic() - self.began
        grid.add_row(Text(f"Game day: {self.title}  ({done}/{self.total} done, {elapsed:.0f} s)",
                          style="bold"))  # fmt: skip
        if current is not None:
            name, what, since = current
            grid.add_row(Text(f"  ⋯ {name}: {what}  ({time.monotonic() - since:.0f} s)"))
        if now is not None:
            grid.add_row(Text(f"  readers now: {_readers(now)}"))
        return grid


def _readers(sample: Sample) -> str:
    if sample.availability is None:
        return "no answer yet"
    return (
        f"{format_availability(sample.availability)} served, p95 {format_ms(sample.p95_ms)} "
        f"({sample.requests} requests, last 5 s)"
    )


@contextlib.contextmanager
def _view(total: int, title: str, stream: IO[str] | None = None) -> Iterator[_View]:
    """Live on a terminal a person watches (see ``wants_live_view``), plain lines elsewhere."""
    if not wants_live_view(stream):
        yield _View(total, title, stream)
        return
    from rich.console import Console
    from rich.live import Live

    console = Console(file=stream or sys.stdout, highlight=False)
    view = _LiveView(total, title, console)
    with Live(get_renderable=view.render, console=console, refresh_per_second=4,
              transient=True, redirect_stdout=False, redirect_stderr=False):  # fmt: skip
        yield view
