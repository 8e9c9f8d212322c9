"""Every activity is declared, and every declaration is a policy AWS (per parliament) accepts.

A fault or probe that calls AWS without a declaration would get a plan that misses its
change and a policy that lacks its permissions: these tests fail first.
"""

from pathlib import Path

import pytest

import chaos_runner.planning  # noqa: F401  (registers every declaration)
from chaos_runner import ConfigurationError, iam
from chaos_runner.discovery import discover
from chaos_runner.ledger import registered_kinds
from chaos_runner.planning.catalogue import LOAD_MODELS
from tests.account.iam_checks import parliament_findings

ACTIVITIES = [f"{a['mod']}.{a['name']}" for a in discover(False)["activities"]]
SAMPLE = {
    iam.Resource.BUCKET: "arn:aws:s3:::www.example.com",
    iam.Resource.OBJECTS: "arn:aws:s3:::www.example.com/*",
    iam.Resource.DISTRIBUTION: "arn:aws:cloudfront::111122223333:distribution/E2EXAMPLE00000",
    iam.Resource.ALARMS: "arn:aws:cloudwatch:us-east-1:111122223333:alarm:site-5xx",
    iam.Resource.HOSTED_ZONE: "arn:aws:route53:::hostedzone/Z0EXAMPLE0000",
    iam.Resource.ANY: "*",
}


@pytest.mark.parametrize("function", ACTIVITIES)
def test_every_activity_is_declared(function: str) -> None:
    module, func = function.rsplit(".", 1)
    declared = iam.declaration(module, func)

    assert declared is not None, f"{function} has no declaration (chaos_runner.iam)"
    if module.startswith("chaos_runner.faults.") and not declared.restores_faults:
        assert declared.mutation is not None, f"the fault {function} declares no mutation"
        assert iam.restore_needs(declared.mutation.kind) is not None, (
            f"the restorer of {declared.mutation.kind!r} ({function}) declares nothing"
        )
    if module.startswith("probes."):
        assert function in LOAD_MODELS, f"the probe {function} has no load model"


def test_every_restorer_declares_what_it_calls() -> None:
    assert registered_kinds() <= iam.restored_kinds()


def test_the_declarations_make_a_policy_parliament_accepts(tmp_path: Path) -> None:
    """Each permission on a resource of its kind: a wrong action name, or an action that
    takes no resource of that kind (e.g. GetMonitoringSubscription, which takes only "*"),
    is a finding."""
    grants = [
        iam.Grant(declared.sid, permission.action, SAMPLE[permission.resource], permission.why)
        for declared in iam.declared()
        for permission in (
            *declared.needs,
            *(iam.restore_needs(declared.mutation.kind) or () if declared.mutation else ()),
        )
    ]
    policy = iam.policy(grants)

    assert len(iam.actions_of(policy)) >= 20
    findings = parliament_findings({"all": policy}, tmp_path)["all"]
    # the bucket-policy fault's own findings (see test_iam_policies.py); nothing else
    assert findings <= {"RESOURCE_POLICY_PRIVILEGE_ESCALATION", "PERMISSIONS_MANAGEMENT_ACTIONS"}


def test_a_policy_grants_each_action_once_by_purpose_in_order() -> None:
    bucket, objects = SAMPLE[iam.Resource.BUCKET], SAMPLE[iam.Resource.OBJECTS]
    policy = iam.policy(
        [
            iam.Grant("Fault", "s3:PutBucketPolicy", bucket, "set"),
            iam.Grant("Fault", "s3:GetBucketPolicy", bucket, "read"),
            iam.Grant("Fault", "s3:GetObject", objects, "keep"),
            iam.Grant("Probes", "s3:GetObject", objects, "compare"),  # granted above
            iam.Grant("Probes", "s3:ListBucket", bucket, "list"),
        ]
    )

    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "FaultOnBucket",
                "Effect": "Allow",
                "Action": ["s3:GetBucketPolicy", "s3:PutBucketPolicy"],
                "Resource": bucket,
            },
            {
                "Sid": "FaultOnObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": objects,
            },
            {"Sid": "Probes", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket},
        ],
    }


def test_a_declaration_refuses_a_sid_iam_refuses() -> None:
    with pytest.raises(ConfigurationError, match="letters and digits"):
        iam.declare(iam.Declaration("somewhere", "something", "Not-A-Sid"))
