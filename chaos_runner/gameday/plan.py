"""A game-day plan (docs/gameday.md, "The plan"): loaded, checked key by key, or refused.

Why the YAML is composed into nodes rather than loaded into dicts: every error names the
file, the line and the key (``plan.yaml:14: schedule.cron: ...``), and the node tree keeps
each value's line. It also lets scalars be read as written: YAML 1.1 would turn an
unquoted ``10:00`` into 600 and ``1:30`` into 90, which must not become hours or pauses.

A plan that loads is runnable as far as a file can tell: every key known (a typo must not
silently drop a safeguard), each experiment a valid experiment (checked as ``chaos
validate`` does), the safeguards accepted by the safeguards control, the time zone known,
the cron expression and the windows well formed. The cheap checks come first; the
experiments, which import their activities' modules, are checked last.
"""

import contextlib
import datetime as dt
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import CroniterError, croniter
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from chaos_runner import engine
from chaos_runner._errors import ConfigurationError
from chaos_runner.controls.safeguards import parse_arguments
from chaos_runner.gameday import windows
from chaos_runner.gameday.windows import DAY_NAMES, Blackout, Span, Weekly, WindowCheck

__all__ = [
    "Blackout",
    "Plan",
    "PlanError",
    "PlannedExperiment",
    "Roles",
    "Schedule",
    "Span",
    "Weekly",
    "WindowCheck",
    "load_plan",
    "parse_duration",
]

Target = Literal["sandbox", "environment"]
TARGETS: tuple[Target, ...] = ("sandbox", "environment")
#: The keys of a plan, in the order the doc gives them.
KEYS = (
    "version",
    "title",
    "description",
    "hypothesis",
    "target",
    "runbook",
    "roles",
    "timezone",
    "experiments",
    "safeguards",
    "schedule",
    "windows",
)
_REQUIRED = ("version", "title", "hypothesis", "target", "experiments")
_DEFAULT_DEADLINE_S = 600.0
_DAY_S = 86_400.0
_WEEK_S = 7 * _DAY_S
_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_DURATION = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[smh]?)$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_EXPERIMENT_SUFFIXES = (".yaml", ".yml", ".json")


class PlanError(ConfigurationError):
    """The plan cannot be used; the message is ``FILE:LINE: key: what is wrong and what is
    allowed`` (``FILE: ...`` when the file itself cannot be read)."""


@dataclass(frozen=True, slots=True)
class PlannedExperiment:
    """One experiment of the plan, in its order."""

    path: Path  # absolute
    name: str  # the file's stem
    pause_after_s: float  # the pause before the next one
    line: int  # of its entry in the plan, 1-based


@dataclass(frozen=True, slots=True)
class Roles:
    """Who does what during the game day (names of people, teams or channels)."""

    facilitator: str
    observers: tuple[str, ...]
    on_call: str


@dataclass(frozen=True, slots=True)
class Schedule:
    """When the plan runs by itself (``chaos gameday schedule``)."""

    cron: str  # five fields, read in the plan's time zone
    starting_deadline_s: float  # a fire missed by more than this is skipped
    jitter_s: float  # start up to this much later (inside the allowed window)


@dataclass(frozen=True, slots=True)
class Plan:
    """A checked game-day plan."""

    path: Path  # absolute
    name: str  # the file's stem
    title: str
    description: str
    hypothesis: str
    target: Target
    runbook: str
    roles: Roles
    timezone: ZoneInfo
    experiments: tuple[PlannedExperiment, ...]
    safeguards: dict[str, Any]  # as written (checked): the safeguards control's arguments
    schedule: Schedule | None
    allowed: tuple[Weekly, ...]  # none: any time
    blackouts: tuple[Blackout, ...]
    text: str  # the file as read

    def window(self, when: dt.datetime) -> WindowCheck:
        """Whether a run may start at ``when`` (aware), judged in the plan's time zone."""
        return windows.check(when, self.timezone, self.allowed, self.blackouts)

    def next_runs(self, after: dt.datetime, count: int = 1) -> list[dt.datetime]:
        """The next ``count`` fires of the schedule strictly after ``after`` (aware), in the
        plan's zone, as cron on that wall clock (daylight saving: see windows.py); [] when
        the plan has no schedule. Windows and blackouts are not applied here."""
        if self.schedule is None:
            return []
        return windows.fires(self.schedule.cron, self.timezone, after, count)


def load_plan(path: Path) -> Plan:
    """The plan in ``path``, checked; :class:`PlanError` naming file, line and key if not."""
    text = _read(path)
    root = _compose(path, text)
    return _Reader(path).plan(root, text)


def _read(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise PlanError(f"{path}: cannot be read: {error.strerror or error}.") from None
    if b"\0" in raw:
        raise PlanError(f"{path}: not a text file (a plan is YAML).")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PlanError(
            f"{path}: not UTF-8 text (a plan is YAML): byte {error.start} cannot be decoded."
        ) from None


def _compose(path: Path, text: str) -> MappingNode:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        what = " ".join(p for p in (error.context, error.problem) if p)
        raise PlanError(f"{path}{line}: not valid YAML: {what}.") from None
    except yaml.YAMLError as error:
        raise PlanError(f"{path}: not valid YAML: {_one_line(str(error))}.") from None
    if root is None:
        raise PlanError(f"{path}:1: the plan is empty; {_EXPECTED}.")
    if not isinstance(root, MappingNode):
        raise PlanError(
            f"{path}:{_line(root)}: the plan must be a mapping of keys ({_EXPECTED}); "
            f"it is {_kind(root)}."
        )
    return root


_EXPECTED = "it needs version: 1, title, hypothesis, target and experiments (docs/gameday.md)"


class _Reader:
    """Reads one plan's node tree; every check raises PlanError at the offending node."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.resolve().parent

    def error(self, node: Node, key: str, what: str) -> PlanError:
        return PlanError(f"{self.path}:{_line(node)}: {key}: {what}")

    def plan(self, root: MappingNode, text: str) -> Plan:
        names = {k.value for k, _ in root.value if isinstance(k, ScalarNode)}
        if names & {"method", "steady-state-hypothesis"}:
            raise PlanError(
                f"{self.path}:{_line(root)}: this is an experiment, not a game-day plan; a "
                "plan lists experiments to run in order (docs/gameday.md). Run it with "
                "`chaos run`, or name it in a plan's experiments."
            )
        top = self.fields(root, "", KEYS, _REQUIRED)
        version = top["version"]
        if not (isinstance(version, ScalarNode) and version.value.strip() == "1"):
            raise self.error(
                version, "version", f"must be 1 (the plan format); got {_shown(version)}."
            )
        title = self.text(top["title"], "title", required=True)
        description = self.text(top.get("description"), "description")
        hypothesis = self.text(top["hypothesis"], "hypothesis", required=True)
        target = self.choice(top["target"], "target", TARGETS)
        runbook = self.text(top.get("runbook"), "runbook")
        roles = self.roles(top.get("roles"))
        zone = self.zone(top.get("timezone"))
        safeguards = self.safeguards(top.get("safeguards"))
        schedule = self.schedule(top.get("schedule"))
        allowed, blackouts = self.windows(top.get("windows"), zone)
        experiments = self.experiments(top["experiments"])
        return Plan(
            path=self.path.resolve(),
            name=self.path.stem,
            title=title,
            description=description,
            hypothesis=hypothesis,
            target=cast(Target, target),
            runbook=runbook,
            roles=roles,
            timezone=zone,
            experiments=experiments,
            safeguards=safeguards,
            schedule=schedule,
            allowed=allowed,
            blackouts=blackouts,
            text=text,
        )

    # -- shapes -----------------------------------------------------------------------

    def fields(
        self, node: Node, key: str, known: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Node]:
        """The values of a mapping by key: unknown, repeated and missing keys refused."""
        if not isinstance(node, MappingNode):
            raise self.error(
                node, key, f"must be a mapping of {', '.join(known)}; got {_kind(node)}."
            )
        found: dict[str, Node] = {}
        for name_node, value in node.value:
            name = name_node.value if isinstance(name_node, ScalarNode) else ""
            where = _join(key, name)
            if name not in known:
                raise self.error(name_node, where or "?", _unknown("key", name, known))
            if name in found:
                raise self.error(
                    name_node, where, f"given twice (first on line {_line(found[name])})."
                )
            if value.tag != _NULL:
                found[name] = value
        for name in required:
            if name not in found:
                raise self.error(node, _join(key, name), f"missing; {_HINTS[name]}.")
        return found

    def items(self, node: Node, key: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, key, f"must be a list; got {_kind(node)}.")
        return list(node.value)

    def text(self, node: Node | None, key: str, required: bool = False) -> str:
        if node is None:
            return ""
        if not isinstance(node, ScalarNode):
            raise self.error(node, key, f"must be text; got {_kind(node)}.")
        value = str(node.value).strip()
        if required and not value:
            hint = _HINTS.get(key.rpartition(".")[2])
            raise self.error(
                node, key, f"must not be empty; {hint}." if hint else "must not be empty."
            )
        return value

    def choice(self, node: Node, key: str, allowed: tuple[str, ...]) -> str:
        value = self.text(node, key)
        if value not in allowed:
            raise self.error(node, key, _unknown("value", value, allowed))
        return value

    def duration(self, node: Node | None, key: str, high: float, default: float) -> float:
        """Seconds from ``30s``, ``2m``, ``1h`` or a number of seconds, 0..high."""
        if node is None:
            return default
        seconds = parse_duration(node.value) if isinstance(node, ScalarNode) else None
        if seconds is None or seconds > high:
            raise self.error(
                node,
                key,
                f"must be a duration such as 30s, 2m or 1h (or a number of seconds), at most "
                f"{_duration(high)}; got {_shown(node)}.",
            )
        return seconds

    # -- sections ---------------------------------------------------------------------

    def zone(self, node: Node | None) -> ZoneInfo:
        if node is None:
            return ZoneInfo("UTC")
        name = self.text(node, "timezone")
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.error(
                node,
                "timezone",
                f"no time zone named {name!r}; give an IANA name such as Europe/Berlin, "
                "America/New_York or UTC.",
            ) from None

    def roles(self, node: Node | None) -> Roles:
        if node is None:
            return Roles("", (), "")
        role = self.fields(node, "roles", ("facilitator", "observers", "on_call"))
        observers = role.get("observers")
        names: tuple[str, ...] = ()
        if isinstance(observers, SequenceNode):
            names = tuple(
                self.text(item, f"roles.observers[{n}]", required=False)
                for n, item in enumerate(observers.value, 1)
            )
        elif observers is not None:
            names = (self.text(observers, "roles.observers"),)
        return Roles(
            facilitator=self.text(role.get("facilitator"), "roles.facilitator"),
            observers=tuple(name for name in names if name),
            on_call=self.text(role.get("on_call"), "roles.on_call"),
        )

    def safeguards(self, node: Node | None) -> dict[str, Any]:
        if node is None:
            return {}
        if not isinstance(node, MappingNode):
            raise self.error(node, "safeguards", f"must be a mapping; got {_kind(node)}.")
        arguments = SafeConstructor().construct_object(node, deep=True)
        try:
            parse_arguments(arguments)
        except ValueError as error:
            message = str(error).removeprefix("Safeguards: ")
            at: Node = node
            for name_node, _value in node.value:  # point at the first argument named
                if re.search(rf"\b{re.escape(str(name_node.value))}\b", message):
                    at = name_node
                    break
            raise self.error(
                at, "safeguards", f"{message} (the safeguards control's arguments)"
            ) from None
        return dict(arguments)

    def schedule(self, node: Node | None) -> Schedule | None:
        if node is None:
            return None
        part = self.fields(node, "schedule", ("cron", "starting_deadline", "jitter"), ("cron",))
        cron = self.cron(part["cron"])
        deadline = self.duration(
            part.get("starting_deadline"),
            "schedule.starting_deadline",
            _WEEK_S,
            _DEFAULT_DEADLINE_S,
        )
        if deadline <= 0:
            raise self.error(
                part["starting_deadline"], "schedule.starting_deadline", "must be above 0."
            )
        jitter = self.duration(part.get("jitter"), "schedule.jitter", _DAY_S, 0.0)
        return Schedule(cron=cron, starting_deadline_s=deadline, jitter_s=jitter)

    def cron(self, node: Node) -> str:
        cron = " ".join(self.text(node, "schedule.cron").split())
        rule = (
            "must be a cron expression of five fields (minute hour day-of-month month "
            'day-of-week, e.g. "0 10 * * 2" for Tuesdays at 10:00)'
        )
        if len(cron.split()) != 5:
            raise self.error(node, "schedule.cron", f"{rule}; got {cron!r}.")
        try:
            croniter(cron, dt.datetime(2000, 1, 1)).get_next(dt.datetime)
        except (CroniterError, ValueError, KeyError) as error:
            raise self.error(node, "schedule.cron", f"{rule}; {cron!r}: {error}.") from None
        return cron

    def windows(
        self, node: Node | None, zone: ZoneInfo
    ) -> tuple[tuple[Weekly, ...], tuple[Blackout, ...]]:
        if node is None:
            return (), ()
        part = self.fields(node, "windows", ("allowed", "blackouts"))
        allowed: list[Weekly] = []
        if "allowed" in part:
            for n, item in enumerate(self.items(part["allowed"], "windows.allowed"), 1):
                key = f"windows.allowed[{n}]"
                entry = self.fields(item, key, ("days", "hours"))
                if not entry:
                    raise self.error(item, key, "give days, hours or both.")
                allowed.append(self.weekly(entry, key))
        blackouts: list[Blackout] = []
        if "blackouts" in part:
            for n, item in enumerate(self.items(part["blackouts"], "windows.blackouts"), 1):
                blackouts.append(self.blackout(item, f"windows.blackouts[{n}]", zone))
        return tuple(allowed), tuple(blackouts)

    def blackout(self, node: Node, key: str, zone: ZoneInfo) -> Blackout:
        entry = self.fields(node, key, ("name", "days", "hours", "from", "to"), ("name",))
        name = self.text(entry["name"], f"{key}.name", required=True)
        weekly = "days" in entry or "hours" in entry
        dated = "from" in entry or "to" in entry
        if weekly == dated:
            raise self.error(
                node,
                key,
                "give either days and/or hours (every week) or from and to (dates or "
                "date-times), not both and not neither.",
            )
        when = self.weekly(entry, key) if weekly else self.span(node, entry, key, zone)
        return Blackout(name=name, when=when, line=_line(node))

    def weekly(self, entry: Mapping[str, Node], key: str) -> Weekly:
        days = self.days(entry["days"], f"{key}.days") if "days" in entry else frozenset(range(7))
        start, end = self.hours(entry["hours"], f"{key}.hours") if "hours" in entry else (0, 1440)
        return Weekly(days=days, start=start, end=end)

    def days(self, node: Node, key: str) -> frozenset[int]:
        if isinstance(node, SequenceNode):
            words = [self.text(item, key) for item in node.value]
        else:
            words = self.text(node, key).split(",")
        found: set[int] = set()
        for word in (w.strip().lower() for w in words):
            first, _, last = word.partition("-")
            low, high = self.day(node, key, first), self.day(node, key, last or first)
            if high < low:
                raise self.error(node, key, f"the range {word!r} runs backwards; write mon-fri.")
            found |= set(range(low, high + 1))
        if not found:
            raise self.error(node, key, "names no day; give e.g. [mon, tue] or mon-fri.")
        return frozenset(found)

    def day(self, node: Node, key: str, word: str) -> int:
        if word in DAY_NAMES:
            return DAY_NAMES.index(word)
        if word in _FULL_DAYS:
            return _FULL_DAYS.index(word)
        near = difflib.get_close_matches(word, DAY_NAMES, n=1)
        hint = f" Did you mean {near[0]}?" if near else ""
        raise self.error(
            node,
            key,
            f"unknown day {word!r}; days are {', '.join(DAY_NAMES)}, or a range such as "
            f"mon-fri.{hint}",
        )

    def hours(self, node: Node, key: str) -> tuple[int, int]:
        raw = self.text(node, key)
        match = _HOURS.match(raw)
        if match:
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            start, end = h1 * 60 + m1, h2 * 60 + m2
            if h1 < 24 and m1 < 60 and m2 < 60 and start < end <= 1440:
                return start, end
        raise self.error(
            node,
            key,
            'must be "HH:MM-HH:MM" with the start before the end, e.g. "09:00-16:00" (24:00 '
            "may end a day; a window across midnight is two entries, 22:00-24:00 and "
            f"00:00-02:00 of the next day); got {raw!r}.",
        )

    def span(self, node: Node, entry: Mapping[str, Node], key: str, zone: ZoneInfo) -> Span:
        for name in ("from", "to"):
            if name not in entry:
                raise self.error(node, f"{key}.{name}", "missing; a blackout with from needs to.")
        start = self.moment(entry["from"], f"{key}.from", zone, end=False)
        end = self.moment(entry["to"], f"{key}.to", zone, end=True)
        if end <= start:
            raise self.error(entry["to"], f"{key}.to", "must come after from.")
        label = f"{entry['from'].value} to {entry['to'].value}"
        return Span(start=start, end=end, label=label)

    def moment(self, node: Node, key: str, zone: ZoneInfo, end: bool) -> dt.datetime:
        """A date (a whole day: its start, or for ``to`` its end) or an ISO date-time."""
        raw = self.text(node, key)
        with contextlib.suppress(ValueError):  # not a date: perhaps a date-time
            day = dt.date.fromisoformat(raw)
            return windows.zoned(dt.datetime.combine(day, dt.time()), zone) + (
                dt.timedelta(days=1) if end else dt.timedelta()
            )
        try:
            moment = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise self.error(
                node,
                key,
                "must be a date (2026-12-18, the whole day) or an ISO date-time "
                f"(2026-12-18T14:00, in the plan's zone, or with an offset); got {raw!r}.",
            ) from None
        if moment.tzinfo is None:
            return windows.zoned(moment, zone)
        return moment.astimezone(zone)

    def experiments(self, node: Node) -> tuple[PlannedExperiment, ...]:
        entries = self.items(node, "experiments")
        if not entries:
            raise self.error(node, "experiments", f"names no experiment; {_HINTS['experiments']}.")
        read = [self.experiment(item, f"experiments[{n}]") for n, item in enumerate(entries, 1)]
        named: dict[str, Node] = {}
        for planned, path_node, key in read:
            if planned.name in named:  # its run directory, journal and events go by its name
                raise self.error(
                    path_node,
                    key,
                    f"{planned.name} is already in the plan (line {_line(named[planned.name])}):"
                    " each experiment runs once a game day; to run it twice, copy the file under"
                    " another name.",
                )
            named[planned.name] = path_node
        for planned, path_node, key in read:  # last: this imports the activities' modules
            reason = engine.validate(planned.path)
            if reason:
                raise self.error(path_node, key, reason)
        return tuple(planned for planned, _, _ in read)

    def experiment(self, node: Node, key: str) -> tuple[PlannedExperiment, Node, str]:
        """One entry (a path, or path and pause_after), with the node and key of its path."""
        if isinstance(node, MappingNode):
            entry = self.fields(node, key, ("path", "pause_after"), ("path",))
            path_node, pause, key_path = entry["path"], entry.get("pause_after"), f"{key}.path"
        else:
            path_node, pause, key_path = node, None, key
        written = self.text(path_node, key_path, required=True)
        path = (self.base / written).resolve()
        if not path.is_file():
            raise self.error(path_node, key_path, _missing_file(written, path))
        planned = PlannedExperiment(
            path=path,
            name=path.stem,
            pause_after_s=self.duration(pause, f"{key}.pause_after", _DAY_S, 0.0),
            line=_line(node),
        )
        return planned, path_node, key_path


_HINTS = {
    "version": "write version: 1",
    "title": "a title for people, e.g. title: Origin resilience rehearsal",
    "hypothesis": "what the game day expects, e.g. hypothesis: Readers keep getting pages",
    "target": "target: sandbox (a local sandbox) or target: environment (the CHAOS_* variables)",
    "experiments": "list the experiment files to run, in order, relative to the plan",
    "cron": 'e.g. cron: "0 10 * * 2" (Tuesdays at 10:00 in the plan\'s timezone)',
    "name": "give the blackout a name people recognise, e.g. name: Year-end change freeze",
    "path": "the experiment file, relative to the plan, e.g. path: ../origin-outage.yaml",
}


def _missing_file(written: str, path: Path) -> str:
    near: list[str] = []
    if path.parent.is_dir():
        names = [p.name for p in path.parent.iterdir() if p.suffix in _EXPERIMENT_SUFFIXES]
        near = difflib.get_close_matches(path.name, names, n=1)
    hint = f" Did you mean {near[0]}?" if near else ""
    return (
        f"no experiment file {written} (looked for {path}; paths are relative to the "
        f"plan's directory).{hint}"
    )


def _unknown(what: str, name: str, known: tuple[str, ...]) -> str:
    near = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {near[0]}?" if near else ""
    return f"unknown {what} {name!r}; known: {', '.join(known)}.{hint}"


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _STR:
        return f"the text {node.value!r}"
    return f"the value {node.value!r}"


def _shown(node: Node) -> str:
    return repr(node.value) if isinstance(node, ScalarNode) else _kind(node)


def parse_duration(text: str) -> float | None:
    """Seconds from ``30s``, ``2m``, ``1h`` or a number of seconds; None when it is not one."""
    match = _DURATION.match(text.strip())
    return float(match["number"]) * _UNITS[match["unit"]] if match else None


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _one_line(text: str) -> str:
    return " ".join(text.split())
