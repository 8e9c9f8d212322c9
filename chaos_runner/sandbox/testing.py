"""Testing helpers: run the whole sandbox inside the current process, on a background loop.

    with running_sandbox() as sandbox:
        boto3.client("s3", endpoint_url=sandbox.info.aws_endpoint_url, ...)
        urllib.request.urlopen(sandbox.info.edge_url + "/")

For pytest users of this extension as much as for our own tests.
"""

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from chaos_runner.sandbox.stack import SandboxSettings, SandboxStack
from chaos_runner.sandbox.state import SandboxInfo

__all__ = ["InProcessSandbox", "running_sandbox"]

T = TypeVar("T")


class InProcessSandbox:
    """A sandbox stack served by an event loop in a daemon thread of this process."""

    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.stack = SandboxStack(settings)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="sandbox-loop", daemon=True
        )
        self._info: SandboxInfo | None = None

    @property
    def info(self) -> SandboxInfo:
        """Where the running sandbox is."""
        if self._info is None:
            raise RuntimeError("The sandbox is not started.")
        return self._info

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run ``coroutine`` on the sandbox's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self) -> SandboxInfo:
        """Start the loop thread and the stack."""
        self._thread.start()
        self._info = self.call(self.stack.start())
        return self._info

    def stop(self) -> None:
        """Stop the stack, then the loop and its thread."""
        try:
            self.call(self.stack.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()


@contextmanager
def running_sandbox(settings: SandboxSettings | None = None) -> Iterator[InProcessSandbox]:
    """A started in-process sandbox, stopped (and moto reset) on exit."""
    sandbox = InProcessSandbox(settings)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()
