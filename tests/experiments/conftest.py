"""Fixtures of the experiment tests: a sandbox started as a user starts one."""

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.commands import chaos


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
