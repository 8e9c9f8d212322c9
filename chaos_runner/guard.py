"""The production guard: a run refuses to start in an AWS account its target does not allow.

A target may declare the AWS account ids it is allowed in: ``allowed_accounts`` in the
experiment's configuration (a list, or ids separated by commas), else the variable
``CHAOS_ALLOWED_ACCOUNTS`` (``123456789012,210987654321``). With neither, there is no guard
and no AWS call. With one, the safety control calls :func:`enforce` first thing before the
experiment: STS GetCallerIdentity (through :func:`chaos_runner.aws.sts_client`, on the
target's endpoint; the sandbox's moto answers 123456789012) must name one of them, else the
run stops before the target is locked, before any probe and any fault.

Which problem kind a refusal is, by the exit-code contract of :mod:`chaos_runner.verdict`:

- credentials of another account, or an allowed id that is not 12 digits: ``invalid``
  (exit 2, "usage error or invalid experiment; nothing was injected"). The run was pointed
  at the wrong place, a mistake of its setup like a bad argument, not something that
  happened to it: running again unchanged refuses again, and the fix is in the shell or
  the file. ``aborted`` (exit 5) says a run was stopped by a safety lever while it could
  have gone on, which would send the reader to look for a halt or a safeguard.
- STS cannot be asked (no network, no credentials, a refused call): ``aborted`` (exit 5,
  "a refused start"): nothing says the setup is wrong, and the run does not go on
  unguarded.
"""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaos_runner import run
from chaos_runner._errors import AwsCallError
from chaos_runner.aws import aws_errors, sts_client
from chaos_runner.run import ProblemKind
from chaos_runner.target import Target

__all__ = ["ALLOWED_ACCOUNTS_VARIABLE", "Refusal", "allowed_accounts", "check_account", "enforce"]

ALLOWED_ACCOUNTS_VARIABLE = "CHAOS_ALLOWED_ACCOUNTS"
_CONFIG_KEY = "allowed_accounts"
_ACCOUNT_ID = re.compile(r"\d{12}")
_WHO = "production guard"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the run must not start, and the problem kind it is recorded as."""

    kind: ProblemKind
    message: str


def allowed_accounts(
    configuration: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The account ids the target allows (configuration first, then the variable); [] for none.

    Raises ValueError naming every id that is not 12 digits.
    """
    env = os.environ if environ is None else environ
    declared: Any = (configuration or {}).get(_CONFIG_KEY) or env.get(ALLOWED_ACCOUNTS_VARIABLE)
    if not declared:
        return []
    items = declared.split(",") if isinstance(declared, str) else declared
    if not isinstance(items, (list, tuple)):
        raise ValueError(
            f"{_CONFIG_KEY} must be a list of AWS account ids or ids separated by commas; "
            f"got {declared!r}."
        )
    ids = [str(item).strip() for item in items if str(item).strip()]
    bad = [i for i in ids if not _ACCOUNT_ID.fullmatch(i)]
    if bad:
        raise ValueError(
            f"The allowed AWS accounts must be 12-digit ids; got {', '.join(map(repr, bad))}."
        )
    return ids


def check_account(
    configuration: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None
) -> Refusal | None:
    """None when no account is declared or the credentials act in an allowed one."""
    try:
        allowed = allowed_accounts(configuration, environ)
    except ValueError as error:
        return Refusal(ProblemKind.INVALID, f"{error} Nothing was injected.")
    if not allowed:
        return None
    target = Target.resolve(configuration, environ)
    try:
        with aws_errors("GetCallerIdentity", "tell which AWS account the credentials act in"):
            account = str(
                sts_client(target.region, target.endpoint_url).get_caller_identity()["Account"]
            )
    except AwsCallError as error:
        return Refusal(
            ProblemKind.ABORTED,
            f"The production guard could not confirm the AWS account ({error}); nothing was "
            "injected.",
        )
    if account in allowed:
        return None
    return Refusal(
        ProblemKind.INVALID,
        f"The credentials act in AWS account {account}, not in one this target allows "
        f"({', '.join(allowed)}); nothing was injected.",
    )


def enforce(current: run.RunContext, configuration: Mapping[str, Any] | None) -> None:
    """Interrupt the run before anything is locked, probed or injected when the account is
    not allowed (recorded as a problem; the safety control writes the journal section)."""
    refusal = check_account(configuration)
    if refusal is None:
        return
    from chaoslib.exceptions import InterruptExecution

    if current.target is None:
        current.target = Target.resolve(configuration)
    current.record(refusal.kind, _WHO, refusal.message)
    raise InterruptExecution(refusal.message)
