"""Which site an experiment acts on: the sandbox or a real distribution.

A target is resolved from the Chaos Toolkit configuration first, then from the
environment (``CHAOS_SITE_URL``, ``CHAOS_DISTRIBUTION_ID``, ``CHAOS_ORIGIN_BUCKET`` and the
standard AWS variables). The same experiment file therefore runs on the sandbox and on a
real distribution by changing the environment only.
"""

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chaos_runner._errors import ConfigurationError

__all__ = [
    "TARGET_VARIABLES",
    "Target",
    "canonical_key",
    "configured_value",
    "is_loopback_host",
    "is_loopback_url",
    "target_key",
    "target_variables_set",
]

#: The environment variables that name a target. With none of them set, ``chaos run``
#: starts the sandbox.
TARGET_VARIABLES = ("CHAOS_SITE_URL", "CHAOS_DISTRIBUTION_ID", "CHAOS_ORIGIN_BUCKET")

_CONFIG_KEYS = {
    "CHAOS_SITE_URL": "site_url",
    "CHAOS_DISTRIBUTION_ID": "distribution_id",
    "CHAOS_ORIGIN_BUCKET": "origin_bucket",
}


def is_loopback_host(host: str) -> bool:
    """True when ``host`` is this machine: ``localhost`` or an address in 127.0.0.0/8 or ::1.

    Names are not resolved and nothing is matched by prefix: ``127.attacker.example`` and
    ``127.0.0.1.nip.io`` are not loopback, whatever they resolve to today.
    """
    host = host.strip().rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str | None) -> bool:
    """True when ``url`` names this machine (see :func:`is_loopback_host`)."""
    try:
        host = urlsplit(url).hostname if url else None
    except ValueError:
        return False
    return bool(host) and is_loopback_host(str(host))


def _endpoint_identity(url: str) -> str:
    """One spelling per endpoint: ``http://localhost:4566/`` and ``http://127.0.0.1:4566``
    are the same sandbox."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    scheme = (parts.scheme or "https").lower()
    host = (parts.hostname or "").rstrip(".").lower()
    if is_loopback_host(host):
        host = "loopback"
    return f"{scheme}://{host}:{port or (443 if scheme == 'https' else 80)}"


def target_key(endpoint_url: str | None, distribution_id: str, origin_bucket: str) -> str:
    """The name of a target for the ledger and the lock: what it is, not how it is spelled.

    On AWS the distribution id and the bucket name are global, so neither the region nor
    the spelling of an endpoint changes the key.
    """
    where = _endpoint_identity(endpoint_url) if endpoint_url else "aws"
    return f"{where}|{distribution_id or '-'}|{origin_bucket or '-'}"


def canonical_key(key: str) -> str:
    """A key as :func:`target_key` spells it, also for keys recorded by older versions
    (``aws/<region>|...`` or an endpoint as it was typed)."""
    if key.count("|") != 2:
        return key  # not a key this module made: compared as it is
    where, _, rest = key.partition("|")
    distribution, _, bucket = rest.partition("|")
    endpoint = None if where.startswith("aws") and "://" not in where else where
    return target_key(
        endpoint, "" if distribution == "-" else distribution, "" if bucket == "-" else bucket
    )


def target_variables_set(environ: Mapping[str, str] | None = None) -> list[str]:
    """The CHAOS_* target variables that are set (non-empty) in ``environ``."""
    env = os.environ if environ is None else environ
    return [name for name in TARGET_VARIABLES if env.get(name)]


def configured_value(
    variable: str, configuration: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None
) -> str:
    """The value of a target variable: configuration key first, then the environment."""
    env = os.environ if environ is None else environ
    key = _CONFIG_KEYS.get(variable, variable.lower())
    value = (configuration or {}).get(key) or env.get(variable) or ""
    return str(value)


@dataclass(frozen=True, slots=True)
class Target:
    """The site under test, as the faults and probes see it."""

    site_url: str
    distribution_id: str
    origin_bucket: str
    region: str
    endpoint_url: str | None
    sandbox_admin_url: str | None = None

    @property
    def is_sandbox(self) -> bool:
        """True when the AWS APIs are the local sandbox's (an endpoint on loopback)."""
        return is_loopback_url(self.endpoint_url)

    @property
    def key(self) -> str:
        """A stable name for the target, used by the ledger and the per-target lock."""
        return target_key(self.endpoint_url, self.distribution_id, self.origin_bucket)

    @property
    def label(self) -> str:
        """How reports and messages name the target."""
        kind = "sandbox" if self.is_sandbox else "aws"
        distribution = self.distribution_id or "-"
        return f"{kind}: distribution {distribution}, bucket {self.origin_bucket or '-'}"

    @classmethod
    def resolve(
        cls,
        configuration: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> "Target":
        """Build the target from configuration and environment (nothing is required here)."""
        env = os.environ if environ is None else environ
        return cls(
            site_url=configured_value("CHAOS_SITE_URL", configuration, env).rstrip("/"),
            distribution_id=configured_value("CHAOS_DISTRIBUTION_ID", configuration, env),
            origin_bucket=configured_value("CHAOS_ORIGIN_BUCKET", configuration, env),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            sandbox_admin_url=env.get("CHAOS_SANDBOX_ADMIN_URL") or None,
        )

    def require(self, *names: str) -> None:
        """Raise a ConfigurationError naming every missing target variable among ``names``."""
        values = {
            "CHAOS_SITE_URL": self.site_url,
            "CHAOS_DISTRIBUTION_ID": self.distribution_id,
            "CHAOS_ORIGIN_BUCKET": self.origin_bucket,
        }
        missing = [name for name in names if not values.get(name)]
        if missing:
            raise ConfigurationError(
                f"This needs {', '.join(missing)} to be set. Set the variable(s) to point at "
                'your site, or run `chaos sandbox up` and `eval "$(chaos sandbox env)"` to use '
                "the local sandbox."
            )
