"""Words and figures both renderings of a review share."""

import math

from chaos_runner.gameday.review._model import NOTE, ExperimentReview, FaultSpan, Review, Surprise
from chaos_runner.report import html
from chaos_runner.values import number as _number
from chaos_runner.verdict import (
    Phase,
    format_availability,
    format_ms,
    format_seconds,
)

# -- words shared by both renderings ---------------------------------------------------------

BLAMELESS = (
    "A blameless review: it describes what the system did and what we learned about it, "
    "not what anyone did."
)


def short(words: str) -> str:
    """``not detected (the watched pages never failed)`` -> ``not detected``."""
    return words.split(" (", 1)[0]


def stored_seconds(experiment: ExperimentReview, key: str) -> str:
    value = _number(experiment.stored.get(key))
    return "n/a" if value is None else f"{format_seconds(value)} (stored)"


def experiment_figures(experiment: ExperimentReview) -> tuple[str, str, str, str, str]:
    """Score, availability and p95 during the fault, time to detect and to recover."""
    verdict = experiment.verdict
    if verdict is None:
        score = _number(experiment.stored.get("score"))
        shown = "n/a" if score is None else f"{int(score)} (stored)"
        ttd = stored_seconds(experiment, "time_to_detect_s")
        ttr = stored_seconds(experiment, "time_to_recover_s")
        return shown, "n/a", "n/a", ttd, ttr
    during = verdict.phase(Phase.DURING)
    return (
        str(verdict.score),
        format_availability(during.availability),
        format_ms(during.p95_ms),
        short(html.detect_words(verdict)),
        short(html.recover_words(verdict)),
    )


def experiment_at(review: Review, at: float) -> str:
    for experiment in review.experiments:
        if experiment.started is not None and experiment.started <= at <= (
            experiment.ended if experiment.ended is not None else math.inf
        ):
            return experiment.name
    return ""


def sample_words(review: Review) -> str:
    """The observer's figures in one sentence: how many samples, the worst of each."""
    measured = [s for s in review.samples if s.availability is not None]
    if not review.samples:
        return "The game day's observer recorded no sample."
    text = f"{len(review.samples)} samples of the game day's observer"
    low = min(measured, key=lambda s: (s.availability or 0.0, s.at), default=None)
    if low is not None and low.availability is not None and low.availability < 1.0:
        where = experiment_at(review, low.at)
        text += (
            f"; availability lowest {format_availability(low.availability)} at "
            f"{review.clock(low.at)}" + (f" (during {where})" if where else "")
        )
    elif low is not None:
        text += "; every request of every sample was served"
    slow = [s for s in review.samples if s.p95_ms is not None]
    if slow:
        worst_p95 = max(slow, key=lambda s: (s.p95_ms or 0.0, -s.at))
        text += f"; p95 highest {format_ms(worst_p95.p95_ms)} at {review.clock(worst_p95.at)}"
    return text + "."


def surprise_words(review: Review, surprise: Surprise) -> str:
    """A surprise in one line: a note with its time and experiment, others as they are."""
    when = "" if surprise.at is None else f"at {review.clock(surprise.at)}"
    if surprise.kind == NOTE:
        during = f" during {surprise.experiment}" if surprise.experiment else ""
        return f"Note {when}{during}: {surprise.text}"
    return surprise.text + (f" ({when})" if when else "")


def fault_words(review: Review, span: FaultSpan) -> str:
    """``deny-origin-reads (origin-outage): from 11:00:05 until 11:00:07, 2.10 s, restored``."""
    until = "no restore known" if span.end is None else f"until {review.clock(span.end)}"
    took = "" if span.end is None else f", {format_seconds(span.end - span.start)}"
    where = f" ({span.experiment})" if span.experiment else ""
    return f"{span.label}{where}: from {review.clock(span.start)} {until}{took}, {span.state}"
