"""The sandbox in a user's day, with real `chaos`, `hugo` and `bash` processes on loopback.

- `hugo deploy` with the block `chaos sandbox env --hugo` printed works again after the
  sandbox is stopped and started from the same directory, with no edit of hugo.toml.
- A shell still holding the variables of a stopped sandbox gets one sentence before the
  experiment (no probe, no lock, no ledger), an `invalid` verdict, and a way out that works.
- A shell missing CHAOS_SANDBOX_ADMIN_URL is told that this variable is missing.
"""

import json
import shlex
import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed

from chaos_runner.faults import origin_link
from chaos_runner.ledger import Ledger
from tests.commands import CHAOS, chaos
from tests.experiments.conftest import detached_sandbox  # noqa: F401  (a fixture)
from tests.sandbox.test_sandbox_hugo_deploy import HUGO, SOURCES

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"


def free_port() -> int:
    """A loopback port nothing listens on now (for a sandbox that must keep its ports)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def exports(cwd: Path, env: dict[str, str]) -> dict[str, str]:
    """What `eval "$(chaos sandbox env)"` sets, as a dict."""
    printed = chaos(["sandbox", "env"], cwd, env)
    assert printed.returncode == 0, printed.stderr
    pairs = (shlex.split(line.removeprefix("export "))[0] for line in printed.stdout.splitlines())
    return dict(pair.split("=", 1) for pair in pairs)


def page(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
        return body


def run_experiment(
    name: str, cwd: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result = chaos(["run", str(EXPERIMENTS / name), "--journal-path", "j.json"], cwd, env)
    return result, json.loads((cwd / "j.json").read_text())


# --- hugo deploy across a restart ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(HUGO is None, reason="hugo is in the dev extra; not installed here")
def test_hugo_deploy_needs_no_edit_after_the_sandbox_restarts(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    assert HUGO is not None
    hugo = HUGO
    up = ["sandbox", "up", "--detach", "--pops", "1"]
    up += ["--aws-port", str(free_port()), "--edge-port", str(free_port())]
    source = tmp_path / "site"
    shutil.copytree(SOURCES, source, ignore=shutil.ignore_patterns(".hugo_build.lock"))
    about = (source / "content" / "about.md").read_text()
    hugo_env = {k: v for k, v in clean_env.items() if not k.startswith("HUGO_")}

    def deploy(marker: str) -> tuple[str, bytes]:
        (source / "content" / "about.md").write_text(f"{about}\n{marker}\n")
        runs = [
            subprocess.run(
                [hugo, "--source", str(source), *args],
                env=hugo_env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            for args in (
                ["--minify", "--noBuildLock", "--quiet"],
                ["deploy", "--target", "sandbox", "--invalidateCDN"],
            )
        ]
        for done in runs:
            assert done.returncode == 0, done.stdout + done.stderr
        return runs[1].stdout + runs[1].stderr, page(hugo_env["CHAOS_SITE_URL"] + "/about/")

    blocks, ids, deployed = [], [], []
    for cycle in ("first", "second"):
        started = chaos(up, tmp_path, clean_env)
        assert started.returncode == 0, started.stderr
        try:
            block = chaos(["sandbox", "env", "--hugo"], tmp_path, clean_env).stdout
            if cycle == "first":  # the shell evals once, hugo.toml is written once
                hugo_env.update(exports(tmp_path, clean_env))
                with (source / "hugo.toml").open("a") as config:
                    config.write("\n" + block)
            blocks.append(block)
            ids.append(exports(tmp_path, clean_env)["CHAOS_DISTRIBUTION_ID"])
            deployed.append(deploy(f"Deployed by hugo, {cycle} sandbox"))
        finally:
            stopped = chaos(["sandbox", "down"], tmp_path, clean_env)
        assert stopped.returncode == 0, stopped.stderr

    assert ids[0] == ids[1]
    assert blocks[0] == blocks[1]
    assert f'cloudFrontDistributionID = "{ids[0]}"' in blocks[0]
    for (output, about_page), cycle in zip(deployed, ("first", "second"), strict=True):
        assert "Invalidating CloudFront CDN" in output
        assert f"Deployed by hugo, {cycle} sandbox".encode() in about_page


@pytest.mark.slow
def test_a_sandbox_starts_again_at_once_on_the_ports_of_one_just_stopped(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    edge_port = free_port()
    up = ["sandbox", "up", "--detach", "--pops", "1", "--edge-port", str(edge_port)]
    up += ["--aws-port", str(free_port())]
    other = tmp_path / "other"
    other.mkdir()
    other_env = {**clean_env, "CHAOS_STATE_DIR": str(other / ".chaos")}
    answers = []
    for _ in range(2):
        started = chaos(up, tmp_path, clean_env)
        assert started.returncode == 0, started.stderr
        try:
            # Answered and closed by the edge: its side of each connection is in TIME_WAIT.
            answers += [page(f"http://127.0.0.1:{edge_port}{path}") for path in ("/", "/about/")]
            twin = chaos([*up[:-1], "0"], other, other_env)  # same edge port, live sandbox
        finally:
            assert chaos(["sandbox", "down"], tmp_path, clean_env).returncode == 0

        assert twin.returncode == 1
        assert f"cannot listen on 127.0.0.1:{edge_port} for its edge" in twin.stderr
    assert len(answers) == 4


# --- the variables of a sandbox that is gone ----------------------------------------------


@pytest.mark.slow
def test_a_run_with_the_variables_of_a_stopped_sandbox_stops_before_the_experiment(
    tmp_path: Path,
    clean_env: dict[str, str],
    detached_sandbox: dict[str, Any],  # noqa: F811
) -> None:
    state = detached_sandbox
    stale = {**clean_env, **exports(tmp_path, clean_env), "CHAOS_LOCK_DIR": str(tmp_path / "locks")}
    assert chaos(["sandbox", "down"], tmp_path, clean_env).returncode == 0

    result, journal = run_experiment("origin-outage.yaml", tmp_path, stale)
    verdict = chaos(["verdict", "j.json"], tmp_path, stale)

    assert result.returncode == 1
    sentence = (
        "The shell's variables point at a sandbox that is gone (nothing answers at "
        f"CHAOS_SITE_URL={state['edge_url']} or AWS_ENDPOINT_URL={state['aws_endpoint_url']}): "
        'clear them with `eval "$(chaos sandbox env --unset)"` and `chaos run` starts a '
        "sandbox of its own, or start one with `chaos sandbox up --detach` and "
        '`eval "$(chaos sandbox env)"`; nothing was injected.'
    )
    assert sentence in result.stderr
    for absent in ("Target: ", "EndpointConnectionError", "Traceback", "Sandbox started"):
        assert absent not in result.stderr
    assert (journal["status"], journal["run"], journal["steady_states"]["before"]) == (
        "interrupted",
        [],
        None,
    )
    section = journal["chaostoolkit-cdn"]
    assert [(p["kind"], p["message"]) for p in section["problems"]] == [("invalid", sentence)]
    assert (section["faults"], section["restore_complete"]) == ([], True)
    assert verdict.returncode == 2, verdict.stdout + verdict.stderr
    assert "invalid" in verdict.stdout
    assert not (tmp_path / "locks").exists()  # the safety control never took the lock
    assert not (tmp_path / ".chaos" / "ledger.jsonl").exists()
    assert not (tmp_path / ".chaos" / "sandbox.json").exists()  # and no sandbox started


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_way_out_the_sentence_gives_works_in_a_shell(
    tmp_path: Path,
    clean_env: dict[str, str],
    detached_sandbox: dict[str, Any],  # noqa: F811
) -> None:
    stale = {**clean_env, **exports(tmp_path, clean_env)}
    assert chaos(["sandbox", "down"], tmp_path, clean_env).returncode == 0
    chaos_function = "chaos() { " + " ".join(map(shlex.quote, CHAOS)) + ' "$@"; }\n'
    script = f"""
        eval "$(chaos sandbox env --unset)"
        chaos run {shlex.quote(str(EXPERIMENTS / "distribution-disabled.yaml"))} \\
            --journal-path j.json
    """

    result = subprocess.run(
        ["bash", "-c", chaos_function + script],
        cwd=tmp_path,
        env=stale,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    journal = json.loads((tmp_path / "j.json").read_text())
    assert result.returncode == 0, result.stderr[-3000:]
    assert "No CHAOS_* target set: starting the local sandbox" in result.stderr
    assert journal["status"] == "completed"
    assert journal["chaostoolkit-cdn"]["target_kind"] == "sandbox"


# --- origin link faults without CHAOS_SANDBOX_ADMIN_URL -----------------------------------


@pytest.mark.slow
def test_an_origin_link_fault_without_the_admin_url_names_the_variable(
    tmp_path: Path,
    clean_env: dict[str, str],
    detached_sandbox: dict[str, Any],  # noqa: F811
) -> None:
    env = {**clean_env, **exports(tmp_path, clean_env), "CHAOS_LOCK_DIR": str(tmp_path / "locks")}
    del env["CHAOS_SANDBOX_ADMIN_URL"]

    result, journal = run_experiment("origin-latency.yaml", tmp_path, env)

    message = (
        "Origin link faults need CHAOS_SANDBOX_ADMIN_URL (the sandbox's admin API; the AWS "
        "APIs and the site are the sandbox's), and it is not set: `chaos sandbox env` prints "
        'it, so run `eval "$(chaos sandbox env)"` again.'
    )
    assert "Target: sandbox" in result.stderr
    assert message in result.stderr
    assert "run only on the sandbox" not in result.stderr
    section = journal["chaostoolkit-cdn"]
    # the refused fault; the checks after it may fail too (nothing was injected)
    invalid = [(p["kind"], p["message"]) for p in section["problems"] if p["kind"] == "invalid"]
    assert invalid == [("invalid", message)]
    assert section["faults"] == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AWS_ENDPOINT_URL", "https://cloudfront.amazonaws.com"),
        ("CHAOS_SITE_URL", "https://www.example.com"),
    ],
)
def test_without_the_admin_url_a_real_target_is_still_refused_as_before(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("CHAOS_SANDBOX_ADMIN_URL", "CHAOS_LEDGER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHAOS_STATE_DIR", str(tmp_path / ".chaos"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("CHAOS_SITE_URL", "http://127.0.0.1:8480")
    monkeypatch.setenv(variable, value)

    with pytest.raises(ActivityFailed) as refused:
        origin_link.add_origin_errors(share=1.0)

    assert "Origin link faults run only on the sandbox" in str(refused.value)
    assert f"CHAOS_SANDBOX_ADMIN_URL=(unset), {variable}={value}" in str(refused.value)
    assert Ledger().entries() == []
