"""The HTML report as a reader opens it: in a real headless chromium, from disk, offline.

The journals are those of tests/unit/test_verdict.py (a real held run of origin-outage,
and the same run gone wrong as Chaos Toolkit and the safety control record it), given the
per-second timelines a real run records, plus one journal of a real `chaos run` on the
sandbox. Each page is opened from a ``file://`` URL; every request is recorded and any
that is not ``file://`` aborted (see conftest.py).
"""

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from chaos_runner.report import ExperimentResult, html
from chaos_runner.report.html import RunDetails
from chaos_runner.report.logs import MAX_LINES, read_log_file, select
from chaos_runner.run import SECTION
from chaos_runner.verdict import judge
from tests.commands import chaos
from tests.report.conftest import opened
from tests.unit.test_verdict import (
    held_journal,
    left_in_conflict,
    load_probe_misses,
)

ROOT = Path(__file__).resolve().parents[2]
DISABLED = ROOT / "experiments" / "distribution-disabled.yaml"
SCRIPT = "<script>alert(1)</script>"

# -- journals ------------------------------------------------------------------------------


def timed(journal: dict[str, Any]) -> dict[str, Any]:
    """Give the journal's loads and watch the per-second figures a real run records."""
    states = journal["steady_states"]
    runs = [*journal["run"]]
    for phase in ("before", "after"):
        runs += (states.get(phase) or {}).get("probes", [])
    for run in runs:
        output = run.get("output")
        if isinstance(output, dict) and "latency_ms" in output:
            half = output["total"] // 2
            output["timeline"] = [
                {"second": s, "requests": half, "successes": half, "errors": 0,
                 "p50_ms": 0.8, "p99_ms": output["p99_ms"], "max_ms": 1.7}
                for s in (0, 1)
            ]  # fmt: skip
        if isinstance(output, dict) and "segments" in output:
            for segment in output["segments"]:
                segment.update(answers={"200": segment["samples"]}, max_ms=4.7)
    return journal


def held() -> dict[str, Any]:
    return timed(held_journal())


def deviated() -> dict[str, Any]:
    return load_probe_misses(held(), "after", p95=412.0)


def restore_incomplete() -> dict[str, Any]:
    return left_in_conflict(held())


def hostile() -> dict[str, Any]:
    """A journal whose every text tries to run a script or load something."""
    journal = held()
    journal["experiment"]["title"] = SCRIPT
    journal["run"][2]["activity"]["name"] = (
        '<img src="http://127.0.0.1:9/x.png" onerror="alert(2)">'
    )
    record = journal[SECTION]["faults"][0]
    record["fault"] = '"><svg onload="alert(3)"><a href="http://127.0.0.1:9/">x</a>'
    record["detail"] = "</style><link rel=stylesheet href=http://127.0.0.1:9/s.css>"
    journal[SECTION]["target"] = "<iframe src=http://127.0.0.1:9/></iframe>"
    return journal


def report(
    tmp_path: Path, journals: dict[str, dict[str, Any] | None], name: str = "report.html"
) -> Path:
    """The page of ``journals`` (None: not run), as the CLI writes it."""
    results, details = [], []
    for stem, journal in journals.items():
        verdict = None if journal is None else judge(journal)
        results.append(ExperimentResult(stem, verdict, 12.0))
        details.append(None if journal is None else RunDetails(journal))
    path = tmp_path / name
    html.write(path, results, details, title="chaos gate: resilience verdict",
               overview=len(results) > 1)  # fmt: skip
    return path


# -- what the tests read from a page ---------------------------------------------------------


def first_words(page: Page) -> str:
    """The first text a reader sees: the first paragraph of the page."""
    return " ".join(page.locator("main p").first.inner_text().split())


def figures(page: Page, within: str = "header.top") -> dict[str, str]:
    """The figures of the first header: term -> value."""
    header = page.locator(within).first
    terms = header.locator("dt").all_inner_texts()
    values = header.locator("dd").all_inner_texts()
    return {t.strip().lower(): " ".join(v.split()) for t, v in zip(terms, values, strict=True)}


def charts(page: Page) -> list[dict[str, Any]]:
    """Every chart with its rendered size and what it draws."""
    found: list[dict[str, Any]] = page.eval_on_selector_all(
        "svg.chart",
        """charts => charts.map(svg => {
            const box = svg.getBoundingClientRect();
            return {
                kind: svg.dataset.chart, width: box.width, height: box.height,
                series: [...svg.querySelectorAll('g.series')].map(g => g.dataset.series),
                bars: svg.querySelectorAll('rect.bar').length,
                windows: svg.querySelectorAll('g.window').length,
                marks: [...svg.querySelectorAll('g.mark')].map(g => g.dataset.mark),
                bounds: svg.querySelectorAll('g.bound').length,
            };
        })""",
    )
    return found


def assert_all_drawn(found: list[dict[str, Any]]) -> None:
    assert found, "no chart"
    for chart in found:
        assert chart["width"] > 0 and chart["height"] > 0, chart


# -- one run ---------------------------------------------------------------------------------

HELD_SERIES = ["watch", "load", "pages", "p99", "p95", "p50", "watch-max"]


def test_a_held_run_says_so_first_with_every_figure_and_draws_its_charts(
    browser: Browser, tmp_path: Path
) -> None:
    path = report(tmp_path, {"origin-outage": held()})

    with opened(browser, path) as seen:
        page = seen.page
        assert first_words(page).startswith("Held: the site held its steady state")
        assert figures(page) == {
            "target": "sandbox: distribution HOIU7ZSVVTGPB, bucket www.chaos-demo.test",
            "outcome": "held",
            "exit code": "0",
            "score": "100/100 (11 of 11 checks held)",
            "time to detect": "not detected (the watched pages never failed)",
            "time to recover": "0.06 s",
            "readers during the fault": "98.1% of 105 requests served",
            "run": "2026-11-29 23:17:27 UTC, took 12.1 s, status completed",
        }
        found = charts(page)
        assert_all_drawn(found)
        timeline, status, cache = found
        assert timeline["kind"] == "timeline"
        assert timeline["series"] == HELD_SERIES
        # one fault, its window shaded in both panels; the watch's recovery marked
        assert (timeline["windows"], timeline["marks"]) == (2, ["recovered"])
        # status: before 200; during 200 and 403; after 200 (and the same for X-Cache)
        assert (status["kind"], status["bars"], cache["bars"]) == ("mix", 4, 4)
        legend = page.locator("figure ul.legend").first.inner_text()
        assert "F1 deny-origin-reads (from +5.12 s to +7.25 s)" in legend
        assert "TTR recovered (time to recover 0.06 s)" in legend
        hypothesis = page.locator("h3:has-text('Hypothesis') + table").inner_text()
        assert "availability ≥ 99%, p95 ≤ 300 ms" in hypothesis
        assert "integrity = 100%" in hypothesis
        faults = page.locator("h3:has-text('Faults') + ul").inner_text()
        assert "status_before=200, status_after=403" in faults
        assert "restored in 0.09 s; in effect 2.13 s" in faults
        seen.assert_quiet()


def test_a_deviated_run_says_so_first_and_marks_the_deviation_against_its_bound(
    browser: Browser, tmp_path: Path
) -> None:
    path = report(tmp_path, {"origin-outage": deviated()})

    with opened(browser, path) as seen:
        page = seen.page
        assert first_words(page) == "Deviated: the site did not behave as the experiment expects."
        assert (
            page.locator("p.why")
            .first.inner_text()
            .startswith("The steady state deviated after the method: p95 412 ms > 300 ms")
        )
        assert (figures(page)["exit code"], figures(page)["score"]) == (
            "1",
            "90/100 (10 of 11 checks held)",
        )
        timeline = charts(page)[0]
        assert timeline["marks"] == ["recovered", "deviation"]
        assert timeline["bounds"] == 1  # p95 bound 300 ms, near the 412 ms measured
        legend = page.locator("figure ul.legend").first.inner_text()
        assert "✗1 after: pages-are-available-and-fast — p95 412 ms > 300 ms" in legend
        checks = page.locator("h3:has-text('Checks') + ul").inner_text()
        assert "✗ steady state after: pages-are-available-and-fast" in checks
        seen.assert_quiet()


def test_a_restore_left_incomplete_says_run_chaos_rollback_first(
    browser: Browser, tmp_path: Path
) -> None:
    path = report(tmp_path, {"origin-outage": restore_incomplete()})

    with opened(browser, path) as seen:
        page = seen.page
        assert first_words(page) == (
            "Restore incomplete: the site may still be degraded — run chaos rollback."
        )
        assert figures(page)["exit code"] == "4"
        states = page.eval_on_selector_all("g.window", "gs => gs.map(g => g.dataset.state)")
        assert states == ["conflict", "conflict"]  # hatched, in both panels
        faults = page.locator("h3:has-text('Faults') + ul").inner_text()
        assert "conflict: not restored — the site may still be degraded" in faults
        seen.assert_quiet()


def test_every_journal_text_is_escaped_nothing_runs_or_loads_and_the_text_shows(
    browser: Browser, tmp_path: Path
) -> None:
    path = report(tmp_path, {"hostile": hostile()})

    with opened(browser, path) as seen:
        page = seen.page
        assert page.locator("h1").inner_text() == SCRIPT
        assert page.get_by_text(SCRIPT, exact=True).first.is_visible()
        assert page.locator("script, img, iframe, link, a[href^='http']").count() == 0
        assert page.locator("main svg:not(.chart)").count() == 0  # no injected <svg>
        assert "</style><link rel=stylesheet" in page.locator("body").inner_text()
        seen.assert_quiet()
    assert SCRIPT not in path.read_text()


# -- a gate ----------------------------------------------------------------------------------


def test_a_gate_of_several_leads_with_the_worst_and_has_a_row_per_experiment(
    browser: Browser, tmp_path: Path
) -> None:
    path = report(
        tmp_path,
        {
            "origin-outage": held(),
            "after-deviates": deviated(),
            "left-in-conflict": restore_incomplete(),
            "not-started": None,
        },
    )

    with opened(browser, path) as seen:
        page = seen.page
        assert first_words(page) == (
            "Restore incomplete in 1 of 4 experiment(s) (left-in-conflict): the site may "
            "still be degraded — run chaos rollback."
        )
        header = page.locator("header.top").first.inner_text()
        assert (
            "Also deviated (after-deviates): the site did not behave as the experiment expects."
            in header
        )
        top = figures(page)
        assert (top["outcome"], top["exit code"], top["score"]) == (
            "restore-incomplete",
            "4",
            "93/100 (weighted)",  # floor((3 x 100 + 3 x 90 + 3 x 90) / 9)
        )
        rows = page.locator("table.gate-table tbody tr")
        assert rows.count() == 4
        assert rows.nth(3).inner_text().split() == ["-", "not-started", "not", "run"]
        found = charts(page)
        assert_all_drawn(found)
        sparklines = [c for c in found if c["kind"] == "sparkline"]
        scores = [c for c in found if c["kind"] == "score"]
        assert [c["bars"] for c in sparklines] == [3, 3, 3]  # before, during, after
        assert len(scores) == 3
        assert len([c for c in found if c["kind"] == "timeline"]) == 3
        # each row links to its experiment, whose header is there
        page.locator("table.gate-table a", has_text="after-deviates").click()
        assert page.locator("#e2 p.alert").inner_text().startswith("Deviated:")
        seen.assert_quiet()


def test_the_gate_prints_one_experiment_per_page_with_charts_inside_the_page(
    browser: Browser, tmp_path: Path
) -> None:
    path = report(tmp_path, {"a": held(), "b": deviated(), "c": restore_incomplete()})

    with opened(browser, path, width=700) as seen:
        page = seen.page
        page.emulate_media(media="print")
        breaks = page.eval_on_selector_all(
            "section.experiment", "ss => ss.map(s => getComputedStyle(s).breakBefore)"
        )
        assert breaks == ["page", "page", "page"]
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(255, 255, 255)"
        width = page.evaluate("document.querySelector('main').clientWidth")
        for chart in charts(page):
            assert 0 < chart["width"] <= width
        pdf = page.pdf(format="A4")
        pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
        assert pages >= 4  # the overview, then each experiment from a page of its own
        seen.assert_quiet()


def test_the_harness_would_see_a_request_that_leaves_the_file(
    browser: Browser, tmp_path: Path
) -> None:
    """The checks above are worth something: a page that loads from elsewhere is caught."""
    page = tmp_path / "leaky.html"
    page.write_text('<img src="http://127.0.0.1:9/pixel.png"><p>hi</p>')

    with opened(browser, page) as seen:
        seen.page.wait_for_timeout(200)
        assert seen.blocked == ["http://127.0.0.1:9/pixel.png"]
        with pytest.raises(AssertionError):
            seen.assert_quiet()


# -- a real run, and the command line --------------------------------------------------------


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """distribution-disabled run by `chaos run` on its own sandbox, its log beside its journal."""
    where = tmp_path_factory.mktemp("real-run")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "AWS_"))}
    env["CHAOS_STATE_DIR"] = str(where / ".chaos")
    journal = where / "journal.json"
    command = [sys.executable, "-m", "chaostoolkit", "--no-version-check"]
    command += ["--log-file", str(where / "chaos.log"), "run", str(DISABLED)]
    command += ["--journal-path", str(journal)]
    done = subprocess.run(command, cwd=where, env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    yield journal


@pytest.mark.slow
def test_a_real_journal_through_chaos_verdict_html_with_its_log(
    browser: Browser, real_run: Path, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    out = tmp_path / "reports" / "report.html"  # the directory is created

    result = chaos(["verdict", str(real_run), "--html", str(out)], tmp_path, clean_env)

    assert result.returncode == 0, result.stdout + result.stderr
    with opened(browser, out) as seen:
        page = seen.page
        assert first_words(page).startswith("Held:")
        assert figures(page)["target"].startswith("sandbox: distribution ")
        found = charts(page)
        assert_all_drawn(found)
        timeline = found[0]
        # before/after loads (availability, p99, p95, p50) and the page probe during
        assert timeline["series"] == ["load", "pages", "p99", "p95", "p50"]
        assert timeline["windows"] == 2
        log = page.locator("pre.log").inner_text()
        assert "Verdict: held (exit 0), score 100/100" in log
        assert "Pages (http://127.0.0.1:" in log
        assert "DEBUG" not in log
        seen.assert_quiet()


@pytest.mark.slow
def test_chaos_gate_html_without_out_still_shows_each_runs_log(
    browser: Browser, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    """The runs' directory is temporary without --out: the log is read before it goes."""
    out = tmp_path / "gate.html"

    result = chaos(["gate", str(DISABLED), "--target", "sandbox", "--html", str(out)],
                   tmp_path, clean_env)  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    with opened(browser, out) as seen:
        page = seen.page
        assert first_words(page).startswith("Held: all 1 experiment(s) held")
        assert page.locator("table.gate-table tbody tr").count() == 1
        assert "Verdict: held (exit 0)" in page.locator("pre.log").inner_text()
        seen.assert_quiet()


def saved(directory: Path, name: str, journal: dict[str, Any]) -> Path:
    path = directory / f"{name}.json"
    path.write_text(json.dumps(journal))
    return path


def test_chaos_verdict_html_exits_as_before_and_writes_one_page_for_several(
    browser: Browser, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    one = saved(tmp_path, "origin-outage", held())
    two = saved(tmp_path, "after-deviates", deviated())
    page_of_one, page_of_two = tmp_path / "out" / "one.html", tmp_path / "out" / "two.html"

    held_run = chaos(["verdict", str(one), "--html", str(page_of_one)], tmp_path, clean_env)
    both = chaos(["verdict", str(one), str(two), "--html", str(page_of_two)], tmp_path, clean_env)

    assert held_run.returncode == 0, held_run.stderr
    assert both.returncode == 1, both.stderr
    assert "Overall: deviated (exit 1)" in both.stdout
    with opened(browser, page_of_two) as seen:
        assert first_words(seen.page).startswith(
            "Deviated in 1 of 2 experiment(s) (after-deviates):"
        )
        assert seen.page.locator("table.gate-table tbody tr").count() == 2
        seen.assert_quiet()
    assert "<table class=gate-table>" not in page_of_one.read_text()  # one run: no overview


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["verdict", "{good}", "--html", "."], "error: --html .: is a directory"),
        (["verdict", "{good}", "--html", "{good}/r.html"], "the directory"),
        (["gate", str(DISABLED), "--target", "sandbox", "--html", "."], "error: --html .: is a"),
    ],
    ids=["verdict-a-directory", "verdict-under-a-file", "gate-a-directory"],
)
def test_a_bad_html_path_is_one_line_and_exit_2_before_anything_runs(
    command: list[str], expected: str, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    good = saved(tmp_path, "good", held())
    args = [arg.replace("{good}", str(good)) for arg in command]

    result = chaos(args, tmp_path, clean_env)

    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Verdict:" not in result.stdout
    assert not (tmp_path / ".chaos").exists()  # the gate started no sandbox


# -- the log lines ---------------------------------------------------------------------------


def log_line(level: str, where: str, message: str) -> str:
    return f"\x1b[32m[2026-11-30 00:37:13 {level}] [{where}] {message}\x1b[0m"


def test_the_log_keeps_the_last_run_of_the_journal_and_the_lines_that_matter() -> None:
    lines = [
        log_line("INFO", "run:440", "Running experiment: Older"),
        log_line("ERROR", "run:1", "an error of the older run"),
        log_line("INFO", "run:440", "Running experiment: Mine"),
        log_line("DEBUG", "python:33", "noise"),
        log_line("INFO", "pages:197", "Pages (http://x/sitemap.xml): cached /"),
        *(log_line("WARNING", "http:9", f"slow {i}") for i in range(MAX_LINES + 5)),
        log_line("INFO", "safety:192", "Verdict: held (exit 0)"),
        "  a continuation line of a traceback",
    ]

    kept, left_out, note = select(lines, "Mine")
    other, _, why = select(lines, "Someone else's")

    assert [line.message for line in kept][:2] == [
        "Pages (http://x/sitemap.xml): cached /",
        "slow 0",
    ]
    assert kept[-1].message == "Verdict: held (exit 0)"  # ours is kept past the bound
    assert (len(kept), left_out, note) == (MAX_LINES + 1, 6, "")
    assert other == [] and "another experiment ('Mine')" in why


def test_a_log_that_is_not_text_is_shown_not_trusted(tmp_path: Path) -> None:
    log = tmp_path / "chaos.log"
    log.write_bytes(b"[2026-11-30 00:37:13 ERROR] [x:1] caf\xe9 <b>\n\xff\xfe" + bytes(range(32)))

    excerpt = read_log_file(log)

    assert excerpt is not None
    assert [line.message for line in excerpt.lines] == ["caf\ufffd <b>"]


def test_a_run_that_left_no_journal_still_gets_its_verdict_on_the_page(
    browser: Browser, tmp_path: Path
) -> None:
    crashed = copy.deepcopy(held_journal())
    verdict = judge(crashed)
    path = tmp_path / "no-journal.html"
    html.write(path, [ExperimentResult("crashed", verdict, 1.0)], [RunDetails(None)])

    with opened(browser, path) as seen:
        assert first_words(seen.page).startswith("Held:")
        assert "The run left no journal" in seen.page.locator("main").inner_text()
        seen.assert_quiet()
