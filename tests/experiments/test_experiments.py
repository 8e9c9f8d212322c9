"""Every file in experiments/ validates, and runs on the sandbox, with real `chaos` processes.

Also the safety contract: a run interrupted by SIGTERM restores what it injected; a run
killed with SIGKILL leaves a ledger entry that blocks the next run until `chaos rollback`
restores it.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos_runner.ledger import TargetLock
from chaos_runner.sandbox.process import pid_alive
from tests.commands import CHAOS, chaos
from tests.experiments.conftest import bucket_policy

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda p: p.name)
def test_every_experiment_validates(
    experiment: Path, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    result = chaos(["validate", str(experiment)], tmp_path, clean_env)

    assert result.returncode == 0, result.stderr
    assert "experiment syntax and semantic look valid" in result.stderr


def test_there_are_experiments() -> None:
    assert any(p.name == "origin-outage.yaml" for p in EXPERIMENTS)


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda p: p.name)
def test_every_experiment_runs_on_an_auto_started_sandbox(
    experiment: Path, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    journal_path = tmp_path / "journal.json"

    result = chaos(
        ["run", str(experiment), "--journal-path", str(journal_path)], tmp_path, clean_env
    )

    output = result.stderr + result.stdout
    assert result.returncode == 0, output
    first_lines = "\n".join(output.splitlines()[:8])
    assert "No CHAOS_* target set: starting the local sandbox for this run" in first_lines
    assert "site (edge):" in output
    journal = json.loads(journal_path.read_text())
    assert journal["status"] == "completed"
    assert journal["deviated"] is False
    assert all(run["status"] == "succeeded" for run in journal["run"]), journal["run"]
    assert journal["chaostoolkit-cdn"]["target"].startswith("sandbox: distribution ")
    assert journal["chaostoolkit-cdn"]["restore_complete"] is True
    assert "Sandbox stopped" in output
    assert not (tmp_path / ".chaos" / "sandbox.json").exists()
    ledger = [
        json.loads(line) for line in (tmp_path / ".chaos" / "ledger.jsonl").read_text().splitlines()
    ]
    opened = {r["id"] for r in ledger if r["event"] == "open"}
    closed = {r["id"] for r in ledger if r["event"] in ("restored", "irreversible")}
    assert opened, "the experiment injected no fault"
    assert opened == closed
    states = {f["state"] for f in journal["chaostoolkit-cdn"]["faults"]}
    assert states <= {"restored", "irreversible"}


def test_the_origin_outage_journal_records_what_the_edge_served(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    journal_path = tmp_path / "journal.json"
    experiment = ROOT / "experiments" / "origin-outage.yaml"

    result = chaos(
        ["run", str(experiment), "--journal-path", str(journal_path)], tmp_path, clean_env
    )

    assert result.returncode == 0, result.stderr
    runs = {run["activity"]["name"]: run for run in json.loads(journal_path.read_text())["run"]}
    cached = runs["cached-pages-are-still-served"]["output"]
    assert {page["status"] for page in cached.values()} == {200}
    assert all("Hit" in page["x_cache"] for page in cached.values())
    uncached = runs["pages-not-warmed-during-the-outage"]["output"]
    assert {page["status"] for page in uncached.values()} == {403}
    assert runs["deny-origin-reads"]["output"]["status_after"] == 403
    watched = runs["watch-the-cached-pages"]["output"]
    assert watched["stopped_because"] == "recovered"
    assert watched["faults"]["entries"] == 1
    assert watched["detected"] is False  # readers of cached pages never saw the outage
    assert watched["availability"] == 1.0
    under_load = runs["cached-pages-under-load-during-the-outage"]["output"]
    assert under_load["availability"] == 1.0
    assert under_load["hit_ratio"] == 1.0


# --- interrupted runs -------------------------------------------------------------------


def slow_outage(tmp_path: Path) -> Path:
    """origin-outage.yaml with a long pause after the injection (time to send a signal)."""
    experiment = yaml.safe_load((ROOT / "experiments" / "origin-outage.yaml").read_text())
    for activity in experiment["method"]:
        if activity["name"] == "deny-origin-reads":
            activity["pauses"] = {"after": 60}
    path = tmp_path / "slow-outage.yaml"
    path.write_text(yaml.safe_dump(experiment))
    return path


def start_run_and_wait_for_injection(
    tmp_path: Path, env: dict[str, str], state: dict[str, Any]
) -> subprocess.Popen[str]:
    run = subprocess.Popen(
        [
            *CHAOS,
            "run",
            str(slow_outage(tmp_path)),
            "--journal-path",
            str(tmp_path / "journal.json"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if '"Deny"' in bucket_policy(state).replace(" ", ""):
            return run
        assert run.poll() is None, run.stderr.read() if run.stderr else ""
        time.sleep(0.1)
    run.kill()
    pytest.fail("the run did not inject the outage within 60 s")


def test_sigterm_during_the_method_still_restores(
    tmp_path: Path, clean_env: dict[str, str], detached_sandbox: dict[str, Any]
) -> None:
    before = bucket_policy(detached_sandbox)
    run = start_run_and_wait_for_injection(tmp_path, clean_env, detached_sandbox)

    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=60)

    assert bucket_policy(detached_sandbox) == before, stderr
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    assert journal["chaostoolkit-cdn"]["restore_complete"] is True
    assert pid_alive(detached_sandbox["pid"])  # a sandbox the run did not start is left up


def test_sigterm_inside_an_activity_ends_its_pause_and_starts_nothing_more(
    tmp_path: Path, clean_env: dict[str, str], detached_sandbox: dict[str, Any]
) -> None:
    """chaoslib sleeps an activity's pause-after even when the activity was interrupted, and
    turns an interruption inside another extension's activity into a plain failure: a
    SIGTERM there used to wait out the pause, then run the next fault."""
    experiment = yaml.safe_load(slow_outage(tmp_path).read_text())
    sleeper = {  # another extension's action: 20 s of work, then a pause of 60 s
        "type": "action",
        "name": "a-long-step",
        "provider": {"type": "python", "module": "subprocess", "func": "call",
                     "arguments": {"args": ["sleep", "20"]}},
        "pauses": {"after": 60},
    }  # fmt: skip
    experiment["method"].insert(0, sleeper)  # before the fault: the fault must never run
    path = tmp_path / "long-step.yaml"
    path.write_text(yaml.safe_dump(experiment))
    run = subprocess.Popen(
        [*CHAOS, "run", str(path), "--journal-path", str(tmp_path / "journal.json")],
        cwd=tmp_path, env=clean_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    assert run.stderr is not None
    seen = []
    for line in run.stderr:  # the log says when the step starts
        seen.append(line)
        if "Action: a-long-step" in line:
            break
    assert "Action: a-long-step" in seen[-1], "".join(seen)[-3000:]
    time.sleep(0.5)  # inside the 20 s step now

    began = time.monotonic()
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=30)

    assert time.monotonic() - began < 15, stderr  # neither the 20 s step nor the 60 s pause
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    assert [r["activity"]["name"] for r in journal["run"] if not r["activity"].get("background")] \
        == ["a-long-step"]  # fmt: skip
    assert journal["chaostoolkit-cdn"]["faults"] == []  # the fault after it never ran
    assert journal["run"][0]["activity"]["pauses"] == {"after": 60}  # recorded as declared


def test_after_sigkill_the_next_run_refuses_and_chaos_rollback_restores(
    tmp_path: Path, clean_env: dict[str, str], detached_sandbox: dict[str, Any]
) -> None:
    before = bucket_policy(detached_sandbox)
    run = start_run_and_wait_for_injection(tmp_path, clean_env, detached_sandbox)

    os.killpg(run.pid, signal.SIGKILL)
    run.communicate(timeout=30)
    assert bucket_policy(detached_sandbox) != before  # the kill left the outage in place

    refused = chaos(
        [
            "run",
            str(ROOT / "experiments" / "origin-outage.yaml"),
            "--journal-path",
            str(tmp_path / "j2.json"),
        ],
        tmp_path,
        clean_env,
    )
    assert refused.returncode == 1
    assert "unrestored fault(s)" in refused.stderr
    assert "Run `chaos rollback`" in refused.stderr
    assert json.loads((tmp_path / "j2.json").read_text())["status"] == "interrupted"

    listed = chaos(["rollback", "--list"], tmp_path, clean_env)
    assert listed.returncode == 0
    assert "origin outage: bucket policy of" in listed.stdout
    assert bucket_policy(detached_sandbox) != before  # --list changes nothing

    rolled_back = chaos(["rollback"], tmp_path, clean_env)
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert "Every fault is restored." in rolled_back.stdout
    assert bucket_policy(detached_sandbox) == before
    assert "Nothing to restore" in chaos(["rollback"], tmp_path, clean_env).stdout


def test_a_second_run_on_a_target_held_by_another_is_refused_before_any_fault(
    tmp_path: Path, clean_env: dict[str, str], detached_sandbox: dict[str, Any]
) -> None:
    # the same sandbox spelled another way, and a lock taken from another directory
    endpoint = detached_sandbox["aws_endpoint_url"].replace("127.0.0.1", "localhost")
    key = f"{endpoint}/|{detached_sandbox['distribution_id']}|{detached_sandbox['bucket']}"
    held = TargetLock(key)
    assert held.acquire()
    try:
        refused = chaos(
            [
                "run",
                str(ROOT / "experiments" / "origin-outage.yaml"),
                "--journal-path",
                str(tmp_path / "j.json"),
            ],
            tmp_path,
            clean_env,
        )
    finally:
        held.release()

    assert refused.returncode == 1
    assert "Another run is injecting faults into this target" in refused.stderr
    assert json.loads((tmp_path / "j.json").read_text())["status"] == "interrupted"
    assert not (tmp_path / ".chaos" / "ledger.jsonl").exists()  # nothing was injected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, 'Path "missing.yaml" does not exist.'),
        ("title: x\n  bad: [\n", "Failed parsing YAML experiment"),
    ],
    ids=["missing file", "invalid yaml"],
)
def test_a_missing_or_broken_experiment_is_one_clear_error(
    content: str | None, message: str, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    if content is not None:
        (tmp_path / "missing.yaml").write_text(content)

    result = chaos(["run", "missing.yaml"], tmp_path, clean_env)

    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / ".chaos").exists()  # no sandbox was started, nothing injected


def test_a_wrong_fault_argument_fails_the_action_with_its_sentence_and_injects_nothing(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    experiment = yaml.safe_load((ROOT / "experiments" / "origin-outage.yaml").read_text())
    for activity in experiment["method"]:
        if activity["name"] == "deny-origin-reads":
            activity["provider"]["arguments"] = {"verify_timeout": -5}
    path = tmp_path / "wrong-argument.yaml"
    path.write_text(yaml.safe_dump(experiment))

    result = chaos(
        ["run", str(path), "--journal-path", str(tmp_path / "j.json")], tmp_path, clean_env
    )

    assert "verify_timeout must be between 0 and 600 seconds; got -5." in result.stderr
    assert "Traceback" not in result.stderr
    runs = {r["activity"]["name"]: r for r in json.loads((tmp_path / "j.json").read_text())["run"]}
    assert runs["deny-origin-reads"]["status"] == "failed"
    ledger = tmp_path / ".chaos" / "ledger.jsonl"
    assert not ledger.exists() or '"open"' not in ledger.read_text()


def test_an_unknown_fault_argument_is_refused_by_chaos_validate(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    experiment = yaml.safe_load((ROOT / "experiments" / "origin-outage.yaml").read_text())
    for activity in experiment["method"]:
        if activity["name"] == "deny-origin-reads":
            activity["provider"]["arguments"] = {"verify_timout": 5}
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(experiment))

    result = chaos(["validate", str(path)], tmp_path, clean_env)

    assert result.returncode == 1
    assert "verify_timout" in result.stderr
    assert "Traceback" not in result.stderr


def test_repeated_ctrl_c_restores_and_keeps_the_journal(
    tmp_path: Path, clean_env: dict[str, str], detached_sandbox: dict[str, Any]
) -> None:
    before = bucket_policy(detached_sandbox)
    run = start_run_and_wait_for_injection(tmp_path, clean_env, detached_sandbox)

    for _ in range(12):  # an impatient person: Ctrl-C again and again for 1.2 s
        if run.poll() is not None:
            break
        run.send_signal(signal.SIGINT)
        time.sleep(0.1)
    _, stderr = run.communicate(timeout=60)

    assert bucket_policy(detached_sandbox) == before, stderr
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    assert journal["chaostoolkit-cdn"]["restore_complete"] is True
    assert "Traceback" not in stderr
