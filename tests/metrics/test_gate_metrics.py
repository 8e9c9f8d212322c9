"""`chaos gate --metrics-port`: the gate's own metrics while it runs, checked by promtool."""

import socket
import subprocess
from pathlib import Path

import pytest

from tests.commands import CHAOS, chaos
from tests.metrics.conftest import gauge, get, promtool_check, wait_for

ROOT = Path(__file__).resolve().parents[2]
DISABLED = ROOT / "experiments" / "distribution-disabled.yaml"


@pytest.mark.slow
def test_the_gate_serves_its_metrics_while_it_runs(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    gate = subprocess.Popen(
        [*CHAOS, "gate", str(DISABLED), "--target", "sandbox", "--metrics-port", "0"],
        cwd=tmp_path, env={**clean_env, "CI": "true"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert gate.stdout is not None
        url = ""
        for line in gate.stdout:
            if line.startswith("Metrics: "):
                url = line.removeprefix("Metrics: ").strip()
                break
        assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics"), url
        running = wait_for(
            lambda: (text := get(url)) and gauge(text, "chaos_cdn_gate_runs_in_progress") == 1
            and text,
            60,
            "the gate to report its run in progress",
        )  # fmt: skip
        assert gauge(running, "chaos_cdn_gate_experiments") == 1
        assert promtool_check(running).returncode == 0, promtool_check(running).stdout
    finally:
        _, stderr = gate.communicate(timeout=120)
    assert gate.returncode == 0, stderr


def test_a_taken_metrics_port_is_one_line_and_exit_2_before_anything_runs(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = chaos(
            ["gate", str(DISABLED), "--target", "sandbox", "--metrics-port", str(port)],
            tmp_path,
            clean_env,
        )

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"127.0.0.1:{port}" in result.stderr and "Nothing was run." in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".chaos").exists()
