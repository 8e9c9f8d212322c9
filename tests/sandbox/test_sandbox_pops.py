"""Points of presence: separate caches, one distribution, chosen by port or X-Chaos-Pop."""

import http.client
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from chaos_runner.sandbox.state import SandboxInfo
from chaos_runner.sandbox.testing import InProcessSandbox
from tests.sandbox.edge_client import invalidate


def get(url: str, path: str, pop: str | None = None) -> tuple[int, str, str]:
    """Status, X-Cache and X-Amz-Cf-Pop of one GET."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", path, headers={"X-Chaos-Pop": pop} if pop else {})
        response = connection.getresponse()
        response.read()
        return (
            response.status,
            response.headers.get("X-Cache", ""),
            response.headers.get("X-Amz-Cf-Pop", ""),
        )
    finally:
        connection.close()


@pytest.fixture
def empty_caches(sandbox_stack: InProcessSandbox) -> Iterator[None]:
    for edge in sandbox_stack.stack.pops.edges:
        edge.cache.clear()
    yield
    for edge in sandbox_stack.stack.pops.edges:
        edge.cache.clear()


def test_the_sandbox_runs_two_pops_each_on_a_port_of_its_own(sandbox: SandboxInfo) -> None:
    assert list(sandbox.pop_urls) == ["SBX1", "SBX2"]
    assert sandbox.pop_urls["SBX1"] == sandbox.edge_url
    assert len(set(sandbox.pop_urls.values())) == 2


def test_a_pop_does_not_see_what_another_pop_cached(
    sandbox: SandboxInfo, empty_caches: None
) -> None:
    first = get(sandbox.edge_url, "/about/")
    second_pop = get(sandbox.edge_url, "/about/", pop="SBX2")
    again = [get(sandbox.edge_url, "/about/", pop=pop) for pop in ("sbx1", "SBX2")]

    assert first == (200, "Miss from cloudfront", "SBX1")
    assert second_pop == (200, "Miss from cloudfront", "SBX2")
    assert again == [(200, "Hit from cloudfront", "SBX1"), (200, "Hit from cloudfront", "SBX2")]


def test_a_pops_own_port_and_the_header_reach_the_same_pop(
    sandbox: SandboxInfo, empty_caches: None
) -> None:
    by_port = get(sandbox.pop_urls["SBX2"], "/posts/")
    by_header = get(sandbox.edge_url, "/posts/", pop="SBX2")
    first_pop = get(sandbox.pop_urls["SBX2"], "/posts/", pop="SBX1")

    assert by_port == (200, "Miss from cloudfront", "SBX2")
    assert by_header == (200, "Hit from cloudfront", "SBX2")
    assert first_pop == (200, "Miss from cloudfront", "SBX1")


def test_an_invalidation_reaches_every_pop(sandbox: SandboxInfo, empty_caches: None) -> None:
    for pop in ("SBX1", "SBX2"):
        get(sandbox.edge_url, "/about/", pop=pop)

    invalidate(sandbox, "/about/")

    assert [get(sandbox.edge_url, "/about/", pop=pop)[1] for pop in ("SBX1", "SBX2")] == [
        "Miss from cloudfront",
        "Miss from cloudfront",
    ]


def test_an_unknown_pop_is_a_400_naming_the_pops(sandbox: SandboxInfo) -> None:
    parts = urlsplit(sandbox.edge_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", "/", headers={"X-Chaos-Pop": "FRA56-P1"})
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()

    assert response.status == 400
    assert "'FRA56-P1' names no POP of this sandbox; its POPs are SBX1, SBX2." in body


def test_every_pop_serves_the_same_config(sandbox_stack: InProcessSandbox) -> None:
    edges = sandbox_stack.stack.pops.edges

    assert {edge.pop for edge in edges} == {"SBX1", "SBX2"}
    assert edges[0].distribution == edges[1].distribution
