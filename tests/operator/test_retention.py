"""Retention on the real API server: past --max-alerts the operator deletes the alerts people
closed first, and keeps the open ones."""

from __future__ import annotations

import pathlib
import uuid
from typing import Any

import pytest

from audithound.devcluster import controlplane
from audithound.devcluster import operator as operator_
from tests.operator.conftest import Kube, eventually, ready, rule_manifest

pytestmark = pytest.mark.cluster


def test_cap_deletes_closed_alerts_first(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path: pathlib.Path,
) -> None:
    tag = uuid.uuid4().hex[:8]
    name = f"kept-{tag}"
    kube.apply(rule_manifest(name, f"user_agent.original:kept-{tag}/*"))
    # Earlier tests' alerts are in the cluster too: close them all so they go first.
    existing = [a["metadata"]["name"] for a in kube.alerts()]
    for alert in existing:
        kube.kubectl(
            "patch",
            "securityalert",
            alert,
            "--type=merge",
            "-p",
            '{"spec":{"workflowStatus":"closed"}}',
        )
    running = operator_.OperatorProcess(
        operator_kubeconfig,
        control_plane.audit_log,
        tmp_path / "state",
        extra_args=("--max-alerts", "3", "--retention-interval", "1"),
    )
    running.start()
    try:
        eventually(lambda: ready(kube, name), what="the rule")
        for i in range(2):
            kube.admin_get("/api/v1/namespaces/default/configmaps?limit=1", f"kept-{tag}/c{i}")

        def to_close() -> list[dict[str, Any]]:
            ours = [
                a
                for a in kube.alerts()
                if a["spec"]["event"]["userAgent"].startswith(f"kept-{tag}/c")
            ]
            return ours if len(ours) == 2 else []

        closing = eventually(to_close, what="two alerts to close")
        for alert in closing:
            kube.kubectl(
                "patch",
                "securityalert",
                alert["metadata"]["name"],
                "--type=merge",
                "-p",
                '{"spec":{"workflowStatus":"closed"}}',
            )
        for i in range(3):
            kube.admin_get("/api/v1/namespaces/default/configmaps?limit=1", f"kept-{tag}/{i}")

        def only_ours() -> bool:
            names = {a["spec"]["rule"]["name"] for a in kube.alerts()}
            return len(kube.alerts()) == 3 and names == {name}

        eventually(only_ours, timeout=30, what="retention down to our three open alerts")
        kept = kube.alerts()
        assert all(a["spec"]["workflowStatus"] == "open" for a in kept)
        assert sorted(a["spec"]["event"]["userAgent"] for a in kept) == [
            f"kept-{tag}/{i}" for i in range(3)
        ]
    finally:
        running.stop()
        kube.kubectl("delete", "detectionrule", name)
