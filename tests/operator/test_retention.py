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
    # Start from an empty list: what earlier tests left must not decide what is kept.
    kube.kubectl("delete", "--raw", "/apis/audithound.io/v1alpha1/securityalerts")

    def ours(prefix: str) -> list[dict[str, Any]]:
        return [a for a in kube.alerts() if a["spec"]["event"]["userAgent"].startswith(prefix)]

    # Phase 1, no cap: three open alerts, then two newer ones that people close.
    first = operator_.OperatorProcess(
        operator_kubeconfig, control_plane.audit_log, tmp_path / "state"
    )
    first.start()
    try:
        eventually(lambda: ready(kube, name), what="the rule")
        for i in range(3):
            kube.admin_get("/api/v1/namespaces/default/configmaps?limit=1", f"kept-{tag}/o{i}")
        eventually(lambda: len(ours(f"kept-{tag}/o")) == 3, timeout=60, what="three alerts")
        for i in range(2):
            kube.admin_get("/api/v1/namespaces/default/configmaps?limit=1", f"kept-{tag}/c{i}")
        closing = eventually(
            lambda: ours(f"kept-{tag}/c") if len(ours(f"kept-{tag}/c")) == 2 else [],
            timeout=60,
            what="two alerts to close",
        )
        for alert in closing:
            kube.kubectl(
                "patch",
                "securityalert",
                alert["metadata"]["name"],
                "--type=merge",
                "-p",
                '{"spec":{"workflowStatus":"closed"}}',
            )
    finally:
        first.stop()
    # Phase 2, a cap of three: the closed alerts go first although they are the newest, then
    # the oldest open ones (what the first start's look-back found); ours stay.
    capped = operator_.OperatorProcess(
        operator_kubeconfig,
        control_plane.audit_log,
        tmp_path / "state",
        extra_args=("--max-alerts", "3", "--retention-interval", "1"),
    )
    capped.start()
    try:
        eventually(
            lambda: (
                sorted(a["spec"]["event"]["userAgent"] for a in kube.alerts())
                == [f"kept-{tag}/o{i}" for i in range(3)]
            ),
            timeout=60,
            what="retention down to the three open alerts",
        )
    finally:
        capped.stop()
        kube.remove_rule(name)
