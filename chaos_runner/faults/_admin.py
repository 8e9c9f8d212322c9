"""The sandbox's admin HTTP API, as the sandbox-only faults reach it (loopback only).

The origin-link faults and the expired-certificate fault change the sandbox's edge, which
has no AWS API: they call its admin API instead, and only when the whole target is the
sandbox (the admin API, the AWS APIs and the site all on loopback).
"""

import json
import urllib.error
import urllib.request
from typing import Any

from chaos_runner._errors import ConfigurationError, SandboxError
from chaos_runner.target import Target, is_loopback_url

__all__ = ["admin_url", "call"]


def call(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One JSON request to the sandbox's admin API: its status and decoded body."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None
    except OSError as error:
        raise SandboxError(
            f"The sandbox's admin API at {url} did not answer ({error}). Is the sandbox up? "
            "`chaos sandbox status` tells."
        ) from error


def admin_url(target: Target, refusal: str, unset: str = "") -> str:
    """The sandbox's admin API, if the whole target is the sandbox (every URL on loopback).

    Otherwise raises ConfigurationError: ``unset`` (when only CHAOS_SANDBOX_ADMIN_URL is
    missing and that deserves its own sentence), else ``refusal`` formatted with
    ``{elsewhere}``, the variables that are not on loopback.
    """
    urls = {
        "CHAOS_SANDBOX_ADMIN_URL": target.sandbox_admin_url,
        "AWS_ENDPOINT_URL": target.endpoint_url,
        "CHAOS_SITE_URL": target.site_url,
    }
    elsewhere = [
        f"{name}={url or '(unset)'}" for name, url in urls.items() if not is_loopback_url(url)
    ]
    if unset and elsewhere == ["CHAOS_SANDBOX_ADMIN_URL=(unset)"]:
        raise ConfigurationError(unset)
    if elsewhere:
        raise ConfigurationError(refusal.format(elsewhere=", ".join(elsewhere)))
    return str(target.sandbox_admin_url).rstrip("/")
