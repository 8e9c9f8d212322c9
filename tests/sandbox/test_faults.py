"""Each fault on the running sandbox: inject, see the effect at the edge, restore, and find
the whole target (bucket policy, every object with its bytes and metadata, the distribution
config) with the same digest as before."""

import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed

from chaos_runner.digest import bucket_state, target_state
from chaos_runner.faults import cloudfront, objects, origin_link
from chaos_runner.faults.ledger import restore_injected_faults
from chaos_runner.faults.s3 import deny_origin_reads
from chaos_runner.ledger import EntryState, Ledger
from chaos_runner.sandbox.state import SandboxInfo
from chaos_runner.target import Target
from chaos_runner.waiter import Wait
from tests.sandbox.edge_client import aws, edge_get, invalidate


@pytest.fixture
def digest_kept(sandbox_env: SandboxInfo) -> Iterator[Callable[[], None]]:
    """Asserts, when the test calls it, that the target's digest is the one it had first.

    The states are compared (the digest is their hash) so that a failure shows the diff.
    """
    before = target_state(Target.resolve())

    def check() -> None:
        assert target_state(Target.resolve()) == before

    yield check


def restore_all() -> dict[str, Any]:
    restored: dict[str, Any] = restore_injected_faults(scope="target")
    return restored


# --- bucket policy ------------------------------------------------------------------------


def test_deny_origin_reads_keeps_the_digest(
    sandbox_env: SandboxInfo, digest_kept: Callable[[], None]
) -> None:
    deny_origin_reads()
    restore_all()
    digest_kept()


# --- objects ------------------------------------------------------------------------------


def test_delete_objects_loses_the_page_at_the_edge_and_restores_it_exactly(
    sandbox_env: SandboxInfo, digest_kept: Callable[[], None]
) -> None:
    result = objects.delete_objects(keys="posts/error-pages/index.html,css/style.css")
    invalidate(sandbox_env, "/posts/error-pages/", "/css/style.css")

    assert result["keys"] == ["posts/error-pages/index.html", "css/style.css"]
    assert edge_get(sandbox_env, "/posts/error-pages/")[0] == 404  # the custom 404 page
    assert edge_get(sandbox_env, "/css/style.css")[0] == 404

    restore_all()
    invalidate(sandbox_env, "/posts/error-pages/", "/css/style.css")
    assert edge_get(sandbox_env, "/posts/error-pages/")[0] == 200
    digest_kept()


def test_with_no_selection_only_the_home_page_is_deleted(sandbox_env: SandboxInfo) -> None:
    result = objects.delete_objects()
    try:
        assert result["keys"] == ["index.html"]
    finally:
        restore_all()


def test_a_share_of_a_prefix_is_picked_reproducibly(sandbox_env: SandboxInfo) -> None:
    first = objects.delete_objects(prefix="posts/", share=0.5, seed=7)
    restore_all()
    second = objects.delete_objects(prefix="posts/", share=0.5, seed=7)
    restore_all()

    assert first["keys"] == second["keys"]
    assert len(first["keys"]) == 2  # half of posts/index.html and the four posts, rounded
    assert all(key.startswith("posts/") for key in first["keys"])


@pytest.mark.parametrize(
    ("preset", "check"),
    [
        ("wrong-content", lambda body, ctype: b"Bad deploy" in body),
        ("truncated", lambda body, ctype: not body.rstrip().endswith(b"</html>")),
        ("wrong-content-type", lambda body, ctype: ctype == "application/octet-stream"),
    ],
)
def test_corrupt_objects_serves_the_bad_deploy_then_restores_it_exactly(
    sandbox_env: SandboxInfo,
    digest_kept: Callable[[], None],
    preset: str,
    check: Callable[[bytes, str], bool],
) -> None:
    objects.corrupt_objects(preset=preset, keys="posts/cache-ttls/index.html")
    invalidate(sandbox_env, "/posts/cache-ttls/")

    status, _, body, content_type = edge_get(sandbox_env, "/posts/cache-ttls/", full=True)
    assert status == 200
    assert check(body, content_type)

    restore_all()
    invalidate(sandbox_env, "/posts/cache-ttls/")
    digest_kept()


def test_a_versioned_bucket_gets_its_exact_version_history_back(
    sandbox_env: SandboxInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = aws(sandbox_env, "s3")
    bucket = f"versioned-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for key in ("a.html", "b.html"):
        client.put_object(
            Bucket=bucket, Key=key, Body=f"<p>{key}</p>".encode(), ContentType="text/html"
        )
    monkeypatch.setenv("CHAOS_ORIGIN_BUCKET", bucket)  # faults act on the target's buckets
    before = bucket_state(client, bucket)

    objects.delete_objects(keys="a.html")
    objects.corrupt_objects(keys="b.html")
    assert bucket_state(client, bucket) != before
    restore_all()

    assert bucket_state(client, bucket) == before
    assert not (Ledger().path.parent / "quarantine").exists()  # versions, not local copies


def test_an_object_uploaded_by_hand_since_the_fault_is_a_conflict_and_kept(
    sandbox_env: SandboxInfo,
) -> None:
    client = aws(sandbox_env, "s3")
    original = client.get_object(Bucket=sandbox_env.bucket, Key="about/index.html")
    body = original["Body"].read()
    objects.delete_objects(keys="about/index.html")
    client.put_object(
        Bucket=sandbox_env.bucket, Key="about/index.html", Body=b"hotfix", ContentType="text/html"
    )
    try:
        with pytest.raises(ActivityFailed, match="changed since the fault"):
            restore_all()
        assert (
            client.get_object(Bucket=sandbox_env.bucket, Key="about/index.html")["Body"].read()
            == b"hotfix"
        )
        assert [e.state for e in Ledger().entries()] == [EntryState.CONFLICT]
    finally:
        client.put_object(
            Bucket=sandbox_env.bucket, Key="about/index.html", Body=body, ContentType="text/html"
        )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"keys": "no/such/key.html"}, "has no object no/such/key.html"),
        ({"prefix": "nothing-here/"}, "No object of bucket"),
        ({"share": 1.5}, "`share` must be a number from 0 to 1"),
        ({"keys": "a.html", "prefix": "posts/"}, "either keys, or prefix"),
    ],
)
def test_a_bad_selection_is_refused_before_anything_changes(
    sandbox_env: SandboxInfo, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ActivityFailed, match=message):
        objects.delete_objects(**arguments)
    assert Ledger().entries() == []


def test_an_unknown_preset_is_refused(sandbox_env: SandboxInfo) -> None:
    with pytest.raises(ActivityFailed, match="preset must be one of"):
        objects.corrupt_objects(preset="half-baked")


# --- distribution config ------------------------------------------------------------------


def test_disable_distribution_stops_the_site_and_restores_the_exact_config(
    sandbox_env: SandboxInfo, digest_kept: Callable[[], None]
) -> None:
    result = cloudfront.disable_distribution(deploy_timeout=30)

    assert result["distribution_id"] == sandbox_env.distribution_id
    assert edge_get(sandbox_env, "/")[0] == 403

    restore_all()
    assert edge_get(sandbox_env, "/")[0] == 200
    digest_kept()


def test_blackhole_origin_answers_502_on_misses_and_serves_the_cache(
    sandbox_env: SandboxInfo, digest_kept: Callable[[], None]
) -> None:
    edge_get(sandbox_env, "/")  # in cache
    invalidate(sandbox_env, "/about/")

    cloudfront.blackhole_origin(deploy_timeout=30)

    assert edge_get(sandbox_env, "/")[:2] == (200, "Hit from cloudfront")
    assert edge_get(sandbox_env, "/about/")[0] == 502
    restore_all()
    invalidate(sandbox_env, "/about/")
    assert edge_get(sandbox_env, "/about/")[0] == 200
    digest_kept()


def test_an_unknown_origin_id_names_the_origins(sandbox_env: SandboxInfo) -> None:
    with pytest.raises(ActivityFailed, match="its origins are: s3-website-origin"):
        cloudfront.blackhole_origin(origin_id="nope")


def test_lower_cache_ttls_sends_every_request_to_the_origin(
    sandbox_env: SandboxInfo, digest_kept: Callable[[], None]
) -> None:
    invalidate(sandbox_env, "/posts/")
    cloudfront.lower_cache_ttls(deploy_timeout=30)

    answers = [edge_get(sandbox_env, "/posts/")[1] for _ in range(3)]
    # TTL 0: kept, but revalidated with the origin on every request (no plain Hit).
    assert answers == ["Miss from cloudfront"] + ["RefreshHit from cloudfront"] * 2
    restore_all()
    digest_kept()


def test_raise_error_caching_ttl_changes_the_config_and_restores_it(
    sandbox_env: SandboxInfo, digest_kept: Callable[[], None]
) -> None:
    cloudfront.raise_error_caching_ttl(ttl=600, error_codes="404,503", deploy_timeout=30)

    config = target_state(Target.resolve())["distribution"]
    ttls = {
        int(r["ErrorCode"]): int(r["ErrorCachingMinTTL"])
        for r in config["CustomErrorResponses"]["Items"]
    }
    assert ttls == {404: 600, 503: 600}
    restore_all()
    digest_kept()


def test_a_config_changed_by_hand_since_the_fault_is_a_conflict(sandbox_env: SandboxInfo) -> None:
    cloudfront.disable_distribution(deploy_timeout=30)
    client = aws(sandbox_env, "cloudfront")
    answer = client.get_distribution_config(Id=sandbox_env.distribution_id)
    config = answer["DistributionConfig"]
    config["Enabled"] = True
    config["Comment"] = "fixed by hand"
    client.update_distribution(
        Id=sandbox_env.distribution_id, IfMatch=answer["ETag"], DistributionConfig=config
    )
    try:
        with pytest.raises(ActivityFailed, match="was changed since the fault"):
            restore_all()
        assert (
            client.get_distribution_config(Id=sandbox_env.distribution_id)["DistributionConfig"][
                "Comment"
            ]
            == "fixed by hand"
        )
    finally:
        [entry] = Ledger().entries()
        config["Comment"] = entry.undo["prior"]["Comment"]
        etag = client.get_distribution_config(Id=sandbox_env.distribution_id)["ETag"]
        client.update_distribution(
            Id=sandbox_env.distribution_id, IfMatch=etag, DistributionConfig=config
        )


def test_a_fault_that_changes_nothing_is_refused(sandbox_env: SandboxInfo) -> None:
    cloudfront.disable_distribution(deploy_timeout=30)
    try:
        with pytest.raises(ActivityFailed, match="already in the state"):
            cloudfront.disable_distribution(deploy_timeout=30)
    finally:
        restore_all()


# --- cache purge ---------------------------------------------------------------------------


def test_purge_cache_is_refused_unless_acknowledged(sandbox_env: SandboxInfo) -> None:
    with pytest.raises(ActivityFailed, match="acknowledge_irreversible: true"):
        cloudfront.purge_cache()
    assert Ledger().entries() == []


def test_purge_cache_empties_the_cache_and_is_recorded_as_irreversible(
    sandbox_env: SandboxInfo,
) -> None:
    edge_get(sandbox_env, "/")
    assert edge_get(sandbox_env, "/")[1] == "Hit from cloudfront"

    result = cloudfront.purge_cache(acknowledge_irreversible=True)

    assert edge_get(sandbox_env, "/")[1] == "Miss from cloudfront"
    assert result["paths"] == ["/*"]
    assert [e.state for e in Ledger().entries()] == [EntryState.IRREVERSIBLE]
    assert Ledger().unrestored() == []


@pytest.mark.parametrize("paths", ["posts/*", "/po*sts/", ""])
def test_bad_invalidation_paths_are_refused(sandbox_env: SandboxInfo, paths: str) -> None:
    with pytest.raises(ActivityFailed, match="Invalidation paths start with '/'"):
        cloudfront.purge_cache(paths=paths, acknowledge_irreversible=True)


# --- origin failover ------------------------------------------------------------------------


def test_fail_over_origin_serves_the_posts_from_the_secondary(
    sandbox_env: SandboxInfo, digest_kept: Callable[[], None]
) -> None:
    invalidate(sandbox_env, "/posts/*")

    result = cloudfront.fail_over_origin(deploy_timeout=30)

    assert result["primary_origin"] == "s3-website-origin"
    marker = b'<meta name="chaos-demo-origin" content="secondary">'
    assert marker in edge_get(sandbox_env, "/posts/invalidations/", full=True)[2]
    restore_all()
    invalidate(sandbox_env, "/posts/*")
    assert b'content="primary"' in edge_get(sandbox_env, "/posts/invalidations/", full=True)[2]
    digest_kept()


# --- origin link (sandbox only) -----------------------------------------------------------


def test_origin_latency_slows_misses_only_and_is_removed_by_the_restore(
    sandbox_env: SandboxInfo,
) -> None:
    edge_get(sandbox_env, "/")  # cached
    invalidate(sandbox_env, "/about/")
    origin_link.add_origin_latency(latency_ms=250)

    began = time.perf_counter()
    assert edge_get(sandbox_env, "/about/") == (200, "Miss from cloudfront")
    slow = time.perf_counter() - began
    began = time.perf_counter()
    assert edge_get(sandbox_env, "/") == (200, "Hit from cloudfront")
    fast = time.perf_counter() - began
    restore_all()

    assert slow >= 0.25
    assert fast < 0.25
    assert origin_link_faults(sandbox_env) == []


@pytest.mark.parametrize(
    ("inject", "status"),
    [
        (lambda: origin_link.add_origin_errors(status=503, share=1.0), 503),
        (lambda: origin_link.reset_origin_connections(share=1.0), 502),
    ],
    ids=["errors", "reset"],
)
def test_origin_link_failures_show_on_misses_and_go_with_the_restore(
    sandbox_env: SandboxInfo, inject: Callable[[], Any], status: int
) -> None:
    page = f"/posts/{'error-pages' if status == 503 else 'cache-ttls'}/"
    invalidate(sandbox_env, page)
    inject()

    assert edge_get(sandbox_env, page)[0] == status
    restore_all()
    invalidate(sandbox_env, page)  # the error was cached (ErrorCachingMinTTL)
    assert edge_get(sandbox_env, page)[0] == 200
    assert origin_link_faults(sandbox_env) == []


def test_origin_link_faults_are_refused_on_a_real_target(
    sandbox_env: SandboxInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://s3.eu-west-1.amazonaws.com")

    with pytest.raises(ActivityFailed, match="Origin link faults run only on the sandbox"):
        origin_link.add_origin_errors()
    assert Ledger().entries() == []


def test_a_link_fault_replaced_by_hand_is_a_conflict(sandbox_env: SandboxInfo) -> None:
    fault_id = origin_link.add_origin_errors(status=500, share=0.5)["fault_id"]
    admin = f"{sandbox_env.admin_url}/origin-link/faults/{fault_id}"
    replaced = json.dumps({"kind": "error", "status": 502, "share": 0.5}).encode()
    urllib.request.urlopen(urllib.request.Request(admin, data=replaced, method="PUT"), timeout=5)
    try:
        with pytest.raises(ActivityFailed, match="was replaced since"):
            restore_all()
    finally:
        urllib.request.urlopen(urllib.request.Request(admin, method="DELETE"), timeout=5)
    assert origin_link_faults(sandbox_env) == []


def origin_link_faults(sandbox: SandboxInfo) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{sandbox.admin_url}/origin-link/faults", timeout=5) as answer:
        faults: list[dict[str, Any]] = json.loads(answer.read())["faults"]
    return faults


def test_an_invalidation_storm_stops_at_cloudfronts_in_progress_limit(
    sandbox_env: SandboxInfo, sandbox_stack: Any
) -> None:
    sandbox_stack.stack.propagation.delay = 1.5  # invalidations stay in progress meanwhile
    try:
        result = cloudfront.invalidation_storm(max_invalidations=20, acknowledge_irreversible=True)
    finally:
        sandbox_stack.stack.propagation.delay = 0.0
        # The session's sandbox is shared: wait for the storm to end before the next test.
        client = aws(sandbox_env, "cloudfront")
        done = Wait(delay=0.2, timeout=10).until(
            lambda: [
                item["Status"]
                for item in client.list_invalidations(DistributionId=sandbox_env.distribution_id)[
                    "InvalidationList"
                ].get("Items", [])
            ],
            lambda statuses: "InProgress" not in statuses,
        )
        assert done.reached, done.last

    assert result["accepted"] == 15  # CloudFront allows 15 wildcard paths in progress
    assert result["limit_reached"] is True
    assert [e.state for e in Ledger().entries()] == [EntryState.IRREVERSIBLE]
