"""Which copy of a page readers get during a deploy: the deployed one, or an older one.

When new objects land in the origin bucket, the edge keeps serving the copy it holds until
that copy expires or is invalidated, and serves the new objects on a cache miss.
:func:`expect_copy` checks each page against its object in the origin bucket
(``CHAOS_ORIGIN_BUCKET``, read with the configured AWS credentials): with ``copy:
deployed`` every page must answer 200 with the object's very bytes (the deploy shows);
with ``copy: previous``, with other bytes than the object's (the edge still serves a copy
from before the deploy). ``x_cache`` adds a check of the ``X-Cache`` header, as in
``probes.http.expect_responses``.

Pages map to objects as a static site serves them (``/posts/a/`` is ``posts/a/index.html``);
the edge is asked with ``Accept-Encoding: identity`` and its answer is not decompressed, so
the bytes compared are the bytes stored. A page whose object is missing from the bucket
counts as ``previous`` when the edge still serves it.

``copy: previous`` only says the edge serves other bytes than the bucket's. To show those
are the good copy, check before the deploy that the edge served the bucket's bytes
(``probes.content.integrity``) and read ``X-Cache: Hit`` during it: the copy was cached
before the deploy and not fetched since.

Example: during a bad deploy, the pages the edge holds keep their good copy::

        - type: probe
          name: the-cached-pages-keep-their-good-copy
          provider:
            type: python
            module: probes.deploys
            func: expect_copy
            arguments: {paths: "@cached", copy: previous, x_cache: Hit}
"""

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypedDict

from chaoslib.exceptions import ActivityFailed

from chaos_runner import ConfigurationError
from chaos_runner.activity import activity
from chaos_runner.aws import aws_errors, error_code, s3_client
from chaos_runner.pages import key_of
from chaos_runner.target import Target
from probes import _arguments, _client, _loop

__all__ = ["PageCopy", "expect_copy"]

COPIES = ("deployed", "previous")
MAX_TIMEOUT_S = 300.0
#: Objects larger than this are not read; the page then cannot be compared.
MAX_OBJECT_BYTES = 64 * 1024 * 1024
#: At most this many pages in one probe.
MAX_COPY_PAGES = 1000
_IDENTITY = {"Accept-Encoding": "identity"}

Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None


class PageCopy(TypedDict):
    """One page: what the edge served, and the object it was compared with."""

    key: str
    status: int | None
    x_cache: str | None
    served_sha256: str | None
    deployed_sha256: str | None
    #: ``deployed`` (the object's bytes), ``previous`` (other bytes), None (no 200 answer,
    #: or the object could not be read: ``detail`` says why).
    copy: Literal["deployed", "previous"] | None
    detail: str


@activity
def expect_copy(
    paths: str | list[str],
    copy: str = "deployed",
    x_cache: str = "",
    bucket: str = "",
    timeout: float = 10.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, PageCopy]:
    """Fail unless every page answers 200 with the ``deployed`` bytes, or a ``previous`` copy.

    Each page is compared with its object in ``bucket`` (default ``CHAOS_ORIGIN_BUCKET``).
    ``copy`` is ``deployed`` (the edge serves the object's bytes) or ``previous`` (other
    bytes: a copy from before the deploy); ``x_cache``, when given, must be contained in
    each answer's ``X-Cache`` header (case-insensitive). Raises ``ActivityFailed`` naming
    each page that did not answer so.
    """
    url = _arguments.site_url(configuration)
    wanted = _copy(copy)
    pages = _arguments.pages(paths, configuration)
    if len(pages) > MAX_COPY_PAGES:
        raise ConfigurationError(
            f"expect_copy compares at most {MAX_COPY_PAGES} pages at once; got {len(pages)}."
        )
    timeout_s = _arguments.number("timeout", timeout, 0.0, MAX_TIMEOUT_S, exclusive_low=True)
    name, deployed = _deployed(bucket, [key_of(path) for path in pages], configuration)
    answers = _loop.run(_served(url, pages, timeout_s))
    copies = {
        path: _compare(key_of(path), deployed[key_of(path)], answer)
        for path, answer in zip(pages, answers, strict=True)
    }
    wrong = {
        path: page
        for path, page in copies.items()
        if page["copy"] != wanted or x_cache.lower() not in (page["x_cache"] or "").lower()
    }
    if wrong:
        raise ActivityFailed(_mismatch(url, name, wanted, x_cache, wrong))
    return copies


def _copy(value: object) -> str:
    if isinstance(value, str) and value.strip().lower() in COPIES:
        return value.strip().lower()
    raise ConfigurationError(
        "`copy` must be 'deployed' (the edge serves the bytes in the bucket) or 'previous' "
        f"(the edge serves other bytes: a copy from before the deploy); got {value!r}."
    )


def _deployed(
    bucket: str, keys: list[str], configuration: Configuration
) -> tuple[str, dict[str, bytes | str | None]]:
    """The bucket's name, and each key's bytes (None: no such object; a string: too large)."""
    target = Target.resolve(configuration)
    name = bucket or target.origin_bucket
    if not name:
        target.require("CHAOS_ORIGIN_BUCKET")
    s3 = s3_client(target.region, target.endpoint_url)

    def read(key: str) -> bytes | str | None:
        from botocore.exceptions import ClientError

        with aws_errors("GetObject", f"read object {key} of bucket {name}"):
            try:
                answer = s3.get_object(Bucket=name, Key=key)
            except ClientError as error:
                if error_code(error) in {"NoSuchKey", "404"}:
                    return None
                raise
        size = int(answer.get("ContentLength") or 0)
        if size > MAX_OBJECT_BYTES:
            answer["Body"].close()
            return f"object {key} is larger than {MAX_OBJECT_BYTES} bytes ({size}); not compared"
        return bytes(answer["Body"].read())

    unique = list(dict.fromkeys(keys))
    with ThreadPoolExecutor(max_workers=min(8, len(unique))) as pool:
        return name, dict(zip(unique, pool.map(read, unique), strict=True))


async def _served(url: str, paths: list[str], timeout_s: float) -> list[_client.Answer]:
    async with _client.session(timeout_s, min(len(paths), 8), decompress=False) as session:
        return list(
            await asyncio.gather(
                *(_client.fetch(session, url + p, digest=True, headers=_IDENTITY) for p in paths)
            )
        )


def _compare(key: str, content: bytes | str | None, answer: _client.Answer) -> PageCopy:
    deployed = hashlib.sha256(content).hexdigest() if isinstance(content, bytes) else None
    served = answer.sha256 if answer.status == 200 else None
    copy: Literal["deployed", "previous"] | None = None
    detail = "the bucket has no object for it" if content is None else ""
    if answer.error is not None:
        detail = f"no answer from the edge ({answer.error}: {answer.detail})"
    elif answer.status != 200:
        detail = f"the edge answered {answer.status}"
    elif isinstance(content, str):
        detail = content  # the object could not be compared
    else:  # with no object in the bucket, what the edge serves is a copy from before
        copy = "deployed" if served == deployed else "previous"
    return PageCopy(
        key=key,
        status=answer.status,
        x_cache=answer.x_cache,
        served_sha256=served,
        deployed_sha256=deployed,
        copy=copy,
        detail=detail,
    )


def _mismatch(url: str, bucket: str, wanted: str, x_cache: str, wrong: dict[str, PageCopy]) -> str:
    if wanted == "deployed":
        expected = f"answer 200 with the bytes deployed in bucket {bucket}"
    else:
        expected = f"answer 200 with another copy than the one deployed in bucket {bucket}"
    if x_cache:
        expected += f", with an X-Cache header containing {x_cache!r}"
    seen = []
    for path, page in wrong.items():
        if page["copy"] is None:
            seen.append(f"{path}: {page['detail']}")
        else:
            what = "the deployed bytes" if page["copy"] == "deployed" else "other bytes"
            seen.append(f"{path} served {what} with X-Cache {page['x_cache']!r}")
    return (
        f"Expected every page of {url} to {expected}, but {len(wrong)} did not: {'; '.join(seen)}."
    )
