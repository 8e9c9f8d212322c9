"""Actions on the ledger itself: restore what this run (or anyone) injected on the target."""

import os
from typing import Any

from chaos_runner._errors import RestoreConflict
from chaos_runner.activity import activity
from chaos_runner.ledger import Ledger, restore_entries
from chaos_runner.target import Target

__all__ = ["restore_injected_faults"]


@activity
def restore_injected_faults(
    scope: str = "run",
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Restore the faults injected on the target and not yet restored, newest first.

    ``scope`` is ``run`` (only this run's faults, the default) or ``target`` (every open
    fault on the target). Fails (with every outcome in the message) when any fault could
    not be restored.
    """
    if scope not in ("run", "target"):
        from chaos_runner._errors import ConfigurationError

        raise ConfigurationError(f"scope must be 'run' or 'target'; got {scope!r}.")
    target = Target.resolve(configuration)
    ledger = Ledger()
    run_id = os.environ.get("CHAOS_RUN_ID") if scope == "run" else None
    reports = restore_entries(ledger, ledger.unrestored(target.key, run_id))
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
