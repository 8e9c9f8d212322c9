"""Running a probe's coroutine from Chaos Toolkit's synchronous call, on the fastest loop.

uvloop is used when it is installed (it is a dependency on Linux and macOS); the standard
loop otherwise. Chaos Toolkit calls probes from its main thread and, for background
activities, from worker threads; either way the probe gets a loop of its own.

The loop never runs in the main thread. Python runs signal handlers in the main thread,
and uvloop runs them inside one of its callbacks, where an exception is logged and
dropped: chaoslib's SIGTERM handler (and our safety control's SIGINT) raise to stop the
run, so a probe on a main-thread uvloop would let the method go on after Ctrl-C. Here the
main thread waits for the worker, the handler's exception interrupts that wait, the
probe's task is cancelled (its connections close), and the exception goes on to chaoslib.
"""

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "run"]

_T = TypeVar("_T")
#: How long an interrupted probe may take to close its connections before we go on.
_CANCEL_GRACE_S = 5.0


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's ``new_event_loop`` when installed, else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is installed where it builds
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coroutine`` to completion from synchronous code, in any thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        if threading.current_thread() is not threading.main_thread():
            return _run_here(coroutine, None)
    # The main thread (signals), or code that runs an event loop in this thread (loops
    # cannot nest): the probe gets its own loop in a worker thread.
    handle = _Handle()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        done: concurrent.futures.Future[_T] = pool.submit(_run_here, coroutine, handle)
        try:
            return done.result()
        except BaseException:
            if not done.done():  # interrupted while the probe runs: stop it, then go on
                handle.cancel()
                concurrent.futures.wait([done], timeout=_CANCEL_GRACE_S)
            raise


class _Handle:
    """The worker's loop and task, so that another thread can cancel the probe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None
        self.cancelled = False

    def started(self, loop: asyncio.AbstractEventLoop, task: "asyncio.Task[Any]") -> bool:
        """Record the running task; False when it was cancelled before it started."""
        with self.lock:
            self.loop, self.task = loop, task
            return not self.cancelled

    def cancel(self) -> None:
        with self.lock:
            self.cancelled = True
            if self.loop is not None and self.task is not None:
                self.loop.call_soon_threadsafe(self.task.cancel)


def _run_here(coroutine: Coroutine[Any, Any, _T], handle: _Handle | None) -> _T:
    async def main() -> _T:
        task = asyncio.current_task()
        assert task is not None
        if handle is not None and not handle.started(asyncio.get_running_loop(), task):
            coroutine.close()
            raise asyncio.CancelledError
        return await coroutine

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main())
