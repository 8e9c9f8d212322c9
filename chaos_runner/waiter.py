"""Polling as data: wait until a state is observed, with a bound, reporting the last seen.

The shape follows botocore's waiters (a delay, a bound, an acceptor); it serves both "wait
until the fault took effect" and "wait until the site recovered".
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Wait", "WaitResult"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WaitResult(Generic[T]):
    """The outcome of a wait: whether the state was reached, and the last observation."""

    reached: bool
    last: T
    attempts: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Wait:
    """Observe every ``delay`` seconds, at most ``timeout`` seconds in all."""

    delay: float = 0.2
    timeout: float = 20.0

    def until(self, observe: Callable[[], T], accept: Callable[[T], bool]) -> WaitResult[T]:
        """Observe until ``accept`` says yes or the time is up (observes at least once)."""
        began = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            last = observe()
            elapsed = time.monotonic() - began
            if accept(last):
                return WaitResult(True, last, attempts, elapsed)
            if elapsed + self.delay > self.timeout:
                return WaitResult(False, last, attempts, elapsed)
            time.sleep(self.delay)
