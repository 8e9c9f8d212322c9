"""The watch probe through a real origin outage, and the AWS-side probes against moto."""

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from chaoslib.exceptions import ActivityFailed

from chaos_runner import run
from chaos_runner.faults.ledger import restore_injected_faults
from chaos_runner.faults.s3 import deny_origin_reads
from chaos_runner.sandbox import demo
from chaos_runner.sandbox.state import SANDBOX_ACCESS_KEY, SANDBOX_SECRET_KEY, SandboxInfo
from probes import cloudfront, cloudwatch, watch
from probes.watch import WatchResult
from tests.sandbox.edge_client import aws
from tests.servers import closed_port_url


@pytest.fixture
def uncached_page(sandbox_env: SandboxInfo) -> Iterator[str]:
    """A page the edge never caches (``Cache-Control: no-cache``), so every GET reaches S3."""
    s3 = aws(sandbox_env, "s3")
    key = f"probe-tests/live-{uuid.uuid4().hex[:8]}.html"
    s3.put_object(
        Bucket=sandbox_env.bucket,
        Key=key,
        Body=b"<html>live</html>",
        ContentType="text/html",
        CacheControl="no-cache",
    )
    yield key
    s3.delete_object(Bucket=sandbox_env.bucket, Key=key)


def test_the_watch_times_detection_and_recovery_of_an_origin_outage(
    sandbox_env: SandboxInfo, uncached_page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run.start()  # as the safety control does: the watch follows this run's faults
    results: list[WatchResult] = []
    watcher = threading.Thread(
        target=lambda: results.append(
            watch.health_timeline(f"/{uncached_page}", recovery_window=0.5, max_duration=15)
        )
    )
    watcher.start()
    try:
        time.sleep(0.5)  # a healthy baseline
        deny_origin_reads(verify_key=uncached_page)
        time.sleep(0.5)  # the outage
    finally:
        restore_injected_faults()
        watcher.join(timeout=20)
        run.finish()

    result = results[0]
    assert result["stopped_because"] == "recovered"
    assert result["faults"] is not None and result["faults"]["entries"] == 1
    assert result["time_to_detect_s"] is not None and result["time_to_detect_s"] < 0.5
    assert result["time_to_recover_s"] is not None and result["time_to_recover_s"] < 1.0
    assert [segment["healthy"] for segment in result["segments"]] == [True, False, True]
    assert result["segments"][1]["answers"] == {"403": result["segments"][1]["samples"]}
    assert result["availability_during_fault"] is not None
    assert result["availability_during_fault"] < 0.5


# -- CloudFront ----------------------------------------------------------------------------


def test_distribution_status_reports_deployed_and_a_stable_digest(
    sandbox_env: SandboxInfo,
) -> None:
    first = cloudfront.distribution_status()
    second = cloudfront.distribution_status(sandbox_env.distribution_id)

    assert (first["id"], first["status"], first["deployed"]) == (
        sandbox_env.distribution_id,
        "Deployed",
        True,
    )
    assert first["enabled"] is True
    assert first["origins"][0] == demo.ORIGIN_ID
    assert len(first["config_sha256"]) == 64
    assert first["config_sha256"] == second["config_sha256"]


def test_invalidation_status_is_normalised_and_defaults_to_the_newest(
    sandbox_env: SandboxInfo,
) -> None:
    client = aws(sandbox_env, "cloudfront")
    created = []
    for path in ("/first", "/second"):
        answer = client.create_invalidation(
            DistributionId=sandbox_env.distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": 1, "Items": [path]},
                "CallerReference": uuid.uuid4().hex,
            },
        )
        created.append(answer["Invalidation"]["Id"])
        time.sleep(0.01)  # distinct creation times

    newest = cloudfront.invalidation_status()
    first = cloudfront.invalidation_status(created[0])

    assert (newest["id"], newest["status"], newest["completed"]) == (created[1], "Completed", True)
    assert newest["paths"] == ["/second"]
    assert (first["id"], first["paths"]) == (created[0], ["/first"])


def test_an_unknown_distribution_is_an_aws_error(sandbox_env: SandboxInfo) -> None:
    with pytest.raises(ActivityFailed, match="describe distribution ENOSUCHDIST"):
        cloudfront.distribution_status("ENOSUCHDIST")


def test_a_proxy_in_the_environment_is_not_used_for_the_sandbox(
    sandbox_env: SandboxInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CI runner behind a proxy: the proxy cannot reach this machine's loopback."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, closed_port_url())
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    assert cloudfront.distribution_status()["status"] == "Deployed"


def test_status_spelling_is_aws_s() -> None:
    assert cloudfront.normalised_status("COMPLETED") == "Completed"
    assert cloudfront.normalised_status("InProgress") == "InProgress"
    assert cloudfront.normalised_status("IN_PROGRESS") == "InProgress"


# -- CloudWatch ----------------------------------------------------------------------------


def test_cloudfront_metrics_are_read_from_us_east_1_with_region_global(
    sandbox_env: SandboxInfo,
) -> None:
    distribution = f"EPROBE{uuid.uuid4().hex[:8].upper()}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    dimensions = [
        {"Name": "DistributionId", "Value": distribution},
        {"Name": "Region", "Value": "Global"},
    ]
    points = [("Requests", 3, 120.0), ("Requests", 2, 180.0), ("5xxErrorRate", 3, 0.5),
              ("5xxErrorRate", 2, 2.0)]  # fmt: skip
    boto3.client(
        "cloudwatch",
        endpoint_url=sandbox_env.aws_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=SANDBOX_ACCESS_KEY,
        aws_secret_access_key=SANDBOX_SECRET_KEY,
    ).put_metric_data(
        Namespace="AWS/CloudFront",
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": dimensions,
                "Timestamp": now - timedelta(minutes=minutes_ago),
                "Value": value,
            }
            for name, minutes_ago, value in points
        ],
    )

    result = cloudwatch.cloudfront_metrics(distribution, minutes=10)

    assert result["requests"] == 300.0
    assert result["error_rate_5xx"] == 2.0
    assert result["error_rate_4xx"] is None  # no datapoint
    assert result["metrics"]["Requests"]["datapoints"] == 2
    assert result["metrics"]["5xxErrorRate"]["statistic"] == "Average"
    assert result["monitoring_subscription"] == "unknown"  # moto has no such API
    assert "CacheHitRate" not in result["metrics"]
    assert (
        "CacheHitRate"
        in cloudwatch.cloudfront_metrics(distribution, additional="always")["metrics"]
    )


def test_alarm_states_name_the_alarms_firing(sandbox_env: SandboxInfo) -> None:
    client = boto3.client(
        "cloudwatch",
        endpoint_url=sandbox_env.aws_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=SANDBOX_ACCESS_KEY,
        aws_secret_access_key=SANDBOX_SECRET_KEY,
    )
    prefix = f"probe-{uuid.uuid4().hex[:6]}-"
    names = [prefix + "5xx", prefix + "latency"]
    for name in names:
        client.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/CloudFront",
            MetricName="5xxErrorRate",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
        )
    client.set_alarm_state(AlarmName=names[0], StateValue="ALARM", StateReason="probe test")
    client.set_alarm_state(AlarmName=names[1], StateValue="OK", StateReason="probe test")
    try:
        by_prefix = cloudwatch.alarm_states(prefix=prefix)
        by_name = cloudwatch.alarm_states(names[1])
        with pytest.raises(ActivityFailed, match=f"No CloudWatch alarm named {prefix}gone"):
            cloudwatch.alarm_states([names[1], prefix + "gone"])
    finally:
        client.delete_alarms(AlarmNames=names)

    assert by_prefix["alarms"] == {names[0]: "ALARM", names[1]: "OK"}
    assert (by_prefix["in_alarm"], by_prefix["in_alarm_count"], by_prefix["ok"]) == (
        [names[0]],
        1,
        False,
    )
    assert (by_name["alarms"], by_name["ok"]) == ({names[1]: "OK"}, True)
