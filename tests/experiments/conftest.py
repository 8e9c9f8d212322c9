"""Fixtures of the experiment tests: a sandbox started as a user starts one."""

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.commands import CHAOS, chaos


@pytest.fixture
def detached_sandbox(tmp_path: Path, clean_env: dict[str, str]) -> Any:
    """A sandbox started with `chaos sandbox up --detach` in tmp_path; stopped after."""
    up = chaos(
        ["sandbox", "up", "--detach", "--aws-port", "0", "--edge-port", "0"], tmp_path, clean_env
    )
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / ".chaos" / "sandbox.json").read_text())
    yield state
    chaos(["sandbox", "down"], tmp_path, clean_env)


def bucket_policy(state: dict[str, Any]) -> str:
    s3 = boto3.client(
        "s3",
        endpoint_url=state["aws_endpoint_url"],
        region_name=state["region"],
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox-secret",
    )
    policy: str = s3.get_bucket_policy(Bucket=state["bucket"])["Policy"]
    return policy


@contextmanager
def module_sandbox(home: Path) -> Iterator[dict[str, str]]:
    """A sandbox process started in ``home`` (`chaos sandbox up --detach`), and the
    environment that targets it as `chaos sandbox env` would; stopped at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "AWS_"))}
    env["CHAOS_STATE_DIR"] = str(home)
    up = subprocess.run(
        [*CHAOS, "sandbox", "up", "--detach", "--aws-port", "0", "--edge-port", "0"],
        cwd=home, env=env, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    state = json.loads((home / "sandbox.json").read_text())
    env.update(
        CHAOS_SANDBOX_ADMIN_URL=state["admin_url"],
        AWS_ENDPOINT_URL=state["aws_endpoint_url"],
        AWS_REGION=state["region"],
        AWS_ACCESS_KEY_ID="sandbox",
        AWS_SECRET_ACCESS_KEY="sandbox-secret",
        CHAOS_SITE_URL=state["edge_url"],
        CHAOS_DISTRIBUTION_ID=state["distribution_id"],
        CHAOS_ORIGIN_BUCKET=state["bucket"],
    )
    try:
        yield env
    finally:
        subprocess.run(
            [*CHAOS, "sandbox", "down"], cwd=home, env=env, capture_output=True, timeout=60,
            check=False,
        )  # fmt: skip


@contextmanager
def lock_held(key: str, env: dict[str, str]) -> Iterator[None]:
    """Another process holds the target lock ``key`` (as a live run would) until the end."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import time
                from chaos_runner.ledger import TargetLock
                lock = TargetLock({key!r})
                assert lock.acquire()
                print("held", flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait(timeout=10)
        assert holder.stdout is not None
        holder.stdout.close()
