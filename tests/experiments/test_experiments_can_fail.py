"""Every experiment can fail (issue 10): its verdict changes when its fault is not applied
or when the protection it claims is missing.

Each variant is an experiment of the catalog changed the way a broken site or a fault that
never happened would change it, written to tmp_path. All of them run in ONE `chaos gate
--target sandbox` call (each on a fresh sandbox of its own, two at a time), once for the
module; each test then reads that variant's verdict in gate.json: its exit code, and a
reason that names the check that failed.
"""

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.commands import chaos

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"

Experiment = dict[str, Any]
Change = Callable[[Experiment], None]


def without(activity: str) -> Change:
    """The experiment with the method's activity ``activity`` left out (a fault not applied)."""

    def change(experiment: Experiment) -> None:
        names = [step["name"] for step in experiment["method"]]
        assert activity in names, f"{activity} is not in the method: {names}"
        experiment["method"] = [step for step in experiment["method"] if step["name"] != activity]

    return change


def inserted_after(activity: str, step: Experiment) -> Change:
    """The experiment with ``step`` run right after the method's activity ``activity``."""

    def change(experiment: Experiment) -> None:
        names = [existing["name"] for existing in experiment["method"]]
        experiment["method"].insert(names.index(activity) + 1, step)

    return change


def arguments(activity: str, **values: Any) -> Change:
    """The experiment with some arguments of the method's activity ``activity`` changed."""

    def change(experiment: Experiment) -> None:
        step = next(step for step in experiment["method"] if step["name"] == activity)
        step["provider"]["arguments"].update(values)

    return change


#: An invalidation of /*, as a deploy script sends: every edge cache is emptied.
PURGE_EVERYTHING = {
    "type": "action",
    "name": "invalidate-everything",
    "provider": {
        "type": "python",
        "module": "chaos_runner.faults.cloudfront",
        "func": "purge_cache",
        "arguments": {"paths": "/*", "acknowledge_irreversible": True},
    },
}


@dataclass(frozen=True)
class Variant:
    experiment: str
    name: str
    change: Change
    exit_code: int
    #: The check whose failure the verdict's reason must name.
    check: str

    @property
    def id(self) -> str:
        return f"{self.experiment}--{self.name}"


VARIANTS = [
    # bad-deploy: the edge keeps the good copy of the pages it holds
    Variant("bad-deploy", "no-bad-deploy", without("deploy-truncated-pages"),
            1, "the-cached-pages-keep-their-good-copy"),
    Variant("bad-deploy", "cache-emptied-by-the-deploy",
            inserted_after("deploy-truncated-pages", PURGE_EVERYTHING),
            1, "the-cached-pages-keep-their-good-copy"),
    # cache-purge: the pages miss after the purge
    # (an invalidation that does not cover the pages: the 2 s pause before it stays, so the
    # pages' copies are old enough not to pass as fetched again by another reader)
    Variant("cache-purge", "purge-misses-the-pages",
            arguments("purge-the-whole-cache", paths="/no-such-section/*"),
            1, "every-page-misses-and-answers-200"),
    # cache-ttl-lowered: every request goes to the origin
    Variant("cache-ttl-lowered", "ttls-not-lowered", without("set-every-ttl-to-0"),
            1, "every-next-request-goes-to-the-origin"),
    # distribution-disabled: 403 while disabled, 200 once enabled again
    Variant("distribution-disabled", "not-disabled", without("disable-the-distribution"),
            1, "the-site-answers-403"),
    Variant("distribution-disabled", "not-enabled-again", without("restore-the-site"),
            1, "pages-are-available"),
    # error-caching-ttl: the 404 lingers for the TTL the fault set, not the 10 s default
    Variant("error-caching-ttl", "ttl-not-raised", without("cache-404s-for-15-seconds"),
            1, "the-fixed-page-answers-404-for-the-error-caching-ttl"),
    # invalidation-storm: the storm evicts no page
    Variant("invalidation-storm", "storm-evicts-the-pages",
            inserted_after("send-an-invalidation-storm", PURGE_EVERYTHING),
            1, "the-cached-pages-are-still-served-from-the-edge"),
    # object-loss: the lost page shows the site's own 404 page
    Variant("object-loss", "nothing-lost", without("delete-a-post"),
            1, "the-lost-post-shows-the-404-page"),
    Variant("object-loss", "404-page-lost-too",
            arguments("delete-a-post", keys=["@victim", "404.html"]),
            1, "the-lost-post-shows-the-404-page"),
]  # fmt: skip


def write_variant(directory: Path, variant: Variant) -> Path:
    experiment = yaml.safe_load((EXPERIMENTS / f"{variant.experiment}.yaml").read_text())
    variant.change(experiment)
    path = directory / f"{variant.id}.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every variant run once, in one `chaos gate`: its verdicts by variant id."""
    directory = tmp_path_factory.mktemp("can-fail")
    paths = [str(write_variant(directory, variant)) for variant in VARIANTS]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "AWS_"))}
    env["CHAOS_STATE_DIR"] = str(directory / ".chaos")

    result = chaos(
        ["gate", *paths, "--target", "sandbox", "--jobs", "2", "--json", "gate.json",
         "--out", "out"],
        directory,
        env,
        timeout=300,
    )  # fmt: skip

    # every variant deviates (1) or is inconclusive (3); the gate's code is the first of
    # 3 and 1 that any variant has
    codes = {variant.exit_code for variant in VARIANTS}
    assert result.returncode == (3 if 3 in codes else 1), result.stdout + result.stderr
    report = json.loads((directory / "gate.json").read_text())
    return {entry["name"]: entry for entry in report["experiments"]}


def test_every_experiment_of_this_module_has_a_variant() -> None:
    mine = {
        "bad-deploy", "cache-purge", "cache-ttl-lowered", "distribution-disabled",
        "error-caching-ttl", "invalidation-storm", "object-loss",
    }  # fmt: skip
    assert {variant.experiment for variant in VARIANTS} == mine
    for name in mine:
        assert "Deviates when:" in (EXPERIMENTS / f"{name}.yaml").read_text(), name


@pytest.mark.timeout(300)  # the first test also waits for the gate (about 30 s)
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda variant: variant.id)
def test_the_variant_does_not_hold_and_names_the_failing_check(
    gated: dict[str, Any], variant: Variant
) -> None:
    verdict = gated[variant.id]
    reasons = [verdict["reason"], *(finding["reason"] for finding in verdict["findings"])]

    assert verdict["exit_code"] == variant.exit_code, reasons
    assert any(variant.check in reason for reason in reasons), reasons
    failed = [check["name"] for check in verdict["checks"] if not check["held"]]
    assert variant.check in failed, verdict["checks"]
