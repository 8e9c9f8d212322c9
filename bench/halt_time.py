"""Time from `chaos halt` to the site restored, run by hand: `python bench/halt_time.py
[--tries N] [--gameday]`.

With ``--gameday`` each try runs `chaos gameday run` of a plan (target: environment) whose
one experiment is that slow outage, and checks that the game day ended ``aborted``.

One detached sandbox (`chaos sandbox up --detach`); each try starts `chaos run` of
origin-outage.yaml with a 60 s pause after its fault, waits for the fault (the bucket
policy denies reads), then runs `chaos halt` and polls the bucket policy every 20 ms until
it is back. Two figures per try: from starting the `chaos halt` command (its own start-up
included), and from the moment the switch was engaged (the time in the halt file). After
each try the run must have ended and the whole target's digest be as before; then the
switch is released. A lock directory of its own: the machine is never halted. All traffic
stays on loopback. Not a test.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import yaml

from chaos_runner.digest import target_digest
from chaos_runner.target import Target

ROOT = Path(__file__).resolve().parents[1]
CHAOS = [sys.executable, "-m", "chaostoolkit", "--no-version-check", "--no-log-file"]


def chaos(args: list[str], home: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CHAOS, *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def slow_outage(home: Path) -> Path:
    experiment = yaml.safe_load((ROOT / "experiments" / "origin-outage.yaml").read_text())
    for activity in experiment["method"]:
        if activity["name"] == "deny-origin-reads":
            activity["pauses"] = {"after": 60}
    path = home / "slow-outage.yaml"
    path.write_text(yaml.safe_dump(experiment))
    return path


def denied(s3: Any, bucket: str) -> bool:
    policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    return '"Deny"' in policy.replace(" ", "")


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def plan(home: Path) -> Path:
    """A game-day plan of the slow outage, on the sandbox named by the environment."""
    path = home / "halt-plan.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "title": "Halt bench",
                "hypothesis": "A halt stops the game day and the site is restored at once.",
                "target": "environment",
                "experiments": [str(slow_outage(home))],
            }
        )
    )
    return path


def one_try(
    home: Path, env: dict[str, str], s3: Any, state: dict[str, Any], gameday: bool
) -> tuple[float, float]:
    """(seconds from `chaos halt` started, seconds from the switch engaged) to restored."""
    if gameday:
        command = [*CHAOS, "gameday", "run", str(plan(home))]
    else:
        command = [*CHAOS, "run", str(slow_outage(home)), "--journal-path",
                   str(home / "journal.json")]  # fmt: skip
    run = subprocess.Popen(
        command, cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: denied(s3, state["bucket"]), 60, "the fault")
        started = time.time()
        halt = subprocess.Popen([*CHAOS, "halt", "--reason", "bench"], cwd=home, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        wait_for(lambda: not denied(s3, state["bucket"]), 30, "the restore")
        restored = time.time()
        halt.wait(30)
        run.wait(60)
    finally:
        if run.poll() is None:
            run.kill()
    engaged = json.loads((Path(env["CHAOS_LOCK_DIR"]) / "HALT").read_text())["when"]
    released = chaos(["halt", "--release"], home, env)
    assert released.returncode == 0, released.stderr
    if gameday:
        assert run.returncode == 5, run.returncode
        days = sorted(Path(env["CHAOS_GAMEDAY_DIR"]).glob("*/*/run.json"))
        assert json.loads(days[-1].read_text())["outcome"] == "aborted"
        journal = json.loads(next(days[-1].parent.glob("01-*/journal.json")).read_text())
    else:
        journal = json.loads((home / "journal.json").read_text())
    assert journal["status"] == "interrupted", journal["status"]
    assert journal["chaostoolkit-cdn"]["restore_complete"] is True
    return restored - started, restored - engaged


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tries", type=int, default=10)
    parser.add_argument("--gameday", action="store_true", help="halt a game day, not a run")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-halt-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "AWS_"))}
    env.update(CHAOS_STATE_DIR=str(home / ".chaos"), CHAOS_LOCK_DIR=str(home / "locks"))
    env.update(CHAOS_GAMEDAY_DIR=str(home / "gamedays"), CI="true")
    up = chaos(["sandbox", "up", "--detach", "--aws-port", "0", "--edge-port", "0"], home, env)
    assert up.returncode == 0, up.stderr
    try:
        state = json.loads((home / ".chaos" / "sandbox.json").read_text())
        aws = {
            "AWS_ENDPOINT_URL": state["aws_endpoint_url"],
            "AWS_REGION": state["region"],
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox-secret",
        }
        os.environ.update(aws)
        target = Target.resolve(
            environ={
                **aws,
                "CHAOS_SITE_URL": state["edge_url"],
                "CHAOS_DISTRIBUTION_ID": state["distribution_id"],
                "CHAOS_ORIGIN_BUCKET": state["bucket"],
            }
        )
        s3 = boto3.client(
            "s3",
            endpoint_url=state["aws_endpoint_url"],
            region_name=state["region"],
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox-secret",
        )
        target_env = {
            "CHAOS_SITE_URL": state["edge_url"],
            "CHAOS_DISTRIBUTION_ID": state["distribution_id"],
            "CHAOS_ORIGIN_BUCKET": state["bucket"],
            **aws,
        }
        original = target_digest(target)
        from_command, from_switch = [], []
        print(f"{'try':>3} {'from `chaos halt`':>18} {'from the switch':>16}   digest back")
        for number in range(1, args.tries + 1):
            command_s, switch_s = one_try(home, env | target_env, s3, state, args.gameday)
            intact = target_digest(target) == original
            from_command.append(command_s)
            from_switch.append(switch_s)
            back = "yes" if intact else "NO"
            print(f"{number:3} {command_s:16.2f} s {switch_s:14.2f} s   {back}")
        for label, values in (
            ("from `chaos halt`", from_command),
            ("from the switch", from_switch),
        ):
            print(f"{label}: median {statistics.median(values):.2f} s, max {max(values):.2f} s")
    finally:
        chaos(["sandbox", "down"], home, env)


if __name__ == "__main__":
    main()
