"""Reading a game day's run directory into a :class:`Review` (see the package doc)."""

import datetime as dt
import json
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from chaos_runner import timeline as timeline_file
from chaos_runner._errors import ConfigurationError
from chaos_runner.gameday.review._findings import findings
from chaos_runner.gameday.review._model import (
    JOURNAL_FILE,
    MARK_EVENTS,
    NOTE,
    PLAN_FILE,
    REPORT_FILE,
    RUN_FILE,
    SAMPLE,
    TIMELINE_FILE,
    Event,
    ExperimentReview,
    FaultSpan,
    Review,
    ReviewError,
    Sample,
    Surprise,
    blameless,
)
from chaos_runner.report import journal as journal_reader
from chaos_runner.report.journal import Mark
from chaos_runner.values import epoch as _epoch
from chaos_runner.values import list_of as _list
from chaos_runner.values import mapping as _mapping
from chaos_runner.values import number as _number
from chaos_runner.values import text as _text
from chaos_runner.verdict import (
    Outcome,
    Verdict,
    judge,
)

# -- reading the run directory ---------------------------------------------------------------


def _not_a_run(run_dir: Path, why: str) -> ReviewError:
    return ReviewError(
        f"{run_dir} is not a game day's run directory: {why}. Give the directory "
        "`chaos gameday run` wrote (under $CHAOS_GAMEDAY_DIR/<plan>/<start>/)."
    )


def _read_run(run_dir: Path) -> Mapping[str, Any]:
    path = run_dir / RUN_FILE
    if not run_dir.is_dir():
        raise _not_a_run(run_dir, "it does not exist or is not a directory")
    if not path.is_file():
        raise _not_a_run(run_dir, f"it has no {RUN_FILE}")
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ReviewError(f"{path} cannot be read ({error.strerror or error}).") from error
    except ValueError as error:
        raise ReviewError(
            f"{path} is damaged: it is not JSON ({error}); the review needs the run's record."
        ) from error
    if not isinstance(found, Mapping):
        raise ReviewError(f"{path} is damaged: it holds a {type(found).__name__}, not an object.")
    return found


def _read_timeline(run_dir: Path) -> timeline_file.Timeline:
    path = run_dir / TIMELINE_FILE
    if not path.is_file():
        raise _not_a_run(run_dir, f"it has no {TIMELINE_FILE}")
    try:
        return timeline_file.read(path)
    except OSError as error:
        raise ReviewError(f"{path} cannot be read ({error.strerror or error}).") from error


def _read_plan(run_dir: Path, problems: list[Surprise]) -> Mapping[str, Any]:
    """The plan's copy, read leniently: a review of a past run must not fail on a key a
    later version of the plan format added, nor on a plan that cannot be read."""
    path = run_dir / PLAN_FILE
    try:
        found = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(
            Surprise(
                "unreadable",
                None,
                f"{path} is missing: roles, runbook and time zone are unknown (times are in UTC).",
            )
        )
        return {}
    except (OSError, yaml.YAMLError) as error:
        problems.append(
            Surprise(
                "unreadable",
                None,
                f"{path} cannot be read ({error}): roles, "
                "runbook and time zone are unknown (times are in UTC).",
            )
        )
        return {}
    return _mapping(found)


def _zone(plan: Mapping[str, Any], problems: list[Surprise]) -> tuple[dt.tzinfo, str]:
    name = _text(plan.get("timezone")) or "UTC"
    try:
        return zoneinfo.ZoneInfo(name), name
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(
            Surprise(
                "unreadable",
                None,
                f"The plan's time zone {name!r} is unknown here: times are in UTC.",
            )
        )
        return dt.UTC, "UTC"


def _roles(plan: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    roles = []
    for role, who in _mapping(plan.get("roles")).items():
        names = [str(item) for item in _list(who)] if isinstance(who, list) else [str(who)]
        roles.append((str(role).replace("_", " "), ", ".join(names)))
    return tuple(roles)


def _events(found: timeline_file.Timeline) -> tuple[list[Event], list[Sample]]:
    events, samples = [], []
    for item in found.events:
        at = float(item["at"])
        kind = _text(item.get("kind")) or "event"
        if kind == SAMPLE:
            availability = _number(item.get("availability"))
            samples.append(
                Sample(
                    at=at,
                    availability=None if availability is None else min(max(availability, 0.0), 1.0),
                    p95_ms=_number(item.get("p95_ms")),
                    requests=int(_number(item.get("requests")) or 0),
                )
            )
            continue
        known = ("at", "time", "kind", "text", "experiment")
        events.append(
            Event(
                at=at,
                kind=kind,
                text=blameless(_text(item.get("text")) or kind),
                experiment=_text(item.get("experiment")) or None,
                fields={
                    key: blameless(value) if isinstance(value, str) else value
                    for key, value in item.items()
                    if key not in known
                },
            )
        )
    return events, samples


def _read_stored(run_dir: Path, problems: list[Surprise]) -> dict[str, Mapping[str, Any]]:
    """The gate's report.json, by experiment name: the figures of an experiment whose
    journal is gone (never those of one whose journal is there: that one is judged)."""
    path = run_dir / REPORT_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        problems.append(Surprise("unreadable", None, f"{path} cannot be read ({error})."))
        return {}
    entries = map(_mapping, _list(_mapping(document).get("experiments")))
    return {_text(entry.get("name")): entry for entry in entries if _text(entry.get("name"))}


def _planned(plan: Mapping[str, Any]) -> list[str]:
    """The paths of the plan's experiments, in order (a path, or an entry with one)."""
    paths = []
    for item in _list(plan.get("experiments")):
        path = item if isinstance(item, str) else _text(_mapping(item).get("path"))
        if path:
            paths.append(path)
    return paths


def _entries(run: Mapping[str, Any], plan: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """run.json's experiments, then the plan's that run.json does not list (not run)."""
    entries = [_mapping(item) for item in _list(run.get("experiments"))]
    entries += [{"path": path} for path in _planned(plan)[len(entries) :]]
    return entries


def _directory(run_dir: Path, entry: Mapping[str, Any], index: int) -> Path | None:
    """The experiment's ``NN-<name>`` directory inside ``run_dir``.

    Only its name is taken from run.json, which may hold the absolute path where the game
    day ran: a review of a copy (an archive, a CI artifact) must read the copy's journals,
    never the original's.
    """
    named = Path(_text(entry.get("directory"))).name
    if named and (run_dir / named).is_dir():
        return run_dir / named
    found = sorted(p for p in run_dir.glob(f"{index:02d}-*") if p.is_dir())
    return found[0] if found else None


def _name(entry: Mapping[str, Any], directory: Path | None, index: int) -> str:
    named = _text(entry.get("name")) or Path(_text(entry.get("path"))).stem
    if not named and directory is not None:
        named = directory.name.split("-", 1)[-1]
    return named or f"experiment {index}"


@dataclass(frozen=True, slots=True)
class _Judged:
    verdict: Verdict | None
    journal: Mapping[str, Any] | None
    missing: str


def _judge(journal: Path | None) -> _Judged:
    if journal is None:
        return _Judged(None, None, "it was not run (the run has no directory of it)")
    try:
        found = json.loads(journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _Judged(None, None, f"its journal is missing ({journal})")
    except OSError as error:
        return _Judged(None, None, f"its journal cannot be read ({journal}: {error.strerror})")
    except ValueError as error:
        return _Judged(None, None, f"its journal is damaged ({journal}: not JSON, {error})")
    try:
        verdict = judge(found)
    except ConfigurationError as error:
        return _Judged(None, None, f"its journal is not a journal ({journal}: {error})")
    findings = tuple(replace(f, reason=blameless(f.reason)) for f in verdict.findings)
    notes = tuple(map(blameless, verdict.notes))
    return _Judged(replace(verdict, findings=findings, notes=notes), found, "")


def _hypothesis_of_file(run: Mapping[str, Any], path: str) -> str:
    """The steady-state title from the experiment file, when its journal is gone."""
    if not path:
        return ""
    plan_dir = Path(_text(run.get("plan"))).parent
    for candidate in (Path(path), plan_dir / path):
        try:
            found = yaml.safe_load(candidate.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        title = _text(_mapping(_mapping(found).get("steady-state-hypothesis")).get("title"))
        if title:
            return title
    return ""


def _first(events: Iterable[Event], kind: str, name: str, index: int) -> Event | None:
    return next(
        (
            event
            for event in events
            if event.kind == kind
            and (event.experiment == name or _number(event.fields.get("index")) == index)
        ),
        None,
    )


def _experiment(
    run_dir: Path,
    run: Mapping[str, Any],
    entry: Mapping[str, Any],
    index: int,
    events: Sequence[Event],
    stored: Mapping[str, Mapping[str, Any]],
) -> tuple[ExperimentReview, Mapping[str, Any] | None]:
    directory = _directory(run_dir, entry, index)
    name = _name(entry, directory, index)
    judged = _judge(None if directory is None else directory / JOURNAL_FILE)
    began, ended = _first(events, "experiment-started", name, index), None
    ended_event = _first(events, "experiment-ended", name, index)
    journal = judged.journal or {}
    start = began.at if began is not None else _epoch(journal.get("start"))
    if ended_event is not None:
        ended = ended_event.at
    elif start is not None and (took := _number(journal.get("duration"))) is not None:
        ended = start + took
    path = _text(entry.get("path"))
    hypothesis = journal_reader.hypothesis(journal) if judged.journal is not None else ""
    skipped = _first(events, "skipped", name, index)
    missing = judged.missing
    if directory is None and skipped is not None:
        missing = f"it was not run: {_text(skipped.fields.get('reason')) or skipped.text}"
    review = ExperimentReview(
        index=index,
        name=name,
        path=path,
        directory=directory,
        hypothesis=hypothesis or _hypothesis_of_file(run, path),
        verdict=judged.verdict,
        missing=missing,
        stored={**stored.get(name, {}), **entry},
        started=start,
        ended=ended,
    )
    return review, judged.journal


# -- faults and marks on the game day's clock ------------------------------------------------


def _fault_spans(
    experiments: Sequence[ExperimentReview], events: Sequence[Event]
) -> list[FaultSpan]:
    """Each fault from its journal's ledger record; a fault-in event no journal knows (its
    journal is gone) from the timeline, closed by its fault-out."""
    spans, known = [], set()
    for experiment in experiments:
        for fault in experiment.verdict.faults if experiment.verdict else ():
            known.add(fault.entry)
            if fault.injected and fault.injected_at is not None:
                label = fault.name or fault.description or "fault"
                state = fault.state or "unknown"
                spans.append(
                    FaultSpan(label, experiment.name, fault.injected_at, fault.restored_at, state)
                )
    closed = {_text(e.fields.get("entry")): e for e in events if e.kind == "fault-out"}
    for event in events:
        entry = _text(event.fields.get("entry"))
        if event.kind != "fault-in" or not entry or entry in known:
            continue
        known.add(entry)
        out = closed.get(entry)
        label = _text(event.fields.get("description")) or _text(event.fields.get("fault_kind"))
        state = "unknown" if out is None else _text(out.fields.get("state")) or "unknown"
        end = None if out is None else out.at
        spans.append(FaultSpan(label or "fault", event.experiment, event.at, end, state))
    return sorted(spans, key=lambda span: span.start)


def _marks(
    started: float,
    experiments: Sequence[tuple[ExperimentReview, Mapping[str, Any] | None]],
    events: Sequence[Event],
) -> list[Mark]:
    """Notes; each journal's deviations, detection and recovery (the deviation, detected and
    recovered events stand in for a journal that is gone). Seconds since the game day began."""
    marks = [Mark(e.at - started, "note", e.text) for e in events if e.kind == NOTE]
    for experiment, journal in experiments:
        if experiment.verdict is not None and journal is not None:
            t0 = _epoch(journal.get("start"))
            if t0 is None:
                continue
            drawn = journal_reader.timeline(journal, experiment.verdict.faults)
            marks += [
                Mark(mark.t + t0 - started, mark.kind, f"{experiment.name}: {mark.label}")
                for mark in drawn.marks
            ]
            continue
        marks += [
            Mark(e.at - started, e.kind, f"{experiment.name}: {e.text}")
            for e in events
            if e.kind in MARK_EVENTS and e.experiment == experiment.name
        ]
    return sorted(marks, key=lambda mark: mark.t)


# -- the review ------------------------------------------------------------------------------


def _game_outcome(
    run: Mapping[str, Any], events: Sequence[Event]
) -> tuple[Outcome | None, int | None]:
    """run.json's outcome; else the gameday-ended event's; else none (the game day did not
    record its end: the verdicts alone would hide an abort or a pre-flight refusal)."""
    ended = next((e for e in reversed(events) if e.kind == "gameday-ended"), None)
    for source in (run, {} if ended is None else ended.fields):
        try:
            outcome = Outcome(_text(source.get("outcome")))
        except ValueError:
            continue
        code = _number(source.get("exit_code"))
        return outcome, outcome.exit_code if code is None else int(code)
    return None, None


def _span_of_run(run: Mapping[str, Any], events: Sequence[Event]) -> tuple[float, float | None]:
    first = next((e for e in events if e.kind == "gameday-started"), None)
    last = next((e for e in reversed(events) if e.kind == "gameday-ended"), None)
    started = _number(run.get("started"))
    if started is None:
        started = first.at if first is not None else (events[0].at if events else 0.0)
    ended = _number(run.get("ended"))
    if ended is None and last is not None:
        ended = last.at
    return started, ended


def build_review(run_dir: Path) -> Review:
    """The learning review of the game day run in ``run_dir`` (see the package doc).

    Raises ReviewError when ``run_dir`` is not a game day's run (no run.json or timeline)
    or when either cannot be read; anything else missing is said in the review.
    """
    run = _read_run(run_dir)
    found = _read_timeline(run_dir)
    problems: list[Surprise] = []
    plan = _read_plan(run_dir, problems)
    zone, zone_name = _zone(plan, problems)
    stored = _read_stored(run_dir, problems)
    events, samples = _events(found)
    judged = [
        _experiment(run_dir, run, entry, index, events, stored)
        for index, entry in enumerate(_entries(run, plan), start=1)
    ]
    experiments = tuple(experiment for experiment, _ in judged)
    started, ended = _span_of_run(run, events)
    roles = _roles(plan)
    outcome, code = _game_outcome(run, events)
    surprises, questions = findings(experiments, events, roles, problems, found.skipped)
    started_event = next((e for e in events if e.kind == "gameday-started"), None)
    said = {} if started_event is None else started_event.fields
    safeguards = _mapping(plan.get("safeguards"))
    return Review(
        run_dir=run_dir,
        title=_text(run.get("title")) or _text(plan.get("title")) or run_dir.parent.name,
        plan=_text(run.get("plan")) or _text(said.get("plan")) or str(run_dir / PLAN_FILE),
        description=_text(plan.get("description")).strip(),
        hypothesis=_text(plan.get("hypothesis")) or _text(said.get("hypothesis")),
        target=_text(run.get("target")) or _text(said.get("target")) or "unknown",
        site_url=_text(run.get("site_url")) or _text(said.get("site_url")),
        runbook=_text(plan.get("runbook")),
        roles=roles,
        zone=zone,
        zone_name=zone_name,
        started=started,
        ended=ended,
        outcome=outcome,
        exit_code=code,
        experiments=experiments,
        events=tuple(events),
        samples=tuple(samples),
        faults=tuple(_fault_spans(experiments, events)),
        marks=tuple(_marks(started, judged, events)),
        max_p95_ms=_number(safeguards.get("max_p95_ms")),
        surprises=surprises,
        questions=questions,
        skipped_lines=found.skipped,
    )
