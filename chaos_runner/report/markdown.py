"""Verdicts as GitHub-flavoured Markdown: for a pull request, a job summary or a wiki.

:func:`render` writes a heading with the gate's outcome and score, one table row per
experiment (✓ held, ✗ not held, - not run) with the figures readers saw during the fault,
then, per experiment, its reasons and a ✓/✗ line per check, as k6 prints its thresholds,
so the score can be recomputed by counting the ✓.
"""

import re
from collections.abc import Sequence

from chaos_runner.report import CHECK_WORDS as _CHECK_WORDS
from chaos_runner.report import SKIPPED_REASON, gate_outcome, gate_score
from chaos_runner.verdict import (
    Check,
    FaultOutcome,
    Outcome,
    Phase,
    Verdict,
    format_availability,
    format_ms,
    format_seconds,
)

__all__ = ["cell", "check_line", "fault_line", "render"]

PASS, FAIL, SKIP = "✓", "✗", "-"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def cell(text: object) -> str:
    """Text safe in a table cell or a list item: one line, no HTML tag, no column break."""
    flat = " ".join(_CONTROL.sub("", str(text)).split())
    return flat.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def _mark(held: bool) -> str:
    return PASS if held else FAIL


def _detect(verdict: Verdict) -> str:
    watch = verdict.watch
    if watch is None or not watch.faults_seen:
        return "n/a"
    return format_seconds(watch.time_to_detect_s) if watch.detected else "not detected"


def _recover(verdict: Verdict) -> str:
    watch = verdict.watch
    if watch is None or not watch.faults_seen:
        return "n/a"
    return format_seconds(watch.time_to_recover_s) if watch.recovered else "not recovered"


def _row(name: str, verdict: Verdict | None, seconds: float) -> str:
    if verdict is None:
        cells = [SKIP, name, "skipped", "", "", "", "", "", "", ""]
    else:
        during = verdict.phase(Phase.DURING)
        cells = [
            _mark(verdict.outcome is Outcome.HELD),
            name,
            f"{verdict.outcome} ({verdict.exit_code})",
            str(verdict.score),
            format_availability(during.availability),
            format_ms(during.p95_ms),
            _detect(verdict),
            _recover(verdict),
            f"{seconds:.1f} s",
            verdict.target,
        ]
    return "| " + " | ".join(cell(value) for value in cells) + " |"


def _table(results: Sequence[tuple[str, Verdict | None, float]]) -> list[str]:
    return [
        "| | experiment | outcome (exit) | score | availability during | p95 during "
        "| time to detect | time to recover | time | target |",
        "|:-:|---|---|--:|--:|--:|--:|--:|--:|---|",
        *(_row(*result) for result in results),
    ]


def check_line(check: Check) -> str:
    """One check as a list item: ✓ or ✗, its kind, its name and detail."""
    detail = "" if not check.detail else f" — {cell(check.detail)}"
    return f"- {_mark(check.held)} {_CHECK_WORDS[check.kind]}: {cell(check.name)}{detail}"


def fault_line(fault: FaultOutcome) -> str:
    """One fault as a list item: verified or not, its evidence, its restore."""
    name = f"{cell(fault.name)}: " if fault.name else ""
    text = f"{name}{cell(fault.description)}: {'verified' if fault.verified else 'not verified'}"
    if fault.evidence:
        text += f" ({cell(fault.evidence)})"
    if fault.state:
        took = fault.restore_seconds
        text += f"; {cell(fault.state)}" + ("" if took is None else f" in {format_seconds(took)}")
        text += f": {cell(fault.detail)}" if fault.detail else ""
    mark = _mark(fault.verified and fault.state in (None, "restored", "irreversible"))
    return f"- {mark} {text}"


def _section(name: str, verdict: Verdict | None) -> list[str]:
    if verdict is None:
        return [f"### {SKIP} {cell(name)}: skipped", "", cell(SKIPPED_REASON), ""]
    lines = [
        f"### {_mark(verdict.outcome is Outcome.HELD)} {cell(name)}: {verdict.outcome} "
        f"(exit {verdict.exit_code}), score {verdict.score}/100",
        "",
        f"*{cell(verdict.experiment)}* on {cell(verdict.target)}",
        "",
        *(f"- {cell(reason)}" for reason in verdict.reasons),
        *(f"- note: {cell(note)}" for note in verdict.notes),
        "",
        f"**Checks**: {verdict.checks_held} of {len(verdict.checks)} held",
        "",
        *(check_line(check) for check in verdict.checks),
        "",
    ]
    lines += ["**Readers saw**", ""]
    lines += [f"- {phase.phase}: {cell(phase.describe())}" for phase in verdict.phases]
    if verdict.watch is not None:
        lines.append(f"- {cell(verdict.watch.describe())}")
    lines.append("")
    if verdict.faults:
        lines += ["**Faults**", "", *(fault_line(fault) for fault in verdict.faults), ""]
    return lines


def render(
    results: Sequence[tuple[str, Verdict | None, float]],
    title: str = "Resilience verdict",
    outcome: Outcome | None = None,
) -> str:
    """The Markdown report of ``results`` (see the module doc).

    ``outcome`` is the gate's, when the caller knows more than the verdicts (a
    ``--min-score`` not met); by default the worst of the verdicts.
    """
    outcome = gate_outcome(results) if outcome is None else outcome
    score = gate_score(results)
    shown = "n/a" if score is None else f"{score}/100"
    lines = [
        f"## {_mark(outcome is Outcome.HELD)} {cell(title)}: {outcome} "
        f"(exit {outcome.exit_code}), score {shown}",
        "",
        *_table(results),
        "",
    ]
    for name, verdict, _ in results:
        lines += _section(name, verdict)
    return "\n".join(lines).rstrip("\n") + "\n"
