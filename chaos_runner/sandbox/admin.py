"""The sandbox's admin API: switch origin link and certificate faults from another process.

A small JSON API on a loopback port of its own (``SandboxInfo.admin_url``, exported as
``CHAOS_SANDBOX_ADMIN_URL``). The chaos run's fault layer calls it; nothing restarts.

=======  ===============================  ==================================================
GET      /health                          200 ``{"pid", "edge_url", "pop_urls", ...}``
GET      /origin-link/faults              200 ``{"faults": [fault, ...]}``
PUT      /origin-link/faults/{id}         200 the stored fault; replaces one with that id
DELETE   /origin-link/faults/{id}         204; 404 when there is no such fault
DELETE   /origin-link/faults              204; removes every fault (an emergency stop)
GET      /edge/certificate                200 what the edge serves over HTTPS
PUT      /edge/certificate                200 what it serves from the next handshake on
=======  ===============================  ==================================================

A PUT body is ``{"kind": "latency"|"error"|"blackhole"|"reset", "share": 0.0-1.0,
"latency_ms": int, "jitter_ms": int, "status": int, "origin": domain-or-null, "seed": int}``
(see :mod:`chaos_runner.sandbox.linkfault`); a stored fault adds ``id``, ``created_at``
(RFC 3339, UTC) and the counters ``requests`` (origin fetch attempts it was drawn for) and
``applied`` (attempts it changed), which let a caller verify that the fault takes effect.
``origin`` must be the domain of one of the distribution's origins at the time of the PUT.

The edge's certificate (:mod:`chaos_runner.sandbox.tls`): a PUT body is ``{"state":
"expired", "fault_id": "<id of the fault>", "expired_days": 1-3650}`` (an expired
certificate of the same CA and names) or ``{"state": "valid"}`` (the site's certificate
again); both answers are ``{"state", "fault_id", "subject", "issuer", "serial", "sha256",
"not_before", "not_after", "names"}``, with ``https_url``. A sandbox without HTTPS answers
404.

Every error is a JSON ``{"error": "<sentence>"}``: 400 for a bad request, 404 for an
unknown fault or path, 405 for a method a path does not take. Requests whose ``Host`` is not
a loopback name are refused with 403 (a web page cannot reach the API by DNS rebinding).
"""

import asyncio
import json
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from aiohttp import web

from chaos_runner._errors import ConfigurationError
from chaos_runner.sandbox.linkfault import LinkFault, LinkFaults
from chaos_runner.sandbox.tls import CertificateRequest, EdgeCertificates

__all__ = ["AdminApi"]

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, sentence: str) -> web.Response:
    return web.json_response({"error": sentence}, status=status)


class AdminApi:
    """The admin application over the sandbox's link faults."""

    def __init__(
        self,
        faults: LinkFaults,
        health: Callable[[], Mapping[str, Any]],
        origins: Callable[[], Collection[str]],
        certificates: EdgeCertificates | None = None,
    ) -> None:
        self._faults = faults
        self._health = health
        self._origins = origins
        self._certificates = certificates

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        app.router.add_get("/health", self._get_health, allow_head=False)
        app.router.add_get("/origin-link/faults", self._list, allow_head=False)
        app.router.add_delete("/origin-link/faults", self._clear)
        app.router.add_put("/origin-link/faults/{fault_id}", self._put)
        app.router.add_delete("/origin-link/faults/{fault_id}", self._delete)
        app.router.add_get("/edge/certificate", self._get_certificate, allow_head=False)
        app.router.add_put("/edge/certificate", self._put_certificate)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.lower() not in _LOOPBACK_HOSTS:
            return _error(
                403, f"The sandbox admin API answers loopback host names only; got {host!r}."
            )
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return _error(404, f"No such admin API path: {request.method} {request.path}.")
        except web.HTTPMethodNotAllowed as error:
            allowed = ", ".join(sorted(error.allowed_methods))
            return _error(
                405, f"{request.path} does not take {request.method}; it takes {allowed}."
            )

    async def _get_health(self, request: web.Request) -> web.Response:
        return web.json_response(dict(self._health()))

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response({"faults": self._faults.records()})

    async def _clear(self, request: web.Request) -> web.Response:
        self._faults.clear()
        return web.Response(status=204)

    async def _put(self, request: web.Request) -> web.Response:
        fault_id = request.match_info["fault_id"]
        try:
            body = json.loads(await request.read() or b"null")
        except (ValueError, UnicodeDecodeError) as error:
            return _error(400, f"The request body is not JSON ({error}).")
        try:
            fault = LinkFault.from_json(fault_id, body)
            self._check_origin(fault)
            record = self._faults.put(fault)
        except ConfigurationError as error:
            return _error(400, str(error))
        return web.json_response(record)

    async def _delete(self, request: web.Request) -> web.Response:
        fault_id = request.match_info["fault_id"]
        if not self._faults.delete(fault_id):
            return _error(404, f"There is no origin link fault {fault_id!r} to delete.")
        return web.Response(status=204)

    async def _get_certificate(self, request: web.Request) -> web.Response:
        if self._certificates is None:
            return _error(404, "This sandbox's edge does not serve HTTPS.")
        return self._certificate_answer(self._certificates.record())

    async def _put_certificate(self, request: web.Request) -> web.Response:
        if self._certificates is None:
            return _error(404, "This sandbox's edge does not serve HTTPS.")
        try:
            body = json.loads(await request.read() or b"null")
        except (ValueError, UnicodeDecodeError) as error:
            return _error(400, f"The request body is not JSON ({error}).")
        try:
            wanted = CertificateRequest.from_json(body)
        except ConfigurationError as error:
            return _error(400, str(error))
        # Off the loop: issuing an expired certificate makes a key (milliseconds).
        return self._certificate_answer(await asyncio.to_thread(self._certificates.apply, wanted))

    def _certificate_answer(self, record: Mapping[str, Any]) -> web.Response:
        return web.json_response({**record, "https_url": self._health().get("https_url", "")})

    def _check_origin(self, fault: LinkFault) -> None:
        if fault.origin is None:
            return
        known = sorted({domain.lower() for domain in self._origins()})
        if fault.origin not in known:
            raise ConfigurationError(
                f"origin {fault.origin!r} is not an origin of the sandbox distribution; its "
                f"origin domains are {', '.join(known)}. Use one of them, or null for all."
            )
