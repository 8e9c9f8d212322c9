"""probes.cache and probes.content against a loopback server that plays the edge."""

import gzip
import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from chaoslib.exceptions import ActivityFailed

from probes import cache, content
from tests.servers import serving

PRIMARY = b'<html><head><meta name="chaos-demo-origin" content="primary"></head>home</html>'
SECONDARY = b'<html><head><meta name="chaos-demo-origin" content="secondary"></head></html>'


@dataclass
class Edge:
    url: str
    served: Path
    hits: Counter[str] = field(default_factory=Counter)

    @property
    def configuration(self) -> dict[str, Any]:
        return {"site_url": self.url}


def _app(edge_hits: Counter[str], served: Path) -> web.Application:
    async def cached(request: web.Request) -> web.Response:
        edge_hits[request.path] += 1
        body = SECONDARY if request.path == "/failed-over/" else PRIMARY
        if edge_hits[request.path] == 1:
            return web.Response(body=body, headers={"X-Cache": "Miss from cloudfront"})
        age = str(edge_hits[request.path] * 10)
        return web.Response(body=body, headers={"X-Cache": "Hit from cloudfront", "Age": age})

    async def site_file(request: web.Request) -> web.StreamResponse:
        key = request.path.lstrip("/")
        key = key + "index.html" if key == "" or key.endswith("/") else key
        path = served / key
        if not path.is_file():
            return web.Response(status=404)
        encoding = "gzip" if key.endswith(".gz") else None
        headers = {"Content-Encoding": encoding} if encoding else {}
        return web.Response(body=path.read_bytes(), headers=headers)

    app = web.Application()
    app.router.add_get("/cached/", cached)
    app.router.add_get("/failed-over/", cached)
    app.router.add_get("/{tail:.*}", site_file)
    return app


def build(root: Path, files: dict[str, bytes]) -> Path:
    for key, body in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(body)
    return root


SITE = {
    "index.html": b"<html>home</html>",
    "posts/a/index.html": b"<html>a</html>",
    "posts/b/index.html": b"<html>b</html>",
    "css/style.css": b"body {}",
    "js/app.js.gz": gzip.compress(b"console.log(1)", mtime=0),
}


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Edge]:
    served = build(tmp_path / "served", SITE)
    hits: Counter[str] = Counter()
    with serving(_app(hits, served)) as url:
        yield Edge(url, served, hits)


# -- cache ---------------------------------------------------------------------------------


def test_cache_statistics_count_hits_ages_and_the_origin(edge: Edge) -> None:
    result = cache.cache_statistics("/cached/", rounds=4, configuration=edge.configuration)

    assert result["total"] == 4
    assert result["x_cache"] == {"Hit from cloudfront": 3, "Miss from cloudfront": 1}
    assert (result["hits"], result["misses"], result["hit_ratio"]) == (3, 1, 0.75)
    assert result["age"] == {"count": 3, "min": 20, "p50": 30, "max": 40, "mean": 30.0}
    assert (result["origins"], result["origin"]) == ({"primary": 4}, "primary")
    assert result["pages"]["/cached/"] == {
        "status": 200,
        "x_cache": "Hit from cloudfront",
        "age": 40,
        "origin": "primary",
        "error": None,
    }


def test_answers_from_two_origins_are_mixed(edge: Edge) -> None:
    result = cache.cache_statistics(["/cached/", "/failed-over/"], configuration=edge.configuration)

    assert result["origins"] == {"primary": 1, "secondary": 1}
    assert result["origin"] == "mixed"
    assert (result["hit_ratio"], result["age"]["count"]) == (0.0, 0)


def test_pages_without_marker_or_x_cache_give_nulls(edge: Edge) -> None:
    result = cache.cache_statistics("/css/style.css", configuration=edge.configuration)

    assert (result["origin"], result["hit_ratio"], result["x_cache"]) == ("", None, {})


# -- content -------------------------------------------------------------------------------


def test_a_served_site_equal_to_the_build_has_full_integrity(edge: Edge) -> None:
    report = content.integrity(build_dir=str(edge.served), configuration=edge.configuration)

    assert report["source"] == f"directory {edge.served}"
    assert (report["objects"], report["checked"], report["matched"]) == (5, 5, 5)
    assert (report["integrity"], report["ok"], report["mismatched"]) == (1.0, True, [])
    paths = {page["path"] for page in report["pages"]}
    assert paths == {"/", "/posts/a/", "/posts/b/", "/css/style.css", "/js/app.js.gz"}
    home = next(page for page in report["pages"] if page["path"] == "/")
    assert home["deployed_sha256"] == hashlib.sha256(SITE["index.html"]).hexdigest()


def test_a_page_that_differs_from_the_build_is_named(edge: Edge, tmp_path: Path) -> None:
    deployed = build(tmp_path / "deployed", {**SITE, "posts/b/index.html": b"<html>b2</html>"})

    report = content.integrity(build_dir=str(deployed), configuration=edge.configuration)

    assert (report["matched"], report["integrity"], report["ok"]) == (4, 0.8, False)
    assert report["mismatched"] == ["/posts/b/"]
    page = next(page for page in report["pages"] if page["path"] == "/posts/b/")
    assert page["detail"] == "the edge serves different bytes than deployed"


def test_a_missing_page_and_a_missing_file_are_explained(edge: Edge, tmp_path: Path) -> None:
    deployed = build(tmp_path / "deployed", SITE)

    report = content.integrity(
        ["/", "/gone/", "/posts/a/"], build_dir=str(deployed), configuration=edge.configuration
    )

    assert report["mismatched"] == ["/gone/"]
    gone = next(page for page in report["pages"] if page["path"] == "/gone/")
    assert gone["detail"].startswith("not readable in the build directory")


def test_a_sample_spreads_over_the_site_and_keeps_the_home_page(edge: Edge) -> None:
    report = content.integrity(
        sample=2, build_dir=str(edge.served), configuration=edge.configuration
    )

    assert report["checked"] == 2
    assert "/" in {page["path"] for page in report["pages"]}


def test_a_build_dir_that_does_not_exist_is_a_configuration_error(edge: Edge) -> None:
    with pytest.raises(ActivityFailed, match="is not a directory"):
        content.integrity(build_dir="/no/such/dir", configuration=edge.configuration)
