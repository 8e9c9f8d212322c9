"""A real pseudo-terminal for tests of live views: a stream to write to, what it showed."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO


@dataclass
class Pty:
    """The terminal side (``stream``) of a pty; :meth:`drain` reads what it showed so far."""

    stream: IO[str]
    leader: int
    chunks: list[bytes] = field(default_factory=list)

    def drain(self) -> None:
        """Read everything written so far (the pty's buffer is small: drain while writing)."""
        while True:
            try:
                self.chunks.append(os.read(self.leader, 65536))
            except BlockingIOError:
                return

    @property
    def screen(self) -> str:
        return b"".join(self.chunks).decode("utf-8", "replace")


@contextmanager
def pty() -> Iterator[Pty]:
    """A pty for the block; at its end everything written is drained and both sides closed."""
    leader, follower = os.openpty()
    os.set_blocking(leader, False)
    terminal = Pty(os.fdopen(follower, "w", encoding="utf-8"), leader)
    try:
        yield terminal
        terminal.stream.flush()
        terminal.drain()
    finally:
        terminal.stream.close()
        os.close(leader)
