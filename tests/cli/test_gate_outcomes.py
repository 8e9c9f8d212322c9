"""`chaos gate` exits 3, 4 and 5 from real runs, in the gate's real-target mode.

Each test starts a sandbox as a user does (`chaos sandbox up --detach`), takes the target
variables from `chaos sandbox env` and runs `chaos gate EXPERIMENT` in that directory,
without `--target sandbox`: the gate then runs each experiment with the user's environment
and the ledger in the directory's .chaos/, as it would against a real distribution, and the
test can look at the site, the ledger and `chaos rollback` afterwards.
"""

import contextlib
import json
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from junitparser import Error, JUnitXml

from chaos_runner.digest import target_state
from chaos_runner.target import Target
from tests.cli.test_gate import variant
from tests.commands import CHAOS, chaos
from tests.experiments.conftest import bucket_policy
from tests.experiments.test_safety_net import _distribution_enabled

ROOT = Path(__file__).resolve().parents[2]
CACHE_PURGE = ROOT / "experiments" / "cache-purge.yaml"
REPORTS = ["--json", "gate.json", "--junit", "junit.xml", "--out", "out"]
#: Longer than the whole of an interrupted experiment would take if the Ctrl-C were lost.
METHOD_SECONDS = 25


@pytest.fixture
def slow_propagation_sandbox(tmp_path: Path, clean_env: dict[str, str]) -> Iterator[None]:
    """A sandbox whose CloudFront changes and invalidations take 30 s to reach the edge."""
    up = chaos(
        ["sandbox", "up", "--detach", "--aws-port", "0", "--edge-port", "0",
         "--propagation-delay", "30s"],
        tmp_path,
        clean_env,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    yield
    chaos(["sandbox", "down"], tmp_path, clean_env)


def target_environment(cwd: Path, clean_env: dict[str, str]) -> dict[str, str]:
    """``clean_env`` plus what `eval "$(chaos sandbox env)"` sets: the sandbox as a target."""
    printed = chaos(["sandbox", "env"], cwd, clean_env)
    assert printed.returncode == 0, printed.stderr
    env = dict(clean_env)
    for line in printed.stdout.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export":
            name, _, value = words[1].partition("=")
            env[name] = value
    assert env.get("CHAOS_DISTRIBUTION_ID") and env.get("AWS_ENDPOINT_URL"), printed.stdout
    return env


def gate_report(cwd: Path) -> dict[str, Any]:
    """The gate's JSON report, and its one experiment under ``"experiment"``."""
    report: dict[str, Any] = json.loads((cwd / "gate.json").read_text())
    [report["experiment"]] = report["experiments"]
    return report


def junit_results(cwd: Path) -> list[type]:
    """What the JUnit report says of its one test case (Error, Failure, ...; [] = passed)."""
    [case] = list(next(iter(JUnitXml.fromfile(str(cwd / "junit.xml")))))
    return [type(result) for result in case.result]


def unrestored(cwd: Path, env: dict[str, str]) -> str:
    """What `chaos rollback --list` says is still injected."""
    listed = chaos(["rollback", "--list"], cwd, env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    return listed.stdout


@pytest.mark.slow
def test_a_fault_that_does_not_take_effect_makes_the_gate_inconclusive_exit_3(
    tmp_path: Path, clean_env: dict[str, str], slow_propagation_sandbox: None
) -> None:
    """A purge waited for 1 s on a CloudFront that takes 30 s to propagate it: the edges still
    serve their cached pages, so the fault's verification fails and nothing can be concluded."""
    env = target_environment(tmp_path, clean_env)
    before = target_state(Target.resolve(environ=env))
    experiment = yaml.safe_load(CACHE_PURGE.read_text())
    experiment["method"][0]["provider"]["arguments"]["timeout"] = 1
    purge = tmp_path / "purge-not-in-effect.yaml"
    purge.write_text(yaml.safe_dump(experiment))

    result = chaos(["gate", str(purge), *REPORTS], tmp_path, env, timeout=180)

    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    assert "Gate: inconclusive (exit 3)" in result.stdout
    report = gate_report(tmp_path)
    assert (report["exit_code"], report["experiment"]["exit_code"]) == (3, 3)
    [fault] = [c for c in report["experiment"]["checks"] if c["kind"] == "fault-verified"]
    assert fault["held"] is False
    assert fault["detail"].startswith("FaultNotInEffect: Invalidation ")
    assert "was still InProgress after 1 s" in fault["detail"]
    # not a false alarm: during the method readers were still served from the caches
    assert "Hit from cloudfront" in json.dumps(report["experiment"]["findings"])
    assert junit_results(tmp_path) == [Error]
    [journal] = (tmp_path / "out").glob("*-purge-not-in-effect/journal.json")
    section = json.loads(journal.read_text())["chaostoolkit-cdn"]
    assert section["restore_complete"] is True
    assert [f["state"] for f in section["faults"]] == ["irreversible"]
    assert "Nothing to restore" in unrestored(tmp_path, env)
    assert target_state(Target.resolve(environ=env)) == before
    assert "Traceback" not in output


@pytest.mark.slow
def test_a_restore_in_conflict_fails_the_gate_with_exit_4_and_chaos_rollback(
    tmp_path: Path, clean_env: dict[str, str], detached_sandbox: dict[str, Any]
) -> None:
    """Someone edits the bucket policy during an origin outage: the restore leaves their
    policy alone, so the site may still be degraded and the gate says `chaos rollback`."""
    env = target_environment(tmp_path, clean_env)
    before = bucket_policy(detached_sandbox)
    by_hand = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "ByHand", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::${origin_bucket}/*"}
            ],
        }
    )  # fmt: skip
    method = [
        {
            "type": "action",
            "name": "deny-origin-reads",
            "provider": {"type": "python", "module": "chaos_runner.faults.s3",
                         "func": "deny_origin_reads"},
        },
        {
            "type": "action",
            "name": "someone-edits-the-policy",
            "provider": {"type": "process", "path": "aws",
                         "arguments": "s3api put-bucket-policy --bucket ${origin_bucket} "
                                      f"--policy '{by_hand}'"},
        },
    ]  # fmt: skip
    conflict = variant(tmp_path, "policy-edited-by-hand", lambda e: e.update(method=method))

    result = chaos(["gate", str(conflict), *REPORTS], tmp_path, env, timeout=180)

    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    assert "Gate: restore-incomplete (exit 4)" in result.stdout
    assert "chaos rollback" in result.stdout
    report = gate_report(tmp_path)
    assert (report["exit_code"], report["outcome"]) == (4, "restore-incomplete")
    assert report["experiment"]["outcome"] == "restore-incomplete"
    assert junit_results(tmp_path) == [Error]
    listed = unrestored(tmp_path, env)
    assert "1 unrestored fault(s)" in listed
    assert f"bucket policy of {detached_sandbox['bucket']} denies s3:GetObject  [conflict]" in (
        listed
    )
    policy = bucket_policy(detached_sandbox)
    assert policy != before and "ByHand" in policy  # the hand edit is kept
    assert "Traceback" not in output


#: `chaos` with SIGINT at its default, as started from a terminal, even when pytest runs in
#: the background of a non-interactive shell (which starts it with SIGINT ignored, and an
#: ignored signal stays ignored across exec).
CHAOS_WITH_CTRL_C = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])",
    *CHAOS[1:],
]


@contextlib.contextmanager
def started_gate(
    args: list[str], cwd: Path, env: dict[str, str]
) -> Iterator[tuple["subprocess.Popen[str]", "queue.Queue[str | None]", list[str]]]:
    """`chaos gate ARGS` in the background: the process, its lines as they come (None at
    the end) and all its lines so far. Killed if still running when the block ends."""
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []
    process = subprocess.Popen(
        [*CHAOS_WITH_CTRL_C, "gate", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    stdout = process.stdout

    def read() -> None:
        for line in stdout:
            seen.append(line)
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield process, lines, seen
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        reader.join(timeout=30)
        stdout.close()


def wait_for_line(lines: "queue.Queue[str | None]", text: str, timeout: float) -> bool:
    """True once a line holding ``text`` comes, False at the end of the output or timeout."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            return False
        if line is None:
            return False
        if text in line:
            return True
    return False


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def pause_after_the_fault(experiment: dict[str, Any]) -> None:
    """The distribution stays disabled for a while before it is checked (a pause)."""
    experiment["method"][0]["pauses"] = {"after": METHOD_SECONDS}


def readers_during_the_fault(experiment: dict[str, Any]) -> None:
    """Readers keep arriving while the distribution is disabled: a load probe, 10 req/s."""
    experiment["method"].insert(
        1,
        {
            "type": "probe",
            "name": "readers-during-the-outage",
            "provider": {
                "type": "python",
                "module": "probes.load",
                "func": "measurement",
                "arguments": {"paths": "/", "rate": 10, "duration": METHOD_SECONDS,
                              "concurrency": 5},
            },
        },
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "running"),
    [
        pytest.param(pause_after_the_fault, "action disable-the-distribution", id="in-a-pause"),
        pytest.param(
            readers_during_the_fault, "probe readers-during-the-outage", id="in-a-load-probe"
        ),
    ],
)
def test_ctrl_c_stops_the_gate_with_exit_5_and_the_site_restored(
    tmp_path: Path,
    clean_env: dict[str, str],
    detached_sandbox: dict[str, Any],
    change: Callable[[dict[str, Any]], None],
    running: str,
) -> None:
    """Ctrl-C while the distribution is disabled: the run in progress stops, restores the
    site, the reports say `aborted`, and nothing is left in the ledger."""
    env = target_environment(tmp_path, clean_env)
    before = target_state(Target.resolve(environ=env))
    experiment = variant(tmp_path, "ctrl-c", change)

    with started_gate([str(experiment), *REPORTS], tmp_path, env) as (gate, lines, seen):
        assert wait_for_line(lines, f"ctrl-c: {running}", timeout=60), "".join(seen)
        assert wait_until(lambda: not _distribution_enabled(detached_sandbox), timeout=30)
        time.sleep(1)  # well inside the method, the fault in effect
        gate.send_signal(signal.SIGINT)
        interrupted_at = time.monotonic()
        returncode = gate.wait(timeout=METHOD_SECONDS + 60)
        seconds = time.monotonic() - interrupted_at

    output = "".join(seen)
    assert returncode == 5, output
    assert "Interrupted" in output
    assert "Gate: aborted (exit 5)" in output
    assert _distribution_enabled(detached_sandbox)
    assert target_state(Target.resolve(environ=env)) == before
    assert "Nothing to restore" in unrestored(tmp_path, env)
    report = gate_report(tmp_path)
    assert (report["exit_code"], report["outcome"]) == (5, "aborted")
    # the run itself was stopped, not left to finish its method
    assert seconds < METHOD_SECONDS / 2, f"the gate ended {seconds:.1f} s after Ctrl-C"
    assert report["experiment"]["outcome"] == "aborted", report["experiment"]["reason"]
    assert junit_results(tmp_path) == [Error]
    assert "Traceback" not in output
