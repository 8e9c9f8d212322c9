"""The timeline of a game day: an append-only JSON Lines file of everything that happened.

One event a line, appended under an exclusive lock and fsynced, by every process that takes
part: the game day's own process (phases, samples, verdicts), each ``chaos run`` it starts
(faults in and out, through the ledger; safeguard and halt aborts) and ``chaos gameday
note`` from another terminal. A run takes part when ``CHAOS_TIMELINE`` names the file
(``CHAOS_TIMELINE_EXPERIMENT`` names the experiment it runs); otherwise :func:`record` does
nothing, so plain ``chaos run`` and the gate are unchanged.

Every event has ``at`` (epoch seconds), ``time`` (ISO 8601, UTC), ``kind`` (see
docs/gameday.md), ``text`` (one sentence for a person, about the system, never a person's
fault) and ``experiment`` (or null), plus fields of its kind. Readers skip a line that does
not parse (a write torn by a crash) and say how many they skipped; nothing is ever
rewritten.
"""

import contextlib
import datetime as dt
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "EXPERIMENT_VARIABLE",
    "TIMELINE_VARIABLE",
    "Timeline",
    "append",
    "event",
    "read",
    "record",
]

#: The variable naming the timeline file a run appends to (set by `chaos gameday run`).
TIMELINE_VARIABLE = "CHAOS_TIMELINE"
#: The variable naming the experiment the run plays (its file's stem).
EXPERIMENT_VARIABLE = "CHAOS_TIMELINE_EXPERIMENT"


def event(kind: str, text: str, experiment: str | None = None, **fields: Any) -> dict[str, Any]:
    """A timeline event as written: ``at``, ``time``, ``kind``, ``text``, ``experiment``, ..."""
    now = fields.pop("at", None) or time.time()
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="milliseconds")
    return {
        "at": now,
        "time": stamp.replace("+00:00", "Z"),
        "kind": kind,
        "text": text,
        "experiment": experiment,
        **fields,
    }


def append(path: Path, item: dict[str, Any]) -> None:
    """Append one event to ``path`` (created with its directory), durable when this returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(item, separators=(",", ":"), default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock


def record(kind: str, text: str, **fields: Any) -> None:
    """Append an event to ``$CHAOS_TIMELINE`` when a game day runs this process; else nothing.

    Never raises: the timeline is a record for people, and a run must not fail (or skip a
    restore) because its file could not be written.
    """
    path = os.environ.get(TIMELINE_VARIABLE)
    if not path:
        return
    experiment = os.environ.get(EXPERIMENT_VARIABLE) or None
    with contextlib.suppress(OSError, ValueError, TypeError):
        append(Path(path), event(kind, text, experiment, **fields))


@dataclass(frozen=True, slots=True)
class Timeline:
    """The events of a timeline file in the order of ``at``, and how many lines were skipped."""

    events: list[dict[str, Any]]
    skipped: int


def read(path: Path) -> Timeline:
    """Every event of ``path`` sorted by ``at`` (stable); lines that do not parse are counted.

    Raises ``OSError`` when the file cannot be read.
    """
    events: list[dict[str, Any]] = []
    skipped = 0
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            skipped += 1
            continue
        at = item.get("at") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(at, int | float) or "kind" not in item:
            skipped += 1
            continue
        events.append(item)
    events.sort(key=lambda item: float(item["at"]))
    return Timeline(events, skipped)
