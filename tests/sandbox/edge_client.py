"""What the sandbox tests share: AWS clients for the sandbox, invalidations, one edge GET."""

import functools
import urllib.error
import urllib.request
import uuid
from typing import Any, Literal, overload

import boto3

from chaos_runner.sandbox.state import SANDBOX_ACCESS_KEY, SANDBOX_SECRET_KEY, SandboxInfo


@functools.cache
def aws(sandbox: SandboxInfo, service: str) -> Any:
    """One boto3 client per sandbox and service (building one takes a tenth of a second)."""
    return boto3.client(
        service,
        endpoint_url=sandbox.aws_endpoint_url,
        region_name=sandbox.region,
        aws_access_key_id=SANDBOX_ACCESS_KEY,
        aws_secret_access_key=SANDBOX_SECRET_KEY,
    )


def invalidate(sandbox: SandboxInfo, *paths: str) -> Any:
    """Invalidate ``paths`` on the demo distribution; return the invalidation.

    With no propagation delay it is in effect at every POP when this returns.
    """
    answer = aws(sandbox, "cloudfront").create_invalidation(
        DistributionId=sandbox.distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(paths), "Items": list(paths)},
            "CallerReference": uuid.uuid4().hex,
        },
    )
    return answer["Invalidation"]


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
