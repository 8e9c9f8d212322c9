"""Running a probe's coroutine from Chaos Toolkit's synchronous call, on the fastest loop.

uvloop is used when it is installed (it is a dependency on Linux and macOS); the standard
loop otherwise. Chaos Toolkit calls probes from its main thread and, for background
activities, from worker threads; either way the probe gets a loop of its own.
"""

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "run"]

_T = TypeVar("_T")


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
        return _run_here(coroutine)
    # Called from code that runs an event loop in this thread: loops cannot nest, so the
    # probe gets its own loop in a worker thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        done: concurrent.futures.Future[_T] = pool.submit(_run_here, coroutine)
        return done.result()


def _run_here(coroutine: Coroutine[Any, Any, _T]) -> _T:
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coroutine)
