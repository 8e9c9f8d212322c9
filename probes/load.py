"""The load probe: measure a site the way a load tester does, in constant memory.

:func:`measurement` sends GETs to ``paths`` of the site at ``CHAOS_SITE_URL`` and returns one
:class:`Measurement`: counts, availability, status and error classes, latency percentiles,
``X-Cache`` labels and cache hit ratio, the POPs that answered, and a per-second timeline.

Open model (``rate`` > 0)
    Request *n* is due at ``n / rate`` seconds after the start, whether or not earlier
    requests have been answered; its latency is counted from when it was *due*, not from
    when it could be sent. A site that slows down therefore shows its slowness in the
    percentiles instead of hiding it by slowing the probe (the "coordinated omission" of
    closed-loop tools). At most ``concurrency`` requests are in flight; a request that had to
    wait more than 10 ms for a slot (or for the probe's own loop) counts as ``late``, and
    one still waiting when the time was up is ``unsent``. (A request may leave up to 1 ms
    before it is due, the granularity of event-loop timers; it is then counted from when
    it left.)
Closed model (``rate`` = 0)
    ``concurrency`` connections each send their next request as soon as the last one is
    answered, as ``wrk`` does: the most the probe can send, and latency from actual sending.

The load ends after ``requests`` requests or ``duration`` seconds, whichever comes first
(a zero leaves that bound out). ``paths`` is a path, a list (round-robin) or a mapping of
paths to whole-number weights (``{"/": 3, "/posts/": 1}``, smooth weighted round-robin).
``processes`` > 1 splits the schedule across that many processes (each sends every
*processes*-th request), for rates one Python process cannot send.

Memory is constant in the number of requests: latencies go to a
:class:`~probes.histogram.LatencyHistogram` (three significant digits), labels to bounded
counters, and the timeline keeps one row per second.

Results, read by tolerances
    ``availability`` (answers with an expected status / requests sent), ``p50_ms``,
    ``p95_ms``, ``p99_ms`` and ``hit_ratio`` are top-level keys, so a ``type: range``
    tolerance reads them; ``latency_ms`` has p50, p90, p95, p99, p99.9, max and mean.
    ``hit_ratio`` follows CloudFront's CacheHitRate: ``Hit`` and ``RefreshHit`` over
    ``Hit``, ``RefreshHit`` and ``Miss`` (errors are not cacheable); null when no answer
    carried ``X-Cache``. A request that got no answer counts as taking ``timeout`` seconds
    (plus how late it was sent).

Example (availability >= 0.99 and p95 <= 300 ms at 50 requests a second for 10 s)::

        - type: probe
          name: site-holds-50-rps
          tolerance:
            type: probe
            name: service-levels-met
            provider:
              type: python
              module: probes.tolerances
              func: service_levels_met
              arguments: {min_availability: 0.99, max_p95_ms: 300}
          provider:
            type: python
            module: probes.load
            func: measurement
            arguments: {paths: {"/": 3, "/posts/": 1}, rate: 50, duration: 10}
"""

import asyncio
import dataclasses
import itertools
import math
import multiprocessing
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypedDict

import aiohttp

from chaos_runner.activity import activity
from probes import _arguments, _client, _loop
from probes._arguments import PathSpec, StatusSpec
from probes.histogram import LatencyHistogram, SparseHistogram

__all__ = [
    "Bounds",
    "ErrorCounts",
    "LatencyMs",
    "LoadPlan",
    "Measurement",
    "TimelineSecond",
    "measurement",
]
# ``measure(plan, bounds)`` is the engine's entry for probes.http and the benchmarks; it is
# not in __all__ because `chaos discover` takes every function listed there for a probe.

#: Upper bounds that keep every load bounded in count and time.
MAX_REQUESTS = 10_000_000
MAX_RATE = 100_000.0
MAX_DURATION_S = 3600.0
MAX_CONCURRENCY = 10_000
MAX_PROCESSES = 32
MAX_TIMEOUT_S = 300.0
#: A request sent this much after it was due counts as late.
LATE_AFTER_S = 0.010
#: Requests due this soon are sent now: event-loop timers have a granularity of about a
#: millisecond, so waiting for the exact time would add up to that much to every latency.
#: A request sent early is counted from when it was sent.
EARLY_S = 0.001
#: Distinct X-Cache or POP labels kept; further ones are counted under "(other)".
MAX_LABELS = 64
_PERCENTS = (50.0, 90.0, 95.0, 99.0, 99.9)

Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None


class ErrorCounts(TypedDict):
    """Requests that got no HTTP answer, by cause."""

    timeout: int
    refused: int
    reset: int
    tls: int
    other: int


class LatencyMs(TypedDict):
    """Latency in milliseconds: nearest-rank percentiles to three significant digits."""

    p50: float
    p90: float
    p95: float
    p99: float
    p999: float
    max: float
    mean: float


class TimelineSecond(TypedDict):
    """The requests due in one second of the load (``second`` counts from 0)."""

    second: int
    requests: int
    successes: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float


class Measurement(TypedDict):
    """The result of a load; JSON-safe, as Chaos Toolkit stores it in the journal."""

    url: str
    paths: list[str]
    rate: float
    concurrency: int
    processes: int
    total: int
    successes: int
    availability: float
    status_counts: dict[str, int]
    errors: ErrorCounts
    latency_ms: LatencyMs
    p50_ms: float
    p95_ms: float
    p99_ms: float
    x_cache: dict[str, int]
    hit_ratio: float | None
    pops: dict[str, int]
    late: int
    unsent: int
    achieved_rate: float
    elapsed_s: float
    timeline: list[TimelineSecond]
    ok: bool
    failures: list[str]


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """A validated load. ``offset`` is this process's share when ``processes`` > 1."""

    url: str
    cycle: tuple[str, ...]
    rate: float = 0.0
    requests: int = 0
    duration_s: float = 0.0
    concurrency: int = 10
    timeout_s: float = 5.0
    expected: frozenset[int] = _arguments.DEFAULT_EXPECTED
    processes: int = 1
    offset: int = 0

    def share(self, offset: int) -> "LoadPlan":
        """The part of this plan that process number ``offset`` sends."""
        concurrency = max(1, math.ceil(self.concurrency / self.processes))
        return dataclasses.replace(self, offset=offset, concurrency=concurrency)

    def index(self, turn: int) -> int:
        """The schedule index of this process's ``turn``-th request."""
        return self.offset + self.processes * turn

    def turns_before(self, limit_index: int) -> int:
        """How many of this process's requests have a schedule index below ``limit_index``."""
        return max(0, math.ceil((limit_index - self.offset) / self.processes))


@dataclass(frozen=True, slots=True)
class Bounds:
    """What a measurement's ``ok`` is judged by; 0 for ``max_p95_ms`` sets no bound."""

    min_availability: float = 0.0
    max_p95_ms: float = 0.0


# -- the probe -----------------------------------------------------------------------------


@activity
def measurement(
    paths: PathSpec = "/",
    rate: float = 50.0,
    duration: float = 10.0,
    requests: int = 0,
    concurrency: int = 100,
    timeout: float = 5.0,
    expect_status: StatusSpec = None,
    processes: int = 1,
    min_availability: float = 0.0,
    max_p95_ms: float = 0.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Measurement:
    """Load the site at ``rate`` requests a second and measure how it answers.

    ``rate`` 0 sends as fast as ``concurrency`` connections allow (closed model). The load
    lasts ``duration`` seconds or ``requests`` requests, whichever ends first (0 leaves a
    bound out; at least one is needed). ``expect_status`` is a status, a list or ranges
    such as ``"200-399"`` (the default). ``ok`` is true when availability is at least
    ``min_availability`` and, if ``max_p95_ms`` is above 0, p95 is at most that.
    """
    plan = LoadPlan(
        url=_arguments.site_url(configuration),
        cycle=_arguments.weighted_cycle(paths, configuration),
        rate=_arguments.number("rate", rate, 0.0, MAX_RATE),
        requests=int(_arguments.number("requests", requests, 0, MAX_REQUESTS, whole=True)),
        duration_s=_arguments.number("duration", duration, 0.0, MAX_DURATION_S),
        concurrency=int(
            _arguments.number("concurrency", concurrency, 1, MAX_CONCURRENCY, whole=True)
        ),
        timeout_s=_arguments.number("timeout", timeout, 0.0, MAX_TIMEOUT_S, exclusive_low=True),
        expected=_arguments.statuses("expect_status", expect_status),
        processes=int(_arguments.number("processes", processes, 1, MAX_PROCESSES, whole=True)),
    )  # fmt: skip
    if plan.requests == 0 and plan.duration_s == 0:
        from chaos_runner import ConfigurationError

        raise ConfigurationError(
            "A load needs an end: set `duration` (seconds) or `requests` (a count) above 0."
        )
    bounds = Bounds(
        min_availability=_arguments.number("min_availability", min_availability, 0.0, 1.0),
        max_p95_ms=_arguments.number("max_p95_ms", max_p95_ms, 0.0, MAX_TIMEOUT_S * 1000),
    )
    return measure(plan, bounds)


def measure(plan: LoadPlan, bounds: Bounds | None = None) -> Measurement:
    """Run ``plan`` (in ``plan.processes`` processes) and summarise it against ``bounds``."""
    one = plan.processes == 1
    partials = [_loop.run(_drive(plan, None))] if one else _in_processes(plan)
    return _summary(plan, bounds or Bounds(), partials)


# -- the tally: what one process counts -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Partial:
    """What one process measured, in a form that pickles and merges."""

    counts: list[int]
    low_us: int
    high_us: int
    total_us: float
    statuses: dict[int, int]
    successes: int
    errors: dict[str, int]
    x_cache: dict[str, int]
    pops: dict[str, int]
    hits: int
    cacheable: int
    late: int
    unsent: int
    rows: list[tuple[int, int, int, int, float, float, float]]
    elapsed_s: float


class _Second:
    """The requests due in one second, until the last of them is answered."""

    __slots__ = ("errors", "histogram", "pending", "requests", "successes")

    def __init__(self) -> None:
        self.pending = 0
        self.requests = 0
        self.successes = 0
        self.errors = 0
        self.histogram = SparseHistogram()


class _Timeline:
    """One row per second, each closed once the probe moved on and all its requests ended."""

    __slots__ = ("_open", "_sending", "rows")

    def __init__(self) -> None:
        self._open: dict[int, _Second] = {}
        self._sending = 0
        self.rows: list[tuple[int, int, int, int, float, float, float]] = []

    def sent(self, second: int) -> None:
        tally = self._open.get(second)
        if tally is None:
            tally = self._open[second] = _Second()
        tally.pending += 1
        if second > self._sending:
            self._sending = second
            for done in [s for s, t in self._open.items() if s < second and not t.pending]:
                self._close(done)

    def done(
        self, second: int, index: int, latency_s: float, success: bool, answered: bool
    ) -> None:
        tally = self._open[second]
        tally.pending -= 1
        tally.requests += 1
        tally.successes += success
        tally.errors += not answered
        tally.histogram.record_index(index, latency_s)
        if not tally.pending and second < self._sending:
            self._close(second)

    def finish(self) -> list[tuple[int, int, int, int, float, float, float]]:
        for second in list(self._open):
            self._close(second)
        return sorted(self.rows)

    def _close(self, second: int) -> None:
        tally = self._open.pop(second)
        if not tally.requests:
            return
        found = tally.histogram.percentiles_ms((50.0, 99.0))
        self.rows.append(
            (
                second,
                tally.requests,
                tally.successes,
                tally.errors,
                found[50.0],
                found[99.0],
                tally.histogram.max_ms(),
            )
        )


class _Tally:
    """Everything one process counts while it sends; constant memory."""

    __slots__ = (
        "cacheable",
        "errors",
        "expected",
        "histogram",
        "hits",
        "late",
        "pops",
        "statuses",
        "successes",
        "timeline",
        "unsent",
        "x_cache",
    )

    def __init__(self, expected: frozenset[int]) -> None:
        self.expected = expected
        self.histogram = LatencyHistogram()
        self.timeline = _Timeline()
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.x_cache: Counter[str] = Counter()
        self.pops: Counter[str] = Counter()
        self.successes = 0
        self.hits = 0
        self.cacheable = 0
        self.late = 0
        self.unsent = 0

    def answered(
        self, second: int, latency_s: float, status: int, x_cache: str | None, pop: str | None
    ) -> None:
        success = status in self.expected
        self.successes += success
        self.statuses[status] += 1
        if x_cache is not None:
            _bump(self.x_cache, x_cache)
            label = x_cache[:4].lower()
            if label in ("hit ", "refr"):
                self.hits += 1
                self.cacheable += 1
            elif label == "miss":
                self.cacheable += 1
        if pop is not None:
            _bump(self.pops, pop)
        index = self.histogram.record(latency_s)
        self.timeline.done(second, index, latency_s, success, answered=True)

    def failed(self, second: int, latency_s: float, error: str) -> None:
        self.errors[error] += 1
        index = self.histogram.record(latency_s)
        self.timeline.done(second, index, latency_s, success=False, answered=False)

    def partial(self, elapsed_s: float) -> _Partial:
        counts, low, high, total = self.histogram.state()
        return _Partial(
            counts=counts,
            low_us=low,
            high_us=high,
            total_us=total,
            statuses=dict(self.statuses),
            successes=self.successes,
            errors=dict(self.errors),
            x_cache=dict(self.x_cache),
            pops=dict(self.pops),
            hits=self.hits,
            cacheable=self.cacheable,
            late=self.late,
            unsent=self.unsent,
            rows=self.timeline.finish(),
            elapsed_s=elapsed_s,
        )


def _bump(counter: Counter[str], label: str) -> None:
    if label in counter or len(counter) < MAX_LABELS:
        counter[label] += 1
    else:
        counter["(other)"] += 1


# -- sending -------------------------------------------------------------------------------


async def _drive(plan: LoadPlan, start_epoch: float | None) -> _Partial:
    """Send this process's share of ``plan``, starting at ``start_epoch`` (or now)."""
    t0 = time.perf_counter()
    if start_epoch is not None:
        t0 += start_epoch - time.time()
        await asyncio.sleep(max(0.0, t0 - time.perf_counter()))
    tally = _Tally(plan.expected)
    async with _client.session(plan.timeout_s, plan.concurrency) as session:
        if plan.rate > 0:
            await _open_model(plan, session, tally, t0)
        else:
            await _closed_model(plan, session, tally, t0)
    return tally.partial(time.perf_counter() - t0)


async def _send(
    session: aiohttp.ClientSession,
    url: str,
    due: float,
    second: int,
    tally: _Tally,
    timeout_s: float,
) -> None:
    """One GET, counted from ``due`` (or from sending, if that was earlier); never raises."""
    started = time.perf_counter()
    due = min(due, started)
    try:
        async with session.get(url, allow_redirects=False) as response:
            await response.read()
    except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
        tally.failed(second, started - due + timeout_s, _client.classify(exc))
        return
    headers = response.headers
    tally.answered(
        second,
        time.perf_counter() - due,
        response.status,
        headers.get("X-Cache"),
        headers.get("X-Amz-Cf-Pop"),
    )


async def _open_model(
    plan: LoadPlan, session: aiohttp.ClientSession, tally: _Tally, t0: float
) -> None:
    """Send each request when it is due (or as soon after as a slot frees)."""
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(plan.concurrency)
    in_flight: set[asyncio.Task[None]] = set()
    end = t0 + plan.duration_s if plan.duration_s else math.inf
    last_index = plan.requests if plan.requests else math.inf
    timed = plan.duration_s > 0 and math.ceil(plan.duration_s * plan.rate) <= last_index
    if timed:
        last_index = math.ceil(plan.duration_s * plan.rate)

    def finished(task: asyncio.Task[None]) -> None:
        in_flight.discard(task)
        slots.release()

    for turn in itertools.count():
        index = plan.index(turn)
        if index >= last_index:
            break
        due = t0 + index / plan.rate
        wait = due - time.perf_counter() - EARLY_S
        if wait > 0:
            await asyncio.sleep(wait)
        if slots.locked():
            try:
                left = None if end == math.inf else max(0.0, end - time.perf_counter())
                await asyncio.wait_for(slots.acquire(), left)
            except TimeoutError:
                tally.unsent += plan.turns_before(int(last_index)) - turn
                break
        else:
            await slots.acquire()
        if time.perf_counter() - due > LATE_AFTER_S:
            tally.late += 1
        second = int(due - t0)
        tally.timeline.sent(second)
        path = plan.cycle[index % len(plan.cycle)]
        task = loop.create_task(_send(session, plan.url + path, due, second, tally, plan.timeout_s))
        in_flight.add(task)
        task.add_done_callback(finished)
    if timed:  # a load ended by its duration lasts that long, though its last request is early
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
    if in_flight:
        await asyncio.gather(*in_flight)


async def _closed_model(
    plan: LoadPlan, session: aiohttp.ClientSession, tally: _Tally, t0: float
) -> None:
    """``concurrency`` connections, each sending its next request when answered."""
    turns = itertools.count()  # shared by the connections: turns in start order
    end = t0 + plan.duration_s if plan.duration_s else math.inf

    async def connection() -> None:
        for turn in turns:
            index = plan.index(turn)
            now = time.perf_counter()
            if (plan.requests and index >= plan.requests) or now >= end:
                return
            second = int(now - t0)
            tally.timeline.sent(second)
            path = plan.cycle[index % len(plan.cycle)]
            await _send(session, plan.url + path, now, second, tally, plan.timeout_s)

    connections = plan.concurrency
    if plan.requests:
        connections = max(1, min(connections, plan.turns_before(plan.requests)))
    await asyncio.gather(*(connection() for _ in range(connections)))


# -- several processes --------------------------------------------------------------------


def _warm() -> None:
    """Process initializer: import what sending needs before the clock starts."""
    import aiohttp  # noqa: F401 - imported for its side effect of loading


def _ready(seconds: float) -> int:
    time.sleep(seconds)
    return 0


def _worker(plan: LoadPlan, start_epoch: float) -> _Partial:
    return _loop.run(_drive(plan, start_epoch))


def _in_processes(plan: LoadPlan) -> list[_Partial]:
    """Run the plan's shares in ``plan.processes`` spawned processes, started together."""
    context = multiprocessing.get_context("spawn")  # fork is unsafe with threads around
    with ProcessPoolExecutor(plan.processes, mp_context=context, initializer=_warm) as pool:
        list(pool.map(_ready, [0.2] * plan.processes))  # every process started and warm
        start = time.time() + 0.1
        futures = [pool.submit(_worker, plan.share(k), start) for k in range(plan.processes)]
        return [future.result() for future in futures]


# -- the summary ---------------------------------------------------------------------------


def _summary(plan: LoadPlan, bounds: Bounds, partials: list[_Partial]) -> Measurement:
    histogram = LatencyHistogram()
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    x_cache: Counter[str] = Counter()
    pops: Counter[str] = Counter()
    for part in partials:
        histogram.merge(part.counts, part.low_us, part.high_us, part.total_us)
        statuses.update(part.statuses)
        errors.update(part.errors)
        x_cache.update(part.x_cache)
        pops.update(part.pops)
    total = histogram.count
    successes = sum(part.successes for part in partials)
    cacheable = sum(part.cacheable for part in partials)
    hits = sum(part.hits for part in partials)
    elapsed = max(part.elapsed_s for part in partials)
    found = histogram.percentiles_ms(_PERCENTS)
    latency = LatencyMs(
        p50=found[50.0],
        p90=found[90.0],
        p95=found[95.0],
        p99=found[99.0],
        p999=found[99.9],
        max=round(histogram.max_ms(), 3),
        mean=round(histogram.mean_ms(), 3),
    )
    share = successes / total if total else 0.0
    failures = _failures(bounds, share, successes, total, latency["p95"])
    return Measurement(
        url=plan.url,
        paths=list(dict.fromkeys(plan.cycle)),
        rate=plan.rate,
        concurrency=plan.concurrency,
        processes=plan.processes,
        total=total,
        successes=successes,
        availability=share,
        status_counts={str(code): count for code, count in sorted(statuses.items())},
        errors=ErrorCounts(
            timeout=errors["timeout"],
            refused=errors["refused"],
            reset=errors["reset"],
            tls=errors["tls"],
            other=errors["other"],
        ),
        latency_ms=latency,
        p50_ms=latency["p50"],
        p95_ms=latency["p95"],
        p99_ms=latency["p99"],
        x_cache=dict(sorted(x_cache.items())),
        hit_ratio=round(hits / cacheable, 6) if cacheable else None,
        pops=dict(sorted(pops.items())),
        late=sum(part.late for part in partials),
        unsent=sum(part.unsent for part in partials),
        achieved_rate=round(total / elapsed, 1) if elapsed > 0 else 0.0,
        elapsed_s=round(elapsed, 3),
        timeline=_timeline(partials),
        ok=not failures,
        failures=failures,
    )


def _failures(bounds: Bounds, share: float, successes: int, total: int, p95: float) -> list[str]:
    failures = []
    if not total:
        failures.append("No request was answered or failed: the load sent nothing.")
    elif share < bounds.min_availability:
        failures.append(
            f"Availability was {share:.3f} ({successes} of {total} requests answered with an "
            f"expected status), below the minimum of {bounds.min_availability:.3f}."
        )
    if bounds.max_p95_ms > 0 and p95 > bounds.max_p95_ms:
        failures.append(
            f"The 95th percentile latency was {p95:.1f} ms, above the maximum of "
            f"{bounds.max_p95_ms:.1f} ms."
        )
    return failures


def _timeline(partials: list[_Partial]) -> list[TimelineSecond]:
    """Rows by second; with several processes, percentiles are request-weighted means."""
    merged: dict[int, list[float]] = {}
    for part in partials:
        for second, requests, successes, errors, p50, p99, high in part.rows:
            row = merged.setdefault(second, [0, 0, 0, 0.0, 0.0, 0.0])
            row[0] += requests
            row[1] += successes
            row[2] += errors
            row[3] += p50 * requests
            row[4] += p99 * requests
            row[5] = max(row[5], high)
    return [
        TimelineSecond(
            second=second,
            requests=int(row[0]),
            successes=int(row[1]),
            errors=int(row[2]),
            p50_ms=round(row[3] / row[0], 3),
            p99_ms=round(row[4] / row[0], 3),
            max_ms=round(row[5], 3),
        )
        for second, row in sorted(merged.items())
    ]
