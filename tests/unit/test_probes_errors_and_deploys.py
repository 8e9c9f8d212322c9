"""probes.errors and probes.deploys against loopback servers that play the edge and AWS.

The edge is an aiohttp app whose pages the tests set; AWS is another one that answers
CloudFront's GetDistributionConfig and S3's GetObject as the real APIs do (XML, ETag), so
the probes' boto3 calls are real HTTP on loopback.
"""

import hashlib
import importlib
import inspect
import re
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from aiohttp import web
from chaoslib.activity import ensure_activity_is_valid
from chaoslib.discovery.discover import discover_probes
from chaoslib.exceptions import ActivityFailed

from probes import deploys, errors
from tests.servers import serving

MODULES = ["probes.errors", "probes.deploys"]
DISTRIBUTION = "E2TESTDISTRIB"
BUCKET = "www.example.test"
ERROR_PAGE = b"<html><title>Not found</title>the site's own 404 page</html>"
S3_ERROR = b"<html><head><title>404 Not Found</title></head><body>NoSuchKey</body></html>"
GOOD = b"<html>the good page, whole</html>"
TRUNCATED = GOOD[: len(GOOD) // 2]


@dataclass
class Page:
    """What the edge answers for a path: ``status`` until ``back_at`` (monotonic), then 200."""

    status: int
    body: bytes
    x_cache: str = "Hit from cloudfront"
    back_at: float | None = None


@dataclass
class Fake:
    """The edge's pages, and what the AWS APIs hold."""

    pages: dict[str, Page] = field(default_factory=dict)
    objects: dict[str, bytes] = field(default_factory=dict)
    #: ErrorCachingMinTTL by error code; a code mapped to None has a custom error response
    #: without one; a code absent has no custom error response.
    error_ttls: dict[int, int | None] = field(default_factory=dict)
    site_url: str = ""

    @property
    def configuration(self) -> dict[str, Any]:
        return {"site_url": self.site_url, "distribution_id": DISTRIBUTION, "origin_bucket": BUCKET}


def _edge(fake: Fake) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        found = fake.pages.get(request.path)
        if found is None:
            return web.Response(
                status=404, body=S3_ERROR, headers={"X-Cache": "Error from cloudfront"}
            )
        if found.back_at is not None and time.monotonic() >= found.back_at:
            return web.Response(body=GOOD, headers={"X-Cache": "Miss from cloudfront"})
        return web.Response(
            status=found.status, body=found.body, headers={"X-Cache": found.x_cache}
        )

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    return app


def _aws(fake: Fake) -> web.Application:
    async def distribution_config(request: web.Request) -> web.Response:
        if request.match_info["id"] != DISTRIBUTION:
            return _xml_error(
                404, "NoSuchDistribution", "The specified distribution does not exist."
            )
        items = "".join(
            "<CustomErrorResponse>"
            f"<ErrorCode>{code}</ErrorCode><ResponsePagePath>/404.html</ResponsePagePath>"
            f"<ResponseCode>{code}</ResponseCode>"
            + ("" if ttl is None else f"<ErrorCachingMinTTL>{ttl}</ErrorCachingMinTTL>")
            + "</CustomErrorResponse>"
            for code, ttl in fake.error_ttls.items()
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<DistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">'
            "<CallerReference>test</CallerReference><Enabled>true</Enabled>"
            f"<CustomErrorResponses><Quantity>{len(fake.error_ttls)}</Quantity>"
            f"<Items>{items}</Items></CustomErrorResponses>"
            "</DistributionConfig>"
        )
        return web.Response(body=body.encode(), content_type="text/xml", headers={"ETag": "E1"})

    async def get_object(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        if request.match_info["bucket"] != BUCKET or key not in fake.objects:
            return _xml_error(404, "NoSuchKey", "The specified key does not exist.")
        body = fake.objects[key]
        etag = '"' + hashlib.md5(body).hexdigest() + '"'  # S3's ETag: the MD5 of the body
        return web.Response(body=body, content_type="text/html", headers={"ETag": etag})

    app = web.Application()
    app.router.add_get("/2020-05-31/distribution/{id}/config", distribution_config)
    app.router.add_get("/{bucket}/{key:.+}", get_object)
    return app


def _xml_error(status: int, code: str, message: str) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(status=status, body=body.encode(), content_type="application/xml")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fake]:
    state = Fake()
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("CHAOS_SITE_URL", "CHAOS_DISTRIBUTION_ID", "CHAOS_ORIGIN_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with serving(_edge(state)) as site_url, serving(_aws(state)) as aws_url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", aws_url)
        state.site_url = site_url
        yield state


# -- Chaos Toolkit reads the modules --------------------------------------------------------


@pytest.mark.parametrize("name", MODULES)
def test_activities_have_the_signature_chaos_toolkit_reads(name: str) -> None:
    module = importlib.import_module(name)
    functions = {
        function_name: function
        for function_name in module.__all__
        if inspect.isfunction(function := getattr(module, function_name))
    }

    assert functions, name
    assert set(functions) == {probe["name"] for probe in discover_probes(name)}
    for function_name, function in functions.items():
        parameters = list(inspect.signature(function).parameters.values())
        assert [p.name for p in parameters[-2:]] == ["configuration", "secrets"], function_name
        assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters), function_name
        assert function.__doc__, function_name


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_are_valid_activities_of_the_module(name: str) -> None:
    module = importlib.import_module(name)
    blocks = re.findall(r"::\n\n((?:(?: {8}.*)?\n)+)", module.__doc__ or "")
    examples = [item for block in blocks for item in yaml.safe_load(textwrap.dedent(block))]

    assert examples, f"{name} shows no YAML example"
    for example in examples:
        ensure_activity_is_valid(example)
        assert example["provider"]["module"] == name
        assert example["provider"]["func"] in module.__all__


# -- expect_error_page ----------------------------------------------------------------------


def test_a_lost_page_showing_the_sites_404_page_passes(fake: Fake) -> None:
    fake.pages["/404.html"] = Page(200, ERROR_PAGE)
    fake.pages["/lost/"] = Page(404, ERROR_PAGE, "Error from cloudfront")

    result = errors.expect_error_page("/lost/", configuration=fake.configuration)

    assert result["served_error_page"]["status"] == 200
    assert result["pages"]["/lost/"]["status"] == 404
    assert result["pages"]["/lost/"]["sha256"] == hashlib.sha256(ERROR_PAGE).hexdigest()


def test_an_s3_error_page_a_page_still_served_and_no_answer_are_each_named(fake: Fake) -> None:
    fake.pages["/404.html"] = Page(200, ERROR_PAGE)
    fake.pages["/found/"] = Page(200, GOOD)

    with pytest.raises(ActivityFailed) as failed:
        errors.expect_error_page(
            ["/s3-error/", "/found/"], status="404", configuration=fake.configuration
        )

    message = str(failed.value)
    assert "/s3-error/ answered 404 with another page than /404.html" in message
    assert "an error page of S3 or CloudFront, not the site's" in message
    assert "/found/ answered 200 with X-Cache 'Hit from cloudfront'" in message


def test_a_missing_error_page_fails_once_for_every_page(fake: Fake) -> None:
    fake.pages["/lost/"] = Page(404, S3_ERROR, "Error from cloudfront")

    with pytest.raises(ActivityFailed, match=r"the error page /404.html itself answered 404"):
        errors.expect_error_page("/lost/", configuration=fake.configuration)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"status": 200}, "`status` must be a whole number from 400 to 599"),
        ({"error_page": "404.html"}, "`error_page` must be the path of the site's error page"),
        ({"timeout": 0}, "`timeout` must be a number above 0"),
    ],
)
def test_expect_error_page_refuses_bad_arguments_in_a_sentence(
    fake: Fake, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ActivityFailed, match=re.escape(message)):
        errors.expect_error_page("/lost/", **arguments, configuration=fake.configuration)


# -- error_linger ---------------------------------------------------------------------------


def test_an_error_lingering_for_the_configured_ttl_holds(fake: Fake) -> None:
    fake.error_ttls = {404: 1}
    fake.pages["/fixed/"] = Page(404, ERROR_PAGE, "Error from cloudfront", time.monotonic() + 1)

    result = errors.error_linger(
        "/fixed/", expected_ttl="1", tolerance=0.5, interval=0.05, configuration=fake.configuration
    )

    assert result["configured_ttl"] == 1.0
    assert result["ttl_source"] == "the custom error response for 404"
    page = result["pages"]["/fixed/"]
    assert page["first_status"] == 404
    assert page["back_status"] == 200
    assert page["linger_s"] is not None and 0.8 <= page["linger_s"] <= 1.3
    assert result["linger_s"] == page["linger_s"]
    assert page["answers"]["404"] >= 5 and page["answers"]["200"] == 1


def test_a_linger_other_than_the_expected_ttl_fails_naming_both_ttls(fake: Fake) -> None:
    fake.error_ttls = {404: 1}
    fake.pages["/fixed/"] = Page(404, ERROR_PAGE, "Error from cloudfront", time.monotonic() + 1)

    with pytest.raises(ActivityFailed) as failed:
        errors.error_linger(
            "/fixed/", expected_ttl=3, tolerance=0.5, interval=0.05,
            configuration=fake.configuration,
        )  # fmt: skip

    message = str(failed.value)
    assert f"1 s on distribution {DISTRIBUTION}, the custom error response for 404" in message
    assert "the experiment expects 3 s" in message
    assert re.search(r"/fixed/ answered 200-399 again after 1\.\d s", message), message


def test_without_a_ttl_in_the_config_cloudfronts_10_s_default_is_the_reference(
    fake: Fake,
) -> None:
    fake.pages["/fixed/"] = Page(404, ERROR_PAGE, "Error from cloudfront", time.monotonic())

    with pytest.raises(ActivityFailed, match="no custom error response for 404"):
        errors.error_linger("/fixed/", configuration=fake.configuration)

    fake.error_ttls = {404: None}
    with pytest.raises(ActivityFailed, match="the custom error response for 404 sets none"):
        errors.error_linger("/fixed/", configuration=fake.configuration)


def test_a_page_not_back_within_max_wait_fails_in_bounded_time(fake: Fake) -> None:
    fake.error_ttls = {404: 0}
    fake.pages["/gone/"] = Page(404, ERROR_PAGE, "Error from cloudfront")

    started = time.monotonic()
    with pytest.raises(ActivityFailed, match=r"/gone/ still did not answer 200-399 after 0.5 s"):
        errors.error_linger("/gone/", max_wait=0.5, interval=0.1, configuration=fake.configuration)

    assert time.monotonic() - started < 3


def test_another_error_first_is_not_the_linger_of_the_status(fake: Fake) -> None:
    fake.error_ttls = {404: 0}
    # back after 1.5 s: the first GET comes after the probe reads the distribution's config,
    # which takes a few hundred ms with a cold boto3 (a shorter wait made this order-dependent)
    fake.pages["/denied/"] = Page(403, b"denied", "Error from cloudfront", time.monotonic() + 1.5)

    with pytest.raises(ActivityFailed, match=r"/denied/ first answered 403, not 404"):
        errors.error_linger("/denied/", interval=0.05, configuration=fake.configuration)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"status": 302}, "`status` must be a whole number from 400 to 599"),
        ({"expected_ttl": "soon"}, "`expected_ttl` must be a number from 0 to 3.1536e+07"),
        ({"interval": 0.001}, "`interval` must be a number from 0.05 to 60"),
        ({"max_wait": 0}, "`max_wait` must be a number above 0 to 3600"),
        ({"tolerance": -1}, "`tolerance` must be a number from 0 to 3600"),
    ],
)
def test_error_linger_refuses_bad_arguments_before_any_request(
    fake: Fake, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ActivityFailed, match=re.escape(message)):
        errors.error_linger("/fixed/", **arguments, configuration=fake.configuration)


def test_error_linger_needs_the_distribution(fake: Fake) -> None:
    configuration = {"site_url": fake.site_url}

    with pytest.raises(ActivityFailed, match="CHAOS_DISTRIBUTION_ID"):
        errors.error_linger("/fixed/", configuration=configuration)


# -- expect_copy ----------------------------------------------------------------------------


def test_the_deployed_copy_and_a_previous_copy_are_told_apart(fake: Fake) -> None:
    fake.objects = {"cached/index.html": TRUNCATED, "missed/index.html": TRUNCATED}
    fake.pages["/cached/"] = Page(200, GOOD, "Hit from cloudfront")
    fake.pages["/missed/"] = Page(200, TRUNCATED, "Miss from cloudfront")

    kept = deploys.expect_copy(
        "/cached/", copy="previous", x_cache="hit", configuration=fake.configuration
    )
    shown = deploys.expect_copy(
        "/missed/", copy="deployed", x_cache="Miss", configuration=fake.configuration
    )

    assert kept["/cached/"]["copy"] == "previous"
    assert kept["/cached/"]["served_sha256"] == hashlib.sha256(GOOD).hexdigest()
    assert kept["/cached/"]["deployed_sha256"] == hashlib.sha256(TRUNCATED).hexdigest()
    assert shown["/missed/"]["copy"] == "deployed"
    assert shown["/missed/"]["key"] == "missed/index.html"


def test_a_page_serving_the_deployed_bytes_is_not_a_previous_copy(fake: Fake) -> None:
    fake.objects = {"index.html": GOOD, "about/index.html": GOOD}
    fake.pages["/"] = Page(200, GOOD, "Miss from cloudfront")
    fake.pages["/about/"] = Page(200, GOOD, "Hit from cloudfront")

    with pytest.raises(ActivityFailed) as failed:
        deploys.expect_copy(
            "/, /about/", copy="previous", x_cache="Hit", configuration=fake.configuration
        )

    message = str(failed.value)
    assert f"another copy than the one deployed in bucket {BUCKET}" in message
    assert "/ served the deployed bytes with X-Cache 'Miss from cloudfront'" in message
    assert "/about/ served the deployed bytes with X-Cache 'Hit from cloudfront'" in message


def test_an_error_or_a_wrong_x_cache_fails_and_a_missing_object_is_a_previous_copy(
    fake: Fake,
) -> None:
    fake.objects = {"broken/index.html": GOOD, "cached/index.html": GOOD}
    fake.pages["/broken/"] = Page(502, b"bad gateway", "Error from cloudfront")
    fake.pages["/cached/"] = Page(200, GOOD, "Miss from cloudfront")
    fake.pages["/orphan/"] = Page(200, GOOD, "Hit from cloudfront")

    with pytest.raises(ActivityFailed) as failed:
        deploys.expect_copy(
            ["/broken/", "/cached/"], x_cache="Hit", configuration=fake.configuration
        )
    orphan = deploys.expect_copy("/orphan/", copy="previous", configuration=fake.configuration)

    assert "/broken/: the edge answered 502" in str(failed.value)
    assert "/cached/ served the deployed bytes with X-Cache 'Miss from cloudfront'" in str(
        failed.value
    )
    assert orphan["/orphan/"]["copy"] == "previous"
    assert orphan["/orphan/"]["detail"] == "the bucket has no object for it"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"copy": "cached"}, "`copy` must be 'deployed'"),
        ({"timeout": "never"}, "`timeout` must be a number above 0"),
    ],
)
def test_expect_copy_refuses_bad_arguments_in_a_sentence(
    fake: Fake, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ActivityFailed, match=re.escape(message)):
        deploys.expect_copy("/cached/", **arguments, configuration=fake.configuration)


def test_expect_copy_needs_the_bucket(fake: Fake) -> None:
    with pytest.raises(ActivityFailed, match="CHAOS_ORIGIN_BUCKET"):
        deploys.expect_copy("/cached/", configuration={"site_url": fake.site_url})
