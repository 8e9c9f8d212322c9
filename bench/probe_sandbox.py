"""The sandbox the probe benchmarks measure: a detached sandbox process on loopback.

The sandbox runs in a process of its own (as `chaos sandbox up --detach` starts it), so
its edge does not share an interpreter with the probe being measured. Its state, ledger
and log live in a temporary directory removed on exit.
"""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chaos_runner.sandbox.process import detach, stop
from chaos_runner.sandbox.stack import SandboxSettings
from chaos_runner.sandbox.state import SandboxInfo

__all__ = ["detached_sandbox", "rss_mib"]


@contextmanager
def detached_sandbox() -> Iterator[SandboxInfo]:
    """A running sandbox process; this process's environment points at it meanwhile."""
    with tempfile.TemporaryDirectory(prefix="chaos-bench-") as directory:
        state = Path(directory) / "sandbox.json"
        info = detach(SandboxSettings(), state, Path(directory) / "sandbox.log")
        saved = dict(os.environ)
        os.environ.update(info.environment())
        os.environ["CHAOS_STATE_DIR"] = directory
        os.environ.pop("CHAOS_LEDGER", None)
        try:
            yield info
        finally:
            os.environ.clear()
            os.environ.update(saved)
            stop(state)


def rss_mib(pid: int | None = None) -> float:
    """Resident set size of a process (default: this one), in MiB, from /proc."""
    with open(f"/proc/{pid or os.getpid()}/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
