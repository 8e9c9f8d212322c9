"""Checking what an experiment passes to an activity, with errors that say how to fix it.

Chaos Toolkit passes JSON values, and ``${...}`` substitutions arrive as strings, so numbers
and booleans are accepted as strings too (``"300"``, ``"0.5"``, ``"true"``). Every check
raises :class:`ConfigurationError` with a full sentence naming the argument, the rule and
the value seen. Probes and faults share these checks.
"""

import math

from chaos_runner._errors import ConfigurationError

__all__ = ["flag", "number", "seconds", "whole"]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", ""}


def number(
    name: str,
    value: object,
    low: float,
    high: float,
    *,
    whole: bool = False,
    exclusive_low: bool = False,
) -> float:
    """``value`` as a number within bounds; numeric strings (from ``${...}``) are accepted."""
    kind = "a whole number" if whole else "a number"
    above = f"above {low:g}" if exclusive_low else f"from {low:g}"
    rule = f"`{name}` must be {kind} {above} to {high:g}"
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(value)
        parsed = float(value)
    except ValueError:
        raise ConfigurationError(f"{rule}; got {value!r}.") from None
    too_low = parsed <= low if exclusive_low else parsed < low
    if too_low or parsed > high or (whole and not parsed.is_integer()) or math.isnan(parsed):
        raise ConfigurationError(f"{rule}; got {value!r}.")
    return parsed


def whole(name: str, value: object, low: int, high: int) -> int:
    """``value`` as a whole number from ``low`` to ``high`` (``"300"`` is accepted)."""
    return int(number(name, value, low, high, whole=True))


def flag(name: str, value: object) -> bool:
    """``value`` as a boolean: true/false, or the strings ``"true"``/``"false"`` (yes/no, 1/0)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str | int) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"`{name}` must be true or false; got {value!r}.")


def seconds(name: str, value: object, high: float) -> float:
    """``value`` as a duration above 0 and at most ``high`` seconds (``"60"`` is accepted)."""
    try:
        return number(name, value, 0, high, exclusive_low=True)
    except ConfigurationError:
        raise ConfigurationError(
            f"{name} must be between 0 and {high:g} seconds; got {value!r}."
        ) from None
