"""Named crash points: where a test may kill the runner to prove nothing is lost.

A fault calls ``crashpoint("delete_objects:after-step-2")`` between its steps. When the
environment variable ``CHAOS_CRASHPOINT`` names that point, the process kills itself with
SIGKILL right there, as a power loss would; otherwise the call does nothing. The crash tests
kill at every point a fault lists in its module's ``CRASHPOINTS`` and check that
``chaos rollback`` then brings the target back to its original digest.
"""

import os
import signal

__all__ = ["CRASHPOINT_VARIABLE", "crashpoint"]

CRASHPOINT_VARIABLE = "CHAOS_CRASHPOINT"


def crashpoint(name: str) -> None:
    """Die at once (SIGKILL, no cleanup) if CHAOS_CRASHPOINT names this point."""
    if os.environ.get(CRASHPOINT_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
