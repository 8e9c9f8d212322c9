"""`chaos gameday run`'s view: redrawn in place on a terminal (a pty), plain lines elsewhere."""

import io
import time

import pytest

from chaos_runner.cli.gameday.run import _view
from chaos_runner.gameday.runner import Sample
from chaos_runner.verdict import judge
from tests.terminal import pty
from tests.unit.test_verdict import held_journal


def test_on_a_terminal_the_view_shows_the_phase_and_what_readers_see_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    with pty() as terminal, _view(2, "Origin rehearsal", terminal.stream) as view:
        view.step("origin-outage", "starting")
        view.step("origin-outage", "action deny-origin-reads")
        view.sample(Sample(time.time(), 0.75, 12.5, 8))
        time.sleep(0.6)  # the view refreshes 4 times a second
        terminal.drain()
        view.finished("origin-outage", judge(held_journal()), 10.8)
        time.sleep(0.3)

    shown = terminal.screen
    assert "Game day: Origin rehearsal  (0/2 done" in shown
    assert "⋯ origin-outage: action deny-origin-reads" in shown
    assert "readers now: 75% served, p95 12 ms (8 requests, last 5 s)" in shown
    assert "[1/2 done] ✓ origin-outage: held (exit 0, score 100) in 10.8 s" in shown
    assert "\x1b[" in shown  # redrawn in place


def test_in_a_pipe_the_view_prints_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    out = io.StringIO()
    with _view(1, "Origin rehearsal", out) as view:
        view.step("origin-outage", "method")
        view.sample(Sample(time.time(), 1.0, 3.0, 10))

    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[0/1 done,") and lines[0].endswith("origin-outage: method")
    assert lines[1] == "  readers now: 100% served, p95 3.0 ms (10 requests, last 5 s)"
    assert "\x1b" not in out.getvalue()
