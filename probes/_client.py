"""The HTTP client of every probe: one session shape, and one way to name what went wrong.

Redirects are not followed (the answer of the edge is what is measured), cookies are not
kept, and a request that gets no HTTP answer is classified, never raised:

=========  ==============================================================================
timeout    no answer within the probe's timeout
refused    nothing listens (connection refused)
reset      the connection was closed or reset before a whole answer came
tls        the TLS handshake or the certificate failed
other      anything else (a name that does not resolve, an invalid answer)
=========  ==============================================================================
"""

import errno
import hashlib
import re
import ssl
import time
from dataclasses import dataclass
from typing import Literal

import aiohttp

__all__ = [
    "ERROR_KINDS",
    "ORIGIN_HEADER",
    "Answer",
    "ErrorKind",
    "classify",
    "fetch",
    "origin_marker",
    "session",
]

ErrorKind = Literal["timeout", "refused", "reset", "tls", "other"]
ERROR_KINDS: tuple[ErrorKind, ...] = ("timeout", "refused", "reset", "tls", "other")
USER_AGENT = "chaostoolkit-cdn-probe"
#: The S3 object metadata ``chaos-origin`` as S3 answers it and CloudFront passes it on:
#: which origin of an origin group holds the object (``primary``, ``secondary``).
ORIGIN_HEADER = "x-amz-meta-chaos-origin"

_MARKER = re.compile(
    rb"""<meta\s+name=["']?chaos-demo-origin["']?\s+content=["']?([^"'\s>]+)""", re.IGNORECASE
)


def session(timeout_s: float, concurrency: int, decompress: bool = True) -> aiohttp.ClientSession:
    """A session for one probe: at most ``concurrency`` connections, ``timeout_s`` per GET."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        connector=aiohttp.TCPConnector(limit=concurrency, ttl_dns_cache=300),
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": USER_AGENT},
        auto_decompress=decompress,
    )


@dataclass(frozen=True, slots=True)
class Answer:
    """One GET: what came back, or which error stopped it, and how long it took."""

    elapsed_s: float
    status: int | None = None
    x_cache: str | None = None
    age: int | None = None
    pop: str | None = None
    size: int = 0
    sha256: str | None = None
    marker: str | None = None
    #: The ``x-amz-meta-chaos-origin`` header, if the answer had one.
    origin_header: str | None = None
    error: ErrorKind | None = None
    detail: str = ""


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    *,
    digest: bool = False,
    headers: dict[str, str] | None = None,
) -> Answer:
    """GET ``url`` and read the whole body; a failure is classified, never raised.

    The body is not kept; with ``digest`` its SHA-256 and its origin marker are.
    """
    started = time.perf_counter()
    try:
        async with session.get(url, allow_redirects=False, headers=headers) as response:
            body = await response.read()
    except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
        detail = str(exc) or type(exc).__name__
        return Answer(time.perf_counter() - started, error=classify(exc), detail=detail)
    received = response.headers
    return Answer(
        time.perf_counter() - started,
        status=response.status,
        x_cache=received.get("X-Cache"),
        age=_age(received.get("Age")),
        pop=received.get("X-Amz-Cf-Pop"),
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest() if digest else None,
        marker=origin_marker(body) if digest else None,
        origin_header=received.get(ORIGIN_HEADER),
    )


def classify(exc: BaseException) -> ErrorKind:
    """Name the cause of a request that got no HTTP answer."""
    if isinstance(exc, TimeoutError):  # asyncio's and aiohttp's timeouts included
        return "timeout"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError) or isinstance(
        getattr(exc, "os_error", None), ssl.SSLError
    ):
        return "tls"
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


def origin_marker(body: bytes) -> str | None:
    """The ``content`` of ``<meta name="chaos-demo-origin">`` in ``body``, if there is one."""
    found = _MARKER.search(body, 0, 65_536)
    return found.group(1).decode("ascii", "replace") if found else None


def _age(header: str | None) -> int | None:
    return int(header) if header is not None and header.strip().isdigit() else None
