"""Control: safeguards (stop conditions) that abort a run and restore everything.

While the method runs (from before its first activity to its end), a daemon thread checks
every second:

- the site's **availability** over the last ``window`` seconds: the share of a few cheap
  GETs (``rate`` a second, through ``CHAOS_SITE_URL``) answered 200-399, below
  ``min_availability``;
- their **p95** latency over the same window (every request's time, failures included;
  one that times out counts as ``request_timeout``), above ``max_p95_ms``;
- any CloudWatch **alarm** named in ``alarms`` in state ``ALARM`` (DescribeAlarms in
  us-east-1, where alarms on CloudFront's metrics live, as :mod:`probes.cloudwatch`).

The site figures are judged once the window holds at least :data:`MIN_SAMPLES` requests.
On the first breach the run is aborted (:meth:`chaos_runner.run.RunContext.abort`): no
activity starts after it, the safety control restores every fault, and the verdict is
``aborted`` (exit 5) with the condition, the measured value and the bound. The checks only
read (GETs and DescribeAlarms); they stop at the method's end, at an interruption, and at
cleanup. An alarm that cannot be read during the method is logged, and checked again the
next second.

Arguments, checked before the experiment (a bad one: the run refuses before any probe or
fault, as ``invalid``, exit 2); at least one condition is required:

==================  ======================================================================
min_availability    the floor, 0..1
max_p95_ms          the ceiling in milliseconds, > 0
alarms              CloudWatch alarm names (a list, or names separated by commas); each must
                    exist, and none may already be in ALARM (that refuses, as ``aborted``)
window              seconds of requests judged, 1..300 (default 5)
paths               the pages requested (default ``@cached``; roles as in
                    :mod:`chaos_runner.pages`)
rate                requests a second, 1..20 (default 4)
request_timeout     seconds per request, 0.1..10 (default 2)
==================  ======================================================================

Declare it after the sandbox and safety controls::

    controls:
      - name: safeguards
        provider:
          type: python
          module: chaos_runner.controls.safeguards
          arguments: {min_availability: 0.5, window: 5, max_p95_ms: 2000, alarms: [site-5xx]}
"""

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaos_runner import pages, run
from chaos_runner._errors import ChaosRunnerError
from chaos_runner.aws import aws_errors, cloudwatch_client
from chaos_runner.run import ProblemKind
from chaos_runner.target import Target

__all__ = [
    "MIN_SAMPLES",
    "Settings",
    "Window",
    "after_experiment_control",
    "after_method_control",
    "before_experiment_control",
    "before_method_control",
    "cleanup_control",
    "parse_arguments",
]

logger = logging.getLogger("chaostoolkit")

_CONTROL = "safeguards control"
_WHO = "safeguard"
#: Where alarms on CloudFront's metrics live.
ALARMS_REGION = "us-east-1"
#: The window's figures are judged once it holds this many requests.
MIN_SAMPLES = 3
_KNOWN = (
    "min_availability",
    "max_p95_ms",
    "alarms",
    "window",
    "paths",
    "rate",
    "request_timeout",
)


@dataclass(frozen=True, slots=True)
class Settings:
    """The safeguards of one run, checked."""

    min_availability: float | None = None
    max_p95_ms: float | None = None
    alarms: tuple[str, ...] = ()
    window: float = 5.0
    paths: Any = "@cached"
    rate: int = 4
    request_timeout: float = 2.0

    @property
    def watches_site(self) -> bool:
        """True when a condition needs requests to the site."""
        return self.min_availability is not None or self.max_p95_ms is not None

    def describe(self) -> str:
        """The conditions in words, for the log."""
        parts = []
        if self.min_availability is not None:
            parts.append(f"availability over {self.window:g} s >= {self.min_availability:g}")
        if self.max_p95_ms is not None:
            parts.append(f"p95 over {self.window:g} s <= {self.max_p95_ms:g} ms")
        if self.alarms:
            parts.append(f"alarm(s) {', '.join(self.alarms)} not in ALARM")
        return "; ".join(parts)


def _number(
    arguments: Mapping[str, Any], name: str, low: float, high: float, problems: list[str]
) -> float | None:
    value = arguments.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not low <= number <= high:
        problems.append(f"{name} must be a number between {low:g} and {high:g}; got {value!r}")
        return None
    return number


def parse_arguments(arguments: Mapping[str, Any]) -> Settings:
    """The settings from the control's arguments; ValueError naming every bad one."""
    problems = []
    unknown = sorted(set(arguments) - set(_KNOWN))
    if unknown:
        problems.append(f"unknown argument(s) {', '.join(unknown)} (known: {', '.join(_KNOWN)})")
    floor = _number(arguments, "min_availability", 0.0, 1.0, problems)
    ceiling = _number(arguments, "max_p95_ms", 0.001, 600_000.0, problems)
    window = _number(arguments, "window", 1.0, 300.0, problems)
    rate = _number(arguments, "rate", 1.0, 20.0, problems)
    if rate is not None and rate != int(rate):
        problems.append(f"rate must be a whole number of requests a second; got {rate:g}")
    timeout = _number(arguments, "request_timeout", 0.1, 10.0, problems)
    alarms: tuple[str, ...] = ()
    declared = arguments.get("alarms")
    if declared is not None:
        items = declared.split(",") if isinstance(declared, str) else declared
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
            problems.append(f"alarms must be a list of alarm names; got {declared!r}")
        else:
            alarms = tuple(name.strip() for name in items if name.strip())
            if not alarms:
                problems.append("alarms names no alarm")
    paths = arguments.get("paths", "@cached")
    if not (isinstance(paths, str) and paths.strip()) and not (
        isinstance(paths, (list, tuple)) and paths and all(isinstance(p, str) for p in paths)
    ):
        problems.append(f"paths must be a path, a role (@cached) or a list of them; got {paths!r}")
    named = [arguments.get(n) is not None for n in ("min_availability", "max_p95_ms", "alarms")]
    if not problems and not any(named):
        problems.append("no condition: give min_availability, max_p95_ms or alarms")
    if problems:
        raise ValueError("Safeguards: " + "; ".join(problems) + ".")
    return Settings(
        min_availability=floor,
        max_p95_ms=ceiling,
        alarms=alarms,
        window=window if window is not None else 5.0,
        paths=paths,
        rate=int(rate) if rate is not None else 4,
        request_timeout=timeout if timeout is not None else 2.0,
    )


class Window:
    """The requests of the last ``seconds``: (when it ended, answered 200-399, milliseconds)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._samples: deque[tuple[float, bool, float]] = deque()
        self._lock = threading.Lock()

    def add(self, at: float, ok: bool, ms: float) -> None:
        """One request, ended at ``at`` (a monotonic time)."""
        with self._lock:
            self._samples.append((at, ok, ms))

    def samples(self, now: float) -> list[tuple[float, bool, float]]:
        """The requests that ended within the window before ``now`` (older ones are dropped)."""
        with self._lock:
            while self._samples and self._samples[0][0] <= now - self.seconds:
                self._samples.popleft()
            return [s for s in self._samples if s[0] <= now]

    def availability(self, now: float) -> tuple[float, int, int] | None:
        """(share answered 200-399, answered, requests), or None below MIN_SAMPLES."""
        samples = self.samples(now)
        if len(samples) < MIN_SAMPLES:
            return None
        good = sum(1 for _, ok, _ in samples if ok)
        return good / len(samples), good, len(samples)

    def p95_ms(self, now: float) -> tuple[float, int] | None:
        """(p95 in ms, by nearest rank; requests), or None below MIN_SAMPLES."""
        times = sorted(ms for _, _, ms in self.samples(now))
        if len(times) < MIN_SAMPLES:
            return None
        return times[math.ceil(0.95 * len(times)) - 1], len(times)

    def breach(self, settings: Settings, now: float) -> str | None:
        """The first site condition broken, in one sentence; None when both hold."""
        span = f"{self.seconds:g} s"
        if settings.min_availability is not None:
            measured = self.availability(now)
            if measured is not None and measured[0] < settings.min_availability:
                share, good, total = measured
                return (
                    f"availability over the last {span} was {share:.2f} ({good} of {total} "
                    f"requests answered 200-399), below the floor {settings.min_availability:g}"
                )
        if settings.max_p95_ms is not None:
            latency = self.p95_ms(now)
            if latency is not None and latency[0] > settings.max_p95_ms:
                return (
                    f"p95 latency over the last {span} was {latency[0]:.0f} ms ({latency[1]} "
                    f"requests), above the ceiling {settings.max_p95_ms:g} ms"
                )
        return None


def _alarm_states(names: tuple[str, ...], endpoint_url: str | None) -> dict[str, str]:
    """The state of each named alarm that exists (DescribeAlarms; read only)."""
    client = cloudwatch_client(ALARMS_REGION, endpoint_url)
    states: dict[str, str] = {}
    with aws_errors("DescribeAlarms", f"read the CloudWatch alarms in {ALARMS_REGION}"):
        answer = client.describe_alarms(AlarmNames=list(names))
        for alarm in (*answer.get("MetricAlarms", ()), *answer.get("CompositeAlarms", ())):
            states[str(alarm["AlarmName"])] = str(alarm["StateValue"])
    return states


def _in_alarm(states: Mapping[str, str]) -> str | None:
    firing = sorted(name for name, state in states.items() if state == "ALARM")
    if not firing:
        return None
    return f"CloudWatch alarm {', '.join(firing)} is in ALARM ({ALARMS_REGION})"


class _Watch:
    """The daemon thread of one run's safeguards."""

    def __init__(
        self,
        settings: Settings,
        urls: list[str],
        endpoint_url: str | None,
        current: run.RunContext,
    ) -> None:
        self.settings = settings
        self.urls = urls
        self.endpoint_url = endpoint_url
        self.current = current
        self.window = Window(settings.window)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="safeguards", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout=self.settings.request_timeout + 2)

    def _over(self) -> bool:
        return (
            self.stopped.is_set()
            or self.current.method_over.is_set()
            or self.current.interrupted.is_set()
        )

    def _run(self) -> None:
        try:
            asyncio.run(self._watch())
        except Exception:  # a safeguard that fails says so; it never fails the run itself
            logger.exception("Safeguards: the checks stopped on an error; the run goes on.")

    async def _watch(self) -> None:
        from probes._client import session

        in_flight: set[asyncio.Task[None]] = set()
        # bounded: at most the requests of one timeout in flight
        limit = max(1, math.ceil(self.settings.rate * self.settings.request_timeout))
        timeout, sent, warned = self.settings.request_timeout, 0, False
        async with session(timeout, limit) as http:
            try:
                while not self._over():
                    tick = time.monotonic()
                    if self.settings.watches_site:
                        for _ in range(self.settings.rate):
                            if len(in_flight) < limit:
                                url = self.urls[sent % len(self.urls)]
                                task = asyncio.create_task(self._get(http, url))
                                in_flight.add(task)
                                task.add_done_callback(in_flight.discard)
                                sent += 1
                            await self._sleep(1.0 / self.settings.rate)
                            if self._over():
                                return
                    reason = self.window.breach(self.settings, time.monotonic())
                    if reason is None and self.settings.alarms:
                        try:
                            states = await asyncio.to_thread(
                                _alarm_states, self.settings.alarms, self.endpoint_url
                            )
                            reason, warned = _in_alarm(states), False
                        except ChaosRunnerError as error:
                            if not warned:
                                logger.warning(f"Safeguards: {error} (checked again each second)")
                            warned = True
                    if reason is not None and not self._over():
                        logger.error(f"Safeguard breached: {reason}. Aborting the run.")
                        self.current.abort(_WHO, f"Safeguard breached: {reason}.")
                        return
                    await self._sleep(1.0 - (time.monotonic() - tick))
            finally:
                for task in in_flight:
                    task.cancel()
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)

    async def _get(self, http: Any, url: str) -> None:
        from probes._client import fetch

        answer = await fetch(http, url)
        ok = answer.status is not None and 200 <= answer.status <= 399
        self.window.add(time.monotonic(), ok, answer.elapsed_s * 1000.0)


# Global state, in one labelled place: the safeguards of the run this process executes
# (one run at a time, as chaos_runner.run): checked before the experiment, watched during
# the method.
_settings: Settings | None = None
_urls: list[str] = []
_watch: _Watch | None = None


def before_experiment_control(
    context: Any, configuration: dict[str, Any] | None = None, **arguments: Any
) -> None:
    """Check the arguments, the pages and the alarms; refuse the run before anything else."""
    global _settings, _urls
    from chaoslib.exceptions import InterruptExecution

    _stop()
    _settings, _urls = None, []
    current = run.start()
    try:
        settings = parse_arguments(arguments)
        urls = _site_urls(settings, configuration)
        refusal = _alarms_refusal(settings, configuration)
    except (ValueError, ChaosRunnerError) as error:
        refusal = (ProblemKind.INVALID, f"{error} Nothing was injected.")
    except Exception as error:
        logger.exception("The safeguards control failed before the experiment")
        refusal = (
            ProblemKind.INTERNAL,
            f"The safeguards could not be set up ({type(error).__name__}: {error}); "
            "nothing was injected.",
        )
    if refusal is not None:
        kind, message = refusal
        if current.target is None:
            current.target = Target.resolve(configuration)
        current.record(kind, _CONTROL, message)
        raise InterruptExecution(message)
    _settings, _urls = settings, urls
    logger.info(f"Safeguards during the method: {settings.describe()}.")


def _site_urls(settings: Settings, configuration: Mapping[str, Any] | None) -> list[str]:
    if not settings.watches_site:
        return []
    site = Target.resolve(configuration).site_url
    if not site:
        raise ValueError(
            "Safeguards on availability or latency need the site's address: set CHAOS_SITE_URL."
        )
    paths = pages.resolve(settings.paths, configuration)
    if not paths:
        raise ValueError(f"Safeguards: paths {settings.paths!r} name no page.")
    return [f"{site}/{str(p).lstrip('/')}" for p in paths]


def _alarms_refusal(
    settings: Settings, configuration: Mapping[str, Any] | None
) -> tuple[ProblemKind, str] | None:
    if not settings.alarms:
        return None
    endpoint = Target.resolve(configuration).endpoint_url
    try:
        states = _alarm_states(settings.alarms, endpoint)
    except ChaosRunnerError as error:
        return ProblemKind.ABORTED, f"Safeguards: {error} Nothing was injected."
    missing = [name for name in settings.alarms if name not in states]
    if missing:
        return (
            ProblemKind.INVALID,
            f"Safeguards: no CloudWatch alarm named {', '.join(missing)} in "
            f"{ALARMS_REGION}; nothing was injected.",
        )
    firing = _in_alarm(states)
    if firing:
        return ProblemKind.ABORTED, f"Safeguards: {firing} already; nothing was injected."
    return None


def before_method_control(
    context: Any, configuration: dict[str, Any] | None = None, **arguments: Any
) -> None:
    """Start the checks (before the method's first activity)."""
    global _watch  # noqa: PLW0603 - the labelled run state above
    current = run.current()
    if _settings is None or current is None or current.interrupted.is_set():
        return
    endpoint = Target.resolve(configuration).endpoint_url
    _stop()
    _watch = _Watch(_settings, _urls, endpoint, current)
    _watch.start()


def after_method_control(context: Any, **arguments: Any) -> None:
    """The method is over: stop the checks."""
    _stop()


def after_experiment_control(context: Any, **arguments: Any) -> None:
    """Stop the checks, if the method did not end normally."""
    _stop()


def cleanup_control() -> None:
    """Stop the checks and forget the run's safeguards."""
    global _settings, _urls
    _stop()
    _settings, _urls = None, []


def _stop() -> None:
    global _watch
    watch, _watch = _watch, None
    if watch is not None:
        watch.stop()
