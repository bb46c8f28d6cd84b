"""Two operator instances (as on two control-plane nodes) at once: no duplicate alert, no
fight over the rule's status, one execution summary each."""

from __future__ import annotations

import pathlib
import time
import uuid

import pytest

from audithound.devcluster import controlplane
from audithound.devcluster import operator as operator_
from tests.operator.conftest import Kube, eventually, ready, rule_manifest

pytestmark = pytest.mark.cluster


def test_two_instances_share_rules_without_duplicates_or_status_churn(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path: pathlib.Path,
) -> None:
    tag = uuid.uuid4().hex[:8]
    name = f"pair-{tag}"
    # One interval for the whole test: counts are per interval, and a 5m window could end
    # between two of the requests.
    kube.apply(
        rule_manifest(name, f"user_agent.original:pair-{tag}/*", maxSignals=1000, interval="1d")
    )
    # Both read the same log here, the hardest case: every match is seen twice.
    instances = [
        operator_.OperatorProcess(
            operator_kubeconfig, control_plane.audit_log, tmp_path / node, node_name=node
        )
        for node in ("node-a", "node-b")
    ]
    for instance in instances:
        instance.start()
    try:
        eventually(lambda: ready(kube, name), what="the rule")
        for i in range(20):
            kube.admin_get("/api/v1/namespaces/default/configmaps?limit=1", f"pair-{tag}/{i}")

        def summaries() -> dict[str, dict[str, int]] | None:
            execution = (kube.rule(name).get("status") or {}).get("execution", {})
            done = all(execution.get(node, {}).get("matches") == 20 for node in instances_names)
            return execution if done else None

        instances_names = ("node-a", "node-b")
        execution = eventually(summaries, timeout=30, what="both execution summaries")
        alerts = [a for a in kube.alerts() if a["spec"]["rule"]["name"] == name]
        assert len(alerts) == 20
        # Each alert was created by exactly one instance; the other found it existing.
        created = sum(execution[node]["alertsCreated"] for node in instances_names)
        duplicates = sum(execution[node]["duplicates"] for node in instances_names)
        assert (created, duplicates) == (20, 20)
        # Quiet: with nothing new to say, neither instance writes the rule again.
        before = kube.rule(name)["metadata"]["resourceVersion"]
        time.sleep(4)
        assert kube.rule(name)["metadata"]["resourceVersion"] == before
    finally:
        for instance in instances:
            instance.stop()
        kube.remove_rule(name)
