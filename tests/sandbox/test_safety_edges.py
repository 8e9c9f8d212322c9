"""The restore engine and the target's identity at their edges, on the shared sandbox."""

import json
import urllib.request
from pathlib import Path

import pytest

from chaos_runner.faults import origin_link
from chaos_runner.ledger import Ledger, TargetLock, restore_entries
from chaos_runner.sandbox.state import SandboxInfo
from chaos_runner.target import Target, is_loopback_url


def _active_link_faults(admin_url: str) -> list[str]:
    with urllib.request.urlopen(f"{admin_url}/origin-link/faults", timeout=5) as answer:
        return [f["id"] for f in json.loads(answer.read())["faults"]]


def test_a_ledger_that_cannot_be_written_mid_restore_still_restores_every_fault(
    sandbox_env: SandboxInfo, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = Ledger()
    for share in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6):
        origin_link.add_origin_errors(status=503, share=share)
    opened = ledger.unrestored()
    assert len(opened) == 6 and len(_active_link_faults(sandbox_env.admin_url)) >= 6
    moved = ledger.path.with_name("saved.jsonl")
    ledger.path.rename(moved)
    ledger.path.mkdir()  # any write now fails: the ledger's name is a directory

    try:
        reports = restore_entries(ledger, opened)
    finally:
        ledger.path.rmdir()
        moved.rename(ledger.path)

    assert _active_link_faults(sandbox_env.admin_url) == []  # every fault is gone
    assert [r.ok for r in reports] == [True] * 6
    assert [r.recorded for r in reports] == [False] * 6
    assert all("could not be recorded in the ledger" in r.detail for r in reports)
    # the ledger still holds them open; the next restore finds them gone and records it
    again = restore_entries(ledger, ledger.unrestored())
    assert [(r.ok, r.recorded) for r in again] == [(True, True)] * 6
    assert ledger.unrestored() == []


def test_the_target_key_names_the_target_not_its_spelling(tmp_path: Path) -> None:
    spellings = [
        "http://127.0.0.1:4566",
        "http://localhost:4566/",
        "HTTP://LOCALHOST:4566",
        "http://127.0.0.1:4566/some/path",
        "http://[::1]:4566",
    ]
    keys = {Target("", "D1", "b", "us-east-1", endpoint_url=url).key for url in spellings}
    assert len(keys) == 1
    assert (
        Target("", "D1", "b", "eu-west-1", None).key == Target("", "D1", "b", "us-east-1", None).key
    )
    assert Target("", "D1", "b", "r", "http://127.0.0.1:4567").key not in keys
    held = TargetLock(keys.pop(), tmp_path / "one")
    assert held.acquire()
    try:
        assert not TargetLock("http://localhost:4566|D1|b", tmp_path / "one").acquire()
    finally:
        held.release()


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:1", True),
        ("http://127.9.9.9:1", True),
        ("http://localhost:1", True),
        ("http://[::1]:1", True),
        ("http://127.attacker.example:1", False),
        ("http://127.0.0.1.nip.io:1", False),
        ("http://localhost.example.com:1", False),
        ("http://example.invalid", False),
        ("http://[::1", False),
        ("", False),
    ],
)
def test_loopback_means_this_machine_only(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback
