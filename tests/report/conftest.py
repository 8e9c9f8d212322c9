"""A real headless browser for the report tests: Debian's chromium, driven by Playwright.

No browser is downloaded: Playwright launches the `chromium` that `.ci/system-packages`
installs (apt); the tests fail saying so when it is missing. Every page is opened from a
``file://`` URL with each request recorded, anything that is not ``file://`` aborted, and
console errors, page errors and dialogs (an ``alert`` that slipped through) collected.
"""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, Request, Route, sync_playwright


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium", path="/usr/bin")
    if path is None:
        pytest.fail("chromium is not installed: run `bash .ci/system-packages` (apt).")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless chromium for one test module.

    Not for the session: Playwright's sync API keeps an event loop running in the main
    thread while it is open, and every later test that calls ``asyncio.run`` would fail.
    """
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


@dataclass
class Opened:
    """A report open in the browser, and everything it tried to do."""

    page: Page
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def assert_quiet(self) -> None:
        """Nothing left the file, nothing failed, nothing popped up."""
        assert [url for url in self.requests if not url.startswith("file://")] == []
        assert self.blocked == []
        assert self.console_errors == []
        assert self.page_errors == []
        assert self.dialogs == []


@contextmanager
def opened(browser: Browser, path: Path, width: int = 1100) -> Iterator[Opened]:
    """``path`` open in a fresh page (no cache, no state shared with other tests)."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    seen = Opened(page)

    def route(found: Route) -> None:
        if found.request.url.startswith("file://"):
            found.continue_()
        else:
            seen.blocked.append(found.request.url)
            found.abort()

    def dialog(found: Dialog) -> None:
        seen.dialogs.append(found.message)
        found.dismiss()

    def request(found: Request) -> None:
        seen.requests.append(found.url)

    page.on("request", request)
    page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
    page.on("dialog", dialog)
    page.route("**/*", route)
    try:
        page.goto(path.resolve().as_uri(), wait_until="load")
        yield seen
    finally:
        context.close()
