"""Time in a game-day plan's zone: allowed windows, blackouts, and when a cron fires.

Everything here is judged by the wall clock of the plan's time zone, as people write
windows and schedules ("Tuesdays at 10:00 in Berlin"), and the answers are aware datetimes.
Pure functions of their arguments: the scheduler and ``chaos gameday validate`` both use
them, and tests give them any moment they like.

Edges: an hours range is start-inclusive, end-exclusive (``09:00-16:00`` holds 09:00 and
15:59:59, not 16:00; ``24:00`` is the end of the day). A date range is inclusive of both
whole days; a date-time range ends at its ``to`` moment (exclusive).

Daylight-saving changes, like cron: a wall time that does not exist (skipped by the clocks
going forward, 02:30 on the last Sunday of March in Berlin) happens at the moment the clocks
jumped (03:00 summer time); a wall time that happens twice (the clocks going back) counts
once, at its first occurrence.
"""

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from croniter import croniter

__all__ = [
    "DAY_NAMES",
    "Blackout",
    "Span",
    "Weekly",
    "WindowCheck",
    "check",
    "fires",
    "next_open",
    "open_until",
    "stamp",
    "zoned",
]

#: Day names as plans write them; index 0 is Monday (``datetime.weekday()``).
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LABELS = tuple(name.capitalize() for name in DAY_NAMES)
_DAY = 1440  # minutes
#: How far ahead the next opening is looked for (beyond the last dated blackout).
_HORIZON_DAYS = 400


@dataclass(frozen=True, slots=True)
class WindowCheck:
    """Whether a moment is inside the plan's windows, and why, in a sentence."""

    ok: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Weekly:
    """Some days of the week, between two wall-clock times (start inclusive, end exclusive)."""

    days: frozenset[int]  # 0 is Monday
    start: int  # minutes after midnight, 0..1439
    end: int  # minutes after midnight, start+1..1440 (24:00)

    def contains(self, wall: dt.datetime) -> bool:
        """True when the wall-clock time ``wall`` (in the plan's zone) is inside."""
        if wall.weekday() not in self.days:
            return False
        second = wall.hour * 3600 + wall.minute * 60 + wall.second + wall.microsecond / 1e6
        return self.start * 60 <= second < self.end * 60

    def describe(self) -> str:
        """``Mon-Thu 09:00-16:00``, ``every day 22:00-24:00``, ``Sat, Sun all day``."""
        hours = "all day" if (self.start, self.end) == (0, _DAY) else self.hours()
        return f"{_days(self.days)} {hours}"

    def hours(self) -> str:
        """``09:00-16:00``."""
        return f"{_clock(self.start)}-{_clock(self.end)}"

    def boundaries(self, day: dt.date) -> list[int]:
        """The minutes of ``day`` where this window opens or closes."""
        return [self.start, self.end] if day.weekday() in self.days else []


@dataclass(frozen=True, slots=True)
class Span:
    """From one moment to another (start inclusive, end exclusive): a change freeze."""

    start: dt.datetime  # aware
    end: dt.datetime  # aware
    label: str  # as written: "2026-12-18 to 2027-01-04"

    def contains(self, when: dt.datetime) -> bool:
        """True when the moment ``when`` is inside."""
        return self.start <= when < self.end

    def describe(self) -> str:
        """The range as the plan wrote it."""
        return self.label


@dataclass(frozen=True, slots=True)
class Blackout:
    """A named time when no run starts, even inside an allowed window."""

    name: str
    when: Weekly | Span
    line: int  # in the plan file, 1-based

    def contains(self, when: dt.datetime, zone: ZoneInfo) -> bool:
        """True when the moment ``when`` is inside (weekly ones judged in ``zone``)."""
        if isinstance(self.when, Span):
            return self.when.contains(when)
        return self.when.contains(when.astimezone(zone))

    def describe(self, zone: ZoneInfo) -> str:
        """``'No Friday afternoons' (Fri 12:00-24:00 Europe/Berlin)``."""
        return f"'{self.name}' ({self.when.describe()} {zone.key})"


def check(
    when: dt.datetime, zone: ZoneInfo, allowed: Sequence[Weekly], blackouts: Sequence[Blackout]
) -> WindowCheck:
    """Whether a run may start at ``when`` (aware), judged in ``zone``, with the reason."""
    if when.tzinfo is None:
        raise ValueError(f"a moment with a time zone is needed; got {when.isoformat()}")
    for blackout in blackouts:
        if blackout.contains(when, zone):
            return WindowCheck(False, f"inside the blackout {blackout.describe(zone)}")
    if not allowed:
        return WindowCheck(True, "no blackout applies, and the plan allows any time")
    wall = when.astimezone(zone)
    for window in allowed:
        if window.contains(wall):
            return WindowCheck(True, f"inside the allowed window {window.describe()} ({zone.key})")
    opens = next_open(when, zone, allowed, blackouts)
    if opens is None:
        return WindowCheck(
            False, f"outside every allowed window; none opens in the next {_HORIZON_DAYS} days"
        )
    return WindowCheck(False, f"outside every allowed window; the next opens {stamp(opens)}")


def next_open(
    when: dt.datetime, zone: ZoneInfo, allowed: Sequence[Weekly], blackouts: Sequence[Blackout]
) -> dt.datetime | None:
    """The first moment after ``when`` at which a run may start; None within the horizon."""
    for moment in _changes(when, zone, allowed, blackouts, _horizon(when, blackouts)):
        if _open(moment, zone, allowed, blackouts):
            return moment
    return None


def open_until(
    when: dt.datetime,
    zone: ZoneInfo,
    allowed: Sequence[Weekly],
    blackouts: Sequence[Blackout],
    horizon: dt.timedelta,
) -> dt.datetime | None:
    """The first moment after ``when`` at which runs may no longer start (the allowed window
    closes or a blackout begins), looking ``horizon`` ahead; None when none comes by then."""
    for moment in _changes(when, zone, allowed, blackouts, when + horizon):
        if not _open(moment, zone, allowed, blackouts):
            return moment
    return None


def fires(cron: str, zone: ZoneInfo, after: dt.datetime, count: int = 1) -> list[dt.datetime]:
    """The next ``count`` moments strictly after ``after`` (aware) that ``cron`` names,
    read on the wall clock of ``zone`` (see the module's note on daylight saving)."""
    if after.tzinfo is None:
        raise ValueError(f"a moment with a time zone is needed; got {after.isoformat()}")
    # Wall times before ``after``'s own are never later moments (a repeated time counts at
    # its first occurrence); in the repeated hour some later wall times are earlier moments,
    # and a skipped one may be the same moment as the next: the filter drops both.
    times = croniter(cron, after.astimezone(zone).replace(tzinfo=None))
    found: list[dt.datetime] = []
    while len(found) < count:
        moment = zoned(times.get_next(dt.datetime), zone)
        if moment > after and (not found or moment > found[-1]):
            found.append(moment)
    return found


def zoned(wall: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The moment the wall-clock time ``wall`` (naive) names in ``zone``.

    A time that happens twice is its first occurrence; a time skipped by the clocks going
    forward is the moment they jumped (02:30 -> 03:00 summer time, as cron runs it).
    """
    first = wall.replace(tzinfo=zone, fold=0)
    if first.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap: fold=1 reads it with the offset after the jump (a moment before the jump),
    # fold=0 with the offset before it (a moment after). Find the jump between the two.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(first.timestamp())
    after_offset = dt.datetime.fromtimestamp(high, zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if dt.datetime.fromtimestamp(middle, zone).utcoffset() == after_offset:
            high = middle
        else:
            low = middle
    return dt.datetime.fromtimestamp(high, zone)


def stamp(when: dt.datetime, seconds: bool = False) -> str:
    """``Tue 2026-12-01 09:00 Europe/Berlin`` (the zone ``when`` carries)."""
    zone = when.tzinfo
    name = zone.key if isinstance(zone, ZoneInfo) else when.strftime("%Z")
    return f"{when.strftime('%a %Y-%m-%d %H:%M' + (':%S' if seconds else ''))} {name}"


def _open(
    when: dt.datetime, zone: ZoneInfo, allowed: Sequence[Weekly], blackouts: Sequence[Blackout]
) -> bool:
    if any(blackout.contains(when, zone) for blackout in blackouts):
        return False
    wall = when.astimezone(zone)
    return not allowed or any(window.contains(wall) for window in allowed)


def _changes(
    when: dt.datetime,
    zone: ZoneInfo,
    allowed: Sequence[Weekly],
    blackouts: Sequence[Blackout],
    until: dt.datetime,
) -> Iterator[dt.datetime]:
    """Every moment after ``when`` and up to ``until`` where a window or blackout opens or
    closes (and each midnight), in order: between two of them, nothing changes."""
    weekly = [*allowed, *(b.when for b in blackouts if isinstance(b.when, Weekly))]
    spans = [b.when for b in blackouts if isinstance(b.when, Span)]
    day = when.astimezone(zone).date()
    last = until.astimezone(zone).date()
    while day <= last:
        minutes = {0, *(m for window in weekly for m in window.boundaries(day) if m < _DAY)}
        midnight = dt.datetime.combine(day, dt.time())
        moments = {zoned(midnight + dt.timedelta(minutes=m), zone) for m in minutes}
        moments |= {
            edge
            for span in spans
            for edge in (span.start, span.end)
            if edge.astimezone(zone).date() == day
        }
        yield from sorted(m for m in moments if when < m <= until)
        day += dt.timedelta(days=1)


def _horizon(when: dt.datetime, blackouts: Sequence[Blackout]) -> dt.datetime:
    ends = [b.when.end for b in blackouts if isinstance(b.when, Span)]
    return max([when, *ends]) + dt.timedelta(days=_HORIZON_DAYS)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _days(days: frozenset[int]) -> str:
    """``Mon-Thu``, ``Mon, Wed, Fri``, ``every day``."""
    if len(days) == 7:
        return "every day"
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = [
        f"{_LABELS[run[0]]}-{_LABELS[run[-1]]}"
        if len(run) > 2
        else ", ".join(_LABELS[d] for d in run)
        for run in runs
    ]
    return ", ".join(parts)
