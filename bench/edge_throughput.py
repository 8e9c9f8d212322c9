"""Throughput of the sandbox edge on cache hits, and of what sits behind it. Run by hand:

    python bench/edge_throughput.py [--seconds 10] [--origin-seconds 3] [--page /about/]

Starts a sandbox in its own process (``python -m chaos_runner.sandbox``, on uvloop where it
is installed), warms the page into the first POP's cache, then runs ``wrk -t2 -c50
--latency`` against the edge (cache hits), and, for fewer seconds, against the S3 website
endpoint emulator (each request reads the object from moto) and against moto's REST
endpoint directly (an anonymous GET of the object). Reports requests per second and the
p50/p99 latencies wrk measured, as a table and as one JSON line. Needs ``wrk``
(``apt-get install wrk``). All traffic stays on loopback. Not a test: no assertion on
figures; the aim is at least 5,000 cache hits per second on 2 cores.
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@contextlib.contextmanager
def sandbox_process() -> Iterator[dict[str, Any]]:
    """A sandbox in a child process; its state file's contents while it runs."""
    state = Path(tempfile.mkdtemp(prefix="bench-edge-")) / "sandbox.json"
    log = state.with_name("sandbox.log")
    with log.open("wb") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "chaos_runner.sandbox", "--state-file", str(state)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not state.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start; its log:\n{log.read_text()}")
            time.sleep(0.05)
        yield json.loads(state.read_text())  # written atomically once everything serves
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGTERM)
        child.wait(timeout=15)


def wrk(url: str, seconds: float, host: str | None = None) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms) of ``wrk -t2 -c50 --latency`` for ``seconds``."""
    command = ["wrk", "-t2", "-c50", f"-d{seconds:g}s", "--latency", url]
    if host:
        command[1:1] = ["-H", f"Host: {host}"]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if rate is None:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{out}")
    return {
        "requests_per_second": float(rate.group(1)),
        "p50_ms": _percentile(out, "50%"),
        "p99_ms": _percentile(out, "99%"),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def _percentile(out: str, which: str) -> float:
    found = re.search(rf"^\s*{re.escape(which)}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no {which} latency (run with --latency):\n{out}")
    return round(float(found.group(1)) * _UNITS[found.group(2)], 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--origin-seconds", type=float, default=3.0)
    parser.add_argument("--page", default="/about/")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    with sandbox_process() as state:
        edge_url = state["edge_url"] + args.page
        for _ in range(2):  # the first is a miss; then a hit
            with urllib.request.urlopen(edge_url, timeout=10) as response:
                x_cache = response.headers.get("X-Cache", "")
        if x_cache != "Hit from cloudfront":
            print(f"{args.page} is not a cache hit ({x_cache}); pick a cacheable page.")
            return 1
        key = args.page.lstrip("/") + ("index.html" if args.page.endswith("/") else "")
        website_host = f"{state['bucket']}.s3-website-{state['region']}.amazonaws.com"
        results = {
            "edge (cache hits)": wrk(edge_url, args.seconds),
            "website endpoint": wrk(
                state["website_url"] + args.page, args.origin_seconds, host=website_host
            ),
            "moto REST GET": wrk(
                f"{state['aws_endpoint_url']}/{state['bucket']}/{key}", args.origin_seconds
            ),
        }
    print(f"{'target':<20} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, figures in results.items():
        print(
            f"{name:<20} {figures['requests_per_second']:>10.0f} {figures['p50_ms']:>8.2f} "
            f"{figures['p99_ms']:>8.2f} {figures['non_2xx']:>8.0f}"
        )
    print(json.dumps({"cpus": os.cpu_count(), "page": args.page, **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
