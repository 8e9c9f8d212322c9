"""How long a CloudFront change takes to reach the edge: the sandbox's propagation delay.

On AWS a config change or an invalidation takes effect at the edge locations minutes after
the API call; until then the API says ``InProgress``, then ``Deployed`` (a distribution) or
``Completed`` (an invalidation). The sandbox replays that with one configurable delay:

- Delay 0 (the default): a change is in effect at every POP when the API call returns, and
  the API already says ``Deployed``/``Completed`` in its answer.
- Delay d > 0: the change is in effect at every POP d seconds after the API call, and the
  API says ``InProgress`` until then. A config change is read from the control plane as
  soon as it is made, and that snapshot is what the POPs serve after the delay; so a
  change followed by a rollback is seen for a while, then rolled back, as on CloudFront.
  An invalidation evicts what it covers at every POP when its delay ends.

The status flips only after the POPs applied the change, so a client that waits for
``Deployed``/``Completed`` (boto3's waiters) always sees the change at the edge.

Durations on the command line: ``30s``, ``500ms``, ``2m`` or plain seconds (``1.5``).
"""

import asyncio
import itertools
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from chaos_runner._errors import ConfigurationError, SandboxError

if TYPE_CHECKING:
    from chaos_runner.sandbox.pop import PointsOfPresence

__all__ = ["MAX_PROPAGATION_DELAY", "Propagation", "parse_duration"]

log = logging.getLogger(__name__)

#: One hour: CloudFront deploys in minutes; anything longer is a typo.
MAX_PROPAGATION_DELAY = 3600.0

_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>ms|s|m)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}


def parse_duration(text: str, what: str = "--propagation-delay") -> float:
    """Seconds from ``30s``, ``500ms``, ``2m`` or ``1.5``; ConfigurationError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ConfigurationError(
            f"{what} must be a duration such as 30s, 500ms, 2m or 1.5 (seconds); got {text!r}."
        )
    seconds = float(match.group("number")) * _UNITS[match.group("unit")]
    if seconds > MAX_PROPAGATION_DELAY:
        raise ConfigurationError(
            f"{what} is at most {MAX_PROPAGATION_DELAY:.0f} s (CloudFront deploys in "
            f"minutes); got {text!r}."
        )
    return seconds


Done = Callable[[], None]


class Propagation:
    """Applies CloudFront changes to the POPs after the delay; a control-plane listener.

    ``on_invalidation`` and ``on_config_change`` are called from moto's request threads;
    delayed work runs on ``loop`` (the sandbox's event loop).
    """

    def __init__(
        self,
        distribution_id: str,
        pops: "PointsOfPresence",
        loop: asyncio.AbstractEventLoop,
        delay: float = 0.0,
    ) -> None:
        self._distribution_id = distribution_id
        self._pops = pops
        self._loop = loop
        self._delay = 0.0
        self.delay = delay
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # Config changes are numbered; one applied late never replaces a newer one (the
        # delay may be shortened while a change propagates).
        self._changes = itertools.count(1)
        self._served_change = 0

    @property
    def delay(self) -> float:
        """Seconds between an API call and its effect at the edge; settable at any time."""
        return self._delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        if not 0 <= seconds <= MAX_PROPAGATION_DELAY:
            raise ConfigurationError(
                f"The propagation delay must be between 0 and {MAX_PROPAGATION_DELAY:.0f} s; "
                f"got {seconds}."
            )
        self._delay = float(seconds)

    def on_invalidation(self, distribution_id: str, paths: Sequence[str], done: Done) -> bool:
        """Evict ``paths`` at every POP now, or after the delay; then call ``done``."""
        if distribution_id != self._distribution_id:
            return False
        delay = self._delay
        if delay <= 0:
            self._pops.invalidate(paths)
            done()
            return True
        due = time.monotonic() + delay
        self._loop.call_soon_threadsafe(self._invalidate_at, due, list(paths), done)
        return True

    def on_config_change(self, distribution_id: str, done: Done) -> bool:
        """Serve the new config at every POP now, or after the delay; then call ``done``."""
        if distribution_id != self._distribution_id:
            return False
        delay = self._delay
        change = next(self._changes)
        if delay <= 0:
            self._served_change = max(self._served_change, change)
            self._pops.config_changed()
            done()
            return True
        due = time.monotonic() + delay
        self._loop.call_soon_threadsafe(self._deploy_at, due, change, done)
        return True

    async def close(self) -> None:
        """Drop the changes still propagating (the control plane is going away too)."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- on the loop -----------------------------------------------------------------------

    def _invalidate_at(self, due: float, paths: list[str], done: Done) -> None:
        def apply() -> None:
            self._timers.discard(timer)
            self._pops.invalidate(paths)
            done()

        timer = self._loop.call_at(self._loop_time(due), apply)
        self._timers.add(timer)

    def _deploy_at(self, due: float, change: int, done: Done) -> None:
        task = self._loop.create_task(self._deploy(due, change, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deploy(self, due: float, change: int, done: Done) -> None:
        try:
            snapshot = await self._pops.load()
        except SandboxError:
            log.exception("The new config could not be read; the POPs reload it when due.")
            snapshot = None
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        if change > self._served_change:
            self._served_change = change
            if snapshot is None:
                self._pops.config_changed()
            else:
                self._pops.use(snapshot)
        done()

    def _loop_time(self, due: float) -> float:
        """``due`` (time.monotonic) on the loop's clock."""
        return self._loop.time() + (due - time.monotonic())
