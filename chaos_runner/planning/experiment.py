"""The plan of one experiment: its mutations in order, its probes and their load, its grants.

Read statically from the file: the controls, the steady state's probes (they run twice,
before and after the method), the method and the rollbacks, each activity's provider and
arguments (the configuration substituted, the function's defaults filled in), and the
declarations of :mod:`chaos_runner.iam`. Only the pages by role and the target come from
outside the file (:class:`~chaos_runner.planning.survey.Survey`, read only).
"""

import contextlib
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos_runner import guard
from chaos_runner._errors import ConfigurationError
from chaos_runner.digest import distribution_buckets
from chaos_runner.iam import (
    Condition,
    Declaration,
    Grant,
    Mutation,
    Permission,
    Propagation,
    Resource,
    alarm_arn,
    bucket_arn,
    declaration,
    distribution_arn,
    hosted_zone_arn,
    objects_arn,
    restore_needs,
)
from chaos_runner.pages import ROLES, SitePages, key_of
from chaos_runner.planning.catalogue import Load, load_of
from chaos_runner.planning.survey import Survey

__all__ = ["ExperimentPlan", "PlannedMutation", "PlannedProbe", "Step", "plan_experiment"]

_PHASES = (("steady state", "steady-state-hypothesis"), ("method", "method"), ("rollbacks", ""))
_SAFETY = "chaos_runner.controls.safety"
_SAFEGUARDS = "chaos_runner.controls.safeguards"
_SANDBOX = "chaos_runner.controls.sandbox"
_METRICS = "chaos_runner.controls.metrics"
#: How many pages each role takes when the site cannot be read now (see pages.ROLES).
_ROLE_SIZES = {"home": 1, "cached": 2, **{r: n for r, (_, _, n) in ROLES.items() if r != "cached"}}
_ALARMS_REGION = "us-east-1"
_FALSE = {"", "false", "no", "off", "0", "none"}
#: How long each kind of change takes to reach readers on AWS.
_ON_AWS = {
    Propagation.CLOUDFRONT_CONFIG: "minutes (typically 1-5) until every edge location serves it",
    Propagation.CLOUDFRONT_INVALIDATION: "minutes (usually one or two) until every edge location "
    "has evicted the objects",
    Propagation.S3_POLICY: "seconds (S3 applies a new bucket policy within seconds)",
    Propagation.S3_OBJECTS: "at once at the origin (S3 is strongly consistent); readers see it "
    "on their next cache miss",
    Propagation.SANDBOX_EDGE: "at once: the edge's next origin fetch or TLS handshake (the "
    "sandbox only)",
}


@dataclass(frozen=True, slots=True)
class Step:
    """One activity of the experiment, and where it runs."""

    phase: str  # "steady state", "method", "rollbacks"
    number: int  # its place in its phase, from 1
    name: str
    kind: str  # "action", "probe"
    function: str  # module.func, or what runs it (a process, an HTTP call)
    background: bool = False

    @property
    def runs(self) -> int:
        """How often it runs: the steady state is checked before and after the method."""
        return 2 if self.phase == "steady state" else 1

    @property
    def where(self) -> str:
        """``method step 3``."""
        return f"{self.phase} step {self.number}"


@dataclass(frozen=True, slots=True)
class PlannedMutation:
    """A change the run makes, in the words of its fault's declaration."""

    step: Step
    resource: str
    what: str
    change: str
    blast_radius: str
    reversible: bool
    restore: str
    restored_by: tuple[str, ...]
    takes_effect: str


@dataclass(frozen=True, slots=True)
class PlannedProbe:
    """An activity that changes nothing: the load it sends and the AWS actions it calls."""

    step: Step
    load: Load
    aws: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExperimentPlan:
    """Everything ``chaos plan`` says of one experiment."""

    path: str
    title: str
    target: str
    pages: str
    controls: tuple[str, ...]
    mutations: tuple[PlannedMutation, ...]
    probes: tuple[PlannedProbe, ...]
    grants: tuple[Grant, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def total_requests(self) -> tuple[int, bool]:
        """(requests to the site over the whole run, True when every probe's count is known)."""
        known = [p.load.total * p.step.runs for p in self.probes if p.load.total is not None]
        return sum(known), all(p.load.total is not None for p in self.probes)


@dataclass
class _Activity:
    """An activity as the file declares it, arguments resolved."""

    step: Step
    module: str
    func: str
    arguments: dict[str, Any]
    declared: Declaration | None


def plan_experiment(
    path: Path, experiment: Mapping[str, Any], survey_of: Callable[[Mapping[str, Any]], Survey]
) -> ExperimentPlan:
    """The plan of ``experiment`` (read from ``path``) on the target ``survey_of`` reads for
    its configuration."""
    from chaoslib.configuration import load_configuration
    from chaoslib.exceptions import ChaosException

    try:
        configuration = load_configuration(dict(experiment.get("configuration") or {}))
    except ChaosException as error:
        raise ConfigurationError(
            f"{path}: its configuration cannot be loaded ({error})."
        ) from error
    return _Planner(path, experiment, configuration, survey_of(configuration)).plan()


class _Planner:
    def __init__(
        self,
        path: Path,
        experiment: Mapping[str, Any],
        configuration: Mapping[str, Any],
        survey: Survey,
    ) -> None:
        self.path = path
        self.experiment = experiment
        self.configuration = configuration
        self.survey = survey
        self.notes: list[str] = []
        self.grants: list[Grant] = []  # in the order the policy lists them (see plan)
        self.uses_roles = False

    def plan(self) -> ExperimentPlan:
        """The policy lists the faults' grants first (what changes the site, and its undo),
        then the probes', the controls' and the pages'."""
        activities = list(self._activities())
        mutations = [self._mutation(a, activities) for a in activities if _fault(a)]
        probes = [self._probe(a) for a in activities if not _fault(a)]
        controls = self._controls()
        self._pages_grant()
        for item in activities:
            self._check(item)
        return ExperimentPlan(
            path=str(self.path),
            title=str(self.experiment.get("title", "")),
            target=self.survey.label,
            pages=self._pages_words(),
            controls=tuple(controls),
            mutations=tuple(mutations),
            probes=tuple(probes),
            grants=tuple(self.grants),
            notes=tuple(dict.fromkeys(self.notes)),
        )

    # -- the activities -------------------------------------------------------------------

    def _activities(self) -> Iterable[_Activity]:
        defined = {str(a.get("name")): a for a in self._all_definitions() if isinstance(a, Mapping)}
        for phase, key in _PHASES:
            if phase == "steady state":
                items = (self.experiment.get(key) or {}).get("probes") or []
            else:
                items = self.experiment.get(key or phase) or []
            for number, item in enumerate(items, start=1):
                found = defined.get(item) if isinstance(item, str) else item
                if isinstance(found, Mapping):
                    yield self._activity(phase, number, found)

    def _all_definitions(self) -> list[Any]:
        steady = (self.experiment.get("steady-state-hypothesis") or {}).get("probes") or []
        return [
            *steady,
            *(self.experiment.get("method") or []),
            *(self.experiment.get("rollbacks") or []),
        ]

    def _activity(self, phase: str, number: int, item: Mapping[str, Any]) -> _Activity:
        provider = item.get("provider") or {}
        name, kind = str(item.get("name", "?")), str(item.get("type", "action"))
        background = bool(item.get("background"))
        if provider.get("type") != "python":
            runs = provider.get("path") or provider.get("url") or "?"
            what = f"a {provider.get('type', '?')} provider ({runs})"
            step = Step(phase, number, name, kind, what, background)
            return _Activity(step, "", "", {}, None)
        module, func = str(provider.get("module", "")), str(provider.get("func", ""))
        step = Step(phase, number, name, kind, f"{module}.{func}", background)
        arguments = self._arguments(module, func, provider.get("arguments") or {})
        return _Activity(step, module, func, arguments, declaration(module, func))

    def _arguments(self, module: str, func: str, given: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments as the activity gets them: substituted, defaults filled in."""
        from chaoslib import substitute

        arguments = dict(substitute(dict(given), dict(self.configuration), {}) or {})
        try:
            function = getattr(importlib.import_module(module), func)
            parameters = inspect.signature(function).parameters.values()
        except (ImportError, AttributeError, TypeError, ValueError):
            return arguments
        defaults = {
            p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty
        }
        return {**defaults, **arguments}

    def _check(self, item: _Activity) -> None:
        if item.declared is not None:
            return
        ours = item.module.startswith(("chaos_runner.", "probes"))
        self.notes.append(
            f"{item.step.name} ({item.step.function}) is not declared: "
            + (
                "a bug of chaostoolkit-cdn (every activity of ours must be); "
                if ours
                else "it is not one of ours, so the plan cannot tell what it changes, the load "
                "it sends or the permissions it needs; "
            )
            + "review it, and add what it needs to the policy by hand."
        )

    # -- faults ---------------------------------------------------------------------------

    def _mutation(self, item: _Activity, everything: list[_Activity]) -> PlannedMutation:
        declared = item.declared
        if declared is None or declared.mutation is None:
            raise TypeError(f"{item.step.function} is not a fault")  # _fault() chose it
        mutation = declared.mutation
        sid = declared.sid + ("AndRestore" if mutation.reversible else "")
        self._grant_all(sid, declared.needs, declared, item.arguments)
        self._grant_all(sid, restore_needs(mutation.kind) or (), declared, item.arguments)
        self._uses_roles(item.arguments)
        if declared.sandbox_only and self.survey.kind == "aws":
            self.notes.append(
                f"{item.step.name} runs on the sandbox only: on this target it refuses, and "
                "the experiment is inconclusive."
            )
        if mutation.kind == "distribution_config" and _edge_functions(self.survey.distribution):
            self.notes.append(
                f"Distribution {self.survey.target.distribution_id} has Lambda@Edge "
                "associations: writing its config may also need lambda:GetFunction and "
                "lambda:EnableReplication* on those functions, which the policy does not grant "
                "(docs/iam.md)."
            )
        fields = self._fields(declared, item.arguments)
        return PlannedMutation(
            step=item.step,
            resource=self._mutated(mutation, declared, item.arguments),
            what=_fill(mutation.what, fields),
            change=_fill(mutation.change, fields),
            blast_radius=_fill(mutation.blast_radius, fields),
            reversible=mutation.reversible,
            restore=_fill(mutation.restore, fields),
            restored_by=tuple(self._restored_by(item, mutation.kind, everything)),
            takes_effect=self._takes_effect(mutation.takes_effect, item.arguments),
        )

    def _mutated(
        self, mutation: Mutation, declared: Declaration, arguments: Mapping[str, Any]
    ) -> str:
        if mutation.resource == Resource.SANDBOX:
            admin = self.survey.target.sandbox_admin_url or "CHAOS_SANDBOX_ADMIN_URL"
            return f"the sandbox's admin API ({admin})"
        return ", ".join(self._resources(mutation.resource, declared, arguments))

    def _restored_by(self, item: _Activity, kind: str, everything: list[_Activity]) -> list[str]:
        if not (item.declared and item.declared.mutation and item.declared.mutation.reversible):
            return []
        order = [a.step for a in everything]
        later = order[order.index(item.step) + 1 :]
        by = [
            f"{a.step.name} ({a.step.where})"
            for a in everything
            if a.step in later
            and a.declared is not None
            and a.declared.restores_faults
            and str(a.arguments.get("fault") or "") in ("", kind)
        ]
        if self._has_control(_SAFETY):
            by.append("the safety control at the end of the run, however it ends")
        by.append("`chaos rollback` after a crash")
        return by

    def _takes_effect(self, how: Propagation, arguments: Mapping[str, Any]) -> str:
        """How long until readers see the change: on this sandbox, and on AWS."""
        on_aws, waits = _ON_AWS[how], ""
        if how == Propagation.CLOUDFRONT_CONFIG:
            waits = (
                "; the fault waits until the distribution is Deployed (at most "
                f"{_words(arguments.get('deploy_timeout'))} s)"
                if _given(arguments.get("wait_deployed"))
                else "; the fault does not wait for it (wait_deployed: false)"
            )
        elif how == Propagation.S3_POLICY:
            waits = (
                "; the fault waits until an anonymous read answers 403 (at most "
                f"{_words(arguments.get('verify_timeout'))} s)"
            )
        if self.survey.kind == "aws" or how in (Propagation.S3_OBJECTS, Propagation.SANDBOX_EDGE):
            return on_aws + waits
        delay = self.survey.propagation_delay
        here = (
            f"{delay:g} s on this sandbox (its --propagation-delay)"
            if delay is not None
            else "the sandbox's --propagation-delay (not known here: its state file is not in "
            "this directory)"
        )
        if how == Propagation.S3_POLICY:
            here = "at once on this sandbox"
        return f"{here}; {on_aws} on AWS{waits}"

    # -- probes and other activities ------------------------------------------------------

    def _probe(self, item: _Activity) -> PlannedProbe:
        aws: list[str] = []
        if item.declared is not None and not item.declared.sandbox_only:
            before = len(self.grants)
            self._grant_all(item.declared.sid, item.declared.needs, item.declared, item.arguments)
            aws = list(dict.fromkeys(g.action for g in self.grants[before:]))
            if item.declared.restores_faults:
                aws = ["what the restores of the run's faults call (in the faults' statements)"]
        self._uses_roles(item.arguments)
        load = load_of(item.step.function, item.arguments, self._page_count)
        if load is None:
            load = Load.none() if item.declared else Load(None, None, "not known (not ours)")
        return PlannedProbe(item.step, load, tuple(aws))

    # -- grants ---------------------------------------------------------------------------

    def _grant_all(
        self,
        sid: str,
        needs: Sequence[Permission],
        declared: Declaration,
        arguments: Mapping[str, Any],
    ) -> None:
        for permission in needs:
            if all(self._holds(c, declared, arguments) for c in permission.when):
                for resource in self._resources(permission.resource, declared, arguments):
                    self.grants.append(Grant(sid, permission.action, resource, permission.why))

    def _holds(
        self, condition: Condition, declared: Declaration, arguments: Mapping[str, Any]
    ) -> bool:
        if not condition.fact:
            return _given(arguments.get(condition.argument)) == condition.given
        bucket = self._bucket(declared, arguments)
        if condition.fact == "bucket other than the origin bucket":
            return bucket != self.survey.target.origin_bucket
        versioned = self.survey.versioned(bucket)
        if versioned is None:
            self.notes.append(
                f"The versioning of bucket {bucket} could not be read: the policy allows the "
                "restore of both a versioned and an unversioned bucket."
            )
            return True
        return versioned == (condition.fact == "versioned bucket")

    def _bucket(self, declared: Declaration, arguments: Mapping[str, Any]) -> str:
        named = (
            str(arguments.get(declared.names.bucket) or "").strip() if declared.names.bucket else ""
        )
        if named and named != self.survey.target.origin_bucket:
            self.survey.require_bucket(named, f"the `bucket` argument of {declared.function}")
            origins = distribution_buckets(self.survey.distribution)
            if (
                declared.mutation is not None
                and self.survey.kind != "new sandbox"
                and named not in origins
            ):
                self.notes.append(
                    f"{declared.func} refuses bucket {named}: it is neither the origin bucket nor "
                    "one the distribution names as an origin."
                )
            return named
        return self.survey.target.origin_bucket

    def _resources(
        self, kind: Resource, declared: Declaration, arguments: Mapping[str, Any]
    ) -> list[str]:
        """The ARNs of ``kind`` for this activity ("*" for the actions AWS cannot scope)."""
        if kind in (Resource.BUCKET, Resource.OBJECTS):
            bucket = self._bucket(declared, arguments)
            return [bucket_arn(bucket) if kind == Resource.BUCKET else objects_arn(bucket)]
        if kind == Resource.DISTRIBUTION:
            named = (
                arguments.get(declared.names.distribution) if declared.names.distribution else ""
            )
            return [
                distribution_arn(
                    self.survey.account, str(named or self.survey.target.distribution_id)
                )
            ]
        if kind == Resource.ALARMS:
            return self._alarms(declared, arguments)
        if kind == Resource.HOSTED_ZONE:
            zone = arguments.get(declared.names.hosted_zone) if declared.names.hosted_zone else ""
            return [hosted_zone_arn(str(zone or "*").rsplit("/", 1)[-1])]
        if kind == Resource.ANY:
            return ["*"]
        return []

    def _alarms(self, declared: Declaration, arguments: Mapping[str, Any]) -> list[str]:
        names = declared.names
        region = (
            str(arguments.get(names.alarm_region) or _ALARMS_REGION)
            if names.alarm_region
            else _ALARMS_REGION
        )
        listed = _names(arguments.get(names.alarms)) if names.alarms else []
        prefix = str(arguments.get(names.alarm_prefix) or "") if names.alarm_prefix else ""
        chosen = listed or ([prefix + "*"] if prefix else ["*"])
        return [alarm_arn(region, self.survey.account, name) for name in chosen]

    # -- controls -------------------------------------------------------------------------

    def _control_list(self) -> list[Mapping[str, Any]]:
        return [c for c in self.experiment.get("controls") or [] if isinstance(c, Mapping)]

    def _has_control(self, module: str) -> bool:
        return any((c.get("provider") or {}).get("module") == module for c in self._control_list())

    def _controls(self) -> list[str]:
        lines = []
        for control in self._control_list():
            provider = control.get("provider") or {}
            module = str(provider.get("module", ""))
            arguments = dict(provider.get("arguments") or {})
            lines.append(self._control(str(control.get("name", module)), module, arguments))
        if not self._has_control(_SAFETY):
            self.notes.append(
                "No safety control: the run takes no lock, does not refuse a target with "
                "faults left open, and restores only through the experiment's own actions."
            )
        return lines

    def _control(self, name: str, module: str, arguments: Mapping[str, Any]) -> str:
        if module == _SANDBOX:
            if self.survey.kind == "new sandbox":
                return (
                    f"{name}: starts a sandbox for the run and stops it at the end (a local "
                    "process, nothing on AWS)"
                )
            return f"{name}: uses the target above (it starts no sandbox)"
        if module == _SAFETY:
            return f"{name}: {self._safety()}"
        if module == _SAFEGUARDS:
            return f"{name}: {self._safeguards(arguments)}"
        if module == _METRICS:
            return f"{name}: {_metrics(arguments)}"
        self.notes.append(
            f"The control {name} ({module or '?'}) is not one of ours: the plan cannot tell "
            "what it does."
        )
        return f"{name}: not one of ours ({module or '?'})"

    def _safety(self) -> str:
        words = (
            "takes the target's lock and refuses it when the ledger holds open faults (local "
            "files, no AWS call); restores every fault of the run at its end"
        )
        try:
            allowed = guard.allowed_accounts(self.configuration)
        except ValueError as error:
            raise ConfigurationError(f"{self.path}: {error}") from error
        if not allowed:
            return words + "; no production guard (no allowed_accounts)"
        words += (
            f"; the production guard asks STS GetCallerIdentity (it needs no permission) and "
            f"allows account(s) {', '.join(allowed)}"
        )
        if self.survey.kind != "new sandbox" and self.survey.account not in allowed:
            self.notes.append(
                f"The credentials act in account {self.survey.account}, which allowed_accounts "
                f"does not list ({', '.join(allowed)}): the run would refuse to start (exit 2)."
            )
        return words

    def _safeguards(self, arguments: Mapping[str, Any]) -> str:
        from chaos_runner.controls.safeguards import ALARMS_REGION, parse_arguments

        try:
            settings = parse_arguments(arguments)
        except ValueError as error:
            raise ConfigurationError(f"{self.path}: {error} The run would refuse.") from error
        for name in settings.alarms:
            self.grants.append(
                Grant(
                    "SafeguardsReadAlarms",
                    "cloudwatch:DescribeAlarms",
                    alarm_arn(ALARMS_REGION, self.survey.account, name),
                    "read the alarms the safeguards watch, every second of the method",
                )
            )
        words = f"aborts the run when {settings.describe()}"
        if settings.watches_site:
            self._uses_roles({"paths": settings.paths})
            pages = self._page_count(settings.paths)
            words += (
                f"; sends {settings.rate} requests a second to {pages} page(s) while the method "
                "runs"
            )
        return words

    # -- pages ----------------------------------------------------------------------------

    def _uses_roles(self, arguments: Mapping[str, Any]) -> None:
        if any(_roles(value) for value in arguments.values()):
            self.uses_roles = True

    def _pages_grant(self) -> None:
        if not self.uses_roles:
            return
        site = self.survey.pages()
        if site is not None and not site.source.startswith("the listing of bucket"):
            return
        bucket = self.survey.target.origin_bucket
        self.grants.append(
            Grant(
                "PagesFromTheBucketListing",
                "s3:ListBucket",
                bucket_arn(bucket),
                "find the pages of the roles (@cached...) when the site has no sitemap",
            )
        )
        if site is None:
            self.notes.append(
                "The pages by role could not be read now "
                f"({self.survey.pages_problem}); the policy lets the run list the bucket, "
                "as it does when the site has no sitemap."
            )

    def _pages_words(self) -> str:
        if not self.uses_roles:
            return "no page by role"
        site = self.survey.pages()
        if site is None:
            return f"by role, not read now ({self.survey.pages_problem})"
        return site.describe().removeprefix("Pages ")

    def _page_count(self, spec: Any) -> int:
        return len(_paths(spec, self.survey.pages()))

    def _fields(self, declared: Declaration, arguments: Mapping[str, Any]) -> dict[str, Any]:
        fields = {key: _words(value) for key, value in arguments.items()}
        fields.update(
            bucket=self._bucket(declared, arguments),
            distribution_id=self.survey.target.distribution_id,
            domains=self.survey.domains,
        )
        if declared.module == "chaos_runner.faults.objects":
            fields["objects"] = _objects(arguments, self.survey.pages())
        return fields


def _metrics(arguments: Mapping[str, Any]) -> str:
    """What the metrics control does with its arguments (and the variables)."""
    from chaos_runner.metrics import SinkSettings

    sinks = SinkSettings.resolve(
        arguments.get("pushgateway"),
        arguments.get("textfile"),
        arguments.get("port"),
        arguments.get("address"),
    )
    if not sinks.any:
        return "no sink is set, so it does nothing"
    where = [s for s in (sinks.pushgateway, sinks.textfile) if s]
    if sinks.port is not None:
        where.append(f"/metrics on port {sinks.port}")
    return f"sends the run's metrics to {', '.join(where)} (not AWS)"


def _edge_functions(config: Mapping[str, Any]) -> bool:
    """True when a cache behaviour of ``config`` has a Lambda@Edge association."""
    behaviors = [config.get("DefaultCacheBehavior") or {}]
    behaviors += (config.get("CacheBehaviors") or {}).get("Items") or []
    return any((b.get("LambdaFunctionAssociations") or {}).get("Quantity") for b in behaviors)


def _fault(item: _Activity) -> bool:
    return item.declared is not None and item.declared.mutation is not None


def _given(value: Any) -> bool:
    """An argument is given when it is true, or a non-empty value other than "false"."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, list | tuple | dict):
        return bool(value)
    return str(value).strip().lower() not in _FALSE


def _names(value: Any) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return [str(item).strip() for item in items if str(item).strip()]


def _roles(value: Any) -> bool:
    if isinstance(value, str):
        return any(part.strip().startswith("@") for part in value.split(","))
    if isinstance(value, Mapping):
        return any(_roles(key) for key in value)
    if isinstance(value, list | tuple):
        return any(_roles(item) for item in value)
    return False


def _paths(spec: Any, site: SitePages | None) -> list[str]:
    """The distinct pages of a paths argument; a role the site cannot fill now counts its
    usual number of pages (``@cached`` two, ``@uncached`` two, the others one)."""
    found: list[str] = []
    if isinstance(spec, str):
        items: list[Any] = [part.strip() for part in spec.split(",") if part.strip()]
    elif isinstance(spec, Mapping):
        items = list(spec)
    elif isinstance(spec, list | tuple):
        items = [
            p
            for item in spec
            for p in (_paths(item, site) if not isinstance(item, str) else [item])
        ]
    else:
        items = []
    for item in items:
        if isinstance(item, str) and item.startswith("@"):
            found += _role(item[1:], site)
        elif isinstance(item, str) and "," in item:
            found += _paths(item, site)
        else:
            found.append(str(item))
    return list(dict.fromkeys(found))


def _role(name: str, site: SitePages | None) -> list[str]:
    if site is not None:
        with contextlib.suppress(ConfigurationError):  # a role the site cannot fill: placeholders
            return site.role(name)
    return [f"@{name}#{n}" for n in range(_ROLE_SIZES.get(name, 1))]


def _objects(arguments: Mapping[str, Any], site: SitePages | None) -> str:
    """The objects an object fault selects, in words."""
    keys = arguments.get("keys")
    if _given(keys):
        named = [key_of(p) if p.startswith("/") else p for p in _paths(keys, site)]
        shown = [k if "#" not in k else k.split("#")[0] for k in named]
        return "object(s) " + ", ".join(dict.fromkeys(shown))
    prefix, share = str(arguments.get("prefix") or ""), arguments.get("share")
    if _given(share) and str(share) not in ("0", "0.0"):
        where = f"under {prefix!r}" if prefix else "of the bucket"
        return f"a share of {share} of the objects {where} (seed {arguments.get('seed')})"
    if prefix:
        return f"every object under {prefix!r}"
    return "index.html (the home page)"


def _words(value: Any) -> str:
    """An argument's value in a sentence: ``30.0`` as 30, a list as its items."""
    if isinstance(value, list | tuple):
        return ", ".join(_words(item) for item in value)
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fill(template: str, fields: Mapping[str, Any]) -> str:
    return template.format_map(_Fields(fields))
