"""How the edge answers errors: which page a lost page shows, and how long an error lingers.

Both probes only send GET requests (and :func:`error_linger` reads the distribution's config
with ``GetDistributionConfig``); neither changes anything.

:func:`expect_error_page`
    A lost page must show the site's own error page: each of ``paths`` answers ``status``
    with the very bytes the edge serves for ``error_page`` (``/404.html``, which answers
    200). An S3 or CloudFront error page, a page that still answers 200, or an error page
    that is itself missing fails the activity, naming each page.

:func:`error_linger`
    CloudFront caches an error answer for the error caching TTL: ``ErrorCachingMinTTL`` of
    the distribution's custom error response for that status, else 10 s (longer when the
    origin's error carries ``Cache-Control: max-age``). So after a lost page is put back,
    readers still get the error until the cached one expires. The probe reads the TTL from
    the distribution's config, then GETs each page every ``interval`` seconds until it
    answers 200-399 (at most ``max_wait`` seconds) and reports how long the error lingered,
    counted from the moment the probe was called. It fails when a page lingered longer or
    shorter than the configured TTL (and than ``expected_ttl``, when given) by more than
    ``tolerance`` seconds, or is not back within ``max_wait``.

    Call it right after the fix, with the error cached just before the fix (a request for
    the page, such as ``probes.http.expect_responses`` with ``status: 404``): the linger is
    then the TTL less the time between that request and the probe, well within a
    ``tolerance`` of a second or two. The linger is measured at one edge location, the one
    ``CHAOS_SITE_URL`` reaches.

Examples::

        - type: probe
          name: the-lost-page-shows-the-404-page
          provider:
            type: python
            module: probes.errors
            func: expect_error_page
            arguments: {paths: "@victim", status: 404, error_page: /404.html}
        - type: probe
          name: the-fixed-page-answers-404-for-the-error-caching-ttl
          provider:
            type: python
            module: probes.errors
            func: error_linger
            arguments: {paths: "@victim", status: 404, expected_ttl: 15, tolerance: 2,
                        max_wait: 30}
"""

import asyncio
import logging
import time
from collections import Counter
from typing import Any, TypedDict

from chaoslib.exceptions import ActivityFailed

from chaos_runner import ConfigurationError
from chaos_runner.activity import activity
from chaos_runner.aws import aws_errors, cloudfront_client
from chaos_runner.target import Target
from probes import _arguments, _client, _loop

__all__ = [
    "DEFAULT_ERROR_CACHING_TTL",
    "ErrorLinger",
    "ErrorPage",
    "ErrorPages",
    "PageLinger",
    "error_linger",
    "expect_error_page",
]

#: CloudFront caches an error for 10 s when no custom error response sets a TTL.
DEFAULT_ERROR_CACHING_TTL = 10.0
#: CloudFront's largest TTL: one year.
MAX_TTL_S = 31_536_000.0
MAX_WAIT_S = 3600.0
MAX_TIMEOUT_S = 300.0
MIN_INTERVAL_S = 0.05
MAX_INTERVAL_S = 60.0
#: At most this many pages are watched at once.
MAX_LINGER_PAGES = 100
_SERVED = range(200, 400)

# Chaos Toolkit configures this logger; messages on it show in the run's output.
_log = logging.getLogger("chaostoolkit")

Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None


class ErrorPage(TypedDict):
    """One answer: status (None when none came, ``error`` says why), ``X-Cache``, body digest."""

    status: int | None
    x_cache: str | None
    bytes: int
    sha256: str | None
    error: str | None


class ErrorPages(TypedDict):
    """The site's error page as served, and what each lost page showed."""

    url: str
    status: int
    error_page: str
    served_error_page: ErrorPage
    pages: dict[str, ErrorPage]


class PageLinger(TypedDict):
    """How long one page kept answering an error after the probe started."""

    #: Seconds from the probe's start to the request that was answered 200-399; None when
    #: the page did not come back within ``max_wait``.
    linger_s: float | None
    first_status: int | None
    first_x_cache: str | None
    back_status: int | None
    polls: int
    #: Answers by status (``"404"``), or by error kind (``"timeout"``) when none came.
    answers: dict[str, int]


class ErrorLinger(TypedDict):
    """The error caching TTL configured, and how long each page lingered."""

    url: str
    distribution_id: str
    status: int
    configured_ttl: float
    ttl_source: str
    expected_ttl: float | None
    tolerance: float
    interval: float
    max_wait: float
    #: The longest linger of the pages (None when one did not come back).
    linger_s: float | None
    pages: dict[str, PageLinger]


# -- the site's error page ------------------------------------------------------------------


@activity
def expect_error_page(
    paths: str | list[str],
    status: int = 404,
    error_page: str = "/404.html",
    timeout: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> ErrorPages:
    """Fail unless every page answers ``status`` with the site's own error page.

    ``error_page`` must answer 200 at the edge; each of ``paths`` must answer ``status``
    with the same bytes (SHA-256). Raises ``ActivityFailed`` naming each page that did not.
    """
    url = _arguments.site_url(configuration)
    code = int(_arguments.number("status", status, 400, 599, whole=True))
    page = _error_page_path(error_page)
    pages = _arguments.pages(paths, configuration)
    timeout_s = _arguments.number("timeout", timeout, 0.0, MAX_TIMEOUT_S, exclusive_low=True)
    answers = _loop.run(_fetch_all(url, [page, *pages], timeout_s))
    served_page, *served = (_error_page(answer) for answer in answers)
    result = ErrorPages(
        url=url,
        status=code,
        error_page=page,
        served_error_page=served_page,
        pages=dict(zip(pages, served, strict=True)),
    )
    problems = _error_page_problems(result)
    if problems:
        raise ActivityFailed(
            f"Expected every page of {url} to answer {code} with the site's error page "
            f"{page}, but {'; '.join(problems)}."
        )
    return result


def _error_page_path(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        raise ConfigurationError(
            "`error_page` must be the path of the site's error page, starting with '/', such "
            f"as '/404.html' (the ResponsePagePath of the custom error response); got {value!r}."
        )
    return value


def _error_page_problems(result: ErrorPages) -> list[str]:
    served_page = result["served_error_page"]
    page = result["error_page"]
    if served_page["status"] != 200:
        seen = (
            f"got no answer ({served_page['error']})"
            if served_page["status"] is None
            else f"answered {served_page['status']}"
        )
        return [f"the error page {page} itself {seen}, so no page can show it"]
    problems = []
    for path, answer in result["pages"].items():
        if answer["status"] is None:
            problems.append(f"{path} got no answer ({answer['error']})")
        elif answer["status"] != result["status"]:
            problems.append(
                f"{path} answered {answer['status']} with X-Cache {answer['x_cache']!r}"
            )
        elif answer["sha256"] != served_page["sha256"]:
            problems.append(
                f"{path} answered {answer['status']} with another page than {page} "
                f"({answer['bytes']} bytes against {served_page['bytes']}: an error page of "
                "S3 or CloudFront, not the site's)"
            )
    return problems


async def _fetch_all(url: str, paths: list[str], timeout_s: float) -> list[_client.Answer]:
    async with _client.session(timeout_s, min(len(paths), 100)) as session:
        return list(
            await asyncio.gather(
                *(_client.fetch(session, url + path, digest=True) for path in paths)
            )
        )


def _error_page(answer: _client.Answer) -> ErrorPage:
    return ErrorPage(
        status=answer.status,
        x_cache=answer.x_cache,
        bytes=answer.size,
        sha256=answer.sha256,
        error=None if answer.error is None else f"{answer.error}: {answer.detail}",
    )


# -- how long an error lingers --------------------------------------------------------------


@activity
def error_linger(
    paths: str | list[str],
    status: int = 404,
    expected_ttl: float | None = None,
    tolerance: float = 2.0,
    max_wait: float = 60.0,
    interval: float = 0.2,
    timeout: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> ErrorLinger:
    """How long each page keeps answering an error; fail unless it matches the error TTL.

    Reads the error caching TTL of ``status`` from the distribution's config
    (``CHAOS_DISTRIBUTION_ID``): the custom error response's ``ErrorCachingMinTTL``, else
    CloudFront's 10 s. Then GETs each of ``paths`` every ``interval`` seconds until it
    answers 200-399, for at most ``max_wait`` seconds. Raises ``ActivityFailed`` when a page
    came back more than ``tolerance`` seconds sooner or later than the configured TTL (or
    than ``expected_ttl``, when given), answered another status than ``status`` first, or
    did not come back within ``max_wait``.
    """
    started = time.monotonic()
    url = _arguments.site_url(configuration)
    code = int(_arguments.number("status", status, 400, 599, whole=True))
    expected = _expected_ttl(expected_ttl)
    slack = _arguments.number("tolerance", tolerance, 0.0, MAX_WAIT_S)
    wait = _arguments.number("max_wait", max_wait, 0.0, MAX_WAIT_S, exclusive_low=True)
    every = _arguments.number("interval", interval, MIN_INTERVAL_S, MAX_INTERVAL_S)
    timeout_s = _arguments.number("timeout", timeout, 0.0, MAX_TIMEOUT_S, exclusive_low=True)
    pages = _arguments.pages(paths, configuration)
    if len(pages) > MAX_LINGER_PAGES:
        raise ConfigurationError(
            f"error_linger watches at most {MAX_LINGER_PAGES} pages at once; got {len(pages)}."
        )
    distribution_id, ttl, source = _configured_ttl(code, configuration)
    lingered = _loop.run(_watch_all(url, pages, started, started + wait, every, timeout_s))
    longest = [page["linger_s"] for page in lingered.values()]
    result = ErrorLinger(
        url=url,
        distribution_id=distribution_id,
        status=code,
        configured_ttl=ttl,
        ttl_source=source,
        expected_ttl=expected,
        tolerance=slack,
        interval=every,
        max_wait=wait,
        linger_s=None if None in longest else max(s for s in longest if s is not None),
        pages=lingered,
    )
    problems = _linger_problems(result)
    for path, page in lingered.items():
        _log.info(
            f"error_linger: {path} came back after "
            + ("more than the wait" if page["linger_s"] is None else f"{page['linger_s']:.2f} s")
            + f" (error caching TTL of {code}: {ttl:g} s, {source})."
        )
    if problems:
        raise ActivityFailed(
            f"Expected the pages of {url} to answer {code} for the error caching TTL "
            f"({_ttl_sentence(result)}) after the fix, ± {slack:g} s, but "
            f"{'; '.join(problems)}."
        )
    return result


def _expected_ttl(value: object) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _arguments.number("expected_ttl", value, 0.0, MAX_TTL_S)


def _configured_ttl(status: int, configuration: Configuration) -> tuple[str, float, str]:
    """The distribution's id, its error caching TTL for ``status``, and where it came from."""
    target = Target.resolve(configuration)
    target.require("CHAOS_DISTRIBUTION_ID")
    distribution_id = target.distribution_id
    cloudfront = cloudfront_client(target.region, target.endpoint_url)
    with aws_errors("GetDistributionConfig", f"read the config of distribution {distribution_id}"):
        config = cloudfront.get_distribution_config(Id=distribution_id)["DistributionConfig"]
    responses: dict[str, Any] = dict(config.get("CustomErrorResponses") or {})
    for item in responses.get("Items") or ():
        if int(item["ErrorCode"]) != status:
            continue
        ttl = item.get("ErrorCachingMinTTL")
        if ttl is None:
            return distribution_id, DEFAULT_ERROR_CACHING_TTL, (
                f"CloudFront's default: the custom error response for {status} sets none"
            )  # fmt: skip
        return distribution_id, float(ttl), f"the custom error response for {status}"
    return distribution_id, DEFAULT_ERROR_CACHING_TTL, (
        f"CloudFront's default: no custom error response for {status}"
    )  # fmt: skip


async def _watch_all(
    url: str, paths: list[str], started: float, deadline: float, every: float, timeout_s: float
) -> dict[str, PageLinger]:
    async with _client.session(timeout_s, len(paths)) as session:
        watched = await asyncio.gather(
            *(_watch(session, url + path, started, deadline, every) for path in paths)
        )
    return dict(zip(paths, watched, strict=True))


async def _watch(
    session: Any, url: str, started: float, deadline: float, every: float
) -> PageLinger:
    answers: Counter[str] = Counter()
    first: _client.Answer | None = None
    polls = 0
    while True:
        sent = time.monotonic()
        answer = await _client.fetch(session, url)
        polls += 1
        answers[str(answer.status) if answer.status is not None else str(answer.error)] += 1
        if first is None:
            first = answer
        if answer.status in _SERVED:
            return _linger(round(sent - started, 3), first, answer.status, polls, answers)
        left = deadline - time.monotonic()
        if left <= 0:
            return _linger(None, first, None, polls, answers)
        await asyncio.sleep(min(every, left))


def _linger(
    seconds: float | None,
    first: _client.Answer,
    back: int | None,
    polls: int,
    answers: Counter[str],
) -> PageLinger:
    return PageLinger(
        linger_s=seconds,
        first_status=first.status,
        first_x_cache=first.x_cache,
        back_status=back,
        polls=polls,
        answers=dict(answers),
    )


def _ttl_sentence(result: ErrorLinger) -> str:
    sentence = (
        f"{result['configured_ttl']:g} s on distribution {result['distribution_id']}, "
        f"{result['ttl_source']}"
    )
    expected = result["expected_ttl"]
    if expected is not None and expected != result["configured_ttl"]:
        sentence += f"; the experiment expects {expected:g} s"
    return sentence


def _linger_problems(result: ErrorLinger) -> list[str]:
    slack = result["tolerance"]
    targets = [result["configured_ttl"]]
    if result["expected_ttl"] is not None:
        targets.append(result["expected_ttl"])
    problems = []
    for path, page in result["pages"].items():
        first = page["first_status"]
        if page["linger_s"] is None:
            problems.append(
                f"{path} still did not answer 200-399 after {result['max_wait']:g} s "
                f"(answers: {_answers(page)})"
            )
        elif first is not None and first not in _SERVED and first != result["status"]:
            problems.append(
                f"{path} first answered {first}, not {result['status']}: the error it "
                f"showed is not the one whose caching is measured (answers: {_answers(page)})"
            )
        elif any(abs(page["linger_s"] - ttl) > slack for ttl in targets):
            problems.append(
                f"{path} answered 200-399 again after {page['linger_s']:.1f} s "
                f"(answers: {_answers(page)})"
            )
    return problems


def _answers(page: PageLinger) -> str:
    return ", ".join(f"{count} x {status}" for status, count in page["answers"].items())
