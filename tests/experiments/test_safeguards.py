"""Safeguards and the production guard, with real `chaos run` processes on one sandbox.

A safeguard (availability floor, CloudWatch alarm) aborts a run and everything is restored
(whole-target digest equal, verdict exit 5 naming the condition); bad safeguard arguments
and a wrong AWS account refuse the run before anything is injected.
"""

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from chaos_runner.digest import target_state
from chaos_runner.target import Target
from tests.commands import CHAOS
from tests.experiments.conftest import module_sandbox

ROOT = Path(__file__).resolve().parents[2]
DISABLED = ROOT / "experiments" / "distribution-disabled.yaml"
SAFEGUARDS = "chaos_runner.controls.safeguards"


@pytest.fixture(scope="module")
def sandbox_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A sandbox process for the module, and the environment that targets it."""
    with module_sandbox(tmp_path_factory.mktemp("safeguards-sandbox")) as env:
        yield env


@pytest.fixture
def env(sandbox_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The module's sandbox; this test's own ledger and locks."""
    return {**sandbox_env, "CHAOS_STATE_DIR": str(tmp_path / ".chaos")}


def experiment(tmp_path: Path, safeguards: dict[str, Any] | None, pause: float = 0) -> Path:
    """distribution-disabled.yaml, with safeguards and a pause after the fault."""
    declared = yaml.safe_load(DISABLED.read_text())
    if safeguards is not None:
        declared["controls"].append(
            {
                "name": "safeguards",
                "provider": {"type": "python", "module": SAFEGUARDS, "arguments": safeguards},
            }
        )
    if pause:
        declared["method"][0]["pauses"] = {"after": pause}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(declared))
    return path


def chaos_run(path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CHAOS, "run", str(path), "--journal-path", str(path.parent / "journal.json")],
        cwd=path.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip


def verdict(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CHAOS, "verdict", str(tmp_path / "journal.json")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def ledger_lines(env: dict[str, str]) -> list[dict[str, Any]]:
    path = Path(env["CHAOS_STATE_DIR"]) / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def cloudwatch(env: dict[str, str]) -> Any:
    return boto3.client(
        "cloudwatch", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
        aws_access_key_id="sandbox", aws_secret_access_key="sandbox-secret",
    )  # fmt: skip


def test_an_availability_safeguard_aborts_and_everything_is_restored(
    tmp_path: Path, env: dict[str, str]
) -> None:
    target = Target.resolve(environ=env)
    before = target_state(target)
    path = experiment(tmp_path, {"min_availability": 0.5, "window": 3, "rate": 5}, pause=40)

    began = time.monotonic()
    run = chaos_run(path, env)
    _, stderr = run.communicate(timeout=60)
    elapsed = time.monotonic() - began

    assert elapsed < 30, stderr[-3000:]  # not the 40 s pause
    assert target_state(target) == before
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["chaostoolkit-cdn"]["restore_complete"] is True
    assert [e["event"] for e in ledger_lines(env)].count("open") == 1
    judged = verdict(tmp_path, env)
    assert judged.returncode == 5, judged.stdout + judged.stderr
    assert re.search(
        r"safeguard: Safeguard breached: availability over the last 3 s was 0\.[0-4]\d "
        r"\(\d+ of \d+ requests answered 200-399\), below the floor 0\.5\.",
        judged.stdout,
    ), judged.stdout


def test_an_alarm_in_alarm_aborts_the_run_with_its_name(
    tmp_path: Path, env: dict[str, str]
) -> None:
    alarms = cloudwatch(env)
    alarms.put_metric_alarm(
        AlarmName="site-5xx", MetricName="5xxErrorRate", Namespace="AWS/CloudFront",
        Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    alarms.set_alarm_state(AlarmName="site-5xx", StateValue="OK", StateReason="test")
    target = Target.resolve(environ=env)
    before = target_state(target)
    path = experiment(tmp_path, {"alarms": ["site-5xx"]}, pause=40)

    run = chaos_run(path, env)
    try:
        deadline = time.monotonic() + 40
        while not any(e["event"] == "open" for e in ledger_lines(env)):
            assert run.poll() is None and time.monotonic() < deadline, "no fault injected"
            time.sleep(0.1)
        alarms.set_alarm_state(AlarmName="site-5xx", StateValue="ALARM", StateReason="test")
        fired = time.monotonic()
        _, stderr = run.communicate(timeout=40)
    finally:
        alarms.delete_alarms(AlarmNames=["site-5xx"])
        if run.poll() is None:
            run.kill()

    assert time.monotonic() - fired < 15, stderr[-3000:]
    assert target_state(target) == before
    judged = verdict(tmp_path, env)
    assert judged.returncode == 5, judged.stdout + judged.stderr
    assert "CloudWatch alarm site-5xx is in ALARM" in judged.stdout


def test_the_production_guard_refuses_another_account_before_any_mutation(
    tmp_path: Path, env: dict[str, str]
) -> None:
    target = Target.resolve(environ=env)
    before = target_state(target)
    path = experiment(tmp_path, None)

    refused = chaos_run(path, {**env, "CHAOS_ALLOWED_ACCOUNTS": "111111111111"})
    _, stderr = refused.communicate(timeout=60)

    assert "AWS account 123456789012, not in one this target allows (111111111111)" in stderr
    assert ledger_lines(env) == []
    assert target_state(target) == before
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["run"] == []
    judged = verdict(tmp_path, env)
    assert judged.returncode == 2, judged.stdout + judged.stderr

    allowed = chaos_run(path, {**env, "CHAOS_ALLOWED_ACCOUNTS": "111111111111,123456789012"})
    _, stderr = allowed.communicate(timeout=60)
    assert allowed.returncode == 0, stderr[-3000:]
    assert verdict(tmp_path, env).returncode == 0


def test_bad_safeguard_arguments_refuse_the_run_before_any_fault(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = experiment(tmp_path, {"min_availability": 2, "windw": 5})

    run = chaos_run(path, env)
    _, stderr = run.communicate(timeout=60)

    assert "unknown argument(s) windw" in stderr
    assert "min_availability must be a number between 0 and 1; got 2" in stderr
    assert ledger_lines(env) == []
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["run"] == []
    assert verdict(tmp_path, env).returncode == 2
