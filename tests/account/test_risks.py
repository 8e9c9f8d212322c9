"""`chaos risks` on a sandbox of this module's own: first as a user runs it (the three
outputs, the exit codes, the bad inputs, proof that a review only reads), then each risk
present and gone once the setting is fixed through the AWS API (or the other way round for
the risks the demo does not have). The tests that change the sandbox come last and put
back what they changed, but for versioning and invalidations, which cannot be undone.
Changes that do not interfere are made together, so that one review sees them all."""

import copy
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import pytest
import trustme
from aiohttp import web
from typer.testing import CliRunner, Result

from chaos_runner.cli.risks import app
from chaos_runner.digest import target_digest
from chaos_runner.risks import KINDS, Risk, Severity, review
from chaos_runner.risks.reading import READ_ACTIONS
from chaos_runner.sandbox.demo import FAILOVER_BUCKET
from chaos_runner.sandbox.process import pid_alive
from chaos_runner.target import Target
from tests.commands import chaos
from tests.experiments.conftest import module_sandbox
from tests.servers import closed_port_url, serving

Config = dict[str, Any]
Change = Callable[[Config], None]
EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
#: What the demo sandbox has on purpose (docs/risks.md, "The demo sandbox").
DEMO_RISKS = {
    "error-caching-5xx": Severity.LOW,
    "no-origin-failover": Severity.MEDIUM,
    "origin-http": Severity.MEDIUM,
    "bucket-versioning-off": Severity.MEDIUM,
    "no-5xx-alarm": Severity.MEDIUM,
    "certificate-renewal": Severity.MEDIUM,
}
PAGER = "arn:aws:sns:us-east-1:123456789012:pager"
SITE_HOST = "www.chaos-demo.test"


#: The demo's risks at or above medium (docs/risks.md, "The demo sandbox").
DEMO_MEDIUM = [
    "no-origin-failover",
    "origin-http",
    "bucket-versioning-off",
    "no-5xx-alarm",
    "certificate-renewal",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A sandbox of this module's own, and the variables that point at it."""
    with module_sandbox(tmp_path_factory.mktemp("risks-cli")) as env:
        yield env


@pytest.fixture
def env(site: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process's environment pointed at the module's sandbox (and nothing else)."""
    for name in list(os.environ):
        if name.startswith(("CHAOS_", "AWS_")):
            monkeypatch.delenv(name)
    for name, value in site.items():
        if name.startswith(("CHAOS_", "AWS_")):
            monkeypatch.setenv(name, value)
    return site


def chaos_risks(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_the_person_sees_a_table_then_each_risk_in_full(env: dict[str, str]) -> None:
    result = chaos_risks()

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(
        f"Resilience risks of sandbox: distribution {env['CHAOS_DISTRIBUTION_ID']}"
    )
    table = out.split("\n\n")[1].splitlines()
    assert table[0].split() == ["severity", "risk", "title"]
    assert [line.split()[1] for line in table[1:]] == [*DEMO_MEDIUM, "error-caching-5xx"]
    assert "  change:     Add CustomErrorResponses for 500, 502, 503 and 504" in out
    assert (
        "  experiment: chaos run experiments/origin-failover.yaml (also origin-outage.yaml)" in out
    )
    assert "Checked, no risk: error-caching-404, failover-codes, failover-wait," in out
    assert out.rstrip().endswith(
        "6 finding(s): 0 high, 5 medium, 1 low, 0 info; none at or above --fail-on high (exit 0)."
    )


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--fail-on", "medium"], 1),
        (["--fail-on", "LOW", *(f"--accept={risk}" for risk in DEMO_MEDIUM)], 1),
        (["--fail-on", "medium", *(f"--accept={risk}" for risk in DEMO_MEDIUM)], 0),
    ],
)
def test_fail_on_and_accept_decide_the_exit_code(
    env: dict[str, str], args: list[str], code: int
) -> None:
    result = chaos_risks(*args)

    assert result.exit_code == code, result.output
    assert f"--fail-on {args[1].lower()} (exit {code})." in result.stdout


def test_json_on_stdout_and_markdown_in_a_file(env: dict[str, str], tmp_path: Path) -> None:
    markdown = tmp_path / "reports" / "risks.md"

    result = chaos_risks("--json", "-", "--markdown", str(markdown), "--accept", "origin-http")

    document = json.loads(result.stdout)  # nothing but the JSON on stdout
    assert result.exit_code == document["exit_code"] == 0
    assert document["distribution_id"] == env["CHAOS_DISTRIBUTION_ID"]
    assert document["fail_on"] == "high"
    assert document["counts"] == {"high": 0, "medium": 5, "low": 1, "info": 0}
    assert [risk["id"] for risk in document["risks"]] == [*DEMO_MEDIUM, "error-caching-5xx"]
    origin_http = document["risks"][1]
    assert set(origin_http) == {
        "id", "title", "severity", "accepted", "evidence", "change", "experiments", "reference"
    }  # fmt: skip
    assert origin_http["accepted"] is True
    assert origin_http["experiments"] == ["experiments/bad-deploy.yaml"]
    assert "dns-not-this-distribution" in document["clear"]
    text = markdown.read_text()
    assert "| severity | risk | evidence | change | experiment |" in text
    assert "| medium (accepted) | `origin-http`<br>CloudFront fetches" in text
    assert "[origin-failover.yaml](experiments/origin-failover.yaml)" in text


def test_every_experiment_a_risk_names_exists() -> None:
    named = {name for kind in KINDS.values() for name in kind.experiments}

    assert named <= {path.name for path in EXPERIMENTS.glob("*.yaml")}
    assert all(kind.reference.startswith("https://docs.aws.amazon.com/") for kind in KINDS.values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-on", "severe"], "Invalid value for '--fail-on'"),
        (["--accept", "no-such-risk"], "--accept no-such-risk: no such risk. The risk ids are"),
        (["--json", "-", "--markdown", "-"], "Only one of --json and --markdown can be -"),
        (["--target", "prod"], "--target takes `sandbox`"),
    ],
)
def test_usage_errors_exit_2(env: dict[str, str], args: list[str], message: str) -> None:
    result = chaos_risks(*args)

    assert result.exit_code == 2
    assert message in result.stderr


def test_with_no_target_it_says_how_to_point_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("CHAOS_", "AWS_")):
            monkeypatch.delenv(name)

    result = chaos_risks()

    assert result.exit_code == 2
    assert result.stderr.startswith("error: No site to review: set CHAOS_DISTRIBUTION_ID and ")
    assert "--target sandbox" in result.stderr
    assert 'eval "$(chaos sandbox env)"' in result.stderr


def access_denied() -> web.Application:
    """An AWS endpoint that refuses every call, as CloudFront does to a user with no rights."""

    async def refuse(request: web.Request) -> web.Response:
        body = (
            '<?xml version="1.0"?><ErrorResponse><Error><Type>Sender</Type>'
            "<Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/intern "
            "is not authorized to perform: cloudfront:GetDistribution</Message></Error>"
            "<RequestId>1</RequestId></ErrorResponse>"
        )
        return web.Response(status=403, text=body, content_type="text/xml")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    return app


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "CHAOS_DISTRIBUTION_ID",
            "E0000000000000",
            "error: No CloudFront distribution E0000000000000: GetDistribution answered "
            "NoSuchDistribution. Check CHAOS_DISTRIBUTION_ID",
        ),
        (
            "CHAOS_ORIGIN_BUCKET",
            "no-such-bucket.example",
            "error: No bucket no-such-bucket.example: GetBucketVersioning answered NoSuchBucket. "
            "Check CHAOS_ORIGIN_BUCKET",
        ),
        ("AWS_ENDPOINT_URL", "closed", "error: Could not read distribution"),
        ("AWS_ENDPOINT_URL", "refusing", "error: AWS refused to read distribution"),
    ],
)
def test_a_site_that_cannot_be_read_is_one_line_exit_2_and_nothing_written(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    variable: str,
    value: str,
    message: str,
) -> None:
    report = tmp_path / "risks.json"
    if value == "closed":
        monkeypatch.setenv(variable, closed_port_url())
        result = chaos_risks("--json", str(report))
    elif value == "refusing":
        with serving(access_denied()) as url:
            monkeypatch.setenv(variable, url)
            result = chaos_risks("--json", str(report))
    else:
        monkeypatch.setenv(variable, value)
        result = chaos_risks("--json", str(report))

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1  # one line
    assert result.stderr.rstrip().endswith("Nothing was reviewed.")
    assert not report.exists()
    if value == "closed":
        assert 'eval "$(chaos sandbox env --unset)"' in result.stderr
    if value == "refusing":
        assert "(GetDistribution: AccessDenied: User: arn:aws:iam::123456789012:user/intern" in (
            result.stderr
        )


def test_a_review_only_reads_and_leaves_the_target_as_it_was(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every AWS call is a Get, List or Describe that docs/risks.md's IAM policy grants; the
    whole target's digest is unchanged."""
    target = Target.resolve()
    before = target_digest(target)
    calls: list[str] = []
    real_call = botocore.client.BaseClient._make_api_call

    def recorded(client: Any, operation: str, params: Any) -> Any:
        calls.append(f"{client.meta.service_model.service_name}:{operation}")
        return real_call(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recorded)
    result = chaos_risks("--fail-on", "info")
    monkeypatch.undo()

    assert result.exit_code == 1
    assert set(calls) == set(READ_ACTIONS) - {  # no cache policy, no invalidation to read
        "cloudfront:GetCachePolicy",
        "cloudfront:GetInvalidation",
    }
    assert all(call.split(":")[1].startswith(("Get", "List", "Describe")) for call in calls)
    assert target_digest(target) == before


def test_target_sandbox_reviews_the_sandbox_running_here(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_") or (name.startswith("CHAOS_") and name != "CHAOS_STATE_DIR"):
            monkeypatch.delenv(name)

    result = chaos_risks("--target", "sandbox")

    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("Reviewing the sandbox running from this directory (pid ")
    assert f"distribution {env['CHAOS_DISTRIBUTION_ID']}" in result.stdout


@pytest.mark.slow
def test_target_sandbox_starts_a_temporary_sandbox_and_stops_it(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    """A real `chaos risks` process: with no sandbox running here, it starts one, reviews
    it (the demo's medium risks: exit 1 with --fail-on medium), and stops it."""
    result = chaos(["risks", "--target", "sandbox", "--fail-on", "medium"], tmp_path, clean_env)

    assert result.returncode == 1, result.stderr
    started = result.stderr.splitlines()[0]
    assert started.startswith("No sandbox is running here: started a temporary one (pid ")
    pid = int(started.split("(pid ")[1].split(")")[0])
    assert not pid_alive(pid)
    assert "5 at or above --fail-on medium (exit 1)." in result.stdout
    assert not (tmp_path / ".chaos" / "sandbox.json").exists()


# The risks one by one: present, then gone once fixed.


def client(site: dict[str, str], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=site["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox-secret",
    )


def found_in(site: dict[str, str], **overrides: str) -> dict[str, Risk]:
    """The risks `chaos risks` finds now, by id (not-checked findings included)."""
    found = review(Target.resolve(environ={**site, **overrides}))
    return {risk.id: risk for risk in found.risks}


def text(found: dict[str, Risk], risk_id: str) -> str:
    return " ".join(found[risk_id].evidence)


@contextmanager
def changed(site: dict[str, str], *changes: Change) -> Iterator[None]:
    """The demo distribution with ``changes`` applied; its prior config put back after."""
    cloudfront = client(site, "cloudfront")
    distribution_id = site["CHAOS_DISTRIBUTION_ID"]
    before = cloudfront.get_distribution_config(Id=distribution_id)
    config = copy.deepcopy(before["DistributionConfig"])
    for change in changes:
        change(config)
    cloudfront.update_distribution(
        Id=distribution_id, IfMatch=before["ETag"], DistributionConfig=config
    )
    try:
        yield
    finally:
        etag = cloudfront.get_distribution_config(Id=distribution_id)["ETag"]
        cloudfront.update_distribution(
            Id=distribution_id, IfMatch=etag, DistributionConfig=before["DistributionConfig"]
        )


def error_responses(*items: dict[str, Any]) -> Change:
    def change(config: Config) -> None:
        codes = {item["ErrorCode"] for item in items}
        kept = [i for i in config["CustomErrorResponses"]["Items"] if i["ErrorCode"] not in codes]
        config["CustomErrorResponses"] = {
            "Quantity": len(kept) + len(items),
            "Items": [*kept, *items],
        }

    return change


def every_page_behind_the_group(config: Config) -> None:
    """A `*` cache behaviour to the origin group (moto refuses a group as the default's)."""
    catch_all = copy.deepcopy(config["CacheBehaviors"]["Items"][0])
    catch_all["PathPattern"] = "*"
    items = [*config["CacheBehaviors"]["Items"], catch_all]
    config["CacheBehaviors"] = {"Quantity": len(items), "Items": items}


def origin_protocol(policy: str) -> Change:
    def change(config: Config) -> None:
        for origin in config["Origins"]["Items"]:
            origin["CustomOriginConfig"]["OriginProtocolPolicy"] = policy

    return change


def certificate(arn: str) -> Change:
    def change(config: Config) -> None:
        config["ViewerCertificate"]["ACMCertificateArn"] = arn

    return change


@contextmanager
def alarm(site: dict[str, str], name: str, distribution: str, actions: list[str]) -> Iterator[None]:
    """A CloudWatch alarm on a distribution's 5xxErrorRate, deleted after."""
    cloudwatch = client(site, "cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name, Namespace="AWS/CloudFront", MetricName="5xxErrorRate",
        Dimensions=[{"Name": "DistributionId", "Value": distribution},
                    {"Name": "Region", "Value": "Global"}],
        Statistic="Average", Period=60, EvaluationPeriods=3, Threshold=1,
        ComparisonOperator="GreaterThanThreshold", AlarmActions=actions,
    )  # fmt: skip
    try:
        yield
    finally:
        cloudwatch.delete_alarms(AlarmNames=[name])


def test_the_demo_sandbox_has_its_risks_on_purpose(site: dict[str, str]) -> None:
    """First in the module: a later test enables versioning, which cannot be undone."""
    found = found_in(site)

    assert {
        i: r.severity for i, r in found.items() if r.severity is not Severity.INFO
    } == DEMO_RISKS
    assert found["error-caching-5xx"].evidence[0] == (
        "ErrorCachingMinTTL for 500, 502, 503 and 504 is 10 s (the default: no "
        "CustomErrorResponse)."
    )
    assert found["no-origin-failover"].evidence[0] == (
        "The default behaviour (*) sends cache misses to origin s3-website-origin alone."
    )
    assert "OriginProtocolPolicy http-only (an S3 website endpoint" in text(found, "origin-http")
    assert f"Bucket {SITE_HOST}: versioning never enabled" in text(found, "bucket-versioning-off")
    assert "ACM never renews an imported certificate" in text(found, "certificate-renewal")


def test_the_demos_risks_go_once_fixed(site: dict[str, str]) -> None:
    """Every risk the demo has on purpose but versioning (see the test below), fixed at once:
    5xx not cached, every page behind the origin group, HTTPS to the origins, an alarm that
    tells someone, an ACM-issued certificate."""
    acm = client(site, "acm")
    issued = acm.request_certificate(DomainName=SITE_HOST, ValidationMethod="DNS")
    fixes = (
        error_responses(
            *({"ErrorCode": code, "ErrorCachingMinTTL": 1} for code in (500, 502, 503, 504))
        ),
        every_page_behind_the_group,
        origin_protocol("https-only"),
        certificate(issued["CertificateArn"]),
    )
    distribution = site["CHAOS_DISTRIBUTION_ID"]
    with changed(site, *fixes), alarm(site, "site-5xx", distribution, [PAGER]):
        fixed = found_in(site)

    assert set(DEMO_RISKS) & set(fixed) <= {"bucket-versioning-off"}
    # moto lists no user of a certificate and calls every ACM-issued one INELIGIBLE.
    assert "InUseBy does not list this distribution" in text(fixed, "certificate-not-checked")


def test_bucket_versioning_enabled_then_suspended(site: dict[str, str]) -> None:
    s3 = client(site, "s3")
    buckets = [site["CHAOS_ORIGIN_BUCKET"], FAILOVER_BUCKET]

    for bucket in buckets:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    enabled = found_in(site)
    s3.put_bucket_versioning(Bucket=buckets[1], VersioningConfiguration={"Status": "Suspended"})
    suspended = found_in(site)

    assert "bucket-versioning-off" not in enabled
    assert suspended["bucket-versioning-off"].evidence[0] == (
        f"Bucket {buckets[1]}: versioning Suspended."
    )


def long_404_caching(config: Config) -> None:
    page = {"ErrorCode": 404, "ResponsePagePath": "/404.html", "ResponseCode": "404"}
    error_responses({**page, "ErrorCachingMinTTL": 86400})(config)


def failover_on_500_and_502(config: Config) -> None:
    codes = {"Quantity": 2, "Items": [500, 502]}
    config["OriginGroups"]["Items"][0]["FailoverCriteria"]["StatusCodes"] = codes


def cloudfront_default_timeouts(config: Config) -> None:
    primary = config["Origins"]["Items"][0]
    primary.update(ConnectionAttempts=3, ConnectionTimeout=10)
    primary["CustomOriginConfig"]["OriginReadTimeout"] = 30


def no_default_ttl(config: Config) -> None:
    config["DefaultCacheBehavior"].update(MinTTL=0, DefaultTTL=0)


def failover_bucket_gone(config: Config) -> None:
    domain = "www.chaos-demo.test-gone.s3-website-us-east-1.amazonaws.com"
    config["Origins"]["Items"][1]["DomainName"] = domain


def test_risks_the_demo_does_not_have_appear_and_go(site: dict[str, str]) -> None:
    """404s cached for a day, failover on 500 and 502 only, CloudFront's default timeouts,
    DefaultTTL 0, an origin naming a missing bucket; all gone once the config is back."""
    added = {
        "error-caching-404": Severity.HIGH,
        "failover-codes": Severity.MEDIUM,
        "failover-wait": Severity.MEDIUM,
        "default-ttl-zero": Severity.HIGH,
        "origin-bucket-missing": Severity.HIGH,
    }
    changes = (
        long_404_caching,
        failover_on_500_and_502,
        cloudfront_default_timeouts,
        no_default_ttl,
        failover_bucket_gone,
    )
    with changed(site, *changes):
        broken = found_in(site)
    again = found_in(site)

    assert {risk_id: broken[risk_id].severity for risk_id in added} == added
    assert not set(added) & set(again)
    assert broken["error-caching-404"].evidence[0] == (
        "ErrorCachingMinTTL for 404 is 86400 s (1 day) (CustomErrorResponse, page /404.html)."
    )
    assert broken["failover-codes"].evidence[0] == (
        "Origin group s3-website-group fails over on 500 and 502: not on 503 and 504, which "
        "readers then get from the primary."
    )
    wait = text(broken, "failover-wait")
    assert "3 connection attempt(s) x 10 s = 30 s when it does not accept connections" in wait
    assert "3 x 30 s (response timeout) = 90 s" in wait
    assert (
        broken["default-ttl-zero"]
        .evidence[0]
        .startswith("The default behaviour (*) (its settings): DefaultTTL 0 s")
    )
    assert "www.chaos-demo.test-gone, named by an origin" in text(broken, "origin-bucket-missing")


def test_5xx_error_caching_longer_than_the_default_is_medium(site: dict[str, str]) -> None:
    cached_a_minute = ({"ErrorCode": 503, "ErrorCachingMinTTL": 60},)
    with changed(site, error_responses(*cached_a_minute)):
        found = found_in(site)["error-caching-5xx"]

    assert found.severity is Severity.MEDIUM
    assert found.evidence[:2] == (
        "ErrorCachingMinTTL for 500, 502 and 504 is 10 s (the default: no CustomErrorResponse).",
        "ErrorCachingMinTTL for 503 is 60 s (1 min) (CustomErrorResponse).",
    )


def test_origins_fetched_with_the_viewers_protocol_are_low(site: dict[str, str]) -> None:
    with changed(site, origin_protocol("match-viewer")):
        found = found_in(site)["origin-http"]

    assert found.severity is Severity.LOW
    assert "allows HTTP viewers (ViewerProtocolPolicy allow-all)" in " ".join(found.evidence)


def test_an_alarm_with_no_action_or_on_another_distribution(site: dict[str, str]) -> None:
    distribution = site["CHAOS_DISTRIBUTION_ID"]

    with alarm(site, "other-site-5xx", "E0THERDISTRIB1", [PAGER]):
        other = found_in(site)["no-5xx-alarm"]
        with alarm(site, "site-5xx", distribution, []):
            silent = found_in(site)["no-5xx-alarm"]

    assert other.severity is Severity.MEDIUM
    assert silent.severity is Severity.LOW
    assert silent.evidence[0].startswith("Alarm site-5xx watches 5xxErrorRate (state ")
    assert silent.evidence[0].endswith(
        "has no alarm action enabled: it changes state and tells nobody."
    )


def test_a_metric_math_alarm_on_the_error_rate_counts(site: dict[str, str]) -> None:
    cloudwatch = client(site, "cloudwatch")
    dimensions = [
        {"Name": "DistributionId", "Value": site["CHAOS_DISTRIBUTION_ID"]},
        {"Name": "Region", "Value": "Global"},
    ]
    rate = {"Namespace": "AWS/CloudFront", "MetricName": "TotalErrorRate", "Dimensions": dimensions}
    cloudwatch.put_metric_alarm(
        AlarmName="site-errors-math", EvaluationPeriods=3, Threshold=5,
        ComparisonOperator="GreaterThanThreshold", AlarmActions=[PAGER],
        Metrics=[
            {"Id": "errors", "MetricStat": {"Metric": rate, "Period": 60, "Stat": "Average"},
             "ReturnData": False},
            {"Id": "smoothed", "Expression": "errors * 1", "ReturnData": True},
        ],
    )  # fmt: skip
    try:
        found = found_in(site)
    finally:
        cloudwatch.delete_alarms(AlarmNames=["site-errors-math"])

    assert "no-5xx-alarm" not in found


def test_a_certificate_that_expires_within_30_days(site: dict[str, str]) -> None:
    ca = trustme.CA()
    not_after = datetime.now(UTC) + timedelta(days=10, hours=1)
    leaf = ca.issue_cert(SITE_HOST, not_before=not_after - timedelta(days=90), not_after=not_after)
    arn = client(site, "acm").import_certificate(
        Certificate=leaf.cert_chain_pems[0].bytes(),
        PrivateKey=leaf.private_key_pem.bytes(),
        CertificateChain=ca.cert_pem.bytes(),
    )["CertificateArn"]

    with changed(site, certificate(arn)):
        found = found_in(site)

    assert found["certificate-expiring"].severity is Severity.HIGH
    assert found["certificate-expiring"].evidence[0] == (
        f"Certificate {arn} ({SITE_HOST}, IMPORTED): NotAfter {not_after.date().isoformat()} "
        "(10 day(s) left); status ISSUED."
    )
    assert "certificate-renewal" in found
    assert "certificate-expiring" not in found_in(site)  # the demo's own, good for a year


def test_no_certificate_and_no_host_name_of_its_own_are_said(site: dict[str, str]) -> None:
    def default_certificate(config: Config) -> None:
        config["Aliases"] = {"Quantity": 0, "Items": []}
        config["ViewerCertificate"] = {"CloudFrontDefaultCertificate": True}

    with changed(site, default_certificate):
        found = found_in(site)

    assert found["certificate-not-checked"].severity is Severity.INFO
    assert "*.cloudfront.net certificate, which AWS renews" in text(
        found, "certificate-not-checked"
    )
    assert "no host name of its own" in text(found, "dns-not-checked")


@contextmanager
def site_records(site: dict[str, str], changes: list[dict[str, Any]]) -> Iterator[None]:
    """The site's A and AAAA records changed, then put back as they were."""
    route53 = client(site, "route53")
    zone = route53.list_hosted_zones()["HostedZones"][0]["Id"]
    listed = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    kept = [r for r in listed if r["Name"] == f"{SITE_HOST}." and r["Type"] in ("A", "AAAA")]
    route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    try:
        yield
    finally:
        back = [{"Action": "UPSERT", "ResourceRecordSet": record} for record in kept]
        route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": back})


def test_dns_that_leads_to_another_distribution(site: dict[str, str]) -> None:
    other = "d111111abcdef8.cloudfront.net"
    alias = {"HostedZoneId": "Z2FDTNDATAQYW2", "DNSName": other, "EvaluateTargetHealth": False}
    record = {"Name": f"{SITE_HOST}.", "Type": "A", "AliasTarget": alias}

    with site_records(site, [{"Action": "UPSERT", "ResourceRecordSet": record}]):
        found = found_in(site)["dns-not-this-distribution"]

    assert found.severity is Severity.HIGH
    assert found.evidence[0].startswith(f"{SITE_HOST} A alias leads to {other}, not ")
    assert "dns-not-this-distribution" not in found_in(site)


def test_dns_with_no_record_and_a_host_that_is_no_alias(site: dict[str, str]) -> None:
    route53 = client(site, "route53")
    zone = route53.list_hosted_zones()["HostedZones"][0]["Id"]
    listed = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    mine = [r for r in listed if r["Name"] == f"{SITE_HOST}." and r["Type"] in ("A", "AAAA")]

    with site_records(site, [{"Action": "DELETE", "ResourceRecordSet": r} for r in mine]):
        found = found_in(site, CHAOS_SITE_URL="https://www.elsewhere.example/")

    assert mine  # the sandbox's alias records
    evidence = text(found, "dns-not-this-distribution")
    assert (
        "www.elsewhere.example (CHAOS_SITE_URL) is not among the distribution's Aliases" in evidence
    )
    assert f"{SITE_HOST} has no A, AAAA or CNAME record in hosted zone chaos-demo.test" in evidence
    assert "No public hosted zone of this account holds www.elsewhere.example" in text(
        found, "dns-not-checked"
    )


def test_invalidations_of_everything_and_their_cost(site: dict[str, str]) -> None:
    cloudfront = client(site, "cloudfront")

    def invalidate(*paths: str) -> None:
        batch = {
            "Paths": {"Quantity": len(paths), "Items": list(paths)},
            "CallerReference": f"{datetime.now(UTC).timestamp()}-{len(paths)}",
        }
        cloudfront.create_invalidation(
            DistributionId=site["CHAOS_DISTRIBUTION_ID"], InvalidationBatch=batch
        )

    assert "invalidate-everything" not in found_in(site)  # a fresh sandbox: no invalidation
    invalidate("/posts/*")
    invalidate("/*")
    once = found_in(site)
    invalidate("/*")
    invalidate(*(f"/page-{n}.html" for n in range(1000)))
    found = found_in(site)

    month = datetime.now(UTC).strftime("%Y-%m")
    assert once["invalidate-everything"].severity is Severity.LOW  # 1 of 2
    assert "invalidation-cost" not in once
    assert found["invalidate-everything"].severity is Severity.MEDIUM  # 2 of 4: most deploys
    assert found["invalidate-everything"].evidence[0] == (
        f"{month}: 2 of 4 invalidation(s) were /*; 1,003 path(s) billed (a wildcard is one): "
        "$0.01 beyond the 1,000 free paths."
    )
    assert found["invalidation-cost"].severity is Severity.LOW
    assert (
        "1,003 path(s) invalidated, 3 beyond the 1,000 free ones at $0.005 each: $0.01"
        in (found["invalidation-cost"].evidence[0])
    )
