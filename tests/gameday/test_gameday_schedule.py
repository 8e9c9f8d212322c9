"""Scheduling a game-day plan: each fire's decision (windows, blackouts, deadline, jitter,
overlap, daylight saving), the loop with real subprocesses, and `chaos gameday schedule`
(a blackout skips and says so; one scheduler per plan; a clean stop)."""

import datetime as dt
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from chaos_runner.cli.gameday import app
from chaos_runner.gameday.plan import Plan, load_plan
from chaos_runner.gameday.schedule import Scheduler, decide, duration
from tests.commands import CHAOS, chaos

EXPERIMENT = Path(__file__).resolve().parents[2] / "experiments" / "cache-purge.yaml"
BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC


def plan_text(schedule: str, windows: str = "", zone: str = "Europe/Berlin") -> str:
    return (
        f"version: 1\ntitle: Rehearsal\nhypothesis: Pages keep coming.\ntarget: sandbox\n"
        f"timezone: {zone}\nexperiments: [{EXPERIMENT}]\nschedule: {schedule}\n{windows}"
    )


WINDOWS = """\
windows:
  allowed:
    - {days: mon-fri, hours: "09:00-16:00"}
  blackouts:
    - {name: No Friday afternoons, days: [fri], hours: "12:00-24:00"}
    - {name: Year-end change freeze, from: 2026-12-18, to: 2027-01-04}
"""


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Plan]:
    """Plans of the decision tests, loaded once."""
    folder = tmp_path_factory.mktemp("plans")
    texts = {
        "weekly": plan_text('{cron: "0 10 * * 2", starting_deadline: 10m, jitter: 10m}', WINDOWS),
        "nightly": plan_text('{cron: "30 2 * * *"}'),
        "hourly": plan_text('{cron: "0 * * * *"}'),
        "fridays": plan_text(
            '{cron: "58 11 * * 5", jitter: 10m}',
            "windows:\n  blackouts:\n"
            '    - {name: Lunch deploys, days: [fri], hours: "12:00-13:00"}\n',
        ),
    }
    loaded = {}
    for name, text in texts.items():
        (folder / f"{name}.yaml").write_text(text)
        loaded[name] = load_plan(folder / f"{name}.yaml")
    return loaded


def berlin(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=BERLIN)  # type: ignore[misc]


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# -- decisions ---------------------------------------------------------------------------

TUESDAY = berlin(2026, 12, 1, 10, 0)


@pytest.mark.parametrize(
    ("fire", "now", "running", "runs", "words"),
    [
        (TUESDAY, TUESDAY, "", True, "inside the allowed window Mon-Fri 09:00-16:00"),
        # the starting deadline (10m): on it still runs, past it skips
        (TUESDAY, TUESDAY + dt.timedelta(minutes=10), "", True, "allowed window"),
        (
            TUESDAY,
            TUESDAY + dt.timedelta(minutes=10, seconds=1),
            "",
            False,
            "missed by 10m1s, more than the starting deadline of 10m (the machine was asleep",
        ),
        (TUESDAY, TUESDAY + dt.timedelta(hours=26), "", False, "missed by 1d2h"),
        # blackouts and windows
        (
            berlin(2026, 12, 22, 10, 0),
            berlin(2026, 12, 22, 10, 0),
            "",
            False,
            "inside the blackout 'Year-end change freeze' (2026-12-18 to 2027-01-04 Europe/Berlin)",
        ),
        (
            berlin(2026, 12, 4, 12, 0),
            berlin(2026, 12, 4, 12, 0),
            "",
            False,
            "inside the blackout 'No Friday afternoons' (Fri 12:00-24:00 Europe/Berlin)",
        ),
        (
            berlin(2026, 12, 1, 8, 0),
            berlin(2026, 12, 1, 8, 0),
            "",
            False,
            "outside every allowed window; the next opens Tue 2026-12-01 09:00 Europe/Berlin",
        ),
        # judged when it would start: late into the closing of the window
        (
            berlin(2026, 12, 1, 15, 55),
            berlin(2026, 12, 1, 16, 0),
            "",
            False,
            "outside every allowed window",
        ),
        # never overlaps itself
        (
            TUESDAY,
            TUESDAY,
            "pid 42, started Tue 2026-11-24 10:00:00 Europe/Berlin",
            False,
            "the previous run is still going (pid 42, started Tue 2026-11-24 10:00:00",
        ),
    ],
)
def test_each_fire_is_decided_with_its_reason(
    plans: dict[str, Plan],
    fire: dt.datetime,
    now: dt.datetime,
    running: str,
    runs: bool,
    words: str,
) -> None:
    decision = decide(plans["weekly"], fire, now, running=running)

    assert decision.run is runs
    assert words in decision.reason, decision.reason
    if runs:
        assert decision.start == max(fire, now)  # no jitter drawn
    line = decision.describe(TUESDAY + dt.timedelta(days=7))
    assert line.startswith(f"Fire of {fire.strftime('%a %Y-%m-%d %H:%M')} Europe/Berlin: ")
    assert ("skipped: " in line) is not runs
    assert line.endswith("Next fire: Tue 2026-12-08 10:00 Europe/Berlin.")


@pytest.mark.parametrize(
    ("plan", "fire", "draw", "start"),
    [
        ("weekly", TUESDAY, 0.5, TUESDAY + dt.timedelta(minutes=5)),
        ("weekly", TUESDAY, 0.0, TUESDAY),
        # 5 minutes left in the allowed window: the jitter is cut to them
        ("weekly", berlin(2026, 12, 1, 15, 55), 0.5, berlin(2026, 12, 1, 15, 57, 30)),
        # 2 minutes before a blackout begins
        ("fridays", berlin(2026, 12, 4, 11, 58), 0.5, berlin(2026, 12, 4, 11, 59)),
    ],
)
def test_jitter_delays_the_start_but_never_past_the_window(
    plans: dict[str, Plan], plan: str, fire: dt.datetime, draw: float, start: dt.datetime
) -> None:
    assert decide(plans[plan], fire, fire, jitter=draw).start == start
    # the largest draw still starts before the window closes
    latest = decide(plans[plan], fire, fire, jitter=0.999999).start
    assert fire <= latest < fire + dt.timedelta(minutes=10)
    assert plans[plan].window(latest).ok


def test_the_deadline_is_real_time_across_a_daylight_saving_change(
    plans: dict[str, Plan],
) -> None:
    # 01:55 CET to 03:04 CEST is 9 minutes, not 69
    spring = decide(plans["nightly"], berlin(2026, 3, 29, 1, 55), utc(2026, 3, 29, 1, 4))
    assert spring.run, spring.reason
    # 02:30 CEST to 02:35 CET is 65 minutes, not 5
    autumn = decide(plans["nightly"], utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 35))
    assert not autumn.run and "missed by 1h5m" in autumn.reason


def in_utc(fires: list[dt.datetime]) -> list[dt.datetime]:
    """As UTC: Python never finds a time of a repeated hour equal to one in another zone."""
    return [fire.astimezone(UTC) for fire in fires]


def test_cron_fires_on_the_wall_clock_across_daylight_saving(plans: dict[str, Plan]) -> None:
    nightly, hourly = plans["nightly"], plans["hourly"]
    # 02:30 does not exist on 29 March: it runs when the clocks jump (03:00 CEST, 01:00 UTC)
    assert in_utc(nightly.next_runs(berlin(2026, 3, 28, 12, 0), 3)) == [
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 30, 0, 30),
        utc(2026, 3, 31, 0, 30),
    ]
    # 02:30 happens twice on 25 October: it runs once, the first time (CEST)
    assert in_utc(nightly.next_runs(berlin(2026, 10, 24, 12, 0), 2)) == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ]
    # hourly: the repeated 02:00 runs once; from inside its second pass, the next is 03:00 CET
    assert in_utc(hourly.next_runs(utc(2026, 10, 24, 23, 30), 3)) == [
        utc(2026, 10, 25, 0, 0),
        utc(2026, 10, 25, 2, 0),
        utc(2026, 10, 25, 3, 0),
    ]
    assert in_utc(hourly.next_runs(utc(2026, 10, 25, 1, 15))) == [utc(2026, 10, 25, 2, 0)]
    # a weekly 10:00 stays 10:00 on the wall clock: 09:00 UTC in winter, 08:00 UTC in summer
    weekly = plans["weekly"].next_runs(berlin(2026, 3, 20, 0, 0), 2)
    assert weekly == [utc(2026, 3, 24, 9, 0), utc(2026, 3, 31, 8, 0)]
    assert all(fire.tzinfo == BERLIN for fire in weekly)
    with pytest.raises(ValueError, match="time zone"):
        hourly.next_runs(dt.datetime(2026, 1, 1))


def test_durations_read_for_people() -> None:
    assert [duration(s) for s in (0, 42, 600, 601, 7980, 93600)] == [
        "0s",
        "42s",
        "10m",
        "10m1s",
        "2h13m",
        "1d2h",
    ]


# -- the loop, with real subprocesses ----------------------------------------------------


class Clock:
    """A wall clock for the scheduler: from ``start``, ``speed`` times as fast as the real
    one; ``jump`` moves it on (a machine waking up)."""

    def __init__(self, start: dt.datetime, speed: float = 1.0) -> None:
        self.start, self.speed = start, speed
        self.began = time.monotonic()
        self.jumped = dt.timedelta()

    def __call__(self) -> dt.datetime:
        elapsed = (time.monotonic() - self.began) * self.speed
        return self.start + dt.timedelta(seconds=elapsed) + self.jumped

    def jump_to(self, moment: dt.datetime) -> None:
        self.jumped += moment - self()


class Lines:
    """What the scheduler says, and a way to wait for a line."""

    def __init__(self) -> None:
        self.said: list[tuple[str, bool]] = []
        self.changed = threading.Condition()

    def __call__(self, line: str, skipped: bool) -> None:
        with self.changed:
            self.said.append((line, skipped))
            self.changed.notify_all()

    def wait_for(self, words: str, timeout: float = 30) -> str:
        with self.changed:
            found = self.changed.wait_for(
                lambda: next((line for line, _ in self.said if words in line), None), timeout
            )
        assert found, f"no line with {words!r} in {self.said}"
        return found

    @property
    def text(self) -> str:
        return "\n".join(line for line, _ in self.said)


class Serving:
    """A scheduler serving in a thread, as `chaos gameday schedule` does in the foreground."""

    def __init__(self, scheduler: Scheduler, **options: bool) -> None:
        self.stop = threading.Event()
        self.code: int | None = None
        self.thread = threading.Thread(target=self._serve, args=(scheduler, options))
        self.thread.start()

    def _serve(self, scheduler: Scheduler, options: dict[str, bool]) -> None:
        self.code = scheduler.serve(self.stop, **options)

    def end(self) -> int | None:
        """Stop it (as Ctrl-C does) and wait until it has; its exit code."""
        self.stop.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
        return self.code


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def every_minute(folder: Path, deadline: str) -> Plan:
    path = folder / "every-minute.yaml"
    path.write_text(plan_text(f'{{cron: "* * * * *", starting_deadline: {deadline}}}', zone="UTC"))
    return load_plan(path)


def test_a_run_still_going_makes_the_next_fire_skip_and_a_stop_restores_it(
    tmp_path: Path,
) -> None:
    plan = every_minute(tmp_path, "1m")
    started, stopped = tmp_path / "started", tmp_path / "stopped"
    run = python(
        "import pathlib, signal, sys, time\n"
        f"def stop(*_): pathlib.Path({str(stopped)!r}).write_text('SIGTERM'); sys.exit(5)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        f"pathlib.Path({str(started)!r}).write_text(sys.argv[-1])\n"
        "time.sleep(120)\n"
    )
    lines = Lines()
    # the first fire now, the next one a second later, while the run goes on
    clock = Clock(utc(2026, 12, 1, 10, 0, 59))
    serving = Serving(Scheduler(plan, lines, run, clock=clock), now=True)
    try:
        lines.wait_for("Started the run (pid")
        skipped = lines.wait_for("skipped: the previous run is still going (pid")
        waited = time.monotonic()
        while not started.exists() and time.monotonic() - waited < 30:  # its handler is set
            time.sleep(0.05)
    finally:
        code = serving.end()

    assert "runs now" in lines.text
    assert "Fire of Tue 2026-12-01 10:01 UTC" in skipped and "runs never overlap" in skipped
    assert ("skipped" in skipped) and (skipped, True) in lines.said
    assert started.read_text() == str(plan.path)  # the plan is the run's argument
    assert "Stopping: telling the run (pid" in lines.text
    assert stopped.read_text() == "SIGTERM"  # it was told to stop, and waited for
    assert "ended with exit code 5 (aborted)" in lines.text
    assert code == 0


def test_fires_missed_while_asleep_are_one_line_and_the_latest_is_judged(
    tmp_path: Path,
) -> None:
    lines = Lines()
    clock = Clock(utc(2026, 12, 1, 10, 0, 59, 500000))
    scheduler = Scheduler(every_minute(tmp_path, "30s"), lines, python("pass"), clock=clock)
    serving = Serving(scheduler)
    try:
        lines.wait_for("Fire of Tue 2026-12-01 10:01 UTC: runs now")
        lines.wait_for("ended with exit code 0 (held)")
        clock.jump_to(utc(2026, 12, 1, 12, 3, 45))  # the machine slept two hours
        missed = lines.wait_for("missed while the machine was asleep")
        judged = lines.wait_for("Fire of Tue 2026-12-01 12:03 UTC: skipped: missed by 4")
    finally:
        code = serving.end()

    assert missed.endswith(
        "Fires from Tue 2026-12-01 10:02 UTC on: skipped 121 missed while the machine was "
        "asleep, off or busy (only the latest is judged)."
    )
    assert "more than the starting deadline of 30s" in judged
    assert "Next fire: Tue 2026-12-01 12:04 UTC" in judged
    assert code == 0


def test_once_and_now_runs_one_fire_and_exits_with_its_code(tmp_path: Path) -> None:
    lines = Lines()
    plan = every_minute(tmp_path, "1m")
    scheduler = Scheduler(plan, lines, python("import sys; sys.exit(3)"))

    code = scheduler.serve(threading.Event(), once=True, now=True)

    assert code == 3
    assert "ended with exit code 3 (inconclusive)" in lines.text
    assert "Stopped" not in lines.text


# -- `chaos gameday schedule` ------------------------------------------------------------


@pytest.fixture
def schedule_env(clean_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**clean_env, "CHAOS_LOCK_DIR": str(tmp_path / "locks")}


@pytest.mark.slow
def test_a_blackout_skips_a_scheduled_run_and_says_so(
    tmp_path: Path, schedule_env: dict[str, str]
) -> None:
    today = dt.datetime.now(UTC).date()
    blackout = (
        "windows:\n  blackouts:\n    - name: Release freeze\n"
        f"      from: {today - dt.timedelta(days=1)}\n      to: {today + dt.timedelta(days=1)}\n"
    )
    (tmp_path / "frozen.yaml").write_text(plan_text('{cron: "0 10 * * 2"}', blackout, "UTC"))

    result = chaos(
        ["gameday", "schedule", "frozen.yaml", "--once", "--now"], tmp_path, schedule_env
    )

    assert result.returncode == 0, result.stderr
    decision = next(line for line in result.stdout.splitlines() if "Fire of" in line)
    assert "skipped: inside the blackout 'Release freeze'" in decision
    assert "Next fire: " in decision
    assert "skipped: inside the blackout 'Release freeze'" in result.stderr
    assert "Started the run" not in result.stdout  # nothing ran
    assert not (tmp_path / ".chaos" / "gamedays").exists()


@pytest.mark.slow
def test_one_scheduler_per_plan_and_a_clean_stop(
    tmp_path: Path, schedule_env: dict[str, str]
) -> None:
    (tmp_path / "weekly.yaml").write_text(plan_text('{cron: "0 10 * * 2"}'))
    first = subprocess.Popen(
        [*CHAOS, "gameday", "schedule", "weekly.yaml"],
        cwd=tmp_path,
        env=schedule_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None
        assert "Scheduling 'Rehearsal' (weekly.yaml)" in first.stdout.readline()

        second = chaos(["gameday", "schedule", "weekly.yaml"], tmp_path, schedule_env)

        assert second.returncode == 2
        assert second.stderr.startswith("error: weekly.yaml is already scheduled on this machine")
        assert f"pid {first.pid} " in second.stderr
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    assert "Stopped; no run was going." in out


def test_a_plan_without_a_schedule_exits_2_in_one_line(tmp_path: Path) -> None:
    text = plan_text('{cron: "0 10 * * 2"}').replace('schedule: {cron: "0 10 * * 2"}\n', "")
    (tmp_path / "unscheduled.yaml").write_text(text)

    result = CliRunner().invoke(app, ["schedule", str(tmp_path / "unscheduled.yaml")])

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'unscheduled.yaml'} has no schedule: add")
    assert len(result.stderr.splitlines()) == 1 and not result.stdout
