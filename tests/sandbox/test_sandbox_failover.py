"""The demo's origin group: /posts/* fails over to the secondary bucket on 5xx or silence."""

import copy
import http.client
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from chaos_runner.sandbox import demo
from chaos_runner.sandbox.state import SandboxInfo
from tests.sandbox.edge_client import aws, invalidate

MARKER = re.compile(rb'<meta name="chaos-demo-origin" content="([a-z]+)">')


def get(url: str, path: str, method: str = "GET", body: Any = None) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        payload = None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=payload)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def origin_of(body: bytes) -> str:
    found = MARKER.search(body)
    return found.group(1).decode() if found else "?"


@pytest.fixture
def fault(sandbox: SandboxInfo) -> Iterator[Any]:
    """PUT link faults through the admin API; all removed (and the caches purged) after."""

    def put(fault_id: str, **spec: Any) -> None:
        status, body = get(sandbox.admin_url, f"/origin-link/faults/{fault_id}", "PUT", spec)
        assert status == 200, body

    yield put
    get(sandbox.admin_url, "/origin-link/faults", "DELETE")
    invalidate(sandbox, "/*")  # errors the faults caused are cached for 10 s


@pytest.fixture
def one_second_read_timeout(sandbox: SandboxInfo) -> Iterator[None]:
    cloudfront = aws(sandbox, "cloudfront")
    original = cloudfront.get_distribution_config(Id=sandbox.distribution_id)
    config = copy.deepcopy(original["DistributionConfig"])
    for origin in config["Origins"]["Items"]:
        origin["CustomOriginConfig"]["OriginReadTimeout"] = 1
    cloudfront.update_distribution(
        Id=sandbox.distribution_id, DistributionConfig=config, IfMatch=original["ETag"]
    )
    yield
    current = cloudfront.get_distribution_config(Id=sandbox.distribution_id)
    cloudfront.update_distribution(
        Id=sandbox.distribution_id,
        DistributionConfig=original["DistributionConfig"],
        IfMatch=current["ETag"],
    )


def test_the_demo_distribution_has_an_origin_group_on_posts(sandbox: SandboxInfo) -> None:
    config = aws(sandbox, "cloudfront").get_distribution_config(Id=sandbox.distribution_id)
    config = config["DistributionConfig"]
    [group] = config["OriginGroups"]["Items"]
    [behavior] = config["CacheBehaviors"]["Items"]

    assert config["Origins"]["Items"][0]["Id"] == demo.ORIGIN_ID  # the main bucket first
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == demo.ORIGIN_ID
    assert [m["OriginId"] for m in group["Members"]["Items"]] == [
        demo.ORIGIN_ID,
        demo.FAILOVER_ORIGIN_ID,
    ]
    assert sorted(group["FailoverCriteria"]["StatusCodes"]["Items"]) == [500, 502, 503, 504]
    assert (behavior["PathPattern"], behavior["TargetOriginId"]) == ("/posts/*", group["Id"])


def test_the_failover_bucket_holds_the_secondary_build(sandbox: SandboxInfo) -> None:
    s3 = aws(sandbox, "s3")
    primary = {o["Key"] for o in s3.list_objects_v2(Bucket=sandbox.bucket)["Contents"]}
    listed = s3.list_objects_v2(Bucket=sandbox.failover_bucket)["Contents"]
    secondary = {o["Key"] for o in listed}
    page = s3.get_object(Bucket=sandbox.failover_bucket, Key="posts/index.html")["Body"].read()

    assert sandbox.failover_bucket == demo.FAILOVER_BUCKET
    assert secondary == primary
    assert origin_of(page) == "secondary"
    assert b"Served by the <strong>secondary</strong> origin." in page
    assert sandbox.environment()["CHAOS_FAILOVER_BUCKET"] == demo.FAILOVER_BUCKET


def test_posts_come_from_the_primary_while_it_answers(sandbox: SandboxInfo, fault: Any) -> None:
    invalidate(sandbox, "/posts/*")

    assert origin_of(get(sandbox.edge_url, "/posts/")[1]) == "primary"
    assert origin_of(get(sandbox.edge_url, "/posts/cache-ttls/")[1]) == "primary"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_from_the_primary_fails_over_for_posts_only(
    sandbox: SandboxInfo, fault: Any, status: int
) -> None:
    invalidate(sandbox, "/posts/*", "/about/")
    fault("primary-down", kind="error", status=status, origin=demo.website_domain(demo.BUCKET))

    post = get(sandbox.edge_url, "/posts/invalidations/")
    about = get(sandbox.edge_url, "/about/")

    assert (post[0], origin_of(post[1])) == (200, "secondary")
    assert about[0] == status  # the default behavior has no origin group


def test_failover_is_per_request_and_nothing_is_remembered(
    sandbox: SandboxInfo, fault: Any
) -> None:
    invalidate(sandbox, "/posts/*")
    fault("blip", kind="error", status=500, origin=demo.website_domain(demo.BUCKET))
    during = get(sandbox.edge_url, "/posts/")
    get(sandbox.admin_url, "/origin-link/faults/blip", "DELETE")
    invalidate(sandbox, "/posts/*")
    after = get(sandbox.edge_url, "/posts/")

    assert (origin_of(during[1]), origin_of(after[1])) == ("secondary", "primary")


def test_a_silent_primary_fails_over_after_the_read_timeout(
    sandbox: SandboxInfo, fault: Any, one_second_read_timeout: None
) -> None:
    invalidate(sandbox, "/posts/*")
    fault("primary-silent", kind="blackhole", origin=demo.website_domain(demo.BUCKET))

    status, body = get(sandbox.edge_url, "/posts/error-pages/")

    assert (status, origin_of(body)) == (200, "secondary")


def test_a_reset_from_the_primary_fails_over(sandbox: SandboxInfo, fault: Any) -> None:
    invalidate(sandbox, "/posts/*")
    fault("primary-reset", kind="reset", origin=demo.website_domain(demo.BUCKET))

    status, body = get(sandbox.edge_url, "/posts/")

    assert (status, origin_of(body)) == (200, "secondary")


def test_both_origins_failing_answers_the_secondarys_error(
    sandbox: SandboxInfo, fault: Any
) -> None:
    invalidate(sandbox, "/posts/*")
    fault("everything-down", kind="error", status=503)

    status, _ = get(sandbox.edge_url, "/posts/origin-outage/")

    assert status == 503


def test_a_denied_primary_is_not_masked_by_the_group(sandbox: SandboxInfo, fault: Any) -> None:
    s3 = aws(sandbox, "s3")
    policy = s3.get_bucket_policy(Bucket=sandbox.bucket)["Policy"]
    deny = json.loads(policy)
    deny["Statement"][0]["Effect"] = "Deny"
    invalidate(sandbox, "/posts/*")
    s3.put_bucket_policy(Bucket=sandbox.bucket, Policy=json.dumps(deny))
    try:
        status, body = get(sandbox.edge_url, "/posts/cache-ttls/")
    finally:
        s3.put_bucket_policy(Bucket=sandbox.bucket, Policy=policy)

    assert status == 403  # 403 is not a failover code of the demo group
    assert b"AccessDenied" in body
