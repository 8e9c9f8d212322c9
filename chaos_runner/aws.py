"""The only module that builds boto3 sessions and clients.

Every call builds its own session (no module-level caches, no default session), so a
restore from the ledger reaches the endpoint the fault used, whatever the environment.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from chaos_runner._errors import AwsCallError
from chaos_runner.target import is_loopback_url

if TYPE_CHECKING:
    from mypy_boto3_acm import ACMClient
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_s3 import S3Client

__all__ = [
    "LOOPBACK_ACCESS_KEY",
    "LOOPBACK_SECRET_KEY",
    "SessionClients",
    "acm_client",
    "aws_errors",
    "boto3_session",
    "cloudfront_client",
    "cloudwatch_client",
    "error_code",
    "route53_client",
    "s3_client",
    "sts_client",
]

#: Credentials for an AWS endpoint on this machine when the shell has none. The sandbox
#: (moto accepts any key) hands exactly these to the tools it points at itself, so a
#: restore from a shell with no AWS variables reaches it signed as everything else is.
LOOPBACK_ACCESS_KEY = "sandbox"
LOOPBACK_SECRET_KEY = "sandbox-secret"


def boto3_session(region: str, endpoint_url: str | None) -> Any:
    """A session of its own; for the sandbox (a loopback endpoint), its dummy credentials.

    `chaos rollback` may run in a shell with no AWS variables: a restore of a sandbox fault
    must still reach the sandbox, which accepts any key.
    """
    import boto3

    if is_loopback_url(endpoint_url):
        return boto3.session.Session(
            region_name=region,
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or LOOPBACK_ACCESS_KEY,
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or LOOPBACK_SECRET_KEY,
        )
    return boto3.session.Session(region_name=region)


def _config(endpoint_url: str | None, unsigned: bool = False) -> Any:
    """Bounded retries and timeouts; no proxy for an endpoint on this machine.

    A CI runner behind a proxy sets HTTPS_PROXY, often without NO_PROXY: botocore would send
    the sandbox's calls to the proxy, which cannot reach this machine's loopback.
    """
    from botocore import UNSIGNED
    from botocore.config import Config

    return Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        signature_version=UNSIGNED if unsigned else None,
        proxies={} if is_loopback_url(endpoint_url) else None,
    )


def s3_client(region: str, endpoint_url: str | None, unsigned: bool = False) -> "S3Client":
    """An S3 client; ``unsigned`` makes anonymous requests, as a site visitor's browser would."""
    client: S3Client = boto3_session(region, endpoint_url).client(
        "s3", endpoint_url=endpoint_url, config=_config(endpoint_url, unsigned)
    )
    return client


def cloudfront_client(region: str, endpoint_url: str | None) -> "CloudFrontClient":
    """A CloudFront client (a global service; the region only names the session's)."""
    client: CloudFrontClient = boto3_session(region, endpoint_url).client(
        "cloudfront", endpoint_url=endpoint_url, config=_config(endpoint_url)
    )
    return client


def cloudwatch_client(region: str, endpoint_url: str | None) -> "CloudWatchClient":
    """A CloudWatch client. CloudFront's metrics live in us-east-1 (dimension Region=Global)."""
    client: CloudWatchClient = boto3_session(region, endpoint_url).client(
        "cloudwatch", endpoint_url=endpoint_url, config=_config(endpoint_url)
    )
    return client


def acm_client(region: str, endpoint_url: str | None) -> "ACMClient":
    """An ACM client. CloudFront takes its certificates from ACM in us-east-1 only."""
    client: ACMClient = boto3_session(region, endpoint_url).client(
        "acm", endpoint_url=endpoint_url, config=_config(endpoint_url)
    )
    return client


def route53_client(region: str, endpoint_url: str | None) -> "Route53Client":
    """A Route 53 client (a global service; the region only names the session's)."""
    client: Route53Client = boto3_session(region, endpoint_url).client(
        "route53", endpoint_url=endpoint_url, config=_config(endpoint_url)
    )
    return client


def sts_client(region: str, endpoint_url: str | None) -> Any:
    """An STS client (GetCallerIdentity: which account the credentials act in).

    Typed ``Any``: the project has no stubs for STS, and GetCallerIdentity is its one use.
    """
    return boto3_session(region, endpoint_url).client(
        "sts", endpoint_url=endpoint_url, config=_config(endpoint_url)
    )


class SessionClients:
    """Clients of several services that share one session, for a command that reads many.

    Each ``*_client`` function builds a session of its own (a restore reaches the endpoint
    its fault used, whatever the environment); but a session loads the endpoint rules and
    each service's model anew, about 0.1 s a client. A read-only review (``chaos risks``)
    that asks five services builds their clients from one session instead.
    """

    def __init__(self, region: str, endpoint_url: str | None) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self._session = boto3_session(region, endpoint_url)

    def _client(self, service: str, region: str | None = None) -> Any:
        return self._session.client(
            service,
            region_name=region or self.region,
            endpoint_url=self.endpoint_url,
            config=_config(self.endpoint_url),
        )

    def cloudfront(self) -> "CloudFrontClient":
        """A CloudFront client (a global service)."""
        client: CloudFrontClient = self._client("cloudfront")
        return client

    def s3(self) -> "S3Client":
        """An S3 client."""
        client: S3Client = self._client("s3")
        return client

    def cloudwatch(self, region: str) -> "CloudWatchClient":
        """A CloudWatch client in ``region`` (CloudFront's metrics: us-east-1)."""
        client: CloudWatchClient = self._client("cloudwatch", region)
        return client

    def acm(self, region: str) -> "ACMClient":
        """An ACM client in ``region`` (CloudFront's certificates: us-east-1)."""
        client: ACMClient = self._client("acm", region)
        return client

    def route53(self) -> "Route53Client":
        """A Route 53 client (a global service)."""
        client: Route53Client = self._client("route53")
        return client


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


@contextmanager
def aws_errors(operation: str, what: str) -> Iterator[None]:
    """Turn botocore errors into AwsCallError with a sentence naming what was being done."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as error:
        code = error_code(error)
        message = error.response.get("Error", {}).get("Message", "")
        raise AwsCallError(
            f"AWS refused to {what} ({operation}: {code}: {message}). Check the credentials "
            "and permissions, and that the resource exists.",
            operation=operation,
            code=code,
        ) from error
    except BotoCoreError as error:
        raise AwsCallError(
            f"Could not {what} ({operation}): {error}. Check AWS_ENDPOINT_URL, the network "
            "and the credentials.",
            operation=operation,
        ) from error
