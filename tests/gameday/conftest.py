"""Fixtures of the game day tests: the report tests' headless Chromium (module-scoped)."""

from tests.report.conftest import browser  # noqa: F401  (a fixture, used by name)
