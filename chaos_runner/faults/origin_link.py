"""Faults of the link between the edge and the origin (sandbox only).

Real S3 and CloudFront cannot be made slow, flaky or silent on demand; the sandbox's edge
can. These faults switch its origin link at run time through the sandbox's admin API
(``CHAOS_SANDBOX_ADMIN_URL``, exported by ``chaos sandbox env``): nothing restarts, and each
fault is recorded in the ledger like any other and removed by its restore.

- ``add_origin_latency``: latency (with jitter) on a share of origin fetches;
- ``add_origin_errors``: a share of origin fetches answer a given status;
- ``blackhole_origin_link``: a share of origin fetches are accepted and never answered
  (the edge gives up after the origin's read timeout: 504);
- ``reset_origin_connections``: a share of origin connections are reset (502).

Only cache misses reach the origin: cached pages are not affected, as on CloudFront.
They are refused unless the whole target is the sandbox: the admin API, the AWS APIs
(``AWS_ENDPOINT_URL``) and the site (``CHAOS_SITE_URL``) all on loopback.
"""

import uuid
from typing import Any

from chaos_runner._errors import ConfigurationError, FaultNotVerified, RestoreConflict, SandboxError
from chaos_runner.activity import activity, target_ref
from chaos_runner.arguments import number, whole
from chaos_runner.crashpoint import crashpoint
from chaos_runner.faults._admin import admin_url, call
from chaos_runner.iam import Mutation, Propagation, Resource, declares, restores
from chaos_runner.ledger import EntryState, Ledger, LedgerEntry, RestoreOutcome, restorer
from chaos_runner.target import Target

__all__ = [
    "CRASHPOINTS",
    "add_origin_errors",
    "add_origin_latency",
    "blackhole_origin_link",
    "reset_origin_connections",
    "restore_origin_link",
]

#: Where a test may kill the runner (see chaos_runner.crashpoint).
CRASHPOINTS = ("origin_link:after-ledger-open", "origin_link:after-inject")


def _link_fault(change: str, outcome: str) -> Mutation:
    """A fault of the sandbox's origin link, removed by the origin_link restorer."""
    return Mutation(
        kind="origin_link",
        resource=Resource.SANDBOX,
        what="the origin link of the sandbox's edge",
        change=change,
        blast_radius=f"requests to {{domains}} that miss the edge caches: {outcome}; cached "
        "pages are not affected (the sandbox only)",
        reversible=True,
        restore="the fault is removed from the origin link (the sandbox's admin API)",
        takes_effect=Propagation.SANDBOX_EDGE,
    )


def _admin_url(target: Target) -> str:
    """The sandbox's admin API, if the whole target is the sandbox (every URL on loopback)."""
    return admin_url(
        target,
        "Origin link faults run only on the sandbox: real S3 and CloudFront cannot be made "
        "slow or flaky on demand, and the admin API, the AWS APIs and the site must all be on "
        "loopback; not so: {elsewhere}. Run against the sandbox (unset the CHAOS_* variables, "
        'or `eval "$(chaos sandbox env)"`), or use deny_origin_reads or blackhole_origin for '
        "an origin outage on AWS.",
        unset="Origin link faults need CHAOS_SANDBOX_ADMIN_URL (the sandbox's admin API; the "
        "AWS APIs and the site are the sandbox's), and it is not set: `chaos sandbox env` "
        'prints it, so run `eval "$(chaos sandbox env)"` again.',
    )


def _share(share: float | str) -> float:
    return number("share", share, 0.0, 1.0, exclusive_low=True)


def _inject(
    kind: str, fields: dict[str, Any], description: str, configuration: Any
) -> dict[str, Any]:
    target = Target.resolve(configuration)
    admin = _admin_url(target)
    fault_id = f"chaos-{uuid.uuid4().hex[:12]}"
    fault = {"kind": kind, **fields}
    ledger = Ledger()
    entry = ledger.open(
        "origin_link",
        target_ref(target),
        {"admin_url": admin, "fault_id": fault_id, "fault": fault},
        f"origin link: {description}",
    )
    crashpoint("origin_link:after-ledger-open")
    status, answer = call("PUT", f"{admin}/origin-link/faults/{fault_id}", fault)
    if status != 200:
        ledger.mark(entry.id, EntryState.RESTORED, "the sandbox refused the fault")
        raise ConfigurationError(
            f"The sandbox refused the origin link fault: {(answer or {}).get('error', status)}"
        )
    crashpoint("origin_link:after-inject")
    status, listing = call("GET", f"{admin}/origin-link/faults")
    active = {f.get("id"): f for f in (listing or {}).get("faults", [])}
    if status != 200 or active.get(fault_id, {}).get("kind") != kind:
        outcome = restore_origin_link(entry)
        ledger.mark(entry.id, outcome.state, outcome.detail)
        raise FaultNotVerified(
            f"The origin link fault {fault_id} is not active on the sandbox after it was set; "
            "it was removed; the experiment is inconclusive."
        )
    return {"fault": kind, "ledger_entry": entry.id, "fault_id": fault_id, **fields}


@restorer("origin_link")
@restores("origin_link")
def restore_origin_link(entry: LedgerEntry) -> RestoreOutcome:
    """Remove the fault from the sandbox's origin link (idempotent; guarded)."""
    admin = str(entry.undo["admin_url"])
    fault_id = str(entry.undo["fault_id"])
    status, listing = call("GET", f"{admin}/origin-link/faults")
    active = {f.get("id"): f for f in (listing or {}).get("faults", [])} if status == 200 else {}
    if fault_id not in active:
        return RestoreOutcome(EntryState.RESTORED, f"origin link fault {fault_id} already gone")
    recorded = entry.undo["fault"]
    current = {k: v for k, v in active[fault_id].items() if k in recorded}
    if current != recorded:
        raise RestoreConflict(
            f"The origin link fault {fault_id} was replaced since ({current}); left as it is."
        )
    status, answer = call("DELETE", f"{admin}/origin-link/faults/{fault_id}")
    if status not in (204, 404):
        raise SandboxError(f"The sandbox did not remove origin link fault {fault_id}: {answer}.")
    return RestoreOutcome(EntryState.RESTORED, f"origin link fault {fault_id} removed")


def _origin(origin: str) -> dict[str, Any]:
    return {"origin": origin or None}


@declares(
    "AddOriginLatency",
    mutation=_link_fault(
        "{latency_ms} ms (± {jitter_ms} ms) added to a share of {share} of origin fetches",
        "slower by that much",
    ),
    sandbox_only=True,
)
@activity
def add_origin_latency(
    latency_ms: int = 200,
    jitter_ms: int = 0,
    share: float = 1.0,
    origin: str = "",
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Delay ``share`` of origin fetches by ``latency_ms`` (plus or minus ``jitter_ms``)."""
    latency_ms = whole("latency_ms", latency_ms, 1, 120_000)
    jitter_ms = whole("jitter_ms", jitter_ms, 0, latency_ms)
    share = _share(share)
    fields = {
        "latency_ms": latency_ms,
        "jitter_ms": jitter_ms,
        "share": share,
        **_origin(origin),
    }
    return _inject(
        "latency", fields, f"{latency_ms}±{jitter_ms} ms on {share:.0%} of fetches", configuration
    )


@declares(
    "AddOriginErrors",
    mutation=_link_fault(
        "a share of {share} of origin fetches answer {status}", "that share answers {status}"
    ),
    sandbox_only=True,
)
@activity
def add_origin_errors(
    status: int = 503,
    share: float = 0.1,
    origin: str = "",
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make ``share`` of origin fetches answer ``status`` (a 4xx or 5xx)."""
    status = whole("status", status, 400, 599)
    share = _share(share)
    fields = {"status": status, "share": share, **_origin(origin)}
    return _inject("error", fields, f"{status} on {share:.0%} of fetches", configuration)


@declares(
    "BlackholeOriginLink",
    mutation=_link_fault(
        "a share of {share} of origin fetches accepted and never answered",
        "that share answers 504 after the origin's read timeout",
    ),
    sandbox_only=True,
)
@activity
def blackhole_origin_link(
    share: float = 0.1,
    origin: str = "",
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Accept ``share`` of origin fetches and never answer them (504 at the edge)."""
    share = _share(share)
    fields = {"share": share, **_origin(origin)}
    return _inject("blackhole", fields, f"blackhole on {share:.0%} of fetches", configuration)


@declares(
    "ResetOriginConnections",
    mutation=_link_fault(
        "a share of {share} of origin connections reset", "that share answers 502"
    ),
    sandbox_only=True,
)
@activity
def reset_origin_connections(
    share: float = 0.1,
    origin: str = "",
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Reset the connection of ``share`` of origin fetches (502 at the edge)."""
    share = _share(share)
    fields = {"share": share, **_origin(origin)}
    return _inject("reset", fields, f"reset on {share:.0%} of fetches", configuration)
