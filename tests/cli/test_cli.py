"""The `chaos` subcommands as a user runs them: real processes, real exit codes."""

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from chaos_runner.ledger import EntryState, Ledger, LedgerEntry, TargetRef
from chaos_runner.sandbox.process import pid_alive
from tests.commands import chaos
from tests.servers import serving

COMMANDS = [
    ["sandbox"],
    ["sandbox", "up"],
    ["sandbox", "down"],
    ["sandbox", "status"],
    ["sandbox", "env"],
    ["rollback"],
    ["gate"],
    ["verdict"],
    ["halt"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_exits_0(command: list[str], tmp_path: Path, clean_env: dict[str, str]) -> None:
    result = chaos([*command, "--help"], tmp_path, clean_env)

    assert result.returncode == 0, result.stderr
    assert f"Usage: chaos {' '.join(command)}" in result.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_usage_error_exits_2_without_traceback(
    command: list[str], tmp_path: Path, clean_env: dict[str, str]
) -> None:
    result = chaos([*command, "--no-such-option"], tmp_path, clean_env)

    assert result.returncode == 2
    assert "No such option" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_bad_port_is_a_usage_error(tmp_path: Path, clean_env: dict[str, str]) -> None:
    result = chaos(["sandbox", "up", "--edge-port", "70000"], tmp_path, clean_env)

    assert result.returncode == 2
    assert "70000 is not a TCP port" in result.stderr


def test_loading_the_plugin_imports_nothing_heavy(tmp_path: Path) -> None:
    probe = (
        "import sys, chaostoolkit.cli; "
        "print(sorted(m for m in ('boto3', 'botocore', 'aiohttp', 'moto', 'typer') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    )

    assert result.stdout.strip() == "[]"


def test_without_a_sandbox_status_and_env_say_how_to_start_one(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    for command in (["sandbox", "status"], ["sandbox", "env"]):
        result = chaos(command, tmp_path, clean_env)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            "error: No sandbox is running from this directory. Start one with "
            "`chaos sandbox up --detach`."
        ]
    down = chaos(["sandbox", "down"], tmp_path, clean_env)
    assert down.returncode == 0
    assert "No sandbox is running" in down.stdout


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port held by a listening socket for the test."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.mark.parametrize("which", ["--edge-port", "--aws-port"])
@pytest.mark.parametrize("detach", [True, False], ids=["detached", "foreground"])
def test_a_port_in_use_is_one_clear_line_and_nothing_is_left_running(
    which: str, detach: bool, busy_port: int, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    other = "--aws-port" if which == "--edge-port" else "--edge-port"
    args = ["sandbox", "up", which, str(busy_port), other, "0"]
    result = chaos([*args, "--detach"] if detach else args, tmp_path, clean_env)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert f"127.0.0.1:{busy_port}" in errors[0]
    assert "in use" in errors[0]
    assert not (tmp_path / ".chaos" / "sandbox.json").exists()


def test_sandbox_up_status_env_down_leave_no_process_behind(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    up = chaos(
        ["sandbox", "up", "--detach", "--aws-port", "0", "--edge-port", "0"], tmp_path, clean_env
    )
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / ".chaos" / "sandbox.json").read_text())
    try:
        assert f"site (edge):  {state['edge_url']}/" in up.stdout

        status = chaos(["sandbox", "status", "--json"], tmp_path, clean_env)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["site_answer"].startswith("200")

        env = chaos(["sandbox", "env"], tmp_path, clean_env)
        exports = dict(
            line.removeprefix("export ").split("=", 1) for line in env.stdout.splitlines()
        )
        assert exports["CHAOS_SITE_URL"] == state["edge_url"]
        assert exports["AWS_ENDPOINT_URL"] == state["aws_endpoint_url"]
        assert exports["CHAOS_DISTRIBUTION_ID"] == state["distribution_id"]
        assert {
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "CHAOS_ORIGIN_BUCKET",
        } <= set(exports)

        again = chaos(["sandbox", "up", "--detach"], tmp_path, clean_env)
        assert again.returncode == 1
        assert "already running" in again.stderr
    finally:
        down = chaos(["sandbox", "down"], tmp_path, clean_env)

    assert down.returncode == 0
    assert f"Sandbox stopped (pid {state['pid']})" in down.stdout
    assert not pid_alive(state["pid"])
    assert not (tmp_path / ".chaos" / "sandbox.json").exists()
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):  # nothing listens
        probe.connect(("127.0.0.1", int(state["edge_url"].rsplit(":", 1)[1])))


def test_a_stale_state_file_is_cleaned_up(tmp_path: Path, clean_env: dict[str, str]) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    state_dir = tmp_path / ".chaos"
    state_dir.mkdir()
    (state_dir / "sandbox.json").write_text(
        json.dumps(
            {
                "pid": int(dead.stdout),
                "aws_endpoint_url": "http://127.0.0.1:1",
                "edge_url": "http://127.0.0.1:2",
                "website_url": "http://127.0.0.1:3",
                "region": "us-east-1",
                "distribution_id": "E1",
                "bucket": "b",
                "started_at": 0.0,
                "startup_seconds": 0.0,
            }
        )
    )

    result = chaos(["sandbox", "status"], tmp_path, clean_env)

    assert result.returncode == 1
    assert not (state_dir / "sandbox.json").exists()


async def broken_aws(request: web.Request) -> web.Response:
    """Every AWS call fails as an overloaded service does."""
    return web.Response(
        status=503,
        content_type="application/xml",
        text="<Error><Code>SlowDown</Code><Message>Please reduce your request rate."
        "</Message></Error>",
    )


def test_rollback_exits_4_and_keeps_the_entry_when_aws_fails(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    """A target that answers, but with errors: the entry stays open for the next try.

    (A loopback endpoint where nothing listens is a sandbox that is gone: see
    tests/experiments/test_rollback_edges.py.)
    """
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", broken_aws)
    with serving(app) as unreachable:
        result, ledger, entry = _rollback_one_entry(unreachable, tmp_path, clean_env)

    assert result.returncode == 4, result.stdout + result.stderr
    assert f"{entry.id}  OPEN: restore failed:" in result.stdout
    assert "policy of bucket b" in result.stdout
    assert "run `chaos rollback` again" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert [e.state for e in ledger.entries()] == [EntryState.OPEN]  # kept for the next try


def _rollback_one_entry(
    unreachable: str, tmp_path: Path, clean_env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], Ledger, LedgerEntry]:
    ledger = Ledger(tmp_path / ".chaos" / "ledger.jsonl")
    entry = ledger.open(
        "bucket_policy",
        TargetRef(
            key=f"{unreachable}|E1|b",
            label="sandbox: gone",
            endpoint_url=unreachable,
            region="us-east-1",
        ),
        {"bucket": "b", "prior_policy": None, "injected_policy": "{}"},
        "origin outage: bucket policy of b denies s3:GetObject",
    )
    return chaos(["rollback"], tmp_path, clean_env, timeout=120), ledger, entry
