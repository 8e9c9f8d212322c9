"""How the edge caches the site: hit ratio, ``Age``, and which origin served each page.

:func:`cache_statistics` GETs each of ``paths`` ``rounds`` times, one request at a time
(so that a miss is followed by the hit it should cause, with no request collapsing), and
reports the ``X-Cache`` labels, the hit ratio, the ``Age`` of cached answers and the
origin of each page.

Which origin served a page (``origin`` of each page) is read from the page itself: the
demo site's ``<meta name="chaos-demo-origin" content="primary">`` (``"secondary"`` in the
failover bucket's copy), else the header ``x-amz-meta-chaos-origin``: the S3 object
metadata ``chaos-origin``, which S3 answers as that header and CloudFront passes on. The
sandbox tags every object of its buckets so (``primary``, ``secondary``), whichever site it
serves; on a real site, tag the secondary bucket's objects (``aws s3 cp public
s3://BUCKET-failover --recursive --metadata chaos-origin=secondary``). A cached page keeps
the origin it was fetched from. ``origin`` in the result is the one origin every answer
named, ``"mixed"`` when answers disagree, and ``""`` when no answer named one.

The hit ratio is CloudFront's CacheHitRate: ``Hit`` and ``RefreshHit`` answers over
``Hit``, ``RefreshHit`` and ``Miss`` ones (errors are not cacheable); null when none.

Examples: the warm site is served from cache, and from the primary origin::

        - type: probe
          name: pages-come-from-the-cache
          tolerance: {type: range, target: hit_ratio, range: [0.9, 1.0]}
          provider:
            type: python
            module: probes.cache
            func: cache_statistics
            arguments: {paths: ["/", "/posts/"], rounds: 2}
        - type: probe
          name: pages-come-from-the-primary-origin
          tolerance: {type: regex, target: origin, pattern: "^primary$"}
          provider:
            type: python
            module: probes.cache
            func: cache_statistics
            arguments: {paths: ["/", "/posts/"]}
"""

import math
import statistics
from collections import Counter
from typing import Any, TypedDict

from chaoslib.exceptions import ActivityFailed

from chaos_runner.activity import activity
from probes import _arguments, _client, _loop

__all__ = ["AgeSeconds", "CacheStatistics", "PageCache", "cache_statistics", "expect_origin"]

MAX_ROUNDS = 100
MAX_TIMEOUT_S = 300.0

Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None


class AgeSeconds(TypedDict):
    """The ``Age`` header of the answers that carried one, in seconds."""

    count: int
    min: int | None
    p50: int | None
    max: int | None
    mean: float | None


class PageCache(TypedDict):
    """The last answer for one path."""

    status: int | None
    x_cache: str | None
    age: int | None
    origin: str | None
    error: str | None


class CacheStatistics(TypedDict):
    """The cache view of a sample of pages; JSON-safe."""

    url: str
    paths: list[str]
    total: int
    status_counts: dict[str, int]
    errors: dict[str, int]
    x_cache: dict[str, int]
    hits: int
    misses: int
    hit_ratio: float | None
    age: AgeSeconds
    origins: dict[str, int]
    origin: str
    pops: dict[str, int]
    pages: dict[str, PageCache]


@activity
def cache_statistics(
    paths: str | list[str] = "/",
    rounds: int = 1,
    timeout: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> CacheStatistics:
    """GET every path ``rounds`` times, one at a time; report how the edge's cache answered.

    ``pages`` holds the last answer of each path; the counts cover every answer.
    """
    url = _arguments.site_url(configuration)
    pages = _arguments.pages(paths, configuration)
    count = int(_arguments.number("rounds", rounds, 1, MAX_ROUNDS, whole=True))
    timeout_s = _arguments.number("timeout", timeout, 0.0, MAX_TIMEOUT_S, exclusive_low=True)
    answers = _loop.run(_sequence(url, pages, count, timeout_s))
    return _statistics(url, pages, answers)


@activity
def expect_origin(
    paths: str | list[str] = "/",
    origin: str = "secondary",
    timeout: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> CacheStatistics:
    """Like :func:`cache_statistics` (one round), but fail the activity unless every page
    named the ``origin`` (``primary`` or ``secondary``): a failover states it.

    The sentence says, page by page, what came instead and what that usually means.
    """
    statistics = cache_statistics(paths, 1, timeout, configuration, secrets)
    wrong = {
        path: _why_not(page)
        for path, page in statistics["pages"].items()
        if page.get("origin") != origin
    }
    if wrong:
        seen = "; ".join(f"{path} {why}" for path, why in wrong.items())
        raise ActivityFailed(
            f"Expected every page of {statistics['url']} to come from the {origin} origin, "
            f"but {len(wrong)} did not: {seen}."
        )
    return statistics


def _why_not(page: PageCache) -> str:
    """What a page that did not come from the wanted origin showed, and its usual cause."""
    if page["error"] is not None:
        return f"got no answer ({page['error']})"
    origin, status, x_cache = page["origin"], page["status"], page["x_cache"] or "no X-Cache"
    if origin and x_cache.lower().startswith(("hit", "refreshhit")):
        return (
            f"came from the {origin} origin out of the edge cache ({status}, {x_cache}): it "
            "was cached before the fault, so the edge never asked an origin"
        )
    if origin:
        return f"came from the {origin} origin ({status}, {x_cache})"
    if status is not None and status >= 400:
        return (
            f"answered {status} ({x_cache}) from no origin: the page is not behind an "
            "origin group, or the group's failover status codes do not include the error"
        )
    return (
        f"answered {status} ({x_cache}) without naming its origin: neither the "
        "chaos-demo-origin meta tag nor the x-amz-meta-chaos-origin header (tag the "
        "secondary bucket's objects: aws s3 cp --metadata chaos-origin=secondary)"
    )


async def _sequence(
    url: str, pages: list[str], rounds: int, timeout_s: float
) -> list[tuple[str, _client.Answer]]:
    answers = []
    async with _client.session(timeout_s, 1) as session:
        for _ in range(rounds):
            for path in pages:
                answers.append((path, await _client.fetch(session, url + path, digest=True)))
    return answers


def _statistics(
    url: str, pages: list[str], answers: list[tuple[str, _client.Answer]]
) -> CacheStatistics:
    labels = Counter(a.x_cache for _, a in answers if a.x_cache is not None)
    hits = sum(n for label, n in labels.items() if label.lower().startswith(("hit", "refresh")))
    misses = sum(n for label, n in labels.items() if label.lower().startswith("miss"))
    origins = Counter(o for _, a in answers if (o := _origin(a)) is not None)
    last: dict[str, PageCache] = {}
    for path, answer in answers:
        last[path] = PageCache(
            status=answer.status,
            x_cache=answer.x_cache,
            age=answer.age,
            origin=_origin(answer),
            error=None if answer.error is None else f"{answer.error}: {answer.detail}",
        )
    return CacheStatistics(
        url=url,
        paths=pages,
        total=len(answers),
        status_counts=_counts(str(a.status) for _, a in answers if a.status is not None),
        errors=_counts(a.error for _, a in answers if a.error is not None),
        x_cache=dict(sorted(labels.items())),
        hits=hits,
        misses=misses,
        hit_ratio=round(hits / (hits + misses), 6) if hits + misses else None,
        age=_ages([a.age for _, a in answers if a.age is not None]),
        origins=dict(sorted(origins.items())),
        origin="" if not origins else next(iter(origins)) if len(origins) == 1 else "mixed",
        pops=_counts(a.pop for _, a in answers if a.pop is not None),
        pages={path: last[path] for path in pages},
    )


def _origin(answer: _client.Answer) -> str | None:
    """The origin the page names: its meta marker, else its ``x-amz-meta-chaos-origin``."""
    if answer.marker is not None:
        return answer.marker
    header = (answer.origin_header or "").strip()
    return header or None


def _counts(values: Any) -> dict[str, int]:
    return dict(sorted(Counter[str](values).items()))


def _ages(ages: list[int]) -> AgeSeconds:
    if not ages:
        return AgeSeconds(count=0, min=None, p50=None, max=None, mean=None)
    ordered = sorted(ages)
    return AgeSeconds(
        count=len(ordered),
        min=ordered[0],
        p50=ordered[max(1, math.ceil(len(ordered) / 2)) - 1],
        max=ordered[-1],
        mean=round(statistics.fmean(ordered), 3),
    )
