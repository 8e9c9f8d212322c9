"""Verdicts as one self-contained HTML page: for a CI artifact, a wiki, or paper.

:func:`render` writes one page for one run (``chaos verdict JOURNAL --html FILE``) or for
several (``chaos gate --html FILE``, ``chaos verdict J1 J2 --html FILE``). The page opens
from disk with no network: its CSS is inline, its charts are inline SVG, it loads no
script, font or image, and it has no JavaScript at all; a Content-Security-Policy
(``default-src 'none'``) says so to the browser, so even a journal that slipped a tag
past the escaping could not load or run anything. It prints: light colours only, charts
scale to the page, each experiment of a gate starts a new page.

What a reader sees, in order
    1. The outcome in words, first: "Held: ...", "Deviated: ...", "Restore incomplete: the
       site may still be degraded — run ``chaos rollback``", with the main reason; then the
       target, outcome, exit code, score, time to detect and time to recover.
    2. For a gate, one row per experiment: outcome, exit code, score (with a bar),
       availability before, during and after the fault (three small bars), p95 during the
       fault, time to detect and recover, time; each row links to its experiment.
    3. Per experiment: the reasons; a timeline of availability and latency from the watch
       and load probes with each fault's window shaded from injection to restore and the
       deviations marked (:mod:`.journal` says which figures); the status and ``X-Cache``
       mix before, during and after (stacked bars); the hypothesis with each probe's
       tolerance and what it measured before and after; the method, activity by activity;
       each fault with its evidence and its restore; the checks of the score; and the
       lines of the run's log that matter (:mod:`.logs`), when its log is at hand.

Why hand-written SVG, not pygal
    pygal (PyPI, pure Python) writes SVG without system libraries, but its charts load
    ``pygal-tooltips.min.js`` from kozea.github.io unless told otherwise (a request that
    leaves the file), carry their own stylesheet and ids in each chart, and have no shaded
    time windows or event marks, which are what this report is about. The charts needed
    here are few and simple (two stacked panels on a time axis, 100% stacked bars, small
    bars), so :mod:`.svg` draws them in about 500 lines: no dependency, no script, a few
    kilobytes per chart, and every journal text escaped in one place.

Everything from a journal (titles, names, messages, paths, outputs) is untrusted: it is
escaped with :func:`html.escape` before it reaches the page, in text and in attributes.
"""

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any, NamedTuple

from chaos_runner import __version__
from chaos_runner.report import CHECK_WORDS as _CHECK_WORDS
from chaos_runner.report import SKIPPED_REASON, gate_outcome, gate_score, svg
from chaos_runner.report import journal as journal_reader
from chaos_runner.report.journal import Activity, Timeline
from chaos_runner.report.logs import LogExcerpt
from chaos_runner.verdict import (
    Check,
    FaultOutcome,
    Outcome,
    Phase,
    PhaseFigures,
    Verdict,
    format_availability,
    format_ms,
    format_seconds,
)

__all__ = [
    "OUTCOME_WORDS",
    "RunDetails",
    "check_item",
    "detect_words",
    "faults_section",
    "figure_item",
    "legend_item",
    "page",
    "recover_words",
    "render",
    "run_header",
    "write",
]


class RunDetails(NamedTuple):
    """What the page shows beside a verdict: the journal it was judged from, the log."""

    journal: Mapping[str, Any] | None = None
    log: LogExcerpt | None = None


#: Each outcome in words: a headline and what it means for the site.
OUTCOME_WORDS: dict[Outcome, tuple[str, str]] = {
    Outcome.HELD: (
        "Held",
        "the site held its steady state through the fault; every fault was restored.",
    ),
    Outcome.DEVIATED: ("Deviated", "the site did not behave as the experiment expects."),
    Outcome.INVALID: ("Invalid", "the experiment could not run; nothing was injected."),
    Outcome.INCONCLUSIVE: (
        "Inconclusive",
        "a fault could not be injected or did not take effect; the run proves nothing "
        "about the site.",
    ),
    Outcome.RESTORE_INCOMPLETE: (
        "Restore incomplete",
        "the site may still be degraded — run <code>chaos rollback</code>.",
    ),
    Outcome.ABORTED: ("Aborted", "the run was stopped before its end; every fault was restored."),
    Outcome.INTERNAL_ERROR: (
        "Internal error",
        "a bug of chaostoolkit-cdn ended the run (please report it); the site was not judged.",
    ),
}


_CSS = """
:root{--ink:#0f172a;--muted:#475569;--line:#e2e8f0;--held:#15803d;--bad:#b91c1c;
--warn:#b45309;--c:#334155}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--ink);background:#f8fafc}
main{max-width:1000px;margin:0 auto;padding:20px 24px 40px}
.o-held{--c:#15803d}.o-deviated{--c:#b91c1c}.o-restore-incomplete{--c:#7f1d1d}
.o-invalid{--c:#475569}.o-inconclusive{--c:#b45309}.o-aborted{--c:#92400e}
.o-internal-error{--c:#6d28d9}.o-skipped{--c:#64748b}
.top{background:#fff;border:1px solid var(--line);border-left:8px solid var(--c);
border-radius:6px;padding:12px 18px 14px}
.alert{margin:0 0 6px;font-size:1.2em;line-height:1.35;color:var(--c)}
.alert strong{font-size:1.1em}
.why{margin:0 0 8px;color:var(--ink)}
h1,h2{margin:2px 0 6px;font-size:1.35em}
h1 small,h2 small{font-weight:400;color:var(--muted);font-size:.7em}
h3{font-size:1.05em;margin:22px 0 8px;border-bottom:1px solid var(--line);padding-bottom:2px}
dl.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(136px,1fr));
gap:8px 14px;margin:8px 0 0}
dl.figures small{font-weight:400;color:var(--muted)}
.sub{margin:-4px 0 4px;color:var(--muted);font-size:.9em}
dl.figures div.wide{grid-column:1/-1}
dl.figures dt{font-size:.72em;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
dl.figures dd{margin:0;font-weight:600;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.93em}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:.9em}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.measured{overflow-wrap:anywhere}
table.gate-table td:nth-child(2){white-space:nowrap}
td.spark{white-space:nowrap}td.spark .during{display:inline-block;min-width:3.6em;
text-align:right;font-variant-numeric:tabular-nums}
.mark-held{color:var(--held);font-weight:700}.mark-failed{color:var(--bad);font-weight:700}
.mark-notrun{color:var(--muted)}
figure{margin:0 0 10px;background:#fff;border:1px solid var(--line);border-radius:6px;
padding:8px}
figcaption{font-size:.88em;color:var(--muted);margin:4px 2px 0}
svg.chart{display:block;width:100%;height:auto}
svg.spark,svg.score{display:inline-block;width:auto;vertical-align:middle;margin-right:6px}
svg text{font:11px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
svg .tick{fill:#334155}svg .axis{fill:#475569}svg .in{font-weight:600}
svg .frame{fill:#fff;stroke:#cbd5e1}svg .grid{stroke:#e2e8f0}
svg .wl{fill:#92400e;font-weight:700}svg .ml{font-weight:700}
svg .span-before,svg .span-after{fill:#e2e8f0}svg .span-method{fill:#fde68a}
svg .span-part{fill:#dbeafe;stroke:#fff}
svg .empty{fill:none;stroke:#cbd5e1;stroke-dasharray:4 3}
.mixes{display:grid;grid-template-columns:1fr 1fr;gap:10px}
.mixes h4{margin:0 0 4px;font-size:.9em;color:var(--muted);font-weight:600}
ul.legend{list-style:none;padding:0;margin:6px 2px 0;display:flex;flex-wrap:wrap;
gap:2px 18px;font-size:.88em;color:var(--muted)}
.sw{display:inline-block;width:16px;height:0;border-top:3px solid;vertical-align:middle;
margin-right:5px}
.sw.dashed{border-top-style:dashed}.sw.box{height:10px;width:10px;border:5px solid}
.sw.window{height:10px;border:1px solid #f59e0b;background:#fde68a}
.sw.open{height:10px;border:1px dashed #dc2626}
ul.plain{margin:4px 0;padding-left:20px}
ul.checks{list-style:none;padding-left:4px;margin:4px 0}
.note{color:var(--muted);font-size:.92em}
.tag{display:inline-block;font-size:.72em;text-transform:uppercase;letter-spacing:.04em;
color:var(--muted);border:1px solid var(--line);border-radius:3px;padding:0 4px;margin-right:4px}
blockquote.hypothesis{margin:6px 0 10px;padding:6px 12px;border-left:4px solid #94a3b8;
background:#fff}
ol.questions li,ul.surprises li{margin:4px 0}
table.timeline td{padding:2px 8px}table.timeline td:nth-child(-n+2){white-space:nowrap}
tr.ev-phase td,tr.ev-preflight td,tr.ev-experiment-started td{color:var(--muted)}
tr.ev-fault-in td,tr.ev-fault-out td{background:#fffbeb}tr.ev-note td{background:#f0f9ff}
tr.ev-deviation td,tr.ev-aborted td,tr.ev-skipped td{background:#fef2f2}
pre.log{white-space:pre-wrap;overflow-wrap:anywhere;font:12px/1.4 ui-monospace,
SFMono-Regular,Menlo,Consolas,monospace;background:#fff;border:1px solid var(--line);
border-radius:6px;padding:8px 10px;margin:4px 0}
.lvl-ERROR,.lvl-CRITICAL{color:var(--bad);font-weight:600}.lvl-WARNING{color:var(--warn)}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em;
background:#f1f5f9;padding:0 3px;border-radius:3px}
section.experiment{margin-top:34px}
.gate section.experiment .top{border-left-width:6px}
a{color:#1d4ed8}
footer{margin-top:30px;color:var(--muted);font-size:.85em}
.table-wrap{overflow-x:auto}
@media (max-width:720px){.mixes{grid-template-columns:1fr}main{padding:12px}}
@media print{
@page{margin:12mm}
body{background:#fff;font-size:10.5pt}
main{max-width:none;padding:0}
.gate section.experiment{break-before:page;margin-top:0}
.top,figure,tr,pre.log li{break-inside:avoid}
h3{break-after:avoid}
figure,.top{border-color:#94a3b8}
a{color:inherit;text-decoration:none}
code{background:none;padding:0}
.mixes{grid-template-columns:1fr 1fr}
table{font-size:8.5pt}th,td{padding:2px 4px}
svg.score{width:36px}
}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


# -- words and figures -------------------------------------------------------------------


def detect_words(verdict: Verdict) -> str:
    """Time to detect in words: seconds, "not detected (...)" or "n/a (why)"."""
    watch = verdict.watch
    if watch is None:
        return "n/a (no watch probe in this experiment)"
    if not watch.faults_seen:
        return "n/a (the watch saw no fault of this run)"
    if watch.detected and watch.time_to_detect_s is not None:
        return format_seconds(watch.time_to_detect_s)
    return "not detected (the watched pages never failed)"


def recover_words(verdict: Verdict) -> str:
    """Time to recover in words: seconds, "not recovered while watched (...)" or "n/a (why)"."""
    watch = verdict.watch
    if watch is None:
        return "n/a (no watch probe in this experiment)"
    if not watch.faults_seen:
        return "n/a (the watch saw no fault of this run)"
    if watch.recovered and watch.time_to_recover_s is not None:
        return format_seconds(watch.time_to_recover_s)
    return f"not recovered while watched (stopped: {watch.stopped_because})"


def _short_time(value: str) -> str:
    """``not detected (the watched pages never failed)`` -> ``not detected``."""
    return value.split(" (", 1)[0]


def _started(verdict: Verdict) -> str:
    try:
        started = datetime.fromisoformat(verdict.started)
    except ValueError:
        return verdict.started or "unknown"
    if started.tzinfo is not None:
        started = started.astimezone(UTC)
        return started.strftime("%Y-%m-%d %H:%M:%S UTC")
    return started.strftime("%Y-%m-%d %H:%M:%S")


def _mark(held: bool, ran: bool = True) -> str:
    if not ran:
        return '<span class="mark-notrun" title="not run">-</span>'
    if held:
        return '<span class="mark-held" title="held">✓</span>'
    return '<span class="mark-failed" title="did not hold">✗</span>'


def figure_item(term: str, value: str, wide: bool = False) -> str:
    """One figure of a header; ``value`` is HTML (escape it first)."""
    return f"<div{' class=wide' if wide else ''}><dt>{_e(term)}</dt><dd>{value}</dd></div>"


def _requests(count: int) -> str:
    return f"{count} request" if count == 1 else f"{count} requests"


def _with_note(text: str) -> str:
    """``not detected (the pages never failed)``: the figure bold, its note small (HTML)."""
    head, sep, tail = text.partition(" (")
    return _e(head) + (f"<br><small>({_e(tail)}</small>" if sep else "")


def _at(seconds: float | None) -> str:
    return "-" if seconds is None else f"+{seconds:.2f} s"


# -- one experiment --------------------------------------------------------------------------


def _sentence(text: str) -> str:
    """``the steady state held`` -> ``The steady state held.``"""
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def _alert(verdict: Verdict) -> str:
    headline, meaning = OUTCOME_WORDS[verdict.outcome]
    return (
        f'<p class="alert" role="status"><strong>{_e(headline)}:</strong> {meaning}</p>'
        f'<p class="why">{_e(_sentence(verdict.reason))}</p>'
    )


def run_header(name: str, verdict: Verdict, level: str, anchor: str) -> str:
    """An experiment's header: its outcome in words first, then its figures (HTML)."""
    during = verdict.phase(Phase.DURING)
    readers = (
        "not measured"
        if not during.requests
        else f"{format_availability(during.availability)} of {_requests(during.requests)} served"
    )
    took = "" if verdict.duration_s is None else f", took {format_seconds(verdict.duration_s)}"
    figures = [
        figure_item("Target", _e(verdict.target), wide=True),
        figure_item("Outcome", _e(verdict.outcome)),
        figure_item("Exit code", _e(verdict.exit_code)),
        figure_item(
            "Score",
            f"{verdict.score}/100 <small>({verdict.checks_held} of {len(verdict.checks)} "
            "checks held)</small>",
        ),
        figure_item("Time to detect", _with_note(detect_words(verdict))),
        figure_item("Time to recover", _with_note(recover_words(verdict))),
        figure_item("Readers during the fault", _e(readers)),
        figure_item(
            "Run", f"{_e(_started(verdict))}{_e(took)}, status {_e(verdict.status)}", wide=True
        ),
    ]
    title = _e(verdict.experiment)
    sub = "" if name == verdict.experiment else f'<p class="sub">experiment {_e(name)}</p>'
    return (
        f'<header class="top o-{_e(verdict.outcome)}" id="{anchor}">{_alert(verdict)}'
        f"<{level}>{title}</{level}>{sub}"
        f'<dl class="figures">{"".join(figures)}</dl></header>'
    )


def _reasons(verdict: Verdict) -> str:
    items = [f"<li>{_e(reason)}</li>" for reason in verdict.reasons]
    items += [f'<li class="note">note: {_e(note)}</li>' for note in verdict.notes]
    return f'<h3>Why</h3><ul class="plain">{"".join(items)}</ul>'


def legend_item(swatch: str, color: str, text: str) -> str:
    """One entry of a chart's legend; ``text`` is HTML (escape it first)."""
    style = f' style="border-color:{color}"' if color else ""
    return f'<li><span class="sw {swatch}"{style}></span>{text}</li>'


def _timeline_figure(
    index: int, timeline: Timeline, verdict: Verdict, found: Sequence[Activity]
) -> str:
    chart = svg.timeline_chart(f"c{index}", timeline)
    if not chart:
        return (
            '<p class="note">No probe of this run measured availability or latency over '
            "time (no load, page or watch probe output in the journal).</p>"
        )
    legend = []
    for series in (*timeline.availability, *timeline.latency):
        swatch = {"points": "box", "dashed": "dashed"}.get(series.style, "")
        color = svg.SERIES_COLORS.get(series.key, "#334155")
        legend.append(legend_item(swatch, color, _e(series.label)))
    for number, (window, fault) in enumerate(zip(timeline.windows, verdict.faults, strict=False)):
        if window.start is None:
            continue
        restored = window.state in ("restored", "irreversible") and window.end is not None
        if restored and window.end is not None:
            span = f"from {_at(window.start)} to {_at(window.end)}"
        else:
            span = f"from {_at(window.start)}, {window.state}: no restore time"
        legend.append(
            legend_item(
                "window" if restored else "open",
                "",
                f"<b>F{number + 1}</b> {_e(fault.name or fault.description)} ({_e(span)})",
            )
        )
    failed_checks = {check.name: check.detail for check in verdict.checks if not check.held}
    details = {a.name: a for a in found if a.missed}
    for text, mark in svg.mark_names(timeline.marks):
        color = svg.MARK_COLORS.get(mark.kind, "#334155")
        words = mark.label
        name = mark.label.split(": ", 1)[-1]
        if mark.kind == "deviation":
            detail = failed_checks.get(name) or (details[name].message if name in details else "")
            words += f" — {detail}" if detail else ""
        legend.append(
            f'<li><b style="color:{color}">{_e(text)}</b> {_e(words)} ({_e(_at(mark.t))})</li>'
        )
    return f'<figure>{chart}<ul class="legend">{"".join(legend)}</ul></figure>'


def _mix_legend(
    rows: Sequence[tuple[str, Sequence[tuple[str, int]]]], color: Callable[[str], str]
) -> str:
    labels = list(dict.fromkeys(label for _, mix in rows for label, n in mix if n > 0))
    items = [legend_item("box", color(label), _e(label)) for label in labels]
    return f'<ul class="legend">{"".join(items)}</ul>' if items else ""


def _mixes(index: int, verdict: Verdict) -> str:
    statuses = [(str(p.phase), p.statuses) for p in verdict.phases]
    caches = [(str(p.phase), p.x_cache) for p in verdict.phases]
    if not any(mix for _, mix in statuses) and not any(mix for _, mix in caches):
        return ""
    status_chart = svg.mix_chart(
        f"c{index}-status", "HTTP status (or error) by phase", statuses, svg.status_color
    )
    cache_chart = svg.mix_chart(f"c{index}-cache", "X-Cache by phase", caches, svg.cache_color)
    return (
        '<figure><div class="mixes">'
        f"<div><h4>Status of the answers (or why there was none)</h4>{status_chart}"
        f"{_mix_legend(statuses, svg.status_color)}</div>"
        f"<div><h4>X-Cache of the answers</h4>{cache_chart}"
        f"{_mix_legend(caches, svg.cache_color)}</div>"
        "</div><figcaption>Share of the requests of each phase; n = requests measured. "
        "Before and after: the steady-state probes; during: the method's probes while a "
        "fault was in effect.</figcaption></figure>"
    )


def _phase_row(phase: PhaseFigures) -> str:
    if not phase.requests:
        return f'<tr><td>{_e(phase.phase)}</td><td colspan="5" class="note">not measured</td></tr>'
    probes = ", ".join(phase.probes)
    return (
        f"<tr><td>{_e(phase.phase)}</td><td class=num>{phase.requests}</td>"
        f"<td class=num>{_e(format_availability(phase.availability))}</td>"
        f"<td class=num>{_e(format_ms(phase.p95_ms))}</td>"
        f"<td class=num>{_e(format_ms(phase.p99_ms))}</td>"
        f'<td class="measured">{_e(probes)}</td></tr>'
    )


def _phases(verdict: Verdict) -> str:
    return (
        "<table><thead><tr><th>phase</th><th class=num>requests</th>"
        "<th class=num>availability</th><th class=num>p95</th><th class=num>p99</th>"
        "<th>probes</th></tr></thead><tbody>"
        + "".join(map(_phase_row, verdict.phases))
        + "</tbody></table>"
    )


def _result_cell(run: Activity | None) -> str:
    if run is None:
        return f'{_mark(False, ran=False)} <span class="note">not run</span>'
    if run.failed:
        return f"{_mark(False)} failed: {_e(run.message or 'no message')}"
    words = _e(journal_reader.describe_output(run.output))
    if run.tolerance_met is False:
        return f"{_mark(False)} out of tolerance: {words}"
    return f"{_mark(True)} {words}"


def _hypothesis(journal: Mapping[str, Any], found: Sequence[Activity]) -> str:
    experiment = journal.get("experiment")
    declared = []
    if isinstance(experiment, Mapping):
        hypothesis = experiment.get("steady-state-hypothesis")
        probes = hypothesis.get("probes") if isinstance(hypothesis, Mapping) else None
        declared = [p for p in probes if isinstance(p, Mapping)] if isinstance(probes, list) else []
    title = journal_reader.hypothesis(journal)
    head = f"<h3>Hypothesis: {_e(title)}</h3>" if title else "<h3>Hypothesis</h3>"
    if not declared:
        return head + '<p class="note">The experiment declares no steady-state probe.</p>'
    rows = []
    used: set[int] = set()
    for probe in declared:
        name = probe.get("name") if isinstance(probe.get("name"), str) else ""
        cells = []
        for phase in ("before", "after"):
            run = next(
                (
                    a
                    for i, a in enumerate(found)
                    if a.phase == phase and a.name == name and i not in used
                ),
                None,
            )
            if run is not None:
                used.add(found.index(run))
            cells.append(f'<td class="measured">{_result_cell(run)}</td>')
        tolerance = journal_reader.describe_tolerance(probe.get("tolerance"))
        rows.append(
            f"<tr><td>{_e(name)}</td><td>{_e(tolerance or 'must succeed')}</td>"
            f"{''.join(cells)}</tr>"
        )
    return (
        head + "<table><thead><tr><th>probe</th><th>tolerance</th><th>before the method</th>"
        "<th>after the method</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _method(found: Sequence[Activity]) -> str:
    rows = []
    for run in found:
        if run.phase not in ("method", "during", "rollbacks"):
            continue
        kind = "restore" if run.is_restore else run.type or "activity"
        where = {"during": "steady state during", "rollbacks": "rollback"}.get(run.phase, kind)
        background = " (background)" if run.background else ""
        rows.append(
            f"<tr><td class=num>{_e(_at(run.start))}</td>"
            f"<td>{_e(run.name)}<br><small class=note>{_e(where)}{background}: "
            f"<code>{_e(run.function)}</code></small></td>"
            f'<td class="measured">{_result_cell(run)}</td></tr>'
        )
    if not rows:
        return '<h3>Method</h3><p class="note">The method did not run.</p>'
    return (
        "<h3>Method and rollbacks</h3><table><thead><tr><th class=num>at</th>"
        "<th>activity</th><th>result: what it measured or did</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _fault_item(number: int, fault: FaultOutcome, start: float | None) -> str:
    name = fault.name or "(no action of the journal)"
    verified = (
        f"{_mark(True)} injected and verified"
        if fault.verified
        else f"{_mark(False)} {'injected, not verified' if fault.injected else 'not injected'}"
    )
    evidence = f": {_e(fault.evidence)}" if fault.evidence else ""
    injected = f" at {_e(_at(start))}" if start is not None else ""
    if fault.state in ("restored", "irreversible"):
        took = (
            "" if fault.restore_seconds is None else f" in {format_seconds(fault.restore_seconds)}"
        )
        in_effect = ""
        if fault.injected_at is not None and fault.restored_at is not None:
            in_effect = f"; in effect {format_seconds(fault.restored_at - fault.injected_at)}"
        restore = f"{_mark(True)} {_e(fault.state)}{_e(took)}{_e(in_effect)}"
    elif fault.state in ("open", "conflict"):
        restore = (
            f"{_mark(False)} <strong>{_e(fault.state)}: not restored</strong> — the site may "
            "still be degraded; run <code>chaos rollback</code>"
        )
    else:
        restore = (
            f'<span class="note">{_e(fault.state or "no ledger record of its restore")}</span>'
        )
    detail = f": {_e(fault.detail)}" if fault.detail else ""
    return (
        f"<li><b>F{number}</b> <b>{_e(name)}</b> — {_e(fault.description)}"
        f'<ul class="checks"><li>{verified}{injected}{evidence}</li>'
        f"<li>restore: {restore}{detail}</li></ul></li>"
    )


def faults_section(verdict: Verdict, timeline: Timeline | None, first: int = 1) -> str:
    """Each fault with its evidence and its restore (HTML); the timeline gives start times.

    Faults are numbered F1, F2... as the timeline's windows; ``first`` continues a count
    begun elsewhere (a game day numbers the faults of all its experiments in one series).
    """
    if not verdict.faults:
        return '<h3>Faults</h3><p class="note">No fault was injected.</p>'
    starts = [w.start for w in timeline.windows] if timeline is not None else []
    items = [
        _fault_item(first + i, fault, starts[i] if i < len(starts) else None)
        for i, fault in enumerate(verdict.faults)
    ]
    return f'<h3>Faults</h3><ul class="plain">{"".join(items)}</ul>'


def check_item(check: Check) -> str:
    """One check of the score as a list item: ✓, ✗ or - (not run), its kind and name."""
    detail = f" — {_e(check.detail)}" if check.detail else ""
    return (
        f"<li>{_mark(check.held, check.ran)} {_e(_CHECK_WORDS[check.kind])}: "
        f"{_e(check.name)}{detail}</li>"
    )


def _checks(verdict: Verdict) -> str:
    return (
        f"<h3>Checks: {verdict.checks_held} of {len(verdict.checks)} held, score "
        f"{verdict.score}/100</h3>"
        f'<ul class="checks">{"".join(map(check_item, verdict.checks))}</ul>'
    )


def _log(log: LogExcerpt | None) -> str:
    if log is None:
        return ""
    head = f"<h3>Log: the lines that matter <small class=note>{_e(log.path)}</small></h3>"
    if not log.lines:
        return head + f'<p class="note">{_e(log.note or "nothing to show")}.</p>'
    lines = [
        f'<span class="lvl-{_e(line.level)}">{_e(line.time)} {_e(line.level):<7} '
        f"[{_e(line.where)}] {_e(line.message)}</span>"
        for line in log.lines
    ]
    more = ""
    if log.left_out:
        more = (
            f'<p class="note">{log.left_out} more warning or error line(s) left out; '
            "see the log.</p>"
        )
    return head + '<pre class="log">' + "\n".join(lines) + "</pre>" + more


def _experiment(
    index: int, name: str, verdict: Verdict | None, details: RunDetails, level: str
) -> str:
    anchor = f"e{index}"
    if verdict is None:
        return (
            f'<section class="experiment"><header class="top o-skipped" id="{anchor}">'
            f'<p class="alert"><strong>Not run:</strong> {_e(SKIPPED_REASON)}.</p>'
            f"<{level}>{_e(name)}</{level}></header></section>"
        )
    parts = [run_header(name, verdict, level, anchor), _reasons(verdict)]
    journal = details.journal
    timeline: Timeline | None = None
    parts.append("<h3>What readers saw</h3>")
    if journal is not None:
        found = journal_reader.activities(journal)
        timeline = journal_reader.timeline(journal, verdict.faults)
        parts.append(_timeline_figure(index, timeline, verdict, found))
    else:
        found = ()
    parts += [_mixes(index, verdict), _phases(verdict)]
    if journal is not None:
        parts += [_hypothesis(journal, found), _method(found)]
    else:
        parts.append('<p class="note">The run left no journal: no timeline, no activity.</p>')
    parts += [faults_section(verdict, timeline), _checks(verdict), _log(details.log)]
    return f'<section class="experiment">{"".join(parts)}</section>'


# -- a gate ----------------------------------------------------------------------------------


def _names(results: Sequence[tuple[str, Verdict | None, float]], outcome: Outcome) -> list[str]:
    return [name for name, verdict, _ in results if verdict and verdict.outcome is outcome]


def _gate_alert(results: Sequence[tuple[str, Verdict | None, float]], outcome: Outcome) -> str:
    headline, meaning = OUTCOME_WORDS[outcome]
    judged = [verdict for _, verdict, _ in results if verdict is not None]
    skipped = len(results) - len(judged)
    lines = []
    if outcome is Outcome.HELD:
        lines.append(
            f"<strong>Held:</strong> all {len(judged)} experiment(s) held their steady state; "
            "every fault was verified and restored."
        )
    else:
        named = _names(results, outcome)
        which = f" in {len(named)} of {len(results)} experiment(s) ({_e(', '.join(named))})"
        lines.append(f"<strong>{_e(headline)}</strong>{which if named else ''}: {meaning}")
    for other in Outcome:
        named = _names(results, other)
        if other in (outcome, Outcome.HELD) or not named:
            continue
        lines.append(
            f"Also {_e(OUTCOME_WORDS[other][0].lower())} ({_e(', '.join(named))}): "
            f"{OUTCOME_WORDS[other][1]}"
        )
    if skipped:
        lines.append(f"{skipped} experiment(s) were not run.")
    return "".join(
        f'<p class="{"alert" if i == 0 else "why"}" role="status">{line}</p>'
        for i, line in enumerate(lines)
    )


def _slowest(results: Sequence[tuple[str, Verdict | None, float]], detect: bool) -> str:
    """The slowest time to detect (or recover) of the gate, and whose; or why there is none."""
    watched = [
        (name, verdict)
        for name, verdict, _ in results
        if verdict is not None and verdict.watch is not None and verdict.watch.faults_seen
    ]
    found = [
        (seconds, name)
        for name, verdict in watched
        if (seconds := verdict.time_to_detect_s if detect else verdict.time_to_recover_s)
        is not None
    ]
    if found:
        seconds, name = max(found)
        return f"{format_seconds(seconds)} (slowest: {name})"
    if not watched:
        return "n/a (no watch probe saw a fault)"
    names = ", ".join(name for name, _ in watched)
    return f"not detected (watched: {names})" if detect else f"not recovered (watched: {names})"


def _gate_header(
    title: str, results: Sequence[tuple[str, Verdict | None, float]], outcome: Outcome
) -> str:
    score = gate_score(results)
    judged = [verdict for _, verdict, _ in results if verdict is not None]
    held = sum(verdict.outcome is Outcome.HELD for verdict in judged)
    targets = sorted({verdict.target for verdict in judged})
    if len(targets) > 3:
        target = f"{len(targets)} targets (one per experiment: see each one)"
    else:
        target = "; ".join(targets) or "n/a"
    figures = [
        figure_item("Target", _e(target), wide=True),
        figure_item("Outcome", _e(outcome)),
        figure_item("Exit code", _e(outcome.exit_code)),
        figure_item("Score", "n/a" if score is None else f"{score}/100 <small>(weighted)</small>"),
        figure_item("Experiments", f"{len(results)} <small>({held} held)</small>"),
        figure_item("Time to detect", _with_note(_slowest(results, detect=True))),
        figure_item("Time to recover", _with_note(_slowest(results, detect=False))),
    ]
    return (
        f'<header class="top o-{_e(outcome)}">{_gate_alert(results, outcome)}'
        f"<h1>{_e(title)}</h1>"
        f'<dl class="figures">{"".join(figures)}</dl></header>'
    )


def _gate_row(index: int, name: str, verdict: Verdict | None, seconds: float) -> str:
    link = f'<a href="#e{index}">{_e(name)}</a>'
    if verdict is None:
        return (
            f'<tr class="o-skipped"><td>{_mark(False, ran=False)}</td><td>{link}</td>'
            '<td colspan="8" class="note">not run</td></tr>'
        )
    during = verdict.phase(Phase.DURING)
    spark = svg.sparkline(
        [(str(p.phase), p.availability if p.requests else None) for p in verdict.phases]
    )
    return (
        f"<tr><td>{_mark(verdict.outcome is Outcome.HELD)}</td><td>{link}</td>"
        f"<td>{_e(verdict.outcome)}</td><td class=num>{verdict.exit_code}</td>"
        f"<td class=num>{svg.score_bar(verdict.score)}{verdict.score}</td>"
        f"<td class=spark>{spark}<span class=during>"
        f"{_e(format_availability(during.availability))}</span></td>"
        f"<td class=num>{_e(format_ms(during.p95_ms))}</td>"
        f"<td class=num>{_e(_short_time(detect_words(verdict)))}</td>"
        f"<td class=num>{_e(_short_time(recover_words(verdict)))}</td>"
        f"<td class=num>{seconds:.1f} s</td></tr>"
    )


def _gate_table(results: Sequence[tuple[str, Verdict | None, float]]) -> str:
    rows = [_gate_row(i, *result) for i, result in enumerate(results, start=1)]
    return (
        "<h3>Experiments</h3><div class=table-wrap><table class=gate-table><thead>"
        "<tr><th></th><th>experiment</th>"
        "<th>outcome</th><th class=num>exit</th><th class=num>score</th>"
        "<th>availability<br><small>before, during, after</small></th>"
        "<th class=num>p95<br><small>during</small></th>"
        "<th class=num>time to<br><small>detect</small></th>"
        "<th class=num>time to<br><small>recover</small></th>"
        "<th class=num>time</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )


# -- the page --------------------------------------------------------------------------------


def render(
    results: Sequence[tuple[str, Verdict | None, float]],
    details: Sequence[RunDetails | None] | None = None,
    title: str = "Resilience verdict",
    outcome: Outcome | None = None,
    overview: bool | None = None,
) -> str:
    """The HTML page of ``results`` (see the module doc), as text.

    ``details`` are the journals (and logs) of the results, in the same order (None, or
    missing: the page shows the verdict only). ``outcome`` is the gate's, when the caller
    knows more than the verdicts (a ``--min-score`` not met, an interruption). ``overview``
    (default: more than one result) adds the gate's header and table.
    """
    outcome = gate_outcome(results) if outcome is None else outcome
    overview = len(results) > 1 if overview is None else overview
    given = list(details or [])
    shown = [
        found if i < len(given) and (found := given[i]) is not None else RunDetails()
        for i in range(len(results))
    ]
    level = "h2" if overview else "h1"
    body = []
    if overview:
        body += [_gate_header(title, results, outcome), _gate_table(results)]
    body += [
        _experiment(i, name, verdict, run, level)
        for i, ((name, verdict, _), run) in enumerate(zip(results, shown, strict=True), start=1)
    ]
    if not results:
        body.append('<p class="note">No experiment.</p>')
    page_title = f"{title}: {OUTCOME_WORDS[outcome][0].lower()} (exit {outcome.exit_code})"
    if not overview and results and results[0][1] is not None:
        page_title = f"{results[0][1].experiment}: {page_title}"
    return page(page_title, "".join(body), "gate" if overview else "run")


def page(title: str, body: str, body_class: str) -> str:
    """A whole page around ``body`` (HTML, escaped already): the report's CSS, its
    Content-Security-Policy (no script, no request), and its footer. ``title`` is text."""
    written = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="chaostoolkit-cdn {_e(__version__)}">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f'<body class="{_e(body_class)}"><main>'
        + body
        + f"<footer>Written by chaostoolkit-cdn {_e(__version__)} on {_e(written)}. "
        "This page needs no network and runs no script.</footer></main></body></html>\n"
    )


def write(
    path: Path,
    results: Sequence[tuple[str, Verdict | None, float]],
    details: Sequence[RunDetails | None] | None = None,
    title: str = "Resilience verdict",
    outcome: Outcome | None = None,
    overview: bool | None = None,
) -> None:
    """Write :func:`render`'s page to ``path`` (UTF-8)."""
    path.write_text(render(results, details, title, outcome, overview), encoding="utf-8")
