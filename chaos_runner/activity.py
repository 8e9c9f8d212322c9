"""What every Chaos Toolkit activity of ours shares: errors and interruptions, the target.

chaoslib's Python provider turns *any* exception an activity raises into ActivityFailed,
including the InterruptExecution its own SIGTERM handler raises: a SIGTERM that lands while
an activity runs would be recorded as a failed activity and the run would go on. The
:func:`activity` decorator re-raises an interruption as SystemExit (which chaoslib's run
loop handles as "interrupted", with controls and rollbacks), and our own errors as
ActivityFailed with their sentence.
"""

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from chaos_runner._errors import ChaosRunnerError
from chaos_runner.ledger import TargetRef
from chaos_runner.target import Target

__all__ = ["INTERRUPTED_EXIT_CODE", "activity", "target_ref"]

P = ParamSpec("P")
R = TypeVar("R")

#: The SystemExit code an interrupted activity raises (128 + SIGTERM). chaoslib skips
#: rollbacks only for code 30 (SIGUSR2); any other code keeps them.
INTERRUPTED_EXIT_CODE = 143

logger = logging.getLogger("chaostoolkit")


def target_ref(target: Target) -> TargetRef:
    """What the ledger keeps of a target, so a restore reaches it without the environment."""
    return TargetRef(
        key=target.key,
        label=target.label,
        endpoint_url=target.endpoint_url,
        region=target.region,
    )


def activity(function: Callable[P, R]) -> Callable[P, R]:
    """Our errors reach Chaos Toolkit as ActivityFailed; an interruption stops the run."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from chaoslib.exceptions import ActivityFailed, InterruptExecution

        try:
            return function(*args, **kwargs)
        except ChaosRunnerError as error:
            raise ActivityFailed(str(error)) from error
        except InterruptExecution as interruption:
            logger.warning(f"{function.__name__} was interrupted ({interruption}); ending the run.")
            raise SystemExit(INTERRUPTED_EXIT_CODE) from interruption

    return wrapper
