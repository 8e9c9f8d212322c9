"""Named crash points: where a test may kill the runner to prove nothing is lost.

A fault calls ``crashpoint("delete_objects:after-step-2")`` between its steps. When the
environment variable ``CHAOS_CRASHPOINT`` names that point, the process kills itself with
SIGKILL right there, as a power loss would; otherwise the call does nothing. The crash tests
kill at every point a fault lists in its module's ``CRASHPOINTS`` and check that
``chaos rollback`` then brings the target back to its original digest.

``CHAOS_CRASHPOINT=NAME:raise`` raises an unexpected exception there instead, as a bug in
our code would: the tests of exit code 70 (internal error, restored) use it.
"""

import os
import signal

__all__ = ["CRASHPOINT_VARIABLE", "crashpoint"]

CRASHPOINT_VARIABLE = "CHAOS_CRASHPOINT"


def crashpoint(name: str) -> None:
    """Die at once (SIGKILL, no cleanup) if CHAOS_CRASHPOINT names this point; raise
    RuntimeError if it names it followed by ``:raise``."""
    chosen = os.environ.get(CRASHPOINT_VARIABLE)
    if chosen == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if chosen == f"{name}:raise":
        raise RuntimeError(f"a bug, simulated at crash point {name} ({CRASHPOINT_VARIABLE})")
