"""Secrets stay out of what the operator writes, with an API server that logs every body.

The shipped audit policy never logs the bodies of secrets and configmaps; a cluster's own
policy may. This test's control plane logs every request at RequestResponse (but the
operator's own, at Metadata as shipped), and real requests put secrets in the log: a Secret
applied and read, a ConfigMap with a password, a Pod with an env value, tokens in query
strings and in a user agent, a TokenRequest's token, the credential id of that token's
requests and an impersonated user's extra value. Rules of every type match on those values
(``tests/secretkit``). None of them reaches a SecurityAlert, an Event, a DetectionRule's
status, the operator's log, its metrics or its state directory."""

from __future__ import annotations

import base64
import json
import pathlib
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from audithound.devcluster import build, controlplane
from audithound.devcluster import operator as operator_
from tests import secretkit
from tests.operator.conftest import ROOT, Kube, eventually

pytestmark = pytest.mark.cluster

POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: ["system:apiserver"]
  - level: Metadata
    users: ["system:serviceaccount:audithound-system:audithound"]
  - level: RequestResponse
"""


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[controlplane.ControlPlane]:
    """A control plane of this module alone: its audit policy logs bodies."""
    directory = tmp_path_factory.mktemp("bodies")
    policy = directory / "policy.yaml"
    policy.write_text(POLICY)
    with controlplane.ControlPlane(
        directory / "plane",
        audit=controlplane.AuditSettings(policy=policy),
        binaries=build.ensure(),
    ) as plane:
        plane.install_crds(ROOT / "crds")
        yield plane


def _impersonated_list(plane: controlplane.ControlPlane, path: str, extra: str) -> int:
    """The admin lists ``path`` as alice, with ``extra`` as her extra value ``token``."""
    context = ssl.create_default_context(cafile=str(plane.ca_cert))
    context.load_cert_chain(str(plane.admin_cert), str(plane.admin_key))
    sent = urllib.request.Request(
        plane.server + path,
        headers={"Impersonate-User": "alice", "Impersonate-Extra-token": extra},
    )
    try:
        with urllib.request.urlopen(sent, context=context, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def _traffic(kube: Kube, namespace: str, secrets: secretkit.Secrets) -> tuple[str, str]:
    """The requests of the module docstring; the token minted and its credential id."""
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db-credentials", "namespace": namespace},
            "stringData": {"password": secrets.password},
            "data": {"api-key": secretkit.b64(secrets.api_key)},
        }
    )
    kube.get_json("secret", "db-credentials", "-n", namespace)
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "app-config", "namespace": namespace},
            "data": {
                "password": secrets.configmap,
                "app.properties": f"db.password={secrets.configmap}\n",
            },
        }
    )
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "serviceAccountName": "app",
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "name": "app",
                        "image": "registry.example/app:1",
                        "env": [{"name": "DB_PASSWORD", "value": secrets.env}],
                    }
                ],
            },
        }
    )
    configmaps = f"/api/v1/namespaces/{namespace}/configmaps"
    path = f"{configmaps}?access_token={secrets.access_token}"
    assert kube.admin_get(path, secrets.agent()) == 200
    path = f"/api/v1/namespaces/{namespace}/secrets?token={secrets.query_token}"
    assert kube.admin_get(path, secrets.agent()) == 200
    uid = kube.get_json("pod", "web", "-n", namespace)["metadata"]["uid"]
    token = kube.kubectl(
        "create", "token", "app", "-n", namespace, "--bound-object-kind=Pod",
        "--bound-object-name=web", f"--bound-object-uid={uid}",
    ).strip()  # fmt: skip
    plane = kube.plane
    secret = f"/api/v1/namespaces/{namespace}/secrets/db-credentials"
    assert operator_.request(plane.server, plane.ca_cert, secret, "curl/8.5.0", token=token) == 403
    assert _impersonated_list(plane, configmaps, secrets.impersonated) == 403
    claims = token.split(".")[1]
    jti = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["jti"]
    return token, f"JTI={jti}"


def _files(directory: pathlib.Path) -> str:
    return "\n".join(
        path.read_bytes().decode(errors="replace")
        for path in directory.rglob("*")
        if path.is_file()
    )


def test_no_secret_reaches_alerts_events_logs_metrics_or_state(
    plane: controlplane.ControlPlane, tmp_path: pathlib.Path
) -> None:
    kube = Kube(plane)
    secrets = secretkit.Secrets()
    namespace = f"secrets-{secrets.nonce[:8]}"
    user = f"system:serviceaccount:{namespace}:app"
    identity = operator_.install_identity(
        plane.kubeconfig, ROOT / "manifests", plane.server, plane.ca_cert, tmp_path / "kubeconfig"
    )
    kube.kubectl("create", "namespace", namespace)
    kube.kubectl("create", "serviceaccount", "app", "-n", namespace)
    rules = secretkit.rules(namespace, user)
    kube.apply({"apiVersion": "v1", "kind": "List", "items": rules})
    # Every alert gets its Events (the default budget of 20 at once would drop some).
    running = operator_.OperatorProcess(
        identity,
        plane.audit_log,
        tmp_path / "state",
        extra_args=("--events-per-second", "1000"),
    )
    running.start()
    try:

        def all_ready() -> bool:
            items = kube.get_json("detectionrules")["items"]
            return len(items) == len(rules) and all(
                any(c["type"] == "Ready" for c in (item.get("status") or {}).get("conditions", []))
                for item in items
            )

        eventually(all_ready, what="the rules")
        token, credential_id = _traffic(kube, namespace, secrets)
        log = plane.audit_log.read_text()
        # The secrets are in the audit log: the rules have something to find.
        for value in (secrets.password, secrets.configmap, secrets.env, token, credential_id):
            assert value in log or secretkit.b64(value) in log

        names = {rule["metadata"]["name"] for rule in rules}

        def alerted() -> set[str]:
            return {a["spec"]["rule"]["name"] for a in kube.alerts()}

        eventually(lambda: alerted() >= names, timeout=30, what=f"alerts of {sorted(names)}")
        eventually(
            lambda: len(kube.get_json("events", "-n", "default")["items"]) >= len(kube.alerts()),
            what="the alerts' Events",
        )
        _, metrics = running.scrape()
        probe = running.probe()
    finally:
        running.stop()  # its last checkpoint and state are on disk now
    written = {
        "SecurityAlerts": secretkit.dumps(kube.get_json("securityalerts")),
        "Events": secretkit.dumps(kube.get_json("events", "-A")),
        "DetectionRules": secretkit.dumps(kube.get_json("detectionrules")),
        "the operator's log": running.log.read_text(),
        "the metrics": metrics,
        "the probe": secretkit.dumps(probe),
        "the state directory": _files(running.state_dir),
    }
    assert written["the state directory"], "no state was saved"
    for what, text in written.items():
        assert secrets.leaks(text, token, credential_id) == [], what
    alerts = kube.alerts()
    groups = [a["spec"]["group"] for a in alerts if a["spec"]["rule"]["name"] == "new-password"]
    assert groups == [{"kubernetes.audit.requestObject.data.password": "[REDACTED]"}]
