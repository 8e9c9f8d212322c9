"""What `chaos verdict` and `chaos gate` share: the summary table, the reports, the outcome."""

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import typer

from chaos_runner.cli._output import ExitCode, fail
from chaos_runner.report import ExperimentResult, gate_outcome, gate_score, html, junit, markdown
from chaos_runner.report.html import RunDetails
from chaos_runner.verdict import Outcome, Phase, format_availability, format_ms, worst

__all__ = ["Reports", "check_writable", "overall_outcome", "summary_table", "write_reports"]


class Reports(NamedTuple):
    """Where to write the reports (None: not asked for)."""

    junit: Path | None
    markdown: Path | None
    json: Path | None
    html: Path | None = None

    def options(self) -> list[tuple[str, Path | None]]:
        """Each report's option (``--junit``...) and path."""
        return list(zip(("--junit", "--markdown", "--json", "--html"), self, strict=True))

    def check_writable(self) -> None:
        """:func:`check_writable` for each report asked for (exit 2 on the first bad one)."""
        for option, path in self.options():
            if path is not None:
                check_writable(option, path)


def check_writable(option: str, path: Path) -> None:
    """Refuse an output path that cannot be written, before anything runs.

    A missing directory is created (CI jobs write into a fresh ``reports/``); a path that
    is a directory, or whose directory cannot be made, ends the command with exit 2.
    """
    if path.is_dir():
        fail(f"{option} {path}: is a directory; give a file name.", ExitCode.USAGE)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fail(
            f"{option} {path}: the directory {path.parent} cannot be created "
            f"({error.strerror or error}).",
            ExitCode.USAGE,
        )


def overall_outcome(results: list[ExperimentResult], min_score: int | None) -> Outcome:
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


_COLUMNS = (
    "",
    "experiment",
    "outcome",
    "exit",
    "score",
    "avail. during",
    "p95 during",
    "TTD",
    "TTR",
)


def _row(result: ExperimentResult) -> tuple[str, ...]:
    name, verdict, _ = result
    if verdict is None:
        return ("-", name, "skipped", "", "", "", "", "", "")
    during = verdict.phase(Phase.DURING)
    ttd, ttr = verdict.time_to_detect_s, verdict.time_to_recover_s
    return (
        _mark(verdict.exit_code == 0),
        name,
        str(verdict.outcome),
        str(verdict.exit_code),
        str(verdict.score),
        format_availability(during.availability),
        format_ms(during.p95_ms),
        "-" if ttd is None else f"{ttd:.2f} s",
        "-" if ttr is None else f"{ttr:.2f} s",
    )


def _mark(held: bool, ran: bool = True) -> str:
    return "-" if not ran else ("✓" if held else "✗")


def _checks(results: list[ExperimentResult]) -> list[str]:
    """Every check of every experiment with ✓ (held), ✗ (failed) or - (not run)."""
    lines = ["", "checks:"]
    for name, verdict, _ in results:
        if verdict is None:
            lines.append(f"  - {name}: not run")
            continue
        lines.append(f"  {_mark(verdict.exit_code == 0)} {name}")
        lines += [
            f"      {_mark(check.held, check.ran)} {check.kind}: {check.name} ({check.detail})"
            for check in verdict.checks
        ]
    return lines


def summary_table(results: list[ExperimentResult]) -> str:
    """One row per experiment (✓/✗), then each experiment's checks, then the score."""
    rows = [_COLUMNS, *map(_row, results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines += _checks(results)
    score = gate_score(results)
    lines.append(f"score: {'n/a' if score is None else score}/100")
    return "\n".join(lines)


def write_reports(
    results: list[ExperimentResult],
    journals: list[Path],
    outcome: Outcome,
    reports: Reports,
    suite: str,
    details: Sequence[RunDetails | None] = (),
) -> None:
    """Write the reports asked for; append the Markdown to $GITHUB_STEP_SUMMARY when set.

    ``details`` (the journals in memory, and their logs, in the order of ``results``) feed
    the HTML report's timelines; without them it shows the verdicts only.
    """
    text = markdown.render(results, outcome=outcome)
    try:
        if reports.junit is not None:
            junit.write(reports.junit, results, suite=suite, outcome=outcome)
        if reports.markdown is not None:
            reports.markdown.write_text(text, encoding="utf-8")
        if reports.json is not None:
            document = _json(results, journals, outcome)
            reports.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        if reports.html is not None:
            overview = suite == "chaos gate" or len(results) > 1
            title = f"{suite}: resilience verdict"
            html.write(reports.html, results, details, title, outcome, overview)
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
