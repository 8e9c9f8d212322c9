"""Reading untrusted JSON values (journals): the expected type, or an empty/None stand-in.

A journal may come from any Chaos Toolkit run, or be damaged: the verdict and the reports
read every field through these, so a wrong type is a missing value, never an exception.
"""

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = ["epoch", "list_of", "mapping", "number", "text"]


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def list_of(value: Any) -> list[Any]:
    """``value`` as a list if it is a list or tuple, else an empty one."""
    return list(value) if isinstance(value, list | tuple) else []


def number(value: Any) -> float | None:
    """A finite int or float (not a bool) as a float; None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def text(value: Any) -> str:
    """``value`` if it is a string, else ""."""
    return value if isinstance(value, str) else ""


def epoch(value: Any) -> float | None:
    """An ISO time as epoch seconds; None when absent or unreadable."""
    try:
        return datetime.fromisoformat(value).timestamp() if isinstance(value, str) else None
    except (ValueError, OverflowError, OSError):
        return None
