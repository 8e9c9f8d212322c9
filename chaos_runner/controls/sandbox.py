"""Control: start the sandbox when no target is configured, and stop it after the run.

With none of CHAOS_SITE_URL, CHAOS_DISTRIBUTION_ID and CHAOS_ORIGIN_BUCKET set, the run uses
the sandbox: the one already running from this directory (``chaos sandbox up --detach``), or
a new one started for this run and stopped at its end. With any of them set, it stays out of
the way and the experiment acts on that target.

Declare it first among the experiment's controls::

    controls:
      - name: sandbox
        provider: {type: python, module: chaos_runner.controls.sandbox}
"""

import logging
from typing import Any

from chaos_runner import run
from chaos_runner._errors import ChaosRunnerError
from chaos_runner.run import ProblemKind
from chaos_runner.target import target_variables_set

__all__ = ["before_experiment_control", "cleanup_control", "configure_control"]

logger = logging.getLogger("chaostoolkit")

_CONTROL = "sandbox control"


def configure_control(
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    experiment: dict[str, Any] | None = None,
) -> None:
    """Point the run at the sandbox when no target is configured (starting one if needed).

    The sandbox's variables are set for this run only (:class:`chaos_runner.run.RunContext`
    undoes them at cleanup), so the next experiment in the same process starts afresh.
    """
    current = run.start()
    configured = target_variables_set()
    if configured:
        logger.info(f"Target from the environment ({', '.join(configured)}); no sandbox.")
        return
    from chaos_runner.sandbox.process import detach, find_running
    from chaos_runner.sandbox.stack import SandboxSettings
    from chaos_runner.sandbox.state import default_state_dir, default_state_file

    state_file = default_state_file()
    try:
        info = find_running(state_file)
        if info is not None:
            logger.info(
                f"No CHAOS_* target set: using the sandbox already running (pid {info.pid})."
            )
        else:
            logger.info("No CHAOS_* target set: starting the local sandbox for this run...")
            info = detach(SandboxSettings(), state_file, default_state_dir() / "sandbox.log")
            current.started_sandbox = state_file
            logger.info(f"Sandbox started in {info.startup_seconds:.2f} s (pid {info.pid}).")
    except ChaosRunnerError as error:
        current.record(ProblemKind.ABORTED, _CONTROL, f"The sandbox could not start: {error}")
        logger.error(f"The sandbox could not start: {error}")
        return
    for line in info.summary().splitlines():
        logger.info(f"  {line}")
    current.set_environment(info.environment())
    if configuration is not None:
        configuration["site_url"] = info.edge_url
        configuration["distribution_id"] = info.distribution_id
        configuration["origin_bucket"] = info.bucket


def before_experiment_control(context: dict[str, Any], **kwargs: Any) -> None:
    """Interrupt the run, before any probe, when the sandbox could not start."""
    current = run.current()
    problems = [p for p in current.problems if p["activity"] == _CONTROL] if current else []
    if problems:
        from chaoslib.exceptions import InterruptExecution

        raise InterruptExecution(f"No target: {problems[0]['message']}")


def cleanup_control() -> None:
    """Stop the sandbox this run started (after every restore has run); end the run."""
    current = run.current()
    started = current.started_sandbox if current is not None else None
    try:
        if started is not None:
            from chaos_runner.sandbox.process import stop

            stopped = stop(started)
            if stopped is not None:
                logger.info(f"Sandbox stopped (pid {stopped.pid}).")
    finally:
        run.finish()
