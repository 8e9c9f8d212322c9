"""A digest of the whole target: what must be identical before a fault and after its restore.

It covers every bucket the site uses (the origin bucket and any other bucket a distribution
origin names by its website or REST domain): policy, versioning, website configuration, and
every object version with its bytes and metadata; and the distribution's config. Times that
AWS sets on every write (LastModified) are left out; ETags and version ids are kept, and
which entry of each key is the latest (a version or a delete marker). Any mix of versions
written before versioning (S3's ``"null"`` version), later versions and delete markers reads.
"""

import hashlib
import json
import re
from typing import Any

from chaos_runner.aws import cloudfront_client, error_code, s3_client
from chaos_runner.target import Target

__all__ = ["bucket_state", "distribution_buckets", "target_digest", "target_state"]

_BUCKET_DOMAIN = re.compile(
    r"^(?P<bucket>.+?)\.(s3-website[-.][a-z0-9-]+|s3(\.[a-z0-9-]+)?)\.amazonaws\.com$"
)
#: S3's version id of an object written while its bucket was not versioned.
_NULL_VERSION = "null"
_OBJECT_FIELDS = (
    "ContentType",
    "CacheControl",
    "ContentEncoding",
    "ContentDisposition",
    "ContentLanguage",
    "WebsiteRedirectLocation",
    "Metadata",
    "ETag",
    "ContentLength",
)


def distribution_buckets(config: dict[str, Any]) -> list[str]:
    """The buckets a DistributionConfig's origins name (website or REST endpoint domains)."""
    buckets = []
    for origin in config.get("Origins", {}).get("Items", []):
        match = _BUCKET_DOMAIN.match(str(origin.get("DomainName", "")))
        if match and match["bucket"] not in buckets:
            buckets.append(match["bucket"])
    return buckets


def _optional(call: Any, missing: set[str], **kwargs: Any) -> Any:
    from botocore.exceptions import ClientError

    try:
        return call(**kwargs)
    except ClientError as error:
        if error_code(error) in missing:
            return None
        raise


def bucket_state(s3: Any, bucket: str) -> dict[str, Any]:
    """Policy, versioning, website and every object version (with a hash of its bytes)."""
    policy = _optional(s3.get_bucket_policy, {"NoSuchBucketPolicy"}, Bucket=bucket)
    website = _optional(s3.get_bucket_website, {"NoSuchWebsiteConfiguration"}, Bucket=bucket)
    versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status", "")
    objects: list[dict[str, Any]] = []
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        for marker in page.get("DeleteMarkers", []):
            objects.append(
                {
                    "key": marker["Key"],
                    "version": marker.get("VersionId") or _NULL_VERSION,
                    "latest": bool(marker.get("IsLatest")),
                    "deleted": True,
                }
            )
        for version in page.get("Versions", []):
            # Every version is read by its id, "null" included (S3 takes versionId=null for
            # an object written before versioning, and on a bucket never versioned): a bare
            # GetObject would read the latest version, or fail under a delete marker.
            version_id = version.get("VersionId") or _NULL_VERSION
            answer = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version_id)
            body = answer["Body"].read()
            objects.append(
                {
                    "key": version["Key"],
                    "version": version_id,
                    "latest": bool(version.get("IsLatest")),
                    "sha256": hashlib.sha256(body).hexdigest(),
                    **{field: answer.get(field) for field in _OBJECT_FIELDS},
                }
            )
    objects.sort(key=lambda o: (o["key"], str(o["version"])))
    return {
        "policy": policy["Policy"] if policy else None,
        "website": {k: v for k, v in (website or {}).items() if k != "ResponseMetadata"},
        "versioning": versioning,
        "objects": objects,
    }


def target_state(target: Target) -> dict[str, Any]:
    """Everything the digest covers, as a JSON-safe document (for diffs when digests differ)."""
    state: dict[str, Any] = {"distribution": None, "buckets": {}}
    buckets = [target.origin_bucket] if target.origin_bucket else []
    if target.distribution_id:
        cloudfront = cloudfront_client(target.region, target.endpoint_url)
        config = cloudfront.get_distribution_config(Id=target.distribution_id)
        state["distribution"] = config["DistributionConfig"]
        buckets += [
            b for b in distribution_buckets(dict(config["DistributionConfig"])) if b not in buckets
        ]
    s3 = s3_client(target.region, target.endpoint_url)
    for bucket in buckets:
        state["buckets"][bucket] = bucket_state(s3, bucket)
    return state


def target_digest(target: Target) -> str:
    """SHA-256 of :func:`target_state`, canonical JSON."""
    canonical = json.dumps(target_state(target), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
