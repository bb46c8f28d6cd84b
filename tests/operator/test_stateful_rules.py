"""new_terms and threshold rules on the real API server: the examples alert as documented,
and SIGKILLs and rotation in the middle of traffic leave every expected alert exactly once."""

from __future__ import annotations

import datetime
import pathlib
import uuid
from typing import Any

import pytest
import yaml

from audithound.devcluster import controlplane
from audithound.devcluster import operator as operator_
from tests import auditkit
from tests.operator.conftest import (
    ROOT,
    Kube,
    Operator,
    agent,
    eventually,
    own_operator,
    ready,
    rule_manifest,
    traffic_with_crashes,
)

pytestmark = pytest.mark.cluster

NEW_TERMS = "kubernetes-anonymous-request-authorized-new-terms"
BURST = "kubernetes-secrets-read-burst"

#: Requests of the crash test: about 1.5 MiB of audit log, so the 1 MiB log of the test
#: control plane rotates at least once while the traffic flows.
REQUESTS = 1800
AGENTS = 300
BUCKET = 100


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "examples/rules" / f"{name}.yaml").read_text())
    return loaded


def of_rule(kube: Kube, name: str) -> list[dict[str, Any]]:
    return [a for a in kube.alerts() if a["spec"]["rule"]["name"] == name]


def of_agent(kube: Kube, rule: str, agent: str) -> list[dict[str, Any]]:
    return [a for a in of_rule(kube, rule) if a["spec"]["event"].get("userAgent") == agent]


def open_namespace(kube: Kube) -> str:
    """A namespace whose configmaps anonymous users may list."""
    name = f"open-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    kube.kubectl("create", "role", "reader", "-n", name, "--verb=list", "--resource=configmaps")
    kube.kubectl(
        "create",
        "rolebinding",
        "public",
        "-n",
        name,
        "--role=reader",
        "--group=system:unauthenticated",
    )
    return name


def test_the_new_terms_example_alerts_once_per_new_user_agent(
    kube: Kube, operator: Operator
) -> None:
    kube.apply(example(NEW_TERMS))
    eventually(lambda: ready(kube, NEW_TERMS), what="the new_terms example's Ready condition")
    namespace = open_namespace(kube)
    uri = f"/api/v1/namespaces/{namespace}/configmaps"
    first, second = agent("first"), agent("second")
    # RBAC reads bindings from a cache: wait until the first anonymous request is allowed.
    eventually(lambda: kube.anonymous(uri, first) == 200, what="the RoleBinding to apply")
    for name in (first, first, second, first):
        assert kube.anonymous(uri, name) == 200
    assert kube.anonymous("/version", agent("version")) == 200  # excluded by the query
    try:
        eventually(lambda: of_agent(kube, NEW_TERMS, second), what="the second agent's alert")
        (alert,) = of_agent(kube, NEW_TERMS, first)
        assert alert["spec"]["group"] == {"user_agent.original": first}
        assert alert["spec"]["count"] == 1
        assert alert["spec"]["reason"].startswith(f"new user_agent.original={first}: ")
        assert len(of_agent(kube, NEW_TERMS, second)) == 1

        def state() -> dict[str, Any] | None:
            execution = (kube.rule(NEW_TERMS).get("status") or {}).get("execution", {})
            found: dict[str, Any] | None = execution.get("test-node", {}).get("state")
            return found if found and found["held"] >= 2 else None

        held = eventually(state, what="the two terms in the rule's status")
        assert held["unit"] == "terms" and held["cap"] == 200_000
        assert held["origin"] in ("learned", "kept")
    finally:
        kube.remove_rule(NEW_TERMS)
        kube.kubectl("delete", "namespace", namespace, "--wait=false")


def test_the_threshold_example_alerts_on_a_burst_of_secret_reads(
    kube: Kube, operator: Operator
) -> None:
    kube.apply(example(BURST))
    eventually(lambda: ready(kube, BURST), what="the threshold example's Ready condition")
    namespace = f"vault-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", namespace)
    kube.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    kube.kubectl("create", "role", "reader", "-n", namespace, "--verb=get", "--resource=secrets")
    kube.kubectl(
        "create",
        "rolebinding",
        "reader",
        "-n",
        namespace,
        "--role=reader",
        f"--serviceaccount={namespace}:reader",
    )
    names = ["db", "api-token", "signing-key"]
    for name in names:
        kube.kubectl("create", "secret", "generic", name, "-n", namespace, "--from-literal=k=v")
    token = kube.kubectl("create", "token", "reader", "-n", namespace).strip()
    user = f"system:serviceaccount:{namespace}:reader"
    reads = agent("reads")

    def read(name: str) -> int:
        path = f"/api/v1/namespaces/{namespace}/secrets/{name}"
        return operator_.request(kube.plane.server, kube.plane.ca_cert, path, reads, token=token)

    eventually(lambda: read(names[0]) == 200, what="the RoleBinding to apply")
    try:
        for name in names[1:]:
            assert read(name) == 200

        def burst() -> list[dict[str, Any]]:
            return [a for a in of_rule(kube, BURST) if a["spec"]["group"]["user.name"] == user]

        (alert,) = eventually(burst, what="the burst's alert")
        spec = alert["spec"]
        assert spec["group"] == {"user.name": user, "source.ip": "127.0.0.1"}
        assert spec["count"] == 3
        assert [e["objectRef"]["name"] for e in spec["sampleEvents"]] == names
        assert spec["auditIDs"][-1] == spec["event"]["auditID"]
        assert spec["reason"].startswith(f"3 matching events with user.name={user}")
    finally:
        kube.remove_rule(BURST)
        kube.kubectl("delete", "namespace", namespace, "--wait=false")


def test_sigkill_and_rotation_keep_stateful_alerts_exactly_once(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path: pathlib.Path,
) -> None:
    tag = uuid.uuid4().hex[:8]
    prefix = f"stateful-{tag}"
    terms, bursts = f"terms-{tag}", f"bursts-{tag}"
    query = f"user_agent.original:{prefix}/*"
    kube.apply(
        rule_manifest(
            terms,
            query,
            type="new_terms",
            newTermsFields=["user_agent.original"],
            historyWindowStart="now-1d",
            maxSignals=10000,
            interval="1h",
        )
    )
    kube.apply(
        rule_manifest(
            bursts,
            query,
            type="threshold",
            threshold={"field": ["user.name"], "value": BUCKET},
            maxSignals=10000,
            interval="1h",
            **{"from": "now-1h"},
        )
    )
    backups_before = set(control_plane.audit_log.parent.glob("audit-*.log"))
    operator = own_operator(operator_kubeconfig, control_plane, tmp_path)
    eventually(lambda: ready(kube, terms) and ready(kube, bursts), what="both rules")
    try:
        traffic_with_crashes(kube, operator, REQUESTS, lambda i: f"{prefix}/{i % AGENTS}")
        eventually(
            lambda: (
                len(of_rule(kube, terms)) >= AGENTS
                and len(of_rule(kube, bursts)) >= REQUESTS // BUCKET
            ),
            timeout=120,
            what="every alert",
        )
        operator.stop()  # nothing more may come
        new = sorted(
            int(a["spec"]["group"]["user_agent.original"].rsplit("/", 1)[1])
            for a in of_rule(kube, terms)
        )
        assert new == list(range(AGENTS)), "one alert per new agent, none twice"
        found = of_rule(kube, bursts)
        assert len(found) == REQUESTS // BUCKET
        assert {a["spec"]["count"] for a in found} == {BUCKET}
        members = [audit_id for a in found for audit_id in a["spec"]["auditIDs"]]
        assert len(members) == len(set(members)) == REQUESTS, "each request counted once"
        rotated = set(control_plane.audit_log.parent.glob("audit-*.log")) - backups_before
        assert rotated, "the audit log did not rotate: the test did not test rotation"
    finally:
        operator.stop()
        kube.remove_rule(terms)
        kube.remove_rule(bursts)


def test_two_api_servers_meeting_one_new_term_make_one_alert(
    kube: Kube, operator_kubeconfig: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """Each instance reads its own API server's log; a term new to both alerts once, unless
    the alert the other instance made is older than the history window."""
    tag = uuid.uuid4().hex[:8]
    name = f"pair-terms-{tag}"
    kube.apply(
        rule_manifest(
            name,
            f"user_agent.original:{tag}/*",
            type="new_terms",
            newTermsFields=["user_agent.original"],
            historyWindowStart="now-10m",
            maxSignals=1000,
            interval="1d",
        )
    )
    logs = {}
    instances = []
    for node in ("node-a", "node-b"):
        log = tmp_path / node / "audit.log"
        log.parent.mkdir()
        log.write_bytes(b"")
        logs[node] = log
        instances.append(
            operator_.OperatorProcess(
                operator_kubeconfig, log, tmp_path / f"{node}-state", node_name=node
            )
        )
    for instance in instances:
        instance.start()

    def write(node: str, agent: str, ago: datetime.timedelta = datetime.timedelta()) -> None:
        with logs[node].open("ab") as out:
            out.write(auditkit.audit_line(agent, ago=ago, user={"username": "system:anonymous"}))

    def alerts_of(agent: str) -> list[dict[str, Any]]:
        return [a for a in of_rule(kube, name) if a["spec"]["event"].get("userAgent") == agent]

    try:
        eventually(lambda: ready(kube, name), what="the rule")
        both, old, last = f"{tag}/both", f"{tag}/old", f"{tag}/last"
        write("node-a", both)
        eventually(lambda: alerts_of(both), what="node-a's alert")
        write("node-b", both)  # new to node-b, but node-a alerted on it a moment ago
        write("node-a", old, datetime.timedelta(minutes=15))
        eventually(lambda: alerts_of(old), what="the old term's alert")
        write("node-b", old)  # node-a's alert is older than the 10-minute window: new again
        write("node-b", last)
        eventually(lambda: alerts_of(last), what="node-b's last alert")
        eventually(lambda: len(alerts_of(old)) == 2, what="the old term alerting again")
        assert len(alerts_of(both)) == 1
    finally:
        for instance in instances:
            instance.stop()
        kube.remove_rule(name)
