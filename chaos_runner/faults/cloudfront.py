"""Faults of the CloudFront distribution.

Config faults (each restores the exact prior DistributionConfig, sent with the ETag as
IfMatch, as AWS requires; the sandbox ignores IfMatch but receives it all the same):
- ``disable_distribution``: ``Enabled=false``; the distribution stops serving.
- ``blackhole_origin``: the origin's domain pointed at an unresolvable name (``.invalid``).
- ``fail_over_origin``: the same for the primary origin of an origin group: CloudFront cannot
  connect to it and fails over to the secondary on every cache miss of the group.
- ``raise_error_caching_ttl``: errors cached for long, so an outage lingers after the fix.
- ``lower_cache_ttls``: cache TTLs lowered, so every request goes to the origin.

Cache faults, which cannot be undone (the experiment must acknowledge it):
- ``purge_cache``: an invalidation (``/*`` or given paths), waited for.
- ``invalidation_storm``: invalidations until CloudFront's in-progress limit answers.

Each config fault is verified by reading the config back and, with ``wait_deployed``, by
waiting until the distribution is ``Deployed`` (the change is at the edges).
"""

import copy
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from chaos_runner._errors import (
    AwsCallError,
    ConfigurationError,
    FaultNotVerified,
    RestoreConflict,
)
from chaos_runner.activity import activity, target_ref
from chaos_runner.arguments import flag, seconds, whole
from chaos_runner.aws import aws_errors, cloudfront_client, error_code
from chaos_runner.crashpoint import crashpoint
from chaos_runner.iam import (
    Mutation,
    Permission,
    Propagation,
    Resource,
    declares,
    given,
    restores,
)
from chaos_runner.ledger import EntryState, Ledger, LedgerEntry, RestoreOutcome, restorer
from chaos_runner.target import Target
from chaos_runner.waiter import Wait, WaitResult

__all__ = [
    "BLACKHOLE_DOMAIN",
    "CRASHPOINTS",
    "RESTORE_DEPLOY_TIMEOUT",
    "blackhole_origin",
    "disable_distribution",
    "fail_over_origin",
    "invalidation_storm",
    "lower_cache_ttls",
    "purge_cache",
    "raise_error_caching_ttl",
    "record_irreversible",
    "restore_distribution_config",
]

#: A name that never resolves (RFC 2606), so CloudFront cannot reach the origin: 502.
BLACKHOLE_DOMAIN = "chaos-blackhole.invalid"

#: A host name under the reserved ``.invalid`` TLD (RFC 2606, RFC 6761): it never resolves.
_INVALID_NAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+invalid", re.IGNORECASE)

#: CloudFront's largest TTL: one year.
_MAX_TTL = 31536000

#: Where a test may kill the runner (see chaos_runner.crashpoint).
CRASHPOINTS = ("{fault}:after-ledger-open", "{fault}:after-inject")

_COMPLETED = {"Completed", "COMPLETED"}  # moto says COMPLETED; CloudFront says Completed

#: Seconds between two reads of a status while waiting (Deployed, Completed).
_POLL = 0.25

#: How long a restore waits for Deployed when its ledger entry predates ``deploy_timeout``.
RESTORE_DEPLOY_TIMEOUT = 1200.0


# --- config faults ------------------------------------------------------------------------

#: What every config fault calls: the config read, written, read back, and waited for.
_CONFIG_NEEDS = (
    Permission(
        "cloudfront:GetDistributionConfig",
        Resource.DISTRIBUTION,
        "read the config it changes, then read it back",
    ),
    Permission("cloudfront:UpdateDistribution", Resource.DISTRIBUTION, "write the changed config"),
    Permission(
        "cloudfront:GetDistribution",
        Resource.DISTRIBUTION,
        "wait until the change is Deployed",
        (given("wait_deployed"),),
    ),
)
_CONFIG_RESTORE = (
    "the prior config is written back (with its ETag) and waited for until Deployed; a "
    "config someone else changed since is left alone and reported"
)


def _config_change(change: str, blast_radius: str) -> Mutation:
    """A change of the distribution's config, restored by the distribution_config restorer."""
    return Mutation(
        kind="distribution_config",
        resource=Resource.DISTRIBUTION,
        what="the config of distribution {distribution_id}",
        change=change,
        blast_radius=blast_radius,
        reversible=True,
        restore=_CONFIG_RESTORE,
        takes_effect=Propagation.CLOUDFRONT_CONFIG,
    )


def canonical(config: Any) -> Any:
    """A DistributionConfig with the spelling differences AWS allows folded away.

    ``{"Quantity": 0}`` and ``{"Quantity": 0, "Items": []}`` mean the same, and so do an
    absent key and ``None``.
    """
    if isinstance(config, dict):
        folded = {k: canonical(v) for k, v in config.items() if v is not None}
        if folded.get("Quantity") == 0 and folded.get("Items") == []:
            del folded["Items"]
        return folded
    if isinstance(config, list):
        return [canonical(item) for item in config]
    return config


def _same(left: Any, right: Any) -> bool:
    return bool(
        json.dumps(canonical(left), sort_keys=True, default=str)
        == json.dumps(canonical(right), sort_keys=True, default=str)
    )


def _read_config(cloudfront: Any, distribution_id: str) -> tuple[dict[str, Any], str]:
    with aws_errors("GetDistributionConfig", f"read the config of distribution {distribution_id}"):
        answer = cloudfront.get_distribution_config(Id=distribution_id)
    return dict(answer["DistributionConfig"]), str(answer["ETag"])


def _write_config(cloudfront: Any, distribution_id: str, config: dict[str, Any], etag: str) -> None:
    with aws_errors("UpdateDistribution", f"update distribution {distribution_id}"):
        cloudfront.update_distribution(Id=distribution_id, IfMatch=etag, DistributionConfig=config)


def _status(cloudfront: Any, distribution_id: str) -> str:
    with aws_errors("GetDistribution", f"read the status of distribution {distribution_id}"):
        return str(cloudfront.get_distribution(Id=distribution_id)["Distribution"]["Status"])


def _ttl(name: str, value: object) -> int:
    """``value`` as a TTL: whole seconds from 0 to one year (``"300"`` is accepted)."""
    try:
        return whole(name, value, 0, _MAX_TTL)
    except ConfigurationError:
        raise ConfigurationError(
            f"`{name}` must be a whole number of seconds from 0 to {_MAX_TTL} (one year); "
            f"got {value!r}."
        ) from None


def _blackhole_domain(domain: object) -> str:
    """``domain`` if it is a name under ``.invalid``, which cannot resolve; else refused."""
    if isinstance(domain, str) and len(domain) <= 253 and _INVALID_NAME.fullmatch(domain):
        return domain
    raise ConfigurationError(
        "`domain` must be a host name under the reserved .invalid top-level domain (RFC 2606, "
        f"RFC 6761), such as {BLACKHOLE_DOMAIN}, which never resolves; got {domain!r}. A name "
        "that resolves could serve someone else's content to your visitors: leave `domain` "
        "out, or pick another name ending in .invalid."
    )


def _change_config(
    fault: str,
    description: str,
    transform: Callable[[dict[str, Any]], None],
    wait_deployed: bool | str,
    deploy_timeout: float | str,
    configuration: dict[str, Any] | None,
) -> dict[str, Any]:
    """Record, apply and verify one change of the DistributionConfig."""
    wait = flag("wait_deployed", wait_deployed)
    bound = seconds("deploy_timeout", deploy_timeout, 3600)
    target = Target.resolve(configuration)
    target.require("CHAOS_DISTRIBUTION_ID")
    distribution_id = target.distribution_id
    cloudfront = cloudfront_client(target.region, target.endpoint_url)
    prior, etag = _read_config(cloudfront, distribution_id)
    injected = copy.deepcopy(prior)
    transform(injected)
    if _same(prior, injected):
        raise ConfigurationError(
            f"Distribution {distribution_id} is already in the state this fault sets "
            f"({description}); there is nothing to inject."
        )
    ledger = Ledger()
    entry = ledger.open(
        "distribution_config",
        target_ref(target),
        {
            "distribution_id": distribution_id,
            "prior": prior,
            "injected": injected,
            "deploy_timeout": bound,  # the restore waits as long for Deployed
        },
        f"{description} (distribution {distribution_id})",
    )
    crashpoint(f"{fault}:after-ledger-open")
    _write_config(cloudfront, distribution_id, injected, etag)
    crashpoint(f"{fault}:after-inject")
    began = time.monotonic()
    read_back, _ = _read_config(cloudfront, distribution_id)
    problem = "" if _same(read_back, injected) else "the config read back differs from the change"
    if not problem and wait:
        waited = Wait(delay=_POLL, timeout=bound).until(
            lambda: _status(cloudfront, distribution_id), lambda status: status == "Deployed"
        )
        if not waited.reached:
            problem = f"the distribution was still {waited.last} after {bound:.0f} s"
    if problem:
        outcome = restore_distribution_config(entry)
        ledger.mark(entry.id, outcome.state, outcome.detail)
        raise FaultNotVerified(
            f"The change of distribution {distribution_id} ({description}) did not take "
            f"effect: {problem}. The prior config was restored; the experiment is inconclusive."
        )
    return {
        "fault": fault,
        "ledger_entry": entry.id,
        "distribution_id": distribution_id,
        "deployed_in_seconds": round(time.monotonic() - began, 3) if wait else None,
    }


@restorer("distribution_config")
@restores(
    "distribution_config",
    Permission(
        "cloudfront:GetDistributionConfig",
        Resource.DISTRIBUTION,
        "read the config, to undo only the fault's change",
    ),
    Permission("cloudfront:UpdateDistribution", Resource.DISTRIBUTION, "write the prior config"),
    Permission("cloudfront:GetDistribution", Resource.DISTRIBUTION, "wait until it is Deployed"),
)
def restore_distribution_config(entry: LedgerEntry) -> RestoreOutcome:
    """Put the prior DistributionConfig back (with IfMatch), then wait until it is Deployed.

    Guarded: a config that is neither the fault's nor the prior one was changed by someone
    else since, and is left alone (RestoreConflict). Idempotent: a config already equal to
    the prior one is not written again, but a distribution still ``InProgress`` (a restore
    cut short while it waited) is waited for all the same. The wait is bounded by the
    fault's ``deploy_timeout`` (entries written before it was recorded: 1200 s); past it the
    restore is not complete (AwsCallError, see :func:`_wait_restored`), although the prior
    config is written.
    """
    distribution_id = str(entry.undo["distribution_id"])
    bound = seconds(
        "deploy_timeout", entry.undo.get("deploy_timeout") or RESTORE_DEPLOY_TIMEOUT, 3600
    )
    cloudfront = cloudfront_client(entry.target["region"], entry.target["endpoint_url"])
    current, etag = _read_config(cloudfront, distribution_id)
    prior = entry.undo["prior"]
    if _same(current, prior):
        waited = _wait_restored(cloudfront, distribution_id, bound, "already as before")
        detail = f"distribution {distribution_id} config already as before"
        if waited.attempts > 1:
            detail += f", deployed in {waited.seconds:.1f} s"
        return RestoreOutcome(EntryState.RESTORED, detail)
    if not _same(current, entry.undo["injected"]):
        raise RestoreConflict(
            f"The config of distribution {distribution_id} was changed since the fault (it is "
            "neither the fault's config nor the one before), so it was left as it is. Compare "
            f"it with the prior config in the ledger entry {entry.id} and fix it by hand."
        )
    _write_config(cloudfront, distribution_id, prior, etag)
    after, _ = _read_config(cloudfront, distribution_id)
    if not _same(after, prior):
        raise AwsCallError(
            f"The prior config of distribution {distribution_id} was written back, but "
            "reading it again gave a different config.",
            operation="GetDistributionConfig",
        )
    waited = _wait_restored(cloudfront, distribution_id, bound, "written back")
    return RestoreOutcome(
        EntryState.RESTORED,
        f"distribution {distribution_id}: prior config back, deployed in {waited.seconds:.1f} s",
    )


def _wait_restored(
    cloudfront: Any, distribution_id: str, bound: float, config_is: str
) -> WaitResult[str]:
    """Wait until the restored config is Deployed (at the edges), at most ``bound`` seconds.

    Past the bound this raises AwsCallError rather than FaultNotVerified: FaultNotVerified
    means "the fault did not take effect, the experiment is inconclusive", whereas here the
    restore is not complete (the site may still be degraded); AwsCallError names the call
    whose answer was not the one needed (GetDistribution kept answering InProgress).
    """
    waited = Wait(delay=_POLL, timeout=bound).until(
        lambda: _status(cloudfront, distribution_id), lambda status: status == "Deployed"
    )
    if not waited.reached:
        raise AwsCallError(
            f"The prior config of distribution {distribution_id} is {config_is}, but the "
            f"distribution was still {waited.last} after {bound:g} s (the deploy_timeout of "
            "the fault), so the edges may still serve the fault's config: the restore is not "
            "complete. Run `chaos rollback` again later; it finds the prior config in place "
            "and waits for Deployed again.",
            operation="GetDistribution",
        )
    return waited


def _behaviors(config: dict[str, Any]) -> list[dict[str, Any]]:
    behaviors = [config["DefaultCacheBehavior"]]
    behaviors += config.get("CacheBehaviors", {}).get("Items", []) or []
    return behaviors


@declares(
    "DisableDistribution",
    *_CONFIG_NEEDS,
    mutation=_config_change(
        "Enabled set to false: CloudFront stops serving the distribution",
        "the whole site: every viewer of {domains}, at every edge location, cached pages included",
    ),
)
@activity
def disable_distribution(
    wait_deployed: bool = True,
    deploy_timeout: float = 1200.0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Disable the distribution (``Enabled=false``): CloudFront stops serving the site."""

    def disable(config: dict[str, Any]) -> None:
        config["Enabled"] = False

    return _change_config(
        "disable_distribution", "distribution disabled", disable, wait_deployed,
        deploy_timeout, configuration,
    )  # fmt: skip


@declares(
    "BlackholeOrigin",
    *_CONFIG_NEEDS,
    mutation=_config_change(
        "the domain of an origin (`origin_id`, default: the default behaviour's) set to {domain}, "
        "which never resolves",
        "every request to {domains} that misses the edge caches and goes to that origin answers "
        "502; pages already cached are served until they expire",
    ),
)
@activity
def blackhole_origin(
    origin_id: str = "",
    domain: str = BLACKHOLE_DOMAIN,
    wait_deployed: bool = True,
    deploy_timeout: float = 1200.0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Point a custom origin at an unreachable domain (default: the default behaviour's).

    CloudFront cannot resolve it and answers 502 on every cache miss; cached pages are
    still served. ``domain`` must be a name under ``.invalid`` (which never resolves). S3
    REST origins (S3OriginConfig) are refused: AWS accepts only S3 domains there.
    """
    domain = _blackhole_domain(domain)

    def point_away(config: dict[str, Any]) -> None:
        wanted = origin_id or config["DefaultCacheBehavior"]["TargetOriginId"]
        for origin in config["Origins"]["Items"]:
            if origin["Id"] == wanted:
                if "CustomOriginConfig" not in origin:
                    raise ConfigurationError(
                        f"Origin {wanted} is an S3 REST origin; AWS only accepts S3 domains "
                        "there. Use deny_origin_reads for an outage of that origin."
                    )
                origin["DomainName"] = domain
                return
        known = ", ".join(o["Id"] for o in config["Origins"]["Items"])
        raise ConfigurationError(
            f"The distribution has no origin {wanted!r} (a group id is not an origin); its "
            f"origins are: {known}."
        )

    return _change_config(
        "blackhole_origin", f"origin pointed at {domain}", point_away, wait_deployed,
        deploy_timeout, configuration,
    )  # fmt: skip


@declares(
    "FailOverOrigin",
    *_CONFIG_NEEDS,
    mutation=_config_change(
        "the primary origin of an origin group (`group_id`, default: the first) set to {domain}, "
        "which never resolves",
        "requests to {domains} that miss the edge caches on the group's behaviours are served by "
        "its secondary origin (or fail if it cannot serve them)",
    ),
)
@activity
def fail_over_origin(
    group_id: str = "",
    domain: str = BLACKHOLE_DOMAIN,
    wait_deployed: bool = True,
    deploy_timeout: float = 1200.0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Take the primary origin of an origin group down, so CloudFront fails over.

    The primary is pointed at an unresolvable domain: CloudFront gets no connection, which
    fails over whatever status codes the group lists, so cache misses on the group's
    behaviors are served by the secondary. ``group_id`` defaults to the first group;
    ``domain`` must be a name under ``.invalid``.
    """
    domain = _blackhole_domain(domain)
    chosen: dict[str, str] = {}

    def take_primary_down(config: dict[str, Any]) -> None:
        groups = config.get("OriginGroups", {}).get("Items") or []
        group = next((g for g in groups if not group_id or g["Id"] == group_id), None)
        if group is None:
            names = ", ".join(g["Id"] for g in groups) or "none"
            raise ConfigurationError(
                f"The distribution has no origin group {group_id!r} (its groups: {names}); "
                "origin failover needs one."
            )
        primary_id = group["Members"]["Items"][0]["OriginId"]
        primary = next(o for o in config["Origins"]["Items"] if o["Id"] == primary_id)
        if "CustomOriginConfig" not in primary:
            raise ConfigurationError(
                f"The primary origin {primary_id} is an S3 REST origin; AWS only accepts S3 "
                "domains there. Fail it over with deny_origin_reads if the group fails over "
                "on 403."
            )
        chosen.update(group=group["Id"], primary=primary_id, was=primary["DomainName"])
        primary["DomainName"] = domain

    result = _change_config(
        "fail_over_origin", "primary origin of the origin group unreachable", take_primary_down,
        wait_deployed, deploy_timeout, configuration,
    )  # fmt: skip
    return {**result, "group": chosen["group"], "primary_origin": chosen["primary"]}


def _codes(error_codes: str | list[int] | list[str]) -> list[int]:
    items = error_codes.split(",") if isinstance(error_codes, str) else list(error_codes)
    try:
        codes = sorted({int(str(item).strip()) for item in items if str(item).strip()})
    except ValueError as error:
        raise ConfigurationError(
            f"error_codes must be HTTP status codes; got {error_codes!r}."
        ) from error
    if not codes or any(not 400 <= code <= 599 for code in codes):
        raise ConfigurationError(f"error_codes must be 4xx/5xx status codes; got {error_codes!r}.")
    return codes


@declares(
    "RaiseErrorCachingTtl",
    *_CONFIG_NEEDS,
    mutation=_config_change(
        "error responses {error_codes} cached for {ttl} s (ErrorCachingMinTTL)",
        "every viewer of {domains} who gets an error the edge cached keeps getting it for up to "
        "{ttl} s, also after its cause is fixed",
    ),
)
@activity
def raise_error_caching_ttl(
    ttl: int = 300,
    error_codes: str | list[int] = "404,500,502,503,504",
    wait_deployed: bool = True,
    deploy_timeout: float = 1200.0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Cache error responses for ``ttl`` seconds, so an outage lingers after its fix.

    Existing custom error responses for ``error_codes`` get the new ErrorCachingMinTTL;
    missing ones are added with a TTL only (no custom page).
    """
    ttl = _ttl("ttl", ttl)
    codes = _codes(error_codes)

    def raise_ttl(config: dict[str, Any]) -> None:
        responses = config.setdefault("CustomErrorResponses", {"Quantity": 0})
        items = list(responses.get("Items") or [])
        present = {int(item["ErrorCode"]) for item in items}
        for item in items:
            if int(item["ErrorCode"]) in codes:
                item["ErrorCachingMinTTL"] = ttl
        items += [
            {"ErrorCode": code, "ErrorCachingMinTTL": ttl} for code in codes if code not in present
        ]
        config["CustomErrorResponses"] = {"Quantity": len(items), "Items": items}

    return _change_config(
        "raise_error_caching_ttl", f"errors {codes} cached for {ttl} s", raise_ttl,
        wait_deployed, deploy_timeout, configuration,
    )  # fmt: skip


@declares(
    "LowerCacheTtls",
    *_CONFIG_NEEDS,
    mutation=_config_change(
        "the TTLs of every behaviour with legacy cache settings lowered to "
        "{min_ttl}/{default_ttl}/{max_ttl} s (behaviours with a cache policy keep theirs)",
        "every request to {domains} on those behaviours goes to the origin: its load follows the "
        "site's traffic",
    ),
)
@activity
def lower_cache_ttls(
    min_ttl: int = 0,
    default_ttl: int = 0,
    max_ttl: int = 0,
    wait_deployed: bool = True,
    deploy_timeout: float = 1200.0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Lower the TTLs of every behaviour with legacy cache settings: a cache-miss storm.

    Behaviours that use a cache policy (CachePolicyId) keep their TTLs (they live in the
    policy, not in the distribution); the result lists them.
    """
    min_ttl = _ttl("min_ttl", min_ttl)
    default_ttl = _ttl("default_ttl", default_ttl)
    max_ttl = _ttl("max_ttl", max_ttl)
    if not min_ttl <= default_ttl <= max_ttl:
        raise ConfigurationError(
            f"TTLs must satisfy 0 <= min_ttl <= default_ttl <= max_ttl <= {_MAX_TTL}; got "
            f"{min_ttl}, {default_ttl}, {max_ttl}. Order them, or leave them out (all 0)."
        )
    skipped: list[str] = []

    def lower(config: dict[str, Any]) -> None:
        for behavior in _behaviors(config):
            if behavior.get("CachePolicyId"):
                skipped.append(behavior.get("PathPattern", "default"))
                continue
            behavior.update(MinTTL=min_ttl, DefaultTTL=default_ttl, MaxTTL=max_ttl)

    result = _change_config(
        "lower_cache_ttls", f"cache TTLs lowered to {min_ttl}/{default_ttl}/{max_ttl} s",
        lower, wait_deployed, deploy_timeout, configuration,
    )  # fmt: skip
    return {**result, "behaviors_with_cache_policy_left_alone": skipped}


# --- cache faults (irreversible) ----------------------------------------------------------


@restorer("invalidation")
@restores("invalidation")
def record_irreversible(entry: LedgerEntry) -> RestoreOutcome:
    """The restorer of a cache purge: there is nothing to put back."""
    return RestoreOutcome(EntryState.IRREVERSIBLE, "a cache purge cannot be undone")


def _acknowledged(acknowledge_irreversible: bool | str, fault: str) -> None:
    if not flag("acknowledge_irreversible", acknowledge_irreversible):
        raise ConfigurationError(
            f"{fault} cannot be undone: purged objects are fetched from the origin again, and "
            "invalidations cost money past the free tier. Acknowledge it in the experiment "
            "with the argument `acknowledge_irreversible: true`."
        )


def _paths(paths: str | list[str]) -> list[str]:
    items = paths.split(",") if isinstance(paths, str) else list(paths)
    cleaned = [item.strip() for item in items if item and item.strip()]
    bad = [p for p in cleaned if not p.startswith("/") or "*" in p[:-1]]
    if not cleaned or bad:
        raise ConfigurationError(
            "Invalidation paths start with '/' and may end with one '*' (e.g. /* or "
            f"/posts/*); got {paths!r}."
        )
    return cleaned


def _invalidate(cloudfront: Any, distribution_id: str, paths: list[str]) -> str:
    with aws_errors("CreateInvalidation", f"invalidate {paths} on {distribution_id}"):
        answer = cloudfront.create_invalidation(
            DistributionId=distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": len(paths), "Items": paths},
                "CallerReference": f"chaostoolkit-cdn-{uuid.uuid4()}",
            },
        )
    return str(answer["Invalidation"]["Id"])


@declares(
    "PurgeCache",
    Permission("cloudfront:CreateInvalidation", Resource.DISTRIBUTION, "create the invalidation"),
    Permission("cloudfront:GetInvalidation", Resource.DISTRIBUTION, "wait until it completes"),
    mutation=Mutation(
        kind="invalidation",
        resource=Resource.DISTRIBUTION,
        what="the edge caches of distribution {distribution_id}",
        change="an invalidation of {paths}",
        blast_radius="the invalidated objects are evicted at every edge location: the next "
        "request for each, from any viewer of {domains}, goes to the origin (a burst of origin "
        "load); invalidations past the free tier cost money",
        reversible=False,
        restore="an invalidation cannot be undone (the experiment acknowledges it with "
        "acknowledge_irreversible); the ledger records it as irreversible",
        takes_effect=Propagation.CLOUDFRONT_INVALIDATION,
    ),
)
@activity
def purge_cache(
    paths: str | list[str] = "/*",
    acknowledge_irreversible: bool = False,
    timeout: float = 900.0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Invalidate ``paths`` (default everything) and wait until the invalidation completes.

    Irreversible: refused unless ``acknowledge_irreversible`` is true; recorded in the
    ledger as irreversible.
    """
    _acknowledged(acknowledge_irreversible, "purge_cache")
    items = _paths(paths)
    timeout = seconds("timeout", timeout, 3600)
    target = Target.resolve(configuration)
    target.require("CHAOS_DISTRIBUTION_ID")
    cloudfront = cloudfront_client(target.region, target.endpoint_url)
    ledger = Ledger()
    entry = ledger.open(
        "invalidation",
        target_ref(target),
        {"distribution_id": target.distribution_id, "paths": items},
        f"cache purge of {', '.join(items)} (distribution {target.distribution_id})",
    )
    invalidation_id = _invalidate(cloudfront, target.distribution_id, items)
    ledger.mark(entry.id, EntryState.IRREVERSIBLE, f"invalidation {invalidation_id}")

    def status() -> str:
        with aws_errors("GetInvalidation", f"read invalidation {invalidation_id}"):
            answer = cloudfront.get_invalidation(
                DistributionId=target.distribution_id, Id=invalidation_id
            )
        return str(answer["Invalidation"]["Status"])

    waited = Wait(delay=_POLL, timeout=timeout).until(status, lambda s: s in _COMPLETED)
    if not waited.reached:
        raise FaultNotVerified(
            f"Invalidation {invalidation_id} was still {waited.last} after {timeout:.0f} s."
        )
    return {
        "fault": "purge_cache",
        "ledger_entry": entry.id,
        "invalidation_id": invalidation_id,
        "paths": items,
        "completed_in_seconds": round(waited.seconds, 3),
    }


@declares(
    "InvalidationStorm",
    Permission("cloudfront:CreateInvalidation", Resource.DISTRIBUTION, "create the invalidations"),
    mutation=Mutation(
        kind="invalidation",
        resource=Resource.DISTRIBUTION,
        what="the invalidations in progress of distribution {distribution_id}",
        change="up to {max_invalidations} wildcard invalidations of paths no page has "
        "(/chaos-storm-ID-N/*), until CloudFront refuses more",
        blast_radius="no page is evicted; until they complete, every other invalidation of "
        "the distribution (a deploy's) is refused with TooManyInvalidationsInProgress",
        reversible=False,
        restore="the invalidations complete by themselves; the ledger records them as irreversible",
        takes_effect=Propagation.CLOUDFRONT_INVALIDATION,
    ),
)
@activity
def invalidation_storm(
    max_invalidations: int = 20,
    acknowledge_irreversible: bool = False,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Create wildcard invalidations until CloudFront answers TooManyInvalidationsInProgress.

    Each invalidation is ``/chaos-storm-<run>-<n>/*``: it matches no page of the site, yet
    counts against the 15 wildcard paths CloudFront allows in progress, so a deploy's own
    invalidation is refused meanwhile. Stops at ``max_invalidations`` (at most 100).
    """
    _acknowledged(acknowledge_irreversible, "invalidation_storm")
    max_invalidations = whole("max_invalidations", max_invalidations, 1, 100)
    from botocore.exceptions import ClientError

    target = Target.resolve(configuration)
    target.require("CHAOS_DISTRIBUTION_ID")
    cloudfront = cloudfront_client(target.region, target.endpoint_url)
    ledger = Ledger()
    storm = uuid.uuid4().hex[:8]
    entry = ledger.open(
        "invalidation",
        target_ref(target),
        {"distribution_id": target.distribution_id, "storm": storm},
        f"invalidation storm {storm} (distribution {target.distribution_id})",
    )
    accepted: list[str] = []
    refused_by_limit = False
    try:
        for n in range(max_invalidations):
            try:
                accepted.append(
                    cloudfront.create_invalidation(
                        DistributionId=target.distribution_id,
                        InvalidationBatch={
                            "Paths": {"Quantity": 1, "Items": [f"/chaos-storm-{storm}-{n}/*"]},
                            "CallerReference": f"chaostoolkit-cdn-storm-{storm}-{n}",
                        },
                    )["Invalidation"]["Id"]
                )
            except ClientError as error:
                if error_code(error) == "TooManyInvalidationsInProgress":
                    refused_by_limit = True
                    break
                raise AwsCallError(
                    f"CreateInvalidation failed after {len(accepted)} accepted: {error}.",
                    operation="CreateInvalidation",
                    code=error_code(error),
                ) from error
    finally:
        ledger.mark(entry.id, EntryState.IRREVERSIBLE, f"{len(accepted)} invalidation(s) created")
    return {
        "fault": "invalidation_storm",
        "ledger_entry": entry.id,
        "accepted": len(accepted),
        "limit_reached": refused_by_limit,
        "invalidation_ids": accepted,
    }
