"""The policy `chaos plan` writes for each experiment passes parliament, and is scoped.

parliament runs with its community auditors, at MEDIUM and above. Two findings are allowed,
and only for a policy that grants ``s3:PutBucketPolicy`` (the origin outage by bucket
policy): a principal that may write a bucket's policy may grant itself anything on that
bucket (RESOURCE_POLICY_PRIVILEGE_ESCALATION) and manages a resource policy
(PERMISSIONS_MANAGEMENT_ACTIONS). Writing that policy *is* the fault, so the grant cannot
go; it is scoped to the one bucket, and docs/iam.md says how to avoid it (an origin outage
by CloudFront config, ``blackhole_origin``, needs no bucket-policy right).
"""

import json
from pathlib import Path

import pytest

from chaos_runner import iam
from chaos_runner.planning import ExperimentPlan, plan_experiments
from chaos_runner.sandbox.state import SandboxInfo
from tests.account.iam_checks import parliament_findings

EXPERIMENTS = sorted((Path(__file__).resolve().parents[2] / "experiments").glob("*.yaml"))
NAMES = [path.name for path in EXPERIMENTS]
#: Findings a bucket-policy fault cannot avoid (see the module docstring).
BUCKET_POLICY_FINDINGS = {"RESOURCE_POLICY_PRIVILEGE_ESCALATION", "PERMISSIONS_MANAGEMENT_ACTIONS"}


@pytest.fixture(scope="module")
def plans(sandbox_stack: object) -> dict[str, ExperimentPlan]:
    """Every experiment's plan on the session's sandbox (the environment set by hand: the
    fixture is module-scoped, monkeypatch is not)."""
    info: SandboxInfo = sandbox_stack.info  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as patch:
        for name, value in info.environment().items():
            patch.setenv(name, value)
        plans = plan_experiments([str(path) for path in EXPERIMENTS])
    return {Path(plan.path).name: plan for plan in plans}


@pytest.fixture(scope="module")
def findings(
    plans: dict[str, ExperimentPlan], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, set[str]]:
    """parliament's findings in each experiment's policy (one parliament run for all)."""
    policies = {name: iam.policy(plan.grants) for name, plan in plans.items()}
    return parliament_findings(policies, tmp_path_factory.mktemp("policies"))


@pytest.mark.parametrize("experiment", NAMES)
def test_the_policy_of_each_experiment_passes_parliament(
    experiment: str, plans: dict[str, ExperimentPlan], findings: dict[str, set[str]]
) -> None:
    policy = iam.policy(plans[experiment].grants)

    allowed = BUCKET_POLICY_FINDINGS if "s3:PutBucketPolicy" in iam.actions_of(policy) else set()
    assert findings[experiment] <= allowed, sorted(findings[experiment] - allowed)


def test_parliament_finds_what_the_allowance_expects(findings: dict[str, set[str]]) -> None:
    """The allowance above is not dead: the bucket-policy fault's findings are the ones seen."""
    assert findings["origin-outage.yaml"] == BUCKET_POLICY_FINDINGS


@pytest.mark.parametrize("experiment", NAMES)
def test_every_statement_names_its_resources(
    experiment: str, plans: dict[str, ExperimentPlan], sandbox: SandboxInfo
) -> None:
    """Only the actions AWS cannot scope (GetMetricData, GetMonitoringSubscription,
    ListHostedZones) may take "*"; the rest name the target's bucket or distribution."""
    unscoped = {"cloudwatch:GetMetricData", "cloudfront:GetMonitoringSubscription"}
    for statement in iam.policy(plans[experiment].grants)["Statement"]:
        resources = statement["Resource"]
        for resource in [resources] if isinstance(resources, str) else resources:
            if resource == "*":
                assert set(statement["Action"]) <= unscoped, statement
            else:
                assert sandbox.bucket in resource or sandbox.distribution_id in resource


def test_the_origin_outage_policy_is_the_one_docs_iam_md_shows(
    plans: dict[str, ExperimentPlan], sandbox: SandboxInfo
) -> None:
    """docs/iam.md pastes the policy for origin-outage on the sandbox: it is the plan's.
    (The plan reads the pages from the sitemap, so the run does not list the bucket.)"""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "iam.md").read_text()
    shown = json.loads(docs.split("```json\n", 1)[1].split("```", 1)[0])

    assert iam.policy(plans["origin-outage.yaml"].grants) == shown
    assert sandbox.bucket == "www.chaos-demo.test"  # the name docs/iam.md shows


def test_sandbox_only_faults_need_no_aws_permission(plans: dict[str, ExperimentPlan]) -> None:
    plan = plans["origin-latency.yaml"]

    assert [m.step.name for m in plan.mutations] == ["slow-the-origin-down"]
    assert plan.mutations[0].resource.startswith("the sandbox's admin API")
    assert iam.policy(plan.grants)["Statement"] == []


SYNTHETIC = """
version: 1.0.0
title: Every kind of permission the plan grants
description: Controls, AWS probes, an object fault, and an activity of another extension.
configuration:
  allowed_accounts: ["111122223333"]
controls:
  - name: safety
    provider: {type: python, module: chaos_runner.controls.safety}
  - name: safeguards
    provider:
      type: python
      module: chaos_runner.controls.safeguards
      arguments: {alarms: [site-5xx], min_availability: 0.5}
steady-state-hypothesis:
  title: Alarms are quiet and the name points at the distribution
  probes:
    - type: probe
      name: alarms
      tolerance: true
      provider: {type: python, module: probes.cloudwatch, func: alarm_states,
                 arguments: {prefix: "site-"}}
    - type: probe
      name: dns
      tolerance: true
      provider: {type: python, module: probes.dns, func: alias}
method:
  - type: action
    name: lose-the-victim
    provider: {type: python, module: chaos_runner.faults.objects, func: delete_objects,
               arguments: {keys: "@victim"}}
  - type: action
    name: someone-elses
    provider: {type: process, path: /bin/true}
"""


def test_controls_probes_and_faults_each_get_their_grants(
    sandbox_env: SandboxInfo, tmp_path: Path
) -> None:
    experiment = tmp_path / "synthetic.yaml"
    experiment.write_text(SYNTHETIC)

    (plan,) = plan_experiments([str(experiment)])

    account, bucket = "123456789012", f"arn:aws:s3:::{sandbox_env.bucket}"
    alarms = f"arn:aws:cloudwatch:us-east-1:{account}:alarm:"
    distribution = f"arn:aws:cloudfront::{account}:distribution/{sandbox_env.distribution_id}"
    granted = {(g.sid, g.action, g.resource) for g in plan.grants}
    assert granted == {
        ("DeleteObjectsAndRestore", "s3:ListBucket", bucket),
        ("DeleteObjectsAndRestore", "s3:GetBucketVersioning", bucket),
        ("DeleteObjectsAndRestore", "s3:GetObject", f"{bucket}/*"),
        ("DeleteObjectsAndRestore", "s3:DeleteObject", f"{bucket}/*"),
        ("DeleteObjectsAndRestore", "s3:PutObject", f"{bucket}/*"),  # unversioned: the copy
        ("ProbesReadCloudWatch", "cloudwatch:DescribeAlarms", alarms + "site-*"),
        ("ProbesReadDns", "cloudfront:GetDistribution", distribution),
        ("ProbesReadDns", "route53:ListHostedZones", "*"),
        ("ProbesReadDns", "route53:ListResourceRecordSets", "arn:aws:route53:::hostedzone/*"),
        ("SafeguardsReadAlarms", "cloudwatch:DescribeAlarms", alarms + "site-5xx"),
    }
    (mutation,) = plan.mutations
    assert (
        mutation.what == f"object(s) posts/invalidations/index.html in bucket {sandbox_env.bucket}"
    )
    assert any("sends 4 requests a second to 2 page(s)" in line for line in plan.controls)
    notes = " ".join(plan.notes)
    assert "account 123456789012, which allowed_accounts does not list (111122223333)" in notes
    assert "someone-elses (a process provider (/bin/true)) is not declared" in notes
