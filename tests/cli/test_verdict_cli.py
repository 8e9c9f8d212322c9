"""`chaos verdict` as a user runs it: real processes, real exit codes, reports read back.

The journals are those of tests/unit/test_verdict.py: a real held run of origin-outage and
the same run gone wrong the way Chaos Toolkit and the safety control record it.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from junitparser import Error, Failure, JUnitXml, Properties, Skipped, TestCase, TestSuite

from chaos_runner.report import ExperimentResult, junit
from chaos_runner.verdict import judge
from tests.commands import chaos
from tests.unit.test_verdict import (
    held_journal,
    interrupted,
    left_in_conflict,
    load_probe_misses,
    met_problem,
)

KEY_FIGURES = {
    "outcome",
    "exit_code",
    "score",
    "checks",
    "availability_during",
    "p95_during_ms",
    "time_to_recover_s",
    "target",
}


def saved(directory: Path, name: str, journal: dict[str, Any]) -> Path:
    path = directory / f"{name}.json"
    path.write_text(json.dumps(journal))
    return path


def properties(case: TestCase) -> dict[str, str]:
    found = case.child(Properties)
    return {} if found is None else {p.name: p.value for p in found}


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_help_exits_0(tmp_path: Path, clean_env: dict[str, str]) -> None:
    result = chaos(["verdict", "--help"], tmp_path, clean_env)

    assert result.returncode == 0, result.stderr
    assert "Usage: chaos verdict" in result.stdout
    assert "--min-score" in result.stdout


def test_a_usage_error_exits_2_without_traceback(tmp_path: Path, clean_env: dict[str, str]) -> None:
    result = chaos(["verdict", "--no-such-option"], tmp_path, clean_env)

    assert result.returncode == 2
    assert "No such option" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_held_journal_exits_0_and_prints_its_summary_and_table(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    journal = saved(tmp_path, "origin-outage", held_journal())

    result = chaos(["verdict", str(journal)], tmp_path, clean_env)

    assert result.returncode == 0, result.stderr
    assert "Verdict: held (exit 0), score 100/100 (11 of 11 checks held)" in result.stdout
    assert "time to recover: 0.06 s" in result.stdout
    assert "origin-outage  held     0     100    98.1%" in result.stdout
    assert result.stdout.rstrip().endswith("Overall: held (exit 0)")


def test_several_journals_exit_with_the_worst_code_and_the_junit_report_counts_them(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    journals = [
        saved(tmp_path, "held", held_journal()),
        saved(tmp_path, "deviated", load_probe_misses(held_journal(), "after", p95=412.0)),
        saved(tmp_path, "left-open", left_in_conflict(held_journal())),
        saved(tmp_path, "aborted", interrupted(held_journal())),
    ]
    report = tmp_path / "junit.xml"

    result = chaos(["verdict", *map(str, journals), "--junit", str(report)], tmp_path, clean_env)

    assert result.returncode == 4, result.stderr
    assert "Overall: restore-incomplete (exit 4)" in result.stdout
    xml = JUnitXml.fromfile(str(report))
    (suite,) = list(xml)
    assert isinstance(suite, TestSuite)
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (4, 1, 2, 0)
    assert (xml.tests, xml.failures, xml.errors) == (4, 1, 2)
    cases = {case.classname: case for case in suite}
    assert cases["held"].is_passed
    assert isinstance(cases["deviated"].result[0], Failure)
    assert cases["deviated"].result[0].message.startswith("the steady state deviated after")
    assert [type(r) for r in cases["left-open"].result] == [Error]
    assert cases["left-open"].result[0].type == "restore-incomplete"
    assert set(properties(cases["held"])) >= KEY_FIGURES
    assert properties(cases["deviated"])["score"] == "90"
    assert properties(cases["left-open"])["exit_code"] == "4"
    assert cases["held"].name == "Pages already in the edge caches survive an origin outage"
    assert cases["held"].time == pytest.approx(12.053)
    assert dict((p.name, p.value) for p in suite.properties())["exit_code"] == "4"


def test_the_junit_report_marks_experiments_not_run_as_skipped_and_stays_valid_xml(
    tmp_path: Path,
) -> None:
    noisy = met_problem(held_journal(), "internal", "measurement", "\x1b[31mboom\x00 <&>\x1b[0m")
    report = tmp_path / "gate.xml"

    junit.write(
        report,
        [
            ExperimentResult("origin-outage", judge(held_journal()), 12.0),
            ExperimentResult("noisy", judge(noisy), 1.5),
            ExperimentResult("object-loss", None, 0.0),
        ],
        suite="chaos gate",
    )

    xml = JUnitXml.fromfile(str(report))
    (suite,) = list(xml)
    assert (suite.name, suite.tests, suite.failures, suite.errors, suite.skipped) == (
        "chaos gate",
        3,
        0,
        1,
        1,
    )
    assert suite.time == pytest.approx(13.5)
    cases = {case.classname: case for case in suite}
    assert isinstance(cases["object-loss"].result[0], Skipped)
    error = cases["noisy"].result[0]
    assert isinstance(error, Error)
    assert error.message.endswith("\\x1b[31mboom\\x00 <&>\\x1b[0m")


def test_markdown_json_and_the_github_step_summary(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    journals = [
        saved(tmp_path, "origin-outage", held_journal()),
        saved(tmp_path, "deviated", load_probe_misses(held_journal(), "after", p95=412.0)),
    ]
    step_summary = tmp_path / "step-summary.md"
    step_summary.write_text("# Earlier step\n")
    env = {**clean_env, "GITHUB_STEP_SUMMARY": str(step_summary)}
    markdown, document = tmp_path / "reports" / "verdict.md", tmp_path / "verdict.json"  # made

    result = chaos(
        ["verdict", *map(str, journals), "--markdown", str(markdown), "--json", str(document)],
        tmp_path,
        env,
    )

    assert result.returncode == 1, result.stderr
    text = markdown.read_text()
    assert text.startswith("## ✗ Resilience verdict: deviated (exit 1), score 95/100\n")
    assert "| ✓ | origin-outage | held (0) | 100 | 98.1% | 1.3 ms | not detected |" in text
    assert "| ✗ | deviated | deviated (1) | 90 |" in text
    assert "- ✗ steady state after: pages-are-available-and-fast — p95 412 ms > 300 ms" in text
    assert step_summary.read_text() == "# Earlier step\n" + text + "\n"
    verdicts = json.loads(document.read_text())
    assert (verdicts["outcome"], verdicts["exit_code"], verdicts["score"]) == ("deviated", 1, 95)
    assert [e["name"] for e in verdicts["experiments"]] == ["origin-outage", "deviated"]
    assert verdicts["experiments"][1]["reason"].startswith("the steady state deviated after")


def test_min_score_fails_a_held_run_below_it_but_never_hides_a_worse_code(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    unchecked = held_journal()  # the steady state after the method was skipped
    unchecked["steady_states"]["after"] = None
    held = saved(tmp_path, "after-not-checked", unchecked)
    left_open = saved(tmp_path, "left-open", left_in_conflict(held_journal()))

    at_80 = chaos(["verdict", str(held), "--min-score", "80"], tmp_path, clean_env)
    at_90 = chaos(["verdict", str(held), "--min-score", "90"], tmp_path, clean_env)
    worse = chaos(["verdict", str(left_open), "--min-score", "100"], tmp_path, clean_env)

    assert "score 81/100 (9 of 11 checks held)" in at_80.stdout
    assert at_80.returncode == 0, at_80.stdout
    assert at_90.returncode == 1
    assert "Below --min-score 90: after-not-checked." in at_90.stdout
    assert worse.returncode == 4


def test_an_internal_error_exits_70(tmp_path: Path, clean_env: dict[str, str]) -> None:
    journal = met_problem(held_journal(), "internal", "safety control", "KeyError: 'target'")

    result = chaos(["verdict", str(saved(tmp_path, "bug", journal))], tmp_path, clean_env)

    assert result.returncode == 70
    assert "internal error of chaostoolkit-cdn" in result.stdout


BAD_INPUTS = {
    "missing": (None, "missing.json: no such file."),
    "empty": (b"", "empty.json: is empty"),
    "not-json": (b"{journal", "not-json.json: is not JSON (Expecting property name"),
    "not-a-journal": (b'{"hello": "world"}', "not-a-journal.json: This is not a Chaos"),
    "an-experiment": (b'{"title": "t", "method": []}', "an-experiment.json: This is an exper"),
    "binary": (bytes(range(256)) * 4, "binary.json: is not text (not UTF-8)"),
}


@pytest.mark.parametrize("kind", BAD_INPUTS)
def test_bad_input_is_one_line_and_exit_2(
    kind: str, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    content, expected = BAD_INPUTS[kind]
    path = tmp_path / f"{kind}.json"
    if content is not None:
        path.write_bytes(content)
    good = saved(tmp_path, "good", held_journal())

    result = chaos(["verdict", str(good), str(path)], tmp_path, clean_env)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert f"error: {tmp_path}/{expected}" in one_error_line(result.stderr)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--min-score", "200"], "error: --min-score must be from 0 to 100; got 200."),
        (["--junit", "good.json/junit.xml"], "error: --junit good.json/junit.xml: the dir"),
        (["--markdown", "."], "error: --markdown .: is a directory; give a file name."),
    ],
    ids=["min-score-200", "junit-under-a-file", "markdown-a-directory"],
)
def test_bad_options_are_one_line_and_exit_2_before_any_verdict(
    args: list[str], expected: str, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    good = saved(tmp_path, "good", held_journal())

    result = chaos(["verdict", str(good), *args], tmp_path, clean_env)

    assert result.returncode == 2
    assert one_error_line(result.stderr).startswith(expected)
    assert result.stdout == ""
