"""The gate's wall time on the whole catalog, for several --jobs values.

    python bench/gate_wall_time.py [--jobs 1 4] [--rounds 1] [PATH ...]

Runs `chaos gate PATH... --target sandbox --jobs N --json FILE` in a temporary directory
(each experiment on a fresh sandbox of its own, on loopback), and prints, per --jobs value,
the wall time, the gate's exit code and the outcomes. Nothing is asserted.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAOS = [sys.executable, "-m", "chaostoolkit", "--no-version-check"]


def one_gate(paths: list[str], jobs: int, directory: Path) -> tuple[float, int, Counter[str]]:
    report = directory / f"gate-{jobs}.json"
    began = time.monotonic()
    done = subprocess.run(
        [*CHAOS, "gate", *paths, "--target", "sandbox", "--jobs", str(jobs), "--json",
         str(report)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )  # fmt: skip
    seconds = time.monotonic() - began
    outcomes: Counter[str] = Counter()
    if report.exists():
        outcomes.update(e["outcome"] for e in json.loads(report.read_text())["experiments"])
    return seconds, done.returncode, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[str(ROOT / "experiments")])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--rounds", type=int, default=1)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as temporary:
        for jobs in arguments.jobs:
            times = []
            for _ in range(arguments.rounds):
                seconds, code, outcomes = one_gate(arguments.paths, jobs, Path(temporary))
                times.append(seconds)
                print(f"--jobs {jobs}: {seconds:6.1f} s, exit {code}, {dict(outcomes)}")
            print(f"--jobs {jobs}: median {statistics.median(times):.1f} s")


if __name__ == "__main__":
    main()
