"""Memory of the load probe over a long run: RSS stays flat. Run by hand:

    python bench/probe_memory.py [--requests 1000000] [--connections 32]

Starts a detached sandbox, warms ``/`` into the edge cache, runs a short warm-up load (so
that connection pools and the histogram exist), then one ``probes.load.measurement`` of
``--requests`` requests in the closed model, in this process. A thread samples this
process's RSS every second. Reports RSS at the start and the end of the long run, its peak,
and the RSS at each tenth of the run. All traffic stays on loopback. At the sandbox's
~4000 cache hits a second, a million requests take about four minutes.
"""

import argparse
import json
import sys
import threading
import time
import urllib.request

from probe_sandbox import detached_sandbox, rss_mib

from probes import load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample_rss() -> None:
        began = time.monotonic()
        while not done.wait(1.0):
            samples.append((time.monotonic() - began, rss_mib()))

    with detached_sandbox() as sandbox:
        configuration = {"site_url": sandbox.edge_url}
        urllib.request.urlopen(sandbox.edge_url + "/", timeout=10).read()
        load.measurement("/", rate=0, requests=20_000, concurrency=args.connections,
                         configuration=configuration)  # fmt: skip
        start_rss = rss_mib()
        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        result = load.measurement(
            "/", rate=0, duration=0, requests=args.requests, concurrency=args.connections,
            configuration=configuration,
        )  # fmt: skip
        done.set()
        sampler.join(timeout=5)
        end_rss = rss_mib()
    tenths = [samples[min(len(samples) - 1, len(samples) * k // 10)][1] for k in range(1, 11)]
    print(json.dumps({
        "requests": result["total"],
        "availability": result["availability"],
        "elapsed_s": result["elapsed_s"],
        "achieved_rate": result["achieved_rate"],
        "timeline_rows": len(result["timeline"]),
        "rss_mib": {
            "start": round(start_rss, 1),
            "end": round(end_rss, 1),
            "peak": round(max(rss for _, rss in samples), 1),
            "by_tenth_of_the_run": [round(rss, 1) for rss in tenths],
        },
        "latency_ms": result["latency_ms"],
    }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
