"""The metrics control's hooks, called in-process as chaoslib calls them, with real sinks."""

import logging
import threading
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos_runner import run
from chaos_runner.controls import metrics as control
from chaos_runner.ledger import EntryState, Ledger, TargetRef
from tests.metrics.conftest import gauge, get, promtool_check

SINK_VARIABLES = ("CHAOS_PUSHGATEWAY", "CHAOS_METRICS_TEXTFILE", "CHAOS_METRICS_PORT")
CONFIGURATION = {
    "site_url": "https://www.example.com",
    "distribution_id": "E2EXAMPLE",
    "origin_bucket": "www.example.com",
}


def action(name: str, module: str, func: str) -> dict[str, Any]:
    return {
        "type": "action",
        "name": name,
        "provider": {"type": "python", "module": module, "func": func},
    }


DISABLE = action(
    "disable-the-distribution", "chaos_runner.faults.cloudfront", "disable_distribution"
)
DENY = action("deny-origin-reads", "chaos_runner.faults.s3", "deny_origin_reads")
RESTORE = action("restore-the-site", "chaos_runner.faults.ledger", "restore_injected_faults")
PROBE = {
    "type": "probe",
    "name": "look",
    "provider": {"type": "python", "module": "os.path", "func": "isdir"},
}
EXPERIMENT = {"title": "Two faults, then a restore", "method": [DISABLE, DENY, PROBE, RESTORE]}
#: The journal of a run that did nothing (held: nothing says otherwise).
JOURNAL = {"experiment": EXPERIMENT, "status": "completed", "steady_states": {}, "run": []}
TARGET = TargetRef(
    key="aws|E2EXAMPLE|www.example.com", label="aws", endpoint_url=None, region="us-east-1"
)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No sink variable, no target variable, a ledger of the test's own; no run left over."""
    for name in (*SINK_VARIABLES, "CHAOS_METRICS_ADDRESS", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("CHAOS_SITE_URL", "CHAOS_DISTRIBUTION_ID", "CHAOS_ORIGIN_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHAOS_LEDGER", str(tmp_path / "ledger.jsonl"))
    yield tmp_path
    control.cleanup_control()
    run.finish()


def served() -> str:
    current = control._current
    assert current is not None and current.sinks.server is not None
    return current.sinks.server.url


def test_without_a_sink_the_control_does_nothing(environment: Path) -> None:
    threads = threading.active_count()

    control.configure_control(configuration=dict(CONFIGURATION), experiment=EXPERIMENT)
    control.after_activity_control(
        DISABLE, {"status": "succeeded", "output": {"ledger_entry": "x"}}
    )
    control.after_experiment_control(EXPERIMENT, {"status": "completed"})
    control.cleanup_control()

    assert control._current is None
    assert threading.active_count() == threads
    assert list(environment.iterdir()) == []  # not even the ledger was read into being


def test_the_fault_gauge_follows_the_ledger_during_the_run(
    environment: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CHAOS_METRICS_PORT", "0")
    textfile = environment / "chaos.prom"
    current = run.start()
    ledger = Ledger()

    with caplog.at_level(logging.INFO, logger="chaostoolkit"):
        control.configure_control(
            configuration=dict(CONFIGURATION), experiment=EXPERIMENT, textfile=str(textfile)
        )
        url = served()
        before = get(url)

        disabled = ledger.open("distribution_config", TARGET, {}, "distribution disabled")
        control.after_activity_control(
            DISABLE, {"status": "succeeded", "output": {"ledger_entry": disabled.id}}
        )
        # a fault that failed after writing its undo record: injected all the same
        ledger.open("bucket_policy", TARGET, {}, "origin reads denied", run_id=current.run_id)
        control.after_activity_control(DENY, {"status": "failed", "output": None})
        control.after_activity_control(PROBE, {"status": "succeeded", "output": True})
        injected = get(url)
        written = textfile.read_text()

        for entry in ledger.entries():
            ledger.mark(entry.id, EntryState.RESTORED, "restored")
        control.after_activity_control(RESTORE, {"status": "succeeded", "output": {"restored": []}})
        restored = get(url)

        control.after_experiment_control(EXPERIMENT, {"status": "completed"})
        control.cleanup_control()

    messages = [r.getMessage() for r in caplog.records]
    mine = {"experiment": "two-faults-then-a-restore", "target": "E2EXAMPLE"}
    disable = {**mine, "fault": "cloudfront.disable_distribution"}
    deny = {**mine, "fault": "s3.deny_origin_reads"}
    assert gauge(before, "chaos_cdn_fault_injected", **disable) == 0
    assert gauge(before, "chaos_cdn_fault_injected", **deny) == 0
    assert gauge(before, "chaos_cdn_run_in_progress", **mine) == 1
    assert gauge(injected, "chaos_cdn_fault_injected", **disable) == 1
    assert gauge(injected, "chaos_cdn_fault_injected", **deny) == 1
    assert gauge(written, "chaos_cdn_fault_injected", **deny) == 1
    assert gauge(injected, "chaos_cdn_fault_injected_timestamp_seconds", **disable) == (
        disabled.created_at
    )
    assert gauge(restored, "chaos_cdn_fault_injected", **disable) == 0
    assert gauge(restored, "chaos_cdn_fault_injected", **deny) == 0
    assert gauge(restored, "chaos_cdn_fault_restored_timestamp_seconds", **disable) is not None
    for exposition in (before, injected, restored, textfile.read_text()):
        checked = promtool_check(exposition)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    # not a journal: no verdict (said in one line), but the run is over
    assert any(m.startswith("Metrics: this run has no verdict (") for m in messages)
    final = textfile.read_text()
    assert gauge(final, "chaos_cdn_run_in_progress", **mine) == 0
    assert gauge(final, "chaos_cdn_run_outcome", **mine, outcome="held") is None
    with pytest.raises(urllib.error.URLError):
        get(url, timeout=2)
    assert f"Metrics: this run's metrics are served at {url}." in messages
    assert f"Metrics: written to {textfile}." in messages


def test_a_run_that_ends_without_its_verdict_is_no_longer_in_progress(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    textfile = environment / "chaos.prom"
    monkeypatch.setenv("CHAOS_METRICS_TEXTFILE", str(textfile))

    control.configure_control(
        configuration=dict(CONFIGURATION), experiment=EXPERIMENT, experiment_name="named"
    )
    assert gauge(textfile.read_text(), "chaos_cdn_run_in_progress", experiment="named") == 1
    control.cleanup_control()  # chaoslib never reached the end of the experiment

    assert gauge(textfile.read_text(), "chaos_cdn_run_in_progress", experiment="named") == 0


def test_a_port_in_use_is_said_once_and_the_run_goes_on(
    environment: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("CHAOS_METRICS_PORT", str(taken.getsockname()[1]))
        with caplog.at_level(logging.INFO, logger="chaostoolkit"):
            control.configure_control(configuration=dict(CONFIGURATION), experiment=EXPERIMENT)
            control.after_experiment_control(EXPERIMENT, JOURNAL)
            control.cleanup_control()

    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Metrics:")]
    assert len(said) == 1, said
    assert "Cannot serve metrics on 127.0.0.1:" in said[0]
    assert "The run goes on without the endpoint." in said[0]


def test_a_fault_whose_restore_failed_stays_injected(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOS_METRICS_PORT", "0")
    run.start()
    ledger = Ledger()
    control.configure_control(configuration=dict(CONFIGURATION), experiment=EXPERIMENT)
    url = served()

    denied = ledger.open("bucket_policy", TARGET, {}, "origin reads denied")
    control.after_activity_control(
        DENY, {"status": "succeeded", "output": {"ledger_entry": denied.id}}
    )
    ledger.mark(denied.id, EntryState.CONFLICT, "the policy was changed by hand")
    control.after_activity_control(RESTORE, {"status": "failed", "output": None})

    fault = {"experiment": "two-faults-then-a-restore", "fault": "s3.deny_origin_reads"}
    exposition = get(url)
    assert gauge(exposition, "chaos_cdn_fault_injected", **fault) == 1
    assert gauge(exposition, "chaos_cdn_fault_restored_timestamp_seconds", **fault) is None
