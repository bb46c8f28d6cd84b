"""What an Event may say and where: an unauthenticated or denied request writes no Event into
the namespace it names, and no text of its choosing into any Event; an allowed request of an
authenticated user still gets its Event in the touched object's namespace."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.operator.conftest import Kube, Operator, agent, eventually, ready, rule_manifest

pytestmark = pytest.mark.cluster


def _events(kube: Kube, namespace: str, *selector: str) -> list[dict[str, Any]]:
    selection = ("--field-selector", *selector) if selector else ()
    found: list[dict[str, Any]] = kube.get_json("events", "-n", namespace, *selection)["items"]
    return found


def test_anonymous_requests_write_no_attacker_text_into_a_tenants_events(
    kube: Kube, operator: Operator
) -> None:
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", tenant)
    kube.kubectl("create", "configmap", "settings", "-n", tenant, "--from-literal=a=b")
    # The tenant lets anyone read its configmaps: allowed anonymous requests write no
    # Event there either (the names in a 404 or a watch are still the client's choice).
    kube.kubectl("create", "role", "reader", "-n", tenant, "--verb=get", "--resource=configmaps")
    kube.kubectl(
        "create",
        "rolebinding",
        "public",
        "-n",
        tenant,
        "--role=reader",
        "--group=system:unauthenticated",
    )
    rule = f"touches-{tenant}"
    # Reads only: the set-up's writes above must not alert.
    query = f"kubernetes.audit.objectRef.namespace:{tenant} and kubernetes.audit.verb:get"
    kube.apply(rule_manifest(rule, query))
    eventually(lambda: ready(kube, rule), what="the rule")
    bait = f"call-555-0100-to-restore-your-cluster-{uuid.uuid4().hex[:6]}"
    try:
        anonymous = [agent(f"anonymous-{i}-{bait}") for i in range(4)]
        requests = [
            (f"/api/v1/namespaces/{tenant}/configmaps/settings?note={bait}", 200),
            (f"/api/v1/namespaces/{tenant}/configmaps/{bait}", 404),
            (f"/api/v1/namespaces/{tenant}/secrets/{bait}?note={bait}", 403),
            (f"/api/v1/namespaces/{tenant}/{bait}/{bait}", 403),
        ]
        for (path, status), name in zip(requests, anonymous, strict=True):
            assert kube.anonymous(path, name) == status
        # An authenticated, allowed request after them: once its Event exists in the
        # tenant's namespace, the operator has handled every earlier request (log order).
        admin = agent("admin")
        assert kube.admin_get(f"/api/v1/namespaces/{tenant}/configmaps/settings", admin) == 200

        eventually(
            lambda: _events(kube, tenant, "involvedObject.name=settings"),
            what="the Event about the admin's request",
        )
        in_tenant = _events(kube, tenant)
        assert [e["involvedObject"]["name"] for e in in_tenant] == ["settings"]
        assert "admin was allowed to get" in in_tenant[0]["message"]
        assert bait not in json.dumps(in_tenant)

        alerts = kube.get_json("securityalerts", "-l", f"audithound.io/rule={rule}")["items"]
        by_agent = {a["spec"]["event"]["userAgent"]: a for a in alerts}
        assert set(by_agent) == {*anonymous, admin}
        for name in anonymous:
            alert = by_agent[name]
            # The alert keeps the evidence ...
            assert bait in alert["spec"]["event"]["requestURI"]
            # ... the Event about it in `default` says what the API server vouches for.
            (about,) = eventually(
                lambda alert=alert: _events(
                    kube, "default", f"involvedObject.name={alert['metadata']['name']}"
                ),
                what="the Event about the anonymous alert",
            )
            assert bait not in json.dumps(about)
            decision = alert["spec"]["event"]["decision"]
            outcome = {"allow": "allowed", "forbid": "denied"}[decision]
            code = alert["spec"]["event"]["responseCode"]
            assert about["message"] == (
                f"[low] {rule}: unauthenticated get request from 127.0.0.1 was {outcome}"
                f" (HTTP {code}); its URI and names are in SecurityAlert"
                f" {alert['metadata']['name']}"
            )
    finally:
        kube.remove_rule(rule)
