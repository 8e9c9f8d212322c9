"""The ledger file: durable events, folded states, tolerance of a torn last line, the lock."""

import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

import chaos_runner.faults  # noqa: F401  (registers the restorers of the kinds used here)
from chaos_runner import LedgerError
from chaos_runner.ledger import (
    EntryState,
    Ledger,
    LedgerEntry,
    RestoreOutcome,
    TargetLock,
    TargetRef,
    registered_kinds,
    restore_entries,
    restorer,
)

TARGET = TargetRef(key="k1", label="sandbox: test", endpoint_url="http://127.0.0.1:1", region="r")
OTHER = TargetRef(key="k2", label="sandbox: other", endpoint_url="http://127.0.0.1:2", region="r")


def test_an_open_entry_is_on_disk_before_open_returns(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    entry = ledger.open("bucket_policy", TARGET, {"bucket": "b"}, "outage", run_id="run1")

    again = Ledger(tmp_path / "ledger.jsonl").entries()

    assert [(e.id, e.state, e.undo, e.run_id) for e in again] == [
        (entry.id, EntryState.OPEN, {"bucket": "b"}, "run1")
    ]


def test_states_fold_in_order_and_unrestored_filters_by_target_and_run(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    first = ledger.open("bucket_policy", TARGET, {}, "one", run_id="a")
    second = ledger.open("bucket_policy", TARGET, {}, "two", run_id="b")
    third = ledger.open("bucket_policy", OTHER, {}, "three", run_id="a")
    ledger.mark(first.id, EntryState.CONFLICT, "changed by hand")
    ledger.mark(second.id, EntryState.RESTORED, "done")

    states = {e.id: e.state for e in ledger.entries()}

    assert states == {
        first.id: EntryState.CONFLICT,
        second.id: EntryState.RESTORED,
        third.id: EntryState.OPEN,
    }
    assert [e.id for e in ledger.unrestored("k1")] == [first.id]
    assert [e.id for e in ledger.unrestored(run_id="a")] == [first.id, third.id]
    assert [e.id for e in ledger.unrestored("k2", "b")] == []


def test_a_torn_last_line_is_ignored_but_a_corrupt_middle_line_is_an_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    entry = ledger.open("bucket_policy", TARGET, {}, "one")
    with path.open("a") as handle:
        handle.write('{"event": "restored", "id": "')  # a crash in the middle of a write

    assert [e.state for e in ledger.entries()] == [EntryState.OPEN]

    with path.open("a") as handle:
        handle.write("\n")
    ledger.mark(entry.id, EntryState.RESTORED)
    with pytest.raises(LedgerError, match="line 2 cannot be used because it is not JSON"):
        ledger.entries()


def test_an_unknown_fault_kind_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")

    with pytest.raises(LedgerError, match="No restorer"):
        ledger.open("no_such_fault", TARGET, {}, "x")
    assert not ledger.path.exists()


def test_every_fault_module_registers_its_restorer_and_a_second_one_is_refused() -> None:
    assert registered_kinds() == {
        "bucket_policy", "objects", "distribution_config", "invalidation", "origin_link",
        "edge_certificate",
    }  # fmt: skip

    def impostor(entry: LedgerEntry) -> RestoreOutcome:
        return RestoreOutcome(EntryState.RESTORED, "")

    with pytest.raises(LedgerError, match="Two restorers for fault kind 'objects'"):
        restorer("objects")(impostor)
    assert "impostor" not in str(registered_kinds())


def test_an_entry_of_a_kind_nobody_restores_stays_open_and_says_why(tmp_path: Path) -> None:
    """A ledger written by another version may hold a kind this one does not know."""
    ledger = Ledger(tmp_path / "ledger.jsonl")
    entry = ledger.open("bucket_policy", TARGET, {}, "outage")
    stranger = replace(entry, kind="dns_record")

    (report,) = restore_entries(ledger, [stranger])

    assert report.state == EntryState.OPEN
    assert "No restorer is registered for fault kind 'dns_record'" in report.detail
    assert ledger.entries()[0].state == EntryState.OPEN


def test_an_unwritable_ledger_says_no_fault_was_injected(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    ledger = Ledger(blocker / "ledger.jsonl")  # parent is a file: cannot be created

    with pytest.raises(LedgerError, match="no fault was injected"):
        ledger.open("bucket_policy", TARGET, {}, "x")


def test_the_target_lock_excludes_another_process_and_is_freed_when_it_dies(
    tmp_path: Path,
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from chaos_runner.ledger import TargetLock
                lock = TargetLock("k1", Path({str(tmp_path)!r}))
                assert lock.acquire()
                print("held", flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        lock = TargetLock("k1", tmp_path)
        assert not lock.acquire()
        assert str(holder.pid) in lock.holder()
    finally:
        holder.kill()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()

    assert lock.acquire()
    other = TargetLock("k2", tmp_path)
    assert other.acquire()  # another target is not locked
    other.release()
    lock.release()


def test_vanished_and_forgotten_close_an_entry_and_keep_who_and_why(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    gone = ledger.open("bucket_policy", TARGET, {"bucket": "b"}, "one")
    by_hand = ledger.open("bucket_policy", TARGET, {"bucket": "b"}, "two")
    still = ledger.open("bucket_policy", TARGET, {"bucket": "b"}, "three")
    ledger.mark(by_hand.id, EntryState.CONFLICT, "changed by hand")
    ledger.mark(gone.id, EntryState.VANISHED, "the sandbox is gone", reason="nothing listens")
    ledger.mark(by_hand.id, EntryState.FORGOTTEN, "forgotten by ada", by="ada", reason="fixed")

    entries = {e.id: e for e in Ledger(ledger.path).entries()}

    assert [(e.state, e.closed_by, e.reason) for e in entries.values()] == [
        (EntryState.VANISHED, "", "nothing listens"),
        (EntryState.FORGOTTEN, "ada", "fixed"),
        (EntryState.OPEN, "", ""),
    ]
    assert entries[by_hand.id].events == ("open", "conflict", "forgotten")
    assert entries[gone.id].undo == {"bucket": "b"}  # the undo record is never dropped
    assert [e.id for e in ledger.unrestored("k1")] == [still.id]
    assert {s for s in EntryState if s.unrestored} == {EntryState.OPEN, EntryState.CONFLICT}


def test_a_ledger_written_before_the_new_states_reads_as_it_did(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    target = '{"endpoint_url": null, "key": "aws|E1|b", "label": "aws: x", "region": "r"}'
    path.write_text(
        '{"at": 1, "description": "d", "event": "open", "id": "a1", "kind": "bucket_policy", '
        f'"run_id": "r", "target": {target}, "undo": {{}}}}\n'
        '{"at": 2, "detail": "done", "event": "restored", "id": "a1"}\n'
        '{"at": 3, "description": "d", "event": "open", "id": "a2", "kind": "bucket_policy", '
        f'"run_id": "r", "target": {target}, "undo": {{}}}}\n'
        '{"at": 4, "event": "conflict", "id": "a2"}\n'  # no detail: still reads
    )

    entries = Ledger(path).entries()

    assert [(e.id, e.state, e.detail, e.closed_by, e.reason) for e in entries] == [
        ("a1", EntryState.RESTORED, "done", "", ""),
        ("a2", EntryState.CONFLICT, "", "", ""),
    ]
    assert [e.id for e in Ledger(path).unrestored()] == ["a2"]
