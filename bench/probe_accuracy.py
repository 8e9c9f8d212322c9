"""Accuracy of the load probe's percentiles at a fixed rate. Run by hand:

    python bench/probe_accuracy.py [--rate 500] [--seconds 10] [--delays 20,50]

A tiny aiohttp server of the bench's own (in a process of its own, on loopback) answers
every GET after a fixed delay. For each delay, ``probes.load.measurement`` sends
``--rate`` requests a second for ``--seconds`` (open model), and ``wrk`` sends at the same
rate in its closed loop (``rate x delay`` connections keep that rate). Reports p50 and p99
of both beside the known delay, and their errors relative to it. Also, for reference, the
same comparison on a sandbox cache hit (no known delay: ours against wrk only).

Not a test: no assertion on figures. Needs ``wrk`` for the comparison columns.
"""

import argparse
import asyncio
import json
import math
import multiprocessing
import re
import shutil
import subprocess
import sys
import urllib.request
from typing import Any

from probe_sandbox import detached_sandbox

from probes import load


def serve(port_out: Any, delays: list[float]) -> None:
    """The known-delay server: /<ms> answers after that many milliseconds."""
    import uvloop
    from aiohttp import web

    async def delayed(request: web.Request) -> web.Response:
        await asyncio.sleep(int(request.match_info["ms"]) / 1000)
        return web.Response(body=b"done")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{ms:\\d+}", delayed)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
        port_out.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    uvloop.run(main())


def wrk_percentiles(url: str, connections: int, seconds: float) -> dict[str, float]:
    answer = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", url],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    )  # fmt: skip
    found = {}
    for label, key in (("50%", "p50"), ("99%", "p99")):
        match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", answer.stdout, re.M)
        if match is None:
            raise RuntimeError(f"wrk printed no {label} latency:\n{answer.stdout}")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        found[key] = round(float(match.group(1)) * scale, 3)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", answer.stdout)
    found["rate"] = float(rate.group(1)) if rate else 0.0
    return found


def ours(url: str, path: str, rate: float, seconds: float) -> dict[str, float]:
    result = load.measurement(path, rate=rate, duration=seconds, configuration={"site_url": url})
    return {
        "p50": result["p50_ms"],
        "p99": result["p99_ms"],
        "rate": result["achieved_rate"],
        "late": result["late"],
        "availability": result["availability"],
    }


def error(seen: float, truth: float) -> str:
    return f"{(seen - truth) / truth * 100:+.1f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--delays", default="20,50", help="milliseconds, comma-separated")
    args = parser.parse_args()
    has_wrk = shutil.which("wrk") is not None
    delays = [int(d) for d in args.delays.split(",")]
    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.get_context("spawn").Process(
        target=serve, args=(send, delays), daemon=True
    )
    server.start()
    report: dict[str, Any] = {"rate": args.rate, "seconds": args.seconds, "known_delay": {}}
    try:
        url = f"http://127.0.0.1:{receive.recv()}"
        for delay in delays:
            path = f"/{delay}"
            row: dict[str, Any] = {"ours": ours(url, path, args.rate, args.seconds)}
            row["ours_error"] = {k: error(row["ours"][k], delay) for k in ("p50", "p99")}
            if has_wrk:
                connections = max(1, math.ceil(args.rate * delay / 1000))
                row["wrk"] = wrk_percentiles(url + path, connections, args.seconds)
                row["wrk_connections"] = connections
                row["wrk_error"] = {k: error(row["wrk"][k], delay) for k in ("p50", "p99")}
            report["known_delay"][f"{delay} ms"] = row
            print(json.dumps({f"{delay} ms": row}), flush=True)
    finally:
        server.terminate()
        server.join(timeout=5)
    if has_wrk:
        with detached_sandbox() as sandbox:
            urllib.request.urlopen(sandbox.edge_url + "/", timeout=10).read()
            hit = ours(sandbox.edge_url, "/", args.rate, args.seconds)
            # wrk's closed loop at ~1 ms per answer needs a single connection to stay near the
            # rate; it still runs faster than the rate, which lowers its latency.
            report["sandbox_cache_hit"] = {
                "ours": hit,
                "wrk_1_connection": wrk_percentiles(sandbox.edge_url + "/", 1, args.seconds),
            }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
