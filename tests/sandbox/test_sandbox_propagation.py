"""CloudFront changes take effect after the propagation delay; the API says so meanwhile.

Tests that set a delay wait, on teardown, until every change they made is Deployed or
Completed and then set it back to 0, so no change lands in a later test.
"""

import copy
import http.client
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from chaos_runner.sandbox.controlplane import MAX_WILDCARD_PATHS_IN_PROGRESS
from chaos_runner.sandbox.state import SandboxInfo
from chaos_runner.sandbox.testing import InProcessSandbox
from tests.sandbox.edge_client import aws, invalidate

Config = dict[str, Any]
FAST_WAITER = {"Delay": 1, "MaxAttempts": 10}


def get(sandbox: SandboxInfo, path: str) -> tuple[int, bytes, str]:
    """Status, body and X-Cache of one GET at the edge."""
    url = urlsplit(sandbox.edge_url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read(), response.headers.get("X-Cache", "")
    finally:
        connection.close()


def settled(sandbox: SandboxInfo) -> bool:
    cloudfront = aws(sandbox, "cloudfront")
    distribution = cloudfront.get_distribution(Id=sandbox.distribution_id)["Distribution"]
    listed = cloudfront.list_invalidations(DistributionId=sandbox.distribution_id)
    items = listed["InvalidationList"].get("Items") or []
    return distribution["Status"] == "Deployed" and all(
        item["Status"] == "Completed" for item in items
    )


@pytest.fixture
def delay(
    sandbox: SandboxInfo, sandbox_stack: InProcessSandbox
) -> Iterator[Callable[[float], None]]:
    """Set the propagation delay; on teardown wait for every change to land, then set 0."""
    propagation = sandbox_stack.stack.propagation

    def set_delay(seconds: float) -> None:
        propagation.delay = seconds

    yield set_delay
    deadline = time.monotonic() + propagation.delay + 5
    while not settled(sandbox):
        assert time.monotonic() < deadline, "changes still propagating after the delay"
        time.sleep(0.05)
    propagation.delay = 0.0


@pytest.fixture
def page(sandbox: SandboxInfo) -> Iterator[Callable[[bytes], str]]:
    """Put an object in the demo bucket (the edge caches it 300 s); deleted afterwards."""
    s3 = aws(sandbox, "s3")
    key = f"propagation-{uuid.uuid4().hex[:10]}.html"

    def put(body: bytes) -> str:
        s3.put_object(Bucket=sandbox.bucket, Key=key, Body=body, ContentType="text/html")
        return f"/{key}"

    yield put
    s3.delete_object(Bucket=sandbox.bucket, Key=key)


@pytest.fixture
def reconfigure(sandbox: SandboxInfo) -> Iterator[Callable[[Callable[[Config], None]], Any]]:
    """update_distribution with an edit; the original config is put back afterwards."""
    cloudfront = aws(sandbox, "cloudfront")
    original = cloudfront.get_distribution_config(Id=sandbox.distribution_id)

    def change(edit: Callable[[Config], None]) -> Any:
        current = cloudfront.get_distribution_config(Id=sandbox.distribution_id)
        config = copy.deepcopy(current["DistributionConfig"])
        edit(config)
        return cloudfront.update_distribution(
            Id=sandbox.distribution_id, DistributionConfig=config, IfMatch=current["ETag"]
        )

    yield change
    current = cloudfront.get_distribution_config(Id=sandbox.distribution_id)
    cloudfront.update_distribution(
        Id=sandbox.distribution_id,
        DistributionConfig=original["DistributionConfig"],
        IfMatch=current["ETag"],
    )


def test_without_a_delay_an_invalidation_is_completed_when_created(
    sandbox: SandboxInfo, page: Callable[[bytes], str]
) -> None:
    path = page(b"one")
    get(sandbox, path)
    page(b"two")
    cloudfront = aws(sandbox, "cloudfront")

    created = invalidate(sandbox, path)
    began = time.monotonic()
    cloudfront.get_waiter("invalidation_completed").wait(
        DistributionId=sandbox.distribution_id, Id=created["Id"], WaiterConfig=FAST_WAITER
    )

    assert created["Status"] == "Completed"  # CloudFront's spelling, not moto's COMPLETED
    assert time.monotonic() - began < 0.5
    assert get(sandbox, path)[:2] == (200, b"two")


def test_an_invalidation_is_in_progress_and_not_in_effect_until_the_delay_ends(
    sandbox: SandboxInfo, page: Callable[[bytes], str], delay: Callable[[float], None]
) -> None:
    path = page(b"old")
    get(sandbox, path)
    page(b"new")
    cloudfront = aws(sandbox, "cloudfront")
    delay(0.5)

    created = invalidate(sandbox, path)
    began = time.monotonic()
    fetched = cloudfront.get_invalidation(DistributionId=sandbox.distribution_id, Id=created["Id"])
    listed = cloudfront.list_invalidations(DistributionId=sandbox.distribution_id)
    batches = cloudfront.get_distribution(Id=sandbox.distribution_id)["Distribution"]
    during = get(sandbox, path)
    cloudfront.get_waiter("invalidation_completed").wait(
        DistributionId=sandbox.distribution_id, Id=created["Id"], WaiterConfig=FAST_WAITER
    )
    waited = time.monotonic() - began
    after = get(sandbox, path)

    assert created["Status"] == fetched["Invalidation"]["Status"] == "InProgress"
    summary = [i for i in listed["InvalidationList"]["Items"] if i["Id"] == created["Id"]]
    assert summary[0]["Status"] == "InProgress"
    assert batches["InProgressInvalidationBatches"] == 1
    assert during == (200, b"old", "Hit from cloudfront")
    assert 0.5 <= waited < 3.0
    assert after == (200, b"new", "Miss from cloudfront")


def test_a_config_change_is_in_progress_then_deployed_after_the_delay(
    sandbox: SandboxInfo,
    delay: Callable[[float], None],
    reconfigure: Callable[[Callable[[Config], None]], Any],
) -> None:
    cloudfront = aws(sandbox, "cloudfront")
    assert get(sandbox, "/")[0] == 200
    delay(0.5)

    answer = reconfigure(lambda config: config.update(Enabled=False))
    began = time.monotonic()
    status = cloudfront.get_distribution(Id=sandbox.distribution_id)["Distribution"]["Status"]
    during = get(sandbox, "/")[0]
    cloudfront.get_waiter("distribution_deployed").wait(
        Id=sandbox.distribution_id, WaiterConfig=FAST_WAITER
    )
    waited = time.monotonic() - began
    after = get(sandbox, "/")

    assert answer["Distribution"]["Status"] == status == "InProgress"
    assert during == 200
    assert 0.5 <= waited < 3.0
    assert after[0] == 403 and after[2] == "Error from cloudfront"


def test_a_change_rolled_back_during_the_delay_is_still_seen_for_a_while(
    sandbox: SandboxInfo,
    delay: Callable[[float], None],
    reconfigure: Callable[[Callable[[Config], None]], Any],
) -> None:
    assert get(sandbox, "/")[0] == 200
    delay(0.4)

    reconfigure(lambda config: config.update(Enabled=False))
    time.sleep(0.2)
    reconfigure(lambda config: config.update(Enabled=True))  # the rollback, 0.2 s later
    seen: list[int] = []
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and seen[-3:] != [403, 200, 200]:
        status = get(sandbox, "/")[0]
        if not seen or seen[-1] != status or status == 200:
            seen.append(status)
        time.sleep(0.02)

    assert seen[0] == 200 and 403 in seen
    assert seen[-1] == 200


def test_wildcard_invalidations_in_progress_are_limited_as_on_cloudfront(
    sandbox: SandboxInfo, delay: Callable[[float], None]
) -> None:
    delay(1.0)
    for n in range(MAX_WILDCARD_PATHS_IN_PROGRESS):
        invalidate(sandbox, f"/limit-{n}/*")

    with pytest.raises(ClientError) as refused:
        invalidate(sandbox, "/one-too-many/*")
    exact = invalidate(sandbox, "/an-exact-path.html")  # files have a limit of their own

    assert refused.value.response["Error"]["Code"] == "TooManyInvalidationsInProgress"
    assert exact["Status"] == "InProgress"


def test_the_delay_is_recorded_where_status_shows_it(sandbox: SandboxInfo) -> None:
    assert sandbox.propagation_delay == 0.0
    assert "propagation:  0 s (immediate)" in sandbox.summary()
