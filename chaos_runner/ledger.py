"""The ledger: a crash-safe record of every fault injected, and the engine that undoes them.

The ledger is an append-only JSON-lines file (``CHAOS_LEDGER``, default
``.chaos/ledger.jsonl``). A fault appends an ``open`` event carrying its undo record and
fsyncs it **before** its first mutation; a verified restore appends ``restored``. The state
of an entry is the fold of its events, so a crash between two writes never loses an entry:
at worst an entry stays open and ``chaos rollback`` restores it (restores are idempotent).

The states (:class:`EntryState`), each an event of the same name after ``open``:

- ``open``: injected, or about to be; not restored. Blocks every run on its target.
- ``conflict``: a restore found the resource changed by someone else and left it alone.
  Still unrestored: it blocks the target until it is restored or forgotten.
- ``restored``: restored and verified (or found as it was before).
- ``irreversible``: cannot be undone by nature (a cache purge).
- ``vanished``: the sandbox the fault was injected into is gone, and the fault with it
  (``chaos rollback`` found nothing listening on its loopback endpoint, or another sandbox
  answering there: without the entry's distribution, or with its bucket created after the
  fault). Never recorded for a target that is not on loopback. The event's ``detail`` and
  ``reason`` say why.
- ``forgotten``: closed by hand with ``chaos rollback --forget``, which restores nothing.
  The event records ``by`` (the user) and, when given, ``reason``; ``at`` is when.

Only ``open`` and ``conflict`` are unrestored (:attr:`EntryState.unrestored`); every other
state closes the entry, and its ``open`` line, with the undo record, stays in the file. A
ledger written before ``vanished`` and ``forgotten`` existed reads unchanged; a version
older than them reads a line with either event as damaged.

Each fault module registers the restorer of its kind with :func:`restorer` when it is
imported (``import chaos_runner.faults`` imports them all); the ledger knows no fault
module by name, and reading it needs no AWS libraries. A restorer returns a
:class:`RestoreOutcome`; it raises :class:`~chaos_runner.RestoreConflict` when the resource
was changed by someone else since the fault. An entry whose kind has no restorer
registered stays open, with a report that says so.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, TypedDict

from chaos_runner import timeline
from chaos_runner._errors import ChaosRunnerError, LedgerError, RestoreConflict
from chaos_runner.run import current_run_id
from chaos_runner.target import canonical_key

__all__ = [
    "Damage",
    "EntryState",
    "Ledger",
    "LedgerEntry",
    "RestoreOutcome",
    "RestoreReport",
    "TargetLock",
    "TargetRef",
    "default_ledger_path",
    "lock_directory",
    "registered_kinds",
    "restore_entries",
    "restorer",
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
    VANISHED = "vanished"  # its sandbox is gone, and the fault with it; nothing to restore
    FORGOTTEN = "forgotten"  # closed by hand (`chaos rollback --forget`); nothing restored

    @property
    def unrestored(self) -> bool:
        """True for the states that still need a restore (open, conflict); the others close
        the entry."""
        return self in (EntryState.OPEN, EntryState.CONFLICT)


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
    #: Who closed it by hand (``forgotten``); "" otherwise.
    closed_by: str = ""
    #: Why it was closed without a restore (``vanished``, ``forgotten``), when known.
    reason: str = ""


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
    #: False when the ledger could not record the outcome (it still holds the entry open;
    #: a later restore finds the resource as before and records it then).
    recorded: bool = True

    @property
    def ok(self) -> bool:
        """True when the site no longer carries this fault (or it was never undoable, or the
        sandbox it was in is gone)."""
        return self.state in (EntryState.RESTORED, EntryState.IRREVERSIBLE, EntryState.VANISHED)


@dataclass(frozen=True, slots=True)
class Damage:
    """A line of the ledger that cannot be used, and why."""

    line: int
    problem: str


Restorer = Callable[["LedgerEntry"], "RestoreOutcome"]

# Global state, in one labelled place: kind -> its restorer, filled by the fault modules
# as they are imported (see :func:`restorer`).
_RESTORERS: dict[str, Restorer] = {}


def restorer(kind: str) -> Callable[[Restorer], Restorer]:
    """Register the decorated function as the restorer of the faults of ``kind``."""

    def register(function: Restorer) -> Restorer:
        known = _RESTORERS.get(kind)
        if known is not None and _name(known) != _name(function):
            raise LedgerError(f"Two restorers for fault kind {kind!r}: {_name(known)} and "
                              f"{_name(function)}.")  # fmt: skip
        _RESTORERS[kind] = function
        return function

    return register


def _name(function: Restorer) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def registered_kinds() -> frozenset[str]:
    """The fault kinds with a restorer (every kind once ``chaos_runner.faults`` is imported)."""
    return frozenset(_RESTORERS)


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
        if kind not in _RESTORERS:
            raise LedgerError(f"No restorer is registered for fault kind {kind!r}.")
        entry = LedgerEntry(
            id=uuid.uuid4().hex[:12],
            kind=kind,
            run_id=run_id or current_run_id() or "manual",
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
        timeline.record(
            "fault-in",
            f"Fault in: {entry.description}.",
            entry=entry.id,
            fault_kind=entry.kind,
            description=entry.description,
        )
        return entry

    def mark(
        self, entry_id: str, state: EntryState, detail: str = "", *, by: str = "", reason: str = ""
    ) -> None:
        """Record a new state for an entry (durable when this returns).

        ``by`` (who closed it by hand) and ``reason`` (why it was closed without a restore)
        are recorded only when given; readers that do not know them ignore them.
        """
        record: dict[str, Any] = {
            "event": str(state),
            "id": entry_id,
            "detail": detail,
            "at": time.time(),
        }
        if by:
            record["by"] = by
        if reason:
            record["reason"] = reason
        self._append(record)
        if state != EntryState.OPEN:
            said = f": {detail}" if detail else ""
            timeline.record(
                "fault-out", f"Fault {state}{said}", entry=entry_id, state=str(state), detail=detail
            )

    def entries(self) -> list[LedgerEntry]:
        """Every entry, in the order faults were injected, with its current state.

        Strict: a damaged ledger raises :class:`LedgerError` naming the first damaged line
        and how to repair it, so that no run starts on a ledger whose undo records cannot
        all be read. ``chaos rollback`` uses :meth:`salvage` instead.
        """
        entries, damage = self.salvage()
        if damage:
            raise LedgerError(_damage_sentence(self.path, damage))
        return entries

    def salvage(self) -> tuple[list[LedgerEntry], list[Damage]]:
        """Every intact entry, and the damaged lines (never raises for damage).

        Conservative: an entry whose ``open`` line is intact is kept, open, unless an intact
        later line closes it; a line that cannot be read closes nothing. So no undo record
        that can be read is ever dropped.
        """
        entries: dict[str, LedgerEntry] = {}
        opened_at: dict[str, int] = {}
        damage: list[Damage] = []
        for number, record, problem in self._lines():
            if problem:
                damage.append(Damage(number, problem))
                continue
            entry_id = record["id"]
            if record["event"] == "open":
                if entry_id in entries:
                    damage.append(
                        Damage(
                            number,
                            f"it opens entry {entry_id} again (line {opened_at[entry_id]} "
                            "opened it first); both are kept",
                        )
                    )
                    entry_id = f"{entry_id}~{number}"
                opened_at[entry_id] = number
                entries[entry_id] = _opened(entry_id, record)
            elif entry_id not in entries:
                damage.append(
                    Damage(
                        number,
                        f"it marks entry {entry_id} {record['event']}, but no earlier line "
                        "opens it",
                    )
                )
            else:
                entries[entry_id] = _closed(entries[entry_id], record)
        return list(entries.values()), damage

    def unrestored(
        self, target_key: str | None = None, run_id: str | None = None
    ) -> list[LedgerEntry]:
        """Open or conflicting entries (optionally of one target or one run), oldest first."""
        return _unrestored(self.entries(), target_key, run_id)

    def _lines(self) -> Iterator[tuple[int, dict[str, Any], str]]:
        """(line number, record, problem) for every line; a torn last line is skipped."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as error:
            raise LedgerError(f"The ledger {self.path} cannot be read: {error}.") from error
        lines = data.split(b"\n")
        torn = lines.pop()  # b"" when the file ends with a newline
        for number, line in enumerate(lines, start=1):
            if line.strip():
                record, problem = _parse(line)
                yield number, record, problem
        if torn.strip():
            record, problem = _parse(torn)
            if not problem:  # whole but for its newline: keep it, to lose no undo record
                yield len(lines) + 1, record, ""
            # else: a write cut short by a crash; its fault never started (see _append)

    def _append(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, sort_keys=True) + "\n").encode()
        try:
            created = not self.path.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._mend_torn_tail(fd)
                _write_all(fd, data)
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

    def _mend_torn_tail(self, fd: int) -> None:
        """Before an append: end a last line that a crash cut short, so the new line stands
        on its own. A cut-short line that is a whole record only lacks its newline; any
        other is moved to ``<ledger>.torn`` (kept, fsynced) and cut from the ledger: it was
        never durable, so its fault never started.
        """
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        tail_start = _last_line_start(fd, size)
        tail = os.pread(fd, size - tail_start, tail_start)
        _, problem = _parse(tail)
        if not problem:
            _write_all(fd, b"\n")
            return
        torn_path = self.path.with_name(self.path.name + ".torn")
        torn_fd = os.open(torn_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            _write_all(torn_fd, tail + b"\n")
            os.fsync(torn_fd)
        finally:
            os.close(torn_fd)
        os.ftruncate(fd, tail_start)
        os.fsync(fd)


_OPEN_FIELDS: dict[str, type | tuple[type, ...]] = {
    "kind": str,
    "run_id": str,
    "target": dict,
    "undo": dict,
    "description": str,
}
_TARGET_FIELDS: dict[str, type | tuple[type, ...]] = {
    "key": str,
    "label": str,
    "endpoint_url": (str, type(None)),
    "region": str,
}
_EVENTS = {"open", *(str(state) for state in EntryState if state != EntryState.OPEN)}


def _parse(line: bytes) -> tuple[dict[str, Any], str]:
    """The record of one line, or the reason it cannot be used."""
    try:
        record = json.loads(line)
    except ValueError as error:
        return {}, f"it is not JSON ({error})"
    if not isinstance(record, dict):
        return {}, f"it is JSON but not a record ({type(record).__name__})"
    problems = _missing(record, {"event": str, "id": str, "at": (int, float)})
    if not problems and record["event"] not in _EVENTS:
        problems.append(f"its event {record['event']!r} is none of {', '.join(sorted(_EVENTS))}")
    if not problems and not record["id"]:
        problems.append("its id is empty")
    if not problems and record["event"] == "open":
        problems = _missing(record, _OPEN_FIELDS) or _missing(record["target"], _TARGET_FIELDS)
    return record, "; ".join(problems)


def _missing(record: dict[str, Any], fields: dict[str, type | tuple[type, ...]]) -> list[str]:
    problems = []
    for name, kind in fields.items():
        if name not in record:
            problems.append(f"it has no {name!r}")
        elif not isinstance(record[name], kind) or isinstance(record[name], bool):
            problems.append(f"its {name!r} is {type(record[name]).__name__}")
    return problems


def _opened(entry_id: str, record: dict[str, Any]) -> LedgerEntry:
    target = record["target"]
    return LedgerEntry(
        id=entry_id,
        kind=record["kind"],
        run_id=record["run_id"],
        target=TargetRef(
            key=target["key"],
            label=target["label"],
            endpoint_url=target["endpoint_url"],
            region=target["region"],
        ),
        undo=dict(record["undo"]),
        description=record["description"],
        created_at=float(record["at"]),
        events=("open",),
    )


def _closed(old: LedgerEntry, record: dict[str, Any]) -> LedgerEntry:
    return replace(
        old,
        state=EntryState(record["event"]),
        detail=str(record.get("detail", "")),
        events=(*old.events, record["event"]),
        closed_at=float(record["at"]),
        closed_by=str(record.get("by") or ""),
        reason=str(record.get("reason") or ""),
    )


def _unrestored(
    entries: list[LedgerEntry], target_key: str | None, run_id: str | None
) -> list[LedgerEntry]:
    return [
        entry
        for entry in entries
        if entry.state.unrestored
        and (target_key is None or canonical_key(entry.target["key"]) == canonical_key(target_key))
        and (run_id is None or entry.run_id == run_id)
    ]


def _damage_sentence(path: Path, damage: list[Damage]) -> str:
    first = damage[0]
    more = f" ({len(damage) - 1} more damaged line(s) after it)" if len(damage) > 1 else ""
    return (
        f"The ledger {path} is damaged: line {first.line} cannot be used because "
        f"{first.problem}{more}. No run starts on it until it is repaired. "
        "`chaos rollback --list` shows every entry that can still be read and "
        "`chaos rollback` restores them. Keep a copy of the file; if a damaged line is an "
        "`open` record, it holds the undo record of a fault: restore that fault by hand "
        "from it before you delete the line."
    )


def _last_line_start(fd: int, size: int) -> int:
    """The offset just after the last newline before ``size`` (0 when there is none)."""
    position = size
    while position > 0:
        chunk_start = max(0, position - 65536)
        chunk = os.pread(fd, position - chunk_start, chunk_start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return chunk_start + newline + 1
        position = chunk_start
    return 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _restorer(kind: str) -> Restorer:
    try:
        return _RESTORERS[kind]
    except KeyError:
        raise LedgerError(
            f"No restorer is registered for fault kind {kind!r} (this version of "
            "chaostoolkit-cdn does not know it; restore it with the version that injected it)."
        ) from None


def restore_entries(ledger: Ledger, entries: list[LedgerEntry]) -> list[RestoreReport]:
    """Restore ``entries`` newest first (faults stack); record each outcome in the ledger.

    Never raises for one entry's failure, nor for a ledger that cannot record an outcome:
    every entry gets its chance, and each report says what happened. A conflict is
    recorded and left for a person to resolve.
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
        recorded = True
        if outcome.state != EntryState.OPEN:
            try:
                ledger.mark(entry.id, outcome.state, outcome.detail)
            except LedgerError as error:
                recorded = False
                outcome = RestoreOutcome(
                    outcome.state,
                    f"{outcome.detail}; but this could not be recorded in the ledger, which "
                    f"still holds the entry as open ({error})",
                )
        reports.append(
            RestoreReport(entry, outcome.state, outcome.detail, time.monotonic() - began, recorded)
        )
    return reports


def lock_directory() -> Path:
    """Where the per-target locks live: one place per machine (``CHAOS_LOCK_DIR``).

    Not beside the ledger: two runs started from two directories (two ledgers) on the same
    target must still exclude each other.
    """
    explicit = os.environ.get("CHAOS_LOCK_DIR")
    if explicit:
        return Path(explicit)
    return Path(tempfile.gettempdir()) / "chaostoolkit-cdn-locks"


class TargetLock:
    """An exclusive lock per target, held by one run; the kernel releases it if the run dies."""

    def __init__(self, target_key: str, directory: Path | None = None) -> None:
        key = canonical_key(target_key)
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.path = (directory or lock_directory()) / f"{digest}.lock"
        self.target_key = key
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another live run holds it."""
        if not self.path.parent.is_dir():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):  # shared by every user; not ours to chmod
                self.path.parent.chmod(0o1777)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        handle = os.fdopen(fd, "r+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} ({' '.join(sys.argv[:3])}) on {self.target_key}\n")
        handle.flush()
        self._handle = handle
        return True

    def holder(self) -> str:
        """Who holds the lock, as written by the holder (pid, command and target)."""
        with contextlib.suppress(OSError):
            return self.path.read_text().strip()
        return ""

    def release(self) -> None:
        """Release the lock (the file stays; it is only a name to lock)."""
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
