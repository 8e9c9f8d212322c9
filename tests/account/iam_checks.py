"""Helpers of the IAM tests: parliament as a user runs it."""

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: parliament's command, from this interpreter's environment.
PARLIAMENT = str(Path(sys.executable).with_name("parliament"))


def parliament_findings(
    policies: Mapping[str, dict[str, Any]], directory: Path
) -> dict[str, set[str]]:
    """What parliament finds at MEDIUM or above in each policy (by name), community auditors
    included: one parliament process for all of them (each file is written to ``directory``)."""
    files = {}
    for name, policy in policies.items():
        files[name] = directory / f"{name}.json"
        files[name].write_text(json.dumps(policy))
    checked = subprocess.run(
        [
            PARLIAMENT, "--json", "--minimum_severity", "MEDIUM", "--include-community-auditors",
            "--files", ",".join(str(path) for path in files.values()),
        ],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode in (0, 1), checked.stderr
    found: dict[str, set[str]] = {name: set() for name in policies}
    by_path = {str(path): name for name, path in files.items()}
    for line in checked.stdout.splitlines():
        finding = json.loads(line)
        found[by_path[finding["location"]["filepath"]]].add(finding["issue"])
    return found
