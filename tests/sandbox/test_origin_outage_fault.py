"""deny_origin_reads on the running sandbox: inject, see it at the edge, restore exactly."""

import json
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed

from chaos_runner.faults.ledger import restore_injected_faults
from chaos_runner.faults.s3 import deny_origin_reads
from chaos_runner.ledger import EntryState, Ledger
from chaos_runner.sandbox.state import SandboxInfo
from tests.sandbox.edge_client import aws, edge_get, invalidate


def test_cached_pages_survive_uncached_fail_and_the_policy_comes_back_byte_for_byte(
    sandbox_env: SandboxInfo,
) -> None:
    s3 = aws(sandbox_env, "s3")
    before = s3.get_bucket_policy(Bucket=sandbox_env.bucket)["Policy"]
    invalidate(sandbox_env, "/", "/posts/invalidations/")
    assert edge_get(sandbox_env, "/") == (200, "Miss from cloudfront")

    result = deny_origin_reads(verify_key="index.html")

    assert result["status_before"] == 200
    assert result["status_after"] == 403
    assert (
        json.loads(s3.get_bucket_policy(Bucket=sandbox_env.bucket)["Policy"])["Statement"][0][
            "Effect"
        ]
        == "Deny"
    )
    assert edge_get(sandbox_env, "/") == (200, "Hit from cloudfront")
    assert edge_get(sandbox_env, "/posts/invalidations/") == (403, "Error from cloudfront")
    [entry] = Ledger().unrestored()
    assert entry.undo["prior_policy"] == before

    restored = restore_injected_faults(scope="target")

    assert restored["count"] == 1
    assert s3.get_bucket_policy(Bucket=sandbox_env.bucket)["Policy"] == before
    assert [e.state for e in Ledger().entries()] == [EntryState.RESTORED]
    invalidate(sandbox_env, "/posts/invalidations/")  # the 403 was cached (10 s)
    assert edge_get(sandbox_env, "/posts/invalidations/") == (200, "Miss from cloudfront")


def test_a_policy_changed_by_hand_since_the_fault_is_a_conflict_and_left_alone(
    sandbox_env: SandboxInfo,
) -> None:
    s3 = aws(sandbox_env, "s3")
    before = s3.get_bucket_policy(Bucket=sandbox_env.bucket)["Policy"]
    deny_origin_reads()
    by_hand = json.loads(before)
    by_hand["Statement"][0]["Sid"] = "FixedByHand"
    s3.put_bucket_policy(Bucket=sandbox_env.bucket, Policy=json.dumps(by_hand))
    try:
        with pytest.raises(ActivityFailed, match="was changed since the outage fault"):
            restore_injected_faults(scope="target")

        assert json.loads(s3.get_bucket_policy(Bucket=sandbox_env.bucket)["Policy"]) == by_hand
        assert [e.state for e in Ledger().entries()] == [EntryState.CONFLICT]
    finally:
        s3.put_bucket_policy(Bucket=sandbox_env.bucket, Policy=before)


def test_restore_is_idempotent_when_someone_already_put_the_policy_back(
    sandbox_env: SandboxInfo,
) -> None:
    s3 = aws(sandbox_env, "s3")
    before = s3.get_bucket_policy(Bucket=sandbox_env.bucket)["Policy"]
    deny_origin_reads()
    s3.put_bucket_policy(Bucket=sandbox_env.bucket, Policy=before)

    first = restore_injected_faults(scope="target")
    second = restore_injected_faults(scope="target")

    assert first["restored"][0]["detail"].endswith("already as before")
    assert second["count"] == 0
    assert s3.get_bucket_policy(Bucket=sandbox_env.bucket)["Policy"] == before


def test_a_bucket_without_a_policy_is_left_without_one(sandbox_env: SandboxInfo) -> None:
    s3 = aws(sandbox_env, "s3")
    before = s3.get_bucket_policy(Bucket=sandbox_env.bucket)["Policy"]
    s3.delete_bucket_policy(Bucket=sandbox_env.bucket)
    try:
        result = deny_origin_reads()
        restore_injected_faults(scope="target")

        assert result["had_policy"] is False
        assert result["status_before"] == 403  # a bucket with no policy is not public
        with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
            s3.get_bucket_policy(Bucket=sandbox_env.bucket)
    finally:
        s3.put_bucket_policy(Bucket=sandbox_env.bucket, Policy=before)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"bucket": "no-such-bucket"}, "deny_origin_reads acts only on the target's buckets"),
        ({"verify_timeout": -1}, "verify_timeout must be between 0 and 600 seconds"),
    ],
)
def test_bad_arguments_fail_with_a_sentence_and_inject_nothing(
    sandbox_env: SandboxInfo, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ActivityFailed, match=message):
        deny_origin_reads(**arguments)

    assert Ledger().entries() == []
