"""The pages an experiment uses, taken from the site itself unless the user names them.

Experiments name pages by the role they play, not by the demo site's paths:

``@home``
    ``/``.
``@cached``
    the home page and one more page: the steady state reads them and the method warms
    them, so they are in the edge caches when a fault starts.
``@uncached``
    two pages that no other role uses: the experiment never requests them before its
    fault, so "not in cache" means what it says (unless readers of a real site requested
    them: the probes record ``X-Cache``, and experiments say what that changes).
``@victim``
    one more page, the one an object fault deletes or corrupts (its object key is the page
    path plus ``index.html`` for a pretty URL).
``@asset``
    a stylesheet (or script) the home page links to, on the site's own host.

Where the pages come from, first found wins:

1. the experiment's configuration (``cached_pages``, ``uncached_pages``, ``victim_page``,
   ``asset``) or the environment (``CHAOS_CACHED_PAGES``, ``CHAOS_UNCACHED_PAGES``,
   ``CHAOS_VICTIM_PAGE``, ``CHAOS_ASSET``): a list, or paths separated by commas;
2. the site's ``/sitemap.xml`` (Hugo writes one; a sitemap index is followed), read through
   the site's address; only the path of each ``<loc>`` is kept, so a staging site whose
   sitemap names the production host works;
3. the origin bucket's listing (keys ending in ``index.html`` are pages).

The roles not named by the user are filled from the site's other pages, in a fixed order
that takes one page of each section in turn (``/about/``, then ``/docs/a/``, then
``/posts/x/``...), leaf pages before section lists, so a run and its rerun use the same
pages and the roles never share one. Within a run the site is read once, before the first
fault (the steady state asks first), and reused: a fault cannot hide the sitemap.
"""

import logging
import os
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from xml.etree import ElementTree

from chaos_runner import run
from chaos_runner._errors import ChaosRunnerError, ConfigurationError
from chaos_runner.target import Target

__all__ = [
    "ROLES",
    "SitePages",
    "key_of",
    "path_of",
    "resolve",
    "site_pages",
]

logger = logging.getLogger("chaostoolkit")

#: role -> (configuration key, environment variable, how many pages it takes)
ROLES: dict[str, tuple[str, str, int]] = {
    "cached": ("cached_pages", "CHAOS_CACHED_PAGES", 1),
    "uncached": ("uncached_pages", "CHAOS_UNCACHED_PAGES", 2),
    "victim": ("victim_page", "CHAOS_VICTIM_PAGE", 1),
    "asset": ("asset", "CHAOS_ASSET", 1),
}
_SELECTOR = re.compile(r"@([a-z]+)")
_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
#: Bounds on reading the site: bytes per document, child sitemaps, pages kept, seconds.
_MAX_BYTES = 5_000_000
_MAX_CHILD_SITEMAPS = 10
_MAX_PAGES = 5_000
_TIMEOUT_S = 10.0
_STYLESHEET = re.compile(
    r"<link\b[^>]*?\brel=[\"']?stylesheet[\"']?[^>]*?\bhref=[\"']?([^\"' >]+)"
    r"|<link\b[^>]*?\bhref=[\"']?([^\"' >]+)[\"']?[^>]*?\brel=[\"']?stylesheet",
    re.IGNORECASE,
)
_SCRIPT = re.compile(r"<script\b[^>]*?\bsrc=[\"']?([^\"' >]+)", re.IGNORECASE)


def key_of(path: str) -> str:
    """The object key that serves ``path``: ``/posts/x/`` -> ``posts/x/index.html``."""
    key = unquote(path.split("?", 1)[0]).lstrip("/")
    return key + "index.html" if key == "" or key.endswith("/") else key


def path_of(key: str) -> str:
    """The page path an object key serves: ``posts/x/index.html`` -> ``/posts/x/``."""
    if key == "index.html" or key.endswith("/index.html"):
        key = key.removesuffix("index.html")
    return "/" + key


@dataclass(frozen=True, slots=True)
class SitePages:
    """The site's pages in the order roles take them, and where they were read."""

    source: str
    #: Every page but the home page, in the order roles are filled.
    pages: tuple[str, ...]
    #: Stylesheets and scripts on the site's own host, best first.
    assets: tuple[str, ...] = ()
    #: Roles the user named, already resolved.
    named: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def role(self, name: str) -> list[str]:
        """The pages of role ``name`` (see the module doc); raises when the site lacks them."""
        if name == "home":
            return ["/"]
        if name not in ROLES:
            raise ConfigurationError(
                f"@{name} is not a page role; use one of @home, "
                + ", ".join(f"@{role}" for role in ROLES)
                + "."
            )
        if name in self.named:
            return list(self.named[name])
        if name == "asset":
            return list(self.assets[:1])
        taken = {page for pages in self.named.values() for page in pages}
        free = [page for page in self.pages if page not in taken]
        start = 0
        for role in ("cached", "uncached", "victim"):
            count = ROLES[role][2]
            if role in self.named:
                continue
            if role == name:
                chosen = free[start : start + count]
                if len(chosen) < count:
                    raise self._too_few(name, len(free))
                return ["/", *chosen] if role == "cached" else chosen
            start += count
        raise AssertionError(name)  # pragma: no cover - every role is in the loop

    def _too_few(self, name: str, free: int) -> ConfigurationError:
        configuration_key, variable, _ = ROLES[name]
        return ConfigurationError(
            f"The site has too few pages for @{name}: {self.source} lists {free} page(s) "
            "besides the home page that no other role uses, and the experiments take 4 "
            f"(1 cached, 2 uncached, 1 victim). Name the page(s) with {variable} (or "
            f"`{configuration_key}` in the experiment's configuration)."
        )

    def describe(self) -> str:
        """One line for the run's log."""
        roles = []
        for name in ROLES:
            try:
                roles.append(f"{name} {', '.join(self.role(name)) or '(none)'}")
            except ConfigurationError:
                roles.append(f"{name} (too few pages)")
        return f"Pages ({self.source}): " + "; ".join(roles)


def resolve(spec: Any, configuration: Mapping[str, Any] | None) -> list[str]:
    """Paths from a spec: a path, ``"/a/, /b/"``, ``"@role"``, or a list of any of these.

    The site is read only when a role is named (see :func:`site_pages`).
    """
    items: Iterable[Any]
    if isinstance(spec, str):
        items = [part.strip() for part in spec.split(",")] if "," in spec else [spec.strip()]
    elif isinstance(spec, (list, tuple)):
        items = spec
    else:
        return spec  # type: ignore[no-any-return]  # the caller's checks name the problem
    paths: list[str] = []
    for item in items:
        if isinstance(item, (list, tuple)):
            paths += resolve(item, configuration)
        elif isinstance(item, str) and (found := _SELECTOR.fullmatch(item.strip())):
            paths += site_pages(configuration).role(found.group(1))
        elif item != "":
            paths.append(item)
    return paths


# Global state, in one labelled place: reading the site once per run (the pages are kept
# in the run context), one thread at a time.
_reading = threading.Lock()


def site_pages(configuration: Mapping[str, Any] | None) -> SitePages:
    """The site's pages: read once per run, then kept in the run context."""
    context = run.current()
    with _reading:
        if context is not None and isinstance(context.site_pages, SitePages):
            return context.site_pages
        pages = _read_site(configuration)
        if context is not None:
            context.site_pages = pages
            logger.info(pages.describe())
        return pages


def _read_site(configuration: Mapping[str, Any] | None) -> SitePages:
    named = _named_roles(configuration)
    needed = {"cached", "uncached", "victim"} - set(named)
    target = Target.resolve(configuration)
    site = target.site_url.rstrip("/")
    pages: list[str] = []
    source = "the configuration"
    problems: list[str] = []
    if needed:
        try:
            pages, source = _from_sitemap(site), f"{site}/sitemap.xml"
        except ConfigurationError as error:
            problems.append(str(error))
        if not pages:
            try:
                pages = _from_bucket(target)
                source = f"the listing of bucket {target.origin_bucket}"
            except ChaosRunnerError as error:  # not set, or AWS refused the listing
                problems.append(str(error))
        if not pages:
            raise ConfigurationError(
                "Could not find the site's pages to choose the experiment's pages from: "
                + " ".join(problems)
                + " Name them with CHAOS_CACHED_PAGES, CHAOS_UNCACHED_PAGES and "
                "CHAOS_VICTIM_PAGE (paths separated by commas)."
            )
    assets: list[str] = []
    if "asset" not in named:
        assets = _assets(site)
    return SitePages(source, tuple(_in_role_order(pages)), tuple(assets), named)


def _named_roles(configuration: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    named: dict[str, tuple[str, ...]] = {}
    for role, (key, variable, _) in ROLES.items():
        value = (configuration or {}).get(key) or os.environ.get(variable, "")
        if isinstance(value, str) and (not value.strip() or _SELECTOR.fullmatch(value.strip())):
            continue  # unset, or the role itself ("@cached"): filled from the site
        # Named pages are paths: a role in them would read the site while it is being read.
        paths = _listed(value)
        for path in paths:
            if not isinstance(path, str) or not path.startswith("/"):
                raise ConfigurationError(
                    f"{variable} (or `{key}`) must hold paths starting with '/', separated "
                    f"by commas, such as '/about/,/docs/'; got {value!r}."
                )
        named[role] = tuple(dict.fromkeys(paths))
    return named


def _listed(value: Any) -> list[Any]:
    """The items of a named value: a list as it is, a string split at commas."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _fetch(url: str) -> bytes:
    """GET ``url`` directly (no proxy, as the probes read the site), bounded in size and time."""
    request = urllib.request.Request(url, headers={"User-Agent": "chaostoolkit-cdn"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=_TIMEOUT_S) as answer:
            body: bytes = answer.read(_MAX_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise ConfigurationError(f"{url} answered {error.code}.") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ConfigurationError(f"{url} could not be read ({reason}).") from None
    if len(body) > _MAX_BYTES:
        raise ConfigurationError(f"{url} is larger than {_MAX_BYTES // 1_000_000} MB.")
    return body


def _from_sitemap(site: str) -> list[str]:
    """Page paths from the sitemap (following a sitemap index); [] when it lists none."""
    documents = [f"{site}/sitemap.xml"]
    pages: list[str] = []
    read = 0
    while documents and read <= _MAX_CHILD_SITEMAPS and len(pages) < _MAX_PAGES:
        url = documents.pop(0)
        read += 1
        try:
            root = ElementTree.fromstring(_fetch(url))
        except ElementTree.ParseError as error:
            raise ConfigurationError(f"{url} is not XML ({error}).") from None
        locations = [loc.text.strip() for loc in root.iter(f"{_SITEMAP_NS}loc") if loc.text]
        if root.tag == f"{_SITEMAP_NS}sitemapindex":
            documents += [site + _path(loc) for loc in locations]  # read from this site
        else:
            pages += [_path(loc) for loc in locations]
    return list(dict.fromkeys(page for page in pages if page != "/"))[:_MAX_PAGES]


def _path(location: str) -> str:
    """The path of a sitemap location (its host may be the production one)."""
    parts = urlsplit(location)
    path = parts.path or "/"
    return path if path.startswith("/") else "/" + path


def _from_bucket(target: Target) -> list[str]:
    from chaos_runner.aws import aws_errors, s3_client

    if not target.origin_bucket:
        raise ConfigurationError("CHAOS_ORIGIN_BUCKET is not set, so the bucket was not listed.")
    s3 = s3_client(target.region, target.endpoint_url)
    with aws_errors("ListObjectsV2", f"list the objects of bucket {target.origin_bucket}"):
        answer = s3.list_objects_v2(Bucket=target.origin_bucket, MaxKeys=1000)
    keys = [item["Key"] for item in answer.get("Contents", [])]
    return [path_of(key) for key in keys if key.endswith("index.html") and key != "index.html"]


def _assets(site: str) -> list[str]:
    """Stylesheets, then scripts, the home page links to on the site's own host."""
    try:
        home = _fetch(site + "/").decode("utf-8", "replace")
    except ConfigurationError:
        return []
    found = [a or b for a, b in _STYLESHEET.findall(home)] + _SCRIPT.findall(home)
    assets = []
    for reference in found:
        absolute = urljoin(site + "/", reference)
        if absolute.startswith(site + "/"):
            assets.append(urlsplit(absolute).path)
    return list(dict.fromkeys(assets))


def _in_role_order(pages: list[str]) -> list[str]:
    """One page of each section in turn (sections by name), leaves before section lists.

    A section list is a page other pages are below (``/posts/`` for ``/posts/x/``).
    """
    unique = set(pages)
    lists = {page for page in unique if any(o != page and o.startswith(page) for o in unique)}
    sections: dict[str, list[str]] = {}
    for page in sorted(unique, key=lambda p: (p in lists, p)):
        segment = page.strip("/").split("/", 1)[0]
        sections.setdefault(segment, []).append(page)
    order: list[str] = []
    queues = [sections[name] for name in sorted(sections)]
    while any(queues):
        for queue in queues:
            if queue:
                order.append(queue.pop(0))
    return order
