"""The sandbox edge under abuse: a load of misses, partial requests, a huge method. By hand:

    python bench/edge_abuse.py [--requests 5000] [--connections 200 500] [--partial 3000]
                               [--hold-limit 20]

Starts an in-process sandbox (as the tests do), then, all on loopback and bounded:

- for each ``--connections`` figure, GETs ``--requests`` distinct paths that exist nowhere
  (each one a miss that goes to the S3 website endpoint emulator) over that many
  connections at once, and counts the answers by status (a 504 or 502 here is false: no
  fault is injected), with the rate and the p50/p99/max latency;
- opens ``--partial`` connections that each send half a request line, and counts how many
  the server refused (503), closed, or still held after ``--hold-limit`` seconds;
- sends one request whose method is 100 KB long and reports the answer's status and size.

Prints a table and one JSON line. Not a test: no assertion on figures.
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from chaos_runner.sandbox.testing import running_sandbox


async def misses(base_url: str, requests: int, connections: int) -> dict[str, Any]:
    """Status counts, rate and latencies of ``requests`` misses over ``connections``."""
    found: Counter[str] = Counter()
    latencies: list[float] = []
    turns = asyncio.Semaphore(connections)
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(index: int) -> None:
            async with turns:
                began = time.monotonic()
                url = f"{base_url}/bench-{uuid.uuid4().hex}/missing-{index}.html"
                try:
                    async with session.get(url) as response:
                        await response.read()
                        found[str(response.status)] += 1
                except (TimeoutError, aiohttp.ClientError) as error:
                    found[type(error).__name__] += 1
                latencies.append(time.monotonic() - began)

        began = time.monotonic()
        await asyncio.gather(*(one(index) for index in range(requests)))
        took = time.monotonic() - began
    latencies.sort()
    return {
        "connections": connections,
        "requests": requests,
        "statuses": dict(sorted(found.items())),
        "requests_per_second": round(requests / took, 1),
        "p50_s": round(latencies[len(latencies) // 2], 3),
        "p99_s": round(latencies[int(len(latencies) * 0.99)], 3),
        "max_s": round(latencies[-1], 3),
    }


async def partial_requests(port: int, count: int, hold_limit: float) -> dict[str, Any]:
    """Open ``count`` connections that send half a request line; what the server does."""
    loop = asyncio.get_running_loop()

    async def one() -> tuple[str, float]:
        began = loop.time()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as error:
            return f"connect failed ({error.strerror})", 0.0
        writer.write(b"GET /index.html HT")
        answer = b""
        try:
            async with asyncio.timeout(hold_limit):
                with contextlib.suppress(ConnectionError):
                    while chunk := await reader.read(65536):
                        answer += chunk
        except TimeoutError:
            return "still held", hold_limit
        finally:
            writer.transport.abort()
        outcome = "refused (503)" if answer.startswith(b"HTTP/1.1 503") else "closed"
        return outcome, loop.time() - began

    results = await asyncio.gather(*(one() for _ in range(count)))
    outcomes = Counter(outcome for outcome, _ in results)
    closed = [seconds for outcome, seconds in results if outcome == "closed"]
    return {
        "connections": count,
        "outcomes": dict(outcomes),
        "closed_after_median_s": round(statistics.median(closed), 2) if closed else None,
        "closed_after_max_s": round(max(closed), 2) if closed else None,
    }


async def huge_method(port: int) -> dict[str, Any]:
    """The status and body size of the answer to a request with a 100 KB method."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = b""
    try:
        async with asyncio.timeout(10):
            writer.write(b"A" * 100_000 + b" / HTTP/1.1\r\nHost: x\r\n\r\n")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            with contextlib.suppress(ConnectionError):
                while chunk := await reader.read(65536):
                    answer += chunk
    finally:
        writer.transport.abort()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return {"status": status, "body_bytes": len(body), "echoed": b"AAAA" in body}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--connections", type=int, nargs="+", default=[200, 500])
    parser.add_argument("--partial", type=int, default=3000)
    parser.add_argument("--hold-limit", type=float, default=20.0)
    args = parser.parse_args()
    with running_sandbox() as sandbox:
        edge_url = sandbox.info.edge_url
        port = urlsplit(edge_url).port or 80
        loads = []
        for connections in args.connections:
            loads.append(asyncio.run(misses(edge_url, args.requests, connections)))
            for edge in sandbox.stack.pops.edges:
                edge.cache.clear()
        partial = asyncio.run(partial_requests(port, args.partial, args.hold_limit))
        method = asyncio.run(huge_method(port))
    print(f"{'connections':>11} {'req/s':>7} {'p50 s':>6} {'p99 s':>6} {'max s':>6}  statuses")
    for load in loads:
        print(
            f"{load['connections']:>11} {load['requests_per_second']:>7.0f} "
            f"{load['p50_s']:>6.2f} {load['p99_s']:>6.2f} {load['max_s']:>6.2f}  "
            f"{load['statuses']}"
        )
    print(f"partial requests: {partial}")
    print(f"100 KB method: {method}")
    print(json.dumps({"cpus": os.cpu_count(), "loads": loads, "partial": partial, **method}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
