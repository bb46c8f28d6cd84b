"""Retention on the real API server: past --max-alerts the operator deletes the alerts people
closed first, and keeps the open ones; it reads alerts page by page, and a rule that floods
gives up its own alerts before a quiet rule loses any."""

from __future__ import annotations

import datetime
import json
import pathlib
import uuid
from typing import Any

import pytest

from audithound.devcluster import controlplane
from audithound.devcluster import operator as operator_
from audithound.devcluster.pytest_plugin import AuditLog
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

    # Phase 1, no cap: three open alerts, then two newer ones that people close. From the
    # end of the log: a look-back would alert again on what earlier tests' rules matched.
    first = operator_.OperatorProcess(
        operator_kubeconfig, control_plane.audit_log, tmp_path / "state", extra_args=["--start=end"]
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


def made_alert(name: str, rule: str, hours_ago: float, workflow: str = "open") -> dict[str, Any]:
    """A SecurityAlert as the operator writes it, detected ``hours_ago``."""
    detected = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=hours_ago)
    return {
        "apiVersion": "audithound.io/v1alpha1",
        "kind": "SecurityAlert",
        "metadata": {"name": name, "labels": {"audithound.io/rule": rule}},
        "spec": {
            "rule": {
                "name": rule,
                "ruleId": rule,
                "displayName": rule,
                "version": 1,
                "severity": "low",
                "riskScore": 10,
            },
            "reason": "made by the test",
            "detectedTime": detected.isoformat().replace("+00:00", "Z"),
            "event": {"auditID": str(uuid.uuid4()), "stage": "ResponseComplete"},
            "workflowStatus": workflow,
        },
    }


def test_retention_pages_through_alerts_and_shares_the_cap_between_rules(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path: pathlib.Path,
    audit_log: AuditLog,
) -> None:
    kube.kubectl("delete", "--raw", "/apis/audithound.io/v1alpha1/securityalerts")
    tag = uuid.uuid4().hex[:8]
    quiet, noisy = f"impersonation-{tag}", f"flood-{tag}"
    # Oldest of all: two alerts of a quiet rule. Then 20 from a rule that floods, 3 of its
    # newest already closed, and 2 past the time-to-live.
    made = [made_alert(f"{quiet}-{i}", quiet, 10 - i / 10) for i in range(2)]
    made += [made_alert(f"{noisy}-{i:02}", noisy, 5 - i / 100) for i in range(20)]
    made += [made_alert(f"{noisy}-closed-{i}", noisy, 1, "closed") for i in range(3)]
    made += [made_alert(f"{noisy}-expired-{i}", noisy, 48) for i in range(2)]
    kube.kubectl(
        "create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": made})
    )
    capped = operator_.OperatorProcess(
        operator_kubeconfig,
        control_plane.audit_log,
        tmp_path / "state",
        extra_args=(
            # From the end of the log: only the alerts made here count.
            "--start=end",
            "--max-alerts=10",
            "--alert-ttl=1d",
            "--retention-interval=1",
            "--retention-page-size=4",
        ),
    )
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")[:-6] + "Z"
    capped.start()
    try:
        # 2 expired, then the 3 closed, then 12 of the flood's 20 open ones, its oldest: the
        # quiet rule keeps both of its alerts although they are the oldest.
        kept = sorted([f"{quiet}-0", f"{quiet}-1", *(f"{noisy}-{i:02}" for i in range(12, 20))])
        eventually(
            lambda: sorted(a["metadata"]["name"] for a in kube.alerts()) == kept,
            timeout=60,
            what="retention down to the cap",
        )
        assert capped.metric('audithound_retention_deleted_total{reason="expired"}') == 2
        assert capped.metric('audithound_retention_deleted_total{reason="over_cap"}') == 15
        assert capped.metric("audithound_securityalerts") == 27
        # The operator read the 27 alerts four at a time, twice (a census, then the choice of
        # what goes): seven pages each, chained by continue tokens, and no list of them all.
        identity = "system:serviceaccount:audithound-system:audithound"
        pages = [
            e["requestURI"]
            for e in audit_log.events()
            if e["user"]["username"] == identity
            and e["verb"] == "list"
            and e["objectRef"].get("resource") == "securityalerts"
            and e["requestReceivedTimestamp"] >= started
        ]
        assert all("limit=4" in uri for uri in pages), pages
        assert len(pages) >= 14 and sum("continue=" in uri for uri in pages) >= 12
    finally:
        capped.stop()
        kube.kubectl("delete", "--raw", "/apis/audithound.io/v1alpha1/securityalerts")
