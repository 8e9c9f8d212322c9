"""What readers see at ``CHAOS_SITE_URL``: availability, latency, cache status, content.

Every probe here only sends GET requests; none changes anything (invariant 1). The site is
``configuration["site_url"]`` when set, else the ``CHAOS_SITE_URL`` environment variable.

Load probes
    :func:`availability` and :func:`latency_percentiles` send ``requests`` GETs (or as many
    as fit in ``duration`` seconds), round-robin over ``paths``, at most ``concurrency`` in
    flight, and return one :class:`~probes.load.Measurement`: they are the closed-model
    form of :func:`probes.load.measurement` (use that one for a constant arrival rate).
    Redirects are not followed: the answer of the edge is what is measured. A request that
    got no answer (timeout, refused, reset, TLS) counts as failed and, in the latency
    figures, as taking ``timeout`` seconds: the longest the probe waited. Percentiles are
    nearest-rank, to three significant digits (:mod:`probes.histogram`).

Page probes
    :func:`responses` records, for each page, the status, ``X-Cache``, ``Age``, size and
    SHA-256 of the body; :func:`expect_responses` does the same and raises ``ActivityFailed``
    naming every page that did not answer as expected. :func:`expect_misses` checks what
    readers get when the edge has to ask the origin (status and least latency), and lets a
    page the edge served from its cache pass. (To watch the site through a fault and its
    recovery, see :mod:`probes.watch`.)

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
import dataclasses
import logging
from typing import Any, TypedDict

from chaoslib.exceptions import ActivityFailed

from chaos_runner.activity import activity
from chaos_runner.arguments import flag
from probes import _arguments, _client, _loop
from probes._arguments import StatusSpec
from probes.load import Bounds, ErrorCounts, LatencyMs, LoadPlan, Measurement, measure

__all__ = [
    "ErrorCounts",
    "LatencyMs",
    "Measurement",
    "PageResponse",
    "TimedPageResponse",
    "availability",
    "bounds_held",
    "expect_misses",
    "expect_responses",
    "latency_percentiles",
    "responses",
]

#: Upper bounds that keep every probe bounded in count and time.
MAX_REQUESTS = 100_000
MAX_DURATION_S = 3600.0
MAX_CONCURRENCY = 1000
MAX_TIMEOUT_S = 300.0
MAX_PAGES = _arguments.MAX_PAGES

# Chaos Toolkit configures this logger; messages on it show in the run's output.
_log = logging.getLogger("chaostoolkit")

Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None


class PageResponse(TypedDict):
    """One page as served: ``status`` is None (and ``error`` says why) when no answer came."""

    status: int | None
    x_cache: str | None
    age: int | None
    bytes: int
    sha256: str | None
    error: str | None


class TimedPageResponse(PageResponse):
    """One page as served, with how long it took and whether the edge served it from cache."""

    ms: float
    from_cache: bool


# -- probes ------------------------------------------------------------------------------


@activity
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
    duration_s = _arguments.number("duration", duration, 0.0, MAX_DURATION_S)
    plan = LoadPlan(
        url=_arguments.site_url(configuration),
        cycle=tuple(_arguments.paths(paths, configuration)),
        requests=int(_arguments.number("requests", requests, 1, MAX_REQUESTS, whole=True)),
        duration_s=duration_s,
        concurrency=int(
            _arguments.number("concurrency", concurrency, 1, MAX_CONCURRENCY, whole=True)
        ),
        timeout_s=_arguments.number("timeout", timeout, 0.0, MAX_TIMEOUT_S, exclusive_low=True),
        expected=_arguments.statuses("expect_status", expect_status),
    )  # fmt: skip
    if duration_s > 0:  # a duration bounds the load by time; the count is only a safety cap
        plan = dataclasses.replace(plan, requests=MAX_REQUESTS)
    bounds = Bounds(
        min_availability=_arguments.number("min_availability", min_availability, 0.0, 1.0),
        max_p95_ms=_arguments.number("max_p95_ms", max_p95_ms, 0.0, MAX_TIMEOUT_S * 1000),
    )
    return measure(plan, bounds)


@activity
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


@activity
def responses(
    paths: str | list[str],
    timeout: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, PageResponse]:
    """One GET per path: status, ``X-Cache``, ``Age``, size and SHA-256 of each page.

    A page that got no answer has ``status: null`` and an ``error`` naming the cause.
    """
    return _responses(_arguments.site_url(configuration), paths, timeout, configuration)


@activity
def expect_responses(
    paths: str | list[str],
    status: int | str | list[int] | list[str] = 200,
    x_cache: str = "",
    timeout: float = 5.0,
    refetched_within_s: float = 0.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, PageResponse]:
    """Like :func:`responses`, but fail unless every page answers as expected.

    Every page must answer with ``status`` (a status, a list, or ranges such as
    ``"200-399"``) and, when ``x_cache`` is given, an ``X-Cache`` header containing it
    (case-insensitive). Raises ``ActivityFailed`` naming each page that did not.

    ``refetched_within_s`` (with ``x_cache: Miss``, after a purge): a page served from the
    cache also passes when its ``Age`` is below this many seconds, because another reader
    (real traffic, a safeguard, a game day's observer) made the edge fetch it again since
    the purge. A copy the purge did not remove is older: pause the purge at least this long
    after the pages were warmed, so that such a copy's ``Age`` is at least this.
    """
    url = _arguments.site_url(configuration)
    expected = _arguments.statuses("status", status)
    fresh_s = _arguments.number("refetched_within_s", refetched_within_s, 0.0, 3600.0)
    pages = _responses(url, paths, timeout, configuration)

    def refetched(page: PageResponse) -> bool:
        age = page["age"]
        return bool(fresh_s) and _from_cache(page["x_cache"]) and age is not None and age < fresh_s

    wrong = {
        path: page
        for path, page in pages.items()
        if page["status"] not in expected
        or (x_cache.lower() not in (page["x_cache"] or "").lower() and not refetched(page))
    }
    for path, page in pages.items():
        if (
            path not in wrong
            and refetched(page)
            and x_cache.lower() not in (page["x_cache"] or "").lower()
        ):
            _log.info(
                "%s was served from the edge cache with Age %s s: another reader made the "
                "edge fetch it again within the last %s s.",
                path,
                page["age"],
                f"{fresh_s:g}",
            )
    if wrong:
        raise ActivityFailed(_mismatch_message(url, expected, x_cache, wrong))
    return pages


@activity
def expect_misses(
    paths: str | list[str],
    status: int | str | list[int] | list[str] = "200-399",
    min_ms: float = 0.0,
    allow_cached: bool = True,
    timeout: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, TimedPageResponse]:
    """One GET per path: fail unless every page the edge had to fetch answered as expected.

    A page the edge did not serve from its cache (``X-Cache`` other than ``Hit`` or
    ``RefreshHit``, or none, or no answer at all) is a miss: it must answer with
    ``status`` (a status, a list, or ranges such as ``"500-599"``) after at least ``min_ms``
    milliseconds, which is what readers get from the origin during a fault. A page the edge
    served from its cache (a reader requested it before) tells nothing about the origin:
    it must answer 200-399, is reported with ``from_cache: true``, and is logged; with
    ``allow_cached: false`` it fails instead (for pages nothing can have requested before,
    as on the sandbox). Raises ``ActivityFailed`` naming each page that did not answer as
    expected. Each page's result is that of :func:`responses`, with ``ms`` (how long it
    took) and ``from_cache``.
    """
    url = _arguments.site_url(configuration)
    expected = _arguments.statuses("status", status)
    floor_ms = _arguments.number("min_ms", min_ms, 0.0, MAX_TIMEOUT_S * 1000)
    cached_passes = flag("allow_cached", allow_cached)
    pages = _arguments.pages(paths, configuration)
    timeout_s = _arguments.number("timeout", timeout, 0.0, MAX_TIMEOUT_S, exclusive_low=True)
    answers = _loop.run(_fetch_each(url, pages, timeout_s))
    timed = {
        path: TimedPageResponse(
            **_page(answer),
            ms=round(answer.elapsed_s * 1000, 3),
            from_cache=_from_cache(answer.x_cache),
        )
        for path, answer in zip(pages, answers, strict=True)
    }
    wrong: list[str] = []
    for path, page in timed.items():
        if page["from_cache"]:
            if not cached_passes or page["status"] not in _arguments.DEFAULT_EXPECTED:
                wrong.append(
                    f"{path} answered {page['status']} from the edge cache "
                    f"(X-Cache {page['x_cache']!r}), not from the origin"
                )
            else:
                _log.info(
                    "%s was served from the edge cache (X-Cache %r): a reader requested it "
                    "before, so it tells nothing about the origin.",
                    path,
                    page["x_cache"],
                )
        elif page["status"] is None:
            wrong.append(f"{path} got no answer ({page['error']})")
        elif page["status"] not in expected or page["ms"] < floor_ms:
            wrong.append(
                f"{path} answered {page['status']} with X-Cache {page['x_cache']!r} in "
                f"{page['ms']:.0f} ms"
            )
    if wrong:
        wanted = f"status {_arguments.describe_statuses(expected)}"
        if floor_ms > 0:
            wanted += f" after at least {floor_ms:g} ms"
        raise ActivityFailed(
            f"Expected every page of {url} that the edge fetched from the origin to answer "
            f"{wanted}, but {len(wrong)} did not: {'; '.join(wrong)}."
        )
    return timed


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


# -- pages ---------------------------------------------------------------------------------


def _page(answer: _client.Answer) -> PageResponse:
    return PageResponse(
        status=answer.status,
        x_cache=answer.x_cache,
        age=answer.age,
        bytes=answer.size,
        sha256=answer.sha256,
        error=None if answer.error is None else f"{answer.error}: {answer.detail}",
    )


def _from_cache(x_cache: str | None) -> bool:
    """True for an answer the edge served from its cache (``Hit``, ``RefreshHit``)."""
    label = (x_cache or "").strip().lower()
    return label.startswith(("hit", "refreshhit"))


def _responses(
    url: str, paths: str | list[str], timeout: float, configuration: Configuration
) -> dict[str, PageResponse]:
    pages = _arguments.pages(paths, configuration)
    timeout_s = _arguments.number("timeout", timeout, 0.0, MAX_TIMEOUT_S, exclusive_low=True)
    answers = _loop.run(_fetch_each(url, pages, timeout_s))
    return {path: _page(answer) for path, answer in zip(pages, answers, strict=True)}


async def _fetch_each(url: str, paths: list[str], timeout_s: float) -> list[_client.Answer]:
    async with _client.session(timeout_s, min(len(paths), MAX_CONCURRENCY)) as session:
        return list(
            await asyncio.gather(
                *(_client.fetch(session, url + path, digest=True) for path in paths)
            )
        )


def _mismatch_message(
    url: str, expected: frozenset[int], x_cache: str, wrong: dict[str, PageResponse]
) -> str:
    wanted = f"status {_arguments.describe_statuses(expected)}"
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
