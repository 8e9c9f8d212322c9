"""``chaos rollback``: restore every fault left open in the ledger (after a killed run)."""

from typing import Annotated

import typer

from chaos_runner._errors import LedgerError
from chaos_runner.cli._output import ExitCode, fail
from chaos_runner.ledger import Ledger, restore_entries

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

    Exits 0 when nothing is left to restore, 4 when something could not be restored.
    """
    ledger = Ledger()
    try:
        pending = ledger.unrestored(target)
    except LedgerError as error:
        fail(str(error), ExitCode.RESTORE_INCOMPLETE)
    if not pending:
        typer.echo(f"Nothing to restore: the ledger {ledger.path} has no open fault.")
        return
    typer.echo(f"{len(pending)} unrestored fault(s) in {ledger.path}:")
    for entry in pending:
        typer.echo(
            f"  {entry.id}  {entry.description}  [{entry.state}]  on {entry.target['label']}"
        )
        typer.echo(f"      target key: {entry.target['key']}")
    if list_only:
        return
    reports = restore_entries(ledger, pending)
    for report in reports:
        mark = "restored" if report.ok else str(report.state).upper()
        typer.echo(f"  {report.entry.id}  {mark}: {report.detail} ({report.seconds:.2f} s)")
    failed = [r for r in reports if not r.ok]
    if failed:
        fail(
            f"{len(failed)} fault(s) could not be restored; the site may still be degraded. "
            "Fix the cause shown above and run `chaos rollback` again.",
            ExitCode.RESTORE_INCOMPLETE,
        )
    typer.echo("Every fault is restored.")
