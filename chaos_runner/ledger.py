"""The ledger: a crash-safe record of every fault injected, and the engine that undoes them.

The ledger is an append-only JSON-lines file (``CHAOS_LEDGER``, default
``.chaos/ledger.jsonl``). A fault appends an ``open`` event carrying its undo record and
fsyncs it **before** its first mutation; a verified restore appends ``restored``. The state
of an entry is the fold of its events, so a crash between two writes never loses an entry:
at worst an entry stays open and ``chaos rollback`` restores it (restores are idempotent).

Restorers are looked up by the entry's ``kind`` in :data:`RESTORERS` (``module:function``,
imported on use so that reading the ledger needs no AWS libraries). A restorer returns a
:class:`RestoreOutcome`; it raises :class:`~chaos_runner.RestoreConflict` when the resource
was changed by someone else since the fault.
"""

import contextlib
import fcntl
import hashlib
import importlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, TypedDict

from chaos_runner._errors import ChaosRunnerError, LedgerError, RestoreConflict

__all__ = [
    "RESTORERS",
    "EntryState",
    "Ledger",
    "LedgerEntry",
    "RestoreOutcome",
    "RestoreReport",
    "TargetLock",
    "TargetRef",
    "default_ledger_path",
    "restore_entries",
]


def default_ledger_path() -> Path:
    """``CHAOS_LEDGER``, else ``.chaos/ledger.jsonl`` under ``CHAOS_STATE_DIR`` or the cwd."""
    explicit = os.environ.get("CHAOS_LEDGER")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("CHAOS_STATE_DIR") or ".chaos") / "ledger.jsonl"


class EntryState(StrEnum):
    """Where an injected fault stands."""

    OPEN = "open"  # injected (or about to be); not yet restored
    RESTORED = "restored"  # restored and verified, or found already as it was
    CONFLICT = "conflict"  # someone changed the resource since; left alone
    IRREVERSIBLE = "irreversible"  # cannot be undone by nature (a cache purge)


class TargetRef(TypedDict):
    """How a restorer reaches the target, recorded so `chaos rollback` needs no environment."""

    key: str
    label: str
    endpoint_url: str | None
    region: str


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One injected fault: what was changed, how to undo it, and where it stands."""

    id: str
    kind: str
    run_id: str
    target: TargetRef
    undo: dict[str, Any]
    description: str
    created_at: float
    state: EntryState = EntryState.OPEN
    detail: str = ""
    events: tuple[str, ...] = field(default=())
    #: When the entry got its current state other than open (restored, conflict, ...).
    closed_at: float | None = None


@dataclass(frozen=True, slots=True)
class RestoreOutcome:
    """What a restorer did."""

    state: EntryState
    detail: str


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What one restore pass did to one entry."""

    entry: LedgerEntry
    state: EntryState
    detail: str
    seconds: float

    @property
    def ok(self) -> bool:
        """True when the site no longer carries this fault (or it was never undoable)."""
        return self.state in (EntryState.RESTORED, EntryState.IRREVERSIBLE)


#: kind -> "module:function" of its restorer, imported on use.
RESTORERS: dict[str, str] = {
    "bucket_policy": "chaos_runner.faults.s3:restore_bucket_policy",
    "objects": "chaos_runner.faults.objects:restore_objects",
    "distribution_config": "chaos_runner.faults.cloudfront:restore_distribution_config",
    "invalidation": "chaos_runner.faults.cloudfront:record_irreversible",
    "origin_link": "chaos_runner.faults.origin_link:restore_origin_link",
}


class Ledger:
    """The ledger file. Every write is appended under a lock and fsynced before returning."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_ledger_path()

    def open(
        self,
        kind: str,
        target: TargetRef,
        undo: dict[str, Any],
        description: str,
        run_id: str | None = None,
    ) -> LedgerEntry:
        """Record a fault about to be injected; durable when this returns."""
        if kind not in RESTORERS:
            raise LedgerError(f"No restorer is registered for fault kind {kind!r}.")
        entry = LedgerEntry(
            id=uuid.uuid4().hex[:12],
            kind=kind,
            run_id=run_id or os.environ.get("CHAOS_RUN_ID", "") or "manual",
            target=target,
            undo=undo,
            description=description,
            created_at=time.time(),
        )
        self._append(
            {
                "event": "open",
                "id": entry.id,
                "kind": entry.kind,
                "run_id": entry.run_id,
                "target": dict(entry.target),
                "undo": entry.undo,
                "description": entry.description,
                "at": entry.created_at,
            }
        )
        return entry

    def mark(self, entry_id: str, state: EntryState, detail: str = "") -> None:
        """Record a new state for an entry (durable when this returns)."""
        self._append({"event": str(state), "id": entry_id, "detail": detail, "at": time.time()})

    def entries(self) -> list[LedgerEntry]:
        """Every entry, in the order faults were injected, with its current state."""
        entries: dict[str, LedgerEntry] = {}
        for record in self._records():
            entry_id = str(record.get("id", ""))
            if record.get("event") == "open":
                entries[entry_id] = LedgerEntry(
                    id=entry_id,
                    kind=str(record["kind"]),
                    run_id=str(record.get("run_id", "")),
                    target=record["target"],
                    undo=dict(record["undo"]),
                    description=str(record.get("description", "")),
                    created_at=float(record.get("at", 0.0)),
                    events=("open",),
                )
            elif entry_id in entries:
                old = entries[entry_id]
                entries[entry_id] = LedgerEntry(
                    id=old.id,
                    kind=old.kind,
                    run_id=old.run_id,
                    target=old.target,
                    undo=old.undo,
                    description=old.description,
                    created_at=old.created_at,
                    state=EntryState(record["event"]),
                    detail=str(record.get("detail", "")),
                    events=(*old.events, str(record["event"])),
                    closed_at=float(record.get("at", 0.0)),
                )
        return list(entries.values())

    def unrestored(
        self, target_key: str | None = None, run_id: str | None = None
    ) -> list[LedgerEntry]:
        """Open or conflicting entries (optionally of one target or one run), oldest first."""
        return [
            entry
            for entry in self.entries()
            if entry.state in (EntryState.OPEN, EntryState.CONFLICT)
            and (target_key is None or entry.target["key"] == target_key)
            and (run_id is None or entry.run_id == run_id)
        ]

    def _records(self) -> Iterator[dict[str, Any]]:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return
        except OSError as error:
            raise LedgerError(f"The ledger {self.path} cannot be read: {error}.") from error
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                if number == len(lines):
                    continue  # a write cut short by a crash: its fault never started
                raise LedgerError(
                    f"Line {number} of the ledger {self.path} is not JSON ({error}). "
                    "Fix or remove that line by hand; the other entries are intact."
                ) from error
            if isinstance(record, dict):
                yield record

    def _append(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, sort_keys=True) + "\n").encode()
        try:
            created = not self.path.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_directory(self.path.parent)
        except OSError as error:
            raise LedgerError(
                f"The ledger {self.path} cannot be written durably ({error}); no fault was "
                "injected. Check the disk and the permissions of that directory."
            ) from error


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _restorer(kind: str) -> Callable[[LedgerEntry], RestoreOutcome]:
    module_name, _, function = RESTORERS[kind].partition(":")
    restorer: Callable[[LedgerEntry], RestoreOutcome] = getattr(
        importlib.import_module(module_name), function
    )
    return restorer


def restore_entries(ledger: Ledger, entries: list[LedgerEntry]) -> list[RestoreReport]:
    """Restore ``entries`` newest first (faults stack); record each outcome in the ledger.

    Never raises for one entry's failure: every entry gets its chance, and each report says
    what happened. A conflict is recorded and left for a person to resolve.
    """
    reports: list[RestoreReport] = []
    for entry in sorted(entries, key=lambda e: e.created_at, reverse=True):
        began = time.monotonic()
        try:
            outcome = _restorer(entry.kind)(entry)
        except RestoreConflict as conflict:
            outcome = RestoreOutcome(EntryState.CONFLICT, str(conflict))
        except ChaosRunnerError as error:
            outcome = RestoreOutcome(EntryState.OPEN, f"restore failed: {error}")
        except Exception as error:
            outcome = RestoreOutcome(
                EntryState.OPEN, f"restore failed: {type(error).__name__}: {error}"
            )
        if outcome.state != EntryState.OPEN:
            ledger.mark(entry.id, outcome.state, outcome.detail)
        reports.append(
            RestoreReport(entry, outcome.state, outcome.detail, time.monotonic() - began)
        )
    return reports


class TargetLock:
    """An exclusive lock per target, held by one run; the kernel releases it if the run dies."""

    def __init__(self, target_key: str, directory: Path | None = None) -> None:
        digest = hashlib.sha256(target_key.encode()).hexdigest()[:16]
        base = directory or default_ledger_path().parent / "locks"
        self.path = base / f"{digest}.lock"
        self.target_key = target_key
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another live run holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {self.target_key}\n")
        handle.flush()
        self._handle = handle
        return True

    def holder(self) -> str:
        """Who holds the lock, as written by the holder (pid and target)."""
        with contextlib.suppress(OSError):
            return self.path.read_text().strip()
        return ""

    def release(self) -> None:
        """Release the lock (the file stays; it is only a name to lock)."""
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
