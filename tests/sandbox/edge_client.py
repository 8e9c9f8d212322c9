"""Small HTTP and API helpers the sandbox tests share (real requests on loopback)."""

import urllib.error
import urllib.request
import uuid
from typing import Any, Literal, overload

import boto3

from chaos_runner.sandbox.state import SandboxInfo


@overload
def edge_get(sandbox: SandboxInfo, path: str, full: Literal[False] = False) -> tuple[int, str]: ...
@overload
def edge_get(
    sandbox: SandboxInfo, path: str, full: Literal[True]
) -> tuple[int, str, bytes, str]: ...
def edge_get(sandbox: SandboxInfo, path: str, full: bool = False) -> Any:
    """One GET at the edge: status and X-Cache (and, with ``full``, body and content type)."""
    try:
        with urllib.request.urlopen(sandbox.edge_url + path, timeout=10) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, error.headers, error.read()
    x_cache = headers.get("X-Cache", "")
    if full:
        return status, x_cache, body, headers.get("Content-Type", "")
    return status, x_cache


def cloudfront(sandbox: SandboxInfo) -> Any:
    return boto3.client(
        "cloudfront",
        endpoint_url=sandbox.aws_endpoint_url,
        region_name=sandbox.region,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox-secret",
    )


def forget_at_the_edge(sandbox: SandboxInfo, *paths: str) -> None:
    """Invalidate ``paths`` (in effect when this returns, with no propagation delay)."""
    cloudfront(sandbox).create_invalidation(
        DistributionId=sandbox.distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(paths), "Items": list(paths)},
            "CallerReference": uuid.uuid4().hex,
        },
    )
