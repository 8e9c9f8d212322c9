"""Which origin served a page, on any site: S3 metadata the edge passes on, read by the probe.

The sandbox uploads its site with ``chaos-origin: primary`` in the main bucket and
``chaos-origin: secondary`` in the failover bucket; the website endpoint answers it as
``x-amz-meta-chaos-origin`` and the edge passes it to viewers (and keeps it in cache), as
CloudFront does. ``probes.cache`` reads it when a page has no ``chaos-demo-origin`` meta tag.

The session's sandbox is shared (other tests put objects without metadata), so these tests
read pages they upload themselves, or a sandbox of their own.
"""

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from chaoslib.exceptions import ActivityFailed

from chaos_runner.sandbox import demo
from chaos_runner.sandbox.stack import upload_site
from chaos_runner.sandbox.state import SandboxInfo
from probes import cache
from tests.commands import chaos
from tests.sandbox.edge_client import aws, invalidate

PLAIN = b"<!doctype html><html><head><title>plain</title></head><body>no marker</body></html>"
PLAIN_PATH, PLAIN_KEY = "/posts/plain-page/", "posts/plain-page/index.html"


def request(url: str, path: str, method: str = "GET", body: Any = None) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    payload = None if body is None else json.dumps(body).encode()
    connection.request(method, path, body=payload)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


@pytest.fixture
def primary_answers_503(sandbox: SandboxInfo) -> Iterator[None]:
    """Every fetch from the main bucket answers 503 (the origin group fails over)."""
    spec = {"kind": "error", "status": 503, "origin": demo.website_domain(demo.BUCKET)}
    answer = request(sandbox.admin_url, "/origin-link/faults/primary-503", "PUT", spec)
    assert answer.status == 200
    yield
    request(sandbox.admin_url, "/origin-link/faults", "DELETE")
    invalidate(sandbox, "/*")  # the errors the fault caused are cached for 10 s


@pytest.fixture
def plain_page(sandbox: SandboxInfo, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A page with no meta tag behind the origin group, in both buckets; removed after."""
    site = tmp_path / "site"
    (site / PLAIN_KEY).parent.mkdir(parents=True)
    (site / PLAIN_KEY).write_bytes(PLAIN)
    s3 = aws(sandbox, "s3")
    upload_site(s3, sandbox.bucket, site, "primary")
    upload_site(s3, sandbox.failover_bucket, site, "secondary")
    invalidate(sandbox, PLAIN_PATH)
    yield {"site_url": sandbox.edge_url}
    for bucket in (sandbox.bucket, sandbox.failover_bucket):
        s3.delete_object(Bucket=bucket, Key=PLAIN_KEY)
    invalidate(sandbox, PLAIN_PATH)


@pytest.mark.slow
def test_a_sandbox_serving_a_site_of_its_own_tags_each_bucket_with_its_origin(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    site = tmp_path / "public"
    for key in ("index.html", "docs/index.html", "css/site.css"):
        (site / key).parent.mkdir(parents=True, exist_ok=True)
        (site / key).write_bytes(PLAIN)
    up = chaos(["sandbox", "up", "--detach", "--aws-port", "0", "--edge-port", "0",
                "--site-dir", "public"], tmp_path, clean_env)  # fmt: skip
    assert up.returncode == 0, up.stderr
    try:
        info = SandboxInfo.read(tmp_path / ".chaos" / "sandbox.json")
        s3 = aws(info, "s3")
        tags = {
            (bucket, key): s3.head_object(Bucket=bucket, Key=key)["Metadata"]
            for bucket in (info.bucket, info.failover_bucket)
            for key in ("index.html", "docs/index.html", "css/site.css")
        }
        docs = request(info.edge_url, "/docs/")
    finally:
        chaos(["sandbox", "down"], tmp_path, clean_env)

    assert info.site_dir == str(site.absolute())
    origins = {info.bucket: "primary", info.failover_bucket: "secondary"}
    assert tags == {(bucket, key): {"chaos-origin": origins[bucket]} for bucket, key in tags}
    assert (docs.status, docs.getheader("x-amz-meta-chaos-origin")) == (200, "primary")


def test_the_edge_passes_the_origin_header_on_a_miss_and_on_a_hit(
    sandbox: SandboxInfo, plain_page: dict[str, Any]
) -> None:
    miss = request(sandbox.edge_url, PLAIN_PATH)
    hit = request(sandbox.edge_url, PLAIN_PATH)

    assert (miss.getheader("X-Cache"), hit.getheader("X-Cache")) == (
        "Miss from cloudfront",
        "Hit from cloudfront",
    )
    assert miss.getheader("x-amz-meta-chaos-origin") == "primary"
    assert hit.getheader("x-amz-meta-chaos-origin") == "primary"


def test_a_page_without_the_meta_tag_names_its_origin_by_its_header(
    sandbox: SandboxInfo, plain_page: dict[str, Any]
) -> None:
    result = cache.cache_statistics(PLAIN_PATH, rounds=2, configuration=plain_page)

    assert result["origins"] == {"primary": 2}
    assert result["pages"][PLAIN_PATH]["origin"] == "primary"


def test_after_a_failover_the_header_names_the_secondary(
    sandbox: SandboxInfo, plain_page: dict[str, Any], primary_answers_503: None
) -> None:
    result = cache.expect_origin(PLAIN_PATH, "secondary", configuration=plain_page)

    assert result["pages"][PLAIN_PATH]["status"] == 200
    assert result["origin"] == "secondary"


def test_expect_origin_says_why_a_page_did_not_come_from_the_secondary(
    sandbox: SandboxInfo, plain_page: dict[str, Any]
) -> None:
    cache.cache_statistics(PLAIN_PATH, configuration=plain_page)  # now in the edge cache
    invalidate(sandbox, "/about/")
    spec = {"kind": "error", "status": 503, "origin": demo.website_domain(demo.BUCKET)}
    request(sandbox.admin_url, "/origin-link/faults/primary-503", "PUT", spec)
    try:
        with pytest.raises(ActivityFailed) as failed:
            cache.expect_origin([PLAIN_PATH, "/about/"], "secondary", configuration=plain_page)
    finally:
        request(sandbox.admin_url, "/origin-link/faults", "DELETE")
        invalidate(sandbox, "/about/")

    message = str(failed.value)
    assert (
        f"{PLAIN_PATH} came from the primary origin out of the edge cache "
        "(200, Hit from cloudfront): it was cached before the fault" in message
    )
    assert (
        "/about/ answered 503 (Error from cloudfront) from no origin: the page is not behind "
        "an origin group" in message
    )
