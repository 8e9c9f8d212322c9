"""Faults on the link between the edge and its origins (sandbox only; AWS cannot host them).

A fault is one of four kinds, applied by :class:`~chaos_runner.sandbox.origin.OriginLink`
to a share of origin fetch attempts (never to cache hits), for every origin or for one
origin domain:

- ``latency``: the origin's answer comes ``latency_ms`` (± ``jitter_ms``, uniform) later.
  The delay counts against the origin's ``OriginReadTimeout``: a delay past it is a 504.
- ``error``: the attempt gets ``status`` (400-599) as if the origin had answered it, with a
  small HTML body and an ``X-Chaos-Link-Fault`` header naming the fault.
- ``blackhole``: the connection is accepted and never answered; the edge waits
  ``OriginReadTimeout`` and answers 504 (or fails over, in an origin group).
- ``reset``: the connection is reset once the request is sent; the edge answers 502.

Each fault draws from a ``random.Random`` of its own, seeded with ``seed`` or, by default,
with its id: the same fault and the same sequence of origin fetches give the same choices.
``share`` 1.0 hits every attempt, 0.0 none. When several faults match an attempt, every
latency that hits adds up, and the first error/blackhole/reset that hits (in the order the
faults were first stored) decides the outcome. The edge retries a failed GET/HEAD attempt
up to ``ConnectionAttempts`` times, and each retry draws again.

The registry lives on the sandbox's event loop; the admin API
(:mod:`chaos_runner.sandbox.admin`) is how another process changes it.
"""

import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypedDict

from chaos_runner._errors import ConfigurationError

__all__ = [
    "MAX_LINK_FAULTS",
    "LinkEffect",
    "LinkFault",
    "LinkFaultKind",
    "LinkFaultRecord",
    "LinkFaults",
]

#: More faults than this at once is a runaway script, not an experiment.
MAX_LINK_FAULTS = 100
#: Ten minutes: longer than any origin timeout CloudFront accepts.
_MAX_LATENCY_MS = 600_000
_FAULT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_FIELDS = frozenset(
    {"id", "kind", "share", "latency_ms", "jitter_ms", "status", "origin", "seed", "created_at"}
)
#: Fields a client may send that the server sets itself (echoed back from a GET).
_SERVER_FIELDS = frozenset({"created_at", "requests", "applied"})


class LinkFaultKind(StrEnum):
    """What a link fault does to an origin fetch attempt."""

    LATENCY = "latency"
    ERROR = "error"
    BLACKHOLE = "blackhole"
    RESET = "reset"


class LinkFaultRecord(TypedDict):
    """A stored fault as the admin API shows it."""

    id: str
    kind: str
    share: float
    latency_ms: int | None
    jitter_ms: int | None
    status: int | None
    origin: str | None
    seed: int | None
    created_at: str
    requests: int
    applied: int


@dataclass(frozen=True, slots=True)
class LinkFault:
    """One fault as requested (validated); see the module docstring for the kinds."""

    id: str
    kind: LinkFaultKind
    share: float = 1.0
    latency_ms: int | None = None
    jitter_ms: int | None = None
    status: int | None = None
    origin: str | None = None
    seed: int | None = None

    @classmethod
    def from_json(cls, fault_id: str, body: Any) -> "LinkFault":
        """Validate a PUT body; ConfigurationError with a sentence saying what is wrong."""
        if not _FAULT_ID.match(fault_id):
            raise ConfigurationError(
                f"The fault id {fault_id!r} is not usable: use 1-128 letters, digits, '.', "
                "'_', ':' or '-', starting with a letter or digit."
            )
        if not isinstance(body, Mapping):
            raise ConfigurationError("The request body must be a JSON object describing a fault.")
        unknown = sorted(set(body) - _FIELDS - _SERVER_FIELDS)
        if unknown:
            raise ConfigurationError(
                f"Unknown field(s) {', '.join(unknown)}; a fault has kind, share, latency_ms, "
                "jitter_ms, status, origin and seed."
            )
        if body.get("id") not in (None, fault_id):
            raise ConfigurationError(
                f"The body's id {body['id']!r} differs from the id in the URL {fault_id!r}."
            )
        kind = _kind(body.get("kind"))
        fault = cls(
            id=fault_id,
            kind=kind,
            share=_share(body.get("share", 1.0)),
            latency_ms=_milliseconds(body, "latency_ms", required=kind is LinkFaultKind.LATENCY),
            jitter_ms=_milliseconds(body, "jitter_ms", required=False),
            status=_status(body.get("status"), required=kind is LinkFaultKind.ERROR),
            origin=_origin(body.get("origin")),
            seed=_seed(body.get("seed")),
        )
        fault._check_fields_fit_the_kind()
        return fault

    def matches(self, domain: str) -> bool:
        """True when this fault applies to fetches from origin ``domain``."""
        return self.origin is None or self.origin == domain.lower()

    def _check_fields_fit_the_kind(self) -> None:
        owned = {
            "latency_ms": LinkFaultKind.LATENCY,
            "jitter_ms": LinkFaultKind.LATENCY,
            "status": LinkFaultKind.ERROR,
        }
        for name, kind in owned.items():
            if getattr(self, name) is not None and self.kind is not kind:
                raise ConfigurationError(
                    f"{name} applies to {kind.value} faults only; this fault is a "
                    f"{self.kind.value} fault. Leave {name} out or null."
                )


@dataclass(frozen=True, slots=True)
class LinkEffect:
    """What the faults decided for one origin fetch attempt."""

    delay: float = 0.0
    outcome: LinkFault | None = None


@dataclass(slots=True)
class _Active:
    """A stored fault, its random source and its counters."""

    fault: LinkFault
    created_at: str
    rng: random.Random
    requests: int = 0
    applied: int = 0

    def record(self) -> LinkFaultRecord:
        fault = self.fault
        return {
            "id": fault.id,
            "kind": fault.kind.value,
            "share": fault.share,
            "latency_ms": fault.latency_ms,
            "jitter_ms": fault.jitter_ms,
            "status": fault.status,
            "origin": fault.origin,
            "seed": fault.seed,
            "created_at": self.created_at,
            "requests": self.requests,
            "applied": self.applied,
        }


@dataclass(slots=True)
class LinkFaults:
    """The faults in force, by id, in the order they were first stored."""

    _active: dict[str, _Active] = field(default_factory=dict)
    #: time.monotonic() of the last change, for tests and logs.
    changed_at: float = 0.0

    def __bool__(self) -> bool:
        return bool(self._active)

    def put(self, fault: LinkFault) -> LinkFaultRecord:
        """Store ``fault`` (replacing one with its id, counters reset); return its record."""
        if fault.id not in self._active and len(self._active) >= MAX_LINK_FAULTS:
            raise ConfigurationError(
                f"{MAX_LINK_FAULTS} link faults are in force already; delete some first."
            )
        seed: int | str = fault.seed if fault.seed is not None else fault.id
        created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        active = _Active(fault, created, random.Random(seed))
        self._active[fault.id] = active
        self.changed_at = time.monotonic()
        return active.record()

    def delete(self, fault_id: str) -> bool:
        """Remove the fault ``fault_id``; False when there was none."""
        removed = self._active.pop(fault_id, None) is not None
        if removed:
            self.changed_at = time.monotonic()
        return removed

    def clear(self) -> int:
        """Remove every fault; return how many there were."""
        count = len(self._active)
        self._active.clear()
        self.changed_at = time.monotonic()
        return count

    def records(self) -> list[LinkFaultRecord]:
        """Every fault in force, as the admin API shows them."""
        return [active.record() for active in self._active.values()]

    def draw(self, domain: str) -> LinkEffect | None:
        """The faults' decision for one fetch attempt from ``domain``; None when none hits."""
        if not self._active:
            return None
        delay = 0.0
        outcome: LinkFault | None = None
        for active in self._active.values():
            fault = active.fault
            if not fault.matches(domain):
                continue
            active.requests += 1
            if active.rng.random() >= fault.share:
                continue
            if fault.kind is LinkFaultKind.LATENCY:
                jitter = fault.jitter_ms or 0
                spread = active.rng.uniform(-jitter, jitter) if jitter else 0.0
                delay += max(0.0, (fault.latency_ms or 0) + spread) / 1000
                active.applied += 1
            elif outcome is None:
                outcome = fault
                active.applied += 1
        if delay == 0.0 and outcome is None:
            return None
        return LinkEffect(delay, outcome)


def _kind(value: Any) -> LinkFaultKind:
    try:
        return LinkFaultKind(value)
    except ValueError:
        kinds = ", ".join(kind.value for kind in LinkFaultKind)
        raise ConfigurationError(f"kind must be one of {kinds}; got {value!r}.") from None


def _share(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigurationError(
            f"share must be a number from 0.0 (no request) to 1.0 (every request); got {value!r}."
        )
    return float(value)


def _milliseconds(body: Mapping[str, Any], name: str, required: bool) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ConfigurationError(f"A latency fault needs {name} (milliseconds, an integer).")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_LATENCY_MS:
        raise ConfigurationError(
            f"{name} must be an integer number of milliseconds from 0 to {_MAX_LATENCY_MS}; "
            f"got {value!r}."
        )
    return value


def _status(value: Any, required: bool) -> int | None:
    if value is None:
        if required:
            raise ConfigurationError("An error fault needs status (an HTTP status, 400-599).")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599:
        raise ConfigurationError(f"status must be an HTTP error status (400-599); got {value!r}.")
    return value


def _origin(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "/" in value:
        raise ConfigurationError(
            "origin must be an origin's domain name (as in the distribution's Origins, "
            f"e.g. bucket.s3-website-us-east-1.amazonaws.com) or null for all; got {value!r}."
        )
    return value.strip().lower()


def _seed(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"seed must be an integer; got {value!r}.")
    return value
