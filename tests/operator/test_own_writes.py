"""Evidence is not hidden: the operator's token used by hand (an alert deleted, an Event forged
into kube-system) is in the audit log and raises an alert of the shipped rule, while the
operator's own writes raise nothing and are counted. The operator runs as in a cluster, with a
ServiceAccount token bound to a pod (a Pod object no kubelet runs)."""

from __future__ import annotations

import functools
import pathlib
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client import parser

from audithound.devcluster import controlplane, pytest_plugin
from audithound.devcluster import operator as operator_
from tests.operator.conftest import ROOT, Kube, agent, eventually, ready, rule_manifest

pytestmark = pytest.mark.cluster

OPERATOR = "system:serviceaccount:audithound-system:audithound"
RULE = "audithound-operator-credentials-used-elsewhere"
RULE_FILE = ROOT / "examples/rules" / f"{RULE}.yaml"


def bound_kubeconfig(kube: Kube, unbound: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
    """A kubeconfig like ``unbound`` whose token is bound to a Pod of the ServiceAccount, as
    the kubelet mounts it into the operator's pod."""
    pod = f"audithound-{uuid.uuid4().hex[:5]}"
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod, "namespace": operator_.NAMESPACE},
            "spec": {
                "serviceAccountName": operator_.SERVICE_ACCOUNT,
                "automountServiceAccountToken": False,
                "containers": [{"name": "operator", "image": "audithound"}],
            },
        }
    )
    uid = kube.kubectl(
        "get", "pod", "-n", operator_.NAMESPACE, pod, "-o", "jsonpath={.metadata.uid}"
    )
    token = kube.kubectl(
        "create",
        "token",
        operator_.SERVICE_ACCOUNT,
        "-n",
        operator_.NAMESPACE,
        "--bound-object-kind=Pod",
        f"--bound-object-name={pod}",
        f"--bound-object-uid={uid}",
        "--duration=6h",
    ).strip()
    config = yaml.safe_load(unbound.read_text())
    config["users"][0]["user"]["token"] = token
    target.write_text(yaml.safe_dump(config))
    target.chmod(0o600)
    return target


@pytest.fixture(scope="module")
def stolen(
    kube: Kube, operator_kubeconfig: pathlib.Path, tmp_path_factory: pytest.TempPathFactory
) -> pathlib.Path:
    """The operator's pod-bound token: what it runs with, and what an intruder copies."""
    return bound_kubeconfig(
        kube, operator_kubeconfig, tmp_path_factory.mktemp("bound") / "kubeconfig"
    )


@pytest.fixture(scope="module")
def pod_operator(
    stolen: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[operator_.OperatorProcess]:
    running = operator_.OperatorProcess(
        stolen,
        control_plane.audit_log,
        tmp_path_factory.mktemp("own-writes") / "state",
        node_name="test-node",
        extra_args=("--start", "end"),
    )
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def rules(kube: Kube, pod_operator: operator_.OperatorProcess) -> Iterator[str]:
    """The shipped rule, a rule that makes the operator write (anonymous requests with a test
    agent) and one that would match the operator's own alert writes, were they evaluated."""
    trigger = f"own-writes-trigger-{uuid.uuid4().hex[:6]}"
    bait = f"own-writes-bait-{uuid.uuid4().hex[:6]}"
    kube.kubectl("apply", "-f", str(RULE_FILE))
    kube.apply(rule_manifest(trigger, "user_agent.original:audithound-test/own-writes-*"))
    kube.apply(
        rule_manifest(
            bait,
            "kubernetes.audit.objectRef.resource:(securityalerts or events)"
            " and kubernetes.audit.verb:(create or delete)",
        )
    )
    for name in (RULE, trigger, bait):
        eventually(functools.partial(ready, kube, name), what=f"{name} Ready")
    yield trigger
    for name in (RULE, trigger, bait):
        kube.remove_rule(name)


def alerts_of(kube: Kube, rule: str) -> list[dict[str, Any]]:
    return [a for a in kube.alerts() if a["spec"]["rule"]["name"] == rule]


def trigger_alert(kube: Kube, trigger: str) -> dict[str, Any]:
    """An anonymous request the trigger rule alerts on; the operator writes its alert."""
    label = agent("own-writes")
    kube.anonymous("/version", label)
    found: list[dict[str, Any]] = eventually(
        lambda: kube.alerts_with_agent(label), what=f"an alert of {trigger}"
    )
    return found[0]


def excluded(running: operator_.OperatorProcess) -> dict[tuple[str, str], float]:
    url = f"http://127.0.0.1:{running.metrics_port}/metrics"
    with urllib.request.urlopen(url) as reply:
        text = reply.read().decode()
    return {
        (sample.labels["verb"], sample.labels["resource"]): sample.value
        for family in parser.text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "audithound_own_writes_excluded_total"
    }


def test_alert_deleted_and_event_forged_with_the_operator_token_are_logged_and_alerted(
    kube: Kube,
    stolen: pathlib.Path,
    rules: str,
    audit_log: pytest_plugin.AuditLog,
) -> None:
    victim = trigger_alert(kube, rules)["metadata"]["name"]
    forged = f"coredns.{uuid.uuid4().hex[:8]}"
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": forged, "namespace": "kube-system"},
        "involvedObject": {"kind": "Pod", "name": "coredns", "namespace": "kube-system"},
        "reason": "Pulled",
        "message": "Container image already present on machine",
        "type": "Normal",
    }

    operator_.kubectl(stolen, "delete", "securityalert", victim)
    operator_.kubectl(stolen, "create", "-f", "-", stdin=yaml.safe_dump(event))

    deleted = audit_log.wait_for(
        lambda e: (
            e["user"]["username"] == OPERATOR
            and e["verb"] == "delete"
            and e.get("objectRef", {}).get("name") == victim
        )
    )
    written = audit_log.wait_for(
        lambda e: (
            e["user"]["username"] == OPERATOR
            and e["verb"] == "create"
            and e.get("objectRef", {}).get("resource") == "events"
            and e["objectRef"].get("namespace") == "kube-system"
        )
    )
    for logged in (deleted, written):
        assert logged["level"] == "Metadata"
        assert logged["userAgent"].startswith("kubectl/")
        assert "requestObject" not in logged
    raised = eventually(
        lambda: (
            {a["spec"]["event"]["auditID"] for a in alerts_of(kube, RULE)}
            >= {deleted["auditID"], written["auditID"]}
        ),
        what=f"alerts of {RULE} about the deletion and the forged Event",
    )
    assert raised
    by_audit_id = {a["spec"]["event"]["auditID"]: a for a in alerts_of(kube, RULE)}
    assert by_audit_id[deleted["auditID"]]["spec"]["rule"]["severity"] == "high"
    assert by_audit_id[written["auditID"]]["spec"]["event"]["objectRef"]["namespace"] == (
        "kube-system"
    )


def test_the_operators_own_writes_raise_nothing_and_are_counted(
    kube: Kube,
    pod_operator: operator_.OperatorProcess,
    rules: str,
    audit_log: pytest_plugin.AuditLog,
) -> None:
    alert = trigger_alert(kube, rules)
    name = alert["metadata"]["name"]

    # Its own alert write is in the log, as its own client made it ...
    created = audit_log.wait_for(
        lambda e: (
            e["user"]["username"] == OPERATOR
            and e["verb"] == "create"
            and e.get("objectRef", {}).get("name") == name
        )
    )
    assert created["userAgent"].startswith("audithound/")
    assert created["user"]["extra"]["authentication.kubernetes.io/pod-name"]
    # ... and left out of the rules, counted.
    counts = eventually(
        lambda: (
            (found := excluded(pod_operator)).get(("create", "securityalerts"), 0) >= 1
            and found.get(("create", "events"), 0) >= 1
            and found
        ),
        what="own writes counted",
    )
    assert set(counts) <= {
        ("create", "securityalerts"),
        ("delete", "securityalerts"),
        ("create", "events"),
        ("patch", "detectionrules/status"),
    }
    # Everything the operator itself did since the rules were applied (its heartbeats, its
    # watches, its status patches, its alert and Event writes) raised nothing.
    kube.anonymous("/version", agent("own-writes-later"))
    eventually(lambda: len(alerts_of(kube, rules)) >= 2, what="the next trigger alert")
    # The bait rule matches the first test's hand-made requests, and nothing of the operator.
    mistaken = [
        a["spec"]["event"]
        for a in kube.alerts()
        if a["spec"]["rule"]["name"].startswith("own-writes-bait-")
        or a["spec"]["rule"]["name"] == RULE
        # kubectl/... and, for the version check of the kubectl wrapper, kubectl-dispatcher/...
        if not a["spec"]["event"].get("userAgent", "").startswith("kubectl")
    ]
    assert mistaken == []
