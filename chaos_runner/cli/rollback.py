"""``chaos rollback``: restore every fault left open in the ledger (after a killed run).

Three closings of an entry, each recorded in the ledger as a state of its own:

- restored (or conflict, left for a person): the fault's restorer ran on the target;
- ``vanished``: the entry's target is a sandbox (its AWS endpoint is on loopback) that is
  gone: nothing listens on its endpoint any more, or a sandbox answers there that does not
  have the entry's distribution (its bucket, when the entry names no distribution). Its
  faults died with it, so there is nothing to restore. Never for any other target: a real
  distribution that does not answer is a network problem, not a reason to forget a fault;
- ``forgotten``: ``--forget ENTRY`` closes one entry by hand, restoring nothing.
"""

import getpass
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

import chaos_runner.faults  # noqa: F401  (registers every fault's restorer)
from chaos_runner._errors import LedgerError
from chaos_runner.cli._output import ExitCode, fail
from chaos_runner.ledger import (
    Damage,
    EntryState,
    Ledger,
    LedgerEntry,
    TargetLock,
    restore_entries,
)
from chaos_runner.target import canonical_key, is_loopback_url

__all__ = ["app"]

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

#: How long a probe of a sandbox's endpoint waits (loopback answers at once or never).
_PROBE_TIMEOUT_S = 3.0


@app.command()
def rollback(
    target: Annotated[
        str | None, typer.Option(help="Only the entries of this target key (see --list).")
    ] = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="List the unrestored entries; restore nothing.")
    ] = False,
    forget: Annotated[
        str | None,
        typer.Option(
            metavar="ENTRY",
            help="Close this one entry by hand, restoring nothing (asks first; see --yes).",
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Forget without asking (for scripts).")
    ] = False,
    reason: Annotated[
        str | None, typer.Option(help="Why the entry is forgotten (recorded in the ledger).")
    ] = None,
) -> None:
    """Restore, newest first, every fault the ledger holds as not restored.

    Reads every entry that can still be read, even from a damaged ledger; leaves alone the
    targets a live run holds (that run restores its own faults). An entry of a sandbox that
    is gone (nothing listens on its loopback endpoint, or another sandbox answers there) is
    closed as vanished: its faults went with it. Exits 0 when nothing is left to restore, 4
    when something could not be restored or a damaged line remains.

    --forget ENTRY closes one entry (for a fault fixed by hand, or a target that no longer
    exists) after a confirmation; without a terminal it needs --yes (exit 2 otherwise).
    Declining exits 1; nothing is changed.
    """
    ledger = Ledger()
    if forget is not None:
        if list_only or target is not None:
            fail("--forget closes one entry: it takes neither --list nor --target.", ExitCode.USAGE)
        _forget(ledger, forget.strip(), yes, (reason or "").strip())
        return
    if reason is not None:
        fail("--reason goes with --forget ENTRY.", ExitCode.USAGE)
    _restore_pending(ledger, target, list_only)


def _restore_pending(ledger: Ledger, target: str | None, list_only: bool) -> None:
    """List (and unless ``list_only``, restore) the unrestored entries; exit by the contract."""
    if _no_file(ledger.path):
        typer.echo(_no_ledger_sentence(ledger.path))
        return
    try:
        entries, damage = ledger.salvage()
    except LedgerError as error:
        fail(str(error), ExitCode.RESTORE_INCOMPLETE)
    pending = [
        e
        for e in entries
        if e.state.unrestored
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
    tally = _restore_by_target(ledger, pending)
    if tally.failed:
        fail(
            f"{tally.failed} fault(s) could not be restored; the site may still be degraded. "
            "Fix the cause shown above and run `chaos rollback` again (once a fault is fixed "
            "by hand, or its target no longer exists, `chaos rollback --forget ENTRY` closes "
            "its entry).",
            ExitCode.RESTORE_INCOMPLETE,
        )
    if tally.held:
        fail(
            f"{tally.held} fault(s) belong to a run in progress and were left to it; it "
            "restores them when it ends. Run `chaos rollback` again after it, if it was killed.",
            ExitCode.RESTORE_INCOMPLETE,
        )
    _fail_on_damage(ledger, damage)
    if tally.vanished:
        typer.echo(
            f"Nothing is left to restore: {tally.vanished} fault(s) went with their sandbox, "
            f"{tally.restored} restored."
        )
    else:
        typer.echo("Every fault is restored.")


@dataclass
class _Tally:
    restored: int = 0
    vanished: int = 0
    failed: int = 0
    held: int = 0


def _restore_by_target(ledger: Ledger, pending: list[LedgerEntry]) -> _Tally:
    """Restore each target's entries under its lock (closing those of a gone sandbox)."""
    by_target: dict[str, list[LedgerEntry]] = {}
    for entry in pending:
        by_target.setdefault(canonical_key(entry.target["key"]), []).append(entry)
    tally = _Tally()
    sandboxes = _SandboxCheck()
    for key, entries in by_target.items():
        lock = TargetLock(key)
        if not lock.acquire():
            typer.secho(
                f"  left alone: {len(entries)} fault(s) on {entries[0].target['label']}: a run "
                f"holds that target ({lock.holder() or 'unknown'}).",
                err=True,
                fg="yellow",
            )
            tally.held += len(entries)
            continue
        try:
            present = _close_vanished(ledger, entries, sandboxes, tally)
            reports = restore_entries(ledger, present)
        finally:
            lock.release()
        for report in reports:
            mark = "restored" if report.ok else str(report.state).upper()
            typer.echo(f"  {report.entry.id}  {mark}: {report.detail} ({report.seconds:.2f} s)")
        tally.restored += sum(r.ok for r in reports)
        tally.failed += sum(not r.ok for r in reports)
    return tally


def _close_vanished(
    ledger: Ledger, entries: list[LedgerEntry], sandboxes: "_SandboxCheck", tally: _Tally
) -> list[LedgerEntry]:
    """Record as vanished the entries whose sandbox is gone; the others, to restore."""
    present = []
    for entry in entries:
        why = sandboxes.gone(entry)
        if not why:
            present.append(entry)
            continue
        detail = (
            f"the sandbox at {entry.target['endpoint_url']} is gone; its faults went with it "
            f"({why})"
        )
        try:
            ledger.mark(entry.id, EntryState.VANISHED, detail, reason=why)
        except LedgerError as error:
            typer.echo(f"  {entry.id}  OPEN: {detail}, but the ledger could not record it: {error}")
            tally.failed += 1
            continue
        typer.echo(f"  {entry.id}  vanished: {detail}")
        tally.vanished += 1
    return present


@dataclass
class _SandboxCheck:
    """Whether the sandbox an entry's fault went into is gone; each endpoint and resource is
    asked once per rollback."""

    _listening: dict[str, bool] = field(default_factory=dict)
    _missing: dict[tuple[str, str], bool] = field(default_factory=dict)
    _buckets: dict[str, dict[str, float] | None] = field(default_factory=dict)

    def gone(self, entry: LedgerEntry) -> str:
        """Why the entry's sandbox is gone, or "" when it is there, when that cannot be
        told for sure, or when the target is not a sandbox (never on loopback)."""
        endpoint = entry.target["endpoint_url"]
        if not endpoint or not is_loopback_url(endpoint):
            return ""  # a real target that does not answer is a network problem
        if endpoint not in self._listening:
            self._listening[endpoint] = _listening(endpoint)
        if not self._listening[endpoint]:
            return "nothing listens there any more"
        region = entry.target["region"]
        distribution, bucket = _named_resources(entry)
        if distribution:
            if (endpoint, distribution) not in self._missing:
                self._missing[endpoint, distribution] = _no_such_distribution(
                    endpoint, region, distribution
                )
            if self._missing[endpoint, distribution]:
                return f"the sandbox answering there now has no distribution {distribution}"
        return self._bucket_gone(entry, bucket, has_distribution=bool(distribution))

    def _bucket_gone(self, entry: LedgerEntry, bucket: str, has_distribution: bool) -> str:
        """Why the bucket shows the sandbox is not the entry's ("" when it does not)."""
        endpoint = str(entry.target["endpoint_url"])
        if bucket and endpoint not in self._buckets:
            self._buckets[endpoint] = _bucket_creation_times(endpoint, entry.target["region"])
        buckets = self._buckets.get(endpoint) if bucket else None
        if buckets is None:
            return ""
        if bucket not in buckets:
            # With its distribution still there, the sandbox is the same: a bucket deleted
            # by hand is for the restore to report.
            return (
                ""
                if has_distribution
                else f"the sandbox answering there now has no bucket {bucket}"
            )
        if buckets[bucket] > entry.created_at:
            return (
                f"the sandbox answering there now was started since: its bucket {bucket} was "
                f"created on {_when(buckets[bucket])}, after the fault"
            )
        return ""


def _listening(endpoint: str) -> bool:
    """False only when the endpoint's port is refused (nothing listens); True when something
    accepts, or when it cannot be told (a timeout is not proof of absence)."""
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return True
    try:
        with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S):
            return True
    except ConnectionRefusedError:
        return False
    except OSError:
        return True


def _named_resources(entry: LedgerEntry) -> tuple[str, str]:
    """The distribution and bucket the entry names (its target key, else its undo record).

    A sandbox started afresh is told apart by its distribution when its id is drawn at
    random, else by the creation time of its bucket (the bucket names are the same in every
    sandbox, and a sandbox may give its distribution the same id at every start).
    """
    distribution = bucket = ""
    key = canonical_key(entry.target["key"])
    if key.count("|") == 2:
        _, distribution, bucket = key.split("|")
    distribution = "" if distribution == "-" else distribution
    bucket = "" if bucket == "-" else bucket
    distribution = distribution or str(entry.undo.get("distribution_id") or "")
    bucket = bucket or str(entry.undo.get("bucket") or "")
    return distribution, bucket


def _probe_session(endpoint: str, region: str, service: str) -> Any:
    """A client that asks once and waits little: a probe, not a restore."""
    from botocore.config import Config

    from chaos_runner.aws import boto3_session

    config = Config(
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=_PROBE_TIMEOUT_S,
        read_timeout=10,
    )
    return boto3_session(region, endpoint).client(service, endpoint_url=endpoint, config=config)


def _no_such_distribution(endpoint: str, region: str, distribution: str) -> bool:
    """True only when the endpoint answers that the distribution does not exist; any other
    answer or error is not proof that the sandbox is gone."""
    from chaos_runner.aws import error_code

    try:
        _probe_session(endpoint, region, "cloudfront").get_distribution(Id=distribution)
    except Exception as error:
        return error_code(error) == "NoSuchDistribution"
    return False


def _bucket_creation_times(endpoint: str, region: str) -> dict[str, float] | None:
    """Bucket name -> creation time (epoch seconds) at the endpoint; None when unknown."""
    try:
        listing = _probe_session(endpoint, region, "s3").list_buckets()
        return {b["Name"]: b["CreationDate"].timestamp() for b in listing.get("Buckets", [])}
    except Exception:
        return None


def _forget(ledger: Ledger, entry_id: str, yes: bool, reason: str) -> None:
    """Close one entry by hand under its target's lock, after a confirmation."""
    if _no_file(ledger.path):
        fail(f"No entry {entry_id}: {_no_ledger_sentence(ledger.path)}", ExitCode.USAGE)
    try:
        entries, damage = ledger.salvage()
    except LedgerError as error:
        fail(str(error), ExitCode.RESTORE_INCOMPLETE)
    entry = next((e for e in entries if e.id == entry_id), None)
    if entry is None:
        unread = f" ({len(damage)} damaged line(s) could not be read)" if damage else ""
        fail(
            f"No entry {entry_id or '(empty)'} in the ledger {ledger.path}{unread}; "
            "`chaos rollback --list` shows the open ones.",
            ExitCode.USAGE,
        )
    if not entry.state.unrestored:
        typer.echo(_already_closed(entry))
        return
    _describe(ledger, entry)
    if not yes:
        if sys.stdin is None or not sys.stdin.isatty():
            fail(
                f"Forgetting entry {entry.id} needs a confirmation and there is no terminal "
                "to ask on: add --yes to forget it from a script.",
                ExitCode.USAGE,
            )
        if not typer.confirm(f"Forget entry {entry.id}?", default=False):
            typer.echo("Nothing was forgotten.")
            raise typer.Exit(1)
    who = _user()
    lock = TargetLock(entry.target["key"])
    if not lock.acquire():
        fail(
            f"Entry {entry.id} was not forgotten: a run holds its target "
            f"({lock.holder() or 'unknown'}) and restores its own faults when it ends. Run "
            "`chaos rollback` after it.",
            ExitCode.RESTORE_INCOMPLETE,
        )
    try:
        current = next((e for e in ledger.salvage()[0] if e.id == entry.id), entry)
        if not current.state.unrestored:  # closed by a run that ended meanwhile
            typer.echo(_already_closed(current))
            return
        detail = f"forgotten by {who}" + (f": {reason}" if reason else "") + "; nothing restored"
        ledger.mark(entry.id, EntryState.FORGOTTEN, detail, by=who, reason=reason)
    except LedgerError as error:
        fail(f"Entry {entry.id} was not forgotten: {error}", ExitCode.RESTORE_INCOMPLETE)
    finally:
        lock.release()
    typer.echo(
        f"Entry {entry.id} forgotten by {who}: the ledger counts it closed and no run is "
        "refused for it any more. Nothing was restored."
    )


def _describe(ledger: Ledger, entry: LedgerEntry) -> None:
    typer.echo(f"Entry {entry.id}: {entry.description}")
    typer.echo(f"  on {entry.target['label']} (target key {entry.target['key']})")
    typer.echo(
        f"  injected {_when(entry.created_at)} by run {entry.run_id}; now {entry.state}"
        + (f": {entry.detail}" if entry.detail else "")
    )
    typer.echo(
        "Forgetting it restores nothing: if this fault is still in place, the site stays as "
        "the fault left it and no `chaos rollback` will undo it. Its undo record stays in "
        f"{ledger.path}."
    )


def _already_closed(entry: LedgerEntry) -> str:
    when = f" on {_when(entry.closed_at)}" if entry.closed_at is not None else ""
    return f"Entry {entry.id} is already closed ({entry.state}{when}): nothing to forget."


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name, no passwd entry (some containers)
        return f"uid {os.getuid()}"


def _no_file(path: Path) -> bool:
    """True when there is no file at ``path`` (an unreadable one is left to the reader)."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _no_ledger_sentence(path: Path) -> str:
    ledger_variable = os.environ.get("CHAOS_LEDGER")
    state_dir = os.environ.get("CHAOS_STATE_DIR")
    return (
        f"Nothing to restore: there is no ledger at {path.absolute()}, so no fault was "
        "recorded there. The ledger is CHAOS_LEDGER "
        f"({'=' + ledger_variable if ledger_variable else 'not set'}), else ledger.jsonl in "
        f"CHAOS_STATE_DIR ({'=' + state_dir if state_dir else 'not set'}), else "
        ".chaos/ledger.jsonl in the current directory: run `chaos rollback` where the run "
        "ran, or with the variables it had."
    )


def _fail_on_damage(ledger: Ledger, damage: list[Damage]) -> None:
    if damage:
        fail(
            f"The ledger {ledger.path} has {len(damage)} damaged line(s) (listed above); every "
            "entry that could be read was handled. Keep a copy of the file; a damaged `open` "
            "line holds the undo record of a fault: restore that fault by hand from it, then "
            "remove the line.",
            ExitCode.RESTORE_INCOMPLETE,
        )
