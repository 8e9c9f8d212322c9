"""Edges of the faults' configuration, each on a real sandbox.

- A configuration restore waits until the distribution is Deployed, on a sandbox of its own
  started with a propagation delay (``chaos sandbox up --propagation-delay``), so the site
  serves the prior config as soon as the restore returns.
- A blackhole points only at a name under ``.invalid``; ``deny_origin_reads`` acts only on
  the target's buckets; numeric and boolean arguments arrive as strings from ``${...}``;
  origin link faults need a target that is entirely the sandbox.

Every test on the session's sandbox leaves it as found: whatever a test injected is restored
by the ``kept`` fixture, which then compares the whole target with what the module found.
"""

import json
import os
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed

from chaos_runner.activity import target_ref
from chaos_runner.digest import target_state
from chaos_runner.faults import cloudfront, origin_link, s3
from chaos_runner.faults.ledger import restore_injected_faults
from chaos_runner.faults.s3 import deny_origin_reads
from chaos_runner.ledger import EntryState, Ledger, restore_entries
from chaos_runner.sandbox.state import SandboxInfo
from chaos_runner.sandbox.testing import InProcessSandbox
from chaos_runner.target import Target
from chaos_runner.waiter import Wait
from tests.commands import chaos
from tests.sandbox.edge_client import aws, edge_get

#: The delayed sandbox's propagation delay: long enough to see, short enough to wait for.
DELAY = 1.5
#: `chaos sandbox up` on free ports: other sandboxes may hold the default ones.
UP = ["sandbox", "up", "--detach", "--aws-port", "0", "--edge-port", "0", "--admin-port", "0"]


def link_faults(sandbox: SandboxInfo) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{sandbox.admin_url}/origin-link/faults", timeout=5) as answer:
        faults: list[dict[str, Any]] = json.loads(answer.read())["faults"]
    return faults


def restore_what_is_open() -> None:
    ledger = Ledger()
    restore_entries(ledger, ledger.unrestored())


@pytest.fixture(scope="module")
def found(sandbox_stack: InProcessSandbox) -> dict[str, Any]:
    """The whole target of the session's sandbox as this module found it."""
    return target_state(Target.resolve(environ=sandbox_stack.info.environment()))


@pytest.fixture
def kept(sandbox_env: SandboxInfo, found: dict[str, Any]) -> Iterator[SandboxInfo]:
    """The session's sandbox, left as found: what a test injected is restored, then the
    whole target compared with what the module found (a test that injected nothing changed
    nothing: no fault mutates before its ledger entry)."""
    target = Target.resolve()  # the teardown runs before a test's own setenv is undone
    yield sandbox_env
    if Ledger().entries():
        restore_what_is_open()
        assert Ledger().unrestored() == []
        assert target_state(target) == found
    assert link_faults(sandbox_env) == []


# --- 1. a configuration restore waits until the distribution is deployed ------------------


@pytest.fixture(scope="module")
def delayed_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    """A sandbox process of this module's own, whose CloudFront changes take DELAY seconds."""
    home = tmp_path_factory.mktemp("delayed-sandbox")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "AWS_"))}
    env["CHAOS_STATE_DIR"] = str(home)
    up = chaos([*UP, "--propagation-delay", f"{DELAY}s"], home, env, timeout=90)
    assert up.returncode == 0, up.stderr
    try:
        yield SandboxInfo.read(home / "sandbox.json")
    finally:
        down = chaos(["sandbox", "down"], home, env, timeout=60)
        assert down.returncode == 0, down.stderr


@pytest.fixture
def delayed(
    delayed_sandbox: SandboxInfo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[SandboxInfo]:
    """The environment pointed at the delayed sandbox; open faults restored afterwards."""
    for name, value in delayed_sandbox.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CHAOS_STATE_DIR", str(tmp_path / ".chaos"))
    monkeypatch.delenv("CHAOS_LEDGER", raising=False)
    monkeypatch.delenv("CHAOS_RUN_ID", raising=False)
    target = Target.resolve()
    before = target_state(target)
    yield delayed_sandbox
    restore_what_is_open()
    deployed(delayed_sandbox)
    assert target_state(target) == before


def deployed(sandbox: SandboxInfo) -> None:
    """Wait (bounded) until the distribution is Deployed: no change lands in a later test."""
    client = aws(sandbox, "cloudfront")
    waited = Wait(delay=0.1, timeout=DELAY + 5).until(
        lambda: client.get_distribution(Id=sandbox.distribution_id)["Distribution"]["Status"],
        lambda status: status == "Deployed",
    )
    assert waited.reached, waited.last


def test_the_site_serves_again_as_soon_as_the_config_restore_returns(
    delayed: SandboxInfo,
) -> None:
    cloudfront.disable_distribution(deploy_timeout=30)
    assert edge_get(delayed, "/")[0] == 403

    restored = restore_injected_faults(scope="target")

    assert edge_get(delayed, "/")[0] == 200
    [outcome] = restored["restored"]
    assert outcome["state"] == "restored"
    assert "prior config back, deployed in" in outcome["detail"]
    assert outcome["seconds"] >= DELAY * 0.9
    [entry] = Ledger().entries()
    assert entry.undo["deploy_timeout"] == 30


def test_a_restore_past_its_bound_is_incomplete_with_the_prior_config_written(
    delayed: SandboxInfo,
) -> None:
    cloudfront.disable_distribution(wait_deployed=False, deploy_timeout=0.3)
    ledger = Ledger()
    [entry] = ledger.unrestored()

    [first] = restore_entries(ledger, ledger.unrestored())

    assert first.state == EntryState.OPEN  # not complete: `chaos rollback` would retry it
    assert "still InProgress after" in first.detail
    config = aws(delayed, "cloudfront").get_distribution_config(Id=delayed.distribution_id)
    assert cloudfront.canonical(config["DistributionConfig"]) == cloudfront.canonical(
        entry.undo["prior"]
    )
    deployed(delayed)
    [second] = restore_entries(ledger, ledger.unrestored())  # idempotent: nothing to write
    assert second.state == EntryState.RESTORED
    assert second.detail.endswith("config already as before")


def test_a_restore_cut_short_while_waiting_waits_for_deployed_when_run_again(
    delayed: SandboxInfo,
) -> None:
    cloudfront.disable_distribution(wait_deployed=False, deploy_timeout=30)
    [entry] = Ledger().unrestored()
    client = aws(delayed, "cloudfront")
    etag = client.get_distribution_config(Id=delayed.distribution_id)["ETag"]
    client.update_distribution(  # what the cut-short restore had written
        Id=delayed.distribution_id, IfMatch=etag, DistributionConfig=entry.undo["prior"]
    )

    [report] = restore_entries(Ledger(), [entry])

    assert report.state == EntryState.RESTORED
    assert "config already as before, deployed in" in report.detail
    assert edge_get(delayed, "/")[0] == 200


def test_a_ledger_entry_without_a_bound_still_waits_for_deployed(delayed: SandboxInfo) -> None:
    client = aws(delayed, "cloudfront")
    answer = client.get_distribution_config(Id=delayed.distribution_id)
    prior = answer["DistributionConfig"]
    injected = {**prior, "Enabled": False}
    entry = Ledger().open(  # as written before the ledger recorded deploy_timeout
        "distribution_config",
        target_ref(Target.resolve()),
        {"distribution_id": delayed.distribution_id, "prior": prior, "injected": injected},
        "distribution disabled (an entry of an earlier version)",
    )
    client.update_distribution(
        Id=delayed.distribution_id, IfMatch=answer["ETag"], DistributionConfig=injected
    )
    deployed(delayed)
    assert edge_get(delayed, "/")[0] == 403

    [report] = restore_entries(Ledger(), [entry])

    assert report.state == EntryState.RESTORED
    assert "deployed in" in report.detail
    assert edge_get(delayed, "/")[0] == 200


# --- 2. a blackhole points only at a name that cannot resolve ------------------------------


@pytest.mark.parametrize(
    "domain", ["evil.example.com", "", "invalid", ".invalid", "site.invalid.example.com"]
)
@pytest.mark.parametrize("fault", [cloudfront.blackhole_origin, cloudfront.fail_over_origin])
def test_a_blackhole_domain_outside_invalid_is_refused(
    kept: SandboxInfo, fault: Callable[..., Any], domain: str
) -> None:
    with pytest.raises(ActivityFailed, match=r"under the reserved \.invalid top-level domain"):
        fault(domain=domain, deploy_timeout=30)

    assert Ledger().entries() == []


def test_any_name_under_invalid_is_a_blackhole(kept: SandboxInfo) -> None:
    result = cloudfront.blackhole_origin(domain="Game-Day.Example.INVALID", deploy_timeout=30)

    assert result["fault"] == "blackhole_origin"


# --- 3. deny_origin_reads acts only on the target's buckets --------------------------------


@pytest.fixture
def stranger_bucket(kept: SandboxInfo) -> Iterator[str]:
    """A bucket that the target does not use, with one object; deleted afterwards."""
    client = aws(kept, "s3")
    bucket = f"stranger-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="index.html", Body=b"<p>not ours</p>")
    yield bucket
    restore_what_is_open()  # before the bucket goes: a deny policy left on it is removed
    client.delete_bucket_policy(Bucket=bucket)
    client.delete_object(Bucket=bucket, Key="index.html")
    client.delete_bucket(Bucket=bucket)


def test_a_bucket_the_target_does_not_use_is_refused_naming_the_targets_buckets(
    kept: SandboxInfo, stranger_bucket: str
) -> None:
    with pytest.raises(ActivityFailed) as refused:
        deny_origin_reads(bucket=stranger_bucket)

    message = str(refused.value)
    assert stranger_bucket in message
    assert kept.bucket in message and kept.failover_bucket in message
    assert Ledger().entries() == []


def test_a_bucket_the_distribution_names_as_an_origin_is_accepted(kept: SandboxInfo) -> None:
    result = deny_origin_reads(bucket=kept.failover_bucket)

    assert result["bucket"] == kept.failover_bucket
    [entry] = Ledger().unrestored()
    assert entry.undo["bucket"] == kept.failover_bucket


def test_target_buckets_are_the_origin_bucket_then_the_distributions(kept: SandboxInfo) -> None:
    assert s3.target_buckets(Target.resolve()) == [kept.bucket, kept.failover_bucket]


# --- 4. numbers and booleans as strings (what ${...} substitutions give) -------------------


STRING_ARGUMENTS: list[tuple[Callable[..., Any], dict[str, str]]] = [
    (cloudfront.raise_error_caching_ttl, {"ttl": "300", "error_codes": "404", "wait_deployed": "true", "deploy_timeout": "30"}),  # noqa: E501
    (cloudfront.lower_cache_ttls, {"min_ttl": "0", "default_ttl": "1", "max_ttl": "2", "deploy_timeout": "30"}),  # noqa: E501
    (cloudfront.purge_cache, {"paths": "/no-such-page/", "acknowledge_irreversible": "true", "timeout": "10"}),  # noqa: E501
    (cloudfront.invalidation_storm, {"max_invalidations": "2", "acknowledge_irreversible": "true"}),
    (origin_link.add_origin_latency, {"latency_ms": "200", "jitter_ms": "10", "share": "0.5"}),
    (origin_link.add_origin_errors, {"status": "503", "share": "0.5"}),
    (origin_link.blackhole_origin_link, {"share": "0.5"}),
    (origin_link.reset_origin_connections, {"share": "0.5"}),
    (deny_origin_reads, {"verify_timeout": "10"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fault", "arguments"), STRING_ARGUMENTS, ids=[f.__name__ for f, _ in STRING_ARGUMENTS]
)
def test_numbers_and_booleans_given_as_strings_are_accepted(
    kept: SandboxInfo, fault: Callable[..., Any], arguments: dict[str, str]
) -> None:
    result = fault(**arguments)

    assert result["ledger_entry"]
    for name in ("share", "status", "latency_ms"):
        if name in arguments:
            assert result[name] == json.loads(arguments[name])  # a number, not a string


BAD_STRINGS: list[tuple[Callable[..., Any], dict[str, str], str]] = [
    (cloudfront.raise_error_caching_ttl, {"ttl": "soon"}, "`ttl` must be"),
    (cloudfront.disable_distribution, {"deploy_timeout": "ages"}, "deploy_timeout must be between 0 and 3600 seconds"),  # noqa: E501
    (cloudfront.disable_distribution, {"wait_deployed": "perhaps"}, "`wait_deployed` must be true or false"),  # noqa: E501
    (cloudfront.lower_cache_ttls, {"min_ttl": "5", "default_ttl": "1"}, "TTLs must satisfy"),
    (cloudfront.purge_cache, {"acknowledge_irreversible": "false"}, "acknowledge_irreversible: true"),  # noqa: E501
    (cloudfront.invalidation_storm, {"max_invalidations": "many", "acknowledge_irreversible": "true"}, "`max_invalidations` must be"),  # noqa: E501
    (origin_link.add_origin_latency, {"latency_ms": "1.5"}, "`latency_ms` must be a whole number"),
    (origin_link.add_origin_errors, {"status": "200"}, "`status` must be"),
    (origin_link.reset_origin_connections, {"share": "half"}, "`share` must be a number"),
    (deny_origin_reads, {"verify_timeout": "-1"}, "verify_timeout must be between 0 and 600 seconds"),  # noqa: E501
]  # fmt: skip


@pytest.mark.parametrize(
    ("fault", "arguments", "message"),
    BAD_STRINGS,
    ids=[f"{f.__name__}-{next(iter(a))}" for f, a, _ in BAD_STRINGS],
)
def test_a_bad_string_fails_with_a_sentence_and_injects_nothing(
    kept: SandboxInfo, fault: Callable[..., Any], arguments: dict[str, str], message: str
) -> None:
    with pytest.raises(ActivityFailed, match=message):
        fault(**arguments)

    assert Ledger().entries() == []


def test_wait_deployed_false_as_a_string_does_not_wait(delayed: SandboxInfo) -> None:
    began = time.monotonic()
    result = cloudfront.disable_distribution(wait_deployed="false", deploy_timeout="30")  # type: ignore[arg-type]

    assert result["deployed_in_seconds"] is None
    assert time.monotonic() - began < DELAY


# --- 5. origin link faults need a target that is entirely the sandbox ----------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHAOS_SITE_URL", "http://example.invalid"),
        ("CHAOS_SITE_URL", ""),
        ("CHAOS_SANDBOX_ADMIN_URL", "http://admin.example.invalid"),
        ("AWS_ENDPOINT_URL", "https://cloudfront.amazonaws.com"),
    ],
)
def test_origin_link_faults_are_refused_unless_the_whole_target_is_the_sandbox(
    kept: SandboxInfo, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ActivityFailed, match="Origin link faults run only on the sandbox"):
        origin_link.add_origin_errors(share=1.0)

    assert Ledger().entries() == []
    assert link_faults(kept) == []
