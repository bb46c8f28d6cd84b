"""The session control plane answers as kube-apiserver v1.36.3 and audits what rules see."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from audithound.devcluster import build, client, controlplane, pytest_plugin

pytestmark = pytest.mark.cluster

ANONYMOUS = "system:anonymous"
DECISION = "authorization.k8s.io/decision"
REASON = "authorization.k8s.io/reason"
OPERATOR_SA = "system:serviceaccount:audithound-system:audithound"


def _created(reply: client.Response) -> client.Response:
    assert reply.status in (200, 201), reply.body
    return reply


def _namespace(plane: controlplane.ControlPlane) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    _created(plane.admin_client().request("POST", "/api/v1/namespaces", body))
    return name


def _kubectl(plane: controlplane.ControlPlane, *args: str) -> str:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(plane.kubeconfig), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout


def test_version_reports_the_pinned_release(control_plane: controlplane.ControlPlane) -> None:
    reply = control_plane.admin_client().get("/version")

    assert reply.json_body()["gitVersion"] == build.KUBERNETES_VERSION == "v1.36.3"
    assert (reply.json_body()["major"], reply.json_body()["minor"]) == ("1", "36")


def test_kubectl_reaches_the_server_with_the_admin_kubeconfig(
    control_plane: controlplane.ControlPlane,
) -> None:
    assert json.loads(_kubectl(control_plane, "get", "--raw", "/version"))["gitVersion"] == (
        "v1.36.3"
    )
    assert _kubectl(control_plane, "get", "namespace", "default", "-o", "name") == (
        "namespace/default\n"
    )


def test_anonymous_version_request_is_allowed_and_audited(
    control_plane: controlplane.ControlPlane, audit_log: pytest_plugin.AuditLog
) -> None:
    uri = f"/version?probe={uuid.uuid4().hex}"

    assert control_plane.anonymous_client().get(uri).status == 200

    event = audit_log.wait_for(lambda e: e["requestURI"] == uri)
    assert event["user"]["username"] == ANONYMOUS
    assert "system:unauthenticated" in event["user"]["groups"]
    assert event["annotations"][DECISION] == "allow"
    assert event["responseStatus"]["code"] == 200
    assert (event["stage"], event["level"]) == ("ResponseComplete", "Metadata")


def test_anonymous_namespaced_read_is_forbidden_and_audited(
    control_plane: controlplane.ControlPlane, audit_log: pytest_plugin.AuditLog
) -> None:
    namespace = _namespace(control_plane)

    reply = control_plane.anonymous_client().get(f"/api/v1/namespaces/{namespace}/pods")

    assert reply.status == 403
    event = audit_log.wait_for(
        lambda e: (
            e["user"]["username"] == ANONYMOUS
            and e.get("objectRef", {}).get("namespace") == namespace
        )
    )
    assert event["annotations"][DECISION] == "forbid"
    assert event["responseStatus"]["code"] == 403
    assert event["verb"] == "list"


def test_role_bound_to_unauthenticated_allows_anonymous_and_audits_the_rbac_reason(
    control_plane: controlplane.ControlPlane, audit_log: pytest_plugin.AuditLog
) -> None:
    namespace = _namespace(control_plane)
    admin = control_plane.admin_client()
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "read-pods"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "anonymous-read-pods"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-pods"},
        "subjects": [
            {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Group",
                "name": "system:unauthenticated",
            }
        ],
    }
    _created(admin.request("POST", f"{rbac}/roles", role))
    _created(admin.request("POST", f"{rbac}/rolebindings", binding))

    # The RBAC authorizer reads bindings from an informer cache: the first request after
    # the binding may still be refused.
    deadline = time.monotonic() + 10
    while (
        reply := control_plane.anonymous_client().get(f"/api/v1/namespaces/{namespace}/pods")
    ).status != 200 and time.monotonic() < deadline:
        time.sleep(0.1)

    assert reply.status == 200
    event = audit_log.wait_for(
        lambda e: (
            e["user"]["username"] == ANONYMOUS
            and e.get("objectRef", {}).get("namespace") == namespace
            and e["annotations"][DECISION] == "allow"
        )
    )
    assert event["annotations"][REASON] == (
        f'RBAC: allowed by RoleBinding "anonymous-read-pods/{namespace}" of Role "read-pods" '
        'to Group "system:unauthenticated"'
    )


def test_secret_payloads_never_reach_the_log(
    control_plane: controlplane.ControlPlane, audit_log: pytest_plugin.AuditLog
) -> None:
    namespace = _namespace(control_plane)
    payload = uuid.uuid4().hex
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "token"},
        "stringData": {"password": payload},
    }

    _created(
        control_plane.admin_client().request(
            "POST", f"/api/v1/namespaces/{namespace}/secrets", secret
        )
    )

    event = audit_log.wait_for(
        lambda e: (
            e.get("objectRef", {}).get("namespace") == namespace
            and e["objectRef"]["resource"] == "secrets"
        )
    )
    assert (event["verb"], event["level"]) == ("create", "Metadata")
    assert "requestObject" not in event and "responseObject" not in event
    assert payload not in control_plane.audit_log.read_text()


def test_operator_writes_of_events_are_logged_at_metadata_like_its_other_writes(
    control_plane: controlplane.ControlPlane, audit_log: pytest_plugin.AuditLog
) -> None:
    admin = control_plane.admin_client()
    namespace = _namespace(control_plane)
    # Another test may have created the operator's namespace and account already.
    for path, body in [
        ("/api/v1/namespaces", {"metadata": {"name": "audithound-system"}}),
        (
            "/api/v1/namespaces/audithound-system/serviceaccounts",
            {"metadata": {"name": "audithound"}},
        ),
    ]:
        assert admin.request("POST", path, body).status in (201, 409)
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    _created(
        admin.request(
            "POST",
            f"{rbac}/roles",
            {
                "metadata": {"name": "writer"},
                "rules": [
                    {"apiGroups": [""], "resources": ["events", "configmaps"], "verbs": ["create"]}
                ],
            },
        )
    )
    _created(
        admin.request(
            "POST",
            f"{rbac}/rolebindings",
            {
                "metadata": {"name": "writer"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "writer",
                },
                "subjects": [
                    {
                        "kind": "ServiceAccount",
                        "name": "audithound",
                        "namespace": "audithound-system",
                    }
                ],
            },
        )
    )
    # TokenRequest works without a controller-manager: the apiserver signs the token.
    minted = _created(
        admin.request(
            "POST",
            "/api/v1/namespaces/audithound-system/serviceaccounts/audithound/token",
            {"spec": {"expirationSeconds": 600}},
        )
    )
    operator = client.ApiClient(
        control_plane.server, control_plane.ca_cert, token=minted.json_body()["status"]["token"]
    )
    event_body = {
        "metadata": {"name": "alert.1"},
        "involvedObject": {"kind": "ConfigMap", "namespace": namespace, "name": "checkpoint"},
        "reason": "Detected",
        "message": "rule matched",
    }
    deadline = time.monotonic() + 10
    while (
        reply := operator.request("POST", f"/api/v1/namespaces/{namespace}/events", event_body)
    ).status == 403 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert reply.status == 201, reply.body
    configmap = {"metadata": {"name": "checkpoint"}}
    _created(operator.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", configmap))

    # A stolen operator token must leave evidence: its Event writes are logged like the rest,
    # at Metadata (no body: the message and the involved object stay out of the log).
    for resource in ("events", "configmaps"):
        logged = audit_log.wait_for(
            lambda e, resource=resource: (
                e["user"]["username"] == OPERATOR_SA
                and e.get("objectRef", {}).get("namespace") == namespace
                and e["objectRef"]["resource"] == resource
                and e["responseStatus"]["code"] == 201
            )
        )
        assert (logged["verb"], logged["level"]) == ("create", "Metadata")
        assert "requestObject" not in logged and "responseObject" not in logged


def test_crds_are_applied_established_and_served(
    control_plane: controlplane.ControlPlane, crd_dir: Path
) -> None:
    assert control_plane.install_crds(crd_dir) == ["widgets.example.audithound.io"]
    # Applying the same directory again changes nothing and still succeeds.
    assert control_plane.install_crds(crd_dir) == ["widgets.example.audithound.io"]

    namespace = _namespace(control_plane)
    widget = {
        "apiVersion": "example.audithound.io/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 3},
    }
    reply = control_plane.admin_client().request(
        "POST", f"/apis/example.audithound.io/v1/namespaces/{namespace}/widgets", widget
    )
    assert reply.status == 201, reply.body
    assert reply.json_body()["spec"] == {"size": 3}
