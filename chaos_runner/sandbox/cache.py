"""The edge cache: what is stored, for how long, and how invalidations evict it.

Freshness follows the CloudFront Developer Guide, "Manage how long content stays in the
cache (expiration)", for the legacy cache settings of a cache behavior:

- ``Cache-Control: s-maxage`` wins over ``max-age``, which wins over ``Expires``; the value
  is clamped to [MinTTL, MaxTTL]. Without any of them: the greater of MinTTL and DefaultTTL.
- ``no-cache``, ``no-store`` or ``private``: not cached, unless MinTTL > 0 (then MinTTL).
- ``stale-while-revalidate`` / ``stale-if-error``: an expired object may be served for that
  long past its expiry, never longer than MaxTTL past it ("Serve stale (expired) content").
  Without ``stale-if-error`` an expired object is still served when the origin answers 5xx
  or not at all ("How CloudFront processes HTTP 4xx and 5xx status codes"), within MaxTTL.

Errors ("HTTP 4xx and 5xx status codes that CloudFront caches"): 404, 414, 500, 501, 502,
503 and 504 are cached; 400, 403, 405, 412 and 415 only when the origin sent
``Cache-Control: max-age`` or ``s-maxage``. Either way for the greater of the error caching
minimum TTL (10 s, or the custom error response's ``ErrorCachingMinTTL``) and that header.

Thread-safety: lookups run on the edge's event loop; invalidations arrive from moto's
request threads. Every mutation holds one lock; a store started before an invalidation
that matches its key is dropped, so an invalidation is never undone by a response that was
already in flight when it was created.
"""

import contextlib
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime

__all__ = [
    "DEFAULT_ERROR_CACHING_MIN_TTL",
    "EDGE_HEADERS",
    "CacheDirectives",
    "CachedObject",
    "EdgeCache",
    "InvalidationPath",
    "error_lifetime",
    "freshness_lifetime",
]

#: CloudFront caches an error for 10 s unless a custom error response says otherwise.
DEFAULT_ERROR_CACHING_MIN_TTL = 10.0

#: Headers the edge sets on every answer itself (lowercase); an origin's are not passed on.
EDGE_HEADERS = frozenset({"x-cache", "via", "x-amz-cf-pop", "x-amz-cf-id"})

_ALWAYS_CACHED_ERRORS = frozenset({404, 414, 500, 501, 502, 503, 504})
_CACHED_WITH_MAX_AGE = frozenset({400, 403, 405, 412, 415})


@dataclass(frozen=True, slots=True)
class CacheDirectives:
    """The ``Cache-Control`` directives of an origin response that the edge acts on."""

    s_maxage: float | None = None
    max_age: float | None = None
    no_cache: bool = False
    no_store: bool = False
    private: bool = False
    stale_while_revalidate: float | None = None
    stale_if_error: float | None = None

    @classmethod
    def parse(cls, header: str | None) -> "CacheDirectives":
        """Parse a ``Cache-Control`` value; unknown directives and bad numbers are ignored."""
        if not header:
            return _NO_DIRECTIVES
        values: dict[str, float | None] = {}
        flags: set[str] = set()
        for part in header.split(","):
            name, _, raw = part.strip().partition("=")
            name = name.strip().lower()
            if not raw:
                flags.add(name)
                continue
            try:
                values[name] = max(0.0, float(raw.strip().strip('"')))
            except ValueError:
                values[name] = None
        return cls(
            s_maxage=values.get("s-maxage"),
            max_age=values.get("max-age"),
            no_cache="no-cache" in flags or "no-cache" in values,
            no_store="no-store" in flags,
            private="private" in flags or "private" in values,
            stale_while_revalidate=values.get("stale-while-revalidate"),
            stale_if_error=values.get("stale-if-error"),
        )

    @property
    def shared_max_age(self) -> float | None:
        """``s-maxage`` if present, else ``max-age`` (what a shared cache obeys)."""
        return self.s_maxage if self.s_maxage is not None else self.max_age


_NO_DIRECTIVES = CacheDirectives()


def freshness_lifetime(
    headers: Mapping[str, str],
    min_ttl: float,
    default_ttl: float,
    max_ttl: float,
    directives: CacheDirectives | None = None,
) -> float | None:
    """How long (s) the edge keeps a 2xx/3xx response fresh; None when it is not cached.

    ``headers`` maps lowercase header names to values.
    """
    found = directives or CacheDirectives.parse(headers.get("cache-control"))
    if found.no_cache or found.no_store or found.private:
        return min_ttl if min_ttl > 0 else None
    ttl = found.shared_max_age
    if ttl is None and "expires" in headers:
        ttl = _seconds_until(headers["expires"], headers.get("date"))
    if ttl is None:
        return max(min_ttl, default_ttl)
    return min(max(ttl, min_ttl), max_ttl)


def error_lifetime(
    status: int,
    error_caching_min_ttl: float | None,
    directives: CacheDirectives | None = None,
) -> float | None:
    """How long (s) the edge caches an error status; None when it does not cache it."""
    found = directives or _NO_DIRECTIVES
    header_ttl = found.shared_max_age
    if status not in _ALWAYS_CACHED_ERRORS and not (
        status in _CACHED_WITH_MAX_AGE and header_ttl is not None
    ):
        return None
    floor = (
        DEFAULT_ERROR_CACHING_MIN_TTL if error_caching_min_ttl is None else error_caching_min_ttl
    )
    return max(floor, header_ttl or 0.0)


def _seconds_until(expires: str, date: str | None) -> float:
    """Seconds from the response's Date (or now) to Expires; 0 for a date in the past or junk."""
    try:
        until = parsedate_to_datetime(expires).timestamp()
    except (TypeError, ValueError, IndexError):
        return 0.0
    now = time.time()
    if date:  # an unreadable Date counts from now, as the edge received the response
        with contextlib.suppress(TypeError, ValueError, IndexError):
            now = parsedate_to_datetime(date).timestamp()
    return max(0.0, until - now)


@dataclass(frozen=True, slots=True)
class CachedObject:
    """A response as the edge keeps it: status, the origin's headers, the body, and timers.

    Times are ``time.monotonic()`` seconds. ``headers`` are the origin's end-to-end headers
    (no hop-by-hop headers, no Content-Length), in the order the origin sent them.
    """

    key: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    stored_at: float
    expires_at: float
    #: After an origin error served this stale object, no origin request before this time.
    hold_until: float = 0.0
    stale_while_revalidate: float = 0.0
    #: None when the origin did not say: stale objects are then served on errors anyway.
    stale_if_error: float | None = None
    #: Never served more than this long past expiry (the behavior's MaxTTL).
    max_stale: float = 0.0
    #: ``headers`` without the EDGE_HEADERS, computed once (the edge answers hits with it).
    passed_headers: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)
    #: True when the origin sent an ``Age`` header (a hit replaces it with the edge's own).
    origin_age: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        passed = tuple((n, v) for n, v in self.headers if n.lower() not in EDGE_HEADERS)
        object.__setattr__(self, "passed_headers", passed)
        object.__setattr__(self, "origin_age", any(n.lower() == "age" for n, _ in passed))

    def is_fresh(self, now: float) -> bool:
        """True while the object may be served without asking the origin."""
        return now < self.expires_at or now < self.hold_until

    def age(self, now: float) -> int:
        """The ``Age`` header value: whole seconds since the origin sent (or revalidated) it."""
        return int(now - self.stored_at)

    def serves_while_revalidating(self, now: float) -> bool:
        """True when ``stale-while-revalidate`` lets the edge answer before revalidating."""
        window = min(self.stale_while_revalidate, self.max_stale)
        return now - self.expires_at <= window and self.stale_while_revalidate > 0

    def serves_on_error(self, now: float) -> bool:
        """True when this expired object may answer instead of an origin 5xx or timeout."""
        window = self.max_stale
        if self.stale_if_error is not None:
            window = min(self.stale_if_error, window)
        return self.status < 400 and now - self.expires_at <= window

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive)."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    @property
    def validators(self) -> dict[str, str]:
        """The conditional request headers that revalidate this object."""
        found: dict[str, str] = {}
        etag = self.header("ETag")
        if etag:
            found["If-None-Match"] = etag
        modified = self.header("Last-Modified")
        if modified:
            found["If-Modified-Since"] = modified
        return found

    def held(self, until: float) -> "CachedObject":
        """This object, not revalidated before ``until`` (served stale after an origin error)."""
        return replace(self, hold_until=until)

    def refreshed(
        self, headers: Iterable[tuple[str, str]], now: float, lifetime: float
    ) -> "CachedObject":
        """This object after a ``304 Not Modified``: the 304's headers win, timers restart."""
        updates = {name.lower(): (name, value) for name, value in headers}
        merged = [updates.pop(name.lower(), (name, value)) for name, value in self.headers]
        merged.extend(updates.values())
        return replace(
            self,
            headers=tuple(merged),
            stored_at=now,
            expires_at=now + lifetime,
            hold_until=0.0,
        )


@dataclass(frozen=True, slots=True)
class InvalidationPath:
    """One invalidation path: exact, or a prefix when it ends with ``*`` (case-sensitive)."""

    path: str

    def matches(self, key: str) -> bool:
        """True when this path invalidates the object cached under ``key``."""
        if self.path.endswith("*"):
            return key.startswith(self.path[:-1])
        return key == self.path


class EdgeCache:
    """Cached objects by cache key, bounded in count (least recently stored go first)."""

    def __init__(self, max_objects: int = 10_000, remembered_invalidations: int = 256) -> None:
        self._objects: OrderedDict[str, CachedObject] = OrderedDict()
        self._lock = threading.Lock()
        self._max_objects = max_objects
        self._epoch = 0
        self._recent: deque[tuple[int, tuple[InvalidationPath, ...]]] = deque(
            maxlen=remembered_invalidations
        )

    @property
    def epoch(self) -> int:
        """A counter of invalidations; pass it to :meth:`put` for a store begun now."""
        return self._epoch

    def get(self, key: str) -> CachedObject | None:
        """The object cached under ``key``, fresh or not."""
        return self._objects.get(key)

    def put(self, obj: CachedObject, since_epoch: int) -> bool:
        """Store ``obj`` unless an invalidation since ``since_epoch`` matches its key."""
        with self._lock:
            if since_epoch != self._epoch and self._invalidated_since(obj.key, since_epoch):
                return False
            self._objects[obj.key] = obj
            self._objects.move_to_end(obj.key)
            while len(self._objects) > self._max_objects:
                self._objects.popitem(last=False)
            return True

    def evict(self, key: str) -> None:
        """Forget the object cached under ``key``, if any."""
        with self._lock:
            self._objects.pop(key, None)

    def invalidate(self, paths: Sequence[str]) -> int:
        """Evict every object an invalidation of ``paths`` covers; return how many."""
        compiled = tuple(InvalidationPath(path) for path in paths)
        with self._lock:
            doomed = [key for key in self._objects if any(p.matches(key) for p in compiled)]
            for key in doomed:
                del self._objects[key]
            self._epoch += 1
            self._recent.append((self._epoch, compiled))
            return len(doomed)

    def clear(self) -> None:
        """Forget everything (as after an invalidation of ``/*``)."""
        self.invalidate(["/*"])

    def __len__(self) -> int:
        return len(self._objects)

    def _invalidated_since(self, key: str, since_epoch: int) -> bool:
        oldest = self._recent[0][0] if self._recent else self._epoch + 1
        if since_epoch + 1 < oldest:
            return True  # too old to tell: be safe and do not store
        return any(
            epoch > since_epoch and any(p.matches(key) for p in paths)
            for epoch, paths in self._recent
        )
