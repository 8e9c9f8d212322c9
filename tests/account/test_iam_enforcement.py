"""The policy `chaos plan` prints is enough for the run, and one action less is not.

A sandbox whose moto enforces IAM runs in a process of its own (tests/account/iam_sandbox.py:
moto's enforcement is process-wide). An IAM user holding only the planned policy runs
experiments/origin-outage.yaml with `chaos run`: it holds, and the whole target is as before.
The same policy without s3:PutBucketPolicy: the fault is refused, and the run says which
call AWS refused. What moto 5.2.5 cannot check (docs/iam.md) is pinned here too, so that a
moto that learns it shows.
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chaos_runner.aws import LOOPBACK_ACCESS_KEY, LOOPBACK_SECRET_KEY
from chaos_runner.digest import target_digest
from chaos_runner.sandbox.state import SandboxInfo
from chaos_runner.target import Target
from tests.commands import chaos

ROOT = Path(__file__).resolve().parents[2]
HELPER = Path(__file__).with_name("iam_sandbox.py")
ORIGIN_OUTAGE = str(ROOT / "experiments" / "origin-outage.yaml")
#: The sandbox's own credentials: its requests are AWS's services' (not checked).
OPERATOR = {"AWS_ACCESS_KEY_ID": LOOPBACK_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": LOOPBACK_SECRET_KEY}

pytestmark = pytest.mark.slow  # a sandbox process for the module, two whole runs


@pytest.fixture(scope="module")
def enforcing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    """A sandbox whose moto checks every user's request against the user's policies."""
    home = tmp_path_factory.mktemp("enforcing")
    state = home / "sandbox.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "AWS_"))}
    env["CHAOS_STATE_DIR"] = str(home)
    with (home / "sandbox.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(HELPER), "--state-file", str(state)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not state.exists():
            assert process.poll() is None, (home / "sandbox.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the enforcing sandbox did not start"
            time.sleep(0.05)
        yield SandboxInfo.read(state)
    finally:
        process.terminate()
        process.wait(timeout=30)


def client(info: SandboxInfo, service: str, credentials: dict[str, str]) -> Any:
    return boto3.client(
        service,
        endpoint_url=info.aws_endpoint_url,
        region_name=info.region,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
    )


def user(info: SandboxInfo, name: str, policy: dict[str, Any] | None) -> dict[str, str]:
    """The credentials of a new IAM user holding only ``policy`` (None: nothing)."""
    iam = client(info, "iam", OPERATOR)
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="chaos", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


def environment(info: SandboxInfo, credentials: dict[str, str], state: Path) -> dict[str, str]:
    """`chaos` pointed at the enforcing sandbox as a user would point it at AWS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "AWS_"))}
    return {
        **env,
        **credentials,
        "AWS_ENDPOINT_URL": info.aws_endpoint_url,
        "AWS_REGION": info.region,
        "CHAOS_SITE_URL": info.edge_url,
        "CHAOS_DISTRIBUTION_ID": info.distribution_id,
        "CHAOS_ORIGIN_BUCKET": info.bucket,
        "CHAOS_STATE_DIR": str(state),
        "CHAOS_LOCK_DIR": str(state / "locks"),
    }


def digest(info: SandboxInfo) -> str:
    target = Target("", info.distribution_id, info.bucket, info.region, info.aws_endpoint_url)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in OPERATOR.items():
            patch.setenv(name, value)
        return target_digest(target)


@pytest.fixture(scope="module")
def planned(enforcing: SandboxInfo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The policy `chaos plan --iam -` prints for origin-outage (planned with read rights)."""
    home = tmp_path_factory.mktemp("plan")
    printed = chaos(
        ["plan", ORIGIN_OUTAGE, "--iam", "-"], home, environment(enforcing, OPERATOR, home)
    )
    assert printed.returncode == 0, printed.stderr
    policy: dict[str, Any] = json.loads(printed.stdout)
    return policy


def run(
    info: SandboxInfo, credentials: dict[str, str], home: Path
) -> subprocess.CompletedProcess[str]:
    """`chaos run` of origin-outage with ``credentials``; its journal in ``home``."""
    journal = home / "journal.json"
    return chaos(
        ["run", "--journal-path", str(journal), ORIGIN_OUTAGE],
        home,
        environment(info, credentials, home),
        timeout=180,
    )


def test_the_planned_policy_is_enough_for_the_run(
    enforcing: SandboxInfo, planned: dict[str, Any], tmp_path: Path
) -> None:
    before = digest(enforcing)

    ran = run(enforcing, user(enforcing, "planned", planned), tmp_path)

    assert ran.returncode == 0, ran.stderr[-3000:]
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "completed"
    assert journal["chaostoolkit-cdn"]["restore_complete"] is True
    assert digest(enforcing) == before


def test_one_action_less_and_the_run_says_what_aws_refused(
    enforcing: SandboxInfo, planned: dict[str, Any], tmp_path: Path
) -> None:
    short = json.loads(json.dumps(planned))
    for statement in short["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != "s3:PutBucketPolicy"]
    assert short != planned
    before = digest(enforcing)

    ran = run(enforcing, user(enforcing, "short", short), tmp_path)

    assert ran.returncode == 1
    refused = (
        f"AWS refused to set the policy of bucket {enforcing.bucket} (PutBucketPolicy: "
        "AccessDenied: Access Denied)"
    )
    assert refused in ran.stderr
    problems = json.loads((tmp_path / "journal.json").read_text())["chaostoolkit-cdn"]["problems"]
    first = problems[0]
    assert (first["kind"], first["activity"]) == ("not-in-effect", "deny_origin_reads")
    assert digest(enforcing) == before


def test_a_plan_with_credentials_that_cannot_read_exits_2(
    enforcing: SandboxInfo, tmp_path: Path
) -> None:
    planned = chaos(
        ["plan", ORIGIN_OUTAGE, "--iam", str(tmp_path / "policy.json")],
        tmp_path,
        environment(enforcing, user(enforcing, "nobody", None), tmp_path),
    )

    assert planned.returncode == 2
    (line,) = planned.stderr.splitlines()
    assert line.startswith(
        f"error: The AWS credentials may not read distribution {enforcing.distribution_id} "
        "(GetDistribution: 403)"
    )
    assert not (tmp_path / "policy.json").exists()


def test_what_moto_checks_and_what_it_cannot(enforcing: SandboxInfo) -> None:
    """docs/iam.md, "What the sandbox proves": each line there is one assertion here."""
    bucket = f"arn:aws:s3:::{enforcing.bucket}"
    credentials = user(
        enforcing,
        "limits",
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetBucketPolicy", "Resource": bucket},
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"},
                {"Effect": "Allow", "Action": "cloudwatch:DescribeAlarms", "Resource": "*"},
                {"Effect": "Allow", "Action": "cloudfront:GetDistribution", "Resource": "*"},
                {"Effect": "Allow", "Action": "route53:ListHostedZones", "Resource": "*"},
            ],
        },
    )
    s3 = client(enforcing, "s3", credentials)

    # S3: actions and resources are checked
    assert s3.get_bucket_policy(Bucket=enforcing.bucket)["Policy"]
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.get_object(Bucket=enforcing.bucket, Key="index.html")  # granted on another bucket
    # STS GetCallerIdentity needs no permission, on AWS as in moto
    assert client(enforcing, "sts", credentials).get_caller_identity()["Account"]
    # CloudWatch: moto checks monitoring:DescribeAlarms, which no correct policy grants
    with pytest.raises(ClientError, match="monitoring:DescribeAlarms"):
        client(enforcing, "cloudwatch", credentials).describe_alarms()
    # CloudFront and Route 53: moto rejects the signature of every call, whatever the policy
    with pytest.raises(ClientError) as refused:
        client(enforcing, "cloudfront", credentials).get_distribution(Id=enforcing.distribution_id)
    assert refused.value.response["Errors"]["Error"]["Code"] == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as refused:
        client(enforcing, "route53", credentials).list_hosted_zones()
    assert refused.value.response["Errors"]["Error"]["Code"] == "SignatureDoesNotMatch"
