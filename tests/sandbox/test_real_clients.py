"""The AWS CLI, pointed at the sandbox by `chaos sandbox env`'s variables, drives the edge."""

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from chaos_runner.sandbox.demo import site_root
from chaos_runner.sandbox.state import SandboxInfo

AWS = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")


def aws(args: list[str], sandbox: SandboxInfo) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(sandbox.environment())
    assert AWS is not None
    return subprocess.run(
        [AWS, *args], env=env, capture_output=True, text=True, timeout=60, check=True
    )


def edge_body(sandbox: SandboxInfo, path: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(sandbox.edge_url + path, timeout=10) as response:
        return response.read(), response.headers.get("X-Cache", "")


@pytest.mark.skipif(AWS is None, reason="the AWS CLI is in the dev extra; not installed here")
def test_aws_s3_cp_then_create_invalidation_changes_what_the_edge_serves(
    sandbox: SandboxInfo, tmp_path: Path
) -> None:
    original, _ = edge_body(sandbox, "/about/")  # now in the edge cache
    build = tmp_path / "public"
    (build / "about").mkdir(parents=True)
    (build / "about" / "index.html").write_bytes(b"<html><body>new build</body></html>")

    aws(["s3", "cp", str(build), f"s3://{sandbox.bucket}", "--recursive"], sandbox)
    assert edge_body(sandbox, "/about/") == (original, "Hit from cloudfront")  # still cached

    aws(
        [
            "cloudfront", "create-invalidation",
            "--distribution-id", sandbox.distribution_id,
            "--paths", "/*",
        ],
        sandbox,
    )  # fmt: skip
    try:
        assert edge_body(sandbox, "/about/") == (
            b"<html><body>new build</body></html>",
            "Miss from cloudfront",
        )
    finally:
        aws(["s3", "cp", str(site_root()), f"s3://{sandbox.bucket}", "--recursive"], sandbox)
        aws(
            [
                "cloudfront",
                "create-invalidation",
                "--distribution-id",
                sandbox.distribution_id,
                "--paths",
                "/*",
            ],
            sandbox,
        )
    assert edge_body(sandbox, "/about/")[0] == original
