"""Control: a run never starts on a dirty target, never shares it, and always restores.

- Before the experiment: refuse when this machine is halted (``chaos halt``), take the
  target's lock (refuse when another run holds it), then refuse when the ledger is damaged
  or holds unrestored faults of the target. Then watch the halt switch: engaged during the
  run, it aborts the run (as SIGTERM would, recorded as an ``aborted`` problem) within a
  second, and the run restores. A refusal
  interrupts the run before any probe or fault; so does any error of this control itself
  (Chaos Toolkit would otherwise log it and go on without a safety net).
- After the experiment, whatever Chaos Toolkit's rollback strategy and however the run
  ended (completed, deviated, failed, interrupted by SIGINT/SIGTERM): restore every fault
  this run injected and not yet restored, record the outcome in the journal's
  ``chaostoolkit-cdn`` section (:class:`chaos_runner.run.JournalSection`), and mark the
  journal ``failed`` when the run must not pass (a restore incomplete, the steady state
  failing before the method, a fault that failed): Chaos Toolkit then exits 1.
- From the restore on, SIGINT/SIGTERM are held: a second Ctrl-C cannot cut a restore
  short nor lose the journal Chaos Toolkit writes after the controls.
- After SIGKILL, ``chaos rollback`` does the same from the ledger.

Declare it after the sandbox control::

    controls:
      - name: safety
        provider: {type: python, module: chaos_runner.controls.safety}
"""

import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

import chaos_runner.faults  # noqa: F401  (registers every fault's restorer)
from chaos_runner import guard, halt, run
from chaos_runner._errors import ChaosRunnerError
from chaos_runner.ledger import Ledger, LedgerEntry, RestoreReport, TargetLock, restore_entries
from chaos_runner.run import SECTION, FaultRecord, JournalSection, ProblemKind, RestoreRecord
from chaos_runner.target import Target

__all__ = [
    "after_activity_control",
    "after_experiment_control",
    "after_method_control",
    "before_experiment_control",
    "cleanup_control",
]

logger = logging.getLogger("chaostoolkit")

_CONTROL = "safety control"


def before_experiment_control(
    context: dict[str, Any],
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Take the target (its lock), refuse a dirty one or a damaged ledger; interrupt on error."""
    from chaoslib.exceptions import InterruptExecution

    current = run.start()
    try:
        guard.enforce(current, configuration)  # a run in an account not allowed refuses
        refusal = _take_target(current, context, configuration)
    except InterruptExecution:
        raise
    except ChaosRunnerError as error:
        refusal = str(error)
    except Exception as error:
        logger.exception("The safety control failed before the experiment")
        current.record(ProblemKind.INTERNAL, _CONTROL, f"{type(error).__name__}: {error}")
        raise InterruptExecution(
            f"The safety control could not check the target ({type(error).__name__}: "
            f"{error}); nothing was injected."
        ) from error
    if refusal:
        current.record(ProblemKind.ABORTED, _CONTROL, refusal)
        if current.lock is not None:
            current.lock.release()
            current.lock = None
        raise InterruptExecution(refusal)


def _take_target(
    current: run.RunContext, context: dict[str, Any], configuration: dict[str, Any] | None
) -> str:
    """Lock the target for this run; the reason to refuse it, or "" to go on."""
    target = Target.resolve(configuration)
    current.target = target
    halted = halt.state()
    if halted is not None:
        return (
            f"This machine is halted ({halted.describe()}); nothing was injected into "
            f"{target.label}. Run `chaos halt --release` to let runs start again."
        )
    lock = TargetLock(target.key)
    if not lock.acquire():
        return (
            f"Another run is injecting faults into this target ({target.label}); its lock "
            f"{lock.path} is held by {lock.holder() or 'an unknown process'}. That run "
            "restores its own faults when it ends: wait for it, then start again."
        )
    current.lock = lock
    ledger = Ledger()
    pending = ledger.unrestored(target.key)  # strict: a damaged ledger raises LedgerError
    if pending:
        listed = "; ".join(f"{e.description} (entry {e.id}, {e.state})" for e in pending)
        return (
            f"The target ({target.label}) has {len(pending)} unrestored fault(s) in the "
            f"ledger {ledger.path}: {listed}. Run `chaos rollback` to restore them first."
        )
    foreground = [a for a in context.get("method", []) if not a.get("background")]
    current.last_foreground = foreground[-1].get("name") if foreground else None
    _chain_interruptions(current)
    _watch_halt(current)
    logger.info(
        f"Target: {target.label}. Faults are recorded in {ledger.path} (run {current.run_id})."
    )
    return ""


# Global state, in one labelled place: the signal handlers this control replaced, to put
# back at cleanup (a process has one set of handlers; one run at a time).
_previous_handlers: dict[int, Any] = {}


def _chain_interruptions(current: run.RunContext) -> None:
    """On the first SIGINT/SIGTERM, say the method is over and let chaoslib's handler act
    (the run ends, interrupted, and restores); the next ones are held, so repeated Ctrl-C
    cannot cut the rollbacks, the restore or the journal short."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        _previous_handlers.setdefault(sig, handler)

        def chained(signum: int, frame: FrameType | None, handler: Any = handler) -> None:
            current.interrupted.set()
            current.method_over.set()
            _hold_signals()
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

        signal.signal(sig, chained)


# Global state, in one labelled place: the halt switch's watcher of the run in progress
# (one run per process at a time), stopped when the restore begins and at cleanup.
_halt_watcher: halt.Watcher | None = None


def _watch_halt(current: run.RunContext) -> None:
    """From now on, `chaos halt` aborts this run within a second (it then restores)."""
    global _halt_watcher  # noqa: PLW0603 - the labelled watcher above
    _stop_halt_watcher()
    if threading.current_thread() is not threading.main_thread():
        return  # no chained handler: the SIGTERM of an abort would skip the restore

    def halted(engaged: halt.Halt) -> None:
        logger.error(f"This run is aborted: {engaged.describe()}.")
        current.abort("chaos halt", f"halted by {engaged.who}: {engaged.reason}")

    _halt_watcher = halt.watch(halted)


def _stop_halt_watcher() -> None:
    global _halt_watcher
    watcher, _halt_watcher = _halt_watcher, None
    if watcher is not None:
        watcher.stop()


def before_activity_control(context: dict[str, Any], **kwargs: Any) -> None:
    """After a Ctrl-C or SIGTERM no activity starts; an activity's pause-after is ours.

    chaoslib sleeps an activity's ``pauses.after`` in a ``finally``: even when the activity
    was interrupted, a Ctrl-C during a fault with ``after: 60`` waited the whole minute before
    the restore. This control takes the pause out of the activity before chaoslib reads it
    and waits it out in :func:`after_activity_control`, where an interruption cuts it short.
    An activity that swallowed the interruption (chaoslib turns any exception of an activity
    of another extension into a failure) does not let the method go on either.
    """
    from chaoslib.exceptions import InterruptExecution

    current = run.current()
    if current is None:
        return
    if current.interrupted.is_set() and not current.rolling_back:
        raise InterruptExecution("The run was interrupted (SIGINT/SIGTERM); no activity starts.")
    pauses = context.get("pauses")
    if isinstance(pauses, dict) and "after" in pauses:
        current.held_pauses[id(context)] = pauses.pop("after")


def before_rollback_control(context: Any, **kwargs: Any) -> None:
    """The rollbacks run whatever happened before them."""
    current = run.current()
    if current is not None:
        current.rolling_back = True


def after_activity_control(
    context: dict[str, Any],
    state: Any = None,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Wait out the activity's pause-after (cut short by an interruption); once the method's
    last foreground activity has ended, tell the background probes."""
    current = run.current()
    if current is None:
        return
    _pause_after(current, context, configuration, secrets)
    if context.get("name") == current.last_foreground and not context.get("background"):
        current.method_over.set()


def _pause_after(
    current: run.RunContext,
    context: dict[str, Any],
    configuration: dict[str, Any] | None,
    secrets: dict[str, Any] | None,
) -> None:
    held = current.held_pauses.pop(id(context), None)
    if held is None:
        return
    pauses = context.get("pauses")
    if isinstance(pauses, dict):
        pauses["after"] = held  # the journal shows the activity as declared
    from chaoslib import substitute

    try:
        seconds = float(substitute(held, configuration or {}, secrets or {}))
    except (TypeError, ValueError):
        logger.warning(f"The pause after {context.get('name')!r} is not a number: {held!r}.")
        return
    if seconds > 0 and not current.interrupted.is_set():
        logger.info(f"Pausing after activity for {seconds:g}s (a Ctrl-C ends the pause)...")
        current.interrupted.wait(seconds)


def after_method_control(context: dict[str, Any], state: Any = None, **kwargs: Any) -> None:
    """The method is over (also when its last activity was not reached)."""
    current = run.current()
    if current is not None:
        current.method_over.set()


def after_experiment_control(
    context: dict[str, Any],
    state: dict[str, Any],
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Restore every fault of this run that is still open; write our journal section."""
    current = run.current()
    _stop_halt_watcher()  # the restore begins: a halt now has nothing left to stop
    if current is None or current.target is None:
        return
    _hold_signals()
    try:
        section = _restore_and_record(current, current.target)
    except Exception as error:
        logger.exception("The safety control failed while restoring")
        current.record(ProblemKind.INTERNAL, _CONTROL, f"{type(error).__name__}: {error}")
        section = _section(current, current.target, Ledger(), [], [], restore_complete=False)
    if isinstance(state, dict):
        _judge_status(state, section)
        state[SECTION] = section
        _log_verdict(state)


def _log_verdict(journal: dict[str, Any]) -> None:
    """End the run's log with its verdict, so nobody has to open journal.json."""
    from chaos_runner.verdict import judge

    try:
        verdict = judge(journal)
    except Exception:  # the verdict must never cost a run its restore or its journal
        logger.exception("The verdict of this run could not be formed")
        return
    log = logger.info if verdict.exit_code == 0 else logger.error
    for line in verdict.summary().splitlines():
        log(line)


def _restore_and_record(current: run.RunContext, target: Target) -> JournalSection:
    ledger = Ledger()
    entries, _ = ledger.salvage()  # the run's own entries, even if a line went bad meanwhile
    mine = [e for e in entries if e.run_id == current.run_id]
    reports = restore_entries(ledger, [e for e in mine if e.state in ("open", "conflict")])
    for report in reports:
        log = logger.info if report.ok and report.recorded else logger.error
        log(f"Restore: {report.entry.description}: {report.detail} ({report.seconds:.2f} s)")
    failed = [r for r in reports if not r.ok]
    if failed:
        logger.error(
            f"{len(failed)} fault(s) could not be restored; the site may still be degraded. "
            "Run `chaos rollback` once the cause is fixed."
        )
    entries, _ = ledger.salvage()
    mine = [e for e in entries if e.run_id == current.run_id]
    if mine and not failed:
        logger.info(f"All {len(mine)} fault(s) of this run are restored (or irreversible).")
    complete = not failed and all(e.state in ("restored", "irreversible") for e in mine)
    return _section(current, target, ledger, mine, reports, restore_complete=complete)


def _section(
    current: run.RunContext,
    target: Target,
    ledger: Ledger,
    entries: list[LedgerEntry],
    reports: list[RestoreReport],
    restore_complete: bool,
) -> JournalSection:
    return JournalSection(
        version=2,
        target=target.label,
        target_kind="sandbox" if target.is_sandbox else "aws",
        site_url=target.site_url,
        run_id=current.run_id,
        ledger=str(ledger.path),
        faults=[
            FaultRecord(
                entry=e.id,
                kind=e.kind,
                fault=e.description,
                state=str(e.state),
                detail=e.detail,
                injected_at=e.created_at,
                closed_at=e.closed_at,
            )
            for e in entries
        ],
        restored_at_end=[
            RestoreRecord(
                entry=r.entry.id,
                fault=r.entry.description,
                state=str(r.state),
                detail=r.detail,
                seconds=round(r.seconds, 3),
            )
            for r in reports
        ],
        restore_complete=restore_complete,
        problems=list(current.problems),
    )


def _judge_status(journal: dict[str, Any], section: JournalSection) -> None:
    """Mark a journal ``failed`` when the run must not pass, so that `chaos run` exits 1.

    Chaos Toolkit leaves ``completed`` (exit 0) when the steady state fails before the
    method, when an action fails, and when a restore is incomplete.
    """
    reasons = []
    if not section["restore_complete"]:
        reasons.append("a fault could not be restored")
    before = (journal.get("steady_states") or {}).get("before")
    if isinstance(before, dict) and before.get("steady_state_met") is False:
        reasons.append("the steady state failed before the method")
    failed = [
        str(item.get("activity", {}).get("name", "?"))
        for item in journal.get("run") or []
        if isinstance(item, dict) and item.get("status") == "failed"
    ]
    if failed:
        reasons.append(f"activities failed: {', '.join(failed)}")
    if section["problems"] and not failed:
        reasons.append(section["problems"][0]["message"])
    if reasons and journal.get("status") == "completed":
        journal["status"] = "failed"
        section["status_changed"] = "; ".join(reasons)
        logger.error(f"The run does not pass: {section['status_changed']}.")


def _hold_signals() -> None:
    """From the restore on, SIGINT/SIGTERM only say that the run is finishing."""
    if threading.current_thread() is not threading.main_thread():
        return

    def hold(signum: int, frame: FrameType | None) -> None:
        logger.warning("Restoring the site and writing the journal: the run ends by itself.")

    for sig in (signal.SIGINT, signal.SIGTERM):
        _previous_handlers.setdefault(sig, signal.getsignal(sig))
        signal.signal(sig, hold)


def cleanup_control() -> None:
    """End the run: release the target's lock and undo the run's environment.

    The signal handlers are put back, except in the ``chaos`` command itself, which writes
    the journal after the controls and then exits: there a late Ctrl-C must not lose it.
    """
    if threading.current_thread() is threading.main_thread() and not _is_chaos_command():
        for sig, handler in _previous_handlers.items():
            signal.signal(sig, handler)
    _previous_handlers.clear()
    _stop_halt_watcher()
    run.finish()


def _is_chaos_command() -> bool:
    """True in the `chaos` command (its script, or ``python -m chaostoolkit``)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and str(spec.name).startswith("chaostoolkit"):
        return True
    return bool(sys.argv) and os.path.basename(sys.argv[0]) == "chaos"
