"""The sandbox as a process: run it in the foreground, detach it, find it, stop it.

A running sandbox is described by its state file (``.chaos/sandbox.json``); the file is
written once everything listens and removed when the process stops cleanly. A state file
whose process is gone is stale and is cleaned up by ``status`` and ``down``.

A sandbox run by :func:`serve` (``chaos sandbox up``, detached or not, and the sandbox
control) gives its distribution the id :func:`stable_distribution_id` derives from the
state file's directory, unless its settings name one: the same directory, the same id.
Its test CA's certificate and trust bundle are written to that directory too.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from chaos_runner._errors import SandboxError
from chaos_runner.sandbox.stack import SandboxSettings, SandboxStack
from chaos_runner.sandbox.state import SandboxInfo, stable_distribution_id

__all__ = ["detach", "find_running", "pid_alive", "serve", "stop"]

_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 15.0


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists (and is not a zombie of ours)."""
    with contextlib.suppress(ChildProcessError):  # not our child: the signal-0 check tells
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_running(state_file: Path) -> SandboxInfo | None:
    """The sandbox described by ``state_file`` if its process lives; a stale file is removed."""
    if not state_file.exists():
        return None
    info = SandboxInfo.read(state_file)
    if pid_alive(info.pid):
        return info
    state_file.unlink(missing_ok=True)
    return None


def serve(
    settings: SandboxSettings,
    state_file: Path,
    on_ready: Callable[[SandboxInfo], None] | None = None,
) -> None:
    """Run the sandbox in this process until SIGINT or SIGTERM; then stop it cleanly.

    Without a ``distribution_id`` in ``settings``, the distribution's id is the one of
    ``state_file``'s directory (:func:`stable_distribution_id`); without a ``state_dir``,
    the test CA's files go to that directory.
    """
    existing = find_running(state_file)
    if existing is not None:
        raise SandboxError(
            f"A sandbox is already running (pid {existing.pid}, site {existing.edge_url}/), "
            f"described by {state_file}. Use it, or stop it first with `chaos sandbox down`."
        )
    if settings.distribution_id is None:
        settings = replace(settings, distribution_id=stable_distribution_id(state_file.parent))
    if settings.state_dir is None:
        settings = replace(settings, state_dir=state_file.parent.absolute())
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_serve(settings, state_file, on_ready))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (the edge serves cache hits faster)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _serve(
    settings: SandboxSettings,
    state_file: Path,
    on_ready: Callable[[SandboxInfo], None] | None,
) -> None:
    stack = SandboxStack(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        info = await stack.start()
        info.write(state_file)
        if on_ready is not None:
            on_ready(info)
        await stopping.wait()
    finally:
        try:
            await stack.stop()
        finally:
            _remove_own_state_file(state_file)


def _remove_own_state_file(state_file: Path) -> None:
    with contextlib.suppress(SandboxError):
        if state_file.exists() and SandboxInfo.read(state_file).pid == os.getpid():
            state_file.unlink(missing_ok=True)


def detach(settings: SandboxSettings, state_file: Path, log_file: Path) -> SandboxInfo:
    """Start the sandbox as a background process; return once it serves (or raise why not)."""
    existing = find_running(state_file)
    if existing is not None:
        raise SandboxError(
            f"A sandbox is already running (pid {existing.pid}, site {existing.edge_url}/). "
            "Use it, or stop it first with `chaos sandbox down`."
        )
    log_file.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "chaos_runner.sandbox",
        "--host", settings.host,
        "--aws-port", str(settings.aws_port),
        "--edge-port", str(settings.edge_port),
        "--admin-port", str(settings.admin_port),
        "--https-port", str(settings.https_port),
        "--pops", str(settings.pops),
        "--propagation-delay", f"{settings.propagation_delay:.6f}",
        "--state-file", str(state_file.absolute()),
    ]  # fmt: skip
    if settings.site_dir is not None:
        command += ["--site-dir", str(settings.site_dir.absolute())]
    if settings.distribution_id is not None:
        command += ["--distribution-id", settings.distribution_id]
    with log_file.open("ab") as log:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return _wait_until_ready(child, state_file, log_file)


def _wait_until_ready(child: subprocess.Popen[bytes], state_file: Path, log: Path) -> SandboxInfo:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SandboxError(
                f"The sandbox process exited with code {child.returncode} before it served: "
                f"{_last_line(log)}"
            )
        if state_file.exists():
            with contextlib.suppress(SandboxError):
                info = SandboxInfo.read(state_file)
                if info.pid == child.pid:
                    return info
        time.sleep(0.05)
    child.terminate()
    raise SandboxError(
        f"The sandbox did not start within {_START_TIMEOUT:.0f} s; its log is {log}: "
        f"{_last_line(log)}"
    )


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"


def stop(state_file: Path) -> SandboxInfo | None:
    """Stop the sandbox described by ``state_file``; None when none was running."""
    info = find_running(state_file)
    if info is None:
        return None
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_TIMEOUT
    while pid_alive(info.pid):
        if time.monotonic() > deadline:
            os.kill(info.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    state_file.unlink(missing_ok=True)
    return info
