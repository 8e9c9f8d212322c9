"""The run this process executes, and what it leaves in the journal.

Two things live here:

- :class:`JournalSection` and its parts: the ``chaostoolkit-cdn`` section the safety
  control writes into every Chaos Toolkit journal of our experiments. It is the contract
  the verdict (``chaos_runner.verdict``) reads; a journal without it is judged from Chaos
  Toolkit's own fields only.
- :class:`RunContext`: the state of one run (its id, target, lock, the problems our
  activities met, the method-over signal, the environment the sandbox control set),
  created by the first of our controls before the experiment and gone after cleanup.
  Global state, kept in this one labelled place: one run per process at a time
  (``current()``).
"""

import os
import signal
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal, NotRequired, Protocol, TypedDict

from chaos_runner import timeline
from chaos_runner.target import Target

__all__ = [
    "SECTION",
    "FaultRecord",
    "JournalSection",
    "Problem",
    "ProblemKind",
    "Releasable",
    "RestoreRecord",
    "RunContext",
    "current",
    "current_run_id",
    "finish",
    "start",
]

#: The key of our section in a Chaos Toolkit journal.
SECTION = "chaostoolkit-cdn"


class ProblemKind(StrEnum):
    """What went wrong in one of our activities, by the exit code it leads to."""

    INVALID = "invalid"  # bad arguments or configuration; nothing was injected (exit 2)
    NOT_IN_EFFECT = "not-in-effect"  # a fault failed or was not verified (exit 3)
    INTERNAL = "internal"  # a bug of ours: an unexpected exception (exit 70)
    EXPECTATION = "expectation"  # an expect_* probe saw the site not as expected (exit 1)
    ABORTED = "aborted"  # a safeguard, the halt switch or a refused start (exit 5)


class Problem(TypedDict):
    """One problem met by one of our activities or controls during the run."""

    kind: str  # a ProblemKind value
    activity: str  # the Python function (or control) that met it
    message: str  # its sentence, as the journal's activity shows it
    at: float  # time.time() when it happened


class FaultRecord(TypedDict):
    """One fault the run injected, as the ledger holds it at the end of the run."""

    entry: str
    kind: str  # the ledger kind: bucket_policy, objects, distribution_config, ...
    fault: str  # its description in words
    state: str  # open, restored, conflict, irreversible
    detail: str  # the last detail recorded (the restore's sentence)
    injected_at: float
    closed_at: float | None  # when it was restored (or found in conflict)


class RestoreRecord(TypedDict):
    """What the end-of-run restore did to one fault."""

    entry: str
    fault: str
    state: str
    detail: str
    seconds: float


class JournalSection(TypedDict):
    """The ``chaostoolkit-cdn`` section of a journal."""

    version: int  # 2 since the run context; 1 (no version key) before
    target: str  # the label: "sandbox: distribution X, bucket Y" or "aws: ..."
    target_kind: Literal["sandbox", "aws"]
    site_url: str
    run_id: str
    ledger: str
    faults: list[FaultRecord]
    restored_at_end: list[RestoreRecord]
    restore_complete: bool
    problems: list[Problem]
    #: Why the run's journal status was changed (e.g. "the steady state failed before the
    #: method"); empty when it was left as Chaos Toolkit set it.
    status_changed: NotRequired[str]


class Releasable(Protocol):
    """What the run holds and must give back at its end (the target's lock)."""

    def release(self) -> None:
        """Give it back."""


@dataclass(slots=True)
class RunContext:
    """One run: created before the experiment, gone after cleanup.

    ``environment`` holds the variables the sandbox control set for the run, with the value
    each had before (None: unset); :func:`finish` puts them back, so a second experiment in
    the same process sees the environment the first one started with.
    """

    run_id: str
    target: Target | None = None
    lock: Releasable | None = None
    problems: list[Problem] = field(default_factory=list)
    method_over: threading.Event = field(default_factory=threading.Event)
    #: Set on the first SIGINT/SIGTERM: no activity starts and no pause goes on after it.
    interrupted: threading.Event = field(default_factory=threading.Event)
    #: The ``pauses.after`` of activities in progress, taken over by the safety control.
    held_pauses: dict[int, object] = field(default_factory=dict)
    #: The rollbacks have begun: they run even after an interruption.
    rolling_back: bool = False
    last_foreground: str | None = None
    environment: dict[str, str | None] = field(default_factory=dict)
    #: The state file of a sandbox started for this run (the sandbox control stops it).
    started_sandbox: Path | None = None
    #: The site's pages, read once for the run (a :class:`chaos_runner.pages.SitePages`).
    site_pages: object | None = None

    def record(self, kind: ProblemKind, activity: str, message: str) -> None:
        """Note a problem met by an activity or a control."""
        self.problems.append(
            Problem(kind=str(kind), activity=activity, message=message, at=time.time())
        )

    def abort(self, who: str, reason: str) -> None:
        """Stop the run from any thread, as Ctrl-C would, and say who stopped it and why.

        The reason is recorded as an ``aborted`` problem (exit 5 once everything is
        restored), then the process gets SIGTERM: the safety control's handler interrupts
        the run, no activity starts after it, and every fault is restored. Only the first
        call acts.
        """
        if self.interrupted.is_set():
            return
        self.record(ProblemKind.ABORTED, who, reason)
        timeline.record("aborted", reason, reason=reason, by=who)
        self.interrupted.set()
        os.kill(os.getpid(), signal.SIGTERM)

    def set_environment(self, values: Mapping[str, str]) -> None:
        """Set variables for this run only (undone by :func:`finish`)."""
        for name, value in values.items():
            self.environment.setdefault(name, os.environ.get(name))
            os.environ[name] = value


# Global state, in one labelled place: the run this process is executing (one at a time).
_current: RunContext | None = None


def start() -> RunContext:
    """The run in progress, or a new one (the first control of a run calls this)."""
    global _current  # noqa: PLW0603 - the labelled run state above
    if _current is None:
        _current = RunContext(uuid.uuid4().hex[:12])
    return _current


def current() -> RunContext | None:
    """The run in progress, or None outside a run."""
    return _current


def current_run_id() -> str:
    """The id of the run in progress, or "" outside a run."""
    return _current.run_id if _current is not None else ""


def finish() -> None:
    """End the run: release what it holds, undo its environment; idempotent."""
    global _current
    context, _current = _current, None
    if context is None:
        return
    if context.lock is not None:
        context.lock.release()
    for name, value in context.environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
