"""A plan's schedule for the schedulers teams already run: cron, systemd, Kubernetes, GitHub.

Teams who outgrow one machine running ``chaos gameday schedule`` run game days where their
other jobs run. Each export starts the project's own command, ``chaos gameday run PLAN``
(PLAN relative to the repository, as the user named it), with the target's environment, and
never overlaps itself: cron through ``flock -n``, systemd because it never starts a oneshot
service that is still running, Kubernetes with ``concurrencyPolicy: Forbid``, GitHub with a
``concurrency`` group that queues rather than cancels. A run that goes on too long gets
SIGTERM (it restores what it injected), and SIGKILL only after the restore's time.

The schedule is written by :mod:`chaos_runner.gameday.calendars` (from croniter's fields;
refused where a scheduler cannot say it exactly). Nothing here reads the clock or the
environment: the CLI passes ``now`` and the options.
"""

import datetime as dt
import json
import re
import shlex
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

from chaos_runner.gameday.calendars import (
    CronFields,
    ExportError,
    UtcCron,
    daylight_notes,
    systemd_calendars,
    utc_crons,
)

__all__ = [
    "DEFAULT_IMAGE",
    "FORMATS",
    "ExportError",
    "Exported",
    "Format",
    "Job",
    "Settings",
    "export",
    "unit_name",
]

Format = Literal["cron", "systemd", "kubernetes", "github"]
#: The formats, in the order the help lists them.
FORMATS: tuple[Format, ...] = ("cron", "systemd", "kubernetes", "github")

#: The image a CronJob runs when no --image is given: a placeholder on a reserved domain,
#: so that a manifest applied unchanged fails to pull with a message naming it.
DEFAULT_IMAGE = "registry.example.com/chaos-gameday:latest"

#: The longest job GitHub-hosted runners allow (minutes).
_GITHUB_JOB_LIMIT_MIN = 360
#: Minutes a GitHub job needs besides the run and its restore (checkout, install, review,
#: upload).
_GITHUB_OVERHEAD_MIN = 20


def unit_name(plan_name: str) -> str:
    """``chaos-gameday-<plan>``, with what a unit (or Kubernetes) name cannot hold as ``-``."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", plan_name.lower()).strip("-") or "plan"
    return f"chaos-gameday-{cleaned}"[:52].rstrip("-")  # a CronJob name: at most 52


# --- the job and its settings ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """What every export needs of a plan: what to run, where, when."""

    plan: str  # the plan's path as `chaos gameday run` takes it, from the working directory
    name: str  # the plan's stem
    title: str
    target: Literal["sandbox", "environment"]
    zone: ZoneInfo
    cron: CronFields
    starting_deadline_s: float
    jitter_s: float


@dataclass(frozen=True, slots=True)
class Settings:
    """The options of an export; each format reads the ones it has."""

    workdir: str = "."  # cron, systemd: the repository's checkout (absolute)
    chaos: str = "chaos"  # cron, systemd: the `chaos` executable (absolute)
    env_file: str = ""  # cron, systemd: the CHAOS_*/AWS_* variables (default per plan)
    timeout_s: float = 7200.0  # longest a game day may run before it is stopped
    restore_s: float = 1800.0  # how long a stopped game day may take to restore
    image: str = DEFAULT_IMAGE  # kubernetes
    secret: str = ""  # kubernetes: the Secret of the variables (default: the unit name)
    service_account: str = ""  # kubernetes
    volume_claim: str = ""  # kubernetes: a PersistentVolumeClaim for the run directories
    environment: str = "staging"  # github: the environment holding the target's variables
    python: str = "3.11"  # github


@dataclass(frozen=True, slots=True)
class Exported:
    """The files of an export (name, text) and notes for the person who ran it."""

    files: tuple[tuple[str, str], ...]
    notes: tuple[str, ...] = field(default=())


def export(job: Job, to: Format, settings: Settings, now: dt.datetime) -> Exported:
    """``job`` written for the scheduler ``to``; :class:`ExportError` when it cannot be
    written exactly."""
    if to in ("kubernetes", "github") and job.plan.startswith("/"):
        raise ExportError(
            f"The plan {job.plan} lies outside the checkout; --to {to} runs it from the "
            "repository's root in a container or a CI job: name a plan inside the repository."
        )
    notes = tuple(daylight_notes(job.cron, job.zone, now))
    if to == "cron":
        files: tuple[tuple[str, str], ...] = (
            (f"{unit_name(job.name)}.cron", _crontab(job, settings)),
        )
    elif to == "systemd":
        files = _systemd(job, settings)
    elif to == "kubernetes":
        files = ((f"{unit_name(job.name)}.yaml", _cronjob(job, settings)),)
    else:
        files = ((f"{unit_name(job.name)}.yml", _workflow(job, settings, now)),)
    return Exported(files, notes)


# --- cron ------------------------------------------------------------------------------------


def _crontab(job: Job, settings: Settings) -> str:
    unit = unit_name(job.name)
    state = f"{settings.workdir.rstrip('/')}/.chaos"
    lock, log = f"{state}/{unit}.lock", f"{state}/{unit}.log"
    env_file = _env_file(job, settings)
    script = []
    if job.jitter_s >= 1:
        script.append(f'sleep "$(shuf -i 0-{int(job.jitter_s)} -n 1)"')
    load = f"set -a; . {shlex.quote(env_file)}; set +a"
    if job.target == "sandbox":
        load = f"if [ -f {shlex.quote(env_file)} ]; then {load}; fi"
    script.append(load)
    script.append(
        f"exec timeout -s TERM -k {int(settings.restore_s)}s {int(settings.timeout_s)}s "
        f"{shlex.join([settings.chaos, 'gameday', 'run', job.plan])}"
    )
    command = (
        f"cd {shlex.quote(settings.workdir)} && mkdir -p {shlex.quote(state)} && "
        f"flock -n {shlex.quote(lock)} sh -c {shlex.quote('; '.join(script))} "
        f">> {shlex.quote(log)} 2>&1"
    )
    header = [
        *_header(job, "cron"),
        "Install: add these lines at the END of the crontab of the user who runs game days "
        "(crontab -e): CRON_TZ applies to every line after it. CRON_TZ needs a cron that "
        "reads it (cronie: Fedora, RHEL, Arch); one that does not reads the times in the "
        "machine's zone.",
        f"No overlap: flock -n {lock} makes a run that finds the last one still going exit "
        "at once.",
        f"Stop: SIGTERM after {_span(settings.timeout_s)} (the run restores what it "
        f"injected), SIGKILL {_span(settings.restore_s)} later. Output: {log}.",
        _env_sentence(job, env_file),
    ]
    if job.jitter_s >= 1:
        header.append(f"Jitter: each run sleeps up to {_span(job.jitter_s)} first (shuf).")
    header.append(
        "A run missed while the machine was off is skipped (cron does not catch up), as the "
        f"plan's starting deadline ({_span(job.starting_deadline_s)}) wants."
    )
    body = f"CRON_TZ={job.zone.key}\n{job.cron.text()} {command.replace('%', chr(92) + '%')}\n"
    return _comment(header, "#") + body


# --- systemd ---------------------------------------------------------------------------------


def _systemd(job: Job, settings: Settings) -> tuple[tuple[str, str], ...]:
    unit = unit_name(job.name)
    env_file = _env_file(job, settings)
    optional = "-" if job.target == "sandbox" else ""
    command = " ".join(_systemd_word(word) for word in [settings.chaos, "gameday", "run", job.plan])
    service_header = [
        *_header(job, "systemd"),
        f"Install: copy {unit}.service and {unit}.timer to /etc/systemd/system/, then "
        f"`systemctl daemon-reload && systemctl enable --now {unit}.timer`.",
        "No overlap: systemd never starts a oneshot service that is still running.",
        f"Stop (systemctl stop, or after {_span(settings.timeout_s)}): SIGTERM to every "
        "process of the run (each restores what it injected), SIGKILL after TimeoutStopSec.",
        "It runs as root: add User= (one who can read the checkout and the variables, and "
        "write .chaos/ in the checkout) to run it as someone else.",
        _env_sentence(job, env_file),
    ]
    service = _comment(service_header, "#") + "\n".join(
        [
            "[Unit]",
            f"Description=Game day: {_systemd_text(job.title)}",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
            f"WorkingDirectory={_systemd_text(settings.workdir)}",
            f"EnvironmentFile={optional}{_systemd_text(env_file)}",
            f"ExecStart={command}",
            f"TimeoutStartSec={_span(settings.timeout_s, systemd=True)}",
            f"TimeoutStopSec={_span(settings.restore_s, systemd=True)}",
            "",
        ]
    )
    calendars = systemd_calendars(job.cron, job.zone)
    timer_header = [
        f"The schedule of {unit}.service: {job.cron.expression!r} in {job.zone.key}"
        + (
            " (two OnCalendar= lines: cron fires on either day field, one systemd event on both)."
            if len(calendars) > 1
            else "."
        ),
        "Persistent=false: a run missed while the machine was off is skipped, as the plan's "
        f"starting deadline ({_span(job.starting_deadline_s)}) wants; systemd has no deadline "
        "of its own, and Persistent=true could start it hours late.",
    ]
    timer_lines = [
        "[Unit]",
        f"Description=Schedule of game day: {_systemd_text(job.title)}",
        "",
        "[Timer]",
        *(f"OnCalendar={calendar}" for calendar in calendars),
        "AccuracySec=1s",
    ]
    if job.jitter_s >= 1:
        timer_lines.append(f"RandomizedDelaySec={_span(job.jitter_s, systemd=True)}")
    timer_lines += ["Persistent=false", "", "[Install]", "WantedBy=timers.target", ""]
    timer = _comment(timer_header, "#") + "\n".join(timer_lines)
    return ((f"{unit}.service", service), (f"{unit}.timer", timer))


def _systemd_text(value: str) -> str:
    """``value`` in a unit file's setting: ``%`` is a specifier there."""
    return value.replace("%", "%%")


def _systemd_word(word: str) -> str:
    """One word of ``ExecStart=``: quoted when it holds a space or a quote; ``%`` and ``$``
    doubled (specifiers and variables)."""
    escaped = word.replace("%", "%%").replace("$", "$$")
    if re.search(r"[\s\"'\\;]", escaped):
        return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return escaped


# --- Kubernetes ------------------------------------------------------------------------------


def _cronjob(job: Job, settings: Settings) -> str:
    unit = unit_name(job.name)
    secret = settings.secret or unit
    deadline = max(10, int(job.starting_deadline_s))
    header = [
        *_header(job, "kubernetes"),
        "Apply: kubectl apply -n NAMESPACE -f THIS_FILE, after creating the Secret of the "
        f"variables: kubectl create secret generic {secret} --from-env-file=FILE.",
        f"The image ({settings.image}) must hold the repository (its WORKDIR the checkout, "
        "the plan and experiments in it) with `pip install .` done: docs/gameday.md, Exports.",
        "No overlap: concurrencyPolicy Forbid skips a run while the last one still goes.",
        f"Stop: after {_span(settings.timeout_s)} (activeDeadlineSeconds) or on deletion, "
        f"SIGTERM (the run restores what it injected), SIGKILL {_span(settings.restore_s)} "
        "later.",
        f"A run not started within {deadline} s of its time is skipped (startingDeadlineSeconds).",
    ]
    if job.jitter_s >= 1:
        header.append(
            "No jitter: a CronJob starts on its minute (the plan allows up to "
            f"{_span(job.jitter_s)} later, so on time is inside it)."
        )
    if not settings.volume_claim:
        header.append(
            "The run directory (reports, timeline, review) and the ledger live in the pod: "
            "give --volume-claim to keep them."
        )
    env_from = [f"                - secretRef: {{name: {_q(secret)}"]
    env_from[0] += ", optional: true}" if job.target == "sandbox" else "}"
    state = []
    mounts: list[str] = []
    volumes: list[str] = []
    if settings.volume_claim:
        state = [
            "              env:",
            "                - name: CHAOS_STATE_DIR",
            '                  value: "/var/lib/chaos"',
        ]
        mounts = [
            "              volumeMounts:",
            "                - name: state",
            '                  mountPath: "/var/lib/chaos"',
        ]
        volumes = [
            "          volumes:",
            "            - name: state",
            f"              persistentVolumeClaim: {{claimName: {_q(settings.volume_claim)}}}",
        ]
    account = (
        [f"          serviceAccountName: {_q(settings.service_account)}"]
        if settings.service_account
        else []
    )
    lines = [
        "apiVersion: batch/v1",
        "kind: CronJob",
        "metadata:",
        f"  name: {_q(unit)}",
        "  labels:",
        '    app.kubernetes.io/name: "chaos-gameday"',
        f"    app.kubernetes.io/instance: {_q(unit)}",
        "  annotations:",
        f"    chaostoolkit-cdn/plan: {_q(job.plan)}",
        f"    chaostoolkit-cdn/title: {_q(job.title)}",
        "spec:",
        f"  schedule: {_q(job.cron.text())}",
        f"  timeZone: {_q(job.zone.key)}",
        "  concurrencyPolicy: Forbid",
        f"  startingDeadlineSeconds: {deadline}",
        "  successfulJobsHistoryLimit: 3",
        "  failedJobsHistoryLimit: 3",
        "  jobTemplate:",
        "    spec:",
        "      backoffLimit: 0  # a failed game day is not retried: someone reads why",
        f"      activeDeadlineSeconds: {int(settings.timeout_s)}",
        "      template:",
        "        metadata:",
        "          labels:",
        '            app.kubernetes.io/name: "chaos-gameday"',
        f"            app.kubernetes.io/instance: {_q(unit)}",
        "        spec:",
        "          restartPolicy: Never",
        f"          terminationGracePeriodSeconds: {int(settings.restore_s)}",
        *account,
        "          containers:",
        '            - name: "gameday"',
        f"              image: {_q(settings.image)}",
        f"              command: {json.dumps(['chaos', 'gameday', 'run', job.plan])}",
        *state,
        "              envFrom:",
        *env_from,
        *mounts,
        *volumes,
        "",
    ]
    return _comment(header, "#") + "\n".join(lines)


# --- GitHub Actions --------------------------------------------------------------------------


def _workflow(job: Job, settings: Settings, now: dt.datetime) -> str:
    lines = utc_crons(job.cron, job.zone, now)
    offsets: set[int] = set()
    for line in lines:
        offsets |= line.offsets
    guarded = any(line.offsets != offsets for line in lines)
    run_min = _minutes(settings.timeout_s)
    restore_min = _minutes(settings.restore_s)
    job_min = run_min + restore_min + _GITHUB_OVERHEAD_MIN
    if job_min > _GITHUB_JOB_LIMIT_MIN:
        raise ExportError(
            f"A run of {_span(settings.timeout_s)} and a restore of {_span(settings.restore_s)} "
            f"need a job of {job_min} minutes; GitHub-hosted runners stop a job after "
            f"{_GITHUB_JOB_LIMIT_MIN}. Lower --timeout or --restore-timeout."
        )
    unit = unit_name(job.name)
    environment = job.target == "environment"
    header = [
        *_header(job, "github"),
        f"Copy to .github/workflows/{unit}.yml: GitHub runs schedules of the default branch "
        "only, reads cron in UTC only, and may start a scheduled run late (or drop it when "
        "busy). No jitter: GitHub's own delay is larger than the plan's.",
        "No overlap: the concurrency group queues a run while the last one goes (never cancels).",
    ]
    if guarded:
        header += [
            f"{job.zone.key} changes its UTC offset (daylight saving): there is a UTC line for "
            "each offset, and the job `due` lets the run go on only when the line that fired "
            "is the one for the offset the zone has now.",
        ]
    if environment:
        header += [
            f"The target's variables come from the environment {settings.environment!r}: see "
            "docs/ci/README.md (the same variables, the AWS role through OIDC).",
        ]
    out: list[str] = [_comment(header, "#").rstrip("\n")]
    out += [
        f"name: {_q('Game day: ' + job.title)}",
        "",
        "on:",
        "  schedule:",
    ]
    for line in lines:
        out.append(f"    - cron: {_q(line.cron)}  # {_stands_for(line, offsets, job)}")
    out += [
        "  workflow_dispatch:",
        "",
        "permissions:",
        "  contents: read",
        "",
        "concurrency:",
        f"  group: {_q(unit)}",
        "  cancel-in-progress: false",
        "",
        "jobs:",
    ]
    if guarded:
        out += _due_job(lines, offsets, job)
    out += _gameday_job(job, settings, guarded, run_min, restore_min, job_min)
    return "\n".join(out) + "\n"


def _stands_for(line: UtcCron, offsets: set[int], job: Job) -> str:
    when = f"{job.cron.expression} in {job.zone.key}"
    if line.offsets == offsets:
        return when
    shown = ", ".join(f"UTC{_clock_offset(offset)}" for offset in sorted(line.offsets))
    return f"{when} while it is {shown}"


def _due_job(lines: Sequence[UtcCron], offsets: set[int], job: Job) -> list[str]:
    cases = [
        f"            {shlex.quote(line.cron)}) "
        f"offsets={shlex.quote(_date_offsets(line.offsets))} ;;"
        for line in lines
        if line.offsets != offsets
    ]
    return [
        "  due:",
        f"    # Whether the line that fired is the one for {job.zone.key}'s offset now.",
        "    runs-on: ubuntu-latest",
        "    timeout-minutes: 5",
        "    outputs:",
        "      run: ${{ steps.offset.outputs.run }}",
        "    steps:",
        "      - id: offset",
        "        env:",
        "          FIRED: ${{ github.event.schedule }}",
        "        run: |",
        '          now="$(TZ=' + shlex.quote(job.zone.key) + ' date +%z)"',
        '          case "$FIRED" in',
        *cases,
        '            *) offsets="$now" ;;  # started by hand, or a line of every offset',
        "          esac",
        '          case " $offsets " in',
        '            *" $now "*) run=true ;;',
        "            *) run=false ;;",
        "          esac",
        '          echo "run=$run" >> "$GITHUB_OUTPUT"',
        '          echo "UTC offset of ' + job.zone.key + " now: $now; this line is for"
        ' $offsets: run=$run"',
        "",
    ]


def _gameday_job(
    job: Job, settings: Settings, guarded: bool, run_min: int, restore_min: int, job_min: int
) -> list[str]:
    environment = job.target == "environment"
    unit = unit_name(job.name)
    out = ["  gameday:"]
    if guarded:
        out += ["    needs: due", "    if: needs.due.outputs.run == 'true'"]
    out += ["    runs-on: ubuntu-latest", f"    timeout-minutes: {job_min}"]
    if environment:
        out.append(f"    environment: {_q(settings.environment)}")
    out += ["    permissions:", "      contents: read"]
    if environment:
        out.append("      id-token: write # OIDC: assume the AWS role without stored keys")
    out += ["    env:"]
    if environment:
        out += [
            f"      {name}: ${{{{ vars.{name} }}}}"
            for name in ("CHAOS_SITE_URL", "CHAOS_DISTRIBUTION_ID", "CHAOS_ORIGIN_BUCKET")
        ]
    out += [
        "      # The run directories and the ledger: outside dot-directories, which",
        "      # upload-artifact leaves out.",
        "      CHAOS_GAMEDAY_DIR: ${{ github.workspace }}/gamedays",
        "      CHAOS_LEDGER: ${{ github.workspace }}/gamedays/ledger.jsonl",
        "    steps:",
        "      - uses: actions/checkout@v5",
        "      - uses: actions/setup-python@v6",
        "        with:",
        f"          python-version: {_q(settings.python)}",
        "          cache: pip",
        "          cache-dependency-path: pyproject.toml",
        "      - run: pip install .",
    ]
    if environment:
        role_s = min(43200, max(900, job_min * 60))
        out += [
            "      - uses: aws-actions/configure-aws-credentials@v6",
            "        with:",
            "          role-to-assume: ${{ vars.AWS_ROLE_ARN }}",
            "          aws-region: ${{ vars.AWS_REGION }}",
            "          # Outlast the job: the faults are restored with these credentials.",
            f"          role-duration-seconds: {role_s}",
            "      - name: Check the target variables",
            "        run: |",
            *(
                f'          : "${{{name}:?set the variable {name} '
                f'(environment {settings.environment})}}"'
                for name in ("CHAOS_SITE_URL", "CHAOS_DISTRIBUTION_ID", "CHAOS_ORIGIN_BUCKET")
            ),
        ]
    run_dirs = f'"$CHAOS_GAMEDAY_DIR"/{shlex.quote(job.name)}/*/'
    out += [
        "      - name: Game day",
        f"        timeout-minutes: {run_min}",
        f"        run: chaos gameday run {shlex.quote(job.plan)}",
        "      - name: Learning review",
        "        if: always()",
        "        run: |",
        f"          for run_dir in {run_dirs}; do",
        '            if [ -f "$run_dir/run.json" ]; then chaos gameday review "$run_dir"; fi',
        "          done",
    ]
    if environment:
        out += [
            "      - name: Restore anything left injected",
            "        # A game day that failed, was cancelled or timed out: restore from the",
            "        # ledger now, on this runner, since the ledger leaves with it.",
            "        if: failure() || cancelled()",
            f"        timeout-minutes: {restore_min}",
            "        run: chaos rollback",
        ]
    out += [
        "      - name: Keep the run directory (reports, timeline, review) and the ledger",
        "        if: always()",
        "        uses: actions/upload-artifact@v6",
        "        with:",
        f"          name: {_q(unit)}",
        "          path: gamedays/",
        "          if-no-files-found: warn",
    ]
    return out


def _date_offsets(offsets: Iterable[int]) -> str:
    """Offsets as ``date +%z`` prints them (``+0100 +0200``)."""
    return " ".join(_clock_offset(offset).replace(":", "") for offset in sorted(offsets))


def _clock_offset(offset: int) -> str:
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset), 60)
    return f"{sign}{hours:02}:{minutes:02}"


# --- shared ----------------------------------------------------------------------------------


def _header(job: Job, to: Format) -> list[str]:
    return [
        f"Game day {job.title!r}: `chaos gameday run {job.plan}` "
        f"on the schedule {job.cron.expression!r} in {job.zone.key} "
        f"(starting deadline {_span(job.starting_deadline_s)}, "
        f"jitter {_span(job.jitter_s) if job.jitter_s else 'none'}), target {job.target}.",
        f"Written by `chaos gameday export {job.plan} --to {to}`; export again after changing "
        "the plan's schedule.",
        "",
    ]


def _env_file(job: Job, settings: Settings) -> str:
    return settings.env_file or f"{settings.workdir.rstrip('/')}/.chaos/{job.name}.env"


def _env_sentence(job: Job, env_file: str) -> str:
    if job.target == "environment":
        return (
            f"Variables: {env_file} (CHAOS_SITE_URL, CHAOS_DISTRIBUTION_ID, "
            "CHAOS_ORIGIN_BUCKET, AWS_*; NAME=value lines, mode 600), required."
        )
    return f"Variables: {env_file} (NAME=value lines), read when it exists."


def _comment(paragraphs: Sequence[str], mark: str) -> str:
    """``paragraphs`` as comment lines of at most 90 columns (long words, such as paths,
    are not broken), then an empty line."""
    lines = []
    for paragraph in paragraphs:
        wrapped = textwrap.wrap(paragraph, 88, break_long_words=False, break_on_hyphens=False)
        lines += [f"{mark} {line}" for line in wrapped] or [mark]
    return "\n".join(lines) + "\n\n"


def _q(value: str) -> str:
    """``value`` as a YAML double-quoted scalar (JSON's escapes are YAML's)."""
    return json.dumps(value)


def _minutes(seconds: float) -> int:
    return max(1, -(-int(seconds) // 60))


def _span(seconds: float, systemd: bool = False) -> str:
    """``2h``, ``30min`` (systemd) or ``30m``, ``90s``: the shortest exact unit."""
    whole = int(seconds)
    if whole and whole % 3600 == 0:
        return f"{whole // 3600}h"
    if whole and whole % 60 == 0:
        return f"{whole // 60}{'min' if systemd else 'm'}"
    return f"{whole}s"
