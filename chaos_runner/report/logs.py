"""The lines of a run's log that a report shows: warnings, errors, our verdict, the pages.

``chaos gate --out DIR`` keeps each run's ``chaos.log`` beside its ``journal.json``; a
plain ``chaos run`` appends to ``chaostoolkit.log`` in the directory it ran in, which is
also where it writes ``journal.json`` by default. :func:`read_log` finds such a log beside
a journal, keeps only the last run in it (from its last ``Running experiment:`` line), and
only when that run is the journal's experiment (same title). Of that run it keeps:

- every ``WARNING``, ``ERROR`` and ``CRITICAL`` line (at most :data:`MAX_LINES`, the first
  ones; how many were left out is said);
- the lines of the safety control (``[safety:...]``): the restore at the end and the
  verdict's summary, which ends every run of our experiments (always kept);
- the ``Pages (...)`` line: which pages played which role (``@cached``, ``@victim``...);
- Chaos Toolkit's ``Experiment ended with status:`` line.

A log is read as text whatever it holds (undecodable bytes are replaced), its terminal
colours are removed, each kept line is cut at :data:`MAX_LINE_CHARS`, and at most
:data:`MAX_BYTES` of the file's end are read: it is shown, never trusted.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LOG_NAMES",
    "MAX_LINES",
    "LogExcerpt",
    "LogLine",
    "read_log",
    "read_log_file",
    "select",
]

#: Log files looked for beside a journal, in this order.
LOG_NAMES = ("chaos.log", "chaostoolkit.log")
#: At most this many warning/error/other lines (the verdict's lines come on top).
MAX_LINES = 40
MAX_LINE_CHARS = 400
#: Only the end of a longer log is read (a shared chaostoolkit.log grows with every run).
MAX_BYTES = 4 * 1024 * 1024

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_LINE = re.compile(
    r"^\[(?P<time>[0-9-]+ [0-9:,.]+) (?P<level>[A-Z]+)\] \[(?P<where>[^\]]*)\] (?P<message>.*)$"
)
_RUN_STARTS = "Running experiment: "
_LOUD = frozenset({"WARNING", "ERROR", "CRITICAL"})


@dataclass(frozen=True, slots=True)
class LogLine:
    """One kept line: when, its level, where it was logged (``safety:192``), what."""

    time: str
    level: str
    where: str
    message: str


@dataclass(frozen=True, slots=True)
class LogExcerpt:
    """The kept lines of one run's log, and what the reader should know about them."""

    path: Path
    lines: tuple[LogLine, ...]
    left_out: int  # warning/error lines beyond MAX_LINES
    note: str  # why nothing was kept, when nothing was


def _parse(text: str) -> LogLine | None:
    found = _LINE.match(_ANSI.sub("", text).rstrip())
    if found is None:
        return None
    message = found["message"]
    if len(message) > MAX_LINE_CHARS:
        message = message[: MAX_LINE_CHARS - 1] + "…"
    return LogLine(found["time"], found["level"], found["where"], message)


def _wanted(line: LogLine) -> bool:
    return (
        line.level in _LOUD
        or line.message.startswith("Pages (")
        or line.message.startswith("Experiment ended with status:")
    )


def _ours(line: LogLine) -> bool:
    """The safety control's lines: the restore at the end and the verdict's summary."""
    return line.where.startswith("safety:") and line.level not in _LOUD


def select(lines: Sequence[str], title: str | None = None) -> tuple[list[LogLine], int, str]:
    """The lines to show of a log's ``lines`` (see the module doc), how many were left out,
    and why none were kept (``""`` when some were)."""
    parsed = [line for line in map(_parse, lines) if line is not None]
    starts = [i for i, line in enumerate(parsed) if line.message.startswith(_RUN_STARTS)]
    if starts:
        run = parsed[starts[-1] :]
        started = run[0].message.removeprefix(_RUN_STARTS).strip()
        if title is not None and started != title.strip():
            return [], 0, f"the last run in this log is another experiment ({started!r})"
    elif title is not None and parsed:
        return [], 0, "this log holds no start of a run (no 'Running experiment:' line)"
    else:
        run = parsed
    kept: list[LogLine] = []
    left_out = 0
    for line in run:
        if _ours(line):
            kept.append(line)
        elif _wanted(line):
            if sum(not _ours(k) for k in kept) < MAX_LINES:
                kept.append(line)
            else:
                left_out += 1
    note = "" if kept or not run else "no warning, error or verdict line in this run"
    return kept, left_out, note if run else "the log is empty"


def read_log(journal_path: Path, title: str | None = None) -> LogExcerpt | None:
    """The kept lines of the log beside ``journal_path``; None when there is no log there.

    ``title`` is the journal's experiment title: a log whose last run is another
    experiment gives no line (its ``note`` says so).
    """
    for name in LOG_NAMES:
        path = journal_path.parent / name
        if path.is_file():
            return read_log_file(path, title)
    return None


def read_log_file(path: Path, title: str | None = None) -> LogExcerpt | None:
    """The kept lines of the log at ``path`` (see :func:`read_log`); None when unreadable."""
    try:
        with path.open("rb") as log:
            log.seek(0, 2)
            size = log.tell()
            log.seek(max(0, size - MAX_BYTES))
            data = log.read(MAX_BYTES)
    except OSError:
        return None
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > MAX_BYTES and lines:
        lines = lines[1:]  # the first line read may be cut in two
    kept, left_out, note = select(lines, title)
    return LogExcerpt(path, tuple(kept), left_out, note)
