"""``chaos verdict JOURNAL...``: judge run journals, write the reports, exit by the contract."""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer

from chaos_runner._errors import ConfigurationError
from chaos_runner.cli._output import ExitCode, fail
from chaos_runner.cli._results import (
    Reports,
    overall_outcome,
    summary_table,
    write_reports,
)
from chaos_runner.report import ExperimentResult
from chaos_runner.report.html import RunDetails
from chaos_runner.report.logs import read_log
from chaos_runner.verdict import (
    Verdict,
    judge,
)

__all__ = ["app"]

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

#: Chaos Toolkit's default journal name says nothing: such a journal goes by its title.
_DEFAULT_JOURNAL_STEM = "journal"


@app.command()
def verdict(
    journal: Annotated[
        list[Path],
        typer.Argument(
            metavar="JOURNAL", help="Journals written by `chaos run`.", show_default=False
        ),
    ],
    junit_file: Annotated[
        Path | None, typer.Option("--junit", metavar="FILE", help="Write a JUnit XML report.")
    ] = None,
    markdown_file: Annotated[
        Path | None,
        typer.Option("--markdown", metavar="FILE", help="Write a Markdown report."),
    ] = None,
    json_file: Annotated[
        Path | None,
        typer.Option("--json", metavar="FILE", help="Write the verdicts as JSON."),
    ] = None,
    html_file: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="FILE",
            help="Write a self-contained HTML report (one page for all the journals).",
        ),
    ] = None,
    min_score: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Fail (exit 1) when an experiment scores below N (0-100), unless a worse "
            "exit code applies.",
        ),
    ] = None,
) -> None:
    """Judge each journal: outcome, reasons, what readers saw, time to detect and recover.

    Exit codes: 0 held, 1 deviated, 2 invalid or bad input, 3 inconclusive,
    4 restore incomplete, 5 aborted, 70 internal error.
    Across journals, the first of 4, 70, 2, 3, 5, 1, 0 wins.

    The Markdown report is also appended to $GITHUB_STEP_SUMMARY when it is set. The HTML
    report shows the lines that matter of a run's log when it lies beside the journal
    (chaos.log, as `chaos gate --out` keeps it, or chaostoolkit.log).
    """
    if min_score is not None and not 0 <= min_score <= 100:
        fail(f"--min-score must be from 0 to 100; got {min_score}.", ExitCode.USAGE)
    reports = Reports(junit_file, markdown_file, json_file, html_file)
    reports.check_writable()
    journals = journal
    results = []
    details = []
    for path in journals:
        result = _judged(path)
        typer.echo(f"{path} ({result.name}):\n{result.verdict.summary()}\n")
        results.append(ExperimentResult(result.name, result.verdict, result.seconds))
        if html_file is not None:
            details.append(RunDetails(result.journal, read_log(path, _title(result.journal))))
    typer.echo(summary_table(results))
    outcome = overall_outcome(results, min_score)
    write_reports(results, journals, outcome, reports, "chaos verdict", details)
    typer.echo(f"Overall: {outcome} (exit {outcome.exit_code})")
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


class _Judged(NamedTuple):
    name: str
    verdict: Verdict
    seconds: float
    journal: Mapping[str, Any]


def _title(journal: Mapping[str, Any]) -> str | None:
    experiment = journal.get("experiment")
    title = experiment.get("title") if isinstance(experiment, Mapping) else None
    return title if isinstance(title, str) else None


def _judged(path: Path) -> _Judged:
    """The verdict on the journal at ``path``; bad input ends the command with exit 2."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        fail(f"{path}: no such file.", ExitCode.USAGE)
    except IsADirectoryError:
        fail(f"{path}: is a directory; give the journal file `chaos run` wrote.", ExitCode.USAGE)
    except OSError as error:
        fail(f"{path}: cannot be read ({error.strerror or error}).", ExitCode.USAGE)
    if not raw.strip():
        fail(f"{path}: is empty; a journal is the JSON file `chaos run` writes.", ExitCode.USAGE)
    try:
        journal = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        fail(f"{path}: is not text (not UTF-8); is it a journal?", ExitCode.USAGE)
    except (json.JSONDecodeError, RecursionError) as error:
        fail(f"{path}: is not JSON ({_json_problem(error)}).", ExitCode.USAGE)
    try:
        judged = judge(journal)
    except ConfigurationError as error:
        fail(f"{path}: {error}", ExitCode.USAGE)
    name = path.stem if path.stem != _DEFAULT_JOURNAL_STEM else judged.experiment
    return _Judged(name, judged, judged.duration_s or 0.0, journal)


def _json_problem(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno}, column {error.colno}"
    return "nested too deeply"
