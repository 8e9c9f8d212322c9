"""An S3 website endpoint in front of moto's buckets (moto has none of its own).

What it does, after the S3 User Guide (WebsiteHosting, IndexDocumentSupport,
CustomErrorDocSupport):

- The bucket comes from the Host header (``<bucket>.s3-website-<region>.amazonaws.com`` or
  ``<bucket>.s3-website.<region>.amazonaws.com``); only GET and HEAD are served (405).
- The bucket's website configuration is read with ``GetBucketWebsite`` and kept for one
  second. No configuration: ``404 NoSuchWebsiteConfiguration``; no bucket:
  ``404 NoSuchBucket``. ``RedirectAllRequestsTo`` answers 301 to the other host.
- The key is the URL-decoded path without its leading ``/``; ``/`` and ``dir/`` serve
  ``<dir/>`` + the index document suffix. ``/dir`` with no object ``dir`` but an object
  ``dir/index.html`` answers ``302 Location: /dir/``.
- Objects are read with an *anonymous* GET to moto's REST endpoint, so the bucket policy is
  enforced exactly as moto enforces it for a site visitor. ``If-None-Match`` and
  ``If-Modified-Since`` are passed on, so a revalidating edge gets ``304``.
- An object with ``x-amz-website-redirect-location`` metadata answers 301 there.
- Errors (403 and 404) serve the ErrorDocument with the error's status; when the
  ErrorDocument cannot be read either, S3's own HTML page says so, naming both errors.

403 or 404 for a missing key. S3 answers 404 for a missing key only to a requester who may
list the bucket (``s3:ListBucket``), else 403 — for the REST API. On a website endpoint with
the usual public-read policy (``s3:GetObject`` on ``bucket/*`` for ``*``, as the demo bucket
has) visitors get ``404 NoSuchKey`` and the ErrorDocument: that is what every Hugo-on-S3
site shows for a bad link, and the policy's GetObject grant covers keys that do not exist.
This emulator returns whatever moto answers the anonymous GET: ``404 NoSuchKey`` when the
policy allows GetObject on the key, ``403 AccessDenied`` when a policy statement denies it.
Known gap: a bucket with no policy at all (private) answers 404 for a missing key here
(moto checks existence first), where S3 would answer 403.

Not emulated: routing rules (``RoutingRules``), Range requests, requester-pays, and the
region check of the host name (any region is accepted).
"""

import asyncio
import base64
import html
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import aiohttp
from aiohttp import web
from yarl import URL

from chaos_runner.aws import s3_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["WEBSITE_CAPACITY", "WebsiteConfiguration", "WebsiteEndpoint", "bucket_of_host"]

#: Requests the emulator serves at a time without its answers slowing down: it is one
#: Python process reading moto, which serves one request at a time under the GIL. More at
#: once only lengthen its queue (and each one's time to answer): the edge's link sends it
#: no more than this (see :mod:`chaos_runner.sandbox.origin`), and the emulator reads moto
#: over no more connections than this.
WEBSITE_CAPACITY = 16

_WEBSITE_HOST = re.compile(
    r"^(?P<bucket>[^:]+)\.s3-website[-.](?P<region>[a-z0-9-]+)\.amazonaws\.com(?::\d+)?$"
)
_ERROR_CODE = re.compile(rb"<Code>([^<]+)</Code>")

#: Object response headers an S3 website endpoint passes to the visitor (lowercase).
_OBJECT_HEADERS = frozenset(
    {
        "cache-control",
        "content-disposition",
        "content-encoding",
        "content-language",
        "content-type",
        "etag",
        "expires",
        "last-modified",
        "x-amz-version-id",
    }
)


def _conditions(request: web.Request) -> dict[str, str]:
    """The viewer's conditional headers; If-None-Match alone when both are sent (RFC 9110)."""
    if "If-None-Match" in request.headers:
        return {"If-None-Match": request.headers["If-None-Match"]}
    if "If-Modified-Since" in request.headers:
        return {"If-Modified-Since": request.headers["If-Modified-Since"]}
    return {}


def bucket_of_host(host: str) -> str | None:
    """The bucket a website endpoint host name names, or None for any other host."""
    match = _WEBSITE_HOST.match(host.lower())
    return match.group("bucket") if match else None


@dataclass(frozen=True, slots=True)
class WebsiteConfiguration:
    """A bucket's website configuration (the parts this endpoint acts on)."""

    index_suffix: str
    error_key: str | None
    redirect_host: str | None = None
    redirect_protocol: str | None = None

    @classmethod
    def from_api(cls, answer: Mapping[str, Any]) -> "WebsiteConfiguration":
        """Parse a ``GetBucketWebsite`` answer."""
        redirect = answer.get("RedirectAllRequestsTo") or {}
        return cls(
            index_suffix=str((answer.get("IndexDocument") or {}).get("Suffix") or "index.html"),
            error_key=(answer.get("ErrorDocument") or {}).get("Key"),
            redirect_host=redirect.get("HostName"),
            redirect_protocol=redirect.get("Protocol"),
        )


@dataclass(frozen=True, slots=True)
class _Failure:
    """An S3 error, as the website endpoint's HTML page shows it."""

    status: int
    code: str
    message: str
    detail: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class _Fetched:
    """moto's answer to an anonymous GET."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    code: str


_TITLES = {
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}


class WebsiteEndpoint:
    """The S3 website endpoint of every bucket in moto, as one aiohttp application."""

    def __init__(
        self,
        s3_endpoint_url: str,
        region: str,
        default_bucket: str | None = None,
        config_ttl: float = 1.0,
    ) -> None:
        self._endpoint = s3_endpoint_url.rstrip("/")
        self._region = region
        self._default_bucket = default_bucket
        self._config_ttl = config_ttl
        self._configs: dict[str, tuple[float, WebsiteConfiguration | _Failure]] = {}
        self._reading: dict[str, asyncio.Task[WebsiteConfiguration | _Failure]] = {}
        self._s3: S3Client | None = None
        self._session: aiohttp.ClientSession | None = None
        self._host_id = base64.b64encode(os.urandom(48)).decode()

    def app(self) -> web.Application:
        """The aiohttp application serving every path of every website host."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def close(self) -> None:
        """Wait for configuration reads in flight; close the HTTP session to moto."""
        await asyncio.gather(*self._reading.values(), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        bucket = bucket_of_host(host) or self._default_bucket
        if bucket is None:
            name = host.rsplit(":", 1)[0]
            return self._error_page(
                _Failure(
                    404,
                    "NoSuchBucket",
                    "The specified bucket does not exist",
                    (("BucketName", name),),
                )
            )
        if request.method not in ("GET", "HEAD"):
            return self._error_page(
                _Failure(
                    405,
                    "MethodNotAllowed",
                    "The specified method is not allowed against this resource.",
                    (("Method", request.method), ("ResourceType", "OBJECT")),
                )
            )
        config = await self._configuration(bucket)
        if isinstance(config, _Failure):
            return self._error_page(config)
        if config.redirect_host:
            scheme = config.redirect_protocol or request.scheme
            location = f"{scheme}://{config.redirect_host}{request.rel_url.raw_path_qs}"
            return self._redirect(301, location)
        return await self._serve(request, bucket, config)

    async def _serve(
        self, request: web.Request, bucket: str, config: WebsiteConfiguration
    ) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        key = unquote(raw_path)[1:]
        if key == "" or key.endswith("/"):
            key += config.index_suffix
        conditions = _conditions(request)
        fetched = await self._get(bucket, key, conditions)
        if fetched.status in (200, 304):
            return self._object(fetched)
        if fetched.code == "NoSuchKey" and not key.endswith(config.index_suffix):
            index = await self._get(bucket, f"{key}/{config.index_suffix}", {})
            if index.status == 200:
                return self._redirect(302, f"{raw_path}/")
        failure = self._failure(fetched, bucket, key)
        if failure.status in (403, 404) and config.error_key:
            return await self._error_document(bucket, config.error_key, failure)
        return self._error_page(failure)

    async def _error_document(
        self, bucket: str, error_key: str, failure: _Failure
    ) -> web.StreamResponse:
        document = await self._get(bucket, error_key, {})
        if document.status == 200:
            response = self._object(document)
            response.set_status(failure.status)
            response.headers["x-amz-error-code"] = failure.code
            response.headers["x-amz-error-message"] = failure.message
            return response
        return self._error_page(failure, self._failure(document, bucket, error_key))

    def _failure(self, fetched: _Fetched, bucket: str, key: str) -> _Failure:
        if fetched.status == 403:
            return _Failure(403, "AccessDenied", "Access Denied")
        if fetched.code == "NoSuchBucket":
            return _Failure(
                404,
                "NoSuchBucket",
                "The specified bucket does not exist",
                (("BucketName", bucket),),
            )
        if fetched.status == 404:
            return _Failure(404, "NoSuchKey", "The specified key does not exist.", (("Key", key),))
        return _Failure(
            fetched.status,
            fetched.code or "InternalError",
            "We encountered an internal error. Please try again.",
        )

    async def _configuration(self, bucket: str) -> WebsiteConfiguration | _Failure:
        now = time.monotonic()
        cached = self._configs.get(bucket)
        if cached is not None and now - cached[0] < self._config_ttl:
            return cached[1]
        # One read per bucket at a time: under load, every request that finds the entry
        # expired would otherwise start a GetBucketWebsite call of its own.
        reading = self._reading.get(bucket)
        if reading is None:
            reading = asyncio.get_running_loop().create_task(self._read(bucket))
            self._reading[bucket] = reading
            reading.add_done_callback(lambda done: self._read_done(bucket, done))
        return await asyncio.shield(reading)

    async def _read(self, bucket: str) -> WebsiteConfiguration | _Failure:
        found = await asyncio.to_thread(self._read_configuration, bucket)
        self._configs[bucket] = (time.monotonic(), found)
        return found

    def _read_done(
        self, bucket: str, task: "asyncio.Task[WebsiteConfiguration | _Failure]"
    ) -> None:
        if self._reading.get(bucket) is task:
            del self._reading[bucket]

    def _read_configuration(self, bucket: str) -> WebsiteConfiguration | _Failure:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client().get_bucket_website(Bucket=bucket)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code == "NoSuchWebsiteConfiguration":
                return _Failure(
                    404,
                    code,
                    "The specified bucket does not have a website configuration",
                    (("BucketName", bucket),),
                )
            if code == "NoSuchBucket":
                return _Failure(
                    404, code, "The specified bucket does not exist", (("BucketName", bucket),)
                )
            return _Failure(500, "InternalError", f"GetBucketWebsite failed: {code}")
        except BotoCoreError as error:
            return _Failure(500, "InternalError", f"GetBucketWebsite failed: {error}")
        return WebsiteConfiguration.from_api(answer)

    def _client(self) -> "S3Client":
        if self._s3 is None:
            self._s3 = s3_client(self._region, self._endpoint)
        return self._s3

    async def _get(self, bucket: str, key: str, headers: Mapping[str, str]) -> _Fetched:
        """An anonymous GET of ``bucket/key`` from moto's REST endpoint."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=WEBSITE_CAPACITY),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=30),
            )
        url = URL(f"{self._endpoint}/{quote(bucket)}/{quote(key, safe='/-_.~')}", encoded=True)
        try:
            async with self._session.get(url, headers=dict(headers)) as response:
                body = await response.read()
                code = ""
                if response.status >= 400:
                    match = _ERROR_CODE.search(body)
                    code = match.group(1).decode() if match else ""
                found = {name.lower(): value for name, value in response.headers.items()}
                return _Fetched(response.status, found, body, code)
        except (TimeoutError, aiohttp.ClientError):
            return _Fetched(503, {}, b"", "ServiceUnavailable")

    def _object(self, fetched: _Fetched) -> web.Response:
        redirect = fetched.headers.get("x-amz-website-redirect-location")
        if redirect and fetched.status == 200:
            return self._redirect(301, redirect)
        headers = self._common_headers()
        for name, value in fetched.headers.items():
            if name in _OBJECT_HEADERS or name.startswith("x-amz-meta-"):
                headers[name] = value
        body = fetched.body if fetched.status == 200 else None
        return web.Response(status=fetched.status, body=body, headers=headers)

    def _redirect(self, status: int, location: str) -> web.Response:
        headers = self._common_headers()
        headers["Location"] = location
        return web.Response(status=status, headers=headers)

    def _error_page(self, failure: _Failure, document: _Failure | None = None) -> web.Response:
        request_id = self._request_id()
        lines = [
            f"<html>\n<head><title>{_TITLES.get(failure.status, failure.status)}</title></head>",
            f"<body>\n<h1>{_TITLES.get(failure.status, failure.status)}</h1>\n<ul>",
            f"<li>Code: {html.escape(failure.code)}</li>",
            f"<li>Message: {html.escape(failure.message)}</li>",
            *(f"<li>{name}: {html.escape(value)}</li>" for name, value in failure.detail),
            f"<li>RequestId: {request_id}</li>",
            f"<li>HostId: {self._host_id}</li>\n</ul>",
        ]
        if document is not None:
            lines += [
                "<h3>An Error Occurred While Attempting to Retrieve a Custom Error Document</h3>",
                "<ul>",
                f"<li>Code: {html.escape(document.code)}</li>",
                f"<li>Message: {html.escape(document.message)}</li>",
                *(f"<li>{name}: {html.escape(value)}</li>" for name, value in document.detail),
                "</ul>",
            ]
        lines.append("<hr/>\n</body>\n</html>\n")
        headers = self._common_headers(request_id)
        headers["Content-Type"] = "text/html; charset=utf-8"
        headers["x-amz-error-code"] = failure.code
        headers["x-amz-error-message"] = failure.message
        for name, value in failure.detail:
            headers[f"x-amz-error-detail-{name}"] = value
        return web.Response(status=failure.status, body="\n".join(lines).encode(), headers=headers)

    def _common_headers(self, request_id: str | None = None) -> dict[str, str]:
        return {
            "Server": "AmazonS3",
            "x-amz-request-id": request_id or self._request_id(),
            "x-amz-id-2": self._host_id,
        }

    @staticmethod
    def _request_id() -> str:
        return os.urandom(8).hex().upper()
