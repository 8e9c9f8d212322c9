"""The verdict on journals: every exit code, the precedence, the reasons, figures and score.

Two sources of journals, no stand-in for our code:

- :func:`held_journal` rebuilds a real held run of experiments/origin-outage.yaml (the
  experiment file itself, the outputs `chaos run` recorded, trimmed) with the version-2
  ``chaostoolkit-cdn`` section; the functions below it change it the way Chaos Toolkit and
  the safety control do when a run goes wrong (a steady state missed, an activity failed,
  a fault left open).
- ``real_journals`` runs small experiments with `chaos run` (no sandbox: a closed loopback
  port as the target), with and without our safety control, once for the module.
"""

import copy
import json
import math
import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos_runner._errors import ConfigurationError
from chaos_runner.ledger import TargetLock
from chaos_runner.run import SECTION, FaultRecord, JournalSection, Problem, RestoreRecord
from chaos_runner.target import Target
from chaos_runner.verdict import (
    PRECEDENCE,
    CheckKind,
    Outcome,
    Phase,
    judge,
    overall_score,
    worst,
)
from tests.commands import CHAOS
from tests.servers import closed_port_url

ROOT = Path(__file__).resolve().parents[2]
ORIGIN_OUTAGE = yaml.safe_load((ROOT / "experiments" / "origin-outage.yaml").read_text())
T0 = 1795994247.477518  # when the real run started (epoch seconds)
SITE = "http://127.0.0.1:41741"
LOADED = ["/", "/posts/origin-outage/"]
ENTRY = "d6b5ef90dc81"
FAULT = "origin outage: bucket policy of www.chaos-demo.test denies s3:GetObject"
RESTORED = "bucket www.chaos-demo.test: restored the prior policy"

# -- a held run of origin-outage, and how runs go wrong ------------------------------------


def at(offset: float) -> str:
    """The journal's time ``offset`` seconds after the run started."""
    return datetime.fromtimestamp(T0 + offset, UTC).isoformat()


def declared(name: str) -> dict[str, Any]:
    """The activity of origin-outage.yaml named ``name``."""
    hypothesis = ORIGIN_OUTAGE["steady-state-hypothesis"]["probes"]
    for item in [*hypothesis, *ORIGIN_OUTAGE["method"], *ORIGIN_OUTAGE["rollbacks"]]:
        if item["name"] == name:
            return copy.deepcopy(item)
    raise KeyError(name)


def ran(name: str, output: Any, start: float, end: float, **more: Any) -> dict[str, Any]:
    """One activity's record, as chaoslib writes it."""
    return {
        "activity": declared(name),
        "output": output,
        "start": at(start),
        "status": "succeeded",
        "end": at(end),
        "duration": end - start,
        **more,
    }


def load(p95: float = 1.261, p99: float = 1.535, ok: int = 100, errors: int = 0) -> dict[str, Any]:
    """A probes.load.measurement result (without its per-second timeline)."""
    return {
        "url": SITE,
        "paths": LOADED,
        "rate": 50.0,
        "total": ok + errors,
        "successes": ok,
        "availability": ok / (ok + errors),
        "status_counts": {"200": ok},
        "errors": {"timeout": errors, "refused": 0, "reset": 0, "tls": 0, "other": 0},
        "latency_ms": {"p50": 0.833, "p90": 1.08, "p95": p95, "p99": p99, "max": 1.676},
        "p50_ms": 0.833,
        "p95_ms": p95,
        "p99_ms": p99,
        "x_cache": {"Hit from cloudfront": ok},
        "hit_ratio": 1.0,
        "ok": True,
        "failures": [],
    }


def pages(status: int, x_cache: str, paths: list[str]) -> dict[str, Any]:
    """A probes.http.responses result."""
    return {
        path: {"status": status, "x_cache": x_cache, "age": 2, "bytes": 941, "error": None}
        for path in paths
    }


INTEGRITY = {"url": SITE, "checked": 3, "matched": 3, "integrity": 1.0, "mismatched": []}
WATCH = {
    "url": SITE,
    "paths": LOADED,
    "stopped_because": "recovered",
    "samples": 60,
    "healthy_samples": 60,
    "availability": 1.0,
    "availability_during_fault": 1.0,
    "faults": {"run_id": "df553f3c49a1", "entries": 1, "injected_at": T0 + 5.12},
    "detected": False,
    "detected_at": None,
    "time_to_detect_s": None,
    "recovered": True,
    "recovered_at": T0 + 7.31,
    "time_to_recover_s": 0.061,
    "segments": [{"start_s": 0.0, "end_s": 5.9, "healthy": True, "samples": 60}],
}
DENIED = {
    "fault": "deny_origin_reads",
    "ledger_entry": ENTRY,
    "bucket": "www.chaos-demo.test",
    "verified_with": "index.html",
    "status_before": 200,
    "status_after": 403,
}
RESTORE = {"entry": ENTRY, "fault": FAULT, "state": "restored", "detail": RESTORED}


def steady_state(offset: float) -> dict[str, Any]:
    return {
        "steady_state_met": True,
        "probes": [
            ran("the-edge-serves-the-deployed-pages", INTEGRITY, offset, offset + 0.6),
            ran("pages-are-available-and-fast", load(p95=1.142), offset + 0.6, offset + 2.6),
        ],
    }


def held_journal() -> dict[str, Any]:
    """A held run of origin-outage.yaml, as `chaos run` and the safety control wrote it."""
    for state in (before := steady_state(1.3), after := steady_state(9.8)):
        for probe in state["probes"]:
            probe["tolerance_met"] = True
    cached = pages(200, "Hit from cloudfront", [*LOADED, "/css/style.css"])
    section = JournalSection(
        version=2,
        target="sandbox: distribution HOIU7ZSVVTGPB, bucket www.chaos-demo.test",
        target_kind="sandbox",
        site_url=SITE,
        run_id="df553f3c49a1",
        ledger=".chaos/ledger.jsonl",
        faults=[
            FaultRecord(
                entry=ENTRY,
                kind="bucket_policy",
                fault=FAULT,
                state="restored",
                detail=RESTORED,
                injected_at=T0 + 5.12,
                closed_at=T0 + 7.249,
            )
        ],
        restored_at_end=[],
        restore_complete=True,
        problems=[],
    )
    return {
        "chaoslib-version": "1.44.0",
        "experiment": copy.deepcopy(ORIGIN_OUTAGE),
        "start": at(0),
        "status": "completed",
        "deviated": False,
        "steady_states": {"before": before, "after": after, "during": []},
        "run": [
            ran("watch-the-cached-pages", copy.deepcopy(WATCH), 3.9, 9.8),
            ran("warm-the-cache", cached, 3.91, 3.914),
            ran("deny-origin-reads", dict(DENIED), 4.914, 5.131),
            ran("cached-pages-are-still-served", copy.deepcopy(cached), 5.131, 5.134),
            ran("cached-pages-under-load-during-the-outage", load(), 5.135, 7.136),
            ran(
                "pages-not-warmed-during-the-outage",
                pages(403, "Error from cloudfront", ["/about/", "/posts/cache-ttls/"]),
                7.137,
                7.164,
            ),
            ran(
                "restore-the-bucket-policy",
                {"restored": [{**RESTORE, "seconds": 0.085}]},
                7.164,
                7.249,
            ),
        ],
        "rollbacks": [ran("restore-anything-still-injected", {"restored": []}, 12.05, 12.05)],
        "end": at(12.053),
        "duration": 12.053,
        SECTION: section,
    }


def section(journal: dict[str, Any]) -> JournalSection:
    found: JournalSection = journal[SECTION]
    return found


def activity_run(journal: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in journal["run"] if r["activity"]["name"] == name)
    return found


def load_probe_misses(journal: dict[str, Any], phase: str, p95: float) -> dict[str, Any]:
    """The steady state's load probe measures p95 ``p95`` ms against its 300 ms bound."""
    state = journal["steady_states"][phase]
    probe = state["probes"][1]
    probe["output"] = load(p95=p95)
    probe["tolerance_met"] = False
    state["steady_state_met"] = False
    if phase == "before":  # Chaos Toolkit stops there: no method, no steady state after
        journal["run"] = []
        journal["steady_states"]["after"] = None
        section(journal)["faults"] = []
        journal["status"] = "failed"  # the safety control's doing (status_changed)
        section(journal)["status_changed"] = "the steady state failed before the method"
    else:
        journal["deviated"] = True
    return journal


def fails(journal: dict[str, Any], name: str, label: str, message: str) -> dict[str, Any]:
    """The activity ``name`` raised: chaoslib records no output and the exception."""
    record = activity_run(journal, name)
    record.update(
        status="failed",
        output=None,
        exception=[
            "Traceback (most recent call last):\n",
            '  File "chaoslib/provider/python.py", line 56, in run_python_activity\n',
            f"chaoslib.exceptions.ActivityFailed: {label}: {message}\n",
        ],
    )
    return journal


def met_problem(journal: dict[str, Any], kind: str, activity: str, message: str) -> dict[str, Any]:
    """One of our activities or controls noted a problem (as chaos_runner.run records it)."""
    section(journal)["problems"].append(
        Problem(kind=kind, activity=activity, message=message, at=T0 + 5)
    )
    return journal


def left_in_conflict(journal: dict[str, Any]) -> dict[str, Any]:
    """Someone changed the bucket policy meanwhile: the restore left it alone."""
    record = section(journal)["faults"][0]
    record.update(state="conflict", detail="the policy was changed since the fault; left alone")
    section(journal)["restore_complete"] = False
    return journal


def interrupted(journal: dict[str, Any]) -> dict[str, Any]:
    """SIGTERM after the injection: the method stops, the safety control restores."""
    journal["run"] = journal["run"][:3]
    journal["status"] = "interrupted"
    journal["steady_states"]["after"] = None
    journal["rollbacks"] = []
    section(journal)["restored_at_end"] = [RestoreRecord(**RESTORE, seconds=0.07)]
    return journal


def as_version_1(journal: dict[str, Any]) -> dict[str, Any]:
    """The section as it was before the run context (no version, problems, target_kind)."""
    old = dict(section(journal))
    for key in ("version", "target_kind", "problems"):
        old.pop(key)
    old["faults"] = [
        {k: v for k, v in fault.items() if k not in ("kind", "closed_at")}
        for fault in old["faults"]
    ]
    journal[SECTION] = old
    return journal


# -- a held run ----------------------------------------------------------------------------


def test_a_held_run_holds_with_a_full_score_and_what_readers_saw() -> None:
    verdict = judge(held_journal())

    assert (verdict.outcome, verdict.exit_code) == (Outcome.HELD, 0)
    assert verdict.reason == (
        "the steady state held before and after the method; every fault was verified and restored"
    )
    assert verdict.target == "sandbox: distribution HOIU7ZSVVTGPB, bucket www.chaos-demo.test"
    assert (verdict.score, verdict.checks_held, len(verdict.checks)) == (100, 11, 11)
    assert verdict.weight == 3  # availability: high
    during = verdict.phase(Phase.DURING)
    # the cached pages (3 + 100 under load) and the 2 pages not warmed, which got the 403
    assert (during.requests, during.served) == (105, 103)
    assert dict(during.statuses) == {"200": 103, "403": 2}
    assert dict(during.x_cache) == {"Hit": 103, "Error": 2}
    assert (during.p95_ms, during.p99_ms) == (1.261, 1.535)
    assert during.probes == (
        "cached-pages-are-still-served",
        "cached-pages-under-load-during-the-outage",
        "pages-not-warmed-during-the-outage",
    )
    assert verdict.phase(Phase.BEFORE).availability == 1.0
    assert verdict.phase(Phase.AFTER).p95_ms == 1.142


def test_a_held_run_times_recovery_and_says_readers_never_saw_the_fault() -> None:
    verdict = judge(held_journal())

    assert verdict.time_to_detect_s is None
    assert verdict.time_to_recover_s == 0.061
    assert verdict.watch is not None
    assert (verdict.watch.faults_seen, verdict.watch.detected) == (True, False)
    assert "time to detect: not detected" in verdict.summary()
    assert "time to recover: 0.06 s" in verdict.summary()


def test_each_fault_is_injected_verified_and_restored_with_its_evidence() -> None:
    (fault,) = judge(held_journal()).faults

    assert (fault.name, fault.entry, fault.description) == ("deny-origin-reads", ENTRY, FAULT)
    assert fault.injected and fault.verified
    assert "status_before=200, status_after=403" in fault.evidence
    assert (fault.state, fault.detail) == ("restored", RESTORED)
    assert fault.restored_at == T0 + 7.249
    assert fault.restore_seconds == 0.085


def test_the_journal_of_a_run_before_the_run_context_is_judged_the_same() -> None:
    verdict = judge(as_version_1(held_journal()))

    assert (verdict.outcome, verdict.score) == (Outcome.HELD, 100)
    assert verdict.faults[0].restored_at is None  # version 1 did not record it
    # without closed_at, the window of the fault ends with the watch's restore
    assert verdict.phase(Phase.DURING).requests == 105


def test_to_dict_is_json_with_the_exit_code_and_figures() -> None:
    document = json.loads(json.dumps(judge(held_journal()).to_dict(), allow_nan=False))

    assert document["outcome"] == "held"
    assert document["exit_code"] == 0
    assert document["phases"]["during"]["statuses"] == {"200": 103, "403": 2}
    assert document["faults"][0]["entry"] == ENTRY
    assert document["checks"][0] == {
        "kind": "steady-state-before",
        "name": "the-edge-serves-the-deployed-pages",
        "held": True,
        "ran": True,
        "detail": "within tolerance",
    }
    assert document["time_to_recover_s"] == 0.061


# -- each exit code ------------------------------------------------------------------------


def test_a_steady_state_failing_before_any_fault_is_a_deviation_with_its_figures() -> None:
    verdict = judge(load_probe_misses(held_journal(), "before", p95=412.0))

    assert (verdict.outcome, verdict.exit_code) == (Outcome.DEVIATED, 1)
    assert verdict.reason == (
        "the steady state failed before any fault: p95 412 ms > 300 ms on /, "
        "/posts/origin-outage/ (probe pages-are-available-and-fast)"
    )
    # integrity before and the restore (nothing injected) held; nothing else ran
    assert verdict.score == math.floor(100 * 2 / 11) == 18
    assert [c.name for c in verdict.checks if not c.ran][:1] == ["watch-the-cached-pages"]


def test_the_worked_example_a_deviation_after_the_fault_scores_90() -> None:
    verdict = judge(load_probe_misses(held_journal(), "after", p95=412.0))

    assert (verdict.outcome, verdict.exit_code) == (Outcome.DEVIATED, 1)
    assert verdict.reason == (
        "the steady state deviated after the method: p95 412 ms > 300 ms on /, "
        "/posts/origin-outage/ (probe pages-are-available-and-fast)"
    )
    assert (verdict.checks_held, len(verdict.checks), verdict.score) == (10, 11, 90)
    (missed,) = [check for check in verdict.checks if not check.held]
    assert missed.kind is CheckKind.STEADY_STATE_AFTER


def test_an_expectation_not_met_during_the_fault_is_a_deviation_said_once() -> None:
    message = "Expected every page of http://127.0.0.1:41741 to answer status 200, but 1 did not."
    journal = fails(held_journal(), "cached-pages-are-still-served", "ExpectationNotMet", message)
    met_problem(journal, "expectation", "expect_responses", message)

    verdict = judge(journal)

    assert (verdict.outcome, verdict.exit_code) == (Outcome.DEVIATED, 1)
    assert verdict.reasons == (
        "an expectation was not met during the method: cached-pages-are-still-served: "
        f"ExpectationNotMet: {message}",
    )
    assert verdict.score == 90


def test_an_invalid_argument_is_invalid_not_inconclusive() -> None:
    message = "verify_timeout must be between 0 and 600 seconds; got -1."
    journal = fails(held_journal(), "deny-origin-reads", "InvalidArgument", message)
    section(journal)["faults"] = []
    met_problem(journal, "invalid", "deny_origin_reads", message)

    verdict = judge(journal)

    assert (verdict.outcome, verdict.exit_code) == (Outcome.INVALID, 2)
    assert verdict.reasons == (
        f"invalid experiment, nothing was injected: deny_origin_reads: {message}",
    )
    (fault,) = verdict.faults
    assert (fault.injected, fault.verified, fault.evidence) == (
        False,
        False,
        f"InvalidArgument: {message}",
    )


def test_a_steady_state_probe_given_a_wrong_argument_is_invalid_not_a_deviation() -> None:
    message = "rate must be a number from 0 to 100000; got -5."
    journal = load_probe_misses(held_journal(), "before", p95=1.0)
    probe = journal["steady_states"]["before"]["probes"][1]
    probe.update(
        status="failed",
        output=None,
        exception=[f"chaoslib.exceptions.ActivityFailed: InvalidArgument: {message}\n"],
    )
    met_problem(journal, "invalid", "measurement", message)

    verdict = judge(journal)

    assert (verdict.outcome, verdict.exit_code) == (Outcome.INVALID, 2)
    assert verdict.reasons == (f"invalid experiment, nothing was injected: measurement: {message}",)


def test_a_fault_not_in_effect_is_inconclusive_and_its_ledger_entry_shown() -> None:
    message = "The deny policy is in place but index.html still answers 200 after 30 s."
    journal = fails(held_journal(), "deny-origin-reads", "FaultNotInEffect", message)
    met_problem(journal, "not-in-effect", "deny_origin_reads", message)

    verdict = judge(journal)

    assert (verdict.outcome, verdict.exit_code) == (Outcome.INCONCLUSIVE, 3)
    (fault,) = verdict.faults
    assert (fault.entry, fault.injected, fault.verified) == (ENTRY, True, False)
    assert fault.evidence.endswith(message)
    assert fault.state == "restored"


def test_a_failed_action_without_a_problem_is_inconclusive() -> None:
    verdict = judge(fails(held_journal(), "deny-origin-reads", "AccessDenied", "no permission"))

    assert (verdict.outcome, verdict.exit_code) == (Outcome.INCONCLUSIVE, 3)
    assert verdict.reason == (
        "a fault could not be injected or did not take effect: deny-origin-reads: "
        "AccessDenied: no permission"
    )


def test_a_restore_left_in_conflict_is_restore_incomplete_and_names_rollback() -> None:
    verdict = judge(left_in_conflict(held_journal()))

    assert (verdict.outcome, verdict.exit_code) == (Outcome.RESTORE_INCOMPLETE, 4)
    assert verdict.reason.startswith(f"restore incomplete: {FAULT} is conflict:")
    assert "chaos rollback" in verdict.reason
    assert verdict.score == 90  # the restore check


def test_an_interrupted_run_whose_faults_were_restored_is_aborted() -> None:
    verdict = judge(interrupted(held_journal()))

    assert (verdict.outcome, verdict.exit_code) == (Outcome.ABORTED, 5)
    assert verdict.reason == (
        "the run was interrupted (a signal, a control or a refused start); every fault was restored"
    )
    assert verdict.faults[0].restore_seconds == 0.07


def test_an_interrupted_run_with_a_fault_left_open_is_restore_incomplete_not_aborted() -> None:
    journal = left_in_conflict(interrupted(held_journal()))
    section(journal)["faults"][0]["state"] = "open"

    verdict = judge(journal)

    assert (verdict.outcome, verdict.exit_code) == (Outcome.RESTORE_INCOMPLETE, 4)
    assert Outcome.ABORTED not in {finding.outcome for finding in verdict.findings}


def test_an_internal_error_is_70_never_a_deviation() -> None:
    message = "TypeError: unsupported operand (an internal error of chaostoolkit-cdn)"
    journal = fails(
        held_journal(), "cached-pages-under-load-during-the-outage", "InternalError", message
    )
    met_problem(journal, "internal", "measurement", message)

    verdict = judge(journal)

    assert (verdict.outcome, verdict.exit_code) == (Outcome.INTERNAL_ERROR, 70)
    assert [finding.outcome for finding in verdict.findings] == [Outcome.INTERNAL_ERROR]
    assert "(a bug, please report it)" in verdict.reason


def test_an_abort_by_a_control_is_5_and_says_who_aborted() -> None:
    journal = interrupted(held_journal())
    met_problem(journal, "aborted", "safety control", "The halt switch is on.")

    verdict = judge(journal)

    assert (verdict.outcome, verdict.exit_code) == (Outcome.ABORTED, 5)
    assert verdict.reasons == ("aborted: safety control: The halt switch is on.",)


# -- precedence ----------------------------------------------------------------------------

KIND_CODES = {"internal": 70, "invalid": 2, "not-in-effect": 3, "aborted": 5, "expectation": 1}


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (["expectation", "aborted"], 5),
        (["aborted", "not-in-effect"], 3),
        (["not-in-effect", "invalid"], 2),
        (["invalid", "internal"], 70),
        (["expectation", "aborted", "not-in-effect", "invalid", "internal"], 70),
        (["internal", "restore-incomplete"], 4),
        (["expectation", "restore-incomplete"], 4),
    ],
    ids=lambda value: "+".join(value) if isinstance(value, list) else str(value),
)
def test_the_worst_code_wins_in_the_order_4_70_2_3_5_1_0(kinds: list[str], expected: int) -> None:
    journal = held_journal()
    for kind in kinds:
        if kind == "restore-incomplete":
            left_in_conflict(journal)
        else:
            met_problem(journal, kind, "safety control", f"a problem of kind {kind}")

    verdict = judge(journal)

    assert verdict.exit_code == expected
    codes = [finding.outcome.exit_code for finding in verdict.findings]
    assert codes == sorted(codes, key=[o.exit_code for o in PRECEDENCE].index)
    assert set(codes) == {KIND_CODES.get(kind, 4) for kind in kinds}


def test_worst_follows_the_contract_and_is_held_for_nothing() -> None:
    assert [o.exit_code for o in PRECEDENCE] == [4, 70, 2, 3, 5, 1, 0]
    assert worst([]) is Outcome.HELD
    assert worst([Outcome.DEVIATED, Outcome.ABORTED, Outcome.HELD]) is Outcome.ABORTED


def test_an_unknown_problem_kind_is_an_internal_error() -> None:
    journal = met_problem(held_journal(), "gremlins", "safety control", "?")

    assert judge(journal).exit_code == 70


# -- the score across experiments, and what is not a journal -------------------------------


def test_the_worked_example_of_a_gate_weighs_scores_by_contributions() -> None:
    origin_outage = judge(load_probe_misses(held_journal(), "after", p95=412.0))
    object_loss = held_journal()
    del object_loss["experiment"]["contributions"]

    assert (origin_outage.weight, origin_outage.score) == (3, 90)
    assert overall_score([origin_outage, judge(object_loss)]) == (3 * 90 + 100) // 4 == 92
    assert overall_score([]) is None


@pytest.mark.parametrize(
    "not_a_journal",
    [[], {}, "journal", {"experiment": "x", "status": "completed"}, {"title": "t", "method": []}],
    ids=["a list", "an empty object", "a string", "no experiment object", "an experiment"],
)
def test_what_is_not_a_journal_is_refused_with_a_sentence(not_a_journal: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"(not a Chaos Toolkit journal|not a journal)"):
        judge(not_a_journal)


def test_a_journal_with_wrong_types_everywhere_is_still_judged() -> None:
    journal = held_journal()
    for key in ("status", "deviated", "steady_states", "run", "rollbacks", "start", SECTION):
        journal[key] = [None, 3]
    journal["experiment"]["contributions"] = "high"

    verdict = judge(journal)

    assert verdict.target == "unknown target (not a chaostoolkit-cdn journal)"
    assert verdict.outcome is Outcome.HELD  # nothing in it says otherwise
    assert verdict.score < 100  # but nothing it declares ran
    json.dumps(verdict.to_dict())


def test_the_summary_says_outcome_reason_readers_and_timing() -> None:
    summary = judge(load_probe_misses(held_journal(), "after", p95=412.0)).summary()

    lines = summary.splitlines()
    assert lines[0] == "Verdict: deviated (exit 1), score 90/100 (10 of 11 checks held)"
    assert "  - the steady state deviated after the method: p95 412 ms > 300 ms" in summary
    assert (
        "  during the fault readers saw: availability 98.1% of 105 requests, p95 1.3 ms, "
        "p99 1.5 ms; status 200 x103, 403 x2; X-Cache Hit x103, Error x2"
    ) in lines


# -- journals written by `chaos run` ----------------------------------------------------------

STEADY_FILE = {
    "title": "the marker file is there",
    "probes": [
        {
            "type": "probe",
            "name": "marker-is-there",
            "tolerance": True,
            "provider": {
                "type": "python",
                "module": "os.path",
                "func": "isfile",
                "arguments": {"path": "marker"},
            },
        }
    ],
}


def python(kind: str, name: str, module: str, func: str, **arguments: Any) -> dict[str, Any]:
    provider = {"type": "python", "module": module, "func": func, "arguments": arguments}
    return {"type": kind, "name": name, "provider": provider}


REMOVE_MARKER = python("action", "remove-the-marker", "os", "remove", path="marker")
SAFETY = [
    {"name": "safety", "provider": {"type": "python", "module": "chaos_runner.controls.safety"}}
]
EXPERIMENTS: dict[str, dict[str, Any]] = {
    # Chaos Toolkit alone, no section of ours
    "plain-held": {"method": [python("probe", "look", "os.path", "isdir", s=".")]},
    "plain-action-fails": {
        "method": [python("action", "remove-what-is-not-there", "os", "remove", path="nope")]
    },
    "plain-probe-fails": {"method": [python("probe", "read-nothing", "os", "stat", path="nope")]},
    "plain-deviates-and-rollback-fails": {
        "method": [REMOVE_MARKER],
        "rollbacks": [python("action", "remove-it-again", "os", "remove", path="marker")],
    },
    "plain-missing-before": {"method": [REMOVE_MARKER], "no-marker": True},
    # with our safety control, on a target that does not answer
    "ours-invalid": {
        "controls": SAFETY,
        "method": [
            python(
                "action",
                "deny-origin-reads",
                "chaos_runner.faults.s3",
                "deny_origin_reads",
                verify_timeout=-1,
            )
        ],
    },
    "ours-unreachable": {
        "controls": SAFETY,
        "steady-state-hypothesis": {
            "title": "pages are available",
            "probes": [
                {
                    **python(
                        "probe",
                        "pages-are-available",
                        "probes.http",
                        "availability",
                        paths=["/", "/posts/"],
                        requests=4,
                        timeout=1,
                    ),
                    "tolerance": {"type": "range", "target": "availability", "range": [0.99, 1]},
                }
            ],
        },
        "method": [python("probe", "look", "os.path", "isdir", s=".")],
    },
    "ours-refused": {"controls": SAFETY, "method": [REMOVE_MARKER], "locked": True},
}


def experiment_file(directory: Path, name: str, spec: dict[str, Any]) -> Path:
    experiment = {
        "version": "1.0.0",
        "title": name,
        "description": "a journal for the verdict's tests",
        "configuration": {"site_url": {"type": "env", "key": "CHAOS_SITE_URL", "default": ""}},
        "steady-state-hypothesis": STEADY_FILE,
        **{k: v for k, v in spec.items() if k not in ("no-marker", "locked")},
    }
    directory.mkdir()
    if not spec.get("no-marker"):
        (directory / "marker").write_text("here")
    path = directory / "experiment.json"
    path.write_text(json.dumps(experiment))
    return path


def dead_target_env(tmp: Path, name: str) -> dict[str, str]:
    """A target on a closed loopback port: nothing is ever sent anywhere else."""
    url = closed_port_url()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "AWS_"))}
    env.update(
        CHAOS_SITE_URL=url,
        CHAOS_DISTRIBUTION_ID=f"E{uuid.uuid4().hex[:10].upper()}",
        CHAOS_ORIGIN_BUCKET=f"verdict-{name}",
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="verdict-tests",
        AWS_SECRET_ACCESS_KEY="verdict-tests",
        AWS_REGION="us-east-1",
        CHAOS_STATE_DIR=str(tmp / ".chaos"),
        CHAOS_LOCK_DIR=str(tmp / "locks"),
    )
    return env


@pytest.fixture(scope="module")
def real_journals(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Each experiment above run once by `chaos run`: its journal and exit code."""
    tmp = tmp_path_factory.mktemp("journals")
    started, lock = {}, None
    for name, spec in EXPERIMENTS.items():
        path = experiment_file(tmp / name, name, spec)
        env = dead_target_env(tmp, name)
        if spec.get("locked"):  # another run holds the target: the safety control refuses
            lock = TargetLock(Target.resolve(environ=env).key, tmp / "locks")
            assert lock.acquire()
        started[name] = subprocess.Popen(
            [*CHAOS, "run", "--journal-path", "journal.json", str(path)],
            cwd=path.parent,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    journals = {}
    try:
        for name, process in started.items():
            code = process.wait(timeout=60)
            journal = json.loads((tmp / name / "journal.json").read_text())
            journals[name] = {"journal": journal, "exit_code": code}
    finally:
        if lock is not None:
            lock.release()
    yield journals


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("plain-held", 0),
        ("plain-action-fails", 3),
        ("plain-probe-fails", 1),
        ("plain-deviates-and-rollback-fails", 4),
        ("plain-missing-before", 1),
        ("ours-invalid", 2),
        ("ours-unreachable", 1),
        ("ours-refused", 5),
    ],
)
def test_journals_written_by_chaos_run_get_their_exit_code(
    real_journals: dict[str, Any], name: str, expected: int
) -> None:
    assert judge(real_journals[name]["journal"]).exit_code == expected


@pytest.mark.slow
def test_chaos_toolkit_alone_exits_0_when_the_steady_state_fails_before_the_verdict_does_not(
    real_journals: dict[str, Any],
) -> None:
    run = real_journals["plain-missing-before"]
    verdict = judge(run["journal"])

    assert run["exit_code"] == 0
    assert verdict.exit_code == 1
    assert verdict.reason == (
        "the steady state failed before any fault: marker-is-there was not within its "
        "tolerance (true)"
    )


@pytest.mark.slow
def test_a_plain_journal_is_judged_from_chaos_toolkit_fields_and_says_so(
    real_journals: dict[str, Any],
) -> None:
    verdict = judge(real_journals["plain-deviates-and-rollback-fails"]["journal"])

    assert verdict.target == "unknown target (not a chaostoolkit-cdn journal)"
    assert [f.outcome.exit_code for f in verdict.findings] == [4, 1]
    assert verdict.reasons[0].startswith(
        "restore incomplete: the rollback remove-it-again failed: FileNotFoundError: "
    )
    assert "judged from Chaos Toolkit's fields only" in verdict.notes[0]


@pytest.mark.slow
def test_our_journals_name_the_problem_and_the_figures_of_the_steady_state(
    real_journals: dict[str, Any],
) -> None:
    invalid = judge(real_journals["ours-invalid"]["journal"])
    unreachable = judge(real_journals["ours-unreachable"]["journal"])
    refused = judge(real_journals["ours-refused"]["journal"])

    assert invalid.reasons == (
        "invalid experiment, nothing was injected: deny_origin_reads: verify_timeout must "
        "be between 0 and 600 seconds; got -1.",
    )
    assert unreachable.reason == (
        "the steady state failed before any fault: availability 0% outside [99%, 100%] on "
        "/, /posts/ (probe pages-are-available)"
    )
    assert unreachable.phase(Phase.BEFORE).statuses == (("refused", 4),)
    assert refused.reason.startswith("aborted: safety control: Another run is injecting")
    assert invalid.target.endswith("bucket verdict-ours-invalid")


def test_the_public_names_are_pinned() -> None:
    import chaos_runner.verdict

    assert sorted(chaos_runner.verdict.__all__) == [
        "Check",
        "CheckKind",
        "FaultOutcome",
        "Finding",
        "Outcome",
        "PRECEDENCE",
        "Phase",
        "PhaseFigures",
        "UNKNOWN_TARGET",
        "Verdict",
        "WatchFigures",
        "format_availability",
        "format_ms",
        "format_seconds",
        "judge",
        "overall_score",
        "worst",
    ]


def script_in_the_method(journal: dict[str, Any]) -> dict[str, Any]:
    """A process action (a script) added to the method after the fault."""
    action = {
        "type": "action",
        "name": "page-the-on-call",
        "provider": {"type": "process", "path": "true"},
    }
    journal["experiment"]["method"].insert(3, action)
    record = ran("deny-origin-reads", {"status": 0, "stdout": "", "stderr": ""}, 5.131, 5.132)
    journal["run"].insert(3, {**record, "activity": copy.deepcopy(action)})
    return journal


def test_an_action_that_is_not_one_of_our_faults_is_a_method_action_check() -> None:
    ours = judge(script_in_the_method(held_journal()))
    plain = held_journal()
    del plain[SECTION]
    plain = judge(script_in_the_method(plain))

    kinds = {check.name: check.kind for check in ours.checks}
    assert kinds["deny-origin-reads"] == CheckKind.FAULT_VERIFIED
    assert kinds["page-the-on-call"] == CheckKind.METHOD_ACTION
    # A plain Chaos Toolkit journal: every action is what the method injects.
    assert {c.name: c.kind for c in plain.checks}["page-the-on-call"] == CheckKind.FAULT_VERIFIED
    assert ours.outcome == Outcome.HELD
