"""`chaos gameday export`: each format fires when the plan does, and passes its own tools.

Every export of the shipped plans and of a few tricky schedules is read back the way its
scheduler reads it and compared, fire by fire, with the plan's own fires (``windows.fires``,
what ``Plan.next_runs`` gives): the crontab line and the CronJob's schedule with croniter
in the zone, the timer's OnCalendar= lines with ``systemd-analyze calendar``, the workflow's
UTC lines with croniter in UTC kept to the offsets its `due` job lets through. The files
pass ``systemd-analyze verify``, ``kubernetes-validate --strict``, actionlint and
check-jsonschema. The crontab line's shell is run with a stand-in for `chaos` (a game day
takes minutes), and the workflow's `due` script with bash.

Every export is made once, in-process (module fixture); one test goes through `chaos`.
"""

import contextlib
import datetime as dt
import fcntl
import functools
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
import yaml
from croniter import croniter
from typer.testing import CliRunner

from chaos_runner.cli import rollback
from chaos_runner.cli.gameday import app
from chaos_runner.gameday import windows
from chaos_runner.gameday.calendars import parse_cron, systemd_calendars, utc_crons
from chaos_runner.gameday.export import FORMATS
from chaos_runner.gameday.plan import load_plan
from chaos_runner.gameday.runner import GAMEDAY_DIR_VARIABLE
from tests.commands import chaos
from tests.docs.test_ci_examples import actionlint, commands, run, tool

ROOT = Path(__file__).resolve().parents[2]
PLANS = sorted((ROOT / "experiments" / "gamedays").glob("*.yaml"))
SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"
#: The newest Kubernetes kubernetes-validate knows, and the first with CronJob timeZone GA.
KUBERNETES_VERSIONS = ("1.27.0", None)


@dataclass(frozen=True)
class Case:
    """A schedule to export, and whether GitHub's UTC cron can hold it."""

    id: str
    cron: str
    zone: str
    target: str = "sandbox"
    github: bool = True


CASES = [
    Case("weekly-berlin", "0 10 * * 2", "Europe/Berlin", target="environment"),
    Case("steps-ranges-names", "*/15 9-17 * * mon-fri", "Europe/Berlin"),
    Case("day-or-weekday", "30 14 1-7 * wed", "America/New_York"),
    Case("star-step-day", "0 10 */2 * mon", "UTC"),
    Case("half-hour-zone", "15 2 * * mon", "Asia/Kolkata"),
    Case("lists-months-south", "0 21 * jan-mar,oct-dec 6,0", "Australia/Sydney"),
    Case("sydney-morning-months", "0 9 * jan-mar * ", "Australia/Sydney", github=False),
    Case("evening-new-york", "30 20 1,15 * *", "America/New_York"),
    Case("first-of-month", "0 0 1 * *", "Europe/Berlin", github=False),
]


# --- exporting ---------------------------------------------------------------------------


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str
    files: dict[str, str]  # name -> text, for --out DIR


def export(cwd: Path, plan: str, to: str, *options: str, out: Path | None = None) -> Done:
    """`chaos gameday export PLAN --to TO` in-process, from ``cwd``."""
    args = ["export", plan, "--to", to, *options]
    if out is not None:
        args += ["--out", str(out)]
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(app, args, catch_exceptions=False)
    files = {p.name: p.read_text() for p in out.iterdir()} if out and out.is_dir() else {}
    return Done(result.exit_code, result.stdout, result.stderr, files)


def write_plan(directory: Path, case: Case) -> Path:
    """The origin rehearsal with the case's schedule, zone and target (experiments by their
    absolute paths)."""
    plan = yaml.safe_load((ROOT / "experiments/gamedays/origin-rehearsal.yaml").read_text())
    plan["experiments"] = [str(ROOT / "experiments/distribution-disabled.yaml")]
    plan["timezone"] = case.zone
    plan["target"] = case.target
    plan["schedule"] = {"cron": case.cron, "starting_deadline": "10m"}
    plan.pop("windows")
    path = directory / "plans" / f"{case.id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


@dataclass
class Exports:
    root: Path  # where the tricky plans live (their checkout)
    done: dict[tuple[str, str], Done]  # (case or plan id, format) -> result
    zone: dict[str, ZoneInfo]
    cron: dict[str, str]  # the plan's cron


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Exports:
    root = tmp_path_factory.mktemp("checkout")
    done: dict[tuple[str, str], Done] = {}
    zone: dict[str, ZoneInfo] = {}
    cron: dict[str, str] = {}
    for case in CASES:
        write_plan(root, case)
        zone[case.id], cron[case.id] = ZoneInfo(case.zone), case.cron
        for to in FORMATS:
            out = root / "out" / case.id / to if to == "systemd" else None
            done[case.id, to] = export(root, f"plans/{case.id}.yaml", to, out=out)
    for path in PLANS:
        plan = load_plan(path)
        assert plan.schedule is not None, f"{path.name} has no schedule to export"
        zone[path.stem], cron[path.stem] = plan.timezone, plan.schedule.cron
        for to in FORMATS:
            out = root / "out" / path.stem / to if to == "systemd" else None
            done[path.stem, to] = export(ROOT, str(path.relative_to(ROOT)), to, out=out)
    return Exports(root, done, zone, cron)


EXPORTED = [case.id for case in CASES] + [path.stem for path in PLANS]
GITHUB_OK = [case.id for case in CASES if case.github] + [path.stem for path in PLANS]


def ok(exports: Exports, key: str, to: str) -> Done:
    done = exports.done[key, to]
    assert done.code == 0, done.stderr
    return done


# --- the fires each scheduler reads --------------------------------------------------------


def span() -> tuple[dt.datetime, dt.datetime]:
    """Six weeks from the next 1 March (UTC): the spring changes of Europe, the US and (in
    reverse) Australia fall inside."""
    now = dt.datetime.now(dt.UTC)
    start = dt.datetime(now.year + (now.month >= 3), 3, 1, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=42)


def plan_fires(exports: Exports, key: str) -> list[dt.datetime]:
    return zoned_fires(exports.cron[key], exports.zone[key])


def zoned_fires(cron: str, zone: ZoneInfo) -> list[dt.datetime]:
    """Every fire of ``cron`` in ``zone`` inside :func:`span`, as the plan reads a cron."""
    return list(_zoned_fires(cron, zone))


@functools.cache
def _zoned_fires(cron: str, zone: ZoneInfo) -> tuple[dt.datetime, ...]:
    start, end = span()
    found: list[dt.datetime] = []
    after = start - dt.timedelta(seconds=1)
    while not found or found[-1] < end:
        batch = windows.fires(cron, zone, after, 100)
        found += [moment.astimezone(dt.UTC) for moment in batch]
        after = batch[-1]
    return tuple(moment for moment in found if moment < end)


def crontab_line(text: str) -> tuple[str, str, str]:
    """(zone, five fields, command) of the exported crontab."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(lines) == 2, lines
    zone = lines[0].removeprefix("CRON_TZ=")
    assert zone != lines[0], lines
    parts = lines[1].split(maxsplit=5)
    return zone, " ".join(parts[:5]), parts[5]


def systemd_fires(calendars: list[str], count: int) -> list[dt.datetime]:
    """The first ``count`` elapses of the calendars together from :func:`span`'s start, as
    `systemd-analyze calendar` computes them."""
    start, _end = span()
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "calendar", f"--iterations={count}",
         f"--base-time={start - dt.timedelta(seconds=1):%Y-%m-%d %H:%M:%S} UTC", *calendars],
        env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+) UTC", done.stdout)
    assert found, done.stdout
    return sorted({dt.datetime.fromisoformat(f"{text}+00:00") for text in found})[:count]


def github_fires(workflow: dict[str, Any], zone: ZoneInfo) -> list[dt.datetime]:
    """The fires of the workflow's UTC lines inside :func:`span` that its `due` job lets
    through: those whose line belongs to the zone's offset at that moment."""
    start, end = span()
    allowed = due_table(workflow)
    found: set[dt.datetime] = set()
    for entry in workflow[True]["schedule"]:  # PyYAML reads the key `on` as True
        line = entry["cron"]
        times = croniter(line, start - dt.timedelta(seconds=1))
        while (moment := times.get_next(dt.datetime)) < end:
            offset = moment.astimezone(zone).strftime("%z")
            if line not in allowed or offset in allowed[line]:
                found.add(moment)
    return sorted(found)


def due_table(workflow: dict[str, Any]) -> dict[str, list[str]]:
    """The `due` job's cases: UTC line -> the offsets (`date +%z`) it stands for."""
    if "due" not in workflow["jobs"]:
        return {}
    script = workflow["jobs"]["due"]["steps"][0]["run"]
    table = {}
    for quoted, offsets in re.findall(r"^\s*('[^']+'|\"[^\"]+\")\) offsets=(\S+) ;;", script, re.M):
        table[shlex.split(quoted)[0]] = shlex.split(offsets)[0].split()
    return table


# --- cron ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", EXPORTED)
def test_crontab_fires_when_the_plan_does(exports: Exports, key: str) -> None:
    zone, fields, command = crontab_line(ok(exports, key, "cron").stdout)

    assert zone == exports.zone[key].key
    assert zoned_fires(fields, ZoneInfo(zone)) == plan_fires(exports, key)
    assert plan_fires(exports, key), "the span holds no fire: the comparison proves nothing"
    assert command.startswith("cd ")
    assert " flock -n " in command


@pytest.mark.parametrize("path", PLANS, ids=[p.stem for p in PLANS])
def test_crontab_of_a_shipped_plan_fires_at_its_next_runs(exports: Exports, path: Path) -> None:
    _zone, fields, _command = crontab_line(ok(exports, path.stem, "cron").stdout)
    plan = load_plan(path)
    now = dt.datetime.now(dt.UTC)

    assert windows.fires(fields, plan.timezone, now, 8) == plan.next_runs(now, 8)


def test_a_day_step_is_written_as_the_days_croniter_reads() -> None:
    """cronie reads ``*/2`` in a day field as ``*`` (AND with the weekday), croniter and
    Kubernetes as a list (OR): the export writes the list, which all read alike."""
    assert parse_cron("0 10 */2 * mon").text() == "0 10 1-31/2 * 1"
    assert parse_cron("*/15 9-17 * * mon-fri").text() == "0-45/15 9-17 * * 1-5"
    assert parse_cron("0 0 * * 7").text() == "0 0 * * 0"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout with a plan of no jitter, and a stand-in for `chaos` that writes down
    where and how it ran (a game day takes minutes; the wiring is what is tested)."""
    write_plan(tmp_path, Case("nightly", "0 3 * * *", "Europe/Berlin", target="environment"))
    fake = tmp_path / "bin" / "chaos"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'printf "%s\\n" "$PWD" "$*" "$CHAOS_SITE_URL" > "$RECORD"\n'
        "trap 'echo terminated >> \"$RECORD\"; exit 0' TERM\n"
        'if [ -n "$HANG" ]; then sleep 30 & wait; fi\n'
    )
    fake.chmod(0o755)
    return tmp_path


def crontab_command(checkout: Path, *options: str) -> tuple[str, Path]:
    env_file = checkout / "nightly.env"
    done = export(
        checkout, "plans/nightly.yaml", "cron",
        "--chaos", str(checkout / "bin" / "chaos"), "--env-file", str(env_file), *options,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    return crontab_line(done.stdout)[2], env_file


def run_cron_command(command: str, record: Path) -> int:
    """``command`` as cron runs it (sh -c, from the home directory, a bare environment);
    its exit code."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(record.parent), "SHELL": "/bin/sh"}
    done = subprocess.run(
        ["sh", "-c", command], cwd=record.parent, env=env, timeout=60, check=False
    )
    return done.returncode


def test_crontab_command_runs_the_plan_from_the_checkout_with_the_variables(
    checkout: Path,
) -> None:
    command, env_file = crontab_command(checkout)
    record = checkout / "record.txt"
    env_file.write_text(f"CHAOS_SITE_URL=https://staging.example.com\nRECORD={record}\n")

    assert run_cron_command(command, record) == 0

    where, args, site = record.read_text().splitlines()
    assert Path(where) == checkout
    assert args == "gameday run plans/nightly.yaml"
    assert site == "https://staging.example.com"
    assert (checkout / ".chaos").is_dir()  # the lock and the log live there


def test_crontab_command_does_not_start_while_the_last_run_holds_the_lock(
    checkout: Path,
) -> None:
    command, env_file = crontab_command(checkout)
    record = checkout / "record.txt"
    env_file.write_text(f"RECORD={record}\n")
    (lock_path,) = re.findall(r"flock -n (\S+)", command)
    (checkout / ".chaos").mkdir()

    with Path(lock_path).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a run still going
        assert run_cron_command(command, record) == 1  # flock -n: taken

    assert not record.exists()
    assert run_cron_command(command, record) == 0
    assert record.exists()


def test_crontab_command_stops_a_run_that_goes_on_too_long_with_sigterm(
    checkout: Path,
) -> None:
    command, env_file = crontab_command(checkout, "--timeout", "1s")
    record = checkout / "record.txt"
    env_file.write_text(f"RECORD={record}\nHANG=1\n")

    assert run_cron_command(command, record) == 124  # timeout's "timed out"

    assert record.read_text().splitlines()[-1] == "terminated"


def test_crontab_of_a_plan_with_jitter_sleeps_at_most_the_jitter(exports: Exports) -> None:
    """The origin rehearsal allows 5 minutes of jitter."""
    _zone, _fields, command = crontab_line(ok(exports, "origin-rehearsal", "cron").stdout)
    words = shlex.split(command)
    script = words[words.index("-c") + 1]
    assert script.startswith('sleep "$(shuf -i 0-300 -n 1)"; ')


# --- systemd -----------------------------------------------------------------------------------


def units(exports: Exports, key: str) -> tuple[str, str]:
    done = ok(exports, key, "systemd")
    (service,) = [text for name, text in done.files.items() if name.endswith(".service")]
    (timer,) = [text for name, text in done.files.items() if name.endswith(".timer")]
    return service, timer


def settings(text: str, section: str) -> dict[str, list[str]]:
    """``KEY=value`` lines of one [section] of a unit file."""
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


@pytest.mark.parametrize("key", EXPORTED)
def test_timer_fires_when_the_plan_does(exports: Exports, key: str) -> None:
    _service, timer = units(exports, key)
    calendars = settings(timer, "Timer")["OnCalendar"]
    _start, end = span()
    # The fires inside the span and the first after it: an extra elapse anywhere shows.
    expected = plan_fires(exports, key)
    expected += windows.fires(exports.cron[key], exports.zone[key], end - dt.timedelta(seconds=1))

    assert systemd_fires(calendars, len(expected)) == [e.astimezone(dt.UTC) for e in expected]
    assert all(c.endswith(f" {exports.zone[key].key}") for c in calendars)


def test_a_day_of_month_or_weekday_schedule_is_two_calendars() -> None:
    """cron ORs a restricted day of month with a restricted weekday; one systemd event ANDs
    them, so the timer gets one OnCalendar= for each."""
    zone = ZoneInfo("America/New_York")
    assert systemd_calendars(parse_cron("30 14 1-7 * wed"), zone) == [
        "*-*-01..07 14:30:00 America/New_York",
        "Wed *-*-* 14:30:00 America/New_York",
    ]
    assert systemd_calendars(parse_cron("0 9 * * sat,sun,mon"), zone) == [
        "Mon,Sat,Sun *-*-* 09:00:00 America/New_York"
    ]


def test_systemd_analyze_verifies_every_unit(exports: Exports, tmp_path: Path) -> None:
    paths = []
    for key in EXPORTED:
        for name, text in ok(exports, key, "systemd").files.items():
            (tmp_path / name).write_text(text)
            paths.append(str(tmp_path / name))

    done = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *paths],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    # A bad setting is only a warning (exit 0): the output must be empty too.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_systemd_analyze_really_verifies(exports: Exports, tmp_path: Path) -> None:
    service, timer = units(exports, "weekly-berlin")
    (tmp_path / "a.service").write_text(service.replace("ExecStart=/", "ExecStart=/missing/"))
    (tmp_path / "a.timer").write_text(timer.replace("OnCalendar=Tue", "OnCalendar=Tux"))

    done = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", str(tmp_path / "a.service"),
         str(tmp_path / "a.timer")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert done.returncode == 1
    assert "calendar specification" in done.stderr
    assert "is not executable" in done.stderr


@pytest.mark.parametrize("key", EXPORTED)
def test_service_is_a_oneshot_run_of_the_plan_that_restores_when_stopped(
    exports: Exports, key: str
) -> None:
    service, timer = units(exports, key)
    unit = settings(service, "Service")

    assert unit["Type"] == ["oneshot"]  # systemd never starts it twice at once
    (exec_start,) = unit["ExecStart"]
    words = shlex.split(exec_start)
    assert words[0] == str(Path(sys.executable).parent / "chaos")
    assert words[1:3] == ["gameday", "run"]
    assert (Path(unit["WorkingDirectory"][0]) / words[3]).is_file()
    assert unit["TimeoutStopSec"] == ["30min"]  # the restore's time after SIGTERM
    assert unit["EnvironmentFile"][0].endswith(f"/.chaos/{Path(words[3]).stem}.env")
    assert settings(timer, "Timer")["Persistent"] == ["false"]


def test_systemd_timer_spreads_starts_over_the_plans_jitter(exports: Exports) -> None:
    _service, timer = units(exports, "origin-rehearsal")  # jitter: 5m
    assert settings(timer, "Timer")["RandomizedDelaySec"] == ["5min"]
    assert "RandomizedDelaySec" not in settings(units(exports, "weekly-berlin")[1], "Timer")


def test_systemd_prints_both_units_to_stdout(exports: Exports) -> None:
    plan = str(PLANS[0].relative_to(ROOT))
    done = export(ROOT, plan, "systemd")

    assert done.code == 0, done.stderr
    parts = re.split(r"^# ==> (\S+) <==\n", done.stdout, flags=re.M)
    assert parts[0] == ""
    printed = {name: text.rstrip("\n") for name, text in zip(parts[1::2], parts[2::2], strict=True)}
    written = ok(exports, PLANS[0].stem, "systemd").files
    assert printed == {name: text.rstrip("\n") for name, text in written.items()}


# --- Kubernetes ----------------------------------------------------------------------------------


def document(exports: Exports, key: str, to: str) -> dict[str, Any]:
    """The export of ``key`` to ``to``, a YAML file (CronJob, workflow), read back."""
    found = yaml.safe_load(ok(exports, key, to).stdout)
    assert isinstance(found, dict)
    return found


def cronjob(exports: Exports, key: str) -> dict[str, Any]:
    return document(exports, key, "kubernetes")


@pytest.mark.parametrize("key", EXPORTED)
def test_cronjob_fires_when_the_plan_does_and_never_overlaps(exports: Exports, key: str) -> None:
    spec = cronjob(exports, key)["spec"]
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert zoned_fires(spec["schedule"], ZoneInfo(spec["timeZone"])) == plan_fires(exports, key)
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] in (600, 900)  # the plans' 10m and 15m
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0
    assert pod["restartPolicy"] == "Never"
    assert pod["terminationGracePeriodSeconds"] == 1800
    assert container["command"][:3] == ["chaos", "gameday", "run"]
    assert container["envFrom"][0]["secretRef"]["name"] == cronjob(exports, key)["metadata"]["name"]


def test_cronjob_plan_path_is_the_one_in_the_checkout(exports: Exports) -> None:
    for path in PLANS:
        (container,) = cronjob(exports, path.stem)["spec"]["jobTemplate"]["spec"]["template"][
            "spec"
        ]["containers"]
        assert container["command"][3] == str(path.relative_to(ROOT))


def test_cronjob_options(exports: Exports) -> None:
    case = exports.root / "plans" / "weekly-berlin.yaml"
    done = export(
        exports.root, str(case.relative_to(exports.root)), "kubernetes",
        "--image", "ghcr.io/acme/site-chaos:1.2", "--secret", "staging-target",
        "--service-account", "chaos", "--volume-claim", "chaos-state",
    )  # fmt: skip
    assert done.code == 0, done.stderr
    pod = yaml.safe_load(done.stdout)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert container["image"] == "ghcr.io/acme/site-chaos:1.2"
    assert container["envFrom"] == [{"secretRef": {"name": "staging-target"}}]
    assert pod["serviceAccountName"] == "chaos"
    assert pod["volumes"] == [
        {"name": "state", "persistentVolumeClaim": {"claimName": "chaos-state"}}
    ]
    assert container["env"] == [{"name": "CHAOS_STATE_DIR", "value": "/var/lib/chaos"}]
    assert container["volumeMounts"] == [{"name": "state", "mountPath": "/var/lib/chaos"}]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS, ids=lambda v: v or "newest")
def test_kubernetes_validate_passes_every_cronjob(
    exports: Exports, tmp_path: Path, version: str | None
) -> None:
    paths = []
    for key in EXPORTED:
        path = tmp_path / f"{key}.yaml"
        path.write_text(ok(exports, key, "kubernetes").stdout)
        paths.append(str(path))
    command = [tool("kubernetes-validate"), "--strict", "--quiet"]
    if version:
        command += ["-k", version]

    done = run([*command, *paths], cwd=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr


def test_kubernetes_validate_really_validates(exports: Exports, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    text = ok(exports, "weekly-berlin", "kubernetes").stdout
    path.write_text(text.replace("backoffLimit:", "backofLimit:"))

    done = run([tool("kubernetes-validate"), "--strict", str(path)], cwd=tmp_path)

    assert done.returncode == 1
    assert "backofLimit" in done.stdout + done.stderr


# --- GitHub Actions ------------------------------------------------------------------------------


def workflow(exports: Exports, key: str) -> dict[str, Any]:
    return document(exports, key, "github")


@pytest.mark.parametrize("key", GITHUB_OK)
def test_workflow_fires_when_the_plan_does(exports: Exports, key: str) -> None:
    expected = plan_fires(exports, key)
    assert github_fires(workflow(exports, key), exports.zone[key]) == expected


def test_a_zone_with_daylight_saving_gets_a_line_per_offset_and_a_due_job(
    exports: Exports,
) -> None:
    flow = workflow(exports, "weekly-berlin")
    assert [entry["cron"] for entry in flow[True]["schedule"]] == ["0 9 * * 2", "0 8 * * 2"]
    assert due_table(flow) == {"0 9 * * 2": ["+0100"], "0 8 * * 2": ["+0200"]}
    assert flow["jobs"]["gameday"]["needs"] == "due"


def test_a_fixed_offset_zone_is_shifted_without_a_due_job(exports: Exports) -> None:
    """Monday 02:15 in Kolkata (UTC+05:30) is Sunday 20:45 in UTC."""
    flow = workflow(exports, "half-hour-zone")
    assert [entry["cron"] for entry in flow[True]["schedule"]] == ["45 20 * * 0"]
    assert "due" not in flow["jobs"]
    assert "needs" not in flow["jobs"]["gameday"]


def run_due(flow: dict[str, Any], fired: str, tmp_path: Path) -> str:
    """The `due` step's script in bash as GitHub runs it, for the line ``fired``."""
    step = flow["jobs"]["due"]["steps"][0]
    assert step["env"] == {"FIRED": "${{ github.event.schedule }}"}
    output = tmp_path / "output"
    output.write_text("")
    subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env={"PATH": os.environ["PATH"], "FIRED": fired, "GITHUB_OUTPUT": str(output)},
        cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    (line,) = output.read_text().splitlines()
    return line


def test_due_job_lets_through_only_the_line_of_the_offset_now(
    exports: Exports, tmp_path: Path
) -> None:
    flow = workflow(exports, "weekly-berlin")
    now = dt.datetime.now(ZoneInfo("Europe/Berlin")).strftime("%z")

    answers = {line: run_due(flow, line, tmp_path) for line in due_table(flow)}

    assert answers == {
        line: f"run={'true' if now in offsets else 'false'}"
        for line, offsets in due_table(flow).items()
    }
    assert sorted(answers.values()) == ["run=false", "run=true"]
    assert run_due(flow, "", tmp_path) == "run=true"  # started by hand


@pytest.mark.parametrize("case", [c for c in CASES if not c.github], ids=lambda c: c.id)
def test_workflow_refuses_a_schedule_utc_cron_cannot_hold(exports: Exports, case: Case) -> None:
    done = exports.done[case.id, "github"]

    assert done.code == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "UTC" in line
    assert "month" in line


def test_actionlint_passes_every_workflow(exports: Exports, tmp_path: Path) -> None:
    findings = []
    for key in GITHUB_OK:
        path = tmp_path / f"{key}.yml"
        path.write_text(ok(exports, key, "github").stdout)
        code, found = actionlint(path)
        findings += [f"{key}:{f['line']}: {f['message']}" for f in found]
        assert code in (0, 1)
    assert findings == []


def test_check_jsonschema_passes_every_workflow(exports: Exports, tmp_path: Path) -> None:
    paths = []
    for key in GITHUB_OK:
        path = tmp_path / f"{key}.yml"
        path.write_text(ok(exports, key, "github").stdout)
        paths.append(str(path))

    done = run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *paths],
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout


def gameday_arguments(command: str, args: list[str]) -> dict[str, Any]:
    """``chaos gameday COMMAND ARGS`` parsed by the command itself, or the test fails."""
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    with group.make_context("chaos gameday", [command, *args]) as parent:
        sub = group.get_command(parent, command)
        assert sub is not None
        with sub.make_context(command, list(args), parent=parent) as context:
            return dict(context.params)


@pytest.mark.parametrize("key", GITHUB_OK)
def test_workflow_runs_the_plan_reviews_it_and_keeps_the_run_directory(
    exports: Exports, key: str
) -> None:
    flow = workflow(exports, key)
    job = flow["jobs"]["gameday"]
    steps = job["steps"]
    calls = [(i, args) for i, step in enumerate(steps) for args in commands(step, "gameday")]
    ((run_at, run_args),) = [(i, args[1:]) for i, args in calls if args[:1] == ["run"]]
    ((review_at, review_args),) = [(i, args[1:]) for i, args in calls if args[:1] == ["review"]]
    (upload,) = [step for step in steps if "upload-artifact" in step.get("uses", "")]
    checkout = ROOT if key in {path.stem for path in PLANS} else exports.root

    assert (checkout / gameday_arguments("run", run_args)["plan_path"]).is_file()
    assert review_at > run_at
    assert steps[review_at]["if"] == "always()"
    assert gameday_arguments("review", review_args)["run_dir"] == Path("$run_dir")
    assert f'"${GAMEDAY_DIR_VARIABLE}"/{Path(run_args[0]).stem}/*/' in steps[review_at]["run"]
    assert job["env"][GAMEDAY_DIR_VARIABLE] == "${{ github.workspace }}/gamedays"
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "gamedays/"
    assert flow["concurrency"]["cancel-in-progress"] is False
    assert "workflow_dispatch" in flow[True]


def test_workflow_of_a_real_target_rolls_back_when_the_game_day_fails(exports: Exports) -> None:
    flow = workflow(exports, "weekly-berlin")  # target: environment
    job = flow["jobs"]["gameday"]
    steps = job["steps"]
    (rollback_step,) = [s for s in steps if commands(s, "rollback")]
    run_at = next(i for i, s in enumerate(steps) if commands(s, "gameday"))

    assert steps.index(rollback_step) > run_at
    assert rollback_step["if"] == "failure() || cancelled()"
    for args in commands(rollback_step, "rollback"):
        typer.main.get_command(rollback.app).make_context("chaos rollback", list(args))
    assert job["environment"] == "staging"
    assert job["permissions"]["id-token"] == "write"
    sandbox = workflow(exports, "steps-ranges-names")["jobs"]["gameday"]  # target: sandbox
    assert not [s for s in sandbox["steps"] if commands(s, "rollback")]


# --- notes and refusals ---------------------------------------------------------------------------


def test_a_time_daylight_saving_skips_or_repeats_is_noted(tmp_path: Path) -> None:
    write_plan(tmp_path, Case("night", "30 2 * * *", "Europe/Berlin"))

    done = export(tmp_path, "plans/night.yaml", "cron")

    assert done.code == 0
    notes = done.stderr.splitlines()
    assert len(notes) == 2, notes
    assert "Europe/Berlin skips" in notes[0] or "Europe/Berlin skips" in notes[1]
    assert any("Europe/Berlin repeats" in note for note in notes)
    assert all(note.startswith("note: 02:30 on ") for note in notes)


def test_daylight_saving_edges_are_as_docs_gameday_md_says() -> None:
    """02:30 in Berlin: skipped on 2027-03-28, repeated on 2027-10-31. The plan runs the
    skipped one at 03:00; systemd does not run it that day; the GitHub lines (each kept to
    its offsets, as `due` does) do not run it, and run the repeated one twice."""
    zone = ZoneInfo("Europe/Berlin")
    fields = parse_cron("30 2 * * *")

    def utc(*args: int) -> dt.datetime:
        return dt.datetime(*args, tzinfo=dt.UTC)

    def github(day: dt.date) -> list[dt.datetime]:
        kept = []
        for line in utc_crons(fields, zone, utc(2027, 1, 1)):
            times = croniter(line.cron, utc(day.year, day.month, day.day) - dt.timedelta(hours=6))
            for moment in (times.get_next(dt.datetime) for _ in range(2)):
                offset = moment.astimezone(zone).utcoffset()
                if offset and offset.total_seconds() // 60 in line.offsets:
                    kept.append(moment)
        return sorted(moment for moment in kept if moment.date() == day)

    plan = windows.fires(fields.text(), zone, utc(2027, 3, 27, 12), 2)
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "calendar", "--iterations=2", "--base-time=2027-03-27 12:00 UTC",
         *systemd_calendars(fields, zone)],
        env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip

    assert [moment.astimezone(dt.UTC) for moment in plan] == [
        utc(2027, 3, 28, 1, 0),  # 03:00 summer time, when the clocks jumped
        utc(2027, 3, 29, 0, 30),
    ]
    assert "Next elapse: Mon 2027-03-29 00:30:00 UTC" in done.stdout  # none on the 28th
    assert github(dt.date(2027, 3, 28)) == []
    assert github(dt.date(2027, 10, 31)) == [utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 1, 30)]


def test_github_out_file_creates_its_directory(exports: Exports) -> None:
    out = exports.root / "repo" / ".github" / "workflows" / "gameday.yml"
    done = export(exports.root, "plans/weekly-berlin.yaml", "github", out=out)

    assert done.code == 0, done.stderr
    assert out.read_text() == ok(exports, "weekly-berlin", "github").stdout
    assert done.stderr == f"Wrote {out}\n"


def one_line_error(done: Done) -> str:
    assert done.code == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def test_a_plan_without_a_schedule_is_refused(tmp_path: Path) -> None:
    path = write_plan(tmp_path, Case("none", "0 10 * * 2", "UTC"))
    plan = yaml.safe_load(path.read_text())
    del plan["schedule"]
    path.write_text(yaml.safe_dump(plan))

    assert "has no schedule" in one_line_error(export(tmp_path, "plans/none.yaml", "cron"))


def test_an_invalid_plan_is_refused_naming_its_line(tmp_path: Path) -> None:
    path = write_plan(tmp_path, Case("typo", "0 10 * * 2", "UTC"))
    path.write_text(path.read_text().replace("schedule:", "shedule:"))

    assert "shedule" in one_line_error(export(tmp_path, "plans/typo.yaml", "systemd"))


def test_an_unknown_format_is_refused(tmp_path: Path) -> None:
    write_plan(tmp_path, Case("p", "0 10 * * 2", "UTC"))
    line = one_line_error(export(tmp_path, "plans/p.yaml", "nomad"))
    assert "cron, systemd, kubernetes, github" in line


def test_a_schedule_not_every_scheduler_reads_is_refused(tmp_path: Path) -> None:
    write_plan(tmp_path, Case("last", "0 10 L * *", "UTC"))  # croniter's "last day"
    assert "syntax" in one_line_error(export(tmp_path, "plans/last.yaml", "kubernetes"))


def test_an_option_of_another_format_is_refused(tmp_path: Path) -> None:
    write_plan(tmp_path, Case("p", "0 10 * * 2", "UTC"))
    line = one_line_error(export(tmp_path, "plans/p.yaml", "cron", "--image", "x:1"))
    assert line == "error: --image goes with --to kubernetes."


def test_a_plan_outside_the_checkout_is_refused_for_a_container(tmp_path: Path) -> None:
    path = write_plan(tmp_path / "elsewhere", Case("p", "0 10 * * 2", "UTC"))
    (tmp_path / "checkout").mkdir()
    line = one_line_error(export(tmp_path / "checkout", str(path), "kubernetes"))
    assert "outside the checkout" in line


def test_github_refuses_a_schedule_more_often_than_every_five_minutes(tmp_path: Path) -> None:
    write_plan(tmp_path, Case("often", "*/2 9 * * 1", "UTC"))
    assert "5 minutes" in one_line_error(export(tmp_path, "plans/often.yaml", "github"))


# --- through `chaos` ------------------------------------------------------------------------------


def test_chaos_gameday_export_writes_both_units(tmp_path: Path, clean_env: dict[str, str]) -> None:
    plan = str(PLANS[0].relative_to(ROOT))

    done = chaos(
        ["gameday", "export", plan, "--to", "systemd", "--out", str(tmp_path)], ROOT, clean_env
    )

    assert done.returncode == 0, done.stderr
    stem = PLANS[0].stem
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"chaos-gameday-{stem}.service",
        f"chaos-gameday-{stem}.timer",
    ]
    assert done.stderr.count("Wrote ") == 2
