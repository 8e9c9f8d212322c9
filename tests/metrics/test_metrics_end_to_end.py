"""Real `chaos run`s push to a real Pushgateway, which a real Prometheus scrapes.

One module-scoped fixture does the slow part once (about 15 s): it starts
``prometheus-pushgateway`` and ``prometheus`` (scraping it every second) on loopback, then
runs, each on a sandbox it starts and stops:

- ``distribution-disabled.yaml`` as it is in experiments/, pushing and writing a textfile;
- a copy with a watch probe and a load probe during the fault (every metric then has a
  figure) and a 2 s pause before the probe that follows the fault, pushing, writing the
  same textfile, and serving ``CHAOS_METRICS_PORT``, which the fixture scrapes while it
  runs;
- ``distribution-disabled.yaml`` again with ``CHAOS_PUSHGATEWAY`` on a closed port.

The tests then read what each server holds.
"""

import json
import os
import re
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.commands import CHAOS
from tests.metrics.conftest import (
    free_port,
    gauge,
    get,
    get_json,
    prometheus,
    promtool_check,
    pushgateway,
    query,
    wait_for,
)
from tests.servers import closed_port_url

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = ROOT / "experiments" / "distribution-disabled.yaml"
DASHBOARD = ROOT / "docs" / "grafana" / "chaostoolkit-cdn.json"
WATCHED = "distribution-disabled-watched"
FAULT = "cloudfront.disable_distribution"
#: The labels a series of ours may carry (the Pushgateway adds job and instance).
ALLOWED_LABELS = {"experiment", "target", "fault", "outcome", "phase", "job", "instance"}
RUN_TIMEOUT_S = 90.0


@dataclass
class Run:
    """One `chaos run` of the fixture."""

    returncode: int
    log: str
    journal: dict[str, Any]
    seconds: float


@dataclass
class Scrapes:
    """What the fixture read while the watched run was in progress."""

    endpoint: list[tuple[float, float]] = field(default_factory=list)  # fault gauge on /metrics
    pushgateway: list[float] = field(default_factory=list)  # fault gauge on the Pushgateway
    expositions: list[str] = field(default_factory=list)  # /metrics bodies


@dataclass
class Catalog:
    """The servers and what the runs left in them."""

    pushgateway: str
    prometheus: str
    textfile: Path
    held: Run
    watched: Run
    unreachable: Run
    scrapes: Scrapes


def clean_environment(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "AWS_"))}
    env["CHAOS_STATE_DIR"] = str(state)
    return env


def watched_experiment(directory: Path) -> Path:
    """distribution-disabled.yaml with a watch, a load probe during the fault and a pause."""
    experiment = yaml.safe_load(EXPERIMENT.read_text())
    watch = {
        "type": "probe",
        "name": "watch-the-cached-pages",
        "background": True,
        "provider": {
            "type": "python",
            "module": "probes.watch",
            "func": "health_timeline",
            "arguments": {"paths": "@cached", "rate": 10, "recovery_window": 1, "max_duration": 60},
        },
    }
    load = {
        "type": "probe",
        "name": "pages-under-load-while-disabled",
        "provider": {
            "type": "python",
            "module": "probes.http",
            "func": "availability",
            "arguments": {"paths": "@cached", "requests": 20, "concurrency": 5},
        },
    }
    method = experiment["method"]
    method[0]["pauses"] = {"before": 0.5}  # the watch's baseline
    method[1]["pauses"] = {"before": 2}  # time to see the fault gauge at 1
    experiment["method"] = [watch, method[0], load, *method[1:]]
    path = directory / f"{WATCHED}.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    return path


def chaos_run(experiment: Path, directory: Path, env: dict[str, str], during: Any = None) -> Run:
    """`chaos run` in ``directory``; ``during(process)`` runs while it is in progress."""
    directory.mkdir(parents=True, exist_ok=True)
    journal = directory / "journal.json"
    began = time.monotonic()
    with (directory / "chaos.log").open("w+") as log:
        process = subprocess.Popen(
            [*CHAOS, "run", str(experiment), "--journal-path", str(journal)],
            cwd=directory,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            if during is not None:
                during(process)
            process.wait(timeout=RUN_TIMEOUT_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        log.seek(0)
        output = log.read()
    return Run(
        process.returncode,
        output,
        json.loads(journal.read_text()),
        time.monotonic() - began,
    )


def scraper(port: int, pushgateway_url: str, scrapes: Scrapes) -> Any:
    """Scrape the run's endpoint and the Pushgateway every 50 ms until the run ends."""

    def during(process: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while process.poll() is None and time.monotonic() < deadline:
            try:
                body = get(f"http://127.0.0.1:{port}/metrics", timeout=1)
            except OSError:
                body = ""
            value = gauge(body, "chaos_cdn_fault_injected", fault=FAULT) if body else None
            if value is not None:
                scrapes.endpoint.append((time.time(), value))
                scrapes.expositions.append(body)
            try:
                pushed = get(f"{pushgateway_url}/metrics", timeout=1)
            except OSError:
                pushed = ""
            value = gauge(pushed, "chaos_cdn_fault_injected", experiment=WATCHED)
            if value is not None:
                scrapes.pushgateway.append(value)
            time.sleep(0.05)

    return during


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    root = tmp_path_factory.mktemp("metrics-e2e")
    textfile_dir = root / "textfile"
    textfile_dir.mkdir()
    textfile = textfile_dir / "chaostoolkit-cdn.prom"
    with pushgateway(root) as gateway, prometheus(root, gateway) as server:
        env = clean_environment(root / ".chaos")
        env["CHAOS_PUSHGATEWAY"] = gateway
        env["CHAOS_METRICS_TEXTFILE"] = str(textfile)
        held = chaos_run(EXPERIMENT, root / "held", env)

        port = free_port()
        scrapes = Scrapes()
        watched = chaos_run(
            watched_experiment(root),
            root / "watched",
            {**env, "CHAOS_METRICS_PORT": str(port)},
            during=scraper(port, gateway, scrapes),
        )

        unreachable_env = clean_environment(root / ".chaos-unreachable")
        unreachable_env["CHAOS_PUSHGATEWAY"] = closed_port_url()
        unreachable = chaos_run(EXPERIMENT, root / "unreachable", unreachable_env)

        # Prometheus has scraped the end of both runs.
        wait_for(
            lambda: (
                query(server, "chaos_cdn_time_to_detect_seconds")
                and query(server, f'chaos_cdn_run_in_progress{{experiment="{WATCHED}"}} == 0')
            ),
            15,
            "Prometheus to scrape the runs' final metrics",
            every=0.2,
        )
        yield Catalog(gateway, server, textfile, held, watched, unreachable, scrapes)


# -- (1) the Pushgateway holds a run's metrics --------------------------------------------------


def test_the_runs_held_as_before(catalog: Catalog) -> None:
    for run in (catalog.held, catalog.watched, catalog.unreachable):
        assert run.returncode == 0, run.log
        assert run.journal["status"] == "completed"
        assert "Verdict: held (exit 0), score 100/100" in run.log
    assert "Metrics: pushed to" in catalog.held.log


def test_the_pushgateway_holds_the_runs_metrics_with_their_labels(catalog: Catalog) -> None:
    exposition = get(f"{catalog.pushgateway}/metrics")
    mine = {"experiment": "distribution-disabled", "target": "sandbox", "job": "chaostoolkit-cdn"}

    assert gauge(exposition, "chaos_cdn_run_outcome", **mine, outcome="held") == 1
    for outcome in ("deviated", "invalid", "inconclusive", "restore-incomplete", "aborted"):
        assert gauge(exposition, "chaos_cdn_run_outcome", **mine, outcome=outcome) == 0
    assert gauge(exposition, "chaos_cdn_run_outcome", **mine, outcome="internal-error") == 0
    assert gauge(exposition, "chaos_cdn_resilience_score_ratio", **mine) == 1.0  # score 100
    assert gauge(exposition, "chaos_cdn_run_exit_code", **mine) == 0
    assert gauge(exposition, "chaos_cdn_run_in_progress", **mine) == 0
    assert gauge(exposition, "chaos_cdn_fault_injected", **mine, fault=FAULT) == 0
    injected = gauge(exposition, "chaos_cdn_fault_injected_timestamp_seconds", **mine, fault=FAULT)
    restored = gauge(exposition, "chaos_cdn_fault_restored_timestamp_seconds", **mine, fault=FAULT)
    assert injected is not None and restored is not None and injected < restored
    assert gauge(exposition, "chaos_cdn_availability_ratio", **mine, phase="before") == 1.0
    assert gauge(exposition, "chaos_cdn_availability_ratio", **mine, phase="during") == 0.0
    assert gauge(exposition, "chaos_cdn_availability_ratio", **mine, phase="after") == 1.0
    duration = gauge(exposition, "chaos_cdn_run_duration_seconds", **mine)
    assert duration is not None and 0 < duration < RUN_TIMEOUT_S
    last = gauge(exposition, "chaos_cdn_last_run_timestamp_seconds", **mine)
    assert last is not None and abs(time.time() - last) < 300
    # no watch probe in this experiment: no time to detect, rather than a made-up one
    assert gauge(exposition, "chaos_cdn_time_to_detect_seconds", **mine) is None


def test_no_series_names_a_run(catalog: Catalog) -> None:
    exposition = get(f"{catalog.pushgateway}/metrics")
    run_ids = [run.journal["chaostoolkit-cdn"]["run_id"] for run in (catalog.held, catalog.watched)]
    ours = [
        sample
        for family in text_string_to_metric_families(exposition)
        if family.name.startswith("chaos_cdn_")
        for sample in family.samples
    ]

    assert ours
    assert not {label for sample in ours for label in sample.labels} - ALLOWED_LABELS
    for run_id in run_ids:
        assert run_id not in exposition
    # one group per experiment and target: job, experiment, target, nothing more
    groups = get_json(f"{catalog.pushgateway}/api/v1/metrics")["data"]
    keys = sorted(tuple(sorted(group["labels"].items())) for group in groups)
    assert keys == [
        (
            ("experiment", "distribution-disabled"),
            ("job", "chaostoolkit-cdn"),
            ("target", "sandbox"),
        ),
        (("experiment", WATCHED), ("job", "chaostoolkit-cdn"), ("target", "sandbox")),
    ]
    held = next(g for g in groups if g["labels"]["experiment"] == "distribution-disabled")
    assert held["last_push_successful"] is True
    outcome = held["chaos_cdn_run_outcome"]
    assert outcome["type"] == "GAUGE"
    assert {m["labels"]["outcome"]: m["value"] for m in outcome["metrics"]}["held"] == "1"


def test_the_watched_run_has_its_detection_recovery_and_latency(catalog: Catalog) -> None:
    exposition = get(f"{catalog.pushgateway}/metrics")
    mine = {"experiment": WATCHED, "target": "sandbox"}

    detect = gauge(exposition, "chaos_cdn_time_to_detect_seconds", **mine)
    recover = gauge(exposition, "chaos_cdn_time_to_recover_seconds", **mine)
    verdict_watch = next(
        run["output"]
        for run in catalog.watched.journal["run"]
        if "segments" in (run["output"] or {})
    )
    assert detect == pytest.approx(verdict_watch["time_to_detect_s"])
    assert recover == pytest.approx(verdict_watch["time_to_recover_s"])
    p95 = gauge(exposition, "chaos_cdn_latency_p95_seconds", **mine, phase="during")
    p99 = gauge(exposition, "chaos_cdn_latency_p99_seconds", **mine, phase="during")
    assert p95 is not None and p99 is not None and 0 < p95 <= p99 < 5


# -- (2) the exposition passes promtool ----------------------------------------------------------


def test_the_textfile_and_the_endpoint_pass_promtool(catalog: Catalog) -> None:
    textfile = catalog.textfile.read_text()
    endpoint = catalog.scrapes.expositions[-1]

    for exposition in (textfile, endpoint):
        checked = promtool_check(exposition)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert not (checked.stdout + checked.stderr).strip()
    # one file for both experiments, merged; no temporary file left beside it
    assert (
        gauge(textfile, "chaos_cdn_run_outcome", experiment="distribution-disabled", outcome="held")
        == 1
    )
    assert gauge(textfile, "chaos_cdn_run_outcome", experiment=WATCHED, outcome="held") == 1
    assert sorted(p.name for p in catalog.textfile.parent.iterdir()) == [
        f".{catalog.textfile.name}.lock",
        catalog.textfile.name,
    ]


# -- (3) every query of the dashboard returns a series --------------------------------------------


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, expr) for every PromQL query of the dashboard: panels and annotations."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [
        (f"annotation {a['name']!r}", a["expr"])
        for a in dashboard["annotations"]["list"]
        if "expr" in a
    ]
    for panel in dashboard["panels"]:
        queries += [(f"panel {panel['title']!r}", t["expr"]) for t in panel.get("targets", [])]
    return queries


def substitute(expr: str) -> str:
    """The template variables as Grafana fills them with "All" selected."""
    for name in ("experiment", "target"):
        expr = expr.replace(f"${{{name}}}", ".+").replace(f"${name}", ".+")
    assert "$" not in expr, expr
    return expr


def test_the_dashboard_uses_the_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}

    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert len(dashboard_queries()) >= 12


def test_every_query_of_the_dashboard_returns_a_series(catalog: Catalog) -> None:
    empty = []
    for where, expr in dashboard_queries():
        result = query(catalog.prometheus, substitute(expr))
        if not result:
            empty.append(f"{where}: {expr}")
    assert not empty, "queries without a series:\n" + "\n".join(empty)


def test_every_variable_of_the_dashboard_has_values(catalog: Catalog) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        found = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"])
        assert found, variable["query"]
        match, label = substitute(found.group(1)), found.group(2)
        answer = get_json(
            f"{catalog.prometheus}/api/v1/label/{label}/values?"
            + urllib.parse.urlencode({"match[]": match})
        )
        assert answer["data"], variable["name"]
    values = get_json(f"{catalog.prometheus}/api/v1/label/experiment/values")["data"]
    assert {"distribution-disabled", WATCHED} <= set(values)


def test_prometheus_saw_the_fault_injected_for_the_annotations(catalog: Catalog) -> None:
    seen = query(
        catalog.prometheus,
        f'max_over_time(chaos_cdn_fault_injected{{experiment="{WATCHED}"}}[10m])',
    )
    now = query(catalog.prometheus, f'chaos_cdn_fault_injected{{experiment="{WATCHED}"}}')

    assert [float(r["value"][1]) for r in seen] == [1.0]
    assert [float(r["value"][1]) for r in now] == [0.0]
    assert seen[0]["metric"]["fault"] == FAULT


# -- (4) an unreachable Pushgateway costs one log line ----------------------------------------


def test_an_unreachable_pushgateway_is_said_once_and_the_run_goes_on(catalog: Catalog) -> None:
    run = catalog.unreachable
    lines = [line for line in run.log.splitlines() if "Pushgateway" in line]

    assert len(lines) == 1, run.log
    assert "could not take this run's metrics" in lines[0]
    assert "the run goes on" in lines[0]
    assert run.returncode == catalog.held.returncode == 0
    assert run.journal["status"] == catalog.held.journal["status"]
    assert run.journal["chaostoolkit-cdn"]["restore_complete"] is True
    assert "Traceback" not in run.log


# -- (5) the fault gauge is 1 while the fault is injected --------------------------------------


def test_the_fault_gauge_is_1_while_injected_and_0_after(catalog: Catalog) -> None:
    values = [value for _, value in catalog.scrapes.endpoint]
    journal = catalog.watched.journal
    fault = journal["chaostoolkit-cdn"]["faults"][0]
    during = [
        v
        for t, v in catalog.scrapes.endpoint
        if fault["injected_at"] + 0.5 < t < fault["closed_at"] - 0.5
    ]

    assert values[0] == 0  # declared before the injection
    assert 1.0 in values
    assert during and set(during) == {1.0}
    assert values[-1] == 0  # restored before the endpoint stopped
    assert 1.0 in catalog.scrapes.pushgateway  # pushed live, during the run
    assert catalog.scrapes.pushgateway[-1] == 0
    assert "Metrics: this run's metrics are served at http://127.0.0.1:" in catalog.watched.log
