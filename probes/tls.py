"""The site's certificate as a TLS client meets it: expiry, names, chain, protocol.

:func:`certificate` makes two TLS handshakes with the site's HTTPS endpoint and sends no
HTTP request (it changes nothing, invariant 1): one that accepts any certificate, to read
the one served even when it is bad (its names, dates, the chain as sent, the protocol), and
one that verifies the chain against the trust store in effect, to say whether a reader's
client would accept it and if not why (OpenSSL's reason, such as ``certificate has
expired``). The host name is checked against the certificate's subject alternative names
on their own, so ``hostname_matches`` and ``verified`` each say one thing.

Which endpoint: ``url``, else ``configuration["site_https_url"]``, else
``CHAOS_SITE_HTTPS_URL`` (``chaos sandbox env`` sets it), else ``CHAOS_SITE_URL`` when it
is an ``https://`` URL (a real site); a ``CHAOS_SITE_HTTPS_URL`` of a sandbox beside a
``CHAOS_SITE_URL`` of another site is refused (a shell that kept a sandbox's variables).
``server_name`` is the name sent by SNI and checked
against the certificate (default: the URL's host); give the site's name when ``url``
names an address. The trust store: ``ca_file``, else the one in effect
(``SSL_CERT_FILE``, which ``chaos sandbox env`` points at the sandbox's bundle, else the
system's).

No answer (refused, timeout, a server that does not speak TLS) is not an error of the
probe: ``connected`` is false, ``error`` names the cause, and ``ok`` is false.

Tolerances: ``days_left`` and ``ok`` are top-level keys, so a native range tolerance reads
expiry, and :func:`probes.http.bounds_held` reads ``ok`` (with ``failures`` logged);
:func:`expect_certificate` raises ``ActivityFailed`` naming every failure, for the method::

        - type: probe
          name: the-certificate-has-a-month-left
          tolerance: {type: range, target: days_left, range: [30, 100000]}
          provider: {type: python, module: probes.tls, func: certificate}
        - type: probe
          name: readers-accept-the-certificate
          tolerance:
            type: probe
            name: certificate-is-good
            provider: {type: python, module: probes.http, func: bounds_held, arguments: {}}
          provider:
            type: python
            module: probes.tls
            func: certificate
            arguments: {min_days: 14}
        - type: probe
          name: monitoring-sees-the-certificate-expired
          provider:
            type: python
            module: probes.tls
            func: expect_certificate
            arguments: {expect: expired}
"""

import datetime as dt
import hashlib
import ipaddress
import os
import socket
import ssl
from typing import Any, Literal, TypedDict
from urllib.parse import urlsplit

from chaoslib.exceptions import ActivityFailed
from cryptography import x509

from chaos_runner import ConfigurationError
from chaos_runner.activity import activity
from chaos_runner.target import configured_value, is_loopback_url
from probes import _arguments, _client

__all__ = ["CertificateStatus", "ChainLink", "certificate", "expect_certificate"]

Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None

MAX_TIMEOUT_S = 300.0
MAX_DAYS = 100_000.0
Expectation = Literal["valid", "expired"]


class ChainLink(TypedDict):
    """One certificate of a chain, leaf first."""

    subject: str
    issuer: str


class CertificateStatus(TypedDict):
    """The certificate served at ``url``, and whether a client would accept it."""

    url: str
    server_name: str
    #: The CA file the chain was verified against, or ``system default (PATH)``.
    trust_store: str
    connected: bool
    #: Why there was no TLS session at all (``refused: ...``, ``tls: ...``); else None.
    error: str | None
    #: The chain validates against the trust store (the host name aside).
    verified: bool
    #: Why it does not (OpenSSL's reason, such as ``certificate has expired``); else None.
    verify_error: str | None
    hostname_matches: bool
    protocol: str | None
    cipher: str | None
    subject: str
    issuer: str
    serial: str
    sha256: str
    subject_alt_names: list[str]
    not_before: str
    not_after: str
    #: Days until NotAfter (negative once expired), two decimals; None without a certificate.
    days_left: float | None
    expired: bool
    #: The verified chain when it validates, else the chain as the server sent it.
    chain: list[ChainLink]
    min_days: float
    ok: bool
    failures: list[str]


@activity
def certificate(
    url: str = "",
    server_name: str = "",
    ca_file: str = "",
    min_days: float = 0.0,
    timeout: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> CertificateStatus:
    """The certificate the site serves over HTTPS: days left, names, chain, protocol.

    ``ok`` is true when the chain validates against the trust store (``ca_file``, else the
    one in effect), the certificate names ``server_name`` (default: the URL's host), and at
    least ``min_days`` days are left before it expires; ``failures`` says why not. Each
    handshake may take ``timeout`` seconds.
    """
    endpoint = _https_url(url, configuration)
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    name = server_name.strip() or host
    trust = _trust_file(ca_file)
    floor = _arguments.number("min_days", min_days, -MAX_DAYS, MAX_DAYS)
    timeout_s = _arguments.number("timeout", timeout, 0.0, MAX_TIMEOUT_S, exclusive_low=True)
    address = (host, parts.port or 443)
    status = _blank(endpoint, name, trust, floor)
    try:
        seen = _handshake(address, name, None, timeout_s)
    except (OSError, ValueError) as error:  # ssl.SSLError and TimeoutError are OSErrors
        status["error"] = f"{_client.classify(error)}: {error}"
        return _judged(status)
    _describe(status, seen)
    try:
        verified = _handshake(address, name, _verifying_context(trust), timeout_s)
    except ssl.SSLCertVerificationError as error:
        status["verify_error"] = str(error.verify_message or error.reason or error)
    except (OSError, ValueError) as error:
        status["verify_error"] = f"{_client.classify(error)}: {error}"
    else:
        status["verified"] = True
        status["chain"] = _chain(verified.chain)
    return _judged(status)


@activity
def expect_certificate(
    expect: str = "valid",
    url: str = "",
    server_name: str = "",
    ca_file: str = "",
    min_days: float = 0.0,
    timeout: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> CertificateStatus:
    """Like :func:`certificate`, but fail unless the certificate is as ``expect`` says.

    ``expect: valid``: ``ok`` must be true (see :func:`certificate`). ``expect: expired``:
    a certificate must be served whose NotAfter is past, and a verifying client must
    refuse it as expired (what readers meet during an expired-certificate fault). Raises
    ``ActivityFailed`` naming what was seen.
    """
    if expect not in ("valid", "expired"):
        raise ConfigurationError(f"expect must be 'valid' or 'expired'; got {expect!r}.")
    status = certificate(url, server_name, ca_file, min_days, timeout, configuration, secrets)
    if expect == "valid" and not status["ok"]:
        raise ActivityFailed(
            f"Expected {status['url']} to serve a valid certificate for "
            f"{status['server_name']}, but: {' '.join(status['failures'])}"
        )
    refused_as_expired = "expired" in (status["verify_error"] or "")
    if expect == "expired" and not (status["expired"] and refused_as_expired):
        raise ActivityFailed(
            f"Expected {status['url']} to serve an expired certificate that clients refuse, "
            f"but it served {_seen(status)}."
        )
    return status


# -- handshakes ------------------------------------------------------------------------------


class _Session:
    """What one handshake saw: the leaf (DER), the chain, the protocol and cipher."""

    __slots__ = ("chain", "cipher", "leaf", "protocol")

    def __init__(self, tls: ssl.SSLSocket, verified: bool) -> None:
        self.leaf = tls.getpeercert(binary_form=True) or b""
        self.protocol = tls.version()
        cipher = tls.cipher()
        self.cipher = cipher[0] if cipher else None
        self.chain = _peer_chain(tls, verified) or [self.leaf]


def _handshake(
    address: tuple[str, int], name: str, context: ssl.SSLContext | None, timeout_s: float
) -> _Session:
    """One TLS handshake (and nothing sent after it); without a context, none is verified."""
    if context is None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(address, timeout_s) as raw,
        context.wrap_socket(raw, server_hostname=name or None) as tls,
    ):
        return _Session(tls, context.verify_mode == ssl.CERT_REQUIRED)


def _verifying_context(trust: str | None) -> ssl.SSLContext:
    """Verify the chain against ``trust`` (else the store in effect); names are ours to check."""
    context = ssl.create_default_context(cafile=trust)
    context.check_hostname = False
    return context


def _peer_chain(tls: ssl.SSLSocket, verified: bool) -> list[bytes]:
    """The chain as DER: verified (as OpenSSL built it) or as sent; [] where unavailable.

    Python 3.13 has ``get_verified_chain``/``get_unverified_chain`` (DER); 3.10 to 3.12
    have them on the socket's ``_sslobj`` only, returning certificate objects (PEM by
    default).
    """
    method = "get_verified_chain" if verified else "get_unverified_chain"
    found = getattr(tls, method, None) or getattr(getattr(tls, "_sslobj", None), method, None)
    if found is None:
        return []
    return [
        item if isinstance(item, bytes) else ssl.PEM_cert_to_DER_cert(item.public_bytes())
        for item in found() or ()
    ]


# -- what the certificate says -----------------------------------------------------------------


def _blank(url: str, name: str, trust: str | None, floor: float) -> CertificateStatus:
    return CertificateStatus(
        url=url,
        server_name=name,
        trust_store=trust or _system_trust(),
        connected=False,
        error=None,
        verified=False,
        verify_error=None,
        hostname_matches=False,
        protocol=None,
        cipher=None,
        subject="",
        issuer="",
        serial="",
        sha256="",
        subject_alt_names=[],
        not_before="",
        not_after="",
        days_left=None,
        expired=False,
        chain=[],
        min_days=floor,
        ok=False,
        failures=[],
    )


def _describe(status: CertificateStatus, seen: _Session) -> None:
    leaf = x509.load_der_x509_certificate(seen.leaf)
    names = _alt_names(leaf)
    ends = leaf.not_valid_after_utc
    now = dt.datetime.now(dt.UTC)
    status.update(
        {
            "connected": True,
            "protocol": seen.protocol,
            "cipher": seen.cipher,
            "subject": leaf.subject.rfc4514_string(),
            "issuer": leaf.issuer.rfc4514_string(),
            "serial": f"{leaf.serial_number:x}",
            "sha256": hashlib.sha256(seen.leaf).hexdigest(),
            "subject_alt_names": names,
            "not_before": _iso(leaf.not_valid_before_utc),
            "not_after": _iso(ends),
            "days_left": round((ends - now).total_seconds() / 86400, 2),
            "expired": now > ends,
            "hostname_matches": _matches(status["server_name"], names),
            "chain": _chain(seen.chain),
        }
    )


def _judged(status: CertificateStatus) -> CertificateStatus:
    """Fill ``ok`` and ``failures``: every reason a reader's client would refuse, or expiry
    too close."""
    failures = []
    if not status["connected"]:
        failures.append(f"No TLS session with {status['url']} ({status['error']}).")
    else:
        if not status["verified"]:
            failures.append(
                f"The chain does not validate against {status['trust_store']} "
                f"({status['verify_error']})."
            )
        if not status["hostname_matches"]:
            failures.append(
                f"The certificate is not for {status['server_name']} (it names "
                f"{', '.join(status['subject_alt_names']) or 'no alternative name'})."
            )
        days = status["days_left"]
        if status["expired"]:
            failures.append(f"It expired on {status['not_after']}.")
        elif days is not None and days < status["min_days"]:
            failures.append(
                f"{days:g} days are left before it expires ({status['not_after']}), "
                f"expected at least {status['min_days']:g}."
            )
    status["failures"] = failures
    status["ok"] = not failures
    return status


def _alt_names(leaf: x509.Certificate) -> list[str]:
    try:
        extension = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    dns = extension.value.get_values_for_type(x509.DNSName)
    addresses = extension.value.get_values_for_type(x509.IPAddress)
    return [*dns, *(str(address) for address in addresses)]


def _matches(name: str, alt_names: list[str]) -> bool:
    """RFC 6125: an address matches an IP SAN; a name a DNS SAN, ``*`` as a whole leftmost
    label matching exactly one label. The subject's common name is not used."""
    wanted = name.strip().rstrip(".").lower()
    try:
        address = ipaddress.ip_address(wanted.strip("[]"))
    except ValueError:
        address = None
    for alt in alt_names:
        if address is not None:
            if _is_address(alt) and ipaddress.ip_address(alt) == address:
                return True
            continue
        pattern = alt.rstrip(".").lower()
        if pattern == wanted:
            return True
        if pattern.startswith("*.") and "." in wanted:
            first, rest = wanted.split(".", 1)
            if first and rest == pattern[2:]:
                return True
    return False


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _chain(ders: list[bytes]) -> list[ChainLink]:
    links = []
    for der in ders:
        parsed = x509.load_der_x509_certificate(der)
        links.append(
            ChainLink(
                subject=parsed.subject.rfc4514_string(), issuer=parsed.issuer.rfc4514_string()
            )
        )
    return links


def _seen(status: CertificateStatus) -> str:
    if not status["connected"]:
        return f"no TLS session ({status['error']})"
    verdict = "accepted" if status["verified"] else f"refused ({status['verify_error']})"
    return f"a certificate valid until {status['not_after']} that clients {verdict}"


# -- arguments -------------------------------------------------------------------------------


def _https_url(url: str, configuration: Configuration) -> str:
    """``url``, the configured or exported HTTPS URL, or an https CHAOS_SITE_URL.

    An exported CHAOS_SITE_HTTPS_URL on loopback with a CHAOS_SITE_URL elsewhere (or the
    reverse) is refused: a shell that still holds a sandbox's variables would otherwise
    probe the sandbox's certificate and report it as the site's.
    """
    site = configured_value("CHAOS_SITE_URL", configuration)
    exported = os.environ.get("CHAOS_SITE_HTTPS_URL", "")
    chosen = url.strip() or str((configuration or {}).get("site_https_url") or "") or exported
    if (
        chosen
        and chosen == exported
        and site
        and is_loopback_url(exported) != is_loopback_url(site)
    ):
        raise ConfigurationError(
            f"CHAOS_SITE_HTTPS_URL ({exported}) and CHAOS_SITE_URL ({site}) name different "
            "sites: one is a sandbox on this machine, the other is not. Set both for one site, "
            'or clear the sandbox\'s with `eval "$(chaos sandbox env --unset)"`.'
        )
    if not chosen:
        chosen = site if site.startswith("https://") else ""
    if not chosen:
        raise ConfigurationError(
            "probes.tls needs the site's HTTPS address: pass url, or set CHAOS_SITE_HTTPS_URL "
            '(`eval "$(chaos sandbox env)"` sets it for the sandbox), or a CHAOS_SITE_URL '
            "that starts with https://."
        )
    parts = urlsplit(chosen)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigurationError(
            f"The site's HTTPS address must be an https:// URL with a host, such as "
            f"https://www.example.com; got {chosen!r}."
        )
    return chosen.rstrip("/")


def _trust_file(ca_file: str) -> str | None:
    """``ca_file`` (checked to exist), else ``SSL_CERT_FILE`` when set, else None: the
    system's store."""
    chosen = ca_file.strip()
    if chosen and not os.path.isfile(chosen):
        raise ConfigurationError(
            f"ca_file {chosen!r} is not a file; give a PEM file of CA certificates, or leave it "
            "empty to use the trust store in effect."
        )
    return chosen or os.environ.get("SSL_CERT_FILE") or None


def _system_trust() -> str:
    paths = ssl.get_default_verify_paths()
    return f"system default ({paths.cafile or paths.capath or 'none found'})"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
