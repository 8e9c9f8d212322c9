"""Control: start the sandbox when no target is configured, and stop it after the run.

With none of CHAOS_SITE_URL, CHAOS_DISTRIBUTION_ID and CHAOS_ORIGIN_BUCKET set, the run uses
the sandbox: the one already running from this directory (``chaos sandbox up --detach``), or
a new one started for this run and stopped at its end. With any of them set, it stays out of
the way and the experiment acts on that target, unless the target's site or AWS APIs are on
loopback and nothing answers there: then the shell still holds the variables of a sandbox
that is gone, and the run stops before the experiment (before the safety control takes
the target's lock), with one sentence naming the variable and how to clear it; the journal
records the problem as ``invalid`` (nothing was injected).

The sandbox it starts serves the demo site, or the built site named by
``CHAOS_SANDBOX_SITE_DIR`` (Hugo's ``public/``: a directory with an ``index.html``, checked
before it starts; ``chaos gate --target sandbox --site-dir DIR`` sets it for its runs). A
sandbox already running is used only if it serves that same site; otherwise the run stops
before the experiment, as ``invalid``, saying which site it serves.

Declare it first among the experiment's controls::

    controls:
      - name: sandbox
        provider: {type: python, module: chaos_runner.controls.sandbox}
"""

import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chaos_runner import run
from chaos_runner._errors import ChaosRunnerError, ConfigurationError
from chaos_runner.run import ProblemKind
from chaos_runner.target import Target, configured_value, is_loopback_url, target_variables_set

__all__ = ["before_experiment_control", "cleanup_control", "configure_control"]

logger = logging.getLogger("chaostoolkit")

_CONTROL = "sandbox control"
#: How long a loopback address may take to accept a connection (it refuses at once).
_CONNECT_TIMEOUT = 2.0


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
        gone = _gone_sandbox(configuration)
        if gone:
            # The safety control writes the journal section (with this problem) for a target.
            current.target = Target.resolve(configuration)
            current.record(ProblemKind.INVALID, _CONTROL, gone)  # said when it interrupts
        return
    from chaos_runner.sandbox.process import detach, find_running
    from chaos_runner.sandbox.stack import SandboxSettings
    from chaos_runner.sandbox.state import default_state_dir, default_state_file

    state_file = default_state_file()
    try:
        site_dir = _site_dir()
        info = find_running(state_file)
        if info is not None:
            _check_serves(info.site_dir, site_dir, info.pid)
            logger.info(
                f"No CHAOS_* target set: using the sandbox already running (pid {info.pid})."
            )
        else:
            logger.info("No CHAOS_* target set: starting the local sandbox for this run...")
            wanted = SandboxSettings(site_dir=site_dir)
            info = detach(wanted, state_file, default_state_dir() / "sandbox.log")
            current.started_sandbox = state_file
            logger.info(f"Sandbox started in {info.startup_seconds:.2f} s (pid {info.pid}).")
    except ConfigurationError as error:
        current.record(ProblemKind.INVALID, _CONTROL, f"{error} Nothing was injected.")
        logger.error(str(error))
        return
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


def _site_dir() -> Path | None:
    """The built site named by ``CHAOS_SANDBOX_SITE_DIR`` (checked), or None: the demo."""
    from chaos_runner.sandbox.site_dir import SITE_DIR_VARIABLE, check_site_dir

    named = os.environ.get(SITE_DIR_VARIABLE, "").strip()
    return check_site_dir(Path(named), SITE_DIR_VARIABLE) if named else None


def _check_serves(serving: str, wanted: Path | None, pid: int) -> None:
    """ConfigurationError when the running sandbox serves another site than ``wanted``."""
    from chaos_runner.sandbox.site_dir import SITE_DIR_VARIABLE

    if wanted is None or (serving and Path(serving).resolve() == wanted.resolve()):
        return
    raise ConfigurationError(
        f"The sandbox already running from this directory (pid {pid}) serves "
        f"{serving or 'the demo site'}, not {SITE_DIR_VARIABLE}={wanted}: stop it with "
        "`chaos sandbox down` (the run then starts one serving that site), or unset "
        f"{SITE_DIR_VARIABLE} to use it."
    )


def _gone_sandbox(configuration: Mapping[str, Any] | None) -> str:
    """Why the target the shell names is a sandbox that is gone; "" when it is not.

    Gone: the site (``CHAOS_SITE_URL``) or the AWS APIs (``AWS_ENDPOINT_URL``) are on
    loopback and nothing accepts a connection there.
    """
    site = configured_value("CHAOS_SITE_URL", configuration)
    urls = {
        "CHAOS_SITE_URL" if os.environ.get("CHAOS_SITE_URL") == site else "site_url": site,
        "AWS_ENDPOINT_URL": os.environ.get("AWS_ENDPOINT_URL", ""),
    }
    silent = [
        f"{name}={url}" for name, url in urls.items() if is_loopback_url(url) and not _answers(url)
    ]
    if not silent:
        return ""
    return (
        f"The shell's variables point at a sandbox that is gone (nothing answers at "
        f'{" or ".join(silent)}): clear them with `eval "$(chaos sandbox env --unset)"` '
        "and `chaos run` starts a sandbox of its own, or start one with `chaos sandbox up "
        '--detach` and `eval "$(chaos sandbox env)"`; nothing was injected.'
    )


def _answers(url: str) -> bool:
    """True when something accepts a TCP connection at ``url``'s host and port."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    try:
        with socket.create_connection((str(parts.hostname), port), timeout=_CONNECT_TIMEOUT):
            return True
    except OSError:
        return False


def before_experiment_control(context: dict[str, Any], **kwargs: Any) -> None:
    """Interrupt the run, before any probe, when the sandbox could not start or is gone."""
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
