"""Kill -9 the runner at every crash point of every reversible fault; `chaos rollback` must
bring the whole target back to the digest it had before.

Each case runs a one-action experiment with `chaos run` against a sandbox started for the
module, with CHAOS_CRASHPOINT naming where the runner kills itself (SIGKILL: no control,
no rollback, no cleanup runs), then `chaos rollback` in a fresh process.
"""

import json
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos_runner.digest import target_state
from chaos_runner.target import Target
from tests.commands import CHAOS
from tests.experiments.conftest import module_sandbox

TWO_PAGES = "posts/origin-outage/index.html,about/index.html"

# (module, function, arguments, crash points)
_CONFIG = {"deploy_timeout": 30}
_TWO_STEPS = ["after-ledger-open", "after-inject"]
_PER_KEY = ["after-ledger-open", "after-step-1", "after-step-2", "after-inject"]
CASES: list[tuple[str, str, dict[str, Any], list[str]]] = [
    ("s3", "deny_origin_reads", {}, _TWO_STEPS),
    ("objects", "delete_objects", {"keys": TWO_PAGES}, _PER_KEY),
    ("objects", "corrupt_objects", {"keys": TWO_PAGES, "preset": "truncated"}, _PER_KEY),
    ("cloudfront", "disable_distribution", _CONFIG, _TWO_STEPS),
    ("cloudfront", "blackhole_origin", _CONFIG, _TWO_STEPS),
    ("cloudfront", "raise_error_caching_ttl", _CONFIG, _TWO_STEPS),
    ("cloudfront", "lower_cache_ttls", _CONFIG, _TWO_STEPS),
    ("cloudfront", "fail_over_origin", _CONFIG, _TWO_STEPS),
    ("origin_link", "add_origin_errors", {"share": 0.5}, _TWO_STEPS),
]
#: Modules whose faults share one set of crash points.
CRASHPOINT_PREFIX = {"s3": "deny_origin_reads", "origin_link": "origin_link"}
KILL_POINTS = [
    pytest.param(module, function, arguments, point, id=f"{function}:{point}")
    for module, function, arguments, points in CASES
    for point in points
]


@pytest.fixture(scope="module")
def sandbox_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A sandbox process for the module, and the environment that targets it."""
    with module_sandbox(tmp_path_factory.mktemp("crash-sandbox")) as env:
        yield env


def one_fault_experiment(path: Path, module: str, function: str, arguments: dict[str, Any]) -> Path:
    experiment = {
        "version": "1.0.0",
        "title": f"{function} then a crash",
        "description": "A runner killed in the middle of a fault.",
        "controls": [
            {
                "name": "safety",
                "provider": {"type": "python", "module": "chaos_runner.controls.safety"},
            }
        ],
        "method": [
            {
                "type": "action",
                "name": function,
                "provider": {
                    "type": "python",
                    "module": f"chaos_runner.faults.{module}",
                    "func": function,
                    "arguments": arguments,
                },
            }
        ],
    }
    path.write_text(yaml.safe_dump(experiment))
    return path


@pytest.mark.parametrize(("module", "function", "arguments", "point"), KILL_POINTS)
def test_a_kill_at_any_point_loses_nothing_after_chaos_rollback(
    module: str,
    function: str,
    arguments: dict[str, Any],
    point: str,
    sandbox_environment: dict[str, str],
    tmp_path: Path,
) -> None:
    env = {
        **sandbox_environment,
        "CHAOS_LEDGER": str(tmp_path / "ledger.jsonl"),
        "CHAOS_CRASHPOINT": f"{CRASHPOINT_PREFIX.get(module, function)}:{point}",
    }
    target = Target.resolve(environ=env)
    before = target_state(target)
    experiment = one_fault_experiment(tmp_path / "crash.yaml", module, function, arguments)

    run = subprocess.run(
        [*CHAOS, "run", str(experiment), "--journal-path", str(tmp_path / "journal.json")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]

    env.pop("CHAOS_CRASHPOINT")
    rollback = subprocess.run(
        [*CHAOS, "rollback"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert "Every fault is restored." in rollback.stdout
    assert target_state(target) == before
    assert origin_link_faults(env) == []


def origin_link_faults(env: dict[str, str]) -> list[Any]:
    with urllib.request.urlopen(f"{env['CHAOS_SANDBOX_ADMIN_URL']}/origin-link/faults") as answer:
        faults: list[Any] = json.loads(answer.read())["faults"]
    return faults
