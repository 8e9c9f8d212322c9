"""Shared fixtures: a real sandbox (moto + edge + website endpoint) on loopback."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Every fault registers its restorer on import, as the `chaos` command and the controls
# import them: tests that write ledger entries by hand need the same registry.
import chaos_runner.faults  # noqa: F401
from chaos_runner.sandbox.state import SandboxInfo
from chaos_runner.sandbox.testing import InProcessSandbox, running_sandbox


@pytest.fixture(scope="session")
def sandbox_stack() -> Iterator[InProcessSandbox]:
    """One in-process sandbox for the session. Tests that change it put it back."""
    with running_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(sandbox_stack: InProcessSandbox) -> SandboxInfo:
    """Where the session's sandbox is."""
    return sandbox_stack.info


@pytest.fixture
def sandbox_env(
    sandbox: SandboxInfo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> SandboxInfo:
    """The process environment pointed at the sandbox, with a ledger of the test's own."""
    for name, value in sandbox.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CHAOS_STATE_DIR", str(tmp_path / ".chaos"))
    monkeypatch.delenv("CHAOS_LEDGER", raising=False)
    monkeypatch.delenv("CHAOS_RUN_ID", raising=False)
    return sandbox


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """An environment for subprocesses: no CHAOS_*/AWS_* target, state in tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "AWS_"))}
    env["CHAOS_STATE_DIR"] = str(tmp_path / ".chaos")
    return env
