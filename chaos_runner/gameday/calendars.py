"""A plan's cron as other schedulers read time: its fields, systemd calendars, UTC crons.

The plan's own fires (``Plan.next_runs``, ``chaos gameday schedule``) come from croniter on
the wall clock of the plan's zone, so everything here starts from the fields as croniter
reads them, never from the text: cron implementations disagree about ``*/2`` in a day field
(cronie counts it as ``*``, so a weekday beside it is ANDed; robfig's cron in Kubernetes and
croniter do not, so it is ORed). A field is written ``*`` only when croniter reads every
value, and otherwise as a list, which every scheduler reads alike. What a scheduler cannot
say exactly is refused (:class:`ExportError`), never approximated:

- systemd: ``OnCalendar=`` with a zone suffix; cron ORs a restricted day of month with a
  restricted weekday where one systemd event ANDs them, so such a schedule is two events;
- GitHub reads cron in UTC only. For each offset the zone has, each wall-clock time moves
  to UTC, and a time that crosses midnight moves its days too where that is exact; a zone
  with daylight saving gets the lines of each offset, each marked with the offsets it stands
  for. A shift that would carry a day of month or a month across a month's end
  (``0 0 1 * *`` in Berlin is the last day of the previous month in UTC) is refused.

Times a zone skips or repeats (daylight saving) are run differently by each scheduler:
:func:`daylight_notes` names them. Pure functions: the caller passes ``now``.
"""

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from croniter import croniter

from chaos_runner._errors import ConfigurationError

__all__ = [
    "CronFields",
    "ExportError",
    "UtcCron",
    "daylight_notes",
    "parse_cron",
    "systemd_calendars",
    "utc_crons",
    "zone_offsets",
]

#: GitHub's shortest schedule interval (minutes); actionlint refuses anything shorter.
_GITHUB_MIN_INTERVAL_MIN = 5
#: How far ahead a zone's offsets are looked for (days).
_ZONE_HORIZON_DAYS = 3 * 366
_DAY_MIN = 1440

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
#: One item of a standard cron field: ``*``, a number or a name, a range, a step.
_ITEM = re.compile(r"^(\*|\d+|[a-z]{3})(-(\d+|[a-z]{3}))?(/\d+)?$", re.IGNORECASE)
_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
_SYSTEMD_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")  # cron's 0 is Sunday


class ExportError(ConfigurationError):
    """The plan's schedule cannot be written for a scheduler without changing when it
    runs, or an option does not fit the format (the message says which and why)."""


# --- the cron fields -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CronFields:
    """A five-field cron as croniter reads it; ``None`` is a field of every value.

    Day of week 0 is Sunday (7 is read as 0). When both day fields are restricted, a day
    matches either (cron's OR).
    """

    expression: str
    minutes: tuple[int, ...] | None
    hours: tuple[int, ...] | None
    days: tuple[int, ...] | None
    months: tuple[int, ...] | None
    weekdays: tuple[int, ...] | None

    def text(self) -> str:
        """The five fields as every scheduler reads them alike (lists, never ``*/n``)."""
        return " ".join(
            _cron_list(values)
            for values in (self.minutes, self.hours, self.days, self.months, self.weekdays)
        )

    def minutes_of_day(self) -> list[int]:
        """The wall-clock times it names, in minutes after midnight, sorted."""
        return sorted(
            hour * 60 + minute
            for hour in self.hours or range(24)
            for minute in self.minutes or range(60)
        )


def parse_cron(expression: str) -> CronFields:
    """``expression`` read as croniter reads it; only the syntax every scheduler shares.

    Five fields of numbers, three-letter names, ``*``, ranges, steps and lists, or one of
    ``@yearly @monthly @weekly @daily @hourly``. croniter's extensions (``L``, ``W``, ``#``,
    ``H``, ``?``, a seconds field) are refused: cron, systemd, Kubernetes and GitHub do not
    all read them.
    """
    text = _MACROS.get(expression.strip().lower(), expression.strip())
    parts = text.split()
    if len(parts) != 5:
        raise ExportError(
            f"The schedule {expression!r} is not a five-field cron expression (minute, hour, "
            "day of month, month, day of week) that every scheduler reads; exports need one."
        )
    for name, part in zip(_FIELD_NAMES, parts, strict=True):
        if not all(_ITEM.match(item) for item in part.split(",")):
            raise ExportError(
                f"The {name} field {part!r} of the schedule {expression!r} uses syntax that "
                "not every scheduler reads (only numbers, three-letter names, *, ranges a-b, "
                "steps /n and lists a,b): write it with those."
            )
    try:
        expanded, nth = croniter.expand(text)
    except (ValueError, KeyError) as error:  # croniter's CroniterError is a ValueError
        raise ExportError(f"The schedule {expression!r} is not valid cron: {error}.") from None
    if nth:
        raise ExportError(f"The schedule {expression!r} names an nth weekday (#), not cron.")
    minutes, hours, days, months, weekdays = (_values(field) for field in expanded)
    return CronFields(text, minutes, hours, days, months, weekdays)


def _values(field: Sequence[int | str]) -> tuple[int, ...] | None:
    if "*" in field:
        return None
    return tuple(sorted({int(value) for value in field}))


def _cron_list(values: Sequence[int] | None) -> str:
    """``values`` as a cron field: runs of three or more equal steps as ``a-b`` or
    ``a-b/n``, the rest one by one."""
    if values is None:
        return "*"
    return ",".join(
        (f"{a}-{b}" if step == 1 else f"{a}-{b}/{step}") if count >= 3 else f"{a}"
        for a, b, step, count in _runs(values)
    )


def _runs(values: Sequence[int]) -> list[tuple[int, int, int, int]]:
    """``values`` (sorted) cut into arithmetic runs: (first, last, step, count); a run of
    fewer than three values has step 1 or its own step and is written one by one."""
    runs: list[tuple[int, int, int, int]] = []
    i = 0
    while i < len(values):
        j = i
        step = values[i + 1] - values[i] if i + 1 < len(values) else 1
        while j + 1 < len(values) and values[j + 1] - values[j] == step:
            j += 1
        if j - i >= 2:
            runs.append((values[i], values[j], step, j - i + 1))
            i = j + 1
        else:
            runs.append((values[i], values[i], 1, 1))
            i += 1
    return runs


# --- systemd ---------------------------------------------------------------------------------


def systemd_calendars(fields: CronFields, zone: ZoneInfo) -> list[str]:
    """``OnCalendar=`` values that fire exactly when ``fields`` does in ``zone``: one, or
    two when both day fields are restricted (cron ORs them; one systemd event ANDs)."""
    clock = f"{_systemd_list(fields.hours, 2)}:{_systemd_list(fields.minutes, 2)}:00"
    months = _systemd_list(fields.months, 2)
    days = _systemd_list(fields.days, 2)
    suffix = f" {zone.key}"
    if fields.days is not None and fields.weekdays is not None:
        return [
            f"*-{months}-{days} {clock}{suffix}",
            f"{_systemd_weekdays(fields.weekdays)} *-{months}-* {clock}{suffix}",
        ]
    weekdays = "" if fields.weekdays is None else _systemd_weekdays(fields.weekdays) + " "
    return [f"{weekdays}*-{months}-{days} {clock}{suffix}"]


def _systemd_list(values: Sequence[int] | None, width: int) -> str:
    if values is None:
        return "*"
    out = []
    for a, b, step, count in _runs(values):
        if count >= 3:
            out.append(f"{a:0{width}}..{b:0{width}}" + (f"/{step}" if step != 1 else ""))
        else:
            out.append(f"{a:0{width}}")
    return ",".join(out)


def _systemd_weekdays(weekdays: Sequence[int]) -> str:
    """Day names in systemd's week (Monday first), consecutive runs as ``Mon..Fri``."""
    order = sorted((day - 1) % 7 for day in weekdays)  # 0 is Monday

    def name(day: int) -> str:
        return _SYSTEMD_DAYS[(day + 1) % 7]

    out = []
    for a, b, step, count in _runs(order):
        if count >= 3 and step == 1:
            out.append(f"{name(a)}..{name(b)}")
        else:
            out.extend(name(day) for day in range(a, b + 1, step))
    return ",".join(out)


# --- UTC (GitHub) ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UtcCron:
    """One UTC cron line and the zone's UTC offsets (minutes) it stands for."""

    cron: str
    offsets: frozenset[int]


def zone_offsets(zone: ZoneInfo, now: dt.datetime) -> list[int]:
    """The UTC offsets (minutes) ``zone`` has from ``now`` over the next three years."""
    steps = 2 * _ZONE_HORIZON_DAYS  # twice a day
    return sorted({_offset(zone, now + dt.timedelta(hours=12 * i)) for i in range(steps)})


def _offset(zone: ZoneInfo, moment: dt.datetime) -> int:
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None  # an aware moment in a ZoneInfo always has one
    return int(offset.total_seconds() // 60)


def utc_crons(fields: CronFields, zone: ZoneInfo, now: dt.datetime) -> list[UtcCron]:
    """UTC cron lines that, each kept to its offsets, fire when ``fields`` does in ``zone``.

    For each offset the zone has, each wall-clock time moves to UTC; the times that land on
    the same UTC day (before, on or after the local one) and share their minutes make one
    line. A line several offsets share stands for all of them.
    """
    _refuse_too_frequent(fields)
    lines: dict[str, set[int]] = {}
    for offset in zone_offsets(zone, now):
        for line in _utc_lines(fields, offset, zone):
            lines.setdefault(line, set()).add(offset)
    return [UtcCron(line, frozenset(offsets)) for line, offsets in lines.items()]


def _utc_lines(fields: CronFields, offset: int, zone: ZoneInfo) -> list[str]:
    by_shift: dict[int, dict[int, set[int]]] = {}
    for local in fields.minutes_of_day():
        shift, utc = divmod(local - offset, _DAY_MIN)
        by_shift.setdefault(shift, {}).setdefault(utc // 60, set()).add(utc % 60)
    lines = []
    for shift, hours in sorted(by_shift.items()):
        days, months, weekdays = _shifted_days(fields, shift, offset, zone)
        groups: dict[tuple[int, ...], list[int]] = {}
        for hour, minutes in sorted(hours.items()):
            groups.setdefault(tuple(sorted(minutes)), []).append(hour)
        for minute_list, hour_list in groups.items():
            minute_field = None if len(minute_list) == 60 else minute_list
            hour_field = None if len(hour_list) == 24 else tuple(hour_list)
            lines.append(
                " ".join(
                    _cron_list(values)
                    for values in (minute_field, hour_field, days, months, weekdays)
                )
            )
    return lines


_DayFields = tuple[tuple[int, ...] | None, tuple[int, ...] | None, tuple[int, ...] | None]


def _shifted_days(fields: CronFields, shift: int, offset: int, zone: ZoneInfo) -> _DayFields:
    """The day fields one day later (``shift`` 1) or earlier (-1), where that is exact."""
    days, months, weekdays = fields.days, fields.months, fields.weekdays
    if shift == 0 or (days is None and months is None and weekdays is None):
        return days, months, weekdays
    moved = "the day before" if shift < 0 else "the day after"
    where = f"{zone.key} (UTC{offset / 60:+g})"
    if days is not None and (min(days) + shift < 1 or max(days) + shift > 28):
        raise ExportError(
            f"The schedule {fields.expression!r} in {where} falls on {moved} in UTC, and "
            f"day {min(days) if shift < 0 else max(days)} of a month would move across a "
            "month's end, which a UTC cron cannot name (GitHub reads cron in UTC only). "
            "Pick a time of day that stays on the same date in UTC, or another export."
        )
    if months is not None and (days is None or weekdays is not None):
        raise ExportError(
            f"The schedule {fields.expression!r} in {where} falls on {moved} in UTC, and its "
            "months would move at a month's end, which a UTC cron cannot name (GitHub reads "
            "cron in UTC only). Pick a time of day that stays on the same date in UTC, or "
            "another export."
        )
    return (
        None if days is None else tuple(day + shift for day in days),
        months,
        None if weekdays is None else tuple(sorted({(w + shift) % 7 for w in weekdays})),
    )


def _refuse_too_frequent(fields: CronFields) -> None:
    times = fields.minutes_of_day()
    gaps = [b - a for a, b in zip(times, [*times[1:], times[0] + _DAY_MIN], strict=True)]
    if min(gaps) < _GITHUB_MIN_INTERVAL_MIN:
        raise ExportError(
            f"The schedule {fields.expression!r} fires {min(gaps)} minute(s) apart; GitHub "
            f"runs schedules at most every {_GITHUB_MIN_INTERVAL_MIN} minutes."
        )


# --- daylight saving -------------------------------------------------------------------------


def daylight_notes(fields: CronFields, zone: ZoneInfo, now: dt.datetime) -> list[str]:
    """A sentence for each wall-clock time the schedule names that ``zone`` skips or repeats
    in the next year: schedulers run those differently (docs/gameday.md, Exports)."""
    notes = []
    for change, before, after in _changes(zone, now, now + dt.timedelta(days=366)):
        start = change + dt.timedelta(minutes=min(before, after))
        wall = start.replace(tzinfo=None)
        for minute in range(abs(after - before)):
            moment = wall + dt.timedelta(minutes=minute)
            if croniter.match(fields.text(), moment):
                kind = "skips" if after > before else "repeats"
                notes.append(
                    f"{moment:%H:%M} on {moment:%a %Y-%m-%d} is a time {zone.key} {kind} "
                    "(daylight saving); schedulers run such a time differently (see "
                    "docs/gameday.md, Exports): pick a time outside the change to be sure."
                )
                break
    return notes


def _changes(
    zone: ZoneInfo, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, int, int]]:
    """Each moment (naive UTC) ``zone`` changes its offset, with the offsets (minutes)
    before and after."""
    found = []
    low = int(start.timestamp())
    step = 12 * 3600
    while low < end.timestamp():
        before, after = _offset_at(zone, low), _offset_at(zone, low + step)
        if before != after:
            a, b = low, low + step  # the change is in (a, b]
            while b - a > 1:
                middle = (a + b) // 2
                a, b = (middle, b) if _offset_at(zone, middle) == before else (a, middle)
            found.append((dt.datetime.fromtimestamp(b, dt.UTC).replace(tzinfo=None), before, after))
        low += step
    return found


def _offset_at(zone: ZoneInfo, epoch: int) -> int:
    return _offset(zone, dt.datetime.fromtimestamp(epoch, dt.UTC))
