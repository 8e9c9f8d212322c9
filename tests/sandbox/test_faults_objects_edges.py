"""The object faults at their edges: repeated keys, objects older than versioning, numbers
given as strings, buckets outside the target, and the quarantine's life.

Each test uses the session's shared sandbox and leaves it as it found it: a test that needs
versioning makes a fresh bucket of its own (S3 cannot turn versioning off again), points the
target at it, and removes it at the end.
"""

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed

from chaos_runner.digest import bucket_state, target_state
from chaos_runner.faults import objects
from chaos_runner.faults.ledger import restore_injected_faults
from chaos_runner.ledger import EntryState, Ledger
from chaos_runner.sandbox.state import SandboxInfo
from chaos_runner.target import Target
from tests.sandbox.edge_client import aws

PAGE = "about/index.html"
#: What GetObject answers and PutObject takes, besides the bytes.
METADATA = ("ContentType", "CacheControl", "ContentEncoding", "ContentLanguage", "Metadata")


def restore_all() -> dict[str, Any]:
    restored: dict[str, Any] = restore_injected_faults(scope="target")
    return restored


def quarantines() -> list[Path]:
    directory = Ledger().path.parent / "quarantine"
    return sorted(directory.iterdir()) if directory.exists() else []


@pytest.fixture
def fresh_bucket(sandbox_env: SandboxInfo) -> Iterator[Callable[..., str]]:
    """Makes buckets of the test's own (with two pages); removes them, every version, after."""
    client = aws(sandbox_env, "s3")
    made: list[str] = []

    def make(versioned_after_upload: bool = False) -> str:
        bucket = f"edges-{uuid.uuid4().hex[:10]}"
        client.create_bucket(Bucket=bucket)
        made.append(bucket)
        for key in ("a.html", "b.html"):
            client.put_object(
                Bucket=bucket, Key=key, Body=f"<p>{key}</p>".encode(), ContentType="text/html"
            )
        if versioned_after_upload:
            client.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            )
        return bucket

    yield make
    for bucket in made:
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                client.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
        client.delete_bucket(Bucket=bucket)


# --- 1. repeated keys ---------------------------------------------------------------------


def test_a_key_named_twice_is_corrupted_once_and_restored_exactly(
    sandbox_env: SandboxInfo,
) -> None:
    before = target_state(Target.resolve())

    result = objects.corrupt_objects(preset="truncated", keys=f"{PAGE}, /{PAGE},{PAGE}")
    restore_all()

    assert result["keys"] == [PAGE]
    assert target_state(Target.resolve()) == before


def test_a_key_named_twice_adds_one_delete_marker_on_a_versioned_bucket(
    sandbox_env: SandboxInfo,
    fresh_bucket: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = fresh_bucket()
    aws(sandbox_env, "s3").put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    aws(sandbox_env, "s3").put_object(Bucket=bucket, Key="a.html", Body=b"<p>v2</p>")
    monkeypatch.setenv("CHAOS_ORIGIN_BUCKET", bucket)
    before = target_state(Target.resolve())

    objects.delete_objects(keys=["a.html", "/a.html"])
    markers = aws(sandbox_env, "s3").list_object_versions(Bucket=bucket).get("DeleteMarkers", [])
    restore_all()

    assert len(markers) == 1
    assert target_state(Target.resolve()) == before


def test_more_named_keys_than_the_cap_are_refused_before_anything_changes(
    sandbox_env: SandboxInfo,
) -> None:
    keys = ",".join(f"page-{n}.html" for n in range(1001))

    with pytest.raises(ActivityFailed, match=r"names 1001 keys; a fault acts on at most 1000"):
        objects.delete_objects(keys=keys)
    assert Ledger().entries() == []


# --- 2. objects older than versioning -----------------------------------------------------


@pytest.mark.parametrize("fault", ["delete", "corrupt"])
def test_objects_older_than_versioning_are_restored_to_their_null_version(
    sandbox_env: SandboxInfo,
    fresh_bucket: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    bucket = fresh_bucket(versioned_after_upload=True)
    monkeypatch.setenv("CHAOS_ORIGIN_BUCKET", bucket)
    before = target_state(Target.resolve())

    if fault == "delete":
        objects.delete_objects(keys="a.html,b.html")
    else:
        objects.corrupt_objects(preset="truncated", keys="a.html,b.html")
    during = bucket_state(aws(sandbox_env, "s3"), bucket)  # a null version under the fault's
    restore_all()

    [entry] = Ledger().entries()
    assert {record["version_id"] for record in entry.undo["keys"].values()} == {"null"}
    assert during != before["buckets"][bucket]
    assert target_state(Target.resolve()) == before
    assert quarantines() == []  # versions, not local copies


def test_the_digest_reads_null_versions_real_versions_and_delete_markers(
    sandbox_env: SandboxInfo, fresh_bucket: Callable[..., str]
) -> None:
    client = aws(sandbox_env, "s3")
    bucket = fresh_bucket(versioned_after_upload=True)
    client.put_object(Bucket=bucket, Key="b.html", Body=b"<p>b, second</p>")
    client.delete_object(Bucket=bucket, Key="a.html")

    state = bucket_state(client, bucket)

    rows = {(o["key"], o["version"] == "null", o.get("deleted", False)) for o in state["objects"]}
    assert rows == {
        ("a.html", True, False),
        ("a.html", False, True),
        ("b.html", True, False),
        ("b.html", False, False),
    }
    null_b = next(o for o in state["objects"] if o["key"] == "b.html" and o["version"] == "null")
    assert null_b["ContentLength"] == len(b"<p>b.html</p>")  # its own bytes, not the latest's


# --- 3. numbers given as strings ----------------------------------------------------------


def test_share_and_seed_given_as_strings_select_as_numbers_do(sandbox_env: SandboxInfo) -> None:
    as_numbers = objects.delete_objects(prefix="posts/", share=0.5, seed=7)
    restore_all()
    as_strings = objects.corrupt_objects(prefix="posts/", share="0.5", seed="7")  # type: ignore[arg-type]
    restore_all()

    assert as_strings["keys"] == as_numbers["keys"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"share": "half"}, r"`share` must be a number from 0 to 1; got 'half'"),
        ({"share": 1.5}, r"`share` must be a number from 0 to 1; got 1.5"),
        ({"prefix": "posts/", "share": 0.5, "seed": "3.5"}, r"`seed` must be a whole number"),
    ],
)
def test_a_bad_number_is_a_clear_sentence(
    sandbox_env: SandboxInfo, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ActivityFailed, match=message):
        objects.delete_objects(**arguments)
    assert Ledger().entries() == []


# --- 4. only the target's buckets ---------------------------------------------------------


def test_a_bucket_outside_the_target_is_refused_and_named(
    sandbox_env: SandboxInfo, fresh_bucket: Callable[..., str]
) -> None:
    bucket = fresh_bucket()

    with pytest.raises(ActivityFailed, match="is not one of the target's buckets") as refused:
        objects.delete_objects(keys="a.html", bucket=bucket)

    assert sandbox_env.bucket in str(refused.value)
    assert sandbox_env.failover_bucket in str(refused.value)
    assert Ledger().entries() == []
    assert aws(sandbox_env, "s3").head_object(Bucket=bucket, Key="a.html")["ContentLength"]


def test_the_bucket_the_distribution_fails_over_to_is_accepted(
    sandbox_env: SandboxInfo,
) -> None:
    before = target_state(Target.resolve())

    result = objects.delete_objects(keys="index.html", bucket=sandbox_env.failover_bucket)
    restore_all()

    assert result["bucket"] == sandbox_env.failover_bucket
    assert target_state(Target.resolve()) == before


# --- 5. the quarantine's life -------------------------------------------------------------


def test_the_quarantine_is_removed_after_a_full_restore_and_a_rerun_needs_none(
    sandbox_env: SandboxInfo,
) -> None:
    before = target_state(Target.resolve())
    objects.corrupt_objects(preset="wrong-content", keys=f"index.html,{PAGE}")
    assert len(quarantines()) == 1

    restore_all()
    [entry] = Ledger().entries()
    again = objects.restore_objects(entry)  # e.g. the mark was lost: nothing left to put back

    assert entry.state == EntryState.RESTORED
    assert quarantines() == []
    assert again.state == EntryState.RESTORED
    assert "0 object(s) restored, 2 already as before" in again.detail
    assert target_state(Target.resolve()) == before


def test_no_quarantine_is_left_when_the_ledger_cannot_be_written(
    sandbox_env: SandboxInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = tmp_path / "state" / "ledger.jsonl"
    ledger.mkdir(parents=True)  # a directory where the ledger file should be
    monkeypatch.setenv("CHAOS_LEDGER", str(ledger))

    with pytest.raises(ActivityFailed, match="cannot be written durably"):
        objects.delete_objects(keys=PAGE)

    assert quarantines() == []
    assert aws(sandbox_env, "s3").head_object(Bucket=sandbox_env.bucket, Key=PAGE)


def test_no_quarantine_is_left_when_a_selected_key_is_missing(sandbox_env: SandboxInfo) -> None:
    with pytest.raises(ActivityFailed, match=r"has no object no/such/key\.html"):
        objects.delete_objects(keys=f"{PAGE},no/such/key.html")

    assert quarantines() == []
    assert Ledger().entries() == []


def test_a_conflict_keeps_the_quarantine(sandbox_env: SandboxInfo) -> None:
    client = aws(sandbox_env, "s3")
    original = client.get_object(Bucket=sandbox_env.bucket, Key=PAGE)
    body = original["Body"].read()
    objects.delete_objects(keys=PAGE)
    client.put_object(Bucket=sandbox_env.bucket, Key=PAGE, Body=b"hotfix", ContentType="text/html")
    try:
        with pytest.raises(ActivityFailed, match="changed since the fault"):
            restore_all()
        assert len(quarantines()) == 1
    finally:
        client.put_object(
            Bucket=sandbox_env.bucket,
            Key=PAGE,
            Body=body,
            **{field: original[field] for field in METADATA if original.get(field)},
        )
