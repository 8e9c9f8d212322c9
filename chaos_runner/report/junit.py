"""Verdicts as a JUnit XML report, the shape GitHub and GitLab test reports read.

One ``<testsuite>`` (a gate, or one ``chaos verdict`` call) under a ``<testsuites>`` root,
one ``<testcase>`` per experiment: ``classname`` is the experiment's name (its file stem),
``name`` its title, ``time`` its seconds. A deviation (exit 1) is a ``<failure>``; an
invalid experiment (2), an inconclusive fault (3), an incomplete restore (4), an abort (5)
and an internal error (70) are an ``<error>``: the experiment did not get to judge the
site. An experiment not run is ``<skipped>``. The key figures are ``<properties>`` of each
test case (as pytest's ``record_property`` writes them), the gate's outcome and score
those of the suite, and the verdict's summary its ``<system-out>``.

Every text is escaped by ElementTree, and characters XML 1.0 cannot carry (control
characters such as the ESC of a coloured log line) are written as ``\\xNN``.
"""

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from chaos_runner.report import SKIPPED_REASON, gate_outcome, gate_score
from chaos_runner.verdict import Outcome, Phase, Verdict

__all__ = ["render", "write"]

#: Characters XML 1.0 does not allow, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: object) -> str:
    return _NOT_XML.sub(lambda found: f"\\x{ord(found.group()):02x}", str(text))


def _element(parent: ET.Element, tag: str, text: str = "", **attributes: object) -> ET.Element:
    child = ET.SubElement(parent, tag, {key: _clean(value) for key, value in attributes.items()})
    if text:
        child.text = _clean(text)
    return child


def _figure(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _properties(parent: ET.Element, figures: Sequence[tuple[str, str]]) -> None:
    """A ``<properties>`` block; a figure not measured (empty) is left out."""
    properties = _element(parent, "properties")
    for name, value in figures:
        if value:
            _element(properties, "property", name=name, value=value)


def _case_figures(verdict: Verdict) -> list[tuple[str, str]]:
    during = verdict.phase(Phase.DURING)
    return [
        ("outcome", str(verdict.outcome)),
        ("exit_code", str(verdict.exit_code)),
        ("score", str(verdict.score)),
        ("checks", f"{verdict.checks_held}/{len(verdict.checks)}"),
        ("availability_during", _figure(during.availability, 4)),
        ("p95_during_ms", _figure(during.p95_ms)),
        ("time_to_detect_s", _figure(verdict.time_to_detect_s)),
        ("time_to_recover_s", _figure(verdict.time_to_recover_s)),
        ("target", verdict.target),
    ]


def _testcase(suite: ET.Element, name: str, verdict: Verdict | None, seconds: float) -> str:
    """Add one test case; return what it counts as: passed, failure, error or skipped."""
    title = name if verdict is None else verdict.experiment
    case = _element(suite, "testcase", classname=name, name=title, time=f"{seconds:.3f}")
    if verdict is None:
        _element(case, "skipped", message=SKIPPED_REASON)
        return "skipped"
    _properties(case, _case_figures(verdict))
    kind = "passed"
    if verdict.outcome is not Outcome.HELD:
        kind = "failure" if verdict.outcome is Outcome.DEVIATED else "error"
        details = "\n".join(f"- {reason}" for reason in verdict.reasons)
        _element(case, kind, details, message=verdict.reason, type=str(verdict.outcome))
    _element(case, "system-out", verdict.summary())
    return kind


def _timestamp(results: Sequence[tuple[str, Verdict | None, float]]) -> str:
    for _, verdict, _ in results:
        if verdict is not None and verdict.started:
            try:
                started = datetime.fromisoformat(verdict.started)
            except ValueError:
                continue
            return started.replace(tzinfo=None, microsecond=0).isoformat()
    return ""


def render(
    results: Sequence[tuple[str, Verdict | None, float]],
    suite: str = "chaostoolkit-cdn",
    outcome: Outcome | None = None,
) -> str:
    """The JUnit XML document of ``results`` (see the module doc), as text.

    ``outcome`` is the gate's, when the caller knows more than the verdicts (a
    ``--min-score`` not met); by default the worst of the verdicts.
    """
    root = ET.Element("testsuites", name=_clean(suite))
    testsuite = _element(root, "testsuite", name=suite)
    outcome = gate_outcome(results) if outcome is None else outcome
    score = gate_score(results)
    _properties(
        testsuite,
        [
            ("outcome", str(outcome)),
            ("exit_code", str(outcome.exit_code)),
            ("score", "" if score is None else str(score)),
        ],
    )
    kinds = [_testcase(testsuite, *result) for result in results]
    counts = {
        "tests": str(len(kinds)),
        "failures": str(kinds.count("failure")),
        "errors": str(kinds.count("error")),
        "skipped": str(kinds.count("skipped")),
        "time": f"{sum(seconds for _, _, seconds in results):.3f}",
    }
    for element in (root, testsuite):
        element.attrib.update(counts)
    if timestamp := _timestamp(results):
        testsuite.set("timestamp", timestamp)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


def write(
    path: Path,
    results: Sequence[tuple[str, Verdict | None, float]],
    suite: str = "chaostoolkit-cdn",
    outcome: Outcome | None = None,
) -> None:
    """Write :func:`render`'s document to ``path`` (UTF-8)."""
    path.write_text(render(results, suite, outcome) + "\n", encoding="utf-8")
