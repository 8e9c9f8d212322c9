"""The learning review of a game day, from the run directory of a real game day.

The module plays one game day with `chaos gameday run` on its own sandbox (origin-outage,
then distribution-disabled), adds two notes with `chaos gameday note` from "another
terminal" while the outage runs, and reviews what it left. Tests that need a game day gone
wrong (a deviation, a lost journal, an abort, a torn line) change a copy of its directory.
"""

import copy
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from playwright.sync_api import Browser

from chaos_runner import timeline
from chaos_runner._errors import ConfigurationError
from chaos_runner.gameday import review as review_module
from chaos_runner.gameday.review import (
    ReviewError,
    build_review,
    render_html,
    render_markdown,
    write_review,
)
from chaos_runner.report.markdown import cell as markdown_cell
from chaos_runner.verdict import Phase, Verdict, format_availability, judge
from tests.commands import CHAOS, chaos
from tests.report.conftest import opened
from tests.unit.test_verdict import load_probe_misses

ROOT = Path(__file__).resolve().parents[2]
TITLE = "Origin resilience rehearsal"
PLAN = f"""\
version: 1
title: {TITLE}
description: What happens to readers when the origin fails, and how fast we see it.
hypothesis: Readers keep getting pages while the origin is down; we notice within a minute.
target: sandbox
runbook: https://wiki.example.com/runbooks/static-site
roles:
  facilitator: site reliability (rotating)
  observers: [web team, support]
  on_call: "#web-oncall"
timezone: Europe/Berlin
experiments:
  - {ROOT / "experiments" / "origin-outage.yaml"}
  - {ROOT / "experiments" / "distribution-disabled.yaml"}
"""
SUPPORT_NOTE = "Support sees no tickets about the site yet"
NAMED_NOTE = "Restarted the status page check by hand"
NAMED_AUTHOR = "Alice Example"


@dataclass
class GameDay:
    run_dir: Path
    verdicts: dict[str, Verdict]


def wait_for_fault(gamedays: Path, day: "subprocess.Popen[str]") -> None:
    """Until the game day's first fault is in (the ledger writes it to the timeline)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and day.poll() is None:
        for path in gamedays.glob("*/*/timeline.jsonl"):
            if any(e["kind"] == "fault-in" for e in timeline.read(path).events):
                return
        time.sleep(0.1)
    pytest.fail("the game day injected no fault within 90 s (or ended first)")


@pytest.fixture(scope="module")
def game_day(tmp_path_factory: pytest.TempPathFactory) -> GameDay:
    home = tmp_path_factory.mktemp("gameday")
    plan = home / "origin-rehearsal.yaml"
    plan.write_text(PLAN)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "AWS_"))}
    env.update(CHAOS_STATE_DIR=str(home / ".chaos"), CHAOS_GAMEDAY_DIR=str(home / "gamedays"))
    day = subprocess.Popen([*CHAOS, "gameday", "run", str(plan)], cwd=home, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for_fault(home / "gamedays", day)
        for text, author in ((SUPPORT_NOTE, "support"), (NAMED_NOTE, NAMED_AUTHOR)):
            noted = chaos(["gameday", "note", text, "--author", author], home, env)
            assert noted.returncode == 0, noted.stderr
        out, err = day.communicate(timeout=120)
    finally:
        if day.poll() is None:
            day.terminate()  # it restores what it injected
            day.communicate(timeout=60)
    assert day.returncode == 0, out + err
    run_dir = Path(next(line for line in out.splitlines() if line.startswith("Run directory: "))
                   .removeprefix("Run directory: "))  # fmt: skip
    verdicts = {
        journal.parent.name.split("-", 1)[1]: judge(json.loads(journal.read_text()))
        for journal in sorted(run_dir.glob("*/journal.json"))
    }
    return GameDay(run_dir, verdicts)


def copied(game_day: GameDay, tmp_path: Path) -> Path:
    """A copy of the game day's run directory, to damage."""
    return Path(shutil.copytree(game_day.run_dir, tmp_path / game_day.run_dir.name))


def assert_valid_markdown(text: str) -> None:
    """Parsed by markdown-it (GFM tables): every table has one header row and its rows keep
    the header's column count; no raw HTML anywhere."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    assert not [t for t in tokens if t.type in ("html_block", "html_inline")]
    inline = [c for t in tokens if t.children for c in t.children]
    assert not [c for c in inline if c.type == "html_inline"]
    tables, columns, cells = 0, None, 0
    for token in tokens:
        if token.type == "table_open":
            tables, columns = tables + 1, None
        elif token.type == "tr_close":
            assert columns is None or cells == columns, "a row with another column count"
            columns, cells = (cells if columns is None else columns), 0
        elif token.type in ("th_open", "td_open"):
            cells += 1
    assert tables >= 3  # expected, happened, experiments
    pipes = [line for line in text.splitlines() if line.startswith("|")]
    assert pipes, "no table"


# -- the review of a real game day -----------------------------------------------------------


def row(text: str, start: str) -> str:
    """The first line of ``text`` that starts with ``start``."""
    return next(line for line in text.splitlines() if line.startswith(start))


@pytest.mark.slow
def test_the_review_holds_the_timeline_figures_notes_and_questions(game_day: GameDay) -> None:
    review = build_review(game_day.run_dir)
    text = render_markdown(review)

    # `chaos gameday run` wrote the same review at its end
    assert (game_day.run_dir / "review.md").read_text() == text
    assert text.startswith(f"# Learning review: {TITLE} — held (exit 0)\n")
    assert "Europe/Berlin" in text and " CET (Europe/Berlin)" in text
    assert "- **Roles**: facilitator: site reliability (rotating); observers: web team, " in text
    assert "- **Runbook**: https://wiki.example.com/runbooks/static-site" in text
    assert "> Readers keep getting pages while the origin is down" in text
    for verdict in game_day.verdicts.values():
        assert verdict.target in text
    # every event but the samples is a row, at its time in Berlin
    events = timeline.read(game_day.run_dir / "timeline.jsonl").events
    samples = [e for e in events if e["kind"] == "sample"]
    rows = [e for e in events if e["kind"] != "sample"]
    assert samples, "the observer wrote no sample"
    assert [e.kind for e in review.events] == [e["kind"] for e in rows]
    assert {"fault-in", "fault-out", "note", "preflight"} <= {e.kind for e in review.events}
    for event in rows:
        assert f"| {review.clock(event['at'])} | {review.since(event['at'])} |" in text
        assert markdown_cell(event["text"]) in text
    assert f"{len(samples)} samples of the game day's observer" in text
    # the figures of each experiment come from its journal
    outage = game_day.verdicts["origin-outage"]
    disabled = game_day.verdicts["distribution-disabled"]
    assert outage.time_to_recover_s is not None
    outage_row = row(text, "| 1 | origin-outage | held (exit 0) |")
    assert f"| {outage.time_to_recover_s:.2f} s |" in outage_row
    assert "| not detected |" in outage_row
    during = format_availability(disabled.phase(Phase.DURING).availability)
    assert f"| {during} | n/a | n/a | n/a |" in row(text, "| 2 | distribution-disabled | held")
    # each fault from injection to restore, and its restore
    assert [(f.label, f.state) for f in review.faults] == [
        ("deny-origin-reads", "restored"),
        ("disable-the-distribution", "restored"),
    ]
    assert "- ✓ deny-origin-reads: origin outage: bucket policy of " in text
    # the notes, the one of a role with its role, the other with no name
    assert f": {SUPPORT_NOTE} (support)\n" in text
    assert f": {NAMED_NOTE}\n" in text
    assert NAMED_AUTHOR not in text and NAMED_AUTHOR not in render_html(review)
    # a question about the system: the watch of the cached pages never saw the outage
    assert review.questions == (
        "The watched pages never failed while deny-origin-reads was in effect "
        "(origin-outage): which readers did see the fault, and what signal would tell us "
        "that they did?",
    )
    assert "\n1. The watched pages never failed while deny-origin-reads" in text
    assert_valid_markdown(text)


@pytest.mark.slow
def test_the_html_review_opens_offline_in_chromium_with_its_chart(
    game_day: GameDay, browser: Browser, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    md, page = write_review(game_day.run_dir, out)

    assert md == out / "review.md" and page.is_file()
    review = build_review(game_day.run_dir)
    with opened(browser, page) as seen:
        shown = seen.page
        assert shown.locator("h1").inner_text().startswith(TITLE)
        assert shown.locator("p.alert").first.inner_text().startswith("Held:")
        chart = shown.locator("svg.timeline")
        assert chart.count() == 1
        # availability and p95 of the samples; two faults shaded in both panels; the notes
        assert chart.get_attribute("data-series") == "2"
        assert shown.locator("svg.timeline g.window").count() == 4
        marks = shown.eval_on_selector_all(
            "svg.timeline g.mark", "gs => gs.map(g => g.dataset.mark)"
        )
        assert marks.count("note") == 2 and "recovered" in marks
        legend = shown.locator("figure ul.legend").inner_text()
        assert SUPPORT_NOTE in legend and "F2 disable-the-distribution" in legend
        rows = shown.locator("table.timeline tbody tr")
        assert rows.count() == len(review.events)
        questions = shown.locator("ol.questions li").all_inner_texts()
        assert questions == list(review.questions)
        # links to the run's files work from elsewhere (relative to the page)
        journal = shown.locator("a", has_text="journal").first.get_attribute("href")
        assert journal is not None and (out / journal).resolve().is_file()
        shown.screenshot(path=str(tmp_path / "review.png"), full_page=True)
        seen.assert_quiet()
    assert (tmp_path / "review.png").stat().st_size > 10_000


@pytest.mark.slow
def test_a_note_that_holds_markup_is_shown_as_text_and_loads_nothing(
    game_day: GameDay, browser: Browser, tmp_path: Path
) -> None:
    run_dir = copied(game_day, tmp_path)
    hostile = '<script>alert(1)</script><img src="http://127.0.0.1:9/x.png"> | col'
    timeline.append(run_dir / "timeline.jsonl", timeline.event(
        "note", hostile, "origin-outage", author="<b>support</b>"))  # fmt: skip

    md, page = write_review(run_dir)

    with opened(browser, page) as seen:
        shown = seen.page
        assert shown.locator("main script, main img, main iframe").count() == 0
        assert hostile in shown.locator("table.timeline").inner_text()
        seen.assert_quiet()
    assert "<script>" not in page.read_text()
    assert_valid_markdown(md.read_text())  # the pipe does not break the table


# -- a game day gone wrong -------------------------------------------------------------------


@pytest.mark.slow
def test_a_deviation_a_lost_journal_an_abort_and_a_torn_line_are_said_with_questions(
    game_day: GameDay, tmp_path: Path
) -> None:
    run_dir = copied(game_day, tmp_path)
    outage = run_dir / "01-origin-outage" / "journal.json"
    journal = json.loads(outage.read_text())
    outage.write_text(json.dumps(load_probe_misses(copy.deepcopy(journal), "after", 412.0)))
    (run_dir / "02-distribution-disabled" / "journal.json").unlink()
    line = run_dir / "timeline.jsonl"
    timeline.append(line, timeline.event(
        "aborted", "A safeguard stopped the run: availability 40% < 50% over 5 s.",
        "distribution-disabled", reason="availability 40% < 50% over 5 s",
        by="safeguard"))  # fmt: skip
    halted = f"halted by {NAMED_AUTHOR}: the CDN team asked to stop"  # as the safety control says
    timeline.append(line, timeline.event(
        "aborted", halted, "origin-outage", reason=halted, by="chaos halt"))  # fmt: skip
    with line.open("a") as torn:
        torn.write('{"at": 1, "kind": "no')

    review = build_review(run_dir)
    text = render_markdown(review)

    kinds = [s.kind for s in review.surprises]
    assert kinds.count("deviation") == 1 and "missing" in kinds and "aborted" in kinds
    assert (
        "origin-outage: steady state after pages-are-available-and-fast did not hold "
        "(p95 412 ms > 300 ms" in text
    )
    assert review.questions[0].startswith(
        "After the faults of origin-outage were restored, pages-are-available-and-fast still "
        "did not hold (p95 412 ms > 300 ms"
    )
    # the lost journal: said, with what run.json stored, and not a crash
    lost = review.experiments[1]
    assert lost.verdict is None and "its journal is missing" in lost.missing
    assert lost.outcome_words == "held (exit 0), as stored"
    assert "distribution-disabled left no journal to judge" in text
    assert (
        "distribution-disabled was stopped by a safeguard (availability 40% < 50% over 5 s): "
        "is that limit where readers start to notice, and did the site recover as fast once "
        "the run stopped?"
    ) in review.questions
    # a halt is said without the name of who engaged the switch
    assert (
        "origin-outage was stopped by the halt switch (halted: the CDN team asked to stop): "
        "what did the system show that made stopping necessary, and could a safeguard have "
        "caught it first?"
    ) in review.questions
    assert NAMED_AUTHOR not in text and NAMED_AUTHOR not in render_html(review)
    assert review.skipped_lines == 1
    assert "1 line(s) of timeline.jsonl could not be read" in text
    assert_valid_markdown(text)


@pytest.mark.slow
def test_a_fault_whose_journal_is_gone_is_shaded_from_the_ledgers_events(
    game_day: GameDay, tmp_path: Path
) -> None:
    run_dir = copied(game_day, tmp_path)
    journal = run_dir / "02-distribution-disabled" / "journal.json"
    record = json.loads(journal.read_text())["chaostoolkit-cdn"]["faults"][0]
    journal.unlink()

    review = build_review(run_dir)

    assert [f.experiment for f in review.faults] == ["origin-outage", "distribution-disabled"]
    gone = review.faults[1]
    assert gone.label == record["fault"]  # the ledger's description: no action names it
    assert (gone.start, gone.end, gone.state) == (
        pytest.approx(record["injected_at"], abs=0.5),
        pytest.approx(record["closed_at"], abs=0.5),
        "restored",
    )


# -- not a run -------------------------------------------------------------------------------


def test_the_review_exports_what_the_game_day_and_the_cli_call() -> None:
    assert sorted(review_module.__all__) == [
        "Event",
        "ExperimentReview",
        "FaultSpan",
        "Review",
        "ReviewError",
        "SLOW_DETECTION_S",
        "SLOW_RECOVERY_S",
        "Sample",
        "Surprise",
        "build_review",
        "render_html",
        "render_markdown",
        "write_review",
    ]
    assert issubclass(ReviewError, ConfigurationError)


def test_a_directory_that_is_not_a_run_is_refused_with_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(ReviewError, match=r"is not a game day's run directory: it has no run.json"):
        build_review(tmp_path)
    (tmp_path / "run.json").write_text('{"title": "half')
    with pytest.raises(ReviewError, match=r"run.json is damaged: it is not JSON"):
        build_review(tmp_path)
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(ReviewError, match=r"it has no timeline.jsonl"):
        build_review(tmp_path)


def test_a_game_day_refused_by_its_preflight_asks_about_the_refusal(tmp_path: Path) -> None:
    """The run directory `chaos gameday run` leaves when a pre-flight check refuses the day
    (its files as chaos_runner/gameday/runner.py writes them; no experiment ran)."""
    (tmp_path / "plan.yaml").write_text(PLAN)
    reason = "Pre-flight refused the game day: already in ALARM: site-5xx"
    line = tmp_path / "timeline.jsonl"
    for kind, text, fields in (
        ("gameday-started", f"Game day started: {TITLE}.", {"title": TITLE}),
        ("preflight", "Pre-flight alarms: REFUSED: already in ALARM: site-5xx",
         {"check": "alarms", "ok": False, "detail": "already in ALARM: site-5xx"}),
        ("aborted", reason, {"reason": reason, "by": "preflight"}),
        ("gameday-ended", "Game day ended: aborted (exit 5) after 2 s.",
         {"outcome": "aborted", "exit_code": 5}),
    ):  # fmt: skip
        timeline.append(line, timeline.event(kind, text, None, **fields))
    experiments = [
        {"name": stem, "path": str(ROOT / "experiments" / f"{stem}.yaml"), "directory": None,
         "outcome": "skipped", "exit_code": None, "score": None, "seconds": 0.0}
        for stem in ("origin-outage", "distribution-disabled")
    ]  # fmt: skip
    run = {"title": TITLE, "started": time.time() - 2, "ended": time.time(),
           "outcome": "aborted", "exit_code": 5, "reason": reason,
           "experiments": experiments}  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps(run))

    review = build_review(tmp_path)
    text = render_markdown(review)

    assert text.startswith(f"# Learning review: {TITLE} — aborted (exit 5)\n")
    assert review.questions == (
        "The game day was stopped by the pre-flight checks (Pre-flight refused the game day: "
        "already in ALARM: site-5xx): what state was the system in, and how would we notice "
        "that state outside a game day?",
    )
    assert "- origin-outage: it was not run (the run has no directory of it).\n" in text
    # each experiment's hypothesis, from its file since no journal was written
    assert "| 1 | origin-outage | The edge serves what was deployed; 99% of requests" in text
    assert "| 1 | origin-outage | skipped, as stored | n/a |" in text
    assert '<header class="top o-aborted">' in render_html(review)
    assert_valid_markdown(text)


def test_a_game_day_with_no_journal_no_plan_and_no_end_is_still_reviewed(tmp_path: Path) -> None:
    """A game day killed early: run.json says little, the plan's copy is gone."""
    (tmp_path / "run.json").write_text(json.dumps({"title": "Killed early", "started": 1.0e9}))
    timeline.append(tmp_path / "timeline.jsonl", timeline.event(
        "gameday-started", "The game day started.", None, at=1.0e9))  # fmt: skip

    review = build_review(tmp_path)
    text = render_markdown(review)

    assert review.outcome is None and review.experiments == ()
    assert text.startswith("# Learning review: Killed early — outcome unknown (the game day "
                           "did not record its end)")  # fmt: skip
    assert "plan.yaml is missing" in text
    assert "The game day's observer recorded no sample." in text
    assert "no chart" in render_html(review)
    assert_valid_markdown(text)


# -- the command -----------------------------------------------------------------------------


@pytest.mark.slow
def test_chaos_gameday_review_writes_both_files_and_prints_the_headline(
    game_day: GameDay, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    run_dir = copied(game_day, tmp_path)
    opener = tmp_path / "browser.sh"
    opener.write_text(f'#!/bin/sh\necho "$1" > {tmp_path / "opened.txt"}\n')
    opener.chmod(0o755)

    done = chaos(["gameday", "review", str(run_dir), "--open"], tmp_path,
                 {**clean_env, "BROWSER": str(opener)})  # fmt: skip
    refused = chaos(["gameday", "review", str(tmp_path / "nowhere")], tmp_path, clean_env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"Learning review: {TITLE} — held (exit 0)",
        f"Markdown: {run_dir / 'review.md'}",
        f"HTML:     {run_dir / 'review.html'}",
    ]
    assert (run_dir / "review.html").is_file()
    assert (tmp_path / "opened.txt").read_text().strip() == (run_dir / "review.html").as_uri()
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert "is not a game day's run directory: it does not exist" in refused.stderr
