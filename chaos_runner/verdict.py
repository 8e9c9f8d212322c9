"""A journal's verdict: did the site hold, and what did its readers see?

:func:`judge` reads one Chaos Toolkit journal (ours, with the ``chaostoolkit-cdn`` section
of :mod:`chaos_runner.run`, or any other) and returns a :class:`Verdict`: an outcome and
its exit code, the reasons in words, what readers saw before, during and after the fault,
each fault injected, verified and restored, time to detect and recover, and a score. It
is pure: no I/O, no AWS, no fault or probe imported; it reads the journal only.

Outcomes and exit codes (docs/architecture.md, "Exit codes")
    ====================  ====  ==========================================================
    outcome               exit  when the journal shows
    ====================  ====  ==========================================================
    held                  0     nothing below
    deviated              1     the steady state failed before any fault, during or after
                                the method; a method probe failed (an expectation not met);
                                a problem of kind ``expectation``
    invalid               2     a problem of kind ``invalid`` (nothing was injected)
    inconclusive          3     a method action failed, or a problem of kind
                                ``not-in-effect``: a fault was not injected or not verified
    restore-incomplete    4     ``restore_complete`` false, a fault ``open`` or in
                                ``conflict``; without our section, a failed rollback
    aborted               5     status ``interrupted``/``aborted``, or a problem of kind
                                ``aborted``, with every fault restored
    internal-error        70    a problem of kind ``internal`` (a bug of chaostoolkit-cdn)
    ====================  ====  ==========================================================

    When several apply, the first of 4, 70, 2, 3, 5, 1, 0 wins (:data:`PRECEDENCE`); every
    one is kept as a reason, in that order. An activity failure that one of our problems
    explains (same message, or same function) counts once, by the problem's kind. Chaos
    Toolkit alone ends a run whose steady state failed before the method as ``completed``
    (exit 0); here it is ``deviated``.

Figures per phase
    ``before`` and ``after`` read the steady-state probes; ``during`` reads the method's
    probes that ran while a fault was in effect (from the first injection to the last
    restore the journal knows of; every method probe from the first action on when the
    journal does not say). Load-shaped outputs (``probes.load.measurement``,
    ``probes.http.availability``/``latency_percentiles``) and page answers
    (``probes.http.responses``/``expect_responses``, an answer in 200-399 counting as
    served) are added up: availability is served / requests over all of them; p95 and p99
    are the highest of the phase's load measurements (percentiles cannot be merged from
    summaries, so the worst one is shown). ``X-Cache`` labels lose their `` from
    cloudfront``. Time to detect and to recover come from the watch probe
    (``probes.watch.health_timeline``).

The resilience score (0..100)
    Every experiment declares checks; the score is the share of them that held, rounded
    down (100 means every check held)::

        score = floor(100 x checks held / checks declared)

    The checks: each steady-state probe before the method (held: within tolerance); each
    probe of the method, background ones included (held: it ran and succeeded); each fault
    action of the method (held: injected and verified; our faults succeed only once
    verified; in our runs another action, such as a script, is a ``method-action`` check
    that held when it succeeded); the restore (held: every fault restored, irreversible or
    never injected; without our section, every rollback succeeded; no check when neither
    says anything);
    the steady state during the method (one check, when Chaos Toolkit's continuous strategy
    ran it); each steady-state probe after the method. A check that did not run (the method
    after a failed steady state, an interrupted run) did not hold. Restore actions of the
    method (``chaos_runner.faults.ledger``) are not checks of their own: the restore is.

    Several experiments (a gate) weigh each score by the experiment's ``contributions``:
    3 when one of them is ``high``, 2 when the highest is ``medium``, else 1 (also without
    contributions); the gate's score is the weighted mean, rounded down
    (:func:`overall_score`).

    The score is a measure, never a pass: exits 3, 4 and 70 fail whatever the score, a
    deviation fails at 90 as at 10, and ``chaos verdict --min-score N`` can only make a
    held run fail.

Worked example
    ``origin-outage`` declares 2 steady-state probes (``the-edge-serves-the-deployed-pages``,
    ``pages-are-available-and-fast``), 5 method probes (``watch-the-cached-pages``,
    ``warm-the-cache``, ``cached-pages-are-still-served``,
    ``cached-pages-under-load-during-the-outage``, ``pages-not-warmed-during-the-outage``),
    1 fault (``deny-origin-reads``; ``restore-the-bucket-policy`` is a restore), the
    restore, and the same 2 steady-state probes after: 11 checks. A held run scores
    floor(100 x 11 / 11) = 100. If the load probe after the fault measures p95 412 ms
    against its 300 ms bound, 10 of 11 held: floor(100 x 10 / 11) = 90, outcome
    ``deviated``, exit 1, reason "the steady state deviated after the method: p95 412 ms >
    300 ms on /, /posts/origin-outage/ (probe pages-are-available-and-fast)". Gated with
    ``object-loss`` (no contributions, weight 1) scoring 100, origin-outage (availability:
    high, weight 3) weighs three times as much: floor((3 x 90 + 1 x 100) / 4) = 92.
"""

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from chaos_runner._errors import ConfigurationError
from chaos_runner.run import SECTION, ProblemKind
from chaos_runner.values import epoch as _epoch
from chaos_runner.values import list_of as _list
from chaos_runner.values import mapping as _mapping
from chaos_runner.values import number as _number
from chaos_runner.values import text as _text

__all__ = [
    "PRECEDENCE",
    "UNKNOWN_TARGET",
    "Check",
    "CheckKind",
    "FaultOutcome",
    "Finding",
    "Outcome",
    "Phase",
    "PhaseFigures",
    "Verdict",
    "WatchFigures",
    "format_availability",
    "format_ms",
    "format_seconds",
    "judge",
    "overall_score",
    "worst",
]

#: The target of a journal without our section.
UNKNOWN_TARGET = "unknown target (not a chaostoolkit-cdn journal)"
#: Restore actions: the restore is one check, not a fault of its own.
_RESTORE_MODULE = "chaos_runner.faults.ledger"
_FAULTS_PACKAGE = "chaos_runner.faults."
_ACTIVITY_FAILED = "chaoslib.exceptions.ActivityFailed: "
_CONTRIBUTION_WEIGHTS = {"high": 3, "medium": 2, "low": 1}
#: Fault states that mean the site may still be degraded.
_UNRESTORED_STATES = frozenset({"open", "conflict"})


class Outcome(StrEnum):
    """What a run proved, from best to worst (see :data:`PRECEDENCE` for which wins)."""

    HELD = "held"
    DEVIATED = "deviated"
    INVALID = "invalid"
    INCONCLUSIVE = "inconclusive"
    RESTORE_INCOMPLETE = "restore-incomplete"
    ABORTED = "aborted"
    INTERNAL_ERROR = "internal-error"

    @property
    def exit_code(self) -> int:
        """The exit code of ``chaos gate``, ``chaos verdict`` and ``chaos gameday run``."""
        return _EXIT_CODES[self]


_EXIT_CODES = {
    Outcome.HELD: 0,
    Outcome.DEVIATED: 1,
    Outcome.INVALID: 2,
    Outcome.INCONCLUSIVE: 3,
    Outcome.RESTORE_INCOMPLETE: 4,
    Outcome.ABORTED: 5,
    Outcome.INTERNAL_ERROR: 70,
}

#: When several outcomes apply, the first of these wins (docs/architecture.md: 4, 70, 2, 3, 5,
#: 1, 0).
PRECEDENCE: tuple[Outcome, ...] = (
    Outcome.RESTORE_INCOMPLETE,
    Outcome.INTERNAL_ERROR,
    Outcome.INVALID,
    Outcome.INCONCLUSIVE,
    Outcome.ABORTED,
    Outcome.DEVIATED,
    Outcome.HELD,
)

_BY_PROBLEM = {
    ProblemKind.INTERNAL: Outcome.INTERNAL_ERROR,
    ProblemKind.INVALID: Outcome.INVALID,
    ProblemKind.NOT_IN_EFFECT: Outcome.INCONCLUSIVE,
    ProblemKind.ABORTED: Outcome.ABORTED,
    ProblemKind.EXPECTATION: Outcome.DEVIATED,
}

_PROBLEM_WORDS = {
    ProblemKind.INTERNAL: "internal error of chaostoolkit-cdn (a bug, please report it)",
    ProblemKind.INVALID: "invalid experiment, nothing was injected",
    ProblemKind.NOT_IN_EFFECT: "a fault was not injected or did not take effect",
    ProblemKind.ABORTED: "aborted",
    ProblemKind.EXPECTATION: "an expectation was not met",
}


def worst(outcomes: Iterable[Outcome]) -> Outcome:
    """The outcome that wins by precedence; ``held`` when there is none."""
    seen = set(outcomes)
    return next(outcome for outcome in PRECEDENCE if outcome in seen or outcome is Outcome.HELD)


class Phase(StrEnum):
    """When readers were measured: the steady state before, the method, the steady state after."""

    BEFORE = "before"
    DURING = "during"
    AFTER = "after"


class CheckKind(StrEnum):
    """What a check of the score is (see the module doc)."""

    STEADY_STATE_BEFORE = "steady-state-before"
    METHOD_PROBE = "method-probe"
    FAULT_VERIFIED = "fault-verified"
    METHOD_ACTION = "method-action"
    RESTORE = "restore"
    STEADY_STATE_DURING = "steady-state-during"
    STEADY_STATE_AFTER = "steady-state-after"


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason for the outcome: what it leads to, in words."""

    outcome: Outcome
    reason: str


@dataclass(frozen=True, slots=True)
class Check:
    """One thing the experiment checks; ``held`` is false when it did not run."""

    kind: CheckKind
    name: str
    held: bool
    ran: bool
    detail: str


@dataclass(frozen=True, slots=True)
class PhaseFigures:
    """What readers saw in one phase; figures are None when no probe of it measured them."""

    phase: Phase
    requests: int
    served: int
    availability: float | None
    p95_ms: float | None
    p99_ms: float | None
    #: Answers by status ("200"), and requests with no answer by cause ("timeout").
    statuses: tuple[tuple[str, int], ...]
    x_cache: tuple[tuple[str, int], ...]
    probes: tuple[str, ...]

    def describe(self) -> str:
        """One line: availability, latency, status and X-Cache mix."""
        if not self.requests:
            return "not measured"
        served = format_availability(self.availability)
        parts = [f"availability {served} of {self.requests} requests"]
        if self.p95_ms is not None:
            parts.append(f"p95 {format_ms(self.p95_ms)}")
        if self.p99_ms is not None:
            parts.append(f"p99 {format_ms(self.p99_ms)}")
        text = ", ".join(parts)
        if self.statuses:
            text += "; status " + _mix(self.statuses)
        if self.x_cache:
            text += "; X-Cache " + _mix(self.x_cache)
        return text


@dataclass(frozen=True, slots=True)
class FaultOutcome:
    """One fault: injected (ledger entry), verified (the action's output), restored."""

    name: str  # the action in the experiment; "" when no action of the journal names it
    description: str  # the ledger's description, else the action's function
    entry: str | None
    injected: bool
    verified: bool
    evidence: str  # what verified it (the action's output), or why it failed
    state: str | None  # open, restored, conflict, irreversible; None when not known
    detail: str  # the restore's sentence
    injected_at: float | None
    restored_at: float | None
    restore_seconds: float | None


@dataclass(frozen=True, slots=True)
class WatchFigures:
    """What the watch probe saw through the faults (``probes.watch.health_timeline``)."""

    probe: str
    samples: int
    availability: float | None
    availability_during_fault: float | None
    faults_seen: bool  # the watch found this run's faults in the ledger
    detected: bool
    time_to_detect_s: float | None
    recovered: bool
    time_to_recover_s: float | None
    stopped_because: str

    def describe(self) -> str:
        """Time to detect and to recover, in words."""
        if not self.faults_seen:
            return "the watch saw no fault of this run (no time to detect or recover)"
        if self.detected and self.time_to_detect_s is not None:
            detect = format_seconds(self.time_to_detect_s)
        else:
            detect = "not detected (the watched pages never failed)"
        if self.recovered and self.time_to_recover_s is not None:
            recover = format_seconds(self.time_to_recover_s)
        else:
            recover = f"did not recover while watched (stopped: {self.stopped_because})"
        return f"time to detect: {detect}; time to recover: {recover}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The verdict on one journal. Build it with :func:`judge`."""

    experiment: str
    target: str
    outcome: Outcome
    findings: tuple[Finding, ...]  # by precedence; the first is the main reason
    notes: tuple[str, ...]  # what the reader should know but does not change the outcome
    phases: tuple[PhaseFigures, ...]  # before, during, after
    faults: tuple[FaultOutcome, ...]
    watch: WatchFigures | None
    checks: tuple[Check, ...]
    score: int
    weight: int  # the experiment's weight in a gate's score, from its contributions
    status: str  # the journal's status, as Chaos Toolkit left it
    run_id: str | None
    started: str
    duration_s: float | None

    @property
    def exit_code(self) -> int:
        """The exit code by the contract."""
        return self.outcome.exit_code

    @property
    def reason(self) -> str:
        """The main reason, in words."""
        return self.findings[0].reason

    @property
    def reasons(self) -> tuple[str, ...]:
        """Every reason, the main one first."""
        return tuple(finding.reason for finding in self.findings)

    @property
    def time_to_detect_s(self) -> float | None:
        """Seconds from the first injection to the first failed sample; None when unknown."""
        return None if self.watch is None else self.watch.time_to_detect_s

    @property
    def time_to_recover_s(self) -> float | None:
        """Seconds from the last restore to a healthy site; None when unknown."""
        return None if self.watch is None else self.watch.time_to_recover_s

    @property
    def checks_held(self) -> int:
        """How many checks held (the score's numerator)."""
        return sum(check.held for check in self.checks)

    def phase(self, phase: Phase | str) -> PhaseFigures:
        """The figures of one phase."""
        return next(figures for figures in self.phases if figures.phase == phase)

    def summary(self) -> str:
        """A few lines for the end of a run's log: outcome, reasons, readers, detection."""
        lines = [
            f"Verdict: {self.outcome} (exit {self.exit_code}), score {self.score}/100 "
            f"({self.checks_held} of {len(self.checks)} checks held)",
            f"  experiment: {self.experiment}",
            f"  target: {self.target}",
        ]
        lines += [f"  - {reason}" for reason in self.reasons[:3]]
        if len(self.findings) > 3:
            lines.append(f"  - and {len(self.findings) - 3} more reason(s)")
        lines.append(f"  during the fault readers saw: {self.phase(Phase.DURING).describe()}")
        if self.watch is not None:
            lines.append(f"  {self.watch.describe()}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: every field, the exit code and reasons, figures as plain mappings."""
        return {
            "experiment": self.experiment,
            "target": self.target,
            "outcome": str(self.outcome),
            "exit_code": self.exit_code,
            "reason": self.reason,
            "findings": [
                {"outcome": str(f.outcome), "exit_code": f.outcome.exit_code, "reason": f.reason}
                for f in self.findings
            ],
            "notes": list(self.notes),
            "score": self.score,
            "weight": self.weight,
            "checks": [_plain(check) for check in self.checks],
            "phases": {str(p.phase): _phase_dict(p) for p in self.phases},
            "faults": [_plain(fault) for fault in self.faults],
            "time_to_detect_s": self.time_to_detect_s,
            "time_to_recover_s": self.time_to_recover_s,
            "watch": None if self.watch is None else _plain(self.watch),
            "status": self.status,
            "run_id": self.run_id,
            "started": self.started,
            "duration_s": self.duration_s,
        }


def overall_score(verdicts: Iterable[Verdict]) -> int | None:
    """The contribution-weighted mean of the scores, rounded down; None without verdicts."""
    pairs = [(verdict.weight, verdict.score) for verdict in verdicts]
    total = sum(weight for weight, _ in pairs)
    if not total:
        return None
    return math.floor(sum(weight * score for weight, score in pairs) / total)


# -- formatting figures ----------------------------------------------------------------------


def format_availability(share: float | None) -> str:
    """0.9712 -> ``97.12%``; None -> ``n/a``."""
    if share is None:
        return "n/a"
    return f"{share * 100:.2f}".rstrip("0").rstrip(".") + "%"


def format_ms(ms: float | None) -> str:
    """412.3 -> ``412 ms``, 1.26 -> ``1.3 ms``; None -> ``n/a``."""
    if ms is None:
        return "n/a"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def format_seconds(seconds: float | None) -> str:
    """0.061 -> ``0.06 s``; None -> ``n/a``."""
    if seconds is None:
        return "n/a"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def _mix(counts: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{label} x{count}" for label, count in counts)


# -- reading a journal -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Run:
    """One activity as the journal recorded it."""

    name: str
    type: str
    module: str
    func: str
    status: str
    output: Any
    message: str
    tolerance: Any
    tolerance_met: bool | None
    start: float | None
    end: float | None

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def is_restore(self) -> bool:
        return self.module == _RESTORE_MODULE

    @property
    def function(self) -> str:
        return f"{self.module}.{self.func}" if self.module else self.func


def _run(raw: Any) -> _Run:
    run = _mapping(raw)
    activity = _mapping(run.get("activity"))
    provider = _mapping(activity.get("provider"))
    met = run.get("tolerance_met")
    return _Run(
        name=_text(activity.get("name")) or "(unnamed activity)",
        type=_text(activity.get("type")),
        module=_text(provider.get("module")),
        func=_text(provider.get("func")) or _text(provider.get("path")),
        status=_text(run.get("status")),
        output=run.get("output"),
        message=_exception_message(run.get("exception")),
        tolerance=activity.get("tolerance"),
        tolerance_met=met if isinstance(met, bool) else None,
        start=_epoch(run.get("start")),
        end=_epoch(run.get("end")),
    )


def _exception_message(exception: Any) -> str:
    """The last entry of the journal's exception list, without chaoslib's prefixes."""
    lines = [line for line in _list(exception) if isinstance(line, str) and line.strip()]
    if not lines:
        return ""
    message = lines[-1].strip()
    while message.startswith(_ACTIVITY_FAILED):
        message = message.removeprefix(_ACTIVITY_FAILED)
    return message


@dataclass(frozen=True, slots=True)
class _SteadyState:
    """One run of the steady-state hypothesis: None when it did not run."""

    met: bool | None
    probes: tuple[_Run, ...]


def _steady_state(raw: Any) -> _SteadyState | None:
    if not isinstance(raw, Mapping):
        return None
    met = raw.get("steady_state_met")
    probes = tuple(_run(p) for p in _list(raw.get("probes")))
    return _SteadyState(met if isinstance(met, bool) else None, probes)


@dataclass(frozen=True, slots=True)
class _Journal:
    """The parts of a journal the verdict reads, each of the expected type."""

    experiment: Mapping[str, Any]
    status: str
    deviated: bool
    before: _SteadyState | None
    during: tuple[_SteadyState, ...]
    after: _SteadyState | None
    method: tuple[_Run, ...]
    rollbacks: tuple[_Run, ...]
    section: Mapping[str, Any] | None

    @property
    def problems(self) -> list[Mapping[str, Any]]:
        section = self.section or {}
        return [p for p in _list(section.get("problems")) if isinstance(p, Mapping)]

    @property
    def section_faults(self) -> list[Mapping[str, Any]]:
        section = self.section or {}
        return [f for f in _list(section.get("faults")) if isinstance(f, Mapping)]

    @property
    def restore_complete(self) -> bool | None:
        """From our section: None without it."""
        if self.section is None:
            return None
        complete = self.section.get("restore_complete") is not False
        open_faults = any(_text(f.get("state")) in _UNRESTORED_STATES for f in self.section_faults)
        return complete and not open_faults


def _read(journal: Mapping[str, Any]) -> _Journal:
    if isinstance(journal, Mapping) and "method" in journal and "experiment" not in journal:
        raise ConfigurationError(
            "This is an experiment, not a journal. Run it with `chaos run` and give the "
            "journal.json it writes."
        )
    if not isinstance(journal, Mapping) or not isinstance(journal.get("experiment"), Mapping):
        raise ConfigurationError(
            "This is not a Chaos Toolkit journal: expected a JSON object with an "
            "'experiment' object (and 'status', 'steady_states', 'run'), as `chaos run` "
            "writes to journal.json."
        )
    if not any(key in journal for key in ("status", "steady_states", "run")):
        raise ConfigurationError(
            "This is not a Chaos Toolkit journal: it has an 'experiment' but no 'status', "
            "'steady_states' or 'run'. Give the journal.json that `chaos run` wrote."
        )
    states = _mapping(journal.get("steady_states"))
    section = journal.get(SECTION)
    return _Journal(
        experiment=journal["experiment"],
        status=_text(journal.get("status")),
        deviated=journal.get("deviated") is True,
        before=_steady_state(states.get("before")),
        during=tuple(s for s in map(_steady_state, _list(states.get("during"))) if s),
        after=_steady_state(states.get("after")),
        method=tuple(_run(r) for r in _list(journal.get("run"))),
        rollbacks=tuple(_run(r) for r in _list(journal.get("rollbacks"))),
        section=section if isinstance(section, Mapping) else None,
    )


# -- why a steady-state probe did not hold -------------------------------------------------

#: The bounds of probes.tolerances.service_levels_met: the key read, its words, unit, sense.
_BOUNDS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("min_availability", "availability", "availability", "%", True),
    ("max_p50_ms", "p50_ms", "p50", "ms", False),
    ("max_p95_ms", "p95_ms", "p95", "ms", False),
    ("max_p99_ms", "p99_ms", "p99", "ms", False),
    ("min_hit_ratio", "hit_ratio", "hit ratio", "", True),
    ("max_time_to_detect_s", "time_to_detect_s", "time to detect", "s", False),
    ("max_time_to_recover_s", "time_to_recover_s", "time to recover", "s", False),
)


def _figure(output: Mapping[str, Any], key: str) -> float | None:
    found = _number(output.get(key))
    if found is None and key.endswith("_ms"):
        found = _number(_mapping(output.get("latency_ms")).get(key.removesuffix("_ms")))
    return found


def _unit(value: float, unit: str) -> str:
    if unit == "%":
        return format_availability(value)
    if unit == "ms":
        return format_ms(value)
    if unit == "s":
        return format_seconds(value)
    return f"{value:g}"


def _service_level_breaches(output: Mapping[str, Any], arguments: Mapping[str, Any]) -> list[str]:
    breaches = []
    for argument, key, words, unit, at_least in _BOUNDS:
        bound = _number(arguments.get(argument))
        if bound is None:
            continue
        seen = _figure(output, key)
        if seen is None:
            if key != "time_to_detect_s":
                breaches.append(f"no {words} measured (bound {_unit(bound, unit)})")
        elif (seen < bound) if at_least else (seen > bound):
            sign = "<" if at_least else ">"
            breaches.append(f"{words} {_unit(seen, unit)} {sign} {_unit(bound, unit)}")
    return breaches


def _range_breach(output: Any, tolerance: Mapping[str, Any]) -> list[str]:
    target = _text(tolerance.get("target"))
    bounds = [_number(b) for b in _list(tolerance.get("range"))]
    seen = _figure(output, target) if isinstance(output, Mapping) and target else _number(output)
    if len(bounds) != 2 or None in bounds or seen is None:
        return []
    low, high = (bound or 0.0 for bound in bounds)
    unit = "%" if target == "availability" else ("ms" if target.endswith("_ms") else "")
    words = target.removesuffix("_ms") or "value"
    return [f"{words} {_unit(seen, unit)} outside [{_unit(low, unit)}, {_unit(high, unit)}]"]


def _tolerance_breaches(run: _Run) -> list[str]:
    tolerance = _mapping(run.tolerance)
    output = _mapping(run.output)
    breaches: list[str] = []
    if tolerance.get("type") == "range":
        breaches = _range_breach(run.output, tolerance)
    elif tolerance.get("type") == "probe":
        provider = _mapping(tolerance.get("provider"))
        if _text(provider.get("func")) == "service_levels_met":
            breaches = _service_level_breaches(output, _mapping(provider.get("arguments")))
    if not breaches:
        breaches = [f for f in _list(output.get("failures")) if isinstance(f, str)]
    return breaches


def _why_not_held(run: _Run) -> str:
    """Why a steady-state probe did not hold: its figures against its bounds, or its error."""
    if run.failed:
        return f"{run.name} failed: {run.message or 'no message'}"
    breaches = _tolerance_breaches(run)
    if not breaches:
        return f"{run.name} was not within its tolerance ({_short(run.tolerance)})"
    paths = [p for p in _list(_mapping(run.output).get("paths")) if isinstance(p, str)]
    where = f" on {', '.join(paths)}" if paths else ""
    return f"{'; '.join(breaches)}{where} (probe {run.name})"


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- findings ------------------------------------------------------------------------------


def _explains(problem: Mapping[str, Any], run: _Run) -> bool:
    """True when ``problem`` is what made ``run`` fail: same function, or same sentence."""
    if not run.failed:
        return False
    message = _text(problem.get("message")).strip()
    activity = _text(problem.get("activity"))
    # The journal may show the sentence after a label ("FaultNotInEffect: <sentence>").
    same_message = bool(message) and (run.message == message or run.message.endswith(message))
    same_function = bool(activity) and activity in {run.func, run.function}
    return same_message or same_function


def _explained(run: _Run, journal: _Journal) -> bool:
    """True when a problem other than an expectation accounts for this failed activity.

    Such a failure counts once, by the problem's kind. An expectation's failure counts by
    where it happened instead (before any fault, during the method, after), which says more.
    """
    return any(_explains(p, run) for p in journal.problems if not _is_expectation(p))


def _is_expectation(problem: Mapping[str, Any]) -> bool:
    return _text(problem.get("kind")) == ProblemKind.EXPECTATION


def _failed_runs(journal: _Journal) -> Iterator[_Run]:
    states = [journal.before, *journal.during, journal.after]
    for state in states:
        yield from (run for run in state.probes if run.failed) if state else ()
    yield from (run for run in journal.method if run.failed)


def _restore_findings(journal: _Journal) -> Iterator[Finding]:
    for fault in journal.section_faults:
        if _text(fault.get("state")) in _UNRESTORED_STATES:
            yield Finding(
                Outcome.RESTORE_INCOMPLETE,
                f"restore incomplete: {_text(fault.get('fault')) or 'a fault'} is "
                f"{_text(fault.get('state'))}: {_text(fault.get('detail')) or 'no detail'}; "
                "the site may still be degraded, run `chaos rollback` once the cause is fixed",
            )
    if journal.restore_complete is False and not any(
        _text(f.get("state")) in _UNRESTORED_STATES for f in journal.section_faults
    ):
        yield Finding(
            Outcome.RESTORE_INCOMPLETE,
            "restore incomplete: the run could not restore every fault; the site may still "
            "be degraded, run `chaos rollback` once the cause is fixed",
        )
    if journal.section is None:
        for run in journal.rollbacks:
            if run.failed:
                yield Finding(
                    Outcome.RESTORE_INCOMPLETE,
                    f"restore incomplete: the rollback {run.name} failed: {run.message}",
                )


def _problem_findings(journal: _Journal) -> Iterator[Finding]:
    failed = list(_failed_runs(journal))
    for problem in journal.problems:
        kind = _text(problem.get("kind"))
        if _is_expectation(problem) and any(_explains(problem, run) for run in failed):
            continue  # said where it happened, by the steady state or the method
        try:
            known = ProblemKind(kind)
        except ValueError:
            outcome, words = Outcome.INTERNAL_ERROR, f"unknown problem kind {kind!r}"
        else:
            outcome, words = _BY_PROBLEM[known], _PROBLEM_WORDS[known]
        where = _text(problem.get("activity")) or "an activity"
        yield Finding(outcome, f"{words}: {where}: {_text(problem.get('message'))}")


_STEADY_STATE_WORDS = {
    Phase.BEFORE: "the steady state failed before any fault",
    Phase.DURING: "the steady state deviated during the method",
    Phase.AFTER: "the steady state deviated after the method",
}


def _steady_state_finding(
    phase: Phase, state: _SteadyState | None, journal: _Journal
) -> Finding | None:
    if state is None or state.met is not False:
        return None
    missed = [p for p in state.probes if p.tolerance_met is False or p.failed]
    if missed and all(_explained(p, journal) for p in missed):
        return None  # one of our problems says why, with its own outcome
    why = "; ".join(_why_not_held(p) for p in missed) or "a probe was not within tolerance"
    return Finding(Outcome.DEVIATED, f"{_STEADY_STATE_WORDS[phase]}: {why}")


def _steady_state_findings(journal: _Journal) -> Iterator[Finding]:
    candidates = [
        (Phase.BEFORE, journal.before),
        *((Phase.DURING, state) for state in journal.during),
        (Phase.AFTER, journal.after),
    ]
    found = [_steady_state_finding(phase, state, journal) for phase, state in candidates]
    yield from (finding for finding in found if finding is not None)
    after_explained = journal.after is not None and journal.after.met is False
    if journal.deviated and not any(found) and not after_explained:
        yield Finding(Outcome.DEVIATED, "the journal says the steady state deviated")


def _method_findings(journal: _Journal) -> Iterator[Finding]:
    for run in journal.method:
        if not run.failed or _explained(run, journal):
            continue
        if run.type == "action":
            yield Finding(
                Outcome.INCONCLUSIVE,
                f"a fault could not be injected or did not take effect: {run.name}: "
                f"{run.message or 'no message'}",
            )
        else:
            yield Finding(
                Outcome.DEVIATED,
                f"an expectation was not met during the method: {run.name}: "
                f"{run.message or 'no message'}",
            )


def _status_findings(journal: _Journal) -> Iterator[Finding]:
    if journal.status not in ("interrupted", "aborted") or journal.restore_complete is False:
        return
    if any(_text(p.get("kind")) == ProblemKind.ABORTED for p in journal.problems):
        return  # the problem says who aborted the run and why
    how = {
        "interrupted": "the run was interrupted (a signal, a control or a refused start)",
        "aborted": "the run was aborted by an unexpected error in Chaos Toolkit's run loop",
    }[journal.status]
    if journal.restore_complete is None:
        restored = "whether its faults were restored is not known (no chaostoolkit-cdn section)"
    elif journal.section_faults:
        restored = "every fault was restored"
    else:
        restored = "nothing was injected"
    yield Finding(Outcome.ABORTED, f"{how}; {restored}")


def _findings(journal: _Journal) -> tuple[Finding, ...]:
    found = [
        *_restore_findings(journal),
        *_problem_findings(journal),
        *_steady_state_findings(journal),
        *_method_findings(journal),
        *_status_findings(journal),
    ]
    if not found:
        restored = "; every fault was verified and restored" if journal.section is not None else ""
        found.append(
            Finding(Outcome.HELD, f"the steady state held before and after the method{restored}")
        )
    return tuple(sorted(found, key=lambda f: PRECEDENCE.index(f.outcome)))


def _notes(journal: _Journal) -> tuple[str, ...]:
    notes = []
    if journal.section is None:
        notes.append(
            "the journal has no chaostoolkit-cdn section: judged from Chaos Toolkit's fields "
            "only; the target and the restore of faults are not known"
        )
    elif changed := _text(journal.section.get("status_changed")):
        notes.append(f"the journal's status was changed: {changed}")
    hypothesis = _mapping(journal.experiment.get("steady-state-hypothesis"))
    if _list(hypothesis.get("probes")) and journal.before is None and journal.method:
        notes.append("the steady state was not checked before the method")
    return tuple(notes)


# -- checks and the score -------------------------------------------------------------------


def _declared(experiment: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    if key == "steady-state-hypothesis":
        hypothesis = _mapping(experiment.get(key))
        return [a for a in _list(hypothesis.get("probes")) if isinstance(a, Mapping)]
    return [a for a in _list(experiment.get(key)) if isinstance(a, Mapping)]


def _matched(declared: Mapping[str, Any], runs: Sequence[_Run], used: set[int]) -> _Run | None:
    """The first run of ``declared`` not matched yet (names may repeat in a method)."""
    for index, run in enumerate(runs):
        if index not in used and run.name == declared.get("name"):
            used.add(index)
            return run
    return None


def _steady_state_checks(
    kind: CheckKind, experiment: Mapping[str, Any], state: _SteadyState | None
) -> list[Check]:
    checks, used = [], set[int]()
    for declared in _declared(experiment, "steady-state-hypothesis"):
        name = _text(declared.get("name"))
        run = _matched(declared, state.probes, used) if state is not None else None
        if run is None:
            checks.append(Check(kind, name, held=False, ran=False, detail="not run"))
        elif run.tolerance_met is False or run.failed:
            checks.append(Check(kind, name, held=False, ran=True, detail=_why_not_held(run)))
        else:
            checks.append(Check(kind, name, held=True, ran=True, detail="within tolerance"))
    return checks


def _method_checks(journal: _Journal) -> list[Check]:
    checks, used = [], set[int]()
    for declared in _declared(journal.experiment, "method"):
        provider = _mapping(declared.get("provider"))
        if declared.get("type") == "action" and provider.get("module") == _RESTORE_MODULE:
            continue
        kind = _method_check_kind(declared, provider, journal.section is not None)
        name = _text(declared.get("name"))
        run = _matched(declared, journal.method, used)
        if run is None:
            checks.append(Check(kind, name, held=False, ran=False, detail="not run"))
        elif run.failed:
            checks.append(Check(kind, name, held=False, ran=True, detail=run.message))
        else:
            done = "injected and verified" if kind is CheckKind.FAULT_VERIFIED else "succeeded"
            checks.append(Check(kind, name, held=True, ran=True, detail=done))
    return checks


def _method_check_kind(
    declared: Mapping[str, Any], provider: Mapping[str, Any], ours: bool
) -> CheckKind:
    """Our faults verify their effect; in our runs, any other action only says that it ran.

    In a journal without our section (plain Chaos Toolkit), every action is taken for a
    fault: it is what the method injects, and its success is all the journal says.
    """
    if declared.get("type") != "action":
        return CheckKind.METHOD_PROBE
    if not ours or str(provider.get("module", "")).startswith(_FAULTS_PACKAGE):
        return CheckKind.FAULT_VERIFIED
    return CheckKind.METHOD_ACTION


def _restore_check(journal: _Journal) -> list[Check]:
    name = "every fault restored"
    if journal.restore_complete is not None:
        held = journal.restore_complete
        faults = len(journal.section_faults)
        detail = f"{faults} fault(s), restore complete" if held else "restore incomplete"
        return [Check(CheckKind.RESTORE, name, held=held, ran=True, detail=detail)]
    if not _declared(journal.experiment, "rollbacks"):
        return []
    ran = bool(journal.rollbacks)
    held = ran and not any(run.failed for run in journal.rollbacks)
    detail = "rollbacks succeeded" if held else ("a rollback failed" if ran else "not run")
    return [Check(CheckKind.RESTORE, "rollbacks", held=held, ran=ran, detail=detail)]


def _during_check(journal: _Journal) -> list[Check]:
    if not journal.during:
        return []
    missed = [state for state in journal.during if state.met is False]
    detail = f"{len(journal.during) - len(missed)} of {len(journal.during)} runs met"
    held = not missed
    return [Check(CheckKind.STEADY_STATE_DURING, "steady state", held, ran=True, detail=detail)]


def _checks(journal: _Journal) -> tuple[Check, ...]:
    return (
        *_steady_state_checks(CheckKind.STEADY_STATE_BEFORE, journal.experiment, journal.before),
        *_method_checks(journal),
        *_during_check(journal),
        *_restore_check(journal),
        *_steady_state_checks(CheckKind.STEADY_STATE_AFTER, journal.experiment, journal.after),
    )


def _score(checks: Sequence[Check], outcome: Outcome) -> int:
    if not checks:
        return 100 if outcome is Outcome.HELD else 0
    return math.floor(100 * sum(check.held for check in checks) / len(checks))


def _weight(experiment: Mapping[str, Any]) -> int:
    contributions = _mapping(experiment.get("contributions")).values()
    levels = [_CONTRIBUTION_WEIGHTS.get(_text(level).lower(), 1) for level in contributions]
    return max(levels, default=1)


# -- figures per phase ----------------------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    requests: int = 0
    served: int = 0
    p95: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    x_cache: Counter[str] = field(default_factory=Counter)
    probes: list[str] = field(default_factory=list)

    def add(self, run: _Run) -> None:
        output = run.output
        if not isinstance(output, Mapping):
            return
        if _load_shaped(output):
            self._add_load(output)
        elif _pages_shaped(output):
            self._add_pages(output)
        else:
            return
        self.probes.append(run.name)

    def _add_load(self, output: Mapping[str, Any]) -> None:
        self.requests += int(_number(output.get("total")) or 0)
        self.served += int(_number(output.get("successes")) or 0)
        for target, key in ((self.p95, "p95_ms"), (self.p99, "p99_ms")):
            if (value := _figure(output, key)) is not None:
                target.append(value)
        _count(self.statuses, output.get("status_counts"))
        _count(self.statuses, output.get("errors"))
        _count(self.x_cache, output.get("x_cache"), _cache_label)

    def _add_pages(self, output: Mapping[str, Any]) -> None:
        for page in output.values():
            status = _number(page.get("status"))
            self.requests += 1
            self.served += status is not None and 200 <= status < 400
            label = str(int(status)) if status is not None else _no_answer(page.get("error"))
            self.statuses[label] += 1
            if isinstance(page.get("x_cache"), str):
                self.x_cache[_cache_label(page["x_cache"])] += 1

    def figures(self, phase: Phase) -> PhaseFigures:
        return PhaseFigures(
            phase=phase,
            requests=self.requests,
            served=self.served,
            availability=self.served / self.requests if self.requests else None,
            p95_ms=max(self.p95, default=None),
            p99_ms=max(self.p99, default=None),
            statuses=tuple(self.statuses.most_common()),
            x_cache=tuple(self.x_cache.most_common()),
            probes=tuple(self.probes),
        )


def _load_shaped(output: Mapping[str, Any]) -> bool:
    return (
        _number(output.get("total")) is not None
        and _number(output.get("successes")) is not None
        and isinstance(output.get("status_counts"), Mapping)
    )


def _pages_shaped(output: Mapping[str, Any]) -> bool:
    return bool(output) and all(
        isinstance(page, Mapping) and "status" in page and "x_cache" in page
        for page in output.values()
    )


def _count(counter: Counter[str], counts: Any, label: Callable[[str], str] = str) -> None:
    for name, count in _mapping(counts).items():
        if number := _number(count):
            counter[label(str(name))] += int(number)


def _cache_label(label: str) -> str:
    """``Hit from cloudfront`` -> ``Hit``."""
    head, sep, tail = label.rpartition(" from ")
    return head if sep and tail.lower() == "cloudfront" else label


def _no_answer(error: Any) -> str:
    text = _text(error)
    return text.split(":", 1)[0] if text else "no answer"


def _fault_window(journal: _Journal) -> tuple[float | None, float | None]:
    """When faults were in effect: from the first injection to the last restore known."""
    injected = [_number(f.get("injected_at")) for f in journal.section_faults]
    closed = [_number(f.get("closed_at")) for f in journal.section_faults]
    starts = [t for t in injected if t is not None]
    if starts:
        ends = [t for t in closed if t is not None]
        end = max(ends) if ends and len(ends) == len(closed) else None
        if end is None:
            end = _watch_restored_at(journal)
        return min(starts), end
    first_action = next((r.start for r in journal.method if r.type == "action"), None)
    return first_action, None


def _watch_restored_at(journal: _Journal) -> float | None:
    for run in journal.method:
        if _watch_shaped(run.output):
            return _number(_mapping(run.output.get("faults")).get("restored_at"))
    return None


def _overlaps(run: _Run, start: float | None, end: float | None) -> bool:
    if start is None or run.start is None or run.end is None:
        return True
    return run.end >= start and (end is None or run.start <= end)


def _phases(journal: _Journal) -> tuple[PhaseFigures, ...]:
    before, during, after = _Tally(), _Tally(), _Tally()
    for run in journal.before.probes if journal.before else ():
        before.add(run)
    for run in journal.after.probes if journal.after else ():
        after.add(run)
    start, end = _fault_window(journal)
    in_method = [r for r in journal.method if r.type == "probe"]
    in_method += [p for state in journal.during for p in state.probes]
    for run in in_method:
        if _overlaps(run, start, end):
            during.add(run)
    return (before.figures(Phase.BEFORE), during.figures(Phase.DURING), after.figures(Phase.AFTER))


# -- the watch and the faults --------------------------------------------------------------


def _watch_shaped(output: Any) -> bool:
    return isinstance(output, Mapping) and "time_to_detect_s" in output and "segments" in output


def _watch(journal: _Journal) -> WatchFigures | None:
    watches = [run for run in journal.method if _watch_shaped(run.output)]
    if not watches:
        return None
    # The watch that saw this run's faults, else the first one.
    run = next((r for r in watches if _mapping(r.output).get("faults")), watches[0])
    output = _mapping(run.output)
    return WatchFigures(
        probe=run.name,
        samples=int(_number(output.get("samples")) or 0),
        availability=_number(output.get("availability")),
        availability_during_fault=_number(output.get("availability_during_fault")),
        faults_seen=isinstance(output.get("faults"), Mapping),
        detected=output.get("detected") is True,
        time_to_detect_s=_number(output.get("time_to_detect_s")),
        recovered=output.get("recovered") is True,
        time_to_recover_s=_number(output.get("time_to_recover_s")),
        stopped_because=_text(output.get("stopped_because")) or "unknown",
    )


_EVIDENCE_LEFT_OUT = frozenset({"fault", "ledger_entry"})


def _evidence(output: Any) -> str:
    """The action's output as ``key=value`` pairs (scalars; others shortened)."""
    if not isinstance(output, Mapping):
        return "" if output is None else _short(output)
    pairs = []
    for key, value in output.items():
        if key in _EVIDENCE_LEFT_OUT:
            continue
        shown = value if isinstance(value, str | int | float | bool) else _short(value, 60)
        pairs.append(f"{key}={shown}")
    return ", ".join(pairs)


def _restore_seconds(journal: _Journal) -> dict[str, float]:
    seconds: dict[str, float] = {}
    section = journal.section or {}
    records = list(_list(section.get("restored_at_end")))
    for run in (*journal.method, *journal.rollbacks):
        records += _list(_mapping(run.output).get("restored"))
    for record in map(_mapping, records):
        entry, took = _text(record.get("entry")), _number(record.get("seconds"))
        if entry and took is not None:
            seconds.setdefault(entry, took)
    return seconds


def _fault_actions(journal: _Journal) -> list[_Run]:
    return [r for r in journal.method if r.type == "action" and not r.is_restore]


def _faults(journal: _Journal) -> tuple[FaultOutcome, ...]:
    """The ledger's faults, each with the action that injected it; then actions left over."""
    actions = _fault_actions(journal)
    if journal.section is None:
        return tuple(map(_fault_from_action, actions))
    seconds = _restore_seconds(journal)
    by_entry = {_text(_mapping(a.output).get("ledger_entry")): a for a in actions if not a.failed}
    by_entry.pop("", None)
    matched = {id(action) for action in by_entry.values()}
    rest = [action for action in actions if id(action) not in matched]
    faults = []
    for record in journal.section_faults:
        entry = _text(record.get("entry"))
        # An action that failed after its undo record was written has no output to name
        # its entry: the ledger's unmatched records go with the unmatched actions, in order.
        action = by_entry.pop(entry, None) or (rest.pop(0) if rest else None)
        faults.append(_fault_from_ledger(record, action, seconds.get(entry)))
    return (*faults, *map(_fault_from_action, rest))


def _fault_from_ledger(
    record: Mapping[str, Any], action: _Run | None, restore_seconds: float | None
) -> FaultOutcome:
    verified = action is not None and not action.failed
    if action is None:
        evidence = "no action of the journal reports this ledger entry"
    else:
        evidence = _evidence(action.output) if verified else action.message
    return FaultOutcome(
        name=action.name if action is not None else "",
        description=_text(record.get("fault")) or _text(record.get("kind")),
        entry=_text(record.get("entry")) or None,
        injected=True,
        verified=verified,
        evidence=evidence,
        state=_text(record.get("state")) or None,
        detail=_text(record.get("detail")),
        injected_at=_number(record.get("injected_at")),
        restored_at=_number(record.get("closed_at")),
        restore_seconds=restore_seconds,
    )


def _fault_from_action(action: _Run) -> FaultOutcome:
    output = _mapping(action.output)
    return FaultOutcome(
        name=action.name,
        description=_text(output.get("fault")) or action.function,
        entry=_text(output.get("ledger_entry")) or None,
        injected=not action.failed,
        verified=not action.failed,
        evidence=action.message if action.failed else _evidence(action.output),
        state=None,
        detail="",
        injected_at=action.start,
        restored_at=None,
        restore_seconds=None,
    )


# -- the verdict -----------------------------------------------------------------------------


def judge(journal: Mapping[str, Any]) -> Verdict:
    """The verdict on one Chaos Toolkit journal (see the module doc for the rules).

    Raises ConfigurationError when ``journal`` is not a journal (no ``experiment`` object,
    or an experiment file rather than a journal).
    """
    read = _read(journal)
    findings = _findings(read)
    outcome = findings[0].outcome
    checks = _checks(read)
    section = read.section or {}
    return Verdict(
        experiment=_text(read.experiment.get("title")) or "(untitled experiment)",
        target=_text(section.get("target")) or UNKNOWN_TARGET,
        outcome=outcome,
        findings=findings,
        notes=_notes(read),
        phases=_phases(read),
        faults=_faults(read),
        watch=_watch(read),
        checks=checks,
        score=_score(checks, outcome),
        weight=_weight(read.experiment),
        status=read.status or "unknown",
        run_id=_text(section.get("run_id")) or None,
        started=_text(journal.get("start")),
        duration_s=_number(journal.get("duration")),
    )


# -- to_dict helpers -----------------------------------------------------------------------


def _plain(record: Check | FaultOutcome | WatchFigures) -> dict[str, Any]:
    fields = asdict(record)
    return {key: str(v) if isinstance(v, StrEnum) else v for key, v in fields.items()}


def _phase_dict(phase: PhaseFigures) -> dict[str, Any]:
    return {
        "requests": phase.requests,
        "served": phase.served,
        "availability": phase.availability,
        "p95_ms": phase.p95_ms,
        "p99_ms": phase.p99_ms,
        "statuses": dict(phase.statuses),
        "x_cache": dict(phase.x_cache),
        "probes": list(phase.probes),
    }
