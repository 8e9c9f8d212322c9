"""The review as one self-contained page, in the look of the HTML report."""

import os
from html import escape
from pathlib import Path

from chaos_runner.gameday.review._model import LOG_FILE, ExperimentReview, Review
from chaos_runner.gameday.review._words import (
    BLAMELESS,
    experiment_figures,
    fault_words,
    sample_words,
    surprise_words,
)
from chaos_runner.report import html, svg
from chaos_runner.report.journal import Bound, Point, Series, Span, Timeline, Window
from chaos_runner.verdict import (
    Outcome,
    format_seconds,
)

# -- HTML ------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _link(target: Path, base: Path, text: str) -> str:
    """A relative link to a file of the run (no request until a reader follows it)."""
    if not target.exists():
        return ""
    href = Path(os.path.relpath(target, base)).as_posix()
    return f'<a href="{_e(href)}">{_e(text)}</a>'


def _runbook(url: str) -> str:
    if url.startswith(("https://", "http://")):
        return f'<a href="{_e(url)}">{_e(url)}</a>'
    return _e(url)


def _html_header(review: Review, base: Path) -> str:
    outcome = review.outcome
    kind = "skipped" if outcome is None else str(outcome)
    if outcome is None:
        alert = f"<strong>Outcome unknown:</strong> {_e(review.outcome_words)}."
    else:
        headline, meaning = html.OUTCOME_WORDS[outcome]
        alert = f"<strong>{_e(headline)}:</strong> {meaning}"
    held = sum(
        e.verdict is not None and e.verdict.outcome is Outcome.HELD for e in review.experiments
    )
    report = _link(review.run_dir / "report.html", base, "the gate's report")
    figures = [
        html.figure_item("Plan", _e(review.plan), wide=True),
        html.figure_item(
            "Target",
            _e(review.target)
            + (f" <small>({_e(review.site_url)})</small>" if review.site_url else ""),
            wide=True,
        ),
        html.figure_item("When", _e(review.when), wide=True),
        html.figure_item("Duration", _e(format_seconds(review.duration_s))),
        html.figure_item("Outcome", _e(review.outcome or "unknown")),
        html.figure_item("Exit code", _e("n/a" if review.exit_code is None else review.exit_code)),
        html.figure_item("Experiments", f"{len(review.experiments)} <small>({held} held)</small>"),
    ]
    if review.roles:
        roles = "; ".join(f"<b>{_e(role)}</b>: {_e(who)}" for role, who in review.roles)
        figures.append(html.figure_item("Roles", roles, wide=True))
    if review.runbook:
        figures.append(html.figure_item("Runbook", _runbook(review.runbook), wide=True))
    figures.append(
        html.figure_item(
            "To follow up",
            f'<a href="#questions">{len(review.questions)} question(s)</a>, from '
            f'<a href="#surprises">{len(review.surprises)} surprise(s)</a>',
            wide=True,
        )
    )
    if report:
        figures.append(html.figure_item("Verdicts", report))
    return (
        f'<header class="top o-{_e(kind)}"><p class="alert" role="status">{alert}</p>'
        f"<h1>{_e(review.title)} <small>learning review</small></h1>"
        f'<dl class="figures">{"".join(figures)}</dl></header>'
        f'<p class="note">{_e(BLAMELESS)}</p>'
    )


def _html_expected(review: Review) -> str:
    hypothesis = (
        f'<blockquote class="hypothesis">{_e(review.hypothesis)}</blockquote>'
        if review.hypothesis
        else '<p class="note">The plan states no hypothesis.</p>'
    )
    if review.description:
        hypothesis += f"<p>{_e(review.description)}</p>"
    rows = "".join(
        f"<tr><td class=num>{e.index}</td><td>{_e(e.name)}</td>"
        f"<td>{_e(e.hypothesis or 'unknown (no journal)')}</td></tr>"
        for e in review.experiments
    )
    return (
        f"<h2>What we expected</h2>{hypothesis}"
        "<table><thead><tr><th class=num>#</th><th>experiment</th>"
        f"<th>steady-state hypothesis</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _chart_timeline(review: Review) -> Timeline:
    """The game day on its own clock: samples, faults, notes and verdict marks."""
    availability: list[list[Point]] = [[]]
    latency: list[Point] = []
    for sample in review.samples:
        t = sample.at - review.started
        if sample.availability is None:
            availability.append([])
        else:
            availability[-1].append(Point(t, sample.availability * 100))
        if sample.p95_ms is not None:
            latency.append(Point(t, sample.p95_ms))
    runs = tuple(tuple(run) for run in availability if run)
    series = (Series("samples", "observer: requests served", "line", runs),) if runs else ()
    p95 = (Series("p95", "observer: p95", "line", (tuple(latency),)),) if latency else ()
    windows = tuple(
        Window(
            f.label,
            f.start - review.started,
            None if f.end is None else f.end - review.started,
            f.state,
        )
        for f in review.faults
    )
    spans = tuple(
        Span(e.name, e.started - review.started, e.ended - review.started)
        for e in review.experiments
        if e.started is not None and e.ended is not None
    )
    times = [0.0, *(p.t for run in runs for p in run), *(p.t for p in latency)]
    times += [m.t for m in review.marks] + [s.end for s in spans]
    if review.duration_s is not None:
        times.append(review.duration_s)
    bounds = () if review.max_p95_ms is None else (Bound("p95", review.max_p95_ms),)
    return Timeline(0.0, max(times), series, p95, windows, review.marks, spans, bounds)


def _legend(review: Review, chart: Timeline) -> str:
    items = [
        html.legend_item("", svg.SERIES_COLORS.get(s.key, "#334155"), _e(s.label))
        for s in (*chart.availability, *chart.latency)
    ]
    for number, span in enumerate(review.faults, start=1):
        restored = span.state in ("restored", "irreversible") and span.end is not None
        items.append(
            html.legend_item(
                "window" if restored else "open",
                "",
                f"<b>F{number}</b> {_e(fault_words(review, span))}",
            )
        )
    for label, mark in svg.mark_names(chart.marks):
        color = svg.MARK_COLORS.get(mark.kind, "#334155")
        at = review.clock(review.started + mark.t)
        items.append(f'<li><b style="color:{color}">{_e(label)}</b> {_e(mark.label)} ({at})</li>')
    return f'<ul class="legend">{"".join(items)}</ul>'


def _html_chart(review: Review) -> str:
    chart = _chart_timeline(review)
    drawn = svg.timeline_chart("gameday", chart, axis="seconds since the game day started")
    if not drawn:
        return (
            '<p class="note">The game day\'s observer recorded no sample: no chart of '
            "availability and latency.</p>"
        )
    caption = (
        "Availability and p95 seen by the game day's own observer; faults shaded from "
        "injection to restore; notes (N), deviations (✗), detection (TTD) and recovery (TTR) "
        "marked; the experiments under the axis."
    )
    return (
        f"<figure>{drawn}{_legend(review, chart)}<figcaption>{_e(caption)} "
        f"{_e(sample_words(review))}</figcaption></figure>"
    )


def _html_events(review: Review) -> str:
    if not review.events:
        return '<p class="note">The timeline holds no event.</p>'
    rows = "".join(
        f'<tr class="ev-{_e(e.kind)}"><td class=num>{_e(review.clock(e.at))} '
        f"<small class=note>{_e(review.since(e.at))}</small></td>"
        f"<td>{_e(e.experiment or '')}</td>"
        f'<td><span class="tag">{_e(e.kind)}</span> {_e(e.text)}</td></tr>'
        for e in review.events
    )
    return (
        f"<table class=timeline><thead><tr><th class=num>time "
        f"({_e(review.zone_abbreviation)})</th><th>experiment</th><th>event</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _html_row(experiment: ExperimentReview) -> str:
    score, available, p95, ttd, ttr = experiment_figures(experiment)
    verdict = experiment.verdict
    held = verdict is not None and verdict.outcome is Outcome.HELD
    mark = (
        '<span class="mark-notrun">-</span>'
        if verdict is None
        else ('<span class="mark-held">✓</span>' if held else '<span class="mark-failed">✗</span>')
    )
    bar = svg.score_bar(verdict.score) if verdict is not None else ""
    return (
        f'<tr><td>{mark}</td><td><a href="#x{experiment.index}">{_e(experiment.name)}</a></td>'
        f"<td>{_e(experiment.outcome_words)}</td><td class=num>{bar}{_e(score)}</td>"
        f"<td class=num>{_e(available)}</td><td class=num>{_e(p95)}</td>"
        f"<td class=num>{_e(ttd)}</td><td class=num>{_e(ttr)}</td></tr>"
    )


def _html_experiment(experiment: ExperimentReview, base: Path, first: int) -> str:
    """One experiment: its verdict's header, its files, its faults (numbered from ``first``,
    as in the game day's chart) and its deviations."""
    anchor = f"x{experiment.index}"
    links = [
        _link(experiment.journal, base, "journal") if experiment.journal else "",
        _link(experiment.directory / LOG_FILE, base, "log") if experiment.directory else "",
    ]
    shown = " · ".join(link for link in links if link)
    files = f'<p class="note">{shown}</p>' if shown else ""
    verdict = experiment.verdict
    if verdict is None:
        return (
            f'<section class="experiment"><header class="top o-skipped" id="{anchor}">'
            f'<p class="alert"><strong>Not judged:</strong> {_e(experiment.missing)}.</p>'
            f"<h2>{experiment.index}. {_e(experiment.name)}</h2>"
            f'<p class="why">run.json stored: {_e(experiment.outcome_words)}.</p>'
            f"</header>{files}</section>"
        )
    failed = [c for c in verdict.checks if not c.held]
    deviations = (
        f'<ul class="checks">{"".join(map(html.check_item, failed))}</ul>'
        if failed
        else '<p class="note">None: every check held.</p>'
    )
    return (
        '<section class="experiment">'
        + html.run_header(f"{experiment.index}. {experiment.name}", verdict, "h2", anchor)
        + files
        + html.faults_section(verdict, None, first)
        + f"<h3>Deviations</h3>{deviations}</section>"
    )


def _before(review: Review, experiment: ExperimentReview) -> set[str]:
    """The names of the experiments that ran before ``experiment``."""
    return {e.name for e in review.experiments if e.index < experiment.index}


def _html_experiments(review: Review, base: Path) -> str:
    rows = "".join(map(_html_row, review.experiments))
    sections = "".join(
        _html_experiment(
            e, base, 1 + sum(f.experiment in _before(review, e) for f in review.faults)
        )
        for e in review.experiments
    )
    return (
        "<h2>Experiments</h2><div class=table-wrap><table class=gate-table><thead><tr><th></th>"
        "<th>experiment</th><th>outcome</th><th class=num>score</th>"
        "<th class=num>availability<br><small>during</small></th>"
        "<th class=num>p95<br><small>during</small></th>"
        "<th class=num>time to<br><small>detect</small></th>"
        "<th class=num>time to<br><small>recover</small></th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>{sections}"
    )


def _html_learning(review: Review) -> str:
    surprises = (
        "".join(
            f'<li class="s-{_e(s.kind)}"><span class="tag">{_e(s.kind)}</span> '
            f"{_e(surprise_words(review, s))}</li>"
            for s in review.surprises
        )
        or "<li>Nothing: every check held.</li>"
    )
    questions = "".join(f"<li>{_e(q)}</li>" for q in review.questions)
    return (
        f'<h2 id="surprises">What surprised us</h2><ul class="plain surprises">{surprises}</ul>'
        f'<h2 id="questions">Questions to follow up</h2><ol class="questions">{questions}</ol>'
    )


def render_html(review: Review, base: Path | None = None) -> str:
    """The review as one self-contained page: the HTML report's look, no script, no request.

    ``base`` is the directory the page will be written to (default: the run directory):
    links to the run's files are relative to it.
    """
    where = review.run_dir if base is None else base
    body = (
        _html_header(review, where)
        + _html_expected(review)
        + "<h2>What happened</h2>"
        + _html_chart(review)
        + _html_events(review)
        + _html_experiments(review, where)
        + _html_learning(review)
    )
    return html.page(review.headline, body, "review")
