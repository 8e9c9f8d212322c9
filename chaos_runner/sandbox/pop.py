"""Points of presence: several edges, each with a cache of its own, serving one distribution.

CloudFront answers each viewer from a nearby edge location (a POP); what one POP holds in
cache, another does not, and ``X-Amz-Cf-Pop`` names the POP that answered. The sandbox
runs ``n`` POPs named ``SBX1`` ... ``SBXn``:

- Each POP listens on a port of its own (``SandboxInfo.pop_urls``); the first POP's port
  is the site's URL (``SandboxInfo.edge_url``).
- On any of those ports, the request header ``X-Chaos-Pop: SBX2`` picks a POP by name
  (case-insensitive), so one URL reaches every POP; an unknown name answers ``400``.
  The header is the sandbox's own and is not forwarded to the origin.
- Invalidations and config changes reach every POP (after the propagation delay, see
  :mod:`chaos_runner.sandbox.propagation`). The POPs share one link to the origins, so
  link faults apply to all of them.
"""

import asyncio
from collections.abc import Sequence

from aiohttp import web

from chaos_runner._errors import SandboxError
from chaos_runner.sandbox.distribution import Distribution
from chaos_runner.sandbox.edge import Edge

__all__ = ["POP_HEADER", "PointsOfPresence", "pop_name"]

#: The request header that picks a POP on any edge port.
POP_HEADER = "X-Chaos-Pop"
#: The most characters of an unknown POP name that the 400 repeats (names are short).
_SHOWN = 32


def pop_name(index: int) -> str:
    """The name of the POP at ``index`` (0-based): SBX1, SBX2, ..."""
    return f"SBX{index + 1}"


class PointsOfPresence:
    """The sandbox's POPs: one :class:`Edge` each, in order (the first is the default)."""

    def __init__(self, edges: Sequence[Edge]) -> None:
        if not edges:
            raise SandboxError("The sandbox needs at least one POP.")
        self._edges = tuple(edges)
        self._by_name = {edge.pop.upper(): edge for edge in self._edges}

    @property
    def edges(self) -> tuple[Edge, ...]:
        """Every POP's edge, first POP first."""
        return self._edges

    @property
    def names(self) -> tuple[str, ...]:
        """The POPs' names, first POP first."""
        return tuple(edge.pop for edge in self._edges)

    def __getitem__(self, name: str) -> Edge:
        """The edge of the POP called ``name`` (case-insensitive)."""
        try:
            return self._by_name[name.upper()]
        except KeyError:
            raise SandboxError(
                f"The sandbox has no POP {name!r}; its POPs are {', '.join(self.names)}."
            ) from None

    async def start(self) -> None:
        """Load the config once and serve it at every POP."""
        distribution = await self.load()
        for edge in self._edges:
            await edge.start(distribution)

    async def load(self) -> Distribution:
        """The distribution's config as the control plane has it now."""
        return await asyncio.to_thread(self._edges[0].load)

    async def close(self) -> None:
        """Stop every POP's origin fetches."""
        for edge in self._edges:
            await edge.close()

    def invalidate(self, paths: Sequence[str]) -> None:
        """Evict what ``paths`` cover at every POP (thread-safe)."""
        for edge in self._edges:
            edge.invalidate(paths)

    def config_changed(self) -> None:
        """Every POP reloads the config before its next request (thread-safe)."""
        for edge in self._edges:
            edge.config_changed()

    def use(self, distribution: Distribution) -> None:
        """Every POP serves ``distribution`` from now on."""
        for edge in self._edges:
            edge.use(distribution)

    def app(self, default: str) -> web.Application:
        """The application of one POP's port: POP ``default``, unless X-Chaos-Pop names one."""
        fallback = self[default]
        by_name = self._by_name

        async def route(request: web.Request) -> web.StreamResponse:
            wanted = request.headers.get(POP_HEADER)
            if wanted is None:
                return await fallback.handle(request)
            edge = by_name.get(wanted.strip().upper())
            if edge is None:
                shown = repr(wanted) if len(wanted) <= _SHOWN else f"{wanted[:_SHOWN]!r}..."
                return web.Response(
                    status=400,
                    text=f"{POP_HEADER}: {shown} names no POP of this sandbox; its POPs "
                    f"are {', '.join(self.names)}.\n",
                )
            return await edge.handle(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", route)
        return app
