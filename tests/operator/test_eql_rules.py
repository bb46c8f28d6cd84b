"""EQL rules on the real API server: a single-event rule alerts, an invalid one is marked
Invalid at its position, the sequence example alerts on a real RBAC change followed by a
workload. (Sequences across restarts: test_eql_restart.py, with operators of its own.)"""

from __future__ import annotations

import pathlib
import uuid
from typing import Any

import pytest

from audithound.devcluster import operator as operator_
from tests.operator.conftest import (
    Kube,
    Operator,
    agent,
    eventually,
    ready,
    rule_manifest,
)
from tests.operator.test_stateful_rules import example, of_rule

pytestmark = pytest.mark.cluster

SEQUENCE = "kubernetes-role-change-then-workload"


def eql_manifest(name: str, query: str, **spec: Any) -> dict[str, Any]:
    return rule_manifest(name, query, type="eql", language="eql", **spec)


def test_a_single_event_rule_alerts_and_an_invalid_one_says_where(
    kube: Kube, operator: Operator
) -> None:
    tag = uuid.uuid4().hex[:8]
    good, bad = f"eql-one-{tag}", f"eql-bad-{tag}"
    probe = agent("eql")
    kube.apply(
        eql_manifest(
            good,
            f'any where user_agent.original == "{probe}" and '
            'startsWith~(kubernetes.audit.requestURI, "/API/")',
        )
    )
    kube.apply(eql_manifest(bad, "any where length(user.name, 2) == 1"))
    try:
        eventually(lambda: ready(kube, good), what="the EQL rule")
        condition = eventually(lambda: ready(kube, bad), what="the invalid rule's condition")
        assert condition["status"] == "False"
        assert condition["reason"] == "QueryInvalid"
        assert condition["message"] == (
            "spec.query: line 1, column 11: 'length' takes 1 argument, not 2"
        )
        assert kube.anonymous("/api/v1/namespaces", probe) in (401, 403)
        assert kube.anonymous("/version", probe) == 200  # no /api/ prefix: no alert

        # Other rules of the session (the seed rule) may alert on the /version probe too.
        def mine() -> list[dict[str, Any]]:
            return [a for a in kube.alerts_with_agent(probe) if a["spec"]["rule"]["name"] == good]

        (alert,) = eventually(mine, what="the EQL rule's alert")
        assert alert["spec"]["event"]["requestURI"] == "/api/v1/namespaces"
        assert ready(kube, good)["message"] == "Compiled; reads 2 field(s)"  # type: ignore[index]
    finally:
        kube.remove_rule(good)
        kube.remove_rule(bad)


def test_the_sequence_example_alerts_on_an_rbac_change_then_a_workload(
    kube: Kube, operator: Operator, tmp_path: pathlib.Path
) -> None:
    kube.apply(example(SEQUENCE))
    eventually(lambda: ready(kube, SEQUENCE), what="the sequence example")
    namespace = f"seq-{uuid.uuid4().hex[:8]}"
    role = f"widened-{namespace}"
    kube.kubectl("create", "namespace", namespace)
    kube.kubectl("create", "serviceaccount", "deployer", "-n", namespace)
    kube.kubectl("create", "clusterrole", role, "--verb=get,patch", "--resource=clusterroles")
    kube.kubectl(
        "create",
        "clusterrolebinding",
        role,
        f"--clusterrole={role}",
        f"--serviceaccount={namespace}:deployer",
    )
    kube.kubectl(
        "create", "role", "deployer", "-n", namespace, "--verb=create", "--resource=deployments"
    )
    kube.kubectl(
        "create",
        "rolebinding",
        "deployer",
        "-n",
        namespace,
        "--role=deployer",
        f"--serviceaccount={namespace}:deployer",
    )
    token = kube.kubectl("create", "token", "deployer", "-n", namespace).strip()
    user = f"system:serviceaccount:{namespace}:deployer"
    config = operator_.token_kubeconfig(
        kube.plane.server, kube.plane.ca_cert, "deployer", token, tmp_path / "deployer"
    )

    def as_deployer(*args: str) -> str:
        return operator_.kubectl(config, *args)

    try:
        # RBAC reads bindings from a cache: wait until the service account may patch.
        patch = '{"metadata":{"labels":{"widened":"yes"}}}'
        eventually(
            lambda: _succeeds(as_deployer, "patch", "clusterrole", role, "-p", patch),
            what="the ClusterRoleBinding to apply",
        )
        as_deployer(
            "create", "deployment", "web", "-n", namespace, "--image=registry.k8s.io/pause:3.10"
        )

        def found() -> list[dict[str, Any]]:
            return [a for a in of_rule(kube, SEQUENCE) if a["spec"]["group"] == {"user.name": user}]

        (alert,) = eventually(found, what="the sequence's alert", timeout=30)
        spec = alert["spec"]
        assert spec["count"] == 2
        assert [e["objectRef"]["resource"] for e in spec["sampleEvents"]] == [
            "clusterroles",
            "deployments",
        ]
        assert spec["auditIDs"][-1] == spec["event"]["auditID"]
        assert spec["event"]["verb"] == "create"
        assert spec["reason"].startswith(f"sequence of 2 events by user.name={user}; last: ")
    finally:
        kube.remove_rule(SEQUENCE)
        kube.kubectl("delete", "namespace", namespace, "--wait=false")
        kube.kubectl("delete", "clusterrolebinding,clusterrole", role)


def _succeeds(run: Any, *args: str) -> bool:
    try:
        run(*args)
    except Exception:
        return False
    return True
