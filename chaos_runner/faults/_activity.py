"""What every fault shares: the target reference for the ledger, errors as ActivityFailed."""

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from chaos_runner._errors import ChaosRunnerError
from chaos_runner.ledger import TargetRef
from chaos_runner.target import Target

__all__ = ["activity", "target_ref"]

P = ParamSpec("P")
R = TypeVar("R")


def target_ref(target: Target) -> TargetRef:
    """What the ledger keeps of a target, so a restore reaches it without the environment."""
    return TargetRef(
        key=target.key,
        label=target.label,
        endpoint_url=target.endpoint_url,
        region=target.region,
    )


def activity(function: Callable[P, R]) -> Callable[P, R]:
    """Report our errors to Chaos Toolkit as ActivityFailed (a message, not a traceback)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from chaoslib.exceptions import ActivityFailed

        try:
            return function(*args, **kwargs)
        except ChaosRunnerError as error:
            raise ActivityFailed(str(error)) from error

    return wrapper
