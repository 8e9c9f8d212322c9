"""The user's own built site on the sandbox: `chaos gate --site-dir` and CHAOS_SANDBOX_SITE_DIR.

A directory that is not a built site is refused before anything runs, in one line: by the
gate with exit 2, by the sandbox control of a plain `chaos run` before the experiment.
"""

import json
from pathlib import Path

import pytest

from tests.commands import chaos

ROOT = Path(__file__).resolve().parents[2]
DISABLED = ROOT / "experiments" / "distribution-disabled.yaml"


@pytest.fixture
def sites(tmp_path: Path) -> Path:
    """A built site (site/), a file (file.txt), sources with no index.html (src/)."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<html>home</html>")
    (tmp_path / "file.txt").write_text("not a site")
    (tmp_path / "src" / "content").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "variables", "message"),
    [
        (["--site-dir", "missing"], {}, "--site-dir missing: there is no such directory"),
        (["--site-dir", "file.txt"], {}, "--site-dir file.txt is a file, not a directory"),
        (["--site-dir", "src"], {}, "--site-dir src has no index.html at its top"),
        (
            [],
            {"CHAOS_SANDBOX_SITE_DIR": "missing"},
            "CHAOS_SANDBOX_SITE_DIR=missing: there is no such directory",
        ),
    ],
    ids=["missing", "a-file", "no-index-html", "variable"],
)
def test_a_site_dir_that_is_not_a_built_site_is_one_line_and_exit_2(
    sites: Path, clean_env: dict[str, str], args: list[str], variables: dict[str, str], message: str
) -> None:
    result = chaos(
        ["gate", str(DISABLED), "--target", "sandbox", *args], sites, {**clean_env, **variables}
    )

    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {message}")
    assert line.endswith("Nothing was run.")
    assert not (sites / ".chaos").exists()  # no sandbox, no ledger


def test_site_dir_without_the_sandbox_target_is_refused(
    sites: Path, clean_env: dict[str, str]
) -> None:
    target = {
        "CHAOS_SITE_URL": "https://www.example.com",
        "CHAOS_DISTRIBUTION_ID": "E123EXAMPLE",
        "CHAOS_ORIGIN_BUCKET": "www.example.com",
    }

    result = chaos(["gate", str(DISABLED), "--site-dir", "site"], sites, {**clean_env, **target})

    assert result.returncode == 2, result.stdout + result.stderr
    assert "--site-dir needs --target sandbox" in result.stderr


def test_chaos_run_with_a_missing_site_dir_stops_before_the_experiment(
    sites: Path, clean_env: dict[str, str]
) -> None:
    env = {**clean_env, "CHAOS_SANDBOX_SITE_DIR": str(sites / "missing")}

    result = chaos(["run", str(DISABLED), "--journal-path", "journal.json"], sites, env)

    assert result.returncode == 1, result.stderr
    assert f"CHAOS_SANDBOX_SITE_DIR={sites / 'missing'}: there is no such directory" in (
        result.stderr
    )
    assert "Nothing was injected." in result.stderr
    journal = json.loads((sites / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    assert journal["run"] == []  # not one activity ran
    assert not (sites / ".chaos" / "sandbox.json").exists()  # no sandbox was started


@pytest.mark.slow
def test_chaos_run_refuses_a_running_sandbox_that_serves_another_site(
    sites: Path, clean_env: dict[str, str]
) -> None:
    up = chaos(["sandbox", "up", "--detach", "--aws-port", "0", "--edge-port", "0"], sites,
               clean_env)  # fmt: skip
    assert up.returncode == 0, up.stderr
    assert "site files:   the demo site" in up.stdout
    try:
        env = {**clean_env, "CHAOS_SANDBOX_SITE_DIR": str(sites / "site")}
        result = chaos(["run", str(DISABLED), "--journal-path", "journal.json"], sites, env)
    finally:
        chaos(["sandbox", "down"], sites, clean_env)

    assert result.returncode == 1, result.stderr
    assert "serves the demo site, not CHAOS_SANDBOX_SITE_DIR=" in result.stderr
    assert json.loads((sites / "journal.json").read_text())["run"] == []
