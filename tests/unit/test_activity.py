"""A SIGTERM during one of our activities ends the run instead of failing the activity."""

import os
import signal
import time

import pytest
from chaoslib.activity import run_activity
from chaoslib.exceptions import ActivityFailed
from chaoslib.exit import exit_signals

from chaos_runner import ConfigurationError
from chaos_runner.activity import INTERRUPTED_EXIT_CODE, activity


@activity
def sleeps_through_a_sigterm(seconds: float = 5.0) -> str:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(seconds)  # chaoslib's handler raises InterruptExecution in here
    return "not interrupted"


@activity
def refuses(reason: str = "bad") -> str:
    raise ConfigurationError(f"The argument is {reason}.")


def python_activity(func: str, **arguments: object) -> dict[str, object]:
    return {
        "type": "action",
        "name": func,
        "provider": {"type": "python", "module": __name__, "func": func, "arguments": arguments},
    }


def test_sigterm_inside_an_activity_becomes_system_exit_not_a_failed_activity() -> None:
    began = time.monotonic()
    with exit_signals(), pytest.raises(SystemExit) as stopped:
        run_activity(python_activity("sleeps_through_a_sigterm"), {}, {})

    assert stopped.value.code == INTERRUPTED_EXIT_CODE
    assert time.monotonic() - began < 4


def test_our_errors_reach_chaos_toolkit_as_their_sentence() -> None:
    with pytest.raises(ActivityFailed, match=r"The argument is wrong\."):
        run_activity(python_activity("refuses", reason="wrong"), {}, {})


@activity
def breaks() -> str:
    return str(1 + "1")  # type: ignore[operator]  # a bug, on purpose


def test_a_failure_reads_once_with_its_label_and_is_noted_for_the_verdict() -> None:
    from chaos_runner import run

    context = run.start()
    try:
        with pytest.raises(ActivityFailed) as refused:
            run_activity(python_activity("refuses", reason="wrong"), {}, {})
        with pytest.raises(ActivityFailed) as broken:
            run_activity(python_activity("breaks"), {}, {})
    finally:
        run.finish()

    assert str(refused.value) == "InvalidArgument: The argument is wrong."
    assert str(broken.value).startswith("InternalError: TypeError: unsupported operand")
    assert [(p["kind"], p["activity"]) for p in context.problems] == [
        ("invalid", "refuses"),
        ("internal", "breaks"),
    ]
    assert run.current() is None
