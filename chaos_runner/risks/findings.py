"""What a review finds: severities, the catalogue of risk kinds, and one risk as found.

The catalogue (:data:`KINDS`) is the one place that names each kind of risk: its stable id,
its title, the experiments in ``experiments/`` that show its effect, and the AWS page that
documents the setting. A check (:mod:`chaos_runner.risks.checks`) adds what it read: the
severity, the evidence and the change to make, with the values of this site.
"""

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["KINDS", "Risk", "RiskKind", "Severity", "kind"]


class Severity(StrEnum):
    """How much a risk matters (docs/risks.md says which risk gets which, and why)."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """0 for info up to 3 for high: ``a.rank >= b.rank`` means a is at or above b."""
        return _ORDER.index(self)


_ORDER = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH)

_GUIDE = "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/"


@dataclass(frozen=True, slots=True)
class RiskKind:
    """A kind of risk: what every finding of it shares."""

    id: str
    title: str
    #: File names in experiments/ whose runs show the effect, the closest first.
    experiments: tuple[str, ...]
    reference: str


@dataclass(frozen=True, slots=True)
class Risk:
    """One risk found on the site: its kind, how bad, what was read, what to change."""

    kind: RiskKind
    severity: Severity
    #: The values read, one sentence each.
    evidence: tuple[str, ...]
    #: What to change: the setting and a value.
    change: str
    #: Accepted with ``--accept``: listed, but never fails the review.
    accepted: bool = False

    @property
    def id(self) -> str:
        """The kind's stable id (``error-caching-5xx``...)."""
        return self.kind.id


def _kinds(*kinds: RiskKind) -> dict[str, RiskKind]:
    return {item.id: item for item in kinds}


#: Every kind of risk a review reports, by id.
KINDS = _kinds(
    RiskKind(
        "error-caching-5xx",
        "5xx responses are cached: an outage lingers after its fix",
        ("origin-errors.yaml", "error-caching-ttl.yaml"),
        _GUIDE + "custom-error-pages-expiration.html",
    ),
    RiskKind(
        "error-caching-404",
        "A custom 404 response is cached for long: a page shows 404 after the deploy that added it",
        ("error-caching-ttl.yaml", "object-loss.yaml"),
        _GUIDE + "custom-error-pages-expiration.html",
    ),
    RiskKind(
        "no-origin-failover",
        "Pages are fetched from one origin, with no origin group to fail over to",
        ("origin-failover.yaml", "origin-outage.yaml"),
        _GUIDE + "high_availability_origin_failover.html",
    ),
    RiskKind(
        "failover-codes",
        "The origin group does not fail over on every 5xx",
        ("origin-failover.yaml", "origin-errors.yaml"),
        _GUIDE + "high_availability_origin_failover.html",
    ),
    RiskKind(
        "failover-wait",
        "Readers wait for the primary origin's timeouts before the failover",
        ("origin-link-blackhole.yaml", "origin-failover.yaml"),
        _GUIDE + "DownloadDistValuesOrigin.html#origin-connection-attempts",
    ),
    RiskKind(
        "origin-http",
        "CloudFront fetches from the origin over plain HTTP",
        ("bad-deploy.yaml",),
        _GUIDE + "using-https-cloudfront-to-custom-origin.html",
    ),
    RiskKind(
        "default-ttl-zero",
        "Nothing is cached by default: no cache to ride out an origin outage",
        ("cache-ttl-lowered.yaml", "origin-outage.yaml"),
        _GUIDE + "Expiration.html",
    ),
    RiskKind(
        "bucket-versioning-off",
        "Bucket versioning is off: a bad deploy or a deleted object cannot be rolled back",
        ("bad-deploy.yaml", "object-loss.yaml"),
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html",
    ),
    RiskKind(
        "origin-bucket-missing",
        "An origin names a bucket that does not exist",
        ("origin-blackhole.yaml",),
        _GUIDE + "DownloadDistValuesOrigin.html",
    ),
    RiskKind(
        "no-5xx-alarm",
        "No CloudWatch alarm on the distribution's 5xx error rate: nobody is told of an outage",
        ("origin-errors.yaml", "origin-outage.yaml"),
        _GUIDE + "monitoring-using-cloudwatch.html",
    ),
    RiskKind(
        "certificate-expiring",
        "The certificate expires within 30 days: browsers will refuse the site",
        ("distribution-disabled.yaml",),
        "https://docs.aws.amazon.com/acm/latest/userguide/managed-renewal.html",
    ),
    RiskKind(
        "certificate-renewal",
        "The certificate is not eligible for renewal by ACM",
        ("distribution-disabled.yaml",),
        "https://docs.aws.amazon.com/acm/latest/userguide/managed-renewal.html",
    ),
    RiskKind(
        "dns-not-this-distribution",
        "The site's DNS name does not lead to this distribution",
        ("distribution-disabled.yaml",),
        "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-to-cloudfront-distribution.html",
    ),
    RiskKind(
        "invalidate-everything",
        "/* is invalidated on deploys: every deploy empties every edge cache",
        ("cache-purge.yaml", "origin-outage.yaml"),
        _GUIDE + "PayingForInvalidation.html",
    ),
    RiskKind(
        "invalidation-cost",
        "Invalidated paths go beyond the 1,000 free paths a month",
        ("invalidation-storm.yaml",),
        _GUIDE + "PayingForInvalidation.html",
    ),
    *(
        RiskKind(
            f"{area}-not-checked",
            f"{what} could not be checked",
            experiments,
            "https://docs.aws.amazon.com/service-authorization/latest/reference/"
            "reference_policies_actions-resources-contextkeys.html",
        )
        for area, what, experiments in (
            ("certificate", "The certificate", ("distribution-disabled.yaml",)),
            ("dns", "The DNS record", ("distribution-disabled.yaml",)),
            ("alarms", "The CloudWatch alarms", ("origin-errors.yaml",)),
            ("invalidations", "The invalidation history", ("cache-purge.yaml",)),
            ("bucket-versioning", "A bucket's versioning", ("bad-deploy.yaml",)),
            ("default-ttl", "A cache policy's TTLs", ("cache-ttl-lowered.yaml",)),
        )
    ),
)


def kind(risk_id: str) -> RiskKind:
    """The catalogue entry of ``risk_id`` (KeyError for an unknown id: a bug of a check)."""
    return KINDS[risk_id]
