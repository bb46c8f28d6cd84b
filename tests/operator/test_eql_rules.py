"""EQL rules on the real API server: a single-event rule alerts, an invalid one is marked
Invalid at its position, the sequence example alerts on a real RBAC change followed by a
workload, and a sequence keeps its partial steps across SIGKILLs (saved with the position)."""

from __future__ import annotations

import pathlib
import time
import uuid
from typing import Any

import pytest

from audithound.devcluster import controlplane
from audithound.devcluster import operator as operator_
from tests.operator.conftest import (
    Kube,
    Operator,
    agent,
    eventually,
    ready,
    rule_manifest,
    traffic_with_crashes,
)
from tests.operator.test_stateful_rules import example, of_rule

pytestmark = pytest.mark.cluster

SEQUENCE = "kubernetes-role-change-then-workload"

#: Requests of the crash test, two per sequence.
REQUESTS = 400


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
        (alert,) = eventually(lambda: kube.alerts_with_agent(probe), what="the EQL rule's alert")
        assert alert["spec"]["rule"]["name"] == good
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


def _own_operator(
    kubeconfig: pathlib.Path, plane: controlplane.ControlPlane, tmp_path: pathlib.Path
) -> Operator:
    """An operator of the test's own that saves its state every second, started."""
    running = Operator(
        kubeconfig,
        plane.audit_log,
        tmp_path / "state",
        node_name="test-node",
        extra_args=["--state-interval", "1"],
    )
    running.start()
    return running


def _succeeds(run: Any, *args: str) -> bool:
    try:
        run(*args)
    except Exception:
        return False
    return True


def test_sequences_complete_exactly_once_across_sigkills(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path: pathlib.Path,
) -> None:
    """Two requests per user agent, in order, form one sequence each; the operator is killed
    twice while they flow, so first steps are read before a crash and second steps after
    (the partial sequences come back from the state saved with the read position) and some
    events are read twice (a replay names the same alert). One alert per agent, no more."""
    prefix = f"seq-crash-{uuid.uuid4().hex[:8]}"
    name = f"{prefix}-rule"
    kube.apply(
        eql_manifest(
            name,
            f"sequence by user_agent.original with maxspan=10m\n"
            f'  [any where user_agent.original : "{prefix}/*"]\n'
            f'  [any where user_agent.original : "{prefix}/*"]',
            maxSignals=10000,
            interval="1h",
        )
    )
    running = _own_operator(operator_kubeconfig, control_plane, tmp_path)
    try:
        condition = eventually(lambda: ready(kube, name), what="the sequence rule")
        assert condition["status"] == "True", condition
        traffic_with_crashes(kube, running, REQUESTS, lambda i: f"{prefix}/{i // 2}")
        eventually(
            lambda: len(of_rule(kube, name)) >= REQUESTS // 2,
            what=f"{REQUESTS // 2} sequences",
            timeout=90,
        )
        found = of_rule(kube, name)
        agents = sorted(a["spec"]["group"]["user_agent.original"] for a in found)
        assert agents == sorted(f"{prefix}/{i}" for i in range(REQUESTS // 2))
        assert {a["spec"]["count"] for a in found} == {2}
        assert all(len(set(a["spec"]["auditIDs"])) == 2 for a in found)
    finally:
        running.stop()
        kube.remove_rule(name)


def test_a_sequence_whose_steps_straddle_a_restart_completes_from_the_saved_state(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path: pathlib.Path,
) -> None:
    """The first step is read and saved with the read position, the operator is killed, the
    second step happens while it is down: on start it reads on from the saved position (not
    the first step again) and completes the sequence from its restored state."""
    probe = agent("straddle")
    name = f"seq-straddle-{uuid.uuid4().hex[:8]}"
    kube.apply(
        eql_manifest(
            name,
            f"sequence by user_agent.original with maxspan=10m\n"
            f'  [any where user_agent.original == "{probe}" and '
            'kubernetes.audit.objectRef.resource == "configmaps"]\n'
            f'  [any where user_agent.original == "{probe}" and '
            'kubernetes.audit.objectRef.resource == "secrets"]',
        )
    )
    running = _own_operator(operator_kubeconfig, control_plane, tmp_path)
    try:
        condition = eventually(lambda: ready(kube, name), what="the sequence rule")
        assert condition["status"] == "True", condition
        assert kube.admin_get("/api/v1/namespaces/default/configmaps?limit=1", probe) == 200

        def pending() -> dict[str, Any] | None:
            execution = (kube.rule(name).get("status") or {}).get("execution", {})
            state: dict[str, Any] | None = execution.get("test-node", {}).get("state")
            return state if state and state["held"] == 1 else None

        state = eventually(pending, what="the first step pending in the rule's status")
        assert state["unit"] == "partials" and state["cap"] == 10_000
        time.sleep(3)  # past --state-interval: the pending step is saved with the position
        running.kill()
        assert kube.admin_get("/api/v1/namespaces/default/secrets?limit=1", probe) == 200
        assert kube.alerts_with_agent(probe) == []
        running.start()
        (alert,) = eventually(lambda: kube.alerts_with_agent(probe), what="the sequence's alert")
        assert alert["spec"]["count"] == 2
        assert [e["objectRef"]["resource"] for e in alert["spec"]["sampleEvents"]] == [
            "configmaps",
            "secrets",
        ]
        restart = running.log.read_text().split('"Started reading audit log"')[-1]
        assert 'from="checkpoint"' in restart.splitlines()[0]
        assert name in restart.splitlines()[0]  # restoredRules: its state came back
    finally:
        running.stop()
        kube.remove_rule(name)
