"""What the CloudFront API says of the distribution: deployment state, invalidations.

Both probes read only (``GetDistribution``, ``ListInvalidations``, ``GetInvalidation``)
and work on the sandbox (moto) and on AWS alike. Statuses are normalised to AWS's
spelling: moto answers ``COMPLETED`` for an invalidation where AWS answers ``Completed``.

``config_sha256`` is the SHA-256 of the distribution config as canonical JSON (sorted
keys, no ``CallerReference``): equal digests before and after a run show the config came
back as it was.

Examples::

        - type: probe
          name: the-distribution-is-deployed
          tolerance: {type: regex, target: status, pattern: "^Deployed$"}
          provider: {type: python, module: probes.cloudfront, func: distribution_status}
        - type: probe
          name: the-last-invalidation-completed
          tolerance: {type: regex, target: status, pattern: "^Completed$"}
          provider: {type: python, module: probes.cloudfront, func: invalidation_status}
"""

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from chaos_runner import AwsCallError
from chaos_runner.activity import activity
from chaos_runner.aws import aws_errors, cloudfront_client
from chaos_runner.target import Target

if TYPE_CHECKING:
    from mypy_boto3_cloudfront import CloudFrontClient

__all__ = [
    "DistributionStatus",
    "InvalidationStatus",
    "distribution_status",
    "invalidation_status",
]

Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None

_STATUSES = {"completed": "Completed", "inprogress": "InProgress", "deployed": "Deployed"}


class DistributionStatus(TypedDict):
    """The distribution as the API describes it."""

    id: str
    status: str
    deployed: bool
    enabled: bool
    domain_name: str
    aliases: list[str]
    origins: list[str]
    last_modified: str
    etag: str
    config_sha256: str
    invalidations_in_progress: int


class InvalidationStatus(TypedDict):
    """One invalidation of the distribution."""

    distribution_id: str
    id: str
    status: str
    completed: bool
    paths: list[str]
    created_at: str


def normalised_status(status: str) -> str:
    """A CloudFront status in AWS's spelling (``COMPLETED`` -> ``Completed``)."""
    return _STATUSES.get(status.replace("_", "").replace(" ", "").lower(), status)


@activity
def distribution_status(
    distribution_id: str = "",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> DistributionStatus:
    """State of the distribution (default ``CHAOS_DISTRIBUTION_ID``) and a config digest."""
    target, distribution_id = _distribution(distribution_id, configuration)
    cloudfront = cloudfront_client(target.region, target.endpoint_url)
    with aws_errors("GetDistribution", f"describe distribution {distribution_id}"):
        answer = cloudfront.get_distribution(Id=distribution_id)
    distribution = answer["Distribution"]
    config: dict[str, Any] = dict(distribution["DistributionConfig"])
    status = normalised_status(str(distribution["Status"]))
    return DistributionStatus(
        id=distribution_id,
        status=status,
        deployed=status == "Deployed",
        enabled=bool(config.get("Enabled")),
        domain_name=str(distribution.get("DomainName", "")),
        aliases=[str(alias) for alias in (config.get("Aliases") or {}).get("Items") or ()],
        origins=[str(origin["Id"]) for origin in (config.get("Origins") or {}).get("Items") or ()],
        last_modified=_iso(distribution.get("LastModifiedTime")),
        etag=str(answer.get("ETag", "")),
        config_sha256=config_digest(config),
        invalidations_in_progress=int(distribution.get("InProgressInvalidationBatches") or 0),
    )


@activity
def invalidation_status(
    invalidation_id: str = "",
    distribution_id: str = "",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> InvalidationStatus:
    """State of an invalidation; without ``invalidation_id``, of the newest one."""
    target, distribution_id = _distribution(distribution_id, configuration)
    cloudfront = cloudfront_client(target.region, target.endpoint_url)
    chosen = invalidation_id or _newest_invalidation(cloudfront, distribution_id)
    with aws_errors("GetInvalidation", f"describe invalidation {chosen} of {distribution_id}"):
        invalidation = cloudfront.get_invalidation(DistributionId=distribution_id, Id=chosen)[
            "Invalidation"
        ]
    status = normalised_status(str(invalidation["Status"]))
    batch = invalidation.get("InvalidationBatch") or {}
    return InvalidationStatus(
        distribution_id=distribution_id,
        id=str(invalidation["Id"]),
        status=status,
        completed=status == "Completed",
        paths=[str(path) for path in (batch.get("Paths") or {}).get("Items") or ()],
        created_at=_iso(invalidation.get("CreateTime")),
    )


def config_digest(config: dict[str, Any]) -> str:
    """SHA-256 of a distribution config as canonical JSON, ``CallerReference`` left out."""
    kept = {key: value for key, value in config.items() if key != "CallerReference"}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


def _distribution(distribution_id: str, configuration: Configuration) -> tuple[Target, str]:
    target = Target.resolve(configuration)
    if not distribution_id:
        target.require("CHAOS_DISTRIBUTION_ID")
    return target, distribution_id or target.distribution_id


def _newest_invalidation(cloudfront: "CloudFrontClient", distribution_id: str) -> str:
    newest: tuple[datetime, str] | None = None
    paginator = cloudfront.get_paginator("list_invalidations")
    with aws_errors("ListInvalidations", f"list the invalidations of {distribution_id}"):
        for page in paginator.paginate(DistributionId=distribution_id):
            for item in page["InvalidationList"].get("Items") or ():
                candidate = (item["CreateTime"], str(item["Id"]))
                if newest is None or candidate[0] > newest[0]:
                    newest = candidate
    if newest is None:
        raise AwsCallError(
            f"Distribution {distribution_id} has no invalidation yet, so there is no status "
            "to report. Pass invalidation_id, or create an invalidation first.",
            operation="ListInvalidations",
        )
    return newest[1]


def _iso(moment: object) -> str:
    return moment.isoformat() if isinstance(moment, datetime) else str(moment or "")
