"""What surprised us, and the questions it raises (see the package doc)."""

from collections.abc import Iterator, Sequence

from chaos_runner.gameday.review._model import (
    NOTE,
    SLOW_DETECTION_S,
    SLOW_RECOVERY_S,
    TIMELINE_FILE,
    Event,
    ExperimentReview,
    Surprise,
)
from chaos_runner.report import CHECK_WORDS
from chaos_runner.values import text as _text
from chaos_runner.verdict import (
    CheckKind,
    Outcome,
    Verdict,
    format_seconds,
)

# -- what surprised us, and the questions it raises -----------------------------------------


def _role_words(roles: Sequence[tuple[str, str]]) -> frozenset[str]:
    """Every role and team the plan lists, in lower case: a note's author is shown only then."""
    words = {role.lower() for role, _ in roles}
    words |= {part.strip().lower() for _, who in roles for part in who.split(",")}
    return frozenset(word for word in words if word)


_Finding = tuple[Surprise, str | None]  # a surprise and its question (None: none to ask)


def _period(text: str) -> str:
    """``text`` as a sentence: a full stop at its end unless it has one."""
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _quoted(detail: str) -> str:
    return f" ({detail.rstrip('.')})" if detail else ""


def _deviation_question(name: str, kind: CheckKind, check: str, detail: str) -> str:
    said = _quoted(detail)
    if kind is CheckKind.STEADY_STATE_BEFORE:
        return (
            f"Before any fault of {name}, {check} did not hold{said}: was the site already "
            "degraded, and what would have shown it before the game day started?"
        )
    if kind is CheckKind.STEADY_STATE_AFTER:
        return (
            f"After the faults of {name} were restored, {check} still did not hold{said}: what "
            "kept the site from returning to its steady state, and for how long would readers "
            "have seen it?"
        )
    if kind is CheckKind.STEADY_STATE_DURING:
        return (
            f"While the faults of {name} were in effect, the steady state did not hold{said}: "
            "which part of the system did readers feel, and is that what we want it to do?"
        )
    if kind is CheckKind.METHOD_ACTION:
        return (
            f"In {name}, the action {check} failed{said}: what in the system refused it, and "
            "would the same happen during a real incident?"
        )
    return (
        f"During {name}, {check} did not hold{said}: is this how we want the system to behave "
        "under this fault, or is the expectation the thing to change?"
    )


_DEVIATIONS = frozenset(
    {
        CheckKind.STEADY_STATE_BEFORE,
        CheckKind.METHOD_PROBE,
        CheckKind.METHOD_ACTION,
        CheckKind.STEADY_STATE_DURING,
        CheckKind.STEADY_STATE_AFTER,
    }
)


def _deviations(name: str, verdict: Verdict) -> Iterator[_Finding]:
    for check in verdict.checks:
        if check.kind in _DEVIATIONS and check.ran and not check.held:
            words = f"{CHECK_WORDS[check.kind]} {check.name}"
            yield (
                Surprise(
                    "deviation", name, f"{name}: {words} did not hold{_quoted(check.detail)}."
                ),
                _deviation_question(name, check.kind, check.name, check.detail),
            )


def _fault_findings(name: str, verdict: Verdict) -> Iterator[_Finding]:
    for fault in verdict.faults:
        what = fault.name or fault.description or "a fault"
        if not fault.verified:
            yield (
                Surprise(
                    "inconclusive",
                    name,
                    f"{name}: {what} could not be verified"
                    f"{_quoted(fault.evidence)}; the run proves nothing about the site.",
                ),
                f"{what} could not be verified in {name}{_quoted(fault.evidence)}: what in the "
                "system kept it from taking effect, and does the experiment still test what we "
                "think it does?",
            )
        if fault.state in ("open", "conflict"):
            yield (
                Surprise(
                    "restore",
                    name,
                    f"{name}: {what} was left {fault.state}"
                    f"{_quoted(fault.detail)}; the site may still be degraded.",
                ),
                f"{what} was left {fault.state} after {name}{_quoted(fault.detail)}: what else "
                "changed that resource during the game day, and how would we notice a fault "
                "left in place outside one?",
            )


def _watch_findings(name: str, verdict: Verdict) -> Iterator[_Finding]:
    watch = verdict.watch
    if watch is None or not watch.faults_seen:
        return
    fault = next((f.name or f.description for f in verdict.faults), "the fault")
    ttd, ttr = watch.time_to_detect_s, watch.time_to_recover_s
    if not watch.detected:
        yield (
            Surprise(
                "undetected",
                name,
                f"{name}: the watched pages ({watch.probe}) never "
                f"failed while {fault} was in effect.",
            ),
            f"The watched pages never failed while {fault} was in effect ({name}): which "
            "readers did see the fault, and what signal would tell us that they did?",
        )
    elif ttd is not None and ttd > SLOW_DETECTION_S:
        yield (
            Surprise(
                "slow", name, f"{name}: {fault} was detected only after {format_seconds(ttd)}."
            ),
            f"{fault} was detected only after {format_seconds(ttd)} ({name}): would an alarm "
            "on the edge's 5xx rate, or a closer watch, see it sooner?",
        )
    if not watch.recovered:
        yield (
            Surprise(
                "slow",
                name,
                f"{name}: the watched pages had not recovered when the "
                f"watch stopped ({watch.stopped_because}).",
            ),
            f"The watched pages had not recovered after {fault} was restored ({name}): what "
            "keeps the site from recovering, and when would it have?",
        )
    elif ttr is not None and ttr > SLOW_RECOVERY_S:
        yield (
            Surprise(
                "slow",
                name,
                f"{name}: readers were served again only "
                f"{format_seconds(ttr)} after {fault} was restored.",
            ),
            f"Readers were served again only {format_seconds(ttr)} after {fault} was restored "
            f"({name}): what kept the site degraded after the restore (an error page cached "
            "at the edge, ErrorCachingMinTTL, TTLs, propagation), and is that what we want?",
        )


def _experiment_findings(
    experiment: ExperimentReview, aborted_by_event: set[str]
) -> Iterator[_Finding]:
    name, verdict = experiment.name, experiment.verdict
    if verdict is None and experiment.directory is None:
        # Never started: what stopped the day (an abort, a refused pre-flight) asks why.
        yield Surprise("skipped", name, _period(f"{name}: {experiment.missing}")), None
        return
    if verdict is None:
        stored = experiment.outcome_words
        said = "" if stored == "not judged" else f"; run.json stored: {stored}"
        yield (
            Surprise("missing", name, _period(f"{name}: {experiment.missing}{said}")),
            f"{name} left no journal to judge{_quoted(experiment.missing)}: what ended its run "
            "before the record was written, and were its faults restored?",
        )
        return
    found = [*_deviations(name, verdict), *_fault_findings(name, verdict)]
    if verdict.outcome is Outcome.ABORTED and name not in aborted_by_event:
        found.append(
            (
                Surprise("aborted", name, _period(f"{name}: {verdict.reason}")),
                f"{name} was stopped before its end{_quoted(verdict.reason)}: what did the system "
                "show at that moment, and would a safeguard have stopped it on its own?",
            )
        )
    if not found and verdict.outcome not in (Outcome.HELD, Outcome.ABORTED):
        found.append(
            (
                Surprise(str(verdict.outcome), name, _period(f"{name}: {verdict.reason}")),
                f"{name} ended {verdict.outcome}{_quoted(verdict.reason)}: what in the system led "
                "there?",
            )
        )
    yield from found
    yield from _watch_findings(name, verdict)


_HALT_QUESTION = (
    "what did the system show that made stopping necessary, and could a safeguard have "
    "caught it first?"
)
_ABORT_QUESTIONS = {  # by what stopped it: a game day's, or a run's (``chaos halt``)
    "safeguard": "is that limit where readers start to notice, and did the site recover as "
    "fast once the run stopped?",
    "halt": _HALT_QUESTION,
    "chaos halt": _HALT_QUESTION,
    "preflight": "what state was the system in, and how would we notice that state outside "
    "a game day?",
}
_STOPPED_BY = {
    "safeguard": "a safeguard",
    "halt": "the halt switch",
    "chaos halt": "the halt switch",
    "interrupt": "an interrupt (Ctrl-C or SIGTERM)",
    "preflight": "the pre-flight checks",
}
_ANY_ABORT = (
    "what in the system made stopping necessary, and would a safeguard have stopped it on its own?"
)


def _said(event: Event) -> str:
    """The event's sentence, naming its experiment when the sentence does not."""
    if event.experiment and event.experiment not in event.text:
        return f"{event.experiment}: {event.text}"
    return event.text


def _event_findings(events: Sequence[Event], roles: frozenset[str]) -> Iterator[_Finding]:
    for event in events:
        where = event.experiment or "The game day"  # a question begins with it
        reason = _quoted(_text(event.fields.get("reason")))
        if event.kind == "aborted":
            by = _text(event.fields.get("by"))
            stopped = f"{where} was stopped" + (f" by {_STOPPED_BY.get(by, by)}" if by else "")
            question = f"{stopped}{reason}: {_ABORT_QUESTIONS.get(by, _ANY_ABORT)}"
            yield Surprise("aborted", event.experiment, _said(event), event.at), question
        elif event.kind == "skipped":
            question = (
                f"{where} did not run{reason}: what would it take for the system to be tested "
                "by it next time?"
            )
            yield Surprise("skipped", event.experiment, _said(event), event.at), question
        elif event.kind == NOTE:
            author = _text(event.fields.get("author"))
            role = f" ({author})" if author.lower() in roles else ""
            yield Surprise(NOTE, event.experiment, f"{event.text}{role}", event.at), None


def findings(
    experiments: Sequence[ExperimentReview],
    events: Sequence[Event],
    roles: Sequence[tuple[str, str]],
    problems: Sequence[Surprise],
    skipped_lines: int,
) -> tuple[tuple[Surprise, ...], tuple[str, ...]]:
    """What surprised us, in the order of the experiments then of the timeline, and the
    questions they raise (each once); one question at least."""
    aborted = {e.experiment for e in events if e.kind == "aborted" and e.experiment}
    skipped = {e.experiment for e in events if e.kind == "skipped" and e.experiment}
    found: list[_Finding] = []
    for experiment in experiments:
        if experiment.verdict is None and experiment.name in skipped:
            continue  # the skipped event says why
        found += _experiment_findings(experiment, aborted)
    found += _event_findings(events, _role_words(roles))
    found += [(problem, None) for problem in problems]
    if skipped_lines:
        found.append(
            (
                Surprise(
                    "unreadable",
                    None,
                    f"{skipped_lines} line(s) of {TIMELINE_FILE} "
                    "could not be read (a write torn by a crash) and were skipped.",
                ),
                None,
            )
        )
    questions = list(dict.fromkeys(question for _, question in found if question))
    if not questions:
        questions.append(
            "Which fault that readers would notice have we not rehearsed yet, and what did "
            "no probe of this game day watch?"
        )
    return tuple(surprise for surprise, _ in found), tuple(questions)
