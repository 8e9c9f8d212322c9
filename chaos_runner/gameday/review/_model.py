"""What a review holds: the run, its events and samples, each experiment, the findings."""

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos_runner._errors import ConfigurationError
from chaos_runner.report.journal import Mark
from chaos_runner.values import number as _number
from chaos_runner.values import text as _text
from chaos_runner.verdict import (
    Outcome,
    Verdict,
)

#: A detection slower than this (seconds from the fault) gets a question.
SLOW_DETECTION_S = 30.0
#: A recovery slower than this (seconds from the restore) gets a question.
SLOW_RECOVERY_S = 10.0

RUN_FILE = "run.json"
TIMELINE_FILE = "timeline.jsonl"
PLAN_FILE = "plan.yaml"
REPORT_FILE = "report.json"
JOURNAL_FILE = "journal.json"
LOG_FILE = "chaos.log"
#: Events that carry figures, drawn in the charts rather than listed as rows.
SAMPLE = "sample"
NOTE = "note"
MARK_EVENTS = frozenset({"deviation", "detected", "recovered"})


#: "halted by alice on 2026-11-30 10:00:00": the halt switch names who engaged it (for the
#: machine's operators); a blameless review says that runs were halted, not by whom.
_HALTED_BY = re.compile(
    r"\bhalted by [^:;,()]+?(?: on \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})?(?=[:;,()]|$)"
)


def blameless(text: str) -> str:
    """``text`` without a person named as the one who stopped something."""
    return _HALTED_BY.sub("halted", text)


class ReviewError(ConfigurationError):
    """The directory is not a game day's run, or its run.json or timeline cannot be read."""


# -- what a review holds ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One event of the timeline as written (docs/gameday.md), samples aside."""

    at: float
    kind: str
    text: str
    experiment: str | None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sample:
    """What the game day's own observer saw over one window."""

    at: float
    availability: float | None  # 0..1; None: no request answered in the window
    p95_ms: float | None
    requests: int


@dataclass(frozen=True, slots=True)
class FaultSpan:
    """A fault in effect during the game day, from injection to restore (epoch seconds)."""

    label: str
    experiment: str | None
    start: float
    end: float | None  # None: no restore known
    state: str  # restored, irreversible, open, conflict, unknown


@dataclass(frozen=True, slots=True)
class Surprise:
    """Something the review points at: a deviation, a note, an abort, a missing file..."""

    kind: str  # deviation, inconclusive, restore, aborted, skipped, missing, note, unreadable...
    experiment: str | None
    text: str
    at: float | None = None  # when it happened (events), epoch seconds


@dataclass(frozen=True, slots=True)
class ExperimentReview:
    """One experiment of the plan: its verdict from its journal, or why there is none."""

    index: int
    name: str
    path: str
    directory: Path | None
    hypothesis: str  # the title of its steady-state hypothesis; "" when unknown
    verdict: Verdict | None
    missing: str  # why there is no verdict; "" when judged
    stored: Mapping[str, Any]  # what run.json (and report.json) stored for it
    started: float | None
    ended: float | None

    @property
    def journal(self) -> Path | None:
        """Where its journal is (or would be)."""
        return None if self.directory is None else self.directory / JOURNAL_FILE

    @property
    def outcome_words(self) -> str:
        """``held (exit 0)``, or what run.json stored, said as such."""
        if self.verdict is not None:
            return f"{self.verdict.outcome} (exit {self.verdict.exit_code})"
        outcome, code = _text(self.stored.get("outcome")), _number(self.stored.get("exit_code"))
        if not outcome:
            return "not judged"
        return f"{outcome}" + ("" if code is None else f" (exit {int(code)})") + ", as stored"


@dataclass(frozen=True, slots=True)
class Review:
    """A game day's learning review. Build it with :func:`build_review`."""

    run_dir: Path
    title: str
    plan: str
    description: str
    hypothesis: str
    target: str
    site_url: str
    runbook: str
    roles: tuple[tuple[str, str], ...]
    zone: dt.tzinfo
    zone_name: str
    started: float
    ended: float | None
    outcome: Outcome | None
    exit_code: int | None
    experiments: tuple[ExperimentReview, ...]
    events: tuple[Event, ...]  # every event of the timeline but the samples, by time
    samples: tuple[Sample, ...]
    faults: tuple[FaultSpan, ...]
    marks: tuple[Mark, ...]  # seconds since the game day started
    max_p95_ms: float | None  # the plan's safeguard, drawn in the latency chart
    surprises: tuple[Surprise, ...]
    questions: tuple[str, ...]
    skipped_lines: int

    @property
    def outcome_words(self) -> str:
        """``deviated (exit 1)``; or that the game day did not record one."""
        if self.outcome is None:
            return "outcome unknown (the game day did not record its end)"
        code = self.outcome.exit_code if self.exit_code is None else self.exit_code
        return f"{self.outcome} (exit {code})"

    @property
    def headline(self) -> str:
        """The first line of the review."""
        return f"Learning review: {self.title} — {self.outcome_words}"

    @property
    def duration_s(self) -> float | None:
        """Seconds from the game day's start to its end (None when no end is known)."""
        return None if self.ended is None else max(self.ended - self.started, 0.0)

    def clock(self, at: float) -> str:
        """``11:00:05``: the time of day in the plan's time zone."""
        return dt.datetime.fromtimestamp(at, self.zone).strftime("%H:%M:%S")

    def since(self, at: float) -> str:
        """``+1:05``: minutes and seconds since the game day started."""
        seconds = max(at - self.started, 0.0)
        minutes, rest = divmod(round(seconds), 60)
        return f"+{minutes}:{rest:02d}"

    @property
    def zone_abbreviation(self) -> str:
        """``CET``: the zone's name at the start of the game day."""
        return dt.datetime.fromtimestamp(self.started, self.zone).strftime("%Z") or "UTC"

    @property
    def when(self) -> str:
        """``Mon 30 Nov 2026, 11:00:00-11:04:12 CET (Europe/Berlin)``."""
        start = dt.datetime.fromtimestamp(self.started, self.zone)
        text = start.strftime("%a %d %b %Y, %H:%M:%S")
        if self.ended is not None:
            end = dt.datetime.fromtimestamp(self.ended, self.zone)
            text += "-" + end.strftime(
                "%H:%M:%S" if end.date() == start.date() else "%a %d %b %Y, %H:%M:%S"
            )
        return f"{text} {self.zone_abbreviation} ({self.zone_name})"
