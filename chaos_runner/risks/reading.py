"""Read the site for a review: only Get, List and Describe calls, nothing written.

The distribution and the target's bucket must be readable: an unknown distribution id or
a missing bucket is a :class:`ConfigurationError`, credentials that cannot read them an
:class:`AwsCallError` (both exit 2 in the CLI). Every other part (other origins' buckets,
cache policies, invalidations, alarms, the certificate, DNS) that AWS refuses to show is
a :class:`NotRead` with AWS's answer, which the checks report as "not checked"; an AWS
that cannot be reached at all stops the review (an :class:`AwsCallError` without a code).
"""

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from chaos_runner._errors import AwsCallError, ConfigurationError
from chaos_runner.aws import SessionClients, aws_errors
from chaos_runner.digest import distribution_buckets
from chaos_runner.risks.facts import (
    AlarmFacts,
    BucketFacts,
    CertificateFacts,
    DistributionFacts,
    DnsName,
    DnsRecord,
    InvalidationFacts,
    InvalidationHistory,
    NotRead,
    SiteFacts,
    Ttls,
    distribution_facts,
)
from chaos_runner.risks.invalidations import month_start
from chaos_runner.target import Target, is_loopback_host
from chaos_runner.values import list_of, mapping, number, text

if TYPE_CHECKING:
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_s3 import S3Client

__all__ = [
    "ALARM_METRICS",
    "HISTORY_MONTHS",
    "MAX_INVALIDATIONS_READ",
    "READ_ACTIONS",
    "read_site",
    "site_host",
]

T = TypeVar("T")

#: Every AWS action a review calls (the IAM policy of docs/risks.md grants exactly these).
READ_ACTIONS = (
    "cloudfront:GetDistribution",
    "cloudfront:GetCachePolicy",
    "cloudfront:ListInvalidations",
    "cloudfront:GetInvalidation",
    "s3:GetBucketVersioning",
    "cloudwatch:DescribeAlarms",
    "acm:DescribeCertificate",
    "route53:ListHostedZones",
    "route53:ListResourceRecordSets",
)
#: CloudFront publishes its metrics, and so its alarms live, in us-east-1 only.
METRICS_REGION = "us-east-1"
#: The metrics an alarm may watch to tell of 5xx errors at the edge.
ALARM_METRICS = ("5xxErrorRate", "TotalErrorRate")
#: The invalidation history read: this calendar month and the ones before it.
HISTORY_MONTHS = 3
#: The record types that lead a host name somewhere.
_ADDRESS_RECORDS = ("A", "AAAA", "CNAME")
#: At most this many invalidations are read (one GetInvalidation each), newest first.
MAX_INVALIDATIONS_READ = 300


def read_site(target: Target, now: datetime | None = None) -> SiteFacts:
    """Everything a review needs of ``target`` (its distribution and bucket are required)."""
    target.require("CHAOS_DISTRIBUTION_ID", "CHAOS_ORIGIN_BUCKET")
    now = now or datetime.now(UTC)
    aws = SessionClients(target.region, target.endpoint_url)
    cloudfront = aws.cloudfront()
    distribution, raw = _distribution(cloudfront, target.distribution_id)
    buckets = _buckets(aws.s3(), target.origin_bucket, raw)
    host = site_host(target.site_url, distribution)
    names = _host_names(host, distribution)
    return SiteFacts(
        distribution=distribution,
        site_host=host,
        buckets=buckets,
        alarms=_optional(lambda: _alarms(aws.cloudwatch(METRICS_REGION), distribution.id)),
        certificate=_certificate(aws, distribution),
        dns=_optional(lambda: _dns(aws.route53(), names)) if names else (),
        invalidations=_optional(lambda: _invalidations(cloudfront, distribution.id, now)),
        read_at=now,
        cache_policies=_cache_policies(cloudfront, distribution),
    )


def site_host(site_url: str, distribution: DistributionFacts) -> str:
    """The host name of CHAOS_SITE_URL when it is the site's own ("" for loopback, an
    address, or the distribution's *.cloudfront.net name)."""
    from urllib.parse import urlsplit

    try:
        host = (urlsplit(site_url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""
    if not host or is_loopback_host(host) or host == distribution.domain_name:
        return ""
    if all(part.isdigit() for part in host.split(".")) or ":" in host:
        return ""  # an IP address has no DNS record to check
    return host


def _optional(read: Callable[[], T]) -> T | NotRead:
    """``read()``, or NotRead when AWS refused it; an unreachable AWS stops the review."""
    try:
        return read()
    except AwsCallError as error:
        if error.code is None:
            raise
        return NotRead(str(error))


def _distribution(
    cloudfront: "CloudFrontClient", identifier: str
) -> tuple[DistributionFacts, Mapping[str, Any]]:
    try:
        with aws_errors("GetDistribution", f"read distribution {identifier}"):
            answer = cloudfront.get_distribution(Id=identifier)
    except AwsCallError as error:
        if error.code == "NoSuchDistribution":
            raise ConfigurationError(
                f"No CloudFront distribution {identifier}: GetDistribution answered "
                "NoSuchDistribution. Check CHAOS_DISTRIBUTION_ID, and that the credentials "
                "are those of the account that owns it."
            ) from error
        raise
    distribution = mapping(answer.get("Distribution"))
    return distribution_facts(distribution), mapping(distribution.get("DistributionConfig"))


def _buckets(s3: "S3Client", bucket: str, config: Mapping[str, Any]) -> tuple[BucketFacts, ...]:
    """The target's bucket (it must exist), then every other bucket an origin names."""
    names = [bucket]
    names += [name for name in distribution_buckets(dict(config)) if name not in names]
    found = []
    for name in names:
        try:
            with aws_errors("GetBucketVersioning", f"read the versioning of bucket {name}"):
                status = text(s3.get_bucket_versioning(Bucket=name).get("Status"))
        except AwsCallError as error:
            if name == bucket:
                if error.code == "NoSuchBucket":
                    raise ConfigurationError(
                        f"No bucket {name}: GetBucketVersioning answered NoSuchBucket. Check "
                        "CHAOS_ORIGIN_BUCKET (the bucket the site is deployed to)."
                    ) from error
                raise
            if error.code is None:
                raise
            missing = error.code == "NoSuchBucket"
            found.append(BucketFacts(name, not missing, "", "" if missing else str(error)))
            continue
        found.append(BucketFacts(name, True, status))
    return tuple(found)


def _cache_policies(
    cloudfront: "CloudFrontClient", distribution: DistributionFacts
) -> dict[str, Ttls | NotRead]:
    wanted = {b.cache_policy_id for b in distribution.serving_behaviours() if b.cache_policy_id}

    def read(policy_id: str) -> Ttls:
        with aws_errors("GetCachePolicy", f"read cache policy {policy_id}"):
            answer = cloudfront.get_cache_policy(Id=policy_id)
        config = mapping(mapping(answer.get("CachePolicy")).get("CachePolicyConfig"))
        return Ttls(
            min_s=number(config.get("MinTTL")) or 0.0,
            default_s=number(config.get("DefaultTTL")) or 0.0,
            max_s=number(config.get("MaxTTL")) or 0.0,
        )

    return {policy_id: _optional(partial(read, policy_id)) for policy_id in sorted(wanted)}


def _alarms(client: "CloudWatchClient", distribution_id: str) -> tuple[AlarmFacts, ...]:
    found = []
    with aws_errors("DescribeAlarms", f"read the CloudWatch alarms in {METRICS_REGION}"):
        for page in client.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
            for alarm in page.get("MetricAlarms", ()):
                metric = _watched_metric(mapping(alarm), distribution_id)
                if metric:
                    notifies = bool(alarm.get("ActionsEnabled")) and bool(alarm.get("AlarmActions"))
                    state = text(alarm.get("StateValue"))
                    found.append(AlarmFacts(text(alarm.get("AlarmName")), metric, state, notifies))
    return tuple(found)


def _watched_metric(alarm: Mapping[str, Any], distribution_id: str) -> str:
    """The error-rate metric of the distribution the alarm watches ("" if none): the alarm's
    own metric, or one of a metric-math alarm's."""
    metrics = [alarm] + [
        mapping(mapping(query).get("MetricStat")).get("Metric")
        for query in list_of(alarm.get("Metrics"))
    ]
    for metric in map(mapping, metrics):
        dimensions = {
            text(mapping(d).get("Name")): text(mapping(d).get("Value"))
            for d in list_of(metric.get("Dimensions"))
        }
        if (
            metric.get("Namespace") == "AWS/CloudFront"
            and metric.get("MetricName") in ALARM_METRICS
            and dimensions.get("DistributionId") == distribution_id
        ):
            return text(metric.get("MetricName"))
    return ""


def _certificate(
    aws: SessionClients, distribution: DistributionFacts
) -> CertificateFacts | NotRead | None:
    arn = distribution.acm_certificate_arn
    if not arn:
        return None
    parts = arn.split(":")
    region = parts[3] if len(parts) > 3 and parts[3] else "us-east-1"
    client = aws.acm(region)

    def read() -> CertificateFacts:
        with aws_errors("DescribeCertificate", f"describe certificate {arn}"):
            found = mapping(client.describe_certificate(CertificateArn=arn).get("Certificate"))
        not_after = found.get("NotAfter")
        return CertificateFacts(
            arn=arn,
            domain_name=text(found.get("DomainName")),
            type=text(found.get("Type")),
            status=text(found.get("Status")),
            not_after=not_after.astimezone(UTC) if isinstance(not_after, datetime) else None,
            renewal_eligibility=text(found.get("RenewalEligibility")),
            in_use_by=tuple(text(user) for user in list_of(found.get("InUseBy"))),
            renewal_status=text(mapping(found.get("RenewalSummary")).get("RenewalStatus")),
        )

    return _optional(read)


def _host_names(host: str, distribution: DistributionFacts) -> list[str]:
    return list(dict.fromkeys([*([host] if host else []), *distribution.aliases]))


def _dns(client: "Route53Client", names: list[str]) -> tuple[DnsName, ...]:
    zones: list[tuple[str, str]] = []
    with aws_errors("ListHostedZones", "list the Route 53 hosted zones"):
        for page in client.get_paginator("list_hosted_zones").paginate():
            for zone in page.get("HostedZones", ()):
                if not mapping(zone.get("Config")).get("PrivateZone"):
                    zones.append((text(zone.get("Name")).rstrip(".").lower(), text(zone.get("Id"))))
    found = []
    for name in names:
        holding = [z for z in zones if name == z[0] or name.endswith("." + z[0])]
        if not holding:
            found.append(DnsName(name, ""))
            continue
        zone_name, zone_id = max(holding, key=lambda z: len(z[0]))
        try:
            found.append(DnsName(name, zone_name, _records(client, zone_id, name)))
        except AwsCallError as error:
            if error.code is None:
                raise
            found.append(DnsName(name, zone_name, (), str(error)))
    return tuple(found)


def _records(client: "Route53Client", zone_id: str, name: str) -> tuple[DnsRecord, ...]:
    with aws_errors("ListResourceRecordSets", f"read the records of {name}"):
        answer = client.list_resource_record_sets(
            HostedZoneId=zone_id, StartRecordName=name, MaxItems="100"
        )
    records = []
    for record in map(mapping, list_of(answer.get("ResourceRecordSets"))):
        kind = text(record.get("Type"))
        named = text(record.get("Name")).rstrip(".").lower()
        if named != name or kind not in _ADDRESS_RECORDS:
            continue
        alias = mapping(record.get("AliasTarget"))
        if alias:
            records.append(DnsRecord(kind, text(alias.get("DNSName")).rstrip(".").lower(), True))
        else:
            values = [text(mapping(v).get("Value")) for v in list_of(record.get("ResourceRecords"))]
            target = values[0].rstrip(".").lower() if kind == "CNAME" and values else ""
            records.append(DnsRecord(kind, target, False))
    return tuple(records)


def _invalidations(
    cloudfront: "CloudFrontClient", distribution_id: str, now: datetime
) -> InvalidationHistory:
    since = month_start(now, HISTORY_MONTHS - 1)
    listed = sorted(_listed(cloudfront, distribution_id, since), reverse=True)
    read = []
    for created, identifier in listed[:MAX_INVALIDATIONS_READ]:
        with aws_errors("GetInvalidation", f"read invalidation {identifier}"):
            answer = cloudfront.get_invalidation(DistributionId=distribution_id, Id=identifier)
        batch = mapping(mapping(answer.get("Invalidation")).get("InvalidationBatch"))
        paths = tuple(text(path) for path in list_of(mapping(batch.get("Paths")).get("Items")))
        read.append(InvalidationFacts(identifier, created, paths))
    return InvalidationHistory(
        since, tuple(reversed(read)), max(0, len(listed) - MAX_INVALIDATIONS_READ)
    )


def _listed(
    cloudfront: "CloudFrontClient", distribution_id: str, since: datetime
) -> Iterator[tuple[datetime, str]]:
    with aws_errors("ListInvalidations", f"list the invalidations of {distribution_id}"):
        for page in cloudfront.get_paginator("list_invalidations").paginate(
            DistributionId=distribution_id
        ):
            for item in list_of(mapping(page.get("InvalidationList")).get("Items")):
                created = mapping(item).get("CreateTime")
                if isinstance(created, datetime) and created.astimezone(UTC) >= since:
                    yield created.astimezone(UTC), text(mapping(item).get("Id"))
