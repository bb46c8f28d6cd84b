"""Alerts say who did what from where, carry no secrets, and have stable names."""

from __future__ import annotations

import datetime
import json
from typing import Any

from audithound.alerts import evidence, identity
from audithound.api import alert as alert_api
from audithound.detectors import findings
from audithound.rules import compiler

DETECTED = datetime.datetime(2026, 11, 20, 10, 0, 1, tzinfo=datetime.UTC)

SECRET = "c3VwZXItc2VjcmV0LXBhc3N3b3Jk"


def rule() -> compiler.CompiledRule:
    outcome = compiler.compile_rule(
        "secret-created",
        {
            "query": "kubernetes.audit.objectRef.resource:secrets",
            "severity": "high",
            "riskScore": 60,
            "threat": [
                {
                    "tactic": {"id": "TA0006", "name": "Credential Access", "reference": "x"},
                    "technique": [
                        {"id": "T1552", "name": "Unsecured Credentials", "reference": "y"}
                    ],
                }
            ],
        },
    )
    assert outcome.rule is not None
    return outcome.rule


def raw_event() -> dict[str, Any]:
    return {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": "1c9d0a4e-3f1b-4c2d-8e7f-0a1b2c3d4e5f",
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/shop/secrets",
        "verb": "create",
        "user": {
            "username": "system:serviceaccount:ci:deployer",
            "uid": "42",
            "groups": ["system:serviceaccounts"],
            "extra": {"authentication.kubernetes.io/credential-id": ["JTI=abc"]},
        },
        "impersonatedUser": {"username": "bob"},
        "sourceIPs": ["10.0.0.5", "10.0.0.6"],
        "userAgent": "kubectl/v1.36.3",
        "objectRef": {"resource": "secrets", "namespace": "shop", "name": "db", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 201},
        "requestObject": {"kind": "Secret", "data": {"password": SECRET}},
        "responseObject": {"kind": "Secret", "data": {"password": SECRET}},
        "stageTimestamp": "2026-11-20T10:00:00.123456Z",
        "annotations": {
            "authorization.k8s.io/decision": "allow",
            "authorization.k8s.io/reason": "RBAC: allowed by RoleBinding",
            "mutation.webhook.admission.k8s.io/round_0_index_0": '{"mutated":true}',
        },
    }


def _finding(event: dict[str, Any]) -> findings.Finding:
    return findings.Finding(event, (event["auditID"], event["stage"]))


def test_alert_is_a_valid_security_alert_without_bodies() -> None:
    built = evidence.build(rule(), _finding(raw_event()), DETECTED)
    spec = alert_api.SecurityAlertSpec.model_validate(built["spec"])
    assert spec.rule.severity == "high" and spec.rule.threat[0].tactic.id == "TA0006"
    assert spec.event_time == "2026-11-20T10:00:00.123456Z"
    assert spec.detected_time == "2026-11-20T10:00:01Z"
    assert spec.workflow_status == "open"
    dumped = json.dumps(built)
    assert SECRET not in dumped
    assert "credential-id" not in dumped and "mutation.webhook" not in dumped
    assert built["spec"]["event"] == {
        "auditID": "1c9d0a4e-3f1b-4c2d-8e7f-0a1b2c3d4e5f",
        "stage": "ResponseComplete",
        "user": {
            "username": "system:serviceaccount:ci:deployer",
            "uid": "42",
            "groups": ["system:serviceaccounts"],
        },
        "sourceIPs": ["10.0.0.5", "10.0.0.6"],
        "verb": "create",
        "requestURI": "/api/v1/namespaces/shop/secrets",
        "userAgent": "kubectl/v1.36.3",
        "decision": "allow",
        "authorizationReason": "RBAC: allowed by RoleBinding",
        "stageTimestamp": "2026-11-20T10:00:00.123456Z",
        "objectRef": {"resource": "secrets", "namespace": "shop", "name": "db", "apiVersion": "v1"},
        "impersonatedUser": {"username": "bob"},
        "responseCode": 201,
    }
    assert built["labels"] == {
        "audithound.io/rule": "secret-created",
        "audithound.io/severity": "high",
    }


def test_reason_reads_as_a_sentence() -> None:
    built = evidence.build(rule(), _finding(raw_event()), DETECTED)
    assert built["spec"]["reason"] == (
        "system:serviceaccount:ci:deployer (impersonating bob) was allowed to create "
        "/api/v1/namespaces/shop/secrets from 10.0.0.5 (+1 more)"
    )
    denied = raw_event() | {"annotations": {"authorization.k8s.io/decision": "forbid"}}
    del denied["impersonatedUser"]
    assert evidence.reason(evidence.excerpt(denied)).startswith(
        "system:serviceaccount:ci:deployer was denied create on /api/v1/"
    )
    nameless = raw_event() | {"user": {}}
    assert evidence.reason(evidence.excerpt(nameless)).startswith("a request without a username")


def test_name_is_stable_per_rule_event_and_stage() -> None:
    first = identity.alert_name("secret-created", ("id-1", "ResponseComplete"))
    assert first == identity.alert_name("secret-created", ("id-1", "ResponseComplete"))
    assert first.startswith("secret-created-") and len(first) == len("secret-created-") + 20
    others = {
        identity.alert_name("secret-created", ("id-2", "ResponseComplete")),
        identity.alert_name("secret-created", ("id-1", "ResponseStarted")),
        identity.alert_name("other", ("id-1", "ResponseComplete")),
    }
    assert first not in others and len(others) == 3
    long_name = identity.alert_name("r" * 253, ("id", "ResponseComplete"))
    assert len(long_name) <= 253


TOKEN = "dG9rZW4tdGhhdC1tdXN0LW5vdC1sZWFr"


def test_every_written_string_is_redacted_and_the_raw_event_is_not() -> None:
    raw = raw_event() | {
        "auditID": f"Bearer {TOKEN}",  # clients may send their own Audit-ID
        "requestURI": f"/api/v1/namespaces/shop/secrets?access_token={TOKEN}&limit=1",
        "userAgent": f"tool/1.0 token={TOKEN}",
        "user": {"username": f"Basic {TOKEN}", "groups": [f"g token={TOKEN}"]},
        # Read past redaction's cache, as new in every alert: still redacted.
        "stageTimestamp": f"2026-11-20T10:00:00Z token={TOKEN}",
    }
    before = json.dumps(raw)
    built = evidence.build(rule(), _finding(raw), DETECTED)
    assert json.dumps(raw) == before
    assert TOKEN not in json.dumps(built)
    event = built["spec"]["event"]
    assert event["requestURI"] == "/api/v1/namespaces/shop/secrets?access_token=[REDACTED]&limit=1"
    assert event["userAgent"] == "tool/1.0 token=[REDACTED]"
    assert event["auditID"] == "Bearer [REDACTED]"
    assert event["stageTimestamp"] == "2026-11-20T10:00:00Z token=[REDACTED]"
    assert built["spec"]["reason"].startswith(
        "Basic [REDACTED] (impersonating bob) was allowed to create "
        "/api/v1/namespaces/shop/secrets?access_token=[REDACTED]&limit=1"
    )
    # Two events whose auditIDs differ only in what was hidden stay two alerts.
    other = evidence.build(rule(), _finding(raw | {"auditID": "Bearer other"}), DETECTED)
    assert other["name"] != built["name"]
    assert other["spec"]["event"]["auditID"] == event["auditID"]


def test_long_strings_are_cut_visibly_and_a_secret_at_the_cut_goes() -> None:
    limit = evidence.TEXT_LIMIT
    huge = "/api/v1/namespaces/shop/pods?x=" + "a" * (1 << 20)
    # A URL's password cut before its '@' would match no rule any more.
    split = "/x?" + "b" * (limit - 30) + "&u=https://bob:" + "p" * 100 + "@host/"
    built = evidence.build(rule(), _finding(raw_event() | {"requestURI": huge}), DETECTED)
    uri = built["spec"]["event"]["requestURI"]
    assert uri.startswith("/api/v1/namespaces/shop/pods?[REDACTED]…(+")
    assert uri.endswith(f"(+{len(huge) - len('/api/v1/namespaces/shop/pods?')} characters)")
    assert len(json.dumps(built)) < 3 * limit
    cut = evidence.excerpt(raw_event() | {"requestURI": split})["requestURI"]
    assert "p" * 10 not in cut and cut.startswith("/x?bbb")
    assert "&u=https://[REDACTED]…(+" in cut


def test_a_group_from_a_body_or_a_users_extra_is_hidden_whole() -> None:
    outcome = compiler.compile_rule(
        "secret-values",
        {
            "type": "threshold",
            "query": "kubernetes.audit.objectRef.resource:secrets",
            "threshold": {"field": ["user.name"], "value": 1},
            "severity": "low",
            "riskScore": 10,
        },
    )
    assert outcome.rule is not None
    credential = "JTI=0f1e2d3c-credential"
    group = (
        ("kubernetes.audit.requestObject.data.password", SECRET),
        ("kubernetes.audit.responseObject.data.password", SECRET),
        ("kubernetes.audit.user.extra.authentication.kubernetes.io/credential-id", credential),
        ("kubernetes.audit.impersonatedUser.extra.scopes", credential),
        ("kubernetes.audit.annotations.patch_webhook_admission_k8s_io/round_0_index_0", SECRET),
        # Evidence from a body that the field catalogue names for rules stays readable.
        ("kubernetes.audit.requestObject.spec.containers.image", "registry.example/app:1"),
        ("user.name", "system:serviceaccount:ci:deployer"),
    )
    raw = raw_event()
    finding = findings.Finding(raw, ("k",), group=group, count=1)
    built = evidence.build(outcome.rule, finding, DETECTED)
    written = json.dumps(built)
    assert SECRET not in written and credential not in written
    assert list(built["spec"]["group"].values()) == [
        *["[REDACTED]"] * 5,
        "registry.example/app:1",
        "system:serviceaccount:ci:deployer",
    ]
    assert "kubernetes.audit.requestObject.data.password=[REDACTED], " in built["spec"]["reason"]


def test_detected_time_is_the_isoformat_of_the_moment() -> None:
    moments = [
        DETECTED,
        DETECTED.replace(microsecond=7),
        DETECTED.replace(microsecond=999_999),
        DETECTED.replace(second=2),
        DETECTED.replace(year=5, microsecond=120),
        DETECTED.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        DETECTED.replace(tzinfo=None),
        DETECTED.replace(tzinfo=datetime.timezone(datetime.timedelta(0), "Z0"), microsecond=5),
    ]
    for moment in moments * 2:  # the second time, from the remembered second
        assert evidence.utc_text(moment) == moment.isoformat().replace("+00:00", "Z")
