"""Certificates and DNS on the running sandbox: HTTPS at the edge with the sandbox's test CA,
the ACM certificate and the Route 53 alias, the probes that read them, and the fault that
makes the edge serve an expired certificate.

Every handshake is real TLS on loopback; every AWS call goes to the sandbox's moto. Tests
that change the sandbox (an alias record, the served certificate) put it back.
"""

import datetime as dt
import hashlib
import json
import re
import ssl
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trustme
import yaml
from chaoslib.activity import ensure_activity_is_valid
from chaoslib.exceptions import ActivityFailed
from chaoslib.hypothesis import ensure_hypothesis_tolerance_is_valid, within_tolerance

from chaos_runner.discovery import module_activities
from chaos_runner.faults import tls as tls_fault
from chaos_runner.faults.ledger import restore_injected_faults
from chaos_runner.ledger import EntryState, Ledger
from chaos_runner.sandbox import demo
from chaos_runner.sandbox.state import TRUST_VARIABLES, SandboxInfo
from chaos_runner.sandbox.tls import base_trust_store
from probes import dns, http, tls
from tests.sandbox.edge_client import aws

CLOUDFRONT_ZONE = "Z2FDTNDATAQYW2"


def https_get(url: str, context: ssl.SSLContext) -> tuple[int, dict[str, str], bytes]:
    """One GET over HTTPS with ``context``: status, headers, body."""
    with urllib.request.urlopen(url, context=context, timeout=10) as answer:
        return answer.status, dict(answer.headers), answer.read()


def admin(sandbox: SandboxInfo, method: str, body: Any = None) -> tuple[int, Any]:
    """One call of the admin API's /edge/certificate."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{sandbox.admin_url}/edge/certificate", data=data, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def valid_afterwards(sandbox: SandboxInfo) -> Iterator[None]:
    """Whatever the test did, the edge serves its valid certificate afterwards."""
    yield
    admin(sandbox, "PUT", {"state": "valid"})


# -- HTTPS at the edge --------------------------------------------------------------------------


def test_https_validates_with_the_sandbox_ca_and_not_without(sandbox: SandboxInfo) -> None:
    trusted = ssl.create_default_context(cafile=sandbox.ca_file)
    path = "/posts/"

    first = https_get(sandbox.https_url + path, trusted)
    second = https_get(sandbox.https_url + path, trusted)
    with urllib.request.urlopen(sandbox.edge_url + path, timeout=10) as plain:
        plain_body = plain.read()

    assert (first[0], second[0]) == (200, 200)
    assert second[1]["X-Cache"] == "Hit from cloudfront"  # the same edge, over TLS
    assert second[1]["Via"].endswith(".cloudfront.net (CloudFront)")
    assert second[2] == plain_body
    with pytest.raises(urllib.error.URLError, match="unable to get local issuer certificate"):
        https_get(sandbox.https_url + path, ssl.create_default_context())


def test_the_certificate_names_the_site_and_loopback(sandbox: SandboxInfo) -> None:
    for host in ("localhost", "127.0.0.1"):
        context = ssl.create_default_context(cafile=sandbox.ca_file)  # host names checked
        url = sandbox.https_url.replace("127.0.0.1", host)

        assert https_get(url + "/", context)[0] == 200

    status = tls.certificate(sandbox.https_url, demo.SITE_HOST, sandbox.ca_file)
    assert status["ok"], status["failures"]
    assert status["subject_alt_names"] == [demo.SITE_HOST, "localhost", "127.0.0.1", "::1"]
    assert status["subject"].startswith(f"CN={demo.SITE_HOST},")


def test_the_trust_bundle_is_the_store_in_effect_plus_the_sandbox_ca(
    sandbox: SandboxInfo, tmp_path: Path
) -> None:
    bundle = Path(sandbox.trust_bundle).read_text()
    ca = Path(sandbox.ca_file).read_text()
    base = base_trust_store({})

    assert Path(sandbox.ca_file).parent == Path(sandbox.trust_bundle).parent
    assert bundle.endswith(ca)
    assert base.count("BEGIN CERTIFICATE") > 10  # the system's CAs, not ours alone
    assert bundle.count("BEGIN CERTIFICATE") == base.count("BEGIN CERTIFICATE") + 1
    # A bundle made while SSL_CERT_FILE names this one keeps the base, not the old CA.
    assert base_trust_store({"SSL_CERT_FILE": sandbox.trust_bundle}) == base
    context = ssl.create_default_context(cafile=sandbox.trust_bundle)
    assert https_get(sandbox.https_url + "/", context)[0] == 200
    assert set(TRUST_VARIABLES) <= set(sandbox.environment())
    assert sandbox.environment()["CHAOS_SITE_HTTPS_URL"] == sandbox.https_url


# -- ACM and Route 53 -----------------------------------------------------------------------------


def test_the_acm_certificate_is_the_one_the_edge_serves_and_the_distribution_names(
    sandbox: SandboxInfo,
) -> None:
    config = aws(sandbox, "cloudfront").get_distribution_config(Id=sandbox.distribution_id)
    viewer = config["DistributionConfig"]["ViewerCertificate"]
    served = tls.certificate(url=sandbox.https_url, ca_file=sandbox.ca_file)

    described = aws(sandbox, "acm").describe_certificate(CertificateArn=viewer["ACMCertificateArn"])
    certificate = described["Certificate"]

    assert viewer["SSLSupportMethod"] == "sni-only"
    assert viewer["ACMCertificateArn"].startswith("arn:aws:acm:us-east-1:")
    assert config["DistributionConfig"]["Aliases"]["Items"] == [demo.SITE_HOST]
    assert (certificate["DomainName"], certificate["Type"], certificate["Status"]) == (
        demo.SITE_HOST,
        "IMPORTED",
        "ISSUED",
    )
    assert certificate["NotAfter"].astimezone(dt.UTC) == dt.datetime.fromisoformat(
        served["not_after"]
    )
    assert f"{int(certificate['Serial']):x}" == served["serial"]


def test_the_site_name_is_an_a_and_aaaa_alias_of_the_distribution(sandbox: SandboxInfo) -> None:
    route53 = aws(sandbox, "route53")
    zones = route53.list_hosted_zones_by_name(DNSName=demo.HOSTED_ZONE)["HostedZones"]
    zone = next(z for z in zones if z["Name"] == f"{demo.HOSTED_ZONE}.")
    domain = aws(sandbox, "cloudfront").get_distribution(Id=sandbox.distribution_id)[
        "Distribution"
    ]["DomainName"]

    records = route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    aliases = {r["Type"]: r["AliasTarget"] for r in records if r["Name"] == f"{demo.SITE_HOST}."}

    assert zone["Config"]["PrivateZone"] is False
    assert set(aliases) == {"A", "AAAA"}
    for target in aliases.values():
        assert (target["HostedZoneId"], target["DNSName"].rstrip(".")) == (CLOUDFRONT_ZONE, domain)


# -- probes.tls ---------------------------------------------------------------------------------


def test_the_certificate_probe_reads_a_good_certificate_through_the_env(
    sandbox_env: SandboxInfo,
) -> None:
    status = tls.certificate()

    assert status["ok"], status["failures"]
    assert (status["url"], status["trust_store"]) == (
        sandbox_env.https_url,
        sandbox_env.trust_bundle,
    )
    assert (status["verified"], status["hostname_matches"], status["expired"]) == (
        True,
        True,
        False,
    )
    assert 393 < (status["days_left"] or 0) <= 395
    assert status["protocol"] in ("TLSv1.2", "TLSv1.3")
    assert [link["subject"] for link in status["chain"]] == [
        status["subject"],
        status["issuer"],
    ]
    assert status["chain"][-1]["issuer"] == status["issuer"]  # ends at the self-signed CA
    edge = urlsplit(sandbox_env.https_url)
    served = ssl.get_server_certificate((edge.hostname or "", edge.port or 443))
    assert status["sha256"] == hashlib.sha256(ssl.PEM_cert_to_DER_cert(served)).hexdigest()
    assert within_tolerance({"type": "range", "target": "days_left", "range": [30, 1000]}, status)
    assert http.bounds_held(dict(status)) is True


def test_the_certificate_probe_says_what_is_wrong(sandbox_env: SandboxInfo, tmp_path: Path) -> None:
    stranger = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))

    other_name = tls.certificate(server_name="www.example.com")
    other_ca = tls.certificate(ca_file=str(stranger))
    too_soon = tls.certificate(min_days=400)

    assert (other_name["verified"], other_name["hostname_matches"]) == (True, False)
    assert other_name["failures"] == [
        "The certificate is not for www.example.com (it names www.chaos-demo.test, localhost, "
        "127.0.0.1, ::1)."
    ]
    assert (other_ca["verified"], other_ca["ok"]) == (False, False)
    assert other_ca["verify_error"] == "unable to get local issuer certificate"
    assert other_ca["chain"][0]["subject"] == other_ca["subject"]  # as sent: the leaf only
    assert not too_soon["ok"]
    assert "expected at least 400" in too_soon["failures"][0]
    with pytest.raises(ActivityFailed, match="expected at least 400"):
        tls.expect_certificate(min_days=400)


def test_the_certificate_probe_reports_no_tls_session_and_bad_arguments(
    sandbox_env: SandboxInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tls.certificate(url=sandbox_env.edge_url.replace("http://", "https://"))

    assert (plain["connected"], plain["ok"], plain["days_left"]) == (False, False, None)
    assert (plain["error"] or "").startswith("tls: ")
    with pytest.raises(ActivityFailed, match="must be an https:// URL"):
        tls.certificate(url=sandbox_env.edge_url)
    with pytest.raises(ActivityFailed, match=r"ca_file '/nowhere.pem' is not a file"):
        tls.certificate(ca_file="/nowhere.pem")
    monkeypatch.setenv("CHAOS_SITE_URL", "https://www.example.com")
    with pytest.raises(ActivityFailed, match=r"name different sites: one is a sandbox"):
        tls.certificate()
    monkeypatch.delenv("CHAOS_SITE_HTTPS_URL")
    monkeypatch.setenv("CHAOS_SITE_URL", sandbox_env.edge_url)
    with pytest.raises(ActivityFailed, match=r"probes.tls needs the site's HTTPS address"):
        tls.certificate()


# -- probes.dns ---------------------------------------------------------------------------------


def set_a_record(sandbox: SandboxInfo, zone_id: str, dns_name: str) -> None:
    aws(sandbox, "route53").change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": f"{demo.SITE_HOST}.",
                        "Type": "A",
                        "AliasTarget": {
                            "HostedZoneId": CLOUDFRONT_ZONE,
                            "DNSName": dns_name,
                            "EvaluateTargetHealth": False,
                        },
                    },
                }
            ]
        },
    )


def test_the_alias_probe_on_the_good_and_a_broken_record(sandbox_env: SandboxInfo) -> None:
    good = dns.alias(record_types="A,AAAA")
    domain = good["distribution_domain"]

    set_a_record(sandbox_env, good["hosted_zone_id"], "d2elsewhere0000.cloudfront.net.")
    try:
        broken = dns.alias()
        with pytest.raises(ActivityFailed, match=r"points to d2elsewhere0000\.cloudfront\.net"):
            dns.expect_alias()
    finally:
        set_a_record(sandbox_env, good["hosted_zone_id"], f"{domain}.")
    again = dns.expect_alias(record_types="A,AAAA")

    assert good["ok"], good["failures"]
    assert (good["host"], good["zone_name"]) == (demo.SITE_HOST, demo.HOSTED_ZONE)
    assert good["points_to"] == [domain]
    assert [(r["type"], r["kind"], r["here"]) for r in good["records"]] == [
        ("A", "alias", True),
        ("AAAA", "alias", True),
    ]
    assert not broken["ok"]
    assert broken["points_to"] == ["d2elsewhere0000.cloudfront.net", domain]
    assert broken["failures"] == [
        f"Its A alias points to d2elsewhere0000.cloudfront.net (hosted zone {CLOUDFRONT_ZONE}), "
        f"not to {domain}."
    ]
    assert again["records"] == good["records"]


def test_the_alias_probe_names_a_missing_record_and_a_missing_zone(
    sandbox_env: SandboxInfo,
) -> None:
    missing = dns.alias(host=f"cdn.{demo.HOSTED_ZONE}")

    assert missing["records"] == [] and not missing["ok"]
    assert missing["failures"] == [
        f"cdn.{demo.HOSTED_ZONE} has no A record in zone {demo.HOSTED_ZONE} "
        f"({missing['hosted_zone_id']})."
    ]
    with pytest.raises(ActivityFailed, match=r"No public hosted zone in Route 53 holds www.other"):
        dns.alias(host="www.other.example")
    with pytest.raises(ActivityFailed, match="record_types must be A, AAAA"):
        dns.alias(record_types="MX")


# -- the expired-certificate fault --------------------------------------------------------------


def test_an_expired_certificate_is_seen_by_the_probe_and_restored(
    sandbox_env: SandboxInfo, valid_afterwards: None
) -> None:
    before = tls.certificate()

    injected = tls_fault.serve_expired_certificate(expired_days=3)
    during = tls.certificate()
    seen_expired = tls.expect_certificate(expect="expired")
    acm_arn = aws(sandbox_env, "cloudfront").get_distribution_config(
        Id=sandbox_env.distribution_id
    )["DistributionConfig"]["ViewerCertificate"]["ACMCertificateArn"]
    acm = aws(sandbox_env, "acm").describe_certificate(CertificateArn=acm_arn)["Certificate"]
    restored = restore_injected_faults(fault=tls_fault.KIND)
    after = tls.certificate()

    assert injected["sha256"] == during["sha256"] != before["sha256"]
    assert (during["expired"], during["verified"], during["ok"]) == (True, False, False)
    assert during["verify_error"] == "certificate has expired"
    assert -3.01 < (during["days_left"] or 0) < -2.99
    assert during["issuer"] == before["issuer"]  # the same CA
    assert during["subject_alt_names"] == before["subject_alt_names"]
    assert seen_expired["sha256"] == during["sha256"]
    assert acm["Status"] == "ISSUED"  # ACM is left as it was: only the edge serves it
    assert [r["state"] for r in restored["restored"]] == ["restored"]
    assert after["ok"] and after["sha256"] == before["sha256"]
    with pytest.raises(ActivityFailed, match=r"Expected .* to serve an expired certificate"):
        tls.expect_certificate(expect="expired")
    assert [e.state for e in Ledger().entries()] == [EntryState.RESTORED]


def test_the_fault_is_refused_on_a_real_target_before_anything_changes(
    sandbox_env: SandboxInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOS_SITE_URL", "https://www.example.com")

    with pytest.raises(ActivityFailed, match=r"runs only on the sandbox.*CHAOS_SITE_URL=https"):
        tls_fault.serve_expired_certificate()
    assert Ledger().entries() == []
    assert admin(sandbox_env, "GET")[1]["state"] == "valid"


def test_a_second_fault_is_refused_and_a_replaced_certificate_is_a_conflict(
    sandbox_env: SandboxInfo, valid_afterwards: None
) -> None:
    tls_fault.serve_expired_certificate()
    with pytest.raises(ActivityFailed, match="already serves an expired certificate"):
        tls_fault.serve_expired_certificate()
    replaced = admin(sandbox_env, "PUT", {"state": "expired", "fault_id": "by-hand"})

    with pytest.raises(ActivityFailed, match=r"another fault \(by-hand\)"):
        restore_injected_faults(fault=tls_fault.KIND)
    assert replaced[0] == 200
    assert admin(sandbox_env, "GET")[1]["fault_id"] == "by-hand"  # left as it is


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"state": "broken"}, "state must be 'valid' or 'expired'; got 'broken'."),
        ({"state": "expired"}, "An expired certificate needs a fault_id"),
        ({"state": "expired", "fault_id": "f", "expired_days": 0}, "expired_days must be"),
        ({"state": "valid", "colour": "red"}, "Unknown field(s) colour;"),
        ([], "The body must be a JSON object"),
    ],
)
def test_a_bad_certificate_request_is_a_400_and_changes_nothing(
    sandbox: SandboxInfo, body: Any, message: str
) -> None:
    status, answer = admin(sandbox, "PUT", body)

    assert status == 400
    assert answer["error"].startswith(message)
    assert admin(sandbox, "GET")[1]["state"] == "valid"


# -- Chaos Toolkit reads the modules ------------------------------------------------------------


def test_the_probes_and_the_fault_are_discovered_with_their_arguments() -> None:
    found = {
        f"{a['mod']}.{a['name']}": [arg["name"] for arg in a["arguments"]]
        for module, kind in (
            ("probes.tls", "probe"),
            ("probes.dns", "probe"),
            ("chaos_runner.faults.tls", "action"),
        )
        for a in module_activities(module, kind)
    }

    assert found == {
        "probes.tls.certificate": ["url", "server_name", "ca_file", "min_days", "timeout"],
        "probes.tls.expect_certificate": [
            "expect",
            "url",
            "server_name",
            "ca_file",
            "min_days",
            "timeout",
        ],
        "probes.dns.alias": ["host", "record_types", "hosted_zone_id", "distribution_id"],
        "probes.dns.expect_alias": ["host", "record_types", "hosted_zone_id", "distribution_id"],
        "chaos_runner.faults.tls.serve_expired_certificate": ["expired_days"],
    }


@pytest.mark.parametrize("module", [tls, dns])
def test_the_docstring_examples_are_valid_activities(module: Any) -> None:
    blocks = re.findall(r"::\n\n((?:(?: {8}.*)?\n)+)", module.__doc__ or "")
    examples = [item for block in blocks for item in yaml.safe_load(textwrap.dedent(block))]

    assert examples
    for example in examples:
        ensure_activity_is_valid(example)
        if "tolerance" in example:
            ensure_hypothesis_tolerance_is_valid(example["tolerance"])
