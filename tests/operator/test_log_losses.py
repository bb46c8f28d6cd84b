"""Part of the audit log lost (a backup removed before it was read) is counted and shown: in a
metric and in every rule's status, not only in a log line."""

from __future__ import annotations

import pathlib
import uuid

import pytest

from audithound.devcluster import operator as operator_
from tests import auditkit
from tests.operator.conftest import Kube, eventually, ready, rule_manifest

pytestmark = pytest.mark.cluster


def test_a_log_removed_unread_is_counted_in_the_metrics_and_the_rule_status(
    kube: Kube, operator_kubeconfig: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    name = f"losses-{tag}"
    kube.apply(rule_manifest(name, f"user_agent.original:{tag}/*"))
    log = tmp_path / "audit" / "audit.log"
    log.parent.mkdir()
    log.write_bytes(auditkit.audit_line(f"{tag}/first"))
    running = operator_.OperatorProcess(operator_kubeconfig, log, tmp_path / "state")
    running.start()
    try:
        eventually(lambda: ready(kube, name), what="the rule")
        eventually(lambda: _ours(kube, name), what="the first alert")
        running.stop()
        # While the operator is down, its file is rotated and removed before it was read on.
        with log.open("ab") as out:
            out.write(auditkit.audit_line(f"{tag}/unread"))
        log.rename(log.with_name("audit-2026-12-01T00-00-00.000.log"))
        log.with_name("audit-2026-12-01T00-00-00.000.log").unlink()
        log.write_bytes(auditkit.audit_line(f"{tag}/after"))
        running.start()
        eventually(lambda: len(_ours(kube, name)) == 2, what="the alert after the gap")
        assert running.metric("audithound_audit_gaps_total") == 1
        assert running.metric("audithound_audit_unmeasured_gaps_total") == 1

        def losses() -> dict[str, int] | None:
            execution = (kube.rule(name).get("status") or {}).get("execution", {})
            found: dict[str, int] | None = execution.get("local", {}).get("logLosses")
            return found

        assert eventually(losses, what="the losses in the rule's status") == {
            "gaps": 1,
            "lostBytes": 0,
            "lostLines": 0,
            "unmeasured": 1,
        }
        assert sorted(a["spec"]["event"]["userAgent"] for a in _ours(kube, name)) == [
            f"{tag}/after",
            f"{tag}/first",
        ]
    finally:
        running.stop()
        kube.remove_rule(name)


def _ours(kube: Kube, name: str) -> list[dict[str, object]]:
    return [a for a in kube.alerts() if a["spec"]["rule"]["name"] == name]
