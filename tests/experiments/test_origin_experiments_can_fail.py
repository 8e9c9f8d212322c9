"""The origin experiments can fail, for the reason they name (issue 10).

Each experiment of the origin family claims two things: the pages in the edge caches
survive the origin's failure, and the failure reaches readers of the pages that are not in
cache. Each variant here takes one of them away, the way a real site or a mistake would:

- ``cache-purged``: the whole cache is invalidated just before the fault (our own
  ``purge_cache`` fault), so the pages the experiment calls cached are not: the check that
  they are still served must fail;
- ``no-fault``: the fault action is left out, so the origin answers as usual: the check
  that a page not in cache shows the fault must fail.

Every variant of the six experiments runs in one ``chaos gate --target sandbox`` (each on a
fresh sandbox of its own), once for the module: the end-to-end work is slow, the checks are
not. A variant that leaves out its fault is ``deviated`` (exit 1), not ``inconclusive``
(exit 3): nothing tried to inject a fault and failed, so the journal shows no fault that
did not take effect; what it shows is an expectation of the experiment not met, which is
what a deviation is (see chaos_runner.verdict).
"""

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.commands import chaos

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"

Experiment = dict[str, Any]

#: An action of our own that empties every edge cache and waits until it has.
PURGE = {
    "type": "action",
    "name": "purge-the-cache",
    "provider": {
        "type": "python",
        "module": "chaos_runner.faults.cloudfront",
        "func": "purge_cache",
        "arguments": {"acknowledge_irreversible": True},
    },
}


def fault_index(experiment: Experiment, fault: str) -> int:
    names = [activity["name"] for activity in experiment["method"]]
    return names.index(fault)


def purge_before(fault: str) -> Callable[[Experiment], None]:
    """Invalidate every cached page right before ``fault``: nothing is in cache."""

    def change(experiment: Experiment) -> None:
        experiment["method"].insert(fault_index(experiment, fault), dict(PURGE))

    return change


def without(fault: str) -> Callable[[Experiment], None]:
    """Leave the fault action out: the origin answers as usual."""

    def change(experiment: Experiment) -> None:
        del experiment["method"][fault_index(experiment, fault)]

    return change


@dataclass(frozen=True)
class Variant:
    experiment: str
    change: str
    apply: Callable[[Experiment], None]
    #: The method probe that must fail, and words its failure must say.
    failing_check: str
    says: str
    #: A method probe of the same run that must still hold (the failure is that one only).
    holding_check: str

    @property
    def name(self) -> str:
        return f"{self.experiment}--{self.change}"


def variants_of(
    experiment: str,
    fault: str,
    cached: tuple[str, str],
    uncached: tuple[str, str],
) -> list[Variant]:
    """Both variants of ``experiment``: each check is (its name, words its failure says)."""
    (cached_check, purged_says), (uncached_check, unfaulted_says) = cached, uncached
    return [
        Variant(
            experiment,
            "cache-purged",
            purge_before(fault),
            failing_check=cached_check,
            says=purged_says,
            holding_check=uncached_check,
        ),
        Variant(
            experiment,
            "no-fault",
            without(fault),
            failing_check=uncached_check,
            says=unfaulted_says,
            holding_check=cached_check,
        ),
    ]


#: What a page the origin served normally shows: a plain miss.
MISS_200 = "answered 200 with X-Cache 'Miss from cloudfront'"

VARIANTS = [
    *variants_of(
        "origin-outage",
        "deny-origin-reads",
        # The watch requests the cached pages again in the second the fault waits before
        # it injects; the stylesheet, which nothing requests then, is still not in cache.
        ("cached-pages-are-still-served", "/css/style.css answered 403"),
        ("pages-not-warmed-during-the-outage", MISS_200),
    ),
    *variants_of(
        "origin-blackhole",
        "point-the-origin-at-nowhere",
        ("cached-pages-are-still-served", "answered 502"),
        ("an-asset-not-in-cache-answers-502", MISS_200),
    ),
    *variants_of(
        "origin-connection-reset",
        "make-the-origin-reset-connections",
        ("cached-pages-are-still-served", "answered 502"),
        ("a-page-not-in-cache-answers-502", MISS_200),
    ),
    *variants_of(
        "origin-errors",
        "make-the-origin-fail",
        ("cached-pages-are-still-served", "answered 503"),
        ("a-page-not-in-cache-answers-503", MISS_200),
    ),
    *variants_of(
        "origin-latency",
        "slow-the-origin-down",
        # a cached page that waits for the slow origin misses its 250 ms
        ("cached-pages-stay-fast", "got no answer (timeout"),
        # a page not in cache answers as fast as the origin does without the fault
        ("pages-not-in-cache-wait-for-the-origin", f"{MISS_200} in "),
    ),
    *variants_of(
        "origin-link-blackhole",
        "make-the-origin-hang",
        ("cached-pages-are-still-served", "answered 504"),
        ("a-page-not-in-cache-answers-504", MISS_200),
    ),
]


#: Started first, so that the two jobs end at about the same time: origin-link-blackhole
#: waits for the origin's read timeout, origin-outage loads the site and watches it recover.
SLOWEST = ("origin-link-blackhole", "origin-outage")


@dataclass(frozen=True)
class GateRun:
    exit_code: int
    output: str
    seconds: float
    verdicts: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def gate_run(tmp_path_factory: pytest.TempPathFactory) -> GateRun:
    """Every variant, in one `chaos gate --target sandbox --jobs 2`."""
    tmp_path = tmp_path_factory.mktemp("origin-variants")
    paths = []
    for variant in sorted(VARIANTS, key=lambda v: v.experiment not in SLOWEST):
        experiment = yaml.safe_load((EXPERIMENTS / f"{variant.experiment}.yaml").read_text())
        variant.apply(experiment)
        path = tmp_path / f"{variant.name}.yaml"
        path.write_text(yaml.safe_dump(experiment, sort_keys=False))
        paths.append(str(path))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "AWS_"))}
    env["CHAOS_STATE_DIR"] = str(tmp_path / ".chaos")

    started = time.monotonic()
    result = chaos(
        ["gate", *paths, "--target", "sandbox", "--jobs", "2", "--json", "gate.json",
         "--out", "out"],
        tmp_path,
        env,
        timeout=600,
    )  # fmt: skip
    seconds = time.monotonic() - started

    output = result.stdout + result.stderr
    assert (tmp_path / "gate.json").exists(), output
    document = json.loads((tmp_path / "gate.json").read_text())
    print(f"gate of {len(paths)} variants: {seconds:.1f} s")
    return GateRun(
        exit_code=result.returncode,
        output=output,
        seconds=seconds,
        verdicts={e["name"]: e for e in document["experiments"]},
    )


@pytest.mark.slow
def test_the_gate_fails_as_a_deviation_and_judged_every_variant(gate_run: GateRun) -> None:
    assert gate_run.exit_code == 1, gate_run.output[-4000:]
    assert set(gate_run.verdicts) == {variant.name for variant in VARIANTS}


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_the_variant_deviates_on_the_check_it_takes_away(
    variant: Variant, gate_run: GateRun
) -> None:
    verdict = gate_run.verdicts[variant.name]
    checks = {check["name"]: check for check in verdict["checks"]}
    reasons = [finding["reason"] for finding in verdict["findings"]]

    assert (verdict["outcome"], verdict["exit_code"]) == ("deviated", 1), reasons
    named = [r for r in reasons if f"during the method: {variant.failing_check}:" in r]
    assert named, reasons
    assert variant.says in named[0], named[0]
    assert checks[variant.failing_check]["held"] is False
    # the failure is the one the variant causes: the experiment's other claim still holds,
    # and every fault of the run was injected, verified and restored
    assert checks[variant.holding_check]["held"] is True, checks[variant.holding_check]
    faults = [c for c in verdict["checks"] if c["kind"] in ("fault-verified", "restore")]
    assert all(check["held"] for check in faults), faults
