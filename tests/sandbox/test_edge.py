"""The edge serves the sandbox distribution as CloudFront would: real HTTP, real moto.

Tests that change the distribution put its config back; objects they upload live under a
prefix of their own and are deleted. The edge cache is emptied before each test.
"""

import copy
import http.client
import http.server
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

import pytest

from chaos_runner.sandbox.demo import ORIGIN_GROUP_ID
from chaos_runner.sandbox.distribution import Distribution
from chaos_runner.sandbox.edge import Edge
from chaos_runner.sandbox.state import SandboxInfo
from chaos_runner.sandbox.testing import InProcessSandbox
from tests.sandbox.edge_client import aws, invalidate

Config = dict[str, Any]

HIT = "Hit from cloudfront"
MISS = "Miss from cloudfront"
REFRESH_HIT = "RefreshHit from cloudfront"
ERROR = "Error from cloudfront"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes

    @property
    def x_cache(self) -> str:
        return self.headers.get("X-Cache", "")


def fetch(
    sandbox: SandboxInfo, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> Reply:
    """One request to the edge; redirects are not followed."""
    url = urlsplit(sandbox.edge_url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=15)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.msg, response.read())
    finally:
        connection.close()


def poll(
    sandbox: SandboxInfo, path: str, until: Callable[[Reply], bool], within: float = 3.0
) -> Reply:
    """GET ``path`` every 50 ms until ``until`` holds; fail with the last reply after ``within``."""
    deadline = time.monotonic() + within
    while True:
        reply = fetch(sandbox, path)
        if until(reply):
            return reply
        if time.monotonic() > deadline:
            pytest.fail(f"GET {path} never matched within {within}s; last: {reply}")
        time.sleep(0.05)


def loopback_origin(
    origin_id: str,
    port: int,
    attempts: int = 1,
    connection_timeout: int = 1,
    read_timeout: int = 1,
) -> Config:
    """A custom origin on 127.0.0.1 (the stack's resolver maps loopback IPs to themselves)."""
    return {
        "Id": origin_id,
        "DomainName": "127.0.0.1",
        "OriginPath": "",
        "ConnectionAttempts": attempts,
        "ConnectionTimeout": connection_timeout,
        "CustomHeaders": {"Quantity": 0},
        "CustomOriginConfig": {
            "HTTPPort": port,
            "HTTPSPort": 443,
            "OriginProtocolPolicy": "http-only",
            "OriginReadTimeout": read_timeout,
            "OriginKeepaliveTimeout": 5,
            "OriginSslProtocols": {"Quantity": 1, "Items": ["TLSv1.2"]},
        },
    }


def add_origin(config: Config, origin: Config) -> None:
    items = [*config["Origins"]["Items"], origin]
    config["Origins"] = {"Quantity": len(items), "Items": items}


def use_origin(config: Config, origin: Config) -> None:
    """Send the default behavior to ``origin`` (kept beside the website origin)."""
    add_origin(config, origin)
    config["DefaultCacheBehavior"]["TargetOriginId"] = origin["Id"]


def add_behavior(config: Config, pattern: str, target: str) -> None:
    """Add a cache behavior after the test's earlier ones, before the demo's own."""
    behavior = copy.deepcopy(config["DefaultCacheBehavior"])
    behavior["PathPattern"] = pattern
    behavior["TargetOriginId"] = target
    items = list((config.get("CacheBehaviors") or {}).get("Items", []))
    demo_own = [i for i, item in enumerate(items) if item["TargetOriginId"] == ORIGIN_GROUP_ID]
    items.insert(demo_own[0] if demo_own else len(items), behavior)
    config["CacheBehaviors"] = {"Quantity": len(items), "Items": items}


def add_group(config: Config, group: Config) -> None:
    """Add an origin group beside the demo's own."""
    items = [*(config.get("OriginGroups") or {}).get("Items", []), group]
    config["OriginGroups"] = {"Quantity": len(items), "Items": items}


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def edge(sandbox_stack: InProcessSandbox) -> Iterator[Edge]:
    """The running edge, with an empty cache before and after the test."""
    running = sandbox_stack.stack.edge
    running.cache.clear()
    yield running
    running.cache.clear()


@pytest.fixture
def reconfigure(
    sandbox: SandboxInfo, edge: Edge
) -> Iterator[Callable[[Callable[[Config], None]], None]]:
    """Change the distribution config with update_distribution; put it back afterwards."""
    cloudfront = aws(sandbox, "cloudfront")
    original = cloudfront.get_distribution_config(Id=sandbox.distribution_id)

    def change(edit: Callable[[Config], None]) -> None:
        current = cloudfront.get_distribution_config(Id=sandbox.distribution_id)
        config = copy.deepcopy(current["DistributionConfig"])
        edit(config)
        Distribution.from_config("check", config)  # the edge can serve it (else it is ignored)
        cloudfront.update_distribution(
            Id=sandbox.distribution_id, DistributionConfig=config, IfMatch=current["ETag"]
        )

    yield change
    current = cloudfront.get_distribution_config(Id=sandbox.distribution_id)
    cloudfront.update_distribution(
        Id=sandbox.distribution_id,
        DistributionConfig=original["DistributionConfig"],
        IfMatch=current["ETag"],
    )


class Scratch:
    """Objects of one test in the demo bucket, under a prefix of its own."""

    def __init__(self, sandbox: SandboxInfo) -> None:
        self.bucket = sandbox.bucket
        self.s3 = aws(sandbox, "s3")
        self.prefix = f"edge-{uuid.uuid4().hex[:10]}/"

    def path(self, name: str) -> str:
        """The URL path of object ``name``."""
        return f"/{self.prefix}{name}"

    def __call__(self, name: str, body: bytes, **extra: Any) -> str:
        """Upload ``name``; return its URL path."""
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self.prefix + name,
            Body=body,
            ContentType=extra.pop("ContentType", "text/html"),
            **extra,
        )
        return self.path(name)

    def delete_all(self) -> None:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix)
        for item in listed.get("Contents", []):
            self.s3.delete_object(Bucket=self.bucket, Key=item["Key"])


@pytest.fixture
def scratch(sandbox: SandboxInfo) -> Iterator[Scratch]:
    """Upload objects to the demo bucket under a prefix of the test's own; delete them after."""
    objects = Scratch(sandbox)
    yield objects
    objects.delete_all()


# -- loopback origins that misbehave ----------------------------------------------------


def refused_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def silent_origin() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield int(server.getsockname()[1])


@contextmanager
def unreachable_origin() -> Iterator[int]:
    """A port whose accept queue is full: new connections are never established (Linux)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fillers = []
    for _ in range(2):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                pytest.skip("this kernel completes connections beyond the listen backlog")
        yield port
    finally:
        for filler in fillers:
            filler.close()
        server.close()


@dataclass
class ScriptedOrigin:
    """A loopback HTTP origin answering every GET with one scripted response."""

    port: int
    requests: list[dict[str, str]]
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b"scripted"
    delay: float = 0.0


@contextmanager
def scripted_origin(**script: Any) -> Iterator[ScriptedOrigin]:
    state = ScriptedOrigin(port=0, requests=[], **script)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(dict(self.headers.items()))
            time.sleep(state.delay)
            self.send_response(state.status)
            for name, value in state.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def garbage_origin() -> Iterator[int]:
    """A port that answers every connection with bytes that are not HTTP."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.sendall(b"this is not HTTP at all\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


# -- caching ---------------------------------------------------------------------------


def test_miss_then_hit_with_age_increasing(sandbox: SandboxInfo, edge: Edge) -> None:
    first = fetch(sandbox, "/about/")
    second = fetch(sandbox, "/about/")
    later = poll(sandbox, "/about/", lambda r: int(r.headers.get("Age", "0")) >= 1)

    assert (first.status, first.x_cache, first.headers.get("Age")) == (200, MISS, None)
    assert (second.x_cache, second.headers["Age"]) == (HIT, "0")
    assert later.x_cache == HIT
    assert second.body == first.body == later.body


def test_viewer_headers_look_like_cloudfronts(sandbox: SandboxInfo, edge: Edge) -> None:
    first = fetch(sandbox, "/about/")
    second = fetch(sandbox, "/about/")

    via = first.headers["Via"]
    assert via.startswith("1.1 ") and via.endswith(".cloudfront.net (CloudFront)")
    assert len(via.split()[1].split(".")[0]) == 32
    assert first.headers["X-Amz-Cf-Pop"] == "SBX1"
    assert len(first.headers["X-Amz-Cf-Id"]) == 56
    assert first.headers["X-Amz-Cf-Id"] != second.headers["X-Amz-Cf-Id"]
    assert first.headers["Server"] == "AmazonS3"  # the origin's, passed through


def test_head_and_get_share_one_cached_object(sandbox: SandboxInfo, edge: Edge) -> None:
    get = fetch(sandbox, "/about/")
    head = fetch(sandbox, "/about/", method="HEAD")

    assert head.x_cache == HIT
    assert head.body == b""
    assert head.headers["Content-Length"] == str(len(get.body))


def test_query_strings_are_not_part_of_the_cache_key(sandbox: SandboxInfo, edge: Edge) -> None:
    fetch(sandbox, "/about/")

    reply = fetch(sandbox, "/about/?utm_source=test")

    assert (reply.status, reply.x_cache) == (200, HIT)


def test_directory_without_slash_gets_the_website_redirect_through_the_cache(
    sandbox: SandboxInfo, edge: Edge
) -> None:
    first = fetch(sandbox, "/posts")
    second = fetch(sandbox, "/posts")

    assert (first.status, first.headers["Location"], first.x_cache) == (302, "/posts/", MISS)
    assert (second.status, second.x_cache) == (302, HIT)


def test_viewer_conditional_request_gets_304_from_cache(sandbox: SandboxInfo, edge: Edge) -> None:
    first = fetch(sandbox, "/about/")

    again = fetch(sandbox, "/about/", headers={"If-None-Match": first.headers["ETag"]})

    assert (again.status, again.body, again.x_cache) == (304, b"", HIT)


def test_changed_object_is_served_from_cache_until_invalidated(
    sandbox: SandboxInfo, edge: Edge, scratch: Scratch
) -> None:
    path = scratch("page.html", b"version 1")
    assert fetch(sandbox, path).x_cache == MISS
    scratch("page.html", b"version 2")

    before = fetch(sandbox, path)
    invalidate(sandbox, path)
    after = fetch(sandbox, path)

    assert (before.body, before.x_cache) == (b"version 1", HIT)
    assert (after.body, after.x_cache) == (b"version 2", MISS)


def test_invalidation_paths_are_exact_or_prefix_wildcards_and_case_sensitive(
    sandbox: SandboxInfo, edge: Edge
) -> None:
    pages = ["/posts/cache-ttls/", "/posts/error-pages/", "/about/"]
    for page in pages:
        fetch(sandbox, page)

    def cached() -> list[str]:
        return [page for page in pages if fetch(sandbox, page).x_cache == HIT]

    invalidate(sandbox, "/POSTS/*", "/po*ts/cache-ttls/")  # wrong case; '*' mid-path is literal
    assert cached() == pages
    invalidate(sandbox, "/posts/cache-ttls/")
    assert cached() == ["/posts/error-pages/", "/about/"]
    invalidate(sandbox, "/posts/*")
    assert cached() == ["/about/"]
    invalidate(sandbox, "/*")
    assert cached() == []


def test_root_is_cached_as_the_default_root_object(sandbox: SandboxInfo, edge: Edge) -> None:
    assert fetch(sandbox, "/").x_cache == MISS
    assert fetch(sandbox, "/index.html").x_cache == HIT

    invalidate(sandbox, "/index.html")
    assert fetch(sandbox, "/").x_cache == MISS
    invalidate(sandbox, "/")
    assert fetch(sandbox, "/").x_cache == MISS


def test_default_root_object_applies_to_the_root_only(
    sandbox: SandboxInfo, reconfigure: Callable[[Callable[[Config], None]], None]
) -> None:
    about = fetch(sandbox, "/about/").body
    posts = fetch(sandbox, "/posts/").body

    reconfigure(lambda config: config.update(DefaultRootObject="about/index.html"))

    assert fetch(sandbox, "/").body == about
    assert fetch(sandbox, "/posts/").body == posts


def test_expired_objects_are_revalidated_a_304_refreshes_and_a_200_replaces(
    sandbox: SandboxInfo, edge: Edge, scratch: Scratch
) -> None:
    same = scratch("same.html", b"unchanged", CacheControl="max-age=1")
    changing = scratch("changing.html", b"first", CacheControl="max-age=1")
    assert [fetch(sandbox, path).x_cache for path in (same, changing)] == [MISS, MISS]
    scratch("changing.html", b"second", CacheControl="max-age=1")

    refreshed = poll(sandbox, same, lambda r: r.x_cache != HIT)
    again = fetch(sandbox, same)
    replaced = fetch(sandbox, changing)

    assert (refreshed.x_cache, refreshed.body) == (REFRESH_HIT, b"unchanged")
    assert again.x_cache == HIT
    assert (replaced.x_cache, replaced.body) == (MISS, b"second")


def test_no_cache_objects_are_cached_only_with_a_minimum_ttl(
    sandbox: SandboxInfo,
    scratch: Scratch,
    reconfigure: Callable[[Callable[[Config], None]], None],
) -> None:
    path = scratch("private.html", b"personal", CacheControl="no-cache")

    uncached = [fetch(sandbox, path).x_cache for _ in range(2)]
    reconfigure(lambda config: config["DefaultCacheBehavior"].update(MinTTL=60))
    invalidate(sandbox, path)
    with_min_ttl = [fetch(sandbox, path).x_cache for _ in range(2)]

    assert uncached == [MISS, MISS]
    assert with_min_ttl == [MISS, HIT]


def test_concurrent_misses_are_collapsed_into_one_origin_request(
    sandbox: SandboxInfo, reconfigure: Callable[[Callable[[Config], None]], None]
) -> None:
    with scripted_origin(delay=0.3, body=b"slow") as origin:
        reconfigure(lambda config: use_origin(config, loopback_origin("slow", origin.port)))
        with ThreadPoolExecutor(max_workers=8) as pool:
            replies = list(pool.map(lambda _: fetch(sandbox, "/collapsed"), range(8)))

    assert len(origin.requests) == 1
    assert {reply.body for reply in replies} == {b"slow"}
    assert sorted(reply.x_cache for reply in replies) == [HIT] * 7 + [MISS]


def test_origin_requests_carry_cloudfronts_headers(
    sandbox: SandboxInfo, reconfigure: Callable[[Callable[[Config], None]], None]
) -> None:
    with scripted_origin() as origin:
        reconfigure(lambda config: use_origin(config, loopback_origin("scripted", origin.port)))
        fetch(sandbox, "/headers?ignored=1", headers={"Cookie": "a=b"})

    [sent] = origin.requests
    assert sent["Host"] == "127.0.0.1"
    assert sent["User-Agent"] == "Amazon CloudFront"
    assert sent["Via"].endswith(".cloudfront.net (CloudFront)")
    assert sent["X-Forwarded-For"] == "127.0.0.1"
    assert "Cookie" not in sent


# -- errors ----------------------------------------------------------------------------


def test_origin_404_serves_the_custom_error_page_cached_for_error_caching_min_ttl(
    sandbox: SandboxInfo,
    scratch: Scratch,
    reconfigure: Callable[[Callable[[Config], None]], None],
) -> None:
    reconfigure(
        lambda config: config["CustomErrorResponses"]["Items"][0].update(ErrorCachingMinTTL=1)
    )
    not_found_page = fetch(sandbox, "/404.html").body
    missing = scratch.path("later.html")

    first = fetch(sandbox, missing)
    scratch("later.html", b"arrived")
    still_cached = fetch(sandbox, missing)
    arrived = poll(sandbox, missing, lambda r: r.status == 200)

    assert (first.status, first.x_cache, first.body) == (404, ERROR, not_found_page)
    assert (still_cached.status, still_cached.x_cache) == (404, ERROR)
    assert (arrived.body, arrived.x_cache) == (b"arrived", MISS)


def test_custom_error_page_is_itself_a_cached_object(sandbox: SandboxInfo, edge: Edge) -> None:
    fetch(sandbox, "/no-such-page/")

    page = fetch(sandbox, "/404.html")

    assert (page.status, page.x_cache) == (200, HIT)


def test_custom_error_response_code_replaces_the_origin_status(
    sandbox: SandboxInfo, reconfigure: Callable[[Callable[[Config], None]], None]
) -> None:
    reconfigure(
        lambda config: config["CustomErrorResponses"]["Items"][0].update(ResponseCode="200")
    )

    reply = fetch(sandbox, "/no-such-page/")

    assert (reply.status, reply.x_cache) == (200, ERROR)
    assert reply.body == fetch(sandbox, "/404.html").body


def test_unavailable_custom_error_page_answers_with_the_pages_own_error(
    sandbox: SandboxInfo, reconfigure: Callable[[Callable[[Config], None]], None]
) -> None:
    reconfigure(
        lambda config: config["CustomErrorResponses"]["Items"][0].update(
            ResponsePagePath="/no-such-error-page.html", ResponseCode="200"
        )
    )

    reply = fetch(sandbox, "/no-such-page/")

    assert (reply.status, reply.x_cache) == (404, ERROR)


def test_origin_5xx_without_custom_error_response_is_cached_for_10_seconds(
    sandbox: SandboxInfo, edge: Edge, reconfigure: Callable[[Callable[[Config], None]], None]
) -> None:
    with scripted_origin(status=503, body=b"down") as origin:
        reconfigure(lambda config: use_origin(config, loopback_origin("failing", origin.port)))
        replies = [fetch(sandbox, "/busy") for _ in range(3)]

    cached = edge.cache.get("/busy")
    assert [(r.status, r.x_cache) for r in replies] == [(503, ERROR)] * 3
    assert len(origin.requests) == 1
    assert cached is not None and cached.expires_at - cached.stored_at == 10.0


def test_origin_403_without_custom_error_response_is_an_uncached_error(
    sandbox: SandboxInfo, edge: Edge
) -> None:
    s3 = aws(sandbox, "s3")
    policy = s3.get_bucket_policy(Bucket=sandbox.bucket)["Policy"]
    deny = json.loads(policy)
    deny["Statement"][0]["Effect"] = "Deny"
    s3.put_bucket_policy(Bucket=sandbox.bucket, Policy=json.dumps(deny))
    try:
        denied = fetch(sandbox, "/about/")
    finally:
        s3.put_bucket_policy(Bucket=sandbox.bucket, Policy=policy)
    allowed = fetch(sandbox, "/about/")

    assert (denied.status, denied.x_cache) == (403, ERROR)
    assert "AccessDenied" in denied.body.decode()
    assert (allowed.status, allowed.x_cache) == (200, MISS)


def test_refused_connection_answers_502(
    sandbox: SandboxInfo, reconfigure: Callable[[Callable[[Config], None]], None]
) -> None:
    reconfigure(lambda config: use_origin(config, loopback_origin("refusing", refused_port())))

    reply = fetch(sandbox, "/anything")

    assert (reply.status, reply.x_cache) == (502, ERROR)
    assert reply.headers["Server"] == "CloudFront"
    assert "The request could not be satisfied" in reply.body.decode()


def test_unresolvable_origin_domain_answers_502(
    sandbox: SandboxInfo, reconfigure: Callable[[Callable[[Config], None]], None]
) -> None:
    origin = loopback_origin("nowhere", 80)
    origin["DomainName"] = "origin.example.invalid"
    reconfigure(lambda config: use_origin(config, origin))

    reply = fetch(sandbox, "/anything")

    assert (reply.status, reply.x_cache) == (502, ERROR)


def test_invalid_origin_response_answers_502(
    sandbox: SandboxInfo, reconfigure: Callable[[Callable[[Config], None]], None]
) -> None:
    with garbage_origin() as port:
        reconfigure(lambda config: use_origin(config, loopback_origin("garbage", port)))
        reply = fetch(sandbox, "/anything")

    assert (reply.status, reply.x_cache) == (502, ERROR)


def test_no_connection_within_timeout_times_attempts_answers_504(
    sandbox: SandboxInfo, reconfigure: Callable[[Callable[[Config], None]], None]
) -> None:
    with unreachable_origin() as port:
        origin = loopback_origin("unreachable", port, attempts=2, connection_timeout=1)
        reconfigure(lambda config: use_origin(config, origin))
        began = time.monotonic()
        reply = fetch(sandbox, "/anything")
        elapsed = time.monotonic() - began

    assert (reply.status, reply.x_cache) == (504, ERROR)
    assert 1.9 <= elapsed < 4.0


def test_no_response_within_origin_read_timeout_answers_504(
    sandbox: SandboxInfo, reconfigure: Callable[[Callable[[Config], None]], None]
) -> None:
    with silent_origin() as port:
        reconfigure(lambda config: use_origin(config, loopback_origin("silent", port)))
        began = time.monotonic()
        reply = fetch(sandbox, "/anything")
        elapsed = time.monotonic() - began

    assert (reply.status, reply.x_cache) == (504, ERROR)
    assert 0.9 <= elapsed < 3.0


def test_disabled_distribution_answers_403(
    sandbox: SandboxInfo, reconfigure: Callable[[Callable[[Config], None]], None]
) -> None:
    assert fetch(sandbox, "/").status == 200

    reconfigure(lambda config: config.update(Enabled=False))
    reply = fetch(sandbox, "/")

    assert (reply.status, reply.x_cache) == (403, ERROR)
    assert reply.headers["Server"] == "CloudFront"


def test_config_changes_reach_the_edge_after_the_propagation_delay(
    sandbox: SandboxInfo,
    sandbox_stack: InProcessSandbox,
    reconfigure: Callable[[Callable[[Config], None]], None],
) -> None:
    assert fetch(sandbox, "/").status == 200
    sandbox_stack.stack.propagation.delay = 0.5
    try:
        reconfigure(lambda config: config.update(Enabled=False))
        changed = time.monotonic()
        before = fetch(sandbox, "/")
        after = poll(sandbox, "/", lambda r: r.status != 200)
        waited = time.monotonic() - changed
    finally:
        sandbox_stack.stack.propagation.delay = 0.0

    assert before.status == 200
    assert (after.status, after.x_cache) == (403, ERROR)
    assert 0.45 <= waited < 2.0


# -- behaviors, stale objects, origin groups ---------------------------------------------


def test_cache_behaviors_match_by_path_pattern_in_order(
    sandbox: SandboxInfo, reconfigure: Callable[[Callable[[Config], None]], None]
) -> None:
    def edit(config: Config) -> None:
        add_origin(config, loopback_origin("refusing", refused_port()))
        website = config["DefaultCacheBehavior"]["TargetOriginId"]
        add_behavior(config, "/posts/cache-*", "refusing")
        add_behavior(config, "posts/*", website)

    reconfigure(edit)

    assert fetch(sandbox, "/posts/cache-ttls/").status == 502
    assert fetch(sandbox, "/posts/error-pages/").status == 200
    assert fetch(sandbox, "/about/").status == 200


def test_expired_object_is_served_stale_when_the_origin_fails(
    sandbox: SandboxInfo,
    scratch: Scratch,
    reconfigure: Callable[[Callable[[Config], None]], None],
) -> None:
    kept = scratch("kept.html", b"stale but here", CacheControl="max-age=1")
    dropped = scratch("dropped.html", b"gone", CacheControl="max-age=1, stale-if-error=0")
    fetch(sandbox, kept)
    fetch(sandbox, dropped)

    reconfigure(lambda config: use_origin(config, loopback_origin("refusing", refused_port())))
    time.sleep(1.1)  # both expire; nothing to poll for while the origin is gone
    stale = fetch(sandbox, kept)
    error = fetch(sandbox, dropped)

    assert (stale.status, stale.body, stale.x_cache) == (200, b"stale but here", HIT)
    assert (error.status, error.x_cache) == (502, ERROR)


def test_stale_while_revalidate_serves_stale_and_refreshes_in_the_background(
    sandbox: SandboxInfo, edge: Edge, scratch: Scratch
) -> None:
    policy = "max-age=1, stale-while-revalidate=60"
    path = scratch("swr.html", b"old", CacheControl=policy)
    fetch(sandbox, path)
    scratch("swr.html", b"new", CacheControl=policy)
    time.sleep(1.1)  # let it expire

    stale = fetch(sandbox, path)
    fresh = poll(sandbox, path, lambda r: r.body == b"new", within=2.0)

    assert (stale.body, stale.x_cache) == (b"old", HIT)
    assert fresh.x_cache == HIT


def test_origin_group_fails_over_on_a_failover_status_code(
    sandbox: SandboxInfo, reconfigure: Callable[[Callable[[Config], None]], None]
) -> None:
    def edit(config: Config) -> None:
        website = config["Origins"]["Items"][0]
        broken = copy.deepcopy(website)
        broken["Id"], broken["OriginPath"] = "empty-prefix", "/no-such-prefix"
        add_origin(config, broken)
        add_group(
            config,
            {
                "Id": "group",
                "FailoverCriteria": {"StatusCodes": {"Quantity": 1, "Items": [404]}},
                "Members": {
                    "Quantity": 2,
                    "Items": [{"OriginId": "empty-prefix"}, {"OriginId": website["Id"]}],
                },
            },
        )
        add_behavior(config, "/posts/*", "group")

    posts = fetch(sandbox, "/posts/").body
    reconfigure(edit)
    invalidate(sandbox, "/posts/")
    reply = fetch(sandbox, "/posts/")

    assert (reply.status, reply.body, reply.x_cache) == (200, posts, MISS)


def test_origin_group_fails_over_when_the_primary_does_not_connect(
    sandbox: SandboxInfo, reconfigure: Callable[[Callable[[Config], None]], None]
) -> None:
    def edit(config: Config) -> None:
        website = config["Origins"]["Items"][0]["Id"]
        add_origin(config, loopback_origin("refusing", refused_port()))
        add_group(
            config,
            {
                "Id": "group",
                "FailoverCriteria": {"StatusCodes": {"Quantity": 1, "Items": [500]}},
                "Members": {
                    "Quantity": 2,
                    "Items": [{"OriginId": "refusing"}, {"OriginId": website}],
                },
            },
        )
        add_behavior(config, "/posts/*", "group")

    reconfigure(edit)
    reply = fetch(sandbox, "/posts/")

    assert (reply.status, reply.x_cache) == (200, MISS)
