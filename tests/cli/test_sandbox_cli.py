"""`chaos sandbox up` with POPs, a propagation delay and the admin API, as a user runs it."""

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from chaos_runner.sandbox.process import pid_alive
from tests.commands import chaos


def call(url: str, method: str = "GET", body: object = None) -> tuple[int, bytes, str]:
    """Status, body and X-Amz-Cf-Pop of one request (HTTP errors included)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("X-Amz-Cf-Pop", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("X-Amz-Cf-Pop", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--propagation-delay", "soon"],
            "error: --propagation-delay must be a duration such as 30s, 500ms, 2m or 1.5 "
            "(seconds); got 'soon'.",
        ),
        (["--propagation-delay", "-1s"], "got '-1s'."),
        (["--propagation-delay", "2h"], "got '2h'."),
        (["--propagation-delay", "90m"], "--propagation-delay is at most 3600 s"),
        (["--pops", "0"], "error: --pops must be between 1 and 16; got 0."),
        (["--admin-port", "70000"], "error: --admin-port 70000 is not a TCP port"),
        (["--edge-port", "65535", "--pops", "2"], "leaves no port for POP 2"),
    ],
)
def test_bad_values_are_one_line_usage_errors(
    args: list[str], message: str, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    result = chaos(["sandbox", "up", "--detach", *args], tmp_path, clean_env)

    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert message in result.stderr
    assert not (tmp_path / ".chaos" / "sandbox.json").exists()


def test_help_names_the_new_options(tmp_path: Path, clean_env: dict[str, str]) -> None:
    result = chaos(["sandbox", "up", "--help"], tmp_path, clean_env)

    assert result.returncode == 0
    for option in ("--pops", "--propagation-delay", "--admin-port"):
        assert option in result.stdout


@pytest.mark.slow
def test_up_with_pops_and_delay_then_status_env_admin_api_and_down(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    up = chaos(
        [
            "sandbox", "up", "--detach", "--aws-port", "0", "--edge-port", "0",
            "--pops", "3", "--propagation-delay", "500ms",
        ],
        tmp_path,
        clean_env,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / ".chaos" / "sandbox.json").read_text())
    try:
        status = chaos(["sandbox", "status"], tmp_path, clean_env)
        status_json = json.loads(chaos(["sandbox", "status", "--json"], tmp_path, clean_env).stdout)
        env = chaos(["sandbox", "env"], tmp_path, clean_env)
        exports = dict(
            line.removeprefix("export ").split("=", 1) for line in env.stdout.splitlines()
        )
        health = json.loads(call(state["admin_url"] + "/health")[1])
        pops = [call(url + "/about/")[2] for url in state["pop_urls"].values()]
        fault_url = state["admin_url"] + "/origin-link/faults/cli-test"
        put = call(fault_url, "PUT", {"kind": "error", "status": 503})
        during = call(state["edge_url"] + "/never-cached-before/")[0]
        deleted = call(fault_url, "DELETE")[0]
        after = call(state["edge_url"] + "/never-cached-either/")[0]
    finally:
        down = chaos(["sandbox", "down"], tmp_path, clean_env)

    assert state["propagation_delay"] == 0.5
    assert list(state["pop_urls"]) == ["SBX1", "SBX2", "SBX3"]
    assert state["pop_urls"]["SBX1"] == state["edge_url"]
    assert "propagation:  500 ms per CloudFront change" in status.stdout
    assert "POPs:         SBX1 " in status.stdout
    assert f"admin API:    {state['admin_url']}" in status.stdout
    assert status_json["propagation_delay"] == 0.5
    assert status_json["pop_urls"] == state["pop_urls"]
    assert exports["CHAOS_SANDBOX_ADMIN_URL"] == state["admin_url"]
    assert exports["CHAOS_FAILOVER_BUCKET"] == "www.chaos-demo.test-failover"
    assert (health["pid"], health["edge_url"]) == (state["pid"], state["edge_url"])
    assert pops == ["SBX1", "SBX2", "SBX3"]
    assert put[0] == 200
    assert (during, deleted, after) == (503, 204, 404)
    assert down.returncode == 0
    assert not pid_alive(state["pid"])
