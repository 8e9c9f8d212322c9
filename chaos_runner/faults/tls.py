"""Faults of the site's certificate (sandbox only): the edge serves an expired certificate.

An expired certificate is an outage every reader sees (browsers refuse the page) that a
probe over plain HTTP never notices, nor does anything that watches origin errors or
CloudFront's 5xx rate. Rehearsing it answers one question: does monitoring notice?
(``probes.tls.certificate`` does: ``days_left`` below 0, ``verified`` false, the
reason ``certificate has expired``.)

- ``serve_expired_certificate``: from the next TLS handshake on, the sandbox's edge serves
  a certificate signed by the same test CA for the same names, whose NotAfter is
  ``expired_days`` days in the past. Nothing else changes: the ACM certificate, the
  distribution and plain HTTP are as they were. Verified by a TLS handshake with the edge
  that gets that very certificate (its SHA-256).
- Its restore (ledger kind ``edge_certificate``): the edge serves its valid certificate
  again, verified the same way; a certificate another fault put there since is left alone
  (a conflict).

Real CloudFront cannot be made to serve an expired certificate (and ACM refuses to import
one), so the fault runs only when the whole target is the sandbox: the admin API
(``CHAOS_SANDBOX_ADMIN_URL``), the AWS APIs (``AWS_ENDPOINT_URL``) and the site
(``CHAOS_SITE_URL``) all on loopback.
"""

import hashlib
import socket
import ssl
import uuid
from typing import Any
from urllib.parse import urlsplit

from chaos_runner._errors import ConfigurationError, FaultNotVerified, RestoreConflict, SandboxError
from chaos_runner.activity import activity, target_ref
from chaos_runner.arguments import whole
from chaos_runner.crashpoint import crashpoint
from chaos_runner.faults._admin import admin_url, call
from chaos_runner.iam import Mutation, Propagation, Resource, declares, restores
from chaos_runner.ledger import EntryState, Ledger, LedgerEntry, RestoreOutcome, restorer
from chaos_runner.target import Target

__all__ = ["CRASHPOINTS", "serve_expired_certificate"]

#: Where a test may kill the runner (see chaos_runner.crashpoint).
CRASHPOINTS = ("edge_certificate:after-ledger-open", "edge_certificate:after-inject")
#: The ledger kind of the fault (``restore_injected_faults(fault=...)`` takes it).
KIND = "edge_certificate"
#: How long ago an expired certificate may have expired, in days (the admin API's limit).
MAX_EXPIRED_DAYS = 3650
_HANDSHAKE_TIMEOUT = 10.0


def _admin_url(target: Target) -> str:
    """The sandbox's admin API, if the whole target is the sandbox (every URL on loopback)."""
    return admin_url(
        target,
        "serve_expired_certificate runs only on the sandbox: CloudFront cannot be made to "
        "serve an expired certificate, and the sandbox's admin API, AWS APIs and site must "
        "all be on loopback; not so: {elsewhere}. Run against the sandbox (unset the CHAOS_* "
        'variables, or `eval "$(chaos sandbox env)"`), and on AWS watch the certificate\'s '
        "expiry with probes.tls.certificate instead.",
    )


def _certificate(admin: str) -> dict[str, Any]:
    """What the edge serves now, as the admin API says."""
    status, answer = call("GET", f"{admin}/edge/certificate")
    if status != 200 or not isinstance(answer, dict):
        raise SandboxError(
            f"The sandbox's admin API at {admin} did not tell which certificate its edge "
            f"serves ({status}: {(answer or {}).get('error', answer)}). A sandbox started "
            "before its edge served HTTPS has no certificate: restart it."
        )
    return answer


def _served_sha256(https_url: str) -> str:
    """The SHA-256 of the certificate a TLS client gets from ``https_url`` now.

    The chain is not verified (the point is to see which certificate is served, expired
    or not); the handshake is with the sandbox on loopback.
    """
    parts = urlsplit(https_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), _HANDSHAKE_TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True) or b""
    except OSError as error:  # ssl.SSLError is an OSError
        raise SandboxError(
            f"The sandbox's edge did not complete a TLS handshake at {https_url} ({error})."
        ) from error
    return hashlib.sha256(der).hexdigest()


@declares(
    "ServeExpiredCertificate",
    mutation=Mutation(
        kind=KIND,
        resource=Resource.SANDBOX,
        what="the certificate the sandbox's edge serves over HTTPS",
        change="replaced by one of the same CA and names that expired {expired_days} day(s) ago",
        blast_radius="every reader of {domains} over HTTPS: clients refuse the site; plain HTTP, "
        "the distribution and the ACM certificate are not changed (the sandbox only)",
        reversible=True,
        restore="the edge serves its valid certificate again, verified by a TLS handshake; a "
        "certificate another fault put there since is left alone and reported",
        takes_effect=Propagation.SANDBOX_EDGE,
    ),
    sandbox_only=True,
)
@activity
def serve_expired_certificate(
    expired_days: int = 1,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make the sandbox's edge serve an expired certificate over HTTPS until restored.

    The certificate is signed by the sandbox's test CA for the site's names, as the valid
    one is; its NotAfter is ``expired_days`` days ago (1 to 3650). Sandbox only.
    """
    days = whole("expired_days", expired_days, 1, MAX_EXPIRED_DAYS)
    target = Target.resolve(configuration)
    admin = _admin_url(target)
    current = _certificate(admin)
    if current.get("state") != "valid":
        raise ConfigurationError(
            f"The sandbox's edge already serves an expired certificate (fault "
            f"{current.get('fault_id')}); restore it first with `chaos rollback`."
        )
    fault_id = f"chaos-{uuid.uuid4().hex[:12]}"
    https_url = str(current["https_url"])
    ledger = Ledger()
    entry = ledger.open(
        KIND,
        target_ref(target),
        {"admin_url": admin, "fault_id": fault_id, "https_url": https_url},
        f"edge certificate: expired {days} day(s) ago",
    )
    crashpoint("edge_certificate:after-ledger-open")
    request = {"state": "expired", "fault_id": fault_id, "expired_days": days}
    status, answer = call("PUT", f"{admin}/edge/certificate", request)
    if status != 200:
        ledger.mark(entry.id, EntryState.RESTORED, "the sandbox refused the fault")
        raise ConfigurationError(
            f"The sandbox refused the certificate fault: {(answer or {}).get('error', status)}"
        )
    crashpoint("edge_certificate:after-inject")
    if _served_sha256(https_url) != answer["sha256"]:
        outcome = restore_edge_certificate(entry)
        ledger.mark(entry.id, outcome.state, outcome.detail)
        raise FaultNotVerified(
            f"The sandbox's edge at {https_url} does not serve the expired certificate after "
            "it was set; the valid one was put back; the experiment is inconclusive."
        )
    return {
        "fault": "expired_certificate",
        "ledger_entry": entry.id,
        "fault_id": fault_id,
        "https_url": https_url,
        "not_after": answer["not_after"],
        "sha256": answer["sha256"],
        "expired_days": days,
    }


@restorer(KIND)
@restores(KIND)
def restore_edge_certificate(entry: LedgerEntry) -> RestoreOutcome:
    """Serve the valid certificate again (idempotent; guarded; verified by a handshake)."""
    admin = str(entry.undo["admin_url"])
    fault_id = str(entry.undo["fault_id"])
    current = _certificate(admin)
    if current.get("state") == "valid":
        return RestoreOutcome(EntryState.RESTORED, "the edge already serves its valid certificate")
    if current.get("fault_id") != fault_id:
        raise RestoreConflict(
            f"The edge serves an expired certificate of another fault "
            f"({current.get('fault_id')}) since {fault_id}; left as it is."
        )
    status, answer = call("PUT", f"{admin}/edge/certificate", {"state": "valid"})
    if status != 200 or not isinstance(answer, dict) or answer.get("state") != "valid":
        raise SandboxError(f"The sandbox did not serve its valid certificate again: {answer}.")
    if _served_sha256(str(answer["https_url"])) != answer["sha256"]:
        raise SandboxError(
            f"The sandbox's edge at {answer['https_url']} still does not serve its valid "
            "certificate after the restore."
        )
    return RestoreOutcome(
        EntryState.RESTORED,
        f"the edge serves its valid certificate again (NotAfter {answer['not_after']})",
    )
