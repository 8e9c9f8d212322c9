"""The S3 website endpoint emulator, over real HTTP, in front of moto's buckets.

Each test works on a bucket of its own (created and deleted here), so the demo site that
other tests rely on is never touched.
"""

import functools
import http.client
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from chaos_runner.sandbox.state import SANDBOX_ACCESS_KEY, SANDBOX_SECRET_KEY, SandboxInfo

INDEX = b"<html>home</html>"
POSTS = b"<html>posts</html>"
NOT_FOUND_PAGE = b"<html>custom 404</html>"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes


def visit(
    sandbox: SandboxInfo,
    bucket: str,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    host: str | None = None,
) -> Reply:
    """One request to the website endpoint with the Host a website domain has."""
    url = urlsplit(sandbox.website_url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        sent = {"Host": host or f"{bucket}.s3-website-{sandbox.region}.amazonaws.com"}
        connection.request(method, path, headers={**sent, **(headers or {})})
        response = connection.getresponse()
        return Reply(response.status, response.msg, response.read())
    finally:
        connection.close()


@functools.cache
def s3_client(sandbox: SandboxInfo) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=sandbox.aws_endpoint_url,
        region_name=sandbox.region,
        aws_access_key_id=SANDBOX_ACCESS_KEY,
        aws_secret_access_key=SANDBOX_SECRET_KEY,
    )


def public_read(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    )


@pytest.fixture
def s3(sandbox: SandboxInfo) -> Any:
    return s3_client(sandbox)


@pytest.fixture
def site(s3: Any) -> Iterator[str]:
    """A public website bucket: index.html, posts/index.html, 404.html."""
    bucket = f"site-{uuid.uuid4().hex[:12]}.test"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="index.html", Body=INDEX, ContentType="text/html")
    s3.put_object(Bucket=bucket, Key="posts/index.html", Body=POSTS, ContentType="text/html")
    s3.put_object(Bucket=bucket, Key="404.html", Body=NOT_FOUND_PAGE, ContentType="text/html")
    s3.put_bucket_website(
        Bucket=bucket,
        WebsiteConfiguration={
            "IndexDocument": {"Suffix": "index.html"},
            "ErrorDocument": {"Key": "404.html"},
        },
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=public_read(bucket))
    yield bucket
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"])
    s3.delete_bucket(Bucket=bucket)


def test_root_and_directories_serve_their_index_document(sandbox: SandboxInfo, site: str) -> None:
    root = visit(sandbox, site, "/")
    posts = visit(sandbox, site, "/posts/")

    assert (root.status, root.body) == (200, INDEX)
    assert (posts.status, posts.body) == (200, POSTS)
    assert root.headers["Server"] == "AmazonS3"


def test_directory_without_trailing_slash_redirects_302_to_it(
    sandbox: SandboxInfo, site: str
) -> None:
    reply = visit(sandbox, site, "/posts")

    assert reply.status == 302
    assert reply.headers["Location"] == "/posts/"


def test_missing_key_serves_the_error_document_with_404(sandbox: SandboxInfo, site: str) -> None:
    reply = visit(sandbox, site, "/no/such/page.html")

    assert (reply.status, reply.body) == (404, NOT_FOUND_PAGE)
    assert reply.headers["Content-Type"] == "text/html"
    assert reply.headers["x-amz-error-code"] == "NoSuchKey"


def test_missing_error_document_serves_s3s_own_page_naming_both_errors(
    sandbox: SandboxInfo, site: str, s3: Any
) -> None:
    s3.delete_object(Bucket=site, Key="404.html")

    reply = visit(sandbox, site, "/gone.html")

    assert reply.status == 404
    page = reply.body.decode()
    assert "<li>Code: NoSuchKey</li>" in page
    assert "<li>Key: gone.html</li>" in page
    assert "An Error Occurred While Attempting to Retrieve a Custom Error Document" in page
    assert "<li>Key: 404.html</li>" in page


def test_policy_denying_reads_answers_403_access_denied(
    sandbox: SandboxInfo, site: str, s3: Any
) -> None:
    deny = json.loads(public_read(site))
    deny["Statement"][0]["Effect"] = "Deny"
    s3.put_bucket_policy(Bucket=site, Policy=json.dumps(deny))

    existing = visit(sandbox, site, "/")
    missing = visit(sandbox, site, "/gone.html")

    for reply in (existing, missing):
        assert reply.status == 403
        assert "<li>Code: AccessDenied</li>" in reply.body.decode()
        assert "Custom Error Document" in reply.body.decode()  # 404.html is denied too


def test_denied_object_serves_the_error_document_with_403_when_it_is_readable(
    sandbox: SandboxInfo, site: str, s3: Any
) -> None:
    policy = json.loads(public_read(site))
    policy["Statement"].append(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{site}/posts/*",
        }
    )
    s3.put_bucket_policy(Bucket=site, Policy=json.dumps(policy))

    reply = visit(sandbox, site, "/posts/")

    assert (reply.status, reply.body) == (403, NOT_FOUND_PAGE)
    assert reply.headers["x-amz-error-code"] == "AccessDenied"


def test_bucket_without_website_configuration_answers_404(
    sandbox: SandboxInfo, site: str, s3: Any
) -> None:
    s3.delete_bucket_website(Bucket=site)

    reply = visit(sandbox, site, "/")

    assert reply.status == 404
    assert "<li>Code: NoSuchWebsiteConfiguration</li>" in reply.body.decode()


def test_host_that_is_not_a_website_domain_answers_no_such_bucket(sandbox: SandboxInfo) -> None:
    reply = visit(sandbox, "", "/", host="example.test")

    assert reply.status == 404
    assert "<li>Code: NoSuchBucket</li>" in reply.body.decode()


def test_both_website_domain_forms_name_the_bucket(sandbox: SandboxInfo, site: str) -> None:
    dotted = visit(sandbox, site, "/", host=f"{site}.s3-website.{sandbox.region}.amazonaws.com")

    assert (dotted.status, dotted.body) == (200, INDEX)


def test_only_get_and_head_are_served(sandbox: SandboxInfo, site: str) -> None:
    post = visit(sandbox, site, "/", method="POST")
    head = visit(sandbox, site, "/", method="HEAD")

    assert post.status == 405
    assert "<li>Code: MethodNotAllowed</li>" in post.body.decode()
    assert (head.status, head.body) == (200, b"")
    assert head.headers["Content-Length"] == str(len(INDEX))


def test_conditional_requests_answer_304(sandbox: SandboxInfo, site: str) -> None:
    first = visit(sandbox, site, "/")

    by_etag = visit(sandbox, site, "/", headers={"If-None-Match": first.headers["ETag"]})
    by_date = visit(
        sandbox, site, "/", headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    changed = visit(sandbox, site, "/", headers={"If-None-Match": '"something-else"'})

    assert (by_etag.status, by_etag.body) == (304, b"")
    assert by_etag.headers["ETag"] == first.headers["ETag"]
    assert by_date.status == 304
    assert (changed.status, changed.body) == (200, INDEX)


def test_object_headers_and_user_metadata_pass_through(
    sandbox: SandboxInfo, site: str, s3: Any
) -> None:
    s3.put_object(
        Bucket=site,
        Key="styled.css",
        Body=b"body{}",
        ContentType="text/css",
        CacheControl="max-age=60",
        Expires="Wed, 21 Oct 2037 07:28:00 GMT",
        Metadata={"origin": "primary"},
    )

    reply = visit(sandbox, site, "/styled.css")

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/css"
    assert reply.headers["Cache-Control"] == "max-age=60"
    assert reply.headers["Expires"] == "Wed, 21 Oct 2037 07:28:00 GMT"
    assert reply.headers["x-amz-meta-origin"] == "primary"
    assert reply.headers["ETag"] and reply.headers["Last-Modified"]


def test_key_is_the_url_decoded_path(sandbox: SandboxInfo, site: str, s3: Any) -> None:
    s3.put_object(Bucket=site, Key="a dir/file+1.txt", Body=b"decoded", ContentType="text/plain")

    reply = visit(sandbox, site, "/a%20dir/file%2B1.txt")

    assert (reply.status, reply.body) == (200, b"decoded")


def test_website_redirect_location_metadata_answers_301(
    sandbox: SandboxInfo, site: str, s3: Any
) -> None:
    s3.put_object(Bucket=site, Key="old.html", Body=b"", WebsiteRedirectLocation="/posts/")

    reply = visit(sandbox, site, "/old.html")

    assert reply.status == 301
    assert reply.headers["Location"] == "/posts/"


def test_redirect_all_requests_to_another_host(sandbox: SandboxInfo, site: str, s3: Any) -> None:
    s3.put_bucket_website(
        Bucket=site,
        WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": "www.example.test"}},
    )

    reply = visit(sandbox, site, "/posts/?page=2")

    assert reply.status == 301
    assert reply.headers["Location"] == "http://www.example.test/posts/?page=2"
