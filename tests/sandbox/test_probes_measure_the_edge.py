"""The probes measure the sandbox edge: each result field against a known cause.

A "lab" origin on loopback sits behind the sandbox distribution (``/lab/*``), where the
test knows what it does: answer after a fixed delay, or with 503. The sandbox's own faults
are used too: origin latency, and origin errors that make the demo's origin group
(``/posts/*``) fail over to its secondary bucket, whose pages say ``content="secondary"``.
The config is put back after the module; objects the tests upload are deleted; faults are
restored through the ledger.
"""

import asyncio
import copy
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from chaos_runner.faults.ledger import restore_injected_faults
from chaos_runner.faults.origin_link import add_origin_errors, add_origin_latency
from chaos_runner.sandbox.demo import website_domain
from chaos_runner.sandbox.state import SandboxInfo
from chaos_runner.sandbox.testing import InProcessSandbox
from probes import cache, content, load
from tests.sandbox.edge_client import aws, invalidate
from tests.servers import serving

DELAY_S = 0.05
NO_STORE = {"Cache-Control": "no-store"}


@dataclass
class Lab:
    port: int
    hits: Counter[str]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """The lab origin: a fixed delay, or a fixed error."""
    hits: Counter[str] = Counter()

    async def slow(request: web.Request) -> web.Response:
        hits["slow"] += 1
        await asyncio.sleep(DELAY_S)
        return web.Response(body=b"slow", headers=NO_STORE)

    async def fine(request: web.Request) -> web.Response:
        hits["ok"] += 1
        return web.Response(body=b"ok", headers=NO_STORE)

    async def broken(request: web.Request) -> web.Response:
        hits["503"] += 1
        return web.Response(status=503, body=b"down", headers=NO_STORE)

    app = web.Application()
    app.router.add_get("/lab/slow/{tail:.*}", slow)
    app.router.add_get("/lab/ok/{tail:.*}", fine)
    app.router.add_get("/lab/503/{tail:.*}", broken)
    with serving(app) as url:
        yield Lab(int(url.rsplit(":", 1)[1]), hits)


def _with_lab(config: dict[str, Any], port: int) -> dict[str, Any]:
    """The config plus the lab origin behind ``/lab/*`` (first behavior), 503s not cached."""
    config = copy.deepcopy(config)
    website = config["Origins"]["Items"][0]
    lab_origin = copy.deepcopy(website)
    lab_origin.update(Id="lab", DomainName="127.0.0.1", ConnectionAttempts=1, ConnectionTimeout=1)
    lab_origin["CustomOriginConfig"] = {**website["CustomOriginConfig"], "HTTPPort": port}
    origins = [*config["Origins"]["Items"], lab_origin]
    config["Origins"] = {"Quantity": len(origins), "Items": origins}
    behavior = copy.deepcopy(config["DefaultCacheBehavior"])
    behavior.update(PathPattern="/lab/*", TargetOriginId="lab")
    behaviors = [behavior, *(config.get("CacheBehaviors") or {}).get("Items", [])]
    config["CacheBehaviors"] = {"Quantity": len(behaviors), "Items": behaviors}
    errors = [*config["CustomErrorResponses"]["Items"], {"ErrorCode": 503, "ErrorCachingMinTTL": 0}]
    config["CustomErrorResponses"] = {"Quantity": len(errors), "Items": errors}
    return config


@pytest.fixture(scope="module")
def lab_site(sandbox_stack: InProcessSandbox, lab: Lab) -> Iterator[dict[str, Any]]:
    """The distribution with the lab behind it; the probes' configuration points at the edge."""
    sandbox = sandbox_stack.info
    cloudfront = aws(sandbox, "cloudfront")
    original = cloudfront.get_distribution_config(Id=sandbox.distribution_id)
    cloudfront.update_distribution(
        Id=sandbox.distribution_id,
        DistributionConfig=_with_lab(original["DistributionConfig"], lab.port),
        IfMatch=original["ETag"],
    )
    configuration = {"site_url": sandbox.edge_url}
    deadline = time.monotonic() + 5
    while cache.cache_statistics("/lab/ok/ready", configuration=configuration)["pages"][
        "/lab/ok/ready"
    ]["status"] != 200:  # fmt: skip
        assert time.monotonic() < deadline, "the edge never took the lab config"
        time.sleep(0.05)
    sandbox_stack.stack.edge.cache.clear()
    try:
        yield configuration
    finally:
        current = cloudfront.get_distribution_config(Id=sandbox.distribution_id)
        cloudfront.update_distribution(
            Id=sandbox.distribution_id,
            DistributionConfig=original["DistributionConfig"],
            IfMatch=current["ETag"],
        )
        sandbox_stack.stack.edge.cache.clear()


# -- load ----------------------------------------------------------------------------------


def test_a_known_origin_latency_is_reported(lab: Lab, lab_site: dict[str, Any]) -> None:
    # A page per request, so that no two requests for one page overlap even when the machine
    # stalls: the edge would collapse them into one origin request (and one fewer origin hit).
    pages = [f"/lab/slow/{n}" for n in range(50)]
    before = lab.hits["slow"]
    result = load.measurement(pages, rate=50, duration=1.0, configuration=lab_site)

    assert result["total"] == 50
    assert lab.hits["slow"] - before == 50
    assert result["availability"] == 1.0
    assert DELAY_S * 1000 <= result["p50_ms"] <= DELAY_S * 1000 + 10
    assert result["p99_ms"] <= DELAY_S * 1000 + 40
    assert result["x_cache"] == {"Miss from cloudfront": 50}  # no-store: every request misses
    assert result["hit_ratio"] == 0.0
    assert result["pops"] == {"SBX1": 50}


def test_a_known_error_rate_is_reported(lab_site: dict[str, Any]) -> None:
    result = load.measurement(
        {"/lab/ok/a": 3, "/lab/503/b": 1}, rate=100, duration=1.0, configuration=lab_site
    )

    assert (result["total"], result["successes"], result["availability"]) == (100, 75, 0.75)
    assert result["status_counts"] == {"200": 75, "503": 25}
    assert result["x_cache"] == {"Error from cloudfront": 25, "Miss from cloudfront": 75}
    assert result["errors"] == {"timeout": 0, "refused": 0, "reset": 0, "tls": 0, "other": 0}
    assert [row["successes"] for row in result["timeline"]] == [75]


def test_a_purge_shows_in_the_hit_ratio(sandbox: SandboxInfo, lab_site: dict[str, Any]) -> None:
    pages = ["/", "/about/"]
    cache.cache_statistics(pages, configuration=lab_site)  # warm
    warm = load.measurement(pages, rate=0, requests=20, concurrency=1, configuration=lab_site)
    invalidate(sandbox, "/*")
    purged = load.measurement(pages, rate=0, requests=20, concurrency=1, configuration=lab_site)

    assert warm["hit_ratio"] == 1.0
    assert purged["hit_ratio"] == 0.9  # one miss per page, then hits
    assert purged["x_cache"] == {"Hit from cloudfront": 18, "Miss from cloudfront": 2}


# -- cache ---------------------------------------------------------------------------------


def test_cache_statistics_see_the_purge_and_the_ages(
    sandbox: SandboxInfo, lab_site: dict[str, Any]
) -> None:
    pages = ["/", "/about/"]
    invalidate(sandbox, "/*")

    first = cache.cache_statistics(pages, rounds=2, configuration=lab_site)
    again = cache.cache_statistics(pages, rounds=1, configuration=lab_site)

    assert (first["hits"], first["misses"], first["hit_ratio"]) == (2, 2, 0.5)
    assert again["hit_ratio"] == 1.0
    assert again["age"]["count"] == 2 and (again["age"]["max"] or 0) < 5
    assert (first["origin"], first["origins"]) == ("primary", {"primary": 4})


def test_a_failover_shows_the_secondarys_marker(
    sandbox_env: SandboxInfo, lab_site: dict[str, Any]
) -> None:
    posts = ["/posts/", "/posts/origin-outage/"]
    invalidate(sandbox_env, "/posts/*")
    before = cache.cache_statistics(posts, configuration=lab_site)
    add_origin_errors(status=503, share=1.0, origin=website_domain(sandbox_env.bucket))
    try:
        invalidate(sandbox_env, "/posts/*")
        during = cache.cache_statistics(posts, configuration=lab_site)
    finally:
        restore_injected_faults(scope="target")
    invalidate(sandbox_env, "/posts/*")
    after = cache.cache_statistics(posts, configuration=lab_site)

    assert (before["origin"], during["origin"], after["origin"]) == (
        "primary",
        "secondary",
        "primary",
    )
    assert during["origins"] == {"secondary": 2}
    assert during["status_counts"] == {"200": 2}


def test_the_sandbox_origin_latency_fault_is_reported(
    sandbox_env: SandboxInfo, lab_site: dict[str, Any]
) -> None:
    s3 = aws(sandbox_env, "s3")
    keys = [f"probe-tests/latency-{uuid.uuid4().hex[:6]}-{n}.html" for n in range(5)]
    for key in keys:  # uncached pages, five so that no two requests for one page overlap
        s3.put_object(Bucket=sandbox_env.bucket, Key=key, Body=b"<html>live</html>",
                      ContentType="text/html", CacheControl="no-cache")  # fmt: skip
    pages = [f"/{key}" for key in keys]
    try:
        quick = load.measurement(pages, rate=20, duration=1.0, configuration=lab_site)
        add_origin_latency(latency_ms=100, share=1.0, origin=website_domain(sandbox_env.bucket))
        try:
            slow = load.measurement(pages, rate=20, duration=1.0, configuration=lab_site)
        finally:
            restore_injected_faults(scope="target")
    finally:
        for key in keys:
            s3.delete_object(Bucket=sandbox_env.bucket, Key=key)

    assert (slow["total"], slow["availability"]) == (20, 1.0)
    assert slow["x_cache"] == {"Miss from cloudfront": 20}
    injected = slow["p50_ms"] - quick["p50_ms"]
    assert 95.0 <= injected <= 110.0, (quick["latency_ms"], slow["latency_ms"])
    # p50, not p99: with 20 requests p99 is the slowest one, which a busy CI machine delays
    assert 100.0 <= slow["p50_ms"] <= slow["p99_ms"]


# -- content -------------------------------------------------------------------------------


def test_the_edge_serves_the_bucket_byte_for_byte(
    sandbox_env: SandboxInfo, lab_site: dict[str, Any]
) -> None:
    report = content.integrity(sample=8, configuration=lab_site)

    assert report["source"] == f"bucket {sandbox_env.bucket}"
    assert report["checked"] == 8
    assert (report["integrity"], report["ok"]) == (1.0, True)
    assert "/" in {page["path"] for page in report["pages"]}


def test_a_stale_page_at_the_edge_is_a_mismatch_until_purged(
    sandbox_env: SandboxInfo, lab_site: dict[str, Any]
) -> None:
    s3 = aws(sandbox_env, "s3")
    key = f"probe-tests/{uuid.uuid4().hex[:8]}.html"
    s3.put_object(Bucket=sandbox_env.bucket, Key=key, Body=b"v1", ContentType="text/html")
    try:
        assert content.integrity(f"/{key}", configuration=lab_site)["ok"] is True
        s3.put_object(Bucket=sandbox_env.bucket, Key=key, Body=b"v2", ContentType="text/html")
        stale = content.integrity(f"/{key}", configuration=lab_site)
        invalidate(sandbox_env, f"/{key}")
        fresh = content.integrity(f"/{key}", configuration=lab_site)
    finally:
        s3.delete_object(Bucket=sandbox_env.bucket, Key=key)

    assert (stale["ok"], stale["mismatched"]) == (False, [f"/{key}"])
    assert stale["pages"][0]["x_cache"] == "Hit from cloudfront"
    assert (fresh["ok"], fresh["integrity"]) == (True, 1.0)
