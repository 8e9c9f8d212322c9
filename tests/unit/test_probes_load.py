"""probes.load against real aiohttp servers on loopback (no mocks, bounded traffic)."""

import asyncio
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from chaoslib.exceptions import ActivityFailed

from probes import load
from tests.servers import closed_port_url, serving

DELAY_S = 0.05


@dataclass
class Site:
    url: str
    hits: Counter[str] = field(default_factory=Counter)

    @property
    def configuration(self) -> dict[str, Any]:
        return {"site_url": self.url}


def _app(hits: Counter[str]) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        hits[request.path] += 1
        label = "Miss from cloudfront" if hits[request.path] == 1 else "Hit from cloudfront"
        pop = "FRA56-P1" if request.path == "/" else "IAD89-C2"
        return web.Response(body=b"page", headers={"X-Cache": label, "X-Amz-Cf-Pop": pop})

    async def slow(request: web.Request) -> web.Response:
        hits[request.path] += 1
        await asyncio.sleep(DELAY_S)
        return web.Response(body=b"slow")

    async def down(request: web.Request) -> web.Response:
        hits[request.path] += 1
        return web.Response(status=503, headers={"X-Cache": "Error from cloudfront"})

    app = web.Application()
    for path in ("/", "/posts/", "/about/"):
        app.router.add_get(path, page)
    app.router.add_get("/slow", slow)
    app.router.add_get("/down", down)
    return app


@pytest.fixture
def site() -> Iterator[Site]:
    """An aiohttp server on 127.0.0.1 (free port) in its own thread and loop."""
    hits: Counter[str] = Counter()
    with serving(_app(hits)) as url:
        yield Site(url, hits)


@pytest.fixture(name="closed_port_url")
def closed_port_url_fixture() -> str:
    """The URL of a loopback port nothing listens on."""
    return closed_port_url()


# -- open model ----------------------------------------------------------------------------


def test_requests_are_sent_on_schedule_at_the_rate(site: Site) -> None:
    result = load.measurement("/", rate=200, duration=0.5, configuration=site.configuration)

    assert (result["total"], result["successes"], result["availability"]) == (100, 100, 1.0)
    assert result["unsent"] == 0
    assert result["late"] <= 10  # a loaded CI machine may delay a few timers; not most
    assert 0.5 <= result["elapsed_s"] < 1.5
    assert result["rate"] == 200.0
    assert site.hits["/"] == 100


def test_a_request_count_ends_the_load(site: Site) -> None:
    result = load.measurement(
        "/", rate=500, duration=0, requests=30, configuration=site.configuration
    )

    assert result["total"] == 30
    assert result["elapsed_s"] < 0.5


def test_a_known_delay_is_reported_within_a_few_milliseconds(site: Site) -> None:
    result = load.measurement("/slow", rate=40, duration=0.5, configuration=site.configuration)

    latency = result["latency_ms"]
    assert 50.0 <= latency["p50"] <= 60.0
    assert latency["p50"] <= latency["p90"] <= latency["p95"] <= latency["p99"] <= latency["p999"]
    assert latency["p999"] <= latency["max"] < 100.0
    assert (result["p50_ms"], result["p95_ms"], result["p99_ms"]) == (
        latency["p50"],
        latency["p95"],
        latency["p99"],
    )


def test_a_slow_site_is_not_hidden_by_coordinated_omission(site: Site) -> None:
    """One slot, 50 ms answers, a request due every 10 ms: the queue shows in the latency."""
    opened = load.measurement(
        "/slow", rate=100, duration=0.5, concurrency=1, configuration=site.configuration
    )
    closed = load.measurement(
        "/slow", rate=0, duration=0.5, concurrency=1, configuration=site.configuration
    )

    assert closed["latency_ms"]["p99"] < 70.0  # the closed loop only sees the service time
    assert opened["latency_ms"]["p99"] > 150.0  # due times pile up behind the slow answers
    assert opened["late"] > 0
    assert opened["unsent"] > 0
    assert opened["total"] + opened["unsent"] == 50


def test_weighted_paths_are_visited_in_proportion(site: Site) -> None:
    result = load.measurement(
        {"/": 3, "/posts/": 1}, rate=400, duration=0, requests=40, configuration=site.configuration
    )

    assert result["paths"] == ["/", "/posts/"]
    assert (site.hits["/"], site.hits["/posts/"]) == (30, 10)


def test_status_counts_x_cache_hit_ratio_and_pops(site: Site) -> None:
    result = load.measurement(
        ["/", "/posts/", "/down", "/down"], rate=400, duration=0, requests=40,
        configuration=site.configuration,
    )  # fmt: skip

    assert result["status_counts"] == {"200": 20, "503": 20}
    assert result["availability"] == 0.5
    assert result["x_cache"] == {
        "Error from cloudfront": 20,
        "Hit from cloudfront": 18,
        "Miss from cloudfront": 2,
    }
    assert result["hit_ratio"] == 0.9  # errors are not cacheable: 18 hits of 20
    assert result["pops"] == {"FRA56-P1": 10, "IAD89-C2": 10}


def test_no_x_cache_means_no_hit_ratio(site: Site) -> None:
    result = load.measurement("/slow", rate=100, requests=3, configuration=site.configuration)

    assert (result["x_cache"], result["hit_ratio"], result["pops"]) == ({}, None, {})


def test_the_timeline_has_a_row_per_second_adding_up_to_the_total(site: Site) -> None:
    result = load.measurement("/", rate=100, duration=1.5, configuration=site.configuration)

    rows = result["timeline"]
    assert [row["second"] for row in rows] == [0, 1]
    assert [row["requests"] for row in rows] == [100, 50]
    assert sum(row["successes"] for row in rows) == result["successes"] == 150
    assert all(0 < row["p50_ms"] <= row["p99_ms"] <= row["max_ms"] for row in rows)


def test_no_answer_is_classified_and_counts_as_the_timeout(closed_port_url: str) -> None:
    result = load.measurement(
        "/", rate=100, requests=5, timeout=0.25, configuration={"site_url": closed_port_url}
    )

    assert result["errors"] == {"timeout": 0, "refused": 5, "reset": 0, "tls": 0, "other": 0}
    assert (result["total"], result["availability"], result["status_counts"]) == (5, 0.0, {})
    assert result["latency_ms"]["p50"] == pytest.approx(250.0, abs=5.0)
    assert result["timeline"][0]["errors"] == 5


def test_tls_failures_are_their_own_class(site: Site) -> None:
    https = site.url.replace("http://", "https://")
    result = load.measurement("/", rate=100, requests=2, configuration={"site_url": https})

    assert result["errors"]["tls"] == 2


def test_the_closed_model_sends_as_fast_as_it_is_answered(site: Site) -> None:
    result = load.measurement(
        "/", rate=0, duration=0.3, concurrency=4, configuration=site.configuration
    )

    assert result["total"] > 100
    assert result["achieved_rate"] > 300
    assert result["late"] == result["unsent"] == 0


def test_bounds_decide_ok_with_reasons(site: Site) -> None:
    paths = ["/", "/down"]
    held = load.measurement(paths, rate=200, requests=10, min_availability=0.5,
                            configuration=site.configuration)  # fmt: skip
    broken = load.measurement(paths, rate=200, requests=10, min_availability=0.9,
                              max_p95_ms=0.001, configuration=site.configuration)  # fmt: skip

    assert (held["ok"], held["failures"]) == (True, [])
    assert broken["ok"] is False
    assert broken["failures"][0] == (
        "Availability was 0.500 (5 of 10 requests answered with an expected status), below "
        "the minimum of 0.900."
    )
    assert broken["failures"][1].startswith("The 95th percentile latency was ")


def test_several_processes_share_the_schedule(site: Site) -> None:
    result = load.measurement(
        ["/", "/posts/"], rate=200, duration=0.5, processes=2, configuration=site.configuration
    )

    assert result["total"] == 100
    assert result["processes"] == 2
    assert (site.hits["/"], site.hits["/posts/"]) == (50, 50)
    assert sum(row["requests"] for row in result["timeline"]) == 100


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({"duration": 0, "requests": 0}, "A load needs an end"),
        ({"rate": -1}, "`rate` must be a number from 0 to 100000"),
        ({"processes": 0}, "`processes` must be a whole number from 1 to 32"),
        ({"paths": {"/": 0}}, "the weight of /` must be a whole number from 1"),
        ({"paths": {"/": 6000, "/a": 6000}}, "add up to 12000"),
        ({"paths": ["posts/"]}, "starting with '/'"),
        ({"timeout": 0}, "`timeout` must be a number above 0"),
    ],
)
def test_bad_arguments_are_configuration_errors(
    closed_port_url: str, arguments: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ActivityFailed, match=re.escape(complaint)):
        load.measurement(**arguments, configuration={"site_url": closed_port_url})
