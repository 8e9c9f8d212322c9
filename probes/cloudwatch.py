"""CloudFront's CloudWatch metrics and alarms, for real distributions (and the sandbox).

CloudFront publishes its metrics in ``us-east-1`` only, in the ``AWS/CloudFront``
namespace, with the dimensions ``DistributionId`` and ``Region=Global``; so these probes
ask CloudWatch in us-east-1 whatever ``AWS_REGION`` says. The default metrics are
published for every distribution: ``Requests``, ``BytesDownloaded``, ``4xxErrorRate``,
``5xxErrorRate`` and ``TotalErrorRate``. The additional metrics (``CacheHitRate``,
``OriginLatency`` and the per-status error rates) exist only while the distribution's
monitoring subscription is on; ``additional: auto`` asks for them only then.

The figures tolerances read are top-level: ``requests`` (sum over the window),
``error_rate_4xx`` and ``error_rate_5xx`` (the highest period's average, in percent),
``cache_hit_rate`` (mean, percent) and ``origin_latency_ms`` (highest period's average).
A metric without datapoints gives null.

Examples::

        - type: probe
          name: few-5xx-at-the-edge
          tolerance: {type: range, target: error_rate_5xx, range: [0, 1]}
          provider:
            type: python
            module: probes.cloudwatch
            func: cloudfront_metrics
            arguments: {minutes: 10}
        - type: probe
          name: no-alarm-is-firing
          tolerance: {type: range, target: in_alarm_count, range: [0, 0]}
          provider:
            type: python
            module: probes.cloudwatch
            func: alarm_states
            arguments: {prefix: "my-site-"}
"""

import statistics
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from chaos_runner import ConfigurationError
from chaos_runner.activity import activity
from chaos_runner.aws import aws_errors, cloudfront_client, cloudwatch_client, error_code
from chaos_runner.target import Target
from probes import _arguments

if TYPE_CHECKING:
    pass

__all__ = [
    "AlarmStates",
    "CloudFrontMetrics",
    "MetricSummary",
    "alarm_states",
    "cloudfront_metrics",
]

#: Where CloudFront publishes its metrics, whatever the distribution's viewers.
METRICS_REGION = "us-east-1"
DEFAULT_METRICS = ("Requests", "BytesDownloaded", "4xxErrorRate", "5xxErrorRate", "TotalErrorRate")
ADDITIONAL_METRICS = (
    "CacheHitRate",
    "OriginLatency",
    "401ErrorRate",
    "403ErrorRate",
    "404ErrorRate",
    "502ErrorRate",
    "503ErrorRate",
    "504ErrorRate",
)
_SUMMED = frozenset({"Requests", "BytesDownloaded", "BytesUploaded"})
_NO_SUBSCRIPTION = frozenset({"NoSuchMonitoringSubscription"})
MAX_MINUTES = 24 * 60.0

Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None
Subscription = Literal["enabled", "disabled", "unknown"]


class MetricSummary(TypedDict):
    """One metric over the window: its statistic per period, summarised."""

    statistic: str
    datapoints: int
    latest: float | None
    max: float | None
    mean: float | None
    sum: float | None


class CloudFrontMetrics(TypedDict):
    """CloudFront metrics of one distribution over the last ``minutes``."""

    distribution_id: str
    start: str
    end: str
    period_s: int
    monitoring_subscription: Subscription
    metrics: dict[str, MetricSummary]
    requests: float | None
    error_rate_4xx: float | None
    error_rate_5xx: float | None
    cache_hit_rate: float | None
    origin_latency_ms: float | None


class AlarmStates(TypedDict):
    """The state of each alarm asked for, and which are firing."""

    region: str
    alarms: dict[str, str]
    in_alarm: list[str]
    in_alarm_count: int
    insufficient_data: list[str]
    ok: bool


@activity
def cloudfront_metrics(
    distribution_id: str = "",
    minutes: float = 15.0,
    period: int = 60,
    metrics: str | list[str] = "",
    additional: str = "auto",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> CloudFrontMetrics:
    """CloudFront metrics of the distribution (default ``CHAOS_DISTRIBUTION_ID``).

    Over the last ``minutes``, one datapoint per ``period`` seconds (60 or a multiple).
    ``metrics`` names them (default: the ones every distribution has); ``additional`` is
    ``auto`` (add the additional metrics when the monitoring subscription is on),
    ``always`` or ``never``.
    """
    target = Target.resolve(configuration)
    if not distribution_id:
        target.require("CHAOS_DISTRIBUTION_ID")
    distribution_id = distribution_id or target.distribution_id
    window = _arguments.number("minutes", minutes, 0.0, MAX_MINUTES, exclusive_low=True)
    seconds = int(_arguments.number("period", period, 60, 86_400, whole=True))
    if seconds % 60:
        raise ConfigurationError(f"`period` must be a multiple of 60 seconds; got {period!r}.")
    if additional not in ("auto", "always", "never"):
        raise ConfigurationError(
            f"`additional` must be 'auto', 'always' or 'never'; got {additional!r}."
        )
    subscription = _subscription(target, distribution_id)
    names = _metric_names(metrics, additional, subscription)
    end = datetime.now(UTC)
    start = end - timedelta(minutes=window)
    found = _query(target, distribution_id, names, start, end, seconds)

    def pick(name: str, key: Literal["max", "mean", "sum"]) -> float | None:
        summary = found.get(name)
        return None if summary is None else summary[key]

    latency = pick("OriginLatency", "max")
    return CloudFrontMetrics(
        distribution_id=distribution_id,
        start=start.isoformat(),
        end=end.isoformat(),
        period_s=seconds,
        monitoring_subscription=subscription,
        metrics=found,
        requests=pick("Requests", "sum"),
        error_rate_4xx=pick("4xxErrorRate", "max"),
        error_rate_5xx=pick("5xxErrorRate", "max"),
        cache_hit_rate=pick("CacheHitRate", "mean"),
        origin_latency_ms=latency,
    )


@activity
def alarm_states(
    names: str | list[str] = "",
    prefix: str = "",
    region: str = METRICS_REGION,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> AlarmStates:
    """The state of the CloudWatch alarms named (or starting with ``prefix``).

    Alarms on CloudFront metrics live in us-east-1 (the default ``region``). ``ok`` is
    true when none is in ``ALARM``; an alarm named but not found is an error.
    """
    wanted = [names] if isinstance(names, str) and names else list(names or [])
    if not wanted and not prefix:
        raise ConfigurationError(
            "alarm_states needs the alarms to read: give `names` (a name or a list) or "
            "`prefix` (a common start of their names)."
        )
    client = cloudwatch_client(region, Target.resolve(configuration).endpoint_url)
    states: dict[str, str] = {}
    paginator = client.get_paginator("describe_alarms")
    query: dict[str, Any] = {"AlarmNames": wanted} if wanted else {"AlarmNamePrefix": prefix}
    with aws_errors("DescribeAlarms", f"read the CloudWatch alarms in {region}"):
        for page in paginator.paginate(**query):
            for alarm in (*page.get("MetricAlarms", ()), *page.get("CompositeAlarms", ())):
                states[str(alarm["AlarmName"])] = str(alarm["StateValue"])
    missing = [name for name in wanted if name not in states]
    if missing:
        raise ConfigurationError(
            f"No CloudWatch alarm named {', '.join(missing)} in {region}. Check the names, "
            "and that alarms on CloudFront metrics are created in us-east-1."
        )
    firing = sorted(name for name, state in states.items() if state == "ALARM")
    return AlarmStates(
        region=region,
        alarms=dict(sorted(states.items())),
        in_alarm=firing,
        in_alarm_count=len(firing),
        insufficient_data=sorted(n for n, s in states.items() if s == "INSUFFICIENT_DATA"),
        ok=not firing,
    )


def _subscription(target: Target, distribution_id: str) -> Subscription:
    """Whether the distribution's additional metrics are on (``unknown`` if not readable)."""
    from botocore.exceptions import BotoCoreError, ClientError

    cloudfront = cloudfront_client(target.region, target.endpoint_url)
    try:
        answer = cloudfront.get_monitoring_subscription(DistributionId=distribution_id)
    except ClientError as error:
        return "disabled" if error_code(error) in _NO_SUBSCRIPTION else "unknown"
    except BotoCoreError:
        return "unknown"
    config = answer.get("MonitoringSubscription", {}).get("RealtimeMetricsSubscriptionConfig", {})
    enabled = config.get("RealtimeMetricsSubscriptionStatus") == "Enabled"
    return "enabled" if enabled else "disabled"


def _metric_names(
    metrics: str | list[str], additional: str, subscription: Subscription
) -> list[str]:
    if metrics:
        names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
        return [name.strip() for name in names if name.strip()]
    extra = additional == "always" or (additional == "auto" and subscription == "enabled")
    return [*DEFAULT_METRICS, *(ADDITIONAL_METRICS if extra else ())]


def _query(
    target: Target,
    distribution_id: str,
    names: list[str],
    start: datetime,
    end: datetime,
    period: int,
) -> dict[str, MetricSummary]:
    dimensions = [
        {"Name": "DistributionId", "Value": distribution_id},
        {"Name": "Region", "Value": "Global"},
    ]
    queries: list[Any] = [
        {
            "Id": f"m{index}",
            "Label": name,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/CloudFront",
                    "MetricName": name,
                    "Dimensions": dimensions,
                },
                "Period": period,
                "Stat": _statistic(name),
            },
            "ReturnData": True,
        }
        for index, name in enumerate(names)
    ]
    client = cloudwatch_client(METRICS_REGION, target.endpoint_url)
    values: dict[str, list[tuple[datetime, float]]] = {name: [] for name in names}
    paginator = client.get_paginator("get_metric_data")
    with aws_errors("GetMetricData", f"read the CloudFront metrics of {distribution_id}"):
        for page in paginator.paginate(MetricDataQueries=queries, StartTime=start, EndTime=end):
            for result in page["MetricDataResults"]:
                name = names[int(str(result["Id"])[1:])]
                values[name].extend(zip(result["Timestamps"], result["Values"], strict=True))
    return {name: _summary(name, points) for name, points in values.items()}


def _statistic(name: str) -> str:
    return "Sum" if name in _SUMMED else "Average"


def _summary(name: str, points: list[tuple[datetime, float]]) -> MetricSummary:
    ordered = [value for _, value in sorted(points)]
    if not ordered:
        return MetricSummary(
            statistic=_statistic(name), datapoints=0, latest=None, max=None, mean=None, sum=None
        )
    return MetricSummary(
        statistic=_statistic(name),
        datapoints=len(ordered),
        latest=ordered[-1],
        max=max(ordered),
        mean=round(statistics.fmean(ordered), 6),
        sum=sum(ordered),
    )
