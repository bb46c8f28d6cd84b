"""The operator's own writes are left out of the rules, and nothing else is; the shipped rule
about its credentials fires on what the filter lets through and never on what it leaves out."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Any

import prometheus_client
import pytest

from audithound import evaluate
from audithound.controller import selfwrites
from audithound.rules import loader, ruleset

ROOT = pathlib.Path(__file__).resolve().parents[2]
RULE_FILE = ROOT / "examples/rules/audithound-operator-credentials-used-elsewhere.yaml"
OPERATOR = "system:serviceaccount:audithound-system:audithound"
POD = {"authentication.kubernetes.io/pod-name": ["audithound-x7k2p"]}
CLIENT = selfwrites.USER_AGENT
KOPF = "kopf/1.45.2"
KUBECTL = "kubectl/v1.32.4 (linux/amd64) kubernetes/59526cd"

BOUND = selfwrites.Identity.from_user_info(
    {
        "username": OPERATOR,
        "extra": {
            **POD,
            "authentication.kubernetes.io/pod-uid": ["6f57839b-e332-4bc6-9bde-d6c11b6e1014"],
        },
    }
)
UNBOUND = selfwrites.Identity.from_user_info({"username": OPERATOR})


def event(
    verb: str,
    resource: str | None,
    *,
    group: str = "",
    subresource: str = "",
    namespace: str = "",
    agent: str = CLIENT,
    decision: str = "allow",
    username: str = OPERATOR,
    extra: dict[str, list[str]] | None = None,
    uri: str = "/apis/audithound.io/v1alpha1/securityalerts",
) -> dict[str, Any]:
    ref = {
        key: value
        for key, value in (
            ("resource", resource),
            ("apiGroup", group),
            ("subresource", subresource),
            ("namespace", namespace),
        )
        if value
    }
    raw: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": "3b1c2e4f-0000-4000-8000-000000000001",
        "stage": "ResponseComplete",
        "requestURI": uri,
        "verb": verb,
        "user": {"username": username, "extra": POD if extra is None else extra},
        "sourceIPs": ["10.244.0.7"],
        "userAgent": agent,
        "responseStatus": {"code": 200},
        "stageTimestamp": "2026-12-01T10:00:00.000000Z",
        "annotations": {"authorization.k8s.io/decision": decision},
    }
    if ref:
        raw["objectRef"] = ref
    return raw


AH = "audithound.io"
CASES: list[tuple[str, dict[str, Any], bool, bool]] = [
    # (case, event, left out of the rules, the credentials rule fires)
    ("alert created", event("create", "securityalerts", group=AH), True, False),
    ("alert deleted by retention", event("delete", "securityalerts", group=AH), True, False),
    ("Event about an alert", event("create", "events", namespace="default"), True, False),
    ("Event in a tenant namespace", event("create", "events", namespace="shop"), True, False),
    ("kopf's Event", event("create", "events", namespace="default", agent=KOPF), True, False),
    (
        "rule status patched by kopf",
        event("patch", "detectionrules", group=AH, subresource="status", agent=KOPF),
        True,
        False,
    ),
    (
        "rule status patched by the status writer",
        event("patch", "detectionrules", group=AH, subresource="status"),
        True,
        False,
    ),
    ("heartbeat list of rules", event("list", "detectionrules", group=AH), False, False),
    ("kopf's watch of rules", event("watch", "detectionrules", group=AH, agent=KOPF), False, False),
    ("retention's list of alerts", event("list", "securityalerts", group=AH), False, False),
    ("discovery", event("get", None, agent=KOPF, uri="/apis"), False, False),
    (
        "CRD watch",
        event("watch", "customresourcedefinitions", group="apiextensions.k8s.io", agent=KOPF),
        False,
        False,
    ),
    (
        "self-review at start-up",
        event("create", "selfsubjectreviews", group="authentication.k8s.io"),
        False,
        False,
    ),
    (
        "alert deleted with kubectl and the pod's token",
        event("delete", "securityalerts", group=AH, agent=KUBECTL),
        False,
        True,
    ),
    (
        "Event written into kube-system with kubectl",
        event("create", "events", namespace="kube-system", agent=KUBECTL),
        False,
        True,
    ),
    (
        "alert deleted with curl",
        event("delete", "securityalerts", group=AH, agent="curl/8.5.0"),
        False,
        True,
    ),
    (
        "no user agent",
        event("delete", "securityalerts", group=AH, agent=""),
        False,
        True,
    ),
    (
        "minted token, forged agent",
        event("delete", "securityalerts", group=AH, extra={}),
        False,
        True,
    ),
    (
        "own-looking write denied",
        event("create", "events", namespace="kube-system", decision="forbid"),
        False,
        True,
    ),
    ("secrets listed: RBAC widened", event("list", "secrets", namespace="shop"), False, True),
    ("suppression count written", event("patch", "securityalerts", group=AH), True, False),
    ("alert read (renewal, suppression)", event("get", "securityalerts", group=AH), False, False),
    ("alert updated whole", event("update", "securityalerts", group=AH), False, True),
    (
        "exception list status patched",
        event("patch", "detectionexceptions", group=AH, subresource="status"),
        True,
        False,
    ),
    ("exception lists watched", event("watch", "detectionexceptions", group=AH), False, False),
    ("exception list spec patched", event("patch", "detectionexceptions", group=AH), False, True),
    ("alerts deleted at once", event("deletecollection", "securityalerts", group=AH), False, True),
    ("rule spec patched", event("patch", "detectionrules", group=AH), False, True),
    ("events.k8s.io Event", event("create", "events", group="events.k8s.io"), False, True),
    (
        "someone else creates an alert",
        event("create", "securityalerts", group=AH, username="alice", agent=KUBECTL),
        False,
        False,
    ),
]


@pytest.fixture(scope="module")
def rule() -> evaluate.Evaluator:
    loaded = loader.load([str(RULE_FILE)])
    assert loaded.all_problems() == []
    return evaluate.Evaluator(ruleset.RuleSet(loaded.rules))


@pytest.mark.parametrize(("case", "raw", "left_out", "fires"), CASES, ids=[c[0] for c in CASES])
def test_own_writes_are_left_out_and_the_rule_sees_the_rest(
    rule: evaluate.Evaluator, case: str, raw: dict[str, Any], left_out: bool, fires: bool
) -> None:
    own: list[Mapping[str, Any]] = []
    writes = selfwrites.OwnWrites(BOUND, own.append)

    assert writes.observe(raw) is not left_out
    assert bool(rule.evaluate(raw)) is fires
    assert own == ([raw] if raw["user"]["username"] == OPERATOR else [])


def test_an_unbound_operator_token_leaves_out_its_own_writes_all_the_same() -> None:
    writes = selfwrites.OwnWrites(UNBOUND, lambda _: None)

    assert writes.observe(event("create", "securityalerts", group=AH, extra={})) is False
    assert (
        writes.observe(event("create", "securityalerts", group=AH, extra={}, agent=KUBECTL)) is True
    )


@pytest.mark.parametrize(
    "raw",
    [
        {"auditID": "a", "verb": "create"},
        {"auditID": "a", "user": "system:serviceaccount:audithound-system:audithound"},
        {"auditID": "a", "user": [OPERATOR]},
        {"auditID": "a", "user": {"username": OPERATOR}, "objectRef": "securityalerts"},
        {"auditID": "a", "user": {"username": OPERATOR}, "verb": ["create"], "objectRef": {}},
        {
            "auditID": "a",
            "user": {"username": OPERATOR},
            "verb": "create",
            "objectRef": {"resource": ["securityalerts"], "apiGroup": AH},
        },
        {**event("create", "securityalerts", group=AH), "annotations": {}},
        {**event("create", "securityalerts", group=AH), "annotations": None},
        {**event("create", "securityalerts", group=AH), "user": {"username": OPERATOR}},
    ],
)
def test_malformed_events_reach_the_rules_and_never_raise(raw: dict[str, Any]) -> None:
    assert selfwrites.OwnWrites(BOUND, lambda _: None).observe(raw) is True


def test_identity_comes_from_the_self_subject_review() -> None:
    expected = selfwrites.Identity(
        username=OPERATOR,
        namespace="audithound-system",
        service_account="audithound",
        pod_name="audithound-x7k2p",
        pod_uid="6f57839b-e332-4bc6-9bde-d6c11b6e1014",
    )
    assert expected == BOUND
    assert selfwrites.Identity.from_user_info({"username": "admin"}) == selfwrites.Identity("admin")
    with pytest.raises(ValueError, match="named no user"):
        selfwrites.Identity.from_user_info({})


def test_what_was_left_out_is_a_metric_by_verb_and_resource() -> None:
    writes = selfwrites.OwnWrites(BOUND, lambda _: None)
    for raw in (
        event("create", "securityalerts", group=AH),
        event("create", "securityalerts", group=AH),
        event("patch", "detectionrules", group=AH, subresource="status"),
        event("delete", "securityalerts", group=AH, agent=KUBECTL),
    ):
        writes.observe(raw)
    collectors = prometheus_client.CollectorRegistry()
    collectors.register(selfwrites.Collector(lambda: writes))

    text = prometheus_client.generate_latest(collectors).decode()

    assert (
        'audithound_own_writes_excluded_total{resource="securityalerts",verb="create"} 2.0' in text
    )
    assert (
        'audithound_own_writes_excluded_total{resource="detectionrules/status",verb="patch"} 1.0'
        in text
    )
    assert 'verb="delete"' not in text
