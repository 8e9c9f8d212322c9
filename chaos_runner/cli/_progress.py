"""Progress of a gate: a live view on a terminal, plain lines in CI logs and pipes.

The live view (rich) redraws one line per running experiment (its phase and elapsed time)
under the lines of the experiments already done; plain mode prints one line per change,
which is what a CI log keeps. The live view is chosen only when stdout is a terminal and
neither ``CI`` is set nor ``TERM`` is ``dumb``.
"""

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Protocol

import typer

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["Board", "board", "wants_live_view"]


class Board(Protocol):
    """Where a gate reports what it is doing; safe to call from several threads."""

    def step(self, name: str, what: str) -> None: ...

    def finished(self, name: str, held: bool, line: str) -> None: ...


def wants_live_view(stream: IO[str] | None = None) -> bool:
    """A terminal a person watches: stdout is a TTY, not CI, not a dumb terminal."""
    stream = stream or sys.stdout
    if os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


@contextmanager
def board(total: int, live: bool | None = None, stream: IO[str] | None = None) -> Iterator[Board]:
    """A board for ``total`` experiments: live on a terminal (``live=None`` decides)."""
    if live is None:
        live = wants_live_view(stream)
    if not live:
        yield _PlainBoard(total, stream)
        return
    view = _LiveBoard(total, stream)
    with view.showing():
        yield view


@dataclass(slots=True)
class _Running:
    phase: str
    began: float


class _PlainBoard:
    """One line per change: which experiment, which phase, elapsed (for CI logs)."""

    def __init__(self, total: int, stream: IO[str] | None) -> None:
        self.total, self.stream = total, stream
        self.began = time.monotonic()
        self.done = 0
        self.lock = threading.Lock()

    def step(self, name: str, what: str) -> None:
        with self.lock:
            elapsed = time.monotonic() - self.began
            self._echo(f"[{self.done}/{self.total} done, {elapsed:5.1f} s] {name}: {what}")

    def finished(self, name: str, held: bool, line: str) -> None:
        with self.lock:
            self.done += 1
            self._echo(f"[{self.done}/{self.total} done] {'✓' if held else '✗'} {line}")

    def _echo(self, text: str) -> None:
        typer.echo(text, file=self.stream)


class _LiveBoard:
    """A view redrawn in place: the experiments running now, under those done."""

    def __init__(self, total: int, stream: IO[str] | None) -> None:
        from rich.console import Console

        self.total = total
        self.began = time.monotonic()
        self.done = 0
        self.running: dict[str, _Running] = {}
        self.lock = threading.Lock()
        self.console = Console(file=stream or sys.stdout, highlight=False)

    @contextmanager
    def showing(self) -> Iterator[None]:
        from rich.live import Live

        with Live(
            get_renderable=self._render,
            console=self.console,
            refresh_per_second=4,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        ):
            yield

    def step(self, name: str, what: str) -> None:
        with self.lock:
            now = time.monotonic()
            running = self.running.get(name)
            if running is None or what == "starting":
                self.running[name] = _Running(what, now)
            else:
                running.phase = what

    def finished(self, name: str, held: bool, line: str) -> None:
        with self.lock:
            self.running.pop(name, None)
            self.done += 1
        mark = "[green]✓[/green]" if held else "[red]✗[/red]"
        self.console.print(f"{mark} {line}", markup=True, soft_wrap=True)

    def _render(self) -> "Table":
        from rich.table import Table
        from rich.text import Text

        with self.lock:
            now = time.monotonic()
            running = sorted(self.running.items(), key=lambda item: item[1].began)
            done = self.done
        grid = Table.grid(padding=(0, 2))
        grid.add_row(Text(f"{done}/{self.total} done, {len(running)} running, "
                          f"{now - self.began:.0f} s", style="bold"))  # fmt: skip
        for name, state in running:
            grid.add_row(Text(f"  ⋯ {name}: {state.phase}  ({now - state.began:.0f} s)"))
        return grid
