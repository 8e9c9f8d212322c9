"""What the HTML report reads from a journal beside the verdict: activities and timelines.

The verdict (:mod:`chaos_runner.verdict`) says what a run proved; a reader of the report
also wants to see *when*: each activity with its time, what each probe measured, and the
probes' figures over time. This module reads them from the journal, as untrusted input:
any field may be missing, of another type, or absurd; what cannot be read is left out,
never raised.

Times are seconds since the run started (the journal's ``start``; else its first
activity). The series (:class:`Series`) of a run's :class:`Timeline`:

Availability (percent)
    ``load``: each load-shaped output (``probes.load.measurement``,
    ``probes.http.availability``/``latency_percentiles``), one point per second of its
    ``timeline`` (successes / requests due that second), or one point over the whole
    measurement when it has no timeline. ``pages``: each page probe
    (``probes.http.responses``/``expect_responses``), the share of its pages answered
    200-399, at the time it ran. ``watch``: the watch probe's segments
    (``probes.watch.health_timeline``), 100 while its samples were healthy, 0 while not.
Latency (milliseconds)
    ``p99`` and ``p50``: per second of a load's timeline (the load probe keeps p50 and p99
    per second); ``p95``: each load measurement's p95, drawn across the measurement (the
    journal has no p95 per second); ``watch-max``: the slowest sample of each watch
    segment.

Fault windows come from the verdict's faults (ledger ``injected_at`` to ``closed_at``);
marks are the activities that failed or missed their tolerance (deviations), and the
watch's detection and recovery.
"""

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chaos_runner.values import epoch as _epoch
from chaos_runner.values import list_of as _list
from chaos_runner.values import mapping as _mapping
from chaos_runner.values import number as _number
from chaos_runner.values import text as _text
from chaos_runner.verdict import FaultOutcome, format_availability, format_ms, format_seconds

__all__ = [
    "MAX_POINTS",
    "Activity",
    "Bound",
    "Mark",
    "Point",
    "Series",
    "Span",
    "Timeline",
    "Window",
    "activities",
    "describe_output",
    "describe_tolerance",
    "hypothesis",
    "timeline",
]

#: At most this many points in one series: a journal may hold anything.
MAX_POINTS = 4000
#: Pages listed by :func:`describe_output` before "and N more".
_MAX_PAGES = 8
_RESTORE_MODULE = "chaos_runner.faults.ledger"

# -- reading untrusted values ----------------------------------------------------------------


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- activities ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Activity:
    """One activity as the journal recorded it; times in seconds since the run started."""

    phase: str  # before, method, during, after, rollbacks
    name: str
    type: str  # probe, action
    function: str  # module.func
    status: str  # succeeded, failed
    start: float | None
    end: float | None
    output: Any
    message: str  # the exception's last line, when it failed
    tolerance: Any
    tolerance_met: bool | None
    background: bool

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def missed(self) -> bool:
        """Failed, or out of its tolerance: a deviation (or a fault not in effect)."""
        return self.failed or self.tolerance_met is False

    @property
    def is_restore(self) -> bool:
        return self.function.startswith(_RESTORE_MODULE + ".")


def _message(exception: Any) -> str:
    lines = [line for line in _list(exception) if isinstance(line, str) and line.strip()]
    message = lines[-1].strip() if lines else ""
    while message.startswith("chaoslib.exceptions.ActivityFailed: "):
        message = message.removeprefix("chaoslib.exceptions.ActivityFailed: ")
    return message


def _activity(raw: Any, phase: str, t0: float) -> Activity:
    run = _mapping(raw)
    declared = _mapping(run.get("activity"))
    provider = _mapping(declared.get("provider"))
    module, func = _text(provider.get("module")), _text(provider.get("func"))
    start, end = _epoch(run.get("start")), _epoch(run.get("end"))
    met = run.get("tolerance_met")
    return Activity(
        phase=phase,
        name=_text(declared.get("name")) or "(unnamed activity)",
        type=_text(declared.get("type")),
        function=f"{module}.{func}" if module else func or _text(provider.get("path")),
        status=_text(run.get("status")),
        start=None if start is None else start - t0,
        end=None if end is None else end - t0,
        output=run.get("output"),
        message=_message(run.get("exception")),
        tolerance=declared.get("tolerance"),
        tolerance_met=met if isinstance(met, bool) else None,
        background=declared.get("background") is True,
    )


def _start(journal: Mapping[str, Any]) -> float:
    """Epoch seconds of the run's start: ``start``, else the first activity; else 0."""
    start = _epoch(journal.get("start"))
    if start is not None:
        return start
    runs = [*_list(journal.get("run")), *_list(journal.get("rollbacks"))]
    states = _mapping(journal.get("steady_states"))
    for state in (states.get("before"), states.get("after"), *_list(states.get("during"))):
        runs += _list(_mapping(state).get("probes"))
    times = [t for t in (_epoch(_mapping(r).get("start")) for r in runs) if t is not None]
    return min(times, default=0.0)


def activities(journal: Mapping[str, Any]) -> tuple[Activity, ...]:
    """Every activity of the journal, in the order of the run's phases."""
    t0 = _start(journal)
    states = _mapping(journal.get("steady_states"))
    found: list[Activity] = []
    for raw in _list(_mapping(states.get("before")).get("probes")):
        found.append(_activity(raw, "before", t0))
    for raw in _list(journal.get("run")):
        found.append(_activity(raw, "method", t0))
    for state in _list(states.get("during")):
        found += [_activity(raw, "during", t0) for raw in _list(_mapping(state).get("probes"))]
    for raw in _list(_mapping(states.get("after")).get("probes")):
        found.append(_activity(raw, "after", t0))
    for raw in _list(journal.get("rollbacks")):
        found.append(_activity(raw, "rollbacks", t0))
    return tuple(found)


def hypothesis(journal: Mapping[str, Any]) -> str:
    """The title of the experiment's steady-state hypothesis; "" when it has none."""
    experiment = _mapping(journal.get("experiment"))
    return _text(_mapping(experiment.get("steady-state-hypothesis")).get("title"))


# -- what a probe measured, what its tolerance asks, in words -------------------------------


def _load_shaped(output: Any) -> bool:
    return (
        isinstance(output, Mapping)
        and _number(output.get("total")) is not None
        and _number(output.get("successes")) is not None
        and isinstance(output.get("status_counts"), Mapping)
    )


def _pages_shaped(output: Any) -> bool:
    return (
        isinstance(output, Mapping)
        and bool(output)
        and all(
            isinstance(page, Mapping) and "status" in page and "x_cache" in page
            for page in output.values()
        )
    )


def _watch_shaped(output: Any) -> bool:
    return isinstance(output, Mapping) and "segments" in output and "time_to_detect_s" in output


def _cache_label(label: str) -> str:
    head, sep, tail = label.rpartition(" from ")
    return head if sep and tail.lower() == "cloudfront" else label


def _mix(counts: Any, label: Any = str) -> str:
    pairs = [(label(str(k)), _number(v)) for k, v in _mapping(counts).items()]
    return ", ".join(f"{k} x{int(v)}" for k, v in pairs if v)


def _describe_load(output: Mapping[str, Any]) -> str:
    total = int(_number(output.get("total")) or 0)
    successes = int(_number(output.get("successes")) or 0)
    share = successes / total if total else None
    parts = [f"availability {format_availability(share)} ({successes} of {total} requests)"]
    latency = _mapping(output.get("latency_ms"))
    for key in ("p50", "p95", "p99"):
        value = _number(output.get(f"{key}_ms"))
        value = _number(latency.get(key)) if value is None else value
        if value is not None:
            parts.append(f"{key} {format_ms(value)}")
    text = ", ".join(parts)
    statuses = _mix(output.get("status_counts"))
    errors = _mix(output.get("errors"))
    if statuses or errors:
        text += "; status " + ", ".join(filter(None, (statuses, errors)))
    if x_cache := _mix(output.get("x_cache"), _cache_label):
        text += f"; X-Cache {x_cache}"
    return text


def _describe_pages(output: Mapping[str, Any]) -> str:
    shown = []
    for path, raw in list(output.items())[:_MAX_PAGES]:
        page = _mapping(raw)
        status = _number(page.get("status"))
        answer = str(int(status)) if status is not None else _short(page.get("error"), 40)
        cache = _cache_label(_text(page.get("x_cache")))
        shown.append(f"{_short(path, 60)} {answer}" + (f" {cache}" if cache else ""))
    more = len(output) - _MAX_PAGES
    return "; ".join(shown) + (f"; and {more} more page(s)" if more > 0 else "")


def _describe_watch(output: Mapping[str, Any]) -> str:
    samples = int(_number(output.get("samples")) or 0)
    text = f"{samples} samples, {format_availability(_number(output.get('availability')))} healthy"
    during = _number(output.get("availability_during_fault"))
    if during is not None:
        text += f" ({format_availability(during)} during the fault)"
    if output.get("faults") is None:
        text += "; saw no fault of this run"
    else:
        ttd, ttr = _number(output.get("time_to_detect_s")), _number(output.get("time_to_recover_s"))
        text += "; time to detect " + (format_seconds(ttd) if ttd is not None else "n/a")
        text += ", time to recover " + (format_seconds(ttr) if ttr is not None else "n/a")
    if stopped := _text(output.get("stopped_because")):
        text += f"; stopped: {stopped}"
    return text


def _restore_shaped(output: Any) -> bool:
    return isinstance(output, Mapping) and isinstance(output.get("restored"), list)


def _describe_restore(output: Mapping[str, Any]) -> str:
    records = [_mapping(record) for record in _list(output.get("restored"))]
    if not records:
        return "nothing left to restore"
    shown = []
    for record in records[:_MAX_PAGES]:
        took = _number(record.get("seconds"))
        state = _text(record.get("state")) or "?"
        detail = _text(record.get("detail")) or _text(record.get("fault"))
        shown.append(
            f"{state}{'' if took is None else ' in ' + format_seconds(took)}: {_short(detail, 120)}"
        )
    more = len(records) - _MAX_PAGES
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


#: Keys of an output that say nothing the report does not already say (the site's URL).
_LEFT_OUT = frozenset({"url"})
_MAX_PAIRS = 10


def _value_words(value: Any) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return _short(value, 60)
    if isinstance(value, list | tuple):
        if len(value) > 3 or any(isinstance(item, Mapping | list) for item in value):
            return f"[{len(value)} item(s)]"
        return _short(value, 60)
    if isinstance(value, Mapping) and len(value) > 4:
        return f"{{{len(value)} key(s)}}"
    return _short(value, 60)


def describe_output(output: Any) -> str:
    """What a probe measured (or an action returned), in one line."""
    if output is None:
        return "no output"
    for shaped, describe in (
        (_load_shaped, _describe_load),
        (_pages_shaped, _describe_pages),
        (_watch_shaped, _describe_watch),
        (_restore_shaped, _describe_restore),
    ):
        if shaped(output):
            return describe(output)
    if not isinstance(output, Mapping):
        return _short(output, 160)
    items = [(k, v) for k, v in output.items() if k not in _LEFT_OUT]
    pairs = [f"{_short(str(key), 40)}={_value_words(value)}" for key, value in items[:_MAX_PAIRS]]
    more = len(items) - _MAX_PAIRS
    return ", ".join(pairs) + (f", and {more} more" if more > 0 else "")


#: service_levels_met's bounds: argument, words, relation, unit.
_BOUNDS = (
    ("min_availability", "availability", "≥", "%"),
    ("max_p50_ms", "p50", "≤", "ms"),
    ("max_p95_ms", "p95", "≤", "ms"),
    ("max_p99_ms", "p99", "≤", "ms"),
    ("min_hit_ratio", "hit ratio", "≥", ""),
    ("max_time_to_detect_s", "time to detect", "≤", "s"),
    ("max_time_to_recover_s", "time to recover", "≤", "s"),
)


def _in_unit(value: float, unit: str) -> str:
    if unit == "%":
        return format_availability(value)
    if unit == "ms":
        return format_ms(value)
    if unit == "s":
        return format_seconds(value)
    return f"{value:g}"


def _range_words(tolerance: Mapping[str, Any]) -> str:
    target = _text(tolerance.get("target")) or "value"
    bounds = [_number(b) for b in _list(tolerance.get("range"))]
    if len(bounds) != 2 or bounds[0] is None or bounds[1] is None:
        return f"{target} in {_short(tolerance.get('range'), 40)}"
    unit = "ms" if target.endswith("_ms") else ""
    unit = "%" if target in ("availability", "integrity") else unit
    low, high = _in_unit(bounds[0], unit), _in_unit(bounds[1], unit)
    words = target.removesuffix("_ms")
    return f"{words} = {low}" if low == high else f"{words} from {low} to {high}"


def _probe_words(tolerance: Mapping[str, Any]) -> str:
    provider = _mapping(tolerance.get("provider"))
    arguments = {k: v for k, v in _mapping(provider.get("arguments")).items() if k != "value"}
    if _text(provider.get("func")) == "service_levels_met":
        bounds = [
            f"{words} {relation} {_in_unit(bound, unit)}"
            for argument, words, relation, unit in _BOUNDS
            if (bound := _number(arguments.get(argument))) is not None
        ]
        return ", ".join(bounds) or "service levels (no bound given)"
    func = ".".join(filter(None, (_text(provider.get("module")), _text(provider.get("func")))))
    with_arguments = f" with {_short(arguments, 80)}" if arguments else ""
    return f"the probe {func or _text(tolerance.get('name')) or '(unnamed)'}{with_arguments}"


def _matching_words(tolerance: Mapping[str, Any]) -> str:
    kind = _text(tolerance.get("type"))
    what = _text(tolerance.get("path")) or _text(tolerance.get("pattern"))
    expect = tolerance.get("expect")
    return f"{kind} {_short(what, 60)}" + (f" = {_short(expect, 40)}" if expect else "")


def describe_tolerance(tolerance: Any) -> str:
    """What a probe's tolerance asks, in words; "" for a probe without one."""
    if tolerance is None:
        return ""
    if isinstance(tolerance, bool):
        return f"returns {str(tolerance).lower()}"
    if isinstance(tolerance, list | tuple):
        return f"returns one of {_short(tolerance, 60)}"
    if not isinstance(tolerance, Mapping):
        return f"returns {_short(tolerance, 60)}"
    words = {"range": _range_words, "probe": _probe_words}
    words |= {"jsonpath": _matching_words, "regex": _matching_words}
    kind = _text(tolerance.get("type"))
    return words[kind](tolerance) if kind in words else _short(tolerance, 100)


# -- the timeline ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Point:
    t: float  # seconds since the run started
    value: float


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a chart: connected runs of points (a run per measurement)."""

    key: str  # load, pages, watch, p99, p50, p95, watch-max
    label: str
    style: str  # line, step, points, dashed
    runs: tuple[tuple[Point, ...], ...]

    @property
    def size(self) -> int:
        return sum(len(run) for run in self.runs)


@dataclass(frozen=True, slots=True)
class Window:
    """A fault in effect, from its injection to its restore (None: not restored, or not known)."""

    label: str
    start: float | None  # None: not injected, or when not known (the window is not drawn)
    end: float | None
    state: str  # restored, irreversible, open, conflict, unknown


@dataclass(frozen=True, slots=True)
class Mark:
    """A moment to point at: a deviation, the watch's detection or recovery."""

    t: float
    kind: str  # deviation, detected, recovered
    label: str


@dataclass(frozen=True, slots=True)
class Span:
    """A part of the run: the steady state before, the method, the steady state after."""

    label: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Bound:
    """A latency bound of a steady-state tolerance (``max_p95_ms: 300``), for the chart."""

    key: str  # p50, p95, p99
    ms: float


@dataclass(frozen=True, slots=True)
class Timeline:
    begin: float  # the first second the chart shows (its first activity)
    end: float  # the last second the chart shows
    availability: tuple[Series, ...]
    latency: tuple[Series, ...]
    windows: tuple[Window, ...]
    marks: tuple[Mark, ...]
    spans: tuple[Span, ...]
    bounds: tuple[Bound, ...] = ()


class _Builder:
    """Collects points by series, bounded by MAX_POINTS."""

    def __init__(self) -> None:
        self.runs: dict[str, list[tuple[Point, ...]]] = {}
        self.sizes: dict[str, int] = {}

    def add(self, key: str, points: Sequence[Point]) -> None:
        room = MAX_POINTS - self.sizes.get(key, 0)
        if points and room > 0:
            kept = tuple(points[:room])
            self.runs.setdefault(key, []).append(kept)
            self.sizes[key] = self.sizes.get(key, 0) + len(kept)

    def series(self, key: str, label: str, style: str) -> Series | None:
        runs = self.runs.get(key)
        return Series(key, label, style, tuple(runs)) if runs else None


def _load_points(run: Activity, out: _Builder) -> None:
    output = _mapping(run.output)
    start, end = run.start, run.end
    if start is None:
        return
    rows = [_mapping(row) for row in _list(output.get("timeline"))]
    availability, p99, p50 = [], [], []
    for row in rows:
        second, requests = _number(row.get("second")), _number(row.get("requests"))
        if second is None or not requests:
            continue
        # the middle of that second, or of its part before the measurement ended
        last = start + second + 1 if end is None else min(start + second + 1, max(end, start))
        t = (start + second + max(last, start + second)) / 2
        successes = _number(row.get("successes")) or 0.0
        availability.append(Point(t, 100 * min(successes / requests, 1.0)))
        if (value := _number(row.get("p99_ms"))) is not None:
            p99.append(Point(t, value))
        if (value := _number(row.get("p50_ms"))) is not None:
            p50.append(Point(t, value))
    total = _number(output.get("total")) or 0.0
    if not availability and total:
        middle = start if end is None else (start + end) / 2
        share = (_number(output.get("successes")) or 0.0) / total
        availability.append(Point(middle, 100 * min(share, 1.0)))
    out.add("load", availability)
    out.add("p99", p99)
    out.add("p50", p50)
    p95 = _number(output.get("p95_ms"))
    if p95 is None:
        p95 = _number(_mapping(output.get("latency_ms")).get("p95"))
    if p95 is not None:
        out.add("p95", [Point(start, p95), Point(end if end is not None else start, p95)])


def _pages_point(run: Activity, out: _Builder) -> None:
    pages = [_mapping(page) for page in _mapping(run.output).values()]
    t = run.end if run.end is not None else run.start
    if t is None or not pages:
        return
    served = 0
    for page in pages:
        status = _number(page.get("status"))
        served += status is not None and 200 <= status < 400
    out.add("pages", [Point(t, 100 * served / len(pages))])


def _watch_points(run: Activity, out: _Builder, t0: float) -> None:
    output = _mapping(run.output)
    started = _number(output.get("started_at"))
    base = started - t0 if started is not None else run.start
    if base is None:
        return
    rate = _number(output.get("rate")) or 10.0
    step = 1 / rate if rate > 0 else 0.1
    health: list[Point] = []
    slowest: list[Point] = []
    for segment in map(_mapping, _list(output.get("segments"))):
        first, last = _number(segment.get("start_s")), _number(segment.get("end_s"))
        if first is None or last is None:
            continue
        value = 100.0 if segment.get("healthy") is True else 0.0
        health += [Point(base + first, value), Point(base + last + step, value)]
        if (high := _number(segment.get("max_ms"))) is not None:
            slowest += [Point(base + first, high), Point(base + last + step, high)]
    out.add("watch", health)
    out.add("watch-max", slowest)


def _watch_marks(run: Activity, t0: float) -> Iterator[Mark]:
    output = _mapping(run.output)
    detected, recovered = _number(output.get("detected_at")), _number(output.get("recovered_at"))
    if detected is not None:
        ttd = _number(output.get("time_to_detect_s"))
        yield Mark(detected - t0, "detected", f"detected (time to detect {format_seconds(ttd)})")
    if recovered is not None:
        ttr = _number(output.get("time_to_recover_s"))
        words = f"recovered (time to recover {format_seconds(ttr)})"
        yield Mark(recovered - t0, "recovered", words)


def _windows(faults: Sequence[FaultOutcome], t0: float) -> list[Window]:
    """One window per fault, in the verdict's order (so F1, F2... name the same fault)."""
    windows = []
    for fault in faults:
        drawn = fault.injected and fault.injected_at is not None
        start = fault.injected_at - t0 if drawn and fault.injected_at is not None else None
        end = None if fault.restored_at is None else fault.restored_at - t0
        label = fault.name or fault.description or "fault"
        windows.append(Window(label, start, end, fault.state or "unknown"))
    return windows


def _spans(found: Sequence[Activity]) -> list[Span]:
    spans = []
    for phase, label in (("before", "before"), ("method", "method"), ("after", "after")):
        starts = [a.start for a in found if a.phase == phase and a.start is not None]
        ends = [a.end for a in found if a.phase == phase and a.end is not None]
        if starts and ends:
            spans.append(Span(label, min(starts), max(*ends, min(starts))))
    return spans


def _bounds(found: Sequence[Activity]) -> list[Bound]:
    """The latency bounds of the steady state's ``service_levels_met`` tolerances."""
    bounds: dict[tuple[str, float], Bound] = {}
    for run in found:
        tolerance = _mapping(run.tolerance)
        provider = _mapping(tolerance.get("provider"))
        if run.phase not in ("before", "after") or provider.get("func") != "service_levels_met":
            continue
        arguments = _mapping(provider.get("arguments"))
        for key in ("p50", "p95", "p99"):
            if (ms := _number(arguments.get(f"max_{key}_ms"))) is not None and ms > 0:
                bounds.setdefault((key, ms), Bound(key, ms))
    return list(bounds.values())


def timeline(journal: Mapping[str, Any], faults: Sequence[FaultOutcome]) -> Timeline:
    """The run's figures over time (see the module doc); ``faults`` are the verdict's."""
    t0 = _start(journal)
    found = activities(journal)
    out = _Builder()
    marks: list[Mark] = []
    for run in found:
        if _load_shaped(run.output):
            _load_points(run, out)
        elif _pages_shaped(run.output):
            _pages_point(run, out)
        elif _watch_shaped(run.output):
            _watch_points(run, out, t0)
            marks += _watch_marks(run, t0)
        if run.missed:
            t = run.end if run.end is not None else run.start
            if t is not None:
                marks.append(Mark(t, "deviation", f"{run.phase}: {run.name}"))
    windows = _windows(faults, t0)
    # From the first activity to the last: the time a run spends before (a sandbox starting)
    # or after (one stopping) is not drawn, but the axis still counts from the run's start.
    times = [t for a in found for t in (a.start, a.end) if t is not None]
    times += [t for w in windows if w.start is not None for t in (w.start, w.end) if t is not None]
    times += [p.t for runs in out.runs.values() for run in runs for p in run]
    if not times:
        times = [0.0, _number(journal.get("duration")) or 0.0]
    begin, end = min(times), max(times)
    availability = (
        out.series("watch", "watch: samples healthy", "step"),
        out.series("load", "load: requests served, per second", "line"),
        out.series("pages", "page probes: pages served", "points"),
    )
    latency = (
        out.series("p99", "load: p99 per second", "line"),
        out.series("p95", "load: p95 of the measurement", "dashed"),
        out.series("p50", "load: p50 per second", "line"),
        out.series("watch-max", "watch: slowest sample", "step"),
    )
    return Timeline(
        begin=begin,
        end=end,
        availability=tuple(s for s in availability if s is not None),
        latency=tuple(s for s in latency if s is not None),
        windows=tuple(windows),
        marks=tuple(sorted(marks, key=lambda mark: mark.t)),
        spans=tuple(_spans(found)),
        bounds=tuple(_bounds(found)),
    )
