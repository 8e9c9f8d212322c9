"""`chaos gate`: bad input refused before anything runs, and exit codes from real runs.

Each run is a real `chaos run` subprocess on a fresh sandbox of its own (`--target
sandbox`); the experiments are variants of experiments/distribution-disabled.yaml, the
quickest of the catalog, changed the way a user's mistake or a broken site would change it.
"""

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from junitparser import Error, Failure, JUnitXml, Skipped

from chaos_runner import run
from tests.commands import chaos

ROOT = Path(__file__).resolve().parents[2]
DISABLED = ROOT / "experiments" / "distribution-disabled.yaml"


def variant(tmp_path: Path, name: str, change: Any) -> Path:
    """distribution-disabled.yaml changed by ``change(experiment)``, written as NAME.yaml."""
    experiment = yaml.safe_load(DISABLED.read_text())
    change(experiment)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(experiment))
    return path


def strict_steady_state(experiment: dict[str, Any]) -> None:
    """A steady state no site meets: the pages must answer within 0.001 ms."""
    probe = experiment["steady-state-hypothesis"]["probes"][0]
    probe["provider"]["func"] = "latency_percentiles"
    probe["tolerance"] = {
        "type": "probe",
        "name": "p95-under-a-microsecond",
        "provider": {
            "type": "python",
            "module": "probes.tolerances",
            "func": "service_levels_met",
            "arguments": {"max_p95_ms": 0.001},
        },
    }


#: A bug in our code, simulated where corrupt_objects has recorded its undo (only the
#: experiment that corrupts objects reaches it).
BUG = {"CHAOS_CRASHPOINT": "corrupt_objects:after-ledger-open:raise"}


def buggy_fault(experiment: dict[str, Any]) -> None:
    """A fault whose code raises an exception it does not mean to (see BUG)."""
    experiment["method"][0]["provider"].update(
        module="chaos_runner.faults.objects", func="corrupt_objects", arguments={"keys": "@victim"}
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.yaml", "--target", "sandbox"], "There is no file or directory missing.yaml"),
        (["empty.yaml", "--target", "sandbox"], "empty.yaml is empty"),
        (["list.yaml", "--target", "sandbox"], "is not an experiment"),
        (["binary.yaml", "--target", "sandbox"], "binary.yaml is not a text file"),
        (["unknown-module.yaml", "--target", "sandbox"], "is not a valid experiment"),
        (["method-3.yaml", "--target", "sandbox"], "a key holds the wrong kind of value"),
        (["nothing", "--target", "sandbox"], "holds no experiment"),
        ([str(DISABLED), "--target", "sandbox", "--jobs", "0"], "--jobs must be from 1 to 32"),
        ([str(DISABLED), "--target", "sandbox", "--min-score", "200"], "--min-score must be"),
        ([str(DISABLED)], "No target: pass --target sandbox"),
        ([str(DISABLED), "--target", "prod"], "--target takes `sandbox`"),
        (
            [str(DISABLED), "CHAOS_SITE_URL=https://www.example.com"],
            "CHAOS_DISTRIBUTION_ID, CHAOS_ORIGIN_BUCKET are not set",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2_with_nothing_run(
    tmp_path: Path, clean_env: dict[str, str], args: list[str], message: str
) -> None:
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    (tmp_path / "binary.yaml").write_bytes(b"\x00\x01\xff" * 20)
    (tmp_path / "method-3.yaml").write_text("title: t\ndescription: d\nmethod: 3\n")
    variant(tmp_path, "unknown-module", lambda e: e["method"][0]["provider"].update(
        module="no.such.module"))  # fmt: skip
    (tmp_path / "nothing").mkdir()
    variables = dict(arg.split("=", 1) for arg in args if "=" in arg)
    args = [arg for arg in args if "=" not in arg]

    result = chaos(["gate", *args], tmp_path, {**clean_env, **variables})

    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".chaos").exists()  # no ledger, no sandbox: nothing injected


@pytest.mark.slow
def test_exit_codes_of_real_runs_and_a_junit_file_ci_can_read(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    held = variant(tmp_path, "a-held", lambda e: None)
    before = variant(tmp_path, "b-steady-state-fails-first", strict_steady_state)
    bug = variant(tmp_path, "c-internal-error", buggy_fault)
    summary = tmp_path / "step-summary.md"

    result = chaos(
        ["gate", str(held), str(before), str(bug), "--target", "sandbox", "--jobs", "2",
         "--junit", "junit.xml", "--json", "gate.json", "--out", "out"],
        tmp_path,
        {**clean_env, **BUG, "GITHUB_STEP_SUMMARY": str(summary)},
        timeout=300,
    )  # fmt: skip

    assert result.returncode == 70, result.stdout + result.stderr  # 70 before 1 before 0
    codes = {
        e["name"]: e["exit_code"]
        for e in json.loads((tmp_path / "gate.json").read_text())["experiments"]
    }
    assert codes == {"a-held": 0, "b-steady-state-fails-first": 1, "c-internal-error": 70}
    assert "the steady state failed before any fault" in result.stdout
    suite = next(iter(JUnitXml.fromfile(str(tmp_path / "junit.xml"))))
    outcomes = {case.classname: [type(r) for r in case.result] for case in suite}
    assert outcomes["a-held"] == []
    assert outcomes["b-steady-state-fails-first"] == [Failure]
    assert outcomes["c-internal-error"] == [Error]
    assert "| a-held |" in summary.read_text() or "a-held" in summary.read_text()
    for name in codes:
        assert list((tmp_path / "out").glob(f"*-{name}/journal.json"))


@pytest.mark.slow
def test_fail_fast_skips_the_rest_and_plain_chaos_run_no_longer_passes_what_failed(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    before = variant(tmp_path, "a-steady-state-fails-first", strict_steady_state)
    later = variant(tmp_path, "b-never-run", lambda e: None)

    result = chaos(
        ["gate", str(before), str(later), "--target", "sandbox", "--fail-fast", "--junit", "j.xml"],
        tmp_path,
        clean_env,
        timeout=300,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    suite = next(iter(JUnitXml.fromfile(str(tmp_path / "j.xml"))))
    assert {case.classname: [type(r) for r in case.result] for case in suite}["b-never-run"] == [
        Skipped
    ]
    plain = chaos(["run", str(before), "--journal-path", "plain.json"], tmp_path, clean_env)
    assert plain.returncode == 1  # Chaos Toolkit alone exits 0 here
    journal = json.loads((tmp_path / "plain.json").read_text())
    assert journal["status"] == "failed"
    assert "Verdict: deviated (exit 1)" in plain.stderr


@pytest.mark.slow
# a sandbox started with `detach` outlives its Popen object by design (it is a daemon)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_two_experiments_in_one_process_do_not_see_each_others_state(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from chaoslib.experiment import run_experiment
    from chaoslib.loader import load_experiment

    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith(("CHAOS_", "AWS_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CHAOS_STATE_DIR", clean_env["CHAOS_STATE_DIR"])
    caplog.set_level(logging.INFO, logger="chaostoolkit")
    journals = []
    for _ in range(2):
        journals.append(run_experiment(load_experiment(str(DISABLED)), settings={}))
        assert "CHAOS_SITE_URL" not in os.environ  # the run's environment is undone
        assert run.current() is None

    assert [j["status"] for j in journals] == ["completed", "completed"]
    started = re.findall(r"Sandbox started in [0-9.]+ s \(pid (\d+)\)", caplog.text)
    assert len(set(started)) == 2, caplog.text  # the second run started a sandbox of its own
