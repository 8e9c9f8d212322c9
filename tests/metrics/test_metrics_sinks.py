"""The run's registry and its sinks, in-process, with a real Pushgateway and real promtool."""

import logging
import os
import socket
import stat
import urllib.error
from pathlib import Path

import pytest

from chaos_runner._errors import ConfigurationError
from chaos_runner.metrics import (
    JOB,
    Pushgateway,
    RunMetrics,
    SinkSettings,
    Textfile,
    serving,
    slug,
)
from chaos_runner.verdict import judge
from tests.metrics.conftest import gauge, get, get_json, promtool_check, wait_for
from tests.servers import closed_port_url
from tests.unit.test_verdict import held_journal, load_probe_misses

FAULT = "s3.deny_origin_reads"


def held_run(experiment: str = "origin-outage", target: str = "sandbox") -> RunMetrics:
    """The metrics of a held run of origin-outage (the verdict tests' journal)."""
    metrics = RunMetrics(experiment, target, [FAULT])
    metrics.start(at=1_700_000_000.0)
    metrics.fault(FAULT, injected=True, injected_at=1_700_000_005.0)
    metrics.fault(FAULT, injected=False, restored_at=1_700_000_007.0)
    metrics.finish(judge(held_journal()), at=1_700_000_012.0)
    return metrics


def deviated_run(experiment: str = "origin-outage") -> RunMetrics:
    """A run of origin-outage whose steady state deviated before the method."""
    metrics = RunMetrics(experiment, "sandbox", [FAULT])
    metrics.start()
    metrics.finish(judge(load_probe_misses(held_journal(), "before", p95=412.0)))
    return metrics


def test_a_verdict_becomes_gauges_that_pass_promtool() -> None:
    exposition = held_run().exposition().decode()
    mine = {"experiment": "origin-outage", "target": "sandbox"}

    checked = promtool_check(exposition)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert gauge(exposition, "chaos_cdn_run_outcome", **mine, outcome="held") == 1
    assert gauge(exposition, "chaos_cdn_run_outcome", **mine, outcome="deviated") == 0
    assert gauge(exposition, "chaos_cdn_resilience_score_ratio", **mine) == 1.0
    assert gauge(exposition, "chaos_cdn_run_exit_code", **mine) == 0
    assert gauge(exposition, "chaos_cdn_run_duration_seconds", **mine) == 12.053
    assert gauge(exposition, "chaos_cdn_last_run_timestamp_seconds", **mine) == 1_700_000_012.0
    assert gauge(exposition, "chaos_cdn_run_start_timestamp_seconds", **mine) == 1_700_000_000.0
    assert gauge(exposition, "chaos_cdn_run_in_progress", **mine) == 0
    assert gauge(exposition, "chaos_cdn_fault_injected", **mine, fault=FAULT) == 0
    assert gauge(exposition, "chaos_cdn_fault_restored_timestamp_seconds", **mine, fault=FAULT) == (
        1_700_000_007.0
    )
    # figures in base units: ms become seconds
    p95 = gauge(exposition, "chaos_cdn_latency_p95_seconds", **mine, phase="during")
    assert p95 == pytest.approx(0.001261)
    assert gauge(exposition, "chaos_cdn_availability_ratio", **mine, phase="before") == 1.0
    assert gauge(exposition, "chaos_cdn_time_to_recover_seconds", **mine) is not None


def test_a_deviated_run_says_so_with_its_score() -> None:
    exposition = deviated_run().exposition().decode()

    assert gauge(exposition, "chaos_cdn_run_outcome", outcome="deviated") == 1
    assert gauge(exposition, "chaos_cdn_run_outcome", outcome="held") == 0
    assert gauge(exposition, "chaos_cdn_run_exit_code") == 1
    score = gauge(exposition, "chaos_cdn_resilience_score_ratio")
    assert score is not None and score < 1
    # the method never ran: nothing measured during the fault, so no series
    assert gauge(exposition, "chaos_cdn_availability_ratio", phase="during") is None


# -- the Pushgateway ---------------------------------------------------------------------------


def test_each_run_replaces_the_last_one_on_the_pushgateway(a_pushgateway: str) -> None:
    assert Pushgateway(a_pushgateway, held_run()).close()
    first = get(f"{a_pushgateway}/metrics")
    assert gauge(first, "chaos_cdn_availability_ratio", phase="during") is not None

    assert Pushgateway(a_pushgateway, deviated_run()).close()

    second = get(f"{a_pushgateway}/metrics")
    assert gauge(second, "chaos_cdn_run_outcome", job=JOB, outcome="deviated") == 1
    assert gauge(second, "chaos_cdn_run_outcome", job=JOB, outcome="held") == 0
    assert gauge(second, "chaos_cdn_availability_ratio", phase="during") is None
    groups = get_json(f"{a_pushgateway}/api/v1/metrics")["data"]
    assert [g["labels"] for g in groups] == [
        {"job": JOB, "experiment": "origin-outage", "target": "sandbox"}
    ]


def test_live_pushes_keep_the_last_verdict_until_the_run_ends(a_pushgateway: str) -> None:
    assert Pushgateway(a_pushgateway, held_run()).close()
    running = RunMetrics("origin-outage", "sandbox", [FAULT])
    running.start()
    pusher = Pushgateway(a_pushgateway, running)

    running.fault(FAULT, injected=True, injected_at=1_800_000_000.0)
    pusher.request()
    during = wait_for(
        lambda: (
            (body := get(f"{a_pushgateway}/metrics"))
            and gauge(body, "chaos_cdn_fault_injected", fault=FAULT) == 1
            and body
        ),
        10,
        "the live push",
    )
    assert gauge(during, "chaos_cdn_run_in_progress") == 1
    assert gauge(during, "chaos_cdn_run_outcome", outcome="held") == 1  # the last verdict stays

    running.fault(FAULT, injected=False, restored_at=1_800_000_002.0)
    running.finish(judge(load_probe_misses(held_journal(), "after", p95=412.0)))
    assert pusher.close()
    after = get(f"{a_pushgateway}/metrics")
    assert gauge(after, "chaos_cdn_run_in_progress") == 0
    assert gauge(after, "chaos_cdn_fault_injected", fault=FAULT) == 0
    assert gauge(after, "chaos_cdn_run_outcome", outcome="deviated") == 1


def test_an_unreachable_pushgateway_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    metrics = RunMetrics("origin-outage", "sandbox", [FAULT])
    pusher = Pushgateway(closed_port_url(), metrics, timeout=2)
    with caplog.at_level(logging.INFO, logger="chaostoolkit"):
        pusher.request()
        wait_for(lambda: pusher.failed, 10, "the push to fail")
        pusher.request()
        assert pusher.close() is False

    said = [r.getMessage() for r in caplog.records if "Pushgateway" in r.getMessage()]
    assert len(said) == 1, said
    assert "could not take this run's metrics (URLError: [Errno 111] Connection refused)" in said[0]


def test_a_pushgateway_that_never_answers_is_given_up_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = RunMetrics("origin-outage", "sandbox", [FAULT])
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        pusher = Pushgateway(f"http://127.0.0.1:{silent.getsockname()[1]}", metrics, timeout=0.5)
        with caplog.at_level(logging.INFO, logger="chaostoolkit"):
            pusher.request()
            pusher.request()
            assert pusher.close() is False

    said = [r.getMessage() for r in caplog.records if "Pushgateway" in r.getMessage()]
    assert len(said) == 1, said
    assert "timed out" in said[0]


def test_a_pushgateway_on_loopback_is_reached_without_the_proxy(
    a_pushgateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, closed_port_url())
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)

    assert Pushgateway(a_pushgateway, held_run()).close()
    assert gauge(get(f"{a_pushgateway}/metrics"), "chaos_cdn_run_exit_code") == 0


# -- the textfile ------------------------------------------------------------------------------


def test_the_textfile_holds_each_experiment_once_and_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "chaostoolkit-cdn.prom"
    textfile = Textfile(path)

    textfile.write(held_run("origin-outage"))
    textfile.write(held_run("object-loss"))
    running = RunMetrics("origin-outage", "sandbox", [FAULT])
    running.start()
    running.fault(FAULT, injected=True, injected_at=1_800_000_000.0)
    textfile.write(running, live=True)

    during = path.read_text()
    checked = promtool_check(during)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert gauge(during, "chaos_cdn_fault_injected", experiment="origin-outage") == 1
    assert gauge(during, "chaos_cdn_run_in_progress", experiment="origin-outage") == 1
    # the last verdict of origin-outage stays while it runs; object-loss is untouched
    assert gauge(during, "chaos_cdn_run_outcome", experiment="origin-outage", outcome="held") == 1
    assert gauge(during, "chaos_cdn_run_outcome", experiment="object-loss", outcome="held") == 1
    assert during.count("# TYPE chaos_cdn_run_outcome gauge") == 1

    textfile.write(deviated_run("origin-outage"))

    after = path.read_text()
    assert (
        gauge(after, "chaos_cdn_run_outcome", experiment="origin-outage", outcome="deviated") == 1
    )
    assert gauge(after, "chaos_cdn_run_outcome", experiment="object-loss", outcome="held") == 1
    assert (
        gauge(after, "chaos_cdn_availability_ratio", experiment="origin-outage", phase="during")
        is None
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [".chaostoolkit-cdn.prom.lock", path.name]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_a_textfile_that_cannot_be_written_raises_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        Textfile(tmp_path / "missing" / "chaos.prom").write(held_run())
    assert not list(tmp_path.iterdir())


# -- settings ------------------------------------------------------------------------------------


def test_settings_take_the_argument_then_the_variable() -> None:
    environ = {
        "CHAOS_PUSHGATEWAY": "http://gateway:9091",
        "CHAOS_METRICS_TEXTFILE": "/var/lib/node_exporter/chaos.prom",
        "CHAOS_METRICS_PORT": "9999",
    }

    from_env = SinkSettings.resolve(environ=environ)
    argued = SinkSettings.resolve(pushgateway="http://other:9091", port=0, environ=environ)
    nothing = SinkSettings.resolve(environ={})
    bad = SinkSettings.resolve(port="ninety", environ={})

    assert from_env.pushgateway == "http://gateway:9091" and from_env.port == 9999
    assert from_env.address == "127.0.0.1"
    assert argued.pushgateway == "http://other:9091" and argued.port == 0
    assert argued.textfile == "/var/lib/node_exporter/chaos.prom"
    assert not nothing.any
    assert bad.port is None and not bad.any
    assert bad.problems == (
        "CHAOS_METRICS_PORT must be a port number (0-65535); got 'ninety': no /metrics "
        "endpoint for this run.",
    )


def test_slug() -> None:
    assert slug("A disabled distribution comes back when it is enabled again") == (
        "a-disabled-distribution-comes-back-when-it-is-enabled-again"
    )
    assert slug("") == "unnamed"


# -- the gate --------------------------------------------------------------------------------------


def test_the_gate_metrics_are_served_while_the_gate_runs() -> None:
    held, deviated = judge(held_journal()), judge(load_probe_misses(held_journal(), "after", 412.0))
    with serving(0) as gate:
        assert gate.url.startswith("http://127.0.0.1:")
        gate.planned(3)
        gate.started("origin-outage")
        gate.started("object-loss")
        assert gauge(get(gate.url), "chaos_cdn_gate_runs_in_progress") == 2
        gate.finished("origin-outage", held)
        gate.finished("object-loss", deviated)
        exposition = get(gate.url)
        url = gate.url

    checked = promtool_check(exposition)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert gauge(exposition, "chaos_cdn_gate_experiments") == 3
    assert gauge(exposition, "chaos_cdn_gate_runs_in_progress") == 0
    assert gauge(exposition, "chaos_cdn_gate_experiments_done_total", outcome="held") == 1
    assert gauge(exposition, "chaos_cdn_gate_experiments_done_total", outcome="deviated") == 1
    assert gauge(exposition, "chaos_cdn_gate_experiments_done_total", outcome="aborted") == 0
    assert gauge(exposition, "chaos_cdn_gate_score_ratio") == (100 + 90) // 2 / 100
    with pytest.raises(urllib.error.URLError):
        get(url, timeout=2)  # no longer served


def test_a_gate_port_in_use_is_refused_with_a_sentence() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(
                ConfigurationError, match=rf"Cannot serve metrics on 127\.0\.0\.1:{port} "
            ),
            serving(port),
        ):
            pass


def test_a_gate_without_a_port_serves_nothing_and_still_counts() -> None:
    with serving(None) as gate:
        gate.started("origin-outage")
        gate.finished("origin-outage", judge(held_journal()))
        assert gate.url == ""
        assert gauge(gate.exposition().decode(), "chaos_cdn_gate_score_ratio") == 1.0
