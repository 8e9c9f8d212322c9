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

from chaos_runner import run
from chaos_runner._errors import ChaosRunnerError, ConfigurationError
from chaos_runner.ledger import TargetRef
from chaos_runner.run import ProblemKind
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
    """Our errors reach Chaos Toolkit as ActivityFailed; an interruption stops the run.

    Each failure is also noted in the run context with the exit code it leads to
    (:class:`~chaos_runner.run.ProblemKind`), for the verdict.
    """

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from chaoslib.exceptions import ActivityFailed, InterruptExecution

        try:
            return function(*args, **kwargs)
        except InterruptExecution as interruption:
            logger.warning(f"{function.__name__} was interrupted ({interruption}); ending the run.")
            raise SystemExit(INTERRUPTED_EXIT_CODE) from interruption
        except ChaosRunnerError as error:
            kind = ProblemKind.INVALID if isinstance(error, ConfigurationError) else None
            raise _failed(function.__name__, kind or ProblemKind.NOT_IN_EFFECT, error) from error
        except ActivityFailed as error:  # an expect_* probe: the site is not as expected
            raise _failed(function.__name__, ProblemKind.EXPECTATION, error) from error
        except Exception as error:
            logger.exception(f"{function.__name__} failed with an unexpected error (a bug)")
            raise _failed(function.__name__, ProblemKind.INTERNAL, error) from error

    return wrapper


_LABELS = {
    ProblemKind.INVALID: "InvalidArgument",
    ProblemKind.NOT_IN_EFFECT: "FaultNotInEffect",
    ProblemKind.EXPECTATION: "ExpectationNotMet",
    ProblemKind.INTERNAL: "InternalError",
}


def _failed(name: str, kind: ProblemKind, error: BaseException) -> Exception:
    """An ActivityFailed that chaoslib shows as ``<Label>: <sentence>``, once.

    chaoslib wraps whatever an activity raises in a new ActivityFailed whose message is
    ``<module>.<class>: <message>``; a class that says it is a builtin is shown by its name
    alone, so the journal and the log read ``FaultNotInEffect: The deny policy ...``
    instead of ``chaoslib.exceptions.ActivityFailed: chaoslib.exceptions.ActivityFailed: ...``.
    """
    from chaoslib.exceptions import ActivityFailed

    message = str(error)
    if kind == ProblemKind.INTERNAL:
        message = (
            f"{type(error).__name__}: {error} (an internal error of chaostoolkit-cdn, not a "
            "finding about the site; the traceback is in the log)"
        )
    current = run.current()
    if current is not None:
        current.record(kind, name, message)
    labelled: type[Exception] = type(_LABELS[kind], (ActivityFailed,), {"__module__": "builtins"})
    return labelled(message)
