"""Every probe module is a valid Chaos Toolkit activity module; the tolerances read results."""

import importlib
import inspect
import logging
import re
import textwrap
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import yaml
from aiohttp import web
from chaoslib.activity import ensure_activity_is_valid, run_activity
from chaoslib.discovery.discover import discover_probes
from chaoslib.hypothesis import ensure_hypothesis_tolerance_is_valid, within_tolerance

from probes import tolerances
from tests.servers import serving

MODULES = [
    "probes.http",
    "probes.load",
    "probes.watch",
    "probes.cache",
    "probes.content",
    "probes.cloudfront",
    "probes.cloudwatch",
    "probes.tolerances",
]


def activities(module: ModuleType) -> dict[str, Any]:
    exported = {name: getattr(module, name) for name in module.__all__}
    return {name: obj for name, obj in exported.items() if inspect.isfunction(obj)}


def docstring_examples(module: ModuleType) -> list[dict[str, Any]]:
    blocks = re.findall(r"::\n\n((?:(?: {8}.*)?\n)+)", module.__doc__ or "")
    return [item for block in blocks for item in yaml.safe_load(textwrap.dedent(block))]


@pytest.mark.parametrize("name", MODULES)
def test_activities_have_the_signature_chaos_toolkit_reads(name: str) -> None:
    module = importlib.import_module(name)
    functions = activities(module)

    assert functions, name
    assert set(functions) == {probe["name"] for probe in discover_probes(name)}
    for function_name, function in functions.items():
        parameters = list(inspect.signature(function).parameters.values())
        assert [p.name for p in parameters[-2:]] == ["configuration", "secrets"], function_name
        assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters), function_name
        assert not any(isinstance(p.annotation, str) for p in parameters), function_name


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_are_valid_activities(name: str) -> None:
    module = importlib.import_module(name)
    examples = docstring_examples(module)

    assert examples, f"{name} shows no YAML example"
    for example in examples:
        ensure_activity_is_valid(example)
        if "tolerance" in example:
            ensure_hypothesis_tolerance_is_valid(example["tolerance"])
        provider = example["provider"]
        assert provider["func"] in module.__all__ or provider["module"] != name


# -- the examples hold on a healthy loopback site -------------------------------------------


@pytest.fixture
def site_configuration() -> Iterator[dict[str, Any]]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(body=b"ok", headers={"X-Cache": "Hit from cloudfront"})

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    with serving(app) as url:
        yield {"site_url": url}


@pytest.mark.parametrize("name", ["probes.load", "probes.tolerances", "probes.cache"])
def test_docstring_hypotheses_hold_on_a_healthy_site(
    name: str, site_configuration: dict[str, Any]
) -> None:
    for example in docstring_examples(importlib.import_module(name)):
        arguments = example["provider"].setdefault("arguments", {})
        if "duration" in arguments:
            arguments["duration"] = 0.2  # keep the test short
        output = run_activity(example, site_configuration, None)
        if example["name"] == "pages-come-from-the-primary-origin":
            continue  # the loopback page has no origin marker
        assert within_tolerance(example["tolerance"], output, site_configuration, None), example[
            "name"
        ]


# -- service_levels_met --------------------------------------------------------------------

LOAD = {
    "availability": 0.995,
    "p50_ms": 20.0,
    "p95_ms": 250.0,
    "p99_ms": 400.0,
    "hit_ratio": 0.9,
}


def test_bounds_that_hold_pass() -> None:
    assert tolerances.service_levels_met(
        LOAD, min_availability=0.99, max_p95_ms=300, max_p50_ms="25", min_hit_ratio=0.9
    )


def test_each_bound_that_fails_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="chaostoolkit"):
        held = tolerances.service_levels_met(LOAD, min_availability=0.999, max_p99_ms=300)

    assert held is False
    assert "availability was 0.995, expected at least 0.999." in caplog.text
    assert "p99_ms was 400, expected at most 300." in caplog.text


def test_latency_is_read_from_latency_ms_when_not_at_top_level() -> None:
    result = {"latency_ms": {"p50": 10.0, "p95": 20.0, "p99": 30.0}}

    assert tolerances.service_levels_met(result, max_p95_ms=20)
    assert not tolerances.service_levels_met(result, max_p99_ms=29.9)


def test_watch_results_judge_detection_and_recovery(caplog: pytest.LogCaptureFixture) -> None:
    recovered = {"time_to_detect_s": 0.2, "time_to_recover_s": 1.5}
    invisible = {"time_to_detect_s": None, "time_to_recover_s": 0.1}
    stuck = {"time_to_detect_s": 0.2, "time_to_recover_s": None}

    assert tolerances.service_levels_met(
        recovered, max_time_to_detect_s=0.5, max_time_to_recover_s=2
    )
    assert tolerances.service_levels_met(invisible, max_time_to_detect_s=0.5)
    with caplog.at_level(logging.WARNING, logger="chaostoolkit"):
        assert not tolerances.service_levels_met(stuck, max_time_to_recover_s=60)
    assert "The result has no time_to_recover_s" in caplog.text


def test_what_is_not_a_result_fails() -> None:
    assert tolerances.service_levels_met(None, min_availability=0.5) is False
    assert tolerances.service_levels_met({"status": 200}, min_availability=0.5) is False
    assert tolerances.service_levels_met({"availability": True}, min_availability=0.5) is False
