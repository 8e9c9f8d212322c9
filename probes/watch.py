"""The watch probe: sample the site in the background through faults and recovery.

:func:`health_timeline` runs as a ``background: true`` activity, declared in the method
before the first fault. It GETs ``paths`` ``rate`` times a second (10 Hz by default), on
schedule whatever the site does, and judges each sample healthy when every path answered
an expected status (and, with ``max_latency_ms``, in time). It reads this run's entries in
the ledger (the run's id) to learn when faults were injected and restored, and stops by
itself once every one of them is restored and the site has been healthy for
``recovery_window`` seconds, or after ``max_duration`` seconds. It also stops when the
method is over while a fault is still open (the restore then comes from the rollbacks or
the safety control, which Chaos Toolkit runs only once background activities return; the
safety control says when the method is over, see :class:`chaos_runner.run.RunContext`, so
declare it in the experiment): ``stopped_because`` says which.

The result holds the figures teams report as MTTD and MTTR:

- ``time_to_detect_s``: from the first injection (the ledger's ``open`` event) to the
  answer of the first unhealthy sample sent after it (and before the restore). Null when
  no sample failed: the fault was not visible to readers.
- ``time_to_recover_s``: from the last restore (the ledger's ``restored`` event, written
  once the restore is verified) to the first sample of the first run of healthy samples
  lasting ``recovery_window`` seconds. Null when the site did not recover while watched.

The ledger's ``open`` is written just before the fault's first change and ``restored``
just after the restore was verified, so both figures are upper bounds by the few
milliseconds those API calls take. Without ledger entries (no fault, or a fault outside
this tool) the result has only the timeline: ``segments``, runs of samples of the same
health in the order they were sent, each with the answers seen.

Example: start the watch, give it a baseline second, then inject::

        - type: probe
          name: watch-the-site
          background: true
          provider:
            type: python
            module: probes.watch
            func: health_timeline
            arguments: {paths: ["/", "/posts/"], rate: 10, recovery_window: 3,
                        max_duration: 120}
        - type: action
          name: deny-origin-reads
          pauses: {before: 1}
          provider: {type: python, module: chaos_runner.faults.s3, func: deny_origin_reads}
"""

import asyncio
import itertools
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict

import aiohttp

from chaos_runner import run
from chaos_runner._errors import LedgerError
from chaos_runner.activity import activity
from chaos_runner.ledger import Ledger
from probes import _arguments, _client, _loop
from probes._arguments import StatusSpec

__all__ = ["FaultWindow", "WatchResult", "WatchSegment", "health_timeline"]

MAX_RATE = 50.0
MAX_DURATION_S = 3600.0
#: At most this many samples in one watch (``rate`` x ``max_duration``).
MAX_SAMPLES = 36_000
#: At most this many segments in the result; later ones are left out (``truncated``).
MAX_SEGMENTS = 1000
MAX_WATCHED_PATHS = 20
#: How often the ledger is read, in samples.
_LEDGER_EVERY = 5
#: Entries opened this long before the watch started still count when no run id is known.
_UNNAMED_RUN_SLACK_S = 5.0
#: Ledger events that end an entry's fault.
_CLOSING_EVENTS = frozenset({"restored", "irreversible", "conflict"})

Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None
StopReason = Literal["recovered", "method_ended", "max_duration"]


class WatchSegment(TypedDict):
    """Consecutive samples of the same health; times in seconds from the watch's start."""

    start_s: float
    end_s: float
    healthy: bool
    samples: int
    answers: dict[str, int]
    max_ms: float


class FaultWindow(TypedDict):
    """When this run's faults were injected and restored (epoch seconds, from the ledger)."""

    run_id: str
    entries: int
    injected_at: float
    restored_at: float | None


class WatchResult(TypedDict):
    """What the watch saw, and the detection and recovery times it implies."""

    url: str
    paths: list[str]
    rate: float
    started_at: float
    ended_at: float
    stopped_because: StopReason
    samples: int
    healthy_samples: int
    availability: float
    availability_during_fault: float | None
    faults: FaultWindow | None
    detected: bool
    detected_at: float | None
    time_to_detect_s: float | None
    recovered: bool
    recovered_at: float | None
    time_to_recover_s: float | None
    segments: list[WatchSegment]
    truncated: bool


@dataclass(frozen=True, slots=True)
class _WatchPlan:
    url: str
    paths: tuple[str, ...]
    rate: float
    timeout_s: float
    expected: frozenset[int]
    max_latency_s: float
    recovery_window_s: float
    max_duration_s: float
    run_id: str
    ledger_path: Path


@dataclass(frozen=True, slots=True)
class _Sample:
    """One sample, times in seconds from the watch's start."""

    sent: float
    done: float
    healthy: bool
    answer: str
    latency_ms: float


@dataclass(slots=True)
class _Watch:
    """The samples so far (bounded by MAX_SAMPLES) and what the ledger said last."""

    plan: _WatchPlan
    started_at: float
    samples: list[_Sample] = field(default_factory=list)
    faults: FaultWindow | None = None
    faults_closed: bool = False


# -- the probe -----------------------------------------------------------------------------


@activity
def health_timeline(
    paths: str | list[str] = "/",
    rate: float = 10.0,
    timeout: float = 1.0,
    expect_status: StatusSpec = None,
    max_latency_ms: float = 0.0,
    recovery_window: float = 3.0,
    max_duration: float = 300.0,
    run_id: str = "",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> WatchResult:
    """Sample ``paths`` ``rate`` times a second until the run's faults are restored.

    A sample is healthy when every path answers a status in ``expect_status`` (default
    200-399) within ``timeout`` seconds and, when ``max_latency_ms`` is above 0, within
    that many milliseconds. The watch stops once every fault of the run (``run_id``,
    default: the run in progress) is restored and the site was healthy for
    ``recovery_window`` seconds, or after ``max_duration`` seconds.
    """
    plan = _plan(
        paths,
        rate,
        timeout,
        expect_status,
        max_latency_ms,
        recovery_window,
        max_duration,
        run_id,
        configuration,
    )
    return _loop.run(_watch(plan))


def _plan(
    paths: str | list[str],
    rate: float,
    timeout: float,
    expect_status: StatusSpec,
    max_latency_ms: float,
    recovery_window: float,
    max_duration: float,
    run_id: str,
    configuration: Configuration,
) -> _WatchPlan:
    from chaos_runner import ConfigurationError

    watched = _arguments.pages(paths, configuration)
    if len(watched) > MAX_WATCHED_PATHS:
        raise ConfigurationError(
            f"The watch samples every path at each tick; give it at most {MAX_WATCHED_PATHS} "
            f"paths (got {len(watched)}). Watch a few representative pages."
        )
    per_second = _arguments.number("rate", rate, 0.0, MAX_RATE, exclusive_low=True)
    seconds = _arguments.number(
        "max_duration", max_duration, 0.0, MAX_DURATION_S, exclusive_low=True
    )
    if per_second * seconds > MAX_SAMPLES:
        raise ConfigurationError(
            f"A watch of {seconds:g} s at {per_second:g} samples a second takes "
            f"{per_second * seconds:.0f} samples, more than the {MAX_SAMPLES} kept; lower "
            "`rate` or `max_duration`."
        )
    return _WatchPlan(
        url=_arguments.site_url(configuration),
        paths=tuple(watched),
        rate=per_second,
        timeout_s=_arguments.number("timeout", timeout, 0.0, 60.0, exclusive_low=True),
        expected=_arguments.statuses("expect_status", expect_status),
        max_latency_s=_arguments.number("max_latency_ms", max_latency_ms, 0.0, 60_000.0) / 1000,
        recovery_window_s=_arguments.number("recovery_window", recovery_window, 0.0, 600.0),
        max_duration_s=seconds,
        run_id=str(run_id or run.current_run_id()),
        ledger_path=Ledger().path,
    )


# -- sampling ------------------------------------------------------------------------------


async def _watch(plan: _WatchPlan) -> WatchResult:
    t0 = time.perf_counter()
    watch = _Watch(plan, started_at=time.time())
    in_flight: set[asyncio.Task[None]] = set()
    stopped: StopReason = "max_duration"
    connections = len(plan.paths) * max(1, math.ceil(plan.rate * plan.timeout_s) + 1)
    current = run.current()
    method_over = current.method_over if current is not None else None
    async with _client.session(plan.timeout_s, connections) as session:
        for tick in itertools.count():
            if tick / plan.rate >= plan.max_duration_s:
                break
            due = t0 + tick / plan.rate
            if tick % _LEDGER_EVERY == 0:
                if _recovered(watch):
                    stopped = "recovered"
                    break
                if not watch.faults_closed and method_over is not None and method_over.is_set():
                    stopped = "method_ended"
                    break
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            task = asyncio.get_running_loop().create_task(_sample(session, watch, t0, due))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.gather(*in_flight)
    _read_ledger(watch)
    return _result(watch, stopped, time.time())


async def _sample(session: aiohttp.ClientSession, watch: _Watch, t0: float, due: float) -> None:
    plan = watch.plan
    answers = await asyncio.gather(
        *(_client.fetch(session, plan.url + path) for path in plan.paths)
    )
    done = time.perf_counter()
    verdicts = [(answer, _good(plan, answer)) for answer in answers]
    bad = [answer for answer, good in verdicts if not good]
    first = bad[0] if bad else answers[0]
    label = _label(first, slow=bool(bad) and first.status in plan.expected)
    latency = max(answer.elapsed_s for answer in answers) * 1000
    if len(watch.samples) < MAX_SAMPLES:
        watch.samples.append(_Sample(due - t0, done - t0, not bad, label, round(latency, 3)))


def _good(plan: _WatchPlan, answer: _client.Answer) -> bool:
    if answer.status not in plan.expected:
        return False
    return not plan.max_latency_s or answer.elapsed_s <= plan.max_latency_s


def _label(answer: _client.Answer, slow: bool) -> str:
    """How a sample's answer shows in the timeline: a status, an error class, or "slow"."""
    if answer.error is not None:
        return answer.error
    return f"{answer.status} slow" if slow else str(answer.status)


# -- the ledger ----------------------------------------------------------------------------


def _read_ledger(watch: _Watch) -> None:
    """Update what the run's ledger entries say: first injection, last restore."""
    plan = watch.plan
    try:
        entries = Ledger(plan.ledger_path).entries()
    except LedgerError:
        return  # an unreadable ledger: the run itself reports it; the watch keeps watching
    earliest = watch.started_at - _UNNAMED_RUN_SLACK_S
    opened: dict[str, float] = {}
    closed: dict[str, float] = {}
    for entry in entries:
        if plan.run_id and entry.run_id != plan.run_id:
            continue
        if not plan.run_id and entry.created_at < earliest:
            continue
        opened[entry.id] = entry.created_at
        if entry.closed_at is not None and str(entry.state) in _CLOSING_EVENTS:
            closed[entry.id] = entry.closed_at
    if not opened:
        return
    all_closed = set(opened) <= set(closed)
    watch.faults = FaultWindow(
        run_id=plan.run_id or "manual",
        entries=len(opened),
        injected_at=min(opened.values()),
        restored_at=max(closed.values()) if all_closed else None,
    )
    watch.faults_closed = all_closed


def _recovered(watch: _Watch) -> bool:
    """True once every fault is restored and a healthy window followed (read the ledger)."""
    _read_ledger(watch)
    if watch.faults is None or watch.faults["restored_at"] is None:
        return False
    restored = watch.faults["restored_at"] - watch.started_at
    return _recovery(sorted(watch.samples, key=_by_send), restored, watch) is not None


# -- the result ----------------------------------------------------------------------------


def _by_send(sample: _Sample) -> float:
    return sample.sent


def _recovery(samples: list[_Sample], restored: float, watch: _Watch) -> float | None:
    """Send time of the first sample of the first healthy window after ``restored``."""
    window = watch.plan.recovery_window_s
    step = 1 / watch.plan.rate
    streak: float | None = None
    for sample in samples:
        if sample.sent < restored:
            continue
        if not sample.healthy:
            streak = None
            continue
        if streak is None:
            streak = sample.sent
        if sample.sent - streak >= window - step / 2:
            return streak
    return None


def _detection(samples: list[_Sample], injected: float, restored: float | None) -> float | None:
    """Answer time of the first unhealthy sample sent during the fault."""
    found = [
        sample.done
        for sample in samples
        if not sample.healthy
        and sample.sent >= injected
        and (restored is None or sample.sent < restored)
    ]
    return min(found) if found else None


def _result(watch: _Watch, stopped: StopReason, ended_at: float) -> WatchResult:
    plan = watch.plan
    samples = sorted(watch.samples, key=_by_send)
    healthy = sum(sample.healthy for sample in samples)
    faults = watch.faults
    detected = recovered = None
    during: float | None = None
    if faults is not None:
        injected = faults["injected_at"] - watch.started_at
        restored = (
            None if faults["restored_at"] is None else faults["restored_at"] - watch.started_at
        )
        detected = _detection(samples, injected, restored)
        if restored is not None:
            recovered = _recovery(samples, restored, watch)
        window = [
            s for s in samples if s.sent >= injected and (restored is None or s.sent < restored)
        ]
        if window:
            during = round(sum(s.healthy for s in window) / len(window), 6)
    segments, truncated = _segments(samples)
    return WatchResult(
        url=plan.url,
        paths=list(plan.paths),
        rate=plan.rate,
        started_at=round(watch.started_at, 3),
        ended_at=round(ended_at, 3),
        stopped_because=stopped,
        samples=len(samples),
        healthy_samples=healthy,
        availability=round(healthy / len(samples), 6) if samples else 0.0,
        availability_during_fault=during,
        faults=faults,
        detected=detected is not None,
        detected_at=_epoch(watch, detected),
        time_to_detect_s=_since(watch, detected, faults["injected_at"] if faults else None),
        recovered=recovered is not None,
        recovered_at=_epoch(watch, recovered),
        time_to_recover_s=_since(watch, recovered, faults["restored_at"] if faults else None),
        segments=segments,
        truncated=truncated,
    )


def _epoch(watch: _Watch, relative: float | None) -> float | None:
    return None if relative is None else round(watch.started_at + relative, 3)


def _since(watch: _Watch, relative: float | None, epoch: float | None) -> float | None:
    if relative is None or epoch is None:
        return None
    return round(max(0.0, watch.started_at + relative - epoch), 3)


def _segments(samples: list[_Sample]) -> tuple[list[WatchSegment], bool]:
    segments: list[WatchSegment] = []
    answers: Counter[str] = Counter()
    for sample in samples:
        last = segments[-1] if segments else None
        if last is None or last["healthy"] != sample.healthy:
            if last is not None:
                last["answers"] = dict(sorted(answers.items()))
            if len(segments) == MAX_SEGMENTS:
                return segments, True
            answers = Counter()
            segments.append(
                WatchSegment(
                    start_s=round(sample.sent, 3),
                    end_s=round(sample.sent, 3),
                    healthy=sample.healthy,
                    samples=0,
                    answers={},
                    max_ms=0.0,
                )
            )
            last = segments[-1]
        last["end_s"] = round(sample.sent, 3)
        last["samples"] += 1
        last["max_ms"] = max(last["max_ms"], sample.latency_ms)
        answers[sample.answer] += 1
    if segments:
        segments[-1]["answers"] = dict(sorted(answers.items()))
    return segments, False
