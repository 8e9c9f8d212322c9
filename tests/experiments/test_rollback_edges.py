"""`chaos rollback` at its edges, with real `chaos` processes on detached sandboxes.

A fault whose sandbox is gone (stopped, or replaced by another sandbox on the same port) is
closed as vanished instead of failing forever; `--forget` closes one entry by hand, under the
target's lock and only with a confirmation; `--list` without a ledger says there is none.
"""

import getpass
import json
import os
import pty
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest

from chaos_runner.cli.rollback import _SandboxCheck
from chaos_runner.ledger import EntryState, Ledger, LedgerEntry, TargetRef
from tests.commands import CHAOS, chaos
from tests.experiments.conftest import bucket_policy, lock_held

ROOT = Path(__file__).resolve().parents[2]
OUTAGE = ROOT / "experiments" / "origin-outage.yaml"
KILLED_AFTER_INJECT = {"CHAOS_CRASHPOINT": "deny_origin_reads:after-inject"}
HAND_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "ByHand", "Effect": "Allow", "Principal": "*",
                   "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{bucket}/*"}],
}  # fmt: skip


def _s3(state: dict[str, Any]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=state["aws_endpoint_url"],
        region_name=state["region"],
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox-secret",
    )


def _events(ledger: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()]


def _kill_a_run_mid_outage(cwd: Path, env: dict[str, str]) -> LedgerEntry:
    """`chaos run` of the origin outage, killed (SIGKILL) once the deny policy is in place."""
    killed = chaos(["run", str(OUTAGE)], cwd, {**env, **KILLED_AFTER_INJECT})
    assert killed.returncode == -9, killed.stderr[-2000:]
    [entry] = Ledger(cwd / ".chaos" / "ledger.jsonl").entries()
    assert entry.state == EntryState.OPEN
    return entry


def _snapshot(state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The sandbox's bucket policy and distribution config (its objects cannot be read under
    a deny policy)."""
    cloudfront = boto3.client(
        "cloudfront",
        endpoint_url=state["aws_endpoint_url"],
        region_name=state["region"],
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox-secret",
    )
    answer = cloudfront.get_distribution_config(Id=state["distribution_id"])
    return bucket_policy(state), {"ETag": answer["ETag"], **answer["DistributionConfig"]}


def _sandbox_up(cwd: Path, env: dict[str, str], aws_port: int) -> dict[str, Any]:
    up = chaos(
        ["sandbox", "up", "--detach", "--aws-port", str(aws_port), "--edge-port", "0"], cwd, env
    )
    assert up.returncode == 0, up.stderr
    state: dict[str, Any] = json.loads((Path(env["CHAOS_STATE_DIR"]) / "sandbox.json").read_text())
    return state


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_a_fault_of_a_sandbox_that_was_stopped_is_closed_as_vanished(
    tmp_path: Path, clean_env: dict[str, str], detached_sandbox: dict[str, Any]
) -> None:
    entry = _kill_a_run_mid_outage(tmp_path, clean_env)
    down = chaos(["sandbox", "down"], tmp_path, clean_env)
    assert down.returncode == 0, down.stderr

    rolled_back = chaos(["rollback"], tmp_path, clean_env)

    endpoint = detached_sandbox["aws_endpoint_url"]
    assert rolled_back.returncode == 0, rolled_back.stdout + rolled_back.stderr
    assert (
        f"{entry.id}  vanished: the sandbox at {endpoint} is gone; its faults went with it "
        "(nothing listens there any more)" in rolled_back.stdout
    )
    assert "1 fault(s) went with their sandbox" in rolled_back.stdout
    assert "Traceback" not in rolled_back.stdout + rolled_back.stderr
    listed = chaos(["rollback", "--list"], tmp_path, clean_env)
    assert listed.returncode == 0, listed.stderr
    assert "has no open fault" in listed.stdout
    last = _events(tmp_path / ".chaos" / "ledger.jsonl")[-1]
    assert (last["event"], last["id"]) == ("vanished", entry.id)
    assert last["reason"] == "nothing listens there any more"
    [closed] = Ledger(tmp_path / ".chaos" / "ledger.jsonl").entries()
    assert closed.state == EntryState.VANISHED
    assert closed.undo == entry.undo  # the undo record stays in the file


@pytest.mark.parametrize("where", ["same-directory", "other-directory"])
def test_a_fault_of_a_sandbox_replaced_by_another_on_its_port_is_closed_and_leaves_it_alone(
    where: str, tmp_path: Path, clean_env: dict[str, str], detached_sandbox: dict[str, Any]
) -> None:
    """The old sandbox died with its fault; a new one answers on the same port. The new one
    has another distribution (a sandbox started elsewhere) or the same id but buckets created
    after the fault (one started again from the same directory): either way the entry is
    not the new sandbox's, and a restore must not touch it."""
    entry = _kill_a_run_mid_outage(tmp_path, clean_env)
    assert chaos(["sandbox", "down"], tmp_path, clean_env).returncode == 0
    env = clean_env
    if where == "other-directory":
        env = {**clean_env, "CHAOS_STATE_DIR": str(tmp_path / "elsewhere" / ".chaos")}
    new = _sandbox_up(tmp_path, env, _port(detached_sandbox["aws_endpoint_url"]))
    try:
        assert new["aws_endpoint_url"] == detached_sandbox["aws_endpoint_url"]
        # The new sandbox's policy happens to be the very deny policy the old fault set: a
        # restore acting on the new sandbox would put the old prior policy over it.
        _s3(new).put_bucket_policy(Bucket=new["bucket"], Policy=entry.undo["injected_policy"])
        before = _snapshot(new)

        rolled_back = chaos(["rollback"], tmp_path, clean_env)

        assert rolled_back.returncode == 0, rolled_back.stdout + rolled_back.stderr
        endpoint = new["aws_endpoint_url"]
        assert (
            f"{entry.id}  vanished: the sandbox at {endpoint} is gone; its faults went with it "
            "(the sandbox answering there now " in rolled_back.stdout
        )
        if new["distribution_id"] != detached_sandbox["distribution_id"]:
            assert f"has no distribution {detached_sandbox['distribution_id']}" in (
                rolled_back.stdout
            )
        else:
            assert f"its bucket {new['bucket']} was created on" in rolled_back.stdout
        assert _snapshot(new) == before
        assert bucket_policy(new) == entry.undo["injected_policy"]
        assert chaos(["sandbox", "status"], tmp_path, env).returncode == 0
        [closed] = Ledger(tmp_path / ".chaos" / "ledger.jsonl").entries()
        assert closed.state == EntryState.VANISHED
    finally:
        if where == "other-directory":
            chaos(["sandbox", "down"], tmp_path, env)


def _forget(
    cwd: Path, env: dict[str, str], *args: str, answer: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`chaos rollback --forget ...`: stdin is /dev/null, or a terminal that types ``answer``."""
    command = [*CHAOS, "rollback", "--forget", *args]
    if answer is None:
        return subprocess.run(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=60, check=False,
        )  # fmt: skip
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=terminal, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        os.close(terminal)
        os.write(controller, f"{answer}\n".encode())
        stdout, stderr = process.communicate(timeout=60)
    finally:
        os.close(controller)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _a_run_is_refused(cwd: Path, env: dict[str, str]) -> bool:
    """Whether the safety control refuses a (harmless) run on the sandbox of ``cwd``."""
    experiment = cwd / "harmless.yaml"
    experiment.write_text(
        textwrap.dedent(
            """
            version: 1.0.0
            title: Nothing but the safety control's check
            description: Refused on a target with unrestored faults; else does nothing.
            controls:
              - name: sandbox
                provider: {type: python, module: chaos_runner.controls.sandbox}
              - name: safety
                provider: {type: python, module: chaos_runner.controls.safety}
            method:
              - type: probe
                name: where-am-i
                provider: {type: python, module: os, func: getcwd}
            """
        )
    )
    result = chaos(["run", str(experiment), "--journal-path", "harmless.json"], cwd, env)
    status = json.loads((cwd / "harmless.json").read_text())["status"]
    if status == "completed":
        assert result.returncode == 0, result.stderr[-2000:]
        return False
    assert "unrestored fault(s)" in result.stderr, result.stderr[-2000:]
    return True


def test_forget_closes_an_entry_in_conflict_by_hand_and_only_when_confirmed(
    tmp_path: Path, clean_env: dict[str, str], detached_sandbox: dict[str, Any]
) -> None:
    """The sandbox stays up and is treated as any live target: someone fixed the bucket
    policy by hand after the crash, so the restore conflicts (exit 4, every time) and
    the target refuses every run, until the entry is forgotten."""
    ledger = tmp_path / ".chaos" / "ledger.jsonl"
    entry = _kill_a_run_mid_outage(tmp_path, clean_env)
    by_hand = json.dumps(HAND_POLICY).replace("{bucket}", detached_sandbox["bucket"])
    _s3(detached_sandbox).put_bucket_policy(Bucket=detached_sandbox["bucket"], Policy=by_hand)
    conflict = chaos(["rollback"], tmp_path, clean_env)
    assert conflict.returncode == 4, conflict.stdout + conflict.stderr
    assert f"{entry.id}  CONFLICT: The policy of bucket" in conflict.stdout
    assert "vanished" not in conflict.stdout  # a live sandbox is not gone
    assert "`chaos rollback --forget ENTRY`" in conflict.stderr
    assert _a_run_is_refused(tmp_path, clean_env)
    events = len(_events(ledger))

    no_terminal = _forget(tmp_path, clean_env, entry.id)
    assert no_terminal.returncode == 2
    assert "add --yes" in no_terminal.stderr
    declined = _forget(tmp_path, clean_env, entry.id, answer="n")
    assert declined.returncode == 1, declined.stdout + declined.stderr
    assert f"Forget entry {entry.id}? [y/N]" in declined.stdout
    assert "Nothing was forgotten." in declined.stdout
    with lock_held(entry.target["key"], clean_env):
        held = _forget(tmp_path, clean_env, entry.id, "--yes")
    assert held.returncode == 4
    assert "a run holds its target" in held.stderr
    assert len(_events(ledger)) == events  # none of the three wrote anything

    forgotten = _forget(tmp_path, clean_env, entry.id, "--yes", "--reason", "policy fixed by hand")

    assert forgotten.returncode == 0, forgotten.stdout + forgotten.stderr
    assert f"Entry {entry.id} forgotten by {getpass.getuser()}" in forgotten.stdout
    assert "Nothing was restored." in forgotten.stdout
    last = _events(ledger)[-1]
    assert (last["event"], last["id"]) == ("forgotten", entry.id)
    assert (last["by"], last["reason"]) == (getpass.getuser(), "policy fixed by hand")
    assert bucket_policy(detached_sandbox) == by_hand  # forgetting touches nothing
    assert Ledger(ledger).unrestored(entry.target["key"]) == []
    assert "has no open fault" in chaos(["rollback", "--list"], tmp_path, clean_env).stdout
    assert not _a_run_is_refused(tmp_path, clean_env)

    again = _forget(tmp_path, clean_env, entry.id, "--yes")
    assert again.returncode == 0
    assert f"Entry {entry.id} is already closed (forgotten on " in again.stdout
    unknown = _forget(tmp_path, clean_env, "0123456789ab", "--yes")
    assert unknown.returncode == 2
    assert unknown.stdout == ""
    assert unknown.stderr.count("\n") == 1
    assert "No entry 0123456789ab in the ledger" in unknown.stderr


def test_an_interactive_yes_forgets(tmp_path: Path, clean_env: dict[str, str]) -> None:
    ledger = Ledger(tmp_path / ".chaos" / "ledger.jsonl")
    entry = ledger.open(
        "bucket_policy",
        TargetRef(key="aws|E2EXAMPLE|b", label="aws: test", endpoint_url=None, region="r"),
        {"bucket": "b", "prior_policy": None, "injected_policy": "{}"},
        "origin outage: bucket policy of b denies s3:GetObject",
    )

    confirmed = _forget(tmp_path, clean_env, entry.id, answer="y")

    assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
    assert "Forgetting it restores nothing" in confirmed.stdout
    [closed] = ledger.entries()
    assert (closed.state, closed.closed_by, closed.reason) == (
        EntryState.FORGOTTEN,
        getpass.getuser(),
        "",
    )


def test_list_without_a_ledger_says_there_is_none_and_where_it_was_looked_for(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    elsewhere = tmp_path / "elsewhere.jsonl"
    for env, path in [
        (clean_env, tmp_path / ".chaos" / "ledger.jsonl"),
        ({**clean_env, "CHAOS_LEDGER": str(elsewhere)}, elsewhere),
    ]:
        for args in (["rollback", "--list"], ["rollback"]):
            result = chaos(args, tmp_path, env)

            assert result.returncode == 0, result.stderr
            assert f"there is no ledger at {path}" in result.stdout
            assert "CHAOS_LEDGER" in result.stdout
            assert "CHAOS_STATE_DIR" in result.stdout
            assert "has no open fault" not in result.stdout
            assert not path.exists()


@pytest.mark.parametrize(
    "endpoint", [None, "https://cloudfront.amazonaws.com", "http://127.0.0.1.nip.io:4566"]
)
def test_a_target_not_on_loopback_is_never_taken_for_a_gone_sandbox(
    endpoint: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not even asked: a real distribution that does not answer is a network problem."""

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a target not on loopback was probed")

    monkeypatch.setattr("socket.create_connection", no_network)
    monkeypatch.setattr("chaos_runner.aws.boto3_session", no_network)
    entry = LedgerEntry(
        id="e1",
        kind="bucket_policy",
        run_id="r",
        target=TargetRef(key="aws|E1|b", label="aws: x", endpoint_url=endpoint, region="r"),
        undo={"bucket": "b"},
        description="outage",
        created_at=0.0,
    )

    assert _SandboxCheck().gone(entry) == ""
