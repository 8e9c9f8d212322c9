"""The gate's progress: a live view on a terminal (a real pty), plain lines elsewhere."""

import io
import os
import re
import time

import pytest

from chaos_runner.cli._progress import board, wants_live_view
from tests.terminal import pty


def test_plain_lines_name_the_experiment_its_phase_and_the_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    with board(2, stream=out) as progress:  # not a terminal: plain lines
        progress.step("origin-outage", "method")
        progress.finished("origin-outage", True, "origin-outage: held (exit 0)")
        progress.finished("bad-deploy", False, "bad-deploy: deviated (exit 1)")

    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[0/2 done,") and lines[0].endswith("origin-outage: method")
    assert lines[1:] == ["[1/2 done] ✓ origin-outage: held (exit 0)",
                         "[2/2 done] ✗ bad-deploy: deviated (exit 1)"]  # fmt: skip
    assert "\x1b" not in out.getvalue()


def test_on_a_terminal_the_view_is_redrawn_in_place_and_the_results_stay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    with pty() as terminal:
        assert wants_live_view(terminal.stream)
        with board(2, stream=terminal.stream) as progress:
            progress.step("origin-outage", "starting")
            progress.step("origin-outage", "action deny-origin-reads")
            time.sleep(0.6)  # the view refreshes 4 times a second
            terminal.drain()
            progress.finished("origin-outage", True, "origin-outage: held (exit 0)")
            time.sleep(0.3)

    screen = terminal.screen
    assert "origin-outage: action deny-origin-reads" in screen  # the running line
    assert "0/2 done, 1 running" in screen
    assert "\x1b[2K" in screen or "\x1b[1A" in screen  # lines erased: redrawn in place
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert "✓ origin-outage: held (exit 0)" in text  # printed above the view, kept


@pytest.mark.parametrize(("ci", "term"), [("true", "xterm"), ("", "dumb")])
def test_ci_or_a_dumb_terminal_gets_plain_lines(
    monkeypatch: pytest.MonkeyPatch, ci: str, term: str
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("TERM", term)
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        assert not wants_live_view(terminal)
    os.close(leader)
    assert not wants_live_view(io.StringIO())
