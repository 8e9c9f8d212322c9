"""Without a sitemap, the pages come from the origin bucket's listing (the sandbox's moto)."""

from chaos_runner.pages import site_pages
from chaos_runner.sandbox.state import SandboxInfo
from tests.servers import closed_port_url


def test_without_a_sitemap_the_bucket_listing_names_the_pages(sandbox_env: SandboxInfo) -> None:
    pages = site_pages({"site_url": closed_port_url()})  # nothing answers: no sitemap

    assert pages.source == f"the listing of bucket {sandbox_env.bucket}"
    assert pages.role("cached") == ["/", "/about/"]
    assert pages.role("uncached") == ["/posts/cache-ttls/", "/posts/error-pages/"]
    assert pages.role("victim") == ["/posts/invalidations/"]
    assert pages.role("asset") == []  # the home page could not be read either
