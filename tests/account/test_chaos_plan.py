"""`chaos plan` as a user runs it: it changes nothing, and bad input exits 2 with nothing written.

The target is the session's sandbox; every `chaos plan` is a real subprocess.
"""

import json
import os
from pathlib import Path

import pytest

from chaos_runner import ConfigurationError
from chaos_runner.digest import target_digest
from chaos_runner.ledger import TargetLock
from chaos_runner.planning import plan_experiments
from chaos_runner.sandbox.state import SandboxInfo
from chaos_runner.target import Target
from tests.commands import chaos
from tests.servers import closed_port_url

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted(str(path) for path in (ROOT / "experiments").glob("*.yaml"))
ORIGIN_OUTAGE = str(ROOT / "experiments" / "origin-outage.yaml")


@pytest.fixture
def env(sandbox_env: SandboxInfo, tmp_path: Path) -> dict[str, str]:
    """The environment of a `chaos plan` subprocess: the sandbox, locks of the test's own."""
    return {**os.environ, "CHAOS_LOCK_DIR": str(tmp_path / "locks")}


@pytest.mark.slow  # every experiment, planned by a `chaos plan` process
def test_plan_changes_nothing_and_needs_no_lock(
    env: dict[str, str], tmp_path: Path, sandbox_env: SandboxInfo
) -> None:
    target = Target.resolve()
    before = target_digest(target)
    lock = TargetLock(target.key, tmp_path / "locks")
    assert lock.acquire()  # a run holds the target: a plan goes on all the same
    try:
        planned = chaos(
            ["plan", *EXPERIMENTS, "--iam", str(tmp_path / "policy.json")], tmp_path, env
        )
    finally:
        lock.release()

    assert planned.returncode == 0, planned.stderr
    assert target_digest(target) == before
    assert not (tmp_path / ".chaos").exists()  # no ledger, no state of any kind
    for path in EXPERIMENTS:
        assert f"{path}: " in planned.stdout
    assert planned.stdout.rstrip().endswith(
        "Nothing was changed: no fault ran, no lock was taken, no ledger was written."
    )
    policy = json.loads((tmp_path / "policy.json").read_text())
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    assert {"s3:PutBucketPolicy", "cloudfront:UpdateDistribution"} <= actions


def test_plan_as_json(env: dict[str, str], tmp_path: Path, sandbox_env: SandboxInfo) -> None:
    """(`--iam -`, the policy alone, is what test_iam_enforcement.py runs the experiment with.)"""
    as_json = chaos(["plan", ORIGIN_OUTAGE, "--json"], tmp_path, env)

    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    (plan,) = document["experiments"]
    assert plan["policy"] == document["policy"]
    (mutation,) = plan["mutations"]
    assert mutation["step"]["name"] == "deny-origin-reads"
    assert mutation["step"]["phase"] == "method"
    assert mutation["resource"] == f"arn:aws:s3:::{sandbox_env.bucket}"
    assert mutation["reversible"] is True
    assert mutation["restored_by"][0] == "restore-the-bucket-policy (method step 7)"
    loads = {probe["step"]["name"]: probe["load"] for probe in plan["probes"]}
    assert loads["pages-are-available-and-fast"] == {
        "per_second": 50.0,
        "total": 100,
        "words": "50 requests a second for 2 s: 100 requests",
    }
    watch = loads["watch-the-cached-pages"]
    assert (watch["per_second"], watch["total"]) == (20.0, 2400)  # 10 a second, 2 pages, 120 s
    # steady state twice: (3 + 100) x 2; method: 2400 + 3 + 3 + 100 + 2
    assert plan["requests"] == {"total": 2714, "exact": True}


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("CHAOS_DISTRIBUTION_ID", "E0NOSUCHDISTRI", "it does not exist (GetDistribution: "),
        ("CHAOS_ORIGIN_BUCKET", "no-such-bucket.example", "it does not exist (HeadBucket: 404)"),
    ],
)
def test_a_target_that_does_not_exist_exits_2_with_nothing_written(
    env: dict[str, str], tmp_path: Path, variable: str, value: str, said: str
) -> None:
    env[variable] = value
    policy = tmp_path / "policy.json"

    planned = chaos(["plan", ORIGIN_OUTAGE, "--iam", str(policy)], tmp_path, env)

    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert planned.stdout == ""
    (line,) = planned.stderr.splitlines()
    assert line.startswith("error: ") and said in line and "Nothing was changed" in line
    assert not policy.exists()


def test_bad_files_unreachable_and_partial_targets_are_refused(
    sandbox_env: SandboxInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("title: no method\n")

    with pytest.raises(ConfigurationError, match="no file or directory"):
        plan_experiments([str(tmp_path / "missing.yaml")])
    with pytest.raises(ConfigurationError, match="is not a valid experiment"):
        plan_experiments([str(broken)])
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed_port_url())
    with pytest.raises(ConfigurationError, match=r"Could not tell which account .* Nothing was"):
        plan_experiments([ORIGIN_OUTAGE])
    monkeypatch.delenv("CHAOS_ORIGIN_BUCKET")
    with pytest.raises(ConfigurationError, match="CHAOS_ORIGIN_BUCKET is not set"):
        plan_experiments([ORIGIN_OUTAGE])


def test_json_and_the_policy_on_stdout_do_not_mix(env: dict[str, str], tmp_path: Path) -> None:
    planned = chaos(["plan", ORIGIN_OUTAGE, "--json", "--iam", "-"], tmp_path, env)

    assert planned.returncode == 2
    assert "--json and --iam - both print on stdout" in planned.stderr
