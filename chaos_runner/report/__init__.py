"""Renderers of verdicts: JUnit XML (:mod:`.junit`), GitHub-flavoured Markdown (:mod:`.markdown`),
a self-contained HTML page (:mod:`.html`, with :mod:`.svg`, :mod:`.journal` and :mod:`.logs`).

All take the same input: one :class:`ExperimentResult` per experiment, in the order they
ran, with ``verdict`` None for an experiment that was not run (a gate that stopped at the
first failure). Plain ``(name, verdict, seconds)`` tuples work too. JUnit and Markdown read
verdicts only (:mod:`chaos_runner.verdict`), never a journal or the world; the HTML page
also reads the journals (given in memory) and the runs' logs, for their timelines.
"""

from collections.abc import Sequence
from typing import NamedTuple

from chaos_runner.verdict import CheckKind, Outcome, Verdict, overall_score, worst

__all__ = ["CHECK_WORDS", "SKIPPED_REASON", "ExperimentResult", "gate_outcome", "gate_score"]

#: Why an experiment has no verdict.
SKIPPED_REASON = "not run: the gate stopped at an earlier experiment's failure (fail-fast)"


#: Each kind of check in words, as every report names it.
CHECK_WORDS = {
    CheckKind.STEADY_STATE_BEFORE: "steady state before",
    CheckKind.METHOD_PROBE: "method probe",
    CheckKind.FAULT_VERIFIED: "fault verified",
    CheckKind.METHOD_ACTION: "method action",
    CheckKind.RESTORE: "restore",
    CheckKind.STEADY_STATE_DURING: "steady state during",
    CheckKind.STEADY_STATE_AFTER: "steady state after",
}


class ExperimentResult(NamedTuple):
    """One experiment of a gate or of ``chaos verdict``: None as verdict when not run."""

    name: str  # the experiment file's stem (or its title)
    verdict: Verdict | None
    seconds: float


def gate_outcome(results: Sequence[tuple[str, Verdict | None, float]]) -> Outcome:
    """The worst outcome of the verdicts, by precedence (skipped ones do not count)."""
    return worst(verdict.outcome for _, verdict, _ in results if verdict is not None)


def gate_score(results: Sequence[tuple[str, Verdict | None, float]]) -> int | None:
    """The contribution-weighted score of the verdicts (skipped ones do not count)."""
    return overall_score(verdict for _, verdict, _ in results if verdict is not None)
