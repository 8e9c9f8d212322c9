"""Restore time of every reversible fault on the sandbox, run by hand:
`python bench/restore_times.py [--rounds N]`.

For each fault: inject it on an in-process sandbox, then time `restore_entries` (what the
safety control and `chaos rollback` run), and check the target's digest is back. Prints the
median and the worst of N rounds. All traffic stays on loopback. Not a test.
"""

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from chaos_runner.digest import target_digest
from chaos_runner.faults import cloudfront, objects, origin_link, s3
from chaos_runner.ledger import Ledger, restore_entries
from chaos_runner.sandbox.testing import running_sandbox
from chaos_runner.target import Target

FAULTS: dict[str, Callable[[], Any]] = {
    "deny_origin_reads": s3.deny_origin_reads,
    "delete_objects (2 keys)": lambda: objects.delete_objects(
        keys="about/index.html,posts/index.html"
    ),
    "corrupt_objects (2 keys)": lambda: objects.corrupt_objects(
        keys="about/index.html,posts/index.html"
    ),
    "disable_distribution": lambda: cloudfront.disable_distribution(deploy_timeout=30),
    "blackhole_origin": lambda: cloudfront.blackhole_origin(deploy_timeout=30),
    "raise_error_caching_ttl": lambda: cloudfront.raise_error_caching_ttl(deploy_timeout=30),
    "lower_cache_ttls": lambda: cloudfront.lower_cache_ttls(deploy_timeout=30),
    "fail_over_origin": lambda: cloudfront.fail_over_origin(deploy_timeout=30),
    "add_origin_latency": origin_link.add_origin_latency,
    "add_origin_errors": origin_link.add_origin_errors,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ["CHAOS_STATE_DIR"] = tempfile.mkdtemp(prefix="bench-restore-")
    with running_sandbox() as sandbox:
        os.environ.update(sandbox.info.environment())
        original = target_digest(Target.resolve())
        print(f"{'fault':28} {'median':>9} {'worst':>9}   digest back")
        for name, inject in FAULTS.items():
            times, intact = [], True
            for _ in range(args.rounds):
                inject()
                ledger = Ledger()
                began = time.perf_counter()
                reports = restore_entries(ledger, ledger.unrestored())
                times.append(time.perf_counter() - began)
                intact &= all(r.ok for r in reports) and target_digest(Target.resolve()) == original
            median, worst = statistics.median(times) * 1000, max(times) * 1000
            print(f"{name:28} {median:7.1f} ms {worst:7.1f} ms   {'yes' if intact else 'NO'}")


if __name__ == "__main__":
    main()
