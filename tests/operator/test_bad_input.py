"""Bad lines in the live audit log are counted and skipped; the events around them alert."""

from __future__ import annotations

import pathlib
import uuid

import pytest

from audithound.devcluster import operator as operator_
from tests import auditkit
from tests.operator.conftest import Kube, eventually, ready, rule_manifest

pytestmark = pytest.mark.cluster


def test_malformed_truncated_and_oversized_lines_are_skipped(
    kube: Kube, operator_kubeconfig: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    name = f"bad-input-{tag}"
    kube.apply(rule_manifest(name, f"user_agent.original:bad-input-{tag}/*"))
    log = tmp_path / "audit" / "audit.log"
    log.parent.mkdir()
    log.write_bytes(b"")
    running = operator_.OperatorProcess(operator_kubeconfig, log, tmp_path / "state")
    running.start()
    try:
        eventually(lambda: ready(kube, name), what="the rule")
        with log.open("ab") as out:
            out.write(auditkit.audit_line(f"bad-input-{tag}/1"))
            out.write(b'{"kind":"Event","auditID":"x","stage":\n')  # cut short by a crash
            out.write(b'{"kind": 0}\n')  # JSON, but no audit event
            out.write(b'{"pad": "' + b"x" * (5 << 20) + b'"}\n')  # over the 4 MiB line limit
            out.write(auditkit.audit_line(f"bad-input-{tag}/2"))
            out.write(b"\n")
            out.write(auditkit.audit_line(f"bad-input-{tag}/3"))

        def ours() -> list[str]:
            return sorted(
                a["spec"]["event"]["userAgent"]
                for a in kube.alerts()
                if a["spec"]["rule"]["name"] == name
            )

        eventually(lambda: len(ours()) == 3, what="three alerts")
        assert ours() == [f"bad-input-{tag}/{i}" for i in (1, 2, 3)]
        skipped = "audithound_audit_skipped_lines_total"
        assert running.metric(f'{skipped}{{reason="invalid-json"}}') == 1
        assert running.metric(f'{skipped}{{reason="not-an-event"}}') == 1
        assert running.metric(f'{skipped}{{reason="oversized"}}') == 1
        assert running.probe() is not None
    finally:
        running.stop()
        kube.remove_rule(name)
