"""What Route 53 says of the site's host name: is it an alias of this distribution?

:func:`alias` reads Route 53 (``ListHostedZones``, ``ListResourceRecordSets``) and
CloudFront (``GetDistribution``) and changes nothing; it works on the sandbox (moto) and
on AWS alike. It does not resolve names: what it reports is what the hosted zone would
answer, which is what a mistaken ``change-resource-record-sets`` changes first.

Which name: ``host``, else the host of ``CHAOS_SITE_URL`` when it is a name (not an
address on loopback), else the distribution's first alternate domain name (its
``Aliases``: on the sandbox, ``www.chaos-demo.test``). Which zone: ``hosted_zone_id``, else
the public hosted zone whose name is the longest suffix of the host.

The host points at the distribution when its A record (and every other A, AAAA or CNAME
record it has) is an alias whose target is the distribution's domain name with CloudFront's
hosted zone id ``Z2FDTNDATAQYW2``, or a CNAME to that domain name. ``record_types`` names
the types that must exist (``"A"`` by default; ``"A,AAAA"`` for a site that serves IPv6).
When it does not, ``points_to`` says where the records point instead.

Example::

        - type: probe
          name: the-site-name-points-at-the-distribution
          tolerance:
            type: probe
            name: alias-is-right
            provider: {type: python, module: probes.http, func: bounds_held, arguments: {}}
          provider:
            type: python
            module: probes.dns
            func: alias
            arguments: {record_types: "A,AAAA"}
"""

from typing import TYPE_CHECKING, Any, Literal, TypedDict
from urllib.parse import urlsplit

from chaoslib.exceptions import ActivityFailed

from chaos_runner import ConfigurationError
from chaos_runner.activity import activity
from chaos_runner.aws import aws_errors, cloudfront_client, route53_client
from chaos_runner.target import Target, is_loopback_host

if TYPE_CHECKING:
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_route53.type_defs import ResourceRecordSetOutputTypeDef

__all__ = ["AliasStatus", "DnsRecord", "alias", "expect_alias"]

Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None

#: The hosted zone id of every CloudFront distribution as an alias target.
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"
#: The record types that route a name, and so are checked.
_ROUTING_TYPES = ("A", "AAAA", "CNAME")
_MAX_ZONES = 10_000


class DnsRecord(TypedDict):
    """One record of the host: where it points and whether that is the distribution."""

    type: str
    kind: Literal["alias", "cname", "records"]
    #: The alias target or CNAME (no trailing dot), or the records' values joined by ", ".
    points_to: str
    #: The alias target's hosted zone id ("" for other kinds).
    target_zone_id: str
    here: bool


class AliasStatus(TypedDict):
    """The host's records in its hosted zone, judged against the distribution."""

    host: str
    hosted_zone_id: str
    zone_name: str
    distribution_id: str
    distribution_domain: str
    records: list[DnsRecord]
    #: Where the host's records point, each once (the distribution's domain when right).
    points_to: list[str]
    ok: bool
    failures: list[str]


@activity
def alias(
    host: str = "",
    record_types: str = "A",
    hosted_zone_id: str = "",
    distribution_id: str = "",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> AliasStatus:
    """Whether Route 53 routes the site's host name to this distribution.

    ``ok`` is true when every type of ``record_types`` (comma-separated, default ``"A"``)
    exists for ``host`` and every A, AAAA or CNAME record of ``host`` points at the
    distribution (default ``CHAOS_DISTRIBUTION_ID``); ``failures`` and ``points_to`` say
    what is wrong and where the name goes instead.
    """
    target = Target.resolve(configuration)
    if not distribution_id:
        target.require("CHAOS_DISTRIBUTION_ID")
    distribution_id = distribution_id or target.distribution_id
    required = _types(record_types)
    domain, aliases = _distribution(target, distribution_id)
    name = _host(host, target, aliases, distribution_id)
    route53 = route53_client(target.region, target.endpoint_url)
    zone_id, zone_name = _zone(route53, name, hosted_zone_id)
    records = [_record(item, domain) for item in _records_of(route53, zone_id, name)]
    return _judged(
        AliasStatus(
            host=name,
            hosted_zone_id=zone_id,
            zone_name=zone_name,
            distribution_id=distribution_id,
            distribution_domain=domain,
            records=records,
            points_to=list(dict.fromkeys(record["points_to"] for record in records)),
            ok=False,
            failures=[],
        ),
        required,
    )


@activity
def expect_alias(
    host: str = "",
    record_types: str = "A",
    hosted_zone_id: str = "",
    distribution_id: str = "",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> AliasStatus:
    """Like :func:`alias`, but raise ``ActivityFailed`` unless the host points at the
    distribution, naming where it points instead."""
    status = alias(host, record_types, hosted_zone_id, distribution_id, configuration, secrets)
    if not status["ok"]:
        raise ActivityFailed(
            f"Expected {status['host']} to be an alias of distribution "
            f"{status['distribution_id']} ({status['distribution_domain']}), but: "
            f"{' '.join(status['failures'])}"
        )
    return status


def _judged(status: AliasStatus, required: list[str]) -> AliasStatus:
    failures = []
    present = {record["type"] for record in status["records"]}
    missing = [kind for kind in required if kind not in present and "CNAME" not in present]
    if missing:
        failures.append(
            f"{status['host']} has no {' or '.join(missing)} record in zone "
            f"{status['zone_name']} ({status['hosted_zone_id']})."
        )
    for record in status["records"]:
        if not record["here"]:
            where = record["points_to"]
            if record["kind"] == "alias":
                where += f" (hosted zone {record['target_zone_id']})"
            failures.append(
                f"Its {record['type']} {record['kind']} points to {where}, not to "
                f"{status['distribution_domain']}."
            )
    status["failures"] = failures
    status["ok"] = not failures
    return status


def _record(item: "ResourceRecordSetOutputTypeDef", domain: str) -> DnsRecord:
    kind = str(item["Type"])
    target = item.get("AliasTarget")
    if target is not None:
        points_to = _bare(target["DNSName"])
        zone = str(target["HostedZoneId"])
        here = points_to == domain and zone == CLOUDFRONT_ZONE_ID
        return DnsRecord(
            type=kind, kind="alias", points_to=points_to, target_zone_id=zone, here=here
        )
    values = [_bare(value["Value"]) for value in item.get("ResourceRecords") or ()]
    if kind == "CNAME":
        cname = values[0] if values else ""
        return DnsRecord(
            type=kind, kind="cname", points_to=cname, target_zone_id="", here=cname == domain
        )
    return DnsRecord(
        type=kind, kind="records", points_to=", ".join(values), target_zone_id="", here=False
    )


def _distribution(target: Target, distribution_id: str) -> tuple[str, list[str]]:
    """The distribution's domain name and its alternate domain names."""
    cloudfront = cloudfront_client(target.region, target.endpoint_url)
    with aws_errors("GetDistribution", f"describe distribution {distribution_id}"):
        distribution = cloudfront.get_distribution(Id=distribution_id)["Distribution"]
    aliases = distribution["DistributionConfig"].get("Aliases", {}).get("Items") or []
    return _bare(distribution["DomainName"]), [_bare(name) for name in aliases]


def _host(host: str, target: Target, aliases: list[str], distribution_id: str) -> str:
    if host.strip():
        return _bare(host)
    site = urlsplit(target.site_url).hostname if target.site_url else None
    if site and not is_loopback_host(site) and not _is_address(site):
        return _bare(site)
    if aliases:
        return aliases[0]
    raise ConfigurationError(
        f"Which host name? Distribution {distribution_id} has no alternate domain name "
        "(Aliases) and CHAOS_SITE_URL names no host; pass host, such as www.example.com."
    )


def _zone(route53: "Route53Client", host: str, zone_id: str) -> tuple[str, str]:
    """The hosted zone to read: the one given, else the public zone of the longest suffix."""
    if zone_id:
        with aws_errors("GetHostedZone", f"describe hosted zone {zone_id}"):
            zone = route53.get_hosted_zone(Id=zone_id)["HostedZone"]
        return _zone_id(zone["Id"]), _bare(zone["Name"])
    best: tuple[str, str] | None = None
    paginator = route53.get_paginator("list_hosted_zones")
    with aws_errors("ListHostedZones", f"list the hosted zones to find {host}'s"):
        for page in paginator.paginate(PaginationConfig={"MaxItems": _MAX_ZONES}):
            for zone in page["HostedZones"]:
                name = _bare(zone["Name"])
                private = bool((zone.get("Config") or {}).get("PrivateZone"))
                if private or not (host == name or host.endswith(f".{name}")):
                    continue
                if best is None or len(name) > len(best[1]):
                    best = (_zone_id(zone["Id"]), name)
    if best is None:
        raise ConfigurationError(
            f"No public hosted zone in Route 53 holds {host}. Pass hosted_zone_id, or check "
            "the host name and that these credentials see the zone."
        )
    return best


def _records_of(
    route53: "Route53Client", zone_id: str, host: str
) -> list["ResourceRecordSetOutputTypeDef"]:
    """The host's A, AAAA and CNAME records (record sets are listed in name order)."""
    found: list[ResourceRecordSetOutputTypeDef] = []  # the name's record sets come together
    with aws_errors("ListResourceRecordSets", f"list the records of {host} in {zone_id}"):
        answer = route53.list_resource_record_sets(HostedZoneId=zone_id, StartRecordName=host)
        while True:
            for item in answer["ResourceRecordSets"]:
                if _bare(item["Name"]) != host:
                    return found
                if item["Type"] in _ROUTING_TYPES:
                    found.append(item)
            if not answer["IsTruncated"] or "NextRecordType" not in answer:
                return found
            answer = route53.list_resource_record_sets(
                HostedZoneId=zone_id,
                StartRecordName=answer["NextRecordName"],
                StartRecordType=answer["NextRecordType"],
            )


def _types(record_types: str) -> list[str]:
    kinds = [kind.strip().upper() for kind in str(record_types).split(",") if kind.strip()]
    wrong = [kind for kind in kinds if kind not in ("A", "AAAA")]
    if not kinds or wrong:
        raise ConfigurationError(
            f"record_types must be A, AAAA or 'A,AAAA' (the records that must exist); got "
            f"{record_types!r}."
        )
    return list(dict.fromkeys(kinds))


def _bare(name: str) -> str:
    """A DNS name as compared here: lower case, no trailing dot; escapes of '*' read back."""
    return name.replace("\\052", "*").rstrip(".").lower()


def _zone_id(value: str) -> str:
    return value.rsplit("/", 1)[-1]


def _is_address(host: str) -> bool:
    return host.replace(".", "").isdigit() or ":" in host
