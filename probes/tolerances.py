"""Tolerances that read like service levels: ``availability >= 0.99 and p95 <= 300 ms``.

:func:`service_levels_met` is a probe-as-tolerance for the results of
:mod:`probes.load`, :mod:`probes.http`, :mod:`probes.cache` and :mod:`probes.watch`:
chaoslib passes the probe's result as ``value`` (``arguments`` must be present, as
``{}`` at least), and every bound given is checked against the key of the same meaning.
Bounds left out (null) are not checked. Why a bound failed is logged on Chaos Toolkit's
logger, since chaoslib reports only "not within tolerance".

======================  ==================================  ============================
bound                   reads                               holds when
======================  ==================================  ============================
min_availability        ``availability``                    value >= bound
max_p50_ms              ``p50_ms`` or ``latency_ms.p50``    value <= bound
max_p95_ms              ``p95_ms`` or ``latency_ms.p95``    value <= bound
max_p99_ms              ``p99_ms`` or ``latency_ms.p99``    value <= bound
min_hit_ratio           ``hit_ratio``                       value >= bound
max_time_to_detect_s    ``time_to_detect_s``                value <= bound, or null
                                                            (the fault was not visible)
max_time_to_recover_s   ``time_to_recover_s``               value <= bound (null fails:
                                                            the site did not recover)
======================  ==================================  ============================

Example::

        - type: probe
          name: available-and-fast
          tolerance:
            type: probe
            name: service-levels-met
            provider:
              type: python
              module: probes.tolerances
              func: service_levels_met
              arguments: {min_availability: 0.99, max_p95_ms: 300}
          provider:
            type: python
            module: probes.load
            func: measurement
            arguments: {paths: "/", rate: 20, duration: 2}
"""

import logging
from collections.abc import Callable
from typing import Any

from probes import _arguments

__all__ = ["service_levels_met"]

# Chaos Toolkit configures this logger; messages on it show in the run's output.
_log = logging.getLogger("chaostoolkit")

Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None
Bound = float | int | str | None


def service_levels_met(
    value: dict[str, Any] | None = None,
    min_availability: Bound = None,
    max_p50_ms: Bound = None,
    max_p95_ms: Bound = None,
    max_p99_ms: Bound = None,
    min_hit_ratio: Bound = None,
    max_time_to_detect_s: Bound = None,
    max_time_to_recover_s: Bound = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """True when the probe result ``value`` meets every bound given (see the module doc)."""
    if not isinstance(value, dict):
        _log.warning("service_levels_met expects a probe result (a mapping); got %r.", value)
        return False
    checks: list[tuple[str, Bound, str, Callable[[float, float], bool], bool]] = [
        ("availability", min_availability, "at least", _at_least, False),
        ("p50_ms", max_p50_ms, "at most", _at_most, False),
        ("p95_ms", max_p95_ms, "at most", _at_most, False),
        ("p99_ms", max_p99_ms, "at most", _at_most, False),
        ("hit_ratio", min_hit_ratio, "at least", _at_least, False),
        ("time_to_detect_s", max_time_to_detect_s, "at most", _at_most, True),
        ("time_to_recover_s", max_time_to_recover_s, "at most", _at_most, False),
    ]
    failures = []
    for key, bound, relation, holds, null_holds in checks:
        if bound is None or bound == "":
            continue
        limit = _arguments.number(f"the bound on {key}", bound, -1e12, 1e12)
        seen = _figure(value, key)
        if seen is None:
            if not null_holds:
                failures.append(f"The result has no {key} (it is missing or null), so it "
                                f"cannot be {relation} {limit:g}.")  # fmt: skip
        elif not holds(seen, limit):
            failures.append(f"{key} was {seen:g}, expected {relation} {limit:g}.")
    for failure in failures:
        _log.warning("%s", failure)
    return not failures


def _figure(value: dict[str, Any], key: str) -> float | None:
    found = value.get(key)
    if found is None and key.endswith("_ms") and isinstance(value.get("latency_ms"), dict):
        found = value["latency_ms"].get(key.removesuffix("_ms"))
    if isinstance(found, bool) or not isinstance(found, int | float):
        return None
    return float(found)


def _at_least(seen: float, limit: float) -> bool:
    return seen >= limit


def _at_most(seen: float, limit: float) -> bool:
    return seen <= limit
