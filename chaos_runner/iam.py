"""What each activity changes and which AWS permissions it needs; the policy that grants them.

Declarations are data, kept beside the code they describe:

- a fault declares on its activity, with :func:`declares`, what it mutates
  (:class:`Mutation`) and the IAM actions it calls (:class:`Permission`);
- a restorer declares, with :func:`restores`, the actions a restore of its ledger kind
  calls (the same restorer undoes the fault at the end of the run, in a restore action
  and in ``chaos rollback``);
- probes and controls change nothing; their tables register with :func:`declare` (the
  planning package holds them, with the load each probe sends).

``chaos plan`` looks up the declaration of every activity of an experiment
(:func:`declaration`), resolves each permission to the target's resources (:class:`Grant`)
and builds the least-privilege policy of the run (:func:`policy`): one statement per
purpose and resource, with a ``Sid`` that names the purpose.

A permission names a kind of resource (:class:`Resource`), turned into an ARN for the
target: the bucket, its objects, the distribution, CloudWatch alarms, or ``*`` for the
actions AWS does not scope to a resource (``cloudwatch:GetMetricData``,
``cloudfront:GetMonitoringSubscription``). A permission may be needed only when an
argument is given or left out, or on a versioned bucket (:class:`Condition`).

Nothing here calls AWS or imports a fault or a probe: the registry is filled when their
modules are imported.
"""

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from chaos_runner._errors import ConfigurationError

__all__ = [
    "FACTS",
    "POLICY_VERSION",
    "Condition",
    "Declaration",
    "Grant",
    "Mutation",
    "Names",
    "Permission",
    "Propagation",
    "Resource",
    "actions_of",
    "alarm_arn",
    "bucket_arn",
    "declaration",
    "declare",
    "declared",
    "declares",
    "distribution_arn",
    "given",
    "hosted_zone_arn",
    "not_given",
    "objects_arn",
    "on",
    "policy",
    "restore_needs",
    "restored_kinds",
    "restores",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The version of the IAM policy language every policy here is written in.
POLICY_VERSION = "2012-10-17"
_SID = re.compile(r"^[A-Za-z0-9]+$")


#: What the plan reads of the target to decide a :class:`Condition` (in words: "on a ...").
FACTS = ("versioned bucket", "unversioned bucket", "bucket other than the origin bucket")


class Resource(StrEnum):
    """The kind of resource an action acts on; the plan names the target's one."""

    BUCKET = "bucket"  # arn:aws:s3:::BUCKET
    OBJECTS = "objects"  # arn:aws:s3:::BUCKET/*
    DISTRIBUTION = "distribution"  # arn:aws:cloudfront::ACCOUNT:distribution/ID
    ALARMS = "alarms"  # arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME
    HOSTED_ZONE = "hosted-zone"  # arn:aws:route53:::hostedzone/ID
    ANY = "any"  # "*": the action takes no resource-level permission
    SANDBOX = "sandbox"  # the sandbox's admin API on loopback: no AWS resource, no IAM


class Propagation(StrEnum):
    """How a change reaches readers, which says how long it takes to take effect."""

    CLOUDFRONT_CONFIG = "cloudfront-config"  # a distribution config deploys to every edge
    CLOUDFRONT_INVALIDATION = "cloudfront-invalidation"  # an invalidation completes
    S3_POLICY = "s3-policy"  # a bucket policy applies to the next request
    S3_OBJECTS = "s3-objects"  # objects change at once; readers see it on cache misses
    SANDBOX_EDGE = "sandbox-edge"  # the sandbox's edge: its next origin fetch or handshake


@dataclass(frozen=True, slots=True)
class Condition:
    """When a permission is needed: an argument given, or left out, or a fact of the target.

    ``fact`` is one of :data:`FACTS`, which the plan reads from the target; a fact the
    plan could not read holds, so that the policy errs on the side of the run succeeding
    (the plan says so).
    """

    argument: str = ""
    given: bool = True
    fact: str = ""

    def describe(self) -> str:
        """The condition in words (``when `verify_key` is left out``)."""
        if self.fact:
            return f"on a {self.fact}"
        return f"when `{self.argument}` is {'given' if self.given else 'left out'}"


def given(argument: str) -> Condition:
    """Needed when ``argument`` is given (a non-empty value, or true)."""
    return Condition(argument=argument, given=True)


def not_given(argument: str) -> Condition:
    """Needed when ``argument`` is left out (empty, or false)."""
    return Condition(argument=argument, given=False)


def on(fact: str) -> Condition:
    """Needed when the plan finds ``fact`` true of the target (:data:`FACTS`)."""
    if fact not in FACTS:
        raise ConfigurationError(f"{fact!r} is not a fact the plan reads ({', '.join(FACTS)}).")
    return Condition(fact=fact)


@dataclass(frozen=True, slots=True)
class Permission:
    """One IAM action on one kind of resource, why the activity calls it, and when (every
    condition of ``when`` holds; none: always)."""

    action: str
    resource: Resource
    why: str
    when: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class Mutation:
    """What a fault changes. The texts are templates: ``{name}`` is an argument of the
    activity (its default when the experiment leaves it out) or a fact of the target the
    plan fills in: ``{bucket}``, ``{distribution_id}``, ``{domains}`` (the distribution's
    domain and aliases), ``{objects}`` (the objects an object fault selects).
    """

    kind: str  # the ledger kind of its undo record (its restorer's)
    resource: Resource  # what is changed
    what: str  # the resource in words: "the bucket policy of {bucket}"
    change: str  # what changes
    blast_radius: str  # who or what is affected
    reversible: bool
    restore: str  # how it is put back, or why it cannot be
    takes_effect: Propagation


@dataclass(frozen=True, slots=True)
class Names:
    """Which argument of an activity names each resource (empty: the target's own)."""

    bucket: str = ""
    distribution: str = ""
    alarms: str = ""
    alarm_prefix: str = ""
    alarm_region: str = ""
    hosted_zone: str = ""


@dataclass(frozen=True, slots=True)
class Declaration:
    """An activity (``module.func``): what it needs, what it changes (faults), its purpose."""

    module: str
    func: str
    #: Names the statement of the policy that grants ``needs`` (letters and digits).
    sid: str
    needs: tuple[Permission, ...] = ()
    mutation: Mutation | None = None
    names: Names = Names()
    #: Only on the sandbox (it refuses any other target): it needs no AWS permission.
    sandbox_only: bool = False
    #: It restores faults from the ledger: it needs what their restorers need.
    restores_faults: bool = False

    @property
    def function(self) -> str:
        """``module.func``."""
        return f"{self.module}.{self.func}"


# Global state, in one labelled place: the declarations by (module, func), and the
# permissions each ledger kind's restorer needs; filled as the modules that declare them
# are imported (the fault modules, and the planning package's tables).
_DECLARATIONS: dict[tuple[str, str], Declaration] = {}
_RESTORES: dict[str, tuple[Permission, ...]] = {}


def declare(item: Declaration) -> None:
    """Register ``item``; a second, different declaration of the same activity is a bug."""
    if not _SID.fullmatch(item.sid):
        raise ConfigurationError(
            f"The declaration of {item.function} has the Sid {item.sid!r}; a Sid holds "
            "letters and digits only."
        )
    key = (item.module, item.func)
    known = _DECLARATIONS.get(key)
    if known is not None and known != item:
        raise ConfigurationError(f"{item.function} is declared twice, differently.")
    _DECLARATIONS[key] = item


def declares(
    sid: str,
    *needs: Permission,
    mutation: Mutation | None = None,
    names: Names = Names(),
    sandbox_only: bool = False,
    restores_faults: bool = False,
) -> Callable[[F], F]:
    """Declare the decorated activity (put it above ``@activity``); returns it unchanged."""

    def register(function: F) -> F:
        declare(
            Declaration(
                module=function.__module__,
                func=function.__name__,
                sid=sid,
                needs=needs,
                mutation=mutation,
                names=names,
                sandbox_only=sandbox_only,
                restores_faults=restores_faults,
            )
        )
        return function

    return register


def restores(kind: str, *needs: Permission) -> Callable[[F], F]:
    """Declare what the decorated restorer of ledger kind ``kind`` calls."""

    def register(function: F) -> F:
        known = _RESTORES.get(kind)
        if known is not None and known != needs:
            raise ConfigurationError(f"The restore of {kind!r} is declared twice, differently.")
        _RESTORES[kind] = needs
        return function

    return register


def declaration(module: str, func: str) -> Declaration | None:
    """The declaration of ``module.func``, or None (not ours, or not declared)."""
    return _DECLARATIONS.get((module, func))


def declared() -> list[Declaration]:
    """Every declaration registered so far, by module and function."""
    return [_DECLARATIONS[key] for key in sorted(_DECLARATIONS)]


def restore_needs(kind: str) -> tuple[Permission, ...] | None:
    """What a restore of ledger kind ``kind`` calls; None when its restorer declares none."""
    return _RESTORES.get(kind)


def restored_kinds() -> frozenset[str]:
    """The ledger kinds whose restorers declare what they call."""
    return frozenset(_RESTORES)


# -- resources ----------------------------------------------------------------------------


def bucket_arn(bucket: str) -> str:
    """``arn:aws:s3:::BUCKET`` (bucket names are global: no region, no account)."""
    return f"arn:aws:s3:::{bucket}"


def objects_arn(bucket: str) -> str:
    """Every object of ``bucket``."""
    return f"arn:aws:s3:::{bucket}/*"


def distribution_arn(account: str, distribution_id: str) -> str:
    """A CloudFront distribution (a global service: no region)."""
    return f"arn:aws:cloudfront::{account}:distribution/{distribution_id}"


def hosted_zone_arn(zone_id: str) -> str:
    """A Route 53 hosted zone (``*``: every one); a global service, no account."""
    return f"arn:aws:route53:::hostedzone/{zone_id}"


def alarm_arn(region: str, account: str, name: str) -> str:
    """A CloudWatch alarm; ``name`` may end in ``*`` (a prefix)."""
    return f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"


# -- the policy ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grant:
    """One permission of one run, resolved: an action on a resource, for a purpose."""

    sid: str
    action: str
    resource: str
    why: str


def policy(grants: Iterable[Grant]) -> dict[str, Any]:
    """The IAM policy granting exactly ``grants``: statements by purpose, in order.

    An action on a resource is granted once, in the statement of the first purpose that
    needs it. Within a purpose, the actions that share their resources form one statement;
    when a purpose needs several statements, each Sid gets the resource kind it covers.
    """
    by_sid: dict[str, dict[str, list[str]]] = {}  # sid -> action -> resources, in order
    seen: set[tuple[str, str]] = set()
    for grant in grants:
        if (grant.action, grant.resource) in seen:
            continue
        seen.add((grant.action, grant.resource))
        by_sid.setdefault(grant.sid, {}).setdefault(grant.action, []).append(grant.resource)
    statements: list[dict[str, Any]] = []
    for sid, actions in by_sid.items():
        groups: dict[tuple[str, ...], list[str]] = {}
        for action, on in actions.items():
            groups.setdefault(tuple(sorted(on)), []).append(action)
        for resources, members in groups.items():
            statements.append(
                {
                    "Sid": sid if len(groups) == 1 else f"{sid}On{_resource_word(resources)}",
                    "Effect": "Allow",
                    "Action": sorted(members),
                    "Resource": resources[0] if len(resources) == 1 else list(resources),
                }
            )
    return {"Version": POLICY_VERSION, "Statement": _unique_sids(statements)}


def _resource_word(resources: tuple[str, ...]) -> str:
    """What a statement's resources are, as a Sid suffix: Bucket, Objects, Distribution..."""
    first = resources[0]
    if first == "*":
        return "AnyResource"
    if first.startswith("arn:aws:s3:::"):
        return "Objects" if "/" in first else "Bucket"
    if ":distribution/" in first:
        return "Distribution"
    if ":alarm:" in first:
        return "Alarms"
    if ":hostedzone/" in first:
        return "HostedZones"
    return "Resources"


def _unique_sids(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Number a Sid that a purpose used twice (two statements on the same kind)."""
    counts: dict[str, int] = {}
    for statement in statements:
        sid = statement["Sid"]
        counts[sid] = counts.get(sid, 0) + 1
        if counts[sid] > 1:
            statement["Sid"] = f"{sid}{counts[sid]}"
    return statements


def actions_of(document: Mapping[str, Any]) -> list[str]:
    """Every action a policy document grants, sorted (for tests and the plan's summary)."""
    found: set[str] = set()
    for statement in document.get("Statement", []):
        actions = statement.get("Action", [])
        found.update([actions] if isinstance(actions, str) else actions)
    return sorted(found)
