"""probes.cache names a page's origin by its meta tag, else by x-amz-meta-chaos-origin."""

from collections.abc import Iterator

import pytest
from aiohttp import web
from chaoslib.exceptions import ActivityFailed

from probes import cache
from tests.servers import serving

TAGGED = b'<html><head><meta name="chaos-demo-origin" content="primary"></head></html>'
PLAIN = b"<html><head><title>a site of its own</title></head></html>"

#: path -> (body, x-amz-meta-chaos-origin or None, X-Cache)
PAGES = {
    "/tag-and-header/": (TAGGED, "secondary", "Miss from cloudfront"),
    "/header-only/": (PLAIN, "secondary", "Miss from cloudfront"),
    "/blank-header/": (PLAIN, " ", "Miss from cloudfront"),
    "/neither/": (PLAIN, None, "Miss from cloudfront"),
    "/cached/": (PLAIN, "primary", "Hit from cloudfront"),
}


@pytest.fixture
def site() -> Iterator[dict[str, str]]:
    async def page(request: web.Request) -> web.Response:
        body, origin, x_cache = PAGES[request.path]
        headers = {"X-Cache": x_cache}
        if origin is not None:
            headers["x-amz-meta-chaos-origin"] = origin
        return web.Response(body=body, headers=headers, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    with serving(app) as url:
        yield {"site_url": url}


def test_the_meta_tag_wins_over_the_header(site: dict[str, str]) -> None:
    result = cache.cache_statistics("/tag-and-header/", configuration=site)

    assert result["pages"]["/tag-and-header/"]["origin"] == "primary"


def test_without_a_meta_tag_the_header_names_the_origin(site: dict[str, str]) -> None:
    result = cache.expect_origin("/header-only/", "secondary", configuration=site)

    assert (result["origin"], result["origins"]) == ("secondary", {"secondary": 1})


@pytest.mark.parametrize("path", ["/blank-header/", "/neither/"])
def test_a_page_that_names_no_origin_has_none(site: dict[str, str], path: str) -> None:
    result = cache.cache_statistics(path, configuration=site)

    assert (result["origin"], result["pages"][path]["origin"]) == ("", None)


def test_expect_origin_says_what_each_page_showed_instead(site: dict[str, str]) -> None:
    with pytest.raises(ActivityFailed) as failed:
        cache.expect_origin(["/cached/", "/neither/"], "secondary", configuration=site)

    message = str(failed.value)
    assert "but 2 did not" in message
    assert "/cached/ came from the primary origin out of the edge cache (200, Hit" in message
    assert "/neither/ answered 200 (Miss from cloudfront) without naming its origin" in message
    assert "aws s3 cp --metadata chaos-origin=secondary" in message
