"""Running a game-day plan on its schedule (``chaos gameday schedule``).

Two parts. :func:`decide` is pure: given the plan, the fire (the moment the cron named), the
moment it is judged, whether a run is still going, and a random draw, it says whether to run
and when, or why not. :class:`Scheduler` is the loop around it: it waits for each fire on
the wall clock, asks :func:`decide`, says the decision in one line, and starts each run as a
subprocess (``chaos gameday run PLAN``) so that a run's state dies with its process, and
stopping the scheduler can tell a run to stop (SIGTERM: it restores what it injected) and
wait for it.

A fire is skipped, and the line says why and when the next fire is, when:

- it was missed by more than the plan's ``starting_deadline`` (the machine slept or was off;
  fires missed while asleep are counted in one line, and only the latest is judged);
- it is inside a blackout, or outside every allowed window;
- the previous run is still going (a schedule never overlaps itself).

Otherwise the run starts after a random delay within ``jitter``, cut short so that it still
starts inside the allowed window and before the next blackout. Only one scheduler per plan
runs on a machine: :func:`schedule_lock` (a file lock the kernel releases if the scheduler
dies) refuses a second one, naming the holder.
"""

import contextlib
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chaos_runner.gameday import windows
from chaos_runner.gameday.plan import Plan
from chaos_runner.ledger import TargetLock, lock_directory
from chaos_runner.verdict import Outcome

__all__ = [
    "RUN_COMMAND",
    "Decision",
    "Scheduler",
    "decide",
    "duration",
    "schedule_lock",
]

#: What a scheduled run is: this interpreter's ``chaos gameday run`` (the plan's path follows).
RUN_COMMAND = (sys.executable, "-m", "chaostoolkit", "--no-version-check", "gameday", "run")
#: Longest wait between two looks at the wall clock: a machine that slept is noticed by then.
_TICK_S = 1.0
_OUTCOMES = {outcome.exit_code: outcome.value for outcome in Outcome}
#: Exit codes of a stopped run that a clean stop does not hide (the site may be degraded,
#: or the tool failed).
_HARD_FAILURES = (4, 70)

Say = Callable[[str, bool], None]  # (one line for people, True when it says a skip)


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do about one fire of the schedule."""

    fire: dt.datetime  # the moment the cron named, in the plan's zone
    run: bool
    start: dt.datetime  # when the run starts (the fire, or later); the fire when skipped
    reason: str  # why, in words: "runs at ...", or what made it skip

    def describe(self, next_fire: dt.datetime | None) -> str:
        """The decision in one line (without the time it was made)."""
        verdict = self.reason if self.run else f"skipped: {self.reason}"
        following = f" Next fire: {windows.stamp(next_fire)}." if next_fire else ""
        return f"Fire of {windows.stamp(self.fire)}: {verdict}.{following}"


def decide(
    plan: Plan, fire: dt.datetime, now: dt.datetime, running: str = "", jitter: float = 0.0
) -> Decision:
    """What to do about the fire at ``fire``, judged at ``now`` (both aware).

    ``running`` describes the run still going from an earlier fire ("" when none);
    ``jitter`` is a random draw in [0, 1) (``random.random()``): the share of the plan's
    jitter the start is delayed by, cut to the time left before the window closes.
    """
    if plan.schedule is None:
        raise ValueError(f"the plan {plan.path} has no schedule")
    fire = fire.astimezone(plan.timezone)
    late = (now - fire).total_seconds()
    deadline = plan.schedule.starting_deadline_s
    if late > deadline:
        return _skip(
            fire,
            f"missed by {duration(late)}, more than the starting deadline of "
            f"{duration(deadline)} (the machine was asleep, off or busy)",
        )
    at = max(fire, now.astimezone(plan.timezone))
    check = plan.window(at)
    if not check.ok:
        return _skip(fire, check.reason)
    if running:
        return _skip(fire, f"the previous run is still going ({running}); runs never overlap")
    room = plan.schedule.jitter_s
    closes = windows.open_until(
        at, plan.timezone, plan.allowed, plan.blackouts, dt.timedelta(seconds=room)
    )
    if closes is not None:
        room = min(room, (closes - at).total_seconds())
    delay = max(0.0, min(jitter, 1.0)) * room
    start = at + dt.timedelta(seconds=delay)
    when = "runs now" if delay < 1 else f"runs at {start.strftime('%H:%M:%S')} ({_jitter(delay)})"
    return Decision(fire=fire, run=True, start=start, reason=f"{when}, {check.reason}")


def duration(seconds: float) -> str:
    """``2h13m``, ``15m``, ``42s``: a span for people (whole seconds)."""
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else ""]
    parts += [f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"


def schedule_lock(plan: Plan) -> TargetLock:
    """The per-machine lock of the plan's scheduler (beside the target locks, not among
    them: ``chaos halt --status`` lists runs, and a scheduler is not one)."""
    return TargetLock(f"schedule of {plan.path}", lock_directory() / "schedules")


def _skip(fire: dt.datetime, reason: str) -> Decision:
    return Decision(fire=fire, run=False, start=fire, reason=reason)


def _jitter(delay: float) -> str:
    return f"jitter {duration(delay)}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Scheduler:
    """Fires a plan's schedule until stopped: one decision a fire, one run at a time."""

    def __init__(
        self,
        plan: Plan,
        say: Say,
        command: Sequence[str] = RUN_COMMAND,
        draw: Callable[[], float] = random.random,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        """``say`` prints a line; ``command`` is what a run is (the plan's path is added);
        ``draw`` gives the jitter's random share; ``clock`` is the wall clock (aware; a
        test may give one that runs fast or jumps, as a machine waking up does)."""
        if plan.schedule is None:
            raise ValueError(f"the plan {plan.path} has no schedule")
        self.plan = plan
        self.schedule = plan.schedule
        self.command = [*command, str(plan.path)]
        self._say = say
        self._draw = draw
        self._clock = clock
        self._run: subprocess.Popen[bytes] | None = None
        self._started: dt.datetime | None = None

    def serve(self, stop: threading.Event, once: bool = False, now: bool = False) -> int:
        """Handle fires until ``stop`` is set (then stop a run in progress and wait for it).

        ``now``: the first fire is this moment (decided like any other: windows, blackouts,
        jitter), not the cron's next. ``once``: handle one fire, wait for its run, and
        return its exit code (0 when skipped). Otherwise 0, or the exit code of a run that
        was stopped and did not restore everything (4) or failed as a bug (70).
        """
        fire = self._now() if now else self.plan.next_runs(self._now())[0]
        self.say(
            f"Scheduling {self.plan.title!r} ({self.plan.path.name}): {self._rule()}. "
            f"First fire: {windows.stamp(fire)}. Ctrl-C or SIGTERM stops."
        )
        while self._wait_until(fire, stop):
            fire = self._catch_up(fire)
            decision = decide(self.plan, fire, self._now(), self._running(), self._draw())
            upcoming = self.plan.next_runs(max(fire, self._now()))[0]
            self.say(decision.describe(upcoming), skipped=not decision.run)
            if decision.run and self._wait_until(decision.start, stop):
                self._launch()
            if once:
                return self._finish(stop)
            if stop.is_set():
                break
            fire = upcoming
        return self._stop()

    def say(self, text: str, skipped: bool = False) -> None:
        """One line, stamped with the moment in the plan's zone."""
        stamp = windows.stamp(self._now().astimezone(self.plan.timezone), seconds=True)
        self._say(f"{stamp}  {text}", skipped)

    def _rule(self) -> str:
        schedule = self.schedule
        jitter = f", jitter up to {duration(schedule.jitter_s)}" if schedule.jitter_s else ""
        return (
            f'cron "{schedule.cron}" in {self.plan.timezone.key}, starting deadline '
            f"{duration(schedule.starting_deadline_s)}{jitter}"
        )

    def _now(self) -> dt.datetime:
        return self._clock()

    def _wait_until(self, moment: dt.datetime, stop: threading.Event) -> bool:
        """Wait for ``moment`` on the wall clock (it notices a machine that slept); False
        when stopped first. Says when a run ends meanwhile."""
        while not stop.is_set():
            self._reap()
            left = (moment - self._now()).total_seconds()
            if left <= 0:
                return True
            stop.wait(min(left, _TICK_S))
        return False

    def _catch_up(self, fire: dt.datetime) -> dt.datetime:
        """The latest fire due by now; the fires missed before it (the machine slept) are
        said in one line."""
        now = self._now()
        missed: list[dt.datetime] = []
        while True:
            following = self.plan.next_runs(fire)[0]
            if following > now:
                break
            missed.append(fire)
            fire = following
        if missed:
            first, count = missed[0], len(missed)
            self.say(
                f"Fires from {windows.stamp(first)} on: skipped {count} missed while the "
                "machine was asleep, off or busy (only the latest is judged).",
                skipped=True,
            )
        return fire

    def _running(self) -> str:
        self._reap()
        if self._run is None or self._started is None:
            return ""
        return f"pid {self._run.pid}, started {windows.stamp(self._started, seconds=True)}"

    def _launch(self) -> None:
        try:
            self._run = subprocess.Popen(self.command, start_new_session=True)
        except OSError as error:
            self.say(f"The run could not start: {error}.", skipped=True)
            return
        self._started = self._now().astimezone(self.plan.timezone)
        self.say(f"Started the run (pid {self._run.pid}): {' '.join(self.command[-3:])}.")

    def _reap(self) -> int | None:
        """The exit code of the run if it just ended (and says so); None otherwise."""
        if self._run is None or self._run.poll() is None:
            return None
        code, pid = self._run.returncode, self._run.pid
        self._run, self._started = None, None
        meaning = _OUTCOMES.get(code, "ended by a signal" if code < 0 else "unknown code")
        self.say(f"The run (pid {pid}) ended with exit code {code} ({meaning}).")
        return code

    def _finish(self, stop: threading.Event) -> int:
        """After the one fire of --once: the run's exit code, waiting for it (0: skipped)."""
        if self._run is None:
            return 0
        while self._run is not None and not stop.is_set():
            code = self._reap()
            if code is not None:
                return code
            stop.wait(_TICK_S)
        return self._stop()

    def _stop(self) -> int:
        """Tell a run in progress to stop, wait until it has restored and ended."""
        run = self._run
        if run is None or run.poll() is not None:
            code = self._reap()
            self.say("Stopped; no run was going.")
            return code if code in _HARD_FAILURES else 0
        self.say(
            f"Stopping: telling the run (pid {run.pid}) to stop; it restores what it injected "
            "before it ends."
        )
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.killpg(run.pid, signal.SIGTERM)
        run.wait()
        code = self._reap()
        self.say("Stopped.")
        return code if code in _HARD_FAILURES else 0
