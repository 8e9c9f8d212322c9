"""Content integrity: the edge serves what was deployed, byte for byte.

:func:`integrity` compares the SHA-256 of what the edge serves for a sample of pages with
the deployed objects: the origin bucket's (``CHAOS_ORIGIN_BUCKET``, read with the
configured AWS credentials) or a local build directory (Hugo's ``public/``). A stale page
left in the edge caches after a deploy, a truncated object, or a wrong origin shows as a
mismatch.

Objects map to URLs as a static site serves them: ``index.html`` is ``/``,
``posts/a/index.html`` is ``/posts/a/``, any other key is ``/<key>``. Given ``paths``, the
mapping runs the other way (``/posts/a/`` is ``posts/a/index.html``). Without ``paths``,
``sample`` objects are taken evenly spread over the sorted keys (the home page always
among them), so repeated runs check the same pages.

The edge is asked with ``Accept-Encoding: identity`` and its answer is not decompressed:
the bytes compared are the bytes stored.

Example::

        - type: probe
          name: the-edge-serves-the-deployed-site
          tolerance: {type: range, target: integrity, range: [1.0, 1.0]}
          provider:
            type: python
            module: probes.content
            func: integrity
            arguments: {sample: 20}
"""

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import quote

from chaos_runner import ConfigurationError
from chaos_runner.activity import activity
from chaos_runner.aws import aws_errors, s3_client
from chaos_runner.pages import key_of, path_of
from chaos_runner.target import Target
from probes import _arguments, _client, _loop

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["IntegrityReport", "PageIntegrity", "integrity"]

MAX_SAMPLE = 1000
#: At most this many keys are listed from a bucket or a directory.
MAX_OBJECTS = 100_000
#: Objects larger than this are not compared (reported as skipped).
MAX_OBJECT_BYTES = 64 * 1024 * 1024
_IDENTITY = {"Accept-Encoding": "identity"}

Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None


class PageIntegrity(TypedDict):
    """One page: the digest deployed, the digest served, and whether they match."""

    path: str
    key: str
    status: int | None
    deployed_sha256: str | None
    served_sha256: str | None
    matches: bool
    x_cache: str | None
    detail: str


class IntegrityReport(TypedDict):
    """The comparison of a sample of pages; ``integrity`` is the share that matched."""

    url: str
    source: str
    objects: int
    checked: int
    matched: int
    integrity: float
    mismatched: list[str]
    pages: list[PageIntegrity]
    ok: bool


@activity
def integrity(
    paths: str | list[str] = "",
    sample: int = 20,
    build_dir: str = "",
    bucket: str = "",
    timeout: float = 10.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> IntegrityReport:
    """Compare what the edge serves for a sample of pages with the deployed objects.

    The deployed objects are those of ``build_dir`` when given, else of ``bucket``
    (default ``CHAOS_ORIGIN_BUCKET``). ``paths`` picks the pages; without it, ``sample``
    objects spread over the site are checked. ``ok`` is true when every page matched.
    """
    url = _arguments.site_url(configuration)
    count = int(_arguments.number("sample", sample, 1, MAX_SAMPLE, whole=True))
    timeout_s = _arguments.number("timeout", timeout, 0.0, 300.0, exclusive_low=True)
    source = _source(build_dir, bucket, configuration)
    keys = _chosen(paths, count, source, configuration)
    deployed = source.read(keys)
    answers = _loop.run(_served(url, [_path_of(key) for key in keys], timeout_s))
    return _report(url, source.name, source.listed, keys, deployed, answers)


# -- where the deployed site is ------------------------------------------------------------


class _Directory:
    """A local build directory."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise ConfigurationError(
                f"build_dir {str(root)!r} is not a directory. Give the folder your site "
                "generator writes (Hugo's public/), or leave build_dir empty to compare "
                "with the origin bucket."
            )
        self.root = root
        self.name = f"directory {root}"
        self.listed = 0

    def keys(self) -> list[str]:
        found = sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
        )
        self.listed = len(found)
        return found[:MAX_OBJECTS]

    def read(self, keys: list[str]) -> dict[str, bytes | str]:
        contents: dict[str, bytes | str] = {}
        for key in keys:
            path = self.root / key
            try:
                size = path.stat().st_size
                contents[key] = (
                    path.read_bytes() if size <= MAX_OBJECT_BYTES else f"larger than {size} bytes"
                )
            except OSError as error:
                contents[key] = f"not readable in the build directory ({error.strerror})"
        return contents


class _Bucket:
    """The origin bucket, read with the configured credentials."""

    def __init__(self, bucket: str, target: Target) -> None:
        self.bucket = bucket
        self.name = f"bucket {bucket}"
        self.listed = 0
        self._s3: S3Client = s3_client(target.region, target.endpoint_url)

    def keys(self) -> list[str]:
        found: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        with aws_errors("ListObjectsV2", f"list the objects of bucket {self.bucket}"):
            for page in paginator.paginate(Bucket=self.bucket):
                found.extend(str(item["Key"]) for item in page.get("Contents") or ())
                if len(found) >= MAX_OBJECTS:
                    break
        self.listed = len(found)
        return sorted(key for key in found if not key.endswith("/"))[:MAX_OBJECTS]

    def read(self, keys: list[str]) -> dict[str, bytes | str]:
        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(zip(keys, pool.map(self._read, keys), strict=True))

    def _read(self, key: str) -> bytes | str:
        from botocore.exceptions import ClientError

        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            return f"not readable from the bucket ({error.response.get('Error', {}).get('Code')})"
        size = int(answer.get("ContentLength") or 0)
        body = answer["Body"]
        if size > MAX_OBJECT_BYTES:
            body.close()
            return f"larger than {MAX_OBJECT_BYTES} bytes ({size}); not compared"
        return bytes(body.read())


def _source(build_dir: str, bucket: str, configuration: Configuration) -> _Directory | _Bucket:
    if build_dir:
        return _Directory(Path(build_dir))
    target = Target.resolve(configuration)
    name = bucket or target.origin_bucket
    if not name:
        target.require("CHAOS_ORIGIN_BUCKET")
    return _Bucket(name, target)


def _chosen(
    paths: str | list[str],
    count: int,
    source: "_Directory | _Bucket",
    configuration: Configuration,
) -> list[str]:
    """The keys to check: those of ``paths``, or ``count`` spread over the listing."""
    if paths:
        keys = [key_of(path) for path in _arguments.pages(paths, configuration)]
        source.listed = len(keys)
        return keys
    listed = source.keys()
    if not listed:
        raise ConfigurationError(
            f"The {source.name} holds no object, so there is nothing to compare. Deploy the "
            "site first, or point build_dir at the generated site."
        )
    if len(listed) <= count:
        return listed
    step = len(listed) / count
    chosen = [listed[int(i * step)] for i in range(count)]
    if "index.html" in listed and "index.html" not in chosen:
        chosen[-1] = "index.html"
    return sorted(chosen)


def _path_of(key: str) -> str:
    """The URL path that serves ``key``, quoted for the request line."""
    return quote(path_of(key))


# -- what the edge serves ------------------------------------------------------------------


async def _served(url: str, paths: list[str], timeout_s: float) -> list[_client.Answer]:
    async with _client.session(timeout_s, 8, decompress=False) as session:
        return list(
            await asyncio.gather(
                *(_client.fetch(session, url + p, digest=True, headers=_IDENTITY) for p in paths)
            )
        )


def _report(
    url: str,
    source: str,
    listed: int,
    keys: list[str],
    deployed: dict[str, bytes | str],
    answers: list[_client.Answer],
) -> IntegrityReport:
    pages = [_page(key, deployed[key], answer) for key, answer in zip(keys, answers, strict=True)]
    matched = sum(page["matches"] for page in pages)
    return IntegrityReport(
        url=url,
        source=source,
        objects=listed,
        checked=len(pages),
        matched=matched,
        integrity=round(matched / len(pages), 6) if pages else 0.0,
        mismatched=[page["path"] for page in pages if not page["matches"]],
        pages=pages,
        ok=matched == len(pages),
    )


def _page(key: str, content: bytes | str, answer: _client.Answer) -> PageIntegrity:
    deployed = hashlib.sha256(content).hexdigest() if isinstance(content, bytes) else None
    served = answer.sha256 if answer.status == 200 else None
    if deployed is None:
        detail = str(content)
    elif answer.error is not None:
        detail = f"no answer from the edge ({answer.error}: {answer.detail})"
    elif answer.status != 200:
        detail = f"the edge answered {answer.status}"
    elif served != deployed:
        detail = "the edge serves different bytes than deployed"
    else:
        detail = ""
    return PageIntegrity(
        path=_path_of(key),
        key=key,
        status=answer.status,
        deployed_sha256=deployed,
        served_sha256=served,
        matches=deployed is not None and served == deployed,
        x_cache=answer.x_cache,
        detail=detail,
    )
