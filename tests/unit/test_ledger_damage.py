"""A damaged ledger never loses an undo record: strict reads, salvage, a mended torn tail.

The property tests generate ledgers the way crashes and people damage them (a write cut at
any byte, garbage lines, records with fields missing, duplicate ids, events before their
`open`) and check the one thing that matters: every fault whose `open` line is intact and
not closed by an intact later line is still listed as unrestored, and a strict read of a
damaged ledger raises instead of answering.
"""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos_runner import LedgerError
from chaos_runner.ledger import EntryState, Ledger, TargetRef

TARGET = TargetRef(key="k1", label="sandbox: test", endpoint_url="http://127.0.0.1:1", region="r")


def _open_line(entry_id: str, at: float = 1.0) -> str:
    return json.dumps(
        {
            "event": "open",
            "id": entry_id,
            "kind": "bucket_policy",
            "run_id": "r",
            "target": dict(TARGET),
            "undo": {"bucket": f"b-{entry_id}"},
            "description": f"fault {entry_id}",
            "at": at,
        }
    )


def _event_line(entry_id: str, event: str = "restored") -> str:
    return json.dumps({"event": event, "id": entry_id, "detail": "", "at": 2.0})


def test_a_torn_last_line_does_not_swallow_the_next_undo_record(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    first = Ledger(path).open("bucket_policy", TARGET, {"n": 1}, "first")
    with path.open("a") as handle:
        handle.write('{"at": 1, "description": "origin outage: bucket pol')  # cut short

    second = Ledger(path).open("distribution_config", TARGET, {"n": 2}, "second")
    third = Ledger(path).open("objects", TARGET, {"n": 3}, "third")

    entries = Ledger(path).entries()  # strict: the ledger is whole again
    assert [(e.id, e.undo) for e in entries] == [
        (first.id, {"n": 1}),
        (second.id, {"n": 2}),
        (third.id, {"n": 3}),
    ]
    torn = path.with_name("ledger.jsonl.torn").read_text()
    assert torn == '{"at": 1, "description": "origin outage: bucket pol\n'  # kept, not lost


def test_a_whole_record_that_lost_only_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text(_open_line("aaa"))  # no newline: a write cut at its last byte

    assert [e.id for e in Ledger(path).entries()] == ["aaa"]
    entry = Ledger(path).open("bucket_policy", TARGET, {}, "next")

    assert [e.id for e in Ledger(path).entries()] == ["aaa", entry.id]


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        ("garbage {{{", "it is not JSON"),
        ('["a", "list"]', "it is JSON but not a record"),
        ('{"event": "open", "id": "x", "at": 1}', "it has no 'kind'"),
        (
            json.dumps(
                {
                    "event": "open",
                    "id": "x",
                    "at": 1,
                    "kind": "k",
                    "run_id": "r",
                    "target": {"key": "k"},
                    "undo": {},
                    "description": "",
                }
            ),
            "it has no 'label'",
        ),
        ('{"event": "exploded", "id": "x", "at": 1}', "its event 'exploded' is none of"),
        ('{"event": "restored", "id": "nobody", "at": 1}', "it marks entry nobody restored"),
    ],
)
def test_a_damaged_line_stops_a_strict_read_and_names_the_line(
    tmp_path: Path, bad_line: str, problem: str
) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text(_open_line("aaa") + "\n" + bad_line + "\n" + _open_line("bbb") + "\n")

    with pytest.raises(
        LedgerError, match=f"line 2 cannot be used because {problem}".replace("(", ".")
    ):
        Ledger(path).unrestored()
    entries, damage = Ledger(path).salvage()
    assert [e.id for e in entries] == ["aaa", "bbb"]
    assert [d.line for d in damage] == [2]


def test_a_repeated_id_keeps_both_undo_records(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text(_open_line("aaa") + "\n" + _open_line("aaa", 5.0) + "\n")

    entries, damage = Ledger(path).salvage()

    assert [e.undo for e in entries] == [{"bucket": "b-aaa"}, {"bucket": "b-aaa"}]
    assert [e.id for e in entries] == ["aaa", "aaa~2"]
    assert "opens entry aaa again" in damage[0].problem


# --- properties ---------------------------------------------------------------------------

_IDS = st.sampled_from(["a1", "b2", "c3", "d4"])
_GOOD = st.one_of(
    _IDS.map(lambda i: ("open", i, _open_line(i))),
    st.tuples(_IDS, st.sampled_from(["restored", "conflict", "irreversible"])).map(
        lambda t: (t[1], t[0], _event_line(t[0], t[1]))
    ),
)
_BAD = st.one_of(
    st.text(max_size=30).filter(lambda t: "\n" not in t).map(lambda t: ("bad", "", t)),
    st.binary(max_size=30)
    .filter(lambda b: b"\n" not in b)
    .map(lambda b: ("bad", "", b.decode("latin-1"))),
    _IDS.map(lambda i: ("bad", "", json.dumps({"event": "open", "id": i, "at": 1}))),
)


def _expected_open(lines: list[tuple[str, str, str]]) -> set[str]:
    """Ids (by line) of intact opens not closed by an intact later line of the same id."""
    still_open: dict[str, int] = {}
    seen: set[str] = set()
    for number, (event, entry_id, _) in enumerate(lines, start=1):
        if event == "open":
            key = entry_id if entry_id not in seen else f"{entry_id}~{number}"
            seen.add(entry_id)
            still_open[key] = number
        elif event != "bad" and entry_id in seen:
            first = entry_id
            for key in list(still_open):  # events close the first entry of that id
                if key == first:
                    del still_open[key]
    return set(still_open)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(st.one_of(_GOOD, _GOOD, _BAD), max_size=12), cut=st.integers(0, 400))
def test_no_intact_undo_record_is_ever_lost(
    tmp_path_factory: pytest.TempPathFactory, lines: list[tuple[str, str, str]], cut: int
) -> None:
    path = tmp_path_factory.mktemp("ledger") / "ledger.jsonl"
    text = "".join(line + "\n" for _, _, line in lines)
    last = text.rfind("\n", 0, len(text) - 1) + 1 if text else 0
    torn = text[: last + min(cut, len(text) - last)] if cut < len(text) - last else text
    path.write_bytes(torn.encode("utf-8", "surrogatepass"))
    tail = torn[last:] if torn != text else ""
    kept = lines if torn == text or tail == text[last:-1] else lines[:-1]

    entries, damage = Ledger(path).salvage()

    open_ids = {e.id for e in entries if e.state == EntryState.OPEN}
    assert _expected_open(kept) <= open_ids
    if damage:
        with pytest.raises(LedgerError):
            Ledger(path).entries()
    # the next fault's undo record is never swallowed, whatever the tail looked like
    new = Ledger(path).open("bucket_policy", TARGET, {"new": True}, "new")
    after, _ = Ledger(path).salvage()
    assert new.id in {e.id for e in after if e.state == EntryState.OPEN}
    assert _expected_open(kept) <= {e.id for e in after if e.state == EntryState.OPEN}
