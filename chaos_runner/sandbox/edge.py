"""The sandbox edge: serves a distribution from moto as a CloudFront edge location would.

The edge reads the distribution's config from the CloudFront API (moto), fetches objects
from its origins through :class:`~chaos_runner.sandbox.origin.OriginLink` and keeps them in
an :class:`~chaos_runner.sandbox.cache.EdgeCache`. What it reproduces, with the page of the
CloudFront Developer Guide that states it (see also CLOUDFRONT.md):

- Cache key: the URL path, plus the query string only when the behavior forwards it
  (legacy ``ForwardedValues``); GET and HEAD share it. Cache behaviors match by path
  pattern, in order, then the default one. (Cache behavior settings)
- ``DefaultRootObject`` serves ``/`` only. ``/`` is cached under the default root object's
  own path, so ``/`` and ``/index.html`` are one object ("How default root object works":
  "To invalidate the default root object, specify the path the same way that you specify the
  path for any other file"). An invalidation of ``/`` evicts it too: the guide does not say
  it would not, and deploy scripts that invalidate ``/`` expect the new root page.
- TTLs, error caching, stale objects: see :mod:`chaos_runner.sandbox.cache`.
- An expired object is revalidated with ``If-None-Match``/``If-Modified-Since``; a 304
  refreshes it (``X-Cache: RefreshHit from cloudfront``). Concurrent misses for one key are
  collapsed into one origin request; the others are hits (request collapsing).
- Custom error responses: the origin's status maps to ``ResponsePagePath``, fetched through
  the cache like any object (under the behavior matching that path) and served with
  ``ResponseCode``; when that page is unavailable the page's own error answers.
- Origin groups: a GET/HEAD/OPTIONS that gets a failover status code, or no answer, from
  the primary is sent to the secondary. Nothing is remembered between requests.
- Invalidations (paths are exact or end in ``*``, case-sensitive) take effect when
  :meth:`Edge.invalidate` returns; a config change on the next viewer request after
  :meth:`Edge.config_changed`, or at once with :meth:`Edge.use`. When they are called is
  the business of :mod:`chaos_runner.sandbox.propagation` (the propagation delay).
- ``Enabled: false``: ``403`` ("The request could not be satisfied"), as a disabled
  distribution answers while its domain still resolves.
- Response headers: ``X-Cache`` (Hit/Miss/RefreshHit/Error from cloudfront), ``Age`` on
  hits, ``Via: 1.1 <hex>.cloudfront.net (CloudFront)``, ``X-Amz-Cf-Pop``, ``X-Amz-Cf-Id``.

One :class:`Edge` is one edge location (POP) with a cache of its own; the sandbox runs
several and routes viewers to them (:mod:`chaos_runner.sandbox.pop`).

Known differences from CloudFront: no regional edge cache between the POPs and the
origin; OPTIONS is never cached; forwarded headers and cookies are not part of the cache
key; a viewer HEAD that misses is fetched from the origin with GET (so the object is cached
whole); a stale object served because of ``stale-while-revalidate`` or an origin error is
labelled ``Hit from cloudfront``; no-cache objects are not kept for serving stale; the
edge's own 502/504 pages are cached like origin 5xx (the guide counts an origin that does
not answer as a 5xx from the origin) and follow the same stale-object rules; an origin's
``Via`` is replaced by the edge's rather than appended to.
"""

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aiohttp import web

from chaos_runner._errors import SandboxError
from chaos_runner.aws import cloudfront_client
from chaos_runner.sandbox.cache import (
    DEFAULT_ERROR_CACHING_MIN_TTL,
    CacheDirectives,
    CachedObject,
    EdgeCache,
    error_lifetime,
    freshness_lifetime,
)
from chaos_runner.sandbox.distribution import CacheBehavior, Distribution
from chaos_runner.sandbox.origin import (
    OriginFailure,
    OriginLink,
    OriginResolver,
    OriginResponse,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudfront import CloudFrontClient

__all__ = ["Edge", "OriginResolver", "XCache"]

log = logging.getLogger(__name__)

_FAILOVER_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Headers of a cached response that a 304 to the viewer repeats (lowercase).
_NOT_MODIFIED = frozenset(
    {
        "age",
        "cache-control",
        "content-location",
        "date",
        "etag",
        "expires",
        "last-modified",
        "vary",
        "via",
        "x-amz-cf-id",
        "x-amz-cf-pop",
        "x-cache",
    }
)


class XCache(StrEnum):
    """The ``X-Cache`` header values CloudFront sends."""

    HIT = "Hit from cloudfront"
    MISS = "Miss from cloudfront"
    REFRESH_HIT = "RefreshHit from cloudfront"
    ERROR = "Error from cloudfront"


@dataclass(frozen=True, slots=True)
class _Served:
    """What answers a viewer: an object, its X-Cache label, and a status override."""

    obj: CachedObject
    result: XCache
    status: int | None = None


class Edge:
    """One CloudFront edge location for one distribution, as an aiohttp application."""

    def __init__(
        self,
        aws_endpoint_url: str,
        region: str,
        distribution_id: str,
        link: OriginLink,
        pop: str = "SBX1",
    ) -> None:
        self._endpoint = aws_endpoint_url
        self._region = region
        self._distribution_id = distribution_id
        self._pop = pop
        self._via = f"1.1 {secrets.token_hex(16)}.cloudfront.net (CloudFront)"
        self._cache = EdgeCache()
        self._link = link
        self._distribution: Distribution | None = None
        self._config_stale = threading.Event()
        self._reloading: asyncio.Task[None] | None = None
        self._cloudfront: CloudFrontClient | None = None
        self._in_flight: dict[str, tuple[int, asyncio.Task[_Served]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def pop(self) -> str:
        """The POP's name, as ``X-Amz-Cf-Pop`` says it."""
        return self._pop

    @property
    def cache(self) -> EdgeCache:
        """The edge's cache (for tests and the origin-link faults)."""
        return self._cache

    @property
    def link(self) -> OriginLink:
        """The edge's link to its origins."""
        return self._link

    @property
    def distribution(self) -> Distribution:
        """The distribution config in effect."""
        if self._distribution is None:
            raise SandboxError(
                f"The edge for distribution {self._distribution_id} is not started; "
                "await Edge.start() before serving."
            )
        return self._distribution

    async def start(self, distribution: Distribution | None = None) -> None:
        """Serve ``distribution``, or load the config (the boto3 call runs in a thread)."""
        self._config_stale.clear()
        self._distribution = distribution or await asyncio.to_thread(self.load)

    def app(self) -> web.Application:
        """The aiohttp application serving every path of the distribution."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def close(self) -> None:
        """Cancel origin fetches in flight (the link is the stack's to close)."""
        tasks: list[asyncio.Task[Any]] = list(self._tasks)
        if self._reloading is not None:
            tasks.append(self._reloading)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._in_flight.clear()

    def invalidate(self, paths: Sequence[str]) -> None:
        """Evict what an invalidation of ``paths`` covers (thread-safe, in effect on return)."""
        keys = list(paths)
        distribution = self._distribution
        if distribution is not None and distribution.default_root_object and "/" in keys:
            keys.append(_root_key(distribution))
        evicted = self._cache.invalidate(keys)
        log.debug("Invalidated %s: %d objects evicted.", keys, evicted)

    def config_changed(self) -> None:
        """Reload the config before serving the next viewer request (thread-safe)."""
        self._config_stale.set()

    def use(self, distribution: Distribution) -> None:
        """Serve ``distribution`` from now on (a snapshot read when the change was made)."""
        self._distribution = distribution

    # -- viewer requests -------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one viewer request."""
        distribution = self._distribution
        if distribution is None or self._config_stale.is_set() or self._reloading is not None:
            distribution = await self._current()
        if not distribution.enabled:
            return self._respond(request, _generated(403, _BAD_REQUEST), XCache.ERROR)
        path = request.rel_url.raw_path
        if path == "/" and distribution.default_root_object:
            path = _root_key(distribution)
        behavior = distribution.behavior_for(path)
        method = request.method
        if method not in behavior.allowed_methods:
            return self._respond(request, _generated(403, _METHOD_NOT_ALLOWED), XCache.ERROR)
        query = request.rel_url.raw_query_string if behavior.forward_query_string else ""
        key = f"{path}?{query}" if query else path
        if method not in behavior.cached_methods or method not in ("GET", "HEAD"):
            return await self._forward(request, distribution, behavior, key)
        cached = self._cache.get(key)
        if cached is not None and cached.status < 400 and cached.is_fresh(time.monotonic()):
            return self._respond(request, cached, XCache.HIT)  # the hot path: a fresh hit
        served = await self._lookup(distribution, behavior, key, request.remote)
        served = await self._custom_error(distribution, served, request.remote)
        return self._respond(request, served.obj, served.result, served.status)

    async def _current(self) -> Distribution:
        """The config in effect, after any reload that a config change asked for."""
        while self._config_stale.is_set() or (
            self._reloading is not None and not self._reloading.done()
        ):
            if self._reloading is None or self._reloading.done():
                self._config_stale.clear()
                self._reloading = asyncio.get_running_loop().create_task(self._reload())
            await asyncio.shield(self._reloading)
        self._reloading = None
        return self.distribution

    async def _reload(self) -> None:
        try:
            self._distribution = await asyncio.to_thread(self.load)
        except SandboxError:
            log.exception("The edge kept its previous distribution config.")

    def load(self) -> Distribution:
        """Read the distribution's config from the control plane (blocking: use a thread)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client().get_distribution_config(Id=self._distribution_id)
        except (BotoCoreError, ClientError) as error:
            raise SandboxError(
                f"The edge could not read the config of distribution {self._distribution_id} "
                f"from {self._endpoint} ({error}). Check that the sandbox's control plane "
                "is running and the distribution exists."
            ) from error
        config: Mapping[str, Any] = answer["DistributionConfig"]
        return Distribution.from_config(self._distribution_id, config)

    def _client(self) -> "CloudFrontClient":
        if self._cloudfront is None:
            self._cloudfront = cloudfront_client(self._region, self._endpoint)
        return self._cloudfront

    async def _lookup(
        self, distribution: Distribution, behavior: CacheBehavior, key: str, client: str | None
    ) -> _Served:
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None:
            if cached.is_fresh(now):
                return _Served(cached, XCache.ERROR if cached.status >= 400 else XCache.HIT)
            if cached.serves_while_revalidating(now):
                self._collapsed_fetch(distribution, behavior, key, cached, client)
                return _Served(cached, XCache.HIT)
        task, leader = self._collapsed_fetch(distribution, behavior, key, cached, client)
        served = await asyncio.shield(task)
        if not leader and served.result is XCache.MISS:
            return _Served(served.obj, XCache.HIT, served.status)
        return served

    def _collapsed_fetch(
        self,
        distribution: Distribution,
        behavior: CacheBehavior,
        key: str,
        stale: CachedObject | None,
        client: str | None,
    ) -> tuple["asyncio.Task[_Served]", bool]:
        """The origin fetch in flight for ``key`` (since the last invalidation), or a new one."""
        epoch = self._cache.epoch
        running = self._in_flight.get(key)
        if running is not None and running[0] == epoch:
            return running[1], False
        task = asyncio.get_running_loop().create_task(
            self._fetch(distribution, behavior, key, stale, client, epoch)
        )
        self._in_flight[key] = (epoch, task)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._fetch_done(key, done))
        return task, True

    def _fetch_done(self, key: str, task: "asyncio.Task[_Served]") -> None:
        self._tasks.discard(task)
        running = self._in_flight.get(key)
        if running is not None and running[1] is task:
            del self._in_flight[key]
        if not task.cancelled() and task.exception() is not None:
            log.error("Origin fetch for %s failed.", key, exc_info=task.exception())

    async def _fetch(
        self,
        distribution: Distribution,
        behavior: CacheBehavior,
        key: str,
        stale: CachedObject | None,
        client: str | None,
        epoch: int,
    ) -> _Served:
        headers = self._origin_headers(client)
        if stale is not None and stale.status < 400:
            headers.update(stale.validators)
        result = await self._from_origin(distribution, behavior, "GET", key, headers)
        now = time.monotonic()
        if isinstance(result, OriginResponse) and result.status < 400:
            return self._store(behavior, key, result, stale, epoch, now)
        return self._store_error(distribution, key, result, stale, epoch, now)

    async def _from_origin(
        self,
        distribution: Distribution,
        behavior: CacheBehavior,
        method: str,
        path_and_query: str,
        headers: Mapping[str, str],
        body: bytes | None = None,
    ) -> OriginResponse | OriginFailure:
        origins, failover_codes = distribution.targets(behavior.target_origin_id)
        result: OriginResponse | OriginFailure | None = None
        for origin in origins:
            result = await self._link.fetch(origin, method, path_and_query, headers, body)
            failed = isinstance(result, OriginFailure) or result.status in failover_codes
            if not failed or method not in _FAILOVER_METHODS:
                break
            if isinstance(result, OriginFailure):
                log.debug("Origin %s failed (%s); trying the next one.", origin.id, result.detail)
        assert result is not None  # a target has at least one origin
        return result

    def _store(
        self,
        behavior: CacheBehavior,
        key: str,
        response: OriginResponse,
        stale: CachedObject | None,
        epoch: int,
        now: float,
    ) -> _Served:
        if response.status == 304 and stale is not None:
            headers = {name.lower(): value for name, value in stale.headers}
            headers.update(response.header_map())
            refreshed = stale.refreshed(response.headers, now, _lifetime(behavior, headers) or 0.0)
            self._cache.put(refreshed, epoch)
            return _Served(refreshed, XCache.REFRESH_HIT)
        headers = response.header_map()
        directives = CacheDirectives.parse(headers.get("cache-control"))
        lifetime = _lifetime(behavior, headers, directives)
        if response.status in (307, 308) and "cache-control" not in headers:
            lifetime = None  # CloudFront caches 307/308 only with Cache-Control
        obj = CachedObject(
            key=key,
            status=response.status,
            headers=response.headers,
            body=response.body,
            stored_at=now,
            expires_at=now + (lifetime or 0.0),
            stale_while_revalidate=directives.stale_while_revalidate or 0.0,
            stale_if_error=directives.stale_if_error,
            max_stale=behavior.max_ttl,
        )
        if lifetime is None:
            self._cache.evict(key)
        else:
            self._cache.put(obj, epoch)
        return _Served(obj, XCache.MISS)

    def _store_error(
        self,
        distribution: Distribution,
        key: str,
        result: OriginResponse | OriginFailure,
        stale: CachedObject | None,
        epoch: int,
        now: float,
    ) -> _Served:
        if isinstance(result, OriginFailure):
            log.debug("Origin request for %s failed: %s.", key, result.detail)
            obj = _generated(result.status, _NO_ORIGIN[result.status], key=key, now=now)
            directives = CacheDirectives()
        else:
            obj = CachedObject(key, result.status, result.headers, result.body, now, now)
            directives = CacheDirectives.parse(result.header_map().get("cache-control"))
        custom = distribution.error_response(obj.status)
        min_ttl = custom.error_caching_min_ttl if custom is not None else None
        if obj.status >= 500 and stale is not None and stale.serves_on_error(now):
            hold = DEFAULT_ERROR_CACHING_MIN_TTL if min_ttl is None else min_ttl
            held = stale.held(now + hold)
            self._cache.put(held, epoch)
            return _Served(held, XCache.HIT)
        lifetime = error_lifetime(obj.status, min_ttl, directives)
        if lifetime:
            obj = CachedObject(obj.key, obj.status, obj.headers, obj.body, now, now + lifetime)
            self._cache.put(obj, epoch)
        else:
            self._cache.evict(key)
        return _Served(obj, XCache.ERROR)

    async def _custom_error(
        self, distribution: Distribution, served: _Served, client: str | None
    ) -> _Served:
        """The custom error page for an error status, if one is configured and available."""
        status = served.obj.status
        custom = distribution.error_response(status) if status >= 400 else None
        if custom is None or custom.response_page_path is None:
            return served
        path = custom.response_page_path
        page = await self._lookup(distribution, distribution.behavior_for(path), path, client)
        if page.obj.status >= 400:
            return _Served(page.obj, XCache.ERROR)
        return _Served(page.obj, XCache.ERROR, custom.response_code or status)

    async def _forward(
        self,
        request: web.Request,
        distribution: Distribution,
        behavior: CacheBehavior,
        key: str,
    ) -> web.StreamResponse:
        """A request in a method the behavior does not cache: to the origin and back."""
        body = await request.read() if request.can_read_body else None
        headers = self._origin_headers(request.remote)
        content_type = request.headers.get("Content-Type")
        if content_type:
            headers["Content-Type"] = content_type
        result = await self._from_origin(distribution, behavior, request.method, key, headers, body)
        now = time.monotonic()
        if isinstance(result, OriginFailure):
            obj = _generated(result.status, _NO_ORIGIN[result.status], key=key, now=now)
        else:
            obj = CachedObject(key, result.status, result.headers, result.body, now, now)
        label = XCache.ERROR if obj.status >= 400 else XCache.MISS
        return self._respond(request, obj, label)

    def _origin_headers(self, client: str | None) -> dict[str, str]:
        headers = {
            "User-Agent": "Amazon CloudFront",
            "Via": self._via,
            "X-Amz-Cf-Id": _request_id(),
        }
        if client:
            headers["X-Forwarded-For"] = client
        return headers

    def _respond(
        self,
        request: web.Request,
        obj: CachedObject,
        result: XCache,
        status: int | None = None,
    ) -> web.Response:
        headers = [
            *obj.passed_headers,
            ("X-Cache", result.value),
            ("Via", self._via),
            ("X-Amz-Cf-Pop", self._pop),
            ("X-Amz-Cf-Id", _request_id()),
        ]
        if result is XCache.HIT:
            if obj.origin_age:
                headers = [(name, value) for name, value in headers if name.lower() != "age"]
            headers.append(("Age", str(obj.age(time.monotonic()))))
        if status is None and obj.status == 200 and _not_modified(request, obj):
            kept = [(name, value) for name, value in headers if name.lower() in _NOT_MODIFIED]
            return web.Response(status=304, headers=kept)
        return web.Response(status=status or obj.status, body=obj.body, headers=headers)


def _lifetime(
    behavior: CacheBehavior, headers: Mapping[str, str], directives: CacheDirectives | None = None
) -> float | None:
    return freshness_lifetime(
        headers, behavior.min_ttl, behavior.default_ttl, behavior.max_ttl, directives
    )


def _root_key(distribution: Distribution) -> str:
    return "/" + distribution.default_root_object.lstrip("/")


def _request_id() -> str:
    """A request id shaped like CloudFront's (56 URL-safe base64 characters)."""
    return secrets.token_urlsafe(42)


def _not_modified(request: web.Request, obj: CachedObject) -> bool:
    """True when the viewer's conditional headers show it has this object already."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        etag = obj.header("ETag")
        if etag is None:
            return False
        wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in wanted or etag.removeprefix("W/") in wanted
    if_modified_since = request.headers.get("If-Modified-Since")
    modified = obj.header("Last-Modified")
    if if_modified_since is None or modified is None:
        return False
    try:
        return parsedate_to_datetime(modified) <= parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False


_BAD_REQUEST = ("Bad request.", "The request could not be satisfied.")
_METHOD_NOT_ALLOWED = (
    "This distribution is not configured to allow the HTTP request method that was used "
    "for this request. The distribution supports only cachable requests.",
    "The request could not be satisfied.",
)
_NO_ORIGIN = {
    502: (
        "CloudFront wasn't able to connect to the origin.",
        "The request could not be satisfied.",
    ),
    504: (
        "CloudFront attempted to establish a connection with the origin, but either the "
        "attempt failed or the origin closed the connection.",
        "The request could not be satisfied.",
    ),
}
_REASONS = {403: "403 ERROR", 502: "502 ERROR", 504: "504 Gateway Timeout ERROR"}


def _generated(
    status: int, text: tuple[str, str], key: str = "", now: float | None = None
) -> CachedObject:
    """An error response CloudFront itself generates (its HTML page, ``Server: CloudFront``)."""
    explanation, headline = text
    body = (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" '
        '"http://www.w3.org/TR/html4/loose.dtd">\n'
        '<HTML><HEAD><META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=iso-8859-1">\n'
        "<TITLE>ERROR: The request could not be satisfied</TITLE>\n</HEAD><BODY>\n"
        f"<H1>{_REASONS.get(status, f'{status} ERROR')}</H1>\n<H2>{headline}</H2>\n"
        f'<HR noshade size="1px">\n{explanation}\n<BR clear="all">\n<HR noshade size="1px">\n'
        f"<PRE>\nGenerated by cloudfront (CloudFront) in the chaostoolkit-cdn sandbox\n"
        f"Request ID: {_request_id()}\n</PRE>\n<ADDRESS>\n</ADDRESS>\n</BODY></HTML>"
    )
    moment = time.monotonic() if now is None else now
    return CachedObject(
        key=key,
        status=status,
        headers=(("Server", "CloudFront"), ("Content-Type", "text/html")),
        body=body.encode(),
        stored_at=moment,
        expires_at=moment,
    )
