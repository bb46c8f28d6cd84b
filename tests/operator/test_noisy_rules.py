"""The exec, attach and port-forward rules of bench/rules on the real API server: a request the
API server denied ran nothing in a pod and raises no alert, so an anonymous client cannot
flood the alert list with them; the same requests, authorized, alert."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from audithound.devcluster import controlplane
from tests.operator.conftest import ROOT, Kube, Operator, eventually, ready

pytestmark = pytest.mark.cluster

RULES = {
    "kubernetes-exec-into-pod": "exec?command=sh&stdin=true&stdout=true",
    "kubernetes-attach-to-pod": "attach?stdin=true&stdout=true",
    "kubernetes-port-forward-to-pod": "portforward?ports=5432",
}
#: Denied requests per subresource: a flood the old rules turned into as many alerts.
FLOOD = 20


@pytest.fixture
def streaming_rules(kube: Kube, operator: Operator) -> Iterator[list[str]]:
    for name in RULES:
        kube.kubectl("apply", "-f", str(ROOT / "bench/rules" / f"{name}.yaml"))
    for name in RULES:
        eventually(lambda name=name: ready(kube, name), what=f"rule {name}")
    yield list(RULES)
    for name in RULES:
        kube.remove_rule(name)


def pod_alerts(kube: Kube, pod: str) -> dict[str, int]:
    """Alerts per rule about requests to ``pod``."""
    found: dict[str, int] = {}
    for alert in kube.alerts():
        ref = alert["spec"]["event"].get("objectRef") or {}
        if ref.get("name") == pod:
            rule = alert["spec"]["rule"]["name"]
            found[rule] = found.get(rule, 0) + 1
    return found


def test_denied_exec_attach_and_port_forward_raise_no_alert(
    kube: Kube, control_plane: controlplane.ControlPlane, streaming_rules: list[str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    flooded, real = f"flooded-{tag}", f"real-{tag}"
    anonymous = control_plane.anonymous_client()
    for _ in range(FLOOD):
        for query in RULES.values():
            reply = anonymous.request("POST", f"/api/v1/namespaces/default/pods/{flooded}/{query}")
            assert reply.status == 403
    # The same requests by the admin are authorized (the pod does not exist: 404 after the
    # authorizer said yes), and each rule alerts on them, once per stage (ResponseStarted and
    # ResponseComplete, as for a real session); they come last, so once their alerts exist
    # every denied request before them has been judged.
    admin = control_plane.admin_client()
    for query in RULES.values():
        reply = admin.request("POST", f"/api/v1/namespaces/default/pods/{real}/{query}")
        assert reply.status == 404
    expected = dict.fromkeys(RULES, 2)
    eventually(lambda: pod_alerts(kube, real) == expected, timeout=30, what="the real alerts")
    assert pod_alerts(kube, flooded) == {}
