"""What a review read of the site, as frozen values: the checks never see an AWS answer.

:func:`distribution_facts` turns a ``GetDistribution`` answer into these values, with
CloudFront's defaults filled in where the API leaves a setting out (3 connection attempts,
10 s connection timeout, 30 s response timeout, 10 s error caching). A part that could not
be read is a :class:`NotRead` with the reason, and its checks say "not checked".
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chaos_runner.values import list_of, mapping, number, text

__all__ = [
    "DEFAULT_CONNECTION_ATTEMPTS",
    "DEFAULT_CONNECTION_TIMEOUT_S",
    "DEFAULT_ERROR_CACHING_S",
    "DEFAULT_READ_TIMEOUT_S",
    "AlarmFacts",
    "BehaviourFacts",
    "BucketFacts",
    "CertificateFacts",
    "DistributionFacts",
    "DnsName",
    "DnsRecord",
    "ErrorResponseFacts",
    "InvalidationFacts",
    "InvalidationHistory",
    "NotRead",
    "OriginFacts",
    "OriginGroupFacts",
    "SiteFacts",
    "Ttls",
    "distribution_facts",
]

#: CloudFront's defaults when a setting is left out (Developer Guide: origin settings,
#: custom-error-pages-expiration).
DEFAULT_CONNECTION_ATTEMPTS = 3
DEFAULT_CONNECTION_TIMEOUT_S = 10.0
DEFAULT_READ_TIMEOUT_S = 30.0
DEFAULT_ERROR_CACHING_S = 10.0


@dataclass(frozen=True, slots=True)
class NotRead:
    """A part of the site that could not be read, and why (a sentence)."""

    reason: str


@dataclass(frozen=True, slots=True)
class OriginFacts:
    """One origin: where it is, over what protocol, how long CloudFront waits for it."""

    id: str
    domain_name: str
    #: ``custom`` (an HTTP server, or an S3 website endpoint) or ``s3`` (a REST endpoint).
    kind: str
    protocol_policy: str
    connection_attempts: int
    connection_timeout_s: float
    read_timeout_s: float


@dataclass(frozen=True, slots=True)
class OriginGroupFacts:
    """An origin group: its members in order (primary first) and its failover codes."""

    id: str
    members: tuple[str, ...]
    failover_codes: frozenset[int]


@dataclass(frozen=True, slots=True)
class Ttls:
    """The TTLs of a behaviour (its legacy settings, or its cache policy's)."""

    min_s: float
    default_s: float
    max_s: float


@dataclass(frozen=True, slots=True)
class BehaviourFacts:
    """A cache behaviour; the default one has the path pattern ``*`` and ``default``."""

    path_pattern: str
    target_origin_id: str
    viewer_protocol_policy: str
    #: The legacy TTL settings, or None when the behaviour uses a cache policy.
    ttls: Ttls | None
    cache_policy_id: str
    default: bool = False

    @property
    def label(self) -> str:
        """How a sentence names this behaviour."""
        return "the default behaviour (*)" if self.default else f"behaviour {self.path_pattern}"


@dataclass(frozen=True, slots=True)
class ErrorResponseFacts:
    """A custom error response: the origin code, how long it is cached, the page shown."""

    error_code: int
    #: ErrorCachingMinTTL; None when the response leaves it out (CloudFront's 10 s then).
    caching_s: float | None
    page_path: str


@dataclass(frozen=True, slots=True)
class DistributionFacts:
    """The parts of a distribution a review reads."""

    id: str
    arn: str
    domain_name: str
    enabled: bool
    aliases: tuple[str, ...]
    origins: tuple[OriginFacts, ...]
    groups: tuple[OriginGroupFacts, ...]
    default_behaviour: BehaviourFacts
    behaviours: tuple[BehaviourFacts, ...]
    error_responses: tuple[ErrorResponseFacts, ...]
    #: ViewerCertificate.ACMCertificateArn ("" when none); IAMCertificateId likewise.
    acm_certificate_arn: str
    iam_certificate_id: str

    def origin(self, origin_id: str) -> OriginFacts | None:
        """The origin of that id, if any."""
        return next((o for o in self.origins if o.id == origin_id), None)

    def group(self, target_id: str) -> OriginGroupFacts | None:
        """The origin group of that id, if the id names a group."""
        return next((g for g in self.groups if g.id == target_id), None)

    def serving_behaviours(self) -> tuple[BehaviourFacts, ...]:
        """The behaviours that can match a request, in CloudFront's order.

        Cache behaviours match in order, then the default one. A behaviour whose pattern
        matches every path (``*`` or ``/*``) hides all that come after it, the default
        included: the sandbox puts its origin group on such a ``*`` behaviour, since moto
        refuses a group as the default behaviour's target.
        """
        reachable: list[BehaviourFacts] = []
        for behaviour in self.behaviours:
            reachable.append(behaviour)
            if behaviour.path_pattern in ("*", "/*"):
                return tuple(reachable)
        return (*reachable, self.default_behaviour)

    def error_response(self, code: int) -> ErrorResponseFacts | None:
        """The custom error response for ``code``, if the distribution has one."""
        return next((r for r in self.error_responses if r.error_code == code), None)


@dataclass(frozen=True, slots=True)
class BucketFacts:
    """A bucket of the site: whether it exists, and its versioning status."""

    name: str
    exists: bool
    #: ``Enabled``, ``Suspended``, or "" for a bucket never versioned.
    versioning: str
    #: Why the bucket could not be read ("" when it was).
    unread: str = ""


@dataclass(frozen=True, slots=True)
class AlarmFacts:
    """A CloudWatch alarm on the distribution's error rate."""

    name: str
    metric: str
    state: str
    #: True when it is enabled to act and has at least one alarm action (it tells someone).
    notifies: bool


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """The distribution's ACM certificate, as DescribeCertificate tells it."""

    arn: str
    domain_name: str
    #: ``AMAZON_ISSUED``, ``IMPORTED`` or ``PRIVATE``.
    type: str
    status: str
    not_after: datetime | None
    renewal_eligibility: str
    in_use_by: tuple[str, ...]
    renewal_status: str = ""


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """One A, AAAA or CNAME record of a name: where it leads."""

    type: str
    #: The alias target's DNS name, or the CNAME's value, without the final dot, lower case.
    target: str
    alias: bool


@dataclass(frozen=True, slots=True)
class DnsName:
    """A host name of the site, its hosted zone (if this account has it), its records."""

    name: str
    #: The hosted zone's name ("" when no zone of this account holds the name).
    zone: str
    records: tuple[DnsRecord, ...] = ()
    #: Why the records could not be read ("" when they were).
    unread: str = ""


@dataclass(frozen=True, slots=True)
class InvalidationFacts:
    """One invalidation: when, and its paths."""

    id: str
    created: datetime
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InvalidationHistory:
    """The invalidations created since ``since``; ``left_out`` were listed but not read."""

    since: datetime
    invalidations: tuple[InvalidationFacts, ...]
    left_out: int = 0


@dataclass(frozen=True, slots=True)
class SiteFacts:
    """Everything a review read, at ``read_at``."""

    distribution: DistributionFacts
    #: The site's host name from CHAOS_SITE_URL ("" when it has none of its own).
    site_host: str
    buckets: tuple[BucketFacts, ...]
    alarms: tuple[AlarmFacts, ...] | NotRead
    #: None: the distribution has no certificate of its own (the *.cloudfront.net one).
    certificate: CertificateFacts | NotRead | None
    dns: tuple[DnsName, ...] | NotRead
    invalidations: InvalidationHistory | NotRead
    read_at: datetime
    #: The TTLs of each cache policy the behaviours use, by id.
    cache_policies: Mapping[str, Ttls | NotRead] = field(default_factory=dict)


def distribution_facts(distribution: Mapping[str, Any]) -> DistributionFacts:
    """The facts of a ``GetDistribution`` answer's ``Distribution``."""
    config = mapping(distribution.get("DistributionConfig"))
    certificate = mapping(config.get("ViewerCertificate"))
    return DistributionFacts(
        id=text(distribution.get("Id")),
        arn=text(distribution.get("ARN")),
        domain_name=text(distribution.get("DomainName")).rstrip(".").lower(),
        enabled=bool(config.get("Enabled")),
        aliases=tuple(text(a).rstrip(".").lower() for a in _items(config.get("Aliases"))),
        origins=tuple(_origin(mapping(o)) for o in _items(config.get("Origins"))),
        groups=tuple(_group(mapping(g)) for g in _items(config.get("OriginGroups"))),
        default_behaviour=_behaviour(mapping(config.get("DefaultCacheBehavior")), default=True),
        behaviours=tuple(_behaviour(mapping(b)) for b in _items(config.get("CacheBehaviors"))),
        error_responses=tuple(
            _error_response(mapping(r)) for r in _items(config.get("CustomErrorResponses"))
        ),
        acm_certificate_arn=text(certificate.get("ACMCertificateArn")),
        iam_certificate_id=text(certificate.get("IAMCertificateId")),
    )


def _items(value: Any) -> list[Any]:
    return list_of(mapping(value).get("Items"))


def _seconds(value: Any, default: float) -> float:
    found = number(value)
    return default if found is None else found


def _origin(origin: Mapping[str, Any]) -> OriginFacts:
    custom = mapping(origin.get("CustomOriginConfig"))
    rest = mapping(origin.get("S3OriginConfig"))
    settings = custom or rest
    return OriginFacts(
        id=text(origin.get("Id")),
        domain_name=text(origin.get("DomainName")).lower(),
        kind="custom" if custom or not rest else "s3",
        # CloudFront fetches from an S3 (REST) origin with the viewer's protocol.
        protocol_policy=text(custom.get("OriginProtocolPolicy")) if custom else "match-viewer",
        connection_attempts=int(
            _seconds(origin.get("ConnectionAttempts"), DEFAULT_CONNECTION_ATTEMPTS)
        ),
        connection_timeout_s=_seconds(
            origin.get("ConnectionTimeout"), DEFAULT_CONNECTION_TIMEOUT_S
        ),
        read_timeout_s=_seconds(settings.get("OriginReadTimeout"), DEFAULT_READ_TIMEOUT_S),
    )


def _group(group: Mapping[str, Any]) -> OriginGroupFacts:
    codes = list_of(mapping(mapping(group.get("FailoverCriteria")).get("StatusCodes")).get("Items"))
    return OriginGroupFacts(
        id=text(group.get("Id")),
        members=tuple(text(mapping(m).get("OriginId")) for m in _items(group.get("Members"))),
        failover_codes=frozenset(int(c) for c in codes if number(c) is not None),
    )


def _behaviour(behaviour: Mapping[str, Any], default: bool = False) -> BehaviourFacts:
    policy = text(behaviour.get("CachePolicyId"))
    ttls = None
    if not policy:
        # CloudFront's defaults for legacy settings: MinTTL 0, DefaultTTL 1 day, MaxTTL 1 year.
        ttls = Ttls(
            min_s=_seconds(behaviour.get("MinTTL"), 0.0),
            default_s=_seconds(behaviour.get("DefaultTTL"), 86_400.0),
            max_s=_seconds(behaviour.get("MaxTTL"), 31_536_000.0),
        )
    return BehaviourFacts(
        path_pattern="*" if default else text(behaviour.get("PathPattern")),
        target_origin_id=text(behaviour.get("TargetOriginId")),
        viewer_protocol_policy=text(behaviour.get("ViewerProtocolPolicy")),
        ttls=ttls,
        cache_policy_id=policy,
        default=default,
    )


def _error_response(response: Mapping[str, Any]) -> ErrorResponseFacts:
    return ErrorResponseFacts(
        error_code=int(number(response.get("ErrorCode")) or 0),
        caching_s=number(response.get("ErrorCachingMinTTL")),
        page_path=text(response.get("ResponsePagePath")),
    )
