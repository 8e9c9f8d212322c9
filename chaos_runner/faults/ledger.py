"""Actions on the ledger itself: restore what this run (or anyone) injected on the target."""

from typing import Any

from chaos_runner._errors import ConfigurationError, RestoreConflict
from chaos_runner.activity import activity
from chaos_runner.iam import declares
from chaos_runner.ledger import Ledger, registered_kinds, restore_entries
from chaos_runner.run import current_run_id
from chaos_runner.target import Target

__all__ = ["restore_injected_faults"]


@declares("RestoreInjectedFaults", restores_faults=True)
@activity
def restore_injected_faults(
    scope: str = "run",
    fault: str = "",
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Restore the faults injected on the target and not yet restored, newest first.

    ``scope`` is ``run`` (only this run's faults, the default) or ``target`` (every open
    fault on the target). ``fault`` limits it to one kind of fault (``bucket_policy``,
    ``objects``, ``distribution_config``, ``origin_link``, ``edge_certificate``), e.g. to
    fix the origin first and watch what lingers. Fails (with every outcome in the message)
    when any fault could not be restored.
    """
    if scope not in ("run", "target"):
        raise ConfigurationError(f"scope must be 'run' or 'target'; got {scope!r}.")
    if fault and fault not in registered_kinds():
        raise ConfigurationError(
            f"fault must be one of {', '.join(sorted(registered_kinds()))} (or empty); "
            f"got {fault!r}."
        )
    target = Target.resolve(configuration)
    ledger = Ledger()
    run_id = (current_run_id() or "manual") if scope == "run" else None
    pending = [e for e in ledger.unrestored(target.key, run_id) if not fault or e.kind == fault]
    reports = restore_entries(ledger, pending)
    outcomes = [
        {
            "entry": r.entry.id,
            "fault": r.entry.description,
            "state": str(r.state),
            "detail": r.detail,
            "seconds": round(r.seconds, 3),
        }
        for r in reports
    ]
    failed = [r for r in reports if not r.ok]
    if failed:
        raise RestoreConflict(
            "Some faults could not be restored: "
            + "; ".join(f"{r.entry.description}: {r.detail}" for r in failed)
            + ". Run `chaos rollback` once the cause is fixed."
        )
    return {"restored": outcomes, "count": len(outcomes)}
