"""`chaos halt` from another terminal: a running experiment aborts and restores within
seconds; while halted, runs and gates refuse to start; after `--release` they run.

Each test has a lock directory (and so a halt switch) of its own: the tests never halt each
other, nor the machine.
"""

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from chaos_runner.digest import target_state
from chaos_runner.target import Target
from tests.commands import chaos
from tests.experiments.conftest import bucket_policy
from tests.experiments.test_experiments import ROOT, start_run_and_wait_for_injection


@pytest.fixture
def env(clean_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The subprocesses' environment, with a lock directory (and halt switch) of this test."""
    clean_env["CHAOS_LOCK_DIR"] = str(tmp_path / "locks")
    return clean_env


def sandbox_target(state: dict[str, Any]) -> Target:
    return Target.resolve(
        environ={
            "AWS_ENDPOINT_URL": state["aws_endpoint_url"],
            "AWS_REGION": state["region"],
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox-secret",
            "CHAOS_SITE_URL": state["edge_url"],
            "CHAOS_DISTRIBUTION_ID": state["distribution_id"],
            "CHAOS_ORIGIN_BUCKET": state["bucket"],
        }
    )


def test_chaos_halt_aborts_a_running_experiment_and_restores_the_whole_target(
    tmp_path: Path,
    env: dict[str, str],
    detached_sandbox: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "sandbox" if "KEY_ID" in name else "sandbox-secret")
    target = sandbox_target(detached_sandbox)
    before = target_state(target)
    run = start_run_and_wait_for_injection(tmp_path, env, detached_sandbox)
    try:
        began = time.monotonic()
        halted = chaos(["halt", "--reason", "game day stop"], tmp_path, env, timeout=30)
        assert halted.returncode == 0, halted.stderr
        assert "1 run(s) in progress" in halted.stdout, halted.stdout
        _, stderr = run.communicate(timeout=60)
        ended = time.monotonic() - began
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGKILL)
        chaos(["halt", "--release"], tmp_path, env, timeout=30)

    assert ended < 10, stderr[-3000:]  # not the 60 s pause after the fault
    assert target_state(target) == before, stderr[-3000:]
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    section = journal["chaostoolkit-cdn"]
    assert section["restore_complete"] is True
    assert [p["kind"] for p in section["problems"]] == ["aborted"]
    assert "game day stop" in section["problems"][0]["message"]
    verdict = chaos(["verdict", str(tmp_path / "journal.json")], tmp_path, env, timeout=60)
    assert verdict.returncode == 5, verdict.stdout + verdict.stderr
    assert "aborted" in verdict.stdout
    assert "game day stop" in verdict.stdout


def test_while_halted_nothing_starts_and_after_release_runs_do(
    tmp_path: Path, env: dict[str, str], detached_sandbox: dict[str, Any]
) -> None:
    experiment = str(ROOT / "experiments" / "origin-outage.yaml")
    before = bucket_policy(detached_sandbox)
    assert chaos(["halt", "--reason", "change freeze"], tmp_path, env).returncode == 0
    status = chaos(["halt", "--status"], tmp_path, env)
    assert status.returncode == 0
    assert status.stdout.startswith("Halted:") and "change freeze" in status.stdout

    refused = chaos(["run", experiment, "--journal-path", str(tmp_path / "j1.json")], tmp_path, env)

    assert refused.returncode == 1
    assert "This machine is halted" in refused.stderr
    assert "chaos halt --release" in refused.stderr
    assert not (tmp_path / ".chaos" / "ledger.jsonl").exists()  # nothing was injected
    assert bucket_policy(detached_sandbox) == before
    journal = json.loads((tmp_path / "j1.json").read_text())
    assert journal["status"] == "interrupted"
    assert journal["chaostoolkit-cdn"]["faults"] == []
    verdict = chaos(["verdict", str(tmp_path / "j1.json")], tmp_path, env)
    assert verdict.returncode == 5, verdict.stdout + verdict.stderr

    gate = chaos(["gate", experiment, "--target", "sandbox"], tmp_path, env)

    assert gate.returncode == 5, gate.stdout + gate.stderr
    assert gate.stderr.strip().count("\n") == 0  # one line
    assert "Nothing was run" in gate.stderr and "change freeze" in gate.stderr
    assert "Gate:" not in gate.stdout

    released = chaos(["halt", "--release"], tmp_path, env)
    assert released.returncode == 0
    assert "Runs may start again" in released.stdout
    status = chaos(["halt", "--status"], tmp_path, env)
    assert status.returncode == 0 and status.stdout.startswith("Not halted")

    ran = chaos(["run", experiment, "--journal-path", str(tmp_path / "j2.json")], tmp_path, env)

    assert ran.returncode == 0, ran.stderr[-3000:]
    assert json.loads((tmp_path / "j2.json").read_text())["status"] == "completed"
    assert bucket_policy(detached_sandbox) == before


def test_the_halt_switch_survives_the_command_and_is_per_lock_directory(
    tmp_path: Path, env: dict[str, str]
) -> None:
    assert chaos(["halt"], tmp_path, env).returncode == 0
    assert (tmp_path / "locks" / "HALT").exists()
    other = {**env, "CHAOS_LOCK_DIR": str(tmp_path / "other-locks")}

    assert chaos(["halt", "--status"], tmp_path, other).stdout.startswith("Not halted")
    assert chaos(["halt", "--status"], tmp_path, env).stdout.startswith("Halted:")
    assert chaos(["halt", "--release"], tmp_path, env).returncode == 0
    assert not (tmp_path / "locks" / "HALT").exists()
