"""The checks of `chaos risks` on facts built by hand: the severity thresholds, and what the
sandbox's moto cannot hold (cache policies, an ACM certificate in use and ineligible, a
CNAME, AWS refusing a part of the site). Pure: no AWS, no sandbox."""

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chaos_runner.risks import Severity, distribution_facts, review_of
from chaos_runner.risks.facts import (
    AlarmFacts,
    BucketFacts,
    CertificateFacts,
    DnsName,
    DnsRecord,
    InvalidationFacts,
    InvalidationHistory,
    NotRead,
    SiteFacts,
    Ttls,
)
from chaos_runner.risks.invalidations import by_month, month_start
from chaos_runner.risks.reading import READ_ACTIONS
from chaos_runner.risks.render import as_markdown
from chaos_runner.sandbox.demo import demo_distribution_config
from tests.account.iam_checks import parliament_findings

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
ARN = "arn:aws:cloudfront::123456789012:distribution/EDEMO00000000A"
DOMAIN = "d1234abcd.cloudfront.net"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/c0ffee"


def facts(change: Any = None, **fields: Any) -> SiteFacts:
    """The demo distribution's facts (``change`` edits its config first), with a sound
    bucket, alarm and no invalidation; ``fields`` replace any of them."""
    config = demo_distribution_config("ref")
    if change is not None:
        change(config)
    distribution = distribution_facts(
        {"Id": "EDEMO00000000A", "ARN": ARN, "DomainName": DOMAIN, "DistributionConfig": config}
    )
    sound = SiteFacts(
        distribution=distribution,
        site_host="",
        buckets=(BucketFacts("www.example.com", True, "Enabled"),),
        alarms=(AlarmFacts("site-5xx", "5xxErrorRate", "OK", True),),
        certificate=None,
        dns=(),
        invalidations=InvalidationHistory(month_start(NOW, 2), ()),
        read_at=NOW,
    )
    return dataclasses.replace(sound, **fields)


def found(site: SiteFacts) -> dict[str, Any]:
    return {risk.id: risk for risk in review_of(site, "test").risks}


def error_response(code: int, seconds: float | None) -> Any:
    def change(config: dict[str, Any]) -> None:
        item: dict[str, Any] = {"ErrorCode": code}
        if seconds is not None:
            item["ErrorCachingMinTTL"] = seconds
        items = [i for i in config["CustomErrorResponses"]["Items"] if i["ErrorCode"] != code]
        config["CustomErrorResponses"] = {"Quantity": len(items) + 1, "Items": [*items, item]}

    return change


@pytest.mark.parametrize(
    ("seconds", "severity"),
    [(None, Severity.LOW), (9, Severity.LOW), (10, Severity.LOW), (11, Severity.MEDIUM),
     (299, Severity.MEDIUM), (300, Severity.HIGH)],
)  # fmt: skip
def test_5xx_error_caching_severity(seconds: float | None, severity: Severity) -> None:
    """503 at ``seconds``; 500, 502 and 504 keep the 10 s default (low) throughout."""
    risk = found(facts(error_response(503, seconds)))["error-caching-5xx"]

    assert risk.severity is severity


def test_5xx_cached_under_10_s_is_no_risk() -> None:
    def one_second(config: dict[str, Any]) -> None:
        for code in (500, 502, 503, 504):
            error_response(code, 1)(config)

    assert "error-caching-5xx" not in found(facts(one_second))


@pytest.mark.parametrize(
    ("seconds", "severity"),
    [(None, None), (59, None), (60, Severity.MEDIUM), (3599, Severity.MEDIUM),
     (3600, Severity.HIGH)],
)  # fmt: skip
def test_custom_404_caching_severity(seconds: float | None, severity: Severity | None) -> None:
    risk = found(facts(error_response(404, seconds))).get("error-caching-404")

    assert (risk.severity if risk else None) is severity


def test_a_catch_all_behaviour_hides_the_default_and_what_follows() -> None:
    def catch_all_first(config: dict[str, Any]) -> None:
        group = dict(config["CacheBehaviors"]["Items"][0], PathPattern="/*")
        config["CacheBehaviors"]["Items"].insert(0, group)
        config["CacheBehaviors"]["Quantity"] = 2

    site = facts(catch_all_first)

    assert [b.path_pattern for b in site.distribution.serving_behaviours()] == ["/*"]
    assert "no-origin-failover" not in found(site)


@pytest.mark.parametrize(
    ("viewers", "severity"), [("allow-all", Severity.LOW), ("redirect-to-https", None)]
)
def test_an_s3_rest_origin_is_fetched_with_the_viewers_protocol(
    viewers: str, severity: Severity | None
) -> None:
    def rest_origins(config: dict[str, Any]) -> None:
        for origin in config["Origins"]["Items"]:
            origin.pop("CustomOriginConfig")
            origin["DomainName"] = "www.example.com.s3.us-east-1.amazonaws.com"
            origin["S3OriginConfig"] = {"OriginAccessIdentity": ""}
        for behaviour in [config["DefaultCacheBehavior"], *config["CacheBehaviors"]["Items"]]:
            behaviour["ViewerProtocolPolicy"] = viewers

    risk = found(facts(rest_origins)).get("origin-http")

    assert (risk.severity if risk else None) is severity


def cache_policy(config: dict[str, Any]) -> None:
    behaviour = config["DefaultCacheBehavior"]
    for key in ("MinTTL", "DefaultTTL", "MaxTTL", "ForwardedValues"):
        behaviour.pop(key)
    behaviour["CachePolicyId"] = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"


def test_ttls_of_a_cache_policy_are_read_from_it() -> None:
    caching_disabled = {"4135ea2d-6df8-44a3-9df3-4b5a84be39ad": Ttls(0, 0, 0)}
    caching_optimized = {"4135ea2d-6df8-44a3-9df3-4b5a84be39ad": Ttls(1, 86400, 31536000)}

    zero = found(facts(cache_policy, cache_policies=caching_disabled))["default-ttl-zero"]
    fine = found(facts(cache_policy, cache_policies=caching_optimized))

    assert zero.evidence[0].startswith(
        "The default behaviour (*) (cache policy 4135ea2d-6df8-44a3-9df3-4b5a84be39ad): "
        "MaxTTL 0 s: nothing is kept"
    )
    assert "default-ttl-zero" not in fine


def test_a_cache_policy_that_cannot_be_read_is_not_checked() -> None:
    unread = {"4135ea2d-6df8-44a3-9df3-4b5a84be39ad": NotRead("AccessDenied")}

    review = review_of(facts(cache_policy, cache_policies=unread), "test")

    assert [r.id for r in review.risks if r.id.startswith("default-ttl")] == [
        "default-ttl-not-checked"
    ]
    assert "default-ttl-zero" not in review.clear


def certificate(**fields: Any) -> CertificateFacts:
    sound = CertificateFacts(
        arn=CERTIFICATE,
        domain_name="www.example.com",
        type="AMAZON_ISSUED",
        status="ISSUED",
        not_after=NOW + timedelta(days=200),
        renewal_eligibility="ELIGIBLE",
        in_use_by=(ARN,),
    )
    return dataclasses.replace(sound, **fields)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, set()),
        ({"renewal_eligibility": "INELIGIBLE"}, {"certificate-renewal"}),
        ({"renewal_status": "FAILED"}, {"certificate-renewal"}),
        ({"type": "IMPORTED", "renewal_eligibility": "INELIGIBLE"}, {"certificate-renewal"}),
        ({"not_after": NOW + timedelta(days=30)}, {"certificate-expiring"}),
        ({"not_after": NOW - timedelta(days=1), "status": "EXPIRED"}, {"certificate-expiring"}),
    ],
)
def test_certificate_expiry_and_renewal(fields: dict[str, Any], expected: set[str]) -> None:
    risks = found(facts(certificate=certificate(**fields)))

    assert {i for i in risks if i.startswith("certificate")} == expected


def test_an_expired_certificate_says_so() -> None:
    expired = certificate(not_after=NOW - timedelta(days=1), status="EXPIRED")

    risk = found(facts(certificate=expired))["certificate-expiring"]

    assert "(expired: browsers refuse the site); status EXPIRED." in risk.evidence[0]


@pytest.mark.parametrize(
    ("record", "risky"),
    [
        (DnsRecord("CNAME", DOMAIN, False), False),
        (DnsRecord("A", DOMAIN, True), False),
        (DnsRecord("CNAME", "old-site.example.net", False), True),
        (DnsRecord("A", "", False), True),
    ],
)
def test_a_dns_record_must_lead_to_the_distribution(record: DnsRecord, risky: bool) -> None:
    def alias(config: dict[str, Any]) -> None:
        config["Aliases"] = {"Quantity": 1, "Items": ["www.example.com"]}

    name = DnsName("www.example.com", "example.com", (record,))

    assert ("dns-not-this-distribution" in found(facts(alias, dns=(name,)))) is risky


def test_parts_aws_refused_are_info_and_clear_nothing() -> None:
    refused = NotRead("AWS refused to ... (DescribeAlarms: AccessDenied: ...).")

    review = review_of(facts(alarms=refused, dns=refused, invalidations=refused), "test")

    infos = {r.id: r.severity for r in review.risks if r.id.endswith("not-checked")}
    assert (
        infos.items()
        >= {
            "alarms-not-checked": Severity.INFO,
            "dns-not-checked": Severity.INFO,
            "invalidations-not-checked": Severity.INFO,
        }.items()
    )
    assert not {"no-5xx-alarm", "dns-not-this-distribution", "invalidate-everything"} & set(
        review.clear
    )
    assert review.invalidations == ()


def test_invalidations_per_month_and_their_cost() -> None:
    def made(day: datetime, *paths: str) -> InvalidationFacts:
        return InvalidationFacts(day.isoformat(), day, paths)

    december, january = datetime(2025, 12, 31, 23, tzinfo=UTC), NOW
    history = InvalidationHistory(
        month_start(NOW, 2),
        (made(december, "/*"), made(january, "/*"), made(january, *(f"/{n}" for n in range(1500)))),
    )

    months = by_month(history)

    assert [(m.month, m.invalidations, m.everything, m.paths) for m in months] == [
        ("2025-12", 1, 1, 1),
        ("2026-01", 2, 1, 1501),
    ]
    assert months[1].cost_usd == 2.505  # 501 paths beyond the free 1,000, at $0.005
    assert month_start(NOW, 2) == datetime(2025, 11, 1, tzinfo=UTC)
    assert month_start(datetime(2026, 3, 1, tzinfo=UTC), 14) == datetime(2025, 1, 1, tzinfo=UTC)


def test_markdown_cells_keep_the_table_whole() -> None:
    def piped(config: dict[str, Any]) -> None:
        config["Origins"]["Items"][0]["Id"] = "origin|with|pipes"
        config["DefaultCacheBehavior"]["TargetOriginId"] = "origin|with|pipes"
        config["OriginGroups"]["Items"][0]["Members"]["Items"][0]["OriginId"] = "origin|with|pipes"

    text = as_markdown(review_of(facts(piped), "test"), Severity.HIGH)

    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len(rows) > 2
    assert {len(re.findall(r"(?<!\\)\|", row)) for row in rows} == {6}  # 5 cells each
    assert "origin\\|with\\|pipes" in text


def test_the_documented_policy_grants_what_a_review_calls_and_parliament_agrees(
    tmp_path: Path,
) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "risks.md").read_text()
    policy = json.loads(docs.split("## Permissions")[1].split("```json")[1].split("```")[0])

    assert policy["Statement"][0]["Action"] == list(READ_ACTIONS)
    assert all(a.split(":")[1].startswith(("Get", "List", "Describe")) for a in READ_ACTIONS)
    assert parliament_findings({"risks": policy}, tmp_path) == {"risks": set()}
