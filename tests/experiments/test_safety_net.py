"""The safety net at its edges, with real `chaos` processes on a detached sandbox.

A damaged ledger stops a run before any mutation; a torn last line does not swallow the
next undo record; a failed restore fails the run; `chaos rollback` leaves a target held by
a live run alone and restores every entry that can still be read from a damaged ledger.
"""

import json
import textwrap
from pathlib import Path
from typing import Any

import boto3

from tests.commands import chaos
from tests.experiments.conftest import bucket_policy, lock_held

ROOT = Path(__file__).resolve().parents[2]
DISABLED = ROOT / "experiments" / "distribution-disabled.yaml"


def _distribution_enabled(state: dict[str, Any]) -> bool:
    client = boto3.client(
        "cloudfront",
        endpoint_url=state["aws_endpoint_url"],
        region_name=state["region"],
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox-secret",
    )
    config = client.get_distribution_config(Id=state["distribution_id"])["DistributionConfig"]
    return bool(config["Enabled"])


def _run(experiment: Path, tmp_path: Path, env: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    result = chaos(["run", str(experiment), "--journal-path", "j.json"], tmp_path, env)
    journal = json.loads((tmp_path / "j.json").read_text())
    return result, journal


def test_a_torn_last_ledger_line_does_not_swallow_the_next_fault(
    tmp_path: Path, clean_env: dict[str, str], detached_sandbox: dict[str, Any]
) -> None:
    ledger = tmp_path / ".chaos" / "ledger.jsonl"
    ledger.write_text('{"at": 1, "description": "origin outage: bucket pol')

    result, journal = _run(DISABLED, tmp_path, clean_env)

    assert result.returncode == 0, result.stderr
    section = journal["chaostoolkit-cdn"]
    assert [f["state"] for f in section["faults"]] == ["restored"]
    assert section["restore_complete"] is True
    assert _distribution_enabled(detached_sandbox)
    assert (tmp_path / ".chaos" / "ledger.jsonl.torn").exists()


def test_a_damaged_ledger_stops_the_run_before_any_fault(
    tmp_path: Path, clean_env: dict[str, str], detached_sandbox: dict[str, Any]
) -> None:
    ledger = tmp_path / ".chaos" / "ledger.jsonl"
    ledger.write_text('{"event": "open", "id": "x1", "at": 1}\n')  # fields missing
    before = ledger.read_text()

    result, journal = _run(DISABLED, tmp_path, clean_env)

    assert result.returncode == 1
    assert "line 1 cannot be used because it has no 'kind'" in result.stderr
    assert journal["status"] == "interrupted"
    assert journal["run"] == []  # no activity ran
    assert _distribution_enabled(detached_sandbox)
    assert ledger.read_text() == before
    listed = chaos(["rollback", "--list"], tmp_path, clean_env)
    assert listed.returncode == 0, listed.stderr
    assert "damaged line 1: it has no 'kind'" in listed.stderr
    assert "Traceback" not in listed.stderr + listed.stdout


def test_rollback_restores_what_it_can_read_and_exits_4_for_the_damage(
    tmp_path: Path, clean_env: dict[str, str], detached_sandbox: dict[str, Any]
) -> None:
    before = bucket_policy(detached_sandbox)
    killed = chaos(
        ["run", str(ROOT / "experiments" / "origin-outage.yaml")],
        tmp_path,
        {**clean_env, "CHAOS_CRASHPOINT": "deny_origin_reads:after-inject"},
    )
    assert killed.returncode == -9
    ledger = tmp_path / ".chaos" / "ledger.jsonl"
    with ledger.open("a") as handle:
        handle.write("garbage written by hand\n")

    rolled_back = chaos(["rollback"], tmp_path, clean_env)

    assert rolled_back.returncode == 4
    assert "restored" in rolled_back.stdout
    assert "damaged line(s)" in rolled_back.stderr
    assert bucket_policy(detached_sandbox) == before


def test_rollback_leaves_a_target_held_by_a_live_run_alone(
    tmp_path: Path, clean_env: dict[str, str], detached_sandbox: dict[str, Any]
) -> None:
    before = bucket_policy(detached_sandbox)
    killed = chaos(
        ["run", str(ROOT / "experiments" / "origin-outage.yaml")],
        tmp_path,
        {**clean_env, "CHAOS_CRASHPOINT": "deny_origin_reads:after-inject"},
    )
    assert killed.returncode == -9
    [entry] = [
        json.loads(line)
        for line in (tmp_path / ".chaos" / "ledger.jsonl").read_text().splitlines()
        if '"open"' in line
    ]
    with lock_held(entry["target"]["key"], clean_env):
        refused = chaos(["rollback"], tmp_path, clean_env)

    assert refused.returncode == 4
    assert "a run holds that target" in refused.stderr
    assert bucket_policy(detached_sandbox) != before  # left to the run holding it
    assert chaos(["rollback"], tmp_path, clean_env).returncode == 0
    assert bucket_policy(detached_sandbox) == before


def test_a_restore_in_conflict_fails_the_run(
    tmp_path: Path, clean_env: dict[str, str], detached_sandbox: dict[str, Any]
) -> None:
    before = bucket_policy(detached_sandbox)
    experiment = tmp_path / "conflict.yaml"
    experiment.write_text(
        textwrap.dedent(
            """
            version: 1.0.0
            title: Someone edits the bucket policy during an outage
            description: The restore must not overwrite it, and the run must not pass.
            configuration:
              site_url: {type: env, key: CHAOS_SITE_URL, default: ""}
              distribution_id: {type: env, key: CHAOS_DISTRIBUTION_ID, default: ""}
              origin_bucket: {type: env, key: CHAOS_ORIGIN_BUCKET, default: ""}
            controls:
              - name: sandbox
                provider: {type: python, module: chaos_runner.controls.sandbox}
              - name: safety
                provider: {type: python, module: chaos_runner.controls.safety}
            method:
              - type: action
                name: deny-origin-reads
                provider:
                  type: python
                  module: chaos_runner.faults.s3
                  func: deny_origin_reads
              - type: action
                name: someone-edits-the-policy
                provider:
                  type: process
                  path: aws
                  arguments: >-
                    s3api put-bucket-policy --bucket ${origin_bucket}
                    --policy '{"Version":"2012-10-17","Statement":[{"Sid":"ByHand",
                    "Effect":"Allow","Principal":"*","Action":"s3:GetObject",
                    "Resource":"arn:aws:s3:::${origin_bucket}/*"}]}'
            """
        )
    )

    result, journal = _run(experiment, tmp_path, clean_env)

    assert result.returncode == 1, result.stderr
    assert journal["status"] == "failed"
    section = journal["chaostoolkit-cdn"]
    assert section["restore_complete"] is False
    assert "a fault could not be restored" in section["status_changed"]
    assert [f["state"] for f in section["faults"]] == ["conflict"]
    assert bucket_policy(detached_sandbox) != before  # the hand edit is kept
    # put the sandbox back for the fixture's `down`: nothing else to do, it is discarded
