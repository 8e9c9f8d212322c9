"""The `chaos` command as a user runs it, in a subprocess (no version check: loopback only)."""

import subprocess
import sys
from pathlib import Path

#: `chaos` with this interpreter; no call to the release server, no log file in the cwd.
CHAOS = [sys.executable, "-m", "chaostoolkit", "--no-version-check", "--no-log-file"]


def chaos(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `chaos ARGS` in ``cwd`` with ``env``; capture its output (text)."""
    return subprocess.run(
        [*CHAOS, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
