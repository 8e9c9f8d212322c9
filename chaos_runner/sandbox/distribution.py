"""A CloudFront distribution config as the sandbox edge reads it.

``DistributionConfig`` from the CloudFront API (moto's, in the sandbox) is parsed once per
config change into frozen dataclasses, so the edge's request path never touches a dict.
Only the legacy cache settings are modelled (MinTTL/DefaultTTL/MaxTTL, ForwardedValues):
cache policies and origin request policies answer 404 in moto, so a sandbox distribution
cannot have them. Settings the edge does not act on (aliases, certificates, logging, price
class, geo restrictions, function associations) are not parsed.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos_runner._errors import SandboxError

__all__ = [
    "DEFAULT_CONNECTION_ATTEMPTS",
    "DEFAULT_CONNECTION_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "CacheBehavior",
    "CustomErrorResponse",
    "Distribution",
    "Origin",
    "OriginGroup",
]

#: CloudFront's defaults for a custom origin (DownloadDistValuesOrigin).
DEFAULT_CONNECTION_ATTEMPTS = 3
DEFAULT_CONNECTION_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the edge fetches objects from, and how long it waits."""

    id: str
    domain_name: str
    origin_path: str
    http_port: int
    connection_attempts: int
    connection_timeout: float
    read_timeout: float
    custom_headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class OriginGroup:
    """A primary and a secondary origin, and the origin status codes that fail over."""

    id: str
    primary: str
    secondary: str
    failover_codes: frozenset[int]


@dataclass(frozen=True, slots=True)
class CacheBehavior:
    """One cache behavior (the default one has the path pattern ``*``)."""

    path_pattern: str
    target_origin_id: str
    allowed_methods: frozenset[str]
    cached_methods: frozenset[str]
    forward_query_string: bool
    min_ttl: float
    default_ttl: float
    max_ttl: float
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", _compile_path_pattern(self.path_pattern))

    def matches(self, path: str) -> bool:
        """True when ``path`` (the URL path, no query) matches this behavior's path pattern."""
        return self._pattern.fullmatch(path) is not None


@dataclass(frozen=True, slots=True)
class CustomErrorResponse:
    """What the edge does with one origin error status code."""

    error_code: int
    response_page_path: str | None
    response_code: int | None
    error_caching_min_ttl: float | None


@dataclass(frozen=True, slots=True)
class Distribution:
    """The parts of a DistributionConfig that decide how the edge answers a viewer."""

    id: str
    enabled: bool
    default_root_object: str
    origins: tuple[Origin, ...]
    origin_groups: tuple[OriginGroup, ...]
    default_behavior: CacheBehavior
    behaviors: tuple[CacheBehavior, ...]
    error_responses: tuple[CustomErrorResponse, ...]

    @classmethod
    def from_config(cls, distribution_id: str, config: Mapping[str, Any]) -> "Distribution":
        """Parse a ``DistributionConfig`` (as boto3 returns it); SandboxError if inconsistent."""
        try:
            distribution = cls(
                id=distribution_id,
                enabled=bool(config.get("Enabled", True)),
                default_root_object=str(config.get("DefaultRootObject") or ""),
                origins=tuple(_origin(item) for item in _items(config.get("Origins"))),
                origin_groups=tuple(_group(item) for item in _items(config.get("OriginGroups"))),
                default_behavior=_behavior(config["DefaultCacheBehavior"], default=True),
                behaviors=tuple(_behavior(item) for item in _items(config.get("CacheBehaviors"))),
                error_responses=tuple(
                    _error_response(item) for item in _items(config.get("CustomErrorResponses"))
                ),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise SandboxError(
                f"The config of distribution {distribution_id} cannot be served: "
                f"{type(error).__name__}: {error}. Fix it with update_distribution."
            ) from error
        distribution._check_targets()
        return distribution

    def behavior_for(self, path: str) -> CacheBehavior:
        """The first cache behavior whose path pattern matches ``path``, else the default."""
        for behavior in self.behaviors:
            if behavior.matches(path):
                return behavior
        return self.default_behavior

    def error_response(self, status: int) -> CustomErrorResponse | None:
        """The custom error response configured for ``status``, if any."""
        for response in self.error_responses:
            if response.error_code == status:
                return response
        return None

    def origin(self, origin_id: str) -> Origin:
        """The origin with ``origin_id``."""
        for origin in self.origins:
            if origin.id == origin_id:
                return origin
        raise SandboxError(
            f"Distribution {self.id} has no origin {origin_id!r}; its origins are "
            f"{[o.id for o in self.origins]}."
        )

    def targets(self, target_id: str) -> tuple[tuple[Origin, ...], frozenset[int]]:
        """The origins to try in order for a behavior's target, and the failover codes.

        A plain origin gives one origin and no failover codes; an origin group gives its
        primary and secondary and the status codes that fail over to the secondary.
        """
        for group in self.origin_groups:
            if group.id == target_id:
                origins = (self.origin(group.primary), self.origin(group.secondary))
                return origins, group.failover_codes
        return (self.origin(target_id),), frozenset()

    def _check_targets(self) -> None:
        for behavior in (self.default_behavior, *self.behaviors):
            self.targets(behavior.target_origin_id)


def _items(container: Any) -> Sequence[Mapping[str, Any]]:
    if not container:
        return ()
    items = container.get("Items") or ()
    return tuple(items)


def _origin(item: Mapping[str, Any]) -> Origin:
    custom = item.get("CustomOriginConfig") or {}
    port = int(custom.get("HTTPPort") or 80)
    headers = tuple(
        (str(header["HeaderName"]), str(header["HeaderValue"]))
        for header in _items(item.get("CustomHeaders"))
    )
    return Origin(
        id=str(item["Id"]),
        domain_name=str(item["DomainName"]),
        origin_path=str(item.get("OriginPath") or "").rstrip("/"),
        http_port=port,
        connection_attempts=int(item.get("ConnectionAttempts") or DEFAULT_CONNECTION_ATTEMPTS),
        connection_timeout=float(item.get("ConnectionTimeout") or DEFAULT_CONNECTION_TIMEOUT),
        read_timeout=float(custom.get("OriginReadTimeout") or DEFAULT_READ_TIMEOUT),
        custom_headers=headers,
    )


def _group(item: Mapping[str, Any]) -> OriginGroup:
    members = [str(member["OriginId"]) for member in _items(item.get("Members"))]
    if len(members) != 2:
        raise SandboxError(
            f"Origin group {item.get('Id')!r} has {len(members)} members; CloudFront origin "
            "groups have exactly two (a primary and a secondary)."
        )
    codes = (item.get("FailoverCriteria") or {}).get("StatusCodes")
    return OriginGroup(
        id=str(item["Id"]),
        primary=members[0],
        secondary=members[1],
        failover_codes=frozenset(int(code) for code in (codes or {}).get("Items") or ()),
    )


def _behavior(item: Mapping[str, Any], default: bool = False) -> CacheBehavior:
    allowed = item.get("AllowedMethods") or {}
    methods = frozenset(allowed.get("Items") or ("GET", "HEAD"))
    cached = frozenset((allowed.get("CachedMethods") or {}).get("Items") or ("GET", "HEAD"))
    forwarded = item.get("ForwardedValues") or {}
    return CacheBehavior(
        path_pattern="*" if default else str(item["PathPattern"]),
        target_origin_id=str(item["TargetOriginId"]),
        allowed_methods=methods,
        cached_methods=cached & methods,
        forward_query_string=bool(forwarded.get("QueryString", False)),
        min_ttl=float(item.get("MinTTL") or 0),
        default_ttl=float(item.get("DefaultTTL", 86400)),
        max_ttl=float(item.get("MaxTTL", 31536000)),
    )


def _error_response(item: Mapping[str, Any]) -> CustomErrorResponse:
    code = str(item.get("ResponseCode") or "")
    ttl = item.get("ErrorCachingMinTTL")
    return CustomErrorResponse(
        error_code=int(item["ErrorCode"]),
        response_page_path=str(item.get("ResponsePagePath") or "") or None,
        response_code=int(code) if code else None,
        error_caching_min_ttl=None if ttl is None else float(ttl),
    )


def _compile_path_pattern(pattern: str) -> re.Pattern[str]:
    """CloudFront path patterns: ``*`` is 0+ characters, ``?`` one; case-sensitive.

    The leading ``/`` is optional in a pattern (``images/*.jpg`` is ``/images/*.jpg``).
    """
    if pattern == "*":
        return re.compile(".*", re.DOTALL)
    if not pattern.startswith("/"):
        pattern = "/" + pattern
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)
