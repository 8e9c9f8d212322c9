"""The edge's link to its origins: resolve, connect, retry, and classify what went wrong.

CloudFront's custom-origin rules (Developer Guide, "Request and response behavior for
custom origins" and "Origin settings"):

- Each attempt waits ``ConnectionTimeout`` for the TCP connection, then
  ``OriginReadTimeout`` for the first byte and between packets. A GET or HEAD that fails
  either way is tried again, up to ``ConnectionAttempts`` times in all; other methods once.
- No connection or no answer in time: ``504 Gateway Timeout``. A refused connection, an
  invalid response or a domain that does not resolve: ``502 Bad Gateway``.

The sandbox resolves origin domain names with the resolver the stack gives it (website
endpoint domains to the emulator's loopback port) and never opens a connection to an
address that is not loopback, whatever the resolver answers.
"""

import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import aiohttp
from yarl import URL

from chaos_runner.sandbox.distribution import Origin

__all__ = [
    "HOP_BY_HOP_HEADERS",
    "FailureKind",
    "OriginFailure",
    "OriginLink",
    "OriginResolver",
    "OriginResponse",
]

log = logging.getLogger(__name__)

#: (origin domain, port) -> the loopback (host, port) to connect to; None: does not resolve.
OriginResolver = Callable[[str, int], tuple[str, int] | None]

#: Headers that describe one connection, never forwarded (RFC 9110 7.6.1), plus the
#: length, which the edge computes itself.
HOP_BY_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)

_RETRIED_METHODS = frozenset({"GET", "HEAD"})


class FailureKind(StrEnum):
    """Why no usable response came from the origin."""

    UNRESOLVED = "unresolved"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class OriginResponse:
    """A complete response from the origin (hop-by-hop headers removed)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header_map(self) -> dict[str, str]:
        """The headers by lowercase name (the first value of each)."""
        found: dict[str, str] = {}
        for name, value in self.headers:
            found.setdefault(name.lower(), value)
        return found


@dataclass(frozen=True, slots=True)
class OriginFailure:
    """No usable response: the status the edge answers with, and why."""

    kind: FailureKind
    detail: str
    origin_id: str

    @property
    def status(self) -> int:
        """504 when the origin did not answer in time, 502 for anything else."""
        return 504 if self.kind is FailureKind.TIMEOUT else 502


class OriginLink:
    """Fetches from origins over one pooled aiohttp session (created on first use)."""

    def __init__(self, resolve: OriginResolver) -> None:
        self._resolve = resolve
        self._session: aiohttp.ClientSession | None = None

    async def fetch(
        self,
        origin: Origin,
        method: str,
        path_and_query: str,
        headers: Mapping[str, str],
        body: bytes | None = None,
    ) -> OriginResponse | OriginFailure:
        """Send one viewer request to ``origin``, with CloudFront's attempts and timeouts."""
        address = self._address(origin)
        if isinstance(address, OriginFailure):
            return address
        host, port = address
        url = URL(
            f"http://{_url_host(host)}:{port}{origin.origin_path}{path_and_query}", encoded=True
        )
        attempts = max(1, origin.connection_attempts) if method in _RETRIED_METHODS else 1
        sent = {"Host": origin.domain_name, **dict(origin.custom_headers), **headers}
        failure: OriginFailure | None = None
        for _ in range(attempts):
            result = await self._attempt(origin, method, url, sent, body)
            if isinstance(result, OriginResponse):
                return result
            failure = result
        assert failure is not None  # the loop ran at least once
        return failure

    async def close(self) -> None:
        """Close pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _address(self, origin: Origin) -> tuple[str, int] | OriginFailure:
        resolved = self._resolve(origin.domain_name, origin.http_port)
        if resolved is None:
            return OriginFailure(
                FailureKind.UNRESOLVED,
                f"the origin domain {origin.domain_name} does not resolve",
                origin.id,
            )
        host, port = resolved
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            log.error(
                "The sandbox resolver mapped %s to %s, which is not a loopback address; "
                "the edge refuses to connect there.",
                origin.domain_name,
                host,
            )
            return OriginFailure(
                FailureKind.UNRESOLVED,
                f"the origin domain {origin.domain_name} resolved to non-loopback {host}",
                origin.id,
            )
        return host, port

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256, enable_cleanup_closed=False),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            )
        return self._session

    async def _attempt(
        self,
        origin: Origin,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> OriginResponse | OriginFailure:
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=origin.connection_timeout,
            sock_read=origin.read_timeout,
        )
        try:
            async with self._client().request(
                method,
                url,
                headers=headers,
                data=body,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                content = await response.read()
                kept = tuple(
                    (name, value)
                    for name, value in response.headers.items()
                    if name.lower() not in HOP_BY_HOP_HEADERS
                )
                return OriginResponse(response.status, kept, content)
        except aiohttp.ConnectionTimeoutError:
            kind, detail = FailureKind.TIMEOUT, "no connection within the connection timeout"
        except aiohttp.SocketTimeoutError:
            kind, detail = FailureKind.TIMEOUT, "no response within the origin read timeout"
        except aiohttp.ClientConnectorError as error:
            kind, detail = FailureKind.REFUSED, f"the connection failed ({error.os_error})"
        except (TimeoutError, aiohttp.ClientError) as error:
            kind = FailureKind.TIMEOUT if isinstance(error, TimeoutError) else FailureKind.INVALID
            detail = f"the origin's response was unusable ({type(error).__name__}: {error})"
        return OriginFailure(kind, f"{origin.domain_name}: {detail}", origin.id)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
