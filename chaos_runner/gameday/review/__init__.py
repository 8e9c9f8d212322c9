"""The learning review of a game day: what we expected, what happened, what surprised us.

:func:`build_review` reads a game day's run directory (docs/gameday.md: ``run.json``,
``timeline.jsonl``, ``plan.yaml``, ``NN-<experiment>/journal.json``, ``report.json``) into a
:class:`Review`; :func:`render_markdown` and :func:`render_html` write it for people, and
:func:`write_review` puts ``review.md`` and ``review.html`` beside the run.

A review is blameless: every sentence is about the system (the site, its caches, its
alarms, the experiments), never about a person. Roles appear only as the plan lists them;
a note's author is shown only when it is one of those roles, never a name.

Where the figures come from
    Each experiment's outcome, score, time to detect and to recover, faults and deviations
    come from judging its journal again (:func:`chaos_runner.verdict.judge`), not from the
    numbers ``run.json`` or ``report.json`` stored: the journal is the evidence. When an
    experiment has no readable journal, the review says so and shows what ``run.json``
    (and ``report.json``) stored, marked as such. The charts read the game day's own
    ``sample`` events (availability and p95 over the whole game day), shade each fault from
    injection to restore (the journals' ledger records, and ``fault-in``/``fault-out``
    events of faults no journal knows), and mark the timeline's notes and each journal's
    deviations, detection and recovery.

What surprised us, and the questions
    Surprises are the checks that failed (deviations), faults that could not be verified
    or were left unrestored, aborts, skips, experiments without a journal, lines of the
    timeline that could not be read, and every note. Questions are generated from them,
    one per deviation, abort, skip, fault not verified or not restored, missing journal,
    fault the watch never saw, detection slower than :data:`SLOW_DETECTION_S` and recovery
    slower than :data:`SLOW_RECOVERY_S`; each asks about the system. A game day where
    everything held still gets one: what have we not rehearsed yet?

What is an error here
    A directory that is not a game day's run (no ``run.json``, no ``timeline.jsonl``), or
    whose ``run.json`` or timeline cannot be read, raises :class:`ReviewError` naming the
    file. Anything else that is missing or damaged (a journal, the plan's copy, a torn last
    line of the timeline, an unknown time zone) is said in the review, which is still
    written: a review is most needed after a game day that went wrong.

Where the code is
    ``_model`` (what a review holds), ``_reading`` (the run directory into a review),
    ``_findings`` (surprises and questions), ``_words`` (what both renderings say),
    ``_markdown`` and ``_html`` (the renderings; the page reuses the HTML report's CSS,
    header, fault list and charts, :mod:`chaos_runner.report`).
"""

from pathlib import Path

from chaos_runner.gameday.review._html import render_html
from chaos_runner.gameday.review._markdown import render_markdown
from chaos_runner.gameday.review._model import (
    SLOW_DETECTION_S,
    SLOW_RECOVERY_S,
    Event,
    ExperimentReview,
    FaultSpan,
    Review,
    ReviewError,
    Sample,
    Surprise,
)
from chaos_runner.gameday.review._reading import build_review

__all__ = [
    "SLOW_DETECTION_S",
    "SLOW_RECOVERY_S",
    "Event",
    "ExperimentReview",
    "FaultSpan",
    "Review",
    "ReviewError",
    "Sample",
    "Surprise",
    "build_review",
    "render_html",
    "render_markdown",
    "write_review",
]


def write_review(run_dir: Path, out: Path | None = None) -> tuple[Path, Path]:
    """Write ``review.md`` and ``review.html`` into ``out`` (default: ``run_dir``).

    Raises ReviewError as :func:`build_review` does, and OSError when a file cannot be
    written.
    """
    review = build_review(run_dir)
    where = run_dir if out is None else out
    where.mkdir(parents=True, exist_ok=True)
    md, page = where / "review.md", where / "review.html"
    md.write_text(render_markdown(review), encoding="utf-8")
    page.write_text(render_html(review, where), encoding="utf-8")
    return md, page
