"""Signals between the controls and the background probes of one Chaos Toolkit run.

Global state, kept in this one labelled place: one run per process.

``method_over`` is set by the safety control once the method's last foreground activity
has ended, or when the run is interrupted (SIGINT/SIGTERM). chaoslib waits for background
activities before it calls the after-method controls and the rollbacks, so a background
watch that is still waiting for a restore must stop then, or it would hold the restore back.
Outside a Chaos Toolkit run it is never set.
"""

import threading

__all__ = ["mark_method_over", "method_over", "reset"]

_METHOD_OVER = threading.Event()


def method_over() -> bool:
    """True once the method's foreground activities have ended (or the run was interrupted)."""
    return _METHOD_OVER.is_set()


def mark_method_over() -> None:
    """Say the method is over (called by the safety control)."""
    _METHOD_OVER.set()


def reset() -> None:
    """Start a new run."""
    _METHOD_OVER.clear()
