"""Faults of the objects in the origin bucket: object loss and bad deploys.

``delete_objects`` removes objects (a key, a prefix, or a share of keys); ``corrupt_objects``
replaces them with a bad deploy (preset ``wrong-content``, ``wrong-content-type`` or
``truncated``). With no selection, each acts on the home page (``index.html``) only.

Named keys are normalised (no leading ``/``) and each acts once, however often it is named;
a fault acts on at most 1,000 keys. ``bucket`` may only be one of the target's buckets (the
origin bucket, or a bucket its distribution names as an origin), so that the ledger entry
and the digest cover what the fault changes.

How the prior objects are kept, before the first mutation:
- bucket with versioning enabled: the version id each key had (S3's ``"null"`` for an
  object written before versioning was enabled); the restore removes exactly the version
  (or delete marker) the fault added, so the version history is as before;
- otherwise: the bytes and metadata of each object in a quarantine directory beside the
  ledger (``.chaos/quarantine/<id>/``, fsynced), and the restore puts them back (same
  bytes, metadata, content type and cache headers; S3 gives the object a new LastModified).
  The directory goes when the fault does not start (the ledger entry could not be opened)
  and when a restore has put every key back; it stays while any key is in conflict.

A restore is per key and idempotent; a key that someone changed since the fault (a new
upload, a deletion) is reported as a conflict and left alone. A key already as before is
recognised by its ETag and metadata, without the quarantined copy.
"""

import contextlib
import hashlib
import json
import os
import random
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chaos_runner._errors import ConfigurationError, FaultNotVerified, RestoreConflict
from chaos_runner.activity import activity, target_ref
from chaos_runner.arguments import number, whole
from chaos_runner.aws import aws_errors, cloudfront_client, error_code, s3_client
from chaos_runner.crashpoint import crashpoint
from chaos_runner.digest import distribution_buckets
from chaos_runner.iam import (
    Mutation,
    Names,
    Permission,
    Propagation,
    Resource,
    declares,
    on,
    restores,
)
from chaos_runner.ledger import (
    EntryState,
    Ledger,
    LedgerEntry,
    RestoreOutcome,
    default_ledger_path,
    restorer,
)
from chaos_runner.pages import key_of, resolve
from chaos_runner.target import Target

__all__ = ["CRASHPOINTS", "PRESETS", "corrupt_objects", "delete_objects", "restore_objects"]

#: The bad deploys corrupt_objects knows.
PRESETS = ("wrong-content", "wrong-content-type", "truncated")

#: Where a test may kill the runner (see chaos_runner.crashpoint); N counts keys from 1.
CRASHPOINTS = ("{fault}:after-ledger-open", "{fault}:after-step-{n}", "{fault}:after-inject")

_WRONG_BODY = b"<!doctype html><title>Bad deploy</title><p>chaos: this is not the page.</p>\n"
#: What an object carries besides its bytes, as GetObject names it and PutObject takes it.
_METADATA_FIELDS = (
    "ContentType",
    "CacheControl",
    "ContentEncoding",
    "ContentDisposition",
    "ContentLanguage",
    "WebsiteRedirectLocation",
    "Metadata",
)
_MAX_QUARANTINE_BYTES = 256 * 1024 * 1024
_MAX_KEYS = 1000
#: Seeds print whole in a message (``:g``) up to here.
_MAX_SEED = 999_999
#: S3's version id of an object written while the bucket was not versioned.
_NULL_VERSION = "null"


def _key_list(keys: object, configuration: Mapping[str, Any] | None = None) -> list[str]:
    """The named keys, normalised (trimmed, no leading '/'), each once, in the order given.

    A page role (``"@victim"``, see :mod:`chaos_runner.pages`) names the key of its page.
    """
    if isinstance(keys, str):
        items: list[object] = [item.strip() for item in keys.split(",")]
    elif isinstance(keys, list) and all(isinstance(item, str) for item in keys):
        items = list(keys)
    else:
        raise ConfigurationError(
            "keys must be an object key, keys separated by commas, a list of keys, or a page "
            f"role such as '@victim'; got {keys!r}."
        )
    named: list[str] = []
    for item in map(str, items):
        if item.startswith("@"):
            named += [key_of(path) for path in resolve(item, configuration)]
        else:
            named.append(item)
    normalised = (item.strip().lstrip("/") for item in named if item)
    return list(dict.fromkeys(key for key in normalised if key))


def select_keys(
    s3: Any,
    bucket: str,
    keys: str | list[str],
    prefix: str,
    share: float,
    seed: int,
    configuration: Mapping[str, Any] | None = None,
) -> list[str]:
    """The keys a fault acts on: named keys, or a prefix, or a share of them; else index.html."""
    named = _key_list(keys, configuration)
    if named and (prefix or share):
        raise ConfigurationError("Give either keys, or prefix and/or share, not both.")
    if len(named) > _MAX_KEYS:
        raise ConfigurationError(
            f"The selection names {len(named)} keys; a fault acts on at most {_MAX_KEYS} "
            "objects. Name fewer keys, or select a share of a prefix instead."
        )
    if named:
        return named
    if not prefix and not share:
        listed = _list_keys(s3, bucket, "index.html", 1)
        return ["index.html"] if listed == ["index.html"] else _list_keys(s3, bucket, "", 1)
    candidates = _list_keys(s3, bucket, prefix, _MAX_KEYS * 100)
    if not candidates:
        raise ConfigurationError(f"No object of bucket {bucket} starts with {prefix!r}.")
    if not share:
        chosen = candidates
    else:
        count = max(1, round(len(candidates) * share))
        chosen = sorted(random.Random(seed).sample(candidates, count))
    if len(chosen) > _MAX_KEYS:
        raise ConfigurationError(
            f"That selects {len(chosen)} objects; a fault acts on at most {_MAX_KEYS}. "
            "Narrow the prefix or lower the share."
        )
    return chosen


def _list_keys(s3: Any, bucket: str, prefix: str, limit: int) -> list[str]:
    keys: list[str] = []
    with aws_errors("ListObjectsV2", f"list the objects of bucket {bucket}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [str(item["Key"]) for item in page.get("Contents", [])]
            if len(keys) >= limit:
                break
    return keys[:limit]


def _versioned(s3: Any, bucket: str) -> bool:
    with aws_errors("GetBucketVersioning", f"read the versioning of bucket {bucket}"):
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    return bool(status == "Enabled")


def _head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    with aws_errors("HeadObject", f"read object {key} of bucket {bucket}"):
        try:
            answer: dict[str, Any] = s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error_code(error) in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
    return answer


def _fsync_write(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _snapshot(
    s3: Any, bucket: str, keys: list[str], versioned: bool, quarantine: Path | None
) -> dict[str, Any]:
    """What the restore needs, made durable before any mutation.

    With ``quarantine`` (an unversioned bucket), each object's bytes are written there.
    """
    saved: dict[str, Any] = {}
    if quarantine is not None:
        quarantine.mkdir(parents=True, exist_ok=True)
    total = 0
    from botocore.exceptions import ClientError

    for key in keys:
        with aws_errors("GetObject", f"read object {key} of bucket {bucket}"):
            try:
                answer = s3.get_object(Bucket=bucket, Key=key)
            except ClientError as error:
                if error_code(error) in {"NoSuchKey", "404"}:
                    raise ConfigurationError(f"Bucket {bucket} has no object {key}.") from error
                raise
        body = answer["Body"].read()
        total += len(body)
        if total > _MAX_QUARANTINE_BYTES:
            raise ConfigurationError(
                f"The selected objects exceed {_MAX_QUARANTINE_BYTES >> 20} MiB; without "
                "versioning they are kept on local disk. Select fewer, or enable versioning."
            )
        record: dict[str, Any] = {
            "etag": answer.get("ETag"),
            "sha256": hashlib.sha256(body).hexdigest(),
            # An object older than versioning is S3's "null" version; moto and some S3
            # answers leave its VersionId out of GetObject.
            "version_id": answer.get("VersionId") or (_NULL_VERSION if versioned else None),
            "metadata": {field: answer[field] for field in _METADATA_FIELDS if answer.get(field)},
        }
        if quarantine is not None:
            record["file"] = str(
                quarantine / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.bin"
            )
            _fsync_write(Path(record["file"]), body)
            record["_body"] = body
        saved[key] = record
    if quarantine is not None:
        fd = os.open(quarantine, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return saved


def _quarantine_root() -> Path:
    return default_ledger_path().parent / "quarantine"


def _remove_quarantine(directory: Path) -> None:
    """Remove one quarantine directory; a leftover one is harmless, so removal never fails."""
    with contextlib.suppress(OSError):  # the fault's own outcome matters more than the litter
        shutil.rmtree(directory)


def _bad_body(preset: str, body: bytes) -> bytes:
    if preset == "truncated":
        return body[: len(body) // 2]
    if preset == "wrong-content":
        return _WRONG_BODY
    return body


def _inject(
    fault: str,
    bucket: str,
    keys: list[str],
    configuration: dict[str, Any] | None,
    mutate: Callable[[Any, str, dict[str, Any]], dict[str, Any]],
    describe: str,
    undo_extra: Callable[[str, dict[str, Any]], dict[str, Any]],
) -> tuple[LedgerEntry, Any, dict[str, Any]]:
    target = Target.resolve(configuration)
    s3 = s3_client(target.region, target.endpoint_url)
    versioned = _versioned(s3, bucket)
    quarantine = None if versioned else _quarantine_root() / uuid.uuid4().hex[:12]
    try:
        saved = _snapshot(s3, bucket, keys, versioned, quarantine)
        undo_keys = {
            key: {**{k: v for k, v in record.items() if k != "_body"}, **undo_extra(key, record)}
            for key, record in saved.items()
        }
        entry = Ledger().open(
            "objects",
            target_ref(target),
            {"bucket": bucket, "fault": fault, "versioned": versioned, "keys": undo_keys},
            describe,
        )
    except BaseException:
        # Nothing was mutated: no restore can need these copies (a restore finds every key
        # already as before by its ETag), even if the ledger line did reach the disk.
        if quarantine is not None:
            _remove_quarantine(quarantine)
        raise
    crashpoint(f"{fault}:after-ledger-open")
    results: dict[str, Any] = {}
    for step, key in enumerate(keys, start=1):
        results[key] = mutate(s3, key, {**saved[key], **undo_keys[key]})
        crashpoint(f"{fault}:after-step-{step}")
    crashpoint(f"{fault}:after-inject")
    return entry, s3, results


def _verify_or_undo(entry: LedgerEntry, problems: list[str], what: str) -> None:
    if not problems:
        return
    outcome = restore_objects(entry)
    Ledger().mark(entry.id, outcome.state, outcome.detail)
    raise FaultNotVerified(
        f"{what} did not take effect: {'; '.join(problems)}. The objects were restored; the "
        "experiment is inconclusive."
    )


def _selection(
    bucket: str,
    keys: str | list[str],
    prefix: str,
    share: object,
    seed: object,
    configuration: dict[str, Any] | None,
) -> tuple[str, list[str]]:
    """The bucket (default CHAOS_ORIGIN_BUCKET) and the keys a fault acts on.

    ``share`` and ``seed`` may be numeric strings (``${...}`` substitutions arrive so).
    """
    fraction = number("share", share, 0.0, 1.0)
    picker = whole("seed", seed, 0, _MAX_SEED)
    target = Target.resolve(configuration)
    bucket = _target_bucket(target, str(bucket or "").strip())
    s3 = s3_client(target.region, target.endpoint_url)
    return bucket, select_keys(s3, bucket, keys, prefix, fraction, picker, configuration)


def _target_bucket(target: Target, bucket: str) -> str:
    """``bucket`` if it is one of the target's buckets (default: the origin bucket).

    The ledger keys an entry to the target, and the digest covers the target's buckets: a
    fault on any other bucket would be outside both. The distribution's config is read only
    when ``bucket`` is not the origin bucket.
    """
    if not bucket or bucket == target.origin_bucket:
        if not target.origin_bucket:
            target.require("CHAOS_ORIGIN_BUCKET")
        return target.origin_bucket
    named: list[str] = []
    if target.distribution_id:
        cloudfront = cloudfront_client(target.region, target.endpoint_url)
        with aws_errors(
            "GetDistributionConfig", f"read the config of distribution {target.distribution_id}"
        ):
            answer = cloudfront.get_distribution_config(Id=target.distribution_id)
        named = distribution_buckets(dict(answer["DistributionConfig"]))
    if bucket in named:
        return bucket
    known = [b for b in dict.fromkeys([target.origin_bucket, *named]) if b]
    raise ConfigurationError(
        f"Bucket {bucket} is not one of the target's buckets "
        f"({', '.join(known) or 'none is set'}); a fault acts only on the target's origin "
        "bucket (CHAOS_ORIGIN_BUCKET) or a bucket its distribution names as an origin, so "
        "that the ledger and the restore cover what it changes. Leave `bucket` out to use "
        f"the origin bucket, or point CHAOS_ORIGIN_BUCKET at {bucket}."
    )


#: What selecting and snapshotting the objects calls, for both object faults.
_SELECTION_NEEDS = (
    Permission(
        "cloudfront:GetDistributionConfig",
        Resource.DISTRIBUTION,
        "check that the bucket is one of the distribution's origins",
        (on("bucket other than the origin bucket"),),
    ),
    Permission(
        "s3:ListBucket",
        Resource.BUCKET,
        "select the objects (a prefix, a share, or the home page), and tell a missing object "
        "from a refused read (without it S3 answers 403 for an object that does not exist)",
    ),
    Permission("s3:GetBucketVersioning", Resource.BUCKET, "choose how to keep the objects"),
    Permission("s3:GetObject", Resource.OBJECTS, "keep the objects, then verify the change"),
)


def _objects_change(change: str, outcome: str) -> Mutation:
    """A change of the selected objects, restored by the objects restorer."""
    return Mutation(
        kind="objects",
        resource=Resource.OBJECTS,
        what="{objects} in bucket {bucket}",
        change=change,
        blast_radius=f"readers of those objects on {{domains}}: each request that misses the "
        f"edge caches gets {outcome}; copies already cached are served until they expire",
        reversible=True,
        restore="each object is put back: its prior version made the latest again (versioned "
        "bucket), or its bytes and metadata from the quarantine beside the ledger; an object "
        "someone changed since is left alone and reported",
        takes_effect=Propagation.S3_OBJECTS,
    )


@declares(
    "DeleteObjects",
    *_SELECTION_NEEDS,
    Permission("s3:DeleteObject", Resource.OBJECTS, "delete the objects"),
    mutation=_objects_change(
        "deleted (their prior versions, or their copies, are kept first)",
        "the site's 404 (or 403)",
    ),
    names=Names(bucket="bucket"),
)
@activity
def delete_objects(
    keys: str | list[str] = "",
    prefix: str = "",
    share: float = 0.0,
    seed: int = 0,
    bucket: str = "",
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Delete objects from the origin bucket (object loss), verified by reading them back.

    Select ``keys`` (a list, or comma-separated; at most 1,000), or every key under
    ``prefix``, or a ``share`` (0..1) of those, picked with ``seed`` (0..999999); with no
    selection, ``index.html``. ``bucket`` defaults to the origin bucket and may only be
    another bucket the target's distribution names as an origin.
    """
    bucket, chosen = _selection(bucket, keys, prefix, share, seed, configuration)

    def delete(s3: Any, key: str, record: dict[str, Any]) -> dict[str, Any]:
        with aws_errors("DeleteObject", f"delete object {key} of bucket {bucket}"):
            answer = s3.delete_object(Bucket=bucket, Key=key)
        return {"delete_marker": answer.get("VersionId")}

    entry, s3, _ = _inject(
        "delete_objects",
        bucket,
        chosen,
        configuration,
        delete,
        f"object loss: {len(chosen)} object(s) deleted from {bucket}",
        lambda key, record: {},
    )
    problems = [f"{key} is still there" for key in chosen if _head(s3, bucket, key) is not None]
    _verify_or_undo(entry, problems, "The deletion")
    return {"fault": "delete_objects", "ledger_entry": entry.id, "bucket": bucket, "keys": chosen}


@declares(
    "CorruptObjects",
    *_SELECTION_NEEDS,
    Permission("s3:PutObject", Resource.OBJECTS, "write the bad deploy over the objects"),
    mutation=_objects_change("overwritten by a bad deploy ({preset})", "the bad copy"),
    names=Names(bucket="bucket"),
)
@activity
def corrupt_objects(
    preset: str = "wrong-content",
    keys: str | list[str] = "",
    prefix: str = "",
    share: float = 0.0,
    seed: int = 0,
    bucket: str = "",
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Replace objects with a bad deploy: ``wrong-content``, ``wrong-content-type`` (the
    same bytes served as application/octet-stream) or ``truncated`` (the first half).

    Selection as for delete_objects; with none, ``index.html``.
    """
    if preset not in PRESETS:
        raise ConfigurationError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}.")
    bucket, chosen = _selection(bucket, keys, prefix, share, seed, configuration)

    def bad_for(key: str, record: dict[str, Any]) -> dict[str, Any]:
        body = _bad_body(preset, record["_body"]) if "_body" in record else None
        return {
            "bad_md5": f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'
            if body is not None
            else None
        }

    def corrupt(s3: Any, key: str, record: dict[str, Any]) -> dict[str, Any]:
        with aws_errors("GetObject", f"read object {key} of bucket {bucket}"):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        metadata = dict(record["metadata"])
        if preset == "wrong-content-type":
            metadata["ContentType"] = "application/octet-stream"
        with aws_errors("PutObject", f"write object {key} of bucket {bucket}"):
            answer = s3.put_object(Bucket=bucket, Key=key, Body=_bad_body(preset, body), **metadata)
        return {"version_id": answer.get("VersionId"), "etag": answer.get("ETag")}

    entry, s3, results = _inject(
        "corrupt_objects",
        bucket,
        chosen,
        configuration,
        corrupt,
        f"bad deploy ({preset}): {len(chosen)} object(s) replaced in {bucket}",
        bad_for,
    )
    problems = []
    for key in chosen:
        head = _head(s3, bucket, key) or {}
        wrong_type = head.get("ContentType") == "application/octet-stream"
        if head.get("ETag") != results[key]["etag"] or (
            preset == "wrong-content-type" and not wrong_type
        ):
            problems.append(f"{key} does not carry the bad deploy")
    _verify_or_undo(entry, problems, "The bad deploy")
    return {
        "fault": "corrupt_objects",
        "preset": preset,
        "ledger_entry": entry.id,
        "bucket": bucket,
        "keys": chosen,
    }


@restorer("objects")
@restores(
    "objects",
    Permission(
        "s3:ListBucketVersions",
        Resource.BUCKET,
        "find the version the fault added",
        (on("versioned bucket"),),
    ),
    Permission(
        "s3:DeleteObjectVersion",
        Resource.OBJECTS,
        "remove the version (or delete marker) the fault added",
        (on("versioned bucket"),),
    ),
    Permission(
        "s3:GetObject",
        Resource.OBJECTS,
        "compare each object with its quarantined copy",
        (on("unversioned bucket"),),
    ),
    Permission(
        "s3:ListBucket",
        Resource.BUCKET,
        "tell a deleted object from a refused read (S3 answers 403 without it)",
        (on("unversioned bucket"),),
    ),
    Permission(
        "s3:PutObject",
        Resource.OBJECTS,
        "put the quarantined copy back",
        (on("unversioned bucket"),),
    ),
)
def restore_objects(entry: LedgerEntry) -> RestoreOutcome:
    """Put every object of the entry back as it was; conflicts are reported, not overwritten."""
    undo = entry.undo
    bucket = str(undo["bucket"])
    s3 = s3_client(entry.target["region"], entry.target["endpoint_url"])
    restore_key = _restore_versioned if undo["versioned"] else _restore_unversioned
    conflicts, restored, already = [], 0, 0
    for key, record in undo["keys"].items():
        try:
            changed = restore_key(s3, bucket, key, record)
        except RestoreConflict as conflict:
            conflicts.append(str(conflict))
            continue
        restored += changed
        already += not changed
    if conflicts:
        raise RestoreConflict(
            f"{len(conflicts)} object(s) of bucket {bucket} changed since the fault and were "
            f"left as they are ({restored} restored): " + " ".join(conflicts)
        )
    for directory in _quarantines_of(undo):
        _remove_quarantine(directory)
    return RestoreOutcome(
        EntryState.RESTORED,
        f"bucket {bucket}: {restored} object(s) restored, {already} already as before",
    )


def _quarantines_of(undo: dict[str, Any]) -> set[Path]:
    """The quarantine directories an entry's keys were copied to (none on a versioned bucket).

    Only directories named as the faults name them (``.../quarantine/<id>``) are returned, so
    that a hand-edited ledger cannot point the cleanup elsewhere.
    """
    files = [Path(str(record["file"])) for record in undo["keys"].values() if record.get("file")]
    return {file.parent for file in files if file.parent.parent.name == "quarantine"}


def _restore_versioned(s3: Any, bucket: str, key: str, record: dict[str, Any]) -> bool:
    """Remove the one version or delete marker the fault added on top of the recorded one.

    S3 lists a key's versions newest first; the recorded version must be the latest but for
    exactly one newer entry: a delete marker (object loss) or a version (bad deploy).
    """
    with aws_errors("ListObjectVersions", f"list the versions of {key} in bucket {bucket}"):
        page = s3.list_object_versions(Bucket=bucket, Prefix=key)
    versions = [v for v in page.get("Versions", []) if v["Key"] == key]
    markers = [m for m in page.get("DeleteMarkers", []) if m["Key"] == key]
    # Entries written before "null" was recorded carry None for an object older than
    # versioning: on a versioned bucket that can only be S3's null version.
    recorded = record["version_id"] or _NULL_VERSION
    ids = [v["VersionId"] for v in versions]
    if recorded not in ids:
        raise RestoreConflict(f"{key}: its version {recorded} is gone.")
    latest = [item for item in versions + markers if item.get("IsLatest")]
    if latest and latest[0]["VersionId"] == recorded:
        return False
    newer_versions = ids[: ids.index(recorded)]
    if latest and latest[0] in markers and not newer_versions and len(markers) == 1:
        added = latest[0]["VersionId"]
    elif len(newer_versions) == 1 and not any(m.get("IsLatest") for m in markers):
        added = newer_versions[0]
    else:
        raise RestoreConflict(f"{key}: more than the fault's change was written since.")
    with aws_errors("DeleteObject", f"remove the fault's version of {key} in bucket {bucket}"):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=added)
    return True


def _restore_unversioned(s3: Any, bucket: str, key: str, record: dict[str, Any]) -> bool:
    """Put the quarantined bytes and metadata back, unless someone changed the key since."""
    head = _head(s3, bucket, key)
    current = head.get("ETag") if head else None
    if current == record["etag"] and _same_metadata(head, record["metadata"]):
        return False
    fault_left = current is None if record.get("bad_md5") is None else current == record["bad_md5"]
    if not fault_left and not (head and current == record["etag"]):
        raise RestoreConflict(f"{key}: it was changed since the fault (ETag {current}).")
    try:
        body = Path(record["file"]).read_bytes()
    except FileNotFoundError:
        raise RestoreConflict(
            f"{key}: it differs from before the fault and its quarantined copy "
            f"{record['file']} is gone; put the object back from your site's build."
        ) from None
    if hashlib.sha256(body).hexdigest() != record["sha256"]:
        raise RestoreConflict(f"{key}: its quarantined copy {record['file']} is damaged.")
    with aws_errors("PutObject", f"put object {key} back in bucket {bucket}"):
        s3.put_object(Bucket=bucket, Key=key, Body=body, **record["metadata"])
    return True


def _same_metadata(head: dict[str, Any] | None, metadata: dict[str, Any]) -> bool:
    if head is None:
        return False
    return all(head.get(field) == value for field, value in metadata.items()) and json.dumps(
        head.get("Metadata") or {}, sort_keys=True
    ) == json.dumps(metadata.get("Metadata") or {}, sort_keys=True)
