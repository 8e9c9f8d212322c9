"""Fixtures of the CLI tests: the experiment tests' detached sandbox, for real-target gates."""

from tests.experiments.conftest import detached_sandbox  # noqa: F401 (a fixture, shared)
