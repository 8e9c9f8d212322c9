"""What readers see at ``CHAOS_SITE_URL``: availability, latency, cache status, content.

Every probe here only sends GET requests; none changes anything (invariant 1). The site is
``configuration["site_url"]`` when set, else the ``CHAOS_SITE_URL`` environment variable.

Load probes
    :func:`availability` and :func:`latency_percentiles` send ``requests`` GETs (or as many
    as fit in ``duration`` seconds), round-robin over ``paths``, at most ``concurrency`` in
    flight, and return one :class:`Measurement`. Redirects are not followed: the answer of
    the edge is what is measured. A request that got no answer (timeout, refused, reset)
    counts as failed and, in the latency figures, as taking ``timeout`` seconds: the
    longest the probe waited. Percentiles are nearest-rank over all samples.

Watch probes
    :func:`responses` records, for each page, the status, ``X-Cache``, ``Age``, size and
    SHA-256 of the body; :func:`expect_responses` does the same and raises ``ActivityFailed``
    naming every page that did not answer as expected.

Tolerances (checked against chaostoolkit-lib 1.44)
    A plain ``tolerance: true`` never matches a result dict (chaoslib compares
    ``value == True``), and a ``type: range`` tolerance reads only a top-level key through
    ``target``. So the result keeps the figures steady states are judged by at top level:
    ``availability`` (0..1) and ``p95_ms``. The readable form is a native range tolerance::

        - type: probe
          name: pages-are-available
          tolerance: {type: range, target: availability, range: [0.99, 1.0]}
          provider:
            type: python
            module: probes.http
            func: availability
            arguments: {paths: ["/", "/posts/"], requests: 40}
        - type: probe
          name: home-page-is-fast
          tolerance: {type: range, target: p95_ms, range: [0, 500]}
          provider:
            type: python
            module: probes.http
            func: latency_percentiles
            arguments: {paths: "/", requests: 20}

    To judge availability and latency on the same measurement, give the bounds to the probe
    (``min_availability``, ``max_p95_ms``); the result's ``ok`` and ``failures`` say whether
    they held and why not, and :func:`bounds_held` is the tolerance that reads them
    (``arguments: {}`` is required: chaoslib writes the probe's result into it as
    ``value``)::

        - type: probe
          name: pages-are-available-and-fast
          tolerance:
            type: probe
            name: bounds-held
            provider: {type: python, module: probes.http, func: bounds_held, arguments: {}}
          provider:
            type: python
            module: probes.http
            func: availability
            arguments: {paths: ["/", "/posts/"], requests: 40, min_availability: 0.99,
                        max_p95_ms: 500}
"""

import asyncio
import concurrent.futures
import errno
import hashlib
import itertools
import logging
import math
import statistics
import time
from collections import Counter
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, TypeVar

import aiohttp
from chaoslib.exceptions import ActivityFailed

from chaos_runner import ConfigurationError
from chaos_runner.target import Target

__all__ = [
    "ErrorCounts",
    "LatencyMs",
    "Measurement",
    "PageResponse",
    "availability",
    "bounds_held",
    "expect_responses",
    "latency_percentiles",
    "responses",
]

#: Upper bounds that keep every probe bounded in count and time.
MAX_REQUESTS = 100_000
MAX_DURATION_S = 3600.0
MAX_CONCURRENCY = 1000
MAX_TIMEOUT_S = 300.0
MAX_PAGES = 1000

_DEFAULT_EXPECTED = frozenset(range(200, 400))
_USER_AGENT = "chaostoolkit-cdn-probe"
# Chaos Toolkit configures this logger; messages on it show in the run's output.
_log = logging.getLogger("chaostoolkit")

Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None
StatusSpec = int | str | list[int] | list[str] | None
ErrorKind = Literal["timeout", "refused", "reset", "other"]
_T = TypeVar("_T")


class ErrorCounts(TypedDict):
    """Requests that got no HTTP answer, by cause."""

    timeout: int
    refused: int
    reset: int
    other: int


class LatencyMs(TypedDict):
    """Latency figures in milliseconds, exact over the samples (nearest-rank percentiles)."""

    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    mean: float


class Measurement(TypedDict):
    """The result of a load probe; JSON-safe, as Chaos Toolkit stores it in the journal."""

    url: str
    paths: list[str]
    total: int
    successes: int
    availability: float
    status_counts: dict[str, int]
    errors: ErrorCounts
    latency_ms: LatencyMs
    p95_ms: float
    x_cache: dict[str, int]
    elapsed_s: float
    ok: bool
    failures: list[str]


class PageResponse(TypedDict):
    """One page as served: ``status`` is None (and ``error`` says why) when no answer came."""

    status: int | None
    x_cache: str | None
    age: int | None
    bytes: int
    sha256: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class _Answer:
    """One GET: what came back, or which error stopped it, and how long it took."""

    elapsed_s: float
    status: int | None = None
    x_cache: str | None = None
    age: int | None = None
    size: int = 0
    sha256: str | None = None
    error: ErrorKind | None = None
    detail: str = ""

    def page(self) -> PageResponse:
        return PageResponse(
            status=self.status,
            x_cache=self.x_cache,
            age=self.age,
            bytes=self.size,
            sha256=self.sha256,
            error=None if self.error is None else f"{self.error}: {self.detail}",
        )


@dataclass(frozen=True, slots=True)
class _LoadPlan:
    """A validated load: where, how much, how fast, and which statuses count as success."""

    url: str
    paths: tuple[str, ...]
    requests: int
    duration_s: float
    concurrency: int
    timeout_s: float
    expected: frozenset[int]

    def admits(self, index: int, deadline: float | None) -> bool:
        """Whether request number ``index`` may start now."""
        if deadline is None:
            return index < self.requests
        return index < MAX_REQUESTS and time.perf_counter() < deadline


@dataclass(frozen=True, slots=True)
class _Bounds:
    """What a load probe's ``ok`` is judged by; ``max_p95_ms == 0`` means no latency bound."""

    min_availability: float
    max_p95_ms: float


# -- probes ------------------------------------------------------------------------------


def availability(
    paths: str | list[str] = "/",
    requests: int = 20,
    duration: float = 0.0,
    concurrency: int = 10,
    timeout: float = 5.0,
    expect_status: StatusSpec = None,
    min_availability: float = 1.0,
    max_p95_ms: float = 0.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Measurement:
    """Share of GETs on ``paths`` that answer with an expected status.

    Sends ``requests`` GETs, or as many as fit in ``duration`` seconds when ``duration`` is
    above 0, round-robin over ``paths`` with at most ``concurrency`` in flight; each may
    take ``timeout`` seconds. ``expect_status`` is a status, a list, or ranges such as
    ``"200-399"`` (the default). ``ok`` is true when availability is at least
    ``min_availability`` and, if ``max_p95_ms`` is above 0, the 95th percentile latency is
    at most ``max_p95_ms``.
    """
    plan = _load_plan(
        paths=paths,
        requests=requests,
        duration=duration,
        concurrency=concurrency,
        timeout=timeout,
        expect_status=expect_status,
        configuration=configuration,
    )
    return _run(_measure(plan, _bounds(min_availability, max_p95_ms)))


def latency_percentiles(
    paths: str | list[str] = "/",
    requests: int = 20,
    duration: float = 0.0,
    concurrency: int = 10,
    timeout: float = 5.0,
    expect_status: StatusSpec = None,
    min_availability: float = 0.0,
    max_p95_ms: float = 0.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Measurement:
    """Latency percentiles of GETs on ``paths``, in milliseconds.

    The same measurement as :func:`availability`, judged by latency: ``ok`` is true when
    the 95th percentile is at most ``max_p95_ms`` (0, the default, sets no bound) and
    availability is at least ``min_availability`` (0 by default). A request that got no
    answer counts as taking ``timeout`` seconds.
    """
    return availability(
        paths,
        requests,
        duration,
        concurrency,
        timeout,
        expect_status,
        min_availability,
        max_p95_ms,
        configuration,
        secrets,
    )


def responses(
    paths: str | list[str],
    timeout: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, PageResponse]:
    """One GET per path: status, ``X-Cache``, ``Age``, size and SHA-256 of each page.

    A page that got no answer has ``status: null`` and an ``error`` naming the cause.
    """
    return _responses(_site_url(configuration), paths, timeout)


def expect_responses(
    paths: str | list[str],
    status: int | str | list[int] | list[str] = 200,
    x_cache: str = "",
    timeout: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, PageResponse]:
    """Like :func:`responses`, but fail unless every page answers as expected.

    Every page must answer with ``status`` (a status, a list, or ranges such as
    ``"200-399"``) and, when ``x_cache`` is given, an ``X-Cache`` header containing it
    (case-insensitive). Raises ``ActivityFailed`` naming each page that did not.
    """
    url = _site_url(configuration)
    expected = _statuses("status", status)
    pages = _responses(url, paths, timeout)
    wrong = {
        path: page
        for path, page in pages.items()
        if page["status"] not in expected or x_cache.lower() not in (page["x_cache"] or "").lower()
    }
    if wrong:
        raise ActivityFailed(_mismatch_message(url, expected, x_cache, wrong))
    return pages


def bounds_held(
    value: dict[str, Any] | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """Tolerance for a load probe's result: true when its ``ok`` is true.

    Use as a ``type: probe`` tolerance with ``arguments: {}``; chaoslib passes the probe's
    result as ``value``. The reasons for a false are logged, since chaoslib does not show
    them otherwise.
    """
    if not isinstance(value, dict) or not isinstance(value.get("ok"), bool):
        _log.warning(
            "bounds_held expects the result of probes.http.availability or "
            "latency_percentiles (a mapping with a boolean 'ok'); got %r.",
            value,
        )
        return False
    for failure in value.get("failures") or ():
        _log.warning("%s", failure)
    return bool(value["ok"])


# -- measuring ---------------------------------------------------------------------------


def _run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coroutine`` to completion from synchronous code, in any thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Called from code that runs an event loop in this thread: asyncio.run cannot nest,
    # so the probe gets its own loop in a worker thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _session(timeout_s: float, concurrency: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        connector=aiohttp.TCPConnector(limit=concurrency),
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": _USER_AGENT},
    )


async def _fetch(session: aiohttp.ClientSession, url: str, *, digest: bool = False) -> _Answer:
    """GET ``url`` and read the whole body; a failure is classified, never raised.

    The body is not kept (a load may send 100000 requests); with ``digest`` its SHA-256 is.
    """
    started = time.perf_counter()
    try:
        async with session.get(url, allow_redirects=False) as response:
            body = await response.read()
    except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
        detail = str(exc) or type(exc).__name__
        return _Answer(time.perf_counter() - started, error=_classify(exc), detail=detail)
    return _Answer(
        time.perf_counter() - started,
        status=response.status,
        x_cache=response.headers.get("X-Cache"),
        age=_age(response.headers.get("Age")),
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest() if digest else None,
    )


def _classify(exc: BaseException) -> ErrorKind:
    """Name the cause of a request that got no HTTP answer."""
    if isinstance(exc, TimeoutError):  # asyncio's and aiohttp's timeouts included
        return "timeout"
    code = getattr(exc, "errno", None)
    if isinstance(exc, ConnectionRefusedError) or code == errno.ECONNREFUSED:
        return "refused"
    reset_types = (
        aiohttp.ServerDisconnectedError,
        aiohttp.ClientPayloadError,
        ConnectionResetError,
    )
    if isinstance(exc, reset_types) or code in {errno.ECONNRESET, errno.EPIPE}:
        return "reset"
    return "other"


def _age(header: str | None) -> int | None:
    return int(header) if header is not None and header.strip().isdigit() else None


def _responses(url: str, paths: str | list[str], timeout: float) -> dict[str, PageResponse]:
    pages = _pages(paths)
    timeout_s = _number("timeout", timeout, 0.0, MAX_TIMEOUT_S, exclusive_low=True)
    answers = _run(_fetch_each(url, pages, timeout_s))
    return {path: answer.page() for path, answer in zip(pages, answers, strict=True)}


async def _fetch_each(url: str, paths: Sequence[str], timeout_s: float) -> list[_Answer]:
    async with _session(timeout_s, min(len(paths), MAX_CONCURRENCY)) as session:
        return list(
            await asyncio.gather(*(_fetch(session, url + path, digest=True) for path in paths))
        )


async def _load(plan: _LoadPlan) -> list[_Answer]:
    """Send the plan's requests; answers come back in completion order."""
    answers: list[_Answer] = []
    numbers = itertools.count()  # shared by the workers: request numbers in start order
    deadline = time.perf_counter() + plan.duration_s if plan.duration_s > 0 else None

    async def worker(session: aiohttp.ClientSession) -> None:
        for index in numbers:
            if not plan.admits(index, deadline):
                return
            path = plan.paths[index % len(plan.paths)]
            answers.append(await _fetch(session, plan.url + path))

    workers = plan.concurrency if deadline is not None else min(plan.concurrency, plan.requests)
    async with _session(plan.timeout_s, plan.concurrency) as session:
        await asyncio.gather(*(worker(session) for _ in range(workers)))
    return answers


async def _measure(plan: _LoadPlan, bounds: _Bounds) -> Measurement:
    started = time.perf_counter()
    answers = await _load(plan)
    return _summary(plan, bounds, answers, time.perf_counter() - started)


def _summary(
    plan: _LoadPlan, bounds: _Bounds, answers: Sequence[_Answer], elapsed_s: float
) -> Measurement:
    answered = [answer for answer in answers if answer.status is not None]
    successes = sum(1 for answer in answered if answer.status in plan.expected)
    errors = Counter(answer.error for answer in answers if answer.error is not None)
    samples = [
        answer.elapsed_s if answer.status is not None else plan.timeout_s for answer in answers
    ]
    latency = _latency_ms(samples)
    share = successes / len(answers)
    failures = _failures(bounds, share, successes, len(answers), latency["p95"])
    return Measurement(
        url=plan.url,
        paths=list(plan.paths),
        total=len(answers),
        successes=successes,
        availability=share,
        status_counts=_counts(str(answer.status) for answer in answered),
        errors=ErrorCounts(
            timeout=errors["timeout"],
            refused=errors["refused"],
            reset=errors["reset"],
            other=errors["other"],
        ),
        latency_ms=latency,
        p95_ms=latency["p95"],
        x_cache=_counts(answer.x_cache for answer in answered if answer.x_cache is not None),
        elapsed_s=round(elapsed_s, 3),
        ok=not failures,
        failures=failures,
    )


def _counts(values: Any) -> dict[str, int]:
    return dict(sorted(Counter[str](values).items()))


def _latency_ms(samples_s: Sequence[float]) -> LatencyMs:
    ordered = sorted(sample * 1000 for sample in samples_s)

    def rank(percent: int) -> float:
        return round(ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1], 3)

    return LatencyMs(
        p50=rank(50),
        p90=rank(90),
        p95=rank(95),
        p99=rank(99),
        max=round(ordered[-1], 3),
        mean=round(statistics.fmean(ordered), 3),
    )


def _failures(bounds: _Bounds, share: float, successes: int, total: int, p95: float) -> list[str]:
    failures = []
    if share < bounds.min_availability:
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


def _mismatch_message(
    url: str, expected: frozenset[int], x_cache: str, wrong: dict[str, PageResponse]
) -> str:
    wanted = f"status {_describe(expected)}"
    if x_cache:
        wanted += f" with an X-Cache header containing {x_cache!r}"
    seen = []
    for path, page in wrong.items():
        if page["status"] is None:
            seen.append(f"{path} got no answer ({page['error']})")
        else:
            seen.append(f"{path} answered {page['status']} with X-Cache {page['x_cache']!r}")
    return (
        f"Expected every page of {url} to answer {wanted}, but {len(wrong)} did not: "
        f"{'; '.join(seen)}."
    )


def _describe(codes: frozenset[int]) -> str:
    """``{200, ..., 399, 404}`` -> ``"200-399 or 404"``."""
    spans: list[list[int]] = []
    for code in sorted(codes):
        if spans and code == spans[-1][1] + 1:
            spans[-1][1] = code
        else:
            spans.append([code, code])
    return " or ".join(str(low) if low == high else f"{low}-{high}" for low, high in spans)


# -- arguments ---------------------------------------------------------------------------


def _site_url(configuration: Configuration) -> str:
    target = Target.resolve(configuration)
    target.require("CHAOS_SITE_URL")
    if not target.site_url.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"CHAOS_SITE_URL must be an http:// or https:// URL; got {target.site_url!r}. "
            "Set it to the address readers use, such as https://www.example.com."
        )
    return target.site_url


def _load_plan(
    *,
    paths: str | list[str],
    requests: int,
    duration: float,
    concurrency: int,
    timeout: float,
    expect_status: StatusSpec,
    configuration: Configuration,
) -> _LoadPlan:
    return _LoadPlan(
        url=_site_url(configuration),
        paths=tuple(_paths(paths)),
        requests=int(_number("requests", requests, 1, MAX_REQUESTS, whole=True)),
        duration_s=_number("duration", duration, 0.0, MAX_DURATION_S),
        concurrency=int(_number("concurrency", concurrency, 1, MAX_CONCURRENCY, whole=True)),
        timeout_s=_number("timeout", timeout, 0.0, MAX_TIMEOUT_S, exclusive_low=True),
        expected=_statuses("expect_status", expect_status),
    )


def _bounds(min_availability: float, max_p95_ms: float) -> _Bounds:
    return _Bounds(
        min_availability=_number("min_availability", min_availability, 0.0, 1.0),
        max_p95_ms=_number("max_p95_ms", max_p95_ms, 0.0, MAX_TIMEOUT_S * 1000),
    )


def _paths(paths: str | list[str]) -> list[str]:
    """The paths as a list, each checked to start with "/" (round-robin keeps repeats)."""
    items = [paths] if isinstance(paths, str) else paths
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_PAGES:
        raise ConfigurationError(
            f"`paths` must be a path or a list of 1 to {MAX_PAGES} paths; got {paths!r}."
        )
    for path in items:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigurationError(
                f"Every path must be a string starting with '/', such as '/posts/'; got "
                f"{path!r}. The site's address comes from CHAOS_SITE_URL, not from `paths`."
            )
    return list(items)


def _pages(paths: str | list[str]) -> list[str]:
    """The paths for the watch probes: checked, each once, in the given order."""
    return list(dict.fromkeys(_paths(paths)))


def _number(
    name: str,
    value: object,
    low: float,
    high: float,
    *,
    whole: bool = False,
    exclusive_low: bool = False,
) -> float:
    """``value`` as a number within bounds; numeric strings (from ``${...}``) are accepted."""
    kind = "a whole number" if whole else "a number"
    above = f"above {low:g}" if exclusive_low else f"from {low:g}"
    rule = f"`{name}` must be {kind} {above} to {high:g}"
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(value)
        number = float(value)
    except ValueError:
        raise ConfigurationError(f"{rule}; got {value!r}.") from None
    too_low = number <= low if exclusive_low else number < low
    if too_low or number > high or (whole and not number.is_integer()) or math.isnan(number):
        raise ConfigurationError(f"{rule}; got {value!r}.")
    return number


def _statuses(name: str, spec: StatusSpec) -> frozenset[int]:
    """Parse ``200``, ``"200-399"``, ``"200,404"`` or ``[200, "300-308"]`` into codes."""
    if spec is None:
        return _DEFAULT_EXPECTED
    items: list[int] | list[str] = (
        spec.split(",") if isinstance(spec, str) else (spec if isinstance(spec, list) else [spec])
    )
    codes: set[int] = set()
    for item in items:
        low, _, high = str(item).strip().partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            first, last = 0, -1
        if isinstance(item, bool) or not 100 <= first <= last <= 599:
            raise ConfigurationError(
                f"`{name}` must be HTTP statuses (100-599) such as 200, [200, 304] or "
                f"'200-399'; got {spec!r}."
            )
        codes.update(range(first, last + 1))
    if not codes:
        raise ConfigurationError(f"`{name}` names no HTTP status; got {spec!r}.")
    return frozenset(codes)
