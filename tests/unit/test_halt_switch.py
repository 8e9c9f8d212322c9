"""The halt switch on disk: atomic writes, its state, and the watcher of a run."""

import json
import os
import threading
import time
from pathlib import Path

import pytest

from chaos_runner import halt


@pytest.fixture(autouse=True)
def own_lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test has its switch: never the machine's."""
    monkeypatch.setenv("CHAOS_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.delenv(halt.HALT_VARIABLE, raising=False)
    return tmp_path / "locks"


def test_the_switch_lives_beside_the_locks_unless_named(
    own_lock_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert halt.halt_path() == own_lock_dir / "HALT"
    monkeypatch.setenv(halt.HALT_VARIABLE, str(tmp_path / "elsewhere" / "STOP"))
    assert halt.halt_path() == tmp_path / "elsewhere" / "STOP"


def test_engage_state_release_round_trip(own_lock_dir: Path) -> None:
    assert halt.state() is None

    engaged = halt.engage("  game day stop ")

    assert engaged.reason == "game day stop"
    read = halt.state()
    assert read == engaged
    assert read is not None and read.pid == os.getpid() and read.who
    assert abs(read.when - time.time()) < 5
    assert json.loads((own_lock_dir / "HALT").read_text())["reason"] == "game day stop"
    assert "chaos halt --release" in read.describe()

    assert halt.release() == engaged
    assert halt.state() is None
    assert halt.release() is None  # releasing twice is fine


def test_the_write_is_atomic_and_leaves_no_temporary_file(
    own_lock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    halt.engage("first")

    def broken_replace(source: str, destination: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        halt.engage("second")

    state = halt.state()
    assert state is not None and state.reason == "first"  # the old switch, whole
    assert sorted(p.name for p in own_lock_dir.iterdir()) == ["HALT"]


def test_a_damaged_switch_still_halts(own_lock_dir: Path) -> None:
    own_lock_dir.mkdir(parents=True)
    (own_lock_dir / "HALT").write_text("{not json")

    state = halt.state()

    assert state is not None
    assert "damaged" in state.reason


def test_the_watcher_fires_once_then_ends() -> None:
    calls: list[halt.Halt] = []
    fired = threading.Event()

    def callback(engaged: halt.Halt) -> None:
        calls.append(engaged)
        fired.set()

    watcher = halt.watch(callback, every=0.05)
    try:
        time.sleep(0.2)
        assert calls == [] and watcher.running
        began = time.monotonic()
        halt.engage("stop")
        assert fired.wait(2)
        assert time.monotonic() - began < 1
        halt.engage("stop again")
        time.sleep(0.3)
        assert [c.reason for c in calls] == ["stop"]
        assert not watcher.running
    finally:
        watcher.stop()


def test_a_stopped_watcher_polls_no_more() -> None:
    calls: list[halt.Halt] = []
    watcher = halt.watch(calls.append, every=0.05)

    watcher.stop()
    halt.engage("too late")
    time.sleep(0.2)

    assert not watcher.running
    assert calls == []


def test_running_runs_counts_live_lock_holders(own_lock_dir: Path) -> None:
    from chaos_runner.ledger import TargetLock

    lock = TargetLock("http://127.0.0.1:1/|E1|bucket")
    assert lock.acquire()
    try:
        (own_lock_dir / "gone.lock").write_text("pid 999999999 (chaos run) on x\n")
        runs = halt.running_runs()
    finally:
        lock.release()

    assert len(runs) == 1
    assert runs[0].startswith(f"pid {os.getpid()} ")
