"""Game-day plans: the shipped ones load, every error names file, line and key, windows and
blackouts hold at their edges, and `chaos gameday validate` says so in one line or a summary."""

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from chaos_runner.gameday.plan import Plan, PlanError, load_plan
from tests.commands import chaos

ROOT = Path(__file__).resolve().parents[2]
PLANS = ROOT / "experiments" / "gamedays"
EXPERIMENTS = ROOT / "experiments"
BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC

#: A valid plan; each error case below changes one part of it.
BASE = f"""\
version: 1
title: Edge rehearsal
hypothesis: Readers keep getting pages.
target: sandbox
timezone: Europe/Berlin
experiments:
  - path: {EXPERIMENTS}/cache-purge.yaml
    pause_after: 30s
safeguards:
  min_availability: 0.5
schedule:
  cron: "0 10 * * 2"
windows:
  allowed:
    - days: [mon, tue, wed, thu, fri]
      hours: "09:00-18:00"
    - days: [sat]
      hours: "22:00-24:00"
  blackouts:
    - name: No Friday afternoons
      days: [fri]
      hours: "12:00-24:00"
    - name: Year-end change freeze
      from: 2026-12-18
      to: 2027-01-04
    - name: Board meeting
      from: 2026-12-01T10:00
      to: 2026-12-01T11:00
    - name: Database migration
      from: "2026-12-02T09:00:00+00:00"
      to: "2026-12-02T10:00:00+00:00"
"""


def write(tmp_path: Path, text: str, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def shipped() -> dict[str, Plan]:
    """The plans in experiments/gamedays, loaded once (loading validates the experiments)."""
    return {path.stem: load_plan(path) for path in sorted(PLANS.glob("*.yaml"))}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return load_plan(write(tmp_path_factory.mktemp("base"), BASE))


def test_the_shipped_plans_are_valid_sandbox_rehearsals_of_the_demo_site(
    shipped: dict[str, Plan],
) -> None:
    assert set(shipped) == {"origin-rehearsal", "deploy-rehearsal"}
    origin = shipped["origin-rehearsal"]
    assert [e.name for e in origin.experiments] == [
        "origin-outage",
        "origin-latency",
        "cache-purge",
    ]
    assert [e.name for e in shipped["deploy-rehearsal"].experiments] == [
        "bad-deploy",
        "object-loss",
        "error-caching-ttl",
    ]
    for plan in shipped.values():
        assert plan.target == "sandbox"
        assert plan.schedule is not None and plan.allowed and plan.blackouts
        assert plan.roles.facilitator and plan.roles.observers and plan.roles.on_call
        assert plan.safeguards and plan.runbook and plan.hypothesis
        assert all(e.path.is_absolute() and e.path.is_file() for e in plan.experiments)
        assert plan.text == plan.path.read_text()
    assert origin.experiments[0].pause_after_s == 60.0
    assert origin.experiments[0].line == 20
    assert origin.timezone == BERLIN


def test_a_plan_reads_as_written(base: Plan) -> None:
    assert base.name == "plan"
    assert base.description == "" and base.runbook == ""
    assert base.roles.observers == ()
    assert base.safeguards == {"min_availability": 0.5}
    assert base.schedule is not None
    assert (base.schedule.cron, base.schedule.starting_deadline_s, base.schedule.jitter_s) == (
        "0 10 * * 2",
        600.0,
        0.0,
    )
    assert base.experiments[0].pause_after_s == 30.0
    assert [b.name for b in base.blackouts][:2] == [
        "No Friday afternoons",
        "Year-end change freeze",
    ]


def test_the_example_plan_of_the_docs_is_valid(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "gameday.md").read_text()
    section = doc[doc.index("## The plan") :]
    example = section[section.index("```yaml\n") + 8 : section.index("\n```\n")]
    plan = load_plan(write(tmp_path, example.replace("../", f"{EXPERIMENTS}/")))

    assert [e.name for e in plan.experiments] == ["origin-outage", "cache-purge"]
    assert plan.safeguards["alarms"] == ["site-5xx"]
    assert plan.window(dt.datetime(2026, 12, 1, 9, 0, tzinfo=BERLIN)).ok


def test_the_discovery_of_the_gate_does_not_take_plans_for_experiments() -> None:
    from chaos_runner.engine import discover

    found = discover([str(EXPERIMENTS)])
    assert found and not any("gamedays" in path.parts for path in found)


# -- errors: FILE:LINE: key: what is wrong and what is allowed ---------------------------


def case(old: str, new: str, line: int, key: str, *words: str) -> "pytest.ParameterSet":
    """The base plan with ``old`` replaced by ``new`` fails at ``line`` on ``key``."""
    return pytest.param(old, new, line, key, words, id=f"{key}-{words[0][:20]}")


ERRORS = [
    case("safeguards:", "safegaurds:", 9, "safegaurds", "unknown key 'safegaurds'", "safeguards?"),
    case("hypothesis: Readers keep getting pages.\n", "", 1, "hypothesis", "missing"),
    case("target: sandbox\n", "target: sandbox\ntitle: again\n", 5, "title", "given twice"),
    case("version: 1", "version: 2", 1, "version", "must be 1"),
    case("target: sandbox", "target: sandbx", 4, "target", "unknown value 'sandbx'", "sandbox?"),
    case("Europe/Berlin", "Europe/Berlim", 5, "timezone", "no time zone named 'Europe/Berlim'"),
    case('"0 10 * * 2"', '"61 10 * * 2"', 12, "schedule.cron", "five fields"),
    case('"0 10 * * 2"', '"0 0 10 * * 2"', 12, "schedule.cron", "got '0 0 10 * * 2'"),
    case('"0 10 * * 2"', '"0 0 30 2 *"', 12, "schedule.cron", "'0 0 30 2 *'"),
    case('"0 10 * * 2"\n', '"0 10 * * 2"\n  jitter: 25h\n', 13, "schedule.jitter", "at most 24h"),
    case(
        '"0 10 * * 2"\n',
        '"0 10 * * 2"\n  starting_deadline: 0s\n',
        13,
        "schedule.starting_deadline",
        "above 0",
    ),
    # YAML 1.1 would read 1:30 as 90
    case(
        "pause_after: 30s",
        "pause_after: 1:30",
        8,
        "experiments[1].pause_after",
        "a duration such as 30s, 2m or 1h",
        "got '1:30'",
    ),
    case('"09:00-18:00"', '"18:00-09:00"', 16, "windows.allowed[1].hours", "start before"),
    case('"22:00-24:00"', '"22:00-24:01"', 18, "windows.allowed[2].hours", "HH:MM-HH:MM"),
    case("thu, fri]", "thu, fir]", 15, "windows.allowed[1].days", "unknown day 'fir'", "fri?"),
    case(
        "    - name: No Friday afternoons\n",
        "    - from: 2026-01-01\n",
        20,
        "windows.blackouts[1].name",
        "missing",
    ),
    case(
        "      to: 2027-01-04",
        "      to: 2027-01-04\n      days: [mon]",
        23,
        "windows.blackouts[2]",
        "either days and/or hours",
    ),
    case("to: 2027-01-04", "to: 2026-12-01", 25, "windows.blackouts[2].to", "after from"),
    case("from: 2026-12-18", "from: 18.12.2026", 24, "windows.blackouts[2].from", "ISO"),
    case(
        "  min_availability: 0.5",
        "  min_availabilty: 0.5",
        10,
        "safeguards",
        "unknown argument(s) min_availabilty",
    ),
    case(
        "  min_availability: 0.5",
        "  min_availability: 5",
        10,
        "safeguards",
        "min_availability must be a number between 0 and 1",
    ),
    case("  min_availability: 0.5", "  window: 10", 10, "safeguards", "no condition"),
    case(
        "experiments:\n",
        "roles: {facilitator: me, oncall: you}\nexperiments:\n",
        6,
        "roles.oncall",
        "unknown key 'oncall'",
        "on_call?",
    ),
    case(
        f"{EXPERIMENTS}/cache-purge.yaml",
        f"{EXPERIMENTS}/cache-prge.yaml",
        7,
        "experiments[1].path",
        "no experiment file",
        "cache-purge.yaml?",
    ),
    case(
        "    pause_after: 30s\n",
        f"    pause_after: 30s\n  - {EXPERIMENTS}/cache-purge.yaml\n",
        9,
        "experiments[2]",
        "cache-purge is already in the plan (line 7)",
    ),
    case(
        f"  - path: {EXPERIMENTS}/cache-purge.yaml\n    pause_after: 30s\n",
        "  []\n",
        7,
        "experiments",
        "names no experiment",
    ),
]


@pytest.mark.parametrize(("old", "new", "line", "key", "words"), ERRORS)
def test_each_error_names_the_file_line_and_key(
    tmp_path: Path, old: str, new: str, line: int, key: str, words: tuple[str, ...]
) -> None:
    assert old in BASE
    path = write(tmp_path, BASE.replace(old, new, 1))

    with pytest.raises(PlanError) as raised:
        load_plan(path)

    message = str(raised.value)
    assert message.startswith(f"{path}:{line}: {key}: "), message
    for word in words:
        assert word in message, message
    assert "\n" not in message


@pytest.mark.parametrize(
    "experiment", ["title: no method\ndescription: none\n", "title: odd\nmethod: 3\n"]
)
def test_an_invalid_experiment_is_refused_at_its_line_with_the_reason(
    tmp_path: Path, experiment: str
) -> None:
    write(tmp_path, experiment, "broken.yaml")
    path = write(tmp_path, BASE.replace(f"{EXPERIMENTS}/cache-purge.yaml", "broken.yaml"))

    with pytest.raises(PlanError) as raised:
        load_plan(path)

    message = str(raised.value)
    assert message.startswith(f"{path}:7: experiments[1].path: "), message
    assert "broken.yaml is not a valid experiment" in message


def test_the_experiment_shorthand_is_a_path_relative_to_the_plan(tmp_path: Path) -> None:
    (tmp_path / "plans").mkdir()
    text = BASE.replace(
        f"  - path: {EXPERIMENTS}/cache-purge.yaml\n    pause_after: 30s\n",
        f"  - {Path('..') / 'missing.yaml'}\n",
    )
    with pytest.raises(PlanError, match=r"plan.yaml:7: experiments\[1\]: no experiment file"):
        load_plan(write(tmp_path / "plans", text))


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"- a list\n- not a plan\n", ":1: the plan must be a mapping of keys"),
        (b"title: [unclosed\n", ":2: not valid YAML"),
        (b"\x00\x01\x02binary\xff", ": not a text file"),
        (b"\xff\xfe caf\xe9", ": not UTF-8 text"),
        (b"", ":1: the plan is empty"),
        (b"a: 1\n---\nb: 2\n", ": not valid YAML"),
    ],
)
def test_a_file_that_is_no_plan_is_one_line(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "plan.yaml"
    path.write_bytes(content)
    with pytest.raises(PlanError) as raised:
        load_plan(path)
    assert str(raised.value).startswith(str(path)) and words in str(raised.value)
    assert "\n" not in str(raised.value)


def test_an_experiment_given_as_a_plan_is_named_as_such() -> None:
    with pytest.raises(PlanError, match=r"origin-outage.yaml:1: this is an experiment, not a"):
        load_plan(EXPERIMENTS / "origin-outage.yaml")


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"nowhere.yaml: cannot be read: No such file"):
        load_plan(tmp_path / "nowhere.yaml")


# -- windows and blackouts at their edges (Europe/Berlin) --------------------------------


def berlin(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=BERLIN)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("when", "ok", "reason"),
    [
        (
            berlin(2026, 12, 1, 8, 59, 59),
            False,
            "outside every allowed window; the next opens Tue 2026-12-01 09:00 Europe/Berlin",
        ),
        (
            berlin(2026, 11, 30, 9, 0),
            True,
            "inside the allowed window Mon-Fri 09:00-18:00 (Europe/Berlin)",
        ),
        (berlin(2026, 11, 30, 17, 59, 59), True, "Mon-Fri 09:00-18:00"),
        (berlin(2026, 11, 30, 18, 0), False, "the next opens Tue 2026-12-01 09:00"),
        # a date-time blackout: from inclusive, to exclusive
        (berlin(2026, 12, 1, 10, 0), False, "inside the blackout 'Board meeting'"),
        (berlin(2026, 12, 1, 10, 59, 59), False, "'Board meeting'"),
        (berlin(2026, 12, 1, 11, 0), True, "Mon-Fri 09:00-18:00"),
        # with an offset: 09:00 UTC is 10:00 in Berlin
        (berlin(2026, 12, 2, 9, 59), True, "Mon-Fri"),
        (berlin(2026, 12, 2, 10, 0), False, "'Database migration'"),
        # a weekly blackout inside an allowed window
        (berlin(2026, 12, 4, 11, 59, 59), True, "Mon-Fri"),
        (
            berlin(2026, 12, 4, 12, 0),
            False,
            "inside the blackout 'No Friday afternoons' (Fri 12:00-24:00 Europe/Berlin)",
        ),
        # 24:00 ends the day
        (berlin(2026, 12, 5, 23, 59, 59), True, "Sat 22:00-24:00"),
        (berlin(2026, 12, 6, 0, 0), False, "the next opens Mon 2026-12-07 09:00"),
        # dates are whole days, both inclusive; the next opening skips the freeze
        (berlin(2026, 12, 17, 20, 0), False, "the next opens Tue 2027-01-05 09:00"),
        (berlin(2026, 12, 18, 0, 0), False, "'Year-end change freeze' (2026-12-18 to 2027-01-04"),
        (berlin(2027, 1, 4, 17, 59, 59), False, "'Year-end change freeze'"),
        (berlin(2027, 1, 5, 9, 0), True, "Mon-Fri"),
    ],
)
def test_windows_and_blackouts_at_their_edges(
    base: Plan, when: dt.datetime, ok: bool, reason: str
) -> None:
    check = base.window(when)
    assert (check.ok, reason in check.reason) == (ok, True), check.reason
    # the same moment in another zone is judged the same
    assert base.window(when.astimezone(UTC)) == check


def test_window_needs_an_aware_moment(base: Plan) -> None:
    with pytest.raises(ValueError, match="time zone"):
        base.window(dt.datetime(2026, 12, 1, 10, 0))


def test_windows_follow_the_wall_clock_across_daylight_saving(base: Plan) -> None:
    # 09:00 Berlin is 08:00 UTC in winter and 07:00 UTC in summer (clocks forward 29 March)
    assert base.window(dt.datetime(2026, 3, 27, 8, 0, tzinfo=UTC)).ok
    assert not base.window(dt.datetime(2026, 3, 30, 6, 59, tzinfo=UTC)).ok
    assert base.window(dt.datetime(2026, 3, 30, 7, 0, tzinfo=UTC)).ok


# -- `chaos gameday validate` ------------------------------------------------------------


@pytest.mark.slow
def test_validate_summarises_the_shipped_plans(tmp_path: Path, clean_env: dict[str, str]) -> None:
    result = chaos(
        ["gameday", "validate", *map(str, sorted(PLANS.glob("*.yaml")))], tmp_path, clean_env
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "origin-rehearsal.yaml: valid. Origin resilience rehearsal" in out
    assert "1. origin-outage, then a pause of 1m\n    2. origin-latency" in out
    assert "3. cache-purge\n" in out
    assert (
        'schedule: cron "0 10 * * 2" in Europe/Berlin, starting deadline 15m, jitter up to 5m'
        in out
    )
    assert out.count("next 3 fires:") == 2
    assert "blackouts: 'No Friday afternoons' Fri 12:00-24:00; 'Year-end change freeze'" in out
    assert "safeguards: availability over 10 s >= 0.8" in out
    assert "deploy-rehearsal.yaml: valid. Bad deploy rehearsal" in out


@pytest.mark.slow
def test_validate_says_what_is_wrong_in_one_line_each_and_exits_2(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    (tmp_path / "bad.yaml").write_text("title: [\n")
    (tmp_path / "garbage.yaml").write_bytes(b"\x7fELF\x00\x00\x01")
    (tmp_path / "typo.yaml").write_text(BASE.replace("safeguards:", "safegaurds:"))
    names = ["list.yaml", "bad.yaml", "garbage.yaml", "missing.yaml", "typo.yaml"]

    result = chaos(
        ["gameday", "validate", *names, str(PLANS / "origin-rehearsal.yaml")], tmp_path, clean_env
    )

    assert result.returncode == 2
    errors = result.stderr.strip().splitlines()
    assert errors == [
        "error: list.yaml:1: the plan must be a mapping of keys (it needs version: 1, title, "
        "hypothesis, target and experiments (docs/gameday.md)); it is a list.",
        "error: bad.yaml:2: not valid YAML: while parsing a flow node expected the node "
        "content, but found '<stream end>'.",
        "error: garbage.yaml: not a text file (a plan is YAML).",
        "error: missing.yaml: cannot be read: No such file or directory.",
        "error: typo.yaml:9: safegaurds: unknown key 'safegaurds'; known: version, title, "
        "description, hypothesis, target, runbook, roles, timezone, experiments, safeguards, "
        "schedule, windows. Did you mean safeguards?",
    ]
    assert "Traceback" not in result.stderr
    assert "origin-rehearsal.yaml: valid." in result.stdout  # the valid one is still summarised
