"""Origin link faults, switched on and off through the admin API over real HTTP.

Every request goes through the admin API and the edge as another process would send it.
Faults are removed after each test; paths are fresh per test (errors are cached 10 s), and
the distribution config is put back where a test changes it.
"""

import copy
import http.client
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from chaos_runner.sandbox.demo import BUCKET, website_domain
from chaos_runner.sandbox.state import SANDBOX_ACCESS_KEY, SANDBOX_SECRET_KEY, SandboxInfo
from chaos_runner.sandbox.testing import InProcessSandbox

PRIMARY = website_domain(BUCKET)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes
    seconds: float

    @property
    def x_cache(self) -> str:
        return self.headers.get("X-Cache", "")

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One HTTP request; ``body`` is sent as JSON unless it is bytes."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=15)
    payload = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    began = time.monotonic()
    try:
        connection.request(method, path, body=payload, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.msg, response.read(), time.monotonic() - began)
    finally:
        connection.close()


def edge(sandbox: SandboxInfo, path: str) -> Reply:
    return request(sandbox.edge_url, "GET", path)


def put_fault(sandbox: SandboxInfo, fault_id: str, **fault: Any) -> Reply:
    return request(sandbox.admin_url, "PUT", f"/origin-link/faults/{fault_id}", fault)


def fresh(name: str = "page") -> str:
    """A path no test asked for before (the origin answers 404 for it)."""
    return f"/link-{uuid.uuid4().hex[:10]}/{name}"


@pytest.fixture
def admin(sandbox: SandboxInfo, sandbox_stack: InProcessSandbox) -> Iterator[SandboxInfo]:
    """The sandbox, with no link fault and empty caches before and after the test."""
    assert request(sandbox.admin_url, "DELETE", "/origin-link/faults").status == 204
    for pop in sandbox_stack.stack.pops.edges:
        pop.cache.clear()
    yield sandbox
    assert request(sandbox.admin_url, "DELETE", "/origin-link/faults").status == 204
    for pop in sandbox_stack.stack.pops.edges:
        pop.cache.clear()


@pytest.fixture
def short_read_timeout(sandbox: SandboxInfo) -> Iterator[None]:
    """Both demo origins wait 1 s for an answer (instead of 5 s); put back afterwards."""
    cloudfront = boto3.client(
        "cloudfront",
        endpoint_url=sandbox.aws_endpoint_url,
        region_name=sandbox.region,
        aws_access_key_id=SANDBOX_ACCESS_KEY,
        aws_secret_access_key=SANDBOX_SECRET_KEY,
    )
    original = cloudfront.get_distribution_config(Id=sandbox.distribution_id)
    config = copy.deepcopy(original["DistributionConfig"])
    for origin in config["Origins"]["Items"]:
        origin["CustomOriginConfig"]["OriginReadTimeout"] = 1
    cloudfront.update_distribution(
        Id=sandbox.distribution_id, DistributionConfig=config, IfMatch=original["ETag"]
    )
    yield
    current = cloudfront.get_distribution_config(Id=sandbox.distribution_id)
    cloudfront.update_distribution(
        Id=sandbox.distribution_id,
        DistributionConfig=original["DistributionConfig"],
        IfMatch=current["ETag"],
    )


# -- the admin API -------------------------------------------------------------------------


def test_health_names_the_process_and_the_edge(sandbox: SandboxInfo) -> None:
    reply = request(sandbox.admin_url, "GET", "/health")

    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    assert {"pid": reply.json()["pid"], "edge_url": reply.json()["edge_url"]} == {
        "pid": sandbox.pid,
        "edge_url": sandbox.edge_url,
    }
    assert reply.json()["pop_urls"] == sandbox.pop_urls


def test_put_stores_get_lists_put_replaces_delete_removes(admin: SandboxInfo) -> None:
    stored = put_fault(admin, "slow", kind="latency", share=0.25, latency_ms=100, jitter_ms=10)
    listed = request(admin.admin_url, "GET", "/origin-link/faults")
    replaced = put_fault(admin, "slow", kind="error", status=503, origin=PRIMARY.upper())
    deleted = request(admin.admin_url, "DELETE", "/origin-link/faults/slow")
    again = request(admin.admin_url, "DELETE", "/origin-link/faults/slow")
    empty = request(admin.admin_url, "GET", "/origin-link/faults")

    assert stored.status == 200
    record = stored.json()
    assert record.pop("created_at").endswith("Z")
    assert record == {
        "id": "slow",
        "kind": "latency",
        "share": 0.25,
        "latency_ms": 100,
        "jitter_ms": 10,
        "status": None,
        "origin": None,
        "seed": None,
        "requests": 0,
        "applied": 0,
    }
    assert [fault["id"] for fault in listed.json()["faults"]] == ["slow"]
    assert replaced.status == 200
    assert (replaced.json()["kind"], replaced.json()["status"]) == ("error", 503)
    assert (replaced.json()["share"], replaced.json()["origin"]) == (1.0, PRIMARY)
    assert replaced.json()["latency_ms"] is None
    assert (deleted.status, deleted.body) == (204, b"")
    assert again.status == 404
    assert "no origin link fault 'slow'" in again.json()["error"]
    assert empty.json() == {"faults": []}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "kind must be one of latency, error, blackhole, reset"),
        ({"kind": "slow"}, "kind must be one of"),
        ({"kind": "reset", "share": 1.5}, "share must be a number from 0.0"),
        ({"kind": "reset", "share": "half"}, "share must be a number"),
        ({"kind": "latency"}, "A latency fault needs latency_ms"),
        ({"kind": "latency", "latency_ms": -5}, "latency_ms must be an integer"),
        ({"kind": "latency", "latency_ms": 1.5}, "latency_ms must be an integer"),
        ({"kind": "error"}, "An error fault needs status"),
        ({"kind": "error", "status": 200}, "status must be an HTTP error status"),
        ({"kind": "blackhole", "status": 503}, "status applies to error faults only"),
        ({"kind": "reset", "latency_ms": 5}, "latency_ms applies to latency faults only"),
        ({"kind": "reset", "delay": 5}, "Unknown field(s) delay"),
        ({"kind": "reset", "origin": "example.com"}, "'example.com' is not an origin"),
        ({"kind": "reset", "id": "other"}, "differs from the id in the URL"),
        ([1, 2], "must be a JSON object"),
        (b"{not json", "not JSON"),
    ],
)
def test_a_bad_fault_is_a_400_with_a_sentence_and_nothing_is_stored(
    admin: SandboxInfo, body: Any, message: str
) -> None:
    reply = request(admin.admin_url, "PUT", "/origin-link/faults/bad", body)

    assert reply.status == 400
    assert message in reply.json()["error"]
    assert reply.json()["error"].endswith(".")
    assert request(admin.admin_url, "GET", "/origin-link/faults").json() == {"faults": []}


def test_a_bad_fault_id_is_a_400(admin: SandboxInfo) -> None:
    reply = put_fault(admin, "-starts-with-a-dash", kind="reset")

    assert reply.status == 400
    assert "fault id" in reply.json()["error"]


def test_unknown_paths_and_methods_and_foreign_hosts_get_json_errors(admin: SandboxInfo) -> None:
    missing = request(admin.admin_url, "GET", "/nothing-here")
    wrong_method = request(admin.admin_url, "POST", "/origin-link/faults")
    foreign = request(admin.admin_url, "GET", "/health", headers={"Host": "evil.example:80"})

    assert (missing.status, wrong_method.status, foreign.status) == (404, 405, 403)
    assert "No such admin API path" in missing.json()["error"]
    assert "does not take POST" in wrong_method.json()["error"]
    assert "loopback host names only" in foreign.json()["error"]


# -- the effects at the edge ---------------------------------------------------------------


def test_latency_delays_a_miss_but_not_a_hit(admin: SandboxInfo) -> None:
    edge(admin, "/about/")  # a cache hit from now on
    edge(admin, "/404.html")  # the custom error page too
    edge(admin, fresh())  # the website endpoint has read the bucket's website config
    put_fault(admin, "slow", kind="latency", latency_ms=200)

    miss = edge(admin, fresh())
    hit = edge(admin, "/about/")
    record = request(admin.admin_url, "GET", "/origin-link/faults").json()["faults"][0]

    assert miss.status == 404  # the origin's answer, late
    assert 0.2 <= miss.seconds < 0.4
    assert (hit.x_cache, hit.seconds < 0.1) == ("Hit from cloudfront", True)
    assert (record["requests"], record["applied"]) == (1, 1)


def test_jitter_spreads_latency_within_its_bounds(admin: SandboxInfo) -> None:
    put_fault(admin, "jittery", kind="latency", latency_ms=150, jitter_ms=100, seed=7)
    edge(admin, "/404.html")  # keep the custom error page cached: one fetch per request

    seconds = [edge(admin, fresh()).seconds for _ in range(6)]

    assert all(0.05 <= s < 0.25 + 0.15 for s in seconds), seconds
    assert max(seconds) - min(seconds) > 0.02, seconds


def test_an_error_answers_its_status_as_the_origin_would_and_is_cached(
    admin: SandboxInfo,
) -> None:
    page = fresh()
    put_fault(admin, "errors", kind="error", status=503)

    first = edge(admin, page)
    request(admin.admin_url, "DELETE", "/origin-link/faults/errors")
    cached = edge(admin, page)
    other = edge(admin, fresh())

    assert (first.status, first.x_cache) == (503, "Error from cloudfront")
    assert first.headers["X-Chaos-Link-Fault"] == "errors"
    assert b"origin link fault errors" in first.body
    assert (cached.status, cached.x_cache) == (503, "Error from cloudfront")  # 10 s
    assert other.status == 404  # the origin again


def test_a_reset_connection_answers_502(admin: SandboxInfo) -> None:
    put_fault(admin, "reset", kind="reset")

    reply = edge(admin, fresh())

    assert (reply.status, reply.x_cache) == (502, "Error from cloudfront")
    assert reply.headers["Server"] == "CloudFront"


def test_a_blackhole_answers_504_after_the_origin_read_timeout(
    admin: SandboxInfo, short_read_timeout: None
) -> None:
    put_fault(admin, "void", kind="blackhole", origin=PRIMARY)

    reply = edge(admin, fresh())

    assert (reply.status, reply.x_cache) == (504, "Error from cloudfront")
    assert 0.9 <= reply.seconds < 2.5


def test_a_latency_past_the_read_timeout_is_a_504(
    admin: SandboxInfo, short_read_timeout: None
) -> None:
    put_fault(admin, "too-slow", kind="latency", latency_ms=3000)

    reply = edge(admin, fresh())

    assert reply.status == 504
    assert 0.9 <= reply.seconds < 2.0


def test_share_takes_that_fraction_of_requests_and_delete_restores(admin: SandboxInfo) -> None:
    edge(admin, "/404.html")
    put_fault(admin, "half", kind="error", status=500, share=0.5)

    statuses = [edge(admin, fresh()).status for _ in range(40)]
    record = request(admin.admin_url, "GET", "/origin-link/faults").json()["faults"][0]
    request(admin.admin_url, "DELETE", "/origin-link/faults/half")
    after = [edge(admin, fresh()).status for _ in range(5)]

    assert set(statuses) == {404, 500}
    assert 10 <= statuses.count(500) <= 30
    assert (record["requests"], record["applied"]) == (40, statuses.count(500))
    assert after == [404] * 5


def test_share_zero_changes_nothing_and_a_seed_repeats_the_same_choices(
    admin: SandboxInfo,
) -> None:
    edge(admin, "/404.html")
    put_fault(admin, "never", kind="reset", share=0.0)
    untouched = [edge(admin, fresh()).status for _ in range(5)]

    runs = []
    for _ in range(2):
        put_fault(admin, "never", kind="error", status=500, share=0.5, seed=42)
        runs.append([edge(admin, fresh()).status for _ in range(12)])

    assert untouched == [404] * 5
    assert runs[0] == runs[1]
    assert 500 in runs[0] and 404 in runs[0]


def test_a_fault_limited_to_one_origin_leaves_the_others_alone(
    admin: SandboxInfo, sandbox_stack: InProcessSandbox
) -> None:
    failover = website_domain(admin.failover_bucket)
    edge(admin, "/404.html")
    put_fault(admin, "secondary-only", kind="error", status=503, origin=failover)

    reply = edge(admin, fresh())
    record = request(admin.admin_url, "GET", "/origin-link/faults").json()["faults"][0]

    assert reply.status == 404
    assert (record["origin"], record["requests"], record["applied"]) == (failover, 0, 0)


def test_a_client_in_another_process_switches_a_fault_on_and_off(admin: SandboxInfo) -> None:
    script = (
        "import json, sys, urllib.request\n"
        "url, method = sys.argv[1], sys.argv[2]\n"
        "fault = {'kind': 'error', 'status': 502}\n"
        "data = json.dumps(fault).encode() if method == 'PUT' else None\n"
        "req = urllib.request.Request(url, data=data, method=method)\n"
        "print(urllib.request.urlopen(req, timeout=5).status)\n"
    )
    url = f"{admin.admin_url}/origin-link/faults/remote"

    def run(method: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", script, url, method],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout.strip()

    on = run("PUT")
    during = edge(admin, fresh())
    off = run("DELETE")
    after = edge(admin, fresh())

    assert (on, off) == ("200", "204")
    assert (during.status, after.status) == (502, 404)
