"""`chaos gameday run` end to end, with real `chaos` processes on real sandboxes.

One game day of three experiments on a sandbox of its own, with a note added from a second
process while it runs, then its review; a safeguard that aborts a game day and leaves the
target exactly as it was (whole-target digest); `chaos halt` from a second process, which
stops a game day and refuses the next until released; pre-flight refusals.
"""

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from chaos_runner import timeline
from chaos_runner.digest import target_state
from chaos_runner.target import Target
from tests.commands import CHAOS, chaos
from tests.experiments.conftest import module_sandbox
from tests.metrics.conftest import gauge, get, promtool_check

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"


def write_plan(directory: Path, experiments: list[str], **extra: Any) -> Path:
    """A plan of ``experiments`` (files of experiments/), as a team would write it."""
    plan: dict[str, Any] = {
        "version": 1,
        "title": "Test rehearsal",
        "description": "A plan written by a test.",
        "hypothesis": "Readers keep getting pages while faults are in.",
        "target": "sandbox",
        "runbook": "https://wiki.example.com/runbooks/site",
        "roles": {"facilitator": "SRE", "observers": ["web team"], "on_call": "#oncall"},
        "experiments": [str(EXPERIMENTS / f"{name}.yaml") for name in experiments],
        **extra,
    }
    path = directory / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def events(run_dir: Path) -> list[dict[str, Any]]:
    return timeline.read(run_dir / "timeline.jsonl").events


def kinds(run_dir: Path, experiment: str | None = None) -> list[str]:
    return [
        e["kind"] for e in events(run_dir) if experiment is None or e["experiment"] == experiment
    ]


def the_run_dir(gamedays: Path) -> Path:
    found = [p for p in gamedays.glob("*/*") if (p / "run.json").exists()]
    assert len(found) == 1, found
    return found[0]


def gameday(plan: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CHAOS, "gameday", "run", str(plan), *extra],
        cwd=plan.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def a_fault_is_in(gamedays: Path) -> bool:
    """The game day under ``gamedays`` has injected its first fault (its timeline says so)."""
    found = list(gamedays.glob("*/*/timeline.jsonl"))
    return bool(found) and "fault-in" in kinds(found[0].parent)


@pytest.fixture
def env(clean_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**clean_env, "CI": "true", "CHAOS_GAMEDAY_DIR": str(tmp_path / "gamedays")}


@pytest.mark.slow
def test_a_game_day_of_three_experiments_with_a_note_from_another_terminal(
    tmp_path: Path, env: dict[str, str]
) -> None:
    plan = write_plan(
        tmp_path,
        ["cache-purge", "origin-outage", "bad-deploy"],
        safeguards={"min_availability": 0.2, "window": 5},
    )
    day = gameday(plan, env, "--metrics-port", "0")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(day.stdout or []), daemon=True)
    reader.start()
    running = Path(env["CHAOS_GAMEDAY_DIR"]) / "RUNNING.json"

    def during_origin_outage() -> bool:
        return running.exists() and json.loads(running.read_text())["experiment"] == (
            "origin-outage"
        )

    wait_for(during_origin_outage, 90, "the second experiment")
    noted = chaos(["gameday", "note", "support sees no tickets yet"], tmp_path, env)
    url = next(line.split()[1] for line in list(lines) if line.startswith("Metrics: "))
    scraped = get(url)
    day.wait(timeout=180)
    reader.join(timeout=10)
    assert day.stdout is not None
    day.stdout.close()
    output = "".join(lines)

    assert promtool_check(scraped).returncode == 0, promtool_check(scraped).stdout
    assert gauge(scraped, "chaos_cdn_gate_experiments") == 3
    assert gauge(scraped, "chaos_cdn_gameday_observed_availability_ratio") == 1

    assert noted.returncode == 0, noted.stderr
    assert "during origin-outage" in noted.stdout
    assert day.returncode == 0, output
    run_dir = the_run_dir(Path(env["CHAOS_GAMEDAY_DIR"]))
    assert not running.exists()  # nothing claims to run any more
    every = kinds(run_dir)
    assert every[0] == "gameday-started" and every[-1] == "gameday-ended"
    assert every.count("preflight") == 5 and every.count("experiment-ended") == 3
    assert every.count("sample") >= 10
    for name in ("cache-purge", "origin-outage", "bad-deploy"):
        assert "fault-in" in kinds(run_dir, name), name  # written by the run, through the ledger
        assert "fault-out" in kinds(run_dir, name), name
    note = next(e for e in events(run_dir) if e["kind"] == "note")
    assert note["experiment"] == "origin-outage" and note["text"] == "support sees no tickets yet"
    outage = [e["kind"] for e in events(run_dir) if e["experiment"] == "origin-outage"]
    assert outage.index("fault-in") < outage.index("fault-out") < outage.index("experiment-ended")
    assert "recovered" in outage  # the watch saw readers served again after the restore
    summary = json.loads((run_dir / "run.json").read_text())
    assert (summary["outcome"], summary["exit_code"]) == ("held", 0)
    assert [e["outcome"] for e in summary["experiments"]] == ["held"] * 3
    played = json.loads((run_dir / "02-origin-outage" / "origin-outage.json").read_text())
    assert played["controls"][-1]["provider"]["arguments"] == {"min_availability": 0.2, "window": 5}
    for report in ("junit.xml", "report.md", "report.html", "report.json", "review.md"):
        assert (run_dir / report).stat().st_size > 0, report
    review = (run_dir / "review.md").read_text()
    assert "support sees no tickets yet" in review
    recovered = next(e for e in events(run_dir) if e["kind"] == "recovered")
    assert f"{recovered['seconds']:.2f}" in review or f"{recovered['seconds']:.1f}" in review


@pytest.fixture(scope="module")
def shared_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A sandbox process the game days below target through the CHAOS_* variables."""
    with module_sandbox(tmp_path_factory.mktemp("gameday-sandbox")) as environ:
        yield environ


@pytest.fixture
def target_env(shared_sandbox: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The module's sandbox as a real target; this test's own ledger, locks and halt switch."""
    return {
        **shared_sandbox,
        "CI": "true",
        "CHAOS_STATE_DIR": str(tmp_path / ".chaos"),
        "CHAOS_LOCK_DIR": str(tmp_path / "locks"),
        "CHAOS_GAMEDAY_DIR": str(tmp_path / "gamedays"),
    }


@pytest.mark.slow
def test_a_safeguard_aborts_the_game_day_and_the_target_is_as_it_was(
    tmp_path: Path, target_env: dict[str, str]
) -> None:
    target = Target.resolve(environ=target_env)
    before = target_state(target)
    declared = yaml.safe_load((EXPERIMENTS / "distribution-disabled.yaml").read_text())
    declared["method"][0]["pauses"] = {"after": 40}  # long enough for the safeguard to judge
    slow = tmp_path / "distribution-disabled.yaml"
    slow.write_text(yaml.safe_dump(declared))
    plan = write_plan(
        tmp_path,
        ["cache-purge"],
        target="environment",
        safeguards={"min_availability": 0.5, "window": 2, "rate": 5},
    )
    written = yaml.safe_load(plan.read_text())
    written["experiments"].insert(0, str(slow))
    plan.write_text(yaml.safe_dump(written))
    day = gameday(plan, target_env)
    output, _ = day.communicate(timeout=120)

    assert day.returncode == 5, output
    assert target_state(target) == before
    run_dir = the_run_dir(Path(target_env["CHAOS_GAMEDAY_DIR"]))
    aborted = [e for e in events(run_dir) if e["kind"] == "aborted"]
    assert aborted[0]["by"] == "safeguard" and "availability" in aborted[0]["reason"]
    assert aborted[0]["experiment"] == "distribution-disabled"
    skipped = [e for e in events(run_dir) if e["kind"] == "skipped"]
    assert [e["experiment"] for e in skipped] == ["cache-purge"]
    summary = json.loads((run_dir / "run.json").read_text())
    assert [e["outcome"] for e in summary["experiments"]] == ["aborted", "skipped"]


@pytest.mark.slow
def test_chaos_halt_stops_a_game_day_and_refuses_the_next_until_released(
    tmp_path: Path, target_env: dict[str, str]
) -> None:
    target = Target.resolve(environ=target_env)
    before = target_state(target)
    plan = write_plan(tmp_path, ["origin-outage", "cache-purge"], target="environment")
    day = gameday(plan, target_env)
    gamedays = Path(target_env["CHAOS_GAMEDAY_DIR"])

    wait_for(lambda: a_fault_is_in(gamedays), 90, "the first fault")
    halted = chaos(["halt", "--reason", "support asked to stop"], tmp_path, target_env)
    output, _ = day.communicate(timeout=120)

    assert halted.returncode == 0, halted.stderr
    assert day.returncode == 5, output
    assert target_state(target) == before
    run_dir = the_run_dir(gamedays)
    aborted = next(e for e in events(run_dir) if e["kind"] == "aborted")
    assert aborted["by"] == "chaos halt" and "support asked to stop" in aborted["reason"]
    assert [e["experiment"] for e in events(run_dir) if e["kind"] == "skipped"] == ["cache-purge"]

    refused = chaos(["gameday", "run", str(plan)], tmp_path, target_env, timeout=120)
    assert refused.returncode == 5, refused.stdout + refused.stderr
    assert "halt switch" in refused.stdout and "support asked to stop" in refused.stdout
    assert chaos(["halt", "--release"], tmp_path, target_env).returncode == 0
    quick = write_plan(tmp_path, ["cache-purge"], target="environment")
    again = chaos(["gameday", "run", str(quick)], tmp_path, target_env, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr


def test_pre_flight_refuses_an_alarm_in_alarm_and_a_time_outside_the_windows(
    tmp_path: Path, target_env: dict[str, str]
) -> None:
    cloudwatch = boto3.client(
        "cloudwatch", endpoint_url=target_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
        aws_access_key_id="sandbox", aws_secret_access_key="sandbox-secret",
    )  # fmt: skip
    alarm = f"site-5xx-{os.getpid()}"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm, MetricName="5xxErrorRate", Namespace="AWS/CloudFront",
        Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="a test")
    never = {"allowed": [{"days": ["sat"], "hours": "00:00-00:01"}]}
    try:
        plan = write_plan(
            tmp_path, ["cache-purge"], target="environment",
            safeguards={"alarms": [alarm]}, windows=never,
        )  # fmt: skip
        refused = chaos(["gameday", "run", str(plan)], tmp_path, target_env, timeout=60)
    finally:
        cloudwatch.delete_alarms(AlarmNames=[alarm])

    assert refused.returncode == 5, refused.stdout + refused.stderr
    assert f"already in ALARM: {alarm}" in refused.stdout
    assert "outside every allowed window" in refused.stdout
    run_dir = the_run_dir(Path(target_env["CHAOS_GAMEDAY_DIR"]))
    assert "experiment-started" not in kinds(run_dir)
    assert not (Path(target_env["CHAOS_STATE_DIR"]) / "ledger.jsonl").exists()  # nothing injected


def test_a_plan_with_an_environment_target_and_no_variables_is_a_usage_error(
    tmp_path: Path, env: dict[str, str]
) -> None:
    plan = write_plan(tmp_path, ["cache-purge"], target="environment")
    refused = chaos(["gameday", "run", str(plan)], tmp_path, env, timeout=60)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "CHAOS_SITE_URL" in refused.stderr
    assert not Path(env["CHAOS_GAMEDAY_DIR"]).exists()  # no run directory for a refused start


def test_a_note_with_no_game_day_running_says_so(tmp_path: Path, env: dict[str, str]) -> None:
    noted = chaos(["gameday", "note", "hello"], tmp_path, env)
    assert noted.returncode == 2
    assert "No game day is running" in noted.stderr


@pytest.mark.slow
def test_sigterm_stops_a_game_day_which_keeps_the_stopped_runs_verdict(
    tmp_path: Path, target_env: dict[str, str]
) -> None:
    target = Target.resolve(environ=target_env)
    before = target_state(target)
    plan = write_plan(tmp_path, ["origin-outage", "cache-purge"], target="environment")
    day = gameday(plan, target_env)
    gamedays = Path(target_env["CHAOS_GAMEDAY_DIR"])

    wait_for(lambda: a_fault_is_in(gamedays), 90, "the first fault")
    day.send_signal(signal.SIGTERM)  # a scheduler or CI job stopping the game day
    output, _ = day.communicate(timeout=120)

    assert day.returncode == 5, output
    assert target_state(target) == before
    run_dir = the_run_dir(gamedays)
    summary = json.loads((run_dir / "run.json").read_text())
    assert [e["outcome"] for e in summary["experiments"]] == ["aborted", "skipped"]
    assert summary["interrupted"] is True
    assert "fault-out" in kinds(run_dir, "origin-outage")
    assert [e["experiment"] for e in events(run_dir) if e["kind"] == "skipped"] == ["cache-purge"]
