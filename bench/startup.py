"""Start-up costs, run by hand: `python bench/startup.py [--bare-venv DIR] [--runs N]`.

Reports, as medians of N runs:
- `chaos --version` with this extension installed, and in a venv with the same chaostoolkit
  but without the extension (created in --bare-venv on first use), and their ratio;
- the sandbox start time (`chaos sandbox up --detach` until it serves) and the stack's own
  start time as it reports it;
- one `chaos run experiments/origin-outage.yaml` on an auto-started sandbox, wall time.

All traffic stays on loopback. Not a test: no assertion on times.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(command: list[str], cwd: Path) -> float:
    began = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - began


def median_of(runs: int, command: list[str], cwd: Path) -> float:
    timed(command, cwd)  # warm the page cache
    return statistics.median(timed(command, cwd) for _ in range(runs))


def bare_chaos(venv: Path) -> Path:
    chaos = venv / "bin" / "chaos"
    if not chaos.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(venv / "bin" / "pip"), "install", "-q",
                f"chaostoolkit=={version('chaostoolkit')}",
                f"chaostoolkit-lib=={version('chaostoolkit-lib')}",
            ],
            check=True,
        )  # fmt: skip
    return chaos


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bare-venv", type=Path, default=Path(tempfile.gettempdir()) / "ctk-bare")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    chaos = [str(BIN / "chaos"), "--no-version-check", "--no-log-file"]

    with_plugin = median_of(args.runs, [*chaos, "--version"], work)
    bare = [str(bare_chaos(args.bare_venv)), "--no-version-check", "--no-log-file", "--version"]
    without_plugin = median_of(args.runs, bare, work)

    starts, reported = [], []
    for _ in range(max(3, args.runs // 3)):
        starts.append(
            timed(
                [*chaos, "sandbox", "up", "--detach", "--aws-port", "0", "--edge-port", "0"], work
            )
        )
        reported.append(
            json.loads((work / ".chaos" / "sandbox.json").read_text())["startup_seconds"]
        )
        subprocess.run([*chaos, "sandbox", "down"], cwd=work, check=True, capture_output=True)

    experiment = str(ROOT / "experiments" / "origin-outage.yaml")
    run = timed([*chaos, "run", experiment, "--journal-path", str(work / "journal.json")], work)

    runs = args.runs
    print(f"chaos --version with the extension:    {with_plugin * 1000:7.0f} ms (median of {runs})")
    print(f"chaos --version without the extension: {without_plugin * 1000:7.0f} ms")
    print(f"ratio:                                  {with_plugin / without_plugin:7.2f}x")
    start = statistics.median(starts)
    print(f"sandbox up --detach until it serves:    {start:7.2f} s (median of {len(starts)})")
    print(f"  of which the stack's own start:       {statistics.median(reported):7.2f} s")
    print(f"chaos run experiments/origin-outage.yaml: {run:5.1f} s (auto-started sandbox included)")


if __name__ == "__main__":
    main()
