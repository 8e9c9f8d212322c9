"""Faults of the S3 origin's bucket policy.

``deny_origin_reads``: an origin outage by bucket policy. The bucket policy is replaced by
one that denies ``s3:GetObject`` to everyone, so CloudFront's origin fetches fail with 403
while objects already in the edge caches are still served. The prior policy (or its
absence) is kept in the ledger and restored byte for byte.

A fault acts only on the target's buckets (:func:`target_buckets`): the ledger keys its
entry to the target, and the digest that proves a restore covers those buckets only.
"""

import json
from typing import Any

from chaos_runner._errors import AwsCallError, ConfigurationError, FaultNotVerified, RestoreConflict
from chaos_runner.activity import activity, target_ref
from chaos_runner.arguments import seconds
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
    not_given,
    on,
    restores,
)
from chaos_runner.ledger import EntryState, Ledger, LedgerEntry, RestoreOutcome, restorer
from chaos_runner.target import Target
from chaos_runner.waiter import Wait

__all__ = ["CRASHPOINTS", "deny_origin_reads", "restore_bucket_policy", "target_buckets"]

#: Where a test may kill the runner (see chaos_runner.crashpoint).
CRASHPOINTS = ("deny_origin_reads:after-ledger-open", "deny_origin_reads:after-inject")

_NO_POLICY_CODES = {"NoSuchBucketPolicy"}


def target_buckets(target: Target) -> list[str]:
    """The buckets a fault may act on: the origin bucket, then every bucket the target's
    distribution names as an origin (website or REST endpoint), without repeats.

    Reads the distribution's config (one GetDistributionConfig) when the target names one;
    call it only when the bucket at hand is not already the origin bucket.
    """
    buckets = [target.origin_bucket] if target.origin_bucket else []
    if target.distribution_id:
        cloudfront = cloudfront_client(target.region, target.endpoint_url)
        with aws_errors(
            "GetDistributionConfig", f"read the config of distribution {target.distribution_id}"
        ):
            answer = cloudfront.get_distribution_config(Id=target.distribution_id)
        named = distribution_buckets(dict(answer["DistributionConfig"]))
        buckets += [bucket for bucket in named if bucket not in buckets]
    return buckets


def _own_bucket(target: Target, bucket: str) -> str:
    """``bucket`` if it is one of the target's buckets; empty means the origin bucket."""
    if not bucket or bucket == target.origin_bucket:
        if not target.origin_bucket:
            target.require("CHAOS_ORIGIN_BUCKET")
        return target.origin_bucket
    buckets = target_buckets(target)
    if bucket in buckets:
        return bucket
    raise ConfigurationError(
        f"deny_origin_reads acts only on the target's buckets "
        f"({', '.join(buckets) or 'none is set'}: the origin bucket, then the buckets its "
        "distribution names as origins), so that the ledger and the restore cover what it "
        f"changes; got bucket {bucket!r}. Leave `bucket` out to use the origin bucket, pass "
        f"one of those, or point CHAOS_ORIGIN_BUCKET at {bucket}."
    )


def deny_policy(bucket: str) -> str:
    """A bucket policy that denies every object read, to everyone."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ChaosToolkitCdnOriginOutage",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    )


def _read_policy(s3: Any, bucket: str) -> str | None:
    from botocore.exceptions import ClientError

    with aws_errors("GetBucketPolicy", f"read the policy of bucket {bucket}"):
        try:
            policy: str = s3.get_bucket_policy(Bucket=bucket)["Policy"]
        except ClientError as error:
            if error_code(error) in _NO_POLICY_CODES:
                return None
            raise
    return policy


def _write_policy(s3: Any, bucket: str, policy: str | None) -> None:
    if policy is None:
        with aws_errors("DeleteBucketPolicy", f"delete the policy of bucket {bucket}"):
            s3.delete_bucket_policy(Bucket=bucket)
    else:
        with aws_errors("PutBucketPolicy", f"set the policy of bucket {bucket}"):
            s3.put_bucket_policy(Bucket=bucket, Policy=policy)


def _same_policy(left: str | None, right: str | None) -> bool:
    if left is None or right is None:
        return left is right
    try:
        return bool(json.loads(left) == json.loads(right))
    except ValueError:
        return left == right


def _probe_key(s3: Any, bucket: str, verify_key: str) -> str:
    """The object whose anonymous read proves the outage: ``verify_key`` or the first key."""
    if verify_key:
        return verify_key.lstrip("/")
    with aws_errors("ListObjectsV2", f"list the objects of bucket {bucket}"):
        listing = s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
    contents = listing.get("Contents") or []
    if not contents:
        raise ConfigurationError(
            f"Bucket {bucket} holds no object, so an origin outage cannot be observed. "
            "Deploy the site first, or pass verify_key."
        )
    return str(contents[0]["Key"])


def _anonymous_status(anonymous: Any, bucket: str, key: str) -> int:
    """The HTTP status a visitor gets reading ``key`` straight from the origin.

    A one-byte ranged GET, not a HEAD: moto denies every anonymous HEAD whatever the policy,
    while on AWS both need s3:GetObject.
    """
    from botocore.exceptions import ClientError

    try:
        response = anonymous.get_object(Bucket=bucket, Key=key, Range="bytes=0-0")
    except ClientError as error:
        return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    response["Body"].close()
    return 200


def _deny_reads(
    target: Target, bucket: str, verify_key: str, verify_timeout: float, description: str
) -> dict[str, Any]:
    """Record, apply and verify a deny-everything policy on ``bucket``."""
    s3 = s3_client(target.region, target.endpoint_url)
    anonymous = s3_client(target.region, target.endpoint_url, unsigned=True)
    key = _probe_key(s3, bucket, verify_key)
    readable_before = _anonymous_status(anonymous, bucket, key)
    prior = _read_policy(s3, bucket)
    injected = deny_policy(bucket)
    ledger = Ledger()
    entry = ledger.open(
        "bucket_policy",
        target_ref(target),
        {"bucket": bucket, "prior_policy": prior, "injected_policy": injected},
        description,
    )
    crashpoint("deny_origin_reads:after-ledger-open")
    _write_policy(s3, bucket, injected)
    crashpoint("deny_origin_reads:after-inject")
    waited = Wait(delay=0.2, timeout=verify_timeout).until(
        lambda: _anonymous_status(anonymous, bucket, key), lambda status: status == 403
    )
    if not waited.reached:
        outcome = restore_bucket_policy(entry)
        ledger.mark(entry.id, outcome.state, outcome.detail)
        raise FaultNotVerified(
            f"The deny policy was set on bucket {bucket}, but an anonymous read of {key} "
            f"still answered {waited.last} after {waited.seconds:.1f} s (expected 403). The "
            "policy was restored; the experiment is inconclusive."
        )
    return {
        "ledger_entry": entry.id,
        "bucket": bucket,
        "verified_with": key,
        "status_before": readable_before,
        "status_after": waited.last,
        "verified_in_seconds": round(waited.seconds, 3),
        "had_policy": prior is not None,
    }


@declares(
    "DenyOriginReads",
    Permission("s3:GetBucketPolicy", Resource.BUCKET, "read the policy it replaces"),
    Permission("s3:PutBucketPolicy", Resource.BUCKET, "set the deny policy"),
    Permission(
        "s3:ListBucket",
        Resource.BUCKET,
        "pick the object whose anonymous read verifies it",
        (not_given("verify_key"),),
    ),
    Permission(
        "cloudfront:GetDistributionConfig",
        Resource.DISTRIBUTION,
        "check that the bucket is one of the distribution's origins",
        (on("bucket other than the origin bucket"),),
    ),
    mutation=Mutation(
        kind="bucket_policy",
        resource=Resource.BUCKET,
        what="the bucket policy of {bucket}",
        change="replaced by one that denies s3:GetObject on every object to everyone (the "
        "prior policy, or its absence, is kept in the ledger)",
        blast_radius="every read of the bucket's objects: each request to {domains} that "
        "misses the edge caches answers 403 (pages already cached are served until they "
        "expire), and so does every other reader of the bucket (its website endpoint, other "
        "distributions or tools)",
        reversible=True,
        restore="the prior policy is put back as it was (removed if there was none); a "
        "policy someone else set since is left alone and reported",
        takes_effect=Propagation.S3_POLICY,
    ),
    names=Names(bucket="bucket"),
)
@activity
def deny_origin_reads(
    bucket: str = "",
    verify_key: str = "",
    verify_timeout: float = 30.0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Deny every read of the origin bucket (an origin outage), verified by an anonymous read.

    ``bucket`` defaults to CHAOS_ORIGIN_BUCKET and may only be another bucket the target's
    distribution names as an origin. The outage is verified by reading ``verify_key``
    (default: the first object of the bucket) anonymously from the origin, until it answers
    403 or ``verify_timeout`` seconds pass; if it never does, the policy is restored at once
    and the activity fails (the experiment is inconclusive).
    """
    verify_timeout = seconds("verify_timeout", verify_timeout, 600)
    target = Target.resolve(configuration)
    bucket = _own_bucket(target, str(bucket or "").strip())
    description = f"origin outage: bucket policy of {bucket} denies s3:GetObject"
    return {
        "fault": "deny_origin_reads",
        **_deny_reads(target, bucket, verify_key, verify_timeout, description),
    }


@restorer("bucket_policy")
@restores(
    "bucket_policy",
    Permission("s3:GetBucketPolicy", Resource.BUCKET, "read the policy, to undo only the fault's"),
    Permission("s3:PutBucketPolicy", Resource.BUCKET, "put the prior policy back"),
    Permission(
        "s3:DeleteBucketPolicy", Resource.BUCKET, "remove the deny policy if none was before"
    ),
)
def restore_bucket_policy(entry: LedgerEntry) -> RestoreOutcome:
    """Put back the bucket policy the fault replaced (or delete it if there was none).

    Idempotent: a policy already equal to the prior one is left as it is. Guarded: a policy
    that is neither the injected one nor the prior one was set by someone else since the
    fault, and is left alone (RestoreConflict).
    """
    bucket = str(entry.undo["bucket"])
    prior: str | None = entry.undo.get("prior_policy")
    injected: str | None = entry.undo.get("injected_policy")
    target = entry.target
    s3 = s3_client(target["region"], target["endpoint_url"])
    current = _read_policy(s3, bucket)
    if current == prior:
        return RestoreOutcome(EntryState.RESTORED, f"bucket policy of {bucket} already as before")
    if not _same_policy(current, injected) and not _same_policy(current, prior):
        raise RestoreConflict(
            f"The policy of bucket {bucket} was changed since the outage fault (it is "
            "neither the deny policy nor the one before), so it was left as it is. Compare "
            f"it with the prior policy in the ledger entry {entry.id} and fix it by hand."
        )
    _write_policy(s3, bucket, prior)
    after = _read_policy(s3, bucket)
    if after != prior:
        raise AwsCallError(
            f"The prior policy of bucket {bucket} was written back, but reading it again "
            "gave a different document.",
            operation="GetBucketPolicy",
        )
    what = "restored the prior policy" if prior is not None else "removed the deny policy"
    return RestoreOutcome(EntryState.RESTORED, f"bucket {bucket}: {what}")
