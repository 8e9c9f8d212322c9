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

Origins that serve a few requests at a time. The S3 website endpoint scales with its
viewers; the sandbox's emulator of it is one Python process that reads moto for every
request (three reads for a missing key): some eighty misses a second on two cores. Sent
hundreds of requests at once, it queued them and answered the last ones after the origin
read timeout, and the edge answered 504 under load with no fault injected. The stack names
such addresses with their ``capacity``: the link sends each at most that many requests at
a time, and the others wait for their turn *before* their attempt begins, so the wait
counts against no origin timeout (CloudFront's timeouts measure the origin, not a queue
of the sandbox's making). Viewers see a slower answer instead of a false 504. Link faults
are unaffected: a latency is slept before the turn is taken, and blackholes and resets
go to trap addresses of their own.

Link faults (:mod:`chaos_runner.sandbox.linkfault`) act here, on each attempt: a latency
is slept before the request and taken off the read timeout; an error answers as the origin
would; a blackhole and a reset send the attempt to a loopback "trap" that accepts the
connection and then never answers, or resets it, so the edge's own timeout and error paths
run exactly as they would for a real origin.
"""

import asyncio
import contextlib
import html
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import aiohttp
from yarl import URL

from chaos_runner.sandbox.distribution import Origin
from chaos_runner.sandbox.linkfault import LinkEffect, LinkFault, LinkFaultKind, LinkFaults

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
    """Fetches from origins over one pooled aiohttp session (created on first use).

    One link serves every POP of the sandbox, so its faults apply to all of them.
    ``capacity`` maps a loopback (host, port) to the most requests it is sent at a time
    (see the module's docstring); addresses it does not name get as many as come.
    """

    def __init__(
        self,
        resolve: OriginResolver,
        faults: LinkFaults | None = None,
        capacity: Mapping[tuple[str, int], int] | None = None,
    ) -> None:
        self._resolve = resolve
        self._session: aiohttp.ClientSession | None = None
        self.faults = faults if faults is not None else LinkFaults()
        self._traps = _Traps()
        self._turns = {
            address: asyncio.Semaphore(limit) for address, limit in (capacity or {}).items()
        }

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
            effect = self.faults.draw(origin.domain_name) if self.faults else None
            if effect is None:
                result = await self._attempt(origin, method, url, sent, body)
            else:
                result = await self._faulty_attempt(effect, origin, method, url, sent, body)
            if isinstance(result, OriginResponse):
                return result
            failure = result
        assert failure is not None  # the loop ran at least once
        return failure

    async def close(self) -> None:
        """Close pooled connections and the fault traps."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self._traps.close()

    async def _faulty_attempt(
        self,
        effect: LinkEffect,
        origin: Origin,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> OriginResponse | OriginFailure:
        read_timeout = origin.read_timeout
        if effect.delay:
            if effect.delay >= read_timeout:
                await asyncio.sleep(read_timeout)
                return OriginFailure(
                    FailureKind.TIMEOUT,
                    f"{origin.domain_name}: no response within the origin read timeout "
                    f"(link latency {effect.delay:.3f} s)",
                    origin.id,
                )
            await asyncio.sleep(effect.delay)
            read_timeout -= effect.delay
        fault = effect.outcome
        if fault is None:
            return await self._attempt(origin, method, url, headers, body, read_timeout)
        if fault.kind is LinkFaultKind.ERROR:
            return _injected_error(fault)
        port = await self._traps.port(fault.kind)
        trapped = url.with_host("127.0.0.1").with_port(port)
        return await self._attempt(origin, method, trapped, headers, body, read_timeout)

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
        read_timeout: float | None = None,
    ) -> OriginResponse | OriginFailure:
        turn = self._turns.get((url.host or "", url.port or 80))
        if turn is None:
            return await self._send(origin, method, url, headers, body, read_timeout)
        async with turn:  # waiting here is not origin time: no timeout runs yet
            return await self._send(origin, method, url, headers, body, read_timeout)

    async def _send(
        self,
        origin: Origin,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        body: bytes | None,
        read_timeout: float | None,
    ) -> OriginResponse | OriginFailure:
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=origin.connection_timeout,
            sock_read=origin.read_timeout if read_timeout is None else read_timeout,
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


def _injected_error(fault: LinkFault) -> OriginResponse:
    """The response of an ``error`` fault: its status, as if the origin had answered it."""
    status = fault.status or 500
    body = (
        f"<html><head><title>{status}</title></head><body><h1>{status}</h1>"
        f"<p>Injected by the chaos sandbox's origin link fault {html.escape(fault.id)}.</p>"
        "</body></html>\n"
    ).encode()
    headers = (
        ("Content-Type", "text/html; charset=utf-8"),
        ("X-Chaos-Link-Fault", fault.id),
    )
    return OriginResponse(status, headers, body)


class _Traps:
    """Loopback listeners that misbehave: one never answers, one resets every connection.

    Started on first use, on the running loop; ``close`` stops them and drops their
    connections.
    """

    def __init__(self) -> None:
        self._servers: dict[LinkFaultKind, asyncio.Server] = {}
        self._writers: set[asyncio.StreamWriter] = set()
        self._lock = asyncio.Lock()

    async def port(self, kind: LinkFaultKind) -> int:
        async with self._lock:
            server = self._servers.get(kind)
            if server is None:
                handler = self._hold if kind is LinkFaultKind.BLACKHOLE else self._reset
                server = await asyncio.start_server(handler, "127.0.0.1", 0)
                self._servers[kind] = server
        return int(server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        for server in self._servers.values():
            server.close()
        for server in self._servers.values():
            with contextlib.suppress(Exception):  # already closed with the loop
                await asyncio.wait_for(server.wait_closed(), 1.0)
        self._servers.clear()

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Accept, read whatever comes, never answer; the peer's timeout ends it."""
        self._writers.add(writer)
        try:
            # A ConnectionError is the edge giving up: the expected end of a blackholed request.
            with contextlib.suppress(ConnectionError):
                while await reader.read(65536):
                    continue
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _reset(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Wait for the request, then reset the connection (RST, not FIN)."""
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(reader.read(1), 5.0)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
