"""``chaos rollback``: restore every fault left open in the ledger (after a killed run)."""

from typing import Annotated

import typer

import chaos_runner.faults  # noqa: F401  (registers every fault's restorer)
from chaos_runner._errors import LedgerError
from chaos_runner.cli._output import ExitCode, fail
from chaos_runner.ledger import Damage, Ledger, LedgerEntry, TargetLock, restore_entries
from chaos_runner.target import canonical_key

__all__ = ["app"]

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def rollback(
    target: Annotated[
        str | None, typer.Option(help="Only the entries of this target key (see --list).")
    ] = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="List the unrestored entries; restore nothing.")
    ] = False,
) -> None:
    """Restore, newest first, every fault the ledger holds as not restored.

    Reads every entry that can still be read, even from a damaged ledger; leaves alone the
    targets a live run holds (that run restores its own faults). Exits 0 when nothing is
    left to restore, 4 when something could not be restored or a damaged line remains.
    """
    ledger = Ledger()
    try:
        entries, damage = ledger.salvage()
    except LedgerError as error:
        fail(str(error), ExitCode.RESTORE_INCOMPLETE)
    pending = [
        e
        for e in entries
        if e.state in ("open", "conflict")
        and (target is None or canonical_key(e.target["key"]) == canonical_key(target))
    ]
    for item in damage:
        typer.secho(f"  damaged line {item.line}: {item.problem}", err=True, fg="yellow")
    if not pending:
        typer.echo(f"Nothing to restore: the ledger {ledger.path} has no open fault.")
        if not list_only:
            _fail_on_damage(ledger, damage)
        return
    typer.echo(f"{len(pending)} unrestored fault(s) in {ledger.path}:")
    for entry in pending:
        typer.echo(
            f"  {entry.id}  {entry.description}  [{entry.state}]  on {entry.target['label']}"
        )
        typer.echo(f"      target key: {entry.target['key']}")
    if list_only:
        return
    failed, held = _restore_by_target(ledger, pending)
    if failed:
        fail(
            f"{failed} fault(s) could not be restored; the site may still be degraded. "
            "Fix the cause shown above and run `chaos rollback` again.",
            ExitCode.RESTORE_INCOMPLETE,
        )
    if held:
        fail(
            f"{held} fault(s) belong to a run in progress and were left to it; it restores "
            "them when it ends. Run `chaos rollback` again after it, if it was killed.",
            ExitCode.RESTORE_INCOMPLETE,
        )
    _fail_on_damage(ledger, damage)
    typer.echo("Every fault is restored.")


def _restore_by_target(ledger: Ledger, pending: list[LedgerEntry]) -> tuple[int, int]:
    """Restore each target's entries under its lock: (entries not restored, entries held)."""
    by_target: dict[str, list[LedgerEntry]] = {}
    for entry in pending:
        by_target.setdefault(canonical_key(entry.target["key"]), []).append(entry)
    failed = held = 0
    for key, entries in by_target.items():
        lock = TargetLock(key)
        if not lock.acquire():
            typer.secho(
                f"  left alone: {len(entries)} fault(s) on {entries[0].target['label']}: a run "
                f"holds that target ({lock.holder() or 'unknown'}).",
                err=True,
                fg="yellow",
            )
            held += len(entries)
            continue
        try:
            reports = restore_entries(ledger, entries)
        finally:
            lock.release()
        for report in reports:
            mark = "restored" if report.ok else str(report.state).upper()
            typer.echo(f"  {report.entry.id}  {mark}: {report.detail} ({report.seconds:.2f} s)")
        failed += sum(not r.ok for r in reports)
    return failed, held


def _fail_on_damage(ledger: Ledger, damage: list[Damage]) -> None:
    if damage:
        fail(
            f"The ledger {ledger.path} has {len(damage)} damaged line(s) (listed above); every "
            "entry that could be read was handled. Keep a copy of the file; a damaged `open` "
            "line holds the undo record of a fault: restore that fault by hand from it, then "
            "remove the line.",
            ExitCode.RESTORE_INCOMPLETE,
        )
