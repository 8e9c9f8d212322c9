"""A review for a person (a table, then each risk), as Markdown, and as JSON."""

import textwrap
from typing import Any, TypedDict

from chaos_runner.risks.findings import Risk, Severity
from chaos_runner.risks.review import Review

__all__ = ["RiskDocument", "as_json", "as_markdown", "as_text", "summary"]

_WIDTH = 100
_EXPERIMENTS = "experiments/"


class RiskDocument(TypedDict):
    """One risk in the JSON document."""

    id: str
    title: str
    severity: str
    accepted: bool
    evidence: list[str]
    change: str
    experiments: list[str]
    reference: str


def summary(review: Review, fail_on: Severity) -> str:
    """One sentence: how many risks of each severity, and what that means for the exit."""
    counts = ", ".join(f"{count} {severity}" for severity, count in review.counts().items())
    failing = review.failing(fail_on)
    accepted = sum(risk.accepted for risk in review.risks)
    verdict = (
        f"{len(failing)} at or above --fail-on {fail_on} (exit 1)"
        if failing
        else f"none at or above --fail-on {fail_on} (exit 0)"
    )
    accepted_note = f"; {accepted} accepted" if accepted else ""
    return f"{len(review.risks)} finding(s): {counts}{accepted_note}; {verdict}."


def _severity(risk: Risk) -> str:
    return f"{risk.severity} (accepted)" if risk.accepted else str(risk.severity)


def _heading(review: Review) -> str:
    read = review.read_at.strftime("%Y-%m-%d %H:%M UTC")
    return f"Resilience risks of {review.target} (read {read})"


def as_text(review: Review, fail_on: Severity) -> str:
    """For a person: the table of risks, each risk in full, then the summary."""
    lines = [_heading(review), ""]
    if review.risks:
        rows = [("severity", "risk", "title")] + [
            (_severity(risk), risk.id, risk.kind.title) for risk in review.risks
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(2)]
        lines += [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}" for row in rows]
        for risk in review.risks:
            lines += ["", f"{_severity(risk)}  {risk.id}: {risk.kind.title}"]
            lines += _field("evidence", risk.evidence)
            lines += _field("change", [risk.change])
            runs = [f"chaos run {_EXPERIMENTS}{name}" for name in risk.kind.experiments[:1]]
            also = risk.kind.experiments[1:]
            if also:
                runs[0] += f" (also {', '.join(also)})"
            lines += _field("experiment", runs)
            lines += _field("docs", [risk.kind.reference])
    else:
        lines.append("No risk found.")
    if review.clear:
        clear = "Checked, no risk: " + ", ".join(review.clear) + "."
        lines += ["", *textwrap.wrap(clear, _WIDTH, break_on_hyphens=False)]
    lines += ["", summary(review, fail_on)]
    return "\n".join(lines)


def _field(name: str, paragraphs: list[str] | tuple[str, ...]) -> list[str]:
    label = f"  {name}:".ljust(14)
    lines = []
    for index, paragraph in enumerate(paragraphs):
        lines += textwrap.wrap(
            paragraph,
            _WIDTH,
            initial_indent=label if index == 0 else " " * len(label),
            subsequent_indent=" " * len(label),
            break_long_words=False,
            break_on_hyphens=False,
        )
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def as_markdown(review: Review, fail_on: Severity) -> str:
    """A Markdown section (for a pull request or $GITHUB_STEP_SUMMARY): one table row a risk."""
    lines = [f"## {_heading(review)}", "", summary(review, fail_on), ""]
    if review.clear:
        lines += ["Checked, no risk: " + ", ".join(f"`{i}`" for i in review.clear) + ".", ""]
    if review.risks:
        lines += [
            "| severity | risk | evidence | change | experiment |",
            "|---|---|---|---|---|",
        ]
        for risk in review.risks:
            experiments = ", ".join(
                f"[{name}]({_EXPERIMENTS}{name})" for name in risk.kind.experiments
            )
            lines.append(
                "| "
                + " | ".join(
                    [
                        _severity(risk),
                        f"`{risk.id}`<br>{_cell(risk.kind.title)}",
                        "<br>".join(_cell(line) for line in risk.evidence),
                        f"{_cell(risk.change)} ([docs]({risk.kind.reference}))",
                        experiments,
                    ]
                )
                + " |"
            )
    return "\n".join(lines) + "\n"


def as_json(review: Review, fail_on: Severity) -> dict[str, Any]:
    """The review as a JSON-ready document (the exit code it leads to included)."""
    failing = review.failing(fail_on)
    return {
        "target": review.target,
        "distribution_id": review.distribution_id,
        "read_at": review.read_at.isoformat(),
        "fail_on": str(fail_on),
        "exit_code": 1 if failing else 0,
        "failing": [risk.id for risk in failing],
        "counts": review.counts(),
        "risks": [_risk_document(risk) for risk in review.risks],
        "clear": list(review.clear),
        "invalidations_by_month": [
            {
                "month": month.month,
                "invalidations": month.invalidations,
                "everything": month.everything,
                "paths": month.paths,
                "paths_beyond_free": month.paths_beyond_free,
                "cost_usd": month.cost_usd,
            }
            for month in review.invalidations
        ],
    }


def _risk_document(risk: Risk) -> RiskDocument:
    return RiskDocument(
        id=risk.id,
        title=risk.kind.title,
        severity=str(risk.severity),
        accepted=risk.accepted,
        evidence=list(risk.evidence),
        change=risk.change,
        experiments=[_EXPERIMENTS + name for name in risk.kind.experiments],
        reference=risk.kind.reference,
    )
