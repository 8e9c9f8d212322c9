"""`chaos sandbox env` as a shell uses it: `--hugo` for hugo.toml, `--unset` to clear it.

And the sandbox's distribution id, which stays the same for a sandbox started again from
the same directory (its state directory) so that a hugo.toml naming it needs no edit.
"""

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from chaos_runner.sandbox.state import (
    DISTRIBUTION_ID,
    SANDBOX_VARIABLES,
    SandboxInfo,
    stable_distribution_id,
)
from tests.commands import CHAOS, chaos
from tests.experiments.conftest import detached_sandbox  # noqa: F401  (a fixture)

#: A sandbox with everything `chaos sandbox env` can print.
FULL = SandboxInfo(
    pid=1,
    aws_endpoint_url="http://127.0.0.1:4566",
    edge_url="http://127.0.0.1:8480",
    website_url="http://127.0.0.1:9000",
    region="us-east-1",
    distribution_id="E0123456789ABC",
    bucket="www.chaos-demo.test",
    started_at=0.0,
    startup_seconds=0.0,
    admin_url="http://127.0.0.1:9001",
    failover_bucket="www.chaos-demo.test-failover",
    https_url="https://127.0.0.1:8443",
    ca_file="/state/sandbox-ca.pem",
    trust_bundle="/state/sandbox-trust.pem",
)


def shell(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in bash, with `chaos` meaning this interpreter's chaos command."""
    chaos_function = "chaos() { " + " ".join(CHAOS) + ' "$@"; }\n'
    return subprocess.run(
        ["bash", "-c", chaos_function + script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_distribution_id_is_stable_per_state_directory(tmp_path: Path) -> None:
    one, other = tmp_path / "one" / ".chaos", tmp_path / "other" / ".chaos"
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "one")

    ids = [stable_distribution_id(path) for path in (one, one, link / ".chaos", other)]

    assert all(DISTRIBUTION_ID.match(found) for found in ids), ids
    assert ids[0] == ids[1] == ids[2] != ids[3]


def test_unset_names_every_variable_env_can_set_and_needs_no_sandbox(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    result = chaos(["sandbox", "env", "--unset"], tmp_path, clean_env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"unset {name}" for name in SANDBOX_VARIABLES]
    assert set(FULL.environment()) == set(SANDBOX_VARIABLES)
    assert not (tmp_path / ".chaos" / "sandbox.json").exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--hugo", "--unset"], 2, "error: --hugo and --unset do not go together; pick one."),
        (["--hugo"], 1, "error: No sandbox is running from this directory."),
    ],
)
def test_env_refusals_are_one_line(
    args: list[str], code: int, message: str, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    result = chaos(["sandbox", "env", *args], tmp_path, clean_env)

    assert (result.returncode, result.stdout) == (code, "")
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert message in result.stderr


def test_the_hugo_block_is_the_deployment_table_of_a_hugo_toml() -> None:
    config = tomllib.loads(FULL.hugo_deployment())

    assert config == {
        "deployment": {
            "targets": [
                {
                    "name": "sandbox",
                    "URL": "s3://www.chaos-demo.test?region=us-east-1"
                    "&endpoint=http://127.0.0.1:4566&use_path_style=true",
                    "cloudFrontDistributionID": "E0123456789ABC",
                }
            ]
        }
    }


@pytest.mark.slow
def test_env_hugo_and_unset_in_a_shell(
    tmp_path: Path,
    clean_env: dict[str, str],
    detached_sandbox: dict[str, Any],  # noqa: F811
) -> None:
    state = detached_sandbox
    script = """
        export AWS_PROFILE=mine
        eval "$(chaos sandbox env)"
        env | grep -E "$OURS" | sort > during.txt
        chaos sandbox env --hugo > hugo.toml
        eval "$(chaos sandbox env --unset)"
        env | grep -E "$OURS" | sort
    """
    env = {k: v for k, v in clean_env.items() if k != "CHAOS_STATE_DIR"}  # the default .chaos
    env["OURS"] = "^(AWS_|CHAOS_|SSL_CERT_FILE=|REQUESTS_CA_BUNDLE=|CURL_CA_BUNDLE=)"
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        env.pop(name, None)  # the shell's own would be unset too (docs/sandbox-fidelity.md)

    result = shell(script, tmp_path, env)

    assert result.returncode == 0, result.stderr
    during = dict(line.split("=", 1) for line in (tmp_path / "during.txt").read_text().split())
    assert during["CHAOS_DISTRIBUTION_ID"] == state["distribution_id"]
    assert during["CHAOS_SANDBOX_ADMIN_URL"] == state["admin_url"]
    assert set(during) == {*SANDBOX_VARIABLES, "AWS_PROFILE"}
    # What the sandbox set is gone; what the shell had of its own stays.
    assert result.stdout.split() == ["AWS_PROFILE=mine"]
    target = tomllib.loads((tmp_path / "hugo.toml").read_text())["deployment"]["targets"][0]
    assert target["cloudFrontDistributionID"] == state["distribution_id"]
    assert f"endpoint={state['aws_endpoint_url']}&" in target["URL"]
    assert state["distribution_id"] == stable_distribution_id(tmp_path / ".chaos")


@pytest.mark.slow
def test_up_twice_from_one_directory_gives_one_distribution_id(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    ids = []
    for _ in range(2):
        up = chaos(
            ["sandbox", "up", "--detach", "--aws-port", "0", "--edge-port", "0", "--pops", "1"],
            tmp_path,
            clean_env,
        )
        assert up.returncode == 0, up.stderr
        try:
            state = json.loads((tmp_path / ".chaos" / "sandbox.json").read_text())
            status = json.loads(chaos(["sandbox", "status", "--json"], tmp_path, clean_env).stdout)
        finally:
            down = chaos(["sandbox", "down"], tmp_path, clean_env)
        assert down.returncode == 0, down.stderr
        assert status["CHAOS_DISTRIBUTION_ID"] == state["distribution_id"]
        ids.append(state["distribution_id"])

    assert ids[0] == ids[1] == stable_distribution_id(Path(clean_env["CHAOS_STATE_DIR"]))
    assert f"distribution: {ids[0]}" in up.stdout
