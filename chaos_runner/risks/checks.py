"""The checks: what the site's settings mean for its readers, from the facts read.

Pure functions of :class:`~chaos_runner.risks.facts.SiteFacts`; each returns the risks it
finds (none when the setting is sound). The thresholds, and why each risk has its
severity, are in docs/risks.md; the constants below are the one place they are set.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from chaos_runner.risks.facts import (
    DEFAULT_ERROR_CACHING_S,
    BehaviourFacts,
    CertificateFacts,
    DistributionFacts,
    DnsRecord,
    NotRead,
    OriginFacts,
    SiteFacts,
    Ttls,
)
from chaos_runner.risks.findings import Risk, Severity, kind
from chaos_runner.risks.invalidations import (
    EVERYTHING,
    FREE_PATHS_PER_MONTH,
    PRICE_PER_PATH_USD,
    by_month,
)

__all__ = ["CHECKS", "Assessment", "assess"]

#: The 5xx codes an origin group can fail over on, which CloudFront also caches.
SERVER_ERRORS = (500, 502, 503, 504)
#: Error caching at or above these is medium, then high (5xx: any caching from the 10 s
#: default up is at least low).
ERROR_CACHING_MEDIUM_S = DEFAULT_ERROR_CACHING_S
ERROR_CACHING_HIGH_S = 300.0
NOT_FOUND_CACHING_MEDIUM_S = 60.0
NOT_FOUND_CACHING_HIGH_S = 3600.0
#: Readers wait this long, or more, before a failover: a risk.
FAILOVER_CONNECT_WAIT_S = 10.0
FAILOVER_HUNG_WAIT_S = 30.0
#: A certificate expiring within this many days is a risk.
CERTIFICATE_DAYS = 30
#: CloudFront's hosted zone id: every alias record to a distribution names it.
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"
_S3_WEBSITE = re.compile(r"\.s3-website[-.][a-z0-9-]+\.amazonaws\.com$")

Check = Callable[[SiteFacts], list[Risk]]


def _risk(risk_id: str, severity: Severity, evidence: Iterable[str], change: str) -> Risk:
    return Risk(kind(risk_id), severity, tuple(map(_sentence, evidence)), change)


def _sentence(text: str) -> str:
    """``text`` ending with a full stop (evidence reads as sentences)."""
    return text if text.endswith((".", "!", "?")) else text + "."


def _capital(text: str) -> str:
    """A sentence that starts with a label (``the default behaviour``) starts with a capital."""
    return text[:1].upper() + text[1:]


def _not_checked(area: str, reason: str, change: str) -> Risk:
    return _risk(f"{area}-not-checked", Severity.INFO, [reason], change)


def _duration(seconds: float) -> str:
    """``10 s``, ``300 s (5 min)``, ``86400 s (1 day)``: the API's unit, then a reader's."""
    plain = f"{seconds:g} s"
    for unit, size in (("day", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{plain} ({count} {unit}{'s' if unit == 'day' and count > 1 else ''})"
    return plain


def _codes(codes: Iterable[int]) -> str:
    ordered = [str(code) for code in sorted(codes)]
    return ordered[0] if len(ordered) == 1 else ", ".join(ordered[:-1]) + " and " + ordered[-1]


def error_caching_5xx(facts: SiteFacts) -> list[Risk]:
    """5xx responses held for ErrorCachingMinTTL: the outage lasts that long after its fix."""
    distribution = facts.distribution
    held: dict[tuple[float, str], list[int]] = {}
    for code in SERVER_ERRORS:
        response = distribution.error_response(code)
        if response is None:
            key = (DEFAULT_ERROR_CACHING_S, "the default: no CustomErrorResponse")
        elif response.caching_s is None:
            key = (DEFAULT_ERROR_CACHING_S, "the default: its CustomErrorResponse sets none")
        else:
            key = (response.caching_s, "CustomErrorResponse")
        held.setdefault(key, []).append(code)
    lingering = {key: codes for key, codes in held.items() if key[0] >= ERROR_CACHING_MEDIUM_S}
    if not lingering:
        return []
    longest = max(seconds for seconds, _ in lingering)
    severity = (
        Severity.HIGH
        if longest >= ERROR_CACHING_HIGH_S
        else Severity.MEDIUM
        if longest > ERROR_CACHING_MEDIUM_S
        else Severity.LOW
    )
    evidence = [
        f"ErrorCachingMinTTL for {_codes(codes)} is {_duration(seconds)} ({source})"
        for (seconds, source), codes in sorted(lingering.items())
    ]
    evidence.append(
        "An origin error is served from the cache for that long after the origin is fixed "
        "(longer if the origin's error carries a longer Cache-Control max-age)."
    )
    codes = _codes(code for group in lingering.values() for code in group)
    change = (
        f"Add CustomErrorResponses for {codes} with ErrorCachingMinTTL 1 (or 0; a second or "
        "two still shields a struggling origin from every reader's retry), no "
        "ResponsePagePath needed."
    )
    return [_risk("error-caching-5xx", severity, evidence, change)]


def error_caching_404(facts: SiteFacts) -> list[Risk]:
    """A custom 403/404 response held for long: a page published since shows as missing."""
    found = []
    for code in (403, 404):
        response = facts.distribution.error_response(code)
        seconds = DEFAULT_ERROR_CACHING_S
        if response is not None and response.caching_s is not None:
            seconds = response.caching_s
        if response is not None and seconds >= NOT_FOUND_CACHING_MEDIUM_S:
            page = f", page {response.page_path}" if response.page_path else ""
            found.append((code, seconds, page))
    if not found:
        return []
    longest = max(seconds for _, seconds, _ in found)
    severity = Severity.HIGH if longest >= NOT_FOUND_CACHING_HIGH_S else Severity.MEDIUM
    evidence = [
        f"ErrorCachingMinTTL for {code} is {_duration(seconds)} (CustomErrorResponse{page})"
        for code, seconds, page in found
    ]
    evidence.append(
        "A reader who asks for a page before it is deployed caches its 404 at that edge: "
        "the page then answers 404 for that long after the deploy that added it, unless "
        "the deploy invalidates its path."
    )
    codes = _codes(code for code, _, _ in found)
    change = (
        f"Set ErrorCachingMinTTL of the CustomErrorResponse for {codes} to 10 (CloudFront's "
        "default) or less."
    )
    return [_risk("error-caching-404", severity, evidence, change)]


def _group_targets(distribution: DistributionFacts) -> list[tuple[BehaviourFacts, str]]:
    """The serving behaviours that target an origin group, with the group's id."""
    return [
        (b, b.target_origin_id)
        for b in distribution.serving_behaviours()
        if distribution.group(b.target_origin_id) is not None
    ]


def no_origin_failover(facts: SiteFacts) -> list[Risk]:
    """Behaviours that serve pages from one origin: an origin outage is a reader's error."""
    distribution = facts.distribution
    alone = [
        b
        for b in distribution.serving_behaviours()
        if distribution.group(b.target_origin_id) is None
    ]
    if not alone:
        return []
    evidence = [
        f"{_capital(b.label)} sends cache misses to origin {b.target_origin_id} alone"
        for b in alone
    ]
    grouped = _group_targets(distribution)
    if grouped:
        evidence += [f"{_capital(b.label)} targets origin group {group}" for b, group in grouped]
    elif not distribution.groups:
        evidence.append("The distribution has no origin group.")
    labels = " and ".join(b.label for b in alone)
    change = (
        "Keep a copy of the site in a second bucket (S3 replication, or the deploy writing "
        "to both), add it as an origin, create an origin group of the two (primary first) "
        f"failing over on {_codes(SERVER_ERRORS)}, and make the group the TargetOriginId of "
        f"{labels}."
    )
    return [_risk("no-origin-failover", Severity.MEDIUM, evidence, change)]


def failover_codes(facts: SiteFacts) -> list[Risk]:
    """Origin groups in use that do not fail over on every 5xx."""
    evidence, groups = [], []
    for group_id in dict.fromkeys(group for _, group in _group_targets(facts.distribution)):
        group = facts.distribution.group(group_id)
        missing = set(SERVER_ERRORS) - group.failover_codes if group else set()
        if group and missing:
            listed = _codes(group.failover_codes) if group.failover_codes else "no status code"
            evidence.append(
                f"Origin group {group_id} fails over on {listed}: not on {_codes(missing)}, "
                "which readers then get from the primary."
            )
            groups.append(group_id)
    if not evidence:
        return []
    change = (
        f"Set FailoverCriteria.StatusCodes of origin group {' and '.join(groups)} to "
        f"{_codes(SERVER_ERRORS)} (and 403, 404 for an S3 REST origin, where a missing "
        "object answers 403)."
    )
    return [_risk("failover-codes", Severity.MEDIUM, evidence, change)]


def failover_wait(facts: SiteFacts) -> list[Risk]:
    """The time readers wait on the primary origin before the secondary is asked."""
    evidence, slow = [], []
    for group_id in dict.fromkeys(group for _, group in _group_targets(facts.distribution)):
        group = facts.distribution.group(group_id)
        primary = facts.distribution.origin(group.members[0]) if group and group.members else None
        if primary is None:
            continue
        connect = primary.connection_attempts * primary.connection_timeout_s
        hung = primary.connection_attempts * primary.read_timeout_s
        if connect >= FAILOVER_CONNECT_WAIT_S or hung >= FAILOVER_HUNG_WAIT_S:
            attempts = primary.connection_attempts
            evidence.append(
                f"Origin group {group_id}: its primary {primary.id} is given up after "
                f"{attempts} connection attempt(s) x {primary.connection_timeout_s:g} s = "
                f"{connect:g} s when it does not accept connections, and {attempts} x "
                f"{primary.read_timeout_s:g} s (response timeout) = {hung:g} s when it "
                "accepts and never answers; a reader on a cache miss waits that long."
            )
            slow.append(primary.id)
    if not evidence:
        return []
    change = (
        f"On origin {' and '.join(dict.fromkeys(slow))}: ConnectionAttempts 1, "
        "ConnectionTimeout 3 and OriginReadTimeout 10 (S3 answers in well under a second): "
        "the secondary is asked after 3 s, or 10 s for a hung primary."
    )
    return [_risk("failover-wait", Severity.MEDIUM, evidence, change)]


def _reached(distribution: DistributionFacts) -> list[tuple[OriginFacts, list[BehaviourFacts]]]:
    """Each origin the serving behaviours reach (directly or in a group), with them."""
    reached: dict[str, list[BehaviourFacts]] = {}
    for behaviour in distribution.serving_behaviours():
        group = distribution.group(behaviour.target_origin_id)
        for origin_id in group.members if group else (behaviour.target_origin_id,):
            reached.setdefault(origin_id, []).append(behaviour)
    return [
        (origin, behaviours)
        for origin_id, behaviours in reached.items()
        if (origin := distribution.origin(origin_id)) is not None
    ]


def origin_http(facts: SiteFacts) -> list[Risk]:
    """Origins fetched over plain HTTP: anything on the way can read or change pages."""
    plain, by_viewer = [], []
    for origin, behaviours in _reached(facts.distribution):
        if origin.protocol_policy == "http-only":
            plain.append(origin)
        elif origin.protocol_policy == "match-viewer":
            open_to_http = [b for b in behaviours if b.viewer_protocol_policy == "allow-all"]
            if open_to_http:
                by_viewer.append((origin, open_to_http))
    if not plain and not by_viewer:
        return []
    evidence = []
    for origin in plain:
        website = " (an S3 website endpoint: it speaks HTTP only)" if _website(origin) else ""
        evidence.append(
            f"Origin {origin.id} ({origin.domain_name}): OriginProtocolPolicy http-only{website}."
        )
    for origin, behaviours in by_viewer:
        labels = " and ".join(b.label for b in behaviours)
        evidence.append(
            f"Origin {origin.id} ({origin.domain_name}) is fetched with the viewer's protocol, "
            f"and {labels} allows HTTP viewers (ViewerProtocolPolicy allow-all)."
        )
    evidence.append("Pages cross the network unencrypted: whatever arrives is cached and served.")
    changes = []
    if any(_website(origin) for origin in plain):
        changes.append(
            "An S3 website endpoint speaks HTTP only: to fetch over HTTPS, make the origin the "
            "bucket's REST endpoint (BUCKET.s3.REGION.amazonaws.com) with origin access control, "
            "add a CloudFront Function that appends index.html to paths ending in / (what the "
            "website endpoint did for pretty URLs), and set ViewerProtocolPolicy "
            "redirect-to-https (CloudFront fetches from an S3 origin with the viewer's protocol)."
        )
    others = [o.id for o in plain if not _website(o)]
    if others:
        changes.append(f"Set OriginProtocolPolicy https-only on origin {' and '.join(others)}.")
    if by_viewer:
        changes.append("Set ViewerProtocolPolicy redirect-to-https on the behaviours named.")
    severity = Severity.MEDIUM if plain else Severity.LOW
    return [_risk("origin-http", severity, evidence, " ".join(changes))]


def _website(origin: OriginFacts) -> bool:
    return bool(_S3_WEBSITE.search(origin.domain_name))


def default_ttl_zero(facts: SiteFacts) -> list[Risk]:
    """Behaviours that keep nothing: every request goes to the origin, so does every outage."""
    risks, evidence, labels = [], [], []
    for behaviour in facts.distribution.serving_behaviours():
        ttls: Ttls | NotRead | None = behaviour.ttls
        source = "its settings"
        if ttls is None:
            source = f"cache policy {behaviour.cache_policy_id}"
            ttls = facts.cache_policies.get(
                behaviour.cache_policy_id, NotRead("The cache policy was not read.")
            )
        if isinstance(ttls, NotRead):
            risks.append(
                _not_checked(
                    "default-ttl",
                    f"The TTLs of {behaviour.label} ({source}) could not be read: {ttls.reason}",
                    "Allow cloudfront:GetCachePolicy to the credentials of the review.",
                )
            )
            continue
        if ttls.default_s == 0 or ttls.max_s == 0:
            zero = "MaxTTL 0 s: nothing is kept" if ttls.max_s == 0 else "DefaultTTL 0 s"
            settings = f"MinTTL {ttls.min_s:g} s, DefaultTTL {ttls.default_s:g} s"
            evidence.append(
                f"{_capital(behaviour.label)} ({source}): {zero} ({settings}, MaxTTL "
                f"{ttls.max_s:g} s)."
            )
            labels.append(behaviour.label)
    if evidence:
        evidence.append(
            "Objects without Cache-Control (what `aws s3 cp` and `hugo deploy` upload) are not "
            "kept: every request goes to the origin, and an origin outage is an outage of the "
            "whole site."
        )
        change = (
            f"Set DefaultTTL 3600 (or more) and MaxTTL at least as long on {' and '.join(labels)} "
            "(or on its cache policy); a deploy's invalidation refreshes what it changed."
        )
        risks.insert(0, _risk("default-ttl-zero", Severity.HIGH, evidence, change))
    return risks


def bucket_versioning(facts: SiteFacts) -> list[Risk]:
    """Buckets without versioning (no rollback), origins naming missing buckets."""
    risks, evidence, names = [], [], []
    for bucket in facts.buckets:
        if not bucket.exists:
            risks.append(
                _risk(
                    "origin-bucket-missing",
                    Severity.HIGH,
                    [f"Bucket {bucket.name}, named by an origin, does not exist (NoSuchBucket)."],
                    f"Create bucket {bucket.name} with a copy of the site, or point the origin "
                    "at a bucket that exists: anyone can create a bucket of that name and serve "
                    "what they like through this distribution.",
                )
            )
        elif bucket.unread:
            risks.append(
                _not_checked(
                    "bucket-versioning",
                    f"Bucket {bucket.name}: {bucket.unread}",
                    "Allow s3:GetBucketVersioning on the bucket to the credentials of the review.",
                )
            )
        elif bucket.versioning != "Enabled":
            status = (
                "Suspended"
                if bucket.versioning
                else "never enabled (GetBucketVersioning has no Status)"
            )
            evidence.append(f"Bucket {bucket.name}: versioning {status}.")
            names.append(bucket.name)
    if evidence:
        evidence.append(
            "An overwritten or deleted object is gone: rolling back a bad deploy means "
            "rebuilding and uploading the previous version of the site."
        )
        first = names[0]
        change = (
            f"Enable versioning on {' and '.join(names)} (`aws s3api put-bucket-versioning "
            f"--bucket {first} --versioning-configuration Status=Enabled`), with a lifecycle "
            "rule that expires noncurrent versions after 30 days to bound the cost."
        )
        risks.insert(0, _risk("bucket-versioning-off", Severity.MEDIUM, evidence, change))
    return risks


def error_rate_alarm(facts: SiteFacts) -> list[Risk]:
    """No alarm on the 5xx error rate: readers notice an outage before the team does."""
    distribution_id = facts.distribution.id
    if isinstance(facts.alarms, NotRead):
        return [
            _not_checked(
                "alarms",
                f"The CloudWatch alarms in us-east-1 could not be read: {facts.alarms.reason}",
                "Allow cloudwatch:DescribeAlarms to the credentials of the review.",
            )
        ]
    change = (
        "Create an alarm in us-east-1 with an action that tells someone: `aws cloudwatch "
        f"put-metric-alarm --region us-east-1 --alarm-name {distribution_id}-5xx --namespace "
        "AWS/CloudFront --metric-name 5xxErrorRate --dimensions "
        f"Name=DistributionId,Value={distribution_id} Name=Region,Value=Global --statistic "
        "Average --period 60 --evaluation-periods 3 --threshold 1 --comparison-operator "
        "GreaterThanThreshold --alarm-actions SNS_TOPIC_ARN`."
    )
    if not facts.alarms:
        evidence = [
            f"No CloudWatch alarm in us-east-1 watches 5xxErrorRate (or TotalErrorRate) of "
            f"distribution {distribution_id}."
        ]
        return [_risk("no-5xx-alarm", Severity.MEDIUM, evidence, change)]
    if any(alarm.notifies for alarm in facts.alarms):
        return []
    evidence = [
        f"Alarm {alarm.name} watches {alarm.metric} (state {alarm.state}) but has no alarm "
        "action enabled: it changes state and tells nobody."
        for alarm in facts.alarms
    ]
    change = "Add an alarm action (an SNS topic that pages or posts) to " + " and ".join(
        alarm.name for alarm in facts.alarms
    )
    return [_risk("no-5xx-alarm", Severity.LOW, evidence, change + ".")]


def certificate(facts: SiteFacts) -> list[Risk]:
    """The certificate's expiry and renewal."""
    found = facts.certificate
    distribution = facts.distribution
    if found is None:
        own = distribution.iam_certificate_id
        reason = (
            f"The distribution uses IAM server certificate {own}; the review reads ACM only."
            if own
            else "The distribution has no certificate of its own: it answers with CloudFront's "
            "*.cloudfront.net certificate, which AWS renews."
        )
        return [
            _not_checked("certificate", reason, "Nothing to change for the default certificate.")
        ]
    if isinstance(found, NotRead):
        return [
            _not_checked(
                "certificate",
                f"Certificate {distribution.acm_certificate_arn} could not be read: {found.reason}",
                "Allow acm:DescribeCertificate on the certificate to the credentials of the "
                "review.",
            )
        ]
    risks = []
    label = f"Certificate {found.arn} ({found.domain_name}, {found.type})"
    days = _days_left(found.not_after, facts.read_at)
    if found.status in ("EXPIRED", "REVOKED") or (days is not None and days <= CERTIFICATE_DAYS):
        when = found.not_after.date().isoformat() if found.not_after else "unknown"
        expired = found.status == "EXPIRED" or (
            found.not_after is not None and found.not_after <= facts.read_at
        )
        left = (
            "revoked: browsers refuse the site"
            if found.status == "REVOKED"
            else "expired: browsers refuse the site"
            if expired
            else f"{days} day(s) left"
        )
        evidence = [f"{label}: NotAfter {when} ({left}); status {found.status}."]
        if found.type == "IMPORTED":
            change = (
                "Import the renewed certificate into the same ARN (`aws acm import-certificate "
                f"--certificate-arn {found.arn} ...`) before NotAfter, or request an ACM "
                "certificate (DNS validation, renewed by ACM) and make it "
                "ViewerCertificate.ACMCertificateArn."
            )
        else:
            evidence.append(
                "ACM renews an eligible certificate from 60 days before it expires: this one "
                f"was not renewed (RenewalStatus {found.renewal_status or 'none'})."
            )
            change = (
                "Put the DNS validation CNAME records that `aws acm describe-certificate` lists "
                "back into DNS so that ACM can renew it, or request a new certificate and make "
                "it ViewerCertificate.ACMCertificateArn."
            )
        risks.append(_risk("certificate-expiring", Severity.HIGH, evidence, change))
    risks += _renewal(found, distribution.arn, label)
    return risks


def _days_left(not_after: datetime | None, now: datetime) -> int | None:
    return None if not_after is None else (not_after - now).days


_REVALIDATE = (
    "Make the certificate's DNS validation CNAME records (listed by `aws acm "
    "describe-certificate`) resolve again so that ACM can renew it, or request a new "
    "certificate and make it ViewerCertificate.ACMCertificateArn."
)


def _renewal(found: CertificateFacts, distribution_arn: str, label: str) -> list[Risk]:
    """Whether ACM will renew the certificate before it expires."""
    if found.type == "IMPORTED":
        evidence = [f"{label}: ACM never renews an imported certificate."]
        change = (
            "Request an ACM certificate for the same names (DNS validation: ACM renews it while "
            "it is in use) and make it ViewerCertificate.ACMCertificateArn; or put the "
            "re-import on a calendar with an alarm on the DaysToExpiry metric."
        )
        return [_risk("certificate-renewal", Severity.MEDIUM, evidence, change)]
    if found.type != "AMAZON_ISSUED":
        return []  # a private CA's certificate: renewed by AWS Private CA
    risks, evidence = [], []
    if found.renewal_status == "FAILED":
        evidence.append(f"{label}: its last managed renewal FAILED.")
    if found.renewal_eligibility == "INELIGIBLE" and distribution_arn in found.in_use_by:
        evidence.append(f"{label}: RenewalEligibility INELIGIBLE while the distribution uses it.")
    elif found.renewal_eligibility == "INELIGIBLE":
        users = ", ".join(found.in_use_by) or "empty"
        risks.append(
            _not_checked(
                "certificate",
                f"{label}: RenewalEligibility INELIGIBLE, but InUseBy does not list this "
                f"distribution ({users}), so the answer says nothing of its renewal here (the "
                "sandbox's moto lists no user of any certificate).",
                "Nothing to change if ACM lists the distribution in InUseBy.",
            )
        )
    if evidence:
        risks.append(_risk("certificate-renewal", Severity.MEDIUM, evidence, _REVALIDATE))
    return risks


def dns(facts: SiteFacts) -> list[Risk]:
    """The site's host names must lead to this distribution (an alias record, and an Alias)."""
    distribution = facts.distribution
    risks, evidence, wrong = [], [], []
    host = facts.site_host
    if host and host not in distribution.aliases:
        evidence.append(
            f"{host} (CHAOS_SITE_URL) is not among the distribution's Aliases "
            f"({', '.join(distribution.aliases) or 'none'}): CloudFront refuses its requests "
            "(403)."
        )
        wrong.append(host)
    if isinstance(facts.dns, NotRead):
        risks.append(
            _not_checked(
                "dns",
                f"The Route 53 records could not be read: {facts.dns.reason}",
                "Allow route53:ListHostedZones and route53:ListResourceRecordSets to the "
                "credentials of the review.",
            )
        )
    elif not facts.dns:
        risks.append(
            _not_checked(
                "dns",
                "The site has no host name of its own: the distribution has no Aliases and "
                "CHAOS_SITE_URL names no other host.",
                "Nothing to change; set CHAOS_SITE_URL to the site's address to check its DNS.",
            )
        )
    for name in () if isinstance(facts.dns, NotRead) else facts.dns:
        if name.unread or not name.zone:
            reason = name.unread or (
                f"No public hosted zone of this account holds {name.name}: its DNS is elsewhere."
            )
            risks.append(_not_checked("dns", f"{name.name}: {reason}", "Nothing to change."))
            continue
        problems = _name_problems(name.name, name.zone, name.records, distribution)
        if problems:
            evidence += problems
            wrong.append(name.name)
    if evidence:
        change = (
            f"Make {' and '.join(dict.fromkeys(wrong))} an alias A record (and AAAA) to "
            f"{distribution.domain_name} (HostedZoneId {CLOUDFRONT_ZONE_ID}, CloudFront's), "
            "and list it in the distribution's Aliases."
        )
        risks.insert(0, _risk("dns-not-this-distribution", Severity.HIGH, evidence, change))
    return risks


def _name_problems(
    name: str, zone: str, records: Iterable[DnsRecord], distribution: DistributionFacts
) -> list[str]:
    listed = list(records)
    if not listed:
        return [f"{name} has no A, AAAA or CNAME record in hosted zone {zone}."]
    return [
        f"{name} {record.type} {'alias' if record.alias else 'record'} leads to "
        f"{record.target or 'an address'}, not {distribution.domain_name} (hosted zone {zone})."
        for record in listed
        if record.target != distribution.domain_name
    ]


def invalidations(facts: SiteFacts) -> list[Risk]:
    """``/*`` invalidations (an empty cache after each) and paths beyond the free ones."""
    history = facts.invalidations
    if isinstance(history, NotRead):
        return [
            _not_checked(
                "invalidations",
                f"The invalidation history could not be read: {history.reason}",
                "Allow cloudfront:ListInvalidations and cloudfront:GetInvalidation to the "
                "credentials of the review.",
            )
        ]
    months = by_month(history)
    since = history.since.date().isoformat()
    left_out = (
        [f"{history.left_out} invalidation(s) since {since} were listed but not read."]
        if history.left_out
        else []
    )
    risks = []
    everything = sum(month.everything for month in months)
    total = sum(month.invalidations for month in months)
    if everything:
        evidence = [
            f"{month.month}: {month.everything} of {month.invalidations} invalidation(s) "
            f"were {EVERYTHING}; {month.paths:,} path(s) billed (a wildcard is one): "
            f"${month.cost_usd:.2f} beyond the {FREE_PATHS_PER_MONTH:,} free paths"
            for month in months
            if month.invalidations
        ]
        evidence += left_out
        evidence.append(
            f"Each {EVERYTHING} empties every edge cache: every page's next request goes to the "
            "origin (slower pages, origin load), and until the cache fills again there is no "
            "cache to hide an origin outage."
        )
        most = everything >= 2 and everything * 2 >= total
        change = (
            "Invalidate only what a deploy changed: `hugo deploy --invalidateCDN` does (it "
            "names the changed files), or pass the paths your sync uploaded to `aws "
            "cloudfront create-invalidation`; fingerprint assets (Hugo's resources.Fingerprint) "
            "so that only HTML pages need it."
        )
        severity = Severity.MEDIUM if most else Severity.LOW
        risks.append(_risk("invalidate-everything", severity, evidence, change))
    costly = [month for month in months if month.paths_beyond_free]
    if costly:
        evidence = [
            f"{month.month}: {month.paths:,} path(s) invalidated, {month.paths_beyond_free:,} "
            f"beyond the {FREE_PATHS_PER_MONTH:,} free ones at ${PRICE_PER_PATH_USD} each: "
            f"${month.cost_usd:.2f} (at least: the free paths are per account, shared with "
            "other distributions)"
            for month in costly
        ]
        change = (
            "Invalidate a directory with one wildcard path (/posts/*: one path) instead of "
            "each of its files, or fingerprint assets so that they need no invalidation."
        )
        risks.append(_risk("invalidation-cost", Severity.LOW, evidence + left_out, change))
    return risks


#: Every check, in the order the review reports them, with the risk ids it can find.
CHECKS: tuple[tuple[Check, tuple[str, ...]], ...] = (
    (error_caching_5xx, ("error-caching-5xx",)),
    (error_caching_404, ("error-caching-404",)),
    (no_origin_failover, ("no-origin-failover",)),
    (failover_codes, ("failover-codes",)),
    (failover_wait, ("failover-wait",)),
    (origin_http, ("origin-http",)),
    (default_ttl_zero, ("default-ttl-zero",)),
    (bucket_versioning, ("bucket-versioning-off", "origin-bucket-missing")),
    (error_rate_alarm, ("no-5xx-alarm",)),
    (certificate, ("certificate-expiring", "certificate-renewal")),
    (dns, ("dns-not-this-distribution",)),
    (invalidations, ("invalidate-everything", "invalidation-cost")),
)


@dataclass(frozen=True, slots=True)
class Assessment:
    """The risks found, the most severe first, and the risks checked for and not found."""

    risks: tuple[Risk, ...]
    #: Risk ids whose check ran in full and found nothing (a check that could not read
    #: everything it needs clears none).
    clear: tuple[str, ...]


def assess(facts: SiteFacts) -> Assessment:
    """Run every check on ``facts``."""
    found: list[Risk] = []
    clear: list[str] = []
    for check, ids in CHECKS:
        risks = check(facts)
        found += risks
        if not any(risk.id.endswith("-not-checked") for risk in risks):
            clear += [risk_id for risk_id in ids if risk_id not in {r.id for r in risks}]
    ordered = sorted(found, key=lambda risk: -risk.severity.rank)
    return Assessment(tuple(ordered), tuple(clear))
