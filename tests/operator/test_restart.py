"""Crashes and rotation lose nothing and duplicate nothing: every expected alert exists
exactly once after SIGKILLs in the middle of traffic and after audit log rotation."""

from __future__ import annotations

import pathlib
import uuid

import pytest

from audithound.devcluster import controlplane
from tests.operator.conftest import (
    Kube,
    Operator,
    eventually,
    ready,
    rule_manifest,
    traffic_with_crashes,
)

pytestmark = pytest.mark.cluster

#: Requests per run: about 1.5 MiB of audit log, so the 1 MiB log of the test control plane
#: rotates at least once while the traffic flows.
REQUESTS = 1800
#: Every request is to alert: no cap on creations per minute (test_storm tests the cap).
UNCAPPED = ("--max-alert-creations-per-minute=0",)


def test_sigkill_and_rotation_keep_alerts_exactly_once(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path: pathlib.Path,
) -> None:
    tag = uuid.uuid4().hex[:8]
    name, prefix = f"burst-{tag}", f"burst-{tag}"
    kube.apply(
        rule_manifest(name, f"user_agent.original:{prefix}/*", maxSignals=10000, interval="1h")
    )
    backups_before = set(control_plane.audit_log.parent.glob("audit-*.log"))
    operator = Operator(
        operator_kubeconfig,
        control_plane.audit_log,
        tmp_path / "state",
        node_name="test-node",
        extra_args=UNCAPPED,
    )
    operator.start()
    eventually(lambda: ready(kube, name), what="the burst rule")
    try:
        traffic_with_crashes(kube, operator, REQUESTS, lambda i: f"{prefix}/{i}")

        def ours() -> list[dict[str, object]]:
            return [a for a in kube.alerts() if a["spec"]["rule"]["name"] == name]

        eventually(lambda: len(ours()) >= REQUESTS, timeout=120, what=f"{REQUESTS} alerts")
        alerts = ours()
        agents = sorted(int(a["spec"]["event"]["userAgent"].rsplit("/", 1)[1]) for a in alerts)
        assert agents == list(range(REQUESTS))
        assert len({a["spec"]["event"]["auditID"] for a in alerts}) == REQUESTS
        rotated = set(control_plane.audit_log.parent.glob("audit-*.log")) - backups_before
        assert rotated, "the audit log did not rotate: the test did not test rotation"
    finally:
        operator.stop()
        kube.remove_rule(name)


def test_rotation_while_down_resumes_from_the_rotated_file(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path: pathlib.Path,
) -> None:
    tag = uuid.uuid4().hex[:8]
    name, prefix = f"offline-{tag}", f"offline-{tag}"
    kube.apply(
        rule_manifest(name, f"user_agent.original:{prefix}/*", maxSignals=10000, interval="1h")
    )
    operator = Operator(
        operator_kubeconfig,
        control_plane.audit_log,
        tmp_path / "state",
        node_name="test-node",
        extra_args=UNCAPPED,
    )
    operator.start()
    eventually(lambda: ready(kube, name), what="the rule")
    kube.admin_get("/api/v1/namespaces/default/configmaps?limit=1", f"{prefix}/first")

    def ours() -> list[dict[str, object]]:
        return [a for a in kube.alerts() if a["spec"]["rule"]["name"] == name]

    eventually(lambda: len(ours()) == 1, what="the first alert")
    operator.stop()
    backups_before = set(control_plane.audit_log.parent.glob("audit-*.log"))
    for i in range(REQUESTS):
        kube.admin_get("/api/v1/namespaces/default/configmaps?limit=1", f"{prefix}/{i}")
    assert set(control_plane.audit_log.parent.glob("audit-*.log")) - backups_before
    try:
        operator.start()
        eventually(lambda: len(ours()) >= REQUESTS + 1, timeout=120, what="every alert")
        assert len(ours()) == REQUESTS + 1
    finally:
        operator.stop()
        kube.remove_rule(name)
