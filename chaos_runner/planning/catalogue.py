"""The probes, declared: the AWS permissions each needs, and the load it sends to the site.

The faults declare themselves (:func:`chaos_runner.iam.declares`, beside their code); the
probes change nothing, and their declarations live here, with a load model each: from the
probe's arguments (its defaults filled in) and the number of pages it asks for, how many
requests a second it sends to the site and how many in all (:class:`Load`).

Every activity of :mod:`probes` must be declared here: ``tests/account/test_iam_declarations.py``
fails when one is not (a new probe that calls AWS would otherwise get a policy that lacks
its permissions).
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chaos_runner.iam import (
    Declaration,
    Names,
    Permission,
    Resource,
    declare,
    given,
    not_given,
)

__all__ = ["LOAD_MODELS", "Load", "PageCount", "load_of"]

Arguments = Mapping[str, Any]
#: How many distinct pages a paths argument names (roles counted as the plan resolves them).
PageCount = Callable[[Any], int]


@dataclass(frozen=True, slots=True)
class Load:
    """What one run of a probe sends to the site: requests a second, requests in all.

    ``per_second`` is None when the requests are not paced (all at once, or as fast as
    the connections allow); ``total`` is None when only time bounds them.
    """

    per_second: float | None
    total: int | None
    words: str

    @classmethod
    def none(cls, words: str = "no request to the site") -> "Load":
        """A probe that sends nothing to the site."""
        return cls(0.0, 0, words)


def _number(arguments: Arguments, name: str) -> float | None:
    """An argument as a number (``${...}`` substitutions arrive as strings); None if not one."""
    value = arguments.get(name)
    if isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _count(number: float) -> str:
    return f"{round(number):,}"


def _rate(number: float) -> str:
    return f"{number:g}"


def _unknown(name: str) -> Load:
    return Load(None, None, f"not known: `{name}` is not a number")


def _at_once(pages: int, extra: str = "") -> Load:
    return Load(None, pages, f"{_count(pages)} request(s) at once (one per page){extra}")


def _load_measurement(arguments: Arguments, pages: PageCount) -> Load:
    """probes.load.measurement: open model at ``rate``, or closed at ``concurrency``."""
    rate, duration = _number(arguments, "rate"), _number(arguments, "duration")
    requests, concurrency = _number(arguments, "requests"), _number(arguments, "concurrency")
    if rate is None or duration is None or requests is None or concurrency is None:
        return _unknown("rate, duration, requests or concurrency")
    bounds = [b for b in (requests, rate * duration if rate and duration else 0.0) if b > 0]
    total = round(min(bounds)) if bounds and rate > 0 else (round(requests) if requests else None)
    if rate > 0:
        span = f" for {duration:g} s" if duration else ""
        return Load(
            rate, total, f"{_rate(rate)} requests a second{span}: {_count(total or 0)} requests"
        )
    span = f"for {duration:g} s" if duration else f"{_count(requests)} requests"
    return Load(
        None, total, f"as fast as {_count(concurrency)} connections allow, {span} (closed model)"
    )


def _http_closed(arguments: Arguments, pages: PageCount) -> Load:
    """probes.http.availability and latency_percentiles: ``requests``, or ``duration``."""
    requests, duration = _number(arguments, "requests"), _number(arguments, "duration")
    concurrency = _number(arguments, "concurrency")
    if requests is None or duration is None or concurrency is None:
        return _unknown("requests, duration or concurrency")
    flight = f"at most {_count(concurrency)} in flight"
    if duration > 0:
        return Load(None, None, f"as many requests as fit in {duration:g} s, {flight}")
    return Load(None, round(requests), f"{_count(requests)} requests, {flight}")


def _one_per_page(arguments: Arguments, pages: PageCount) -> Load:
    """One GET per distinct page, all at once."""
    return _at_once(pages(arguments.get("paths")))


def _error_page(arguments: Arguments, pages: PageCount) -> Load:
    """probes.errors.expect_error_page: the error page, then each page once."""
    return _at_once(1 + pages(arguments.get("paths")), ", the error page included")


def _linger(arguments: Arguments, pages: PageCount) -> Load:
    """probes.errors.error_linger: each page every ``interval`` until it recovers."""
    interval, wait = _number(arguments, "interval"), _number(arguments, "max_wait")
    if not interval or wait is None:
        return _unknown("interval or max_wait")
    count = pages(arguments.get("paths"))
    per_second = count / interval
    total = count * math.ceil(wait / interval)
    return Load(
        per_second,
        total,
        f"{_rate(per_second)} requests a second ({count} page(s) every {interval:g} s) until "
        f"they recover, at most {wait:g} s: at most {_count(total)} requests",
    )


def _watch(arguments: Arguments, pages: PageCount) -> Load:
    """probes.watch.health_timeline: every page ``rate`` times a second until restored."""
    rate, longest = _number(arguments, "rate"), _number(arguments, "max_duration")
    if rate is None or longest is None:
        return _unknown("rate or max_duration")
    count = pages(arguments.get("paths"))
    total = rate * count * longest
    return Load(
        rate * count,
        round(total),
        f"{_rate(rate * count)} requests a second ({_rate(rate)} samples a second of {count} "
        f"page(s)) until the faults are restored, at most {longest:g} s: at most "
        f"{_count(total)} requests",
    )


def _cache(arguments: Arguments, pages: PageCount) -> Load:
    """probes.cache.cache_statistics: every page ``rounds`` times, one at a time."""
    rounds = _number(arguments, "rounds")
    if rounds is None:
        return _unknown("rounds")
    total = round(rounds) * pages(arguments.get("paths"))
    return Load(None, total, f"{_count(total)} request(s), one at a time")


def _integrity(arguments: Arguments, pages: PageCount) -> Load:
    """probes.content.integrity: the pages named, or ``sample`` spread over the site."""
    if arguments.get("paths"):
        return _one_per_page(arguments, pages)
    sample = _number(arguments, "sample")
    if sample is None:
        return _unknown("sample")
    return Load(None, round(sample), f"at most {_count(sample)} request(s) at once (a sample)")


def _nothing(arguments: Arguments, pages: PageCount) -> Load:
    """A probe of AWS APIs only."""
    return Load.none()


def _tolerance(arguments: Arguments, pages: PageCount) -> Load:
    """A tolerance: it judges another probe's result."""
    return Load.none("a tolerance: no request")


def _handshakes(arguments: Arguments, pages: PageCount) -> Load:
    """probes.tls: two TLS handshakes, no HTTP request."""
    return Load(None, 0, "two TLS handshakes, no HTTP request")


#: The load model of each probe, by ``module.func``.
LOAD_MODELS: dict[str, Callable[[Arguments, PageCount], Load]] = {
    "probes.cache.cache_statistics": _cache,
    "probes.cache.expect_origin": _one_per_page,
    "probes.cloudfront.distribution_status": _nothing,
    "probes.cloudfront.invalidation_status": _nothing,
    "probes.cloudwatch.alarm_states": _nothing,
    "probes.cloudwatch.cloudfront_metrics": _nothing,
    "probes.content.integrity": _integrity,
    "probes.dns.alias": _nothing,
    "probes.dns.expect_alias": _nothing,
    "probes.deploys.expect_copy": _one_per_page,
    "probes.errors.error_linger": _linger,
    "probes.errors.expect_error_page": _error_page,
    "probes.http.availability": _http_closed,
    "probes.http.bounds_held": _tolerance,
    "probes.http.expect_misses": _one_per_page,
    "probes.http.expect_responses": _one_per_page,
    "probes.http.latency_percentiles": _http_closed,
    "probes.http.responses": _one_per_page,
    "probes.load.measurement": _load_measurement,
    "probes.tls.certificate": _handshakes,
    "probes.tls.expect_certificate": _handshakes,
    "probes.tolerances.service_levels_met": _tolerance,
    "probes.watch.health_timeline": _watch,
}


def load_of(function: str, arguments: Arguments, pages: PageCount) -> Load | None:
    """The load ``function`` sends with ``arguments``; None for an activity not listed here."""
    model = LOAD_MODELS.get(function)
    return None if model is None else model(arguments, pages)


#: The target's own resources: no argument names another.
_OWN = Names()


def _probe(module: str, func: str, sid: str, *needs: Permission, names: Names = _OWN) -> None:
    declare(Declaration(module=module, func=func, sid=sid, needs=needs, names=names))


# -- what the probes call on AWS -------------------------------------------------------------

_SITE_ONLY = "ProbesOfTheSite"  # probes that call no AWS API: their Sid never shows
for _function in (
    "probes.cache.cache_statistics",
    "probes.cache.expect_origin",
    "probes.errors.expect_error_page",
    "probes.http.availability",
    "probes.http.bounds_held",
    "probes.http.expect_misses",
    "probes.http.expect_responses",
    "probes.http.latency_percentiles",
    "probes.http.responses",
    "probes.load.measurement",
    "probes.tls.certificate",
    "probes.tls.expect_certificate",
    "probes.tolerances.service_levels_met",
    "probes.watch.health_timeline",
):
    _module, _func = _function.rsplit(".", 1)
    _probe(_module, _func, _SITE_ONLY)

_probe(
    "probes.cloudfront",
    "distribution_status",
    "ProbesReadTheDistribution",
    Permission("cloudfront:GetDistribution", Resource.DISTRIBUTION, "describe the distribution"),
    names=Names(distribution="distribution_id"),
)
_probe(
    "probes.cloudfront",
    "invalidation_status",
    "ProbesReadTheDistribution",
    Permission("cloudfront:GetInvalidation", Resource.DISTRIBUTION, "describe the invalidation"),
    Permission(
        "cloudfront:ListInvalidations",
        Resource.DISTRIBUTION,
        "find the newest invalidation",
        (not_given("invalidation_id"),),
    ),
    names=Names(distribution="distribution_id"),
)
_probe(
    "probes.cloudwatch",
    "cloudfront_metrics",
    "ProbesReadCloudWatch",
    Permission("cloudwatch:GetMetricData", Resource.ANY, "read the distribution's metrics"),
    Permission(
        "cloudfront:GetMonitoringSubscription",
        Resource.ANY,
        "tell whether the additional metrics exist (without it: `unknown`)",
        (not_given("metrics"),),
    ),
    names=Names(distribution="distribution_id"),
)
_probe(
    "probes.cloudwatch",
    "alarm_states",
    "ProbesReadCloudWatch",
    Permission("cloudwatch:DescribeAlarms", Resource.ALARMS, "read the alarms' states"),
    names=Names(alarms="names", alarm_prefix="prefix", alarm_region="region"),
)
_probe(
    "probes.content",
    "integrity",
    "ProbesCompareWithTheBucket",
    Permission(
        "s3:GetObject", Resource.OBJECTS, "read the deployed objects", (not_given("build_dir"),)
    ),
    Permission(
        "s3:ListBucket",
        Resource.BUCKET,
        "pick a sample of the objects",
        (not_given("build_dir"), not_given("paths")),
    ),
    names=Names(bucket="bucket"),
)
_probe(
    "probes.deploys",
    "expect_copy",
    "ProbesCompareWithTheBucket",
    Permission("s3:GetObject", Resource.OBJECTS, "read the deployed objects"),
    Permission(
        "s3:ListBucket",
        Resource.BUCKET,
        "tell a missing object (a previous copy) from a refused read: S3 answers 403 without it",
    ),
    names=Names(bucket="bucket"),
)
_probe(
    "probes.errors",
    "error_linger",
    "ProbesReadTheDistribution",
    Permission(
        "cloudfront:GetDistributionConfig", Resource.DISTRIBUTION, "read the error caching TTL"
    ),
)

for _func in ("alias", "expect_alias"):
    _probe(
        "probes.dns",
        _func,
        "ProbesReadDns",
        Permission("cloudfront:GetDistribution", Resource.DISTRIBUTION, "read its domain names"),
        Permission(
            "route53:ListHostedZones",
            Resource.ANY,
            "find the hosted zone of the host name",
            (not_given("hosted_zone_id"),),
        ),
        Permission(
            "route53:GetHostedZone",
            Resource.HOSTED_ZONE,
            "describe the hosted zone",
            (given("hosted_zone_id"),),
        ),
        Permission(
            "route53:ListResourceRecordSets", Resource.HOSTED_ZONE, "read the host's records"
        ),
        names=Names(distribution="distribution_id", hosted_zone="hosted_zone_id"),
    )
