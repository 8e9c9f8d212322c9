"""probes.watch: a loopback site that fails on cue, and a real ledger in a temporary folder."""

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from chaoslib.exceptions import ActivityFailed

from chaos_runner import run
from chaos_runner.ledger import EntryState, Ledger, LedgerEntry, TargetRef
from chaos_runner.waiter import Wait
from probes import watch
from probes.watch import WatchResult
from tests.servers import serving

TARGET = TargetRef(key="unit|-|-", label="unit test site", endpoint_url=None, region="us-east-1")


@dataclass
class Site:
    url: str
    healthy: threading.Event
    answered: Counter[str]

    def wait_for_answers(self, kind: str, count: int) -> None:
        """Poll (bounded) until the site has given ``count`` answers of ``kind`` (ok/503)."""
        done = Wait(delay=0.01, timeout=5).until(lambda: self.answered[kind], lambda n: n >= count)
        assert done.reached, f"only {done.last} {kind} answers in 5 s"

    @property
    def configuration(self) -> dict[str, Any]:
        return {"site_url": self.url}


@pytest.fixture
def site() -> Iterator[Site]:
    healthy = threading.Event()
    healthy.set()
    answered: Counter[str] = Counter()

    async def page(request: web.Request) -> web.Response:
        kind = "ok" if healthy.is_set() else "503"
        answered[kind] += 1
        return web.Response(body=b"ok") if kind == "ok" else web.Response(status=503)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return web.Response(body=b"slow")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/slow", slow)
    with serving(app) as url:
        yield Site(url, healthy, answered)


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    """A ledger of the test's own, inside a run "run-1" (as the safety control makes)."""
    monkeypatch.setenv("CHAOS_LEDGER", str(tmp_path / "ledger.jsonl"))
    run.start().run_id = "run-1"
    yield Ledger()
    run.finish()


def in_background(function: Callable[[], WatchResult]) -> Callable[[], WatchResult]:
    """Start ``function`` in a thread, as Chaos Toolkit runs a background activity."""
    results: list[WatchResult] = []
    thread = threading.Thread(target=lambda: results.append(function()), daemon=True)
    thread.start()

    def join() -> WatchResult:
        thread.join(timeout=15)
        assert results, "the watch did not stop by itself"
        return results[0]

    return join


def inject(ledger: Ledger, run_id: str = "run-1") -> LedgerEntry:
    return ledger.open("bucket_policy", TARGET, {"bucket": "unit"}, "unit outage", run_id=run_id)


def test_detection_and_recovery_times_come_from_the_ledger(site: Site, ledger: Ledger) -> None:
    began = time.monotonic()
    join = in_background(
        lambda: watch.health_timeline(
            "/", rate=20, recovery_window=0.5, max_duration=10, configuration=site.configuration
        )
    )
    site.wait_for_answers("ok", 6)  # a healthy baseline
    entry = inject(ledger)
    site.healthy.clear()
    site.wait_for_answers("503", 8)  # the outage, seen by 8 samples
    site.healthy.set()
    ledger.mark(entry.id, EntryState.RESTORED, "unit restore")

    result = join()

    assert result["stopped_because"] == "recovered"
    assert time.monotonic() - began < 3.0
    assert result["faults"] is not None
    assert (result["faults"]["run_id"], result["faults"]["entries"]) == ("run-1", 1)
    assert result["faults"]["injected_at"] == entry.created_at
    assert result["detected"] and result["recovered"]
    assert result["time_to_detect_s"] is not None and result["time_to_recover_s"] is not None
    assert 0.0 < result["time_to_detect_s"] < 0.15  # a sample every 50 ms
    assert 0.0 <= result["time_to_recover_s"] < 0.15
    assert [s["healthy"] for s in result["segments"]] == [True, False, True]
    assert set(result["segments"][1]["answers"]) == {"503"}
    assert 6 <= result["segments"][1]["samples"] <= 10
    assert result["availability_during_fault"] is not None
    assert result["availability_during_fault"] < 0.2
    assert result["segments"][-1]["end_s"] - result["segments"][-1]["start_s"] >= 0.45


def test_without_a_fault_the_watch_keeps_only_the_timeline(site: Site, ledger: Ledger) -> None:
    result = watch.health_timeline("/", rate=20, max_duration=0.5, configuration=site.configuration)

    assert result["stopped_because"] == "max_duration"
    assert result["faults"] is None
    assert (result["detected"], result["time_to_detect_s"], result["time_to_recover_s"]) == (
        False,
        None,
        None,
    )
    assert result["samples"] == 10
    assert result["availability"] == 1.0
    assert result["segments"] == [
        {"start_s": 0.0, "end_s": 0.45, "healthy": True, "samples": 10,
         "answers": {"200": 10}, "max_ms": result["segments"][0]["max_ms"]}
    ]  # fmt: skip


def test_faults_of_other_runs_are_not_ours(site: Site, ledger: Ledger) -> None:
    join = in_background(
        lambda: watch.health_timeline(
            "/", rate=20, max_duration=0.5, configuration=site.configuration
        )
    )
    inject(ledger, run_id="another-run")

    assert join()["faults"] is None


def test_a_site_that_does_not_recover_is_watched_until_max_duration(
    site: Site, ledger: Ledger
) -> None:
    join = in_background(
        lambda: watch.health_timeline(
            "/", rate=20, recovery_window=0.2, max_duration=1.0, configuration=site.configuration
        )
    )
    entry = inject(ledger)
    site.healthy.clear()
    site.wait_for_answers("503", 4)
    ledger.mark(entry.id, EntryState.RESTORED, "restored, but the site stays down")

    result = join()
    site.healthy.set()

    assert result["stopped_because"] == "max_duration"
    assert result["detected"] is True
    assert (result["recovered"], result["time_to_recover_s"]) == (False, None)


def test_slow_answers_are_unhealthy_with_a_latency_bound(site: Site, ledger: Ledger) -> None:
    result = watch.health_timeline(
        "/slow", rate=10, max_latency_ms=10, max_duration=0.3, configuration=site.configuration
    )

    assert result["availability"] == 0.0
    assert result["segments"][0]["answers"] == {"200 slow": 3}


def test_a_fault_of_an_unnamed_run_counts_when_opened_after_the_watch_started(
    site: Site, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    run.finish()  # no run: the watch follows whatever fault is opened
    join = in_background(
        lambda: watch.health_timeline(
            "/", rate=20, recovery_window=0.2, max_duration=5, configuration=site.configuration
        )
    )
    site.wait_for_answers("ok", 1)  # the watch has started
    entry = inject(ledger, run_id="manual")
    ledger.mark(entry.id, EntryState.RESTORED, "nothing happened")

    result = join()

    assert result["faults"] is not None and result["faults"]["run_id"] == "manual"
    assert result["stopped_because"] == "recovered"
    assert result["detected"] is False  # the fault was not visible: nothing to detect


def test_the_watch_ends_with_the_method_when_no_fault_is_left_to_restore(
    site: Site, ledger: Ledger
) -> None:
    """chaoslib waits for background activities before rollbacks and controls restore."""
    from chaoslib.experiment import run_experiment

    experiment = {
        "version": "1.0.0",
        "title": "A watch beside a method that ends",
        "description": "The watch must not outlive the method by its max_duration.",
        "controls": [
            {
                "name": "safety",
                "provider": {"type": "python", "module": "chaos_runner.controls.safety"},
            }
        ],
        "method": [
            {
                "type": "probe",
                "name": "watch",
                "background": True,
                "provider": {
                    "type": "python",
                    "module": "probes.watch",
                    "func": "health_timeline",
                    "arguments": {"paths": "/", "rate": 20, "max_duration": 30},
                },
            },
            {
                "type": "probe",
                "name": "something-quick",
                "pauses": {"before": 0.3},
                "provider": {"type": "python", "module": "os", "func": "getpid"},
            },
        ],
        "configuration": site.configuration,
    }
    began = time.monotonic()

    journal = run_experiment(experiment)

    assert time.monotonic() - began < 5.0
    watched = next(run for run in journal["run"] if run["activity"]["name"] == "watch")
    assert watched["status"] == "succeeded"
    assert watched["output"]["stopped_because"] == "method_ended"
    assert watched["output"]["samples"] >= 5


def test_too_many_samples_is_a_configuration_error(site: Site) -> None:
    with pytest.raises(ActivityFailed, match="more than the 36000 kept"):
        watch.health_timeline(rate=50, max_duration=3600, configuration=site.configuration)
