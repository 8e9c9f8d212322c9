"""Runs a game day: pre-flight checks, each experiment through the gate's engine, a timeline.

The game day's own process does what no single run can:

- it takes the target once for the whole day: on ``target: sandbox`` it starts one local
  sandbox (state, ledger and log inside the run directory) and stops it at the end; on
  ``target: environment`` it uses the ``CHAOS_*`` variables, as the gate does;
- pre-flight checks before anything is injected (:func:`preflight`): the halt switch is
  off, nothing is left unrestored in the ledger for this target, no safeguard alarm is
  already in ALARM, now is inside an allowed window and outside every blackout, and the
  site answers (its steady state: every one of a few GETs of the home page answered
  200-399). Any failure refuses the day: outcome ``aborted``, exit 5, nothing injected;
- each experiment runs as ``chaos run`` of a copy of its file (``NN-<name>/<name>.json``,
  the experiment as played) that adds the plan's safeguards as a control, so every run of
  the day stops and restores on the plan's stop conditions;
- an observer requests one cached object (``/sitemap.xml``, else ``/``) twice a second
  during the whole day and writes a ``sample`` event every second (availability and p95
  over the last five seconds): what a reader of a cached page saw, for the live view, the
  metrics and the review's charts;
- everything goes into the append-only timeline (:mod:`chaos_runner.timeline`); the runs
  write their faults in and out, and aborts, into the same file (``CHAOS_TIMELINE``).

A run that ends ``aborted`` (a safeguard, ``chaos halt``), restore-incomplete or with an
internal error ends the day: the next experiments are skipped (the site may be degraded,
or someone asked everything to stop). A deviation does not: a game day is for learning,
and the next experiment still teaches (``stop_on_deviation`` changes that).
"""

import contextlib
import json
import os
import shutil
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos_runner import halt, timeline
from chaos_runner._errors import ChaosRunnerError, ConfigurationError
from chaos_runner.engine import (
    ExperimentRun,
    judge_run,
    run_experiment,
    sigterm_interrupts,
    stop_all,
)
from chaos_runner.report import ExperimentResult, gate_outcome
from chaos_runner.target import TARGET_VARIABLES, Target, target_variables_set
from chaos_runner.verdict import Outcome, Verdict, worst

if TYPE_CHECKING:
    from chaos_runner.gameday.plan import Plan

__all__ = [
    "GAMEDAY_DIR_VARIABLE",
    "Check",
    "GameDay",
    "Running",
    "Sample",
    "add_note",
    "gameday_directory",
    "running",
]

#: The directory of game-day runs (default: ``gamedays`` under the state directory).
GAMEDAY_DIR_VARIABLE = "CHAOS_GAMEDAY_DIR"
_RUNNING = "RUNNING.json"
#: The observer: requests a second, and the window its figures cover.
_OBSERVE_EVERY_S = 0.5
_SAMPLE_EVERY_S = 1.0
_SAMPLE_WINDOW_S = 5.0
_OBSERVE_TIMEOUT_S = 2.0
#: The steady-state pre-flight: this many GETs of the home page, all must answer 200-399.
_PREFLIGHT_REQUESTS = 5
#: Outcomes that end the day: the site may be degraded, or someone asked to stop.
_ENDS_THE_DAY = (Outcome.ABORTED, Outcome.RESTORE_INCOMPLETE, Outcome.INTERNAL_ERROR)


def gameday_directory() -> Path:
    """``CHAOS_GAMEDAY_DIR``, else ``gamedays`` under ``CHAOS_STATE_DIR`` (else ``.chaos``)."""
    explicit = os.environ.get(GAMEDAY_DIR_VARIABLE)
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("CHAOS_STATE_DIR") or ".chaos") / "gamedays"


@dataclass(frozen=True, slots=True)
class Running:
    """The game day running on this machine, as ``RUNNING.json`` names it."""

    pid: int
    run_dir: Path
    plan: str
    started: float
    experiment: str | None


def running(directory: Path | None = None) -> Running | None:
    """The game day running now (its process alive), or None."""
    path = (directory or gameday_directory()) / _RUNNING
    try:
        data = json.loads(path.read_text())
        found = Running(
            pid=int(data["pid"]),
            run_dir=Path(data["run_dir"]),
            plan=str(data["plan"]),
            started=float(data["started"]),
            experiment=data.get("experiment"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found if halt.pid_alive(found.pid) else None


def add_note(text: str, author: str = "", run_dir: Path | None = None) -> tuple[Path, str | None]:
    """Append a note to a game day's timeline: the running one, or ``run_dir``.

    Returns the timeline's path and the experiment the note falls in (None between them).
    Raises ConfigurationError when there is no game day to note into, or the text is empty.
    """
    text = " ".join(text.split())
    if not text:
        raise ConfigurationError("The note is empty: say what you observed.")
    experiment: str | None = None
    if run_dir is None:
        current = running()
        if current is None:
            raise ConfigurationError(
                f"No game day is running on this machine (none named in "
                f"{gameday_directory() / _RUNNING}). Add a note to a finished one with "
                "--run RUN_DIR."
            )
        run_dir, experiment = current.run_dir, current.experiment
    path = run_dir / "timeline.jsonl"
    if not path.is_file():
        raise ConfigurationError(
            f"{run_dir} is not a game day's run directory (no timeline.jsonl)."
        )
    who = author or halt.user_name()
    timeline.append(path, timeline.event("note", text, experiment, author=who))
    return path, experiment


@dataclass(frozen=True, slots=True)
class Check:
    """One pre-flight check: its name, whether it passed, and what was found."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Sample:
    """What readers saw over the last few seconds (the observer's figures)."""

    at: float
    availability: float | None
    p95_ms: float | None
    requests: int


@dataclass(slots=True)
class _Request:
    at: float
    ok: bool
    ms: float


class _Observer:
    """Requests one URL twice a second; a ``sample`` every second (a daemon thread)."""

    def __init__(
        self, url: str, write: Callable[[dict[str, Any]], None], show: Callable[[Sample], None]
    ) -> None:
        self.url, self.write, self.show = url, write, show
        self.requests: deque[_Request] = deque()
        self.stopped = threading.Event()
        self.experiment: str | None = None
        self.thread = threading.Thread(target=self._loop, name="gameday-observer", daemon=True)

    def __enter__(self) -> "_Observer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=_OBSERVE_TIMEOUT_S + 1)

    def _loop(self) -> None:
        next_sample = time.monotonic() + _SAMPLE_EVERY_S
        while not self.stopped.is_set():
            began = time.monotonic()
            ok, ms = _get(self.url)
            self.requests.append(_Request(time.time(), ok, ms))
            if time.monotonic() >= next_sample:
                next_sample += _SAMPLE_EVERY_S
                sample = self._sample()
                with contextlib.suppress(OSError):
                    self.write(_sample_event(sample, self.experiment))
                self.show(sample)
            self.stopped.wait(max(0.0, _OBSERVE_EVERY_S - (time.monotonic() - began)))

    def _sample(self) -> Sample:
        now = time.time()
        while self.requests and self.requests[0].at < now - _SAMPLE_WINDOW_S:
            self.requests.popleft()
        window = list(self.requests)
        if not window:
            return Sample(now, None, None, 0)
        served = sum(1 for request in window if request.ok)
        return Sample(now, served / len(window), _p95([r.ms for r in window]), len(window))


def _p95(values: list[float]) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def _sample_event(sample: Sample, experiment: str | None) -> dict[str, Any]:
    if sample.availability is None:
        text = "No request answered yet."
    else:
        text = (
            f"Readers: {sample.availability:.0%} of {sample.requests} requests served, "
            f"p95 {sample.p95_ms:.0f} ms (last {_SAMPLE_WINDOW_S:.0f} s)."
        )
    return timeline.event(
        "sample",
        text,
        experiment,
        at=sample.at,
        availability=sample.availability,
        p95_ms=None if sample.p95_ms is None else round(sample.p95_ms, 2),
        requests=sample.requests,
        window_s=_SAMPLE_WINDOW_S,
    )


def _get(url: str) -> tuple[bool, float]:
    """One GET: whether it was served (200-399) and how long it took (ms), never raising."""
    began = time.perf_counter()
    handler = urllib.request.ProxyHandler({})  # loopback sandboxes and real sites alike
    opener = urllib.request.build_opener(handler)
    try:
        with opener.open(url, timeout=_OBSERVE_TIMEOUT_S) as response:
            response.read()
            ok = 200 <= response.status < 400
    except urllib.error.HTTPError as error:
        ok = 200 <= error.code < 400
    except (TimeoutError, urllib.error.URLError, OSError, ValueError):
        ok = False
    return ok, (time.perf_counter() - began) * 1000


class Listener:
    """Who watches a game day (the CLI's view); every method is called from any thread."""

    def say(self, text: str) -> None:
        """A line worth keeping (what happened)."""

    def step(self, experiment: str, what: str) -> None:
        """An experiment's phase or activity now."""

    def sample(self, sample: Sample) -> None:
        """What readers see now."""

    def finished(self, experiment: str, verdict: Verdict, seconds: float) -> None:
        """An experiment ended."""


@dataclass(slots=True)
class Result:
    """How a game day ended: its run directory, each experiment's result, the outcome."""

    run_dir: Path
    results: list[ExperimentResult]
    runs: dict[str, ExperimentRun]
    outcome: Outcome
    checks: list[Check] = field(default_factory=list)
    interrupted: bool = False
    reason: str = ""


class GameDay:
    """One game day of ``plan``: call :meth:`run` once."""

    def __init__(
        self,
        plan: "Plan",
        listener: Listener,
        *,
        ignore_windows: bool = False,
        stop_on_deviation: bool = False,
        site_dir: Path | None = None,
        directory: Path | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.plan, self.listener = plan, listener
        self.ignore_windows, self.stop_on_deviation = ignore_windows, stop_on_deviation
        self.site_dir = site_dir
        self.directory = directory or gameday_directory()
        self.now = now or (lambda: datetime.now(plan.timezone))
        self.began = time.time()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.began))
        self.run_dir = _unique(self.directory / plan.name / stamp)
        self.timeline = self.run_dir / "timeline.jsonl"
        self.environ: dict[str, str] = {}
        self.target: Target | None = None

    # -- the day ---------------------------------------------------------------------------

    def run(self) -> Result:
        """Run the day; never raises for what a run or the site does (see :class:`Result`).

        Raises ConfigurationError before anything is created when the target is not named
        (``target: environment`` without the variables) or another game day is running.
        """
        self._refuse_a_second_day()
        environ = self._target_environment()  # exit-2 problems before the run directory
        self.run_dir.mkdir(parents=True)
        shutil.copyfile(self.plan.path, self.run_dir / "plan.yaml")
        result = Result(self.run_dir, [], {}, Outcome.HELD)
        with contextlib.ExitStack() as stack:
            stack.enter_context(self._announced())
            try:
                with sigterm_interrupts():
                    environ.update(stack.enter_context(self._sandbox()))
                    self.environ = environ
                    stack.enter_context(_overlay(environ))
                    self.target = Target.resolve(None, environ)
                    self._event("gameday-started", f"Game day started: {self.plan.title}.",
                                None, plan=str(self.plan.path), title=self.plan.title,
                                target=self.target.label, site_url=self.target.site_url,
                                run_dir=str(self.run_dir), hypothesis=self.plan.hypothesis,
                                roles=_roles(self.plan))  # fmt: skip
                    result.checks = self.preflight()
                    failed = [check for check in result.checks if not check.ok]
                    if failed:
                        result.reason = f"Pre-flight refused the game day: {failed[0].detail}"
                        self._event("aborted", result.reason, None, reason=result.reason,
                                    by="preflight")  # fmt: skip
                        result.outcome = Outcome.ABORTED
                    else:
                        observer = stack.enter_context(
                            _Observer(self._canary(), self._write, self.listener.sample)
                        )
                        self._experiments(result, observer)
            except KeyboardInterrupt:
                result.interrupted = True
                result.reason = "The game day was interrupted (Ctrl-C or SIGTERM)."
                self._event("aborted", result.reason, None, reason=result.reason, by="interrupt")
                rest = [p for p in self.plan.experiments if p.name not in result.runs]
                self._skip_rest(rest, result.reason)
            finally:
                result.results = self._results(result.runs)
                outcome = gate_outcome(result.results)
                if result.interrupted or result.outcome == Outcome.ABORTED:
                    outcome = worst([outcome, Outcome.ABORTED])
                result.outcome = outcome
                seconds = time.time() - self.began
                self._event("gameday-ended", f"Game day ended: {outcome} (exit "
                            f"{outcome.exit_code}) after {seconds:.0f} s.", None,
                            outcome=str(outcome), exit_code=outcome.exit_code,
                            seconds=round(seconds, 3))  # fmt: skip
                self._write_run_json(result)
        return result

    def _experiments(self, result: Result, observer: "_Observer") -> None:
        experiments = self.plan.experiments
        for index, planned in enumerate(experiments, start=1):
            if self._halted_or_stopped(result, planned.name):
                self._skip_rest(experiments[index - 1 :], result.reason)
                return
            observer.experiment = planned.name
            self._point_notes_at(planned.name)
            run, interrupted = self._one(index, planned.path, planned.name)
            result.runs[planned.name] = run
            verdict = judge_run(run, self.plan.target == "sandbox")
            self._after(planned.name, run, verdict)
            if interrupted:  # the run has restored; its verdict is kept, the rest skipped
                raise KeyboardInterrupt
            observer.experiment = None
            self._point_notes_at(None)
            ends = verdict.outcome in _ENDS_THE_DAY or (
                self.stop_on_deviation and verdict.outcome != Outcome.HELD
            )
            if ends:
                result.reason = (
                    f"{planned.name} ended {verdict.outcome}: {verdict.reason}; the game day "
                    "stops here."
                )
                self.listener.say(result.reason)
                self._skip_rest(experiments[index:], result.reason)
                return
            if planned.pause_after_s and index < len(experiments):
                self._pause(planned.pause_after_s, planned.name)

    def _one(self, index: int, path: Path, name: str) -> tuple[ExperimentRun, bool]:
        """The run of one experiment, and whether Ctrl-C or SIGTERM stopped it."""
        directory = self.run_dir / f"{index:02d}-{name}"
        played = self._as_played(path, directory)
        self._event("experiment-started", f"Experiment {index}: {name} started.", name,
                    path=str(path), index=index)  # fmt: skip
        self.listener.step(name, "starting")
        environ = {
            **self.environ,
            timeline.TIMELINE_VARIABLE: str(self.timeline.absolute()),
            timeline.EXPERIMENT_VARIABLE: name,
        }

        phases: list[str] = []

        def progress(experiment: str, what: str) -> None:
            self.listener.step(name, what)
            if what.startswith(("action ", "probe ")):
                return
            if what == "steady state":  # the hypothesis is checked before and after
                what = "steady state after" if "method" in phases else "steady state before"
            if not phases or phases[-1] != what:  # once per phase, not per log line
                phases.append(what)
                self._event("phase", f"{name}: {what}.", name, phase=what)

        # In a worker thread, so that Ctrl-C in this one stops the run and waits for it.
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(run_experiment, played, directory, environ, False, progress)
            try:
                return future.result(), False
            except KeyboardInterrupt:
                self.listener.say("Interrupted: stopping the run; it restores its faults.")
                stop_all()
                while True:
                    try:
                        with sigterm_interrupts():
                            return future.result(), True
                    except KeyboardInterrupt:
                        self.listener.say("Still waiting for the run to restore (it cannot be "
                                          "skipped).")  # fmt: skip
                        stop_all()

    def _as_played(self, path: Path, directory: Path) -> Path:
        """The experiment as this day plays it: the plan's safeguards added as a control."""
        from chaoslib.loader import load_experiment

        experiment = load_experiment(str(path))
        if self.plan.safeguards:
            controls = list(experiment.get("controls") or [])
            controls.append(
                {
                    "name": "game-day-safeguards",
                    "provider": {
                        "type": "python",
                        "module": "chaos_runner.controls.safeguards",
                        "arguments": dict(self.plan.safeguards),
                    },
                }
            )
            experiment["controls"] = controls
        directory.mkdir(parents=True, exist_ok=True)
        played = directory / f"{path.stem}.json"
        played.write_text(json.dumps(experiment, indent=2))
        return played

    def _after(self, name: str, run: ExperimentRun, verdict: Verdict) -> None:
        """The verdict's events: deviations, detection, recovery, the end of the run."""
        for check in verdict.checks:
            if check.ran and not check.held:
                self._event("deviation", f"{name}: {check.name} did not hold: {check.detail}",
                            name, check=check.name, detail=check.detail)  # fmt: skip
        injected = [f.injected_at for f in verdict.faults if f.injected_at]
        restored = [f.restored_at for f in verdict.faults if f.restored_at]
        if verdict.time_to_detect_s is not None and injected:
            self._event("detected", f"{name}: the fault was seen by readers "
                        f"{verdict.time_to_detect_s:.2f} s after it went in.", name,
                        at=min(injected) + verdict.time_to_detect_s,
                        seconds=verdict.time_to_detect_s)  # fmt: skip
        if verdict.time_to_recover_s is not None and restored:
            self._event("recovered", f"{name}: readers were served again "
                        f"{verdict.time_to_recover_s:.2f} s after the restore.", name,
                        at=max(restored) + verdict.time_to_recover_s,
                        seconds=verdict.time_to_recover_s)  # fmt: skip
        self._event("experiment-ended", f"{name} ended {verdict.outcome} (exit "
                    f"{verdict.exit_code}, score {verdict.score}) in {run.seconds:.1f} s: "
                    f"{verdict.reason}", name, outcome=str(verdict.outcome),
                    exit_code=verdict.exit_code, score=verdict.score,
                    seconds=round(run.seconds, 3),
                    run_dir=str(run.journal_path.parent))  # fmt: skip
        self.listener.finished(name, verdict, run.seconds)

    def _pause(self, seconds: float, after: str) -> None:
        self._event("pause", f"Pause of {seconds:.0f} s after {after}.", None, seconds=seconds)
        self.listener.step("pause", f"{seconds:.0f} s before the next experiment")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and halt.state() is None:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def _halted_or_stopped(self, result: Result, name: str) -> bool:
        engaged = halt.state()
        if engaged is None:
            return False
        result.reason = f"This machine is {engaged.describe()}."
        result.outcome = Outcome.ABORTED
        self._event("aborted", f"Halted before {name}: {result.reason}", name,
                    reason=result.reason, by="halt")  # fmt: skip
        return True

    def _skip_rest(self, rest: Any, reason: str) -> None:
        for planned in rest:
            self._event("skipped", f"{planned.name} was not run: {reason}", planned.name,
                        reason=reason)  # fmt: skip

    # -- pre-flight ------------------------------------------------------------------------

    def preflight(self) -> list[Check]:
        """Every pre-flight check, each written to the timeline and said."""
        checks = [
            self._check_halt(),
            self._check_ledger(),
            self._check_alarms(),
            self._check_window(),
            self._check_steady_state(),
        ]
        for check in checks:
            mark = "ok" if check.ok else "REFUSED"
            self._event("preflight", f"Pre-flight {check.name}: {mark}: {check.detail}", None,
                        check=check.name, ok=check.ok, detail=check.detail)  # fmt: skip
            self.listener.say(f"{'✓' if check.ok else '✗'} pre-flight {check.name}: {check.detail}")
        return checks

    def _check_halt(self) -> Check:
        engaged = halt.state()
        if engaged is None:
            return Check("halt switch", True, "off")
        return Check("halt switch", False, f"this machine is {engaged.describe()}")

    def _check_ledger(self) -> Check:
        from chaos_runner.ledger import Ledger

        assert self.target is not None
        ledger = Ledger()
        try:
            pending = ledger.unrestored(self.target.key)
        except ChaosRunnerError as error:
            return Check("ledger", False, str(error))
        if pending:
            listed = "; ".join(f"{e.description} ({e.id}, {e.state})" for e in pending)
            return Check("ledger", False, f"{len(pending)} fault(s) not restored in "
                         f"{ledger.path}: {listed}; run `chaos rollback` first")  # fmt: skip
        return Check("ledger", True, f"nothing unrestored for this target in {ledger.path}")

    def _check_alarms(self) -> Check:
        names = _alarm_names(self.plan.safeguards.get("alarms"))
        if not names:
            return Check("alarms", True, "no safeguard alarm named in the plan")
        from chaos_runner.aws import aws_errors, cloudwatch_client

        assert self.target is not None
        try:
            client = cloudwatch_client("us-east-1", self.target.endpoint_url)
            with aws_errors("DescribeAlarms", "the safeguard alarms"):
                found = client.describe_alarms(AlarmNames=names)["MetricAlarms"]
        except ChaosRunnerError as error:
            return Check("alarms", False, f"the alarms cannot be read: {error}")
        states = {alarm["AlarmName"]: alarm["StateValue"] for alarm in found}
        missing = [name for name in names if name not in states]
        if missing:
            return Check("alarms", False, f"no such CloudWatch alarm: {', '.join(missing)}")
        firing = [name for name, value in states.items() if value == "ALARM"]
        if firing:
            return Check("alarms", False, f"already in ALARM: {', '.join(firing)}")
        return Check("alarms", True, ", ".join(f"{n} {s}" for n, s in sorted(states.items())))

    def _check_window(self) -> Check:
        verdict = self.plan.window(self.now())
        if verdict.ok:
            return Check("window", True, verdict.reason)
        if self.ignore_windows:
            return Check("window", True, f"{verdict.reason} (ignored: --ignore-windows)")
        return Check("window", False, f"{verdict.reason} (--ignore-windows runs it anyway)")

    def _check_steady_state(self) -> Check:
        url = self._home()
        answers = [_get(url) for _ in range(_PREFLIGHT_REQUESTS)]
        served = sum(1 for ok, _ in answers if ok)
        slowest = max(ms for _, ms in answers)
        detail = f"{served}/{len(answers)} GETs of {url} served, slowest {slowest:.0f} ms"
        return Check("steady state", served == len(answers), detail)

    # -- the target and the files ----------------------------------------------------------

    def _target_environment(self) -> dict[str, str]:
        environ = dict(os.environ)
        if self.plan.target == "sandbox":
            drop = {*TARGET_VARIABLES, "CHAOS_SANDBOX_ADMIN_URL", "AWS_ENDPOINT_URL"}
            environ = {k: v for k, v in environ.items() if k not in drop}
            if self.site_dir is not None:
                environ["CHAOS_SANDBOX_SITE_DIR"] = str(self.site_dir)
            return environ
        named = target_variables_set(environ)
        if len(named) != len(TARGET_VARIABLES):
            missing = [name for name in TARGET_VARIABLES if name not in named]
            raise ConfigurationError(
                f"The plan's target is `environment`, but {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set: set all of "
                f"{', '.join(TARGET_VARIABLES)} (and the AWS variables). Nothing was run."
            )
        return environ

    @contextlib.contextmanager
    def _sandbox(self) -> Iterator[dict[str, str]]:
        """One sandbox for the whole day (``target: sandbox``); its variables."""
        if self.plan.target != "sandbox":
            yield {}
            return
        from chaos_runner.sandbox.process import detach, stop
        from chaos_runner.sandbox.site_dir import SITE_DIR_VARIABLE, check_site_dir
        from chaos_runner.sandbox.stack import SandboxSettings

        state = self.run_dir / "sandbox"
        named = self.environ.get(SITE_DIR_VARIABLE) or os.environ.get(SITE_DIR_VARIABLE, "")
        site_dir = self.site_dir or (Path(named) if named.strip() else None)
        if site_dir is not None:
            site_dir = check_site_dir(site_dir, SITE_DIR_VARIABLE)
        self.listener.say("Starting the sandbox for this game day...")
        info = detach(SandboxSettings(site_dir=site_dir), state / "sandbox.json",
                      state / "sandbox.log")  # fmt: skip
        self.listener.say(f"Sandbox: {info.edge_url}/ (pid {info.pid}).")
        try:
            yield {
                **info.environment(),
                "CHAOS_LEDGER": str((self.run_dir / "ledger.jsonl").absolute()),
            }
        finally:
            stop(state / "sandbox.json")

    def _canary(self) -> str:
        """What the observer requests: ``/sitemap.xml`` when the site has one, else ``/``.

        Not a page an experiment examines: an observer reading ``/`` twice a second puts
        it back in the cache right after a purge, and the cache-purge experiment, which
        checks that every page misses, deviated because of the observer. A cached object
        of its own still shows what a reader of a cached page sees (served during an
        origin outage, refused while the distribution is disabled).
        """
        sitemap = self._home() + "sitemap.xml"
        return sitemap if _get(sitemap)[0] else self._home()

    def _home(self) -> str:
        assert self.target is not None
        return self.target.site_url.rstrip("/") + "/"

    def _refuse_a_second_day(self) -> None:
        current = running(self.directory)
        if current is not None:
            raise ConfigurationError(
                f"A game day is already running on this machine: {current.plan} (pid "
                f"{current.pid}, {current.run_dir}). One at a time: wait for it, or stop it."
            )

    @contextlib.contextmanager
    def _announced(self) -> Iterator[None]:
        """``RUNNING.json`` names this day while it runs (for ``chaos gameday note``)."""
        self._point_notes_at(None)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                pointer = self.directory / _RUNNING
                if running(self.directory) is not None and _pointer_pid(pointer) == os.getpid():
                    pointer.unlink()

    def _point_notes_at(self, experiment: str | None) -> None:
        pointer = self.directory / _RUNNING
        data = {
            "pid": os.getpid(),
            "run_dir": str(self.run_dir.absolute()),
            "plan": str(self.plan.path),
            "started": self.began,
            "experiment": experiment,
        }
        pointer.parent.mkdir(parents=True, exist_ok=True)
        spare = pointer.with_suffix(f".{os.getpid()}.tmp")
        spare.write_text(json.dumps(data))
        os.replace(spare, pointer)

    def _event(self, kind: str, text: str, experiment: str | None, **fields: Any) -> None:
        self._write(timeline.event(kind, text, experiment, **fields))

    def _write(self, item: dict[str, Any]) -> None:
        timeline.append(self.timeline, item)

    def _results(self, runs: dict[str, ExperimentRun]) -> list[ExperimentResult]:
        sandbox = self.plan.target == "sandbox"
        return [
            ExperimentResult(p.name, judge_run(runs[p.name], sandbox), runs[p.name].seconds)
            if p.name in runs
            else ExperimentResult(p.name, None, 0.0)
            for p in self.plan.experiments
        ]

    def _write_run_json(self, result: Result) -> None:
        data = {
            "plan": str(self.plan.path),
            "name": self.plan.name,
            "title": self.plan.title,
            "target": self.target.label if self.target else "",
            "site_url": self.target.site_url if self.target else "",
            "started": self.began,
            "ended": time.time(),
            "outcome": str(result.outcome),
            "exit_code": result.outcome.exit_code,
            "reason": result.reason,
            "interrupted": result.interrupted,
            "preflight": [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in result.checks],
            "experiments": [
                {
                    "name": name,
                    "path": str(planned.path),
                    "directory": str(result.runs[name].journal_path.parent)
                    if name in result.runs
                    else None,
                    "outcome": str(verdict.outcome) if verdict else "skipped",
                    "exit_code": verdict.exit_code if verdict else None,
                    "score": verdict.score if verdict else None,
                    "seconds": round(seconds, 3),
                }
                for planned, (name, verdict, seconds) in zip(
                    self.plan.experiments, result.results, strict=True
                )
            ],
        }
        (self.run_dir / "run.json").write_text(json.dumps(data, indent=2) + "\n")


def _roles(plan: "Plan") -> dict[str, Any]:
    return {
        "facilitator": plan.roles.facilitator,
        "observers": list(plan.roles.observers),
        "on_call": plan.roles.on_call,
    }


def _alarm_names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    if isinstance(value, list | tuple):
        return [str(name) for name in value if str(name).strip()]
    return []


def _pointer_pid(pointer: Path) -> int | None:
    try:
        return int(json.loads(pointer.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _unique(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3``... when a day started in the same second."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


@contextlib.contextmanager
def _overlay(environ: Mapping[str, str]) -> Iterator[None]:
    """This process sees the day's target (AWS clients, the ledger) while it runs."""
    saved = dict(os.environ)
    os.environ.update(environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
