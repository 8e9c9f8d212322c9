"""Control: a run never starts on a dirty target, never shares it, and always restores.

- Before the experiment: refuse (interrupt) when the target has unrestored faults in the
  ledger, or when another run holds the target's lock.
- After the experiment, whatever Chaos Toolkit's rollback strategy and however the run
  ended (completed, deviated, failed, interrupted by SIGINT/SIGTERM): restore every fault
  this run injected and not yet restored, and record the outcome in the journal.
- After SIGKILL, ``chaos rollback`` does the same from the ledger.

Declare it after the sandbox control::

    controls:
      - name: safety
        provider: {type: python, module: chaos_runner.controls.safety}
"""

import contextlib
import logging
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from chaos_runner import runsignals
from chaos_runner.ledger import Ledger, TargetLock, restore_entries
from chaos_runner.target import Target

__all__ = [
    "after_activity_control",
    "after_experiment_control",
    "after_method_control",
    "before_experiment_control",
    "cleanup_control",
]

logger = logging.getLogger("chaostoolkit")


@dataclass(slots=True)
class _Run:
    run_id: str
    target: Target
    lock: TargetLock
    last_foreground: str | None
    previous_handlers: dict[int, Any]


# Global state, in one labelled place: the run this process is executing (one at a time).
_run: _Run | None = None


def before_experiment_control(
    context: dict[str, Any],
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Refuse a target with unrestored faults or held by another run; then take it."""
    from chaoslib.exceptions import InterruptExecution

    global _run  # noqa: PLW0603 - the labelled run state above
    target = Target.resolve(configuration)
    ledger = Ledger()
    pending = ledger.unrestored(target.key)
    if pending:
        listed = "; ".join(f"{e.description} (entry {e.id}, {e.state})" for e in pending)
        raise InterruptExecution(
            f"The target ({target.label}) has {len(pending)} unrestored fault(s) in the "
            f"ledger {ledger.path}: {listed}. Run `chaos rollback` to restore them first."
        )
    lock = TargetLock(target.key)
    if not lock.acquire():
        raise InterruptExecution(
            f"Another run is injecting faults into this target ({target.label}); its lock "
            f"{lock.path} is held by: {lock.holder() or 'unknown'}. Wait for it to end."
        )
    run_id = uuid.uuid4().hex[:12]
    os.environ["CHAOS_RUN_ID"] = run_id
    runsignals.reset()
    foreground = [a for a in context.get("method", []) if not a.get("background")]
    last = foreground[-1].get("name") if foreground else None
    _run = _Run(run_id, target, lock, last, _chain_interruptions())
    logger.info(f"Target: {target.label}. Faults are recorded in {ledger.path} (run {run_id}).")


def _chain_interruptions() -> dict[int, Any]:
    """On SIGINT/SIGTERM, say the method is over, then let chaoslib's handler act."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        previous[sig] = handler

        def chained(signum: int, frame: FrameType | None, handler: Any = handler) -> None:
            runsignals.mark_method_over()
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

        signal.signal(sig, chained)
    return previous


def after_activity_control(context: dict[str, Any], state: Any = None, **kwargs: Any) -> None:
    """Once the method's last foreground activity has ended, tell the background probes."""
    if (
        _run is not None
        and context.get("name") == _run.last_foreground
        and not context.get("background")
    ):
        runsignals.mark_method_over()


def after_method_control(context: dict[str, Any], state: Any = None, **kwargs: Any) -> None:
    """The method is over (also when its last activity was not reached)."""
    runsignals.mark_method_over()


def after_experiment_control(
    context: dict[str, Any],
    state: dict[str, Any],
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Restore every fault of this run that is still open; name the target in the journal."""
    if _run is None:
        return
    ledger = Ledger()
    with _signals_held():
        reports = restore_entries(ledger, ledger.unrestored(_run.target.key, _run.run_id))
    for report in reports:
        log = logger.info if report.ok else logger.error
        log(f"Restore: {report.entry.description}: {report.detail} ({report.seconds:.2f} s)")
    failed = [r for r in reports if not r.ok]
    if failed:
        logger.error(
            f"{len(failed)} fault(s) could not be restored; the site may still be degraded. "
            "Run `chaos rollback` once the cause is fixed."
        )
    entries = [e for e in ledger.entries() if e.run_id == _run.run_id]
    if entries and not failed:
        logger.info(f"All {len(entries)} fault(s) of this run are restored (or irreversible).")
    if isinstance(state, dict):
        state["chaostoolkit-cdn"] = {
            "target": _run.target.label,
            "site_url": _run.target.site_url,
            "run_id": _run.run_id,
            "ledger": str(ledger.path),
            "faults": [
                {
                    "entry": e.id,
                    "fault": e.description,
                    "state": str(e.state),
                    "detail": e.detail,
                    "injected_at": e.created_at,
                }
                for e in entries
            ],
            "restored_at_end": [
                {
                    "entry": r.entry.id,
                    "state": str(r.state),
                    "detail": r.detail,
                    "seconds": round(r.seconds, 3),
                }
                for r in reports
            ],
            "restore_complete": not failed,
        }


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while restoring: a second Ctrl-C must not cut a restore short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def hold(signum: int, frame: FrameType | None) -> None:
        logger.warning("Restoring the site: the run ends as soon as the restore completes.")

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cleanup_control() -> None:
    """Release the target's lock."""
    global _run  # noqa: PLW0603 - the labelled run state above
    if _run is not None:
        for sig, handler in _run.previous_handlers.items():
            signal.signal(sig, handler)
        _run.lock.release()
        _run = None
