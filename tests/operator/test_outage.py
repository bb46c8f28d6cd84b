"""An outage of the API server stops no background loop: with the kube-apiserver of the test's
own control plane stopped (etcd kept) and started again on the same port, the operator writes
rule summaries again and deletes an expired alert, and counts the failed steps by loop."""

from __future__ import annotations

import datetime
import json
import pathlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from audithound.devcluster import build, controlplane
from audithound.devcluster import operator as operator_
from tests.operator.conftest import ROOT, Kube, eventually, ready, rule_manifest

pytestmark = pytest.mark.cluster

ALERTS = "/apis/audithound.io/v1alpha1/securityalerts"


@pytest.fixture
def own_plane(tmp_path: pathlib.Path) -> Iterator[controlplane.ControlPlane]:
    """A control plane for this test alone: its API server goes down on purpose."""
    plane = controlplane.ControlPlane(tmp_path / "plane", binaries=build.ensure())
    with plane:
        plane.install_crds(ROOT / "crds")
        yield plane


def expired_alert(name: str) -> dict[str, Any]:
    """A SecurityAlert detected two days ago, past the test's one-day time-to-live."""
    detected = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    return {
        "apiVersion": "audithound.io/v1alpha1",
        "kind": "SecurityAlert",
        "metadata": {"name": name, "labels": {"audithound.io/rule": "old-rule"}},
        "spec": {
            "rule": {
                "name": "old-rule",
                "ruleId": "old-rule",
                "displayName": "Old rule",
                "version": 1,
                "severity": "low",
                "riskScore": 10,
            },
            "reason": "an old finding",
            "detectedTime": detected.isoformat().replace("+00:00", "Z"),
            "event": {"auditID": str(uuid.uuid4()), "stage": "ResponseComplete"},
            "workflowStatus": "open",
        },
    }


def alert_names(kube: Kube) -> set[str]:
    return {a["metadata"]["name"] for a in kube.alerts()}


def test_summaries_and_retention_resume_after_an_api_server_outage(
    own_plane: controlplane.ControlPlane, tmp_path: pathlib.Path
) -> None:
    kube = Kube(own_plane)
    identity = operator_.install_identity(
        own_plane.kubeconfig,
        ROOT / "manifests",
        own_plane.server,
        own_plane.ca_cert,
        tmp_path / "operator.kubeconfig",
    )
    tag = uuid.uuid4().hex[:8]
    name = f"outage-{tag}"
    kube.apply(rule_manifest(name, f"user_agent.original:outage-{tag}/*", interval="1h"))
    running = operator_.OperatorProcess(
        identity,
        own_plane.audit_log,
        tmp_path / "state",
        status_interval=1.0,
        extra_args=("--alert-ttl=1d", "--retention-interval=1"),
    )
    running.start()
    try:
        eventually(lambda: ready(kube, name), what="the rule")

        def summary() -> dict[str, Any]:
            execution = (kube.rule(name).get("status") or {}).get("execution", {})
            found: dict[str, Any] = execution.get("local") or {}
            return found

        def alerts_created() -> int:
            return int(summary().get("alertsCreated") or 0)

        # Before: both loops work.
        kube.admin_get("/api/v1/namespaces/default/configmaps?limit=1", f"outage-{tag}/before")
        eventually(lambda: alerts_created() == 1, timeout=30, what="the first summary")
        kube.kubectl("create", "-f", "-", stdin=json.dumps(expired_alert(f"early-{tag}")))
        eventually(lambda: f"early-{tag}" not in alert_names(kube), what="retention at work")

        # The outage: no API server; the audit log gets one more matching event (the first
        # one again, with a new auditID), so the counts move and the summary must be written.
        event = next(
            json.loads(line)
            for line in own_plane.audit_log.read_text().splitlines()
            if f"outage-{tag}/before" in line
        )
        own_plane.stop_apiserver()
        event.update(auditID=str(uuid.uuid4()), userAgent=f"outage-{tag}/during")
        with own_plane.audit_log.open("a") as log:
            log.write(json.dumps(event) + "\n")

        def failed(loop: str) -> bool:
            return running.metric(f'audithound_loop_failures_total{{loop="{loop}"}}') >= 1

        eventually(lambda: failed("status") and failed("retention"), timeout=60, what="failures")
        # Taken before the start: the operator may write as soon as the port opens, before
        # start_apiserver returns; nothing can be written while the API server is down.
        back = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        own_plane.start_apiserver()

        # After: the alert of the event read during the outage is written, a summary that
        # counts it too, and an alert that expires now is deleted.
        eventually(lambda: kube.alerts_with_agent(f"outage-{tag}/during"), timeout=90, what="alert")

        def written_again() -> bool:
            updated = datetime.datetime.fromisoformat(summary().get("updated") or "2000-01-01Z")
            return updated >= back and alerts_created() >= 2

        eventually(written_again, timeout=90, what="the summary after the outage")
        kube.kubectl("create", "-f", "-", stdin=json.dumps(expired_alert(f"late-{tag}")))
        eventually(
            lambda: f"late-{tag}" not in alert_names(kube),
            timeout=90,
            what="retention after the outage",
        )
        log = running.log.read_text()
        for loop in ("status", "retention"):
            assert f'"Failed background loop step; retrying" loop="{loop}"' in log
            assert f'"Recovered background loop" loop="{loop}"' in log
    finally:
        running.stop()
