"""Small hand-written SVG charts for the HTML report: a run's timeline, mixes, sparklines.

Every chart is one ``<svg class="chart">`` with a ``viewBox`` (it scales to the page and
to paper), a ``<title>`` and an ``aria-label``; no script, no external reference, no
font but the page's. Each series is a ``<g class="series" data-series="KEY">`` and each
bar a ``<rect class="bar">``, so a test (or a reader's tool) can count them. Every text
that comes from a journal goes through :func:`html.escape` here.
"""

import math
from collections.abc import Callable, Sequence
from html import escape

from chaos_runner.report.journal import Bound, Mark, Series, Span, Timeline, Window
from chaos_runner.verdict import format_availability

__all__ = [
    "MARK_COLORS",
    "SERIES_COLORS",
    "cache_color",
    "mark_names",
    "mix_chart",
    "score_bar",
    "sparkline",
    "status_color",
    "timeline_chart",
]

SERIES_COLORS = {
    "watch": "#2563eb",
    "load": "#059669",
    "pages": "#7c3aed",
    "p99": "#dc2626",
    "p95": "#d97706",
    "p50": "#2563eb",
    "watch-max": "#64748b",
    "samples": "#0f766e",
}
MARK_COLORS = {
    "deviation": "#b91c1c",
    "detected": "#7c3aed",
    "recovered": "#047857",
    "note": "#0369a1",
}
BOUND_COLOR = "#991b1b"
WINDOW_FILL = "#f59e0b"
OPEN_FILL = "#dc2626"

# Layout of the timeline, in viewBox units (about pixels on screen).
_WIDTH = 760  # about the printable width of A4 in CSS pixels: text keeps its size
_LEFT, _RIGHT = 64, 44  # the right margin holds a label beside a short "after"
_AVAILABILITY_HEIGHT, _LATENCY_HEIGHT, _PANEL_GAP = 120, 100, 14
_MARK_ROW, _MARK_ROWS = 12, 3
_INSET = 5  # so points on 0% and 100% are not cut by the frame
_CHAR = 6.2  # the width of a character at 11 units, for fitting labels
_MANY_POINTS = 80  # a line with more points than this is drawn without dots


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _nice_step(span: float, most: int) -> float:
    """A 1-2-2.5-5 step that cuts ``span`` into at most ``most`` parts."""
    raw = max(span, 1e-9) / most
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def _ticks(low: float, high: float, most: int) -> list[float]:
    step = _nice_step(high - low, most)
    first = math.ceil(low / step - 1e-9) * step
    count = int((high - first) / step + 1e-9) + 1
    return [round(first + i * step, 10) for i in range(max(count, 0))]


def _seconds(value: float) -> str:
    return f"{value:g} s" if abs(value) < 1000 else f"{value:.0f} s"


def _ms(value: float) -> str:
    return f"{value:g} ms"


class _Scale:
    def __init__(self, low: float, high: float, start: float, end: float) -> None:
        self.low, self.high, self.start, self.end = low, high, start, end

    def __call__(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low) if self.high > self.low else 0.0
        return self.start + share * (self.end - self.start)


# -- the timeline ----------------------------------------------------------------------------


def _series(series: Series, x: _Scale, y: _Scale) -> str:
    color = SERIES_COLORS.get(series.key, "#334155")
    parts = [
        f'<g class="series" data-series="{escape(series.key)}" data-points="{series.size}" '
        f'stroke="{color}" fill="{color}">'
    ]
    dots = series.style in ("line", "points") and series.size <= _MANY_POINTS
    for run in series.runs:
        coords = [(x(p.t), y(p.value)) for p in run]
        if series.style == "dashed" and len(coords) == 2 and coords[1][0] - coords[0][0] < 10:
            middle = (coords[0][0] + coords[1][0]) / 2  # a short measurement: a visible tick
            coords = [(middle - 5, coords[0][1]), (middle + 5, coords[1][1])]
        if series.style != "points" and len(coords) > 1:
            dash = ' stroke-dasharray="6 3"' if series.style == "dashed" else ""
            width = "2.2" if series.key in ("p99", "load", "watch", "samples") else "1.6"
            points = " ".join(f"{_f(a)},{_f(b)}" for a, b in coords)
            parts.append(
                f'<polyline points="{points}" fill="none" stroke-width="{width}"{dash} '
                'stroke-linejoin="round"/>'
            )
        for a, b in coords if dots or len(coords) == 1 else ():
            if series.style == "points":
                parts.append(f'<rect x="{_f(a - 3.5)}" y="{_f(b - 3.5)}" width="7" height="7"/>')
            else:
                parts.append(f'<circle cx="{_f(a)}" cy="{_f(b)}" r="2.6"/>')
    parts.append("</g>")
    return "".join(parts)


def _window(window: Window, x: _Scale, top: float, bottom: float, hatch: str) -> str:
    if window.start is None:
        return ""
    left = x(window.start)
    right = x(window.end) if window.end is not None else x.end
    right = max(right, left + 2)
    restored = window.state in ("restored", "irreversible") and window.end is not None
    fill = f'fill="{WINDOW_FILL}" fill-opacity="0.2"' if restored else f'fill="url(#{hatch})"'
    return (
        f'<g class="window" data-state="{escape(window.state)}">'
        f"<title>{escape(window.label)} ({escape(window.state)})</title>"
        f'<rect x="{_f(left)}" y="{_f(top)}" width="{_f(right - left)}" '
        f'height="{_f(bottom - top)}" {fill}/>'
        f'<line x1="{_f(left)}" x2="{_f(left)}" y1="{_f(top)}" y2="{_f(bottom)}" '
        f'stroke="{WINDOW_FILL}" stroke-width="1.2"/></g>'
    )


def _mark_labels(marks: Sequence[Mark]) -> list[tuple[str, Mark]]:
    """Each mark with its short label: ✗1, ✗2... for deviations, N1, N2... for a game day's
    notes, TTD and TTR for the watch."""
    labelled = []
    counts = {"deviation": 0, "note": 0}
    for mark in marks:
        if mark.kind in counts:
            counts[mark.kind] += 1
            prefix = "✗" if mark.kind == "deviation" else "N"
            labelled.append((f"{prefix}{counts[mark.kind]}", mark))
        else:
            labelled.append(("TTD" if mark.kind == "detected" else "TTR", mark))
    return labelled


def mark_names(marks: Sequence[Mark]) -> list[tuple[str, Mark]]:
    """The short label of each mark (``✗1``, ``N1``, ``TTD``, ``TTR``), for the chart's legend."""
    return _mark_labels(marks)


class _Label:
    """A label of the band above the plot: a fault window's (F1) or a mark's (✗1, TTD)."""

    def __init__(self, at: float, text: str, color: str, centred: bool, kind: str) -> None:
        self.at, self.text, self.color, self.centred, self.kind = at, text, color, centred, kind
        width = len(text) * _CHAR + 4
        self.left = at - width / 2 if centred else at
        self.right = self.left + width
        self.row = 0


def _place(labels: list[_Label]) -> int:
    """Give each label the first row where it overlaps no other; the number of rows used."""
    ends: list[float] = []
    for label in sorted(labels, key=lambda item: item.left):
        row = next((r for r, end in enumerate(ends) if end < label.left), None)
        if row is None:
            if len(ends) < _MARK_ROWS:
                row = len(ends)
                ends.append(label.right)
            else:  # too many at one place: the emptiest row, overlapping as little as can be
                row = min(range(len(ends)), key=ends.__getitem__)
        ends[row] = max(ends[row], label.right)
        label.row = row
    return len(ends)


def _labels(timeline: Timeline, x: _Scale) -> list[_Label]:
    labels = [
        _Label(x(window.start), f"F{number}", "#92400e", centred=False, kind="window")
        for number, window in enumerate(timeline.windows, start=1)
        if window.start is not None
    ]
    labels += [
        _Label(x(mark.t), text, MARK_COLORS.get(mark.kind, "#334155"), True, mark.kind)
        for text, mark in _mark_labels(timeline.marks)
    ]
    return labels


def _draw_labels(labels: Sequence[_Label], label_top: float, bottom: float) -> str:
    parts = []
    for label in labels:
        y = label_top + _MARK_ROW * (label.row + 1) - 2
        anchor = "middle" if label.centred else "start"
        if label.kind == "window":
            parts.append(
                f'<text x="{_f(label.at + 1)}" y="{_f(y)}" text-anchor="{anchor}" '
                f'class="wl">{escape(label.text)}</text>'
            )
            continue
        parts.append(
            f'<g class="mark" data-mark="{escape(label.kind)}">'
            f'<line x1="{_f(label.at)}" x2="{_f(label.at)}" y1="{_f(y + 2)}" '
            f'y2="{_f(bottom)}" stroke="{label.color}" stroke-width="1.4" '
            f'stroke-dasharray="3 2"/><text x="{_f(label.at)}" y="{_f(y)}" '
            f'text-anchor="{anchor}" fill="{label.color}" class="ml">{escape(label.text)}'
            "</text></g>"
        )
    return "".join(parts)


def _shown_bounds(series: Sequence[Series], bounds: Sequence[Bound]) -> list[Bound]:
    """The bounds near enough the data to be worth a line (not a flat line under a far one)."""
    high = max((p.value for s in series for run in s.runs for p in run), default=0.0)
    return [bound for bound in bounds if high >= bound.ms / 2]


def _bound_line(bound: Bound, x: _Scale, y: _Scale) -> str:
    at = y(bound.ms)
    return (
        f'<g class="bound" data-bound="{escape(bound.key)}">'
        f'<line x1="{_LEFT}" x2="{_f(x.end)}" y1="{_f(at)}" y2="{_f(at)}" stroke="{BOUND_COLOR}" '
        'stroke-width="1.2" stroke-dasharray="2 3"/>'
        f'<text x="{_LEFT + 4}" y="{_f(at - 3)}" fill="{BOUND_COLOR}" '
        f'class="ml">{escape(bound.key)} bound {escape(_ms(bound.ms))}</text></g>'
    )


def _panel(
    title: str,
    series: Sequence[Series],
    x: _Scale,
    top: float,
    height: float,
    bounds: Sequence[Bound],
) -> tuple[str, _Scale]:
    bottom = top + height
    latency = title.startswith("latency")
    if latency:
        high = max((p.value for s in series for run in s.runs for p in run), default=1.0)
        high = max([high, *(bound.ms for bound in bounds)])
        ticks = _ticks(0, high * 1.08 if high > 0 else 1.0, 4)
        if ticks[-1] < high:
            ticks.append(ticks[-1] + (ticks[1] - ticks[0] if len(ticks) > 1 else high))
        y = _Scale(0, ticks[-1], bottom - _INSET, top + _INSET)
        label = _ms
    else:
        ticks = [0, 25, 50, 75, 100]
        y = _Scale(0, 100, bottom - _INSET, top + _INSET)

        def label(value: float) -> str:
            return f"{value:g}%"

    parts = [
        f'<rect x="{_LEFT}" y="{_f(top)}" width="{_f(x.end - _LEFT)}" height="{_f(height)}" '
        'class="frame"/>'
    ]
    for tick in ticks:
        at = y(tick)
        parts.append(
            f'<line x1="{_LEFT}" x2="{_f(x.end)}" y1="{_f(at)}" y2="{_f(at)}" class="grid"/>'
            f'<text x="{_LEFT - 5}" y="{_f(at + 3.5)}" text-anchor="end" class="tick">'
            f"{escape(label(tick))}</text>"
        )
    middle = top + height / 2
    parts.append(
        f'<text transform="translate(13 {_f(middle)}) rotate(-90)" text-anchor="middle" '
        f'class="axis">{escape(title)}</text>'
    )
    parts += [_bound_line(bound, x, y) for bound in bounds]
    return "".join(parts), y


#: Parts of a run with a fill of their own; any other (a game day's experiment) is a "part".
_SPAN_CLASSES = frozenset({"before", "method", "after"})


def _span(span: Span, x: _Scale, strip: float) -> str:
    """One part of the run under the time axis; a label that does not fit goes beside it."""
    left, width = x(span.start), max(x(span.end) - x(span.start), 1.5)
    kind = span.label if span.label in _SPAN_CLASSES else "part"
    needed = len(span.label) * _CHAR + 6
    if needed <= width:
        at, anchor = left + width / 2, "middle"
    elif span.label == "before" or left + width + needed > _WIDTH:
        at, anchor = left - 3, "end"  # the first part, or one too near the right edge
    else:
        at, anchor = left + width + 3, "start"
    return (
        f'<g class="span"><title>{escape(span.label)}</title>'
        f'<rect x="{_f(left)}" y="{_f(strip)}" width="{_f(width)}" height="14" '
        f'class="span-{kind}"/>'
        f'<text x="{_f(at)}" y="{_f(strip + 10.5)}" text-anchor="{anchor}" '
        f'class="tick">{escape(span.label)}</text></g>'
    )


def timeline_chart(
    chart_id: str, timeline: Timeline, axis: str = "seconds since the run started"
) -> str:
    """Availability (and latency, when measured) over the run, fault windows shaded,
    deviations and the watch's detection and recovery marked; "" when nothing was measured
    over time. ``axis`` names the time axis (a game day counts from its own start)."""
    if not timeline.availability and not timeline.latency:
        return ""
    right = _WIDTH - _RIGHT
    begin, end = timeline.begin, max(timeline.end, timeline.begin + 1.0)
    pad = (end - begin) * 0.015  # points at the first and last second clear of the frame
    x = _Scale(begin - pad, end + pad, _LEFT, right)
    labels = _labels(timeline, x)
    rows = _place(labels)
    label_top = 2.0
    top = label_top + (_MARK_ROW * rows + 4 if rows else 6)
    panels = [("availability", _AVAILABILITY_HEIGHT, timeline.availability, False)]
    if timeline.latency:
        panels.append(("latency", _LATENCY_HEIGHT, timeline.latency, True))
    bottom = top + sum(h for _, h, _, _ in panels) + _PANEL_GAP * (len(panels) - 1)
    hatch = escape(f"{chart_id}-open")
    body = [
        f'<defs><pattern id="{hatch}" width="8" height="8" '
        'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        f'<rect width="8" height="8" fill="{OPEN_FILL}" fill-opacity="0.1"/>'
        f'<line x1="0" y1="0" x2="0" y2="8" stroke="{OPEN_FILL}" stroke-width="3" '
        'stroke-opacity="0.35"/></pattern></defs>'
    ]
    cursor = top
    drawn = []
    for _, height, series, latency in panels:
        title = "latency (ms)" if latency else "availability (%)"
        bounds = _shown_bounds(series, timeline.bounds) if latency else []
        frame, y = _panel(title, series, x, cursor, height, bounds)
        body.append(frame)
        body += [_window(w, x, cursor, cursor + height, hatch) for w in timeline.windows]
        drawn.append((series, y))
        cursor += height + _PANEL_GAP
    for series, y in drawn:
        body += [_series(s, x, y) for s in series]
    for tick in _ticks(begin, end, 10):
        at = x(tick)
        body.append(
            f'<line x1="{_f(at)}" x2="{_f(at)}" y1="{_f(bottom)}" y2="{_f(bottom + 4)}" '
            f'class="grid"/><text x="{_f(at)}" y="{_f(bottom + 15)}" text-anchor="middle" '
            f'class="tick">{escape(_seconds(tick))}</text>'
        )
    body.append(_draw_labels(labels, label_top, bottom))
    strip = bottom + 22
    body += [_span(span, x, strip) for span in timeline.spans]
    full = strip + (16 if timeline.spans else 0) + 14
    body.append(
        f'<text x="{_f(right)}" y="{_f(full - 3)}" text-anchor="end" class="axis">'
        f"{escape(axis)}</text>"
    )
    count = sum(len(series) for series, _ in drawn)
    windows = sum(window.start is not None for window in timeline.windows)
    title = "Availability" + (" and latency" if timeline.latency else "") + " over the run"
    return (
        f'<svg class="chart timeline" data-chart="timeline" data-series="{count}" '
        f'data-windows="{windows}" data-marks="{len(timeline.marks)}" '
        f'viewBox="0 0 {_WIDTH} {_f(full)}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


# -- mixes, sparklines and bars --------------------------------------------------------------

_STATUS_COLORS = {
    "200": "#16a34a",
    "301": "#0284c7",
    "302": "#0ea5e9",
    "304": "#38bdf8",
    "403": "#f59e0b",
    "404": "#ea580c",
    "500": "#ef4444",
    "502": "#dc2626",
    "503": "#b91c1c",
    "504": "#7f1d1d",
    "timeout": "#7c3aed",
    "refused": "#6d28d9",
    "reset": "#a855f7",
    "tls": "#c084fc",
}
_CACHE_COLORS = {
    "Hit": "#16a34a",
    "RefreshHit": "#4ade80",
    "Miss": "#f59e0b",
    "Error": "#dc2626",
    "LimitExceeded": "#7c3aed",
    "Redirect": "#0ea5e9",
}
_OTHER = ("#64748b", "#94a3b8", "#475569", "#cbd5e1", "#334155")


def _ink(background: str) -> str:
    """Dark text on a light colour, white on a dark one (#rrggbb)."""
    try:
        red, green, blue = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    except ValueError:
        return "#0f172a"
    return "#0f172a" if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "#ffffff"


def _other(label: str) -> str:
    return _OTHER[sum(map(ord, label)) % len(_OTHER)]


def status_color(label: str) -> str:
    """A status's colour: greens for 2xx, blues 3xx, oranges 4xx, reds 5xx, violets errors."""
    if label in _STATUS_COLORS:
        return _STATUS_COLORS[label]
    family = {"2": "#22c55e", "3": "#0ea5e9", "4": "#fb923c", "5": "#ef4444"}
    return family.get(label[:1], _other(label)) if label[:1].isdigit() else _other(label)


def cache_color(label: str) -> str:
    """An X-Cache label's colour: green hits, amber misses, red errors."""
    return _CACHE_COLORS.get(label, _other(label))


def mix_chart(
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, Sequence[tuple[str, int]]]],
    color: Callable[[str], str],
) -> str:
    """One 100% stacked bar per row (a phase), a segment per label, ``n=`` at the end."""
    width, left, right, bar, gap = 380, 50, 54, 20, 8
    span = width - left - right
    parts = []
    count = 0
    for index, (name, mix) in enumerate(rows):
        top = 6 + index * (bar + gap)
        total = sum(n for _, n in mix if n > 0)
        parts.append(
            f'<text x="{left - 6}" y="{top + 14}" text-anchor="end" class="tick">'
            f"{escape(name)}</text>"
        )
        if not total:
            parts.append(
                f'<rect x="{left}" y="{top}" width="{span}" height="{bar}" class="empty"/>'
                f'<text x="{left + span / 2}" y="{top + 14}" text-anchor="middle" class="tick">'
                "not measured</text>"
            )
            continue
        at = float(left)
        for label, n in mix:
            if n <= 0:
                continue
            size = span * n / total
            count += 1
            parts.append(
                f'<rect class="bar" data-label="{escape(label)}" data-count="{n}" '
                f'x="{_f(at)}" y="{top}" width="{_f(size)}" height="{bar}" '
                f'fill="{color(label)}"><title>{escape(name)}: {escape(label)} x{n} '
                f"({format_availability(n / total)})</title></rect>"
            )
            long = f"{label} \N{MULTIPLICATION SIGN}{n}"
            text = long if len(long) * _CHAR + 6 <= size else str(n)
            if len(text) * _CHAR + 6 <= size:
                parts.append(
                    f'<text x="{_f(at + size / 2)}" y="{top + 14}" text-anchor="middle" '
                    f'fill="{_ink(color(label))}" class="in">{escape(text)}</text>'
                )
            at += size
        parts.append(f'<text x="{width - right + 6}" y="{top + 14}" class="tick">n={total}</text>')
    height = 6 + len(rows) * (bar + gap)
    return (
        f'<svg class="chart mix" id="{escape(chart_id)}" data-chart="mix" data-bars="{count}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        + "".join(parts)
        + "</svg>"
    )


def sparkline(values: Sequence[tuple[str, float | None]]) -> str:
    """Small bars of shares (0..1), e.g. availability before, during and after the fault."""
    width, height, bar, gap = 12 * len(values) + 4 * (len(values) - 1) + 2, 24, 12, 4
    parts = []
    words = []
    for index, (name, share) in enumerate(values):
        x = 1 + index * (bar + gap)
        words.append(f"{name} {format_availability(share)}")
        if share is None:
            parts.append(
                f'<rect class="bar missing" x="{x}" y="{height - 2}" width="{bar}" height="1.5" '
                'fill="#94a3b8"/>'
            )
            continue
        size = max(1.5, (height - 2) * min(max(share, 0.0), 1.0))
        fill = "#16a34a" if share >= 0.999 else "#f59e0b" if share >= 0.9 else "#dc2626"
        parts.append(
            f'<rect class="bar" x="{x}" y="{_f(height - size)}" width="{bar}" '
            f'height="{_f(size)}" fill="{fill}"/>'
        )
    label = "availability " + ", ".join(words)
    return (
        f'<svg class="chart spark" data-chart="sparkline" data-bars="{len(values)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>"
        f'<line x1="0" x2="{width}" y1="{height - 0.5}" y2="{height - 0.5}" stroke="#cbd5e1"/>'
        + "".join(parts)
        + "</svg>"
    )


def score_bar(score: int) -> str:
    """The score as a bar of 0..100: green at 100, amber from 80, red below."""
    width, height = 56, 10
    fill = "#16a34a" if score >= 100 else "#f59e0b" if score >= 80 else "#dc2626"
    filled = width * min(max(score, 0), 100) / 100
    return (
        f'<svg class="chart score" data-chart="score" data-bars="1" viewBox="0 0 {width} '
        f'{height}" width="{width}" height="{height}" role="img" aria-label="score {score} of '
        f'100" xmlns="http://www.w3.org/2000/svg"><title>score {score}/100</title>'
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#e2e8f0"/>'
        f'<rect class="bar" x="0" y="0" width="{_f(filled)}" height="{height}" fill="{fill}"/>'
        "</svg>"
    )
