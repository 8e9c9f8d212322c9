"""Checking what an experiment passes to a probe, with errors that say how to fix it.

Chaos Toolkit passes JSON values, and ``${...}`` substitutions arrive as strings, so numbers
are accepted as numeric strings too. Every check raises :class:`ConfigurationError` with a
full sentence naming the argument, the rule and the value seen.
"""

from collections.abc import Mapping
from typing import Any

from chaos_runner import ConfigurationError
from chaos_runner import pages as site
from chaos_runner.arguments import number
from chaos_runner.target import Target

__all__ = [
    "DEFAULT_EXPECTED",
    "MAX_PAGES",
    "PathSpec",
    "StatusSpec",
    "describe_statuses",
    "number",
    "pages",
    "paths",
    "site_url",
    "statuses",
    "weighted_cycle",
]

#: At most this many distinct paths in one probe.
MAX_PAGES = 1000
#: The longest cycle of weighted paths (the sum of the weights).
MAX_CYCLE = 10_000
DEFAULT_EXPECTED = frozenset(range(200, 400))

StatusSpec = int | str | list[int] | list[str] | None
PathSpec = str | list[str] | dict[str, int]


def site_url(configuration: Mapping[str, Any] | None) -> str:
    """``configuration["site_url"]`` or ``CHAOS_SITE_URL``, checked to be an http(s) URL."""
    target = Target.resolve(configuration)
    target.require("CHAOS_SITE_URL")
    if not target.site_url.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"CHAOS_SITE_URL must be an http:// or https:// URL; got {target.site_url!r}. "
            "Set it to the address readers use, such as https://www.example.com."
        )
    return target.site_url


def paths(value: PathSpec, configuration: Mapping[str, Any] | None = None) -> list[str]:
    """The paths as a list, each checked to start with "/" (repeats are kept).

    ``"@cached"`` and the other page roles, and ``"/a/, /b/"``, are expanded (see
    :mod:`chaos_runner.pages`).
    """
    if isinstance(value, dict):
        return list(_weights(value, configuration))
    items = site.resolve(value, configuration)
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_PAGES:
        raise ConfigurationError(
            f"`paths` must be a path or a list of 1 to {MAX_PAGES} paths; got {value!r}."
        )
    for path in items:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigurationError(
                f"Every path must be a string starting with '/', such as '/posts/'; got "
                f"{path!r}. The site's address comes from CHAOS_SITE_URL, not from `paths`."
            )
    return items


def pages(value: PathSpec, configuration: Mapping[str, Any] | None = None) -> list[str]:
    """The paths checked, each once, in the given order."""
    return list(dict.fromkeys(paths(value, configuration)))


def _weights(value: dict[str, int], configuration: Mapping[str, Any] | None) -> dict[str, int]:
    """Each path's weight; a role (``{"@cached": 3}``) gives each of its pages the weight."""
    weights: dict[str, int] = {}
    for spec, weight in value.items():
        for path in paths(site.resolve(spec, configuration)):
            weights[path] = weight
    if not weights:
        paths([])  # the same sentence as for an empty list
    return weights


def weighted_cycle(
    value: PathSpec, configuration: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """The order requests visit ``value``: a list round-robin, a mapping by its weights.

    ``{"/": 3, "/posts/": 1}`` gives ``("/", "/", "/posts/", "/")``: smooth weighted
    round-robin (nginx's), so every stretch of the cycle holds the paths in proportion.
    """
    if not isinstance(value, dict):
        return tuple(paths(value, configuration))
    weights = {path: int(number(f"the weight of {path}", weight, 1, MAX_CYCLE, whole=True))
               for path, weight in _weights(value, configuration).items()}  # fmt: skip
    total = sum(weights.values())
    if total > MAX_CYCLE:
        raise ConfigurationError(
            f"The weights of `paths` add up to {total}; keep them at most {MAX_CYCLE} "
            "(weights are proportions: 3 and 1 mean the same as 300 and 100)."
        )
    current = dict.fromkeys(weights, 0)
    cycle = []
    for _ in range(total):
        for path, weight in weights.items():
            current[path] += weight
        chosen = max(current, key=lambda path: current[path])
        current[chosen] -= total
        cycle.append(chosen)
    return tuple(cycle)


def statuses(name: str, spec: StatusSpec) -> frozenset[int]:
    """Parse ``200``, ``"200-399"``, ``"200,404"`` or ``[200, "300-308"]`` into codes."""
    if spec is None:
        return DEFAULT_EXPECTED
    items: list[int] | list[str] = (
        spec.split(",") if isinstance(spec, str) else (spec if isinstance(spec, list) else [spec])
    )
    codes: set[int] = set()
    for item in items:
        low, _, high = str(item).strip().partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            first, last = 0, -1
        if isinstance(item, bool) or not 100 <= first <= last <= 599:
            raise ConfigurationError(
                f"`{name}` must be HTTP statuses (100-599) such as 200, [200, 304] or "
                f"'200-399'; got {spec!r}."
            )
        codes.update(range(first, last + 1))
    if not codes:
        raise ConfigurationError(f"`{name}` names no HTTP status; got {spec!r}.")
    return frozenset(codes)


def describe_statuses(codes: frozenset[int]) -> str:
    """``{200, ..., 399, 404}`` -> ``"200-399 or 404"``."""
    spans: list[list[int]] = []
    for code in sorted(codes):
        if spans and code == spans[-1][1] + 1:
            spans[-1][1] = code
        else:
            spans.append([code, code])
    return " or ".join(str(low) if low == high else f"{low}-{high}" for low, high in spans)
