"""The sandbox site stack in one process: control plane, website endpoint, edge.

Start order: moto (control plane) -> demo resources (bucket, site, policy, distribution)
-> S3 website endpoint emulator -> edge. Stop order is the reverse, and stopping resets
moto so that a later stack in the same process starts from nothing.
"""

import asyncio
import mimetypes
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chaos_runner._errors import SandboxError
from chaos_runner.aws import cloudfront_client, s3_client
from chaos_runner.sandbox import demo
from chaos_runner.sandbox.controlplane import (
    CloudFrontListener,
    ControlPlane,
    listen_to_cloudfront,
)
from chaos_runner.sandbox.state import SandboxInfo

if TYPE_CHECKING:
    from aiohttp import web
    from mypy_boto3_s3 import S3Client

    from chaos_runner.sandbox.edge import Edge
    from chaos_runner.sandbox.website import WebsiteEndpoint

__all__ = ["SandboxSettings", "SandboxStack", "upload_site"]

_WEBSITE_DOMAIN = re.compile(
    r"^(?P<bucket>.+)\.s3-website[-.](?P<region>[a-z0-9-]+)\.amazonaws\.com$"
)
_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$")


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """How to start the sandbox. Port 0 picks a free port."""

    host: str = "127.0.0.1"
    aws_port: int = 0
    edge_port: int = 0
    site_dir: Path | None = None


def upload_site(s3: "S3Client", bucket: str, site_dir: Path) -> int:
    """Upload every file below ``site_dir`` as ``aws s3 cp --recursive`` would; return the count."""
    count = 0
    for path in sorted(p for p in site_dir.rglob("*") if p.is_file()):
        key = path.relative_to(site_dir).as_posix()
        content_type = mimetypes.guess_type(path.name)[0] or "binary/octet-stream"
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type)
        count += 1
    return count


class SandboxStack:
    """The local site stack. ``await start()`` returns where everything is."""

    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self._control = ControlPlane(self.settings.host, self.settings.aws_port)
        self._runners: list[web.AppRunner] = []
        self._website: WebsiteEndpoint | None = None
        self._edge: Edge | None = None
        self._remove_listener: Callable[[], None] | None = None
        self.info: SandboxInfo | None = None

    @property
    def edge(self) -> "Edge":
        """The running edge (for tests and the origin-link faults)."""
        if self._edge is None:
            raise SandboxError("The sandbox edge is not running.")
        return self._edge

    async def start(self) -> SandboxInfo:
        """Start everything; on any failure, stop what was started and raise SandboxError."""
        began = time.monotonic()
        try:
            return await self._start(began)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, began: float) -> SandboxInfo:
        from chaos_runner.sandbox.edge import Edge
        from chaos_runner.sandbox.website import WebsiteEndpoint

        self._control.start()
        endpoint = self._control.endpoint_url
        distribution_id = await asyncio.to_thread(self._seed, endpoint)
        self._website = WebsiteEndpoint(endpoint, demo.REGION)
        website_port = await self._serve(self._website.app(), 0, "website endpoint")

        def resolve(domain: str, port: int) -> tuple[str, int] | None:
            if _WEBSITE_DOMAIN.match(domain):
                return (self.settings.host, website_port)
            if _LOOPBACK.match(domain):
                return (domain.strip("[]"), port)
            return None

        self._edge = Edge(endpoint, demo.REGION, distribution_id, resolve)
        await self._edge.start()
        edge = self._edge
        self._remove_listener = listen_to_cloudfront(
            CloudFrontListener(
                on_invalidation=lambda dist, paths: (
                    edge.invalidate(paths) if dist == distribution_id else None
                ),
                on_config_change=lambda dist: (
                    edge.config_changed() if dist == distribution_id else None
                ),
            )
        )
        edge_port = await self._serve(self._edge.app(), self.settings.edge_port, "edge")
        host = self.settings.host
        self.info = SandboxInfo(
            pid=os.getpid(),
            aws_endpoint_url=endpoint,
            edge_url=f"http://{host}:{edge_port}",
            website_url=f"http://{host}:{website_port}",
            region=demo.REGION,
            distribution_id=distribution_id,
            bucket=demo.BUCKET,
            started_at=time.time(),
            startup_seconds=round(time.monotonic() - began, 3),
        )
        return self.info

    def _seed(self, endpoint: str) -> str:
        """Create the demo bucket, site, policy and distribution; return the distribution id."""
        s3 = s3_client(demo.REGION, endpoint)
        s3.create_bucket(Bucket=demo.BUCKET)
        upload_site(s3, demo.BUCKET, self.settings.site_dir or demo.site_root())
        s3.put_bucket_website(
            Bucket=demo.BUCKET,
            WebsiteConfiguration={
                "IndexDocument": {"Suffix": "index.html"},
                "ErrorDocument": {"Key": "404.html"},
            },
        )
        s3.put_bucket_policy(Bucket=demo.BUCKET, Policy=demo.public_read_policy(demo.BUCKET))
        cloudfront = cloudfront_client(demo.REGION, endpoint)
        created = cloudfront.create_distribution(
            DistributionConfig=demo.demo_distribution_config(f"sandbox-{uuid.uuid4()}")  # type: ignore[arg-type]
        )
        return created["Distribution"]["Id"]

    async def _serve(self, app: "web.Application", port: int, what: str) -> int:
        from aiohttp import web

        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, self.settings.host, port, reuse_address=False)
        try:
            await site.start()
        except OSError as error:
            raise SandboxError(
                f"The sandbox cannot listen on {self.settings.host}:{port} for its {what} "
                f"({error.strerror or error}): the port is in use by another sandbox or "
                "program. Stop it (`chaos sandbox down`) or pick another port with --edge-port."
            ) from error
        server = site._server  # aiohttp exposes the bound port only here
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def stop(self) -> None:
        """Stop the edge, the website endpoint and moto, in that order; forget all state."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self._edge is not None:
            await self._edge.close()
            self._edge = None
        if self._website is not None:
            await self._website.close()
            self._website = None
        await asyncio.to_thread(self._control.stop)
