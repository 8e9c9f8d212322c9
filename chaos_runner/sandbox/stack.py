"""The sandbox site stack in one process: control plane, website endpoint, edge, admin API.

Start order: the site's certificates (a test CA, :mod:`chaos_runner.sandbox.tls`) -> moto
(control plane) -> demo resources (buckets, sites, policies, the ACM certificate, the
distribution, the Route 53 zone and alias records) -> S3 website endpoint emulator -> the
POPs of the edge (the first POP over HTTP and HTTPS) -> the admin API.
Stop order is the reverse, and stopping resets moto so that a later stack in the same
process starts from nothing (so one process runs one stack at a time).
"""

import asyncio
import mimetypes
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos_runner._errors import ConfigurationError, SandboxError
from chaos_runner.aws import acm_client, cloudfront_client, route53_client, s3_client
from chaos_runner.sandbox import demo
from chaos_runner.sandbox.controlplane import (
    CloudFrontListener,
    ControlPlane,
    assign_distribution_id,
    listen_to_cloudfront,
)
from chaos_runner.sandbox.site_dir import check_site_dir
from chaos_runner.sandbox.state import DISTRIBUTION_ID, SandboxInfo

if TYPE_CHECKING:
    import ssl

    from aiohttp import web
    from mypy_boto3_s3 import S3Client

    from chaos_runner.sandbox.edge import Edge
    from chaos_runner.sandbox.linkfault import LinkFaults
    from chaos_runner.sandbox.listener import ListenerLimits
    from chaos_runner.sandbox.origin import OriginLink
    from chaos_runner.sandbox.pop import PointsOfPresence
    from chaos_runner.sandbox.propagation import Propagation
    from chaos_runner.sandbox.tls import EdgeCertificates
    from chaos_runner.sandbox.website import WebsiteEndpoint

__all__ = ["DEFAULT_POPS", "MAX_POPS", "SandboxSettings", "SandboxStack", "upload_site"]

#: Two POPs: enough to see that a cache at one edge location is not at another.
DEFAULT_POPS = 2
#: More POPs than this is a typo; each one is a cache and a port.
MAX_POPS = 16

_WEBSITE_DOMAIN = re.compile(
    r"^(?P<bucket>.+)\.s3-website[-.](?P<region>[a-z0-9-]+)\.amazonaws\.com$"
)
_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$")


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """How to start the sandbox. Port 0 picks a free port.

    POP ``n`` (from 2) listens on ``edge_port + n - 1`` when ``edge_port`` is set, else on a
    free port. ``site_dir`` (a built site, see :mod:`chaos_runner.sandbox.site_dir`) replaces
    the demo site in both buckets, each object tagged with the origin it is in.
    ``distribution_id`` (``E`` and 13 of ``[0-9A-Z]``) is the demo distribution's id; None:
    moto draws one. ``https_port`` is the first POP's HTTPS port. ``state_dir`` receives
    the test CA's certificate and the trust bundle (:mod:`chaos_runner.sandbox.tls`); None:
    a temporary directory of the stack's, removed when it stops.
    """

    host: str = "127.0.0.1"
    aws_port: int = 0
    edge_port: int = 0
    site_dir: Path | None = None
    pops: int = DEFAULT_POPS
    propagation_delay: float = 0.0
    admin_port: int = 0
    distribution_id: str | None = None
    https_port: int = 0
    state_dir: Path | None = None


def upload_site(s3: "S3Client", bucket: str, site_dir: Path, origin: str = "") -> int:
    """Upload every file below ``site_dir`` as ``aws s3 cp --recursive`` would; return the count.

    ``origin`` (``primary``, ``secondary``) is written as the objects' metadata
    ``chaos-origin`` (:data:`demo.ORIGIN_METADATA`), as ``aws s3 cp --metadata
    chaos-origin=secondary`` would: S3 answers it as the header ``x-amz-meta-chaos-origin``,
    CloudFront passes it to viewers, and ``probes.cache`` reads which origin of an origin
    group served a page from it on a site without the demo's meta marker.
    """
    metadata = {demo.ORIGIN_METADATA: origin} if origin else {}
    count = 0
    for path in sorted(p for p in site_dir.rglob("*") if p.is_file()):
        key = path.relative_to(site_dir).as_posix()
        content_type = mimetypes.guess_type(path.name)[0] or "binary/octet-stream"
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            ContentType=content_type,
            Metadata=metadata,
        )
        count += 1
    return count


class SandboxStack:
    """The local site stack. ``await start()`` returns where everything is."""

    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self._control = ControlPlane(self.settings.host, self.settings.aws_port)
        self._runners: list[web.AppRunner] = []
        self._website: WebsiteEndpoint | None = None
        self._link: OriginLink | None = None
        self._pops: PointsOfPresence | None = None
        self._propagation: Propagation | None = None
        self._remove_listener: Callable[[], None] | None = None
        self._certificates: EdgeCertificates | None = None
        self._own_state_dir: Path | None = None
        self.info: SandboxInfo | None = None

    @property
    def pops(self) -> "PointsOfPresence":
        """The running POPs."""
        if self._pops is None:
            raise SandboxError("The sandbox edge is not running.")
        return self._pops

    @property
    def edge(self) -> "Edge":
        """The first POP's edge (the one ``edge_url`` reaches without X-Chaos-Pop)."""
        return self.pops.edges[0]

    @property
    def link_faults(self) -> "LinkFaults":
        """The origin link faults in force (what the admin API changes)."""
        if self._link is None:
            raise SandboxError("The sandbox edge is not running.")
        return self._link.faults

    @property
    def certificates(self) -> "EdgeCertificates":
        """The edge's certificates: the test CA, the site's, and which one is served."""
        if self._certificates is None:
            raise SandboxError("The sandbox edge is not running.")
        return self._certificates

    @property
    def propagation(self) -> "Propagation":
        """The propagation of CloudFront changes; its ``delay`` is settable at run time."""
        if self._propagation is None:
            raise SandboxError("The sandbox edge is not running.")
        return self._propagation

    async def start(self) -> SandboxInfo:
        """Start everything; on any failure, stop what was started and raise SandboxError."""
        began = time.monotonic()
        if self.settings.site_dir is not None:
            try:  # before anything starts, so nothing needs stopping
                check_site_dir(self.settings.site_dir)
            except ConfigurationError as error:
                raise SandboxError(str(error)) from None
        try:
            return await self._start(began)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, began: float) -> SandboxInfo:
        from chaos_runner.sandbox.edge import Edge
        from chaos_runner.sandbox.listener import ListenerLimits
        from chaos_runner.sandbox.origin import OriginLink
        from chaos_runner.sandbox.pop import PointsOfPresence, pop_name
        from chaos_runner.sandbox.propagation import Propagation
        from chaos_runner.sandbox.website import WEBSITE_CAPACITY, WebsiteEndpoint

        settings = self.settings
        if not 1 <= settings.pops <= MAX_POPS:
            raise SandboxError(f"The sandbox runs 1 to {MAX_POPS} POPs; got {settings.pops}.")
        stable_id = settings.distribution_id
        if stable_id is not None and not DISTRIBUTION_ID.match(stable_id):
            raise SandboxError(
                f"A distribution id is E and 13 upper-case letters or digits; got {stable_id!r}."
            )
        certificates = self._certificates = await asyncio.to_thread(self._make_certificates)
        self._control.start()
        endpoint = self._control.endpoint_url
        distribution_id = await asyncio.to_thread(self._seed, endpoint, certificates)
        self._website = WebsiteEndpoint(endpoint, demo.REGION)
        # Idle connections to the emulator outlive the ones the edge's link keeps in its pool
        # (15 s), so the link never sends a request on a connection the emulator is closing.
        website_limits = ListenerLimits(idle_timeout=60.0)
        website_port = await self._serve(
            self._website.app(), 0, "website endpoint", limits=website_limits
        )

        def resolve(domain: str, port: int) -> tuple[str, int] | None:
            if _WEBSITE_DOMAIN.match(domain):
                return (settings.host, website_port)
            if _LOOPBACK.match(domain):
                return (domain.strip("[]"), port)
            return None

        # The emulator serves a few requests at a time, where S3 scales: more wait at the link.
        self._link = OriginLink(resolve, capacity={(settings.host, website_port): WEBSITE_CAPACITY})
        edges = [
            Edge(endpoint, demo.REGION, distribution_id, self._link, pop_name(index))
            for index in range(settings.pops)
        ]
        self._pops = PointsOfPresence(edges)
        await self._pops.start()
        self._propagation = Propagation(
            distribution_id, self._pops, asyncio.get_running_loop(), settings.propagation_delay
        )
        self._remove_listener = listen_to_cloudfront(
            CloudFrontListener(
                on_invalidation=self._propagation.on_invalidation,
                on_config_change=self._propagation.on_config_change,
            )
        )
        host = settings.host
        pop_urls: dict[str, str] = {}
        https_port = 0
        for index, name in enumerate(self._pops.names):
            wanted = settings.edge_port + index if settings.edge_port else 0
            what = "edge" if index == 0 else f"edge POP {name}"
            runner = await self._runner(self._pops.app(name))
            port = await self._listen(runner, wanted, what, "--edge-port")
            pop_urls[name] = f"http://{host}:{port}"
            if index == 0:  # the site over HTTPS: the same POP, the same application
                https_port = await self._listen(
                    runner,
                    settings.https_port,
                    "edge (HTTPS)",
                    "--https-port",
                    ssl_context=certificates.context,
                )
        edge_url = pop_urls[self._pops.names[0]]
        https_url = f"https://{host}:{https_port}"
        admin_port = await self._serve_admin(edge_url, pop_urls, https_url)
        self.info = SandboxInfo(
            pid=os.getpid(),
            aws_endpoint_url=endpoint,
            edge_url=edge_url,
            website_url=f"http://{host}:{website_port}",
            region=demo.REGION,
            distribution_id=distribution_id,
            bucket=demo.BUCKET,
            started_at=time.time(),
            startup_seconds=round(time.monotonic() - began, 3),
            pop_urls=pop_urls,
            admin_url=f"http://{host}:{admin_port}",
            failover_bucket=demo.FAILOVER_BUCKET,
            propagation_delay=settings.propagation_delay,
            site_dir=str(settings.site_dir.absolute()) if settings.site_dir else "",
            https_url=https_url,
            ca_file=str(certificates.ca_file),
            trust_bundle=str(certificates.trust_bundle),
        )
        return self.info

    def _make_certificates(self) -> "EdgeCertificates":
        """The test CA and the site's certificate, their PEMs in the state directory."""
        from chaos_runner.sandbox.tls import EdgeCertificates

        directory = self.settings.state_dir
        if directory is None:
            directory = self._own_state_dir = Path(tempfile.mkdtemp(prefix="chaos-sandbox-"))
        return EdgeCertificates([demo.SITE_HOST, "localhost", "127.0.0.1", "::1"], directory)

    async def _serve_admin(self, edge_url: str, pop_urls: dict[str, str], https_url: str) -> int:
        from chaos_runner.sandbox.admin import AdminApi

        def health() -> dict[str, Any]:
            return {
                "pid": os.getpid(),
                "edge_url": edge_url,
                "https_url": https_url,
                "pop_urls": pop_urls,
                "distribution_id": self.pops.edges[0].distribution.id,
                "propagation_delay": self.propagation.delay,
                "link_faults": len(self.link_faults.records()),
                "certificate": self.certificates.record()["state"],
            }

        def origins() -> list[str]:
            return [origin.domain_name for origin in self.pops.edges[0].distribution.origins]

        admin = AdminApi(self.link_faults, health, origins, self.certificates)
        return await self._serve(admin.app(), self.settings.admin_port, "admin API", "--admin-port")

    def _seed(self, endpoint: str, certificates: "EdgeCertificates") -> str:
        """Create the demo buckets, sites, policies, certificate, distribution and DNS
        records; return the distribution's id.

        Each bucket's objects say which origin of the group they are in (``primary``,
        ``secondary``) in their metadata, whichever site the sandbox serves. The ACM
        certificate is the one the edge serves over HTTPS (imported, as ACM holds a
        certificate made elsewhere); the distribution names it (SNI only) with the site's
        host name as its alternate domain name, and that name is an A and AAAA alias of
        the distribution in the public hosted zone of the site's domain.
        """
        s3 = s3_client(demo.REGION, endpoint)
        sites = (
            (demo.BUCKET, self.settings.site_dir or demo.site_root(), "primary"),
            (
                demo.FAILOVER_BUCKET,
                self.settings.site_dir or demo.site_root("secondary"),
                "secondary",
            ),
        )
        for bucket, site, origin in sites:
            s3.create_bucket(Bucket=bucket)
            upload_site(s3, bucket, site, origin)
            s3.put_bucket_website(
                Bucket=bucket,
                WebsiteConfiguration={
                    "IndexDocument": {"Suffix": "index.html"},
                    "ErrorDocument": {"Key": "404.html"},
                },
            )
            s3.put_bucket_policy(Bucket=bucket, Policy=demo.public_read_policy(bucket))
        certificate_arn = acm_client(demo.REGION, endpoint).import_certificate(
            **certificates.acm_import()  # type: ignore[arg-type]
        )["CertificateArn"]
        cloudfront = cloudfront_client(demo.REGION, endpoint)
        wanted = self.settings.distribution_id
        # A stable id comes with a stable CallerReference: a config read before a restart
        # (the prior config in a ledger entry) is then the config after it, too.
        reference = f"sandbox-{wanted}" if wanted else f"sandbox-{uuid.uuid4()}"
        config = demo.demo_distribution_config(reference) | demo.viewer_certificate(certificate_arn)
        created = cloudfront.create_distribution(DistributionConfig=config)  # type: ignore[arg-type]
        distribution_id = created["Distribution"]["Id"]
        route53 = route53_client(demo.REGION, endpoint)
        zone = route53.create_hosted_zone(
            Name=demo.HOSTED_ZONE,
            CallerReference=reference,
            HostedZoneConfig={"Comment": "chaostoolkit-cdn sandbox", "PrivateZone": False},
        )
        route53.change_resource_record_sets(
            HostedZoneId=zone["HostedZone"]["Id"],
            ChangeBatch=demo.alias_records(created["Distribution"]["DomainName"]),  # type: ignore[arg-type]
        )
        if wanted is None:
            return distribution_id
        assign_distribution_id(distribution_id, wanted)
        return wanted

    async def _serve(
        self,
        app: "web.Application",
        port: int,
        what: str,
        option: str = "--edge-port",
        limits: "ListenerLimits | None" = None,
    ) -> int:
        """Serve ``app`` on ``port`` of the sandbox's host; return the bound port."""
        return await self._listen(await self._runner(app), port, what, option, limits)

    async def _runner(self, app: "web.Application") -> "web.AppRunner":
        """A runner of ``app``, set up, stopped with the stack."""
        from aiohttp import web

        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        return runner

    async def _listen(
        self,
        runner: "web.AppRunner",
        port: int,
        what: str,
        option: str,
        limits: "ListenerLimits | None" = None,
        ssl_context: "ssl.SSLContext | None" = None,
    ) -> int:
        """Serve ``runner``'s application on ``port`` too (HTTPS with ``ssl_context``)."""
        from chaos_runner.sandbox.listener import ListenerLimits, ListeningSite

        limits = limits or ListenerLimits()
        site = ListeningSite(runner, self.settings.host, port, limits, ssl_context)
        try:
            await site.start()
        except OSError as error:
            raise SandboxError(
                f"The sandbox cannot listen on {self.settings.host}:{port} for its {what} "
                f"({error.strerror or error}): the port is in use by another sandbox or "
                f"program. Stop it (`chaos sandbox down`) or pick another port with {option}."
            ) from error
        return site.port

    async def stop(self) -> None:
        """Stop the admin API, the edge, the website endpoint and moto; forget all state."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        if self._propagation is not None:
            await self._propagation.close()
            self._propagation = None
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self._pops is not None:
            await self._pops.close()
            self._pops = None
        if self._link is not None:
            await self._link.close()
            self._link = None
        if self._website is not None:
            await self._website.close()
            self._website = None
        await asyncio.to_thread(self._control.stop)
        self._certificates = None
        if self._own_state_dir is not None:
            shutil.rmtree(self._own_state_dir, ignore_errors=True)
            self._own_state_dir = None
