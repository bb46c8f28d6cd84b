"""Alert suppression on the real control plane: one SecurityAlert per group, updated in
place with the right count at a bounded write rate, and a new group after it is closed."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.operator.conftest import Kube, Operator, eventually, ready, rule_manifest

pytestmark = pytest.mark.cluster

PATH = "/api/v1/namespaces/default/configmaps"


def _alerts(kube: Kube, rule: str, agent: str) -> list[dict[str, Any]]:
    return [
        alert
        for alert in kube.alerts()
        if alert["spec"]["rule"]["name"] == rule
        and alert["spec"]["group"]["user_agent.original"] == agent
    ]


def _with_count(kube: Kube, rule: str, agent: str, count: int) -> list[dict[str, Any]] | None:
    found = _alerts(kube, rule, agent)
    return found if any(alert["spec"]["count"] == count for alert in found) else None


def test_one_alert_per_group_updated_in_place_and_anew_after_closing(
    kube: Kube, operator: Operator
) -> None:
    tag = uuid.uuid4().hex[:8]
    name, first, second = f"suppressing-{tag}", f"sup-{tag}/a", f"sup-{tag}/b"
    kube.apply(
        rule_manifest(
            name,
            f"user_agent.original:sup-{tag}/*",
            interval="1d",
            alertSuppression={
                "groupBy": ["user_agent.original"],
                "duration": {"value": 1, "unit": "h"},
            },
        )
    )
    assert eventually(lambda: ready(kube, name), what="the rule")["status"] == "True"
    started = time.monotonic()
    for _ in range(20):
        kube.admin_get(PATH, first)
    for _ in range(3):
        kube.admin_get(PATH, second)
    (alert,) = eventually(lambda: _with_count(kube, name, first, 20), what="count 20", timeout=30)
    eventually(lambda: _with_count(kube, name, second, 3), what="count 3", timeout=30)
    spec = alert["spec"]
    assert spec["suppression"]["docsCount"] == 19
    assert spec["suppression"]["terms"] == [{"field": "user_agent.original", "value": first}]
    assert len(spec["auditIDs"]) == 20
    assert len(spec["sampleEvents"]) == 5
    assert spec["workflowStatus"] == "open"
    # A busy group costs at most one write per 5 seconds, each group (beside its creation).
    writes = operator.metric(f'audithound_alert_updates_total{{rule="{name}"}}')
    assert 1 <= writes <= 2 * ((time.monotonic() - started) / 5 + 1)

    closed = alert["metadata"]["name"]
    kube.kubectl(
        "patch",
        "securityalert",
        closed,
        "--type",
        "merge",
        "-p",
        '{"spec":{"workflowStatus":"closed"}}',
    )
    for _ in range(2):
        kube.admin_get(PATH, first)
    found = eventually(lambda: _with_count(kube, name, first, 2), what="a new group", timeout=30)
    by_name = {alert["metadata"]["name"]: alert["spec"] for alert in found}
    assert set(by_name) >= {closed}
    assert by_name[closed]["count"] == 20  # a closed alert is never written again
    assert by_name[closed]["workflowStatus"] == "closed"
    (reopened,) = [spec for alert_name, spec in by_name.items() if alert_name != closed]
    assert reopened["workflowStatus"] == "open"

    def summary() -> dict[str, Any] | None:
        execution = (kube.rule(name).get("status") or {}).get("execution", {})
        found: dict[str, Any] | None = execution.get("test-node")
        return found if found and found.get("suppressed") == 23 else None

    eventually(summary, what="the suppressed count in status", timeout=30)
    assert operator.metric(f'audithound_alerts_suppressed_total{{rule="{name}"}}') == 23
    kube.remove_rule(name)
