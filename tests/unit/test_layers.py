"""The house's arrows point down: the low modules import nothing from the layers above."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "chaos_runner"
LOW = [
    "_errors",
    "arguments",
    "aws",
    "guard",
    "halt",
    "iam",
    "ledger",
    "metrics",
    "pages",
    "run",
    "target",
    "timeline",
    "verdict",
    "values",
    "waiter",
]
HIGH = (
    "cli", "controls", "engine", "faults", "gameday", "planning", "probes", "report", "risks",
    "sandbox",
)  # fmt: skip


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("name", LOW)
def test_a_low_module_neither_imports_nor_names_a_higher_one(name: str) -> None:
    path = PACKAGE / f"{name}.py"
    upward = {
        module
        for module in imported_modules(path)
        if module.startswith(tuple(f"chaos_runner.{layer}" for layer in HIGH))
    }
    # verdict.py reads journals, which name our activities' modules: that is data.
    text = "" if name == "verdict" else path.read_text()
    named = [layer for layer in HIGH if f"chaos_runner.{layer}." in text]

    assert not upward, f"{name}.py imports {sorted(upward)}"
    assert not named, f"{name}.py names modules of {named} (e.g. as strings to import)"
