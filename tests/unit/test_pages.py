"""Page roles: read from the site's sitemap (a real HTTP server on loopback), or named."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from chaos_runner import ConfigurationError, run
from chaos_runner.pages import key_of, path_of, resolve, site_pages
from probes import _arguments
from tests.servers import closed_port_url, serving

URLSET = """<?xml version="1.0" encoding="utf-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</urlset>"""
INDEX = """<?xml version="1.0" encoding="utf-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</sitemapindex>"""
HOME = (
    '<html><head><link href="https://fonts.example.com/a.css" rel="stylesheet">'
    '<link rel=stylesheet href=css/site.css><script src="/js/app.js"></script></head></html>'
)


def urls(*paths: str, host: str = "https://www.example.com") -> str:
    return "".join(f"<url><loc>{host}{path}</loc></url>" for path in paths)


class Site:
    """A site on loopback: its documents by path, and every request it received."""

    def __init__(self, documents: dict[str, str]) -> None:
        self.documents = documents
        self.requests: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        if request.path not in self.documents:
            return web.Response(status=404, text="not found")
        return web.Response(text=self.documents[request.path], content_type="text/html")


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """A docs site (no /posts/) with a production host in its sitemap; CHAOS_* point at it."""
    pages = ("/", "/docs/", "/docs/install/", "/docs/usage/", "/blog/", "/blog/hello/",
             "/about/", "/pricing/")  # fmt: skip
    served = Site({"/sitemap.xml": URLSET.format(urls(*pages)), "/": HOME})
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", served.handle)
    for name in ("CHAOS_CACHED_PAGES", "CHAOS_UNCACHED_PAGES", "CHAOS_VICTIM_PAGE", "CHAOS_ASSET"):
        monkeypatch.delenv(name, raising=False)
    with serving(app) as url:
        monkeypatch.setenv("CHAOS_SITE_URL", url)
        monkeypatch.setenv("CHAOS_ORIGIN_BUCKET", "")
        yield served


def test_roles_take_one_page_of_each_section_in_turn_leaves_first(site: Site) -> None:
    pages = site_pages(None)

    assert pages.pages == ("/about/", "/blog/hello/", "/docs/install/", "/pricing/",
                           "/blog/", "/docs/usage/", "/docs/")  # fmt: skip
    assert pages.role("cached") == ["/", "/about/"]
    assert pages.role("uncached") == ["/blog/hello/", "/docs/install/"]
    assert pages.role("victim") == ["/pricing/"]
    assert pages.role("asset") == ["/css/site.css"]  # the site's own, not the font CDN's
    assert pages.role("home") == ["/"]
    assert pages.source.endswith("/sitemap.xml")


def test_named_pages_win_and_the_other_roles_avoid_them(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOS_CACHED_PAGES", "/, /blog/hello/")
    pages = site_pages({"victim_page": ["/docs/usage/"]})

    assert pages.role("cached") == ["/", "/blog/hello/"]
    assert pages.role("victim") == ["/docs/usage/"]
    assert pages.role("uncached") == ["/about/", "/docs/install/"]


def test_a_spec_mixes_roles_paths_and_comma_lists(site: Site) -> None:
    assert resolve(["@cached", "/x/", ["@asset"]], None) == ["/", "/about/", "/x/", "/css/site.css"]
    assert resolve("/a/, /b/", None) == ["/a/", "/b/"]
    assert _arguments.pages(["@home", "@cached"]) == ["/", "/about/"]
    assert _arguments.weighted_cycle({"@home": 3, "@uncached": 1}) == (
        "/", "/blog/hello/", "/", "/docs/install/", "/",
    )  # fmt: skip
    with pytest.raises(ConfigurationError, match="@cachd is not a page role"):
        resolve("@cachd", None)


def test_a_sitemap_index_is_followed_on_the_sites_own_host(site: Site) -> None:
    site.documents["/sitemap.xml"] = INDEX.format(
        "<sitemap><loc>https://www.example.com/en/sitemap.xml</loc></sitemap>"
    )
    site.documents["/en/sitemap.xml"] = URLSET.format(urls("/en/", "/en/a/", "/en/b/", "/en/c/",
                                                         "/en/d/"))  # fmt: skip

    assert site_pages(None).role("victim") == ["/en/d/"]
    assert "/en/sitemap.xml" in site.requests


def test_within_a_run_the_site_is_read_once(site: Site) -> None:
    context = run.start()
    try:
        first = site_pages(None)
        site.documents.pop("/sitemap.xml")  # a fault that hides the sitemap changes nothing
        assert site_pages(None) is first
    finally:
        run.finish()
    assert site.requests.count("/sitemap.xml") == 1
    assert context.site_pages is first


def test_too_few_pages_and_no_source_say_what_to_set(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.documents["/sitemap.xml"] = URLSET.format(urls("/", "/a/", "/b/"))
    with pytest.raises(ConfigurationError, match=r"too few pages for @uncached.*CHAOS_UNCACHED"):
        site_pages(None).role("uncached")

    site.documents.pop("/sitemap.xml")
    with pytest.raises(ConfigurationError) as refused:
        site_pages(None)
    assert "sitemap.xml answered 404" in str(refused.value)
    assert "CHAOS_ORIGIN_BUCKET is not set" in str(refused.value)
    assert "CHAOS_CACHED_PAGES, CHAOS_UNCACHED_PAGES and CHAOS_VICTIM_PAGE" in str(refused.value)


def test_a_bucket_listing_aws_refuses_is_named_with_what_to_set(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.documents.pop("/sitemap.xml")
    monkeypatch.setenv("CHAOS_ORIGIN_BUCKET", "www.example.com")
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed_port_url())  # an AWS that never answers

    with pytest.raises(ConfigurationError) as refused:
        site_pages(None)

    assert "sitemap.xml answered 404" in str(refused.value)
    assert "list the objects of bucket www.example.com" in str(refused.value)
    assert "CHAOS_CACHED_PAGES, CHAOS_UNCACHED_PAGES and CHAOS_VICTIM_PAGE" in str(refused.value)


@pytest.mark.parametrize("named", ["about", "/a/, @cached", "@victim,/b/"])
def test_a_named_page_must_be_a_path(
    site: Site, monkeypatch: pytest.MonkeyPatch, named: str
) -> None:
    """A role among named pages would read the site while it is being read (a deadlock)."""
    monkeypatch.setenv("CHAOS_VICTIM_PAGE", named)

    run.start()
    try:
        with pytest.raises(ConfigurationError, match=r"CHAOS_VICTIM_PAGE .* must hold paths"):
            site_pages(None)
    finally:
        run.finish()


@pytest.mark.parametrize(
    ("path", "key"),
    [("/", "index.html"), ("/docs/a/", "docs/a/index.html"), ("/a%20b/", "a b/index.html"),
     ("/css/site.css", "css/site.css")],
)  # fmt: skip
def test_a_page_and_its_object_key(path: str, key: str, tmp_path: Path) -> None:
    assert key_of(path) == key
    if "%" not in path:
        assert path_of(key) == path
