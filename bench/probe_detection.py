"""Time to detect and time to recover an origin outage, as the watch probe sees them.

    python bench/probe_detection.py [--runs 5] [--rate 10] [--outage 2]

Starts a detached sandbox and uploads one page the edge does not cache (``Cache-Control:
no-cache``: every GET reaches the origin, as for any page not in cache). Each run starts
two watches at ``--rate`` samples a second, one on that uncached page and one on cached
pages (``/`` and a post, warmed first), then injects the origin outage of
experiments/origin-outage.yaml (``deny_origin_reads``), waits ``--outage`` seconds, and
restores it through the ledger (``restore_injected_faults``), as the experiment does.
Reports time-to-detect and time-to-recover of every run, with median and worst, and what
the watch on cached pages saw. All traffic stays on loopback.
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
import uuid
from typing import Any

import boto3
from probe_sandbox import detached_sandbox

from chaos_runner.faults.ledger import restore_injected_faults
from chaos_runner.faults.s3 import deny_origin_reads
from probes import watch
from probes.watch import WatchResult


def watched(paths: list[str], rate: float, out: list[WatchResult]) -> threading.Thread:
    def run() -> None:
        out.append(watch.health_timeline(paths, rate=rate, recovery_window=1.0, max_duration=120))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def one_run(key: str, rate: float, outage_s: float) -> dict[str, Any]:
    os.environ["CHAOS_RUN_ID"] = f"bench-{uuid.uuid4().hex[:8]}"
    uncached: list[WatchResult] = []
    cached: list[WatchResult] = []
    threads = [
        watched([f"/{key}"], rate, uncached),
        watched(["/", "/posts/origin-outage/"], rate, cached),
    ]
    time.sleep(1.0)  # a healthy baseline
    try:
        fault = deny_origin_reads(verify_key=key)
        time.sleep(outage_s)
    finally:
        restore_injected_faults()
    for thread in threads:
        thread.join(timeout=150)
    seen, kept = uncached[0], cached[0]
    return {
        "uncached": {
            "time_to_detect_s": seen["time_to_detect_s"],
            "time_to_recover_s": seen["time_to_recover_s"],
            "availability_during_fault": seen["availability_during_fault"],
            "segments": [(s["healthy"], s["samples"], s["answers"]) for s in seen["segments"]],
        },
        "cached": {
            "detected": kept["detected"],
            "availability_during_fault": kept["availability_during_fault"],
        },
        "fault_verified_in_s": fault["verified_in_seconds"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--outage", type=float, default=2.0)
    args = parser.parse_args()
    with detached_sandbox() as sandbox:
        s3 = boto3.client("s3", endpoint_url=sandbox.aws_endpoint_url, region_name=sandbox.region)
        key = f"bench/live-{uuid.uuid4().hex[:8]}.html"
        s3.put_object(Bucket=sandbox.bucket, Key=key, Body=b"<html>live</html>",
                      ContentType="text/html", CacheControl="no-cache")  # fmt: skip
        for path in ("/", "/posts/origin-outage/"):
            urllib.request.urlopen(sandbox.edge_url + path, timeout=10).read()
        runs = []
        for number in range(args.runs):
            runs.append(one_run(key, args.rate, args.outage))
            print(json.dumps({"run": number + 1, **runs[-1]}), flush=True)
    detect = [r["uncached"]["time_to_detect_s"] for r in runs]
    recover = [r["uncached"]["time_to_recover_s"] for r in runs]
    found = [value for value in detect if value is not None]
    back = [value for value in recover if value is not None]
    print(json.dumps({
        "rate_hz": args.rate,
        "runs": args.runs,
        "uncached_page": {
            "time_to_detect_s": {"median": statistics.median(found) if found else None,
                                 "worst": max(found) if found else None,
                                 "not_detected": detect.count(None)},
            "time_to_recover_s": {"median": statistics.median(back) if back else None,
                                  "worst": max(back) if back else None,
                                  "not_recovered": recover.count(None)},
        },
        "cached_pages_detected_in_runs": sum(r["cached"]["detected"] for r in runs),
    }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
