"""Throughput of the load probe beside wrk, on a sandbox cache hit. Run by hand:

    python bench/probe_throughput.py [--seconds 5] [--rounds 3] [--connections 32]

Starts a detached sandbox, warms ``/`` into the edge cache, then alternates, round after
round, ``wrk`` (1 and 2 threads) and ``probes.load.measurement`` in the closed model
(``rate: 0``, 1 and 2 processes), each for ``--seconds`` against the same URL with the same
number of connections. Reports the median requests per second of each, and our best over
wrk's best. Needs ``wrk`` (``apt-get install wrk``). All traffic stays on loopback.
Not a test: no assertion on figures.
"""

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import urllib.request

from probe_sandbox import detached_sandbox

from probes import load


def wrk(url: str, threads: int, connections: int, seconds: float) -> float:
    answer = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", url],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    )  # fmt: skip
    found = re.search(r"Requests/sec:\s+([\d.]+)", answer.stdout)
    if found is None:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{answer.stdout}{answer.stderr}")
    return float(found.group(1))


def ours(url: str, processes: int, connections: int, seconds: float) -> float:
    result = load.measurement(
        "/", rate=0, duration=seconds, concurrency=connections, processes=processes,
        configuration={"site_url": url},
    )  # fmt: skip
    assert result["availability"] == 1.0, result["status_counts"]
    assert result["hit_ratio"] is not None and result["hit_ratio"] > 0.99
    return result["total"] / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    runs: dict[str, list[float]] = {}
    with detached_sandbox() as sandbox:
        url = sandbox.edge_url
        for _ in range(3):
            urllib.request.urlopen(url + "/", timeout=10).read()  # warm: a cache hit from now
        contenders = {
            "wrk -t1": lambda: wrk(url + "/", 1, args.connections, args.seconds),
            "wrk -t2": lambda: wrk(url + "/", 2, args.connections, args.seconds),
            "probe, 1 process": lambda: ours(url, 1, args.connections, args.seconds),
            "probe, 2 processes": lambda: ours(url, 2, args.connections, args.seconds),
        }
        for round_number in range(args.rounds):
            for name, contender in contenders.items():
                runs.setdefault(name, []).append(contender())
                print(f"round {round_number + 1}: {name}: {runs[name][-1]:.0f} req/s", flush=True)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    best_wrk = max(value for name, value in medians.items() if name.startswith("wrk"))
    best_ours = max(value for name, value in medians.items() if name.startswith("probe"))
    print(json.dumps({
        "connections": args.connections,
        "seconds": args.seconds,
        "median_req_per_s": {name: round(value) for name, value in medians.items()},
        "ratio_best_probe_to_best_wrk": round(best_ours / best_wrk, 2),
    }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
