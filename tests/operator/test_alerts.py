"""The seed rule on a real API server: allowed anonymous requests become SecurityAlerts and
Events; health probes and forbidden requests do not. Where Events go and what they say:
tests/operator/test_event_text.py."""

from __future__ import annotations

import uuid

import pytest

from tests.operator.conftest import ROOT, Kube, Operator, agent, eventually, ready

pytestmark = pytest.mark.cluster

SEED = "kubernetes-anonymous-request-authorized"


@pytest.fixture(scope="module")
def seed_rule(kube: Kube, operator: Operator) -> str:
    kube.kubectl("apply", "-f", str(ROOT / "examples/rules" / f"{SEED}.yaml"))
    condition = eventually(lambda: ready(kube, SEED), what="the seed rule's Ready condition")
    assert (condition["status"], condition["reason"]) == ("True", "Compiled")
    return SEED


@pytest.fixture(scope="module")
def open_namespace(kube: Kube) -> str:
    """A namespace whose configmaps anyone may read: a RoleBinding to system:unauthenticated."""
    name = f"anon-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "configmap-reader", "namespace": name},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        }
    )
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "public-configmaps", "namespace": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "configmap-reader",
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Group",
                    "name": "system:unauthenticated",
                }
            ],
        }
    )
    return name


def test_allowed_anonymous_requests_alert_and_the_rest_stay_silent(
    kube: Kube, seed_rule: str, open_namespace: str
) -> None:
    version = agent("version")
    configmaps = agent("configmaps")
    assert kube.anonymous("/version", version) == 200
    assert kube.anonymous(f"/api/v1/namespaces/{open_namespace}/configmaps", configmaps) == 200
    silent = {path: agent(path.strip("/")) for path in ("/healthz", "/livez", "/readyz")}
    for path, name in silent.items():
        assert kube.anonymous(path, name) == 200
    forbidden = agent("forbidden")
    assert kube.anonymous(f"/api/v1/namespaces/{open_namespace}/secrets", forbidden) == 403
    # Events are handled in log order: once the last request's alert exists, every earlier
    # request has been judged.
    sentinel = agent("sentinel")
    assert kube.anonymous("/version", sentinel) == 200
    eventually(lambda: kube.alerts_with_agent(sentinel), what="the sentinel's alert")

    for name in [*silent.values(), forbidden]:
        assert kube.alerts_with_agent(name) == [], name

    (alert,) = kube.alerts_with_agent(version)
    spec = alert["spec"]
    assert spec["rule"]["name"] == SEED
    assert (spec["rule"]["severity"], spec["rule"]["riskScore"]) == ("medium", 47)
    threat = spec["rule"]["threat"][0]
    assert threat["tactic"]["id"] == "TA0001"
    assert threat["technique"][0]["id"] == "T1078"
    assert threat["technique"][0]["subtechnique"][0]["id"] == "T1078.001"
    event = spec["event"]
    assert event["user"]["username"] == "system:anonymous"
    assert event["sourceIPs"] == ["127.0.0.1"]
    assert (event["verb"], event["requestURI"], event["decision"]) == ("get", "/version", "allow")
    assert spec["reason"] == "system:anonymous was allowed to get /version from 127.0.0.1"
    assert spec["workflowStatus"] == "open"
    assert alert["metadata"]["labels"] == {
        "audithound.io/rule": SEED,
        "audithound.io/severity": "medium",
    }

    (listed,) = kube.alerts_with_agent(configmaps)
    listed_event = listed["spec"]["event"]
    assert listed_event["objectRef"] == {
        "resource": "configmaps",
        "namespace": open_namespace,
        "apiVersion": "v1",
    }
    assert 'RoleBinding "public-configmaps/' in listed_event["authorizationReason"]

    name = alert["metadata"]["name"]
    events = eventually(
        lambda: kube.get_json(
            "events",
            "-n",
            "default",
            "--field-selector",
            f"involvedObject.name={name}",
        )["items"],
        what="the Warning Event about the alert",
    )
    (warning,) = events
    assert warning["type"] == "Warning" and warning["reason"] == "DetectionRuleMatched"
    assert warning["involvedObject"]["kind"] == "SecurityAlert"
    # Anonymous: the Event says only what the API server vouches for (tests/operator/
    # test_event_text.py); the alert holds the URI.
    assert warning["message"] == (
        f"[medium] {SEED}: unauthenticated get request from 127.0.0.1 was allowed (HTTP 200);"
        f" its URI and names are in SecurityAlert {name}"
    )

    table = kube.kubectl("get", "securityalerts", "-l", f"audithound.io/rule={SEED}")
    header = table.splitlines()[0].split()
    assert header == ["NAME", "RULE", "SEVERITY", "USER", "SOURCE", "VERB", "URI", "STATE", "AGE"]
    row = next(line for line in table.splitlines() if line.startswith(name))
    assert row.split()[1:8] == [
        SEED,
        "medium",
        "system:anonymous",
        "127.0.0.1",
        "get",
        "/version",
        "open",
    ]


def test_people_can_acknowledge_an_alert_and_the_operator_leaves_it(
    kube: Kube, seed_rule: str
) -> None:
    mine = agent("ack")
    assert kube.anonymous("/version", mine) == 200
    (alert,) = eventually(lambda: kube.alerts_with_agent(mine), what="the alert")
    name = alert["metadata"]["name"]
    kube.kubectl(
        "patch",
        "securityalert",
        name,
        "--type=merge",
        "-p",
        '{"spec":{"workflowStatus":"acknowledged"}}',
    )
    selected = kube.kubectl(
        "get",
        "securityalerts",
        "--field-selector",
        "spec.workflowStatus=acknowledged",
        "-o",
        "name",
    )
    assert f"securityalert.audithound.io/{name}" in selected.split()
