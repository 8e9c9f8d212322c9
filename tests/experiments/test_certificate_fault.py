"""The sandbox's HTTPS as a user's shell meets it, and the expired-certificate fault when the
runner that injected it is killed.

One sandbox process for the module (`chaos sandbox up --detach`, its state directory the
module's own): a shell that ran `eval "$(chaos sandbox env)"` trusts its HTTPS (curl and
Python get 200) and one without it does not; a `chaos run` killed with SIGKILL right
after it made the edge serve an expired certificate leaves it served, and `chaos rollback`
in a fresh process puts the valid one back.
"""

import json
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos_runner.faults.tls import CRASHPOINTS
from chaos_runner.sandbox.state import TRUST_VARIABLES
from probes import tls
from tests.cli.test_sandbox_env import shell
from tests.commands import CHAOS
from tests.experiments.conftest import module_sandbox
from tests.experiments.test_crash_recovery import one_fault_experiment

pytestmark = pytest.mark.slow

#: A Python client that trusts what the environment says (SSL_CERT_FILE) and no more.
PYTHON_GET = (
    "import os, urllib.request as u; "
    'print("python", u.urlopen(os.environ["CHAOS_SITE_HTTPS_URL"] + "/").status)'
)


@pytest.fixture(scope="module")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A sandbox process for the module, and the environment that targets it."""
    with module_sandbox(tmp_path_factory.mktemp("tls-sandbox")) as env:
        yield env


def state_of(env: dict[str, str]) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((Path(env["CHAOS_STATE_DIR"]) / "sandbox.json").read_text())
    return state


def test_a_shell_with_the_sandbox_env_trusts_its_https_and_one_without_does_not(
    sandbox_process: dict[str, str], tmp_path: Path
) -> None:
    state = state_of(sandbox_process)
    script = f"""
        curl -sS -o /dev/null "{state["https_url"]}/" 2> /dev/null; echo "before: curl $?"
        eval "$(chaos sandbox env)"
        curl -sS -o /dev/null -w 'curl %{{http_code}}\\n' "$CHAOS_SITE_HTTPS_URL/"
        "{sys.executable}" -c {shlex.quote(PYTHON_GET)}
        eval "$(chaos sandbox env --unset)"
        curl -sS -o /dev/null "{state["https_url"]}/" 2> /dev/null; echo "after: curl $?"
        env | grep -cE '^(SSL_CERT_FILE|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|CHAOS_SITE_HTTPS_URL)='
    """
    env = {
        k: v
        for k, v in sandbox_process.items()
        if not k.startswith(("AWS_", "CHAOS_")) and k not in TRUST_VARIABLES
    }
    env["CHAOS_STATE_DIR"] = sandbox_process["CHAOS_STATE_DIR"]

    result = shell(script, tmp_path, env)

    # curl exits 60 when the peer's certificate cannot be authenticated with known CAs.
    assert result.stdout.split("\n")[:-1] == [
        "before: curl 60",
        "curl 200",
        "python 200",
        "after: curl 60",
        "0",
    ], result.stderr
    ca = Path(state["ca_file"])
    assert ca.parent == Path(sandbox_process["CHAOS_STATE_DIR"])
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("point", [point.split(":")[1] for point in CRASHPOINTS])
def test_chaos_rollback_restores_the_certificate_after_the_runner_is_killed(
    point: str, sandbox_process: dict[str, str], tmp_path: Path
) -> None:
    state = state_of(sandbox_process)
    env = {
        **sandbox_process,
        "CHAOS_LEDGER": str(tmp_path / "ledger.jsonl"),
        "CHAOS_CRASHPOINT": f"edge_certificate:{point}",
    }
    experiment = one_fault_experiment(
        tmp_path / "crash.yaml", "tls", "serve_expired_certificate", {"expired_days": 2}
    )

    run = subprocess.run(
        [*CHAOS, "run", str(experiment), "--journal-path", str(tmp_path / "journal.json")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    served = tls.certificate(url=state["https_url"], ca_file=state["ca_file"])
    env.pop("CHAOS_CRASHPOINT")
    rollback = subprocess.run(
        [*CHAOS, "rollback"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    after = tls.certificate(url=state["https_url"], ca_file=state["ca_file"])

    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    assert served["expired"] is (point == "after-inject")
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert "Every fault is restored." in rollback.stdout
    assert after["ok"], after["failures"]
    assert not after["expired"]
