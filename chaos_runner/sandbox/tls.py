"""The sandbox edge's HTTPS: a test CA of its own, the site's certificate, an expired one.

CloudFront serves a distribution's alternate domain name over HTTPS with the ACM
certificate its ViewerCertificate names (SNI only). The sandbox does the same with a local
certificate authority (trustme) made when it starts, one per sandbox:

- The CA signs the site's certificate: common name the site's host name, subject
  alternative names that name, ``localhost``, ``127.0.0.1`` and ``::1`` (so a client on
  loopback validates it), valid from an hour ago for 395 days (ACM's 13 months). The
  sandbox imports that very certificate into its ACM, so DescribeCertificate tells the
  NotAfter viewers see.
- The CA's private key stays in the sandbox's memory and goes with it: nothing can be
  signed by it once the sandbox stops. Its certificate is written to the state directory
  as ``sandbox-ca.pem``, and ``sandbox-trust.pem`` is a bundle of the trust store in effect
  when the sandbox started followed by that CA: ``chaos sandbox env`` points
  ``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE`` and ``CURL_CA_BUNDLE`` at the bundle, which
  replaces a client's trust store; with the system's CAs in it, the shell still reaches
  every other HTTPS site (docs/sandbox-fidelity.md says why a bundle). Both files are
  written atomically and left in place when the sandbox stops, so a shell that still
  points at them keeps a working trust store.
- The fault the sandbox hosts: serve an expired certificate (signed by the same CA,
  NotAfter in the past, the same names) instead of the valid one, until told to serve the
  valid one again. The certificate is chosen at each TLS handshake (the SNI callback), so
  a switch takes effect for every new connection at once; connections already open keep
  the certificate they were made with, as on any server.

The admin API (:mod:`chaos_runner.sandbox.admin`) switches it; the fault and its restorer
are in :mod:`chaos_runner.faults.tls`.
"""

import contextlib
import datetime as dt
import hashlib
import os
import re
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

import trustme
from cryptography import x509

from chaos_runner._errors import ConfigurationError

__all__ = [
    "CA_FILE",
    "TRUST_BUNDLE",
    "CertificateRecord",
    "CertificateRequest",
    "CertificateState",
    "EdgeCertificates",
    "base_trust_store",
]

#: The files written to the state directory.
CA_FILE = "sandbox-ca.pem"
TRUST_BUNDLE = "sandbox-trust.pem"
#: How long the site's certificate is valid (ACM's certificates: 13 months).
VALID_DAYS = 395
#: The most days in the past an expired certificate's NotAfter may be.
MAX_EXPIRED_DAYS = 3650
#: The line that starts the sandbox's own part of a trust bundle: a bundle made from the
#: bundle of an earlier sandbox keeps only what is above it.
_MARKER = "# chaostoolkit-cdn sandbox test CA (trusted while this bundle is in use)"
_FAULT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

CertificateState = Literal["valid", "expired"]


class CertificateRecord(TypedDict):
    """What the edge serves over HTTPS now (the admin API's ``/edge/certificate``)."""

    state: CertificateState
    #: The id of the fault that made the edge serve an expired certificate; else None.
    fault_id: str | None
    subject: str
    issuer: str
    serial: str
    sha256: str
    not_before: str
    not_after: str
    names: list[str]


@dataclass(frozen=True, slots=True)
class CertificateRequest:
    """A PUT of ``/edge/certificate``: serve the valid certificate, or an expired one."""

    state: CertificateState
    fault_id: str | None = None
    expired_days: int = 1

    @classmethod
    def from_json(cls, body: object) -> "CertificateRequest":
        """Read a request body; ConfigurationError with a sentence when it is not one."""
        if not isinstance(body, dict):
            raise ConfigurationError(
                'The body must be a JSON object such as {"state": "expired", "fault_id": '
                f'"chaos-1", "expired_days": 1}} or {{"state": "valid"}}; got {body!r}.'
            )
        unknown = sorted(set(body) - {"state", "fault_id", "expired_days"})
        if unknown:
            raise ConfigurationError(
                f"Unknown field(s) {', '.join(unknown)}; a certificate request has state, "
                "fault_id and expired_days."
            )
        state = body.get("state")
        if state == "valid":
            return cls("valid")
        if state != "expired":
            raise ConfigurationError(f"state must be 'valid' or 'expired'; got {state!r}.")
        fault_id = body.get("fault_id")
        if not isinstance(fault_id, str) or not _FAULT_ID.match(fault_id):
            raise ConfigurationError(
                "An expired certificate needs a fault_id (1 to 64 letters, digits, '.', '_' "
                f"or '-') naming the fault that asks for it; got {fault_id!r}."
            )
        days = body.get("expired_days", 1)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXPIRED_DAYS:
            raise ConfigurationError(
                f"expired_days must be a whole number of days from 1 to {MAX_EXPIRED_DAYS} (how "
                f"long ago the certificate expired); got {days!r}."
            )
        return cls("expired", fault_id, days)


@dataclass(frozen=True, slots=True)
class _Served:
    """One certificate the edge can serve: the context that serves it (None: the
    listener's own, which serves the valid certificate) and what it is."""

    context: ssl.SSLContext | None
    record: CertificateRecord


class EdgeCertificates:
    """The sandbox's CA, the site's certificate, and which certificate the edge serves.

    ``directory`` receives :data:`CA_FILE` and :data:`TRUST_BUNDLE`. Not thread-safe for
    writers (the admin API, on the sandbox's loop, is the one writer); the TLS handshakes
    read which certificate to serve with one attribute read.
    """

    def __init__(self, names: Sequence[str], directory: Path) -> None:
        if not names:
            raise ValueError("The site's certificate needs at least one name.")
        self._names = list(names)
        self._ca = trustme.CA(organization_name="chaostoolkit-cdn sandbox")
        now = dt.datetime.now(dt.UTC)
        self._leaf = self._issue(now - dt.timedelta(hours=1), now + dt.timedelta(days=VALID_DAYS))
        self._listening = _context(self._leaf)
        self._listening.sni_callback = self._choose
        self._valid = _Served(None, self._describe(self._leaf, "valid", None))
        self._current = self._valid
        self.ca_file = directory / CA_FILE
        self.trust_bundle = directory / TRUST_BUNDLE
        ca_pem = self._ca.cert_pem.bytes().decode()
        _write_atomically(self.ca_file, ca_pem)
        base = base_trust_store()
        _write_atomically(self.trust_bundle, f"{base}\n{_MARKER}\n{ca_pem}".lstrip())

    @property
    def context(self) -> ssl.SSLContext:
        """The server context of the HTTPS listener (it picks the certificate per handshake)."""
        return self._listening

    @property
    def names(self) -> list[str]:
        """The names the site's certificate is for (the site's host name first)."""
        return list(self._names)

    def acm_import(self) -> dict[str, bytes]:
        """The arguments of ACM's ImportCertificate for the site's certificate."""
        return {
            "Certificate": self._leaf.cert_chain_pems[0].bytes(),
            "PrivateKey": self._leaf.private_key_pem.bytes(),
            "CertificateChain": self._ca.cert_pem.bytes(),
        }

    def record(self) -> CertificateRecord:
        """What the edge serves now."""
        return self._current.record

    def apply(self, request: CertificateRequest) -> CertificateRecord:
        """Serve what ``request`` asks for, from the next TLS handshake on; return it.

        An expired certificate is issued anew for each request (a few milliseconds: an
        ECDSA key), ``expired_days`` days after its NotAfter and 90 days after its
        NotBefore.
        """
        if request.state == "valid":
            self._current = self._valid
        else:
            ended = dt.datetime.now(dt.UTC) - dt.timedelta(days=request.expired_days)
            expired = self._issue(ended - dt.timedelta(days=90), ended)
            record = self._describe(expired, "expired", request.fault_id)
            self._current = _Served(_context(expired), record)
        return self._current.record

    def _choose(self, connection: Any, server_name: str | None, context: ssl.SSLContext) -> None:
        """The SNI callback: every handshake gets the certificate served now."""
        chosen = self._current.context
        if chosen is not None:
            connection.context = chosen

    def _issue(self, not_before: dt.datetime, not_after: dt.datetime) -> trustme.LeafCert:
        return self._ca.issue_cert(
            *self._names,
            common_name=self._names[0],
            organization_name="chaostoolkit-cdn sandbox",
            not_before=not_before,
            not_after=not_after,
        )

    def _describe(
        self, leaf: trustme.LeafCert, state: CertificateState, fault_id: str | None
    ) -> CertificateRecord:
        pem = leaf.cert_chain_pems[0].bytes()
        certificate = x509.load_pem_x509_certificate(pem)
        der = ssl.PEM_cert_to_DER_cert(pem.decode())
        return CertificateRecord(
            state=state,
            fault_id=fault_id,
            subject=certificate.subject.rfc4514_string(),
            issuer=certificate.issuer.rfc4514_string(),
            serial=f"{certificate.serial_number:x}",
            sha256=hashlib.sha256(der).hexdigest(),
            not_before=_iso(certificate.not_valid_before_utc),
            not_after=_iso(certificate.not_valid_after_utc),
            names=list(self._names),
        )


def _context(leaf: trustme.LeafCert) -> ssl.SSLContext:
    """A server context serving ``leaf``, TLS 1.2 and later (CloudFront's TLSv1.2_2021)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    leaf.configure_cert(context)
    return context


def base_trust_store(environ: Mapping[str, str] | None = None) -> str:
    """The PEM text of the trust store in effect, for the sandbox's bundle to extend.

    The first file that exists of: ``SSL_CERT_FILE``, the system's CA file as OpenSSL
    finds it, certifi's. A bundle an earlier sandbox wrote (the shell may still point
    ``SSL_CERT_FILE`` at one) gives only what is above its sandbox part, so bundles do not
    pile up old CAs. Empty when there is none (a system with a CA directory only).
    """
    env = os.environ if environ is None else environ
    paths = ssl.get_default_verify_paths()
    candidates = [env.get(paths.openssl_cafile_env), paths.openssl_cafile]
    with contextlib.suppress(ImportError):  # certifi is optional: the system's file comes first
        import certifi

        candidates.append(certifi.where())
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            base = Path(candidate).read_text(errors="replace").split(_MARKER, 1)[0].strip()
            return f"{base}\n" if base else ""
    return ""


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
