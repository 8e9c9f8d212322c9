"""probes.http against a real aiohttp server on loopback (no mocks, bounded traffic)."""

import asyncio
import hashlib
import inspect
import logging
import re
import textwrap
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from aiohttp import web
from chaoslib.activity import ensure_activity_is_valid, run_activity
from chaoslib.discovery.discover import discover_probes
from chaoslib.exceptions import ActivityFailed
from chaoslib.hypothesis import ensure_hypothesis_tolerance_is_valid, within_tolerance

from probes import http
from tests.servers import closed_port_url, serving

HIT = "Hit from cloudfront"
HOME = b"<html>home</html>"


@dataclass
class Site:
    """The test site: its URL as the probes' configuration, and the requests it received."""

    url: str
    hits: Counter[str] = field(default_factory=Counter)

    @property
    def configuration(self) -> dict[str, Any]:
        return {"site_url": self.url}


def _app(hits: Counter[str]) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        hits[request.path] += 1
        return web.Response(body=HOME, content_type="text/html", headers={"X-Cache": HIT})

    async def down(request: web.Request) -> web.Response:
        hits[request.path] += 1
        return web.Response(status=503, headers={"X-Cache": "Error from cloudfront"})

    async def miss(request: web.Request) -> web.Response:
        return web.Response(body=b"fresh", headers={"X-Cache": "Miss from cloudfront", "Age": "12"})

    async def aged(request: web.Request) -> web.Response:
        age = "0" if request.path == "/young" else "5"
        return web.Response(body=b"kept", headers={"X-Cache": HIT, "Age": age})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return web.Response(body=b"slow")

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)  # longer than the probes' timeout in the tests
        return web.Response(body=b"late")

    async def cut(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.abort()
        return web.Response(body=b"never sent")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/posts/", page)
    app.router.add_get("/down", down)
    app.router.add_get("/miss", miss)
    app.router.add_get("/young", aged)
    app.router.add_get("/old", aged)
    app.router.add_get("/slow", slow)
    app.router.add_get("/hang", hang)
    app.router.add_get("/cut", cut)
    return app


@pytest.fixture
def site() -> Iterator[Site]:
    """An aiohttp server on 127.0.0.1 (free port) running in its own thread and loop."""
    hits: Counter[str] = Counter()
    with serving(_app(hits)) as url:
        yield Site(url, hits)


@pytest.fixture(name="closed_port_url")
def closed_port_url_fixture() -> str:
    """The URL of a loopback port nothing listens on."""
    return closed_port_url()


# -- availability / latency -------------------------------------------------------------


def test_availability_sends_every_request_round_robin(site: Site) -> None:
    result = http.availability(["/", "/posts/"], requests=10, configuration=site.configuration)

    assert result["url"] == site.url
    assert result["paths"] == ["/", "/posts/"]
    assert (result["total"], result["successes"], result["availability"]) == (10, 10, 1.0)
    assert result["status_counts"] == {"200": 10}
    assert result["x_cache"] == {HIT: 10}
    assert result["errors"] == {"timeout": 0, "refused": 0, "reset": 0, "tls": 0, "other": 0}
    assert (result["ok"], result["failures"]) == (True, [])
    assert site.hits == {"/": 5, "/posts/": 5}


def test_availability_of_a_mix_counts_each_status(site: Site) -> None:
    result = http.availability(["/", "/down"], requests=8, configuration=site.configuration)

    assert (result["total"], result["successes"], result["availability"]) == (8, 4, 0.5)
    assert result["status_counts"] == {"200": 4, "503": 4}
    assert result["x_cache"] == {"Error from cloudfront": 4, HIT: 4}
    assert result["ok"] is False
    assert result["failures"] == [
        "Availability was 0.500 (4 of 8 requests answered with an expected status), "
        "below the minimum of 1.000."
    ]


def test_min_availability_and_expect_status_decide_ok(site: Site) -> None:
    paths = ["/", "/down"]
    tolerant = http.availability(paths, 4, min_availability=0.5, configuration=site.configuration)
    widened = http.availability(paths, 4, expect_status="200,503", configuration=site.configuration)

    assert (tolerant["availability"], tolerant["ok"]) == (0.5, True)
    assert (widened["availability"], widened["ok"]) == (1.0, True)


def test_latency_of_a_slow_path_is_measured(site: Site) -> None:
    result = http.latency_percentiles(
        "/slow", requests=4, concurrency=4, configuration=site.configuration
    )
    bounded = http.latency_percentiles(
        "/slow", requests=2, max_p95_ms=1.0, configuration=site.configuration
    )

    latency = result["latency_ms"]
    assert 50.0 <= latency["p50"] <= latency["p90"] <= latency["p95"] <= latency["p99"]
    assert latency["p99"] <= latency["max"] < 1000.0
    assert result["p95_ms"] == latency["p95"]
    assert result["ok"] is True
    assert bounded["ok"] is False
    assert bounded["failures"][0].startswith("The 95th percentile latency was ")


def test_duration_bounds_the_load_by_time(site: Site) -> None:
    result = http.availability("/", duration=0.2, concurrency=2, configuration=site.configuration)

    assert result["total"] > 1
    assert result["availability"] == 1.0
    assert 0.2 <= result["elapsed_s"] < 2.0


def test_a_closed_port_counts_as_refused(closed_port_url: str) -> None:
    configuration = {"site_url": closed_port_url}
    result = http.availability("/", requests=3, timeout=0.5, configuration=configuration)

    assert result["errors"]["refused"] == 3
    assert (result["total"], result["availability"], result["status_counts"]) == (3, 0.0, {})
    # no answer counts as the whole timeout (plus the microseconds it took to send)
    assert result["latency_ms"]["p50"] == pytest.approx(500.0, abs=1.0)


def test_a_slow_answer_counts_as_timeout(site: Site) -> None:
    result = http.availability("/hang", requests=2, timeout=0.1, configuration=site.configuration)

    assert result["errors"]["timeout"] == 2
    assert result["availability"] == 0.0


def test_a_cut_connection_counts_as_reset(site: Site) -> None:
    result = http.availability("/cut", requests=2, configuration=site.configuration)

    assert result["errors"]["reset"] == 2


def test_numeric_strings_from_substitution_are_accepted(site: Site) -> None:
    result = http.availability("/", requests="3", timeout="2.5", configuration=site.configuration)  # type: ignore[arg-type]

    assert result["total"] == 3


def test_probes_run_from_a_thread_and_from_inside_an_event_loop(site: Site) -> None:
    results: list[http.Measurement] = []
    thread = threading.Thread(
        target=lambda: results.append(http.availability("/", 2, configuration=site.configuration))
    )
    thread.start()
    thread.join(timeout=5)

    async def caller() -> http.Measurement:
        return http.availability("/", 2, configuration=site.configuration)

    results.append(asyncio.run(caller()))
    assert [result["total"] for result in results] == [2, 2]


# -- responses / expect_responses ---------------------------------------------------------


def test_responses_record_each_page_once(site: Site) -> None:
    pages = http.responses(["/", "/miss", "/down", "/"], configuration=site.configuration)

    assert list(pages) == ["/", "/miss", "/down"]
    assert pages["/"] == {
        "status": 200,
        "x_cache": HIT,
        "age": None,
        "bytes": len(HOME),
        "sha256": hashlib.sha256(HOME).hexdigest(),
        "error": None,
    }
    assert (pages["/miss"]["x_cache"], pages["/miss"]["age"]) == ("Miss from cloudfront", 12)
    assert pages["/down"]["status"] == 503


def test_responses_record_a_page_with_no_answer(closed_port_url: str) -> None:
    pages = http.responses("/", configuration={"site_url": closed_port_url})

    assert pages["/"]["status"] is None
    assert pages["/"]["sha256"] is None
    assert (pages["/"]["error"] or "").startswith("refused: ")


def test_expect_responses_returns_the_pages_when_all_match(site: Site) -> None:
    pages = http.expect_responses(["/", "/posts/"], x_cache="hit", configuration=site.configuration)

    assert set(pages) == {"/", "/posts/"}


def test_expect_responses_names_each_page_that_differs(site: Site) -> None:
    with pytest.raises(ActivityFailed) as failed:
        http.expect_responses(
            ["/", "/down", "/miss"], x_cache="Hit", configuration=site.configuration
        )

    message = str(failed.value)
    assert message.startswith(f"Expected every page of {site.url} to answer status 200 with an ")
    assert "but 2 did not: /down answered 503 with X-Cache 'Error from cloudfront'; " in message
    assert "/miss answered 200 with X-Cache 'Miss from cloudfront'." in message
    assert "/ answered" not in message


def test_after_a_purge_a_hit_younger_than_refetched_within_s_counts_as_fetched_again(
    site: Site,
) -> None:
    young = http.expect_responses(
        ["/miss", "/young"], x_cache="Miss", refetched_within_s=2, configuration=site.configuration
    )
    assert young["/young"]["age"] == 0
    with pytest.raises(ActivityFailed) as failed:
        http.expect_responses(
            ["/miss", "/young", "/old"], x_cache="Miss", refetched_within_s=2,
            configuration=site.configuration,
        )  # fmt: skip
    assert "but 1 did not: /old answered 200 with X-Cache" in str(failed.value)
    with pytest.raises(ActivityFailed, match="/young answered 200"):
        http.expect_responses(["/young"], x_cache="Miss", configuration=site.configuration)


def test_expect_responses_accepts_a_status_range(site: Site) -> None:
    pages = http.expect_responses(["/down"], status="500-599", configuration=site.configuration)

    assert pages["/down"]["status"] == 503


# -- arguments ---------------------------------------------------------------------------


def test_an_unset_site_url_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAOS_SITE_URL", raising=False)

    with pytest.raises(ActivityFailed, match="CHAOS_SITE_URL"):
        http.availability()
    with pytest.raises(ActivityFailed, match="CHAOS_SITE_URL"):
        http.responses("/")


def test_the_site_url_comes_from_the_environment(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOS_SITE_URL", site.url + "/")

    assert http.availability("/", requests=1)["url"] == site.url


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({"paths": "posts/"}, "starting with '/'"),
        ({"paths": ["/", 3]}, "starting with '/'"),
        ({"paths": []}, "list of 1 to"),
        ({"requests": 0}, "`requests` must be a whole number from 1 to 100000"),
        ({"requests": 100_001}, "`requests` must be a whole number from 1 to 100000"),
        ({"requests": 2.5}, "`requests` must be a whole number"),
        ({"requests": True}, "`requests` must be"),
        ({"duration": -1.0}, "`duration` must be a number from 0 to 3600"),
        ({"duration": 3601}, "`duration` must be a number from 0 to 3600"),
        ({"concurrency": 0}, "`concurrency` must be"),
        ({"timeout": 0}, "`timeout` must be a number above 0"),
        ({"timeout": "soon"}, "`timeout` must be"),
        ({"expect_status": "ok"}, "`expect_status` must be HTTP statuses"),
        ({"expect_status": [200, 700]}, "`expect_status` must be HTTP statuses"),
        ({"min_availability": 1.5}, "`min_availability` must be a number from 0 to 1"),
        ({"max_p95_ms": -1}, "`max_p95_ms` must be"),
    ],
)
def test_bad_arguments_are_configuration_errors(
    closed_port_url: str, arguments: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ActivityFailed, match=re.escape(complaint)):
        http.availability(**arguments, configuration={"site_url": closed_port_url})


def test_a_site_url_without_scheme_is_a_configuration_error() -> None:
    with pytest.raises(ActivityFailed, match="http:// or https://"):
        http.responses("/", configuration={"site_url": "www.example.com"})


# -- Chaos Toolkit integration ------------------------------------------------------------


def test_activities_have_the_signature_chaos_toolkit_reads() -> None:
    activities = {name: getattr(http, name) for name in http.__all__}
    functions = {name: obj for name, obj in activities.items() if inspect.isfunction(obj)}

    assert set(functions) == {d["name"] for d in discover_probes("probes.http")}
    for name, function in functions.items():
        parameters = list(inspect.signature(function).parameters.values())
        assert [p.name for p in parameters[-2:]] == ["configuration", "secrets"], name
        assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters), name


def _docstring_examples() -> list[dict[str, Any]]:
    """The YAML probe examples of the probes.http docstring."""
    doc = http.__doc__ or ""
    blocks = re.findall(r"::\n\n((?:(?: {8}.*)?\n)+)", doc)
    return [probe for block in blocks for probe in yaml.safe_load(textwrap.dedent(block))]


def test_docstring_examples_validate_and_hold_on_a_healthy_site(site: Site) -> None:
    examples = _docstring_examples()

    assert len(examples) == 3
    for probe in examples:
        ensure_activity_is_valid(probe)
        ensure_hypothesis_tolerance_is_valid(probe["tolerance"])
        output = run_activity(probe, site.configuration, None)
        assert within_tolerance(probe["tolerance"], output, site.configuration, None), probe["name"]


def test_docstring_examples_fail_on_an_unhealthy_site(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    for probe in _docstring_examples():
        probe["provider"]["arguments"].update(paths="/down")
        if probe["provider"]["func"] == "latency_percentiles":
            probe["provider"]["arguments"].update(paths="/slow", max_p95_ms=1)
            probe["tolerance"]["range"] = [0, 1]
        output = run_activity(probe, site.configuration, None)
        with caplog.at_level(logging.WARNING, logger="chaostoolkit"):
            assert not within_tolerance(probe["tolerance"], output, site.configuration, None)
    assert "Availability was 0.000" in caplog.text


def test_bounds_held_rejects_what_is_not_a_load_result() -> None:
    assert http.bounds_held({"status": 200}) is False
    assert http.bounds_held(None) is False
