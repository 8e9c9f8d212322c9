"""How the sandbox's HTTP servers accept connections, and what they do with abusive ones.

aiohttp's defaults suit a server behind a proxy that shields it; the sandbox's edge is the
first thing a viewer (or a load test, or a fuzzer) reaches, so each listening port of the
sandbox is a :class:`ListeningSite` with these :class:`ListenerLimits`:

- Request head timeout: a connection that has not sent a whole request line and headers
  within ``idle_timeout`` seconds of connecting, or of its previous answer, is closed (as
  nginx's ``client_header_timeout`` does), however slowly it trickles bytes; an idle
  keep-alive connection is closed after as long. (aiohttp has one timer for both, its
  ``keepalive_timeout``, which also runs before the first request.) A request being
  answered is never cut short by it.
- Sizes: a URL of more than ``max_line_size`` bytes (CloudFront's limit is 8,192) answers
  ``414``; a header line of more than ``max_field_size`` bytes, or more than
  ``max_headers`` headers, ``431``; any other malformed request ``400``. Each answer is a
  fixed short text: nothing the client sent is echoed, and the log line (debug level) names
  the kind of error only.
- Connections: at most ``max_connections`` open on one port; a connection beyond that gets
  a fixed ``503`` and is closed at once, so that abusive viewers cannot take the file
  descriptors the edge needs to reach its origins. The listen backlog is ``backlog``, so
  that hundreds of viewers connecting at once are not left retrying their SYNs.
- TLS: a site given an SSL context serves HTTPS with the same limits; a connection that has
  not finished its TLS handshake within ``idle_timeout`` seconds is closed.
"""

import asyncio
import logging
import ssl
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

__all__ = ["ListenerLimits", "ListeningSite"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ListenerLimits:
    """What one listening port tolerates (see the module's docstring).

    ``max_line_size`` and ``max_field_size`` must differ: the size that a too-long line
    exceeded is what tells a long URL (414) from a long header (431).
    """

    idle_timeout: float = 5.0
    max_line_size: int = 8192
    max_field_size: int = 8190
    max_headers: int = 128
    max_connections: int = 1000
    backlog: int = 1024

    def __post_init__(self) -> None:
        if self.max_line_size == self.max_field_size:
            raise ValueError(
                f"ListenerLimits needs max_line_size and max_field_size to differ (both are "
                f"{self.max_line_size}): the limit a line exceeded tells a 414 from a 431."
            )

    def status_for(self, error: BaseException | None) -> HTTPStatus:
        """The status that answers a request the parser rejected with ``error``."""
        if isinstance(error, LineTooLong):
            exceeded = error.args[1] if len(error.args) > 1 else None
            if exceeded == self.max_line_size:
                return HTTPStatus.REQUEST_URI_TOO_LONG
            return HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
        if isinstance(error, BadHttpMessage) and error.message.startswith("Too many headers"):
            return HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
        return HTTPStatus.BAD_REQUEST

    def handler_options(self) -> dict[str, Any]:
        """Keyword arguments of aiohttp's ``RequestHandler`` for these limits."""
        return {
            "keepalive_timeout": self.idle_timeout,
            "max_line_size": self.max_line_size,
            "max_field_size": self.max_field_size,
            "max_headers": self.max_headers,
            "access_log": None,
        }


_REFUSAL_TEXT = b"Too many connections.\n"
#: The whole answer to a connection beyond ``max_connections``.
_TOO_MANY_CONNECTIONS = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_REFUSAL_TEXT), _REFUSAL_TEXT)
)


class ListeningSite(web.BaseSite):
    """A TCP site of an aiohttp runner, with :class:`ListenerLimits` on its connections.

    The runner's own request handler options are not used: the limits give them (with no
    access log).
    """

    __slots__ = ("_host", "_limits", "_open", "_port", "_refusing", "_tls")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        limits: ListenerLimits,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, backlog=limits.backlog)
        self._host = host
        self._port = port
        self._limits = limits
        self._tls = ssl_context
        self._open = 0
        self._refusing = False

    @property
    def name(self) -> str:
        """The site's URL."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{'https' if self._tls else 'http'}://{host}:{self.port}"

    @property
    def port(self) -> int:
        """The bound port (the one asked for, or the free one picked for port 0)."""
        sockets = getattr(self._server, "sockets", None) or ()
        return int(sockets[0].getsockname()[1]) if sockets else self._port

    @property
    def limits(self) -> ListenerLimits:
        """What the site tolerates."""
        return self._limits

    @property
    def connections(self) -> int:
        """Connections open now."""
        return self._open

    async def start(self) -> None:
        """Listen (raises OSError when the port is taken).

        SO_REUSEADDR (asyncio's default on Unix, as the control plane sets it): a sandbox
        started again on the port of one just stopped is not refused for the minute its
        closed connections stay in TIME_WAIT; a port another program listens on still is.
        """
        await super().start()
        self._server = await asyncio.get_running_loop().create_server(
            self._accept,
            self._host,
            self._port,
            backlog=self._backlog,
            ssl=self._tls,
            ssl_handshake_timeout=self._limits.idle_timeout if self._tls else None,
        )

    def _accept(self) -> asyncio.BaseProtocol:
        server = self._runner.server
        assert server is not None  # a site exists only for a runner that is set up
        if self._open >= self._limits.max_connections:
            if not self._refusing:
                log.warning(
                    "%s has %d connections open, its most: new connections are refused "
                    "with 503 until some close.",
                    self.name,
                    self._open,
                )
                self._refusing = True
            return _Refusal()
        # Counted here, not when the connection is made: asyncio accepts a burst of
        # connections before it makes any of them, and each would see the count too low.
        self._open += 1
        options = self._limits.handler_options()
        return _Connection(server, self, loop=asyncio.get_running_loop(), **options)

    def _closed(self) -> None:
        self._open -= 1
        if self._open < self._limits.max_connections:
            self._refusing = False


class _Connection(web.RequestHandler):
    """aiohttp's request handler, counted by its site, with short answers to bad requests."""

    def __init__(self, manager: web.Server, site: ListeningSite, **options: Any) -> None:
        super().__init__(manager, **options)
        self._site = site
        self._counted = True  # by the site, as it made this handler

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._counted:
            self._counted = False
            self._site._closed()
        super().connection_lost(exc)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A fixed answer to a request the parser rejected; aiohttp's own for anything else."""
        if not isinstance(exc, BadHttpMessage):
            return super().handle_error(request, status, exc, message)
        answer = self._site.limits.status_for(exc)
        log.debug(
            "A malformed request from %s (%s) was answered %d.",
            request.remote,
            type(exc).__name__,
            answer,
        )
        if request.writer.output_size > 0:
            raise ConnectionError("An answer was being sent already; the connection is closed.")
        response = web.Response(status=answer, text=f"{answer} {answer.phrase}.\n")
        response.force_close()
        return response


class _Refusal(asyncio.Protocol):
    """A connection beyond the site's most: a fixed 503, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_TOO_MANY_CONNECTIONS)
        transport.close()
