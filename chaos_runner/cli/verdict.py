"""``chaos verdict JOURNAL...``: judge run journals, write the reports, exit by the contract."""

import json
import os
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer

from chaos_runner._errors import ConfigurationError
from chaos_runner.cli._output import ExitCode, fail
from chaos_runner.report import ExperimentResult, gate_outcome, gate_score, junit, markdown
from chaos_runner.verdict import (
    Outcome,
    Phase,
    Verdict,
    format_availability,
    format_ms,
    judge,
    worst,
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

    The Markdown report is also appended to $GITHUB_STEP_SUMMARY when it is set.
    """
    if min_score is not None and not 0 <= min_score <= 100:
        fail(f"--min-score must be from 0 to 100; got {min_score}.", ExitCode.USAGE)
    for option, path in (
        ("--junit", junit_file),
        ("--markdown", markdown_file),
        ("--json", json_file),
    ):
        if path is not None:
            _check_writable(option, path)
    journals = journal
    results = []
    for path in journals:
        result = _judged(path)
        typer.echo(f"{path} ({result.name}):\n{result.verdict.summary()}\n")
        results.append(ExperimentResult(*result))
    typer.echo(_table(results))
    outcome = _outcome(results, min_score)
    _write_reports(results, journals, outcome, Reports(junit_file, markdown_file, json_file))
    typer.echo(f"Overall: {outcome} (exit {outcome.exit_code})")
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


class Reports(NamedTuple):
    """Where to write the reports (None: not asked for)."""

    junit: Path | None
    markdown: Path | None
    json: Path | None


class _Judged(NamedTuple):
    name: str
    verdict: Verdict
    seconds: float


def _check_writable(option: str, path: Path) -> None:
    """Refuse an output path that cannot be written, before any verdict is printed."""
    if path.is_dir():
        fail(f"{option} {path}: is a directory; give a file name.", ExitCode.USAGE)
    if not path.parent.is_dir():
        fail(f"{option} {path}: the directory {path.parent} does not exist.", ExitCode.USAGE)


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
    return _Judged(name, judged, judged.duration_s or 0.0)


def _json_problem(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno}, column {error.colno}"
    return "nested too deeply"


def _outcome(results: list[ExperimentResult], min_score: int | None) -> Outcome:
    outcome = gate_outcome(results)
    low = [
        name
        for name, verdict, _ in results
        if verdict is not None and min_score is not None and verdict.score < min_score
    ]
    if low:
        typer.echo(f"Below --min-score {min_score}: {', '.join(low)}.")
        outcome = worst([outcome, Outcome.DEVIATED])
    return outcome


_COLUMNS = ("experiment", "outcome", "exit", "score", "avail. during", "p95 during", "TTD", "TTR")


def _row(result: ExperimentResult) -> tuple[str, ...]:
    name, verdict, _ = result
    if verdict is None:
        return (name, "skipped", "", "", "", "", "", "")
    during = verdict.phase(Phase.DURING)
    ttd, ttr = verdict.time_to_detect_s, verdict.time_to_recover_s
    return (
        name,
        str(verdict.outcome),
        str(verdict.exit_code),
        str(verdict.score),
        format_availability(during.availability),
        format_ms(during.p95_ms),
        "-" if ttd is None else f"{ttd:.2f} s",
        "-" if ttr is None else f"{ttr:.2f} s",
    )


def _table(results: list[ExperimentResult]) -> str:
    rows = [_COLUMNS, *map(_row, results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    score = gate_score(results)
    lines.append(f"score: {'n/a' if score is None else score}/100")
    return "\n".join(lines)


def _write_reports(
    results: list[ExperimentResult], journals: list[Path], outcome: Outcome, reports: Reports
) -> None:
    text = markdown.render(results, outcome=outcome)
    try:
        if reports.junit is not None:
            junit.write(reports.junit, results, suite="chaos verdict", outcome=outcome)
        if reports.markdown is not None:
            reports.markdown.write_text(text, encoding="utf-8")
        if reports.json is not None:
            document = _json(results, journals, outcome)
            reports.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        fail(f"{error.filename}: cannot be written ({error.strerror or error}).", ExitCode.USAGE)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with Path(summary).open("a", encoding="utf-8") as step_summary:
                step_summary.write(text + "\n")
        except OSError as error:
            typer.secho(
                f"warning: $GITHUB_STEP_SUMMARY ({summary}) cannot be written: "
                f"{error.strerror or error}",
                err=True,
                fg=typer.colors.YELLOW,
            )


def _json(
    results: list[ExperimentResult], journals: list[Path], outcome: Outcome
) -> dict[str, Any]:
    return {
        "outcome": str(outcome),
        "exit_code": outcome.exit_code,
        "score": gate_score(results),
        "experiments": [
            {"name": name, "journal": str(path), "seconds": seconds, **verdict.to_dict()}
            for (name, verdict, seconds), path in zip(results, journals, strict=True)
            if verdict is not None
        ],
    }
